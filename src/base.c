/*
 * The services of base.h that are not inline: errors, out of memory,
 * internal invariants, and the writer lock.
 *
 * Every failing API call records a human-readable message in a thread-local
 * buffer and returns a negative errno value (mr_error). Out-of-memory and
 * broken invariants follow the policy stated in base.h.
 *
 * The writer lock is one mutex that every writer holds, from transaction
 * begin to commit; each thread counts its own holds, so nested holds and
 * mr_writer_owned() (MR_ASSERT_WRITER) never ask the mutex.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base.h"
#include "globals.h"

/*
 * Each thread's last error message, in a buffer of its own on the heap,
 * found through a thread-specific key: only errors and
 * memregion_last_error() reach it, and kept out of thread-local storage it
 * leaves the library's static TLS block small. That block comes out of what
 * glibc keeps for all libraries loaded with dlopen() (512 bytes).
 */
enum { ERROR_MESSAGE_MAX = 256 };
static pthread_key_t error_key;
static pthread_once_t error_key_once = PTHREAD_ONCE_INIT;
static bool error_key_ok;

static void error_key_init(void)
{
    error_key_ok = pthread_key_create(&error_key, free) == 0;
}

/* The calling thread's message buffer, made on its first error; NULL when
 * there is no memory for one (the message is then lost, not the error). */
static char *error_buffer(bool make)
{
    pthread_once(&error_key_once, error_key_init);
    if (!error_key_ok)
        return NULL;
    char *b = pthread_getspecific(error_key);
    if (!b && make && (b = malloc(ERROR_MESSAGE_MAX)) && pthread_setspecific(error_key, b)) {
        free(b);
        b = NULL;
    }
    return b;
}

int mr_error(int err, const char *fmt, ...)
{
    char *b = error_buffer(true);
    if (b) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b, ERROR_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
    return -err;
}

const char *memregion_last_error(void)
{
    const char *b = error_buffer(false);
    return b ? b : "";
}

void mr_oom(const char *where)
{
    fprintf(stderr, "memregion: out of memory in %s, where no error can be returned; aborting\n",
            where);
    abort();
}

void *mr_alloc_lines(size_t size, const char *where)
{
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    void *p =
        aligned_alloc(MR_CACHE_LINE, (size + MR_CACHE_LINE - 1) & ~(size_t)(MR_CACHE_LINE - 1));
    if (!p)
        mr_oom(where);
    return p;
}

void mr_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "memregion: internal invariant broken: %s (%s:%d, %s)\n", expr, file, line,
            func);
    abort();
}

/* ---- the writer lock ------------------------------------------------------------ */

/* Only a thread's outermost hold takes and releases the mutex: the nested
 * ones (a mutator inside a transaction, a commit dropping a version) are
 * the thread's own count, and cost no atomic operation. A thread that holds
 * the writer lock, or waits for it, has its own read section suspended
 * (read_section.c): a writer waits for grace periods. */
void mr_writer_lock(void)
{
    if (mr_writer_depth == 0) {
        mr_section_suspend(MR_SUSPEND_WRITER);
        pthread_mutex_lock(&mr_writer_mutex);
    }
    mr_writer_depth++;
}

void mr_writer_unlock(void)
{
    MR_ASSERT(mr_writer_depth > 0);
    if (--mr_writer_depth == 0) {
        pthread_mutex_unlock(&mr_writer_mutex);
        mr_section_resume();
    }
}

bool mr_writer_trylock(void)
{
    if (mr_writer_depth == 0) {
        if (pthread_mutex_trylock(&mr_writer_mutex) != 0)
            return false;
        mr_section_suspend(MR_SUSPEND_WRITER);
    }
    mr_writer_depth++;
    return true;
}
