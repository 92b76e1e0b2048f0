/*
 * A PCI-BAR-like window: a container holding RAM and a register block. The
 * "firmware" moves it and disables it; the device code never changes, and
 * each step shows where the guest finds the device.
 */
#include <memregion/memregion.h>
#include <stdio.h>

static uint64_t regs_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)size;
    return addr == 0 ? 0x1234 : *(uint32_t *)opaque;
}

static void regs_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)size;
    if (addr == 4)
        *(uint32_t *)opaque = (uint32_t)val;
}

static const MemoryRegionOps regs_ops = {
    .read = regs_read,
    .write = regs_write,
    .valid = {.min_access_size = 4, .max_access_size = 4},
};

static void probe(AddressSpace *as, hwaddr bar, const char *when)
{
    MemTxResult r;
    uint32_t id = address_space_ldl_le(as, bar + 0x1000, MEMTXATTRS_UNSPECIFIED, &r);
    printf("%-22s BAR at 0x%08llx: id register reads 0x%04x (%s)\n", when, (unsigned long long)bar,
           id, r == MEMTX_OK ? "ok" : "decode error");
}

int main(void)
{
    MemoryRegion system, bar, vram, regs;
    AddressSpace memory;
    uint32_t scratch = 0;

    memory_region_init(&system, "system", MR_SIZE_2_64);
    address_space_init(&memory, &system, "memory");

    /* The device: 4 KiB of RAM followed by 4 KiB of registers. */
    memory_region_init(&bar, "bar0", 0x2000);
    memory_region_init_ram(&vram, "bar0.vram", 0x1000);
    memory_region_init_io(&regs, &regs_ops, &scratch, "bar0.regs", 0x1000);
    memory_region_add_subregion(&bar, 0x0000, &vram);
    memory_region_add_subregion(&bar, 0x1000, &regs);

    memory_region_add_subregion(&system, 0xe0000000, &bar);
    probe(&memory, 0xe0000000, "mapped");
    memory_region_set_address(&bar, 0xf0000000); /* firmware moves the BAR */
    probe(&memory, 0xf0000000, "moved");
    probe(&memory, 0xe0000000, "old address");
    memory_region_set_enabled(&bar, false); /* guest clears the memory-enable bit */
    probe(&memory, 0xf0000000, "disabled");
    memory_region_set_enabled(&bar, true);
    probe(&memory, 0xf0000000, "re-enabled");

    memory_region_del_subregion(&system, &bar);
    address_space_destroy(&memory);
    memory_region_del_subregion(&bar, &vram);
    memory_region_del_subregion(&bar, &regs);
    memory_region_destroy(&vram);
    memory_region_destroy(&regs);
    memory_region_destroy(&bar);
    memory_region_destroy(&system);
    return 0;
}
