/*
 * Fuzz target: a stream of public API operations on a small pool of regions.
 *
 * The input is read as operations: initialise a slot as any kind of region
 * (container, RAM, RAM on a caller buffer, ROM, ROM device, MMIO, MMIO
 * without ops, alias) with sizes 0, 1, odd, huge and 2^64; destroy; map
 * (with and without priority), unmap; every setter (enabled, address,
 * priority, alias offset, read-only, non-volatile, size, romd mode, dirty
 * log, coalescing); nested transactions; address spaces created and
 * destroyed; reads and writes of 1..16 bytes at any address. Every refused
 * call must return a negative errno with a message.
 *
 * Each address space has a mirror listener (tests/mirror) that checks the
 * callback protocol and rebuilds the view from the callbacks alone. After
 * every commit that is not inside a transaction, each address space's view
 * must equal the reference model's (tests/refmodel) and the mirror's.
 * At the end everything is torn down and must go.
 */
#include <string.h>

#include <memregion/memregion.h>

#include "fuzz.h"
#include "mirror.h"
#include "refmodel.h"
#include "../support/devices.h"

#define NSLOTS 10
#define NAS    3
#define RAMBUF 4096

typedef struct Slot {
    MemoryRegion mr;
    int kind; /* 0: free, else a K_* */
    uint8_t buf[RAMBUF];
} Slot;

enum { K_FREE, K_CONTAINER, K_RAM, K_RAM_PTR, K_ROM, K_ROMD, K_MMIO, K_MMIO_NULL, K_ALIAS, K_NR };

static Slot slots[NSLOTS];
static AddressSpace spaces[NAS];
static bool as_live[NAS];
static Mirror mirrors[NAS];
static int tx_depth;

static uint64_t dev_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    return addr * 0x0101010101010101ull + size;
}

static const MemoryRegionOps dev_ops = {
    .read = dev_read,
    .write = ts_write_ignore,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

static const MemoryRegionOps dev_ops_narrow = {
    .read = dev_read,
    .write = ts_write_ignore,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 2,
    .valid.max_access_size = 4,
    .impl.min_access_size = 4,
};

/* A refused call: a negative errno and a message. */
static void check_rc(int rc, const char *what)
{
    fuzz_check(rc <= 0, "%s returned %d", what, rc);
    if (rc)
        fuzz_check(memregion_last_error()[0], "%s refused (%d) without a message", what, rc);
}

static mr_size_t pick_size(FuzzIn *in)
{
    switch (fin_u8(in) % 10) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return 3 + 2 * (mr_size_t)fin_u8(in); /* odd */
    case 3:
        return 0x1000;
    case 4:
        return MR_SIZE_2_64;
    case 5:
        return MR_SIZE_2_64 - 1;
    case 6:
        return (mr_size_t)1 << 63;
    case 7:
        return (mr_size_t)fin_u64(in, 8) + 1; /* anything up to 2^64 */
    case 8:
        return MR_SIZE_2_64 + 1; /* over the limit: refused */
    default:
        return 1 + fin_u64(in, 2);
    }
}

static hwaddr pick_addr(FuzzIn *in)
{
    switch (fin_u8(in) % 6) {
    case 0:
        return 0;
    case 1:
        return fin_u64(in, 1);
    case 2:
        return fin_u64(in, 2) << 4;
    case 3:
        return UINT64_MAX - fin_u64(in, 2);
    case 4:
        return (hwaddr)1 << (fin_u8(in) % 64);
    default:
        return fin_u64(in, 8);
    }
}

static Slot *pick_slot(FuzzIn *in)
{
    return &slots[fin_u8(in) % NSLOTS];
}

static bool slot_nonvolatile(const MemoryRegion *mr, void *opaque)
{
    (void)opaque;
    return memory_region_is_nonvolatile(mr);
}

static void init_slot(FuzzIn *in, Slot *s)
{
    if (s->kind)
        return;
    int kind = 1 + fin_u8(in) % (K_NR - 1);
    mr_size_t size = pick_size(in);
    char name[16];
    snprintf(name, sizeof(name), "r%d", (int)(s - slots));
    if (kind == K_RAM || kind == K_ROM || kind == K_ROMD) {
        if (size > (1u << 20) && size != MR_SIZE_2_64 && size != MR_SIZE_2_64 + 1)
            size = 1 + (uint64_t)size % (1u << 20); /* keep host memory small */
    }
    if (kind == K_RAM_PTR && size > RAMBUF)
        size = size == MR_SIZE_2_64 + 1 ? size : 1 + (uint64_t)size % RAMBUF;
    int rc;
    switch (kind) {
    case K_CONTAINER:
        rc = memory_region_init(&s->mr, name, size);
        break;
    case K_RAM:
        rc = memory_region_init_ram(&s->mr, name, size);
        break;
    case K_RAM_PTR:
        rc = memory_region_init_ram_ptr(&s->mr, name, size, s->buf);
        break;
    case K_ROM:
        rc = memory_region_init_rom(&s->mr, name, size);
        break;
    case K_ROMD:
        rc = memory_region_init_rom_device(&s->mr, &dev_ops, NULL, name, size);
        break;
    case K_MMIO:
        rc = memory_region_init_io(&s->mr, fin_u8(in) & 1 ? &dev_ops : &dev_ops_narrow, NULL, name,
                                   size);
        break;
    case K_MMIO_NULL:
        rc = memory_region_init_io(&s->mr, NULL, NULL, name, size);
        break;
    default: {
        Slot *t = pick_slot(in);
        rc = memory_region_init_alias(&s->mr, name, t->kind ? &t->mr : NULL, pick_addr(in), size);
        break;
    }
    }
    check_rc(rc, "init");
    if (!rc)
        s->kind = kind;
}

static void check_views(void)
{
    for (int k = 0; k < NAS; k++) {
        if (!as_live[k])
            continue;
        Mirror *m = &mirrors[k];
        fuzz_check(m->errors == 0, "as%d: listener protocol: %s", k, m->first_error);
        char why[256];
        fuzz_check(mirror_compare_view(m, &spaces[k], why, sizeof(why)) == 0,
                   "as%d: mirror differs from the view: %s", k, why);
        mirror_clear_log(m);
        RefRange *mv;
        size_t mn = refmodel_flatten(address_space_root(&spaces[k]), &mv);
        fuzz_check(mn != (size_t)-1, "as%d: the model met a cycle", k);
        FlatView *fv = address_space_get_flatview(&spaces[k]);
        size_t n = flatview_nr_ranges(fv);
        fuzz_check(n == mn, "as%d: %zu ranges, the model has %zu", k, n, mn);
        for (size_t i = 0; i < n; i++) {
            const FlatRange *r = flatview_range(fv, i);
            RefHit got = {.hit = true,
                          .mr = r->mr,
                          .offset = r->offset_in_region,
                          .readonly = r->readonly,
                          .nonvolatile = r->nonvolatile,
                          .romd_mode = r->romd_mode,
                          .dirty_log_mask = r->dirty_log_mask};
            char a[160], b[160];
            fuzz_check(mv[i].addr == r->addr && mv[i].size == r->size &&
                           refhit_equal(&mv[i].hit, &got),
                       "as%d range %zu: library 0x%llx %s, model 0x%llx %s", k, i,
                       (unsigned long long)r->addr, refhit_describe(&got, a, sizeof(a)),
                       (unsigned long long)mv[i].addr, refhit_describe(&mv[i].hit, b, sizeof(b)));
        }
        flatview_unref(fv);
        free(mv);
    }
}

static void access(FuzzIn *in)
{
    int k = fin_u8(in) % NAS;
    if (!as_live[k])
        return;
    uint8_t op = fin_u8(in);
    hwaddr addr = pick_addr(in);
    unsigned len = 1 + (op >> 1) % 16;
    uint8_t buf[16];
    MemTxAttrs attrs = MEMTXATTRS_UNSPECIFIED;
    attrs.debug = (op >> 5) & 1;
    if (op & 1) {
        fin_bytes(in, buf, len);
        MemTxResult r = address_space_write(&spaces[k], addr, attrs, buf, len);
        fuzz_check((r & ~(MEMTX_ERROR | MEMTX_DECODE_ERROR | MEMTX_ACCESS_ERROR)) == 0,
                   "write result %u", r);
    } else {
        MemTxResult r = address_space_read(&spaces[k], addr, attrs, buf, len);
        fuzz_check((r & ~(MEMTX_ERROR | MEMTX_DECODE_ERROR | MEMTX_ACCESS_ERROR)) == 0,
                   "read result %u", r);
    }
}

static void one_op(FuzzIn *in)
{
    uint8_t op = fin_u8(in) % 20;
    Slot *s = pick_slot(in);
    MemoryRegion *mr = s->kind ? &s->mr : NULL;
    switch (op) {
    case 0:
    case 1:
        init_slot(in, s);
        break;
    case 2:
        if (mr) {
            int rc = memory_region_destroy(mr);
            check_rc(rc, "destroy");
            if (!rc)
                s->kind = K_FREE;
        }
        break;
    case 3:
    case 4: {
        Slot *c = pick_slot(in);
        hwaddr off = pick_addr(in);
        if (mr && c->kind) {
            int rc = op == 3
                         ? memory_region_add_subregion(mr, off, &c->mr)
                         : memory_region_add_subregion_overlap(mr, off, &c->mr, (int8_t)fin_u8(in));
            check_rc(rc, "add_subregion");
        }
        break;
    }
    case 5:
        if (mr && memory_region_container(mr))
            check_rc(memory_region_del_subregion(memory_region_container(mr), mr), "del");
        break;
    case 6:
        if (mr)
            check_rc(memory_region_set_enabled(mr, fin_u8(in) & 1), "set_enabled");
        break;
    case 7:
        if (mr)
            check_rc(memory_region_set_address(mr, pick_addr(in)), "set_address");
        break;
    case 8:
        if (mr)
            check_rc(memory_region_set_priority(mr, (int8_t)fin_u8(in)), "set_priority");
        break;
    case 9:
        if (mr)
            check_rc(memory_region_set_alias_offset(mr, pick_addr(in)), "set_alias_offset");
        break;
    case 10:
        if (mr)
            check_rc(memory_region_set_readonly(mr, fin_u8(in) & 1), "set_readonly");
        break;
    case 11:
        if (mr)
            check_rc(memory_region_set_nonvolatile(mr, fin_u8(in) & 1), "set_nonvolatile");
        break;
    case 12:
        if (mr) {
            mr_size_t size = pick_size(in);
            if (s->kind != K_CONTAINER && s->kind != K_MMIO && s->kind != K_MMIO_NULL &&
                s->kind != K_ALIAS && size > memory_region_size(mr))
                size = memory_region_size(mr); /* RAM cannot grow: tried below too */
            check_rc(memory_region_set_size(mr, size), "set_size");
        }
        break;
    case 13:
        if (mr)
            check_rc(memory_region_rom_device_set_romd(mr, fin_u8(in) & 1), "set_romd");
        break;
    case 14:
        if (tx_depth < 4) {
            memory_region_transaction_begin();
            tx_depth++;
        }
        break;
    case 15:
        if (tx_depth > 0) {
            memory_region_transaction_commit();
            tx_depth--;
        }
        break;
    case 16: {
        int k = fin_u8(in) % NAS;
        if (!as_live[k] && mr) {
            int rc = address_space_init(&spaces[k], mr, "as");
            check_rc(rc, "address_space_init");
            if (!rc) {
                as_live[k] = true;
                mirror_init(&mirrors[k], "mirror", 0);
                mirrors[k].print_errors = false;
                fuzz_check(mirror_register(&mirrors[k], &spaces[k]) == 0, "register");
            }
        } else if (as_live[k]) {
            mirror_unregister(&mirrors[k]);
            mirror_destroy(&mirrors[k]);
            address_space_destroy(&spaces[k]);
            as_live[k] = false;
        }
        break;
    }
    case 17:
        access(in);
        break;
    case 18:
        if (mr)
            check_rc(memory_region_set_log(mr, fin_u8(in) & 1, fin_u8(in) % 4), "set_log");
        break;
    default:
        if (mr) {
            if (fin_u8(in) & 1)
                memory_region_clear_coalescing(mr);
            else
                check_rc(memory_region_add_coalescing(mr, pick_addr(in), fin_u64(in, 2)),
                         "add_coalescing");
        }
        break;
    }
    if (tx_depth == 0)
        check_views();
}

/* Tear everything down: address spaces, the tree, then regions (aliases first). */
static void teardown(void)
{
    while (tx_depth > 0) {
        memory_region_transaction_commit();
        tx_depth--;
    }
    check_views();
    for (int k = 0; k < NAS; k++) {
        if (as_live[k]) {
            mirror_unregister(&mirrors[k]);
            mirror_destroy(&mirrors[k]);
            address_space_destroy(&spaces[k]);
            as_live[k] = false;
        }
    }
    for (int i = 0; i < NSLOTS; i++) {
        MemoryRegion *mr = &slots[i].mr;
        if (slots[i].kind && memory_region_container(mr))
            fuzz_check(memory_region_del_subregion(memory_region_container(mr), mr) == 0, "del");
    }
    for (int pass = 0; pass <= NSLOTS; pass++)
        for (int i = 0; i < NSLOTS; i++)
            if (slots[i].kind && memory_region_destroy(&slots[i].mr) == 0)
                slots[i].kind = K_FREE;
    for (int i = 0; i < NSLOTS; i++)
        fuzz_check(!slots[i].kind, "slot %d could not be destroyed: %s", i, memregion_last_error());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    refmodel_set_nonvolatile_fn(slot_nonvolatile, NULL);
    FuzzIn in = {data, size};
    for (unsigned n = 0; in.n && n < 200; n++)
        one_op(&in);
    teardown();
    return 0;
}
