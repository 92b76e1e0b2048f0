/*
 * Per-region extensions: state that only some regions carry (dirty
 * bitmaps, coalescing ranges, ioeventfds). It lives behind mr->ext so that
 * the common MemoryRegion stays small, and it belongs to the region: it
 * survives unmapping, remapping and moving.
 */
#include <stdlib.h>

#include "region_tree.h"

RegionExt *region_ext(MemoryRegion *mr)
{
    if (!mr->ext) {
        mr->ext = calloc(1, sizeof(RegionExt));
        if (!mr->ext)
            mr_oom(__func__);
    }
    return mr->ext;
}

void region_ext_free(MemoryRegion *mr)
{
    RegionExt *ext = mr->ext;
    if (!ext)
        return;
    /* Called after a grace period: no reader can hold these any more. */
    for (int c = 0; c < DIRTY_MEMORY_NUM; c++)
        free(ext->dirty[c]);
    free(ext->coalesced);
    free(ext->eventfds);
    free(ext->path_users);
    free(ext->groups);
    free(ext);
    mr->ext = NULL;
}
