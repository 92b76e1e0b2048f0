/*
 * memregion: guest accesses through an address space.
 *
 * Thread rules: every function here is reader-side. It takes no lock, may
 * run on any number of threads at once and concurrently with writers, and
 * sees one consistent view per range it touches. Device callbacks run on
 * the calling thread, outside any library lock, and may themselves access
 * memory or change the map.
 *
 * What a guest can cause never aborts: unassigned addresses, odd sizes and
 * unaligned accesses all give defined data and a MemTxResult (see the
 * access rules beside MemoryRegionOps in region.h).
 */
#ifndef MEMREGION_ACCESS_H
#define MEMREGION_ACCESS_H

#include "address_space.h"

MEMREGION_API_BEGIN

/**
 * Read @len bytes at @addr into @buf. The transfer may cross any number of
 * ranges. Unassigned bytes read as the address space's unassigned value.
 */
MemTxResult address_space_read(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, void *buf,
                               hwaddr len);

/**
 * Write @len bytes from @buf at @addr. Unassigned bytes are dropped
 * (MEMTX_DECODE_ERROR). Bytes that fall on a read-only range of memory
 * (a ROM, or RAM made read-only itself or by a container or alias above
 * it) are refused as QEMU's ROM refuses them: they stay unchanged and the
 * result has MEMTX_DECODE_ERROR; the rest of the transfer is still written.
 * A write with attrs.debug set (a debugger's) does change read-only memory.
 * The CPU side is different: address_space_translate() of a write to ROM
 * succeeds with readonly set and no host pointer, so an emulator's TLB
 * fill can drop the guest's store silently, as a CPU does.
 */
MemTxResult address_space_write(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, const void *buf,
                                hwaddr len);

/**
 * Number of software-TLB fills the calling thread has made (for tests and
 * benchmarks). address_space_read/write/rw remember, per thread, what each
 * 4 KiB page they found was (memory, or a device at an offset) and skip the
 * lookup on the next access to the page. A commit forgets only the pages it
 * changed; a count that stays put across commits shows the entries of
 * untouched pages surviving. Reader-side, no lock.
 */
uint64_t memregion_stat_tlb_fills(void);

/**
 * Number of software-TLB entries the calling thread has kept across a
 * commit without a lookup (for tests and benchmarks). Pages share 1024
 * zones (page numbers equal modulo 1024); a commit that changes a page
 * gives its zone a new generation, and an entry of another page of that
 * zone is then checked against the pages the zone's recent commits changed
 * instead of being filled again. Reader-side, no lock.
 */
uint64_t memregion_stat_tlb_revalidations(void);

/** address_space_read() or address_space_write(), by @is_write. */
MemTxResult address_space_rw(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, void *buf, hwaddr len,
                             bool is_write);

/*
 * Typed helpers: exactly one access of 1, 2, 4 or 8 bytes, as QEMU's
 * load and store helpers make it. To memory the bytes are copied. To a
 * device it is one guest access checked against the device's `valid`
 * (region.h, rule 2): wider than valid.max_access_size, or misaligned for
 * a device that refuses unaligned accesses, it gives MEMTX_DECODE_ERROR
 * (a load returns 0) and the device is not called. Unlike
 * address_space_read/write, which cut a buffer into accesses the device
 * allows, a typed helper is never split into smaller guest accesses
 * (the device may still see it as several `impl`-sized accesses); only one
 * whose bytes straddle two ranges is cut at the range boundary. The suffix
 * says how the bytes in memory form the value: _le little-endian, _be
 * big-endian. @result may be NULL. Reader-side.
 */

/** Load one byte at @addr. */
uint8_t address_space_ldub(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result);
/** Load a little-endian 16-bit value at @addr. */
uint16_t address_space_lduw_le(AddressSpace *as, hwaddr addr, MemTxAttrs attrs,
                               MemTxResult *result);
/** Load a big-endian 16-bit value at @addr. */
uint16_t address_space_lduw_be(AddressSpace *as, hwaddr addr, MemTxAttrs attrs,
                               MemTxResult *result);
/** Load a little-endian 32-bit value at @addr. */
uint32_t address_space_ldl_le(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result);
/** Load a big-endian 32-bit value at @addr. */
uint32_t address_space_ldl_be(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result);
/** Load a little-endian 64-bit value at @addr. */
uint64_t address_space_ldq_le(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result);
/** Load a big-endian 64-bit value at @addr. */
uint64_t address_space_ldq_be(AddressSpace *as, hwaddr addr, MemTxAttrs attrs, MemTxResult *result);
/** Store one byte at @addr. */
void address_space_stb(AddressSpace *as, hwaddr addr, uint8_t val, MemTxAttrs attrs,
                       MemTxResult *result);
/** Store a 16-bit value little-endian at @addr. */
void address_space_stw_le(AddressSpace *as, hwaddr addr, uint16_t val, MemTxAttrs attrs,
                          MemTxResult *result);
/** Store a 16-bit value big-endian at @addr. */
void address_space_stw_be(AddressSpace *as, hwaddr addr, uint16_t val, MemTxAttrs attrs,
                          MemTxResult *result);
/** Store a 32-bit value little-endian at @addr. */
void address_space_stl_le(AddressSpace *as, hwaddr addr, uint32_t val, MemTxAttrs attrs,
                          MemTxResult *result);
/** Store a 32-bit value big-endian at @addr. */
void address_space_stl_be(AddressSpace *as, hwaddr addr, uint32_t val, MemTxAttrs attrs,
                          MemTxResult *result);
/** Store a 64-bit value little-endian at @addr. */
void address_space_stq_le(AddressSpace *as, hwaddr addr, uint64_t val, MemTxAttrs attrs,
                          MemTxResult *result);
/** Store a 64-bit value big-endian at @addr. */
void address_space_stq_be(AddressSpace *as, hwaddr addr, uint64_t val, MemTxAttrs attrs,
                          MemTxResult *result);

/**
 * What an address resolves to: the TLB-fill path of an emulator.
 */
typedef struct MemoryRegionSection {
    MemoryRegion *mr;                   /**< terminating region, NULL when unassigned */
    hwaddr offset_within_region;        /**< offset in @mr of the address asked for */
    hwaddr offset_within_address_space; /**< the address asked for */
    mr_size_t size; /**< bytes from the address to the end of its range (or of the hole) */
    /**
     * Host pointer to the byte at the address when the access may go
     * straight to memory: RAM, ROM for reads, a ROM device in romd mode for
     * reads. NULL otherwise: dispatch through address_space_read/write.
     */
    uint8_t *host;
    bool readonly; /**< the range is read-only to the guest */
} MemoryRegionSection;

/**
 * Resolve @addr for a read (@is_write false) or write. Fills @out and
 * returns MEMTX_OK, or MEMTX_DECODE_ERROR for an unassigned address (then
 * out->mr is NULL and out->size spans the hole).
 *
 * IOMMU regions (iommu.h) on the way are followed, as QEMU's
 * address_space_translate does: out->mr and out->offset_within_region are
 * then the region at the end of the walk, out->size ends with the IOMMU
 * page, and an unmapped IOVA (MEMTX_DECODE_ERROR) or a permission fault
 * (MEMTX_ACCESS_ERROR) leaves out->mr NULL.
 *
 * The pointers in @out stay valid until the region is destroyed; the
 * mapping itself may change at the next commit, so an emulator that caches
 * them (a software TLB) must flush on its listener's commit callback.
 */
MemTxResult address_space_translate(AddressSpace *as, hwaddr addr, bool is_write, MemTxAttrs attrs,
                                    MemoryRegionSection *out);

/*
 * A read section held across many accesses.
 *
 * Every access enters and leaves a read-side section of its own (liburcu-bp's:
 * about a nanosecond, a third of a RAM access through the TLB). QEMU's
 * callers hold rcu_read_lock() around address_space_translate() and around
 * runs of accesses instead (a vCPU holds it while it executes guest code);
 * a memregion caller may do the same. Inside a section the caller holds, a
 * RAM access that hits the thread's software TLB, and a translate that hits
 * the view's last-used range, enter none of their own. Nothing else
 * changes: each access still sees the map of the latest commit, and no
 * pointer lives longer because of the section.
 *
 * The cost is the writer's: while a thread holds a section, a writer that
 * must wait for readers (a commit that frees retired views, which happens
 * every few hundred commits; memory_region_destroy; address_space_destroy)
 * waits until it ends. So hold one for a bounded run of accesses, and end
 * it before the thread blocks: waits for I/O or for another thread, enters
 * KVM_RUN, sleeps or exits.
 *
 * The library ends the section itself, and the next RAM or translate hit
 * after that opens it again (or the next memregion_read_section_begin()), wherever
 * the thread may wait for another: while a device callback or a DMA map
 * client runs, while the thread holds or waits for the writer lock (every
 * map change, a transaction from begin to commit) and inside the destroy
 * functions. All of those are therefore safe inside a section; QEMU's rule
 * differs there (its callbacks run inside the caller's rcu_read_lock(),
 * and its commit never waits for readers). The library can end only the
 * sections it opened: a program that also uses liburcu-bp and calls its
 * rcu_read_lock() around accesses gets the same fast hits, but must not
 * let a device callback change the map inside that section, nor destroy.
 */

/**
 * Open a read section for the calling thread's accesses, until the
 * matching memregion_read_section_end(). Sections nest: only the outermost
 * pair opens and ends it. Thread rules: per thread, on any thread; the
 * thread must end it before it exits.
 */
void memregion_read_section_begin(void);

/**
 * End the calling thread's innermost read section. Returns 0, or -EPERM
 * with a message when the thread holds none. Thread rules: per thread.
 */
int memregion_read_section_end(void);

/**
 * How many read sections the calling thread holds (0: none), for a caller
 * that checks it holds none before it blocks. Thread rules: per thread.
 */
unsigned memregion_read_section_depth(void);

MEMREGION_API_END

#endif /* MEMREGION_ACCESS_H */
