/*
 * IOMMU regions: the translate callback, its cache, notifiers, and the walk
 * that every access path (dispatch, translate, map, access_valid, caches)
 * takes through IOMMU ranges.
 *
 * The translation cache is a small direct-mapped array per region. Entries
 * are filled by readers on any thread and read without a lock: each entry
 * is a seqlock (odd seq while a filler writes it; a reader retries never, it
 * just misses). The region's generation counts notify events: an entry is
 * valid only when it was filled under the current generation, and a filler
 * records the generation it read before calling translate, so an event that
 * races with a fill makes that entry stale at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "globals.h"
#include "access_path.h"

#define CACHE_BITS      6
#define CACHE_ENTRIES   (1u << CACHE_BITS)
#define CACHE_PAGE_BITS 12

typedef struct IommuCacheEntry {
    uint32_t seq; /* seqlock: odd while being written */
    int32_t idx;
    uint64_t gen; /* region generation it was filled under */
    hwaddr base;  /* iova & ~mask */
    hwaddr mask;
    hwaddr xlat; /* translated_addr & ~mask */
    AddressSpace *as;
    uint32_t perm;
} IommuCacheEntry;

typedef struct MrIommu {
    const IOMMUMemoryRegionOps *ops;
    void *opaque;
    pthread_mutex_t lock;     /* recursive: guards notifiers */
    IOMMUNotifier *notifiers; /* lock */
    uint64_t gen;             /* atomic: bumped by every notify */
    bool cache_on;            /* atomic */
    uint64_t translations;    /* atomic: translate calls */
    IommuCacheEntry cache[CACHE_ENTRIES];
} MrIommu;

/* ---- init and accessors ---------------------------------------------------- */

int memory_region_init_iommu(MemoryRegion *mr, const IOMMUMemoryRegionOps *ops, void *opaque,
                             const char *name, mr_size_t size)
{
    if (!mr || !ops || !ops->translate)
        return mr_error(EINVAL, "memory_region_init_iommu: NULL region or translate");
    if (size == 0)
        return mr_error(EINVAL, "memory_region_init_iommu: size 0");
    MrIommu *st = calloc(1, sizeof(*st));
    if (!st)
        return mr_error(ENOMEM, "memory_region_init_iommu: out of memory");
    int err = memory_region_init_io(mr, NULL, NULL, name, size);
    if (err) {
        free(st);
        return err;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&st->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    st->ops = ops;
    st->opaque = opaque;
    st->cache_on = true;
    st->gen = 1; /* entries start at gen 0: all invalid */
    mr->kind = MR_KIND_IOMMU;
    mr->iommu = st;
    return 0;
}

void iommu_free(MemoryRegion *mr)
{
    /* Notifiers still registered are released: they may be registered again elsewhere. */
    for (IOMMUNotifier *n = mr->iommu->notifiers, *next; n; n = next) {
        next = n->next;
        n->next = NULL;
        n->iommu = NULL;
    }
    pthread_mutex_destroy(&mr->iommu->lock);
    free(mr->iommu);
    mr->iommu = NULL;
}

bool memory_region_is_iommu(const MemoryRegion *mr)
{
    return mr && mr->kind == MR_KIND_IOMMU;
}

void *memory_region_iommu_opaque(const MemoryRegion *mr)
{
    return memory_region_is_iommu(mr) ? mr->iommu->opaque : NULL;
}

static int check_iommu(const MemoryRegion *mr, const char *fn)
{
    if (!memory_region_is_iommu(mr))
        return mr_error(EINVAL, "%s: not an IOMMU region", fn);
    return 0;
}

int memory_region_iommu_num_indexes(MemoryRegion *mr)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    MrIommu *st = mr->iommu;
    return st->ops->num_indexes ? st->ops->num_indexes(mr, st->opaque) : 1;
}

int memory_region_iommu_attrs_to_index(MemoryRegion *mr, MemTxAttrs attrs)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    MrIommu *st = mr->iommu;
    return st->ops->attrs_to_index ? st->ops->attrs_to_index(mr, st->opaque, attrs) : 0;
}

uint64_t memory_region_iommu_get_min_page_size(MemoryRegion *mr)
{
    if (!memory_region_is_iommu(mr))
        return 0;
    MrIommu *st = mr->iommu;
    uint64_t p = st->ops->get_min_page_size ? st->ops->get_min_page_size(mr, st->opaque) : 4096;
    return p ? p : 4096;
}

int memory_region_iommu_set_cache(MemoryRegion *mr, bool on)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    __atomic_store_n(&mr->iommu->cache_on, on, __ATOMIC_RELAXED);
    __atomic_add_fetch(&mr->iommu->gen, 1, __ATOMIC_RELEASE);
    return 0;
}

uint64_t memory_region_iommu_stat_translations(const MemoryRegion *mr)
{
    return memory_region_is_iommu(mr) ? __atomic_load_n(&mr->iommu->translations, __ATOMIC_RELAXED)
                                      : 0;
}

/* ---- translation with the cache --------------------------------------------------- */

static inline bool mask_ok(hwaddr mask)
{
    return (mask & (mask + 1)) == 0;
}

static inline IommuCacheEntry *cache_slot(MrIommu *st, hwaddr iova, int idx)
{
    return &st->cache[((iova >> CACHE_PAGE_BITS) ^ (hwaddr)idx) & (CACHE_ENTRIES - 1)];
}

/* A cached entry for @iova under @idx with a permission for @need, or false. */
static bool cache_probe(MrIommu *st, hwaddr iova, int idx, unsigned need, uint64_t gen,
                        IOMMUTLBEntry *out)
{
    IommuCacheEntry *e = cache_slot(st, iova, idx);
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if (s & 1)
        return false;
    /* Acquire loads: the seq re-read below cannot move above them. */
    uint64_t egen = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
    int32_t eidx = __atomic_load_n(&e->idx, __ATOMIC_ACQUIRE);
    hwaddr base = __atomic_load_n(&e->base, __ATOMIC_ACQUIRE);
    hwaddr mask = __atomic_load_n(&e->mask, __ATOMIC_ACQUIRE);
    hwaddr xlat = __atomic_load_n(&e->xlat, __ATOMIC_ACQUIRE);
    AddressSpace *as = __atomic_load_n(&e->as, __ATOMIC_ACQUIRE);
    uint32_t perm = __atomic_load_n(&e->perm, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s)
        return false;
    if (egen != gen || eidx != idx || (iova & ~mask) != base || !(perm & need))
        return false;
    *out = (IOMMUTLBEntry){
        .target_as = as, .iova = iova, .translated_addr = xlat, .addr_mask = mask, .perm = perm};
    return true;
}

static void cache_fill(MrIommu *st, const IOMMUTLBEntry *t, hwaddr iova, int idx, uint64_t gen)
{
    IommuCacheEntry *e = cache_slot(st, iova, idx);
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    if ((s & 1) ||
        !__atomic_compare_exchange_n(&e->seq, &s, s + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return; /* another thread is filling it: skip */
    __atomic_store_n(&e->gen, gen, __ATOMIC_RELAXED);
    __atomic_store_n(&e->idx, idx, __ATOMIC_RELAXED);
    __atomic_store_n(&e->base, iova & ~t->addr_mask, __ATOMIC_RELAXED);
    __atomic_store_n(&e->mask, t->addr_mask, __ATOMIC_RELAXED);
    __atomic_store_n(&e->xlat, t->translated_addr & ~t->addr_mask, __ATOMIC_RELAXED);
    __atomic_store_n(&e->as, t->target_as, __ATOMIC_RELAXED);
    __atomic_store_n(&e->perm, (uint32_t)t->perm, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

/*
 * Translate @iova of @mr for an access in direction @is_write with @attrs.
 * Fills @out on MEMTX_OK; *gen_out is the generation the answer belongs to.
 * Inside a read-side section (the region is alive). Allocates nothing.
 */
static MemTxResult iommu_lookup(MemoryRegion *mr, hwaddr iova, bool is_write, MemTxAttrs attrs,
                                IOMMUTLBEntry *out, uint64_t *gen_out)
{
    MrIommu *st = mr->iommu;
    int idx = st->ops->attrs_to_index ? st->ops->attrs_to_index(mr, st->opaque, attrs) : 0;
    int nidx = st->ops->num_indexes ? st->ops->num_indexes(mr, st->opaque) : 1;
    if (idx < 0 || idx >= nidx)
        return MEMTX_DECODE_ERROR;
    unsigned need = is_write ? IOMMU_WO : IOMMU_RO;
    uint64_t gen = __atomic_load_n(&st->gen, __ATOMIC_ACQUIRE);
    *gen_out = gen;
    bool cache_on = __atomic_load_n(&st->cache_on, __ATOMIC_RELAXED);
    if (cache_on && cache_probe(st, iova, idx, need, gen, out))
        return MEMTX_OK;
    __atomic_add_fetch(&st->translations, 1, __ATOMIC_RELAXED);
    IOMMUTLBEntry t = st->ops->translate(mr, st->opaque, iova, is_write ? IOMMU_WO : IOMMU_RO, idx);
    if (t.perm == IOMMU_NONE || !t.target_as || !mask_ok(t.addr_mask))
        return MEMTX_DECODE_ERROR; /* not mapped */
    if (!(t.perm & need))
        return MEMTX_ACCESS_ERROR; /* mapped, but not for this direction */
    if (cache_on)
        cache_fill(st, &t, iova, idx, gen);
    *out = t;
    return MEMTX_OK;
}

/* The address @iova translates to, and the bytes left in its page (capped at @len). */
static hwaddr xlat_addr(const IOMMUTLBEntry *t, hwaddr iova, hwaddr len, hwaddr *step)
{
    hwaddr in_page = iova & t->addr_mask;
    hwaddr left = t->addr_mask - in_page; /* bytes after the first, no overflow */
    *step = len - 1 <= left ? len : left + 1;
    return (t->translated_addr & ~t->addr_mask) | in_page;
}

IOMMUTLBEntry memory_region_iommu_translate(MemoryRegion *mr, hwaddr addr, IOMMUAccessFlags flag,
                                            int iommu_idx)
{
    if (!memory_region_is_iommu(mr))
        return (IOMMUTLBEntry){.iova = addr, .perm = IOMMU_NONE};
    MrIommu *st = mr->iommu;
    __atomic_add_fetch(&st->translations, 1, __ATOMIC_RELAXED);
    return st->ops->translate(mr, st->opaque, addr, flag, iommu_idx);
}

/* ---- the dispatch hook ------------------------------------------------------------ */

MemTxResult iommu_translate_one(MemoryRegion *mr, hwaddr off, uint64_t *n, bool is_write,
                                MemTxAttrs attrs, AddressSpace **as, hwaddr *addr)
{
    IOMMUTLBEntry t;
    uint64_t gen;
    MemTxResult r = mr_ts.iommu_depth >= MR_IOMMU_MAX_DEPTH
                        ? MEMTX_DECODE_ERROR
                        : iommu_lookup(mr, off, is_write, attrs, &t, &gen);
    rcu_read_unlock();
    if (r != MEMTX_OK) {
        /* The failing piece ends at the next minimum page. */
        hwaddr left = 4095 - (off & 4095);
        if (*n - 1 > left)
            *n = left + 1;
        return r;
    }
    hwaddr step;
    *addr = xlat_addr(&t, off, *n, &step);
    *n = step;
    *as = t.target_as;
    mr_ts.iommu_depth++;
    return MEMTX_OK;
}

void iommu_translate_done(void)
{
    mr_ts.iommu_depth--;
}

bool iommu_page_xlat(MemoryRegion *mr, hwaddr page, hwaddr iova, bool is_write, MemTxAttrs attrs,
                     IommuPageXlat *x)
{
    MrIommu *st = mr->iommu;
    IOMMUTLBEntry t;
    uint64_t gen;
    /* cache_on is read again after the generation (set_cache bumps it after
     * the store): a cache turned off meanwhile leaves an entry of an old one. */
    if (mr_ts.iommu_depth >= MR_IOMMU_MAX_DEPTH ||
        !__atomic_load_n(&st->cache_on, __ATOMIC_RELAXED) ||
        iommu_lookup(mr, iova, is_write, attrs, &t, &gen) != MEMTX_OK ||
        !__atomic_load_n(&st->cache_on, __ATOMIC_RELAXED))
        return false;
    const hwaddr size = (hwaddr)1 << FV_PAGE_BITS;
    hwaddr base = iova & ~t.addr_mask, step, addr = xlat_addr(&t, page, size, &step);
    if (page < base || page - base > t.addr_mask || step < size || (addr & (size - 1)))
        return false;
    *x = (IommuPageXlat){
        .gen_src = &st->gen, .gen = gen, .as = t.target_as, .addr = addr, .perm = t.perm};
    return true;
}

MemTxResult iommu_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t *n, bool is_write,
                         MemTxAttrs attrs)
{
    AddressSpace *as;
    hwaddr addr;
    MemTxResult r = iommu_translate_one(mr, off, n, is_write, attrs, &as, &addr);
    if (r != MEMTX_OK) {
        if (!is_write)
            memset(buf, 0, *n);
        return r;
    }
    r = address_space_rw(as, addr, attrs, buf, *n, is_write);
    iommu_translate_done();
    return r;
}

/* ---- the walk ---------------------------------------------------------------------- */

static void stamp(MrWalk *w, const void *obj, uint64_t seq, bool is_iommu)
{
    if (w->nr_stamps < MR_CACHE_MAX_STAMPS)
        w->stamps[w->nr_stamps++] = (MemoryRegionCacheStamp){obj, seq, is_iommu};
}

MemTxResult iommu_walk(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write, MemTxAttrs attrs,
                       MrWalk *w)
{
    w->nr_stamps = 0;
    w->fr = NULL;
    w->off = 0;
    if (!len)
        len = 1;
    for (unsigned hop = 0;; hop++) {
        FlatView *fv = as_view(as);
        stamp(w, as, fv->seq, false);
        w->as = as;
        w->addr = addr;
        const FlatRange *fr = flatview_lookup_fast(fv, addr);
        if (!fr) {
            mr_size_t end = flatview_hole_end(fv, addr);
            w->len = (hwaddr)MR_MIN((mr_size_t)len, end - addr);
            return MEMTX_DECODE_ERROR;
        }
        hwaddr off = fr->offset_in_region + (addr - fr->addr);
        hwaddr avail = (hwaddr)MR_MIN((mr_size_t)len, fr_end(fr) - addr);
        if (fr->mr->kind != MR_KIND_IOMMU) {
            w->fr = fr;
            w->off = off;
            w->len = avail;
            return MEMTX_OK;
        }
        IOMMUTLBEntry t;
        uint64_t gen;
        MemTxResult r = hop >= MR_IOMMU_MAX_DEPTH
                            ? MEMTX_DECODE_ERROR
                            : iommu_lookup(fr->mr, off, is_write, attrs, &t, &gen);
        if (r != MEMTX_OK) {
            hwaddr left = 4095 - (off & 4095);
            w->len = avail - 1 > left ? left + 1 : avail;
            return r;
        }
        stamp(w, fr->mr, gen, true);
        hwaddr step;
        addr = xlat_addr(&t, off, avail, &step);
        len = step;
        as = t.target_as;
    }
}

bool iommu_stamps_valid(const MemoryRegionCacheStamp *st, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t now;
        if (st[i].is_iommu) {
            const MemoryRegion *mr = st[i].obj;
            now = __atomic_load_n(&mr->iommu->gen, __ATOMIC_ACQUIRE);
        } else {
            now = as_view((AddressSpace *)st[i].obj)->seq;
        }
        /* A view of seq 0 (the empty view) is never a stable stamp. */
        if (now != st[i].seq || (!st[i].is_iommu && now == 0))
            return false;
    }
    return true;
}

MemTxResult iommu_translate_section(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs,
                                    MemoryRegionSection *out)
{
    MrWalk w;
    MemTxResult r = iommu_walk(as, addr, UINT64_MAX, is_write, attrs, &w);
    out->offset_within_address_space = addr;
    out->host = NULL;
    out->size = w.len;
    if (r != MEMTX_OK) {
        out->mr = NULL;
        out->offset_within_region = 0;
        out->readonly = false;
        return r;
    }
    const FlatRange *fr = w.fr;
    MemoryRegion *mr = fr->mr;
    out->mr = mr;
    out->offset_within_region = w.off;
    out->readonly = fr->readonly;
    bool direct = is_write ? fr_writes_direct(fr, attrs.debug) : fr_reads_direct(fr);
    if (direct)
        out->host = mr->ram + w.off;
    return MEMTX_OK;
}

/* ---- notifiers ----------------------------------------------------------------------- */

void iommu_notifier_init(IOMMUNotifier *n, IOMMUNotify fn, IOMMUNotifierFlag flags, hwaddr start,
                         hwaddr end, int iommu_idx)
{
    n->notify = fn;
    n->notifier_flags = flags;
    n->start = start;
    n->end = end;
    n->iommu_idx = iommu_idx;
    n->next = NULL;
    n->iommu = NULL;
}

void memory_region_notify_iommu_one(IOMMUNotifier *n, IOMMUTLBEvent *event)
{
    const IOMMUTLBEntry *e = &event->entry;
    hwaddr first = e->iova & ~e->addr_mask, last = e->iova | e->addr_mask;
    if (!(n->notifier_flags & event->type) || last < n->start || first > n->end)
        return;
    IOMMUTLBEntry copy = *e;
    n->notify(n, &copy);
}

/* Default replay: walk the notifier's range with translate, by pages. */
static void replay_walk(MemoryRegion *mr, IOMMUNotifier *n)
{
    MrIommu *st = mr->iommu;
    uint64_t page = memory_region_iommu_get_min_page_size(mr);
    mr_size_t end = MR_MIN((mr_size_t)n->end + 1, mr->size);
    mr_size_t a = (mr_size_t)(n->start & ~(page - 1));
    while (a < end) {
        IOMMUTLBEntry t = st->ops->translate(mr, st->opaque, (hwaddr)a, IOMMU_NONE, n->iommu_idx);
        __atomic_add_fetch(&st->translations, 1, __ATOMIC_RELAXED);
        hwaddr mask = mask_ok(t.addr_mask) && t.addr_mask >= page - 1 ? t.addr_mask : page - 1;
        if (t.perm != IOMMU_NONE && t.target_as && mask_ok(t.addr_mask)) {
            IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_MAP, .entry = t};
            ev.entry.iova = (hwaddr)a & ~t.addr_mask;
            memory_region_notify_iommu_one(n, &ev);
        }
        a = ((a | mask) + 1);
    }
}

int memory_region_iommu_replay(MemoryRegion *mr, IOMMUNotifier *n)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    if (!n)
        return mr_error(EINVAL, "memory_region_iommu_replay: NULL notifier");
    MrIommu *st = mr->iommu;
    if (st->ops->replay)
        st->ops->replay(mr, st->opaque, n);
    else
        replay_walk(mr, n);
    return 0;
}

int memory_region_register_iommu_notifier(MemoryRegion *mr, IOMMUNotifier *n)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    if (!n || !n->notify || !(n->notifier_flags & IOMMU_NOTIFIER_IOTLB_EVENTS) || n->start > n->end)
        return mr_error(EINVAL, "iommu notifier: no callback, no events or an empty range");
    if (n->iommu_idx < 0 || n->iommu_idx >= memory_region_iommu_num_indexes(mr))
        return mr_error(EINVAL, "iommu notifier: index %d out of range", n->iommu_idx);
    pthread_mutex_lock(&mr->iommu->lock);
    if (n->iommu) {
        err = mr_error(EBUSY, "iommu notifier is already registered with '%s'", n->iommu->name);
    } else {
        n->iommu = mr;
        n->next = mr->iommu->notifiers;
        mr->iommu->notifiers = n;
        if (n->notifier_flags & IOMMU_NOTIFIER_MAP)
            memory_region_iommu_replay(mr, n);
    }
    pthread_mutex_unlock(&mr->iommu->lock);
    return err;
}

int memory_region_unregister_iommu_notifier(MemoryRegion *mr, IOMMUNotifier *n)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    pthread_mutex_lock(&mr->iommu->lock);
    IOMMUNotifier **pp = &mr->iommu->notifiers;
    while (*pp && *pp != n)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = n->next;
        n->next = NULL;
        n->iommu = NULL;
    } else {
        err = mr_error(EINVAL, "iommu notifier is not registered with '%s'", mr->name);
    }
    pthread_mutex_unlock(&mr->iommu->lock);
    return err;
}

int memory_region_notify_iommu(MemoryRegion *mr, int iommu_idx, IOMMUTLBEvent event)
{
    int err = check_iommu(mr, __func__);
    if (err)
        return err;
    if (event.type != IOMMU_NOTIFIER_MAP && event.type != IOMMU_NOTIFIER_UNMAP)
        return mr_error(EINVAL, "memory_region_notify_iommu: event is neither MAP nor UNMAP");
    pthread_mutex_lock(&mr->iommu->lock);
    /* Cached answers may be wrong from now on. */
    __atomic_add_fetch(&mr->iommu->gen, 1, __ATOMIC_RELEASE);
    int called = 0;
    for (IOMMUNotifier *n = mr->iommu->notifiers, *next; n; n = next) {
        next = n->next; /* a notifier may unregister itself */
        if (n->iommu_idx != iommu_idx)
            continue;
        const IOMMUTLBEntry *e = &event.entry;
        hwaddr first = e->iova & ~e->addr_mask, last = e->iova | e->addr_mask;
        if (!(n->notifier_flags & event.type) || last < n->start || first > n->end)
            continue;
        called++;
        memory_region_notify_iommu_one(n, &event);
    }
    pthread_mutex_unlock(&mr->iommu->lock);
    return called;
}
