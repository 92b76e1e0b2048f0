/*
 * DMA mapping (direct pointers, bounce buffers, limits, map clients, dirty
 * marking, destroy and resize of mapped RAM), address_space_access_valid,
 * and MemoryRegionCache revalidation.
 */
#include <string.h>

#include "helpers.h"

/* sys: RAM at 0x10000 (64 KiB) then RAM2 right after it, a device at
 * 0x40000, a ROM at 0x50000; everything else unassigned. */
static TestDev dev;
static MemoryRegion *sys, *ram, *ram2, *io, *rom;
static AddressSpace *as;

static void build(void)
{
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    td_fill(&dev, 0x10);
    sys = h_container("sys", MR_SIZE_2_64);
    ram = h_ram("ram", 0x10000);
    ram2 = h_ram("ram2", 0x10000);
    io = h_io(&td_ops_le, &dev, "dev", 0x100);
    rom = h_rom("rom", 0x1000);
    h_add(sys, 0x10000, ram, 0);
    h_add(sys, 0x20000, ram2, 0);
    h_add(sys, 0x40000, io, 0);
    h_add(sys, 0x50000, rom, 0);
    as = h_as(sys, "sys");
}

static void test_map_direct(void **state)
{
    (void)state;
    build();
    hwaddr len = 0x100;
    uint8_t *p = address_space_map(as, 0x10010, &len, true, ATTRS_NONE);
    assert_ptr_equal(p, ts_ram_ptr(ram) + 0x10);
    assert_int_equal(len, 0x100);
    p[0] = 0x77;
    address_space_unmap(as, p, len, true, 1);
    assert_int_equal(ts_ram_ptr(ram)[0x10], 0x77);
    /* Shortened at the end of the region (ram2 follows but is another region). */
    len = 0x2000;
    p = address_space_map(as, 0x1f000, &len, false, ATTRS_NONE);
    assert_ptr_equal(p, ts_ram_ptr(ram) + 0xf000);
    assert_int_equal(len, 0x1000);
    address_space_unmap(as, p, len, false, 0);
    /* A ROM maps directly for reading only; for writing it is bounced. */
    len = 0x10;
    p = address_space_map(as, 0x50000, &len, false, ATTRS_NONE);
    assert_ptr_equal(p, ts_ram_ptr(rom));
    address_space_unmap(as, p, len, false, 0);
    len = 0x10;
    p = address_space_map(as, 0x50000, &len, true, ATTRS_NONE);
    assert_non_null(p);
    assert_ptr_not_equal(p, ts_ram_ptr(rom));
    assert_int_equal(address_space_bounce_buffer_size(as), 0x10);
    address_space_unmap(as, p, len, true, 0x10);
    assert_int_equal(address_space_bounce_buffer_size(as), 0);
    /* Nothing there: NULL and length 0. */
    len = 0x10;
    assert_null(address_space_map(as, 0x90000, &len, false, ATTRS_NONE));
    assert_int_equal(len, 0);
    /* An unknown pointer is ignored with a message. */
    uint8_t junk;
    address_space_unmap(as, &junk, 1, true, 1);
    assert_true(memregion_last_error()[0] != '\0');
}

static void test_map_bounce(void **state)
{
    (void)state;
    build();
    hwaddr len = 0x20;
    uint8_t *p = address_space_map(as, 0x40000, &len, false, ATTRS_NONE);
    assert_non_null(p);
    assert_int_equal(len, 0x20);
    for (int i = 0; i < 0x20; i++)
        assert_int_equal(p[i], 0x10 + i); /* filled by a read at map time */
    address_space_unmap(as, p, len, false, 0);
    dev.nlog = 0;
    /* A write mapping reaches the device only at unmap, and only access_len bytes. */
    len = 0x10;
    p = address_space_map(as, 0x40020, &len, true, ATTRS_NONE);
    memset(p, 0xcc, 0x10);
    assert_nlog(&dev, 0);
    address_space_unmap(as, p, len, true, 8);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, true, 0x20, 8, 0xccccccccccccccccull);
    assert_int_equal(dev.mem[0x28], 0x10 + 0x28);
    /* The bounce covers the device only, not the hole after it. */
    len = 0x1000;
    p = address_space_map(as, 0x40080, &len, false, ATTRS_NONE);
    assert_int_equal(len, 0x80);
    address_space_unmap(as, p, len, false, 0);
}

static unsigned client_runs;
static void client_cb(void *opaque)
{
    (void)opaque;
    client_runs++;
}

static void test_bounce_limit_and_clients(void **state)
{
    (void)state;
    build();
    assert_int_equal(address_space_set_max_bounce_buffer_size(as, 0x30), 0);
    assert_error(address_space_set_max_bounce_buffer_size(as, 0), EINVAL);
    hwaddr l1 = 0x20, l2 = 0x20, l3 = 0x20;
    void *a = address_space_map(as, 0x40000, &l1, true, ATTRS_NONE);
    void *b = address_space_map(as, 0x40020, &l2, true, ATTRS_NONE);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(l1, 0x20);
    assert_int_equal(l2, 0x10); /* short: the limit */
    assert_null(address_space_map(as, 0x40040, &l3, true, ATTRS_NONE));
    assert_int_equal(l3, 0);
    /* Direct mappings do not count against the limit. */
    hwaddr l4 = 0x1000;
    void *d = address_space_map(as, 0x10000, &l4, true, ATTRS_NONE);
    assert_non_null(d);
    address_space_unmap(as, d, l4, true, 0);

    client_runs = 0;
    AddressSpaceMapClient c = {.cb = client_cb};
    assert_int_equal(address_space_register_map_client(as, &c), 0);
    assert_int_equal(client_runs, 0);
    assert_error(address_space_register_map_client(as, &c), EBUSY);
    address_space_unmap(as, a, l1, true, 0);
    assert_int_equal(client_runs, 1); /* once */
    address_space_unmap(as, b, l2, true, 0);
    assert_int_equal(client_runs, 1);
    /* With no bounce buffer live, a client runs at once. */
    assert_int_equal(address_space_register_map_client(as, &c), 0);
    assert_int_equal(client_runs, 2);
    /* Unregistered clients do not run. */
    l1 = 0x10;
    a = address_space_map(as, 0x40000, &l1, false, ATTRS_NONE);
    assert_int_equal(address_space_register_map_client(as, &c), 0);
    address_space_unregister_map_client(as, &c);
    address_space_unmap(as, a, l1, false, 0);
    assert_int_equal(client_runs, 2);
}

static void test_unmap_marks_dirty(void **state)
{
    (void)state;
    build();
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_MIGRATION), 0);
    hwaddr len = 0x3000;
    uint8_t *p = address_space_map(as, 0x11000, &len, true, ATTRS_NONE);
    assert_non_null(p);
    p[0x1800] = 1;
    assert_false(memory_region_get_dirty(ram, 0x1000, 0x3000, DIRTY_MEMORY_VGA));
    address_space_unmap(as, p, len, true, 0x2000);
    assert_true(memory_region_get_dirty(ram, 0x1000, 1, DIRTY_MEMORY_VGA));
    assert_true(memory_region_get_dirty(ram, 0x2fff, 1, DIRTY_MEMORY_MIGRATION));
    assert_false(memory_region_get_dirty(ram, 0x3000, 0x1000, DIRTY_MEMORY_VGA));
    /* A read mapping marks nothing. */
    memory_region_reset_dirty(ram, 0, 0x10000, DIRTY_MEMORY_VGA);
    len = 0x1000;
    p = address_space_map(as, 0x10000, &len, false, ATTRS_NONE);
    address_space_unmap(as, p, len, false, 0x1000);
    assert_false(memory_region_get_dirty(ram, 0, 0x10000, DIRTY_MEMORY_VGA));
}

static void test_destroy_and_resize_while_mapped(void **state)
{
    (void)state;
    build();
    hwaddr len = 0x1000;
    uint8_t *p = address_space_map(as, 0x20000, &len, true, ATTRS_NONE);
    assert_non_null(p);
    assert_int_equal(memory_region_del_subregion(sys, ram2), 0);
    assert_error(memory_region_destroy(ram2), EBUSY);
    p[0xfff] = 3; /* still backed */
    address_space_unmap(as, p, len, true, 0x1000);
    assert_int_equal(memory_region_destroy(ram2), 0);

    /* Shrinking mapped RAM keeps the memory behind the pointer. */
    len = 0x1000;
    p = address_space_map(as, 0x1f000, &len, true, ATTRS_NONE);
    assert_int_equal(memory_region_set_size(ram, 0x8000), 0);
    p[0xfff] = 9;
    address_space_unmap(as, p, len, true, 0x1000);
    uint8_t b = 1;
    assert_int_equal(address_space_read(as, 0x1f000, ATTRS_NONE, &b, 1), MEMTX_DECODE_ERROR);
}

/* ---- access_valid --------------------------------------------------------------- */

static bool refuse_odd(void *opaque, hwaddr addr, unsigned size, bool is_write, MemTxAttrs attrs)
{
    (void)opaque;
    (void)size;
    (void)is_write;
    (void)attrs;
    return (addr & 0x10) == 0;
}

static void test_access_valid(void **state)
{
    (void)state;
    build();
    static MemoryRegionOps picky;
    picky = td_ops_le;
    picky.valid.accepts = refuse_odd;
    picky.valid.min_access_size = 4;
    static TestDev pdev;
    td_init(&pdev, DEVICE_LITTLE_ENDIAN);
    h_add(sys, 0x60000, h_io(&picky, &pdev, "picky", 0x100), 0);
    assert_true(address_space_access_valid(as, 0x10000, 0x20000, true, ATTRS_NONE));
    assert_false(address_space_access_valid(as, 0x1ff00, 0x20100, false, ATTRS_NONE));
    assert_true(address_space_access_valid(as, 0x50000, 0x10, false, ATTRS_NONE));
    assert_false(address_space_access_valid(as, 0x50000, 0x10, true, ATTRS_NONE));
    assert_true(address_space_access_valid(as, 0x40000, 0x100, true, ATTRS_NONE));
    assert_true(address_space_access_valid(as, 0x60000, 4, false, ATTRS_NONE));
    assert_false(address_space_access_valid(as, 0x60010, 4, false, ATTRS_NONE));
    assert_false(address_space_access_valid(as, 0x60000, 2, false, ATTRS_NONE));
    assert_nlog(&pdev, 0); /* no device access happened */
    assert_false(address_space_access_valid(as, 0x90000, 1, false, ATTRS_NONE));
}

/* ---- MemoryRegionCache -------------------------------------------------------------- */

static void test_cache_ram_and_revalidation(void **state)
{
    (void)state;
    build();
    MemoryRegionCache c = MEMORY_REGION_CACHE_INVALID;
    address_space_cache_destroy(&c);
    assert_int_equal(address_space_cache_init(&c, as, 0x10100, 0x40, true), 0x40);
    MemTxResult r;
    address_space_stl_le_cached(&c, 4, 0xdeadbeef, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_OK);
    assert_int_equal(ts_ram_ptr(ram)[0x104], 0xef);
    assert_int_equal(address_space_lduw_be_cached(&c, 4, ATTRS_NONE, NULL), 0xefbe);
    assert_int_equal(address_space_ldq_le_cached(&c, 0, ATTRS_NONE, NULL), 0xdeadbeef00000000ull);
    /* Out of the cached range: nothing accessed. */
    assert_int_equal(address_space_ldl_le_cached(&c, 0x3e, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_DECODE_ERROR);

    /* The map changes underneath: ram2 now shows at 0x10000. The cache follows. */
    ts_ram_ptr(ram2)[0x104] = 0x55;
    assert_int_equal(memory_region_del_subregion(sys, ram2), 0);
    h_add(sys, 0x10000, ram2, 1);
    assert_int_equal(address_space_ldub_cached(&c, 4, ATTRS_NONE, NULL), 0x55);
    address_space_stb_cached(&c, 5, 0x66, ATTRS_NONE, NULL);
    assert_int_equal(ts_ram_ptr(ram2)[0x105], 0x66);
    assert_int_equal(ts_ram_ptr(ram)[0x105], 0xbe);
    address_space_cache_destroy(&c);
}

static void test_cache_mmio_and_readonly(void **state)
{
    (void)state;
    build();
    MemoryRegionCache c;
    assert_int_equal(address_space_cache_init(&c, as, 0x40000, 0x10, false), 0x10);
    assert_int_equal(address_space_ldl_le_cached(&c, 4, ATTRS_NONE, NULL), 0x17161514);
    assert_nlog(&dev, 1);
    MemTxResult r;
    address_space_stl_le_cached(&c, 4, 1, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_ACCESS_ERROR); /* a read-only cache */
    assert_nlog(&dev, 1);
    address_space_cache_destroy(&c);
    assert_error((int)address_space_cache_init(&c, as, UINT64_MAX, 2, false), EINVAL);
    assert_error((int)address_space_cache_init(&c, NULL, 0, 2, false), EINVAL);
    /* Dirty marking by cache writes. */
    memory_region_set_log(ram, true, DIRTY_MEMORY_VGA);
    assert_int_equal(address_space_cache_init(&c, as, 0x13000, 0x100, true), 0x100);
    address_space_stb_cached(&c, 0x10, 1, ATTRS_NONE, NULL);
    assert_true(memory_region_get_dirty(ram, 0x3010, 1, DIRTY_MEMORY_VGA));
    memory_region_reset_dirty(ram, 0, 0x10000, DIRTY_MEMORY_VGA);
    address_space_cache_invalidate(&c, 0x20, 4);
    assert_true(memory_region_get_dirty(ram, 0x3020, 1, DIRTY_MEMORY_VGA));
    address_space_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_map_direct),
        H_TEST(test_map_bounce),
        H_TEST(test_bounce_limit_and_clients),
        H_TEST(test_unmap_marks_dirty),
        H_TEST(test_destroy_and_resize_while_mapped),
        H_TEST(test_access_valid),
        H_TEST(test_cache_ram_and_revalidation),
        H_TEST(test_cache_mmio_and_readonly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
