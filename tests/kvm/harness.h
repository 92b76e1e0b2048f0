/*
 * Harness of the KVM tests: a VM with 64 KiB of low RAM holding a command
 * interpreter guest (harness_guest.S), one mailbox and stack per vCPU, and
 * helpers that make the guest perform one access at a time on real KVM.
 *
 * Guest-physical layout: 0x0000-0xffff "lowram" (code at HARNESS_CODE,
 * mailboxes, stacks). Tests map their own regions elsewhere in h->system
 * (and ports in h->io).
 */
#ifndef KVM_HARNESS_H
#define KVM_HARNESS_H

#include <memregion/kvm.h>
#include <memregion/memregion.h>
#include <stdint.h>

#define HARNESS_LOWRAM_SIZE 0x10000
#define HARNESS_CODE        0x1000
#define HARNESS_MAILBOX     0x3000 /* + 0x100 per vCPU */
#define HARNESS_STACK       0x8000 /* - 0x1000 per vCPU */
#define HARNESS_MAX_VCPUS   2

/* The mailbox, as the guest reads it. */
typedef struct HarnessCmd {
    uint32_t op; /* 1 store, 2 load, 3 out, 4 in, 5 rep outsb, 6 call */
    uint32_t size;
    uint32_t addr;
    uint32_t value;
    uint32_t count;
    uint32_t stride;
    uint32_t result;
    uint32_t step; /* store: added to the value after each store */
} HarnessCmd;

typedef struct Harness {
    MemoryRegion system, lowram, io;
    AddressSpace mem, io_as;
    MemregionKvm *kvm;
    MemregionKvmVcpu *vcpu[HARNESS_MAX_VCPUS];
} Harness;

/*
 * Exit with status 77 (meson's "skipped") and a clear line when this
 * machine has no usable KVM. Call first in main().
 */
void harness_require_kvm(const char *test_name);

/*
 * Build the harness VM: regions, address spaces, KVM with @config (may be
 * NULL), both spaces attached, vCPU 0 created and halted at its first
 * command. Fails the current cmocka test on error.
 */
void harness_open(Harness *h, const MemregionKvmConfig *config);

/* Add vCPU @index dispatching into @mem (NULL: h->mem), halted at its first command. */
void harness_add_vcpu(Harness *h, unsigned index, AddressSpace *mem);

/* Tear everything down: close KVM, destroy spaces and the harness regions. */
void harness_close(Harness *h);

/* Run @cmd on vCPU @cpu until it halts again; fails the test on any other exit. */
uint32_t harness_cmd(Harness *h, unsigned cpu, const HarnessCmd *cmd);

/* Shorthands on vCPU 0 (..._on for another vCPU). */
void guest_store(Harness *h, unsigned size, uint32_t addr, uint32_t value);
void guest_store_n(Harness *h, unsigned size, uint32_t addr, uint32_t value, uint32_t count,
                   uint32_t stride);
/* @count stores of @value, @value + @step, ... at @addr, @addr + @stride, ... */
void guest_store_seq(Harness *h, unsigned size, uint32_t addr, uint32_t value, uint32_t step,
                     uint32_t count, uint32_t stride);
uint32_t guest_load(Harness *h, unsigned size, uint32_t addr);
uint32_t guest_load_on(Harness *h, unsigned cpu, unsigned size, uint32_t addr);
void guest_out(Harness *h, unsigned size, uint16_t port, uint32_t value, uint32_t count);
uint32_t guest_in(Harness *h, unsigned size, uint16_t port);
uint32_t guest_in_on(Harness *h, unsigned cpu, unsigned size, uint16_t port);
/* rep outsb of @count bytes at guest address @src to @port. */
void guest_outs(Harness *h, uint16_t port, uint32_t src, uint32_t count);
/* Call guest code at @addr (it must end with ret). */
void guest_call(Harness *h, uint32_t addr);

/* Counters of the VM now. */
MemregionKvmStats harness_stats(Harness *h);

/* Fail the test, showing the message, when the backend recorded an error. */
void harness_assert_no_errors(Harness *h);

#endif /* KVM_HARNESS_H */
