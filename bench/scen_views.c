/*
 * Scenarios 4 and 5: many address spaces, and readers against a writer.
 *
 * The machine: system memory holds 500 RAM and 500 MMIO regions of 4 KiB
 * and a PCI memory window (a container) with one device's 16 KiB BAR.
 *
 * 4. 256 bus-master address spaces, one per PCI device, each a container
 *    holding an enabled alias of system memory (QEMU's bus-master view).
 *    The BAR moves between two addresses; each move is one commit
 *    (memory_region_set_address). Cost per move with the 256 views against
 *    the same machine with only the system address space, and FlatViews
 *    rendered per move (memregion_stat_renders()).
 * 5. One thread reads at random RAM addresses while another moves the BAR
 *    in a loop: reader throughput relative to the same reader alone. A
 *    last row has the writer's commits touch the reader's pages: the reader
 *    reads 8 RAM pages and the writer moves a RAM overlay (priority 1) from
 *    one of them to the next, so each commit changes 2 of the 8 pages and
 *    the reader's cached entries for them are really invalidated.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unicorn/unicorn.h>
#include <urcu-bp.h>

#include "baseline.h"
#include "bench.h"
#include "devices.h"

enum { NR_RAM = 500, NR_MMIO = 500, NR_DEVS = 256, NR_ADDRS = 1 << 16 };

#define PCI_BASE 0xC0000000ull /* PCI memory window in system memory */
#define PCI_SIZE 0x20000000ull
#define BAR_SIZE 0x4000ull
#define BAR_A    0x10000000ull /* BAR offsets inside the window */
#define BAR_B    0x18000000ull
#define MSI_ADDR 0xFEE00000ull

static uint64_t dev_read(void *opaque, hwaddr off, unsigned size)
{
    (void)size;
    __atomic_add_fetch((uint64_t *)opaque, 1, __ATOMIC_RELAXED);
    return off;
}

static const MemoryRegionOps dev_ops = {.read = dev_read, .write = bench_write_ignore};

typedef struct Machine {
    MemoryRegion system, pci, bar;
    MemoryRegion ram[NR_RAM], mmio[NR_MMIO];
    AddressSpace as;
    uint64_t calls;
    /* bus-master views */
    unsigned nr_devs;
    bool unshared;
    MemoryRegion bm_root[NR_DEVS], bm_alias[NR_DEVS], msi[NR_DEVS];
    AddressSpace bm_as[NR_DEVS];
    uint64_t ram_addrs[NR_ADDRS];
} Machine;

static void die_mr(const char *what)
{
    bench_die("%s: %s", what, memregion_last_error());
}

static Machine *machine_new(void)
{
    Machine *m = calloc(1, sizeof(*m));
    if (!m)
        bench_die("out of memory");
    if (memory_region_init(&m->system, "system", MR_SIZE_2_64) ||
        memory_region_init(&m->pci, "pci-mem", PCI_SIZE) ||
        memory_region_init_io(&m->bar, &dev_ops, &m->calls, "bar0", BAR_SIZE))
        die_mr("machine");
    memory_region_transaction_begin();
    for (unsigned i = 0; i < NR_RAM; i++)
        if (memory_region_init_ram(&m->ram[i], "ram", REGION_SIZE) ||
            memory_region_add_subregion(&m->system, RAM_BASE + i * REGION_STRIDE, &m->ram[i]))
            die_mr("ram");
    for (unsigned i = 0; i < NR_MMIO; i++)
        if (memory_region_init_io(&m->mmio[i], &dev_ops, &m->calls, "mmio", REGION_SIZE) ||
            memory_region_add_subregion(&m->system, MMIO_BASE + i * REGION_STRIDE, &m->mmio[i]))
            die_mr("mmio");
    if (memory_region_add_subregion(&m->system, PCI_BASE, &m->pci) ||
        memory_region_add_subregion(&m->pci, BAR_A, &m->bar))
        die_mr("pci");
    memory_region_transaction_commit();
    if (address_space_init(&m->as, &m->system, "memory"))
        die_mr("address space");
    uint64_t s = 12345;
    for (unsigned i = 0; i < NR_ADDRS; i++)
        m->ram_addrs[i] = RAM_BASE + (rng_next(&s) % NR_RAM) * REGION_STRIDE +
                          (rng_next(&s) % (REGION_SIZE / 4)) * 4;
    return m;
}

/* Add @n bus-master address spaces; @unshared adds a per-device MSI window to
 * each, which makes every view distinct (nothing can be shared). */
static void machine_add_bus_masters(Machine *m, unsigned n, bool unshared)
{
    m->nr_devs = n;
    m->unshared = unshared;
    memory_region_transaction_begin();
    for (unsigned d = 0; d < n; d++) {
        char name[32];
        snprintf(name, sizeof(name), "bus-master-%u", d);
        if (memory_region_init(&m->bm_root[d], name, MR_SIZE_2_64) ||
            memory_region_init_alias(&m->bm_alias[d], "bus master", &m->system, 0, MR_SIZE_2_64) ||
            memory_region_add_subregion(&m->bm_root[d], 0, &m->bm_alias[d]))
            die_mr("bus master");
        if (unshared &&
            (memory_region_init_io(&m->msi[d], &dev_ops, &m->calls, "msi", 0x1000) ||
             memory_region_add_subregion_overlap(&m->bm_root[d], MSI_ADDR, &m->msi[d], 1)))
            die_mr("msi");
        if (address_space_init(&m->bm_as[d], &m->bm_root[d], name))
            die_mr("bus-master address space");
    }
    memory_region_transaction_commit();
}

static void machine_free(Machine *m)
{
    for (unsigned d = 0; d < m->nr_devs; d++)
        address_space_destroy(&m->bm_as[d]);
    memory_region_transaction_begin();
    for (unsigned d = 0; d < m->nr_devs; d++) {
        memory_region_del_subregion(&m->bm_root[d], &m->bm_alias[d]);
        if (m->unshared)
            memory_region_del_subregion(&m->bm_root[d], &m->msi[d]);
    }
    memory_region_transaction_commit();
    for (unsigned d = 0; d < m->nr_devs; d++) {
        memory_region_destroy(&m->bm_alias[d]);
        if (m->unshared)
            memory_region_destroy(&m->msi[d]);
        memory_region_destroy(&m->bm_root[d]);
    }
    address_space_destroy(&m->as);
    memory_region_transaction_begin();
    for (unsigned i = 0; i < NR_RAM; i++)
        memory_region_del_subregion(&m->system, &m->ram[i]);
    for (unsigned i = 0; i < NR_MMIO; i++)
        memory_region_del_subregion(&m->system, &m->mmio[i]);
    memory_region_del_subregion(&m->pci, &m->bar);
    memory_region_del_subregion(&m->system, &m->pci);
    memory_region_transaction_commit();
    for (unsigned i = 0; i < NR_RAM; i++)
        memory_region_destroy(&m->ram[i]);
    for (unsigned i = 0; i < NR_MMIO; i++)
        memory_region_destroy(&m->mmio[i]);
    memory_region_destroy(&m->bar);
    memory_region_destroy(&m->pci);
    memory_region_destroy(&m->system);
    free(m);
}

/* ---- scenario 4 ---------------------------------------------------------------------- */

typedef struct MoveResult {
    unsigned moves;
    double ns_per_move;
    double renders_per_move;
    bool over_budget;
    bool bar_ok; /* the BAR answers at its final address in every address space */
} MoveResult;

static MoveResult move_bar(Machine *m, unsigned moves)
{
    MoveResult r = {0};
    /* Warm-up. */
    for (unsigned i = 0; i < 16; i++)
        memory_region_set_address(&m->bar, (i & 1) ? BAR_B : BAR_A);
    uint64_t budget = (uint64_t)(opt.budget_s * 1e9);
    uint64_t renders0 = memregion_stat_renders();
    uint64_t t0 = now_ns();
    unsigned i;
    for (i = 0; i < moves; i++) {
        if (memory_region_set_address(&m->bar, (i & 1) ? BAR_A : BAR_B))
            die_mr("move");
        if ((i & 15) == 15 && now_ns() - t0 > budget) {
            i++;
            r.over_budget = true;
            break;
        }
    }
    r.moves = i;
    r.ns_per_move = (double)(now_ns() - t0) / i;
    r.renders_per_move = (double)(memregion_stat_renders() - renders0) / i;
    /* The BAR must be visible where it was moved last, in every address space. */
    hwaddr bar = PCI_BASE + ((i & 1) ? BAR_B : BAR_A);
    uint64_t calls0 = m->calls;
    address_space_ldl_le(&m->as, bar + 4, MEMTXATTRS_UNSPECIFIED, NULL);
    for (unsigned d = 0; d < m->nr_devs; d++)
        address_space_ldl_le(&m->bm_as[d], bar + 4, MEMTXATTRS_UNSPECIFIED, NULL);
    r.bar_ok = m->calls - calls0 == 1 + m->nr_devs;
    return r;
}

static uint64_t uc_dev_read(uc_engine *uc, uint64_t off, unsigned size, void *user)
{
    (void)uc;
    (void)size;
    (void)user;
    return off;
}

static void uc_dev_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *user)
{
    (void)uc;
    (void)off;
    (void)size;
    (void)v;
    (void)user;
}

/* The same machine in Unicorn (one address space); a move is unmap + map. */
static MoveResult unicorn_move_bar(unsigned moves)
{
    MoveResult r = {0};
    uc_engine *uc;
    uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    if (e != UC_ERR_OK)
        bench_die("uc_open: %s", uc_strerror(e));
    for (unsigned i = 0; i < NR_RAM && e == UC_ERR_OK; i++)
        e = uc_mem_map(uc, RAM_BASE + i * REGION_STRIDE, REGION_SIZE, UC_PROT_ALL);
    for (unsigned i = 0; i < NR_MMIO && e == UC_ERR_OK; i++)
        e = uc_mmio_map(uc, MMIO_BASE + i * REGION_STRIDE, REGION_SIZE, uc_dev_read, NULL,
                        uc_dev_write, NULL);
    if (e == UC_ERR_OK)
        e = uc_mmio_map(uc, PCI_BASE + BAR_A, BAR_SIZE, uc_dev_read, NULL, uc_dev_write, NULL);
    if (e != UC_ERR_OK)
        bench_die("Unicorn setup: %s", uc_strerror(e));
    uint64_t budget = (uint64_t)(opt.budget_s * 1e9);
    uint64_t t0 = now_ns();
    unsigned i;
    for (i = 0; i < moves; i++) {
        uint64_t from = PCI_BASE + ((i & 1) ? BAR_B : BAR_A);
        uint64_t to = PCI_BASE + ((i & 1) ? BAR_A : BAR_B);
        e = uc_mem_unmap(uc, from, BAR_SIZE);
        if (e == UC_ERR_OK)
            e = uc_mmio_map(uc, to, BAR_SIZE, uc_dev_read, NULL, uc_dev_write, NULL);
        if (e != UC_ERR_OK)
            bench_die("Unicorn move: %s", uc_strerror(e));
        if ((i & 15) == 15 && now_ns() - t0 > budget) {
            i++;
            r.over_budget = true;
            break;
        }
    }
    r.moves = i;
    r.ns_per_move = (double)(now_ns() - t0) / i;
    uint32_t v = 0;
    r.bar_ok =
        uc_mem_read(uc, PCI_BASE + ((i & 1) ? BAR_B : BAR_A) + 4, &v, 4) == UC_ERR_OK && v == 4;
    uc_close(uc);
    return r;
}

/* The baseline: one sorted array for the whole machine; a move is remove + insert. */
static MoveResult baseline_move_bar(unsigned moves)
{
    MoveResult r = {0};
    BaseMap map = {0};
    BaseEntry e = {.size = REGION_SIZE};
    for (unsigned i = 0; i < NR_RAM; i++) {
        e.start = RAM_BASE + i * REGION_STRIDE;
        basemap_insert(&map, &e);
    }
    for (unsigned i = 0; i < NR_MMIO; i++) {
        e.start = MMIO_BASE + i * REGION_STRIDE;
        basemap_insert(&map, &e);
    }
    e.start = PCI_BASE + BAR_A;
    e.size = BAR_SIZE;
    basemap_insert(&map, &e);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < moves; i++) {
        uint64_t from = PCI_BASE + ((i & 1) ? BAR_B : BAR_A);
        e.start = PCI_BASE + ((i & 1) ? BAR_A : BAR_B);
        if (!basemap_remove(&map, from) || !basemap_insert(&map, &e))
            bench_die("baseline move");
    }
    r.moves = moves;
    r.ns_per_move = (double)(now_ns() - t0) / moves;
    r.bar_ok = basemap_lookup(&map, PCI_BASE + ((moves & 1) ? BAR_B : BAR_A) + 4) != NULL;
    basemap_free(&map);
    return r;
}

enum {
    M_CONF,
    M_ASES,
    M_MOVES,
    M_MR,
    M_RENDERS,
    M_VS_ONE,
    M_UC,
    M_BASE,
    M_UC_VS_MR,
    M_MR_VS_BASE,
    M_NR
};

static const char *const move_headers[M_NR] = {
    "configuration",       "address spaces",          "moves",
    "memregion cost/move", "FlatViews rendered/move", "memregion vs 1 AS",
    "Unicorn cost/move",   "baseline cost/move",      "Unicorn/memregion",
    "memregion/baseline",
};

void scenario_many_as(void)
{
    printf("\n== Scenario 4: many address spaces, one BAR moved %u times ==\n", opt.moves);
    fflush(stdout);
    Table *t = table_new("Scenario 4: cost of one BAR move (one commit each)", M_NR, move_headers);
    MoveResult one = {0}, many = {0}, unshared = {0};
    char a[32];

    printf("  1 address space\n");
    fflush(stdout);
    Machine *m = machine_new();
    one = move_bar(m, opt.moves);
    machine_free(m);
    printf("  Unicorn, baseline\n");
    fflush(stdout);
    MoveResult uc = unicorn_move_bar(opt.moves);
    MoveResult base = baseline_move_bar(opt.moves);

    printf("  256 bus-master address spaces\n");
    fflush(stdout);
    m = machine_new();
    machine_add_bus_masters(m, NR_DEVS, false);
    many = move_bar(m, opt.moves);
    machine_free(m);

    printf("  256 unshareable bus-master address spaces\n");
    fflush(stdout);
    m = machine_new();
    machine_add_bus_masters(m, NR_DEVS, true);
    unshared = move_bar(m, opt.moves);
    machine_free(m);

    const MoveResult *rows[3] = {&one, &many, &unshared};
    static const char *const conf[3] = {
        "system memory only",
        "+ 256 bus-master views (alias of system memory)",
        "+ 256 bus-master views, each with its own MSI window (informational)",
    };
    static const unsigned ases[3] = {1, 1 + NR_DEVS, 1 + NR_DEVS};
    bool all_ok = uc.bar_ok && base.bar_ok;
    for (int i = 0; i < 3; i++) {
        const MoveResult *r = rows[i];
        all_ok &= r->bar_ok;
        table_row(t);
        table_set(t, M_CONF, "%s", conf[i]);
        table_set(t, M_ASES, "%u", ases[i]);
        table_set(t, M_MOVES, "%u%s", r->moves, r->over_budget ? " (budget)" : "");
        table_set(t, M_MR, "%s", fmt_time(a, sizeof(a), r->ns_per_move));
        table_set(t, M_RENDERS, "%.2f", r->renders_per_move);
        table_set(t, M_VS_ONE, "%s", fmt_ratio(a, sizeof(a), r->ns_per_move / one.ns_per_move));
        table_set(t, M_BASE, "%s", fmt_time(a, sizeof(a), base.ns_per_move));
        table_set(t, M_MR_VS_BASE, "%s",
                  fmt_ratio(a, sizeof(a), r->ns_per_move / base.ns_per_move));
        if (i == 0) {
            table_set(t, M_UC, "%s%s", fmt_time(a, sizeof(a), uc.ns_per_move),
                      uc.over_budget ? " (budget)" : "");
            table_set(t, M_UC_VS_MR, "%s",
                      fmt_ratio(a, sizeof(a), uc.ns_per_move / r->ns_per_move));
        } else {
            table_set(t, M_UC, "n/a: one AS");
        }
    }
    table_note(t,
               "machine: %u RAM + %u MMIO regions of 4 KiB in system memory, and a PCI "
               "memory container holding one 16 KiB BAR; a move is "
               "memory_region_set_address(bar) between two offsets, one implicit commit",
               NR_RAM, NR_MMIO);
    table_note(t, "bus-master view: a container holding an enabled alias of all of system "
                  "memory, with its own address space (QEMU's PCI bus-master address space)");
    table_note(t, "the informational row adds a 4 KiB MSI region to every bus-master "
                  "container, so no two views render the same tree and none can be shared");
    table_note(t,
               "Unicorn: the same regions in its one address space; a move is uc_mem_unmap "
               "+ uc_mmio_map (%u moves); baseline: one sorted array for the machine, a "
               "move is remove + insert",
               uc.moves);
    table_note(t,
               "after the moves, the BAR answered at its new address in every address "
               "space and peer: %s",
               all_ok ? "yes" : "NO (bug)");
    table_print_free(t);

    char m4[160], b[32], c[32];
    double r = many.ns_per_move / one.ns_per_move;
    snprintf(m4, sizeof(m4), "%s (%s with 257 ASes, %s with 1; %.2f views rendered/move)",
             fmt_ratio(a, sizeof(a), r), fmt_time(b, sizeof(b), many.ns_per_move),
             fmt_time(c, sizeof(c), one.ns_per_move), many.renders_per_move);
    char why[600], d[32];
    if (many.renders_per_move < 1.01)
        snprintf(why, sizeof(why),
                 "one view is rendered per move with 257 address spaces too (they share it), "
                 "so the extra %s per move (%s per address space) is per-address-space work "
                 "in every commit (a walk over all address spaces); a commit should visit only "
                 "the address spaces whose flat-view root changed (an index from root to "
                 "address spaces)",
                 fmt_time(b, sizeof(b), many.ns_per_move - one.ns_per_move),
                 fmt_time(d, sizeof(d), (many.ns_per_move - one.ns_per_move) / NR_DEVS));
    else
        snprintf(why, sizeof(why),
                 "%.2f views are rendered per move: the bus-master views are not shared with "
                 "system memory's view",
                 many.renders_per_move);
    target_check(4, "cost per move with 256 bus-master ASes <= 2x the cost with 1", m4,
                 r <= 2 ? TARGET_MET : TARGET_MISSED, why);
    targets_print(4);
}

/* ---- scenario 5 ---------------------------------------------------------------------- */

typedef enum ReaderKind {
    RD_LDL,
    RD_TRANSLATE,
    RD_BASELINE,
    RD_LDL_TOUCHED,
    RD_LDL_HIDDEN, /* RD_LDL's reader; the writer moves a region nothing shows */
    RD_NR
} ReaderKind;

/* RD_LDL_HIDDEN: a RAM cover (priority 1) over two places of a hidden
 * region, which the writer moves between them: every commit renders and
 * builds a version as a BAR move does, finds that nothing visible changed
 * and publishes nothing. */
#define HIDE_BASE 0x9000000000ull
#define HIDE_SIZE 0x10000ull

enum { NR_TOUCHED = 8 }; /* pages the reader reads in the RD_LDL_TOUCHED row */

/* The baseline for scaling: a sorted array published with RCU, copied on write. */
typedef struct RcuArray {
    BaseMap map;
    struct rcu_head rcu;
} RcuArray;

static void rcu_array_free(struct rcu_head *head)
{
    RcuArray *a = caa_container_of(head, RcuArray, rcu);
    free(a->map.e);
    free(a);
}

typedef struct Shared {
    Machine *m;
    ReaderKind kind;
    RcuArray *cur; /* baseline: RCU-published */
    uint8_t *ram;  /* baseline: host memory of the RAM regions */
    volatile int stop;
    uint64_t bar_moves;  /* memregion writer: moves so far, over all phases (odd: BAR at B) */
    uint64_t base_moves; /* the same for the baseline's array */
    uint64_t reader_ops;
    double reader_s;
    double reader_cpu_s;    /* the reader thread's CPU time (CLOCK_THREAD_CPUTIME_ID) */
    uint64_t reader_fills;  /* TLB fills of the reader thread (memregion_stat_tlb_fills()) */
    uint64_t reader_revals; /* its TLB revalidations (memregion_stat_tlb_revalidations()) */
    uint64_t writer_ops;
    MemoryRegion overlay;       /* RD_LDL_TOUCHED: moved over the reader's pages */
    MemoryRegion cover, hidden; /* RD_LDL_HIDDEN */
    uint64_t touched_addrs[NR_TOUCHED];
} Shared;

static RcuArray *rcu_array_copy_move(const RcuArray *old, unsigned i)
{
    RcuArray *n = calloc(1, sizeof(*n));
    if (!n)
        bench_die("out of memory");
    n->map.cap = old->map.nr + 1;
    n->map.nr = old->map.nr;
    n->map.e = malloc(n->map.cap * sizeof(BaseEntry));
    if (!n->map.e)
        bench_die("out of memory");
    memcpy(n->map.e, old->map.e, old->map.nr * sizeof(BaseEntry));
    uint64_t from = PCI_BASE + ((i & 1) ? BAR_B : BAR_A);
    BaseEntry e = {.start = PCI_BASE + ((i & 1) ? BAR_A : BAR_B), .size = BAR_SIZE};
    if (!basemap_remove(&n->map, from) || !basemap_insert(&n->map, &e))
        bench_die("baseline move");
    return n;
}

/*
 * Pin the calling thread to the @k-th CPU it may run on (0: reader, 1:
 * writer), when there are at least two. Unpinned, a reader running alone
 * was moved between the two CPUs of the test machine and read 40% slower
 * than beside a writer in some runs, which made "alone" the noisy side of
 * the ratio.
 */
static void pin_to(int k)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) || CPU_COUNT(&allowed) < 2)
        return;
    CPU_ZERO(&one);
    for (int c = 0, seen = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed) && seen++ == k) {
            CPU_SET(c, &one);
            pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
            return;
        }
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *reader_thread(void *arg)
{
    Shared *s = arg;
    Machine *m = s->m;
    uint64_t ops = 0, sum = 0;
    pin_to(0);
    uint64_t t0 = now_ns(), f0 = memregion_stat_tlb_fills();
    uint64_t v0 = memregion_stat_tlb_revalidations();
    double c0 = thread_cpu_s();
    while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
        for (unsigned k = 0; k < 256; k++, ops++) {
            uint64_t a = m->ram_addrs[ops & (NR_ADDRS - 1)];
            if (s->kind == RD_LDL_TOUCHED) {
                a = s->touched_addrs[ops & (NR_TOUCHED - 1)] + (a & (REGION_SIZE - 4));
                sum += address_space_ldl_le(&m->as, a, MEMTXATTRS_UNSPECIFIED, NULL);
            } else if (s->kind == RD_LDL || s->kind == RD_LDL_HIDDEN) {
                sum += address_space_ldl_le(&m->as, a, MEMTXATTRS_UNSPECIFIED, NULL);
            } else if (s->kind == RD_TRANSLATE) {
                MemoryRegionSection sec;
                address_space_translate(&m->as, a, false, MEMTXATTRS_UNSPECIFIED, &sec);
                sum += (uintptr_t)sec.host;
            } else {
                rcu_read_lock();
                RcuArray *arr = rcu_dereference(s->cur);
                const BaseEntry *e = basemap_lookup(&arr->map, a);
                uint32_t v = 0;
                if (e && e->host)
                    memcpy(&v, e->host + (a - e->start), 4);
                sum += v + (e != NULL);
                rcu_read_unlock();
            }
        }
    }
    s->reader_s = since_s(t0);
    s->reader_cpu_s = thread_cpu_s() - c0;
    s->reader_ops = ops;
    s->reader_fills = memregion_stat_tlb_fills() - f0;
    s->reader_revals = memregion_stat_tlb_revalidations() - v0;
    bench_sink += sum;
    return NULL;
}

static void *writer_thread(void *arg)
{
    Shared *s = arg;
    uint64_t i = 0;
    pin_to(1);
    while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
        if (s->kind == RD_BASELINE) {
            RcuArray *old = s->cur;
            RcuArray *n = rcu_array_copy_move(old, (unsigned)(s->base_moves++ & 1));
            rcu_assign_pointer(s->cur, n);
            call_rcu(&old->rcu, rcu_array_free);
        } else if (s->kind == RD_LDL_TOUCHED) {
            if (memory_region_set_address(&s->overlay, s->touched_addrs[i & (NR_TOUCHED - 1)]))
                bench_die("overlay move: %s", memregion_last_error());
        } else if (s->kind == RD_LDL_HIDDEN) {
            if (memory_region_set_address(&s->hidden, HIDE_BASE + (i & 1) * (HIDE_SIZE / 2)))
                bench_die("hidden move: %s", memregion_last_error());
        } else if (memory_region_set_address(&s->m->bar, (s->bar_moves++ & 1) ? BAR_A : BAR_B)) {
            bench_die("move: %s", memregion_last_error());
        }
        i++;
    }
    s->writer_ops = i;
    return NULL;
}

/* What one phase measured. */
typedef struct Phase {
    double ops_s;     /* reader operations per second of wall time */
    double cpu_share; /* reader CPU time / wall time */
    double cpu_ns_op; /* reader CPU time per operation */
    double writer_s;  /* writer commits (or baseline copies) per second */
    double gp_s;      /* grace periods memregion's writer waited for, per second */
    double fills;     /* the reader's TLB fills per commit */
    double revals;    /* the reader's TLB revalidations per commit */
} Phase;

/* One phase: the reader alone, or with the writer. */
static Phase phase(Shared *s, bool with_writer)
{
    Phase r = {0};
    pthread_t rd, wr;
    s->stop = 0;
    s->writer_ops = 0;
    uint64_t gp0 = memregion_stat_grace_periods();
    if (pthread_create(&rd, NULL, reader_thread, s) ||
        (with_writer && pthread_create(&wr, NULL, writer_thread, s)))
        bench_die("pthread_create");
    struct timespec ts = {(time_t)opt.scaling_s,
                          (long)((opt.scaling_s - (double)(time_t)opt.scaling_s) * 1e9)};
    uint64_t t0 = now_ns();
    nanosleep(&ts, NULL);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
    pthread_join(rd, NULL);
    double wall = since_s(t0);
    if (with_writer) {
        pthread_join(wr, NULL);
        r.writer_s = (double)s->writer_ops / wall;
        r.fills = s->writer_ops ? (double)s->reader_fills / (double)s->writer_ops : NAN;
        r.revals = s->writer_ops ? (double)s->reader_revals / (double)s->writer_ops : NAN;
    }
    r.gp_s = (double)(memregion_stat_grace_periods() - gp0) / wall;
    r.ops_s = (double)s->reader_ops / s->reader_s;
    r.cpu_share = s->reader_cpu_s / s->reader_s;
    r.cpu_ns_op = 1e9 * s->reader_cpu_s / (double)s->reader_ops;
    return r;
}

enum {
    S_READER,
    S_ALONE,
    S_WITH,
    S_RATIO,
    S_WRITER,
    S_CPU,
    S_NSOP,
    S_LOST,
    S_FILLS,
    S_GP,
    S_UC,
    S_NR
};

static const char *const scal_headers[S_NR] = {
    "reader",
    "reader alone (Mops/s)",
    "reader with busy writer (Mops/s)",
    "with/alone",
    "writer commits/s",
    "reader CPU share with writer",
    "reader CPU ns/op alone -> with",
    "reader CPU lost per commit",
    "reader TLB fills / revalidations per commit",
    "grace periods/s",
    "Unicorn",
};

void scenario_scaling(void)
{
    printf("\n== Scenario 5: reader throughput while another thread commits BAR moves ==\n");
    fflush(stdout);
    Table *t =
        table_new("Scenario 5: one reader thread, one writer thread (2 cores)", S_NR, scal_headers);
    Machine *m = machine_new();
    Shared s = {.m = m};
    char buf[32], buf2[32];
    /* Baseline array: the same machine, RAM entries on memregion's host memory. */
    RcuArray *arr = calloc(1, sizeof(*arr));
    if (!arr)
        bench_die("out of memory");
    for (unsigned i = 0; i < NR_RAM; i++) {
        BaseEntry e = {.start = RAM_BASE + i * REGION_STRIDE,
                       .size = REGION_SIZE,
                       .host = memory_region_get_ram_ptr(&m->ram[i])};
        basemap_insert(&arr->map, &e);
    }
    for (unsigned i = 0; i < NR_MMIO; i++) {
        BaseEntry e = {.start = MMIO_BASE + i * REGION_STRIDE, .size = REGION_SIZE};
        basemap_insert(&arr->map, &e);
    }
    BaseEntry bar = {.start = PCI_BASE + BAR_A, .size = BAR_SIZE};
    basemap_insert(&arr->map, &bar);
    s.cur = arr;

    /* The overlay of the last row: RAM over the first of the reader's 8 pages. */
    for (unsigned i = 0; i < NR_TOUCHED; i++)
        s.touched_addrs[i] = RAM_BASE + i * REGION_STRIDE;
    if (memory_region_init_ram(&s.overlay, "overlay", REGION_SIZE) ||
        memory_region_add_subregion_overlap(&m->system, s.touched_addrs[0], &s.overlay, 1))
        die_mr("overlay");
    if (memory_region_init_ram(&s.cover, "cover", HIDE_SIZE) ||
        memory_region_init_io(&s.hidden, &dev_ops, &m->calls, "hidden", REGION_SIZE) ||
        memory_region_add_subregion_overlap(&m->system, HIDE_BASE, &s.cover, 1) ||
        memory_region_add_subregion(&m->system, HIDE_BASE, &s.hidden))
        die_mr("cover");

    static const char *const names[RD_NR] = {
        "memregion address_space_ldl_le (random RAM)",
        "memregion address_space_translate (random RAM)",
        "baseline: RCU-published sorted array, copied per move, old copy freed by call_rcu",
        "memregion address_space_ldl_le (8 RAM pages that the writer's commits touch)",
        "memregion address_space_ldl_le (random RAM), commits that publish nothing",
    };
    double ratio_ldl = NAN, ratio_base = NAN, wrate_mr = 0, wrate_base = 0;
    double with_ldl = NAN, with_base = NAN, ratio_touched = NAN, cpu_ldl = NAN, lost_ldl = NAN;
    double gp_ldl = NAN, fills_ldl = NAN, revals_ldl = NAN, ratio_hidden = NAN;
    double lost_hidden = NAN;
    for (int k = 0; k < RD_NR; k++) {
        s.kind = (ReaderKind)k;
        printf("  %s\n", names[k]);
        fflush(stdout);
        enum { PHASES = 3 };
        double alone[PHASES], with[PHASES], wrate[PHASES], share[PHASES], ns_alone[PHASES];
        double ns_with[PHASES], lost[PHASES], gp[PHASES], fills[PHASES], revals[PHASES];
        for (int p = 0; p < PHASES; p++) {
            Phase a = phase(&s, false), w = phase(&s, true);
            alone[p] = a.ops_s;
            with[p] = w.ops_s;
            wrate[p] = w.writer_s;
            share[p] = w.cpu_share;
            ns_alone[p] = a.cpu_ns_op;
            ns_with[p] = w.cpu_ns_op;
            /* Reader CPU time the writer's commits cost, per commit: what
             * each operation took more than alone, over the phase's commits. */
            lost[p] = w.writer_s > 0 ? (w.cpu_ns_op - a.cpu_ns_op) * w.ops_s / w.writer_s : NAN;
            gp[p] = w.gp_s;
            fills[p] = w.fills;
            revals[p] = w.revals;
        }
        double a_ops = median(alone, PHASES), w_ops = median(with, PHASES);
        double r = w_ops / a_ops;
        double m_share = median(share, PHASES), m_lost = median(lost, PHASES);
        double m_gp = median(gp, PHASES), m_fills = median(fills, PHASES);
        double m_revals = median(revals, PHASES);
        if (k == RD_LDL) {
            ratio_ldl = r;
            wrate_mr = median(wrate, PHASES);
            with_ldl = w_ops;
            cpu_ldl = m_share;
            lost_ldl = m_lost;
            gp_ldl = m_gp;
            fills_ldl = m_fills;
            revals_ldl = m_revals;
        } else if (k == RD_BASELINE) {
            ratio_base = r;
            wrate_base = median(wrate, PHASES);
            with_base = w_ops;
        } else if (k == RD_LDL_TOUCHED) {
            ratio_touched = r;
        } else if (k == RD_LDL_HIDDEN) {
            ratio_hidden = r;
            lost_hidden = m_lost;
        }
        table_row(t);
        table_set(t, S_READER, "%s", names[k]);
        table_set(t, S_ALONE, "%.1f", a_ops / 1e6);
        table_set(t, S_WITH, "%.1f", w_ops / 1e6);
        table_set(t, S_RATIO, "%.0f%%", 100 * r);
        table_set(t, S_WRITER, "%.0f", median(wrate, PHASES));
        table_set(t, S_CPU, "%.0f%%", 100 * m_share);
        table_set(t, S_NSOP, "%.2f -> %.2f", median(ns_alone, PHASES), median(ns_with, PHASES));
        table_set(t, S_LOST, "%s", fmt_time(buf, sizeof(buf), m_lost));
        if (k == RD_BASELINE)
            table_set(t, S_FILLS, "n/a");
        else
            table_set(t, S_FILLS, "%.2f / %.2f", m_fills, m_revals);
        if (k == RD_BASELINE)
            table_set(t, S_GP, "n/a: call_rcu");
        else
            table_set(t, S_GP, "%.0f", m_gp);
        table_set(t, S_UC, "n/a");
    }
    if (memory_region_del_subregion(&m->system, &s.overlay) || memory_region_destroy(&s.overlay) ||
        memory_region_del_subregion(&m->system, &s.hidden) || memory_region_destroy(&s.hidden) ||
        memory_region_del_subregion(&m->system, &s.cover) || memory_region_destroy(&s.cover))
        die_mr("overlay");
    rcu_barrier(); /* old baseline arrays */
    free(s.cur->map.e);
    free(s.cur);
    machine_free(m);
    table_note(t, "machine of scenario 4 (1 address space, 1001 regions); the writer moves the "
                  "BAR in a loop (memory_region_set_address, one commit per move) while the "
                  "reader reads 4 bytes at random RAM addresses");
    table_note(t, "last row: the reader reads 8 RAM pages and the writer, instead of moving the "
                  "BAR, moves a 4 KiB RAM overlay (priority 1) from one of them to the next: every "
                  "commit changes 2 of the reader's 8 pages, whose TLB entries it invalidates");
    table_note(t, "'commits that publish nothing': the reader of the first row; the writer "
                  "moves a 4 KiB MMIO region between two places under a RAM cover of priority "
                  "1, so every commit renders its windows and builds a version as a BAR move "
                  "does, then finds nothing visible changed and publishes nothing (no TLB "
                  "entry is invalidated); what it still costs the reader is the writer's work "
                  "beside it and the grace periods of reclaiming those versions");
    table_note(t,
               "each number is the median of 3 phases of %.1fs; alone and with-writer "
               "phases alternate; the reader runs on the first CPU the process may use, the "
               "writer on the second (every row alike)",
               opt.scaling_s);
    table_note(t, "reader CPU share: the reader thread's CPU time (CLOCK_THREAD_CPUTIME_ID) "
                  "over wall time while the writer runs; ns/op: its CPU time per operation, "
                  "alone and with the writer");
    table_note(t, "lost per commit: the extra CPU time of the reader's operations over a phase, "
                  "divided by the writer's commits (TLB entries of the changed zones refilled, "
                  "lines of the new version fetched, grace periods); fills / revalidations per "
                  "commit: the reader thread's memregion_stat_tlb_fills() and "
                  "memregion_stat_tlb_revalidations() over the phase, divided by the commits; "
                  "grace periods: those memregion's writer waited for "
                  "(memregion_stat_grace_periods())");
    table_note(t, "Unicorn: n/a, a uc_engine may not be used from two threads at once");
    table_print_free(t);

    char m5[160], why[900];
    snprintf(m5, sizeof(m5), "%.0f%% of the reader alone (address_space_ldl_le)", 100 * ratio_ldl);
    snprintf(why, sizeof(why),
             "the reader ran %.0f%% of the time beside the writer (other threads took the rest "
             "of its CPU), and each of %.0f commits/s cost it %s of CPU (%.0f%% of its time): "
             "%.2f TLB entries per commit are refilled from the new version and %.2f "
             "revalidated (zone = page mod 1024: the BAR's 8 damaged pages share zones, and "
             "lines of zone records, with a few of the reader's 500), each fetching a line "
             "the writer just wrote, and %.0f grace periods/s interrupt its CPU. Commits "
             "that publish nothing cost it %s each (it keeps %.0f%%): the rest is those "
             "lines. The RCU sorted array keeps "
             "%.0f%% under its writer (%.0f copies/s); when commits touch the reader's pages "
             "memregion keeps %.0f%%",
             100 * cpu_ldl, wrate_mr, fmt_time(buf, sizeof(buf), lost_ldl),
             100 * lost_ldl * 1e-9 * wrate_mr, fills_ldl, revals_ldl, gp_ldl,
             fmt_time(buf2, sizeof(buf2), lost_hidden), 100 * ratio_hidden, 100 * ratio_base,
             wrate_base, 100 * ratio_touched);
    target_check(5, "reader throughput with a busy writer >= 70% of reader alone", m5,
                 ratio_ldl >= 0.7 ? TARGET_MET : TARGET_MISSED, ratio_ldl >= 0.7 ? NULL : why);
    snprintf(m5, sizeof(m5), "%.2fx (%.1f against %.1f Mops/s, each under its own busy writer)",
             with_ldl / with_base, with_ldl / 1e6, with_base / 1e6);
    snprintf(why, sizeof(why),
             "the baseline's reader does a binary search per access; memregion's hits its TLB "
             "(one compare) unless the page changed, so the ratio is the TLB hit path against a "
             "search of 1001 entries, both slowed by sharing 2 CPUs with their writers");
    target_check(5, "reader with a busy writer >= 2x the RCU baseline's reader under its writer",
                 m5, with_ldl >= 2 * with_base ? TARGET_MET : TARGET_MISSED,
                 with_ldl >= 2 * with_base ? NULL : why);
    targets_print(5);
}
