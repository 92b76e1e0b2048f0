/*
 * x86 setup for 32-bit flat protected mode under KVM.
 */
#include "x86_flat.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

int x86_vm_init(int vm_fd)
{
    if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        return -errno;
    return 0;
}

int x86_vcpu_init_flat32(int vcpu_fd, uint32_t eip, uint32_t esp)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    struct kvm_segment code = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = 0x08,
        .type = 0xb, /* execute/read, accessed */
        .present = 1,
        .dpl = 0,
        .db = 1, /* 32-bit */
        .s = 1,
        .l = 0,
        .g = 1,
    };
    struct kvm_segment data = code;
    data.selector = 0x10;
    data.type = 0x3; /* read/write, accessed */
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = (sregs.cr0 | 1u) & ~(1u << 31); /* PE on, PG off */
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
        return -errno;
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2; /* reserved bit; IF clear */
    regs.rip = eip;
    regs.rsp = esp;
    if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
        return -errno;
    return 0;
}

void x86_describe_exit(int vcpu_fd, const struct kvm_run *run, FILE *out)
{
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    ioctl(vcpu_fd, KVM_GET_REGS, &regs);
    fprintf(out, "vCPU stopped: exit reason %u, rip 0x%llx, rsp 0x%llx, eax 0x%llx\n",
            run->exit_reason, (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
            (unsigned long long)regs.rax);
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        fprintf(out, "  internal error, suberror %u\n", run->internal.suberror);
    else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
        fprintf(out, "  entry failure reason 0x%llx\n",
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
}
