/*
 * Listener priority order: add-type callbacks (begin, region_add,
 * region_nop, log_start, log_global_start, coalesced_io_add, eventfd_add,
 * commit) run in ascending priority order; del-type callbacks (region_del,
 * log_stop, log_global_stop, coalesced_io_del, eventfd_del) in descending
 * order. Equal priorities keep registration order, reversed for del-type.
 *
 * Four mirrors, registered in the order p10, p0, p5, p5b (priorities 10, 0,
 * 5, 5). Expected order for add-type: p0, p5, p5b, p10; for del-type: p10,
 * p5b, p5, p0.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lt.h"

static const MirrorCb add_type[] = {
    MCB_BEGIN,  MCB_REGION_ADD,    MCB_REGION_NOP,  MCB_LOG_START,
    MCB_COMMIT, MCB_COALESCED_ADD, MCB_EVENTFD_ADD, MCB_LOG_GLOBAL_START,
};
static const MirrorCb del_type[] = {
    MCB_REGION_DEL, MCB_LOG_STOP, MCB_COALESCED_DEL, MCB_EVENTFD_DEL, MCB_LOG_GLOBAL_STOP,
};

/*
 * For every event kind in @kinds, check that the i-th event of that kind
 * happened in the order of @order (mirrors listed first to last).
 * Returns the number of (kind, i) pairs checked.
 */
static size_t check_order(Mirror *const *order, size_t n, const MirrorCb *kinds, size_t nkinds)
{
    size_t checked = 0;
    for (size_t k = 0; k < nkinds; k++) {
        size_t count = mirror_count_events(order[0], kinds[k]);
        for (size_t j = 1; j < n; j++)
            assert_int_equal(mirror_count_events(order[j], kinds[k]), count);
        for (size_t i = 0; i < count; i++) {
            for (size_t j = 1; j < n; j++) {
                const MirrorEvent *a = mirror_find_event(order[j - 1], kinds[k], i);
                const MirrorEvent *b = mirror_find_event(order[j], kinds[k], i);
                if (a->seq >= b->seq)
                    fprintf(stderr, "%s #%zu: %s (seq %lu) should precede %s (seq %lu)\n",
                            mirror_cb_name(kinds[k]), i, order[j - 1]->name, a->seq, order[j]->name,
                            b->seq);
                assert_true(a->seq < b->seq);
            }
            checked++;
        }
    }
    return checked;
}

static void test_three_priorities(void **state)
{
    (void)state;
    static LtDev dev;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *root = lt_container("root", 0x10000);
    MemoryRegion *a = lt_ram("a", 0x1000);
    MemoryRegion *b = lt_ram("b", 0x1000);
    MemoryRegion *mmio = lt_io(&lt_dev_ops, &dev, "mmio", 0x1000);
    lt_add(root, 0x0000, a, 0);
    lt_add(root, 0x2000, b, 0);
    lt_add(root, 0x4000, mmio, 0);
    assert_int_equal(memory_region_set_log(a, true, DIRTY_MEMORY_VGA), 0);
    int fd = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(memory_region_add_coalescing(mmio, 0, 0x100), 0);
    assert_int_equal(memory_region_add_eventfd(mmio, 0x10, 4, false, 0, fd), 0);
    AddressSpace *as = lt_as(root, "mem");

    Mirror *p10 = lt_mirror("p10", 10, as);
    Mirror *p0 = lt_mirror("p0", 0, as);
    Mirror *p5 = lt_mirror("p5", 5, as);
    Mirror *p5b = lt_mirror("p5b", 5, as);
    Mirror *asc[] = {p0, p5, p5b, p10};
    Mirror *desc[] = {p10, p5b, p5, p0};
    for (size_t i = 0; i < 4; i++)
        mirror_clear_log(asc[i]);

    /* One update with every kind of range callback. */
    lt_begin();
    assert_int_equal(memory_region_set_address(mmio, 0x6000), 0); /* del + add, zones, eventfd */
    assert_int_equal(memory_region_set_log(a, false, DIRTY_MEMORY_VGA), 0); /* nop + log_stop */
    assert_int_equal(memory_region_set_log(b, true, DIRTY_MEMORY_VGA), 0);  /* nop + log_start */
    lt_commit();
    for (size_t i = 0; i < 4; i++) {
        assert_mirror(asc[i], as);
        assert_last(asc[i], MCB_REGION_DEL, 1);
        assert_last(asc[i], MCB_REGION_ADD, 1);
        assert_last(asc[i], MCB_REGION_NOP, 2);
        assert_last(asc[i], MCB_LOG_START, 1);
        assert_last(asc[i], MCB_LOG_STOP, 1);
        assert_last(asc[i], MCB_COALESCED_DEL, 1);
        assert_last(asc[i], MCB_COALESCED_ADD, 1);
        assert_last(asc[i], MCB_EVENTFD_DEL, 1);
        assert_last(asc[i], MCB_EVENTFD_ADD, 1);
    }
    /* begin, add, nop x2, log_start, commit, coalesced_add, eventfd_add */
    assert_int_equal(check_order(asc, 4, add_type, sizeof(add_type) / sizeof(add_type[0])), 8);
    /* del, log_stop, coalesced_del, eventfd_del */
    assert_int_equal(check_order(desc, 4, del_type, sizeof(del_type) / sizeof(del_type[0])), 4);

    /* Global logging start and stop. */
    for (size_t i = 0; i < 4; i++)
        mirror_clear_log(asc[i]);
    memory_global_dirty_log_start();
    memory_global_dirty_log_stop();
    for (size_t i = 0; i < 4; i++) {
        assert_mirror(asc[i], as);
        assert_int_equal(asc[i]->total[MCB_LOG_GLOBAL_START], 1);
        assert_int_equal(asc[i]->total[MCB_LOG_GLOBAL_STOP], 1);
    }
    /* begin x2, nop of a and b x2, log_start of a and b, commit x2, log_global_start */
    assert_int_equal(check_order(asc, 4, add_type, sizeof(add_type) / sizeof(add_type[0])), 11);
    /* log_global_stop x1, and the log_stop of a and b */
    assert_int_equal(check_order(desc, 4, del_type, sizeof(del_type) / sizeof(del_type[0])), 3);

    /* Attachment changes on their own keep the order too. */
    for (size_t i = 0; i < 4; i++)
        mirror_clear_log(asc[i]);
    assert_int_equal(memory_region_del_eventfd(mmio, 0x10, 4, false, 0, fd), 0);
    memory_region_clear_coalescing(mmio);
    assert_int_equal(memory_region_add_coalescing(mmio, 0x200, 0x10), 0);
    assert_int_equal(memory_region_add_eventfd(mmio, 0x20, 4, false, 0, fd), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_mirror(asc[i], as);
        assert_int_equal(asc[i]->total[MCB_EVENTFD_DEL], 1);
        assert_int_equal(asc[i]->total[MCB_COALESCED_DEL], 1);
        assert_int_equal(asc[i]->total[MCB_COALESCED_ADD], 1);
        assert_int_equal(asc[i]->total[MCB_EVENTFD_ADD], 1);
    }
    check_order(asc, 4, add_type, sizeof(add_type) / sizeof(add_type[0]));
    check_order(desc, 4, del_type, sizeof(del_type) / sizeof(del_type[0]));

    /* Unregistering the middle one leaves the others in order. */
    mirror_unregister(p5);
    for (size_t i = 0; i < 4; i++)
        mirror_clear_log(asc[i]);
    assert_int_equal(memory_region_set_address(mmio, 0x4000), 0);
    Mirror *asc3[] = {p0, p5b, p10};
    Mirror *desc3[] = {p10, p5b, p0};
    assert_int_equal(p5->nr_log, 0);
    check_order(asc3, 3, add_type, sizeof(add_type) / sizeof(add_type[0]));
    check_order(desc3, 3, del_type, sizeof(del_type) / sizeof(del_type[0]));
    assert_int_equal(p0->total[MCB_REGION_DEL], 1);
    assert_int_equal(p0->total[MCB_REGION_ADD], 1);

    for (size_t i = 0; i < 4; i++)
        mirror_unregister(asc[i]);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_three_priorities),
    };
    return cmocka_run_group_tests_name("listener-priority", tests, NULL, NULL);
}
