/*
 * Address spaces, flat views and transactions.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static TestDev dev;

static bool as_listed(const AddressSpace *as)
{
    for (AddressSpace *it = address_space_next(NULL); it; it = address_space_next(it)) {
        if (it == as)
            return true;
    }
    return false;
}

static void test_init_destroy(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *ram = h_ram("ram", 0x1000);
    h_add(root, 0x2000, ram, 0);
    char name[] = "mem";
    AddressSpace *as = h_as(root, name);
    name[0] = 'X';
    assert_string_equal(address_space_name(as), "mem");
    assert_ptr_equal(address_space_root(as), root);
    assert_view(as, {0x2000, 0x1000, ram, 0, false});

    AddressSpace *as2 = h_as(root, "second");
    /* Creation order in the global list. */
    AddressSpace *it = address_space_next(NULL);
    while (it && it != as)
        it = address_space_next(it);
    assert_ptr_equal(it, as);
    assert_ptr_equal(address_space_next(as), as2);

    /* The root is busy while an address space uses it. */
    assert_error(memory_region_destroy(root), EBUSY);
    assert_true(as_listed(as));
    AddressSpace *gone = as;
    h_as_destroy(as);
    assert_false(as_listed(gone));
    assert_true(as_listed(as2));
    assert_error(memory_region_destroy(root), EBUSY);
    h_as_destroy(as2);
    assert_int_equal(memory_region_destroy(root), 0);
    assert_null(memory_region_container(ram));
}

static void test_init_rejects_bad_root(void **state)
{
    (void)state;
    MemoryRegion *uninit = h_mr();
    /* Heap-allocated and leaked: if init wrongly succeeded, the library keeps a pointer to it. */
    AddressSpace *as = calloc(1, sizeof(*as));
    assert_non_null(as);
    assert_error(address_space_init(as, uninit, "bad"), EINVAL);
    assert_error(address_space_init(as, NULL, "bad"), EINVAL);
    assert_false(as_listed(as));
    free(as);
}

/*
 * root [0,0x10000): RAM [0x1000,0x2000), MMIO [0x2000,0x2100),
 * hole, RAM2 [0x8000,0xa000).
 */
static MemoryRegion *ram, *mmio, *ram2;

static MemoryRegion *build_map(void)
{
    MemoryRegion *root = h_container("root", 0x10000);
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    ram = h_ram("ram", 0x1000);
    mmio = h_io(&td_ops_le, &dev, "mmio", 0x100);
    ram2 = h_ram("ram2", 0x2000);
    h_add(root, 0x1000, ram, 0);
    h_add(root, 0x2000, mmio, 0);
    h_add(root, 0x8000, ram2, 0);
    return root;
}

/*
 * Versions share the free slots at the end of a chunk: mapping a region
 * after the last range writes it into the chunk that the previous version
 * holds too. The previous version must still show only its own ranges
 * (fails if a reader takes a chunk's length from the chunk, not from its
 * version).
 */
static void test_old_version_keeps_its_prefix_of_a_chunk(void **state)
{
    (void)state;
    MemoryRegion *root = h_container("root", 0x100000);
    MemoryRegion *r[6];
    for (int i = 0; i < 6; i++) {
        r[i] = h_ram("r", 0x1000);
        if (i < 4)
            h_add(root, (hwaddr)i * 0x2000, r[i], 0);
    }
    AddressSpace *as = h_as(root, "as");
    FlatView *old = address_space_get_flatview(as);
    h_add(root, 4 * 0x2000, r[4], 0); /* each in its own commit */
    h_add(root, 5 * 0x2000, r[5], 0);
    FlatView *now = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(now), 6);
    assert_ptr_equal(flatview_lookup(now, 5 * 0x2000)->mr, r[5]);
    assert_int_equal(flatview_nr_ranges(old), 4);
    assert_null(flatview_range(old, 4));
    assert_ptr_equal(flatview_range(old, 3)->mr, r[3]);
    assert_null(flatview_lookup(old, 4 * 0x2000));
    assert_null(flatview_lookup(old, 5 * 0x2000 + 0xfff));
    flatview_unref(now);
    /* Unmap the last one and map another there: the first view still shows six. */
    FlatView *six = address_space_get_flatview(as);
    assert_int_equal(memory_region_del_subregion(root, r[5]), 0);
    h_add(root, 5 * 0x2000 + 0x1000, r[5], 0);
    assert_ptr_equal(flatview_lookup(six, 5 * 0x2000)->mr, r[5]);
    assert_null(flatview_lookup(six, 5 * 0x2000 + 0x1000));
    now = address_space_get_flatview(as);
    assert_null(flatview_lookup(now, 5 * 0x2000));
    assert_ptr_equal(flatview_lookup(now, 5 * 0x2000 + 0x1000)->mr, r[5]);
    flatview_unref(now);
    flatview_unref(six);
    flatview_unref(old);
}

static void test_flatview_iteration_and_lookup(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    FlatView *fv = address_space_get_flatview(as);
    assert_non_null(fv);
    assert_ptr_equal(flatview_root(fv), root);
    assert_int_equal(flatview_nr_ranges(fv), 3);
    const FlatRange *r0 = flatview_range(fv, 0), *r1 = flatview_range(fv, 1),
                    *r2 = flatview_range(fv, 2);
    assert_int_equal(r0->addr, 0x1000);
    assert_size_equal(r0->size, 0x1000);
    assert_ptr_equal(r0->mr, ram);
    assert_int_equal(r1->addr, 0x2000);
    assert_size_equal(r1->size, 0x100);
    assert_ptr_equal(r1->mr, mmio);
    assert_false(r1->romd_mode);
    assert_int_equal(r2->addr, 0x8000);
    assert_ptr_equal(r2->mr, ram2);

    /* Lookup: first byte, last byte, holes before, between and after. */
    assert_ptr_equal(flatview_lookup(fv, 0x1000), r0);
    assert_ptr_equal(flatview_lookup(fv, 0x1fff), r0);
    assert_ptr_equal(flatview_lookup(fv, 0x2000), r1);
    assert_ptr_equal(flatview_lookup(fv, 0x20ff), r1);
    assert_ptr_equal(flatview_lookup(fv, 0x9fff), r2);
    assert_null(flatview_lookup(fv, 0));
    assert_null(flatview_lookup(fv, 0xfff));
    assert_null(flatview_lookup(fv, 0x2100));
    assert_null(flatview_lookup(fv, 0x7fff));
    assert_null(flatview_lookup(fv, 0xa000));
    assert_null(flatview_lookup(fv, UINT64_MAX));
    flatview_unref(fv);

    FlatRange out;
    memset(&out, 0xa5, sizeof(out));
    FlatRange untouched = out;
    assert_false(address_space_find_range(as, 0x3000, &out));
    assert_memory_equal(&out, &untouched, sizeof(out));
    assert_true(address_space_find_range(as, 0x8123, &out));
    assert_ptr_equal(out.mr, ram2);
    assert_int_equal(out.addr, 0x8000);
    assert_int_equal(out.offset_in_region, 0);
    assert_size_equal(out.size, 0x2000);
}

static void test_shared_flatview(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *a = h_as(root, "a");
    AddressSpace *b = h_as(root, "b");
    FlatView *fa = address_space_get_flatview(a), *fb = address_space_get_flatview(b);
    assert_ptr_equal(fa, fb);
    flatview_unref(fa);
    flatview_unref(fb);

    /* Still shared after a change; and the change shows in both. */
    MemoryRegion *extra = h_ram("extra", 0x1000);
    h_add(root, 0x4000, extra, 0);
    fa = address_space_get_flatview(a);
    fb = address_space_get_flatview(b);
    assert_ptr_equal(fa, fb);
    assert_int_equal(flatview_nr_ranges(fa), 4);
    flatview_unref(fa);
    flatview_unref(fb);

    /* A different root renders its own view. */
    MemoryRegion *root2 = h_container("root2", 0x10000);
    MemoryRegion *r = h_ram("r", 0x1000);
    h_add(root2, 0, r, 0);
    AddressSpace *c = h_as(root2, "c");
    fa = address_space_get_flatview(a);
    FlatView *fc = address_space_get_flatview(c);
    assert_ptr_not_equal(fa, fc);
    flatview_unref(fa);
    flatview_unref(fc);
}

static void test_old_view_stays_valid(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    FlatView *old = address_space_get_flatview(as);
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    /* The reference taken before the change still shows the old, immutable view. */
    assert_int_equal(flatview_nr_ranges(old), 3);
    assert_ptr_equal(flatview_range(old, 0)->mr, ram);
    assert_ptr_equal(flatview_lookup(old, 0x1800), flatview_range(old, 0));
    flatview_unref(old);
    assert_view(as, {0x2000, 0x100, mmio, 0, false}, {0x8000, 0x2000, ram2, 0, false});
}

static void test_nested_transaction(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    MemoryRegion *extra = h_ram("extra", 0x1000);
    FlatView *before = address_space_get_flatview(as);
    uint64_t renders = memregion_stat_renders();

    h_begin();
    h_begin();
    h_add(root, 0x4000, extra, 0);
    assert_int_equal(memory_region_set_address(ram2, 0xc000), 0);
    assert_int_equal(memory_region_set_enabled(mmio, false), 0);
    /* Readers still see the old view, unchanged. */
    FlatRange fr;
    assert_false(address_space_find_range(as, 0x4000, &fr));
    assert_true(address_space_find_range(as, 0x2000, &fr));
    assert_ptr_equal(fr.mr, mmio);
    assert_true(address_space_find_range(as, 0x8000, &fr));
    assert_ptr_equal(fr.mr, ram2);
    FlatView *during = address_space_get_flatview(as);
    assert_ptr_equal(during, before);
    flatview_unref(during);
    h_commit(); /* inner: nothing happens yet */
    assert_int_equal(memregion_stat_renders(), renders);
    assert_false(address_space_find_range(as, 0x4000, &fr));
    during = address_space_get_flatview(as);
    assert_ptr_equal(during, before);
    flatview_unref(during);
    h_commit(); /* outermost: one render for the one view that changed */
    assert_int_equal(memregion_stat_renders(), renders + 1);
    flatview_unref(before);

    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x4000, 0x1000, extra, 0, false},
                {0xc000, 0x2000, ram2, 0, false});
}

static void test_mutator_renders_once(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    AddressSpace *as2 = h_as(root, "as2"); /* shares the view: still one render */
    (void)as2;
    uint64_t renders = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(ram2, 0xc000), 0);
    assert_int_equal(memregion_stat_renders(), renders + 1);
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x2000, 0x100, mmio, 0, false},
                {0xc000, 0x2000, ram2, 0, false});
}

static void test_empty_transaction(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    FlatView *before = address_space_get_flatview(as);
    uint64_t renders = memregion_stat_renders();
    h_begin();
    h_commit();
    h_begin();
    h_begin();
    h_commit();
    h_commit();
    assert_int_equal(memregion_stat_renders(), renders);
    FlatView *after = address_space_get_flatview(as);
    assert_ptr_equal(after, before);
    flatview_unref(after);
    flatview_unref(before);
}

static void test_only_changed_views_render(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    MemoryRegion *root2 = h_container("root2", 0x10000);
    MemoryRegion *r = h_ram("r", 0x1000);
    h_add(root2, 0, r, 0);
    AddressSpace *other = h_as(root2, "other");
    FlatView *other_before = address_space_get_flatview(other);

    uint64_t renders = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(ram2, 0xc000), 0);
    assert_int_equal(memregion_stat_renders(), renders + 1);
    FlatView *other_after = address_space_get_flatview(other);
    assert_ptr_equal(other_after, other_before);
    flatview_unref(other_after);
    flatview_unref(other_before);

    /* A change in a tree no address space renders costs no render. */
    MemoryRegion *loose = h_container("loose", 0x10000);
    MemoryRegion *x = h_ram("x", 0x1000);
    renders = memregion_stat_renders();
    h_add(loose, 0, x, 0);
    assert_int_equal(memregion_stat_renders(), renders);
    (void)as;
}

static void test_shared_through_covering_alias(void **state)
{
    (void)state;
    /*
     * A bus-master container whose only child is an alias of all of system
     * memory at 0 renders the same tree as system: one shared view.
     */
    MemoryRegion *sys = h_container("system", MR_SIZE_2_64);
    MemoryRegion *r = h_ram("ram", 0x1000);
    h_add(sys, 0x1000, r, 0);
    MemoryRegion *bm = h_container("bus master", MR_SIZE_2_64);
    MemoryRegion *win = h_alias("bm-system", sys, 0, MR_SIZE_2_64);
    h_add(bm, 0, win, 0);
    AddressSpace *mem = h_as(sys, "memory");
    AddressSpace *dma = h_as(bm, "dma");
    assert_view(dma, {0x1000, 0x1000, r, 0, false});
    FlatView *a = address_space_get_flatview(mem), *b = address_space_get_flatview(dma);
    assert_ptr_equal(a, b);
    assert_ptr_equal(flatview_root(a), sys);
    flatview_unref(a);
    flatview_unref(b);

    /* Disabling the window: the bus master sees nothing, the views part. */
    assert_int_equal(memory_region_set_enabled(win, false), 0);
    assert_view_empty(dma);
    assert_view(mem, {0x1000, 0x1000, r, 0, false});
}

static void test_flatview_root_null_when_disabled(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    assert_int_equal(memory_region_set_enabled(root, false), 0);
    FlatView *fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), 0);
    assert_null(flatview_root(fv));
    assert_null(flatview_lookup(fv, 0x1000));
    flatview_unref(fv);
}

static void test_init_inside_transaction(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    h_begin();
    AddressSpace *as = h_as(root, "as");
    FlatView *fv = address_space_get_flatview(as); /* some valid view, whatever it holds */
    assert_non_null(fv);
    flatview_unref(fv);
    h_commit();
    assert_view(as, {0x1000, 0x1000, ram, 0, false}, {0x2000, 0x100, mmio, 0, false},
                {0x8000, 0x2000, ram2, 0, false});
}

/* What a reader thread saw while another thread held a transaction open. */
typedef struct ReaderSeen {
    AddressSpace *as;
    bool found_new, found_old;
    FlatView *fv;
    uint8_t byte;
} ReaderSeen;

static void *reader_thread(void *arg)
{
    ReaderSeen *r = arg;
    FlatRange fr;
    r->found_new = address_space_find_range(r->as, 0x4000, &fr);
    r->found_old = address_space_find_range(r->as, 0x1000, &fr) && fr.mr == ram;
    r->fv = address_space_get_flatview(r->as);
    r->byte = address_space_ldub(r->as, 0x1000, ATTRS_NONE, NULL);
    return NULL;
}

static void test_other_thread_sees_old_view(void **state)
{
    (void)state;
    MemoryRegion *root = build_map();
    AddressSpace *as = h_as(root, "as");
    ((uint8_t *)memory_region_get_ram_ptr(ram))[0] = 0x77;
    FlatView *before = address_space_get_flatview(as);
    MemoryRegion *extra = h_ram("extra", 0x1000);

    h_begin();
    h_add(root, 0x4000, extra, 0);
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    /* A reader on another thread neither blocks on the open transaction nor sees it. */
    ReaderSeen seen = {.as = as};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_thread, &seen), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    h_commit();

    assert_false(seen.found_new);
    assert_true(seen.found_old);
    assert_ptr_equal(seen.fv, before);
    assert_int_equal(seen.byte, 0x77);
    flatview_unref(seen.fv);
    flatview_unref(before);

    /* After the commit, the same reader sees the new view. */
    memset(&seen, 0, sizeof(seen));
    seen.as = as;
    assert_int_equal(pthread_create(&t, NULL, reader_thread, &seen), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(seen.found_new);
    assert_false(seen.found_old);
    flatview_unref(seen.fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_init_destroy),
        H_TEST(test_init_rejects_bad_root),
        H_TEST(test_flatview_iteration_and_lookup),
        H_TEST(test_shared_flatview),
        H_TEST(test_old_view_stays_valid),
        H_TEST(test_nested_transaction),
        H_TEST(test_mutator_renders_once),
        H_TEST(test_empty_transaction),
        H_TEST(test_only_changed_views_render),
        H_TEST(test_shared_through_covering_alias),
        H_TEST(test_flatview_root_null_when_disabled),
        H_TEST(test_init_inside_transaction),
        H_TEST(test_other_thread_sees_old_view),
        H_TEST(test_old_version_keeps_its_prefix_of_a_chunk),
    };
    return cmocka_run_group_tests_name("address_space", tests, NULL, NULL);
}
