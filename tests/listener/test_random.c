/*
 * Randomized listener test: random tree operations (add, del, move,
 * enable, readonly, nonvolatile, priority, alias offset, size, romd mode,
 * dirty logging, global logging, coalescing, eventfds, transactions, and
 * unregistering and registering a listener again) from
 * fixed seeds, on three address spaces with mirror listeners.
 *
 * After every operation, for every address space and mirror:
 *  - the mirror saw no protocol error (see mirror.h);
 *  - the mirror's ranges equal the FlatView, masks included;
 *  - the mirror's coalesced zones and eventfds equal what the attachments
 *    the test made give over the FlatView;
 *  - inside a transaction: the view is the one from before the outermost
 *    begin, and no range callback was sent;
 *  - after a commit that changed the view: exactly one update, whose
 *    region_del and region_add counts are the symmetric difference between
 *    the old and new views (no more, no less), region_nop the kept ranges
 *    whose mask changed (no others), log_start/log_stop the kept ranges
 *    whose mask gained/lost a client;
 *  - after a commit that left the view alone: no update at all (counted
 *    apart as "updates for unchanged views"; also a failure).
 *
 * Environment: MEMREGION_SEED=<n> runs that one seed instead of the fixed
 * list; MEMREGION_LISTENER_OPS=<n> sets the operations per seed.
 *
 * Prints "listener: N commits, M callbacks, K mismatches" and the count of
 * each callback kind.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lt.h"
#include "../support/rng.h"

#define NSLOT      28
#define NAS        3
#define NMIRROR    4
#define NFD        3
#define MAX_ATTACH 256
#ifndef MAX_REPORTS
#define MAX_REPORTS 20 /* mismatch lines printed per run */
#endif
#define DEFAULT_OPS 1500

static const uint64_t default_seeds[] = {1, 2, 3, 0x5eed, 0xdeadbeef, 20240601};

/* ---- random numbers (splitmix64) ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    return ts_rng_next(&rng_state);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* ---- the world --------------------------------------------------------------- */

typedef struct Slot {
    MemoryRegion *mr;
    MemoryRegionKind kind;
    mr_size_t init_size;
} Slot;

typedef struct World {
    uint64_t seed;
    Slot s[NSLOT];
    LtDev devs[NSLOT];
    AddressSpace *as[NAS];
    Mirror *m[NMIRROR];
    int m_as[NMIRROR]; /* index of the address space each mirror follows */
    MirrorSnap prev[NAS];
    unsigned long prev_updates[NMIRROR];
    unsigned long prev_errors[NMIRROR];
    MirrorAttach att[MAX_ATTACH];
    size_t nr_att;
    int fds[NFD];
    bool global_logging;
    int tx_depth;
    char op[160];
    unsigned long op_index;
} World;

static World w;

/* Totals over all seeds. */
static unsigned long total_commits, total_mismatches, total_silent;
static unsigned long total_cb[MCB_NR];
static unsigned long reports;

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mismatch(const char *fmt, ...)
{
    total_mismatches++;
    if (reports++ >= MAX_REPORTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "seed %" PRIu64 " op %lu (%s): ", w.seed, w.op_index, w.op);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool is_callback_region(int i)
{
    return w.s[i].kind == MR_KIND_MMIO || w.s[i].kind == MR_KIND_ROMD;
}

static void build_world(uint64_t seed)
{
    memset(&w, 0, sizeof(w));
    w.seed = seed;
    rng_state = seed;
    static const mr_size_t csize[5] = {0x100000, 0x20000, 0x10000, 0x8000, 0x40000};
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        w.s[i].mr = lt_container(name, csize[i]);
    }
    for (int i = 5; i <= 12; i++) {
        snprintf(name, sizeof(name), "ram%d", i);
        w.s[i].mr = lt_ram(name, 0x1000 * (mr_size_t)(i - 4));
    }
    for (int i = 13; i <= 18; i++) {
        snprintf(name, sizeof(name), "io%d", i);
        w.s[i].mr = lt_io(&lt_dev_ops, &w.devs[i], name, 0x100 << (i - 13));
    }
    w.s[19].mr = lt_romd(&lt_dev_ops, &w.devs[19], "romd19", 0x1000);
    w.s[20].mr = lt_romd(&lt_dev_ops, &w.devs[20], "romd20", 0x2000);
    w.s[21].mr = lt_alias("al21", w.s[5].mr, 0, 0x800);
    w.s[22].mr = lt_alias("al22", w.s[9].mr, 0x1000, 0x2000);
    w.s[23].mr = lt_alias("al23", w.s[2].mr, 0x100, 0x4000);
    w.s[24].mr = lt_alias("al24", w.s[13].mr, 0, 0x80);
    w.s[25].mr = lt_alias("al25", w.s[3].mr, 0, 0x8000);
    w.s[26].mr = lt_alias("al26", w.s[22].mr, 0x100, 0x800);
    w.s[27].mr = lt_alias("al27", w.s[20].mr, 0x800, 0x1000);
    for (int i = 0; i < NSLOT; i++) {
        w.s[i].kind = memory_region_kind(w.s[i].mr);
        w.s[i].init_size = memory_region_size(w.s[i].mr);
    }
    for (int i = 0; i < NFD; i++) {
        w.fds[i] = eventfd(0, EFD_NONBLOCK);
        assert_true(w.fds[i] >= 0);
    }
    /* A random initial map: every region has a chance to sit somewhere. */
    for (int i = 1; i < NSLOT; i++) {
        if (below(3) == 0)
            continue;
        int parent = (int)below(5);
        if (parent == i)
            continue;
        hwaddr off = below((uint64_t)(w.s[parent].init_size >> 8)) << 8;
        memory_region_add_subregion_overlap(w.s[parent].mr, off, w.s[i].mr, (int32_t)below(5) - 2);
    }
    w.as[0] = lt_as(w.s[0].mr, "as0");
    w.as[1] = lt_as(w.s[1].mr, "as1");
    w.as[2] = lt_as(w.s[4].mr, "as2");
    static const int prio[NMIRROR] = {0, 5, 0, -3};
    static const int on[NMIRROR] = {0, 0, 1, 2};
    for (int i = 0; i < NMIRROR; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        w.m[i] = lt_mirror(name, prio[i], w.as[on[i]]);
        w.m[i]->record = false;
        w.m[i]->print_errors = false;
        w.m_as[i] = on[i];
        w.prev_updates[i] = w.m[i]->updates;
    }
    for (int k = 0; k < NAS; k++)
        mirror_snap(w.as[k], &w.prev[k]);
}

/* ---- checks ---------------------------------------------------------------------- */

static bool snaps_equal(const MirrorSnap *a, const MirrorSnap *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!mirror_range_same(&a->r[i], &b->r[i]) ||
            a->r[i].dirty_log_mask != b->r[i].dirty_log_mask)
            return false;
    return true;
}

/* @attach_only: the operation touched only attachments (no view change possible). */
static void check_all(bool attach_only)
{
    char why[512];
    bool any_changed = false;
    for (int k = 0; k < NAS; k++) {
        MirrorSnap now;
        mirror_snap(w.as[k], &now);
        MirrorDiffCount d;
        mirror_diff_count(w.prev[k].r, w.prev[k].n, now.r, now.n, &d);
        bool changed = d.only_old || d.only_new || d.log_starts || d.log_stops;
        any_changed |= changed;
        if (w.tx_depth > 0 && !snaps_equal(&w.prev[k], &now))
            mismatch("as%d: the view changed inside a transaction", k);
        for (int i = 0; i < NMIRROR; i++) {
            if (w.m_as[i] != k)
                continue;
            Mirror *m = w.m[i];
            unsigned long delta = m->updates - w.prev_updates[i];
            if (m->errors != w.prev_errors[i])
                mismatch("%s: protocol error: %s", m->name, m->first_error);
            if (mirror_compare_view(m, w.as[k], why, sizeof(why)))
                mismatch("%s: mirror differs from the view: %s", m->name, why);
            if (mirror_compare_attachments(m, w.as[k], w.att, w.nr_att, why, sizeof(why)))
                mismatch("%s: attachments differ: %s", m->name, why);
            if (m->global_logging != w.global_logging)
                mismatch("%s: global logging %d, expected %d", m->name, m->global_logging,
                         w.global_logging);
            if (attach_only || w.tx_depth > 0) {
                /* Attachment updates only: no range or log callback. */
                if (delta > 1)
                    mismatch("%s: %lu updates for one attachment change", m->name, delta);
                if (delta &&
                    (m->last[MCB_REGION_ADD] || m->last[MCB_REGION_DEL] ||
                     m->last[MCB_REGION_NOP] || m->last[MCB_LOG_START] || m->last[MCB_LOG_STOP]))
                    mismatch("%s: range callbacks inside a transaction or for an attachment",
                             m->name);
            } else if (changed) {
                if (delta != 1) {
                    mismatch("%s: view changed, %lu updates", m->name, delta);
                } else if (m->last[MCB_REGION_DEL] != d.only_old ||
                           m->last[MCB_REGION_ADD] != d.only_new ||
                           m->last[MCB_REGION_NOP] != d.mask_changed ||
                           m->last[MCB_LOG_START] != d.log_starts ||
                           m->last[MCB_LOG_STOP] != d.log_stops) {
                    mismatch("%s: del %lu add %lu nop %lu log_start %lu log_stop %lu; minimal is "
                             "del %zu add %zu nop %zu log_start %zu log_stop %zu",
                             m->name, m->last[MCB_REGION_DEL], m->last[MCB_REGION_ADD],
                             m->last[MCB_REGION_NOP], m->last[MCB_LOG_START], m->last[MCB_LOG_STOP],
                             d.only_old, d.only_new, d.mask_changed, d.log_starts, d.log_stops);
                }
            } else if (delta) {
                /* The view did not change: nothing may be sent. */
                if (total_silent++ < 3)
                    fprintf(stderr,
                            "seed %" PRIu64 " op %lu (%s): %s: %lu updates (%lu nops) for an "
                            "unchanged view\n",
                            w.seed, w.op_index, w.op, m->name, delta, m->last[MCB_REGION_NOP]);
            }
            w.prev_updates[i] = m->updates;
            w.prev_errors[i] = m->errors;
        }
        if (w.tx_depth == 0) {
            mirror_snap_free(&w.prev[k]);
            w.prev[k] = now;
        } else {
            mirror_snap_free(&now);
        }
    }
    if (any_changed && w.tx_depth == 0)
        total_commits++;
}

/* ---- operations ---------------------------------------------------------------------- */

static int pick(bool (*ok)(int))
{
    int cand[NSLOT], n = 0;
    for (int i = 1; i < NSLOT; i++)
        if (ok(i))
            cand[n++] = i;
    return n ? cand[below((uint64_t)n)] : -1;
}

static bool is_mapped(int i)
{
    return memory_region_container(w.s[i].mr) != NULL;
}
static bool is_unmapped(int i)
{
    return !is_mapped(i);
}
static bool is_any(int i)
{
    (void)i;
    return true;
}
static bool is_alias(int i)
{
    return w.s[i].kind == MR_KIND_ALIAS;
}
static bool is_ram_backed(int i)
{
    return w.s[i].kind == MR_KIND_RAM || w.s[i].kind == MR_KIND_ROMD;
}
static bool is_romd(int i)
{
    return w.s[i].kind == MR_KIND_ROMD;
}
static bool is_cb(int i)
{
    return is_callback_region(i);
}
static bool is_resizable(int i)
{
    return w.s[i].kind != MR_KIND_ALIAS && w.s[i].kind != MR_KIND_ROMD;
}

static hwaddr rand_offset_in(int parent)
{
    uint64_t span = (uint64_t)(memory_region_size(w.s[parent].mr) >> 8);
    return below(span + 1) << 8;
}

static void expect_rc(int rc, int want, const char *what)
{
    if (rc != want)
        mismatch("%s returned %d, expected %d (%s)", what, rc, want, memregion_last_error());
}

/* Changes that may take an alias loop past its bounds: 0 or -ELOOP. */
static unsigned long loop_refusals;
static void expect_ok_or_loop(int rc, const char *what)
{
    if (rc == -ELOOP)
        loop_refusals++;
    else
        expect_rc(rc, 0, what);
}

static bool same_eventfd(const MirrorAttach *a, const MirrorAttach *b)
{
    return a->mr == b->mr && a->is_eventfd && b->is_eventfd && a->offset == b->offset &&
           a->size == b->size && a->match_data == b->match_data &&
           (!a->match_data || a->data == b->data) && a->fd == b->fd;
}

/* The test's table of attachments is full: an attachment the library took
 * but the table could not hold would make every later check fail, so no
 * attachment is added (long runs, MEMREGION_LISTENER_OPS, reach this). */
static bool attachments_full(void)
{
    if (w.nr_att < MAX_ATTACH)
        return false;
    snprintf(w.op, sizeof(w.op), "no attachment added: the test's table is full");
    return true;
}

/* One random operation. Returns true when it touched attachments only. */
static bool random_op(void)
{
    uint64_t r = below(100);
    int i;
    MemoryRegion *mr;
    if (r < 14) {
        if ((i = pick(is_unmapped)) < 0)
            return false;
        int parent = (int)below(5);
        if (parent == i)
            parent = 0;
        hwaddr off = rand_offset_in(parent);
        int32_t prio = (int32_t)below(5) - 2;
        snprintf(w.op, sizeof(w.op), "add %s to %s at 0x%" PRIx64 " prio %d",
                 memory_region_name(w.s[i].mr), memory_region_name(w.s[parent].mr), off, prio);
        int rc = memory_region_add_subregion_overlap(w.s[parent].mr, off, w.s[i].mr, prio);
        if (rc != 0 && rc != -ELOOP && rc != -EINVAL)
            mismatch("add returned %d", rc);
        return false;
    }
    if (r < 24) {
        if ((i = pick(is_mapped)) < 0)
            return false;
        mr = w.s[i].mr;
        snprintf(w.op, sizeof(w.op), "del %s", memory_region_name(mr));
        expect_rc(memory_region_del_subregion(memory_region_container(mr), mr), 0, "del");
        return false;
    }
    if (r < 38) {
        if ((i = pick(is_mapped)) < 0)
            return false;
        mr = w.s[i].mr;
        int parent = 0;
        for (int p = 0; p < 5; p++)
            if (w.s[p].mr == memory_region_container(mr))
                parent = p;
        hwaddr off = rand_offset_in(parent);
        snprintf(w.op, sizeof(w.op), "move %s to 0x%" PRIx64, memory_region_name(mr), off);
        expect_ok_or_loop(memory_region_set_address(mr, off), "set_address");
        return false;
    }
    if (r < 46) {
        i = pick(is_any);
        mr = w.s[i].mr;
        snprintf(w.op, sizeof(w.op), "enable %s %d", memory_region_name(mr),
                 !memory_region_is_enabled(mr));
        expect_ok_or_loop(memory_region_set_enabled(mr, !memory_region_is_enabled(mr)),
                          "set_enabled");
        return false;
    }
    if (r < 53) {
        i = pick(is_any);
        mr = w.s[i].mr;
        snprintf(w.op, sizeof(w.op), "readonly %s %d", memory_region_name(mr),
                 !memory_region_is_readonly(mr));
        expect_rc(memory_region_set_readonly(mr, !memory_region_is_readonly(mr)), 0,
                  "set_readonly");
        return false;
    }
    if (r < 59) {
        if ((i = pick(is_mapped)) < 0)
            return false;
        mr = w.s[i].mr;
        int32_t prio = (int32_t)below(5) - 2;
        snprintf(w.op, sizeof(w.op), "priority %s %d", memory_region_name(mr), prio);
        expect_rc(memory_region_set_priority(mr, prio), 0, "set_priority");
        return false;
    }
    if (r < 64) {
        i = pick(is_alias);
        mr = w.s[i].mr;
        hwaddr off = below(0x20) << 8;
        snprintf(w.op, sizeof(w.op), "alias offset %s 0x%" PRIx64, memory_region_name(mr), off);
        expect_ok_or_loop(memory_region_set_alias_offset(mr, off), "set_alias_offset");
        return false;
    }
    if (r < 71) {
        i = pick(is_ram_backed);
        mr = w.s[i].mr;
        bool on = below(2);
        unsigned client = (unsigned)below(DIRTY_MEMORY_NUM);
        snprintf(w.op, sizeof(w.op), "log %s %d client %u", memory_region_name(mr), on, client);
        expect_rc(memory_region_set_log(mr, on, client), 0, "set_log");
        return false;
    }
    if (r < 74) {
        i = pick(is_romd);
        mr = w.s[i].mr;
        snprintf(w.op, sizeof(w.op), "romd %s %d", memory_region_name(mr),
                 !memory_region_is_romd(mr));
        expect_rc(memory_region_rom_device_set_romd(mr, !memory_region_is_romd(mr)), 0, "romd");
        return false;
    }
    if (r < 79) {
        if (attachments_full())
            return true;
        i = pick(is_cb);
        mr = w.s[i].mr;
        uint64_t size = (uint64_t)memory_region_size(mr);
        hwaddr off = below(size >> 4) << 4;
        uint64_t len = (1 + below(8)) << 4;
        if (off + len > size)
            len = size - off;
        snprintf(w.op, sizeof(w.op), "coalesce %s 0x%" PRIx64 "+0x%" PRIx64, memory_region_name(mr),
                 off, len);
        expect_rc(memory_region_add_coalescing(mr, off, len), 0, "add_coalescing");
        w.att[w.nr_att++] = (MirrorAttach){.mr = mr, .offset = off, .size = len};
        return true;
    }
    if (r < 81) {
        i = pick(is_cb);
        mr = w.s[i].mr;
        snprintf(w.op, sizeof(w.op), "clear coalescing %s", memory_region_name(mr));
        memory_region_clear_coalescing(mr);
        for (size_t k = 0; k < w.nr_att;)
            if (w.att[k].mr == mr && !w.att[k].is_eventfd)
                w.att[k] = w.att[--w.nr_att];
            else
                k++;
        return true;
    }
    if (r < 87) {
        if (attachments_full())
            return true;
        i = pick(is_cb);
        mr = w.s[i].mr;
        uint64_t size = (uint64_t)memory_region_size(mr);
        MirrorAttach a = {
            .mr = mr,
            .is_eventfd = true,
            .offset = below(size / 4) * 4,
            .size = below(4) ? 4 : 0,
            .match_data = below(2),
            .data = below(4),
            .fd = w.fds[below(NFD)],
        };
        bool exists = false;
        for (size_t k = 0; k < w.nr_att; k++)
            exists |= same_eventfd(&w.att[k], &a);
        snprintf(w.op, sizeof(w.op), "add eventfd %s 0x%" PRIx64 " size %u match %d data %u",
                 memory_region_name(mr), a.offset, (unsigned)a.size, a.match_data,
                 (unsigned)a.data);
        expect_rc(
            memory_region_add_eventfd(mr, a.offset, (unsigned)a.size, a.match_data, a.data, a.fd),
            exists ? -EEXIST : 0, "add_eventfd");
        if (!exists)
            w.att[w.nr_att++] = a;
        return true;
    }
    if (r < 91) {
        size_t evs[MAX_ATTACH], n = 0;
        for (size_t k = 0; k < w.nr_att; k++)
            if (w.att[k].is_eventfd)
                evs[n++] = k;
        if (!n)
            return true;
        size_t k = evs[below(n)];
        MirrorAttach a = w.att[k];
        snprintf(w.op, sizeof(w.op), "del eventfd %s 0x%" PRIx64, memory_region_name(a.mr),
                 a.offset);
        int rc =
            memory_region_del_eventfd(a.mr, a.offset, (unsigned)a.size, a.match_data, a.data, a.fd);
        expect_rc(rc, 0, "del_eventfd");
        if (rc == 0) /* on failure the entry stays: keep following the library */
            w.att[k] = w.att[--w.nr_att];
        return true;
    }
    if (r < 92) {
        /* Unregister a mirror (it must end empty) and register it again (replay). */
        int k = (int)below(NMIRROR);
        Mirror *m = w.m[k];
        snprintf(w.op, sizeof(w.op), "re-register %s", m->name);
        mirror_unregister(m);
        if (m->errors != w.prev_errors[k])
            mismatch("%s: protocol error: %s", m->name, m->first_error);
        if (m->nr_ranges || m->nr_zones || m->nr_eventfds || m->global_logging)
            mismatch("%s: after unregister %zu ranges, %zu zones, %zu eventfds, global %d remain",
                     m->name, m->nr_ranges, m->nr_zones, m->nr_eventfds, m->global_logging);
        expect_rc(mirror_register(m, w.as[w.m_as[k]]), 0, "register");
        w.prev_updates[k] = m->updates;
        w.prev_errors[k] = m->errors;
        return true; /* checked like an attachment change: nothing more may follow */
    }
    if (r < 93) {
        w.global_logging = !w.global_logging;
        snprintf(w.op, sizeof(w.op), "global logging %d", w.global_logging);
        if (w.global_logging)
            memory_global_dirty_log_start();
        else
            memory_global_dirty_log_stop();
        return false;
    }
    if (r < 96) {
        i = pick(is_any);
        mr = w.s[i].mr;
        bool nv = below(2);
        snprintf(w.op, sizeof(w.op), "nonvolatile %s %d", memory_region_name(mr), nv);
        expect_rc(memory_region_set_nonvolatile(mr, nv), 0, "set_nonvolatile");
        return false;
    }
    i = pick(is_resizable);
    mr = w.s[i].mr;
    mr_size_t size = w.s[i].init_size;
    if (w.s[i].kind == MR_KIND_RAM)
        size = (mr_size_t)(1 + below((uint64_t)(size >> 8))) << 8; /* shrink or restore */
    else
        size = (mr_size_t)(1 + below((uint64_t)(size >> 7))) << 8; /* up to twice */
    snprintf(w.op, sizeof(w.op), "size %s 0x%" PRIx64, memory_region_name(mr), (uint64_t)size);
    expect_ok_or_loop(memory_region_set_size(mr, size), "set_size");
    return false;
}

static void run_seed(uint64_t seed, unsigned long ops)
{
    build_world(seed);
    check_all(false);
    for (w.op_index = 0; w.op_index < ops; w.op_index++) {
        if (w.tx_depth == 0 && below(12) == 0) {
            snprintf(w.op, sizeof(w.op), "begin");
            lt_begin();
            w.tx_depth++;
            unsigned n = 2 + (unsigned)below(6);
            for (unsigned k = 0; k < n && w.op_index < ops; k++, w.op_index++)
                check_all(random_op());
            lt_commit();
            w.tx_depth--;
            snprintf(w.op, sizeof(w.op), "commit");
            check_all(false);
        } else {
            check_all(random_op());
        }
    }
    for (int i = 0; i < NMIRROR; i++) {
        Mirror *m = w.m[i];
        for (int c = 0; c < MCB_NR; c++)
            total_cb[c] += m->total[c];
        mirror_unregister(m);
        snprintf(w.op, sizeof(w.op), "unregister %s", m->name);
        if (m->errors != w.prev_errors[i])
            mismatch("%s: protocol error: %s", m->name, m->first_error);
        if (m->nr_ranges || m->nr_zones || m->nr_eventfds || m->global_logging)
            mismatch("%s: after unregister %zu ranges, %zu zones, %zu eventfds, global %d remain",
                     m->name, m->nr_ranges, m->nr_zones, m->nr_eventfds, m->global_logging);
    }
    for (int k = 0; k < NAS; k++)
        mirror_snap_free(&w.prev[k]);
    lt_teardown(NULL);
    for (int i = 0; i < NFD; i++)
        close(w.fds[i]);
}

static void test_random(void **state)
{
    (void)state;
    unsigned long ops = DEFAULT_OPS;
    const char *e = getenv("MEMREGION_LISTENER_OPS");
    if (e && *e)
        ops = strtoul(e, NULL, 0);
    const char *s = getenv("MEMREGION_SEED");
    size_t nseeds = sizeof(default_seeds) / sizeof(default_seeds[0]);
    for (size_t k = 0; k < (s && *s ? 1 : nseeds); k++) {
        uint64_t seed = s && *s ? strtoull(s, NULL, 0) : default_seeds[k];
        run_seed(seed, ops);
    }
    unsigned long callbacks = 0;
    for (int c = 0; c < MCB_NR; c++)
        callbacks += total_cb[c];
    printf("listener: callback counts:");
    for (int c = 0; c < MCB_NR; c++)
        printf(" %s=%lu", mirror_cb_name((MirrorCb)c), total_cb[c]);
    printf("\nlistener: %lu updates for unchanged views\n", total_silent);
    printf("listener: %lu commits, %lu callbacks, %lu mismatches\n", total_commits, callbacks,
           total_mismatches);
    printf("listener: %lu changes refused as alias loops past their bounds\n", loop_refusals);
    assert_int_equal(total_mismatches, 0);
    assert_int_equal(total_silent, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_random),
    };
    return cmocka_run_group_tests_name("listener-random", tests, NULL, NULL);
}
