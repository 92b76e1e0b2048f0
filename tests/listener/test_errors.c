/*
 * Errors of the listener, dirty-log, coalescing and ioeventfd API: each
 * failing call returns the documented errno, leaves a message, changes
 * nothing and sends nothing to listeners.
 */
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lt.h"

static LtDev dev;

typedef struct Fixture {
    MemoryRegion *sys, *ram, *io, *box;
    AddressSpace *as, *as2;
    Mirror *m;
} Fixture;

static Fixture fx;

static void build(void)
{
    memset(&dev, 0, sizeof(dev));
    fx.sys = lt_container("system", 0x10000);
    fx.ram = lt_ram("ram", 0x2000);
    fx.io = lt_io(&lt_dev_ops, &dev, "io", 0x100);
    fx.box = lt_container("box", 0x1000);
    lt_add(fx.sys, 0, fx.ram, 0);
    lt_add(fx.sys, 0x4000, fx.io, 0);
    lt_add(fx.sys, 0x8000, fx.box, 0);
    fx.as = lt_as(fx.sys, "memory");
    fx.as2 = lt_as(fx.box, "box");
    fx.m = lt_mirror("m", 0, fx.as);
    mirror_clear_log(fx.m);
}

static void assert_nothing_sent(void)
{
    if (fx.m->nr_log)
        mirror_print_log(fx.m, stderr);
    assert_int_equal(fx.m->nr_log, 0);
    assert_int_equal(fx.m->errors, 0);
}

static void test_register_errors(void **state)
{
    (void)state;
    build();
    assert_error(mirror_register(fx.m, fx.as), EBUSY);
    assert_error(mirror_register(fx.m, fx.as2), EBUSY);
    assert_nothing_sent();
    assert_ptr_equal(fx.m->listener.address_space, fx.as);
    assert_error(memory_listener_register(NULL, fx.as), EINVAL);
    Mirror *other = lt_mirror_new("other", 0);
    assert_error(memory_listener_register(&other->listener, NULL), EINVAL);
    assert_null(other->listener.address_space);
    assert_int_equal(other->nr_log, 0);
    /* Unregistering twice, or something never registered, is harmless. */
    mirror_unregister(fx.m);
    mirror_clear_log(fx.m);
    memory_listener_unregister(&fx.m->listener);
    memory_listener_unregister(&other->listener);
    memory_listener_unregister(NULL);
    assert_int_equal(fx.m->nr_log, 0);
    /* And it can register again. */
    assert_int_equal(mirror_register(fx.m, fx.as2), 0);
    assert_mirror(fx.m, fx.as2);
}

static void test_set_log_errors(void **state)
{
    (void)state;
    build();
    assert_error(memory_region_set_log(fx.io, true, DIRTY_MEMORY_VGA), EINVAL);
    assert_error(memory_region_set_log(fx.box, true, DIRTY_MEMORY_VGA), EINVAL);
    assert_error(memory_region_set_log(fx.ram, true, DIRTY_MEMORY_NUM), EINVAL);
    assert_error(memory_region_set_log(fx.ram, true, 77), EINVAL);
    assert_error(memory_region_set_log(NULL, true, DIRTY_MEMORY_VGA), EINVAL);
    MemoryRegion zero;
    memset(&zero, 0, sizeof(zero));
    assert_error(memory_region_set_log(&zero, true, DIRTY_MEMORY_VGA), EINVAL);
    assert_int_equal(memory_region_get_dirty_log_mask(fx.io), 0);
    assert_int_equal(memory_region_get_dirty_log_mask(fx.ram), 0);
    assert_nothing_sent();
    /* Dirty queries on a region that does not log are clean and harmless. */
    assert_false(memory_region_get_dirty(fx.io, 0, 0x100, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(fx.ram, 0, 0x2000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(fx.ram, 0, 0x2000, 9));
    memory_region_set_dirty(fx.ram, 0, 0x2000);
    memory_region_reset_dirty(fx.ram, 0, 0x2000, DIRTY_MEMORY_VGA);
    assert_null(memory_region_snapshot_and_clear_dirty(fx.ram, 0, 0x1000, DIRTY_MEMORY_VGA));
    assert_null(memory_region_snapshot_and_clear_dirty(fx.ram, 0, 0x1000, 9));
    assert_null(memory_region_snapshot_and_clear_dirty(NULL, 0, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_snapshot_get_dirty(fx.ram, NULL, 0, 0x1000));
    memory_region_snapshot_free(NULL);
    /* Queries past the end of a logging region are clipped, not overruns. */
    assert_int_equal(memory_region_set_log(fx.ram, true, DIRTY_MEMORY_VGA), 0);
    memory_region_set_dirty(fx.ram, 0x1ff0, 0x100000);
    assert_true(memory_region_get_dirty(fx.ram, 0x1000, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(fx.ram, 0x0, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(fx.ram, 0x100000, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(fx.ram, UINT64_MAX - 10, 0x100, DIRTY_MEMORY_VGA));
}

static void test_page_size_errors(void **state)
{
    (void)state;
    assert_error(memregion_set_dirty_page_size(0), EINVAL);
    assert_error(memregion_set_dirty_page_size(3), EINVAL);
    assert_error(memregion_set_dirty_page_size(0x1800), EINVAL);
    assert_int_equal(memregion_set_dirty_page_size(512), 0);
    assert_int_equal(memregion_set_dirty_page_size(4096), 0);
}

static void test_coalescing_errors(void **state)
{
    (void)state;
    build();
    assert_error(memory_region_add_coalescing(fx.ram, 0, 0x100), EINVAL);
    assert_error(memory_region_add_coalescing(fx.box, 0, 0x100), EINVAL);
    assert_error(memory_region_add_coalescing(fx.io, 0, 0), EINVAL);
    assert_error(memory_region_add_coalescing(fx.io, 0x80, 0x81), EINVAL);
    assert_error(memory_region_add_coalescing(fx.io, 0x100, 1), EINVAL);
    assert_error(memory_region_add_coalescing(fx.io, UINT64_MAX, 2), EINVAL);
    assert_error(memory_region_add_coalescing(NULL, 0, 1), EINVAL);
    assert_nothing_sent();
    memory_region_clear_coalescing(fx.ram); /* nothing to clear: harmless */
    memory_region_clear_coalescing(NULL);
    assert_nothing_sent();
}

static void test_eventfd_errors(void **state)
{
    (void)state;
    build();
    int fd = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(memory_region_add_eventfd(fx.io, 0x10, 4, true, 5, fd), 0);
    mirror_clear_log(fx.m);
    assert_error(memory_region_add_eventfd(fx.io, 0x10, 4, true, 5, fd), EEXIST);
    /* Without match_data the data does not matter: the same entry. */
    assert_int_equal(memory_region_add_eventfd(fx.io, 0x20, 4, false, 1, fd), 0);
    mirror_clear_log(fx.m);
    assert_error(memory_region_add_eventfd(fx.io, 0x20, 4, false, 2, fd), EEXIST);
    assert_error(memory_region_del_eventfd(fx.io, 0x10, 4, true, 6, fd), ENOENT);
    assert_error(memory_region_del_eventfd(fx.io, 0x10, 2, true, 5, fd), ENOENT);
    assert_error(memory_region_del_eventfd(fx.io, 0x14, 4, true, 5, fd), ENOENT);
    assert_error(memory_region_del_eventfd(fx.io, 0x10, 4, true, 5, fd + 100), ENOENT);
    assert_error(memory_region_add_eventfd(fx.io, 0x10, 3, false, 0, fd), EINVAL);
    assert_error(memory_region_add_eventfd(fx.io, 0xfe, 4, false, 0, fd), EINVAL);
    assert_error(memory_region_add_eventfd(fx.io, 0x100, 0, false, 0, fd), EINVAL);
    assert_error(memory_region_add_eventfd(fx.io, 0x10, 4, false, 0, -1), EINVAL);
    assert_error(memory_region_add_eventfd(fx.ram, 0x10, 4, false, 0, fd), EINVAL);
    assert_error(memory_region_add_eventfd(fx.box, 0x10, 4, false, 0, fd), EINVAL);
    assert_error(memory_region_add_eventfd(NULL, 0x10, 4, false, 0, fd), EINVAL);
    assert_nothing_sent();
    /* The real entries still work. */
    assert_int_equal(memory_region_del_eventfd(fx.io, 0x10, 4, true, 5, fd), 0);
    assert_int_equal(memory_region_del_eventfd(fx.io, 0x20, 4, false, 1, fd), 0);
    assert_error(memory_region_del_eventfd(fx.io, 0x10, 4, true, 5, fd), ENOENT);
    assert_int_equal(fx.m->total[MCB_EVENTFD_DEL], 2);
    close(fd);
}

/* An entry added before the region shrank can still be removed. */
static void test_del_eventfd_after_shrink(void **state)
{
    (void)state;
    build();
    int fd = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(memory_region_add_eventfd(fx.io, 0xf0, 4, false, 0, fd), 0);
    assert_int_equal(memory_region_set_size(fx.io, 0x80), 0);
    assert_mirror(fx.m, fx.as);
    assert_int_equal(fx.m->nr_eventfds, 0); /* no longer visible */
    assert_int_equal(memory_region_del_eventfd(fx.io, 0xf0, 4, false, 0, fd), 0);
    /* Growing back does not resurrect it. */
    assert_int_equal(memory_region_set_size(fx.io, 0x100), 0);
    assert_mirror(fx.m, fx.as);
    assert_int_equal(fx.m->nr_eventfds, 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_register_errors),  LT_TEST(test_set_log_errors),
        LT_TEST(test_page_size_errors), LT_TEST(test_coalescing_errors),
        LT_TEST(test_eventfd_errors),   LT_TEST(test_del_eventfd_after_shrink),
    };
    return cmocka_run_group_tests_name("listener-errors", tests, NULL, NULL);
}
