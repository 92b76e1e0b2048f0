/*
 * Scenarios 2 and 3: host-side accesses.
 *
 * 2. 4-byte reads at random addresses over N RAM regions and N MMIO regions
 *    (4 KiB each, stride 8 KiB): memregion address_space_read (and
 *    address_space_ldl_le), Unicorn uc_mem_read, and the baseline's lookup
 *    plus copy (RAM) or callback (MMIO).
 * 3. Translate only (an emulator's TLB fill): address_space_translate
 *    against the baseline's lookup filling the same fields.
 *
 * Every peer reads the same values: the 4-byte word at address a holds
 * word_at(a), in RAM and from the MMIO callbacks alike. That is checked
 * before timing, so a peer that does not do the work cannot look fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicorn/unicorn.h>

/* The same inline read-side fast path the library compiles in (src/base.h),
 * so the pair measured below is what every access of the library pays. */
#define _LGPL_SOURCE
#include <urcu-bp.h>

#include "baseline.h"
#include "bench.h"
#include "devices.h"

enum { NR_ADDRS = 1 << 16, CHECKS = 4096 };
/* Scenarios 2 and 3 time each row's peers side by side in interleaved
 * rounds (measure_interleaved), each the median of ACCESS_RUNS runs, and
 * keep each peer's best round. */
#define ACCESS_ROUNDS (opt.quick ? 2u : 3u)
#define ACCESS_RUNS   3u

static inline uint32_t word_at(uint64_t addr)
{
    return (uint32_t)((addr >> 2) * 2654435761u) ^ 0x5a5a5a5au;
}

/* ---- the world: the same map in memregion, Unicorn and the baseline ------------- */

typedef struct World {
    uint64_t n;
    bool with_mmio, with_unicorn;
    /* memregion */
    MemoryRegion root;
    AddressSpace as;
    MemoryRegion *ram, *mmio;
    /* Unicorn */
    uc_engine *uc;
    /* baseline */
    BaseEntry *entries; /* n RAM entries, then n MMIO entries */
    BaseMap map;
    BasePageTable pt_ram, pt_mmio;
    bool have_pt;
    /* random addresses */
    uint64_t *ram_addrs, *mmio_addrs; /* uniformly random over the N regions */
    uint64_t *ram_one, *mmio_one;     /* random offsets in one region */
} World;

static uint64_t mmio_calls; /* callbacks seen, all peers */

static uint64_t mr_mmio_read(void *opaque, hwaddr off, unsigned size)
{
    (void)size;
    mmio_calls++;
    return word_at((uint64_t)(uintptr_t)opaque + off);
}

static const MemoryRegionOps mr_ops = {
    .read = mr_mmio_read,
    .write = bench_write_ignore,
    .valid = {.min_access_size = 1, .max_access_size = 8},
    .impl = {.min_access_size = 4, .max_access_size = 4},
};

static uint64_t uc_read_cb(uc_engine *uc, uint64_t off, unsigned size, void *user)
{
    (void)uc;
    (void)size;
    mmio_calls++;
    return word_at((uint64_t)(uintptr_t)user + off);
}

static void uc_write_cb(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *user)
{
    (void)uc;
    (void)off;
    (void)size;
    (void)v;
    (void)user;
}

static uint64_t base_read_cb(void *opaque, uint64_t off, unsigned size)
{
    (void)size;
    mmio_calls++;
    return word_at((uint64_t)(uintptr_t)opaque + off);
}

static void fill_pattern(uint32_t *p, uint64_t addr)
{
    for (uint64_t o = 0; o < REGION_SIZE; o += 4)
        p[o / 4] = word_at(addr + o);
}

static void world_init(World *w, uint64_t n, bool with_mmio, bool with_unicorn, bool fill)
{
    memset(w, 0, sizeof(*w));
    w->n = n;
    w->with_mmio = with_mmio;
    w->with_unicorn = with_unicorn;
    w->ram = calloc(n, sizeof(*w->ram));
    w->mmio = with_mmio ? calloc(n, sizeof(*w->mmio)) : NULL;
    w->entries = calloc(2 * n, sizeof(*w->entries));
    if (!w->ram || (with_mmio && !w->mmio) || !w->entries)
        bench_die("out of memory");
    if (memory_region_init(&w->root, "system", MR_SIZE_2_64))
        bench_die("init: %s", memregion_last_error());

    /* memregion: everything in one transaction. */
    memory_region_transaction_begin();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = RAM_BASE + i * REGION_STRIDE;
        if (memory_region_init_ram(&w->ram[i], "ram", REGION_SIZE) ||
            memory_region_add_subregion(&w->root, a, &w->ram[i]))
            bench_die("ram %llu: %s", (unsigned long long)i, memregion_last_error());
        if (fill)
            fill_pattern(memory_region_get_ram_ptr(&w->ram[i]), a);
        if (with_mmio) {
            uint64_t m = MMIO_BASE + i * REGION_STRIDE;
            if (memory_region_init_io(&w->mmio[i], &mr_ops, (void *)(uintptr_t)m, "mmio",
                                      REGION_SIZE) ||
                memory_region_add_subregion(&w->root, m, &w->mmio[i]))
                bench_die("mmio %llu: %s", (unsigned long long)i, memregion_last_error());
        }
    }
    memory_region_transaction_commit();
    if (address_space_init(&w->as, &w->root, "memory"))
        bench_die("address_space_init: %s", memregion_last_error());

    /* Unicorn: the same map (it has no batching). */
    if (with_unicorn) {
        uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &w->uc);
        if (e != UC_ERR_OK)
            bench_die("uc_open: %s", uc_strerror(e));
        uint32_t buf[REGION_SIZE / 4];
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = RAM_BASE + i * REGION_STRIDE;
            fill_pattern(buf, a);
            e = uc_mem_map(w->uc, a, REGION_SIZE, UC_PROT_ALL);
            if (e == UC_ERR_OK)
                e = uc_mem_write(w->uc, a, buf, REGION_SIZE);
            if (e == UC_ERR_OK && with_mmio) {
                uint64_t m = MMIO_BASE + i * REGION_STRIDE;
                e = uc_mmio_map(w->uc, m, REGION_SIZE, uc_read_cb, (void *)(uintptr_t)m,
                                uc_write_cb, NULL);
            }
            if (e != UC_ERR_OK)
                bench_die("Unicorn map %llu: %s", (unsigned long long)i, uc_strerror(e));
        }
    }

    /* Baseline: RAM entries share memregion's host memory (same cache footprint). */
    w->have_pt = pagetable_init(&w->pt_ram, RAM_BASE, n * REGION_STRIDE) &&
                 (!with_mmio || pagetable_init(&w->pt_mmio, MMIO_BASE, n * REGION_STRIDE));
    for (uint64_t i = 0; i < n; i++) {
        BaseEntry *e = &w->entries[i];
        e->start = RAM_BASE + i * REGION_STRIDE;
        e->size = REGION_SIZE;
        e->host = memory_region_get_ram_ptr(&w->ram[i]);
        e->opaque = &w->ram[i]; /* the region, for translate's result */
        if (!basemap_insert(&w->map, e))
            bench_die("baseline insert");
        if (w->have_pt)
            pagetable_set(&w->pt_ram, e->start, e->size, e);
        if (with_mmio) {
            e = &w->entries[n + i];
            e->start = MMIO_BASE + i * REGION_STRIDE;
            e->size = REGION_SIZE;
            e->read = base_read_cb;
            e->opaque = (void *)(uintptr_t)e->start;
            if (!basemap_insert(&w->map, e))
                bench_die("baseline insert");
            if (w->have_pt)
                pagetable_set(&w->pt_mmio, e->start, e->size, e);
        }
    }

    /* Random 4-byte aligned addresses inside the regions. */
    w->ram_addrs = malloc(NR_ADDRS * sizeof(uint64_t));
    w->mmio_addrs = malloc(NR_ADDRS * sizeof(uint64_t));
    w->ram_one = malloc(NR_ADDRS * sizeof(uint64_t));
    w->mmio_one = malloc(NR_ADDRS * sizeof(uint64_t));
    if (!w->ram_addrs || !w->mmio_addrs || !w->ram_one || !w->mmio_one)
        bench_die("out of memory");
    uint64_t s = 0x9e3779b97f4a7c15ull ^ n;
    for (unsigned i = 0; i < NR_ADDRS; i++) {
        uint64_t r = rng_next(&s) % n, o = (rng_next(&s) % (REGION_SIZE / 4)) * 4;
        w->ram_addrs[i] = RAM_BASE + r * REGION_STRIDE + o;
        w->mmio_addrs[i] = MMIO_BASE + r * REGION_STRIDE + o;
        w->ram_one[i] = RAM_BASE + (n / 2) * REGION_STRIDE + o;
        w->mmio_one[i] = MMIO_BASE + (n / 2) * REGION_STRIDE + o;
    }
}

static void world_destroy(World *w)
{
    if (w->uc)
        uc_close(w->uc);
    address_space_destroy(&w->as);
    memory_region_transaction_begin();
    for (uint64_t i = 0; i < w->n; i++) {
        memory_region_del_subregion(&w->root, &w->ram[i]);
        if (w->with_mmio)
            memory_region_del_subregion(&w->root, &w->mmio[i]);
    }
    memory_region_transaction_commit();
    for (uint64_t i = 0; i < w->n; i++) {
        memory_region_destroy(&w->ram[i]);
        if (w->with_mmio)
            memory_region_destroy(&w->mmio[i]);
    }
    memory_region_destroy(&w->root);
    if (w->have_pt) {
        pagetable_free(&w->pt_ram);
        if (w->with_mmio)
            pagetable_free(&w->pt_mmio);
    }
    basemap_free(&w->map);
    free(w->ram);
    free(w->mmio);
    free(w->entries);
    free(w->ram_addrs);
    free(w->mmio_addrs);
    free(w->ram_one);
    free(w->mmio_one);
}

/* ---- bodies ------------------------------------------------------------------------ */

typedef struct Ctx {
    World *w;
    const uint64_t *addrs;
    const BasePageTable *pt; /* the page table that covers addrs */
} Ctx;

#define MASK (NR_ADDRS - 1)

static void body_mr_read(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t v;
        address_space_read(&x->w->as, x->addrs[i & MASK], MEMTXATTRS_UNSPECIFIED, &v, 4);
        sum += v;
    }
    bench_sink += sum;
}

/* Reads inside the caller's read sections (memregion_read_section_begin),
 * one section per run of SECTION_RUN reads, as a vCPU loop holds one while
 * it executes a stretch of guest code. */
enum { SECTION_RUN = 1024 };

/* Run @body for i in [0, @iters), in sections of SECTION_RUN iterations. */
#define IN_SECTIONS(iters, i, body)                                                                \
    for (uint64_t i = 0; i < (iters);) {                                                           \
        uint64_t end_ = (iters)-i < SECTION_RUN ? (iters) : i + SECTION_RUN;                       \
        memregion_read_section_begin();                                                            \
        for (; i < end_; i++)                                                                      \
            body;                                                                                  \
        memregion_read_section_end();                                                              \
    }

static void body_mr_read_held(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    IN_SECTIONS(iters, i, {
        uint32_t v;
        address_space_read(&x->w->as, x->addrs[i & MASK], MEMTXATTRS_UNSPECIFIED, &v, 4);
        sum += v;
    });
    bench_sink += sum;
}

static void body_mr_ldl(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++)
        sum += address_space_ldl_le(&x->w->as, x->addrs[i & MASK], MEMTXATTRS_UNSPECIFIED, NULL);
    bench_sink += sum;
}

static void body_uc_read(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t v = 0;
        uc_mem_read(x->w->uc, x->addrs[i & MASK], &v, 4);
        sum += v;
    }
    bench_sink += sum;
}

static inline uint32_t base_access(const BaseEntry *e, uint64_t addr)
{
    uint32_t v = 0;
    if (!e)
        return 0;
    if (e->host)
        memcpy(&v, e->host + (addr - e->start), 4);
    else
        v = (uint32_t)e->read(e->opaque, addr - e->start, 4);
    return v;
}

static void body_base_read(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t a = x->addrs[i & MASK];
        sum += base_access(basemap_lookup(&x->w->map, a), a);
    }
    bench_sink += sum;
}

static void body_pt_read(void *c, uint64_t iters)
{
    Ctx *x = c;
    const BasePageTable *pt = x->pt;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t a = x->addrs[i & MASK];
        sum += base_access(pagetable_lookup(pt, a), a);
    }
    bench_sink += sum;
}

static void body_mr_translate(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        MemoryRegionSection s;
        address_space_translate(&x->w->as, x->addrs[i & MASK], false, MEMTXATTRS_UNSPECIFIED, &s);
        sum += (uintptr_t)s.host + s.offset_within_region;
    }
    bench_sink += sum;
}

/* Translates inside the caller's read sections, as QEMU's callers hold
 * rcu_read_lock() around address_space_translate. */
static void body_mr_translate_held(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    IN_SECTIONS(iters, i, {
        MemoryRegionSection s;
        address_space_translate(&x->w->as, x->addrs[i & MASK], false, MEMTXATTRS_UNSPECIFIED, &s);
        sum += (uintptr_t)s.host + s.offset_within_region;
    });
    bench_sink += sum;
}

/* The baseline's TLB fill: the same fields address_space_translate returns. */
static inline void base_fill(MemoryRegionSection *s, const BaseEntry *e, uint64_t addr)
{
    memset(s, 0, sizeof(*s));
    s->offset_within_address_space = addr;
    if (!e)
        return;
    s->mr = (MemoryRegion *)e->opaque;
    s->offset_within_region = addr - e->start;
    s->size = e->size - (addr - e->start);
    s->host = e->host ? e->host + (addr - e->start) : NULL;
}

static void body_base_translate(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t a = x->addrs[i & MASK];
        MemoryRegionSection s;
        base_fill(&s, basemap_lookup(&x->w->map, a), a);
        sum += (uintptr_t)s.host + s.offset_within_region;
    }
    bench_sink += sum;
}

static void body_pt_translate(void *c, uint64_t iters)
{
    Ctx *x = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t a = x->addrs[i & MASK];
        MemoryRegionSection s;
        base_fill(&s, pagetable_lookup(&x->w->pt_ram, a), a);
        sum += (uintptr_t)s.host + s.offset_within_region;
    }
    bench_sink += sum;
}

/* The floor of any RCU reader: an empty liburcu-bp read-side section, inline
 * as the library has it. */
static void body_rcu_pair(void *c, uint64_t iters)
{
    (void)c;
    for (uint64_t i = 0; i < iters; i++) {
        rcu_read_lock();
        rcu_read_unlock();
    }
}

static double rcu_pair_ns = -1;

/* Cost of rcu_read_lock() + rcu_read_unlock() in this process, measured once. */
static double rcu_pair_cost(void)
{
    if (rcu_pair_ns < 0)
        rcu_pair_ns = measure_ns_per_op(body_rcu_pair, NULL, 5);
    return rcu_pair_ns;
}

/* ---- checks ------------------------------------------------------------------------- */

/* Count of CHECKS sample reads that returned word_at(addr), and callbacks seen. */
typedef struct Check {
    unsigned ok;
    uint64_t calls;
} Check;

static Check check_reads(World *w, const uint64_t *addrs, const BasePageTable *pt, int peer)
{
    Check c = {0, 0};
    uint64_t before = mmio_calls;
    for (unsigned i = 0; i < CHECKS; i++) {
        uint64_t a = addrs[i];
        uint32_t v = 0;
        if (peer == 0) {
            address_space_read(&w->as, a, MEMTXATTRS_UNSPECIFIED, &v, 4);
        } else if (peer == 1) {
            if (uc_mem_read(w->uc, a, &v, 4) != UC_ERR_OK)
                continue;
        } else if (peer == 2) {
            v = base_access(basemap_lookup(&w->map, a), a);
        } else {
            v = base_access(pagetable_lookup(pt, a), a);
        }
        c.ok += v == word_at(a);
    }
    c.calls = mmio_calls - before;
    return c;
}

/* ---- scenario 2 ------------------------------------------------------------------------ */

enum {
    R_N,
    R_KIND,
    R_PATTERN,
    R_MR_READ,
    R_MR_HELD,
    R_MR_LDL,
    R_UC,
    R_BASE,
    R_PT,
    R_UC_VS_MR,
    R_MR_VS_BASE,
    R_MR_VS_PT,
    R_HELD_VS_PT,
    R_NR
};

static const char *const read_headers[R_NR] = {
    "N",
    "kind",
    "addresses",
    "memregion address_space_read",
    "memregion read in a read section",
    "memregion ldl_le",
    "Unicorn uc_mem_read",
    "baseline sorted+copy",
    "baseline page table+copy",
    "Unicorn/memregion",
    "memregion/baseline sorted",
    "memregion/baseline page table",
    "in a read section/baseline page table",
};

void scenario_read(void)
{
    printf("\n== Scenario 2: host-side 4-byte reads at random addresses ==\n");
    fflush(stdout);
    static const uint64_t ns_full[] = {16, 1024, 65536};
    static const uint64_t ns_quick[] = {16, 256};
    const uint64_t *ns = opt.quick ? ns_quick : ns_full;
    int nr_ns = opt.quick ? 2 : 3;
    /* Unicorn maps 2N regions here and aborts at ~4092: N <= 2046. */
    const uint64_t uc_max_n = 1024;

    Table *t = table_new(
        "Scenario 2: ns per 4-byte read at a random address (peers in interleaved rounds)", R_NR,
        read_headers);
    double worst_uc = 1e30, worst_base = 0;
    double wu_mr = 0, wu_uc = 0, wu_base = 0, wb_mr = 0, wb_base = 0;
    char worst_uc_row[64] = "", worst_base_row[64] = "";
    double uc_pat[2] = {1e30, 1e30}, base_pat[2] = {0, 0}; /* worst per address pattern */
    char bad[256] = "";
    bool uc_mmio_callbacks = true;
    uint64_t uc_mmio_calls = 0, uc_mmio_reads = 0;
    /* Fixed cost of one access (one region): worst MMIO/sorted and RAM/page-table ratios. */
    double mmio_one = 0, ram_one_pt = 0;
    char mmio_one_m[160] = "", ram_one_m[200] = "";

    for (int i = 0; i < nr_ns; i++) {
        uint64_t n = ns[i];
        if (!n_allowed(n))
            continue;
        bool with_uc = n <= uc_max_n;
        printf("  N=%llu: setting up%s\n", (unsigned long long)n,
               with_uc ? " (Unicorn maps are slow)" : "");
        fflush(stdout);
        World w;
        world_init(&w, n, true, with_uc, true);
        for (int row = 0; row < 4; row++) {
            int kind = row / 2, pat = row % 2;
            const uint64_t *addrs =
                kind == 0 ? (pat ? w.ram_one : w.ram_addrs) : (pat ? w.mmio_one : w.mmio_addrs);
            const BasePageTable *pt = kind == 0 ? &w.pt_ram : &w.pt_mmio;
            const char *kname = kind == 0 ? "RAM" : "MMIO";
            const char *pname = pat ? "one region" : "random region";
            /* Every peer must read word_at(addr). */
            for (int peer = 0; peer < 4; peer++) {
                if ((peer == 1 && !with_uc) || (peer == 3 && !w.have_pt))
                    continue;
                Check c = check_reads(&w, addrs, pt, peer);
                static const char *const peer_name[] = {"memregion", "Unicorn", "baseline sorted",
                                                        "baseline page table"};
                if (peer == 1 && kind == 1) {
                    uc_mmio_calls += c.calls;
                    uc_mmio_reads += CHECKS;
                    uc_mmio_callbacks &= c.calls == CHECKS;
                }
                if (c.ok != CHECKS)
                    snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad),
                             "%s %s N=%llu: %u/%u reads wrong; ", peer_name[peer], kname,
                             (unsigned long long)n, CHECKS - c.ok, CHECKS);
            }
            Ctx ctx = {&w, addrs, pt};
            const BenchBody peers[] = {{body_mr_read, &ctx},
                                       {body_mr_ldl, &ctx},
                                       {with_uc ? body_uc_read : NULL, &ctx},
                                       {body_base_read, &ctx},
                                       {w.have_pt ? body_pt_read : NULL, &ctx},
                                       {body_mr_read_held, &ctx}};
            double ns[6];
            measure_interleaved(6, peers, ACCESS_ROUNDS, ACCESS_RUNS, ns);
            double mr = ns[0], ldl = ns[1], uc = ns[2], base = ns[3], ptn = ns[4], held = ns[5];
            char a[32], rowname[64];
            snprintf(rowname, sizeof(rowname), "%s N=%llu %s", kname, (unsigned long long)n, pname);
            table_row(t);
            table_set(t, R_N, "%llu", (unsigned long long)n);
            table_set(t, R_KIND, "%s", kname);
            table_set(t, R_PATTERN, "%s", pname);
            table_set(t, R_MR_READ, "%s", fmt_time(a, sizeof(a), mr));
            table_set(t, R_MR_HELD, "%s", fmt_time(a, sizeof(a), held));
            table_set(t, R_MR_LDL, "%s", fmt_time(a, sizeof(a), ldl));
            if (with_uc)
                table_set(t, R_UC, "%s", fmt_time(a, sizeof(a), uc));
            else
                table_set(t, R_UC, "not run (2N > 4092 aborts)");
            table_set(t, R_BASE, "%s", fmt_time(a, sizeof(a), base));
            if (ptn > 0)
                table_set(t, R_PT, "%s", fmt_time(a, sizeof(a), ptn));
            if (with_uc) {
                table_set(t, R_UC_VS_MR, "%s", fmt_ratio(a, sizeof(a), uc / mr));
                if (uc / mr < uc_pat[pat])
                    uc_pat[pat] = uc / mr;
                if (uc / mr < worst_uc) {
                    worst_uc = uc / mr;
                    wu_mr = mr;
                    wu_uc = uc;
                    wu_base = base;
                    snprintf(worst_uc_row, sizeof(worst_uc_row), "%s", rowname);
                }
            }
            table_set(t, R_MR_VS_BASE, "%s", fmt_ratio(a, sizeof(a), mr / base));
            if (mr / base > base_pat[pat])
                base_pat[pat] = mr / base;
            if (mr / base > worst_base) {
                worst_base = mr / base;
                wb_mr = mr;
                wb_base = base;
                snprintf(worst_base_row, sizeof(worst_base_row), "%s", rowname);
            }
            if (ptn > 0) {
                table_set(t, R_MR_VS_PT, "%s", fmt_ratio(a, sizeof(a), mr / ptn));
                table_set(t, R_HELD_VS_PT, "%s", fmt_ratio(a, sizeof(a), held / ptn));
            }
            /* Judged on the slower of a read in a section of its own and one
             * inside a section the caller holds (whose callback has the
             * section ended before it, until a later hit reopens it). */
            double slower = held > mr ? held : mr;
            if (pat == 1 && kind == 1 && slower / base > mmio_one) {
                char x[32], y[32], z[32];
                mmio_one = slower / base;
                snprintf(mmio_one_m, sizeof(mmio_one_m),
                         "%s at N=%llu (%s, in a read section %s, against %s)",
                         fmt_ratio(a, sizeof(a), mmio_one), (unsigned long long)n,
                         fmt_time(x, sizeof(x), mr), fmt_time(z, sizeof(z), held),
                         fmt_time(y, sizeof(y), base));
            }
            if (pat == 1 && kind == 0 && ptn > 0 && held / ptn > ram_one_pt) {
                char x[32], y[32], z[32], u[32];
                ram_one_pt = held / ptn;
                snprintf(ram_one_m, sizeof(ram_one_m),
                         "%s at N=%llu (%s against %s; each read in a section of its own: %s, %s)",
                         fmt_ratio(a, sizeof(a), ram_one_pt), (unsigned long long)n,
                         fmt_time(x, sizeof(x), held), fmt_time(y, sizeof(y), ptn),
                         fmt_time(z, sizeof(z), mr), fmt_ratio(u, sizeof(u), mr / ptn));
            }
        }
        printf("    done\n");
        fflush(stdout);
        world_destroy(&w);
    }
    table_note(t,
               "each row's peers are timed side by side: best of %u interleaved rounds, each "
               "the median of %u runs",
               ACCESS_ROUNDS, ACCESS_RUNS);
    table_note(t, "N RAM and N MMIO regions of 4 KiB (stride 8 KiB) in one address space; "
                  "'random region': addresses uniformly random over the N regions of the row's "
                  "kind, so a most-recently-used shortcut rarely hits; 'one region': random "
                  "offsets inside one region, the shortcut's case");
    table_note(t, "memregion: address_space_read(as, addr, attrs, &v, 4) and "
                  "address_space_ldl_le; Unicorn: uc_mem_read(uc, addr, &v, 4); baseline: "
                  "binary search in a sorted array (or a direct page-table slot), then memcpy "
                  "(RAM) or a call of the read callback (MMIO); RAM of the baseline is "
                  "memregion's own host memory");
    table_note(t,
               "'in a read section': the same reads inside memregion_read_section_begin/end, "
               "one section per %u reads, as a vCPU loop holds one while it runs guest code; "
               "a RAM hit then enters no section of its own, and a device read has the "
               "section ended for its callback (the next RAM or translate hit opens it again)",
               (unsigned)SECTION_RUN);
    if (uc_mmio_reads)
        table_note(t,
                   "Unicorn MMIO: uc_mem_read %s the MMIO read callback (%llu callbacks for "
                   "%llu checked reads) and returned the callback's value; the MMIO rows "
                   "therefore time a full dispatch to the callback in all three peers",
                   uc_mmio_callbacks ? "calls" : "does NOT always call",
                   (unsigned long long)uc_mmio_calls, (unsigned long long)uc_mmio_reads);
    table_note(t,
               "every peer's reads were checked against the expected words before timing: "
               "%s",
               bad[0] ? bad : "all correct");
    table_print_free(t);

    char m[240], why[900], a[32], b[32], c[32], d[32], e[32];
    double pair = rcu_pair_cost();
    if (worst_uc < 1e30) {
        snprintf(m, sizeof(m), "worst %s (%s); worst with random regions %s, with one region %s",
                 fmt_ratio(a, sizeof(a), worst_uc), worst_uc_row,
                 fmt_ratio(b, sizeof(b), uc_pat[0]), fmt_ratio(c, sizeof(c), uc_pat[1]));
        snprintf(why, sizeof(why),
                 "in that row memregion takes %s, Unicorn %s and the sorted-array baseline %s: "
                 "even the baseline is only %s faster than uc_mem_read, so 5x needs all of "
                 "memregion's access (TLB or lookup, a read-side section of %s, the device "
                 "call record) to cost less than the baseline's bare search and call",
                 fmt_time(a, sizeof(a), wu_mr), fmt_time(b, sizeof(b), wu_uc),
                 fmt_time(c, sizeof(c), wu_base), fmt_ratio(d, sizeof(d), wu_uc / wu_base),
                 fmt_time(e, sizeof(e), pair));
        target_check(2, "address_space_read >= 5x faster than uc_mem_read", m,
                     worst_uc >= 5 ? TARGET_MET : TARGET_MISSED, why);
    } else {
        target_check(2, "address_space_read >= 5x faster than uc_mem_read", "not measured",
                     TARGET_NOT_MEASURED, "no row with Unicorn was run (--max-n)");
    }
    if (worst_base > 0) {
        snprintf(m, sizeof(m),
                 "worst %s of the sorted-array baseline (%s); worst with random regions %s, "
                 "with one region %s",
                 fmt_ratio(a, sizeof(a), worst_base), worst_base_row,
                 fmt_ratio(b, sizeof(b), base_pat[0]), fmt_ratio(c, sizeof(c), base_pat[1]));
        if (strstr(worst_base_row, "random"))
            snprintf(why, sizeof(why),
                     "in that row memregion takes %s against the baseline's %s: the pages are "
                     "too many for the thread's TLB, so each read misses it and searches the "
                     "view, three sorted arrays (node, chunk, range) where the baseline has one "
                     "array whose 40-byte entries hold the key and the data; at this size each "
                     "level, the flat range and for MMIO the region and its ops are cache "
                     "misses that depend on each other, and so are the CPU's own TLB "
                     "lookups: the map spans far more pages than its TLB reaches, where the "
                     "baseline's array fits; besides the RCU read-side section (%s) and for "
                     "MMIO the call record (bench/miss-probe counts a read's instructions and "
                     "simulated cache misses for both under callgrind, and times both; "
                     "docs/internals.md has its figures)",
                     fmt_time(a, sizeof(a), wb_mr), fmt_time(b, sizeof(b), wb_base),
                     fmt_time(d, sizeof(d), pair));
        else
            snprintf(why, sizeof(why),
                     "in that row memregion takes %s against the baseline's %s; the difference "
                     "(%s) is fixed per-access work: the RCU read-side section (%s), the TLB "
                     "check against the page's zone generation, and for MMIO the call record "
                     "(re-entrancy guard, destroy's wait) and the device byte order",
                     fmt_time(a, sizeof(a), wb_mr), fmt_time(b, sizeof(b), wb_base),
                     fmt_time(c, sizeof(c), wb_mr - wb_base), fmt_time(d, sizeof(d), pair));
        target_check(2, "address_space_read within 2x of the baseline", m,
                     worst_base <= 2 ? TARGET_MET : TARGET_MISSED, why);
    }
    if (mmio_one > 0) {
        snprintf(why, sizeof(why),
                 "the baseline calls the read callback right after its search; memregion "
                 "also checks the TLB entry against the page's zone generation, enters and "
                 "leaves an RCU read-side section (%s per pair), enters the thread's call "
                 "record before the section ends (the re-entrancy guard, and what destroy "
                 "waits for) and converts the value by device byte order; sizes the device "
                 "takes as they are already skip the adaptation rules (decided once per "
                 "region when its ops are set); inside a read section the caller holds, the "
                 "section is ended before the callback, so that the callback may wait for "
                 "other threads, and the read costs what one outside costs (read-mmio-held "
                 "in tests/perf/ceilings.txt)",
                 fmt_time(a, sizeof(a), pair));
        target_check(2,
                     "MMIO read, one region, <= 1.5x the sorted-array baseline (with and without a "
                     "read section)",
                     mmio_one_m, mmio_one <= 1.5 ? TARGET_MET : TARGET_MISSED,
                     mmio_one <= 1.5 ? NULL : why);
    }
    if (ram_one_pt > 0) {
        snprintf(why, sizeof(why),
                 "a page-table slot is one load before the copy; a TLB hit inside a read "
                 "section, which needs no stack frame, also reads liburcu-bp's nesting count, "
                 "checks the length and the page, follows the address space to its view slot "
                 "and reads the page's zone generation there (two dependent loads, the price of "
                 "commits that leave other pages' entries valid), loads the thread's TLB "
                 "pointer and compares the entry (instructions: read-ram-held in "
                 "tests/perf/ceilings.txt); a read in a section of its own adds liburcu-bp's "
                 "lock and unlock (%s per pair)",
                 fmt_time(a, sizeof(a), pair));
        target_check(2,
                     "RAM read, one region, through the TLB in a read section <= 3x the page "
                     "table",
                     ram_one_m, ram_one_pt <= 3 ? TARGET_MET : TARGET_MISSED,
                     ram_one_pt <= 3 ? NULL : why);
    }
    targets_print(2);
}

/* ---- scenario 3 ------------------------------------------------------------------------ */

enum {
    T_N,
    T_PATTERN,
    T_MR,
    T_MR_HELD,
    T_UC,
    T_BASE,
    T_PT,
    T_MR_VS_BASE,
    T_HELD_VS_BASE,
    T_MR_VS_PT,
    T_NR
};

static const char *const tr_headers[T_NR] = {
    "N",
    "addresses",
    "memregion address_space_translate",
    "memregion translate in a read section",
    "Unicorn",
    "baseline sorted lookup",
    "baseline page table",
    "memregion/baseline sorted",
    "in a read section/baseline sorted",
    "memregion/baseline page table",
};

void scenario_translate(void)
{
    printf("\n== Scenario 3: translate only (TLB fill) ==\n");
    fflush(stdout);
    static const uint64_t ns_full[] = {16, 1024, 65536, 1048576};
    static const uint64_t ns_quick[] = {16, 1024, 65536};
    const uint64_t *ns = opt.quick ? ns_quick : ns_full;
    int nr_ns = opt.quick ? 3 : 4;
    Table *t =
        table_new("Scenario 3: ns per translate (peers in interleaved rounds)", T_NR, tr_headers);
    double worst = 0, w_mr = 0, w_base = 0, w_own = 0;
    double worst_pat[2] = {0, 0};
    double worst_own = 0; /* each translate in a section of its own */
    char worst_row[64] = "", worst_own_row[64] = "";
    char bad[200] = "";

    for (int i = 0; i < nr_ns; i++) {
        uint64_t n = ns[i];
        if (!n_allowed(n))
            continue;
        printf("  N=%llu: setting up\n", (unsigned long long)n);
        fflush(stdout);
        World w;
        world_init(&w, n, false, false, false);
        /* translate must agree with the baseline on region, offset and host pointer. */
        unsigned wrong = 0;
        for (unsigned k = 0; k < CHECKS; k++) {
            MemoryRegionSection s, b;
            uint64_t a = w.ram_addrs[k];
            address_space_translate(&w.as, a, false, MEMTXATTRS_UNSPECIFIED, &s);
            base_fill(&b, basemap_lookup(&w.map, a), a);
            wrong += s.mr != b.mr || s.host != b.host ||
                     s.offset_within_region != b.offset_within_region || s.size != b.size;
        }
        if (wrong)
            snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "N=%llu: %u/%u differ; ",
                     (unsigned long long)n, wrong, CHECKS);
        for (int pat = 0; pat < 2; pat++) {
            Ctx ctx = {&w, pat == 0 ? w.ram_addrs : w.ram_one, &w.pt_ram};
            const BenchBody peers[] = {{body_mr_translate, &ctx},
                                       {body_base_translate, &ctx},
                                       {w.have_pt ? body_pt_translate : NULL, &ctx},
                                       {body_mr_translate_held, &ctx}};
            double ns[4];
            measure_interleaved(4, peers, ACCESS_ROUNDS, ACCESS_RUNS, ns);
            double own = ns[0], base = ns[1], pt = ns[2], mr = ns[3];
            char a[32];
            table_row(t);
            table_set(t, T_N, "%llu", (unsigned long long)n);
            table_set(t, T_PATTERN, "%s", pat == 0 ? "random region" : "one region");
            table_set(t, T_MR, "%s", fmt_time(a, sizeof(a), own));
            table_set(t, T_MR_HELD, "%s", fmt_time(a, sizeof(a), mr));
            table_set(t, T_UC, "n/a: no API");
            table_set(t, T_BASE, "%s", fmt_time(a, sizeof(a), base));
            if (pt > 0)
                table_set(t, T_PT, "%s", fmt_time(a, sizeof(a), pt));
            table_set(t, T_MR_VS_BASE, "%s", fmt_ratio(a, sizeof(a), own / base));
            table_set(t, T_HELD_VS_BASE, "%s", fmt_ratio(a, sizeof(a), mr / base));
            if (pt > 0)
                table_set(t, T_MR_VS_PT, "%s", fmt_ratio(a, sizeof(a), own / pt));
            if (own / base > worst_own) {
                worst_own = own / base;
                w_own = own;
                snprintf(worst_own_row, sizeof(worst_own_row), "N=%llu, %s", (unsigned long long)n,
                         pat == 0 ? "random region" : "one region");
            }
            if (mr / base > worst_pat[pat])
                worst_pat[pat] = mr / base;
            if (mr / base > worst) {
                worst = mr / base;
                w_mr = mr;
                w_base = base;
                snprintf(worst_row, sizeof(worst_row), "N=%llu, %s", (unsigned long long)n,
                         pat == 0 ? "random region" : "one region");
            }
        }
        world_destroy(&w);
    }
    table_note(t,
               "each row's peers are timed side by side: best of %u interleaved rounds, each "
               "the median of %u runs",
               ACCESS_ROUNDS, ACCESS_RUNS);
    table_note(t, "N RAM regions of 4 KiB (stride 8 KiB) in one address space; 'random "
                  "region': uniformly random over all N; 'one region': random offsets inside "
                  "one region (the most-recently-used shortcut's case)");
    table_note(t, "the baseline fills the same fields as address_space_translate (region, "
                  "offsets, size, host pointer) after a binary search in a sorted array, or "
                  "after a direct page-table lookup");
    table_note(t, "Unicorn exposes no translate call (its TLB fill is internal to the CPU "
                  "loop), so it has no column here");
    table_note(t,
               "'in a read section': inside memregion_read_section_begin/end, one section "
               "per %u translates, as QEMU's callers hold rcu_read_lock() around "
               "address_space_translate; a translate that hits the last-used range then "
               "enters no section of its own",
               (unsigned)SECTION_RUN);
    double pair = rcu_pair_cost();
    {
        char a[32];
        table_note(t,
                   "for scale: an empty rcu_read_lock() + rcu_read_unlock() of liburcu-bp "
                   "(inline, as the library uses it) costs %s in this process",
                   fmt_time(a, sizeof(a), pair));
    }
    table_note(t, "translate results were checked against the baseline before timing: %s",
               bad[0] ? bad : "all agree");
    table_print_free(t);
    if (worst > 0) {
        char m[300], why[900], a[32], b[32], c[32], d[32], e[32];
        snprintf(m, sizeof(m),
                 "worst %s of the sorted-array baseline (%s); worst with random regions %s, "
                 "with one region %s; each translate in a section of its own: worst %s (%s, %s)",
                 fmt_ratio(a, sizeof(a), worst), worst_row, fmt_ratio(b, sizeof(b), worst_pat[0]),
                 fmt_ratio(c, sizeof(c), worst_pat[1]), fmt_ratio(d, sizeof(d), worst_own),
                 worst_own_row, fmt_time(e, sizeof(e), w_own));
        if (strstr(worst_row, "random"))
            snprintf(why, sizeof(why),
                     "in that row translate takes %s against the baseline's %s: memregion's "
                     "search goes through three sorted arrays (node, chunk, range) where the "
                     "baseline has one whose entries hold the key and the answer, and at this "
                     "size each level and the flat range are cache misses that depend on each "
                     "other; rows this large scatter by 2x between runs on this machine",
                     fmt_time(a, sizeof(a), w_mr), fmt_time(b, sizeof(b), w_base));
        else
            snprintf(why, sizeof(why),
                     "in that row translate takes %s against the baseline's %s; the difference "
                     "(%s) is fixed per-call work: reading liburcu-bp's nesting count, "
                     "following the address space to its slot, view and most recently used "
                     "range, and filling the section (instructions: translate-one-held in "
                     "tests/perf/ceilings.txt); a translate in a section of its own adds "
                     "liburcu-bp's lock and unlock (%s per pair)",
                     fmt_time(a, sizeof(a), w_mr), fmt_time(b, sizeof(b), w_base),
                     fmt_time(c, sizeof(c), w_mr - w_base), fmt_time(d, sizeof(d), pair));
        target_check(3, "address_space_translate in a read section within 1.5x of the baseline", m,
                     worst <= 1.5 ? TARGET_MET : TARGET_MISSED, worst <= 1.5 ? NULL : why);
    }
    targets_print(3);
}
