/*
 * Call records: which region's callbacks each thread is running.
 *
 * Every thread that dispatches into a callback region has a record, a small
 * stack of the regions whose callbacks it is inside (nested when a device
 * does DMA into another device). A region is pushed inside the RCU
 * read-side section that found it, and the callback runs after the section
 * ends, so a callback may take the writer lock. The records serve two
 * purposes:
 * - the re-entrancy guard: is this thread already inside @mr?
 * - memory_region_destroy(): after a grace period, no reader can newly
 *   enter @mr; it then waits until no record holds @mr.
 *
 * A read section the caller holds (read_section.c) is suspended from the
 * entry that found it open to the matching leave, so callbacks run outside
 * it too.
 *
 * Invariant: entries at and above a record's depth are NULL. Entries are
 * written only by the owning thread, with plain (relaxed) atomic stores;
 * synchronize_rcu() orders them against the destroyer, as it orders every
 * store a reader made before leaving its read-side section.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "access_path.h"
#include "globals.h"

static void record_release(void *p)
{
    CallRecord *r = p;
    pthread_mutex_lock(&mr_callrecs.lock);
    r->in_use = false; /* depth is 0: the thread left every callback */
    pthread_mutex_unlock(&mr_callrecs.lock);
}

static void record_key_init(void)
{
    pthread_key_create(&mr_callrecs.key, record_release);
}

static CallRecord *record_of_this_thread(void)
{
    if (mr_ts.callrec)
        return mr_ts.callrec;
    pthread_once(&mr_callrecs.key_once, record_key_init);
    pthread_mutex_lock(&mr_callrecs.lock);
    CallRecord *r = mr_callrecs.list;
    while (r && r->in_use)
        r = r->next;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            mr_oom(__func__);
        r->next = mr_callrecs.list;
        mr_callrecs.list = r;
    }
    r->in_use = true;
    pthread_mutex_unlock(&mr_callrecs.lock);
    pthread_setspecific(mr_callrecs.key, r);
    mr_ts.callrec = r;
    return r;
}

bool callrec_in_callback_of(const MemoryRegion *mr)
{
    CallRecord *r = mr_ts.callrec;
    for (unsigned i = 0; r && i < r->depth; i++)
        if (r->active[i] == mr)
            return true;
    return false;
}

MemTxResult callrec_enter_slow(MemoryRegion *mr)
{
    CallRecord *r = record_of_this_thread();
    if (!mr->reentrancy_guard_off && callrec_in_callback_of(mr))
        return MEMTX_ACCESS_ERROR; /* a device reaching itself: refused */
    if (r->depth == CALLREC_DEPTH_MAX)
        return MEMTX_ACCESS_ERROR; /* devices dispatching into each other too deep */
    __atomic_store_n(&r->active[r->depth], mr, __ATOMIC_RELAXED);
    r->depth++;
    if (mr_section.open) { /* nested callbacks find it suspended already */
        mr_section.callrec_depth = (uint8_t)r->depth;
        mr_section_suspend(MR_SUSPEND_CALLBACK);
    }
    return MEMTX_OK;
}

/* Does any thread's record hold @mr? */
static bool held_anywhere(const MemoryRegion *mr)
{
    bool held = false;
    pthread_mutex_lock(&mr_callrecs.lock);
    for (CallRecord *r = mr_callrecs.list; r && !held; r = r->next)
        for (unsigned i = 0; i < CALLREC_DEPTH_MAX && !held; i++)
            held = __atomic_load_n(&r->active[i], __ATOMIC_ACQUIRE) == mr;
    pthread_mutex_unlock(&mr_callrecs.lock);
    return held;
}

bool callrec_busy(const MemoryRegion *mr)
{
    return held_anywhere(mr);
}

void callrec_wait_idle(const MemoryRegion *mr)
{
    while (held_anywhere(mr))
        sched_yield();
}
