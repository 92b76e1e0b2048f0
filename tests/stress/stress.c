/*
 * Concurrency stress test: reader threads dispatch reads, writes and
 * translates through address spaces while a writer thread reconfigures the
 * map at random, and MMIO callbacks move their own BARs.
 *
 * Meant to run under ThreadSanitizer and AddressSanitizer (see README.md);
 * it also checks by itself that every reader sees consistent data:
 *
 * - Every 8-byte aligned word a reader can see is self-describing: it holds
 *   the kind and slot of the region it comes from, the word's index in that
 *   region and a hash of those fields. ROM and ROM-device memory are filled
 *   with these words; MMIO callbacks return the same words; scratch RAM
 *   holds words that depend only on the address, and readers only ever
 *   write such words. All regions, offsets and alias offsets are multiples
 *   of 4 KiB, so a word's index also matches the low bits of its address.
 *   Unassigned words read as all-ones.
 * - Guest RAM that is written is only ever mapped in one address space
 *   (scratch), used by one reader: two guest CPUs racing on the same RAM
 *   would be a race in the guest, which ThreadSanitizer would rightly
 *   report, not one in the library. The writer toggles dirty logging on
 *   that RAM while the reader writes it.
 * - translate and find_range return a region of the test (by identity) and
 *   offsets inside it; the host pointer of a region that is never destroyed
 *   points at the right word.
 * - Flat views are sorted and non-overlapping.
 *
 * Readers hold a read section of their own (memregion_read_section_begin)
 * across runs of up to 64 operations a third of the time, as a vCPU loop
 * would: the same checks then hold for accesses that skip the section of
 * their own, while the writer waits for grace periods and MMIO callbacks
 * move BARs (the library suspends the section around them).
 *
 * Environment: MEMREGION_STRESS_SECONDS (default 2) is the duration of the
 * random test; MEMREGION_STRESS_READERS (default 2) the number of readers;
 * MEMREGION_STRESS_FILTER (a cmocka pattern such as "test_random*") runs
 * only the matching tests.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "memregion/memregion.h"

#include "../support/rng.h"

#define PAGE        0x1000ull
#define WINDOW      0x400000ull /* regions of the root are mapped in [0, WINDOW) */
#define SUB_SIZE    0x40000ull  /* size of the sub-containers */
#define MAX_PAGES   4           /* regions are 1..4 pages */
#define UNASSIGNED  UINT64_MAX
#define MAX_READERS 16

/* ---- slots: each has a fixed kind and maximum size --------------------------- */

typedef enum SlotKind {
    K_PINNED_ROM, /* ROM that is never destroyed: its host pointer stays valid */
    K_ROM,
    K_SCRATCH, /* writable RAM holding address-derived words */
    K_MMIO,
    K_BAR, /* MMIO whose write callback sometimes moves the region itself */
    K_ROMD,
    K_CONTAINER,
    K_ALIAS,
} SlotKind;

enum { NR_PINNED = 6, NR_SLOTS = 96 };

/* Word kinds stored in bits 28..31. */
enum { WK_ROM = 1, WK_MMIO = 2, WK_ROMD = 3, WK_SCRATCH = 4 };
#define SCRATCH_ID 0xfffu

typedef enum SlotState { S_FREE, S_DETACHED, S_MAPPED } SlotState;

typedef struct Slot {
    MemoryRegion mr;
    /* Device state seen by callbacks: set before init, constant while initialised. */
    unsigned id;
    _Atomic unsigned long reads, writes;
    /* Writer-thread bookkeeping only. */
    SlotState state;
    struct Slot *parent; /* container slot, or NULL for the root */
    struct Slot *alias_target;
    bool enabled;
} Slot;

static Slot slots[NR_SLOTS];

static SlotKind slot_kind(unsigned i)
{
    if (i < NR_PINNED)
        return K_PINNED_ROM;
    static const SlotKind cycle[] = {K_ROM,  K_SCRATCH, K_MMIO, K_BAR,      K_ROMD,
                                     K_ROM,  K_ALIAS,   K_MMIO, K_ALIAS,    K_SCRATCH,
                                     K_ROMD, K_ALIAS,   K_ROM,  K_CONTAINER};
    return cycle[(i - NR_PINNED) % (sizeof(cycle) / sizeof(cycle[0]))];
}

static uint64_t slot_size(unsigned i)
{
    if (slot_kind(i) == K_CONTAINER)
        return SUB_SIZE;
    return (1 + i % MAX_PAGES) * PAGE;
}

static bool kind_terminates(SlotKind k)
{
    return k != K_CONTAINER && k != K_ALIAS;
}

/* The slot index of a terminating region of the test, or -1. */
static int slot_of(const MemoryRegion *mr)
{
    uintptr_t p = (uintptr_t)mr, lo = (uintptr_t)slots, hi = (uintptr_t)(slots + NR_SLOTS);
    if (p < lo || p >= hi || (p - lo) % sizeof(Slot) != offsetof(Slot, mr))
        return -1;
    int i = (int)((p - lo) / sizeof(Slot));
    return kind_terminates(slot_kind((unsigned)i)) ? i : -1;
}

/* ---- self-describing words ------------------------------------------------------ */

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x | 1; /* never 0xffffffff with the low half all-ones: see word_check */
}

static uint64_t make_word(unsigned wkind, unsigned id, unsigned idx)
{
    uint32_t lo = (uint32_t)(idx & 0xffff) | (id & 0xfff) << 16 | (uint32_t)wkind << 28;
    return (uint64_t)hash32(lo) << 32 | lo;
}

static uint64_t scratch_word(uint64_t addr)
{
    return make_word(WK_SCRATCH, SCRATCH_ID, (unsigned)((addr & (PAGE - 1)) >> 3));
}

static unsigned word_kind_of_slot(unsigned i)
{
    switch (slot_kind(i)) {
    case K_PINNED_ROM:
    case K_ROM:
        return WK_ROM;
    case K_MMIO:
    case K_BAR:
        return WK_MMIO;
    case K_ROMD:
        return WK_ROMD;
    default:
        return 0;
    }
}

/* The word at byte offset @off (8-aligned) of slot @i. */
static uint64_t slot_word(unsigned i, uint64_t off)
{
    return make_word(word_kind_of_slot(i), i, (unsigned)(off >> 3));
}

static void fill_words(Slot *s)
{
    uint64_t *p = memory_region_get_ram_ptr(&s->mr);
    for (uint64_t off = 0; off < slot_size(s->id); off += 8)
        p[off / 8] = slot_word(s->id, off);
}

/* Why @w cannot be the word at address @addr (8-aligned), or NULL when it can. */
static const char *word_check(uint64_t addr, uint64_t w)
{
    uint32_t lo = (uint32_t)w;
    if ((uint32_t)(w >> 32) != hash32(lo))
        return "hash mismatch (torn, stale or foreign data)";
    unsigned idx = lo & 0xffff, id = (lo >> 16) & 0xfff, wk = lo >> 28;
    if ((idx & 0x1ff) != ((addr & (PAGE - 1)) >> 3))
        return "word index does not match the address";
    if (wk == WK_SCRATCH)
        return id == SCRATCH_ID ? NULL : "bad scratch word";
    if (id >= NR_SLOTS || word_kind_of_slot(id) != wk)
        return "word names a slot of another kind";
    if ((uint64_t)idx * 8 >= slot_size(id))
        return "word index beyond its region";
    return NULL;
}

/* ---- failures ----------------------------------------------------------------- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long failures;
static char first_failure[512];

static void report_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report_failure(const char *fmt, ...)
{
    if (failures++ == 0) {
        pthread_mutex_lock(&fail_lock);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&fail_lock);
    }
}

/* ---- the world ------------------------------------------------------------------- */

static MemoryRegion root, bm_root, bm_alias, scratch_root;
static AddressSpace sys_as, bm_as, scratch_as;
static _Atomic int stop;
static _Atomic unsigned long bar_moves, nested_reads, destroys;
/* The SIGSEGV/SIGBUS handlers the process started with (a sanitizer's). */
static struct sigaction initial_segv, initial_bus;

static __thread uint64_t rng_state;
static __thread unsigned cb_depth;

static uint64_t rnd(void)
{
    return ts_rng_next(&rng_state);
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void check_ldq(AddressSpace *as, uint64_t addr, bool nested);

static uint64_t dev_read(void *opaque, hwaddr off, unsigned size)
{
    Slot *s = opaque;
    unsigned long n = s->reads++;
    cb_depth++;
    if (n % 16 == 0 && cb_depth < 3) {
        /* A device reading memory (DMA) from inside its callback. */
        nested_reads++;
        check_ldq(&sys_as, rnd() % WINDOW & ~7ull, true);
    }
    if (n % 64 == 0)
        sched_yield(); /* widen the window in which the region may be removed */
    cb_depth--;
    uint64_t w = slot_word(s->id, off & ~7ull);
    w >>= 8 * (off & 7);
    return size == 8 ? w : w & ((1ull << (8 * size)) - 1);
}

static void dev_write(void *opaque, hwaddr off, uint64_t data, unsigned size)
{
    (void)off;
    (void)data;
    (void)size;
    Slot *s = opaque;
    unsigned long n = s->writes++;
    if (slot_kind(s->id) == K_BAR && n % 8 == 7) {
        /* A BAR write that moves the BAR itself. The region may have been
         * removed meanwhile; the move must then still be safe. */
        hwaddr to = (rnd() % (SUB_SIZE / PAGE - MAX_PAGES)) * PAGE;
        int err = memory_region_set_address(&s->mr, to);
        if (err && err != -EINVAL)
            report_failure("BAR self-move: unexpected error %d", err);
        bar_moves++;
    }
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

/* ---- reader checks -------------------------------------------------------------------- */

static void check_ldq(AddressSpace *as, uint64_t addr, bool nested)
{
    MemTxResult r;
    uint64_t w = address_space_ldq_le(as, addr, MEMTXATTRS_UNSPECIFIED, &r);
    if (r == MEMTX_DECODE_ERROR) {
        if (w != UNASSIGNED)
            report_failure("ldq %#llx: DECODE_ERROR with value %#llx", (unsigned long long)addr,
                           (unsigned long long)w);
        return;
    }
    if (nested && r == MEMTX_ACCESS_ERROR) {
        if (w != 0)
            report_failure("nested ldq %#llx: ACCESS_ERROR with value %#llx",
                           (unsigned long long)addr, (unsigned long long)w);
        return;
    }
    if (r != MEMTX_OK) {
        report_failure("ldq %#llx: result %#x", (unsigned long long)addr, r);
        return;
    }
    const char *why = word_check(addr, w);
    if (why)
        report_failure("ldq %#llx = %#llx: %s", (unsigned long long)addr, (unsigned long long)w,
                       why);
}

static void check_read_block(AddressSpace *as, uint64_t addr)
{
    uint64_t buf[16];
    unsigned nw = 1 + rnd_below(16);
    MemTxResult r = address_space_read(as, addr, MEMTXATTRS_UNSPECIFIED, buf, nw * 8);
    if (r & ~(MEMTX_OK | MEMTX_DECODE_ERROR))
        report_failure("read %#llx+%u: result %#x", (unsigned long long)addr, nw * 8, r);
    bool any_unassigned = false;
    for (unsigned i = 0; i < nw; i++) {
        uint64_t a = addr + 8 * i;
        if (buf[i] == UNASSIGNED) {
            any_unassigned = true;
            continue;
        }
        const char *why = word_check(a, buf[i]);
        if (why)
            report_failure("read %#llx word %u = %#llx: %s", (unsigned long long)addr, i,
                           (unsigned long long)buf[i], why);
    }
    if (any_unassigned && !(r & MEMTX_DECODE_ERROR))
        report_failure("read %#llx+%u: unassigned words without DECODE_ERROR",
                       (unsigned long long)addr, nw * 8);
}

static void check_translate(AddressSpace *as, uint64_t addr, bool is_write)
{
    MemoryRegionSection s;
    MemTxResult r = address_space_translate(as, addr, is_write, MEMTXATTRS_UNSPECIFIED, &s);
    if (s.offset_within_address_space != addr || s.size == 0) {
        report_failure("translate %#llx: bad address or size", (unsigned long long)addr);
        return;
    }
    if (!s.mr) {
        if (r != MEMTX_DECODE_ERROR || s.host)
            report_failure("translate %#llx: unassigned but result %#x", (unsigned long long)addr,
                           r);
        return;
    }
    int i = slot_of(s.mr);
    if (i < 0 || r != MEMTX_OK) {
        report_failure("translate %#llx: region %p is not a terminating region of the test",
                       (unsigned long long)addr, (void *)s.mr);
        return;
    }
    if (s.offset_within_region >= slot_size((unsigned)i) ||
        (s.offset_within_region & (PAGE - 1)) != (addr & (PAGE - 1)) ||
        s.offset_within_region + s.size > slot_size((unsigned)i)) {
        report_failure("translate %#llx: offset %#llx outside slot %d", (unsigned long long)addr,
                       (unsigned long long)s.offset_within_region, i);
        return;
    }
    SlotKind k = slot_kind((unsigned)i);
    if ((k == K_MMIO || k == K_BAR) && s.host)
        report_failure("translate %#llx: host pointer for MMIO", (unsigned long long)addr);
    if (k == K_PINNED_ROM && !is_write) {
        /* Never destroyed: the host pointer may be used at any time. */
        if (!s.host) {
            report_failure("translate %#llx: no host pointer for ROM", (unsigned long long)addr);
            return;
        }
        uint64_t w;
        memcpy(&w, s.host - (addr & 7), 8);
        if (w != slot_word((unsigned)i, s.offset_within_region & ~7ull))
            report_failure("translate %#llx: host pointer shows %#llx", (unsigned long long)addr,
                           (unsigned long long)w);
    }
}

static void check_range(const FlatRange *fr, const char *what)
{
    int i = slot_of(fr->mr);
    if (i < 0) {
        report_failure("%s: range [%#llx, +%#llx) has a foreign region", what,
                       (unsigned long long)fr->addr, (unsigned long long)fr->size);
        return;
    }
    if (fr->size == 0 || fr->offset_in_region + fr->size > slot_size((unsigned)i) ||
        (fr->offset_in_region & (PAGE - 1)) != (fr->addr & (PAGE - 1)))
        report_failure("%s: range [%#llx, +%#llx) at offset %#llx of slot %d is impossible", what,
                       (unsigned long long)fr->addr, (unsigned long long)fr->size,
                       (unsigned long long)fr->offset_in_region, i);
}

static void check_find_range(AddressSpace *as, uint64_t addr)
{
    FlatRange fr;
    if (!address_space_find_range(as, addr, &fr))
        return;
    if (addr < fr.addr || addr - fr.addr >= fr.size)
        report_failure("find_range %#llx: range does not hold the address",
                       (unsigned long long)addr);
    check_range(&fr, "find_range");
}

static void check_view(AddressSpace *as)
{
    FlatView *fv = address_space_get_flatview(as);
    size_t n = flatview_nr_ranges(fv);
    mr_size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        const FlatRange *fr = flatview_range(fv, i);
        if ((mr_size_t)fr->addr < end)
            report_failure("view: range %zu at %#llx overlaps or is out of order", i,
                           (unsigned long long)fr->addr);
        end = (mr_size_t)fr->addr + fr->size;
        check_range(fr, "view");
        const FlatRange *found = flatview_lookup(fv, fr->addr);
        if (!found || found->addr != fr->addr || found->mr != fr->mr)
            report_failure("view: lookup of range %zu's start finds another range", i);
    }
    flatview_unref(fv);
}

typedef struct ReaderStats {
    unsigned index; /* reader 0 also owns the scratch address space */
    unsigned long ops;
} ReaderStats;

static void *reader_main(void *arg)
{
    ReaderStats *st = arg;
    rng_state = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
    unsigned held = 0; /* operations left in the reader's own read section */
    while (!stop) {
        if (!held && rnd_below(3) == 0) {
            memregion_read_section_begin();
            held = 1 + rnd_below(64);
        }
        AddressSpace *as = rnd_below(4) ? &sys_as : &bm_as;
        if (st->index == 0 && rnd_below(3) == 0)
            as = &scratch_as;
        uint64_t addr = rnd() % WINDOW;
        uint64_t a8 = addr & ~7ull;
        unsigned op = rnd_below(100);
        if (op < 35) {
            check_ldq(as, a8, false);
        } else if (op < 50) {
            check_read_block(as, a8);
        } else if (op < 60) {
            /* Odd shapes: only the result code can be checked. */
            MemTxResult r;
            uint8_t buf[24];
            switch (rnd_below(4)) {
            case 0:
                address_space_ldl_le(as, addr, MEMTXATTRS_UNSPECIFIED, &r);
                break;
            case 1:
                address_space_lduw_be(as, addr, MEMTXATTRS_UNSPECIFIED, &r);
                break;
            case 2:
                address_space_ldub(as, addr, MEMTXATTRS_UNSPECIFIED, &r);
                break;
            default:
                r = address_space_read(as, addr, MEMTXATTRS_UNSPECIFIED, buf,
                                       1 + rnd_below(sizeof(buf)));
                break;
            }
            if (r & ~(MEMTX_OK | MEMTX_DECODE_ERROR))
                report_failure("odd read %#llx: result %#x", (unsigned long long)addr, r);
        } else if (op < 75) {
            /* Writes: scratch words, which are right wherever they land. ROM drops
             * them; MMIO and ROM devices get a callback; RAM is only in the
             * scratch address space. */
            MemTxResult r;
            if (rnd_below(2)) {
                address_space_stq_le(as, a8, scratch_word(a8), MEMTXATTRS_UNSPECIFIED, &r);
            } else {
                uint64_t buf[4];
                unsigned nw = 1 + rnd_below(4);
                for (unsigned i = 0; i < nw; i++)
                    buf[i] = scratch_word(a8 + 8 * i);
                r = address_space_write(as, a8, MEMTXATTRS_UNSPECIFIED, buf, nw * 8);
            }
            if (r & ~(MEMTX_OK | MEMTX_DECODE_ERROR))
                report_failure("write %#llx: result %#x", (unsigned long long)a8, r);
        } else if (op < 88) {
            check_translate(as, a8, rnd_below(4) == 0);
        } else if (op < 97) {
            check_find_range(as, addr);
        } else {
            check_view(as);
        }
        st->ops++;
        if (held && --held == 0 && memregion_read_section_end() != 0)
            report_failure("read section: %s", memregion_last_error());
    }
    if (held && memregion_read_section_end() != 0)
        report_failure("read section: %s", memregion_last_error());
    return NULL;
}

/* ---- the writer -------------------------------------------------------------------------- */

typedef struct WriterStats {
    unsigned long ops, created, destroyed, busy, txs, as_cycles;
} WriterStats;

/* Where a slot is mapped: in container slot @p, or at the top. Scratch RAM
 * is only ever mapped at the top of the scratch address space. */
static MemoryRegion *parent_mr(const Slot *s, Slot *p)
{
    if (slot_kind(s->id) == K_SCRATCH)
        return &scratch_root;
    return p ? &p->mr : &root;
}

static hwaddr random_offset(Slot *parent, uint64_t size)
{
    uint64_t span = parent ? SUB_SIZE : WINDOW;
    return (rnd() % ((span - size) / PAGE + 1)) * PAGE;
}

static Slot *random_slot_in(SlotState state, int kind_filter)
{
    for (int tries = 0; tries < 8; tries++) {
        Slot *s = &slots[rnd_below(NR_SLOTS)];
        if (s->state == state && (kind_filter < 0 || slot_kind(s->id) == (SlotKind)kind_filter))
            return s;
    }
    return NULL;
}

/* An initialised slot that an alias may show (never scratch RAM). */
static Slot *random_alias_target(void)
{
    for (int tries = 0; tries < 8; tries++) {
        Slot *s = &slots[rnd_below(NR_SLOTS)];
        if (s->state != S_FREE && slot_kind(s->id) != K_SCRATCH)
            return s;
    }
    return NULL;
}

static void expect_ok_or(int err, int allowed1, int allowed2, const char *what)
{
    if (err && err != allowed1 && err != allowed2)
        report_failure("writer: %s returned %d (%s)", what, err, memregion_last_error());
}

static void slot_create(Slot *s, WriterStats *ws)
{
    unsigned i = s->id;
    uint64_t size = slot_size(i);
    int err = 0;
    switch (slot_kind(i)) {
    case K_PINNED_ROM:
    case K_ROM:
        err = memory_region_init_rom(&s->mr, "rom", size);
        if (!err)
            fill_words(s);
        break;
    case K_SCRATCH:
        err = memory_region_init_ram(&s->mr, "scratch", size);
        if (!err) {
            uint64_t *p = memory_region_get_ram_ptr(&s->mr);
            for (uint64_t off = 0; off < size; off += 8)
                p[off / 8] = scratch_word(off);
        }
        break;
    case K_MMIO:
    case K_BAR:
        err = memory_region_init_io(&s->mr, &dev_ops, s, "mmio", size);
        break;
    case K_ROMD:
        err = memory_region_init_rom_device(&s->mr, &dev_ops, s, "romd", size);
        if (!err)
            fill_words(s);
        break;
    case K_CONTAINER:
        err = memory_region_init(&s->mr, "sub", size);
        break;
    case K_ALIAS: {
        Slot *t = random_alias_target();
        if (!t || t == s)
            return;
        uint64_t tsize = slot_size(t->id);
        hwaddr off = (rnd() % (tsize / PAGE)) * PAGE;
        err = memory_region_init_alias(&s->mr, "alias", &t->mr, off,
                                       (1 + rnd_below(MAX_PAGES)) * PAGE);
        if (!err)
            s->alias_target = t;
        break;
    }
    }
    if (err) {
        report_failure("writer: init of slot %u failed: %d (%s)", i, err, memregion_last_error());
        return;
    }
    s->state = S_DETACHED;
    s->parent = NULL;
    s->enabled = true;
    ws->created++;
}

/* Mapping @s inside container @p may close an alias loop past the library's
 * bounds (MEMREGION_ALIAS_LAPS_MAX): it refuses that with -ELOOP, as it does
 * moves, enables, offset changes and growth that would; we only avoid asking
 * too often. */
static void slot_add(Slot *s)
{
    Slot *p = NULL;
    if (rnd_below(3) == 0) {
        p = random_slot_in(S_MAPPED, K_CONTAINER);
        if (!p)
            p = random_slot_in(S_DETACHED, K_CONTAINER);
    }
    uint64_t size = slot_size(s->id);
    if (p == s || (p && size > SUB_SIZE / 2) || slot_kind(s->id) == K_SCRATCH)
        p = NULL;
    int err = memory_region_add_subregion_overlap(parent_mr(s, p), random_offset(p, size), &s->mr,
                                                  (int32_t)rnd_below(5) - 2);
    expect_ok_or(err, -ELOOP, 0, "add_subregion");
    if (!err) {
        s->state = S_MAPPED;
        s->parent = p;
    }
}

static void slot_del(Slot *s)
{
    int err = memory_region_del_subregion(parent_mr(s, s->parent), &s->mr);
    expect_ok_or(err, 0, 0, "del_subregion");
    if (!err) {
        s->state = S_DETACHED;
        s->parent = NULL;
    }
}

static void slot_destroy(Slot *s, WriterStats *ws)
{
    int err = memory_region_destroy(&s->mr);
    /* EBUSY: target of an alias, root of an address space, still visible in
     * a published view (uncommitted removal), or callbacks in flight inside a
     * transaction. */
    expect_ok_or(err, -EBUSY, 0, "destroy");
    if (err) {
        ws->busy++;
        return;
    }
    if (slot_kind(s->id) == K_CONTAINER) {
        /* Its children were detached. */
        for (unsigned j = 0; j < NR_SLOTS; j++)
            if (slots[j].parent == s) {
                slots[j].parent = NULL;
                slots[j].state = S_DETACHED;
            }
    }
    s->state = S_FREE;
    s->alias_target = NULL;
    ws->destroyed++;
    destroys++;
}

static AddressSpace temp_as;
static Slot *temp_as_root;
static bool global_log;

/* Dirty logging on scratch RAM while reader 0 writes it. */
static void dirty_step(Slot *s)
{
    unsigned client = rnd_below(2) ? DIRTY_MEMORY_VGA : DIRTY_MEMORY_CODE;
    uint64_t size = slot_size(s->id);
    switch (rnd_below(5)) {
    case 0:
        expect_ok_or(memory_region_set_log(&s->mr, rnd_below(2), client), 0, 0, "set_log");
        break;
    case 1:
        (void)memory_region_get_dirty(&s->mr, 0, size, client);
        break;
    case 2: {
        DirtyBitmapSnapshot *snap = memory_region_snapshot_and_clear_dirty(&s->mr, 0, size, client);
        if (snap) {
            (void)memory_region_snapshot_get_dirty(&s->mr, snap, 0, size);
            memory_region_snapshot_free(snap);
        }
        break;
    }
    case 3:
        memory_region_reset_dirty(&s->mr, 0, size, client);
        break;
    default:
        if (global_log)
            memory_global_dirty_log_stop();
        else
            memory_global_dirty_log_start();
        global_log = !global_log;
        break;
    }
}

static void writer_step(WriterStats *ws)
{
    Slot *s = &slots[rnd_below(NR_SLOTS)];
    unsigned op = rnd_below(100);
    ws->ops++;
    switch (s->state) {
    case S_FREE:
        if (s->id >= NR_PINNED)
            slot_create(s, ws);
        return;
    case S_DETACHED:
        if (op < 70 || s->id < NR_PINNED || s == temp_as_root)
            slot_add(s);
        else
            slot_destroy(s, ws);
        return;
    case S_MAPPED:
        break;
    }
    int err = 0;
    if (op < 25) {
        slot_del(s);
        if (rnd_below(2) && s->id >= NR_PINNED && s != temp_as_root)
            slot_destroy(s, ws); /* destroy right after removal */
    } else if (op < 50) {
        err = memory_region_set_address(&s->mr, random_offset(s->parent, slot_size(s->id)));
        expect_ok_or(err, -ELOOP, 0, "set_address");
    } else if (op < 62) {
        s->enabled = !s->enabled;
        err = memory_region_set_enabled(&s->mr, s->enabled);
        expect_ok_or(err, -ELOOP, 0, "set_enabled");
        if (err)
            s->enabled = !s->enabled; /* refused: still as it was */
    } else if (op < 70) {
        err = memory_region_set_priority(&s->mr, (int32_t)rnd_below(5) - 2);
        expect_ok_or(err, 0, 0, "set_priority");
    } else if (op < 76 && slot_kind(s->id) == K_ROMD) {
        err = memory_region_rom_device_set_romd(&s->mr, rnd_below(2));
        expect_ok_or(err, 0, 0, "set_romd");
    } else if (op < 82 && slot_kind(s->id) == K_ALIAS) {
        uint64_t tsize = slot_size(s->alias_target->id);
        err = memory_region_set_alias_offset(&s->mr, (rnd() % (tsize / PAGE)) * PAGE);
        expect_ok_or(err, -ELOOP, 0, "set_alias_offset");
    } else if (op < 86 && (slot_kind(s->id) == K_MMIO || slot_kind(s->id) == K_BAR)) {
        /* Never past the slot's size: the readers' bound. */
        unsigned pages = (unsigned)(slot_size(s->id) / PAGE);
        err = memory_region_set_size(&s->mr, (1 + rnd_below(pages)) * PAGE);
        expect_ok_or(err, -ELOOP, 0, "set_size");
    } else if (op < 90 && slot_kind(s->id) == K_CONTAINER) {
        err = memory_region_set_readonly(&s->mr, rnd_below(2));
        expect_ok_or(err, 0, 0, "set_readonly");
    } else if (op < 91 && slot_kind(s->id) == K_SCRATCH) {
        dirty_step(s);
    } else if (op < 93) {
        /* The bus-master view comes and goes. */
        err = memory_region_set_enabled(&bm_alias, rnd_below(4) != 0);
        expect_ok_or(err, -ELOOP, 0, "set_enabled(bus master)");
    } else if (op < 96) {
        /* A short-lived address space on a sub-container, created and
         * destroyed while readers and commits run. */
        if (temp_as_root) {
            address_space_destroy(&temp_as);
            temp_as_root = NULL;
            ws->as_cycles++;
        } else if (slot_kind(s->id) == K_CONTAINER) {
            err = address_space_init(&temp_as, &s->mr, "temp");
            expect_ok_or(err, 0, 0, "address_space_init");
            if (!err)
                temp_as_root = s;
        }
    } else {
        slot_del(s);
    }
}

static void *writer_main(void *arg)
{
    WriterStats *ws = arg;
    rng_state = 0x1234567ull;
    while (!stop) {
        if (rnd_below(8) == 0) {
            /* A transaction of several changes; destroys inside it may be refused. */
            memory_region_transaction_begin();
            unsigned n = 2 + rnd_below(6);
            for (unsigned i = 0; i < n; i++)
                writer_step(ws);
            memory_region_transaction_commit();
            ws->txs++;
        } else {
            writer_step(ws);
        }
    }
    return NULL;
}

/* ---- setup and teardown --------------------------------------------------------------- */

static void world_setup(void)
{
    memset(slots, 0, sizeof(slots));
    failures = 0;
    first_failure[0] = 0;
    stop = 0;
    bar_moves = nested_reads = destroys = 0;
    temp_as_root = NULL;
    assert_int_equal(memory_region_init(&root, "system", WINDOW), 0);
    assert_int_equal(memory_region_init(&bm_root, "bus-master", WINDOW), 0);
    assert_int_equal(memory_region_init_alias(&bm_alias, "bus master", &root, 0, WINDOW), 0);
    assert_int_equal(memory_region_add_subregion(&bm_root, 0, &bm_alias), 0);
    assert_int_equal(memory_region_init(&scratch_root, "scratch", WINDOW), 0);
    assert_int_equal(address_space_init(&sys_as, &root, "memory"), 0);
    assert_int_equal(address_space_init(&bm_as, &bm_root, "bus-master"), 0);
    assert_int_equal(address_space_init(&scratch_as, &scratch_root, "scratch"), 0);
    address_space_set_unassigned_value(&sys_as, 0xff);
    address_space_set_unassigned_value(&bm_as, 0xff);
    address_space_set_unassigned_value(&scratch_as, 0xff);
    global_log = false;
    WriterStats ws = {0};
    rng_state = 42;
    for (unsigned i = 0; i < NR_SLOTS; i++)
        slots[i].id = i;
    memory_region_transaction_begin();
    for (unsigned i = 0; i < NR_SLOTS; i++) {
        slot_create(&slots[i], &ws);
        if (slots[i].state == S_DETACHED && rnd_below(2))
            slot_add(&slots[i]);
    }
    memory_region_transaction_commit();
}

static void world_teardown(void)
{
    if (temp_as_root) {
        address_space_destroy(&temp_as);
        temp_as_root = NULL;
    }
    if (global_log)
        memory_global_dirty_log_stop();
    global_log = false;
    address_space_destroy(&scratch_as);
    address_space_destroy(&bm_as);
    address_space_destroy(&sys_as);
    memory_region_transaction_begin();
    for (unsigned i = 0; i < NR_SLOTS; i++)
        if (slots[i].state == S_MAPPED)
            slot_del(&slots[i]);
    memory_region_transaction_commit();
    /* Aliases pin their targets (aliases of aliases too): destroy in rounds
     * until nothing is left. A view released by a reader may reach its
     * regions only after a grace period (see lifetime.c), so a round that
     * frees nothing waits a little before the next one. */
    WriterStats ws = {0};
    for (int round = 0; round < 2000; round++) {
        bool left = false;
        for (unsigned i = 0; i < NR_SLOTS; i++)
            if (slots[i].state != S_FREE) {
                slot_destroy(&slots[i], &ws);
                left |= slots[i].state != S_FREE;
            }
        if (!left)
            break;
        usleep(1000);
    }
    for (unsigned i = 0; i < NR_SLOTS; i++)
        if (slots[i].state != S_FREE)
            report_failure("teardown: slot %u (kind %d) cannot be destroyed", i, slot_kind(i));
    assert_int_equal(memory_region_del_subregion(&bm_root, &bm_alias), 0);
    assert_int_equal(memory_region_destroy(&bm_alias), 0);
    assert_int_equal(memory_region_destroy(&bm_root), 0);
    assert_int_equal(memory_region_destroy(&root), 0);
    assert_int_equal(memory_region_destroy(&scratch_root), 0);
}

static double env_double(const char *name, double dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    double d = strtod(v, &end);
    return (*end || !(d > 0)) ? dflt : d;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Readers dispatch while the writer reconfigures at random. */
static void test_random_reconfiguration(void **state)
{
    (void)state;
    double seconds = env_double("MEMREGION_STRESS_SECONDS", 2);
    unsigned nreaders = (unsigned)env_double("MEMREGION_STRESS_READERS", 2);
    if (nreaders > MAX_READERS)
        nreaders = MAX_READERS;
    alarm((unsigned)seconds + 60); /* a deadlock fails the test instead of hanging it */
    /* cmocka's crash handler cannot handle a fault on another thread: give
     * faults back to the sanitizer (or the default action) so that a wild
     * access in a reader is reported with its stack. */
    sigaction(SIGSEGV, &initial_segv, NULL);
    sigaction(SIGBUS, &initial_bus, NULL);
    world_setup();
    pthread_t readers[MAX_READERS], writer;
    ReaderStats rs[MAX_READERS];
    WriterStats ws = {0};
    memset(rs, 0, sizeof(rs));
    for (unsigned i = 0; i < nreaders; i++) {
        rs[i].index = i;
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &rs[i]), 0);
    }
    assert_int_equal(pthread_create(&writer, NULL, writer_main, &ws), 0);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    /* Run on (up to ten times as long) until every kind of event happened:
     * a slow build (sanitizers) or a short duration may need it. */
    for (int i = 0; i < 100 && !(bar_moves && nested_reads && destroys); i++) {
        struct timespec slice = {0, (long)((seconds < 5 ? seconds : 5) * 1e8)};
        nanosleep(&slice, NULL);
    }
    stop = 1;
    unsigned long reads = 0;
    for (unsigned i = 0; i < nreaders; i++) {
        pthread_join(readers[i], NULL);
        reads += rs[i].ops;
    }
    pthread_join(writer, NULL);
    world_teardown();
    alarm(0);
    printf("stress: %.1fs, %u readers: %lu reader ops, %lu writer ops (%lu transactions, %lu "
           "created, %lu destroyed, %lu refused busy, %lu temporary address spaces), %lu BAR "
           "self-moves, %lu nested reads\n",
           seconds, nreaders, reads, ws.ops, ws.txs, ws.created, ws.destroyed, ws.busy,
           ws.as_cycles, (unsigned long)bar_moves, (unsigned long)nested_reads);
    if (failures)
        print_error("%lu failures; first: %s\n", (unsigned long)failures, first_failure);
    assert_int_equal(failures, 0);
    /* The run must have exercised what it claims to. */
    assert_true(reads > 0 && ws.destroyed > 0 && bar_moves > 0 && nested_reads > 0);
}

/* ---- a region removed while a callback runs ----------------------------------------------------
 */

typedef struct Blocker {
    MemoryRegion mr;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, release, returned;
    bool kind_ok_after_release; /* the region was intact when the callback resumed */
} Blocker;

static uint64_t blocking_read(void *opaque, hwaddr off, unsigned size)
{
    (void)off;
    (void)size;
    Blocker *b = opaque;
    pthread_mutex_lock(&b->lock);
    b->entered = true;
    pthread_cond_broadcast(&b->cond);
    while (!b->release)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    /* Still inside the callback: the region must not have been torn down. */
    b->kind_ok_after_release = memory_region_kind(&b->mr) == MR_KIND_MMIO;
    pthread_mutex_lock(&b->lock);
    b->returned = true;
    pthread_mutex_unlock(&b->lock);
    return 0x1234;
}

static const MemoryRegionOps blocking_ops = {.read = blocking_read};

static AddressSpace block_as;

static void *blocked_reader(void *arg)
{
    (void)arg;
    uint32_t v = address_space_ldl_le(&block_as, 0x1000, MEMTXATTRS_UNSPECIFIED, NULL);
    if (v != 0x1234)
        report_failure("blocked reader read %#x", v);
    return NULL;
}

typedef struct DestroyCall {
    Blocker *b;
    int err;
    bool done;
    bool callback_had_returned; /* at the moment destroy returned */
} DestroyCall;

static void *destroyer(void *arg)
{
    DestroyCall *d = arg;
    d->err = memory_region_destroy(&d->b->mr);
    pthread_mutex_lock(&d->b->lock);
    d->callback_had_returned = d->b->returned;
    d->done = true;
    pthread_mutex_unlock(&d->b->lock);
    return NULL;
}

static void wait_entered(Blocker *b)
{
    pthread_mutex_lock(&b->lock);
    while (!b->entered)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

static void release(Blocker *b)
{
    pthread_mutex_lock(&b->lock);
    b->release = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void blocker_setup(MemoryRegion *sys, Blocker *b)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    assert_int_equal(memory_region_init(sys, "system", 0x10000), 0);
    assert_int_equal(memory_region_init_io(&b->mr, &blocking_ops, b, "blocker", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(sys, 0x1000, &b->mr), 0);
    assert_int_equal(address_space_init(&block_as, sys, "block"), 0);
}

/* destroy() of a region removed while another thread is inside its callback
 * returns only after the callback has returned. */
static void test_destroy_waits_for_callback(void **state)
{
    (void)state;
    alarm(60);
    failures = 0;
    MemoryRegion sys;
    Blocker b;
    blocker_setup(&sys, &b);
    pthread_t rd, ds;
    assert_int_equal(pthread_create(&rd, NULL, blocked_reader, &b), 0);
    wait_entered(&b);
    assert_int_equal(memory_region_del_subregion(&sys, &b.mr), 0);
    DestroyCall d = {.b = &b};
    assert_int_equal(pthread_create(&ds, NULL, destroyer, &d), 0);
    usleep(100 * 1000); /* destroy must still be waiting */
    pthread_mutex_lock(&b.lock);
    bool early = d.done;
    pthread_mutex_unlock(&b.lock);
    release(&b);
    pthread_join(rd, NULL);
    pthread_join(ds, NULL);
    assert_false(early);
    assert_int_equal(d.err, 0);
    assert_true(d.callback_had_returned);
    assert_true(b.kind_ok_after_release);
    assert_int_equal(failures, 0);
    address_space_destroy(&block_as);
    assert_int_equal(memory_region_destroy(&sys), 0);
    alarm(0);
}

/* Inside a transaction destroy cannot wait (the callback may need the writer
 * lock): it refuses with -EBUSY instead of deadlocking, and succeeds later. */
static void test_destroy_in_transaction_refuses(void **state)
{
    (void)state;
    alarm(60);
    failures = 0;
    MemoryRegion sys;
    Blocker b;
    blocker_setup(&sys, &b);
    pthread_t rd;
    assert_int_equal(pthread_create(&rd, NULL, blocked_reader, &b), 0);
    wait_entered(&b);
    assert_int_equal(memory_region_del_subregion(&sys, &b.mr), 0);
    memory_region_transaction_begin();
    assert_int_equal(memory_region_destroy(&b.mr), -EBUSY);
    memory_region_transaction_commit();
    release(&b);
    pthread_join(rd, NULL);
    assert_int_equal(memory_region_destroy(&b.mr), 0);
    assert_int_equal(failures, 0);
    address_space_destroy(&block_as);
    assert_int_equal(memory_region_destroy(&sys), 0);
    alarm(0);
}

/* ---- a callback that changes the map while another thread holds a transaction ---------------- */

typedef struct Mover {
    MemoryRegion mr;
    _Atomic int in_callback;
    _Atomic int moves;
} Mover;

static void moving_write(void *opaque, hwaddr off, uint64_t v, unsigned size)
{
    (void)off;
    (void)size;
    Mover *m = opaque;
    m->in_callback = 1;
    /* Move the BAR to the address written: blocks while another thread holds
     * a transaction, and must not deadlock. */
    if (memory_region_set_address(&m->mr, v) == 0)
        m->moves++;
}

static const MemoryRegionOps moving_ops = {.write = moving_write};

static AddressSpace move_as;

static void *bar_writer(void *arg)
{
    (void)arg;
    /* The BAR is at 0x1000; the write moves it to 0x3000. One 4-byte write:
     * the ops leave sizes at 0, so the device takes at most 4 bytes (QEMU). */
    MemTxResult r;
    address_space_stl_le(&move_as, 0x1000, 0x3000, MEMTXATTRS_UNSPECIFIED, &r);
    if (r != MEMTX_OK)
        report_failure("BAR write: result %#x", r);
    return NULL;
}

static void test_callback_moves_bar_during_transaction(void **state)
{
    (void)state;
    alarm(60);
    failures = 0;
    MemoryRegion sys;
    Mover m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(memory_region_init(&sys, "system", 0x10000), 0);
    assert_int_equal(memory_region_init_io(&m.mr, &moving_ops, &m, "bar", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&sys, 0x1000, &m.mr), 0);
    assert_int_equal(address_space_init(&move_as, &sys, "move"), 0);

    memory_region_transaction_begin();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bar_writer, NULL), 0);
    while (!m.in_callback)
        sched_yield();
    usleep(50 * 1000);
    assert_int_equal(m.moves, 0); /* blocked on our transaction */
    /* Readers keep working meanwhile: the BAR is still at its old address. */
    FlatRange fr;
    assert_true(address_space_find_range(&move_as, 0x1000, &fr));
    assert_ptr_equal(fr.mr, &m.mr);
    memory_region_transaction_commit();
    pthread_join(t, NULL);
    assert_int_equal(m.moves, 1);
    assert_false(address_space_find_range(&move_as, 0x1000, &fr));
    assert_true(address_space_find_range(&move_as, 0x3000, &fr));
    assert_ptr_equal(fr.mr, &m.mr);
    assert_int_equal(failures, 0);

    address_space_destroy(&move_as);
    assert_int_equal(memory_region_del_subregion(&sys, &m.mr), 0);
    assert_int_equal(memory_region_destroy(&m.mr), 0);
    assert_int_equal(memory_region_destroy(&sys), 0);
    alarm(0);
}

int main(void)
{
    sigaction(SIGSEGV, NULL, &initial_segv);
    sigaction(SIGBUS, NULL, &initial_bus);
    /* MEMREGION_STRESS_FILTER=test_random* runs only the matching tests. */
    const char *filter = getenv("MEMREGION_STRESS_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_waits_for_callback),
        cmocka_unit_test(test_destroy_in_transaction_refuses),
        cmocka_unit_test(test_callback_moves_bar_during_transaction),
        cmocka_unit_test(test_random_reconfiguration),
    };
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
