/*
 * Overlap diagnostics: collisions reported as they happen, and listings of
 * overlapping siblings and equal-priority ties in a tree (overlap.h).
 */
#include <stdlib.h>

#include "internal.h"
#include "ptrset.h"

int overlap_check_on; /* handlers installed; writer lock */

static MemoryRegionOverlapFn global_fn;
static void *global_opaque;

typedef struct AsHandler {
    AddressSpace *as;
    MemoryRegionOverlapFn fn;
    void *opaque;
} AsHandler;
static AsHandler *as_handlers;
static size_t nr_as_handlers, cap_as_handlers;

static void recount(void)
{
    overlap_check_on = (global_fn != NULL) + (int)nr_as_handlers;
}

int memory_region_set_overlap_handler(MemoryRegionOverlapFn fn, void *opaque)
{
    mr_writer_lock();
    global_fn = fn;
    global_opaque = opaque;
    recount();
    mr_writer_unlock();
    return 0;
}

static size_t find_as(const AddressSpace *as)
{
    size_t i = 0;
    while (i < nr_as_handlers && as_handlers[i].as != as)
        i++;
    return i;
}

int address_space_set_overlap_handler(AddressSpace *as, MemoryRegionOverlapFn fn, void *opaque)
{
    if (!as || !as->root)
        return mr_error(EINVAL, "address_space_set_overlap_handler: no address space");
    int err = 0;
    mr_writer_lock();
    size_t i = find_as(as);
    if (!fn) {
        if (i < nr_as_handlers)
            as_handlers[i] = as_handlers[--nr_as_handlers];
    } else if (i < nr_as_handlers) {
        as_handlers[i].fn = fn;
        as_handlers[i].opaque = opaque;
    } else {
        if (MR_GROW(as_handlers, cap_as_handlers, nr_as_handlers + 1, 4)) {
            mr_writer_unlock();
            return mr_error(ENOMEM, "address_space_set_overlap_handler: out of memory");
        }
        as_handlers[nr_as_handlers++] = (AsHandler){as, fn, opaque};
    }
    recount();
    mr_writer_unlock();
    return err;
}

void overlap_as_forget(AddressSpace *as)
{
    size_t i = find_as(as);
    if (i < nr_as_handlers) {
        as_handlers[i] = as_handlers[--nr_as_handlers];
        recount();
    }
}

/* The overlap of two siblings, or size 0. */
static MemoryRegionOverlap overlap_of(MemoryRegion *a, MemoryRegion *b)
{
    mr_size_t lo = MR_MAX((mr_size_t)a->addr, (mr_size_t)b->addr);
    mr_size_t hi = MR_MIN((mr_size_t)a->addr + a->size, (mr_size_t)b->addr + b->size);
    MemoryRegionOverlap ov = {.container = a->container, .a = a, .b = b};
    if (lo < hi) {
        ov.start = (hwaddr)lo;
        ov.size = hi - lo;
    }
    ov.tie = a->priority == b->priority;
    return ov;
}

static void report(const MemoryRegionOverlap *ov)
{
    if (global_fn)
        global_fn(global_opaque, ov);
    if (!nr_as_handlers)
        return;
    MemoryRegion *top = ov->container;
    while (top->container)
        top = top->container;
    for (size_t i = 0; i < nr_as_handlers; i++)
        if (as_handlers[i].as->root == top)
            as_handlers[i].fn(as_handlers[i].opaque, ov);
}

void overlap_check_added(MemoryRegion *sub)
{
    MemoryRegion *parent = sub->container;
    if (!parent || sub->size == 0)
        return;
    size_t first;
    size_t n = child_index_query(parent, sub->addr, (mr_size_t)sub->addr + sub->size, &first);
    /* Collect first: a handler may change the tree (and query the index). */
    MemoryRegion *stack_hits[16], **hits = stack_hits;
    size_t nr = 0;
    if (n > 16 && !(hits = malloc(n * sizeof(*hits))))
        hits = stack_hits, n = 16; /* report what fits rather than nothing */
    for (size_t i = 0; i < n; i++) {
        MemoryRegion *c = child_index_result(first + i);
        if (c != sub && !c->may_overlap && c->size)
            hits[nr++] = c;
    }
    child_index_release(first);
    for (size_t i = 0; i < nr; i++) {
        MemoryRegionOverlap ov = overlap_of(sub, hits[i]);
        report(&ov);
    }
    if (hits != stack_hits)
        free(hits);
}

/* ---- listings ------------------------------------------------------------- */

static int by_addr(const void *x, const void *y)
{
    const MemoryRegion *a = *(MemoryRegion *const *)x, *b = *(MemoryRegion *const *)y;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    return a->link_seq < b->link_seq ? -1 : a->link_seq > b->link_seq;
}

/* Does @a win over @b where they overlap? */
static bool wins(const MemoryRegion *a, const MemoryRegion *b)
{
    return a->priority != b->priority ? a->priority > b->priority : a->link_seq > b->link_seq;
}

/* Report the overlapping pairs among @mr's children; -ENOMEM or the count. */
static long container_overlaps(MemoryRegion *mr, bool ties_only, MemoryRegionOverlapFn fn,
                               void *opaque)
{
    if (mr->nr_subregions < 2)
        return 0;
    MemoryRegion **v = malloc(mr->nr_subregions * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (MemoryRegion *c = mr->subregions; c; c = c->sibling_next)
        if (c->size && c->enabled) /* a disabled sibling contests nothing */
            v[n++] = c;
    qsort(v, n, sizeof(*v), by_addr);
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        mr_size_t end = (mr_size_t)v[i]->addr + v[i]->size;
        for (size_t j = i + 1; j < n && v[j]->addr < end; j++) {
            if (ties_only && v[i]->priority != v[j]->priority)
                continue;
            bool i_wins = wins(v[i], v[j]);
            MemoryRegionOverlap ov = overlap_of(i_wins ? v[i] : v[j], i_wins ? v[j] : v[i]);
            count++;
            if (fn)
                fn(opaque, &ov);
        }
    }
    free(v);
    return count;
}

long memory_region_find_overlaps(MemoryRegion *root, bool ties_only, MemoryRegionOverlapFn fn,
                                 void *opaque)
{
    if (!root || root->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "memory_region_find_overlaps: region is not initialised");
    mr_writer_lock();
    PtrSet seen = {0};
    size_t cap = 0, sp = 0;
    MemoryRegion **stack = NULL;
    if (MR_GROW(stack, cap, 1, 64))
        stack = NULL;
    long total = 0;
    if (!stack || ptrset_add(&seen, root) < 0) {
        total = -ENOMEM;
        goto out;
    }
    stack[sp++] = root;
    while (sp) {
        MemoryRegion *mr = stack[--sp];
        long c = container_overlaps(mr, ties_only, fn, opaque);
        if (c < 0) {
            total = c;
            goto out;
        }
        total += c;
        MemoryRegion *next_alias = mr->kind == MR_KIND_ALIAS ? mr->alias : NULL;
        for (MemoryRegion *k = next_alias ? next_alias : mr->subregions; k;
             k = next_alias ? NULL : k->sibling_next) {
            int added = ptrset_add(&seen, k);
            if (added < 0) {
                total = -ENOMEM;
                goto out;
            }
            if (!added)
                continue;
            if (MR_GROW(stack, cap, sp + 1, 64)) {
                total = -ENOMEM;
                goto out;
            }
            stack[sp++] = k;
        }
    }
out:
    free(stack);
    ptrset_free(&seen);
    mr_writer_unlock();
    if (total == -ENOMEM)
        return mr_error(ENOMEM, "memory_region_find_overlaps: out of memory");
    return total;
}
