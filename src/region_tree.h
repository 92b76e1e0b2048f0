/*
 * The region tree layer: regions, their links, and what belongs to them.
 * Not installed.
 *
 * Implemented by region.c (initialisation, teardown, setters, accessors),
 * tree.c (subregion links, priority groups, the view-root derivation),
 * loops.c (the alias-loop bounds), child_index.c (the per-container
 * interval treap), region_ext.c (per-region extensions: dirty bitmaps,
 * coalescing ranges, ioeventfds, priority groups, view-root path users) and
 * overlap.c (overlap diagnostics).
 *
 * Invariants:
 * - container->subregions is ordered by priority, highest first; among
 *   equal priorities the most recently (re-)added comes first. Render order
 *   is list order.
 * - the child index of a container holds exactly its children, and every
 *   node's ix_max_end is the largest end in its subtree.
 * - no change leaves a map whose rendering would not end (loops_check).
 * - a region's extension belongs to the region: it survives unmapping,
 *   remapping and moving, and goes only with memory_region_destroy().
 * - everything here runs with the writer lock held; readers see regions
 *   only through published views.
 */
#ifndef MEMREGION_REGION_TREE_H
#define MEMREGION_REGION_TREE_H

#include "base.h"

/* ---- region_ext.c: per-region extensions -------------------------------------- */

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
RegionExt *region_ext(MemoryRegion *mr);
void region_ext_free(MemoryRegion *mr);

/* ---- child_index.c: children by address --------------------------------------- */

void child_index_insert(MemoryRegion *parent, MemoryRegion *child);
void child_index_remove(MemoryRegion *parent, MemoryRegion *child);
/* Children of @parent intersecting [lo, hi) of its own coordinates, in
 * render order: results first .. first + count - 1, read with
 * child_index_result() (queries nest; a later one may move the storage),
 * and given back with child_index_release(first). Writer lock held. */
size_t child_index_query(const MemoryRegion *parent, mr_size_t lo, mr_size_t hi, size_t *first);
MemoryRegion *child_index_result(size_t i);
void child_index_release(size_t first);

/* ---- tree.c: links and the view-root derivation ------------------------------- */

/* The region QEMU's sharing rule derives from an AS root, or NULL. The
 * regions the derivation looked at go to @path (up to @max; *len may then
 * exceed @max, meaning the path was cut). */
MemoryRegion *tree_view_root(MemoryRegion *root, MemoryRegion **path, unsigned max, unsigned *len);
/* True for kinds that render themselves (RAM, ROMD, MMIO, IOMMU). */
static inline bool mr_terminates(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM || mr->kind == MR_KIND_ROMD || mr->kind == MR_KIND_MMIO ||
           mr->kind == MR_KIND_IOMMU;
}

/* ---- geometry shared by render.c, loops.c and the mtree printer --------------- */

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

/* ---- loops.c: alias-loop bounds ------------------------------------------------ */

/* Is @sub @parent or one of its containers (mapping it there would make a
 * region contain itself)? */
bool loops_contains_itself(const MemoryRegion *parent, const MemoryRegion *sub);
/* With the tree as it is now (callers apply a change tentatively), does
 * rendering every loop through @m stay within MEMREGION_ALIAS_LAPS_MAX and
 * MEMREGION_ALIAS_LOOP_WORK_MAX? 0, or -ELOOP with a message. @new_link:
 * the change links @m into a container (it may close a loop); other changes
 * are free while no loop was ever closed. Writer lock held. */
int loops_check(MemoryRegion *m, bool new_link);

/* ---- overlap.c: overlap diagnostics --------------------------------------------- */

/* @sub was just linked into its container without _overlap, or moved there
 * (called only while mr_ws.overlap_check_on, globals.h, says handlers exist). */
void overlap_check_added(MemoryRegion *sub);
/* @as is going away: drop its handler. */
void overlap_as_forget(AddressSpace *as);

#endif /* MEMREGION_REGION_TREE_H */
