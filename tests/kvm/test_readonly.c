/*
 * Read-only ranges on real KVM: ROM and read-only aliases get
 * KVM_MEM_READONLY slots; guest reads are direct, guest writes exit and are
 * dropped, so the ROM's bytes never change; shadowing (a PAM-style switch
 * from the ROM to RAM) follows the map.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define ROM_BASE 0xfffe0000u
#define ROM_SIZE 0x10000u

static const MemregionKvmSlot *find_slot(Harness *h, uint64_t gpa, MemregionKvmSlot *buf)
{
    MemregionKvmSlot sl[16];
    size_t n = memregion_kvm_get_slots(h->kvm, sl, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        if (sl[i].guest_phys_addr == gpa) {
            *buf = sl[i];
            return buf;
        }
    }
    return NULL;
}

static void fill_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + 3);
}

static void test_rom_write_does_not_change_bytes(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion rom;
    assert_int_equal(memory_region_init_rom(&rom, "rom", ROM_SIZE), 0);
    uint8_t *bytes = memory_region_get_ram_ptr(&rom);
    fill_pattern(bytes, ROM_SIZE);
    static uint8_t copy[ROM_SIZE];
    memcpy(copy, bytes, ROM_SIZE);
    assert_int_equal(memory_region_add_subregion(&h.system, ROM_BASE, &rom), 0);

    MemregionKvmSlot s;
    assert_non_null(find_slot(&h, ROM_BASE, &s));
    assert_int_equal(s.flags, KVM_MEM_READONLY);
    assert_ptr_equal(s.host, bytes);

    uint32_t before = guest_load(&h, 4, ROM_BASE + 0x40);
    assert_memory_equal(&before, copy + 0x40, 4);
    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, ROM_BASE + 0x40, ~before);
    guest_store(&h, 1, ROM_BASE + 0x1234, 0xee);
    guest_store_n(&h, 2, ROM_BASE + 0x8000, 0x4444, 8, 2);
    MemregionKvmStats s1 = harness_stats(&h);
    /* Every write exited (read-only slot) and was refused by dispatch
     * (MEMTX_DECODE_ERROR, as QEMU's ROM gives; the vCPU goes on). */
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 10);
    assert_int_equal(s1.dispatch_errors - s0.dispatch_errors, 10);
    assert_memory_equal(bytes, copy, ROM_SIZE);
    assert_int_equal(guest_load(&h, 4, ROM_BASE + 0x40), before);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.exit_mmio_read - s1.exit_mmio_read, 0); /* reads are direct */
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &rom);
    harness_close(&h);
    memory_region_destroy(&rom);
}

static void test_readonly_alias_of_ram(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram, ro;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x10000), 0);
    assert_int_equal(memory_region_init_alias(&ro, "ram-ro", &ram, 0, 0x10000), 0);
    assert_int_equal(memory_region_set_readonly(&ro, true), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x100000, &ram), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x900000, &ro), 0);
    MemregionKvmSlot s;
    assert_non_null(find_slot(&h, 0x100000, &s));
    assert_int_equal(s.flags, 0);
    assert_non_null(find_slot(&h, 0x900000, &s));
    assert_int_equal(s.flags, KVM_MEM_READONLY);

    guest_store(&h, 4, 0x100010, 0x12345678);
    assert_int_equal(guest_load(&h, 4, 0x900010), 0x12345678);
    guest_store(&h, 4, 0x900010, 0x87654321); /* dropped */
    assert_int_equal(guest_load(&h, 4, 0x100010), 0x12345678);
    assert_int_equal(guest_load(&h, 4, 0x900010), 0x12345678);

    /* Making the alias writable is a new range for KVM: delete and create. */
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(memory_region_set_readonly(&ro, false), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.set_memory_region - s0.set_memory_region, 2);
    assert_non_null(find_slot(&h, 0x900000, &s));
    assert_int_equal(s.flags, 0);
    guest_store(&h, 4, 0x900010, 0x87654321);
    assert_int_equal(guest_load(&h, 4, 0x100010), 0x87654321);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &ram);
    memory_region_del_subregion(&h.system, &ro);
    harness_close(&h);
    memory_region_destroy(&ro);
    memory_region_destroy(&ram);
}

static void test_without_readonly_slots_rom_still_works(void **state)
{
    (void)state;
    Harness h;
    MemregionKvmConfig cfg = {.no_readonly_slots = true};
    harness_open(&h, &cfg);
    MemoryRegion rom;
    assert_int_equal(memory_region_init_rom(&rom, "rom", ROM_SIZE), 0);
    uint8_t *bytes = memory_region_get_ram_ptr(&rom);
    fill_pattern(bytes, ROM_SIZE);
    assert_int_equal(memory_region_add_subregion(&h.system, ROM_BASE, &rom), 0);
    MemregionKvmSlot s;
    assert_null(find_slot(&h, ROM_BASE, &s));
    assert_int_equal(harness_stats(&h).ranges_mmio, 1);

    MemregionKvmStats s0 = harness_stats(&h);
    uint32_t v = guest_load(&h, 4, ROM_BASE + 0x100);
    assert_memory_equal(&v, bytes + 0x100, 4);
    guest_store(&h, 4, ROM_BASE + 0x100, ~v);
    assert_int_equal(guest_load(&h, 4, ROM_BASE + 0x100), v);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_read - s0.exit_mmio_read, 2);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &rom);
    harness_close(&h);
    memory_region_destroy(&rom);
}

/*
 * PAM-style shadowing: 0xF0000 shows the ROM (through an alias) until the
 * chipset switches the window to RAM; guest writes before the switch leave
 * the ROM untouched, writes after it land in RAM.
 */
static void test_shadowing_switches_rom_to_ram(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram, rom, pam_rom, pam_ram;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x100000), 0);
    assert_int_equal(memory_region_init_rom(&rom, "bios", 0x10000), 0);
    assert_int_equal(memory_region_init_alias(&pam_rom, "pam-rom", &rom, 0, 0x10000), 0);
    assert_int_equal(memory_region_init_alias(&pam_ram, "pam-ram", &ram, 0xf0000, 0x10000), 0);
    uint8_t *rom_bytes = memory_region_get_ram_ptr(&rom);
    uint8_t *ram_bytes = memory_region_get_ram_ptr(&ram);
    fill_pattern(rom_bytes, 0x10000);
    static uint8_t copy[0x10000];
    memcpy(copy, rom_bytes, sizeof(copy));
    memory_region_transaction_begin();
    memory_region_add_subregion(&h.system, 0x100000, &ram); /* above lowram */
    memory_region_add_subregion_overlap(&h.system, 0x1f0000, &pam_rom, 1);
    memory_region_add_subregion_overlap(&h.system, 0x1f0000, &pam_ram, 1);
    memory_region_set_enabled(&pam_ram, false);
    memory_region_transaction_commit();

    MemregionKvmSlot s;
    assert_non_null(find_slot(&h, 0x1f0000, &s));
    assert_int_equal(s.flags, KVM_MEM_READONLY);
    assert_ptr_equal(s.host, rom_bytes);
    guest_store_n(&h, 4, 0x1f0000, 0xffffffff, 16, 0x1000); /* before shadowing */
    assert_memory_equal(rom_bytes, copy, sizeof(copy));
    assert_int_equal(guest_load(&h, 4, 0x1f3000), *(uint32_t *)(copy + 0x3000));

    /* Shadow: the window becomes RAM; RAM (0x100000-0x1fffff) merges into one slot. */
    MemregionKvmStats s0 = harness_stats(&h);
    memory_region_transaction_begin();
    memory_region_set_enabled(&pam_rom, false);
    memory_region_set_enabled(&pam_ram, true);
    memory_region_transaction_commit();
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.slots_deleted - s0.slots_deleted, 2);
    assert_int_equal(s1.slots_created - s0.slots_created, 1);
    assert_non_null(find_slot(&h, 0x100000, &s));
    assert_int_equal(s.size, 0x100000);
    guest_store(&h, 4, 0x1f0010, 0xabcdef01);
    assert_int_equal(*(uint32_t *)(ram_bytes + 0xf0010), 0xabcdef01);
    assert_memory_equal(rom_bytes, copy, sizeof(copy));
    harness_assert_no_errors(&h);

    memory_region_transaction_begin();
    memory_region_del_subregion(&h.system, &ram);
    memory_region_del_subregion(&h.system, &pam_rom);
    memory_region_del_subregion(&h.system, &pam_ram);
    memory_region_transaction_commit();
    harness_close(&h);
    memory_region_destroy(&pam_rom);
    memory_region_destroy(&pam_ram);
    memory_region_destroy(&rom);
    memory_region_destroy(&ram);
}

int main(void)
{
    harness_require_kvm("kvm-readonly");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rom_write_does_not_change_bytes),
        cmocka_unit_test(test_readonly_alias_of_ram),
        cmocka_unit_test(test_without_readonly_slots_rom_still_works),
        cmocka_unit_test(test_shadowing_switches_rom_to_ram),
    };
    return cmocka_run_group_tests_name("kvm-readonly", tests, NULL, NULL);
}
