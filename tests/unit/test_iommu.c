/*
 * IOMMU regions: translation on every access path, permission faults and
 * unmapped IOVAs, nested IOMMUs and loops, IOMMU indexes, the translation
 * cache and its invalidation by notify, notifiers with replay, listeners
 * seeing the kind, and no allocation on "no mapping".
 *
 * The per-thread software TLB in front of IOMMU pages (test_tlb_*): a
 * repeated DMA read does not enter the IOMMU at all, and a cached page
 * stops answering, on every thread, once the model notifies a change
 * (remap, permission downgrade, unmap), the target address space's map
 * changes (overlay, dirty logging), the IOMMU region itself changes, or the
 * access comes with attributes that choose another IOMMU index. A page
 * that the IOMMU splits in parts smaller than 4 KiB is never cached whole,
 * and a chain of IOMMUs one longer than MR_IOMMU_MAX_DEPTH is refused
 * however much of it is cached. The typed helpers share the entries.
 * tests/unit/meson.build also runs these tests against a dispatch.c built
 * with MR_PLANT_STALE_IOMMU_TLB (no IOMMU generation check) and expects
 * them to fail.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* A toy IOMMU: 16 pages of 4 KiB per index, each mapped or not. */
typedef struct ToyPage {
    bool mapped;
    hwaddr xlat;
    IOMMUAccessFlags perm;
} ToyPage;

typedef struct Toy {
    AddressSpace *target;
    ToyPage page[2][16];
    unsigned calls;
    unsigned index_calls; /* attrs_to_index: made by every access that enters the IOMMU */
} Toy;

static IOMMUTLBEntry toy_translate(MemoryRegion *iommu, void *opaque, hwaddr addr,
                                   IOMMUAccessFlags flag, int idx)
{
    (void)iommu;
    (void)flag;
    Toy *t = opaque;
    t->calls++;
    IOMMUTLBEntry e = {.iova = addr & ~0xfffull, .addr_mask = 0xfff, .perm = IOMMU_NONE};
    hwaddr p = addr >> 12;
    if (p < 16 && t->page[idx][p].mapped) {
        e.target_as = t->target;
        e.translated_addr = t->page[idx][p].xlat;
        e.perm = t->page[idx][p].perm;
    }
    return e;
}

static int toy_attrs_to_index(MemoryRegion *iommu, void *opaque, MemTxAttrs attrs)
{
    (void)iommu;
    ((Toy *)opaque)->index_calls++;
    return attrs.secure ? 1 : 0;
}

static int toy_num_indexes(MemoryRegion *iommu, void *opaque)
{
    (void)iommu;
    (void)opaque;
    return 2;
}

static const IOMMUMemoryRegionOps toy_ops = {
    .translate = toy_translate,
    .attrs_to_index = toy_attrs_to_index,
    .num_indexes = toy_num_indexes,
};

static void toy_map(Toy *t, int idx, hwaddr iova, hwaddr xlat, IOMMUAccessFlags perm)
{
    t->page[idx][iova >> 12] = (ToyPage){true, xlat, perm};
}

static MemoryRegion *h_iommu(Toy *t, const char *name, mr_size_t size)
{
    MemoryRegion *mr = h_mr();
    assert_int_equal(memory_region_init_iommu(mr, &toy_ops, t, name, size), 0);
    return mr;
}

/*
 * Memory: "sys" with RAM at 0x100000 (64 KiB) and a device at 0x200000.
 * A device's bus-master space "dma" holds an IOMMU over [0, 0x10000) that
 * translates into sys.
 */
static Toy toy;
static TestDev dev;
static MemoryRegion *sys, *ram, *io, *dmaroot, *iommu;
static AddressSpace *sysas, *dmaas;

static void build(void)
{
    memset(&toy, 0, sizeof(toy));
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    sys = h_container("sys", MR_SIZE_2_64);
    ram = h_ram("ram", 0x10000);
    io = h_io(&td_ops_le, &dev, "dev", 0x100);
    h_add(sys, 0x100000, ram, 0);
    h_add(sys, 0x200000, io, 0);
    sysas = h_as(sys, "sys");
    toy.target = sysas;
    dmaroot = h_container("dma-root", MR_SIZE_2_64);
    iommu = h_iommu(&toy, "iommu", 0x10000);
    h_add(dmaroot, 0, iommu, 0);
    dmaas = h_as(dmaroot, "dma");
}

static uint8_t *ramp(void)
{
    return memory_region_get_ram_ptr(ram);
}

static void test_read_write_through_iommu(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x103000, IOMMU_RW);
    uint32_t v = 0x11223344;
    assert_int_equal(address_space_write(dmaas, 0x1010, ATTRS_NONE, &v, 4), MEMTX_OK);
    assert_memory_equal(ramp() + 0x3010, &v, 4);
    MemTxResult r;
    ramp()[0x3ff8] = 0xab;
    assert_int_equal(address_space_ldub(dmaas, 0x1ff8, ATTRS_NONE, &r), 0xab);
    assert_int_equal(r, MEMTX_OK);
    /* The kind is visible, and translate follows the IOMMU to the RAM. */
    assert_true(memory_region_is_iommu(iommu));
    assert_int_equal(memory_region_kind(iommu), MR_KIND_IOMMU);
    MemoryRegionSection s;
    assert_int_equal(address_space_translate(dmaas, 0x1004, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, ram);
    assert_int_equal(s.offset_within_region, 0x3004);
    assert_ptr_equal(s.host, ramp() + 0x3004);
    assert_size_equal(s.size, 0xffc); /* to the end of the IOMMU page */
}

static void test_to_mmio_and_across_pages(void **state)
{
    (void)state;
    build();
    /* Page 2 -> the last RAM page, page 3 -> device registers: one transfer
     * crossing both is split at the IOMMU page. */
    toy_map(&toy, 0, 0x2000, 0x10f000, IOMMU_RW);
    toy_map(&toy, 0, 0x3000, 0x200000, IOMMU_RW);
    uint8_t buf[16], back[16];
    for (int i = 0; i < 16; i++)
        buf[i] = (uint8_t)(0x40 + i);
    assert_int_equal(address_space_write(dmaas, 0x2ff8, ATTRS_NONE, buf, 16), MEMTX_OK);
    assert_memory_equal(ramp() + 0xfff8, buf, 8);
    assert_memory_equal(dev.mem, buf + 8, 8);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, true, 0, 8, 0x4f4e4d4c4b4a4948ull);
    assert_int_equal(address_space_read(dmaas, 0x2ff8, ATTRS_NONE, back, 16), MEMTX_OK);
    assert_memory_equal(back, buf, 16);
    /* A typed load through the IOMMU is still exactly one device access. */
    dev.nlog = 0;
    MemTxResult r;
    assert_int_equal(address_space_ldl_le(dmaas, 0x3004, ATTRS_NONE, &r), 0x4f4e4d4c);
    assert_int_equal(r, MEMTX_OK);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 4, 4, 0x4f4e4d4c);
    address_space_stw_be(dmaas, 0x3010, 0x1234, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 1, true, 0x10, 2, 0x3412);
}

static void test_faults(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RO);
    ramp()[0x1000] = 0x5a;
    uint8_t b = 0xee;
    /* Read allowed, write is a permission fault: ACCESS_ERROR, memory unchanged. */
    assert_int_equal(address_space_read(dmaas, 0x1000, ATTRS_NONE, &b, 1), MEMTX_OK);
    assert_int_equal(b, 0x5a);
    b = 0x77;
    assert_int_equal(address_space_write(dmaas, 0x1000, ATTRS_NONE, &b, 1), MEMTX_ACCESS_ERROR);
    assert_int_equal(ramp()[0x1000], 0x5a);
    /* Unmapped IOVA: DECODE_ERROR, reads zero. */
    uint32_t v = 0xffffffff;
    assert_int_equal(address_space_read(dmaas, 0x5000, ATTRS_NONE, &v, 4), MEMTX_DECODE_ERROR);
    assert_int_equal(v, 0);
    MemoryRegionSection s;
    assert_int_equal(address_space_translate(dmaas, 0x5000, false, ATTRS_NONE, &s),
                     MEMTX_DECODE_ERROR);
    assert_null(s.mr);
    assert_int_equal(address_space_translate(dmaas, 0x1000, true, ATTRS_NONE, &s),
                     MEMTX_ACCESS_ERROR);
    /* A read spanning mapped and unmapped pages: the mapped part arrives. */
    uint8_t two[2] = {1, 1};
    ramp()[0x1fff] = 0x99;
    assert_int_equal(address_space_read(dmaas, 0x1fff, ATTRS_NONE, two, 2), MEMTX_DECODE_ERROR);
    assert_int_equal(two[0], 0x99);
    assert_int_equal(two[1], 0);
}

static void test_indexes(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    toy_map(&toy, 1, 0x1000, 0x102000, IOMMU_RW);
    ramp()[0x1000] = 1;
    ramp()[0x2000] = 2;
    MemTxAttrs secure = {.secure = 1};
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 1);
    assert_int_equal(address_space_ldub(dmaas, 0x1000, secure, NULL), 2);
    assert_int_equal(memory_region_iommu_num_indexes(iommu), 2);
    assert_int_equal(memory_region_iommu_attrs_to_index(iommu, secure), 1);
    assert_int_equal(memory_region_iommu_get_min_page_size(iommu), 4096);
    assert_error(memory_region_iommu_num_indexes(ram), EINVAL);
}

static void test_cache_and_notify(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    ramp()[0x1000] = 1;
    ramp()[0x4000] = 4;
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 1);
    unsigned calls = toy.calls;
    for (int i = 0; i < 10; i++)
        assert_int_equal(address_space_ldub(dmaas, 0x1000 + i, ATTRS_NONE, NULL), i ? 0 : 1);
    assert_int_equal(toy.calls, calls); /* served from the cache */
    assert_int_equal(memory_region_iommu_stat_translations(iommu), calls);

    /* The model remaps without telling: the cache still answers the old page. */
    toy_map(&toy, 0, 0x1000, 0x104000, IOMMU_RW);
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 1);
    /* Once it announces the change, the next access translates again. */
    IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_UNMAP,
                        .entry = {.iova = 0x1000, .addr_mask = 0xfff, .perm = IOMMU_NONE}};
    assert_int_equal(memory_region_notify_iommu(iommu, 0, ev), 0);
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 4);
    assert_int_equal(toy.calls, calls + 1);

    /* With the cache off every access translates, as in QEMU. */
    assert_int_equal(memory_region_iommu_set_cache(iommu, false), 0);
    calls = toy.calls;
    for (int i = 0; i < 5; i++)
        address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL);
    assert_int_equal(toy.calls, calls + 5);
}

static void test_nested_and_loop(void **state)
{
    (void)state;
    build();
    /* A second IOMMU in front of the first: dma2 -> dma -> sys. */
    static Toy outer;
    memset(&outer, 0, sizeof(outer));
    outer.target = dmaas;
    MemoryRegion *root2 = h_container("dma2-root", MR_SIZE_2_64);
    MemoryRegion *iommu2 = h_iommu(&outer, "iommu2", 0x10000);
    h_add(root2, 0, iommu2, 0);
    AddressSpace *dma2 = h_as(root2, "dma2");
    toy_map(&outer, 0, 0x7000, 0x1000, IOMMU_RW);
    toy_map(&toy, 0, 0x1000, 0x105000, IOMMU_RW);
    ramp()[0x5123] = 0x42;
    assert_int_equal(address_space_ldub(dma2, 0x7123, ATTRS_NONE, NULL), 0x42);
    MemoryRegionSection s;
    assert_int_equal(address_space_translate(dma2, 0x7123, true, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, ram);
    assert_int_equal(s.offset_within_region, 0x5123);
    /* Write permission missing at the inner level only. */
    toy_map(&toy, 0, 0x1000, 0x105000, IOMMU_RO);
    memory_region_notify_iommu(iommu, 0,
                               (IOMMUTLBEvent){.type = IOMMU_NOTIFIER_UNMAP,
                                               .entry = {.iova = 0x1000, .addr_mask = 0xfff}});
    assert_int_equal(address_space_translate(dma2, 0x7123, true, ATTRS_NONE, &s),
                     MEMTX_ACCESS_ERROR);
    MemTxResult r;
    address_space_stb(dma2, 0x7123, 1, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_ACCESS_ERROR);
    assert_int_equal(ramp()[0x5123], 0x42);

    /* A loop: the IOMMU translates into its own address space. */
    toy.target = dmaas;
    toy_map(&toy, 0, 0x2000, 0x2000, IOMMU_RW);
    uint32_t v = 7;
    assert_int_equal(address_space_read(dmaas, 0x2000, ATTRS_NONE, &v, 4), MEMTX_DECODE_ERROR);
    assert_int_equal(v, 0);
    assert_int_equal(address_space_translate(dmaas, 0x2000, false, ATTRS_NONE, &s),
                     MEMTX_DECODE_ERROR);
}

static void test_map_and_cache_through_iommu(void **state)
{
    (void)state;
    build();
    /* IOVA pages 4, 5 contiguous in RAM; page 6 elsewhere. */
    toy_map(&toy, 0, 0x4000, 0x108000, IOMMU_RW);
    toy_map(&toy, 0, 0x5000, 0x109000, IOMMU_RW);
    toy_map(&toy, 0, 0x6000, 0x100000, IOMMU_RW);
    hwaddr len = 0x3000;
    uint8_t *p = address_space_map(dmaas, 0x4800, &len, true, ATTRS_NONE);
    assert_ptr_equal(p, ramp() + 0x8800);
    assert_int_equal(len, 0x1800); /* stops where translation stops being contiguous */
    address_space_unmap(dmaas, p, len, true, len);
    len = 0x10;
    assert_null(address_space_map(dmaas, 0x9000, &len, false, ATTRS_NONE));
    assert_int_equal(len, 0);
    assert_false(address_space_access_valid(dmaas, 0x9000, 1, false, ATTRS_NONE));
    assert_true(address_space_access_valid(dmaas, 0x4000, 0x3000, true, ATTRS_NONE));

    /* A cache through the IOMMU revalidates when the IOMMU announces a change. */
    MemoryRegionCache c;
    assert_int_equal(address_space_cache_init(&c, dmaas, 0x6000, 0x100, true), 0x100);
    ramp()[0x10] = 0x10;
    ramp()[0x7010] = 0x70;
    assert_int_equal(address_space_ldub_cached(&c, 0x10, ATTRS_NONE, NULL), 0x10);
    unsigned calls = toy.calls;
    assert_int_equal(address_space_ldub_cached(&c, 0x10, ATTRS_NONE, NULL), 0x10);
    assert_int_equal(toy.calls, calls); /* the fast path translates nothing */
    toy_map(&toy, 0, 0x6000, 0x107000, IOMMU_RW);
    memory_region_notify_iommu(iommu, 0,
                               (IOMMUTLBEvent){.type = IOMMU_NOTIFIER_UNMAP,
                                               .entry = {.iova = 0x6000, .addr_mask = 0xfff}});
    assert_int_equal(address_space_ldub_cached(&c, 0x10, ATTRS_NONE, NULL), 0x70);
    address_space_cache_destroy(&c);

    /* A cache spanning IOVA pages 4 and 5, contiguous in RAM: direct too. */
    assert_int_equal(address_space_cache_init(&c, dmaas, 0x4ff0, 0x20, true), 0x20);
    calls = toy.calls;
    address_space_stq_le_cached(&c, 0xc, 0x0102030405060708ull, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldq_le_cached(&c, 0xc, ATTRS_NONE, NULL), 0x0102030405060708ull);
    assert_int_equal(toy.calls, calls);
    assert_int_equal(ramp()[0x8ffc], 0x08);
    assert_int_equal(ramp()[0x9000], 0x04);
    /* Page 5 moves away from page 4: the cache notices and stays correct. */
    toy_map(&toy, 0, 0x5000, 0x10c000, IOMMU_RW);
    memory_region_notify_iommu(iommu, 0,
                               (IOMMUTLBEvent){.type = IOMMU_NOTIFIER_UNMAP,
                                               .entry = {.iova = 0x5000, .addr_mask = 0xfff}});
    ramp()[0xc000] = 0xcc;
    assert_int_equal(address_space_ldub_cached(&c, 0x10, ATTRS_NONE, NULL), 0xcc);
    address_space_stb_cached(&c, 0x0f, 0xdd, ATTRS_NONE, NULL);
    assert_int_equal(ramp()[0x8fff], 0xdd);
    address_space_cache_destroy(&c);
}

/* ---- notifiers ---------------------------------------------------------------- */

typedef struct Heard {
    IOMMUNotifier n;
    unsigned nr;
    IOMMUTLBEntry e[16];
} Heard;

static void heard_notify(IOMMUNotifier *n, IOMMUTLBEntry *e)
{
    Heard *h = (Heard *)n;
    if (h->nr < 16)
        h->e[h->nr] = *e;
    h->nr++;
}

static void test_notifiers(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x3000, 0x103000, IOMMU_RO);
    toy_map(&toy, 0, 0x9000, 0x109000, IOMMU_RW);
    toy_map(&toy, 1, 0x4000, 0x104000, IOMMU_RW);
    Heard all, unmap_only, idx1;
    memset(&all, 0, sizeof(all));
    memset(&unmap_only, 0, sizeof(unmap_only));
    memset(&idx1, 0, sizeof(idx1));
    iommu_notifier_init(&all.n, heard_notify, IOMMU_NOTIFIER_IOTLB_EVENTS, 0, 0x7fff, 0);
    iommu_notifier_init(&unmap_only.n, heard_notify, IOMMU_NOTIFIER_UNMAP, 0, UINT64_MAX, 0);
    iommu_notifier_init(&idx1.n, heard_notify, IOMMU_NOTIFIER_MAP, 0, UINT64_MAX, 1);
    /* Replay on register: existing mappings in range, as MAP events. */
    assert_int_equal(memory_region_register_iommu_notifier(iommu, &all.n), 0);
    assert_int_equal(all.nr, 1); /* 0x9000 is outside its range */
    assert_int_equal(all.e[0].iova, 0x3000);
    assert_int_equal(all.e[0].translated_addr, 0x103000);
    assert_int_equal(all.e[0].perm, IOMMU_RO);
    assert_int_equal(memory_region_register_iommu_notifier(iommu, &unmap_only.n), 0);
    assert_int_equal(unmap_only.nr, 0);
    assert_int_equal(memory_region_register_iommu_notifier(iommu, &idx1.n), 0);
    assert_int_equal(idx1.nr, 1);
    assert_int_equal(idx1.e[0].iova, 0x4000);
    assert_error(memory_region_register_iommu_notifier(iommu, &all.n), EBUSY);

    IOMMUTLBEvent map = {.type = IOMMU_NOTIFIER_MAP,
                         .entry = {.target_as = sysas,
                                   .iova = 0x5000,
                                   .translated_addr = 0x105000,
                                   .addr_mask = 0xfff,
                                   .perm = IOMMU_RW}};
    assert_int_equal(memory_region_notify_iommu(iommu, 0, map), 1);
    assert_int_equal(all.nr, 2);
    assert_int_equal(all.e[1].iova, 0x5000);
    IOMMUTLBEvent unmap = {.type = IOMMU_NOTIFIER_UNMAP,
                           .entry = {.iova = 0x8000, .addr_mask = 0x1fff}};
    /* [0x8000, 0x9fff]: outside all's range, inside unmap_only's. */
    assert_int_equal(memory_region_notify_iommu(iommu, 0, unmap), 1);
    assert_int_equal(unmap_only.nr, 1);
    assert_int_equal(all.nr, 2);
    assert_int_equal(idx1.nr, 1);

    assert_int_equal(memory_region_unregister_iommu_notifier(iommu, &all.n), 0);
    assert_error(memory_region_unregister_iommu_notifier(iommu, &all.n), EINVAL);
    unmap.entry.iova = 0x1000;
    assert_int_equal(memory_region_notify_iommu(iommu, 0, unmap), 1);
    assert_int_equal(all.nr, 2);
    memory_region_unregister_iommu_notifier(iommu, &unmap_only.n);
    memory_region_unregister_iommu_notifier(iommu, &idx1.n);

    /* Misuse. */
    Heard bad;
    iommu_notifier_init(&bad.n, heard_notify, IOMMU_NOTIFIER_MAP, 0, 10, 2);
    assert_error(memory_region_register_iommu_notifier(iommu, &bad.n), EINVAL);
    iommu_notifier_init(&bad.n, heard_notify, IOMMU_NOTIFIER_MAP, 10, 0, 0);
    assert_error(memory_region_register_iommu_notifier(iommu, &bad.n), EINVAL);
    assert_error(memory_region_register_iommu_notifier(ram, &bad.n), EINVAL);
    assert_error(memory_region_notify_iommu(ram, 0, map), EINVAL);
}

/*
 * Notify never waits for the writer lock: a model announcing an unmap on
 * one thread is not held up by a transaction open on another (which may
 * itself be waiting for the model, as a commit waits for readers inside
 * translate).
 */
static void *notify_thread(void *arg)
{
    (void)arg;
    IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_UNMAP,
                        .entry = {.iova = 0x1000, .addr_mask = 0xfff}};
    memory_region_notify_iommu(iommu, 0, ev);
    return NULL;
}

static void test_notify_without_writer_lock(void **state)
{
    (void)state;
    build();
    h_begin();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, notify_thread, NULL), 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    int rc = pthread_timedjoin_np(t, NULL, &deadline);
    h_commit();
    if (rc)
        pthread_join(t, NULL);
    assert_int_equal(rc, 0);
}

/* ---- the software TLB in front of IOMMU pages ----------------------------------- */

static uint8_t dma_rd8(AddressSpace *space, hwaddr iova, MemTxAttrs attrs, MemTxResult *r)
{
    uint8_t v = 0xee;
    *r = address_space_read(space, iova, attrs, &v, 1);
    return v;
}

/* Read one byte through the DMA space, expecting MEMTX_OK. */
static uint8_t dma8(hwaddr iova)
{
    MemTxResult r;
    uint8_t v = dma_rd8(dmaas, iova, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_OK);
    return v;
}

static void notify_unmap(hwaddr iova)
{
    IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_UNMAP,
                        .entry = {.iova = iova, .addr_mask = 0xfff, .perm = IOMMU_NONE}};
    assert_int_equal(memory_region_notify_iommu(iommu, 0, ev), 0);
}

static void test_tlb_repeated_dma_skips_the_iommu(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    ramp()[0x1010] = 0x5a;
    uint64_t fills = memregion_stat_tlb_fills();
    assert_int_equal(dma8(0x1010), 0x5a);
    assert_int_equal(memregion_stat_tlb_fills(), fills + 1);
    unsigned calls = toy.calls, index_calls = toy.index_calls;
    uint8_t w = 0x77;
    MemTxResult r;
    for (unsigned i = 0; i < 100; i++) {
        assert_int_equal(dma8(0x1010), 0x5a);
        assert_int_equal(address_space_write(dmaas, 0x1800 + i, ATTRS_NONE, &w, 1), MEMTX_OK);
        /* The typed helpers take the same entry. */
        assert_int_equal(address_space_ldub(dmaas, 0x1010, ATTRS_NONE, &r), 0x5a);
        assert_int_equal(r, MEMTX_OK);
        address_space_stw_le(dmaas, 0x1900 + 2 * i, 0x1234, ATTRS_NONE, &r);
        assert_int_equal(r, MEMTX_OK);
    }
    assert_int_equal(ramp()[0x1800 + 99], 0x77);
    assert_int_equal(ramp()[0x1900 + 2 * 99], 0x34);
    /* Neither translate nor attrs_to_index ran: the IOMMU was not entered. */
    assert_int_equal(toy.calls, calls);
    assert_int_equal(toy.index_calls, index_calls);
    assert_int_equal(memregion_stat_tlb_fills(), fills + 1);
}

static void test_tlb_notify_invalidates(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    ramp()[0x1000] = 1;
    ramp()[0x4000] = 4;
    assert_int_equal(dma8(0x1000), 1);
    /* The model remaps without telling: the cached page still answers (QEMU's IOTLB contract). */
    toy_map(&toy, 0, 0x1000, 0x104000, IOMMU_RW);
    assert_int_equal(dma8(0x1000), 1);
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 1);
    /* Once it announces the change, the next access sees the new translation. */
    notify_unmap(0x1000);
    assert_int_equal(address_space_ldub(dmaas, 0x1000, ATTRS_NONE, NULL), 4);
    assert_int_equal(dma8(0x1000), 4);
    uint8_t w = 0x44;
    assert_int_equal(address_space_write(dmaas, 0x1008, ATTRS_NONE, &w, 1), MEMTX_OK);
    assert_int_equal(ramp()[0x4008], 0x44);

    /* A permission downgrade: writes fault and change nothing, reads go on. */
    toy_map(&toy, 0, 0x1000, 0x104000, IOMMU_RO);
    notify_unmap(0x1000);
    w = 0x55;
    assert_int_equal(address_space_write(dmaas, 0x1008, ATTRS_NONE, &w, 1), MEMTX_ACCESS_ERROR);
    MemTxResult r;
    address_space_stb(dmaas, 0x1008, w, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_ACCESS_ERROR);
    assert_int_equal(ramp()[0x4008], 0x44);
    assert_int_equal(dma8(0x1008), 0x44);
    /* And back: a write-only page refuses reads. */
    toy_map(&toy, 0, 0x1000, 0x104000, IOMMU_WO);
    notify_unmap(0x1000);
    assert_int_equal(dma_rd8(dmaas, 0x1008, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_ACCESS_ERROR);
    assert_int_equal(address_space_write(dmaas, 0x1008, ATTRS_NONE, &w, 1), MEMTX_OK);
    assert_int_equal(ramp()[0x4008], 0x55);
    /* Unmapped: a decode error, zeros. */
    toy.page[0][1].mapped = false;
    notify_unmap(0x1000);
    assert_int_equal(dma_rd8(dmaas, 0x1008, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_DECODE_ERROR);

    /* Turning the cache off forgets cached pages too: every access translates. */
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    notify_unmap(0x1000);
    assert_int_equal(dma8(0x1000), 1);
    assert_int_equal(memory_region_iommu_set_cache(iommu, false), 0);
    toy_map(&toy, 0, 0x1000, 0x104000, IOMMU_RW);
    unsigned calls = toy.calls;
    for (int i = 0; i < 3; i++)
        assert_int_equal(dma8(0x1000), 4);
    assert_int_equal(toy.calls, calls + 3);
}

/* Another thread caches a page, the main thread notifies, the other reads again. */
static pthread_barrier_t tlb_step;
static uint8_t tlb_seen[2];

static void *tlb_reader(void *arg)
{
    (void)arg;
    MemTxResult r;
    tlb_seen[0] = dma_rd8(dmaas, 0x2000, ATTRS_NONE, &r);
    dma_rd8(dmaas, 0x2000, ATTRS_NONE, &r); /* from its TLB now */
    pthread_barrier_wait(&tlb_step);        /* cached */
    pthread_barrier_wait(&tlb_step);        /* notified */
    tlb_seen[1] = dma_rd8(dmaas, 0x2000, ATTRS_NONE, &r);
    return NULL;
}

static void test_tlb_notify_reaches_every_thread(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x2000, 0x102000, IOMMU_RW);
    ramp()[0x2000] = 2;
    ramp()[0x5000] = 5;
    assert_int_equal(pthread_barrier_init(&tlb_step, NULL, 2), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tlb_reader, NULL), 0);
    pthread_barrier_wait(&tlb_step);
    toy_map(&toy, 0, 0x2000, 0x105000, IOMMU_RW);
    notify_unmap(0x2000);
    pthread_barrier_wait(&tlb_step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&tlb_step);
    assert_int_equal(tlb_seen[0], 2);
    assert_int_equal(tlb_seen[1], 5);
}

static void test_tlb_target_map_change(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x3000, 0x103000, IOMMU_RW);
    ramp()[0x3000] = 3;
    assert_int_equal(dma8(0x3000), 3);
    /* RAM mapped over the target page in the target space. */
    MemoryRegion *over = h_ram("over", 0x1000);
    memset(memory_region_get_ram_ptr(over), 0xcc, 0x1000);
    h_add(sys, 0x103000, over, 1);
    assert_int_equal(dma8(0x3000), 0xcc);
    assert_int_equal(memory_region_del_subregion(sys, over), 0);
    assert_int_equal(dma8(0x3000), 3);
    /* Dirty logging starts on the target RAM: DMA writes mark it, every time. */
    uint8_t w = 9;
    assert_int_equal(address_space_write(dmaas, 0x3010, ATTRS_NONE, &w, 1), MEMTX_OK);
    assert_int_equal(memory_region_set_log(ram, true, DIRTY_MEMORY_VGA), 0);
    for (int round = 0; round < 3; round++) {
        memory_region_reset_dirty(ram, 0, 0x10000, DIRTY_MEMORY_VGA);
        assert_int_equal(address_space_write(dmaas, 0x3010, ATTRS_NONE, &w, 1), MEMTX_OK);
        assert_true(memory_region_get_dirty(ram, 0x3000, 0x1000, DIRTY_MEMORY_VGA));
    }
    /* The target RAM leaves its space: the IOVA leads nowhere. */
    assert_int_equal(memory_region_del_subregion(sys, ram), 0);
    MemTxResult r;
    assert_int_equal(dma_rd8(dmaas, 0x3000, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_DECODE_ERROR);
}

static void test_tlb_iommu_region_change(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RW);
    ramp()[0x1000] = 1;
    assert_int_equal(dma8(0x1000), 1);
    MemTxResult r;
    assert_int_equal(memory_region_set_enabled(iommu, false), 0);
    assert_int_equal(dma_rd8(dmaas, 0x1000, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_DECODE_ERROR);
    assert_int_equal(memory_region_set_enabled(iommu, true), 0);
    assert_int_equal(dma8(0x1000), 1);
    assert_int_equal(memory_region_set_address(iommu, 0x100000), 0);
    assert_int_equal(dma_rd8(dmaas, 0x1000, ATTRS_NONE, &r), 0);
    assert_int_equal(r, MEMTX_DECODE_ERROR);
    assert_int_equal(dma8(0x101000), 1);
}

static void test_tlb_attrs_choose_the_index(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x3000, 0x101000, IOMMU_RW);
    toy_map(&toy, 1, 0x3000, 0x102000, IOMMU_RW);
    ramp()[0x1000] = 0x10;
    ramp()[0x2000] = 0x20;
    MemTxAttrs secure = {.secure = 1};
    MemTxResult r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dma8(0x3000), 0x10);
        assert_int_equal(dma_rd8(dmaas, 0x3000, secure, &r), 0x20);
        assert_int_equal(r, MEMTX_OK);
    }
}

/*
 * A chain of MR_IOMMU_MAX_DEPTH + 1 IOMMUs, each mapping IOVA page 1 of its
 * space to page 1 of the next; the innermost leads to RAM at 0x101000.
 * space[i] has i + 1 IOMMUs on the way to the RAM.
 */
static void iommu_chain(AddressSpace **space)
{
    static Toy chain[MR_IOMMU_MAX_DEPTH + 1];
    AddressSpace *next = sysas;
    hwaddr xlat = 0x101000;
    for (unsigned i = 0; i <= MR_IOMMU_MAX_DEPTH; i++) {
        memset(&chain[i], 0, sizeof(chain[i]));
        chain[i].target = next;
        toy_map(&chain[i], 0, 0x1000, xlat, IOMMU_RW);
        MemoryRegion *root = h_container("chain-root", MR_SIZE_2_64);
        h_add(root, 0, h_iommu(&chain[i], "chain", 0x10000), 0);
        space[i] = next = h_as(root, "chain");
        xlat = 0x1000;
    }
}

static void test_tlb_keeps_the_depth_limit(void **state)
{
    (void)state;
    build();
    ramp()[0x1000] = 0x66;
    AddressSpace *space[MR_IOMMU_MAX_DEPTH + 1];
    iommu_chain(space);
    MemTxResult r;
    /* Every space of the chain is read once, innermost first, so each
     * page is in the TLB; the one past the limit still refuses. */
    for (int round = 0; round < 2; round++)
        for (unsigned i = 0; i <= MR_IOMMU_MAX_DEPTH; i++) {
            bool ok = i < MR_IOMMU_MAX_DEPTH;
            assert_int_equal(dma_rd8(space[i], 0x1000, ATTRS_NONE, &r), ok ? 0x66 : 0);
            assert_int_equal(r, ok ? MEMTX_OK : MEMTX_DECODE_ERROR);
            assert_int_equal(address_space_ldub(space[i], 0x1000, ATTRS_NONE, &r), ok ? 0x66 : 0);
            assert_int_equal(r, ok ? MEMTX_OK : MEMTX_DECODE_ERROR);
        }
}

/* An IOMMU of 2 KiB pages that swaps the halves of each 4 KiB. */
static IOMMUTLBEntry halves_translate(MemoryRegion *mr, void *opaque, hwaddr addr,
                                      IOMMUAccessFlags flag, int idx)
{
    (void)mr;
    (void)flag;
    (void)idx;
    (void)opaque;
    return (IOMMUTLBEntry){.target_as = sysas,
                           .iova = addr & ~0x7ffull,
                           .translated_addr = 0x100000 + ((addr & ~0x7ffull) ^ 0x800),
                           .addr_mask = 0x7ff,
                           .perm = IOMMU_RW};
}

static void test_tlb_small_iommu_pages(void **state)
{
    (void)state;
    build();
    static const IOMMUMemoryRegionOps halves_ops = {.translate = halves_translate};
    MemoryRegion *halves = h_mr();
    assert_int_equal(memory_region_init_iommu(halves, &halves_ops, NULL, "halves", 0x10000), 0);
    MemoryRegion *root2 = h_container("halves-root", MR_SIZE_2_64);
    h_add(root2, 0, halves, 0);
    AddressSpace *as2 = h_as(root2, "halves-dma");
    ramp()[0x0800] = 0xa1; /* IOVA 0x0000 */
    ramp()[0x0000] = 0xb2; /* IOVA 0x0800 */
    MemTxResult r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dma_rd8(as2, 0x0000, ATTRS_NONE, &r), 0xa1);
        assert_int_equal(dma_rd8(as2, 0x0800, ATTRS_NONE, &r), 0xb2);
    }
}

/* ---- listeners and errors ----------------------------------------------------- */

static unsigned iommu_adds, iommu_dels;

static void count_add(MemoryListener *l, const FlatRange *fr)
{
    (void)l;
    if (memory_region_is_iommu(fr->mr))
        iommu_adds++;
}

static void count_del(MemoryListener *l, const FlatRange *fr)
{
    (void)l;
    if (memory_region_kind(fr->mr) == MR_KIND_IOMMU)
        iommu_dels++;
}

static void test_listener_sees_kind(void **state)
{
    (void)state;
    build();
    iommu_adds = iommu_dels = 0;
    MemoryListener l = {.region_add = count_add, .region_del = count_del};
    assert_int_equal(memory_listener_register(&l, dmaas), 0);
    assert_int_equal(iommu_adds, 1);
    memory_region_del_subregion(dmaroot, iommu);
    assert_int_equal(iommu_dels, 1);
    h_add(dmaroot, 0x10000, iommu, 0);
    assert_int_equal(iommu_adds, 2);
    memory_listener_unregister(&l);
    assert_int_equal(iommu_dels, 2);
}

/* QEMU prints IOMMU regions as `i/o`, in the tree and in the flat view. */
static void test_printed_as_io(void **state)
{
    (void)state;
    build();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    AddressSpace *spaces[] = {dmaas};
    assert_int_equal(mtree_print_tree(f, spaces, 1, 0), 0);
    assert_int_equal(mtree_print_flat(f, spaces, 1, 0), 0);
    fclose(f);
    assert_non_null(strstr(buf, "    0000000000000000-000000000000ffff (prio 0, i/o): iommu\n"));
    assert_non_null(strstr(buf, "  0000000000000000-000000000000ffff (prio 0, i/o): iommu\n"));
    free(buf);
}

/* Destroying an IOMMU region releases its notifiers. */
static void test_destroy_releases_notifiers(void **state)
{
    (void)state;
    build();
    Heard h;
    memset(&h, 0, sizeof(h));
    iommu_notifier_init(&h.n, heard_notify, IOMMU_NOTIFIER_UNMAP, 0, UINT64_MAX, 0);
    assert_int_equal(memory_region_register_iommu_notifier(iommu, &h.n), 0);
    memory_region_del_subregion(dmaroot, iommu);
    assert_int_equal(memory_region_destroy(iommu), 0);
    MemoryRegion *again = h_iommu(&toy, "again", 0x1000);
    assert_int_equal(memory_region_register_iommu_notifier(again, &h.n), 0);
    assert_int_equal(memory_region_unregister_iommu_notifier(again, &h.n), 0);
}

static void test_errors(void **state)
{
    (void)state;
    build();
    MemoryRegion *m = h_mr();
    assert_error(memory_region_init_iommu(m, NULL, NULL, "x", 0x1000), EINVAL);
    static const IOMMUMemoryRegionOps none = {0};
    assert_error(memory_region_init_iommu(m, &none, NULL, "x", 0x1000), EINVAL);
    assert_error(memory_region_init_iommu(m, &toy_ops, &toy, "x", 0), EINVAL);
    assert_error(memory_region_add_subregion(iommu, 0, h_ram("r", 0x1000)), EINVAL);
    assert_error(memory_region_iommu_set_cache(ram, true), EINVAL);
    assert_int_equal(memory_region_iommu_stat_translations(ram), 0);
    assert_null(memory_region_iommu_opaque(ram));
    assert_ptr_equal(memory_region_iommu_opaque(iommu), &toy);
}

/* ---- no allocation on "no mapping" ---------------------------------------------
 * The test executable is linked with -Wl,--wrap=malloc,--wrap=calloc, so
 * every allocation the library makes is counted here. */
static unsigned long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_malloc(size_t n)
{
    __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
    return __real_calloc(n, m);
}

static void test_no_allocation_when_unmapped(void **state)
{
    (void)state;
    build();
    toy_map(&toy, 0, 0x1000, 0x101000, IOMMU_RO);
    uint8_t b;
    address_space_read(dmaas, 0x5000, ATTRS_NONE, &b, 1); /* warm up per-thread state */
    address_space_write(dmaas, 0x1000, ATTRS_NONE, &b, 1);
    MemoryRegionSection s;
    unsigned long before = allocations;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(address_space_read(dmaas, 0x5000 + i, ATTRS_NONE, &b, 1),
                         MEMTX_DECODE_ERROR);
        assert_int_equal(address_space_write(dmaas, 0x1000 + i, ATTRS_NONE, &b, 1),
                         MEMTX_ACCESS_ERROR);
        assert_int_equal(address_space_translate(dmaas, 0x6000, false, ATTRS_NONE, &s),
                         MEMTX_DECODE_ERROR);
    }
    assert_int_equal(allocations, before);
    /* The counter works: an allocating call is seen. */
    MemoryRegion *m = h_ram("counted", 0x1000);
    (void)m;
    assert_true(allocations > before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_read_write_through_iommu),
        H_TEST(test_to_mmio_and_across_pages),
        H_TEST(test_faults),
        H_TEST(test_indexes),
        H_TEST(test_cache_and_notify),
        H_TEST(test_nested_and_loop),
        H_TEST(test_map_and_cache_through_iommu),
        H_TEST(test_notifiers),
        H_TEST(test_notify_without_writer_lock),
        H_TEST(test_listener_sees_kind),
        H_TEST(test_errors),
        H_TEST(test_printed_as_io),
        H_TEST(test_destroy_releases_notifiers),
        H_TEST(test_no_allocation_when_unmapped),
        H_TEST(test_tlb_repeated_dma_skips_the_iommu),
        H_TEST(test_tlb_notify_invalidates),
        H_TEST(test_tlb_notify_reaches_every_thread),
        H_TEST(test_tlb_target_map_change),
        H_TEST(test_tlb_iommu_region_change),
        H_TEST(test_tlb_attrs_choose_the_index),
        H_TEST(test_tlb_small_iommu_pages),
        H_TEST(test_tlb_keeps_the_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
