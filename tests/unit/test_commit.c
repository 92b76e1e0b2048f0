/*
 * Commits: empty renders, view roots reached through long chains of
 * single-child regions, transactions used out of balance, and how often a
 * busy writer waits for busy readers to free what its commits retired.
 *
 * The first test must stay first: it is the first render of this process,
 * and it renders nothing (the scratch buffers of the renderer are still
 * unallocated then, which is what the UBSan build checks).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu-bp.h>

#include "helpers.h"

/* Every test here that could hang is stopped by SIGALRM instead. */
#define HANG_LIMIT 60

static void test_empty_first_render(void **state)
{
    (void)state;
    /* Two branches and nothing that terminates: the root renders to no range. */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *a = h_container("a", 0x1000);
    MemoryRegion *b = h_container("b", 0x1000);
    h_add(root, 0x0000, a, 0);
    h_add(root, 0x2000, b, 0);
    AddressSpace *as = h_as(root, "empty");
    assert_view_empty(as);
    /* And an incremental render of an empty window. */
    assert_int_equal(memory_region_set_address(b, 0x4000), 0);
    assert_view_empty(as);
}

/* ---- deep chains of single children ------------------------------------------ */

/* Regions of one chain, allocated here (the helpers track at most 128). */
typedef struct Chain {
    MemoryRegion **mr; /* mr[0] outermost .. mr[depth - 1] innermost */
    unsigned depth;
} Chain;

/* @depth containers of @size, each the only child of the one above at offset 0. */
static Chain chain_new(unsigned depth, mr_size_t size)
{
    Chain c = {.mr = calloc(depth, sizeof(MemoryRegion *)), .depth = depth};
    assert_non_null(c.mr);
    for (unsigned i = 0; i < depth; i++) {
        c.mr[i] = calloc(1, sizeof(MemoryRegion));
        assert_non_null(c.mr[i]);
        assert_int_equal(memory_region_init(c.mr[i], "level", size), 0);
        if (i)
            h_add(c.mr[i - 1], 0, c.mr[i], 0);
    }
    return c;
}

/* Unlink and destroy the chain's regions; whatever hangs below must be unlinked first. */
static void chain_free(Chain *c)
{
    for (unsigned i = c->depth; i-- > 0;) {
        MemoryRegion *parent = memory_region_container(c->mr[i]);
        if (parent)
            assert_int_equal(memory_region_del_subregion(parent, c->mr[i]), 0);
        assert_int_equal(memory_region_destroy(c->mr[i]), 0);
        free(c->mr[i]);
    }
    free(c->mr);
}

/*
 * An address space whose root reaches its first branching region through
 * @depth single-child levels: commits return, every level is watched (a
 * change at any depth shows), and the chain can be cut and restored.
 */
static void deep_chain(unsigned depth)
{
    alarm(HANG_LIMIT);
    Chain c = chain_new(depth, 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *rom = h_rom("rom", 0x1000);
    MemoryRegion *bottom = c.mr[depth - 1];
    h_add(bottom, 0x1000, ram, 0);
    h_add(bottom, 0x3000, rom, 0);
    AddressSpace *as = h_as(c.mr[0], "deep");
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x3000, 0x1000, rom, 0, true});

    /* A change at the bottom shows. */
    assert_int_equal(memory_region_set_address(rom, 0x5000), 0);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x5000, 0x1000, rom, 0, true});

    /* A change half-way down the chain shows, and so does undoing it. */
    MemoryRegion *mid = c.mr[depth / 2];
    memory_region_set_enabled(mid, false);
    assert_view_empty(as);
    memory_region_set_enabled(mid, true);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x5000, 0x1000, rom, 0, true});

    /* A sibling half-way down ends the chain there; removing it restores it. */
    MemoryRegion *side = h_ram("side", 0x1000);
    h_add(c.mr[depth / 2], 0x8000, side, 0);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x5000, 0x1000, rom, 0, true},
                {0x8000, 0x1000, side, 0, false});
    assert_int_equal(memory_region_del_subregion(c.mr[depth / 2], side), 0);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x5000, 0x1000, rom, 0, true});

    /* Moving a level off offset 0 ends the chain above it. */
    MemoryRegion *low = c.mr[depth - 1];
    assert_int_equal(memory_region_set_address(low, 0x100), 0);
    assert_view(as, {0x1100, 0x1000, ram, 0, false}, {0x5100, 0x1000, rom, 0, true});
    assert_int_equal(memory_region_set_address(low, 0), 0);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x5000, 0x1000, rom, 0, true});

    h_as_destroy(as);
    assert_int_equal(memory_region_del_subregion(bottom, ram), 0);
    assert_int_equal(memory_region_del_subregion(bottom, rom), 0);
    chain_free(&c);
    alarm(0);
}

static void test_deep_chain_9(void **state)
{
    (void)state;
    deep_chain(9);
}

static void test_deep_chain_100(void **state)
{
    (void)state;
    deep_chain(100);
}

static void test_deep_chain_10000(void **state)
{
    (void)state;
    deep_chain(10000);
}

/*
 * A guest turns off one of two windows of a container: the other window
 * becomes its only child and starts a chain of nine more single children.
 */
static void test_disable_sibling_starts_deep_chain(void **state)
{
    (void)state;
    alarm(HANG_LIMIT);
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *bus = h_container("bus", 0x10000);
    MemoryRegion *window = h_container("window", 0x8000);
    h_add(root, 0, bus, 0);
    Chain c = chain_new(9, 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    MemoryRegion *rom = h_rom("rom", 0x1000);
    h_add(c.mr[8], 0x1000, ram, 0);
    h_add(c.mr[8], 0x2000, rom, 0);
    h_add(bus, 0, c.mr[0], 0);
    h_add(bus, 0x8000, window, 1);
    MemoryRegion *wram = h_ram("wram", 0x1000);
    h_add(window, 0, wram, 0);
    AddressSpace *as = h_as(root, "bus");
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x2000, 0x1000, rom, 0, true},
                {0x8000, 0x1000, wram, 0, false});

    memory_region_set_enabled(window, false);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x2000, 0x1000, rom, 0, true});
    /* Commits keep returning, and changes at the bottom still show. */
    assert_int_equal(memory_region_set_address(ram, 0x4000), 0);
    assert_view(as, {0x2000, 0x1000, rom, 0, true}, {0x4000, 0x1000, ram, 0, false});
    memory_region_set_enabled(window, true);
    assert_view(as, {0x2000, 0x1000, rom, 0, true}, {0x4000, 0x1000, ram, 0, false},
                {0x8000, 0x1000, wram, 0, false});

    h_as_destroy(as);
    assert_int_equal(memory_region_del_subregion(c.mr[8], ram), 0);
    assert_int_equal(memory_region_del_subregion(c.mr[8], rom), 0);
    chain_free(&c);
    alarm(0);
}

/* The same through the mtree importer: a QEMU dump nine single-child levels deep. */
static void test_import_nine_levels(void **state)
{
    (void)state;
    alarm(HANG_LIMIT);
    char tree[2048];
    size_t n = (size_t)snprintf(tree, sizeof(tree), "address-space: memory\n");
    for (int i = 0; i <= 9; i++)
        n += (size_t)snprintf(tree + n, sizeof(tree) - n,
                              "%*s0000000000000000-000000000000ffff (prio 0, i/o): level%d\n",
                              2 + 2 * i, "", i);
    n += (size_t)snprintf(tree + n, sizeof(tree) - n,
                          "%*s0000000000001000-0000000000001fff (prio 0, ram): ram-a\n"
                          "%*s0000000000003000-0000000000003fff (prio 0, ram): ram-b\n\n",
                          22, "", 22, "");
    assert_true(n < sizeof(tree));
    MtreeError err;
    MtreeImport *imp = mtree_import(tree, strlen(tree), NULL, &err);
    assert_non_null(imp);
    assert_int_equal(mtree_import_nr_spaces(imp), 1);
    AddressSpace *as = mtree_import_spaces(imp)[0];
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), 2);
    const FlatRange *a = flatview_range(fv, 0), *b = flatview_range(fv, 1);
    assert_int_equal(a->addr, 0x1000);
    assert_string_equal(memory_region_name(a->mr), "ram-a");
    assert_int_equal(b->addr, 0x3000);
    assert_string_equal(memory_region_name(b->mr), "ram-b");
    flatview_unref(fv);
    assert_int_equal(mtree_import_free(imp), 0);
    alarm(0);
}

/* ---- transactions out of balance ---------------------------------------------- */

static void test_commit_without_begin(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    h_add(root, 0x1000, ram, 0);
    AddressSpace *as = h_as(root, "mem");
    uint64_t renders = memregion_stat_renders();

    assert_error(memory_region_transaction_commit(), EINVAL);
    assert_int_equal(memregion_stat_renders(), renders);
    /* One commit too many after a balanced pair. */
    memory_region_transaction_begin();
    assert_int_equal(memory_region_transaction_commit(), 0);
    assert_error(memory_region_transaction_commit(), EINVAL);

    /* Nothing was broken: every later change still shows at once. */
    assert_int_equal(memory_region_set_address(ram, 0x4000), 0);
    assert_view(as, {0x4000, 0x1000, ram, 0, false});
    memory_region_transaction_begin();
    assert_int_equal(memory_region_set_address(ram, 0x6000), 0);
    assert_view(as, {0x4000, 0x1000, ram, 0, false}); /* still inside the transaction */
    assert_int_equal(memory_region_transaction_commit(), 0);
    assert_view(as, {0x6000, 0x1000, ram, 0, false});
}

static int other_thread_rc;

static void *commit_elsewhere(void *arg)
{
    (void)arg;
    other_thread_rc = memory_region_transaction_commit();
    return NULL;
}

/* A commit on a thread that opened nothing cannot close another thread's transaction. */
static void test_commit_on_other_thread(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    h_add(root, 0x1000, ram, 0);
    AddressSpace *as = h_as(root, "mem");

    memory_region_transaction_begin();
    assert_int_equal(memory_region_set_address(ram, 0x2000), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_elsewhere, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(other_thread_rc, -EINVAL);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}); /* our transaction is still open */
    assert_int_equal(memory_region_transaction_commit(), 0);
    assert_view(as, {0x2000, 0x1000, ram, 0, false});
}

/* A reader that stays in read-side sections of about a millisecond. */
static volatile int reader_stop, reader_started;

static void *long_sections(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&reader_stop, __ATOMIC_RELAXED)) {
        rcu_read_lock();
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000l + (t.tv_nsec - t0.tv_nsec) < 1000000);
        rcu_read_unlock();
        __atomic_store_n(&reader_started, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/*
 * While readers make grace periods dear, retired memory is freed in batches
 * bounded in bytes, not in objects: a BAR moved 2,000 times in a view of 201
 * ranges retires about 11 KiB per move (the chunk holding the BAR, its node
 * and the old version), so a 2 MiB batch takes one grace
 * period per ~180 moves (12 here, the first batches before the writer
 * notices the readers included). A batch of 256 objects took one per 64
 * moves (31 here); no batch at all, one per move. And the batches stay bounded: the
 * writer does wait while moves keep coming.
 */
static void test_grace_periods_per_commit(void **state)
{
    (void)state;
    enum { NR_RAM = 200, MOVES = 2000 };
    MemoryRegion *root = h_container("root", 1ull << 40);
    for (unsigned i = 0; i < NR_RAM; i++)
        h_add(root, (1ull << 32) + i * 0x2000ull, h_ram("ram", 0x1000), 0);
    MemoryRegion *bar = h_ram("bar", 0x4000);
    h_add(root, 0x10000000, bar, 0);
    AddressSpace *as = h_as(root, "mem");
    /* Moves without readers first: the writer learns what a cheap wait takes. */
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(memory_region_set_address(bar, (i & 1) ? 0x10000000 : 0x18000000), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, long_sections, NULL), 0);
    while (!__atomic_load_n(&reader_started, __ATOMIC_RELAXED))
        sched_yield();
    uint64_t g0 = memregion_stat_grace_periods();
    for (unsigned i = 0; i < MOVES; i++)
        assert_int_equal(memory_region_set_address(bar, (i & 1) ? 0x10000000 : 0x18000000), 0);
    uint64_t g = memregion_stat_grace_periods() - g0;
    __atomic_store_n(&reader_stop, 1, __ATOMIC_RELAXED);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(g >= 5);           /* garbage is bounded: ~22 MiB was retired */
    assert_true(g <= MOVES / 100); /* but one wait serves many commits */
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), NR_RAM + 1);
    assert_ptr_equal(flatview_lookup(fv, 0x10000000)->mr, bar); /* 2,200 moves: back at A */
    flatview_unref(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_empty_first_render), /* first: see the top of this file */
        H_TEST(test_deep_chain_9),           H_TEST(test_deep_chain_100),
        H_TEST(test_deep_chain_10000),       H_TEST(test_disable_sibling_starts_deep_chain),
        H_TEST(test_import_nine_levels),     H_TEST(test_commit_without_begin),
        H_TEST(test_commit_on_other_thread), H_TEST(test_grace_periods_per_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
