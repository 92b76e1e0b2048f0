/*
 * Coalesced MMIO and PIO on real KVM: writes into a coalescing range do
 * not exit; they reach the device, in order, before any other access is
 * dispatched; a full ring costs an exit but loses nothing; zones follow
 * the region when it moves and go away when coalescing is cleared.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define DEV_BASE  0xb0000000u
#define DEV_MOVED 0xb1000000u
#define LOG_MAX   1024

typedef struct Access {
    bool write;
    hwaddr addr;
    uint32_t value;
} Access;

typedef struct Dev {
    Access log[LOG_MAX];
    unsigned n;
} Dev;

static void record(Dev *d, bool write, hwaddr addr, uint32_t value)
{
    if (d->n < LOG_MAX)
        d->log[d->n] = (Access){.write = write, .addr = addr, .value = value};
    d->n++;
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)size;
    Dev *d = opaque;
    record(d, false, addr, 0);
    return d->n;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)size;
    record(opaque, true, addr, (uint32_t)val);
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

static void test_burst_buffers_then_drains_in_order(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    static Dev d;
    memset(&d, 0, sizeof(d));
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &dev_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_coalescing(&dev, 0x100, 0x100), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(s0.coalesced_zones_added, 1);

    /* 32 writes into the zone: no exit; the device gets them all, in order. */
    guest_store_seq(&h, 4, DEV_BASE + 0x100, 1000, 1, 32, 4);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 0);
    assert_int_equal(s1.coalesced_drained - s0.coalesced_drained, 32);
    assert_int_equal(d.n, 32);
    for (unsigned i = 0; i < 32; i++) {
        assert_true(d.log[i].write);
        assert_int_equal(d.log[i].addr, 0x100 + 4 * i);
        assert_int_equal(d.log[i].value, 1000 + i);
    }

    /*
     * 32 writes from 0x1c0: the first 16 are buffered, the 17th (0x200) is
     * outside the zone and exits. The device must see the 16 buffered ones
     * first: the ring is drained before the exit is dispatched.
     */
    d.n = 0;
    guest_store_seq(&h, 4, DEV_BASE + 0x1c0, 1, 1, 32, 4);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_write - s1.exit_mmio_write, 16);
    assert_int_equal(s2.coalesced_drained - s1.coalesced_drained, 16);
    assert_int_equal(d.n, 32);
    for (unsigned i = 0; i < 32; i++) {
        assert_int_equal(d.log[i].addr, 0x1c0 + 4 * i);
        assert_int_equal(d.log[i].value, 1 + i);
    }
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
}

static void test_full_ring_loses_nothing(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    static Dev d;
    memset(&d, 0, sizeof(d));
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &dev_ops, &d, "fifo", 0x1000), 0);
    assert_int_equal(memory_region_add_coalescing(&dev, 0, 4), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    /* 600 writes to one FIFO register: more than the ring holds. */
    guest_store_seq(&h, 4, DEV_BASE, 1, 1, 600, 0);
    MemregionKvmStats s1 = harness_stats(&h);
    uint64_t exits = s1.exit_mmio_write - s0.exit_mmio_write;
    uint64_t drained = s1.coalesced_drained - s0.coalesced_drained;
    assert_true(exits >= 1);     /* the ring filled up at least once */
    assert_true(drained >= 400); /* most writes were still buffered */
    assert_int_equal(exits + drained, 600);
    assert_int_equal(d.n, 600);
    for (unsigned i = 0; i < 600; i++) {
        assert_int_equal(d.log[i].addr, 0);
        assert_int_equal(d.log[i].value, 1 + i);
    }
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
}

static void test_zone_follows_the_region(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    static Dev d;
    memset(&d, 0, sizeof(d));
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &dev_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_coalescing(&dev, 0x100, 0x100), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);

    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(memory_region_set_address(&dev, DEV_MOVED), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.coalesced_zones_removed - s0.coalesced_zones_removed, 1);
    assert_int_equal(s1.coalesced_zones_added - s0.coalesced_zones_added, 1);
    assert_int_equal(s1.set_memory_region - s0.set_memory_region, 0);

    guest_store_n(&h, 4, DEV_MOVED + 0x100, 7, 8, 4); /* buffered at the new address */
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_write - s1.exit_mmio_write, 0);
    assert_int_equal(d.n, 8);
    guest_store_n(&h, 4, DEV_BASE + 0x100, 7, 8, 4); /* the old address: unassigned, exits */
    MemregionKvmStats s3 = harness_stats(&h);
    assert_int_equal(s3.exit_mmio_write - s2.exit_mmio_write, 8);
    assert_int_equal(s3.dispatch_errors - s2.dispatch_errors, 8);
    assert_int_equal(d.n, 8);

    /* Cleared: every write exits at once. */
    memory_region_clear_coalescing(&dev);
    MemregionKvmStats s4 = harness_stats(&h);
    assert_int_equal(s4.coalesced_zones_removed - s3.coalesced_zones_removed, 1);
    guest_store_n(&h, 4, DEV_MOVED + 0x100, 7, 8, 4);
    MemregionKvmStats s5 = harness_stats(&h);
    assert_int_equal(s5.exit_mmio_write - s4.exit_mmio_write, 8);
    assert_int_equal(s5.coalesced_drained - s4.coalesced_drained, 0);
    assert_int_equal(d.n, 16);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
}

static void test_coalesced_pio(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    static Dev d;
    memset(&d, 0, sizeof(d));
    MemoryRegion port;
    assert_int_equal(memory_region_init_io(&port, &dev_ops, &d, "debugcon", 4), 0);
    assert_int_equal(memory_region_add_coalescing(&port, 0, 1), 0);
    assert_int_equal(memory_region_add_subregion(&h.io, 0x402, &port), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(s0.coalesced_zones_added, 1);

    guest_out(&h, 1, 0x402, 'k', 20);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_pio_out - s0.exit_pio_out, 0);
    assert_int_equal(s1.coalesced_drained - s0.coalesced_drained, 20);
    assert_int_equal(d.n, 20);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(d.log[i].value, 'k');

    /*
     * One guest routine: five buffered OUTs, then an IN from the same device.
     * The IN exits; the device must see the five writes before the read.
     */
    static const uint8_t code[] = {
        0x66, 0xba, 0x02, 0x04,       /* mov $0x402, %dx */
        0xb0, 'x',                    /* mov $'x', %al */
        0xee, 0xee, 0xee, 0xee, 0xee, /* out %al, %dx (x5) */
        0x66, 0xba, 0x03, 0x04,       /* mov $0x403, %dx */
        0xec,                         /* in %dx, %al */
        0xc3,                         /* ret */
    };
    memcpy((uint8_t *)memory_region_get_ram_ptr(&h.lowram) + 0x6000, code, sizeof(code));
    d.n = 0;
    MemregionKvmStats s2 = harness_stats(&h);
    guest_call(&h, 0x6000);
    MemregionKvmStats s3 = harness_stats(&h);
    assert_int_equal(s3.exit_pio_out - s2.exit_pio_out, 0);
    assert_int_equal(s3.exit_pio_in - s2.exit_pio_in, 1);
    assert_int_equal(d.n, 6);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(d.log[i].write);
        assert_int_equal(d.log[i].value, 'x');
    }
    assert_false(d.log[5].write);
    assert_int_equal(d.log[5].addr, 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.io, &port);
    harness_close(&h);
    memory_region_destroy(&port);
}

int main(void)
{
    harness_require_kvm("kvm-coalesced");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_buffers_then_drains_in_order),
        cmocka_unit_test(test_full_ring_loses_nothing),
        cmocka_unit_test(test_zone_follows_the_region),
        cmocka_unit_test(test_coalesced_pio),
    };
    return cmocka_run_group_tests_name("kvm-coalesced", tests, NULL, NULL);
}
