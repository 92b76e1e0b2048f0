/*
 * Error messages: every failing API call records a human-readable message in
 * a thread-local buffer and returns a negative errno value.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static MR_THREAD char last_error[256];

int mr_error(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return -err;
}

const char *memregion_last_error(void)
{
    return last_error;
}
