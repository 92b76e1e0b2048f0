/*
 * Importing QEMU `info mtree` tree dumps: parse, identify region objects,
 * decide what the dump does not say, and rebuild with the public API.
 *
 * Stages (each a section below):
 *  1. parse the tree text into blocks of nodes (one node per printed line);
 *  2. identify objects: lines printed in several places (an address-space
 *     root that is also an alias target, a subtree printed under each of
 *     its containers' appearances) are one region;
 *  3. resolve alias targets by replaying QEMU's alias queue;
 *  4. decide the four missing facts by the rules of docs/mtree.md;
 *  5. optionally let a flat dump overrule them: only those four facts,
 *     each by its documented rule (docs/mtree.md, --facts-from);
 *  6. build regions and address spaces with the library.
 *
 * Invariant: nothing is allocated in proportion to anything but the input
 * size, and the input is capped (line length, depth, counts, total bytes).
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../grow.h"
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

enum { T_RAM, T_ROM, T_ROMD, T_RAMD, T_IO };
static const char *const type_words[] = {"ram", "rom", "romd", "ramd", "i/o"};

/* ---- errors ------------------------------------------------------------------ */

static void set_err(MtreeError *err, unsigned line, bool in_facts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(MtreeError *err, unsigned line, bool in_facts, const char *fmt, ...)
{
    if (!err)
        return;
    err->line = line;
    err->in_facts = in_facts;
    if (!err->code)
        err->code = -EINVAL; /* the input; out of memory and file errors say so */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* ---- data ------------------------------------------------------------------- */

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

struct MtreeImport {
    Parser p;
    AddressSpace **spaces; /* owned structs */
    size_t nspaces;
    MemoryRegion **regions; /* objects' regions, in object order */
    size_t nregions;
};

/* ---- small helpers ------------------------------------------------------------ */

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool parse_hex16(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* Parse a signed decimal int32 at *s, advancing it. */
static bool parse_int32(const char **s, int32_t *out)
{
    const char *p = *s;
    bool neg = false;
    if (*p == '-')
        neg = true, p++;
    if (*p < '0' || *p > '9')
        return false;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return false;
        p++;
    }
    if (neg)
        v = -v;
    if (v > INT32_MAX || v < INT32_MIN)
        return false;
    *out = (int32_t)v;
    *s = p;
    return true;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

/* Iterate over lines: returns false at the end. Strips "\r\n". */
typedef struct LineIter {
    const char *p, *end;
    unsigned lineno;
} LineIter;

static int next_line(LineIter *it, const char **line, size_t *len)
{
    if (it->p >= it->end)
        return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *e = nl ? nl : it->end;
    *line = it->p;
    *len = (size_t)(e - it->p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    it->p = nl ? nl + 1 : it->end;
    it->lineno++;
    if (*len > MAX_LINE)
        return -1;
    return 1;
}

/*
 * A line of an HMP monitor session around the dump: the banner, or a prompt
 * with the command echoed (docs/mtree.md, capturing a dump).
 */
static bool monitor_noise(const char *line, size_t n)
{
    if (starts_with(line, n, "(qemu)"))
        return true;
    static const char banner[] = " monitor - type 'help' for more information";
    size_t k = sizeof(banner) - 1;
    return starts_with(line, n, "QEMU ") && n >= k && memcmp(line + n - k, banner, k) == 0;
}

/*
 * Make room for element @n of an array of capacity *@cap (32-bit counts:
 * the input limits keep them far below 2^31), doubling from 8 with the
 * library's growth helper (../grow.h). False when out of memory (the array
 * is kept); callers report -ENOMEM.
 */
static bool grow(void **v, uint32_t *cap, uint32_t n, size_t elem)
{
    size_t c = *cap;
    if (mr_grow_array(v, &c, (size_t)n + 1, elem, 8) || c > UINT32_MAX)
        return false;
    *cap = (uint32_t)c;
    return true;
}

/* ---- stage 1: parse the tree dump ---------------------------------------------- */

static int32_t new_node(Parser *p)
{
    if (p->nnodes >= MAX_NODES)
        return -1;
    if (!grow((void **)&p->nodes, &p->capnodes, p->nnodes, sizeof(*p->nodes)))
        return -2;
    Node *n = &p->nodes[p->nnodes];
    memset(n, 0, sizeof(*n));
    n->parent = n->first_child = n->last_child = n->next_sibling = -1;
    n->uf = (int32_t)p->nnodes;
    return (int32_t)p->nnodes++;
}

/* A new block; NULL when out of memory (the caller checked MAX_BLOCKS). */
static Block *new_block(Parser *p, bool is_as, unsigned line)
{
    if (!grow((void **)&p->blocks, &p->capblocks, p->nblocks, sizeof(*p->blocks)))
        return NULL;
    Block *b = &p->blocks[p->nblocks++];
    memset(b, 0, sizeof(*b));
    b->is_as = is_as;
    b->line = line;
    b->root = -1;
    return b;
}

static int block_add_name(Block *b, const char *s, size_t n)
{
    if (!grow((void **)&b->names, &b->cap, b->nnames, sizeof(*b->names)))
        return -ENOMEM;
    char *d = xstrndup(s, n);
    if (!d)
        return -ENOMEM;
    b->names[b->nnames++] = d;
    return 0;
}

static void link_child(Parser *p, int32_t parent, int32_t child)
{
    Node *pn = &p->nodes[parent];
    p->nodes[child].parent = parent;
    if (pn->last_child >= 0)
        p->nodes[pn->last_child].next_sibling = child;
    else
        pn->first_child = child;
    pn->last_child = child;
    pn->nkids++;
}

/*
 * Parse one region line (without its indentation) into @n.
 * Returns NULL or a reason.
 */
static const char *parse_region_line(const char *s, size_t len, Node *n)
{
    char buf[64];
    const char *end = s + len;
    static const char ovf[] = "[DETECTED OVERFLOW!] ";
    if ((size_t)(end - s) >= sizeof(ovf) - 1 && memcmp(s, ovf, sizeof(ovf) - 1) == 0) {
        n->overflow = true;
        s += sizeof(ovf) - 1;
    }
    if (end - s < 33 + 7 || s[16] != '-')
        return "expected START-END (16 hex digits each)";
    if (!parse_hex16(s, &n->start) || !parse_hex16(s + 17, &n->end))
        return "expected START-END (16 lower-case hex digits each)";
    if (n->end < n->start && !n->overflow)
        return "END is below START (QEMU prints such a line only with [DETECTED OVERFLOW!])";
    s += 33;
    if (end - s < 7 || memcmp(s, " (prio ", 7) != 0)
        return "expected ' (prio ' after the address range";
    s += 7;
    /* parse_int32 needs a terminated string: copy the number. */
    size_t k = 0;
    while (s + k < end && k < sizeof(buf) - 1 && (s[k] == '-' || (s[k] >= '0' && s[k] <= '9')))
        k++;
    memcpy(buf, s, k);
    buf[k] = 0;
    const char *q = buf;
    if (!parse_int32(&q, &n->prio) || *q)
        return "bad priority (a signed 32-bit decimal)";
    s += k;
    if (end - s < 2 || memcmp(s, ", ", 2) != 0)
        return "expected ', ' after the priority";
    s += 2;
    if (end - s >= 3 && memcmp(s, "nv-", 3) == 0)
        n->nv = true, s += 3;
    int type = -1;
    for (int t = 0; t < 5 && type < 0; t++) {
        size_t w = strlen(type_words[t]);
        if ((size_t)(end - s) >= w + 3 && memcmp(s, type_words[t], w) == 0 &&
            memcmp(s + w, "): ", 3) == 0) {
            type = t;
            s += w + 3;
        }
    }
    if (type < 0)
        return "expected a type (ram, rom, romd, ramd or i/o) followed by '): '";
    n->type = (uint8_t)type;
    size_t blen = (size_t)(end - s);
    static const char dis[] = " [disabled]";
    if (blen >= sizeof(dis) - 1 && memcmp(end - (sizeof(dis) - 1), dis, sizeof(dis) - 1) == 0) {
        n->disabled = true;
        blen -= sizeof(dis) - 1;
    }
    if (blen && s[blen - 1] == '}' &&
        (memmem(s, blen, " owner:{", 8) || memmem(s, blen, " parent:{", 9)))
        return "owners (`info mtree -o` or -Do) are not supported: capture `info mtree -D` "
               "without -o";
    n->body = xstrndup(s, blen);
    if (!n->body)
        return "out of memory";
    return NULL;
}

/*
 * In a dump without -D, is @line (one level below @prev) rather the child of
 * a left-out disabled sibling of @prev? Yes when @prev is an alias (aliases
 * have no subregions) or @line starts outside @prev's range (docs/mtree.md).
 */
static bool hidden_sibling(const Node *prev, const Node *line)
{
    size_t len = strlen(prev->body);
    uint64_t t;
    bool alias = len > 6 + 34 && memcmp(prev->body, "alias ", 6) == 0 &&
                 prev->body[len - 34] == ' ' && parse_hex16(prev->body + len - 33, &t);
    if (alias)
        return true;
    /* Only the start tells: QEMU lets a subregion reach past its container's
     * end (rendering clips it; powernv10's xive.esb-emulated). */
    return !prev->overflow && !line->overflow &&
           (line->start < prev->start || line->start > prev->end);
}

static int parse_tree(Parser *p, const char *text, size_t len)
{
    LineIter it = {text, text + len, 0};
    const char *line;
    size_t n;
    Block *cur = NULL;
    int32_t stack[MAX_DEPTH + 2];
    uint32_t sdepth = 0; /* stack[0..sdepth-1]: nodes at depth 1..sdepth */
    int r;
    /* A dump where nothing is marked disabled may be `info mtree` without
     * -D, which leaves disabled regions' lines out. */
    bool no_disabled = !memmem(text, len, " [disabled]", 11);
    bool skip_flat = false; /* inside a FlatView block of a monitor session */

    while ((r = next_line(&it, &line, &n)) != 0) {
        unsigned ln = it.lineno;
        if (r < 0) {
            set_err(p->err, ln, false, "line longer than %u bytes", MAX_LINE);
            return -EINVAL;
        }
        if (monitor_noise(line, n))
            continue;
        if (!cur && starts_with(line, n, "FlatView #"))
            skip_flat = p->saw_flat = true; /* `info mtree -f` output in the same session */
        if (skip_flat) {
            skip_flat = n != 0;
            continue;
        }
        if (n == 0) {
            if (cur && cur->root < 0) {
                set_err(p->err, ln, false, "block has a header but no region line");
                return -EINVAL;
            }
            cur = NULL;
            continue;
        }
        if (starts_with(line, n, "address-space: ") || starts_with(line, n, "memory-region: ")) {
            bool is_as = line[0] == 'a';
            if (++p->nheaders > MAX_HEADERS) {
                set_err(p->err, ln, false, "more than %u block headers", MAX_HEADERS);
                return -EINVAL;
            }
            if (cur && cur->root >= 0) {
                set_err(p->err, ln, false, "header inside a block (blocks end with an empty line)");
                return -EINVAL;
            }
            if (cur && (!is_as || !cur->is_as)) {
                set_err(p->err, ln, false, "a memory-region: header must start a block of its own");
                return -EINVAL;
            }
            if (!cur) {
                if (p->nblocks >= MAX_BLOCKS) {
                    set_err(p->err, ln, false, "too many blocks (limit %u)", MAX_BLOCKS);
                    return -EINVAL;
                }
                cur = new_block(p, is_as, ln);
                if (!cur) {
                    set_err(p->err, ln, false, "out of memory");
                    return -ENOMEM;
                }
            }
            if (block_add_name(cur, line + 15, n - 15)) {
                set_err(p->err, ln, false, "out of memory");
                return -ENOMEM;
            }
            sdepth = 0;
            continue;
        }
        if (line[0] != ' ') {
            set_err(p->err, ln, false,
                    "expected 'address-space: ', 'memory-region: ', a region line or an empty "
                    "line");
            return -EINVAL;
        }
        if (!cur) {
            set_err(p->err, ln, false, "region line outside a block (no header before it)");
            return -EINVAL;
        }
        size_t sp = 0;
        while (sp < n && line[sp] == ' ')
            sp++;
        if (sp % 2) {
            set_err(p->err, ln, false, "odd indentation (two spaces per level)");
            return -EINVAL;
        }
        uint32_t depth = (uint32_t)(sp / 2);
        if (depth > MAX_DEPTH) {
            set_err(p->err, ln, false, "nested deeper than %u levels", MAX_DEPTH);
            return -EINVAL;
        }
        if (depth == 1 && cur->root >= 0) {
            set_err(p->err, ln, false, "a second root line in one block");
            return -EINVAL;
        }
        Node tmp;
        memset(&tmp, 0, sizeof(tmp));
        const char *why = parse_region_line(line + sp, n - sp, &tmp);
        if (why) {
            free(tmp.body);
            set_err(p->err, ln, false, "%s", why);
            return -EINVAL;
        }
        /* QEMU marks a line [DETECTED OVERFLOW!] exactly when its range wrapped past
         * 2^64: its END is below its START, or its START below its parent's (the
         * nearest printed ancestor: a stand-in for a missing level starts there). */
        uint32_t up = depth >= 2 && sdepth ? MIN128(depth - 2, sdepth - 1) : 0;
        bool wrapped =
            tmp.end < tmp.start || (depth >= 2 && sdepth && tmp.start < p->nodes[stack[up]].start);
        if (tmp.overflow && !wrapped) {
            free(tmp.body);
            set_err(p->err, ln, false,
                    "marked [DETECTED OVERFLOW!] but its range does not pass 2^64 (QEMU marks "
                    "only a range whose END is below its START or whose START is below its "
                    "parent's)");
            return -EINVAL;
        }
        if (depth <= sdepth + 1) {
            if (no_disabled && depth >= 3 && hidden_sibling(&p->nodes[stack[depth - 2]], &tmp))
                sdepth = depth - 2; /* the line belongs to a hidden sibling */
            else
                sdepth = depth - 1;
        }
        /*
         * A dump without -D leaves out a disabled region's own line but
         * prints its children: stand in a disabled container for each
         * missing level (docs/mtree.md).
         */
        while (sdepth + 1 < depth) {
            int32_t id = new_node(p);
            if (id < 0) {
                free(tmp.body);
                set_err(p->err, ln, false, "more than %u region lines", MAX_NODES);
                return -EINVAL;
            }
            Node *h = &p->nodes[id];
            h->line = ln;
            h->depth = sdepth + 1;
            h->type = T_IO;
            h->disabled = true;
            h->synthetic = true;
            h->block = (int32_t)(cur - p->blocks);
            const char *nm = sdepth == 0 && !cur->is_as ? cur->names[0] : "(hidden)";
            h->body = strdup(nm);
            if (!h->body) {
                free(tmp.body);
                set_err(p->err, ln, false, "out of memory");
                return -ENOMEM;
            }
            if (sdepth == 0) {
                h->start = 0;
                h->end = UINT64_MAX;
                cur->root = id;
            } else {
                Node *par = &p->nodes[stack[sdepth - 1]];
                h->start = par->start;
                h->end = par->end;
                link_child(p, stack[sdepth - 1], id);
            }
            stack[sdepth++] = id;
        }
        int32_t id = new_node(p);
        if (id < 0) {
            free(tmp.body);
            set_err(p->err, ln, false,
                    id == -1 ? "more than 1000000 region lines" : "out of memory");
            return id == -1 ? -EINVAL : -ENOMEM;
        }
        Node *nd = &p->nodes[id];
        tmp.parent = nd->parent;
        tmp.first_child = nd->first_child;
        tmp.last_child = nd->last_child;
        tmp.next_sibling = nd->next_sibling;
        tmp.uf = nd->uf;
        *nd = tmp;
        nd->line = ln;
        nd->depth = depth;
        nd->block = (int32_t)(cur - p->blocks);
        sdepth = depth - 1;
        if (depth == 1)
            cur->root = id;
        else
            link_child(p, stack[depth - 2], id);
        stack[sdepth++] = id;
    }
    p->truncated = cur != NULL || (len && text[len - 1] != '\n');
    if (cur && len && text[len - 1] != '\n') {
        set_err(p->err, it.lineno, false,
                "the dump is truncated: its last line stops without a line end (QEMU ends "
                "every block with an empty line)");
        return -EINVAL;
    }
    if (cur && cur->root < 0) {
        set_err(p->err, it.lineno, false, "the last block has a header but no region line");
        return -EINVAL;
    }
    if (p->nblocks == 0) {
        if (p->saw_flat)
            set_err(p->err, 0, false,
                    "a flat dump (`info mtree -f`: FlatView blocks, no region tree); give the "
                    "tree dump (`info mtree -D`), and the flat dump with --facts-from");
        else
            set_err(p->err, 0, false, "no address-space: or memory-region: block in the input");
        return -EINVAL;
    }
    return 0;
}

static const Parser *sort_parser; /* for name_cmp(): import is writer-side, one at a time */

static int block_name_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int c = strcmp(sort_parser->blocks[x].names[0], sort_parser->blocks[y].names[0]);
    return c ? c : (x > y) - (x < y);
}

/* Index the names of the memory-region: blocks (sorted, with name ids). */
static int index_block_names(Parser *p)
{
    p->mr_sorted = malloc((p->nblocks ? p->nblocks : 1) * sizeof(int32_t));
    p->name_id = malloc((p->nblocks ? p->nblocks : 1) * sizeof(int32_t));
    if (!p->mr_sorted || !p->name_id)
        return -ENOMEM;
    for (uint32_t b = 0; b < p->nblocks; b++) {
        p->name_id[b] = -1;
        if (!p->blocks[b].is_as)
            p->mr_sorted[p->nmr_sorted++] = (int32_t)b;
    }
    sort_parser = p;
    qsort(p->mr_sorted, p->nmr_sorted, sizeof(int32_t), block_name_cmp);
    sort_parser = NULL;
    for (uint32_t i = 0; i < p->nmr_sorted; i++) {
        if (i && strcmp(p->blocks[p->mr_sorted[i]].names[0],
                        p->blocks[p->mr_sorted[i - 1]].names[0]) != 0)
            p->nname_ids++;
        p->name_id[p->mr_sorted[i]] = (int32_t)p->nname_ids;
    }
    if (p->nmr_sorted)
        p->nname_ids++;
    return 0;
}

/* Name id of the memory-region: block named @name (@len bytes), or -1. */
static int32_t find_block_name(const Parser *p, const char *name, size_t len)
{
    uint32_t lo = 0, hi = p->nmr_sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *m = p->blocks[p->mr_sorted[mid]].names[0];
        int c = strncmp(m, name, len);
        if (c == 0 && m[len] != 0)
            c = 1;
        if (c < 0)
            lo = mid + 1;
        else if (c > 0)
            hi = mid;
        else
            return p->name_id[p->mr_sorted[mid]];
    }
    return -1;
}

/*
 * Split bodies into names: `alias NAME @TARGET TSTART-TEND` is an alias.
 * Names may contain ` @`: the split is the first one whose TARGET names a
 * memory-region: block, else the last ` @`.
 */
static int split_bodies(Parser *p)
{
    for (uint32_t i = 0; i < p->nnodes; i++) {
        Node *n = &p->nodes[i];
        const char *b = n->body;
        size_t len = strlen(b);
        bool alias = false;
        if (!n->synthetic && len > 6 + 3 + 34 && memcmp(b, "alias ", 6) == 0 &&
            b[len - 34] == ' ' && b[len - 17] == '-' && parse_hex16(b + len - 33, &n->tstart) &&
            parse_hex16(b + len - 16, &n->tend)) {
            const char *s = b + 6, *e = b + len - 34; /* "NAME @TARGET" */
            const char *pick = NULL, *last = NULL;
            for (const char *q = s; q + 2 <= e; q++) {
                if (q[0] != ' ' || q[1] != '@')
                    continue;
                last = q;
                if (!pick && find_block_name(p, q + 2, (size_t)(e - q - 2)) >= 0)
                    pick = q;
            }
            if (!pick)
                pick = last;
            if (pick) {
                alias = true;
                n->name = xstrndup(s, (size_t)(pick - s));
                n->target = xstrndup(pick + 2, (size_t)(e - pick - 2));
                if (!n->name || !n->target)
                    return -ENOMEM;
            }
        }
        n->is_alias = alias;
        if (!alias) {
            n->name = strdup(b);
            if (!n->name)
                return -ENOMEM;
        }
    }
    return 0;
}

/* ---- stage 2: identify objects ------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix(h, 0x51);
}

static uint64_t rel_start(const Parser *p, const Node *n)
{
    return n->parent >= 0 ? n->start - p->nodes[n->parent].start : n->start;
}

/* Children come after their parents: hash in reverse order. */
static void hash_nodes(Parser *p)
{
    for (uint32_t i = p->nnodes; i-- > 0;) {
        Node *n = &p->nodes[i];
        uint64_t h = hash_str(0xcbf29ce484222325ull, n->body);
        h = mix(h, n->type);
        h = mix(h, (uint64_t)(uint32_t)n->prio);
        h = mix(h, (uint64_t)n->nv | (uint64_t)n->disabled << 1 | (uint64_t)n->overflow << 2);
        h = mix(h, rel_start(p, n));
        h = mix(h, n->end - n->start);
        h = mix(h, n->nkids);
        for (int32_t c = n->first_child; c >= 0; c = p->nodes[c].next_sibling)
            h = mix(h, p->nodes[c].hash);
        n->hash = h;
    }
}

/*
 * Shapes: two nodes have the same shape when their subtrees print
 * identically (docs/mtree.md, objects). Shape ids are given level by level
 * from the leaves up, each level sorted by content, so that comparing two
 * subtrees is comparing two ids. O(n log n) comparisons, each reading one
 * line's fields and its children's ids.
 */
static int shape_content_cmp(const Parser *p, int32_t i, int32_t j)
{
    mtree_step();
    const Node *x = &p->nodes[i], *y = &p->nodes[j];
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    unsigned fx =
        (unsigned)x->type << 3 | (unsigned)x->nv << 2 | (unsigned)x->disabled << 1 | x->overflow;
    unsigned fy =
        (unsigned)y->type << 3 | (unsigned)y->nv << 2 | (unsigned)y->disabled << 1 | y->overflow;
    uint64_t rx = rel_start(p, x), ry = rel_start(p, y);
    uint64_t sx = x->end - x->start, sy = y->end - y->start;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    if (x->nkids != y->nkids)
        return x->nkids < y->nkids ? -1 : 1;
    int c = strcmp(x->body, y->body);
    if (c)
        return c;
    for (int32_t u = x->first_child, v = y->first_child; u >= 0;
         u = p->nodes[u].next_sibling, v = p->nodes[v].next_sibling)
        if (p->shape[u] != p->shape[v])
            return p->shape[u] < p->shape[v] ? -1 : 1;
    return 0;
}

static int shape_sort_cmp(const void *a, const void *b)
{
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    int c = shape_content_cmp(sort_parser, i, j);
    return c ? c : (i > j) - (i < j);
}

static int compute_shapes(Parser *p)
{
    uint32_t n = p->nnodes;
    uint32_t *height = calloc(n ? n : 1, sizeof(uint32_t));
    uint32_t *start = calloc(MAX_DEPTH + 3, sizeof(uint32_t));
    int32_t *order = malloc((n ? n : 1) * sizeof(int32_t));
    p->shape = malloc((n ? n : 1) * sizeof(int32_t));
    if (!height || !start || !order || !p->shape) {
        free(height);
        free(start);
        free(order);
        return -ENOMEM;
    }
    /* Children come after their parents: heights in reverse order. */
    for (uint32_t i = n; i-- > 0;) {
        int32_t par = p->nodes[i].parent;
        if (par >= 0 && height[par] < height[i] + 1)
            height[par] = height[i] + 1;
    }
    for (uint32_t i = 0; i < n; i++)
        start[height[i] + 1]++;
    for (uint32_t h = 0; h <= MAX_DEPTH + 1; h++)
        start[h + 1] += start[h];
    for (uint32_t i = 0; i < n; i++)
        order[start[height[i]]++] = (int32_t)i;
    /* start[h] is now the end of level h. */
    int32_t next_id = 0;
    sort_parser = p;
    for (uint32_t h = 0, lo = 0; h <= MAX_DEPTH && lo < n; h++) {
        uint32_t hi = start[h];
        qsort(order + lo, hi - lo, sizeof(int32_t), shape_sort_cmp);
        for (uint32_t k = lo; k < hi; k++) {
            if (k == lo || shape_content_cmp(p, order[k - 1], order[k]) != 0)
                next_id++;
            p->shape[order[k]] = next_id - 1;
        }
        lo = hi;
    }
    sort_parser = NULL;
    p->nshapes = (uint32_t)next_id;
    free(height);
    free(start);
    free(order);
    return 0;
}

static int32_t uf_find(Parser *p, int32_t x)
{
    while (p->nodes[x].uf != x) {
        p->nodes[x].uf = p->nodes[p->nodes[x].uf].uf;
        x = p->nodes[x].uf;
    }
    return x;
}

/* Per class (at its union-find root): how many block roots of each kind
 * and whether a subregion line belongs to it. */
typedef struct ClassInfo {
    uint32_t as_roots, mr_roots;
    bool has_sub;
    bool stuck;        /* no candidate can be joined to it (see identify()) */
    uint32_t minnode;  /* first node of the class in print order */
    uint32_t minblock; /* first block whose root is in the class, or UINT32_MAX */
} ClassInfo;

/* The kinds of printing a class holds, as bits: two classes may be one
 * object only when they share none (one address-space root, one
 * memory-region: block, one container). */
static unsigned class_kind(const ClassInfo *c)
{
    return (c->as_roots ? 1u : 0u) | (c->mr_roots ? 2u : 0u) | (c->has_sub ? 4u : 0u);
}

/*
 * May the classes of @a and @b be one object? Never two blocks of one kind;
 * and a region has one container: at the top (@top, one of them a block
 * root) both classes may not already be placed under containers. Below the
 * top, the parents are being united too.
 */
static bool can_unite(Parser *p, ClassInfo *ci, int32_t a, int32_t b, bool top)
{
    mtree_step();
    int32_t x = uf_find(p, a), y = uf_find(p, b);
    if (x == y)
        return true;
    if (ci[x].as_roots + ci[y].as_roots > 1 || ci[x].mr_roots + ci[y].mr_roots > 1)
        return false;
    if (top && ci[x].has_sub && ci[y].has_sub)
        return false;
    for (int32_t c = p->nodes[a].first_child, d = p->nodes[b].first_child; c >= 0;
         c = p->nodes[c].next_sibling, d = p->nodes[d].next_sibling)
        if (!can_unite(p, ci, c, d, false))
            return false;
    return true;
}

/* A lazy min-heap of (key, class): entries go stale and are skipped. */
typedef struct HeapEnt {
    uint64_t key;
    int32_t cls;
} HeapEnt;

typedef struct Heap {
    HeapEnt *v;
    uint32_t n, cap;
} Heap;

static int heap_add(Heap *h, uint64_t key, int32_t cls)
{
    mtree_step();
    if (!grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)))
        return -ENOMEM;
    uint32_t i = h->n++;
    while (i && h->v[(i - 1) / 2].key > key) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = (HeapEnt){key, cls};
    return 0;
}

static void heap_drop(Heap *h)
{
    mtree_step();
    HeapEnt last = h->v[--h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].key < h->v[c].key)
            c++;
        if (h->v[c].key >= last.key)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
}

/*
 * Identification state. Per shape that some block root has ("tracked"),
 * and per kind k (class_kind()): the number of classes of that shape and
 * kind, a heap of them by first node (candidates), and a heap of those that
 * hold a block root by first block (the blocks to match). A block root of
 * kind k may join exactly the classes of its shape whose kind shares no bit
 * with k: it has count() candidates, the first in print order on top of the
 * candidate heaps. Two global heaps hold the (shape, kind) groups with one
 * candidate and with several, by first block, so that each step takes the
 * first block in print order with a unique candidate, else the first with
 * several. Every union updates its shape's counters and pushes fresh
 * entries; stale entries are skipped when met.
 */
typedef struct Ident {
    Parser *p;
    ClassInfo *ci;
    int32_t *tracked; /* per shape: index among tracked shapes, or -1 */
    uint32_t ntracked;
    uint32_t *cnt;        /* [tracked * 8 + kind] */
    Heap *cand;           /* [tracked * 8 + kind]: key first node */
    Heap *blocks;         /* [tracked * 8 + kind]: key first block */
    Heap unique, several; /* key: first block << 32 | tracked * 8 + kind */
    int err;
} Ident;

static int32_t ident_top(Ident *id, Heap *h, bool by_block, unsigned kind)
{
    while (h->n) {
        HeapEnt e = h->v[0];
        const ClassInfo *c = &id->ci[e.cls];
        uint64_t key = by_block ? c->minblock : c->minnode;
        if (uf_find(id->p, e.cls) == e.cls && class_kind(c) == kind && key == e.key &&
            !(by_block && c->stuck))
            return e.cls;
        heap_drop(h);
    }
    return -1;
}

static uint32_t ident_count(const Ident *id, uint32_t t, unsigned kind)
{
    uint32_t n = 0;
    for (unsigned k = 0; k < 8; k++)
        if (!(k & kind))
            n += id->cnt[t * 8 + k];
    return n;
}

/* Push the current state of group (@t, @kind) onto the global heaps. */
static void ident_push_group(Ident *id, uint32_t t, unsigned kind)
{
    int32_t top = ident_top(id, &id->blocks[t * 8 + kind], true, kind);
    if (top < 0)
        return;
    uint32_t n = ident_count(id, t, kind);
    if (!n)
        return;
    uint64_t key = (uint64_t)id->ci[top].minblock << 32 | (t * 8 + kind);
    if (heap_add(n == 1 ? &id->unique : &id->several, key, 0))
        id->err = -ENOMEM;
}

/* Enter class @x (a union-find root) into its shape's groups. */
static void ident_enter(Ident *id, int32_t x)
{
    int32_t t = id->tracked[id->p->shape[x]];
    if (t < 0)
        return;
    ClassInfo *c = &id->ci[x];
    unsigned k = class_kind(c);
    id->cnt[t * 8 + k]++;
    if (heap_add(&id->cand[t * 8 + k], c->minnode, x))
        id->err = -ENOMEM;
    if (c->minblock != UINT32_MAX && heap_add(&id->blocks[t * 8 + k], c->minblock, x))
        id->err = -ENOMEM;
}

static void ident_leave(Ident *id, int32_t x)
{
    int32_t t = id->tracked[id->p->shape[x]];
    if (t >= 0)
        id->cnt[t * 8 + class_kind(&id->ci[x])]--;
}

static void unite(Ident *id, int32_t a, int32_t b)
{
    Parser *p = id->p;
    ClassInfo *ci = id->ci;
    mtree_step();
    int32_t x = uf_find(p, a), y = uf_find(p, b);
    if (x != y) {
        ident_leave(id, x);
        ident_leave(id, y);
        p->nodes[y].uf = x;
        ci[x].as_roots += ci[y].as_roots;
        ci[x].mr_roots += ci[y].mr_roots;
        ci[x].has_sub |= ci[y].has_sub;
        ci[x].stuck = false;
        if (ci[y].minnode < ci[x].minnode)
            ci[x].minnode = ci[y].minnode;
        if (ci[y].minblock < ci[x].minblock)
            ci[x].minblock = ci[y].minblock;
        ident_enter(id, x);
        int32_t t = id->tracked[p->shape[x]];
        if (t >= 0)
            for (unsigned k = 0; k < 8; k++)
                ident_push_group(id, (uint32_t)t, k);
    }
    for (int32_t c = p->nodes[a].first_child, d = p->nodes[b].first_child; c >= 0;
         c = p->nodes[c].next_sibling, d = p->nodes[d].next_sibling)
        unite(id, c, d);
}

typedef struct ShapeIdx {
    int32_t shape;
    int32_t node;
} ShapeIdx;

static int shapeidx_cmp(const void *a, const void *b)
{
    const ShapeIdx *x = a, *y = b;
    if (x->shape != y->shape)
        return x->shape < y->shape ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/*
 * The slow path, for a block root whose first candidate by kind cannot be
 * joined because of what lies below (two different memory-region: blocks
 * would become one region): subregion lines and roots of the other block
 * kind of the same shape, checked one by one in print order. Fills @out
 * with one node per distinct class, returns the count. At most
 * MAX_CANDIDATE_SCAN lines are examined.
 */
static uint32_t candidates(Ident *id, const ShapeIdx *idx, uint32_t nidx, int32_t r, int32_t *out,
                           uint32_t max)
{
    Parser *p = id->p;
    uint32_t n = 0;
    const Node *rn = &p->nodes[r];
    bool r_is_as = p->blocks[rn->block].is_as;
    uint32_t lo = 0, hi = nidx;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (idx[mid].shape < p->shape[r])
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo, scanned = 0;
         i < nidx && idx[i].shape == p->shape[r] && n < max && scanned < MAX_CANDIDATE_SCAN;
         i++, scanned++) {
        mtree_step();
        int32_t c = idx[i].node;
        const Node *cn = &p->nodes[c];
        if (c == r || uf_find(p, c) == uf_find(p, r))
            continue;
        if (cn->parent < 0 && p->blocks[cn->block].is_as == r_is_as)
            continue; /* two blocks of one kind are two objects */
        if (!can_unite(p, id->ci, r, c, true))
            continue;
        bool dup = false;
        for (uint32_t k = 0; k < n && !dup; k++)
            dup = uf_find(p, out[k]) == uf_find(p, c);
        if (!dup)
            out[n++] = c;
    }
    return n;
}

/* Pop the first valid group of @h: its block root (returned) and kind. */
static int32_t ident_next(Ident *id, Heap *h, bool unique, uint32_t *t_out, unsigned *k_out)
{
    while (h->n) {
        HeapEnt e = h->v[0];
        heap_drop(h);
        uint32_t g = (uint32_t)(e.key & 0xffffffffu);
        uint32_t t = g / 8;
        unsigned k = g % 8;
        int32_t top = ident_top(id, &id->blocks[g], true, k);
        if (top < 0 || id->ci[top].minblock != e.key >> 32)
            continue;
        uint32_t n = ident_count(id, t, k);
        if (n == 0 || (n == 1) != unique)
            continue;
        *t_out = t;
        *k_out = k;
        return top;
    }
    return -1;
}

static int identify(Parser *p)
{
    int rc = compute_shapes(p);
    if (rc)
        return rc;
    uint32_t n = p->nnodes;
    Ident id = {.p = p};
    id.ci = calloc(n ? n : 1, sizeof(ClassInfo));
    id.tracked = malloc((p->nshapes ? p->nshapes : 1) * sizeof(int32_t));
    ShapeIdx *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!id.ci || !id.tracked || !idx) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t s = 0; s < p->nshapes; s++)
        id.tracked[s] = -1;
    for (uint32_t i = 0; i < n; i++) {
        id.ci[i].has_sub = p->nodes[i].parent >= 0;
        id.ci[i].minnode = i;
        id.ci[i].minblock = UINT32_MAX;
        idx[i] = (ShapeIdx){p->shape[i], (int32_t)i};
    }
    for (uint32_t b = 0; b < p->nblocks; b++) {
        int32_t r = p->blocks[b].root;
        if (p->blocks[b].is_as)
            id.ci[r].as_roots = 1;
        else
            id.ci[r].mr_roots = 1;
        id.ci[r].minblock = b;
        if (id.tracked[p->shape[r]] < 0)
            id.tracked[p->shape[r]] = (int32_t)id.ntracked++;
    }
    qsort(idx, n, sizeof(*idx), shapeidx_cmp);
    id.cnt = calloc((size_t)id.ntracked * 8 + 1, sizeof(uint32_t));
    id.cand = calloc((size_t)id.ntracked * 8 + 1, sizeof(Heap));
    id.blocks = calloc((size_t)id.ntracked * 8 + 1, sizeof(Heap));
    if (!id.cnt || !id.cand || !id.blocks) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        ident_enter(&id, (int32_t)i);
    for (uint32_t t = 0; t < id.ntracked; t++)
        for (unsigned k = 0; k < 8; k++)
            ident_push_group(&id, t, k);
    /*
     * Each step joins the first block (print order) that has exactly one
     * candidate; when none has, the first that has several, to its first
     * candidate (docs/mtree.md). Every step unites two classes or retires
     * one, so there are fewer steps than lines.
     */
    while (!id.err) {
        uint32_t t;
        unsigned k;
        int32_t cls = ident_next(&id, &id.unique, true, &t, &k);
        if (cls < 0)
            cls = ident_next(&id, &id.several, false, &t, &k);
        if (cls < 0)
            break;
        int32_t r = p->blocks[id.ci[cls].minblock].root;
        int32_t first = -1;
        for (unsigned c = 0; c < 8; c++) {
            if (c & k)
                continue;
            int32_t top = ident_top(&id, &id.cand[t * 8 + c], false, c);
            if (top >= 0 && (first < 0 || id.ci[top].minnode < id.ci[first].minnode))
                first = top;
        }
        int32_t cand = first >= 0 ? (int32_t)id.ci[first].minnode : -1;
        if (cand >= 0 && can_unite(p, id.ci, r, cand, true)) {
            unite(&id, cand, r);
            continue;
        }
        int32_t found[2];
        if (candidates(&id, idx, n, r, found, 2) > 0) {
            unite(&id, found[0], r);
        } else {
            id.ci[cls].stuck = true; /* retired until its class grows */
            ident_push_group(&id, t, k);
        }
    }
    rc = id.err;
out:
    if (id.cand)
        for (uint32_t i = 0; i < id.ntracked * 8; i++) {
            free(id.cand[i].v);
            free(id.blocks[i].v);
        }
    free(id.cand);
    free(id.blocks);
    free(id.cnt);
    free(id.unique.v);
    free(id.several.v);
    free(id.ci);
    free(id.tracked);
    free(idx);
    return rc;
}

/* ---- stage 3: alias targets and objects ---------------------------------------- */

static int make_objects(Parser *p)
{
    p->node_obj = malloc((p->nnodes ? p->nnodes : 1) * sizeof(int32_t));
    p->objs = calloc(p->nnodes ? p->nnodes : 1, sizeof(Obj));
    if (!p->node_obj || !p->objs)
        return -ENOMEM;
    int32_t *class_obj = malloc((p->nnodes ? p->nnodes : 1) * sizeof(int32_t));
    if (!class_obj)
        return -ENOMEM;
    for (uint32_t i = 0; i < p->nnodes; i++)
        class_obj[i] = -1;
    for (uint32_t i = 0; i < p->nnodes; i++) {
        int32_t c = uf_find(p, (int32_t)i);
        if (class_obj[c] < 0) {
            Obj *o = &p->objs[p->nobjs];
            o->rep = (int32_t)i;
            o->parent = o->target = o->as_root = -1;
            o->fixed_round = -1;
            class_obj[c] = (int32_t)p->nobjs++;
        }
        p->node_obj[i] = class_obj[c];
        Obj *o = &p->objs[class_obj[c]];
        /* A subregion line tells the container: prefer it as representative. */
        if (p->nodes[o->rep].parent < 0 && p->nodes[i].parent >= 0)
            o->rep = (int32_t)i;
    }
    free(class_obj);
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->parent >= 0) {
            o->parent = p->node_obj[n->parent];
            o->addr = n->start - p->nodes[n->parent].start;
        } else {
            o->addr = n->start;
        }
        uint64_t span = n->end - n->start;
        o->point = span == 0;
        o->size = (mr_size_t)span + 1;
        if (n->is_alias && n->first_child >= 0) {
            set_err(p->err, n->line, false, "alias '%s' has subregions (not supported)", n->name);
            return -EINVAL;
        }
        if (n->is_alias && n->tend - n->tstart != span) {
            set_err(p->err, n->line, false,
                    "alias '%s': window %016" PRIx64 "-%016" PRIx64
                    " is not as long as the mapped range",
                    n->name, n->tstart, n->tend);
            return -EINVAL;
        }
        o->nkids = n->nkids;
        if (n->nkids) {
            o->pkids = malloc(n->nkids * sizeof(int32_t));
            o->kids = malloc(n->nkids * sizeof(int32_t));
            if (!o->pkids || !o->kids)
                return -ENOMEM;
            uint32_t k = 0;
            for (int32_t c = n->first_child; c >= 0; c = p->nodes[c].next_sibling)
                o->pkids[k++] = p->node_obj[c];
            memcpy(o->kids, o->pkids, n->nkids * sizeof(int32_t));
        }
    }
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (p->blocks[b].is_as)
            p->objs[p->node_obj[p->blocks[b].root]].as_root = (int32_t)b;
    return 0;
}

/*
 * Replay QEMU's alias queue: aliases are met in print order (address-space
 * blocks, then memory-region blocks); the first alias onto a region queues
 * it, and memory-region blocks come out in queue order. So an alias onto
 * TARGET is onto the next unqueued block when that is named TARGET (the
 * earliest possible queueing), else onto the most recently queued block
 * named TARGET.
 */
static int resolve_aliases(Parser *p)
{
    uint32_t nmr = 0;
    size_t nb = p->nblocks ? p->nblocks : 1;
    int32_t *mrb = malloc(nb * sizeof(int32_t));   /* position -> block */
    int32_t *mrpos = malloc(nb * sizeof(int32_t)); /* block -> position */
    int32_t *last = malloc((p->nname_ids ? p->nname_ids : 1) * sizeof(int32_t));
    int32_t *obj_target = malloc((p->nobjs ? p->nobjs : 1) * sizeof(int32_t));
    if (!mrb || !mrpos || !last || !obj_target) {
        free(mrb);
        free(mrpos);
        free(last);
        free(obj_target);
        return -ENOMEM;
    }
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (!p->blocks[b].is_as) {
            mrpos[b] = (int32_t)nmr;
            mrb[nmr++] = (int32_t)b;
        }
    for (uint32_t i = 0; i < p->nobjs; i++)
        obj_target[i] = -1;
    for (uint32_t i = 0; i < p->nname_ids; i++)
        last[i] = -1; /* per name: the most recently queued block position */

    uint32_t q = 0; /* blocks at positions < q are queued */
#define QUEUE_UPTO(newq)                                                                           \
    do {                                                                                           \
        uint32_t upto_ = (newq);                                                                   \
        for (; q < upto_; q++)                                                                     \
            last[p->name_id[mrb[q]]] = (int32_t)q;                                                 \
    } while (0)
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (uint32_t b = 0; b < p->nblocks && !rc; b++) {
            const Block *bl = &p->blocks[b];
            if (bl->is_as != (pass == 0))
                continue;
            if (!bl->is_as && (uint32_t)mrpos[b] >= q)
                QUEUE_UPTO((uint32_t)mrpos[b] + 1); /* queued by an alias the dump left out */
            /* Preorder walk of the block: nodes of a block are contiguous. */
            for (int32_t id = bl->root;
                 id >= 0 && (uint32_t)id < p->nnodes && p->nodes[id].block == (int32_t)b && !rc;
                 id++) {
                const Node *n = &p->nodes[id];
                if (!n->is_alias)
                    continue;
                int32_t o = p->node_obj[id];
                if (obj_target[o] >= 0) {
                    if (strcmp(p->blocks[obj_target[o]].names[0], n->target) != 0) {
                        set_err(p->err, n->line, false,
                                "alias '%s' names target '%s' here and '%s' elsewhere", n->name,
                                n->target, p->blocks[obj_target[o]].names[0]);
                        rc = -EINVAL;
                    }
                    continue;
                }
                int32_t nid = find_block_name(p, n->target, strlen(n->target));
                int32_t pick = -1;
                if (nid < 0) {
                    /* no block with that name at all */
                } else if (q < nmr && p->name_id[mrb[q]] == nid) {
                    pick = mrb[q];
                    QUEUE_UPTO(q + 1);
                } else if (last[nid] >= 0) {
                    pick = mrb[last[nid]];
                } else {
                    /* Blocks before it were queued by aliases a dump without
                     * -D does not show. */
                    for (uint32_t i = q; i < nmr && pick < 0; i++)
                        if (p->name_id[mrb[i]] == nid) {
                            pick = mrb[i];
                            QUEUE_UPTO(i + 1);
                        }
                }
                if (pick < 0) {
                    set_err(p->err, n->line, false,
                            "alias '%s': no 'memory-region: %s' block for its target", n->name,
                            n->target);
                    rc = -EINVAL;
                    continue;
                }
                obj_target[o] = pick;
            }
        }
    }
#undef QUEUE_UPTO
    for (uint32_t i = 0; i < p->nobjs && !rc; i++) {
        Obj *o = &p->objs[i];
        if (!p->nodes[o->rep].is_alias)
            continue;
        if (obj_target[i] < 0) {
            set_err(p->err, p->nodes[o->rep].line, false, "alias '%s' was not resolved",
                    p->nodes[o->rep].name);
            rc = -EINVAL;
            break;
        }
        o->target = p->node_obj[p->blocks[obj_target[i]].root];
        p->objs[o->target].is_target = true;
    }
    free(mrb);
    free(mrpos);
    free(last);
    free(obj_target);
    return rc;
}

/* ---- stage 4: the four facts, by the tree's rules -------------------------------- */

/*
 * QEMU region names whose kind the tree cannot show (docs/mtree.md, rule
 * tables). Terminating I/O regions with subregions: QEMU creates them with
 * memory_region_init_io() and subregions fill only part of them.
 */
static const char *const qemu_terminating[] = {
    "io",                 /* memory_map_init(): unassigned_io_ops, every target */
    "rtc",                /* mc146818rtc: rtc-index is a subregion */
    "vga.mmio",           /* std VGA MMIO BAR: edid, bochs dispi, ... inside */
    "gpex_mmio_window",   /* generic PCIe host: unassigned_io_ops window */
    "gpex_ioport_window", /* generic PCIe host: unassigned_io_ops window */
    "ahci",               /* hw/ide/ahci.c: the ABAR; allwinner-ahci maps inside */
    "aspeed.i2c",         /* hw/i2c/aspeed_i2c.c: controller registers, buses inside */
    "aspeed.sdhci",       /* hw/sd/aspeed_sdhci.c: glue registers, slots inside */
    "aspeed.smc.flash",   /* hw/ssi/aspeed_smc.c: flash window, chip windows inside */
    "dino",               /* hw/hppa/dino.c: PCI host registers, config ports inside */
    "pci0-io",            /* hw/alpha/typhoon.c: PCI I/O window, ISA ports inside */
    "sabre-config",       /* hw/pci-host/sabre.c: host registers, IOMMU inside */
    "xtfpga.io",          /* hw/xtensa/xtfpga.c: I/O window, FPGA and UART inside */
    "intc",               /* hw/sh4/sh7750.c: interrupt controller, aliased twice */
    "iocsr",              /* hw/loongarch/virt.c: the IOCSR space, devices inside */
    "lpcm",               /* hw/ppc/pnv_lpc.c: LPC master registers (4 GiB) */
    "er",                 /* target/xtensa/cpu.c: external registers, the root of `ER` */
    "rc4030.dma",         /* hw/dma/rc4030.c: an IOMMU region of 4 GiB, not aliased */
    "via-pm",             /* hw/isa/vt82c686.c: power management ports, ACPI inside */
};
/* Containers (memory_region_init()) that have no subregions at reset. */
static const char *const qemu_containers[] = {
    "platform bus",         /* sysbus platform bus: dynamic sysbus devices */
    "gpex_ioport",          /* generic PCIe host: the PCI I/O space */
    "bus master container", /* hw/pci/pci.c: a PCI device's DMA root */
    "e1000e-flash",         /* hw/net/e1000e.c: the flash BAR, not emulated */
    "*container*",          /* QEMU's naming habit for memory_region_init() regions
                             * (hw/acpi/memory_hotplug.c's empty `memhp container`) */
    "pci.mem",              /* hw/pci-host/bonito.c: PCI memory space, seen through windows */
    "pci-memory",           /* hw/hppa/machine.c, hw/ppc/prep.c: PCI memory space */
    "isa-mem",              /* hw/ppc/pnv_lpc.c: LPC memory space */
    "pci@*.io",             /* hw/ppc/spapr_pci.c: a PHB's I/O space */
};
/* Aliases QEMU marks read-only (memory_region_set_readonly on the alias). */
static const char *const qemu_readonly_aliases[] = {
    "pam-rom", /* hw/pci-host/pam.c: PAM segment "read from RAM, writes to PCI" */
};

/* Table entries are fnmatch() patterns: QEMU numbers some names per instance. */
static bool in_table(const char *const *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(t[i], name, 0) == 0)
            return true;
    return false;
}
#define IN_TABLE(t, name) in_table(t, sizeof(t) / sizeof(t[0]), name)

/*
 * Mark the roots of QEMU's two global address spaces (memory_map_init()):
 * `I/O` has a terminating root (unassigned ops), `memory` a container.
 */
static void mark_global_roots(Parser *p)
{
    for (uint32_t b = 0; b < p->nblocks; b++) {
        const Block *bl = &p->blocks[b];
        if (!bl->is_as)
            continue;
        Obj *o = &p->objs[p->node_obj[bl->root]];
        for (uint32_t k = 0; k < bl->nnames; k++) {
            o->io_root |= strcmp(bl->names[k], "I/O") == 0;
            o->mem_root |= strcmp(bl->names[k], "memory") == 0;
        }
    }
}

/* Fact 1 for a non-alias i/o region, by the rules of docs/mtree.md. */
static bool rule_terminates(const Parser *p, const Obj *o)
{
    const Node *n = &p->nodes[o->rep];
    if (!(p->flags & MTREE_IMPORT_GENERIC_RULES)) {
        if (IN_TABLE(qemu_terminating, n->name) || o->io_root)
            return true;
        if (IN_TABLE(qemu_containers, n->name) || o->mem_root)
            return false;
    }
    if (n->synthetic)
        return false;
    if (o->nkids)
        return false; /* a region with subregions: a container */
    if (o->size < GIB4)
        return true; /* a leaf under 4 GiB: device registers */
    /* Mapped in a container, no alias's target, and neither 4 GiB nor 2^64
     * bytes (the sizes of 32- and 64-bit bus spaces): a device's large
     * register window (POWER's XSCOM and XIVE windows). */
    if (o->parent >= 0 && !o->is_target && o->size != GIB4 && o->size != MR_SIZE_2_64)
        return true;
    /* 4 GiB or more: a bus address space, unless it is the root of an
     * address space, mapped in no container, and either aliased, but only
     * whole (a PCI device's bus-master alias onto an IOMMU region; a bus
     * space is seen through windows), or not aliased and 2^64 bytes (an
     * IOMMU region; smaller unaliased roots are empty bus spaces). */
    return o->as_root >= 0 && o->parent < 0 &&
           (o->is_target ? !o->windowed : o->size == MR_SIZE_2_64);
}

static void decide_facts(Parser *p)
{
    mark_global_roots(p);
    for (uint32_t b = 0; b < p->nblocks; b++)
        if (!p->blocks[b].is_as)
            p->objs[p->node_obj[p->blocks[b].root]].is_target = true;
    for (uint32_t i = 0; i < p->nobjs; i++) {
        const Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias && o->target >= 0 &&
            (n->tstart || o->point || o->size < p->objs[o->target].size))
            p->objs[o->target].windowed = true;
    }
    for (uint32_t i = 0; i < p->nobjs; i++) {
        Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias) {
            if (!o->fixed[MTREE_FACT_READONLY])
                o->readonly = !(p->flags & MTREE_IMPORT_GENERIC_RULES) &&
                              IN_TABLE(qemu_readonly_aliases, n->name);
            o->terminates = false;
        } else if (n->type == T_IO) {
            if (!o->fixed[MTREE_FACT_TERMINATES])
                o->terminates = rule_terminates(p, o);
        } else {
            o->terminates = true;
        }
        if (o->point && !o->fixed[MTREE_FACT_SIZE])
            o->size = n->is_alias ? 0 : 1;
    }
}

static void count_decided(Parser *p)
{
    memset(p->counts.decided, 0, sizeof(p->counts.decided));
    for (uint32_t i = 0; i < p->nobjs; i++) {
        const Obj *o = &p->objs[i];
        const Node *n = &p->nodes[o->rep];
        if (n->is_alias)
            p->counts.decided[MTREE_FACT_READONLY]++;
        else if (n->type == T_IO && !n->synthetic)
            p->counts.decided[MTREE_FACT_TERMINATES]++;
        if (o->point)
            p->counts.decided[MTREE_FACT_SIZE]++;
    }
}

/* ---- fact 4: insertion order of siblings ----------------------------------------- */

typedef struct Kid {
    int32_t obj;
    uint32_t print; /* position in the dump */
    int32_t prio;
    hwaddr addr;
    mr_size_t end;
} Kid;

static int kid_cmp(const void *a, const void *b)
{
    const Kid *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->print < y->print ? -1 : x->print > y->print;
}

static int32_t forced_winner(const Parser *p, int32_t a, int32_t b)
{
    for (uint32_t i = 0; i < p->nties; i++) {
        if (p->ties[i].winner == a && p->ties[i].loser == b)
            return a;
        if (p->ties[i].winner == b && p->ties[i].loser == a)
            return b;
    }
    return -1;
}

/* Max-heap of print positions: the latest printed available kid first. */
static void heap_push(uint32_t *h, uint32_t *n, uint32_t v)
{
    uint32_t i = (*n)++;
    while (i && h[(i - 1) / 2] < v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint32_t heap_pop(uint32_t *h, uint32_t *n)
{
    uint32_t top = h[0], v = h[--*n], i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] > h[c])
            c++;
        if (h[c] <= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = v;
    return top;
}

/*
 * Order @o's children for insertion so that the library's list (priority
 * descending, ties newest first) reproduces the dump: equal address and
 * priority: the one printed first was added last; overlapping equal
 * priority at different addresses: the flat dump's forced decision, else
 * the smaller wins (equal sizes: the one printed first, but of two pieces
 * of one port list, which share a name, the one at the higher address).
 * Topological sort of "loser before winner"; a cycle is broken at the
 * latest printed kid.
 */
static int order_kids(Parser *p, Obj *o, unsigned *pairs)
{
    uint32_t n = o->nkids;
    if (n < 2)
        return 0;
    Kid *k = malloc(n * sizeof(*k));
    uint32_t *indeg = calloc(n, sizeof(*indeg));
    uint32_t *heap = malloc(n * sizeof(*heap));
    uint32_t *out = malloc(n * sizeof(*out));
    uint32_t nedges = 0, capedges = 0;
    uint32_t(*edges)[2] = NULL; /* print positions: [loser, winner] */
    int rc = 0;
    if (!k || !indeg || !heap || !out) {
        rc = -ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        const Obj *c = &p->objs[o->pkids[i]];
        k[i] = (Kid){o->pkids[i], i, p->nodes[c->rep].prio, c->addr, (mr_size_t)c->addr + c->size};
    }
    qsort(k, n, sizeof(*k), kid_cmp);
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = i + 1; j < n && k[j].prio == k[i].prio &&
                                 (k[j].addr == k[i].addr || (mr_size_t)k[j].addr < k[i].end);
             j++) {
            uint32_t win, lose;
            if (k[j].addr == k[i].addr) {
                win = k[i].print < k[j].print ? k[i].print : k[j].print;
            } else {
                if (k[j].end == k[j].addr)
                    continue; /* 0 bytes: overlaps nothing */
                (*pairs)++;
                int32_t f = forced_winner(p, k[i].obj, k[j].obj);
                mr_size_t si = k[i].end - k[i].addr, sj = k[j].end - k[j].addr;
                if (f >= 0)
                    win = f == k[i].obj ? k[i].print : k[j].print;
                else if (si != sj)
                    win = si < sj ? k[i].print : k[j].print;
                else if (!strcmp(p->nodes[p->objs[k[i].obj].rep].name,
                                 p->nodes[p->objs[k[j].obj].rep].name))
                    win = k[j].print; /* pieces of one port list: added in ascending order */
                else
                    win = k[i].print; /* equal sizes: the one printed first */
            }
            lose = win == k[i].print ? k[j].print : k[i].print;
            if (nedges == capedges) {
                if (capedges >= MAX_TIE_PAIRS) {
                    set_err(p->err, p->nodes[o->rep].line, false,
                            "region '%s': more than %u overlapping sibling pairs",
                            p->nodes[o->rep].name, MAX_TIE_PAIRS);
                    rc = -EINVAL;
                    goto done;
                }
                if (!grow((void **)&edges, &capedges, nedges, sizeof(*edges))) {
                    rc = -ENOMEM;
                    goto done;
                }
            }
            edges[nedges][0] = lose;
            edges[nedges][1] = win;
            nedges++;
            indeg[win]++;
        }
    }
    /* Kahn's algorithm over print positions, edges grouped by loser. */
    uint32_t *first = calloc(n + 1, sizeof(uint32_t));
    uint32_t *adj = malloc((nedges ? nedges : 1) * sizeof(uint32_t));
    bool *done_kid = calloc(n, sizeof(bool));
    if (!first || !adj || !done_kid) {
        free(first);
        free(adj);
        free(done_kid);
        rc = -ENOMEM;
        goto done;
    }
    for (uint32_t e = 0; e < nedges; e++)
        first[edges[e][0] + 1]++;
    for (uint32_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    {
        uint32_t *pos = malloc((n ? n : 1) * sizeof(uint32_t));
        if (!pos) {
            free(first);
            free(adj);
            free(done_kid);
            rc = -ENOMEM;
            goto done;
        }
        memcpy(pos, first, n * sizeof(uint32_t));
        for (uint32_t e = 0; e < nedges; e++)
            adj[pos[edges[e][0]]++] = edges[e][1];
        free(pos);
    }
    uint32_t nh = 0, nout = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!indeg[i])
            heap_push(heap, &nh, i);
    while (nout < n) {
        uint32_t v;
        if (nh) {
            v = heap_pop(heap, &nh);
        } else {
            v = n; /* cycle: take the latest printed kid left */
            for (uint32_t i = n; i-- > 0 && v == n;)
                if (!done_kid[i])
                    v = i;
        }
        if (done_kid[v])
            continue;
        done_kid[v] = true;
        out[nout++] = v;
        for (uint32_t e = first[v]; e < first[v + 1]; e++)
            if (!done_kid[adj[e]] && --indeg[adj[e]] == 0)
                heap_push(heap, &nh, adj[e]);
    }
    free(first);
    free(adj);
    free(done_kid);
    /* out[] holds print positions in insertion order. */
    for (uint32_t i = 0; i < n; i++)
        o->kids[i] = o->pkids[out[i]];
done:
    free(k);
    free(indeg);
    free(heap);
    free(out);
    free(edges);
    return rc;
}

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

static void teardown(MtreeImport *imp);

static int lib_fail(Parser *p, const Node *n, const char *what, int rc)
{
    set_err(p->err, n->line, false, "region '%s': %s failed: %s", n->name, what,
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
                    set_err(p->err, bl->line, false, "address space '%s': %s", bl->names[k],
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
                set_err(p->err, n->line, false,
                        "region '%s': RAM over the import's limit of %" PRIu64 " bytes", n->name,
                        p->max_ram);
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
            set_err(p->err, n->line, false, "alias '%s': its targets form a cycle", n->name);
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

static int build(MtreeImport *imp)
{
    Parser *p = &imp->p;
    unsigned pairs = 0;
    for (uint32_t i = 0; i < p->nobjs; i++) {
        int rc = order_kids(p, &p->objs[i], &pairs);
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
        set_err(p->err, 0, false, "out of memory");
    return rc;
}

/* Undo build(): address spaces, the tree, then regions (aliases first). */
static void teardown(MtreeImport *imp)
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

/* ---- stage 5: facts from a flat dump (defined below) ------------------------------- */

static int facts_from_flat(MtreeImport *imp, const char *text, size_t len);

/* ---- public API ----------------------------------------------------------------- */

static void free_parser(Parser *p)
{
    for (uint32_t i = 0; i < p->nnodes; i++) {
        free(p->nodes[i].body);
        free(p->nodes[i].name);
        free(p->nodes[i].target);
    }
    free(p->nodes);
    for (uint32_t b = 0; b < p->nblocks; b++) {
        for (uint32_t k = 0; k < p->blocks[b].nnames; k++)
            free(p->blocks[b].names[k]);
        free(p->blocks[b].names);
    }
    free(p->blocks);
    if (p->objs)
        for (uint32_t i = 0; i < p->nobjs; i++) {
            free(p->objs[i].pkids);
            free(p->objs[i].kids);
        }
    free(p->objs);
    free(p->node_obj);
    free(p->mr_block_obj);
    free(p->ties);
    free(p->mr_sorted);
    free(p->name_id);
    free(p->shape);
    for (size_t i = 0; i < p->nflat_log; i++)
        free(p->flat_log[i]);
    free(p->flat_log);
    memset(p, 0, sizeof(*p));
}

MtreeImport *mtree_import(const char *text, size_t len, const MtreeImportOptions *opts,
                          MtreeError *err)
{
    MtreeError local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    if (!text && len) {
        set_err(err, 0, false, "no input text");
        return NULL;
    }
    if (len > MAX_TEXT || (opts && opts->facts_len > MAX_TEXT)) {
        set_err(err, 0, opts && opts->facts_len > MAX_TEXT, "input larger than %u bytes", MAX_TEXT);
        return NULL;
    }
    MtreeImport *imp = calloc(1, sizeof(*imp));
    if (!imp) {
        err->code = -ENOMEM;
        set_err(err, 0, false, "out of memory");
        return NULL;
    }
    Parser *p = &imp->p;
    p->err = err;
    p->flags = opts ? opts->flags : 0;
    p->max_ram = opts && opts->max_ram_bytes ? opts->max_ram_bytes : DEFAULT_MAX_RAM;

    int rc = parse_tree(p, text ? text : "", len);
    if (!rc)
        rc = index_block_names(p);
    if (!rc)
        rc = split_bodies(p);
    if (!rc) {
        hash_nodes(p);
        rc = identify(p);
    }
    if (!rc)
        rc = make_objects(p);
    if (!rc)
        rc = resolve_aliases(p);
    if (!rc) {
        decide_facts(p);
        count_decided(p);
        if (opts && opts->facts_text)
            rc = facts_from_flat(imp, opts->facts_text, opts->facts_len);
        else
            rc = build(imp);
    }
    if (rc) {
        err->code = rc;
        if (!err->message[0])
            set_err(err, 0, false, "%s", strerror(-rc));
        if ((p->truncated || (len && text[len - 1] != '\n')) && !err->in_facts &&
            !strstr(err->message, "truncated")) {
            char why[sizeof(err->message)];
            memcpy(why, err->message, sizeof(why));
            set_err(err, err->line, false,
                    "the dump is truncated (no empty line after its last "
                    "block): %s",
                    why);
        }
        teardown(imp);
        free_parser(p);
        free(imp);
        return NULL;
    }
    p->err = NULL;
    return imp;
}

/* Read a whole file ("-": standard input), at most MAX_TEXT bytes. */
static char *read_file(const char *path, size_t *len, MtreeError *err, bool in_facts)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        err->code = -errno;
        set_err(err, 0, in_facts, "%s: %s", name, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        err->code = -EISDIR;
        set_err(err, 0, in_facts, "%s: is a directory, not a dump file", name);
        if (!is_stdin)
            fclose(f);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_TEXT) {
                set_err(err, 0, in_facts, "%s: larger than %u bytes", name, MAX_TEXT);
                free(buf);
                buf = NULL;
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                err->code = -ENOMEM;
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                err->code = -EIO;
                set_err(err, 0, in_facts, "%s: read error: %s", name, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (!buf && err && !err->message[0]) {
        err->code = -ENOMEM;
        set_err(err, 0, in_facts, "%s: out of memory", name);
    }
    if (buf && n == 0) {
        set_err(err, 0, in_facts, "%s: empty file (no dump in it)", name);
        free(buf);
        buf = NULL;
    }
    if (!is_stdin)
        fclose(f);
    *len = n;
    return buf;
}

MtreeImport *mtree_import_file(const char *path, const char *facts_path,
                               const MtreeImportOptions *opts, MtreeError *err)
{
    MtreeError local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    if (!path) {
        set_err(err, 0, false, "no file name");
        return NULL;
    }
    if (facts_path && !strcmp(path, "-") && !strcmp(facts_path, "-")) {
        set_err(err, 0, true,
                "standard input ('-') can give the tree dump or the flat dump, "
                "not both");
        return NULL;
    }
    size_t len = 0, flen = 0;
    char *text = read_file(path, &len, err, false);
    if (!text)
        return NULL;
    char *facts = NULL;
    if (facts_path) {
        facts = read_file(facts_path, &flen, err, true);
        if (!facts) {
            free(text);
            return NULL;
        }
    }
    MtreeImportOptions o = opts ? *opts : (MtreeImportOptions){0};
    if (facts) {
        o.facts_text = facts;
        o.facts_len = flen;
    }
    MtreeImport *imp = mtree_import(text, len, &o, err);
    if (!imp && !err->line) {
        /* A message about the whole input: say which file. */
        const char *name = err->in_facts ? facts_path : path;
        char why[sizeof(err->message)];
        memcpy(why, err->message, sizeof(why));
        set_err(err, 0, err->in_facts, "%s: %s", strcmp(name, "-") ? name : "standard input", why);
    }
    free(text);
    free(facts);
    return imp;
}

int mtree_import_free(MtreeImport *imp)
{
    if (!imp)
        return 0;
    int rc = 0;
    teardown(imp);
    for (uint32_t i = 0; i < imp->p.nobjs; i++)
        if (imp->p.objs[i].inited && !rc)
            rc = -EBUSY;
    free_parser(&imp->p);
    free(imp);
    return rc;
}

size_t mtree_import_nr_spaces(const MtreeImport *imp)
{
    return imp ? imp->nspaces : 0;
}

AddressSpace *const *mtree_import_spaces(const MtreeImport *imp)
{
    return imp ? imp->spaces : NULL;
}

AddressSpace *mtree_import_find_space(const MtreeImport *imp, const char *name)
{
    if (!imp || !name)
        return NULL;
    for (size_t i = 0; i < imp->nspaces; i++)
        if (strcmp(address_space_name(imp->spaces[i]), name) == 0)
            return imp->spaces[i];
    return NULL;
}

size_t mtree_import_nr_regions(const MtreeImport *imp)
{
    return imp ? imp->nregions : 0;
}

MemoryRegion *mtree_import_region(const MtreeImport *imp, size_t i)
{
    return imp && i < imp->nregions ? imp->regions[i] : NULL;
}

void mtree_import_fact_counts(const MtreeImport *imp, MtreeFactCounts *out)
{
    if (!out)
        return;
    if (!imp) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = imp->p.counts;
}

const char *mtree_fact_name(MtreeFact f)
{
    static const char *const names[] = {"terminates", "readonly", "size", "tie"};
    return (unsigned)f < MTREE_FACT_NR ? names[f] : "?";
}

size_t mtree_import_nr_flat_facts(const MtreeImport *imp)
{
    return imp ? imp->p.nflat_log : 0;
}

const char *mtree_import_flat_fact(const MtreeImport *imp, size_t i)
{
    return imp && i < imp->p.nflat_log ? imp->p.flat_log[i] : NULL;
}

/* ---- stage 5: facts from a flat dump ------------------------------------------------ */

typedef struct FRange {
    uint64_t start, end; /* inclusive end */
    uint8_t type;
    bool nv;
    char *name;
    uint64_t off;
} FRange;

typedef struct FBlock {
    char **as;
    char **roots; /* per address space: the root named on its ` AS` line */
    uint32_t nas, capas, caproots;
    FRange *r;
    uint32_t nr, capr;
    uint32_t line;
} FBlock;

typedef struct Flat {
    FBlock *b;
    uint32_t nb, capb;
} Flat;

static void flat_free(Flat *f)
{
    for (uint32_t i = 0; i < f->nb; i++) {
        for (uint32_t k = 0; k < f->b[i].nas; k++) {
            free(f->b[i].as[k]);
            free(f->b[i].roots[k]);
        }
        free(f->b[i].as);
        free(f->b[i].roots);
        for (uint32_t k = 0; k < f->b[i].nr; k++)
            free(f->b[i].r[k].name);
        free(f->b[i].r);
    }
    free(f->b);
}

/*
 * Parse `info mtree -f` (or `-f -d`) text. Accelerator suffixes (` KVM`) are
 * dropped: docs/mtree.md, normalisation.
 */
static int parse_flat(Parser *p, const char *text, size_t len, Flat *f)
{
    LineIter it = {text, text + len, 0};
    const char *line;
    size_t n;
    int r;
    FBlock *cur = NULL;
    bool dispatch = false, skip_tree = false;
    uint32_t total = 0;
    while ((r = next_line(&it, &line, &n)) != 0) {
        unsigned ln = it.lineno;
        if (r < 0) {
            set_err(p->err, ln, true, "line longer than %u bytes", MAX_LINE);
            return -EINVAL;
        }
        if (++total > MAX_NODES) {
            set_err(p->err, ln, true, "more than %u lines", MAX_NODES);
            return -EINVAL;
        }
        if (monitor_noise(line, n))
            continue;
        if (!cur &&
            (starts_with(line, n, "address-space: ") || starts_with(line, n, "memory-region: ")))
            skip_tree = true; /* `info mtree` output in the same session */
        if (skip_tree) {
            skip_tree = n != 0;
            continue;
        }
        if (n == 0) {
            cur = NULL;
            dispatch = false;
            continue;
        }
        if (starts_with(line, n, "FlatView #")) {
            if (!grow((void **)&f->b, &f->capb, f->nb, sizeof(*f->b)))
                return -ENOMEM;
            cur = &f->b[f->nb++];
            memset(cur, 0, sizeof(*cur));
            cur->line = ln;
            dispatch = false;
            continue;
        }
        if (!cur) {
            set_err(p->err, ln, true, "expected 'FlatView #N' to start a block");
            return -EINVAL;
        }
        if (dispatch || starts_with(line, n, "  Dispatch")) {
            dispatch = true; /* `info mtree -f -d`: QEMU's lookup tables */
            continue;
        }
        if (starts_with(line, n, " AS \"")) {
            const char *s = line + 5, *e = line + n, *q = NULL;
            for (const char *x = s; x + 9 <= e; x++)
                if (memcmp(x, "\", root: ", 9) == 0)
                    q = x;
            if (!q) {
                set_err(p->err, ln, true, "expected ' AS \"NAME\", root: ROOT'");
                return -EINVAL;
            }
            if (!grow((void **)&cur->as, &cur->capas, cur->nas, sizeof(char *)) ||
                !grow((void **)&cur->roots, &cur->caproots, cur->nas, sizeof(char *)))
                return -ENOMEM;
            if (!(cur->as[cur->nas] = xstrndup(s, (size_t)(q - s))))
                return -ENOMEM;
            if (!(cur->roots[cur->nas] = xstrndup(q + 9, (size_t)(e - q - 9)))) {
                free(cur->as[cur->nas]);
                return -ENOMEM;
            }
            cur->nas++;
            continue;
        }
        if (starts_with(line, n, " Root memory region: ") ||
            starts_with(line, n, "  No rendered FlatView"))
            continue;
        if (!starts_with(line, n, "  ") || n < 2 + 33) {
            set_err(p->err, ln, true, "unexpected line in a FlatView block");
            return -EINVAL;
        }
        Node tmp;
        memset(&tmp, 0, sizeof(tmp));
        const char *why = parse_region_line(line + 2, n - 2, &tmp);
        if (why) {
            free(tmp.body);
            set_err(p->err, ln, true, "%s", why);
            return -EINVAL;
        }
        if (tmp.disabled || tmp.overflow) {
            free(tmp.body);
            set_err(p->err, ln, true, "unexpected marker in a flat range line");
            return -EINVAL;
        }
        /* NAME[ @OFFSET][ KVM]... */
        size_t bl = strlen(tmp.body);
        while (bl >= 4 && memcmp(tmp.body + bl - 4, " KVM", 4) == 0)
            bl -= 4;
        uint64_t off = 0;
        if (bl >= 18 && tmp.body[bl - 18] == ' ' && tmp.body[bl - 17] == '@' &&
            parse_hex16(tmp.body + bl - 16, &off))
            bl -= 18;
        if (!grow((void **)&cur->r, &cur->capr, cur->nr, sizeof(*cur->r))) {
            free(tmp.body);
            return -ENOMEM;
        }
        FRange *fr = &cur->r[cur->nr];
        fr->start = tmp.start;
        fr->end = tmp.end;
        fr->type = tmp.type;
        fr->nv = tmp.nv;
        fr->off = off;
        fr->name = xstrndup(tmp.body, bl);
        free(tmp.body);
        if (!fr->name)
            return -ENOMEM;
        if (tmp.end < tmp.start || (cur->nr && cur->r[cur->nr - 1].end >= tmp.start)) {
            set_err(p->err, ln, true, "ranges must be sorted and must not overlap");
            free(fr->name);
            return -EINVAL;
        }
        cur->nr++;
    }
    return 0;
}

/* Object of a built region (objects' regions are looked up by pointer). */
typedef struct PtrObj {
    const MemoryRegion *mr;
    int32_t obj;
} PtrObj;

static int ptrobj_cmp(const void *a, const void *b)
{
    const PtrObj *x = a, *y = b;
    return x->mr < y->mr ? -1 : x->mr > y->mr;
}

static int32_t obj_of(const PtrObj *map, uint32_t n, const MemoryRegion *mr)
{
    PtrObj key = {mr, -1};
    const PtrObj *hit = bsearch(&key, map, n, sizeof(*map), ptrobj_cmp);
    return hit ? hit->obj : -1;
}

/* One region the rendering passes at an address (see collect()). */
typedef struct Entry {
    int32_t obj;
    hwaddr off;       /* offset of the address in the region */
    bool terminates;  /* else an i/o container */
    bool via_virtual; /* reached through a 0-byte point region taken as 1 byte */
    int32_t path[MAX_DEPTH * 2 + 2];
    uint32_t depth;
} Entry;

typedef struct Stack {
    Entry e[32];
    uint32_t n;
    int32_t path[MAX_DEPTH * 2 + 2];
    uint32_t depth;
    const PtrObj *map;
    uint32_t nmap;
    Parser *p;
} Stack;

/*
 * Every region that rendering meets at @a, in rendering order (the first
 * terminating one not via_virtual is what the view shows): terminating
 * regions and i/o containers whose window holds @a. A 0-byte point region is
 * followed as if it were 1 byte, its entries marked via_virtual.
 */
static void collect(Stack *st, MemoryRegion *mr, mtree_int128 base, mr_size_t lo, mr_size_t hi,
                    hwaddr a, bool virt)
{
    int32_t o = obj_of(st->map, st->nmap, mr);
    if (o < 0 || !memory_region_is_enabled(mr) || st->depth >= MAX_DEPTH * 2 + 1)
        return;
    const Obj *ob = &st->p->objs[o];
    base += memory_region_addr(mr);
    mr_size_t size = memory_region_size(mr);
    if (ob->point && size == 0) {
        size = 1;
        virt = true;
    }
    mtree_int128 wlo, whi;
    if (!mtree_window(base, size, lo, hi, &wlo, &whi) || (mtree_int128)a < wlo ||
        (mtree_int128)a >= whi)
        return;
    st->path[st->depth++] = o;
    MemoryRegionKind k = memory_region_kind(mr);
    if (k == MR_KIND_ALIAS) {
        MemoryRegion *t = memory_region_alias_target(mr);
        collect(st, t, mtree_alias_base(mr, base), (mr_size_t)wlo, (mr_size_t)whi, a, virt);
    } else {
        for (MemoryRegion *c = memory_region_first_subregion(mr); c;
             c = memory_region_next_sibling(c))
            collect(st, c, base, (mr_size_t)wlo, (mr_size_t)whi, a, virt);
        bool term = k == MR_KIND_RAM || k == MR_KIND_ROMD || k == MR_KIND_MMIO;
        if ((term || st->p->nodes[ob->rep].type == T_IO) && st->n < 32) {
            Entry *e = &st->e[st->n++];
            e->obj = o;
            e->off = (hwaddr)((mtree_int128)a - base);
            e->terminates = term;
            e->via_virtual = virt;
            memcpy(e->path, st->path, st->depth * sizeof(int32_t));
            e->depth = st->depth;
        }
    }
    st->depth--;
}

static int log_fact(Parser *p, MtreeFact f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int log_fact(Parser *p, MtreeFact f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    p->counts.from_flat[f]++;
    if (!grow((void **)&p->flat_log, &p->capflat_log, p->nflat_log, sizeof(*p->flat_log)))
        return -ENOMEM;
    p->flat_log[p->nflat_log] = strdup(buf);
    if (!p->flat_log[p->nflat_log])
        return -ENOMEM;
    p->nflat_log++;
    return 1;
}

static const char *oname(const Parser *p, int32_t o)
{
    return p->nodes[p->objs[o].rep].name;
}

static unsigned oline(const Parser *p, int32_t o)
{
    return p->nodes[p->objs[o].rep].line;
}

/* The first point region (printed START = END) of size @size on a path. */
static int32_t point_on_path(const Parser *p, const int32_t *path, uint32_t depth, mr_size_t size)
{
    for (uint32_t i = depth; i-- > 0;) {
        const Obj *o = &p->objs[path[i]];
        if (o->point && o->size == size && !o->fixed[MTREE_FACT_SIZE])
            return path[i];
    }
    return -1;
}

/*
 * One difference at address @a between the rebuilt view (@ours, NULL when
 * unassigned) and the flat dump (@theirs, NULL when unassigned): decide one
 * fact by the rules of docs/mtree.md. Returns 1 when a fact was taken, 0
 * when no rule applies, or a negative error.
 */
static int learn(Parser *p, AddressSpace *as, const char *asname, hwaddr a, const FlatRange *ours,
                 const FRange *theirs, const PtrObj *map, uint32_t nmap)
{
    Stack st = {.map = map, .nmap = nmap, .p = p};
    collect(&st, address_space_root(as), 0, 0, MR_SIZE_2_64, a, false);
    int32_t win = -1;
    for (uint32_t i = 0; i < st.n && win < 0; i++)
        if (st.e[i].terminates && !st.e[i].via_virtual)
            win = (int32_t)i;
    /* Evidence about a region whose fact this round already changed is
     * stale (the view was rendered before): look again next round. */
    for (uint32_t i = 0; i < st.n; i++)
        for (uint32_t d = 0; d < st.e[i].depth; d++)
            if (p->objs[st.e[i].path[d]].fixed_round == p->round)
                return 0;

    if (theirs && ours && ours->mr && strcmp(memory_region_name(ours->mr), theirs->name) == 0 &&
        ours->offset_in_region + (a - ours->addr) == theirs->off + (a - theirs->start)) {
        /* Same bytes, different attributes: fact 2 (read-only aliases). */
        bool want_ro = theirs->type == T_ROM;
        if (win < 0 || want_ro == ours->readonly)
            return 0;
        /* Read-only wanted: the innermost alias on the path. Writable
         * wanted: the innermost read-only alias on it. */
        const Entry *w = &st.e[win];
        for (uint32_t i = w->depth; i-- > 0;) {
            Obj *o = &p->objs[w->path[i]];
            if (!p->nodes[o->rep].is_alias || (!want_ro && !o->readonly))
                continue;
            if (o->fixed[MTREE_FACT_READONLY])
                return 0;
            o->readonly = want_ro;
            o->fixed[MTREE_FACT_READONLY] = true;
            o->fixed_round = p->round;
            return log_fact(p, MTREE_FACT_READONLY,
                            "readonly: alias '%s' (line %u) is %s: [%s] %016" PRIx64
                            " is '%s' in the flat dump",
                            oname(p, w->path[i]), oline(p, w->path[i]),
                            want_ro ? "read-only" : "writable", asname, a,
                            want_ro ? "rom" : type_words[theirs->type]);
        }
        return 0;
    }

    if (theirs) {
        hwaddr off = theirs->off + (a - theirs->start);
        int32_t e = -1;
        for (uint32_t i = 0; i < st.n && e < 0; i++)
            if (st.e[i].off == off && strcmp(oname(p, st.e[i].obj), theirs->name) == 0)
                e = (int32_t)i;
        if (e >= 0) {
            Entry *en = &st.e[e];
            Obj *o = &p->objs[en->obj];
            if (!en->terminates && !o->fixed[MTREE_FACT_TERMINATES]) {
                o->terminates = true;
                o->fixed[MTREE_FACT_TERMINATES] = true;
                o->fixed_round = p->round;
                return log_fact(p, MTREE_FACT_TERMINATES,
                                "terminates: '%s' (line %u) is a terminating I/O region: the flat "
                                "dump shows it at [%s] %016" PRIx64,
                                oname(p, en->obj), oline(p, en->obj), asname, a);
            }
            if (en->via_virtual) {
                int32_t pt = point_on_path(p, en->path, en->depth, 0);
                if (pt >= 0) {
                    p->objs[pt].size = 1;
                    p->objs[pt].fixed[MTREE_FACT_SIZE] = true;
                    p->objs[pt].fixed_round = p->round;
                    return log_fact(p, MTREE_FACT_SIZE,
                                    "size: '%s' (line %u) is 1 byte: the flat dump shows '%s' "
                                    "through it at [%s] %016" PRIx64,
                                    oname(p, pt), oline(p, pt), theirs->name, asname, a);
                }
                return 0;
            }
            if (win >= 0 && win < e && en->terminates) {
                const Entry *w = &st.e[win];
                uint32_t d = 0;
                while (d < w->depth && d < en->depth && w->path[d] == en->path[d])
                    d++;
                /* Two siblings under path[d-1]: an equal-priority tie? */
                if (d > 0 && d < w->depth && d < en->depth) {
                    int32_t x = w->path[d], y = en->path[d];
                    const Obj *ox = &p->objs[x], *oy = &p->objs[y];
                    if (ox->parent == oy->parent &&
                        p->nodes[ox->rep].prio == p->nodes[oy->rep].prio && ox->addr != oy->addr &&
                        forced_winner(p, x, y) < 0) {
                        if (!grow((void **)&p->ties, &p->capties, p->nties, sizeof(*p->ties)))
                            return -ENOMEM;
                        p->ties[p->nties++] = (TieForce){y, x};
                        p->objs[x].fixed_round = p->objs[y].fixed_round = p->round;
                        return log_fact(p, MTREE_FACT_TIE,
                                        "tie: '%s' (line %u) wins over '%s' (line %u): the flat "
                                        "dump shows '%s' at [%s] %016" PRIx64,
                                        oname(p, y), oline(p, y), oname(p, x), oline(p, x),
                                        theirs->name, asname, a);
                    }
                }
                int32_t pt = point_on_path(p, w->path, w->depth, 1);
                if (pt >= 0) {
                    p->objs[pt].size = 0;
                    p->objs[pt].fixed[MTREE_FACT_SIZE] = true;
                    p->objs[pt].fixed_round = p->round;
                    return log_fact(p, MTREE_FACT_SIZE,
                                    "size: '%s' (line %u) is 0 bytes: the flat dump shows '%s' "
                                    "at [%s] %016" PRIx64,
                                    oname(p, pt), oline(p, pt), theirs->name, asname, a);
                }
                Obj *wo = &p->objs[w->obj];
                if (p->nodes[wo->rep].type == T_IO && !p->nodes[wo->rep].is_alias &&
                    !wo->fixed[MTREE_FACT_TERMINATES]) {
                    wo->terminates = false;
                    wo->fixed[MTREE_FACT_TERMINATES] = true;
                    wo->fixed_round = p->round;
                    return log_fact(p, MTREE_FACT_TERMINATES,
                                    "terminates: '%s' (line %u) is a container: the flat dump "
                                    "shows '%s' below it at [%s] %016" PRIx64,
                                    oname(p, w->obj), oline(p, w->obj), theirs->name, asname, a);
                }
            }
        }
        return 0;
    }

    /* We show something where the flat dump shows nothing. */
    if (win < 0)
        return 0;
    const Entry *w = &st.e[win];
    int32_t pt = point_on_path(p, w->path, w->depth, 1);
    if (pt >= 0) {
        p->objs[pt].size = 0;
        p->objs[pt].fixed[MTREE_FACT_SIZE] = true;
        p->objs[pt].fixed_round = p->round;
        return log_fact(p, MTREE_FACT_SIZE,
                        "size: '%s' (line %u) is 0 bytes: the flat dump shows nothing at [%s] "
                        "%016" PRIx64,
                        oname(p, pt), oline(p, pt), asname, a);
    }
    Obj *wo = &p->objs[w->obj];
    if (p->nodes[wo->rep].type == T_IO && !wo->fixed[MTREE_FACT_TERMINATES]) {
        wo->terminates = false;
        wo->fixed[MTREE_FACT_TERMINATES] = true;
        wo->fixed_round = p->round;
        return log_fact(p, MTREE_FACT_TERMINATES,
                        "terminates: '%s' (line %u) is a container: the flat dump shows nothing "
                        "at [%s] %016" PRIx64,
                        oname(p, w->obj), oline(p, w->obj), asname, a);
    }
    return 0;
}

/* Does our range @o (may be NULL) show the same at @a as theirs @t (may be NULL)? */
static bool same_at(const FlatRange *o, const FRange *t, hwaddr a)
{
    if (!o || !t)
        return !o && !t;
    const char *ty = o->readonly ? "rom" : mtree_region_type(o->mr);
    return strcmp(memory_region_name(o->mr), t->name) == 0 &&
           o->offset_in_region + (a - o->addr) == t->off + (a - t->start) &&
           strcmp(ty, type_words[t->type]) == 0 && o->nonvolatile == t->nv;
}

/*
 * Walk the view @fv and flat block @b together; call @fn at the first
 * address of each run of differences (at most @max). Returns the number of
 * differing runs.
 */
typedef int (*DiffFn)(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs);

static uint32_t diff_view(const FlatView *fv, const FBlock *b, uint32_t max, DiffFn fn, void *ctx,
                          int *rc)
{
    size_t no = fv ? flatview_nr_ranges(fv) : 0, i = 0, j = 0;
    mr_size_t pos = 0;
    uint32_t runs = 0;
    bool in_run = false;
    while (pos < MR_SIZE_2_64) {
        const FlatRange *o = i < no ? flatview_range(fv, i) : NULL;
        const FRange *t = j < b->nr ? &b->r[j] : NULL;
        mr_size_t ostart = o ? o->addr : MR_SIZE_2_64, oend = o ? (mr_size_t)o->addr + o->size : 0;
        mr_size_t tstart = t ? t->start : MR_SIZE_2_64, tend = t ? (mr_size_t)t->end + 1 : 0;
        const FlatRange *oc = o && ostart <= pos ? o : NULL;
        const FRange *tc = t && tstart <= pos ? t : NULL;
        mr_size_t next = MR_SIZE_2_64;
        next = oc ? MIN128(next, oend) : MIN128(next, ostart);
        next = tc ? MIN128(next, tend) : MIN128(next, tstart);
        if (!same_at(oc, tc, (hwaddr)pos)) {
            if (!in_run) {
                if (runs < max && fn && *rc >= 0) {
                    int r = fn(ctx, (hwaddr)pos, oc, tc);
                    if (r < 0)
                        *rc = r;
                    else
                        *rc += r;
                }
                runs++;
            }
            in_run = true;
        } else {
            in_run = false;
        }
        pos = next;
        if (oc && pos >= oend)
            i++;
        if (tc && pos >= tend)
            j++;
    }
    return runs;
}

typedef struct LearnCtx {
    Parser *p;
    AddressSpace *as;
    const PtrObj *map;
    uint32_t nmap;
} LearnCtx;

static int learn_cb(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs)
{
    LearnCtx *c = ctx;
    return learn(c->p, c->as, address_space_name(c->as), a, ours, theirs, c->map, c->nmap);
}

static int count_cb(void *ctx, hwaddr a, const FlatRange *ours, const FRange *theirs)
{
    (void)ctx, (void)a, (void)ours, (void)theirs;
    return 0;
}

/* The flat block that shows @as best: among those listing its name, the one
 * with the fewest differences; NULL when none lists it. */
static const FBlock *match_block(const Flat *f, AddressSpace *as, FlatView *fv)
{
    const FBlock *best = NULL;
    uint32_t best_runs = UINT32_MAX;
    for (uint32_t i = 0; i < f->nb; i++) {
        bool listed = false;
        for (uint32_t k = 0; k < f->b[i].nas && !listed; k++)
            listed = strcmp(f->b[i].as[k], address_space_name(as)) == 0;
        if (!listed)
            continue;
        int rc = 0;
        uint32_t runs = diff_view(fv, &f->b[i], 0, count_cb, NULL, &rc);
        if (runs < best_runs) {
            best = &f->b[i];
            best_runs = runs;
        }
    }
    return best;
}

/* An address-space name and where it is: for sorted lookups. */
typedef struct NamedAs {
    const char *name;
    const char *root; /* the root on its AS line (flat dump) or of its block (tree dump) */
    uint32_t line, block;
} NamedAs;

static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const NamedAs *)a)->name, ((const NamedAs *)b)->name);
}

/* Order by name, then root: one name may stand for several address spaces
 * with different roots (QEMU's Arm SSE boards have many "tz-mpc-downstream"). */
static int named_root_cmp(const void *a, const void *b)
{
    int c = named_cmp(a, b);
    return c ? c : strcmp(((const NamedAs *)a)->root, ((const NamedAs *)b)->root);
}

static const NamedAs *named_find(const NamedAs *v, size_t n, const char *name)
{
    NamedAs key = {.name = name};
    return bsearch(&key, v, n, sizeof(*v), named_cmp);
}

static const NamedAs *named_root_find(const NamedAs *v, size_t n, const char *name,
                                      const char *root)
{
    NamedAs key = {.name = name, .root = root};
    return bsearch(&key, v, n, sizeof(*v), named_root_cmp);
}

/*
 * A flat dump of another machine (or another moment with other address
 * spaces) would teach wrong facts: its address spaces and their roots must
 * be those of the tree dump. Names the first mismatch. O(n log n).
 */
static int flat_matches_tree(Parser *p, const Flat *f)
{
    size_t nt = 0, nf = 0;
    for (uint32_t b = 0; b < p->nblocks; b++)
        nt += p->blocks[b].is_as ? p->blocks[b].nnames : 0;
    for (uint32_t i = 0; i < f->nb; i++)
        nf += f->b[i].nas;
    NamedAs *t = malloc((nt ? nt : 1) * sizeof(*t)), *fl = malloc((nf ? nf : 1) * sizeof(*fl));
    int rc = 0;
    if (!t || !fl) {
        rc = -ENOMEM;
        goto out;
    }
    nt = nf = 0;
    for (uint32_t b = 0; b < p->nblocks; b++)
        for (uint32_t k = 0; p->blocks[b].is_as && k < p->blocks[b].nnames; k++)
            t[nt++] = (NamedAs){p->blocks[b].names[k], p->nodes[p->blocks[b].root].name,
                                p->blocks[b].line, b};
    for (uint32_t i = 0; i < f->nb; i++)
        for (uint32_t k = 0; k < f->b[i].nas; k++)
            fl[nf++] = (NamedAs){f->b[i].as[k], f->b[i].roots[k], f->b[i].line, i};
    qsort(t, nt, sizeof(*t), named_root_cmp);
    qsort(fl, nf, sizeof(*fl), named_root_cmp);
    for (uint32_t i = 0; i < f->nb && !rc; i++) {
        for (uint32_t k = 0; k < f->b[i].nas && !rc; k++) {
            const NamedAs *m = named_find(t, nt, f->b[i].as[k]);
            if (!m) {
                set_err(p->err, f->b[i].line, true,
                        "not a flat dump of this machine: address space '%s' is not in the tree "
                        "dump",
                        f->b[i].as[k]);
                rc = -EINVAL;
                break;
            }
            if (!named_root_find(t, nt, f->b[i].as[k], f->b[i].roots[k])) {
                set_err(p->err, f->b[i].line, true,
                        "not a flat dump of this machine: address space '%s' has root '%s' here "
                        "and '%s' in the tree dump (line %u)",
                        f->b[i].as[k], f->b[i].roots[k], m->root, m->line);
                rc = -EINVAL;
            }
        }
    }
    for (size_t i = 0; i < nt && !rc; i++) {
        if (!named_root_find(fl, nf, t[i].name, t[i].root)) {
            set_err(p->err, 0, true,
                    "not a flat dump of this machine: address space '%s' with root '%s' (tree "
                    "dump line %u) is not in it",
                    t[i].name, t[i].root, t[i].line);
            rc = -EINVAL;
        }
    }
out:
    free(t);
    free(fl);
    return rc;
}

static int facts_from_flat(MtreeImport *imp, const char *text, size_t len)
{
    Parser *p = &imp->p;
    Flat f = {0};
    int rc = parse_flat(p, text, len, &f);
    if (!rc && f.nb == 0) {
        set_err(p->err, 0, true, "the flat dump has no 'FlatView #N' block");
        rc = -EINVAL;
    }
    if (!rc)
        rc = flat_matches_tree(p, &f);
    if (rc) {
        flat_free(&f);
        return rc;
    }
    for (int round = 0; round < MAX_FACT_ROUNDS; round++) {
        p->round = round;
        rc = build(imp);
        if (rc)
            break;
        PtrObj *map = malloc((p->nobjs ? p->nobjs : 1) * sizeof(*map));
        if (!map) {
            rc = -ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < p->nobjs; i++)
            map[i] = (PtrObj){p->objs[i].mr, (int32_t)i};
        qsort(map, p->nobjs, sizeof(*map), ptrobj_cmp);
        int learned = 0;
        for (size_t i = 0; i < imp->nspaces && learned >= 0; i++) {
            AddressSpace *as = imp->spaces[i];
            FlatView *fv = address_space_get_flatview(as);
            const FBlock *b = match_block(&f, as, fv);
            if (b) {
                LearnCtx c = {p, as, map, p->nobjs};
                diff_view(fv, b, 64, learn_cb, &c, &learned);
            }
            flatview_unref(fv);
        }
        free(map);
        if (learned < 0) {
            rc = learned;
            break;
        }
        if (learned == 0)
            break;
        teardown(imp);
        decide_facts(p); /* re-apply rules to facts not fixed by the flat dump */
    }
    flat_free(&f);
    return rc;
}
