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
#include "support.h"

/* Tracked regions and address spaces: tests/support, shared with the unit tests. */
#define lt_container ts_container
#define lt_ram       ts_ram
#define lt_rom       ts_rom
#define lt_io        ts_io
#define lt_romd      ts_romd
#define lt_alias     ts_alias
#define lt_as        ts_as
/** A tracked, registered mirror on @as with @priority. */
Mirror *lt_mirror(const char *name, int priority, AddressSpace *as);
/** A tracked mirror, initialised but not registered. */
Mirror *lt_mirror_new(const char *name, int priority);

/** Transaction wrappers the teardown can close after a failure. */
#define lt_begin  ts_begin
#define lt_commit ts_commit

int lt_teardown(void **state);
#define LT_TEST(f) cmocka_unit_test_teardown(f, lt_teardown)

#define lt_add ts_add

/** Assert: no protocol error in @m and @m equals @as's view. */
void lt_check_mirror(Mirror *m, AddressSpace *as, const char *file, int line);
#define assert_mirror(m, as) lt_check_mirror((m), (as), __FILE__, __LINE__)

/** Assert the counters of @m's last update. */
#define assert_last(m, cb, n) assert_int_equal((m)->last[(cb)], (n))

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
