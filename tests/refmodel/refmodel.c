/*
 * Reference model of memregion rendering: one address at a time, straight
 * from the rules. See refmodel.h. Nothing here is shared with src/.
 */
#include "refmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signed 128-bit: bases go negative when an alias offset exceeds the alias address. */
typedef __int128 i128;

#define TWO64      ((i128)1 << 64)
#define MAX_DEPTH  8192       /* deeper than bounded alias loops in test trees go */
#define MAX_POINTS (1u << 24) /* a runaway walk */

static RefNonvolatileFn nv_fn;
static void *nv_opaque;

void refmodel_set_nonvolatile_fn(RefNonvolatileFn fn, void *opaque)
{
    nv_fn = fn;
    nv_opaque = opaque;
}

static bool is_nonvolatile(const MemoryRegion *mr)
{
    return nv_fn ? nv_fn(mr, nv_opaque) : false;
}

static bool terminates(const MemoryRegion *mr)
{
    MemoryRegionKind k = memory_region_kind(mr);
    return k == MR_KIND_RAM || k == MR_KIND_ROMD || k == MR_KIND_MMIO || k == MR_KIND_IOMMU;
}

/*
 * The children of @mr in the order they are tried: priority descending.
 * The model sorts by priority itself and uses the container's list order
 * only to break ties (insertion sort is stable). Returns the count; *@out
 * is @stackbuf or a malloc()ed array (NULL on allocation failure).
 */
static size_t children_in_order(const MemoryRegion *mr, MemoryRegion **stackbuf, size_t stackcap,
                                MemoryRegion ***out)
{
    size_t n = 0;
    for (MemoryRegion *c = memory_region_first_subregion(mr); c; c = memory_region_next_sibling(c))
        n++;
    MemoryRegion **v = stackbuf;
    if (n > stackcap) {
        v = malloc(n * sizeof(*v));
        if (!v) {
            *out = NULL;
            return 0;
        }
    }
    size_t i = 0;
    for (MemoryRegion *c = memory_region_first_subregion(mr); c && i < n;
         c = memory_region_next_sibling(c))
        v[i++] = c;
    for (size_t j = 1; j < n; j++) {
        MemoryRegion *x = v[j];
        size_t k = j;
        while (k > 0 && memory_region_priority(v[k - 1]) < memory_region_priority(x)) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = x;
    }
    *out = v;
    return n;
}

/* ---- resolve ----------------------------------------------------------- */

typedef struct Walk {
    i128 addr;
    bool broken;
} Walk;

/*
 * Does @mr, rendered with its container's base @base inside the window
 * [@lo, @hi), show something at w->addr? Fills @out when it does.
 */
static bool resolve_in(Walk *w, const MemoryRegion *mr, i128 base, i128 lo, i128 hi, bool ro,
                       bool nv, int depth, RefHit *out)
{
    if (depth > MAX_DEPTH) {
        w->broken = true;
        return false;
    }
    if (!memory_region_is_enabled(mr))
        return false; /* hides nothing, shows nothing */
    base += (i128)memory_region_addr(mr);
    ro = ro || memory_region_is_readonly(mr);
    nv = nv || is_nonvolatile(mr);
    i128 end = base + (i128)memory_region_size(mr);
    if (base > lo)
        lo = base;
    if (end < hi)
        hi = end;
    if (w->addr < lo || w->addr >= hi)
        return false; /* clipped away */

    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        const MemoryRegion *t = memory_region_alias_target(mr);
        if (!t)
            return false;
        /* The target's own address is cancelled; the window starts at alias_offset. */
        i128 tbase = base - (i128)memory_region_addr(t) - (i128)memory_region_alias_offset(mr);
        return resolve_in(w, t, tbase, lo, hi, ro, nv, depth + 1, out);
    }

    MemoryRegion *buf[32], **kids;
    size_t n = children_in_order(mr, buf, 32, &kids);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = resolve_in(w, kids[i], base, lo, hi, ro, nv, depth + 1, out);
    if (kids != buf)
        free(kids);
    if (found)
        return true;

    if (terminates(mr)) {
        out->hit = true;
        out->mr = (MemoryRegion *)mr;
        out->offset = (hwaddr)(w->addr - base);
        out->readonly = ro;
        out->nonvolatile = nv;
        out->romd_mode = memory_region_kind(mr) == MR_KIND_ROMD && memory_region_is_romd(mr);
        out->dirty_log_mask = memory_region_get_dirty_log_mask(mr);
        return true;
    }
    return false; /* a container is transparent */
}

RefHit refmodel_resolve(const MemoryRegion *root, hwaddr addr, bool *broken)
{
    RefHit h = {0};
    Walk w = {.addr = (i128)addr, .broken = false};
    if (root)
        resolve_in(&w, root, 0, 0, TWO64, false, false, 0, &h);
    if (w.broken)
        h = (RefHit){0};
    if (broken)
        *broken = w.broken;
    return h;
}

bool refhit_equal(const RefHit *a, const RefHit *b)
{
    if (a->hit != b->hit)
        return false;
    if (!a->hit)
        return true;
    return a->mr == b->mr && a->offset == b->offset && a->readonly == b->readonly &&
           a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode &&
           a->dirty_log_mask == b->dirty_log_mask;
}

const char *refhit_describe(const RefHit *h, char *buf, size_t len)
{
    if (!h->hit)
        snprintf(buf, len, "unassigned");
    else
        snprintf(buf, len, "'%s'+0x%llx%s%s%s log=%u", memory_region_name(h->mr),
                 (unsigned long long)h->offset, h->readonly ? " ro" : "",
                 h->nonvolatile ? " nv" : "", h->romd_mode ? " romd" : "",
                 (unsigned)h->dirty_log_mask);
    return buf;
}

/* ---- breakpoints ------------------------------------------------------- */

typedef struct Points {
    mr_size_t *v;
    size_t n, cap;
    bool failed;
} Points;

static void add_point(Points *p, i128 x)
{
    if (p->failed)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        mr_size_t *v = cap > MAX_POINTS ? NULL : realloc(p->v, cap * sizeof(*v));
        if (!v) {
            p->failed = true;
            return;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (mr_size_t)x;
}

/* Same walk as resolve_in(), for every address at once: record each window's edges. */
static void points_in(Points *p, const MemoryRegion *mr, i128 base, i128 lo, i128 hi, int depth)
{
    if (depth > MAX_DEPTH) {
        p->failed = true;
        return;
    }
    if (p->failed || !memory_region_is_enabled(mr))
        return;
    base += (i128)memory_region_addr(mr);
    i128 end = base + (i128)memory_region_size(mr);
    if (base > lo)
        lo = base;
    if (end < hi)
        hi = end;
    if (lo >= hi)
        return;
    add_point(p, lo);
    add_point(p, hi);
    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        const MemoryRegion *t = memory_region_alias_target(mr);
        if (t)
            points_in(p, t,
                      base - (i128)memory_region_addr(t) - (i128)memory_region_alias_offset(mr), lo,
                      hi, depth + 1);
        return;
    }
    for (MemoryRegion *c = memory_region_first_subregion(mr); c; c = memory_region_next_sibling(c))
        points_in(p, c, base, lo, hi, depth + 1);
}

static int cmp_size(const void *a, const void *b)
{
    mr_size_t x = *(const mr_size_t *)a, y = *(const mr_size_t *)b;
    return x < y ? -1 : x > y;
}

size_t refmodel_breakpoints(const MemoryRegion *root, mr_size_t **out)
{
    Points p = {0};
    add_point(&p, 0);
    add_point(&p, TWO64);
    if (root)
        points_in(&p, root, 0, 0, TWO64, 0);
    if (p.failed) {
        free(p.v);
        *out = NULL;
        return 0;
    }
    qsort(p.v, p.n, sizeof(*p.v), cmp_size);
    size_t k = 0;
    for (size_t i = 0; i < p.n; i++)
        if (k == 0 || p.v[k - 1] != p.v[i])
            p.v[k++] = p.v[i];
    *out = p.v;
    return k;
}

/* ---- flat view ----------------------------------------------------------- */

static bool mergeable(const RefRange *prev, const RefHit *h, mr_size_t at)
{
    return (mr_size_t)prev->addr + prev->size == at && prev->hit.mr == h->mr &&
           (mr_size_t)prev->hit.offset + prev->size == (mr_size_t)h->offset &&
           prev->hit.readonly == h->readonly && prev->hit.nonvolatile == h->nonvolatile &&
           prev->hit.romd_mode == h->romd_mode && prev->hit.dirty_log_mask == h->dirty_log_mask;
}

size_t refmodel_flatten(const MemoryRegion *root, RefRange **out)
{
    *out = NULL;
    mr_size_t *pts;
    size_t np = refmodel_breakpoints(root, &pts);
    if (np == 0)
        return (size_t)-1;
    RefRange *r = malloc(np * sizeof(*r));
    if (!r) {
        free(pts);
        return (size_t)-1;
    }
    size_t n = 0;
    for (size_t i = 0; i + 1 < np; i++) {
        bool broken;
        RefHit h = refmodel_resolve(root, (hwaddr)pts[i], &broken);
        if (broken) {
            free(pts);
            free(r);
            return (size_t)-1;
        }
        if (!h.hit)
            continue;
        mr_size_t len = pts[i + 1] - pts[i];
        if (n > 0 && mergeable(&r[n - 1], &h, pts[i]))
            r[n - 1].size += len;
        else
            r[n++] = (RefRange){.addr = (hwaddr)pts[i], .size = len, .hit = h};
    }
    free(pts);
    *out = r;
    return n;
}

/* ---- alias loops ----------------------------------------------------------- */

typedef struct Nest {
    const RefChange *chg;
    const MemoryRegion **path; /* regions on the current path */
    size_t depth, cap;
    unsigned nest_cap;
    uint64_t work, work_cap;
    RefNesting out;
} Nest;

static bool is_changed(const Nest *w, const MemoryRegion *mr)
{
    return w->chg && w->chg->mr == mr;
}

static void nest_in(Nest *w, const MemoryRegion *mr, i128 base, i128 lo, i128 hi)
{
    if (w->out.cut)
        return;
    bool chg = is_changed(w, mr);
    if (!(chg ? w->chg->enabled : memory_region_is_enabled(mr)))
        return;
    base += (i128)(chg ? w->chg->addr : memory_region_addr(mr));
    i128 end = base + (i128)(chg ? w->chg->size : memory_region_size(mr));
    if (base > lo)
        lo = base;
    if (end < hi)
        hi = end;
    if (lo >= hi)
        return;
    unsigned occ = 1;
    for (size_t i = 0; i < w->depth; i++)
        occ += w->path[i] == mr;
    if (occ > w->out.max_nest)
        w->out.max_nest = occ;
    if (occ > w->nest_cap || ++w->work > w->work_cap || w->depth == w->cap) {
        w->out.cut = true;
        return;
    }
    if (w->work > w->out.visits)
        w->out.visits = w->work;
    w->path[w->depth++] = mr;
    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        const MemoryRegion *t = memory_region_alias_target(mr);
        hwaddr off = chg ? w->chg->alias_offset : memory_region_alias_offset(mr);
        i128 taddr = (i128)(is_changed(w, t) ? w->chg->addr : memory_region_addr(t));
        nest_in(w, t, base - taddr - (i128)off, lo, hi);
    } else {
        for (MemoryRegion *c = memory_region_first_subregion(mr); c;
             c = memory_region_next_sibling(c))
            nest_in(w, c, base, lo, hi);
        if (w->chg && w->chg->parent == mr)
            nest_in(w, w->chg->mr, base, lo, hi);
    }
    w->depth--;
}

RefNesting refmodel_loop_nesting(MemoryRegion *const *regions, size_t n, const RefChange *chg,
                                 unsigned nest_cap, uint64_t work_cap)
{
    Nest w = {.chg = chg, .nest_cap = nest_cap, .work_cap = work_cap, .cap = MAX_DEPTH};
    RefNesting all = {0};
    w.path = malloc(w.cap * sizeof(*w.path));
    if (!w.path) {
        all.cut = true;
        return all;
    }
    for (size_t i = 0; i < n && !all.cut; i++) {
        w.depth = 0;
        w.work = 0;
        w.out = (RefNesting){0};
        const MemoryRegion *mr = regions[i];
        /* Base 0 and no clip: the region's whole window where it sits. */
        nest_in(&w, mr, 0, 0, TWO64);
        if (w.out.max_nest > all.max_nest)
            all.max_nest = w.out.max_nest;
        if (w.out.visits > all.visits)
            all.visits = w.out.visits;
        all.cut |= w.out.cut;
    }
    free(w.path);
    return all;
}

/* ---- device side: through IOMMUs ------------------------------------------------- */

RefDma refmodel_dma_resolve(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs)
{
    RefDma d = {.result = MEMTX_DECODE_ERROR, .as = as, .addr = addr};
    for (unsigned hop = 0; hop <= MR_IOMMU_MAX_DEPTH; hop++) {
        d.as = as;
        d.addr = addr;
        d.hit = refmodel_resolve(address_space_root(as), addr, NULL);
        if (!d.hit.hit)
            return d;
        if (memory_region_kind(d.hit.mr) != MR_KIND_IOMMU) {
            d.result = MEMTX_OK;
            return d;
        }
        if (hop == MR_IOMMU_MAX_DEPTH)
            break;
        int idx = memory_region_iommu_attrs_to_index(d.hit.mr, attrs);
        IOMMUTLBEntry e = memory_region_iommu_translate(d.hit.mr, d.hit.offset,
                                                        is_write ? IOMMU_WO : IOMMU_RO, idx);
        if (e.perm == IOMMU_NONE || !e.target_as || (e.addr_mask & (e.addr_mask + 1)))
            break;
        if (!(e.perm & (is_write ? IOMMU_WO : IOMMU_RO))) {
            d.result = MEMTX_ACCESS_ERROR;
            d.hit.hit = false;
            return d;
        }
        addr = (e.translated_addr & ~e.addr_mask) | (d.hit.offset & e.addr_mask);
        as = e.target_as;
    }
    d.result = MEMTX_DECODE_ERROR;
    d.hit.hit = false;
    return d;
}

static bool ref_direct(const RefHit *h, bool is_write)
{
    if (!h->hit)
        return false;
    if (is_write)
        return memory_region_is_ram(h->mr) && !h->readonly;
    return memory_region_is_ram(h->mr) || h->romd_mode;
}

hwaddr refmodel_map_len(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write, MemTxAttrs attrs,
                        hwaddr step)
{
    RefDma first = refmodel_dma_resolve(as, addr, is_write, attrs);
    if (first.result != MEMTX_OK || !ref_direct(&first.hit, is_write))
        return 0;
    hwaddr done = step - (addr % step);
    while (done < len && addr + done != 0) {
        RefDma d = refmodel_dma_resolve(as, addr + done, is_write, attrs);
        if (d.result != MEMTX_OK || d.hit.mr != first.hit.mr ||
            d.hit.offset != first.hit.offset + done || !ref_direct(&d.hit, is_write))
            break;
        done += step;
    }
    return done < len ? done : len;
}
