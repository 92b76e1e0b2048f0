/*
 * A commit looks only at the view slots it touched (commit.c, step 5 of
 * do_commit) and at the listening address spaces whose view it may have
 * changed (step 4): a change in one view costs the same however many other
 * view roots, and listeners on them, the machine has. White-box: reads the
 * writer's counts of slots and listening spaces looked at
 * (mr_ws.slots_settled, mr_ws.spaces_heard) and checks the list of live
 * slots, whose entries know their place in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "memregion/memregion.h"

#include "base.h"
#include "globals.h"
#include "view.h"

enum { NR_ROOTS = 300 };

static MemoryRegion sys, bar, roots[NR_ROOTS], own_ram[NR_ROOTS];
static AddressSpace sys_as, as[NR_ROOTS];

/* What a listener heard: adds and dels of the ranges of region mr, or of
 * every range when mr is NULL. */
typedef struct Ear {
    MemoryListener l;
    const MemoryRegion *mr;
    int adds, dels;
} Ear;

static void ear_add(MemoryListener *l, const FlatRange *r)
{
    Ear *e = (Ear *)l;
    e->adds += !e->mr || r->mr == e->mr;
}

static void ear_del(MemoryListener *l, const FlatRange *r)
{
    Ear *e = (Ear *)l;
    e->dels += !e->mr || r->mr == e->mr;
}

static void ear_register(Ear *e, AddressSpace *space, const MemoryRegion *mr)
{
    *e = (Ear){.l = {.region_add = ear_add, .region_del = ear_del}, .mr = mr};
    assert_int_equal(memory_listener_register(&e->l, space), 0);
}

static Ear sys_ear, dev_ear[NR_ROOTS];

/* Every live slot knows where it is in the list, and its root knows it. */
static void assert_slot_list_sound(void)
{
    for (size_t i = 0; i < mr_ws.slots.n; i++) {
        ViewSlot *s = mr_ws.slots.v[i];
        assert_int_equal(s->index, i);
        assert_ptr_equal(s->root->view_slot, s);
        assert_false(s->settling);
    }
    assert_int_equal(mr_ws.settle.n, 0);
}

static void test_commit_looks_at_what_it_touched(void **state)
{
    (void)state;
    assert_int_equal(memory_region_init(&sys, "sys", 1ull << 40), 0);
    assert_int_equal(memory_region_init_ram(&bar, "bar", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&sys, 0x10000, &bar), 0);
    assert_int_equal(address_space_init(&sys_as, &sys, "sys"), 0);
    /* NR_ROOTS address spaces with views of their own: NR_ROOTS more slots. */
    for (int i = 0; i < NR_ROOTS; i++) {
        assert_int_equal(memory_region_init(&roots[i], "root", 1ull << 32), 0);
        assert_int_equal(memory_region_init_ram(&own_ram[i], "own", 0x1000), 0);
        assert_int_equal(memory_region_add_subregion(&roots[i], 0x1000, &own_ram[i]), 0);
        assert_int_equal(address_space_init(&as[i], &roots[i], "dev"), 0);
        ear_register(&dev_ear[i], &as[i], NULL);
        assert_int_equal(dev_ear[i].adds, 1); /* its own RAM */
    }
    ear_register(&sys_ear, &sys_as, NULL);
    size_t live = mr_ws.slots.n;
    assert_true(live >= NR_ROOTS + 1);
    assert_slot_list_sound();

    /* A BAR move in the system view: one slot and one listening space
     * looked at, not 301 of each; the system's listener hears every move
     * and the others hear nothing. */
    uint64_t before = mr_ws.slots_settled, heard = mr_ws.spaces_heard;
    int adds = sys_ear.adds;
    for (int i = 0; i < 100; i++)
        assert_int_equal(memory_region_set_address(&bar, (i & 1) ? 0x10000 : 0x20000), 0);
    assert_int_equal(mr_ws.slots_settled - before, 100);
    assert_int_equal(mr_ws.spaces_heard - heard, 100);
    assert_int_equal(sys_ear.adds - adds, 100);
    for (int i = 0; i < NR_ROOTS; i++)
        assert_true(dev_ear[i].adds == 1 && dev_ear[i].dels == 0);
    assert_int_equal(address_space_ldl_le(&sys_as, 0x10000, MEMTXATTRS_UNSPECIFIED, NULL), 0);

    /* An address space goes (its listener first): its slot is retired at the
     * next commit, and the list stays sound after the last entry moves into
     * its place. */
    memory_listener_unregister(&dev_ear[0].l);
    address_space_destroy(&as[0]);
    assert_int_equal(mr_ws.slots.n, live - 1);
    assert_null(roots[0].view_slot);
    assert_slot_list_sound();

    /* One leaves and another comes to the same root in one transaction:
     * the slot is kept and serves the newcomer. */
    memory_region_transaction_begin();
    address_space_destroy(&as[1]);
    static AddressSpace again;
    assert_int_equal(address_space_init(&again, &roots[1], "again"), 0);
    assert_int_equal(memory_region_transaction_commit(), 0);
    assert_int_equal(mr_ws.slots.n, live - 1);
    assert_non_null(roots[1].view_slot);
    assert_slot_list_sound();
    FlatView *fv = address_space_get_flatview(&again);
    assert_int_equal(flatview_nr_ranges(fv), 1);
    flatview_unref(fv);

    /* The rest go one by one, from the middle of the list too. */
    for (int i = NR_ROOTS - 2; i >= 2; i -= 2)
        address_space_destroy(&as[i]);
    for (int i = 3; i < NR_ROOTS; i += 2)
        address_space_destroy(&as[i]);
    address_space_destroy(&again);
    address_space_destroy(&sys_as);
    assert_int_equal(mr_ws.slots.n, live - 1 - (NR_ROOTS - 1) - 1);
    assert_slot_list_sound();
}

static uint64_t no_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque;
    (void)addr;
    (void)size;
    return 0;
}

static const MemoryRegionOps msi_ops = {.read = no_read};

/* A listening space that moves to a slot of its own and back (a bus master
 * that gains and loses a private MSI window) moves between the slots'
 * listening lists, hears each change once, and is found by the commits that
 * change its new slot. */
static void test_listening_space_switches_slots(void **state)
{
    (void)state;
    static MemoryRegion mem, ram, bm, bm_alias, msi;
    static AddressSpace mem_as, dev_as;
    static Ear ear;
    assert_int_equal(memory_region_init(&mem, "mem", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init_ram(&ram, "ram", 0x1000), 0);
    assert_int_equal(memory_region_add_subregion(&mem, 0x1000, &ram), 0);
    assert_int_equal(memory_region_init(&bm, "bm", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init_alias(&bm_alias, "bm-alias", &mem, 0, MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_add_subregion(&bm, 0, &bm_alias), 0);
    assert_int_equal(address_space_init(&mem_as, &mem, "mem"), 0);
    assert_int_equal(address_space_init(&dev_as, &bm, "dev"), 0);
    assert_ptr_equal(dev_as.slot, mem_as.slot); /* the sharing rule */
    ear_register(&ear, &dev_as, &msi);
    assert_int_equal(memory_region_init_io(&msi, &msi_ops, NULL, "msi", 0x1000), 0);
    for (int round = 0; round < 3; round++) {
        ear.adds = ear.dels = 0;
        assert_int_equal(memory_region_add_subregion_overlap(&bm, 0xfee00000, &msi, 1), 0);
        assert_ptr_not_equal(dev_as.slot, mem_as.slot);
        assert_int_equal(ear.adds, 1);
        /* Found through its own slot now: a move of the window is heard. */
        assert_int_equal(memory_region_set_address(&msi, 0xfee01000), 0);
        assert_int_equal(ear.adds, 2);
        assert_int_equal(ear.dels, 1);
        /* Back on the shared slot: the window's removal is heard. */
        assert_int_equal(memory_region_del_subregion(&bm, &msi), 0);
        assert_int_equal(memory_region_set_address(&msi, 0xfee00000), 0);
        assert_ptr_equal(dev_as.slot, mem_as.slot);
        assert_int_equal(ear.dels, 2);
        assert_int_equal(ear.adds, 2);
    }
    memory_listener_unregister(&ear.l);
    address_space_destroy(&dev_as);
    address_space_destroy(&mem_as);
    assert_int_equal(mr_ws.listening, NULL);
    assert_slot_list_sound();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_looks_at_what_it_touched),
        cmocka_unit_test(test_listening_space_switches_slots),
    };
    return cmocka_run_group_tests_name("settle", tests, NULL, NULL);
}
