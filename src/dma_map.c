/*
 * DMA mapping (address_space_map/unmap) with bounce buffers and map
 * clients, and address_space_access_valid.
 *
 * Each address space gets, on first use, a small state: its live mappings
 * in a hash table by pointer (unmap must know the region of a direct
 * pointer, or the origin of a bounce buffer), its bounce-buffer budget and
 * its waiting map clients, all under one mutex of that address space. The
 * writer lock is never taken: map and unmap run on any thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "access_path.h"

#define MAP_BUCKETS 64

typedef struct MapRec {
    struct MapRec *next;
    void *ptr;
    MemoryRegion *mr; /* direct: the RAM region (dma_maps counts us); NULL: bounce */
    hwaddr off;       /* direct: offset in mr; bounce: address in the address space */
    hwaddr len;
    MemTxAttrs attrs;
} MapRec;

typedef struct AsDma {
    pthread_mutex_t lock;
    size_t max_bounce, bounce_in_use;
    MapRec *buckets[MAP_BUCKETS];
    MapRec *free_recs;
    AddressSpaceMapClient *clients;
} AsDma;

/* @as's DMA state, created on first use (any thread). */
static AsDma *as_dma(AddressSpace *as)
{
    AsDma *d = __atomic_load_n(&as->dma, __ATOMIC_ACQUIRE);
    if (d)
        return d;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    pthread_mutex_init(&d->lock, NULL);
    d->max_bounce = MR_DEFAULT_MAX_BOUNCE_BUFFER_SIZE;
    AsDma *expected = NULL;
    if (!__atomic_compare_exchange_n(&as->dma, &expected, d, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pthread_mutex_destroy(&d->lock);
        free(d);
        return expected;
    }
    return d;
}

void dma_map_as_free(AddressSpace *as)
{
    AsDma *d = as->dma;
    if (!d)
        return;
    for (size_t i = 0; i < MAP_BUCKETS; i++)
        for (MapRec *r = d->buckets[i], *next; r; r = next) {
            next = r->next; /* a mapping never given back: drop it */
            if (r->mr)
                __atomic_sub_fetch(&r->mr->dma_maps, 1, __ATOMIC_RELEASE);
            else
                free(r->ptr);
            free(r);
        }
    for (MapRec *r = d->free_recs, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    pthread_mutex_destroy(&d->lock);
    free(d);
    as->dma = NULL;
}

static inline size_t bucket_of(const void *p)
{
    return ((uintptr_t)p >> 6) % MAP_BUCKETS;
}

/* Remember a mapping; false when out of memory. */
static bool rec_add(AsDma *d, void *ptr, MemoryRegion *mr, hwaddr off, hwaddr len, MemTxAttrs attrs)
{
    pthread_mutex_lock(&d->lock);
    MapRec *r = d->free_recs;
    if (r)
        d->free_recs = r->next;
    pthread_mutex_unlock(&d->lock);
    if (!r && !(r = malloc(sizeof(*r))))
        return false;
    *r = (MapRec){.ptr = ptr, .mr = mr, .off = off, .len = len, .attrs = attrs};
    pthread_mutex_lock(&d->lock);
    MapRec **b = &d->buckets[bucket_of(ptr)];
    r->next = *b;
    *b = r;
    pthread_mutex_unlock(&d->lock);
    return true;
}

/* ---- map -------------------------------------------------------------------- */

static bool direct_for(const FlatRange *fr, bool is_write)
{
    return is_write ? fr_writes_direct(fr, false) : fr_reads_direct(fr);
}

/* Inside a read-side section: the bytes after @w's piece that continue it in
 * the same memory (IOMMU pages that translate contiguously), up to @len. */
static hwaddr extend_direct(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write,
                            MemTxAttrs attrs, const MrWalk *w)
{
    hwaddr done = w->len;
    while (done < len && addr + done != 0) {
        MrWalk next;
        if (iommu_walk(as, addr + done, len - done, is_write, attrs, &next) != MEMTX_OK ||
            next.fr->mr != w->fr->mr || next.off != w->off + done || !direct_for(next.fr, is_write))
            break;
        done += next.len;
    }
    return done;
}

static void *map_bounce(AddressSpace *as, AsDma *d, hwaddr addr, hwaddr len, bool is_write,
                        MemTxAttrs attrs, hwaddr *plen)
{
    pthread_mutex_lock(&d->lock);
    size_t avail = d->max_bounce > d->bounce_in_use ? d->max_bounce - d->bounce_in_use : 0;
    size_t l = len < avail ? (size_t)len : avail;
    d->bounce_in_use += l;
    pthread_mutex_unlock(&d->lock);
    void *buf = l ? malloc(l) : NULL;
    if (buf && !rec_add(d, buf, NULL, addr, l, attrs)) {
        free(buf);
        buf = NULL;
    }
    if (!buf) {
        pthread_mutex_lock(&d->lock);
        d->bounce_in_use -= l;
        pthread_mutex_unlock(&d->lock);
        return NULL;
    }
    if (!is_write)
        address_space_read(as, addr, attrs, buf, l);
    *plen = l;
    return buf;
}

void *address_space_map(AddressSpace *as, hwaddr addr, hwaddr *plen, bool is_write,
                        MemTxAttrs attrs)
{
    if (!as || !plen)
        return NULL;
    hwaddr len = *plen;
    *plen = 0;
    AsDma *d = len ? as_dma(as) : NULL;
    if (!d)
        return NULL;
    rcu_read_lock();
    MrWalk w;
    if (iommu_walk(as, addr, len, is_write, attrs, &w) != MEMTX_OK) {
        rcu_read_unlock();
        return NULL; /* unassigned, unmapped IOVA or permission fault */
    }
    if (!direct_for(w.fr, is_write)) {
        hwaddr piece = w.len;
        rcu_read_unlock();
        return map_bounce(as, d, addr, piece, is_write, attrs, plen);
    }
    MemoryRegion *mr = w.fr->mr;
    hwaddr done = extend_direct(as, addr, len, is_write, attrs, &w);
    uint8_t *p = mr->ram + w.off;
    /* Counted while a reader still sees it: destroy waits for us (region.c). */
    __atomic_add_fetch(&mr->dma_maps, 1, __ATOMIC_ACQ_REL);
    rcu_read_unlock();
    if (!rec_add(d, p, mr, w.off, done, attrs)) {
        __atomic_sub_fetch(&mr->dma_maps, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    *plen = done;
    return p;
}

/* ---- unmap and map clients ------------------------------------------------------ */

/* Run the unregistered clients of @list (linked by next), outside the
 * caller's read section: their code may wait for other threads. */
static void run_clients(AddressSpaceMapClient *list)
{
    mr_section_suspend(MR_SUSPEND_MAP_CLIENTS);
    for (AddressSpaceMapClient *c = list, *next; c; c = next) {
        next = c->next; /* the callback may register it again */
        c->cb(c->opaque);
    }
    mr_section_resume();
}

static void run_map_clients(AsDma *d)
{
    pthread_mutex_lock(&d->lock);
    AddressSpaceMapClient *list = d->clients;
    d->clients = NULL;
    for (AddressSpaceMapClient *c = list; c; c = c->next)
        __atomic_store_n(&c->registered, false, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&d->lock);
    run_clients(list);
}

void address_space_unmap(AddressSpace *as, void *buffer, hwaddr len, bool is_write,
                         hwaddr access_len)
{
    AsDma *d = as ? __atomic_load_n(&as->dma, __ATOMIC_ACQUIRE) : NULL;
    MapRec *r = NULL;
    if (d && buffer) {
        pthread_mutex_lock(&d->lock);
        MapRec **pp = &d->buckets[bucket_of(buffer)];
        while (*pp && (*pp)->ptr != buffer)
            pp = &(*pp)->next;
        if ((r = *pp))
            *pp = r->next;
        pthread_mutex_unlock(&d->lock);
    }
    if (!r) {
        mr_error(EINVAL, "address_space_unmap: %p is not a live mapping of this address space",
                 buffer);
        return;
    }
    (void)len;
    if (access_len > r->len)
        access_len = r->len;
    if (r->mr) {
        if (is_write && access_len)
            memory_region_set_dirty(r->mr, r->off, access_len);
        __atomic_sub_fetch(&r->mr->dma_maps, 1, __ATOMIC_RELEASE);
    } else {
        if (is_write && access_len)
            address_space_write(as, r->off, r->attrs, buffer, access_len);
        free(buffer);
    }
    pthread_mutex_lock(&d->lock);
    bool bounce = !r->mr;
    if (bounce)
        d->bounce_in_use -= r->len;
    r->next = d->free_recs;
    d->free_recs = r;
    pthread_mutex_unlock(&d->lock);
    if (bounce)
        run_map_clients(d);
}

int address_space_set_max_bounce_buffer_size(AddressSpace *as, size_t bytes)
{
    if (!as || !bytes)
        return mr_error(EINVAL, "address_space_set_max_bounce_buffer_size: no space or 0 bytes");
    AsDma *d = as_dma(as);
    if (!d)
        return mr_error(ENOMEM, "address_space_set_max_bounce_buffer_size: out of memory");
    pthread_mutex_lock(&d->lock);
    d->max_bounce = bytes;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

size_t address_space_bounce_buffer_size(AddressSpace *as)
{
    AsDma *d = as ? __atomic_load_n(&as->dma, __ATOMIC_ACQUIRE) : NULL;
    if (!d)
        return 0;
    pthread_mutex_lock(&d->lock);
    size_t n = d->bounce_in_use;
    pthread_mutex_unlock(&d->lock);
    return n;
}

int address_space_register_map_client(AddressSpace *as, AddressSpaceMapClient *client)
{
    if (!as || !client || !client->cb)
        return mr_error(EINVAL, "address_space_register_map_client: NULL argument");
    AsDma *d = as_dma(as);
    if (!d)
        return mr_error(ENOMEM, "address_space_register_map_client: out of memory");
    pthread_mutex_lock(&d->lock);
    if (client->registered) {
        pthread_mutex_unlock(&d->lock);
        return mr_error(EBUSY, "map client is already registered");
    }
    bool now = d->bounce_in_use == 0;
    if (!now) {
        client->registered = true;
        client->next = d->clients;
        d->clients = client;
    }
    pthread_mutex_unlock(&d->lock);
    if (now) {
        client->next = NULL;
        run_clients(client);
    }
    return 0;
}

void address_space_unregister_map_client(AddressSpace *as, AddressSpaceMapClient *client)
{
    AsDma *d = as ? __atomic_load_n(&as->dma, __ATOMIC_ACQUIRE) : NULL;
    if (!d || !client)
        return;
    pthread_mutex_lock(&d->lock);
    for (AddressSpaceMapClient **pp = &d->clients; *pp; pp = &(*pp)->next)
        if (*pp == client) {
            *pp = client->next;
            client->registered = false;
            break;
        }
    pthread_mutex_unlock(&d->lock);
}

/* ---- access_valid ------------------------------------------------------------------- */

/* Would a callback region take the first guest access of @len bytes at @off? */
static bool callback_access_ok(MemoryRegion *mr, hwaddr off, hwaddr len, bool is_write,
                               MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    if (!ops ||
        (is_write ? !ops->write && !ops->write_with_attrs : !ops->read && !ops->read_with_attrs))
        return false;
    unsigned min = ops->valid.min_access_size ? ops->valid.min_access_size : 1;
    unsigned max = ops->valid.max_access_size ? ops->valid.max_access_size : 8;
    unsigned size = 8;
    while (size > max || size > len || (!ops->valid.unaligned && (off & (size - 1))))
        size >>= 1;
    if (size < min)
        return false;
    return !ops->valid.accepts || ops->valid.accepts(mr->opaque, off, size, is_write, attrs);
}

bool address_space_access_valid(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write,
                                MemTxAttrs attrs)
{
    if (!as)
        return false;
    while (len) {
        rcu_read_lock();
        MrWalk w;
        bool ok = iommu_walk(as, addr, len, is_write, attrs, &w) == MEMTX_OK;
        if (ok) {
            const FlatRange *fr = w.fr;
            if (fr->mr->kind == MR_KIND_RAM)
                ok = !is_write || !fr->readonly;
            else if (is_write || !fr_reads_direct(fr))
                ok = callback_access_ok(fr->mr, w.off, w.len, is_write, attrs);
        }
        rcu_read_unlock();
        if (!ok)
            return false;
        len -= w.len;
        addr += w.len;
        if (len && addr == 0)
            return false; /* past the top of the address space */
    }
    return true;
}
