/*
 * Regression tests for concurrency bugs found by the stress test, each
 * reduced to the smallest program that shows it.
 *
 * 1. Region lifetime against views released by other threads.
 *    memory_region_destroy() documents -EBUSY for a region that is still in
 *    use: mapped, an address space root, an alias target, or visible in a
 *    published view (an uncommitted removal). Once the removal is committed
 *    and the last reference to the old view is dropped, nothing uses the
 *    region any more and destroy must succeed, whichever thread dropped the
 *    reference and whatever other writers do at that moment.
 * 2. Lost updates between writer-side calls on two threads. Writers are
 *    serialised by the library, so set_address() on one thread (a BAR
 *    callback moving its BAR) and set_priority() on another must both take
 *    effect: neither may write back a stale copy of the other's field.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "memregion/memregion.h"

typedef struct Holder {
    MemoryRegion *victim;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool in_transaction, unreffed;
    int destroy_err;
    char destroy_msg[256];
} Holder;

/* Another writer: opens a transaction, waits until the reader has dropped
 * its view, then destroys the (long since removed) region inside it. */
static void *holder_main(void *arg)
{
    Holder *h = arg;
    memory_region_transaction_begin();
    pthread_mutex_lock(&h->lock);
    h->in_transaction = true;
    pthread_cond_broadcast(&h->cond);
    while (!h->unreffed)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    h->destroy_err = memory_region_destroy(h->victim);
    snprintf(h->destroy_msg, sizeof(h->destroy_msg), "%s", memregion_last_error());
    memory_region_transaction_commit();
    return NULL;
}

/* ---- 1. destroy after the last reference is dropped ------------------------------------ */

/*
 * A reader holds the view that still shows region X; X's removal is
 * committed; the reader drops the last reference while another thread is
 * in a transaction; that thread then destroys X. Nothing uses X any more.
 */
static void test_destroy_after_last_unref(void **state)
{
    (void)state;
    MemoryRegion sys, x;
    AddressSpace as;
    assert_int_equal(memory_region_init(&sys, "system", 0x10000), 0);
    assert_int_equal(memory_region_init_rom(&x, "x", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&sys, 0x1000, &x), 0);
    assert_int_equal(address_space_init(&as, &sys, "as"), 0);

    FlatView *fv = address_space_get_flatview(&as);             /* a reader's reference */
    assert_int_equal(memory_region_del_subregion(&sys, &x), 0); /* committed */

    Holder h = {.victim = &x, .destroy_err = 1};
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
    pthread_mutex_lock(&h.lock);
    while (!h.in_transaction)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);

    flatview_unref(fv); /* the last reference to the view that showed x */

    pthread_mutex_lock(&h.lock);
    h.unreffed = true;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    pthread_join(t, NULL);

    if (h.destroy_err)
        print_error("destroy returned %d: %s\n", h.destroy_err, h.destroy_msg);
    assert_int_equal(h.destroy_err, 0);

    address_space_destroy(&as);
    assert_int_equal(memory_region_destroy(&sys), 0);
}

/* ---- 2. concurrent set_address and set_priority ---------------------------------------- */

static MemoryRegion lu_sys, lu_bar;
static _Atomic int lu_stop;
static _Atomic unsigned long lu_lost_priority, lu_lost_address;

/* Read a field of the BAR as a writer (the accessors' rule). */
static int32_t bar_priority(void)
{
    memory_region_transaction_begin();
    int32_t p = memory_region_priority(&lu_bar);
    memory_region_transaction_commit();
    return p;
}

static hwaddr bar_address(void)
{
    memory_region_transaction_begin();
    hwaddr a = memory_region_addr(&lu_bar);
    memory_region_transaction_commit();
    return a;
}

static void *priority_thread(void *arg)
{
    (void)arg;
    for (int32_t i = 1; !lu_stop; i = i % 1000 + 1) {
        memory_region_set_priority(&lu_bar, i);
        /* Only the other thread writes the address: the priority stays ours. */
        if (bar_priority() != i)
            lu_lost_priority++;
    }
    return NULL;
}

static void *address_thread(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; !lu_stop; i++) {
        hwaddr a = (i & 1) ? 0x1000 : 0x3000;
        memory_region_set_address(&lu_bar, a);
        if (bar_address() != a)
            lu_lost_address++;
    }
    return NULL;
}

static void test_set_address_and_priority_from_two_threads(void **state)
{
    (void)state;
    AddressSpace as;
    lu_stop = 0;
    lu_lost_priority = lu_lost_address = 0;
    assert_int_equal(memory_region_init(&lu_sys, "system", 0x10000), 0);
    assert_int_equal(memory_region_init_ram(&lu_bar, "bar", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&lu_sys, 0x1000, &lu_bar), 0);
    assert_int_equal(address_space_init(&as, &lu_sys, "as"), 0);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, priority_thread, NULL), 0);
    assert_int_equal(pthread_create(&b, NULL, address_thread, NULL), 0);
    sleep(2); /* the window is a few instructions wide: give it many chances */
    lu_stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (lu_lost_priority || lu_lost_address)
        print_error("lost updates: %lu priorities reverted by set_address, %lu addresses "
                    "reverted by set_priority\n",
                    (unsigned long)lu_lost_priority, (unsigned long)lu_lost_address);
    assert_int_equal(lu_lost_priority, 0);
    assert_int_equal(lu_lost_address, 0);
    address_space_destroy(&as);
    assert_int_equal(memory_region_del_subregion(&lu_sys, &lu_bar), 0);
    assert_int_equal(memory_region_destroy(&lu_bar), 0);
    assert_int_equal(memory_region_destroy(&lu_sys), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_after_last_unref),
        cmocka_unit_test(test_set_address_and_priority_from_two_threads),
    };
    return cmocka_run_group_tests_name("stress-regressions", tests, NULL, NULL);
}
