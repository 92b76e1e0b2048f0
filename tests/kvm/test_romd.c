/*
 * ROM devices on real KVM: in romd mode reads run from a read-only slot
 * without exits and writes exit to the device's callbacks (a flash chip
 * taking commands); with romd mode off the slot goes away and every access
 * reaches the callbacks.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define FLASH_BASE 0xc0000000u
#define FLASH_SIZE 0x20000u

typedef struct Flash {
    unsigned writes, reads;
    hwaddr last_addr;
    uint64_t last_value;
    unsigned last_size;
    unsigned last_requester;
} Flash;

static MemTxResult flash_read(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                              MemTxAttrs attrs)
{
    Flash *f = opaque;
    (void)attrs;
    f->reads++;
    f->last_addr = addr;
    f->last_size = size;
    *data = 0x5ade0000u | (uint32_t)(addr & 0xffff); /* status-register mode */
    return MEMTX_OK;
}

static MemTxResult flash_write(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                               MemTxAttrs attrs)
{
    Flash *f = opaque;
    f->writes++;
    f->last_addr = addr;
    f->last_value = data;
    f->last_size = size;
    f->last_requester = attrs.requester_id;
    return MEMTX_OK;
}

static const MemoryRegionOps flash_ops = {
    .read_with_attrs = flash_read,
    .write_with_attrs = flash_write,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

static bool has_slot(Harness *h, uint64_t gpa, uint32_t *flags)
{
    MemregionKvmSlot sl[16];
    size_t n = memregion_kvm_get_slots(h->kvm, sl, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        if (sl[i].guest_phys_addr == gpa) {
            if (flags)
                *flags = sl[i].flags;
            return true;
        }
    }
    return false;
}

static void test_romd_reads_direct_writes_reach_device(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Flash f = {0};
    MemoryRegion flash;
    assert_int_equal(memory_region_init_rom_device(&flash, &flash_ops, &f, "flash", FLASH_SIZE), 0);
    uint8_t *mem = memory_region_get_ram_ptr(&flash);
    for (unsigned i = 0; i < FLASH_SIZE; i += 4)
        *(uint32_t *)(mem + i) = 0xf1a50000u | i;
    assert_int_equal(memory_region_add_subregion(&h.system, FLASH_BASE, &flash), 0);
    uint32_t flags = 0;
    assert_true(has_slot(&h, FLASH_BASE, &flags));
    assert_int_equal(flags, KVM_MEM_READONLY);

    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(guest_load(&h, 4, FLASH_BASE + 0x1000), 0xf1a51000u);
    assert_int_equal(guest_load(&h, 2, FLASH_BASE + 0x1ff00), 0xff00);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_read - s0.exit_mmio_read, 0);
    assert_int_equal(f.reads, 0);

    /* A write exits and reaches the device with its offset, value, size and requester. */
    guest_store(&h, 4, FLASH_BASE + 0x10, 0x12345678);
    guest_store(&h, 1, FLASH_BASE + 0x5555, 0xaa);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_write - s1.exit_mmio_write, 2);
    assert_int_equal(f.writes, 2);
    assert_int_equal(f.last_addr, 0x5555);
    assert_int_equal(f.last_value, 0xaa);
    assert_int_equal(f.last_size, 1);
    assert_int_equal(f.last_requester, 0);
    assert_int_equal(*(uint32_t *)(mem + 0x10), 0xf1a50010u); /* memory unchanged */
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &flash);
    harness_close(&h);
    memory_region_destroy(&flash);
}

static void test_romd_off_sends_everything_to_device(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Flash f = {0};
    MemoryRegion flash;
    assert_int_equal(memory_region_init_rom_device(&flash, &flash_ops, &f, "flash", FLASH_SIZE), 0);
    uint8_t *mem = memory_region_get_ram_ptr(&flash);
    memset(mem, 0x11, FLASH_SIZE);
    assert_int_equal(memory_region_add_subregion(&h.system, FLASH_BASE, &flash), 0);
    MemregionKvmStats s0 = harness_stats(&h);

    /* romd off: the slot is deleted, reads exit to the callbacks. */
    assert_int_equal(memory_region_rom_device_set_romd(&flash, false), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.slots_deleted - s0.slots_deleted, 1);
    assert_int_equal(s1.set_memory_region - s0.set_memory_region, 1);
    assert_false(has_slot(&h, FLASH_BASE, NULL));
    assert_int_equal(guest_load(&h, 4, FLASH_BASE + 0x20), 0x5ade0020u);
    assert_int_equal(f.reads, 1);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_read - s1.exit_mmio_read, 1);

    /* romd on again: a slot again (its number reused), reads direct. */
    assert_int_equal(memory_region_rom_device_set_romd(&flash, true), 0);
    MemregionKvmStats s3 = harness_stats(&h);
    assert_int_equal(s3.slots_created - s2.slots_created, 1);
    assert_int_equal(s3.slots_reused - s2.slots_reused, 1);
    assert_true(has_slot(&h, FLASH_BASE, NULL));
    assert_int_equal(guest_load(&h, 4, FLASH_BASE + 0x20), 0x11111111u);
    assert_int_equal(f.reads, 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &flash);
    harness_close(&h);
    memory_region_destroy(&flash);
}

int main(void)
{
    harness_require_kvm("kvm-romd");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_romd_reads_direct_writes_reach_device),
        cmocka_unit_test(test_romd_off_sends_everything_to_device),
    };
    return cmocka_run_group_tests_name("kvm-romd", tests, NULL, NULL);
}
