/*
 * Region lifecycle and attributes: initialisation of each kind, teardown,
 * the attribute setters and the accessors. Tree topology is in tree.c.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "region_tree.h"
#include "commit.h"
#include "access_path.h"

/* ---- initialisation ------------------------------------------------------ */

static int init_common(MemoryRegion *mr, const char *name, mr_size_t size, MemoryRegionKind kind)
{
    if (!mr)
        return mr_error(EINVAL, "memory_region_init: NULL region");
    if (!name)
        name = "";
    if (size > MR_SIZE_2_64)
        return mr_error(EINVAL, "region '%s': size exceeds 2^64", name);
    char *copy = strdup(name);
    if (!copy)
        return mr_error(ENOMEM, "region '%s': out of memory", name);
    memset(mr, 0, sizeof(*mr));
    mr->name = copy;
    mr->kind = kind;
    mr->size = size;
    mr->enabled = true;
    return 0;
}

/* Allocate zeroed host memory for a RAM-backed region. */
static int alloc_ram(MemoryRegion *mr)
{
    if (mr->size == 0) {
        int err = mr_error(EINVAL, "region '%s': RAM of size 0", mr->name);
        free(mr->name);
        mr->kind = MR_KIND_NONE;
        return err;
    }
    void *p = MAP_FAILED;
    if (mr->size <= (mr_size_t)SIZE_MAX)
        p = mmap(NULL, (size_t)mr->size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        int err = mr_error(ENOMEM, "region '%s': cannot allocate %llu bytes of RAM", mr->name,
                           (unsigned long long)mr->size);
        free(mr->name);
        mr->kind = MR_KIND_NONE;
        return err;
    }
    mr->ram = p;
    mr->ram_len = (uint64_t)mr->size;
    mr->ram_mmapped = true;
    return 0;
}

int memory_region_init(MemoryRegion *mr, const char *name, mr_size_t size)
{
    return init_common(mr, name, size, MR_KIND_CONTAINER);
}

int memory_region_init_ram(MemoryRegion *mr, const char *name, mr_size_t size)
{
    int err = init_common(mr, name, size, MR_KIND_RAM);
    return err ? err : alloc_ram(mr);
}

int memory_region_init_ram_ptr(MemoryRegion *mr, const char *name, mr_size_t size, void *ptr)
{
    if (!ptr)
        return mr_error(EINVAL, "region '%s': NULL RAM pointer", name ? name : "");
    if (size == 0 || size > (mr_size_t)UINT64_MAX)
        return mr_error(EINVAL, "region '%s': RAM size must be 1 .. 2^64-1 bytes",
                        name ? name : "");
    int err = init_common(mr, name, size, MR_KIND_RAM);
    if (err)
        return err;
    mr->ram = ptr;
    mr->ram_len = (uint64_t)size;
    return 0;
}

int memory_region_init_rom(MemoryRegion *mr, const char *name, mr_size_t size)
{
    int err = memory_region_init_ram(mr, name, size);
    if (!err)
        mr->readonly = true;
    return err;
}

int memory_region_init_rom_device(MemoryRegion *mr, const MemoryRegionOps *ops, void *opaque,
                                  const char *name, mr_size_t size)
{
    int err = init_common(mr, name, size, MR_KIND_ROMD);
    if (err)
        return err;
    err = alloc_ram(mr);
    if (err)
        return err;
    mr->ops = ops;
    mr->opaque = opaque;
    mmio_ops_set(mr);
    mr->romd_mode = true;
    return 0;
}

int memory_region_init_io(MemoryRegion *mr, const MemoryRegionOps *ops, void *opaque,
                          const char *name, mr_size_t size)
{
    int err = init_common(mr, name, size, MR_KIND_MMIO);
    if (err)
        return err;
    mr->ops = ops;
    mr->opaque = opaque;
    mmio_ops_set(mr);
    return 0;
}

int memory_region_init_alias(MemoryRegion *mr, const char *name, MemoryRegion *orig, hwaddr offset,
                             mr_size_t size)
{
    if (!orig || orig->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "alias '%s': target is not an initialised region",
                        name ? name : "");
    if (orig == mr)
        return mr_error(ELOOP, "alias '%s': an alias cannot target itself", name ? name : "");
    if ((mr_size_t)offset + size > MR_SIZE_2_64)
        return mr_error(EINVAL, "alias '%s': offset + size passes 2^64", name ? name : "");
    int err = init_common(mr, name, size, MR_KIND_ALIAS);
    if (err)
        return err;
    mr->alias = orig;
    mr->alias_end = orig->kind == MR_KIND_ALIAS ? orig->alias_end : orig;
    mr->alias_offset = offset;
    mr_writer_lock();
    mr->alias_user_next = orig->alias_users;
    orig->alias_users = mr;
    damage_topology();
    mr_writer_unlock();
    return 0;
}

/* ---- teardown ---------------------------------------------------------------- */

static void unlink_alias_user(MemoryRegion *mr)
{
    MemoryRegion **pp = &mr->alias->alias_users;
    while (*pp != mr)
        pp = &(*pp)->alias_user_next;
    *pp = mr->alias_user_next;
}

static int region_destroy(MemoryRegion *mr);

int memory_region_destroy(MemoryRegion *mr)
{
    /* It waits for readers and for other threads' callbacks: not inside a
     * read section of the caller's (read_section.c). */
    mr_section_suspend(MR_SUSPEND_DESTROY);
    int err = region_destroy(mr);
    mr_section_resume();
    return err;
}

static int region_destroy(MemoryRegion *mr)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "memory_region_destroy: region is not initialised");
    if (callrec_in_callback_of(mr))
        return mr_error(EDEADLK, "region '%s': cannot be destroyed from its own callback",
                        mr->name);

    mr_writer_lock();
    int err = 0;
    if (mr->container)
        err = mr_error(EBUSY, "region '%s' is still mapped in '%s'", mr->name, mr->container->name);
    else if (mr->as_users)
        err = mr_error(EBUSY, "region '%s' is the root of an address space", mr->name);
    else if (mr->alias_users)
        err = mr_error(EBUSY, "region '%s' is the target of alias '%s'", mr->name,
                       mr->alias_users->name);
    else if (__atomic_load_n(&mr->dma_maps, __ATOMIC_ACQUIRE))
        err = mr_error(EBUSY, "region '%s' has live DMA mappings (address_space_unmap them first)",
                       mr->name);
    else if (damage_removal_pending(mr) || mr->view_slot)
        err = mr_error(EBUSY,
                       "region '%s' is still visible in a published view "
                       "(commit the transaction that removed it first)",
                       mr->name);
    bool in_tx = commit_in_transaction();
    if (!err && in_tx && mr->was_visible) {
        /* Inside a transaction we may not wait for callbacks: one may be
         * blocked on the writer lock we hold. */
        synchronize_rcu();
        if (callrec_busy(mr))
            err = mr_error(EBUSY,
                           "region '%s' has callbacks running on other threads; "
                           "destroy it outside the transaction",
                           mr->name);
    }
    if (err) {
        mr_writer_unlock();
        return err;
    }
    /* Unreachable from every root now: children can be detached silently. */
    for (MemoryRegion *c = mr->subregions, *next; c; c = next) {
        next = c->sibling_next;
        c->container = NULL;
        c->sibling_next = c->sibling_prev = NULL;
        c->ix_left = c->ix_right = NULL;
    }
    mr->subregions = NULL;
    mr->ix_root = NULL;
    mr->nr_subregions = 0;
    if (mr->ext)
        ((RegionExt *)mr->ext)->nr_groups = 0;
    if (mr->kind == MR_KIND_ALIAS)
        unlink_alias_user(mr);
    damage_topology();
    mr_writer_unlock();

    if (mr->was_visible && !in_tx) {
        /* Readers that found it in a retired view finish first. */
        synchronize_rcu();
        callrec_wait_idle(mr);
    }
    /* A DMA mapping taken while it was still visible ends first (dma.h). */
    while (__atomic_load_n(&mr->dma_maps, __ATOMIC_ACQUIRE))
        sched_yield();
    if (mr->kind == MR_KIND_IOMMU)
        iommu_free(mr);
    region_ext_free(mr);
    if (mr->ram_mmapped)
        munmap(mr->ram, (size_t)mr->ram_len);
    free(mr->name);
    memset(mr, 0, sizeof(*mr));
    return 0;
}

/* ---- attribute setters ------------------------------------------------------ */

static int check_init(const MemoryRegion *mr, const char *fn)
{
    if (!mr || mr->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "%s: region is not initialised", fn);
    return 0;
}

/* The body of a setter: check that @mr is initialised, then run @body inside
 * an implicit transaction (the writer lock held). @body makes the change and
 * calls the change-tracking function it needs itself; to refuse, it sets
 * err_ to an mr_error() value. The setter returns err_. */
#define MR_SETTER(mr, body)                                                                        \
    do {                                                                                           \
        int err_ = check_init(mr, __func__);                                                       \
        if (err_)                                                                                  \
            return err_;                                                                           \
        memory_region_transaction_begin();                                                         \
        body;                                                                                      \
        memory_region_transaction_commit();                                                        \
        return err_;                                                                               \
    } while (0)

int memory_region_set_enabled(MemoryRegion *mr, bool enabled)
{
    MR_SETTER(
        mr, if (mr->enabled != enabled) {
            mr->enabled = enabled;
            if (enabled && (err_ = loops_check(mr, false)))
                mr->enabled = false; /* an alias loop would pass its bounds */
            else
                damage_region(mr);
        });
}

int memory_region_set_readonly(MemoryRegion *mr, bool readonly)
{
    MR_SETTER(
        mr, if (mr->readonly != readonly) {
            mr->readonly = readonly;
            damage_region(mr);
        });
}

int memory_region_set_nonvolatile(MemoryRegion *mr, bool nonvolatile)
{
    MR_SETTER(
        mr, if (mr->nonvolatile != nonvolatile) {
            mr->nonvolatile = nonvolatile;
            damage_region(mr);
        });
}

int memory_region_rom_device_set_romd(MemoryRegion *mr, bool romd_mode)
{
    MR_SETTER(
        mr,
        if (mr->kind != MR_KIND_ROMD) {
            err_ = mr_error(EINVAL, "region '%s' is not a ROM device", mr->name);
        } else if (mr->romd_mode != romd_mode) {
            mr->romd_mode = romd_mode;
            damage_region(mr);
        });
}

int memory_region_set_alias_offset(MemoryRegion *mr, hwaddr offset)
{
    MR_SETTER(
        mr,
        if (mr->kind != MR_KIND_ALIAS) {
            err_ = mr_error(EINVAL, "region '%s' is not an alias", mr->name);
        } else if ((mr_size_t)offset + mr->size > MR_SIZE_2_64) {
            err_ = mr_error(EINVAL, "alias '%s': offset + size passes 2^64", mr->name);
        } else if (mr->alias_offset != offset) {
            hwaddr old = mr->alias_offset;
            mr->alias_offset = offset;
            if ((err_ = loops_check(mr, false)))
                mr->alias_offset = old; /* an alias loop would pass its bounds */
            else
                damage_region(mr);
        });
}

static int check_size(const MemoryRegion *mr, mr_size_t size)
{
    if (size > MR_SIZE_2_64)
        return mr_error(EINVAL, "region '%s': size exceeds 2^64", mr->name);
    if (mr->ram && (size == 0 || size > mr->ram_len))
        return mr_error(EINVAL, "region '%s': RAM size must stay within 1 .. %llu bytes", mr->name,
                        (unsigned long long)mr->ram_len);
    if (mr->container && (mr_size_t)mr->addr + size > MR_SIZE_2_64)
        return mr_error(EINVAL, "region '%s': address + size passes 2^64", mr->name);
    if (mr->kind == MR_KIND_ALIAS && (mr_size_t)mr->alias_offset + size > MR_SIZE_2_64)
        return mr_error(EINVAL, "alias '%s': offset + size passes 2^64", mr->name);
    return 0;
}

int memory_region_set_size(MemoryRegion *mr, mr_size_t size)
{
    int err = check_init(mr, __func__);
    if (err)
        return err;
    memory_region_transaction_begin();
    err = check_size(mr, size);
    if (!err && size > mr->size) {
        mr_size_t old = mr->size;
        mr->size = size; /* tried before the child index learns it */
        err = loops_check(mr, false);
        mr->size = old;
    }
    if (!err && mr->size != size) {
        mr_size_t old = mr->size;
        MemoryRegion *parent = mr->container;
        if (parent)
            child_index_remove(parent, mr); /* its end is part of the index */
        mr->size = size;
        if (parent)
            child_index_insert(parent, mr);
        damage_struct(mr);
        damage_range(mr, 0, MR_MAX(old, size));
    }
    memory_region_transaction_commit();
    return err;
}

int memory_region_set_reentrancy_guard(MemoryRegion *mr, bool on)
{
    MR_SETTER(mr, mr->reentrancy_guard_off = !on);
}

/* ---- accessors ----------------------------------------------------------------- */

const char *memory_region_name(const MemoryRegion *mr)
{
    return mr->name;
}
MemoryRegionKind memory_region_kind(const MemoryRegion *mr)
{
    return mr->kind;
}
mr_size_t memory_region_size(const MemoryRegion *mr)
{
    return mr->size;
}
hwaddr memory_region_addr(const MemoryRegion *mr)
{
    return mr->addr;
}
int32_t memory_region_priority(const MemoryRegion *mr)
{
    return mr->priority;
}
bool memory_region_is_enabled(const MemoryRegion *mr)
{
    return mr->enabled;
}
bool memory_region_is_readonly(const MemoryRegion *mr)
{
    return mr->readonly;
}
MemDeviceEndian memory_region_endianness(const MemoryRegion *mr)
{
    return mr->ops ? mr->ops->endianness : DEVICE_LITTLE_ENDIAN;
}
bool memory_region_is_nonvolatile(const MemoryRegion *mr)
{
    return mr->nonvolatile;
}
bool memory_region_is_ram(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM;
}
bool memory_region_is_rom(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_RAM && mr->readonly;
}
bool memory_region_is_romd(const MemoryRegion *mr)
{
    return mr->kind == MR_KIND_ROMD && mr->romd_mode;
}
MemoryRegion *memory_region_container(const MemoryRegion *mr)
{
    return mr->container;
}
MemoryRegion *memory_region_alias_target(const MemoryRegion *mr)
{
    return mr->alias;
}
hwaddr memory_region_alias_offset(const MemoryRegion *mr)
{
    return mr->alias_offset;
}
MemoryRegion *memory_region_first_subregion(const MemoryRegion *mr)
{
    return mr->subregions;
}
MemoryRegion *memory_region_next_sibling(const MemoryRegion *mr)
{
    return mr->sibling_next;
}

void *memory_region_get_ram_ptr(const MemoryRegion *mr)
{
    mr_size_t offset = 0;
    while (mr->kind == MR_KIND_ALIAS) {
        offset += mr->alias_offset;
        mr = mr->alias;
    }
    if (!mr->ram || offset >= mr->ram_len)
        return NULL;
    return mr->ram + (uint64_t)offset;
}
