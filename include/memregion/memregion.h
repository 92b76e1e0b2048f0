/*
 * memregion: a hierarchical memory map for emulators, simulators and VMMs.
 *
 * Include this one header to get the whole public API:
 *   version.h        MEMREGION_VERSION_*, memregion_version()
 *   types.h          addresses, sizes (up to 2^64), MemTxAttrs, MemTxResult
 *   region.h         MemoryRegion, MemoryRegionOps, the region tree
 *   address_space.h  AddressSpace, FlatView, transactions
 *   access.h         reads, writes, typed loads/stores, translate
 *   listener.h       listeners, dirty logging, coalesced MMIO, ioeventfd
 *   iommu.h          IOMMU regions, translation, notifiers
 *   dma.h            DMA mapping, bounce buffers, access_valid, MemoryRegionCache
 *   overlap.h        overlap diagnostics and equal-priority ties
 */
#ifndef MEMREGION_MEMREGION_H
#define MEMREGION_MEMREGION_H

#include "version.h"
#include "types.h"
#include "region.h"
#include "address_space.h"
#include "access.h"
#include "listener.h"
#include "mtree.h"
#include "iommu.h"
#include "dma.h"
#include "overlap.h"

#endif /* MEMREGION_MEMREGION_H */
