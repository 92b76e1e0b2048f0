/*
 * Address spaces: creation and destruction, and the reader-side view
 * accessors. Commits live in commit.c.
 */
#include <stdlib.h>
#include <string.h>

#include "region_tree.h"
#include "globals.h"
#include "view.h"
#include "commit.h"
#include "access_path.h"
#include "listeners.h"

/* ---- address spaces ------------------------------------------------------------ */

int address_space_init(AddressSpace *as, MemoryRegion *root, const char *name)
{
    if (!as || !root || root->kind == MR_KIND_NONE)
        return mr_error(EINVAL, "address_space_init: NULL or uninitialised root");
    char *copy = strdup(name ? name : "");
    if (!copy)
        return mr_error(ENOMEM, "address_space_init: out of memory");
    memset(as, 0, sizeof(*as));
    as->name = copy;
    as->root = root;
    memory_region_transaction_begin();
    root->as_users++;
    as->prev = mr_ws.as_tail;
    if (mr_ws.as_tail)
        mr_ws.as_tail->next = as;
    else
        mr_ws.as_head = as;
    mr_ws.as_tail = as;
    damage_as_attach(as);
    memory_region_transaction_commit();
    return 0;
}

void address_space_destroy(AddressSpace *as)
{
    if (!as || !as->root)
        return;
    /* It waits for readers: not inside a read section of the caller's. */
    mr_section_suspend(MR_SUSPEND_DESTROY);
    memory_region_transaction_begin();
    listener_remove_all(as);
    overlap_as_forget(as);
    if (as->prev)
        as->prev->next = as->next;
    else
        mr_ws.as_head = as->next;
    if (as->next)
        as->next->prev = as->prev;
    else
        mr_ws.as_tail = as->prev;
    as->root->as_users--;
    commit_as_detach(as); /* its view root may be unused now */
    memory_region_transaction_commit();
    /* Readers inside this address space finish before the caller frees it. */
    synchronize_rcu();
    dma_map_as_free(as);
    free(as->name);
    memset(as, 0, sizeof(*as));
    mr_section_resume();
}

AddressSpace *address_space_next(const AddressSpace *as)
{
    return as ? as->next : mr_ws.as_head;
}

const char *address_space_name(const AddressSpace *as)
{
    return as->name;
}

MemoryRegion *address_space_root(const AddressSpace *as)
{
    return as->root;
}

void address_space_set_unassigned_value(AddressSpace *as, uint8_t byte)
{
    __atomic_store_n(&as->unassigned_byte, byte, __ATOMIC_RELAXED);
}

/* ---- reader side ------------------------------------------------------------------ */

FlatView *address_space_get_flatview(AddressSpace *as)
{
    rcu_read_lock();
    for (;;) {
        FlatView *fv = as_view(as);
        if (fv == flatview_empty())
            break;
        unsigned long n = __atomic_load_n(&fv->refcount, __ATOMIC_RELAXED);
        /* Take a reference unless the view is already being retired. */
        while (n && !__atomic_compare_exchange_n(&fv->refcount, &n, n + 1, false, __ATOMIC_ACQUIRE,
                                                 __ATOMIC_RELAXED))
            ;
        if (n) {
            rcu_read_unlock();
            return fv;
        }
    }
    rcu_read_unlock();
    return flatview_empty();
}

bool address_space_find_range(AddressSpace *as, hwaddr addr, FlatRange *out)
{
    rcu_read_lock();
    const FlatRange *fr = flatview_lookup_fast(as_view(as), addr);
    if (fr)
        *out = *fr;
    rcu_read_unlock();
    return fr != NULL;
}
