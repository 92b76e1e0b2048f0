/*
 * Alias loops: regions whose rendering leads back into themselves.
 *
 * An alias may show its own container or an ancestor (QEMU's Arm SSE
 * boards do). Rendering such a map stops because every level is clipped to
 * its window: a loop followed with a net displacement d shrinks the window
 * each time round, so it ends after at most size/|d| laps. A loop with no
 * net displacement whose windows still meet never ends. Every change that
 * can add a path to a loop (a new subregion, enabling, moving, resizing, a
 * new alias offset) is tried here first, on the tree as it would be, and
 * refused when rendering would enter a region while it is already rendering
 * that region MEMREGION_ALIAS_LAPS_MAX times (so at most that many laps), or
 * would visit more than MEMREGION_ALIAS_LOOP_WORK_MAX regions of one loop
 * when rendering one of its regions.
 *
 * Why one trial per loop member is enough: what rendering does below a
 * region depends only on the region and on the clip it arrives with, moved
 * by its base; a smaller clip prunes paths and never adds one. So the worst
 * case of a region is rendering it with its whole window. Between its first
 * and last occurrence on a path, a region's rendering stays inside its loop
 * (a strongly connected set of regions, linked by container-to-child and
 * alias-to-target edges), so trials that start at each member with its
 * whole window and stay inside the set see every nesting there is. Changes
 * outside a loop cannot add nesting to it.
 */
#include <stdlib.h>

#include "region_tree.h"
#include "globals.h"

bool loops_contains_itself(const MemoryRegion *parent, const MemoryRegion *sub)
{
    for (const MemoryRegion *r = parent; r; r = r->container)
        if (r == sub)
            return true;
    return false;
}

/*
 * The loop @m belongs to: every region that both reaches @m and is reached
 * from @m. Returns false when @m is on no loop. Members are marked with
 * walk_gen == *member and listed in @out.
 */
static bool loop_members(MemoryRegion *m, PtrVec *out, uint32_t *member)
{
    uint32_t up = ++mr_ws.walk_gen, in = ++mr_ws.walk_gen;
    PtrVec stack = {0};
    bool found = false;
    /* Up: what reaches m (containers, and aliases of what was reached). */
    m->walk_gen = up;
    ptrvec_push(&stack, m);
    while (stack.n) {
        MemoryRegion *r = (MemoryRegion *)stack.v[--stack.n];
        MemoryRegion *next[2] = {r->container, r->alias_users};
        for (int k = 0; k < 2; k++)
            for (MemoryRegion *u = next[k]; u; u = k ? u->alias_user_next : NULL) {
                if (u == m)
                    found = true;
                if (u->walk_gen != up) {
                    u->walk_gen = up;
                    ptrvec_push(&stack, u);
                }
            }
    }
    if (found) {
        /* Down from m, keeping only what reaches m. */
        m->walk_gen = in;
        ptrvec_push(out, m);
        ptrvec_push(&stack, m);
        while (stack.n) {
            MemoryRegion *r = (MemoryRegion *)stack.v[--stack.n];
            MemoryRegion *s = r->kind == MR_KIND_ALIAS ? r->alias : r->subregions;
            for (; s; s = r->kind == MR_KIND_ALIAS ? NULL : s->sibling_next)
                if (s->walk_gen == up) {
                    s->walk_gen = in;
                    ptrvec_push(out, s);
                    ptrvec_push(&stack, s);
                }
        }
    }
    free(stack.v);
    *member = in;
    return found;
}

typedef struct Trial {
    uint32_t member; /* walk_gen of the loop's regions */
    unsigned long work;
    MemoryRegion *culprit; /* where a bound was passed */
    bool by_work;          /* the work bound, not the nesting bound */
} Trial;

/* Render @mr as render_region() does, without output, inside the loop only. */
static void trial(Trial *t, MemoryRegion *mr, mr_int128 base, mr_size_t clip_lo, mr_size_t clip_hi)
{
    if (t->culprit || !mr->enabled || mr->walk_gen != t->member)
        return;
    mr_int128 lo, hi;
    if (!mr_clip_window(mr, &base, clip_lo, clip_hi, &lo, &hi))
        return;
    if (++t->work > MEMREGION_ALIAS_LOOP_WORK_MAX || mr->on_path > MEMREGION_ALIAS_LAPS_MAX) {
        t->culprit = mr;
        t->by_work = t->work > MEMREGION_ALIAS_LOOP_WORK_MAX;
        return;
    }
    mr->on_path++;
    if (mr->kind == MR_KIND_ALIAS) {
        trial(t, mr->alias, mr_alias_base(mr, base), (mr_size_t)lo, (mr_size_t)hi);
    } else {
        for (MemoryRegion *c = mr->subregions; c; c = c->sibling_next)
            trial(t, c, base, (mr_size_t)lo, (mr_size_t)hi);
    }
    mr->on_path--;
}

int loops_check(MemoryRegion *m, bool new_link)
{
    if (m->kind != MR_KIND_ALIAS && !m->subregions)
        return 0; /* a leaf is on no loop */
    if (!new_link && !mr_ws.loops_seen)
        return 0;
    PtrVec members = {0};
    uint32_t member;
    int err = 0;
    if (loop_members(m, &members, &member)) {
        mr_ws.loops_seen = true;
        for (size_t i = 0; i < members.n && !err; i++) {
            MemoryRegion *y = (MemoryRegion *)members.v[i];
            Trial t = {.member = member};
            /* Base 0: y's whole window, wherever it sits in its container. */
            trial(&t, y, 0, 0, MR_SIZE_2_64);
            if (t.culprit && t.by_work)
                err = mr_error(ELOOP,
                               "rendering '%s' would visit more than %u regions of the alias loop "
                               "through '%s' (MEMREGION_ALIAS_LOOP_WORK_MAX)",
                               y->name, (unsigned)MEMREGION_ALIAS_LOOP_WORK_MAX, t.culprit->name);
            else if (t.culprit)
                err = mr_error(ELOOP,
                               "rendering '%s' would nest '%s' in itself more than %u times: an "
                               "alias loop without end, or past MEMREGION_ALIAS_LAPS_MAX",
                               y->name, t.culprit->name, (unsigned)MEMREGION_ALIAS_LAPS_MAX);
        }
    }
    free(members.v);
    return err;
}
