/*
 * Reference model of memregion rendering, for tests.
 *
 * A deliberately simple resolver that answers "what does address X hit?"
 * by walking the region tree for that one address. It shares no code with
 * the library's renderer: it reads the tree only through the public
 * accessors of region.h (first_subregion, next_sibling, kind, addr, size,
 * priority, is_enabled, is_readonly, is_romd, alias_target, alias_offset)
 * and memory_region_get_dirty_log_mask() of listener.h.
 * It is meant to be obviously correct, not fast.
 *
 * The rules it implements (docs/internals.md, "Rendering rules"):
 *  - the walk starts at the root with base 0 and the clip [0, 2^64); every
 *    region visited, the root included, adds its own address to the base;
 *  - a disabled region hides nothing and shows nothing (with its subtree);
 *  - every region is clipped to its parent's window (the clip);
 *  - children are tried by priority, highest first; equal priorities keep
 *    the container's list order (newest first); the first child whose
 *    rendering covers the address wins;
 *  - an alias shows its target through the alias window: the target's own
 *    address is cancelled and the alias offset applied; the target's size,
 *    enabled and read-only flags apply too; an alias's subregions are never
 *    shown; an alias may lead back into a region on the path (an alias
 *    loop): the walk follows it, and the clip ends it;
 *  - containers are transparent; a terminating region (RAM, ROM, ROM
 *    device, MMIO, IOMMU) fills whatever its children leave;
 *  - read-only and non-volatile are ORed down the path.
 * All address arithmetic is signed 128-bit, so the whole 64-bit space and
 * negative alias bases are ordinary values.
 *
 * Thread rules: call where no writer changes the tree.
 */
#ifndef MEMREGION_TESTS_REFMODEL_H
#define MEMREGION_TESTS_REFMODEL_H

#include <memregion/memregion.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What one address resolves to. */
typedef struct RefHit {
    bool hit;               /**< false: the address is unassigned */
    MemoryRegion *mr;       /**< terminating region (RAM, ROM, ROM device, MMIO) */
    hwaddr offset;          /**< offset of the address in @mr */
    bool readonly;          /**< @mr or a region on the path is read-only */
    bool nonvolatile;       /**< @mr or a region on the path is non-volatile */
    bool romd_mode;         /**< @mr is a ROM device in romd mode */
    uint8_t dirty_log_mask; /**< memory_region_get_dirty_log_mask(@mr) */
} RefHit;

/**
 * Answers whether a region is marked non-volatile. The public API has no
 * accessor for that flag, so a test that sets it tells the model through
 * this callback. NULL means "never non-volatile".
 */
typedef bool (*RefNonvolatileFn)(const MemoryRegion *mr, void *opaque);

/** Install the non-volatile query used by every later call (process-wide). */
void refmodel_set_nonvolatile_fn(RefNonvolatileFn fn, void *opaque);

/**
 * Resolve @addr in the tree rendered from @root (NULL: nothing is mapped).
 * Returns the hit; sets *@broken (when not NULL) if the walk went deeper
 * than any bounded alias loop can take it (a loop that never ends).
 */
RefHit refmodel_resolve(const MemoryRegion *root, hwaddr addr, bool *broken);

/** True when @a and @b are the same answer (both unassigned, or equal in every field). */
bool refhit_equal(const RefHit *a, const RefHit *b);

/**
 * Every address where the answer of refmodel_resolve() may change: all the
 * window edges (after clipping, in absolute addresses) of every region the
 * walk can reach, plus 0 and 2^64. Between two consecutive points the
 * answer is either "unassigned" throughout or the same region with the
 * offset growing by one per byte. Returns the number of points and stores
 * a sorted, duplicate-free array in *@out (free() it), or returns 0 with
 * *@out NULL when memory runs out or the tree has a cycle.
 */
size_t refmodel_breakpoints(const MemoryRegion *root, mr_size_t **out);

/** One range of the model's flat view. */
typedef struct RefRange {
    hwaddr addr;    /**< first address */
    mr_size_t size; /**< bytes, 1 .. 2^64 */
    RefHit hit;     /**< what addr resolves to; later bytes follow linearly */
} RefRange;

/**
 * The model's flat view of @root: for each segment between breakpoints,
 * resolve its first address; assigned segments become ranges, and adjacent
 * ranges with the same region, contiguous offsets and equal flags are
 * merged. Returns the number of ranges and stores them in *@out (free() it);
 * returns (size_t)-1 with *@out NULL when memory runs out or the tree has
 * a cycle.
 */
size_t refmodel_flatten(const MemoryRegion *root, RefRange **out);

/**
 * A change to judge before it is made: @mr with @addr, @size,
 * @alias_offset and @enabled in place of its own, and, when @parent is not
 * NULL, @mr mapped as one more child of @parent.
 */
typedef struct RefChange {
    const MemoryRegion *mr;
    const MemoryRegion *parent;
    hwaddr addr;
    mr_size_t size;
    hwaddr alias_offset;
    bool enabled;
} RefChange;

/** What refmodel_loop_nesting() found. */
typedef struct RefNesting {
    unsigned max_nest; /**< most times one region occurs along one rendering path */
    uint64_t visits;   /**< regions visited by the largest walk */
    bool cut;          /**< a walk passed @nest_cap or @work_cap and was stopped */
} RefNesting;

/**
 * Alias loops (region.h, MEMREGION_ALIAS_LAPS_MAX): render each of the @n
 * regions with its whole window, following every path the clip leaves
 * open (no output), with @chg applied when not NULL, and report the most
 * times one region occurs along one path. A walk stops past @nest_cap
 * occurrences or @work_cap visits (then cut is set). This reads the tree
 * through the public accessors only, like the rest of the model.
 */
RefNesting refmodel_loop_nesting(MemoryRegion *const *regions, size_t n, const RefChange *chg,
                                 unsigned nest_cap, uint64_t work_cap);

/** A one-line description of @h into @buf ("unassigned" or "'name'+0xoff ro nv romd log=N"). */
const char *refhit_describe(const RefHit *h, char *buf, size_t len);

/*
 * The device side. IOMMU regions terminate in refmodel_resolve(); these
 * follow them the way iommu.h says, calling the model's translate directly
 * (memory_region_iommu_translate: no cache): unmapped or a bad mask gives
 * MEMTX_DECODE_ERROR, a missing permission MEMTX_ACCESS_ERROR, more than
 * MR_IOMMU_MAX_DEPTH hops MEMTX_DECODE_ERROR.
 */
typedef struct RefDma {
    MemTxResult result; /**< MEMTX_OK when @hit is a non-IOMMU region */
    RefHit hit;         /**< in the last address space reached */
    AddressSpace *as;   /**< that address space */
    hwaddr addr;        /**< and the address in it */
} RefDma;

/** Resolve @addr of @as through every IOMMU on the way. */
RefDma refmodel_dma_resolve(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs);

/**
 * The length address_space_map() must return for a direct mapping at
 * @addr of at most @len bytes: 0 when the first byte is not direct memory
 * for the direction (RAM; for reads also ROM and romd), otherwise the bytes
 * that resolve to the same region at consecutive offsets, checked every
 * @step bytes (all region and IOMMU page geometry must be multiples of it).
 */
hwaddr refmodel_map_len(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write, MemTxAttrs attrs,
                        hwaddr step);

#ifdef __cplusplus
}
#endif

#endif /* MEMREGION_TESTS_REFMODEL_H */
