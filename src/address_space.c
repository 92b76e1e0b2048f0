/*
 * Address spaces, the writer lock, transactions and commits.
 *
 * Change tracking: a mutator calls mr_note_change(region), which stamps the
 * region and everything that renders it (containers up to the roots, and
 * aliases onto any of them) with the generation of the pending commit. At
 * the outermost commit, an address space keeps its view when the view was
 * rendered from the same flat-view root at or after that root's last
 * change; otherwise it takes the view another address space rendered from
 * the same root in this commit, or renders one. So commits cost what
 * changed, and spaces with the same root share one view.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t writer_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static unsigned lock_depth;      /* recursion depth of writer_lock (owner only) */
static unsigned tx_depth;        /* open transactions */
static bool update_pending;      /* some view may have changed */
static bool committing;          /* inside do_commit: defer nested commits */
static uint32_t current_gen = 1; /* generation of the last commit */
static AddressSpace *as_head, *as_tail;
static uint64_t stat_renders;

void mr_writer_lock(void)
{
    pthread_mutex_lock(&writer_lock);
    lock_depth++;
}

void mr_writer_unlock(void)
{
    lock_depth--;
    pthread_mutex_unlock(&writer_lock);
}

bool mr_in_transaction(void)
{
    /* Only meaningful to the lock owner, which is the only caller. */
    return tx_depth > 0;
}

void mr_stat_count_render(void)
{
    stat_renders++;
}

uint64_t memregion_stat_renders(void)
{
    mr_writer_lock();
    uint64_t n = stat_renders;
    mr_writer_unlock();
    return n;
}

/* ---- change tracking ----------------------------------------------------- */

void mr_note_change(MemoryRegion *mr)
{
    uint32_t pending = current_gen + 1;
    update_pending = true;
    /* Iterative walk over containers; recursion only for alias fan-out. */
    while (mr && mr->changed_gen != pending) {
        mr->changed_gen = pending;
        for (MemoryRegion *a = mr->alias_users; a; a = a->alias_user_next)
            mr_note_change(a);
        mr = mr->container;
    }
}

/* ---- commit ------------------------------------------------------------------ */

static bool view_is_current(const FlatView *fv, const MemoryRegion *root)
{
    if (fv == NULL || fv->root != root)
        return false;
    if (root == NULL)
        return true;
    return fv->render_gen >= root->changed_gen;
}

/* Append to a growable array of pointers. */
static void push_ptr(void ***arr, size_t *nr, size_t *cap, void *p)
{
    if (*nr == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *arr = realloc(*arr, *cap * sizeof(**arr));
        if (!*arr)
            abort();
    }
    (*arr)[(*nr)++] = p;
}

/*
 * Give every address space its view for the new generation. Each
 * as->current_map holds one reference; root->commit_view is a borrowed
 * pointer, valid during this function, to the view of that root.
 */
static void do_commit(void)
{
    current_gen++;
    void **seeded = NULL;
    size_t nr_seeded = 0, cap_seeded = 0;

    /* Pass 1: remember every view that is still current, keyed by its root,
     * so that pass 2 shares it instead of rendering a copy. */
    for (AddressSpace *as = as_head; as; as = as->next) {
        MemoryRegion *root = flatview_root_of(as->root);
        if (root && !root->commit_view && view_is_current(as->current_map, root)) {
            root->commit_view = as->current_map;
            push_ptr(&seeded, &nr_seeded, &cap_seeded, root);
        }
    }

    /* Pass 2: publish each changed view, then tell the listeners. */
    void **old_views = NULL;
    size_t nr_old = 0, cap_old = 0;
    for (AddressSpace *as = as_head; as; as = as->next) {
        MemoryRegion *root = flatview_root_of(as->root);
        FlatView *fv;
        if (!root) {
            fv = flatview_empty();
        } else if (root->commit_view) {
            fv = root->commit_view;
            if (fv == as->current_map)
                continue;
            flatview_ref(fv);
        } else {
            fv = render_view(root); /* its one reference goes to this AS */
            fv->render_gen = current_gen;
            root->commit_view = fv;
            push_ptr(&seeded, &nr_seeded, &cap_seeded, root);
        }
        FlatView *old = as->current_map;
        if (old == fv)
            continue;
        rcu_assign_pointer(as->current_map, fv);
        listeners_notify(as, old ? old : flatview_empty(), fv);
        push_ptr(&old_views, &nr_old, &cap_old, old);
    }
    for (size_t i = 0; i < nr_seeded; i++)
        ((MemoryRegion *)seeded[i])->commit_view = NULL;
    /* Old views go after every listener ran: regions stay counted until then. */
    for (size_t i = 0; i < nr_old; i++)
        flatview_unref(old_views[i]);
    free(seeded);
    free(old_views);
}

void memory_region_transaction_begin(void)
{
    mr_writer_lock();
    tx_depth++;
}

void memory_region_transaction_commit(void)
{
    if (--tx_depth == 0 && !committing) {
        committing = true;
        /* A listener may change the map; that change commits right after. */
        while (update_pending) {
            update_pending = false;
            do_commit();
        }
        committing = false;
    }
    mr_writer_unlock();
}

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
    as->prev = as_tail;
    if (as_tail)
        as_tail->next = as;
    else
        as_head = as;
    as_tail = as;
    update_pending = true;
    memory_region_transaction_commit();
    return 0;
}

void address_space_destroy(AddressSpace *as)
{
    if (!as || !as->root)
        return;
    memory_region_transaction_begin();
    listeners_remove_all(as);
    if (as->prev)
        as->prev->next = as->next;
    else
        as_head = as->next;
    if (as->next)
        as->next->prev = as->prev;
    else
        as_tail = as->prev;
    as->root->as_users--;
    FlatView *old = as->current_map;
    rcu_assign_pointer(as->current_map, NULL);
    memory_region_transaction_commit();
    /* Readers inside this address space finish before the caller frees it. */
    synchronize_rcu();
    flatview_unref(old);
    free(as->name);
    memset(as, 0, sizeof(*as));
}

AddressSpace *address_space_next(const AddressSpace *as)
{
    return as ? as->next : as_head;
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
        FlatView *fv = rcu_dereference(as->current_map);
        if (!fv) {
            fv = flatview_empty();
            break;
        }
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
    FlatView *fv = rcu_dereference(as->current_map);
    const FlatRange *fr = fv ? flatview_lookup_fast(fv, addr) : NULL;
    if (fr)
        *out = *fr;
    rcu_read_unlock();
    return fr != NULL;
}
