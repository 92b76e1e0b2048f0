/*
 * The vCPU helper on real KVM: MMIO exits dispatch into the vCPU's own
 * address space (per-vCPU views), port I/O into the I/O space, both with
 * the vCPU index as requester id; string I/O, unassigned addresses,
 * switching spaces, and stopping a vCPU with immediate_exit.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define APIC_BASE 0xfee00000u

typedef struct Who {
    uint32_t tag;
    unsigned accesses;
    unsigned last_requester;
    bool last_unspecified;
    uint8_t bytes[64];
    unsigned nbytes;
} Who;

static MemTxResult who_read(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                            MemTxAttrs attrs)
{
    Who *w = opaque;
    (void)addr, (void)size;
    w->accesses++;
    w->last_requester = attrs.requester_id;
    w->last_unspecified = attrs.unspecified;
    *data = w->tag | attrs.requester_id;
    return MEMTX_OK;
}

static MemTxResult who_write(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                             MemTxAttrs attrs)
{
    Who *w = opaque;
    (void)addr;
    w->accesses++;
    w->last_requester = attrs.requester_id;
    if (size == 1 && w->nbytes < sizeof(w->bytes))
        w->bytes[w->nbytes++] = (uint8_t)data;
    return MEMTX_OK;
}

static const MemoryRegionOps who_ops = {
    .read_with_attrs = who_read,
    .write_with_attrs = who_write,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

static void test_per_vcpu_views_and_requester_ids(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    /* vCPU 1 sees the board through an alias, plus its own local APIC on top. */
    MemoryRegion view, board, apic;
    Who apic_dev = {.tag = 0xa91c0000};
    assert_int_equal(memory_region_init(&view, "cpu1-view", (mr_size_t)1 << 32), 0);
    assert_int_equal(memory_region_init_alias(&board, "board", &h.system, 0, (mr_size_t)1 << 32),
                     0);
    assert_int_equal(memory_region_init_io(&apic, &who_ops, &apic_dev, "lapic", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&view, 0, &board), 0);
    assert_int_equal(memory_region_add_subregion_overlap(&view, APIC_BASE, &apic, 1), 0);
    AddressSpace cpu1;
    assert_int_equal(address_space_init(&cpu1, &view, "cpu1-memory"), 0);
    address_space_set_unassigned_value(&cpu1, 0xff);
    harness_add_vcpu(&h, 1, &cpu1);

    assert_int_equal(guest_load_on(&h, 1, 4, APIC_BASE + 0x20), 0xa91c0001);
    assert_int_equal(apic_dev.last_requester, 1);
    assert_false(apic_dev.last_unspecified);
    assert_int_equal(guest_load_on(&h, 0, 4, APIC_BASE + 0x20), 0xffffffff); /* not in its view */
    assert_int_equal(apic_dev.accesses, 1);

    /* Port I/O carries the requester id too. */
    Who port_dev = {.tag = 0x10000};
    MemoryRegion port;
    assert_int_equal(memory_region_init_io(&port, &who_ops, &port_dev, "port", 4), 0);
    assert_int_equal(memory_region_add_subregion(&h.io, 0x510, &port), 0);
    assert_int_equal(guest_in_on(&h, 0, 4, 0x510), 0x10000);
    assert_int_equal(guest_in_on(&h, 1, 4, 0x510), 0x10001);

    /* Switching vCPU 0 to the other view (a mode switch) changes what it reaches. */
    memregion_kvm_vcpu_set_address_spaces(h.vcpu[0], &cpu1, NULL);
    assert_int_equal(guest_load_on(&h, 0, 4, APIC_BASE), 0xa91c0000);
    memregion_kvm_vcpu_set_address_spaces(h.vcpu[0], &h.mem, NULL);
    assert_int_equal(guest_load_on(&h, 0, 4, APIC_BASE), 0xffffffff);

    MemregionKvmStats v0, v1;
    memregion_kvm_vcpu_get_stats(h.vcpu[0], &v0);
    memregion_kvm_vcpu_get_stats(h.vcpu[1], &v1);
    assert_int_equal(v0.exit_mmio_read, 3);
    assert_int_equal(v1.exit_mmio_read, 1);
    assert_int_equal(v0.exit_pio_in, 1);
    assert_int_equal(v1.exit_pio_in, 1);
    assert_int_equal(v0.dispatch_errors, 2); /* the unassigned reads */
    assert_int_equal(memregion_kvm_vcpu_index(h.vcpu[1]), 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.io, &port);
    /* The view aliases h.system: it goes first (no vCPU runs any more). */
    address_space_destroy(&cpu1);
    memory_region_del_subregion(&view, &board);
    memory_region_del_subregion(&view, &apic);
    assert_int_equal(memory_region_destroy(&board), 0);
    assert_int_equal(memory_region_destroy(&apic), 0);
    assert_int_equal(memory_region_destroy(&view), 0);
    harness_close(&h);
    memory_region_destroy(&port);
}

static void test_string_io(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    Who dev = {0};
    MemoryRegion port;
    assert_int_equal(memory_region_init_io(&port, &who_ops, &dev, "fifo", 1), 0);
    assert_int_equal(memory_region_add_subregion(&h.io, 0x520, &port), 0);
    const char msg[] = "string I/O!";
    memcpy((uint8_t *)memory_region_get_ram_ptr(&h.lowram) + 0x6000, msg, sizeof(msg) - 1);
    guest_outs(&h, 0x520, 0x6000, sizeof(msg) - 1);
    assert_int_equal(dev.nbytes, sizeof(msg) - 1);
    assert_memory_equal(dev.bytes, msg, sizeof(msg) - 1);
    harness_assert_no_errors(&h);

    memory_region_del_subregion(&h.io, &port);
    harness_close(&h);
    memory_region_destroy(&port);
}

static void test_unassigned_and_missing_io(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemregionKvmStats s0 = harness_stats(&h);
    assert_int_equal(guest_load(&h, 4, 0xd0000000u), 0xffffffff);
    guest_store(&h, 4, 0xd0000000u, 1);
    assert_int_equal(guest_in(&h, 2, 0x777), 0xffff);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.dispatch_errors - s0.dispatch_errors, 3);
    assert_int_equal(s1.exit_mmio_read - s0.exit_mmio_read, 1);
    assert_int_equal(s1.exit_mmio_write - s0.exit_mmio_write, 1);
    assert_int_equal(s1.exit_pio_in - s0.exit_pio_in, 1);
    harness_assert_no_errors(&h);
    harness_close(&h);
}

static void test_immediate_exit_interrupts_run(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    struct kvm_run *run = memregion_kvm_vcpu_run_area(h.vcpu[0]);
    run->immediate_exit = 1;
    assert_int_equal(memregion_kvm_vcpu_run(h.vcpu[0]), KVM_EXIT_INTR);
    MemregionKvmStats s = harness_stats(&h);
    assert_int_equal(s.exit_intr, 1);
    run->immediate_exit = 0;
    /* The vCPU goes on where it was. */
    guest_store(&h, 4, 0x5000, 0x1234);
    assert_int_equal(guest_load(&h, 4, 0x5000), 0x1234);
    harness_assert_no_errors(&h);
    harness_close(&h);
}

/* KVM_RUN blocks: inside a read section it is refused, and the vCPU has not run. */
static void test_run_refused_inside_read_section(void **state)
{
    (void)state;
    Harness h;
    harness_open(&h, NULL);
    MemregionKvmStats s0 = harness_stats(&h);
    memregion_read_section_begin();
    assert_int_equal(memregion_kvm_vcpu_run(h.vcpu[0]), -EBUSY);
    assert_non_null(strstr(memregion_kvm_last_error(NULL), "read section"));
    assert_int_equal(memregion_read_section_end(), 0);
    MemregionKvmStats s1 = harness_stats(&h);
    assert_int_equal(s1.exit_mmio_read, s0.exit_mmio_read);
    assert_int_equal(s1.exit_mmio_write, s0.exit_mmio_write);
    assert_int_equal(s1.exit_pio_in, s0.exit_pio_in);
    assert_int_equal(s1.exit_intr, s0.exit_intr);
    guest_store(&h, 4, 0x5000, 0x4321);
    assert_int_equal(guest_load(&h, 4, 0x5000), 0x4321);
    harness_assert_no_errors(&h);
    harness_close(&h);
}

int main(void)
{
    harness_require_kvm("kvm-vcpu");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_vcpu_views_and_requester_ids),
        cmocka_unit_test(test_string_io),
        cmocka_unit_test(test_unassigned_and_missing_io),
        cmocka_unit_test(test_immediate_exit_interrupts_run),
        cmocka_unit_test(test_run_refused_inside_read_section),
    };
    return cmocka_run_group_tests_name("kvm-vcpu", tests, NULL, NULL);
}
