/*
 * Reclamation of memory readers may still be using (retired view versions
 * and chunks, slots, eventfd sets, dirty bitmaps).
 *
 * On the writer side, retired objects are batched: when the batch is full,
 * the writer waits for one grace period (synchronize_rcu) and frees the
 * whole batch itself, so garbage stays bounded however fast commits come,
 * and freed chunks return to their pool at once.
 *
 * How full is full depends on what a grace period costs. Without readers on
 * other CPUs it costs the writer a few microseconds, and a batch of
 * RECLAIM_BATCH objects keeps the memory the writer cycles through small
 * (mapping regions one by one retires two small objects per commit). With
 * readers running, liburcu-bp's synchronize_rcu interrupts their CPUs twice
 * (membarrier) and waits for their sections: tens of microseconds for the
 * writer and about as much for each reader. A busy writer retires a version,
 * a node and a chunk per commit, so a batch of objects
 * made it wait for readers every 64 commits, thousands of times a second.
 * So while grace periods take much longer than the quickest one seen, the
 * batch is bounded in bytes instead, RECLAIM_BYTES, which for such commits
 * is one wait per ~180 of them. The writer sees only its own wait: long
 * when a reader sits in a section it must wait out (preempted there, say)
 * or a reader's CPU must be woken; a reader running flat out on its own CPU
 * pays for the interruption while the writer's wait stays short, and then
 * the batch stays at RECLAIM_BATCH objects.
 *
 * Callers that do not hold the writer lock hand objects to liburcu's
 * call_rcu thread instead.
 *
 * Waiting for a grace period while holding the writer lock is safe because
 * no reader ever waits for that lock inside a read-side section: device
 * callbacks run after the section that found them has ended.
 */
#include <stdlib.h>
#include <time.h>

#include "base.h"
#include "globals.h"

#define RECLAIM_BATCH      256 /* objects retired before the writer waits, while waits are cheap */
#define RECLAIM_BYTES      (2u << 20) /* bytes retired before it waits, while they are dear */
#define RECLAIM_BATCH_DEAR 4096       /* objects, however small, while they are dear */
#define RECLAIM_DEAR       4          /* dear: the recent average over 4x the quickest wait */
#define RECLAIM_DEAR_CAP   16         /* a wait counts at most 16x the quickest in the average */

typedef struct Deferred {
    struct rcu_head *head;
    void (*fn)(struct rcu_head *);
} Deferred;

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mr_reclaim_now(void)
{
    if (!mr_ws.nr_reclaim)
        return;
    uint64_t t0 = clock_ns();
    synchronize_rcu();
    uint64_t took = clock_ns() - t0;
    mr_ws.stat_grace_periods++;
    if (!mr_ws.gp_quickest_ns || took < mr_ws.gp_quickest_ns)
        mr_ws.gp_quickest_ns = took ? took : 1;
    /* One wait stretched by preemption must not make waits look dear for long. */
    took = MR_MIN(took, RECLAIM_DEAR_CAP * mr_ws.gp_quickest_ns);
    mr_ws.gp_recent_ns = mr_ws.gp_recent_ns ? (3 * mr_ws.gp_recent_ns + took) / 4 : took;
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
    MR_GROW_OR_DIE(mr_ws.reclaim_batch, mr_ws.cap_reclaim, mr_ws.nr_reclaim + 1, RECLAIM_BATCH);
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].head = head;
    mr_ws.reclaim_batch[mr_ws.nr_reclaim].fn = fn;
    mr_ws.nr_reclaim++;
    mr_ws.reclaim_bytes += bytes;
}

void mr_reclaim_maybe(void)
{
    bool dear = mr_ws.gp_recent_ns > RECLAIM_DEAR * mr_ws.gp_quickest_ns;
    if (dear ? mr_ws.reclaim_bytes >= RECLAIM_BYTES || mr_ws.nr_reclaim >= RECLAIM_BATCH_DEAR
             : mr_ws.nr_reclaim >= RECLAIM_BATCH)
        mr_reclaim_now();
}

uint64_t memregion_stat_grace_periods(void)
{
    mr_writer_lock();
    uint64_t n = mr_ws.stat_grace_periods;
    mr_writer_unlock();
    return n;
}
