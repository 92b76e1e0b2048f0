/*
 * Shared helpers for the unit tests: see helpers.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---- tracked objects ------------------------------------------------------ */

int h_teardown(void **state)
{
    (void)state;
    ts_teardown_objects();
    return 0;
}

/* ---- 128-bit sizes ---------------------------------------------------------- */

const char *h_u128(mr_size_t v, char *buf)
{
    uint64_t hi = (uint64_t)(v >> 64), lo = (uint64_t)v;
    if (hi)
        sprintf(buf, "0x%" PRIx64 "%016" PRIx64, hi, lo);
    else
        sprintf(buf, "0x%" PRIx64, lo);
    return buf;
}

void h_assert_size(mr_size_t got, mr_size_t want, const char *file, int line)
{
    if (got != want) {
        char a[40], b[40];
        print_error("size %s != expected %s\n", h_u128(got, a), h_u128(want, b));
        _fail(file, line);
    }
}

/* ---- flat view checks ------------------------------------------------------- */

static void print_range(const char *prefix, size_t i, hwaddr addr, mr_size_t size,
                        const MemoryRegion *mr, hwaddr off, bool ro)
{
    char s[40];
    print_message("%s[%zu] addr 0x%" PRIx64 " size %s mr %s off 0x%" PRIx64 "%s\n", prefix, i, addr,
                  h_u128(size, s), mr ? memory_region_name(mr) : "(null)", off, ro ? " ro" : "");
}

void h_print_view(AddressSpace *as)
{
    FlatView *fv = address_space_get_flatview(as);
    size_t n = flatview_nr_ranges(fv);
    print_message("view of %s: %zu range(s)\n", address_space_name(as), n);
    for (size_t i = 0; i < n; i++) {
        const FlatRange *fr = flatview_range(fv, i);
        print_range("  got ", i, fr->addr, fr->size, fr->mr, fr->offset_in_region, fr->readonly);
    }
    flatview_unref(fv);
}

void h_check_view(AddressSpace *as, const ExpRange *exp, size_t n, const char *file, int line)
{
    FlatView *fv = address_space_get_flatview(as);
    if (!fv) {
        print_error("address_space_get_flatview returned NULL\n");
        _fail(file, line);
    }
    size_t got = flatview_nr_ranges(fv);
    bool ok = got == n;
    for (size_t i = 0; ok && i < n; i++) {
        const FlatRange *fr = flatview_range(fv, i);
        ok = fr && fr->addr == exp[i].addr && fr->size == exp[i].size && fr->mr == exp[i].mr &&
             fr->offset_in_region == exp[i].offset && fr->readonly == exp[i].readonly;
    }
    if (!ok) {
        print_error("flat view mismatch: got %zu range(s), expected %zu\n", got, n);
        for (size_t i = 0; i < got; i++) {
            const FlatRange *fr = flatview_range(fv, i);
            print_range("  got ", i, fr->addr, fr->size, fr->mr, fr->offset_in_region,
                        fr->readonly);
        }
        for (size_t i = 0; i < n; i++)
            print_range("  want", i, exp[i].addr, exp[i].size, exp[i].mr, exp[i].offset,
                        exp[i].readonly);
    }
    flatview_unref(fv);
    if (!ok)
        _fail(file, line);
}

void h_snap(AddressSpace *as, ViewSnap *snap)
{
    FlatView *fv = address_space_get_flatview(as);
    snap->n = flatview_nr_ranges(fv);
    assert_true(snap->n <= sizeof(snap->r) / sizeof(snap->r[0]));
    for (size_t i = 0; i < snap->n; i++)
        snap->r[i] = *flatview_range(fv, i);
    flatview_unref(fv);
}

void h_check_snap(AddressSpace *as, const ViewSnap *snap, const char *file, int line)
{
    ViewSnap now;
    h_snap(as, &now);
    bool ok = now.n == snap->n;
    for (size_t i = 0; ok && i < snap->n; i++) {
        const FlatRange *a = &now.r[i], *b = &snap->r[i];
        ok = a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
             a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
             a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode;
    }
    if (!ok) {
        print_error("view changed: %zu range(s), was %zu\n", now.n, snap->n);
        for (size_t i = 0; i < now.n; i++)
            print_range("  now ", i, now.r[i].addr, now.r[i].size, now.r[i].mr,
                        now.r[i].offset_in_region, now.r[i].readonly);
        for (size_t i = 0; i < snap->n; i++)
            print_range("  was ", i, snap->r[i].addr, snap->r[i].size, snap->r[i].mr,
                        snap->r[i].offset_in_region, snap->r[i].readonly);
        _fail(file, line);
    }
}

/* ---- TestDev ------------------------------------------------------------------ */

void td_init(TestDev *dev, MemDeviceEndian endian)
{
    memset(dev, 0, sizeof(*dev));
    dev->endian = endian;
}

void td_fill(TestDev *dev, uint8_t base)
{
    for (unsigned i = 0; i < TD_MEM; i++)
        dev->mem[i] = (uint8_t)(base + i);
}

static bool td_in_range(TestDev *dev, hwaddr addr, unsigned size)
{
    if (size == 0 || size > 8 || addr >= TD_MEM || TD_MEM - addr < size) {
        dev->overflow = true;
        return false;
    }
    return true;
}

static void td_log(TestDev *dev, bool is_write, hwaddr addr, unsigned size, uint64_t data,
                   MemTxAttrs attrs)
{
    if (dev->nlog >= TD_LOG_MAX) {
        dev->overflow = true;
        return;
    }
    dev->log[dev->nlog++] = (TdAccess){is_write, addr, size, data, attrs};
}

static uint64_t td_get(TestDev *dev, hwaddr addr, unsigned size)
{
    uint64_t v = 0;
    if (!td_in_range(dev, addr, size))
        return 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned shift = dev->endian == DEVICE_BIG_ENDIAN ? 8 * (size - 1 - i) : 8 * i;
        v |= (uint64_t)dev->mem[addr + i] << shift;
    }
    return v;
}

static void td_put(TestDev *dev, hwaddr addr, unsigned size, uint64_t v)
{
    if (!td_in_range(dev, addr, size))
        return;
    for (unsigned i = 0; i < size; i++) {
        unsigned shift = dev->endian == DEVICE_BIG_ENDIAN ? 8 * (size - 1 - i) : 8 * i;
        dev->mem[addr + i] = (uint8_t)(v >> shift);
    }
}

static MemTxResult td_result(const TestDev *dev, hwaddr addr)
{
    return addr >= dev->result_from ? dev->result : MEMTX_OK;
}

MemTxResult td_read_attrs(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                          MemTxAttrs attrs)
{
    TestDev *dev = opaque;
    uint64_t v = td_get(dev, addr, size);
    td_log(dev, false, addr, size, v, attrs);
    if (dev->hook)
        dev->hook(dev, false, addr, size, 0);
    *data = v;
    return td_result(dev, addr);
}

MemTxResult td_write_attrs(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                           MemTxAttrs attrs)
{
    TestDev *dev = opaque;
    td_log(dev, true, addr, size, data, attrs);
    if (dev->hook)
        dev->hook(dev, true, addr, size, data);
    td_put(dev, addr, size, data);
    return td_result(dev, addr);
}

uint64_t td_read(void *opaque, hwaddr addr, unsigned size)
{
    uint64_t v = 0;
    td_read_attrs(opaque, addr, &v, size, MEMTXATTRS_UNSPECIFIED);
    return v;
}

void td_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    td_write_attrs(opaque, addr, data, size, MEMTXATTRS_UNSPECIFIED);
}

void h_print_log(const TestDev *dev)
{
    print_message("device log: %u access(es)%s\n", dev->nlog, dev->overflow ? " (overflow)" : "");
    for (unsigned i = 0; i < dev->nlog; i++)
        print_message("  [%u] %s addr 0x%" PRIx64 " size %u data 0x%" PRIx64 " be 0x%x\n", i,
                      dev->log[i].is_write ? "write" : "read ", dev->log[i].addr, dev->log[i].size,
                      dev->log[i].data, dev->log[i].attrs.byte_enable);
}

void h_check_access(const TestDev *dev, unsigned i, bool is_write, hwaddr addr, unsigned size,
                    uint64_t data, const char *file, int line)
{
    bool ok = i < dev->nlog && dev->log[i].is_write == is_write && dev->log[i].addr == addr &&
              dev->log[i].size == size && dev->log[i].data == data;
    if (!ok) {
        print_error("access %u: expected %s addr 0x%" PRIx64 " size %u data 0x%" PRIx64 "\n", i,
                    is_write ? "write" : "read", addr, size, data);
        h_print_log(dev);
        _fail(file, line);
    }
}

const MemoryRegionOps td_ops_le = {
    .read_with_attrs = td_read_attrs,
    .write_with_attrs = td_write_attrs,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.max_access_size = 8},
    .impl = {.max_access_size = 8},
};

const MemoryRegionOps td_ops_be = {
    .read_with_attrs = td_read_attrs,
    .write_with_attrs = td_write_attrs,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid = {.max_access_size = 8},
    .impl = {.max_access_size = 8},
};

const MemoryRegionOps td_ops_plain = {
    .read = td_read,
    .write = td_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {.max_access_size = 8},
    .impl = {.max_access_size = 8},
};
