/*
 * A mini VMM: a real guest on /dev/kvm whose memory map changes while it
 * runs, described entirely with memregion and kept in sync with KVM by the
 * libmemregion-kvm backend.
 *
 * The machine (addresses in hw.h):
 *   - 2 MiB of RAM, a 64 KiB VGA framebuffer under VGA dirty logging;
 *   - a BIOS ROM below 4 GiB, shown at 0xF0000 through a PAM-style window
 *     that the chipset switches between the ROM, RAM and write-protected RAM
 *     (three aliases, one enabled);
 *   - a chipset register block (PAM mode, display refresh, BAR 0);
 *   - a PCI-like device whose 4 KiB MMIO window the guest moves by writing
 *     BAR 0, with an ioeventfd doorbell and a coalesced FIFO window;
 *   - a UART on port 0x3F8 that prints the guest's lines.
 *
 * Output lines start with "[guest]" (the UART), "[display]" (rows redrawn
 * because they were dirty), "[vmm]" and "[report]". Exit status: 0 when
 * the guest ran to its end, 77 when KVM is not available (nothing ran),
 * 1 on failure.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <memregion/kvm.h>
#include <memregion/memregion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hw.h"
#include "x86_flat.h"

extern const unsigned char vmm_guest[];
extern const unsigned long vmm_guest_size;

typedef struct Machine {
    MemoryRegion system, ram, vram, bios;
    MemoryRegion pam_rom, pam_ram, pam_ram_ro; /* the 0xF0000 window: one enabled */
    MemoryRegion chipset, dev;
    MemoryRegion io, uart;
    AddressSpace mem_as, io_as;
    MemregionKvm *kvm;
    MemregionKvmVcpu *vcpu;

    char line[256]; /* UART line being received */
    size_t line_len;
    uint32_t pam;
    uint32_t bar0;
    uint32_t scratch;
    uint32_t other_writes;
    uint32_t fifo_count, fifo_sum;
    int doorbell_fd;
    unsigned refreshes, rows_redrawn;
} Machine;

/* ---- UART ------------------------------------------------------------------------ */

static void uart_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Machine *m = opaque;
    (void)size;
    if (addr != 0)
        return;
    char c = (char)val;
    if (c == '\n' || m->line_len == sizeof(m->line) - 1) {
        m->line[m->line_len] = '\0';
        printf("[guest] %s\n", m->line);
        fflush(stdout);
        m->line_len = 0;
        if (c == '\n')
            return;
    }
    m->line[m->line_len++] = c;
}

static uint64_t uart_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)size;
    return addr == 5 ? 0x60 : 0; /* LSR: transmitter empty */
}

static const MemoryRegionOps uart_ops = {
    .read = uart_read,
    .write = uart_write,
    .valid = {.min_access_size = 1, .max_access_size = 1},
};

/* ---- chipset ------------------------------------------------------------------------- */

static void set_pam(Machine *m, uint32_t mode)
{
    if (mode != PAM_ROM && mode != PAM_RAM_RO && mode != PAM_RAM_RW) {
        printf("[vmm] PAM mode %u is not supported, ignored\n", mode);
        return;
    }
    memory_region_transaction_begin();
    memory_region_set_enabled(&m->pam_rom, mode == PAM_ROM);
    memory_region_set_enabled(&m->pam_ram, mode == PAM_RAM_RW);
    memory_region_set_enabled(&m->pam_ram_ro, mode == PAM_RAM_RO);
    memory_region_transaction_commit();
    m->pam = mode;
}

/* Redraw the rows of the framebuffer that the guest dirtied since the last refresh. */
static void refresh_display(Machine *m)
{
    DirtyBitmapSnapshot *snap = memory_region_snapshot_and_clear_dirty(
        &m->vram, 0, VGA_ROWS * VGA_STRIDE, DIRTY_MEMORY_VGA);
    if (!snap) {
        printf("[vmm] display: no dirty snapshot: %s\n", memregion_last_error());
        return;
    }
    const char *fb = memory_region_get_ram_ptr(&m->vram);
    m->refreshes++;
    for (unsigned row = 0; row < VGA_ROWS; row++) {
        if (!memory_region_snapshot_get_dirty(&m->vram, snap, row * VGA_STRIDE, VGA_STRIDE))
            continue;
        printf("[display] row %2u: %.*s\n", row, VGA_COLS, fb + row * VGA_STRIDE);
        m->rows_redrawn++;
    }
    fflush(stdout);
    memory_region_snapshot_free(snap);
}

static void chipset_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Machine *m = opaque;
    (void)size;
    switch (addr) {
    case CHIPSET_PAM:
        set_pam(m, (uint32_t)val);
        break;
    case CHIPSET_DISPLAY:
        refresh_display(m);
        break;
    case CHIPSET_BAR0:
        /* A BAR is aligned to its size; the window follows at once. */
        m->bar0 = (uint32_t)val & ~(uint32_t)(DEV_BAR_SIZE - 1);
        memory_region_set_address(&m->dev, m->bar0);
        break;
    }
}

static uint64_t chipset_read(void *opaque, hwaddr addr, unsigned size)
{
    Machine *m = opaque;
    (void)size;
    switch (addr) {
    case CHIPSET_PAM:
        return m->pam;
    case CHIPSET_BAR0:
        return m->bar0;
    }
    return 0;
}

static const MemoryRegionOps chipset_ops = {
    .read = chipset_read,
    .write = chipset_write,
    .valid = {.min_access_size = 4, .max_access_size = 4},
};

/* ---- the PCI-like device --------------------------------------------------------------- */

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    Machine *m = opaque;
    (void)size;
    if (addr >= DEV_FIFO && addr < DEV_FIFO + DEV_FIFO_SIZE) {
        m->fifo_count++;
        m->fifo_sum += (uint32_t)val;
        return;
    }
    switch (addr) {
    case DEV_SCRATCH:
        m->scratch = (uint32_t)val;
        break;
    case DEV_DOORBELL:
        /* Only writes the ioeventfd did not take arrive here. */
        m->other_writes++;
        break;
    }
}

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    Machine *m = opaque;
    (void)size;
    switch (addr) {
    case DEV_ID:
        return DEV_ID_VALUE;
    case DEV_SCRATCH:
        return m->scratch;
    case DEV_RINGS: {
        uint64_t n = 0;
        if (read(m->doorbell_fd, &n, sizeof(n)) != sizeof(n))
            n = 0; /* EAGAIN: no ring since the last read */
        return n;
    }
    case DEV_OTHER_WRITES:
        return m->other_writes;
    case DEV_FIFO_COUNT:
        return m->fifo_count;
    case DEV_FIFO_SUM:
        return m->fifo_sum;
    }
    return 0;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .valid = {.min_access_size = 4, .max_access_size = 4},
};

/* ---- building the machine ------------------------------------------------------------------ */

static int check(int r, const char *what)
{
    if (r < 0)
        fprintf(stderr, "vmm: %s: %s\n", what, memregion_last_error());
    return r;
}

static int build_machine(Machine *m)
{
    int r = 0;
    r |= check(memory_region_init(&m->system, "system", MR_SIZE_2_64), "system");
    r |= check(memory_region_init_ram(&m->ram, "ram", RAM_SIZE), "ram");
    r |= check(memory_region_init_ram(&m->vram, "vga.vram", VGA_ROWS * VGA_STRIDE), "vram");
    r |= check(memory_region_init_rom(&m->bios, "bios", BIOS_SIZE), "bios");
    r |= check(memory_region_init_alias(&m->pam_rom, "pam-rom", &m->bios, 0, BIOS_SIZE), "pam");
    r |= check(memory_region_init_alias(&m->pam_ram, "pam-ram", &m->ram, BIOS_LOW_BASE, BIOS_SIZE),
               "pam");
    r |= check(
        memory_region_init_alias(&m->pam_ram_ro, "pam-ram-ro", &m->ram, BIOS_LOW_BASE, BIOS_SIZE),
        "pam");
    r |= check(memory_region_init_io(&m->chipset, &chipset_ops, m, "chipset", CHIPSET_SIZE),
               "chipset");
    r |= check(memory_region_init_io(&m->dev, &dev_ops, m, "dev.bar0", DEV_BAR_SIZE), "dev");
    r |= check(memory_region_init(&m->io, "io", 0x10000), "io");
    r |= check(memory_region_init_io(&m->uart, &uart_ops, m, "uart", 8), "uart");
    if (r < 0)
        return -1;
    if (vmm_guest_size > BIOS_SIZE) {
        fprintf(stderr, "vmm: guest image of %lu bytes does not fit the ROM\n", vmm_guest_size);
        return -1;
    }
    memcpy(memory_region_get_ram_ptr(&m->bios), vmm_guest, vmm_guest_size);

    memory_region_transaction_begin();
    memory_region_set_readonly(&m->pam_ram_ro, true);
    memory_region_add_subregion(&m->system, 0, &m->ram);
    memory_region_add_subregion_overlap(&m->system, VGA_BASE, &m->vram, 1);
    memory_region_add_subregion_overlap(&m->system, BIOS_LOW_BASE, &m->pam_rom, 1);
    memory_region_add_subregion_overlap(&m->system, BIOS_LOW_BASE, &m->pam_ram, 1);
    memory_region_add_subregion_overlap(&m->system, BIOS_LOW_BASE, &m->pam_ram_ro, 1);
    memory_region_set_enabled(&m->pam_ram, false);
    memory_region_set_enabled(&m->pam_ram_ro, false);
    memory_region_add_subregion(&m->system, BIOS_HIGH_BASE, &m->bios);
    memory_region_add_subregion(&m->system, CHIPSET_BASE, &m->chipset);
    memory_region_add_subregion(&m->system, DEV_BAR_INITIAL, &m->dev);
    memory_region_add_subregion(&m->io, UART_PORT, &m->uart);
    memory_region_transaction_commit();
    m->pam = PAM_ROM;
    m->bar0 = DEV_BAR_INITIAL;

    r |= check(memory_region_set_log(&m->vram, true, DIRTY_MEMORY_VGA), "vga logging");
    r |= check(memory_region_add_coalescing(&m->dev, DEV_FIFO, DEV_FIFO_SIZE), "coalescing");
    m->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->doorbell_fd < 0) {
        perror("vmm: eventfd");
        return -1;
    }
    r |= check(
        memory_region_add_eventfd(&m->dev, DEV_DOORBELL, 4, true, DOORBELL_KICK, m->doorbell_fd),
        "doorbell");
    r |= check(address_space_init(&m->mem_as, &m->system, "memory"), "memory space");
    r |= check(address_space_init(&m->io_as, &m->io, "io"), "io space");
    if (r < 0)
        return -1;
    /* Unassigned memory and ports read as all-ones, as on a PC bus. */
    address_space_set_unassigned_value(&m->mem_as, 0xff);
    address_space_set_unassigned_value(&m->io_as, 0xff);
    return 0;
}

static void print_report(const Machine *m)
{
    MemregionKvmStats s;
    memregion_kvm_get_stats(m->kvm, &s);
    printf("[report] slots: %llu created, %llu deleted, %llu reused, %llu active "
           "(%llu KVM_SET_USER_MEMORY_REGION calls)\n",
           (unsigned long long)s.slots_created, (unsigned long long)s.slots_deleted,
           (unsigned long long)s.slots_reused, (unsigned long long)s.slots_active,
           (unsigned long long)s.set_memory_region);
    printf("[report] exits: %llu mmio-read, %llu mmio-write, %llu pio-in, %llu pio-out, "
           "%llu hlt, %llu other\n",
           (unsigned long long)s.exit_mmio_read, (unsigned long long)s.exit_mmio_write,
           (unsigned long long)s.exit_pio_in, (unsigned long long)s.exit_pio_out,
           (unsigned long long)s.exit_hlt,
           (unsigned long long)(s.exit_intr + s.exit_shutdown + s.exit_other));
    printf("[report] dirty pages synced: %llu (%llu KVM_GET_DIRTY_LOG calls), rows redrawn: %u "
           "in %u refreshes\n",
           (unsigned long long)s.dirty_pages, (unsigned long long)s.dirty_log_ioctls,
           m->rows_redrawn, m->refreshes);
    printf("[report] coalesced entries drained: %llu\n", (unsigned long long)s.coalesced_drained);
    printf("[report] ioeventfds assigned: %llu, coalesced zones registered: %llu, errors: %llu\n",
           (unsigned long long)s.ioeventfds_added, (unsigned long long)s.coalesced_zones_added,
           (unsigned long long)s.errors);
}

int main(void)
{
    static Machine m;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int r = memregion_kvm_open(&m.kvm, NULL);
    if (r == -ENODEV || r == -EACCES || r == -EPERM) {
        printf("vmm: skipped: KVM is not available: %s\n", memregion_kvm_last_error(NULL));
        return 77;
    }
    if (r < 0) {
        fprintf(stderr, "vmm: %s\n", memregion_kvm_last_error(NULL));
        return 1;
    }
    if (build_machine(&m) < 0)
        return 1;
    unsigned char rom_before[BIOS_SIZE];
    memcpy(rom_before, memory_region_get_ram_ptr(&m.bios), BIOS_SIZE);

    if ((r = x86_vm_init(memregion_kvm_vm_fd(m.kvm))) < 0) {
        fprintf(stderr, "vmm: KVM_SET_TSS_ADDR: %s\n", strerror(-r));
        return 1;
    }
    if (memregion_kvm_attach_memory(m.kvm, &m.mem_as) < 0 ||
        memregion_kvm_attach_io(m.kvm, &m.io_as) < 0 ||
        memregion_kvm_vcpu_create(m.kvm, 0, &m.mem_as, &m.io_as, &m.vcpu) < 0) {
        fprintf(stderr, "vmm: %s\n", memregion_kvm_last_error(NULL));
        return 1;
    }
    if (memregion_kvm_error_count(m.kvm)) {
        fprintf(stderr, "vmm: KVM refused the map: %s\n", memregion_kvm_last_error(m.kvm));
        return 1;
    }
    int fd = memregion_kvm_vcpu_fd(m.vcpu);
    if ((r = x86_vcpu_init_flat32(fd, BIOS_HIGH_BASE, STACK_TOP)) < 0) {
        fprintf(stderr, "vmm: vCPU setup: %s\n", strerror(-r));
        return 1;
    }
    printf("[vmm] guest image: %lu bytes in a %u KiB ROM at 0x%08x\n", vmm_guest_size,
           BIOS_SIZE / 1024, BIOS_HIGH_BASE);

    int status = 0;
    for (;;) {
        r = memregion_kvm_vcpu_run(m.vcpu);
        if (r == KVM_EXIT_HLT)
            break;
        if (r == KVM_EXIT_INTR)
            continue;
        if (r < 0)
            fprintf(stderr, "vmm: %s\n", memregion_kvm_last_error(m.kvm));
        else
            x86_describe_exit(fd, memregion_kvm_vcpu_run_area(m.vcpu), stderr);
        status = 1;
        break;
    }
    bool rom_same = memcmp(rom_before, memory_region_get_ram_ptr(&m.bios), BIOS_SIZE) == 0;
    printf("[vmm] ROM bytes after the run: %s\n", rom_same ? "unchanged" : "CHANGED");
    if (memregion_kvm_error_count(m.kvm)) {
        printf("[vmm] backend error: %s\n", memregion_kvm_last_error(m.kvm));
        status = 1;
    }
    print_report(&m);

    memregion_kvm_close(m.kvm);
    address_space_destroy(&m.io_as);
    address_space_destroy(&m.mem_as);
    close(m.doorbell_fd);
    return rom_same ? status : 1;
}
