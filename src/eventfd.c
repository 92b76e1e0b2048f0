/*
 * ioeventfd: a guest write that matches an entry signals a real eventfd(2)
 * instead of calling the device. Entries are attachments of the region:
 * listeners (KVM) get eventfd_add/eventfd_del as the region is mapped, moved
 * and unmapped; the software dispatch path signals the eventfd itself.
 *
 * The entry set is an immutable array published with RCU, so the dispatch
 * path reads it without a lock.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region_tree.h"
#include "listeners.h"

static bool same_entry(const MrEventfd *a, const MrEventfd *b)
{
    return a->addr == b->addr && a->size == b->size && a->match_data == b->match_data &&
           (!a->match_data || a->data == b->data) && a->fd == b->fd;
}

static void set_free_rcu(struct rcu_head *head)
{
    free(caa_container_of(head, MrEventfdSet, rcu));
}

/* Publish a copy of @old with @add appended or entry @drop removed. */
static void replace_set(RegionExt *ext, const MrEventfd *add, size_t drop)
{
    MrEventfdSet *old = ext->eventfds;
    size_t n = old ? old->nr : 0;
    size_t nr = add ? n + 1 : n - 1;
    MrEventfdSet *set = NULL;
    if (nr) {
        set = malloc(sizeof(*set) + nr * sizeof(MrEventfd));
        if (!set)
            mr_oom(__func__);
        set->nr = 0;
        for (size_t i = 0; i < n; i++)
            if (add || i != drop)
                set->e[set->nr++] = old->e[i];
        if (add)
            set->e[set->nr++] = *add;
    }
    rcu_assign_pointer(ext->eventfds, set);
    if (old)
        mr_defer_free(&old->rcu, set_free_rcu, sizeof(*old) + old->nr * sizeof(old->e[0]));
}

static int find_entry(const MemoryRegion *mr, const MrEventfd *e)
{
    const RegionExt *ext = mr->ext;
    if (!ext || !ext->eventfds)
        return -1;
    for (size_t i = 0; i < ext->eventfds->nr; i++)
        if (same_entry(&ext->eventfds->e[i], e))
            return (int)i;
    return -1;
}

static int check_args(MemoryRegion *mr, hwaddr addr, unsigned size, int fd)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "eventfd: region is not initialised");
    if (mr->kind != MR_KIND_MMIO && mr->kind != MR_KIND_ROMD)
        return mr_error(EINVAL, "region '%s': eventfds attach to callback regions", mr->name);
    if (size != 0 && size != 1 && size != 2 && size != 4 && size != 8)
        return mr_error(EINVAL, "eventfd size %u is not 0, 1, 2, 4 or 8", size);
    if ((mr_size_t)addr + (size ? size : 1) > mr->size)
        return mr_error(EINVAL, "region '%s': eventfd at 0x%llx is outside the region", mr->name,
                        (unsigned long long)addr);
    if (fd < 0)
        return mr_error(EINVAL, "eventfd: bad file descriptor %d", fd);
    return 0;
}

int memory_region_add_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size, bool match_data,
                              uint64_t data, int fd)
{
    int err = check_args(mr, addr, size, fd);
    if (err)
        return err;
    MrEventfd e = {.addr = addr, .size = size, .match_data = match_data, .data = data, .fd = fd};
    memory_region_transaction_begin();
    if (find_entry(mr, &e) >= 0) {
        err = mr_error(EEXIST, "region '%s': this eventfd is already attached", mr->name);
    } else {
        replace_set(region_ext(mr), &e, 0);
        listener_attachment_changed(mr, ATTACH_EVENTFD, NULL, 0, &e, 1);
    }
    memory_region_transaction_commit();
    return err;
}

int memory_region_del_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size, bool match_data,
                              uint64_t data, int fd)
{
    /* No range check: the region may have shrunk since the entry was added. */
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "del_eventfd: region is not initialised");
    int err = 0;
    MrEventfd e = {.addr = addr, .size = size, .match_data = match_data, .data = data, .fd = fd};
    memory_region_transaction_begin();
    int i = find_entry(mr, &e);
    if (i < 0) {
        err = mr_error(ENOENT, "region '%s': no such eventfd", mr->name);
    } else {
        MrEventfd gone = region_ext(mr)->eventfds->e[i];
        replace_set(mr->ext, NULL, (size_t)i);
        listener_attachment_changed(mr, ATTACH_EVENTFD, &gone, 1, NULL, 0);
    }
    memory_region_transaction_commit();
    return err;
}

bool eventfd_try_signal(MemoryRegion *mr, hwaddr off, const uint8_t *buf, uint64_t n)
{
    const RegionExt *ext = mr->ext;
    if (!ext || n > 8)
        return false;
    const MrEventfdSet *set = rcu_dereference(ext->eventfds);
    if (!set)
        return false;
    uint64_t value = 0;
    bool big = memory_region_endianness(mr) == DEVICE_BIG_ENDIAN;
    for (unsigned i = 0; i < n; i++)
        value |= (uint64_t)buf[i] << (8 * (big ? n - 1 - i : i));
    for (size_t i = 0; i < set->nr; i++) {
        const MrEventfd *e = &set->e[i];
        if (e->addr != off || (e->size && e->size != n) || (e->match_data && e->data != value))
            continue;
        uint64_t one = 1;
        ssize_t r = write(e->fd, &one, sizeof(one));
        (void)r; /* a full counter (EAGAIN) already wakes the reader */
        return true;
    }
    return false;
}
