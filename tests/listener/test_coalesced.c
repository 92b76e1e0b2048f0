/*
 * Coalesced MMIO: memory_region_add_coalescing sends coalesced_io_add in
 * absolute addresses, clipped to what is visible of the region; the zones
 * follow the region's ranges as they change; clear sends coalesced_io_del.
 */
#include <string.h>

#include "lt.h"

static LtDev dev;

static void expect_zone(const Mirror *m, MirrorCb cb, size_t n, hwaddr addr, hwaddr len,
                        const MemoryRegion *mr, hwaddr offset)
{
    const MirrorEvent *e = mirror_find_event(m, cb, n);
    if (!e)
        fail_msg("no %s #%zu", mirror_cb_name(cb), n);
    if (e->addr != addr || e->len != len)
        fail_msg("%s #%zu: 0x%llx+0x%llx, expected 0x%llx+0x%llx", mirror_cb_name(cb), n,
                 (unsigned long long)e->addr, (unsigned long long)e->len, (unsigned long long)addr,
                 (unsigned long long)len);
    /* The range passed is the covered part of the flat range. */
    assert_ptr_equal(e->range.mr, mr);
    assert_int_equal(e->range.addr, addr);
    assert_true(e->range.size == len);
    assert_int_equal(e->range.offset_in_region, offset);
}

/*
 * dev: MMIO 0x1000 at 0x1000; over: RAM 0x400 at 0x1200, priority 1, hides
 * dev's bytes [0x200, 0x600). View: dev [0x1000,+0x200) off 0,
 * over [0x1200,+0x400), dev [0x1600,+0xa00) off 0x600.
 */
static void test_add_clipped_to_visible(void **state)
{
    (void)state;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *sys = lt_container("system", 0x10000);
    MemoryRegion *io = lt_io(&lt_dev_ops, &dev, "dev", 0x1000);
    MemoryRegion *over = lt_ram("over", 0x400);
    lt_add(sys, 0x1000, io, 0);
    lt_add(sys, 0x1200, over, 1);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    assert_int_equal(m->nr_ranges, 3);
    mirror_clear_log(m);

    /* Zone [0x100, 0x900) of dev: visible as [0x1100,+0x100) and [0x1600,+0x300). */
    assert_int_equal(memory_region_add_coalescing(io, 0x100, 0x800), 0);
    assert_mirror(m, as);
    assert_int_equal(m->updates, 1);
    assert_int_equal(m->total[MCB_COALESCED_ADD], 2);
    assert_int_equal(m->total[MCB_REGION_ADD] + m->total[MCB_REGION_DEL], 0);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x1100, 0x100, io, 0x100);
    expect_zone(m, MCB_COALESCED_ADD, 1, 0x1600, 0x300, io, 0x600);

    /* The overlay goes: dev is one range; the zone is withdrawn and re-announced whole. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_subregion(sys, over), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_REGION_DEL, 3);
    assert_last(m, MCB_REGION_ADD, 1);
    assert_int_equal(m->total[MCB_COALESCED_DEL], 2);
    assert_int_equal(m->total[MCB_COALESCED_ADD], 1);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x1100, 0x800, io, 0x100);
    assert_int_equal(m->nr_zones, 1);

    /* A second zone at the end of the region. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_add_coalescing(io, 0xf00, 0x100), 0);
    assert_int_equal(m->errors, 0);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x1f00, 0x100, io, 0xf00);

    /* Clear: both zones withdrawn. */
    mirror_clear_log(m);
    memory_region_clear_coalescing(io);
    assert_mirror(m, as);
    assert_int_equal(m->updates, 1);
    assert_int_equal(m->total[MCB_COALESCED_DEL], 2);
    assert_int_equal(m->nr_zones, 0);
    assert_int_equal(m->total[MCB_REGION_ADD] + m->total[MCB_REGION_DEL], 0);
    /* Clearing again sends nothing. */
    mirror_clear_log(m);
    memory_region_clear_coalescing(io);
    assert_int_equal(m->total[MCB_COALESCED_DEL], 0);
}

/* A zone seen through an alias window lands at the alias's addresses. */
static void test_coalescing_through_alias(void **state)
{
    (void)state;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *sys = lt_container("system", 0x10000);
    MemoryRegion *io = lt_io(&lt_dev_ops, &dev, "dev", 0x1000);
    MemoryRegion *win = lt_alias("win", io, 0x800, 0x400);
    lt_add(sys, 0x8000, win, 0);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    mirror_clear_log(m);
    /* dev [0x100, 0x900) through the window [0x800, 0xc00): [0x800, 0x900) at 0x8000. */
    assert_int_equal(memory_region_add_coalescing(io, 0x100, 0x800), 0);
    assert_mirror(m, as);
    assert_int_equal(m->total[MCB_COALESCED_ADD], 1);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x8000, 0x100, io, 0x800);
    /* A zone outside the window: nothing to announce. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_add_coalescing(io, 0xe00, 0x100), 0);
    assert_int_equal(m->total[MCB_COALESCED_ADD], 0);
    /* Map dev directly too: the zones appear at both places. */
    mirror_clear_log(m);
    lt_add(sys, 0x1000, io, 0);
    assert_mirror(m, as);
    assert_int_equal(m->total[MCB_COALESCED_ADD], 2);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x1100, 0x800, io, 0x100);
    expect_zone(m, MCB_COALESCED_ADD, 1, 0x1e00, 0x100, io, 0xe00);
    MirrorAttach att[] = {
        {.mr = io, .offset = 0x100, .size = 0x800},
        {.mr = io, .offset = 0xe00, .size = 0x100},
    };
    char why[256] = "";
    if (mirror_compare_attachments(m, as, att, 2, why, sizeof(why)))
        fail_msg("%s", why);
    assert_int_equal(m->nr_zones, 3);
}

/* Zones of a region that is not mapped are announced when it is mapped, and replayed. */
static void test_coalescing_before_mapping(void **state)
{
    (void)state;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *sys = lt_container("system", 0x10000);
    MemoryRegion *io = lt_io(&lt_dev_ops, &dev, "dev", 0x1000);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("m", 0, as);
    mirror_clear_log(m);
    assert_int_equal(memory_region_add_coalescing(io, 0, 0x1000), 0);
    assert_int_equal(m->nr_log, 0);
    lt_add(sys, 0x4000, io, 0);
    assert_mirror(m, as);
    expect_zone(m, MCB_COALESCED_ADD, 0, 0x4000, 0x1000, io, 0);
    /* Replay to a new listener: region_add, then the zone. */
    Mirror *late = lt_mirror("late", 0, as);
    assert_mirror(late, as);
    expect_zone(late, MCB_COALESCED_ADD, 0, 0x4000, 0x1000, io, 0);
    assert_true(mirror_find_event(late, MCB_REGION_ADD, 0)->seq <
                mirror_find_event(late, MCB_COALESCED_ADD, 0)->seq);
    /* Unregister withdraws the zone before the range. */
    mirror_clear_log(late);
    mirror_unregister(late);
    assert_int_equal(late->errors, 0);
    assert_int_equal(late->nr_zones, 0);
    assert_true(mirror_find_event(late, MCB_COALESCED_DEL, 0)->seq <
                mirror_find_event(late, MCB_REGION_DEL, 0)->seq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_add_clipped_to_visible),
        LT_TEST(test_coalescing_through_alias),
        LT_TEST(test_coalescing_before_mapping),
    };
    return cmocka_run_group_tests_name("listener-coalesced", tests, NULL, NULL);
}
