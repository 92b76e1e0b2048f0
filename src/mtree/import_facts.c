/*
 * Import stages 4 and 5, facts (import.h): the four facts a tree dump does
 * not state, decided by the rules of docs/mtree.md, the insertion order of
 * siblings that decides ties, and the facts a flat dump overrules.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* ---- stage 4: the four facts, by the tree's rules -------------------------------- */

/*
 * QEMU region names whose kind the tree cannot show (docs/mtree.md, rule
 * tables). Terminating I/O regions with subregions: QEMU creates them with
 * memory_region_init_io() and subregions fill only part of them.
 */
static const char *const qemu_terminating[] = {
    "io",                 /* memory_map_init(): unassigned_io_ops, every target */
    "rtc",                /* mc146818rtc: rtc-index is a subregion */
    "vga.mmio",           /* std VGA MMIO BAR: edid, bochs dispi, ... inside */
    "gpex_mmio_window",   /* generic PCIe host: unassigned_io_ops window */
    "gpex_ioport_window", /* generic PCIe host: unassigned_io_ops window */
    "ahci",               /* hw/ide/ahci.c: the ABAR; allwinner-ahci maps inside */
    "aspeed.i2c",         /* hw/i2c/aspeed_i2c.c: controller registers, buses inside */
    "aspeed.sdhci",       /* hw/sd/aspeed_sdhci.c: glue registers, slots inside */
    "aspeed.smc.flash",   /* hw/ssi/aspeed_smc.c: flash window, chip windows inside */
    "dino",               /* hw/hppa/dino.c: PCI host registers, config ports inside */
    "pci0-io",            /* hw/alpha/typhoon.c: PCI I/O window, ISA ports inside */
    "sabre-config",       /* hw/pci-host/sabre.c: host registers, IOMMU inside */
    "xtfpga.io",          /* hw/xtensa/xtfpga.c: I/O window, FPGA and UART inside */
    "intc",               /* hw/sh4/sh7750.c: interrupt controller, aliased twice */
    "iocsr",              /* hw/loongarch/virt.c: the IOCSR space, devices inside */
    "lpcm",               /* hw/ppc/pnv_lpc.c: LPC master registers (4 GiB) */
    "er",                 /* target/xtensa/cpu.c: external registers, the root of `ER` */
    "rc4030.dma",         /* hw/dma/rc4030.c: an IOMMU region of 4 GiB, not aliased */
    "via-pm",             /* hw/isa/vt82c686.c: power management ports, ACPI inside */
};
/* Containers (memory_region_init()) that have no subregions at reset. */
static const char *const qemu_containers[] = {
    "platform bus",         /* sysbus platform bus: dynamic sysbus devices */
    "gpex_ioport",          /* generic PCIe host: the PCI I/O space */
    "bus master container", /* hw/pci/pci.c: a PCI device's DMA root */
    "e1000e-flash",         /* hw/net/e1000e.c: the flash BAR, not emulated */
    "*container*",          /* QEMU's naming habit for memory_region_init() regions
                             * (hw/acpi/memory_hotplug.c's empty `memhp container`) */
    "pci.mem",              /* hw/pci-host/bonito.c: PCI memory space, seen through windows */
    "pci-memory",           /* hw/hppa/machine.c, hw/ppc/prep.c: PCI memory space */
    "isa-mem",              /* hw/ppc/pnv_lpc.c: LPC memory space */
    "pci@*.io",             /* hw/ppc/spapr_pci.c: a PHB's I/O space */
};
/* Aliases QEMU marks read-only (memory_region_set_readonly on the alias). */
static const char *const qemu_readonly_aliases[] = {
    "pam-rom", /* hw/pci-host/pam.c: PAM segment "read from RAM, writes to PCI" */
};

/* Table entries are fnmatch() patterns: QEMU numbers some names per instance. */
static bool in_table(const char *const *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(t[i], name, 0) == 0)
            return true;
    return false;
}
#define IN_TABLE(t, name) in_table(t, sizeof(t) / sizeof(t[0]), name)

/*
 * Mark the roots of QEMU's two global address spaces (memory_map_init()):
 * `I/O` has a terminating root (unassigned ops), `memory` a container.
 */
static void mark_global_roots(Parser *p)
{
    for (uint32_t b = 0; b < p->nblocks; b++) {
        const Block *bl = &p->blocks[b];
        if (!bl->is_as)
            continue;
        Obj *o = &p->objs[p->node_obj[bl->root]];
        for (uint32_t k = 0; k < bl->nnames; k++) {
            o->io_root |= strcmp(bl->names[k], "I/O") == 0;
            o->mem_root |= strcmp(bl->names[k], "memory") == 0;
        }
    }
}

/* Fact 1 for a non-alias i/o region, by the rules of docs/mtree.md. */
static bool rule_terminates(const Parser *p, const Obj *o)
{
    const Node *n = &p->nodes[o->rep];
    if (!(p->flags & MTREE_IMPORT_GENERIC_RULES)) {
        if (IN_TABLE(qemu_terminating, n->name) || o->io_root)
            return true;
        if (IN_TABLE(qemu_containers, n->name) || o->mem_root)
            return false;
    }
    if (n->synthetic)
        return false;
    if (o->nkids)
        return false; /* a region with subregions: a container */
    if (o->size < GIB4)
        return true; /* a leaf under 4 GiB: device registers */
    /* Mapped in a container, no alias's target, and neither 4 GiB nor 2^64
     * bytes (the sizes of 32- and 64-bit bus spaces): a device's large
     * register window (POWER's XSCOM and XIVE windows). */
    if (o->parent >= 0 && !o->is_target && o->size != GIB4 && o->size != MR_SIZE_2_64)
        return true;
    /* 4 GiB or more: a bus address space, unless it is the root of an
     * address space, mapped in no container, and either aliased, but only
     * whole (a PCI device's bus-master alias onto an IOMMU region; a bus
     * space is seen through windows), or not aliased and 2^64 bytes (an
     * IOMMU region; smaller unaliased roots are empty bus spaces). */
    return o->as_root >= 0 && o->parent < 0 &&
           (o->is_target ? !o->windowed : o->size == MR_SIZE_2_64);
}

void facts_decide(Parser *p)
{
    mark_global_roots(p);
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (!p->blocks[b].is_as)
            p->objs[p->node_obj[p->blocks[b].root]].is_target = true;
    for (uint32_t i = 0; i < p->nobjs; i++) {
        const Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias && o->target >= 0 &&
            (n->tstart || o->point || o->size < p->objs[o->target].size))
            p->objs[o->target].windowed = true;
    }
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias) {
            if (!o->fixed[MTREE_FACT_READONLY])
                o->readonly = !(p->flags & MTREE_IMPORT_GENERIC_RULES) &&
                              IN_TABLE(qemu_readonly_aliases, n->name);
            o->terminates = false;
        } else if (n->type == T_IO) {
            if (!o->fixed[MTREE_FACT_TERMINATES])
                o->terminates = rule_terminates(p, o);
        } else {
            o->terminates = true;
        }
        if (o->point && !o->fixed[MTREE_FACT_SIZE])
            o->size = n->is_alias ? 0 : 1;
    }
}

void facts_count(Parser *p)
{
    memset(p->counts.decided, 0, sizeof(p->counts.decided));
    for (uint32_t i = 0; i < p->nobjs; i++) {
        const Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias)
            p->counts.decided[MTREE_FACT_READONLY]++;
        else if (n->type == T_IO && !n->synthetic)
            p->counts.decided[MTREE_FACT_TERMINATES]++;
        if (o->point)
            p->counts.decided[MTREE_FACT_SIZE]++;
    }
}

/* ---- fact 4: insertion order of siblings ----------------------------------------- */

typedef struct Kid {
    int32_t obj;
    uint32_t print; /* position in the dump */
    int32_t prio;
    hwaddr addr;
    mr_size_t end;
} Kid;

static int kid_cmp(const void *a, const void *b)
{
    const Kid *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->print < y->print ? -1 : x->print > y->print;
}

static int32_t forced_winner(const Parser *p, int32_t a, int32_t b)
{
    for (uint32_t i = 0; i < p->nties; i++) {
        if (p->ties[i].winner == a && p->ties[i].loser == b)
            return a;
        if (p->ties[i].winner == b && p->ties[i].loser == a)
            return b;
    }
    return -1;
}

/* Max-heap of print positions: the latest printed available kid first. */
static void heap_push(uint32_t *h, uint32_t *n, uint32_t v)
{
    uint32_t i = (*n)++;
    while (i && h[(i - 1) / 2] < v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint32_t heap_pop(uint32_t *h, uint32_t *n)
{
    uint32_t top = h[0], v = h[--*n], i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] > h[c])
            c++;
        if (h[c] <= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = v;
    return top;
}

/*
 * Order @o's children for insertion so that the library's list (priority
 * descending, ties newest first) reproduces the dump: equal address and
 * priority: the one printed first was added last; overlapping equal
 * priority at different addresses: the flat dump's forced decision, else
 * the smaller wins (equal sizes: the one printed first, but of two pieces
 * of one port list, which share a name, the one at the higher address).
 * Topological sort of "loser before winner"; a cycle is broken at the
 * latest printed kid.
 */
int facts_order_kids(Parser *p, Obj *o, unsigned *pairs)
{
    uint32_t n = o->nkids;
    if (n < 2)
        return 0;
    Kid *k = malloc(n * sizeof(*k));
    uint32_t *indeg = calloc(n, sizeof(*indeg));
    uint32_t *heap = malloc(n * sizeof(*heap));
    uint32_t *out = malloc(n * sizeof(*out));
    uint32_t nedges = 0, capedges = 0;
    uint32_t(*edges)[2] = NULL; /* print positions: [loser, winner] */
    int rc = 0;
    if (!k || !indeg || !heap || !out) {
        rc = -ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        const Obj *c = &p->objs[o->pkids[i]];
        k[i] = (Kid){o->pkids[i], i, p->nodes[c->rep].prio, c->addr, (mr_size_t)c->addr + c->size};
    }
    qsort(k, n, sizeof(*k), kid_cmp);
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = i + 1; j < n && k[j].prio == k[i].prio &&
                                 (k[j].addr == k[i].addr || (mr_size_t)k[j].addr < k[i].end);
             j++) {
            uint32_t win, lose;
            if (k[j].addr == k[i].addr) {
                win = k[i].print < k[j].print ? k[i].print : k[j].print;
            } else {
                if (k[j].end == k[j].addr)
                    continue; /* 0 bytes: overlaps nothing */
                (*pairs)++;
                int32_t f = forced_winner(p, k[i].obj, k[j].obj);
                mr_size_t si = k[i].end - k[i].addr, sj = k[j].end - k[j].addr;
                if (f >= 0)
                    win = f == k[i].obj ? k[i].print : k[j].print;
                else if (si != sj)
                    win = si < sj ? k[i].print : k[j].print;
                else if (!strcmp(p->nodes[p->objs[k[i].obj].rep].name,
                                 p->nodes[p->objs[k[j].obj].rep].name))
                    win = k[j].print; /* pieces of one port list: added in ascending order */
                else
                    win = k[i].print; /* equal sizes: the one printed first */
            }
            lose = win == k[i].print ? k[j].print : k[i].print;
            if (nedges == capedges) {
                if (capedges >= MAX_TIE_PAIRS) {
                    import_error(p->err, p->nodes[o->rep].line, false,
                                 "region '%s': more than %u overlapping sibling pairs",
                                 p->nodes[o->rep].name, MAX_TIE_PAIRS);
                    rc = -EINVAL;
                    goto done;
                }
                if (!import_grow((void **)&edges, &capedges, nedges, sizeof(*edges))) {
                    rc = -ENOMEM;
                    goto done;
                }
            }
            edges[nedges][0] = lose;
            edges[nedges][1] = win;
            nedges++;
            indeg[win]++;
        }
    }
    /* Kahn's algorithm over print positions, edges grouped by loser. */
    uint32_t *first = calloc(n + 1, sizeof(uint32_t));
    uint32_t *adj = malloc((nedges ? nedges : 1) * sizeof(uint32_t));
    bool *done_kid = calloc(n, sizeof(bool));
    if (!first || !adj || !done_kid) {
        free(first);
        free(adj);
        free(done_kid);
        rc = -ENOMEM;
        goto done;
    }
    for (uint32_t e = 0; e < nedges; e++)
        first[edges[e][0] + 1]++;
    for (uint32_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    {
        uint32_t *pos = malloc((n ? n : 1) * sizeof(uint32_t));
        if (!pos) {
            free(first);
            free(adj);
            free(done_kid);
            rc = -ENOMEM;
            goto done;
        }
        memcpy(pos, first, n * sizeof(uint32_t));
        for (uint32_t e = 0; e < nedges; e++)
            adj[pos[edges[e][0]]++] = edges[e][1];
        free(pos);
    }
    uint32_t nh = 0, nout = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!indeg[i])
            heap_push(heap, &nh, i);
    while (nout < n) {
        uint32_t v;
        if (nh) {
            v = heap_pop(heap, &nh);
        } else {
            v = n; /* cycle: take the latest printed kid left */
            for (uint32_t i = n; i-- > 0 && v == n;)
                if (!done_kid[i])
                    v = i;
        }
        if (done_kid[v])
            continue;
        done_kid[v] = true;
        out[nout++] = v;
        for (uint32_t e = first[v]; e < first[v + 1]; e++)
            if (!done_kid[adj[e]] && --indeg[adj[e]] == 0)
                heap_push(heap, &nh, adj[e]);
    }
    free(first);
    free(adj);
    free(done_kid);
    /* out[] holds print positions in insertion order. */
    for (uint32_t i = 0; i < n; i++)
        o->kids[i] = o->pkids[out[i]];
done:
    free(k);
    free(indeg);
    free(heap);
    free(out);
    free(edges);
    return rc;
}

/* ---- stage 5: facts from a flat dump ------------------------------------------------ */

typedef struct PtrObj {
    const MemoryRegion *mr;
    int32_t obj;
} PtrObj;

static int ptrobj_cmp(const void *a, const void *b)
{
    const PtrObj *x = a, *y = b;
    return x->mr < y->mr ? -1 : x->mr > y->mr;
}

static int32_t obj_of(const PtrObj *map, uint32_t n, const MemoryRegion *mr)
{
    PtrObj key = {mr, -1};
    const PtrObj *hit = bsearch(&key, map, n, sizeof(*map), ptrobj_cmp);
    return hit ? hit->obj : -1;
}

/* One region the rendering passes at an address (see collect()). */
typedef struct Entry {
    int32_t obj;
    hwaddr off;       /* offset of the address in the region */
    bool terminates;  /* else an i/o container */
    bool via_virtual; /* reached through a 0-byte point region taken as 1 byte */
    int32_t path[MAX_DEPTH * 2 + 2];
    uint32_t depth;
} Entry;

typedef struct Stack {
    Entry e[32];
    uint32_t n;
    int32_t path[MAX_DEPTH * 2 + 2];
    uint32_t depth;
    const PtrObj *map;
    uint32_t nmap;
    Parser *p;
} Stack;

/*
 * Every region that rendering meets at @a, in rendering order (the first
 * terminating one not via_virtual is what the view shows): terminating
 * regions and i/o containers whose window holds @a. A 0-byte point region is
 * followed as if it were 1 byte, its entries marked via_virtual.
 */
static void collect(Stack *st, MemoryRegion *mr, mtree_int128 base, mr_size_t lo, mr_size_t hi,
                    hwaddr a, bool virt)
{
    int32_t o = obj_of(st->map, st->nmap, mr);
    if (o < 0 || !memory_region_is_enabled(mr) || st->depth >= MAX_DEPTH * 2 + 1)
        return;
    const Obj *ob = &st->p->objs[o];
    base += memory_region_addr(mr);
    mr_size_t size = memory_region_size(mr);
    if (ob->point && size == 0) {
        size = 1;
        virt = true;
    }
    mtree_int128 wlo, whi;
    if (!mtree_window(base, size, lo, hi, &wlo, &whi) || (mtree_int128)a < wlo ||
        (mtree_int128)a >= whi)
        return;
    st->path[st->depth++] = o;
    MemoryRegionKind k = memory_region_kind(mr);
    if (k == MR_KIND_ALIAS) {
        MemoryRegion *t = memory_region_alias_target(mr);
        collect(st, t, mtree_alias_base(mr, base), (mr_size_t)wlo, (mr_size_t)whi, a, virt);
    } else {
        for (MemoryRegion *c = memory_region_first_subregion(mr); c;
             c = memory_region_next_sibling(c))
            collect(st, c, base, (mr_size_t)wlo, (mr_size_t)whi, a, virt);
        bool term = k == MR_KIND_RAM || k == MR_KIND_ROMD || k == MR_KIND_MMIO;
        if ((term || st->p->nodes[ob->rep].type == T_IO) && st->n < 32) {
            Entry *e = &st->e[st->n++];
            e->obj = o;
            e->off = (hwaddr)((mtree_int128)a - base);
            e->terminates = term;
            e->via_virtual = virt;
            memcpy(e->path, st->path, st->depth * sizeof(int32_t));
            e->depth = st->depth;
        }
    }
    st->depth--;
}

/* The flat dump decided fact @f of @o in this round: the rules leave it alone. */
static void fix_fact(const Parser *p, Obj *o, MtreeFact f)
{
    o->fixed[f] = true;
    o->fixed_round = p->round;
}

static int log_fact(Parser *p, MtreeFact f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int log_fact(Parser *p, MtreeFact f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    p->counts.from_flat[f]++;
    if (!import_grow((void **)&p->flat_log, &p->capflat_log, p->nflat_log, sizeof(*p->flat_log)))
        return -ENOMEM;
    p->flat_log[p->nflat_log] = strdup(buf);
    if (!p->flat_log[p->nflat_log])
        return -ENOMEM;
    p->nflat_log++;
    return 1;
}

static const char *oname(const Parser *p, int32_t o)
{
    return p->nodes[p->objs[o].rep].name;
}

static unsigned oline(const Parser *p, int32_t o)
{
    return p->nodes[p->objs[o].rep].line;
}

/* The first point region (printed START = END) of size @size on a path. */
static int32_t point_on_path(const Parser *p, const int32_t *path, uint32_t depth, mr_size_t size)
{
    for (uint32_t i = depth; i-- > 0;) {
        const Obj *o = &p->objs[path[i]];
        if (o->point && o->size == size && !o->fixed[MTREE_FACT_SIZE])
            return path[i];
    }
    return -1;
}

/*
 * One difference at address @a between the rebuilt view (@ours, NULL when
 * unassigned) and the flat dump (@theirs, NULL when unassigned): decide one
 * fact by the rules of docs/mtree.md. Returns 1 when a fact was taken, 0
 * when no rule applies, or a negative error.
 */
static int learn(Parser *p, AddressSpace *as, const char *asname, hwaddr a, const FlatRange *ours,
                 const FRange *theirs, const PtrObj *map, uint32_t nmap)
{
    Stack st = {.map = map, .nmap = nmap, .p = p};
    collect(&st, address_space_root(as), 0, 0, MR_SIZE_2_64, a, false);
    int32_t win = -1;
    for (uint32_t i = 0; i < st.n && win < 0; i++)
        if (st.e[i].terminates && !st.e[i].via_virtual)
            win = (int32_t)i;
    /* Evidence about a region whose fact this round already changed is
     * stale (the view was rendered before): look again next round. */
    for (uint32_t i = 0; i < st.n; i++)
        for (uint32_t d = 0; d < st.e[i].depth; d++)
            if (p->objs[st.e[i].path[d]].fixed_round == p->round)
                return 0;

    if (theirs && ours && ours->mr && strcmp(memory_region_name(ours->mr), theirs->name) == 0 &&
        ours->offset_in_region + (a - ours->addr) == theirs->off + (a - theirs->start)) {
        /* Same bytes, different attributes: fact 2 (read-only aliases). */
        bool want_ro = theirs->type == T_ROM;
        if (win < 0 || want_ro == ours->readonly)
            return 0;
        /* Read-only wanted: the innermost alias on the path. Writable
         * wanted: the innermost read-only alias on it. */
        const Entry *w = &st.e[win];
        for (uint32_t i = w->depth; i-- > 0;) {
            Obj *o = &p->objs[w->path[i]];
            if (!p->nodes[o->rep].is_alias || (!want_ro && !o->readonly))
                continue;
            if (o->fixed[MTREE_FACT_READONLY])
                return 0;
            o->readonly = want_ro;
            fix_fact(p, o, MTREE_FACT_READONLY);
            return log_fact(p, MTREE_FACT_READONLY,
                            "readonly: alias '%s' (line %u) is %s: [%s] %016" PRIx64
                            " is '%s' in the flat dump",
                            oname(p, w->path[i]), oline(p, w->path[i]),
                            want_ro ? "read-only" : "writable", asname, a,
                            want_ro ? "rom" : type_words[theirs->type]);
        }
        return 0;
    }

    if (theirs) {
        hwaddr off = theirs->off + (a - theirs->start);
        int32_t e = -1;
        for (uint32_t i = 0; i < st.n && e < 0; i++)
            if (st.e[i].off == off && strcmp(oname(p, st.e[i].obj), theirs->name) == 0)
                e = (int32_t)i;
        if (e >= 0) {
            Entry *en = &st.e[e];
            Obj *o = &p->objs[en->obj];
            if (!en->terminates && !o->fixed[MTREE_FACT_TERMINATES]) {
                o->terminates = true;
                fix_fact(p, o, MTREE_FACT_TERMINATES);
                return log_fact(p, MTREE_FACT_TERMINATES,
                                "terminates: '%s' (line %u) is a terminating I/O region: the flat "
                                "dump shows it at [%s] %016" PRIx64,
                                oname(p, en->obj), oline(p, en->obj), asname, a);
            }
            if (en->via_virtual) {
                int32_t pt = point_on_path(p, en->path, en->depth, 0);
                if (pt >= 0) {
                    p->objs[pt].size = 1;
                    fix_fact(p, &p->objs[pt], MTREE_FACT_SIZE);
                    return log_fact(p, MTREE_FACT_SIZE,
                                    "size: '%s' (line %u) is 1 byte: the flat dump shows '%s' "
                                    "through it at [%s] %016" PRIx64,
                                    oname(p, pt), oline(p, pt), theirs->name, asname, a);
                }
                return 0;
            }
            if (win >= 0 && win < e && en->terminates) {
                const Entry *w = &st.e[win];
                uint32_t d = 0;
                while (d < w->depth && d < en->depth && w->path[d] == en->path[d])
                    d++;
                /* Two siblings under path[d-1]: an equal-priority tie? */
                if (d > 0 && d < w->depth && d < en->depth) {
                    int32_t x = w->path[d], y = en->path[d];
                    const Obj *ox = &p->objs[x], *oy = &p->objs[y];
                    if (ox->parent == oy->parent &&
                        p->nodes[ox->rep].prio == p->nodes[oy->rep].prio && ox->addr != oy->addr &&
                        forced_winner(p, x, y) < 0) {
                        if (!import_grow((void **)&p->ties, &p->capties, p->nties,
                                         sizeof(*p->ties)))
                            return -ENOMEM;
                        p->ties[p->nties++] = (TieForce){y, x};
                        p->objs[x].fixed_round = p->objs[y].fixed_round = p->round;
                        return log_fact(p, MTREE_FACT_TIE,
                                        "tie: '%s' (line %u) wins over '%s' (line %u): the flat "
                                        "dump shows '%s' at [%s] %016" PRIx64,
                                        oname(p, y), oline(p, y), oname(p, x), oline(p, x),
                                        theirs->name, asname, a);
                    }
                }
                int32_t pt = point_on_path(p, w->path, w->depth, 1);
                if (pt >= 0) {
                    p->objs[pt].size = 0;
                    fix_fact(p, &p->objs[pt], MTREE_FACT_SIZE);
                    return log_fact(p, MTREE_FACT_SIZE,
                                    "size: '%s' (line %u) is 0 bytes: the flat dump shows '%s' "
                                    "at [%s] %016" PRIx64,
                                    oname(p, pt), oline(p, pt), theirs->name, asname, a);
                }
                Obj *wo = &p->objs[w->obj];
                if (p->nodes[wo->rep].type == T_IO && !p->nodes[wo->rep].is_alias &&
                    !wo->fixed[MTREE_FACT_TERMINATES]) {
                    wo->terminates = false;
                    fix_fact(p, wo, MTREE_FACT_TERMINATES);
                    return log_fact(p, MTREE_FACT_TERMINATES,
                                    "terminates: '%s' (line %u) is a container: the flat dump "
                                    "shows '%s' below it at [%s] %016" PRIx64,
                                    oname(p, w->obj), oline(p, w->obj), theirs->name, asname, a);
                }
            }
        }
        return 0;
    }

    /* We show something where the flat dump shows nothing. */
    if (win < 0)
        return 0;
    const Entry *w = &st.e[win];
    int32_t pt = point_on_path(p, w->path, w->depth, 1);
    if (pt >= 0) {
        p->objs[pt].size = 0;
        fix_fact(p, &p->objs[pt], MTREE_FACT_SIZE);
        return log_fact(p, MTREE_FACT_SIZE,
                        "size: '%s' (line %u) is 0 bytes: the flat dump shows nothing at [%s] "
                        "%016" PRIx64,
                        oname(p, pt), oline(p, pt), asname, a);
    }
    Obj *wo = &p->objs[w->obj];
    if (p->nodes[wo->rep].type == T_IO && !wo->fixed[MTREE_FACT_TERMINATES]) {
        wo->terminates = false;
        fix_fact(p, wo, MTREE_FACT_TERMINATES);
        return log_fact(p, MTREE_FACT_TERMINATES,
                        "terminates: '%s' (line %u) is a container: the flat dump shows nothing "
                        "at [%s] %016" PRIx64,
                        oname(p, w->obj), oline(p, w->obj), asname, a);
    }
    return 0;
}

/* Does our range @o (may be NULL) show the same at @a as theirs @t (may be NULL)? */
static bool same_at(const FlatRange *o, const FRange *t, hwaddr a)
{
    if (!o || !t)
        return !o && !t;
    const char *ty = o->readonly ? "rom" : mtree_region_type(o->mr);
    return strcmp(memory_region_name(o->mr), t->name) == 0 &&
           o->offset_in_region + (a - o->addr) == t->off + (a - t->start) &&
           strcmp(ty, type_words[t->type]) == 0 && o->nonvolatile == t->nv;
}

/*
 * Walk the view @fv and flat block @b together; call @fn at the first
 * address of each run of differences (at most @max). Returns the number of
 * differing runs.
 */
typedef int (*DiffFn)(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs);

static uint32_t diff_view(const FlatView *fv, const FBlock *b, uint32_t max, DiffFn fn, void *ctx,
                          int *rc)
{
    size_t no = fv ? flatview_nr_ranges(fv) : 0, i = 0, j = 0;
    mr_size_t pos = 0;
    uint32_t runs = 0;
    bool in_run = false;
    while (pos < MR_SIZE_2_64) {
        const FlatRange *o = i < no ? flatview_range(fv, i) : NULL;
        const FRange *t = j < b->nr ? &b->r[j] : NULL;
        mr_size_t ostart = o ? o->addr : MR_SIZE_2_64, oend = o ? (mr_size_t)o->addr + o->size : 0;
        mr_size_t tstart = t ? t->start : MR_SIZE_2_64, tend = t ? (mr_size_t)t->end + 1 : 0;
        const FlatRange *oc = o && ostart <= pos ? o : NULL;
        const FRange *tc = t && tstart <= pos ? t : NULL;
        mr_size_t next = MR_SIZE_2_64;
        next = oc ? MIN128(next, oend) : MIN128(next, ostart);
        next = tc ? MIN128(next, tend) : MIN128(next, tstart);
        if (!same_at(oc, tc, (hwaddr)pos)) {
            if (!in_run) {
                if (runs < max && fn && *rc >= 0) {
                    int r = fn(ctx, (hwaddr)pos, oc, tc);
                    if (r < 0)
                        *rc = r;
                    else
                        *rc += r;
                }
                runs++;
            }
            in_run = true;
        } else {
            in_run = false;
        }
        pos = next;
        if (oc && pos >= oend)
            i++;
        if (tc && pos >= tend)
            j++;
    }
    return runs;
}

typedef struct LearnCtx {
    Parser *p;
    AddressSpace *as;
    const PtrObj *map;
    uint32_t nmap;
} LearnCtx;

static int learn_cb(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs)
{
    LearnCtx *c = ctx;
    return learn(c->p, c->as, address_space_name(c->as), a, ours, theirs, c->map, c->nmap);
}

static int count_cb(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs)
{
    (void)ctx, (void)a, (void)ours, (void)theirs;
    return 0;
}

/* The flat block that shows @as best: among those listing its name, the one
 * with the fewest differences; NULL when none lists it. */
static const FBlock *match_block(const Flat *f, AddressSpace *as, FlatView *fv)
{
    const FBlock *best = NULL;
    uint32_t best_runs = UINT32_MAX;
    for (uint32_t i = 0; i < f->nb; i++) {
        bool listed = false;
        for (uint32_t k = 0; k < f->b[i].nas && !listed; k++)
            listed = strcmp(f->b[i].as[k], address_space_name(as)) == 0;
        if (!listed)
            continue;
        int rc = 0;
        uint32_t runs = diff_view(fv, &f->b[i], 0, count_cb, NULL, &rc);
        if (runs < best_runs) {
            best = &f->b[i];
            best_runs = runs;
        }
    }
    return best;
}

/* An address-space name and where it is: for sorted lookups. */
typedef struct NamedAs {
    const char *name;
    const char *root; /* the root on its AS line (flat dump) or of its block (tree dump) */
    uint32_t line, block;
} NamedAs;

static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const NamedAs *)a)->name, ((const NamedAs *)b)->name);
}

/* Order by name, then root: one name may stand for several address spaces
 * with different roots (QEMU's Arm SSE boards have many "tz-mpc-downstream"). */
static int named_root_cmp(const void *a, const void *b)
{
    int c = named_cmp(a, b);
    return c ? c : strcmp(((const NamedAs *)a)->root, ((const NamedAs *)b)->root);
}

static const NamedAs *named_find(const NamedAs *v, size_t n, const char *name)
{
    NamedAs key = {.name = name};
    return bsearch(&key, v, n, sizeof(*v), named_cmp);
}

static const NamedAs *named_root_find(const NamedAs *v, size_t n, const char *name,
                                      const char *root)
{
    NamedAs key = {.name = name, .root = root};
    return bsearch(&key, v, n, sizeof(*v), named_root_cmp);
}

/*
 * A flat dump of another machine (or another moment with other address
 * spaces) would teach wrong facts: its address spaces and their roots must
 * be those of the tree dump. Names the first mismatch. O(n log n).
 */
static int flat_matches_tree(Parser *p, const Flat *f)
{
    size_t nt = 0, nf = 0;
    for (uint32_t b = 0; b < p->nblocks; b++)
        nt += p->blocks[b].is_as ? p->blocks[b].nnames : 0;
    for (uint32_t i = 0; i < f->nb; i++)
        nf += f->b[i].nas;
    NamedAs *t = malloc((nt ? nt : 1) * sizeof(*t)), *fl = malloc((nf ? nf : 1) * sizeof(*fl));
    int rc = 0;
    if (!t || !fl) {
        rc = -ENOMEM;
        goto out;
    }
    nt = nf = 0;
    for (uint32_t b = 0; b < p->nblocks; b++)
        for (uint32_t k = 0; p->blocks[b].is_as && k < p->blocks[b].nnames; k++)
            t[nt++] = (NamedAs){p->blocks[b].names[k], p->nodes[p->blocks[b].root].name,
                                p->blocks[b].line, b};
    for (uint32_t i = 0; i < f->nb; i++)
        for (uint32_t k = 0; k < f->b[i].nas; k++)
            fl[nf++] = (NamedAs){f->b[i].as[k], f->b[i].roots[k], f->b[i].line, i};
    qsort(t, nt, sizeof(*t), named_root_cmp);
    qsort(fl, nf, sizeof(*fl), named_root_cmp);
    for (uint32_t i = 0; i < f->nb && !rc; i++) {
        for (uint32_t k = 0; k < f->b[i].nas && !rc; k++) {
            const NamedAs *m = named_find(t, nt, f->b[i].as[k]);
            if (!m) {
                import_error(
                    p->err, f->b[i].line, true,
                    "not a flat dump of this machine: address space '%s' is not in the tree "
                    "dump",
                    f->b[i].as[k]);
                rc = -EINVAL;
                break;
            }
            if (!named_root_find(t, nt, f->b[i].as[k], f->b[i].roots[k])) {
                import_error(
                    p->err, f->b[i].line, true,
                    "not a flat dump of this machine: address space '%s' has root '%s' here "
                    "and '%s' in the tree dump (line %u)",
                    f->b[i].as[k], f->b[i].roots[k], m->root, m->line);
                rc = -EINVAL;
            }
        }
    }
    for (size_t i = 0; i < nt && !rc; i++) {
        if (!named_root_find(fl, nf, t[i].name, t[i].root)) {
            import_error(p->err, 0, true,
                         "not a flat dump of this machine: address space '%s' with root '%s' (tree "
                         "dump line %u) is not in it",
                         t[i].name, t[i].root, t[i].line);
            rc = -EINVAL;
        }
    }
out:
    free(t);
    free(fl);
    return rc;
}

int facts_from_flat(MtreeImport *imp, const char *text, size_t len)
{
    Parser *p = &imp->p;
    Flat f = {0};
    int rc = parse_flat(p, text, len, &f);
    if (!rc && f.nb == 0) {
        import_error(p->err, 0, true, "the flat dump has no 'FlatView #N' block");
        rc = -EINVAL;
    }
    if (!rc)
        rc = flat_matches_tree(p, &f);
    if (rc) {
        parse_flat_free(&f);
        return rc;
    }
    for (int round = 0; round < MAX_FACT_ROUNDS; round++) {
        p->round = round;
        rc = build_import(imp);
        if (rc)
            break;
        PtrObj *map = malloc((p->nobjs ? p->nobjs : 1) * sizeof(*map));
        if (!map) {
            rc = -ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < p->nobjs; i++)
            map[i] = (PtrObj){p->objs[i].mr, (int32_t)i};
        qsort(map, p->nobjs, sizeof(*map), ptrobj_cmp);
        int learned = 0;
        for (size_t i = 0; i < imp->nspaces && learned >= 0; i++) {
            AddressSpace *as = imp->spaces[i];
            FlatView *fv = address_space_get_flatview(as);
            const FBlock *b = match_block(&f, as, fv);
            if (b) {
                LearnCtx c = {p, as, map, p->nobjs};
                diff_view(fv, b, 64, learn_cb, &c, &learned);
            }
            flatview_unref(fv);
        }
        free(map);
        if (learned < 0) {
            rc = learned;
            break;
        }
        if (learned == 0)
            break;
        build_teardown(imp);
        facts_decide(p); /* re-apply rules to facts not fixed by the flat dump */
    }
    parse_flat_free(&f);
    return rc;
}
