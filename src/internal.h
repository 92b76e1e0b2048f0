/*
 * memregion internals shared between the source files. Not installed.
 */
#ifndef MEMREGION_INTERNAL_H
#define MEMREGION_INTERNAL_H

#include <urcu-bp.h>

#include "memregion/memregion.h"
#include "memregion/listener.h"

/* Signed 128-bit arithmetic for render bases: an alias offset larger than
 * the alias's address gives a negative base. */
typedef __int128 mr_int128;

#define MR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- error.c ------------------------------------------------------------- */

/* Record a message for memregion_last_error() and return -err. */
int mr_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- address_space.c: the writer lock and change tracking ---------------- */

/* The writer lock: recursive, held from transaction begin to commit. */
void mr_writer_lock(void);
void mr_writer_unlock(void);

/*
 * Note that the way @mr renders may have changed. Marks @mr and everything
 * that renders it (containers up to the roots, and aliases onto any of
 * them) as changed in the pending commit. Writer lock held, inside a
 * transaction.
 */
void mr_note_change(MemoryRegion *mr);

/* Writer-side helpers in address_space.c. */
bool mr_in_transaction(void);
void mr_stat_count_render(void);
/* True while global dirty logging (migration) runs. */
bool mr_global_logging(void);

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

typedef struct RegionExt {
    uint8_t log_mask;                  /* clients enabled by memory_region_set_log */
    MrBitmap *dirty[DIRTY_MEMORY_NUM]; /* RCU-published; NULL when not logging */
    MrCoalesced *coalesced;            /* writer side only */
    size_t nr_coalesced;
    MrEventfdSet *eventfds; /* RCU-published; NULL when none */
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
bool eventfd_try_signal(const FlatRange *fr, MemoryRegion *mr, hwaddr off, const uint8_t *buf,
                        uint64_t n);

/* ---- flatview.c ------------------------------------------------------------ */

struct FlatView {
    unsigned long refcount; /* atomic; the empty view is pinned */
    MemoryRegion *root;     /* flat-view root it was rendered from, or NULL */
    uint32_t render_gen;    /* commit generation it was rendered in */
    size_t nr, cap;
    FlatRange *ranges;    /* sorted, non-overlapping, neighbours not mergeable */
    hwaddr *starts;       /* starts[i] == ranges[i].addr, for a dense binary search */
    const FlatRange *mru; /* most recently used range, racy hint updated by readers */
    struct rcu_head rcu;
};

FlatView *flatview_new(MemoryRegion *root);
/* The shared view that holds no range. */
FlatView *flatview_empty(void);
/* Append a range after all others, merging it into the last when possible. */
void flatview_append(FlatView *fv, const FlatRange *fr);
/* Finish building: count region users. Writer side. */
void flatview_seal(FlatView *fv);
void flatview_ref(FlatView *fv);
/* Index of the last range starting at or below @addr, or -1. */
ptrdiff_t flatview_search(const FlatView *fv, hwaddr addr);
/* Lookup with the MRU shortcut. */
const FlatRange *flatview_lookup_fast(FlatView *fv, hwaddr addr);
/* End (exclusive, up to 2^64) of the unassigned hole that holds @addr. */
mr_size_t flatview_hole_end(const FlatView *fv, hwaddr addr);

static inline mr_size_t fr_end(const FlatRange *fr)
{
    return (mr_size_t)fr->addr + fr->size;
}

/* ---- render.c -------------------------------------------------------------- */

/* Render the tree under @root (may be NULL) into a new view. Writer lock held. */
FlatView *render_view(MemoryRegion *root);

/* ---- tree.c ---------------------------------------------------------------- */

/* The region QEMU's sharing rule derives from an AS root, or NULL. */
MemoryRegion *flatview_root_of(MemoryRegion *root);
/* True for kinds that render themselves (RAM, ROMD, MMIO). */
static inline bool mr_terminates(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM || mr->kind == MR_KIND_ROMD || mr->kind == MR_KIND_MMIO;
}

/* ---- mmio.c ---------------------------------------------------------------- */

/* Perform @len bytes of guest access at @off in an MMIO or ROM device region
 * by the access rules in region.h. */
MemTxResult mmio_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t len, bool is_write,
                        MemTxAttrs attrs);
/* True while the calling thread runs inside a device callback. */
bool mmio_in_callback(void);
/* True while the calling thread runs inside a callback of @mr. */
bool mmio_in_callback_of(const MemoryRegion *mr);

#endif /* MEMREGION_INTERNAL_H */
