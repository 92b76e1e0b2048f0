/*
 * Randomized differential test of the device side: IOMMU translation, DMA
 * mapping, access_valid and MemoryRegionCache against the reference model
 * (refmodel_dma_resolve, refmodel_map_len).
 *
 * The machine: a system tree of RAM, ROM, MMIO devices and aliases that
 * random operations add, remove, move, re-prioritise and toggle; an IOMMU
 * in address space "dma" translating 4 KiB pages into the system space;
 * and a second IOMMU in "dma2" translating into "dma" (nested). Random
 * operations also remap IOMMU pages with random permissions and announce
 * each change with memory_region_notify_iommu(), as the cache contract says.
 *
 * After each operation, at random addresses of all three spaces:
 *  - address_space_translate against the model (result, region, offset);
 *  - a one-byte read and write against the memory the model names;
 *  - address_space_map: a direct pointer of exactly refmodel_map_len()
 *    bytes, a bounce buffer for callback regions, NULL for faults;
 *  - address_space_access_valid against the model;
 *  - a MemoryRegionCache made at the start of the seed, read again;
 *  - a few hot IOVAs of each IOMMU space, read twice (buffer and typed
 *    helper each time) and written after
 *    every operation, so their pages sit in the thread's software TLB while
 *    the operations remap them (half of the IOMMU changes hit a hot page),
 *    move the memory behind them and toggle what the IOMMU leads to: a
 *    cached translation that outlives its notify or its target's map shows
 *    as a wrong byte;
 *  - overlap diagnostics: the collisions reported when a region is linked
 *    without _overlap, and memory_region_find_overlaps() (all pairs, ties),
 *    against a brute-force count over the system container's children.
 *
 * Environment: MEMREGION_SEED=<n> (default: seeds 1..4), MEMREGION_DIFF_OPS
 * (default 400 per seed). Last line: "dma-differential: N operations, C checks, M mismatches".
 */
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
#include "../support/devices.h"

#define STEP   0x100ull
#define SPAN   0x20000ull /* system regions live in [0, SPAN) */
#define PAGES  16
#define NRAM   5
#define NROM   2
#define NDEV   2
#define NALIAS 2
#define NSLOT  (NRAM + NROM + NDEV + NALIAS)

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static MemoryRegion sys, slot[NSLOT], dmaroot, dma2root, iommu1, iommu2;
static AddressSpace sysas, dmaas, dma2as;
static unsigned long checks, mismatches;

typedef struct Table {
    hwaddr xlat[PAGES];
    IOMMUAccessFlags perm[PAGES];
    AddressSpace *target;
} Table;
static Table t1, t2;

/* IOVAs read and written after every operation (see the header comment). */
#define NHOT 6
static AddressSpace *hot_as[NHOT];
static hwaddr hot_iova[NHOT];

static IOMMUTLBEntry translate(MemoryRegion *mr, void *opaque, hwaddr iova, IOMMUAccessFlags flag,
                               int idx)
{
    (void)mr;
    (void)flag;
    (void)idx;
    Table *t = opaque;
    IOMMUTLBEntry e = {.iova = iova & ~0xfffull, .addr_mask = 0xfff};
    unsigned p = (unsigned)(iova >> 12);
    if (p < PAGES && t->perm[p]) {
        e.target_as = t->target;
        e.translated_addr = t->xlat[p];
        e.perm = t->perm[p];
    }
    return e;
}
static const IOMMUMemoryRegionOps tops = {.translate = translate};

/* Devices: byte at offset o of device d reads as (o * 7 + d * 31) & 0xff; writes are dropped. */
static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    uint64_t v = 0, d = (uintptr_t)opaque;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)(((addr + i) * 7 + d * 31) & 0xff) << (8 * i);
    return v;
}
static const MemoryRegionOps dops = {.read = dev_read, .write = ts_write_ignore};

static int dev_index(const MemoryRegion *mr)
{
    for (int d = 0; d < NDEV; d++)
        if (mr == &slot[NRAM + NROM + d])
            return d;
    return -1;
}

static void mismatch(const char *what, AddressSpace *as, hwaddr addr, uint64_t got, uint64_t want)
{
    if (mismatches++ < 12)
        printf("mismatch: %s in %s at 0x%" PRIx64 ": got 0x%" PRIx64 ", want 0x%" PRIx64 "\n", what,
               address_space_name(as), addr, got, want);
}

#define CHECK(what, as, addr, got, want)                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if ((uint64_t)(got) != (uint64_t)(want))                                                   \
            mismatch(what, as, addr, (uint64_t)(got), (uint64_t)(want));                           \
    } while (0)

/* The byte the model says a read of @addr returns. */
static uint8_t model_byte(const RefDma *d)
{
    if (d->result != MEMTX_OK)
        return 0;
    int dv = dev_index(d->hit.mr);
    if (dv >= 0)
        return (uint8_t)((d->hit.offset * 7 + (hwaddr)dv * 31) & 0xff);
    return ((uint8_t *)memory_region_get_ram_ptr(d->hit.mr))[d->hit.offset];
}

static void check_point(AddressSpace *as, hwaddr addr)
{
    MemTxAttrs a = MEMTXATTRS_UNSPECIFIED;
    bool w = rnd() & 1;
    RefDma d = refmodel_dma_resolve(as, addr, w, a);
    MemoryRegionSection s;
    MemTxResult r = address_space_translate(as, addr, w, a, &s);
    CHECK("translate result", as, addr, r, d.result);
    if (r == MEMTX_OK && d.result == MEMTX_OK) {
        CHECK("translate region", as, addr, (uintptr_t)s.mr, (uintptr_t)d.hit.mr);
        CHECK("translate offset", as, addr, s.offset_within_region, d.hit.offset);
    }
    /* One byte read. */
    RefDma dr = w ? refmodel_dma_resolve(as, addr, false, a) : d;
    uint8_t b = 0x5a;
    r = address_space_read(as, addr, a, &b, 1);
    CHECK("read result", as, addr, r, dr.result);
    CHECK("read byte", as, addr, b, model_byte(&dr));
    /* One byte written to writable RAM lands there. */
    if (w && d.result == MEMTX_OK && memory_region_is_ram(d.hit.mr) && !d.hit.readonly) {
        uint8_t v = (uint8_t)rnd();
        CHECK("write result", as, addr, address_space_write(as, addr, a, &v, 1), MEMTX_OK);
        CHECK("write byte", as, addr,
              ((uint8_t *)memory_region_get_ram_ptr(d.hit.mr))[d.hit.offset], v);
    }
    /* Mapping. */
    hwaddr want_len = 1 + rnd() % 0x3000, len = want_len;
    hwaddr direct = refmodel_map_len(as, addr, want_len, w, a, STEP);
    uint8_t *p = address_space_map(as, addr, &len, w, a);
    if (d.result != MEMTX_OK) {
        CHECK("map of a fault", as, addr, (uintptr_t)p, 0);
        CHECK("map length of a fault", as, addr, len, 0);
    } else if (direct) {
        CHECK("map pointer", as, addr, (uintptr_t)p,
              (uintptr_t)((uint8_t *)memory_region_get_ram_ptr(d.hit.mr) + d.hit.offset));
        CHECK("map length", as, addr, len, direct);
    } else {
        checks++;
        if (!p || !len || len > want_len)
            mismatch("bounce map", as, addr, len, want_len);
        else if (!w && p[0] != model_byte(&d))
            mismatch("bounce content", as, addr, p[0], model_byte(&d));
    }
    if (p)
        address_space_unmap(as, p, len, w, 0);
    /* access_valid of one byte. */
    bool valid = d.result == MEMTX_OK && (!w || !memory_region_is_ram(d.hit.mr) || !d.hit.readonly);
    CHECK("access_valid", as, addr, address_space_access_valid(as, addr, 1, w, a), valid);
}

/* ---- overlap diagnostics against brute force --------------------------------------- */

static bool declared[NSLOT]; /* linked with _overlap */
static unsigned long reported;

static void count_report(void *opaque, const MemoryRegionOverlap *ov)
{
    (void)opaque;
    if (ov->container == &sys)
        reported++;
}

static bool overlaps(const MemoryRegion *a, hwaddr addr, mr_size_t size)
{
    mr_size_t lo = memory_region_addr(a), hi = lo + memory_region_size(a);
    return memory_region_size(a) && size && lo < (mr_size_t)addr + size && (mr_size_t)addr < hi;
}

/* Collisions the diagnostic mode must report when slot @k is linked at
 * @addr without _overlap: plain siblings it overlaps. */
static unsigned long expected_collisions(int k, hwaddr addr)
{
    unsigned long n = 0;
    for (int j = 0; j < NSLOT; j++)
        if (j != k && memory_region_container(&slot[j]) == &sys && !declared[j] &&
            overlaps(&slot[j], addr, memory_region_size(&slot[k])))
            n++;
    return n;
}

/* Overlapping enabled sibling pairs of sys (only equal priorities: @ties). */
static long expected_pairs(bool ties)
{
    long n = 0;
    for (MemoryRegion *a = memory_region_first_subregion(&sys); a;
         a = memory_region_next_sibling(a))
        for (MemoryRegion *b = memory_region_next_sibling(a); b; b = memory_region_next_sibling(b))
            if (memory_region_is_enabled(a) && memory_region_is_enabled(b) &&
                overlaps(a, memory_region_addr(b), memory_region_size(b)) &&
                (!ties || memory_region_priority(a) == memory_region_priority(b)))
                n++;
    return n;
}

/* The hot IOVAs: two reads (the second from the TLB when the page is
 * cached) and a write where the model says the byte is writable RAM. */
static void check_hot(void)
{
    MemTxAttrs a = MEMTXATTRS_UNSPECIFIED;
    for (int h = 0; h < NHOT; h++) {
        AddressSpace *as = hot_as[h];
        hwaddr addr = hot_iova[h] + rnd() % 0x1000;
        RefDma d = refmodel_dma_resolve(as, addr, false, a);
        for (int i = 0; i < 2; i++) {
            uint8_t b = 0x5a;
            CHECK("hot read result", as, addr, address_space_read(as, addr, a, &b, 1), d.result);
            CHECK("hot read byte", as, addr, b, model_byte(&d));
            MemTxResult r;
            b = address_space_ldub(as, addr, a, &r);
            CHECK("hot ldub result", as, addr, r, d.result);
            CHECK("hot ldub byte", as, addr, b, model_byte(&d));
        }
        RefDma dw = refmodel_dma_resolve(as, addr, true, a);
        uint8_t v = (uint8_t)rnd();
        uint8_t old = dw.result == MEMTX_OK ? model_byte(&dw) : 0;
        MemTxResult r = address_space_write(as, addr, a, &v, 1);
        if (dw.result != MEMTX_OK || !memory_region_is_ram(dw.hit.mr)) {
            CHECK("hot write result", as, addr, r, dw.result);
        } else {
            /* ROM (read-only RAM) refuses the write and keeps its byte. */
            uint8_t *host = (uint8_t *)memory_region_get_ram_ptr(dw.hit.mr) + dw.hit.offset;
            CHECK("hot write result", as, addr, r, dw.hit.readonly ? MEMTX_DECODE_ERROR : MEMTX_OK);
            CHECK("hot write byte", as, addr, *host, dw.hit.readonly ? old : v);
        }
    }
}

static hwaddr rand_addr(void)
{
    return (rnd() % (SPAN / STEP)) * STEP;
}

static void random_op(void)
{
    unsigned k = (unsigned)(rnd() % NSLOT);
    MemoryRegion *mr = &slot[k];
    unsigned long want = 0, before = reported;
    bool linked = false;
    switch (rnd() % 6) {
    case 0: /* add (plain or _overlap) or remove */
        if (memory_region_container(mr)) {
            memory_region_del_subregion(&sys, mr);
        } else {
            hwaddr at = rand_addr();
            declared[k] = rnd() & 1;
            want = declared[k] ? 0 : expected_collisions((int)k, at);
            if (declared[k])
                memory_region_add_subregion_overlap(&sys, at, mr, (int32_t)(rnd() % 3));
            else
                memory_region_add_subregion(&sys, at, mr);
            linked = true;
        }
        break;
    case 1:
        if (memory_region_container(mr)) {
            hwaddr at = rand_addr();
            /* Moving to the address it has does nothing (QEMU's rule): no re-link. */
            bool moves = at != memory_region_addr(mr);
            want = declared[k] || !moves ? 0 : expected_collisions((int)k, at);
            memory_region_set_address(mr, at);
            linked = true;
        }
        break;
    case 2:
        memory_region_set_enabled(mr, rnd() % 4 != 0);
        break;
    case 3: {
        int32_t prio = (int32_t)(rnd() % 3);
        bool changes = prio != memory_region_priority(mr);
        if (memory_region_container(mr) && changes && !declared[k])
            want = expected_collisions((int)k, memory_region_addr(mr));
        linked = memory_region_container(mr) != NULL;
        memory_region_set_priority(mr, prio);
        break;
    }
    default: { /* an IOMMU page changes, and is announced */
        bool outer = rnd() % 3 == 0;
        Table *t = outer ? &t2 : &t1;
        unsigned p = (unsigned)(rnd() % PAGES);
        if (rnd() & 1) { /* a page the hot IOVAs keep cached */
            unsigned h = (unsigned)(rnd() % NHOT);
            outer = hot_as[h] == &dma2as;
            t = outer ? &t2 : &t1;
            p = (unsigned)(hot_iova[h] >> 12);
        }
        t->perm[p] = (IOMMUAccessFlags)(rnd() % 4);
        t->xlat[p] = outer ? (rnd() % PAGES) << 12 : (rnd() % (SPAN >> 12)) << 12;
        IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_UNMAP,
                            .entry = {.iova = (hwaddr)p << 12, .addr_mask = 0xfff}};
        memory_region_notify_iommu(outer ? &iommu2 : &iommu1, 0, ev);
        break;
    }
    }
    if (linked)
        CHECK("collisions reported", &sysas, memory_region_addr(mr), reported - before, want);
    CHECK("ties listed", &sysas, 0, memory_region_find_overlaps(&sys, true, NULL, NULL),
          expected_pairs(true));
    CHECK("overlaps listed", &sysas, 0, memory_region_find_overlaps(&sys, false, NULL, NULL),
          expected_pairs(false));
}

static void build(void)
{
    memory_region_init(&sys, "sys", MR_SIZE_2_64);
    for (int i = 0; i < NRAM; i++) {
        memory_region_init_ram(&slot[i], "ram", (1 + rnd() % 0x40) * STEP);
        uint8_t *p = memory_region_get_ram_ptr(&slot[i]);
        for (mr_size_t j = 0; j < memory_region_size(&slot[i]); j++)
            p[j] = (uint8_t)rnd();
    }
    for (int i = 0; i < NROM; i++) {
        memory_region_init_rom(&slot[NRAM + i], "rom", (1 + rnd() % 0x20) * STEP);
        memset(memory_region_get_ram_ptr(&slot[NRAM + i]), 0xa0 + i,
               (size_t)memory_region_size(&slot[NRAM + i]));
    }
    for (int i = 0; i < NDEV; i++)
        memory_region_init_io(&slot[NRAM + NROM + i], &dops, (void *)(uintptr_t)i, "dev",
                              (1 + rnd() % 0x10) * STEP);
    for (int i = 0; i < NALIAS; i++) {
        MemoryRegion *target = &slot[i];
        hwaddr off = (rnd() % 4) * STEP;
        mr_size_t sz =
            memory_region_size(target) > off + STEP ? memory_region_size(target) - off : STEP;
        memory_region_init_alias(&slot[NRAM + NROM + NDEV + i], "alias", target, off, sz);
    }
    for (int i = 0; i < NSLOT; i++) {
        memory_region_add_subregion_overlap(&sys, rand_addr(), &slot[i], (int32_t)(rnd() % 3));
        declared[i] = true;
    }
    memory_region_set_overlap_handler(count_report, NULL);
    address_space_init(&sysas, &sys, "sys");
    memset(&t1, 0, sizeof(t1));
    memset(&t2, 0, sizeof(t2));
    t1.target = &sysas;
    memory_region_init(&dmaroot, "dma-root", MR_SIZE_2_64);
    memory_region_init_iommu(&iommu1, &tops, &t1, "iommu1", PAGES << 12);
    memory_region_add_subregion(&dmaroot, 0, &iommu1);
    address_space_init(&dmaas, &dmaroot, "dma");
    t2.target = &dmaas;
    memory_region_init(&dma2root, "dma2-root", MR_SIZE_2_64);
    memory_region_init_iommu(&iommu2, &tops, &t2, "iommu2", PAGES << 12);
    memory_region_add_subregion(&dma2root, 0, &iommu2);
    address_space_init(&dma2as, &dma2root, "dma2");
    for (unsigned p = 0; p < PAGES; p++) {
        t1.perm[p] = (IOMMUAccessFlags)(rnd() % 4);
        t1.xlat[p] = (rnd() % (SPAN >> 12)) << 12;
        t2.perm[p] = (IOMMUAccessFlags)(rnd() % 4);
        t2.xlat[p] = (rnd() % PAGES) << 12;
    }
}

static void teardown(void)
{
    memory_region_set_overlap_handler(NULL, NULL);
    address_space_destroy(&dma2as);
    address_space_destroy(&dmaas);
    address_space_destroy(&sysas);
    memory_region_del_subregion(&dma2root, &iommu2);
    memory_region_del_subregion(&dmaroot, &iommu1);
    memory_region_destroy(&iommu2);
    memory_region_destroy(&iommu1);
    memory_region_destroy(&dma2root);
    memory_region_destroy(&dmaroot);
    for (int i = NSLOT - 1; i >= 0; i--) {
        if (memory_region_container(&slot[i]))
            memory_region_del_subregion(&sys, &slot[i]);
        assert_int_equal(memory_region_destroy(&slot[i]), 0);
    }
    memory_region_destroy(&sys);
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 0) : dflt;
}

static void test_dma_differential(void **state)
{
    (void)state;
    unsigned long first = 1, last = 4;
    if (getenv("MEMREGION_SEED"))
        first = last = env_ul("MEMREGION_SEED", 1);
    unsigned long ops = env_ul("MEMREGION_DIFF_OPS", 400), total = 0;
    for (unsigned long seed = first; seed <= last; seed++) {
        rng = seed;
        build();
        MemoryRegionCache cache;
        hwaddr caddr = (rnd() % PAGES) << 12;
        address_space_cache_init(&cache, &dmaas, caddr, 0x40, false);
        for (int h = 0; h < NHOT; h++) {
            hot_as[h] = h < NHOT - 2 ? &dmaas : &dma2as;
            hot_iova[h] = (rnd() % PAGES) << 12;
        }
        for (unsigned long op = 0; op < ops; op++, total++) {
            random_op();
            AddressSpace *spaces[3] = {&sysas, &dmaas, &dma2as};
            for (int i = 0; i < 12; i++) {
                AddressSpace *as = spaces[rnd() % 3];
                hwaddr addr = as == &sysas ? rnd() % SPAN : rnd() % ((PAGES + 1) << 12);
                check_point(as, addr);
            }
            check_hot();
            hwaddr off = rnd() % 0x40;
            uint8_t b = 0x5a;
            RefDma d = refmodel_dma_resolve(&dmaas, caddr + off, false, MEMTXATTRS_UNSPECIFIED);
            MemTxResult r = address_space_read_cached(&cache, off, &b, 1);
            CHECK("cache result", &dmaas, caddr + off, r, d.result);
            CHECK("cache byte", &dmaas, caddr + off, b, model_byte(&d));
        }
        address_space_cache_destroy(&cache);
        teardown();
    }
    printf("dma-differential: %lu operations, %lu checks, %lu mismatches\n", total, checks,
           mismatches);
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dma_differential)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
