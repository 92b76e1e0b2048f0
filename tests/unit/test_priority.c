/*
 * Priority among overlapping siblings: higher wins, priorities are signed
 * and local to one container, equal priorities go to the newest sibling,
 * moving or re-prioritising counts as a re-add, and removal restores what
 * was hidden.
 *
 * MMIO regions are used where two pieces of one region would otherwise be
 * adjacent, so that expected tables do not depend on merging.
 */
#include <stdint.h>

#include "helpers.h"

static TestDev dev_a, dev_b, dev_c;

/* Root container 0x10000 and an address space over it. */
static MemoryRegion *root;
static AddressSpace *as;

static void setup_root(void)
{
    root = h_container("root", 0x10000);
    as = h_as(root, "as");
    td_init(&dev_a, DEVICE_LITTLE_ENDIAN);
    td_init(&dev_b, DEVICE_LITTLE_ENDIAN);
    td_init(&dev_c, DEVICE_LITTLE_ENDIAN);
}

static void test_higher_wins(void **state)
{
    (void)state;
    setup_root();
    /* A [0,0x4000) prio 1; B [0x2000,0x6000) prio 2. B added last. */
    MemoryRegion *a = h_ram("A", 0x4000), *b = h_ram("B", 0x4000);
    h_add(root, 0, a, 1);
    h_add(root, 0x2000, b, 2);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
}

static void test_higher_wins_regardless_of_order(void **state)
{
    (void)state;
    setup_root();
    /* Same layout, but the higher-priority B is added first: it still wins. */
    MemoryRegion *a = h_ram("A", 0x4000), *b = h_ram("B", 0x4000);
    h_add(root, 0x2000, b, 2);
    h_add(root, 0, a, 1);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});

    /* And the lower one wins where it has the higher priority. */
    assert_int_equal(memory_region_set_priority(a, 3), 0);
    assert_view(as, {0, 0x4000, a, 0, false}, {0x4000, 0x2000, b, 0x2000, false});
}

static void test_signed_priorities(void **state)
{
    (void)state;
    setup_root();
    /* bg prio -1 at [0,0x8000) added last; fg prio 0 at [0x2000,0x4000). */
    MemoryRegion *fg = h_io(&td_ops_le, &dev_a, "fg", 0x2000);
    MemoryRegion *bg = h_io(&td_ops_le, &dev_b, "bg", 0x8000);
    h_add(root, 0x2000, fg, 0);
    h_add(root, 0, bg, -1);
    assert_view(as, {0, 0x2000, bg, 0, false}, {0x2000, 0x2000, fg, 0, false},
                {0x4000, 0x4000, bg, 0x4000, false});

    /* Extremes: INT32_MIN loses to -1, INT32_MAX beats everything. */
    MemoryRegion *lowest = h_io(&td_ops_le, &dev_c, "lowest", 0x10000);
    h_add(root, 0, lowest, INT32_MIN);
    assert_view(as, {0, 0x2000, bg, 0, false}, {0x2000, 0x2000, fg, 0, false},
                {0x4000, 0x4000, bg, 0x4000, false}, {0x8000, 0x8000, lowest, 0x8000, false});
    assert_int_equal(memory_region_set_priority(lowest, INT32_MAX), 0);
    assert_view(as, {0, 0x10000, lowest, 0, false});
}

static void test_equal_priority_newest_wins(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *a = h_io(&td_ops_le, &dev_a, "A", 0x4000);
    MemoryRegion *b = h_io(&td_ops_le, &dev_b, "B", 0x4000);
    h_add(root, 0, a, 0);
    h_add(root, 0x2000, b, 0); /* newest: wins the overlap */
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
}

static void test_equal_priority_newest_wins_reverse(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *a = h_io(&td_ops_le, &dev_a, "A", 0x4000);
    MemoryRegion *b = h_io(&td_ops_le, &dev_b, "B", 0x4000);
    h_add(root, 0x2000, b, 0);
    h_add(root, 0, a, 0); /* newest: wins the overlap */
    assert_view(as, {0, 0x4000, a, 0, false}, {0x4000, 0x2000, b, 0x2000, false});
}

static void test_set_address_is_readd(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *a = h_io(&td_ops_le, &dev_a, "A", 0x4000);
    MemoryRegion *b = h_io(&td_ops_le, &dev_b, "B", 0x4000);
    h_add(root, 0, a, 0);
    h_add(root, 0x2000, b, 0);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
    /* Moving A makes it the newest of the prio-0 group: it now wins the overlap. */
    assert_int_equal(memory_region_set_address(a, 0x1000), 0);
    assert_view(as, {0x1000, 0x4000, a, 0, false}, {0x5000, 0x1000, b, 0x3000, false});
    assert_ptr_equal(memory_region_first_subregion(root), a);
}

static void test_set_priority_is_readd(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *a = h_io(&td_ops_le, &dev_a, "A", 0x4000);
    MemoryRegion *b = h_io(&td_ops_le, &dev_b, "B", 0x4000);
    h_add(root, 0, a, 1);
    h_add(root, 0x2000, b, 0);
    assert_view(as, {0, 0x4000, a, 0, false}, {0x4000, 0x2000, b, 0x2000, false});
    /* B joins priority 1 as its newest member: it now wins. */
    assert_int_equal(memory_region_set_priority(b, 1), 0);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
    assert_ptr_equal(memory_region_first_subregion(root), b);
    assert_ptr_equal(memory_region_next_sibling(b), a);
}

/* QEMU's rule: moving a region to the address it has is no move at all. */
static void test_set_same_address_keeps_place(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *a = h_io(&td_ops_le, &dev_a, "A", 0x4000);
    MemoryRegion *b = h_io(&td_ops_le, &dev_b, "B", 0x4000);
    h_add(root, 0, a, 0);
    h_add(root, 0x2000, b, 0);
    uint64_t renders = memregion_stat_renders();
    /* A stays the older of the two: B still wins the overlap, nothing re-renders. */
    assert_int_equal(memory_region_set_address(a, 0), 0);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
    assert_ptr_equal(memory_region_first_subregion(root), b);
    assert_int_equal(memregion_stat_renders(), renders);
    /* The same for a priority it already has. */
    assert_int_equal(memory_region_set_priority(a, 0), 0);
    assert_view(as, {0, 0x2000, a, 0, false}, {0x2000, 0x4000, b, 0, false});
    assert_ptr_equal(memory_region_first_subregion(root), b);
}

static void test_removal_restores(void **state)
{
    (void)state;
    setup_root();
    MemoryRegion *ram = h_ram("ram", 0x4000);
    MemoryRegion *hole = h_io(&td_ops_le, &dev_a, "hole", 0x1000);
    h_add(root, 0, ram, 0);
    h_add(root, 0x1000, hole, 1);
    assert_view(as, {0, 0x1000, ram, 0, false}, {0x1000, 0x1000, hole, 0, false},
                {0x2000, 0x2000, ram, 0x2000, false});
    /* Removing the punch restores RAM as one range: nothing was truncated. */
    assert_int_equal(memory_region_del_subregion(root, hole), 0);
    assert_view(as, {0, 0x4000, ram, 0, false});
    assert_null(memory_region_container(hole));

    /* Same with two stacked layers removed top-down. */
    MemoryRegion *mid = h_io(&td_ops_le, &dev_b, "mid", 0x2000);
    h_add(root, 0x1000, mid, 1);
    h_add(root, 0x1800, hole, 2);
    assert_view(as, {0, 0x1000, ram, 0, false}, {0x1000, 0x800, mid, 0, false},
                {0x1800, 0x1000, hole, 0, false}, {0x2800, 0x800, mid, 0x1800, false},
                {0x3000, 0x1000, ram, 0x3000, false});
    assert_int_equal(memory_region_del_subregion(root, mid), 0);
    assert_view(as, {0, 0x1800, ram, 0, false}, {0x1800, 0x1000, hole, 0, false},
                {0x2800, 0x1800, ram, 0x2800, false});
    assert_int_equal(memory_region_del_subregion(root, hole), 0);
    assert_view(as, {0, 0x4000, ram, 0, false});
}

static void test_priority_is_local(void **state)
{
    (void)state;
    setup_root();
    /*
     * Container K (prio 1) holds x at prio -100; sibling y at prio 0 covers
     * the same addresses. Priorities compare only between siblings: K beats
     * y, so x shows even though -100 < 0.
     */
    MemoryRegion *k = h_container("K", 0x4000);
    MemoryRegion *x = h_io(&td_ops_le, &dev_a, "x", 0x4000);
    MemoryRegion *y = h_io(&td_ops_le, &dev_b, "y", 0x4000);
    h_add(k, 0, x, -100);
    h_add(root, 0, k, 1);
    h_add(root, 0, y, 0);
    assert_view(as, {0, 0x4000, x, 0, false});
    /* Where K's children leave a gap, y shows through the transparent container. */
    assert_int_equal(memory_region_set_size(x, 0x1000), 0);
    assert_view(as, {0, 0x1000, x, 0, false}, {0x1000, 0x3000, y, 0x1000, false});
}

/*
 * Regression for the sibling list kept by priority groups: many siblings
 * at interleaved priorities, added, removed, moved and re-prioritised in a
 * fixed pseudo-random order, must always be listed by priority, highest
 * first, and newest first among equal priorities (the order rendering
 * relies on). Mapping a low-priority sibling under many higher ones used to
 * walk the whole list; the groups make it a search over priorities.
 */
static void test_sibling_order_many_priorities(void **state)
{
    (void)state;
    setup_root();
    enum { N = 48 };
    MemoryRegion *kid[N];
    uint64_t stamp[N] = {0}, clock = 0;
    bool mapped[N] = {false};
    uint32_t x = 12345;
    for (int i = 0; i < N; i++)
        kid[i] = h_ram("k", 0x10);
    for (int step = 0; step < 4000; step++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % N);
        int32_t prio = (int32_t)((x >> 20) % 7) - 3;
        int op = (int)((x >> 4) % 4);
        if (!mapped[i]) {
            h_add(root, (hwaddr)(i * 0x10) % 0x8000, kid[i], prio);
            mapped[i] = true;
            stamp[i] = ++clock;
        } else if (op == 0) {
            assert_int_equal(memory_region_del_subregion(root, kid[i]), 0);
            mapped[i] = false;
        } else if (op == 1) {
            /* Setting the priority it already has is no re-add. */
            if (memory_region_priority(kid[i]) != prio)
                stamp[i] = ++clock;
            assert_int_equal(memory_region_set_priority(kid[i], prio), 0);
        } else if (op == 2) {
            hwaddr to = (hwaddr)(x % 0x8000);
            if (memory_region_addr(kid[i]) != to)
                stamp[i] = ++clock;
            assert_int_equal(memory_region_set_address(kid[i], to), 0);
        }
        /* Check the whole list against the rule. */
        size_t count = 0, expect = 0;
        for (int k = 0; k < N; k++)
            expect += mapped[k];
        const MemoryRegion *prev = NULL;
        for (MemoryRegion *c = memory_region_first_subregion(root); c;
             c = memory_region_next_sibling(c), count++) {
            if (prev) {
                int32_t pp = memory_region_priority(prev), cp = memory_region_priority(c);
                assert_true(pp >= cp);
                if (pp == cp) {
                    int a = -1, b = -1;
                    for (int k = 0; k < N; k++) {
                        if (kid[k] == prev)
                            a = k;
                        if (kid[k] == c)
                            b = k;
                    }
                    assert_true(stamp[a] > stamp[b]); /* newest first */
                }
            }
            prev = c;
        }
        assert_int_equal(count, expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_higher_wins),
        H_TEST(test_higher_wins_regardless_of_order),
        H_TEST(test_signed_priorities),
        H_TEST(test_equal_priority_newest_wins),
        H_TEST(test_equal_priority_newest_wins_reverse),
        H_TEST(test_set_address_is_readd),
        H_TEST(test_set_priority_is_readd),
        H_TEST(test_set_same_address_keeps_place),
        H_TEST(test_removal_restores),
        H_TEST(test_priority_is_local),
        H_TEST(test_sibling_order_many_priorities),
    };
    return cmocka_run_group_tests_name("priority", tests, NULL, NULL);
}
