/*
 * The base of every layer: what all of memregion's source files share and
 * nothing else. Not installed.
 *
 * - RCU: liburcu-bp (or, in ThreadSanitizer builds, the shim tsan_rcu.h).
 * - Small helpers: MR_MIN/MR_MAX, mr_int128, the thread-local macro
 *   MR_THREAD, PtrVec.
 * - The error channel (base.c): mr_error() for API misuse, mr_oom() where
 *   nothing can be reported, MR_ASSERT() for internal invariants.
 * - The one growth helper (grow.h) through MR_GROW / MR_GROW_OR_DIE.
 * - The writer lock (base.c) that serialises every writer, and deferred
 *   frees (reclaim.c) for memory readers may still see.
 *
 * Invariants: a function that reports an error has changed nothing; a
 * function documented "writer lock held" runs only on the lock's owner
 * (MR_ASSERT_WRITER); memory a reader may hold is freed only after a grace
 * period (mr_defer_free).
 *
 * The layers above, each with its own header: the region tree
 * (region_tree.h), views (view.h), commit and damage (commit.h), the access
 * path (access_path.h) and listeners (listeners.h). The process globals of
 * all of them are listed in globals.h.
 */
#ifndef MEMREGION_BASE_H
#define MEMREGION_BASE_H

#include <stddef.h>

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer builds: RCU's ordering spelled in terms TSan models. */
#include "tsan_rcu.h"
#else
/* Inline liburcu's read-side fast path (a thread-local counter and a
 * compiler barrier): the dispatch path enters a read-side section on every
 * access. liburcu permits this for LGPL-compatible code. */
#define _LGPL_SOURCE
#include <urcu-bp.h>
#endif

/* Is the calling thread known to liburcu-bp yet (its first read-side
 * section registers it)? A fast path that checks this first lets the
 * compiler drop the registration call from rcu_read_lock(), and with it
 * the stack frame the call would need. */
static inline bool mr_rcu_registered(void)
{
#if defined(__SANITIZE_THREAD__)
    return true; /* the shim's sections are calls anyway */
#else
    return URCU_TLS(urcu_bp_reader) != NULL;
#endif
}

/*
 * The fast paths' read-side section, for a thread mr_rcu_registered()
 * says liburcu knows. When the thread is inside a section already (one it
 * holds with memregion_read_section_begin, as QEMU's callers hold
 * rcu_read_lock(); or any other), a lookup that ends on that path needs no
 * section of its own: mr_rcu_lock_unless_nested() then enters none and
 * returns true. Otherwise it enters one, as rcu_read_lock() does, and
 * returns false. Either way the test is the one rcu_read_lock() makes
 * anyway (liburcu-bp's nesting count), so the common case pays nothing
 * for it. mr_rcu_lock_nested() enters one inside the known section, for
 * paths that end one of their own.
 */
#if !defined(__SANITIZE_THREAD__)
/* The calling thread's liburcu-bp counter, read through its offset:
 * liburcu places reader records at 32-byte offsets though their type says
 * 128-byte aligned (tests/ubsan.supp), and this is our code, not its. */
static inline unsigned long mr_rcu_reader_ctr(void)
{
    const char *reader = (const char *)URCU_TLS(urcu_bp_reader);
    return *(const unsigned long *)(reader + offsetof(struct urcu_bp_reader, ctr));
}
#endif

static inline bool mr_rcu_lock_unless_nested(void)
{
#if defined(__SANITIZE_THREAD__)
    /* The shim's sections, which TSan sees, and liburcu's public calls. */
    if (urcu_bp_read_ongoing())
        return true;
    rcu_read_lock();
    return false;
#else
    cmm_barrier();
    unsigned long tmp = mr_rcu_reader_ctr();
    if (tmp & URCU_BP_GP_CTR_NEST_MASK)
        return true;
    _urcu_bp_read_lock_update(tmp);
    return false;
#endif
}

static inline void mr_rcu_lock_nested(void)
{
#if defined(__SANITIZE_THREAD__)
    rcu_read_lock();
#else
    _urcu_bp_read_lock_update(mr_rcu_reader_ctr());
#endif
}

#include "memregion/memregion.h"

#include "grow.h"

/* Signed 128-bit arithmetic for render bases: an alias offset larger than
 * the alias's address gives a negative base. */
typedef __int128 mr_int128;

/*
 * Thread-local state of the access path: the initial-exec model reaches it
 * with one instruction instead of a call of __tls_get_addr per access (the
 * library is linked at start-up or dlopen()ed into static TLS surplus).
 */
#define MR_THREAD __thread __attribute__((tls_model("initial-exec")))

#define MR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- base.c: errors, out of memory, internal invariants ------------------- */

/* Record a message for memregion_last_error() and return -err. */
int mr_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Out-of-memory policy (docs/internals.md). A function that can report an
 * error reports an allocation failure as -ENOMEM, with a message, and has
 * changed nothing. Where nothing can be reported (inside a commit: render,
 * view building, listener replay; the change tracking a mutation does after
 * it validated its arguments; reclaim batching; dispatch bookkeeping), the
 * map cannot be left half-updated, so mr_oom() prints where it happened on
 * stderr and aborts the process.
 */
__attribute__((noreturn, cold)) void mr_oom(const char *where);

/* Bytes in a cache line: structures that readers and the writer share keep
 * what each side writes on lines of its own. */
#define MR_CACHE_LINE 64

/* @size bytes (uninitialised) starting a cache line, for objects that
 * readers poll apart from what writers change; mr_oom() when there is no
 * memory. Freed with free(). */
void *mr_alloc_lines(size_t size, const char *where);

/*
 * The one growth helper, mr_grow_array() (grow.h), used through MR_GROW
 * (reports -ENOMEM) or MR_GROW_OR_DIE (cannot report: mr_oom).
 */
#define MR_GROW(arr, cap, need, initial)                                                           \
    __extension__({                                                                                \
        void *grow_p_ = (arr);                                                                     \
        int grow_r_ = mr_grow_array(&grow_p_, &(cap), (need), sizeof(*(arr)), (initial));          \
        (arr) = grow_p_;                                                                           \
        grow_r_;                                                                                   \
    })
#define MR_GROW_OR_DIE(arr, cap, need, initial)                                                    \
    do {                                                                                           \
        if (MR_GROW(arr, cap, need, initial))                                                      \
            mr_oom(__func__);                                                                      \
    } while (0)

/*
 * Internal invariants. MR_ASSERT(cond) checks a condition that holds
 * whatever a caller or a guest does: a false one is a bug in the library,
 * reported on stderr with its place, then abort(). API misuse is never an
 * MR_ASSERT: it returns a negative errno through mr_error(). Checks are on
 * unless NDEBUG is defined (meson -Db_ndebug=true, or if-release with a
 * release build): the default debugoptimized build and the sanitizer builds
 * have them. On hot paths only O(1) checks.
 */
__attribute__((noreturn, cold)) void mr_assert_fail(const char *expr, const char *file, int line,
                                                    const char *func);
#ifdef NDEBUG
#define MR_ASSERTS_ON   0
#define MR_ASSERT(cond) ((void)sizeof(!(cond)))
#else
#define MR_ASSERTS_ON 1
#define MR_ASSERT(cond)                                                                            \
    (__builtin_expect(!!(cond), 1) ? (void)0 : mr_assert_fail(#cond, __FILE__, __LINE__, __func__))
#endif
/* The calling thread holds the writer lock (the "writer lock held" rule). */
#define MR_ASSERT_WRITER() MR_ASSERT(mr_writer_owned())

/* A growable array of pointers (zero-initialise; free(v) when done). */
typedef struct PtrVec {
    void **v;
    size_t n, cap;
} PtrVec;

/* Append @p to @a (aborts when out of memory). */
static inline void ptrvec_push(PtrVec *a, void *p)
{
    MR_GROW_OR_DIE(a->v, a->cap, a->n + 1, 16);
    a->v[a->n++] = p;
}

/* ---- base.c: the writer lock ----------------------------------------------------- */

/* The writer lock: recursive, held from transaction begin to commit. */
void mr_writer_lock(void);
void mr_writer_unlock(void);
/* Take the writer lock if it is free or already ours; true on success. */
bool mr_writer_trylock(void);
/* This thread's holds of the writer lock (globals.c; listed in globals.h).
 * Declared here so that mr_writer_owned(), which MR_ASSERT_WRITER calls on
 * every writer path, is one thread-local load. */
extern MR_THREAD unsigned mr_writer_depth;

/* Does the calling thread hold the writer lock? */
static inline bool mr_writer_owned(void)
{
    return mr_writer_depth > 0;
}

/* ---- read_section.c: the caller's read-side section -------------------------- */

/* The calling thread's read section (memregion_read_section_begin).
 * Thread-local like mr_ts (globals.c; listed in globals.h), but declared
 * here: the writer lock suspends it inline on every map change. */
struct MrSection {
    unsigned depth;        /* holds by the caller */
    uint16_t suspended;    /* suspensions by the library (mr_section_suspend) */
    bool open;             /* a liburcu section is open for it: only with depth && !suspended */
    uint8_t callrec_depth; /* callrec.c: the call-record depth whose entry suspended it */
    bool reopen;           /* depth && !suspended && !open: the next access may open it */
};
extern MR_THREAD struct MrSection mr_section;

/* Open or end the section to match its holds (begin and end). */
void mr_section_sync(void);

/* Where the library suspends the section (mr_section_suspend's @site). */
enum MrSuspendSite {
    MR_SUSPEND_WRITER = 1 << 0,                /* the writer lock (base.c) */
    MR_SUSPEND_DESTROY = 1 << 1,               /* region and address-space destroy */
    MR_SUSPEND_CALLBACK = 1 << 2,              /* a device callback entered by callrec.c */
    MR_SUSPEND_CALLBACK_STRAIGHT = 1 << 3,     /* one from a TLB hit (dispatch.c) */
    MR_SUSPEND_MAP_CLIENTS = 1 << 4,           /* DMA map clients (dma_map.c) */
    MR_SUSPEND_NO_REOPEN_IN_CALLBACK = 1 << 5, /* a callback's hit reopens none (read_section.c) */
};

#ifdef MR_PLANT_SECTION_KEPT
/* The planted fault's sites (read_section.c: MEMREGION_PLANT_KEPT). */
unsigned mr_plant_section_kept(void);
#endif

/*
 * End the calling thread's section until the matching mr_section_resume(),
 * if it holds one: around anything during which the thread may wait for
 * another thread (@site says which). Nests. Inline, with liburcu's own
 * inline unlock, because a device call from inside a section pays for it
 * (through mr_section_sync, suspension and resumption cost 90 instructions).
 * A planted fault (MR_PLANT_SECTION_KEPT, tests/unit/meson.build) compiles
 * the library with the section kept open at the sites it names.
 */
static inline void mr_section_suspend(enum MrSuspendSite site)
{
    (void)site;
    if (mr_section.suspended++ == 0) {
        mr_section.reopen = false;
        if (mr_section.open) {
#ifdef MR_PLANT_SECTION_KEPT
            if (site & mr_plant_section_kept())
                return;
#endif
            rcu_read_unlock();
            mr_section.open = false;
        }
    }
}

/* The last resume leaves the section closed but to be reopened
 * (mr_section.reopen): the access that next ends a section of its own as
 * the outermost, with no callback running, keeps that one open as the
 * caller's instead (mr_section_end_own_or_reopen in read_section.c). So a device
 * call from inside a section costs no more than outside one, and a run of
 * them pays no lock after each call. */
static inline void mr_section_resume(void)
{
    MR_ASSERT(mr_section.suspended > 0);
    if (--mr_section.suspended == 0 && mr_section.depth && !mr_section.open)
        mr_section.reopen = true;
}

/* ---- reclaim.c: deferred frees ------------------------------------------------ */

/* Free @head with @fn once no reader can still see it (batched on the writer
 * side, where @bytes, the memory @fn releases, counts against the batch's
 * budget). */
void mr_defer_free(struct rcu_head *head, void (*fn)(struct rcu_head *), size_t bytes);
/* Writer side: free the batch now if it is full. */
void mr_reclaim_maybe(void);
/* Writer side: wait for readers and free everything batched. */
void mr_reclaim_now(void);

#endif /* MEMREGION_BASE_H */
