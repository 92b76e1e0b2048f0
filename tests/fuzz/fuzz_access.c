/*
 * Fuzz target: access adaptation (the rules above MemoryRegionOps in
 * region.h) against a byte-level rule.
 *
 * The input picks MemoryRegionOps constraints (valid and impl sizes, the
 * unaligned flags, no_read_modify_write, endianness, plain or _with_attrs
 * callbacks), a region size of 1..64 bytes, then a stream of reads and
 * writes of 1..16 bytes inside the region. The device keeps a byte array and
 * checks every device access it gets (size within impl, aligned unless
 * impl.unaligned, inside its array). The rule: the transfer is cut into
 * guest accesses (largest power of two, at most valid.max, or 4 when that
 * is 0, aligned unless valid.unaligned); a guest access outside [valid.min,
 * valid.max] (valid.max not 0) is refused (reads
 * give zero bytes, writes are dropped, MEMTX_DECODE_ERROR); every other byte
 * reads back what was last written to it, and no byte the guest did not
 * write ever changes.
 *
 * The address space and its root are made once; each input makes the
 * device region anew with its ops, since the library reads an ops' size
 * rules when the region is initialised (region.h).
 */
#include <string.h>

#include <memregion/memregion.h>

#include "fuzz.h"

#define BASE     0x1000u
#define MEM_SIZE (64 + 16)

typedef struct Dev {
    uint8_t mem[MEM_SIZE];
    unsigned impl_min, impl_max;
    bool impl_unaligned, big_endian;
    uint64_t region_size;
} Dev;

static Dev dev;
static uint8_t ref[MEM_SIZE]; /* what each byte must hold */

static void check_shape(hwaddr addr, unsigned size)
{
    fuzz_check(size == 1 || size == 2 || size == 4 || size == 8, "device access of %u bytes", size);
    fuzz_check(size >= dev.impl_min && size <= dev.impl_max,
               "device access of %u bytes outside impl [%u, %u]", size, dev.impl_min, dev.impl_max);
    fuzz_check(dev.impl_unaligned || addr % size == 0, "unaligned device access %u at 0x%llx", size,
               (unsigned long long)addr);
    fuzz_check(addr + size <= MEM_SIZE && addr < dev.region_size + 8,
               "device access %u at 0x%llx past the region", size, (unsigned long long)addr);
}

static unsigned byte_index(unsigned i, unsigned size)
{
    return dev.big_endian ? size - 1 - i : i;
}

static MemTxResult dev_read_attrs(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                                  MemTxAttrs attrs)
{
    (void)opaque, (void)attrs;
    check_shape(addr, size);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)dev.mem[addr + i] << (8 * byte_index(i, size));
    *data = v;
    return MEMTX_OK;
}

static MemTxResult dev_write_attrs(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                                   MemTxAttrs attrs)
{
    (void)opaque;
    check_shape(addr, size);
    for (unsigned i = 0; i < size; i++)
        if (!attrs.byte_enable || (attrs.byte_enable >> i & 1))
            dev.mem[addr + i] = (uint8_t)(data >> (8 * byte_index(i, size)));
    return MEMTX_OK;
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    uint64_t v;
    dev_read_attrs(opaque, addr, &v, size, MEMTXATTRS_UNSPECIFIED);
    return v;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    dev_write_attrs(opaque, addr, data, size, MEMTXATTRS_UNSPECIFIED);
}

static unsigned size_code(uint8_t c)
{
    static const unsigned sizes[] = {0, 1, 2, 4, 8, 3, 16};
    return sizes[c % 7];
}

/* A size field as the core reads it: 1, 2, 4 or 8, else @dflt. */
static unsigned size_or(unsigned v, unsigned dflt)
{
    return v == 1 || v == 2 || v == 4 || v == 8 ? v : dflt;
}

static unsigned pow2_floor(uint64_t v)
{
    unsigned s = 8;
    while (s > v)
        s >>= 1;
    return s;
}

static MemoryRegionOps ops;
static MemoryRegion root, io;
static AddressSpace as;

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    fuzz_check(memory_region_init(&root, "root", 0x10000) == 0, "root init");
    fuzz_check(address_space_init(&as, &root, "as") == 0, "as init");
}

/* The device region, made anew with the current ops and size. */
static void map_device(void)
{
    static bool mapped;
    if (mapped) {
        fuzz_check(memory_region_del_subregion(&root, &io) == 0, "unmap");
        fuzz_check(memory_region_destroy(&io) == 0, "destroy: %s", memregion_last_error());
    }
    fuzz_check(memory_region_init_io(&io, &ops, &dev, "dev", dev.region_size) == 0, "io init: %s",
               memregion_last_error());
    fuzz_check(memory_region_add_subregion(&root, BASE, &io) == 0, "map");
    mapped = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzIn in = {data, size};
    setup();
    memset(&ops, 0, sizeof(ops));
    ops.valid.min_access_size = size_code(fin_u8(&in));
    ops.valid.max_access_size = size_code(fin_u8(&in));
    ops.impl.min_access_size = size_code(fin_u8(&in));
    ops.impl.max_access_size = size_code(fin_u8(&in));
    uint8_t flags = fin_u8(&in);
    ops.valid.unaligned = flags & 1;
    ops.impl.unaligned = flags & 2;
    ops.impl.no_read_modify_write = flags & 4;
    ops.endianness = flags & 8 ? DEVICE_BIG_ENDIAN : DEVICE_LITTLE_ENDIAN;
    if ((flags & 16) && !ops.impl.no_read_modify_write) {
        ops.read = dev_read;
        ops.write = dev_write;
    } else {
        ops.read_with_attrs = dev_read_attrs;
        ops.write_with_attrs = dev_write_attrs;
    }
    /* Effective sizes, zeros read as QEMU reads them (region.h): valid.min
     * 0 is 1, valid.max 0 means any size is valid while the buffer API cuts
     * at 4; impl.min 0 is 1, impl.max 0 is 4; a maximum below its minimum
     * is the minimum; a size that is not 1, 2, 4 or 8 is the default. */
    unsigned vmin = size_or(ops.valid.min_access_size, 1);
    unsigned vmax = ops.valid.max_access_size ? size_or(ops.valid.max_access_size, 8) : 0;
    if (vmax && vmax < vmin)
        vmax = vmin;
    unsigned cut = vmax ? vmax : 4;
    memset(&dev, 0, sizeof(dev));
    dev.impl_min = size_or(ops.impl.min_access_size, 1);
    dev.impl_max = size_or(ops.impl.max_access_size, 4);
    if (dev.impl_max < dev.impl_min)
        dev.impl_max = dev.impl_min;
    dev.impl_unaligned = ops.impl.unaligned;
    dev.big_endian = ops.endianness == DEVICE_BIG_ENDIAN;
    dev.region_size = 1 + fin_u8(&in) % 64;
    for (unsigned i = 0; i < MEM_SIZE; i++)
        dev.mem[i] = ref[i] = (uint8_t)(0x40 + i);

    map_device();

    for (unsigned n = 0; in.n && n < 64; n++) {
        uint8_t op = fin_u8(&in);
        unsigned off = fin_u8(&in) % dev.region_size;
        unsigned len = 1 + (op >> 1) % 16;
        if (len > dev.region_size - off)
            len = (unsigned)(dev.region_size - off);
        bool is_write = op & 1;
        uint8_t buf[16], want[16];
        for (unsigned i = 0; i < len; i++)
            buf[i] = is_write ? fin_u8(&in) : 0xcc;
        /* The byte-level rule. */
        MemTxResult expect = MEMTX_OK;
        for (unsigned pos = off; pos < off + len;) {
            unsigned s = pow2_floor(off + len - pos);
            if (s > cut)
                s = cut;
            while (!ops.valid.unaligned && pos % s)
                s >>= 1;
            bool ok = !vmax || (s >= vmin && s <= vmax);
            for (unsigned i = pos; i < pos + s; i++) {
                if (is_write && ok)
                    ref[i] = buf[i - off];
                want[i - off] = ok ? ref[i] : 0;
            }
            if (!ok)
                expect |= MEMTX_DECODE_ERROR;
            pos += s;
        }
        MemTxResult r = is_write
                            ? address_space_write(&as, BASE + off, MEMTXATTRS_UNSPECIFIED, buf, len)
                            : address_space_read(&as, BASE + off, MEMTXATTRS_UNSPECIFIED, buf, len);
        fuzz_check(r == expect, "%s of %u at +%u: result %u, rule says %u",
                   is_write ? "write" : "read", len, off, r, expect);
        if (!is_write)
            for (unsigned i = 0; i < len; i++)
                fuzz_check(buf[i] == want[i], "read of %u at +%u: byte %u is %02x, rule says %02x",
                           len, off, i, buf[i], want[i]);
        for (unsigned i = 0; i < dev.region_size; i++)
            fuzz_check(dev.mem[i] == ref[i],
                       "after %s of %u at +%u: device byte %u is %02x, "
                       "rule says %02x",
                       is_write ? "write" : "read", len, off, i, dev.mem[i], ref[i]);
    }
    return 0;
}
