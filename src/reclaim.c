/*
 * Reclamation of memory readers may still be using (retired view versions
 * and chunks, slots, eventfd sets, dirty bitmaps).
 *
 * On the writer side, retired objects are batched: when the batch holds
 * RECLAIM_BYTES of garbage (or RECLAIM_BATCH objects), the writer waits for
 * one grace period (synchronize_rcu) and frees the whole batch itself.
 * Garbage stays bounded by the budget however fast commits come, and freed
 * chunks return to their pool at once.
 *
 * The budget is counted in bytes because a grace period is dear to readers:
 * liburcu-bp's synchronize_rcu interrupts every CPU that runs a reader twice
 * (membarrier), which costs a reader about as much time as the writer spends
 * on the grace period itself, tens of microseconds on a virtual machine. A
 * busy writer retires a few objects per commit (a version, a node, a chunk,
 * a generation block), so a budget of objects made it wait for readers every
 * 64 commits, thousands of times a second; a budget of bytes lets it wait
 * once per a few hundred commits for the same bound on memory.
 *
 * Callers that do not hold the writer lock hand objects to liburcu's
 * call_rcu thread instead.
 *
 * Waiting for a grace period while holding the writer lock is safe because
 * no reader ever waits for that lock inside a read-side section: device
 * callbacks run after the section that found them has ended.
 */
#include <stdlib.h>

#include "base.h"
#include "globals.h"

#define RECLAIM_BYTES (2u << 20) /* garbage retired before the writer waits for readers */
#define RECLAIM_BATCH 4096       /* objects, however small, retired before it waits */

typedef struct Deferred {
    struct rcu_head *head;
    void (*fn)(struct rcu_head *);
} Deferred;

void mr_reclaim_now(void)
{
    if (!mr_ws.nr_reclaim)
        return;
    synchronize_rcu();
    mr_ws.stat_grace_periods++;
    /* A freeing function may retire more (a version frees its chunks). */
    while (mr_ws.nr_reclaim) {
        Deferred d = mr_ws.reclaim_batch[--mr_ws.nr_reclaim];
        d.fn(d.head);
    }
    mr_ws.reclaim_bytes = 0;
}

void mr_defer_free(struct rcu_head *head, void (*fn)(struct rcu_head *), size_t bytes)
{
    if (!mr_writer_owned()) {
        call_rcu(head, fn);
        return;
    }
    MR_GROW_OR_DIE(mr_ws.reclaim_batch, mr_ws.cap_reclaim, mr_ws.nr_reclaim + 1, 256);
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].head = head;
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].fn = fn;
    mr_ws.nr_reclaim++;
    mr_ws.reclaim_bytes += bytes;
}

void mr_reclaim_maybe(void)
{
    if (mr_ws.reclaim_bytes >= RECLAIM_BYTES || mr_ws.nr_reclaim >= RECLAIM_BATCH)
        mr_reclaim_now();
}

uint64_t memregion_stat_grace_periods(void)
{
    mr_writer_lock();
    uint64_t n = mr_ws.stat_grace_periods;
    mr_writer_unlock();
    return n;
}
