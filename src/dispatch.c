/*
 * Dispatch: guest reads and writes through an address space's current view.
 *
 * Readers take no lock. Each step looks up one flat range inside an RCU
 * read-side section; RAM is copied inside that section. A callback region
 * is entered in this thread's call record (callrec.c) before the section
 * ends and the callback runs outside it, so a callback may take the writer
 * lock (change the map) without ever blocking a grace period.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "globals.h"
#include "access_path.h"
#include "listeners.h"

/* Is @n a size of typed access (1, 2, 4 or 8)? */
static inline bool typed_size(uint64_t n)
{
    return n && n <= 8 && !(n & (n - 1));
}

/* memcpy, with the sizes of typed accesses as fixed-size moves (one load
 * and one store, see mr_load_host) rather than a call. */
static inline __attribute__((always_inline)) void copy_bytes(uint8_t *dst, const uint8_t *src,
                                                             uint64_t n)
{
    if (typed_size(n))
        mr_store_host(dst, mr_load_host(src, (unsigned)n), (unsigned)n);
    else
        memcpy(dst, src, n);
}

/* Does an access of range @fr copy memory (ram_access)? Reads of RAM, ROM
 * and ROM devices in romd mode; writes of RAM and ROM, which ram_access
 * refuses. */
static inline bool fr_direct(const FlatRange *fr, bool is_write)
{
    return is_write ? fr->mr_kind == MR_KIND_RAM : fr_reads_direct(fr);
}

/* Copy @n bytes at @addr of range @fr, whose accesses are direct
 * (fr_direct): from the range's own copy of the region's memory, so the region
 * is not read unless the write is dirty-logged. A write to a read-only range
 * (ROM) is refused unless debug, as QEMU's ROM ops refuse it: nothing
 * changes and the result is MEMTX_DECODE_ERROR. */
static inline __attribute__((always_inline)) MemTxResult ram_access(const FlatRange *fr,
                                                                    hwaddr addr, uint8_t *buf,
                                                                    uint64_t n, bool is_write,
                                                                    MemTxAttrs attrs)
{
    hwaddr off = fr->offset_in_region + (addr - fr->addr);
    uint8_t *host = fr->mr_ram + off;
    if (!is_write) {
        copy_bytes(buf, host, n);
    } else if (!fr->readonly || attrs.debug) {
        copy_bytes(host, buf, n);
        if (fr->dirty_log_mask)
            memory_region_set_dirty(fr->mr, off, n);
    } else {
        return MEMTX_DECODE_ERROR;
    }
    return MEMTX_OK;
}

/*
 * Dispatch of @n bytes at @off to a callback region found inside the
 * current read-side section, which this ends: the region is entered in the
 * thread's call record first, so the callback runs outside the section.
 * @one: the bytes are one typed access (mmio_access_one), not a buffer.
 */
static inline __attribute__((always_inline)) MemTxResult callback_access(MemoryRegion *mr,
                                                                         hwaddr off, uint8_t *buf,
                                                                         uint64_t n, bool is_write,
                                                                         MemTxAttrs attrs, bool one)
{
    if (is_write && mr->ext && eventfd_try_signal(mr, off, buf, n)) {
        rcu_read_unlock();
        return MEMTX_OK;
    }
    MemTxResult r = callrec_enter(mr);
    rcu_read_unlock();
    if (r == MEMTX_OK) {
        if (mmio_is_straight(mr, off, n))
            r = mmio_straight_access(mr, off, buf, (unsigned)n, is_write, attrs);
        else if (one)
            r = mmio_access_one(mr, off, buf, (unsigned)n, is_write, attrs);
        else
            r = mmio_access(mr, off, buf, n, is_write, attrs);
        callrec_leave();
    } else if (!is_write) {
        memset(buf, 0, n);
    }
    return r;
}

/*
 * A per-thread software TLB in front of the lookup: what this thread found
 * a page to be (memory to copy, or a callback region at an offset), with
 * the generation of the page's zone when it was found (see ViewSlot in
 * view.h). A commit gives new generations only to the
 * zones of the pages it changed, so an entry stays right across commits
 * that leave its page alone, and stops matching after one that touches it
 * (after one that touches only another page of its zone, the zone's span
 * lets the miss path keep it: tlb_revalidate). Generations are never reused, so an entry
 * of another view never matches. Writes that need the slow path (read-only
 * or dirty-logged memory) are not cached.
 *
 * A page of an IOMMU range is cached too when it translates, in one piece,
 * to memory copied directly (TLB_*_XLAT, with the IOMMU's permission for
 * each direction). Its answer also depends on the IOMMU and on the target
 * address space, so its side entry (tlb_xlat, read only for such entries)
 * keeps the IOMMU's generation, which every notify and set_cache changes,
 * the generation of the target page's zone in the target's view, and the
 * attributes it was translated with (they choose the IOMMU index). A hit
 * checks all three; a miss walks the IOMMU as before.
 */
#define TLB_BITS      10
#define TLB_PAGE_BITS FV_PAGE_BITS
#define TLB_PAGE_SIZE ((hwaddr)1 << TLB_PAGE_BITS)

enum {
    TLB_READ_DIRECT = 1,  /* reads copy from host */
    TLB_WRITE_DIRECT = 2, /* writes copy to host */
    TLB_READ_CALL = 4,    /* reads go to mr's callbacks */
    TLB_WRITE_CALL = 8,   /* writes go to mr's callbacks */
    TLB_READ_XLAT = 16,   /* reads copy from host while the side entry holds */
    TLB_WRITE_XLAT = 32,  /* writes copy to host while the side entry holds */
};

/* One cache line: a fill writes one line, a hit reads one. */
typedef struct TlbEntry {
    _Alignas(MR_CACHE_LINE) uint64_t gen; /* generation of the page's zone; 0: empty entry */
    uint64_t page;                        /* addr >> TLB_PAGE_BITS */
    uint8_t *host;                        /* the page's first byte, for direct access */
    MemoryRegion *mr;                     /* the region serving the page */
    hwaddr off;                           /* offset in mr of the page's first byte */
    unsigned flags;
    const ViewSlot *slot; /* the slot it was filled under (tlb_revalidate_entry) */
} TlbEntry;

/* What a TLB_*_XLAT entry depends on besides its own view. */
typedef struct TlbXlat {
    const uint64_t *iommu_gen_src; /* the IOMMU's generation counter */
    uint64_t iommu_gen;            /* its value when translated */
    AddressSpace *target;          /* where the IOMMU led */
    uint64_t target_page;          /* page number there */
    uint64_t target_gen;           /* generation of its zone in target's view */
    uint32_t attrs;                /* attrs_key() of the access it was filled for */
} TlbXlat;

/*
 * A thread's TLB, on the heap: 112 KiB in static TLS would keep the library
 * from being dlopen()ed (glibc leaves a few hundred bytes of static TLS for
 * libraries loaded later). Until its first fill a thread points at
 * tlb_none, whose entries never match (generation 0) and which is never
 * written; the first fill allocates the thread's own, which a key
 * destructor frees when the thread exits.
 */
typedef struct Tlb {
    TlbEntry e[1u << TLB_BITS];
    TlbXlat x[1u << TLB_BITS];
} Tlb;

static Tlb tlb_none;
static MR_THREAD Tlb *tlb_mine = &tlb_none;
static pthread_key_t tlb_key;
static pthread_once_t tlb_key_once = PTHREAD_ONCE_INIT;

static void tlb_release(void *p)
{
    free(p);
    tlb_mine = &tlb_none; /* a later destructor may still read memory */
}

static void tlb_key_init(void)
{
    if (pthread_key_create(&tlb_key, tlb_release))
        mr_oom(__func__);
}

/* This thread's own TLB, allocated at its first fill. */
static __attribute__((noinline)) Tlb *tlb_own(void)
{
    pthread_once(&tlb_key_once, tlb_key_init);
    Tlb *t = mr_alloc_lines(sizeof(*t), __func__);
    memset(t, 0, sizeof(*t));
    if (pthread_setspecific(tlb_key, t))
        mr_oom(__func__);
    tlb_mine = t;
    return t;
}

/* This thread's entry for @addr's page (of tlb_none before its first fill). */
#define TLB_ENTRY(addr) (&tlb_mine->e[tlb_index(addr)])
/* The side entry of @e, an entry of this thread's TLB. */
#define TLB_XLAT(e) (&tlb_mine->x[(e)-tlb_mine->e])

uint64_t memregion_stat_tlb_fills(void)
{
    return mr_ts.tlb_fills;
}

uint64_t memregion_stat_tlb_revalidations(void)
{
    return mr_ts.tlb_revalidations;
}

/*
 * The entry of @addr's page: its page number with the bits above the
 * index folded in (xor). Indexed by the low bits alone, regions placed at
 * a power-of-two stride (BARs, the 4 KiB-every-8 KiB layouts of device
 * arrays) would share a fraction of the entries and evict each other
 * while the rest stayed empty: 1,024 one-page regions at stride 2 pages
 * used 512 entries. Folded, pages at any stride of 2^k pages spanning up
 * to 2^(TLB_BITS + k) pages get distinct entries, and consecutive pages
 * keep consecutive ones.
 */
static inline unsigned tlb_index(hwaddr addr)
{
    uint64_t page = addr >> TLB_PAGE_BITS;
    return (unsigned)(page ^ (page >> TLB_BITS)) & ((1u << TLB_BITS) - 1);
}

/* Every field of @a in one word (the struct's padding bits are unspecified). */
static inline uint32_t attrs_key(MemTxAttrs a)
{
    return a.unspecified | a.secure << 1 | a.user << 2 | a.debug << 3 |
           (uint32_t)a.requester_id << 4 | (uint32_t)a.byte_enable << 20;
}

/*
 * Is the translation behind an XLAT entry still the IOMMU's answer, and the
 * target page still what it was? Inside the read-side section, after the
 * entry's own view matched (so the IOMMU region is alive). An access nested
 * MR_IOMMU_MAX_DEPTH IOMMUs deep passes no further IOMMU, cached or not.
 */
/* Out of line: only IOMMU pages reach it, and inlined it made the hit path
 * of every access too large to inline (see tlb_access). */
static __attribute__((noinline)) bool tlb_xlat_valid(const TlbXlat *x, MemTxAttrs attrs)
{
    /* MR_PLANT_STALE_IOMMU_TLB is a planted fault (tests/unit/meson.build):
     * without the generation check an invalidated translation keeps answering. */
#ifndef MR_PLANT_STALE_IOMMU_TLB
    if (__atomic_load_n(x->iommu_gen_src, __ATOMIC_ACQUIRE) != x->iommu_gen)
        return false;
#endif
    const ViewSlot *ts = rcu_dereference(x->target->slot);
    return attrs_key(attrs) == x->attrs && mr_ts.iommu_depth < MR_IOMMU_MAX_DEPTH && ts &&
           slot_tlb_gen(ts, x->target_page) == x->target_gen;
}

/*
 * Perform a transfer that stays inside one cached page (@one: a typed
 * access, see callback_access). Inside the read-side section; returns false
 * on a miss (section still held), true when done (section ended) with the
 * result in *r.
 */
/* Always inlined: the hit is the whole of a cached access. Called out of
 * line, as gcc chose once it had three callers, a RAM read took 174
 * instructions instead of 130 (callgrind, one 4-byte address_space_read). */
static inline __attribute__((always_inline)) bool tlb_use(const TlbEntry *e, hwaddr addr,
                                                          uint8_t *buf, hwaddr len, bool is_write,
                                                          MemTxAttrs attrs, bool one,
                                                          MemTxResult *r)
{
    hwaddr in_page = addr & (TLB_PAGE_SIZE - 1);
    unsigned f = e->flags;
    if ((f & (is_write ? TLB_WRITE_DIRECT : TLB_READ_DIRECT)) ||
        ((f & (is_write ? TLB_WRITE_XLAT : TLB_READ_XLAT)) && tlb_xlat_valid(TLB_XLAT(e), attrs))) {
        if (is_write)
            copy_bytes(e->host + in_page, buf, len);
        else
            copy_bytes(buf, e->host + in_page, len);
        rcu_read_unlock();
        *r = MEMTX_OK;
        return true;
    }
    if (f & (is_write ? TLB_WRITE_CALL : TLB_READ_CALL)) {
        *r = callback_access(e->mr, e->off + in_page, buf, len, is_write, attrs, one);
        return true;
    }
    return false;
}

/* This thread's entry for the page of @addr when it is valid in the
 * current view of @as (whose slot @s is, NULL while it has no view), else
 * NULL. The generation comes from the slot (slot_tlb_gen()): a hit reads
 * no version of the view. */
static inline const TlbEntry *tlb_match(const ViewSlot *s, hwaddr addr)
{
    const TlbEntry *e = TLB_ENTRY(addr);
    uint64_t page = addr >> TLB_PAGE_BITS;
    return s && e->gen == slot_tlb_gen(s, page) && e->page == page ? e : NULL;
}

/*
 * Keep entry @e of @page, which no longer matches its zone's generation in
 * @s, when it was filled under @s and the zone's span shows that no commit
 * since then changed its page (see ViewSlot): it takes the zone's
 * generation (true); else false. Inside the read-side section. The span is
 * read between two reads of the generation, in the order that makes a span
 * read during a commit safe to use. A slot freed and its memory reused for
 * another slot cannot pass for the old one: every `since` of the new slot is
 * at least the seq of its first version, newer than any generation of the
 * old slot (before that version it is FV_TLB_GEN_EMPTY).
 */
static __attribute__((noinline)) bool tlb_revalidate_entry(const ViewSlot *s, TlbEntry *e,
                                                           uint64_t page)
{
    if (!s || !e->gen || e->slot != s)
        return false;
    unsigned z = fv_zone(page);
    const struct Zone *sp = &s->zone[z];
    uint64_t g = __atomic_load_n(&sp->gen, __ATOMIC_ACQUIRE);
    uint64_t hi = __atomic_load_n(&sp->hi, __ATOMIC_ACQUIRE);
    uint64_t lo = __atomic_load_n(&sp->lo, __ATOMIC_ACQUIRE);
    uint64_t since = __atomic_load_n(&sp->since, __ATOMIC_ACQUIRE);
    if (g == FV_TLB_GEN_EMPTY || e->gen < since || (lo <= page && page <= hi) ||
        __atomic_load_n(&sp->gen, __ATOMIC_ACQUIRE) != g)
        return false;
    e->gen = g;
    mr_ts.tlb_revalidations++;
    return true;
}

/* tlb_revalidate_entry() for the entry of @addr, when it holds @addr's page
 * (a miss for another page costs one compare). */
static inline bool tlb_revalidate(AddressSpace *as, hwaddr addr)
{
    TlbEntry *e = TLB_ENTRY(addr);
    uint64_t page = addr >> TLB_PAGE_BITS;
    return e->page == page && tlb_revalidate_entry(rcu_dereference(as->slot), e, page);
}

static inline __attribute__((always_inline)) bool tlb_access(const ViewSlot *s, hwaddr addr,
                                                             uint8_t *buf, hwaddr len,
                                                             bool is_write, MemTxAttrs attrs,
                                                             bool one, MemTxResult *r)
{
    const TlbEntry *e = tlb_match(s, addr);
    return e && tlb_use(e, addr, buf, len, is_write, attrs, one, r);
}

/* May an entry filled under @tag (as_view_for_fill()) cache the page at
 * @page, that is, does range @fr serve all of it? */
static inline bool tlb_covers(FillTag tag, const FlatRange *fr, hwaddr page)
{
    return tag.gen != FV_TLB_GEN_EMPTY && page >= fr->addr &&
           (mr_size_t)page + TLB_PAGE_SIZE <= fr_end(fr);
}

/* Direct-copy flags for a page served by range @fr (0 when it needs callbacks). */
static inline unsigned tlb_direct_flags(const FlatRange *fr)
{
    if (fr->mr_kind == MR_KIND_RAM)
        return TLB_READ_DIRECT | (!fr->readonly && !fr->dirty_log_mask ? TLB_WRITE_DIRECT : 0);
    return fr_reads_direct(fr) ? TLB_READ_DIRECT : 0;
}

/* Fill the entry of the page at @page under @tag: served by
 * range @fr from its address @fr_addr on (@fr is of another view for an
 * IOMMU page). */
static TlbEntry *tlb_claim(FillTag tag, hwaddr page, const FlatRange *fr, hwaddr fr_addr,
                           unsigned flags)
{
    Tlb *t = tlb_mine;
    if (__builtin_expect(t == &tlb_none, 0))
        t = tlb_own();
    TlbEntry *e = &t->e[tlb_index(page)];
    e->page = page >> TLB_PAGE_BITS;
    e->gen = tag.gen;
    e->slot = tag.slot;
    mr_ts.tlb_fills++;
    e->mr = fr->mr;
    e->off = fr->offset_in_region + (fr_addr - fr->addr);
    e->host = fr_host(fr, fr_addr);
    e->flags = flags;
    return e;
}

/* Remember the page of @addr, under @tag, when range @fr serves
 * all of it; false when it does not (or is an IOMMU range: tlb_fill_iommu). */
static inline bool tlb_fill(FillTag tag, const FlatRange *fr, hwaddr addr)
{
    hwaddr page = addr & ~(TLB_PAGE_SIZE - 1);
    if (!tlb_covers(tag, fr, page) || fr->mr_kind == MR_KIND_IOMMU)
        return false;
    unsigned f = tlb_direct_flags(fr);
    if (fr->mr_kind != MR_KIND_RAM)
        f |= (f & TLB_READ_DIRECT ? 0 : TLB_READ_CALL) | TLB_WRITE_CALL;
    tlb_claim(tag, page, fr, page, f);
    return true;
}

/*
 * Remember the page of @addr, in IOMMU range @fr, under @tag,
 * when the IOMMU translates all of it for this access to memory that is
 * copied directly. Inside the read-side section. The IOMMU generation is
 * read before the translation and the target's view after it, so an event
 * or a commit that races with the fill leaves an entry that already misses.
 */
static void tlb_fill_iommu(FillTag tag, const FlatRange *fr, hwaddr addr, bool is_write,
                           MemTxAttrs attrs)
{
    hwaddr page = addr & ~(TLB_PAGE_SIZE - 1);
    IommuPageXlat x;
    if (!tlb_covers(tag, fr, page) ||
        !iommu_page_xlat(fr->mr, fr->offset_in_region + (page - fr->addr),
                         fr->offset_in_region + (addr - fr->addr), is_write, attrs, &x))
        return;
    uint64_t tpage = x.addr >> TLB_PAGE_BITS;
    FillTag ttag;
    FlatView *tfv = as_view_for_fill(x.as, tpage, &ttag);
    const FlatRange *tfr = flatview_lookup_fast(tfv, x.addr);
    if (!tfr || !tlb_covers(ttag, tfr, x.addr))
        return;
    unsigned f = tlb_direct_flags(tfr);
    unsigned xf = (f & TLB_READ_DIRECT && x.perm & IOMMU_RO ? TLB_READ_XLAT : 0) |
                  (f & TLB_WRITE_DIRECT && x.perm & IOMMU_WO ? TLB_WRITE_XLAT : 0);
    if (!(xf & (is_write ? TLB_WRITE_XLAT : TLB_READ_XLAT)))
        return; /* the access itself takes the walk; keep what the entry had */
    TlbEntry *e = tlb_claim(tag, page, tfr, x.addr, xf);
    *TLB_XLAT(e) = (TlbXlat){.iommu_gen_src = x.gen_src,
                             .iommu_gen = x.gen,
                             .target = x.as,
                             .target_page = tpage,
                             .target_gen = ttag.gen,
                             .attrs = attrs_key(attrs)};
}

/*
 * The access at @addr (inside one page) found IOMMU range @fr, with
 * fill tag @tag (as_view_for_fill()), on a TLB miss: cache the page when it translates to memory
 * and perform the access from the new entry. False (section still held) when that cannot be done;
 * the caller walks the IOMMU.
 */
static bool tlb_iommu_access(FillTag tag, const FlatRange *fr, hwaddr addr, uint8_t *buf,
                             hwaddr len, bool is_write, MemTxAttrs attrs, bool one, MemTxResult *r)
{
    tlb_fill_iommu(tag, fr, addr, is_write, attrs);
    return tlb_access(tag.slot, addr, buf, len, is_write, attrs, one, r);
}

static MemTxResult access_bytes_slow(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf,
                                     hwaddr len, bool is_write)
{
    MemTxResult result = MEMTX_OK;
    while (len) {
        rcu_read_lock();
        FillTag tag;
        FlatView *fv = as_view_for_fill(as, addr >> TLB_PAGE_BITS, &tag);
        MemTxResult r;
        bool in_page = (addr & (TLB_PAGE_SIZE - 1)) + len <= TLB_PAGE_SIZE;
        if (in_page && tlb_access(tag.slot, addr, buf, len, is_write, attrs, false, &r))
            return result | r;
        const FlatRange *fr = flatview_lookup_fast(fv, addr);
        uint64_t n;
        if (!fr) {
            mr_size_t end = flatview_hole_end(fv, addr);
            n = (uint64_t)MR_MIN((mr_size_t)len, end - addr);
            if (!is_write)
                memset(buf, __atomic_load_n(&as->unassigned_byte, __ATOMIC_RELAXED), n);
            result |= MEMTX_DECODE_ERROR;
            rcu_read_unlock();
        } else {
            MemoryRegion *mr = fr->mr;
            n = (uint64_t)MR_MIN((mr_size_t)len, fr_end(fr) - addr);
            hwaddr off = fr->offset_in_region + (addr - fr->addr);
            tlb_fill(tag, fr, addr);
            if (fr_direct(fr, is_write)) {
                result |= ram_access(fr, addr, buf, n, is_write, attrs);
                rcu_read_unlock();
            } else if (fr->mr_kind == MR_KIND_IOMMU) {
                /* IOMMU hook: a page that translates to memory is cached and
                 * copied now; anything else goes one IOMMU page at a time
                 * through the target address space. */
                if (in_page &&
                    tlb_iommu_access(tag, fr, addr, buf, len, is_write, attrs, false, &r))
                    return result | r;
                result |= iommu_access(mr, off, buf, &n, is_write, attrs);
            } else {
                result |= callback_access(mr, off, buf, n, is_write, attrs, false);
            }
        }
        buf += n;
        len -= n;
        if (len && addr + n == 0) {
            /* The transfer runs past the top of the address space. */
            if (!is_write)
                memset(buf, __atomic_load_n(&as->unassigned_byte, __ATOMIC_RELAXED), len);
            return result | MEMTX_DECODE_ERROR;
        }
        addr += n;
    }
    return result;
}

static MemTxResult access_typed_slow(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf,
                                     unsigned size, bool is_write);

/* An access (@one: typed) on the paths that take any length and fill the
 * TLB; outside a read-side section. */
static inline MemTxResult access_slow(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf,
                                      hwaddr len, bool is_write, bool one)
{
    return one ? access_typed_slow(as, addr, attrs, buf, (unsigned)len, is_write)
               : access_bytes_slow(as, addr, attrs, buf, len, is_write);
}

/*
 * The rest of an access inside one page whose TLB entry matched but
 * neither copies directly nor calls a device for this direction (access_fast
 * handles those): an IOMMU translation, or an entry that does not serve
 * the direction. Inside the read-side section the match was found in, so
 * the entry is still valid. @one: a typed access (see callback_access).
 */
static inline __attribute__((always_inline)) MemTxResult access_hit(AddressSpace *as, hwaddr addr,
                                                                    MemTxAttrs attrs, uint8_t *buf,
                                                                    hwaddr len, bool is_write,
                                                                    bool one)
{
    MemTxResult r;
    if (tlb_use(TLB_ENTRY(addr), addr, buf, len, is_write, attrs, one, &r))
        return r;
    rcu_read_unlock();
    return access_slow(as, addr, attrs, buf, len, is_write, one);
}

/* @body (access_hit, access_miss) for a transfer and for a typed access,
 * as functions of the fast path's arguments, so that it reaches them with
 * a tail call. */
#define ACCESS_ENTRIES(bytes_name, typed_name, body)                                               \
    static __attribute__((noinline)) MemTxResult bytes_name(                                       \
        AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf, hwaddr len, bool is_write)  \
    {                                                                                              \
        return body(as, addr, attrs, buf, len, is_write, false);                                   \
    }                                                                                              \
    static __attribute__((noinline)) MemTxResult typed_name(                                       \
        AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf, hwaddr len, bool is_write)  \
    {                                                                                              \
        return body(as, addr, attrs, buf, len, is_write, true);                                    \
    }
ACCESS_ENTRIES(access_bytes_hit, access_typed_hit, access_hit)

/*
 * An access inside one page, of 1, 2, 4 or 8 bytes, that missed this
 * thread's TLB in access_fast, still inside the read-side section that
 * found @as's view: look the range up, fill the entry, perform the access.
 * It reads the range and, for a callback region, the region's ops: not a
 * RAM region, whose kind and memory the range holds. What one range does
 * not serve whole (a hole, an IOMMU range, an access across a range's end)
 * takes the slow paths. The view's shared most-recently-used range is
 * written only when the TLB cannot hold the page: a TLB already remembers
 * every other range for this thread, and the line is read by every lookup.
 */
static inline __attribute__((always_inline)) MemTxResult access_miss(AddressSpace *as, hwaddr addr,
                                                                     MemTxAttrs attrs, uint8_t *buf,
                                                                     hwaddr len, bool is_write,
                                                                     bool one)
{
    if (tlb_revalidate(as, addr)) /* the page is unchanged: a hit after all */
        return one ? access_typed_hit(as, addr, attrs, buf, len, is_write)
                   : access_bytes_hit(as, addr, attrs, buf, len, is_write);
    FillTag tag;
    FlatView *fv = as_view_for_fill(as, addr >> TLB_PAGE_BITS, &tag);
    const FlatRange *fr = __atomic_load_n(&fv->mru, __ATOMIC_RELAXED);
    if (!fr || !fr_contains(fr, addr)) {
        fr = flatview_lookup(fv, addr);
        if (fr && !tlb_fill(tag, fr, addr))
            __atomic_store_n(&fv->mru, fr, __ATOMIC_RELAXED);
    } else {
        tlb_fill(tag, fr, addr);
    }
    if (fr && fr_end(fr) - addr >= len && fr->mr_kind != MR_KIND_IOMMU) {
        if (fr_direct(fr, is_write)) {
            MemTxResult r = ram_access(fr, addr, buf, len, is_write, attrs);
            rcu_read_unlock();
            return r;
        }
        return callback_access(fr->mr, fr->offset_in_region + (addr - fr->addr), buf, len, is_write,
                               attrs, one);
    }
    rcu_read_unlock();
    return access_slow(as, addr, attrs, buf, len, is_write, one);
}
ACCESS_ENTRIES(access_bytes_miss, access_typed_miss, access_miss)

/* callback_access out of line, for the callback wrappers below: @how is
 * 1 for a write, 2 for a typed access. */
static __attribute__((noinline)) MemTxResult callback_access_any(MemoryRegion *mr, hwaddr off,
                                                                 MemTxAttrs attrs, uint8_t *buf,
                                                                 uint64_t n, unsigned how)
{
    return how == 0   ? callback_access(mr, off, buf, n, false, attrs, false)
           : how == 1 ? callback_access(mr, off, buf, n, true, attrs, false)
           : how == 2 ? callback_access(mr, off, buf, n, false, attrs, true)
                      : callback_access(mr, off, buf, n, true, attrs, true);
}

/*
 * callback_access as a function of five arguments, one per direction and
 * kind, so that the fast path below reaches it with a tail call (its last
 * three arguments in the registers where the fast path received them). An
 * access the device takes as it is (mmio_is_straight), from a thread in no
 * callback, and no write an ioeventfd may take, goes on with a jump to
 * mmio_straight_*_leave, which holds the only stack frame of the call;
 * anything else to callback_access_any. Only access_fast calls these, for
 * a thread that was in no read-side section before it entered its own, so
 * no section of the caller's is open to suspend (nested_call does that).
 */
#define CALLBACK_CALL(name, is_write, one)                                                         \
    static __attribute__((noinline)) MemTxResult name(MemoryRegion *mr, hwaddr off,                \
                                                      MemTxAttrs attrs, uint8_t *buf, uint64_t n)  \
    {                                                                                              \
        if (mmio_is_straight(mr, off, n) && !((is_write) && mr->ext) &&                            \
            callrec_try_enter_outermost(mr)) {                                                     \
            rcu_read_unlock();                                                                     \
            return (is_write) ? mmio_straight_write_leave(mr, off, attrs, buf, n)                  \
                              : mmio_straight_read_leave(mr, off, attrs, buf, n);                  \
        }                                                                                          \
        return callback_access_any(mr, off, attrs, buf, n, (is_write) | (one) << 1);               \
    }
CALLBACK_CALL(callback_bytes_read, false, false)
CALLBACK_CALL(callback_bytes_write, true, false)
CALLBACK_CALL(callback_typed_read, false, true)
CALLBACK_CALL(callback_typed_write, true, true)

/* A direct copy for a TLB entry @e that matched: true when it served the access. */
static inline __attribute__((always_inline)) bool tlb_copy(const TlbEntry *e, hwaddr in_page,
                                                           uint8_t *buf, hwaddr len, bool is_write)
{
    if (!e || !(e->flags & (is_write ? TLB_WRITE_DIRECT : TLB_READ_DIRECT)))
        return false;
    uint8_t *host = e->host + in_page;
    uint8_t *dst = is_write ? host : buf;
    const uint8_t *src = is_write ? buf : host;
    /* len is typed (1, 2, 4 or 8). The common sizes first, each a copy of
     * its own, so that one is the straight line to the return. */
    if (__builtin_expect(len == 4, 1))
        mr_store_host(dst, mr_load_host(src, 4), 4);
    else if (len == 8)
        mr_store_host(dst, mr_load_host(src, 8), 8);
    else
        mr_store_host(dst, mr_load_host(src, (unsigned)len), (unsigned)len);
    return true;
}

/*
 * The rest of a fast-path access of 1, 2, 4 or 8 bytes inside one page,
 * after entry @e (NULL: none) matched but did not copy directly: inside a
 * read-side section that the paths it goes on to end.
 */
static inline __attribute__((always_inline)) MemTxResult
access_matched(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf, hwaddr len,
               bool is_write, bool one, const TlbEntry *e)
{
    if (e && (e->flags & (is_write ? TLB_WRITE_CALL : TLB_READ_CALL))) {
        MemoryRegion *mr = e->mr;
        hwaddr off = e->off + (addr & (TLB_PAGE_SIZE - 1));
        if (one)
            return is_write ? callback_typed_write(mr, off, attrs, buf, len)
                            : callback_typed_read(mr, off, attrs, buf, len);
        return is_write ? callback_bytes_write(mr, off, attrs, buf, len)
                        : callback_bytes_read(mr, off, attrs, buf, len);
    }
    if (e)
        return one ? access_typed_hit(as, addr, attrs, buf, len, is_write)
                   : access_bytes_hit(as, addr, attrs, buf, len, is_write);
    /* A miss, or no view yet (access_miss finds nothing in the empty one). */
    return one ? access_typed_miss(as, addr, attrs, buf, len, is_write)
               : access_bytes_miss(as, addr, attrs, buf, len, is_write);
}

/*
 * A device access from nested_*: one the device takes as it is, from a
 * thread in no callback, enters the call record inside the caller's
 * section, which is suspended while the callback runs (read_section.c);
 * anything else goes on as callback_access in a section of its own.
 */
static __attribute__((noinline)) MemTxResult
nested_call(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs, uint8_t *buf, hwaddr n, unsigned how)
{
    bool is_write = how & 1; /* how: as callback_access_any's (is_write | one << 1) */
    if (mmio_is_straight(mr, off, n) && !(is_write && mr->ext) && callrec_try_enter_outermost(mr)) {
        mr_section_suspend(MR_SUSPEND_CALLBACK_STRAIGHT);
        return is_write ? mmio_straight_write_leave_resume(mr, off, attrs, buf, n)
                        : mmio_straight_read_leave_resume(mr, off, attrs, buf, n);
    }
    mr_rcu_lock_nested();
    return callback_access_any(mr, off, attrs, buf, n, how);
}

/*
 * The fast path of a thread inside a read-side section already (one it
 * holds with memregion_read_section_begin, as QEMU's callers hold
 * rcu_read_lock(), or any other): a direct hit needs no section of its
 * own; anything else enters one nested in it, since the paths after the
 * match end one. One function per direction and kind, so that
 * access_fast reaches it with a jump and it needs no frame either.
 */
#define NESTED_ACCESS(name, is_write, one)                                                         \
    static __attribute__((noinline)) MemTxResult name(AddressSpace *as, hwaddr addr,               \
                                                      MemTxAttrs attrs, uint8_t *buf, hwaddr len)  \
    {                                                                                              \
        const TlbEntry *e = tlb_match(rcu_dereference(as->slot), addr);                            \
        if (tlb_copy(e, addr & (TLB_PAGE_SIZE - 1), buf, len, is_write))                           \
            return MEMTX_OK;                                                                       \
        if (e && (e->flags & ((is_write) ? TLB_WRITE_CALL : TLB_READ_CALL)))                       \
            return nested_call(e->mr, e->off + (addr & (TLB_PAGE_SIZE - 1)), attrs, buf, len,      \
                               (is_write) | (one) << 1);                                           \
        mr_rcu_lock_nested();                                                                      \
        return access_matched(as, addr, attrs, buf, len, is_write, one, e);                        \
    }
NESTED_ACCESS(nested_bytes_read, false, false)
NESTED_ACCESS(nested_bytes_write, true, false)
NESTED_ACCESS(nested_typed_read, false, true)
NESTED_ACCESS(nested_typed_write, true, true)

/*
 * An access: a transfer, or a typed access (@one). Its fast path, 1, 2, 4
 * or 8 bytes of a page the TLB copies directly or hands to a callback
 * region, makes no call but tail calls, so it needs no stack frame (a
 * third of what a RAM read cost before). A thread not yet known to liburcu, an address space
 * without a view, other lengths and transfers that cross a page take the slow paths.
 */
static inline __attribute__((always_inline)) MemTxResult access_fast(AddressSpace *as, hwaddr addr,
                                                                     MemTxAttrs attrs, uint8_t *buf,
                                                                     hwaddr len, bool is_write,
                                                                     bool one)
{
    hwaddr in_page = addr & (TLB_PAGE_SIZE - 1);
    if (!typed_size(len) || in_page + len > TLB_PAGE_SIZE || !mr_rcu_registered())
        return access_slow(as, addr, attrs, buf, len, is_write, one);
    if (mr_rcu_lock_unless_nested()) {
        if (one)
            return is_write ? nested_typed_write(as, addr, attrs, buf, len)
                            : nested_typed_read(as, addr, attrs, buf, len);
        return is_write ? nested_bytes_write(as, addr, attrs, buf, len)
                        : nested_bytes_read(as, addr, attrs, buf, len);
    }
    const TlbEntry *e = tlb_match(rcu_dereference(as->slot), addr);
    if (tlb_copy(e, in_page, buf, len, is_write))
        return mr_hit_section_end();
    return access_matched(as, addr, attrs, buf, len, is_write, one, e);
}

MemTxResult address_space_read(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, void *buf,
                               hwaddr len)
{
    return access_fast(as, addr, attrs, buf, len, false, false);
}

MemTxResult address_space_write(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, const void *buf,
                                hwaddr len)
{
    /* Writes never modify the caller's buffer; the shared path is byte-generic. */
    return access_fast(as, addr, attrs, (uint8_t *)buf, len, true, false);
}

MemTxResult address_space_rw(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, void *buf, hwaddr len,
                             bool is_write)
{
    return access_fast(as, addr, attrs, buf, len, is_write, false);
}

/* ---- typed helpers ------------------------------------------------------------- */

/*
 * One typed access of @size bytes, as QEMU's ld/st helpers make it: when
 * its bytes lie in one callback range it is exactly one access, checked
 * against the device's `valid`. Memory is copied; an access that straddles
 * ranges takes the buffer path (QEMU would hand the whole access to the
 * first region, past its end).
 */
static MemTxResult access_typed_slow(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, uint8_t *buf,
                                     unsigned size, bool is_write)
{
    rcu_read_lock();
    FillTag tag;
    FlatView *fv = as_view_for_fill(as, addr >> TLB_PAGE_BITS, &tag);
    MemTxResult r;
    bool in_page = (addr & (TLB_PAGE_SIZE - 1)) + size <= TLB_PAGE_SIZE;
    if (in_page && tlb_access(tag.slot, addr, buf, size, is_write, attrs, true, &r))
        return r;
    const FlatRange *fr = flatview_lookup_fast(fv, addr);
    if (fr && fr_end(fr) - addr >= size) {
        MemoryRegion *mr = fr->mr;
        hwaddr off = fr->offset_in_region + (addr - fr->addr);
        if (in_page)
            tlb_fill(tag, fr, addr);
        if (fr_direct(fr, is_write)) {
            r = ram_access(fr, addr, buf, size, is_write, attrs);
            rcu_read_unlock();
            return r;
        }
        if (fr->mr_kind == MR_KIND_IOMMU) {
            if (in_page && tlb_iommu_access(tag, fr, addr, buf, size, is_write, attrs, true, &r))
                return r;
            /* IOMMU hook: still one access, in the target address space, when
             * one IOMMU page holds it; otherwise the buffer path splits it. */
            uint64_t n = size;
            AddressSpace *tas;
            hwaddr taddr;
            r = iommu_translate_one(mr, off, &n, is_write, attrs, &tas, &taddr);
            if (r != MEMTX_OK || n < size) {
                if (r == MEMTX_OK)
                    iommu_translate_done();
                return access_bytes_slow(as, addr, attrs, buf, size, is_write);
            }
            r = access_typed_slow(tas, taddr, attrs, buf, size, is_write);
            iommu_translate_done();
            return r;
        }
        return callback_access(mr, off, buf, size, is_write, attrs, true);
    }
    rcu_read_unlock();
    return access_bytes_slow(as, addr, attrs, buf, size, is_write);
}

static inline __attribute__((always_inline)) uint64_t load(AddressSpace *as, hwaddr addr,
                                                           MemTxAttrs attrs, MemTxResult *result,
                                                           unsigned size, bool big_endian)
{
    uint8_t b[8];
    MemTxResult r = access_fast(as, addr, attrs, b, size, false, true);
    if (result)
        *result = r;
    return mr_bytes_to_value(b, size, big_endian);
}

static inline __attribute__((always_inline)) void store(AddressSpace *as, hwaddr addr, uint64_t v,
                                                        MemTxAttrs attrs, MemTxResult *result,
                                                        unsigned size, bool big_endian)
{
    uint8_t b[8];
    mr_value_to_bytes(v, b, size, big_endian);
    MemTxResult r = access_fast(as, addr, attrs, b, size, true, true);
    if (result)
        *result = r;
}

#define MR_LOAD(name, type, size, be)                                                              \
    type name(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result)                \
    {                                                                                              \
        return (type)load(as, addr, attrs, result, size, be);                                      \
    }
#define MR_STORE(name, type, size, be)                                                             \
    void name(AddressSpace *as, hwaddr addr, type val, MemTxAttrs attrs, MemTxResult *result)      \
    {                                                                                              \
        store(as, addr, val, attrs, result, size, be);                                             \
    }

MR_LOAD(address_space_ldub, uint8_t, 1, false)
MR_LOAD(address_space_lduw_le, uint16_t, 2, false)
MR_LOAD(address_space_lduw_be, uint16_t, 2, true)
MR_LOAD(address_space_ldl_le, uint32_t, 4, false)
MR_LOAD(address_space_ldl_be, uint32_t, 4, true)
MR_LOAD(address_space_ldq_le, uint64_t, 8, false)
MR_LOAD(address_space_ldq_be, uint64_t, 8, true)
MR_STORE(address_space_stb, uint8_t, 1, false)
MR_STORE(address_space_stw_le, uint16_t, 2, false)
MR_STORE(address_space_stw_be, uint16_t, 2, true)
MR_STORE(address_space_stl_le, uint32_t, 4, false)
MR_STORE(address_space_stl_be, uint32_t, 4, true)
MR_STORE(address_space_stq_le, uint64_t, 8, false)
MR_STORE(address_space_stq_be, uint64_t, 8, true)

/* ---- translate ------------------------------------------------------------------- */

/* @out for @addr in range @fr (not an IOMMU range), inside the section. */
static inline void section_of_range(const FlatRange *fr, hwaddr addr, bool is_write,
                                    MemTxAttrs attrs, MemoryRegionSection *out)
{
    hwaddr delta = addr - fr->addr;
    out->mr = fr->mr;
    out->offset_within_address_space = addr;
    out->offset_within_region = fr->offset_in_region + delta;
    out->size = (mr_size_t)(fr_last_offset(fr) - delta) + 1; /* delta <= last offset */
    out->readonly = fr->readonly;
    bool direct = is_write ? fr_writes_direct(fr, attrs.debug) : fr_reads_direct(fr);
    out->host = direct ? fr->mr_ram + out->offset_within_region : NULL;
}

/* address_space_translate past its fast path: inside the read-side
 * section; ends it. */
static __attribute__((noinline)) MemTxResult translate_in(AddressSpace *as, hwaddr addr,
                                                          bool is_write, MemTxAttrs attrs,
                                                          MemoryRegionSection *out)
{
    MemTxResult r = MEMTX_OK;
    out->offset_within_address_space = addr;
    out->host = NULL;
    FlatView *fv = as_view(as);
    const FlatRange *fr = flatview_lookup_slow(fv, addr); /* the MRU range missed */
    if (!fr) {
        out->mr = NULL;
        out->offset_within_region = 0;
        out->readonly = false;
        out->size = flatview_hole_end(fv, addr) - addr;
        r = MEMTX_DECODE_ERROR;
    } else if (fr->mr_kind == MR_KIND_IOMMU) {
        /* IOMMU hook: follow the translation to the region that serves it. */
        r = iommu_translate_section(as, addr, is_write, attrs, out);
    } else {
        section_of_range(fr, addr, is_write, attrs, out);
    }
    rcu_read_unlock();
    return r;
}

/* translate_in in a section of its own: a thread's first (which registers
 * it with liburcu), or nested in the caller's section past the shortcut. */
static __attribute__((noinline)) MemTxResult translate_locking(AddressSpace *as, hwaddr addr,
                                                               bool is_write, MemTxAttrs attrs,
                                                               MemoryRegionSection *out)
{
    rcu_read_lock();
    return translate_in(as, addr, is_write, attrs, out);
}

/* address_space_translate inside a section already (the caller's, as
 * QEMU's callers hold rcu_read_lock()): the shortcut needs none of its own.
 * The shortcut is written out here and below rather than shared: as one
 * inline helper returning a flag, gcc gave both paths 7 more instructions. */
static __attribute__((noinline)) MemTxResult translate_nested(AddressSpace *as, hwaddr addr,
                                                              bool is_write, MemTxAttrs attrs,
                                                              MemoryRegionSection *out)
{
    FlatView *fv = as_view_or_null(as);
    const FlatRange *mru = fv ? __atomic_load_n(&fv->mru, __ATOMIC_RELAXED) : NULL;
    if (mru && fr_contains(mru, addr) && mru->mr_kind != MR_KIND_IOMMU) {
        section_of_range(mru, addr, is_write, attrs, out);
        return MEMTX_OK;
    }
    return translate_locking(as, addr, is_write, attrs, out);
}

/* The fast path, an address in the view's most recently used range, makes
 * only tail calls, so it needs no stack frame. */
MemTxResult address_space_translate(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs,
                                    MemoryRegionSection *out)
{
    if (!mr_rcu_registered())
        return translate_locking(as, addr, is_write, attrs, out);
    if (mr_rcu_lock_unless_nested())
        return translate_nested(as, addr, is_write, attrs, out);
    FlatView *fv = as_view_or_null(as);
    const FlatRange *mru = fv ? __atomic_load_n(&fv->mru, __ATOMIC_RELAXED) : NULL;
    if (mru && fr_contains(mru, addr) && mru->mr_kind != MR_KIND_IOMMU) {
        section_of_range(mru, addr, is_write, attrs, out);
        return mr_hit_section_end();
    }
    return translate_in(as, addr, is_write, attrs, out);
}
