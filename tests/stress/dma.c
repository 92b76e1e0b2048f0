/*
 * DMA and IOMMU stress: while a writer moves RAM regions around and
 * destroys and re-creates one of them, an IOMMU thread remaps IOVA pages
 * and announces every change with memory_region_notify_iommu(); reader
 * threads dispatch through the IOMMU, map and unmap DMA buffers (direct and
 * bounced), and read through a MemoryRegionCache. Run under TSan and ASan.
 *
 * Self-checks: every byte of RAM region i holds the value 0x10 + i, and the
 * MMIO device answers 0xee. So any 8 bytes a reader gets from one page must
 * be one repeated value that some region (or the device, or an unassigned
 * hole: 0) could have provided; a torn or stale-freed read shows up as a
 * mixed word or an impossible value.
 *
 * Environment: MEMREGION_STRESS_SECONDS (default 2), MEMREGION_STRESS_READERS
 * (default 2).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "memregion/memregion.h"
#include "../support/devices.h"

#define PAGE      0x1000ull
#define NR_RAM    4
#define RAM_SIZE  (4 * PAGE)
#define NR_IOVA   16
#define DEV_BYTE  0xee
#define SLOT_BASE 0x100000ull /* RAM regions live at SLOT_BASE + k * RAM_SIZE, k < 8 */

static MemoryRegion sysroot, rams[NR_RAM], dev, dmaroot, iommu;
static AddressSpace sysas, dmaas;
static pthread_mutex_t ram_lock = PTHREAD_MUTEX_INITIALIZER; /* writer: which rams exist */

/* IOVA page p -> physical page (+1), or 0: unmapped. Atomic. */
static uint64_t table[NR_IOVA];
static volatile int stop;
static unsigned long reads_done, maps_done, bounces, cache_reads, notifies, moves;

static IOMMUTLBEntry translate(MemoryRegion *mr, void *opaque, hwaddr iova, IOMMUAccessFlags flag,
                               int idx)
{
    (void)mr;
    (void)opaque;
    (void)flag;
    (void)idx;
    IOMMUTLBEntry e = {.iova = iova & ~(PAGE - 1), .addr_mask = PAGE - 1};
    uint64_t t = iova / PAGE < NR_IOVA ? __atomic_load_n(&table[iova / PAGE], __ATOMIC_ACQUIRE) : 0;
    if (t) {
        e.target_as = &sysas;
        e.translated_addr = t - 1;
        e.perm = IOMMU_RW;
    }
    return e;
}

static const IOMMUMemoryRegionOps iommu_ops = {.translate = translate};

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    (void)addr;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)DEV_BYTE << (8 * i);
    return v;
}

static const MemoryRegionOps dev_ops = {.read = dev_read, .write = ts_write_ignore};

static bool plausible_byte(uint8_t b)
{
    return b == 0 || b == DEV_BYTE || (b >= 0x10 && b < 0x10 + NR_RAM);
}

static void check_uniform(const uint8_t *p, size_t n, const char *what)
{
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0])
            fail_msg("%s: torn data %02x/%02x at %zu", what, p[0], p[i], i);
    if (!plausible_byte(p[0]))
        fail_msg("%s: impossible byte %02x", what, p[0]);
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    MemoryRegionCache cache;
    address_space_cache_init(&cache, &dmaas, 3 * PAGE, PAGE, false);
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        hwaddr iova = (rnd(&seed) % NR_IOVA) * PAGE + (rnd(&seed) % (PAGE / 8)) * 8;
        uint8_t buf[8];
        address_space_read(&dmaas, iova, MEMTXATTRS_UNSPECIFIED, buf, 8);
        check_uniform(buf, 8, "read");
        __atomic_add_fetch(&reads_done, 1, __ATOMIC_RELAXED);

        hwaddr len = PAGE - (iova & (PAGE - 1));
        uint8_t *p = address_space_map(&dmaas, iova, &len, false, MEMTXATTRS_UNSPECIFIED);
        if (p) {
            uint8_t first = __atomic_load_n(&p[0], __ATOMIC_RELAXED);
            uint8_t last = __atomic_load_n(&p[len - 1], __ATOMIC_RELAXED);
            if (first != last || !plausible_byte(first))
                fail_msg("map: %02x .. %02x over %llu bytes", first, last, (unsigned long long)len);
            address_space_unmap(&dmaas, p, len, false, 0);
            __atomic_add_fetch(&maps_done, 1, __ATOMIC_RELAXED);
        }
        /* A bounced write to the device, and a direct one into the IOVA pages'
         * RAM that keeps the pattern. */
        len = 8;
        uint8_t *b = address_space_map(&sysas, 0x10, &len, true, MEMTXATTRS_UNSPECIFIED);
        if (b) {
            memset(b, DEV_BYTE, len);
            address_space_unmap(&sysas, b, len, true, len);
            __atomic_add_fetch(&bounces, 1, __ATOMIC_RELAXED);
        }
        address_space_read_cached(&cache, (rnd(&seed) % (PAGE / 8)) * 8, buf, 8);
        check_uniform(buf, 8, "cache");
        __atomic_add_fetch(&cache_reads, 1, __ATOMIC_RELAXED);
        bool ok = address_space_access_valid(&dmaas, iova, 8, false, MEMTXATTRS_UNSPECIFIED);
        (void)ok;
    }
    address_space_cache_destroy(&cache);
    return NULL;
}

/* The IOMMU model: remap IOVA pages at random, announcing each change. */
static void *iommu_thread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        unsigned p = rnd(&seed) % NR_IOVA;
        unsigned k = rnd(&seed) % 9; /* 8: unmapped, else slot k */
        uint64_t t = k == 8 ? 0 : SLOT_BASE + k * RAM_SIZE + (rnd(&seed) % 4) * PAGE + 1;
        __atomic_store_n(&table[p], t, __ATOMIC_RELEASE);
        IOMMUTLBEvent ev = {.type = IOMMU_NOTIFIER_UNMAP,
                            .entry = {.iova = p * PAGE, .addr_mask = PAGE - 1}};
        memory_region_notify_iommu(&iommu, 0, ev);
        __atomic_add_fetch(&notifies, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

static void fill(MemoryRegion *mr, int i)
{
    memset(memory_region_get_ram_ptr(mr), 0x10 + i, RAM_SIZE);
}

/* The writer: move RAM regions between slots; destroy and re-create one. */
static void *writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        int i = (int)(rnd(&seed) % NR_RAM);
        pthread_mutex_lock(&ram_lock);
        if (i == 0 && rnd(&seed) % 4 == 0) {
            hwaddr at = memory_region_addr(&rams[0]);
            memory_region_del_subregion(&sysroot, &rams[0]);
            /* Fails with EBUSY while a DMA mapping into it is live: then keep it. */
            if (memory_region_destroy(&rams[0]) == 0) {
                memory_region_init_ram(&rams[0], "ram0", RAM_SIZE);
                fill(&rams[0], 0);
            }
            memory_region_add_subregion_overlap(&sysroot, at, &rams[0], 0);
        } else {
            hwaddr to = SLOT_BASE + (rnd(&seed) % 8) * RAM_SIZE;
            memory_region_transaction_begin();
            memory_region_set_address(&rams[i], to);
            memory_region_set_priority(&rams[i], (int32_t)(rnd(&seed) % 3));
            memory_region_transaction_commit();
        }
        pthread_mutex_unlock(&ram_lock);
        __atomic_add_fetch(&moves, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

static unsigned env_unsigned(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static void test_dma_stress(void **state)
{
    (void)state;
    memory_region_init(&sysroot, "sys", MR_SIZE_2_64);
    for (int i = 0; i < NR_RAM; i++) {
        assert_int_equal(memory_region_init_ram(&rams[i], "ram", RAM_SIZE), 0);
        fill(&rams[i], i);
        memory_region_add_subregion_overlap(&sysroot, SLOT_BASE + (hwaddr)i * RAM_SIZE, &rams[i],
                                            0);
    }
    memory_region_init_io(&dev, &dev_ops, NULL, "dev", 0x100);
    memory_region_add_subregion(&sysroot, 0, &dev);
    assert_int_equal(address_space_init(&sysas, &sysroot, "sys"), 0);
    memory_region_init(&dmaroot, "dma", MR_SIZE_2_64);
    assert_int_equal(memory_region_init_iommu(&iommu, &iommu_ops, NULL, "iommu", NR_IOVA * PAGE),
                     0);
    memory_region_add_subregion(&dmaroot, 0, &iommu);
    assert_int_equal(address_space_init(&dmaas, &dmaroot, "dma"), 0);
    for (unsigned p = 0; p < NR_IOVA; p++)
        table[p] = SLOT_BASE + (p % 8) * RAM_SIZE / 2 + 1;
    address_space_set_max_bounce_buffer_size(&sysas, 16);

    unsigned secs = env_unsigned("MEMREGION_STRESS_SECONDS", 2);
    unsigned nr = env_unsigned("MEMREGION_STRESS_READERS", 2);
    if (nr > 16)
        nr = 16;
    pthread_t rd[16], wr, io;
    for (unsigned i = 0; i < nr; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, reader, (void *)(uintptr_t)(i + 1)), 0);
    assert_int_equal(pthread_create(&wr, NULL, writer, (void *)(uintptr_t)77), 0);
    assert_int_equal(pthread_create(&io, NULL, iommu_thread, (void *)(uintptr_t)99), 0);
    struct timespec ts = {.tv_sec = secs};
    nanosleep(&ts, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < nr; i++)
        pthread_join(rd[i], NULL);
    pthread_join(wr, NULL);
    pthread_join(io, NULL);
    printf("dma-stress: %lu reads, %lu maps, %lu bounced writes, %lu cached reads, "
           "%lu IOMMU notifies, %lu writer changes\n",
           reads_done, maps_done, bounces, cache_reads, notifies, moves);
    assert_true(reads_done > 0 && maps_done > 0 && notifies > 0 && moves > 0);
    assert_int_equal(address_space_bounce_buffer_size(&sysas), 0);

    address_space_destroy(&dmaas);
    address_space_destroy(&sysas);
    memory_region_del_subregion(&dmaroot, &iommu);
    assert_int_equal(memory_region_destroy(&iommu), 0);
    memory_region_destroy(&dmaroot);
    for (int i = 0; i < NR_RAM; i++) {
        memory_region_del_subregion(&sysroot, &rams[i]);
        assert_int_equal(memory_region_destroy(&rams[i]), 0);
    }
    memory_region_del_subregion(&sysroot, &dev);
    memory_region_destroy(&dev);
    memory_region_destroy(&sysroot);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dma_stress)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
