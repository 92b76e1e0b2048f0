/*
 * Re-entrancy: a device callback that reaches its own region again is
 * refused with MEMTX_ACCESS_ERROR unless the region opts out; callbacks may
 * access other memory and may change the map (move their own region)
 * without deadlock; destroy from a callback is -EDEADLK.
 */
#include <string.h>

#include "helpers.h"

#define DEV   0x1000
#define OTHER 0x2000
#define RAM   0x8000

static TestDev dev, other_dev;
static MemoryRegion *root, *io, *other_io, *ram;
static AddressSpace *as;

/* What the hook did, for the test to check after the outer access returns. */
static struct {
    int depth;
    bool ran;
    hwaddr target; /* address the hook accesses */
    bool write;    /* hook writes instead of reads */
    MemTxResult res;
    uint32_t value;
    int rc;           /* for map-changing hooks */
    bool seen_at_new; /* the move was visible inside the callback */
} hk;

static void build(void)
{
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    td_init(&other_dev, DEVICE_LITTLE_ENDIAN);
    td_fill(&dev, 0x40);
    td_fill(&other_dev, 0x80);
    memset(&hk, 0, sizeof(hk));
    root = h_container("root", 0x10000);
    io = h_io(&td_ops_le, &dev, "dev", 0x100);
    other_io = h_io(&td_ops_le, &other_dev, "other", 0x100);
    ram = h_ram("ram", 0x1000);
    h_add(root, DEV, io, 0);
    h_add(root, OTHER, other_io, 0);
    h_add(root, RAM, ram, 0);
    as = h_as(root, "as");
}

/* Access hk.target once from inside the outermost callback. */
static void access_hook(TestDev *d, bool is_write, hwaddr addr, unsigned size, uint64_t data)
{
    (void)d, (void)is_write, (void)addr, (void)size, (void)data;
    if (hk.depth > 0)
        return;
    hk.depth++;
    hk.ran = true;
    hk.res = 0xdead;
    if (hk.write)
        address_space_stl_le(as, hk.target, 0x5a5a5a5a, ATTRS_NONE, &hk.res);
    else
        hk.value = address_space_ldl_le(as, hk.target, ATTRS_NONE, &hk.res);
    hk.depth--;
}

static void test_self_read_refused(void **state)
{
    (void)state;
    build();
    dev.hook = access_hook;
    hk.target = DEV + 0x10;
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, DEV, ATTRS_NONE, &res), 0x43424140);
    assert_int_equal(res, MEMTX_OK);
    assert_true(hk.ran);
    assert_int_equal(hk.res, MEMTX_ACCESS_ERROR);
    assert_nlog(&dev, 1); /* the inner access never reached the device */
    assert_access(&dev, 0, false, 0, 4, 0x43424140);

    /* From a write callback, a write to itself is refused as well. */
    dev.nlog = 0;
    hk.ran = false;
    hk.write = true;
    address_space_stl_le(as, DEV + 0x20, 1, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_true(hk.ran);
    assert_int_equal(hk.res, MEMTX_ACCESS_ERROR);
    assert_nlog(&dev, 1);
    assert_int_equal(dev.mem[0x10], 0x50); /* untouched */
}

static void test_self_read_allowed_without_guard(void **state)
{
    (void)state;
    build();
    assert_int_equal(memory_region_set_reentrancy_guard(io, false), 0);
    dev.hook = access_hook;
    hk.target = DEV + 0x10;
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, DEV, ATTRS_NONE, &res), 0x43424140);
    assert_int_equal(res, MEMTX_OK);
    assert_true(hk.ran);
    assert_int_equal(hk.res, MEMTX_OK);
    assert_int_equal(hk.value, 0x53525150);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x43424140);
    assert_access(&dev, 1, false, 0x10, 4, 0x53525150);

    /* Guard back on: refused again. */
    assert_int_equal(memory_region_set_reentrancy_guard(io, true), 0);
    hk.ran = false;
    (void)address_space_ldl_le(as, DEV, ATTRS_NONE, &res);
    assert_true(hk.ran);
    assert_int_equal(hk.res, MEMTX_ACCESS_ERROR);
}

static void test_other_memory_from_callback(void **state)
{
    (void)state;
    build();
    dev.hook = access_hook;
    /* Another device. */
    hk.target = OTHER + 4;
    MemTxResult res = 0xdead;
    (void)address_space_ldl_le(as, DEV, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(hk.res, MEMTX_OK);
    assert_int_equal(hk.value, 0x87868584);
    assert_nlog(&other_dev, 1);
    /* RAM (DMA). */
    hk.target = RAM + 0x10;
    hk.write = true;
    address_space_stl_le(as, DEV, 0, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(hk.res, MEMTX_OK);
    assert_int_equal(((uint8_t *)memory_region_get_ram_ptr(ram))[0x10], 0x5a);
}

/* A BAR-like register: writing to offset 0 moves the region to the written address. */
static void move_hook(TestDev *d, bool is_write, hwaddr addr, unsigned size, uint64_t data)
{
    (void)d, (void)size;
    if (!is_write || addr != 0)
        return;
    hk.ran = true;
    hk.rc = memory_region_set_address(io, data);
    FlatRange fr;
    hk.seen_at_new = address_space_find_range(as, data, &fr) && fr.mr == io;
}

static void test_callback_moves_own_region(void **state)
{
    (void)state;
    build();
    dev.hook = move_hook;
    MemTxResult res = 0xdead;
    address_space_stl_le(as, DEV, 0x4000, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_true(hk.ran);
    assert_int_equal(hk.rc, 0);
    assert_true(hk.seen_at_new);
    assert_int_equal(memory_region_addr(io), 0x4000);
    assert_view(as, {OTHER, 0x100, other_io, 0, false}, {0x4000, 0x100, io, 0, false},
                {RAM, 0x1000, ram, 0, false});

    /* The old address is a hole, the new one reaches the device. */
    dev.nlog = 0;
    (void)address_space_ldl_le(as, DEV + 0x10, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_int_equal(address_space_ldl_le(as, 0x4010, ATTRS_NONE, &res), 0x53525150);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 1);

    /* And it can move back the same way. */
    address_space_stl_le(as, 0x4000, DEV, ATTRS_NONE, &res);
    assert_int_equal(hk.rc, 0);
    assert_int_equal(memory_region_addr(io), DEV);
}

/* Unmap the device's own region, then try to destroy it, from its callback. */
static void destroy_hook(TestDev *d, bool is_write, hwaddr addr, unsigned size, uint64_t data)
{
    (void)d, (void)is_write, (void)addr, (void)size, (void)data;
    hk.ran = true;
    hk.rc = memory_region_del_subregion(root, io);
    if (hk.rc == 0)
        hk.rc = memory_region_destroy(io);
}

static void test_destroy_from_callback(void **state)
{
    (void)state;
    build();
    dev.hook = destroy_hook;
    (void)address_space_ldub(as, DEV, ATTRS_NONE, NULL);
    assert_true(hk.ran);
    /* It cannot wait for its own callback to finish. */
    assert_int_equal(hk.rc, -EDEADLK);
    assert_true(memregion_last_error()[0] != '\0');
    assert_int_equal(memory_region_kind(io), MR_KIND_MMIO);
    assert_null(memory_region_container(io));
    assert_view(as, {OTHER, 0x100, other_io, 0, false}, {RAM, 0x1000, ram, 0, false});
    /* Outside the callback it goes. */
    assert_int_equal(memory_region_destroy(io), 0);
    assert_int_equal(memory_region_kind(io), MR_KIND_NONE);
}

/* A's callback reads B; B's callback reads A: A is still inside a callback. */
static MemTxResult chain_res;
static void chain_hook_b(TestDev *d, bool is_write, hwaddr addr, unsigned size, uint64_t data)
{
    (void)d, (void)is_write, (void)addr, (void)size, (void)data;
    chain_res = 0xdead;
    (void)address_space_ldl_le(as, DEV + 0x30, ATTRS_NONE, &chain_res);
}

static void test_chain_back_to_self_refused(void **state)
{
    (void)state;
    build();
    dev.hook = access_hook;
    hk.target = OTHER;
    other_dev.hook = chain_hook_b;
    MemTxResult res = 0xdead;
    (void)address_space_ldl_le(as, DEV, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(hk.res, MEMTX_OK);              /* A -> B is fine */
    assert_int_equal(chain_res, MEMTX_ACCESS_ERROR); /* B -> A is not */
    assert_nlog(&dev, 1);
    assert_nlog(&other_dev, 1);
}

static void test_rom_device_reads_own_memory(void **state)
{
    (void)state;
    build();
    /* Direct reads of a ROM device in romd mode are memory, not MMIO: allowed. */
    TestDev fdev;
    td_init(&fdev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *flash = h_romd(&td_ops_le, &fdev, "flash", 0x1000);
    h_add(root, 0x4000, flash, 0);
    ((uint8_t *)memory_region_get_ram_ptr(flash))[0x40] = 0x3c;
    fdev.hook = access_hook;
    hk.target = 0x4040;
    address_space_stb(as, 0x4000, 0xff, ATTRS_NONE, NULL);
    assert_true(hk.ran);
    assert_int_equal(hk.res, MEMTX_OK);
    assert_int_equal(hk.value, 0x3c);
    assert_nlog(&fdev, 1);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_self_read_refused),
        H_TEST(test_self_read_allowed_without_guard),
        H_TEST(test_other_memory_from_callback),
        H_TEST(test_callback_moves_own_region),
        H_TEST(test_destroy_from_callback),
        H_TEST(test_chain_back_to_self_refused),
        H_TEST(test_rom_device_reads_own_memory),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("reentrancy", tests, NULL, NULL);
}
