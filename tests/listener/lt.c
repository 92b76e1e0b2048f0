/*
 * Shared helpers of the listener tests: see lt.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt.h"

#define LT_MAX_M 8

static Mirror *lt_ms[LT_MAX_M];
static size_t lt_nm;

Mirror *lt_mirror_new(const char *name, int priority)
{
    assert_true(lt_nm < LT_MAX_M);
    Mirror *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    mirror_init(m, name, priority);
    lt_ms[lt_nm++] = m;
    return m;
}

Mirror *lt_mirror(const char *name, int priority, AddressSpace *as)
{
    Mirror *m = lt_mirror_new(name, priority);
    assert_int_equal(mirror_register(m, as), 0);
    return m;
}

int lt_teardown(void **state)
{
    (void)state;
    ts_close_transactions();
    memory_global_dirty_log_stop();
    memregion_set_dirty_page_size(4096);
    for (size_t i = 0; i < lt_nm; i++) {
        mirror_unregister(lt_ms[i]);
        mirror_destroy(lt_ms[i]);
        free(lt_ms[i]);
    }
    lt_nm = 0;
    return ts_teardown_objects() ? -1 : 0;
}

void lt_check_mirror(Mirror *m, AddressSpace *as, const char *file, int line)
{
    char why[512] = "";
    if (m->errors) {
        mirror_print_log(m, stderr);
        fprintf(stderr, "%s:%d: mirror %s: %lu protocol errors, first: %s\n", file, line, m->name,
                m->errors, m->first_error);
        _fail(file, line);
    }
    if (mirror_compare_view(m, as, why, sizeof(why))) {
        mirror_print(m, stderr);
        fprintf(stderr, "%s:%d: mirror %s differs from the view: %s\n", file, line, m->name, why);
        _fail(file, line);
    }
}

void lt_check_event(const MirrorEvent *e, MirrorCb cb, hwaddr addr, mr_size_t size,
                    const MemoryRegion *mr, const char *file, int line)
{
    char b[160];
    if (!e) {
        fprintf(stderr, "%s:%d: expected %s at 0x%llx, got no event\n", file, line,
                mirror_cb_name(cb), (unsigned long long)addr);
        _fail(file, line);
    }
    if (e->cb != cb || e->range.addr != addr || e->range.size != size || e->range.mr != mr) {
        fprintf(stderr, "%s:%d: expected %s at 0x%llx size 0x%llx of %s, got %s %s\n", file, line,
                mirror_cb_name(cb), (unsigned long long)addr, (unsigned long long)size,
                mr ? memory_region_name(mr) : "(null)", mirror_cb_name(e->cb),
                mirror_format_range(&e->range, b, sizeof b));
        _fail(file, line);
    }
}

/* ---- LtDev --------------------------------------------------------------------- */

static uint64_t lt_dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)addr;
    (void)size;
    ((LtDev *)opaque)->nreads++;
    return 0;
}

static void lt_dev_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    LtDev *d = opaque;
    if (d->nwrites < LT_DEV_LOG) {
        d->waddr[d->nwrites] = addr;
        d->wdata[d->nwrites] = data;
        d->wsize[d->nwrites] = size;
    }
    d->nwrites++;
}

const MemoryRegionOps lt_dev_ops = {
    .read = lt_dev_read,
    .write = lt_dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.min_access_size = 1, .max_access_size = 8},
    .impl = {.min_access_size = 1, .max_access_size = 8},
};
