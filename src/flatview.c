/*
 * FlatView: an immutable, reference-counted, sorted sequence of FlatRanges
 * with its lookup index, published with RCU and read without locks.
 *
 * The ranges live in chunks of at most FV_CHUNK ranges. A view is an array
 * of chunk pointers plus the first address and first index of each chunk,
 * so a lookup is two binary searches (O(log n)) and a new version that
 * changes a few ranges copies only the chunks it touches and the pointer
 * array: versions share every other chunk. That is what makes a commit cost
 * what changed rather than the size of the map.
 *
 * Invariants:
 * - ranges are sorted by address, never overlap, and no range could be
 *   merged with its left neighbour (same region, contiguous offsets, equal
 *   attributes), across chunk boundaries too;
 * - the versions of one view root form a chain, oldest first; a version
 *   shares chunks only with its predecessor, and lists in `retired` the
 *   predecessor's chunks it dropped. A chunk is therefore alive exactly
 *   while some unreleased version that holds it exists: when the oldest
 *   versions of a chain are released, the retired lists of their successors
 *   are freed. Shared chunks are never touched when a version is copied,
 *   so deriving a version costs the pointer arrays, not a cache miss per
 *   chunk;
 * - chain bookkeeping happens under the writer lock; memory of a version or
 *   chunk is freed only after an RCU grace period.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static FlatView empty_view = {.refcount = 1};

FlatView *flatview_empty(void)
{
    return &empty_view;
}

/* ---- building sequences ----------------------------------------------------- */

static bool can_merge(const FlatRange *a, const FlatRange *b)
{
    return a->mr == b->mr && fr_end(a) == b->addr &&
           (mr_size_t)a->offset_in_region + a->size == b->offset_in_region &&
           a->readonly == b->readonly && a->nonvolatile == b->nonvolatile &&
           a->romd_mode == b->romd_mode && a->dirty_log_mask == b->dirty_log_mask;
}

void rangevec_push(RangeVec *v, const FlatRange *fr)
{
    /* View invariant: ranges are non-empty, ascending and disjoint. */
    MR_ASSERT(fr->size > 0);
    MR_ASSERT(!v->nr || (mr_size_t)fr->addr >= fr_end(&v->r[v->nr - 1]));
    if (v->nr && can_merge(&v->r[v->nr - 1], fr)) {
        v->r[v->nr - 1].size += fr->size;
        return;
    }
    MR_GROW_OR_DIE(v->r, v->cap, v->nr + 1, 16);
    v->r[v->nr++] = *fr;
}

/* ---- chunks ------------------------------------------------------------------ */

static uint64_t version_seq; /* writer lock */

/*
 * Freed chunks wait in a small pool for reuse: commits replace a chunk or
 * two each, and recycling them avoids malloc churn and page faults. Chunks
 * come back from the writer's reclaim batch and from liburcu's call_rcu
 * thread (reclaim.c), so the pool has its own lock.
 */
#define CHUNK_POOL_MAX 512
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static FvChunk *pool[CHUNK_POOL_MAX];
static size_t pool_nr;

static FvChunk *chunk_alloc(void)
{
    FvChunk *c = NULL;
    pthread_mutex_lock(&pool_lock);
    if (pool_nr)
        c = pool[--pool_nr];
    pthread_mutex_unlock(&pool_lock);
    if (!c && !(c = malloc(sizeof(*c))))
        mr_oom(__func__);
    return c;
}

/* Dead versions wait in a pool too, keeping their arrays for the next one. */
#define VERSION_POOL_MAX 256
static FlatView *version_pool[VERSION_POOL_MAX];
static size_t version_pool_nr;

static FlatView *version_alloc(void)
{
    FlatView *fv = NULL;
    pthread_mutex_lock(&pool_lock);
    if (version_pool_nr)
        fv = version_pool[--version_pool_nr];
    pthread_mutex_unlock(&pool_lock);
    if (fv)
        return fv;
    fv = calloc(1, sizeof(*fv));
    if (!fv)
        mr_oom(__func__);
    return fv;
}

/* Reset a dead version for reuse, or free it when the pool is full. */
static void version_recycle(FlatView *fv)
{
    FlatView keep = {
        .chunks = fv->chunks,
        .chunk_starts = fv->chunk_starts,
        .chunk_first = fv->chunk_first,
        .cap_chunks = fv->cap_chunks,
        .deltas = fv->deltas,
        .cap_deltas = fv->cap_deltas,
        .retired = fv->retired,
        .cap_retired = fv->cap_retired,
        .fresh = fv->fresh,
        .cap_fresh = fv->cap_fresh,
    };
    *fv = keep;
    pthread_mutex_lock(&pool_lock);
    if (version_pool_nr < VERSION_POOL_MAX) {
        version_pool[version_pool_nr++] = fv;
        fv = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (fv) {
        free(fv->chunks);
        free(fv->chunk_starts);
        free(fv->chunk_first);
        free(fv->deltas);
        free(fv->retired);
        free(fv->fresh);
        free(fv);
    }
}

static FvChunk *chunk_new(const FlatRange *r, size_t n, uint64_t born)
{
    FvChunk *c = chunk_alloc();
    c->born = born;
    c->nr = (uint32_t)n;
    memcpy(c->ranges, r, n * sizeof(*r));
    for (size_t i = 0; i < n; i++)
        c->starts[i] = r[i].addr;
    return c;
}

static void chunk_free_rcu(struct rcu_head *head)
{
    FvChunk *c = caa_container_of(head, FvChunk, rcu);
    pthread_mutex_lock(&pool_lock);
    if (pool_nr < CHUNK_POOL_MAX) {
        pool[pool_nr++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    free(c);
}

/* No live version holds @c any more (writer lock held). */
static void chunk_free(FvChunk *c)
{
    mr_defer_free(&c->rcu, chunk_free_rcu);
}

/* ---- assembling a version ------------------------------------------------------ */

typedef struct Builder {
    FlatView *fv;
    RangeVec pending; /* ranges not yet packed into a chunk */
} Builder;

static void builder_reserve(Builder *b, size_t more)
{
    FlatView *fv = b->fv;
    size_t need = fv->nr_chunks + more, c1 = fv->cap_chunks, c2 = c1, c3 = c1;
    /* Three parallel arrays of one capacity: each grows to the same size. */
    MR_GROW_OR_DIE(fv->chunks, c1, need, 8);
    MR_GROW_OR_DIE(fv->chunk_starts, c2, need, 8);
    MR_GROW_OR_DIE(fv->chunk_first, c3, need, 8);
    fv->cap_chunks = c1;
}

static void builder_add_chunk(Builder *b, FvChunk *c)
{
    FlatView *fv = b->fv;
    builder_reserve(b, 1);
    fv->chunks[fv->nr_chunks] = c;
    fv->chunk_starts[fv->nr_chunks] = c->starts[0];
    fv->chunk_first[fv->nr_chunks] = fv->nr;
    fv->nr_chunks++;
    fv->nr += c->nr;
}

/* Pack the pending ranges into chunks of nearly equal size. */
static void builder_flush(Builder *b)
{
    size_t n = b->pending.nr;
    if (!n)
        return;
    size_t parts = (n + FV_CHUNK - 1) / FV_CHUNK;
    size_t done = 0;
    for (size_t p = 0; p < parts; p++) {
        size_t take = (n - done) / (parts - p);
        FvChunk *c = chunk_new(&b->pending.r[done], take, b->fv->seq);
        FlatView *fv = b->fv;
        MR_GROW_OR_DIE(fv->fresh, fv->cap_fresh, fv->nr_fresh + 1, 8);
        fv->fresh[fv->nr_fresh++] = c;
        builder_add_chunk(b, c);
        done += take;
    }
    b->pending.nr = 0;
}

/*
 * Chunk @c of the predecessor is not part of the version being built (its
 * ranges were copied, cut or dropped): list it in `retired`. Every chunk of
 * the predecessor is either shared whole or retired here; retirements come
 * in address order, so a repeat is always one of the last two entries.
 */
static void builder_retire(Builder *b, FvChunk *c)
{
    FlatView *fv = b->fv;
    size_t n = fv->nr_retired;
    if ((n && fv->retired[n - 1] == c) || (n > 1 && fv->retired[n - 2] == c))
        return;
    MR_GROW_OR_DIE(fv->retired, fv->cap_retired, n + 1, 8);
    fv->retired[fv->nr_retired++] = c;
}

/* Append one range; it merges with the previous one when it can. */
static void builder_push(Builder *b, const FlatRange *fr)
{
    if (!b->pending.nr && b->fv->nr_chunks) {
        /* The previous range sits in a shared chunk: a merge would
         * change it, so copy that chunk's ranges back into pending. */
        FlatView *fv = b->fv;
        FvChunk *last = fv->chunks[fv->nr_chunks - 1];
        if (can_merge(&last->ranges[last->nr - 1], fr)) {
            fv->nr_chunks--;
            fv->nr -= last->nr;
            for (uint32_t i = 0; i < last->nr; i++)
                rangevec_push(&b->pending, &last->ranges[i]);
            if (last->born == fv->seq) {
                chunk_free(last); /* ours, never published */
                fv->nr_fresh--;   /* it was the last one created */
            } else {
                builder_retire(b, last); /* the predecessor's, no longer shared */
            }
        }
    }
    rangevec_push(&b->pending, fr);
    if (b->pending.nr >= 2 * FV_CHUNK)
        builder_flush(b);
}

/*
 * Append @n consecutive ranges of a view. Only the first can merge with
 * what precedes it: the rest were canonical neighbours already, so they are
 * copied in bulk.
 */
static void builder_push_run(Builder *b, const FlatRange *r, size_t n)
{
    if (!n)
        return;
    builder_push(b, &r[0]);
    RangeVec *v = &b->pending;
    MR_GROW_OR_DIE(v->r, v->cap, v->nr + n - 1, 16);
    memcpy(&v->r[v->nr], &r[1], (n - 1) * sizeof(*r));
    v->nr += n - 1;
    if (v->nr >= 2 * FV_CHUNK)
        builder_flush(b);
}

/* Append an unchanged chunk of the previous version: share it unless the
 * pending ranges are few (then absorb it, so chunks stay reasonably full). */
static void builder_share(Builder *b, FvChunk *c)
{
    if (b->pending.nr && b->pending.nr < FV_CHUNK / 2) {
        builder_push_run(b, c->ranges, c->nr);
        builder_retire(b, c);
        return;
    }
    builder_flush(b);
    builder_add_chunk(b, c);
}

/* Share old chunks [c0, c1) in one go: three array copies and a shift. */
static void builder_share_run(Builder *b, const FlatView *old, size_t c0, size_t c1)
{
    while (c0 < c1 && b->pending.nr)
        builder_share(b, old->chunks[c0++]); /* absorbs, or flushes and shares */
    if (c0 >= c1)
        return;
    FlatView *fv = b->fv;
    size_t n = c1 - c0, at = fv->nr_chunks;
    builder_reserve(b, n);
    memcpy(&fv->chunks[at], &old->chunks[c0], n * sizeof(*fv->chunks));
    memcpy(&fv->chunk_starts[at], &old->chunk_starts[c0], n * sizeof(hwaddr));
    size_t shift = fv->nr - old->chunk_first[c0];
    for (size_t i = 0; i < n; i++)
        fv->chunk_first[at + i] = old->chunk_first[c0 + i] + shift;
    size_t end = c1 < old->nr_chunks ? old->chunk_first[c1] : old->nr;
    fv->nr += end - old->chunk_first[c0];
    fv->nr_chunks += n;
}

static RangeVec scratch; /* pending-range buffer reused by every build (writer lock) */

/* Start a version expected to have about @chunks chunks. */
static Builder builder_start(MemoryRegion *root, size_t chunks)
{
    Builder b = {0};
    b.pending = scratch;
    b.pending.nr = 0;
    b.fv = version_alloc();
    b.fv->refcount = 1;
    b.fv->root = root;
    b.fv->seq = ++version_seq;
    builder_reserve(&b, chunks + 4);
    return b;
}

/* Make @fv the newest version of @chain. (The chunks of the predecessor
 * that @fv dropped are listed while it is built: builder_retire.) */
static void version_link(ViewChain *chain, FlatView *fv)
{
    fv->chain = chain;
    if (!chain)
        return;
    if (chain->newest)
        chain->newest->newer = fv;
    else
        chain->oldest = fv;
    chain->newest = fv;
}

static FlatView *builder_finish(Builder *b, ViewChain *chain)
{
    builder_flush(b);
    scratch = b->pending; /* keep the grown buffer for the next build */
    version_link(chain, b->fv);
    return b->fv;
}

FlatView *flatview_build(ViewChain *chain, const FlatView *prev, MemoryRegion *root,
                         const RangeVec *v)
{
    Builder b = builder_start(root, v->nr / FV_CHUNK);
    for (size_t i = 0; v && i < v->nr; i++)
        builder_push(&b, &v->r[i]);
    for (size_t i = 0; prev && i < prev->nr_chunks; i++)
        builder_retire(&b, prev->chunks[i]); /* a full render shares nothing */
    return builder_finish(&b, chain);
}

/* ---- incremental versions ------------------------------------------------------- */

/* Index of the first range of @fv whose end is above @addr (nr if none). */
static size_t first_ending_after(const FlatView *fv, mr_size_t addr)
{
    if (addr >= MR_SIZE_2_64)
        return fv->nr;
    ptrdiff_t i = flatview_search(fv, (hwaddr)addr);
    if (i < 0)
        return 0;
    return fr_end(flatview_range(fv, (size_t)i)) > addr ? (size_t)i : (size_t)i + 1;
}

/* Index of the first range of @fv starting at or above @addr. */
static size_t first_starting_at(const FlatView *fv, mr_size_t addr)
{
    if (addr >= MR_SIZE_2_64)
        return fv->nr;
    ptrdiff_t i = flatview_search(fv, (hwaddr)addr);
    if (i < 0)
        return 0;
    return flatview_range(fv, (size_t)i)->addr == addr ? (size_t)i : (size_t)i + 1;
}

size_t flatview_window_span(const FlatView *fv, mr_size_t lo, mr_size_t hi, size_t *i1)
{
    *i1 = first_starting_at(fv, hi);
    return first_ending_after(fv, lo);
}

/* Copy old ranges [from, to) into the builder, sharing whole chunks. */
static void copy_old(Builder *b, const FlatView *old, size_t from, size_t to)
{
    if (from >= to)
        return;
    for (size_t c = flatview_chunk_of(old, from); from < to; c++) {
        FvChunk *ch = old->chunks[c];
        size_t first = old->chunk_first[c];
        if (from == first && first + ch->nr <= to) {
            /* The run of whole chunks inside [from, to): those before the
             * chunk holding `to` (found without touching chunk memory). */
            size_t c1 = to >= old->nr ? old->nr_chunks : flatview_chunk_of(old, to);
            builder_share_run(b, old, c, c1);
            from = c1 < old->nr_chunks ? old->chunk_first[c1] : old->nr;
            c = c1 - 1;
        } else {
            size_t stop = MR_MIN(to, first + ch->nr);
            builder_push_run(b, &ch->ranges[from - first], stop - from);
            builder_retire(b, ch);
            from = stop;
        }
    }
}

/*
 * A new version of @old in which each edit's window [lo, hi) (covering old
 * ranges [i0, i1)) holds edit->ranges instead. Edits are sorted and their
 * spans widened by one neighbour on each side must not touch (the caller
 * merges such edits), so merges never cross from one span into another.
 * The result records, per edit, which old and new index spans differ.
 */
FlatView *flatview_splice(ViewChain *chain, const FlatView *old, const ViewEdit *edits,
                          size_t nr_edits)
{
    Builder b = builder_start(old->root, old->nr_chunks);
    FlatView *fv = b.fv;
    MR_GROW_OR_DIE(fv->deltas, fv->cap_deltas, nr_edits, 4);
    fv->nr_deltas = nr_edits;
    fv->delta_base = old;
    size_t pos = 0;
    for (size_t e = 0; e < nr_edits; e++) {
        const ViewEdit *ed = &edits[e];
        /* Keep the edited span's neighbours in it: the new ranges may merge
         * with them. */
        size_t i0 = ed->i0 > pos ? ed->i0 - 1 : pos;
        size_t i1 = ed->i1 < old->nr ? ed->i1 + 1 : ed->i1;
        copy_old(&b, old, pos, i0);
        ViewDelta *d = &fv->deltas[e];
        d->old_i0 = i0;
        d->old_i1 = i1;
        d->new_i0 = fv->nr + b.pending.nr;
        if (i0 < i1) /* the chunks holding the span are not shared */
            for (size_t c = flatview_chunk_of(old, i0); c <= flatview_chunk_of(old, i1 - 1); c++)
                builder_retire(&b, old->chunks[c]);
        for (size_t i = i0; i < ed->i0; i++)
            builder_push(&b, flatview_range(old, i));
        if (ed->i0 < ed->i1) {
            const FlatRange *first = flatview_range(old, ed->i0);
            if (first->addr < ed->lo) {
                FlatRange left = *first;
                left.size = ed->lo - first->addr;
                builder_push(&b, &left);
            }
        }
        for (size_t i = 0; i < ed->ranges.nr; i++)
            builder_push(&b, &ed->ranges.r[i]);
        if (ed->i0 < ed->i1) {
            const FlatRange *last = flatview_range(old, ed->i1 - 1);
            if (fr_end(last) > ed->hi) {
                FlatRange right = *last;
                right.addr = (hwaddr)ed->hi;
                right.offset_in_region = last->offset_in_region + (hwaddr)(ed->hi - last->addr);
                right.size = fr_end(last) - ed->hi;
                builder_push(&b, &right);
            }
        }
        for (size_t i = ed->i1; i < i1; i++)
            builder_push(&b, flatview_range(old, i));
        d->new_i1 = fv->nr + b.pending.nr;
        pos = i1;
    }
    copy_old(&b, old, pos, old->nr);
    return builder_finish(&b, chain);
}

void flatview_drop_deltas(FlatView *fv)
{
    fv->nr_deltas = 0; /* buffers stay with the version for its next life */
    fv->delta_base = NULL;
    fv->nr_fresh = 0;
}

bool fr_identical(const FlatRange *a, const FlatRange *b)
{
    return a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
           a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
           a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode &&
           a->dirty_log_mask == b->dirty_log_mask;
}

/* Does @fv show exactly what @old shows? Only the recorded spans can differ. */
bool flatview_same(const FlatView *old, const FlatView *fv)
{
    if (old->nr != fv->nr)
        return false;
    if (fv->delta_base == old && fv->deltas) {
        for (size_t k = 0; k < fv->nr_deltas; k++) {
            const ViewDelta *d = &fv->deltas[k];
            if (d->old_i1 - d->old_i0 != d->new_i1 - d->new_i0)
                return false;
            for (size_t i = 0; i < d->old_i1 - d->old_i0; i++)
                if (!fr_identical(flatview_range(old, d->old_i0 + i),
                                  flatview_range(fv, d->new_i0 + i)))
                    return false;
        }
        return true;
    }
    for (size_t i = 0; i < fv->nr; i++)
        if (!fr_identical(flatview_range(old, i), flatview_range(fv, i)))
            return false;
    return true;
}

/* ---- references ------------------------------------------------------------------- */

static void flatview_free_rcu(struct rcu_head *head)
{
    version_recycle(caa_container_of(head, FlatView, rcu));
}

/* A version's reference count reached 0 (writer lock held). */
static void flatview_release(FlatView *fv)
{
    fv->released = true;
    ViewChain *chain = fv->chain;
    MR_ASSERT(!chain || mr_writer_owned()); /* chain bookkeeping is the writer's */
    if (!chain) {
        for (size_t i = 0; i < fv->nr_chunks; i++)
            chunk_free(fv->chunks[i]);
        mr_defer_free(&fv->rcu, flatview_free_rcu);
        return;
    }
    /* Pop released versions from the old end; what only they held dies. */
    while (chain->oldest && chain->oldest->released) {
        FlatView *v = chain->oldest;
        chain->oldest = v->newer;
        if (v->newer) {
            for (size_t i = 0; i < v->newer->nr_retired; i++)
                chunk_free(v->newer->retired[i]);
            v->newer->nr_retired = 0;
        } else {
            for (size_t i = 0; i < v->nr_chunks; i++)
                chunk_free(v->chunks[i]);
            chain->newest = NULL;
        }
        mr_defer_free(&v->rcu, flatview_free_rcu);
    }
    if (!chain->oldest && chain->detached)
        free(chain);
}

void flatview_discard(FlatView *fv)
{
    ViewChain *chain = fv->chain;
    /* The newest version, never published: roll the chain back. */
    FlatView *prev = NULL;
    for (FlatView *v = chain->oldest; v != fv; v = v->newer)
        prev = v;
    if (prev)
        prev->newer = NULL;
    else
        chain->oldest = NULL;
    chain->newest = prev;
    for (size_t i = 0; i < fv->nr_fresh; i++)
        chunk_free(fv->fresh[i]); /* never published: no reader saw them */
    flatview_free_rcu(&fv->rcu);
}

ViewChain *view_chain_new(void)
{
    ViewChain *c = calloc(1, sizeof(*c));
    if (!c)
        mr_oom(__func__);
    return c;
}

void view_chain_detach(ViewChain *chain)
{
    chain->detached = true;
    if (!chain->oldest)
        free(chain);
}

void flatview_ref(FlatView *fv)
{
    __atomic_add_fetch(&fv->refcount, 1, __ATOMIC_RELAXED);
}

static void flatview_release_rcu(struct rcu_head *head)
{
    /* A reader dropped the last reference; chain bookkeeping needs the lock. */
    FlatView *fv = caa_container_of(head, FlatView, rcu);
    mr_writer_lock();
    flatview_release(fv);
    mr_writer_unlock();
}

void flatview_unref(FlatView *fv)
{
    if (!fv || fv == &empty_view)
        return;
    if (__atomic_sub_fetch(&fv->refcount, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (mr_writer_trylock()) {
        flatview_release(fv);
        mr_writer_unlock();
    } else {
        call_rcu(&fv->rcu, flatview_release_rcu);
    }
}

/* ---- lookup ---------------------------------------------------------------------------- */

/* Last index i with a[i] <= key, or -1. */
static inline ptrdiff_t bsearch_le(const hwaddr *a, size_t n, hwaddr key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

size_t flatview_chunk_of(const FlatView *fv, size_t i)
{
    size_t lo = 0, hi = fv->nr_chunks;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (fv->chunk_first[mid] <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr)
{
    ptrdiff_t c = bsearch_le(fv->chunk_starts, fv->nr_chunks, addr);
    if (c < 0)
        return -1;
    const FvChunk *ch = fv->chunks[c];
    return (ptrdiff_t)fv->chunk_first[c] + bsearch_le(ch->starts, ch->nr, addr);
}

/* The range holding @addr, and the start of the next range (or 2^64). */
static const FlatRange *locate(const FlatView *fv, hwaddr addr, mr_size_t *next_start)
{
    ptrdiff_t c = bsearch_le(fv->chunk_starts, fv->nr_chunks, addr);
    if (c < 0) {
        *next_start = fv->nr_chunks ? fv->chunk_starts[0] : MR_SIZE_2_64;
        return NULL;
    }
    const FvChunk *ch = fv->chunks[c];
    ptrdiff_t i = bsearch_le(ch->starts, ch->nr, addr);
    if ((uint32_t)(i + 1) < ch->nr)
        *next_start = ch->starts[i + 1];
    else
        *next_start = (size_t)c + 1 < fv->nr_chunks ? fv->chunk_starts[c + 1] : MR_SIZE_2_64;
    const FlatRange *fr = &ch->ranges[i];
    return fr_contains(fr, addr) ? fr : NULL;
}

const FlatRange *flatview_lookup(const FlatView *fv, hwaddr addr)
{
    mr_size_t next;
    return locate(fv, addr, &next);
}

const FlatRange *flatview_lookup_slow(FlatView *fv, hwaddr addr)
{
    mr_size_t next;
    const FlatRange *fr = locate(fv, addr, &next);
    if (fr)
        __atomic_store_n(&fv->mru, fr, __ATOMIC_RELAXED);
    return fr;
}

mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr)
{
    mr_size_t next;
    locate(fv, addr, &next);
    return next;
}

size_t flatview_nr_ranges(const FlatView *fv)
{
    return fv->nr;
}

const FlatRange *flatview_range(const FlatView *fv, size_t i)
{
    if (i >= fv->nr)
        return NULL;
    size_t c = flatview_chunk_of(fv, i);
    return &fv->chunks[c]->ranges[i - fv->chunk_first[c]];
}

MemoryRegion *flatview_root(const FlatView *fv)
{
    return fv->root;
}
