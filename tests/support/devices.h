/*
 * Device callbacks the tests share. Header only (static inline), so the
 * suites that do not link the test-support library (stress, fuzz) use it
 * too.
 */
#ifndef TESTS_DEVICES_H
#define TESTS_DEVICES_H

#include <memregion/memregion.h>

/** A write callback that ignores every write: for devices whose reads are what a test checks. */
static inline void ts_write_ignore(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    (void)opaque, (void)addr, (void)data, (void)size;
}

#endif /* TESTS_DEVICES_H */
