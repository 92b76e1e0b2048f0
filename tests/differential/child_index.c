/*
 * Differential test of the child index (src/child_index.c): a container
 * with more children than rendering walks as a list, changed one child at
 * a time, so that every commit re-renders a small window through the index.
 *
 * The index has two ways in: a child whose key (address, link order) is
 * above every sibling's is appended down the right spine, and any other
 * goes through split and join. The operations mix both on purpose:
 * appends after the last child, at its very address (equal addresses,
 * ordered by link order), overlapping it, and past a gap; inserts at random
 * addresses; moves to the end (a re-add that appends) and elsewhere;
 * priority changes, equal priorities among overlapping siblings, deletes
 * of the last child and of random ones, and small transactions. After each
 * commit, the views of an address space on the root and of one on the
 * container itself are compared, range by range, with the reference model
 * (refmodel_flatten), which walks the tree through the public accessors
 * and shares no code with the index.
 *
 * Environment: MEMREGION_SEED=<n> (default 1), MEMREGION_DIFF_OPS=<n>
 * (default 3000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <memregion/memregion.h>

#include "../support/devices.h"
#include "../support/rng.h"
#include "refmodel.h"

#define NR_KIDS  64
#define BUS_ADDR 0x10000000ull
#define BUS_SIZE 0x100000ull
#define GRAIN    0x100ull /* addresses and sizes are multiples of it, so siblings meet and overlap */

static uint64_t rng_state;

static uint64_t rnd_below(uint64_t n)
{
    return n ? ts_rng_next(&rng_state) % n : 0;
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    (void)size;
    return addr;
}

static const MemoryRegionOps dev_ops = {.read = dev_read, .write = ts_write_ignore};

/* Static: a failed assertion leaves them registered with the library. */
static MemoryRegion root, bus, low_ram, kids[NR_KIDS];
static uint8_t backing[NR_KIDS][0x1000], low_backing[0x10000];
static AddressSpace as_root, as_bus;
static bool mapped[NR_KIDS];
static int tx_open;

/* The view of @as must be exactly the model's flat view of its root. */
static void assert_view_matches_model(AddressSpace *as, uint64_t op)
{
    RefRange *mv;
    size_t mn = refmodel_flatten(address_space_root(as), &mv);
    assert_int_not_equal(mn, (size_t)-1);
    FlatView *fv = address_space_get_flatview(as);
    size_t n = flatview_nr_ranges(fv);
    bool same = n == mn;
    for (size_t i = 0; same && i < n; i++) {
        const FlatRange *r = flatview_range(fv, i);
        same = r->addr == mv[i].addr && r->size == mv[i].size && r->mr == mv[i].hit.mr &&
               r->offset_in_region == mv[i].hit.offset && r->readonly == mv[i].hit.readonly;
    }
    if (!same)
        fprintf(stderr, "child-index: view of '%s' differs from the model after op %llu\n",
                address_space_name(as), (unsigned long long)op);
    flatview_unref(fv);
    free(mv);
    assert_true(same);
}

/* The largest address and end of the mapped children (0 when none). */
static void last_child(hwaddr *max_addr, hwaddr *max_end, int *who)
{
    *max_addr = *max_end = 0;
    *who = -1;
    for (int i = 0; i < NR_KIDS; i++) {
        if (!mapped[i])
            continue;
        hwaddr a = memory_region_addr(&kids[i]);
        if (*who < 0 || a >= *max_addr) {
            *max_addr = a;
            *who = i;
        }
        if (a + memory_region_size(&kids[i]) > *max_end)
            *max_end = a + (hwaddr)memory_region_size(&kids[i]);
    }
}

/* An address that puts a child after every sibling: at the last one's
 * address, inside it, right after it, or past a gap. */
static hwaddr append_addr(void)
{
    hwaddr max_addr, max_end;
    int who;
    last_child(&max_addr, &max_end, &who);
    hwaddr a;
    switch (rnd_below(4)) {
    case 0:
        a = max_addr;
        break;
    case 1:
        a = max_addr + GRAIN * rnd_below(8);
        break;
    case 2:
        a = max_end;
        break;
    default:
        a = max_end + GRAIN * (1 + rnd_below(16));
        break;
    }
    return a + 0x1000 > BUS_SIZE ? BUS_SIZE - 0x1000 : a;
}

static hwaddr random_addr(void)
{
    return GRAIN * rnd_below((BUS_SIZE - 0x1000) / GRAIN / 4);
}

static int32_t random_prio(void)
{
    static const int32_t prios[] = {0, 0, 0, 1, -1, 2};
    return prios[rnd_below(6)];
}

static int pick(bool want_mapped)
{
    int start = (int)rnd_below(NR_KIDS);
    for (int k = 0; k < NR_KIDS; k++) {
        int i = (start + k) % NR_KIDS;
        if (mapped[i] == want_mapped)
            return i;
    }
    return -1;
}

static void one_op(void)
{
    unsigned what = (unsigned)rnd_below(100);
    int i;
    if (what < 35 && (i = pick(false)) >= 0) { /* append */
        assert_int_equal(
            memory_region_add_subregion_overlap(&bus, append_addr(), &kids[i], random_prio()), 0);
        mapped[i] = true;
    } else if (what < 50 && (i = pick(false)) >= 0) { /* insert anywhere */
        assert_int_equal(
            memory_region_add_subregion_overlap(&bus, random_addr(), &kids[i], random_prio()), 0);
        mapped[i] = true;
    } else if (what < 62 && (i = pick(true)) >= 0) { /* move to the end: a re-add that appends */
        assert_int_equal(memory_region_set_address(&kids[i], append_addr()), 0);
    } else if (what < 70 && (i = pick(true)) >= 0) {
        assert_int_equal(memory_region_set_address(&kids[i], random_addr()), 0);
    } else if (what < 78 && (i = pick(true)) >= 0) {
        assert_int_equal(memory_region_set_priority(&kids[i], random_prio()), 0);
    } else if (what < 86) { /* delete the last child */
        hwaddr a, e;
        last_child(&a, &e, &i);
        if (i >= 0) {
            assert_int_equal(memory_region_del_subregion(&bus, &kids[i]), 0);
            mapped[i] = false;
        }
    } else if ((i = pick(true)) >= 0) {
        assert_int_equal(memory_region_del_subregion(&bus, &kids[i]), 0);
        mapped[i] = false;
    }
}

static void appends_and_inserts_match_model(void **state)
{
    (void)state;
    const char *e = getenv("MEMREGION_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : 1;
    e = getenv("MEMREGION_DIFF_OPS");
    uint64_t ops = e ? strtoull(e, NULL, 0) : 3000;
    rng_state = seed;

    assert_int_equal(memory_region_init(&root, "root", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init(&bus, "bus", BUS_SIZE), 0);
    assert_int_equal(
        memory_region_init_ram_ptr(&low_ram, "low-ram", sizeof(low_backing), low_backing), 0);
    assert_int_equal(memory_region_add_subregion(&root, 0, &low_ram), 0);
    assert_int_equal(memory_region_add_subregion(&root, BUS_ADDR, &bus), 0);
    for (int i = 0; i < NR_KIDS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "kid%d", i);
        mr_size_t size = GRAIN * (1 + rnd_below(16));
        if (i % 3)
            assert_int_equal(memory_region_init_io(&kids[i], &dev_ops, NULL, name, size), 0);
        else
            assert_int_equal(memory_region_init_ram_ptr(&kids[i], name, size, backing[i]), 0);
    }
    assert_int_equal(address_space_init(&as_root, &root, "root"), 0);
    assert_int_equal(address_space_init(&as_bus, &bus, "bus"), 0);

    /* A board built in address order, past the list-walk threshold. */
    for (int i = 0; i < NR_KIDS / 2; i++) {
        assert_int_equal(memory_region_add_subregion(&bus, append_addr(), &kids[i]), 0);
        mapped[i] = true;
        assert_view_matches_model(&as_bus, 0);
    }
    assert_view_matches_model(&as_root, 0);

    for (uint64_t op = 1; op <= ops; op++) {
        if (!tx_open && rnd_below(16) == 0) {
            memory_region_transaction_begin();
            tx_open = 1 + (int)rnd_below(5);
        }
        one_op();
        if (tx_open && --tx_open == 0)
            assert_int_equal(memory_region_transaction_commit(), 0);
        if (!tx_open) {
            assert_view_matches_model(&as_bus, op);
            assert_view_matches_model(&as_root, op);
        }
    }
    if (tx_open)
        assert_int_equal(memory_region_transaction_commit(), 0);
    assert_view_matches_model(&as_bus, ops + 1);

    address_space_destroy(&as_bus);
    address_space_destroy(&as_root);
    for (int i = 0; i < NR_KIDS; i++) {
        if (mapped[i])
            assert_int_equal(memory_region_del_subregion(&bus, &kids[i]), 0);
        assert_int_equal(memory_region_destroy(&kids[i]), 0);
    }
    assert_int_equal(memory_region_del_subregion(&root, &bus), 0);
    assert_int_equal(memory_region_del_subregion(&root, &low_ram), 0);
    assert_int_equal(memory_region_destroy(&bus), 0);
    assert_int_equal(memory_region_destroy(&low_ram), 0);
    assert_int_equal(memory_region_destroy(&root), 0);
    printf("child-index: %llu operations (seed %llu), views match the model\n",
           (unsigned long long)ops, (unsigned long long)seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_and_inserts_match_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
