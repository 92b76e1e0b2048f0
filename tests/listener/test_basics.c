/*
 * Listener basics: registration replays, begin/commit brackets, silence for
 * unchanged views, attribute changes as del + add, dirty-log-only changes as
 * nop + log_start/log_stop, deletions before additions.
 *
 * Expected values are derived by hand from listener.h and docs/internals.md. A range
 * that is the same in both views, dirty-log mask included, gets no callback
 * at all; region_nop is sent only for a kept range whose mask changed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lt.h"

/*
 * The standard map (root container of 64 KiB):
 *   a  RAM 0x1000 at 0x1000
 *   b  MMIO 0x100 at 0x3000
 *   c  RAM 0x2000 at 0x8000, with d (MMIO 0x100, priority 1) at 0x8800 over it
 * View: a [0x1000,+0x1000), b [0x3000,+0x100), c [0x8000,+0x800),
 *       d [0x8800,+0x100), c [0x8900,+0x1700) at offset 0x900.
 */
typedef struct Map {
    MemoryRegion *root, *a, *b, *c, *d;
    AddressSpace *as;
    LtDev dev;
} Map;

static Map map;

static void build_map(void)
{
    memset(&map, 0, sizeof(map));
    map.root = lt_container("root", 0x10000);
    map.a = lt_ram("a", 0x1000);
    map.b = lt_io(&lt_dev_ops, &map.dev, "b", 0x100);
    map.c = lt_ram("c", 0x2000);
    map.d = lt_io(&lt_dev_ops, &map.dev, "d", 0x100);
    lt_add(map.root, 0x1000, map.a, 0);
    lt_add(map.root, 0x3000, map.b, 0);
    lt_add(map.root, 0x8000, map.c, 0);
    lt_add(map.root, 0x8800, map.d, 1);
    map.as = lt_as(map.root, "mem");
}

static void test_register_replays_state(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    assert_mirror(m, map.as);
    /* begin, five region_adds in address order, commit. */
    assert_int_equal(m->nr_log, 7);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_event(&m->log[1], MCB_REGION_ADD, 0x1000, 0x1000, map.a);
    assert_event(&m->log[2], MCB_REGION_ADD, 0x3000, 0x100, map.b);
    assert_event(&m->log[3], MCB_REGION_ADD, 0x8000, 0x800, map.c);
    assert_event(&m->log[4], MCB_REGION_ADD, 0x8800, 0x100, map.d);
    assert_event(&m->log[5], MCB_REGION_ADD, 0x8900, 0x1700, map.c);
    assert_int_equal(m->log[5].range.offset_in_region, 0x900);
    assert_int_equal(m->log[6].cb, MCB_COMMIT);
    assert_int_equal(m->updates, 1);
    assert_last(m, MCB_REGION_ADD, 5);
    assert_last(m, MCB_REGION_DEL, 0);
    assert_last(m, MCB_REGION_NOP, 0);
    assert_int_equal(m->nr_ranges, 5);

    /* A second listener on the same space gets the same replay; the first hears nothing. */
    Mirror *m2 = lt_mirror("m2", 0, map.as);
    assert_mirror(m2, map.as);
    assert_int_equal(m2->total[MCB_REGION_ADD], 5);
    assert_int_equal(m->nr_log, 7);
}

static void test_unregister_replays_removal(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);
    mirror_unregister(m);
    assert_int_equal(m->errors, 0);
    assert_int_equal(m->nr_ranges, 0);
    assert_int_equal(m->nr_log, 7);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_int_equal(m->log[6].cb, MCB_COMMIT);
    assert_int_equal(m->total[MCB_REGION_DEL], 5);
    assert_int_equal(m->total[MCB_REGION_ADD], 0);
    assert_null(m->listener.address_space);
    /* region_del comes in ascending address order, as QEMU replays it. */
    for (size_t i = 2; i < 6; i++) {
        assert_int_equal(m->log[i].cb, MCB_REGION_DEL);
        assert_true(m->log[i - 1].range.addr < m->log[i].range.addr);
    }

    /* Unregistered: later changes are not sent. */
    MemoryRegion *e = lt_ram("e", 0x1000);
    lt_add(map.root, 0x5000, e, 0);
    assert_int_equal(m->nr_log, 7);

    /* It can register again and sees the new state. */
    mirror_clear_log(m);
    assert_int_equal(mirror_register(m, map.as), 0);
    assert_mirror(m, map.as);
    assert_int_equal(m->total[MCB_REGION_ADD], 6);
}

static void test_begin_commit_bracket_each_update(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);

    MemoryRegion *e = lt_ram("e", 0x1000);
    lt_add(map.root, 0x5000, e, 0);
    assert_mirror(m, map.as);
    /* begin, add e, commit: unchanged ranges are not mentioned. */
    assert_int_equal(m->nr_log, 3);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_event(&m->log[1], MCB_REGION_ADD, 0x5000, 0x1000, e);
    assert_int_equal(m->log[2].cb, MCB_COMMIT);
    assert_int_equal(m->updates, 1);

    /* A second update: again exactly one begin and one commit. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_subregion(map.root, e), 0);
    assert_mirror(m, map.as);
    assert_int_equal(m->updates, 1);
    assert_int_equal(m->total[MCB_BEGIN], 1);
    assert_int_equal(m->total[MCB_COMMIT], 1);
    assert_int_equal(m->total[MCB_REGION_DEL], 1);
    assert_event(mirror_find_event(m, MCB_REGION_DEL, 0), MCB_REGION_DEL, 0x5000, 0x1000, e);
    assert_int_equal(m->total[MCB_REGION_NOP], 0);
    assert_int_equal(m->nr_log, 3);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_int_equal(m->log[m->nr_log - 1].cb, MCB_COMMIT);
}

static void test_unrelated_address_space_sends_nothing(void **state)
{
    (void)state;
    build_map();
    MemoryRegion *root2 = lt_container("root2", 0x10000);
    MemoryRegion *r2 = lt_ram("r2", 0x1000);
    lt_add(root2, 0, r2, 0);
    AddressSpace *as2 = lt_as(root2, "other");
    Mirror *m = lt_mirror("m", 0, map.as);
    Mirror *m2 = lt_mirror("m2", 0, as2);
    mirror_clear_log(m);
    mirror_clear_log(m2);

    assert_int_equal(memory_region_set_address(r2, 0x4000), 0);
    assert_int_equal(memory_region_set_readonly(r2, true), 0);
    MemoryRegion *x = lt_ram("x", 0x100);
    lt_add(root2, 0x8000, x, 0);
    /* The other space heard three updates; ours nothing at all. */
    assert_int_equal(m2->updates, 3);
    assert_mirror(m2, as2);
    assert_int_equal(m->nr_log, 0);
    assert_int_equal(m->updates, 0);
}

static void test_unchanged_view_sends_nothing(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);

    /* A region that is mapped nowhere changes: nothing. */
    MemoryRegion *loose = lt_ram("loose", 0x1000);
    assert_int_equal(memory_region_set_readonly(loose, true), 0);
    assert_int_equal(m->nr_log, 0);

    /* A region added entirely under d (priority 1 beats 0): the view is the same. */
    MemoryRegion *hidden = lt_ram("hidden", 0x100);
    lt_add(map.root, 0x8800, hidden, 0);
    MirrorSnap s;
    mirror_snap(map.as, &s);
    assert_int_equal(s.n, 5);
    mirror_snap_free(&s);
    /* Toggling the hidden region changes nothing visible either. */
    assert_int_equal(memory_region_set_readonly(hidden, true), 0);
    assert_int_equal(memory_region_set_enabled(hidden, false), 0);
    assert_mirror(m, map.as);
    if (m->nr_log)
        mirror_print_log(m, stderr);
    assert_int_equal(m->nr_log, 0);
}

static void test_attribute_change_is_del_add(void **state)
{
    (void)state;
    build_map();
    static LtDev rdev;
    MemoryRegion *rd = lt_romd(&lt_dev_ops, &rdev, "romd", 0x1000);
    MemoryRegion *big = lt_ram("big", 0x4000);
    MemoryRegion *al = lt_alias("al", big, 0, 0x1000);
    lt_add(map.root, 0x6000, rd, 0);
    lt_add(map.root, 0xa000, al, 0);
    Mirror *m = lt_mirror("m", 0, map.as);
    assert_int_equal(m->nr_ranges, 7);

    /* readonly */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_readonly(map.a, true), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_last(m, MCB_REGION_NOP, 0);
    const MirrorEvent *del = mirror_find_event(m, MCB_REGION_DEL, 0);
    const MirrorEvent *add = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(del, MCB_REGION_DEL, 0x1000, 0x1000, map.a);
    assert_event(add, MCB_REGION_ADD, 0x1000, 0x1000, map.a);
    assert_false(del->range.readonly);
    assert_true(add->range.readonly);

    /* romd mode */
    mirror_clear_log(m);
    assert_int_equal(memory_region_rom_device_set_romd(rd, false), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_last(m, MCB_REGION_NOP, 0);
    del = mirror_find_event(m, MCB_REGION_DEL, 0);
    add = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(del, MCB_REGION_DEL, 0x6000, 0x1000, rd);
    assert_event(add, MCB_REGION_ADD, 0x6000, 0x1000, rd);
    assert_true(del->range.romd_mode);
    assert_false(add->range.romd_mode);

    /* offset in region */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_alias_offset(al, 0x2000), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_last(m, MCB_REGION_NOP, 0);
    del = mirror_find_event(m, MCB_REGION_DEL, 0);
    add = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(del, MCB_REGION_DEL, 0xa000, 0x1000, big);
    assert_event(add, MCB_REGION_ADD, 0xa000, 0x1000, big);
    assert_int_equal(del->range.offset_in_region, 0);
    assert_int_equal(add->range.offset_in_region, 0x2000);

    /* the region behind the same addresses */
    mirror_clear_log(m);
    MemoryRegion *a2 = lt_ram("a2", 0x1000);
    lt_add(map.root, 0x1000, a2, 5);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_event(mirror_find_event(m, MCB_REGION_DEL, 0), MCB_REGION_DEL, 0x1000, 0x1000, map.a);
    assert_event(mirror_find_event(m, MCB_REGION_ADD, 0), MCB_REGION_ADD, 0x1000, 0x1000, a2);

    /* nonvolatile */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_nonvolatile(map.b, true), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_true(mirror_find_event(m, MCB_REGION_ADD, 0)->range.nonvolatile);
}

static void test_dirty_log_only_change_is_nop(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);

    assert_int_equal(memory_region_set_log(map.a, true, DIRTY_MEMORY_VGA), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 0);
    assert_last(m, MCB_REGION_ADD, 0);
    assert_last(m, MCB_REGION_NOP, 1);
    assert_last(m, MCB_LOG_START, 1);
    assert_last(m, MCB_LOG_STOP, 0);
    assert_event(mirror_find_event(m, MCB_REGION_NOP, 0), MCB_REGION_NOP, 0x1000, 0x1000, map.a);
    const MirrorEvent *e = mirror_find_event(m, MCB_LOG_START, 0);
    assert_event(e, MCB_LOG_START, 0x1000, 0x1000, map.a);
    assert_int_equal(e->old_mask, 0);
    assert_int_equal(e->new_mask, 1 << DIRTY_MEMORY_VGA);
    /* log_start follows the nop of its range, inside the bracket. */
    assert_true(e > mirror_find_event(m, MCB_REGION_NOP, 0));
    assert_int_equal(m->log[m->nr_log - 1].cb, MCB_COMMIT);

    /* A second client on c: both ranges of c get log_start, mask 0 -> CODE. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(map.c, true, DIRTY_MEMORY_CODE), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_NOP, 2);
    assert_last(m, MCB_LOG_START, 2);
    assert_event(mirror_find_event(m, MCB_LOG_START, 0), MCB_LOG_START, 0x8000, 0x800, map.c);
    assert_event(mirror_find_event(m, MCB_LOG_START, 1), MCB_LOG_START, 0x8900, 0x1700, map.c);

    /* Adding a client to a logging range: old mask VGA, new VGA|CODE. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(map.a, true, DIRTY_MEMORY_CODE), 0);
    assert_mirror(m, map.as);
    e = mirror_find_event(m, MCB_LOG_START, 0);
    assert_non_null(e);
    assert_int_equal(e->old_mask, 1 << DIRTY_MEMORY_VGA);
    assert_int_equal(e->new_mask, (1 << DIRTY_MEMORY_VGA) | (1 << DIRTY_MEMORY_CODE));
    assert_last(m, MCB_LOG_START, 1);

    /* Stop VGA: nop + log_stop, old VGA|CODE, new CODE. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(map.a, false, DIRTY_MEMORY_VGA), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 0);
    assert_last(m, MCB_REGION_ADD, 0);
    assert_last(m, MCB_REGION_NOP, 1);
    assert_last(m, MCB_LOG_START, 0);
    assert_last(m, MCB_LOG_STOP, 1);
    e = mirror_find_event(m, MCB_LOG_STOP, 0);
    assert_event(e, MCB_LOG_STOP, 0x1000, 0x1000, map.a);
    assert_int_equal(e->old_mask, (1 << DIRTY_MEMORY_VGA) | (1 << DIRTY_MEMORY_CODE));
    assert_int_equal(e->new_mask, 1 << DIRTY_MEMORY_CODE);

    /* Setting a state that is already set is no change at all. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(map.a, true, DIRTY_MEMORY_CODE), 0);
    assert_int_equal(memory_region_set_log(map.a, false, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(m->nr_log, 0);

    /* A new range of a logging region arrives by region_add carrying its mask. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_address(map.a, 0x5000), 0);
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 1);
    assert_last(m, MCB_REGION_ADD, 1);
    e = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0x5000, 0x1000, map.a);
    assert_int_equal(e->range.dirty_log_mask, 1 << DIRTY_MEMORY_CODE);
}

static void test_register_replays_logging(void **state)
{
    (void)state;
    build_map();
    assert_int_equal(memory_region_set_log(map.a, true, DIRTY_MEMORY_VGA), 0);
    Mirror *m = lt_mirror("m", 0, map.as);
    assert_mirror(m, map.as);
    /* Replay: region_add of a with its mask, then log_start 0 -> VGA. */
    const MirrorEvent *e = mirror_find_event(m, MCB_LOG_START, 0);
    assert_event(e, MCB_LOG_START, 0x1000, 0x1000, map.a);
    assert_int_equal(e->old_mask, 0);
    assert_int_equal(e->new_mask, 1 << DIRTY_MEMORY_VGA);
    assert_int_equal(m->total[MCB_LOG_START], 1);
    mirror_clear_log(m);
    mirror_unregister(m);
    assert_int_equal(m->errors, 0);
    e = mirror_find_event(m, MCB_LOG_STOP, 0);
    assert_event(e, MCB_LOG_STOP, 0x1000, 0x1000, map.a);
    assert_int_equal(e->old_mask, 1 << DIRTY_MEMORY_VGA);
    assert_int_equal(e->new_mask, 0);
    assert_int_equal(m->total[MCB_REGION_DEL], 5);
}

static void test_dels_before_adds(void **state)
{
    (void)state;
    build_map();
    MemoryRegion *e = lt_ram("e", 0x1000);
    lt_add(map.root, 0x5000, e, 0);
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);

    /* Swap a and e, and move b: in address order del/add alternate; the stream must not. */
    lt_begin();
    assert_int_equal(memory_region_set_address(map.a, 0x5000), 0);
    assert_int_equal(memory_region_set_address(e, 0x1000), 0);
    assert_int_equal(memory_region_set_address(map.b, 0xc000), 0);
    lt_commit();
    assert_mirror(m, map.as);
    assert_last(m, MCB_REGION_DEL, 3);
    assert_last(m, MCB_REGION_ADD, 3);
    assert_last(m, MCB_REGION_NOP, 0);
    size_t last_del = 0, first_add = m->nr_log;
    for (size_t i = 0; i < m->nr_log; i++) {
        if (m->log[i].cb == MCB_REGION_DEL)
            last_del = i;
        if ((m->log[i].cb == MCB_REGION_ADD || m->log[i].cb == MCB_REGION_NOP) && i < first_add)
            first_add = i;
    }
    assert_true(last_del < first_add);
    assert_event(&m->log[1], MCB_REGION_DEL, 0x1000, 0x1000, map.a);
    assert_event(&m->log[2], MCB_REGION_DEL, 0x3000, 0x100, map.b);
    assert_event(&m->log[3], MCB_REGION_DEL, 0x5000, 0x1000, e);
}

static void test_address_space_destroy_replays_removal(void **state)
{
    (void)state;
    build_map();
    Mirror *m = lt_mirror("m", 0, map.as);
    mirror_clear_log(m);
    /* A second space over the same root, destroyed while its listener is registered. */
    AddressSpace *tmp = calloc(1, sizeof(*tmp));
    assert_non_null(tmp);
    assert_int_equal(address_space_init(tmp, map.root, "tmp"), 0);
    Mirror *m2 = lt_mirror("m2", 0, tmp);
    assert_int_equal(m2->nr_ranges, 5);
    mirror_clear_log(m2);
    address_space_destroy(tmp);
    free(tmp);
    assert_int_equal(m2->errors, 0);
    assert_int_equal(m2->nr_ranges, 0);
    assert_int_equal(m2->total[MCB_REGION_DEL], 5);
    assert_null(m2->listener.address_space);
    /* The other space and its listener are untouched. */
    assert_int_equal(m->nr_log, 0);
    assert_mirror(m, map.as);
}

static void test_spaces_sharing_a_root(void **state)
{
    (void)state;
    build_map();
    AddressSpace *cpu1 = lt_as(map.root, "cpu1");
    Mirror *m0 = lt_mirror("m0", 0, map.as);
    Mirror *m1 = lt_mirror("m1", 0, cpu1);
    mirror_clear_log(m0);
    mirror_clear_log(m1);
    uint64_t renders = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(map.b, 0x4000), 0);
    assert_int_equal(memregion_stat_renders() - renders, 1);
    for (int k = 0; k < 2; k++) {
        Mirror *m = k ? m1 : m0;
        assert_mirror(m, k ? cpu1 : map.as);
        assert_int_equal(m->updates, 1);
        assert_last(m, MCB_REGION_DEL, 1);
        assert_last(m, MCB_REGION_ADD, 1);
        assert_event(mirror_find_event(m, MCB_REGION_ADD, 0), MCB_REGION_ADD, 0x4000, 0x100, map.b);
    }
}

/* A listener that maps a region from its commit callback, once. */
static MemoryRegion *late_region;
static void map_late(Mirror *m, void *opaque)
{
    (void)opaque;
    if (late_region && !memory_region_container(late_region) && m->nr_ranges == 6)
        assert_int_equal(memory_region_add_subregion(map.root, 0xf000, late_region), 0);
}

static void test_callback_changes_map(void **state)
{
    (void)state;
    build_map();
    late_region = lt_ram("late", 0x1000);
    Mirror *mut = lt_mirror("mutator", 5, map.as);
    Mirror *obs = lt_mirror("observer", 0, map.as);
    mut->on_commit = map_late;
    mirror_clear_log(mut);
    mirror_clear_log(obs);
    /* e appears; the mutator's commit callback then maps late: a second commit of its own. */
    MemoryRegion *e = lt_ram("e", 0x1000);
    lt_add(map.root, 0x5000, e, 0);
    assert_mirror(obs, map.as);
    assert_mirror(mut, map.as);
    assert_int_equal(obs->nr_ranges, 7);
    for (int k = 0; k < 2; k++) {
        Mirror *m = k ? mut : obs;
        assert_int_equal(m->updates, 2);
        assert_int_equal(m->total[MCB_REGION_ADD], 2);
        assert_event(mirror_find_event(m, MCB_REGION_ADD, 0), MCB_REGION_ADD, 0x5000, 0x1000, e);
        assert_event(mirror_find_event(m, MCB_REGION_ADD, 1), MCB_REGION_ADD, 0xf000, 0x1000,
                     late_region);
    }
    /* The observer (priority 0) finished the first update before the second began. */
    const MirrorEvent *first_commit = mirror_find_event(obs, MCB_COMMIT, 0);
    const MirrorEvent *second_begin = mirror_find_event(obs, MCB_BEGIN, 1);
    assert_true(first_commit->seq < second_begin->seq);
    late_region = NULL;
}

/* Ranges of 2^64 bytes and attachments at the top of the space reach listeners intact. */
static void test_whole_64bit_space(void **state)
{
    (void)state;
    static LtDev dev;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *root = lt_container("io-root", MR_SIZE_2_64);
    MemoryRegion *bus = lt_io(&lt_dev_ops, &dev, "bus", MR_SIZE_2_64);
    MemoryRegion *ram = lt_ram("ram", 0x1000);
    lt_add(root, 0, bus, -1);
    lt_add(root, 0x1000, ram, 0);
    AddressSpace *as = lt_as(root, "io");
    Mirror *m = lt_mirror("m", 0, as);
    assert_int_equal(m->nr_ranges, 3);
    assert_true(m->ranges[2].size == MR_SIZE_2_64 - 0x2000);

    int fd = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0);
    mirror_clear_log(m);
    assert_int_equal(memory_region_add_eventfd(bus, UINT64_MAX - 3, 4, false, 0, fd), 0);
    assert_int_equal(memory_region_add_coalescing(bus, UINT64_MAX - 0xff, 0x100), 0);
    assert_mirror(m, as);
    assert_event(mirror_find_event(m, MCB_EVENTFD_ADD, 0), MCB_EVENTFD_ADD, UINT64_MAX - 3, 4, bus);
    const MirrorEvent *e = mirror_find_event(m, MCB_COALESCED_ADD, 0);
    assert_non_null(e);
    assert_int_equal(e->addr, UINT64_MAX - 0xff);
    assert_int_equal(e->len, 0x100);
    address_space_stl_le(as, UINT64_MAX - 3, 1, ATTRS, NULL);
    uint64_t count = 0;
    assert_int_equal(read(fd, &count, sizeof(count)), sizeof(count));
    assert_int_equal(count, 1);

    /* Without the RAM, the bus is one range of 2^64 bytes: three dels, one add. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_REGION_DEL, 3);
    assert_last(m, MCB_REGION_ADD, 1);
    e = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0, MR_SIZE_2_64, bus);
    assert_last(m, MCB_EVENTFD_DEL, 1);
    assert_last(m, MCB_EVENTFD_ADD, 1);
    assert_last(m, MCB_COALESCED_DEL, 1);
    assert_last(m, MCB_COALESCED_ADD, 1);
    mirror_clear_log(m);
    mirror_unregister(m);
    assert_int_equal(m->errors, 0);
    assert_int_equal(m->nr_ranges + m->nr_zones + m->nr_eventfds, 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_register_replays_state),
        LT_TEST(test_unregister_replays_removal),
        LT_TEST(test_begin_commit_bracket_each_update),
        LT_TEST(test_unrelated_address_space_sends_nothing),
        LT_TEST(test_unchanged_view_sends_nothing),
        LT_TEST(test_attribute_change_is_del_add),
        LT_TEST(test_dirty_log_only_change_is_nop),
        LT_TEST(test_register_replays_logging),
        LT_TEST(test_dels_before_adds),
        LT_TEST(test_address_space_destroy_replays_removal),
        LT_TEST(test_spaces_sharing_a_root),
        LT_TEST(test_callback_changes_map),
        LT_TEST(test_whole_64bit_space),
    };
    return cmocka_run_group_tests_name("listener-basics", tests, NULL, NULL);
}
