/*
 * kvm-bench: what memregion costs a KVM-based VMM, as ratios measured in
 * one run on this machine's /dev/kvm.
 *
 * (a) Exit path. A guest loop makes N MMIO (or port) accesses to an address
 *     without a slot, so each one is a real KVM exit. The same VM and vCPU
 *     run it twice: under a bare loop that does nothing with the exit (the
 *     cost of the exit itself, a VMM's floor) and under
 *     memregion_kvm_vcpu_run(), which drains the coalesced ring and
 *     dispatches the access through the address space to a device
 *     callback. The ratio is memregion's overhead on the exit path.
 * (b) Map changes. A machine of 1000 regions (500 RAM regions, each a KVM
 *     slot, and 500 MMIO regions) moves one BAR back and forth: KVM ioctls
 *     per move (what the listener diff asks for) against a VMM that resyncs
 *     every slot on each change, and the time of a move against the bare
 *     ioctls a hand-written VMM would issue for it.
 *
 * Exit status 77 when KVM is not available. Options: --quick.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <memregion/kvm.h>
#include <memregion/memregion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "x86_flat.h"

#define CODE_ADDR 0x1000u
#define MMIO_ADDR 0xd0000000u
#define PORT      0x510u

static bool quick;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "kvm-bench: %s: %s\n", what, why);
    exit(1);
}

/* ---- (a) the exit path --------------------------------------------------------- */

static volatile uint64_t sink;

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)size;
    return addr;
}

static void dev_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    (void)opaque, (void)addr, (void)size;
    sink = val;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = dev_write,
    .valid = {.min_access_size = 1, .max_access_size = 4},
};

/* Guest loops: ECX accesses, then HLT. */
static const uint8_t loop_write[] = {0xa3, 0x00, 0x00, 0x00, 0xd0, /* mov %eax, MMIO_ADDR */
                                     0x49, 0x75, 0xf8, 0xf4};      /* dec; jnz; hlt */
static const uint8_t loop_read[] = {0xa1, 0x00, 0x00, 0x00, 0xd0,  /* mov MMIO_ADDR, %eax */
                                    0x49, 0x75, 0xf8, 0xf4};
static const uint8_t loop_out[] = {0x66, 0xba, 0x10, 0x05,        /* mov $PORT, %dx */
                                   0xee, 0x49, 0x75, 0xfc, 0xf4}; /* 1: out; dec; jnz 1b; hlt */

typedef struct ExitBench {
    MemoryRegion system, ram, dev, io, port;
    AddressSpace mem, io_as;
    MemregionKvm *kvm;
    MemregionKvmVcpu *vcpu;
    int fd;
    struct kvm_run *run;
} ExitBench;

static void start_loop(ExitBench *b, const uint8_t *code, size_t len, uint32_t n)
{
    memcpy((uint8_t *)memory_region_get_ram_ptr(&b->ram) + CODE_ADDR, code, len);
    struct kvm_regs regs;
    if (ioctl(b->fd, KVM_GET_REGS, &regs) < 0)
        die("KVM_GET_REGS", strerror(errno));
    regs.rip = CODE_ADDR;
    regs.rcx = n;
    regs.rflags = 2;
    if (ioctl(b->fd, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS", strerror(errno));
}

/* The floor: a VMM that takes the exit and does nothing with it. */
static uint64_t run_bare(ExitBench *b)
{
    uint64_t exits = 0;
    for (;;) {
        if (ioctl(b->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            die("KVM_RUN", strerror(errno));
        }
        if (b->run->exit_reason == KVM_EXIT_HLT)
            return exits;
        if (b->run->exit_reason != KVM_EXIT_MMIO && b->run->exit_reason != KVM_EXIT_IO)
            die("bare run", "unexpected exit");
        exits++;
    }
}

static void run_memregion(ExitBench *b)
{
    for (;;) {
        int r = memregion_kvm_vcpu_run(b->vcpu);
        if (r == KVM_EXIT_HLT)
            return;
        if (r != KVM_EXIT_INTR)
            die("memregion run", memregion_kvm_last_error(b->kvm));
    }
}

/* Median ns per exit of @n-exit loops, alternating bare and memregion runs. */
static void measure_exits(ExitBench *b, const char *what, const uint8_t *code, size_t len,
                          uint32_t n, int reps)
{
    double bare[16], lib[16];
    for (int i = -1; i < reps; i++) { /* i == -1: warm-up */
        start_loop(b, code, len, n);
        uint64_t t0 = now_ns();
        uint64_t exits = run_bare(b);
        uint64_t t1 = now_ns();
        if (exits != n)
            die(what, "the bare loop did not see one exit per access");
        MemregionKvmStats s0, s1;
        memregion_kvm_vcpu_get_stats(b->vcpu, &s0);
        start_loop(b, code, len, n);
        uint64_t t2 = now_ns();
        run_memregion(b);
        uint64_t t3 = now_ns();
        memregion_kvm_vcpu_get_stats(b->vcpu, &s1);
        uint64_t handled = (s1.exit_mmio_read + s1.exit_mmio_write + s1.exit_pio_out) -
                           (s0.exit_mmio_read + s0.exit_mmio_write + s0.exit_pio_out);
        if (handled != n)
            die(what, "memregion did not dispatch one exit per access");
        if (i >= 0) {
            bare[i] = (double)(t1 - t0) / n;
            lib[i] = (double)(t3 - t2) / n;
        }
    }
    double mb = median(bare, reps), ml = median(lib, reps);
    printf("  %-34s memregion / bare = %.3f  (library share of the exit: %4.1f%%)\n", what, ml / mb,
           100.0 * (ml - mb) / ml);
}

static void bench_exits(void)
{
    ExitBench b;
    memset(&b, 0, sizeof(b));
    if (memory_region_init(&b.system, "system", (mr_size_t)1 << 32) < 0 ||
        memory_region_init_ram(&b.ram, "ram", 0x10000) < 0 ||
        memory_region_init_io(&b.dev, &dev_ops, NULL, "dev", 0x1000) < 0 ||
        memory_region_init(&b.io, "io", 0x10000) < 0 ||
        memory_region_init_io(&b.port, &dev_ops, NULL, "port", 4) < 0)
        die("regions", memregion_last_error());
    memory_region_add_subregion(&b.system, 0, &b.ram);
    memory_region_add_subregion(&b.system, MMIO_ADDR, &b.dev);
    memory_region_add_subregion(&b.io, PORT, &b.port);
    address_space_init(&b.mem, &b.system, "memory");
    address_space_init(&b.io_as, &b.io, "io");
    if (memregion_kvm_open(&b.kvm, NULL) < 0)
        die("open", memregion_kvm_last_error(NULL));
    if (x86_vm_init(memregion_kvm_vm_fd(b.kvm)) < 0 ||
        memregion_kvm_attach_memory(b.kvm, &b.mem) < 0 ||
        memregion_kvm_attach_io(b.kvm, &b.io_as) < 0 ||
        memregion_kvm_vcpu_create(b.kvm, 0, &b.mem, &b.io_as, &b.vcpu) < 0)
        die("setup", memregion_kvm_last_error(NULL));
    b.fd = memregion_kvm_vcpu_fd(b.vcpu);
    b.run = memregion_kvm_vcpu_run_area(b.vcpu);
    if (x86_vcpu_init_flat32(b.fd, CODE_ADDR, 0x8000) < 0)
        die("vCPU setup", "KVM_SET_SREGS failed");

    uint32_t n = quick ? 2000 : 20000;
    int reps = quick ? 3 : 7;
    printf("(a) one exit, dispatched through memregion vs a VMM that does nothing "
           "(%u exits per run, median of %d runs)\n",
           n, reps);
    measure_exits(&b, "MMIO write exit:", loop_write, sizeof(loop_write), n, reps);
    measure_exits(&b, "MMIO read exit:", loop_read, sizeof(loop_read), n, reps);
    measure_exits(&b, "port write exit:", loop_out, sizeof(loop_out), n, reps);

    memregion_kvm_close(b.kvm);
    address_space_destroy(&b.io_as);
    address_space_destroy(&b.mem);
}

/* ---- (b) map changes with 1000 regions ------------------------------------------------ */

#define NR_RAM  500
#define NR_MMIO 499 /* plus the BAR: 500 */

static void bench_map_changes(void)
{
    static MemoryRegion ram[NR_RAM], mmio[NR_MMIO];
    MemoryRegion system, bar_mmio, bar_ram;
    AddressSpace as;
    memory_region_init(&system, "system", (mr_size_t)1 << 40);
    memory_region_transaction_begin();
    for (int i = 0; i < NR_RAM; i++) {
        memory_region_init_ram(&ram[i], "ram", 0x10000);
        memory_region_add_subregion(&system, 0x10000000ull + (uint64_t)i * 0x100000, &ram[i]);
    }
    for (int i = 0; i < NR_MMIO; i++) {
        memory_region_init_io(&mmio[i], &dev_ops, NULL, "mmio", 0x1000);
        memory_region_add_subregion(&system, 0x80000000ull + (uint64_t)i * 0x10000, &mmio[i]);
    }
    /* The BAR is either MMIO (registers) or RAM (a framebuffer); 1000 regions either way. */
    memory_region_init_io(&bar_mmio, &dev_ops, NULL, "bar0", 0x1000);
    memory_region_init_ram(&bar_ram, "bar0-vram", 0x10000);
    memory_region_add_subregion(&system, 0xc0000000ull, &bar_mmio);
    memory_region_transaction_commit();
    address_space_init(&as, &system, "memory");

    unsigned moves = quick ? 200 : 2000;
    int reps = quick ? 3 : 5;
    MemregionKvm *kvm;
    if (memregion_kvm_open(&kvm, NULL) < 0)
        die("open", memregion_kvm_last_error(NULL));
    if (memregion_kvm_attach_memory(kvm, &as) < 0)
        die("attach", memregion_kvm_last_error(NULL));
    MemregionKvmStats s;
    memregion_kvm_get_stats(kvm, &s);
    uint64_t slots = s.slots_active;
    uint64_t naive = 2 * (slots + 1); /* delete and re-create every slot (with the RAM BAR) */

    int vm = memregion_kvm_vm_fd(kvm);
    void *scratch = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    double t_bare[16], t_alone[16], t_mmio[16], t_ram[16];
    uint64_t mmio_ioctls = 0, ram_ioctls = 0;
    /* Each run measures all four the same way, one after the other; run -1 warms up. */
    for (int r = -1; r < reps; r++) {
        /* The floor: the two ioctls a hand-written VMM issues to move one RAM slot. */
        struct kvm_userspace_memory_region reg = {
            .slot = 30000, .memory_size = 0x10000, .userspace_addr = (uintptr_t)scratch};
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < moves; i++) {
            reg.guest_phys_addr = (i & 1) ? 0xd0000000ull : 0xd1000000ull;
            reg.memory_size = 0x10000;
            if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
                die("bare ioctl", strerror(errno));
            reg.memory_size = 0;
            if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
                die("bare ioctl", strerror(errno));
        }
        double bare = (double)(now_ns() - t0) / moves;

        /* memregion alone: the same MMIO BAR moves with the backend detached. */
        memregion_kvm_detach(kvm);
        t0 = now_ns();
        for (unsigned i = 0; i < moves; i++)
            memory_region_set_address(&bar_mmio, (i & 1) ? 0xc0000000ull : 0xc0100000ull);
        double alone = (double)(now_ns() - t0) / moves;
        if (memregion_kvm_attach_memory(kvm, &as) < 0)
            die("attach", memregion_kvm_last_error(NULL));

        memregion_kvm_get_stats(kvm, &s);
        uint64_t before = s.set_memory_region;
        t0 = now_ns();
        for (unsigned i = 0; i < moves; i++)
            memory_region_set_address(&bar_mmio, (i & 1) ? 0xc0000000ull : 0xc0100000ull);
        double mmio = (double)(now_ns() - t0) / moves;
        memregion_kvm_get_stats(kvm, &s);
        if (r >= 0)
            mmio_ioctls += s.set_memory_region - before;

        memory_region_del_subregion(&system, &bar_mmio);
        memory_region_add_subregion(&system, 0xd0000000ull, &bar_ram);
        memregion_kvm_get_stats(kvm, &s);
        before = s.set_memory_region;
        t0 = now_ns();
        for (unsigned i = 0; i < moves; i++)
            memory_region_set_address(&bar_ram, (i & 1) ? 0xd0000000ull : 0xd1000000ull);
        double ram_t = (double)(now_ns() - t0) / moves;
        memregion_kvm_get_stats(kvm, &s);
        if (r >= 0)
            ram_ioctls += s.set_memory_region - before;
        memory_region_del_subregion(&system, &bar_ram);
        memory_region_add_subregion(&system, 0xc0000000ull, &bar_mmio);
        if (r >= 0) {
            t_bare[r] = bare;
            t_alone[r] = alone;
            t_mmio[r] = mmio;
            t_ram[r] = ram_t;
        }
    }
    if (memregion_kvm_error_count(kvm))
        die("map changes", memregion_kvm_last_error(kvm));
    double total = (double)moves * reps;
    double mb = median(t_bare, reps), mm = median(t_mmio, reps), mr = median(t_ram, reps);
    double ma = median(t_alone, reps);
    printf("(b) moving a BAR in a machine of %d regions (%llu KVM slots), %u moves per run\n",
           NR_RAM + NR_MMIO + 1, (unsigned long long)slots, moves);
    printf("  MMIO BAR: %.2f KVM ioctls per move (a full resync: %llu); "
           "time = %.2f x a bare 2-ioctl slot move\n",
           mmio_ioctls / total, (unsigned long long)naive, mm / mb);
    printf("            with the backend / without it = %.2f (the KVM listener's share of a "
           "move)\n",
           mm / ma);
    printf("  RAM BAR:  %.2f KVM ioctls per move (minimum 2, a full resync: %llu); "
           "time = %.2f x the bare 2 ioctls\n",
           ram_ioctls / total, (unsigned long long)naive, mr / mb);

    memregion_kvm_close(kvm);
    address_space_destroy(&as);
    munmap(scratch, 0x10000);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    MemregionKvm *probe;
    int r = memregion_kvm_open(&probe, NULL);
    if (r < 0) {
        printf("kvm-bench: skipped: %s\n", memregion_kvm_last_error(NULL));
        return 77;
    }
    memregion_kvm_close(probe);
    printf("kvm-bench: memregion's KVM backend on this machine's /dev/kvm (ratios of one run)\n");
    bench_exits();
    bench_map_changes();
    return 0;
}
