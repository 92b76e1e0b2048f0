/*
 * Scenario 7: the device side. A device's 4-byte DMA read through an IOMMU
 * (translation cache on: the pages sit in the thread's software TLB; and
 * off: every access walks the IOMMU model), the same with the typed ldl
 * helper and through a MemoryRegionCache, and address_space_map/unmap pairs
 * (direct RAM, through the IOMMU, and bounced to MMIO), each as a ratio
 * against a plain 4-byte RAM read of the same address space in this run.
 * Then the cost of the overlap diagnostics when mapping regions.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "devices.h"

#define DMA_PAGES 256
#define DMA_RAM   (DMA_PAGES * 0x1000ull)

typedef struct DmaWorld {
    MemoryRegion sys, ram, mmio, dmaroot, iommu;
    AddressSpace sysas, dmaas;
    MemoryRegionCache cache;
    uint64_t rng;
} DmaWorld;

static IOMMUTLBEntry identity_translate(MemoryRegion *mr, void *opaque, hwaddr iova,
                                        IOMMUAccessFlags flag, int idx)
{
    (void)mr;
    (void)flag;
    (void)idx;
    DmaWorld *w = opaque;
    /* Pages are mapped in reverse order, so the walk really translates. */
    hwaddr page = (DMA_PAGES - 1 - ((iova >> 12) % DMA_PAGES)) << 12;
    return (IOMMUTLBEntry){.target_as = &w->sysas,
                           .iova = iova & ~0xfffull,
                           .translated_addr = RAM_BASE + page,
                           .addr_mask = 0xfff,
                           .perm = IOMMU_RW};
}

static const IOMMUMemoryRegionOps identity_ops = {.translate = identity_translate};

static const MemoryRegionOps mmio_ops = {.read = bench_read_offset, .write = bench_write_ignore};

/* Addresses: a pseudo-random page among 8 (hot in every cache), random word. */
static inline hwaddr next_addr(DmaWorld *w)
{
    uint64_t r = rng_next(&w->rng);
    return ((r >> 8) % 8) * 0x1000 + ((r >> 20) % 1024) * 4;
}

static void body_ram(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    uint32_t v, sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        address_space_read(&w->sysas, RAM_BASE + next_addr(w), MEMTXATTRS_UNSPECIFIED, &v, 4);
        sum += v;
    }
    bench_sink += sum;
}

static void body_iommu(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    uint32_t v, sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        address_space_read(&w->dmaas, next_addr(w), MEMTXATTRS_UNSPECIFIED, &v, 4);
        sum += v;
    }
    bench_sink += sum;
}

/* body_iommu with the IOMMU's translation cache off, so that every read
 * walks the model. */
static void body_iommu_uncached(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    memory_region_iommu_set_cache(&w->iommu, false);
    body_iommu(c, iters);
    memory_region_iommu_set_cache(&w->iommu, true);
}

static void body_iommu_ldl(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    uint32_t sum = 0;
    for (uint64_t i = 0; i < iters; i++)
        sum += address_space_ldl_le(&w->dmaas, next_addr(w), MEMTXATTRS_UNSPECIFIED, NULL);
    bench_sink += sum;
}

static void body_cache(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    uint32_t sum = 0;
    for (uint64_t i = 0; i < iters; i++)
        sum += address_space_ldl_le_cached(&w->cache, next_addr(w) & 0xffc, MEMTXATTRS_UNSPECIFIED,
                                           NULL);
    bench_sink += sum;
}

static void map_pairs(DmaWorld *w, AddressSpace *as, hwaddr base, uint64_t iters, hwaddr len)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        hwaddr l = len;
        uint8_t *p = address_space_map(as, base + (next_addr(w) & ~0xfffull), &l, false,
                                       MEMTXATTRS_UNSPECIFIED);
        sum += p ? p[0] : 1;
        address_space_unmap(as, p, l, false, 0);
    }
    bench_sink += sum;
}

static void body_map_ram(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    map_pairs(w, &w->sysas, RAM_BASE, iters, 0x1000);
}

static void body_map_iommu(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    map_pairs(w, &w->dmaas, 0, iters, 0x1000);
}

static void body_map_bounce(void *c, uint64_t iters)
{
    DmaWorld *w = c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        hwaddr l = 64;
        uint8_t *p = address_space_map(&w->sysas, MMIO_BASE, &l, false, MEMTXATTRS_UNSPECIFIED);
        sum += p ? p[0] : 1;
        address_space_unmap(&w->sysas, p, l, false, 0);
    }
    bench_sink += sum;
}

static void ignore_overlap(void *opaque, const MemoryRegionOverlap *ov)
{
    (void)ov;
    (*(uint64_t *)opaque)++;
}

/* ns per region to add @n RAM regions one by one (each its own commit), with
 * the overlap diagnostics on or off. */
static double add_cost(uint64_t n, bool diagnostics)
{
    MemoryRegion root, *r = calloc(n, sizeof(*r));
    if (!r)
        bench_die("out of memory");
    uint64_t reports = 0;
    memory_region_init(&root, "root", MR_SIZE_2_64);
    AddressSpace as;
    address_space_init(&as, &root, "as");
    for (uint64_t i = 0; i < n; i++)
        memory_region_init_ram(&r[i], "r", REGION_SIZE);
    memory_region_set_overlap_handler(diagnostics ? ignore_overlap : NULL, &reports);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        memory_region_add_subregion(&root, RAM_BASE + i * REGION_STRIDE, &r[i]);
    double ns = (double)(now_ns() - t0) / (double)n;
    memory_region_set_overlap_handler(NULL, NULL);
    memory_region_transaction_begin();
    for (uint64_t i = 0; i < n; i++)
        memory_region_del_subregion(&root, &r[i]);
    memory_region_transaction_commit();
    address_space_destroy(&as);
    for (uint64_t i = 0; i < n; i++)
        memory_region_destroy(&r[i]);
    memory_region_destroy(&root);
    free(r);
    if (reports)
        bench_die("overlap diagnostics reported %llu collisions in a map without any",
                  (unsigned long long)reports);
    return ns;
}

void scenario_dma(void)
{
    static DmaWorld w;
    w.rng = 42;
    memory_region_init(&w.sys, "sys", MR_SIZE_2_64);
    memory_region_init_ram(&w.ram, "ram", DMA_RAM);
    memory_region_add_subregion(&w.sys, RAM_BASE, &w.ram);
    memory_region_init_io(&w.mmio, &mmio_ops, NULL, "mmio", 0x1000);
    memory_region_add_subregion(&w.sys, MMIO_BASE, &w.mmio);
    address_space_init(&w.sysas, &w.sys, "sys");
    memory_region_init(&w.dmaroot, "dma", MR_SIZE_2_64);
    memory_region_init_iommu(&w.iommu, &identity_ops, &w, "iommu", DMA_RAM);
    memory_region_add_subregion(&w.dmaroot, 0, &w.iommu);
    address_space_init(&w.dmaas, &w.dmaroot, "dma");
    address_space_cache_init(&w.cache, &w.dmaas, 0, 0x1000, false);

    /* Interleaved rounds, each row's best: see measure_interleaved(). */
    enum { RAM, CACHED, TYPED, CACHE, MAP_RAM, MAP_IOMMU, MAP_BOUNCE, UNCACHED, NR_ROWS };
    const BenchBody bodies[NR_ROWS] = {
        {body_ram, &w},     {body_iommu, &w},     {body_iommu_ldl, &w},  {body_cache, &w},
        {body_map_ram, &w}, {body_map_iommu, &w}, {body_map_bounce, &w}, {body_iommu_uncached, &w},
    };
    double ns[NR_ROWS];
    unsigned runs = opt.quick ? 3 : 5, rounds = opt.quick ? 2 : 3;
    measure_interleaved(NR_ROWS, bodies, rounds, runs, ns);
    double ram = ns[RAM], cached = ns[CACHED], uncached = ns[UNCACHED];

    static const char *const hdr[] = {"operation", "memregion", "vs plain RAM read"};
    Table *t = table_new("Scenario 7: DMA through an IOMMU, map/unmap (4-byte reads, 8 hot pages)",
                         3, hdr);
    struct {
        const char *what;
        double ns;
    } rows[] = {
        {"plain RAM read (address_space_read)", ram},
        {"read through IOMMU, translation cache on", cached},
        {"ldl (typed helper) through IOMMU, cache on", ns[TYPED]},
        {"read through IOMMU, cache off (walks the model)", uncached},
        {"ldl through a MemoryRegionCache over the IOMMU", ns[CACHE]},
        {"map+unmap 4 KiB of RAM (direct)", ns[MAP_RAM]},
        {"map+unmap 4 KiB through the IOMMU (direct)", ns[MAP_IOMMU]},
        {"map+unmap 64 B of MMIO (bounce buffer)", ns[MAP_BOUNCE]},
    };
    char b1[32], b2[32];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        table_row(t);
        table_set(t, 0, "%s", rows[i].what);
        table_set(t, 1, "%s", fmt_time(b1, sizeof(b1), rows[i].ns));
        table_set(t, 2, "%s", fmt_ratio(b2, sizeof(b2), rows[i].ns / ram));
    }
    table_note(t, "best of %u interleaved rounds, each the median of %u runs", rounds, runs);
    table_note(t, "translate calls during the run: %llu (the cache-off row makes most of them)",
               (unsigned long long)memory_region_iommu_stat_translations(&w.iommu));
    table_print_free(t);

    char m[64];
    snprintf(m, sizeof(m), "%s of a RAM read", fmt_ratio(b1, sizeof(b1), cached / ram));
    target_check(7, "a repeated DMA read through an IOMMU costs at most 3x a plain RAM read", m,
                 cached <= 3 * ram ? TARGET_MET : TARGET_MISSED, NULL);
    snprintf(m, sizeof(m), "%s faster", fmt_ratio(b1, sizeof(b1), uncached / cached));
    target_check(7, "the translation cache beats walking the IOMMU model", m,
                 cached < uncached ? TARGET_MET : TARGET_MISSED, NULL);
    uint64_t n = opt.quick ? 1024 : 4096;
    /* Alternate, keep the best of five: the cost is small and the machine noisy. */
    double off = 1e18, on = 1e18;
    for (int i = 0; i < 5; i++) {
        double b = add_cost(n, true), a = add_cost(n, false);
        off = a < off ? a : off;
        on = b < on ? b : on;
    }
    static const char *const hdr2[] = {"adding regions one by one", "per region", "vs off"};
    Table *t2 = table_new("Scenario 7b: overlap diagnostics on and off", 3, hdr2);
    table_row(t2);
    table_set(t2, 0, "%llu regions, diagnostics off", (unsigned long long)n);
    table_set(t2, 1, "%s", fmt_time(b1, sizeof(b1), off));
    table_set(t2, 2, "1.00x");
    table_row(t2);
    table_set(t2, 0, "%llu regions, diagnostics on", (unsigned long long)n);
    table_set(t2, 1, "%s", fmt_time(b1, sizeof(b1), on));
    table_set(t2, 2, "%s", fmt_ratio(b2, sizeof(b2), on / off));
    table_print_free(t2);
    snprintf(m, sizeof(m), "%s of the cost without them", fmt_ratio(b1, sizeof(b1), on / off));
    target_check(7, "overlap diagnostics add at most 25% to mapping a region", m,
                 on <= 1.25 * off ? TARGET_MET : TARGET_MISSED, NULL);
    targets_print(7);

    address_space_cache_destroy(&w.cache);
    address_space_destroy(&w.dmaas);
    address_space_destroy(&w.sysas);
    memory_region_del_subregion(&w.dmaroot, &w.iommu);
    memory_region_destroy(&w.iommu);
    memory_region_destroy(&w.dmaroot);
    memory_region_del_subregion(&w.sys, &w.ram);
    memory_region_del_subregion(&w.sys, &w.mmio);
    memory_region_destroy(&w.ram);
    memory_region_destroy(&w.mmio);
    memory_region_destroy(&w.sys);
}
