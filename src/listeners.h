/*
 * The listener layer: what listeners hear, and the region attachments they
 * hear about. Not installed.
 *
 * Implemented by listener.c (diffs between view versions, replay on
 * register and unregister, attachment and logging callbacks), dirty.c
 * (dirty logging: bitmaps, global logging), coalesced.c (coalescing
 * ranges) and eventfd.c (ioeventfds, and the software path that signals
 * them).
 *
 * Invariants:
 * - a listener's picture of its address space (ranges, coalesced zones,
 *   eventfds) always equals the published view plus the regions' current
 *   attachments; every callback sequence keeps it so;
 * - add-type callbacks run in ascending listener priority, del-type in
 *   descending;
 * - listener callbacks run with the writer lock held; dirty bits are set by
 *   readers with atomics and cleared with atomic exchange.
 */
#ifndef MEMREGION_LISTENERS_H
#define MEMREGION_LISTENERS_H

#include "base.h"
#include "memregion/listener.h"

/* ---- dirty.c: dirty logging ------------------------------------------------------ */

/* Make sure every client in @mask has a bitmap on @mr (writer side). */
void dirty_ensure_bitmaps(MemoryRegion *mr, uint8_t mask);
/* True while global dirty logging (migration) runs. */
bool dirty_global_logging(void);

/* ---- listener.c: diffs, replay, attachments, logging ----------------------------- */

/* Tell @as's listeners how its view changed from @old to @new. */
void listener_notify(AddressSpace *as, const FlatView *old, const FlatView *new);
/* Unregister every listener of @as, replaying removals. */
void listener_remove_all(AddressSpace *as);
/* Emit attachment changes of @mr (coalescing ranges or eventfds: arrays of
 * MrCoalesced or MrEventfd) to every listener whose view shows @mr. */
typedef enum AttachKind { ATTACH_COALESCED, ATTACH_EVENTFD } AttachKind;
void listener_attachment_changed(MemoryRegion *mr, AttachKind kind, const void *removed,
                                 size_t nr_removed, const void *added, size_t nr_added);

/* Tell every listener that global logging started (true) or stopped. */
void listener_global_log(bool on);
/* log_sync every logging range of every address space. */
void listener_log_sync_all(void);
/* log_sync the ranges of @mr. */
void listener_log_sync_region(MemoryRegion *mr);

/* ---- eventfd.c: the software path of ioeventfds ---------------------------------- */

/* Software path: signal a matching eventfd for a write of @n bytes at @off
 * of @mr instead of calling the device. Inside an RCU read-side section. */
bool eventfd_try_signal(MemoryRegion *mr, hwaddr off, const uint8_t *buf, uint64_t n);

#endif /* MEMREGION_LISTENERS_H */
