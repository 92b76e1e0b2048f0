/*
 * The access layer: guest accesses through views, without the writer lock.
 * Not installed.
 *
 * Implemented by dispatch.c (reads, writes, typed helpers, translate, the
 * per-thread software TLB), mmio.c (access adaptation for callback
 * regions), callrec.c (per-thread call records: re-entrancy and destroy's
 * wait), iommu.c (IOMMU regions and the walk through them), map_cache.c
 * (MemoryRegionCache) and dma_map.c (address_space_map/unmap, bounce
 * buffers).
 *
 * Invariants:
 * - readers take no lock: every lookup happens inside an RCU read-side
 *   section, RAM is copied inside it, and device callbacks run after it
 *   ended, with the region entered in the thread's call record;
 * - a cached translation (TLB entry, MemoryRegionCache) is used only while
 *   the view version and IOMMU stamps it was made from are unchanged;
 * - anything a guest can cause ends in a MemTxResult, never an abort.
 */
#ifndef MEMREGION_ACCESS_PATH_H
#define MEMREGION_ACCESS_PATH_H

#include <string.h>

#include "base.h"
#include "globals.h"

/* ---- mmio.c: access adaptation for callback regions ------------------------------ */

/* Perform @len bytes of guest access at @off in an MMIO or ROM device region
 * by the access rules in region.h. The caller has entered @mr (callrec_enter). */
MemTxResult mmio_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t len, bool is_write,
                        MemTxAttrs attrs);
/* Exactly one guest access of @size (1, 2, 4 or 8) bytes, as a typed helper
 * makes it: refused with MEMTX_DECODE_ERROR, without calling the device,
 * unless `valid` allows it; otherwise covered by device accesses. */
MemTxResult mmio_access_one(MemoryRegion *mr, hwaddr off, uint8_t *buf, unsigned size,
                            bool is_write, MemTxAttrs attrs);

/* Decide once, when @mr's ops are set, which access sizes need no adaptation. */
void mmio_ops_set(MemoryRegion *mr);

/* Does the access of @n bytes at @off go to @mr's callbacks as it is (the
 * straight path: a size in mr->straight, aligned)? Then mmio_access and
 * mmio_access_one do exactly what mmio_straight_access does. */
static inline bool mmio_is_straight(const MemoryRegion *mr, hwaddr off, uint64_t n)
{
    return n <= 8 && (mr->straight & (1u << n)) && !(off & (n - 1));
}
/* The straight path itself, for an access mmio_is_straight() accepts. */
MemTxResult mmio_straight_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, unsigned n,
                                 bool is_write, MemTxAttrs attrs);
/* The straight path of a read (write) of @n bytes whose caller entered @mr
 * in the call record (callrec_try_enter) and ended the read-side section:
 * performs it, leaves the record and returns the result. The arguments are
 * in the order of dispatch.c's callback wrappers, so they reach these with
 * a jump, and one stack frame serves the whole device call. */
MemTxResult mmio_straight_read_leave(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs, uint8_t *buf,
                                     uint64_t n);
MemTxResult mmio_straight_write_leave(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs, uint8_t *buf,
                                      uint64_t n);
/* The same for a caller that also suspended the caller's read section
 * (mr_section_suspend): they resume it after leaving the record. */
MemTxResult mmio_straight_read_leave_resume(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs,
                                            uint8_t *buf, uint64_t n);
MemTxResult mmio_straight_write_leave_resume(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs,
                                             uint8_t *buf, uint64_t n);

/* ---- callrec.c: per-thread call records ------------------------------------------ */

#define CALLREC_DEPTH_MAX 32 /* nested device-to-device dispatches per thread */

/* A thread's record: the regions whose callbacks it runs, innermost last.
 * Entries at and above depth are NULL. Only the owning thread writes it. */
typedef struct CallRecord {
    MemoryRegion *active[CALLREC_DEPTH_MAX];
    unsigned depth;          /* owner thread only */
    bool in_use;             /* owned by a live thread */
    struct CallRecord *next; /* all records, never freed: reused by new threads */
} CallRecord;

/* callrec_enter for a thread without a record yet, or already inside a
 * callback (the re-entrancy guard and the depth limit apply). */
MemTxResult callrec_enter_slow(MemoryRegion *mr);

/* callrec_enter's common case alone: true when @mr was entered (the thread
 * has a record and is in no callback), false when nothing was recorded and
 * callrec_enter_slow() decides. It leaves a read section of the caller's
 * open: the caller knows none is open, or suspends it (dispatch.c). */
static inline bool callrec_try_enter_outermost(MemoryRegion *mr)
{
    CallRecord *r = mr_ts.callrec;
    if (__builtin_expect(!r || r->depth, 0))
        return false;
    __atomic_store_n(&r->active[0], mr, __ATOMIC_RELAXED);
    r->depth = 1;
    return true;
}
/* callrec_try_enter_outermost for a thread whose own read section
 * (read_section.c) is not open: with it open, callrec_enter_slow()
 * suspends it. */
static inline bool callrec_try_enter(MemoryRegion *mr)
{
    return !mr_section.open && callrec_try_enter_outermost(mr);
}

/* Record that this thread is about to run @mr's callbacks; call inside the
 * read-side section that found @mr. MEMTX_ACCESS_ERROR refuses re-entry
 * (the guard) or too deep a nesting; then nothing was recorded. Inline:
 * an access from outside any callback, the common case, needs no check.
 * A read section the caller holds (read_section.c) is suspended from here
 * to the matching callrec_leave(), so callbacks run outside every section. */
static inline MemTxResult callrec_enter(MemoryRegion *mr)
{
    return callrec_try_enter(mr) ? MEMTX_OK : callrec_enter_slow(mr);
}

/* The callbacks entered last are done. */
static inline void callrec_leave(void)
{
    CallRecord *r = mr_ts.callrec;
    if (__builtin_expect(mr_section.callrec_depth == r->depth, 0)) {
        mr_section.callrec_depth = 0;
        mr_section_resume();
    }
    r->depth--;
    __atomic_store_n(&r->active[r->depth], NULL, __ATOMIC_RELEASE);
}
/* callrec_leave for a record callrec_try_enter_outermost entered: the
 * callbacks it recorded were the thread's outermost, so its depth is back
 * to none without reading it. It resumes no read section: one of the
 * caller's was not open, or whoever suspended it resumes it
 * (mmio_straight_*_leave_resume). */
static inline void callrec_leave_outermost(void)
{
    CallRecord *r = mr_ts.callrec;
    r->depth = 0;
    __atomic_store_n(&r->active[0], NULL, __ATOMIC_RELEASE);
}

/* True while the calling thread runs inside a callback of @mr. */
bool callrec_in_callback_of(const MemoryRegion *mr);
/* Some thread runs a callback of @mr (after a grace period: or is about to). */
bool callrec_busy(const MemoryRegion *mr);
/* Wait until no thread runs a callback of @mr. */
void callrec_wait_idle(const MemoryRegion *mr);

/* ---- read_section.c: reopening the caller's section ------------------------------ */

/* The end of a hit's own outermost section (entered by
 * mr_rcu_lock_unless_nested) when mr_section.reopen is set: the section
 * becomes the caller's, unless a callback runs; then it just ends.
 * Returns MEMTX_OK, so that the hit reaches it with a jump: a call would
 * give every access a stack frame. */
MemTxResult mr_section_end_own_or_reopen(void);

/* End a hit's own outermost section and return MEMTX_OK, for a hit to
 * return: the rare reopening is then a jump, not a call. */
static inline __attribute__((always_inline)) MemTxResult mr_hit_section_end(void)
{
    if (__builtin_expect(mr_section.reopen, 0))
        return mr_section_end_own_or_reopen();
    rcu_read_unlock();
    return MEMTX_OK;
}

/* ---- byte order of typed values (dispatch.c, map_cache.c, mmio.c) ---------------- */

/* The host-order value of the @n bytes at @b, and back; @n is 1, 2, 4 or 8
 * (the sizes of typed accesses), so each is one fixed-size move. */
static inline uint64_t mr_load_host(const uint8_t *b, unsigned n)
{
    switch (n) {
    case 1:
        return *b;
    case 2: {
        uint16_t x;
        memcpy(&x, b, 2);
        return x;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, b, 4);
        return x;
    }
    default: {
        uint64_t x;
        memcpy(&x, b, 8);
        return x;
    }
    }
}

static inline void mr_store_host(uint8_t *b, uint64_t v, unsigned n)
{
    switch (n) {
    case 1:
        *b = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(b, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(b, &x, 4);
        break;
    }
    default:
        memcpy(b, &v, 8);
        break;
    }
}

/* @v, the host-order value of @n bytes, as the value those bytes have in
 * little- (or @big_endian) byte order. Its own inverse. */
static inline uint64_t mr_host_to_order(uint64_t v, unsigned n, bool big_endian)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    big_endian = !big_endian;
#endif
    return big_endian ? __builtin_bswap64(v) >> (64 - 8 * n) : v;
}

/* The value of @size (1, 2, 4 or 8) bytes at @b, in little- (or
 * @big_endian) byte order. */
static inline uint64_t mr_bytes_to_value(const uint8_t *b, unsigned size, bool big_endian)
{
    return mr_host_to_order(mr_load_host(b, size), size, big_endian);
}

/* Store @v as @size (1, 2, 4 or 8) bytes at @b, in little- (or
 * @big_endian) byte order. */
static inline void mr_value_to_bytes(uint64_t v, uint8_t *b, unsigned size, bool big_endian)
{
    mr_store_host(b, mr_host_to_order(v, size, big_endian), size);
}

/* ---- iommu.c: IOMMU regions and the walk through them ------------------------ */

/*
 * Dispatch hook for an IOMMU range: up to *n bytes at IOVA @off of @mr,
 * which was found inside the current read-side section; this ends the
 * section. Translates one IOMMU page, performs the bytes in it through the
 * target address space and sets *n to the bytes done.
 */
MemTxResult iommu_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t *n, bool is_write,
                         MemTxAttrs attrs);
/*
 * The translation step of iommu_access alone: ends the read-side section,
 * clips *n to the IOMMU page and, on MEMTX_OK, gives the target address
 * space and address; the caller performs the access there and then calls
 * iommu_translate_done() (nesting depth).
 */
MemTxResult iommu_translate_one(MemoryRegion *mr, hwaddr off, uint64_t *n, bool is_write,
                                MemTxAttrs attrs, AddressSpace **as, hwaddr *addr);
void iommu_translate_done(void);

/* What one 4 KiB page of IOVAs translates to, for the software TLB. */
typedef struct IommuPageXlat {
    const uint64_t *gen_src; /* the IOMMU's generation: an event changes it */
    uint64_t gen;            /* its value before the translation was made */
    AddressSpace *as;        /* target address space */
    hwaddr addr;             /* target address of the page's first byte, page-aligned */
    unsigned perm;           /* IOMMU_RO | IOMMU_WO as translate gave them */
} IommuPageXlat;
/*
 * Translate @iova of @mr for an access in direction @is_write with @attrs,
 * inside a read-side section, as the access itself would (a miss fills the
 * region's cache, so the walk that follows does not call translate again).
 * True when the 4 KiB page of IOVAs at @page (holding @iova) translates in
 * one piece to a page-aligned target; false when the region's cache is
 * off, the IOVA does not translate for the access, the page is split, or
 * the thread is already MR_IOMMU_MAX_DEPTH IOMMUs deep.
 */
bool iommu_page_xlat(MemoryRegion *mr, hwaddr page, hwaddr iova, bool is_write, MemTxAttrs attrs,
                     IommuPageXlat *x);

/* Where an address leads once every IOMMU on the way is passed. */
typedef struct MrWalk {
    AddressSpace *as;    /* the last address space reached */
    hwaddr addr;         /* the address in it */
    const FlatRange *fr; /* its range (NULL: hole or fault); valid in the section */
    hwaddr off;          /* offset in fr->mr */
    hwaddr len;          /* bytes from the address in this piece, at most asked */
    unsigned nr_stamps;  /* what the answer depends on */
    MemoryRegionCacheStamp stamps[MR_CACHE_MAX_STAMPS];
} MrWalk;

/* Resolve [@addr, @addr + @len) of @as through IOMMUs, inside a read-side
 * section. MEMTX_OK with w->fr set, or the failure (w->fr NULL); w->len is
 * the extent of the piece either way (at least 1 when @len is). */
MemTxResult iommu_walk(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write, MemTxAttrs attrs,
                       MrWalk *w);
/* Are the stamps still what they were? Inside a read-side section. */
bool iommu_stamps_valid(const MemoryRegionCacheStamp *st, unsigned n);
/* address_space_translate for an address that lands on an IOMMU range
 * (inside the read-side section). */
MemTxResult iommu_translate_section(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs,
                                    MemoryRegionSection *out);
/* Free an IOMMU region's state (destroy). */
void iommu_free(MemoryRegion *mr);

/* ---- dma_map.c: DMA mapping --------------------------------------------------------- */

/* Free @as's DMA state (address_space_destroy; no mapping may be live). */
void dma_map_as_free(AddressSpace *as);

#endif /* MEMREGION_ACCESS_PATH_H */
