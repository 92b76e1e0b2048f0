/*
 * The view layer: flat views, their versions, rendering, and the slots that
 * publish them. Not installed.
 *
 * Implemented by render.c (a window of the region tree into ranges),
 * view_build.c (building view versions: chunks and nodes, TLB generations,
 * chains), view_lookup.c (finding ranges in a version; view_search.h holds
 * the searches both share) and address_space.c (the address-space list and
 * the reader-side accessors).
 *
 * Invariants:
 * - a view's ranges are sorted by address, disjoint, non-empty and
 *   canonical (no range could merge with its left neighbour);
 * - a published version is immutable; versions of one view root form a
 *   chain and share chunks and nodes with their predecessor only; memory
 *   of a version or chunk is freed only after a grace period;
 * - at any address, rendering shows what QEMU's painter's algorithm shows;
 * - building versions happens under the writer lock; readers (lookups,
 *   as_view) need only an RCU read-side section.
 */
#ifndef MEMREGION_VIEW_H
#define MEMREGION_VIEW_H

#include <stddef.h>

#include "base.h"

/* ---- view slots (commit.c publishes them, readers follow them) ----------------- */

/* Pages and TLB zones (see ViewSlot's zone). */
#define FV_PAGE_BITS     12
#define FV_TLB_ZONE_BITS 10
#define FV_TLB_ZONES     (1u << FV_TLB_ZONE_BITS)
#define FV_TLB_GEN_EMPTY UINT64_MAX
/* A zone's span of changed pages grows up to this many pages (1 GiB), then
 * starts again (see ViewSlot). */
#define FV_SPAN_MAX_PAGES (1ull << 18)

/* A view root: the current version rendered from it, and pending damage.
 * Readers read only `zone` and `view`; each starts a cache line of its
 * own. The writer writes `view` once per commit, while the damage
 * bookkeeping it writes several times per commit sits on other lines, so a
 * commit costs a reader that follows `view` one refetch of its line, not
 * one per write.
 *
 * Software-TLB validity (dispatch.c): pages are grouped in FV_TLB_ZONES
 * zones by page number modulo the zone count. The generation of zone z,
 * zone[z].gen, is the seq of the latest published version that changed a
 * page of zone z (every zone for a full render), FV_TLB_GEN_EMPTY before
 * the first. Seqs are unique across slots and grow, so a generation is
 * never written twice. The writer publishes a version, then writes the
 * generations of the zones it damaged (slot_publish(), release stores); a
 * TLB fill reads the generation of its page's zone first (acquire), then
 * `view` (as_view_for_fill()). So the version a fill caches from is the
 * one that wrote the generation it read, or newer; a commit that changes
 * the page after that version writes a newer generation once it has
 * published, and the entry stops matching. A hit reads one word here and
 * no version at all, and a commit rewrites only its damaged zones' records,
 * which leaves every other record in readers' caches.
 *
 * A zone holds many pages, and a commit that changes one of them leaves
 * the others right. So each zone also records which pages its recent
 * commits changed, its span: every commit that gave zone z a generation
 * in (since, zone[z].gen] changed only pages in [lo, hi]. An entry whose
 * generation is at least since, for a page outside [lo, hi], is still
 * right: the reader gives it the zone's generation (tlb_revalidate() in
 * dispatch.c) instead of filling it from the new version, whose lines
 * come from the writer's cache. The writer widens a zone's span with each
 * commit's window, or starts it again from that window (since = the
 * generation it replaces) when the span would grow past FV_SPAN_MAX_PAGES;
 * it writes since, then lo and hi, then the generation, and a reader reads
 * them in the opposite order and the generation again: a span it reads
 * while a commit updates it is then a superset of the right one, or one
 * whose since no older entry reaches.
 *
 * A zone's record (generation and span) is 32 bytes, two to a cache line:
 * a commit dirties the lines of the zones it damaged, each shared with one
 * other zone rather than seven, so a busy writer costs a reader one line
 * per damaged zone that its pages use, and a revalidation reads the line
 * its hit already fetched. In scenario 5 of the benchmarks, generations
 * packed eight to a line (and no spans) cost the reader a refill or a
 * remote line for 8 of its 500 pages per BAR move.
 */
typedef struct ViewSlot {
    /* The TLB zones (see above). First, in lines of their own (the slot is
     * allocated 64-byte aligned). */
    _Alignas(MR_CACHE_LINE) struct Zone {
        uint64_t gen;           /* what a hit compares */
        uint64_t since, lo, hi; /* the span; lo > hi: none since `since` */
    } zone[FV_TLB_ZONES];
    _Alignas(MR_CACHE_LINE) FlatView *view; /* current version (RCU-published); one reference */
    _Alignas(MR_CACHE_LINE) MemoryRegion *root;
    struct ViewChain *chain; /* every version rendered from root */
    FlatView *previous;      /* during a commit: the version it replaced */
    struct Window {
        mr_size_t lo, hi;
    } * win;
    size_t nr_win, cap_win;
    bool full;                      /* re-render all of it */
    bool queued;                    /* in the damaged list */
    bool settling;                  /* in the settle list (commit.c) */
    bool published;                 /* during a commit: it published a new version */
    struct AddressSpace *listening; /* its spaces with listeners (commit.c) */
    unsigned users;                 /* address spaces whose view root this is */
    size_t index;                   /* where it is in the list of live slots */
    struct rcu_head rcu;
} ViewSlot;

/* ---- view_build.c, view_lookup.c: view versions and lookup ------------------------ */

#define FV_CHUNK  128 /* ranges per chunk at most */
#define FV_FANOUT 64  /* chunks per node at most */

/* A growable sequence of ranges; push merges with the last when possible. */
typedef struct RangeVec {
    FlatRange *r;
    size_t nr, cap;
} RangeVec;
void rangevec_push(RangeVec *v, const FlatRange *fr);

/* Leaf of a view's two-level index: up to FV_CHUNK consecutive ranges.
 * How many of them a version holds follows from its node and its node
 * array (fv_node_chunk_nr()), so versions may hold different prefixes of
 * one chunk. Chunks and nodes are allocated on a cache line (view_build.c's
 * pool_take) and what a lookup reads comes first, so that every range lies
 * in one cache line (after a 32-byte header each one spanned two) and the
 * searched arrays in as few lines as their length allows. */
typedef struct FvChunk {
    hwaddr starts[FV_CHUNK]; /* starts[i] == ranges[i].addr, for a dense search */
    FlatRange ranges[FV_CHUNK];
    uint64_t born; /* seq of the version that created it */
    uint32_t used; /* slots some version holds (writer side): those past it are free */
    struct rcu_head rcu;
} FvChunk;

/* Inner level: up to FV_FANOUT consecutive chunks, shared between versions
 * like chunks are. How many ranges it holds is the version's (node_first),
 * so versions that differ only in the free slots of its last chunk share it. */
typedef struct FvNode {
    hwaddr starts[FV_FANOUT]; /* chunks[i]->starts[0] */
    FvChunk *chunks[FV_FANOUT];
    uint32_t first[FV_FANOUT]; /* index of chunks[i]->ranges[0] in the node */
    uint32_t nr;               /* chunks */
    uint64_t born;             /* seq of the version that created it */
    struct rcu_head rcu;
} FvNode;

static inline unsigned fv_zone(uint64_t page)
{
    return (unsigned)(page & (FV_TLB_ZONES - 1));
}

/* Old span [old_i0, old_i1) became new span [new_i0, new_i1); all other
 * ranges are identical in both versions. */
typedef struct ViewDelta {
    size_t old_i0, old_i1, new_i0, new_i1;
} ViewDelta;

/*
 * Versions are recycled (view_build.c's version_recycle), which resets
 * every field but the buffers one by one: a new field is reset there too.
 *
 * Readers read only the first part, what a lookup reads, all written only
 * while the version is built (mru is a racy hint readers write). The writer's
 * bookkeeping, which it keeps updating while the version is
 * published (references, the chain, retired and fresh lists, deltas),
 * starts on a cache line of its own, so those writes never take a line a
 * reader holds.
 */
struct FlatView {
    /* What every lookup reads: one line. */
    _Alignas(MR_CACHE_LINE) size_t nr_nodes;
    FvNode **nodes;       /* these three arrays have one capacity (cap_nodes): */
    hwaddr *node_starts;  /* nodes[i]->starts[0] */
    size_t *node_first;   /* index in the view of nodes[i]'s first range */
    size_t nr;            /* ranges */
    const FlatRange *mru; /* most recently used range, racy hint updated by readers */
    uint64_t seq;         /* creation order, unique */
    MemoryRegion *root;   /* flat-view root it was rendered from, or NULL */
    /* The next line: the three node arrays themselves when the version has
     * one node (up to 8192 ranges), so a lookup in a new version fetches two
     * lines here rather than three scattered arrays. */
    _Alignas(MR_CACHE_LINE) struct {
        FvNode *nodes[1];
        hwaddr starts[1];
        size_t first[1];
    } node_one;
    /* Writer side (refcount also by readers that take references). */
    _Alignas(MR_CACHE_LINE) unsigned long refcount; /* atomic; the empty view is pinned */
    struct rcu_head rcu;
    size_t cap_nodes;        /* capacity of the node arrays in use (1: the inline ones) */
    void *node_block;        /* heap block of the node arrays of larger versions, kept */
    size_t cap_block;        /* for the next life; its capacity in nodes */
    struct ViewChain *chain; /* versions of the same root; NULL when standalone */
    FlatView *newer;         /* next version in the chain */
    bool released;           /* its reference count reached 0 */
    /* The predecessor's chunks and nodes this version dropped, and those it
     * created (the latter until its commit is done). */
    PtrVec retired, retired_nodes, fresh, fresh_nodes;
    size_t cap_deltas; /* allocated length (versions are recycled) */
    /* How this version differs from delta_base (valid during its commit). */
    const FlatView *delta_base;
    ViewDelta *deltas;
    size_t nr_deltas;
};

_Static_assert(offsetof(FlatView, refcount) % MR_CACHE_LINE == 0 &&
                   offsetof(FlatView, node_one) + sizeof(((FlatView *)0)->node_one) <=
                       offsetof(FlatView, refcount),
               "what readers read shares no cache line with what the writer updates");
_Static_assert(offsetof(FlatView, seq) / MR_CACHE_LINE ==
                       offsetof(FlatView, nr_nodes) / MR_CACHE_LINE &&
                   (offsetof(FlatView, node_one) + sizeof(((FlatView *)0)->node_one) - 1) /
                           MR_CACHE_LINE ==
                       offsetof(FlatView, node_one) / MR_CACHE_LINE,
               "a lookup in a one-node version reads two cache lines of it");
_Static_assert(offsetof(ViewSlot, root) - offsetof(ViewSlot, view) >= MR_CACHE_LINE,
               "a slot's view pointer has a cache line of its own");
_Static_assert(sizeof(struct Zone) * 2 == MR_CACHE_LINE, "two zone records to a cache line");

/* The generation of @page's zone in @s (see ViewSlot), for a TLB hit to
 * compare with its entry's. Inside a read-side section. */
static inline uint64_t slot_tlb_gen(const ViewSlot *s, uint64_t page)
{
    return __atomic_load_n(&s->zone[fv_zone(page)].gen, __ATOMIC_RELAXED);
}

/* The pages whose zones a change of [@lo, @hi) damages: *p0 to *p1
 * inclusive, at most FV_TLB_ZONES of them (then they cover every zone).
 * False when the window is empty. */
static inline bool fv_damaged_pages(mr_size_t lo, mr_size_t hi, uint64_t *p0, uint64_t *p1)
{
    if (hi <= lo)
        return false;
    *p0 = (uint64_t)(lo >> FV_PAGE_BITS);
    *p1 = (uint64_t)((hi - 1) >> FV_PAGE_BITS);
    if (*p1 - *p0 >= FV_TLB_ZONES - 1)
        *p1 = *p0 + FV_TLB_ZONES - 1; /* every zone */
    return true;
}

/* Make @fv the current version of @s: publish it, then give the zones it
 * changed its seq as generation: all of them when @full (a full render),
 * else those of the slot's damage windows, which the caller clears
 * afterwards (commit.c; writer lock). Outside the damaged windows a
 * version shows what its predecessor did, page for page (ranges next to a
 * window may merge or split, but every byte keeps its region, offset and
 * attributes), so pages cached there stay right. */
void slot_publish(ViewSlot *s, FlatView *fv, bool full);

/* The versions rendered from one root, oldest first (see view_build.c). */
typedef struct ViewChain {
    FlatView *oldest, *newest;
    bool detached; /* its root no longer has a slot: free once empty */
} ViewChain;

ViewChain *view_chain_new(void);
void view_chain_detach(ViewChain *chain);

/* One window to replace when deriving a new version. */
typedef struct ViewEdit {
    mr_size_t lo, hi;        /* absolute window */
    size_t i0, i1;           /* old ranges that intersect it */
    const FlatRange *before; /* old range i0 - 1 when the span search met it, or NULL */
    RangeVec ranges;         /* what the window holds now */
} ViewEdit;

/* The shared view that holds no range. */
FlatView *flatview_empty(void);
/* A new version holding @v's ranges, after @prev in @chain (both may be NULL). */
FlatView *flatview_build(ViewChain *chain, const FlatView *prev, MemoryRegion *root,
                         const RangeVec *v);
/* Old ranges intersecting [lo, hi): returns i0, sets *i1, and *before to
 * range i0 - 1 when the search met it (NULL otherwise). */
size_t flatview_window_span(const FlatView *fv, mr_size_t lo, mr_size_t hi, size_t *i1,
                            const FlatRange **before);
/* A new version of @old with the edits applied. */
FlatView *flatview_splice(ViewChain *chain, const FlatView *old, const ViewEdit *edits,
                          size_t nr_edits);
/* Drop the newest version of its chain, never published. */
void flatview_discard(FlatView *fv);
/* The commit that built @fv is done: drop what only that commit needed. */
void flatview_drop_deltas(FlatView *fv);
void flatview_ref(FlatView *fv);
/* Index of the last range starting at or below @addr, or -1. */
ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr);
/* Where range index @i (< fv->nr) lies in @fv's index: chunk *k of node *n. */
void flatview_position(const FlatView *fv, size_t i, size_t *n, uint32_t *k);
/* Lookup by binary search; remembers the result as the view's MRU range. */
const FlatRange *flatview_lookup_slow(FlatView *fv, hwaddr addr);
/* End (exclusive, up to 2^64) of the unassigned hole that holds @addr. */
mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr);

/* Equal in every field, dirty-log mask included. */
bool fr_identical(const FlatRange *a, const FlatRange *b);
/* Does @fv show exactly what @old shows? Uses @fv's deltas when it was derived from @old. */
bool flatview_same(const FlatView *old, const FlatView *fv);

/* The view @as shows now. Inside an RCU read-side section, or writer side. */
/* @as's current view, or NULL while it has none (inside a read-side section). */
static inline FlatView *as_view_or_null(AddressSpace *as)
{
    ViewSlot *s = rcu_dereference(as->slot);
    return s ? rcu_dereference(s->view) : NULL;
}

static inline FlatView *as_view(AddressSpace *as)
{
    FlatView *fv = as_view_or_null(as);
    return fv ? fv : flatview_empty();
}

/* What a TLB entry is filled under: the slot, and the generation of the
 * page's zone there (FV_TLB_GEN_EMPTY: the entry may not be cached). */
typedef struct FillTag {
    const ViewSlot *slot;
    uint64_t gen;
} FillTag;

/* @as's current view, for filling a TLB entry of @page: *tag receives the
 * slot and the generation of the page's zone, read before the view (see
 * ViewSlot). Inside a read-side section. */
static inline FlatView *as_view_for_fill(AddressSpace *as, uint64_t page, FillTag *tag)
{
    ViewSlot *s = rcu_dereference(as->slot);
    tag->slot = s;
    if (!s) {
        tag->gen = FV_TLB_GEN_EMPTY;
        return flatview_empty();
    }
#ifndef MR_PLANT_VIEW_BEFORE_GEN
    tag->gen = __atomic_load_n(&s->zone[fv_zone(page)].gen, __ATOMIC_ACQUIRE);
    FlatView *fv = rcu_dereference(s->view);
#else
    /* A planted fault (tests/stress/meson.build): the generation read after
     * the view may be that of a version published since. */
    FlatView *fv = rcu_dereference(s->view);
    tag->gen = __atomic_load_n(&s->zone[fv_zone(page)].gen, __ATOMIC_ACQUIRE);
#endif
    return fv ? fv : flatview_empty();
}

/* The offset of @fr's last byte (size - 1), in 64 bits: a range's size is
 * 1 to 2^64, so this never wraps, and no 128-bit arithmetic is needed. */
static inline uint64_t fr_last_offset(const FlatRange *fr)
{
    return (uint64_t)fr->size - 1; /* 2^64 truncates to 0: 0 - 1 is 2^64 - 1 */
}

static inline bool fr_contains(const FlatRange *fr, hwaddr addr)
{
    return addr >= fr->addr && addr - fr->addr <= fr_last_offset(fr);
}

/*
 * FlatRange's private copies of its region's fields (address_space.h): the
 * lookups of the access paths read the range and not the region, a cache
 * line further away (one region each). They are functions of the region
 * alone, whose kind and memory are fixed from init to destroy, so merging
 * and clipping ranges keeps them right; render.c sets them (fr_set_region).
 * The public fields keep their offsets and the struct its size.
 */
_Static_assert(sizeof(FlatRange) == 64 && offsetof(FlatRange, size) == 16 &&
                   offsetof(FlatRange, mr) == 32 && offsetof(FlatRange, offset_in_region) == 40 &&
                   offsetof(FlatRange, readonly) == 48 && offsetof(FlatRange, dirty_log_mask) == 51,
               "FlatRange's public layout is ABI");

static inline void fr_set_region(FlatRange *fr, MemoryRegion *mr)
{
    fr->mr = mr;
    fr->mr_ram = mr->ram;
    fr->mr_kind = (uint8_t)mr->kind;
}

/* Do reads of @fr come straight from memory (RAM, ROM, a ROM device in romd mode)? */
static inline bool fr_reads_direct(const FlatRange *fr)
{
    return fr->mr_kind == MR_KIND_RAM || (fr->mr_kind == MR_KIND_ROMD && fr->romd_mode);
}

/* Do writes to @fr go straight to memory (RAM, not read-only unless @debug)? */
static inline bool fr_writes_direct(const FlatRange *fr, bool debug)
{
    return fr->mr_kind == MR_KIND_RAM && (!fr->readonly || debug);
}

/* The host byte behind @addr of @fr, or NULL when @fr's region has no memory. */
static inline uint8_t *fr_host(const FlatRange *fr, hwaddr addr)
{
    return fr->mr_ram ? fr->mr_ram + fr->offset_in_region + (addr - fr->addr) : NULL;
}

/* Lookup with the most-recently-used shortcut (inline: the hot path). */
static inline const FlatRange *flatview_lookup_fast(FlatView *fv, hwaddr addr)
{
    const FlatRange *mru = __atomic_load_n(&fv->mru, __ATOMIC_RELAXED);
    if (mru && fr_contains(mru, addr))
        return mru;
    return flatview_lookup_slow(fv, addr);
}

static inline mr_size_t fr_end(const FlatRange *fr)
{
    return (mr_size_t)fr->addr + fr->size;
}

/* ---- render.c ----------------------------------------------------------------- */

/* Append to @out the ranges the tree under @root shows in [lo, hi). Writer lock held. */
void render_window(MemoryRegion *root, mr_size_t lo, mr_size_t hi, RangeVec *out);

#endif /* MEMREGION_VIEW_H */
