/*
 * Errors, out of memory, and internal invariants.
 *
 * Every failing API call records a human-readable message in a thread-local
 * buffer and returns a negative errno value (mr_error). Out-of-memory and
 * broken invariants follow the policy stated in base.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base.h"

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

void mr_oom(const char *where)
{
    fprintf(stderr, "memregion: out of memory in %s, where no error can be returned; aborting\n",
            where);
    abort();
}

void mr_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "memregion: internal invariant broken: %s (%s:%d, %s)\n", expr, file, line,
            func);
    abort();
}
