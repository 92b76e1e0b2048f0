/*
 * What the mtree printer (print.c) and importer (import_*.c) share. Private
 * to src/mtree/, which uses the public API only (include/memregion/) plus
 * the generic helpers ../grow.h and ../ptrset.h: it never includes
 * ../internal.h, so it reads regions through their accessors and the
 * read-only fields of MemoryRegion, as any embedding program may.
 */
#ifndef MEMREGION_MTREE_COMMON_H
#define MEMREGION_MTREE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "memregion/memregion.h"
#include "memregion/mtree.h"

/* ---- the work counter behind mtree_stat_steps() (print.c) ----------------- */

/* Elementary steps of the importer and printers; any thread, relaxed. */
extern uint64_t mtree_steps_taken;

static inline void mtree_step(void)
{
    __atomic_fetch_add(&mtree_steps_taken, 1, __ATOMIC_RELAXED);
}

/* ---- walking a tree the way rendering does -------------------------------- */

/* Signed: an alias offset larger than the alias's address gives a negative
 * origin. */
__extension__ typedef __int128 mtree_int128;

/*
 * The window a region of @size bytes at origin @base shows inside the clip
 * [@lo, @hi): stores it in [*@wlo, *@whi) and returns false when it is
 * empty. The same clipping as the library's rendering (docs/internals.md).
 */
static inline bool mtree_window(mtree_int128 base, mr_size_t size, mr_size_t lo, mr_size_t hi,
                                mtree_int128 *wlo, mtree_int128 *whi)
{
    *wlo = base > (mtree_int128)lo ? base : (mtree_int128)lo;
    *whi =
        base + (mtree_int128)size < (mtree_int128)hi ? base + (mtree_int128)size : (mtree_int128)hi;
    return *wlo < *whi;
}

/* The origin alias @mr, itself at origin @base, gives its target's
 * container: the target's own address is cancelled, the alias offset
 * applies. */
static inline mtree_int128 mtree_alias_base(const MemoryRegion *mr, mtree_int128 base)
{
    return base - (mtree_int128)memory_region_alias_offset(mr) -
           (mtree_int128)memory_region_addr(memory_region_alias_target(mr));
}

#endif /* MEMREGION_MTREE_COMMON_H */
