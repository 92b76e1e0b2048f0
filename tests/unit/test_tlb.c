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
 *    not filled again (memregion_stat_tlb_fills() stays put), nor is one
 *    256, 512 or 768 pages from it (1024 zones), and a page that shares a
 *    zone with the change is kept by revalidation (the zone's span of
 *    changed pages does not hold it), not filled; all read right.
 *  - Revalidation keeps no entry whose page changed: not after the zone's
 *    span started again from a later commit (this fails if `since` is not
 *    checked), nor an entry of another view root's slot (this fails if the
 *    entry's slot is not checked).
 *  - Generations are kept in blocks of zones that versions share until
 *    they change one: a change in a zone next to a cached page's (same
 *    block) does not refill the page, and a commit whose new version is
 *    dropped because nothing visible changed costs no fill either (this
 *    fails if a block is written in place instead of copied).
 *  - A cached page of one view is never used for another view, also when
 *    an address space moves to another view root (the generations a hit
 *    compares live in the view root's slot: a new slot's never match an
 *    entry of the old one).
 *  - The TLB's fast path (1, 2, 4 or 8 bytes inside a cached page) and the
 *    loop (other lengths, page-crossing transfers) agree with the bytes of
 *    memory for every length and offset around a page boundary, for
 *    transfers and typed helpers of both byte orders, and a thread's very
 *    first access (before liburcu knows the thread) is served right.
 *  - Pages of regions placed at a power-of-two stride all stay cached:
 *    1,024 one-page regions every 2 or 4 pages are filled once, and a second
 *    pass over them fills nothing (this fails if the entry is chosen by the
 *    low bits of the page number alone, which gives such layouts a half or
 *    a quarter of the entries).
 */
#include <pthread.h>
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

/* A second root showing `over` (0xcc) where root shows RAM b (0xbb), and
 * an address space on it. */
static AddressSpace *second_root(MemoryRegion **root2)
{
    *root2 = h_container("root2", 0x100000000ull);
    h_add(*root2, 0x10000000, over, 0);
    return h_as(*root2, "as2");
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

    /* Changes 256, 512 and 768 pages from near: other zones (there are
     * 1024), so near and far are not filled again. */
    uint64_t f_other = memregion_stat_tlb_fills();
    for (hwaddr k = 1; k <= 3; k++) {
        assert_int_equal(memory_region_set_address(over, near + k * 256 * PAGE), 0);
        assert_int_equal(rd8(as, near), 0xa7);
        assert_int_equal(rd8(as, far), 0xbb);
    }
    assert_int_equal(memregion_stat_tlb_fills() - f_other, 0);

    /* A change on another page of near's zone (page number + 1024): the
     * zone's span shows near unchanged, so near is kept without a fill
     * (revalidated) and still reads right; far is untouched. */
    uint64_t f1 = memregion_stat_tlb_fills(), v1 = memregion_stat_tlb_revalidations();
    assert_int_equal(memory_region_set_address(over, near + 1024 * PAGE), 0);
    assert_int_equal(rd8(as, near), 0xa7);
    assert_int_equal(rd8(as, far), 0xbb);
    assert_int_equal(memregion_stat_tlb_fills() - f1, 0);
    assert_int_equal(memregion_stat_tlb_revalidations() - v1, 1);

    /* A change on near itself: the overlay shows. */
    assert_int_equal(memory_region_set_address(over, near), 0);
    assert_int_equal(rd8(as, near), 0xcc);
    assert_int_equal(rd8(as, far), 0xbb);
}

static void test_a_change_in_the_next_zone_leaves_a_page_cached(void **state)
{
    (void)state;
    build();
    hwaddr near = 0x10000 + 7 * PAGE; /* zone 0x17 */
    assert_int_equal(rd8(as, near), 0xa7);
    uint64_t f0 = memregion_stat_tlb_fills();

    /* A page of zone 0x18, next to near's: near is not filled again. */
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

/* An entry filled before a commit that changed its page is never kept,
 * also once the zone's span has started again from a later commit: the
 * span no longer shows that change, its `since` does. */
static void test_revalidation_respects_a_restarted_span(void **state)
{
    (void)state;
    build();
    hwaddr near = 0x10000 + 7 * PAGE;
    MemoryRegion *far_ram = h_ram("far", PAGE);
    assert_int_equal(rd8(as, near), 0xa7); /* cached */
    h_add(root, near, over, 1);            /* changes near: the span is near */
    /* A page of near's zone 1 GiB away (2^18 pages): the span starts again. */
    h_add(root, near + 256 * 1024 * (hwaddr)PAGE, far_ram, 0);
    assert_int_equal(rd8(as, near), 0xcc); /* 0xa7 if the entry were kept */
    uint64_t v0 = memregion_stat_tlb_revalidations();
    h_add(root, near + 1024 * PAGE, h_ram("next", PAGE), 1); /* near's zone, not near */
    assert_int_equal(rd8(as, near), 0xcc);
    assert_int_equal(memregion_stat_tlb_revalidations() - v0, 1);
}

/* An entry is kept only under the slot it was filled in: another view
 * root's zone may show the page's address unchanged there since an older
 * generation, yet its page is another. */
static void test_revalidation_stays_in_its_slot(void **state)
{
    (void)state;
    build();
    MemoryRegion *root2;
    AddressSpace *as2 = second_root(&root2); /* its slot's spans start here */
    hwaddr same_zone = 0x10000000 + 1024 * PAGE;
    h_add(root, same_zone, h_ram("extra", PAGE), 0);
    assert_int_equal(rd8(as, 0x10000000), 0xbb); /* filled after root2's slot began */
    h_add(root2, same_zone, h_ram("extra2", PAGE), 0);
    /* root2's zone: a new generation, its span shows 0x10000000 unchanged
     * since before the entry was filled; the entry is root's, though. */
    assert_int_equal(rd8(as2, 0x10000000), 0xcc);
    assert_int_equal(rd8(as, 0x10000000), 0xbb);
}

static void test_entries_belong_to_their_view(void **state)
{
    (void)state;
    build();
    MemoryRegion *root2;
    AddressSpace *as2 = second_root(&root2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rd8(as, 0x10000000), 0xbb);
        assert_int_equal(rd8(as2, 0x10000000), 0xcc);
    }
}

static void test_entries_do_not_follow_a_view_root_switch(void **state)
{
    (void)state;
    build();
    /* top's only child is root, so root is the view root of top's space. */
    MemoryRegion *top = h_container("top", 0x100000000ull);
    h_add(top, 0, root, 0);
    AddressSpace *space = h_as(top, "space");
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd8(space, 0x10000000), 0xbb); /* cached under root's slot */
    /* A second child of top: the view root becomes top itself, a new slot. */
    h_add(top, 0x10000000, over, 1);
    assert_int_equal(rd8(space, 0x10000000), 0xcc);
    assert_int_equal(memory_region_del_subregion(top, over), 0); /* back to root's slot */
    assert_int_equal(rd8(space, 0x10000000), 0xbb);
}

/* Byte i of RAM a's host memory, as build() and the tests below leave it. */
static uint8_t *host_a(hwaddr off)
{
    return (uint8_t *)memory_region_get_ram_ptr(ram_a) + off;
}

static void test_fast_path_matches_memory(void **state)
{
    (void)state;
    build();
    for (unsigned i = 0; i < 16 * PAGE; i++)
        host_a(0)[i] = (uint8_t)(i * 7 + 1);
    const hwaddr base = 0x10000;
    for (hwaddr off = 2 * PAGE - 10; off <= 2 * PAGE + 2; off++) {
        for (unsigned len = 1; len <= 16; len++) {
            uint8_t got[16], want[16];
            for (int pass = 0; pass < 2; pass++) { /* fill, then hit */
                memset(got, 0x55, sizeof(got));
                assert_int_equal(
                    address_space_read(as, base + off, MEMTXATTRS_UNSPECIFIED, got, len), MEMTX_OK);
                assert_memory_equal(got, host_a(off), len);
            }
            for (unsigned k = 0; k < len; k++)
                want[k] = (uint8_t)(0x80 + k + off);
            assert_int_equal(address_space_write(as, base + off, MEMTXATTRS_UNSPECIFIED, want, len),
                             MEMTX_OK);
            assert_memory_equal(host_a(off), want, len);
        }
        for (unsigned size = 1; size <= 8; size *= 2) {
            const uint8_t *b = host_a(off);
            uint64_t le = 0, be = 0;
            for (unsigned k = 0; k < size; k++) {
                le |= (uint64_t)b[k] << (8 * k);
                be = be << 8 | b[k];
            }
            MemTxResult r = MEMTX_DECODE_ERROR;
            uint64_t v =
                size == 1   ? address_space_ldub(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                : size == 2 ? address_space_lduw_be(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                : size == 4 ? address_space_ldl_be(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                            : address_space_ldq_be(as, base + off, MEMTXATTRS_UNSPECIFIED, &r);
            assert_int_equal(r, MEMTX_OK);
            assert_int_equal(v, be);
            v = size == 1   ? address_space_ldub(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                : size == 2 ? address_space_lduw_le(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                : size == 4 ? address_space_ldl_le(as, base + off, MEMTXATTRS_UNSPECIFIED, &r)
                            : address_space_ldq_le(as, base + off, MEMTXATTRS_UNSPECIFIED, &r);
            assert_int_equal(v, le);
            /* A store of the byte-swapped value leaves the bytes reversed. */
            uint8_t before[8];
            memcpy(before, b, size);
            if (size == 2)
                address_space_stw_le(as, base + off, (uint16_t)be, MEMTXATTRS_UNSPECIFIED, &r);
            else if (size == 4)
                address_space_stl_le(as, base + off, (uint32_t)be, MEMTXATTRS_UNSPECIFIED, &r);
            else if (size == 8)
                address_space_stq_le(as, base + off, be, MEMTXATTRS_UNSPECIFIED, &r);
            else
                address_space_stb(as, base + off, (uint8_t)be, MEMTXATTRS_UNSPECIFIED, &r);
            assert_int_equal(r, MEMTX_OK);
            for (unsigned k = 0; k < size; k++)
                assert_int_equal(b[k], before[size - 1 - k]);
        }
    }
}

static void *first_access(void *arg)
{
    uint8_t *v = arg;
    MemoryRegionSection s;
    if (address_space_translate(as, 0x10000 + 2 * PAGE, false, MEMTXATTRS_UNSPECIFIED, &s) !=
            MEMTX_OK ||
        s.host != host_a(2 * PAGE))
        return NULL;
    if (address_space_read(as, 0x10000 + 4 * PAGE, MEMTXATTRS_UNSPECIFIED, v, 1) != MEMTX_OK)
        return NULL;
    return arg;
}

static void test_first_access_of_a_thread(void **state)
{
    (void)state;
    build();
    uint8_t v = 0;
    void *ret = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, first_access, &v), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_ptr_equal(ret, &v);
    assert_int_equal(v, 0xa4);
}

static void test_strided_regions_keep_their_entries(void **state)
{
    (void)state;
    enum { NR = 1024 };
    /* One RAM region under every stride: the TLB caches pages, so reading
     * every stride-th page is the layout of one-page regions at that stride. */
    MemoryRegion *top = h_container("top", MR_SIZE_2_64);
    MemoryRegion *mem = h_ram("pages", NR * 4 * PAGE);
    uint8_t *host = memory_region_get_ram_ptr(mem);
    for (unsigned p = 0; p < NR * 4; p++)
        memset(host + (hwaddr)p * PAGE, (int)(p & 0xff), PAGE);
    h_add(top, 0x100000000ull, mem, 0);
    AddressSpace *space = h_as(top, "strided");
    for (hwaddr stride = 1; stride <= 4; stride *= 2) {
        for (unsigned i = 0; i < NR; i++)
            assert_int_equal(rd8(space, 0x100000000ull + i * stride * PAGE + 5),
                             (i * stride) & 0xff);
        uint64_t f0 = memregion_stat_tlb_fills();
        for (unsigned i = 0; i < NR; i++)
            assert_int_equal(rd8(space, 0x100000000ull + i * stride * PAGE + 9),
                             (i * stride) & 0xff);
        assert_int_equal(memregion_stat_tlb_fills() - f0, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_changed_page_is_looked_up_again),
        H_TEST(test_dirty_logged_writes_are_not_cached),
        H_TEST(test_commit_forgets_only_what_it_changed),
        H_TEST(test_a_change_in_the_next_zone_leaves_a_page_cached),
        H_TEST(test_revalidation_respects_a_restarted_span),
        H_TEST(test_revalidation_stays_in_its_slot),
        H_TEST(test_entries_belong_to_their_view),
        H_TEST(test_entries_do_not_follow_a_view_root_switch),
        H_TEST(test_fast_path_matches_memory),
        H_TEST(test_first_access_of_a_thread),
        H_TEST(test_strided_regions_keep_their_entries),
    };
    return cmocka_run_group_tests_name("tlb", tests, NULL, NULL);
}
