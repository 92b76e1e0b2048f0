/*
 * vCPUs: KVM_RUN with MMIO and port I/O exits dispatched through memregion
 * address spaces. The coalesced ring is drained before every dispatch, so
 * buffered writes reach their device before anything else does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_internal.h"

int memregion_kvm_vcpu_create(MemregionKvm *kvm, unsigned index, AddressSpace *mem,
                              AddressSpace *io, MemregionKvmVcpu **out)
{
    if (!kvm || !mem || !out)
        return kvm_thread_error(EINVAL, "memregion_kvm_vcpu_create: NULL argument");
    *out = NULL;
    if (index > 0xffff)
        return kvm_thread_error(EINVAL, "vCPU index %u does not fit a requester id", index);
    pthread_mutex_lock(&kvm->vcpu_lock);
    for (MemregionKvmVcpu *v = kvm->vcpus; v; v = v->next) {
        if (v->index == index) {
            pthread_mutex_unlock(&kvm->vcpu_lock);
            return kvm_thread_error(EEXIST, "vCPU %u already exists", index);
        }
    }
    int fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0) {
        int e = errno;
        pthread_mutex_unlock(&kvm->vcpu_lock);
        return kvm_thread_error(e, "KVM_CREATE_VCPU %u: %s", index, strerror(e));
    }
    void *run = mmap(NULL, kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    MemregionKvmVcpu *v = run == MAP_FAILED ? NULL : calloc(1, sizeof(*v));
    if (!v) {
        int e = run == MAP_FAILED ? errno : ENOMEM;
        if (run != MAP_FAILED)
            munmap(run, kvm->vcpu_mmap_size);
        close(fd);
        pthread_mutex_unlock(&kvm->vcpu_lock);
        return kvm_thread_error(e, "vCPU %u: cannot map kvm_run: %s", index, strerror(e));
    }
    v->kvm = kvm;
    v->index = index;
    v->fd = fd;
    v->run = run;
    v->run_size = kvm->vcpu_mmap_size;
    v->mem = mem;
    v->io = io;
    v->next = kvm->vcpus;
    kvm->vcpus = v;
    if (kvm->ring_page > 0 && (size_t)(kvm->ring_page + 1) * KVM_PAGE_SIZE <= v->run_size) {
        pthread_mutex_lock(&kvm->ring_lock);
        if (!kvm->ring)
            __atomic_store_n(
                &kvm->ring,
                (struct kvm_coalesced_mmio_ring *)((char *)run + kvm->ring_page * KVM_PAGE_SIZE),
                __ATOMIC_RELEASE);
        pthread_mutex_unlock(&kvm->ring_lock);
    }
    pthread_mutex_unlock(&kvm->vcpu_lock);
    *out = v;
    return 0;
}

void memregion_kvm_vcpu_destroy(MemregionKvmVcpu *vcpu)
{
    if (!vcpu)
        return;
    MemregionKvm *kvm = vcpu->kvm;
    pthread_mutex_lock(&kvm->vcpu_lock);
    MemregionKvmVcpu **pp = &kvm->vcpus;
    while (*pp && *pp != vcpu)
        pp = &(*pp)->next;
    if (*pp)
        *pp = vcpu->next;
    kvm_vm_retire_vcpu_stats(kvm, vcpu);
    /* The ring is the same page in every vCPU mapping: move to one that stays. */
    pthread_mutex_lock(&kvm->ring_lock);
    char *ring = (char *)kvm->ring;
    if (ring >= (char *)vcpu->run && ring < (char *)vcpu->run + vcpu->run_size) {
        struct kvm_coalesced_mmio_ring *next = NULL;
        if (kvm->vcpus)
            next = (struct kvm_coalesced_mmio_ring *)((char *)kvm->vcpus->run +
                                                      kvm->ring_page * KVM_PAGE_SIZE);
        __atomic_store_n(&kvm->ring, next, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&kvm->ring_lock);
    pthread_mutex_unlock(&kvm->vcpu_lock);
    munmap(vcpu->run, vcpu->run_size);
    close(vcpu->fd);
    free(vcpu);
}

int memregion_kvm_vcpu_fd(const MemregionKvmVcpu *vcpu)
{
    return vcpu ? vcpu->fd : -1;
}

struct kvm_run *memregion_kvm_vcpu_run_area(MemregionKvmVcpu *vcpu)
{
    return vcpu ? vcpu->run : NULL;
}

unsigned memregion_kvm_vcpu_index(const MemregionKvmVcpu *vcpu)
{
    return vcpu ? vcpu->index : 0;
}

void memregion_kvm_vcpu_set_address_spaces(MemregionKvmVcpu *vcpu, AddressSpace *mem,
                                           AddressSpace *io)
{
    if (!vcpu)
        return;
    if (mem)
        __atomic_store_n(&vcpu->mem, mem, __ATOMIC_RELEASE);
    if (io)
        __atomic_store_n(&vcpu->io, io, __ATOMIC_RELEASE);
}

/* ---- exits ------------------------------------------------------------------------- */

static void handle_mmio(MemregionKvmVcpu *v, MemTxAttrs attrs)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len <= 8 ? run->mmio.len : 8;
    bool is_write = run->mmio.is_write;
    STAT_INC(*(is_write ? &v->stats.exit_mmio_write : &v->stats.exit_mmio_read));
    kvm_io_drain_ring(v->kvm);
    AddressSpace *as = __atomic_load_n(&v->mem, __ATOMIC_ACQUIRE);
    MemTxResult r = address_space_rw(as, run->mmio.phys_addr, attrs, run->mmio.data, len, is_write);
    if (r != MEMTX_OK)
        STAT_INC(v->stats.dispatch_errors);
}

static void handle_pio(MemregionKvmVcpu *v, MemTxAttrs attrs)
{
    struct kvm_run *run = v->run;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    unsigned size = run->io.size;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    STAT_INC(*(is_write ? &v->stats.exit_pio_out : &v->stats.exit_pio_in));
    kvm_io_drain_ring(v->kvm);
    AddressSpace *as = __atomic_load_n(&v->io, __ATOMIC_ACQUIRE);
    bool bad =
        size == 0 || size > 8 || run->io.data_offset + (uint64_t)run->io.count * size > v->run_size;
    if (bad) {
        STAT_INC(v->stats.dispatch_errors);
        return;
    }
    MemTxResult r = MEMTX_OK;
    /* A string instruction (rep ins/outs) hands over several elements for one port. */
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (as) {
            r |= address_space_rw(as, run->io.port, attrs, data, size, is_write);
        } else {
            if (!is_write)
                memset(data, 0xff, size);
            r |= MEMTX_DECODE_ERROR;
        }
    }
    if (r != MEMTX_OK)
        STAT_INC(v->stats.dispatch_errors);
}

int memregion_kvm_vcpu_run(MemregionKvmVcpu *vcpu)
{
    if (!vcpu)
        return -EINVAL;
    if (memregion_read_section_depth())
        return kvm_thread_error(EBUSY,
                                "memregion_kvm_vcpu_run: the thread holds a read section "
                                "(memregion_read_section_begin); KVM_RUN blocks, and writers "
                                "would wait for it: end the section first");
    MemTxAttrs attrs = {.requester_id = vcpu->index & 0xffff};
    struct kvm_run *run = vcpu->run;
    for (;;) {
        if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
            int e = errno;
            if (e == EINTR || e == EAGAIN) {
                STAT_INC(vcpu->stats.exit_intr);
                return KVM_EXIT_INTR;
            }
            return kvm_record_error(vcpu->kvm, e, "KVM_RUN on vCPU %u: %s", vcpu->index,
                                    strerror(e));
        }
        switch (run->exit_reason) {
        case KVM_EXIT_MMIO:
            handle_mmio(vcpu, attrs);
            continue;
        case KVM_EXIT_IO:
            handle_pio(vcpu, attrs);
            continue;
        case KVM_EXIT_HLT:
            STAT_INC(vcpu->stats.exit_hlt);
            break;
        case KVM_EXIT_INTR:
            STAT_INC(vcpu->stats.exit_intr);
            break;
        case KVM_EXIT_SHUTDOWN:
            STAT_INC(vcpu->stats.exit_shutdown);
            break;
        default:
            STAT_INC(vcpu->stats.exit_other);
            break;
        }
        /* Whatever the guest buffered is applied before the VMM looks at devices. */
        kvm_io_drain_ring(vcpu->kvm);
        return (int)run->exit_reason;
    }
}
