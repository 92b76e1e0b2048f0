/*
 * Reclamation of memory readers may still be using (retired view versions
 * and chunks, slots, eventfd sets, dirty bitmaps).
 *
 * On the writer side, retired objects are batched: when the batch is full,
 * the writer waits for one grace period (synchronize_rcu) and frees the
 * whole batch itself. Garbage stays bounded by the batch size however fast
 * commits come, one grace period is paid per batch rather than per object,
 * and freed chunks return to their pool at once. Callers that do not hold
 * the writer lock hand objects to liburcu's call_rcu thread instead.
 *
 * Waiting for a grace period while holding the writer lock is safe because
 * no reader ever waits for that lock inside a read-side section: device
 * callbacks run after the section that found them has ended.
 */
#include <stdlib.h>

#include "base.h"
#include "globals.h"

#define RECLAIM_BATCH 256 /* objects retired before the writer waits for readers */

typedef struct Deferred {
    struct rcu_head *head;
    void (*fn)(struct rcu_head *);
} Deferred;

void mr_reclaim_now(void)
{
    if (!mr_ws.nr_reclaim)
        return;
    synchronize_rcu();
    /* A freeing function may retire more (a version frees its chunks). */
    while (mr_ws.nr_reclaim) {
        Deferred d = mr_ws.reclaim_batch[--mr_ws.nr_reclaim];
        d.fn(d.head);
    }
}

void mr_defer_free(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
    if (!mr_writer_owned()) {
        call_rcu(head, fn);
        return;
    }
    MR_GROW_OR_DIE(mr_ws.reclaim_batch, mr_ws.cap_reclaim, mr_ws.nr_reclaim + 1, RECLAIM_BATCH);
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].head = head;
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].fn = fn;
    mr_ws.nr_reclaim++;
}

void mr_reclaim_maybe(void)
{
    if (mr_ws.nr_reclaim >= RECLAIM_BATCH)
        mr_reclaim_now();
}
