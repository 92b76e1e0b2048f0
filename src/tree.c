/*
 * The region tree: mapping and unmapping subregions, moving them (each
 * tried against the alias-loop bounds first, loops.c), and the flat-view
 * sharing root.
 *
 * Invariant: container->subregions is ordered by priority, highest first;
 * among equal priorities the most recently (re-)added comes first. Render
 * order is list order, so that order is what decides overlaps.
 */
#include <stdlib.h>
#include <string.h>

#include "region_tree.h"
#include "globals.h"
#include "commit.h"

/*
 * Priority groups: per container, the siblings of each priority form one
 * run of the list; the group records its first and last member. They are
 * kept in RegionExt sorted by priority, highest first, so linking a child
 * costs a binary search over distinct priorities, never a walk past every
 * sibling of higher priority.
 */
static size_t group_find(const RegionExt *ext, int32_t prio, bool *found)
{
    size_t lo = 0, hi = ext->nr_groups; /* first group with priority <= prio */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ext->groups[mid].priority > prio)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < ext->nr_groups && ext->groups[lo].priority == prio;
    return lo;
}

/* Link @sub into @parent's list at its priority position (newest first among equals). */
static void link_child(MemoryRegion *parent, MemoryRegion *sub)
{
    RegionExt *ext = region_ext(parent);
    bool found;
    size_t g = group_find(ext, sub->priority, &found);
    MemoryRegion *prev, *next;
    if (found) {
        next = ext->groups[g].first; /* newest of its priority: before the others */
        prev = next->sibling_prev;
        ext->groups[g].first = sub;
    } else {
        MR_GROW_OR_DIE(ext->groups, ext->cap_groups, ext->nr_groups + 1, 4);
        memmove(&ext->groups[g + 1], &ext->groups[g], (ext->nr_groups - g) * sizeof(*ext->groups));
        ext->nr_groups++;
        ext->groups[g].priority = sub->priority;
        ext->groups[g].first = ext->groups[g].last = sub;
        /* Between the last of the higher group and the first of the lower one. */
        prev = g ? ext->groups[g - 1].last : NULL;
        next = g + 1 < ext->nr_groups ? ext->groups[g + 1].first : NULL;
    }
    sub->sibling_prev = prev;
    sub->sibling_next = next;
    if (next)
        next->sibling_prev = sub;
    if (prev)
        prev->sibling_next = sub;
    else
        parent->subregions = sub;
    sub->container = parent;
    sub->link_seq = ++mr_ws.link_seq;
    /* The file's invariant, locally: priority descending, newest first among equals. */
    MR_ASSERT(!prev || prev->priority > sub->priority);
    MR_ASSERT(!next || next->priority < sub->priority ||
              (next->priority == sub->priority && next->link_seq < sub->link_seq));
    parent->nr_subregions++;
    child_index_insert(parent, sub);
}

static void unlink_child(MemoryRegion *sub)
{
    MemoryRegion *parent = sub->container;
    RegionExt *ext = parent->ext;
    bool found;
    size_t g = group_find(ext, sub->priority, &found);
    PrioGroup *grp = &ext->groups[g];
    if (grp->first == sub && grp->last == sub) {
        memmove(grp, grp + 1, (ext->nr_groups - g - 1) * sizeof(*grp));
        ext->nr_groups--;
    } else if (grp->first == sub) {
        grp->first = sub->sibling_next;
    } else if (grp->last == sub) {
        grp->last = sub->sibling_prev;
    }
    child_index_remove(parent, sub);
    parent->nr_subregions--;
    if (sub->sibling_prev)
        sub->sibling_prev->sibling_next = sub->sibling_next;
    else
        parent->subregions = sub->sibling_next;
    if (sub->sibling_next)
        sub->sibling_next->sibling_prev = sub->sibling_prev;
    sub->sibling_next = sub->sibling_prev = NULL;
    sub->container = NULL;
}

/* Would the tree, with @sub mapped at @offset in @parent, keep every alias
 * loop within its bounds? @sub is linked for the trial only (the loop check
 * walks the list and the container link), then unlinked. */
static int check_mapping(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub)
{
    hwaddr old_addr = sub->addr;
    sub->addr = offset;
    sub->container = parent;
    sub->sibling_next = parent->subregions;
    parent->subregions = sub;
    int err = loops_check(sub, true);
    parent->subregions = sub->sibling_next;
    sub->sibling_next = NULL;
    sub->container = NULL;
    sub->addr = old_addr;
    return err;
}

static int add_subregion(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub, int32_t priority,
                         bool may_overlap);

int memory_region_add_subregion(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub)
{
    return add_subregion(parent, offset, sub, 0, false);
}

int memory_region_add_subregion_overlap(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub,
                                        int32_t priority)
{
    return add_subregion(parent, offset, sub, priority, true);
}

static int add_subregion(MemoryRegion *parent, hwaddr offset, MemoryRegion *sub, int32_t priority,
                         bool may_overlap)
{
    if (!parent || parent->kind == MR_KIND_NONE || !sub || sub->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "add_subregion: region is not initialised");
    int err = 0;
    memory_region_transaction_begin();
    if (parent->kind == MR_KIND_ALIAS || parent->kind == MR_KIND_IOMMU)
        err = mr_error(EINVAL, "cannot add '%s' to %s '%s': it has no subregions", sub->name,
                       parent->kind == MR_KIND_ALIAS ? "alias" : "IOMMU region", parent->name);
    else if (sub->container)
        err = mr_error(EBUSY, "region '%s' is already mapped in '%s'", sub->name,
                       sub->container->name);
    else if ((mr_size_t)offset + sub->size > MR_SIZE_2_64)
        err = mr_error(EINVAL, "region '%s' at 0x%llx: end passes 2^64", sub->name,
                       (unsigned long long)offset);
    else if (loops_contains_itself(parent, sub))
        err = mr_error(ELOOP, "adding '%s' to '%s' would put a region inside itself", sub->name,
                       parent->name);
    else
        err = check_mapping(parent, offset, sub);
    if (!err) {
        if (sub->addr != offset)
            damage_root(sub); /* views rendered from it shift */
        sub->addr = offset;
        sub->priority = priority;
        sub->may_overlap = may_overlap;
        link_child(parent, sub);
        damage_topology();
        damage_struct(sub);
        damage_range(parent, offset, (mr_size_t)offset + sub->size);
        if (mr_ws.overlap_check_on && !may_overlap) /* overlap diagnostics hook (overlap.c) */
            overlap_check_added(sub);
    }
    memory_region_transaction_commit();
    return err;
}

int memory_region_del_subregion(MemoryRegion *parent, MemoryRegion *sub)
{
    if (!parent || !sub)
        return mr_error(EINVAL, "del_subregion: NULL region");
    int err = 0;
    memory_region_transaction_begin();
    if (sub->container != parent || parent->kind == MR_KIND_NONE)
        err = mr_error(EINVAL, "region '%s' is not a subregion of '%s'", sub->name,
                       parent->name ? parent->name : "?");
    else {
        damage_range(parent, sub->addr, (mr_size_t)sub->addr + sub->size);
        damage_struct(sub);
        unlink_child(sub);
        damage_topology();
        damage_removal(sub);
    }
    memory_region_transaction_commit();
    return err;
}

/* Would moving @mr to @addr keep every alias loop within its bounds? */
static int check_move(MemoryRegion *mr, hwaddr addr)
{
    hwaddr old = mr->addr;
    mr->addr = addr;
    int err = loops_check(mr, false);
    mr->addr = old;
    return err;
}

/* Move @mr to a new address and/or priority; in a container this is a re-add.
 * Asking for the address and priority it already has does nothing, so it
 * keeps its place among equal-priority siblings (QEMU's set_address rule).
 * The fields not being changed are read under the writer lock, so concurrent
 * moves and priority changes never lose an update. */
static int readd(MemoryRegion *mr, const hwaddr *new_addr, const int32_t *new_priority)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "region is not initialised");
    int err = 0;
    memory_region_transaction_begin();
    hwaddr addr = new_addr ? *new_addr : mr->addr;
    int32_t priority = new_priority ? *new_priority : mr->priority;
    if ((mr_size_t)addr + mr->size > MR_SIZE_2_64) {
        err = mr_error(EINVAL, "region '%s' at 0x%llx: end passes 2^64", mr->name,
                       (unsigned long long)addr);
    } else if (mr->container && addr != mr->addr && (err = check_move(mr, addr))) {
        /* refused: an alias loop through mr would pass its bounds */
    } else if (addr != mr->addr || priority != mr->priority) {
        MemoryRegion *parent = mr->container;
        damage_struct(mr);
        if (mr->addr != addr)
            damage_root(mr); /* views rendered from it shift */
        if (parent) {
            damage_range(parent, mr->addr, (mr_size_t)mr->addr + mr->size);
            unlink_child(mr);
            mr->addr = addr;
            mr->priority = priority;
            link_child(parent, mr);
            damage_range(parent, addr, (mr_size_t)addr + mr->size);
            if (mr_ws.overlap_check_on && !mr->may_overlap) /* overlap diagnostics hook */
                overlap_check_added(mr);
        } else {
            mr->addr = addr;
            mr->priority = priority;
        }
    }
    memory_region_transaction_commit();
    return err;
}

int memory_region_set_address(MemoryRegion *mr, hwaddr addr)
{
    return readd(mr, &addr, NULL);
}

int memory_region_set_priority(MemoryRegion *mr, int32_t priority)
{
    return readd(mr, NULL, &priority);
}

/*
 * QEMU's sharing rule: walk down from an AS root through an enabled alias
 * that shows its whole target at offset 0, and through a container whose
 * only enabled child sits at offset 0 and is not larger than it. Address
 * spaces that reach the same region render identically and share a view.
 * We also stop where rendering from below would differ: at read-only and
 * non-volatile regions (their flags would be lost), at a region whose own
 * address is not 0 (a root renders at its address), and at aliases whose
 * target is not at address 0.
 */
MemoryRegion *tree_view_root(MemoryRegion *mr, MemoryRegion **path, unsigned max, unsigned *len)
{
    *len = 0;
#define VISIT(r)                                                                                   \
    do {                                                                                           \
        if (*len < max)                                                                            \
            path[*len] = (r);                                                                      \
        (*len)++;                                                                                  \
    } while (0)
    while (mr) {
        VISIT(mr);
        if (!mr->enabled)
            return NULL;
        /* A root renders at its own address; one below it would not. An
         * empty region renders nothing, and stopping there also ends a walk
         * round an alias loop of empty windows (which rendering accepts). */
        if (mr->readonly || mr->nonvolatile || mr->addr != 0 || mr->size == 0)
            return mr;
        if (mr->kind == MR_KIND_ALIAS) {
            if (mr->alias_offset == 0 && mr->size >= mr->alias->size && mr->alias->addr == 0) {
                mr = mr->alias;
                continue;
            }
        } else if (mr->kind == MR_KIND_CONTAINER) {
            unsigned found = 0;
            MemoryRegion *next = NULL;
            for (MemoryRegion *c = mr->subregions; c; c = c->sibling_next) {
                if (!c->enabled)
                    continue;
                if (++found > 1) {
                    next = NULL;
                    break;
                }
                if (c->addr == 0 && mr->size >= c->size)
                    next = c;
            }
            if (found == 0)
                return NULL;
            if (next) {
                mr = next;
                continue;
            }
        }
        return mr;
    }
#undef VISIT
    return NULL;
}
