/*
 * Printing region trees and flat views in QEMU's `info mtree` formats, and
 * resolving one address to its region path.
 *
 * The tree printer follows QEMU 7.2's mtree_print_mr(): a region line is
 * `START-END (prio P, TYPE): BODY`, START absolute within its block, END
 * inclusive (START for a 0-byte region), siblings sorted by address, then
 * priority, then list order. Every alias met queues its target for a
 * `memory-region:` block. The flat printer prints the library's own views.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../grow.h"
#include "../ptrset.h"
#include "common.h"

/* "Inclusive size": what QEMU adds to a start to print the end. */
static uint64_t incl_size(mr_size_t size)
{
    return size ? (uint64_t)(size - 1) : 0;
}

uint64_t mtree_steps_taken;

uint64_t mtree_stat_steps(void)
{
    return __atomic_load_n(&mtree_steps_taken, __ATOMIC_RELAXED);
}

const char *mtree_region_type(const MemoryRegion *mr)
{
    /* Where an alias chain ends is fixed when the alias is made: O(1)
     * (alias_end, a read-only field of MemoryRegion). */
    if (mr && memory_region_kind(mr) == MR_KIND_ALIAS)
        mr = mr->alias_end;
    if (!mr)
        return "i/o";
    if (memory_region_is_romd(mr))
        return "romd";
    if (memory_region_is_rom(mr))
        return "rom";
    if (memory_region_is_ram(mr))
        return "ram";
    return "i/o";
}

/* ---- a growable array of pointers ----------------------------------------- */

typedef struct PtrList {
    void **v;
    size_t n, cap;
} PtrList;

/* Push that reports running out of memory instead of aborting. */
static int list_push(PtrList *l, void *p)
{
    void *v = l->v;
    if (mr_grow_array(&v, &l->cap, l->n + 1, sizeof(*l->v), 16))
        return -ENOMEM;
    l->v = v;
    l->v[l->n++] = p;
    return 0;
}

typedef struct KeyIdx {
    const void *key;
    size_t i;
} KeyIdx;

static int keyidx_cmp(const void *a, const void *b)
{
    const KeyIdx *x = a, *y = b;
    if (x->key != y->key)
        return (uintptr_t)x->key < (uintptr_t)y->key ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Group @n items by @keys[i]: next[i] is the next item with the same key
 * (SIZE_MAX at the end) and first[i] says whether i is its key's first item.
 * O(n log n).
 */
static int group_by_key(const void *const *keys, size_t n, size_t *next, bool *first)
{
    KeyIdx *k = malloc((n ? n : 1) * sizeof(*k));
    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        k[i] = (KeyIdx){keys[i], i};
    qsort(k, n, sizeof(*k), keyidx_cmp);
    for (size_t j = 0; j < n; j++) {
        first[k[j].i] = j == 0 || k[j - 1].key != k[j].key;
        next[k[j].i] = j + 1 < n && k[j + 1].key == k[j].key ? k[j + 1].i : SIZE_MAX;
    }
    free(k);
    return 0;
}

/* ---- tree format ---------------------------------------------------------- */

typedef struct TreePrinter {
    FILE *out;
    bool disabled; /* print disabled regions */
    PtrList queue; /* alias targets to print as memory-region blocks */
    PtrSet queued; /* the same, for lookups */
    int err;
} TreePrinter;

typedef struct Child {
    MemoryRegion *mr;
    size_t index; /* list position: keeps equal keys in list order */
} Child;

static int child_cmp(const void *a, const void *b)
{
    const Child *x = a, *y = b;
    hwaddr ax = memory_region_addr(x->mr), ay = memory_region_addr(y->mr);
    if (ax != ay)
        return ax < ay ? -1 : 1;
    int32_t px = memory_region_priority(x->mr), py = memory_region_priority(y->mr);
    if (px != py)
        return px > py ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void print_indent(FILE *out, unsigned level)
{
    for (unsigned i = 0; i < level; i++)
        fputs("  ", out);
}

static void print_region(TreePrinter *tp, MemoryRegion *mr, unsigned level, hwaddr base)
{
    if (tp->err)
        return;
    mtree_step();
    FILE *out = tp->out;
    hwaddr start = base + memory_region_addr(mr);
    hwaddr end = start + incl_size(memory_region_size(mr));
    bool enabled = memory_region_is_enabled(mr);
    const char *nv = memory_region_is_nonvolatile(mr) ? "nv-" : "";

    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        MemoryRegion *target = memory_region_alias_target(mr);
        int added = ptrset_add(&tp->queued, target);
        if (added < 0 || (added && list_push(&tp->queue, target))) {
            tp->err = -ENOMEM;
            return;
        }
    }
    if (enabled || tp->disabled) {
        print_indent(out, level);
        if (start < base || end < start)
            fputs("[DETECTED OVERFLOW!] ", out);
        fprintf(out, "%016" PRIx64 "-%016" PRIx64 " (prio %" PRId32 ", %s%s): ", start, end,
                memory_region_priority(mr), nv, mtree_region_type(mr));
        if (memory_region_kind(mr) == MR_KIND_ALIAS) {
            hwaddr off = memory_region_alias_offset(mr);
            fprintf(out, "alias %s @%s %016" PRIx64 "-%016" PRIx64, memory_region_name(mr),
                    memory_region_name(memory_region_alias_target(mr)), off,
                    off + incl_size(memory_region_size(mr)));
        } else {
            fputs(memory_region_name(mr), out);
        }
        fputs(enabled ? "\n" : " [disabled]\n", out);
    }

    size_t n = 0;
    for (MemoryRegion *c = memory_region_first_subregion(mr); c; c = memory_region_next_sibling(c))
        n++;
    if (!n)
        return;
    Child *kids = malloc(n * sizeof(*kids));
    if (!kids) {
        tp->err = -ENOMEM;
        return;
    }
    size_t i = 0;
    for (MemoryRegion *c = memory_region_first_subregion(mr); c; c = memory_region_next_sibling(c))
        kids[i] = (Child){c, i}, i++;
    qsort(kids, n, sizeof(*kids), child_cmp);
    for (i = 0; i < n; i++)
        print_region(tp, kids[i].mr, level + 1, start);
    free(kids);
}

/* The address spaces to print: @spaces, or all of them. */
static int collect_spaces(AddressSpace *const *spaces, size_t nr, PtrList *out)
{
    if (spaces) {
        for (size_t i = 0; i < nr; i++)
            if (spaces[i] && list_push(out, spaces[i]))
                return -ENOMEM;
        return 0;
    }
    for (AddressSpace *as = address_space_next(NULL); as; as = address_space_next(as))
        if (list_push(out, as))
            return -ENOMEM;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    const AddressSpace *x = *(AddressSpace *const *)a, *y = *(AddressSpace *const *)b;
    return strcmp(address_space_name(x), address_space_name(y));
}

int mtree_print_tree(FILE *out, AddressSpace *const *spaces, size_t nr, unsigned flags)
{
    if (!out)
        return -EINVAL;
    TreePrinter tp = {.out = out, .disabled = flags & MTREE_PRINT_DISABLED};
    PtrList all = {0}, keys = {0}, group = {0};
    size_t *next = NULL;
    bool *first = NULL;

    memory_region_transaction_begin(); /* the writer lock: an empty transaction */
    int err = collect_spaces(spaces, nr, &all);
    /* One block per distinct root, in order of first appearance. */
    for (size_t i = 0; !err && i < all.n; i++)
        err = list_push(&keys, address_space_root(all.v[i]));
    if (!err) {
        next = malloc((all.n ? all.n : 1) * sizeof(*next));
        first = malloc((all.n ? all.n : 1) * sizeof(*first));
        err =
            next && first ? group_by_key((const void *const *)keys.v, all.n, next, first) : -ENOMEM;
    }
    for (size_t r = 0; !err && r < all.n; r++) {
        if (!first[r])
            continue;
        group.n = 0;
        for (size_t i = r; !err && i != SIZE_MAX; i = next[i])
            err = list_push(&group, all.v[i]);
        if (err)
            break;
        /* QEMU sorts the names of one block with strcmp. */
        qsort(group.v, group.n, sizeof(void *), name_cmp);
        for (size_t i = 0; i < group.n; i++)
            fprintf(out, "address-space: %s\n", address_space_name(group.v[i]));
        print_region(&tp, keys.v[r], 1, 0);
        fputc('\n', out);
        err = tp.err;
    }
    /* The queue grows while it is printed: targets inside targets. */
    for (size_t q = 0; !err && q < tp.queue.n; q++) {
        MemoryRegion *mr = tp.queue.v[q];
        fprintf(out, "memory-region: %s\n", memory_region_name(mr));
        print_region(&tp, mr, 1, 0);
        fputc('\n', out);
        err = tp.err;
    }
    (void)memory_region_transaction_commit();

    free(all.v);
    free(keys.v);
    free(group.v);
    free(next);
    free(first);
    free(tp.queue.v);
    ptrset_free(&tp.queued);
    if (!err && ferror(out))
        err = -EIO;
    return err;
}

/* ---- flat format ---------------------------------------------------------- */

int mtree_format_range(char *buf, size_t size, const FlatRange *fr)
{
    MemoryRegion *mr = fr->mr;
    char off[24] = "";
    if (fr->offset_in_region)
        snprintf(off, sizeof(off), " @%016" PRIx64, fr->offset_in_region);
    return snprintf(buf, size, "%016" PRIx64 "-%016" PRIx64 " (prio %" PRId32 ", %s%s): %s%s",
                    fr->addr, fr->addr + incl_size(fr->size), memory_region_priority(mr),
                    fr->nonvolatile ? "nv-" : "", fr->readonly ? "rom" : mtree_region_type(mr),
                    memory_region_name(mr), off);
}

static int print_range(FILE *out, const FlatRange *fr)
{
    char buf[256];
    int n = mtree_format_range(buf, sizeof(buf), fr);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(buf)) {
        fprintf(out, "  %s\n", buf);
        return 0;
    }
    char *big = malloc((size_t)n + 1); /* a long region name */
    if (!big)
        return -ENOMEM;
    mtree_format_range(big, (size_t)n + 1, fr);
    fprintf(out, "  %s\n", big);
    free(big);
    return 0;
}

int mtree_print_flat(FILE *out, AddressSpace *const *spaces, size_t nr, unsigned flags)
{
    (void)flags;
    if (!out)
        return -EINVAL;
    PtrList all = {0}, views = {0};

    memory_region_transaction_begin(); /* the writer lock: an empty transaction */
    int err = collect_spaces(spaces, nr, &all);
    /* views.v[i] is the view of all.v[i]: one reference each. */
    for (size_t i = 0; !err && i < all.n; i++) {
        FlatView *fv = address_space_get_flatview(all.v[i]);
        err = list_push(&views, fv);
        if (err && fv)
            flatview_unref(fv);
    }
    size_t *next = NULL;
    bool *first = NULL;
    if (!err) {
        next = malloc((all.n ? all.n : 1) * sizeof(*next));
        first = malloc((all.n ? all.n : 1) * sizeof(*first));
        err = next && first ? group_by_key((const void *const *)views.v, all.n, next, first)
                            : -ENOMEM;
    }
    unsigned counter = 0;
    for (size_t i = 0; !err && i < all.n; i++) {
        FlatView *fv = views.v[i];
        if (!first[i])
            continue;
        fprintf(out, "FlatView #%u\n", counter++);
        for (size_t j = i; j != SIZE_MAX; j = next[j]) {
            MemoryRegion *root = address_space_root(all.v[j]);
            fprintf(out, " AS \"%s\", root: %s", address_space_name(all.v[j]),
                    memory_region_name(root));
            if (memory_region_kind(root) == MR_KIND_ALIAS)
                fprintf(out, ", alias %s", memory_region_name(memory_region_alias_target(root)));
            fputc('\n', out);
        }
        MemoryRegion *fvroot = fv ? flatview_root(fv) : NULL;
        fprintf(out, " Root memory region: %s\n", fvroot ? memory_region_name(fvroot) : "(none)");
        size_t n = fv ? flatview_nr_ranges(fv) : 0;
        if (!n)
            fputs("  No rendered FlatView\n", out);
        for (size_t k = 0; k < n && !err; k++)
            err = print_range(out, flatview_range(fv, k));
        fputc('\n', out);
    }
    for (size_t i = 0; i < views.n; i++)
        if (views.v[i])
            flatview_unref(views.v[i]);
    (void)memory_region_transaction_commit();

    free(all.v);
    free(views.v);
    free(next);
    free(first);
    if (!err && ferror(out))
        err = -EIO;
    return err;
}

/* ---- resolving an address -------------------------------------------------- */

/*
 * Walk the tree the way rendering does, for one address: a disabled region
 * or one whose clipped window misses @addr shows nothing; an alias shows its
 * target; children in list order, the first that shows something wins; a
 * terminating region shows itself where its children show nothing.
 * Returns the terminating region and sets *@off, or NULL.
 */
static MemoryRegion *walk(MemoryRegion *mr, mtree_int128 base, mr_size_t lo, mr_size_t hi,
                          mr_size_t addr, hwaddr *off, MtreePath *path, unsigned depth)
{
    if (!memory_region_is_enabled(mr) || depth > 4096)
        return NULL;
    mtree_int128 wlo, whi;
    base += memory_region_addr(mr);
    if (!mtree_window(base, memory_region_size(mr), lo, hi, &wlo, &whi) ||
        (mtree_int128)addr < wlo || (mtree_int128)addr >= whi)
        return NULL;

    size_t saved = path->depth;
    if (path->depth < MTREE_PATH_MAX)
        path->regions[path->depth++] = mr;
    else
        path->truncated = true;

    MemoryRegion *found = NULL;
    if (memory_region_kind(mr) == MR_KIND_ALIAS) {
        found = walk(memory_region_alias_target(mr), mtree_alias_base(mr, base), (mr_size_t)wlo,
                     (mr_size_t)whi, addr, off, path, depth + 1);
    } else {
        for (MemoryRegion *c = memory_region_first_subregion(mr); c && !found;
             c = memory_region_next_sibling(c))
            found = walk(c, base, (mr_size_t)wlo, (mr_size_t)whi, addr, off, path, depth + 1);
        MemoryRegionKind k = memory_region_kind(mr);
        if (!found &&
            (k == MR_KIND_RAM || k == MR_KIND_ROMD || k == MR_KIND_MMIO || k == MR_KIND_IOMMU)) {
            found = mr;
            *off = (hwaddr)((mtree_int128)addr - base);
        }
    }
    if (!found)
        path->depth = saved;
    return found;
}

int mtree_resolve(AddressSpace *as, hwaddr addr, FlatRange *range, MtreePath *path)
{
    if (!as || !range || !path)
        return -EINVAL;
    FlatRange fr;
    if (!address_space_find_range(as, addr, &fr))
        return -ENOENT;
    *range = fr;
    memset(path, 0, sizeof(*path));

    memory_region_transaction_begin(); /* the writer lock: an empty transaction */
    /* The view is rendered from the AS root (or a region below it that
     * renders identically), so walking from the AS root finds the same
     * winner unless the map changed since find_range. */
    hwaddr off = 0;
    MemoryRegion *mr = walk(address_space_root(as), 0, 0, MR_SIZE_2_64, addr, &off, path, 0);
    (void)memory_region_transaction_commit();

    if (mr != fr.mr || off != fr.offset_in_region + (addr - fr.addr)) {
        path->depth = 0;
        path->truncated = false;
        return -ESRCH;
    }
    return 0;
}
