/*
 * Mirror listener: a MemoryListener that rebuilds an address space's view
 * from the callbacks alone, for tests.
 *
 * A Mirror keeps its own copy of the view (a sorted array of ranges with
 * their dirty-log masks), multisets of coalesced zones and of eventfds, and
 * counts every callback. It applies each callback by the protocol of
 * listener.h and records a protocol error (instead of crashing) whenever a
 * callback is impossible:
 *  - a range, log or attachment callback outside begin/commit; a nested
 *    begin; a commit without begin;
 *  - a region_del after a region_add or region_nop of the same update;
 *  - region_add of a range that overlaps one the mirror holds; region_del or
 *    region_nop of a range the mirror does not hold (all of addr, size,
 *    region, offset, readonly, nonvolatile and romd must match);
 *  - log_start that starts nothing, log_stop that stops nothing, either on
 *    a range the mirror does not hold;
 *  - a coalesced zone or eventfd added outside the ranges of its region, or
 *    deleted while absent; a range deleted while zones or eventfds inside it
 *    are still announced;
 *  - log_global_start while global logging is on, log_global_stop while off.
 *
 * After a commit the mirror should equal the address space's FlatView
 * (mirror_compare_view) and the attachments the test made
 * (mirror_compare_attachments). The difference between two views is
 * computed here by a method independent of the library's diff walk
 * (mirror_symdiff), so a test can check that an update sent exactly that
 * many region_del plus region_add callbacks: the "minimal diff" check.
 *
 * Every callback also gets a sequence number from one process-wide
 * counter, so a test can check the order of callbacks across listeners.
 *
 * Thread rules: single-threaded tests only.
 */
#ifndef MEMREGION_TESTS_MIRROR_H
#define MEMREGION_TESTS_MIRROR_H

#include <stdio.h>

#include <memregion/memregion.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The callbacks of a MemoryListener, as indices of Mirror counters. */
typedef enum MirrorCb {
    MCB_BEGIN,
    MCB_COMMIT,
    MCB_REGION_ADD,
    MCB_REGION_DEL,
    MCB_REGION_NOP,
    MCB_LOG_START,
    MCB_LOG_STOP,
    MCB_LOG_SYNC,
    MCB_LOG_GLOBAL_START,
    MCB_LOG_GLOBAL_STOP,
    MCB_COALESCED_ADD,
    MCB_COALESCED_DEL,
    MCB_EVENTFD_ADD,
    MCB_EVENTFD_DEL,
    MCB_NR,
} MirrorCb;

/** The callback's name ("region_add", ...). */
const char *mirror_cb_name(MirrorCb cb);

/** One recorded callback. */
typedef struct MirrorEvent {
    MirrorCb cb;
    unsigned long seq; /**< process-wide order of all mirrors' callbacks */
    FlatRange range;   /**< the range passed (zeroed for begin/commit/global) */
    int old_mask;      /**< log_start / log_stop */
    int new_mask;
    hwaddr addr, len; /**< coalesced_io_add / _del */
    bool match_data;  /**< eventfd_add / _del */
    uint64_t data;
    int fd;
} MirrorEvent;

/** One coalesced zone announced to the mirror, in absolute addresses. */
typedef struct MirrorZone {
    MemoryRegion *mr;
    hwaddr addr;
    hwaddr len;
} MirrorZone;

/** One eventfd announced to the mirror. */
typedef struct MirrorEventfd {
    MemoryRegion *mr;
    hwaddr addr;    /**< absolute address */
    mr_size_t size; /**< 0: any size */
    hwaddr offset;  /**< offset in @mr */
    bool match_data;
    uint64_t data;
    int fd;
} MirrorEventfd;

typedef struct Mirror {
    MemoryListener listener; /**< registered by mirror_register() */
    char name[32];

    /* The view rebuilt from the callbacks: sorted by address, disjoint. */
    FlatRange *ranges;
    size_t nr_ranges, cap_ranges;
    MirrorZone *zones;
    size_t nr_zones, cap_zones;
    MirrorEventfd *eventfds;
    size_t nr_eventfds, cap_eventfds;
    bool global_logging; /**< between log_global_start and log_global_stop */

    /* Counters. */
    unsigned long total[MCB_NR];  /**< since mirror_init */
    unsigned long update[MCB_NR]; /**< since the last begin (includes begin) */
    unsigned long last[MCB_NR];   /**< of the last completed update, copied at commit */
    unsigned long updates;        /**< completed begin/commit pairs */

    /* Protocol state. */
    bool in_update;
    bool added_in_update; /**< a region_add or region_nop was seen since begin */

    /* Protocol errors. */
    unsigned long errors;
    char first_error[256]; /**< the first one, for the failure message */
    bool print_errors;     /**< print each error to stderr as it happens (default true) */

    /* Event log (when @record): every callback since mirror_clear_log. */
    bool record;
    MirrorEvent *log;
    size_t nr_log, cap_log;

    /** Called at the end of every commit callback, if set (e.g. to check the view). */
    void (*on_commit)(struct Mirror *m, void *opaque);
    void *on_commit_opaque;
} Mirror;

/** Initialise @m with every callback set, priority @priority and @name (copied). */
void mirror_init(Mirror *m, const char *name, int priority);

/** Register @m on @as (memory_listener_register); returns its result. */
int mirror_register(Mirror *m, AddressSpace *as);

/** Unregister @m if registered. */
void mirror_unregister(Mirror *m);

/** Free @m's memory (unregister first). */
void mirror_destroy(Mirror *m);

/** Forget the event log and zero the counters (state and errors are kept). */
void mirror_clear_log(Mirror *m);

/** Number of recorded events of kind @cb. */
size_t mirror_count_events(const Mirror *m, MirrorCb cb);

/** The @n-th (0-based) recorded event of kind @cb, or NULL. */
const MirrorEvent *mirror_find_event(const Mirror *m, MirrorCb cb, size_t n);

/** Print the event log (diagnostics). */
void mirror_print_log(const Mirror *m, FILE *out);

/** Print the mirror's ranges, zones and eventfds (diagnostics). */
void mirror_print(const Mirror *m, FILE *out);

/* ---- comparisons ------------------------------------------------------------ */

/** A private copy of a view's ranges. */
typedef struct MirrorSnap {
    FlatRange *r;
    size_t n;
} MirrorSnap;

/** Copy @as's current view into @snap (free with mirror_snap_free). */
void mirror_snap(AddressSpace *as, MirrorSnap *snap);
void mirror_snap_free(MirrorSnap *snap);

/**
 * True when @a and @b are the same range for a listener: address, size,
 * region, offset, readonly, nonvolatile and romd mode are equal (the
 * dirty-log mask is not compared).
 */
bool mirror_range_same(const FlatRange *a, const FlatRange *b);

/**
 * The number of ranges that are in exactly one of the two views (by
 * mirror_range_same): the size of the symmetric difference. Stores the
 * number present in both in *@common and the number of those whose
 * dirty-log mask differs in *@mask_changed (either may be NULL).
 */
size_t mirror_symdiff(const FlatRange *a, size_t na, const FlatRange *b, size_t nb, size_t *common,
                      size_t *mask_changed);

/** What a minimal update from one view to another consists of. */
typedef struct MirrorDiffCount {
    size_t only_old;     /**< ranges to delete (region_del) */
    size_t only_new;     /**< ranges to add (region_add) */
    size_t common;       /**< ranges kept (same but for the mask) */
    size_t mask_changed; /**< kept ranges whose mask changed (region_nop) */
    size_t log_starts;   /**< kept ranges whose mask gained a client (log_start) */
    size_t log_stops;    /**< kept ranges whose mask lost a client (log_stop) */
} MirrorDiffCount;

/**
 * Count the callbacks a minimal update from view @a to view @b must send,
 * by the rules of listener.h: region_del for @only_old, region_add for
 * @only_new, region_nop for @mask_changed (a kept range whose mask did not
 * change is not mentioned), log_start/log_stop as counted. Computed like
 * mirror_symdiff().
 */
void mirror_diff_count(const FlatRange *a, size_t na, const FlatRange *b, size_t nb,
                       MirrorDiffCount *out);

/**
 * Compare the mirror's ranges (dirty-log masks included) with @as's current
 * view. Returns the number of differences (0: equal) and writes the first
 * into @why (may be NULL).
 */
size_t mirror_compare_view(const Mirror *m, AddressSpace *as, char *why, size_t why_len);

/** An attachment the test made: a coalescing range or an eventfd of a region. */
typedef struct MirrorAttach {
    MemoryRegion *mr;
    bool is_eventfd;
    hwaddr offset; /**< in @mr */
    uint64_t size; /**< coalescing: bytes; eventfd: 0, 1, 2, 4 or 8 */
    bool match_data;
    uint64_t data;
    int fd;
} MirrorAttach;

/**
 * Compare the mirror's zones and eventfds with what @att gives over @as's
 * current view: a coalescing range yields its intersection with every flat
 * range of its region (in absolute addresses); an eventfd yields one entry
 * for every flat range of its region that holds its whole span
 * [offset, offset + max(size, 1)). Returns the number of differences.
 */
size_t mirror_compare_attachments(const Mirror *m, AddressSpace *as, const MirrorAttach *att,
                                  size_t nr_att, char *why, size_t why_len);

/** Format a range for messages into @buf (at least 160 bytes); returns @buf. */
const char *mirror_format_range(const FlatRange *fr, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MEMREGION_TESTS_MIRROR_H */
