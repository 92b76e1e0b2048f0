/*
 * The VM: opening KVM, attaching address spaces, errors and statistics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_internal.h"

/* ---- errors ------------------------------------------------------------------- */

static __thread char thread_error[256];

int kvm_thread_error(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_error, sizeof(thread_error), fmt, ap);
    va_end(ap);
    return -err;
}

int kvm_record_error(MemregionKvm *kvm, int err, const char *fmt, ...)
{
    char msg[sizeof(kvm->last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&kvm->err_lock);
    memcpy(kvm->last_error, msg, sizeof(msg));
    pthread_mutex_unlock(&kvm->err_lock);
    STAT_INC(kvm->stats.errors);
    if (kvm->on_error)
        kvm->on_error(kvm->error_opaque, err, msg);
    return -err;
}

const char *memregion_kvm_last_error(const MemregionKvm *kvm)
{
    static __thread char copy[256];
    if (!kvm)
        return thread_error;
    MemregionKvm *k = (MemregionKvm *)kvm;
    pthread_mutex_lock(&k->err_lock);
    memcpy(copy, k->last_error, sizeof(copy));
    pthread_mutex_unlock(&k->err_lock);
    return copy;
}

uint64_t memregion_kvm_error_count(const MemregionKvm *kvm)
{
    return kvm ? STAT_GET(kvm->stats.errors) : 0;
}

void memregion_kvm_clear_error(MemregionKvm *kvm)
{
    if (!kvm)
        return;
    pthread_mutex_lock(&kvm->err_lock);
    kvm->last_error[0] = '\0';
    pthread_mutex_unlock(&kvm->err_lock);
}

/* ---- open and close ---------------------------------------------------------------- */

static int check_ext(int fd, long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

int memregion_kvm_open(MemregionKvm **out, const MemregionKvmConfig *config)
{
    MemregionKvmConfig none = {0};
    if (!out)
        return kvm_thread_error(EINVAL, "memregion_kvm_open: NULL out pointer");
    *out = NULL;
    if (!config)
        config = &none;
    if (config->max_slot_size && config->max_slot_size < KVM_PAGE_SIZE)
        return kvm_thread_error(EINVAL, "memregion_kvm_open: max_slot_size %llu is below a page",
                                (unsigned long long)config->max_slot_size);
    const char *dev = config->device ? config->device : "/dev/kvm";
    int dev_fd = open(dev, O_RDWR | O_CLOEXEC);
    if (dev_fd < 0) {
        int e = errno == ENOENT ? ENODEV : errno;
        return kvm_thread_error(e, "cannot open %s: %s", dev, strerror(errno));
    }
    int version = ioctl(dev_fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        close(dev_fd);
        return kvm_thread_error(EPROTO, "%s: KVM API version %d, expected %d", dev, version,
                                KVM_API_VERSION);
    }
    if (!check_ext(dev_fd, KVM_CAP_USER_MEMORY)) {
        close(dev_fd);
        return kvm_thread_error(EPROTO, "%s: KVM lacks KVM_CAP_USER_MEMORY", dev);
    }
    int vm_fd;
    do
        vm_fd = ioctl(dev_fd, KVM_CREATE_VM, 0);
    while (vm_fd < 0 && errno == EINTR);
    if (vm_fd < 0) {
        int e = errno;
        close(dev_fd);
        return kvm_thread_error(e, "KVM_CREATE_VM: %s", strerror(e));
    }
    MemregionKvm *kvm = calloc(1, sizeof(*kvm));
    if (!kvm) {
        close(vm_fd);
        close(dev_fd);
        return kvm_thread_error(ENOMEM, "memregion_kvm_open: out of memory");
    }
    kvm->dev_fd = dev_fd;
    kvm->vm_fd = vm_fd;

    int nr = check_ext(vm_fd, KVM_CAP_NR_MEMSLOTS);
    if (nr <= 0)
        nr = 32; /* KVM's historic default when the capability is missing */
    kvm->nr_slot_ids = (unsigned)nr;
    if (config->max_slots && config->max_slots < kvm->nr_slot_ids)
        kvm->nr_slot_ids = config->max_slots;
    kvm->max_slot_size = KVM_MAX_SLOT_PAGES * KVM_PAGE_SIZE;
    if (config->max_slot_size && config->max_slot_size < kvm->max_slot_size)
        kvm->max_slot_size = config->max_slot_size & ~(KVM_PAGE_SIZE - 1);
    kvm->readonly_slots = !config->no_readonly_slots && check_ext(vm_fd, KVM_CAP_READONLY_MEM);
    kvm->ring_page = check_ext(vm_fd, KVM_CAP_COALESCED_MMIO);
    kvm->coalesced_mmio = kvm->ring_page > 0;
    kvm->coalesced_pio = kvm->coalesced_mmio && check_ext(vm_fd, KVM_CAP_COALESCED_PIO);
    kvm->ring_max = (unsigned)((KVM_PAGE_SIZE - sizeof(struct kvm_coalesced_mmio_ring)) /
                               sizeof(struct kvm_coalesced_mmio));
    int mmap_size = ioctl(dev_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    kvm->vcpu_mmap_size = mmap_size > 0 ? (size_t)mmap_size : 0;
    kvm->on_error = config->on_error;
    kvm->error_opaque = config->error_opaque;

    size_t words = (kvm->nr_slot_ids + 8 * sizeof(long) - 1) / (8 * sizeof(long));
    kvm->id_used = calloc(words, sizeof(long));
    kvm->id_ever = calloc(words, sizeof(long));
    if (!kvm->id_used || !kvm->id_ever || !kvm->vcpu_mmap_size) {
        int e = kvm->vcpu_mmap_size ? ENOMEM : EPROTO;
        free(kvm->id_used);
        free(kvm->id_ever);
        free(kvm);
        close(vm_fd);
        close(dev_fd);
        return kvm_thread_error(e, "memregion_kvm_open: %s",
                                e == ENOMEM ? "out of memory" : "KVM_GET_VCPU_MMAP_SIZE failed");
    }
    pthread_mutexattr_t recursive;
    pthread_mutexattr_init(&recursive);
    pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
    /* Recursive: a device reached by draining may flush the ring itself. */
    pthread_mutex_init(&kvm->ring_lock, &recursive);
    pthread_mutexattr_destroy(&recursive);
    pthread_mutex_init(&kvm->vcpu_lock, NULL);
    pthread_mutex_init(&kvm->err_lock, NULL);

    kvm->mem_listener.kvm = kvm;
    kvm->mem_listener.listener.name = "kvm-memory";
    kvm->mem_listener.listener.priority = 10;
    kvm_slots_init_listener(&kvm->mem_listener.listener);
    kvm_io_init_listener(&kvm->mem_listener.listener);
    kvm->io_listener.kvm = kvm;
    kvm->io_listener.pio = true;
    kvm->io_listener.listener.name = "kvm-io";
    kvm->io_listener.listener.priority = 10;
    kvm_io_init_listener(&kvm->io_listener.listener);
    *out = kvm;
    return 0;
}

void memregion_kvm_close(MemregionKvm *kvm)
{
    if (!kvm)
        return;
    memregion_kvm_detach(kvm);
    while (kvm->vcpus)
        memregion_kvm_vcpu_destroy(kvm->vcpus);
    kvm_slots_free(kvm);
    kvm_io_free(kvm);
    close(kvm->vm_fd);
    close(kvm->dev_fd);
    pthread_mutex_destroy(&kvm->ring_lock);
    pthread_mutex_destroy(&kvm->vcpu_lock);
    pthread_mutex_destroy(&kvm->err_lock);
    free(kvm);
}

int memregion_kvm_vm_fd(const MemregionKvm *kvm)
{
    return kvm ? kvm->vm_fd : -1;
}

int memregion_kvm_dev_fd(const MemregionKvm *kvm)
{
    return kvm ? kvm->dev_fd : -1;
}

/* ---- attaching address spaces -------------------------------------------------------- */

static int attach(MemregionKvm *kvm, KvmListener *kl, AddressSpace *as, const char *what)
{
    if (!kvm || !as)
        return kvm_thread_error(EINVAL, "memregion_kvm_attach_%s: NULL argument", what);
    if (kl->attached)
        return kvm_thread_error(EBUSY, "memregion_kvm_attach_%s: a space is already attached",
                                what);
    pthread_mutex_lock(&kvm->ring_lock);
    if (kl->pio)
        kvm->ring_io = as;
    else
        kvm->ring_mem = as;
    pthread_mutex_unlock(&kvm->ring_lock);
    int r = memory_listener_register(&kl->listener, as);
    if (r < 0) {
        pthread_mutex_lock(&kvm->ring_lock);
        if (kl->pio)
            kvm->ring_io = NULL;
        else
            kvm->ring_mem = NULL;
        pthread_mutex_unlock(&kvm->ring_lock);
        return kvm_thread_error(-r, "memregion_kvm_attach_%s: %s", what, memregion_last_error());
    }
    kl->attached = true;
    return 0;
}

int memregion_kvm_attach_memory(MemregionKvm *kvm, AddressSpace *as)
{
    return attach(kvm, kvm ? &kvm->mem_listener : NULL, as, "memory");
}

int memregion_kvm_attach_io(MemregionKvm *kvm, AddressSpace *as)
{
    return attach(kvm, kvm ? &kvm->io_listener : NULL, as, "io");
}

void memregion_kvm_detach(MemregionKvm *kvm)
{
    if (!kvm)
        return;
    /* Apply what the guest buffered before the zones go away. */
    memregion_kvm_flush_coalesced(kvm);
    KvmListener *all[2] = {&kvm->io_listener, &kvm->mem_listener};
    for (int i = 0; i < 2; i++) {
        if (!all[i]->attached)
            continue;
        memory_listener_unregister(&all[i]->listener);
        all[i]->attached = false;
        pthread_mutex_lock(&kvm->ring_lock);
        if (all[i]->pio)
            kvm->ring_io = NULL;
        else
            kvm->ring_mem = NULL;
        pthread_mutex_unlock(&kvm->ring_lock);
    }
}

/* ---- statistics ------------------------------------------------------------------ */

static void add_exits(MemregionKvmStats *to, const MemregionKvmStats *from)
{
    to->exit_mmio_read += STAT_GET(from->exit_mmio_read);
    to->exit_mmio_write += STAT_GET(from->exit_mmio_write);
    to->exit_pio_in += STAT_GET(from->exit_pio_in);
    to->exit_pio_out += STAT_GET(from->exit_pio_out);
    to->exit_hlt += STAT_GET(from->exit_hlt);
    to->exit_intr += STAT_GET(from->exit_intr);
    to->exit_shutdown += STAT_GET(from->exit_shutdown);
    to->exit_other += STAT_GET(from->exit_other);
    to->dispatch_errors += STAT_GET(from->dispatch_errors);
}

void memregion_kvm_get_stats(const MemregionKvm *kvm, MemregionKvmStats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!kvm)
        return;
    const MemregionKvmStats *s = &kvm->stats;
    out->set_memory_region = STAT_GET(s->set_memory_region);
    out->slots_created = STAT_GET(s->slots_created);
    out->slots_deleted = STAT_GET(s->slots_deleted);
    out->slots_reused = STAT_GET(s->slots_reused);
    out->slot_flag_updates = STAT_GET(s->slot_flag_updates);
    out->slots_active = STAT_GET(s->slots_active);
    out->ranges_mmio = STAT_GET(s->ranges_mmio);
    out->dirty_log_ioctls = STAT_GET(s->dirty_log_ioctls);
    out->dirty_pages = STAT_GET(s->dirty_pages);
    out->coalesced_zones_added = STAT_GET(s->coalesced_zones_added);
    out->coalesced_zones_removed = STAT_GET(s->coalesced_zones_removed);
    out->coalesced_drained = STAT_GET(s->coalesced_drained);
    out->ioeventfds_added = STAT_GET(s->ioeventfds_added);
    out->ioeventfds_removed = STAT_GET(s->ioeventfds_removed);
    out->errors = STAT_GET(s->errors);
    MemregionKvm *k = (MemregionKvm *)kvm;
    pthread_mutex_lock(&k->vcpu_lock);
    add_exits(out, &k->retired);
    for (MemregionKvmVcpu *v = k->vcpus; v; v = v->next)
        add_exits(out, &v->stats);
    pthread_mutex_unlock(&k->vcpu_lock);
}

void memregion_kvm_vcpu_get_stats(const MemregionKvmVcpu *vcpu, MemregionKvmStats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (vcpu)
        add_exits(out, &vcpu->stats);
}

void kvm_vm_retire_vcpu_stats(MemregionKvm *kvm, const MemregionKvmVcpu *vcpu)
{
    add_exits(&kvm->retired, &vcpu->stats);
}
