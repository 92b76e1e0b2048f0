/*
 * memregion-bench: the baseline, the practical limit of a lookup.
 *
 * BaseMap is a plain sorted array of ranges searched by binary search.
 * BasePageTable is a direct table with one slot per 4 KiB page of a fixed
 * window, used where the window is small enough to allocate it.
 * Neither does anything a memory core must also do (priorities, aliases,
 * views shared between address spaces, safe reclamation): they bound from
 * below what a lookup can cost.
 */
#ifndef MEMREGION_BENCH_BASELINE_H
#define MEMREGION_BENCH_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct BaseEntry {
    uint64_t start;
    uint64_t size;
    uint8_t *host; /* RAM: host memory of the range; NULL for MMIO */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size); /* MMIO */
    void *opaque;
} BaseEntry;

typedef struct BaseMap {
    BaseEntry *e; /* sorted by start, non-overlapping */
    size_t nr, cap;
} BaseMap;

/* Insert @entry (binary search + memmove). Returns false when it overlaps. */
bool basemap_insert(BaseMap *m, const BaseEntry *entry);
/* Remove the entry starting at @start. Returns false when there is none. */
bool basemap_remove(BaseMap *m, uint64_t start);
/* Free the array. */
void basemap_free(BaseMap *m);

/* The entry holding @addr, or NULL. */
static inline const BaseEntry *basemap_lookup(const BaseMap *m, uint64_t addr)
{
    size_t lo = 0, hi = m->nr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->e[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const BaseEntry *e = &m->e[lo - 1];
    return addr - e->start < e->size ? e : NULL;
}

#define BASE_PAGE_SHIFT 12

typedef struct BasePageTable {
    uint64_t base;
    size_t nr_pages;
    const BaseEntry **page; /* one slot per page; NULL: unassigned */
} BasePageTable;

/* A table covering [base, base + span). Returns false when it cannot be allocated. */
bool pagetable_init(BasePageTable *pt, uint64_t base, uint64_t span);
/* Point every page of @e at @e (NULL: clear them). */
void pagetable_set(BasePageTable *pt, uint64_t start, uint64_t size, const BaseEntry *e);
void pagetable_free(BasePageTable *pt);

static inline const BaseEntry *pagetable_lookup(const BasePageTable *pt, uint64_t addr)
{
    uint64_t page = (addr - pt->base) >> BASE_PAGE_SHIFT;
    return page < pt->nr_pages ? pt->page[page] : NULL;
}

#endif /* MEMREGION_BENCH_BASELINE_H */
