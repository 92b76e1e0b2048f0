/*
 * Coalesced MMIO ranges: attachments of a callback region that tell an
 * accelerator it may buffer writes there. They belong to the region and
 * follow it wherever it is mapped; listeners receive them in absolute
 * addresses, clipped to what is visible.
 */
#include <stdlib.h>

#include "region_tree.h"
#include "listeners.h"

int memory_region_add_coalescing(MemoryRegion *mr, hwaddr offset, uint64_t size)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "add_coalescing: region is not initialised");
    if (mr->kind != MR_KIND_MMIO && mr->kind != MR_KIND_ROMD)
        return mr_error(EINVAL, "region '%s': only callback regions coalesce writes", mr->name);
    if (size == 0 || (mr_size_t)offset + size > mr->size)
        return mr_error(EINVAL, "region '%s': coalescing range outside the region", mr->name);
    memory_region_transaction_begin();
    RegionExt *ext = region_ext(mr);
    size_t cap = ext->nr_coalesced; /* the array is kept exactly full */
    if (MR_GROW(ext->coalesced, cap, ext->nr_coalesced + 1, 1)) {
        memory_region_transaction_commit();
        return mr_error(ENOMEM, "region '%s': out of memory for a coalescing range", mr->name);
    }
    MrCoalesced c = {.offset = offset, .size = size};
    ext->coalesced[ext->nr_coalesced++] = c;
    listener_attachment_changed(mr, ATTACH_COALESCED, NULL, 0, &c, 1);
    memory_region_transaction_commit();
    return 0;
}

void memory_region_clear_coalescing(MemoryRegion *mr)
{
    if (!mr || mr->kind == MR_KIND_NONE || !mr->ext)
        return;
    memory_region_transaction_begin();
    RegionExt *ext = mr->ext;
    MrCoalesced *old = ext->coalesced;
    size_t n = ext->nr_coalesced;
    ext->coalesced = NULL;
    ext->nr_coalesced = 0;
    listener_attachment_changed(mr, ATTACH_COALESCED, old, n, NULL, 0);
    free(old);
    memory_region_transaction_commit();
}
