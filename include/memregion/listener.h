/*
 * memregion: listeners, dirty logging, coalesced MMIO and ioeventfd.
 *
 * A MemoryListener follows one address space. After every commit that
 * changes the space's view it receives the minimal difference between the
 * old and the new view: begin, then every region_del, then region_add, then
 * commit. A range whose region, offset, size, readonly, romd mode or
 * nonvolatile flag changed is a del plus an add. A range whose dirty-log
 * mask alone changed gets region_nop followed by log_start and/or log_stop.
 * Ranges that did not change are not mentioned (unlike QEMU, which sends a
 * region_nop for every kept range), so an update costs what changed. An
 * address space whose view did not change hears nothing, not even begin.
 * Applying the callbacks to a copy of the old view gives exactly the new
 * view.
 *
 * Coalescing ranges and eventfds are attachments of their region: they are
 * reported (in absolute addresses) right after the region_add of a range
 * that shows them and right before the region_del of such a range, and on
 * their own (bracketed by begin/commit) when they are added or removed.
 *
 * Priorities: add-type callbacks (begin, region_add, region_nop, log_start,
 * log_global_start, coalesced_io_add, eventfd_add, commit) run in ascending
 * priority order; del-type callbacks (region_del, log_stop, log_global_stop,
 * coalesced_io_del, eventfd_del) in descending order. Equal priorities keep
 * registration order (reversed for del-type).
 *
 * Thread rules: registration and every callback are writer-side: callbacks
 * run on the committing thread with the writer lock held. A callback may
 * read memory and may change the map; such a change is committed right
 * after the current commit finishes, in a commit of its own.
 */
#ifndef MEMREGION_LISTENER_H
#define MEMREGION_LISTENER_H

#include "address_space.h"

MEMREGION_API_BEGIN

/** Dirty-log clients. */
enum {
    DIRTY_MEMORY_VGA = 0,       /**< display refresh */
    DIRTY_MEMORY_CODE = 1,      /**< translated-code invalidation */
    DIRTY_MEMORY_MIGRATION = 2, /**< live migration; on for all RAM while global logging runs */
    DIRTY_MEMORY_NUM = 3,
};

/**
 * A listener: caller-allocated, zero-initialised, then filled in. Public:
 * the callbacks (any may be NULL), priority and name, which you set before
 * memory_listener_register() and leave alone while registered. Private: the
 * registration links. Reserved: room to grow; leave zero.
 */
struct MemoryListener {
    /* ---- public: set before registering ----------------------------------- */
    void (*begin)(MemoryListener *listener);
    void (*commit)(MemoryListener *listener);
    void (*region_add)(MemoryListener *listener, const FlatRange *range);
    void (*region_del)(MemoryListener *listener, const FlatRange *range);
    void (*region_nop)(MemoryListener *listener, const FlatRange *range);
    void (*log_start)(MemoryListener *listener, const FlatRange *range, int old_mask, int new_mask);
    void (*log_stop)(MemoryListener *listener, const FlatRange *range, int old_mask, int new_mask);
    /** Pull dirty bits from the accelerator into the region bitmaps (memory_region_set_dirty). */
    void (*log_sync)(MemoryListener *listener, const FlatRange *range);
    void (*log_global_start)(MemoryListener *listener);
    void (*log_global_stop)(MemoryListener *listener);
    /** @range: the part of a flat range that the coalescing range [addr, addr+len) covers. */
    void (*coalesced_io_add)(MemoryListener *listener, const FlatRange *range, hwaddr addr,
                             hwaddr len);
    void (*coalesced_io_del)(MemoryListener *listener, const FlatRange *range, hwaddr addr,
                             hwaddr len);
    /** @range: addr/size of the eventfd in the address space, mr and offset of its region. */
    void (*eventfd_add)(MemoryListener *listener, const FlatRange *range, bool match_data,
                        uint64_t data, int fd);
    void (*eventfd_del)(MemoryListener *listener, const FlatRange *range, bool match_data,
                        uint64_t data, int fd);
    int priority;     /**< see the ordering rule above */
    const char *name; /**< for diagnostics; borrowed */
    /* ---- private: set while registered; do not touch ---------------------- */
    AddressSpace *address_space;
    MemoryListener *link_next;
    /* ---- reserved: leave zero --------------------------------------------- */
    void *reserved_[2];
};

/**
 * Attach @listener to @as and replay the current state to it: begin,
 * log_global_start if global logging runs, region_add (+ log_start,
 * coalesced_io_add) for every range, eventfd_add for every visible eventfd,
 * commit. @listener is borrowed until unregistered. Returns 0, -EBUSY
 * (already registered) or -EINVAL.
 */
int memory_listener_register(MemoryListener *listener, AddressSpace *as);

/**
 * Replay the removal of everything to @listener, then detach it: begin;
 * for each range in ascending address order (as QEMU) eventfd_del,
 * coalesced_io_del, log_stop when logged, region_del; log_global_stop if
 * global logging runs; commit.
 */
void memory_listener_unregister(MemoryListener *listener);

/* ---- dirty logging ------------------------------------------------------- */

/**
 * Set the page size of dirty bitmaps (a power of two, default 4096). Takes
 * effect for bitmaps created afterwards; call it before enabling logging.
 */
int memregion_set_dirty_page_size(uint64_t page_size);

/**
 * Enable or disable dirty logging for @client on a RAM-backed region (RAM,
 * ROM, ROM device). Enabling allocates a clean bitmap. The state belongs to
 * the region: it survives unmapping, remapping and moving.
 */
int memory_region_set_log(MemoryRegion *mr, bool log, unsigned client);

/** The dirty-log clients enabled on @mr (bit per client), global logging included. */
uint8_t memory_region_get_dirty_log_mask(const MemoryRegion *mr);

/** True when any page of [addr, addr+size) in @mr is dirty for @client. */
bool memory_region_get_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size, unsigned client);

/**
 * Mark [addr, addr+size) of @mr dirty for every logging client: for writes
 * made through host pointers (DMA, KVM dirty logs) rather than dispatch.
 */
void memory_region_set_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size);

/** Clear the dirty bits of [addr, addr+size) for @client. */
void memory_region_reset_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size, unsigned client);

/** A copy of part of a dirty bitmap, taken and cleared atomically. */
typedef struct DirtyBitmapSnapshot DirtyBitmapSnapshot;

/**
 * Atomically copy and clear the dirty bits of [addr, addr+size) for
 * @client. The caller owns the snapshot (free with
 * memory_region_snapshot_free()). NULL on bad arguments or no memory.
 */
DirtyBitmapSnapshot *memory_region_snapshot_and_clear_dirty(MemoryRegion *mr, hwaddr addr,
                                                            hwaddr size, unsigned client);

/** True when any page of [addr, addr+size) was dirty in @snap. */
bool memory_region_snapshot_get_dirty(MemoryRegion *mr, const DirtyBitmapSnapshot *snap,
                                      hwaddr addr, hwaddr size);

/** Free a snapshot. */
void memory_region_snapshot_free(DirtyBitmapSnapshot *snap);

/**
 * Start migration logging: every RAM region an address space shows logs
 * DIRTY_MEMORY_MIGRATION, starting from a clean bitmap. Every listener hears
 * log_global_start first, then the commit that turns the bit on (log_start
 * per range). Inside an open transaction that commit waits for the
 * outermost commit.
 */
void memory_global_dirty_log_start(void);
/**
 * Stop migration logging, the mirror image of start (QEMU's order): first
 * the commit that turns the bit off (log_stop per range), then
 * log_global_stop to every listener. Inside an open transaction the commit
 * waits for the outermost commit, so log_global_stop comes first then.
 * Migration bitmaps of regions that do not log MIGRATION themselves are
 * dropped.
 */
void memory_global_dirty_log_stop(void);
/** Ask every listener to log_sync every logging range. */
void memory_global_dirty_log_sync(void);

/* ---- coalesced MMIO --------------------------------------------------------- */

/**
 * Declare [offset, offset+size) of MMIO region @mr coalescable: an
 * accelerator may buffer writes there. Listeners get coalesced_io_add in
 * absolute addresses for the visible part, now and whenever it moves.
 */
int memory_region_add_coalescing(MemoryRegion *mr, hwaddr offset, uint64_t size);

/** Remove all coalescing ranges of @mr. */
void memory_region_clear_coalescing(MemoryRegion *mr);

/* ---- ioeventfd -------------------------------------------------------------- */

/**
 * Make a guest write of @size bytes (0: any size) at @addr in @mr signal the
 * eventfd @fd instead of calling the device, when @match_data is false or
 * the written value equals @data (as a value of the device's endianness).
 * @fd is borrowed. Listeners get eventfd_add while the address is visible.
 * Errors: -EINVAL, -EEXIST (same entry twice).
 */
int memory_region_add_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size, bool match_data,
                              uint64_t data, int fd);

/** Remove an entry added by memory_region_add_eventfd(). -ENOENT when absent. */
int memory_region_del_eventfd(MemoryRegion *mr, hwaddr addr, unsigned size, bool match_data,
                              uint64_t data, int fd);

MEMREGION_API_END

#endif /* MEMREGION_LISTENER_H */
