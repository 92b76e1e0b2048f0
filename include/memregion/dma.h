/*
 * memregion: the device side of an address space. DMA mapping with bounce
 * buffers, validity checks and cached access to a fixed range (QEMU's
 * address_space_map/unmap, address_space_access_valid and MemoryRegionCache).
 *
 * All of these walk through IOMMU regions (iommu.h), nested ones included.
 *
 * Thread rules, as for dispatch (access.h): every function here may run on
 * any thread, concurrently with readers and writers, without the writer
 * lock. Map and unmap of one address space are serialised by a small lock of
 * that address space (never the writer lock). Unmap everything before
 * address_space_destroy(): it forgets live mappings (their regions become
 * destroyable again, bounce buffers are freed under the device's feet). A MemoryRegionCache is used
 * by one thread at a time (the thread running its device's queue); different
 * caches are independent.
 */
#ifndef MEMREGION_DMA_H
#define MEMREGION_DMA_H

#include "access.h"
#include "iommu.h"

MEMREGION_API_BEGIN

/* ---- DMA mapping ------------------------------------------------------------ */

/** The bounce-buffer byte limit of a new address space (QEMU's default too). */
#define MR_DEFAULT_MAX_BOUNCE_BUFFER_SIZE 4096

/**
 * Map [@addr, @addr + *@plen) of @as for direct access by a device, as
 * QEMU's address_space_map(). On return *@plen holds the bytes mapped,
 * which may be fewer than asked:
 *   - RAM (and, for reads, ROM and ROM devices in romd mode): a pointer to
 *     the memory itself, shortened to the part that is contiguous in one
 *     region (through an IOMMU: consecutive pages that translate
 *     contiguously);
 *   - anything else (MMIO, read-only memory for a write): a bounce buffer
 *     that is filled by a read at map time (for a read mapping) and written
 *     back by address_space_unmap() (for a write mapping). Several bounce
 *     buffers may be live at once; their total size per address space is
 *     limited (address_space_set_max_bounce_buffer_size). At the limit the
 *     mapping is short, or empty: then NULL is returned with *@plen = 0 and
 *     the caller waits for a map client callback (below).
 * NULL with *@plen = 0 is also the answer for an unassigned address (QEMU
 * 7.2 bounces it), an unmapped IOVA or an IOMMU permission fault (QEMU
 * treats both as unassigned). Every non-NULL pointer must be
 * given back with address_space_unmap().
 *
 * While a direct mapping is live, memory_region_destroy() of its RAM region
 * fails with -EBUSY (a mapping taken concurrently with the removal is
 * waited for), and memory_region_set_size() may shrink the region but the
 * memory behind the pointer stays allocated: the device's accesses stay
 * safe, they just no longer show in the guest's view.
 */
void *address_space_map(AddressSpace *as, hwaddr addr, hwaddr *plen, bool is_write,
                        MemTxAttrs attrs);

/**
 * Give back a pointer from address_space_map() of @as. @len is the mapped
 * length and @access_len the bytes the device actually wrote (for a write
 * mapping). A direct write mapping marks [0, @access_len) dirty for every
 * dirty-log client enabled on the region; a bounce write mapping writes its
 * first @access_len bytes back through address_space_write(). Freeing a
 * bounce buffer runs the map clients waiting on @as. Unknown pointers are
 * ignored (with a message in memregion_last_error()).
 */
void address_space_unmap(AddressSpace *as, void *buffer, hwaddr len, bool is_write,
                         hwaddr access_len);

/**
 * Set @as's bounce-buffer limit in bytes (QEMU 2024's per-device
 * x-max-bounce-buffer-size). Live buffers are not affected.
 * Returns 0 or -EINVAL (0 bytes) / -ENOMEM.
 */
int address_space_set_max_bounce_buffer_size(AddressSpace *as, size_t bytes);

/** Bytes of bounce buffers live in @as now. */
size_t address_space_bounce_buffer_size(AddressSpace *as);

/**
 * A map client: a callback to run once bounce-buffer space frees up
 * (QEMU's cpu_register_map_client / address_space_register_map_client).
 * Caller-allocated; @cb and @opaque are the caller's, the rest private.
 */
typedef struct AddressSpaceMapClient {
    void (*cb)(void *opaque);
    void *opaque;
    struct AddressSpaceMapClient *next; /* private */
    bool registered;                    /* private */
} AddressSpaceMapClient;

/**
 * Run @client->cb once, when a bounce buffer of @as is freed; at once (on
 * this thread) when no bounce buffer is live now. The callback runs on the
 * thread that frees the buffer, without any library lock held, after the
 * client was unregistered; it typically retries the map.
 * Errors: -EINVAL, -EBUSY (already registered), -ENOMEM.
 */
int address_space_register_map_client(AddressSpace *as, AddressSpaceMapClient *client);

/** Cancel a registration (no effect when it already ran). */
void address_space_unregister_map_client(AddressSpace *as, AddressSpaceMapClient *client);

/* ---- validity --------------------------------------------------------------- */

/**
 * Would an access of @len bytes at @addr succeed? True when every byte is
 * assigned, every IOMMU on the way permits the direction, and every
 * callback region reached accepts its first access (valid sizes and
 * valid.accepts), as QEMU's address_space_access_valid(). Writes to
 * read-only memory are not valid. Calls no device callback except
 * valid.accepts and IOMMU translate.
 */
bool address_space_access_valid(AddressSpace *as, hwaddr addr, hwaddr len, bool is_write,
                                MemTxAttrs attrs);

/* ---- MemoryRegionCache ------------------------------------------------------ */

/* Stamps a walk records: one per address space and one per IOMMU passed. */
#define MR_CACHE_MAX_STAMPS (2 * MR_IOMMU_MAX_DEPTH + 2)

/** Private: what a translation depended on (an address space's view version
 * or an IOMMU region's cache generation). */
typedef struct MemoryRegionCacheStamp {
    const void *obj;
    uint64_t seq;
    bool is_iommu;
} MemoryRegionCacheStamp;

/**
 * A cached translation of a fixed range (a virtio ring). Caller-allocated;
 * fields are private.
 *
 * It revalidates itself: init records the view version of every address
 * space the translation passed through and the cache generation of every
 * IOMMU region on the way. Each access compares those stamps (a few loads)
 * and, when one changed (the map was re-rendered, or an IOMMU announced a
 * change), translates again before accessing. Nobody has to tell the
 * owner to invalidate, unlike QEMU, whose users must re-init on
 * listener commits. When the whole range is direct memory of one region
 * (through an IOMMU: pages that translate contiguously) an access is a
 * memcpy; otherwise it goes through address_space_read/write.
 */
typedef struct MemoryRegionCache {
    AddressSpace *as;
    hwaddr addr, len;
    bool is_write;
    bool valid;   /* initialised */
    uint8_t *ptr; /* direct memory of the whole range, or NULL */
    MemoryRegion *mr;
    hwaddr mr_off;
    uint8_t dirty_log_mask;
    unsigned nr_stamps;
    MemoryRegionCacheStamp stamps[MR_CACHE_MAX_STAMPS];
} MemoryRegionCache;

/** A cache that was never initialised (address_space_cache_destroy() is then a no-op). */
#define MEMORY_REGION_CACHE_INVALID ((MemoryRegionCache){.valid = false})

/**
 * Cache [@addr, @addr + @len) of @as for reads, or reads and writes
 * (@is_write). Returns @len (the whole range is always usable; accesses
 * through it behave exactly as address_space_read/write at @addr + offset),
 * or -EINVAL for a NULL cache or address space, or a range past 2^64.
 */
int64_t address_space_cache_init(MemoryRegionCache *cache, AddressSpace *as, hwaddr addr,
                                 hwaddr len, bool is_write);

/**
 * QEMU's address_space_cache_invalidate: mark [@addr, @addr + @access_len)
 * of the cache dirty. Writes through the cache already mark dirty memory,
 * so this exists for ported code; it is harmless.
 */
void address_space_cache_invalidate(MemoryRegionCache *cache, hwaddr addr, hwaddr access_len);

/** Forget the cache. Safe on MEMORY_REGION_CACHE_INVALID and twice. */
void address_space_cache_destroy(MemoryRegionCache *cache);

/**
 * Read @len bytes at offset @addr of the cached range into @buf. Bytes
 * outside the cached range are not accessed: they read as zero and the
 * result is MEMTX_DECODE_ERROR (QEMU asserts; a guest controls ring indexes).
 */
MemTxResult address_space_read_cached(MemoryRegionCache *cache, hwaddr addr, void *buf, hwaddr len);
/** Write @len bytes at offset @addr of the cached range (a read-only cache refuses:
 * MEMTX_ACCESS_ERROR). */
MemTxResult address_space_write_cached(MemoryRegionCache *cache, hwaddr addr, const void *buf,
                                       hwaddr len);

/* Typed helpers on a cache: offsets within the cached range; @result may be NULL. */

/** Load a byte at offset @addr of the cache. */
uint8_t address_space_ldub_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                  MemTxResult *result);
/** Load a little-endian 16-bit value. */
uint16_t address_space_lduw_le_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                      MemTxResult *result);
/** Load a big-endian 16-bit value. */
uint16_t address_space_lduw_be_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                      MemTxResult *result);
/** Load a little-endian 32-bit value. */
uint32_t address_space_ldl_le_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                     MemTxResult *result);
/** Load a big-endian 32-bit value. */
uint32_t address_space_ldl_be_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                     MemTxResult *result);
/** Load a little-endian 64-bit value. */
uint64_t address_space_ldq_le_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                     MemTxResult *result);
/** Load a big-endian 64-bit value. */
uint64_t address_space_ldq_be_cached(MemoryRegionCache *cache, hwaddr addr, MemTxAttrs attrs,
                                     MemTxResult *result);
/** Store a byte. */
void address_space_stb_cached(MemoryRegionCache *cache, hwaddr addr, uint8_t val, MemTxAttrs attrs,
                              MemTxResult *result);
/** Store a 16-bit value little-endian. */
void address_space_stw_le_cached(MemoryRegionCache *cache, hwaddr addr, uint16_t val,
                                 MemTxAttrs attrs, MemTxResult *result);
/** Store a 16-bit value big-endian. */
void address_space_stw_be_cached(MemoryRegionCache *cache, hwaddr addr, uint16_t val,
                                 MemTxAttrs attrs, MemTxResult *result);
/** Store a 32-bit value little-endian. */
void address_space_stl_le_cached(MemoryRegionCache *cache, hwaddr addr, uint32_t val,
                                 MemTxAttrs attrs, MemTxResult *result);
/** Store a 32-bit value big-endian. */
void address_space_stl_be_cached(MemoryRegionCache *cache, hwaddr addr, uint32_t val,
                                 MemTxAttrs attrs, MemTxResult *result);
/** Store a 64-bit value little-endian. */
void address_space_stq_le_cached(MemoryRegionCache *cache, hwaddr addr, uint64_t val,
                                 MemTxAttrs attrs, MemTxResult *result);
/** Store a 64-bit value big-endian. */
void address_space_stq_be_cached(MemoryRegionCache *cache, hwaddr addr, uint64_t val,
                                 MemTxAttrs attrs, MemTxResult *result);

MEMREGION_API_END

#endif /* MEMREGION_DMA_H */
