/*
 * View versions, reader side: finding ranges in a FlatView by address or by
 * index. Versions are built by view_build.c.
 *
 * Invariant: everything here only reads a version, never writes it (the
 * racy MRU hint of flatview_lookup_slow() aside), so it runs without locks
 * inside an RCU read-side section, or on the writer side on versions it
 * built. A version is found in three binary searches: the node by its
 * first address (or first range index), the chunk in the node, the range
 * in the chunk.
 */
#include <stddef.h>

#include "view.h"
#include "view_search.h"

/* ---- range search ---------------------------------------------------------------- */

static const FlatRange *locate_le(const FlatView *fv, hwaddr addr, mr_size_t *next_start,
                                  ptrdiff_t *idx);

/* Index of the first range of @fv starting at or above @addr (nr if none). */
static size_t first_starting_at(const FlatView *fv, mr_size_t addr)
{
    if (addr >= MR_SIZE_2_64)
        return fv->nr;
    mr_size_t next;
    ptrdiff_t i;
    const FlatRange *fr = locate_le(fv, (hwaddr)addr, &next, &i);
    if (!fr)
        return 0;
    return fr->addr == addr ? (size_t)i : (size_t)i + 1;
}

/* The last range of @fv (which holds one at least), without a search: the
 * last chunk of the last node holds it, at the index the counts give. */
static const FlatRange *last_range(const FlatView *fv)
{
    size_t n = fv->nr_nodes - 1;
    const FvNode *nd = fv->nodes[n];
    return &nd->chunks[nd->nr - 1]->ranges[fv_node_ranges(fv, n) - nd->first[nd->nr - 1] - 1];
}

size_t flatview_window_span(const FlatView *fv, mr_size_t lo, mr_size_t hi, size_t *i1,
                            const FlatRange **before)
{
    *before = NULL;
    if (lo >= MR_SIZE_2_64) {
        *i1 = fv->nr;
        return fv->nr;
    }
    mr_size_t next;
    ptrdiff_t i;
    const FlatRange *fr = fv->nr ? last_range(fv) : NULL;
    if (fr && lo >= fr->addr) {
        /* A window at or past the last range's start (a board mapping its
         * devices in address order, or unmapping the last one): that range
         * is the one locate_le() would find, and no range starts after it. */
        i = (ptrdiff_t)fv->nr - 1;
        next = MR_SIZE_2_64;
    } else {
        fr = locate_le(fv, (hwaddr)lo, &next, &i);
    }
    /* A window no other range starts in (a small damaged window usually):
     * the one search for lo gives both ends. */
    *i1 = hi <= next ? (size_t)(i + 1) : first_starting_at(fv, hi);
    if (!fr)
        return 0;
    if (fr_end(fr) > lo)
        return (size_t)i;
    *before = fr;
    return (size_t)i + 1;
}

/* ---- lookup ---------------------------------------------------------------------------- */

void flatview_position(const FlatView *fv, size_t i, size_t *node, uint32_t *k)
{
    size_t n = (size_t)FV_BSEARCH_LE(fv->node_first, fv->nr_nodes, i); /* node_first[0] == 0 */
    const FvNode *nd = fv->nodes[n];
    *node = n;
    *k = (uint32_t)FV_BSEARCH_LE(nd->first, nd->nr, i - fv->node_first[n]);
}

/* The last range starting at or below @addr (NULL: none) and its index in
 * *idx (-1: none), and the start of the next range (or 2^64). */
static const FlatRange *locate_le(const FlatView *fv, hwaddr addr, mr_size_t *next_start,
                                  ptrdiff_t *idx)
{
    ptrdiff_t n = FV_BSEARCH_LE(fv->node_starts, fv->nr_nodes, addr);
    if (n < 0) {
        *next_start = fv->nr_nodes ? fv->node_starts[0] : MR_SIZE_2_64;
        *idx = -1;
        return NULL;
    }
    const FvNode *nd = fv->nodes[n];
    ptrdiff_t k = FV_BSEARCH_LE(nd->starts, nd->nr, addr);
    const FvChunk *ch = nd->chunks[k];
    uint32_t nr = fv_node_chunk_nr(nd, (uint32_t)k,
                                   fv_node_ranges(fv, (size_t)n)); /* the chunk may hold more */
    ptrdiff_t i = FV_BSEARCH_LE(ch->starts, nr, addr);
    *idx = (ptrdiff_t)(fv->node_first[n] + nd->first[k]) + i;
    if ((uint32_t)(i + 1) < nr)
        *next_start = ch->starts[i + 1];
    else if ((uint32_t)(k + 1) < nd->nr)
        *next_start = nd->starts[k + 1];
    else
        *next_start = (size_t)n + 1 < fv->nr_nodes ? fv->node_starts[n + 1] : MR_SIZE_2_64;
    return &ch->ranges[i];
}

/* The range holding @addr (or NULL), and as locate_le(). */
static const FlatRange *locate(const FlatView *fv, hwaddr addr, mr_size_t *next_start,
                               ptrdiff_t *idx)
{
    const FlatRange *fr = locate_le(fv, addr, next_start, idx);
    return fr && fr_contains(fr, addr) ? fr : NULL;
}

/* The range holding @addr, or NULL: locate() without the index and the
 * next start, which the access paths (a TLB miss, translate) do not need.
 * Every range of a node and chunk starts at or after the node's and the
 * chunk's first, so the two inner searches always find one. */
static inline const FlatRange *find(const FlatView *fv, hwaddr addr)
{
    ptrdiff_t n = FV_BSEARCH_LE(fv->node_starts, fv->nr_nodes, addr);
    if (n < 0)
        return NULL;
    const FvNode *nd = fv->nodes[n];
    uint32_t k = (uint32_t)FV_BSEARCH_LE(nd->starts, nd->nr, addr);
    const FvChunk *ch = nd->chunks[k];
    uint32_t nr = fv_node_chunk_nr(nd, k, fv_node_ranges(fv, (size_t)n));
    const FlatRange *fr = &ch->ranges[FV_BSEARCH_LE(ch->starts, nr, addr)];
    return fr_contains(fr, addr) ? fr : NULL;
}

ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr)
{
    mr_size_t next;
    ptrdiff_t i;
    locate(fv, addr, &next, &i);
    return i;
}

const FlatRange *flatview_lookup(const FlatView *fv, hwaddr addr)
{
    return find(fv, addr);
}

const FlatRange *flatview_lookup_slow(FlatView *fv, hwaddr addr)
{
    const FlatRange *fr = find(fv, addr);
    if (fr)
        __atomic_store_n(&fv->mru, fr, __ATOMIC_RELAXED);
    return fr;
}

mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr)
{
    mr_size_t next;
    ptrdiff_t i;
    locate(fv, addr, &next, &i);
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
    size_t n;
    uint32_t k;
    flatview_position(fv, i, &n, &k);
    const FvNode *nd = fv->nodes[n];
    return &nd->chunks[k]->ranges[i - fv->node_first[n] - nd->first[k]];
}

MemoryRegion *flatview_root(const FlatView *fv)
{
    return fv->root;
}
