/*
 * The default board: see board.h for the map.
 */
#include <stdio.h>
#include <string.h>

#include "board.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)addr, (void)size;
    return ~0ull;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    (void)opaque, (void)addr, (void)data, (void)size;
}

/* Stand-in device registers: read all-ones, ignore writes. */
static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

/* Run the calls of a build step, stopping at the first error. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        if (!rc)                                                                                   \
            rc = (call);                                                                           \
    } while (0)

static int pam_init(Board *b)
{
    int rc = 0;
    for (int i = 0; i < BOARD_PAM_SEGMENTS; i++) {
        /* Segment 0 is 0xf0000-0xfffff; 1..12 are 16 KiB from 0xc0000. */
        hwaddr start = i == 0 ? 0xf0000 : 0xc0000 + (hwaddr)(i - 1) * 0x4000;
        uint64_t size = i == 0 ? 0x10000 : 0x4000;
        TRY(memory_region_init_alias(&b->pam_pci[i], "pam-pci", &b->pci, start, size));
        TRY(memory_region_init_alias(&b->pam_ram[i], "pam-ram", &b->ram, start, size));
        TRY(memory_region_init_alias(&b->pam_rom[i], "pam-rom", &b->ram, start, size));
        TRY(memory_region_set_readonly(&b->pam_rom[i], true));
        TRY(memory_region_set_enabled(&b->pam_ram[i], false));
        TRY(memory_region_set_enabled(&b->pam_rom[i], false));
        TRY(memory_region_add_subregion_overlap(&b->system, start, &b->pam_ram[i], 1));
        TRY(memory_region_add_subregion_overlap(&b->system, start, &b->pam_rom[i], 1));
        TRY(memory_region_add_subregion_overlap(&b->system, start, &b->pam_pci[i], 1));
    }
    return rc;
}

static int io_init(Board *b)
{
    static const struct {
        const char *name;
        hwaddr addr;
        uint64_t size;
    } devs[] = {
        {"dma-chan", 0x00, 8},   {"pic", 0x20, 2},           {"pit", 0x40, 4},
        {"i8042-data", 0x60, 1}, {"i8042-cmd", 0x64, 1},     {"rtc", 0x70, 2},
        {"port92", 0x92, 1},     {"pic", 0xa0, 2},           {"serial", 0x3f8, 8},
        {"vga", 0x3c0, 0x20},    {"pci-conf-idx", 0xcf8, 4}, {"pci-conf-data", 0xcfc, 4},
    };
    int rc = 0;
    TRY(memory_region_init_io(&b->io, &dev_ops, NULL, "io", 0x10000));
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]) && !rc; i++) {
        MemoryRegion *mr = &b->io_dev[b->nio++];
        TRY(memory_region_init_io(mr, &dev_ops, NULL, devs[i].name, devs[i].size));
        TRY(memory_region_add_subregion(&b->io, devs[i].addr, mr));
        if (!rc && strcmp(devs[i].name, "rtc") == 0) {
            TRY(memory_region_init_io(&b->rtc_index, &dev_ops, NULL, "rtc-index", 1));
            TRY(memory_region_add_subregion(mr, 0, &b->rtc_index));
        }
    }
    return rc;
}

int board_init(Board *b, bool firmware)
{
    memset(b, 0, sizeof(*b));
    int rc = 0;
    memory_region_transaction_begin();

    TRY(memory_region_init(&b->system, "system", MR_SIZE_2_64));
    TRY(memory_region_init(&b->pci, "pci", MR_SIZE_2_64));
    TRY(memory_region_init_ram(&b->ram, "pc.ram", 3 * GiB));
    TRY(memory_region_init_alias(&b->ram_below, "ram-below-4g", &b->ram, 0, 2 * GiB));
    TRY(memory_region_init_alias(&b->ram_above, "ram-above-4g", &b->ram, 2 * GiB, 1 * GiB));
    TRY(memory_region_add_subregion(&b->system, 0, &b->ram_below));
    TRY(memory_region_add_subregion(&b->system, 4 * GiB, &b->ram_above));
    /* The PCI hole: PCI addresses from the end of low RAM to the IOAPIC. */
    TRY(memory_region_init_alias(&b->pci_hole, "pci-hole", &b->pci, 2 * GiB, 0xfec00000 - 2 * GiB));
    TRY(memory_region_add_subregion(&b->system, 2 * GiB, &b->pci_hole));

    /* PCI address space: legacy ROMs, VGA, BARs. */
    TRY(memory_region_init_rom(&b->bios, "pc.bios", 256 * 1024));
    TRY(memory_region_init_alias(&b->isa_bios, "isa-bios", &b->bios, 0x20000, 0x20000));
    TRY(memory_region_set_readonly(&b->isa_bios, true));
    TRY(memory_region_init_rom(&b->option_rom, "pc.rom", 0x20000));
    TRY(memory_region_init_io(&b->vga_lowmem, &dev_ops, NULL, "vga-lowmem", 0x20000));
    TRY(memory_region_init_ram(&b->vga_vram, "vga.vram", 16 * MiB));
    TRY(memory_region_init_io(&b->vga_mmio, &dev_ops, NULL, "vga.mmio", 0x1000));
    TRY(memory_region_init_io(&b->e1000_mmio, &dev_ops, NULL, "e1000-mmio", 0x20000));
    TRY(memory_region_add_subregion_overlap(&b->pci, 0xa0000, &b->vga_lowmem, 1));
    TRY(memory_region_add_subregion_overlap(&b->pci, 0xc0000, &b->option_rom, 1));
    TRY(memory_region_add_subregion_overlap(&b->pci, 0xe0000, &b->isa_bios, 1));
    TRY(memory_region_add_subregion(&b->pci, 0xfffc0000, &b->bios));
    TRY(memory_region_add_subregion(&b->pci, 0xfd000000, &b->vga_vram));
    TRY(memory_region_add_subregion(&b->pci, 0xfebf0000, &b->vga_mmio));
    TRY(memory_region_add_subregion(&b->pci, 0xfebc0000, &b->e1000_mmio));
    TRY(memory_region_set_enabled(&b->e1000_mmio, firmware)); /* BAR unassigned at reset */
    /* PCI is visible below everything else, not only through the hole: the
     * BIOS at the top of 4G and the legacy windows come from it. */
    TRY(memory_region_add_subregion_overlap(&b->system, 0, &b->pci, -1));

    /* The VGA window: PCI's 0xa0000-0xbffff over RAM while SMRAM is closed. */
    TRY(memory_region_init_alias(&b->smram_region, "smram-region", &b->pci, 0xa0000, 0x20000));
    TRY(memory_region_add_subregion_overlap(&b->system, 0xa0000, &b->smram_region, 1));
    TRY(pam_init(b));

    TRY(memory_region_init_io(&b->ioapic, &dev_ops, NULL, "ioapic", 0x1000));
    TRY(memory_region_init_io(&b->hpet, &dev_ops, NULL, "hpet", 0x400));
    TRY(memory_region_add_subregion(&b->system, 0xfec00000, &b->ioapic));
    TRY(memory_region_add_subregion(&b->system, 0xfed00000, &b->hpet));

    /* SMRAM: what a CPU in SMM sees at the VGA window. */
    TRY(memory_region_init(&b->smram, "smram", 4 * GiB));
    TRY(memory_region_init_alias(&b->smram_low, "smram-low", &b->ram, 0xa0000, 0x20000));
    TRY(memory_region_add_subregion(&b->smram, 0xa0000, &b->smram_low));

    TRY(io_init(b));

    /* Per-CPU views: each CPU sees its own APIC page over system memory. */
    char name[32];
    for (int i = 0; i < BOARD_CPUS && !rc; i++) {
        snprintf(name, sizeof(name), "cpu-container-%d", i);
        TRY(memory_region_init(&b->cpu_root[i], name, MR_SIZE_2_64));
        TRY(memory_region_init_alias(&b->cpu_mem_alias[i], "memory", &b->system, 0, MR_SIZE_2_64));
        snprintf(name, sizeof(name), "apic-cpu%d", i);
        TRY(memory_region_init_io(&b->apic[i], &dev_ops, NULL, name, 0x1000));
        TRY(memory_region_add_subregion(&b->cpu_root[i], 0, &b->cpu_mem_alias[i]));
        TRY(memory_region_add_subregion_overlap(&b->cpu_root[i], 0xfee00000, &b->apic[i], 4096));

        snprintf(name, sizeof(name), "smm-container-%d", i);
        TRY(memory_region_init(&b->smm_root[i], name, MR_SIZE_2_64));
        TRY(memory_region_init_alias(&b->smm_mem_alias[i], "memory", &b->cpu_root[i], 0,
                                     MR_SIZE_2_64));
        TRY(memory_region_init_alias(&b->smm_smram_alias[i], "smram", &b->smram, 0, 4 * GiB));
        TRY(memory_region_add_subregion(&b->smm_root[i], 0, &b->smm_mem_alias[i]));
        TRY(memory_region_add_subregion_overlap(&b->smm_root[i], 0, &b->smm_smram_alias[i], 1));
    }

    if (firmware) {
        /* The BIOS copied itself and the option ROM to RAM: option-ROM
         * segments read-write, BIOS segments write-protected. */
        for (int i = 0; i < BOARD_PAM_SEGMENTS; i++) {
            bool bios_seg = i == 0 || i >= 9; /* 0xe0000 and up */
            TRY(memory_region_set_enabled(&b->pam_pci[i], false));
            TRY(memory_region_set_enabled(bios_seg ? &b->pam_rom[i] : &b->pam_ram[i], true));
        }
    }

    if (!rc) {
        TRY(address_space_init(&b->as_memory, &b->system, "memory"));
        b->spaces[b->nspaces++] = &b->as_memory;
        TRY(address_space_init(&b->as_io, &b->io, "I/O"));
        b->spaces[b->nspaces++] = &b->as_io;
        for (int i = 0; i < BOARD_CPUS && !rc; i++) {
            snprintf(name, sizeof(name), "cpu-memory-%d", i);
            TRY(address_space_init(&b->as_cpu[i], &b->cpu_root[i], name));
            if (!rc)
                b->spaces[b->nspaces++] = &b->as_cpu[i];
            snprintf(name, sizeof(name), "cpu-smm-%d", i);
            TRY(address_space_init(&b->as_smm[i], &b->smm_root[i], name));
            if (!rc)
                b->spaces[b->nspaces++] = &b->as_smm[i];
        }
    }
    memory_region_transaction_commit();
    b->built = true;
    if (rc)
        board_destroy(b);
    return rc;
}

#define BOARD_MAX_REGIONS 256

/* Every region of the board into @v; returns the count. */
static size_t all_regions(Board *b, MemoryRegion **v)
{
    size_t k = 0;
    MemoryRegion *singles[] = {
        &b->system,    &b->pci,          &b->io,       &b->ram,        &b->ram_below,
        &b->ram_above, &b->pci_hole,     &b->bios,     &b->isa_bios,   &b->option_rom,
        &b->vga_vram,  &b->vga_lowmem,   &b->vga_mmio, &b->e1000_mmio, &b->ioapic,
        &b->hpet,      &b->smram_region, &b->smram,    &b->smram_low,  &b->rtc_index,
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
        v[k++] = singles[i];
    for (int i = 0; i < BOARD_PAM_SEGMENTS; i++) {
        v[k++] = &b->pam_pci[i];
        v[k++] = &b->pam_ram[i];
        v[k++] = &b->pam_rom[i];
    }
    for (int i = 0; i < BOARD_CPUS; i++) {
        v[k++] = &b->cpu_root[i];
        v[k++] = &b->cpu_mem_alias[i];
        v[k++] = &b->apic[i];
        v[k++] = &b->smm_root[i];
        v[k++] = &b->smm_mem_alias[i];
        v[k++] = &b->smm_smram_alias[i];
    }
    for (unsigned i = 0; i < b->nio; i++)
        v[k++] = &b->io_dev[i];
    return k;
}

void board_destroy(Board *b)
{
    if (!b->built)
        return;
    for (size_t i = b->nspaces; i-- > 0;)
        address_space_destroy(b->spaces[i]);
    b->nspaces = 0;
    MemoryRegion *v[BOARD_MAX_REGIONS];
    size_t n = all_regions(b, v);
    memory_region_transaction_begin();
    for (size_t i = 0; i < n; i++) {
        MemoryRegion *c =
            memory_region_kind(v[i]) != MR_KIND_NONE ? memory_region_container(v[i]) : NULL;
        if (c)
            memory_region_del_subregion(c, v[i]);
    }
    memory_region_transaction_commit();
    /* Aliases before their targets: repeat until nothing more goes. */
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < n; i++)
            if (memory_region_kind(v[i]) != MR_KIND_NONE && memory_region_destroy(v[i]) == 0)
                progress = true;
    }
    b->built = false;
}
