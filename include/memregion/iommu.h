/*
 * memregion: IOMMU regions, as QEMU's IOMMUMemoryRegion.
 *
 * An IOMMU region sits in a tree like an MMIO region, but instead of
 * callbacks that produce data it has a `translate` callback: for an address
 * in the region (an IOVA) it returns an IOMMUTLBEntry naming the target
 * address space, the translated address, the address mask (the page the
 * answer covers) and the permissions. Every access path passes through it:
 * address_space_read/write, the typed ld/st helpers, address_space_translate,
 * address_space_map (dma.h), address_space_access_valid and the
 * MemoryRegionCache. The target address space may itself hold IOMMU regions
 * (nested translation, as a vIOMMU behind a vIOMMU); the walk follows them,
 * up to MR_IOMMU_MAX_DEPTH hops.
 *
 * Results, where QEMU 7.2 answers every failure as an unassigned access:
 *   - the IOVA is not mapped (perm IOMMU_NONE, or no target): MEMTX_DECODE_ERROR;
 *   - mapped, but not for this direction (a permission fault): MEMTX_ACCESS_ERROR;
 *   - a walk deeper than MR_IOMMU_MAX_DEPTH (a loop): MEMTX_DECODE_ERROR.
 * Reads that fail return zero bytes; writes are dropped. Nothing allocates on
 * these paths.
 *
 * Translation cache (where we do better than QEMU, which calls translate
 * on every access): two levels. A 4 KiB page of IOVAs that translates in
 * one piece to directly copied memory (RAM; ROM and romd for reads) is kept
 * in the accessing thread's software TLB, the one plain RAM accesses use, with
 * the permission translate gave for each direction; a repeated DMA through it
 * (address_space_read/write/rw and the typed ld/st helpers) then costs close
 * to a plain RAM access and does not enter the IOMMU model at all. Behind it,
 * each IOMMU region keeps a small cache of the entries its translate callback
 * returned, per IOMMU index (nested IOMMUs, MMIO targets, pages smaller than
 * 4 KiB). Both follow QEMU's IOTLB contract, the one vhost and VFIO rely on:
 * an entry returned by translate stays valid until the model announces a
 * change with memory_region_notify_iommu() (an UNMAP event for a mapping it
 * removes or narrows). Any event, and set_cache, makes every cached
 * translation of the region miss on every thread before the call returns;
 * so does a commit that changes the target page in the target address space,
 * or the IOMMU region in its own. A model that cannot announce its changes
 * turns the caches off with memory_region_iommu_set_cache(). "No mapping"
 * and permission-fault answers are never cached. Since one IOMMU region
 * normally serves one device (QEMU's intel_iommu and smmuv3 create one per
 * device or bus), the cache is in effect per device. The target address space
 * a translation names must outlive the translation (destroy it after the
 * IOMMU region, or announce the change first).
 *
 * Thread rules: init and destroy are like any region's. Register,
 * unregister and notify may run on any thread; they take a recursive lock
 * of the IOMMU region (never the writer lock), so a model may call notify
 * from its MMIO callbacks or while holding its own lock, and a notifier may
 * register or unregister notifiers. set_cache is lock-free. `translate` runs
 * on the accessing thread inside the library's RCU read-side section, as in
 * QEMU: it must not change the memory map, nor wait for a thread that may be
 * committing a change. Notifiers run on the thread calling notify, with the
 * region's lock held; they may access memory, map DMA and change the map.
 * Destroy the region only when no thread can be calling notify on it.
 */
#ifndef MEMREGION_IOMMU_H
#define MEMREGION_IOMMU_H

#include "address_space.h"

MEMREGION_API_BEGIN

/** Nested IOMMU hops a walk follows before giving up (MEMTX_DECODE_ERROR). */
#define MR_IOMMU_MAX_DEPTH 8

/** Permissions of an IOMMU mapping; also the access asked for in translate. */
typedef enum IOMMUAccessFlags {
    IOMMU_NONE = 0, /**< not mapped */
    IOMMU_RO = 1,   /**< reads allowed */
    IOMMU_WO = 2,   /**< writes allowed */
    IOMMU_RW = 3,   /**< both */
} IOMMUAccessFlags;

/** The flag for a read (@r) and/or write (@w) access. */
#define IOMMU_ACCESS_FLAG(r, w) (((r) ? IOMMU_RO : 0) | ((w) ? IOMMU_WO : 0))

/**
 * One translation: [iova & ~addr_mask, iova | addr_mask] maps to
 * [translated_addr & ~addr_mask, ...] in @target_as with @perm.
 * @addr_mask must be 2^k - 1 (0xfff for a 4 KiB page); an entry whose mask
 * is not is treated as "no mapping".
 */
typedef struct IOMMUTLBEntry {
    AddressSpace *target_as; /**< where the translated address lives */
    hwaddr iova;             /**< the input address (page-aligned or not) */
    hwaddr translated_addr;  /**< the output address */
    hwaddr addr_mask;        /**< size of the page minus one */
    IOMMUAccessFlags perm;   /**< IOMMU_NONE: not mapped */
} IOMMUTLBEntry;

/** Events an IOMMU notifier can ask for. */
typedef enum IOMMUNotifierFlag {
    IOMMU_NOTIFIER_NONE = 0,
    IOMMU_NOTIFIER_UNMAP = 0x1, /**< a mapping went away or lost permissions */
    IOMMU_NOTIFIER_MAP = 0x2,   /**< a mapping appeared */
} IOMMUNotifierFlag;

/** Both MAP and UNMAP. */
#define IOMMU_NOTIFIER_IOTLB_EVENTS (IOMMU_NOTIFIER_MAP | IOMMU_NOTIFIER_UNMAP)

/** An event announced by memory_region_notify_iommu(). */
typedef struct IOMMUTLBEvent {
    IOMMUNotifierFlag type; /**< IOMMU_NOTIFIER_MAP or IOMMU_NOTIFIER_UNMAP */
    IOMMUTLBEntry entry;    /**< for UNMAP, perm is IOMMU_NONE */
} IOMMUTLBEvent;

typedef struct IOMMUNotifier IOMMUNotifier;

/** A notifier callback: @entry describes the mapping that changed. */
typedef void (*IOMMUNotify)(IOMMUNotifier *notifier, IOMMUTLBEntry *entry);

/**
 * A caller-allocated notifier (embed it in the listening backend). Fill it
 * with iommu_notifier_init(); the remaining fields are private.
 */
struct IOMMUNotifier {
    IOMMUNotify notify;
    IOMMUNotifierFlag notifier_flags;
    hwaddr start; /**< first IOVA of interest */
    hwaddr end;   /**< last IOVA of interest (inclusive) */
    int iommu_idx;
    void *opaque;        /**< free for the caller */
    IOMMUNotifier *next; /* private: list of the region's notifiers */
    MemoryRegion *iommu; /* private: the region it is registered with, or NULL */
};

/**
 * Fill @n: events of kinds @flags over IOVAs [@start, @end] (inclusive) of
 * IOMMU index @iommu_idx go to @fn.
 */
void iommu_notifier_init(IOMMUNotifier *n, IOMMUNotify fn, IOMMUNotifierFlag flags, hwaddr start,
                         hwaddr end, int iommu_idx);

/** What an IOMMU model provides. Only translate is required. */
typedef struct IOMMUMemoryRegionOps {
    /**
     * Translate @addr (an offset in the region, the IOVA) for an access of
     * kind @flag (IOMMU_RO or IOMMU_WO; IOMMU_NONE from a replay) under
     * index @iommu_idx. Return perm IOMMU_NONE for "no mapping".
     */
    IOMMUTLBEntry (*translate)(MemoryRegion *iommu, void *opaque, hwaddr addr,
                               IOMMUAccessFlags flag, int iommu_idx);
    /** Page granularity for the default replay; NULL: 4 KiB. */
    uint64_t (*get_min_page_size)(MemoryRegion *iommu, void *opaque);
    /** The index an access with @attrs uses; NULL: always 0. */
    int (*attrs_to_index)(MemoryRegion *iommu, void *opaque, MemTxAttrs attrs);
    /** Number of indexes; NULL: 1. */
    int (*num_indexes)(MemoryRegion *iommu, void *opaque);
    /**
     * Announce every existing mapping of @n's range and index to @n with
     * memory_region_notify_iommu_one(). NULL: the library walks the range
     * page by page with translate (IOMMU_NONE), skipping by the returned
     * mask; a model with a large sparse space should provide this.
     */
    void (*replay)(MemoryRegion *iommu, void *opaque, IOMMUNotifier *n);
} IOMMUMemoryRegionOps;

/**
 * Initialise an IOMMU region of @size bytes translating with @ops (borrowed,
 * like @opaque). It renders like an MMIO region: listeners see its ranges
 * with memory_region_kind() == MR_KIND_IOMMU (memory_region_is_iommu()), so
 * a VFIO-style backend can register notifiers on region_add and drop them
 * on region_del. It cannot have subregions. memory_region_destroy() releases
 * notifiers still registered (without calling them). The printer shows it
 * as `i/o`, as QEMU's `info mtree` does. Returns 0, -EINVAL (no
 * translate, size 0 or over 2^64) or -ENOMEM.
 */
int memory_region_init_iommu(MemoryRegion *mr, const IOMMUMemoryRegionOps *ops, void *opaque,
                             const char *name, mr_size_t size);

/** True for an IOMMU region (not following aliases). */
bool memory_region_is_iommu(const MemoryRegion *mr);

/** The IOMMU region's opaque pointer given at init (NULL for other kinds). */
void *memory_region_iommu_opaque(const MemoryRegion *mr);

/**
 * Register @n with IOMMU region @mr and replay the existing mappings of its
 * range to it as MAP events (when it asked for MAP), as QEMU's VFIO does
 * with register + replay. Errors: -EINVAL (not an IOMMU region, no flags,
 * start > end, index out of range), -EBUSY (@n already registered).
 */
int memory_region_register_iommu_notifier(MemoryRegion *mr, IOMMUNotifier *n);

/** Unregister @n. Errors: -EINVAL when @n is not registered with @mr. */
int memory_region_unregister_iommu_notifier(MemoryRegion *mr, IOMMUNotifier *n);

/**
 * The IOMMU model announces a change for index @iommu_idx: clears the
 * region's translation cache (every index; the pages it had in any thread's
 * software TLB miss from now on), then calls every notifier of that index
 * whose flags include @event->type and whose range overlaps the event's
 * page. Returns the number of notifiers called, or -EINVAL.
 */
int memory_region_notify_iommu(MemoryRegion *mr, int iommu_idx, IOMMUTLBEvent event);

/**
 * Call @mr's translate callback directly, bypassing the translation cache
 * (for backends that build their own tables, and for tests). Reader-side.
 * An entry with perm IOMMU_NONE for other kinds of region.
 */
IOMMUTLBEntry memory_region_iommu_translate(MemoryRegion *mr, hwaddr addr, IOMMUAccessFlags flag,
                                            int iommu_idx);

/** Deliver @event to @n alone if its range and flags match (for replay callbacks). */
void memory_region_notify_iommu_one(IOMMUNotifier *n, IOMMUTLBEvent *event);

/** Replay @mr's existing mappings over @n's range to @n as MAP events. */
int memory_region_iommu_replay(MemoryRegion *mr, IOMMUNotifier *n);

/** The index an access with @attrs uses (0 when the model has no attrs_to_index); -EINVAL. */
int memory_region_iommu_attrs_to_index(MemoryRegion *mr, MemTxAttrs attrs);

/** The model's number of indexes (1 without num_indexes); -EINVAL for other kinds. */
int memory_region_iommu_num_indexes(MemoryRegion *mr);

/** The model's smallest page size (4096 without get_min_page_size); 0 for other kinds. */
uint64_t memory_region_iommu_get_min_page_size(MemoryRegion *mr);

/**
 * Turn the region's translation cache on (the default) or off, software-TLB
 * pages included. Off, every access calls translate, as in QEMU. Any thread.
 * Errors: -EINVAL.
 */
int memory_region_iommu_set_cache(MemoryRegion *mr, bool on);

/** Calls of @mr's translate callback so far (for tests and benchmarks). */
uint64_t memory_region_iommu_stat_translations(const MemoryRegion *mr);

MEMREGION_API_END

#endif /* MEMREGION_IOMMU_H */
