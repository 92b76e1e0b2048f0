/*
 * Rendering: turn the region tree under a root into a FlatView.
 *
 * Pass 1 walks the tree depth first, the way QEMU renders: a disabled
 * region is skipped with its subtree; each region is clipped to its
 * parent's window; an alias renders its target through its window (which
 * may lead back into a region being rendered: the clip ends the loop); the
 * children of a region are visited in list order (highest priority first,
 * ties newest first); and after its children a terminating region emits one
 * fragment covering its whole clipped window. Each fragment gets a rank, its
 * emission order.
 *
 * Invariant: at any address, the fragment with the lowest rank is the one
 * QEMU's painter's algorithm shows there. (Where two fragments overlap, their
 * paths split at a region N: either they come from two children of N, and
 * the one visited first wins; or one is N's own fill, emitted after all of
 * N's children, which win.)
 *
 * Pass 2 sweeps the fragments by address with a min-heap of ranks and emits
 * the winner between consecutive event points, merging neighbours. Both
 * passes are O(m log m) in the number of fragments m: never quadratic.
 */
#include <stdlib.h>

#include "region_tree.h"
#include "view.h"
#include "listeners.h"

/* Containers with more children than this find them through the child index. */
#define INDEX_THRESHOLD 8

typedef struct Fragment {
    mr_size_t start, end; /* [start, end) absolute, end <= 2^64 */
    MemoryRegion *mr;
    hwaddr offset; /* offset in mr of start */
    bool readonly, nonvolatile;
} Fragment;

typedef struct Render {
    Fragment *frags;
    size_t nr, cap;
} Render;

static void emit(Render *r, const Fragment *f)
{
    MR_GROW_OR_DIE(r->frags, r->cap, r->nr + 1, 64);
    r->frags[r->nr++] = *f;
}

/*
 * Render @mr whose container's origin is at @base (signed: an alias may
 * move its target's origin below 0), clipped to [clip_lo, clip_hi).
 */
static void render_region(Render *r, MemoryRegion *mr, mr_int128 base, mr_size_t clip_lo,
                          mr_size_t clip_hi, bool readonly, bool nonvolatile)
{
    if (!mr->enabled)
        return;
    readonly |= mr->readonly;
    nonvolatile |= mr->nonvolatile;
    mr_int128 lo, hi;
    /* Alias loops: the mutators keep every region within this many
     * re-entries (loops.c); the test only guards that invariant. */
    if (!mr_clip_window(mr, &base, clip_lo, clip_hi, &lo, &hi) ||
        mr->on_path > MEMREGION_ALIAS_LAPS_MAX)
        return;
    mr->on_path++;
    if (mr->kind == MR_KIND_ALIAS) {
        render_region(r, mr->alias, mr_alias_base(mr, base), (mr_size_t)lo, (mr_size_t)hi, readonly,
                      nonvolatile);
        mr->on_path--;
        return;
    }
    if (mr->nr_subregions > INDEX_THRESHOLD) {
        /* Only the children that intersect the clip, in render order. */
        size_t first;
        size_t n = child_index_query(mr, (mr_size_t)(lo - base), (mr_size_t)(hi - base), &first);
        for (size_t i = 0; i < n; i++)
            render_region(r, child_index_result(first + i), base, (mr_size_t)lo, (mr_size_t)hi,
                          readonly, nonvolatile);
        child_index_release(first);
    } else {
        for (MemoryRegion *c = mr->subregions; c; c = c->sibling_next)
            render_region(r, c, base, (mr_size_t)lo, (mr_size_t)hi, readonly, nonvolatile);
    }
    if (mr_terminates(mr)) {
        mr->was_visible = true;
        Fragment f = {
            .start = (mr_size_t)lo,
            .end = (mr_size_t)hi,
            .mr = mr,
            .offset = (hwaddr)(lo - base),
            .readonly = readonly,
            .nonvolatile = nonvolatile,
        };
        emit(r, &f);
    }
    mr->on_path--;
}

/* ---- pass 2: sweep ----------------------------------------------------------- */

typedef struct Heap {
    uint32_t *v; /* fragment indices; the index is the rank */
    size_t n;
} Heap;

static void heap_push(Heap *h, uint32_t x)
{
    size_t i = h->n++;
    while (i && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static void heap_pop(Heap *h)
{
    uint32_t x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (h->v[c] >= x)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = x;
}

static const Fragment *sort_base;

static int by_start(const void *a, const void *b)
{
    mr_size_t sa = sort_base[*(const uint32_t *)a].start;
    mr_size_t sb = sort_base[*(const uint32_t *)b].start;
    return sa < sb ? -1 : sa > sb;
}

/* Scratch of pass 2, kept between renders (writer lock held). */
static uint32_t *order_buf, *heap_buf;
static size_t sweep_cap;

/* Append what fragment @w shows in [pos, stop). */
static void emit_range(const Fragment *w, mr_size_t pos, mr_size_t stop, RangeVec *out)
{
    FlatRange fr = {
        .addr = (hwaddr)pos,
        .size = stop - pos,
        .offset_in_region = w->offset + (hwaddr)(pos - w->start),
        .readonly = w->readonly,
        .nonvolatile = w->nonvolatile,
        .romd_mode = w->mr->kind == MR_KIND_ROMD && w->mr->romd_mode,
        .dirty_log_mask = memory_region_get_dirty_log_mask(w->mr),
    };
    fr_set_region(&fr, w->mr);
    if (fr.dirty_log_mask)
        dirty_ensure_bitmaps(w->mr, fr.dirty_log_mask);
    rangevec_push(out, &fr);
}

static void sweep(const Render *r, RangeVec *out)
{
    size_t m = r->nr;
    if (m == 0)
        return;   /* nothing rendered; the scratch may not even exist yet */
    if (m == 1) { /* one fragment wins everywhere it is (a small window, often) */
        emit_range(&r->frags[0], r->frags[0].start, r->frags[0].end, out);
        return;
    }
    size_t heap_cap = sweep_cap;
    MR_GROW_OR_DIE(order_buf, sweep_cap, m, 64);
    MR_GROW_OR_DIE(heap_buf, heap_cap, m, 64);
    uint32_t *order = order_buf;
    Heap heap = {.v = heap_buf};
    for (size_t i = 0; i < m; i++)
        order[i] = (uint32_t)i;
    sort_base = r->frags; /* writer lock held: no concurrent render */
    qsort(order, m, sizeof(*order), by_start);

    size_t next = 0;
    mr_size_t pos = 0;
    while (next < m || heap.n) {
        if (!heap.n)
            pos = r->frags[order[next]].start;
        while (next < m && r->frags[order[next]].start <= pos)
            heap_push(&heap, order[next++]);
        while (heap.n && r->frags[heap.v[0]].end <= pos)
            heap_pop(&heap);
        if (!heap.n)
            continue;
        const Fragment *w = &r->frags[heap.v[0]];
        mr_size_t stop = w->end;
        if (next < m && r->frags[order[next]].start < stop)
            stop = r->frags[order[next]].start;
        emit_range(w, pos, stop, out);
        pos = stop;
    }
}

/* Fragments of pass 1, kept between renders (writer lock held). */
static Render scratch;

/* Scratch kept between renders at most (fragments); a full render of a big
 * map gives the rest back, since the windows of later commits are small. */
#define SCRATCH_KEEP 1024

void render_window(MemoryRegion *root, mr_size_t lo, mr_size_t hi, RangeVec *out)
{
    MR_ASSERT_WRITER();
    scratch.nr = 0;
    render_region(&scratch, root, 0, lo, hi, false, false);
    sweep(&scratch, out);
    if (scratch.cap > SCRATCH_KEEP) {
        free(scratch.frags);
        scratch = (Render){0};
        free(order_buf);
        free(heap_buf);
        order_buf = heap_buf = NULL;
        sweep_cap = 0;
    }
}
