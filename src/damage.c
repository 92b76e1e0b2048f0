/*
 * Damage tracking: what the mutations call to record what changed, for the
 * next commit (commit.c) to redo.
 *
 * A view root is a region some address space's view is rendered from (QEMU's
 * sharing rule, tree_view_root); it has a ViewSlot holding the current
 * version of that view. Change tracking comes in two kinds:
 * - damage (damage_range): a window of a region's own coordinates whose
 *   rendering may have changed. It travels up through containers and
 *   aliases to every slot that renders the region and is recorded there in
 *   absolute addresses. Regions that reach no slot are skipped (a memo,
 *   `feeds`, valid for one topology epoch), so a change under one device
 *   does not walk the bus-master spaces of all the others.
 * - structure (damage_struct): a region's own attributes or its child list
 *   changed. Only the address spaces whose view-root derivation visited
 *   that region (an index kept in RegionExt.path_users) re-derive their root.
 *
 * Invariant: every function here runs with the writer lock held, inside a
 * transaction or a commit, and costs what it touches: the regions between
 * the change and the slots it reaches, not the size of the map.
 */
#include "commit.h"
#include "globals.h"
#include "region_tree.h"
#include "view.h"

#define MAX_WINDOWS 64 /* more damage windows than this: render the whole view */

void damage_queue_slot(ViewSlot *s)
{
    MR_ASSERT_WRITER();
    mr_ws.update_pending = true;
    if (!s->queued) {
        s->queued = true;
        ptrvec_push(&mr_ws.damaged, s);
    }
}

static void slot_add_window(ViewSlot *s, mr_size_t lo, mr_size_t hi)
{
    damage_queue_slot(s);
    if (s->full)
        return;
    if (s->nr_win == MAX_WINDOWS) {
        s->full = true;
        return;
    }
    MR_GROW_OR_DIE(s->win, s->cap_win, s->nr_win + 1, 4);
    s->win[s->nr_win].lo = lo;
    s->win[s->nr_win].hi = hi;
    s->nr_win++;
}

void damage_topology(void)
{
    MR_ASSERT_WRITER();
    mr_ws.topo_epoch++;
}

/*
 * Can damage at @mr reach a slot? Memoised for the current topology epoch.
 * Computing it also moves the aliases of @mr that reach a slot to the front
 * of its alias_users list and counts them (feeding_aliases), so damage never
 * walks the aliases that lead nowhere (say, 255 idle bus-master views).
 */
static bool feeds_slot(MemoryRegion *mr)
{
    if (mr->feeds_epoch == mr_ws.topo_epoch)
        return mr->feeds;
    mr->feeds_epoch = mr_ws.topo_epoch;
    /* On an alias loop the recursion meets mr again: assume it feeds. A
     * region that does not may then be walked by damage, never skipped. */
    mr->feeds = true;
    bool f = mr->view_slot != NULL || (mr->container && feeds_slot(mr->container));
    MemoryRegion *feeding = NULL, **feeding_tail = &feeding, *idle = NULL, **idle_tail = &idle;
    unsigned nr_feeding = 0;
    for (MemoryRegion *a = mr->alias_users, *next; a; a = next) {
        next = a->alias_user_next;
        a->alias_user_next = NULL;
        if (feeds_slot(a)) {
            *feeding_tail = a;
            feeding_tail = &a->alias_user_next;
            nr_feeding++;
        } else {
            *idle_tail = a;
            idle_tail = &a->alias_user_next;
        }
    }
    *feeding_tail = idle;
    mr->alias_users = feeding;
    mr->feeding_aliases = nr_feeding;
    mr->feeds = f || nr_feeding;
    return mr->feeds;
}

static void damage_walk(MemoryRegion *mr, mr_size_t lo, mr_size_t hi)
{
    MR_ASSERT_WRITER();
    MR_ASSERT(mr_ws.tx_depth > 0 || mr_ws.committing);
    if (hi > MR_SIZE_2_64)
        hi = MR_SIZE_2_64;
    if (lo >= hi || mr_ws.dwalk_overflow || !feeds_slot(mr))
        return;
    if ((mr->on_path || mr_ws.dwalk_work) && ++mr_ws.dwalk_work > 4 * MEMREGION_ALIAS_LOOP_WORK_MAX)
        mr_ws.dwalk_overflow = true;
    if (mr->on_path > MEMREGION_ALIAS_LAPS_MAX)
        mr_ws.dwalk_overflow = true;
    if (mr_ws.dwalk_overflow)
        return;
    mr->on_path++;
    if (mr->view_slot)
        slot_add_window(mr->view_slot, MR_MIN(lo + mr->addr, MR_SIZE_2_64),
                        MR_MIN(hi + mr->addr, MR_SIZE_2_64));
    /* A disabled alias or container shows nothing of mr (its own change of
     * state damaged it whole), so damage does not pass through it. */
    MemoryRegion *a = mr->alias_users;
    for (unsigned i = 0; i < mr->feeding_aliases; i++, a = a->alias_user_next) {
        /* Alias a shows [alias_offset, alias_offset + size) of mr at 0. */
        mr_size_t alo = MR_MAX(lo, (mr_size_t)a->alias_offset);
        mr_size_t ahi = MR_MIN(hi, (mr_size_t)a->alias_offset + a->size);
        if (alo < ahi && a->enabled)
            damage_walk(a, alo - a->alias_offset, ahi - a->alias_offset);
    }
    if (mr->container && mr->container->enabled)
        damage_walk(mr->container, lo + mr->addr, MR_MIN(hi + mr->addr, mr->container->size));
    mr->on_path--;
}

void damage_range(MemoryRegion *mr, mr_size_t lo, mr_size_t hi)
{
    mr_ws.dwalk_work = 0;
    mr_ws.dwalk_overflow = false;
    damage_walk(mr, lo, hi);
    if (mr_ws.dwalk_overflow)
        damage_all_views();
}

static void recheck_users(MemoryRegion *mr)
{
    RegionExt *ext = mr->ext;
    for (size_t i = 0; ext && i < ext->nr_path_users; i++) {
        AddressSpace *as = ext->path_users[i];
        if (!as->recheck) {
            as->recheck = true;
            ptrvec_push(&mr_ws.rechecks, as);
        }
    }
}

/*
 * Does the view-root derivation at @c come out the same whatever @mr's
 * state, and whether @mr is a child of @c or not? The derivation goes on
 * past a container only through its one enabled child, so a container with
 * two enabled children besides @mr stops it whatever @mr does (a board
 * mapping its thousandth device). The walk ends at the second one found.
 */
static bool derivation_ignores(const MemoryRegion *c, const MemoryRegion *mr)
{
    unsigned others = 0;
    for (const MemoryRegion *k = c->subregions; k && others < 2; k = k->sibling_next)
        others += k != mr && k->enabled;
    return others >= 2;
}

void damage_struct(MemoryRegion *mr)
{
    MR_ASSERT_WRITER();
    MR_ASSERT(mr_ws.tx_depth > 0 || mr_ws.committing);
    mr_ws.update_pending = true;
    recheck_users(mr);
    const RegionExt *cext = mr->container ? mr->container->ext : NULL;
    if (cext && cext->nr_path_users && !derivation_ignores(mr->container, mr))
        recheck_users(mr->container);
}

void damage_region(MemoryRegion *mr)
{
    damage_struct(mr);
    damage_range(mr, 0, mr->size);
}

void damage_removal(MemoryRegion *mr)
{
    MR_ASSERT_WRITER();
    mr->removed_gen = mr_ws.current_gen + 1;
}

bool damage_removal_pending(const MemoryRegion *mr)
{
    return mr->removed_gen > mr_ws.current_gen;
}

void damage_root(MemoryRegion *mr)
{
    if (mr->view_slot) {
        mr->view_slot->full = true;
        damage_queue_slot(mr->view_slot);
    }
}

void damage_all_views(void)
{
    for (size_t i = 0; i < mr_ws.slots.n; i++) {
        ViewSlot *s = mr_ws.slots.v[i];
        s->full = true;
        damage_queue_slot(s);
    }
}

void damage_as_attach(AddressSpace *as)
{
    MR_ASSERT_WRITER();
    mr_ws.update_pending = true;
    if (!as->recheck) {
        as->recheck = true;
        ptrvec_push(&mr_ws.rechecks, as);
    }
}
