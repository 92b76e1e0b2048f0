/*
 * Coalesced MMIO/PIO zones and ioeventfds from the listeners, and draining
 * of the coalesced ring into the address spaces.
 *
 * Invariant: kvm->zones and kvm->eventfds list exactly what KVM accepted,
 * so a deletion never undoes something KVM refused (and reports no
 * spurious error for it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

static KvmListener *kl_of(MemoryListener *l)
{
    return KVM_CONTAINER_OF(l, KvmListener, listener);
}

/* Append @elem of @size bytes to a growable array; false when out of memory. */
static bool push(void **arr, size_t *nr, size_t *cap, const void *elem, size_t size)
{
    if (mr_grow_array(arr, cap, *nr + 1, size, 16))
        return false;
    memcpy((char *)*arr + *nr * size, elem, size);
    (*nr)++;
    return true;
}

static void drop(void *arr, size_t *nr, size_t i, size_t size)
{
    memmove((char *)arr + i * size, (char *)arr + (i + 1) * size, (*nr - i - 1) * size);
    (*nr)--;
}

void kvm_io_free(MemregionKvm *kvm)
{
    free(kvm->zones);
    free(kvm->eventfds);
    kvm->zones = NULL;
    kvm->eventfds = NULL;
    kvm->nr_zones = kvm->nr_eventfds = 0;
}

/* ---- coalesced zones --------------------------------------------------------------- */

static void coalesced_add(MemoryListener *l, const FlatRange *fr, hwaddr addr, hwaddr len)
{
    KvmListener *kl = kl_of(l);
    MemregionKvm *kvm = kl->kvm;
    (void)fr;
    /* Without the capability the writes simply exit one by one: correct, unbuffered. */
    if (kl->pio ? !kvm->coalesced_pio : !kvm->coalesced_mmio)
        return;
    if (len > UINT32_MAX) {
        kvm_record_error(kvm, EINVAL, "coalesced zone 0x%llx+0x%llx is too large for KVM",
                         (unsigned long long)addr, (unsigned long long)len);
        return;
    }
    struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = (uint32_t)len, .pio = kl->pio};
    if (ioctl(kvm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &z) < 0) {
        int e = errno;
        kvm_record_error(kvm, e, "KVM_REGISTER_COALESCED_MMIO %s 0x%llx+0x%llx: %s",
                         kl->pio ? "pio" : "mmio", (unsigned long long)addr,
                         (unsigned long long)len, strerror(e));
        return;
    }
    if (!push((void **)&kvm->zones, &kvm->nr_zones, &kvm->cap_zones, &z, sizeof(z))) {
        ioctl(kvm->vm_fd, KVM_UNREGISTER_COALESCED_MMIO, &z);
        kvm_record_error(kvm, ENOMEM, "coalesced zone table: out of memory");
        return;
    }
    STAT_INC(kvm->stats.coalesced_zones_added);
}

static void coalesced_del(MemoryListener *l, const FlatRange *fr, hwaddr addr, hwaddr len)
{
    KvmListener *kl = kl_of(l);
    MemregionKvm *kvm = kl->kvm;
    (void)fr;
    for (size_t i = 0; i < kvm->nr_zones; i++) {
        struct kvm_coalesced_mmio_zone z = kvm->zones[i];
        if (z.addr != addr || z.size != len || z.pio != (uint32_t)kl->pio)
            continue;
        drop(kvm->zones, &kvm->nr_zones, i, sizeof(z));
        if (ioctl(kvm->vm_fd, KVM_UNREGISTER_COALESCED_MMIO, &z) < 0) {
            int e = errno;
            kvm_record_error(kvm, e, "KVM_UNREGISTER_COALESCED_MMIO 0x%llx+0x%llx: %s",
                             (unsigned long long)addr, (unsigned long long)len, strerror(e));
            return;
        }
        STAT_INC(kvm->stats.coalesced_zones_removed);
        return;
    }
}

/* ---- ioeventfd ------------------------------------------------------------------------- */

/* KVM compares the written bytes read as a little-endian number of @len bytes. */
static uint64_t guest_bytes_value(const MemoryRegion *mr, uint64_t data, unsigned len)
{
    bool big = memory_region_endianness(mr) == DEVICE_BIG_ENDIAN;
    if (!big || len <= 1)
        return data;
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= ((data >> (8 * i)) & 0xff) << (8 * (len - 1 - i));
    return v;
}

static struct kvm_ioeventfd make_ioeventfd(const KvmListener *kl, const FlatRange *fr,
                                           bool match_data, uint64_t data, int fd)
{
    unsigned len = (unsigned)fr->size;
    struct kvm_ioeventfd e = {.addr = fr->addr, .len = len, .fd = fd};
    if (match_data) {
        e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        e.datamatch = guest_bytes_value(fr->mr, data, len);
    }
    if (kl->pio)
        e.flags |= KVM_IOEVENTFD_FLAG_PIO;
    return e;
}

static void eventfd_add(MemoryListener *l, const FlatRange *fr, bool match_data, uint64_t data,
                        int fd)
{
    KvmListener *kl = kl_of(l);
    MemregionKvm *kvm = kl->kvm;
    struct kvm_ioeventfd e = make_ioeventfd(kl, fr, match_data, data, fd);
    if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
        int err = errno;
        kvm_record_error(kvm, err,
                         "KVM_IOEVENTFD %s 0x%llx len %u%s: %s; writes there exit and "
                         "memregion signals the eventfd",
                         kl->pio ? "port" : "mmio", (unsigned long long)e.addr, e.len,
                         match_data ? " with data match" : "", strerror(err));
        return;
    }
    if (!push((void **)&kvm->eventfds, &kvm->nr_eventfds, &kvm->cap_eventfds, &e, sizeof(e))) {
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        ioctl(kvm->vm_fd, KVM_IOEVENTFD, &e);
        kvm_record_error(kvm, ENOMEM, "ioeventfd table: out of memory");
        return;
    }
    STAT_INC(kvm->stats.ioeventfds_added);
}

static void eventfd_del(MemoryListener *l, const FlatRange *fr, bool match_data, uint64_t data,
                        int fd)
{
    KvmListener *kl = kl_of(l);
    MemregionKvm *kvm = kl->kvm;
    struct kvm_ioeventfd e = make_ioeventfd(kl, fr, match_data, data, fd);
    for (size_t i = 0; i < kvm->nr_eventfds; i++) {
        const struct kvm_ioeventfd *k = &kvm->eventfds[i];
        if (k->addr != e.addr || k->len != e.len || k->fd != e.fd || k->flags != e.flags ||
            k->datamatch != e.datamatch)
            continue;
        drop(kvm->eventfds, &kvm->nr_eventfds, i, sizeof(e));
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
            int err = errno;
            kvm_record_error(kvm, err, "KVM_IOEVENTFD deassign %s 0x%llx: %s",
                             kl->pio ? "port" : "mmio", (unsigned long long)e.addr, strerror(err));
            return;
        }
        STAT_INC(kvm->stats.ioeventfds_removed);
        return;
    }
}

void kvm_io_init_listener(MemoryListener *l)
{
    l->coalesced_io_add = coalesced_add;
    l->coalesced_io_del = coalesced_del;
    l->eventfd_add = eventfd_add;
    l->eventfd_del = eventfd_del;
}

/* ---- the coalesced ring -------------------------------------------------------------- */

size_t kvm_io_drain_ring(MemregionKvm *kvm)
{
    struct kvm_coalesced_mmio_ring *ring = __atomic_load_n(&kvm->ring, __ATOMIC_ACQUIRE);
    if (!ring || __atomic_load_n(&ring->first, __ATOMIC_RELAXED) ==
                     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&kvm->ring_lock);
    ring = kvm->ring; /* a vCPU may have gone away meanwhile */
    while (ring) {
        uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_RELAXED);
        if (first == __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
            break;
        struct kvm_coalesced_mmio ent = ring->coalesced_mmio[first % kvm->ring_max];
        /* Free the entry before dispatching: a device may flush again from its callback. */
        __atomic_store_n(&ring->first, (first + 1) % kvm->ring_max, __ATOMIC_RELEASE);
        AddressSpace *as = ent.pio ? kvm->ring_io : kvm->ring_mem;
        if (as && ent.len <= sizeof(ent.data))
            address_space_write(as, ent.phys_addr, MEMTXATTRS_UNSPECIFIED, ent.data, ent.len);
        n++;
        ring = kvm->ring;
    }
    pthread_mutex_unlock(&kvm->ring_lock);
    STAT_ADD(kvm->stats.coalesced_drained, n);
    return n;
}

size_t memregion_kvm_flush_coalesced(MemregionKvm *kvm)
{
    return kvm ? kvm_io_drain_ring(kvm) : 0;
}
