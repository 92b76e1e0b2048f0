/*
 * memregion internals shared between the source files. Not installed.
 */
#ifndef MEMREGION_INTERNAL_H
#define MEMREGION_INTERNAL_H

#define _GNU_SOURCE
#include <urcu-bp.h>

#include "memregion/memregion.h"

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

/* ---- flatview.c ------------------------------------------------------------ */

struct FlatView {
    unsigned long refcount;  /* atomic; the empty view is pinned */
    MemoryRegion *root;      /* flat-view root it was rendered from, or NULL */
    uint32_t render_gen;     /* commit generation it was rendered in */
    size_t nr, cap;
    FlatRange *ranges;       /* sorted, non-overlapping, neighbours not mergeable */
    hwaddr *starts;          /* starts[i] == ranges[i].addr, for a dense binary search */
    const FlatRange *mru;    /* most recently used range, racy hint updated by readers */
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

static inline mr_size_t fr_end(const FlatRange *fr) { return (mr_size_t)fr->addr + fr->size; }

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

#endif /* MEMREGION_INTERNAL_H */
