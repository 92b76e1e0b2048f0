/*
 * Dispatch: byte transfers across RAM, MMIO and holes, typed loads and
 * stores on RAM and on little- and big-endian devices, translate, attrs,
 * result ORing, ROM, ROM devices and unassigned addresses.
 */
#include <string.h>

#include "helpers.h"

/*
 * The map, in a root container of 0x10000 bytes:
 *   [0x0000,0x1000) ram      [0x1000,0x1100) dev (LE)   [0x1100,0x2000) hole
 *   [0x2000,0x3000) ram2     [0x3000,0x3100) bedev (BE) [0x4000,0x5000) rom
 *   [0x5000,0x6000) romd     [0x6000,0x6100) plain      [0x7000,0x7100) errdev
 *   [0x8000,0x8100) reserved (NULL ops); everything else is unassigned.
 */
static TestDev dev, bedev, romdev, plaindev, errdev;
static MemoryRegion *root, *ram, *io, *ram2, *beio, *rom, *romd, *plain, *errio, *reserved;
static AddressSpace *as;

static void build(void)
{
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    td_init(&bedev, DEVICE_BIG_ENDIAN);
    td_init(&romdev, DEVICE_LITTLE_ENDIAN);
    td_init(&plaindev, DEVICE_LITTLE_ENDIAN);
    td_init(&errdev, DEVICE_LITTLE_ENDIAN);
    root = h_container("root", 0x10000);
    ram = h_ram("ram", 0x1000);
    io = h_io(&td_ops_le, &dev, "dev", 0x100);
    ram2 = h_ram("ram2", 0x1000);
    beio = h_io(&td_ops_be, &bedev, "bedev", 0x100);
    rom = h_rom("rom", 0x1000);
    romd = h_romd(&td_ops_le, &romdev, "romd", 0x1000);
    plain = h_io(&td_ops_plain, &plaindev, "plain", 0x100);
    errio = h_io(&td_ops_le, &errdev, "errdev", 0x100);
    reserved = h_io(NULL, NULL, "reserved", 0x100);
    h_add(root, 0x0000, ram, 0);
    h_add(root, 0x1000, io, 0);
    h_add(root, 0x2000, ram2, 0);
    h_add(root, 0x3000, beio, 0);
    h_add(root, 0x4000, rom, 0);
    h_add(root, 0x5000, romd, 0);
    h_add(root, 0x6000, plain, 0);
    h_add(root, 0x7000, errio, 0);
    h_add(root, 0x8000, reserved, 0);
    as = h_as(root, "as");
}

static void test_rw_across_ram_and_mmio(void **state)
{
    (void)state;
    build();
    uint8_t buf[0x20], back[0x20];
    for (int i = 0; i < 0x20; i++)
        buf[i] = (uint8_t)(i + 1);
    /* 16 bytes into RAM, 16 into dev: two aligned 8-byte device writes. */
    assert_int_equal(address_space_write(as, 0xff0, ATTRS_NONE, buf, sizeof(buf)), MEMTX_OK);
    assert_memory_equal(ts_ram_ptr(ram) + 0xff0, buf, 16);
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, true, 0, 8, 0x1817161514131211ull);
    assert_access(&dev, 1, true, 8, 8, 0x201f1e1d1c1b1a19ull);
    assert_memory_equal(dev.mem, buf + 16, 16);

    dev.nlog = 0;
    memset(back, 0x5a, sizeof(back));
    assert_int_equal(address_space_read(as, 0xff0, ATTRS_NONE, back, sizeof(back)), MEMTX_OK);
    assert_memory_equal(back, buf, sizeof(buf));
    assert_nlog(&dev, 2);
    assert_access(&dev, 0, false, 0, 8, 0x1817161514131211ull);
    assert_access(&dev, 1, false, 8, 8, 0x201f1e1d1c1b1a19ull);

    /* address_space_rw picks the direction. */
    uint8_t one = 0xee;
    assert_int_equal(address_space_rw(as, 0x10, ATTRS_NONE, &one, 1, true), MEMTX_OK);
    assert_int_equal(ts_ram_ptr(ram)[0x10], 0xee);
    one = 0;
    assert_int_equal(address_space_rw(as, 0xff0, ATTRS_NONE, &one, 1, false), MEMTX_OK);
    assert_int_equal(one, 1);
}

static void test_read_across_hole(void **state)
{
    (void)state;
    build();
    td_fill(&dev, 0x40);
    uint8_t buf[16];
    const uint8_t want_dev[8] = {0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f};
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(address_space_read(as, 0x10f8, ATTRS_NONE, buf, sizeof(buf)),
                     MEMTX_DECODE_ERROR);
    assert_memory_equal(buf, want_dev, 8);
    for (int i = 8; i < 16; i++)
        assert_int_equal(buf[i], 0x00);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, false, 0xf8, 8, 0x3f3e3d3c3b3a3938ull);

    address_space_set_unassigned_value(as, 0xff);
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(address_space_read(as, 0x10f8, ATTRS_NONE, buf, sizeof(buf)),
                     MEMTX_DECODE_ERROR);
    assert_memory_equal(buf, want_dev, 8);
    for (int i = 8; i < 16; i++)
        assert_int_equal(buf[i], 0xff);
}

static void test_write_across_hole(void **state)
{
    (void)state;
    build();
    uint8_t buf[16];
    memset(buf, 0xaa, sizeof(buf));
    /* 8 bytes into the hole (dropped), 8 into ram2. */
    assert_int_equal(address_space_write(as, 0x1ff8, ATTRS_NONE, buf, sizeof(buf)),
                     MEMTX_DECODE_ERROR);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_ram_ptr(ram2)[i], 0xaa);
    assert_int_equal(ts_ram_ptr(ram2)[8], 0);
    /* Nothing before the hole was touched either. */
    assert_nlog(&dev, 0);
}

static void test_typed_ram(void **state)
{
    (void)state;
    build();
    uint8_t *p = ts_ram_ptr(ram);
    MemTxResult res = 0xdead;
    address_space_stl_le(as, 0x100, 0x11223344, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    const uint8_t le32[] = {0x44, 0x33, 0x22, 0x11};
    assert_memory_equal(p + 0x100, le32, 4);
    assert_int_equal(address_space_ldl_le(as, 0x100, ATTRS_NONE, NULL), 0x11223344);
    assert_int_equal(address_space_ldl_be(as, 0x100, ATTRS_NONE, NULL), 0x44332211);

    address_space_stl_be(as, 0x104, 0x11223344, ATTRS_NONE, NULL);
    const uint8_t be32[] = {0x11, 0x22, 0x33, 0x44};
    assert_memory_equal(p + 0x104, be32, 4);

    address_space_stw_le(as, 0x110, 0xa1b2, ATTRS_NONE, NULL);
    address_space_stw_be(as, 0x112, 0xa1b2, ATTRS_NONE, NULL);
    const uint8_t w[] = {0xb2, 0xa1, 0xa1, 0xb2};
    assert_memory_equal(p + 0x110, w, 4);
    assert_int_equal(address_space_lduw_le(as, 0x110, ATTRS_NONE, NULL), 0xa1b2);
    assert_int_equal(address_space_lduw_be(as, 0x110, ATTRS_NONE, NULL), 0xb2a1);

    address_space_stq_le(as, 0x120, 0x0102030405060708ull, ATTRS_NONE, NULL);
    address_space_stq_be(as, 0x128, 0x0102030405060708ull, ATTRS_NONE, NULL);
    const uint8_t q[] = {8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(p + 0x120, q, 16);
    res = 0xdead;
    assert_int_equal(address_space_ldq_le(as, 0x128, ATTRS_NONE, &res), 0x0807060504030201ull);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(address_space_ldq_be(as, 0x128, ATTRS_NONE, NULL), 0x0102030405060708ull);

    address_space_stb(as, 0x130, 0x9c, ATTRS_NONE, NULL);
    assert_int_equal(p[0x130], 0x9c);
    assert_int_equal(address_space_ldub(as, 0x130, ATTRS_NONE, NULL), 0x9c);

    /* Unaligned typed access on RAM is fine. */
    address_space_stl_le(as, 0x141, 0xdeadbeef, ATTRS_NONE, NULL);
    assert_int_equal(address_space_ldl_le(as, 0x141, ATTRS_NONE, NULL), 0xdeadbeef);
    assert_int_equal(p[0x141], 0xef);
}

static void test_typed_le_device(void **state)
{
    (void)state;
    build();
    MemTxResult res = 0xdead;
    /* An LE device's value equals the LE interpretation of the bus bytes. */
    address_space_stl_le(as, 0x1010, 0x11223344, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    address_space_stl_be(as, 0x1014, 0x11223344, ATTRS_NONE, NULL);
    address_space_stw_le(as, 0x1018, 0xa1b2, ATTRS_NONE, NULL);
    address_space_stw_be(as, 0x101a, 0xa1b2, ATTRS_NONE, NULL);
    address_space_stb(as, 0x101c, 0x7e, ATTRS_NONE, NULL);
    address_space_stq_le(as, 0x1020, 0x0102030405060708ull, ATTRS_NONE, NULL);
    address_space_stq_be(as, 0x1028, 0x0102030405060708ull, ATTRS_NONE, NULL);
    assert_nlog(&dev, 7);
    assert_access(&dev, 0, true, 0x10, 4, 0x11223344);
    assert_access(&dev, 1, true, 0x14, 4, 0x44332211);
    assert_access(&dev, 2, true, 0x18, 2, 0xa1b2);
    assert_access(&dev, 3, true, 0x1a, 2, 0xb2a1);
    assert_access(&dev, 4, true, 0x1c, 1, 0x7e);
    assert_access(&dev, 5, true, 0x20, 8, 0x0102030405060708ull);
    assert_access(&dev, 6, true, 0x28, 8, 0x0807060504030201ull);

    /* Reads: device value 0x44332211 at 0x14 (bytes 11 22 33 44). */
    dev.nlog = 0;
    res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, 0x1014, ATTRS_NONE, &res), 0x44332211);
    assert_int_equal(res, MEMTX_OK);
    assert_int_equal(address_space_ldl_be(as, 0x1014, ATTRS_NONE, NULL), 0x11223344);
    assert_int_equal(address_space_lduw_le(as, 0x1018, ATTRS_NONE, NULL), 0xa1b2);
    assert_int_equal(address_space_lduw_be(as, 0x1018, ATTRS_NONE, NULL), 0xb2a1);
    assert_int_equal(address_space_ldub(as, 0x101c, ATTRS_NONE, NULL), 0x7e);
    assert_int_equal(address_space_ldq_le(as, 0x1020, ATTRS_NONE, NULL), 0x0102030405060708ull);
    assert_int_equal(address_space_ldq_be(as, 0x1020, ATTRS_NONE, NULL), 0x0807060504030201ull);
    assert_nlog(&dev, 7);
    assert_access(&dev, 0, false, 0x14, 4, 0x44332211);
    assert_access(&dev, 5, false, 0x20, 8, 0x0102030405060708ull);
}

static void test_typed_be_device(void **state)
{
    (void)state;
    build();
    /* A BE device's value equals the BE interpretation of the bus bytes. */
    address_space_stl_le(as, 0x3010, 0x11223344, ATTRS_NONE, NULL);
    address_space_stl_be(as, 0x3014, 0x11223344, ATTRS_NONE, NULL);
    address_space_stw_le(as, 0x3018, 0xa1b2, ATTRS_NONE, NULL);
    address_space_stw_be(as, 0x301a, 0xa1b2, ATTRS_NONE, NULL);
    address_space_stq_le(as, 0x3020, 0x0102030405060708ull, ATTRS_NONE, NULL);
    address_space_stq_be(as, 0x3028, 0x0102030405060708ull, ATTRS_NONE, NULL);
    address_space_stb(as, 0x3030, 0x7e, ATTRS_NONE, NULL);
    assert_nlog(&bedev, 7);
    assert_access(&bedev, 0, true, 0x10, 4, 0x44332211);
    assert_access(&bedev, 1, true, 0x14, 4, 0x11223344);
    assert_access(&bedev, 2, true, 0x18, 2, 0xb2a1);
    assert_access(&bedev, 3, true, 0x1a, 2, 0xa1b2);
    assert_access(&bedev, 4, true, 0x20, 8, 0x0807060504030201ull);
    assert_access(&bedev, 5, true, 0x28, 8, 0x0102030405060708ull);
    assert_access(&bedev, 6, true, 0x30, 1, 0x7e);
    /* Bytes on the bus were kept in address order. */
    const uint8_t bus[] = {0x44, 0x33, 0x22, 0x11, 0x11, 0x22, 0x33, 0x44};
    assert_memory_equal(bedev.mem + 0x10, bus, 8);

    /* Reads: device memory 01..08 at 0x40; the device returns 0x0102030405060708. */
    for (int i = 0; i < 8; i++)
        bedev.mem[0x40 + i] = (uint8_t)(i + 1);
    bedev.nlog = 0;
    assert_int_equal(address_space_ldq_be(as, 0x3040, ATTRS_NONE, NULL), 0x0102030405060708ull);
    assert_int_equal(address_space_ldq_le(as, 0x3040, ATTRS_NONE, NULL), 0x0807060504030201ull);
    assert_int_equal(address_space_ldl_be(as, 0x3040, ATTRS_NONE, NULL), 0x01020304);
    assert_int_equal(address_space_ldl_le(as, 0x3040, ATTRS_NONE, NULL), 0x04030201);
    assert_int_equal(address_space_lduw_be(as, 0x3042, ATTRS_NONE, NULL), 0x0304);
    assert_int_equal(address_space_lduw_le(as, 0x3042, ATTRS_NONE, NULL), 0x0403);
    assert_int_equal(address_space_ldub(as, 0x3041, ATTRS_NONE, NULL), 0x02);
    assert_nlog(&bedev, 7);
    assert_access(&bedev, 0, false, 0x40, 8, 0x0102030405060708ull);
    assert_access(&bedev, 2, false, 0x40, 4, 0x01020304);
    assert_access(&bedev, 4, false, 0x42, 2, 0x0304);
}

static void test_translate(void **state)
{
    (void)state;
    build();
    MemoryRegionSection s;

    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x10, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, ram);
    assert_int_equal(s.offset_within_region, 0x10);
    assert_int_equal(s.offset_within_address_space, 0x10);
    assert_size_equal(s.size, 0xff0);
    assert_ptr_equal(s.host, ts_ram_ptr(ram) + 0x10);
    assert_false(s.readonly);
    assert_int_equal(address_space_translate(as, 0x10, true, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.host, ts_ram_ptr(ram) + 0x10);

    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x1010, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, io);
    assert_int_equal(s.offset_within_region, 0x10);
    assert_int_equal(s.offset_within_address_space, 0x1010);
    assert_size_equal(s.size, 0xf0);
    assert_null(s.host);

    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x1200, false, ATTRS_NONE, &s),
                     MEMTX_DECODE_ERROR);
    assert_null(s.mr);
    assert_size_equal(s.size, 0xe00); /* to the start of ram2 */
    assert_null(s.host);

    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x9000, true, ATTRS_NONE, &s), MEMTX_DECODE_ERROR);
    assert_null(s.mr);
    assert_size_equal(s.size, MR_SIZE_2_64 - 0x9000); /* the hole runs to the end */

    /* ROM: a host pointer for reads, none for writes. */
    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x4010, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, rom);
    assert_ptr_equal(s.host, ts_ram_ptr(rom) + 0x10);
    assert_true(s.readonly);
    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x4010, true, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, rom);
    assert_null(s.host);
    assert_true(s.readonly);

    /* ROM device: reads direct in romd mode only; writes never. */
    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x5020, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, romd);
    assert_ptr_equal(s.host, ts_ram_ptr(romd) + 0x20);
    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x5020, true, ATTRS_NONE, &s), MEMTX_OK);
    assert_null(s.host);
    assert_int_equal(memory_region_rom_device_set_romd(romd, false), 0);
    memset(&s, 0xa5, sizeof(s));
    assert_int_equal(address_space_translate(as, 0x5020, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, romd);
    assert_null(s.host);
}

static void test_attrs_reach_callbacks(void **state)
{
    (void)state;
    build();
    MemTxAttrs attrs = {.secure = 1, .user = 1, .requester_id = 0x1234};
    address_space_stl_le(as, 0x1000, 1, attrs, NULL);
    (void)address_space_ldl_le(as, 0x1000, attrs, NULL);
    uint8_t b[2] = {0};
    attrs.requester_id = 0xbeef;
    attrs.secure = 0;
    assert_int_equal(address_space_write(as, 0x1008, attrs, b, 2), MEMTX_OK);
    assert_nlog(&dev, 3);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dev.log[i].attrs.secure, 1);
        assert_int_equal(dev.log[i].attrs.user, 1);
        assert_int_equal(dev.log[i].attrs.requester_id, 0x1234);
        assert_int_equal(dev.log[i].attrs.debug, 0);
        assert_int_equal(dev.log[i].attrs.unspecified, 0);
    }
    assert_int_equal(dev.log[2].attrs.secure, 0);
    assert_int_equal(dev.log[2].attrs.requester_id, 0xbeef);

    /* Devices with plain callbacks work too. */
    address_space_stw_le(as, 0x6004, 0x5566, attrs, NULL);
    assert_nlog(&plaindev, 1);
    assert_access(&plaindev, 0, true, 4, 2, 0x5566);
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_lduw_le(as, 0x6004, attrs, &res), 0x5566);
    assert_int_equal(res, MEMTX_OK);
}

static void test_results_ored(void **state)
{
    (void)state;
    build();
    errdev.result = MEMTX_ERROR;
    errdev.result_from = 8;
    MemTxResult res = 0xdead;
    (void)address_space_ldq_le(as, 0x7000, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    (void)address_space_ldq_le(as, 0x7008, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);
    address_space_stq_le(as, 0x7008, 1, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_ERROR);

    uint8_t buf[0x108];
    errdev.nlog = 0;
    /* (0,8) OK then (8,8) ERROR: ORed. */
    assert_int_equal(address_space_read(as, 0x7000, ATTRS_NONE, buf, 16), MEMTX_ERROR);
    assert_nlog(&errdev, 2);
    /* Device error plus a hole after the device. */
    assert_int_equal(address_space_read(as, 0x7000, ATTRS_NONE, buf, sizeof(buf)),
                     MEMTX_ERROR | MEMTX_DECODE_ERROR);
    /* Writes OR the same way: hole [0x6ff8,0x7000), then (0,8) OK and (8,8) ERROR. */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(address_space_write(as, 0x7000, ATTRS_NONE, buf, 16), MEMTX_ERROR);
    assert_int_equal(address_space_write(as, 0x6ff8, ATTRS_NONE, buf, 0x18),
                     MEMTX_DECODE_ERROR | MEMTX_ERROR);
    errdev.result = MEMTX_ACCESS_ERROR;
    assert_int_equal(address_space_read(as, 0x7000, ATTRS_NONE, buf, sizeof(buf)),
                     MEMTX_ACCESS_ERROR | MEMTX_DECODE_ERROR);
}

static void test_rom_write_dropped(void **state)
{
    (void)state;
    build();
    uint8_t *p = ts_ram_ptr(rom);
    for (int i = 0; i < 16; i++)
        p[i] = (uint8_t)(0x10 + i);
    uint8_t junk[4] = {0xde, 0xad, 0xbe, 0xef};
    /* As in QEMU, the write is refused: MEMTX_DECODE_ERROR, bytes unchanged. */
    assert_int_equal(address_space_write(as, 0x4004, ATTRS_NONE, junk, 4), MEMTX_DECODE_ERROR);
    MemTxResult res = 0xdead;
    address_space_stl_le(as, 0x4008, 0xffffffff, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    for (int i = 0; i < 16; i++)
        assert_int_equal(p[i], 0x10 + i);
    assert_int_equal(address_space_ldl_le(as, 0x4004, ATTRS_NONE, NULL), 0x17161514);
    /* The CPU side: a TLB fill for a write finds the ROM read-only with no host pointer. */
    MemoryRegionSection sec;
    assert_int_equal(address_space_translate(as, 0x4004, true, ATTRS_NONE, &sec), MEMTX_OK);
    assert_true(sec.readonly);
    assert_null(sec.host);

    /* A debugger's write goes through. */
    MemTxAttrs dbg = {.debug = 1};
    assert_int_equal(address_space_write(as, 0x4004, dbg, junk, 4), MEMTX_OK);
    assert_memory_equal(p + 4, junk, 4);
    assert_int_equal(p[3], 0x13);
    assert_int_equal(p[8], 0x18);
}

static void test_rom_device(void **state)
{
    (void)state;
    build();
    uint8_t *p = ts_ram_ptr(romd);
    for (int i = 0; i < 0x40; i++)
        p[i] = (uint8_t)(0x80 + i);
    td_fill(&romdev, 0x00);

    /* romd on: reads from memory, no callback; writes to the callback, memory untouched. */
    assert_int_equal(address_space_ldl_le(as, 0x5010, ATTRS_NONE, NULL), 0x93929190);
    assert_nlog(&romdev, 0);
    MemTxResult res = 0xdead;
    address_space_stl_le(as, 0x5010, 0xa5a5a5a5, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_OK);
    assert_nlog(&romdev, 1);
    assert_access(&romdev, 0, true, 0x10, 4, 0xa5a5a5a5);
    assert_int_equal(p[0x10], 0x90);
    assert_int_equal(address_space_ldl_le(as, 0x5010, ATTRS_NONE, NULL), 0x93929190);

    /* romd off: both directions go to the callbacks. */
    assert_int_equal(memory_region_rom_device_set_romd(romd, false), 0);
    romdev.nlog = 0;
    assert_int_equal(address_space_ldl_le(as, 0x5020, ATTRS_NONE, NULL), 0x23222120);
    address_space_stw_le(as, 0x5030, 0x1234, ATTRS_NONE, NULL);
    assert_nlog(&romdev, 2);
    assert_access(&romdev, 0, false, 0x20, 4, 0x23222120);
    assert_access(&romdev, 1, true, 0x30, 2, 0x1234);
    assert_int_equal(p[0x30], 0xb0);

    /* Back on: memory again. */
    assert_int_equal(memory_region_rom_device_set_romd(romd, true), 0);
    assert_int_equal(address_space_ldub(as, 0x5020, ATTRS_NONE, NULL), 0xa0);
    assert_nlog(&romdev, 2);
}

static void test_unassigned(void **state)
{
    (void)state;
    build();
    AddressSpace *as2 = h_as(root, "as2");
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, 0x1800, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    uint8_t buf[8];
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(address_space_read(as, 0x20000, ATTRS_NONE, buf, 8), MEMTX_DECODE_ERROR);
    for (int i = 0; i < 8; i++)
        assert_int_equal(buf[i], 0);

    address_space_set_unassigned_value(as, 0xff);
    res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, 0x1800, ATTRS_NONE, &res), 0xffffffffu);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_int_equal(address_space_ldq_be(as, UINT64_MAX - 7, ATTRS_NONE, NULL), UINT64_MAX);
    assert_int_equal(address_space_ldub(as, 0x9000, ATTRS_NONE, NULL), 0xff);
    assert_int_equal(address_space_lduw_le(as, 0x1800, ATTRS_NONE, NULL), 0xffff);
    /* The value is per address space. */
    assert_int_equal(address_space_ldl_le(as2, 0x1800, ATTRS_NONE, NULL), 0);

    /* Writes are dropped. */
    res = 0xdead;
    address_space_stl_le(as, 0x1800, 0x12345678, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_int_equal(address_space_ldl_le(as, 0x1800, ATTRS_NONE, NULL), 0xffffffffu);
    assert_int_equal(address_space_write(as, 0x20000, ATTRS_NONE, buf, 8), MEMTX_DECODE_ERROR);
    assert_nlog(&dev, 0);
}

static void test_missing_callbacks(void **state)
{
    (void)state;
    build();
    /* A reservation (NULL ops) answers everything with a decode error. */
    MemTxResult res = 0xdead;
    assert_int_equal(address_space_ldl_le(as, 0x8000, ATTRS_NONE, &res), 0);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    address_space_stl_le(as, 0x8000, 1, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);

    /* Ops with a read callback only: writes are decode errors and reach nobody. */
    static const MemoryRegionOps ro_ops = {.read = td_read};
    TestDev rodev;
    td_init(&rodev, DEVICE_LITTLE_ENDIAN);
    rodev.mem[4] = 0x42;
    MemoryRegion *roio = h_io(&ro_ops, &rodev, "ro", 0x100);
    h_add(root, 0xa000, roio, 0);
    assert_int_equal(address_space_ldub(as, 0xa004, ATTRS_NONE, &res), 0x42);
    assert_int_equal(res, MEMTX_OK);
    address_space_stb(as, 0xa004, 0x99, ATTRS_NONE, &res);
    assert_int_equal(res, MEMTX_DECODE_ERROR);
    assert_nlog(&rodev, 1);
    assert_int_equal(rodev.mem[4], 0x42);
}

static void test_dispatch_through_alias(void **state)
{
    (void)state;
    build();
    /* An alias of dev starting 0x10 into it, at 0x9000: callbacks see dev offsets. */
    MemoryRegion *a = h_alias("dev-window", io, 0x10, 0x20);
    MemoryRegion *ra = h_alias("romd-window", romd, 0x80, 0x80);
    h_add(root, 0x9000, a, 0);
    h_add(root, 0x9100, ra, 0);
    address_space_stl_le(as, 0x9004, 0xfeedface, ATTRS_NONE, NULL);
    assert_nlog(&dev, 1);
    assert_access(&dev, 0, true, 0x14, 4, 0xfeedface);
    assert_int_equal(address_space_ldl_le(as, 0x1014, ATTRS_NONE, NULL), 0xfeedface);

    MemoryRegionSection s;
    assert_int_equal(address_space_translate(as, 0x9008, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.mr, io);
    assert_int_equal(s.offset_within_region, 0x18);
    assert_int_equal(s.offset_within_address_space, 0x9008);
    assert_size_equal(s.size, 0x18);

    /* ROM device through an alias: direct reads at the alias offset, writes to ops. */
    ts_ram_ptr(romd)[0x84] = 0x6b;
    assert_int_equal(address_space_ldub(as, 0x9104, ATTRS_NONE, NULL), 0x6b);
    assert_int_equal(address_space_translate(as, 0x9104, false, ATTRS_NONE, &s), MEMTX_OK);
    assert_ptr_equal(s.host, ts_ram_ptr(romd) + 0x84);
    address_space_stb(as, 0x9105, 0x1, ATTRS_NONE, NULL);
    assert_nlog(&romdev, 1);
    assert_access(&romdev, 0, true, 0x85, 1, 0x1);
}

static void test_zero_length(void **state)
{
    (void)state;
    build();
    uint8_t b = 0x5a;
    assert_int_equal(address_space_read(as, 0x1000, ATTRS_NONE, &b, 0), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0x1000, ATTRS_NONE, &b, 0), MEMTX_OK);
    assert_int_equal(b, 0x5a);
    assert_nlog(&dev, 0);
}

static void test_romd_flag_in_view(void **state)
{
    (void)state;
    build();
    FlatRange fr;
    assert_true(address_space_find_range(as, 0x5000, &fr));
    assert_ptr_equal(fr.mr, romd);
    assert_true(fr.romd_mode);
    assert_false(fr.readonly);
    assert_int_equal(memory_region_rom_device_set_romd(romd, false), 0);
    assert_true(address_space_find_range(as, 0x5000, &fr));
    assert_ptr_equal(fr.mr, romd);
    assert_false(fr.romd_mode);
    assert_true(address_space_find_range(as, 0x1000, &fr));
    assert_false(fr.romd_mode);
}

/*
 * A flat range keeps copies of its region's kind and memory, which the
 * lookup reads instead of the region. A region struct destroyed and
 * initialised again as another kind, at the same place in the map, is
 * accessed as what it is now: on a page's first access (the TLB's miss
 * path), through the TLB, and through an alias window smaller than a page,
 * which the TLB never holds.
 */
static void test_region_reinitialised_as_other_kind(void **state)
{
    (void)state;
    static uint8_t host[0x1000];
    TestDev xdev;
    build();
    td_init(&xdev, DEVICE_LITTLE_ENDIAN);
    td_fill(&xdev, 0x30); /* mem[0x14] = 0x44 */
    MemoryRegion *x = h_ram("x", 0x1000);
    MemoryRegion *win = h_alias("x-window", x, 0x10, 0x80);
    ts_ram_ptr(x)[0x14] = 0x5c;
    for (int kind = 0; kind < 3; kind++) {
        if (kind) {
            assert_int_equal(memory_region_del_subregion(root, win), 0);
            assert_int_equal(memory_region_del_subregion(root, x), 0);
            assert_int_equal(memory_region_destroy(win), 0);
            assert_int_equal(memory_region_destroy(x), 0);
            if (kind == 1)
                assert_int_equal(memory_region_init_io(x, &td_ops_le, &xdev, "x", 0x1000), 0);
            else
                assert_int_equal(memory_region_init_ram_ptr(x, "x", 0x1000, host), 0);
            assert_int_equal(memory_region_init_alias(win, "x-window", x, 0x10, 0x80), 0);
        }
        h_add(root, 0xa000, x, 0);
        h_add(root, 0xb000, win, 0);
        uint8_t want = kind == 0 ? 0x5c : kind == 1 ? 0x44 : 0x77;
        host[0x14] = 0x77;
        for (int rep = 0; rep < 2; rep++) { /* a miss, then a TLB hit */
            assert_int_equal(address_space_ldub(as, 0xa014, ATTRS_NONE, NULL), want);
            assert_int_equal(address_space_ldub(as, 0xb004, ATTRS_NONE, NULL), want);
        }
        address_space_stb(as, 0xb005, 0x99, ATTRS_NONE, NULL);
        uint8_t got = kind == 0 ? ts_ram_ptr(x)[0x15] : kind == 1 ? xdev.mem[0x15] : host[0x15];
        assert_int_equal(got, 0x99);
    }
    assert_nlog(&xdev, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_rw_across_ram_and_mmio),
        H_TEST(test_read_across_hole),
        H_TEST(test_write_across_hole),
        H_TEST(test_typed_ram),
        H_TEST(test_typed_le_device),
        H_TEST(test_typed_be_device),
        H_TEST(test_translate),
        H_TEST(test_attrs_reach_callbacks),
        H_TEST(test_results_ored),
        H_TEST(test_rom_write_dropped),
        H_TEST(test_rom_device),
        H_TEST(test_unassigned),
        H_TEST(test_missing_callbacks),
        H_TEST(test_dispatch_through_alias),
        H_TEST(test_zero_length),
        H_TEST(test_romd_flag_in_view),
        H_TEST(test_region_reinitialised_as_other_kind),
    };
    return cmocka_run_group_tests_name("dispatch", tests, NULL, NULL);
}
