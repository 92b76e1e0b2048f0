/*
 * Errors: every refused call returns the documented negative errno, leaves
 * a message in memregion_last_error(), and changes nothing: the tree, the
 * published view, and no render happens.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static MemoryRegion *root, *ram, *box;
static AddressSpace *as;
static ViewSnap snap;
static uint64_t renders;

/* root [0,0x10000): ram [0x1000,0x2000), box [0x4000,0x8000) (empty container). */
static void build(void)
{
    root = h_container("root", 0x10000);
    ram = h_ram("ram", 0x1000);
    box = h_container("box", 0x4000);
    h_add(root, 0x1000, ram, 0);
    h_add(root, 0x4000, box, 0);
    as = h_as(root, "as");
    h_snap(as, &snap);
    renders = memregion_stat_renders();
}

/* Nothing visible changed and no render happened. */
#define assert_nothing_changed()                                                                   \
    do {                                                                                           \
        assert_view_unchanged(as, &snap);                                                          \
        assert_int_equal(memregion_stat_renders(), renders);                                       \
    } while (0)

static void test_add_already_parented(void **state)
{
    (void)state;
    build();
    assert_error(memory_region_add_subregion(box, 0, ram), EBUSY);
    assert_error(memory_region_add_subregion_overlap(root, 0x3000, ram, 5), EBUSY);
    assert_ptr_equal(memory_region_container(ram), root);
    assert_int_equal(memory_region_addr(ram), 0x1000);
    assert_int_equal(memory_region_priority(ram), 0);
    assert_null(memory_region_first_subregion(box));
    assert_nothing_changed();
}

static void test_add_under_itself(void **state)
{
    (void)state;
    build();
    MemoryRegion *c = h_container("c", 0x1000);
    int rc = memory_region_add_subregion(c, 0, c);
    /* Documented as "must not be @parent": -EINVAL, or -ELOOP as the smallest cycle. */
    if (rc != -EINVAL && rc != -ELOOP)
        fail_msg("add_subregion(c, c) returned %d, expected -EINVAL or -ELOOP", rc);
    assert_true(memregion_last_error()[0] != '\0');
    assert_null(memory_region_container(c));
    assert_null(memory_region_first_subregion(c));
    assert_nothing_changed();
}

static void test_add_ancestor_under_descendant(void **state)
{
    (void)state;
    build();
    /* p holds q; adding p (unparented) inside q closes a loop. */
    MemoryRegion *p = h_container("p", 0x1000), *q = h_container("q", 0x1000);
    h_add(p, 0, q, 0);
    assert_error(memory_region_add_subregion(q, 0, p), ELOOP);
    assert_null(memory_region_container(p));
    assert_null(memory_region_first_subregion(q));
    /* Same with the AS root: root holds box. */
    assert_error(memory_region_add_subregion(box, 0, root), ELOOP);
    assert_null(memory_region_container(root));
    assert_nothing_changed();
}

static void test_alias_cycle_direct(void **state)
{
    (void)state;
    build();
    /* Alias A shows all of container C at C's own place: a loop with no
     * displacement, which would render without end (alias_loops tests the
     * loops that end). */
    MemoryRegion *c = h_container("C", 0x1000);
    MemoryRegion *a = h_alias("A", c, 0, 0x1000);
    assert_error(memory_region_add_subregion(c, 0, a), ELOOP);
    assert_null(memory_region_container(a));
    assert_null(memory_region_first_subregion(c));
    /* Mapped in the AS, the refusal leaves the view alone. */
    MemoryRegion *a2 = h_alias("A2", box, 0, 0x4000);
    assert_error(memory_region_add_subregion(box, 0, a2), ELOOP);
    assert_nothing_changed();
}

static void test_alias_cycle_two_containers(void **state)
{
    (void)state;
    build();
    /* A -> C1; C2 holds A; adding C2 to C1 closes C1 -> C2 -> A -> C1, with
     * every offset 0: no displacement, endless. */
    MemoryRegion *c1 = h_container("C1", 0x1000), *c2 = h_container("C2", 0x1000);
    MemoryRegion *a = h_alias("A", c1, 0, 0x1000);
    h_add(c2, 0, a, 0);
    assert_error(memory_region_add_subregion(c1, 0, c2), ELOOP);
    assert_null(memory_region_container(c2));
    assert_null(memory_region_first_subregion(c1));

    /* Through an alias of an alias: B -> A -> C1, B inside C1. */
    MemoryRegion *b = h_alias("B", a, 0, 0x1000);
    assert_error(memory_region_add_subregion(c1, 0, b), ELOOP);
    assert_null(memory_region_container(b));

    /* Inside the AS: box holds alias X -> box2, box2 inside box would loop via X. */
    MemoryRegion *box2 = h_container("box2", 0x1000);
    MemoryRegion *x = h_alias("X", box, 0, 0x1000);
    h_add(box2, 0, x, 0);
    renders = memregion_stat_renders();
    assert_error(memory_region_add_subregion(box, 0, box2), ELOOP);
    assert_null(memory_region_container(box2));
    assert_nothing_changed();
}

static void test_overflow_add_subregion(void **state)
{
    (void)state;
    build();
    MemoryRegion *top = h_container("top", MR_SIZE_2_64);
    MemoryRegion *r = h_ram("r", 0x2000);
    assert_error(memory_region_add_subregion(top, 0xfffffffffffff000ull, r), EINVAL);
    assert_null(memory_region_container(r));
    assert_error(memory_region_add_subregion(top, UINT64_MAX, r), EINVAL);
    assert_null(memory_region_container(r));
    /* Ending exactly at 2^64 is fine. */
    assert_int_equal(memory_region_add_subregion(top, 0xffffffffffffe000ull, r), 0);
    /* A 2^64 region fits only at 0. */
    MemoryRegion *all = h_container("all", MR_SIZE_2_64);
    assert_error(memory_region_add_subregion(root, 1, all), EINVAL);
    assert_null(memory_region_container(all));
    assert_nothing_changed();
}

static void test_overflow_set_address(void **state)
{
    (void)state;
    build();
    assert_error(memory_region_set_address(ram, 0xfffffffffffff001ull), EINVAL);
    assert_int_equal(memory_region_addr(ram), 0x1000);
    assert_error(memory_region_set_address(ram, UINT64_MAX), EINVAL);
    assert_int_equal(memory_region_addr(ram), 0x1000);
    assert_nothing_changed();
    /* The boundary itself is fine. */
    assert_int_equal(memory_region_set_address(ram, 0xfffffffffffff000ull), 0);
}

static void test_overflow_set_size(void **state)
{
    (void)state;
    build();
    TestDev dev;
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    MemoryRegion *top = h_container("top", MR_SIZE_2_64);
    MemoryRegion *io = h_io(&td_ops_le, &dev, "io", 0x1000);
    h_add(top, 0xfffffffffffff000ull, io, 0);
    assert_error(memory_region_set_size(io, 0x1001), EINVAL);
    assert_size_equal(memory_region_size(io), 0x1000);
    /* Over 2^64 on its own. */
    assert_error(memory_region_set_size(box, MR_SIZE_2_64 + 1), EINVAL);
    assert_size_equal(memory_region_size(box), 0x4000);
    /* An alias's offset counts: offset 0x1000 + 2^64 - 0xfff passes 2^64. */
    MemoryRegion *a = h_alias("a", top, 0x1000, 0x1000);
    assert_error(memory_region_set_size(a, MR_SIZE_2_64 - 0xfff), EINVAL);
    assert_size_equal(memory_region_size(a), 0x1000);
    assert_int_equal(memory_region_set_size(a, MR_SIZE_2_64 - 0x1000), 0);
    assert_nothing_changed();
}

static void test_overflow_init_alias(void **state)
{
    (void)state;
    build();
    MemoryRegion *a = h_mr();
    assert_error(memory_region_init_alias(a, "a", root, 0x1000, MR_SIZE_2_64), EINVAL);
    assert_int_equal(memory_region_kind(a), MR_KIND_NONE);
    assert_error(memory_region_init_alias(a, "a", root, UINT64_MAX, 2), EINVAL);
    assert_int_equal(memory_region_kind(a), MR_KIND_NONE);
    assert_int_equal(memory_region_init_alias(a, "a", root, 1, MR_SIZE_2_64 - 1), 0);
    /* set_alias_offset is checked the same way. */
    assert_error(memory_region_set_alias_offset(a, 2), EINVAL);
    assert_int_equal(memory_region_alias_offset(a), 1);
    /* An uninitialised target is refused. */
    MemoryRegion *b = h_mr(), *nothing = h_mr();
    assert_error(memory_region_init_alias(b, "b", nothing, 0, 0x1000), EINVAL);
    assert_int_equal(memory_region_kind(b), MR_KIND_NONE);
    assert_nothing_changed();
}

static void test_size_over_2_64(void **state)
{
    (void)state;
    MemoryRegion *mr = h_mr();
    assert_error(memory_region_init(mr, "c", MR_SIZE_2_64 + 1), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    assert_error(memory_region_init_ram(mr, "r", MR_SIZE_2_64 + 1), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    assert_error(memory_region_init_io(mr, NULL, NULL, "io", (mr_size_t)1 << 100), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    assert_error(memory_region_init(NULL, "c", 0x1000), EINVAL);
}

static void test_zero_sized_ram(void **state)
{
    (void)state;
    build();
    MemoryRegion *mr = h_mr();
    static uint8_t buf[16];
    assert_error(memory_region_init_ram(mr, "r", 0), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    assert_error(memory_region_init_ram_ptr(mr, "r", 0, buf), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    assert_error(memory_region_init_ram_ptr(mr, "r", 16, NULL), EINVAL);
    assert_int_equal(memory_region_kind(mr), MR_KIND_NONE);
    /* Existing RAM can neither become empty nor grow past its memory. */
    assert_error(memory_region_set_size(ram, 0), EINVAL);
    assert_error(memory_region_set_size(ram, 0x2000), EINVAL);
    assert_size_equal(memory_region_size(ram), 0x1000);
    assert_nothing_changed();
}

static void test_destroy_busy(void **state)
{
    (void)state;
    build();
    MemoryRegion *target = h_ram("target", 0x1000);
    MemoryRegion *a = h_alias("a", target, 0, 0x1000);

    assert_error(memory_region_destroy(ram), EBUSY); /* mapped */
    assert_int_equal(memory_region_kind(ram), MR_KIND_RAM);
    assert_ptr_equal(memory_region_container(ram), root);
    assert_error(memory_region_destroy(root), EBUSY); /* an address space's root */
    assert_int_equal(memory_region_kind(root), MR_KIND_CONTAINER);
    assert_error(memory_region_destroy(target), EBUSY); /* an alias target */
    assert_int_equal(memory_region_kind(target), MR_KIND_RAM);
    assert_nothing_changed();
    assert_int_equal(address_space_ldub(as, 0x1000, ATTRS_NONE, NULL), 0);

    /* Once released, each one goes. */
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    assert_int_equal(memory_region_destroy(ram), 0);
    assert_int_equal(memory_region_kind(ram), MR_KIND_NONE);
    assert_int_equal(memory_region_destroy(a), 0);
    assert_int_equal(memory_region_destroy(target), 0);
    h_as_destroy(as);
    assert_int_equal(memory_region_destroy(root), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    build();
    MemoryRegion *loose = h_ram("loose", 0x1000);
    assert_error(memory_region_del_subregion(box, ram), EINVAL); /* not its child */
    assert_error(memory_region_del_subregion(root, loose), EINVAL);
    assert_ptr_equal(memory_region_container(ram), root);
    assert_error(memory_region_set_alias_offset(ram, 0), EINVAL);
    assert_error(memory_region_rom_device_set_romd(ram, false), EINVAL);
    MemoryRegion *a = h_alias("a", box, 0, 0x1000);
    assert_error(memory_region_add_subregion(a, 0, loose), EINVAL); /* parent is an alias */
    assert_null(memory_region_container(loose));
    assert_nothing_changed();
}

static void test_destroy_uncommitted_removal(void **state)
{
    (void)state;
    build();
    h_begin();
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    /* Readers still see ram in the published view: it cannot go yet. */
    assert_error(memory_region_destroy(ram), EBUSY);
    assert_int_equal(memory_region_kind(ram), MR_KIND_RAM);
    h_commit();
    assert_view_empty(as);
    assert_int_equal(memory_region_destroy(ram), 0);
}

static void test_add_uninitialised(void **state)
{
    (void)state;
    build();
    MemoryRegion *raw = h_mr();
    assert_error(memory_region_add_subregion(root, 0x3000, raw), EINVAL);
    assert_error(memory_region_add_subregion(raw, 0, h_ram("r", 0x1000)), EINVAL);
    assert_error(memory_region_add_subregion(root, 0x3000, NULL), EINVAL);
    assert_nothing_changed();
}

static void test_ram_resize_within_memory(void **state)
{
    (void)state;
    build();
    assert_int_equal(memory_region_set_size(ram, 0x800), 0);
    assert_view(as, {0x1000, 0x800, ram, 0, false});
    assert_int_equal(memory_region_set_size(ram, 0x1000),
                     0); /* back up to what it was created with */
    assert_view(as, {0x1000, 0x1000, ram, 0, false});
    h_snap(as, &snap);
    renders = memregion_stat_renders();
    assert_error(memory_region_set_size(ram, 0x1001), EINVAL);
    assert_nothing_changed();
}

/* A thread that refuses one call and reports its message, after checking
 * that it starts with none. */
static void *fail_in_thread(void *arg)
{
    char *out = arg;
    if (memregion_last_error()[0] != '\0') {
        strcpy(out, "a new thread saw another's message");
        return NULL;
    }
    memory_region_add_subregion(box, 0, box);
    snprintf(out, 256, "%s", memregion_last_error());
    return NULL;
}

/* Each thread has its own message (a heap buffer per thread, freed at its
 * exit: the ASan build's leak check sees one that is not), and it stays
 * until that thread's next failing call. */
static void test_message_per_thread(void **state)
{
    (void)state;
    build();
    assert_error(memory_region_add_subregion(box, 0, ram), EBUSY);
    char mine[256], theirs[256] = "";
    snprintf(mine, sizeof(mine), "%s", memregion_last_error());
    assert_true(mine[0] != '\0');
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, fail_in_thread, theirs), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(strstr(theirs, "box") != NULL);
        assert_string_not_equal(theirs, mine);
    }
    assert_string_equal(memregion_last_error(), mine);
    assert_nothing_changed();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_add_already_parented),
        H_TEST(test_add_under_itself),
        H_TEST(test_add_ancestor_under_descendant),
        H_TEST(test_alias_cycle_direct),
        H_TEST(test_alias_cycle_two_containers),
        H_TEST(test_overflow_add_subregion),
        H_TEST(test_overflow_set_address),
        H_TEST(test_overflow_set_size),
        H_TEST(test_overflow_init_alias),
        H_TEST(test_size_over_2_64),
        H_TEST(test_zero_sized_ram),
        H_TEST(test_destroy_busy),
        H_TEST(test_bad_arguments),
        H_TEST(test_destroy_uncommitted_removal),
        H_TEST(test_add_uninitialised),
        H_TEST(test_ram_resize_within_memory),
        H_TEST(test_message_per_thread),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
