/*
 * Mirror listener for tests: see mirror.h.
 *
 * The mirror deliberately shares no code with the library's diff: it keeps
 * its own sorted array and applies each callback as an edit, and
 * mirror_symdiff() matches ranges by searching, not by a merge walk.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mirror.h"

#define MIRROR_OF(l) ((Mirror *)((char *)(l)-offsetof(Mirror, listener)))

static unsigned long mirror_seq;

static const char *const cb_names[MCB_NR] = {
    [MCB_BEGIN] = "begin",
    [MCB_COMMIT] = "commit",
    [MCB_REGION_ADD] = "region_add",
    [MCB_REGION_DEL] = "region_del",
    [MCB_REGION_NOP] = "region_nop",
    [MCB_LOG_START] = "log_start",
    [MCB_LOG_STOP] = "log_stop",
    [MCB_LOG_SYNC] = "log_sync",
    [MCB_LOG_GLOBAL_START] = "log_global_start",
    [MCB_LOG_GLOBAL_STOP] = "log_global_stop",
    [MCB_COALESCED_ADD] = "coalesced_io_add",
    [MCB_COALESCED_DEL] = "coalesced_io_del",
    [MCB_EVENTFD_ADD] = "eventfd_add",
    [MCB_EVENTFD_DEL] = "eventfd_del",
};

const char *mirror_cb_name(MirrorCb cb)
{
    return cb < MCB_NR ? cb_names[cb] : "?";
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (!q) {
        fprintf(stderr, "mirror: out of memory\n");
        abort();
    }
    *cap = c;
    return q;
}

static const char *u128(mr_size_t v, char *buf, size_t len)
{
    if (v >> 64)
        snprintf(buf, len, "0x%" PRIx64 "%016" PRIx64, (uint64_t)(v >> 64), (uint64_t)v);
    else
        snprintf(buf, len, "0x%" PRIx64, (uint64_t)v);
    return buf;
}

const char *mirror_format_range(const FlatRange *fr, char *buf, size_t len)
{
    char sz[48];
    snprintf(buf, len, "[0x%" PRIx64 " +%s %s@0x%" PRIx64 "%s%s%s mask=%u]", fr->addr,
             u128(fr->size, sz, sizeof(sz)), fr->mr ? memory_region_name(fr->mr) : "(null)",
             fr->offset_in_region, fr->readonly ? " ro" : "", fr->nonvolatile ? " nv" : "",
             fr->romd_mode ? " romd" : "", fr->dirty_log_mask);
    return buf;
}

static void proto_error(Mirror *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void proto_error(Mirror *m, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m->errors++ == 0)
        snprintf(m->first_error, sizeof(m->first_error), "%s", msg);
    if (m->print_errors)
        fprintf(stderr, "mirror %s: protocol error: %s\n", m->name, msg);
}

/* Count and record one callback; @need_update: it must come inside begin/commit. */
static MirrorEvent *note(Mirror *m, MirrorCb cb, const FlatRange *fr, bool need_update)
{
    m->total[cb]++;
    m->update[cb]++;
    if (need_update && !m->in_update)
        proto_error(m, "%s outside begin/commit", cb_names[cb]);
    static MirrorEvent scratch;
    MirrorEvent *e = &scratch;
    if (m->record) {
        m->log = grow(m->log, &m->cap_log, m->nr_log + 1, sizeof(*m->log));
        e = &m->log[m->nr_log++];
    }
    memset(e, 0, sizeof(*e));
    e->cb = cb;
    e->seq = ++mirror_seq;
    if (fr)
        e->range = *fr;
    return e;
}

/* ---- the view -------------------------------------------------------------- */

bool mirror_range_same(const FlatRange *a, const FlatRange *b)
{
    return a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
           a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
           a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode;
}

static mr_size_t end_of(const FlatRange *fr)
{
    return (mr_size_t)fr->addr + fr->size;
}

/* Index of the first range whose end is above @addr (the one holding or after it). */
static size_t first_ending_after(const Mirror *m, mr_size_t addr)
{
    size_t lo = 0, hi = m->nr_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (end_of(&m->ranges[mid]) <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ptrdiff_t find_same(const Mirror *m, const FlatRange *fr)
{
    size_t i = first_ending_after(m, fr->addr);
    if (i < m->nr_ranges && mirror_range_same(&m->ranges[i], fr))
        return (ptrdiff_t)i;
    return -1;
}

/* The mirror range of @mr that holds [addr, addr + len), or NULL. */
static const FlatRange *holder(const Mirror *m, MemoryRegion *mr, hwaddr addr, mr_size_t len)
{
    size_t i = first_ending_after(m, addr);
    if (i >= m->nr_ranges)
        return NULL;
    const FlatRange *r = &m->ranges[i];
    if (r->mr != mr || r->addr > addr || (mr_size_t)addr + len > end_of(r))
        return NULL;
    return r;
}

static void cb_region_add(MemoryListener *l, const FlatRange *fr)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_REGION_ADD, fr, true);
    m->added_in_update = true;
    char b[160];
    if (fr->size == 0 || end_of(fr) > MR_SIZE_2_64 || !fr->mr) {
        proto_error(m, "region_add of a malformed range %s", mirror_format_range(fr, b, sizeof b));
        return;
    }
    size_t i = first_ending_after(m, fr->addr);
    if (i < m->nr_ranges && (mr_size_t)m->ranges[i].addr < end_of(fr)) {
        char c[160];
        proto_error(m, "region_add %s overlaps %s", mirror_format_range(fr, b, sizeof b),
                    mirror_format_range(&m->ranges[i], c, sizeof c));
        return;
    }
    m->ranges = grow(m->ranges, &m->cap_ranges, m->nr_ranges + 1, sizeof(*m->ranges));
    memmove(&m->ranges[i + 1], &m->ranges[i], (m->nr_ranges - i) * sizeof(*m->ranges));
    m->ranges[i] = *fr;
    m->nr_ranges++;
}

static void cb_region_del(MemoryListener *l, const FlatRange *fr)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_REGION_DEL, fr, true);
    char b[160];
    if (m->added_in_update)
        proto_error(m, "region_del %s after an add or nop of the same update",
                    mirror_format_range(fr, b, sizeof b));
    ptrdiff_t i = find_same(m, fr);
    if (i < 0) {
        proto_error(m, "region_del of %s, which the mirror does not hold",
                    mirror_format_range(fr, b, sizeof b));
        return;
    }
    /* Attachments inside the range must have been withdrawn first. */
    for (size_t z = 0; z < m->nr_zones; z++)
        if (m->zones[z].mr == fr->mr && m->zones[z].addr >= fr->addr &&
            (mr_size_t)m->zones[z].addr < end_of(fr))
            proto_error(m, "region_del of %s leaves coalesced zone 0x%" PRIx64 "+0x%" PRIx64,
                        mirror_format_range(fr, b, sizeof b), m->zones[z].addr, m->zones[z].len);
    for (size_t z = 0; z < m->nr_eventfds; z++)
        if (m->eventfds[z].mr == fr->mr && m->eventfds[z].addr >= fr->addr &&
            (mr_size_t)m->eventfds[z].addr < end_of(fr))
            proto_error(m, "region_del of %s leaves eventfd at 0x%" PRIx64,
                        mirror_format_range(fr, b, sizeof b), m->eventfds[z].addr);
    memmove(&m->ranges[i], &m->ranges[i + 1], (m->nr_ranges - (size_t)i - 1) * sizeof(*m->ranges));
    m->nr_ranges--;
}

static void cb_region_nop(MemoryListener *l, const FlatRange *fr)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_REGION_NOP, fr, true);
    m->added_in_update = true;
    char b[160];
    ptrdiff_t i = find_same(m, fr);
    if (i < 0) {
        proto_error(m, "region_nop of %s, which the mirror does not hold",
                    mirror_format_range(fr, b, sizeof b));
        return;
    }
    /* A nop carries the range as it is in the new view. */
    m->ranges[i].dirty_log_mask = fr->dirty_log_mask;
}

static void cb_log(Mirror *m, MirrorCb cb, const FlatRange *fr, int old_mask, int new_mask)
{
    MirrorEvent *e = note(m, cb, fr, true);
    e->old_mask = old_mask;
    e->new_mask = new_mask;
    char b[160];
    bool start = cb == MCB_LOG_START;
    int changed = start ? new_mask & ~old_mask : old_mask & ~new_mask;
    if (!changed)
        proto_error(m, "%s of %s with old mask %d, new mask %d changes nothing", cb_names[cb],
                    mirror_format_range(fr, b, sizeof b), old_mask, new_mask);
    ptrdiff_t i = find_same(m, fr);
    if (i < 0) {
        proto_error(m, "%s of %s, which the mirror does not hold", cb_names[cb],
                    mirror_format_range(fr, b, sizeof b));
        return;
    }
    m->ranges[i].dirty_log_mask = (uint8_t)new_mask;
}

static void cb_log_start(MemoryListener *l, const FlatRange *fr, int old_mask, int new_mask)
{
    cb_log(MIRROR_OF(l), MCB_LOG_START, fr, old_mask, new_mask);
}

static void cb_log_stop(MemoryListener *l, const FlatRange *fr, int old_mask, int new_mask)
{
    cb_log(MIRROR_OF(l), MCB_LOG_STOP, fr, old_mask, new_mask);
}

static void cb_log_sync(MemoryListener *l, const FlatRange *fr)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_LOG_SYNC, fr, false);
    char b[160];
    if (find_same(m, fr) < 0)
        proto_error(m, "log_sync of %s, which the mirror does not hold",
                    mirror_format_range(fr, b, sizeof b));
    else if (!fr->dirty_log_mask)
        proto_error(m, "log_sync of %s, which does not log", mirror_format_range(fr, b, sizeof b));
}

static void cb_log_global_start(MemoryListener *l)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_LOG_GLOBAL_START, NULL, false);
    if (m->global_logging)
        proto_error(m, "log_global_start while global logging is on");
    m->global_logging = true;
}

static void cb_log_global_stop(MemoryListener *l)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_LOG_GLOBAL_STOP, NULL, false);
    if (!m->global_logging)
        proto_error(m, "log_global_stop while global logging is off");
    m->global_logging = false;
}

/* ---- attachments ------------------------------------------------------------ */

static void cb_coalesced(Mirror *m, bool add, const FlatRange *fr, hwaddr addr, hwaddr len)
{
    MirrorCb cb = add ? MCB_COALESCED_ADD : MCB_COALESCED_DEL;
    MirrorEvent *e = note(m, cb, fr, true);
    e->addr = addr;
    e->len = len;
    char b[160];
    if (add) {
        if (len == 0 || !holder(m, fr->mr, addr, len))
            proto_error(m,
                        "coalesced_io_add 0x%" PRIx64 "+0x%" PRIx64
                        " outside the ranges of its region (range %s)",
                        addr, len, mirror_format_range(fr, b, sizeof b));
        if (fr->addr != addr || fr->size != len)
            proto_error(m, "coalesced_io_add 0x%" PRIx64 "+0x%" PRIx64 " with range %s", addr, len,
                        mirror_format_range(fr, b, sizeof b));
        m->zones = grow(m->zones, &m->cap_zones, m->nr_zones + 1, sizeof(*m->zones));
        m->zones[m->nr_zones++] = (MirrorZone){.mr = fr->mr, .addr = addr, .len = len};
        return;
    }
    for (size_t i = 0; i < m->nr_zones; i++) {
        MirrorZone *z = &m->zones[i];
        if (z->mr == fr->mr && z->addr == addr && z->len == len) {
            *z = m->zones[--m->nr_zones];
            return;
        }
    }
    proto_error(m, "coalesced_io_del 0x%" PRIx64 "+0x%" PRIx64 " (%s) was never added", addr, len,
                memory_region_name(fr->mr));
}

static void cb_coalesced_add(MemoryListener *l, const FlatRange *fr, hwaddr addr, hwaddr len)
{
    cb_coalesced(MIRROR_OF(l), true, fr, addr, len);
}

static void cb_coalesced_del(MemoryListener *l, const FlatRange *fr, hwaddr addr, hwaddr len)
{
    cb_coalesced(MIRROR_OF(l), false, fr, addr, len);
}

static void cb_eventfd(Mirror *m, bool add, const FlatRange *fr, bool match_data, uint64_t data,
                       int fd)
{
    MirrorCb cb = add ? MCB_EVENTFD_ADD : MCB_EVENTFD_DEL;
    MirrorEvent *e = note(m, cb, fr, true);
    e->match_data = match_data;
    e->data = data;
    e->fd = fd;
    MirrorEventfd ev = {
        .mr = fr->mr,
        .addr = fr->addr,
        .size = fr->size,
        .offset = fr->offset_in_region,
        .match_data = match_data,
        .data = match_data ? data : 0,
        .fd = fd,
    };
    char b[160];
    if (add) {
        if (!holder(m, fr->mr, fr->addr, fr->size ? fr->size : 1))
            proto_error(m, "eventfd_add %s outside the ranges of its region",
                        mirror_format_range(fr, b, sizeof b));
        m->eventfds = grow(m->eventfds, &m->cap_eventfds, m->nr_eventfds + 1, sizeof(ev));
        m->eventfds[m->nr_eventfds++] = ev;
        return;
    }
    for (size_t i = 0; i < m->nr_eventfds; i++) {
        MirrorEventfd *x = &m->eventfds[i];
        if (x->mr == ev.mr && x->addr == ev.addr && x->size == ev.size && x->offset == ev.offset &&
            x->match_data == ev.match_data && x->data == ev.data && x->fd == ev.fd) {
            *x = m->eventfds[--m->nr_eventfds];
            return;
        }
    }
    proto_error(m, "eventfd_del %s fd %d was never added", mirror_format_range(fr, b, sizeof b),
                fd);
}

static void cb_eventfd_add(MemoryListener *l, const FlatRange *fr, bool match_data, uint64_t data,
                           int fd)
{
    cb_eventfd(MIRROR_OF(l), true, fr, match_data, data, fd);
}

static void cb_eventfd_del(MemoryListener *l, const FlatRange *fr, bool match_data, uint64_t data,
                           int fd)
{
    cb_eventfd(MIRROR_OF(l), false, fr, match_data, data, fd);
}

/* ---- bracket ------------------------------------------------------------------ */

static void cb_begin(MemoryListener *l)
{
    Mirror *m = MIRROR_OF(l);
    if (m->in_update)
        proto_error(m, "begin inside an update");
    memset(m->update, 0, sizeof(m->update));
    note(m, MCB_BEGIN, NULL, false);
    m->in_update = true;
    m->added_in_update = false;
}

static void cb_commit(MemoryListener *l)
{
    Mirror *m = MIRROR_OF(l);
    note(m, MCB_COMMIT, NULL, true);
    m->in_update = false;
    m->added_in_update = false;
    memcpy(m->last, m->update, sizeof(m->last));
    m->updates++;
    /* Every announced attachment must lie in a range the mirror holds. */
    for (size_t i = 0; i < m->nr_zones; i++)
        if (!holder(m, m->zones[i].mr, m->zones[i].addr, m->zones[i].len))
            proto_error(m, "at commit: coalesced zone 0x%" PRIx64 "+0x%" PRIx64 " is not mapped",
                        m->zones[i].addr, m->zones[i].len);
    for (size_t i = 0; i < m->nr_eventfds; i++) {
        const MirrorEventfd *x = &m->eventfds[i];
        if (!holder(m, x->mr, x->addr, x->size ? x->size : 1))
            proto_error(m, "at commit: eventfd at 0x%" PRIx64 " is not mapped", x->addr);
    }
    if (m->on_commit)
        m->on_commit(m, m->on_commit_opaque);
}

/* ---- lifecycle ---------------------------------------------------------------- */

void mirror_init(Mirror *m, const char *name, int priority)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name ? name : "mirror");
    m->print_errors = true;
    m->record = true;
    MemoryListener *l = &m->listener;
    l->begin = cb_begin;
    l->commit = cb_commit;
    l->region_add = cb_region_add;
    l->region_del = cb_region_del;
    l->region_nop = cb_region_nop;
    l->log_start = cb_log_start;
    l->log_stop = cb_log_stop;
    l->log_sync = cb_log_sync;
    l->log_global_start = cb_log_global_start;
    l->log_global_stop = cb_log_global_stop;
    l->coalesced_io_add = cb_coalesced_add;
    l->coalesced_io_del = cb_coalesced_del;
    l->eventfd_add = cb_eventfd_add;
    l->eventfd_del = cb_eventfd_del;
    l->priority = priority;
    l->name = m->name;
}

int mirror_register(Mirror *m, AddressSpace *as)
{
    return memory_listener_register(&m->listener, as);
}

void mirror_unregister(Mirror *m)
{
    if (m->listener.address_space)
        memory_listener_unregister(&m->listener);
}

void mirror_destroy(Mirror *m)
{
    free(m->ranges);
    free(m->zones);
    free(m->eventfds);
    free(m->log);
    m->ranges = NULL;
    m->zones = NULL;
    m->eventfds = NULL;
    m->log = NULL;
    m->nr_ranges = m->cap_ranges = m->nr_zones = m->cap_zones = 0;
    m->nr_eventfds = m->cap_eventfds = m->nr_log = m->cap_log = 0;
}

void mirror_clear_log(Mirror *m)
{
    m->nr_log = 0;
    memset(m->total, 0, sizeof(m->total));
    memset(m->update, 0, sizeof(m->update));
    memset(m->last, 0, sizeof(m->last));
    m->updates = 0;
}

size_t mirror_count_events(const Mirror *m, MirrorCb cb)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nr_log; i++)
        n += m->log[i].cb == cb;
    return n;
}

const MirrorEvent *mirror_find_event(const Mirror *m, MirrorCb cb, size_t n)
{
    for (size_t i = 0; i < m->nr_log; i++)
        if (m->log[i].cb == cb && n-- == 0)
            return &m->log[i];
    return NULL;
}

void mirror_print_log(const Mirror *m, FILE *out)
{
    char b[160];
    for (size_t i = 0; i < m->nr_log; i++) {
        const MirrorEvent *e = &m->log[i];
        fprintf(out, "  %s #%lu %-16s", m->name, e->seq, cb_names[e->cb]);
        if (e->range.mr)
            fprintf(out, " %s", mirror_format_range(&e->range, b, sizeof b));
        if (e->cb == MCB_LOG_START || e->cb == MCB_LOG_STOP)
            fprintf(out, " %d->%d", e->old_mask, e->new_mask);
        if (e->cb == MCB_COALESCED_ADD || e->cb == MCB_COALESCED_DEL)
            fprintf(out, " zone 0x%" PRIx64 "+0x%" PRIx64, e->addr, e->len);
        if (e->cb == MCB_EVENTFD_ADD || e->cb == MCB_EVENTFD_DEL)
            fprintf(out, " fd %d match %d data 0x%" PRIx64, e->fd, e->match_data, e->data);
        fputc('\n', out);
    }
}

void mirror_print(const Mirror *m, FILE *out)
{
    char b[160];
    fprintf(out, "mirror %s: %zu ranges, %zu zones, %zu eventfds\n", m->name, m->nr_ranges,
            m->nr_zones, m->nr_eventfds);
    for (size_t i = 0; i < m->nr_ranges; i++)
        fprintf(out, "  %s\n", mirror_format_range(&m->ranges[i], b, sizeof b));
    for (size_t i = 0; i < m->nr_zones; i++)
        fprintf(out, "  zone 0x%" PRIx64 "+0x%" PRIx64 " %s\n", m->zones[i].addr, m->zones[i].len,
                memory_region_name(m->zones[i].mr));
    for (size_t i = 0; i < m->nr_eventfds; i++)
        fprintf(out, "  eventfd 0x%" PRIx64 " size %u fd %d\n", m->eventfds[i].addr,
                (unsigned)m->eventfds[i].size, m->eventfds[i].fd);
}

/* ---- comparisons ------------------------------------------------------------------ */

void mirror_snap(AddressSpace *as, MirrorSnap *snap)
{
    FlatView *fv = address_space_get_flatview(as);
    snap->n = flatview_nr_ranges(fv);
    snap->r = malloc((snap->n ? snap->n : 1) * sizeof(*snap->r));
    if (!snap->r)
        abort();
    for (size_t i = 0; i < snap->n; i++)
        snap->r[i] = *flatview_range(fv, i);
    flatview_unref(fv);
}

void mirror_snap_free(MirrorSnap *snap)
{
    free(snap->r);
    snap->r = NULL;
    snap->n = 0;
}

/* Binary search by address in a sorted array; -1 when no range starts at @addr. */
static ptrdiff_t find_start(const FlatRange *v, size_t n, hwaddr addr)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].addr == addr ? (ptrdiff_t)lo : -1;
}

size_t mirror_symdiff(const FlatRange *a, size_t na, const FlatRange *b, size_t nb, size_t *common,
                      size_t *mask_changed)
{
    size_t both = 0, changed = 0;
    for (size_t i = 0; i < na; i++) {
        ptrdiff_t j = find_start(b, nb, a[i].addr);
        if (j >= 0 && mirror_range_same(&a[i], &b[j])) {
            both++;
            changed += a[i].dirty_log_mask != b[j].dirty_log_mask;
        }
    }
    if (common)
        *common = both;
    if (mask_changed)
        *mask_changed = changed;
    return (na - both) + (nb - both);
}

void mirror_diff_count(const FlatRange *a, size_t na, const FlatRange *b, size_t nb,
                       MirrorDiffCount *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < na; i++) {
        ptrdiff_t j = find_start(b, nb, a[i].addr);
        if (j < 0 || !mirror_range_same(&a[i], &b[j]))
            continue;
        out->common++;
        uint8_t was = a[i].dirty_log_mask, now = b[j].dirty_log_mask;
        out->mask_changed += was != now;
        out->log_starts += (now & ~was) != 0;
        out->log_stops += (was & ~now) != 0;
    }
    out->only_old = na - out->common;
    out->only_new = nb - out->common;
}

size_t mirror_compare_view(const Mirror *m, AddressSpace *as, char *why, size_t why_len)
{
    MirrorSnap s;
    mirror_snap(as, &s);
    size_t diffs = 0;
    char b1[160], b2[160];
    size_t n = s.n > m->nr_ranges ? s.n : m->nr_ranges;
    for (size_t i = 0; i < n; i++) {
        const FlatRange *v = i < s.n ? &s.r[i] : NULL;
        const FlatRange *r = i < m->nr_ranges ? &m->ranges[i] : NULL;
        if (v && r && mirror_range_same(v, r) && v->dirty_log_mask == r->dirty_log_mask)
            continue;
        if (diffs++ == 0 && why)
            snprintf(why, why_len, "range %zu: view %s, mirror %s", i,
                     v ? mirror_format_range(v, b1, sizeof b1) : "(none)",
                     r ? mirror_format_range(r, b2, sizeof b2) : "(none)");
    }
    mirror_snap_free(&s);
    return diffs;
}

/* Multiset comparison helpers: mark used entries in a flag array. */
static size_t match_zones(const Mirror *m, const MirrorZone *exp, size_t nexp, char *why,
                          size_t why_len, size_t diffs)
{
    bool *used = calloc(m->nr_zones + 1, 1);
    if (!used)
        abort();
    for (size_t i = 0; i < nexp; i++) {
        size_t j;
        for (j = 0; j < m->nr_zones; j++)
            if (!used[j] && m->zones[j].mr == exp[i].mr && m->zones[j].addr == exp[i].addr &&
                m->zones[j].len == exp[i].len)
                break;
        if (j < m->nr_zones) {
            used[j] = true;
        } else if (diffs++ == 0 && why) {
            snprintf(why, why_len, "coalesced zone 0x%" PRIx64 "+0x%" PRIx64 " of %s missing",
                     exp[i].addr, exp[i].len, memory_region_name(exp[i].mr));
        }
    }
    for (size_t j = 0; j < m->nr_zones; j++)
        if (!used[j] && diffs++ == 0 && why)
            snprintf(why, why_len, "unexpected coalesced zone 0x%" PRIx64 "+0x%" PRIx64 " of %s",
                     m->zones[j].addr, m->zones[j].len, memory_region_name(m->zones[j].mr));
    free(used);
    return diffs;
}

static bool eventfd_equal(const MirrorEventfd *a, const MirrorEventfd *b)
{
    return a->mr == b->mr && a->addr == b->addr && a->size == b->size && a->offset == b->offset &&
           a->match_data == b->match_data && a->data == b->data && a->fd == b->fd;
}

static size_t match_eventfds(const Mirror *m, const MirrorEventfd *exp, size_t nexp, char *why,
                             size_t why_len, size_t diffs)
{
    bool *used = calloc(m->nr_eventfds + 1, 1);
    if (!used)
        abort();
    for (size_t i = 0; i < nexp; i++) {
        size_t j;
        for (j = 0; j < m->nr_eventfds; j++)
            if (!used[j] && eventfd_equal(&m->eventfds[j], &exp[i]))
                break;
        if (j < m->nr_eventfds) {
            used[j] = true;
        } else if (diffs++ == 0 && why) {
            snprintf(why, why_len, "eventfd at 0x%" PRIx64 " (fd %d) missing", exp[i].addr,
                     exp[i].fd);
        }
    }
    for (size_t j = 0; j < m->nr_eventfds; j++)
        if (!used[j] && diffs++ == 0 && why)
            snprintf(why, why_len, "unexpected eventfd at 0x%" PRIx64 " (fd %d)",
                     m->eventfds[j].addr, m->eventfds[j].fd);
    free(used);
    return diffs;
}

size_t mirror_compare_attachments(const Mirror *m, AddressSpace *as, const MirrorAttach *att,
                                  size_t nr_att, char *why, size_t why_len)
{
    MirrorSnap s;
    mirror_snap(as, &s);
    MirrorZone *zones = NULL;
    MirrorEventfd *evs = NULL;
    size_t nz = 0, cz = 0, ne = 0, ce = 0;
    for (size_t i = 0; i < s.n; i++) {
        const FlatRange *fr = &s.r[i];
        mr_size_t lo = fr->offset_in_region, hi = lo + fr->size;
        for (size_t k = 0; k < nr_att; k++) {
            const MirrorAttach *a = &att[k];
            if (a->mr != fr->mr)
                continue;
            if (!a->is_eventfd) {
                mr_size_t zl = a->offset, zh = (mr_size_t)a->offset + a->size;
                mr_size_t il = zl > lo ? zl : lo, ih = zh < hi ? zh : hi;
                if (il >= ih)
                    continue;
                zones = grow(zones, &cz, nz + 1, sizeof(*zones));
                zones[nz++] = (MirrorZone){
                    .mr = a->mr,
                    .addr = fr->addr + (hwaddr)(il - lo),
                    .len = (hwaddr)(ih - il),
                };
            } else {
                mr_size_t el = a->offset, eh = el + (a->size ? a->size : 1);
                if (el < lo || eh > hi)
                    continue;
                evs = grow(evs, &ce, ne + 1, sizeof(*evs));
                evs[ne++] = (MirrorEventfd){
                    .mr = a->mr,
                    .addr = fr->addr + (hwaddr)(el - lo),
                    .size = a->size,
                    .offset = a->offset,
                    .match_data = a->match_data,
                    .data = a->match_data ? a->data : 0,
                    .fd = a->fd,
                };
            }
        }
    }
    size_t diffs = match_zones(m, zones, nz, why, why_len, 0);
    diffs = match_eventfds(m, evs, ne, why, why_len, diffs);
    free(zones);
    free(evs);
    mirror_snap_free(&s);
    return diffs;
}
