/*
 * MemoryRegionCache: a translation of a fixed range kept between accesses,
 * checked by stamps (dma.h). A valid stamp set means every address space on
 * the way still shows the view the translation was made in and every IOMMU
 * on the way has announced no change, so the cached pointer is right and
 * its region alive for as long as the read-side section lasts.
 */
#include <string.h>

#include "view.h"
#include "access_path.h"

static bool cache_direct(const MemoryRegionCache *c, const FlatRange *fr)
{
    return c->is_write ? fr_writes_direct(fr, false) : fr_reads_direct(fr);
}

/* Add @w's stamps to @c's, each object once. False when they disagree
 * (a view changed between two pieces) or do not fit. */
static bool merge_stamps(MemoryRegionCache *c, const MrWalk *w)
{
    for (unsigned i = 0; i < w->nr_stamps; i++) {
        unsigned j = 0;
        while (j < c->nr_stamps && c->stamps[j].obj != w->stamps[i].obj)
            j++;
        if (j < c->nr_stamps) {
            if (c->stamps[j].seq != w->stamps[i].seq)
                return false;
        } else if (c->nr_stamps == MR_CACHE_MAX_STAMPS) {
            return false;
        } else {
            c->stamps[c->nr_stamps++] = w->stamps[i];
        }
    }
    return true;
}

/*
 * Translate the cached range again (the map or an IOMMU changed). The
 * range is direct when every piece of it is direct memory of one region at
 * consecutive offsets (through an IOMMU: pages that translate contiguously).
 */
static void cache_refresh(MemoryRegionCache *c)
{
    rcu_read_lock();
    MrWalk w;
    MemTxResult r = iommu_walk(c->as, c->addr, c->len, c->is_write, MEMTXATTRS_UNSPECIFIED, &w);
    c->ptr = NULL;
    c->mr = NULL;
    c->nr_stamps = 0;
    merge_stamps(c, &w); /* the first walk's stamps always fit */
    if (r == MEMTX_OK && cache_direct(c, w.fr)) {
        hwaddr done = w.len;
        while (done < c->len) {
            MrWalk next;
            if (iommu_walk(c->as, c->addr + done, c->len - done, c->is_write,
                           MEMTXATTRS_UNSPECIFIED, &next) != MEMTX_OK ||
                next.fr->mr != w.fr->mr || next.off != w.off + done || !cache_direct(c, next.fr) ||
                !merge_stamps(c, &next))
                break;
            done += next.len;
        }
        if (done == c->len) {
            c->mr = w.fr->mr;
            c->mr_off = w.off;
            c->ptr = w.fr->mr->ram + w.off;
            c->dirty_log_mask = w.fr->dirty_log_mask;
        }
    }
    rcu_read_unlock();
}

int64_t address_space_cache_init(MemoryRegionCache *cache, AddressSpace *as, hwaddr addr,
                                 hwaddr len, bool is_write)
{
    if (!cache || !as || !as->root)
        return mr_error(EINVAL, "address_space_cache_init: NULL cache or address space");
    if (len == 0 || (mr_size_t)addr + len > MR_SIZE_2_64)
        return mr_error(EINVAL, "address_space_cache_init: empty range or range past 2^64");
    memset(cache, 0, sizeof(*cache));
    cache->as = as;
    cache->addr = addr;
    cache->len = len;
    cache->is_write = is_write;
    cache->valid = true;
    cache_refresh(cache);
    return (int64_t)len;
}

void address_space_cache_destroy(MemoryRegionCache *cache)
{
    if (cache)
        memset(cache, 0, sizeof(*cache));
}

void address_space_cache_invalidate(MemoryRegionCache *cache, hwaddr addr, hwaddr access_len)
{
    if (!cache || !cache->valid || !cache->is_write || addr >= cache->len)
        return;
    if (access_len > cache->len - addr)
        access_len = cache->len - addr;
    rcu_read_lock();
    if (cache->ptr && iommu_stamps_valid(cache->stamps, cache->nr_stamps))
        memory_region_set_dirty(cache->mr, cache->mr_off + addr, access_len);
    rcu_read_unlock();
}

/* An access of @len bytes at offset @addr of the cache. */
static MemTxResult cached_access(MemoryRegionCache *c, hwaddr addr, uint8_t *buf, hwaddr len,
                                 bool is_write, MemTxAttrs attrs)
{
    if (!c || !c->valid || addr > c->len || len > c->len - addr) {
        if (!is_write)
            memset(buf, 0, len);
        return MEMTX_DECODE_ERROR;
    }
    if (is_write && !c->is_write)
        return MEMTX_ACCESS_ERROR;
    for (int attempt = 0; attempt < 2; attempt++) {
        rcu_read_lock();
        if (iommu_stamps_valid(c->stamps, c->nr_stamps)) {
            if (!c->ptr) {
                rcu_read_unlock();
                break; /* still not direct memory: the ordinary path */
            }
            if (is_write) {
                memcpy(c->ptr + addr, buf, len);
                if (c->dirty_log_mask)
                    memory_region_set_dirty(c->mr, c->mr_off + addr, len);
            } else {
                memcpy(buf, c->ptr + addr, len);
            }
            rcu_read_unlock();
            return MEMTX_OK;
        }
        rcu_read_unlock();
        cache_refresh(c);
    }
    return address_space_rw(c->as, c->addr + addr, attrs, buf, len, is_write);
}

MemTxResult address_space_read_cached(MemoryRegionCache *cache, hwaddr addr, void *buf, hwaddr len)
{
    return cached_access(cache, addr, buf, len, false, MEMTXATTRS_UNSPECIFIED);
}

MemTxResult address_space_write_cached(MemoryRegionCache *cache, hwaddr addr, const void *buf,
                                       hwaddr len)
{
    /* Writes never modify the caller's buffer; the shared path is byte-generic. */
    return cached_access(cache, addr, (uint8_t *)buf, len, true, MEMTXATTRS_UNSPECIFIED);
}

/* ---- typed helpers ------------------------------------------------------------ */

static uint64_t load_cached(MemoryRegionCache *c, hwaddr addr, MemTxAttrs attrs,
                            MemTxResult *result, unsigned size, bool big_endian)
{
    uint8_t b[8];
    MemTxResult r = cached_access(c, addr, b, size, false, attrs);
    if (result)
        *result = r;
    return mr_bytes_to_value(b, size, big_endian);
}

static void store_cached(MemoryRegionCache *c, hwaddr addr, uint64_t v, MemTxAttrs attrs,
                         MemTxResult *result, unsigned size, bool big_endian)
{
    uint8_t b[8];
    mr_value_to_bytes(v, b, size, big_endian);
    MemTxResult r = cached_access(c, addr, b, size, true, attrs);
    if (result)
        *result = r;
}

#define MR_LOAD_CACHED(name, type, size, be)                                                       \
    type name(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs, MemTxResult *result)        \
    {                                                                                              \
        return (type)load_cached(cache, addr, attrs, result, size, be);                            \
    }
#define MR_STORE_CACHED(name, type, size, be)                                                      \
    void name(MemoryRegionCache *cache, hwaddr addr, type val, MemTxAttrs attrs,                   \
              MemTxResult *result)                                                                 \
    {                                                                                              \
        store_cached(cache, addr, val, attrs, result, size, be);                                   \
    }

MR_LOAD_CACHED(address_space_ldub_cached, uint8_t, 1, false)
MR_LOAD_CACHED(address_space_lduw_le_cached, uint16_t, 2, false)
MR_LOAD_CACHED(address_space_lduw_be_cached, uint16_t, 2, true)
MR_LOAD_CACHED(address_space_ldl_le_cached, uint32_t, 4, false)
MR_LOAD_CACHED(address_space_ldl_be_cached, uint32_t, 4, true)
MR_LOAD_CACHED(address_space_ldq_le_cached, uint64_t, 8, false)
MR_LOAD_CACHED(address_space_ldq_be_cached, uint64_t, 8, true)
MR_STORE_CACHED(address_space_stb_cached, uint8_t, 1, false)
MR_STORE_CACHED(address_space_stw_le_cached, uint16_t, 2, false)
MR_STORE_CACHED(address_space_stw_be_cached, uint16_t, 2, true)
MR_STORE_CACHED(address_space_stl_le_cached, uint32_t, 4, false)
MR_STORE_CACHED(address_space_stl_be_cached, uint32_t, 4, true)
MR_STORE_CACHED(address_space_stq_le_cached, uint64_t, 8, false)
MR_STORE_CACHED(address_space_stq_be_cached, uint64_t, 8, true)
