/*
 * memregion-bench: the device callbacks the scenarios and map-probe share.
 * Header only (static inline), so map-probe, which links nothing but the
 * library, uses the same ones as the bench it mirrors.
 */
#ifndef MEMREGION_BENCH_DEVICES_H
#define MEMREGION_BENCH_DEVICES_H

#include <memregion/memregion.h>

/* A read that returns the offset it was given: cheap, and checkable. */
static inline uint64_t bench_read_offset(void *opaque, hwaddr off, unsigned size)
{
    (void)opaque, (void)size;
    return off;
}

/* A write that does nothing. */
static inline void bench_write_ignore(void *opaque, hwaddr off, uint64_t v, unsigned size)
{
    (void)opaque, (void)off, (void)v, (void)size;
}

#endif /* MEMREGION_BENCH_DEVICES_H */
