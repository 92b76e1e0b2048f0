/*
 * Alias loops: an alias that leads back into its own container or an
 * ancestor renders as QEMU renders it (the clip ends the loop), and stays
 * right through lookups, dispatch, dirty logging, listeners and incremental
 * commits. Only maps past the documented bounds are refused, at the call
 * that would create them (MEMREGION_ALIAS_LAPS_MAX, region.h).
 * Expected views are written by hand from the rendering rules.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"

/*
 * The Arm SSE shape (QEMU's hw/arm/armsse.c): "alias 3" at 0x50000000 inside
 * the CPU container shows that same container from 0x40000000, so whatever
 * is at 0x4xxxxxxx shows again at 0x5xxxxxxx.
 */
static MemoryRegion *cpu, *ram, *dev_mr, *alias3;
static TestDev dev;

static AddressSpace *build_sse(void)
{
    cpu = h_container("cpu-container", (mr_size_t)1 << 32);
    ram = h_ram("sram", 0x2000);
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    dev_mr = h_io(&td_ops_le, &dev, "dev", 0x100);
    h_add(cpu, 0x40000000, ram, 0);
    h_add(cpu, 0x40100000, dev_mr, 0);
    alias3 = h_alias("alias 3", cpu, 0x40000000, 0x10000000);
    h_add(cpu, 0x50000000, alias3, -1500);
    return h_as(cpu, "cpu");
}

static void test_sse_shape_renders(void **state)
{
    (void)state;
    AddressSpace *as = build_sse();
    assert_view(as, {0x40000000, 0x2000, ram, 0, false}, {0x40100000, 0x100, dev_mr, 0, false},
                {0x50000000, 0x2000, ram, 0, false}, {0x50100000, 0x100, dev_mr, 0, false});

    /* Lookups and dispatch through the loop reach the same bytes and device. */
    MemoryRegionSection sec;
    assert_int_equal(address_space_translate(as, 0x50001010, false, ATTRS_NONE, &sec), MEMTX_OK);
    assert_ptr_equal(sec.mr, ram);
    assert_int_equal(sec.offset_within_region, 0x1010);
    address_space_stl_le(as, 0x50000040, 0x12345678, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldl_le(as, 0x40000040, ATTRS_NONE, NULL), 0x12345678);
    address_space_stl_le(as, 0x50100008, 0xabcd, ATTRS_NONE, NULL);
    assert_int_equal(dev.nlog, 1);
    assert_int_equal(dev.log[0].addr, 8);
    assert_int_equal(address_space_ldl_le(as, 0x40100008, ATTRS_NONE, NULL), 0xabcd);

    /* Dirty logging: a write through the alias marks the RAM. */
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_VGA), 0);
    memory_region_reset_dirty(ram, 0, 0x2000, DIRTY_MEMORY_VGA);
    address_space_stb(as, 0x50001000, 1, ATTRS_NONE, NULL);
    assert_true(memory_region_get_dirty(ram, 0x1000, 1, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(ram, 0, 1, DIRTY_MEMORY_VGA));
}

/* Changes below the loop reach both copies: damage travels through the loop. */
static void test_sse_incremental(void **state)
{
    (void)state;
    AddressSpace *as = build_sse();
    MemoryRegion *extra = h_ram("extra", 0x1000);
    h_add(cpu, 0x40200000, extra, 0);
    assert_view(as, {0x40000000, 0x2000, ram, 0, false}, {0x40100000, 0x100, dev_mr, 0, false},
                {0x40200000, 0x1000, extra, 0, false}, {0x50000000, 0x2000, ram, 0, false},
                {0x50100000, 0x100, dev_mr, 0, false}, {0x50200000, 0x1000, extra, 0, false});
    assert_int_equal(memory_region_set_enabled(ram, false), 0);
    assert_view(as, {0x40100000, 0x100, dev_mr, 0, false}, {0x40200000, 0x1000, extra, 0, false},
                {0x50100000, 0x100, dev_mr, 0, false}, {0x50200000, 0x1000, extra, 0, false});
    assert_int_equal(memory_region_set_address(extra, 0x40300000), 0);
    assert_int_equal(memory_region_set_readonly(dev_mr, true), 0);
    assert_view(as, {0x40100000, 0x100, dev_mr, 0, true}, {0x40300000, 0x1000, extra, 0, false},
                {0x50100000, 0x100, dev_mr, 0, true}, {0x50300000, 0x1000, extra, 0, false});
    /* Moving the alias window: it now shows 0x40000000.. from 0x60000000. */
    assert_int_equal(memory_region_set_address(alias3, 0x60000000), 0);
    assert_view(as, {0x40100000, 0x100, dev_mr, 0, true}, {0x40300000, 0x1000, extra, 0, false},
                {0x60100000, 0x100, dev_mr, 0, true}, {0x60300000, 0x1000, extra, 0, false});
}

/* Listeners hear both copies come and go. */
static unsigned adds, dels;
static void on_add(MemoryListener *l, const FlatRange *r)
{
    (void)l;
    (void)r;
    adds++;
}
static void on_del(MemoryListener *l, const FlatRange *r)
{
    (void)l;
    (void)r;
    dels++;
}

static void test_sse_listener(void **state)
{
    (void)state;
    AddressSpace *as = build_sse();
    static MemoryListener l; /* outlives a failed test: the teardown unregisters it */
    memset(&l, 0, sizeof(l));
    l.region_add = on_add;
    l.region_del = on_del;
    adds = dels = 0;
    assert_int_equal(memory_listener_register(&l, as), 0);
    assert_int_equal(adds, 4);
    assert_int_equal(memory_region_set_enabled(dev_mr, false), 0);
    assert_int_equal(dels, 2);
    memory_listener_unregister(&l);
    assert_int_equal(dels, 4);
}

/*
 * The bound, at its edge. Container C of size S holds r (RAM, d bytes) at 0
 * and alias A at d showing C[0, S - d): C renders inside itself once per
 * multiple of d below S, so ceil(S / d) times along one path. S = 17 d
 * nests C 17 times (16 laps): accepted. One byte more makes 18: refused.
 */
#define D 0x1000

static MemoryRegion *loop_c, *loop_r, *loop_a;

static void build_loop(mr_size_t c_size, mr_size_t a_size)
{
    loop_c = h_container("C", c_size);
    loop_r = h_ram("r", D);
    h_add(loop_c, 0, loop_r, 0);
    loop_a = h_alias("A", loop_c, 0, a_size);
}

static void test_laps_bound_edge(void **state)
{
    (void)state;
    assert_int_equal(MEMREGION_ALIAS_LAPS_MAX, 16);
    build_loop(17 * D, 16 * D);
    h_add(loop_c, D, loop_a, 0);
    AddressSpace *as = h_as(loop_c, "loop");
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), 17); /* r at every multiple of d */
    for (size_t i = 0; i < 17; i++) {
        const FlatRange *fr = flatview_range(fv, i);
        assert_int_equal(fr->addr, i * D);
        assert_ptr_equal(fr->mr, loop_r);
        assert_int_equal(fr->offset_in_region, 0);
    }
    flatview_unref(fv);

    /* Growing the loop by one byte: the container may grow (the alias
     * window still ends at 17 d), the alias may not. */
    assert_int_equal(memory_region_set_size(loop_c, 17 * D + 1), 0);
    ViewSnap snap;
    h_snap(as, &snap);
    assert_error(memory_region_set_size(loop_a, 16 * D + 1), ELOOP);
    assert_non_null(strstr(memregion_last_error(), "more than 16 times"));
    assert_size_equal(memory_region_size(loop_a), 16 * D);
    assert_view_unchanged(as, &snap);
}

static void test_laps_bound_one_past(void **state)
{
    (void)state;
    build_loop(17 * D + 1, 16 * D + 1);
    assert_error(memory_region_add_subregion(loop_c, D, loop_a), ELOOP);
    assert_null(memory_region_container(loop_a));
    assert_ptr_equal(memory_region_first_subregion(loop_c), loop_r);
    assert_null(memory_region_next_sibling(loop_r));
}

/*
 * The work bound, at its edge. Two aliases at D in C both show C from 0: each
 * lap may go through either, so rendering C with n nestings visits 2^n - 1
 * copies of C and 2^n - 2 aliases, 2^(n+1) - 3 regions in all. n = 11 (C of
 * 11 D) visits 4093, within MEMREGION_ALIAS_LOOP_WORK_MAX (4096); n = 12
 * visits 8189: refused, though 12 nestings are within the lap bound.
 */
static void test_work_bound_edge(void **state)
{
    (void)state;
    assert_int_equal(MEMREGION_ALIAS_LOOP_WORK_MAX, 4096);
    for (unsigned n = 11; n <= 12; n++) {
        MemoryRegion *c = h_container("C", n * D);
        MemoryRegion *a1 = h_alias("A1", c, 0, (n - 1) * D);
        MemoryRegion *a2 = h_alias("A2", c, 0, (n - 1) * D);
        h_add(c, D, a1, 1);
        int rc = memory_region_add_subregion(c, D, a2);
        if (n == 11) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -ELOOP);
            assert_non_null(strstr(memregion_last_error(), "more than 4096 regions"));
        }
    }
}

/* A 2^64-byte loop with displacement 1 would end after 2^64 laps: refused. */
static void test_huge_loop_refused(void **state)
{
    (void)state;
    MemoryRegion *c = h_container("whole", MR_SIZE_2_64);
    MemoryRegion *a = h_alias("A", c, 0, MR_SIZE_2_64 - 1);
    assert_error(memory_region_add_subregion(c, 1, a), ELOOP);
    assert_null(memory_region_container(a));
}

/* Each mutator that can make a loop never end refuses, and changes nothing. */
static void test_mutators_refuse_endless_loops(void **state)
{
    (void)state;
    MemoryRegion *c = h_container("C", 0x10000);
    MemoryRegion *r = h_ram("r", 0x1000);
    h_add(c, 0, r, 0);
    MemoryRegion *a = h_alias("A", c, 0, 0x1000);
    h_add(c, 0x2000, a, 0); /* shows C[0, 0x1000) at 0x2000: ends */
    AddressSpace *as = h_as(c, "as");
    assert_view(as, {0, 0x1000, r, 0, false}, {0x2000, 0x1000, r, 0, false});
    ViewSnap snap;
    h_snap(as, &snap);

    /* set_alias_offset: the window onto itself with no displacement. */
    assert_error(memory_region_set_alias_offset(a, 0x2000), ELOOP);
    assert_int_equal(memory_region_alias_offset(a), 0);
    /* set_address: the same, by moving the alias to where it looks. */
    assert_error(memory_region_set_address(a, 0), ELOOP);
    assert_int_equal(memory_region_addr(a), 0x2000);
    /* set_size: a window that holds itself: 0x2000 shows C[0, 0x3000), which
     * holds the alias again, 0x2000 further on each lap: the clip ends it
     * after two laps, so it is accepted... */
    assert_int_equal(memory_region_set_size(a, 0x3000), 0);
    /* ...and shrinking back is always accepted. */
    assert_int_equal(memory_region_set_size(a, 0x1000), 0);
    assert_view_unchanged(as, &snap);

    /* set_enabled: two aliases that feed each other with no net displacement. */
    MemoryRegion *c1 = h_container("C1", 0x1000), *c2 = h_container("C2", 0x1000);
    MemoryRegion *a1 = h_alias("A1", c2, 0, 0x800);
    MemoryRegion *a2 = h_alias("A2", c1, 0x100, 0x800);
    h_add(c1, 0x100, a1, 0);
    assert_int_equal(memory_region_set_enabled(a2, false), 0);
    h_add(c2, 0, a2, 0); /* disabled: rendering cannot follow it */
    assert_error(memory_region_set_enabled(a2, true), ELOOP);
    assert_false(memory_region_is_enabled(a2));
    /* Mapped enabled, the same pair is refused at add_subregion. */
    assert_int_equal(memory_region_del_subregion(c2, a2), 0);
    assert_int_equal(memory_region_set_enabled(a2, true), 0);
    assert_error(memory_region_add_subregion(c2, 0, a2), ELOOP);
    /* With a net displacement the pair ends, and is accepted. */
    assert_int_equal(memory_region_add_subregion(c2, 0x100, a2), 0);
    assert_view_unchanged(as, &snap);
}

/* A loop through a nested container: the alias shows C's start inside
 * "inner" at 0x8000, so each lap moves 0x8000 and the clip ends it at once. */
static void test_loop_through_nested_container(void **state)
{
    (void)state;
    MemoryRegion *c = h_container("C", 0x10000);
    MemoryRegion *inner = h_container("inner", 0x1000);
    h_add(c, 0x8000, inner, 0);
    MemoryRegion *a = h_alias("A", c, 0, 0x1000);
    h_add(inner, 0, a, 0);
    MemoryRegion *r = h_ram("r", 0x100);
    h_add(c, 0, r, 0);
    AddressSpace *as = h_as(c, "as");
    assert_view(as, {0, 0x100, r, 0, false}, {0x8000, 0x100, r, 0, false});
}

/* An endless loop kept disabled is accepted (rendering cannot follow it);
 * changes beneath it still commit, and damage does not chase the loop. */
static void test_disabled_endless_loop(void **state)
{
    (void)state;
    MemoryRegion *c = h_container("C", 0x10000);
    MemoryRegion *a = h_alias("A", c, 0, 0x10000);
    assert_int_equal(memory_region_set_enabled(a, false), 0);
    h_add(c, 0, a, 1); /* C shows itself at its own place: never ends when enabled */
    AddressSpace *as = h_as(c, "as");
    MemoryRegion *r = h_ram("r", 0x1000);
    h_add(c, 0x4000, r, 0);
    assert_view(as, {0x4000, 0x1000, r, 0, false});
    assert_int_equal(memory_region_set_address(r, 0x5000), 0);
    assert_view(as, {0x5000, 0x1000, r, 0, false});
    assert_error(memory_region_set_enabled(a, true), ELOOP);
    assert_view(as, {0x5000, 0x1000, r, 0, false});
}

/* Empty windows end every loop at once: accepted, and an address space over
 * them derives its view root without walking round the loop for ever. */
static void test_empty_loop(void **state)
{
    (void)state;
    MemoryRegion *c = h_container("C", 0);
    MemoryRegion *a = h_alias("A", c, 0, 0);
    h_add(c, 0, a, 0);
    AddressSpace *as = h_as(c, "as");
    assert_view_empty(as);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_sse_shape_renders),
        H_TEST(test_sse_incremental),
        H_TEST(test_sse_listener),
        H_TEST(test_laps_bound_edge),
        H_TEST(test_laps_bound_one_past),
        H_TEST(test_huge_loop_refused),
        H_TEST(test_work_bound_edge),
        H_TEST(test_mutators_refuse_endless_loops),
        H_TEST(test_loop_through_nested_container),
        H_TEST(test_disabled_endless_loop),
        H_TEST(test_empty_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
