/*
 * The mtree importer's stages, private to src/mtree/. mtree_import()
 * (import.c) runs them in this order on one Parser; each stage returns 0 or
 * a negative errno with p->err filled (import_error()), and the first
 * failure ends the import. Like the rest of src/mtree/, the stages use the
 * public API only.
 *
 * Invariant of every stage: nothing is allocated in proportion to anything
 * but the input size, and the input is capped (line length, depth, counts,
 * total bytes: the MAX_* limits below); the work is O(n log n) in the size
 * of the dump, counted with mtree_step() (mtree_stat_steps()).
 *
 * Thread rules: a Parser belongs to one import on one thread. The stages
 * keep no state outside it (sort comparators get it through qsort_r()), so
 * imports on different threads are independent; stages 5 and 6 change the
 * map only through the public API, which serialises them with other writers.
 *
 * 1. parse (import_parse.c)
 *    parse_tree()          in:  the tree dump's text.
 *                          out: p->nodes, one per region line, in print
 *                               order, linked to their parent and children
 *                               (depth from the indentation), and p->blocks:
 *                               address-space blocks (header names, root)
 *                               and memory-region blocks (name, root).
 *                          invariants: a node's children come after it; a
 *                               block's nodes are contiguous; only syntax
 *                               and limits are judged (START <= END unless
 *                               marked [DETECTED OVERFLOW!], nesting, the
 *                               dump's last block closed or p->truncated).
 *    parse_index_names()   out: p->mr_sorted, p->name_id: memory-region
 *                               block names sorted for parse_find_block().
 *    parse_split_bodies()  out: each node's name, and for an alias its
 *                               target name and target window.
 *    parse_flat()          in:  a flat dump's text (stage 5's input).
 *                          out: a Flat: blocks of sorted, disjoint ranges.
 * 2. identify (import_identify.c)
 *    identify_hash_nodes(), identify_objects()
 *                          in:  the parsed nodes.
 *                          out: node.uf, a union-find over nodes: nodes in
 *                               one class are one region printed in several
 *                               places (a subtree printed under each of its
 *                               container's appearances, an address-space
 *                               root that is also an alias target).
 *                          invariants: candidates are nodes with the
 *                               same printed subtree (p->shape); a class
 *                               never holds two address-space roots or two
 *                               memory-region block roots.
 * 3. alias targets (import_identify.c)
 *    identify_make_objects() out: p->objs, one Obj per class, with its
 *                               container, address, size, children in print
 *                               order (pkids), p->node_obj and
 *                               p->mr_block_obj.
 *    identify_aliases()    out: Obj.target of every alias, by replaying
 *                               QEMU's alias queue; refuses a dump whose
 *                               aliases name no block.
 * 4. facts (import_facts.c)
 *    facts_decide()        out: Obj.terminates, readonly and the size of a
 *                               START=END point, by the rules of
 *                               docs/mtree.md, except facts the flat dump
 *                               fixed (Obj.fixed).
 *    facts_count()         out: p->counts.decided.
 *    facts_order_kids()    out: Obj.kids, the insertion order of children
 *                               that makes the library's sibling list
 *                               reproduce the dump (fact 4, ties); called
 *                               by build_import().
 * 5. facts from a flat dump (import_facts.c), only with facts_text
 *    facts_from_flat()     in:  the flat dump, which must name the tree's
 *                               address spaces and roots.
 *                          out: rounds (at most MAX_FACT_ROUNDS) of build,
 *                               compare each view with the flat dump, fix
 *                               the facts it contradicts (Obj.fixed,
 *                               p->ties, p->flat_log), tear down and decide
 *                               again; ends built, as after stage 6.
 *                          invariant: only the four facts change.
 * 6. build (import_build.c)
 *    build_import()        in:  the decided objects.
 *                          out: imp->regions (one per object, object
 *                               order) and imp->spaces, made with the
 *                               public API in one transaction.
 *    build_teardown()      undoes build_import(), also after a partial
 *                          build.
 */
#ifndef MEMREGION_MTREE_IMPORT_H
#define MEMREGION_MTREE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define MAX_TEXT           (256u << 20)
#define MAX_LINE           65536u
#define MAX_DEPTH          64u
#define MAX_NODES          1000000u
#define MAX_BLOCKS         65536u
#define MAX_HEADERS        1000000u
#define MAX_TIE_PAIRS      4000000u
#define MAX_FACT_ROUNDS    24
#define MAX_CANDIDATE_SCAN 256
#define DEFAULT_MAX_RAM    (64ull << 30)
#define GIB4               ((mr_size_t)1 << 32)
#define MIN128(a, b)       ((a) < (b) ? (a) : (b))

/* The type word of a region line (Node.type, FRange.type). */
enum { T_RAM, T_ROM, T_ROMD, T_RAMD, T_IO };
/* The words themselves, indexed by T_* (import_parse.c). */
extern const char *const type_words[];

/* One printed region line (stage 1). */
typedef struct Node {
    uint32_t line;
    uint32_t depth;
    uint8_t type;
    bool nv, disabled, overflow, is_alias, synthetic;
    uint64_t start, end;
    int32_t prio;
    char *body;   /* owned: text after "): " without " [disabled]" */
    char *name;   /* owned: region name */
    char *target; /* owned, aliases: target name */
    uint64_t tstart, tend;
    int32_t parent, first_child, last_child, next_sibling;
    uint32_t nkids;
    int32_t block;
    uint64_t hash;
    int32_t uf; /* union-find parent */
} Node;

/* One block: `address-space:` header lines, or a `memory-region:` header (stage 1). */
typedef struct Block {
    bool is_as;
    uint32_t line;
    char **names;
    uint32_t nnames, cap;
    int32_t root;
} Block;

/* One region object of the dump. */
typedef struct Obj {
    int32_t rep;    /* representative node */
    int32_t parent; /* container object or -1 */
    int32_t target; /* alias target object or -1 */
    hwaddr addr;
    mr_size_t size;
    bool point;                /* printed START = END: 0 or 1 byte (fact 3) */
    bool terminates;           /* fact 1 (non-alias i/o) */
    bool readonly;             /* fact 2 (aliases): the alias itself is read-only */
    bool fixed[MTREE_FACT_NR]; /* decided by the flat dump: never changed again */
    int fixed_round;           /* the round of facts_from_flat() that fixed a fact, or -1 */
    int32_t *pkids;            /* children in print order */
    int32_t *kids;             /* children in insertion order (order_kids()) */
    uint32_t nkids;
    int32_t as_root;  /* an address-space block has this root (block index) or -1 */
    bool is_target;   /* has a `memory-region:` block: an alias's target (its alias
                       * line may be left out of a dump without -D) */
    bool io_root;     /* root of the address space named `I/O` */
    bool mem_root;    /* root of the address space named `memory` */
    bool windowed;    /* the target of an alias that shows only part of it */
    MemoryRegion *mr; /* built region */
    bool inited, mapped;
} Obj;

/* A forced tie decision from the flat dump: @winner wins over @loser. */
typedef struct TieForce {
    int32_t winner, loser;
} TieForce;

/* The state of one import, filled stage by stage (see the top of this file). */
typedef struct Parser {
    Node *nodes;
    uint32_t nnodes, capnodes;
    Block *blocks;
    uint32_t nblocks, capblocks;
    uint32_t nheaders;
    Obj *objs;
    uint32_t nobjs;
    int32_t *node_obj;     /* node -> object */
    int32_t *mr_block_obj; /* per block: object of the block root */
    TieForce *ties;
    uint32_t nties, capties;
    unsigned flags;
    uint64_t max_ram;
    MtreeError *err;
    MtreeFactCounts counts;
    char **flat_log;
    uint32_t nflat_log, capflat_log;
    int round; /* current round of facts_from_flat() */
    /* memory-region: block names, sorted, for lookups by name */
    int32_t *mr_sorted; /* block indices sorted by (name, index) */
    uint32_t nmr_sorted;
    int32_t *name_id; /* per block: id of its name among distinct names, -1 for AS blocks */
    uint32_t nname_ids;
    bool truncated; /* the input does not end with the empty line closing a block */
    bool saw_flat;  /* FlatView blocks (`info mtree -f`) were skipped */
    int32_t *shape; /* per node: id of its printed subtree (compute_shapes()) */
    uint32_t nshapes;
} Parser;

/* What mtree_import() returns: the parser state and what stage 6 built. */
struct MtreeImport {
    Parser p;
    AddressSpace **spaces; /* owned structs */
    size_t nspaces;
    MemoryRegion **regions; /* objects' regions, in object order */
    size_t nregions;
};

/* One range line of a flat dump (parse_flat()). */
typedef struct FRange {
    uint64_t start, end; /* inclusive end */
    uint8_t type;
    bool nv;
    char *name;
    uint64_t off;
} FRange;

/* One `FlatView #N` block: its address spaces, their roots, its ranges. */
typedef struct FBlock {
    char **as;
    char **roots; /* per address space: the root named on its ` AS` line */
    uint32_t nas, capas, caproots;
    FRange *r;
    uint32_t nr, capr;
    uint32_t line;
} FBlock;

/* A parsed flat dump. */
typedef struct Flat {
    FBlock *b;
    uint32_t nb, capb;
} Flat;

/* ---- shared helpers (import.c) ---------------------------------------------- */

/* Fill @err (when not NULL): @line (0: none), in the flat dump or not, and
 * the message; err->code becomes -EINVAL unless a code is already set. */
void import_error(MtreeError *err, unsigned line, bool in_facts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Make room for element @n of an array of 32-bit capacity *@cap; false when
 * out of memory (the array is kept). */
bool import_grow(void **v, uint32_t *cap, uint32_t n, size_t elem);

/* ---- stage 1: parse (import_parse.c) ------------------------------------------- */

int parse_tree(Parser *p, const char *text, size_t len);
int parse_index_names(Parser *p);
/* Name id of the memory-region: block named @name (@len bytes), or -1. */
int32_t parse_find_block(const Parser *p, const char *name, size_t len);
int parse_split_bodies(Parser *p);
int parse_flat(Parser *p, const char *text, size_t len, Flat *f);
void parse_flat_free(Flat *f);

/* ---- stages 2 and 3: identify (import_identify.c) ------------------------------ */

void identify_hash_nodes(Parser *p);
int identify_objects(Parser *p);
int identify_make_objects(Parser *p);
int identify_aliases(Parser *p);

/* ---- stages 4 and 5: facts (import_facts.c) ------------------------------------ */

void facts_decide(Parser *p);
void facts_count(Parser *p);
int facts_order_kids(Parser *p, Obj *o, unsigned *pairs);
int facts_from_flat(MtreeImport *imp, const char *text, size_t len);

/* ---- stage 6: build (import_build.c) ------------------------------------------- */

int build_import(MtreeImport *imp);
void build_teardown(MtreeImport *imp);

#endif /* MEMREGION_MTREE_IMPORT_H */
