/*
 * FlatView: an immutable, reference-counted, sorted array of FlatRanges
 * with its lookup index. Built by render.c on the writer side, published
 * with RCU, read without locks, and freed after a grace period once the
 * last reference is gone.
 *
 * Invariant: ranges are sorted by address, never overlap, and no range
 * could be merged with its left neighbour (same region, contiguous offsets,
 * equal attributes).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static FlatView empty_view = {.refcount = 1};

FlatView *flatview_empty(void)
{
    return &empty_view;
}

FlatView *flatview_new(MemoryRegion *root)
{
    FlatView *fv = calloc(1, sizeof(*fv));
    if (!fv)
        abort(); /* a view is a few bytes; out of memory here is fatal */
    fv->refcount = 1;
    fv->root = root;
    return fv;
}

static bool can_merge(const FlatRange *a, const FlatRange *b)
{
    return a->mr == b->mr && fr_end(a) == b->addr &&
           (mr_size_t)a->offset_in_region + a->size == b->offset_in_region &&
           a->readonly == b->readonly && a->nonvolatile == b->nonvolatile &&
           a->romd_mode == b->romd_mode && a->dirty_log_mask == b->dirty_log_mask;
}

void flatview_append(FlatView *fv, const FlatRange *fr)
{
    if (fv->nr && can_merge(&fv->ranges[fv->nr - 1], fr)) {
        fv->ranges[fv->nr - 1].size += fr->size;
        return;
    }
    if (fv->nr == fv->cap) {
        size_t cap = fv->cap ? 2 * fv->cap : 16;
        FlatRange *r = realloc(fv->ranges, cap * sizeof(*r));
        hwaddr *s = realloc(fv->starts, cap * sizeof(*s));
        if (!r || !s)
            abort();
        fv->ranges = r;
        fv->starts = s;
        fv->cap = cap;
    }
    fv->ranges[fv->nr] = *fr;
    fv->starts[fv->nr] = fr->addr;
    fv->nr++;
}

void flatview_seal(FlatView *fv)
{
    for (size_t i = 0; i < fv->nr; i++) {
        MemoryRegion *mr = fv->ranges[i].mr;
        __atomic_add_fetch(&mr->view_users, 1, __ATOMIC_RELAXED);
        mr->was_visible = true;
        dirty_ensure_bitmaps(mr, fv->ranges[i].dirty_log_mask);
    }
}

void flatview_ref(FlatView *fv)
{
    __atomic_add_fetch(&fv->refcount, 1, __ATOMIC_RELAXED);
}

static void flatview_free_rcu(struct rcu_head *head)
{
    FlatView *fv = caa_container_of(head, FlatView, rcu);
    free(fv->ranges);
    free(fv->starts);
    free(fv);
}

void flatview_unref(FlatView *fv)
{
    if (!fv || fv == &empty_view)
        return;
    if (__atomic_sub_fetch(&fv->refcount, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* No new reader can find it; regions stop counting it as a user now,
     * and lock-free readers still inside it finish before the free. */
    for (size_t i = 0; i < fv->nr; i++)
        __atomic_sub_fetch(&fv->ranges[i].mr->view_users, 1, __ATOMIC_RELEASE);
    call_rcu(&fv->rcu, flatview_free_rcu);
}

ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr)
{
    /* Last index with starts[i] <= addr. */
    size_t lo = 0, hi = fv->nr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fv->starts[mid] <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

static inline bool fr_contains(const FlatRange *fr, hwaddr addr)
{
    return addr >= fr->addr && (mr_size_t)(addr - fr->addr) < fr->size;
}

const FlatRange *flatview_lookup(const FlatView *fv, hwaddr addr)
{
    ptrdiff_t i = flatview_search(fv, addr);
    if (i < 0 || !fr_contains(&fv->ranges[i], addr))
        return NULL;
    return &fv->ranges[i];
}

const FlatRange *flatview_lookup_fast(FlatView *fv, hwaddr addr)
{
    const FlatRange *mru = __atomic_load_n(&fv->mru, __ATOMIC_RELAXED);
    if (mru && fr_contains(mru, addr))
        return mru;
    const FlatRange *fr = flatview_lookup(fv, addr);
    if (fr && fr != mru)
        __atomic_store_n(&fv->mru, fr, __ATOMIC_RELAXED);
    return fr;
}

mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr)
{
    ptrdiff_t i = flatview_search(fv, addr);
    if ((size_t)(i + 1) < fv->nr)
        return fv->starts[i + 1];
    return MR_SIZE_2_64;
}

size_t flatview_nr_ranges(const FlatView *fv)
{
    return fv->nr;
}

const FlatRange *flatview_range(const FlatView *fv, size_t i)
{
    return i < fv->nr ? &fv->ranges[i] : NULL;
}

MemoryRegion *flatview_root(const FlatView *fv)
{
    return fv->root;
}
