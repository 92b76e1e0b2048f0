/*
 * View versions, writer side: building immutable, reference-counted FlatView
 * versions and freeing them. Readers find ranges in them with
 * view_lookup.c, without locks.
 *
 * The ranges live in chunks of at most FV_CHUNK ranges, and the chunks in
 * nodes of at most FV_FANOUT chunks. A view is an array of node pointers
 * plus the first address and first range index of each node, so a lookup
 * is three binary searches (O(log n)). A new version that changes a few
 * ranges copies only the chunks and nodes it touches and the node array
 * (n / (FV_CHUNK * FV_FANOUT) entries, 128 at 1M ranges): versions share
 * every other chunk and node. That is what makes a commit cost what changed
 * rather than the size of the map.
 *
 * Invariants:
 * - ranges are sorted by address, never overlap, and no range could be
 *   merged with its left neighbour (same region, contiguous offsets, equal
 *   attributes), across chunk boundaries too;
 * - a published version is never written again (its MRU hint aside):
 *   everything here builds a new version beside it. A version's count of
 *   ranges in a chunk is in its node; the chunk's slots at and past `used`
 *   belong to no version, and only they are filled when a range is appended
 *   to a shared chunk;
 * - the versions of one view root form a chain, oldest first; a version
 *   shares chunks and nodes only with its predecessor, and lists in
 *   `retired` and `retired_nodes` the predecessor's chunks and nodes it
 *   dropped (a node it does not share whole is dropped, though its chunks
 *   may live on in new nodes). A chunk or node is therefore alive exactly
 *   while some unreleased version that holds it exists: when the oldest
 *   versions of a chain are released, the retired lists of their successors
 *   are freed. Shared chunks are never touched when a version is copied,
 *   so deriving a version costs the node array and the nodes it rebuilds,
 *   not a cache miss per chunk;
 * - chain bookkeeping happens under the writer lock; memory of a version or
 *   chunk is freed only after an RCU grace period.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "globals.h"
#include "view_search.h"

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
    /* The range's copies of its region's fields (fr_set_region). */
    MR_ASSERT(fr->mr_ram == fr->mr->ram && fr->mr_kind == (uint8_t)fr->mr->kind);
    if (v->nr && can_merge(&v->r[v->nr - 1], fr)) {
        v->r[v->nr - 1].size += fr->size;
        return;
    }
    MR_GROW_OR_DIE(v->r, v->cap, v->nr + 1, 16);
    v->r[v->nr++] = *fr;
}

/* ---- chunks and nodes ---------------------------------------------------------- */

uint64_t memregion_stat_index_entries(void)
{
    mr_writer_lock();
    uint64_t n = mr_ws.index_entries;
    mr_writer_unlock();
    return n;
}

/*
 * Freed chunks and nodes wait in small pools for reuse:
 * every commit replaces a few, and recycling them avoids malloc churn and
 * page faults. The pools belong to the writer (writer lock held): objects
 * come back to them from the writer's reclaim batch, and what is freed on
 * liburcu's call_rcu thread (reclaim.c) goes back to malloc instead, so
 * taking and giving costs no lock of its own.
 */
#define CHUNK_POOL_MAX 512
#define NODE_POOL_MAX  256
static FvChunk *pool[CHUNK_POOL_MAX];
static size_t pool_nr;
static FvNode *node_pool[NODE_POOL_MAX];
static size_t node_pool_nr;

/* Take an object from @objs (holding *nr) or allocate @size bytes, aligned
 * to a cache line (chunks and nodes put what a lookup reads first). */
static void *pool_take(void **objs, size_t *nr, size_t size)
{
    MR_ASSERT_WRITER();
    if (*nr)
        return objs[--*nr];
    return mr_alloc_lines(size, __func__);
}

/* Keep @p in @objs (holding *nr, at most @max): true, or false when the
 * pool is full or the caller is not the writer. */
static bool pool_keep(void **objs, size_t *nr, size_t max, void *p)
{
    if (!mr_writer_owned() || *nr >= max)
        return false;
    objs[(*nr)++] = p;
    return true;
}

/* Return @p to @objs, or free it. */
static void pool_give(void **objs, size_t *nr, size_t max, void *p)
{
    if (!pool_keep(objs, nr, max, p))
        free(p);
}

/* Dead versions wait in a pool too, keeping their arrays for the next one. */
#define VERSION_POOL_MAX 256
static FlatView *version_pool[VERSION_POOL_MAX];
static size_t version_pool_nr;

static FlatView *version_alloc(void)
{
    MR_ASSERT_WRITER();
    if (version_pool_nr)
        return version_pool[--version_pool_nr];
    FlatView *fv = mr_alloc_lines(sizeof(*fv), __func__);
    memset(fv, 0, sizeof(*fv));
    return fv;
}

/* Reset a dead version for reuse, or free it when the pool is full. Its
 * buffers (the node arrays, deltas and pointer lists) stay for the next
 * life, emptied; every other field is reset here, one by one (cheaper than
 * clearing the whole struct and putting the buffers back). A field added
 * to FlatView is reset here. */
static void version_recycle(FlatView *fv)
{
    fv->refcount = 0;
    fv->root = NULL;
    fv->nr = fv->nr_nodes = 0;
    fv->mru = NULL;
    fv->seq = 0;
    fv->chain = NULL;
    fv->newer = NULL;
    fv->released = false;
    fv->delta_base = NULL;
    fv->nr_deltas = 0;
    fv->retired.n = fv->retired_nodes.n = fv->fresh.n = fv->fresh_nodes.n = 0;
    fv->cap_nodes = 0; /* the next build points the node arrays where they fit */
    if (!pool_keep((void **)version_pool, &version_pool_nr, VERSION_POOL_MAX, fv)) {
        free(fv->node_block);
        free(fv->deltas);
        free(fv->retired.v);
        free(fv->retired_nodes.v);
        free(fv->fresh.v);
        free(fv->fresh_nodes.v);
        free(fv);
    }
}

static FvChunk *chunk_new(const FlatRange *r, size_t n, uint64_t born)
{
    FvChunk *c = pool_take((void **)pool, &pool_nr, sizeof(FvChunk));
    c->born = born;
    c->used = (uint32_t)n;
    memcpy(c->ranges, r, n * sizeof(*r));
    for (size_t i = 0; i < n; i++)
        c->starts[i] = r[i].addr;
    return c;
}

static void chunk_free_rcu(struct rcu_head *head)
{
    pool_give((void **)pool, &pool_nr, CHUNK_POOL_MAX, caa_container_of(head, FvChunk, rcu));
}

static void node_free_rcu(struct rcu_head *head)
{
    pool_give((void **)node_pool, &node_pool_nr, NODE_POOL_MAX,
              caa_container_of(head, FvNode, rcu));
}

/* No live version holds @c (or @n) any more (writer lock held). */
static void chunk_free(FvChunk *c)
{
    mr_defer_free(&c->rcu, chunk_free_rcu, sizeof(*c));
}

static void node_free(FvNode *n)
{
    mr_defer_free(&n->rcu, node_free_rcu, sizeof(*n));
}

/* Free every chunk and node of @fv (no other live version shares them). */
static void version_free_all(FlatView *fv)
{
    for (size_t n = 0; n < fv->nr_nodes; n++) {
        for (uint32_t k = 0; k < fv->nodes[n]->nr; k++)
            chunk_free(fv->nodes[n]->chunks[k]);
        node_free(fv->nodes[n]);
    }
}

/* One chunk as the index sees it: no need to touch the chunk's memory. */
typedef struct ChunkRef {
    FvChunk *c;
    hwaddr start;
    uint32_t nr;
} ChunkRef;

/*
 * A place in a version's index: chunk k of node n (n == nr_nodes: the end).
 * The walks over the predecessor find their first place with one search
 * (flatview_position) and step from chunk to chunk after that.
 */
typedef struct Place {
    size_t n;
    uint32_t k;
} Place;

static Place place_of(const FlatView *fv, size_t i)
{
    Place p = {fv->nr_nodes, 0};
    if (i < fv->nr)
        flatview_position(fv, i, &p.n, &p.k);
    return p;
}

static bool place_before(Place a, Place b)
{
    return a.n < b.n || (a.n == b.n && a.k < b.k);
}

static Place place_next(const FlatView *fv, Place p)
{
    return ++p.k < fv->nodes[p.n]->nr ? p : (Place){p.n + 1, 0};
}

/* The chunk at @p (before the end), and the index in the view of its first range. */
static ChunkRef chunk_at(const FlatView *fv, Place p, size_t *first)
{
    const FvNode *nd = fv->nodes[p.n];
    *first = fv->node_first[p.n] + nd->first[p.k];
    return (ChunkRef){nd->chunks[p.k], nd->starts[p.k],
                      fv_node_chunk_nr(nd, p.k, fv_node_ranges(fv, p.n))};
}

/* ---- assembling a version ------------------------------------------------------ */

/*
 * A version is built left to right. Ranges gather in `pending` until they
 * fill chunks; chunks (new or shared) gather in `open` until they fill
 * nodes; a node of the predecessor whose chunks all stay is shared whole.
 * fv->nr counts the ranges in nodes and in `open`.
 */
typedef struct Builder {
    FlatView *fv;
    RangeVec pending; /* ranges not yet packed into a chunk */
    ChunkRef *open;   /* chunks not yet packed into a node */
    size_t nr_open, cap_open;
    size_t node_ranges; /* what the finished nodes hold */
} Builder;

/*
 * Point the node arrays where @need nodes fit (more than cap_nodes). A
 * version of one node keeps its node arrays inside itself (node_one); a
 * larger one in a heap block of three arrays of one capacity, which the
 * version keeps across lives.
 */
static void builder_grow_nodes(Builder *b, size_t need)
{
    FlatView *fv = b->fv;
    if (need == 1) {
        fv->nodes = fv->node_one.nodes;
        fv->node_starts = fv->node_one.starts;
        fv->node_first = fv->node_one.first;
        fv->cap_nodes = 1;
        return;
    }
    void *old_block = NULL;
    if (need > fv->cap_block) {
        size_t cap = MR_MAX(8, fv->cap_block);
        while (cap < need)
            cap *= 2;
        old_block = fv->node_block; /* may hold the entries: copied below */
        fv->node_block = malloc(cap * (sizeof(FvNode *) + sizeof(hwaddr) + sizeof(size_t)));
        if (!fv->node_block)
            mr_oom(__func__);
        fv->cap_block = cap;
    }
    FvNode **nodes = fv->nodes;
    hwaddr *starts = fv->node_starts;
    size_t *first = fv->node_first, n = fv->nr_nodes, cap = fv->cap_block;
    /* The three arrays one after the other (8-byte elements: each stays aligned). */
    fv->nodes = fv->node_block;
    fv->node_starts = (hwaddr *)(fv->nodes + cap);
    fv->node_first = (size_t *)(fv->node_starts + cap);
    fv->cap_nodes = cap;
    if (n) { /* from the inline arrays or the old block */
        memcpy(fv->nodes, nodes, n * sizeof(*nodes));
        memcpy(fv->node_starts, starts, n * sizeof(*starts));
        memcpy(fv->node_first, first, n * sizeof(*first));
    }
    free(old_block);
}

/* Room for @more nodes (the check inline: the arrays mostly have room). */
static inline void builder_reserve_nodes(Builder *b, size_t more)
{
    if (b->fv->nr_nodes + more > b->fv->cap_nodes)
        builder_grow_nodes(b, b->fv->nr_nodes + more);
}

/* Append node @nd (starting at @start) to the finished nodes. */
static void builder_put_node(Builder *b, FvNode *nd, hwaddr start, size_t nr_ranges)
{
    FlatView *fv = b->fv;
    builder_reserve_nodes(b, 1);
    fv->nodes[fv->nr_nodes] = nd;
    fv->node_starts[fv->nr_nodes] = start;
    fv->node_first[fv->nr_nodes] = b->node_ranges;
    fv->nr_nodes++;
    b->node_ranges += nr_ranges;
    mr_ws.index_entries++;
}

/*
 * Pack the open chunks into new nodes of nearly equal size; at the end of
 * the view (@tail), into full nodes and a last one with the rest, so that
 * a map growing at its end keeps full nodes behind it.
 */
static void builder_flush_open(Builder *b, bool tail)
{
    size_t n = b->nr_open;
    if (!n)
        return;
    size_t parts = (n + FV_FANOUT - 1) / FV_FANOUT, done = 0;
    for (size_t p = 0; p < parts; p++) {
        size_t take = tail ? MR_MIN(FV_FANOUT, n - done) : (n - done) / (parts - p);
        FvNode *nd = pool_take((void **)node_pool, &node_pool_nr, sizeof(FvNode));
        nd->born = b->fv->seq;
        nd->nr = (uint32_t)take;
        uint32_t first = 0;
        for (size_t k = 0; k < take; k++) {
            const ChunkRef *e = &b->open[done + k];
            nd->chunks[k] = e->c;
            nd->starts[k] = e->start;
            nd->first[k] = first;
            first += e->nr;
        }
        mr_ws.index_entries += take;
        ptrvec_push(&b->fv->fresh_nodes, nd);
        builder_put_node(b, nd, nd->starts[0], first);
        done += take;
    }
    b->nr_open = 0;
}

static void builder_add_chunk(Builder *b, ChunkRef e)
{
    MR_GROW_OR_DIE(b->open, b->cap_open, b->nr_open + 1, 4 * FV_FANOUT);
    b->open[b->nr_open++] = e;
    b->fv->nr += e.nr;
    if (b->nr_open >= 2 * FV_FANOUT)
        builder_flush_open(b, false);
}

/* Pack the pending ranges into chunks of nearly equal size (at the end of
 * the view, @tail: full chunks and a last one with the rest). */
static void builder_flush(Builder *b, bool tail)
{
    size_t n = b->pending.nr;
    if (!n)
        return;
    size_t parts = (n + FV_CHUNK - 1) / FV_CHUNK;
    size_t done = 0;
    for (size_t p = 0; p < parts; p++) {
        size_t take = tail ? MR_MIN(FV_CHUNK, n - done) : (n - done) / (parts - p);
        FvChunk *c = chunk_new(&b->pending.r[done], take, b->fv->seq);
        ptrvec_push(&b->fv->fresh, c);
        builder_add_chunk(b, (ChunkRef){c, c->starts[0], (uint32_t)take});
        done += take;
    }
    b->pending.nr = 0;
}

/*
 * @p (a chunk or node of the predecessor) is not part of the version being
 * built as a whole: list it in @v (retired chunks or nodes). Every chunk and
 * every node of the predecessor is either shared whole or retired here;
 * retirements come in address order, so a repeat is one of the last two
 * entries.
 */
static void retire(PtrVec *v, void *p)
{
    if ((v->n && v->v[v->n - 1] == p) || (v->n > 1 && v->v[v->n - 2] == p))
        return;
    ptrvec_push(v, p);
}

/* The last finished node goes back to the empty `open` list (a change to its
 * last chunk, or a chunk joining it, needs a new node). */
static void builder_reopen(Builder *b)
{
    FlatView *fv = b->fv;
    MR_ASSERT(!b->nr_open);
    FvNode *nd = fv->nodes[--fv->nr_nodes];
    size_t nr_ranges = b->node_ranges - fv->node_first[fv->nr_nodes];
    b->node_ranges -= nr_ranges;
    MR_GROW_OR_DIE(b->open, b->cap_open, nd->nr, 4 * FV_FANOUT);
    for (uint32_t k = 0; k < nd->nr; k++) /* fv->nr counts them still */
        b->open[k] = (ChunkRef){nd->chunks[k], nd->starts[k], fv_node_chunk_nr(nd, k, nr_ranges)};
    b->nr_open = nd->nr;
    if (nd->born == fv->seq) {
        node_free(nd);       /* ours, never published */
        fv->fresh_nodes.n--; /* it was the last one created */
    } else {
        retire(&fv->retired_nodes, nd);
    }
}

/* The chunk built last and how many of its ranges this version holds, or NULL. */
static FvChunk *builder_last_chunk(const Builder *b, uint32_t *nr)
{
    const FlatView *fv = b->fv;
    if (b->nr_open) {
        *nr = b->open[b->nr_open - 1].nr;
        return b->open[b->nr_open - 1].c;
    }
    if (!fv->nr_nodes)
        return NULL;
    const FvNode *nd = fv->nodes[fv->nr_nodes - 1];
    *nr = fv_node_chunk_nr(nd, nd->nr - 1, b->node_ranges - fv->node_first[fv->nr_nodes - 1]);
    return nd->chunks[nd->nr - 1];
}

/* Append one range; it merges with the previous one when it can. */
static void builder_push(Builder *b, const FlatRange *fr)
{
    FlatView *fv = b->fv;
    uint32_t nr = 0;
    FvChunk *last = b->pending.nr ? NULL : builder_last_chunk(b, &nr);
    if (last && nr < FV_CHUNK && last->used == nr && !can_merge(&last->ranges[nr - 1], fr)) {
        /* The slot after the last range is one no version holds: fill it
         * and share the chunk, and its node when it is finished already.
         * Versions that hold them never look past their own counts (in
         * their node arrays). */
        last->ranges[nr] = *fr;
        last->starts[nr] = fr->addr;
        last->used = nr + 1;
        if (b->nr_open)
            b->open[b->nr_open - 1].nr++;
        else
            b->node_ranges++;
        fv->nr++;
        return;
    }
    if (last && can_merge(&last->ranges[nr - 1], fr)) {
        /* The previous range sits in a finished chunk: a merge would
         * change it, so copy that chunk's ranges back into pending. */
        if (!b->nr_open)
            builder_reopen(b);
        b->nr_open--;
        fv->nr -= nr;
        for (uint32_t i = 0; i < nr; i++)
            rangevec_push(&b->pending, &last->ranges[i]);
        if (last->born == fv->seq) {
            chunk_free(last); /* ours, never published */
            fv->fresh.n--;    /* it was the last one created */
        } else {
            retire(&fv->retired, last); /* the predecessor's, no longer shared */
        }
    } else if (last && !b->nr_open && fv->nodes[fv->nr_nodes - 1]->nr < FV_FANOUT) {
        /* This range starts a chunk after a finished node with room: the
         * chunk joins that node rather than starting a small one. */
        builder_reopen(b);
    }
    rangevec_push(&b->pending, fr);
    if (b->pending.nr >= 2 * FV_CHUNK)
        builder_flush(b, false);
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
        builder_flush(b, false);
}

/* Append an unchanged chunk of the previous version: share it unless the
 * pending ranges are few (then absorb it, so chunks stay reasonably full). */
static void builder_share(Builder *b, ChunkRef e)
{
    if (b->pending.nr && b->pending.nr < FV_CHUNK / 2) {
        builder_push_run(b, e.c->ranges, e.nr);
        retire(&b->fv->retired, e.c);
        return;
    }
    builder_flush(b, false);
    builder_add_chunk(b, e);
}

/* Share old nodes [n0, n1) whole, in one go: array copies and a shift. */
static void builder_share_nodes(Builder *b, const FlatView *old, size_t n0, size_t n1)
{
    FlatView *fv = b->fv;
    size_t n = n1 - n0, at = fv->nr_nodes;
    builder_reserve_nodes(b, n);
    size_t shift = b->node_ranges - old->node_first[n0];
    if (n <= 4) { /* a view of up to 32K ranges: one loop costs less than three memcpy calls */
        for (size_t i = 0; i < n; i++) {
            fv->nodes[at + i] = old->nodes[n0 + i];
            fv->node_starts[at + i] = old->node_starts[n0 + i];
            fv->node_first[at + i] = old->node_first[n0 + i] + shift;
        }
    } else {
        memcpy(&fv->nodes[at], &old->nodes[n0], n * sizeof(*fv->nodes));
        memcpy(&fv->node_starts[at], &old->node_starts[n0], n * sizeof(hwaddr));
        if (!shift) { /* nodes before the first edit: copied as they are */
            memcpy(&fv->node_first[at], &old->node_first[n0], n * sizeof(size_t));
        } else {
            for (size_t i = 0; i < n; i++)
                fv->node_first[at + i] = old->node_first[n0 + i] + shift;
        }
    }
    size_t rend = n1 < old->nr_nodes ? old->node_first[n1] : old->nr;
    b->node_ranges += rend - old->node_first[n0];
    fv->nr += rend - old->node_first[n0];
    fv->nr_nodes += n;
    mr_ws.index_entries += n;
}

/* Share the old chunks from @p up to @end (exclusive): whole nodes where
 * the run covers them. */
static void builder_share_run(Builder *b, const FlatView *old, Place p, Place end)
{
    while (place_before(p, end)) {
        FvNode *nd = old->nodes[p.n];
        uint32_t k1 = p.n < end.n ? nd->nr : end.k;
        if (p.k == 0 && k1 == nd->nr && !b->pending.nr &&
            (!b->nr_open || b->nr_open >= FV_FANOUT / 2)) {
            /* Few open chunks would make a small node: those absorb it
             * instead. Every node before end's is whole in the run. */
            builder_flush_open(b, false);
            builder_share_nodes(b, old, p.n, end.n);
            p = (Place){end.n, 0};
            continue;
        }
        for (uint32_t k = p.k; k < k1; k++)
            builder_share(b, (ChunkRef){nd->chunks[k], nd->starts[k],
                                        fv_node_chunk_nr(nd, k, fv_node_ranges(old, p.n))});
        retire(&b->fv->retired_nodes, nd);
        p = k1 == nd->nr ? (Place){p.n + 1, 0} : end;
    }
}

static RangeVec scratch;       /* pending-range buffer reused by every build (writer lock) */
static ChunkRef *scratch_open; /* and the open-chunk buffer */
static size_t scratch_open_cap;

/* Start a version expected to have about @nodes nodes in @b. */
static void builder_start(Builder *b, MemoryRegion *root, size_t nodes)
{
    *b = (Builder){.pending = scratch, .open = scratch_open, .cap_open = scratch_open_cap};
    b->pending.nr = 0;
    b->fv = version_alloc();
    b->fv->refcount = 1;
    b->fv->root = root;
    b->fv->seq = ++mr_ws.version_seq;
    /* One node: its arrays are the version's own (node_one). More: room
     * for a few more than expected. Either way builder_put_node() and
     * builder_share_nodes() grow them as needed. */
    builder_reserve_nodes(b, nodes <= 1 ? 1 : nodes + 4);
}

/* Make @fv the newest version of @chain. (The chunks and nodes of the
 * predecessor that @fv dropped are listed while it is built: retire().) */
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
    builder_flush(b, true);
    builder_flush_open(b, true);
    scratch = b->pending; /* keep the grown buffers for the next build */
    scratch_open = b->open;
    scratch_open_cap = b->cap_open;
    version_link(chain, b->fv);
    return b->fv;
}

FlatView *flatview_build(ViewChain *chain, const FlatView *prev, MemoryRegion *root,
                         const RangeVec *v)
{
    Builder b;
    builder_start(&b, root, v->nr / ((size_t)FV_CHUNK * FV_FANOUT) + 1); /* full nodes */
    for (size_t i = 0; v && i < v->nr; i++)
        builder_push(&b, &v->r[i]);
    for (size_t n = 0; prev && n < prev->nr_nodes; n++) { /* a full render shares nothing */
        for (uint32_t k = 0; k < prev->nodes[n]->nr; k++)
            retire(&b.fv->retired, prev->nodes[n]->chunks[k]);
        retire(&b.fv->retired_nodes, prev->nodes[n]);
    }
    return builder_finish(&b, chain);
}

/* ---- incremental versions ------------------------------------------------------- */

/* Copy old ranges [@from, @to) into @b: whole chunks (and nodes) shared,
 * the ranges of a chunk the interval cuts pushed. */
static void copy_old(Builder *b, const FlatView *old, size_t from, size_t to)
{
    if (from >= to)
        return;
    for (Place p = from ? place_of(old, from) : (Place){0, 0}; from < to;) {
        size_t first;
        ChunkRef e = chunk_at(old, p, &first);
        if (from == first && first + e.nr <= to) {
            /* The run of whole chunks inside [from, to): those before the
             * chunk holding `to` (found without touching chunk memory). */
            Place end = place_of(old, to);
            builder_share_run(b, old, p, end);
            p = end;
            from = end.n < old->nr_nodes ? old->node_first[end.n] + old->nodes[end.n]->first[end.k]
                                         : old->nr;
        } else {
            size_t stop = MR_MIN(to, first + e.nr);
            builder_push_run(b, &e.c->ranges[from - first], stop - from);
            retire(&b->fv->retired, e.c);
            retire(&b->fv->retired_nodes, old->nodes[p.n]);
            from = stop;
            p = place_next(old, p);
        }
    }
}

/*
 * Can the first range edit @ed pushes merge with the old range before its
 * span? Only then is that neighbour rebuilt with the edit; otherwise it
 * stays where it is, and so may its chunk.
 */
static bool edit_merges_left(const FlatView *old, const ViewEdit *ed)
{
    const FlatRange *left = ed->before ? ed->before : flatview_range(old, ed->i0 - 1);
    if (ed->i0 < ed->i1 && flatview_range(old, ed->i0)->addr < ed->lo)
        return false; /* first comes a piece of a range that did not merge with left */
    if (ed->ranges.nr)
        return can_merge(left, &ed->ranges.r[0]);
    return ed->i0 < ed->i1 || ed->i1 < old->nr; /* what follows: not worth finding out */
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
    Builder b;
    builder_start(&b, old->root, old->nr_nodes);
    FlatView *fv = b.fv;
    MR_GROW_OR_DIE(fv->deltas, fv->cap_deltas, nr_edits, 4);
    fv->nr_deltas = nr_edits;
    fv->delta_base = old;
    size_t pos = 0;
    for (size_t e = 0; e < nr_edits; e++) {
        const ViewEdit *ed = &edits[e];
        /* The new ranges may merge with the span's neighbours: the right one
         * joins the span, and the left one when a merge is possible. */
        size_t i0 = ed->i0 > pos ? ed->i0 - edit_merges_left(old, ed) : pos;
        size_t i1 = ed->i1 < old->nr ? ed->i1 + 1 : ed->i1;
        copy_old(&b, old, pos, i0);
        ViewDelta *d = &fv->deltas[e];
        d->old_i0 = i0;
        d->old_i1 = i1;
        d->new_i0 = fv->nr + b.pending.nr;
        if (i0 < i1) { /* the chunks holding the span, and their nodes, are not shared */
            Place last = place_of(old, i1 - 1);
            for (Place p = place_of(old, i0); !place_before(last, p); p = place_next(old, p)) {
                retire(&fv->retired, old->nodes[p.n]->chunks[p.k]);
                retire(&fv->retired_nodes, old->nodes[p.n]);
            }
        }
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
    fv->fresh.n = fv->fresh_nodes.n = 0;
}

bool fr_identical(const FlatRange *a, const FlatRange *b)
{
    return a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
           a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
           a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode &&
           a->dirty_log_mask == b->dirty_log_mask && a->mr_ram == b->mr_ram &&
           a->mr_kind == b->mr_kind;
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
        version_free_all(fv);
        mr_defer_free(&fv->rcu, flatview_free_rcu, sizeof(*fv));
        return;
    }
    /* Pop released versions from the old end; what only they held dies. */
    while (chain->oldest && chain->oldest->released) {
        FlatView *v = chain->oldest;
        chain->oldest = v->newer;
        if (v->newer) {
            FlatView *w = v->newer;
            for (size_t i = 0; i < w->retired.n; i++)
                chunk_free(w->retired.v[i]);
            for (size_t i = 0; i < w->retired_nodes.n; i++)
                node_free(w->retired_nodes.v[i]);
            w->retired.n = w->retired_nodes.n = 0;
        } else {
            version_free_all(v);
            chain->newest = NULL;
        }
        mr_defer_free(&v->rcu, flatview_free_rcu, sizeof(*v));
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
    for (size_t i = 0; i < fv->fresh.n; i++)
        chunk_free(fv->fresh.v[i]); /* never published: no reader saw them */
    for (size_t i = 0; i < fv->fresh_nodes.n; i++)
        node_free(fv->fresh_nodes.v[i]);
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
