/*
 * The commit layer: transactions, change tracking (damage) and commits.
 * Not installed.
 *
 * Implemented by damage.c (what the mutations call to record what changed:
 * windows of damage carried up to the view roots that show them, structure
 * changes that make address spaces re-derive their view root) and commit.c
 * (transaction depth, the view-root derivation, building and installing new
 * versions, and the order listeners hear them). The writer lock they run
 * under is base.c's (base.h).
 *
 * Invariants:
 * - change tracking runs with the writer lock held, inside a transaction
 *   (tx_depth > 0) or inside a commit;
 * - after the outermost commit, every address space shows the rendering of
 *   its current tree, and every damaged slot is back to no damage;
 * - a commit costs what changed: not the number of regions, and not the
 *   number of address spaces that did not change.
 */
#ifndef MEMREGION_COMMIT_H
#define MEMREGION_COMMIT_H

#include "base.h"
#include "view.h"

/* ---- damage.c: change tracking, called by the mutations -------------------------- */

/*
 * Note that what @mr shows in [lo, hi) of its own coordinates may have
 * changed. The damage travels up through containers and aliases to every
 * view root that renders @mr, where it is recorded in absolute addresses.
 * Writer lock held, inside a transaction.
 */
void damage_range(MemoryRegion *mr, mr_size_t lo, mr_size_t hi);
/*
 * @mr's own attributes or its list of children changed: address spaces
 * whose view-root derivation passes through @mr or its container re-derive
 * it at the next commit (through the container only when @mr can change
 * how the derivation leaves it: not when two other children are enabled).
 */
void damage_struct(MemoryRegion *mr);
/* The whole of @mr may render differently, and its attributes changed. */
void damage_region(MemoryRegion *mr);
/* @mr is a root whose own address changed: views rendered from it are redone. */
void damage_root(MemoryRegion *mr);
/* Links between regions changed (child added or removed, alias created or gone). */
void damage_topology(void);
/* @mr left its container; until that commits, views may still show it. */
void damage_removal(MemoryRegion *mr);
bool damage_removal_pending(const MemoryRegion *mr);
/* Every view is re-rendered at the next commit (a global attribute changed). */
void damage_all_views(void);
/* @as is new, or its listeners changed: look at it at the next commit. */
void damage_as_attach(AddressSpace *as);
/* Queue @s for the next commit (its windows or `full` say what to redo). */
void damage_queue_slot(ViewSlot *s);

/* ---- commit.c: transactions, view roots, commits ---------------------------------- */

/* Is a transaction open? Asked by the writer lock's owner. */
bool commit_in_transaction(void);
/* @as is going away: forget it (writer lock held). */
void commit_as_detach(AddressSpace *as);
/* @as got its first listener (true) or lost its last (false). */
void commit_as_listening(AddressSpace *as, bool on);

#endif /* MEMREGION_COMMIT_H */
