/*
 * Region lifetime against views released by other threads.
 *
 * memory_region_destroy() documents -EBUSY for a region that is still in
 * use: mapped, an address space root, an alias target, or visible in a
 * published view (an uncommitted removal). Once the removal is committed
 * and the last reference to the old view is dropped, nothing uses the
 * region any more and destroy must succeed, whichever thread dropped the
 * reference and whatever other writers do at that moment.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_after_last_unref),
    };
    return cmocka_run_group_tests_name("stress-lifetime", tests, NULL, NULL);
}
