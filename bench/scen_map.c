/*
 * Scenario 1: map N regions of 4 KiB one by one (stride 8 KiB), each in its
 * own commit, then unmap them one by one (last mapped first). Cost per op,
 * and the growth exponent of the per-op cost between successive N.
 *
 * One map op is what uc_mem_map/uc_mmio_map does: create the region
 * (memregion: memory_region_init_ram/_io, which for RAM allocates its host
 * memory) and map it (memory_region_add_subregion, an implicit commit). One
 * unmap op is what uc_mem_unmap does: unmap (memory_region_del_subregion,
 * an implicit commit) and free (memory_region_destroy). The baseline only
 * updates its index (sorted array insert/remove and page table slots).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicorn/unicorn.h>

#include "baseline.h"
#include "bench.h"
#include "devices.h"

typedef enum Kind { KIND_RAM, KIND_MMIO } Kind;

static const char *kind_name(Kind k)
{
    return k == KIND_RAM ? "RAM" : "MMIO";
}

static uint64_t kind_base(Kind k)
{
    return k == KIND_RAM ? RAM_BASE : MMIO_BASE;
}

/* Unicorn 2.0.1 aborts at ~4092 regions in one address space (see unicorn_abort_check). */
#define UNICORN_MAX_N 2048

typedef struct Phase {
    uint64_t asked, done;
    double total_ns; /* over the done ops */
    bool over_budget;
    /* When over budget: cost of the most recent chunk, and the region count there. */
    double tail_ns;
    uint64_t tail_at;
    char error[96]; /* non-empty: an operation failed */
} Phase;

typedef struct Row {
    bool ran;
    Phase map, unmap;
    /* memregion: the time of memory_region_init_* in a map op and of
     * memory_region_destroy in an unmap op, timed on one
     * op in SAMPLE_EVERY: a clock read costs tens of ns on some machines,
     * and reading it around every op would charge memregion's loop for
     * clock reads that Unicorn's loop does not make. */
    double init_ns, destroy_ns;
    uint64_t init_samples, destroy_samples;
} Row;

static double phase_avg(const Phase *p)
{
    return p->done ? p->total_ns / (double)p->done : -1;
}

static bool phase_complete(const Phase *p)
{
    return p->done == p->asked && !p->over_budget && !p->error[0];
}

/* Budget bookkeeping shared by the peers' loops. */
typedef struct Clock {
    uint64_t t0, chunk_t, budget_ns;
    uint64_t chunk_i;
} Clock;

enum { CHUNK = 256, SAMPLE_EVERY = 16 };

static void clock_start(Clock *c, double budget_s)
{
    c->t0 = c->chunk_t = now_ns();
    c->chunk_i = 0;
    c->budget_ns = (uint64_t)(budget_s * 1e9);
}

/* Called after op @i (0-based) of @p; returns false when over budget. */
static bool clock_tick(Clock *c, Phase *p, uint64_t i)
{
    if ((i + 1) % 16 != 0)
        return true;
    uint64_t t = now_ns();
    if ((i + 1) % CHUNK == 0) {
        p->tail_ns = (double)(t - c->chunk_t) / (double)(i + 1 - c->chunk_i);
        p->tail_at = i + 1;
        c->chunk_t = t;
        c->chunk_i = i + 1;
    }
    if (t - c->t0 > c->budget_ns) {
        p->over_budget = true;
        return false;
    }
    return true;
}

static void clock_stop(Clock *c, Phase *p, uint64_t done)
{
    p->total_ns += (double)(now_ns() - c->t0);
    p->done += done;
}

/* ---- memregion ---------------------------------------------------------------- */

static const MemoryRegionOps bench_mmio_ops = {
    .read = bench_read_offset,
    .write = bench_write_ignore,
};

static int mr_init(MemoryRegion *mr, Kind k)
{
    if (k == KIND_RAM)
        return memory_region_init_ram(mr, "bench-ram", REGION_SIZE);
    return memory_region_init_io(mr, &bench_mmio_ops, NULL, "bench-mmio", REGION_SIZE);
}

/* memregion's budget per phase: the million-region row gets 4x, so that its
 * growth target is measured rather than bounded. */
static double mr_budget(uint64_t n)
{
    return n >= 1048576 ? 4 * opt.budget_s : opt.budget_s;
}

static void run_memregion(Row *row, Kind k, uint64_t n, unsigned reps)
{
    MemoryRegion *regs = calloc(n, sizeof(*regs));
    if (!regs)
        bench_die("out of memory for %llu regions", (unsigned long long)n);
    /* The region structs are the caller's memory. calloc leaves a large array
     * unmapped until first written, and at N = 1M the first touch of 336 MB
     * (a page fault every 12 regions) would be timed as part of the map op. The
     * rows at small N reuse a warm array over their repetitions; touching the
     * array here puts every row on the same footing, so that the growth
     * exponent measures the library, not the caller's page faults. */
    for (size_t off = 0; off < n * sizeof(*regs); off += 4096)
        ((volatile char *)regs)[off] = 0;
    row->map.asked = row->unmap.asked = n * reps;
    for (unsigned rep = 0; rep < reps && !row->map.over_budget && !row->unmap.over_budget; rep++) {
        MemoryRegion root;
        AddressSpace as;
        if (memory_region_init(&root, "system", MR_SIZE_2_64) ||
            address_space_init(&as, &root, "memory"))
            bench_die("setup: %s", memregion_last_error());
        uint64_t base = kind_base(k);
        Clock c;
        uint64_t mapped = 0;
        clock_start(&c, mr_budget(n));
        for (uint64_t i = 0; i < n; i++) {
            bool sample = i % SAMPLE_EVERY == 0;
            uint64_t ti = sample ? now_ns() : 0;
            int err = mr_init(&regs[i], k);
            if (sample) {
                row->init_ns += (double)(now_ns() - ti);
                row->init_samples++;
            }
            if (!err) {
                err = memory_region_add_subregion(&root, base + i * REGION_STRIDE, &regs[i]);
                if (err)
                    memory_region_destroy(&regs[i]);
            }
            if (err) {
                snprintf(row->map.error, sizeof(row->map.error), "error at %llu: %s",
                         (unsigned long long)i, memregion_last_error());
                break;
            }
            mapped = i + 1;
            if (!clock_tick(&c, &row->map, i))
                break;
        }
        clock_stop(&c, &row->map, mapped);

        uint64_t left = mapped;
        if (phase_complete(&row->map) || rep + 1 < reps) {
            clock_start(&c, mr_budget(n));
            for (uint64_t j = 0; j < mapped; j++) {
                MemoryRegion *mr = &regs[mapped - 1 - j];
                int err = memory_region_del_subregion(&root, mr);
                bool sample = j % SAMPLE_EVERY == 0;
                uint64_t td = sample ? now_ns() : 0;
                if (!err)
                    err = memory_region_destroy(mr);
                if (sample) {
                    row->destroy_ns += (double)(now_ns() - td);
                    row->destroy_samples++;
                }
                if (err) {
                    snprintf(row->unmap.error, sizeof(row->unmap.error), "error: %s",
                             memregion_last_error());
                    break;
                }
                left--;
                if (!clock_tick(&c, &row->unmap, j))
                    break;
            }
            clock_stop(&c, &row->unmap, mapped - left);
        }
        /* Untimed cleanup of whatever is left: one commit, then destroy. */
        memory_region_transaction_begin();
        for (uint64_t i = 0; i < left; i++)
            memory_region_del_subregion(&root, &regs[i]);
        memory_region_transaction_commit();
        for (uint64_t i = 0; i < left; i++)
            memory_region_destroy(&regs[i]);
        address_space_destroy(&as);
        memory_region_destroy(&root);
        if (row->map.error[0] || row->unmap.error[0])
            break;
    }
    free(regs);
    row->ran = true;
}

/* ---- Unicorn --------------------------------------------------------------------- */

static uint64_t uc_mmio_read_cb(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    (void)size;
    (void)user;
    return offset;
}

static void uc_mmio_write_cb(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                             void *user)
{
    (void)uc;
    (void)offset;
    (void)size;
    (void)value;
    (void)user;
}

static void run_unicorn(Row *row, Kind k, uint64_t n, unsigned reps)
{
    row->map.asked = row->unmap.asked = n * reps;
    for (unsigned rep = 0; rep < reps && !row->map.over_budget && !row->unmap.over_budget; rep++) {
        uc_engine *uc;
        uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
        if (e != UC_ERR_OK)
            bench_die("uc_open: %s", uc_strerror(e));
        uint64_t base = kind_base(k);
        Clock c;
        uint64_t mapped = 0;
        clock_start(&c, opt.uc_budget_s);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = base + i * REGION_STRIDE;
            e = k == KIND_RAM ? uc_mem_map(uc, a, REGION_SIZE, UC_PROT_ALL)
                              : uc_mmio_map(uc, a, REGION_SIZE, uc_mmio_read_cb, NULL,
                                            uc_mmio_write_cb, NULL);
            if (e != UC_ERR_OK) {
                snprintf(row->map.error, sizeof(row->map.error), "error at %llu: %s",
                         (unsigned long long)i, uc_strerror(e));
                break;
            }
            mapped = i + 1;
            if (!clock_tick(&c, &row->map, i))
                break;
        }
        clock_stop(&c, &row->map, mapped);
        if (phase_complete(&row->map) || rep + 1 < reps) {
            uint64_t done = 0;
            clock_start(&c, opt.uc_budget_s);
            for (uint64_t j = 0; j < mapped; j++) {
                e = uc_mem_unmap(uc, base + (mapped - 1 - j) * REGION_STRIDE, REGION_SIZE);
                if (e != UC_ERR_OK) {
                    snprintf(row->unmap.error, sizeof(row->unmap.error), "error: %s",
                             uc_strerror(e));
                    break;
                }
                done++;
                if (!clock_tick(&c, &row->unmap, j))
                    break;
            }
            clock_stop(&c, &row->unmap, done);
        }
        uc_close(uc); /* frees whatever is still mapped */
        if (row->map.error[0] || row->unmap.error[0])
            break;
    }
    row->ran = true;
}

/* ---- baseline -------------------------------------------------------------------- */

static uint64_t base_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)size;
    return offset;
}

static void run_baseline(Row *row, Kind k, uint64_t n, unsigned reps)
{
    BaseEntry *pool = calloc(n, sizeof(*pool));
    if (!pool)
        bench_die("out of memory");
    uint64_t base = kind_base(k);
    BasePageTable pt;
    bool have_pt = pagetable_init(&pt, base, n * REGION_STRIDE);
    row->map.asked = row->unmap.asked = n * reps;
    for (unsigned rep = 0; rep < reps; rep++) {
        BaseMap m = {0};
        Clock c;
        clock_start(&c, opt.budget_s);
        for (uint64_t i = 0; i < n; i++) {
            BaseEntry *e = &pool[i];
            e->start = base + i * REGION_STRIDE;
            e->size = REGION_SIZE;
            e->read = k == KIND_MMIO ? base_mmio_read : NULL;
            if (!basemap_insert(&m, e))
                bench_die("baseline insert failed");
            if (have_pt)
                pagetable_set(&pt, e->start, e->size, e);
        }
        clock_stop(&c, &row->map, n);
        clock_start(&c, opt.budget_s);
        for (uint64_t j = 0; j < n; j++) {
            BaseEntry *e = &pool[n - 1 - j];
            if (!basemap_remove(&m, e->start))
                bench_die("baseline remove failed");
            if (have_pt)
                pagetable_set(&pt, e->start, e->size, NULL);
        }
        clock_stop(&c, &row->unmap, n);
        basemap_free(&m);
    }
    if (have_pt)
        pagetable_free(&pt);
    free(pool);
    row->ran = true;
}

/* ---- table ------------------------------------------------------------------------- */

static void cell_phase(Table *t, int col, const Phase *p, bool ran, double budget_s)
{
    char a[32], b[32];
    if (!ran)
        return;
    if (p->error[0])
        table_set(t, col, "%s", p->error);
    else if (p->over_budget)
        table_set(t, col, "skipped (over budget %.0fs): %llu/%llu done, avg %s, last %s", budget_s,
                  (unsigned long long)p->done, (unsigned long long)p->asked,
                  fmt_time(a, sizeof(a), phase_avg(p)),
                  p->tail_at ? fmt_time(b, sizeof(b), p->tail_ns) : "-");
    else if (p->done == 0)
        table_set(t, col, "not run");
    else
        table_set(t, col, "%s", fmt_time(a, sizeof(a), phase_avg(p)));
}

/* Growth exponent of the per-op cost from (n1, c1) to (n2, c2). */
static double growth(uint64_t n1, double c1, uint64_t n2, double c2)
{
    return log(c2 / c1) / log((double)n2 / (double)n1);
}

/* Exponent text: exact when both rows completed, a lower bound when the later row
 * ran over budget (its average so far can only grow: the per-op cost grows with
 * the number of regions). Returns NAN when nothing can be said. */
static double cell_growth(Table *t, int col, uint64_t n1, const Phase *p1, uint64_t n2,
                          const Phase *p2, bool *lower_bound)
{
    *lower_bound = false;
    if (!p1 || !phase_complete(p1) || p2->done == 0 || p2->error[0])
        return NAN;
    double g = growth(n1, phase_avg(p1), n2, phase_avg(p2));
    *lower_bound = !phase_complete(p2);
    table_set(t, col, "%s%.2f", *lower_bound ? ">=" : "", g);
    return g;
}

static const uint64_t all_n[] = {16, 256, 1024, 2048, 4096, 65536, 1048576};
enum { NR_N = sizeof(all_n) / sizeof(all_n[0]) };

enum {
    C_KIND,
    C_N,
    C_MR_MAP,
    C_MR_UNMAP,
    C_UC_MAP,
    C_UC_UNMAP,
    C_BASE_MAP,
    C_BASE_UNMAP,
    C_UC_VS_MR_MAP,
    C_UC_VS_MR_UNMAP,
    C_MR_VS_BASE_MAP,
    C_EXP_MR,
    C_EXP_UC,
    NR_COLS
};

static const char *const headers[NR_COLS] = {
    "kind",
    "N",
    "memregion map/op",
    "memregion unmap/op",
    "Unicorn map/op",
    "Unicorn unmap/op",
    "baseline map/op",
    "baseline unmap/op",
    "Unicorn/memregion map",
    "Unicorn/memregion unmap",
    "memregion/baseline map",
    "growth exp memregion map",
    "growth exp Unicorn map",
};

void scenario_map(void)
{
    printf("\n== Scenario 1: map N regions of 4 KiB one by one (stride 8 KiB), each in its "
           "own commit, then unmap them ==\n");
    fflush(stdout);
    Table *t = table_new("Scenario 1: cost per map op and unmap op (fresh address space per row)",
                         NR_COLS, headers);
    uint64_t uc_max = opt.quick ? 256 : UNICORN_MAX_N;
    Row mr_rows[2][NR_N], uc_rows[2][NR_N];
    memset(mr_rows, 0, sizeof(mr_rows));
    memset(uc_rows, 0, sizeof(uc_rows));
    double exp_mr_4096_65536[2] = {NAN, NAN};
    bool exp_lb[2] = {false, false};
    int i4096 = 4, i1m = 6; /* rows of all_n */

    for (int kk = 0; kk < 2; kk++) {
        Kind k = (Kind)kk;
        int prev = -1;
        for (int i = 0; i < NR_N; i++) {
            uint64_t n = all_n[i];
            if (!n_allowed(n))
                continue;
            /* Small N: repeat the whole cycle so that every row times >= 16384 ops. */
            unsigned reps = n >= 16384 ? 1 : (unsigned)(16384 / n);
            printf("  %s N=%llu: memregion", kind_name(k), (unsigned long long)n);
            fflush(stdout);
            Row *mr = &mr_rows[k][i], *uc = &uc_rows[k][i];
            Row base = {0};
            run_memregion(mr, k, n, reps);
            if (n <= uc_max) {
                printf(", Unicorn");
                fflush(stdout);
                /* Unicorn rows are slow: repeat only the tiny ones. */
                run_unicorn(uc, k, n, n >= 256 ? 1 : reps);
            }
            printf(", baseline\n");
            fflush(stdout);
            run_baseline(&base, k, n, reps);

            char a[32];
            table_row(t);
            table_set(t, C_KIND, "%s", kind_name(k));
            table_set(t, C_N, "%llu", (unsigned long long)n);
            cell_phase(t, C_MR_MAP, &mr->map, mr->ran, mr_budget(n));
            cell_phase(t, C_MR_UNMAP, &mr->unmap, mr->ran, mr_budget(n));
            if (uc->ran) {
                cell_phase(t, C_UC_MAP, &uc->map, true, opt.uc_budget_s);
                cell_phase(t, C_UC_UNMAP, &uc->unmap, true, opt.uc_budget_s);
            } else {
                table_set(t, C_UC_MAP, "%s",
                          n > UNICORN_MAX_N ? "not run (aborts at 4096)" : "not run (--quick)");
                table_set(t, C_UC_UNMAP, "not run");
            }
            cell_phase(t, C_BASE_MAP, &base.map, true, opt.budget_s);
            cell_phase(t, C_BASE_UNMAP, &base.unmap, true, opt.budget_s);
            if (uc->ran && phase_complete(&uc->map) && phase_complete(&mr->map))
                table_set(t, C_UC_VS_MR_MAP, "%s",
                          fmt_ratio(a, sizeof(a), phase_avg(&uc->map) / phase_avg(&mr->map)));
            if (uc->ran && phase_complete(&uc->unmap) && phase_complete(&mr->unmap))
                table_set(t, C_UC_VS_MR_UNMAP, "%s",
                          fmt_ratio(a, sizeof(a), phase_avg(&uc->unmap) / phase_avg(&mr->unmap)));
            if (mr->map.done)
                table_set(t, C_MR_VS_BASE_MAP, "%s%s", phase_complete(&mr->map) ? "" : ">=",
                          fmt_ratio(a, sizeof(a), phase_avg(&mr->map) / phase_avg(&base.map)));
            if (prev >= 0) {
                uint64_t pn = all_n[prev];
                bool lb;
                double g = cell_growth(t, C_EXP_MR, pn, &mr_rows[k][prev].map, n, &mr->map, &lb);
                if (pn == 4096 && n == 65536) {
                    exp_mr_4096_65536[k] = g;
                    exp_lb[k] = lb;
                }
                if (uc->ran && uc_rows[k][prev].ran)
                    cell_growth(t, C_EXP_UC, pn, &uc_rows[k][prev].map, n, &uc->map, &lb);
            }
            prev = i;
        }
    }

    table_note(t, "map op: memregion = memory_region_init_ram/_io + memory_region_add_subregion "
                  "(implicit commit); Unicorn = uc_mem_map / uc_mmio_map; baseline = sorted-array "
                  "insert + page-table slot (index only, no allocation)");
    table_note(t, "unmap op (last mapped first): memregion = memory_region_del_subregion "
                  "(implicit commit) + memory_region_destroy; Unicorn = uc_mem_unmap; baseline = "
                  "sorted-array remove + page-table slot");
    table_note(t, "growth exp = log(cost(N2)/cost(N1)) / log(N2/N1) of the per-op map cost "
                  "against the previous row: 0 = constant per op (linear total), 1 = per-op cost "
                  "proportional to N (quadratic total); '>=' marks a lower bound from a row that "
                  "ran over budget (the average so far can only grow with N)");
    table_note(t,
               "skipped rows: each phase has a budget of %.0fs (memregion at N=1048576: 4x); "
               "'avg' is the average over the "
               "ops done, 'last' the cost per op over the last %d ops before the budget ran "
               "out",
               opt.budget_s, CHUNK);
    table_note(t,
               "Unicorn rows stop at N=%d: Unicorn 2.0.1 aborts (assertion "
               "'map->sections_nb < TARGET_PAGE_SIZE' in phys_section_add) when one address "
               "space reaches ~4092 regions%s",
               UNICORN_MAX_N, opt.quick ? "; --quick also stops them at 256" : "");
    for (int kk = 0; kk < 2; kk++) {
        const Row *r = &mr_rows[kk][3];
        if (!r->ran || !phase_complete(&r->map) || !phase_complete(&r->unmap))
            continue;
        char a[32], b[32], c[32], d[32];
        table_note(
            t,
            "memregion %s at N=2048, where the time goes: map = init %s + "
            "add_subregion/commit %s; unmap = del_subregion/commit %s + destroy %s "
            "(destroy waits for an RCU grace period; init and destroy are timed on one op "
            "in %d, so that no clock read is added to the other ops)",
            kind_name((Kind)kk), fmt_time(a, sizeof(a), r->init_ns / (double)r->init_samples),
            fmt_time(b, sizeof(b), phase_avg(&r->map) - r->init_ns / (double)r->init_samples),
            fmt_time(c, sizeof(c),
                     phase_avg(&r->unmap) - r->destroy_ns / (double)r->destroy_samples),
            fmt_time(d, sizeof(d), r->destroy_ns / (double)r->destroy_samples), SAMPLE_EVERY);
    }
    table_note(t, "rows with N < 16384 repeat the whole map/unmap cycle 16384/N times (Unicorn: "
                  "only for N < 256); the table shows the average per op");
    table_print_free(t);

    /* Targets. */
    for (int kk = 0; kk < 2; kk++) {
        Kind k = (Kind)kk;
        int i2048 = 3;
        Row *mr = &mr_rows[k][i2048], *uc = &uc_rows[k][i2048];
        char what[128], measured[160], a[32], b[32], c[32];
        snprintf(what, sizeof(what), "%s map op at N=2048 >= 1000x faster than Unicorn",
                 kind_name(k));
        if (mr->ran && uc->ran && phase_complete(&mr->map) && phase_complete(&uc->map)) {
            double r = phase_avg(&uc->map) / phase_avg(&mr->map);
            snprintf(measured, sizeof(measured), "%s (memregion %s, Unicorn %s)",
                     fmt_ratio(a, sizeof(a), r), fmt_time(b, sizeof(b), phase_avg(&mr->map)),
                     fmt_time(c, sizeof(c), phase_avg(&uc->map)));
            double g = NAN;
            if (phase_complete(&mr_rows[k][0].map))
                g = growth(16, phase_avg(&mr_rows[k][0].map), 2048, phase_avg(&mr->map));
            double init = mr->init_ns / (double)mr->init_samples;
            char reason[600], d[32];
            snprintf(reason, sizeof(reason),
                     "the ratio needs <= %s per map op; memregion spends %s (init %s, "
                     "add_subregion + commit %s); its per-op growth exponent from N=16 to 2048 "
                     "is %.2f, so the gap is %s",
                     fmt_time(a, sizeof(a), phase_avg(&uc->map) / 1000),
                     fmt_time(b, sizeof(b), phase_avg(&mr->map)), fmt_time(c, sizeof(c), init),
                     fmt_time(d, sizeof(d), phase_avg(&mr->map) - init), g,
                     g < 0.3 ? "mostly a fixed cost per commit, not growth with N"
                             : "partly growth with N (work per commit proportional to the map)");
            target_check(1, what, measured, r >= 1000 ? TARGET_MET : TARGET_MISSED, reason);
        } else {
            target_check(1, what, "not measured", TARGET_NOT_MEASURED,
                         "the N=2048 row was not run to completion for both (--quick/--max-n, "
                         "budget or error)");
        }
        snprintf(what, sizeof(what), "%s growth exponent 4096 -> 65536 <= 0.3", kind_name(k));
        double g = exp_mr_4096_65536[k];
        if (isnan(g)) {
            target_check(1, what, "not measured", TARGET_NOT_MEASURED,
                         "the 4096 or 65536 row was not run (--max-n/--quick) or failed");
        } else if (exp_lb[k]) {
            snprintf(measured, sizeof(measured), ">= %.2f (lower bound: N=65536 ran over budget)",
                     g);
            target_check(1, what, measured, g > 0.3 ? TARGET_MISSED : TARGET_NOT_MEASURED,
                         g > 0.3 ? "the per-op cost grows faster than N^0.3 even by the lower "
                                   "bound: some work of each commit is proportional to the "
                                   "number of ranges; it must cost O(log n) in the ranges the "
                                   "commit does not touch"
                                 : "the N=65536 row ran over budget; the lower bound alone "
                                   "does not decide the target");
        } else {
            snprintf(measured, sizeof(measured), "%.2f", g);
            target_check(1, what, measured, g <= 0.3 ? TARGET_MET : TARGET_MISSED,
                         "some work of each commit is proportional to the number of ranges; it "
                         "must cost O(log n) in the ranges the commit does not touch");
        }
        /* The million-region row: the growth over 4096 -> 1M, from the two rows directly. */
        snprintf(what, sizeof(what), "%s growth exponent 4096 -> 1048576 <= 0.15", kind_name(k));
        const Phase *p4 = &mr_rows[k][i4096].map, *pm = &mr_rows[k][i1m].map;
        if (!mr_rows[k][i4096].ran || !mr_rows[k][i1m].ran || !phase_complete(p4) || !pm->done ||
            pm->error[0]) {
            target_check(1, what, "not measured", TARGET_NOT_MEASURED,
                         "the 4096 or 1048576 row was not run (--max-n/--quick) or failed");
        } else {
            double g = growth(4096, phase_avg(p4), 1048576, phase_avg(pm));
            bool lb = !phase_complete(pm);
            char e[32], f[32];
            snprintf(measured, sizeof(measured), "%s%.3f (%s per op at 4096, %s at 1M%s)",
                     lb ? ">= " : "", g, fmt_time(e, sizeof(e), phase_avg(p4)),
                     fmt_time(f, sizeof(f), phase_avg(pm)), lb ? ", over budget" : "");
            target_check(1, what, measured,
                         g <= 0.15 ? (lb ? TARGET_NOT_MEASURED : TARGET_MET) : TARGET_MISSED,
                         "a version shares every chunk (128 ranges) and node (64 chunks) it "
                         "does not change (a range mapped after the last one fills a free "
                         "slot of a shared chunk) and copies only the node array (n/8192 "
                         "entries); the caller's region array is touched before timing, so "
                         "its first-touch page faults (about half of a map op at 1M when "
                         "left in) are not counted; what remains of the growth is cache "
                         "misses of the 256x larger map (tree index, regions)");
        }
    }
    targets_print(1);
}
