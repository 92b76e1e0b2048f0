/*
 * Import stages 2 and 3, identify (import.h): which printed lines are one
 * region object, then which object each alias targets, by replaying QEMU's
 * alias queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* ---- stage 2: identify objects ------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix(h, 0x51);
}

static uint64_t rel_start(const Parser *p, const Node *n)
{
    return n->parent >= 0 ? n->start - p->nodes[n->parent].start : n->start;
}

/* Children come after their parents: hash in reverse order. */
void identify_hash_nodes(Parser *p)
{
    for (uint32_t i = p->nnodes; i-- > 0;) {
        Node *n = &p->nodes[i];
        uint64_t h = hash_str(0xcbf29ce484222325ull, n->body);
        h = mix(h, n->type);
        h = mix(h, (uint64_t)(uint32_t)n->prio);
        h = mix(h, (uint64_t)n->nv | (uint64_t)n->disabled << 1 | (uint64_t)n->overflow << 2);
        h = mix(h, rel_start(p, n));
        h = mix(h, n->end - n->start);
        h = mix(h, n->nkids);
        for (int32_t c = n->first_child; c >= 0; c = p->nodes[c].next_sibling)
            h = mix(h, p->nodes[c].hash);
        n->hash = h;
    }
}

/*
 * Shapes: two nodes have the same shape when their subtrees print
 * identically (docs/mtree.md, objects). Shape ids are given level by level
 * from the leaves up, each level sorted by content, so that comparing two
 * subtrees is comparing two ids. O(n log n) comparisons, each reading one
 * line's fields and its children's ids.
 */
static int shape_content_cmp(const Parser *p, int32_t i, int32_t j)
{
    mtree_step();
    const Node *x = &p->nodes[i], *y = &p->nodes[j];
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    unsigned fx =
        (unsigned)x->type << 3 | (unsigned)x->nv << 2 | (unsigned)x->disabled << 1 | x->overflow;
    unsigned fy =
        (unsigned)y->type << 3 | (unsigned)y->nv << 2 | (unsigned)y->disabled << 1 | y->overflow;
    uint64_t rx = rel_start(p, x), ry = rel_start(p, y);
    uint64_t sx = x->end - x->start, sy = y->end - y->start;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    if (x->nkids != y->nkids)
        return x->nkids < y->nkids ? -1 : 1;
    int c = strcmp(x->body, y->body);
    if (c)
        return c;
    for (int32_t u = x->first_child, v = y->first_child; u >= 0;
         u = p->nodes[u].next_sibling, v = p->nodes[v].next_sibling)
        if (p->shape[u] != p->shape[v])
            return p->shape[u] < p->shape[v] ? -1 : 1;
    return 0;
}

/* qsort_r() order of nodes by printed subtree, then index; @ctx is the Parser. */
static int shape_sort_cmp(const void *a, const void *b, void *ctx)
{
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    int c = shape_content_cmp(ctx, i, j);
    return c ? c : (i > j) - (i < j);
}

static int compute_shapes(Parser *p)
{
    uint32_t n = p->nnodes;
    uint32_t *height = calloc(n ? n : 1, sizeof(uint32_t));
    uint32_t *start = calloc(MAX_DEPTH + 3, sizeof(uint32_t));
    int32_t *order = malloc((n ? n : 1) * sizeof(int32_t));
    p->shape = malloc((n ? n : 1) * sizeof(int32_t));
    if (!height || !start || !order || !p->shape) {
        free(height);
        free(start);
        free(order);
        return -ENOMEM;
    }
    /* Children come after their parents: heights in reverse order. */
    for (uint32_t i = n; i-- > 0;) {
        int32_t par = p->nodes[i].parent;
        if (par >= 0 && height[par] < height[i] + 1)
            height[par] = height[i] + 1;
    }
    for (uint32_t i = 0; i < n; i++)
        start[height[i] + 1]++;
    for (uint32_t h = 0; h <= MAX_DEPTH + 1; h++)
        start[h + 1] += start[h];
    for (uint32_t i = 0; i < n; i++)
        order[start[height[i]]++] = (int32_t)i;
    /* start[h] is now the end of level h. */
    int32_t next_id = 0;
    for (uint32_t h = 0, lo = 0; h <= MAX_DEPTH && lo < n; h++) {
        uint32_t hi = start[h];
        qsort_r(order + lo, hi - lo, sizeof(int32_t), shape_sort_cmp, p);
        for (uint32_t k = lo; k < hi; k++) {
            if (k == lo || shape_content_cmp(p, order[k - 1], order[k]) != 0)
                next_id++;
            p->shape[order[k]] = next_id - 1;
        }
        lo = hi;
    }
    p->nshapes = (uint32_t)next_id;
    free(height);
    free(start);
    free(order);
    return 0;
}

static int32_t uf_find(Parser *p, int32_t x)
{
    while (p->nodes[x].uf != x) {
        p->nodes[x].uf = p->nodes[p->nodes[x].uf].uf;
        x = p->nodes[x].uf;
    }
    return x;
}

/* Per class (at its union-find root): how many block roots of each kind
 * and whether a subregion line belongs to it. */
typedef struct ClassInfo {
    uint32_t as_roots, mr_roots;
    bool has_sub;
    bool stuck;        /* no candidate can be joined to it (see identify_objects()) */
    uint32_t minnode;  /* first node of the class in print order */
    uint32_t minblock; /* first block whose root is in the class, or UINT32_MAX */
} ClassInfo;

/* The kinds of printing a class holds, as bits: two classes may be one
 * object only when they share none (one address-space root, one
 * memory-region: block, one container). */
static unsigned class_kind(const ClassInfo *c)
{
    return (c->as_roots ? 1u : 0u) | (c->mr_roots ? 2u : 0u) | (c->has_sub ? 4u : 0u);
}

/*
 * May the classes of @a and @b be one object? Never two blocks of one kind;
 * and a region has one container: at the top (@top, one of them a block
 * root) both classes may not already be placed under containers. Below the
 * top, the parents are being united too.
 */
static bool can_unite(Parser *p, ClassInfo *ci, int32_t a, int32_t b, bool top)
{
    mtree_step();
    int32_t x = uf_find(p, a), y = uf_find(p, b);
    if (x == y)
        return true;
    if (ci[x].as_roots + ci[y].as_roots > 1 || ci[x].mr_roots + ci[y].mr_roots > 1)
        return false;
    if (top && ci[x].has_sub && ci[y].has_sub)
        return false;
    for (int32_t c = p->nodes[a].first_child, d = p->nodes[b].first_child; c >= 0;
         c = p->nodes[c].next_sibling, d = p->nodes[d].next_sibling)
        if (!can_unite(p, ci, c, d, false))
            return false;
    return true;
}

/* A lazy min-heap of (key, class): entries go stale and are skipped. */
typedef struct HeapEnt {
    uint64_t key;
    int32_t cls;
} HeapEnt;

typedef struct Heap {
    HeapEnt *v;
    uint32_t n, cap;
} Heap;

static int heap_add(Heap *h, uint64_t key, int32_t cls)
{
    mtree_step();
    if (!import_grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)))
        return -ENOMEM;
    uint32_t i = h->n++;
    while (i && h->v[(i - 1) / 2].key > key) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = (HeapEnt){key, cls};
    return 0;
}

static void heap_drop(Heap *h)
{
    mtree_step();
    HeapEnt last = h->v[--h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].key < h->v[c].key)
            c++;
        if (h->v[c].key >= last.key)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
}

/*
 * Identification state. Per shape that some block root has ("tracked"),
 * and per kind k (class_kind()): the number of classes of that shape and
 * kind, a heap of them by first node (candidates), and a heap of those that
 * hold a block root by first block (the blocks to match). A block root of
 * kind k may join exactly the classes of its shape whose kind shares no bit
 * with k: it has count() candidates, the first in print order on top of the
 * candidate heaps. Two global heaps hold the (shape, kind) groups with one
 * candidate and with several, by first block, so that each step takes the
 * first block in print order with a unique candidate, else the first with
 * several. Every union updates its shape's counters and pushes fresh
 * entries; stale entries are skipped when met.
 */
typedef struct Ident {
    Parser *p;
    ClassInfo *ci;
    int32_t *tracked; /* per shape: index among tracked shapes, or -1 */
    uint32_t ntracked;
    uint32_t *cnt;        /* [tracked * 8 + kind] */
    Heap *cand;           /* [tracked * 8 + kind]: key first node */
    Heap *blocks;         /* [tracked * 8 + kind]: key first block */
    Heap unique, several; /* key: first block << 32 | tracked * 8 + kind */
    int err;
} Ident;

static int32_t ident_top(Ident *id, Heap *h, bool by_block, unsigned kind)
{
    while (h->n) {
        HeapEnt e = h->v[0];
        const ClassInfo *c = &id->ci[e.cls];
        uint64_t key = by_block ? c->minblock : c->minnode;
        if (uf_find(id->p, e.cls) == e.cls && class_kind(c) == kind && key == e.key &&
            !(by_block && c->stuck))
            return e.cls;
        heap_drop(h);
    }
    return -1;
}

static uint32_t ident_count(const Ident *id, uint32_t t, unsigned kind)
{
    uint32_t n = 0;
    for (unsigned k = 0; k < 8; k++)
        if (!(k & kind))
            n += id->cnt[t * 8 + k];
    return n;
}

/* Push the current state of group (@t, @kind) onto the global heaps. */
static void ident_push_group(Ident *id, uint32_t t, unsigned kind)
{
    int32_t top = ident_top(id, &id->blocks[t * 8 + kind], true, kind);
    if (top < 0)
        return;
    uint32_t n = ident_count(id, t, kind);
    if (!n)
        return;
    uint64_t key = (uint64_t)id->ci[top].minblock << 32 | (t * 8 + kind);
    if (heap_add(n == 1 ? &id->unique : &id->several, key, 0))
        id->err = -ENOMEM;
}

/* Enter class @x (a union-find root) into its shape's groups. */
static void ident_enter(Ident *id, int32_t x)
{
    int32_t t = id->tracked[id->p->shape[x]];
    if (t < 0)
        return;
    ClassInfo *c = &id->ci[x];
    unsigned k = class_kind(c);
    id->cnt[t * 8 + k]++;
    if (heap_add(&id->cand[t * 8 + k], c->minnode, x))
        id->err = -ENOMEM;
    if (c->minblock != UINT32_MAX && heap_add(&id->blocks[t * 8 + k], c->minblock, x))
        id->err = -ENOMEM;
}

static void ident_leave(Ident *id, int32_t x)
{
    int32_t t = id->tracked[id->p->shape[x]];
    if (t >= 0)
        id->cnt[t * 8 + class_kind(&id->ci[x])]--;
}

static void unite(Ident *id, int32_t a, int32_t b)
{
    Parser *p = id->p;
    ClassInfo *ci = id->ci;
    mtree_step();
    int32_t x = uf_find(p, a), y = uf_find(p, b);
    if (x != y) {
        ident_leave(id, x);
        ident_leave(id, y);
        p->nodes[y].uf = x;
        ci[x].as_roots += ci[y].as_roots;
        ci[x].mr_roots += ci[y].mr_roots;
        ci[x].has_sub |= ci[y].has_sub;
        ci[x].stuck = false;
        if (ci[y].minnode < ci[x].minnode)
            ci[x].minnode = ci[y].minnode;
        if (ci[y].minblock < ci[x].minblock)
            ci[x].minblock = ci[y].minblock;
        ident_enter(id, x);
        int32_t t = id->tracked[p->shape[x]];
        if (t >= 0)
            for (unsigned k = 0; k < 8; k++)
                ident_push_group(id, (uint32_t)t, k);
    }
    for (int32_t c = p->nodes[a].first_child, d = p->nodes[b].first_child; c >= 0;
         c = p->nodes[c].next_sibling, d = p->nodes[d].next_sibling)
        unite(id, c, d);
}

typedef struct ShapeIdx {
    int32_t shape;
    int32_t node;
} ShapeIdx;

static int shapeidx_cmp(const void *a, const void *b)
{
    const ShapeIdx *x = a, *y = b;
    if (x->shape != y->shape)
        return x->shape < y->shape ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/*
 * The slow path, for a block root whose first candidate by kind cannot be
 * joined because of what lies below (two different memory-region: blocks
 * would become one region): subregion lines and roots of the other block
 * kind of the same shape, checked one by one in print order. Fills @out
 * with one node per distinct class, returns the count. At most
 * MAX_CANDIDATE_SCAN lines are examined.
 */
static uint32_t candidates(Ident *id, const ShapeIdx *idx, uint32_t nidx, int32_t r, int32_t *out,
                           uint32_t max)
{
    Parser *p = id->p;
    uint32_t n = 0;
    const Node *rn = &p->nodes[r];
    bool r_is_as = p->blocks[rn->block].is_as;
    uint32_t lo = 0, hi = nidx;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (idx[mid].shape < p->shape[r])
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo, scanned = 0;
         i < nidx && idx[i].shape == p->shape[r] && n < max && scanned < MAX_CANDIDATE_SCAN;
         i++, scanned++) {
        mtree_step();
        int32_t c = idx[i].node;
        const Node *cn = &p->nodes[c];
        if (c == r || uf_find(p, c) == uf_find(p, r))
            continue;
        if (cn->parent < 0 && p->blocks[cn->block].is_as == r_is_as)
            continue; /* two blocks of one kind are two objects */
        if (!can_unite(p, id->ci, r, c, true))
            continue;
        bool dup = false;
        for (uint32_t k = 0; k < n && !dup; k++)
            dup = uf_find(p, out[k]) == uf_find(p, c);
        if (!dup)
            out[n++] = c;
    }
    return n;
}

/* Pop the first valid group of @h: its block root (returned) and kind. */
static int32_t ident_next(Ident *id, Heap *h, bool unique, uint32_t *t_out, unsigned *k_out)
{
    while (h->n) {
        HeapEnt e = h->v[0];
        heap_drop(h);
        uint32_t g = (uint32_t)(e.key & 0xffffffffu);
        uint32_t t = g / 8;
        unsigned k = g % 8;
        int32_t top = ident_top(id, &id->blocks[g], true, k);
        if (top < 0 || id->ci[top].minblock != e.key >> 32)
            continue;
        uint32_t n = ident_count(id, t, k);
        if (n == 0 || (n == 1) != unique)
            continue;
        *t_out = t;
        *k_out = k;
        return top;
    }
    return -1;
}

int identify_objects(Parser *p)
{
    int rc = compute_shapes(p);
    if (rc)
        return rc;
    uint32_t n = p->nnodes;
    Ident id = {.p = p};
    id.ci = calloc(n ? n : 1, sizeof(ClassInfo));
    id.tracked = malloc((p->nshapes ? p->nshapes : 1) * sizeof(int32_t));
    ShapeIdx *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!id.ci || !id.tracked || !idx) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t s = 0; s < p->nshapes; s++)
        id.tracked[s] = -1;
    for (uint32_t i = 0; i < n; i++) {
        id.ci[i].has_sub = p->nodes[i].parent >= 0;
        id.ci[i].minnode = i;
        id.ci[i].minblock = UINT32_MAX;
        idx[i] = (ShapeIdx){p->shape[i], (int32_t)i};
    }
    for (uint32_t b = 0; b < p->nblocks; b++) {
        int32_t r = p->blocks[b].root;
        if (p->blocks[b].is_as)
            id.ci[r].as_roots = 1;
        else
            id.ci[r].mr_roots = 1;
        id.ci[r].minblock = b;
        if (id.tracked[p->shape[r]] < 0)
            id.tracked[p->shape[r]] = (int32_t)id.ntracked++;
    }
    qsort(idx, n, sizeof(*idx), shapeidx_cmp);
    id.cnt = calloc((size_t)id.ntracked * 8 + 1, sizeof(uint32_t));
    id.cand = calloc((size_t)id.ntracked * 8 + 1, sizeof(Heap));
    id.blocks = calloc((size_t)id.ntracked * 8 + 1, sizeof(Heap));
    if (!id.cnt || !id.cand || !id.blocks) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        ident_enter(&id, (int32_t)i);
    for (uint32_t t = 0; t < id.ntracked; t++)
        for (unsigned k = 0; k < 8; k++)
            ident_push_group(&id, t, k);
    /*
     * Each step joins the first block (print order) that has exactly one
     * candidate; when none has, the first that has several, to its first
     * candidate (docs/mtree.md). Every step unites two classes or retires
     * one, so there are fewer steps than lines.
     */
    while (!id.err) {
        uint32_t t;
        unsigned k;
        int32_t cls = ident_next(&id, &id.unique, true, &t, &k);
        if (cls < 0)
            cls = ident_next(&id, &id.several, false, &t, &k);
        if (cls < 0)
            break;
        int32_t r = p->blocks[id.ci[cls].minblock].root;
        int32_t first = -1;
        for (unsigned c = 0; c < 8; c++) {
            if (c & k)
                continue;
            int32_t top = ident_top(&id, &id.cand[t * 8 + c], false, c);
            if (top >= 0 && (first < 0 || id.ci[top].minnode < id.ci[first].minnode))
                first = top;
        }
        int32_t cand = first >= 0 ? (int32_t)id.ci[first].minnode : -1;
        if (cand >= 0 && can_unite(p, id.ci, r, cand, true)) {
            unite(&id, cand, r);
            continue;
        }
        int32_t found[2];
        if (candidates(&id, idx, n, r, found, 2) > 0) {
            unite(&id, found[0], r);
        } else {
            id.ci[cls].stuck = true; /* retired until its class grows */
            ident_push_group(&id, t, k);
        }
    }
    rc = id.err;
out:
    if (id.cand)
        for (uint32_t i = 0; i < id.ntracked * 8; i++) {
            free(id.cand[i].v);
            free(id.blocks[i].v);
        }
    free(id.cand);
    free(id.blocks);
    free(id.cnt);
    free(id.unique.v);
    free(id.several.v);
    free(id.ci);
    free(id.tracked);
    free(idx);
    return rc;
}

/* ---- stage 3: alias targets and objects ---------------------------------------- */

int identify_make_objects(Parser *p)
{
    p->node_obj = malloc((p->nnodes ? p->nnodes : 1) * sizeof(int32_t));
    p->objs = calloc(p->nnodes ? p->nnodes : 1, sizeof(Obj));
    if (!p->node_obj || !p->objs)
        return -ENOMEM;
    int32_t *class_obj = malloc((p->nnodes ? p->nnodes : 1) * sizeof(int32_t));
    if (!class_obj)
        return -ENOMEM;
    for (uint32_t i = 0; i < p->nnodes; i++)
        class_obj[i] = -1;
    for (uint32_t i = 0; i < p->nnodes; i++) {
        int32_t c = uf_find(p, (int32_t)i);
        if (class_obj[c] < 0) {
            Obj *o = &p->objs[p->nobjs];
            o->rep = (int32_t)i;
            o->parent = o->target = o->as_root = -1;
            o->fixed_round = -1;
            class_obj[c] = (int32_t)p->nobjs++;
        }
        p->node_obj[i] = class_obj[c];
        Obj *o = &p->objs[class_obj[c]];
        /* A subregion line tells the container: prefer it as representative. */
        if (p->nodes[o->rep].parent < 0 && p->nodes[i].parent >= 0)
            o->rep = (int32_t)i;
    }
    free(class_obj);
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->parent >= 0) {
            o->parent = p->node_obj[n->parent];
            o->addr = n->start - p->nodes[n->parent].start;
        } else {
            o->addr = n->start;
        }
        uint64_t span = n->end - n->start;
        o->point = span == 0;
        o->size = (mr_size_t)span + 1;
        if (n->is_alias && n->first_child >= 0) {
            import_error(p->err, n->line, false, "alias '%s' has subregions (not supported)",
                         n->name);
            return -EINVAL;
        }
        if (n->is_alias && n->tend - n->tstart != span) {
            import_error(p->err, n->line, false,
                         "alias '%s': window %016" PRIx64 "-%016" PRIx64
                         " is not as long as the mapped range",
                         n->name, n->tstart, n->tend);
            return -EINVAL;
        }
        o->nkids = n->nkids;
        if (n->nkids) {
            o->pkids = malloc(n->nkids * sizeof(int32_t));
            o->kids = malloc(n->nkids * sizeof(int32_t));
            if (!o->pkids || !o->kids)
                return -ENOMEM;
            uint32_t k = 0;
            for (int32_t c = n->first_child; c >= 0; c = p->nodes[c].next_sibling)
                o->pkids[k++] = p->node_obj[c];
            memcpy(o->kids, o->pkids, n->nkids * sizeof(int32_t));
        }
    }
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (p->blocks[b].is_as)
            p->objs[p->node_obj[p->blocks[b].root]].as_root = (int32_t)b;
    return 0;
}

/*
 * Replay QEMU's alias queue: aliases are met in print order (address-space
 * blocks, then memory-region blocks); the first alias onto a region queues
 * it, and memory-region blocks come out in queue order. So an alias onto
 * TARGET is onto the next unqueued block when that is named TARGET (the
 * earliest possible queueing), else onto the most recently queued block
 * named TARGET.
 */
int identify_aliases(Parser *p)
{
    uint32_t nmr = 0;
    size_t nb = p->nblocks ? p->nblocks : 1;
    int32_t *mrb = malloc(nb * sizeof(int32_t));   /* position -> block */
    int32_t *mrpos = malloc(nb * sizeof(int32_t)); /* block -> position */
    int32_t *last = malloc((p->nname_ids ? p->nname_ids : 1) * sizeof(int32_t));
    int32_t *obj_target = malloc((p->nobjs ? p->nobjs : 1) * sizeof(int32_t));
    if (!mrb || !mrpos || !last || !obj_target) {
        free(mrb);
        free(mrpos);
        free(last);
        free(obj_target);
        return -ENOMEM;
    }
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (!p->blocks[b].is_as) {
            mrpos[b] = (int32_t)nmr;
            mrb[nmr++] = (int32_t)b;
        }
    for (uint32_t i = 0; i < p->nobjs; i++)
        obj_target[i] = -1;
    for (uint32_t i = 0; i < p->nname_ids; i++)
        last[i] = -1; /* per name: the most recently queued block position */

    uint32_t q = 0; /* blocks at positions < q are queued */
#define QUEUE_UPTO(newq)                                                                           \
    do {                                                                                           \
        uint32_t upto_ = (newq);                                                                   \
        for (; q < upto_; q++)                                                                     \
            last[p->name_id[mrb[q]]] = (int32_t)q;                                                 \
    } while (0)
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (uint32_t b = 0; b < p->nblocks && !rc; b++) {
            const Block *bl = &p->blocks[b];
            if (bl->is_as != (pass == 0))
                continue;
            if (!bl->is_as && (uint32_t)mrpos[b] >= q)
                QUEUE_UPTO((uint32_t)mrpos[b] + 1); /* queued by an alias the dump left out */
            /* Preorder walk of the block: nodes of a block are contiguous. */
            for (int32_t id = bl->root;
                 id >= 0 && (uint32_t)id < p->nnodes && p->nodes[id].block == (int32_t)b && !rc;
                 id++) {
                const Node *n = &p->nodes[id];
                if (!n->is_alias)
                    continue;
                int32_t o = p->node_obj[id];
                if (obj_target[o] >= 0) {
                    if (strcmp(p->blocks[obj_target[o]].names[0], n->target) != 0) {
                        import_error(p->err, n->line, false,
                                     "alias '%s' names target '%s' here and '%s' elsewhere",
                                     n->name, n->target, p->blocks[obj_target[o]].names[0]);
                        rc = -EINVAL;
                    }
                    continue;
                }
                int32_t nid = parse_find_block(p, n->target, strlen(n->target));
                int32_t pick = -1;
                if (nid < 0) {
                    /* no block with that name at all */
                } else if (q < nmr && p->name_id[mrb[q]] == nid) {
                    pick = mrb[q];
                    QUEUE_UPTO(q + 1);
                } else if (last[nid] >= 0) {
                    pick = mrb[last[nid]];
                } else {
                    /* Blocks before it were queued by aliases a dump without
                     * -D does not show. */
                    for (uint32_t i = q; i < nmr && pick < 0; i++)
                        if (p->name_id[mrb[i]] == nid) {
                            pick = mrb[i];
                            QUEUE_UPTO(i + 1);
                        }
                }
                if (pick < 0) {
                    import_error(p->err, n->line, false,
                                 "alias '%s': no 'memory-region: %s' block for its target", n->name,
                                 n->target);
                    rc = -EINVAL;
                    continue;
                }
                obj_target[o] = pick;
            }
        }
    }
#undef QUEUE_UPTO
    for (uint32_t i = 0; i < p->nobjs && !rc; i++) {
        Obj *o = &p->objs[i];
        if (!p->nodes[o->rep].is_alias)
            continue;
        if (obj_target[i] < 0) {
            import_error(p->err, p->nodes[o->rep].line, false, "alias '%s' was not resolved",
                         p->nodes[o->rep].name);
            rc = -EINVAL;
            break;
        }
        o->target = p->node_obj[p->blocks[obj_target[i]].root];
        p->objs[o->target].is_target = true;
    }
    free(mrb);
    free(mrpos);
    free(last);
    free(obj_target);
    return rc;
}
