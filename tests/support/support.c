/*
 * Test support: tracked regions and address spaces (see support.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "support.h"

#define TS_MAX_MR 256
#define TS_MAX_AS 16

static MemoryRegion *ts_mrs[TS_MAX_MR];
static size_t ts_nmr;
static AddressSpace *ts_ass[TS_MAX_AS];
static size_t ts_nas;
static int ts_depth;

MemoryRegion *ts_mr(void)
{
    assert_true(ts_nmr < TS_MAX_MR);
    MemoryRegion *mr = calloc(1, sizeof(*mr));
    assert_non_null(mr);
    ts_mrs[ts_nmr++] = mr;
    return mr;
}

MemoryRegion *ts_container(const char *name, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init(mr, name, size), 0);
    return mr;
}

MemoryRegion *ts_ram(const char *name, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init_ram(mr, name, size), 0);
    return mr;
}

MemoryRegion *ts_rom(const char *name, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init_rom(mr, name, size), 0);
    return mr;
}

MemoryRegion *ts_io(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init_io(mr, ops, opaque, name, size), 0);
    return mr;
}

MemoryRegion *ts_romd(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init_rom_device(mr, ops, opaque, name, size), 0);
    return mr;
}

MemoryRegion *ts_alias(const char *name, MemoryRegion *orig, hwaddr offset, mr_size_t size)
{
    MemoryRegion *mr = ts_mr();
    assert_int_equal(memory_region_init_alias(mr, name, orig, offset, size), 0);
    return mr;
}

AddressSpace *ts_as(MemoryRegion *root, const char *name)
{
    assert_true(ts_nas < TS_MAX_AS);
    AddressSpace *as = calloc(1, sizeof(*as));
    assert_non_null(as);
    assert_int_equal(address_space_init(as, root, name), 0);
    ts_ass[ts_nas++] = as;
    return as;
}

void ts_as_destroy(AddressSpace *as)
{
    for (size_t i = 0; i < ts_nas; i++) {
        if (ts_ass[i] == as) {
            address_space_destroy(as);
            free(as);
            ts_ass[i] = ts_ass[--ts_nas];
            return;
        }
    }
    fail_msg("ts_as_destroy: untracked address space %p", (void *)as);
}

void ts_begin(void)
{
    memory_region_transaction_begin();
    ts_depth++;
}

void ts_commit(void)
{
    ts_depth--;
    memory_region_transaction_commit();
}

void ts_close_transactions(void)
{
    while (ts_depth > 0)
        ts_commit();
}

size_t ts_teardown_objects(void)
{
    ts_close_transactions();
    while (ts_nas > 0)
        ts_as_destroy(ts_ass[ts_nas - 1]);
    /* Unmap everything, then destroy until no progress (aliases before targets). */
    for (size_t i = 0; i < ts_nmr; i++) {
        MemoryRegion *c = memory_region_container(ts_mrs[i]);
        if (memory_region_kind(ts_mrs[i]) != MR_KIND_NONE && c)
            memory_region_del_subregion(c, ts_mrs[i]);
    }
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = ts_nmr; i-- > 0;)
            if (memory_region_kind(ts_mrs[i]) != MR_KIND_NONE &&
                memory_region_destroy(ts_mrs[i]) == 0)
                progress = true;
    }
    size_t kept = 0;
    for (size_t i = 0; i < ts_nmr; i++) {
        if (memory_region_kind(ts_mrs[i]) == MR_KIND_NONE)
            free(ts_mrs[i]);
        else
            ts_mrs[kept++] = ts_mrs[i]; /* still in use by the library: leak it */
    }
    if (kept)
        fprintf(stderr, "teardown: %zu region(s) could not be destroyed: %s\n", kept,
                memregion_last_error());
    ts_nmr = kept; /* tried again at the next teardown */
    return kept;
}
