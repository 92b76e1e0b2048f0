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
 * counter counts it once) exactly when the thread holds at least one
 * (mr_section.depth) and nothing suspended it (mr_section.suspended).
 * Only mr_section_sync() opens or ends it; base.h's inline suspend and
 * resume call it only when a count crosses zero with a section to change.
 *
 * Why suspension: a writer waits for a grace period while it holds the
 * writer lock (reclaim.c), and destroy waits for one and for other
 * threads' callbacks. A thread that waited for any of those, or for user
 * code that might, inside its own section would wait for a writer that
 * waits for it. So the library ends the section wherever the thread can
 * wait: while it holds the writer lock (mr_writer_lock), inside region and
 * address-space destroy, around device callbacks (callrec.c, and
 * dispatch.c's nested_call) and around map clients (dma_map.c's
 * run_clients); and opens it again after. The section promises
 * the caller nothing but speed, so ending it for a while is invisible.
 */
#include <errno.h>

#include "access_path.h"
#include "globals.h"

/* MR_PLANT_SECTION_KEPT is a planted fault (tests/unit/meson.build): the
 * section stays open while suspended, where the thread may wait, and
 * unit-read-section must hang (and fail) on it. */
void mr_section_sync(void)
{
#ifdef MR_PLANT_SECTION_KEPT
    bool want = mr_section.depth;
#else
    bool want = mr_section.depth && !mr_section.suspended;
#endif
    if (want == mr_section.open)
        return;
    if (want)
        rcu_read_lock();
    else
        rcu_read_unlock();
    mr_section.open = want;
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
