/*
 * Large randomized differential test: views of tens of thousands to
 * 100,000 flat ranges against an independent model.
 *
 * The map is what a big machine looks like: a bus container holding tens of
 * thousands of RAM, ROM, ROM-device and MMIO regions at random addresses
 * (overlapping at times, with small priorities), device containers holding
 * a few regions each, a low-priority background region that fills every gap
 * of the bus, a ROM under the bus, an alias that shows a slice of the bus
 * elsewhere, an alias that shadows part of the bus with a shifted copy of
 * itself, small aliases onto leaf regions (pieces of one region side by
 * side, which merge or split by their flags), RAM and a container that are
 * never mapped themselves and show only through aliases (so their changes
 * reach the views through alias edges alone), an alias of the bus inside
 * the bus that shows itself again a few times (a self-referential alias, as
 * on QEMU's Arm SSE boards), and a region at the very top
 * of the 64-bit space. Five address spaces look at it: two on the root
 * (they must share one FlatView), one on the bus, one on a device
 * container, and one on a wrapper container whose only child is an alias of
 * the whole bus (it renders like the bus until an operation breaks QEMU's
 * sharing rule: the alias disabled, moved or shrunk, the wrapper made
 * read-only, a second region mapped into it).
 *
 * Random operations of the kinds the small differential test uses (add,
 * delete, move, enable, priority, resize, alias offset, read-only, romd,
 * destroy and re-create, transactions batching up to thousands of changes)
 * are aimed at interesting places: ranges at indices around multiples of
 * 128 and 64 (a view keeps its ranges in chunks of at most 128, cut at
 * multiples of 128 by a full render and in near-equal parts after edits;
 * multiples of 256 are among them), the first and
 * last ranges of a view, ranges next to the edited one (so that deletions
 * merge neighbours), and random addresses.
 *
 * The model: the harness keeps its own record of every region (address,
 * size, priority, insertion order, flags, parent, alias target) and renders
 * any window of a view from that record by painting: fragments are
 * collected in QEMU's render order and each claims the elementary segments
 * nobody claimed before it (union-find over the segment boundaries). It
 * shares no code with the library; a first test checks it against
 * tests/refmodel on a small map, and every operation also checks a few
 * addresses with refmodel_resolve().
 *
 * After each commit: every view of an address space is compared with the
 * model around each change (the damaged windows, widened by two ranges on
 * each side, so merges with neighbours are seen), around a few random range
 * indices (chunk boundaries among them), at its first and last ranges, and
 * at random addresses (lookup, find_range, translate, and reads through
 * address_space_read()); every MEMREGION_DIFF_LARGE_FULL_EVERY operations,
 * and at the end, each view is compared whole. Inside a transaction the
 * views must stay the ones published before it. The two address spaces on
 * the root must hold the same FlatView, and a commit outside a transaction
 * builds at most one version per view root.
 *
 * Environment: MEMREGION_SEED=<n> (default 1); MEMREGION_DIFF_LARGE_RANGES
 * (ranges of the big map, default 100000); MEMREGION_DIFF_OPS (operations
 * on the big map, default 80; the medium map runs three times as many);
 * MEMREGION_DIFF_LARGE_FULL_EVERY (default 40); MEMREGION_DIFF_VERBOSE=1.
 * Run with MEMREGION_CHECK_INCREMENTAL=1 to make the library compare every
 * incremental version with a full render as well.
 *
 * The last line printed is
 * "differential-large: N random operations on views of up to R ranges, M mismatches".
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <memregion/memregion.h>

#include "refmodel.h"
#include "../support/rng.h"
#include "../support/trail.h"
#include "../support/devices.h"

typedef __int128 i128;

#define TWO64      MR_SIZE_2_64
#define BUS_SIZE   ((mr_size_t)1 << 40)
#define HIWIN_BASE ((hwaddr)1 << 44)
#define TOP_SIZE   0x1000
#define POOL_SIZE  (1u << 20)
#define MAX_REAL   300 /* regions with library-allocated memory (each an mmap) */
#define NAS        5
#define MAX_WIN    256 /* windows per address space before a whole-view check */

/* ---- the harness's record of every region ------------------------------------ */

typedef enum NodeKind {
    NK_FREE = 0,
    NK_CONTAINER,
    NK_RAM_PTR, /* RAM on a slice of the shared pool */
    NK_RAM,
    NK_ROM,
    NK_ROMD,
    NK_MMIO,
    NK_MMIO_NULL,
    NK_ALIAS,
} NodeKind;

static const char *const kind_names[] = {"free", "container", "ram_ptr",   "ram",  "rom",
                                         "romd", "mmio",      "mmio_null", "alias"};

typedef struct Node {
    MemoryRegion mr;
    NodeKind kind;
    int idx;
    char name[24];
    int parent; /* node index or -1 */
    size_t pos; /* index in the parent's kids */
    hwaddr addr;
    int32_t prio;
    uint64_t seq; /* order of (re-)adds: newer wins ties */
    mr_size_t size;
    mr_size_t alloc; /* RAM bytes it was created with */
    bool enabled, readonly, romd;
    int target; /* alias target */
    hwaddr alias_offset;
    size_t upos;  /* index in the target's users */
    uint8_t *mem; /* RAM_PTR: the pool slice; RAM/ROM/ROMD: library memory */
    int *kids;
    size_t nkids, capkids;
    int *users; /* aliases whose target this is */
    size_t nusers, capusers;
    size_t livepos; /* index in live[] */
    bool fixed;     /* part of the skeleton: never destroyed */
} Node;

/* Fixed nodes. */
enum {
    N_ROOT,
    N_BUS,
    N_BG,
    N_HIWIN,
    N_SHADOW,
    N_TOP,
    N_ROMBG,
    N_WRAP,      /* a container whose only child is ... */
    N_WRAPALIAS, /* ... an alias of the whole bus: its view is the bus's */
    N_WRAPEXTRA, /* a region mapped into the wrapper now and then */
    N_HIDDEN,    /* RAM never mapped itself, seen only through aliases */
    N_HBOX,      /* an unmapped container seen only through aliases */
    N_LOOP,      /* an alias of the bus inside the bus: it shows itself, shifted */
    N_FIXED
};

static Node *nodes;
static int nodes_cap;
static int *free_list;
static int nr_free;
static int *live; /* non-fixed initialised nodes */
static size_t nr_live;
static int *devs; /* device containers */
static size_t nr_devs;
static int nr_real; /* nodes with library-allocated memory */
static uint8_t *pool;
static mr_size_t span; /* where the leaves live in the bus */

static AddressSpace spaces[NAS];
static int as_root[NAS];
static const char *const as_names[NAS] = {"sys", "sys2", "bus", "dev", "wrap"};

/* ---- run state and statistics ----------------------------------------------- */

static uint64_t seq_counter, ops_total;
static int tx_depth;
static uint64_t full_every;
static size_t max_ranges;

static struct {
    uint64_t full_views, full_ranges;   /* whole views compared */
    uint64_t windows, window_ranges;    /* windows compared */
    uint64_t points, ref_points, reads; /* addresses and reads compared */
    uint64_t chunk_edges, first_last;   /* places aimed at index 128k, first/last ranges */
    uint64_t commits, tx, tx_changes;   /* commits, transactions, changes in them */
    uint64_t refused;                   /* operations the library refused, as expected */
    uint64_t model_checks;              /* model vs refmodel comparisons */
    uint64_t edge_merges; /* deletions at an aimed chunk edge that merged neighbours */
} st;

static Node *node_of(const MemoryRegion *mr)
{
    if (!mr || (const char *)mr < (const char *)nodes ||
        (const char *)mr >= (const char *)(nodes + nodes_cap))
        return NULL;
    return (Node *)((const char *)mr - offsetof(Node, mr));
}

static bool terminates(const Node *n)
{
    return n->kind != NK_CONTAINER && n->kind != NK_ALIAS && n->kind != NK_FREE;
}

static bool ramlike(const Node *n)
{
    return n->kind == NK_RAM_PTR || n->kind == NK_RAM || n->kind == NK_ROM || n->kind == NK_ROMD;
}

/* ---- device callbacks: bytes that depend on the region and the offset -------- */

static uint8_t dev_byte(const Node *n, hwaddr off)
{
    return (uint8_t)(((off * 0x9e3779b1u) >> 7) ^ ((uint64_t)n->idx * 0x3bu) ^ off);
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)dev_byte(opaque, addr + i) << (8 * i);
    return v;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = ts_write_ignore,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
    .impl = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
};

/* ---- record keeping ------------------------------------------------------------ */

static void vec_push(int **v, size_t *n, size_t *cap, int x)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *v = realloc(*v, *cap * sizeof(**v));
        if (!*v)
            abort();
    }
    (*v)[(*n)++] = x;
}

static void rec_link(Node *s, Node *p, hwaddr addr, int32_t prio)
{
    s->parent = p->idx;
    s->addr = addr;
    s->prio = prio;
    s->seq = ++seq_counter;
    s->pos = p->nkids;
    vec_push(&p->kids, &p->nkids, &p->capkids, s->idx);
}

static void rec_unlink(Node *s)
{
    Node *p = &nodes[s->parent];
    int last = p->kids[--p->nkids];
    p->kids[s->pos] = last;
    nodes[last].pos = s->pos;
    s->parent = -1;
}

static void live_add(Node *s)
{
    s->livepos = nr_live;
    live[nr_live++] = s->idx;
}

static void live_remove(Node *s)
{
    int last = live[--nr_live];
    live[s->livepos] = last;
    nodes[last].livepos = s->livepos;
}

static bool is_as_root(const Node *n)
{
    for (int k = 0; k < NAS; k++)
        if (as_root[k] == n->idx)
            return true;
    return false;
}

/* ---- windows touched by the operations, per address space ---------------------- */

typedef struct Win {
    mr_size_t lo, hi;
} Win;

static Win wins[NAS][MAX_WIN];
static size_t nr_wins[NAS];
static bool want_full[NAS];

static void add_win(int k, mr_size_t lo, mr_size_t hi)
{
    if (hi > TWO64)
        hi = TWO64;
    if (lo >= hi)
        return;
    if (nr_wins[k] == MAX_WIN) {
        want_full[k] = true;
        return;
    }
    wins[k][nr_wins[k]++] = (Win){lo, hi};
}

/*
 * [lo, hi) of @n's own coordinates may look different: note the windows of
 * every address space that shows them (through containers and aliases).
 */
static void prop(int n, mr_size_t lo, mr_size_t hi, int depth)
{
    if (lo >= hi || depth > 64)
        return;
    Node *N = &nodes[n];
    for (int k = 0; k < NAS; k++)
        if (as_root[k] == n)
            add_win(k, lo + N->addr, hi + N->addr);
    for (size_t u = 0; u < N->nusers; u++) {
        Node *a = &nodes[N->users[u]];
        mr_size_t alo = lo > a->alias_offset ? lo : a->alias_offset;
        mr_size_t ahi =
            hi < (mr_size_t)a->alias_offset + a->size ? hi : (mr_size_t)a->alias_offset + a->size;
        if (alo < ahi)
            prop(a->idx, alo - a->alias_offset, ahi - a->alias_offset, depth + 1);
    }
    if (N->parent >= 0) {
        Node *P = &nodes[N->parent];
        mr_size_t phi = hi + N->addr;
        if (phi > P->size)
            phi = P->size;
        prop(P->idx, lo + N->addr, phi, depth + 1);
    }
}

static void touch(Node *n)
{
    prop(n->idx, 0, n->size, 0);
}

/* ---- the model: paint a window of a view from the record ------------------------ */

typedef struct Frag {
    mr_size_t s, e;
    int node;
    hwaddr off;
    bool ro;
} Frag;

static Frag *frags;
static size_t nr_frags, cap_frags;

static int by_render_order(const void *a, const void *b)
{
    const Node *x = &nodes[*(const int *)a], *y = &nodes[*(const int *)b];
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* Fragments of @n (container origin at @base) clipped to [clo, chi), in render order. */
static void collect(int n, i128 base, i128 clo, i128 chi, bool ro, int depth)
{
    Node *N = &nodes[n];
    if (!N->enabled || depth > 64)
        return;
    base += (i128)N->addr;
    ro = ro || N->readonly;
    i128 lo = base > clo ? base : clo;
    i128 hi = base + (i128)N->size < chi ? base + (i128)N->size : chi;
    if (lo >= hi)
        return;
    if (N->kind == NK_ALIAS) {
        Node *T = &nodes[N->target];
        collect(T->idx, base - (i128)N->alias_offset - (i128)T->addr, lo, hi, ro, depth + 1);
        return;
    }
    if (N->nkids) {
        int *v = malloc(N->nkids * sizeof(*v));
        size_t m = 0;
        for (size_t i = 0; i < N->nkids; i++) {
            Node *K = &nodes[N->kids[i]];
            i128 ks = base + (i128)K->addr, ke = ks + (i128)K->size;
            if (K->enabled && ks < hi && ke > lo)
                v[m++] = K->idx;
        }
        qsort(v, m, sizeof(*v), by_render_order);
        for (size_t i = 0; i < m; i++)
            collect(v[i], base, lo, hi, ro, depth + 1);
        free(v);
    }
    if (terminates(N)) {
        if (nr_frags == cap_frags) {
            cap_frags = cap_frags ? 2 * cap_frags : 1024;
            frags = realloc(frags, cap_frags * sizeof(*frags));
            if (!frags)
                abort();
        }
        frags[nr_frags++] = (Frag){(mr_size_t)lo, (mr_size_t)hi, n, (hwaddr)(lo - base), ro};
    }
}

static int cmp_u128(const void *a, const void *b)
{
    mr_size_t x = *(const mr_size_t *)a, y = *(const mr_size_t *)b;
    return x < y ? -1 : x > y;
}

static size_t lower_bound(const mr_size_t *v, size_t n, mr_size_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t uf_find(size_t *next, size_t x)
{
    size_t r = x;
    while (next[r] != r)
        r = next[r];
    while (next[x] != r) {
        size_t t = next[x];
        next[x] = r;
        x = t;
    }
    return r;
}

static bool fr_mergeable(const FlatRange *a, const FlatRange *b)
{
    return (mr_size_t)a->addr + a->size == b->addr && a->mr == b->mr &&
           (mr_size_t)a->offset_in_region + a->size == b->offset_in_region &&
           a->readonly == b->readonly && a->nonvolatile == b->nonvolatile &&
           a->romd_mode == b->romd_mode && a->dirty_log_mask == b->dirty_log_mask;
}

/* The model's ranges of the view rendered from node @root in [lo, hi). *out is malloc()ed. */
static size_t model_render(int root, mr_size_t lo, mr_size_t hi, FlatRange **out)
{
    nr_frags = 0;
    collect(root, 0, (i128)lo, (i128)hi, false, 0);
    size_t np = 2 * nr_frags;
    mr_size_t *pts = malloc((np ? np : 1) * sizeof(*pts));
    for (size_t i = 0; i < nr_frags; i++) {
        pts[2 * i] = frags[i].s;
        pts[2 * i + 1] = frags[i].e;
    }
    qsort(pts, np, sizeof(*pts), cmp_u128);
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        if (k == 0 || pts[k - 1] != pts[i])
            pts[k++] = pts[i];
    np = k;
    size_t nseg = np ? np - 1 : 0;
    int *owner = malloc((nseg ? nseg : 1) * sizeof(*owner));
    size_t *next = malloc((np ? np : 1) * sizeof(*next));
    for (size_t i = 0; i < nseg; i++)
        owner[i] = -1;
    for (size_t i = 0; i < np; i++)
        next[i] = i;
    /* First come, first served: a fragment paints the segments nobody painted. */
    for (size_t f = 0; f < nr_frags; f++) {
        size_t a = lower_bound(pts, np, frags[f].s), b = lower_bound(pts, np, frags[f].e);
        for (size_t x = uf_find(next, a); x < b; x = uf_find(next, x)) {
            owner[x] = (int)f;
            next[x] = x + 1;
        }
    }
    FlatRange *r = malloc((nseg ? nseg : 1) * sizeof(*r));
    size_t n = 0;
    for (size_t i = 0; i < nseg; i++) {
        if (owner[i] < 0)
            continue;
        const Frag *f = &frags[owner[i]];
        const Node *t = &nodes[f->node];
        FlatRange fr = {
            .addr = (hwaddr)pts[i],
            .size = pts[i + 1] - pts[i],
            .mr = (MemoryRegion *)&t->mr,
            .offset_in_region = f->off + (hwaddr)(pts[i] - f->s),
            .readonly = f->ro,
            .romd_mode = t->kind == NK_ROMD && t->romd,
        };
        if (n && fr_mergeable(&r[n - 1], &fr))
            r[n - 1].size += fr.size;
        else
            r[n++] = fr;
    }
    free(pts);
    free(owner);
    free(next);
    *out = r;
    return n;
}

/* ---- comparing a view with the model -------------------------------------------------- */

static void describe(const FlatRange *r, char *buf, size_t len)
{
    char a[40];
    if (!r) {
        snprintf(buf, len, "(none)");
        return;
    }
    snprintf(buf, len, "[0x%" PRIx64 " +%s) '%s'+0x%" PRIx64 "%s%s", r->addr, ts_hex128(r->size, a),
             memory_region_name(r->mr), r->offset_in_region, r->readonly ? " ro" : "",
             r->romd_mode ? " romd" : "");
}

/* Index of the first range of @fv ending above @addr. */
static size_t first_ending_after(FlatView *fv, mr_size_t addr)
{
    size_t lo = 0, hi = flatview_nr_ranges(fv);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const FlatRange *r = flatview_range(fv, mid);
        if ((mr_size_t)r->addr + r->size <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first range of @fv starting at or above @addr. */
static size_t first_starting_at(FlatView *fv, mr_size_t addr)
{
    size_t lo = 0, hi = flatview_nr_ranges(fv);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((mr_size_t)flatview_range(fv, mid)->addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Compare @fv (the view of address space @k) with the model over the
 * ranges intersecting [lo, hi), widened by two ranges on each side.
 */
static void check_window(int k, FlatView *fv, mr_size_t lo, mr_size_t hi, const char *why)
{
    size_t n = flatview_nr_ranges(fv);
    size_t i0 = first_ending_after(fv, lo), i1 = first_starting_at(fv, hi);
    size_t j0 = i0 >= 2 ? i0 - 2 : 0, j1 = i1 + 2 < n ? i1 + 2 : n;
    mr_size_t wlo = lo, whi = hi;
    if (j0 < n && flatview_range(fv, j0)->addr < wlo)
        wlo = flatview_range(fv, j0)->addr;
    if (j1 > 0) {
        const FlatRange *r = flatview_range(fv, j1 - 1);
        if ((mr_size_t)r->addr + r->size > whi)
            whi = (mr_size_t)r->addr + r->size;
    }
    FlatRange *m;
    size_t mn = model_render(as_root[k], wlo, whi, &m);
    /* The library's ranges clipped to the window. */
    size_t a = first_ending_after(fv, wlo), b = first_starting_at(fv, whi);
    st.windows++;
    st.window_ranges += b - a;
    size_t i = 0;
    for (size_t j = a; j < b || i < mn; j++, i++) {
        FlatRange lib = {0};
        bool have = j < b;
        if (have) {
            lib = *flatview_range(fv, j);
            if (lib.addr < wlo) {
                lib.offset_in_region += (hwaddr)(wlo - lib.addr);
                lib.size -= wlo - lib.addr;
                lib.addr = (hwaddr)wlo;
            }
            if ((mr_size_t)lib.addr + lib.size > whi)
                lib.size = whi - lib.addr;
        }
        if (!have || i >= mn || !ts_fr_same(&lib, &m[i])) {
            char x[160], y[160], a1[40], a2[40];
            describe(have ? &lib : NULL, x, sizeof(x));
            describe(i < mn ? &m[i] : NULL, y, sizeof(y));
            ts_trail_mismatch("%s (as %s, window [%s, %s)): range %zu: library %s, model %s", why,
                              as_names[k], ts_hex128(wlo, a1), ts_hex128(whi, a2), j, x, y);
            break;
        }
    }
    /* Neighbours that could merge, one range beyond the window on each side. */
    size_t s0 = a ? a - 1 : 0;
    for (size_t j = s0 + 1; j < n && j <= b; j++)
        if (fr_mergeable(flatview_range(fv, j - 1), flatview_range(fv, j))) {
            char x[160];
            describe(flatview_range(fv, j), x, sizeof(x));
            ts_trail_mismatch("as %s: ranges %zu and %zu should have merged: %s", as_names[k],
                              j - 1, j, x);
            break;
        }
    free(m);
}

static void check_full(int k)
{
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    size_t n = flatview_nr_ranges(fv);
    FlatRange *m;
    size_t mn = model_render(as_root[k], 0, TWO64, &m);
    st.full_views++;
    st.full_ranges += n;
    if (n > max_ranges)
        max_ranges = n;
    size_t i = 0;
    for (; i < n && i < mn; i++)
        if (!ts_fr_same(flatview_range(fv, i), &m[i]))
            break;
    if (i < n || i < mn) {
        char x[160], y[160];
        describe(i < n ? flatview_range(fv, i) : NULL, x, sizeof(x));
        describe(i < mn ? &m[i] : NULL, y, sizeof(y));
        ts_trail_mismatch(
            "as %s, whole view (%zu ranges, model %zu): range %zu: library %s, model %s",
            as_names[k], n, mn, i, x, y);
    }
    for (size_t j = 1; j < n; j++)
        if (fr_mergeable(flatview_range(fv, j - 1), flatview_range(fv, j))) {
            ts_trail_mismatch("as %s: ranges %zu and %zu should have merged", as_names[k], j - 1,
                              j);
            break;
        }
    free(m);
    flatview_unref(fv);
}

/* ---- addresses: lookup, find_range, translate, reads ------------------------------ */

static void check_point(int k, FlatView *fv, hwaddr addr)
{
    FlatRange *m;
    size_t mn = model_render(as_root[k], addr, (mr_size_t)addr + 1, &m);
    const FlatRange *lib = flatview_lookup(fv, addr);
    st.points++;
    bool ok;
    if (!mn)
        ok = lib == NULL;
    else
        ok = lib && lib->mr == m[0].mr &&
             lib->offset_in_region + (addr - lib->addr) == m[0].offset_in_region &&
             lib->readonly == m[0].readonly && lib->romd_mode == m[0].romd_mode &&
             lib->nonvolatile == false && lib->dirty_log_mask == 0;
    if (!ok) {
        char x[160], y[160];
        describe(lib, x, sizeof(x));
        describe(mn ? &m[0] : NULL, y, sizeof(y));
        ts_trail_mismatch("as %s 0x%" PRIx64 ": flatview_lookup gives %s, model %s", as_names[k],
                          addr, x, y);
        free(m);
        return;
    }
    FlatRange fr;
    bool found = address_space_find_range(&spaces[k], addr, &fr);
    if (found != (lib != NULL) || (found && !ts_fr_same(&fr, lib)))
        ts_trail_mismatch("as %s 0x%" PRIx64 ": address_space_find_range disagrees with the view",
                          as_names[k], addr);
    MemoryRegionSection sec;
    MemTxResult res =
        address_space_translate(&spaces[k], addr, false, MEMTXATTRS_UNSPECIFIED, &sec);
    if (!lib) {
        size_t nx = first_starting_at(fv, (mr_size_t)addr + 1);
        mr_size_t hole_end =
            nx < flatview_nr_ranges(fv) ? (mr_size_t)flatview_range(fv, nx)->addr : TWO64;
        if (res != MEMTX_DECODE_ERROR || sec.mr || sec.size != hole_end - addr)
            ts_trail_mismatch("as %s 0x%" PRIx64
                              ": translate of a hole: result %u, size wrong or region set",
                              as_names[k], addr, res);
    } else {
        Node *t = node_of(lib->mr);
        hwaddr off = lib->offset_in_region + (addr - lib->addr);
        uint8_t *host = NULL;
        if (t && (t->kind == NK_RAM_PTR || t->kind == NK_RAM || t->kind == NK_ROM ||
                  (t->kind == NK_ROMD && lib->romd_mode)))
            host = t->mem + off;
        if (res != MEMTX_OK || sec.mr != lib->mr || sec.offset_within_region != off ||
            sec.size != (mr_size_t)lib->addr + lib->size - addr || sec.host != host)
            ts_trail_mismatch("as %s 0x%" PRIx64
                              ": address_space_translate does not match the view",
                              as_names[k], addr);
    }
    free(m);
    if (ts_chance(10)) {
        /* The reference model of tests/refmodel agrees too (it is slow on big containers). */
        bool broken;
        RefHit h = refmodel_resolve(&nodes[as_root[k]].mr, addr, &broken);
        st.ref_points++;
        RefHit got = {0};
        if (lib)
            got = (RefHit){.hit = true,
                           .mr = lib->mr,
                           .offset = lib->offset_in_region + (addr - lib->addr),
                           .readonly = lib->readonly,
                           .romd_mode = lib->romd_mode};
        if (broken || !refhit_equal(&h, &got)) {
            char x[160], y[160];
            ts_trail_mismatch("as %s 0x%" PRIx64 ": refmodel %s, library %s", as_names[k], addr,
                              refhit_describe(&h, x, sizeof(x)),
                              refhit_describe(&got, y, sizeof(y)));
        }
    }
}

/* A read of 1..8 bytes through the address space, against the model byte by byte. */
static void check_read(int k, hwaddr addr, unsigned len)
{
    if ((mr_size_t)addr + len > TWO64)
        addr = (hwaddr)(TWO64 - len);
    FlatRange *m;
    size_t mn = model_render(as_root[k], addr, (mr_size_t)addr + len, &m);
    uint8_t want[8], got[8];
    MemTxResult exp = MEMTX_OK;
    size_t j = 0;
    for (unsigned i = 0; i < len; i++) {
        hwaddr a = addr + i;
        while (j < mn && (mr_size_t)m[j].addr + m[j].size <= a)
            j++;
        if (j >= mn || m[j].addr > a) {
            want[i] = 0;
            exp |= MEMTX_DECODE_ERROR;
            continue;
        }
        Node *t = node_of(m[j].mr);
        hwaddr off = m[j].offset_in_region + (a - m[j].addr);
        switch (t->kind) {
        case NK_RAM_PTR:
        case NK_RAM:
        case NK_ROM:
            want[i] = t->mem[off];
            break;
        case NK_ROMD:
            want[i] = m[j].romd_mode ? t->mem[off] : dev_byte(t, off);
            break;
        case NK_MMIO:
            want[i] = dev_byte(t, off);
            break;
        default:
            want[i] = 0;
            exp |= MEMTX_DECODE_ERROR;
            break;
        }
    }
    memset(got, 0xa5, sizeof(got));
    MemTxResult res = address_space_read(&spaces[k], addr, MEMTXATTRS_UNSPECIFIED, got, len);
    st.reads++;
    if (res != exp || memcmp(got, want, len) != 0)
        ts_trail_mismatch("as %s: read of %u bytes at 0x%" PRIx64 " = %u, model %u%s", as_names[k],
                          len, addr, res, exp, memcmp(got, want, len) ? " (bytes differ)" : "");
    free(m);
}

/* ---- picking places ---------------------------------------------------------------- */

static bool aimed_at_edge; /* the last pick_index() aimed at a chunk edge */

/* A range index of @fv aimed at chunk edges, the ends of the view, or anywhere. */
static size_t pick_index(FlatView *fv)
{
    aimed_at_edge = false;
    size_t n = flatview_nr_ranges(fv);
    if (!n)
        return 0;
    unsigned r = (unsigned)ts_rnd_below(100);
    size_t i;
    if (r < 40) {
        st.chunk_edges++;
        aimed_at_edge = true;
        size_t q = ts_rnd_below(n / 128 + 1) * 128;
        i = q + ts_rnd_below(5);
        i = i >= 2 ? i - 2 : 0;
    } else if (r < 50) {
        st.first_last++;
        i = ts_rnd_below(3);
    } else if (r < 60) {
        st.first_last++;
        i = n - 1 - ts_rnd_below(3 < n ? 3 : n);
    } else if (r < 70) {
        i = ts_rnd_below(n / 64 + 1) * 64 + ts_rnd_below(3);
    } else {
        i = ts_rnd_below(n);
    }
    return i < n ? i : n - 1;
}

/* A bus address next to, inside or over range @i of the system view, for @size bytes. */
static bool place_at_range(mr_size_t size, hwaddr *out)
{
    FlatView *fv = address_space_get_flatview(&spaces[ts_chance(80) ? 0 : 2]);
    size_t n = flatview_nr_ranges(fv);
    bool ok = false;
    if (n) {
        const FlatRange *r = flatview_range(fv, pick_index(fv));
        mr_size_t end = (mr_size_t)r->addr + r->size, a;
        switch (ts_rnd_below(4)) {
        case 0:
            a = r->addr;
            break;
        case 1:
            a = end;
            break;
        case 2:
            a = (mr_size_t)r->addr >= size ? r->addr - size : 0;
            break;
        default:
            a = r->addr + ts_rnd_below128(r->size);
            break;
        }
        if (a + size <= BUS_SIZE) {
            *out = (hwaddr)a;
            ok = true;
        }
    }
    flatview_unref(fv);
    return ok;
}

static hwaddr gen_bus_addr(mr_size_t size)
{
    hwaddr a;
    unsigned r = (unsigned)ts_rnd_below(100);
    if (r < 45 && place_at_range(size, &a))
        return a;
    if (r < 50)
        return ts_rnd_below(4) * 0x1000; /* the very start of the bus */
    if (r < 53)
        return (hwaddr)(span - ts_rnd_below(4) * 0x1000);
    a = ts_rnd_below((uint64_t)span);
    return ts_chance(85) ? a & ~(hwaddr)0xfff : a;
}

static mr_size_t gen_leaf_size(void)
{
    if (ts_chance(8))
        return 1 + ts_rnd_below(0x100);
    return 0x1000 * (1 + ts_rnd_below(8));
}

static int32_t gen_prio(void)
{
    unsigned r = (unsigned)ts_rnd_below(100);
    return r < 80 ? 0 : r < 90 ? 1 : r < 97 ? -1 : (int32_t)ts_rnd_below(7) - 3;
}

/* ---- creating and destroying regions ------------------------------------------------ */

static Node *node_alloc(void)
{
    if (!nr_free)
        return NULL;
    Node *s = &nodes[free_list[--nr_free]];
    s->parent = -1;
    s->target = -1;
    s->enabled = true;
    s->readonly = false;
    s->nkids = s->nusers = 0;
    s->mem = NULL;
    s->fixed = false;
    return s;
}

static void node_release(Node *s)
{
    s->kind = NK_FREE;
    free_list[nr_free++] = s->idx;
}

static void check_rc(int rc, int want, const char *what)
{
    if (rc != want)
        ts_trail_mismatch("%s returned %d (%s), expected %d", what, rc, memregion_last_error(),
                          want);
    else if (rc)
        st.refused++;
}

/* A new leaf region of a random kind (unmapped). */
static Node *create_leaf(void)
{
    Node *s = node_alloc();
    if (!s)
        return NULL;
    unsigned r = (unsigned)ts_rnd_below(100);
    NodeKind kind = r < 45   ? NK_RAM_PTR
                    : r < 80 ? NK_MMIO
                    : r < 88 ? NK_MMIO_NULL
                    : r < 94 ? NK_ALIAS
                             : NK_ROMD;
    if (kind == NK_ROMD && nr_real >= MAX_REAL)
        kind = NK_RAM_PTR;
    if (kind == NK_ROMD && ts_chance(50))
        kind = ts_chance(50) ? NK_RAM : NK_ROM;
    mr_size_t size = gen_leaf_size();
    snprintf(s->name, sizeof(s->name), "%s%d", kind_names[kind], s->idx);
    int rc;
    switch (kind) {
    case NK_RAM_PTR: {
        size_t at = (size_t)ts_rnd_below(POOL_SIZE - (uint64_t)size);
        s->mem = pool + at;
        rc = memory_region_init_ram_ptr(&s->mr, s->name, size, s->mem);
        break;
    }
    case NK_RAM:
        rc = memory_region_init_ram(&s->mr, s->name, size);
        break;
    case NK_ROM:
        rc = memory_region_init_rom(&s->mr, s->name, size);
        break;
    case NK_ROMD:
        rc = memory_region_init_rom_device(&s->mr, &dev_ops, s, s->name, size);
        break;
    case NK_MMIO:
        rc = memory_region_init_io(&s->mr, &dev_ops, s, s->name, size);
        break;
    case NK_MMIO_NULL:
        rc = memory_region_init_io(&s->mr, NULL, NULL, s->name, size);
        break;
    default: {
        /* An alias onto a piece of a RAM-like leaf, of the hidden RAM, or of the ROM. */
        Node *t = ts_chance(25) ? &nodes[N_HIDDEN] : NULL;
        for (int tries = 0; tries < 20 && !t; tries++) {
            Node *c = nr_live ? &nodes[live[ts_rnd_below(nr_live)]] : NULL;
            if (c && ramlike(c))
                t = c;
        }
        if (!t)
            t = &nodes[N_ROMBG];
        hwaddr off = (hwaddr)ts_rnd_below128(t->size);
        size = 1 + ts_rnd_below128(t->size - off < 0x10000 ? t->size - off : 0x10000);
        rc = memory_region_init_alias(&s->mr, s->name, &t->mr, off, size);
        if (rc == 0) {
            s->target = t->idx;
            s->alias_offset = off;
            s->upos = t->nusers;
            vec_push(&t->users, &t->nusers, &t->capusers, s->idx);
        }
        break;
    }
    }
    check_rc(rc, 0, "memory_region_init_*");
    if (rc) {
        node_release(s);
        return NULL;
    }
    s->kind = kind;
    s->size = size;
    s->alloc = size;
    s->readonly = kind == NK_ROM;
    s->romd = kind == NK_ROMD;
    if (kind == NK_RAM || kind == NK_ROM || kind == NK_ROMD) {
        nr_real++;
        s->mem = memory_region_get_ram_ptr(&s->mr);
        for (size_t i = 0; i < (size_t)size; i++)
            s->mem[i] = (uint8_t)ts_rnd();
    }
    live_add(s);
    return s;
}

static Node *create_container(mr_size_t size)
{
    Node *s = node_alloc();
    if (!s)
        return NULL;
    snprintf(s->name, sizeof(s->name), "dev%d", s->idx);
    int rc = memory_region_init(&s->mr, s->name, size);
    check_rc(rc, 0, "memory_region_init");
    if (rc) {
        node_release(s);
        return NULL;
    }
    s->kind = NK_CONTAINER;
    s->size = size;
    live_add(s);
    return s;
}

static int add_sub(Node *p, Node *s, hwaddr addr, int32_t prio)
{
    int rc = prio == 0 && ts_chance(30)
                 ? memory_region_add_subregion(&p->mr, addr, &s->mr)
                 : memory_region_add_subregion_overlap(&p->mr, addr, &s->mr, prio);
    ts_trail_note("add '%s' size 0x%" PRIx64 " to '%s' at 0x%" PRIx64 " prio %d = %d", s->name,
                  (uint64_t)s->size, p->name, addr, prio, rc);
    check_rc(rc, 0, "add_subregion");
    if (rc == 0) {
        rec_link(s, p, addr, prio);
        touch(s);
    }
    return rc;
}

/* Destroy an unmapped, non-fixed region nobody aliases; false if it must stay. */
static bool destroy_node(Node *s)
{
    if (s->fixed || s->parent >= 0 || s->nusers || is_as_root(s) || s->kind == NK_CONTAINER)
        return false;
    int rc = memory_region_destroy(&s->mr);
    ts_trail_note("destroy '%s' = %d", s->name, rc);
    check_rc(rc, tx_depth ? rc : 0, "memory_region_destroy");
    if (rc)
        return false;
    if (s->kind == NK_ALIAS) {
        Node *t = &nodes[s->target];
        int last = t->users[--t->nusers];
        t->users[s->upos] = last;
        nodes[last].upos = s->upos;
    }
    if (s->kind == NK_RAM || s->kind == NK_ROM || s->kind == NK_ROMD)
        nr_real--;
    live_remove(s);
    node_release(s);
    return true;
}

/* ---- operations ------------------------------------------------------------------ */

/* A live, non-fixed node (mapped if asked); @aim_pct percent: the one at an aimed range. */
static Node *pick_node_aimed(bool mapped_only, unsigned aim_pct)
{
    if (ts_chance(aim_pct)) {
        FlatView *fv = address_space_get_flatview(&spaces[ts_chance(80) ? 0 : 2]);
        Node *s = NULL;
        if (flatview_nr_ranges(fv)) {
            s = node_of(flatview_range(fv, pick_index(fv))->mr);
            /* The region seen there may be the target of an alias: take the alias sometimes. */
            if (s && s->nusers && ts_chance(50))
                s = &nodes[s->users[ts_rnd_below(s->nusers)]];
            if (s && (s->idx < N_FIXED || (mapped_only && s->parent < 0)))
                s = NULL;
        }
        flatview_unref(fv);
        if (s)
            return s;
    }
    for (int tries = 0; tries < 30 && nr_live; tries++) {
        Node *s = &nodes[live[ts_rnd_below(nr_live)]];
        if (!mapped_only || s->parent >= 0)
            return s;
    }
    return NULL;
}

static Node *pick_node(bool mapped_only)
{
    return pick_node_aimed(mapped_only, 40);
}

static void op_add(void)
{
    Node *s = NULL;
    if (ts_chance(30))
        for (int tries = 0; tries < 10 && !s; tries++) {
            Node *c = nr_live ? &nodes[live[ts_rnd_below(nr_live)]] : NULL;
            if (c && c->parent < 0 && !is_as_root(c))
                s = c;
        }
    if (!s)
        s = create_leaf();
    if (!s)
        return;
    if (s->kind != NK_CONTAINER && nr_devs && ts_chance(15)) {
        Node *d = &nodes[devs[ts_rnd_below(nr_devs)]];
        add_sub(d, s, ts_rnd_below((uint64_t)d->size), gen_prio());
    } else {
        add_sub(&nodes[N_BUS], s, gen_bus_addr(s->size), s->kind == NK_CONTAINER ? 1 : gen_prio());
    }
}

static size_t nr_ranges_of(int k)
{
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    size_t n = flatview_nr_ranges(fv);
    flatview_unref(fv);
    return n;
}

static void op_del(void)
{
    aimed_at_edge = false;
    Node *s = pick_node_aimed(true, 70); /* deletions merge neighbours: aim them at chunk edges */
    if (!s)
        return;
    bool edge = aimed_at_edge && tx_depth == 0;
    size_t before = edge ? nr_ranges_of(0) : 0;
    touch(s);
    Node *p = &nodes[s->parent];
    int rc = memory_region_del_subregion(&p->mr, &s->mr);
    ts_trail_note("del '%s' from '%s' = %d", s->name, p->name, rc);
    check_rc(rc, 0, "del_subregion");
    if (rc)
        return;
    if (edge && nr_ranges_of(0) + 2 <= before)
        st.edge_merges++; /* the neighbours of the deleted range merged */
    rec_unlink(s);
    if (tx_depth == 0 && ts_chance(70))
        destroy_node(s);
}

static void op_move(void)
{
    Node *s = pick_node(true);
    if (!s)
        return;
    Node *p = &nodes[s->parent];
    hwaddr addr;
    if (ts_chance(20))
        addr = s->addr + (ts_chance(50) ? 0x1000 : -(hwaddr)0x1000) * (1 + ts_rnd_below(4));
    else if (p->idx == N_BUS)
        addr = gen_bus_addr(s->size);
    else
        addr = ts_rnd_below((uint64_t)p->size);
    if ((mr_size_t)addr + s->size > TWO64)
        addr = 0;
    touch(s);
    int rc = memory_region_set_address(&s->mr, addr);
    ts_trail_note("move '%s' in '%s' from 0x%" PRIx64 " to 0x%" PRIx64 " = %d", s->name, p->name,
                  s->addr, addr, rc);
    check_rc(rc, 0, "set_address");
    if (rc == 0 && addr != s->addr) { /* the address it has: no re-add (QEMU) */
        s->addr = addr;
        s->seq = ++seq_counter;
        touch(s);
    }
}

static void op_enable(void)
{
    Node *s = ts_chance(3) ? &nodes[N_SHADOW + ts_rnd_below(2)] : pick_node(false);
    if (!s)
        return;
    bool en = s->enabled ? ts_chance(30) : ts_chance(85);
    int rc = memory_region_set_enabled(&s->mr, en);
    ts_trail_note("set_enabled('%s', %d) = %d", s->name, en, rc);
    check_rc(rc, 0, "set_enabled");
    if (rc == 0 && en != s->enabled) {
        s->enabled = en;
        touch(s);
    }
}

static void op_priority(void)
{
    Node *s = pick_node(true);
    if (!s)
        return;
    int32_t prio = gen_prio();
    int rc = memory_region_set_priority(&s->mr, prio);
    ts_trail_note("set_priority('%s', %d) = %d", s->name, prio, rc);
    check_rc(rc, 0, "set_priority");
    if (rc == 0 && prio != s->prio) {
        s->prio = prio;
        s->seq = ++seq_counter;
        touch(s);
    }
}

static void op_resize(void)
{
    Node *s = pick_node(false);
    if (!s)
        return;
    mr_size_t size;
    int want = 0;
    if (ramlike(s)) {
        size = ts_chance(15)   ? s->alloc + 1
               : ts_chance(40) ? s->alloc
                               : 1 + ts_rnd_below128(s->alloc);
        if (size > s->alloc)
            want = -EINVAL;
    } else if (s->kind == NK_ALIAS) {
        mr_size_t tsize = nodes[s->target].size;
        size = tsize > s->alias_offset ? 1 + ts_rnd_below128(tsize - s->alias_offset) : 0x1000;
        if ((mr_size_t)s->alias_offset + size > TWO64)
            want = -EINVAL;
    } else if (s->kind == NK_CONTAINER) {
        size = 0x10000 * (1 + ts_rnd_below(16));
    } else {
        size = gen_leaf_size();
    }
    if (s->parent >= 0 && (mr_size_t)s->addr + size > TWO64)
        want = -EINVAL; /* a mapped region may not pass 2^64 */
    touch(s);
    int rc = memory_region_set_size(&s->mr, size);
    ts_trail_note("set_size('%s', 0x%" PRIx64 ") = %d", s->name, (uint64_t)size, rc);
    check_rc(rc, want, "set_size");
    if (rc == 0) {
        s->size = size;
        touch(s);
    }
}

static void op_alias_offset(void)
{
    Node *s;
    if (ts_chance(25)) {
        s = &nodes[ts_chance(50) ? N_HIWIN : N_SHADOW];
    } else {
        s = NULL;
        for (int tries = 0; tries < 30 && !s; tries++) {
            Node *c = nr_live ? &nodes[live[ts_rnd_below(nr_live)]] : NULL;
            if (c && c->kind == NK_ALIAS)
                s = c;
        }
        if (!s)
            return;
    }
    mr_size_t tsize = s->target == N_BUS ? span : nodes[s->target].size;
    hwaddr off;
    if (ts_chance(50))
        off = s->alias_offset + (ts_chance(50) ? 1 : -1) * (hwaddr)(0x1000 * (1 + ts_rnd_below(3)));
    else
        off = (hwaddr)ts_rnd_below128(tsize);
    if ((mr_size_t)off + s->size > TWO64)
        off = 0;
    touch(s);
    int rc = memory_region_set_alias_offset(&s->mr, off);
    ts_trail_note("set_alias_offset('%s', 0x%" PRIx64 ") = %d", s->name, off, rc);
    check_rc(rc, 0, "set_alias_offset");
    if (rc == 0) {
        s->alias_offset = off;
        touch(s);
    }
}

static void op_readonly(void)
{
    Node *s = ts_chance(5) ? &nodes[N_SHADOW] : pick_node(false);
    if (!s)
        return;
    bool ro = !s->readonly;
    int rc = memory_region_set_readonly(&s->mr, ro);
    ts_trail_note("set_readonly('%s', %d) = %d", s->name, ro, rc);
    check_rc(rc, 0, "set_readonly");
    if (rc == 0) {
        s->readonly = ro;
        touch(s);
    }
}

static void op_romd(void)
{
    Node *s = NULL;
    for (int tries = 0; tries < 40 && !s; tries++) {
        Node *c = nr_live ? &nodes[live[ts_rnd_below(nr_live)]] : NULL;
        if (c && c->kind == NK_ROMD)
            s = c;
    }
    if (!s)
        return;
    bool on = !s->romd;
    int rc = memory_region_rom_device_set_romd(&s->mr, on);
    ts_trail_note("set_romd('%s', %d) = %d", s->name, on, rc);
    check_rc(rc, 0, "rom_device_set_romd");
    if (rc == 0) {
        s->romd = on;
        touch(s);
    }
}

/*
 * Two pieces of one region side by side: an alias continuing a mapped alias
 * (same target, the next window, the next address). They merge into one
 * range unless their flags differ; toggling read-only splits and re-merges.
 */
static void op_continuation(void)
{
    Node *a = NULL;
    for (int tries = 0; tries < 40 && !a; tries++) {
        Node *c = nr_live ? &nodes[live[ts_rnd_below(nr_live)]] : NULL;
        if (c && c->kind == NK_ALIAS && c->parent >= 0)
            a = c;
    }
    if (!a)
        return;
    Node *t = &nodes[a->target];
    mr_size_t off = (mr_size_t)a->alias_offset + a->size;
    if (off >= t->size)
        return;
    Node *f = node_alloc();
    if (!f)
        return;
    mr_size_t size = 1 + ts_rnd_below128(t->size - off);
    snprintf(f->name, sizeof(f->name), "alias%d", f->idx);
    int rc = memory_region_init_alias(&f->mr, f->name, &t->mr, (hwaddr)off, size);
    check_rc(rc, 0, "memory_region_init_alias");
    if (rc) {
        node_release(f);
        return;
    }
    f->kind = NK_ALIAS;
    f->size = size;
    f->target = t->idx;
    f->alias_offset = (hwaddr)off;
    f->upos = t->nusers;
    vec_push(&t->users, &t->nusers, &t->capusers, f->idx);
    live_add(f);
    ts_trail_note("alias '%s' continues '%s' (target '%s' offset 0x%" PRIx64 ")", f->name, a->name,
                  t->name, (hwaddr)off);
    Node *p = &nodes[a->parent];
    mr_size_t at = (mr_size_t)a->addr + a->size;
    if (at + size <= p->size)
        add_sub(p, f, (hwaddr)at, a->prio);
}

/*
 * The self-referential alias N_LOOP: size, address in the bus and offset in
 * the bus. It shows the bus from d bytes below (or above) its own address,
 * with 0 < |d| and |d| >= size / 8, so rendering nests the bus at most 9
 * times: always within MEMREGION_ALIAS_LAPS_MAX, and every change must be
 * accepted. (The small differential test covers refusals.)
 */
static void loop_params(mr_size_t *size, hwaddr *at, hwaddr *off)
{
    *size = (mr_size_t)(0x10000 * (1 + ts_rnd_below(64)));
    mr_size_t d = *size / (1 + ts_rnd_below(8));
    d = (d + 0xfff) & ~(mr_size_t)0xfff;
    *at = (hwaddr)(ts_rnd_below128(span) & ~(mr_size_t)0xfff) + (hwaddr)d;
    *off = ts_chance(70) ? *at - (hwaddr)d : *at + (hwaddr)d;
}

static uint64_t loop_ops; /* changes made to the self-referential alias */

static void op_loop(void)
{
    Node *s = &nodes[N_LOOP];
    mr_size_t size;
    hwaddr at, off;
    loop_params(&size, &at, &off);
    int rc;
    touch(s);
    unsigned r = (unsigned)ts_rnd_below(100);
    loop_ops++;
    if (r < 20) {
        bool en = !s->enabled;
        rc = memory_region_set_enabled(&s->mr, en);
        ts_trail_note("set_enabled('%s', %d) = %d", s->name, en, rc);
        check_rc(rc, 0, "set_enabled(loop)");
        if (rc == 0)
            s->enabled = en;
    } else if (r < 50) {
        /* Move it; the new displacement must stay within loop_params' rule. */
        hwaddr to = s->addr + (hwaddr)(ts_rnd_below(16) * 0x1000) - 0x8000;
        i128 d = (i128)to - (i128)s->alias_offset;
        mr_size_t ad = (mr_size_t)(d < 0 ? -d : d);
        if ((mr_size_t)to + s->size > BUS_SIZE || ad == 0 || ad * 8 < s->size)
            return;
        rc = memory_region_set_address(&s->mr, to);
        ts_trail_note("move '%s' to 0x%" PRIx64 " = %d", s->name, to, rc);
        check_rc(rc, 0, "set_address(loop)");
        if (rc == 0) {
            s->addr = to;
            s->seq = ++seq_counter;
        }
    } else {
        /* A new window, changed while disabled: a disabled alias is on no
         * path, so only the final enable is judged. */
        memory_region_transaction_begin();
        int rcs[5] = {0};
        rcs[0] = memory_region_set_enabled(&s->mr, false);
        rcs[1] = memory_region_set_alias_offset(&s->mr, off);
        rcs[2] = memory_region_set_address(&s->mr, at);
        rcs[3] = memory_region_set_size(&s->mr, size);
        rcs[4] = memory_region_set_enabled(&s->mr, s->enabled);
        memory_region_transaction_commit();
        ts_trail_note("loop '%s' now 0x%" PRIx64 " bytes at 0x%" PRIx64 " offset 0x%" PRIx64
                      " = %d %d %d %d %d",
                      s->name, (uint64_t)size, at, off, rcs[0], rcs[1], rcs[2], rcs[3], rcs[4]);
        for (int i = 0; i < 5; i++)
            check_rc(rcs[i], 0, "changing the loop alias");
        if (rcs[1] == 0)
            s->alias_offset = off;
        if (rcs[2] == 0) {
            s->addr = at;
            s->seq = ++seq_counter;
        }
        if (rcs[3] == 0)
            s->size = size;
    }
    touch(s);
}

/* The region at the top of the space: it holds the last range of the system view. */
static void op_top(void)
{
    Node *s = &nodes[N_TOP];
    hwaddr addr = ts_chance(50) ? (hwaddr)(TWO64 - TOP_SIZE)
                                : (hwaddr)(TWO64 - TOP_SIZE) - 0x1000 * ts_rnd_below(3);
    touch(s);
    int rc = memory_region_set_address(&s->mr, addr);
    ts_trail_note("move top to 0x%" PRIx64 " = %d", addr, rc);
    check_rc(rc, 0, "set_address(top)");
    if (rc == 0 && addr != s->addr) { /* the address it has: no re-add (QEMU) */
        s->addr = addr;
        s->seq = ++seq_counter;
        touch(s);
    }
}

/*
 * The wrapper's view is the bus's while its only enabled child is an alias
 * of the whole bus at offset 0 (the sharing rule). Break and restore that:
 * disable the alias, mark the wrapper read-only, map a second region, move
 * the alias window or shrink it.
 */
static void op_wrap(void)
{
    Node *w = &nodes[N_WRAP], *a = &nodes[N_WRAPALIAS], *x = &nodes[N_WRAPEXTRA];
    int rc;
    switch (ts_rnd_below(6)) {
    case 0:
        rc = memory_region_set_enabled(&a->mr, !a->enabled);
        ts_trail_note("set_enabled('%s', %d) = %d", a->name, !a->enabled, rc);
        check_rc(rc, 0, "set_enabled(wrapper-alias)");
        if (rc == 0)
            a->enabled = !a->enabled;
        touch(a);
        break;
    case 1:
        rc = memory_region_set_readonly(&w->mr, !w->readonly);
        ts_trail_note("set_readonly('%s', %d) = %d", w->name, !w->readonly, rc);
        check_rc(rc, 0, "set_readonly(wrapper)");
        if (rc == 0)
            w->readonly = !w->readonly;
        touch(w);
        break;
    case 2:
        if (x->parent >= 0) {
            touch(x);
            rc = memory_region_del_subregion(&w->mr, &x->mr);
            ts_trail_note("del '%s' = %d", x->name, rc);
            check_rc(rc, 0, "del_subregion(wrapper-extra)");
            if (rc == 0)
                rec_unlink(x);
        } else {
            hwaddr at = ts_chance(50) ? 0 : gen_bus_addr(x->size);
            add_sub(w, x, at, (int32_t)ts_rnd_below(3) - 1);
        }
        break;
    case 3:
    case 4: {
        hwaddr off = a->alias_offset ? 0 : 0x1000 * (1 + ts_rnd_below(4));
        touch(a);
        rc = memory_region_set_alias_offset(&a->mr, off);
        ts_trail_note("set_alias_offset('%s', 0x%" PRIx64 ") = %d", a->name, off, rc);
        check_rc(rc, 0, "set_alias_offset(wrapper-alias)");
        if (rc == 0)
            a->alias_offset = off;
        touch(a);
        break;
    }
    default: {
        mr_size_t size = a->size == BUS_SIZE ? span / 2 : BUS_SIZE;
        touch(a);
        rc = memory_region_set_size(&a->mr, size);
        ts_trail_note("set_size('%s', 0x%" PRIx64 ") = %d", a->name, (uint64_t)size, rc);
        check_rc(rc, 0, "set_size(wrapper-alias)");
        if (rc == 0)
            a->size = size;
        touch(a);
        break;
    }
    }
}

/*
 * Changes that reach the views only through aliases: the hidden RAM (resized,
 * made read-only, disabled) and the regions inside the hidden container.
 */
static void op_hidden(void)
{
    Node *h = &nodes[N_HIDDEN], *box = &nodes[N_HBOX];
    int rc;
    switch (ts_rnd_below(5)) {
    case 0: {
        mr_size_t size = h->size == h->alloc ? 0x1000 * (1 + ts_rnd_below(255)) : h->alloc;
        touch(h);
        rc = memory_region_set_size(&h->mr, size);
        ts_trail_note("set_size('%s', 0x%" PRIx64 ") = %d", h->name, (uint64_t)size, rc);
        check_rc(rc, 0, "set_size(hidden)");
        if (rc == 0)
            h->size = size;
        touch(h);
        break;
    }
    case 1:
        rc = memory_region_set_readonly(&h->mr, !h->readonly);
        ts_trail_note("set_readonly('%s', %d) = %d", h->name, !h->readonly, rc);
        check_rc(rc, 0, "set_readonly(hidden)");
        if (rc == 0)
            h->readonly = !h->readonly;
        touch(h);
        break;
    case 2:
        rc = memory_region_set_enabled(&h->mr, !h->enabled);
        ts_trail_note("set_enabled('%s', %d) = %d", h->name, !h->enabled, rc);
        check_rc(rc, 0, "set_enabled(hidden)");
        if (rc == 0)
            h->enabled = !h->enabled;
        touch(h);
        break;
    default: {
        /* Add to, move or delete within the hidden container. */
        Node *k = box->nkids ? &nodes[box->kids[ts_rnd_below(box->nkids)]] : NULL;
        if (k && ts_chance(50)) {
            hwaddr to = ts_rnd_below((uint64_t)box->size);
            touch(k);
            rc = memory_region_set_address(&k->mr, to);
            ts_trail_note("move '%s' in '%s' to 0x%" PRIx64 " = %d", k->name, box->name, to, rc);
            check_rc(rc, 0, "set_address(in hidden box)");
            if (rc == 0) {
                k->addr = to;
                k->seq = ++seq_counter;
            }
            touch(k);
        } else if (k && ts_chance(40)) {
            touch(k);
            rc = memory_region_del_subregion(&box->mr, &k->mr);
            ts_trail_note("del '%s' from '%s' = %d", k->name, box->name, rc);
            check_rc(rc, 0, "del_subregion(in hidden box)");
            if (rc == 0)
                rec_unlink(k);
        } else {
            Node *n = create_leaf();
            if (n)
                add_sub(box, n, ts_rnd_below((uint64_t)box->size), gen_prio());
        }
        break;
    }
    }
}

static void random_change(void)
{
    unsigned r = (unsigned)ts_rnd_below(1000);
    if (r < 200)
        op_add();
    else if (r < 380)
        op_del();
    else if (r < 530)
        op_move();
    else if (r < 620)
        op_enable();
    else if (r < 690)
        op_priority();
    else if (r < 770)
        op_resize();
    else if (r < 830)
        op_alias_offset();
    else if (r < 900)
        op_readonly();
    else if (r < 920)
        op_romd();
    else if (r < 955)
        op_continuation();
    else if (r < 970)
        op_wrap();
    else if (r < 985)
        op_hidden();
    else if (r < 992)
        op_loop();
    else
        op_top();
}

/* ---- checks after a commit ------------------------------------------------------------ */

static int cmp_win(const void *a, const void *b)
{
    const Win *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void check_after_commit(bool full)
{
    FlatView *fv0 = address_space_get_flatview(&spaces[0]);
    FlatView *fv1 = address_space_get_flatview(&spaces[1]);
    if (fv0 != fv1)
        ts_trail_mismatch("the two address spaces on the root hold different FlatViews");
    flatview_unref(fv1);
    flatview_unref(fv0);
    /* While the wrapper obeys the sharing rule, it holds the bus's FlatView. */
    Node *w = &nodes[N_WRAP], *wa = &nodes[N_WRAPALIAS];
    if (wa->enabled && wa->alias_offset == 0 && wa->size >= BUS_SIZE && !w->readonly &&
        nodes[N_WRAPEXTRA].parent < 0) {
        FlatView *fvb = address_space_get_flatview(&spaces[2]);
        FlatView *fvw = address_space_get_flatview(&spaces[4]);
        if (fvb != fvw)
            ts_trail_mismatch("the wrapper renders like the bus but does not share its FlatView");
        flatview_unref(fvb);
        flatview_unref(fvw);
    }
    for (int k = 0; k < NAS && ts_trail.run_mismatches == 0; k++) {
        if (k == 1)
            continue; /* same view as sys */
        if (full || want_full[k] || k == 3) {
            check_full(k);
            continue;
        }
        FlatView *fv = address_space_get_flatview(&spaces[k]);
        size_t n = flatview_nr_ranges(fv);
        if (n > max_ranges)
            max_ranges = n;
        qsort(wins[k], nr_wins[k], sizeof(Win), cmp_win);
        for (size_t w = 0; w < nr_wins[k] && ts_trail.run_mismatches == 0;) {
            /* Overlapping windows are checked together. */
            mr_size_t lo = wins[k][w].lo, hi = wins[k][w].hi;
            for (w++; w < nr_wins[k] && wins[k][w].lo <= hi; w++)
                if (wins[k][w].hi > hi)
                    hi = wins[k][w].hi;
            check_window(k, fv, lo, hi, "around a change");
        }
        for (int j = 0; j < 3 && n && ts_trail.run_mismatches == 0; j++) {
            const FlatRange *r = flatview_range(fv, pick_index(fv));
            check_window(k, fv, r->addr, (mr_size_t)r->addr + 1, "at an aimed index");
            /* The bytes just outside it: holes after the last range of a chunk, say. */
            check_point(k, fv, r->addr - 1);
            check_point(k, fv, (hwaddr)(r->addr + r->size));
        }
        for (int j = 0; j < 8 && ts_trail.run_mismatches == 0; j++) {
            hwaddr a;
            if (n && ts_chance(60)) {
                const FlatRange *r = flatview_range(fv, ts_rnd_below(n));
                a = ts_chance(30)   ? r->addr - 1
                    : ts_chance(30) ? (hwaddr)(r->addr + r->size)
                                    : (hwaddr)(r->addr + ts_rnd_below128(r->size));
            } else {
                a = ts_chance(70) ? (hwaddr)ts_rnd_below128(span) : ts_rnd();
            }
            check_point(k, fv, a);
            if (j < 3)
                check_read(k, a, 1 + (unsigned)ts_rnd_below(8));
        }
        flatview_unref(fv);
    }
    for (int k = 0; k < NAS; k++) {
        nr_wins[k] = 0;
        want_full[k] = false;
    }
}

/* One operation: a change committed alone, or a transaction of many. */
static void random_op(void)
{
    ts_trail.op++;
    uint64_t renders = memregion_stat_renders();
    bool tx = ts_chance(12);
    if (!tx) {
        random_change();
        uint64_t built = memregion_stat_renders() - renders;
        if (built > 4) /* sys (shared with sys2), bus, dev, wrap */
            ts_trail_mismatch(
                "one change built %" PRIu64 " view versions, more than the 4 view roots", built);
    } else {
        FlatView *before[NAS];
        for (int k = 0; k < NAS; k++)
            before[k] = address_space_get_flatview(&spaces[k]);
        unsigned n;
        unsigned r = (unsigned)ts_rnd_below(100);
        n = r < 55   ? 2 + (unsigned)ts_rnd_below(20)
            : r < 85 ? 20 + (unsigned)ts_rnd_below(50)
                     : 200 + (unsigned)ts_rnd_below(2500);
        memory_region_transaction_begin();
        tx_depth++;
        ts_trail_note("transaction_begin (%u changes)", n);
        for (unsigned i = 0; i < n && ts_trail.run_mismatches == 0; i++) {
            if (ts_chance(3)) {
                memory_region_transaction_begin(); /* nested */
                random_change();
                memory_region_transaction_commit();
            } else {
                random_change();
            }
        }
        for (int k = 0; k < NAS; k++) {
            FlatView *now = address_space_get_flatview(&spaces[k]);
            if (now != before[k])
                ts_trail_mismatch("as %s: view changed inside a transaction", as_names[k]);
            flatview_unref(now);
        }
        if (memregion_stat_renders() != renders)
            ts_trail_mismatch("a view version was built inside a transaction");
        memory_region_transaction_commit();
        tx_depth--;
        ts_trail_note("transaction_commit");
        uint64_t built = memregion_stat_renders() - renders;
        if (built > 4)
            ts_trail_mismatch(
                "a transaction built %" PRIu64 " view versions, more than the 4 view roots", built);
        for (int k = 0; k < NAS; k++)
            flatview_unref(before[k]);
        st.tx++;
        st.tx_changes += n;
    }
    st.commits++;
    if (ts_trail.run_mismatches == 0)
        check_after_commit(full_every && ts_trail.op % full_every == 0);
}

/* ---- building and tearing down the map --------------------------------------------------- */

static void add_fixed(int idx, const char *name, int rc)
{
    Node *s = &nodes[idx];
    if (rc)
        ts_trail_mismatch("init '%s' = %d", name, rc);
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->fixed = true;
    s->enabled = true;
    s->parent = -1;
    s->target = -1;
}

static void link_fixed(int idx, int parent, hwaddr addr, int32_t prio)
{
    Node *s = &nodes[idx], *p = &nodes[parent];
    int rc = memory_region_add_subregion_overlap(&p->mr, addr, &s->mr, prio);
    if (rc)
        ts_trail_mismatch("add '%s' = %d", s->name, rc);
    rec_link(s, p, addr, prio);
}

static void setup(uint64_t seed, size_t target_ranges)
{
    ts_rng_state = seed * 0x2545f4914f6cdd1dull + 7;
    ts_trail_start(seed);
    seq_counter = 0;
    nr_real = 0;
    tx_depth = 0;
    nodes_cap = (int)(target_ranges + target_ranges / 4 + 20000);
    nodes = calloc((size_t)nodes_cap, sizeof(*nodes));
    free_list = malloc((size_t)nodes_cap * sizeof(int));
    live = malloc((size_t)nodes_cap * sizeof(int));
    devs = malloc((size_t)nodes_cap * sizeof(int));
    nr_live = nr_devs = 0;
    nr_free = 0;
    for (int i = nodes_cap - 1; i >= N_FIXED; i--)
        free_list[nr_free++] = i;
    for (int i = 0; i < nodes_cap; i++)
        nodes[i].idx = i;
    if (!pool) {
        pool = malloc(POOL_SIZE);
        for (size_t i = 0; i < POOL_SIZE; i++)
            pool[i] = (uint8_t)ts_rnd();
    }
    /* Leaves every 64 KiB on average: about two ranges per leaf with the background. */
    span = (mr_size_t)(target_ranges / 2 + 16) * 0x10000;

    memory_region_transaction_begin();
    Node *n;
    n = &nodes[N_ROOT];
    add_fixed(N_ROOT, "root", memory_region_init(&n->mr, "root", TWO64));
    n->kind = NK_CONTAINER, n->size = TWO64;
    n = &nodes[N_BUS];
    add_fixed(N_BUS, "bus", memory_region_init(&n->mr, "bus", BUS_SIZE));
    n->kind = NK_CONTAINER, n->size = BUS_SIZE;
    n = &nodes[N_BG];
    add_fixed(N_BG, "background",
              memory_region_init_io(&n->mr, &dev_ops, n, "background", BUS_SIZE));
    n->kind = NK_MMIO, n->size = BUS_SIZE;
    n = &nodes[N_TOP];
    add_fixed(N_TOP, "top", memory_region_init_io(&n->mr, &dev_ops, n, "top", TOP_SIZE));
    n->kind = NK_MMIO, n->size = TOP_SIZE;
    n = &nodes[N_ROMBG];
    add_fixed(N_ROMBG, "rom-under-bus", memory_region_init_rom(&n->mr, "rom-under-bus", 0x100000));
    n->kind = NK_ROM, n->size = n->alloc = 0x100000, n->readonly = true;
    n->mem = memory_region_get_ram_ptr(&n->mr);
    for (size_t i = 0; i < 0x100000; i++)
        n->mem[i] = (uint8_t)ts_rnd();
    /* A slice of the bus shown high up, and a shifted copy shadowing part of it. */
    mr_size_t win = span / 16 + 0x10000, shadow = span / 32 + 0x10000;
    hwaddr win_off = (hwaddr)ts_rnd_below128(span - win / 2);
    n = &nodes[N_HIWIN];
    add_fixed(N_HIWIN, "bus-window",
              memory_region_init_alias(&n->mr, "bus-window", &nodes[N_BUS].mr, win_off, win));
    n->kind = NK_ALIAS, n->size = win, n->target = N_BUS, n->alias_offset = win_off;
    hwaddr sh_at = (hwaddr)ts_rnd_below128(span - shadow / 2) & ~(hwaddr)0xfff;
    hwaddr sh_off = sh_at + 0x3000;
    n = &nodes[N_SHADOW];
    add_fixed(N_SHADOW, "bus-shadow",
              memory_region_init_alias(&n->mr, "bus-shadow", &nodes[N_BUS].mr, sh_off, shadow));
    n->kind = NK_ALIAS, n->size = shadow, n->target = N_BUS, n->alias_offset = sh_off;
    Node *bus = &nodes[N_BUS];
    vec_push(&bus->users, &bus->nusers, &bus->capusers, N_HIWIN);
    nodes[N_HIWIN].upos = 0;
    vec_push(&bus->users, &bus->nusers, &bus->capusers, N_SHADOW);
    nodes[N_SHADOW].upos = 1;

    link_fixed(N_BUS, N_ROOT, 0, 0);
    link_fixed(N_BG, N_ROOT, 0, -1);
    link_fixed(N_TOP, N_ROOT, (hwaddr)(TWO64 - TOP_SIZE), 0);
    link_fixed(N_HIWIN, N_ROOT, HIWIN_BASE, 0);
    link_fixed(N_SHADOW, N_ROOT, sh_at, 1);
    link_fixed(N_ROMBG, N_BUS, (hwaddr)(span / 2), -2);

    /* A self-referential alias, as on QEMU's Arm SSE boards: inside the bus,
     * showing the bus from a little below its own address, so it shows
     * itself again each lap (loop_params keeps the laps within bounds). */
    n = &nodes[N_LOOP];
    mr_size_t lsize;
    hwaddr l_at, l_off;
    loop_params(&lsize, &l_at, &l_off);
    add_fixed(N_LOOP, "bus-loop",
              memory_region_init_alias(&n->mr, "bus-loop", &nodes[N_BUS].mr, l_off, lsize));
    n->kind = NK_ALIAS, n->size = lsize, n->target = N_BUS, n->alias_offset = l_off;
    nodes[N_LOOP].upos = bus->nusers;
    vec_push(&bus->users, &bus->nusers, &bus->capusers, N_LOOP);
    link_fixed(N_LOOP, N_BUS, l_at, gen_prio());

    /* The wrapper: renders like the bus until an operation breaks the sharing rule. */
    n = &nodes[N_WRAP];
    add_fixed(N_WRAP, "wrapper", memory_region_init(&n->mr, "wrapper", TWO64));
    n->kind = NK_CONTAINER, n->size = TWO64;
    n = &nodes[N_WRAPALIAS];
    add_fixed(N_WRAPALIAS, "wrapper-alias",
              memory_region_init_alias(&n->mr, "wrapper-alias", &nodes[N_BUS].mr, 0, BUS_SIZE));
    n->kind = NK_ALIAS, n->size = BUS_SIZE, n->target = N_BUS, n->alias_offset = 0;
    nodes[N_WRAPALIAS].upos = bus->nusers;
    vec_push(&bus->users, &bus->nusers, &bus->capusers, N_WRAPALIAS);
    link_fixed(N_WRAPALIAS, N_WRAP, 0, 0);
    n = &nodes[N_WRAPEXTRA];
    add_fixed(N_WRAPEXTRA, "wrapper-extra",
              memory_region_init_io(&n->mr, &dev_ops, n, "wrapper-extra", 0x2000));
    n->kind = NK_MMIO, n->size = 0x2000;

    /* RAM seen only through aliases, and a container seen only through aliases. */
    n = &nodes[N_HIDDEN];
    add_fixed(N_HIDDEN, "hidden-ram",
              memory_region_init_ram_ptr(&n->mr, "hidden-ram", POOL_SIZE, pool));
    n->kind = NK_RAM_PTR, n->size = n->alloc = POOL_SIZE, n->mem = pool;
    n = &nodes[N_HBOX];
    add_fixed(N_HBOX, "hidden-box", memory_region_init(&n->mr, "hidden-box", 0x100000));
    n->kind = NK_CONTAINER, n->size = 0x100000;
    for (int i = 0; i < 40; i++) {
        Node *s = create_leaf();
        if (s)
            link_fixed(s->idx, N_HBOX, ts_rnd_below(0x100000), gen_prio());
    }
    for (int i = 0; i < 4; i++) {
        Node *a = node_alloc();
        if (!a)
            break;
        snprintf(a->name, sizeof(a->name), "box-alias%d", a->idx);
        hwaddr off = ts_rnd_below(0x80000) & ~(hwaddr)0xfff;
        if (memory_region_init_alias(&a->mr, a->name, &nodes[N_HBOX].mr, off, 0x80000)) {
            ts_trail_mismatch("init '%s' failed", a->name);
            node_release(a);
            break;
        }
        a->kind = NK_ALIAS, a->size = 0x80000, a->target = N_HBOX, a->alias_offset = off;
        Node *box = &nodes[N_HBOX];
        a->upos = box->nusers;
        vec_push(&box->users, &box->nusers, &box->capusers, a->idx);
        live_add(a);
        link_fixed(a->idx, N_BUS, (hwaddr)ts_rnd_below128(span) & ~(hwaddr)0xfff, 2);
    }

    /* Device containers with a few regions each. */
    size_t ndev = target_ranges / 400 + 2;
    for (size_t d = 0; d < ndev; d++) {
        Node *c = create_container(0x10000 * (1 + ts_rnd_below(16)));
        if (!c)
            break;
        devs[nr_devs++] = c->idx;
        link_fixed(c->idx, N_BUS, (hwaddr)ts_rnd_below128(span) & ~(hwaddr)0xfff, 1);
        unsigned kids = 2 + (unsigned)ts_rnd_below(20);
        for (unsigned i = 0; i < kids; i++) {
            Node *s = create_leaf();
            if (s)
                link_fixed(s->idx, c->idx, ts_rnd_below((uint64_t)c->size), gen_prio());
        }
    }
    memory_region_transaction_commit();

    for (int k = 0; k < NAS; k++) {
        as_root[k] = k < 2 ? N_ROOT : k == 2 ? N_BUS : k == 3 ? devs[0] : N_WRAP;
        int rc = address_space_init(&spaces[k], &nodes[as_root[k]].mr, as_names[k]);
        if (rc)
            ts_trail_mismatch("address_space_init(%s) = %d", as_names[k], rc);
    }

    /* Leaves in batches until the system view has the ranges asked for. */
    for (int round = 0; round < 12; round++) {
        FlatView *fv = address_space_get_flatview(&spaces[0]);
        size_t have = flatview_nr_ranges(fv);
        flatview_unref(fv);
        if (have >= target_ranges)
            break;
        size_t batch = (target_ranges - have) / 2 + 1;
        memory_region_transaction_begin();
        for (size_t i = 0; i < batch; i++) {
            Node *s = create_leaf();
            if (!s)
                break;
            hwaddr a = (hwaddr)ts_rnd_below128(span);
            a = ts_chance(85) ? a & ~(hwaddr)0xfff : a;
            link_fixed(s->idx, N_BUS, a, gen_prio());
            nodes[s->idx].fixed = false;
        }
        memory_region_transaction_commit();
    }
    for (int k = 0; k < NAS; k++) {
        nr_wins[k] = 0;
        want_full[k] = false;
    }
    for (size_t i = 0; i < nr_live; i++)
        nodes[live[i]].fixed = nodes[live[i]].kind == NK_CONTAINER;
}

static void teardown(void)
{
    while (tx_depth > 0) {
        memory_region_transaction_commit();
        tx_depth--;
    }
    for (int k = 0; k < NAS; k++)
        address_space_destroy(&spaces[k]);
    memory_region_transaction_begin();
    for (int i = 0; i < nodes_cap; i++) {
        Node *s = &nodes[i];
        if (s->kind != NK_FREE && s->parent >= 0) {
            int rc = memory_region_del_subregion(&nodes[s->parent].mr, &s->mr);
            if (rc)
                ts_trail_mismatch("teardown: del '%s' = %d", s->name, rc);
            s->parent = -1;
        }
    }
    memory_region_transaction_commit();
    /* Aliases before their targets. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nodes_cap; i++) {
            Node *s = &nodes[i];
            if (s->kind == NK_FREE || (pass == 0) != (s->kind == NK_ALIAS))
                continue;
            int rc = memory_region_destroy(&s->mr);
            if (rc)
                ts_trail_mismatch("teardown: destroy '%s' = %d (%s)", s->name, rc,
                                  memregion_last_error());
            s->kind = NK_FREE;
        }
    for (int i = 0; i < nodes_cap; i++) {
        free(nodes[i].kids);
        free(nodes[i].users);
    }
    free(nodes);
    free(free_list);
    free(live);
    free(devs);
    nodes = NULL;
    free(frags);
    frags = NULL;
    nr_frags = cap_frags = 0;
}

/* ---- the tests ------------------------------------------------------------------------ */

typedef struct Run {
    const char *what;
    size_t ranges;
    uint64_t ops;
} Run;

static uint64_t seed_opt;

static void run(void **state)
{
    const Run *r = *state;
    uint64_t before = ts_trail.mismatches;
    setup(seed_opt, r->ranges);
    for (int k = 0; k < NAS && ts_trail.run_mismatches == 0; k++)
        if (k != 1)
            check_full(k);
    while (ts_trail.op < r->ops && ts_trail.run_mismatches == 0)
        random_op();
    for (int k = 0; k < NAS && ts_trail.run_mismatches == 0; k++)
        if (k != 1)
            check_full(k);
    if (ts_trail.run_mismatches)
        ts_trail_print_ops();
    printf("%s: seed %" PRIu64 ", %" PRIu64 " operations, up to %zu ranges, %" PRIu64
           " mismatches\n",
           r->what, seed_opt, ts_trail.op, max_ranges, ts_trail.run_mismatches);
    ops_total += ts_trail.op;
    teardown();
    assert_int_equal(ts_trail.mismatches - before, 0);
}

/*
 * The model itself against tests/refmodel, whole views, on a map small
 * enough for the reference model's per-address walk.
 */
static void model_vs_refmodel(void **state)
{
    (void)state;
    uint64_t before = ts_trail.mismatches;
    setup(seed_opt + 1000, 1200);
    for (int op = 0; op < 40 && ts_trail.run_mismatches == 0; op++) {
        random_op();
        for (int k = 0; k < NAS && ts_trail.run_mismatches == 0; k++) {
            if (k == 1 || (k == 2 && op % 4))
                continue; /* sys2 is sys; the bus view is most of sys */
            FlatRange *m;
            size_t mn = model_render(as_root[k], 0, TWO64, &m);
            RefRange *ref;
            size_t rn = refmodel_flatten(&nodes[as_root[k]].mr, &ref);
            st.model_checks++;
            size_t i = 0;
            if (rn != (size_t)-1)
                for (; i < mn && i < rn; i++) {
                    RefHit h = {.hit = true,
                                .mr = m[i].mr,
                                .offset = m[i].offset_in_region,
                                .readonly = m[i].readonly,
                                .romd_mode = m[i].romd_mode};
                    if (ref[i].addr != m[i].addr || ref[i].size != m[i].size ||
                        !refhit_equal(&ref[i].hit, &h))
                        break;
                }
            if (rn == (size_t)-1 || i < mn || i < rn)
                ts_trail_mismatch(
                    "harness model and refmodel differ for as %s at range %zu (%zu vs %zu "
                    "ranges)",
                    as_names[k], i, mn, rn);
            free(m);
            free(ref);
        }
    }
    if (ts_trail.run_mismatches)
        ts_trail_print_ops();
    ops_total += ts_trail.op;
    teardown();
    assert_int_equal(ts_trail.mismatches - before, 0);
}

int main(void)
{
    seed_opt = ts_env_u64("MEMREGION_SEED", 1);
    size_t ranges = (size_t)ts_env_u64("MEMREGION_DIFF_LARGE_RANGES", 100000);
    uint64_t ops = ts_env_u64("MEMREGION_DIFF_OPS", 80);
    full_every = ts_env_u64("MEMREGION_DIFF_LARGE_FULL_EVERY", 40);
    ts_trail.verbose = ts_env_u64("MEMREGION_DIFF_VERBOSE", 0) != 0;
    if (ranges < 1000)
        ranges = 1000;

    static Run big, medium;
    big = (Run){"large map", ranges, ops};
    medium = (Run){"medium map", ranges / 5, ops * 3};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_vs_refmodel),
        {.name = "medium map", .test_func = run, .initial_state = &medium},
        {.name = "large map", .test_func = run, .initial_state = &big},
    };
    int failed = cmocka_run_group_tests_name("differential-large", tests, NULL, NULL);
    free(pool);
    fflush(stderr);
    printf("checked: %" PRIu64 " whole views (%" PRIu64 " ranges), %" PRIu64 " windows (%" PRIu64
           " ranges), %" PRIu64 " addresses (%" PRIu64 " also by refmodel), %" PRIu64
           " reads, %" PRIu64 " commits, %" PRIu64 " transactions of %" PRIu64 " changes, %" PRIu64
           " places aimed at index 128k, %" PRIu64 " at the first/last ranges, %" PRIu64
           " refused operations, %" PRIu64 " model/refmodel comparisons, %" PRIu64
           " deletions at an aimed chunk edge that merged neighbours\n",
           st.full_views, st.full_ranges, st.windows, st.window_ranges, st.points, st.ref_points,
           st.reads, st.commits, st.tx, st.tx_changes, st.chunk_edges, st.first_last, st.refused,
           st.model_checks, st.edge_merges);
    printf("alias loops: every operation ran with 'bus-loop' (an alias of the bus inside the "
           "bus) in the map; %" PRIu64 " changes made to it\n",
           loop_ops);
    printf("differential-large: %" PRIu64
           " random operations on views of up to %zu ranges, %" PRIu64 " mismatches\n",
           ops_total, max_ranges, ts_trail.mismatches);
    fflush(stdout);
    return failed || ts_trail.mismatches ? 1 : 0;
}
