/*
 * ioeventfd on real KVM: a matching guest write signals the eventfd inside
 * KVM, without an exit and without calling the device; other writes reach
 * the device. Memory and port I/O, with and without data match, big-endian
 * devices, removal, moves, and an entry KVM refuses (the software path
 * still signals it).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define DEV_BASE 0xb0000000u

typedef struct Dev {
    unsigned writes;
    uint64_t last;
    unsigned last_size;
} Dev;

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Dev *d = opaque;
    (void)addr;
    d->writes++;
    d->last = val;
    d->last_size = size;
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)addr, (void)size;
    return 0;
}

static const MemoryRegionOps le_ops = {
    .read = dev_read,
    .write = dev_write,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

static const MemoryRegionOps be_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

/* The eventfd's counter, read and reset (0 when it was not signalled). */
static uint64_t take(int fd)
{
    uint64_t n = 0;
    if (read(fd, &n, sizeof(n)) != sizeof(n)) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    return n;
}

static void test_mmio_datamatch(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &le_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(fd >= 0);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(memory_region_add_eventfd(&dev, 0x8, 4, true, 0x1234, fd), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.ioeventfds_added - s0.ioeventfds_added, 1);

    guest_store_n(&h, 4, DEV_BASE + 0x8, 0x1234, 3, 0);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_write - s1.exit_mmio_write, 0);
    assert_int_equal(take(fd), 3);
    assert_int_equal(d.writes, 0);

    guest_store(&h, 4, DEV_BASE + 0x8, 0x9); /* no match: exits, reaches the device */
    MemregionKvmStats s3 = harness_stats(&h);
    assert_int_equal(s3.exit_mmio_write - s2.exit_mmio_write, 1);
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 1);
    assert_int_equal(d.last, 0x9);

    /* Removed: the matching value now reaches the device. */
    assert_int_equal(memory_region_del_eventfd(&dev, 0x8, 4, true, 0x1234, fd), 0);
    MemregionKvmStats s4 = harness_stats(&h);
    assert_int_equal(s4.ioeventfds_removed - s3.ioeventfds_removed, 1);
    guest_store(&h, 4, DEV_BASE + 0x8, 0x1234);
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 2);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
    close(fd);
}

static void test_mmio_any_value_and_size(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &le_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    int fd2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int fd0 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* 2-byte writes of any value at 0x10; writes of any size at 0x20. */
    assert_int_equal(memory_region_add_eventfd(&dev, 0x10, 2, false, 0, fd2), 0);
    assert_int_equal(memory_region_add_eventfd(&dev, 0x20, 0, false, 0, fd0), 0);

    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 2, DEV_BASE + 0x10, 0xaaaa);
    guest_store(&h, 2, DEV_BASE + 0x10, 0x5555);
    guest_store(&h, 1, DEV_BASE + 0x20, 1);
    guest_store(&h, 4, DEV_BASE + 0x20, 2);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 0);
    assert_int_equal(take(fd2), 2);
    assert_int_equal(take(fd0), 2);
    /* A 4-byte write where 2 bytes are expected is not a match. */
    guest_store(&h, 4, DEV_BASE + 0x10, 0xaaaa);
    assert_int_equal(take(fd2), 0);
    assert_int_equal(d.writes, 1);
    assert_int_equal(d.last_size, 4);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
    close(fd2);
    close(fd0);
}

static void test_pio_datamatch(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion port;
    assert_int_equal(memory_region_init_io(&port, &le_ops, &d, "notify", 4), 0);
    assert_int_equal(memory_region_add_subregion(&h.io, 0x600, &port), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(memory_region_add_eventfd(&port, 0, 2, true, 0xbeef, fd), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    guest_out(&h, 2, 0x600, 0xbeef, 4);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_pio_out - s0.exit_pio_out, 0);
    assert_int_equal(take(fd), 4);
    guest_out(&h, 2, 0x600, 0x1, 1);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_pio_out - s1.exit_pio_out, 1);
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 1);
    assert_int_equal(d.last, 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.io, &port);
    harness_close(&h);
    memory_region_destroy(&port);
    close(fd);
}

static void test_big_endian_device_data(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &be_ops, &d, "be-dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* The device's value 0x11223344 is the bytes 11 22 33 44 on the bus. */
    assert_int_equal(memory_region_add_eventfd(&dev, 0x4, 4, true, 0x11223344, fd), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, DEV_BASE + 0x4, 0x44332211); /* x86 stores bytes 11 22 33 44 */
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 0);
    assert_int_equal(take(fd), 1);
    assert_int_equal(d.writes, 0);
    guest_store(&h, 4, DEV_BASE + 0x4, 0x11223344); /* bytes 44 33 22 11: no match */
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 1);
    assert_int_equal(d.last, 0x44332211); /* as the big-endian device reads it */
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
    close(fd);
}

static void test_eventfd_follows_moves(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &le_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(memory_region_add_eventfd(&dev, 0x8, 4, true, 1, fd), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(memory_region_set_address(&dev, 0xb8000000u), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.ioeventfds_removed - s0.ioeventfds_removed, 1);
    assert_int_equal(s1.ioeventfds_added - s0.ioeventfds_added, 1);
    guest_store(&h, 4, 0xb8000008u, 1);
    assert_int_equal(take(fd), 1);
    guest_store(&h, 4, DEV_BASE + 0x8, 1); /* old address: nothing there */
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 0);
    /* Unmapped: KVM forgets it. */
    assert_int_equal(memory_region_del_subregion(&h.system, &dev), 0);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.ioeventfds_removed - s1.ioeventfds_removed, 1);
    guest_store(&h, 4, 0xb8000008u, 1);
    assert_int_equal(take(fd), 0);
    harness_assert_no_errors(&h);

    harness_close(&h);
    memory_region_destroy(&dev);
    close(fd);
}

static void test_refused_entry_still_signals(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Dev d = {0};
    MemoryRegion dev;
    assert_int_equal(memory_region_init_io(&dev, &le_ops, &d, "dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, DEV_BASE, &dev), 0);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* A data match on a write of any size: memregion accepts it, KVM does not. */
    assert_int_equal(memory_region_add_eventfd(&dev, 0x30, 0, true, 0x77, fd), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);
    const char *msg = memregion_kvm_last_error(h.kvm);
    assert_non_null(strstr(msg, "KVM_IOEVENTFD"));
    assert_non_null(strstr(msg, "memregion signals the eventfd"));
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(s0.ioeventfds_added, 0);

    guest_store(&h, 4, DEV_BASE + 0x30, 0x77);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 1); /* it exits... */
    assert_int_equal(take(fd), 1);                                /* ...and still signals */
    assert_int_equal(d.writes, 0);
    guest_store(&h, 4, DEV_BASE + 0x30, 0x78);
    assert_int_equal(take(fd), 0);
    assert_int_equal(d.writes, 1);
    /* Deleting what KVM never had is no new error. */
    assert_int_equal(memory_region_del_eventfd(&dev, 0x30, 0, true, 0x77, fd), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);

    memory_region_del_subregion(&h.system, &dev);
    harness_close(&h);
    memory_region_destroy(&dev);
    close(fd);
}

int main(void)
{
    harness_require_kvm("kvm-ioeventfd");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmio_datamatch),
        cmocka_unit_test(test_mmio_any_value_and_size),
        cmocka_unit_test(test_pio_datamatch),
        cmocka_unit_test(test_big_endian_device_data),
        cmocka_unit_test(test_eventfd_follows_moves),
        cmocka_unit_test(test_refused_entry_still_signals),
    };
    return cmocka_run_group_tests_name("kvm-ioeventfd", tests, NULL, NULL);
}
