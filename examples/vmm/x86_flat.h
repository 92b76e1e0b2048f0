/*
 * x86 helpers of the example VMM (shared with the KVM tests): the
 * architecture setup a VM and a vCPU need to run 32-bit flat code.
 */
#ifndef VMM_X86_FLAT_H
#define VMM_X86_FLAT_H

#include <stdint.h>
#include <stdio.h>

struct kvm_run;

/*
 * VM-wide setup: place the TSS pages KVM needs on Intel hosts without
 * unrestricted guest support at 0xfffbd000 (keep that range out of the
 * guest map). Returns 0 or a negative errno.
 */
int x86_vm_init(int vm_fd);

/*
 * Put a vCPU into 32-bit protected mode with flat 4 GiB code and data
 * segments, paging and interrupts off, at @eip with stack @esp.
 * Returns 0 or a negative errno.
 */
int x86_vcpu_init_flat32(int vcpu_fd, uint32_t eip, uint32_t esp);

/* Print why a vCPU stopped (exit reason, registers) to @out, for failures. */
void x86_describe_exit(int vcpu_fd, const struct kvm_run *run, FILE *out);

#endif /* VMM_X86_FLAT_H */
