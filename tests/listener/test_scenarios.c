/*
 * Named scenarios from the accelerator's point of view:
 *  1. a PCI BAR holding RAM and MMIO is moved, disabled and re-enabled;
 *     dirty logging and coalescing stay on without the device acting;
 *  2. a ROM shadowing overlay (PAM style) is toggled, read-write and
 *     read-only; the listener sees exactly the changed ranges;
 *  3. a VGA window with dirty logging takes writes; bits are read,
 *     snapshotted, cleared, with a non-default page size;
 *  4. an ioeventfd doorbell signals a real eventfd, survives a BAR move,
 *     and the listener sees eventfd_del then eventfd_add.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lt.h"

#define VGA_BIT (1 << DIRTY_MEMORY_VGA)

/* ---- 1. PCI BAR ------------------------------------------------------------- */

static void test_pci_bar_keeps_logging_and_coalescing(void **state)
{
    (void)state;
    static LtDev dev;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *sys = lt_container("system", (mr_size_t)1 << 32);
    MemoryRegion *ram = lt_ram("ram", 0x100000);
    MemoryRegion *bar = lt_container("bar", 0x8000);
    MemoryRegion *bram = lt_ram("bar.ram", 0x4000);
    MemoryRegion *bio = lt_io(&lt_dev_ops, &dev, "bar.mmio", 0x1000);
    lt_add(sys, 0, ram, 0);
    lt_add(bar, 0, bram, 0);
    lt_add(bar, 0x4000, bio, 0);
    lt_add(sys, 0xe0000000, bar, 0);
    /* The device sets these once, at realize time, and never again. */
    assert_int_equal(memory_region_set_log(bram, true, DIRTY_MEMORY_VGA), 0);
    assert_int_equal(memory_region_add_coalescing(bio, 0x100, 0x100), 0);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("kvm", 10, as);
    assert_mirror(m, as);
    /* Replay: bar.ram carries VGA (region_add with the mask, then log_start); the zone. */
    const MirrorEvent *e = mirror_find_event(m, MCB_LOG_START, 0);
    assert_event(e, MCB_LOG_START, 0xe0000000, 0x4000, bram);
    assert_int_equal(e->new_mask, VGA_BIT);
    e = mirror_find_event(m, MCB_COALESCED_ADD, 0);
    assert_non_null(e);
    assert_int_equal(e->addr, 0xe0004100);
    assert_int_equal(e->len, 0x100);

    /* Move the BAR: everything follows. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_address(bar, 0xf0000000), 0);
    assert_mirror(m, as);
    assert_int_equal(memory_region_get_dirty_log_mask(bram), VGA_BIT);
    assert_last(m, MCB_REGION_DEL, 2);
    assert_last(m, MCB_REGION_ADD, 2);
    assert_last(m, MCB_REGION_NOP, 0);
    assert_event(mirror_find_event(m, MCB_REGION_DEL, 0), MCB_REGION_DEL, 0xe0000000, 0x4000, bram);
    assert_event(mirror_find_event(m, MCB_REGION_DEL, 1), MCB_REGION_DEL, 0xe0004000, 0x1000, bio);
    e = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0xf0000000, 0x4000, bram);
    assert_int_equal(e->range.dirty_log_mask, VGA_BIT);
    assert_event(mirror_find_event(m, MCB_REGION_ADD, 1), MCB_REGION_ADD, 0xf0004000, 0x1000, bio);
    assert_int_equal(m->last[MCB_COALESCED_DEL], 1);
    assert_int_equal(m->last[MCB_COALESCED_ADD], 1);
    assert_int_equal(mirror_find_event(m, MCB_COALESCED_DEL, 0)->addr, 0xe0004100);
    e = mirror_find_event(m, MCB_COALESCED_ADD, 0);
    assert_int_equal(e->addr, 0xf0004100);
    assert_int_equal(e->len, 0x100);
    /* The zone is withdrawn before its range, and announced after. */
    assert_true(mirror_find_event(m, MCB_COALESCED_DEL, 0)->seq <
                mirror_find_event(m, MCB_REGION_DEL, 1)->seq);
    assert_true(mirror_find_event(m, MCB_COALESCED_ADD, 0)->seq >
                mirror_find_event(m, MCB_REGION_ADD, 1)->seq);
    /* A listener registered now hears log_start and the zone at the new address. */
    Mirror *late = lt_mirror("late", 0, as);
    assert_mirror(late, as);
    assert_event(mirror_find_event(late, MCB_LOG_START, 0), MCB_LOG_START, 0xf0000000, 0x4000,
                 bram);
    assert_int_equal(mirror_find_event(late, MCB_COALESCED_ADD, 0)->addr, 0xf0004100);

    /* Writes at the new address mark bar.ram's pages: page 2 only. */
    uint32_t v = 0xdeadbeef;
    assert_int_equal(address_space_write(as, 0xf0002010, ATTRS, &v, 4), MEMTX_OK);
    assert_false(memory_region_get_dirty(bram, 0x0000, 0x2000, DIRTY_MEMORY_VGA));
    assert_true(memory_region_get_dirty(bram, 0x2000, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(bram, 0x3000, 0x1000, DIRTY_MEMORY_VGA));
    memory_region_reset_dirty(bram, 0, 0x4000, DIRTY_MEMORY_VGA);

    /* Disable: ranges and zone go; the state stays on the region. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_enabled(bar, false), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_REGION_DEL, 2);
    assert_last(m, MCB_REGION_ADD, 0);
    assert_last(m, MCB_COALESCED_DEL, 1);
    assert_int_equal(m->nr_zones, 0);
    assert_int_equal(memory_region_get_dirty_log_mask(bram), VGA_BIT);
    assert_int_equal(address_space_write(as, 0xf0001000, ATTRS, &v, 4), MEMTX_DECODE_ERROR);
    assert_false(memory_region_get_dirty(bram, 0, 0x4000, DIRTY_MEMORY_VGA));

    /* Re-enable: back with the mask and the zone, nobody called set_log or add_coalescing. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_enabled(bar, true), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_REGION_ADD, 2);
    assert_last(m, MCB_COALESCED_ADD, 1);
    e = mirror_find_event(m, MCB_REGION_ADD, 0);
    assert_event(e, MCB_REGION_ADD, 0xf0000000, 0x4000, bram);
    assert_int_equal(e->range.dirty_log_mask, VGA_BIT);
    assert_int_equal(mirror_find_event(m, MCB_COALESCED_ADD, 0)->addr, 0xf0004100);
    assert_int_equal(address_space_write(as, 0xf0001000, ATTRS, &v, 4), MEMTX_OK);
    assert_true(memory_region_get_dirty(bram, 0x1000, 1, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(bram, 0x2000, 0x2000, DIRTY_MEMORY_VGA));

    /* Unmap and map elsewhere (a BAR reprogrammed through a remove/add pair). */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_subregion(sys, bar), 0);
    assert_mirror(m, as);
    assert_int_equal(m->nr_zones, 0);
    lt_add(sys, 0xc0000000, bar, 0);
    assert_mirror(m, as);
    assert_int_equal(m->nr_zones, 1);
    assert_int_equal(m->zones[0].addr, 0xc0004100);
    assert_int_equal(memory_region_get_dirty_log_mask(bram), VGA_BIT);
    assert_int_equal(dev.nwrites, 0);
    MirrorAttach att[] = {{.mr = bio, .offset = 0x100, .size = 0x100}};
    char why[256];
    assert_int_equal(mirror_compare_attachments(m, as, att, 1, why, sizeof(why)), 0);
}

/* ---- 2. ROM shadowing (PAM) --------------------------------------------------- */

static void test_rom_shadow_toggle(void **state)
{
    (void)state;
    MemoryRegion *sys = lt_container("system", 0x100000);
    MemoryRegion *ram = lt_ram("ram", 0x100000);
    MemoryRegion *bios = lt_rom("bios", 0x20000);
    MemoryRegion *pam_rw = lt_alias("pam-rw", ram, 0xf0000, 0x10000);
    MemoryRegion *pam_ro = lt_alias("pam-ro", ram, 0xf0000, 0x10000);
    assert_int_equal(memory_region_set_readonly(pam_ro, true), 0);
    assert_int_equal(memory_region_set_enabled(pam_rw, false), 0);
    assert_int_equal(memory_region_set_enabled(pam_ro, false), 0);
    memset(memory_region_get_ram_ptr(bios), 0xb1, 0x20000);
    memset(memory_region_get_ram_ptr(ram), 0x00, 0x100000);
    lt_add(sys, 0, ram, 0);
    lt_add(sys, 0xe0000, bios, 1);
    lt_add(sys, 0xf0000, pam_rw, 2);
    lt_add(sys, 0xf0000, pam_ro, 2);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("kvm", 0, as);
    /* ram [0, 0xe0000), bios [0xe0000, +0x20000) read-only. */
    assert_int_equal(m->nr_ranges, 2);
    assert_true(m->ranges[1].readonly);

    /* Shadow read-write: bios is cut; ram shows at 0xf0000 (offset 0xf0000). */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_enabled(pam_rw, true), 0);
    assert_mirror(m, as);
    assert_int_equal(m->nr_log, 5);
    assert_int_equal(m->log[0].cb, MCB_BEGIN);
    assert_event(&m->log[1], MCB_REGION_DEL, 0xe0000, 0x20000, bios);
    assert_event(&m->log[2], MCB_REGION_ADD, 0xe0000, 0x10000, bios);
    assert_event(&m->log[3], MCB_REGION_ADD, 0xf0000, 0x10000, ram);
    assert_int_equal(m->log[3].range.offset_in_region, 0xf0000);
    assert_false(m->log[3].range.readonly);
    assert_int_equal(m->log[4].cb, MCB_COMMIT);
    uint8_t b = 0x5a, r = 0;
    assert_int_equal(address_space_write(as, 0xf0010, ATTRS, &b, 1), MEMTX_OK);
    assert_int_equal(((uint8_t *)memory_region_get_ram_ptr(ram))[0xf0010], 0x5a);

    /* Read-write -> read-only (write protect): only the 0xf0000 range changes. */
    mirror_clear_log(m);
    lt_begin();
    assert_int_equal(memory_region_set_enabled(pam_rw, false), 0);
    assert_int_equal(memory_region_set_enabled(pam_ro, true), 0);
    lt_commit();
    assert_mirror(m, as);
    assert_int_equal(m->nr_log, 4);
    assert_event(&m->log[1], MCB_REGION_DEL, 0xf0000, 0x10000, ram);
    assert_false(m->log[1].range.readonly);
    assert_event(&m->log[2], MCB_REGION_ADD, 0xf0000, 0x10000, ram);
    assert_true(m->log[2].range.readonly);
    b = 0x77;
    /* A write to the write-protected shadow is refused, as by a ROM in QEMU. */
    assert_int_equal(address_space_write(as, 0xf0010, ATTRS, &b, 1), MEMTX_DECODE_ERROR);
    assert_int_equal(address_space_read(as, 0xf0010, ATTRS, &r, 1), MEMTX_OK);
    assert_int_equal(r, 0x5a); /* the write was dropped, the shadow copy reads */

    /* Back to ROM: the shadow goes, bios shows whole again. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_enabled(pam_ro, false), 0);
    assert_mirror(m, as);
    assert_int_equal(m->nr_log, 5);
    assert_event(&m->log[1], MCB_REGION_DEL, 0xe0000, 0x10000, bios);
    assert_event(&m->log[2], MCB_REGION_DEL, 0xf0000, 0x10000, ram);
    assert_event(&m->log[3], MCB_REGION_ADD, 0xe0000, 0x20000, bios);
    assert_int_equal(address_space_read(as, 0xf0010, ATTRS, &r, 1), MEMTX_OK);
    assert_int_equal(r, 0xb1);

    /* Toggling on and off inside one transaction: nothing changed, nothing sent. */
    mirror_clear_log(m);
    lt_begin();
    assert_int_equal(memory_region_set_enabled(pam_rw, true), 0);
    assert_int_equal(memory_region_set_enabled(pam_rw, false), 0);
    lt_commit();
    assert_mirror(m, as);
    assert_last(m, MCB_REGION_DEL, 0);
    assert_last(m, MCB_REGION_ADD, 0);
}

/* ---- 3. VGA window -------------------------------------------------------------- */

static void test_vga_window_dirty_bits(void **state)
{
    (void)state;
    /* 1 KiB pages: set before logging starts. */
    assert_int_equal(memregion_set_dirty_page_size(0x400), 0);
    MemoryRegion *sys = lt_container("system", 0x100000);
    MemoryRegion *vram = lt_ram("vga.vram", 0x40000);
    MemoryRegion *win = lt_alias("vga.window", vram, 0, 0x20000);
    lt_add(sys, 0xa0000, win, 1);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("kvm", 0, as);
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(vram, true, DIRTY_MEMORY_VGA), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_LOG_START, 1);

    /* Writes: byte at 0 (page 0), byte at 0x7ff (page 1), 4 bytes at 0x13fe (pages 4, 5),
     * 4 bytes at 0x3ffe (pages 0xf, 0x10), 16 bytes at 0x8000 (page 0x20). */
    uint8_t buf[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    assert_int_equal(address_space_write(as, 0xa0000, ATTRS, buf, 1), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0xa07ff, ATTRS, buf, 1), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0xa13fe, ATTRS, buf, 4), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0xa3ffe, ATTRS, buf, 4), MEMTX_OK);
    assert_int_equal(address_space_write(as, 0xa8000, ATTRS, buf, 16), MEMTX_OK);
    /* Reads do not dirty. */
    assert_int_equal(address_space_read(as, 0xa2000, ATTRS, buf, 16), MEMTX_OK);
    static const unsigned dirty_pages[] = {0, 1, 4, 5, 0xf, 0x10, 0x20};
    for (unsigned p = 0; p < 0x100; p++) {
        bool want = false;
        for (size_t i = 0; i < sizeof(dirty_pages) / sizeof(dirty_pages[0]); i++)
            want |= dirty_pages[i] == p;
        if (memory_region_get_dirty(vram, (hwaddr)p * 0x400, 0x400, DIRTY_MEMORY_VGA) != want)
            fail_msg("page 0x%x: dirty %d, expected %d", p, !want, want);
    }
    /* Other clients do not log. */
    assert_false(memory_region_get_dirty(vram, 0, 0x40000, DIRTY_MEMORY_CODE));
    assert_false(memory_region_get_dirty(vram, 0, 0x40000, DIRTY_MEMORY_MIGRATION));
    /* A query spanning clean and dirty pages is dirty. */
    assert_true(memory_region_get_dirty(vram, 0x800, 0x1000, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(vram, 0x800, 0x800, DIRTY_MEMORY_VGA));

    /* Snapshot and clear the first 32 KiB (pages 0..0x1f). */
    DirtyBitmapSnapshot *snap =
        memory_region_snapshot_and_clear_dirty(vram, 0, 0x8000, DIRTY_MEMORY_VGA);
    assert_non_null(snap);
    for (unsigned p = 0; p < 0x20; p++) {
        bool want = p == 0 || p == 1 || p == 4 || p == 5 || p == 0xf || p == 0x10;
        if (memory_region_snapshot_get_dirty(vram, snap, (hwaddr)p * 0x400, 0x400) != want)
            fail_msg("snapshot page 0x%x: expected %d", p, want);
        assert_false(memory_region_get_dirty(vram, (hwaddr)p * 0x400, 0x400, DIRTY_MEMORY_VGA));
    }
    /* Page 0x20 was outside the snapshot: still dirty, and not in the snapshot. */
    assert_false(memory_region_snapshot_get_dirty(vram, snap, 0x8000, 0x400));
    assert_true(memory_region_get_dirty(vram, 0x8000, 0x400, DIRTY_MEMORY_VGA));
    memory_region_snapshot_free(snap);

    /* A snapshot of a sub-range not starting at page 0. */
    assert_int_equal(address_space_write(as, 0xa1000, ATTRS, buf, 1), MEMTX_OK); /* page 4 */
    assert_int_equal(address_space_write(as, 0xa0000, ATTRS, buf, 1), MEMTX_OK); /* page 0 */
    snap = memory_region_snapshot_and_clear_dirty(vram, 0x1000, 0x800, DIRTY_MEMORY_VGA);
    assert_non_null(snap);
    assert_true(memory_region_snapshot_get_dirty(vram, snap, 0x1000, 0x400));
    assert_false(memory_region_snapshot_get_dirty(vram, snap, 0x1400, 0x400));
    assert_false(memory_region_snapshot_get_dirty(vram, snap, 0x0, 0x400));
    assert_true(memory_region_get_dirty(vram, 0, 0x400, DIRTY_MEMORY_VGA)); /* not cleared */
    assert_false(memory_region_get_dirty(vram, 0x1000, 0x400, DIRTY_MEMORY_VGA));
    memory_region_snapshot_free(snap);

    /* reset_dirty clears exactly the pages asked for. */
    memory_region_reset_dirty(vram, 0, 0x400, DIRTY_MEMORY_VGA);
    assert_false(memory_region_get_dirty(vram, 0, 0x400, DIRTY_MEMORY_VGA));
    assert_true(memory_region_get_dirty(vram, 0x8000, 0x400, DIRTY_MEMORY_VGA));
    memory_region_reset_dirty(vram, 0, 0x40000, DIRTY_MEMORY_VGA);
    assert_false(memory_region_get_dirty(vram, 0, 0x40000, DIRTY_MEMORY_VGA));

    /* A write through the host pointer, reported with set_dirty: page 8 (0x2345 / 0x400). */
    ((uint8_t *)memory_region_get_ram_ptr(vram))[0x2345] = 0x42;
    memory_region_set_dirty(vram, 0x2345, 1);
    assert_true(memory_region_get_dirty(vram, 0x2000, 0x400, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(vram, 0x1c00, 0x400, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(vram, 0x2400, 0x400, DIRTY_MEMORY_VGA));
    memory_region_reset_dirty(vram, 0, 0x40000, DIRTY_MEMORY_VGA);

    /* Bank switch: the window now shows vram from 0x10000; a write at 0xa0000 dirties 0x40. */
    assert_int_equal(memory_region_set_alias_offset(win, 0x10000), 0);
    assert_mirror(m, as);
    assert_int_equal(address_space_write(as, 0xa0000, ATTRS, buf, 1), MEMTX_OK);
    assert_true(memory_region_get_dirty(vram, 0x10000, 0x400, DIRTY_MEMORY_VGA));
    assert_false(memory_region_get_dirty(vram, 0, 0x10000, DIRTY_MEMORY_VGA));

    /* Logging off: writes no longer mark anything, a snapshot is refused. */
    memory_region_reset_dirty(vram, 0, 0x40000, DIRTY_MEMORY_VGA);
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_log(vram, false, DIRTY_MEMORY_VGA), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_LOG_STOP, 1);
    assert_int_equal(address_space_write(as, 0xa0000, ATTRS, buf, 1), MEMTX_OK);
    assert_false(memory_region_get_dirty(vram, 0, 0x40000, DIRTY_MEMORY_VGA));
    assert_null(memory_region_snapshot_and_clear_dirty(vram, 0, 0x1000, DIRTY_MEMORY_VGA));
}

/* ---- 4. ioeventfd doorbell -------------------------------------------------------- */

static uint64_t eventfd_count(int fd)
{
    uint64_t v = 0;
    ssize_t n = read(fd, &v, sizeof(v));
    if (n < 0 && errno == EAGAIN)
        return 0;
    assert_int_equal(n, sizeof(v));
    return v;
}

static void test_ioeventfd_doorbell(void **state)
{
    (void)state;
    static LtDev dev;
    memset(&dev, 0, sizeof(dev));
    MemoryRegion *sys = lt_container("system", (mr_size_t)1 << 32);
    MemoryRegion *bar = lt_io(&lt_dev_ops, &dev, "virtio.bar", 0x1000);
    lt_add(sys, 0xe0000000, bar, 0);
    AddressSpace *as = lt_as(sys, "memory");
    Mirror *m = lt_mirror("kvm", 0, as);
    int fd = eventfd(0, EFD_NONBLOCK);
    int fd2 = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0 && fd2 >= 0);

    /* Queue notify at 0x40: 4-byte writes of 0x1234 only. Any 2-byte write at 0x80. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_add_eventfd(bar, 0x40, 4, true, 0x1234, fd), 0);
    assert_int_equal(memory_region_add_eventfd(bar, 0x80, 2, false, 0, fd2), 0);
    assert_int_equal(m->errors, 0);
    assert_int_equal(m->total[MCB_EVENTFD_ADD], 2);
    assert_int_equal(m->total[MCB_BEGIN], 2);
    assert_int_equal(m->total[MCB_REGION_ADD] + m->total[MCB_REGION_DEL], 0);
    const MirrorEvent *e = mirror_find_event(m, MCB_EVENTFD_ADD, 0);
    assert_event(e, MCB_EVENTFD_ADD, 0xe0000040, 4, bar);
    assert_true(e->match_data);
    assert_int_equal(e->data, 0x1234);
    assert_int_equal(e->fd, fd);
    assert_int_equal(e->range.offset_in_region, 0x40);
    assert_event(mirror_find_event(m, MCB_EVENTFD_ADD, 1), MCB_EVENTFD_ADD, 0xe0000080, 2, bar);

    /* A matching write signals; the device sees nothing. */
    address_space_stl_le(as, 0xe0000040, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 1);
    assert_int_equal(dev.nwrites, 0);
    address_space_stl_le(as, 0xe0000040, 0x1234, ATTRS, NULL);
    address_space_stl_le(as, 0xe0000040, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 2);
    /* Other data: the device gets the write instead. */
    address_space_stl_le(as, 0xe0000040, 0x5678, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 1);
    assert_int_equal(dev.waddr[0], 0x40);
    assert_int_equal(dev.wdata[0], 0x5678);
    /* Another size: the device too. */
    address_space_stw_le(as, 0xe0000040, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 2);
    /* Another address: the device. */
    address_space_stl_le(as, 0xe0000044, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 3);
    /* fd2 takes any data of its size. */
    address_space_stw_le(as, 0xe0000080, 0xffff, ATTRS, NULL);
    address_space_stw_le(as, 0xe0000080, 0x0001, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd2), 2);
    assert_int_equal(dev.nwrites, 3);
    /* Size 0 is any size: 1-, 2- and 4-byte writes at 0xc0 all ring fd2; 0xc1 does not. */
    assert_int_equal(memory_region_add_eventfd(bar, 0xc0, 0, false, 0, fd2), 0);
    address_space_stb(as, 0xe00000c0, 1, ATTRS, NULL);
    address_space_stw_le(as, 0xe00000c0, 2, ATTRS, NULL);
    address_space_stl_le(as, 0xe00000c0, 3, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd2), 3);
    address_space_stb(as, 0xe00000c1, 1, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd2), 0);
    assert_int_equal(dev.nwrites, 4);
    assert_int_equal(memory_region_del_eventfd(bar, 0xc0, 0, false, 0, fd2), 0);
    address_space_stb(as, 0xe00000c0, 1, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd2), 0);
    assert_int_equal(dev.nwrites, 5);
    dev.nwrites = 3; /* back to the count the rest of the test expects */
    /* Reads are not doorbells. */
    assert_int_equal(address_space_ldl_le(as, 0xe0000040, ATTRS, NULL), 0);
    assert_int_equal(eventfd_count(fd), 0);

    /* Move the BAR: eventfd_del at the old address, then eventfd_add at the new one. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_set_address(bar, 0xf0000000), 0);
    assert_mirror(m, as);
    assert_last(m, MCB_EVENTFD_DEL, 2);
    assert_last(m, MCB_EVENTFD_ADD, 2);
    const MirrorEvent *del = NULL, *add = NULL;
    for (size_t i = 0; i < 2; i++) {
        const MirrorEvent *d = mirror_find_event(m, MCB_EVENTFD_DEL, i);
        const MirrorEvent *a = mirror_find_event(m, MCB_EVENTFD_ADD, i);
        if (d->fd == fd)
            del = d;
        if (a->fd == fd)
            add = a;
    }
    assert_non_null(del);
    assert_non_null(add);
    assert_event(del, MCB_EVENTFD_DEL, 0xe0000040, 4, bar);
    assert_event(add, MCB_EVENTFD_ADD, 0xf0000040, 4, bar);
    assert_true(del->seq < add->seq);
    assert_true(add->match_data);
    assert_int_equal(add->data, 0x1234);
    MirrorAttach att[] = {
        {.mr = bar,
         .is_eventfd = true,
         .offset = 0x40,
         .size = 4,
         .match_data = true,
         .data = 0x1234,
         .fd = fd},
        {.mr = bar, .is_eventfd = true, .offset = 0x80, .size = 2, .fd = fd2},
    };
    char why[256] = "";
    if (mirror_compare_attachments(m, as, att, 2, why, sizeof(why)))
        fail_msg("%s", why);

    /* The doorbell rings at the new address only. */
    address_space_stl_le(as, 0xf0000040, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 1);
    assert_int_equal(address_space_write(as, 0xe0000040, ATTRS, "\x34\x12\0\0", 4),
                     MEMTX_DECODE_ERROR);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 3);

    /* Removing it sends eventfd_del; the write reaches the device again. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_eventfd(bar, 0x40, 4, true, 0x1234, fd), 0);
    assert_int_equal(m->errors, 0);
    assert_int_equal(m->total[MCB_EVENTFD_DEL], 1);
    assert_event(mirror_find_event(m, MCB_EVENTFD_DEL, 0), MCB_EVENTFD_DEL, 0xf0000040, 4, bar);
    assert_int_equal(mirror_find_event(m, MCB_EVENTFD_DEL, 0)->fd, fd);
    address_space_stl_le(as, 0xf0000040, 0x1234, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 4);

    /* Unmapping withdraws the remaining one. */
    mirror_clear_log(m);
    assert_int_equal(memory_region_del_subregion(sys, bar), 0);
    assert_mirror(m, as);
    assert_int_equal(m->total[MCB_EVENTFD_DEL], 1);
    assert_int_equal(m->nr_eventfds, 0);
    close(fd);
    close(fd2);
}

/* A big-endian device: match data is a value in the device's byte order. */
static void test_ioeventfd_big_endian_match(void **state)
{
    (void)state;
    static LtDev dev;
    memset(&dev, 0, sizeof(dev));
    static MemoryRegionOps be_ops;
    be_ops = lt_dev_ops;
    be_ops.endianness = DEVICE_BIG_ENDIAN;
    MemoryRegion *sys = lt_container("system", 0x10000);
    MemoryRegion *io = lt_io(&be_ops, &dev, "be", 0x100);
    lt_add(sys, 0x1000, io, 0);
    AddressSpace *as = lt_as(sys, "memory");
    int fd = eventfd(0, EFD_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(memory_region_add_eventfd(io, 0x10, 4, true, 0x11223344, fd), 0);
    /* Bytes 11 22 33 44 in address order are the big-endian value 0x11223344. */
    address_space_stl_be(as, 0x1010, 0x11223344, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 1);
    address_space_stl_le(as, 0x1010, 0x11223344, ATTRS, NULL);
    assert_int_equal(eventfd_count(fd), 0);
    assert_int_equal(dev.nwrites, 1);
    assert_int_equal(dev.wdata[0], 0x44332211);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LT_TEST(test_pci_bar_keeps_logging_and_coalescing),
        LT_TEST(test_rom_shadow_toggle),
        LT_TEST(test_vga_window_dirty_bits),
        LT_TEST(test_ioeventfd_doorbell),
        LT_TEST(test_ioeventfd_big_endian_match),
    };
    return cmocka_run_group_tests_name("listener-scenarios", tests, NULL, NULL);
}
