/*
 * The default board of the mtree tool: a PC-like machine built with the
 * memregion API, used when no dump file is given.
 *
 *   RAM below 4G   ram-below-4g: pc.ram [0, 2 GiB) at 0
 *   RAM above 4G   ram-above-4g: pc.ram [2 GiB, 3 GiB) at 4 GiB
 *   PCI hole       pci-hole: the PCI address space from 2 GiB up to the
 *                  IOAPIC (VGA framebuffer BAR, e1000 BAR after firmware)
 *   VGA window     smram-region: PCI's 0xa0000-0xbffff (vga-lowmem) while
 *                  SMRAM is closed
 *   BIOS ROM       pc.bios (256 KiB) at the top of 4G, isa-bios (its last
 *                  128 KiB) at 0xe0000; PAM segments 0xc0000-0xfffff, each
 *                  with pam-pci / pam-ram / pam-rom aliases
 *   SMRAM          per-CPU SMM space: smram-low (pc.ram) over the VGA window
 *   APIC           a per-CPU 4 KiB apic page at 0xfee00000 (cpu-memory-N)
 *   I/O ports      the `I/O` space: PIC, PIT, i8042, RTC, serial, VGA, PCI
 *
 * At reset the PAM segments read from PCI (pc.rom, isa-bios); after the
 * firmware step the BIOS has copied itself to RAM and write-protected it
 * (pam-rom), opened the option-ROM segments (pam-ram) and assigned the
 * e1000 BAR.
 */
#ifndef MTREE_BOARD_H
#define MTREE_BOARD_H

#include <memregion/memregion.h>

#define BOARD_CPUS         2
#define BOARD_PAM_SEGMENTS 13
#define BOARD_IO_DEVICES   16

typedef struct Board {
    MemoryRegion system, pci, io;
    MemoryRegion ram, ram_below, ram_above, pci_hole;
    MemoryRegion bios, isa_bios, option_rom;
    MemoryRegion vga_vram, vga_lowmem, vga_mmio, e1000_mmio;
    MemoryRegion ioapic, hpet;
    MemoryRegion smram_region;     /* VGA window in system while SMRAM is closed */
    MemoryRegion smram, smram_low; /* SMRAM container and its RAM */
    MemoryRegion pam_pci[BOARD_PAM_SEGMENTS], pam_ram[BOARD_PAM_SEGMENTS],
        pam_rom[BOARD_PAM_SEGMENTS];
    MemoryRegion cpu_root[BOARD_CPUS], cpu_mem_alias[BOARD_CPUS], apic[BOARD_CPUS];
    MemoryRegion smm_root[BOARD_CPUS], smm_mem_alias[BOARD_CPUS], smm_smram_alias[BOARD_CPUS];
    MemoryRegion io_dev[BOARD_IO_DEVICES];
    MemoryRegion rtc_index;
    unsigned nio;
    AddressSpace as_memory, as_io, as_cpu[BOARD_CPUS], as_smm[BOARD_CPUS];
    AddressSpace *spaces[2 + 2 * BOARD_CPUS];
    size_t nspaces;
    bool built;
} Board;

/**
 * Build the board in @b (caller-allocated, any contents) in its reset state,
 * or after the firmware step when @firmware. Returns 0 or a negative errno
 * (memregion_last_error() says why). Writer-side.
 */
int board_init(Board *b, bool firmware);

/** Tear the board down. */
void board_destroy(Board *b);

#endif /* MTREE_BOARD_H */
