/*
 * Shared helpers of the listener tests.
 *
 * - Tracked objects: regions, address spaces and mirror listeners made with
 *   lt_*() are torn down by lt_teardown() (the cmocka teardown of every
 *   test), so a failing test leaves nothing registered for the next one.
 *   The teardown also stops global dirty logging and restores the default
 *   dirty page size.
 * - LtDev: a small MMIO device that records the writes it receives.
 * - assert_mirror(): the mirror has no protocol error and equals the view.
 */
#ifndef LISTENER_LT_H
#define LISTENER_LT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <memregion/memregion.h>

#include "mirror.h"

MemoryRegion *lt_container(const char *name, mr_size_t size);
MemoryRegion *lt_ram(const char *name, mr_size_t size);
MemoryRegion *lt_rom(const char *name, mr_size_t size);
MemoryRegion *lt_io(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size);
MemoryRegion *lt_romd(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size);
MemoryRegion *lt_alias(const char *name, MemoryRegion *orig, hwaddr offset, mr_size_t size);
AddressSpace *lt_as(MemoryRegion *root, const char *name);
/** A tracked, registered mirror on @as with @priority. */
Mirror *lt_mirror(const char *name, int priority, AddressSpace *as);
/** A tracked mirror, initialised but not registered. */
Mirror *lt_mirror_new(const char *name, int priority);

/** Transaction wrappers the teardown can close after a failure. */
void lt_begin(void);
void lt_commit(void);

int lt_teardown(void **state);
#define LT_TEST(f) cmocka_unit_test_teardown(f, lt_teardown)

#define lt_add(parent, off, sub, prio)                                                             \
    assert_int_equal(memory_region_add_subregion_overlap((parent), (off), (sub), (prio)), 0)

/** Assert: no protocol error in @m and @m equals @as's view. */
void lt_check_mirror(Mirror *m, AddressSpace *as, const char *file, int line);
#define assert_mirror(m, as) lt_check_mirror((m), (as), __FILE__, __LINE__)

/** Assert the counters of @m's last update. */
#define assert_last(m, cb, n) assert_int_equal((m)->last[(cb)], (n))

/** Assert that a memregion call failed with @err and left a message. */
#define assert_error(call, err)                                                                    \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        assert_int_equal(rc_, -(err));                                                             \
        assert_true(memregion_last_error()[0] != '\0');                                            \
    } while (0)

/** Assert one recorded event: kind, range address, size and region. */
void lt_check_event(const MirrorEvent *e, MirrorCb cb, hwaddr addr, mr_size_t size,
                    const MemoryRegion *mr, const char *file, int line);
#define assert_event(e, cb, addr, size, mr)                                                        \
    lt_check_event((e), (cb), (addr), (size), (mr), __FILE__, __LINE__)

/* ---- LtDev ------------------------------------------------------------------ */

#define LT_DEV_LOG 64

typedef struct LtDev {
    unsigned nwrites, nreads;
    hwaddr waddr[LT_DEV_LOG];
    uint64_t wdata[LT_DEV_LOG];
    unsigned wsize[LT_DEV_LOG];
} LtDev;

/** Little-endian ops over an LtDev, sizes 1..8; reads return 0. */
extern const MemoryRegionOps lt_dev_ops;

#define ATTRS MEMTXATTRS_UNSPECIFIED

#endif /* LISTENER_LT_H */
