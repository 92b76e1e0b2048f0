/*
 * The mtree tool's operations: lookup, diff, DOT.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mtree_tool.h"

bool mtree_parse_addr(const char *s, uint64_t *out)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t n = strlen(s);
    if (n == 0 || n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* ---- lookup ------------------------------------------------------------------- */

static void print_path_step(FILE *out, const MemoryRegion *mr)
{
    if (memory_region_kind(mr) == MR_KIND_ALIAS)
        fprintf(out, "%s (alias @%s %016" PRIx64 ")", memory_region_name(mr),
                memory_region_name(memory_region_alias_target(mr)), memory_region_alias_offset(mr));
    else
        fputs(memory_region_name(mr), out);
}

void mtree_print_lookup(FILE *out, AddressSpace *as, uint64_t addr)
{
    FlatRange fr;
    MtreePath path;
    int rc = mtree_resolve(as, addr, &fr, &path);
    if (rc == -ENOENT) {
        fprintf(out, "  %016" PRIx64 ": unassigned\n", addr);
        return;
    }
    if (rc && rc != -ESRCH) {
        fprintf(out, "  %016" PRIx64 ": error: %s\n", addr, strerror(-rc));
        return;
    }
    char line[512];
    mtree_format_range(line, sizeof(line), &fr);
    fprintf(out, "  %016" PRIx64 ": %s @%016" PRIx64 " (prio %" PRId32 ", %s%s)\n", addr,
            memory_region_name(fr.mr), fr.offset_in_region + (addr - fr.addr),
            memory_region_priority(fr.mr), fr.nonvolatile ? "nv-" : "",
            fr.readonly ? "rom" : mtree_region_type(fr.mr));
    fprintf(out, "    range: %s\n", line);
    if (rc == -ESRCH) {
        fputs("    path: (not found: the tree walk disagrees with the flat view)\n", out);
        return;
    }
    fputs("    path: ", out);
    for (size_t i = 0; i < path.depth; i++) {
        if (i)
            fputs(" > ", out);
        print_path_step(out, path.regions[i]);
    }
    if (path.truncated)
        fputs(" > ...", out);
    fputc('\n', out);
}

/* ---- diff ---------------------------------------------------------------------- */

/* The text of a range after its "START-END " part. */
static const char *range_body(const char *line)
{
    return line + 34;
}

static void fmt(char *buf, size_t n, const FlatRange *fr)
{
    mtree_format_range(buf, n, fr);
}

static void diff_view(FILE *out, const char *name, FlatView *fa, FlatView *fb, bool *header,
                      MtreeDiffCounts *c)
{
    size_t n = flatview_nr_ranges(fa), m = flatview_nr_ranges(fb), i = 0, j = 0;
    char la[512], lb[512];
    while (i < n || j < m) {
        const FlatRange *ra = i < n ? flatview_range(fa, i) : NULL;
        const FlatRange *rb = j < m ? flatview_range(fb, j) : NULL;
        const char *mark = NULL, *mark2 = NULL;
        if (ra)
            fmt(la, sizeof(la), ra);
        if (rb)
            fmt(lb, sizeof(lb), rb);
        if (ra && (!rb || ra->addr < rb->addr)) {
            mark = "-";
            i++;
        } else if (rb && (!ra || rb->addr < ra->addr)) {
            mark2 = "+";
            j++;
        } else if (ra->size == rb->size) {
            i++, j++;
            if (!strcmp(range_body(la), range_body(lb)))
                continue;
            mark = "~";
        } else {
            mark = "-";
            mark2 = "+";
            i++, j++;
        }
        if (!*header) {
            fprintf(out, "address-space: %s\n", name);
            *header = true;
        }
        if (mark && !strcmp(mark, "~")) {
            fprintf(out, "  ~ %s\n    now %s\n", la, range_body(lb));
            c->changed++;
            continue;
        }
        if (mark) {
            fprintf(out, "  - %s\n", la);
            c->vanished++;
        }
        if (mark2) {
            fprintf(out, "  + %s\n", lb);
            c->appeared++;
        }
    }
}

/* The @k-th address space named @name in @v, or NULL. */
static AddressSpace *nth_named(AddressSpace *const *v, size_t n, const char *name, size_t k)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(address_space_name(v[i]), name) && k-- == 0)
            return v[i];
    return NULL;
}

static size_t rank_of(AddressSpace *const *v, size_t i)
{
    size_t k = 0;
    for (size_t j = 0; j < i; j++)
        if (!strcmp(address_space_name(v[j]), address_space_name(v[i])))
            k++;
    return k;
}

int mtree_diff_spaces(FILE *out, AddressSpace *const *a, size_t na, AddressSpace *const *b,
                      size_t nb, MtreeDiffCounts *counts)
{
    MtreeDiffCounts c = {0};
    unsigned spaces = 0;
    for (size_t i = 0; i < na; i++) {
        const char *name = address_space_name(a[i]);
        AddressSpace *other = nth_named(b, nb, name, rank_of(a, i));
        if (!other) {
            fprintf(out, "address-space: %s: only in A\n\n", name);
            c.spaces_differ++;
            continue;
        }
        FlatView *fa = address_space_get_flatview(a[i]);
        FlatView *fb = address_space_get_flatview(other);
        bool header = false;
        diff_view(out, name, fa, fb, &header, &c);
        flatview_unref(fa);
        flatview_unref(fb);
        if (header) {
            fputc('\n', out);
            spaces++;
        }
    }
    for (size_t j = 0; j < nb; j++) {
        const char *name = address_space_name(b[j]);
        if (!nth_named(a, na, name, rank_of(b, j))) {
            fprintf(out, "address-space: %s: only in B\n\n", name);
            c.spaces_differ++;
        }
    }
    fprintf(out, "diff: %u appeared, %u vanished, %u changed in %u address space%s", c.appeared,
            c.vanished, c.changed, spaces, spaces == 1 ? "" : "s");
    if (c.spaces_differ)
        fprintf(out, "; %u address space%s on one side only", c.spaces_differ,
                c.spaces_differ == 1 ? "" : "s");
    fputc('\n', out);
    if (counts)
        *counts = c;
    return ferror(out) ? -EIO : 0;
}

/* ---- DOT ------------------------------------------------------------------------- */

/* An open-addressing set of region pointers, numbering them. */
typedef struct RegionSet {
    MemoryRegion **key;
    size_t *id;
    size_t cap, n;
    MemoryRegion **order; /* by id */
} RegionSet;

static size_t hash_ptr(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static int set_grow(RegionSet *s)
{
    size_t cap = s->cap ? 2 * s->cap : 64;
    MemoryRegion **key = calloc(cap, sizeof(*key));
    size_t *id = calloc(cap, sizeof(*id));
    MemoryRegion **order = realloc(s->order, cap * sizeof(*order));
    if (!key || !id || !order) {
        free(key);
        free(id);
        if (order)
            s->order = order;
        return -ENOMEM;
    }
    s->order = order;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->key[i])
            continue;
        size_t h = hash_ptr(s->key[i], cap);
        while (key[h])
            h = (h + 1) & (cap - 1);
        key[h] = s->key[i];
        id[h] = s->id[i];
    }
    free(s->key);
    free(s->id);
    s->key = key;
    s->id = id;
    s->cap = cap;
    return 0;
}

/* Id of @mr, adding it when new (*@added set). Returns -1 on no memory. */
static long set_add(RegionSet *s, MemoryRegion *mr, bool *added)
{
    *added = false;
    if ((s->n + 1) * 2 > s->cap && set_grow(s))
        return -1;
    size_t h = hash_ptr(mr, s->cap);
    while (s->key[h]) {
        if (s->key[h] == mr)
            return (long)s->id[h];
        h = (h + 1) & (s->cap - 1);
    }
    s->key[h] = mr;
    s->id[h] = s->n;
    s->order[s->n] = mr;
    *added = true;
    return (long)s->n++;
}

static void dot_string(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void html_string(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static void dot_size(FILE *out, mr_size_t size)
{
    if (size == MR_SIZE_2_64)
        fputs("2^64", out);
    else
        fprintf(out, "0x%" PRIx64, (uint64_t)size);
}

int mtree_write_dot(FILE *out, AddressSpace *const *spaces, size_t n)
{
    RegionSet set = {0};
    int rc = 0;
    fputs("digraph mtree {\n"
          "  graph [rankdir=LR, fontname=\"monospace\", fontsize=10];\n"
          "  node [shape=box, fontname=\"monospace\", fontsize=9];\n"
          "  edge [fontname=\"monospace\", fontsize=8];\n",
          out);
    /* Regions reachable from the roots, numbered in discovery order. */
    bool added;
    for (size_t i = 0; i < n && !rc; i++)
        if (set_add(&set, address_space_root(spaces[i]), &added) < 0)
            rc = -ENOMEM;
    for (size_t k = 0; k < set.n && !rc; k++) {
        MemoryRegion *mr = set.order[k];
        for (MemoryRegion *c = memory_region_first_subregion(mr); c && !rc;
             c = memory_region_next_sibling(c))
            if (set_add(&set, c, &added) < 0)
                rc = -ENOMEM;
        if (memory_region_kind(mr) == MR_KIND_ALIAS &&
            set_add(&set, memory_region_alias_target(mr), &added) < 0)
            rc = -ENOMEM;
    }
    fputs("  subgraph cluster_tree {\n    label=\"region tree\";\n", out);
    for (size_t k = 0; k < set.n && !rc; k++) {
        MemoryRegion *mr = set.order[k];
        fprintf(out, "    r%zu [label=\"", k);
        dot_string(out, memory_region_name(mr));
        fprintf(out, "\\n%s, prio %" PRId32 ", size ", mtree_region_type(mr),
                memory_region_priority(mr));
        dot_size(out, memory_region_size(mr));
        fputc('"', out);
        if (memory_region_kind(mr) == MR_KIND_ALIAS)
            fputs(", shape=cds", out);
        else if (memory_region_kind(mr) == MR_KIND_CONTAINER)
            fputs(", shape=folder", out);
        if (!memory_region_is_enabled(mr))
            fputs(", style=dashed, color=grey, fontcolor=grey", out);
        fputs("];\n", out);
    }
    for (size_t k = 0; k < set.n && !rc; k++) {
        MemoryRegion *mr = set.order[k];
        for (MemoryRegion *c = memory_region_first_subregion(mr); c;
             c = memory_region_next_sibling(c)) {
            long id = set_add(&set, c, &added);
            fprintf(out, "    r%zu -> r%ld [label=\"+%" PRIx64 "\"];\n", k, id,
                    memory_region_addr(c));
        }
        if (memory_region_kind(mr) == MR_KIND_ALIAS) {
            long id = set_add(&set, memory_region_alias_target(mr), &added);
            fprintf(out, "    r%zu -> r%ld [style=dashed, label=\"@%" PRIx64 "\"];\n", k, id,
                    memory_region_alias_offset(mr));
        }
    }
    fputs("  }\n", out);

    /* Address spaces and one table per distinct flat view. */
    FlatView **views = calloc(n ? n : 1, sizeof(*views));
    if (!views)
        rc = -ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        views[i] = address_space_get_flatview(spaces[i]);
        long root = set_add(&set, address_space_root(spaces[i]), &added);
        fprintf(out, "  as%zu [shape=ellipse, label=\"", i);
        dot_string(out, address_space_name(spaces[i]));
        fprintf(out, "\"];\n  as%zu -> r%ld;\n", i, root);
        size_t first = i;
        for (size_t j = 0; j < i; j++)
            if (views[j] == views[i]) {
                first = j;
                break;
            }
        if (first != i) {
            fprintf(out, "  as%zu -> fv%zu [style=dotted];\n", i, first);
            continue;
        }
        fprintf(out,
                "  fv%zu [shape=plaintext, label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" "
                "CELLSPACING=\"0\"><TR><TD COLSPAN=\"2\"><B>flat view</B></TD></TR>",
                i);
        size_t nr = flatview_nr_ranges(views[i]);
        if (!nr)
            fputs("<TR><TD COLSPAN=\"2\">(empty)</TD></TR>", out);
        for (size_t r = 0; r < nr; r++) {
            const FlatRange *fr = flatview_range(views[i], r);
            char line[512];
            mtree_format_range(line, sizeof(line), fr);
            line[33] = 0; /* START-END */
            fputs("<TR><TD ALIGN=\"LEFT\">", out);
            html_string(out, line);
            fputs("</TD><TD ALIGN=\"LEFT\">", out);
            html_string(out, line + 34);
            fputs("</TD></TR>", out);
        }
        fprintf(out, "</TABLE>>];\n  as%zu -> fv%zu [style=dotted];\n", i, i);
    }
    for (size_t i = 0; views && i < n; i++)
        if (views[i])
            flatview_unref(views[i]);
    free(views);
    fputs("}\n", out);
    free(set.key);
    free(set.id);
    free(set.order);
    return rc;
}
