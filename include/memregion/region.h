/*
 * memregion: memory regions and the region tree.
 *
 * A MemoryRegion is a caller-allocated struct (embed it in your device
 * state). It is one of seven kinds: container, RAM, ROM, ROM device, MMIO,
 * alias or IOMMU (iommu.h). Regions are arranged in a tree with
 * memory_region_add_subregion(); an AddressSpace (address_space.h) renders
 * the tree under its root into a flat view that guest accesses are
 * dispatched through.
 *
 * Thread rules (all of this header): functions that change a region or the
 * tree are writer-side. Writers are serialised by one internal recursive
 * lock, so any thread may call them, including a device callback running
 * inside a dispatch, a listener callback, and a thread that holds an open
 * transaction. Initialisation functions touch only the region passed and
 * need no lock until the region is shared. Accessors read fields a writer
 * may change: call them from a writer, or where no writer runs.
 *
 * Errors: functions returning int return 0 on success or a negative errno
 * value, and on failure change nothing; memregion_last_error() gives the
 * message.
 */
#ifndef MEMREGION_REGION_H
#define MEMREGION_REGION_H

#include "types.h"

MEMREGION_API_BEGIN

typedef struct MemoryRegion MemoryRegion;

/** How a device lays out the bytes of a register value on the bus. */
typedef enum MemDeviceEndian {
    DEVICE_LITTLE_ENDIAN = 0, /**< byte i of an access is bits 8i..8i+7 (default) */
    DEVICE_BIG_ENDIAN = 1,    /**< byte i of an n-byte access is bits 8(n-1-i).. */
} MemDeviceEndian;

/**
 * Callbacks of an MMIO or ROM-device region, and the access shapes they take.
 *
 * Every access a guest makes (address_space_read/write and the typed ld/st
 * helpers) reaches a device through these rules, in this order:
 *
 * 1. Guest accesses. A typed helper (address_space_ldl_le and the like) whose
 *    bytes lie in the region is exactly one guest access of its size, as in
 *    QEMU. The byte-buffer API (address_space_read/write) instead cuts the
 *    bytes of a transfer that fall in the region into guest accesses: each is
 *    the largest power of two, at most valid.max_access_size (4 when that is
 *    0, QEMU's memory_access_size) and at most 8, that fits in what remains
 *    and, unless valid.unaligned, is naturally aligned at its offset.
 * 2. Validity, as QEMU's memory_region_access_valid: a guest access that
 *    valid.accepts() refuses, that is not naturally aligned when
 *    valid.unaligned is false, or whose size lies outside
 *    [valid.min_access_size, valid.max_access_size] is not performed: the
 *    device is not called, a read returns zero bytes, a write is dropped, and
 *    the result is MEMTX_DECODE_ERROR. valid.max_access_size 0 means every
 *    size is valid (valid.min_access_size is then not checked either). So a
 *    typed helper wider than valid.max_access_size, or misaligned for a
 *    device that refuses unaligned accesses, gets MEMTX_DECODE_ERROR.
 * 3. Device accesses. The device sees only sizes within
 *    [impl.min_access_size, impl.max_access_size]. A wider guest access is
 *    split, a narrower one widened. Unless impl.unaligned, device accesses are
 *    naturally aligned: an unaligned guest access is emulated with the aligned
 *    device accesses that cover it (QEMU documents this but never did it).
 * 4. Partial writes. When a device access covers bytes the guest did not
 *    write, the core reads the device access first and merges the guest's
 *    bytes in (read-modify-write). A device whose reads have side effects
 *    (clear-on-read status) sets impl.no_read_modify_write: it then gets one
 *    write of the guest bytes, the other bytes zero, with attrs.byte_enable
 *    naming the bytes written (bit i = byte i in address order); such a device
 *    should implement write_with_attrs, and no plain write, to see the mask.
 * 5. Endianness. A device value maps to bytes per `endianness`; the typed
 *    helpers convert between bytes and values by their own suffix, so a
 *    big-endian device read with ldl_le appears byte-swapped, as on a bus.
 * 6. Results of all device accesses of one transfer are ORed.
 *
 * Zero in a size field reads as in QEMU: impl.min_access_size 0 means 1 and
 * impl.max_access_size 0 means 4, so a device that says nothing sees at most
 * 4 bytes at once (an 8-byte typed load reaches it as two 4-byte reads);
 * valid.min_access_size 0 means 1; valid.max_access_size 0 means any size
 * is valid (rule 2), while the buffer API still cuts at 4 bytes (rule 1).
 * Other sizes must be 1, 2, 4 or 8.
 *
 * Deliberate differences from QEMU 7.2: a typed helper whose bytes straddle
 * two ranges is cut like a buffer (QEMU hands the whole access to the first
 * region, past its end); the buffer API aligns its guest accesses by
 * valid.unaligned (QEMU by impl.unaligned); rule 3 emulates unaligned
 * accesses that QEMU passes on unaligned.
 *
 * When a direction has both forms, the plain read/write callback is the one
 * called, as in QEMU (the `_with_attrs` form only when the plain one is
 * NULL); plain callbacks always succeed. A region whose ops lack both forms of a
 * direction answers that direction with MEMTX_DECODE_ERROR (reads return 0).
 */
typedef struct MemoryRegionOps {
    uint64_t (*read)(void *opaque, hwaddr addr, unsigned size);
    void (*write)(void *opaque, hwaddr addr, uint64_t data, unsigned size);
    MemTxResult (*read_with_attrs)(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                                   MemTxAttrs attrs);
    MemTxResult (*write_with_attrs)(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                                    MemTxAttrs attrs);
    MemDeviceEndian endianness;
    /** What the guest may do. */
    struct {
        unsigned min_access_size;
        unsigned max_access_size;
        bool unaligned;
        /** Optional: return false to refuse an access (MEMTX_DECODE_ERROR). */
        bool (*accepts)(void *opaque, hwaddr addr, unsigned size, bool is_write, MemTxAttrs attrs);
    } valid;
    /** What the callbacks handle. */
    struct {
        unsigned min_access_size;
        unsigned max_access_size;
        bool unaligned;
        bool no_read_modify_write;
    } impl;
} MemoryRegionOps;

/** The kind of a region, fixed at initialisation. */
typedef enum MemoryRegionKind {
    MR_KIND_NONE = 0,  /**< not initialised, or destroyed */
    MR_KIND_CONTAINER, /**< pure container: transparent where its children leave gaps */
    MR_KIND_RAM,       /**< host memory; read-only RAM is a ROM */
    MR_KIND_ROMD,      /**< ROM device: reads from RAM in romd mode, writes to ops */
    MR_KIND_MMIO,      /**< callbacks */
    MR_KIND_ALIAS,     /**< a window onto another region */
    MR_KIND_IOMMU,     /**< translates accesses into another address space (iommu.h) */
} MemoryRegionKind;

/**
 * Alias loops. An alias may show its own container or one of its ancestors
 * (QEMU's Arm SSE boards put "alias 3" at 0x50000000 inside the CPU container
 * it shows from 0x40000000). Rendering follows such a loop as QEMU does:
 * every level is clipped to its window, so a loop with a net displacement d
 * ends after at most size/|d| laps, with QEMU's result. A loop with no net
 * displacement whose windows still meet would never end.
 *
 * The library refuses, with -ELOOP at the call that would create it
 * (memory_region_add_subregion*(), memory_region_set_enabled(true),
 * memory_region_set_address(), memory_region_set_alias_offset(),
 * memory_region_set_size()), every map in which rendering a region (with
 * its whole window) would, along one path, render some region nested inside
 * itself more than MEMREGION_ALIAS_LAPS_MAX times (one region occurring more
 * than MEMREGION_ALIAS_LAPS_MAX + 1 times on the path: more than that many
 * laps), or would visit more than MEMREGION_ALIAS_LOOP_WORK_MAX regions of
 * one loop (loops that branch can multiply paths; this also bounds how deep
 * rendering recurses inside a loop, so a loop cannot overflow the stack). Never-ending loops are
 * always past these bounds; long ones (a 2^64-byte alias with displacement
 * 1) are refused as well. Here we differ from QEMU 7.2, which renders
 * without bound and overflows its stack on a never-ending loop. Changes that
 * only remove paths (disable, unmap, shrink) are never refused.
 *
 * A region cannot contain itself through containers alone: mapping a region
 * into itself or into one of its own subregions is refused with -ELOOP
 * (QEMU accepts a region into itself, then cannot print it).
 */
#define MEMREGION_ALIAS_LAPS_MAX      16
#define MEMREGION_ALIAS_LOOP_WORK_MAX 4096

/**
 * A memory region. Allocate it yourself (statically, on the heap, or inside
 * your device struct); initialise it with one memory_region_init_*(); tear
 * it down with memory_region_destroy().
 *
 * The struct is visible so that you can allocate it; you never write a
 * field. Its fields come in three sections, as in libuv's handles:
 *  - read-only: you may read these directly, under the same rules as the
 *    accessors (from a writer, or where no writer runs); each has an
 *    accessor too, which is the stable way;
 *  - private: the library's bookkeeping (tree links, the address index,
 *    memo fields of the change tracking). Do not read them: their meaning
 *    and presence may change in any release;
 *  - reserved: room to grow without changing the struct's size.
 * A change to the struct's size or to a read-only field raises the soname
 * (version.h). The comments state each field's invariant.
 */
struct MemoryRegion {
    /* ---- read-only -------------------------------------------------------- */
    char *name;                 /* owned copy, never NULL after init */
    MemoryRegionKind kind;      /* fixed at init */
    bool enabled;               /* disabled: vanishes with its subtree */
    bool readonly;              /* inherited by everything rendered through it */
    bool nonvolatile;           /* inherited like readonly */
    bool romd_mode;             /* ROMD only: reads direct from ram */
    int32_t priority;           /* among siblings; higher wins, ties: newest wins */
    hwaddr addr;                /* offset in container (or base when an AS root) */
    mr_size_t size;             /* 0 .. 2^64 */
    uint8_t *ram;               /* RAM, ROM, ROMD: host memory of ram_len bytes */
    uint64_t ram_len;           /* bytes at ram; size never exceeds it */
    const MemoryRegionOps *ops; /* MMIO, ROMD; borrowed */
    void *opaque;               /* passed to ops; borrowed */
    MemoryRegion *alias;        /* ALIAS: the target, never NULL */
    MemoryRegion *alias_end;    /* ALIAS: where its alias chain ends (not an alias); fixed */
    hwaddr alias_offset;        /* ALIAS: window start in the target */
    MemoryRegion *container;    /* parent, or NULL */

    /* ---- private ---------------------------------------------------------- */
    /* First what an access to a callback region reads besides ops and
     * opaque, so that it shares their cache line where the struct's
     * alignment allows (a lookup takes the kind and memory from the flat
     * range, not from here). */
    bool reentrancy_guard_off; /* see memory_region_set_reentrancy_guard() */
    uint16_t straight; /* bit n: an aligned n-byte access goes to the callbacks as it is (mmio.c) */
    void *ext;         /* per-region extensions (dirty log, ...), owned */
    bool ram_mmapped;  /* ram was mmap()ed by the library and is unmapped at destroy */
    bool was_visible;  /* was rendered into a view at least once */
    MemoryRegion *subregions;   /* children, priority descending, ties newest first */
    MemoryRegion *sibling_next; /* links in container->subregions */
    MemoryRegion *sibling_prev;
    size_t nr_subregions;  /* length of the subregions list */
    uint64_t link_seq;     /* when it was last linked: orders equal priorities */
    MemoryRegion *ix_root; /* children indexed by address (treap), for windows */
    MemoryRegion *ix_left; /* treap links in container->ix_root, keyed (addr, link_seq) */
    MemoryRegion *ix_right;
    uint32_t ix_heap;              /* treap heap priority (pseudo-random) */
    mr_size_t ix_max_end;          /* largest addr + size in this treap subtree */
    MemoryRegion *alias_users;     /* aliases whose target is this region */
    MemoryRegion *alias_user_next; /* ALIAS: link in alias->alias_users */
    unsigned as_users;             /* address spaces whose root is this region */
    uint32_t removed_gen;          /* commit generation of its last removal from a container */
    uint32_t feeds_epoch;          /* topology epoch in which `feeds` was computed */
    bool feeds;                    /* damage here can reach a view root */
    unsigned feeding_aliases;      /* the first this many alias_users reach a view root */
    uint32_t walk_gen;             /* visited mark of the current tree walk */
    uint32_t on_path;              /* times it is on the current render or damage path */
    struct ViewSlot *view_slot;    /* set while some address space's view renders from here */
    bool may_overlap;              /* added with _overlap: overlapping siblings is intended */
    struct MrIommu *iommu;         /* IOMMU: ops, notifiers, translation cache; owned */
    unsigned long dma_maps;        /* atomic: live address_space_map() pointers into its RAM */

    /* ---- reserved --------------------------------------------------------- */
    void *reserved_[4]; /* zero; for fields of later releases */
};

/* ---- initialisation and teardown --------------------------------------- */

/**
 * Initialise a pure container of @size bytes. A container has no contents
 * of its own: it is transparent where its subregions leave gaps.
 * @name is copied. Returns 0, or -EINVAL (size over 2^64, NULL mr).
 */
int memory_region_init(MemoryRegion *mr, const char *name, mr_size_t size);

/**
 * Initialise a RAM region of @size bytes. The library allocates zeroed host
 * memory with mmap() and frees it at memory_region_destroy().
 * Returns 0, -EINVAL (size 0 or over 2^64) or -ENOMEM.
 */
int memory_region_init_ram(MemoryRegion *mr, const char *name, mr_size_t size);

/**
 * Initialise a RAM region backed by @ptr, which the caller owns and must
 * keep valid until memory_region_destroy() returns.
 * Returns 0 or -EINVAL (NULL ptr, size 0 or over 2^64).
 */
int memory_region_init_ram_ptr(MemoryRegion *mr, const char *name, mr_size_t size, void *ptr);

/**
 * Initialise a ROM: library-allocated RAM that is read-only to the guest.
 * Fill it through memory_region_get_ram_ptr(). Guest writes through
 * address_space_write() and the st* helpers leave it unchanged and return
 * MEMTX_DECODE_ERROR, as QEMU's do (access.h); a CPU's TLB fill through
 * address_space_translate() sees it read-only and drops the write. Writes
 * with attrs.debug set go through (a debugger patching ROM).
 */
int memory_region_init_rom(MemoryRegion *mr, const char *name, mr_size_t size);

/**
 * Initialise a ROM device: library-allocated memory plus @ops. In romd mode
 * (the initial mode) reads come from memory and writes go to @ops; with romd
 * mode off every access goes to @ops. @ops and @opaque are borrowed; keep
 * @ops unchanged while the region exists (see memory_region_init_io()).
 */
int memory_region_init_rom_device(MemoryRegion *mr, const MemoryRegionOps *ops, void *opaque,
                                  const char *name, mr_size_t size);

/**
 * Initialise an MMIO region whose accesses go to @ops (borrowed; must
 * outlive the region). @ops may be NULL: the region then answers every
 * access with MEMTX_DECODE_ERROR (a reservation). Keep @ops unchanged while
 * the region exists, as QEMU's constant ops are: its size rules (valid,
 * impl) are read here, once, to pick the accesses that need no adaptation.
 */
int memory_region_init_io(MemoryRegion *mr, const MemoryRegionOps *ops, void *opaque,
                          const char *name, mr_size_t size);

/**
 * Initialise an alias: a window of @size bytes onto @orig starting at
 * @offset in @orig. @orig must stay initialised while the alias exists
 * (memory_region_destroy(orig) fails until the alias is destroyed).
 * Returns -EINVAL when @orig is not initialised, or when @offset + @size
 * passes 2^64. Subregions cannot be added to an alias.
 */
int memory_region_init_alias(MemoryRegion *mr, const char *name, MemoryRegion *orig, hwaddr offset,
                             mr_size_t size);

/**
 * Tear a region down: free its name and any memory the library allocated,
 * and detach its subregions (they stay initialised, unmapped).
 *
 * Fails with -EBUSY while the region is in use: mapped in a container, the
 * root of an address space, the target of an alias, holding live DMA
 * mappings (address_space_map, dma.h), or removed by a transaction that has
 * not committed yet (the published views still show it). Fails with
 * -EDEADLK when called from inside one of the region's own callbacks.
 * Inside an open transaction it also fails with -EBUSY when a callback of
 * the region is running on another thread (it cannot wait there: that
 * callback may be waiting for the writer lock).
 *
 * On success it has waited until no lock-free reader can still be using
 * the region, so the caller may free the struct at once. A FlatView
 * reference taken earlier with address_space_get_flatview() may still list
 * the region: drop such references before destroying what they show.
 */
int memory_region_destroy(MemoryRegion *mr);

/* ---- tree operations ----------------------------------------------------- */

/**
 * Map @sub at @offset inside @parent with priority 0, promising that it
 * overlaps no sibling. Same as memory_region_add_subregion_overlap(parent,
 * offset, sub, 0) except for that promise, which the overlap diagnostics
 * (overlap.h) check when they are on.
 */
int memory_region_add_subregion(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub);

/**
 * Map @sub at @offset inside @parent with @priority. Where siblings overlap,
 * the higher priority wins; at equal priority the one added most recently
 * wins. @sub must not already have a parent, must not be @parent or one of
 * its containers, and the map must stay within the alias-loop bounds (see
 * MEMREGION_ALIAS_LAPS_MAX): an alias in @sub's subtree may lead back to
 * @parent or above when rendering that loop ends.
 * @parent must not be an alias or an IOMMU region. @offset + size(@sub) must not pass 2^64.
 * Errors: -EINVAL, -EBUSY (already has a parent), -ELOOP (a region inside
 * itself, or an alias loop past the bounds).
 */
int memory_region_add_subregion_overlap(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub,
                                        int32_t priority);

/**
 * Unmap @sub from @parent. Whatever @sub hid shows again.
 * Errors: -EINVAL when @sub is not a child of @parent.
 */
int memory_region_del_subregion(MemoryRegion *parent, MemoryRegion *sub);

/**
 * Enable or disable @mr. A disabled region vanishes with its whole subtree.
 * Errors: -ELOOP when enabling would take an alias loop past its bounds
 * (MEMREGION_ALIAS_LAPS_MAX); disabling never fails.
 */
int memory_region_set_enabled(MemoryRegion *mr, bool enabled);

/**
 * Move @mr to @addr within its container. This counts as removing and
 * re-adding it: it becomes the newest among its equal-priority siblings.
 * Moving it to the address it already has does nothing at all: it keeps
 * its place among equal-priority siblings, and no view changes (QEMU's rule).
 * Errors: -EINVAL when @addr + size passes 2^64; -ELOOP when the move would
 * take an alias loop past its bounds (MEMREGION_ALIAS_LAPS_MAX).
 */
int memory_region_set_address(MemoryRegion *mr, hwaddr addr);

/**
 * Change @mr's priority within its container; like set_address this counts
 * as a re-add (newest among its new equal-priority siblings), and setting
 * the priority it already has does nothing.
 */
int memory_region_set_priority(MemoryRegion *mr, int32_t priority);

/**
 * Change where an alias's window starts in its target.
 * Errors: -EINVAL (not an alias, overflow); -ELOOP when the new offset would
 * take an alias loop past its bounds (MEMREGION_ALIAS_LAPS_MAX).
 */
int memory_region_set_alias_offset(MemoryRegion *mr, hwaddr offset);

/**
 * Mark @mr read-only, or not. The flag is inherited by everything rendered
 * through @mr (FlatRange.readonly). Guest writes to read-only RAM are
 * refused like writes to a ROM (see address_space_write()); callback
 * regions (MMIO, ROM devices) still receive writes, as in QEMU: the device
 * decides.
 */
int memory_region_set_readonly(MemoryRegion *mr, bool readonly);

/** Mark @mr non-volatile (informational, inherited like readonly). */
int memory_region_set_nonvolatile(MemoryRegion *mr, bool nonvolatile);

/**
 * Change @mr's size. RAM-backed regions cannot grow past the memory they
 * were created with (-EINVAL); RAM cannot become 0 bytes. Overflow past
 * 2^64 is -EINVAL: for a mapped region its address + size, for an alias its
 * offset + size (an unmapped region's address is checked when it is added).
 * Growing a region on an alias loop past the loop's bounds is -ELOOP
 * (MEMREGION_ALIAS_LAPS_MAX).
 */
int memory_region_set_size(MemoryRegion *mr, mr_size_t size);

/** Switch a ROM device's romd mode. Errors: -EINVAL (not a ROM device). */
int memory_region_rom_device_set_romd(MemoryRegion *mr, bool romd_mode);

/**
 * Re-entrancy guard: an MMIO access that reaches @mr while the same thread
 * is already inside one of @mr's callbacks (a device doing DMA to itself)
 * is refused with MEMTX_ACCESS_ERROR. Pass false to allow such accesses for
 * a device that needs them. On by default.
 */
int memory_region_set_reentrancy_guard(MemoryRegion *mr, bool on);

/* ---- accessors ----------------------------------------------------------- */

/** The region's name (owned by the region). */
const char *memory_region_name(const MemoryRegion *mr);
/** The region's kind. */
MemoryRegionKind memory_region_kind(const MemoryRegion *mr);
/** The size in bytes (MR_SIZE_2_64 for the whole space). */
mr_size_t memory_region_size(const MemoryRegion *mr);
/** The offset in the container. */
hwaddr memory_region_addr(const MemoryRegion *mr);
/** The priority among siblings. */
int32_t memory_region_priority(const MemoryRegion *mr);
/** True unless disabled. */
bool memory_region_is_enabled(const MemoryRegion *mr);
/** True when the region itself is marked read-only (a ROM is). */
bool memory_region_is_readonly(const MemoryRegion *mr);
/** True when the region itself is marked non-volatile. */
bool memory_region_is_nonvolatile(const MemoryRegion *mr);
/** True for RAM and ROM. */
bool memory_region_is_ram(const MemoryRegion *mr);
/** True for a ROM: RAM that is read-only. */
bool memory_region_is_rom(const MemoryRegion *mr);
/** True for a ROM device in romd mode. */
bool memory_region_is_romd(const MemoryRegion *mr);
/** The byte order of a callback region's device (little-endian when it has no ops). */
MemDeviceEndian memory_region_endianness(const MemoryRegion *mr);
/** The container @mr is mapped in, or NULL. */
MemoryRegion *memory_region_container(const MemoryRegion *mr);
/** An alias's target, or NULL for other kinds. */
MemoryRegion *memory_region_alias_target(const MemoryRegion *mr);
/** An alias's offset in its target (0 for other kinds). */
hwaddr memory_region_alias_offset(const MemoryRegion *mr);
/**
 * Host memory of a RAM, ROM or ROM device region, following aliases (their
 * offsets are added); NULL for other kinds, and NULL when the alias offsets
 * point past the end of the target's memory. Valid until destroy.
 */
void *memory_region_get_ram_ptr(const MemoryRegion *mr);
/** The first subregion in priority order (highest first), or NULL. */
MemoryRegion *memory_region_first_subregion(const MemoryRegion *mr);
/** The next sibling in priority order, or NULL. */
MemoryRegion *memory_region_next_sibling(const MemoryRegion *mr);

MEMREGION_API_END

#endif /* MEMREGION_REGION_H */
