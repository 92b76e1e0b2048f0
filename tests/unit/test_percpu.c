/*
 * Per-CPU views, the seed's layout: each CPU's root container holds an
 * alias of the global "system" memory at priority 0 and the CPU's own APIC
 * page (MMIO) at priority 1 at the same address. Each CPU sees its own APIC
 * page; everything else is shared.
 */
#include "helpers.h"

#define APIC_BASE 0xfee00000ull
#define NCPU      2

static TestDev apic_dev[NCPU], msi_dev;
static MemoryRegion *sys, *ram, *msi, *cpu_root[NCPU], *sys_alias[NCPU], *apic[NCPU];
static AddressSpace *global, *cpu_as[NCPU];

static void build(void)
{
    static const char *const root_names[NCPU] = {"cpu-root-0", "cpu-root-1"};
    static const char *const alias_names[NCPU] = {"system-0", "system-1"};
    static const char *const apic_names[NCPU] = {"apic-0", "apic-1"};
    static const char *const as_names[NCPU] = {"cpu-memory-0", "cpu-memory-1"};

    sys = h_container("system", MR_SIZE_2_64);
    ram = h_ram("ram", 0x100000);
    td_init(&msi_dev, DEVICE_LITTLE_ENDIAN);
    msi = h_io(&td_ops_le, &msi_dev, "apic-msi", 0x100000);
    h_add(sys, 0, ram, 0);
    h_add(sys, APIC_BASE, msi, 0);
    global = h_as(sys, "memory");
    for (int i = 0; i < NCPU; i++) {
        td_init(&apic_dev[i], DEVICE_LITTLE_ENDIAN);
        apic_dev[i].mem[0x20] = (uint8_t)(0xa0 + i); /* APIC id register */
        cpu_root[i] = h_container(root_names[i], MR_SIZE_2_64);
        sys_alias[i] = h_alias(alias_names[i], sys, 0, MR_SIZE_2_64);
        apic[i] = h_io(&td_ops_le, &apic_dev[i], apic_names[i], 0x1000);
        h_add(cpu_root[i], 0, sys_alias[i], 0);
        h_add(cpu_root[i], APIC_BASE, apic[i], 1);
        cpu_as[i] = h_as(cpu_root[i], as_names[i]);
    }
}

static void test_views(void **state)
{
    (void)state;
    build();
    assert_view(global, {0, 0x100000, ram, 0, false}, {APIC_BASE, 0x100000, msi, 0, false});
    for (int i = 0; i < NCPU; i++) {
        assert_view(cpu_as[i], {0, 0x100000, ram, 0, false}, {APIC_BASE, 0x1000, apic[i], 0, false},
                    {APIC_BASE + 0x1000, 0xff000, msi, 0x1000, false});
    }
    /* The CPU views differ from each other and from the global one. */
    FlatView *g = address_space_get_flatview(global);
    FlatView *c0 = address_space_get_flatview(cpu_as[0]);
    FlatView *c1 = address_space_get_flatview(cpu_as[1]);
    assert_ptr_not_equal(c0, c1);
    assert_ptr_not_equal(c0, g);
    flatview_unref(g);
    flatview_unref(c0);
    flatview_unref(c1);
}

static void test_own_apic(void **state)
{
    (void)state;
    build();
    for (int i = 0; i < NCPU; i++) {
        MemTxResult res = 0xdead;
        assert_int_equal(address_space_ldl_le(cpu_as[i], APIC_BASE + 0x20, ATTRS_NONE, &res),
                         0xa0 + i);
        assert_int_equal(res, MEMTX_OK);
        address_space_stl_le(cpu_as[i], APIC_BASE + 0x80, 0x10 + i, ATTRS_NONE, NULL);
    }
    for (int i = 0; i < NCPU; i++) {
        assert_nlog(&apic_dev[i], 2);
        assert_access(&apic_dev[i], 0, false, 0x20, 4, 0xa0 + i);
        assert_access(&apic_dev[i], 1, true, 0x80, 4, 0x10 + i);
    }
    /* The global space reaches the MSI region instead. */
    address_space_stl_le(global, APIC_BASE + 0x80, 0x55, ATTRS_NONE, NULL);
    assert_nlog(&msi_dev, 1);
    assert_access(&msi_dev, 0, true, 0x80, 4, 0x55);
    assert_nlog(&apic_dev[0], 2);
    assert_nlog(&apic_dev[1], 2);
}

static void test_ram_shared(void **state)
{
    (void)state;
    build();
    address_space_stq_le(cpu_as[0], 0x1000, 0x0123456789abcdefull, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldq_le(cpu_as[1], 0x1000, ATTRS_NONE, NULL),
                     0x0123456789abcdefull);
    assert_int_equal(address_space_ldq_le(global, 0x1000, ATTRS_NONE, NULL), 0x0123456789abcdefull);
    address_space_stb(global, 0x2000, 0x5e, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldub(cpu_as[0], 0x2000, ATTRS_NONE, NULL), 0x5e);
    assert_int_equal(((uint8_t *)memory_region_get_ram_ptr(ram))[0x2000], 0x5e);

    /* Both CPUs translate RAM to the same host memory. */
    MemoryRegionSection s0, s1;
    assert_int_equal(address_space_translate(cpu_as[0], 0x3000, true, ATTRS_NONE, &s0), MEMTX_OK);
    assert_int_equal(address_space_translate(cpu_as[1], 0x3000, true, ATTRS_NONE, &s1), MEMTX_OK);
    assert_ptr_equal(s0.mr, ram);
    assert_ptr_equal(s0.host, s1.host);
}

static void test_hotplug_shows_everywhere(void **state)
{
    (void)state;
    build();
    MemoryRegion *hot = h_ram("hotplug", 0x10000);
    h_add(sys, 0x100000000ull, hot, 0);
    assert_view(global, {0, 0x100000, ram, 0, false}, {APIC_BASE, 0x100000, msi, 0, false},
                {0x100000000ull, 0x10000, hot, 0, false});
    for (int i = 0; i < NCPU; i++) {
        assert_view(cpu_as[i], {0, 0x100000, ram, 0, false}, {APIC_BASE, 0x1000, apic[i], 0, false},
                    {APIC_BASE + 0x1000, 0xff000, msi, 0x1000, false},
                    {0x100000000ull, 0x10000, hot, 0, false});
    }
    /* A disabled APIC reveals the shared MSI region on that CPU only. */
    assert_int_equal(memory_region_set_enabled(apic[1], false), 0);
    (void)address_space_ldl_le(cpu_as[1], APIC_BASE + 0x20, ATTRS_NONE, NULL);
    assert_nlog(&msi_dev, 1);
    assert_nlog(&apic_dev[1], 0);
    (void)address_space_ldl_le(cpu_as[0], APIC_BASE + 0x20, ATTRS_NONE, NULL);
    assert_nlog(&apic_dev[0], 1);
}

static void test_same_root_shares_view(void **state)
{
    (void)state;
    build();
    AddressSpace *smm = h_as(cpu_root[0], "cpu-smm-0");
    FlatView *a = address_space_get_flatview(cpu_as[0]);
    FlatView *b = address_space_get_flatview(smm);
    assert_ptr_equal(a, b);
    flatview_unref(a);
    flatview_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_views),
        H_TEST(test_own_apic),
        H_TEST(test_ram_shared),
        H_TEST(test_hotplug_shows_everywhere),
        H_TEST(test_same_root_shares_view),
    };
    return cmocka_run_group_tests_name("percpu", tests, NULL, NULL);
}
