/*
 * A KVM-memslot-style listener: it keeps a table of RAM slots from the
 * listener callbacks alone, never looking at the flat view. The program
 * moves a RAM BAR, shadows a ROM and toggles dirty logging, and prints the
 * table after each step.
 */
#include <memregion/memregion.h>
#include <inttypes.h>
#include <stdio.h>

#define MAX_SLOTS 32

typedef struct Slot {
    bool used;
    hwaddr gpa;
    uint64_t size;
    void *host;
    bool readonly;
    bool log_dirty;
} Slot;

typedef struct SlotTable {
    MemoryListener listener;
    AddressSpace *as; /* while registered */
    Slot slot[MAX_SLOTS];
    unsigned ioctls; /* what a KVM backend would issue */
} SlotTable;

static bool is_slot(const FlatRange *r)
{
    return memory_region_is_ram(r->mr); /* RAM and ROM; MMIO stays in userspace */
}

static Slot *find(SlotTable *t, hwaddr gpa)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (t->slot[i].used && t->slot[i].gpa == gpa)
            return &t->slot[i];
    return NULL;
}

static void region_add(MemoryListener *l, const FlatRange *r)
{
    SlotTable *t = (SlotTable *)l;
    if (!is_slot(r))
        return;
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (t->slot[i].used)
            continue;
        t->slot[i] = (Slot){
            .used = true,
            .gpa = r->addr,
            .size = (uint64_t)r->size,
            .host = (uint8_t *)memory_region_get_ram_ptr(r->mr) + r->offset_in_region,
            .readonly = r->readonly,
            .log_dirty = r->dirty_log_mask != 0,
        };
        t->ioctls++;
        return;
    }
    fprintf(stderr, "slot table full\n");
}

static void region_del(MemoryListener *l, const FlatRange *r)
{
    SlotTable *t = (SlotTable *)l;
    Slot *s = is_slot(r) ? find(t, r->addr) : NULL;
    if (s) {
        s->used = false;
        t->ioctls++;
    }
}

static void log_change(MemoryListener *l, const FlatRange *r, int old_mask, int new_mask)
{
    (void)old_mask;
    SlotTable *t = (SlotTable *)l;
    Slot *s = is_slot(r) ? find(t, r->addr) : NULL;
    if (s) {
        s->log_dirty = new_mask != 0;
        t->ioctls++;
    }
}

/* The table must hold exactly the RAM ranges of the view: the callbacks said it all. */
static bool table_matches(SlotTable *t, AddressSpace *as)
{
    unsigned used = 0, ram = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        used += t->slot[i].used;
    bool ok = true;
    FlatView *fv = address_space_get_flatview(as);
    for (size_t i = 0; i < flatview_nr_ranges(fv); i++) {
        const FlatRange *r = flatview_range(fv, i);
        if (!is_slot(r))
            continue;
        ram++;
        Slot *s = find(t, r->addr);
        ok = ok && s && s->size == (uint64_t)r->size && s->readonly == r->readonly;
    }
    flatview_unref(fv);
    return ok && used == ram;
}

static int failures;

static void print_table(SlotTable *t, const char *step)
{
    bool ok = !t->as || table_matches(t, t->as);
    failures += !ok;
    printf("%s (%u slot ioctls so far)%s\n", step, t->ioctls, ok ? "" : " MISMATCH");
    for (int i = 0; i < MAX_SLOTS; i++) {
        Slot *s = &t->slot[i];
        if (s->used)
            printf("  slot %2d: gpa 0x%08" PRIx64 " size 0x%08" PRIx64 "%s%s\n", i, s->gpa, s->size,
                   s->readonly ? " readonly" : "", s->log_dirty ? " log-dirty" : "");
    }
}

int main(void)
{
    MemoryRegion system, ram, rom, shadow, bar, vram;
    AddressSpace memory;
    static SlotTable table = {
        .listener = {.region_add = region_add,
                     .region_del = region_del,
                     .log_start = log_change,
                     .log_stop = log_change,
                     .name = "slots",
                     .priority = 10},
    };

    memory_region_init(&system, "system", MR_SIZE_2_64);
    memory_region_init_ram(&ram, "ram", 0x100000);
    memory_region_init_rom(&rom, "bios", 0x20000);
    memory_region_init_alias(&shadow, "bios-shadow", &ram, 0xe0000, 0x20000);
    memory_region_init(&bar, "bar", 0x100000);
    memory_region_init_ram(&vram, "vram", 0x100000);
    memory_region_add_subregion(&bar, 0, &vram);
    memory_region_add_subregion(&system, 0, &ram);
    memory_region_add_subregion_overlap(&system, 0xe0000, &rom, 1);
    memory_region_add_subregion(&system, 0xe0000000, &bar);
    address_space_init(&memory, &system, "memory");

    memory_listener_register(&table.listener, &memory);
    table.as = &memory;
    print_table(&table, "registered (replay)");

    memory_region_set_address(&bar, 0xf0000000);
    print_table(&table, "BAR moved: only the vram slot changed");

    memory_region_transaction_begin(); /* firmware shadows its ROM into RAM */
    memory_region_add_subregion_overlap(&system, 0xe0000, &shadow, 2);
    memory_region_set_readonly(&shadow, true);
    memory_region_transaction_commit();
    print_table(&table, "ROM shadowed: read-only RAM alias over the ROM");

    memory_region_set_log(&vram, true, DIRTY_MEMORY_VGA);
    print_table(&table, "VGA logging on: the vram slot logs dirty pages");

    memory_listener_unregister(&table.listener);
    table.as = NULL;
    print_table(&table, "unregistered (replayed removals)");

    address_space_destroy(&memory);
    memory_region_del_subregion(&system, &shadow);
    memory_region_del_subregion(&system, &bar);
    memory_region_del_subregion(&system, &rom);
    memory_region_del_subregion(&system, &ram);
    memory_region_del_subregion(&bar, &vram);
    MemoryRegion *all[] = {&shadow, &vram, &bar, &rom, &ram, &system};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        memory_region_destroy(all[i]);
    return failures ? 1 : 0;
}
