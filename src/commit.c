/*
 * Transactions and commits.
 *
 * A view root is a region some address space's view is rendered from (QEMU's
 * sharing rule, tree_view_root); it has a ViewSlot holding the current
 * version of that view. Address spaces point at slots, so spaces that share
 * a root share every version without being touched.
 *
 * Mutations record what they changed through damage.c while a transaction
 * is open. The outermost commit then: (1) has queued address spaces
 * re-derive their view root; (2) gives each damaged slot a new version that
 * re-renders only the damaged windows and shares the rest
 * (flatview_splice); (3) points spaces that changed root at their new slot;
 * (4) lets listeners of changed spaces hear the difference; (5) retires
 * replaced versions and unused slots. A listener may change the map; that
 * change commits right after, in a commit of its own. A commit costs what
 * changed: not the number of regions, not the number of view roots, and
 * not the number of address spaces that did not change.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region_tree.h"
#include "globals.h"
#include "view.h"
#include "commit.h"
#include "listeners.h"

bool commit_in_transaction(void)
{
    return mr_ws.tx_depth > 0; /* only asked by the lock owner */
}

uint64_t memregion_stat_renders(void)
{
    mr_writer_lock();
    uint64_t n = mr_ws.stat_renders;
    mr_writer_unlock();
    return n;
}

/* ---- address spaces: view roots and their derivation paths ----------------------- */

static void path_user_add(MemoryRegion *mr, AddressSpace *as)
{
    RegionExt *ext = region_ext(mr);
    for (size_t i = 0; i < ext->nr_path_users; i++)
        if (ext->path_users[i] == as)
            return; /* a path may visit a region twice */
    MR_GROW_OR_DIE(ext->path_users, ext->cap_path_users, ext->nr_path_users + 1, 4);
    ext->path_users[ext->nr_path_users++] = as;
}

static void path_user_remove(MemoryRegion *mr, AddressSpace *as)
{
    RegionExt *ext = mr->ext;
    for (size_t i = 0; ext && i < ext->nr_path_users; i++)
        if (ext->path_users[i] == as) {
            ext->path_users[i] = ext->path_users[--ext->nr_path_users];
            return;
        }
}

static void path_forget(AddressSpace *as)
{
    for (unsigned i = 0; i < as->path_len; i++)
        path_user_remove(as->path[i], as);
    as->path_len = 0;
}

/*
 * The end of a commit (do_commit, step 5) looks only at the slots on the
 * settle list, so that its cost is what changed rather than the number of
 * view roots: a slot goes there when it was damaged (it may have a replaced
 * version and deltas to drop) or lost a user (it may be unused now).
 */
static void slot_settle_later(ViewSlot *s)
{
    if (!s->settling) {
        s->settling = true;
        ptrvec_push(&mr_ws.settle, s);
    }
}

/*
 * A space with listeners is on the listening list of its slot, or on
 * mr_ws.listening while it has none; so a commit finds the spaces whose
 * view may have changed through the slots it published (and the spaces
 * that switched slots), not by visiting every listening space.
 */
static AddressSpace **listening_list(AddressSpace *as)
{
    return as->slot ? &as->slot->listening : &mr_ws.listening;
}

static void listening_insert(AddressSpace *as)
{
    AddressSpace **list = listening_list(as);
    as->listening_next = *list;
    *list = as;
}

static void listening_remove(AddressSpace *as)
{
    AddressSpace **pp = listening_list(as);
    while (*pp != as)
        pp = &(*pp)->listening_next;
    *pp = as->listening_next;
    as->listening_next = NULL;
}

/* Point @as at slot @s (RCU-published), keeping it on the right listening list. */
static void as_set_slot(AddressSpace *as, ViewSlot *s)
{
    if (as->listeners)
        listening_remove(as);
    rcu_assign_pointer(as->slot, s);
    if (as->listeners)
        listening_insert(as);
}

/* The listeners of @as hear what it shows now against what they heard. */
static void hear(AddressSpace *as)
{
    mr_ws.spaces_heard++;
    FlatView *now = as_view(as);
    if (!as->listeners || now == as->heard)
        return;
    flatview_ref(now);
    listener_notify(as, as->heard, now);
    flatview_unref(as->heard);
    as->heard = now;
}

/* A user of @s is gone. */
static void slot_user_gone(ViewSlot *s)
{
    s->users--;
    slot_settle_later(s);
}

static ViewSlot *slot_for(MemoryRegion *root)
{
    if (root->view_slot)
        return root->view_slot;
    /* Aligned: the zone generations readers poll start a cache line of their own. */
    ViewSlot *s = mr_alloc_lines(sizeof(*s), __func__);
    memset(s, 0, sizeof(*s));
    for (unsigned z = 0; z < FV_TLB_ZONES; z++) /* no generation, no span */
        s->zone[z] = (struct Zone){.gen = FV_TLB_GEN_EMPTY, .since = FV_TLB_GEN_EMPTY, .lo = 1};
    s->root = root;
    s->chain = view_chain_new();
    s->full = true;
    root->view_slot = s;
    s->index = mr_ws.slots.n;
    ptrvec_push(&mr_ws.slots, s);
    damage_queue_slot(s);
    damage_topology(); /* damage can now reach this slot */
    return s;
}

/*
 * Re-derive @as's view root; switch slots when it changed. The whole path
 * is remembered, however long, so a change anywhere on it (and only there)
 * brings the space back here.
 */
static void derive_root(AddressSpace *as)
{
    unsigned len;
    path_forget(as);
    MemoryRegion *root = tree_view_root(as->root, as->path, as->path_cap, &len);
    if (len > as->path_cap) {
        /* Longer than any path before: grow and walk again. */
        size_t cap = as->path_cap;
        MR_GROW_OR_DIE(as->path, cap, len, 8);
        as->path_cap = (unsigned)cap;
        root = tree_view_root(as->root, as->path, as->path_cap, &len);
    }
    for (unsigned i = 0; i < len; i++)
        path_user_add(as->path[i], as);
    as->path_len = len;
    ViewSlot *old = as->slot, *new = root ? slot_for(root) : NULL;
    if (old == new)
        return;
    if (new)
        new->users++;
    if (old)
        slot_user_gone(old);
    /* Published after the slot's first version is built (do_commit). */
    as->pending_slot = new;
    as->switching = true;
}

static FlatView *render_full(ViewChain *chain, const FlatView *prev, MemoryRegion *root)
{
    RangeVec v = {0};
    render_window(root, 0, MR_SIZE_2_64, &v);
    FlatView *fv = flatview_build(chain, prev, root, &v);
    free(v.r);
    return fv;
}

static int by_lo(const void *a, const void *b)
{
    const struct Window *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The next version of @s's view: only the damaged windows re-rendered. */
static FlatView *render_incremental(ViewSlot *s, bool *full)
{
    const FlatView *old = s->view;
    if (s->nr_win > 1)
        qsort(s->win, s->nr_win, sizeof(*s->win), by_lo);
    /* Edits and their range buffers are kept between commits (writer lock). */
    static ViewEdit *edits;
    static size_t cap_edits;
    size_t had_edits = cap_edits;
    MR_GROW_OR_DIE(edits, cap_edits, s->nr_win, 8);
    if (cap_edits > had_edits)
        memset(edits + had_edits, 0, (cap_edits - had_edits) * sizeof(*edits));
    for (size_t e = 0; e < s->nr_win; e++)
        edits[e].ranges.nr = 0;
    size_t n = 0, spanned = 0;
    for (size_t w = 0; w < s->nr_win; w++) {
        mr_size_t lo = s->win[w].lo, hi = s->win[w].hi;
        const FlatRange *before;
        size_t i1, i0 = flatview_window_span(old, lo, hi, &i1, &before);
        ViewEdit *last = n ? &edits[n - 1] : NULL;
        if (last && (lo <= last->hi || i0 <= last->i1 + 1)) {
            /* Overlapping windows, or spans whose merges could meet: one edit. */
            last->hi = MR_MAX(last->hi, hi);
            flatview_window_span(old, last->lo, last->hi, &last->i1, &before); /* i0 stays */
            continue;
        }
        edits[n].lo = lo;
        edits[n].hi = hi;
        edits[n].i0 = i0;
        edits[n].i1 = i1;
        edits[n].before = before;
        n++;
    }
    for (size_t e = 0; e < n; e++)
        spanned += edits[e].i1 - edits[e].i0;
    FlatView *fv;
    if (spanned > old->nr / 2 + FV_CHUNK) {
        fv = render_full(s->chain, old, s->root); /* most of it changed anyway */
        *full = true;
    } else {
        for (size_t e = 0; e < n; e++)
            render_window(s->root, edits[e].lo, edits[e].hi, &edits[e].ranges);
        /* Edits may span the gaps between windows; only the windows changed
         * (slot_publish() damages their zones alone). */
        fv = flatview_splice(s->chain, old, edits, n);
    }
    return fv;
}

/* Debug mode: the incremental version must equal a full render. */
static void check_against_full(const ViewSlot *s, const FlatView *fv)
{
    FlatView *ref = render_full(NULL, NULL, s->root);
    bool same = ref->nr == fv->nr;
    for (size_t i = 0; same && i < fv->nr; i++)
        same = fr_identical(flatview_range(ref, i), flatview_range(fv, i));
    if (!same) {
        /* An internal invariant is broken: say where, then stop. */
        fprintf(stderr, "memregion: incremental view of '%s' differs from a full render\n",
                s->root->name);
        for (int k = 0; k < 2; k++) {
            const FlatView *v = k ? fv : ref;
            fprintf(stderr, "  %s:\n", k ? "incremental" : "full");
            for (size_t i = 0; i < v->nr; i++) {
                const FlatRange *r = flatview_range(v, i);
                fprintf(stderr, "    %016llx +%llx %s @%llx%s\n", (unsigned long long)r->addr,
                        (unsigned long long)r->size, r->mr->name,
                        (unsigned long long)r->offset_in_region, r->readonly ? " ro" : "");
            }
        }
        abort();
    }
    flatview_unref(ref);
}

static void build_version(ViewSlot *s)
{
    FlatView *old = s->view, *fv;
    bool full = s->full || !old;
    if (full) {
        fv = render_full(s->chain, old, s->root);
    } else {
        fv = render_incremental(s, &full);
        if (mr_ws.check_incremental)
            check_against_full(s, fv);
    }
    if (old && flatview_same(old, fv)) {
        /* Nothing visible changed (a hidden region moved, say): keep the old
         * version, so its address spaces and listeners hear nothing. */
        flatview_discard(fv);
    } else {
        mr_ws.stat_renders++;
        s->previous = old;
        s->published = true;
        slot_publish(s, fv, full);
    }
    s->nr_win = 0;
    s->full = false;
}

/* Zone @z's pages [@p0, @p1] changed in the version of seq @seq, just
 * published: widen or restart its span, then give it its generation (the
 * order readers rely on: see ViewSlot). */
static void zone_damage(ViewSlot *s, unsigned z, uint64_t p0, uint64_t p1, uint64_t seq)
{
    struct Zone *sp = &s->zone[z];
    uint64_t lo = sp->lo > sp->hi ? p0 : MR_MIN(sp->lo, p0);
    uint64_t hi = sp->lo > sp->hi ? p1 : MR_MAX(sp->hi, p1);
    if (hi - lo >= FV_SPAN_MAX_PAGES) {
        /* Start again: only this commit, after the generation it replaces. */
        __atomic_store_n(&sp->since, sp->gen, __ATOMIC_RELEASE);
        lo = p0;
        hi = p1;
    }
    __atomic_store_n(&sp->lo, lo, __ATOMIC_RELEASE);
    __atomic_store_n(&sp->hi, hi, __ATOMIC_RELEASE);
    __atomic_store_n(&sp->gen, seq, __ATOMIC_RELEASE);
}

void slot_publish(ViewSlot *s, FlatView *fv, bool full)
{
    rcu_assign_pointer(s->view, fv);
    /* Only the damaged zones' records are written: the others stay in
     * readers' caches. Release: a reader that sees a generation sees the
     * version that wrote it, and the span written before it (see ViewSlot). */
    if (full) {
        for (unsigned z = 0; z < FV_TLB_ZONES; z++) {
            struct Zone *sp = &s->zone[z];
            __atomic_store_n(&sp->since, fv->seq, __ATOMIC_RELEASE); /* no older entry */
            __atomic_store_n(&sp->lo, 1, __ATOMIC_RELEASE);
            __atomic_store_n(&sp->hi, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&sp->gen, fv->seq, __ATOMIC_RELEASE);
        }
        return;
    }
    for (size_t w = 0; w < s->nr_win; w++) {
        uint64_t p0, p1;
        if (!fv_damaged_pages(s->win[w].lo, s->win[w].hi, &p0, &p1))
            continue;
        uint64_t last = (uint64_t)((s->win[w].hi - 1) >> FV_PAGE_BITS); /* past p1 when capped */
        for (uint64_t p = p0; p <= p1; p++)
            zone_damage(s, fv_zone(p), p0, last, fv->seq);
    }
}

static void slot_free_rcu(struct rcu_head *head)
{
    ViewSlot *s = caa_container_of(head, ViewSlot, rcu);
    free(s->win);
    free(s);
}

static void do_commit(void)
{
    MR_ASSERT_WRITER();
    MR_ASSERT(mr_ws.committing && mr_ws.tx_depth == 0);
    mr_ws.current_gen++;

    /* 1. Address spaces whose view-root derivation may have changed. */
    PtrVec switching = {0};
    for (size_t i = 0; i < mr_ws.rechecks.n; i++) {
        AddressSpace *as = mr_ws.rechecks.v[i];
        as->recheck = false;
        derive_root(as);
        if (as->switching)
            ptrvec_push(&switching, as);
    }
    mr_ws.rechecks.n = 0;

    /* 2. New versions of the damaged views that are in use. */
    for (size_t i = 0; i < mr_ws.damaged.n; i++) {
        ViewSlot *s = mr_ws.damaged.v[i];
        s->queued = false;
        slot_settle_later(s);
        if (s->users)
            build_version(s);
        else
            s->nr_win = 0, s->full = true; /* unused: freed below */
    }
    mr_ws.damaged.n = 0;

    /* 3. Spaces that changed root now point at their new slot. */
    for (size_t i = 0; i < switching.n; i++) {
        AddressSpace *as = switching.v[i];
        as->switching = false;
        as_set_slot(as, as->pending_slot);
        as->pending_slot = NULL;
    }

    /* 4. Listeners hear what their space shows now against what they heard:
     * the spaces of slots that published a version, spaces that switched
     * slots, and spaces without a slot (hear() skips a space that hears
     * nothing new). */
    for (size_t i = 0; i < mr_ws.settle.n; i++) {
        ViewSlot *s = mr_ws.settle.v[i];
        for (AddressSpace *as = s->published ? s->listening : NULL; as; as = as->listening_next)
            hear(as);
    }
    for (size_t i = 0; i < switching.n; i++)
        hear(switching.v[i]);
    free(switching.v);
    for (AddressSpace *as = mr_ws.listening; as; as = as->listening_next)
        hear(as);

    /* 5. Retire replaced versions and slots nobody uses any more: only slots
     * on the settle list can have either. */
    for (size_t i = 0; i < mr_ws.settle.n; i++) {
        ViewSlot *s = mr_ws.settle.v[i];
        s->settling = false;
        s->published = false;
        mr_ws.slots_settled++;
        if (s->previous) {
            flatview_unref(s->previous);
            s->previous = NULL;
        }
        if (s->view)
            flatview_drop_deltas(s->view);
        if (s->users)
            continue;
        MR_ASSERT(!s->listening); /* its spaces, listening or not, are gone */
        ViewSlot *last = mr_ws.slots.v[--mr_ws.slots.n];
        mr_ws.slots.v[s->index] = last;
        last->index = s->index;
        s->root->view_slot = NULL;
        damage_topology(); /* damage no longer reaches it */
        flatview_unref(s->view);
        view_chain_detach(s->chain);
        mr_defer_free(&s->rcu, slot_free_rcu,
                      sizeof(*s) +
                          s->cap_win * sizeof(*s->win)); /* readers may still hold the pointer */
    }
    mr_ws.settle.n = 0;
}

static void remove_ptr(PtrVec *a, void *p)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i] == p) {
            a->v[i] = a->v[--a->n];
            return;
        }
}

void commit_as_detach(AddressSpace *as)
{
    MR_ASSERT_WRITER();
    mr_ws.update_pending = true;
    remove_ptr(&mr_ws.rechecks, as);
    as->recheck = false;
    path_forget(as);
    free(as->path);
    as->path = NULL;
    as->path_cap = 0;
    if (as->slot)
        slot_user_gone(as->slot);
    if (as->switching && as->pending_slot)
        slot_user_gone(as->pending_slot); /* it never got there */
    as->switching = false;
    as_set_slot(as, NULL);
}

void commit_as_listening(AddressSpace *as, bool on)
{
    MR_ASSERT_WRITER();
    if (on) {
        as->heard = as_view(as);
        flatview_ref(as->heard);
        listening_insert(as);
        return;
    }
    listening_remove(as);
    flatview_unref(as->heard);
    as->heard = NULL;
}

void memory_region_transaction_begin(void)
{
    mr_writer_lock();
    mr_ws.tx_depth++;
}

int memory_region_transaction_commit(void)
{
    /* Only the thread holding an open transaction may close it; tx_depth
     * counts that thread's transactions and is read under the lock. */
    if (!mr_writer_owned() || mr_ws.tx_depth == 0)
        return mr_error(EINVAL, "memory_region_transaction_commit: no transaction open on this "
                                "thread (commit without begin); nothing changed");
    if (--mr_ws.tx_depth == 0 && !mr_ws.committing) {
        if (!mr_ws.checked_env) {
            const char *e = getenv("MEMREGION_CHECK_INCREMENTAL");
            mr_ws.check_incremental = e && *e && *e != '0';
            mr_ws.checked_env = true;
        }
        mr_ws.committing = true;
        /* A listener may change the map; that change commits right after. */
        while (mr_ws.update_pending) {
            mr_ws.update_pending = false;
            do_commit();
        }
        mr_ws.committing = false;
        mr_reclaim_maybe();
    }
    mr_writer_unlock();
    return 0;
}
