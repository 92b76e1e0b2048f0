/*
 * Harness of the KVM tests: see harness.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "x86_flat.h"

extern const unsigned char harness_guest[];
extern const unsigned long harness_guest_size;

void harness_require_kvm(const char *test_name)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("SKIP %s: cannot open /dev/kvm (%s): these tests need a real KVM\n", test_name,
               strerror(errno));
        exit(77);
    }
    int vm = ioctl(fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        printf("SKIP %s: /dev/kvm cannot create a VM (%s): these tests need a real KVM\n",
               test_name, strerror(errno));
        close(fd);
        exit(77);
    }
    close(vm);
    close(fd);
}

static HarnessCmd *mailbox(Harness *h, unsigned cpu)
{
    uint8_t *ram = memory_region_get_ram_ptr(&h->lowram);
    return (HarnessCmd *)(ram + HARNESS_MAILBOX + 0x100 * cpu);
}

/* Run vCPU @cpu until it halts; fail the test on anything else. */
static void run_to_halt(Harness *h, unsigned cpu)
{
    MemregionKvmVcpu *v = h->vcpu[cpu];
    assert_non_null(v);
    for (;;) {
        int r = memregion_kvm_vcpu_run(v);
        if (r == KVM_EXIT_HLT)
            return;
        if (r == KVM_EXIT_INTR)
            continue;
        if (r < 0)
            fail_msg("KVM_RUN failed: %s", memregion_kvm_last_error(h->kvm));
        x86_describe_exit(memregion_kvm_vcpu_fd(v), memregion_kvm_vcpu_run_area(v), stderr);
        fail_msg("vCPU %u stopped with exit reason %d instead of halting", cpu, r);
    }
}

void harness_add_vcpu(Harness *h, unsigned index, AddressSpace *mem)
{
    assert_true(index < HARNESS_MAX_VCPUS);
    int r =
        memregion_kvm_vcpu_create(h->kvm, index, mem ? mem : &h->mem, &h->io_as, &h->vcpu[index]);
    if (r < 0)
        fail_msg("vcpu_create: %s", memregion_kvm_last_error(NULL));
    int fd = memregion_kvm_vcpu_fd(h->vcpu[index]);
    assert_int_equal(x86_vcpu_init_flat32(fd, HARNESS_CODE, HARNESS_STACK - 0x1000 * index), 0);
    struct kvm_regs regs;
    assert_int_equal(ioctl(fd, KVM_GET_REGS, &regs), 0);
    regs.rsi = HARNESS_MAILBOX + 0x100 * index;
    assert_int_equal(ioctl(fd, KVM_SET_REGS, &regs), 0);
    run_to_halt(h, index); /* the interpreter halts before its first command */
}

void harness_open(Harness *h, const MemregionKvmConfig *config)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(memory_region_init(&h->system, "system", (mr_size_t)1 << 32), 0);
    assert_int_equal(memory_region_init_ram(&h->lowram, "lowram", HARNESS_LOWRAM_SIZE), 0);
    assert_int_equal(memory_region_init(&h->io, "io", 0x10000), 0);
    assert_true(harness_guest_size <= 0x2000);
    memcpy((uint8_t *)memory_region_get_ram_ptr(&h->lowram) + HARNESS_CODE, harness_guest,
           harness_guest_size);
    assert_int_equal(memory_region_add_subregion(&h->system, 0, &h->lowram), 0);
    assert_int_equal(address_space_init(&h->mem, &h->system, "memory"), 0);
    assert_int_equal(address_space_init(&h->io_as, &h->io, "io"), 0);
    address_space_set_unassigned_value(&h->mem, 0xff);
    address_space_set_unassigned_value(&h->io_as, 0xff);
    int r = memregion_kvm_open(&h->kvm, config);
    if (r < 0)
        fail_msg("memregion_kvm_open: %s", memregion_kvm_last_error(NULL));
    assert_int_equal(x86_vm_init(memregion_kvm_vm_fd(h->kvm)), 0);
    assert_int_equal(memregion_kvm_attach_memory(h->kvm, &h->mem), 0);
    assert_int_equal(memregion_kvm_attach_io(h->kvm, &h->io_as), 0);
    harness_add_vcpu(h, 0, NULL);
}

void harness_close(Harness *h)
{
    memregion_kvm_close(h->kvm);
    h->kvm = NULL;
    address_space_destroy(&h->io_as);
    address_space_destroy(&h->mem);
    memory_region_del_subregion(&h->system, &h->lowram);
    assert_int_equal(memory_region_destroy(&h->lowram), 0);
    assert_int_equal(memory_region_destroy(&h->io), 0);
    assert_int_equal(memory_region_destroy(&h->system), 0);
}

uint32_t harness_cmd(Harness *h, unsigned cpu, const HarnessCmd *cmd)
{
    HarnessCmd *box = mailbox(h, cpu);
    *box = *cmd;
    box->result = 0xdeadbeef;
    run_to_halt(h, cpu);
    return box->result;
}

void guest_store_n(Harness *h, unsigned size, uint32_t addr, uint32_t value, uint32_t count,
                   uint32_t stride)
{
    HarnessCmd c = {
        .op = 1, .size = size, .addr = addr, .value = value, .count = count, .stride = stride};
    harness_cmd(h, 0, &c);
}

void guest_store_seq(Harness *h, unsigned size, uint32_t addr, uint32_t value, uint32_t step,
                     uint32_t count, uint32_t stride)
{
    HarnessCmd c = {.op = 1,
                    .size = size,
                    .addr = addr,
                    .value = value,
                    .count = count,
                    .stride = stride,
                    .step = step};
    harness_cmd(h, 0, &c);
}

void guest_store(Harness *h, unsigned size, uint32_t addr, uint32_t value)
{
    guest_store_n(h, size, addr, value, 1, 0);
}

uint32_t guest_load_on(Harness *h, unsigned cpu, unsigned size, uint32_t addr)
{
    HarnessCmd c = {.op = 2, .size = size, .addr = addr};
    return harness_cmd(h, cpu, &c);
}

uint32_t guest_load(Harness *h, unsigned size, uint32_t addr)
{
    return guest_load_on(h, 0, size, addr);
}

void guest_out(Harness *h, unsigned size, uint16_t port, uint32_t value, uint32_t count)
{
    HarnessCmd c = {.op = 3, .size = size, .addr = port, .value = value, .count = count};
    harness_cmd(h, 0, &c);
}

uint32_t guest_in_on(Harness *h, unsigned cpu, unsigned size, uint16_t port)
{
    HarnessCmd c = {.op = 4, .size = size, .addr = port};
    return harness_cmd(h, cpu, &c);
}

uint32_t guest_in(Harness *h, unsigned size, uint16_t port)
{
    return guest_in_on(h, 0, size, port);
}

void guest_outs(Harness *h, uint16_t port, uint32_t src, uint32_t count)
{
    HarnessCmd c = {.op = 5, .addr = port, .value = src, .count = count};
    harness_cmd(h, 0, &c);
}

void guest_call(Harness *h, uint32_t addr)
{
    HarnessCmd c = {.op = 6, .addr = addr};
    harness_cmd(h, 0, &c);
}

MemregionKvmStats harness_stats(Harness *h)
{
    MemregionKvmStats s;
    memregion_kvm_get_stats(h->kvm, &s);
    return s;
}

void harness_assert_no_errors(Harness *h)
{
    if (memregion_kvm_error_count(h->kvm))
        fail_msg("backend error: %s", memregion_kvm_last_error(h->kvm));
}
