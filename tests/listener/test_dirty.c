/*
 * Global dirty logging for migration: memory_global_dirty_log_start sends
 * log_global_start and turns the MIGRATION client on for every RAM range
 * (region_nop + log_start); writes mark pages; memory_global_dirty_log_sync
 * asks listeners to log_sync every logging range; stop sends
 * log_global_stop and log_stop.
 */
#include <pthread.h>
#include <string.h>

#include "lt.h"

#define MIG_BIT (1 << DIRTY_MEMORY_MIGRATION)
#define VGA_BIT (1 << DIRTY_MEMORY_VGA)

/* A KVM-like listener whose log_sync reports page 3 of every synced range dirty. */
typedef struct SyncListener {
    MemoryListener l;
    unsigned syncs;
    FlatRange synced[16];
} SyncListener;

static void sync_cb(MemoryListener *l, const FlatRange *fr)
{
    SyncListener *s = (SyncListener *)l;
    if (s->syncs < 16)
        s->synced[s->syncs] = *fr;
    s->syncs++;
    if (fr->size > 0x3000)
        memory_region_set_dirty(fr->mr, fr->offset_in_region + 0x3000, 1);
}

static SyncListener syncer;

static void test_global_start_sync_stop(void **state)
{
    (void)state;
    static LtDev dev;
    MemoryRegion *sys = lt_container("system", 0x100000);
    MemoryRegion *ram0 = lt_ram("ram0", 0x8000);
    MemoryRegion *ram1 = lt_ram("ram1", 0x2000);
    MemoryRegion *io = lt_io(&lt_dev_ops, &dev, "io", 0x1000);
    lt_add(sys, 0x0, ram0, 0);
    lt_add(sys, 0x10000, ram1, 0);
    lt_add(sys, 0x20000, io, 0);
    assert_int_equal(memory_region_set_log(ram1, true, DIRTY_MEMORY_VGA), 0);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    memset(&syncer, 0, sizeof(syncer));
    syncer.l.log_sync = sync_cb;
    syncer.l.name = "syncer";
    assert_int_equal(memory_listener_register(&syncer.l, as), 0);
    mirror_clear_log(m);

    assert_int_equal(memory_region_get_dirty_log_mask(ram0), 0);
    memory_global_dirty_log_start();
    assert_mirror(m, as);
    assert_true(m->global_logging);
    assert_int_equal(m->total[MCB_LOG_GLOBAL_START], 1);
    /* log_global_start comes before the update that turns the bit on. */
    assert_int_equal(m->log[0].cb, MCB_LOG_GLOBAL_START);
    assert_int_equal(m->updates, 1);
    assert_last(m, MCB_REGION_NOP, 2); /* ram0, ram1; io is unchanged */
    assert_last(m, MCB_REGION_DEL, 0);
    assert_last(m, MCB_REGION_ADD, 0);
    assert_last(m, MCB_LOG_START, 2);
    const MirrorEvent *e = mirror_find_event(m, MCB_LOG_START, 0);
    assert_event(e, MCB_LOG_START, 0x0, 0x8000, ram0);
    assert_int_equal(e->old_mask, 0);
    assert_int_equal(e->new_mask, MIG_BIT);
    e = mirror_find_event(m, MCB_LOG_START, 1);
    assert_event(e, MCB_LOG_START, 0x10000, 0x2000, ram1);
    assert_int_equal(e->old_mask, VGA_BIT);
    assert_int_equal(e->new_mask, VGA_BIT | MIG_BIT);
    assert_int_equal(memory_region_get_dirty_log_mask(ram0), MIG_BIT);
    assert_int_equal(memory_region_get_dirty_log_mask(ram1), VGA_BIT | MIG_BIT);
    assert_int_equal(memory_region_get_dirty_log_mask(io), 0);

    /* Starting again is no change. */
    mirror_clear_log(m);
    memory_global_dirty_log_start();
    assert_int_equal(m->total[MCB_LOG_GLOBAL_START], 0);
    assert_int_equal(m->total[MCB_LOG_START], 0);

    /* Writes mark migration pages: page 1 of ram0, page 0 of ram1 (both clients). */
    uint8_t b = 1;
    assert_int_equal(address_space_write(as, 0x1008, ATTRS, &b, 1), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0x10010, ATTRS, &b, 1), MEMTX_OK);
    assert_false(memory_region_get_dirty(ram0, 0x0, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_true(memory_region_get_dirty(ram0, 0x1000, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_false(memory_region_get_dirty(ram0, 0x2000, 0x6000, DIRTY_MEMORY_MIGRATION));
    assert_true(memory_region_get_dirty(ram1, 0x0, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_true(memory_region_get_dirty(ram1, 0x0, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(ram1, 0x1000, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_false(memory_region_get_dirty(ram0, 0x0, 0x8000, DIRTY_MEMORY_VGA));

    /* Sync: each logging range once per listener; the syncer's bits land in the bitmap. */
    mirror_clear_log(m);
    memory_global_dirty_log_sync();
    assert_int_equal(m->errors, 0);
    assert_int_equal(m->total[MCB_LOG_SYNC], 2);
    assert_event(mirror_find_event(m, MCB_LOG_SYNC, 0), MCB_LOG_SYNC, 0x0, 0x8000, ram0);
    assert_event(mirror_find_event(m, MCB_LOG_SYNC, 1), MCB_LOG_SYNC, 0x10000, 0x2000, ram1);
    assert_int_equal(syncer.syncs, 2);
    assert_true(memory_region_get_dirty(ram0, 0x3000, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_false(memory_region_get_dirty(ram0, 0x2000, 0x1000, DIRTY_MEMORY_MIGRATION));

    /* Snapshot of ram0 syncs ram0's ranges first, then clears. */
    syncer.syncs = 0;
    memory_region_reset_dirty(ram0, 0, 0x8000, DIRTY_MEMORY_MIGRATION);
    DirtyBitmapSnapshot *snap =
        memory_region_snapshot_and_clear_dirty(ram0, 0, 0x8000, DIRTY_MEMORY_MIGRATION);
    assert_non_null(snap);
    assert_int_equal(syncer.syncs, 1);
    assert_ptr_equal(syncer.synced[0].mr, ram0);
    assert_true(memory_region_snapshot_get_dirty(ram0, snap, 0x3000, 1));
    assert_false(memory_region_snapshot_get_dirty(ram0, snap, 0x1000, 1));
    assert_false(memory_region_get_dirty(ram0, 0, 0x8000, DIRTY_MEMORY_MIGRATION));
    memory_region_snapshot_free(snap);

    /* A listener registered while logging runs hears log_global_start in its replay. */
    Mirror *late = lt_mirror("late", 0, as);
    assert_mirror(late, as);
    assert_true(late->global_logging);
    assert_int_equal(late->log[1].cb, MCB_LOG_GLOBAL_START);
    assert_int_equal(late->total[MCB_LOG_START], 2);

    /* Stop: nop + log_stop on both RAM ranges (VGA stays), then log_global_stop (QEMU's order). */
    mirror_clear_log(m);
    memory_global_dirty_log_stop();
    assert_mirror(m, as);
    assert_false(m->global_logging);
    assert_int_equal(m->total[MCB_LOG_GLOBAL_STOP], 1);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_int_equal(m->log[m->nr_log - 2].cb, MCB_COMMIT);
    assert_int_equal(m->log[m->nr_log - 1].cb, MCB_LOG_GLOBAL_STOP);
    assert_last(m, MCB_LOG_STOP, 2);
    assert_last(m, MCB_LOG_START, 0);
    e = mirror_find_event(m, MCB_LOG_STOP, 1);
    assert_event(e, MCB_LOG_STOP, 0x10000, 0x2000, ram1);
    assert_int_equal(e->old_mask, VGA_BIT | MIG_BIT);
    assert_int_equal(e->new_mask, VGA_BIT);
    assert_int_equal(memory_region_get_dirty_log_mask(ram0), 0);
    assert_int_equal(memory_region_get_dirty_log_mask(ram1), VGA_BIT);
    assert_mirror(late, as);

    /* Stopped: a sync reaches only ranges that still log (ram1, VGA). */
    mirror_clear_log(m);
    syncer.syncs = 0;
    memory_global_dirty_log_sync();
    assert_int_equal(m->total[MCB_LOG_SYNC], 1);
    assert_int_equal(syncer.syncs, 1);
    assert_ptr_equal(syncer.synced[0].mr, ram1);

    memory_listener_unregister(&syncer.l);
}

/* Regions mapped while global logging runs arrive with the MIGRATION bit. */
static void test_global_logging_covers_new_ram(void **state)
{
    (void)state;
    MemoryRegion *sys = lt_container("system", 0x100000);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    memory_global_dirty_log_start();
    MemoryRegion *ram = lt_ram("hotplug", 0x4000);
    mirror_clear_log(m);
    lt_add(sys, 0x40000, ram, 0);
    assert_mirror(m, as);
    const MirrorEvent *e = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0x40000, 0x4000, ram);
    assert_int_equal(e->range.dirty_log_mask, MIG_BIT);
    uint32_t v = 7;
    assert_int_equal(address_space_write(as, 0x42000, ATTRS, &v, 4), MEMTX_OK);
    assert_true(memory_region_get_dirty(ram, 0x2000, 0x1000, DIRTY_MEMORY_MIGRATION));
    assert_false(memory_region_get_dirty(ram, 0x0, 0x2000, DIRTY_MEMORY_MIGRATION));
    memory_global_dirty_log_stop();
    assert_mirror(m, as);
    assert_int_equal(memory_region_get_dirty_log_mask(ram), 0);
}

/* A client enabled on the region itself survives global start/stop. */
static void test_region_migration_client_survives_global_stop(void **state)
{
    (void)state;
    MemoryRegion *sys = lt_container("system", 0x100000);
    MemoryRegion *ram = lt_ram("ram", 0x4000);
    lt_add(sys, 0, ram, 0);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_MIGRATION), 0);
    memory_global_dirty_log_start();
    mirror_clear_log(m);
    memory_global_dirty_log_stop();
    assert_mirror(m, as);
    assert_int_equal(memory_region_get_dirty_log_mask(ram), MIG_BIT);
    /* The mask did not change: no log_stop. */
    assert_int_equal(m->total[MCB_LOG_STOP], 0);
    uint8_t b = 1;
    assert_int_equal(address_space_write(as, 0x10, ATTRS, &b, 1), MEMTX_OK);
    assert_true(memory_region_get_dirty(ram, 0, 1, DIRTY_MEMORY_MIGRATION));
}

/*
 * Regression: migration bits written while global logging ran, or after it
 * stopped, must not show in the next round. A region that logs only VGA
 * loses its migration bitmap at stop and starts the next round clean.
 */
static void test_no_stale_migration_bits(void **state)
{
    (void)state;
    MemoryRegion *sys = lt_container("system", 0x100000);
    MemoryRegion *ram = lt_ram("ram", 0x4000);
    lt_add(sys, 0, ram, 0);
    AddressSpace *as = lt_as(sys, "memory");
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_VGA), 0);
    uint8_t b = 1;
    memory_global_dirty_log_start();
    assert_int_equal(address_space_write(as, 0x10, ATTRS, &b, 1), MEMTX_OK);
    assert_true(memory_region_get_dirty(ram, 0, 1, DIRTY_MEMORY_MIGRATION));
    memory_global_dirty_log_stop();
    assert_false(memory_region_get_dirty(ram, 0, 1, DIRTY_MEMORY_MIGRATION));
    /* A write while stopped marks VGA only. */
    assert_int_equal(address_space_write(as, 0x1010, ATTRS, &b, 1), MEMTX_OK);
    assert_true(memory_region_get_dirty(ram, 0x1000, 1, DIRTY_MEMORY_VGA));
    memory_global_dirty_log_start();
    assert_false(memory_region_get_dirty(ram, 0, 0x4000, DIRTY_MEMORY_MIGRATION));
    memory_global_dirty_log_stop();
}

/*
 * Writers on two threads write every page of a region exactly once through
 * the dispatch path while the main thread keeps snapshotting and clearing.
 * No bit may be lost or reported twice: every page is dirty in exactly one
 * snapshot.
 */
#define CW_PAGES 4096
#define CW_PAGE  512

typedef struct CwArg {
    AddressSpace *as;
    unsigned first; /* this thread writes pages first, first + 2, ... */
} CwArg;

static void *cw_writer(void *p)
{
    CwArg *a = p;
    for (unsigned pg = a->first; pg < CW_PAGES; pg += 2) {
        uint8_t v = (uint8_t)pg;
        address_space_write(a->as, (hwaddr)pg * CW_PAGE + (pg % CW_PAGE), ATTRS, &v, 1);
    }
    return NULL;
}

static void test_concurrent_writes_and_snapshots(void **state)
{
    (void)state;
    assert_int_equal(memregion_set_dirty_page_size(CW_PAGE), 0);
    MemoryRegion *sys = lt_container("system", 0x10000000);
    MemoryRegion *ram = lt_ram("ram", (mr_size_t)CW_PAGES * CW_PAGE);
    lt_add(sys, 0, ram, 0);
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_VGA), 0);
    AddressSpace *as = lt_as(sys, "memory");
    static unsigned seen[CW_PAGES];
    memset(seen, 0, sizeof(seen));
    CwArg args[2] = {{as, 0}, {as, 1}};
    pthread_t th[2];
    bool joined[2] = {false, false};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cw_writer, &args[i]), 0);
    unsigned snaps = 0;
    for (int done = 0; done < 2;) {
        DirtyBitmapSnapshot *s = memory_region_snapshot_and_clear_dirty(
            ram, 0, (hwaddr)CW_PAGES * CW_PAGE, DIRTY_MEMORY_VGA);
        assert_non_null(s);
        snaps++;
        for (unsigned pg = 0; pg < CW_PAGES; pg++)
            seen[pg] += memory_region_snapshot_get_dirty(ram, s, (hwaddr)pg * CW_PAGE, CW_PAGE);
        memory_region_snapshot_free(s);
        if (done == 0 && snaps > 1) {
            /* Once both writers have finished, one more snapshot collects the rest. */
            for (int i = 0; i < 2; i++)
                if (!joined[i] && pthread_tryjoin_np(th[i], NULL) == 0)
                    joined[i] = true;
            if (joined[0] && joined[1])
                done = 1;
        } else if (done == 1) {
            done = 2;
        }
    }
    for (unsigned pg = 0; pg < CW_PAGES; pg++)
        if (seen[pg] != 1)
            fail_msg("page %u reported dirty in %u snapshots (expected 1)", pg, seen[pg]);
    assert_false(memory_region_get_dirty(ram, 0, (hwaddr)CW_PAGES * CW_PAGE, DIRTY_MEMORY_VGA));
    print_message("%u snapshots while writing\n", snaps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_global_start_sync_stop),
        LT_TEST(test_global_logging_covers_new_ram),
        LT_TEST(test_region_migration_client_survives_global_stop),
        LT_TEST(test_no_stale_migration_bits),
        LT_TEST(test_concurrent_writes_and_snapshots),
    };
    return cmocka_run_group_tests_name("listener-dirty", tests, NULL, NULL);
}
