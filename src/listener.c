/*
 * Listeners: each commit hands every listener of a changed address space
 * the minimal difference between its old and new views, and attachments
 * (coalescing ranges, ioeventfds) travel with the ranges that show them.
 *
 * Invariant: a listener's picture of its address space (ranges, coalesced
 * zones, eventfds) always equals what the published view and the regions'
 * current attachments give; every callback sequence keeps it so.
 */
#include <stdlib.h>

#include "region_tree.h"
#include "view.h"
#include "commit.h"
#include "listeners.h"

/* ---- listener order --------------------------------------------------------- */

typedef struct ListenerSet {
    MemoryListener **v;
    size_t n;
} ListenerSet;

static ListenerSet listeners_of(const AddressSpace *as)
{
    ListenerSet s = {0};
    for (MemoryListener *l = as->listeners; l; l = l->link_next)
        s.n++;
    if (s.n) {
        s.v = malloc(s.n * sizeof(*s.v));
        if (!s.v)
            mr_oom(__func__);
        size_t i = 0;
        for (MemoryListener *l = as->listeners; l; l = l->link_next)
            s.v[i++] = l;
    }
    return s;
}

/* Ascending priority for add-type callbacks, descending for del-type. */
#define FOR_ADD(s, l) for (size_t i_ = 0; i_ < (s).n && ((l) = (s).v[i_], 1); i_++)
#define FOR_DEL(s, l) for (size_t i_ = (s).n; i_-- > 0 && ((l) = (s).v[i_], 1);)

/* ---- attachments ---------------------------------------------------------------- */

/* The part of @fr that coalescing range @c covers, in absolute addresses. */
static bool coalesced_part(const FlatRange *fr, const MrCoalesced *c, FlatRange *part)
{
    mr_size_t fr_lo = fr->offset_in_region, fr_hi = fr_lo + fr->size;
    mr_size_t lo = MR_MAX(fr_lo, (mr_size_t)c->offset);
    mr_size_t hi = MR_MIN(fr_hi, (mr_size_t)c->offset + c->size);
    if (lo >= hi)
        return false;
    *part = *fr;
    part->addr = fr->addr + (hwaddr)(lo - fr_lo);
    part->size = hi - lo;
    part->offset_in_region = (hwaddr)lo;
    return true;
}

/* Where eventfd @e sits when @fr shows it whole. */
static bool eventfd_place(const FlatRange *fr, const MrEventfd *e, FlatRange *at)
{
    mr_size_t fr_lo = fr->offset_in_region, fr_hi = fr_lo + fr->size;
    if (e->addr < fr_lo || e->addr >= fr_hi || (mr_size_t)e->addr + e->size > fr_hi)
        return false;
    *at = *fr;
    at->addr = fr->addr + (hwaddr)(e->addr - fr_lo);
    at->size = e->size;
    at->offset_in_region = e->addr;
    return true;
}

static void emit_coalesced(MemoryListener *l, const FlatRange *fr, const MrCoalesced *c, size_t n,
                           bool add)
{
    void (*cb)(MemoryListener *, const FlatRange *, hwaddr, hwaddr) =
        add ? l->coalesced_io_add : l->coalesced_io_del;
    FlatRange part;
    for (size_t i = 0; cb && i < n; i++)
        if (coalesced_part(fr, &c[i], &part))
            cb(l, &part, part.addr, (hwaddr)part.size);
}

static void emit_eventfds(MemoryListener *l, const FlatRange *fr, const MrEventfd *e, size_t n,
                          bool add)
{
    void (*cb)(MemoryListener *, const FlatRange *, bool, uint64_t, int) =
        add ? l->eventfd_add : l->eventfd_del;
    FlatRange at;
    for (size_t i = 0; cb && i < n; i++)
        if (eventfd_place(fr, &e[i], &at))
            cb(l, &at, e[i].match_data, e[i].data, e[i].fd);
}

/* Does @fr show any of the @n attachments in @items? */
static bool shows_any(AttachKind kind, const FlatRange *fr, const void *items, size_t n)
{
    FlatRange tmp;
    for (size_t i = 0; i < n; i++)
        if (kind == ATTACH_COALESCED ? coalesced_part(fr, &((const MrCoalesced *)items)[i], &tmp)
                                     : eventfd_place(fr, &((const MrEventfd *)items)[i], &tmp))
            return true;
    return false;
}

static void emit_attachments(MemoryListener *l, const FlatRange *fr, bool add)
{
    RegionExt *ext = fr->mr->ext;
    if (!ext)
        return;
    if (add) {
        emit_coalesced(l, fr, ext->coalesced, ext->nr_coalesced, true);
        if (ext->eventfds)
            emit_eventfds(l, fr, ext->eventfds->e, ext->eventfds->nr, true);
    } else {
        if (ext->eventfds)
            emit_eventfds(l, fr, ext->eventfds->e, ext->eventfds->nr, false);
        emit_coalesced(l, fr, ext->coalesced, ext->nr_coalesced, false);
    }
}

/* ---- one range in, one range out ------------------------------------------------ */

static void range_add(const ListenerSet *s, const FlatRange *fr, bool replay_log)
{
    MemoryListener *l;
    FOR_ADD(*s, l)
    {
        if (l->region_add)
            l->region_add(l, fr);
        if (replay_log && fr->dirty_log_mask && l->log_start)
            l->log_start(l, fr, 0, fr->dirty_log_mask);
        emit_attachments(l, fr, true);
    }
}

static void range_del(const ListenerSet *s, const FlatRange *fr, bool replay_log)
{
    MemoryListener *l;
    FOR_DEL(*s, l)
    {
        emit_attachments(l, fr, false);
        if (replay_log && fr->dirty_log_mask && l->log_stop)
            l->log_stop(l, fr, fr->dirty_log_mask, 0);
        if (l->region_del)
            l->region_del(l, fr);
    }
}

/* Same range for listeners: everything but the dirty-log mask is equal. */
static bool range_equal(const FlatRange *a, const FlatRange *b)
{
    return a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
           a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
           a->romd_mode == b->romd_mode && a->nonvolatile == b->nonvolatile;
}

/* A range present in both views: only its dirty-log mask may differ. A
 * mask change is region_nop plus log_start and/or log_stop; an unchanged
 * range is not mentioned at all. */
static void range_keep(const ListenerSet *s, const FlatRange *before, const FlatRange *after)
{
    MemoryListener *l;
    int started = after->dirty_log_mask & ~before->dirty_log_mask;
    int stopped = before->dirty_log_mask & ~after->dirty_log_mask;
    if (!started && !stopped)
        return;
    FOR_ADD(*s, l)
    {
        if (l->region_nop)
            l->region_nop(l, after);
        if (started && l->log_start)
            l->log_start(l, after, before->dirty_log_mask, after->dirty_log_mask);
    }
    if (stopped)
        FOR_DEL(*s, l)
        {
            if (l->log_stop)
                l->log_stop(l, after, before->dirty_log_mask, after->dirty_log_mask);
        }
}

/*
 * Walk old ranges [i, i_end) and new ranges [j, j_end) in address order.
 * Pass 1 (adding false) sends the deletions of ranges that are not in the
 * new view; pass 2 the additions and the log changes of kept ranges.
 */
static void diff_span(const ListenerSet *s, const FlatView *old, size_t i, size_t i_end,
                      const FlatView *new, size_t j, size_t j_end, bool adding)
{
    while (i < i_end || j < j_end) {
        const FlatRange *a = i < i_end ? flatview_range(old, i) : NULL;
        const FlatRange *b = j < j_end ? flatview_range(new, j) : NULL;
        if (a && b && range_equal(a, b)) {
            if (adding)
                range_keep(s, a, b);
            i++, j++;
        } else if (a && (!b || a->addr <= b->addr)) {
            if (!adding)
                range_del(s, a, false);
            i++;
        } else {
            if (adding)
                range_add(s, b, false);
            j++;
        }
    }
}

/* Both passes over what differs: the recorded spans when @new was derived
 * from @old, else everything. */
static void diff_pass(const ListenerSet *s, const FlatView *old, const FlatView *new, bool adding)
{
    if (new->delta_base == old &&new->deltas) {
        for (size_t k = 0; k < new->nr_deltas; k++) {
            const ViewDelta *d = &new->deltas[k];
            diff_span(s, old, d->old_i0, d->old_i1, new, d->new_i0, d->new_i1, adding);
        }
    } else {
        diff_span(s, old, 0, old->nr, new, 0, new->nr, adding);
    }
}

static void bracket(const ListenerSet *s, bool begin)
{
    MemoryListener *l;
    FOR_ADD(*s, l)
    {
        void (*cb)(MemoryListener *) = begin ? l->begin : l->commit;
        if (cb)
            cb(l);
    }
}

void listener_notify(AddressSpace *as, const FlatView *old, const FlatView *new)
{
    MR_ASSERT_WRITER();
    /* Another version with the same ranges (the view root changed): silence. */
    if (!as->listeners || flatview_same(old, new))
        return;
    ListenerSet s = listeners_of(as);
    bracket(&s, true);
    diff_pass(&s, old, new, false);
    diff_pass(&s, old, new, true);
    bracket(&s, false);
    free(s.v);
}

/* ---- registration --------------------------------------------------------------------- */

static const FlatView *view_of(AddressSpace *as)
{
    /* Listeners know what they heard last; a new one learns what shows now. */
    return as->heard ? as->heard : as_view(as);
}

int memory_listener_register(MemoryListener *listener, AddressSpace *as)
{
    if (!listener || !as || !as->root)
        return mr_error(EINVAL, "memory_listener_register: NULL listener or address space");
    memory_region_transaction_begin();
    if (listener->address_space) {
        memory_region_transaction_commit();
        return mr_error(EBUSY, "listener '%s' is already registered",
                        listener->name ? listener->name : "");
    }
    MemoryListener **pp = &as->listeners;
    while (*pp && (*pp)->priority <= listener->priority)
        pp = &(*pp)->link_next;
    if (!as->listeners)
        commit_as_listening(as, true);
    listener->link_next = *pp;
    *pp = listener;
    listener->address_space = as;

    ListenerSet one = {.v = &listener, .n = 1};
    const FlatView *fv = view_of(as);
    bracket(&one, true);
    if (dirty_global_logging() && listener->log_global_start)
        listener->log_global_start(listener);
    for (size_t i = 0; i < fv->nr; i++)
        range_add(&one, flatview_range(fv, i), true);
    bracket(&one, false);
    memory_region_transaction_commit();
    return 0;
}

void memory_listener_unregister(MemoryListener *listener)
{
    if (!listener || !listener->address_space)
        return;
    memory_region_transaction_begin();
    AddressSpace *as = listener->address_space;
    ListenerSet one = {.v = &listener, .n = 1};
    const FlatView *fv = view_of(as);
    bracket(&one, true);
    for (size_t i = 0; i < fv->nr; i++) /* ascending, as QEMU replays the removal */
        range_del(&one, flatview_range(fv, i), true);
    if (dirty_global_logging() && listener->log_global_stop)
        listener->log_global_stop(listener);
    bracket(&one, false);
    MemoryListener **pp = &as->listeners;
    while (*pp != listener)
        pp = &(*pp)->link_next;
    *pp = listener->link_next;
    listener->link_next = NULL;
    listener->address_space = NULL;
    if (!as->listeners)
        commit_as_listening(as, false);
    memory_region_transaction_commit();
}

void listener_remove_all(AddressSpace *as)
{
    while (as->listeners)
        memory_listener_unregister(as->listeners);
}

/* ---- attachments and logging ------------------------------------------------------------ */

void listener_attachment_changed(MemoryRegion *mr, AttachKind kind, const void *removed,
                                 size_t nr_removed, const void *added, size_t nr_added)
{
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        if (!as->listeners)
            continue;
        const FlatView *fv = view_of(as);
        ListenerSet s = {0};
        for (size_t i = 0; i < fv->nr; i++) {
            const FlatRange *fr = flatview_range(fv, i);
            if (fr->mr != mr || (!shows_any(kind, fr, removed, nr_removed) &&
                                 !shows_any(kind, fr, added, nr_added)))
                continue;
            if (!s.v) {
                s = listeners_of(as);
                bracket(&s, true);
            }
            MemoryListener *l;
            FOR_DEL(s, l)
            {
                if (kind == ATTACH_COALESCED)
                    emit_coalesced(l, fr, removed, nr_removed, false);
                else
                    emit_eventfds(l, fr, removed, nr_removed, false);
            }
            FOR_ADD(s, l)
            {
                if (kind == ATTACH_COALESCED)
                    emit_coalesced(l, fr, added, nr_added, true);
                else
                    emit_eventfds(l, fr, added, nr_added, true);
            }
        }
        if (s.v) {
            bracket(&s, false);
            free(s.v);
        }
    }
}

void listener_global_log(bool on)
{
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        ListenerSet s = listeners_of(as);
        MemoryListener *l;
        if (on) {
            FOR_ADD(s, l)
            {
                if (l->log_global_start)
                    l->log_global_start(l);
            }
        } else {
            FOR_DEL(s, l)
            {
                if (l->log_global_stop)
                    l->log_global_stop(l);
            }
        }
        free(s.v);
    }
}

static void log_sync(const MemoryRegion *only)
{
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        const FlatView *fv = view_of(as);
        for (MemoryListener *l = as->listeners; l; l = l->link_next) {
            if (!l->log_sync)
                continue;
            for (size_t i = 0; i < fv->nr; i++) {
                const FlatRange *fr = flatview_range(fv, i);
                if (fr->dirty_log_mask && (!only || fr->mr == only))
                    l->log_sync(l, fr);
            }
        }
    }
}

void listener_log_sync_all(void)
{
    log_sync(NULL);
}

void listener_log_sync_region(MemoryRegion *mr)
{
    memory_region_transaction_begin();
    log_sync(mr);
    memory_region_transaction_commit();
}
