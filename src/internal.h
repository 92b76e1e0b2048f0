/*
 * memregion internals shared between the source files. Not installed.
 */
#ifndef MEMREGION_INTERNAL_H
#define MEMREGION_INTERNAL_H

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer builds: RCU's ordering spelled in terms TSan models. */
#include "tsan_rcu.h"
#else
/* Inline liburcu's read-side fast path (a thread-local counter and a
 * compiler barrier): the dispatch path enters a read-side section on every
 * access. liburcu permits this for LGPL-compatible code. */
#define _LGPL_SOURCE
#include <urcu-bp.h>
#endif

#include "memregion/memregion.h"
#include "memregion/listener.h"

#include "grow.h"

/* Signed 128-bit arithmetic for render bases: an alias offset larger than
 * the alias's address gives a negative base. */
typedef __int128 mr_int128;

/*
 * Thread-local state of the access path: the initial-exec model reaches it
 * with one instruction instead of a call of __tls_get_addr per access (the
 * library is linked at start-up or dlopen()ed into static TLS surplus).
 */
#define MR_THREAD __thread __attribute__((tls_model("initial-exec")))

#define MR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A growable array of pointers (zero-initialise; free(v) when done). */
typedef struct PtrVec {
    void **v;
    size_t n, cap;
} PtrVec;

/* ---- error.c: errors, out of memory, internal invariants ------------------ */

/* Record a message for memregion_last_error() and return -err. */
int mr_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Out-of-memory policy (docs/internals.md). A function that can report an
 * error reports an allocation failure as -ENOMEM, with a message, and has
 * changed nothing. Where nothing can be reported (inside a commit: render,
 * view building, listener replay; the change tracking a mutation does after
 * it validated its arguments; reclaim batching; dispatch bookkeeping), the
 * map cannot be left half-updated, so mr_oom() prints where it happened on
 * stderr and aborts the process.
 */
__attribute__((noreturn, cold)) void mr_oom(const char *where);

/*
 * The one growth helper, mr_grow_array() (grow.h), used through MR_GROW
 * (reports -ENOMEM) or MR_GROW_OR_DIE (cannot report: mr_oom).
 */
#define MR_GROW(arr, cap, need, initial)                                                           \
    __extension__({                                                                                \
        void *grow_p_ = (arr);                                                                     \
        int grow_r_ = mr_grow_array(&grow_p_, &(cap), (need), sizeof(*(arr)), (initial));          \
        (arr) = grow_p_;                                                                           \
        grow_r_;                                                                                   \
    })
#define MR_GROW_OR_DIE(arr, cap, need, initial)                                                    \
    do {                                                                                           \
        if (MR_GROW(arr, cap, need, initial))                                                      \
            mr_oom(__func__);                                                                      \
    } while (0)

/*
 * Internal invariants. MR_ASSERT(cond) checks a condition that holds
 * whatever a caller or a guest does: a false one is a bug in the library,
 * reported on stderr with its place, then abort(). API misuse is never an
 * MR_ASSERT: it returns a negative errno through mr_error(). Checks are on
 * unless NDEBUG is defined (meson -Db_ndebug=true, or if-release with a
 * release build): the default debugoptimized build and the sanitizer builds
 * have them. On hot paths only O(1) checks.
 */
__attribute__((noreturn, cold)) void mr_assert_fail(const char *expr, const char *file, int line,
                                                    const char *func);
#ifdef NDEBUG
#define MR_ASSERTS_ON   0
#define MR_ASSERT(cond) ((void)sizeof(!(cond)))
#else
#define MR_ASSERTS_ON 1
#define MR_ASSERT(cond)                                                                            \
    (__builtin_expect(!!(cond), 1) ? (void)0 : mr_assert_fail(#cond, __FILE__, __LINE__, __func__))
#endif
/* The calling thread holds the writer lock (the "writer lock held" rule). */
#define MR_ASSERT_WRITER() MR_ASSERT(mr_writer_owned())

/* ---- commit.c: the writer lock, change tracking, commits -------------------- */

/* Append @p to @a (aborts when out of memory). */
void ptrvec_push(PtrVec *a, void *p);

/* The writer lock: recursive, held from transaction begin to commit. */
void mr_writer_lock(void);
void mr_writer_unlock(void);
/* Take the writer lock if it is free or already ours; true on success. */
bool mr_writer_trylock(void);
/* Does the calling thread hold the writer lock? */
bool mr_writer_owned(void);

/* ---- reclaim.c --------------------------------------------------------------- */

/* Free @head with @fn once no reader can still see it (batched on the writer side). */
void mr_defer_free(struct rcu_head *head, void (*fn)(struct rcu_head *));
/* Writer side: free the batch now if it is full. */
void mr_reclaim_maybe(void);
/* Writer side: wait for readers and free everything batched. */
void mr_reclaim_now(void);

/* ---- commit.c: change tracking, view roots, address spaces ------------------ */

/* Is a transaction open? Asked by the writer lock's owner. */
bool mr_in_transaction(void);

/*
 * Note that what @mr shows in [lo, hi) of its own coordinates may have
 * changed. The damage travels up through containers and aliases to every
 * view root that renders @mr, where it is recorded in absolute addresses.
 * Writer lock held, inside a transaction.
 */
void mr_damage(MemoryRegion *mr, mr_size_t lo, mr_size_t hi);
/*
 * @mr's own attributes or its list of children changed: address spaces
 * whose view-root derivation passes through @mr or its container re-derive
 * it at the next commit.
 */
void mr_struct_change(MemoryRegion *mr);
/* The whole of @mr may render differently, and its attributes changed. */
void mr_note_change(MemoryRegion *mr);
/* @mr is a root whose own address changed: views rendered from it are redone. */
void mr_damage_root(MemoryRegion *mr);
/* Links between regions changed (child added or removed, alias created or gone). */
void mr_topology_changed(void);
/* @mr left its container; until that commits, views may still show it. */
void mr_note_removal(MemoryRegion *mr);
bool mr_removal_pending(const MemoryRegion *mr);
/* Every view is re-rendered at the next commit (a global attribute changed). */
void mr_damage_all_views(void);
/* @as is new, or its listeners changed: look at it at the next commit. */
void mr_as_attach(AddressSpace *as);
/* @as is going away: forget it (writer lock held). */
void mr_as_detach(AddressSpace *as);
/* @as got its first listener (true) or lost its last (false). */
void mr_as_listening(AddressSpace *as, bool on);
/* True while global dirty logging (migration) runs. */
bool mr_global_logging(void);

/* A view root: the current version rendered from it, and pending damage. */
typedef struct ViewSlot {
    MemoryRegion *root;
    FlatView *view;          /* current version (RCU-published); holds one reference */
    struct ViewChain *chain; /* every version rendered from root */
    FlatView *previous;      /* during a commit: the version it replaced */
    struct Window {
        mr_size_t lo, hi;
    } * win;
    size_t nr_win, cap_win;
    bool full;      /* re-render all of it */
    bool queued;    /* in the damaged list */
    unsigned users; /* address spaces whose view root this is */
    struct rcu_head rcu;
} ViewSlot;

/* The view @as shows now. Inside an RCU read-side section, or writer side. */
static inline FlatView *as_view(AddressSpace *as);

/* ---- per-region and per-AS extensions (region_ext.c) ----------------------- */

/* One ioeventfd attached to a region. */
typedef struct MrEventfd {
    hwaddr addr;   /* offset in the region */
    unsigned size; /* 0: any size */
    bool match_data;
    uint64_t data;
    int fd;
} MrEventfd;

/* An immutable array published with RCU; replaced whole on change. */
typedef struct MrEventfdSet {
    struct rcu_head rcu;
    size_t nr;
    MrEventfd e[];
} MrEventfdSet;

typedef struct MrCoalesced {
    hwaddr offset;
    uint64_t size;
} MrCoalesced;

/* Dirty bitmap of one client: one bit per page, updated with atomics. */
typedef struct MrBitmap {
    struct rcu_head rcu;
    unsigned page_shift;
    uint64_t nr_pages;
    unsigned long bits[];
} MrBitmap;

/* The run of a container's children that share one priority (tree.c). */
typedef struct PrioGroup {
    int32_t priority;
    MemoryRegion *first, *last;
} PrioGroup;

typedef struct RegionExt {
    uint8_t log_mask;                  /* clients enabled by memory_region_set_log */
    MrBitmap *dirty[DIRTY_MEMORY_NUM]; /* RCU-published; NULL when not logging */
    MrCoalesced *coalesced;            /* writer side only */
    size_t nr_coalesced;
    MrEventfdSet *eventfds; /* RCU-published; NULL when none */
    PrioGroup *groups;      /* as a container: its children's priority groups, highest first */
    size_t nr_groups, cap_groups;
    AddressSpace **path_users; /* address spaces whose view-root derivation visits it */
    size_t nr_path_users, cap_path_users;
} RegionExt;

/* The extension of @mr, allocated on first use (writer side). */
RegionExt *mr_ext(MemoryRegion *mr);
void mr_ext_free(MemoryRegion *mr);

/* ---- dirty.c --------------------------------------------------------------- */

/* Make sure every client in @mask has a bitmap on @mr (writer side). */
void dirty_ensure_bitmaps(MemoryRegion *mr, uint8_t mask);

/* ---- listener.c ------------------------------------------------------------ */

/* Tell @as's listeners how its view changed from @old to @new. */
void listeners_notify(AddressSpace *as, const FlatView *old, const FlatView *new);
/* Unregister every listener of @as, replaying removals. */
void listeners_remove_all(AddressSpace *as);
/* Emit attachment changes of @mr (coalescing ranges or eventfds: arrays of
 * MrCoalesced or MrEventfd) to every listener whose view shows @mr. */
typedef enum AttachKind { ATTACH_COALESCED, ATTACH_EVENTFD } AttachKind;
void listeners_attachment_changed(MemoryRegion *mr, AttachKind kind, const void *removed,
                                  size_t nr_removed, const void *added, size_t nr_added);

/* Tell every listener that global logging started (true) or stopped. */
void listeners_global_log(bool on);
/* log_sync every logging range of every address space. */
void listeners_log_sync_all(void);
/* log_sync the ranges of @mr. */
void listeners_log_sync_region(MemoryRegion *mr);

/* ---- eventfd.c ------------------------------------------------------------- */

/* Software path: signal a matching eventfd for a write of @n bytes at @off
 * of @mr instead of calling the device. Inside an RCU read-side section. */
bool eventfd_try_signal(MemoryRegion *mr, hwaddr off, const uint8_t *buf, uint64_t n);

/* ---- view_build.c, view_lookup.c: view versions ------------------------------- */

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
 * one chunk. */
typedef struct FvChunk {
    struct rcu_head rcu;
    uint64_t born;           /* seq of the version that created it */
    uint32_t used;           /* slots some version holds (writer side): those past it are free */
    hwaddr starts[FV_CHUNK]; /* starts[i] == ranges[i].addr, for a dense search */
    FlatRange ranges[FV_CHUNK];
} FvChunk;

/* Inner level: up to FV_FANOUT consecutive chunks, shared between versions
 * like chunks are. How many ranges it holds is the version's (node_first),
 * so versions that differ only in the free slots of its last chunk share it. */
typedef struct FvNode {
    struct rcu_head rcu;
    uint64_t born;             /* seq of the version that created it */
    uint32_t nr;               /* chunks */
    hwaddr starts[FV_FANOUT];  /* chunks[i]->starts[0] */
    uint32_t first[FV_FANOUT]; /* index of chunks[i]->ranges[0] in the node */
    FvChunk *chunks[FV_FANOUT];
} FvNode;

/*
 * Software-TLB validity (dispatch.c): pages are grouped in FV_TLB_ZONES
 * zones by page number modulo the zone count. The generation of zone z in
 * a version (fv_tlb_gen()) is the seq of the latest version in its chain
 * that changed a page of zone z (all of them for a full render), so a TLB
 * entry filled from any earlier version stays right for as long as its
 * zone's generation is unchanged. Generations are seqs, unique across
 * chains; the empty view's are ~0.
 *
 * The generations are stored in FV_TLB_BLOCKS blocks of FV_TLB_BLOCK_ZONES
 * and shared between versions copy-on-write, like chunks: a version copies
 * the block pointers and only the blocks whose zones it damaged, so
 * deriving a version costs a few cache lines of generations, not the
 * whole table. A block is immutable once its version is published.
 */
#define FV_PAGE_BITS       12
#define FV_TLB_ZONE_BITS   8
#define FV_TLB_ZONES       (1u << FV_TLB_ZONE_BITS)
#define FV_TLB_BLOCK_ZONES 16 /* two cache lines of generations */
#define FV_TLB_BLOCKS      (FV_TLB_ZONES / FV_TLB_BLOCK_ZONES)
#define FV_TLB_GEN_EMPTY   UINT64_MAX

typedef struct FvGenBlock {
    uint64_t gen[FV_TLB_BLOCK_ZONES]; /* first: the reader touches only these */
    uint64_t born;                    /* seq of the version that created it */
    struct rcu_head rcu;
} FvGenBlock;

static inline unsigned fv_zone(uint64_t page)
{
    return (unsigned)(page & (FV_TLB_ZONES - 1));
}

/* Old span [old_i0, old_i1) became new span [new_i0, new_i1); all other
 * ranges are identical in both versions. */
typedef struct ViewDelta {
    size_t old_i0, old_i1, new_i0, new_i1;
} ViewDelta;

struct FlatView {
    unsigned long refcount; /* atomic; the empty view is pinned */
    struct rcu_head rcu;
    MemoryRegion *root; /* flat-view root it was rendered from, or NULL */
    size_t nr;          /* ranges */
    size_t nr_chunks;   /* in all its nodes */
    size_t nr_nodes;
    FvNode **nodes;
    hwaddr *node_starts;     /* nodes[i]->starts[0] */
    size_t *node_first;      /* index in the view of nodes[i]'s first range */
    size_t *node_cfirst;     /* index in the view of nodes[i]'s first chunk */
    size_t cap_nodes;        /* allocated length of the node arrays */
    const FlatRange *mru;    /* most recently used range, racy hint updated by readers */
    uint64_t seq;            /* creation order, unique */
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
    PtrVec retired_gens, fresh_gens; /* the same for generation blocks */
    /* Last: every build writes it whole, so recycling leaves it alone. */
    FvGenBlock *tlb_gen[FV_TLB_BLOCKS]; /* see fv_tlb_gen() */
};

/* The generation of @page's zone in @fv (see FvGenBlock). */
static inline uint64_t fv_tlb_gen(const FlatView *fv, uint64_t page)
{
    unsigned z = fv_zone(page);
    return fv->tlb_gen[z / FV_TLB_BLOCK_ZONES]->gen[z % FV_TLB_BLOCK_ZONES];
}

/* The versions rendered from one root, oldest first (see view_build.c). */
typedef struct ViewChain {
    FlatView *oldest, *newest;
    bool detached; /* its root no longer has a slot: free once empty */
} ViewChain;

ViewChain *view_chain_new(void);
void view_chain_detach(ViewChain *chain);

/* One window to replace when deriving a new version. */
typedef struct ViewEdit {
    mr_size_t lo, hi; /* absolute window */
    size_t i0, i1;    /* old ranges that intersect it */
    RangeVec ranges;  /* what the window holds now */
} ViewEdit;

/* The shared view that holds no range. */
FlatView *flatview_empty(void);
/* A new version holding @v's ranges, after @prev in @chain (both may be NULL). */
FlatView *flatview_build(ViewChain *chain, const FlatView *prev, MemoryRegion *root,
                         const RangeVec *v);
/* Old ranges intersecting [lo, hi): returns i0, sets *i1. */
size_t flatview_window_span(const FlatView *fv, mr_size_t lo, mr_size_t hi, size_t *i1);
/* A new version of @old with the edits applied; its TLB generations are
 * @old's until flatview_tlb_damage() marks the windows that changed. */
FlatView *flatview_splice(ViewChain *chain, const FlatView *old, const ViewEdit *edits,
                          size_t nr_edits);
/*
 * The pages of [lo, hi) may show something else in @fv than in its
 * predecessor: their zones get @fv's seq as generation. Outside the damaged
 * windows a version shows what its predecessor did, page for page (ranges
 * next to a window may merge or split, but every byte keeps its region,
 * offset and attributes), so pages cached there stay right.
 */
void flatview_tlb_damage(FlatView *fv, mr_size_t lo, mr_size_t hi);
/* Drop the newest version of its chain, never published. */
void flatview_discard(FlatView *fv);
/* The commit that built @fv is done: drop what only that commit needed. */
void flatview_drop_deltas(FlatView *fv);
void flatview_ref(FlatView *fv);
/* Index of the last range starting at or below @addr, or -1. */
ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr);
/* Index in the view of the chunk that holds range index @i. */
size_t flatview_chunk_of(const FlatView *fv, size_t i);
/* Lookup by binary search; remembers the result as the view's MRU range. */
const FlatRange *flatview_lookup_slow(FlatView *fv, hwaddr addr);
/* End (exclusive, up to 2^64) of the unassigned hole that holds @addr. */
mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr);

/* Equal in every field, dirty-log mask included. */
bool fr_identical(const FlatRange *a, const FlatRange *b);
/* Does @fv show exactly what @old shows? Uses @fv's deltas when it was derived from @old. */
bool flatview_same(const FlatView *old, const FlatView *fv);

static inline FlatView *as_view(AddressSpace *as)
{
    ViewSlot *s = rcu_dereference(as->slot);
    FlatView *fv = s ? rcu_dereference(s->view) : NULL;
    return fv ? fv : flatview_empty();
}

static inline bool fr_contains(const FlatRange *fr, hwaddr addr)
{
    return addr >= fr->addr && (mr_size_t)(addr - fr->addr) < fr->size;
}

/* Do reads of @fr come straight from memory (RAM, ROM, a ROM device in romd mode)? */
static inline bool fr_reads_direct(const FlatRange *fr)
{
    return fr->mr->kind == MR_KIND_RAM || (fr->mr->kind == MR_KIND_ROMD && fr->romd_mode);
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

/* ---- render.c -------------------------------------------------------------- */

/* A clipped window in rendering: @mr, its container's origin at *@base,
 * inside the clip [clip_lo, clip_hi). Moves *@base to @mr's own origin and
 * stores its clipped window in [*lo, *hi); false when that is empty. */
static inline bool mr_clip_window(const MemoryRegion *mr, mr_int128 *base, mr_size_t clip_lo,
                                  mr_size_t clip_hi, mr_int128 *lo, mr_int128 *hi)
{
    *base += mr->addr;
    *lo = MR_MAX(*base, (mr_int128)clip_lo);
    *hi = MR_MIN(*base + (mr_int128)mr->size, (mr_int128)clip_hi);
    return *lo < *hi;
}

/* Where alias @mr, at origin @base, puts its target's container origin: the
 * target's own address is cancelled and alias_offset applies. */
static inline mr_int128 mr_alias_base(const MemoryRegion *mr, mr_int128 base)
{
    return base - (mr_int128)mr->alias_offset - (mr_int128)mr->alias->addr;
}

/* Append to @out the ranges the tree under @root shows in [lo, hi). Writer lock held. */
void render_window(MemoryRegion *root, mr_size_t lo, mr_size_t hi, RangeVec *out);

/* ---- child_index.c --------------------------------------------------------- */

void child_index_insert(MemoryRegion *parent, MemoryRegion *child);
void child_index_remove(MemoryRegion *parent, MemoryRegion *child);
/* Children of @parent intersecting [lo, hi) of its own coordinates, in
 * render order: results first .. first + count - 1, read with
 * child_index_result() (queries nest; a later one may move the storage),
 * and given back with child_index_release(first). Writer lock held. */
size_t child_index_query(const MemoryRegion *parent, mr_size_t lo, mr_size_t hi, size_t *first);
MemoryRegion *child_index_result(size_t i);
void child_index_release(size_t first);

/* ---- tree.c ---------------------------------------------------------------- */

/* The region QEMU's sharing rule derives from an AS root, or NULL. The
 * regions the derivation looked at go to @path (up to @max; *len may then
 * exceed @max, meaning the path was cut). */
MemoryRegion *flatview_root_of(MemoryRegion *root, MemoryRegion **path, unsigned max,
                               unsigned *len);
/* True for kinds that render themselves (RAM, ROMD, MMIO, IOMMU). */
static inline bool mr_terminates(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM || mr->kind == MR_KIND_ROMD || mr->kind == MR_KIND_MMIO ||
           mr->kind == MR_KIND_IOMMU;
}

/* ---- loops.c --------------------------------------------------------------- */

/* Is @sub @parent or one of its containers (mapping it there would make a
 * region contain itself)? */
bool mr_contains_itself(const MemoryRegion *parent, const MemoryRegion *sub);
/* With the tree as it is now (callers apply a change tentatively), does
 * rendering every loop through @m stay within MEMREGION_ALIAS_LAPS_MAX and
 * MEMREGION_ALIAS_LOOP_WORK_MAX? 0, or -ELOOP with a message. @new_link:
 * the change links @m into a container (it may close a loop); other changes
 * are free while no loop was ever closed. Writer lock held. */
int mr_check_loops(MemoryRegion *m, bool new_link);

/* ---- mmio.c ---------------------------------------------------------------- */

/* Perform @len bytes of guest access at @off in an MMIO or ROM device region
 * by the access rules in region.h. The caller has entered @mr (mmio_enter). */
MemTxResult mmio_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t len, bool is_write,
                        MemTxAttrs attrs);
/* Exactly one guest access of @size (1, 2, 4 or 8) bytes, as a typed helper
 * makes it: refused with MEMTX_DECODE_ERROR, without calling the device,
 * unless `valid` allows it; otherwise covered by device accesses. */
MemTxResult mmio_access_one(MemoryRegion *mr, hwaddr off, uint8_t *buf, unsigned size,
                            bool is_write, MemTxAttrs attrs);

/* Decide once, when @mr's ops are set, which access sizes need no adaptation. */
void mmio_ops_set(MemoryRegion *mr);

/* ---- callrec.c ------------------------------------------------------------- */

/* Record that this thread is about to run @mr's callbacks; call inside the
 * read-side section that found @mr. MEMTX_ACCESS_ERROR refuses re-entry
 * (the guard) or too deep a nesting; then nothing was recorded. */
MemTxResult mmio_enter(MemoryRegion *mr);
/* The callbacks entered last are done. */
void mmio_leave(void);
/* True while the calling thread runs inside a callback of @mr. */
bool mmio_in_callback_of(const MemoryRegion *mr);
/* Some thread runs a callback of @mr (after a grace period: or is about to). */
bool mmio_busy(const MemoryRegion *mr);
/* Wait until no thread runs a callback of @mr. */
void mmio_wait_idle(const MemoryRegion *mr);

/* Work counter of the mtree importer and printers (mtree_stat_steps()). */
extern uint64_t mr_mtree_steps;
static inline void mr_mtree_step(void)
{
    __atomic_fetch_add(&mr_mtree_steps, 1, __ATOMIC_RELAXED);
}

/* The value of @size bytes at @b, in little- (or @big_endian) byte order. */
static inline uint64_t mr_bytes_to_value(const uint8_t *b, unsigned size, bool big_endian)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * (big_endian ? size - 1 - i : i));
    return v;
}

/* Store @v as @size bytes at @b, in little- (or @big_endian) byte order. */
static inline void mr_value_to_bytes(uint64_t v, uint8_t *b, unsigned size, bool big_endian)
{
    for (unsigned i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * (big_endian ? size - 1 - i : i)));
}

/* ---- iommu.c: IOMMU regions and the walk through them ------------------------ */

/*
 * Dispatch hook for an IOMMU range: up to *n bytes at IOVA @off of @mr,
 * which was found inside the current read-side section; this ends the
 * section. Translates one IOMMU page, performs the bytes in it through the
 * target address space and sets *n to the bytes done.
 */
MemTxResult iommu_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t *n, bool is_write,
                         MemTxAttrs attrs);
/*
 * The translation step of iommu_access alone: ends the read-side section,
 * clips *n to the IOMMU page and, on MEMTX_OK, gives the target address
 * space and address; the caller performs the access there and then calls
 * iommu_translate_done() (nesting depth).
 */
MemTxResult iommu_translate_one(MemoryRegion *mr, hwaddr off, uint64_t *n, bool is_write,
                                MemTxAttrs attrs, AddressSpace **as, hwaddr *addr);
void iommu_translate_done(void);
/* IOMMU accesses this thread is nested in (at MR_IOMMU_MAX_DEPTH no IOMMU is passed). */
extern MR_THREAD unsigned iommu_depth;

/* What one 4 KiB page of IOVAs translates to, for the software TLB. */
typedef struct IommuPageXlat {
    const uint64_t *gen_src; /* the IOMMU's generation: an event changes it */
    uint64_t gen;            /* its value before the translation was made */
    AddressSpace *as;        /* target address space */
    hwaddr addr;             /* target address of the page's first byte, page-aligned */
    unsigned perm;           /* IOMMU_RO | IOMMU_WO as translate gave them */
} IommuPageXlat;
/*
 * Translate @iova of @mr for an access in direction @is_write with @attrs,
 * inside a read-side section, as the access itself would (a miss fills the
 * region's cache, so the walk that follows does not call translate again).
 * True when the 4 KiB page of IOVAs at @page (holding @iova) translates in
 * one piece to a page-aligned target; false when the region's cache is
 * off, the IOVA does not translate for the access, the page is split, or
 * the thread is already MR_IOMMU_MAX_DEPTH IOMMUs deep.
 */
bool iommu_page_xlat(MemoryRegion *mr, hwaddr page, hwaddr iova, bool is_write, MemTxAttrs attrs,
                     IommuPageXlat *x);

/* Where an address leads once every IOMMU on the way is passed. */
typedef struct MrWalk {
    AddressSpace *as;    /* the last address space reached */
    hwaddr addr;         /* the address in it */
    const FlatRange *fr; /* its range (NULL: hole or fault); valid in the section */
    hwaddr off;          /* offset in fr->mr */
    hwaddr len;          /* bytes from the address in this piece, at most asked */
    unsigned nr_stamps;  /* what the answer depends on */
    MemoryRegionCacheStamp stamps[MR_CACHE_MAX_STAMPS];
} MrWalk;

/* Resolve [@addr, @addr + @len) of @as through IOMMUs, inside a read-side
 * section. MEMTX_OK with w->fr set, or the failure (w->fr NULL); w->len is
 * the extent of the piece either way (at least 1 when @len is). */
MemTxResult iommu_walk(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write, MemTxAttrs attrs,
                       MrWalk *w);
/* Are the stamps still what they were? Inside a read-side section. */
bool iommu_stamps_valid(const MemoryRegionCacheStamp *st, unsigned n);
/* address_space_translate for an address that lands on an IOMMU range
 * (inside the read-side section). */
MemTxResult iommu_translate_section(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs,
                                    MemoryRegionSection *out);
/* Free an IOMMU region's state (destroy). */
void iommu_free(MemoryRegion *mr);

/* ---- dma_map.c --------------------------------------------------------------- */

/* Free @as's DMA state (address_space_destroy; no mapping may be live). */
void dma_as_free(AddressSpace *as);

/* ---- overlap.c --------------------------------------------------------------- */

/* Non-zero while some overlap handler is installed (a predictable branch). */
extern int overlap_check_on;
/* @sub was just linked into its container without _overlap, or moved there. */
void overlap_check_added(MemoryRegion *sub);
/* @as is going away: drop its handler. */
void overlap_as_forget(AddressSpace *as);

#endif /* MEMREGION_INTERNAL_H */
