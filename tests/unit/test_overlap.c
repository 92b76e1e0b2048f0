/*
 * Overlap diagnostics: collisions reported when they happen (global and per
 * address space), and listings of overlaps and equal-priority ties.
 */
#include <string.h>

#include "helpers.h"

typedef struct Reports {
    unsigned nr;
    MemoryRegionOverlap ov[8];
} Reports;

static void record(void *opaque, const MemoryRegionOverlap *ov)
{
    Reports *r = opaque;
    if (r->nr < 8)
        r->ov[r->nr] = *ov;
    r->nr++;
}

#define assert_report(r, i, a_, b_, start_, size_)                                                 \
    do {                                                                                           \
        assert_ptr_equal((r)->ov[i].a, (a_));                                                      \
        assert_ptr_equal((r)->ov[i].b, (b_));                                                      \
        assert_int_equal((r)->ov[i].start, (start_));                                              \
        assert_size_equal((r)->ov[i].size, (size_));                                               \
    } while (0)

static void test_global_collisions(void **state)
{
    (void)state;
    Reports r = {0};
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *a = h_ram("a", 0x2000), *b = h_ram("b", 0x2000), *c = h_ram("c", 0x1000);
    MemoryRegion *d = h_ram("d", 0x1000);
    assert_int_equal(memory_region_set_overlap_handler(record, &r), 0);
    assert_int_equal(memory_region_add_subregion(root, 0x1000, a), 0);
    assert_int_equal(r.nr, 0);
    assert_int_equal(memory_region_add_subregion(root, 0x2000, b), 0);
    assert_int_equal(r.nr, 1);
    assert_report(&r, 0, b, a, 0x2000, 0x1000);
    assert_ptr_equal(r.ov[0].container, root);
    assert_true(r.ov[0].tie);
    /* Declared overlap: no report, neither when it is added nor when a
     * plain region lands on it later. */
    h_add(root, 0x5000, c, 1);
    assert_int_equal(r.nr, 1);
    assert_int_equal(memory_region_add_subregion(root, 0x5800, d), 0);
    assert_int_equal(r.nr, 1);
    /* Moving a plain region onto a plain sibling is a collision. */
    assert_int_equal(memory_region_set_address(d, 0x3800), 0);
    assert_int_equal(r.nr, 2);
    assert_report(&r, 1, d, b, 0x3800, 0x800);
    /* Off: silent. */
    memory_region_set_overlap_handler(NULL, NULL);
    assert_int_equal(memory_region_set_address(d, 0x1000), 0);
    assert_int_equal(r.nr, 2);
}

static void test_per_address_space(void **state)
{
    (void)state;
    Reports r = {0};
    MemoryRegion *root1 = h_container("root1", 0x100000), *root2 = h_container("root2", 0x100000);
    MemoryRegion *sub = h_container("sub", 0x10000);
    h_add(root1, 0, sub, 0);
    AddressSpace *as1 = h_as(root1, "as1");
    h_as(root2, "as2");
    assert_int_equal(address_space_set_overlap_handler(as1, record, &r), 0);
    /* In a container under as1's root: reported. */
    assert_int_equal(memory_region_add_subregion(sub, 0, h_ram("x", 0x1000)), 0);
    assert_int_equal(memory_region_add_subregion(sub, 0x800, h_ram("y", 0x1000)), 0);
    assert_int_equal(r.nr, 1);
    /* Under root2: not. */
    assert_int_equal(memory_region_add_subregion(root2, 0, h_ram("p", 0x1000)), 0);
    assert_int_equal(memory_region_add_subregion(root2, 0, h_ram("q", 0x1000)), 0);
    assert_int_equal(r.nr, 1);
    assert_int_equal(address_space_set_overlap_handler(as1, NULL, NULL), 0);
    assert_int_equal(memory_region_add_subregion(sub, 0x400, h_ram("z", 0x1000)), 0);
    assert_int_equal(r.nr, 1);
    assert_error(address_space_set_overlap_handler(NULL, record, &r), EINVAL);
}

static void test_find_overlaps_and_ties(void **state)
{
    (void)state;
    Reports r = {0};
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *low = h_ram("low", 0x4000), *high = h_ram("high", 0x1000);
    MemoryRegion *t1 = h_ram("t1", 0x1000), *t2 = h_ram("t2", 0x1000);
    MemoryRegion *inner = h_container("inner", 0x10000);
    MemoryRegion *i1 = h_ram("i1", 0x100), *i2 = h_ram("i2", 0x100);
    h_add(root, 0, low, 0);
    h_add(root, 0x1000, high, 5);
    h_add(root, 0x10000, t1, 2);
    h_add(root, 0x10800, t2, 2);
    h_add(root, 0x20000, inner, 0);
    h_add(inner, 0x80, i2, -1);
    h_add(inner, 0, i1, -1);
    /* An alias into inner: inner's pair is still listed once. */
    h_add(root, 0x40000, h_alias("win", inner, 0, 0x1000), 0);
    assert_int_equal(memory_region_find_overlaps(root, true, record, &r), 2);
    assert_int_equal(r.nr, 2);
    /* Ties: newer wins. t2 was added after t1; i1 after i2. */
    assert_report(&r, 0, t2, t1, 0x10800, 0x800);
    assert_true(r.ov[0].tie);
    assert_report(&r, 1, i1, i2, 0x80, 0x80);
    memset(&r, 0, sizeof(r));
    assert_int_equal(memory_region_find_overlaps(root, false, record, &r), 3);
    assert_report(&r, 0, high, low, 0x1000, 0x1000);
    assert_false(r.ov[0].tie);
    assert_int_equal(memory_region_find_overlaps(root, false, NULL, NULL), 3);
    assert_error((int)memory_region_find_overlaps(NULL, false, NULL, NULL), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_global_collisions),
        H_TEST(test_per_address_space),
        H_TEST(test_find_overlaps_and_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
