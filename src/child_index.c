/*
 * Child index: the subregions of a container in a treap keyed by
 * (addr, link_seq), each node augmented with the largest end address in
 * its subtree. It answers "which children intersect [lo, hi)?" in
 * O(log n + k), so re-rendering a small window of a container with a
 * million children does not walk them all.
 *
 * Invariant: for every node, ix_max_end == max(addr + size) over its subtree,
 * and heap priorities decrease from parent to child.
 */
#include <stdlib.h>

#include "globals.h"
#include "region_tree.h"

static inline bool key_less(const MemoryRegion *a, const MemoryRegion *b)
{
    return a->addr < b->addr || (a->addr == b->addr && a->link_seq < b->link_seq);
}

static inline void update(MemoryRegion *n)
{
    mr_size_t m = (mr_size_t)n->addr + n->size;
    if (n->ix_left && n->ix_left->ix_max_end > m)
        m = n->ix_left->ix_max_end;
    if (n->ix_right && n->ix_right->ix_max_end > m)
        m = n->ix_right->ix_max_end;
    n->ix_max_end = m;
}

/* Split @t into keys less than @key and the rest. */
static void split(MemoryRegion *t, const MemoryRegion *key, MemoryRegion **l, MemoryRegion **r)
{
    if (!t) {
        *l = *r = NULL;
    } else if (key_less(t, key)) {
        split(t->ix_right, key, &t->ix_right, r);
        update(t);
        *l = t;
    } else {
        split(t->ix_left, key, l, &t->ix_left);
        update(t);
        *r = t;
    }
}

/* Join two treaps where every key of @l is less than every key of @r. */
static MemoryRegion *join(MemoryRegion *l, MemoryRegion *r)
{
    if (!l)
        return r;
    if (!r)
        return l;
    if (l->ix_heap > r->ix_heap) {
        l->ix_right = join(l->ix_right, r);
        update(l);
        return l;
    }
    r->ix_left = join(l, r->ix_left);
    update(r);
    return r;
}

static uint32_t next_heap(void)
{
    uint32_t x = mr_ws.treap_seed; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return mr_ws.treap_seed = x;
}

/*
 * Append: @child's key is above every key in the treap, as when a board
 * maps its devices in address order (the link order makes a new child the
 * last among equal addresses). Such a key goes on the right spine: walk
 * down it while the heap order keeps the spine nodes above @child (each of
 * them gains @child's end in its subtree); what is left below becomes
 * @child's left subtree. No split, no join, no recursion: the spine is
 * O(log n) long, and the walk does one compare and one store per node.
 * False, changing nothing, when some key is not below @child's.
 */
static bool append(MemoryRegion *parent, MemoryRegion *child)
{
    MemoryRegion *last = parent->ix_root;
    while (last && last->ix_right)
        last = last->ix_right;
    if (last && !key_less(last, child))
        return false;
    mr_size_t end = child->ix_max_end;
    MemoryRegion **link = &parent->ix_root, *t;
    while ((t = *link) && t->ix_heap > child->ix_heap) {
        if (t->ix_max_end < end)
            t->ix_max_end = end;
        link = &t->ix_right;
    }
    child->ix_left = t; /* every key below @child's: its left subtree */
    update(child);
    *link = child;
    return true;
}

void child_index_insert(MemoryRegion *parent, MemoryRegion *child)
{
    MR_ASSERT_WRITER();
    child->ix_left = child->ix_right = NULL;
    child->ix_heap = next_heap();
    update(child);
    if (append(parent, child))
        return;
    MemoryRegion *l, *r;
    split(parent->ix_root, child, &l, &r);
    parent->ix_root = join(join(l, child), r);
}

static MemoryRegion *remove_node(MemoryRegion *t, MemoryRegion *child)
{
    if (t == child)
        return join(t->ix_left, t->ix_right);
    if (key_less(child, t))
        t->ix_left = remove_node(t->ix_left, child);
    else
        t->ix_right = remove_node(t->ix_right, child);
    update(t);
    return t;
}

void child_index_remove(MemoryRegion *parent, MemoryRegion *child)
{
    MR_ASSERT_WRITER();
    parent->ix_root = remove_node(parent->ix_root, child);
    child->ix_left = child->ix_right = NULL;
}

/* Results of queries still being iterated, innermost last: render
 * recursion nests queries, so they share one stack (writer lock held). */
static MemoryRegion **results;
static size_t nr_results, cap_results;

static void query(MemoryRegion *t, mr_size_t lo, mr_size_t hi)
{
    while (t && t->ix_max_end > lo) {
        if (t->ix_left && t->ix_left->ix_max_end > lo) /* else nothing there ends past lo */
            query(t->ix_left, lo, hi);
        if (t->addr >= hi)
            return; /* this key and all of the right subtree start too late */
        if ((mr_size_t)t->addr + t->size > lo) {
            MR_GROW_OR_DIE(results, cap_results, nr_results + 1, 64);
            results[nr_results++] = t;
        }
        t = t->ix_right;
    }
}

/* Render order: priority descending, then most recently linked first. */
static int by_rank(const void *a, const void *b)
{
    const MemoryRegion *x = *(MemoryRegion *const *)a, *y = *(MemoryRegion *const *)b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->link_seq > y->link_seq ? -1 : x->link_seq < y->link_seq;
}

size_t child_index_query(const MemoryRegion *parent, mr_size_t lo, mr_size_t hi, size_t *first)
{
    *first = nr_results;
    query(parent->ix_root, lo, hi);
    size_t n = nr_results - *first;
    if (n > 1)
        qsort(&results[*first], n, sizeof(*results), by_rank);
    return n;
}

MemoryRegion *child_index_result(size_t i)
{
    return results[i];
}

void child_index_release(size_t first)
{
    nr_results = first;
}
