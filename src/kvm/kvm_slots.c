/*
 * KVM memory slots from the memory listener: one slot per RAM-backed flat
 * range (its page-aligned part), created on region_add, deleted on
 * region_del, flag-flipped on log_start/log_stop, read on log_sync.
 *
 * Invariant: kvm->slots holds exactly the slots KVM has, sorted by the
 * start of the flat range each serves; id_used has a bit for each of them
 * (and for numbers lost to a failed delete, which are never handed out).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

#define BITS_PER_LONG (8 * sizeof(unsigned long))

static MemregionKvm *kvm_of(MemoryListener *l)
{
    return KVM_CONTAINER_OF(l, KvmListener, listener)->kvm;
}

/* ---- slot numbers ---------------------------------------------------------- */

static bool id_test(const unsigned long *map, unsigned id)
{
    return map[id / BITS_PER_LONG] & (1ul << (id % BITS_PER_LONG));
}

static void id_set(unsigned long *map, unsigned id, bool on)
{
    if (on)
        map[id / BITS_PER_LONG] |= 1ul << (id % BITS_PER_LONG);
    else
        map[id / BITS_PER_LONG] &= ~(1ul << (id % BITS_PER_LONG));
}

/* The lowest free slot number, or -1 when all are taken. */
static int id_alloc(MemregionKvm *kvm)
{
    size_t words = (kvm->nr_slot_ids + BITS_PER_LONG - 1) / BITS_PER_LONG;
    for (size_t w = 0; w < words; w++) {
        if (kvm->id_used[w] == ~0ul)
            continue;
        unsigned id = (unsigned)(w * BITS_PER_LONG) + (unsigned)__builtin_ctzl(~kvm->id_used[w]);
        if (id >= kvm->nr_slot_ids)
            return -1;
        return (int)id;
    }
    return -1;
}

/* ---- the sorted slot table ------------------------------------------------------ */

/* Index of the slot serving the range that starts at @addr, or where it would go. */
static size_t slot_search(const MemregionKvm *kvm, hwaddr addr, bool *found)
{
    size_t lo = 0, hi = kvm->nr_slots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kvm->slots[mid]->range_addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < kvm->nr_slots && kvm->slots[lo]->range_addr == addr;
    return lo;
}

static KvmSlot *slot_find(MemregionKvm *kvm, const FlatRange *fr, size_t *index)
{
    bool found;
    size_t i = slot_search(kvm, fr->addr, &found);
    if (!found || kvm->slots[i]->mr != fr->mr)
        return NULL;
    if (index)
        *index = i;
    return kvm->slots[i];
}

static bool slot_insert(MemregionKvm *kvm, size_t at, KvmSlot *s)
{
    void *slots = kvm->slots;
    bool failed =
        mr_grow_array(&slots, &kvm->cap_slots, kvm->nr_slots + 1, sizeof(*kvm->slots), 64);
    kvm->slots = slots;
    if (failed)
        return false;
    memmove(&kvm->slots[at + 1], &kvm->slots[at], (kvm->nr_slots - at) * sizeof(*kvm->slots));
    kvm->slots[at] = s;
    kvm->nr_slots++;
    return true;
}

static void slot_remove(MemregionKvm *kvm, size_t at)
{
    free(kvm->slots[at]->bitmap);
    free(kvm->slots[at]);
    memmove(&kvm->slots[at], &kvm->slots[at + 1], (kvm->nr_slots - at - 1) * sizeof(*kvm->slots));
    kvm->nr_slots--;
}

void kvm_slots_free(MemregionKvm *kvm)
{
    while (kvm->nr_slots)
        slot_remove(kvm, kvm->nr_slots - 1);
    free(kvm->slots);
    free(kvm->id_used);
    free(kvm->id_ever);
    kvm->slots = NULL;
}

/* ---- ioctls ------------------------------------------------------------------------ */

static int set_memory_region(MemregionKvm *kvm, uint32_t id, uint32_t flags, uint64_t gpa,
                             uint64_t size, void *host)
{
    struct kvm_userspace_memory_region r = {
        .slot = id,
        .flags = flags,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    STAT_INC(kvm->stats.set_memory_region);
    int ret;
    do
        ret = ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
    while (ret < 0 && errno == EINTR);
    return ret < 0 ? -errno : 0;
}

static const char *explain(int err)
{
    switch (err) {
    case EEXIST:
        return "it overlaps a slot KVM already has (EEXIST)";
    case EINVAL:
        return "KVM rejected the slot parameters (EINVAL)";
    case ENOMEM:
        return "KVM is out of memory (ENOMEM)";
    case EFAULT:
        return "the host memory is not accessible (EFAULT)";
    default:
        return strerror(err);
    }
}

/* Pull KVM's dirty bits of @s into the region's bitmaps. */
static void slot_sync(MemregionKvm *kvm, KvmSlot *s)
{
    uint64_t pages = s->size / KVM_PAGE_SIZE;
    size_t words = (size_t)((pages + BITS_PER_LONG - 1) / BITS_PER_LONG);
    if (!s->bitmap) {
        s->bitmap = calloc(words, sizeof(unsigned long));
        if (!s->bitmap) {
            kvm_record_error(kvm, ENOMEM, "dirty log of slot %u: out of memory", s->id);
            return;
        }
    }
    memset(s->bitmap, 0, words * sizeof(unsigned long));
    struct kvm_dirty_log log = {.slot = s->id, .dirty_bitmap = s->bitmap};
    STAT_INC(kvm->stats.dirty_log_ioctls);
    if (ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        int e = errno;
        kvm_record_error(kvm, e, "KVM_GET_DIRTY_LOG of slot %u ('%s' at 0x%llx): %s", s->id,
                         memory_region_name(s->mr), (unsigned long long)s->gpa, strerror(e));
        return;
    }
    uint64_t count = 0;
    for (size_t w = 0; w < words; w++) {
        unsigned long bits = s->bitmap[w];
        while (bits) {
            /* One run of consecutive dirty pages per call. */
            unsigned first = (unsigned)__builtin_ctzl(bits);
            unsigned long rest = bits >> first;
            unsigned n =
                (~rest == 0) ? (unsigned)(BITS_PER_LONG - first) : (unsigned)__builtin_ctzl(~rest);
            uint64_t page = (uint64_t)w * BITS_PER_LONG + first;
            memory_region_set_dirty(s->mr, s->offset_in_region + page * KVM_PAGE_SIZE,
                                    (hwaddr)n * KVM_PAGE_SIZE);
            count += n;
            bits = (first + n >= BITS_PER_LONG) ? 0 : bits & ~(((1ul << n) - 1) << first);
        }
    }
    STAT_ADD(kvm->stats.dirty_pages, count);
}

/* ---- what a range needs ---------------------------------------------------------- */

static bool ram_backed(const FlatRange *fr)
{
    MemoryRegionKind k = memory_region_kind(fr->mr);
    return k == MR_KIND_RAM || (k == MR_KIND_ROMD && fr->romd_mode);
}

/* A ROM device's writes go to its callbacks: its slot is read-only even if the range is not. */
static bool range_readonly(const FlatRange *fr)
{
    return fr->readonly || memory_region_kind(fr->mr) == MR_KIND_ROMD;
}

static uint32_t wanted_flags(const FlatRange *fr)
{
    if (range_readonly(fr))
        return KVM_MEM_READONLY;
    return fr->dirty_log_mask ? KVM_MEM_LOG_DIRTY_PAGES : 0;
}

/* ---- listener callbacks -------------------------------------------------------------- */

static void slot_region_add(MemoryListener *l, const FlatRange *fr)
{
    MemregionKvm *kvm = kvm_of(l);
    if (!ram_backed(fr))
        return;
    if (range_readonly(fr) && !kvm->readonly_slots) {
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    /* The largest page-aligned part of the range (documented in kvm.h). */
    mr_size_t start = ((mr_size_t)fr->addr + KVM_PAGE_SIZE - 1) & ~(mr_size_t)(KVM_PAGE_SIZE - 1);
    mr_size_t end = ((mr_size_t)fr->addr + fr->size) & ~(mr_size_t)(KVM_PAGE_SIZE - 1);
    uint8_t *base = memory_region_get_ram_ptr(fr->mr);
    if (!base || end <= start || end - start > kvm->max_slot_size) {
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    hwaddr offset = fr->offset_in_region + (hwaddr)(start - fr->addr);
    uint8_t *host = base + offset;
    if ((uintptr_t)host & (KVM_PAGE_SIZE - 1)) {
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    bool found;
    size_t at = slot_search(kvm, fr->addr, &found);
    if (found) {
        kvm_record_error(kvm, EEXIST, "range 0x%llx of '%s': a slot already serves this address",
                         (unsigned long long)fr->addr, memory_region_name(fr->mr));
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    int id = id_alloc(kvm);
    if (id < 0) {
        kvm_record_error(kvm, ENOSPC,
                         "slot limit reached (%u slots): range 0x%llx-0x%llx of '%s' stays MMIO",
                         kvm->nr_slot_ids, (unsigned long long)start, (unsigned long long)(end - 1),
                         memory_region_name(fr->mr));
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    KvmSlot *s = calloc(1, sizeof(*s));
    if (!s) {
        kvm_record_error(kvm, ENOMEM, "slot for '%s': out of memory", memory_region_name(fr->mr));
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    s->id = (uint32_t)id;
    s->flags = wanted_flags(fr);
    s->range_addr = fr->addr;
    s->gpa = (uint64_t)start;
    s->size = (uint64_t)(end - start);
    s->host = host;
    s->mr = fr->mr;
    s->offset_in_region = offset;
    int r = set_memory_region(kvm, s->id, s->flags, s->gpa, s->size, s->host);
    if (r < 0) {
        kvm_record_error(kvm, -r, "cannot create slot %u for '%s' at 0x%llx-0x%llx: %s", s->id,
                         memory_region_name(fr->mr), (unsigned long long)s->gpa,
                         (unsigned long long)(s->gpa + s->size - 1), explain(-r));
        free(s);
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    if (!slot_insert(kvm, at, s)) {
        /* KVM has the slot but we cannot track it: take it back. */
        set_memory_region(kvm, s->id, 0, s->gpa, 0, s->host);
        kvm_record_error(kvm, ENOMEM, "slot table for '%s': out of memory",
                         memory_region_name(fr->mr));
        free(s);
        STAT_INC(kvm->stats.ranges_mmio);
        return;
    }
    if (id_test(kvm->id_ever, s->id))
        STAT_INC(kvm->stats.slots_reused);
    id_set(kvm->id_ever, s->id, true);
    id_set(kvm->id_used, s->id, true);
    STAT_INC(kvm->stats.slots_created);
    STAT_INC(kvm->stats.slots_active);
}

static void slot_region_del(MemoryListener *l, const FlatRange *fr)
{
    MemregionKvm *kvm = kvm_of(l);
    size_t at;
    KvmSlot *s = slot_find(kvm, fr, &at);
    if (!s)
        return;
    if (s->flags & KVM_MEM_LOG_DIRTY_PAGES)
        slot_sync(kvm, s); /* the pages the guest dirtied stay dirty in the region */
    int r = set_memory_region(kvm, s->id, 0, s->gpa, 0, s->host);
    if (r < 0) {
        /* KVM keeps the slot: its number is never handed out again. */
        kvm_record_error(kvm, -r, "cannot delete slot %u of '%s' at 0x%llx: %s", s->id,
                         memory_region_name(s->mr), (unsigned long long)s->gpa, explain(-r));
    } else {
        id_set(kvm->id_used, s->id, false);
        STAT_INC(kvm->stats.slots_deleted);
    }
    STAT_ADD(kvm->stats.slots_active, (uint64_t)-1);
    slot_remove(kvm, at);
}

static void slot_update_log(MemregionKvm *kvm, const FlatRange *fr)
{
    KvmSlot *s = slot_find(kvm, fr, NULL);
    if (!s)
        return;
    uint32_t flags = wanted_flags(fr);
    if (flags == s->flags)
        return;
    if (s->flags & KVM_MEM_LOG_DIRTY_PAGES)
        slot_sync(kvm, s);
    int r = set_memory_region(kvm, s->id, flags, s->gpa, s->size, s->host);
    if (r < 0) {
        kvm_record_error(kvm, -r, "cannot %s dirty logging on slot %u of '%s': %s",
                         (flags & KVM_MEM_LOG_DIRTY_PAGES) ? "start" : "stop", s->id,
                         memory_region_name(s->mr), explain(-r));
        return;
    }
    s->flags = flags;
    STAT_INC(kvm->stats.slot_flag_updates);
}

static void slot_log_start(MemoryListener *l, const FlatRange *fr, int old_mask, int new_mask)
{
    (void)old_mask, (void)new_mask;
    slot_update_log(kvm_of(l), fr);
}

static void slot_log_stop(MemoryListener *l, const FlatRange *fr, int old_mask, int new_mask)
{
    (void)old_mask, (void)new_mask;
    slot_update_log(kvm_of(l), fr);
}

static void slot_log_sync(MemoryListener *l, const FlatRange *fr)
{
    MemregionKvm *kvm = kvm_of(l);
    KvmSlot *s = slot_find(kvm, fr, NULL);
    if (s && (s->flags & KVM_MEM_LOG_DIRTY_PAGES))
        slot_sync(kvm, s);
}

void kvm_slots_init_listener(MemoryListener *l)
{
    l->region_add = slot_region_add;
    l->region_del = slot_region_del;
    l->log_start = slot_log_start;
    l->log_stop = slot_log_stop;
    l->log_sync = slot_log_sync;
}

size_t memregion_kvm_get_slots(const MemregionKvm *kvm, MemregionKvmSlot *out, size_t max)
{
    if (!kvm)
        return 0;
    for (size_t i = 0; i < kvm->nr_slots && i < max && out; i++) {
        const KvmSlot *s = kvm->slots[i];
        out[i] = (MemregionKvmSlot){
            .slot = s->id,
            .flags = s->flags,
            .guest_phys_addr = s->gpa,
            .size = s->size,
            .host = s->host,
            .mr = s->mr,
            .offset_in_region = s->offset_in_region,
        };
    }
    return kvm->nr_slots;
}
