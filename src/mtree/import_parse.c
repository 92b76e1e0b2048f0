/*
 * Import stage 1, parse (import.h): the tree dump's text into blocks of
 * nodes, one node per printed line, and the flat dump's text into blocks of
 * ranges for stage 5. Only syntax and the input limits are checked here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* The type words of region lines, indexed by T_RAM .. T_IO. */
const char *const type_words[] = {"ram", "rom", "romd", "ramd", "i/o"};

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

/* ---- stage 1: parse the tree dump ---------------------------------------------- */

static int32_t new_node(Parser *p)
{
    if (p->nnodes >= MAX_NODES)
        return -1;
    if (!import_grow((void **)&p->nodes, &p->capnodes, p->nnodes, sizeof(*p->nodes)))
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
    if (!import_grow((void **)&p->blocks, &p->capblocks, p->nblocks, sizeof(*p->blocks)))
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
    if (!import_grow((void **)&b->names, &b->cap, b->nnames, sizeof(*b->names)))
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

int parse_tree(Parser *p, const char *text, size_t len)
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
            import_error(p->err, ln, false, "line longer than %u bytes", MAX_LINE);
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
                import_error(p->err, ln, false, "block has a header but no region line");
                return -EINVAL;
            }
            cur = NULL;
            continue;
        }
        if (starts_with(line, n, "address-space: ") || starts_with(line, n, "memory-region: ")) {
            bool is_as = line[0] == 'a';
            if (++p->nheaders > MAX_HEADERS) {
                import_error(p->err, ln, false, "more than %u block headers", MAX_HEADERS);
                return -EINVAL;
            }
            if (cur && cur->root >= 0) {
                import_error(p->err, ln, false,
                             "header inside a block (blocks end with an empty line)");
                return -EINVAL;
            }
            if (cur && (!is_as || !cur->is_as)) {
                import_error(p->err, ln, false,
                             "a memory-region: header must start a block of its own");
                return -EINVAL;
            }
            if (!cur) {
                if (p->nblocks >= MAX_BLOCKS) {
                    import_error(p->err, ln, false, "too many blocks (limit %u)", MAX_BLOCKS);
                    return -EINVAL;
                }
                cur = new_block(p, is_as, ln);
                if (!cur) {
                    import_error(p->err, ln, false, "out of memory");
                    return -ENOMEM;
                }
            }
            if (block_add_name(cur, line + 15, n - 15)) {
                import_error(p->err, ln, false, "out of memory");
                return -ENOMEM;
            }
            sdepth = 0;
            continue;
        }
        if (line[0] != ' ') {
            import_error(p->err, ln, false,
                         "expected 'address-space: ', 'memory-region: ', a region line or an empty "
                         "line");
            return -EINVAL;
        }
        if (!cur) {
            import_error(p->err, ln, false, "region line outside a block (no header before it)");
            return -EINVAL;
        }
        size_t sp = 0;
        while (sp < n && line[sp] == ' ')
            sp++;
        if (sp % 2) {
            import_error(p->err, ln, false, "odd indentation (two spaces per level)");
            return -EINVAL;
        }
        uint32_t depth = (uint32_t)(sp / 2);
        if (depth > MAX_DEPTH) {
            import_error(p->err, ln, false, "nested deeper than %u levels", MAX_DEPTH);
            return -EINVAL;
        }
        if (depth == 1 && cur->root >= 0) {
            import_error(p->err, ln, false, "a second root line in one block");
            return -EINVAL;
        }
        Node tmp;
        memset(&tmp, 0, sizeof(tmp));
        const char *why = parse_region_line(line + sp, n - sp, &tmp);
        if (why) {
            free(tmp.body);
            import_error(p->err, ln, false, "%s", why);
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
            import_error(p->err, ln, false,
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
                import_error(p->err, ln, false, "more than %u region lines", MAX_NODES);
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
                import_error(p->err, ln, false, "out of memory");
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
            import_error(p->err, ln, false,
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
        import_error(p->err, it.lineno, false,
                     "the dump is truncated: its last line stops without a line end (QEMU ends "
                     "every block with an empty line)");
        return -EINVAL;
    }
    if (cur && cur->root < 0) {
        import_error(p->err, it.lineno, false, "the last block has a header but no region line");
        return -EINVAL;
    }
    if (p->nblocks == 0) {
        if (p->saw_flat)
            import_error(p->err, 0, false,
                         "a flat dump (`info mtree -f`: FlatView blocks, no region tree); give the "
                         "tree dump (`info mtree -D`), and the flat dump with --facts-from");
        else
            import_error(p->err, 0, false,
                         "no address-space: or memory-region: block in the input");
        return -EINVAL;
    }
    return 0;
}

/* qsort_r() order of block indices by name, then index; @ctx is the Parser
 * (no global: two imports may run on two threads at once). */
static int block_name_cmp(const void *a, const void *b, void *ctx)
{
    const Parser *p = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int c = strcmp(p->blocks[x].names[0], p->blocks[y].names[0]);
    return c ? c : (x > y) - (x < y);
}

/* Index the names of the memory-region: blocks (sorted, with name ids). */
int parse_index_names(Parser *p)
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
    qsort_r(p->mr_sorted, p->nmr_sorted, sizeof(int32_t), block_name_cmp, p);
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
int32_t parse_find_block(const Parser *p, const char *name, size_t len)
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
int parse_split_bodies(Parser *p)
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
                if (!pick && parse_find_block(p, q + 2, (size_t)(e - q - 2)) >= 0)
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

/* ---- the flat dump (`info mtree -f`), for stage 5 ------------------------------ */

void parse_flat_free(Flat *f)
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
int parse_flat(Parser *p, const char *text, size_t len, Flat *f)
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
            import_error(p->err, ln, true, "line longer than %u bytes", MAX_LINE);
            return -EINVAL;
        }
        if (++total > MAX_NODES) {
            import_error(p->err, ln, true, "more than %u lines", MAX_NODES);
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
            if (!import_grow((void **)&f->b, &f->capb, f->nb, sizeof(*f->b)))
                return -ENOMEM;
            cur = &f->b[f->nb++];
            memset(cur, 0, sizeof(*cur));
            cur->line = ln;
            dispatch = false;
            continue;
        }
        if (!cur) {
            import_error(p->err, ln, true, "expected 'FlatView #N' to start a block");
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
                import_error(p->err, ln, true, "expected ' AS \"NAME\", root: ROOT'");
                return -EINVAL;
            }
            if (!import_grow((void **)&cur->as, &cur->capas, cur->nas, sizeof(char *)) ||
                !import_grow((void **)&cur->roots, &cur->caproots, cur->nas, sizeof(char *)))
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
            import_error(p->err, ln, true, "unexpected line in a FlatView block");
            return -EINVAL;
        }
        Node tmp;
        memset(&tmp, 0, sizeof(tmp));
        const char *why = parse_region_line(line + 2, n - 2, &tmp);
        if (why) {
            free(tmp.body);
            import_error(p->err, ln, true, "%s", why);
            return -EINVAL;
        }
        if (tmp.disabled || tmp.overflow) {
            free(tmp.body);
            import_error(p->err, ln, true, "unexpected marker in a flat range line");
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
        if (!import_grow((void **)&cur->r, &cur->capr, cur->nr, sizeof(*cur->r))) {
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
            import_error(p->err, ln, true, "ranges must be sorted and must not overlap");
            free(fr->name);
            return -EINVAL;
        }
        cur->nr++;
    }
    return 0;
}

/* Object of a built region (objects' regions are looked up by pointer). */
