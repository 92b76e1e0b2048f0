/*
 * Commits that cost what changed: counted, never timed.
 *
 * These tests count the work a commit does through the public API:
 * memregion_stat_renders() (view versions built), FlatView identity (which
 * address spaces got a new view and which share one), what a listener hears,
 * and which ranges of a new version are stored at the same place as in the
 * previous version (a range that did not change and sits in a chunk the new
 * version shares is the very same FlatRange object: flatview_range() returns
 * the same pointer). They never measure time.
 *
 *  - A PCI-like machine: the system address space and 256 bus-master
 *    address spaces, each a container holding an enabled alias of all of
 *    system memory. Moving a BAR builds one version, and all 257 address
 *    spaces then hold that one FlatView. Toggling bus mastering builds none.
 *  - A tree that one address space alone uses (a device that also sees an
 *    MSI window): changing it builds one version and leaves every other
 *    address space's view untouched; a BAR move then builds exactly two.
 *  - Mapping N = 1,000 .. 100,000 regions one by one, each in its own
 *    commit, in random and in ascending address order, then unmapping them:
 *    every commit builds exactly one version, the listener hears exactly the
 *    one range that changed, and the new version shares all but a bounded
 *    number of ranges (a few chunks' worth) with the previous one.
 *  - A transaction of 10,000 changes builds one version.
 *
 * Environment: MEMREGION_SCALING_MAX_N (default 100000) caps the largest N
 * (at 10000 when MEMREGION_CHECK_INCREMENTAL makes every commit render whole).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <memregion/memregion.h>
#include "../support/rng.h"

#define NDEV       256
#define NEXTRA     700 /* other regions of the machine, for a map of about 1000 regions */
#define PCI_BASE   0xe0000000ull
#define PCI_SIZE   0x20000000ull
#define DEV_STRIDE 0x100000ull

/* Unchanged ranges a new version may store anew: the few chunks around one edit
 * (a chunk holds at most 128 ranges; a few hundred is generous). */
#define SHARE_BOUND 512

/* Lookup-index entries one commit that changes one range may write with n
 * ranges: the nodes it rebuilds (a node holds at most 64 chunk pointers; a
 * commit rebuilds at most a few) and one pointer per node of the view (nodes
 * hold at least 16 chunks of at least 64 ranges, bar the edges). A flat
 * array of chunk pointers would need n/128 per commit: 781 at n = 100,000. */
#define INDEX_BOUND(n) (256 + (n) / 1024)

static uint64_t rng_state = 0x1234567;

static uint64_t rnd(void)
{
    return ts_rng_next(&rng_state);
}

/* ---- a listener that counts what it hears ----------------------------------------- */

typedef struct Counter {
    MemoryListener l;
    unsigned begins, adds, dels, nops;
    const FlatRange *last_add;
    FlatRange added, deleted;
} Counter;

static void c_begin(MemoryListener *l)
{
    ((Counter *)l)->begins++;
}

static void c_add(MemoryListener *l, const FlatRange *fr)
{
    Counter *c = (Counter *)l;
    c->adds++;
    c->added = *fr;
}

static void c_del(MemoryListener *l, const FlatRange *fr)
{
    Counter *c = (Counter *)l;
    c->dels++;
    c->deleted = *fr;
}

static void c_nop(MemoryListener *l, const FlatRange *fr)
{
    (void)fr;
    ((Counter *)l)->nops++;
}

static void counter_init(Counter *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->l.begin = c_begin;
    c->l.region_add = c_add;
    c->l.region_del = c_del;
    c->l.region_nop = c_nop;
    c->l.name = name;
}

static void counter_reset(Counter *c)
{
    c->begins = c->adds = c->dels = c->nops = 0;
}

/* ---- the PCI-like machine ------------------------------------------------------------- */

typedef struct Machine {
    MemoryRegion sys, ram, pci;
    MemoryRegion extra[NEXTRA];
    MemoryRegion devc[NDEV];   /* a device's BAR container in the PCI window */
    MemoryRegion bar[NDEV][2]; /* BAR0 (MMIO) and BAR1 (RAM) */
    uint8_t bar1_mem[NDEV][0x1000];
    MemoryRegion bm[NDEV];       /* the device's bus-master view: a container ... */
    MemoryRegion bm_alias[NDEV]; /* ... holding an alias of all of system memory */
    MemoryRegion msi;            /* an MSI window only device 7 sees */
    AddressSpace sys_as, sys_as2;
    AddressSpace dev_as[NDEV];
} Machine;

static Machine *m;
/* Listeners of the machine's tests: static, so that a failed test leaves no dangling one. */
static Counter counters[2];

static uint64_t bar_rd(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)size;
    return addr;
}

static void bar_wr(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    (void)opaque, (void)addr, (void)data, (void)size;
}

static const MemoryRegionOps bar_ops = {.read = bar_rd, .write = bar_wr};

static hwaddr bar0_addr(int d)
{
    return PCI_BASE + (hwaddr)d * DEV_STRIDE;
}

static int machine_setup(void **state)
{
    (void)state;
    m = calloc(1, sizeof(*m));
    assert_non_null(m);
    char name[40];
    memory_region_transaction_begin();
    assert_int_equal(memory_region_init(&m->sys, "system", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init_ram(&m->ram, "ram", 0x1000000), 0);
    assert_int_equal(memory_region_add_subregion(&m->sys, 0, &m->ram), 0);
    assert_int_equal(memory_region_init(&m->pci, "pci", PCI_SIZE), 0);
    assert_int_equal(memory_region_add_subregion(&m->sys, PCI_BASE, &m->pci), 0);
    for (int i = 0; i < NEXTRA; i++) {
        snprintf(name, sizeof(name), "mmio%d", i);
        assert_int_equal(memory_region_init_io(&m->extra[i], NULL, NULL, name, 0x1000), 0);
        assert_int_equal(memory_region_add_subregion(&m->sys, 0x100000000ull + (hwaddr)i * 0x10000,
                                                     &m->extra[i]),
                         0);
    }
    for (int d = 0; d < NDEV; d++) {
        snprintf(name, sizeof(name), "dev%d", d);
        assert_int_equal(memory_region_init(&m->devc[d], name, DEV_STRIDE), 0);
        assert_int_equal(memory_region_add_subregion(&m->pci, (hwaddr)d * DEV_STRIDE, &m->devc[d]),
                         0);
        snprintf(name, sizeof(name), "dev%d.bar0", d);
        assert_int_equal(memory_region_init_io(&m->bar[d][0], &bar_ops, NULL, name, 0x1000), 0);
        assert_int_equal(memory_region_add_subregion(&m->devc[d], 0, &m->bar[d][0]), 0);
        snprintf(name, sizeof(name), "dev%d.bar1", d);
        assert_int_equal(memory_region_init_ram_ptr(&m->bar[d][1], name, 0x1000, m->bar1_mem[d]),
                         0);
        assert_int_equal(memory_region_add_subregion(&m->devc[d], 0x10000, &m->bar[d][1]), 0);
        snprintf(name, sizeof(name), "bus-master%d", d);
        assert_int_equal(memory_region_init(&m->bm[d], name, MR_SIZE_2_64), 0);
        snprintf(name, sizeof(name), "bus-master%d-alias", d);
        assert_int_equal(memory_region_init_alias(&m->bm_alias[d], name, &m->sys, 0, MR_SIZE_2_64),
                         0);
        assert_int_equal(memory_region_add_subregion(&m->bm[d], 0, &m->bm_alias[d]), 0);
    }
    assert_int_equal(address_space_init(&m->sys_as, &m->sys, "memory"), 0);
    for (int d = 0; d < NDEV; d++) {
        snprintf(name, sizeof(name), "dev%d-dma", d);
        assert_int_equal(address_space_init(&m->dev_as[d], &m->bm[d], name), 0);
    }
    memory_region_transaction_commit();
    return 0;
}

static int machine_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        if (counters[i].l.address_space)
            memory_listener_unregister(&counters[i].l);
    for (int d = 0; d < NDEV; d++)
        address_space_destroy(&m->dev_as[d]);
    address_space_destroy(&m->sys_as);
    memory_region_transaction_begin();
    for (int d = 0; d < NDEV; d++) {
        memory_region_del_subregion(&m->bm[d], &m->bm_alias[d]);
        memory_region_del_subregion(&m->devc[d], &m->bar[d][0]);
        memory_region_del_subregion(&m->devc[d], &m->bar[d][1]);
        memory_region_del_subregion(&m->pci, &m->devc[d]);
    }
    for (int i = 0; i < NEXTRA; i++)
        memory_region_del_subregion(&m->sys, &m->extra[i]);
    memory_region_del_subregion(&m->sys, &m->ram);
    memory_region_del_subregion(&m->sys, &m->pci);
    if (memory_region_container(&m->msi))
        memory_region_del_subregion(memory_region_container(&m->msi), &m->msi);
    memory_region_transaction_commit();
    for (int d = 0; d < NDEV; d++) {
        assert_int_equal(memory_region_destroy(&m->bm_alias[d]), 0);
        assert_int_equal(memory_region_destroy(&m->bm[d]), 0);
        assert_int_equal(memory_region_destroy(&m->bar[d][0]), 0);
        assert_int_equal(memory_region_destroy(&m->bar[d][1]), 0);
        assert_int_equal(memory_region_destroy(&m->devc[d]), 0);
    }
    for (int i = 0; i < NEXTRA; i++)
        assert_int_equal(memory_region_destroy(&m->extra[i]), 0);
    if (memory_region_kind(&m->msi) != MR_KIND_NONE)
        assert_int_equal(memory_region_destroy(&m->msi), 0);
    assert_int_equal(memory_region_destroy(&m->pci), 0);
    assert_int_equal(memory_region_destroy(&m->ram), 0);
    assert_int_equal(memory_region_destroy(&m->sys), 0);
    free(m);
    m = NULL;
    return 0;
}

/* References on the views of all 257 address spaces (index NDEV: the system one). */
typedef struct Views {
    FlatView *v[NDEV + 1];
} Views;

static void views_take(Views *vs)
{
    for (int d = 0; d < NDEV; d++)
        vs->v[d] = address_space_get_flatview(&m->dev_as[d]);
    vs->v[NDEV] = address_space_get_flatview(&m->sys_as);
}

static void views_drop(Views *vs)
{
    for (int i = 0; i <= NDEV; i++)
        flatview_unref(vs->v[i]);
}

static MemoryRegion *region_at(AddressSpace *as, hwaddr addr)
{
    FlatRange fr;
    return address_space_find_range(as, addr, &fr) ? fr.mr : NULL;
}

/* Every bus-master address space shows system memory through one shared FlatView. */
static void test_bus_masters_share_the_system_view(void **state)
{
    (void)state;
    Views now;
    views_take(&now);
    for (int d = 0; d < NDEV; d++)
        assert_ptr_equal(now.v[d], now.v[NDEV]);
    assert_ptr_equal(flatview_root(now.v[NDEV]), &m->sys);
    /* Two address spaces on one root share it too, and creating one builds nothing. */
    uint64_t r0 = memregion_stat_renders();
    assert_int_equal(address_space_init(&m->sys_as2, &m->sys, "memory-again"), 0);
    assert_int_equal(memregion_stat_renders() - r0, 0);
    FlatView *again = address_space_get_flatview(&m->sys_as2);
    assert_ptr_equal(again, now.v[NDEV]);
    flatview_unref(again);
    address_space_destroy(&m->sys_as2);
    views_drop(&now);
}

/* Moving one device's BAR builds one version, which all 257 address spaces then hold. */
static void test_bar_move_builds_one_version(void **state)
{
    (void)state;
    Counter *c = &counters[0];
    counter_init(c, "dev200-dma");
    assert_int_equal(memory_listener_register(&c->l, &m->dev_as[200]), 0);
    for (int round = 0; round < 20; round++) {
        int d = (int)(rnd() % NDEV);
        hwaddr to = 0x20000 + (rnd() % 0xd0) * 0x1000;
        if (to == memory_region_addr(&m->bar[d][0]))
            to += 0x1000; /* a move to where it is shows nothing new */
        Views before, after;
        views_take(&before);
        counter_reset(c);
        uint64_t r0 = memregion_stat_renders();
        assert_int_equal(memory_region_set_address(&m->bar[d][0], to), 0);
        assert_int_equal(memregion_stat_renders() - r0, 1);
        views_take(&after);
        assert_ptr_not_equal(after.v[NDEV], before.v[NDEV]);
        for (int i = 0; i < NDEV; i++)
            assert_ptr_equal(after.v[i], after.v[NDEV]);
        /* The BAR is where it was moved to, seen from another device. */
        assert_ptr_equal(region_at(&m->dev_as[200], bar0_addr(d) + to), &m->bar[d][0]);
        assert_ptr_equal(region_at(&m->sys_as, bar0_addr(d) + to + 0xfff), &m->bar[d][0]);
        /* The listener of a device that shares the view hears the move and nothing else. */
        assert_int_equal(c->begins, 1);
        assert_int_equal(c->dels, 1);
        assert_int_equal(c->adds, 1);
        assert_ptr_equal(c->added.mr, &m->bar[d][0]);
        assert_int_equal(c->added.addr, bar0_addr(d) + to);
        views_drop(&before);
        views_drop(&after);
    }
    /* Moving a whole device (its BAR container) is one version too. */
    uint64_t r0 = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(&m->devc[3], PCI_SIZE - DEV_STRIDE), 0);
    assert_int_equal(memregion_stat_renders() - r0, 1);
    assert_ptr_equal(region_at(&m->dev_as[9], PCI_BASE + PCI_SIZE - DEV_STRIDE + 0x10000),
                     &m->bar[3][1]);
    /* So is a transaction that moves a BAR of 64 devices. */
    r0 = memregion_stat_renders();
    memory_region_transaction_begin();
    for (int d = 0; d < 64; d++)
        assert_int_equal(memory_region_set_address(&m->bar[d * 4][1], 0x30000), 0);
    memory_region_transaction_commit();
    assert_int_equal(memregion_stat_renders() - r0, 1);
    for (int d = 0; d < 64; d++)
        assert_ptr_equal(region_at(&m->dev_as[255], bar0_addr(d * 4) + 0x30000), &m->bar[d * 4][1]);
    memory_listener_unregister(&c->l);
}

/*
 * Bus mastering off (the alias disabled) leaves a device an empty view;
 * back on, it shares the system view again. Neither needs a new version.
 */
static void test_bus_master_toggle_builds_nothing(void **state)
{
    (void)state;
    for (int d = 10; d < 20; d++) {
        Views before, after;
        views_take(&before);
        uint64_t r0 = memregion_stat_renders();
        assert_int_equal(memory_region_set_enabled(&m->bm_alias[d], false), 0);
        assert_int_equal(memregion_stat_renders() - r0, 0);
        views_take(&after);
        assert_int_equal(flatview_nr_ranges(after.v[d]), 0);
        for (int i = 0; i <= NDEV; i++)
            if (i != d)
                assert_ptr_equal(after.v[i], before.v[i]);
        views_drop(&after);

        r0 = memregion_stat_renders();
        assert_int_equal(memory_region_set_enabled(&m->bm_alias[d], true), 0);
        assert_int_equal(memregion_stat_renders() - r0, 0);
        views_take(&after);
        for (int i = 0; i <= NDEV; i++)
            assert_ptr_equal(after.v[i], before.v[i]);
        views_drop(&before);
        views_drop(&after);
    }
    /* A BAR move while some devices have bus mastering off: still one version. */
    for (int d = 0; d < NDEV; d += 2)
        assert_int_equal(memory_region_set_enabled(&m->bm_alias[d], false), 0);
    uint64_t r0 = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(&m->bar[77][0], 0x40000), 0);
    assert_int_equal(memregion_stat_renders() - r0, 1);
    Views now;
    views_take(&now);
    for (int d = 0; d < NDEV; d++) {
        if (d % 2)
            assert_ptr_equal(now.v[d], now.v[NDEV]);
        else
            assert_int_equal(flatview_nr_ranges(now.v[d]), 0);
    }
    views_drop(&now);
    for (int d = 0; d < NDEV; d += 2)
        assert_int_equal(memory_region_set_enabled(&m->bm_alias[d], true), 0);
}

/*
 * Device 7 also sees an MSI window: its tree is its own. Changes there build
 * one version and touch no other address space; changes in system memory
 * build exactly two (the shared system view and device 7's).
 */
static void test_private_tree_changes_touch_no_other_space(void **state)
{
    (void)state;
    Counter *quiet = &counters[1];
    counter_init(quiet, "dev3-dma");
    assert_int_equal(memory_listener_register(&quiet->l, &m->dev_as[3]), 0);
    assert_int_equal(memory_region_init_io(&m->msi, &bar_ops, NULL, "msi", 0x1000), 0);

    Views before, after;
    views_take(&before);
    counter_reset(quiet);
    uint64_t r0 = memregion_stat_renders();
    assert_int_equal(memory_region_add_subregion_overlap(&m->bm[7], 0xfee00000, &m->msi, 1), 0);
    assert_int_equal(memregion_stat_renders() - r0, 1);
    views_take(&after);
    for (int i = 0; i <= NDEV; i++)
        if (i != 7)
            assert_ptr_equal(after.v[i], before.v[i]);
    assert_ptr_not_equal(after.v[7], after.v[NDEV]);
    assert_ptr_equal(region_at(&m->dev_as[7], 0xfee00000), &m->msi);
    assert_ptr_equal(region_at(&m->dev_as[8], 0xfee00000), NULL);
    assert_int_equal(quiet->begins, 0);
    views_drop(&before);
    views_drop(&after);

    for (int round = 0; round < 10; round++) {
        views_take(&before);
        counter_reset(quiet);
        r0 = memregion_stat_renders();
        hwaddr at = 0xfee00000 + (hwaddr)(round + 1) * 0x1000;
        assert_int_equal(memory_region_set_address(&m->msi, at), 0);
        assert_int_equal(memregion_stat_renders() - r0, 1);
        views_take(&after);
        for (int i = 0; i <= NDEV; i++)
            if (i != 7)
                assert_ptr_equal(after.v[i], before.v[i]);
        assert_ptr_not_equal(after.v[7], before.v[7]);
        assert_ptr_equal(region_at(&m->dev_as[7], at), &m->msi);
        assert_int_equal(quiet->begins + quiet->adds + quiet->dels + quiet->nops, 0);
        views_drop(&before);
        views_drop(&after);
    }

    /* A BAR move changes system memory, which device 7 sees through its alias: two versions. */
    views_take(&before);
    r0 = memregion_stat_renders();
    assert_int_equal(memory_region_set_address(&m->bar[100][0], 0x50000), 0);
    assert_int_equal(memregion_stat_renders() - r0, 2);
    views_take(&after);
    for (int i = 0; i < NDEV; i++)
        if (i != 7)
            assert_ptr_equal(after.v[i], after.v[NDEV]);
    assert_ptr_not_equal(after.v[7], before.v[7]);
    assert_ptr_equal(region_at(&m->dev_as[7], bar0_addr(100) + 0x50000), &m->bar[100][0]);
    views_drop(&before);
    views_drop(&after);

    /* Without the MSI window device 7 shares the system view again, with no new version. */
    r0 = memregion_stat_renders();
    assert_int_equal(memory_region_del_subregion(&m->bm[7], &m->msi), 0);
    assert_int_equal(memregion_stat_renders() - r0, 0);
    views_take(&after);
    for (int i = 0; i < NDEV; i++)
        assert_ptr_equal(after.v[i], after.v[NDEV]);
    views_drop(&after);
    memory_listener_unregister(&quiet->l);
}

/*
 * Hot-plugging 2,000 regions into system memory one by one while 256
 * devices watch it: one version per commit, shared by all 257 spaces.
 */
static void test_hotplug_one_by_one_with_257_spaces(void **state)
{
    (void)state;
    enum { N = 2000 };
    MemoryRegion *r = calloc(N, sizeof(*r));
    assert_non_null(r);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "hotplug%d", i);
        assert_int_equal(memory_region_init_io(&r[i], NULL, NULL, name, 0x1000), 0);
        uint64_t r0 = memregion_stat_renders();
        assert_int_equal(
            memory_region_add_subregion(&m->sys, 0x200000000ull + (hwaddr)i * 0x2000, &r[i]), 0);
        assert_int_equal(memregion_stat_renders() - r0, 1);
        if (i % 97 == 0) {
            Views now;
            views_take(&now);
            for (int d = 0; d < NDEV; d++)
                assert_ptr_equal(now.v[d], now.v[NDEV]);
            assert_ptr_equal(region_at(&m->dev_as[i % NDEV], 0x200000000ull + (hwaddr)i * 0x2000),
                             &r[i]);
            views_drop(&now);
        }
    }
    for (int i = 0; i < N; i++) {
        uint64_t r0 = memregion_stat_renders();
        assert_int_equal(memory_region_del_subregion(&m->sys, &r[i]), 0);
        assert_int_equal(memregion_stat_renders() - r0, 1);
        assert_int_equal(memory_region_destroy(&r[i]), 0);
    }
    free(r);
}

/* Two separate machines: a change in one builds nothing for the other. */
static void test_unrelated_root_is_not_rendered(void **state)
{
    (void)state;
    MemoryRegion other, r;
    AddressSpace oas;
    assert_int_equal(memory_region_init(&other, "other", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init_io(&r, NULL, NULL, "other-dev", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&other, 0x1000, &r), 0);
    assert_int_equal(address_space_init(&oas, &other, "other"), 0);
    Views before, after;
    views_take(&before);
    for (int i = 0; i < 10; i++) {
        uint64_t r0 = memregion_stat_renders();
        assert_int_equal(memory_region_set_address(&r, 0x2000 + (hwaddr)i * 0x1000), 0);
        assert_int_equal(memregion_stat_renders() - r0, 1);
    }
    views_take(&after);
    for (int i = 0; i <= NDEV; i++)
        assert_ptr_equal(after.v[i], before.v[i]);
    views_drop(&before);
    views_drop(&after);
    address_space_destroy(&oas);
    assert_int_equal(memory_region_del_subregion(&other, &r), 0);
    assert_int_equal(memory_region_destroy(&r), 0);
    assert_int_equal(memory_region_destroy(&other), 0);
}

/* ---- mapping N regions one by one -------------------------------------------------------- */

static size_t max_n;

/* Index of the range of @fv that starts at @addr (it must exist). */
static size_t index_of(FlatView *fv, hwaddr addr)
{
    size_t lo = 0, hi = flatview_nr_ranges(fv);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (flatview_range(fv, mid)->addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert_true(lo < flatview_nr_ranges(fv));
    assert_int_equal(flatview_range(fv, lo)->addr, addr);
    return lo;
}

/*
 * @old and @new differ by one range at index @p (inserted into @new when
 * @ins, else removed from @old). Count the unchanged ranges that are not the
 * same object in both versions: every one of them when @all, else a sample.
 * Ranges far from @p must be shared whatever the sample.
 */
static size_t count_unshared(FlatView *old, FlatView *new, size_t p, bool ins, bool all,
                             size_t *far_unshared)
{
    size_t n_old = flatview_nr_ranges(old);
    size_t unshared = 0;
    size_t samples = all ? n_old : 24;
    for (size_t s = 0; s < samples && n_old; s++) {
        size_t j = all ? s : rnd() % n_old;
        size_t jn;
        if (ins)
            jn = j < p ? j : j + 1;
        else if (j == p)
            continue; /* the removed range */
        else
            jn = j < p ? j : j - 1;
        if (flatview_range(old, j) != flatview_range(new, jn)) {
            unshared++;
            size_t dist = j > p ? j - p : p - j;
            if (dist > SHARE_BOUND)
                (*far_unshared)++;
        }
    }
    return unshared;
}

typedef struct OneByOne {
    size_t n;
    bool ascending;
} OneByOne;

/*
 * What a one-by-one or transaction test set up, kept outside its stack frame
 * so that big_teardown() can take it down even after a failed assertion.
 */
static struct Big {
    MemoryRegion root;
    AddressSpace as, as2;
    bool as_live, as2_live;
    Counter c;
    MemoryRegion *r;
    size_t n;
    hwaddr *addr;
    size_t *order;
} big;

static int big_teardown(void **state)
{
    (void)state;
    if (big.c.l.address_space)
        memory_listener_unregister(&big.c.l);
    if (big.as_live)
        address_space_destroy(&big.as);
    if (big.as2_live)
        address_space_destroy(&big.as2);
    memory_region_transaction_begin();
    for (size_t i = 0; i < big.n; i++)
        if (memory_region_container(&big.r[i]))
            memory_region_del_subregion(memory_region_container(&big.r[i]), &big.r[i]);
    memory_region_transaction_commit();
    for (size_t i = 0; i < big.n; i++)
        if (memory_region_kind(&big.r[i]) != MR_KIND_NONE)
            assert_int_equal(memory_region_destroy(&big.r[i]), 0);
    if (memory_region_kind(&big.root) != MR_KIND_NONE)
        assert_int_equal(memory_region_destroy(&big.root), 0);
    free(big.r);
    free(big.addr);
    free(big.order);
    memset(&big, 0, sizeof(big));
    return 0;
}

static void map_one_by_one(size_t n, bool ascending)
{
    if (n > max_n) {
        print_message("skipped: N=%zu is above MEMREGION_SCALING_MAX_N\n", n);
        return;
    }
    MemoryRegion *r = big.r = calloc(n, sizeof(*r));
    hwaddr *addr = big.addr = malloc(n * sizeof(*addr));
    size_t *order = big.order = malloc(n * sizeof(*order));
    assert_non_null(r);
    assert_non_null(addr);
    assert_non_null(order);
    big.n = n;
    assert_int_equal(memory_region_init(&big.root, "big", MR_SIZE_2_64), 0);
    assert_int_equal(address_space_init(&big.as, &big.root, "big"), 0);
    big.as_live = true;
    MemoryRegion *root = &big.root;
    AddressSpace *as = &big.as;
    Counter *c = &big.c;
    counter_init(c, "big");
    assert_int_equal(memory_listener_register(&c->l, as), 0);
    /* Regions of 4 KiB with a stride of 8 KiB: never adjacent, never merged. */
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "r%zu", i);
        assert_int_equal(memory_region_init_io(&r[i], NULL, NULL, name, 0x1000), 0);
        addr[i] = 0x100000000ull + (hwaddr)i * 0x2000;
        order[i] = i;
    }
    if (!ascending)
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rnd() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    size_t full_every = n / 8, max_unshared = 0, far_unshared = 0;
    uint64_t max_entries = 0;
    /* Debug mode renders every view whole besides: its index work is no commit's. */
    const char *chk = getenv("MEMREGION_CHECK_INCREMENTAL");
    bool count_entries = !(chk && *chk && *chk != '0');

    for (int phase = 0; phase < 2; phase++) {
        bool mapping = phase == 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = order[k];
            FlatView *old = address_space_get_flatview(as);
            size_t p_old = mapping ? 0 : index_of(old, addr[i]);
            counter_reset(c);
            uint64_t r0 = memregion_stat_renders();
            uint64_t e0 = memregion_stat_index_entries();
            if (mapping)
                assert_int_equal(memory_region_add_subregion(root, addr[i], &r[i]), 0);
            else
                assert_int_equal(memory_region_del_subregion(root, &r[i]), 0);
            uint64_t built = memregion_stat_renders() - r0;
            uint64_t entries = memregion_stat_index_entries() - e0;
            size_t have = mapping ? k + 1 : n - k - 1;
            if (entries > max_entries)
                max_entries = entries;
            if (count_entries && entries > INDEX_BOUND(have))
                fail_msg("N=%zu: %s region %zu wrote %" PRIu64 " lookup-index entries for a "
                         "view of %zu ranges (at most %zu expected: the index must not be "
                         "copied whole)",
                         n, mapping ? "mapping" : "unmapping", k, entries, have,
                         (size_t)INDEX_BOUND(have));
            /* One version per commit; none when the view becomes the empty view. */
            if (built != (have ? 1 : 0))
                fail_msg("%s region %zu of %zu built %" PRIu64 " versions",
                         mapping ? "mapping" : "unmapping", k, n, built);
            /* The listener hears that one range, nothing else. */
            assert_int_equal(c->begins, 1);
            assert_int_equal(c->adds, mapping ? 1 : 0);
            assert_int_equal(c->dels, mapping ? 0 : 1);
            assert_int_equal(c->nops, 0);
            assert_ptr_equal(mapping ? c->added.mr : c->deleted.mr, &r[i]);
            FlatView *new = address_space_get_flatview(as);
            assert_int_equal(flatview_nr_ranges(new), have);
            const FlatRange *fr = flatview_lookup(new, addr[i] + 0x800);
            if (mapping)
                assert_true(fr && fr->mr == &r[i]);
            else
                assert_null(fr);
            size_t p = mapping ? index_of(new, addr[i]) : p_old;
            bool all = full_every && (k % full_every == full_every / 2);
            size_t u = count_unshared(old, new, p, mapping, all, &far_unshared);
            if (all && u > max_unshared)
                max_unshared = u;
            if (all && u > SHARE_BOUND)
                fail_msg("N=%zu: after %s region %zu, %zu of %zu unchanged ranges are not shared "
                         "with the previous version (at most %d expected)",
                         n, mapping ? "mapping" : "unmapping", k, u, flatview_nr_ranges(old),
                         SHARE_BOUND);
            if (far_unshared)
                fail_msg("N=%zu: a range more than %d ranges away from the change was copied", n,
                         SHARE_BOUND);
            flatview_unref(old);
            flatview_unref(new);
        }
        if (mapping) {
            /* Unmap in another random order (the reverse one when mapping ascended). */
            for (size_t i = 0; i < n / 2; i++) {
                size_t t = order[i];
                order[i] = order[n - 1 - i];
                order[n - 1 - i] = t;
            }
            if (!ascending)
                for (size_t i = n - 1; i > 0; i--) {
                    size_t j = rnd() % (i + 1), t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
            /* The whole view, in address order. */
            FlatView *fv = address_space_get_flatview(as);
            assert_int_equal(flatview_nr_ranges(fv), n);
            for (size_t i = 0; i < n; i++) {
                const FlatRange *f = flatview_range(fv, i);
                assert_int_equal(f->addr, addr[i]);
                assert_ptr_equal(f->mr, &r[i]);
                assert_true(f->size == 0x1000);
            }
            flatview_unref(fv);
        }
    }
    print_message(
        "N=%zu (%s): %zu commits, one version each (none for the empty view); at most %zu "
        "unchanged ranges copied and %" PRIu64 " lookup-index entries written per version\n",
        n, ascending ? "ascending" : "random order", 2 * n, max_unshared, max_entries);
}

static void test_map_one_by_one(void **state)
{
    const OneByOne *o = *state;
    map_one_by_one(o->n, o->ascending);
}

/* ---- one transaction of 10,000 changes ----------------------------------------------------- */

static void test_transaction_of_10000_changes(void **state)
{
    (void)state;
    enum { N = 10000 };
    MemoryRegion *r = big.r = calloc(N, sizeof(*r));
    assert_non_null(r);
    big.n = N;
    assert_int_equal(memory_region_init(&big.root, "tx", MR_SIZE_2_64), 0);
    assert_int_equal(address_space_init(&big.as, &big.root, "tx"), 0);
    big.as_live = true;
    assert_int_equal(address_space_init(&big.as2, &big.root, "tx-again"), 0);
    big.as2_live = true;
    MemoryRegion *root = &big.root;
    AddressSpace *as = &big.as, *as2 = &big.as2;
    for (size_t i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "t%zu", i);
        assert_int_equal(memory_region_init_io(&r[i], NULL, NULL, name, 0x1000), 0);
    }
    /* 10,000 adds. */
    uint64_t r0 = memregion_stat_renders();
    memory_region_transaction_begin();
    for (size_t i = 0; i < N; i++)
        assert_int_equal(memory_region_add_subregion(root, (hwaddr)i * 0x2000, &r[i]), 0);
    assert_int_equal(memregion_stat_renders() - r0, 0);
    memory_region_transaction_commit();
    assert_int_equal(memregion_stat_renders() - r0, 1);
    FlatView *fv = address_space_get_flatview(as), *fv2 = address_space_get_flatview(as2);
    assert_ptr_equal(fv, fv2);
    assert_int_equal(flatview_nr_ranges(fv), N);
    flatview_unref(fv);
    flatview_unref(fv2);

    /* 10,000 mixed changes: moves, priorities, disables, resizes. */
    r0 = memregion_stat_renders();
    memory_region_transaction_begin();
    for (size_t i = 0; i < N; i++) {
        switch (i % 4) {
        case 0:
            assert_int_equal(memory_region_set_address(&r[i], (hwaddr)i * 0x2000 + 0x1000), 0);
            break;
        case 1:
            assert_int_equal(memory_region_set_priority(&r[i], 1), 0);
            break;
        case 2:
            assert_int_equal(memory_region_set_enabled(&r[i], false), 0);
            break;
        default:
            assert_int_equal(memory_region_set_size(&r[i], 0x800), 0);
            break;
        }
    }
    memory_region_transaction_commit();
    assert_int_equal(memregion_stat_renders() - r0, 1);
    fv = address_space_get_flatview(as);
    assert_int_equal(flatview_nr_ranges(fv), N / 4 * 3);
    for (size_t i = 0; i < N; i++) {
        const FlatRange *f = flatview_lookup(fv, (hwaddr)i * 0x2000 + (i % 4 == 0 ? 0x1000 : 0));
        if (i % 4 == 2)
            assert_null(f);
        else
            assert_true(f && f->mr == &r[i] && f->size == (i % 4 == 3 ? 0x800 : 0x1000));
    }
    flatview_unref(fv);

    /* 10,000 changes that end where they began build nothing new. */
    r0 = memregion_stat_renders();
    memory_region_transaction_begin();
    for (size_t i = 0; i < N; i += 4) {
        assert_int_equal(memory_region_set_enabled(&r[i], false), 0);
        assert_int_equal(memory_region_set_enabled(&r[i], true), 0);
    }
    memory_region_transaction_commit();
    assert_int_equal(memregion_stat_renders() - r0, 0);
}

int main(void)
{
    const char *e = getenv("MEMREGION_SCALING_MAX_N");
    max_n = e && *e ? (size_t)strtoull(e, NULL, 0) : 100000;
    /* The library's self-check renders every version in full: quadratic by design. */
    const char *chk = getenv("MEMREGION_CHECK_INCREMENTAL");
    if (chk && *chk && *chk != '0' && max_n > 10000) {
        printf("MEMREGION_CHECK_INCREMENTAL is set: N is capped at 10000\n");
        max_n = 10000;
    }

    static const OneByOne n1k = {1000, false}, n10k = {10000, false}, n100k = {100000, false},
                          n100k_asc = {100000, true};
    const struct CMUnitTest pci[] = {
        cmocka_unit_test(test_bus_masters_share_the_system_view),
        cmocka_unit_test(test_bar_move_builds_one_version),
        cmocka_unit_test(test_bus_master_toggle_builds_nothing),
        cmocka_unit_test(test_private_tree_changes_touch_no_other_space),
        cmocka_unit_test(test_hotplug_one_by_one_with_257_spaces),
        cmocka_unit_test(test_unrelated_root_is_not_rendered),
    };
    const struct CMUnitTest growth[] = {
        {.name = "map 1,000 regions one by one (random order)",
         .test_func = test_map_one_by_one,
         .teardown_func = big_teardown,
         .initial_state = (void *)&n1k},
        {.name = "map 10,000 regions one by one (random order)",
         .test_func = test_map_one_by_one,
         .teardown_func = big_teardown,
         .initial_state = (void *)&n10k},
        {.name = "map 100,000 regions one by one (random order)",
         .test_func = test_map_one_by_one,
         .teardown_func = big_teardown,
         .initial_state = (void *)&n100k},
        {.name = "map 100,000 regions one by one (ascending)",
         .test_func = test_map_one_by_one,
         .teardown_func = big_teardown,
         .initial_state = (void *)&n100k_asc},
        cmocka_unit_test_teardown(test_transaction_of_10000_changes, big_teardown),
    };
    int failed = cmocka_run_group_tests_name("scaling: 257 address spaces", pci, machine_setup,
                                             machine_teardown);
    failed += cmocka_run_group_tests_name("scaling: commits one by one", growth, NULL, NULL);
    return failed ? 1 : 0;
}
