/*
 * memregion KVM backend internals shared by the backend sources. Not installed.
 */
#ifndef MEMREGION_KVM_INTERNAL_H
#define MEMREGION_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>

#include "memregion/memregion.h"
#include "memregion/kvm.h"

#include "../grow.h"

/* KVM's page size on x86: slots, dirty bitmaps and the coalesced ring use it. */
#define KVM_PAGE_SIZE 4096ull
/* KVM_MEM_MAX_NR_PAGES: the largest slot KVM accepts. */
#define KVM_MAX_SLOT_PAGES ((1ull << 31) - 1)

#define KVM_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Relaxed atomic counters: written on one thread, read on any. */
#define STAT_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define STAT_INC(field)    STAT_ADD(field, 1)
#define STAT_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* One KVM memory slot: the page-aligned part of one flat range. */
typedef struct KvmSlot {
    uint32_t id;
    uint32_t flags;
    hwaddr range_addr; /* start of the flat range it serves: the lookup key */
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
    MemoryRegion *mr;
    hwaddr offset_in_region; /* of gpa */
    unsigned long *bitmap;   /* KVM_GET_DIRTY_LOG buffer, allocated on first sync */
} KvmSlot;

/* A listener of the backend: the memory one or the port I/O one. */
typedef struct KvmListener {
    MemoryListener listener;
    struct MemregionKvm *kvm;
    bool pio;
    bool attached;
} KvmListener;

struct MemregionKvmVcpu {
    struct MemregionKvm *kvm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    AddressSpace *mem; /* written by the vCPU's thread or while stopped */
    AddressSpace *io;
    MemregionKvmStats stats; /* exit_* fields only; atomics */
    MemregionKvmVcpu *next;
};

struct MemregionKvm {
    int dev_fd;
    int vm_fd;
    unsigned nr_slot_ids;   /* usable slot numbers */
    uint64_t max_slot_size; /* bytes, multiple of KVM_PAGE_SIZE */
    bool readonly_slots;    /* KVM_MEM_READONLY available and allowed */
    bool coalesced_mmio;    /* KVM_CAP_COALESCED_MMIO */
    bool coalesced_pio;     /* KVM_CAP_COALESCED_PIO */
    int ring_page;          /* page of the ring in the vCPU mapping, 0 if none */
    size_t vcpu_mmap_size;
    MemregionKvmErrorFn on_error;
    void *error_opaque;

    /* Slots, writer side (listener callbacks hold memregion's writer lock). */
    KvmSlot **slots; /* sorted by range_addr */
    size_t nr_slots, cap_slots;
    unsigned long *id_used; /* nr_slot_ids bits: number taken (or lost to a failed delete) */
    unsigned long *id_ever; /* nr_slot_ids bits: number used at least once */

    /* What KVM accepted, writer side: deletions undo only these. */
    struct kvm_coalesced_mmio_zone *zones;
    size_t nr_zones, cap_zones;
    struct kvm_ioeventfd *eventfds;
    size_t nr_eventfds, cap_eventfds;

    KvmListener mem_listener;
    KvmListener io_listener;

    /* The coalesced ring (shared by all vCPUs) and the spaces it drains into. */
    pthread_mutex_t ring_lock;
    struct kvm_coalesced_mmio_ring *ring; /* NULL until the first vCPU */
    unsigned ring_max;                    /* entries in the ring */
    AddressSpace *ring_mem;
    AddressSpace *ring_io;

    pthread_mutex_t vcpu_lock;
    MemregionKvmVcpu *vcpus;
    MemregionKvmStats retired; /* exit counters of destroyed vCPUs */

    pthread_mutex_t err_lock;
    char last_error[256];

    MemregionKvmStats stats; /* VM-wide counters; atomics */
};

/* kvm_vm.c: record an error (message, counter, callback); returns -err. */
int kvm_record_error(MemregionKvm *kvm, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Add a destroyed vCPU's exit counters to the VM's retired totals (vcpu_lock held). */
void kvm_vm_retire_vcpu_stats(MemregionKvm *kvm, const MemregionKvmVcpu *vcpu);
/* Remember a message for memregion_kvm_last_error(NULL) on this thread; returns -err. */
int kvm_thread_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kvm_slots.c: the memory listener's slot callbacks. */
void kvm_slots_init_listener(MemoryListener *l);
void kvm_slots_free(MemregionKvm *kvm);

/* kvm_io.c: coalesced zones, ioeventfds, draining. */
void kvm_io_init_listener(MemoryListener *l);
void kvm_io_free(MemregionKvm *kvm);
/* Drain the ring; called before dispatching an exit. Returns entries applied. */
size_t kvm_io_drain_ring(MemregionKvm *kvm);

#endif /* MEMREGION_KVM_INTERNAL_H */
