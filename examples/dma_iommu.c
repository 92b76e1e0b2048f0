/*
 * A DMA device behind an IOMMU.
 *
 * The machine: 1 MiB of RAM at 0, a tiny IOMMU with a register to map IOVA
 * pages, and a copy engine whose DMA goes through the IOMMU. The "driver"
 * (main) programs both by MMIO, as guest code would:
 *   1. it maps IOVA pages onto RAM through the IOMMU's registers;
 *   2. it tells the copy engine to copy from one IOVA to another;
 *   3. the engine maps the source with address_space_map() (a direct
 *      pointer into RAM), writes the destination with address_space_write()
 *      and reports completion in a status word in RAM, through a
 *      MemoryRegionCache, as a virtio device updates its used ring;
 *   4. the driver unmaps a page (the IOMMU announces it with an UNMAP
 *      event, which clears its translation cache) and the next copy into
 *      it faults: the engine sees MEMTX_ACCESS_ERROR/DECODE_ERROR, never a
 *      crash, and reports an error status.
 * Exit status 0 when every step behaved as described.
 */
#include <memregion/memregion.h>
#include <stdio.h>
#include <string.h>

#define PAGE     0x1000
#define NR_PAGES 64

/* ---- the IOMMU: one flat table of 4 KiB pages ----------------------------------- */

typedef struct ToyIommu {
    MemoryRegion iova_space; /* the IOMMU region */
    MemoryRegion regs;       /* its registers */
    AddressSpace *target;    /* system memory */
    hwaddr table[NR_PAGES];  /* physical page + 1, or 0 when unmapped */
    hwaddr sel;              /* register 0: the IOVA page to change */
} ToyIommu;

static IOMMUTLBEntry iommu_translate(MemoryRegion *mr, void *opaque, hwaddr iova,
                                     IOMMUAccessFlags flag, int idx)
{
    (void)mr;
    (void)flag;
    (void)idx;
    ToyIommu *u = opaque;
    IOMMUTLBEntry e = {.iova = iova & ~(hwaddr)(PAGE - 1), .addr_mask = PAGE - 1};
    hwaddr page = iova / PAGE;
    if (page < NR_PAGES && u->table[page]) {
        e.target_as = u->target;
        e.translated_addr = u->table[page] - 1;
        e.perm = IOMMU_RW;
    }
    return e;
}

static const IOMMUMemoryRegionOps iommu_ops = {.translate = iommu_translate};

/* Registers: 0 selects an IOVA page; a write to 8 maps it to a physical
 * address, or unmaps it when the value is all-ones. */
static void iommu_reg_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)size;
    ToyIommu *u = opaque;
    if (addr == 0) {
        u->sel = val % NR_PAGES;
        return;
    }
    IOMMUTLBEvent ev = {.entry = {.iova = u->sel * PAGE, .addr_mask = PAGE - 1}};
    if (val == UINT64_MAX) {
        u->table[u->sel] = 0;
        ev.type = IOMMU_NOTIFIER_UNMAP;
    } else {
        u->table[u->sel] = (val & ~(uint64_t)(PAGE - 1)) + 1;
        ev.type = IOMMU_NOTIFIER_MAP;
        ev.entry.target_as = u->target;
        ev.entry.translated_addr = val & ~(uint64_t)(PAGE - 1);
        ev.entry.perm = IOMMU_RW;
    }
    memory_region_notify_iommu(&u->iova_space, 0, ev);
}

static uint64_t iommu_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)size;
    return addr == 0 ? ((ToyIommu *)opaque)->sel : 0;
}

static const MemoryRegionOps iommu_reg_ops = {
    .read = iommu_reg_read,
    .write = iommu_reg_write,
    .valid = {.min_access_size = 8, .max_access_size = 8},
    .impl = {.min_access_size = 8, .max_access_size = 8},
};

/* ---- the copy engine ------------------------------------------------------------- */

typedef struct CopyEngine {
    MemoryRegion regs;
    AddressSpace *dma; /* its bus-master view: through the IOMMU */
    uint64_t src, dst, len, status_iova;
    MemoryRegionCache status; /* the status word, cached */
    bool status_ready;
} CopyEngine;

enum { REG_SRC = 0, REG_DST = 8, REG_LEN = 16, REG_STATUS = 24, REG_GO = 32 };
enum { ST_DONE = 1, ST_FAULT = 2 };

static void engine_run(CopyEngine *e)
{
    uint32_t status = ST_DONE;
    hwaddr done = 0;
    while (done < e->len) {
        hwaddr l = e->len - done;
        const uint8_t *p =
            address_space_map(e->dma, e->src + done, &l, false, MEMTXATTRS_UNSPECIFIED);
        if (!p) {
            status = ST_FAULT;
            break;
        }
        MemTxResult r = address_space_write(e->dma, e->dst + done, MEMTXATTRS_UNSPECIFIED, p, l);
        address_space_unmap(e->dma, (void *)p, l, false, 0);
        if (r != MEMTX_OK) {
            status = ST_FAULT;
            break;
        }
        done += l;
    }
    if (!e->status_ready) {
        address_space_cache_init(&e->status, e->dma, e->status_iova, 4, true);
        e->status_ready = true;
    }
    address_space_stl_le_cached(&e->status, 0, status, MEMTXATTRS_UNSPECIFIED, NULL);
}

static void engine_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)size;
    CopyEngine *e = opaque;
    switch (addr) {
    case REG_SRC:
        e->src = val;
        break;
    case REG_DST:
        e->dst = val;
        break;
    case REG_LEN:
        e->len = val;
        break;
    case REG_STATUS:
        e->status_iova = val;
        if (e->status_ready)
            address_space_cache_destroy(&e->status);
        e->status_ready = false;
        break;
    case REG_GO:
        engine_run(e);
        break;
    }
}

static uint64_t engine_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    (void)addr;
    (void)size;
    return 0;
}

static const MemoryRegionOps engine_ops = {
    .read = engine_read,
    .write = engine_write,
    .valid = {.min_access_size = 8, .max_access_size = 8},
    .impl = {.min_access_size = 8, .max_access_size = 8},
};

/* ---- the driver ------------------------------------------------------------------- */

static AddressSpace memory;

static void reg(hwaddr addr, uint64_t val)
{
    address_space_stq_le(&memory, addr, val, MEMTXATTRS_UNSPECIFIED, NULL);
}

#define IOMMU_REGS  0x100000
#define ENGINE_REGS 0x101000

static void iommu_map(hwaddr iova, hwaddr phys)
{
    reg(IOMMU_REGS + 0, iova / PAGE);
    reg(IOMMU_REGS + 8, phys);
}

static uint32_t copy(hwaddr src, hwaddr dst, hwaddr len, hwaddr status)
{
    reg(ENGINE_REGS + REG_SRC, src);
    reg(ENGINE_REGS + REG_DST, dst);
    reg(ENGINE_REGS + REG_LEN, len);
    reg(ENGINE_REGS + REG_STATUS, status);
    reg(ENGINE_REGS + REG_GO, 1);
    return address_space_ldl_le(&memory, 0x3000, MEMTXATTRS_UNSPECIFIED, NULL);
}

int main(void)
{
    static MemoryRegion system, ram, dma_root;
    static ToyIommu iommu;
    static CopyEngine engine;
    static AddressSpace dma;
    int fails = 0;

    memory_region_init(&system, "system", MR_SIZE_2_64);
    memory_region_init_ram(&ram, "ram", 0x100000);
    memory_region_add_subregion(&system, 0, &ram);
    memory_region_init_io(&iommu.regs, &iommu_reg_ops, &iommu, "iommu-regs", 0x10);
    memory_region_add_subregion(&system, IOMMU_REGS, &iommu.regs);
    memory_region_init_io(&engine.regs, &engine_ops, &engine, "copy-engine", 0x28);
    memory_region_add_subregion(&system, ENGINE_REGS, &engine.regs);
    address_space_init(&memory, &system, "memory");

    /* The engine's bus-master address space: everything goes through the IOMMU. */
    iommu.target = &memory;
    memory_region_init(&dma_root, "copy-engine-dma", MR_SIZE_2_64);
    memory_region_init_iommu(&iommu.iova_space, &iommu_ops, &iommu, "toy-iommu", NR_PAGES * PAGE);
    memory_region_add_subregion(&dma_root, 0, &iommu.iova_space);
    address_space_init(&dma, &dma_root, "copy-engine-dma");
    engine.dma = &dma;

    /* IOVA 0x0000 -> 0x10000 (source), 0x1000..0x2fff -> 0x20000.. (destination, two
     * physical pages out of order), 0x5000 -> 0x3000 (status word). */
    char *host = memory_region_get_ram_ptr(&ram);
    const char msg[] = "moved by DMA through an IOMMU";
    strcpy(host + 0x10f00, msg);
    iommu_map(0x0000, 0x10000);
    iommu_map(0x1000, 0x21000);
    iommu_map(0x2000, 0x20000);
    iommu_map(0x5000, 0x3000);

    uint32_t st = copy(0x0f00, 0x1ff0, 0x10, 0x5000);
    printf("copy 1: status %u, destination reads \"%.16s\"\n", st, host + 0x21ff0);
    fails += st != ST_DONE || memcmp(host + 0x21ff0, msg, 0x10) != 0;

    /* Across an IOVA page boundary whose physical pages are not adjacent. */
    st = copy(0x0f00, 0x1ff8, sizeof(msg), 0x5000);
    printf("copy 2: status %u, \"%.8s\" + \"%s\"\n", st, host + 0x21ff8, host + 0x20000);
    fails += st != ST_DONE || memcmp(host + 0x21ff8, msg, 8) || strcmp(host + 0x20000, msg + 8);

    /* The driver unmaps the destination page: the next copy faults cleanly. */
    reg(IOMMU_REGS + 0, 1);
    reg(IOMMU_REGS + 8, UINT64_MAX);
    memset(host + 0x21000, 0, PAGE);
    st = copy(0x0000, 0x1000, 0x10, 0x5000);
    printf("copy 3 (destination unmapped): status %u, destination untouched: %s\n", st,
           host[0x21000] == 0 ? "yes" : "no");
    fails += st != ST_FAULT || host[0x21000] != 0;

    printf("translate calls: %llu (the IOMMU's cache served the rest)\n",
           (unsigned long long)memory_region_iommu_stat_translations(&iommu.iova_space));
    address_space_cache_destroy(&engine.status);
    address_space_destroy(&dma);
    address_space_destroy(&memory);
    printf("%s\n", fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}
