/*
 * The hot paths' probe for `hot-path-instructions` (run-probe.py): one
 * address space, 16 RAM regions of 4 KiB (stride 8 KiB) and one 4 KiB MMIO
 * region whose device takes sizes 1..8 as they are; then K operations of
 * one kind, chosen on the command line:
 *
 *   perf-probe MODE K
 *
 * Each mode first runs the same loop WARMUP times, so the software TLB and
 * the translate cache are filled; the runner counts instructions at two
 * values of K and subtracts, which cancels this setup and warm-up, and then
 * subtracts the `loop` mode's figure (the loop alone), which leaves the
 * instructions of one operation. Addresses come from a fixed table of
 * ADDRS entries, the same in every mode, so the loop's own work is equal.
 * Exits 0 after checking that the operations succeeded, that the device saw
 * one call per MMIO operation (a probe that skips the work must not look
 * cheap) and that no access missed the TLB after the warm-up (read-miss:
 * that every access did); 1 when one of these fails, 2 on bad arguments or
 * setup.
 *
 * read-miss times the TLB's miss path: two more RAM pages whose addresses
 * share a TLB entry, read in turn, so every read evicts the other's entry
 * and looks its range up in the view.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memregion/memregion.h>

#include "../support/devices.h"
#include "../support/rng.h"

enum {
    NR_RAM = 16,
    REGION_SIZE = 0x1000,
    STRIDE = 0x2000,
    ADDRS = 256, /* a power of two: the loop masks its counter */
    WARMUP = 1000,
};

#define RAM_BASE  0x100000000ull
#define MMIO_BASE 0x200000000ull
/* Page numbers p and p + 1025, with p a multiple of 2^20, share TLB entry 0
 * (dispatch.c folds the page number's bits above the tenth onto the index). */
#define CLASH_A 0x300000000ull
#define CLASH_B (CLASH_A + 1025 * 0x1000ull)

static MemoryRegion root, ram[NR_RAM], mmio, clash[2];
static AddressSpace as;
static uint64_t mmio_reads, mmio_writes;
static uint64_t one_ram[ADDRS], one_mmio[ADDRS], any_ram[ADDRS], clashing[ADDRS];

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    mmio_reads++;
    return addr + size;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    mmio_writes++;
    ts_write_ignore(opaque, addr, data, size);
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.min_access_size = 1, .max_access_size = 8},
    .impl = {.min_access_size = 1, .max_access_size = 8},
};

static void die(const char *what)
{
    fprintf(stderr, "perf-probe: %s: %s\n", what, memregion_last_error());
    exit(2);
}

static void setup(void)
{
    if (memory_region_init(&root, "system", MR_SIZE_2_64))
        die("root");
    memory_region_transaction_begin();
    for (unsigned i = 0; i < NR_RAM; i++)
        if (memory_region_init_ram(&ram[i], "ram", REGION_SIZE) ||
            memory_region_add_subregion(&root, RAM_BASE + i * STRIDE, &ram[i]))
            die("ram");
    if (memory_region_init_io(&mmio, &dev_ops, NULL, "mmio", REGION_SIZE) ||
        memory_region_add_subregion(&root, MMIO_BASE, &mmio))
        die("mmio");
    for (unsigned i = 0; i < 2; i++)
        if (memory_region_init_ram(&clash[i], "clash", REGION_SIZE) ||
            memory_region_add_subregion(&root, i ? CLASH_B : CLASH_A, &clash[i]))
            die("clash");
    memory_region_transaction_commit();
    if (address_space_init(&as, &root, "memory"))
        die("address space");

    /* 4-byte aligned offsets inside one region, and addresses in any region. */
    uint64_t s = 13;
    for (unsigned i = 0; i < ADDRS; i++) {
        uint64_t off = ts_rng_next(&s) % (REGION_SIZE / 4) * 4;
        one_ram[i] = RAM_BASE + off;
        one_mmio[i] = MMIO_BASE + off;
        any_ram[i] = RAM_BASE + ts_rng_next(&s) % NR_RAM * STRIDE + off;
        clashing[i] = (i & 1 ? CLASH_B : CLASH_A) + off;
    }
}

/* What the operations return, folded so that none is optimised away. */
static uint64_t sink;
static MemTxResult failed;

#define LOOP(k, table, body)                                                                       \
    do {                                                                                           \
        for (uint64_t i_ = 0; i_ < (k); i_++) {                                                    \
            uint64_t a = (table)[i_ & (ADDRS - 1)];                                                \
            body;                                                                                  \
        }                                                                                          \
    } while (0)

/* The loop alone: the same table load, the address kept live. */
static void __attribute__((noinline)) run_loop(uint64_t k)
{
    LOOP(k, one_ram, __asm__ volatile("" : : "r"(a)));
}

static void __attribute__((noinline)) run_read(uint64_t k, const uint64_t *table)
{
    uint32_t v;
    LOOP(k, table, {
        failed |= address_space_read(&as, a, MEMTXATTRS_UNSPECIFIED, &v, 4);
        sink += v;
    });
}

static void __attribute__((noinline)) run_write_ram(uint64_t k)
{
    uint32_t v = 0x5a5a5a5a;
    LOOP(k, one_ram, failed |= address_space_write(&as, a, MEMTXATTRS_UNSPECIFIED, &v, 4));
}

static void __attribute__((noinline)) run_ldl(uint64_t k, const uint64_t *table)
{
    MemTxResult r;
    LOOP(k, table, {
        sink += address_space_ldl_le(&as, a, MEMTXATTRS_UNSPECIFIED, &r);
        failed |= r;
    });
}

static void __attribute__((noinline)) run_stl_mmio(uint64_t k)
{
    MemTxResult r;
    LOOP(k, one_mmio, {
        address_space_stl_le(&as, a, (uint32_t)a, MEMTXATTRS_UNSPECIFIED, &r);
        failed |= r;
    });
}

static void __attribute__((noinline)) run_translate(uint64_t k, const uint64_t *table)
{
    MemoryRegionSection sec;
    LOOP(k, table, {
        failed |= address_space_translate(&as, a, false, MEMTXATTRS_UNSPECIFIED, &sec);
        sink += (uintptr_t)sec.mr;
    });
}

typedef struct Mode {
    const char *name;
    void (*run)(uint64_t k);
    uint64_t *mmio_count; /* callbacks each operation makes, or NULL */
    bool misses;          /* every operation misses the TLB (else none does) */
    bool held;            /* inside a read section of the probe's (memregion_read_section_begin) */
} Mode;

static void read_ram(uint64_t k)
{
    run_read(k, one_ram);
}
static void read_mmio(uint64_t k)
{
    run_read(k, one_mmio);
}
static void ldl_ram(uint64_t k)
{
    run_ldl(k, one_ram);
}
static void ldl_mmio(uint64_t k)
{
    run_ldl(k, one_mmio);
}
static void translate_one(uint64_t k)
{
    run_translate(k, one_ram);
}
static void translate_any(uint64_t k)
{
    run_translate(k, any_ram);
}
static void read_miss(uint64_t k)
{
    run_read(k, clashing);
}

static const Mode modes[] = {
    {"loop", run_loop, NULL, false, false},
    {"read-ram", read_ram, NULL, false, false},
    {"read-mmio", read_mmio, &mmio_reads, false, false},
    {"write-ram", run_write_ram, NULL, false, false},
    {"ldl-ram", ldl_ram, NULL, false, false},
    {"ldl-mmio", ldl_mmio, &mmio_reads, false, false},
    {"stl-mmio", run_stl_mmio, &mmio_writes, false, false},
    {"translate-one", translate_one, NULL, false, false},
    {"translate-any", translate_any, NULL, false, false},
    {"read-miss", read_miss, NULL, true, false},
    {"read-ram-held", read_ram, NULL, false, true},
    {"read-mmio-held", read_mmio, &mmio_reads, false, true},
    {"translate-one-held", translate_one, NULL, false, true},
};

int main(int argc, char **argv)
{
    char *end;
    const Mode *m = NULL;
    uint64_t k = argc == 3 ? strtoull(argv[2], &end, 10) : 0;
    for (size_t i = 0; argc == 3 && i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(argv[1], modes[i].name))
            m = &modes[i];
    if (!m || !k || *end) {
        fprintf(stderr, "usage: perf-probe MODE K (K > 0); modes:");
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
            fprintf(stderr, " %s", modes[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    setup();
    if (m->held)
        memregion_read_section_begin();
    m->run(WARMUP);
    uint64_t fills = memregion_stat_tlb_fills();
    m->run(k);
    if (m->held && memregion_read_section_end() != 0) {
        fprintf(stderr, "perf-probe: %s: %s\n", m->name, memregion_last_error());
        return 1;
    }
    if (memregion_stat_tlb_fills() - fills != (m->misses ? k : 0)) {
        fprintf(stderr, "perf-probe: %s: %llu TLB fills for %llu operations after the warm-up\n",
                m->name, (unsigned long long)(memregion_stat_tlb_fills() - fills),
                (unsigned long long)(m->misses ? k : 0));
        return 1;
    }
    if (failed != MEMTX_OK) {
        fprintf(stderr, "perf-probe: %s: an operation failed (0x%x)\n", m->name, failed);
        return 1;
    }
    if (m->mmio_count && *m->mmio_count != WARMUP + k) {
        fprintf(stderr, "perf-probe: %s: %llu device calls for %llu operations\n", m->name,
                (unsigned long long)*m->mmio_count, (unsigned long long)(WARMUP + k));
        return 1;
    }
    printf("%s %llu %llx\n", m->name, (unsigned long long)k, (unsigned long long)sink);
    return 0;
}
