/*
 * Rendering rules: transparent containers, clipping, terminating regions
 * with children, disabled subtrees, inherited flags, merging and zero-size
 * regions. Expected views are worked out by hand from docs/internals.md.
 */
#include "helpers.h"

static TestDev devs[8];

static MemoryRegion *io(int i, const char *name, mr_size_t size)
{
    td_init(&devs[i], DEVICE_LITTLE_ENDIAN);
    return h_io(&td_ops_le, &devs[i], name, size);
}

static void test_container_transparent(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bg = h_ram("bg", 0x10000);
    MemoryRegion *k = h_container("K", 0x4000);
    MemoryRegion *r1 = h_ram("r1", 0x1000);
    h_add(root, 0, bg, 0);
    h_add(root, 0x1000, k, 1);
    h_add(k, 0x1000, r1, 0);
    AddressSpace *as = h_as(root, "as");
    /* K covers [0x1000,0x5000) at higher priority but only r1 is opaque. */
    assert_view(as, {0, 0x2000, bg, 0, false}, {0x2000, 0x1000, r1, 0, false},
                {0x3000, 0xd000, bg, 0x3000, false});
}

static void test_clip_to_parent(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *k = h_container("K", 0x2000);
    MemoryRegion *r = h_ram("r", 0x3000);
    MemoryRegion *edge = h_ram("edge", 0x2000);
    h_add(root, 0x1000, k, 0);
    h_add(k, 0x1000, r, 0);       /* [0x2000,0x5000) clipped to K's end 0x3000 */
    h_add(root, 0xf000, edge, 0); /* [0xf000,0x11000) clipped to the root's end */
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x2000, 0x1000, r, 0, false}, {0xf000, 0x1000, edge, 0, false});

    /* Growing the parent window reveals more of the child. */
    assert_int_equal(memory_region_set_size(k, 0x3000), 0);
    assert_view(as, {0x2000, 0x2000, r, 0, false}, {0xf000, 0x1000, edge, 0, false});

    /* A child placed entirely outside its parent is invisible. */
    assert_int_equal(memory_region_set_address(r, 0x4000), 0);
    assert_view(as, {0xf000, 0x1000, edge, 0, false});
}

/*
 * The layering example of QEMU's memory.rst (reference section 2, rule 3):
 * container A (0x8000) holds C, an MMIO region [0,0x6000) at priority 1,
 * and B, [0x2000,0x6000) at priority 2, which holds D at B+0 and E at
 * B+0x2000 (0x1000 bytes each). With B a pure container the result is
 * [CCCC][DDDD][CCCC][EEEE][CCCC]; with B an MMIO region B fills the gaps of
 * its own window instead of C.
 */
static void build_layering(MemoryRegion *b, MemoryRegion **c, MemoryRegion **d, MemoryRegion **e,
                           AddressSpace **as)
{
    MemoryRegion *a = h_container("A", 0x8000);
    *c = io(0, "C", 0x6000);
    *d = io(1, "D", 0x1000);
    *e = io(2, "E", 0x1000);
    h_add(a, 0, *c, 1);
    h_add(a, 0x2000, b, 2);
    h_add(b, 0, *d, 0);
    h_add(b, 0x2000, *e, 0);
    *as = h_as(a, "A");
}

static void test_layering_pure_container(void **state)
{
    (void)state;
    MemoryRegion *b = h_container("B", 0x4000), *c, *d, *e;
    AddressSpace *as;
    build_layering(b, &c, &d, &e, &as);
    assert_view(as, {0x0000, 0x2000, c, 0x0000, false}, {0x2000, 0x1000, d, 0, false},
                {0x3000, 0x1000, c, 0x3000, false}, {0x4000, 0x1000, e, 0, false},
                {0x5000, 0x1000, c, 0x5000, false});
}

static void test_layering_terminating(void **state)
{
    (void)state;
    MemoryRegion *b = io(3, "B", 0x4000), *c, *d, *e;
    AddressSpace *as;
    build_layering(b, &c, &d, &e, &as);
    assert_view(as, {0x0000, 0x2000, c, 0x0000, false}, {0x2000, 0x1000, d, 0, false},
                {0x3000, 0x1000, b, 0x1000, false}, {0x4000, 0x1000, e, 0, false},
                {0x5000, 0x1000, b, 0x3000, false});
}

static void test_ram_with_children_fills_gaps(void **state)
{
    (void)state;
    /* A RAM region with a child: the child wins where it is, RAM fills the rest. */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *regs = io(0, "regs", 0x1000);
    h_add(ram, 0x2000, regs, 0);
    h_add(root, 0x1000, ram, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x1000, 0x2000, ram, 0, false}, {0x3000, 0x1000, regs, 0, false},
                {0x4000, 0x1000, ram, 0x3000, false});
}

static void test_disabled_vanishes_with_subtree(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bg = io(0, "bg", 0x8000);
    MemoryRegion *k = h_container("K", 0x4000);
    MemoryRegion *r = h_ram("r", 0x4000);
    MemoryRegion *top = io(1, "top", 0x1000);
    h_add(root, 0, bg, 0);
    h_add(root, 0x1000, k, 1);
    h_add(k, 0, r, 0);
    h_add(root, 0x6000, top, 1);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x1000, bg, 0, false}, {0x1000, 0x4000, r, 0, false},
                {0x5000, 0x1000, bg, 0x5000, false}, {0x6000, 0x1000, top, 0, false},
                {0x7000, 0x1000, bg, 0x7000, false});

    /* Disabling K removes r with it; a disabled region hides nothing. */
    assert_int_equal(memory_region_set_enabled(k, false), 0);
    assert_int_equal(memory_region_set_enabled(top, false), 0);
    assert_view(as, {0, 0x8000, bg, 0, false});

    /* A child enabled under a disabled parent stays invisible. */
    assert_int_equal(memory_region_set_enabled(r, true), 0);
    assert_view(as, {0, 0x8000, bg, 0, false});

    assert_int_equal(memory_region_set_enabled(k, true), 0);
    assert_view(as, {0, 0x1000, bg, 0, false}, {0x1000, 0x4000, r, 0, false},
                {0x5000, 0x3000, bg, 0x5000, false});

    /* Disabling the root empties the view. */
    assert_int_equal(memory_region_set_enabled(root, false), 0);
    assert_view_empty(as);
}

static void test_readonly_inherited(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *k = h_container("K", 0x2000);
    MemoryRegion *r = h_ram("r", 0x1000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *ro_alias = h_alias("ro-alias", ram, 0, 0x1000);
    MemoryRegion *rom = h_rom("rom", 0x1000);
    h_add(k, 0, r, 0);
    h_add(root, 0, k, 0);
    h_add(root, 0x4000, ram, 0);
    h_add(root, 0x5000, ro_alias, 0);
    h_add(root, 0x8000, rom, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x1000, r, 0, false}, {0x4000, 0x1000, ram, 0, false},
                {0x5000, 0x1000, ram, 0, false}, {0x8000, 0x1000, rom, 0, true});

    assert_int_equal(memory_region_set_readonly(k, true), 0);
    assert_int_equal(memory_region_set_readonly(ro_alias, true), 0);
    /* Through K and through the alias the RAM is read-only; directly mapped it is not. */
    assert_view(as, {0, 0x1000, r, 0, true}, {0x4000, 0x1000, ram, 0, false},
                {0x5000, 0x1000, ram, 0, true}, {0x8000, 0x1000, rom, 0, true});
    assert_false(memory_region_is_readonly(r)); /* the flag is inherited, not copied */

    /* The guest cannot write through a read-only path. */
    uint8_t *p = memory_region_get_ram_ptr(ram);
    p[0x10] = 0x11;
    address_space_stb(as, 0x5010, 0x22, ATTRS_NONE, NULL);
    assert_int_equal(p[0x10], 0x11);
    address_space_stb(as, 0x4010, 0x33, ATTRS_NONE, NULL);
    assert_int_equal(p[0x10], 0x33);

    assert_int_equal(memory_region_set_readonly(k, false), 0);
    assert_view(as, {0, 0x1000, r, 0, false}, {0x4000, 0x1000, ram, 0, false},
                {0x5000, 0x1000, ram, 0, true}, {0x8000, 0x1000, rom, 0, true});
}

static void test_nonvolatile_inherited(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *k = h_container("K", 0x2000);
    MemoryRegion *r = h_ram("r", 0x1000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *al = h_alias("al", ram, 0, 0x1000);
    h_add(k, 0, r, 0);
    h_add(root, 0, k, 0);
    h_add(root, 0x4000, ram, 0);
    h_add(root, 0x5000, al, 0);
    assert_int_equal(memory_region_set_nonvolatile(k, true), 0);
    assert_int_equal(memory_region_set_nonvolatile(al, true), 0);
    AddressSpace *as = h_as(root, "as");
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), 3);
    const FlatRange *f0 = flatview_range(fv, 0), *f1 = flatview_range(fv, 1),
                    *f2 = flatview_range(fv, 2);
    assert_ptr_equal(f0->mr, r);
    assert_true(f0->nonvolatile);
    assert_false(f0->readonly);
    assert_ptr_equal(f1->mr, ram);
    assert_false(f1->nonvolatile);
    assert_ptr_equal(f2->mr, ram);
    assert_true(f2->nonvolatile);
    flatview_unref(fv);
}

static void test_merge_two_aliases(void **state)
{
    (void)state;
    /* Two aliases whose windows are contiguous in the same RAM merge into one range. */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *lo = h_alias("lo", ram, 0, 0x2000);
    MemoryRegion *hi = h_alias("hi", ram, 0x2000, 0x2000);
    h_add(root, 0x8000, lo, 0);
    h_add(root, 0xa000, hi, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x8000, 0x4000, ram, 0, false});

    /* Non-contiguous offsets: no merge. */
    assert_int_equal(memory_region_set_alias_offset(hi, 0x1000), 0);
    assert_view(as, {0x8000, 0x2000, ram, 0, false}, {0xa000, 0x2000, ram, 0x1000, false});

    /* Contiguous again, but different attributes: no merge. */
    assert_int_equal(memory_region_set_alias_offset(hi, 0x2000), 0);
    assert_int_equal(memory_region_set_readonly(hi, true), 0);
    assert_view(as, {0x8000, 0x2000, ram, 0, false}, {0xa000, 0x2000, ram, 0x2000, true});

    /* Equal attributes again: merged again. */
    assert_int_equal(memory_region_set_readonly(hi, false), 0);
    assert_view(as, {0x8000, 0x4000, ram, 0, false});

    /* A nonvolatile difference also prevents the merge. */
    assert_int_equal(memory_region_set_nonvolatile(lo, true), 0);
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), 2);
    flatview_unref(fv);
}

static void test_no_merge_different_regions(void **state)
{
    (void)state;
    /* Adjacent regions with "contiguous" offsets are still two ranges. */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *r1 = h_ram("r1", 0x1000), *r2 = h_ram("r2", 0x1000);
    h_add(root, 0, r1, 0);
    h_add(root, 0x1000, r2, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x1000, r1, 0, false}, {0x1000, 0x1000, r2, 0, false});
}

static void test_merge_after_split(void **state)
{
    (void)state;
    /*
     * A region split by a disabled-then-removed hole renders as one range,
     * and the pieces of a region around a zero-size child merge.
     */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *punch = io(0, "punch", 0x1000);
    h_add(root, 0, ram, 0);
    h_add(root, 0x2000, punch, 1);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x2000, ram, 0, false}, {0x2000, 0x1000, punch, 0, false},
                {0x3000, 0x1000, ram, 0x3000, false});
    assert_int_equal(memory_region_set_enabled(punch, false), 0);
    assert_view(as, {0, 0x4000, ram, 0, false});
}

static void test_zero_size_renders_nothing(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bg = h_ram("bg", 0x4000);
    MemoryRegion *z_io = io(0, "z-io", 0);
    MemoryRegion *z_box = h_container("z-box", 0);
    MemoryRegion *z_alias = h_alias("z-alias", bg, 0, 0);
    MemoryRegion *inner = io(1, "inner", 0x1000);
    h_add(root, 0, bg, 0);
    h_add(root, 0x1000, z_io, 1);
    h_add(root, 0x2000, z_box, 1);
    h_add(z_box, 0, inner, 0); /* clipped away by its empty parent */
    h_add(root, 0x3000, z_alias, 1);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x4000, bg, 0, false});

    /* A root of size zero renders nothing at all. */
    MemoryRegion *z_root = h_container("z-root", 0);
    AddressSpace *as2 = h_as(z_root, "as2");
    assert_view_empty(as2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_container_transparent),
        H_TEST(test_clip_to_parent),
        H_TEST(test_layering_pure_container),
        H_TEST(test_layering_terminating),
        H_TEST(test_ram_with_children_fills_gaps),
        H_TEST(test_disabled_vanishes_with_subtree),
        H_TEST(test_readonly_inherited),
        H_TEST(test_nonvolatile_inherited),
        H_TEST(test_merge_two_aliases),
        H_TEST(test_no_merge_different_regions),
        H_TEST(test_merge_after_split),
        H_TEST(test_zero_size_renders_nothing),
    };
    return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
