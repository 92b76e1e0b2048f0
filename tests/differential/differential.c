/*
 * Randomized differential test: the library against the reference model.
 *
 * For each seed, a random region tree (containers, RAM, ROM, ROM devices,
 * MMIO devices, aliases; regions at the top of the 64-bit space and 2^64
 * containers) is built under three address spaces, then mutated by random
 * operations: add, del, move, enable, priority, alias offset, read-only,
 * non-volatile, resize, romd mode, destroy and re-create, re-rooting an
 * address space, and nested transactions. Aliases are often mapped inside
 * what they show (self-referential aliases, as on QEMU's Arm SSE boards),
 * and the model judges each change that touches such a loop against the
 * documented bounds (refmodel_loop_nesting). Operations the library must
 * refuse (a region inside itself, endless alias loops, double parents,
 * overflow, busy regions) are tried too.
 *
 * After each operation the harness checks:
 *  - the tree: every accessor against the harness's own record of what the
 *    operations did (addresses, sizes, flags, parents, child order);
 *  - inside a transaction: every view is exactly the one from before the
 *    outermost begin;
 *  - after a commit: every FlatView against the model, range by range
 *    (refmodel_flatten), and point by point (first, last and random bytes
 *    of every range, every gap, random addresses) against
 *    refmodel_resolve(); that no two neighbours could have merged; lookup,
 *    find_range and translate on random addresses;
 *  - random reads and writes of 1..16 bytes through address_space_read/
 *    write against a model of memory: a shadow copy of every RAM region,
 *    ROM dropping writes, and byte-storage devices whose contents are
 *    known; MemTxResult included.
 *
 * Environment: MEMREGION_SEED=<n> runs that one seed, MEMREGION_SEED=<a>-<b>
 * the seeds a..b (default: seeds 1..8); MEMREGION_DIFF_OPS=<n> sets the
 * operations per seed (default 4000); MEMREGION_DIFF_VERBOSE=1 prints every
 * operation and the final tree of each seed.
 *
 * The last line printed is "differential: N random operations, M mismatches".
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

/* ---- configuration ------------------------------------------------------ */

#define NSLOTS       64
#define NAS          4 /* as0: root0, as1: root1, as2: sub2, as3: root0 (shared) */
#define MAX_TX_DEPTH 3
#define TWO64        MR_SIZE_2_64

#define DEFAULT_OPS_PER_SEED 4000

/* ---- the harness's record of every region ----------------------------------- */

typedef enum SlotKind {
    SK_FREE = 0,
    SK_CONTAINER,
    SK_RAM,
    SK_RAM_PTR, /* RAM on a caller-provided buffer */
    SK_ROM,
    SK_ROMD,
    SK_MMIO,
    SK_MMIO_NULL, /* MMIO with NULL ops: a reservation */
    SK_ALIAS,
} SlotKind;

static const char *const kind_names[] = {"free", "container", "ram",       "ram_ptr", "rom",
                                         "romd", "mmio",      "mmio_null", "alias"};

typedef struct Slot {
    MemoryRegion mr;
    int idx;
    SlotKind kind;
    char name[40];
    unsigned generation;
    /* What the operations did, recorded independently of the library. */
    int parent; /* slot index or -1 */
    hwaddr addr;
    int32_t prio;
    uint64_t seq; /* order of (re-)adds: newer wins ties */
    mr_size_t size;
    bool enabled, readonly, nonvolatile, romd;
    uint8_t logmask; /* dirty-log clients enabled with memory_region_set_log() */
    int target;      /* alias target slot */
    hwaddr alias_offset;
    /* Memory model. */
    size_t alloc;       /* RAM bytes the region was created with */
    uint8_t *shadow;    /* model of the RAM contents */
    uint8_t *ptrbuf;    /* SK_RAM_PTR: the caller-owned buffer */
    size_t devcap;      /* device storage bytes */
    uint8_t *devbuf;    /* device storage, written by the callbacks */
    uint8_t *devshadow; /* model of the device storage */
} Slot;

static Slot slots[NSLOTS];
static AddressSpace spaces[NAS];
static int as_root[NAS];
static uint8_t as_unassigned[NAS];
static bool as_live[NAS];

static bool global_log; /* memory_global_dirty_log_start() in force */
static uint64_t seq_counter;
static int tx_depth;

static uint64_t ops_total;  /* operations run, all seeds */
static char dev_error[256]; /* set by a device callback that saw a bad access */

/* What was checked, to show that the checks have something to bite on. */
static struct {
    uint64_t refused;  /* operations the library refused, as expected */
    uint64_t views;    /* flat views compared with the model */
    uint64_t ranges;   /* flat ranges in those views */
    uint64_t points;   /* addresses resolved by the model and the library */
    uint64_t accesses; /* reads and writes compared */
    uint64_t mmio_bytes, ram_bytes, unassigned_bytes; /* bytes of those accesses, by target */
    uint64_t tx_checks;   /* views proven unchanged inside a transaction */
    uint64_t flag_splits; /* neighbours of one region kept apart only by their flags */
} stats;

static Slot *slot_of(const MemoryRegion *mr)
{
    if (!mr)
        return NULL;
    for (int i = 0; i < NSLOTS; i++)
        if (&slots[i].mr == mr)
            return &slots[i];
    return NULL;
}

static bool slot_nonvolatile(const MemoryRegion *mr, void *opaque)
{
    (void)opaque;
    Slot *s = slot_of(mr);
    return s && s->nonvolatile;
}

static bool is_live(const Slot *s)
{
    return s->kind != SK_FREE;
}
static bool is_ramlike(const Slot *s)
{
    return s->kind == SK_RAM || s->kind == SK_RAM_PTR || s->kind == SK_ROM || s->kind == SK_ROMD;
}
static bool can_have_children(const Slot *s)
{
    return is_live(s) && s->kind != SK_ALIAS;
}

/* ---- reporting ------------------------------------------------------------- */

static void dump_region(const MemoryRegion *mr, int depth, int maxdepth)
{
    char a[40], s[40];
    Slot *sl = slot_of(mr);
    printf("    %*s%s '%s' [%d] addr=0x%" PRIx64 " size=%s prio=%d%s%s%s%s", 2 * depth, "",
           sl ? kind_names[sl->kind] : "?", memory_region_name(mr), sl ? sl->idx : -1,
           memory_region_addr(mr), ts_hex128(memory_region_size(mr), s), memory_region_priority(mr),
           memory_region_is_enabled(mr) ? "" : " disabled",
           memory_region_is_readonly(mr) ? " ro" : "", sl && sl->nonvolatile ? " nv" : "",
           memory_region_kind(mr) == MR_KIND_ROMD && !memory_region_is_romd(mr) ? " romd-off" : "");
    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        MemoryRegion *t = memory_region_alias_target(mr);
        printf(" -> '%s' +%s", t ? memory_region_name(t) : "?",
               ts_hex128(memory_region_alias_offset(mr), a));
    }
    printf("\n");
    if (depth >= maxdepth)
        return;
    for (MemoryRegion *c = memory_region_first_subregion(mr); c; c = memory_region_next_sibling(c))
        dump_region(c, depth + 1, maxdepth);
}

static void print_context(void)
{
    ts_trail_print_ops();
    printf("  tree:\n");
    for (int i = 0; i < NSLOTS; i++)
        if (is_live(&slots[i]) && slots[i].parent < 0)
            dump_region(&slots[i].mr, 0, 12);
    for (int k = 0; k < NAS; k++)
        if (as_live[k])
            printf("  as%d root '%s', unassigned byte 0x%02x\n", k, slots[as_root[k]].name,
                   as_unassigned[k]);
    printf("  replay: MEMREGION_SEED=%" PRIu64 " MEMREGION_DIFF_OPS=%" PRIu64
           " MEMREGION_DIFF_VERBOSE=1 tests/differential/differential\n",
           ts_trail.seed, ts_trail.op);
}

/* ---- device: byte storage, so its contents are predictable ------------------ */

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    Slot *s = opaque;
    if ((mr_size_t)addr + size > s->size && !dev_error[0])
        snprintf(dev_error, sizeof(dev_error),
                 "device '%s' read %u bytes at 0x%" PRIx64 " beyond its size", s->name, size, addr);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)s->devbuf[(addr + i) % s->devcap] << (8 * i);
    return v;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    Slot *s = opaque;
    if ((mr_size_t)addr + size > s->size && !dev_error[0])
        snprintf(dev_error, sizeof(dev_error),
                 "device '%s' wrote %u bytes at 0x%" PRIx64 " beyond its size", s->name, size,
                 addr);
    for (unsigned i = 0; i < size; i++)
        s->devbuf[(addr + i) % s->devcap] = (uint8_t)(data >> (8 * i));
}

/* The simplest shape: every size 1..8 at any alignment, handled as asked. */
static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
    .impl = {.min_access_size = 1, .max_access_size = 8, .unaligned = true},
};

/* ---- generators ----------------------------------------------------------------- */

static const uint64_t hot_spots[] = {
    0,
    0x10000,
    0xfff00000,
    0x100000000ull,
    0x7fffffffffff0000ull,
    0x8000000000000000ull,
    0xffffffffffff0000ull,
};

static uint64_t rnd_align(uint64_t v)
{
    static const uint64_t aligns[] = {1, 0x10, 0x100, 0x1000, 0x1000};
    return v & ~(aligns[ts_rnd_below(5)] - 1);
}

/* An offset to place something inside a window of @limit bytes (may overshoot on purpose). */
static hwaddr gen_offset(mr_size_t limit, mr_size_t size)
{
    if (ts_chance(4) && size <= TWO64)
        return (hwaddr)(TWO64 - size); /* flush with the top of the space */
    if (limit <= 0x40000 && ts_chance(85))
        return rnd_align(ts_rnd_below((uint64_t)limit + 0x200));
    if (ts_chance(45))
        return rnd_align(ts_rnd_below(0x20000)); /* the crowded low window */
    if (limit < TWO64 && ts_chance(30)) {
        uint64_t lo = limit > 0x10000 ? (uint64_t)(limit - 0x10000) : 0;
        return rnd_align(lo + ts_rnd_below(0x10000 + 0x100));
    }
    uint64_t base = hot_spots[ts_rnd_below(sizeof(hot_spots) / sizeof(hot_spots[0]))];
    return base + rnd_align(ts_rnd_below(0x10000));
}

static mr_size_t gen_container_size(void)
{
    unsigned r = (unsigned)ts_rnd_below(100);
    if (r < 12)
        return TWO64;
    if (r < 15)
        return 0;
    if (r < 22) {
        static const mr_size_t big[] = {(mr_size_t)1 << 32, (mr_size_t)1 << 40, (mr_size_t)1 << 63,
                                        TWO64 - 1};
        return big[ts_rnd_below(4)];
    }
    return 1 + rnd_align(ts_rnd_below(0x20000));
}

static mr_size_t gen_ram_size(void)
{
    if (ts_chance(10))
        return 1 + ts_rnd_below(16);
    return 1 + rnd_align(ts_rnd_below(0x4000));
}

static int32_t gen_prio(void)
{
    unsigned r = (unsigned)ts_rnd_below(100);
    if (r < 60)
        return (int32_t)ts_rnd_below(3) - 1;
    if (r < 90)
        return (int32_t)ts_rnd_below(7) - 3;
    static const int32_t odd[] = {INT32_MIN, INT32_MAX, 1000, -1000};
    return odd[ts_rnd_below(4)];
}

static Slot *pick(bool (*ok)(const Slot *))
{
    int cand[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (ok(&slots[i]))
            cand[n++] = i;
    return n ? &slots[cand[ts_rnd_below((uint64_t)n)]] : NULL;
}

static bool any_live(const Slot *s)
{
    return is_live(s);
}
static bool free_slot(const Slot *s)
{
    return s->kind == SK_FREE;
}
static bool mapped(const Slot *s)
{
    return is_live(s) && s->parent >= 0;
}
static bool unmapped_child_candidate(const Slot *s)
{
    return is_live(s) && s->parent < 0 && s->idx >= 2;
}
static bool alias_slot(const Slot *s)
{
    return s->kind == SK_ALIAS;
}

/* Mapped (through its containers) under one of the two top-level roots. */
static bool attached(const Slot *s)
{
    for (int guard = 0; guard <= NSLOTS && is_live(s); guard++) {
        if (s->idx < 2)
            return true;
        if (s->parent < 0)
            return false;
        s = &slots[s->parent];
    }
    return false;
}

static bool attached_parent(const Slot *s)
{
    return can_have_children(s) && attached(s);
}
static bool attached_container(const Slot *s)
{
    return s->kind == SK_CONTAINER && attached(s);
}

/* The top-level roots keep most views populated: they are picked less often. */
static mr_size_t root_size[3];

static Slot *pick_target(void)
{
    Slot *s = pick(any_live);
    if (s && s->idx < 2 && ts_chance(80))
        s = pick(any_live);
    return s;
}
static bool ramlike_slot(const Slot *s)
{
    return is_ramlike(s);
}

static bool romd_slot(const Slot *s)
{
    return s->kind == SK_ROMD;
}

/* ---- the harness's own tree knowledge -------------------------------------------- */

static bool is_as_root(const Slot *s)
{
    for (int k = 0; k < NAS; k++)
        if (as_live[k] && as_root[k] == s->idx)
            return true;
    return false;
}

static bool is_alias_target(const Slot *s)
{
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].kind == SK_ALIAS && slots[i].target == s->idx)
            return true;
    return false;
}

/* Can @to be reached from @from along child and alias-target edges (from included)? */
static bool reaches(int from, int to)
{
    bool seen[NSLOTS] = {false};
    int stack[NSLOTS * 2], n = 0;
    stack[n++] = from;
    seen[from] = true;
    while (n) {
        int x = stack[--n];
        if (x == to)
            return true;
        if (slots[x].kind == SK_ALIAS && !seen[slots[x].target]) {
            seen[slots[x].target] = true;
            stack[n++] = slots[x].target;
        }
        for (int i = 0; i < NSLOTS; i++)
            if (is_live(&slots[i]) && slots[i].parent == x && !seen[i]) {
                seen[i] = true;
                stack[n++] = i;
            }
    }
    return false;
}

enum { X_OK = 1, X_INVAL = 2, X_BUSY = 4, X_LOOP = 8 };

/* ---- alias loops ---------------------------------------------------------------------- */

/* What the loop checks saw (all seeds). */
static struct {
    uint64_t created;     /* subregions mapped that closed a loop through an alias */
    uint64_t refused;     /* changes refused with -ELOOP, as the model expected */
    uint64_t judged;      /* changes the model judged against the loop bounds */
    uint64_t open;        /* ... where the model could not decide (work bound) */
    uint64_t ops_in_mix;  /* operations run while some mapped alias was on a loop */
    uint64_t max_aliases; /* most aliases on loops at once */
} loops;

/* Is @sub the region @parent or one of its containers (record)? */
static bool contains_itself(int parent, int sub)
{
    for (int p = parent, guard = 0; p >= 0 && guard <= NSLOTS; p = slots[p].parent, guard++)
        if (p == sub)
            return true;
    return false;
}

/* Does rendering @i lead back to @i (record: child and alias-target edges)? */
static bool on_loop(int i)
{
    const Slot *s = &slots[i];
    if (s->kind == SK_ALIAS)
        return reaches(s->target, i);
    for (int j = 0; j < NSLOTS; j++)
        if (is_live(&slots[j]) && slots[j].parent == i && reaches(j, i))
            return true;
    return false;
}

/* Mapped aliases whose target leads back to their container: the self-referential ones. */
static unsigned aliases_on_loops(void)
{
    unsigned n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (is_live(&slots[i]) && slots[i].kind == SK_ALIAS && slots[i].parent >= 0 &&
            reaches(slots[i].target, slots[i].parent))
            n++;
    return n;
}

/*
 * What a change that may add a path to an alias loop must return, judged
 * by the model on the tree as it would be: -ELOOP when some region would
 * render nested in itself more than MEMREGION_ALIAS_LAPS_MAX times, 0 when
 * the model's walks stay within both bounds, either when the model's work
 * bound cut it short (its walks count more than the library's do).
 */
static unsigned loop_verdict(const RefChange *chg)
{
    MemoryRegion *regs[NSLOTS];
    size_t n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (is_live(&slots[i]))
            regs[n++] = &slots[i].mr;
    RefNesting r = refmodel_loop_nesting(regs, n, chg, MEMREGION_ALIAS_LAPS_MAX + 1,
                                         MEMREGION_ALIAS_LOOP_WORK_MAX);
    loops.judged++;
    if (r.max_nest > MEMREGION_ALIAS_LAPS_MAX + 1)
        return X_LOOP;
    if (!r.cut)
        return X_OK;
    loops.open++;
    return X_OK | X_LOOP;
}

static RefChange change_of(const Slot *s)
{
    return (RefChange){.mr = &s->mr,
                       .addr = s->addr,
                       .size = s->size,
                       .alias_offset = s->alias_offset,
                       .enabled = s->enabled};
}

/* What moving @s to @addr must return, with the outcome @allowed of its other
 * checks; *judged: the loop bounds decided it. */
static unsigned expect_move(const Slot *s, hwaddr addr, unsigned allowed, bool *judged)
{
    *judged = allowed == X_OK && s->parent >= 0 && addr != s->addr && on_loop(s->idx);
    if (!*judged)
        return allowed;
    RefChange chg = change_of(s);
    chg.addr = addr;
    return loop_verdict(&chg);
}

/* What setting @s's enabled flag to @en must return; *judged as above. */
static unsigned expect_enable(const Slot *s, bool en, bool *judged)
{
    *judged = en && !s->enabled && on_loop(s->idx);
    if (!*judged)
        return X_OK;
    RefChange chg = change_of(s);
    chg.enabled = true;
    return loop_verdict(&chg);
}

/* A container on a loop through alias @sub's target (to map @sub into), or NULL. */
static Slot *pick_loop_parent(const Slot *sub)
{
    int cand[NSLOTS], n = 0;
    if (sub->kind != SK_ALIAS)
        return NULL;
    for (int i = 0; i < NSLOTS; i++)
        if (can_have_children(&slots[i]) && reaches(sub->target, i))
            cand[n++] = i;
    return n ? &slots[cand[ts_rnd_below((uint64_t)n)]] : NULL;
}

/* ---- expected results ------------------------------------------------------------- */

static unsigned rc_bit(int rc)
{
    switch (rc) {
    case 0:
        return X_OK;
    case -EINVAL:
        return X_INVAL;
    case -EBUSY:
        return X_BUSY;
    case -ELOOP:
        return X_LOOP;
    default:
        return 0x100;
    }
}

static const char *expect_str(unsigned x, char *buf)
{
    buf[0] = 0;
    if (x & X_OK)
        strcat(buf, "|0");
    if (x & X_INVAL)
        strcat(buf, "|-EINVAL");
    if (x & X_BUSY)
        strcat(buf, "|-EBUSY");
    if (x & X_LOOP)
        strcat(buf, "|-ELOOP");
    return buf + 1;
}

/* A snapshot of one view, to prove that something did not change it. */
typedef struct Snap {
    size_t n;
    FlatRange *r;
} Snap;

static void snap_take(int k, Snap *s)
{
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    s->n = flatview_nr_ranges(fv);
    s->r = malloc((s->n ? s->n : 1) * sizeof(FlatRange));
    for (size_t i = 0; i < s->n; i++)
        s->r[i] = *flatview_range(fv, i);
    flatview_unref(fv);
}

static void snap_free(Snap *s)
{
    free(s->r);
    s->r = NULL;
    s->n = 0;
}

/* Is as@k's current view exactly @s? Reports the first difference. */
static bool snap_check(int k, const Snap *s, const char *why)
{
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    size_t n = flatview_nr_ranges(fv);
    bool ok = true;
    if (n != s->n) {
        ts_trail_mismatch("as%d: view changed %s: %zu ranges, was %zu", k, why, n, s->n);
        ok = false;
    } else {
        for (size_t i = 0; i < n; i++) {
            const FlatRange *r = flatview_range(fv, i);
            if (!ts_fr_same(r, &s->r[i])) {
                ts_trail_mismatch("as%d: view changed %s: range %zu at 0x%" PRIx64
                                  " was '%s'+0x%" PRIx64 ", now at 0x%" PRIx64 " '%s'+0x%" PRIx64,
                                  k, why, i, s->r[i].addr, memory_region_name(s->r[i].mr),
                                  s->r[i].offset_in_region, r->addr, memory_region_name(r->mr),
                                  r->offset_in_region);
                ok = false;
                break;
            }
        }
    }
    flatview_unref(fv);
    return ok;
}

static Snap tx_snaps[NAS];

/*
 * Check the result of one mutator against the allowed set. A failure must
 * leave every view as it was (@pre holds the views from before the call
 * when outside a transaction).
 */
static void check_rc(int rc, unsigned allowed, Snap *pre, const char *what)
{
    char e[64];
    if (rc != 0 && (rc_bit(rc) & allowed))
        stats.refused++;
    if (!(rc_bit(rc) & allowed))
        ts_trail_mismatch("%s returned %d (%s), expected %s", what, rc, memregion_last_error(),
                          expect_str(allowed, e));
    if (rc != 0 && pre)
        for (int k = 0; k < NAS; k++)
            if (as_live[k])
                snap_check(k, &pre[k], "after a refused operation");
}

static void pre_take(Snap *pre)
{
    for (int k = 0; k < NAS; k++)
        if (as_live[k] && tx_depth == 0)
            snap_take(k, &pre[k]);
}

static void pre_free(Snap *pre)
{
    for (int k = 0; k < NAS; k++)
        snap_free(&pre[k]);
}

#define PRE_PTR(pre) (tx_depth == 0 ? (pre) : NULL)

/* ---- tree consistency: accessors against the harness's record ---------------- */

static int cmp_child(const void *a, const void *b)
{
    const Slot *x = *(Slot *const *)a, *y = *(Slot *const *)b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return x->seq > y->seq ? -1 : (x->seq < y->seq);
}

static void check_tree(void)
{
    char a[40], b[40];
    for (int i = 0; i < NSLOTS; i++) {
        Slot *s = &slots[i];
        MemoryRegion *mr = &s->mr;
        if (!is_live(s)) {
            if (memory_region_kind(mr) != MR_KIND_NONE)
                ts_trail_mismatch("slot %d is free but has kind %d", i, memory_region_kind(mr));
            continue;
        }
        if (memory_region_size(mr) != s->size)
            ts_trail_mismatch("'%s': size %s, expected %s", s->name,
                              ts_hex128(memory_region_size(mr), a), ts_hex128(s->size, b));
        if (memory_region_addr(mr) != s->addr)
            ts_trail_mismatch("'%s': addr 0x%" PRIx64 ", expected 0x%" PRIx64, s->name,
                              memory_region_addr(mr), s->addr);
        if (s->parent >= 0 && memory_region_priority(mr) != s->prio)
            ts_trail_mismatch("'%s': priority %d, expected %d", s->name, memory_region_priority(mr),
                              s->prio);
        if (memory_region_is_enabled(mr) != s->enabled)
            ts_trail_mismatch("'%s': enabled %d, expected %d", s->name,
                              memory_region_is_enabled(mr), s->enabled);
        if (memory_region_is_readonly(mr) != s->readonly)
            ts_trail_mismatch("'%s': readonly %d, expected %d", s->name,
                              memory_region_is_readonly(mr), s->readonly);
        MemoryRegion *want_parent = s->parent >= 0 ? &slots[s->parent].mr : NULL;
        if (memory_region_container(mr) != want_parent)
            ts_trail_mismatch("'%s': container '%s', expected '%s'", s->name,
                              memory_region_container(mr)
                                  ? memory_region_name(memory_region_container(mr))
                                  : "(none)",
                              want_parent ? slots[s->parent].name : "(none)");
        if (s->kind == SK_ALIAS) {
            if (memory_region_alias_target(mr) != &slots[s->target].mr ||
                memory_region_alias_offset(mr) != s->alias_offset)
                ts_trail_mismatch("'%s': alias target/offset differ from what was set", s->name);
        } else if (memory_region_alias_target(mr) != NULL) {
            ts_trail_mismatch("'%s': not an alias but has a target", s->name);
        }
        /* Dirty logging: the region's own clients, plus migration on RAM while global
         * logging runs (the header says "all RAM"; a ROM device may go either way). */
        uint8_t mask = memory_region_get_dirty_log_mask(mr);
        uint8_t mig = 1u << DIRTY_MEMORY_MIGRATION;
        uint8_t want_mask = s->logmask;
        if (global_log && (s->kind == SK_RAM || s->kind == SK_RAM_PTR || s->kind == SK_ROM))
            want_mask |= mig;
        if (mask != want_mask &&
            !(s->kind == SK_ROMD && global_log && (mask | mig) == (want_mask | mig)))
            ts_trail_mismatch("'%s': dirty log mask 0x%x, expected 0x%x", s->name, mask, want_mask);
        if (s->kind == SK_ROMD && memory_region_is_romd(mr) != s->romd)
            ts_trail_mismatch("'%s': romd mode %d, expected %d", s->name, memory_region_is_romd(mr),
                              s->romd);
        /* Host pointers: follow the alias chain in the record; past the memory there is none. */
        mr_size_t off = 0;
        const Slot *t = s;
        for (int guard = 0; t->kind == SK_ALIAS && guard < NSLOTS; guard++) {
            off += t->alias_offset;
            t = &slots[t->target];
        }
        void *want = NULL;
        if (is_ramlike(t) && off < t->alloc)
            want = (uint8_t *)memory_region_get_ram_ptr(&t->mr) + (size_t)off;
        if (s != t && memory_region_get_ram_ptr(mr) != want)
            ts_trail_mismatch("'%s': get_ram_ptr %p, expected target's + %s = %p", s->name,
                              memory_region_get_ram_ptr(mr), ts_hex128(off, a), want);
        if (s->kind == SK_RAM_PTR && memory_region_get_ram_ptr(mr) != s->ptrbuf)
            ts_trail_mismatch("'%s': get_ram_ptr is not the caller's buffer", s->name);

        /* Child order: priority descending, newest (re-)add first among equals. */
        Slot *kids[NSLOTS];
        size_t n = 0;
        for (int j = 0; j < NSLOTS; j++)
            if (is_live(&slots[j]) && slots[j].parent == i)
                kids[n++] = &slots[j];
        qsort(kids, n, sizeof(kids[0]), cmp_child);
        size_t k = 0;
        MemoryRegion *c = memory_region_first_subregion(mr);
        for (; c && k < n; c = memory_region_next_sibling(c), k++)
            if (c != &kids[k]->mr)
                break;
        if (k != n || c != NULL)
            ts_trail_mismatch(
                "'%s': child %zu is '%s', expected '%s' (priority desc, newest first)", s->name, k,
                c ? memory_region_name(c) : "(end)", k < n ? kids[k]->name : "(end)");
    }
}

/* ---- region life cycle --------------------------------------------------------- */

static void set_name(Slot *s)
{
    s->generation++;
    snprintf(s->name, sizeof(s->name), "%s%d.%u", kind_names[s->kind], s->idx, s->generation);
}

static void record_fresh(Slot *s, SlotKind kind, mr_size_t size)
{
    s->kind = kind;
    s->parent = -1;
    s->addr = 0;
    s->prio = 0;
    s->seq = 0;
    s->size = size;
    s->enabled = true;
    s->readonly = kind == SK_ROM;
    s->nonvolatile = false;
    s->romd = kind == SK_ROMD;
    s->logmask = 0;
    s->target = -1;
    s->alias_offset = 0;
}

static void free_memory(Slot *s)
{
    free(s->shadow);
    free(s->ptrbuf);
    free(s->devbuf);
    free(s->devshadow);
    s->shadow = s->ptrbuf = s->devbuf = s->devshadow = NULL;
    s->alloc = s->devcap = 0;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)ts_rnd();
}

static bool alias_target_ok(const Slot *s)
{
    return is_live(s);
}

/*
 * Initialise free slot @s as a random kind. Sometimes first tries an
 * initialisation the library must refuse. Returns true when @s is live.
 */
static bool create_region(Slot *s, bool allow_alias)
{
    char e[40];
    SlotKind kind;
    unsigned r = (unsigned)ts_rnd_below(100);
    if (r < 25)
        kind = SK_CONTAINER;
    else if (r < 40)
        kind = SK_RAM;
    else if (r < 45)
        kind = SK_RAM_PTR;
    else if (r < 53)
        kind = SK_ROM;
    else if (r < 62)
        kind = SK_ROMD;
    else if (r < 76)
        kind = SK_MMIO;
    else if (r < 79)
        kind = SK_MMIO_NULL;
    else
        kind = allow_alias ? SK_ALIAS : SK_CONTAINER;

    int rc;
    s->kind = kind;
    set_name(s);
    s->kind = SK_FREE;
    switch (kind) {
    case SK_CONTAINER: {
        if (ts_chance(3)) {
            rc = memory_region_init(&s->mr, s->name, TWO64 + 1);
            ts_trail_note("init container '%s' size 2^64+1 = %d", s->name, rc);
            check_rc(rc, X_INVAL, NULL, "memory_region_init(size 2^64+1)");
            if (rc == 0)
                return false; /* state unknown; the tree check will complain */
        }
        mr_size_t size = gen_container_size();
        rc = memory_region_init(&s->mr, s->name, size);
        ts_trail_note("init container '%s' size %s = %d", s->name, ts_hex128(size, e), rc);
        check_rc(rc, X_OK, NULL, "memory_region_init");
        if (rc)
            return false;
        record_fresh(s, kind, size);
        return true;
    }
    case SK_RAM:
    case SK_RAM_PTR:
    case SK_ROM:
    case SK_ROMD: {
        if (kind == SK_RAM && ts_chance(3)) {
            rc = memory_region_init_ram(&s->mr, s->name, 0);
            ts_trail_note("init ram '%s' size 0 = %d", s->name, rc);
            check_rc(rc, X_INVAL, NULL, "memory_region_init_ram(size 0)");
            if (rc == 0)
                return false;
        }
        mr_size_t size = gen_ram_size();
        size_t n = (size_t)size;
        if (kind == SK_RAM) {
            rc = memory_region_init_ram(&s->mr, s->name, size);
        } else if (kind == SK_RAM_PTR) {
            s->ptrbuf = malloc(n);
            fill_random(s->ptrbuf, n);
            rc = memory_region_init_ram_ptr(&s->mr, s->name, size, s->ptrbuf);
        } else if (kind == SK_ROM) {
            rc = memory_region_init_rom(&s->mr, s->name, size);
        } else {
            rc = memory_region_init_rom_device(&s->mr, &dev_ops, s, s->name, size);
        }
        ts_trail_note("init %s '%s' size %s = %d", kind_names[kind], s->name, ts_hex128(size, e),
                      rc);
        check_rc(rc, X_OK, NULL, "memory_region_init_<ram>");
        if (rc) {
            free_memory(s);
            return false;
        }
        record_fresh(s, kind, size);
        s->alloc = n;
        s->shadow = malloc(n);
        uint8_t *ram = memory_region_get_ram_ptr(&s->mr);
        if (!ram) {
            ts_trail_mismatch("'%s': no host memory after init", s->name);
            s->kind = SK_FREE;
            return false;
        }
        if (kind == SK_RAM_PTR) {
            if (ram != s->ptrbuf)
                ts_trail_mismatch("'%s': host memory is not the caller's buffer", s->name);
        } else if (kind == SK_RAM) {
            for (size_t i = 0; i < n; i++)
                if (ram[i] != 0) {
                    ts_trail_mismatch("'%s': fresh RAM is not zeroed at 0x%zx", s->name, i);
                    break;
                }
        } else {
            fill_random(ram, n); /* ROM contents, set by the board */
        }
        memcpy(s->shadow, ram, n);
        if (kind == SK_ROMD) {
            s->devcap = n;
            s->devbuf = malloc(n);
            fill_random(s->devbuf, n);
            s->devshadow = malloc(n);
            memcpy(s->devshadow, s->devbuf, n);
        }
        return true;
    }
    case SK_MMIO:
    case SK_MMIO_NULL: {
        mr_size_t size = ts_chance(5) ? 0 : 1 + rnd_align(ts_rnd_below(0x2000));
        if (kind == SK_MMIO) {
            s->devcap = size ? (size_t)size : 1;
            s->devbuf = malloc(s->devcap);
            fill_random(s->devbuf, s->devcap);
            s->devshadow = malloc(s->devcap);
            memcpy(s->devshadow, s->devbuf, s->devcap);
        }
        rc = memory_region_init_io(&s->mr, kind == SK_MMIO ? &dev_ops : NULL, s, s->name, size);
        ts_trail_note("init %s '%s' size %s = %d", kind_names[kind], s->name, ts_hex128(size, e),
                      rc);
        check_rc(rc, X_OK, NULL, "memory_region_init_io");
        if (rc) {
            free_memory(s);
            return false;
        }
        record_fresh(s, kind, size);
        return true;
    }
    case SK_ALIAS: {
        Slot *t = pick(alias_target_ok);
        if (!t)
            return false;
        mr_size_t tsize = t->size;
        hwaddr off;
        mr_size_t size;
        if (ts_chance(10)) {
            off = 0;
            size = tsize; /* the whole target: the view-sharing shortcut */
        } else {
            off = ts_chance(85) ? gen_offset(tsize, 0) : ts_rnd();
            if (ts_chance(60) && tsize > off)
                size = 1 + ts_rnd_below128(tsize - off);
            else if (ts_chance(15))
                size = TWO64 - off;
            else
                size = ts_chance(50) ? gen_container_size() : 1 + ts_rnd_below(0x8000);
        }
        unsigned allowed = (mr_size_t)off + size > TWO64 ? X_INVAL : X_OK;
        rc = memory_region_init_alias(&s->mr, s->name, &t->mr, off, size);
        ts_trail_note("init alias '%s' -> '%s' offset 0x%" PRIx64 " size %s = %d", s->name, t->name,
                      off, ts_hex128(size, e), rc);
        check_rc(rc, allowed, NULL, "memory_region_init_alias");
        if (rc)
            return false;
        record_fresh(s, kind, size);
        s->target = t->idx;
        s->alias_offset = off;
        return true;
    }
    default:
        break;
    }
    return false;
}

/* Destroy @s as the harness expects (busy regions must be refused). */
static void destroy_region(Slot *s)
{
    unsigned allowed = (s->parent >= 0 || is_as_root(s) || is_alias_target(s)) ? X_BUSY : X_OK;
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_destroy(&s->mr);
    ts_trail_note("destroy '%s' = %d", s->name, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "memory_region_destroy");
    pre_free(pre);
    if (rc == 0) {
        for (int i = 0; i < NSLOTS; i++)
            if (is_live(&slots[i]) && slots[i].parent == s->idx)
                slots[i].parent = -1; /* children stay initialised, unmapped */
        free_memory(s);
        s->kind = SK_FREE;
    }
}

/* ---- mutators ----------------------------------------------------------------------- */

static void op_add_sub(Slot *sub)
{
    char e[40];
    Slot *parent;
    /* Mostly a valid request; sometimes one of each kind of refusal. */
    if (!sub)
        sub = ts_chance(90) ? pick(unmapped_child_candidate) : pick(any_live);
    if (!sub)
        return;
    unsigned r = (unsigned)ts_rnd_below(100);
    if (r < 2)
        parent = sub;
    else if (r < 6)
        parent = pick(alias_slot);
    else if (r < 30)
        parent = &slots[ts_chance(50) ? 0 : 1];
    else if (r < 60)
        parent = pick(attached_container);
    else if (r < 80)
        parent = pick(attached_parent);
    else
        parent = pick(can_have_children);
    if (!parent)
        parent = &slots[0];
    if (sub->kind == SK_ALIAS && ts_chance(35)) {
        /* Map the alias inside what it shows: a self-referential alias. */
        Slot *p = pick_loop_parent(sub);
        if (p)
            parent = p;
    }
    hwaddr off = gen_offset(parent->size, sub->size);
    int32_t prio = gen_prio();

    unsigned allowed = 0;
    if (parent->kind == SK_ALIAS)
        allowed |= X_INVAL;
    if (sub->parent >= 0)
        allowed |= X_BUSY;
    if ((mr_size_t)off + sub->size > TWO64)
        allowed |= X_INVAL;
    bool closes = false; /* the mapping closes a loop through an alias */
    if (parent == sub)
        allowed |= X_INVAL | X_LOOP;
    else if (contains_itself(parent->idx, sub->idx))
        allowed |= X_LOOP; /* a region inside itself */
    else if (reaches(sub->idx, parent->idx))
        closes = true;
    if (allowed && closes)
        allowed |= X_LOOP;
    if (!allowed) {
        if (closes) {
            RefChange chg = change_of(sub);
            chg.parent = &parent->mr;
            chg.addr = off;
            allowed = loop_verdict(&chg);
        } else {
            allowed = X_OK;
        }
    }

    Snap pre[NAS] = {0};
    pre_take(pre);
    bool plain = prio == 0 && ts_chance(30);
    int rc = plain ? memory_region_add_subregion(&parent->mr, off, &sub->mr)
                   : memory_region_add_subregion_overlap(&parent->mr, off, &sub->mr, prio);
    ts_trail.op++;
    ts_trail_note("add_subregion%s('%s', 0x%" PRIx64 ", '%s' size %s, prio %d) = %d",
                  plain ? "" : "_overlap", parent->name, off, sub->name, ts_hex128(sub->size, e),
                  prio, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "add_subregion");
    pre_free(pre);
    if (rc == -ELOOP && closes)
        loops.refused++;
    if (rc == 0 && closes)
        loops.created++;
    if (rc == 0) {
        sub->parent = parent->idx;
        sub->addr = off;
        sub->prio = prio;
        sub->seq = ++seq_counter;
    }
}

static void op_add(void)
{
    op_add_sub(NULL);
}

static void op_del(void)
{
    Slot *sub = pick(ts_chance(92) ? mapped : any_live);
    if (!sub)
        return;
    Slot *parent = sub->parent >= 0 && ts_chance(92) ? &slots[sub->parent] : pick(any_live);
    unsigned allowed = sub->parent == parent->idx ? X_OK : X_INVAL;
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_del_subregion(&parent->mr, &sub->mr);
    ts_trail.op++;
    ts_trail_note("del_subregion('%s', '%s') = %d", parent->name, sub->name, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "del_subregion");
    pre_free(pre);
    if (rc == 0)
        sub->parent = -1;
}

static void op_set_address(void)
{
    Slot *s = ts_chance(90) ? pick(mapped) : pick_target();
    if (!s)
        return;
    mr_size_t limit = s->parent >= 0 ? slots[s->parent].size : TWO64;
    hwaddr addr =
        ts_chance(20) ? s->addr + rnd_align(ts_rnd_below(0x2000)) : gen_offset(limit, s->size);
    if (s->idx < 2 && ts_chance(60))
        addr = 0; /* a top-level root mostly returns home */
    bool judged;
    unsigned allowed =
        expect_move(s, addr, (mr_size_t)addr + s->size > TWO64 ? X_INVAL : X_OK, &judged);
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_set_address(&s->mr, addr);
    ts_trail.op++;
    ts_trail_note("set_address('%s', 0x%" PRIx64 ") = %d", s->name, addr, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "set_address");
    pre_free(pre);
    loops.refused += judged && rc == -ELOOP;
    if (rc == 0 && addr != s->addr) { /* the address it has: no re-add (QEMU) */
        s->addr = addr;
        if (s->parent >= 0)
            s->seq = ++seq_counter; /* a move is a re-add */
    }
}

static void op_set_priority(void)
{
    Slot *s = pick(mapped);
    if (!s)
        return;
    int32_t prio = gen_prio();
    int rc = memory_region_set_priority(&s->mr, prio);
    ts_trail.op++;
    ts_trail_note("set_priority('%s', %d) = %d", s->name, prio, rc);
    check_rc(rc, X_OK, NULL, "set_priority");
    if (rc == 0 && prio != s->prio) { /* the priority it has: no re-add */
        s->prio = prio;
        s->seq = ++seq_counter;
    }
}

static void op_set_enabled(void)
{
    Slot *s = pick_target();
    if (!s)
        return;
    /* Keep the big roots mostly enabled so that the views have content. */
    bool en = s->idx < 2 ? ts_chance(80) : ts_chance(75);
    bool judged;
    unsigned allowed = expect_enable(s, en, &judged);
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_set_enabled(&s->mr, en);
    ts_trail.op++;
    ts_trail_note("set_enabled('%s', %d) = %d", s->name, en, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "set_enabled");
    pre_free(pre);
    loops.refused += judged && rc == -ELOOP;
    if (rc == 0)
        s->enabled = en;
}

static void op_set_readonly(void)
{
    Slot *s = pick_target();
    if (!s)
        return;
    bool ro = ts_chance(30);
    int rc = memory_region_set_readonly(&s->mr, ro);
    ts_trail.op++;
    ts_trail_note("set_readonly('%s', %d) = %d", s->name, ro, rc);
    check_rc(rc, X_OK, NULL, "set_readonly");
    if (rc == 0)
        s->readonly = ro;
}

static void op_set_nonvolatile(void)
{
    Slot *s = pick_target();
    if (!s)
        return;
    bool nv = ts_chance(35);
    int rc = memory_region_set_nonvolatile(&s->mr, nv);
    ts_trail.op++;
    ts_trail_note("set_nonvolatile('%s', %d) = %d", s->name, nv, rc);
    check_rc(rc, X_OK, NULL, "set_nonvolatile");
    if (rc == 0)
        s->nonvolatile = nv;
}

static void op_set_log(void)
{
    Slot *s = ts_chance(90) ? pick(ramlike_slot) : pick(any_live);
    if (!s)
        return;
    unsigned client = (unsigned)ts_rnd_below(DIRTY_MEMORY_NUM);
    bool on = ts_chance(60);
    unsigned allowed = is_ramlike(s) ? X_OK : X_INVAL;
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_set_log(&s->mr, on, client);
    ts_trail.op++;
    ts_trail_note("set_log('%s', %d, client %u) = %d", s->name, on, client, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "set_log");
    pre_free(pre);
    if (rc == 0) {
        if (on)
            s->logmask |= (uint8_t)(1u << client);
        else
            s->logmask &= (uint8_t) ~(1u << client);
    }
}

static void op_global_log(void)
{
    ts_trail.op++;
    if (global_log)
        memory_global_dirty_log_stop();
    else
        memory_global_dirty_log_start();
    global_log = !global_log;
    ts_trail_note("memory_global_dirty_log_%s()", global_log ? "start" : "stop");
}

static void op_set_romd(void)
{
    Slot *s = ts_chance(90) ? pick(romd_slot) : pick(any_live);
    if (!s)
        return;
    bool on = ts_chance(50);
    unsigned allowed = s->kind == SK_ROMD ? X_OK : X_INVAL;
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_rom_device_set_romd(&s->mr, on);
    ts_trail.op++;
    ts_trail_note("rom_device_set_romd('%s', %d) = %d", s->name, on, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "rom_device_set_romd");
    pre_free(pre);
    if (rc == 0)
        s->romd = on;
}

static void op_set_alias_offset(void)
{
    Slot *s = ts_chance(92) ? pick(alias_slot) : pick(any_live);
    if (!s)
        return;
    mr_size_t tsize = s->kind == SK_ALIAS ? slots[s->target].size : 0x1000;
    hwaddr off;
    if (ts_chance(30))
        off = s->alias_offset + rnd_align(ts_rnd_below(0x1000)) - (ts_chance(50) ? 0x800 : 0);
    else
        off = ts_chance(90) ? gen_offset(tsize, 0) : ts_rnd();
    unsigned allowed = X_OK;
    if (s->kind != SK_ALIAS || (mr_size_t)off + s->size > TWO64)
        allowed = X_INVAL;
    bool judged = allowed == X_OK && off != s->alias_offset && on_loop(s->idx);
    if (judged) {
        RefChange chg = change_of(s);
        chg.alias_offset = off;
        allowed = loop_verdict(&chg);
    }
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_set_alias_offset(&s->mr, off);
    ts_trail.op++;
    ts_trail_note("set_alias_offset('%s', 0x%" PRIx64 ") = %d", s->name, off, rc);
    check_rc(rc, allowed, PRE_PTR(pre), "set_alias_offset");
    pre_free(pre);
    loops.refused += judged && rc == -ELOOP;
    if (rc == 0)
        s->alias_offset = off;
}

static void op_set_size(void)
{
    char e[40];
    Slot *s = pick_target();
    if (!s)
        return;
    mr_size_t size;
    unsigned allowed = X_OK;
    switch (s->kind) {
    case SK_RAM:
    case SK_RAM_PTR:
    case SK_ROM:
    case SK_ROMD:
        if (ts_chance(10))
            size = s->alloc + 1 + ts_rnd_below(0x100); /* grow past the memory: refused */
        else if (ts_chance(5))
            size = 0;
        else if (ts_chance(40))
            size = s->alloc; /* back to full size */
        else
            size = 1 + ts_rnd_below(s->alloc);
        if (size > s->alloc)
            allowed = X_INVAL;
        if (size == 0)
            allowed = s->kind == SK_ROMD ? (X_OK | X_INVAL) : X_INVAL;
        break;
    case SK_ALIAS: {
        mr_size_t tsize = slots[s->target].size;
        if (ts_chance(50) && tsize > s->alias_offset)
            size = 1 + ts_rnd_below128(tsize - s->alias_offset);
        else
            size = ts_chance(10) ? TWO64 - s->alias_offset : gen_container_size();
        if ((mr_size_t)s->alias_offset + size > TWO64)
            allowed = X_INVAL;
        break;
    }
    default:
        size = ts_chance(60) ? 1 + rnd_align(ts_rnd_below(0x4000)) : gen_container_size();
        break;
    }
    if (s->idx < 3 && s->kind == SK_CONTAINER && ts_chance(60))
        size = root_size[s->idx]; /* a root mostly gets its size back */
    if (ts_chance(2))
        size = TWO64 + 1 + ts_rnd_below(10);
    if (size > TWO64)
        allowed = X_INVAL;
    if ((allowed & X_OK) && (mr_size_t)s->addr + size > TWO64)
        /* The region's address counts; for an unmapped region the header leaves it open. */
        allowed = s->parent >= 0 ? X_INVAL : (X_OK | X_INVAL);
    bool judged = (allowed & X_OK) && size > s->size && on_loop(s->idx);
    if (judged) {
        RefChange chg = change_of(s);
        chg.size = size;
        unsigned v = loop_verdict(&chg);
        allowed = allowed == X_OK ? v : (allowed | v);
    }
    Snap pre[NAS] = {0};
    pre_take(pre);
    int rc = memory_region_set_size(&s->mr, size);
    ts_trail.op++;
    ts_trail_note("set_size('%s', %s) = %d", s->name, ts_hex128(size, e), rc);
    check_rc(rc, allowed, PRE_PTR(pre), "set_size");
    pre_free(pre);
    loops.refused += judged && rc == -ELOOP;
    if (rc == 0)
        s->size = size;
}

static bool mapped_alias(const Slot *s)
{
    return s->kind == SK_ALIAS && s->parent >= 0;
}

/*
 * Create alias @f continuing mapped alias @a: same target, the next window,
 * mapped right after @a. Neighbouring pieces of one region then differ only
 * in their flags, which is where merging has to look at every flag.
 */
static void create_continuation(Slot *f, Slot *a)
{
    char e[40];
    mr_size_t off = (mr_size_t)a->alias_offset + a->size;
    mr_size_t size = 1 + ts_rnd_below(0x4000);
    if (off + size > TWO64)
        return;
    f->kind = SK_ALIAS;
    set_name(f);
    f->kind = SK_FREE;
    int rc = memory_region_init_alias(&f->mr, f->name, &slots[a->target].mr, (hwaddr)off, size);
    ts_trail_note("init alias '%s' -> '%s' offset 0x%" PRIx64 " size %s (continues '%s') = %d",
                  f->name, slots[a->target].name, (hwaddr)off, ts_hex128(size, e), a->name, rc);
    check_rc(rc, X_OK, NULL, "memory_region_init_alias");
    if (rc)
        return;
    record_fresh(f, SK_ALIAS, size);
    f->target = a->target;
    f->alias_offset = (hwaddr)off;
    if (ts_chance(50)) {
        bool nv = ts_chance(50);
        rc = nv ? memory_region_set_nonvolatile(&f->mr, true)
                : memory_region_set_readonly(&f->mr, true);
        ts_trail_note("set_%s('%s', 1) = %d", nv ? "nonvolatile" : "readonly", f->name, rc);
        check_rc(rc, X_OK, NULL, "set_readonly/nonvolatile");
        if (rc == 0 && nv)
            f->nonvolatile = true;
        else if (rc == 0)
            f->readonly = true;
    }
    if ((mr_size_t)a->addr + a->size + size > TWO64)
        return;
    hwaddr at = (hwaddr)(a->addr + a->size);
    Slot *parent = &slots[a->parent];
    rc = memory_region_add_subregion_overlap(&parent->mr, at, &f->mr, a->prio);
    ts_trail.op++;
    ts_trail_note("add_subregion_overlap('%s', 0x%" PRIx64 ", '%s', prio %d) = %d", parent->name,
                  at, f->name, a->prio, rc);
    bool closes = reaches(f->idx, parent->idx);
    unsigned allowed = X_OK;
    if (closes) {
        /* Judged after the call: the model sees the tree as it is, plus f. */
        RefChange chg = change_of(f);
        chg.parent = &parent->mr;
        chg.addr = at;
        chg.enabled = f->enabled;
        if (rc == 0)
            chg.parent = NULL; /* already mapped: judge the tree as it is */
        allowed = loop_verdict(&chg);
        loops.created += rc == 0;
        loops.refused += rc == -ELOOP;
    }
    check_rc(rc, allowed, NULL, "add_subregion_overlap");
    if (rc == 0) {
        f->parent = parent->idx;
        f->addr = at;
        f->prio = a->prio;
        f->seq = ++seq_counter;
    }
}

/* Destroy an unused region and create a new one in its place. */
static void op_recreate(void)
{
    Slot *s = ts_chance(80) ? pick(unmapped_child_candidate) : pick(any_live);
    if (s && s->idx >= 2) {
        ts_trail.op++;
        destroy_region(s);
    }
    Slot *f = pick(free_slot);
    Slot *a = ts_chance(25) ? pick(mapped_alias) : NULL;
    if (f && a) {
        ts_trail.op++;
        create_continuation(f, a);
    } else if (f) {
        ts_trail.op++;
        if (create_region(f, true) && ts_chance(70))
            op_add_sub(f);
    }
}

static void reroot(Slot *s);

/* Move address space 2 or 3 onto another region. */
static void op_reroot(void)
{
    Slot *s = ts_chance(70) ? pick(attached_container) : pick(any_live);
    if (s)
        reroot(s);
}

static void reroot(Slot *s)
{
    int k = ts_chance(50) ? 2 : 3;
    char name[8];
    snprintf(name, sizeof(name), "as%d", k);
    ts_trail.op++;
    address_space_destroy(&spaces[k]);
    as_live[k] = false;
    int rc = address_space_init(&spaces[k], &s->mr, name);
    ts_trail_note("address_space_init(%s, '%s') = %d", name, s->name, rc);
    check_rc(rc, X_OK, NULL, "address_space_init");
    if (rc == 0) {
        as_live[k] = true;
        as_root[k] = s->idx;
        as_unassigned[k] = ts_chance(50) ? 0x00 : (uint8_t)ts_rnd();
        address_space_set_unassigned_value(&spaces[k], as_unassigned[k]);
    }
}

/*
 * Deep chains of single children: DEEP_MIN..DEEP_MAX fresh containers of one
 * size, each the only child of the one above at offset 0, with a live
 * region (or nothing) at the bottom, hung under a window container beside
 * one sibling. The window becomes the root of as2 or as3, or a child of an
 * attached container. Then, and on later calls, the chain is made and
 * unmade: the sibling is disabled (the window's only child now starts the
 * chain) or enabled, a level is disabled, moved off offset 0 and back.
 * Ordinary random operations hit the same regions too. Such spaces once
 * made every commit loop forever.
 */
#define DEEP_MIN 9
#define DEEP_MAX 14

static struct {
    int idx[DEEP_MAX + 2]; /* [0] window, [1] sibling, [2..] chain levels */
    unsigned gen[DEEP_MAX + 2];
    int n;
} deep;

static Slot *deep_slot(int i)
{
    Slot *s = &slots[deep.idx[i]];
    return i < deep.n && is_live(s) && s->generation == deep.gen[i] ? s : NULL;
}

/* A fresh container of @size in a free slot (freeing an unmapped region if needed). */
static Slot *deep_container(mr_size_t size)
{
    Slot *f = pick(free_slot);
    for (int tries = 0; !f && tries < 8; tries++) {
        Slot *v = pick(unmapped_child_candidate);
        if (v && v->idx >= 3) {
            ts_trail.op++;
            destroy_region(v);
        }
        f = pick(free_slot);
    }
    if (!f)
        return NULL;
    f->kind = SK_CONTAINER;
    set_name(f);
    f->kind = SK_FREE;
    int rc = memory_region_init(&f->mr, f->name, size);
    ts_trail.op++;
    ts_trail_note("init container '%s' (deep chain) = %d", f->name, rc);
    check_rc(rc, X_OK, NULL, "memory_region_init");
    if (rc)
        return NULL;
    record_fresh(f, SK_CONTAINER, size);
    return f;
}

static void deep_link(Slot *parent, hwaddr off, Slot *sub, int32_t prio)
{
    unsigned allowed = reaches(sub->idx, parent->idx) ? X_LOOP : 0;
    if ((mr_size_t)off + sub->size > TWO64)
        allowed |= X_INVAL;
    if (sub->parent >= 0)
        allowed |= X_BUSY;
    if (!allowed)
        allowed = X_OK;
    int rc = memory_region_add_subregion_overlap(&parent->mr, off, &sub->mr, prio);
    ts_trail.op++;
    ts_trail_note("add_subregion_overlap('%s', 0x%" PRIx64 ", '%s', prio %d) = %d (deep chain)",
                  parent->name, off, sub->name, prio, rc);
    check_rc(rc, allowed, NULL, "add_subregion_overlap");
    if (rc == 0) {
        sub->parent = parent->idx;
        sub->addr = off;
        sub->prio = prio;
        sub->seq = ++seq_counter;
    }
}

static void deep_build(void)
{
    mr_size_t size = ts_chance(30) ? TWO64 : 0x1000 + rnd_align(ts_rnd_below(0x40000));
    int depth = DEEP_MIN + (int)ts_rnd_below(DEEP_MAX - DEEP_MIN + 1);
    Slot *window = deep_container(size);
    if (!window)
        return;
    deep.n = 0;
    deep.idx[deep.n] = window->idx, deep.gen[deep.n++] = window->generation;
    deep.idx[deep.n] = window->idx, deep.gen[deep.n++] = window->generation; /* sibling, below */
    Slot *above = window;
    for (int i = 0; i < depth; i++) {
        Slot *c = deep_container(size);
        if (!c)
            break;
        deep_link(above, 0, c, 0);
        deep.idx[deep.n] = c->idx, deep.gen[deep.n++] = c->generation;
        above = c;
    }
    /* Picked last: making room for the levels may have destroyed unmapped regions. */
    Slot *bottom = pick(unmapped_child_candidate);
    if (bottom && bottom->idx >= 3 && !reaches(bottom->idx, above->idx))
        deep_link(above, ts_chance(50) ? 0 : gen_offset(above->size, bottom->size), bottom, 0);
    Slot *sib = pick(unmapped_child_candidate);
    if (sib && sib->idx >= 3 && !reaches(sib->idx, window->idx)) {
        deep_link(window, gen_offset(window->size, sib->size), sib, 1);
        deep.idx[1] = sib->idx, deep.gen[1] = sib->generation;
    }
    if (ts_chance(75)) {
        reroot(window);
    } else {
        Slot *p = pick(attached_container);
        if (p && !reaches(window->idx, p->idx))
            deep_link(p, gen_offset(p->size, window->size), window, gen_prio());
    }
}

static void op_deep_chain(void)
{
    /* Mostly the sibling: turning it off starts the chain at the window. */
    Slot *s = deep_slot(ts_chance(50) ? 1 : (int)ts_rnd_below(deep.n ? (uint64_t)deep.n : 1));
    if (!s || ts_chance(20)) {
        if (tx_depth == 0) /* it destroys regions and re-roots spaces */
            deep_build();
        return;
    }
    if (ts_chance(60) || s->parent < 0) {
        bool en = !s->enabled || ts_chance(30), judged;
        /* A region of the chain may also sit on an alias loop. */
        unsigned allowed = expect_enable(s, en, &judged);
        int rc = memory_region_set_enabled(&s->mr, en);
        ts_trail.op++;
        ts_trail_note("set_enabled('%s', %d) = %d (deep chain)", s->name, en, rc);
        check_rc(rc, allowed, NULL, "set_enabled");
        loops.refused += judged && rc == -ELOOP;
        if (rc == 0)
            s->enabled = en;
        return;
    }
    /* Off offset 0 ends the chain above it; back to 0 restores it. */
    hwaddr addr = s->addr ? 0 : rnd_align(1 + ts_rnd_below(0x2000));
    bool judged;
    unsigned allowed =
        expect_move(s, addr, (mr_size_t)addr + s->size > TWO64 ? X_INVAL : X_OK, &judged);
    int rc = memory_region_set_address(&s->mr, addr);
    ts_trail.op++;
    ts_trail_note("set_address('%s', 0x%" PRIx64 ") = %d (deep chain)", s->name, addr, rc);
    check_rc(rc, allowed, NULL, "set_address");
    loops.refused += judged && rc == -ELOOP;
    if (rc == 0 && addr != s->addr) {
        s->addr = addr;
        s->seq = ++seq_counter;
    }
}

static void random_op(void);

/* A transaction around several operations; views must not move until the outermost commit. */
static void op_transaction(void)
{
    if (tx_depth == 0)
        for (int k = 0; k < NAS; k++)
            if (as_live[k])
                snap_take(k, &tx_snaps[k]);
    memory_region_transaction_begin();
    tx_depth++;
    ts_trail_note("transaction_begin (depth %d)", tx_depth);
    int n = ts_chance(10) ? 10 + (int)ts_rnd_below(30) : 1 + (int)ts_rnd_below(6);
    for (int i = 0; i < n && ts_trail.run_mismatches == 0; i++) {
        random_op();
        check_tree();
        for (int k = 0; k < NAS; k++)
            if (as_live[k]) {
                snap_check(k, &tx_snaps[k], "inside a transaction");
                stats.tx_checks++;
            }
    }
    memory_region_transaction_commit();
    tx_depth--;
    ts_trail_note("transaction_commit (depth %d)", tx_depth);
    if (tx_depth > 0) {
        for (int k = 0; k < NAS; k++)
            if (as_live[k])
                snap_check(k, &tx_snaps[k], "after an inner commit");
    } else {
        for (int k = 0; k < NAS; k++)
            snap_free(&tx_snaps[k]);
    }
}

static void random_op(void)
{
    unsigned r = (unsigned)ts_rnd_below(1000);
    if (r < 200)
        op_add();
    else if (r < 270)
        op_del();
    else if (r < 400)
        op_set_address();
    else if (r < 480)
        op_set_enabled();
    else if (r < 560)
        op_set_priority();
    else if (r < 620)
        op_set_alias_offset();
    else if (r < 680)
        op_set_readonly();
    else if (r < 710)
        op_set_nonvolatile();
    else if (r < 800)
        op_set_size();
    else if (r < 820)
        op_set_romd();
    else if (r < 835)
        op_set_log();
    else if (r < 840)
        op_global_log();
    else if (r < 900) {
        if (tx_depth < MAX_TX_DEPTH)
            op_transaction();
        else
            op_set_address();
    } else if (r < 985) {
        if (tx_depth == 0)
            op_recreate();
        else
            op_add();
    } else if (r < 990) {
        if (tx_depth == 0)
            op_reroot();
        else
            op_del();
    } else {
        op_deep_chain();
    }
}

/* ---- view checks ------------------------------------------------------------------- */

static const MemoryRegion *root_of(int k)
{
    return &slots[as_root[k]].mr;
}

static RefHit hit_from_range(const FlatRange *r, hwaddr addr)
{
    RefHit h = {.hit = true,
                .mr = r->mr,
                .offset = r->offset_in_region + (addr - r->addr),
                .readonly = r->readonly,
                .nonvolatile = r->nonvolatile,
                .romd_mode = r->romd_mode,
                .dirty_log_mask = r->dirty_log_mask};
    return h;
}

/* The range of @fv holding @addr, by a plain linear scan (independent of flatview_lookup). */
static const FlatRange *scan(FlatView *fv, hwaddr addr)
{
    size_t n = flatview_nr_ranges(fv);
    for (size_t i = 0; i < n; i++) {
        const FlatRange *r = flatview_range(fv, i);
        if (addr >= r->addr && (mr_size_t)addr < (mr_size_t)r->addr + r->size)
            return r;
    }
    return NULL;
}

/* Compare the model and the library at one address. */
static bool check_point(int k, FlatView *fv, const FlatRange *lib, hwaddr addr, const char *why)
{
    bool broken;
    RefHit want = refmodel_resolve(root_of(k), addr, &broken);
    RefHit got = lib ? hit_from_range(lib, addr) : (RefHit){0};
    stats.points++;
    if (broken) {
        ts_trail_mismatch("as%d: the model met a cycle at 0x%" PRIx64, k, addr);
        return false;
    }
    if (!refhit_equal(&want, &got)) {
        char a[160], b[160];
        ts_trail_mismatch("as%d 0x%016" PRIx64 " (%s): model %s, library %s", k, addr, why,
                          refhit_describe(&want, a, sizeof(a)),
                          refhit_describe(&got, b, sizeof(b)));
        return false;
    }
    (void)fv;
    return true;
}

static bool mergeable(const FlatRange *a, const FlatRange *b)
{
    return (mr_size_t)a->addr + a->size == b->addr && a->mr == b->mr &&
           (mr_size_t)a->offset_in_region + a->size == b->offset_in_region &&
           a->readonly == b->readonly && a->nonvolatile == b->nonvolatile &&
           a->romd_mode == b->romd_mode && a->dirty_log_mask == b->dirty_log_mask;
}

static hwaddr rnd_in(mr_size_t lo, mr_size_t hi) /* [lo, hi) */
{
    return (hwaddr)(lo + ts_rnd_below128(hi - lo));
}

static void check_view(int k)
{
    char a[40], b[40];
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    size_t n = flatview_nr_ranges(fv);
    stats.views++;
    stats.ranges += n;

    /* 1. Structure: sorted, in range, non-empty, terminating regions, not mergeable. */
    mr_size_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        const FlatRange *r = flatview_range(fv, i);
        mr_size_t end = (mr_size_t)r->addr + r->size;
        Slot *s = slot_of(r->mr);
        if (r->size == 0 || end > TWO64 || r->addr < prev_end || !s || s->kind == SK_CONTAINER ||
            s->kind == SK_ALIAS || s->kind == SK_FREE ||
            (mr_size_t)r->offset_in_region + r->size > memory_region_size(r->mr)) {
            ts_trail_mismatch(
                "as%d: range %zu is malformed: addr 0x%" PRIx64 " size %s region '%s' offset "
                "0x%" PRIx64 " (region size %s), previous end %s",
                k, i, r->addr, ts_hex128(r->size, a), s ? s->name : "?", r->offset_in_region,
                ts_hex128(r->mr ? memory_region_size(r->mr) : 0, b), ts_hex128(prev_end, a));
            flatview_unref(fv);
            return;
        }
        if (i > 0) {
            const FlatRange *p = flatview_range(fv, i - 1);
            if (p->mr == r->mr && (mr_size_t)p->addr + p->size == r->addr &&
                (mr_size_t)p->offset_in_region + p->size == r->offset_in_region)
                stats.flag_splits++;
        }
        if (i > 0 && mergeable(flatview_range(fv, i - 1), r))
            ts_trail_mismatch("as%d: ranges %zu and %zu at 0x%" PRIx64 " should have merged ('%s')",
                              k, i - 1, i, r->addr, s->name);
        prev_end = end;
    }

    /* 2. The whole view against the model's, range by range. */
    RefRange *mv;
    size_t mn = refmodel_flatten(root_of(k), &mv);
    if (mn == (size_t)-1) {
        ts_trail_mismatch("as%d: the model could not flatten the tree (cycle?)", k);
    } else {
        size_t m = mn < n ? mn : n;
        size_t i = 0;
        for (; i < m; i++) {
            const FlatRange *r = flatview_range(fv, i);
            RefHit got = hit_from_range(r, r->addr);
            if (mv[i].addr != r->addr || mv[i].size != r->size || !refhit_equal(&mv[i].hit, &got))
                break;
        }
        if (i < m || mn != n) {
            char x[160], y[160];
            if (i < m) {
                const FlatRange *r = flatview_range(fv, i);
                RefHit got = hit_from_range(r, r->addr);
                ts_trail_mismatch("as%d: flat range %zu differs: model [0x%" PRIx64
                                  ", +%s) %s; library "
                                  "[0x%" PRIx64 ", +%s) %s",
                                  k, i, mv[i].addr, ts_hex128(mv[i].size, a),
                                  refhit_describe(&mv[i].hit, x, sizeof(x)), r->addr,
                                  ts_hex128(r->size, b), refhit_describe(&got, y, sizeof(y)));
            } else if (mn > n) {
                ts_trail_mismatch(
                    "as%d: the model has %zu ranges, the library %zu; first extra at 0x%" PRIx64
                    " %s",
                    k, mn, n, mv[n].addr, refhit_describe(&mv[n].hit, x, sizeof(x)));
            } else {
                const FlatRange *r = flatview_range(fv, mn);
                RefHit got = hit_from_range(r, r->addr);
                ts_trail_mismatch(
                    "as%d: the model has %zu ranges, the library %zu; first extra at 0x%" PRIx64
                    " %s",
                    k, mn, n, r->addr, refhit_describe(&got, y, sizeof(y)));
            }
        }
        free(mv);
    }

    /* 3. Point by point: first, last and a random byte of every range and every gap. */
    mr_size_t cursor = 0;
    for (size_t i = 0; i <= n && ts_trail.run_mismatches == 0; i++) {
        mr_size_t gap_end = i < n ? (mr_size_t)flatview_range(fv, i)->addr : TWO64;
        if (gap_end > cursor) {
            check_point(k, fv, NULL, (hwaddr)cursor, "gap start");
            check_point(k, fv, NULL, (hwaddr)(gap_end - 1), "gap end");
            check_point(k, fv, NULL, rnd_in(cursor, gap_end), "inside a gap");
        }
        if (i == n)
            break;
        const FlatRange *r = flatview_range(fv, i);
        mr_size_t end = (mr_size_t)r->addr + r->size;
        if (flatview_lookup(fv, r->addr) != r || flatview_lookup(fv, (hwaddr)(end - 1)) != r)
            ts_trail_mismatch("as%d: flatview_lookup misses range %zu [0x%" PRIx64
                              ", +%s) at an edge",
                              k, i, r->addr, ts_hex128(r->size, a));
        check_point(k, fv, r, r->addr, "first byte of a range");
        check_point(k, fv, r, (hwaddr)(end - 1), "last byte of a range");
        check_point(k, fv, r, rnd_in(r->addr, end), "inside a range");
        cursor = end;
    }

    /* 4. Random addresses through every lookup path. */
    for (int j = 0; j < 8 && ts_trail.run_mismatches == 0; j++) {
        hwaddr addr;
        if (j < 4 && n) {
            /* Around a random range: its edges and their neighbours, or inside. */
            const FlatRange *r = flatview_range(fv, ts_rnd_below(n));
            mr_size_t end = (mr_size_t)r->addr + r->size;
            switch (j) {
            case 0:
                addr = r->addr - 1;
                break;
            case 1:
                addr = (hwaddr)end; /* wraps to 0 for a range ending at 2^64 */
                break;
            default:
                addr = rnd_in(r->addr, end);
                break;
            }
        } else {
            addr = ts_chance(50) ? ts_rnd() : gen_offset(TWO64, 0);
        }
        const FlatRange *lin = scan(fv, addr);
        const FlatRange *lk = flatview_lookup(fv, addr);
        if (lk != lin)
            ts_trail_mismatch("as%d 0x%" PRIx64 ": flatview_lookup gives range %p, a scan gives %p",
                              k, addr, (const void *)lk, (const void *)lin);
        check_point(k, fv, lin, addr, "random address");
        FlatRange fr;
        bool found = address_space_find_range(&spaces[k], addr, &fr);
        if (found != (lin != NULL) || (found && !ts_fr_same(&fr, lin)))
            ts_trail_mismatch(
                "as%d 0x%" PRIx64 ": address_space_find_range disagrees with the view", k, addr);
        for (int w = 0; w < 2; w++) {
            MemoryRegionSection sec;
            MemTxResult res =
                address_space_translate(&spaces[k], addr, w, MEMTXATTRS_UNSPECIFIED, &sec);
            bool bad = false;
            if (!lin) {
                /* The hole runs to the next range or the end of the space. */
                mr_size_t hole_end = TWO64;
                for (size_t q = 0; q < n; q++)
                    if (flatview_range(fv, q)->addr > addr) {
                        hole_end = flatview_range(fv, q)->addr;
                        break;
                    }
                bad =
                    res != MEMTX_DECODE_ERROR || sec.mr || sec.size != hole_end - addr || sec.host;
            } else {
                hwaddr off = lin->offset_in_region + (addr - lin->addr);
                Slot *s = slot_of(lin->mr);
                uint8_t *host = NULL;
                if (s->kind == SK_RAM || s->kind == SK_RAM_PTR || s->kind == SK_ROM) {
                    if (!w || !lin->readonly)
                        host = (uint8_t *)memory_region_get_ram_ptr(lin->mr) + off;
                } else if (s->kind == SK_ROMD && lin->romd_mode && !w) {
                    host = (uint8_t *)memory_region_get_ram_ptr(lin->mr) + off;
                }
                bad = res != MEMTX_OK || sec.mr != lin->mr || sec.offset_within_region != off ||
                      sec.size != (mr_size_t)lin->addr + lin->size - addr ||
                      sec.readonly != lin->readonly || sec.host != host;
            }
            if (bad || sec.offset_within_address_space != addr)
                ts_trail_mismatch(
                    "as%d 0x%" PRIx64 ": address_space_translate(%s) = %u, '%s'+0x%" PRIx64
                    " size %s host %p ro %d does not match the view",
                    k, addr, w ? "write" : "read", res, sec.mr ? memory_region_name(sec.mr) : "-",
                    sec.offset_within_region, ts_hex128(sec.size, a), (void *)sec.host,
                    sec.readonly);
        }
    }
    flatview_unref(fv);
}

/* ---- reads and writes against the memory model --------------------------------------- */

/* What one byte reads as, and the result bits it contributes. */
static void count_byte(const RefHit *h)
{
    Slot *s = h->hit ? slot_of(h->mr) : NULL;
    if (!s)
        stats.unassigned_bytes++;
    else if (s->kind == SK_MMIO || s->kind == SK_MMIO_NULL || (s->kind == SK_ROMD && !h->romd_mode))
        stats.mmio_bytes++;
    else
        stats.ram_bytes++;
}

static MemTxResult model_read_byte(int k, hwaddr addr, uint8_t *out)
{
    RefHit h = refmodel_resolve(root_of(k), addr, NULL);
    count_byte(&h);
    if (!h.hit) {
        *out = as_unassigned[k];
        return MEMTX_DECODE_ERROR;
    }
    Slot *s = slot_of(h.mr);
    switch (s->kind) {
    case SK_RAM:
    case SK_RAM_PTR:
    case SK_ROM:
        *out = s->shadow[h.offset];
        return MEMTX_OK;
    case SK_ROMD:
        *out = h.romd_mode ? s->shadow[h.offset] : s->devshadow[h.offset % s->devcap];
        return MEMTX_OK;
    case SK_MMIO:
        *out = s->devshadow[h.offset % s->devcap];
        return MEMTX_OK;
    default: /* a reservation: no callbacks */
        *out = 0;
        return MEMTX_DECODE_ERROR;
    }
}

/*
 * Apply one written byte to the model. Read-only applies to memory only:
 * RAM written through a read-only path keeps the byte and the write reports
 * MEMTX_DECODE_ERROR, as a ROM does in QEMU; device writes always reach the
 * device, as on QEMU.
 */
/* RAM bytes the model says the current write stores: they must turn dirty. */
static struct {
    Slot *s;
    hwaddr off;
} ram_written[16];
static unsigned nr_ram_written;

static MemTxResult model_write_byte(int k, hwaddr addr, uint8_t v)
{
    RefHit h = refmodel_resolve(root_of(k), addr, NULL);
    count_byte(&h);
    if (!h.hit)
        return MEMTX_DECODE_ERROR;
    Slot *s = slot_of(h.mr);
    switch (s->kind) {
    case SK_RAM:
    case SK_RAM_PTR:
    case SK_ROM:
        if (h.readonly)
            return MEMTX_DECODE_ERROR;
        s->shadow[h.offset] = v;
        ram_written[nr_ram_written].s = s;
        ram_written[nr_ram_written++].off = h.offset;
        return MEMTX_OK;
    case SK_ROMD:
    case SK_MMIO:
        s->devshadow[h.offset % s->devcap] = v;
        return MEMTX_OK;
    default:
        return MEMTX_DECODE_ERROR;
    }
}

static hwaddr pick_access_addr(int k, FlatView *fv, unsigned len)
{
    size_t n = flatview_nr_ranges(fv);
    hwaddr addr;
    unsigned r = (unsigned)ts_rnd_below(100);
    if (n && r < 60) {
        const FlatRange *fr = flatview_range(fv, ts_rnd_below(n));
        mr_size_t end = (mr_size_t)fr->addr + fr->size;
        if (ts_chance(30)) /* straddle the end of the range */
            addr = (hwaddr)(end - 1 - ts_rnd_below(len));
        else if (ts_chance(20))
            addr = fr->addr - ts_rnd_below(len);
        else
            addr = rnd_in(fr->addr, end);
    } else if (r < 85) {
        addr = gen_offset(TWO64, 0);
    } else {
        addr = ts_rnd();
    }
    (void)k;
    if ((mr_size_t)addr + len > TWO64)
        addr = (hwaddr)(TWO64 - len);
    return addr;
}

static void check_accesses(int k, int count)
{
    FlatView *fv = address_space_get_flatview(&spaces[k]);
    for (int j = 0; j < count && ts_trail.run_mismatches == 0; j++) {
        unsigned len = 1 + (unsigned)ts_rnd_below(16);
        hwaddr addr = pick_access_addr(k, fv, len);
        uint8_t buf[16], want[16];
        dev_error[0] = 0;
        stats.accesses++;
        if (ts_chance(50)) {
            MemTxResult exp = MEMTX_OK;
            for (unsigned i = 0; i < len; i++)
                exp |= model_read_byte(k, addr + i, &want[i]);
            memset(buf, 0x5a, sizeof(buf));
            MemTxResult res =
                address_space_read(&spaces[k], addr, MEMTXATTRS_UNSPECIFIED, buf, len);
            if (res != exp)
                ts_trail_mismatch("as%d: read of %u bytes at 0x%" PRIx64 " returned %u, model %u",
                                  k, len, addr, res, exp);
            for (unsigned i = 0; i < len; i++)
                if (buf[i] != want[i]) {
                    char d[160];
                    RefHit h = refmodel_resolve(root_of(k), addr + i, NULL);
                    ts_trail_mismatch("as%d: read of %u bytes at 0x%" PRIx64 ": byte %u (0x%" PRIx64
                                      ", model: %s) is 0x%02x, model 0x%02x",
                                      k, len, addr, i, addr + i, refhit_describe(&h, d, sizeof(d)),
                                      buf[i], want[i]);
                    break;
                }
            ts_trail_note("as%d read 0x%" PRIx64 " len %u = %u", k, addr, len, res);
        } else {
            fill_random(buf, len);
            MemTxResult exp = MEMTX_OK;
            nr_ram_written = 0;
            for (unsigned i = 0; i < len; i++)
                exp |= model_write_byte(k, addr + i, buf[i]);
            /* Clean the pages about to be written, for every logging client. */
            for (unsigned i = 0; i < nr_ram_written; i++) {
                uint8_t mask = memory_region_get_dirty_log_mask(&ram_written[i].s->mr);
                for (unsigned c = 0; c < DIRTY_MEMORY_NUM; c++)
                    if (mask & (1u << c))
                        memory_region_reset_dirty(&ram_written[i].s->mr, ram_written[i].off, 1, c);
            }
            MemTxResult res =
                address_space_write(&spaces[k], addr, MEMTXATTRS_UNSPECIFIED, buf, len);
            if (res != exp)
                ts_trail_mismatch("as%d: write of %u bytes at 0x%" PRIx64 " returned %u, model %u",
                                  k, len, addr, res, exp);
            for (unsigned i = 0; i < nr_ram_written; i++) {
                Slot *ws = ram_written[i].s;
                uint8_t mask = memory_region_get_dirty_log_mask(&ws->mr);
                for (unsigned c = 0; c < DIRTY_MEMORY_NUM; c++)
                    if ((mask & (1u << c)) &&
                        !memory_region_get_dirty(&ws->mr, ram_written[i].off, 1, c)) {
                        ts_trail_mismatch("as%d: write of %u bytes at 0x%" PRIx64
                                          " left '%s'+0x%" PRIx64 " clean for dirty-log client %u",
                                          k, len, addr, ws->name, ram_written[i].off, c);
                        break;
                    }
            }
            ts_trail_note("as%d write 0x%" PRIx64 " len %u = %u", k, addr, len, res);
        }
        if (dev_error[0])
            ts_trail_mismatch("as%d: access at 0x%" PRIx64 ": %s", k, addr, dev_error);
    }
    flatview_unref(fv);
}

/* Host memory and device storage against the model's copies. */
static void check_memory(void)
{
    for (int i = 0; i < NSLOTS; i++) {
        Slot *s = &slots[i];
        if (is_ramlike(s)) {
            const uint8_t *ram = memory_region_get_ram_ptr(&s->mr);
            if (ram && memcmp(ram, s->shadow, s->alloc) != 0) {
                size_t j = 0;
                while (ram[j] == s->shadow[j])
                    j++;
                ts_trail_mismatch("'%s': host memory at 0x%zx is 0x%02x, model 0x%02x", s->name, j,
                                  ram[j], s->shadow[j]);
            }
        }
        if (s->devbuf && memcmp(s->devbuf, s->devshadow, s->devcap) != 0) {
            size_t j = 0;
            while (s->devbuf[j] == s->devshadow[j])
                j++;
            ts_trail_mismatch("'%s': device storage at 0x%zx is 0x%02x, model 0x%02x", s->name, j,
                              s->devbuf[j], s->devshadow[j]);
        }
    }
}

static void full_check(void)
{
    check_tree();
    for (int k = 0; k < NAS && ts_trail.run_mismatches == 0; k++)
        if (as_live[k]) {
            check_view(k);
            check_accesses(k, 6);
        }
    if (ts_trail.op % 16 == 0)
        check_memory();
}

/* ---- one seed ------------------------------------------------------------------------ */

static void setup(uint64_t seed)
{
    ts_rng_state = seed * 0x2545f4914f6cdd1dull + 1;
    ts_trail_start(seed);
    seq_counter = 0;
    tx_depth = 0;
    memset(slots, 0, sizeof(slots));
    deep.n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        slots[i].idx = i;
        slots[i].parent = -1;
        slots[i].target = -1;
    }
    /* Two top-level roots and one container that also serves as a root. */
    static const char *const root_names[] = {"root0", "root1", "sub2"};
    root_size[0] = TWO64;
    root_size[1] = ts_chance(50) ? TWO64 : (mr_size_t)1 << 48;
    root_size[2] = ts_chance(50) ? TWO64 : 0x40000;
    for (int i = 0; i < 3; i++) {
        Slot *s = &slots[i];
        snprintf(s->name, sizeof(s->name), "%s", root_names[i]);
        int rc = memory_region_init(&s->mr, s->name, root_size[i]);
        if (rc) {
            ts_trail_mismatch("memory_region_init('%s') = %d", s->name, rc);
            return;
        }
        record_fresh(s, SK_CONTAINER, root_size[i]);
    }
    for (int i = 3; i < NSLOTS - 4; i++)
        create_region(&slots[i], i > 8);
    for (int k = 0; k < NAS; k++) {
        char name[8];
        snprintf(name, sizeof(name), "as%d", k);
        as_root[k] = k < 3 ? k : 0; /* as3 shares root0 with as0 */
        int rc = address_space_init(&spaces[k], &slots[as_root[k]].mr, name);
        if (rc) {
            ts_trail_mismatch("address_space_init(as%d) = %d", k, rc);
            return;
        }
        as_live[k] = true;
        as_unassigned[k] = k == 0 ? 0x00 : k == 1 ? 0xff : (uint8_t)ts_rnd();
        address_space_set_unassigned_value(&spaces[k], as_unassigned[k]);
    }
    /* sub2 lives inside root0; most other regions are mapped somewhere. */
    memory_region_transaction_begin();
    tx_depth++;
    if (memory_region_add_subregion(&slots[0].mr, 0x10000, &slots[2].mr) == 0) {
        slots[2].parent = 0;
        slots[2].addr = 0x10000;
        slots[2].seq = ++seq_counter;
    }
    for (int i = 0; i < 4 * NSLOTS; i++)
        op_add();
    memory_region_transaction_commit();
    tx_depth--;
    ts_trail.op = 0;
}

static void teardown(void)
{
    if (global_log) {
        memory_global_dirty_log_stop();
        global_log = false;
    }
    if (tx_depth) {
        /* A mismatch ended the seed inside a transaction. */
        while (tx_depth--)
            memory_region_transaction_commit();
        tx_depth = 0;
    }
    for (int k = 0; k < NAS; k++) {
        if (as_live[k])
            address_space_destroy(&spaces[k]);
        as_live[k] = false;
        snap_free(&tx_snaps[k]);
    }
    for (int i = 0; i < NSLOTS; i++)
        if (is_live(&slots[i]) && slots[i].parent >= 0) {
            int rc = memory_region_del_subregion(&slots[slots[i].parent].mr, &slots[i].mr);
            if (rc)
                ts_trail_mismatch("teardown: del_subregion('%s') = %d", slots[i].name, rc);
            slots[i].parent = -1;
        }
    /* Aliases go before their targets. */
    for (int pass = 0; pass < NSLOTS + 1; pass++) {
        bool any = false;
        for (int i = 0; i < NSLOTS; i++) {
            Slot *s = &slots[i];
            if (!is_live(s) || is_alias_target(s))
                continue;
            int rc = memory_region_destroy(&s->mr);
            if (rc)
                ts_trail_mismatch("teardown: destroy('%s') = %d (%s)", s->name, rc,
                                  memregion_last_error());
            free_memory(s);
            s->kind = SK_FREE;
            any = true;
        }
        if (!any)
            break;
    }
}

static uint64_t ops_per_seed;

static void run_one_seed(uint64_t seed)
{
    setup(seed);
    if (ts_trail.run_mismatches == 0)
        full_check();
    while (ts_trail.op < ops_per_seed && ts_trail.run_mismatches == 0) {
        uint64_t before = ts_trail.op;
        random_op();
        unsigned on_loops = aliases_on_loops();
        if (on_loops)
            loops.ops_in_mix += ts_trail.op - before;
        if (on_loops > loops.max_aliases)
            loops.max_aliases = on_loops;
        if (ts_trail.run_mismatches == 0)
            full_check();
    }
    if (ts_trail.run_mismatches == 0)
        check_memory();
    if (ts_trail.run_mismatches || ts_trail.verbose)
        print_context();
    ops_total += ts_trail.op;
    teardown();
}

/* One cmocka test: the seeds from state[0] to state[1] inclusive. */
static void run_seeds(void **state)
{
    const uint64_t *range = *state;
    uint64_t before = ts_trail.mismatches;
    for (uint64_t seed = range[0];; seed++) {
        run_one_seed(seed);
        if (seed == range[1])
            break;
    }
    assert_int_equal(ts_trail.mismatches - before, 0);
}

int main(void)
{
    refmodel_set_nonvolatile_fn(slot_nonvolatile, NULL);
    ops_per_seed = ts_env_u64("MEMREGION_DIFF_OPS", DEFAULT_OPS_PER_SEED);
    ts_trail.verbose = ts_env_u64("MEMREGION_DIFF_VERBOSE", 0) != 0;

    /* One cmocka test per seed of the fixed list, or one for the seeds asked for. */
    static uint64_t seeds[8][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {7, 7}, {8, 8}};
#define SEED_TEST(i)                                                                               \
    {                                                                                              \
        .name = "seed " #i, .test_func = run_seeds, .initial_state = seeds[i - 1]                  \
    }
    const struct CMUnitTest all_seeds[] = {SEED_TEST(1), SEED_TEST(2), SEED_TEST(3), SEED_TEST(4),
                                           SEED_TEST(5), SEED_TEST(6), SEED_TEST(7), SEED_TEST(8)};
    static uint64_t chosen[2];
    const struct CMUnitTest chosen_seeds[] = {
        {.name = "MEMREGION_SEED", .test_func = run_seeds, .initial_state = chosen}};
    int failed;
    const char *env_seed = getenv("MEMREGION_SEED");
    if (env_seed && *env_seed) {
        /* "<n>" or "<first>-<last>" */
        char *end;
        chosen[0] = chosen[1] = strtoull(env_seed, &end, 0);
        if (*end == '-')
            chosen[1] = strtoull(end + 1, &end, 0);
        if (*end || chosen[1] < chosen[0]) {
            fprintf(stderr, "MEMREGION_SEED: expected <n> or <first>-<last>, got %s\n", env_seed);
            return 2;
        }
        failed =
            cmocka_run_group_tests_name("differential (MEMREGION_SEED)", chosen_seeds, NULL, NULL);
    } else {
        failed = cmocka_run_group_tests_name("differential", all_seeds, NULL, NULL);
    }
    fflush(stderr);
    printf("checked: %" PRIu64 " views with %" PRIu64 " ranges, %" PRIu64 " addresses, %" PRIu64
           " accesses (%" PRIu64 " RAM/ROM, %" PRIu64 " device, %" PRIu64
           " unassigned bytes), %" PRIu64 " unchanged views in transactions, %" PRIu64
           " refused operations, %" PRIu64 " neighbours split by flags\n",
           stats.views, stats.ranges, stats.points, stats.accesses, stats.ram_bytes,
           stats.mmio_bytes, stats.unassigned_bytes, stats.tx_checks, stats.refused,
           stats.flag_splits);
    printf("alias loops: %" PRIu64
           " operations with self-referential aliases mapped (up to %" PRIu64 " at once), %" PRIu64
           " loops closed, %" PRIu64 " changes refused as past the bounds, %" PRIu64
           " changes judged by the model (%" PRIu64 " left open by its work bound)\n",
           loops.ops_in_mix, loops.max_aliases, loops.created, loops.refused, loops.judged,
           loops.open);
    printf("differential: %" PRIu64 " random operations, %" PRIu64 " mismatches\n", ops_total,
           ts_trail.mismatches);
    fflush(stdout);
    return failed || ts_trail.mismatches ? 1 : 0;
}
