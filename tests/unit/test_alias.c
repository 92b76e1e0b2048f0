/*
 * Alias rules: the target's own address is cancelled, alias_offset applies,
 * the alias window and the target's size clip, aliases chain, the offset can
 * move, aliases take no subregions, and a disabled target renders nothing.
 */
#include "helpers.h"

static TestDev devs[4];

static MemoryRegion *io(int i, const char *name, mr_size_t size)
{
    td_init(&devs[i], DEVICE_LITTLE_ENDIAN);
    return h_io(&td_ops_le, &devs[i], name, size);
}

static void test_target_address_cancelled(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *a = h_alias("a", ram, 0x1000, 0x2000);
    h_add(root, 0x8000, ram, 0);
    h_add(root, 0x20000, a, 0);
    AddressSpace *as = h_as(root, "as");
    /* The alias shows ram[0x1000,0x3000) at 0x20000 whatever ram's own address. */
    assert_view(as, {0x8000, 0x4000, ram, 0, false}, {0x20000, 0x2000, ram, 0x1000, false});
    assert_int_equal(memory_region_set_address(ram, 0x9000), 0);
    assert_view(as, {0x9000, 0x4000, ram, 0, false}, {0x20000, 0x2000, ram, 0x1000, false});

    /* Data written through the alias is the target's. */
    address_space_stl_le(as, 0x20004, 0xcafef00d, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldl_le(as, 0x9000 + 0x1004, ATTRS_NONE, NULL), 0xcafef00d);
}

static void test_alias_of_container_window(void **state)
{
    (void)state;
    /*
     * Target T (container, 0x4000, itself mapped at 0x5000 elsewhere) holds
     * t1 [0,0x1000) and t2 [0x3000,0x4000). Alias A = T[0x800, 0x3800) at
     * 0x10000: t1 shows at [0x10000,0x10800) from offset 0x800, t2 at
     * [0x12800,0x13000) clipped by the window's end.
     */
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *other = h_container("other", 0x100000);
    MemoryRegion *t = h_container("T", 0x4000);
    MemoryRegion *t1 = h_ram("t1", 0x1000);
    MemoryRegion *t2 = io(0, "t2", 0x1000);
    h_add(t, 0, t1, 0);
    h_add(t, 0x3000, t2, 0);
    h_add(other, 0x5000, t, 0);
    MemoryRegion *a = h_alias("A", t, 0x800, 0x3000);
    h_add(root, 0x10000, a, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x10000, 0x800, t1, 0x800, false}, {0x12800, 0x800, t2, 0, false});
}

static void test_clip_to_target_size(void **state)
{
    (void)state;
    /* The alias window is larger than its target: only the target's bytes show. */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bg = io(0, "bg", 0x8000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *a = h_alias("a", ram, 0, 0x4000);
    h_add(root, 0, bg, 0);
    h_add(root, 0x2000, a, 1);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x2000, bg, 0, false}, {0x2000, 0x1000, ram, 0, false},
                {0x3000, 0x5000, bg, 0x3000, false});

    /* With an offset inside the target, the visible part shrinks from the end. */
    assert_int_equal(memory_region_set_alias_offset(a, 0x800), 0);
    assert_view(as, {0, 0x2000, bg, 0, false}, {0x2000, 0x800, ram, 0x800, false},
                {0x2800, 0x5800, bg, 0x2800, false});

    /* An offset past the target's end shows nothing. */
    assert_int_equal(memory_region_set_alias_offset(a, 0x1000), 0);
    assert_view(as, {0, 0x8000, bg, 0, false});
}

static void test_large_offset_negative_base(void **state)
{
    (void)state;
    /* Alias at 0x1000 with offset 0x5000: the target's base is negative (0x1000 - 0x5000). */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x8000);
    MemoryRegion *a = h_alias("a", ram, 0x5000, 0x1000);
    h_add(root, 0x1000, a, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x1000, 0x1000, ram, 0x5000, false});
}

static void test_alias_of_alias(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *a1 = h_alias("a1", ram, 0x1000, 0x3000);
    MemoryRegion *a2 = h_alias("a2", a1, 0x1000, 0x1000);
    h_add(root, 0x20000, a2, 0);
    AddressSpace *as = h_as(root, "as");
    /* a2 starts 0x1000 into a1, which starts 0x1000 into ram. */
    assert_view(as, {0x20000, 0x1000, ram, 0x2000, false});
    uint8_t *p = memory_region_get_ram_ptr(ram);
    p[0x2010] = 0x42;
    assert_int_equal(address_space_ldub(as, 0x20010, ATTRS_NONE, NULL), 0x42);

    /* Changing the inner alias's offset moves what the outer one shows. */
    assert_int_equal(memory_region_set_alias_offset(a1, 0), 0);
    assert_view(as, {0x20000, 0x1000, ram, 0x1000, false});

    /* The outer alias's window is clipped by the inner alias's size. */
    assert_int_equal(memory_region_set_alias_offset(a2, 0x2800), 0);
    assert_view(as, {0x20000, 0x800, ram, 0x2800, false});

    /* The inner alias's flags apply to the outer one. */
    assert_int_equal(memory_region_set_readonly(a1, true), 0);
    assert_view(as, {0x20000, 0x800, ram, 0x2800, true});
}

static void test_set_alias_offset(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *a = h_alias("a", ram, 0, 0x1000);
    h_add(root, 0x1000, a, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x1000, 0x1000, ram, 0, false});
    assert_int_equal(memory_region_set_alias_offset(a, 0x3000), 0);
    assert_int_equal(memory_region_alias_offset(a), 0x3000);
    assert_view(as, {0x1000, 0x1000, ram, 0x3000, false});
    assert_ptr_equal(memory_region_get_ram_ptr(a),
                     (uint8_t *)memory_region_get_ram_ptr(ram) + 0x3000);

    /* Not an alias: an error, nothing changes. */
    assert_error(memory_region_set_alias_offset(ram, 0x10), EINVAL);
    assert_int_equal(memory_region_alias_offset(ram), 0);
}

static void test_no_subregions_in_alias(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *box = h_container("box", 0x4000);
    MemoryRegion *a = h_alias("a", box, 0, 0x4000);
    MemoryRegion *r = h_ram("r", 0x1000);
    h_add(root, 0, a, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view_empty(as);
    assert_error(memory_region_add_subregion(a, 0, r), EINVAL);
    assert_null(memory_region_container(r));
    assert_null(memory_region_first_subregion(a));
    assert_view_empty(as);
    /* Children of the target do show through the alias. */
    h_add(box, 0x1000, r, 0);
    assert_view(as, {0x1000, 0x1000, r, 0, false});
}

static void test_disabled_target(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bg = io(0, "bg", 0x4000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *a = h_alias("a", ram, 0, 0x1000);
    h_add(root, 0, bg, 0);
    h_add(root, 0x1000, a, 1);
    assert_int_equal(memory_region_set_enabled(ram, false), 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x4000, bg, 0, false});
    assert_int_equal(memory_region_set_enabled(ram, true), 0);
    assert_view(as, {0, 0x1000, bg, 0, false}, {0x1000, 0x1000, ram, 0, false},
                {0x2000, 0x2000, bg, 0x2000, false});
    /* The alias's own enable flag applies too. */
    assert_int_equal(memory_region_set_enabled(a, false), 0);
    assert_view(as, {0, 0x4000, bg, 0, false});
}

static void test_mapped_directly_and_twice_via_aliases(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *ram = h_ram("ram", 0x2000);
    MemoryRegion *a = h_alias("a", ram, 0, 0x2000);
    MemoryRegion *b = h_alias("b", ram, 0x1000, 0x1000);
    h_add(root, 0, ram, 0);
    h_add(root, 0x10000, a, 0);
    h_add(root, 0x20000, b, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0, 0x2000, ram, 0, false}, {0x10000, 0x2000, ram, 0, false},
                {0x20000, 0x1000, ram, 0x1000, false});
    address_space_stb(as, 0x20000, 0x77, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldub(as, 0x1000, ATTRS_NONE, NULL), 0x77);
    assert_int_equal(address_space_ldub(as, 0x11000, ATTRS_NONE, NULL), 0x77);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_target_address_cancelled),
        H_TEST(test_alias_of_container_window),
        H_TEST(test_clip_to_target_size),
        H_TEST(test_large_offset_negative_base),
        H_TEST(test_alias_of_alias),
        H_TEST(test_set_alias_offset),
        H_TEST(test_no_subregions_in_alias),
        H_TEST(test_disabled_target),
        H_TEST(test_mapped_directly_and_twice_via_aliases),
    };
    return cmocka_run_group_tests_name("alias", tests, NULL, NULL);
}
