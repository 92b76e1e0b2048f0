/*
 * The per-thread software TLB of address_space_read/write: what it may
 * cache, and when a cached page must be forgotten.
 *
 *  - A page whose mapping a commit changes is looked up again: a region
 *    mapped over a cached RAM page is what the next read sees (this fails
 *    if an entry is trusted across a commit that changed its page).
 *  - Writes to dirty-logged RAM are never cached: every write marks the
 *    page dirty, also the second one to a page after its bit was cleared.
 *  - A commit forgets only what it changed: a page far from the change is
 *    not filled again (memregion_stat_tlb_fills() stays put), a page that
 *    shares a zone with the change is, and both read right.
 *  - Generations are kept in blocks of zones that versions share until
 *    they change one: a change in a zone next to a cached page's (same
 *    block) does not refill the page, and a commit whose new version is
 *    dropped because nothing visible changed costs no fill either (this
 *    fails if a block is written in place instead of copied).
 *  - A cached page of one view is never used for another view.
 */
#include <string.h>

#include "helpers.h"

#define PAGE 0x1000u

static MemoryRegion *root, *ram_a, *ram_b, *over;
static AddressSpace *as;

/* RAM a at 0x10000 (16 pages, byte 0xa0 + page), RAM b far away at 0x10000000. */
static void build(void)
{
    root = h_container("root", 0x100000000ull);
    ram_a = h_ram("a", 16 * PAGE);
    ram_b = h_ram("b", PAGE);
    over = h_ram("over", PAGE);
    uint8_t *pa = memory_region_get_ram_ptr(ram_a);
    for (unsigned p = 0; p < 16; p++)
        memset(pa + p * PAGE, 0xa0 + p, PAGE);
    memset(memory_region_get_ram_ptr(ram_b), 0xbb, PAGE);
    memset(memory_region_get_ram_ptr(over), 0xcc, PAGE);
    h_add(root, 0x10000, ram_a, 0);
    h_add(root, 0x10000000, ram_b, 0);
    as = h_as(root, "as");
}

static uint8_t rd8(AddressSpace *space, hwaddr addr)
{
    uint8_t v = 0;
    assert_int_equal(address_space_read(space, addr, MEMTXATTRS_UNSPECIFIED, &v, 1), MEMTX_OK);
    return v;
}

static void test_changed_page_is_looked_up_again(void **state)
{
    (void)state;
    build();
    assert_int_equal(rd8(as, 0x10000 + 3 * PAGE), 0xa3); /* cached now */
    assert_int_equal(rd8(as, 0x10000 + 3 * PAGE), 0xa3);
    h_add(root, 0x10000 + 3 * PAGE, over, 1);
    assert_int_equal(rd8(as, 0x10000 + 3 * PAGE), 0xcc);
    assert_int_equal(memory_region_del_subregion(root, over), 0);
    assert_int_equal(rd8(as, 0x10000 + 3 * PAGE), 0xa3);
    /* Moving the whole RAM away: the page is unassigned now. */
    assert_int_equal(rd8(as, 0x10000 + 5 * PAGE), 0xa5);
    assert_int_equal(memory_region_set_address(ram_a, 0x800000), 0);
    uint8_t v = 0;
    assert_int_equal(address_space_read(as, 0x10000 + 5 * PAGE, MEMTXATTRS_UNSPECIFIED, &v, 1),
                     MEMTX_DECODE_ERROR);
    assert_int_equal(rd8(as, 0x800000 + 5 * PAGE), 0xa5);
}

static void test_dirty_logged_writes_are_not_cached(void **state)
{
    (void)state;
    build();
    uint8_t v = 1;
    hwaddr at = 0x10000 + 2 * PAGE;
    /* Cache the page as writable memory first, then start logging. */
    assert_int_equal(address_space_write(as, at, MEMTXATTRS_UNSPECIFIED, &v, 1), MEMTX_OK);
    assert_int_equal(memory_region_set_log(ram_a, true, DIRTY_MEMORY_VGA), 0);
    for (int round = 0; round < 3; round++) {
        memory_region_reset_dirty(ram_a, 0, 16 * PAGE, DIRTY_MEMORY_VGA);
        assert_false(memory_region_get_dirty(ram_a, 2 * PAGE, PAGE, DIRTY_MEMORY_VGA));
        assert_int_equal(address_space_write(as, at + 8, MEMTXATTRS_UNSPECIFIED, &v, 1), MEMTX_OK);
        assert_true(memory_region_get_dirty(ram_a, 2 * PAGE, PAGE, DIRTY_MEMORY_VGA));
    }
    assert_int_equal(memory_region_set_log(ram_a, false, DIRTY_MEMORY_VGA), 0);
}

static void test_commit_forgets_only_what_it_changed(void **state)
{
    (void)state;
    build();
    hwaddr far = 0x10000000, near = 0x10000 + 7 * PAGE;
    assert_int_equal(rd8(as, far), 0xbb);
    assert_int_equal(rd8(as, near), 0xa7);
    uint64_t f0 = memregion_stat_tlb_fills();
    assert_int_equal(rd8(as, far), 0xbb);
    assert_int_equal(rd8(as, near), 0xa7);
    assert_int_equal(memregion_stat_tlb_fills() - f0, 0); /* both hit */

    /* Map, move and unmap a region on pages of other zones: far and near survive. */
    hwaddr elsewhere = 0x20000000 + 100 * PAGE;
    for (int i = 0; i < 5; i++) {
        if (i == 0)
            h_add(root, elsewhere, over, 1);
        else
            assert_int_equal(memory_region_set_address(over, elsewhere + (hwaddr)i * PAGE), 0);
        assert_int_equal(rd8(as, far), 0xbb);
        assert_int_equal(rd8(as, near), 0xa7);
    }
    assert_int_equal(memregion_stat_tlb_fills() - f0, 0);
    assert_int_equal(rd8(as, elsewhere + 4 * PAGE), 0xcc);

    /* A change on a page of near's zone (page number + 256): near is filled
     * again and still reads right; far is untouched. */
    uint64_t f1 = memregion_stat_tlb_fills();
    assert_int_equal(memory_region_set_address(over, near + 256 * PAGE), 0);
    assert_int_equal(rd8(as, near), 0xa7);
    assert_int_equal(rd8(as, far), 0xbb);
    assert_int_equal(memregion_stat_tlb_fills() - f1, 1);

    /* A change on near itself: the overlay shows. */
    assert_int_equal(memory_region_set_address(over, near), 0);
    assert_int_equal(rd8(as, near), 0xcc);
    assert_int_equal(rd8(as, far), 0xbb);
}

static void test_generation_blocks_are_copied_not_shared_writes(void **state)
{
    (void)state;
    build();
    hwaddr near = 0x10000 + 7 * PAGE; /* zone 0x17 */
    assert_int_equal(rd8(as, near), 0xa7);
    uint64_t f0 = memregion_stat_tlb_fills();

    /* Zone 0x18 shares near's generation block: near is not filled again. */
    h_add(root, near + 257 * PAGE, over, 1);
    assert_int_equal(rd8(as, near), 0xa7);
    assert_int_equal(rd8(as, near + 257 * PAGE), 0xcc);
    assert_int_equal(memregion_stat_tlb_fills() - f0, 1); /* only the new page */

    /* Move the overlay under ram_a, where it is hidden, then within it
     * (zones 0x16 and 0x17, near's own): nothing visible changes, the new
     * versions are dropped, and near stays cached. */
    assert_int_equal(memory_region_del_subregion(root, over), 0);
    h_add(root, near - PAGE, over, -1);
    assert_int_equal(rd8(as, near - PAGE), 0xa6);
    assert_int_equal(rd8(as, near), 0xa7);
    uint64_t f1 = memregion_stat_tlb_fills();
    assert_int_equal(memory_region_set_address(over, near), 0);
    assert_int_equal(rd8(as, near), 0xa7);
    assert_int_equal(rd8(as, near - PAGE), 0xa6);
    assert_int_equal(memregion_stat_tlb_fills() - f1, 0);
}

static void test_entries_belong_to_their_view(void **state)
{
    (void)state;
    build();
    /* A second root showing other memory at the same address. */
    MemoryRegion *root2 = h_container("root2", 0x100000000ull);
    h_add(root2, 0x10000000, over, 0);
    AddressSpace *as2 = h_as(root2, "as2");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rd8(as, 0x10000000), 0xbb);
        assert_int_equal(rd8(as2, 0x10000000), 0xcc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_changed_page_is_looked_up_again),
        H_TEST(test_dirty_logged_writes_are_not_cached),
        H_TEST(test_commit_forgets_only_what_it_changed),
        H_TEST(test_generation_blocks_are_copied_not_shared_writes),
        H_TEST(test_entries_belong_to_their_view),
    };
    return cmocka_run_group_tests_name("tlb", tests, NULL, NULL);
}
