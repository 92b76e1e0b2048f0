/*
 * A TLB entry never outlives the commit that changed its page, however a
 * fill races with commits.
 *
 * A writer thread maps, commit after commit, another of 64 one-page MMIO
 * regions at one page of the map, and after each commit returns publishes
 * its number (the epoch). Before mapping a region for commit k it sets the
 * region's value to k, which the region's read callback returns. A reader
 * thread reads the epoch, then the page: once commit e has returned, every
 * read must come from commit e's region or a later one, so the value read
 * is never below the epoch read before it.
 *
 * The reader evicts the page's TLB entry (reading a page found to share
 * it) before every 16 reads, so it fills the entry again and again while
 * the writer goes on committing, and fills race with publications. A fill
 * that read the view before its zone's generation could cache the page of
 * one version under the generation of the next, and keep answering with
 * the old region after that commit returned (the planted fault of
 * meson.build, MR_PLANT_VIEW_BEFORE_GEN, which this test must catch).
 *
 * The reader also reads, once per round, a RAM page of the same TLB zone
 * that never changes: every commit moves its zone's generation, and its
 * entry is kept by revalidation (the zone's span holds only the page the
 * regions take turns at) while AT's must not be; both race with commits.
 *
 * Environment: MEMREGION_STRESS_SECONDS (default 2): how long it runs
 * unless a stale read ends it first.
 */
#include <pthread.h>
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

#define NR_REGIONS  64
#define PAGE        0x1000ull
#define AT          0x4000ull   /* the page the regions take turns at */
#define FILLER      0x400000ull /* RAM, where a page that evicts AT's entry is found */
#define FILLER_SIZE 0x400000ull
#define CHECKS      16                 /* reads of AT after each refill */
#define NEIGHBOUR   (AT + 1024 * PAGE) /* in the filler, in AT's zone: never changes */
#define PATTERN     0x5a5a5a5a5a5a5a5aull

static MemoryRegion root, filler, dev[NR_REGIONS];
static hwaddr evictor; /* an address whose TLB entry is AT's */
static AddressSpace as;
static uint64_t value[NR_REGIONS]; /* what dev[i] answers (atomic accesses) */
static uint64_t epoch;             /* the last commit that returned (atomic accesses) */
static _Atomic int stop;
static _Atomic uint64_t stale, reads, failed, oldest_stale_lag, wrong_neighbour, revalidations;

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)addr;
    (void)size;
    return __atomic_load_n((uint64_t *)opaque, __ATOMIC_RELAXED);
}

static void dev_write(void *opaque, hwaddr addr, uint64_t v, unsigned size)
{
    (void)opaque;
    (void)addr;
    (void)v;
    (void)size;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.min_access_size = 8, .max_access_size = 8},
    .impl = {.min_access_size = 8, .max_access_size = 8},
};

static uint64_t rd(hwaddr addr)
{
    uint64_t v = 0;
    if (address_space_read(&as, addr, MEMTXATTRS_UNSPECIFIED, &v, 8) != MEMTX_OK)
        failed++;
    return v;
}

/* Evict AT's entry, so that the next read fills it again (racing with the
 * writer's commits), then check that read and the hits that follow. */
static void *reader(void *arg)
{
    (void)arg;
    while (!stop) {
        rd(evictor);
        for (int i = 0; i < CHECKS; i++) {
            uint64_t e = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE), v = rd(AT);
            reads++;
            if (v < e) {
                stale++;
                if (e - v > oldest_stale_lag)
                    oldest_stale_lag = e - v;
            }
        }
        if (rd(NEIGHBOUR) != PATTERN)
            wrong_neighbour++;
    }
    revalidations = memregion_stat_tlb_revalidations();
    return NULL;
}

/* A page of the filler whose entry is AT's: reading AT, then it, then AT
 * again fills AT's entry twice. */
static hwaddr find_evictor(void)
{
    for (hwaddr p = FILLER; p < FILLER + FILLER_SIZE; p += PAGE) {
        rd(AT);
        rd(p);
        uint64_t f = memregion_stat_tlb_fills();
        rd(AT);
        if (memregion_stat_tlb_fills() - f == 1)
            return p;
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_no_entry_outlives_the_commit_that_changed_its_page(void **state)
{
    (void)state;
    const char *env = getenv("MEMREGION_STRESS_SECONDS");
    double seconds = env ? atof(env) : 2;
    assert_int_equal(memory_region_init(&root, "root", FILLER + FILLER_SIZE), 0);
    assert_int_equal(memory_region_init_ram(&filler, "filler", FILLER_SIZE), 0);
    assert_int_equal(memory_region_add_subregion(&root, FILLER, &filler), 0);
    memset(memory_region_get_ram_ptr(&filler), 0x5a, FILLER_SIZE);
    for (int i = 0; i < NR_REGIONS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "dev%d", i);
        assert_int_equal(memory_region_init_io(&dev[i], &dev_ops, &value[i], name, PAGE), 0);
    }
    assert_int_equal(address_space_init(&as, &root, "as"), 0);
    assert_int_equal(memory_region_add_subregion(&root, AT, &dev[0]), 0);
    evictor = find_evictor();
    if (!evictor)
        fail_msg("no page of the filler evicts the TLB entry of %#llx", (unsigned long long)AT);

    pthread_t r;
    assert_int_equal(pthread_create(&r, NULL, reader, NULL), 0);
    double end = now() + seconds;
    uint64_t k = 0;
    while (now() < end && !stale) { /* the first stale read settles it */
        for (int burst = 0; burst < 256; burst++) {
            k++;
            MemoryRegion *old = &dev[(k - 1) % NR_REGIONS], *next = &dev[k % NR_REGIONS];
            __atomic_store_n(&value[k % NR_REGIONS], k, __ATOMIC_RELAXED);
            memory_region_transaction_begin();
            assert_int_equal(memory_region_del_subregion(&root, old), 0);
            assert_int_equal(memory_region_add_subregion(&root, AT, next), 0);
            memory_region_transaction_commit();
            __atomic_store_n(&epoch, k, __ATOMIC_RELEASE);
        }
    }
    stop = 1;
    pthread_join(r, NULL);
    print_message("%llu commits, %llu reads, %llu stale (up to %llu commits behind), %llu "
                  "failed; the neighbour page: %llu revalidations, %llu wrong reads\n",
                  (unsigned long long)k, (unsigned long long)reads, (unsigned long long)stale,
                  (unsigned long long)oldest_stale_lag, (unsigned long long)failed,
                  (unsigned long long)revalidations, (unsigned long long)wrong_neighbour);
    assert_int_equal(stale, 0);
    assert_int_equal(failed, 0);
    assert_int_equal(wrong_neighbour, 0);

    address_space_destroy(&as);
    assert_int_equal(memory_region_del_subregion(&root, &dev[k % NR_REGIONS]), 0);
    assert_int_equal(memory_region_del_subregion(&root, &filler), 0);
    assert_int_equal(memory_region_destroy(&filler), 0);
    for (int i = 0; i < NR_REGIONS; i++)
        assert_int_equal(memory_region_destroy(&dev[i]), 0);
    assert_int_equal(memory_region_destroy(&root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_entry_outlives_the_commit_that_changed_its_page),
    };
    return cmocka_run_group_tests_name("stress-tlb-order", tests, NULL, NULL);
}
