/*
 * memregion: overlap diagnostics, the seed's accidental-overlap detection.
 *
 * memory_region_add_subregion() says "I expect no overlap";
 * memory_region_add_subregion_overlap() says "overlap is intended" (at any
 * priority, 0 included). QEMU never checks the first promise. Here two
 * checks are offered:
 *
 * - A diagnostic mode (global, or per address space) that reports every
 *   collision when it happens: a region linked without _overlap (added, or
 *   moved with set_address/set_priority) that overlaps a sibling which was
 *   also linked without _overlap. A sibling added with _overlap declared its
 *   overlaps intended and is not reported. Enabled and disabled regions are
 *   both checked: the promise is about the layout, not the current state.
 *   The check is one predictable branch when off, and an O(log n + k)
 *   query of the container's child index when on, so it can stay on in
 *   debug builds.
 * - memory_region_find_overlaps(): the overlapping siblings of a whole tree,
 *   or only the ties among them: overlaps of equal priority, whose winner is
 *   decided by insertion order alone (the most recently added wins). That
 *   hidden rule bites ported boards; QEMU's 40p and clipper machines have
 *   such a tie (dma-pageh).
 *
 * Thread rules: writer-side (the handlers are called with the writer lock
 * held, inside the transaction that linked the region; they may call any
 * writer-side function).
 */
#ifndef MEMREGION_OVERLAP_H
#define MEMREGION_OVERLAP_H

#include "address_space.h"

MEMREGION_API_BEGIN

/** Two overlapping siblings. */
typedef struct MemoryRegionOverlap {
    MemoryRegion *container; /**< their parent */
    /**
     * Collision reports: the region just linked. Listings: the sibling that
     * wins where they overlap (higher priority, else the newer).
     */
    MemoryRegion *a;
    /** Collision reports: the sibling it overlaps. Listings: the hidden one. */
    MemoryRegion *b;
    hwaddr start;   /**< first overlapping offset, in the container's coordinates */
    mr_size_t size; /**< bytes of overlap */
    bool tie;       /**< equal priorities: insertion order decides */
} MemoryRegionOverlap;

/** A report. @ov and the regions it names are valid during the call. */
typedef void (*MemoryRegionOverlapFn)(void *opaque, const MemoryRegionOverlap *ov);

/**
 * Report collisions anywhere to @fn (NULL turns the global mode off).
 * Returns 0.
 */
int memory_region_set_overlap_handler(MemoryRegionOverlapFn fn, void *opaque);

/**
 * Report collisions in containers whose topmost ancestor is @as's root to
 * @fn (NULL turns it off for @as). The handler goes away with
 * address_space_destroy(). Returns 0, -EINVAL or -ENOMEM.
 */
int address_space_set_overlap_handler(AddressSpace *as, MemoryRegionOverlapFn fn, void *opaque);

/**
 * Call @fn for every pair of overlapping, non-empty, enabled siblings in the tree
 * under @root (through subregions and alias targets, each container once),
 * or only for ties when @ties_only. Pairs are reported per container in
 * ascending address order. Returns the number of pairs, or -EINVAL/-ENOMEM.
 */
long memory_region_find_overlaps(MemoryRegion *root, bool ties_only, MemoryRegionOverlapFn fn,
                                 void *opaque);

MEMREGION_API_END

#endif /* MEMREGION_OVERLAP_H */
