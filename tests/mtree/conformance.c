/*
 * Conformance with QEMU: for every configuration listed in DATADIR/configs.tsv,
 * import NAME.mtree-D.txt (taking the four missing facts from NAME.flat.txt
 * where the tree's rules disagree with it), render with the library and
 * compare:
 *   - mtree_print_flat() with NAME.flat.txt,
 *   - mtree_print_tree(-D) with NAME.mtree-D.txt (round trip),
 *   - mtree_print_tree() with NAME.mtree.txt (round trip without disabled);
 * and imports NAME.mtree.txt (`info mtree` without -D, as a user may capture
 * it) the same way and compares its flat views with NAME.flat.txt too.
 * Blocks are compared as sets (QEMU's block order changes from run to run),
 * byte for byte within a block, after normalise_flat_block() on flat views.
 *
 * A configuration is rebuilt "from the tree alone" when it is identical and
 * no fact was taken from the flat dump (neither for the -D dump nor for the
 * dump without -D): the import is then exactly the one without --facts-from.
 *
 * usage: conformance DATADIR [--generic-rules] [--label TEXT] [--expect FILE]
 * Prints one line per configuration, the first differing line of both sides
 * on a mismatch, then `... from the tree alone: K/N` and finally
 * `conformance: N/N configurations identical`.
 * Exit status 0 only when every configuration is identical; with --expect,
 * only when no configuration does worse than FILE says. FILE has one line
 * `NAME<TAB>tree|facts|fail` per configuration: rebuilt from the tree alone,
 * identical only with the flat dump's facts, or not identical (known gaps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memregion/memregion.h>

#include "files.h"

typedef struct Text {
    char *s;
    size_t n;
} Text;

typedef struct Blocks {
    char **b; /* each block: its lines joined by '\n', no trailing newline */
    size_t n;
} Blocks;

static bool read_text(const char *path, Text *t)
{
    t->s = ts_read_file(path, &t->n);
    return t->s != NULL;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("conformance");
        exit(2);
    }
    return d;
}

/*
 * The one place where both sides are normalised, for flat views only:
 *  - ` KVM` suffixes (QEMU adds one per address space with a KVM memory slot
 *    for the range, under -accel kvm) are dropped;
 *  - the `FlatView #N` line is dropped (N counts views in QEMU's random
 *    hash-table order);
 *  - the ` AS "..."` lines are sorted (QEMU lists them in address-space
 *    creation order, which a tree dump does not record).
 * Everything else is compared byte for byte.
 */
static char *normalise_flat_block(const char *block)
{
    size_t len = strlen(block);
    char *copy = xstrdup(block);
    char **as = calloc(len + 1, sizeof(char *)), **rest = calloc(len + 1, sizeof(char *));
    size_t nas = 0, nrest = 0;
    if (!as || !rest)
        exit(2);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "FlatView #", 10))
            continue;
        if (!strncmp(line, " AS \"", 5)) {
            as[nas++] = line;
            continue;
        }
        size_t l = strlen(line);
        while (l >= 4 && !strcmp(line + l - 4, " KVM"))
            line[l -= 4] = 0;
        rest[nrest++] = line;
    }
    qsort(as, nas, sizeof(char *), str_cmp);
    char *out = malloc(len + 2);
    if (!out)
        exit(2);
    size_t o = 0;
    for (size_t i = 0; i < nas + nrest; i++) {
        const char *l = i < nas ? as[i] : rest[i - nas];
        if (o)
            out[o++] = '\n';
        memcpy(out + o, l, strlen(l));
        o += strlen(l);
    }
    out[o] = 0;
    free(copy);
    free(as);
    free(rest);
    return out;
}

/* Split text into blocks at empty lines; normalise when @flat. */
static void split_blocks(const char *text, bool flat, Blocks *out)
{
    out->b = NULL;
    out->n = 0;
    size_t cap = 0;
    const char *p = text;
    while (*p) {
        while (*p == '\n')
            p++;
        if (!*p)
            break;
        const char *e = strstr(p, "\n\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && p[len - 1] == '\n')
            len--;
        char *b = strndup(p, len);
        if (!b)
            exit(2);
        if (flat) {
            char *nb = normalise_flat_block(b);
            free(b);
            b = nb;
        }
        ts_grow(&out->b, &cap, out->n + 1, sizeof(char *), 16);
        out->b[out->n++] = b;
        p += len;
    }
}

static void free_blocks(Blocks *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->b[i]);
    free(b->b);
}

static bool has_block(const Blocks *b, const char *s)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->b[i], s))
            return true;
    return false;
}

/* The header of a block: its lines before the first region/range line. */
static size_t header_len(const char *b, bool flat)
{
    const char *p = b;
    for (;;) {
        bool hdr = flat
                       ? !strncmp(p, " AS \"", 5)
                       : (!strncmp(p, "address-space: ", 15) || !strncmp(p, "memory-region: ", 15));
        const char *nl = strchr(p, '\n');
        if (!hdr || !nl)
            return (size_t)(p - b);
        p = nl + 1;
    }
}

/* Print the first differing line of @ours and its counterpart in @theirs. */
static void show_first_difference(FILE *rep, const char *what, const Blocks *ours,
                                  const Blocks *theirs, bool flat)
{
    for (int side = 0; side < 2; side++) {
        const Blocks *a = side ? theirs : ours, *b = side ? ours : theirs;
        for (size_t i = 0; i < a->n; i++) {
            if (has_block(b, a->b[i]))
                continue;
            size_t h = header_len(a->b[i], flat);
            const char *match = NULL;
            for (size_t j = 0; j < b->n && !match; j++)
                if (!has_block(a, b->b[j]) && header_len(b->b[j], flat) == h &&
                    !strncmp(b->b[j], a->b[i], h))
                    match = b->b[j];
            const char *x = a->b[i], *y = match ? match : "";
            /* Walk to the first differing line. */
            while (*x && *y) {
                const char *xe = strchr(x, '\n'), *ye = strchr(y, '\n');
                size_t xl = xe ? (size_t)(xe - x) : strlen(x),
                       yl = ye ? (size_t)(ye - y) : strlen(y);
                if (xl != yl || memcmp(x, y, xl))
                    break;
                x += xl + (xe ? 1 : 0);
                y += yl + (ye ? 1 : 0);
            }
            const char *xe = strchr(x, '\n'), *ye = strchr(y, '\n');
            int xl = xe ? (int)(xe - x) : (int)strlen(x), yl = ye ? (int)(ye - y) : (int)strlen(y);
            const char *on = side ? "qemu" : "ours", *tn = side ? "ours" : "qemu";
            fprintf(rep, "  %s: first difference in a block%s\n", what,
                    match ? "" : " that has no counterpart");
            fprintf(rep, "    %s: %.*s\n", on, xl, *x ? x : "(end of block)");
            fprintf(rep, "    %s: %.*s\n", tn, yl,
                    match ? (*y ? y : "(end of block)") : "(no such block)");
            return;
        }
    }
    fprintf(rep, "  %s: the same blocks, different multiplicity\n", what);
}

static bool same_blocks(const Blocks *a, const Blocks *b)
{
    if (a->n != b->n)
        return false;
    char **x = malloc(a->n * sizeof(char *) + 1), **y = malloc(b->n * sizeof(char *) + 1);
    if (!x || !y)
        exit(2);
    memcpy(x, a->b, a->n * sizeof(char *));
    memcpy(y, b->b, b->n * sizeof(char *));
    qsort(x, a->n, sizeof(char *), str_cmp);
    qsort(y, b->n, sizeof(char *), str_cmp);
    bool same = true;
    for (size_t i = 0; i < a->n && same; i++)
        same = !strcmp(x[i], y[i]);
    free(x);
    free(y);
    return same;
}

/* Compare printed output @ours with file @path. */
static bool compare(FILE *rep, const char *what, const char *ours, const char *path, bool flat)
{
    Text t;
    if (!read_text(path, &t)) {
        fprintf(rep, "  %s: cannot read %s\n", what, path);
        return false;
    }
    Blocks a, b;
    split_blocks(ours, flat, &a);
    split_blocks(t.s, flat, &b);
    bool same = same_blocks(&a, &b);
    if (!same)
        show_first_difference(rep, what, &a, &b, flat);
    free_blocks(&a);
    free_blocks(&b);
    free(t.s);
    return same;
}

typedef int (*PrintFn)(FILE *, AddressSpace *const *, size_t, unsigned);

static char *print_to_string(PrintFn fn, MtreeImport *imp, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        exit(2);
    int rc = fn(f, mtree_import_spaces(imp), mtree_import_nr_spaces(imp), flags);
    fclose(f);
    if (rc) {
        printf("  printing failed: %d\n", rc);
        free(buf);
        return xstrdup("");
    }
    return buf;
}

/* Expected results (--expect): 2 = from the tree alone, 1 = with facts, 0 = fails. */
typedef struct Expect {
    char **names;
    int *level;
    size_t n;
} Expect;

static const char *const level_words[] = {"fail", "facts", "tree"};

static bool read_expect(const char *path, Expect *e)
{
    Text t;
    if (!read_text(path, &t))
        return false;
    size_t cap = 0;
    for (char *line = strtok(t.s, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab || line[0] == '#')
            continue;
        *tab = 0;
        int lv = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(tab + 1, level_words[k]))
                lv = k;
        if (lv < 0) {
            fprintf(stderr, "conformance: %s: '%s': expected tree, facts or fail\n", path, tab + 1);
            exit(2);
        }
        size_t level_cap = cap;
        ts_grow(&e->names, &cap, e->n + 1, sizeof(char *), 64);
        ts_grow(&e->level, &level_cap, e->n + 1, sizeof(int), 64);
        e->names[e->n] = xstrdup(line);
        e->level[e->n++] = lv;
    }
    free(t.s);
    return true;
}

/* The expected level of @name; a configuration not listed must be identical from the tree. */
static int expected_level(const Expect *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name))
            return e->level[i];
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL, *label = NULL, *expect_path = NULL;
    bool generic = false, usage = !dir;
    for (int i = 2; i < argc && !usage; i++) {
        if (!strcmp(argv[i], "--generic-rules"))
            generic = true;
        else if (!strcmp(argv[i], "--label") && i + 1 < argc)
            label = argv[++i];
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
            expect_path = argv[++i];
        else
            usage = true;
    }
    if (usage) {
        fprintf(stderr,
                "usage: conformance DATADIR [--generic-rules] [--label TEXT] [--expect FILE]\n");
        return 2;
    }
    Expect expect = {0};
    if (expect_path && !read_expect(expect_path, &expect)) {
        fprintf(stderr, "conformance: cannot read %s\n", expect_path);
        return 2;
    }
    unsigned tree_alone = 0, worse = 0, better = 0;
    char path[4096], flat_path[4096];
    snprintf(path, sizeof(path), "%s/configs.tsv", dir);
    FILE *cfg = fopen(path, "r");
    if (!cfg) {
        fprintf(stderr, "conformance: cannot open %s\n", path);
        return 2;
    }
    char line[512];
    unsigned total = 0, identical = 0, flat_facts = 0;
    bool header = true;
    while (fgets(line, sizeof(line), cfg)) {
        if (header) { /* name, run_seconds, command */
            header = false;
            continue;
        }
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        const char *name = line;
        total++;
        snprintf(path, sizeof(path), "%s/%s.mtree-D.txt", dir, name);
        snprintf(flat_path, sizeof(flat_path), "%s/%s.flat.txt", dir, name);
        MtreeImportOptions opts = {.flags = generic ? MTREE_IMPORT_GENERIC_RULES : 0};
        MtreeError err;
        MtreeImport *imp = mtree_import_file(path, flat_path, &opts, &err);
        if (!imp) {
            printf("%s: MISMATCH: import failed: %s:%u: %s\n", name,
                   err.in_facts ? flat_path : path, err.line, err.message);
            continue;
        }
        MtreeFactCounts c;
        mtree_import_fact_counts(imp, &c);
        unsigned decided = 0, from_flat = 0;
        for (int f = 0; f < MTREE_FACT_NR; f++) {
            decided += c.decided[f];
            from_flat += c.from_flat[f];
        }
        flat_facts += from_flat;

        char *flat = print_to_string(mtree_print_flat, imp, 0);
        char *treed = print_to_string(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
        char *tree = print_to_string(mtree_print_tree, imp, 0);
        /* Collect the report first: the verdict line comes before the details. */
        char *details = NULL;
        size_t dlen = 0;
        FILE *d = open_memstream(&details, &dlen);
        if (!d)
            exit(2);
        bool ok_flat = compare(d, "flat views", flat, flat_path, true);
        snprintf(path, sizeof(path), "%s/%s.mtree-D.txt", dir, name);
        bool ok_treed = compare(d, "tree -D round trip", treed, path, false);
        snprintf(path, sizeof(path), "%s/%s.mtree.txt", dir, name);
        bool ok_tree = compare(d, "tree round trip", tree, path, false);
        /* The same machine from `info mtree` without -D. */
        bool ok_nod = false;
        unsigned nod_facts = 0;
        MtreeImport *imp2 = mtree_import_file(path, flat_path, &opts, &err);
        if (!imp2) {
            fprintf(d, "  import of %s failed: line %u: %s\n", path, err.line, err.message);
        } else {
            MtreeFactCounts c2;
            mtree_import_fact_counts(imp2, &c2);
            for (int f = 0; f < MTREE_FACT_NR; f++)
                nod_facts += c2.from_flat[f];
            char *flat2 = print_to_string(mtree_print_flat, imp2, 0);
            ok_nod = compare(d, "flat views from the dump without -D", flat2, flat_path, true);
            free(flat2);
            mtree_import_free(imp2);
        }
        fclose(d);
        bool ok = ok_flat && ok_treed && ok_tree && ok_nod;
        bool alone = ok && from_flat == 0 && nod_facts == 0;
        identical += ok;
        tree_alone += alone;
        int level = alone ? 2 : ok ? 1 : 0, want = expected_level(&expect, name);
        if (expect_path && level != want) {
            worse += level < want;
            better += level > want;
            printf("%s: %s than expected: %s, expected %s\n", name,
                   level < want ? "WORSE" : "better", level_words[level], level_words[want]);
        }
        printf("%s: %s%s (flat views %s, tree -D %s, tree %s, flat from the dump without -D %s);"
               " facts from flat dump: %u of %u (terminates %u, readonly %u, size %u, tie %u),"
               " without -D: %u\n",
               name, ok ? "identical" : "MISMATCH", alone ? " from the tree alone" : "",
               ok_flat ? "same" : "DIFFER", ok_treed ? "same" : "DIFFER",
               ok_tree ? "same" : "DIFFER", ok_nod ? "same" : "DIFFER", from_flat, decided,
               c.from_flat[MTREE_FACT_TERMINATES], c.from_flat[MTREE_FACT_READONLY],
               c.from_flat[MTREE_FACT_SIZE], c.from_flat[MTREE_FACT_TIE], nod_facts);
        fputs(details, stdout);
        for (size_t i = 0; i < mtree_import_nr_flat_facts(imp); i++)
            printf("    %s\n", mtree_import_flat_fact(imp, i));
        free(details);
        free(flat);
        free(treed);
        free(tree);
        if (mtree_import_free(imp))
            printf("  teardown failed: %s\n", memregion_last_error());
    }
    fclose(cfg);
    printf("facts taken from flat dumps: %u in %u configurations\n", flat_facts, total);
    /* `conformance (LABEL, generic rules)`: the prefix of both summary lines. */
    char prefix[600];
    snprintf(prefix, sizeof(prefix), "conformance%s%s%s%s", label || generic ? " (" : "",
             label ? label : "", label && generic ? ", " : "",
             generic ? "generic rules)"
             : label ? ")"
                     : "");
    printf("%s: from the tree alone: %u/%u configurations identical\n", prefix, tree_alone, total);
    if (expect_path) {
        printf("expected (%s): %u worse, %u better\n", expect_path, worse, better);
        for (size_t i = 0; i < expect.n; i++)
            free(expect.names[i]);
        free(expect.names);
        free(expect.level);
    }
    /* The summary line: `conformance: N/N configurations identical`. */
    printf("%s: %u/%u configurations identical\n", prefix, identical, total);
    if (expect_path)
        return worse == 0 && total ? 0 : 1;
    return identical == total && total ? 0 : 1;
}
