/*
 * miss-probe: scenario 2's worst row for callgrind's cache simulation.
 *
 * Builds scenario 2's map at N=65536 (65,536 RAM and 65,536 MMIO regions
 * of 4 KiB, stride 8 KiB; bench/scen_access.c) and the same sorted array of
 * 40-byte entries as the baseline (bench/baseline.h), then reads 4 bytes at
 * random addresses among the MMIO regions. There are far more pages than
 * the thread's software TLB holds, so nearly every memregion read misses it
 * and searches the view. The loop is the function read_loop, so callgrind
 * counts what one read costs in instructions and simulated cache misses,
 * which the wall-clock ratio on a shared machine cannot break down:
 *
 *   valgrind --tool=callgrind --cache-sim=yes --toggle-collect=read_loop \
 *       --callgrind-out-file=cg.out build/bench/miss-probe memregion 200000
 *   callgrind_annotate cg.out | grep 'PROGRAM TOTALS'
 *
 * and divide by the read count (the second argument). The first argument is
 * memregion (address_space_read) or baseline (search, then the callback).
 * Run alone, it prints the reads' checksum, the same for both, and on
 * standard error the wall-clock time per read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memregion/memregion.h>

#include "baseline.h"
#include "bench.h"

#define N 65536u

static void die(const char *what)
{
    fprintf(stderr, "miss-probe: %s failed\n", what);
    exit(1);
}

/* Both peers' device: the region's index (its opaque) plus the offset, so
 * that the checksum shows both read the same regions. */
static uint64_t read_cb(void *opaque, hwaddr off, unsigned size)
{
    (void)size;
    return (uint64_t)(uintptr_t)opaque + off;
}

static const MemoryRegionOps ops = {
    .read = read_cb,
    .valid = {.min_access_size = 1, .max_access_size = 8},
    .impl = {.min_access_size = 1, .max_access_size = 8},
};

/* @reads 4-byte reads at random MMIO addresses (xorshift, fixed seed). */
__attribute__((noinline)) uint64_t read_loop(AddressSpace *as, const BaseMap *bm, bool baseline,
                                             long reads);
uint64_t read_loop(AddressSpace *as, const BaseMap *bm, bool baseline, long reads)
{
    uint64_t s = 0x9e3779b97f4a7c15ull, sum = 0;
    for (long k = 0; k < reads; k++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint64_t addr = MMIO_BASE + (s % N) * REGION_STRIDE + ((s >> 40) % (REGION_SIZE / 4)) * 4;
        if (baseline) {
            const BaseEntry *e = basemap_lookup(bm, addr);
            sum += e->read(e->opaque, addr - e->start, 4);
        } else {
            uint32_t v = 0;
            address_space_read(as, addr, MEMTXATTRS_UNSPECIFIED, &v, 4);
            sum += v;
        }
    }
    return sum;
}

int main(int argc, char **argv)
{
    bool baseline = argc > 1 && !strcmp(argv[1], "baseline");
    long reads = argc > 2 ? atol(argv[2]) : 200000;
    if ((argc > 1 && !baseline && strcmp(argv[1], "memregion")) || reads <= 0) {
        fprintf(stderr, "usage: miss-probe [memregion|baseline] [READS]\n");
        return 2;
    }
    static MemoryRegion root;
    static AddressSpace as;
    MemoryRegion *ram = calloc(N, sizeof(*ram)), *mmio = calloc(N, sizeof(*mmio));
    BaseMap bm = {0};
    if (!ram || !mmio || memory_region_init(&root, "root", MR_SIZE_2_64))
        die("setup");
    memory_region_transaction_begin();
    for (uint64_t i = 0; i < N; i++) {
        uint64_t r = RAM_BASE + i * REGION_STRIDE, m = MMIO_BASE + i * REGION_STRIDE;
        if (memory_region_init_ram(&ram[i], "ram", REGION_SIZE) ||
            memory_region_add_subregion(&root, r, &ram[i]) ||
            memory_region_init_io(&mmio[i], &ops, (void *)(uintptr_t)i, "mmio", REGION_SIZE) ||
            memory_region_add_subregion(&root, m, &mmio[i]))
            die("map");
        BaseEntry er = {r, REGION_SIZE, memory_region_get_ram_ptr(&ram[i]), NULL, NULL};
        BaseEntry em = {m, REGION_SIZE, NULL, read_cb, (void *)(uintptr_t)i};
        if (!basemap_insert(&bm, &er) || !basemap_insert(&bm, &em))
            die("baseline insert");
    }
    memory_region_transaction_commit();
    if (address_space_init(&as, &root, "as"))
        die("address_space_init");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t sum = read_loop(&as, &bm, baseline, reads);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)reads;
    printf("%llu\n", (unsigned long long)sum);
    fprintf(stderr, "%s: %.1f ns per read\n", baseline ? "baseline" : "memregion", ns);
    return 0;
}
