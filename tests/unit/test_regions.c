/*
 * Regions: every kind initialises with the documented state, the accessors
 * report it, destroy tears down, and sizes reach 2^64.
 */
#include <string.h>

#include "helpers.h"

/* The state every freshly initialised region shares. */
static void check_fresh(const MemoryRegion *mr, const char *name, mr_size_t size)
{
    assert_string_equal(memory_region_name(mr), name);
    assert_size_equal(memory_region_size(mr), size);
    assert_int_equal(memory_region_addr(mr), 0);
    assert_int_equal(memory_region_priority(mr), 0);
    assert_true(memory_region_is_enabled(mr));
    assert_null(memory_region_container(mr));
    assert_null(memory_region_first_subregion(mr));
}

static void test_container(void **state)
{
    (void)state;
    char name[] = "box";
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init(mr, name, 0x1000), 0);
    name[0] = 'X'; /* the name is a copy */
    check_fresh(mr, "box", 0x1000);
    assert_int_equal(memory_region_kind(mr), MR_KIND_CONTAINER);
    assert_false(memory_region_is_ram(mr));
    assert_false(memory_region_is_rom(mr));
    assert_false(memory_region_is_romd(mr));
    assert_false(memory_region_is_readonly(mr));
    assert_null(memory_region_get_ram_ptr(mr));
    assert_null(memory_region_alias_target(mr));
    assert_int_equal(memory_region_alias_offset(mr), 0);
    assert_int_equal(memory_region_destroy(mr), 0);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
}

static void test_ram_mmap(void **state)
{
    (void)state;
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_ram(mr, "ram", 0x3000), 0);
    check_fresh(mr, "ram", 0x3000);
    assert_int_equal(memory_region_kind(mr), MR_KIND_RAM);
    assert_true(memory_region_is_ram(mr));
    assert_false(memory_region_is_rom(mr));
    assert_false(memory_region_is_readonly(mr));
    assert_false(memory_region_is_romd(mr));
    uint8_t *p = memory_region_get_ram_ptr(mr);
    assert_non_null(p);
    for (size_t i = 0; i < 0x3000; i++) {
        if (p[i] != 0)
            fail_msg("RAM byte 0x%zx is 0x%x, expected zeroed memory", i, p[i]);
    }
    p[0] = 1;
    p[0x2fff] = 2; /* the whole size is writable host memory */
    assert_int_equal(p[0] + p[0x2fff], 3);
    assert_int_equal(memory_region_destroy(mr), 0);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
}

static uint8_t caller_buf[0x2000];

static void test_ram_ptr(void **state)
{
    (void)state;
    memset(caller_buf, 0x5a, sizeof(caller_buf));
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_ram_ptr(mr, "extram", 0x2000, caller_buf), 0);
    check_fresh(mr, "extram", 0x2000);
    assert_int_equal(memory_region_kind(mr), MR_KIND_RAM);
    assert_true(memory_region_is_ram(mr));
    assert_ptr_equal(memory_region_get_ram_ptr(mr), caller_buf);

    /* Guest accesses go to the caller's memory. */
    h_add(root, 0x4000, mr, 0);
    AddressSpace *as = h_as(root, "as");
    assert_int_equal(address_space_ldub(as, 0x4010, ATTRS_NONE, NULL), 0x5a);
    address_space_stb(as, 0x4011, 0xc3, ATTRS_NONE, NULL);
    assert_int_equal(caller_buf[0x11], 0xc3);

    /* Destroy leaves the caller's buffer alone. */
    h_as_destroy(as);
    assert_int_equal(memory_region_del_subregion(root, mr), 0);
    assert_int_equal(memory_region_destroy(mr), 0);
    caller_buf[0x1fff] = 7;
    assert_int_equal(caller_buf[0x11], 0xc3);
    assert_int_equal(caller_buf[0x10], 0x5a);
}

static void test_rom(void **state)
{
    (void)state;
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_rom(mr, "rom", 0x1000), 0);
    check_fresh(mr, "rom", 0x1000);
    assert_int_equal(memory_region_kind(mr), MR_KIND_RAM);
    assert_true(memory_region_is_ram(mr));
    assert_true(memory_region_is_rom(mr));
    assert_true(memory_region_is_readonly(mr));
    assert_false(memory_region_is_romd(mr));
    uint8_t *p = memory_region_get_ram_ptr(mr);
    assert_non_null(p);
    assert_int_equal(p[0], 0);
    p[0x10] = 0xee; /* filled by the host through the pointer */
    assert_int_equal(p[0x10], 0xee);
    assert_int_equal(memory_region_destroy(mr), 0);
}

static void test_rom_device(void **state)
{
    (void)state;
    TestDev dev;
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_rom_device(mr, &td_ops_le, &dev, "flash", 0x2000), 0);
    check_fresh(mr, "flash", 0x2000);
    assert_int_equal(memory_region_kind(mr), MR_KIND_ROMD);
    assert_true(memory_region_is_romd(mr)); /* romd mode is the initial mode */
    assert_false(memory_region_is_rom(mr));
    assert_false(memory_region_is_readonly(mr));
    assert_non_null(memory_region_get_ram_ptr(mr));
    assert_int_equal(memory_region_rom_device_set_romd(mr, false), 0);
    assert_false(memory_region_is_romd(mr));
    assert_int_equal(memory_region_rom_device_set_romd(mr, true), 0);
    assert_true(memory_region_is_romd(mr));
    assert_int_equal(dev.nlog, 0); /* initialisation touches no callback */
    assert_int_equal(memory_region_destroy(mr), 0);
}

static void test_mmio(void **state)
{
    (void)state;
    TestDev dev;
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_io(mr, &td_ops_le, &dev, "dev", 0x100), 0);
    check_fresh(mr, "dev", 0x100);
    assert_int_equal(memory_region_kind(mr), MR_KIND_MMIO);
    assert_false(memory_region_is_ram(mr));
    assert_false(memory_region_is_rom(mr));
    assert_false(memory_region_is_romd(mr));
    assert_null(memory_region_get_ram_ptr(mr));
    assert_int_equal(memory_region_destroy(mr), 0);

    /* NULL ops: a reservation. */
    MemoryRegion *res = h_mr();
    assert_int_equal(memory_region_init_io(res, NULL, NULL, "reserved", 0x100), 0);
    assert_int_equal(memory_region_kind(res), MR_KIND_MMIO);
    assert_int_equal(memory_region_destroy(res), 0);
}

static void test_alias(void **state)
{
    (void)state;
    MemoryRegion *ram = h_ram("ram", 0x4000);
    uint8_t *base = memory_region_get_ram_ptr(ram);
    MemoryRegion *a = h_mr();
    assert_int_equal(memory_region_init_alias(a, "win", ram, 0x1000, 0x2000), 0);
    check_fresh(a, "win", 0x2000);
    assert_int_equal(memory_region_kind(a), MR_KIND_ALIAS);
    assert_ptr_equal(memory_region_alias_target(a), ram);
    assert_int_equal(memory_region_alias_offset(a), 0x1000);
    assert_ptr_equal(memory_region_get_ram_ptr(a), base + 0x1000);

    /* Alias of alias: offsets add up. */
    MemoryRegion *aa = h_alias("win2", a, 0x800, 0x800);
    assert_ptr_equal(memory_region_alias_target(aa), a);
    assert_ptr_equal(memory_region_get_ram_ptr(aa), base + 0x1800);

    /* An alias of a non-RAM region has no host memory. */
    MemoryRegion *box = h_container("box", 0x1000);
    MemoryRegion *ab = h_alias("boxwin", box, 0, 0x1000);
    assert_null(memory_region_get_ram_ptr(ab));

    assert_int_equal(memory_region_destroy(aa), 0);
    assert_int_equal(memory_region_destroy(a), 0);
    assert_int_equal(memory_region_destroy(ram), 0);
    assert_int_equal(memory_region_destroy(ab), 0);
    assert_int_equal(memory_region_destroy(box), 0);
}

static void test_accessors_in_tree(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *a = h_ram("a", 0x1000), *b = h_ram("b", 0x1000), *c = h_ram("c", 0x1000),
                 *d = h_ram("d", 0x1000);
    h_add(root, 0x1000, a, 0);
    h_add(root, 0x2000, b, 1);
    h_add(root, 0x3000, c, 0);
    h_add(root, 0x4000, d, -1);
    assert_ptr_equal(memory_region_container(a), root);
    assert_int_equal(memory_region_addr(c), 0x3000);
    assert_int_equal(memory_region_priority(b), 1);
    assert_int_equal(memory_region_priority(d), -1);

    /* Priority descending; among equals, newest first: b, c, a, d. */
    const MemoryRegion *order[] = {b, c, a, d};
    const MemoryRegion *it = memory_region_first_subregion(root);
    for (size_t i = 0; i < 4; i++) {
        assert_ptr_equal(it, order[i]);
        it = memory_region_next_sibling(it);
    }
    assert_null(it);

    assert_int_equal(memory_region_set_enabled(c, false), 0);
    assert_false(memory_region_is_enabled(c));
    assert_int_equal(memory_region_set_enabled(c, true), 0);
    assert_true(memory_region_is_enabled(c));
    assert_int_equal(memory_region_set_readonly(a, true), 0);
    assert_true(memory_region_is_readonly(a));
    assert_true(memory_region_is_rom(a)); /* read-only RAM is a ROM */
    assert_int_equal(memory_region_set_readonly(a, false), 0);
    assert_false(memory_region_is_rom(a));
    assert_int_equal(memory_region_set_address(a, 0x8000), 0);
    assert_int_equal(memory_region_addr(a), 0x8000);
    assert_int_equal(memory_region_set_priority(a, 5), 0);
    assert_int_equal(memory_region_priority(a), 5);
    assert_ptr_equal(memory_region_first_subregion(root), a);
}

static void test_destroy_detaches_children(void **state)
{
    (void)state;
    MemoryRegion *box = h_container("box", 0x10000);
    MemoryRegion *r1 = h_ram("r1", 0x1000), *r2 = h_ram("r2", 0x1000);
    h_add(box, 0, r1, 0);
    h_add(box, 0x1000, r2, 0);
    assert_int_equal(memory_region_destroy(box), 0);
    assert_int_equal(memory_region_kind(box), MR_KIND_NONE);
    /* The children survive, unmapped, and can be mapped elsewhere. */
    assert_null(memory_region_container(r1));
    assert_null(memory_region_container(r2));
    assert_int_equal(memory_region_kind(r1), MR_KIND_RAM);
    MemoryRegion *root = h_container("root", 0x10000);
    h_add(root, 0x5000, r1, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0x5000, 0x1000, r1, 0, false});
}

static void test_size_2_64(void **state)
{
    (void)state;
    MemoryRegion *all = h_container("all", MR_SIZE_2_64);
    assert_size_equal(memory_region_size(all), MR_SIZE_2_64);
    MemoryRegion *almost = h_container("almost", UINT64_MAX);
    assert_size_equal(memory_region_size(almost), (mr_size_t)UINT64_MAX); /* 2^64 - 1, not 2^64 */

    /* A pure container renders nothing by itself. */
    AddressSpace *as = h_as(all, "as");
    assert_view_empty(as);

    /* A 2^64 MMIO region at 0 inside it renders one range of size 2^64. */
    TestDev dev;
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *io = h_io(&td_ops_le, &dev, "bus", MR_SIZE_2_64);
    h_add(all, 0, io, 0);
    assert_view(as, {0, MR_SIZE_2_64, io, 0, false});

    /* The last byte of the space is reachable, at offset 2^64 - 1. */
    FlatRange fr;
    assert_true(address_space_find_range(as, UINT64_MAX, &fr));
    assert_ptr_equal(fr.mr, io);
    assert_size_equal(fr.size, MR_SIZE_2_64);
    MemoryRegionSection sec;
    assert_int_equal(address_space_translate(as, UINT64_MAX, false, ATTRS_NONE, &sec), MEMTX_OK);
    assert_ptr_equal(sec.mr, io);
    assert_int_equal(sec.offset_within_region, UINT64_MAX);
    assert_size_equal(sec.size, 1);
    assert_size_equal(memory_region_size(io), MR_SIZE_2_64);
}

static void test_size_2_64_as_root(void **state)
{
    (void)state;
    /* A 2^64 region as the root itself, and a region ending exactly at 2^64. */
    MemoryRegion *ram = h_ram("top", 0x1000);
    MemoryRegion *root = h_container("root", MR_SIZE_2_64);
    h_add(root, 0xfffffffffffff000ull, ram, 0);
    AddressSpace *as = h_as(root, "as");
    assert_view(as, {0xfffffffffffff000ull, 0x1000, ram, 0, false});
    address_space_stb(as, UINT64_MAX, 0x99, ATTRS_NONE, NULL);
    assert_int_equal(((uint8_t *)memory_region_get_ram_ptr(ram))[0xfff], 0x99);

    TestDev dev;
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *io = h_io(&td_ops_le, &dev, "bus", MR_SIZE_2_64);
    AddressSpace *as2 = h_as(io, "as2");
    assert_view(as2, {0, MR_SIZE_2_64, io, 0, false});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_container),
        H_TEST(test_ram_mmap),
        H_TEST(test_ram_ptr),
        H_TEST(test_rom),
        H_TEST(test_rom_device),
        H_TEST(test_mmio),
        H_TEST(test_alias),
        H_TEST(test_accessors_in_tree),
        H_TEST(test_destroy_detaches_children),
        H_TEST(test_size_2_64),
        H_TEST(test_size_2_64_as_root),
    };
    return cmocka_run_group_tests_name("regions", tests, NULL, NULL);
}
