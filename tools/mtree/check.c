/*
 * `mtree check`: the overlaps of a memory map. Lists every pair of
 * overlapping siblings, and separately the ties among them: equal
 * priorities, where only the order the board added them in decides which
 * one shows (overlap.h).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "../../src/grow.h" /* the library's growth helper: generic, no library state */
#include "mtree_tool.h"

typedef struct Pairs {
    MemoryRegionOverlap *v;
    size_t n, cap;
    int err;
} Pairs;

static void collect(void *opaque, const MemoryRegionOverlap *ov)
{
    Pairs *p = opaque;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].a == ov->a && p->v[i].b == ov->b)
            return; /* reached again through another root or alias */
    if (mr_grow_array((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v), 32)) {
        p->err = -ENOMEM;
        return;
    }
    p->v[p->n++] = *ov;
}

static void print_pair(FILE *out, const MemoryRegionOverlap *ov)
{
    uint64_t last = (uint64_t)(ov->start + (ov->size - 1));
    fprintf(out, "  %s: [%016" PRIx64 "-%016" PRIx64 "] '%s' (prio %d) over '%s' (prio %d)\n",
            memory_region_name(ov->container), (uint64_t)ov->start, last, memory_region_name(ov->a),
            memory_region_priority(ov->a), memory_region_name(ov->b),
            memory_region_priority(ov->b));
}

int mtree_check_overlaps(FILE *out, AddressSpace *const *spaces, size_t n, size_t *nr_ties)
{
    Pairs p = {0};
    for (size_t i = 0; i < n && !p.err; i++) {
        MemoryRegion *root = address_space_root(spaces[i]);
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= address_space_root(spaces[j]) == root;
        if (!seen) {
            long rc = memory_region_find_overlaps(root, false, collect, &p);
            if (rc < 0)
                p.err = (int)rc;
        }
    }
    size_t ties = 0;
    if (!p.err) {
        fprintf(out, "overlaps (%zu): the first region named shows where they overlap\n", p.n);
        for (size_t i = 0; i < p.n; i++)
            print_pair(out, &p.v[i]);
        for (size_t i = 0; i < p.n; i++)
            ties += p.v[i].tie;
        fprintf(out, "ties (%zu): equal priorities, the region added last shows\n", ties);
        for (size_t i = 0; i < p.n; i++)
            if (p.v[i].tie)
                print_pair(out, &p.v[i]);
    }
    free(p.v);
    if (nr_ties)
        *nr_ties = ties;
    return p.err;
}
