/*
 * map-probe: scenario 1's memregion rows at N=2048, for callgrind.
 *
 * Does what scenario 1 does for memregion at N=2048 (bench/scen_map.c): 8
 * repetitions of mapping 2048 regions of 4 KiB one commit at a time (init +
 * memory_region_add_subregion), then unmapping them (del_subregion +
 * destroy), last mapped first. The map and unmap loops are the functions
 * map_phase and unmap_phase, so callgrind gives their instructions, which
 * wall-clock time on a shared machine cannot:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/map-probe mmio
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'map_phase|unmap_phase'
 *
 * and divide by 16384 (2048 x 8) for instructions per op. Run alone, it
 * prints the allocator calls per op (malloc and friends are wrapped at link
 * time: see bench/meson.build). Argument: mmio (default) or ram.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memregion/memregion.h>

#include "devices.h"

#define N             2048
#define REPS          8
#define REGION_SIZE   0x1000ull
#define REGION_STRIDE 0x2000ull

static int counting;
static unsigned long nr_alloc, nr_free;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

void *__wrap_malloc(size_t size)
{
    nr_alloc += counting;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    nr_alloc += counting;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    nr_alloc += counting;
    return __real_realloc(p, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    nr_alloc += counting;
    return __real_aligned_alloc(align, size);
}

char *__wrap_strdup(const char *s)
{
    nr_alloc += counting;
    return __real_strdup(s);
}

void __wrap_free(void *p)
{
    nr_free += counting && p;
    __real_free(p);
}

static const MemoryRegionOps dev_ops = {.read = bench_read_offset, .write = bench_write_ignore};

static MemoryRegion regs[N], root;
static bool ram;

static void fail(const char *what)
{
    fprintf(stderr, "map-probe: %s: %s\n", what, memregion_last_error());
    exit(1);
}

__attribute__((noinline)) void map_phase(void);
__attribute__((noinline)) void unmap_phase(void);

void map_phase(void)
{
    uint64_t base = ram ? 0x100000000ull : 0x8000000000ull; /* scen_map.c's bases */
    for (int i = 0; i < N; i++) {
        int err = ram ? memory_region_init_ram(&regs[i], "bench-ram", REGION_SIZE)
                      : memory_region_init_io(&regs[i], &dev_ops, NULL, "bench-mmio", REGION_SIZE);
        if (err || memory_region_add_subregion(&root, base + i * REGION_STRIDE, &regs[i]))
            fail("map");
    }
}

void unmap_phase(void)
{
    for (int j = N - 1; j >= 0; j--)
        if (memory_region_del_subregion(&root, &regs[j]) || memory_region_destroy(&regs[j]))
            fail("unmap");
}

int main(int argc, char **argv)
{
    ram = argc > 1 && !strcmp(argv[1], "ram");
    unsigned long map_alloc = 0, map_free = 0, unmap_alloc = 0, unmap_free = 0;
    for (int r = 0; r < REPS; r++) {
        AddressSpace as;
        if (memory_region_init(&root, "system", MR_SIZE_2_64) ||
            address_space_init(&as, &root, "memory"))
            fail("setup");
        nr_alloc = nr_free = 0;
        counting = 1;
        map_phase();
        counting = 0;
        map_alloc += nr_alloc;
        map_free += nr_free;
        nr_alloc = nr_free = 0;
        counting = 1;
        unmap_phase();
        counting = 0;
        unmap_alloc += nr_alloc;
        unmap_free += nr_free;
        address_space_destroy(&as);
        memory_region_destroy(&root);
    }
    double ops = (double)N * REPS;
    printf("%s: per map op %.2f allocations, %.2f frees; per unmap op %.2f allocations, %.2f "
           "frees\n",
           ram ? "RAM" : "MMIO", (double)map_alloc / ops, (double)map_free / ops,
           (double)unmap_alloc / ops, (double)unmap_free / ops);
    return 0;
}
