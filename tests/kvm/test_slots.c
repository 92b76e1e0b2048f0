/*
 * KVM memory slots on a real /dev/kvm: one slot per RAM-backed flat range,
 * slot numbers reused, memory mapped not copied, exactly the ioctls the
 * listener diff asks for (moving an MMIO BAR touches no slot), the
 * alignment and size rules, and KVM's errors as readable messages.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "harness.h"

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)size;
    return 0xd0000000u | (uint32_t)addr;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)opaque, (void)addr, (void)val, (void)size;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .valid = {.min_access_size = 4, .max_access_size = 4},
};

static size_t get_slots(Harness *h, MemregionKvmSlot *out, size_t max)
{
    size_t n = memregion_kvm_get_slots(h->kvm, out, max);
    assert_true(n <= max);
    return n;
}

static const MemregionKvmSlot *slot_at(const MemregionKvmSlot *s, size_t n, uint64_t gpa)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].guest_phys_addr == gpa)
            return &s[i];
    return NULL;
}

/* ---- a listener that counts what the diff asks of an accelerator --------------- */

typedef struct DiffCounter {
    MemoryListener l;
    unsigned ram_adds, ram_dels; /* RAM-backed ranges: what a slot backend must apply */
    unsigned mmio_adds, mmio_dels;
} DiffCounter;

static bool is_ram_backed(const FlatRange *fr)
{
    MemoryRegionKind k = memory_region_kind(fr->mr);
    return k == MR_KIND_RAM || (k == MR_KIND_ROMD && fr->romd_mode);
}

static void dc_add(MemoryListener *l, const FlatRange *fr)
{
    DiffCounter *d = (DiffCounter *)l;
    if (is_ram_backed(fr))
        d->ram_adds++;
    else
        d->mmio_adds++;
}

static void dc_del(MemoryListener *l, const FlatRange *fr)
{
    DiffCounter *d = (DiffCounter *)l;
    if (is_ram_backed(fr))
        d->ram_dels++;
    else
        d->mmio_dels++;
}

static void dc_reset(DiffCounter *d)
{
    d->ram_adds = d->ram_dels = d->mmio_adds = d->mmio_dels = 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_slot_per_range_and_reuse(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion a, b, c;
    assert_int_equal(memory_region_init_ram(&a, "a", 0x10000), 0);
    assert_int_equal(memory_region_init_ram(&b, "b", 0x10000), 0);
    assert_int_equal(memory_region_init_ram(&c, "c", 0x10000), 0);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(s0.slots_created, 1); /* lowram */
    assert_int_equal(s0.slots_active, 1);

    assert_int_equal(memory_region_add_subregion(&h.system, 0x100000, &a), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x200000, &b), 0);
    MemregionKvmSlot sl[8];
    size_t n = get_slots(&h, sl, 8);
    assert_int_equal(n, 3);
    assert_int_equal(slot_at(sl, n, 0x100000)->slot, 1);
    assert_int_equal(slot_at(sl, n, 0x200000)->slot, 2);

    /* Unmapping frees slot 1; the next slot takes it again. */
    assert_int_equal(memory_region_del_subregion(&h.system, &a), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x300000, &c), 0);
    n = get_slots(&h, sl, 8);
    assert_int_equal(n, 3);
    assert_null(slot_at(sl, n, 0x100000));
    assert_int_equal(slot_at(sl, n, 0x300000)->slot, 1);
    /* Sorted by address. */
    assert_true(sl[0].guest_phys_addr < sl[1].guest_phys_addr);
    assert_true(sl[1].guest_phys_addr < sl[2].guest_phys_addr);

    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.slots_created - s0.slots_created, 3);
    assert_int_equal(s1.slots_deleted - s0.slots_deleted, 1);
    assert_int_equal(s1.slots_reused - s0.slots_reused, 1);
    assert_int_equal(s1.set_memory_region - s0.set_memory_region, 4);
    assert_int_equal(s1.slots_active, 3);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &b);
    memory_region_del_subregion(&h.system, &c);
    harness_close(&h);
    memory_region_destroy(&a);
    memory_region_destroy(&b);
    memory_region_destroy(&c);
}

static void test_mapped_not_copied(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram, alias;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x20000), 0);
    assert_int_equal(memory_region_init_alias(&alias, "ram-hi", &ram, 0x10000, 0x10000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x100000, &ram), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x800000, &alias), 0);
    uint8_t *host = memory_region_get_ram_ptr(&ram);

    MemregionKvmSlot sl[8];
    size_t n = get_slots(&h, sl, 8);
    const MemregionKvmSlot *s = slot_at(sl, n, 0x100000);
    assert_non_null(s);
    assert_ptr_equal(s->host, host);
    assert_ptr_equal(s->mr, &ram);
    assert_int_equal(s->size, 0x20000);
    const MemregionKvmSlot *t = slot_at(sl, n, 0x800000);
    assert_non_null(t);
    assert_ptr_equal(t->host, host + 0x10000); /* the alias maps the same memory again */
    assert_int_equal(t->offset_in_region, 0x10000);

    /* The guest writes, the host sees it at once, and the other way round. */
    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, 0x100040, 0xcafef00d);
    uint32_t v;
    memcpy(&v, host + 0x40, 4);
    assert_int_equal(v, 0xcafef00d);
    v = 0x600df00d;
    memcpy(host + 0x10080, &v, 4);
    assert_int_equal(guest_load(&h, 4, 0x800080), 0x600df00d);
    assert_int_equal(guest_load(&h, 4, 0x110080), 0x600df00d);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_read + s1.exit_mmio_write,
                     s0.exit_mmio_read + s0.exit_mmio_write); /* all direct */
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &alias);
    memory_region_del_subregion(&h.system, &ram);
    harness_close(&h);
    memory_region_destroy(&alias);
    memory_region_destroy(&ram);
}

/* Check that a map change made exactly the ioctls the listener diff asked for. */
static void expect_change(Harness *h, DiffCounter *d, const MemregionKvmStats *before,
                          unsigned expect_ioctls)
{
    MemregionKvmStats after = harness_stats(h);
    uint64_t ioctls = after.set_memory_region - before->set_memory_region;
    assert_int_equal(ioctls, d->ram_adds + d->ram_dels);
    assert_int_equal(ioctls, expect_ioctls);
    assert_int_equal(after.slots_created - before->slots_created, d->ram_adds);
    assert_int_equal(after.slots_deleted - before->slots_deleted, d->ram_dels);
}

static void test_ioctls_follow_the_diff(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram, bar_mmio, bar_ram;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x100000), 0);
    assert_int_equal(memory_region_init_io(&bar_mmio, &dev_ops, NULL, "bar-mmio", 0x1000), 0);
    assert_int_equal(memory_region_init_ram(&bar_ram, "bar-vram", 0x10000), 0);
    memory_region_transaction_begin();
    memory_region_add_subregion(&h.system, 0x100000, &ram);
    memory_region_add_subregion(&h.system, 0xe0000000, &bar_mmio);
    memory_region_add_subregion(&h.system, 0xd0000000, &bar_ram);
    memory_region_transaction_commit();

    DiffCounter d = {.l = {.region_add = dc_add, .region_del = dc_del, .name = "diff"}};
    assert_int_equal(memory_listener_register(&d.l, &h.mem), 0);
    MemregionKvmSlot before[8], after[8];
    size_t nb = get_slots(&h, before, 8);
    assert_int_equal(nb, 3); /* lowram, ram, bar-vram */

    /* Moving the MMIO BAR: the diff has no RAM range, KVM sees no ioctl. */
    dc_reset(&d);
    MemregionKvmStats s = harness_stats(&h);
    assert_int_equal(memory_region_set_address(&bar_mmio, 0xe0100000), 0);
    assert_int_equal(d.mmio_dels, 1);
    assert_int_equal(d.mmio_adds, 1);
    expect_change(&h, &d, &s, 0);
    size_t na = get_slots(&h, after, 8);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb * sizeof(*before)); /* no slot touched */
    assert_int_equal(guest_load(&h, 4, 0xe0100004), 0xd0000004);
    assert_int_equal(guest_load(&h, 4, 0xe0000004), 0xffffffff);

    /* Moving a RAM BAR: one delete and one create, the RAM slot untouched. */
    dc_reset(&d);
    s = harness_stats(&h);
    assert_int_equal(memory_region_set_address(&bar_ram, 0xd1000000), 0);
    expect_change(&h, &d, &s, 2);
    na = get_slots(&h, after, 8);
    assert_int_equal(na, 3);
    assert_memory_equal(slot_at(before, nb, 0x100000), slot_at(after, na, 0x100000),
                        sizeof(MemregionKvmSlot));
    assert_non_null(slot_at(after, na, 0xd1000000));
    assert_null(slot_at(after, na, 0xd0000000));

    /* An MMIO window over the middle of RAM splits it: one delete, two creates. */
    dc_reset(&d);
    s = harness_stats(&h);
    memory_region_del_subregion(&h.system, &bar_mmio);
    memory_region_add_subregion_overlap(&h.system, 0x180000, &bar_mmio, 1);
    expect_change(&h, &d, &s, 3);
    na = get_slots(&h, after, 8);
    assert_int_equal(na, 4);
    assert_int_equal(slot_at(after, na, 0x100000)->size, 0x80000);
    assert_int_equal(slot_at(after, na, 0x181000)->size, 0x7f000);
    assert_int_equal(guest_load(&h, 4, 0x180008), 0xd0000008);

    /* And taking it away merges RAM again: two deletes, one create. */
    dc_reset(&d);
    s = harness_stats(&h);
    memory_region_del_subregion(&h.system, &bar_mmio);
    expect_change(&h, &d, &s, 3);
    na = get_slots(&h, after, 8);
    assert_int_equal(na, 3);
    assert_int_equal(slot_at(after, na, 0x100000)->size, 0x100000);
    harness_assert_no_errors(&h);

    memory_listener_unregister(&d.l);
    memory_region_del_subregion(&h.system, &ram);
    memory_region_del_subregion(&h.system, &bar_ram);
    harness_close(&h);
    memory_region_destroy(&ram);
    memory_region_destroy(&bar_ram);
    memory_region_destroy(&bar_mmio);
}

static void test_unaligned_ranges_stay_mmio(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    uint8_t *buf = mmap(NULL, 0x8000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(buf != MAP_FAILED);
    MemoryRegion part, tiny, odd;
    /*
     * [0x400800, 0x402800), host memory congruent with the guest addresses:
     * the page-aligned part 0x401000-0x401fff gets the slot, head and tail exit.
     */
    uint8_t *p = buf + 0x800;
    assert_int_equal(memory_region_init_ram_ptr(&part, "part", 0x2000, p), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x400800, &part), 0);
    /* 2 KiB: no whole page, no slot. */
    assert_int_equal(memory_region_init_ram(&tiny, "tiny", 0x800), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x500000, &tiny), 0);
    /* Page-aligned guest range, host memory off by 16 bytes: no slot. */
    uint8_t *o = buf + 0x4010;
    assert_int_equal(memory_region_init_ram_ptr(&odd, "odd", 0x2000, o), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x600000, &odd), 0);

    MemregionKvmSlot sl[8];
    size_t n = get_slots(&h, sl, 8);
    assert_int_equal(n, 2); /* lowram and part's aligned page */
    const MemregionKvmSlot *s = slot_at(sl, n, 0x401000);
    assert_non_null(s);
    assert_int_equal(s->size, 0x1000);
    assert_ptr_equal(s->host, p + 0x800);
    assert_int_equal(s->offset_in_region, 0x800);
    assert_int_equal(harness_stats(&h).ranges_mmio, 2);

    /* Everything still works: the parts without a slot exit and are dispatched. */
    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, 0x400800, 0x11111111); /* head: exit */
    guest_store(&h, 4, 0x401000, 0x22222222); /* slot: direct */
    guest_store(&h, 4, 0x4027fc, 0x55555555); /* tail: exit */
    guest_store(&h, 4, 0x500010, 0x33333333); /* tiny: exit */
    guest_store(&h, 4, 0x601000, 0x44444444); /* odd: exit */
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 4);
    uint32_t v;
    memcpy(&v, p, 4);
    assert_int_equal(v, 0x11111111);
    memcpy(&v, p + 0x800, 4);
    assert_int_equal(v, 0x22222222);
    memcpy(&v, p + 0x1ffc, 4);
    assert_int_equal(v, 0x55555555);
    memcpy(&v, (uint8_t *)memory_region_get_ram_ptr(&tiny) + 0x10, 4);
    assert_int_equal(v, 0x33333333);
    memcpy(&v, o + 0x1000, 4);
    assert_int_equal(v, 0x44444444);
    assert_int_equal(guest_load(&h, 4, 0x400800), 0x11111111);
    assert_int_equal(guest_load(&h, 4, 0x601000), 0x44444444);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &part);
    memory_region_del_subregion(&h.system, &tiny);
    memory_region_del_subregion(&h.system, &odd);
    harness_close(&h);
    memory_region_destroy(&part);
    memory_region_destroy(&tiny);
    memory_region_destroy(&odd);
    munmap(buf, 0x8000);
}

static void test_too_large_stays_mmio(void **state)
{
    (void)state;
    Harness h;
    MemregionKvmConfig cfg = {.max_slot_size = 0x10000};
    harness_open(&h, &cfg);
    MemoryRegion big, fits;
    assert_int_equal(memory_region_init_ram(&big, "big", 0x20000), 0);
    assert_int_equal(memory_region_init_ram(&fits, "fits", 0x10000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x1000000, &big), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x2000000, &fits), 0);
    MemregionKvmSlot sl[8];
    size_t n = get_slots(&h, sl, 8);
    assert_int_equal(n, 2);
    assert_null(slot_at(sl, n, 0x1000000));
    assert_non_null(slot_at(sl, n, 0x2000000));
    assert_int_equal(harness_stats(&h).ranges_mmio, 1);
    MemregionKvmStats s0 = harness_stats(&h);
    guest_store(&h, 4, 0x101fffc, 0x5a5a5a5a);
    assert_int_equal(guest_load(&h, 4, 0x101fffc), 0x5a5a5a5a);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 1);
    assert_int_equal(s1.exit_mmio_read - s0.exit_mmio_read, 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.system, &big);
    memory_region_del_subregion(&h.system, &fits);
    harness_close(&h);
    memory_region_destroy(&big);
    memory_region_destroy(&fits);
}

static void test_slot_limit_is_an_error_not_a_crash(void **state)
{
    (void)state;
    Harness h;
    MemregionKvmConfig cfg = {.max_slots = 3};
    harness_open(&h, &cfg); /* lowram takes slot 0 */
    MemoryRegion r[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(memory_region_init_ram(&r[i], "r", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x100000, &r[0]), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x200000, &r[1]), 0);
    harness_assert_no_errors(&h);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x300000, &r[2]), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);
    const char *msg = memregion_kvm_last_error(h.kvm);
    assert_non_null(strstr(msg, "slot limit reached (3 slots)"));
    assert_non_null(strstr(msg, "stays MMIO"));
    /* The range without a slot still works, through exits. */
    guest_store(&h, 4, 0x300010, 0x77777777);
    assert_int_equal(guest_load(&h, 4, 0x300010), 0x77777777);

    /* Freeing a slot makes room again, and the number is reused. */
    memregion_kvm_clear_error(h.kvm);
    assert_string_equal(memregion_kvm_last_error(h.kvm), "");
    assert_int_equal(memory_region_del_subregion(&h.system, &r[0]), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x400000, &r[3]), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);
    MemregionKvmSlot sl[4];
    size_t n = get_slots(&h, sl, 4);
    assert_int_equal(n, 3);
    assert_int_equal(slot_at(sl, n, 0x400000)->slot, 1);

    memory_region_del_subregion(&h.system, &r[1]);
    memory_region_del_subregion(&h.system, &r[2]);
    memory_region_del_subregion(&h.system, &r[3]);
    harness_close(&h);
    for (int i = 0; i < 4; i++)
        memory_region_destroy(&r[i]);
}

static void test_overlap_with_foreign_slot_is_reported(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    /* Someone else put a slot into the VM behind the backend's back. */
    void *foreign = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(foreign != MAP_FAILED);
    struct kvm_userspace_memory_region reg = {
        .slot = 500,
        .guest_phys_addr = 0x700000,
        .memory_size = 0x2000,
        .userspace_addr = (uintptr_t)foreign,
    };
    int vm = memregion_kvm_vm_fd(h.kvm);
    assert_int_equal(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);

    MemoryRegion ram;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x4000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x6ff000, &ram), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);
    const char *msg = memregion_kvm_last_error(h.kvm);
    assert_non_null(strstr(msg, "EEXIST"));
    assert_non_null(strstr(msg, "'ram'"));
    assert_int_equal(harness_stats(&h).ranges_mmio, 1);
    /* The failed number was not consumed: the next slot gets it. */
    MemoryRegion other;
    assert_int_equal(memory_region_init_ram(&other, "other", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x900000, &other), 0);
    MemregionKvmSlot sl[4];
    size_t n = get_slots(&h, sl, 4);
    assert_int_equal(n, 2);
    assert_int_equal(slot_at(sl, n, 0x900000)->slot, 1);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);

    reg.memory_size = 0;
    assert_int_equal(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
    memory_region_del_subregion(&h.system, &ram);
    memory_region_del_subregion(&h.system, &other);
    harness_close(&h);
    memory_region_destroy(&ram);
    memory_region_destroy(&other);
    munmap(foreign, 0x2000);
}

static void test_failed_delete_is_reported(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemoryRegion ram, next;
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x10000), 0);
    assert_int_equal(memory_region_init_ram(&next, "next", 0x10000), 0);
    assert_int_equal(memory_region_add_subregion(&h.system, 0x100000, &ram), 0);
    MemregionKvmSlot sl[4];
    size_t n = get_slots(&h, sl, 4);
    const MemregionKvmSlot *s = slot_at(sl, n, 0x100000);
    assert_non_null(s);
    assert_int_equal(s->slot, 1);
    /* Someone else deletes the backend's slot: the backend's own delete then fails. */
    struct kvm_userspace_memory_region reg = {.slot = 1, .guest_phys_addr = 0x100000};
    assert_int_equal(ioctl(memregion_kvm_vm_fd(h.kvm), KVM_SET_USER_MEMORY_REGION, &reg), 0);
    assert_int_equal(memory_region_del_subregion(&h.system, &ram), 0);
    assert_int_equal(memregion_kvm_error_count(h.kvm), 1);
    const char *msg = memregion_kvm_last_error(h.kvm);
    assert_non_null(strstr(msg, "cannot delete slot 1 of 'ram' at 0x100000"));
    assert_int_equal(harness_stats(&h).slots_active, 1);
    /* Slot number 1 is never handed out again: KVM's state is unknown there. */
    assert_int_equal(memory_region_add_subregion(&h.system, 0x200000, &next), 0);
    n = get_slots(&h, sl, 4);
    assert_int_equal(n, 2);
    assert_int_equal(slot_at(sl, n, 0x200000)->slot, 2);
    assert_int_equal(guest_load(&h, 4, 0x200000), 0);

    memory_region_del_subregion(&h.system, &next);
    harness_close(&h);
    memory_region_destroy(&ram);
    memory_region_destroy(&next);
}

static void test_open_errors_are_readable(void **state)
{
    (void)state;
    MemregionKvm *kvm = (MemregionKvm *)1;
    MemregionKvmConfig cfg = {.device = "/nonexistent/kvm"};
    assert_int_equal(memregion_kvm_open(&kvm, &cfg), -ENODEV);
    assert_null(kvm);
    assert_non_null(strstr(memregion_kvm_last_error(NULL), "/nonexistent/kvm"));
    MemregionKvmConfig bad = {.max_slot_size = 100};
    assert_int_equal(memregion_kvm_open(&kvm, &bad), -EINVAL);
    assert_int_equal(memregion_kvm_open(NULL, NULL), -EINVAL);
    /* NULL arguments are errors, not crashes. */
    assert_int_equal(memregion_kvm_attach_memory(NULL, NULL), -EINVAL);
    assert_int_equal(memregion_kvm_vcpu_run(NULL), -EINVAL);
    memregion_kvm_close(NULL);
    assert_int_equal(memregion_kvm_get_slots(NULL, NULL, 0), 0);

    Harness h;
    harness_open(&h, NULL);
    assert_int_equal(memregion_kvm_attach_memory(h.kvm, &h.mem), -EBUSY);
    MemregionKvmVcpu *v;
    assert_int_equal(memregion_kvm_vcpu_create(h.kvm, 0, &h.mem, NULL, &v), -EEXIST);
    assert_non_null(strstr(memregion_kvm_last_error(NULL), "already exists"));
    harness_close(&h);
}

int main(void)
{
    harness_require_kvm("kvm-slots");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_per_range_and_reuse),
        cmocka_unit_test(test_mapped_not_copied),
        cmocka_unit_test(test_ioctls_follow_the_diff),
        cmocka_unit_test(test_unaligned_ranges_stay_mmio),
        cmocka_unit_test(test_too_large_stays_mmio),
        cmocka_unit_test(test_slot_limit_is_an_error_not_a_crash),
        cmocka_unit_test(test_overlap_with_foreign_slot_is_reported),
        cmocka_unit_test(test_failed_delete_is_reported),
        cmocka_unit_test(test_open_errors_are_readable),
    };
    return cmocka_run_group_tests_name("kvm-slots", tests, NULL, NULL);
}
