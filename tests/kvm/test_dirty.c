/*
 * Dirty logging on real KVM: the pages KVM reports are exactly the pages
 * the guest wrote; log_start/log_stop flip KVM_MEM_LOG_DIRTY_PAGES with one
 * ioctl; unmapping a logging slot loses no dirty page; global (migration)
 * logging covers all RAM.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define FB_BASE  0x1000000u
#define FB_PAGES 16u
#define PAGE     0x1000u

static uint32_t slot_flags(Harness *h, uint64_t gpa)
{
    MemregionKvmSlot sl[16];
    size_t n = memregion_kvm_get_slots(h->kvm, sl, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (sl[i].guest_phys_addr == gpa)
            return sl[i].flags;
    fail_msg("no slot at 0x%llx", (unsigned long long)gpa);
    return 0;
}

/* Snapshot @client over the whole framebuffer; return the dirty pages as a bit mask. */
static uint32_t dirty_pages(MemoryRegion *fb, unsigned client)
{
    DirtyBitmapSnapshot *snap =
        memory_region_snapshot_and_clear_dirty(fb, 0, FB_PAGES * PAGE, client);
    assert_non_null(snap);
    uint32_t mask = 0;
    for (unsigned p = 0; p < FB_PAGES; p++)
        if (memory_region_snapshot_get_dirty(fb, snap, p * PAGE, PAGE))
            mask |= 1u << p;
    memory_region_snapshot_free(snap);
    return mask;
}

static void test_reported_pages_equal_written_pages(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion fb, plain;
    assert_int_equal(memory_region_init_ram(&fb, "fb", FB_PAGES * PAGE), 0);
    assert_int_equal(memory_region_init_ram(&plain, "plain", 4 * PAGE), 0);
    assert_int_equal(memory_region_set_log(&fb, true, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, FB_BASE, &fb), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x2000000, &plain), 0);
    assert_int_equal(slot_flags(&h, FB_BASE), KVM_MEM_LOG_DIRTY_PAGES);
    assert_int_equal(slot_flags(&h, 0x2000000), 0);
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), 0);

    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, FB_BASE + 0 * PAGE + 0x10, 1);
    guest_store(&h, 4, FB_BASE + 3 * PAGE + 0x20, 2);
    guest_store(&h, 1, FB_BASE + 3 * PAGE + 0xfff, 3); /* page 3 again */
    guest_store(&h, 2, FB_BASE + 7 * PAGE, 4);
    guest_store(&h, 4, 0x2000000 + PAGE, 5); /* not logged */
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 0); /* all direct */
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), (1u << 0) | (1u << 3) | (1u << 7));
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.dirty_pages - s1.dirty_pages, 3);
    assert_true(s2.dirty_log_ioctls > s1.dirty_log_ioctls);

    /* Read and cleared: nothing until the guest writes again. */
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), 0);
    guest_store_n(&h, 4, FB_BASE + 5 * PAGE, 0x55, 2, PAGE); /* pages 5 and 6 */
    guest_store(&h, 4, FB_BASE + 15 * PAGE + 0xffc, 0x66);
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), (1u << 5) | (1u << 6) | (1u << 15));
    MemregionKvmStats s3 = harness_stats(&h);
    assert_int_equal(s3.dirty_pages - s2.dirty_pages, 3);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &fb);
    memory_region_del_subregion(&h.system, &plain);
    harness_close(&h);
    memory_region_destroy(&fb);
    memory_region_destroy(&plain);
}

static void test_log_start_stop_flip_the_flag(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion fb;
    assert_int_equal(memory_region_init_ram(&fb, "fb", FB_PAGES * PAGE), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, FB_BASE, &fb), 0);
    assert_int_equal(slot_flags(&h, FB_BASE), 0);

    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(memory_region_set_log(&fb, true, DIRTY_MEMORY_VGA), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.set_memory_region - s0.set_memory_region, 1);
    assert_int_equal(s1.slot_flag_updates - s0.slot_flag_updates, 1);
    assert_int_equal(s1.slots_created, s0.slots_created); /* same slot, new flags */
    assert_int_equal(slot_flags(&h, FB_BASE), KVM_MEM_LOG_DIRTY_PAGES);

    guest_store(&h, 4, FB_BASE + 2 * PAGE, 7);
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), 1u << 2);

    assert_int_equal(memory_region_set_log(&fb, false, DIRTY_MEMORY_VGA), 0);
    MemregionKvmStats s2 = harness_stats(&h);
    assert_int_equal(s2.set_memory_region - s1.set_memory_region, 1);
    assert_int_equal(slot_flags(&h, FB_BASE), 0);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &fb);
    harness_close(&h);
    memory_region_destroy(&fb);
}

static void test_unmapping_keeps_dirty_pages(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion fb;
    assert_int_equal(memory_region_init_ram(&fb, "fb", FB_PAGES * PAGE), 0);
    assert_int_equal(memory_region_set_log(&fb, true, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, FB_BASE, &fb), 0);
    guest_store(&h, 4, FB_BASE + 9 * PAGE, 9);
    guest_store(&h, 4, FB_BASE + 1 * PAGE, 1);
    /* The slot goes away before anyone asked KVM: its dirty log is read first. */
    assert_int_equal(memory_region_del_subregion(&h.system, &fb), 0);
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), (1u << 1) | (1u << 9));

    /* Mapped elsewhere, the region keeps logging. */
    assert_int_equal(memory_region_add_subregion(&h.system, 0x3000000, &fb), 0);
    assert_int_equal(slot_flags(&h, 0x3000000), KVM_MEM_LOG_DIRTY_PAGES);
    guest_store(&h, 4, 0x3000000 + 4 * PAGE, 4);
    assert_int_equal(dirty_pages(&fb, DIRTY_MEMORY_VGA), 1u << 4);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &fb);
    harness_close(&h);
    memory_region_destroy(&fb);
}

static void test_global_logging_covers_all_ram(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram;
    assert_int_equal(memory_region_init_ram(&ram, "ram", FB_PAGES * PAGE), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, FB_BASE, &ram), 0);
    assert_int_equal(slot_flags(&h, FB_BASE), 0);
    assert_int_equal(slot_flags(&h, 0), 0);

    memory_global_dirty_log_start();
    assert_int_equal(slot_flags(&h, FB_BASE), KVM_MEM_LOG_DIRTY_PAGES);
    assert_int_equal(slot_flags(&h, 0), KVM_MEM_LOG_DIRTY_PAGES);
    guest_store(&h, 4, FB_BASE + 11 * PAGE, 11);
    memory_global_dirty_log_sync();
    for (unsigned p = 0; p < FB_PAGES; p++)
        assert_int_equal(memory_region_get_dirty(&ram, p * PAGE, PAGE, DIRTY_MEMORY_MIGRATION),
                         p == 11);
    memory_global_dirty_log_stop();
    assert_int_equal(slot_flags(&h, FB_BASE), 0);
    assert_int_equal(slot_flags(&h, 0), 0);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &ram);
    harness_close(&h);
    memory_region_destroy(&ram);
}

int main(void)
{
    harness_require_kvm("kvm-dirty");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reported_pages_equal_written_pages),
        cmocka_unit_test(test_log_start_stop_flip_the_flag),
        cmocka_unit_test(test_unmapping_keeps_dirty_pages),
        cmocka_unit_test(test_global_logging_covers_all_ram),
    };
    return cmocka_run_group_tests_name("kvm-dirty", tests, NULL, NULL);
}
