/*
 * Access adaptation: the rules written above MemoryRegionOps in region.h
 * (guest accesses, validity, device accesses, partial writes, endianness,
 * result ORing). Each test maps one TestDev at 0x1000 and checks the exact
 * callback sequence the rules imply.
 */
#include <string.h>

#include "helpers.h"

#define DEV 0x1000

static TestDev dev;

static AddressSpace *map_dev(const MemoryRegionOps *ops, MemDeviceEndian endian)
{
    td_init(&dev, endian);
    td_fill(&dev, 0x10); /* mem[i] = 0x10 + i */
    MemoryRegion *root = h_container("root", 0x10000);
    MemoryRegion *io = h_io(ops, &dev, "dev", 0x100);
    h_add(root, DEV, io, 0);
    return h_as(root, "as");
}

/* A little-endian value of @size bytes through the buffer API (which splits). */
static uint64_t buf_ld(AddressSpace *as, hwaddr addr, unsigned size, MemTxResult *res)
{
    uint8_t b[8];
    MemTxResult r = address_space_read(as, addr, ATTRS_NONE, b, size);
    if (res)
        *res = r;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void buf_st(AddressSpace *as, hwaddr addr, uint64_t v, unsigned size, MemTxResult *res)
{
    uint8_t b[8];
    for (unsigned i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    MemTxResult r = address_space_write(as, addr, ATTRS_NONE, b, size);
    if (res)
        *res = r;
}

static void test_guest_split_valid_max_4(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid.max_access_size = 4,
        .impl.max_access_size = 8,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    buf_st(as, DEV, 0x8877665544332211ull, 8, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 0, 4, 0x44332211);
    assert_access(&dev, 1, true, 4, 4, 0x88776655);
    dev.nlog = 0;
    assert_int_equal(buf_ld(as, DEV, 8, &res), 0x8877665544332211ull);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x44332211);
    assert_access(&dev, 1, false, 4, 4, 0x88776655);
}

/* A typed helper is one access: wider than valid.max_access_size, it is refused whole. */
static void test_typed_too_wide_refused(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid.max_access_size = 4,
        .impl.max_access_size = 8,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    address_space_stq_le(as, DEV, 0x8877665544332211ull, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_int_equal(address_space_ldq_le(as, DEV, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 0); /* the device was never called */
    assert_int_equal(dev.mem[0], 0x10);
    /* Within valid it is one access. */
    assert_int_equal(address_space_ldl_le(as, DEV + 4, ATTRS_NONE, &res), 0x17161514);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 4, 4, 0x17161514);
}

/* Misaligned for a device that refuses unaligned accesses: refused whole too. */
static void test_typed_misaligned_refused(void **state)
{
    (void)state;
    static const MemoryRegionOps strict = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.max_access_size = 8, .unaligned = false},
        .impl.max_access_size = 8,
    };
    AddressSpace *as = map_dev(&strict, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, DEV + 2, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    address_space_stw_le(as, DEV + 1, 0xbeef, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 0);
    assert_int_equal(dev.mem[1], 0x11);
    h_teardown(NULL);

    /* A device that accepts unaligned accesses gets the one access, emulated by aligned ones. */
    static const MemoryRegionOps lax = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.max_access_size = 8, .unaligned = true},
        .impl.max_access_size = 4,
    };
    as = map_dev(&lax, DEVICE_LITTLE_ENDIAN);
    assert_int_equal(address_space_ldl_le(as, DEV + 2, ATTRS_NONE, &res), 0x15141312);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 4, 4, 0x17161514);
}

/*
 * Zeros in the size fields, read as QEMU reads them: impl.max 4, impl.min 1,
 * valid.max "any size" (the buffer API still cuts at 4), valid.min 1.
 */
static void test_zero_sizes_read_as_qemu(void **state)
{
    (void)state;
    static const MemoryRegionOps zeros = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
    };
    AddressSpace *as = map_dev(&zeros, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    /* An 8-byte typed load is valid and reaches the device as two 4-byte reads. */
    assert_int_equal(address_space_ldq_le(as, DEV, ATTRS_NONE, &res), 0x1716151413121110ull);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 4, 4, 0x17161514);
    dev.nlog = 0;
    address_space_stq_le(as, DEV + 8, 0x8877665544332211ull, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 8, 4, 0x44332211);
    assert_access(&dev, 1, true, 12, 4, 0x88776655);
    /* One byte is one 1-byte device access (impl.min 0 is 1). */
    dev.nlog = 0;
    assert_int_equal(address_space_ldub(as, DEV + 3, ATTRS_NONE, &res), 0x13);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 3, 1, 0x13);
    /* The buffer API cuts 8 bytes into 4-byte guest accesses. */
    dev.nlog = 0;
    assert_int_equal(buf_ld(as, DEV, 8, &res), 0x1716151413121110ull);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 4, 4, 0x17161514);
    h_teardown(NULL);

    /* valid.max 0 makes every size valid, even one below a set valid.min (QEMU). */
    static const MemoryRegionOps min4 = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid.min_access_size = 4,
        .impl.min_access_size = 1,
    };
    as = map_dev(&min4, DEVICE_LITTLE_ENDIAN);
    assert_int_equal(address_space_ldub(as, DEV + 1, ATTRS_NONE, &res), 0x11);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 1, 1, 0x11);
    h_teardown(NULL);

    /* With valid.max set, impl.max 0 still means 4: an 8-byte access is split for the device. */
    static const MemoryRegionOps valid8 = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid.max_access_size = 8,
    };
    as = map_dev(&valid8, DEVICE_LITTLE_ENDIAN);
    assert_int_equal(buf_ld(as, DEV, 8, &res), 0x1716151413121110ull);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 4, 4, 0x17161514);
}

static void test_device_split_impl_max_4(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .impl.max_access_size = 4,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    address_space_stq_le(as, DEV + 8, 0x8877665544332211ull, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 8, 4, 0x44332211);
    assert_access(&dev, 1, true, 12, 4, 0x88776655);
    dev.nlog = 0;
    assert_int_equal(address_space_ldq_le(as, DEV + 8, ATTRS_NONE, NULL), 0x8877665544332211ull);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 8, 4, 0x44332211);
    assert_access(&dev, 1, false, 12, 4, 0x88776655);
}

/* valid 1..4, device only handles aligned 4-byte accesses. */
static const MemoryRegionOps ops_impl4 = {
    .read_with_attrs = td_read_attrs,
    .write_with_attrs = td_write_attrs,
    .valid = {.min_access_size = 1, .max_access_size = 4},
    .impl = {.min_access_size = 4, .max_access_size = 4},
};

static void test_widen_read(void **state)
{
    (void)state;
    AddressSpace *as = map_dev(&ops_impl4, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldub(as, DEV + 2, ATTRS_NONE, &res), 0x12);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(address_space_lduw_le(as, DEV + 2, ATTRS_NONE, NULL), 0x1312);
    assert_int_equal(address_space_ldub(as, DEV + 5, ATTRS_NONE, NULL), 0x15);
    assert_nlog(&dev, 3);
    /* Widened to the naturally aligned 4-byte access that covers the bytes. */
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 0, 4, 0x13121110);
    assert_access(&dev, 2, false, 4, 4, 0x17161514);
}

static void test_read_modify_write(void **state)
{
    (void)state;
    AddressSpace *as = map_dev(&ops_impl4, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    address_space_stb(as, DEV + 1, 0xab, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, true, 0, 4, 0x1312ab10);
    assert_int_equal(dev.log[1].attrs.byte_enable, 0); /* no mask without the opt-out */

    dev.nlog = 0;
    address_space_stw_le(as, DEV + 6, 0xbeef, ATTRS_NONE, NULL);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 4, 4, 0x17161514);
    assert_access(&dev, 1, true, 4, 4, 0xbeef1514);
    const uint8_t want[] = {0x10, 0xab, 0x12, 0x13, 0x14, 0x15, 0xef, 0xbe, 0x18};
    assert_memory_equal(dev.mem, want, sizeof(want));
}

static void test_no_read_modify_write(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 4},
        .impl = {.min_access_size = 4, .max_access_size = 4, .no_read_modify_write = true},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxAttrs attrs = {.requester_id = 7};
    MemTxResult res = 0xdead;
    address_space_stb(as, DEV + 1, 0xab, attrs, &res);
    assert_int_equal(res, MEMTX_OK);
    address_space_stw_le(as, DEV + 6, 0xbeef, attrs, NULL);
    /* One write per guest access, other bytes zero, no read. */
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 0, 4, 0x0000ab00);
    assert_int_equal(dev.log[0].attrs.byte_enable, 0x2);
    assert_int_equal(dev.log[0].attrs.requester_id, 7);
    assert_access(&dev, 1, true, 4, 4, 0xbeef0000);
    assert_int_equal(dev.log[1].attrs.byte_enable, 0xc);
}

static void test_no_read_modify_write_be(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .endianness = DEVICE_BIG_ENDIAN,
        .valid = {.min_access_size = 1, .max_access_size = 4},
        .impl = {.min_access_size = 4, .max_access_size = 4, .no_read_modify_write = true},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_BIG_ENDIAN);
    address_space_stb(as, DEV + 1, 0xab, ATTRS_NONE, NULL);
    /* Byte 1 in address order is bits 16..23 of a big-endian 4-byte value. */
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, true, 0, 4, 0x00ab0000);
    assert_int_equal(dev.log[0].attrs.byte_enable, 0x2);
}

static void test_unaligned_emulated_by_aligned(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 4, .unaligned = true},
        .impl = {.min_access_size = 4, .max_access_size = 4, .unaligned = false},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    /* One guest access [2,6): two aligned device reads, bytes 2..5 picked out. */
    assert_int_equal(address_space_ldl_le(as, DEV + 2, ATTRS_NONE, &res), 0x15141312);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 4, 0x13121110);
    assert_access(&dev, 1, false, 4, 4, 0x17161514);

    /* The write: each aligned word is read, merged and written back. */
    dev.nlog = 0;
    address_space_stl_le(as, DEV + 2, 0xddccbbaa, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    const uint8_t want[] = {0x10, 0x11, 0xaa, 0xbb, 0xcc, 0xdd, 0x16, 0x17};
    assert_memory_equal(dev.mem, want, sizeof(want));
    assert_nlog(&dev, 4);
    unsigned reads = 0, writes = 0;
    for (unsigned i = 0; i < dev.nlog; i++) {
        const TdAccess *a = &dev.log[i];
        assert_int_equal(a->size, 4);
        assert_true(a->addr == 0 || a->addr == 4);
        if (!a->is_write) {
            reads++;
            continue;
        }
        writes++;
        assert_int_equal(a->data, a->addr == 0 ? 0xbbaa1110 : 0x1716ddcc);
    }
    assert_int_equal(reads, 2);
    assert_int_equal(writes, 2);
}

/* The buffer API cuts an unaligned transfer into aligned guest accesses. */
static void test_unaligned_split_into_guest_accesses(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 4, .unaligned = false},
        .impl.max_access_size = 4,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    /* [2,6) becomes the aligned guest accesses (2,2) and (4,2). */
    assert_int_equal(buf_ld(as, DEV + 2, 4, &res), 0x15141312);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 2, 2, 0x1312);
    assert_access(&dev, 1, false, 4, 2, 0x1514);

    /* [1,9) becomes (1,1) (2,2) (4,4) (8,1). */
    dev.nlog = 0;
    assert_int_equal(buf_ld(as, DEV + 1, 8, NULL), 0x1817161514131211ull);
    assert_nlog(&dev, 4);
    assert_access(&dev, 0, false, 1, 1, 0x11);
    assert_access(&dev, 1, false, 2, 2, 0x1312);
    assert_access(&dev, 2, false, 4, 4, 0x17161514);
    assert_access(&dev, 3, false, 8, 1, 0x18);

    dev.nlog = 0;
    buf_st(as, DEV + 6, 0x44332211, 4, NULL);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 6, 2, 0x2211);
    assert_access(&dev, 1, true, 8, 2, 0x4433);
}

static void test_unaligned_passed_through_with_impl_unaligned(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 4, .unaligned = true},
        .impl = {.min_access_size = 1, .max_access_size = 4, .unaligned = true},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    /* The device handles unaligned accesses itself: it gets (2,4) as is. */
    assert_int_equal(address_space_ldl_le(as, DEV + 2, ATTRS_NONE, NULL), 0x15141312);
    address_space_stl_le(as, DEV + 5, 0x44332211, ATTRS_NONE, NULL);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 2, 4, 0x15141312);
    assert_access(&dev, 1, true, 5, 4, 0x44332211);
}

static void test_access_straddling_region_end(void **state)
{
    (void)state;
    AddressSpace *as = map_dev(&td_ops_le, DEVICE_LITTLE_ENDIAN);
    /* [0xfe,0x100) is the device, [0x100,0x102) a hole: one 2-byte guest access. */
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, DEV + 0xfe, ATTRS_NONE, &res), 0x0f0e);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 0xfe, 2, 0x0f0e);
    address_space_stl_le(as, DEV + 0xfe, 0xaabbccdd, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 2);
    assert_access(&dev, 1, true, 0xfe, 2, 0xccdd);
}

static void test_buffer_cut_into_guest_accesses(void **state)
{
    (void)state;
    AddressSpace *as = map_dev(&td_ops_le, DEVICE_LITTLE_ENDIAN);
    uint8_t buf[7];
    /* 7 bytes at offset 1, valid.max 8: (1,1) (2,2) (4,4). */
    assert_int_equal(address_space_read(as, DEV + 1, ATTRS_NONE, buf, sizeof(buf)), MEMTX_OK);
    const uint8_t want[] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
    assert_memory_equal(buf, want, sizeof(want));
    assert_nlog(&dev, 3);
    assert_access(&dev, 0, false, 1, 1, 0x11);
    assert_access(&dev, 1, false, 2, 2, 0x1312);
    assert_access(&dev, 2, false, 4, 4, 0x17161514);

    /* 24 bytes at offset 8: three 8-byte accesses. */
    dev.nlog = 0;
    uint8_t big[24];
    memset(big, 0x3c, sizeof(big));
    assert_int_equal(address_space_write(as, DEV + 8, ATTRS_NONE, big, sizeof(big)), MEMTX_OK);
    assert_nlog(&dev, 3);
    assert_access(&dev, 0, true, 8, 8, 0x3c3c3c3c3c3c3c3cull);
    assert_access(&dev, 1, true, 16, 8, 0x3c3c3c3c3c3c3c3cull);
    assert_access(&dev, 2, true, 24, 8, 0x3c3c3c3c3c3c3c3cull);
}

static void test_valid_min_refused(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 4, .max_access_size = 4},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldub(as, DEV + 1, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    res = 0xdead;
    assert_int_equal(address_space_lduw_le(as, DEV + 2, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    res = 0xdead;
    address_space_stb(as, DEV + 1, 0xff, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 0);
    assert_int_equal(dev.mem[1], 0x11);
    /* The allowed size works. */
    assert_int_equal(address_space_ldl_le(as, DEV, ATTRS_NONE, &res), 0x13121110);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&dev, 1);
}

static struct {
    hwaddr addr;
    unsigned size;
    bool is_write;
} acc_log[16];
static unsigned acc_n;

/* Refuse writes at offset 8, and non-secure accesses at 0x80 and above. */
static bool td_accepts(void *opaque, hwaddr addr, unsigned size, bool is_write, MemTxAttrs attrs)
{
    assert_ptr_equal(opaque, &dev);
    if (acc_n < 16)
        acc_log[acc_n++] = (typeof(acc_log[0])){addr, size, is_write};
    if (is_write && addr == 8)
        return false;
    if (addr >= 0x80 && !attrs.secure)
        return false;
    return true;
}

static void test_accepts_refused(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid.accepts = td_accepts,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    acc_n = 0;
    MemTxResult res = 0xdead;
    address_space_stl_le(as, DEV + 8, 0xffffffff, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 0);
    assert_int_equal(dev.mem[8], 0x18);
    assert_int_equal(acc_n, 1);
    assert_int_equal(acc_log[0].addr, 8);
    assert_int_equal(acc_log[0].size, 4);
    assert_true(acc_log[0].is_write);

    /* Reads at 8 are fine. */
    assert_int_equal(address_space_ldl_le(as, DEV + 8, ATTRS_NONE, &res), 0x1b1a1918);
    assert_int_equal(res, MEMTX_OK);

    /* attrs reach accepts(): the secure world may read 0x80, others get zero. */
    MemTxAttrs sec = {.secure = 1};
    assert_int_equal(address_space_ldl_le(as, DEV + 0x80, sec, &res), 0x93929190);
    assert_int_equal(res, MEMTX_OK);
    res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, DEV + 0x80, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 2);
}

static void test_big_endian_device(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .endianness = DEVICE_BIG_ENDIAN,
        .impl.max_access_size = 4,
    };
    AddressSpace *as = map_dev(&ops, DEVICE_BIG_ENDIAN);
    /* Bus bytes 11 22 .. 88: the first device word is the lower address. */
    address_space_stq_be(as, DEV, 0x1122334455667788ull, ATTRS_NONE, NULL);
    address_space_stq_le(as, DEV + 8, 0x1122334455667788ull, ATTRS_NONE, NULL);
    assert_nlog(&dev, 4);
    assert_access(&dev, 0, true, 0, 4, 0x11223344);
    assert_access(&dev, 1, true, 4, 4, 0x55667788);
    assert_access(&dev, 2, true, 8, 4, 0x88776655);
    assert_access(&dev, 3, true, 12, 4, 0x44332211);
    assert_int_equal(address_space_ldq_be(as, DEV, ATTRS_NONE, NULL), 0x1122334455667788ull);
    assert_int_equal(address_space_ldq_le(as, DEV + 8, ATTRS_NONE, NULL), 0x1122334455667788ull);
}

static void test_big_endian_widen_and_rmw(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .endianness = DEVICE_BIG_ENDIAN,
        .valid = {.min_access_size = 1, .max_access_size = 4},
        .impl = {.min_access_size = 4, .max_access_size = 4},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_BIG_ENDIAN);
    assert_int_equal(address_space_ldub(as, DEV + 1, ATTRS_NONE, NULL), 0x11);
    assert_int_equal(address_space_lduw_be(as, DEV + 2, ATTRS_NONE, NULL), 0x1213);
    address_space_stb(as, DEV + 2, 0xab, ATTRS_NONE, NULL);
    assert_nlog(&dev, 4);
    assert_access(&dev, 0, false, 0, 4, 0x10111213);
    assert_access(&dev, 1, false, 0, 4, 0x10111213);
    assert_access(&dev, 2, false, 0, 4, 0x10111213);
    assert_access(&dev, 3, true, 0, 4, 0x1011ab13);
}

static void test_callback_errors_propagate(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read_with_attrs = td_read_attrs,
        .write_with_attrs = td_write_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 8},
        .impl = {.min_access_size = 4, .max_access_size = 4},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    dev.result = MEMTX_ERROR;
    dev.result_from = 4;
    MemTxResult res = 0xdead;
    (void)address_space_ldl_le(as, DEV, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    (void)address_space_ldl_le(as, DEV + 4, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);
    /* Split 8-byte access: OK | ERROR. */
    (void)address_space_ldq_le(as, DEV, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);
    address_space_stq_le(as, DEV, 0, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);
    /* Widened read of one byte. */
    (void)address_space_ldub(as, DEV + 5, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);
    /* Through the byte API too. */
    uint8_t buf[8];
    assert_int_equal(address_space_read(as, DEV, ATTRS_NONE, buf, 8), MEMTX_ERROR);
}

/* Ops that set both forms of each direction: the plain callbacks are the
 * ones called, as in QEMU (memory_region_dispatch_read1 and _write pick
 * ops->read and ops->write when set), on the straight path and when the
 * access is adapted. */
static unsigned with_attrs_calls;

static MemTxResult not_read_with_attrs(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                                       MemTxAttrs attrs)
{
    (void)opaque, (void)addr, (void)size, (void)attrs;
    with_attrs_calls++;
    *data = 0xbad;
    return MEMTX_ERROR;
}

static MemTxResult not_write_with_attrs(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                                        MemTxAttrs attrs)
{
    (void)opaque, (void)addr, (void)data, (void)size, (void)attrs;
    with_attrs_calls++;
    return MEMTX_ERROR;
}

static void test_both_forms_call_plain(void **state)
{
    (void)state;
    static const MemoryRegionOps ops = {
        .read = td_read,
        .write = td_write,
        .read_with_attrs = not_read_with_attrs,
        .write_with_attrs = not_write_with_attrs,
        .valid = {.min_access_size = 1, .max_access_size = 8},
        .impl = {.min_access_size = 4, .max_access_size = 4},
    };
    AddressSpace *as = map_dev(&ops, DEVICE_LITTLE_ENDIAN);
    with_attrs_calls = 0;
    MemTxResult res = 0xdead;
    /* Straight: an aligned 4-byte access, the size the device takes. */
    assert_int_equal(address_space_ldl_le(as, DEV + 4, ATTRS_NONE, &res), 0x17161514);
    assert_int_equal(res, MEMTX_OK);
    address_space_stl_le(as, DEV + 8, 0xa1a2a3a4, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_access(&dev, dev.nlog - 1, true, 8, 4, 0xa1a2a3a4);
    /* Adapted: a 1-byte read widened to 4, a 2-byte write merged into 4. */
    assert_int_equal(address_space_ldub(as, DEV + 9, ATTRS_NONE, &res), 0xa3);
    assert_int_equal(res, MEMTX_OK);
    address_space_stw_le(as, DEV + 12, 0xbeef, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(with_attrs_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_guest_split_valid_max_4),
        H_TEST(test_typed_too_wide_refused),
        H_TEST(test_typed_misaligned_refused),
        H_TEST(test_zero_sizes_read_as_qemu),
        H_TEST(test_device_split_impl_max_4),
        H_TEST(test_widen_read),
        H_TEST(test_read_modify_write),
        H_TEST(test_no_read_modify_write),
        H_TEST(test_no_read_modify_write_be),
        H_TEST(test_unaligned_emulated_by_aligned),
        H_TEST(test_unaligned_split_into_guest_accesses),
        H_TEST(test_unaligned_passed_through_with_impl_unaligned),
        H_TEST(test_access_straddling_region_end),
        H_TEST(test_buffer_cut_into_guest_accesses),
        H_TEST(test_valid_min_refused),
        H_TEST(test_accepts_refused),
        H_TEST(test_big_endian_device),
        H_TEST(test_big_endian_widen_and_rmw),
        H_TEST(test_callback_errors_propagate),
        H_TEST(test_both_forms_call_plain),
    };
    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
