/*
 * The writer lock, transactions, change tracking and commits.
 *
 * Change tracking: a mutator reports damage, a window of a region's own
 * coordinates whose rendering may have changed (mr_damage). The damage
 * travels up through containers and aliases to every region that is the
 * root of a view (it has a ViewSlot), where it is recorded in absolute
 * addresses; every region on the way is stamped as changed.
 *
 * Commit: each address space whose root was stamped re-derives its view
 * root (QEMU's sharing rule, flatview_root_of). Each view root with damage
 * gets a new version that re-renders only the damaged windows and shares
 * everything else with the old version (flatview_splice). Address spaces
 * whose view root is the same share the same version. Listeners hear the
 * difference over the re-rendered spans only. So a commit costs what
 * changed: not the number of regions, and not the number of address spaces
 * that did not change.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A view root: the current version rendered from it, and pending damage. */
typedef struct ViewSlot {
    MemoryRegion *root;
    ViewChain *chain;   /* every version rendered from root */
    FlatView *view;     /* current version; holds one reference */
    FlatView *previous; /* during a commit: the version it replaced */
    struct Window {
        mr_size_t lo, hi;
    } * win;
    size_t nr_win, cap_win;
    bool full;         /* re-render all of it */
    bool queued;       /* in the damaged list */
    uint32_t used_gen; /* last commit in which an address space used it */
} ViewSlot;

#define MAX_WINDOWS 64 /* more damage windows than this: render the whole view */

static pthread_mutex_t writer_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static unsigned tx_depth;        /* open transactions (writer lock held) */
static bool update_pending;      /* some view or address space may have changed */
static bool committing;          /* inside do_commit: nested commits are deferred */
static uint32_t current_gen = 1; /* generation of the last commit */
static uint64_t stat_renders;
static bool check_incremental; /* MEMREGION_CHECK_INCREMENTAL: compare with full renders */

static ViewSlot **slots, **damaged;
static size_t nr_slots, cap_slots, nr_damaged, cap_damaged;

void mr_writer_lock(void)
{
    pthread_mutex_lock(&writer_lock);
}

void mr_writer_unlock(void)
{
    pthread_mutex_unlock(&writer_lock);
}

bool mr_writer_trylock(void)
{
    return pthread_mutex_trylock(&writer_lock) == 0;
}

bool mr_in_transaction(void)
{
    return tx_depth > 0; /* only asked by the lock owner */
}

uint64_t memregion_stat_renders(void)
{
    mr_writer_lock();
    uint64_t n = stat_renders;
    mr_writer_unlock();
    return n;
}

static void push_slot(ViewSlot ***arr, size_t *nr, size_t *cap, ViewSlot *s)
{
    if (*nr == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *arr = realloc(*arr, *cap * sizeof(**arr));
        if (!*arr)
            abort();
    }
    (*arr)[(*nr)++] = s;
}

static void queue_slot(ViewSlot *s)
{
    if (!s->queued) {
        s->queued = true;
        push_slot(&damaged, &nr_damaged, &cap_damaged, s);
    }
}

/* ---- damage -------------------------------------------------------------------- */

static void slot_add_window(ViewSlot *s, mr_size_t lo, mr_size_t hi)
{
    queue_slot(s);
    if (s->full)
        return;
    if (s->nr_win == MAX_WINDOWS) {
        s->full = true;
        return;
    }
    if (s->nr_win == s->cap_win) {
        s->cap_win = s->cap_win ? 2 * s->cap_win : 4;
        s->win = realloc(s->win, s->cap_win * sizeof(*s->win));
        if (!s->win)
            abort();
    }
    s->win[s->nr_win].lo = lo;
    s->win[s->nr_win].hi = hi;
    s->nr_win++;
}

void mr_damage(MemoryRegion *mr, mr_size_t lo, mr_size_t hi)
{
    if (hi > MR_SIZE_2_64)
        hi = MR_SIZE_2_64;
    if (lo >= hi)
        return;
    update_pending = true;
    mr->changed_gen = current_gen + 1;
    if (mr->view_slot)
        slot_add_window(mr->view_slot, MR_MIN(lo + mr->addr, MR_SIZE_2_64),
                        MR_MIN(hi + mr->addr, MR_SIZE_2_64));
    for (MemoryRegion *a = mr->alias_users; a; a = a->alias_user_next) {
        /* Alias a shows [alias_offset, alias_offset + size) of mr at 0. */
        mr_size_t alo = MR_MAX(lo, (mr_size_t)a->alias_offset);
        mr_size_t ahi = MR_MIN(hi, (mr_size_t)a->alias_offset + a->size);
        if (alo < ahi)
            mr_damage(a, alo - a->alias_offset, ahi - a->alias_offset);
    }
    if (mr->container)
        mr_damage(mr->container, lo + mr->addr, MR_MIN(hi + mr->addr, mr->container->size));
}

void mr_note_removal(MemoryRegion *mr)
{
    mr->removed_gen = current_gen + 1;
}

bool mr_removal_pending(const MemoryRegion *mr)
{
    return mr->removed_gen > current_gen;
}

void mr_damage_root(MemoryRegion *mr)
{
    update_pending = true;
    mr->changed_gen = current_gen + 1;
    if (mr->view_slot) {
        mr->view_slot->full = true;
        queue_slot(mr->view_slot);
    }
}

void mr_damage_all_views(void)
{
    update_pending = true;
    for (size_t i = 0; i < nr_slots; i++) {
        slots[i]->full = true;
        queue_slot(slots[i]);
    }
}

/* ---- building versions ---------------------------------------------------------------- */

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
static FlatView *render_incremental(ViewSlot *s)
{
    const FlatView *old = s->view;
    qsort(s->win, s->nr_win, sizeof(*s->win), by_lo);
    ViewEdit *edits = calloc(s->nr_win, sizeof(*edits));
    if (!edits)
        abort();
    size_t n = 0, spanned = 0;
    for (size_t w = 0; w < s->nr_win; w++) {
        mr_size_t lo = s->win[w].lo, hi = s->win[w].hi;
        size_t i1, i0 = flatview_window_span(old, lo, hi, &i1);
        ViewEdit *last = n ? &edits[n - 1] : NULL;
        if (last && (lo <= last->hi || i0 <= last->i1 + 1)) {
            /* Overlapping windows, or spans whose merges could meet: one edit. */
            last->hi = MR_MAX(last->hi, hi);
            flatview_window_span(old, last->lo, last->hi, &last->i1);
            continue;
        }
        edits[n].lo = lo;
        edits[n].hi = hi;
        edits[n].i0 = i0;
        edits[n].i1 = i1;
        n++;
    }
    for (size_t e = 0; e < n; e++)
        spanned += edits[e].i1 - edits[e].i0;
    FlatView *fv;
    if (spanned > old->nr / 2 + FV_CHUNK) {
        fv = render_full(s->chain, old, s->root); /* most of it changed anyway */
    } else {
        for (size_t e = 0; e < n; e++)
            render_window(s->root, edits[e].lo, edits[e].hi, &edits[e].ranges);
        fv = flatview_splice(s->chain, old, edits, n);
    }
    for (size_t e = 0; e < n; e++)
        free(edits[e].ranges.r);
    free(edits);
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
    if (s->full || !old) {
        fv = render_full(s->chain, old, s->root);
    } else {
        fv = render_incremental(s);
        if (check_incremental)
            check_against_full(s, fv);
    }
    s->nr_win = 0;
    s->full = false;
    if (old && flatview_same(old, fv)) {
        /* Nothing visible changed (a hidden region moved, say): keep the old
         * version, so its address spaces and listeners hear nothing. */
        flatview_discard(fv);
        return;
    }
    stat_renders++;
    s->previous = old;
    s->view = fv;
}

static ViewSlot *slot_for(MemoryRegion *root)
{
    if (root->view_slot)
        return root->view_slot;
    ViewSlot *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->root = root;
    s->chain = view_chain_new();
    s->full = true;
    root->view_slot = s;
    push_slot(&slots, &nr_slots, &cap_slots, s);
    queue_slot(s);
    return s;
}

/* ---- commit --------------------------------------------------------------------------------- */

static void do_commit(void)
{
    current_gen++;

    /* 1. View roots of the address spaces whose trees changed. */
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        if (!as->fvroot_known || as->root->changed_gen == current_gen) {
            as->fvroot = flatview_root_of(as->root);
            as->fvroot_known = true;
        }
        if (as->fvroot)
            slot_for(as->fvroot)->used_gen = current_gen;
    }

    /* 2. New versions of the damaged views that are in use. */
    for (size_t i = 0; i < nr_damaged; i++) {
        ViewSlot *s = damaged[i];
        s->queued = false;
        if (s->used_gen == current_gen)
            build_version(s);
        else
            s->nr_win = 0, s->full = true; /* unused: dropped below */
    }
    nr_damaged = 0;

    /* 3. Publish, then tell the listeners. */
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        FlatView *fv = as->fvroot ? as->fvroot->view_slot->view : flatview_empty();
        FlatView *old = as->current_map;
        if (old == fv)
            continue;
        flatview_ref(fv);
        rcu_assign_pointer(as->current_map, fv);
        listeners_notify(as, old ? old : flatview_empty(), fv);
        flatview_unref(old);
    }

    /* 4. Retire replaced versions and slots nobody uses any more. */
    size_t kept = 0;
    for (size_t i = 0; i < nr_slots; i++) {
        ViewSlot *s = slots[i];
        if (s->previous) {
            flatview_unref(s->previous);
            s->previous = NULL;
        }
        if (s->view)
            flatview_drop_deltas(s->view);
        if (s->used_gen == current_gen) {
            slots[kept++] = s;
            continue;
        }
        s->root->view_slot = NULL;
        flatview_unref(s->view);
        view_chain_detach(s->chain);
        free(s->win);
        free(s);
    }
    nr_slots = kept;
}

void memory_region_transaction_begin(void)
{
    mr_writer_lock();
    tx_depth++;
}

void memory_region_transaction_commit(void)
{
    if (--tx_depth == 0 && !committing) {
        static bool checked_env;
        if (!checked_env) {
            const char *e = getenv("MEMREGION_CHECK_INCREMENTAL");
            check_incremental = e && *e && *e != '0';
            checked_env = true;
        }
        committing = true;
        /* A listener may change the map; that change commits right after. */
        while (update_pending) {
            update_pending = false;
            do_commit();
        }
        committing = false;
    }
    mr_writer_unlock();
}

void mr_request_update(void)
{
    update_pending = true;
}
