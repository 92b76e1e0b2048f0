/*
 * The process globals of libmemregion, in one place: what each is for and
 * what protects it. Not installed. They are defined in globals.c.
 *
 * Three owners:
 * - mr_ws, the writer's state: read and written only by the thread that
 *   holds the writer lock (MR_ASSERT_WRITER). Readers never see it: what
 *   they need is published through views with RCU.
 * - mr_ts, mr_writer_depth and mr_section, each thread's own state (thread-local,
 *   initial-exec TLS): nobody else reads it, so it needs no protection.
 * - mr_writer_mutex and mr_callrecs: the two globals with locks of their
 *   own, because threads that are not writers use them.
 *
 * What stays static in its file, and why: memory kept only so that the next
 * call need not allocate again, whose content means nothing between calls
 * (render.c's fragment and sweep buffers and its qsort context;
 * view_build.c's build scratch and its free-chunk, free-node and
 * free-version pools, all of them the writer's;
 * child_index.c's query results stack; commit.c's edit buffers); the empty
 * view (view_build.c: immutable, its reference count pinned); dispatch.c's software TLB (a
 * thread-local pointer to the thread's own TLB on the heap, or to the never-written tlb_none; the
 * key that frees it at thread exit) and its IOMMU side entries (caches of dispatch.c's own entry
 * types, checked against generations on every use); base.c's key to each thread's error
 * message buffer (on the heap, not in thread-local storage, so that the static TLS block stays
 * small), its once-flag and whether the key was made; the mtree layer's atomic work counter
 * (src/mtree/ uses the public API only and keeps its own state); and libmemregion-kvm's
 * thread-local error buffers (a library of its own, which cannot share these definitions). Every
 * one is named here, file by file; scripts/check-globals (suite docs) fails on any other variable
 * of static storage duration in src/ that is not read-only.
 *
 * Stay static:
 *   render.c: sort_base order_buf heap_buf sweep_cap scratch
 *   view_build.c: empty_view pool pool_nr node_pool node_pool_nr
 *   view_build.c: version_pool version_pool_nr
 *   view_build.c: scratch scratch_open scratch_open_cap
 *   child_index.c: results nr_results cap_results
 *   commit.c: edits cap_edits
 *   dispatch.c: tlb_none tlb_mine tlb_key tlb_key_once
 *   base.c: error_key error_key_once error_key_ok
 *   mtree/print.c: mtree_steps_taken
 *   kvm/kvm_vm.c: thread_error copy
 */
#ifndef MEMREGION_GLOBALS_H
#define MEMREGION_GLOBALS_H

#include <pthread.h>

#include "base.h"
#include "memregion/overlap.h"

struct Deferred;
struct AsHandler;
struct CallRecord;

/* The writer's state. Every field: writer lock held. */
struct MrWriterState {
    /* commit.c and damage.c: transactions and change tracking. */
    unsigned tx_depth;        /* open transactions */
    bool update_pending;      /* something may have changed since the last commit */
    bool committing;          /* inside do_commit: nested commits are deferred */
    uint32_t current_gen;     /* generation of the last commit (starts at 1) */
    uint32_t topo_epoch;      /* bumped when links between regions change (starts at 1) */
    uint64_t stat_renders;    /* memregion_stat_renders() */
    bool check_incremental;   /* MEMREGION_CHECK_INCREMENTAL: compare with full renders */
    bool checked_env;         /* check_incremental was read from the environment */
    PtrVec slots;             /* every live ViewSlot */
    PtrVec damaged;           /* slots with pending damage */
    PtrVec settle;            /* slots the commit's end looks at: damaged, or lost a user */
    uint64_t slots_settled;   /* slots commits' ends have looked at (for tests) */
    uint64_t spaces_heard;    /* listening spaces commits have looked at (for tests) */
    PtrVec rechecks;          /* address spaces to re-derive */
    AddressSpace *listening;  /* spaces with listeners but no slot, linked by listening_next */
    unsigned long dwalk_work; /* damage walk: regions visited since it first met a loop */
    bool dwalk_overflow;      /* damage walk: past its bounds, every view is redone */

    /* address_space.c: every live address space, in creation order. */
    AddressSpace *as_head, *as_tail;

    /* tree.c, child_index.c, loops.c: the region tree. */
    uint64_t link_seq;   /* link order of subregions: later links win ties */
    uint32_t treap_seed; /* xorshift32 state of the child index's heap priorities */
    uint32_t walk_gen;   /* visit marks of the alias-loop search */
    bool loops_seen;     /* some change has closed an alias loop */

    /* overlap.c: overlap handlers. */
    int overlap_check_on; /* handlers installed (a predictable branch in tree.c) */
    MemoryRegionOverlapFn overlap_fn;
    void *overlap_opaque;
    struct AsHandler *as_handlers; /* per-address-space handlers */
    size_t nr_as_handlers, cap_as_handlers;

    /* view_build.c: view versions. */
    uint64_t version_seq;   /* creation order of versions, unique */
    uint64_t index_entries; /* memregion_stat_index_entries() */

    /* dirty.c: dirty logging. Readers see these only through views. */
    unsigned dirty_page_shift; /* page size of new bitmaps (starts at 12) */
    bool global_logging;       /* memory_global_dirty_log_start() is in force */

    /* reclaim.c: objects retired by the writer, freed after one grace period. */
    struct Deferred *reclaim_batch;
    size_t nr_reclaim, cap_reclaim;
    size_t reclaim_bytes;        /* what the batch holds */
    uint64_t stat_grace_periods; /* memregion_stat_grace_periods() */
    uint64_t gp_quickest_ns;     /* the quickest wait for readers so far */
    uint64_t gp_recent_ns;       /* and a running average of the recent ones */
};
extern struct MrWriterState mr_ws;

/* The calling thread's own state. */
struct MrThreadState {
    struct CallRecord *callrec; /* callrec.c: this thread's call record, once it has one */
    unsigned iommu_depth;       /* iommu.c: nested IOMMU accesses */
    uint64_t tlb_fills;         /* dispatch.c: memregion_stat_tlb_fills() */
    uint64_t tlb_revalidations; /* dispatch.c: memregion_stat_tlb_revalidations() */
};
extern MR_THREAD struct MrThreadState mr_ts;

/* read_section.c: this thread's read section, struct MrSection; declared
 * in base.h, whose inline suspend and resume the writer lock calls. */

/* base.c: this thread's holds of the writer lock. Thread-local like mr_ts,
 * but declared in base.h: mr_writer_owned() reads it inline. */
extern MR_THREAD unsigned mr_writer_depth;

/* base.c: the writer lock itself, a plain mutex: base.c counts each thread's nested holds. */
extern pthread_mutex_t mr_writer_mutex;

/* callrec.c: every call record, used by any dispatching thread. */
struct MrCallRecords {
    pthread_mutex_t lock;    /* protects list */
    struct CallRecord *list; /* all records, never freed: reused by new threads */
    pthread_key_t key;       /* frees a thread's record when it exits; made once */
    pthread_once_t key_once;
};
extern struct MrCallRecords mr_callrecs;

#endif /* MEMREGION_GLOBALS_H */
