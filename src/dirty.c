/*
 * Dirty logging: one bitmap per client (VGA, CODE, MIGRATION) on a
 * RAM-backed region, one bit per page. Writes through the dispatch path
 * set bits with atomics (lock-free, concurrent with other writers);
 * snapshot-and-clear swaps words atomically so no write is lost.
 *
 * The logging state belongs to the region: it survives unmapping,
 * remapping and moving. A view's dirty_log_mask on each range is the
 * region's mask at render time; changing it re-renders, and listeners see
 * region_nop plus log_start/log_stop.
 */
#include <stdlib.h>
#include <string.h>

#include "region_tree.h"
#include "view.h"
#include "commit.h"
#include "globals.h"
#include "listeners.h"

#define BITS_PER_WORD (8 * sizeof(unsigned long))

int memregion_set_dirty_page_size(uint64_t page_size)
{
    if (page_size < 1 || (page_size & (page_size - 1)) || page_size > (1ull << 40))
        return mr_error(EINVAL, "dirty page size %llu is not a power of two in 1 .. 2^40",
                        (unsigned long long)page_size);
    mr_writer_lock();
    mr_ws.dirty_page_shift = (unsigned)__builtin_ctzll(page_size);
    mr_writer_unlock();
    return 0;
}

bool dirty_global_logging(void)
{
    return mr_ws.global_logging;
}

static bool ram_backed(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM || mr->kind == MR_KIND_ROMD;
}

uint8_t memory_region_get_dirty_log_mask(const MemoryRegion *mr)
{
    uint8_t mask = mr->ext ? ((RegionExt *)mr->ext)->log_mask : 0;
    if (mr_ws.global_logging && mr->kind == MR_KIND_RAM)
        mask |= 1u << DIRTY_MEMORY_MIGRATION;
    return mask;
}

/* Size of a bitmap of @pages pages, header included. */
static size_t bitmap_bytes(uint64_t pages)
{
    return sizeof(MrBitmap) +
           (size_t)((pages + BITS_PER_WORD - 1) / BITS_PER_WORD) * sizeof(unsigned long);
}

void dirty_ensure_bitmaps(MemoryRegion *mr, uint8_t mask)
{
    MR_ASSERT_WRITER();
    if (!mask || !ram_backed(mr))
        return;
    RegionExt *ext = region_ext(mr);
    for (int c = 0; c < DIRTY_MEMORY_NUM; c++) {
        if (!(mask & (1u << c)) || ext->dirty[c])
            continue;
        uint64_t pages = (uint64_t)((mr->ram_len + (1ull << mr_ws.dirty_page_shift) - 1) >>
                                    mr_ws.dirty_page_shift);
        MrBitmap *b = calloc(1, bitmap_bytes(pages));
        if (!b)
            mr_oom(__func__);
        b->page_shift = mr_ws.dirty_page_shift;
        b->nr_pages = pages;
        rcu_assign_pointer(ext->dirty[c], b);
    }
}

static void bitmap_free_rcu(struct rcu_head *head)
{
    free(caa_container_of(head, MrBitmap, rcu));
}

int memory_region_set_log(MemoryRegion *mr, bool log, unsigned client)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "memory_region_set_log: region is not initialised");
    if (client >= DIRTY_MEMORY_NUM)
        return mr_error(EINVAL, "memory_region_set_log: unknown client %u", client);
    if (!ram_backed(mr))
        return mr_error(EINVAL, "region '%s' has no RAM to log", mr->name);
    memory_region_transaction_begin();
    RegionExt *ext = region_ext(mr);
    uint8_t bit = 1u << client;
    if (log && !(ext->log_mask & bit)) {
        dirty_ensure_bitmaps(mr, bit);
        ext->log_mask |= bit;
        damage_region(mr);
    } else if (!log && (ext->log_mask & bit)) {
        ext->log_mask &= ~bit;
        if (!(memory_region_get_dirty_log_mask(mr) & bit)) {
            MrBitmap *b = ext->dirty[client];
            rcu_assign_pointer(ext->dirty[client], NULL);
            mr_defer_free(&b->rcu, bitmap_free_rcu, bitmap_bytes(b->nr_pages));
        }
        damage_region(mr);
    }
    memory_region_transaction_commit();
    return 0;
}

/* Page range [first, last] of [addr, addr+size) clipped to the bitmap; false if empty. */
static bool page_span(const MrBitmap *b, hwaddr addr, hwaddr size, uint64_t *first, uint64_t *last)
{
    if (!b || size == 0)
        return false;
    *first = addr >> b->page_shift;
    *last = (uint64_t)(((mr_size_t)addr + size - 1) >> b->page_shift);
    if (*first >= b->nr_pages)
        return false;
    if (*last >= b->nr_pages)
        *last = b->nr_pages - 1;
    return true;
}

static MrBitmap *bitmap_of(MemoryRegion *mr, unsigned client)
{
    RegionExt *ext = mr->ext;
    if (!ext || client >= DIRTY_MEMORY_NUM)
        return NULL;
    return rcu_dereference(ext->dirty[client]);
}

void memory_region_set_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size)
{
    rcu_read_lock();
    for (unsigned c = 0; c < DIRTY_MEMORY_NUM; c++) {
        MrBitmap *b = bitmap_of(mr, c);
        uint64_t first, last;
        if (!page_span(b, addr, size, &first, &last))
            continue;
        for (uint64_t p = first; p <= last; p++) {
            unsigned long bit = 1ul << (p % BITS_PER_WORD);
            unsigned long *w = &b->bits[p / BITS_PER_WORD];
            if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
                __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
        }
    }
    rcu_read_unlock();
}

bool memory_region_get_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size, unsigned client)
{
    bool dirty = false;
    rcu_read_lock();
    MrBitmap *b = bitmap_of(mr, client);
    uint64_t first, last;
    if (page_span(b, addr, size, &first, &last))
        for (uint64_t p = first; p <= last && !dirty; p++)
            dirty = __atomic_load_n(&b->bits[p / BITS_PER_WORD], __ATOMIC_RELAXED) &
                    (1ul << (p % BITS_PER_WORD));
    rcu_read_unlock();
    return dirty;
}

void memory_region_reset_dirty(MemoryRegion *mr, hwaddr addr, hwaddr size, unsigned client)
{
    rcu_read_lock();
    MrBitmap *b = bitmap_of(mr, client);
    uint64_t first, last;
    if (page_span(b, addr, size, &first, &last))
        for (uint64_t p = first; p <= last; p++)
            __atomic_fetch_and(&b->bits[p / BITS_PER_WORD], ~(1ul << (p % BITS_PER_WORD)),
                               __ATOMIC_RELAXED);
    rcu_read_unlock();
}

struct DirtyBitmapSnapshot {
    unsigned page_shift;
    uint64_t first_page, nr_pages;
    unsigned long bits[];
};

DirtyBitmapSnapshot *memory_region_snapshot_and_clear_dirty(MemoryRegion *mr, hwaddr addr,
                                                            hwaddr size, unsigned client)
{
    if (!mr || mr->kind == MR_KIND_NONE || client >= DIRTY_MEMORY_NUM || size == 0) {
        mr_error(EINVAL, "snapshot_and_clear_dirty: bad region, client or size");
        return NULL;
    }
    /* Let accelerators push their dirty bits into the bitmap first. */
    listener_log_sync_region(mr);
    rcu_read_lock();
    MrBitmap *b = bitmap_of(mr, client);
    uint64_t first, last;
    DirtyBitmapSnapshot *snap = NULL;
    if (!page_span(b, addr, size, &first, &last)) {
        rcu_read_unlock();
        mr_error(EINVAL, "region '%s' does not log client %u there", mr->name, client);
        return NULL;
    }
    uint64_t n = last - first + 1;
    snap = calloc(1, sizeof(*snap) + ((n + BITS_PER_WORD - 1) / BITS_PER_WORD) * sizeof(long));
    if (snap) {
        snap->page_shift = b->page_shift;
        snap->first_page = first;
        snap->nr_pages = n;
        for (uint64_t p = first; p <= last; p++) {
            unsigned long bit = 1ul << (p % BITS_PER_WORD);
            unsigned long old =
                __atomic_fetch_and(&b->bits[p / BITS_PER_WORD], ~bit, __ATOMIC_ACQ_REL);
            if (old & bit)
                snap->bits[(p - first) / BITS_PER_WORD] |= 1ul << ((p - first) % BITS_PER_WORD);
        }
    } else {
        mr_error(ENOMEM, "snapshot_and_clear_dirty: out of memory");
    }
    rcu_read_unlock();
    return snap;
}

bool memory_region_snapshot_get_dirty(MemoryRegion *mr, const DirtyBitmapSnapshot *snap,
                                      hwaddr addr, hwaddr size)
{
    (void)mr;
    if (!snap || size == 0)
        return false;
    uint64_t first = addr >> snap->page_shift;
    uint64_t last = (uint64_t)(((mr_size_t)addr + size - 1) >> snap->page_shift);
    for (uint64_t p = MR_MAX(first, snap->first_page);
         p <= last && p < snap->first_page + snap->nr_pages; p++) {
        uint64_t i = p - snap->first_page;
        if (snap->bits[i / BITS_PER_WORD] & (1ul << (i % BITS_PER_WORD)))
            return true;
    }
    return false;
}

void memory_region_snapshot_free(DirtyBitmapSnapshot *snap)
{
    free(snap);
}

/*
 * Global logging covers the RAM that some address space shows. When it
 * starts, their migration bitmaps start clean; when it stops, the bitmaps
 * of regions that do not log MIGRATION themselves go away, so no stale bit
 * survives into the next round.
 */
static void reset_migration_bitmaps(bool starting)
{
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as)) {
        const FlatView *fv = as_view(as);
        for (size_t i = 0; i < flatview_nr_ranges(fv); i++) {
            MemoryRegion *mr = flatview_range(fv, i)->mr;
            RegionExt *ext = mr->ext;
            MrBitmap *b = ext ? ext->dirty[DIRTY_MEMORY_MIGRATION] : NULL;
            if (!b)
                continue;
            if (starting) {
                size_t words = (size_t)((b->nr_pages + BITS_PER_WORD - 1) / BITS_PER_WORD);
                for (size_t w = 0; w < words; w++)
                    __atomic_store_n(&b->bits[w], 0, __ATOMIC_RELAXED);
            } else if (!(ext->log_mask & (1u << DIRTY_MEMORY_MIGRATION))) {
                rcu_assign_pointer(ext->dirty[DIRTY_MEMORY_MIGRATION], NULL);
                mr_defer_free(&b->rcu, bitmap_free_rcu, bitmap_bytes(b->nr_pages));
            }
        }
    }
}

/*
 * Re-render every address space: the migration bit changes on all RAM
 * ranges. As in QEMU, log_global_start comes before the commit that sends
 * the per-range log_start, and log_global_stop after the commit that sends
 * the log_stop (inside an open transaction that commit is deferred, so the
 * global callback then comes first either way). The writer lock spans both,
 * so no other writer slips in between.
 */
static void set_global_logging(bool on)
{
    mr_writer_lock();
    bool change = mr_ws.global_logging != on;
    memory_region_transaction_begin();
    if (change) {
        reset_migration_bitmaps(on);
        mr_ws.global_logging = on;
        if (on)
            listener_global_log(true);
        damage_all_views();
    }
    memory_region_transaction_commit();
    if (change && !on)
        listener_global_log(false);
    mr_writer_unlock();
}

void memory_global_dirty_log_start(void)
{
    set_global_logging(true);
}

void memory_global_dirty_log_stop(void)
{
    set_global_logging(false);
}

void memory_global_dirty_log_sync(void)
{
    memory_region_transaction_begin();
    listener_log_sync_all();
    memory_region_transaction_commit();
}
