/*
 * memregion: address spaces, flat views and transactions.
 *
 * An AddressSpace is a root region plus the FlatView rendered from it: a
 * sorted array of non-overlapping FlatRanges that says, for every address,
 * which terminating region serves it and at which offset. Address spaces
 * whose roots render the same tree share one FlatView.
 *
 * Thread rules: address_space_init/destroy and the transaction functions
 * are writer-side (serialised by the library's internal lock, callable from
 * any thread and from callbacks). address_space_get_flatview() and
 * address_space_find_range() are reader-side: they take no lock and may run
 * concurrently with writers; they see either the old view or the new one,
 * never a mix.
 */
#ifndef MEMREGION_ADDRESS_SPACE_H
#define MEMREGION_ADDRESS_SPACE_H

#include "region.h"

MEMREGION_API_BEGIN

typedef struct FlatView FlatView;
typedef struct AddressSpace AddressSpace;
typedef struct MemoryListener MemoryListener;

/**
 * One range of a flat view: [addr, addr + size) is served by @mr starting at
 * @offset_in_region. Also the unit passed to listeners.
 *
 * The fields marked private are copies of @mr's, kept by the library so that
 * a lookup need not read the region (a cache line apart, one per region):
 * read @mr instead, they may change in any release. They sit in the struct's
 * padding, so its size (64 bytes) and the offsets of the public fields are
 * those of the releases without them.
 */
typedef struct FlatRange {
    hwaddr addr;             /**< first address in the address space */
    uint8_t *mr_ram;         /* private: @mr's host memory (mr->ram), or NULL */
    mr_size_t size;          /**< bytes, 1 .. 2^64 */
    MemoryRegion *mr;        /**< terminating region: RAM, ROM, ROM device or MMIO */
    hwaddr offset_in_region; /**< offset in @mr of @addr */
    bool readonly;           /**< @mr is read-only, or a container/alias on the path is */
    bool nonvolatile;        /**< inherited like readonly */
    bool romd_mode;          /**< @mr is a ROM device in romd mode */
    uint8_t dirty_log_mask;  /**< dirty-log clients enabled on @mr */
    uint8_t mr_kind;         /* private: @mr's MemoryRegionKind (mr->kind) */
} FlatRange;

/**
 * An address space. Caller-allocated; initialise with address_space_init().
 * As with MemoryRegion (region.h), you never write a field: the read-only
 * section may be read directly (prefer address_space_name()), the private
 * section is the library's and may change
 * in any release, and the reserved words keep the size when fields are added.
 */
struct AddressSpace {
    /* ---- read-only -------------------------------------------------------- */
    char *name;         /* owned copy */
    MemoryRegion *root; /* borrowed; root->as_users counts us */

    /* ---- private ---------------------------------------------------------- */
    struct ViewSlot *slot; /* RCU-published: the view root's slot, NULL when empty */
    AddressSpace *next;    /* global list, creation order */
    AddressSpace *prev;
    uint8_t unassigned_byte; /* value read from unassigned bytes */
    bool recheck;            /* re-derive the view root at the next commit */
    bool switching;          /* pending_slot is to be published at this commit */
    struct ViewSlot *pending_slot;
    unsigned path_len, path_cap;  /* entries used and allocated in path */
    MemoryRegion **path;          /* owned: every region the view-root derivation visited */
    MemoryListener *listeners;    /* sorted by priority ascending */
    FlatView *heard;              /* with listeners: the view they last heard of (a reference) */
    AddressSpace *listening_next; /* list of address spaces with listeners */
    struct AsDma *dma;            /* DMA mappings and bounce buffers (dma_map.c); owned */

    /* ---- reserved --------------------------------------------------------- */
    void *reserved_[4]; /* zero; for fields of later releases */
};

/**
 * Create an address space named @name rendering @root. @root must be
 * initialised and stays borrowed until address_space_destroy(). The view is
 * rendered at once (or at the outermost commit, inside a transaction).
 * Returns 0 or -EINVAL.
 */
int address_space_init(AddressSpace *as, MemoryRegion *root, const char *name);

/**
 * Destroy an address space: unregisters its listeners (replaying removals)
 * and releases its view after readers are done with it.
 */
void address_space_destroy(AddressSpace *as);

/**
 * Iterate over all address spaces in creation order: pass NULL for the
 * first. Writer-side (hold a transaction open while iterating if other
 * threads may create or destroy address spaces).
 */
AddressSpace *address_space_next(const AddressSpace *as);

/** The address space's name. */
const char *address_space_name(const AddressSpace *as);
/** The address space's root region. */
MemoryRegion *address_space_root(const AddressSpace *as);

/**
 * Set the byte that reads of unassigned addresses return (0x00 by default;
 * 0xff gives all-ones, as on an x86 I/O bus). Such reads and writes still
 * report MEMTX_DECODE_ERROR.
 */
void address_space_set_unassigned_value(AddressSpace *as, uint8_t byte);

/* ---- flat views (reader side) ------------------------------------------ */

/**
 * Take a reference on the address space's current view. The view is
 * immutable and stays valid until flatview_unref(). Reader-side: no lock.
 */
FlatView *address_space_get_flatview(AddressSpace *as);

/** Drop a reference taken by address_space_get_flatview(). */
void flatview_unref(FlatView *fv);

/** Number of ranges in @fv. */
size_t flatview_nr_ranges(const FlatView *fv);

/** Range @i of @fv (0 .. nr-1), in ascending address order. */
const FlatRange *flatview_range(const FlatView *fv, size_t i);

/** The range of @fv that holds @addr, or NULL when @addr is unassigned. O(log n). */
const FlatRange *flatview_lookup(const FlatView *fv, hwaddr addr);

/**
 * The region at the root of the tree @fv was rendered from: the address
 * space root, or a region below it that renders identically (views are
 * shared by that region). NULL when nothing is enabled.
 */
MemoryRegion *flatview_root(const FlatView *fv);

/**
 * Copy the range that holds @addr in @as's current view into @out.
 * Returns false (and leaves @out alone) when @addr is unassigned.
 * Reader-side: no lock.
 */
bool address_space_find_range(AddressSpace *as, hwaddr addr, FlatRange *out);

/* ---- transactions (writer side) ------------------------------------------ */

/**
 * Open a transaction. Transactions nest; every mutator is an implicit
 * one-change transaction. Until the outermost commit, readers keep seeing
 * the old views, which stay consistent. The calling thread holds the
 * writer lock from begin to the matching commit: other writers wait.
 */
void memory_region_transaction_begin(void);

/**
 * Close a transaction. The outermost commit re-renders the views whose
 * trees changed, publishes them and notifies listeners.
 *
 * Returns 0, or -EINVAL when the calling thread has no open transaction
 * (a commit without its begin, or one commit too many): then nothing
 * changes, the depth stays as it was, no lock is released, and
 * memregion_last_error() says why. QEMU's commit returns nothing, so code
 * ported from QEMU that ignores the result still compiles; QEMU itself
 * asserts on such a commit.
 */
int memory_region_transaction_commit(void);

/**
 * Number of view versions built since the process started, whether rendered
 * whole or by re-rendering changed windows (for tests and benchmarks).
 */
uint64_t memregion_stat_renders(void);

/**
 * Number of lookup-index entries that view versions have written since the
 * process started (for tests and benchmarks). A view's ranges sit in chunks
 * of up to 128, and its chunks in nodes of up to 64; a new version shares
 * every chunk and node it does not change, and writes only one pointer per
 * node plus the entries of the nodes it builds. So a commit that changes one
 * range costs about 64 + n/4096 entries for n ranges (a single flat array of
 * chunk pointers would cost n/128). Takes the writer lock: do not call it
 * from a listener callback of another thread's commit.
 */
uint64_t memregion_stat_index_entries(void);

/**
 * Number of grace periods the writer has waited for to free what commits
 * retired (old view versions and the parts only they held), since the
 * process started (for tests and benchmarks). Retired memory is freed in
 * batches: of 256 objects while waiting is cheap, and of about 2 MiB while
 * readers running on other CPUs make each wait dear (it interrupts them), so
 * that a busy writer then waits once per a few hundred small commits.
 * Takes the writer lock, like memregion_stat_index_entries().
 */
uint64_t memregion_stat_grace_periods(void);

MEMREGION_API_END

#endif /* MEMREGION_ADDRESS_SPACE_H */
