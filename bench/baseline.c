/*
 * memregion-bench: the baseline (sorted array, direct page table).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "baseline.h"

/* Index of the first entry starting above @addr. */
static size_t upper_bound(const BaseMap *m, uint64_t addr)
{
    size_t lo = 0, hi = m->nr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->e[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool basemap_insert(BaseMap *m, const BaseEntry *entry)
{
    size_t i = upper_bound(m, entry->start);
    if (i > 0 && m->e[i - 1].start + m->e[i - 1].size > entry->start)
        return false;
    if (i < m->nr && entry->start + entry->size > m->e[i].start)
        return false;
    if (m->nr == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        BaseEntry *e = realloc(m->e, cap * sizeof(*e));
        if (!e)
            return false;
        m->e = e;
        m->cap = cap;
    }
    memmove(&m->e[i + 1], &m->e[i], (m->nr - i) * sizeof(*m->e));
    m->e[i] = *entry;
    m->nr++;
    return true;
}

bool basemap_remove(BaseMap *m, uint64_t start)
{
    size_t i = upper_bound(m, start);
    if (i == 0 || m->e[i - 1].start != start)
        return false;
    i--;
    memmove(&m->e[i], &m->e[i + 1], (m->nr - i - 1) * sizeof(*m->e));
    m->nr--;
    return true;
}

void basemap_free(BaseMap *m)
{
    free(m->e);
    memset(m, 0, sizeof(*m));
}

bool pagetable_init(BasePageTable *pt, uint64_t base, uint64_t span)
{
    pt->base = base;
    pt->nr_pages = (size_t)(span >> BASE_PAGE_SHIFT);
    void *p = mmap(NULL, pt->nr_pages * sizeof(*pt->page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        pt->page = NULL;
        pt->nr_pages = 0;
        return false;
    }
    pt->page = p;
    return true;
}

void pagetable_set(BasePageTable *pt, uint64_t start, uint64_t size, const BaseEntry *e)
{
    for (uint64_t a = start; a < start + size; a += 1ull << BASE_PAGE_SHIFT) {
        uint64_t page = (a - pt->base) >> BASE_PAGE_SHIFT;
        if (page < pt->nr_pages)
            pt->page[page] = e;
    }
}

void pagetable_free(BasePageTable *pt)
{
    if (pt->page)
        munmap(pt->page, pt->nr_pages * sizeof(*pt->page));
    memset(pt, 0, sizeof(*pt));
}
