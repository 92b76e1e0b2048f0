/*
 * Transactions: N mutations inside one transaction give one render and one
 * diff (one begin/commit pair per listener), and the diff is minimal
 * between the views before and after the transaction.
 */
#include <string.h>

#include "lt.h"

static void test_n_mutations_one_render_one_diff(void **state)
{
    (void)state;
    MemoryRegion *root = lt_container("root", 0x100000);
    MemoryRegion *ram[8];
    char name[16];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        ram[i] = lt_ram(name, 0x1000);
        lt_add(root, (hwaddr)i * 0x2000, ram[i], 0);
    }
    AddressSpace *as = lt_as(root, "mem");
    Mirror *m1 = lt_mirror("m1", 0, as);
    Mirror *m2 = lt_mirror("m2", 7, as);
    mirror_clear_log(m1);
    mirror_clear_log(m2);
    MirrorSnap before, after;
    mirror_snap(as, &before);
    assert_int_equal(before.n, 8);

    uint64_t renders = memregion_stat_renders();
    lt_begin();
    /* 10 mutations; views must not change until the outermost commit. */
    assert_int_equal(memory_region_set_address(ram[0], 0x80000), 0);
    assert_int_equal(memory_region_set_readonly(ram[1], true), 0);
    assert_int_equal(memory_region_set_enabled(ram[2], false), 0);
    assert_int_equal(memory_region_del_subregion(root, ram[3]), 0);
    lt_begin(); /* nested */
    assert_int_equal(memory_region_set_priority(ram[4], 3), 0);
    assert_int_equal(memory_region_set_address(ram[5], 0x90000), 0);
    assert_int_equal(memory_region_set_address(ram[5], 0xa000), 0); /* back where it was */
    lt_commit();
    assert_int_equal(memory_region_set_log(ram[6], true, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(memory_region_set_readonly(ram[7], true), 0);
    assert_int_equal(memory_region_set_readonly(ram[7], false), 0); /* and back */
    assert_int_equal(memregion_stat_renders(), renders);
    assert_int_equal(m1->nr_log, 0);
    assert_int_equal(m2->nr_log, 0);
    lt_commit();

    assert_int_equal(memregion_stat_renders() - renders, 1);
    for (int k = 0; k < 2; k++) {
        Mirror *m = k ? m2 : m1;
        assert_mirror(m, as);
        assert_int_equal(m->updates, 1);
        assert_int_equal(m->total[MCB_BEGIN], 1);
        assert_int_equal(m->total[MCB_COMMIT], 1);
        /*
         * By hand: r0 moved (del 0x0, add 0x80000), r1 readonly (del + add at
         * 0x2000), r2 gone (del 0x4000), r3 gone (del 0x6000); r4 priority,
         * r5 back at 0xa000, r7 readonly and back: unchanged (no callback); r6
         * logs (nop + log_start). Dels 4, adds 2, nops 1.
         */
        assert_int_equal(m->total[MCB_REGION_DEL], 4);
        assert_int_equal(m->total[MCB_REGION_ADD], 2);
        assert_int_equal(m->total[MCB_REGION_NOP], 1);
        assert_int_equal(m->total[MCB_LOG_START], 1);
        assert_event(mirror_find_event(m, MCB_LOG_START, 0), MCB_LOG_START, 0xc000, 0x1000, ram[6]);
    }
    mirror_snap(as, &after);
    size_t common = 0, changed = 0;
    assert_int_equal(mirror_symdiff(before.r, before.n, after.r, after.n, &common, &changed), 6);
    assert_int_equal(common, 4);
    assert_int_equal(changed, 1);
    mirror_snap_free(&before);
    mirror_snap_free(&after);
}

static void test_empty_transaction_renders_nothing(void **state)
{
    (void)state;
    MemoryRegion *root = lt_container("root", 0x10000);
    MemoryRegion *r = lt_ram("r", 0x1000);
    lt_add(root, 0, r, 0);
    AddressSpace *as = lt_as(root, "mem");
    Mirror *m = lt_mirror("m", 0, as);
    mirror_clear_log(m);
    uint64_t renders = memregion_stat_renders();
    lt_begin();
    lt_commit();
    assert_int_equal(memregion_stat_renders(), renders);
    assert_int_equal(m->nr_log, 0);
}

/* Two spaces with different roots: one transaction renders each once. */
static void test_transaction_over_two_spaces(void **state)
{
    (void)state;
    MemoryRegion *root1 = lt_container("root1", 0x10000);
    MemoryRegion *root2 = lt_container("root2", 0x10000);
    MemoryRegion *shared = lt_ram("shared", 0x1000);
    MemoryRegion *al = lt_alias("al", shared, 0, 0x1000);
    lt_add(root1, 0x1000, shared, 0);
    lt_add(root2, 0x4000, al, 0);
    AddressSpace *as1 = lt_as(root1, "one");
    AddressSpace *as2 = lt_as(root2, "two");
    Mirror *m1 = lt_mirror("m1", 0, as1);
    Mirror *m2 = lt_mirror("m2", 0, as2);
    mirror_clear_log(m1);
    mirror_clear_log(m2);
    uint64_t renders = memregion_stat_renders();
    lt_begin();
    for (int i = 0; i < 5; i++)
        assert_int_equal(memory_region_set_log(shared, i % 2 == 0, DIRTY_MEMORY_CODE), 0);
    assert_int_equal(memory_region_set_address(al, 0x8000), 0);
    lt_commit();
    assert_int_equal(memregion_stat_renders() - renders, 2);
    assert_mirror(m1, as1);
    assert_mirror(m2, as2);
    assert_int_equal(m1->updates, 1);
    assert_int_equal(m2->updates, 1);
    /* as1: shared logs (nop + log_start). as2: the alias moved, carrying the mask. */
    assert_int_equal(m1->total[MCB_REGION_NOP], 1);
    assert_int_equal(m1->total[MCB_LOG_START], 1);
    assert_int_equal(m2->total[MCB_REGION_DEL], 1);
    assert_int_equal(m2->total[MCB_REGION_ADD], 1);
    const MirrorEvent *e = mirror_find_event(m2, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0x8000, 0x1000, shared);
    assert_int_equal(e->range.dirty_log_mask, 1 << DIRTY_MEMORY_CODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_n_mutations_one_render_one_diff),
        LT_TEST(test_empty_transaction_renders_nothing),
        LT_TEST(test_transaction_over_two_spaces),
    };
    return cmocka_run_group_tests_name("listener-transaction", tests, NULL, NULL);
}
