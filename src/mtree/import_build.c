/*
 * Import stage 6, build (import.h): regions and address spaces made with
 * the public API from the decided objects, and their teardown.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* ---- stage 6: build with the library ---------------------------------------------- */

static uint64_t placeholder_read(void *opaque, hwaddr addr, unsigned size)
{
    (void)opaque, (void)addr, (void)size;
    return 0;
}

static void placeholder_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    (void)opaque, (void)addr, (void)data, (void)size;
}

/* Ops of imported MMIO and ROM-device regions: reads 0, writes ignored. */
static const MemoryRegionOps placeholder_ops = {
    .read = placeholder_read,
    .write = placeholder_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

static int lib_fail(Parser *p, const Node *n, const char *what, int rc)
{
    import_error(p->err, n->line, false, "region '%s': %s failed: %s", n->name, what,
                 memregion_last_error()[0] ? memregion_last_error() : strerror(-rc));
    return rc;
}

/* Address spaces in creation order: `memory`, `I/O`, then as they appear. */
static int space_rank(const char *name)
{
    return strcmp(name, "memory") == 0 ? 0 : strcmp(name, "I/O") == 0 ? 1 : 2;
}

static int build_spaces(MtreeImport *imp)
{
    Parser *p = &imp->p;
    size_t n = 0;
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (p->blocks[b].is_as)
            n += p->blocks[b].nnames;
    imp->spaces = calloc(n ? n : 1, sizeof(AddressSpace *));
    if (!imp->spaces)
        return -ENOMEM;
    for (int rank = 0; rank < 3; rank++) {
        for (uint32_t b = 0; b < p->nblocks; b++) {
            const Block *bl = &p->blocks[b];
            if (!bl->is_as)
                continue;
            for (uint32_t k = 0; k < bl->nnames; k++) {
                if (space_rank(bl->names[k]) != rank)
                    continue;
                AddressSpace *as = calloc(1, sizeof(*as));
                if (!as)
                    return -ENOMEM;
                MemoryRegion *root = p->objs[p->node_obj[bl->root]].mr;
                int rc = address_space_init(as, root, bl->names[k]);
                if (rc) {
                    free(as);
                    import_error(p->err, bl->line, false, "address space '%s': %s", bl->names[k],
                                 memregion_last_error());
                    return rc;
                }
                imp->spaces[imp->nspaces++] = as;
            }
        }
    }
    return 0;
}

static int build_regions(MtreeImport *imp)
{
    Parser *p = &imp->p;
    uint64_t ram = 0;
    int rc = 0;
    imp->regions = calloc(p->nobjs ? p->nobjs : 1, sizeof(MemoryRegion *));
    if (!imp->regions)
        return -ENOMEM;
    /* Non-aliases first: aliases need initialised targets. */
    for (uint32_t i = 0; i < p->nobjs && !rc; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias)
            continue;
        if (n->type != T_IO) {
            if (o->size > p->max_ram || ram + (uint64_t)o->size > p->max_ram) {
                import_error(p->err, n->line, false,
                             "region '%s': RAM over the import's limit of %" PRIu64 " bytes",
                             n->name, p->max_ram);
                return -E2BIG;
            }
            ram += (uint64_t)o->size;
        }
        o->mr = calloc(1, sizeof(MemoryRegion));
        if (!o->mr)
            return -ENOMEM;
        imp->regions[i] = o->mr;
        switch (n->type) {
        case T_RAM:
        case T_RAMD:
            rc = memory_region_init_ram(o->mr, n->name, o->size);
            break;
        case T_ROM:
            rc = memory_region_init_rom(o->mr, n->name, o->size);
            break;
        case T_ROMD:
            rc = memory_region_init_rom_device(o->mr, &placeholder_ops, NULL, n->name, o->size);
            break;
        default:
            if (o->terminates)
                rc = memory_region_init_io(o->mr, &placeholder_ops, NULL, n->name, o->size);
            else
                rc = memory_region_init(o->mr, n->name, o->size);
        }
        if (rc) {
            free(o->mr);
            o->mr = imp->regions[i] = NULL;
            return lib_fail(p, n, "initialisation", rc);
        }
        o->inited = true;
    }
    /* Aliases once their targets exist: follow each chain to a region that
     * exists, then initialise back along it. Every alias once: O(n). */
    int32_t *chain = malloc((p->nobjs ? p->nobjs : 1) * sizeof(int32_t));
    bool *on_chain = calloc(p->nobjs ? p->nobjs : 1, sizeof(bool));
    if (!chain || !on_chain) {
        free(chain);
        free(on_chain);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < p->nobjs && !rc; i++) {
        uint32_t len = 0;
        int32_t j = (int32_t)i;
        while (!p->objs[j].inited && !on_chain[j]) {
            mtree_step();
            on_chain[j] = true;
            chain[len++] = j;
            j = p->objs[j].target; /* not initialised: an alias, so it has a target */
        }
        if (!p->objs[j].inited) {
            const Node *n = &p->nodes[p->objs[j].rep];
            import_error(p->err, n->line, false, "alias '%s': its targets form a cycle", n->name);
            rc = -ELOOP;
            break;
        }
        while (len > 0 && !rc) {
            Obj *o = &p->objs[chain[--len]];
            const Node *n = &p->nodes[o->rep];
            o->mr = calloc(1, sizeof(MemoryRegion));
            if (!o->mr) {
                rc = -ENOMEM;
                break;
            }
            imp->regions[chain[len]] = o->mr;
            rc =
                memory_region_init_alias(o->mr, n->name, p->objs[o->target].mr, n->tstart, o->size);
            if (rc) {
                free(o->mr);
                o->mr = imp->regions[chain[len]] = NULL;
                rc = lib_fail(p, n, "alias initialisation", rc);
                break;
            }
            o->inited = true;
        }
    }
    free(chain);
    free(on_chain);
    if (rc)
        return rc;
    imp->nregions = p->nobjs;
    /* Attributes, then the tree. */
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (o->parent < 0) {
            if (n->prio && (rc = memory_region_set_priority(o->mr, n->prio)))
                return lib_fail(p, n, "setting the priority", rc);
            if (o->addr && (rc = memory_region_set_address(o->mr, o->addr)))
                return lib_fail(p, n, "setting the address", rc);
        }
        if (n->disabled && (rc = memory_region_set_enabled(o->mr, false)))
            return lib_fail(p, n, "disabling", rc);
        if (n->is_alias && o->readonly && (rc = memory_region_set_readonly(o->mr, true)))
            return lib_fail(p, n, "marking read-only", rc);
        if (n->nv && (rc = memory_region_set_nonvolatile(o->mr, true)))
            return lib_fail(p, n, "marking non-volatile", rc);
    }
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        for (uint32_t k = 0; k < o->nkids; k++) {
            Obj *c = &p->objs[o->kids[k]];
            const Node *cn = &p->nodes[c->rep];
            rc = memory_region_add_subregion_overlap(o->mr, c->addr, c->mr, cn->prio);
            if (rc)
                return lib_fail(p, cn, "mapping", rc);
            c->mapped = true;
        }
    }
    return 0;
}

int build_import(MtreeImport *imp)
{
    Parser *p = &imp->p;
    unsigned pairs = 0;
    for (uint32_t i = 0; i < p->nobjs; i++) {
        int rc = facts_order_kids(p, &p->objs[i], &pairs);
        if (rc)
            return rc;
    }
    p->counts.decided[MTREE_FACT_TIE] = pairs;
    memory_region_transaction_begin();
    int rc = build_regions(imp);
    if (!rc)
        rc = build_spaces(imp);
    memory_region_transaction_commit();
    if (rc == -ENOMEM && p->err && !p->err->message[0])
        import_error(p->err, 0, false, "out of memory");
    return rc;
}

/* Undo build_import(): address spaces, the tree, then regions (aliases first). */
void build_teardown(MtreeImport *imp)
{
    Parser *p = &imp->p;
    /* One transaction: one commit for all the address spaces. */
    memory_region_transaction_begin();
    for (size_t i = imp->nspaces; i-- > 0;) {
        address_space_destroy(imp->spaces[i]);
        free(imp->spaces[i]);
    }
    memory_region_transaction_commit();
    free(imp->spaces);
    imp->spaces = NULL;
    imp->nspaces = 0;
    memory_region_transaction_begin();
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        if (o->mapped) {
            memory_region_del_subregion(p->objs[o->parent].mr, o->mr);
            o->mapped = false;
        }
    }
    memory_region_transaction_commit();
    /* An alias goes before its target: count the live aliases onto each
     * object, destroy those with none, releasing their targets. */
    uint32_t *refs = calloc(p->nobjs ? p->nobjs : 1, sizeof(uint32_t));
    int32_t *work = malloc((p->nobjs ? p->nobjs : 1) * sizeof(int32_t));
    if (refs && work) {
        uint32_t nwork = 0;
        for (uint32_t i = 0; i < p->nobjs; i++)
            if (p->objs[i].inited && p->objs[i].target >= 0)
                refs[p->objs[i].target]++;
        for (uint32_t i = 0; i < p->nobjs; i++)
            if (p->objs[i].inited && !refs[i])
                work[nwork++] = (int32_t)i;
        while (nwork) {
            Obj *o = &p->objs[work[--nwork]];
            if (memory_region_destroy(o->mr) != 0)
                continue; /* still used by the caller: leaked, see the header */
            free(o->mr);
            o->mr = NULL;
            o->inited = false;
            if (o->target >= 0 && --refs[o->target] == 0 && p->objs[o->target].inited)
                work[nwork++] = o->target;
        }
    }
    free(refs);
    free(work);
    free(imp->regions);
    imp->regions = NULL;
    imp->nregions = 0;
}
