/*
 * RCU made visible to ThreadSanitizer. base.h includes it instead of
 * plain <urcu-bp.h> in ThreadSanitizer builds only.
 *
 * liburcu is not instrumented, and its publication macros are volatile
 * accesses plus compiler barriers or calls into the library, none of which
 * TSan understands as synchronisation. Without help, TSan reports every
 * RCU-protected access as a race:
 *  - publication: a reader reads a view the writer allocated and published
 *    with rcu_assign_pointer() ("previous write by malloc");
 *  - reclamation: a call_rcu() callback or the code after synchronize_rcu()
 *    frees memory a reader read inside its read-side section.
 *
 * This header maps the primitives onto operations TSan models:
 *  - rcu_assign_pointer() is a release store and rcu_dereference() an
 *    acquire load (__atomic builtins; on x86 the same instructions);
 *  - rcu_read_unlock() releases a process-wide grace-period token, and the
 *    return of synchronize_rcu() and the start of every call_rcu() callback
 *    acquire it: everything a reader did inside a read-side section that
 *    ended happens before the reclamation, which is what a grace period
 *    guarantees;
 *  - call_rcu() hands its callback to liburcu's worker thread: what the
 *    caller did before call_rcu() happens before the callback.
 * Accesses a reader makes outside a read-side section (for example inside
 * a device callback, after the section ended) are not covered, so races on
 * them are still reported.
 */
#ifndef MEMREGION_TSAN_RCU_H
#define MEMREGION_TSAN_RCU_H

#if defined(__SANITIZE_THREAD__)
#define MEMREGION_TSAN_RCU 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MEMREGION_TSAN_RCU 1
#endif
#endif

#ifdef MEMREGION_TSAN_RCU

#include <stdlib.h>
#include <urcu-bp.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

/* One token for the whole process (a weak definition merges across units). */
__attribute__((weak)) char memregion_tsan_grace_token;

static inline void memregion_tsan_read_unlock(void)
{
    __tsan_release(&memregion_tsan_grace_token);
    urcu_bp_read_unlock();
}

static inline void memregion_tsan_synchronize_rcu(void)
{
    urcu_bp_synchronize_rcu();
    __tsan_acquire(&memregion_tsan_grace_token);
}

typedef struct memregion_tsan_rcu_cb {
    struct rcu_head head;
    struct rcu_head *orig;
    void (*func)(struct rcu_head *);
} memregion_tsan_rcu_cb;

static inline void memregion_tsan_rcu_trampoline(struct rcu_head *head)
{
    memregion_tsan_rcu_cb *cb = caa_container_of(head, memregion_tsan_rcu_cb, head);
    __tsan_acquire(cb);                          /* what the caller did before call_rcu() */
    __tsan_acquire(&memregion_tsan_grace_token); /* what readers did before the grace period */
    cb->func(cb->orig);
    free(cb);
}

static inline void memregion_tsan_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
    memregion_tsan_rcu_cb *cb = malloc(sizeof(*cb));
    if (!cb)
        abort();
    cb->orig = head;
    cb->func = func;
    __tsan_release(cb); /* the hand-off through liburcu's queue */
    urcu_bp_call_rcu(&cb->head, memregion_tsan_rcu_trampoline);
}

#undef rcu_dereference
#undef rcu_assign_pointer
#undef rcu_read_unlock
#undef synchronize_rcu
#undef call_rcu
#define rcu_dereference(p)       __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define rcu_read_unlock          memregion_tsan_read_unlock
#define synchronize_rcu          memregion_tsan_synchronize_rcu
#define call_rcu                 memregion_tsan_call_rcu

#endif /* MEMREGION_TSAN_RCU */
#endif /* MEMREGION_TSAN_RCU_H */
