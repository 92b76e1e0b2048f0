/*
 * Access adaptation for callback regions (MMIO, and ROM devices outside
 * direct reads): the six rules documented beside MemoryRegionOps in
 * region.h. Guest bytes are cut into guest accesses (valid), each checked,
 * then covered by device accesses (impl) with read-modify-write or byte
 * enables for partial writes, and converted by device endianness.
 *
 * The bus is a byte bus: a transfer is an array of bytes in address order.
 * A device value maps to those bytes by the device's endianness only.
 */
#include <string.h>

#include "access_path.h"

/* The ops' size fields with zeros read as QEMU reads them. */
typedef struct AccessShape {
    unsigned valid_min, valid_max; /* valid_max 0: any size is valid (QEMU's compatibility) */
    unsigned cut_max;              /* largest guest access the buffer API makes */
    unsigned impl_min, impl_max;
} AccessShape;

static unsigned size_or(unsigned v, unsigned dflt)
{
    return (v == 1 || v == 2 || v == 4 || v == 8) ? v : dflt;
}

static AccessShape shape_of(const MemoryRegionOps *ops)
{
    AccessShape s;
    s.valid_min = size_or(ops->valid.min_access_size, 1);
    s.valid_max = ops->valid.max_access_size ? size_or(ops->valid.max_access_size, 8) : 0;
    if (s.valid_max && s.valid_max < s.valid_min)
        s.valid_max = s.valid_min;
    s.cut_max = s.valid_max ? s.valid_max : 4;
    s.impl_min = size_or(ops->impl.min_access_size, 1);
    s.impl_max = size_or(ops->impl.max_access_size, 4);
    if (s.impl_max < s.impl_min)
        s.impl_max = s.impl_min;
    return s;
}

/* The size rule of `valid` (QEMU's memory_region_access_valid): with
 * valid.max_access_size 0 every size is valid, valid.min included. */
static bool size_valid(const AccessShape *s, unsigned size)
{
    return !s->valid_max || (size >= s->valid_min && size <= s->valid_max);
}

/* Byte @i (address order) of an @n-byte device value. */
static inline uint8_t value_byte(uint64_t v, unsigned i, unsigned n, MemDeviceEndian e)
{
    unsigned shift = e == DEVICE_BIG_ENDIAN ? 8 * (n - 1 - i) : 8 * i;
    return (uint8_t)(v >> shift);
}

static inline uint64_t byte_value(uint8_t b, unsigned i, unsigned n, MemDeviceEndian e)
{
    unsigned shift = e == DEVICE_BIG_ENDIAN ? 8 * (n - 1 - i) : 8 * i;
    return (uint64_t)b << shift;
}

static MemTxResult dev_read(MemoryRegion *mr, hwaddr addr, unsigned size, uint64_t *val,
                            MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    MemTxResult r = MEMTX_OK;
    *val = 0;
    if (ops->read) /* QEMU's choice when both forms are set */
        *val = ops->read(mr->opaque, addr, size);
    else if (ops->read_with_attrs)
        r = ops->read_with_attrs(mr->opaque, addr, val, size, attrs);
    else
        r = MEMTX_DECODE_ERROR;
    if (size < 8)
        *val &= (1ull << (8 * size)) - 1;
    return r;
}

static MemTxResult dev_write(MemoryRegion *mr, hwaddr addr, unsigned size, uint64_t val,
                             MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    if (ops->write) { /* QEMU's choice when both forms are set */
        ops->write(mr->opaque, addr, val, size);
        return MEMTX_OK;
    }
    if (ops->write_with_attrs)
        return ops->write_with_attrs(mr->opaque, addr, val, size, attrs);
    return MEMTX_DECODE_ERROR;
}

/*
 * The straight path: an aligned access of size n goes to the callbacks as
 * it is when n is a valid guest size, a size the callbacks implement, and
 * no accepts() callback must be asked. Decided once per region, from the
 * same shape every access is cut by, so both paths always agree.
 */
void mmio_ops_set(MemoryRegion *mr)
{
    mr->straight = 0;
    if (!mr->ops || mr->ops->valid.accepts)
        return;
    AccessShape s = shape_of(mr->ops);
    /* The straight sizes are the sizes of one interval: at most cut_max
     * (which is valid_max when that is set, so size_valid() adds only its
     * lower bound, valid_min) and within [impl_min, impl_max]. Both ends
     * are powers of two. */
    unsigned lo = MR_MAX(s.impl_min, s.valid_max ? s.valid_min : 1);
    unsigned hi = MR_MIN(s.cut_max, s.impl_max);
    for (unsigned n = lo; n <= hi; n *= 2)
        mr->straight |= (uint16_t)(1u << n);
}

/* One guest access [off, off+size) covered by device accesses (rules 3-5). */
static MemTxResult device_access(MemoryRegion *mr, const AccessShape *s, hwaddr off, uint8_t *buf,
                                 unsigned size, bool is_write, MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    MemDeviceEndian e = ops->endianness;
    unsigned a = MR_MIN(MR_MAX(size, s->impl_min), s->impl_max);
    hwaddr first = ops->impl.unaligned ? off : off & ~(hwaddr)(a - 1);
    mr_size_t end = (mr_size_t)off + size;
    MemTxResult result = MEMTX_OK;

    for (mr_size_t b = first; b < end; b += a) {
        hwaddr blk = (hwaddr)b;
        mr_size_t lo = MR_MAX(b, (mr_size_t)off), hi = MR_MIN(b + a, end);
        uint64_t val = 0;
        if (!is_write) {
            result |= dev_read(mr, blk, a, &val, attrs);
            for (mr_size_t x = lo; x < hi; x++)
                buf[x - off] = value_byte(val, (unsigned)(x - b), a, e);
            continue;
        }
        bool partial = lo != b || hi != b + a;
        MemTxAttrs wattrs = attrs;
        if (partial && !ops->impl.no_read_modify_write) {
            result |= dev_read(mr, blk, a, &val, attrs);
            for (mr_size_t x = lo; x < hi; x++) {
                unsigned i = (unsigned)(x - b);
                val &= ~byte_value(0xff, i, a, e);
                val |= byte_value(buf[x - off], i, a, e);
            }
        } else {
            unsigned mask = 0;
            for (mr_size_t x = lo; x < hi; x++) {
                val |= byte_value(buf[x - off], (unsigned)(x - b), a, e);
                mask |= 1u << (x - b);
            }
            if (ops->impl.no_read_modify_write)
                wattrs.byte_enable = mask;
        }
        result |= dev_write(mr, blk, a, val, wattrs);
    }
    return result;
}

/* One aligned access of a size in mr->straight: straight to the callbacks,
 * with nothing between the access and the callback but the byte order. */
static inline __attribute__((always_inline)) MemTxResult straight_access(MemoryRegion *mr,
                                                                         hwaddr off, uint8_t *buf,
                                                                         unsigned n, bool is_write,
                                                                         MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    if (!is_write) {
        /* dev_read's choice of callback, without its mask (the conversion
         * keeps only n bytes) and with the value in a register unless
         * read_with_attrs needs its address; the plain callback and the
         * common sizes, 4 and 8, are each a straight line. */
        uint64_t val;
        MemTxResult r = MEMTX_OK;
        if (__builtin_expect(ops->read != NULL, 1)) {
            val = ops->read(mr->opaque, off, n);
        } else {
            uint64_t v = 0; /* in memory only on this path */
            if (ops->read_with_attrs)
                r = ops->read_with_attrs(mr->opaque, off, &v, n, attrs);
            else
                r = MEMTX_DECODE_ERROR;
            val = v;
        }
        bool big = ops->endianness == DEVICE_BIG_ENDIAN;
        if (__builtin_expect(n == 4, 1))
            mr_value_to_bytes(val, buf, 4, big);
        else if (n == 8)
            mr_value_to_bytes(val, buf, 8, big);
        else
            mr_value_to_bytes(val, buf, n, big);
        return r;
    }
    uint64_t val = mr_bytes_to_value(buf, n, ops->endianness == DEVICE_BIG_ENDIAN);
    if (ops->impl.no_read_modify_write)
        attrs.byte_enable = (1u << n) - 1;
    return dev_write(mr, off, n, val, attrs);
}

MemTxResult mmio_straight_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, unsigned n,
                                 bool is_write, MemTxAttrs attrs)
{
    return straight_access(mr, off, buf, n, is_write, attrs);
}

/* The straight path's ends: perform, leave the call record and, for the
 * _resume ones, resume the caller's read section that the entry suspended. */
#define STRAIGHT_LEAVE(name, is_write, resume)                                                     \
    MemTxResult name(MemoryRegion *mr, hwaddr off, MemTxAttrs attrs, uint8_t *buf, uint64_t n)     \
    {                                                                                              \
        MemTxResult r = straight_access(mr, off, buf, (unsigned)n, is_write, attrs);               \
        callrec_leave_outermost();                                                                 \
        if (resume)                                                                                \
            mr_section_resume();                                                                   \
        return r;                                                                                  \
    }
STRAIGHT_LEAVE(mmio_straight_read_leave, false, false)
STRAIGHT_LEAVE(mmio_straight_write_leave, true, false)
STRAIGHT_LEAVE(mmio_straight_read_leave_resume, false, true)
STRAIGHT_LEAVE(mmio_straight_write_leave_resume, true, true)

/*
 * One guest access: checked against `valid` as QEMU's
 * memory_region_access_valid() checks it (rule 2), then performed with
 * device accesses; a refused one never reaches the device.
 */
static MemTxResult guest_access(MemoryRegion *mr, const AccessShape *s, hwaddr off, uint8_t *buf,
                                unsigned size, bool is_write, MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    bool ok = (!ops->valid.accepts || ops->valid.accepts(mr->opaque, off, size, is_write, attrs)) &&
              (ops->valid.unaligned || !(off & (size - 1))) && size_valid(s, size);
    if (!ok) {
        if (!is_write)
            memset(buf, 0, size);
        return MEMTX_DECODE_ERROR;
    }
    return device_access(mr, s, off, buf, size, is_write, attrs);
}

MemTxResult mmio_access_one(MemoryRegion *mr, hwaddr off, uint8_t *buf, unsigned size,
                            bool is_write, MemTxAttrs attrs)
{
    if (!mr->ops) {
        if (!is_write)
            memset(buf, 0, size);
        return MEMTX_DECODE_ERROR; /* a reservation */
    }
    if (mmio_is_straight(mr, off, size))
        return mmio_straight_access(mr, off, buf, size, is_write, attrs);
    AccessShape s = shape_of(mr->ops);
    return guest_access(mr, &s, off, buf, size, is_write, attrs);
}

MemTxResult mmio_access(MemoryRegion *mr, hwaddr off, uint8_t *buf, uint64_t len, bool is_write,
                        MemTxAttrs attrs)
{
    const MemoryRegionOps *ops = mr->ops;
    if (!ops) {
        if (!is_write)
            memset(buf, 0, len);
        return MEMTX_DECODE_ERROR; /* a reservation */
    }
    if (mmio_is_straight(mr, off, len))
        return mmio_straight_access(mr, off, buf, (unsigned)len, is_write, attrs);
    AccessShape s = shape_of(ops);
    MemTxResult result = MEMTX_OK;
    while (len) {
        /* Rule 1: the largest power of two that fits, aligned unless allowed. */
        unsigned size = s.cut_max;
        while (size > len)
            size >>= 1;
        if (!ops->valid.unaligned)
            while (off & (size - 1))
                size >>= 1;
        result |= guest_access(mr, &s, off, buf, size, is_write, attrs);
        off += size;
        buf += size;
        len -= size;
    }
    return result;
}
