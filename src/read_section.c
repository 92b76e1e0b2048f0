/*
 * Read-side sections the caller holds across many accesses
 * (memregion_read_section_begin/end in access.h).
 *
 * A thread that holds one keeps a liburcu-bp read-side section open for
 * as long as it holds it, so that a TLB hit of RAM and a translate need
 * enter none of their own: dispatch.c sees the section in liburcu's
 * nesting count (mr_rcu_lock_unless_nested) and skips its lock and unlock.
 * mr_section.open tells the call record (callrec.c) whether the open
 * section is this file's, the one it may suspend.
 *
 * Invariant: the section is open (mr_section.open, and liburcu's
 * counter counts it once) only when the thread holds at least one
 * (mr_section.depth) and nothing suspended it (mr_section.suspended).
 * When it holds one, nothing suspends it and it is not open,
 * mr_section.reopen is set. mr_section_sync() opens or ends it for the
 * holds; base.h's inline suspend ends it when suspensions begin, and the
 * last resume only sets reopen: the next RAM or translate hit that ends a
 * section of its own as the outermost, with no callback running, keeps
 * that one open as the caller's (mr_section_end_own_or_reopen). So a
 * device call from inside a section costs what one outside costs, and the
 * hits after it are served inside the section again.
 *
 * Why suspension: a writer waits for a grace period while it holds the
 * writer lock (reclaim.c), and destroy waits for one and for other
 * threads' callbacks. A thread that waited for any of those, or for user
 * code that might, inside its own section would wait for a writer that
 * waits for it. So the library ends the section wherever the thread can
 * wait: while it holds the writer lock (mr_writer_lock), inside region and
 * address-space destroy, around device callbacks (callrec.c, and
 * dispatch.c's nested_call) and around map clients (dma_map.c's
 * run_clients). A callback's own hits do not reopen it. The section
 * promises the caller nothing but speed, so ending it for a while is
 * invisible.
 */
#include <errno.h>

#include "access_path.h"
#include "globals.h"

#ifdef MR_PLANT_SECTION_KEPT
#include <stdlib.h>
#include <string.h>

/* A planted fault (tests/unit/meson.build): the sites named in
 * MEMREGION_PLANT_KEPT (writer, destroy, callback, callback_straight,
 * map_clients, reopen_in_callback; comma-separated; unset: all) keep or
 * open the section where the thread may wait, and unit-read-section must
 * hang (and fail) on it. */
unsigned mr_plant_section_kept(void)
{
    static const struct {
        const char *name;
        unsigned site;
    } sites[] = {
        {"writer", MR_SUSPEND_WRITER},
        {"destroy", MR_SUSPEND_DESTROY},
        {"callback", MR_SUSPEND_CALLBACK},
        {"callback_straight", MR_SUSPEND_CALLBACK_STRAIGHT},
        {"map_clients", MR_SUSPEND_MAP_CLIENTS},
        {"reopen_in_callback", MR_SUSPEND_NO_REOPEN_IN_CALLBACK},
    };
    const char *e = getenv("MEMREGION_PLANT_KEPT");
    if (!e || !*e)
        return ~0u;
    unsigned mask = 0;
    for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]); i++) {
        size_t n = strlen(sites[i].name);
        for (const char *p = e; (p = strstr(p, sites[i].name)); p += n)
            if ((p == e || p[-1] == ',') && (p[n] == ',' || !p[n]))
                mask |= sites[i].site;
    }
    return mask;
}
#endif

void mr_section_sync(void)
{
    bool want = mr_section.depth && !mr_section.suspended;
    mr_section.reopen = false;
    if (want == mr_section.open)
        return;
    if (want)
        rcu_read_lock();
    else
        rcu_read_unlock();
    mr_section.open = want;
}

MemTxResult mr_section_end_own_or_reopen(void)
{
    const CallRecord *r = mr_ts.callrec;
    bool in_callback = r && r->depth;
#ifdef MR_PLANT_SECTION_KEPT
    if (mr_plant_section_kept() & MR_SUSPEND_NO_REOPEN_IN_CALLBACK)
        in_callback = false;
#endif
    if (in_callback) { /* it stays outside the section */
        rcu_read_unlock();
        return MEMTX_OK;
    }
    MR_ASSERT(mr_section.reopen && mr_section.depth && !mr_section.suspended && !mr_section.open);
    mr_section.reopen = false;
    mr_section.open = true;
    return MEMTX_OK;
}

void memregion_read_section_begin(void)
{
    mr_section.depth++;
    mr_section_sync();
}

int memregion_read_section_end(void)
{
    if (!mr_section.depth)
        return mr_error(EPERM, "memregion_read_section_end: the calling thread holds no read "
                               "section (memregion_read_section_begin was not called)");
    mr_section.depth--;
    mr_section_sync();
    return 0;
}

unsigned memregion_read_section_depth(void)
{
    return mr_section.depth;
}
