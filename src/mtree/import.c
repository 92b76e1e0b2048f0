/*
 * Importing QEMU `info mtree` tree dumps: the pipeline and the public entry
 * points of mtree.h. mtree_import() runs the stages of import.h in order
 * (parse, identify, facts, build, or facts from a flat dump, which builds);
 * the first failure stops it, and everything built so far is torn down.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../grow.h"
#include "import.h"

/* ---- errors ------------------------------------------------------------------ */

void import_error(MtreeError *err, unsigned line, bool in_facts, const char *fmt, ...)
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

/*
 * Make room for element @n of an array of capacity *@cap (32-bit counts:
 * the input limits keep them far below 2^31), doubling from 8 with the
 * library's growth helper (../grow.h). False when out of memory (the array
 * is kept); callers report -ENOMEM.
 */
bool import_grow(void **v, uint32_t *cap, uint32_t n, size_t elem)
{
    size_t c = *cap;
    if (mr_grow_array(v, &c, (size_t)n + 1, elem, 8) || c > UINT32_MAX)
        return false;
    *cap = (uint32_t)c;
    return true;
}

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
        import_error(err, 0, false, "no input text");
        return NULL;
    }
    if (len > MAX_TEXT || (opts && opts->facts_len > MAX_TEXT)) {
        import_error(err, 0, opts && opts->facts_len > MAX_TEXT, "input larger than %u bytes",
                     MAX_TEXT);
        return NULL;
    }
    MtreeImport *imp = calloc(1, sizeof(*imp));
    if (!imp) {
        err->code = -ENOMEM;
        import_error(err, 0, false, "out of memory");
        return NULL;
    }
    Parser *p = &imp->p;
    p->err = err;
    p->flags = opts ? opts->flags : 0;
    p->max_ram = opts && opts->max_ram_bytes ? opts->max_ram_bytes : DEFAULT_MAX_RAM;

    int rc = parse_tree(p, text ? text : "", len);
    if (!rc)
        rc = parse_index_names(p);
    if (!rc)
        rc = parse_split_bodies(p);
    if (!rc) {
        identify_hash_nodes(p);
        rc = identify_objects(p);
    }
    if (!rc)
        rc = identify_make_objects(p);
    if (!rc)
        rc = identify_aliases(p);
    if (!rc) {
        facts_decide(p);
        facts_count(p);
        if (opts && opts->facts_text)
            rc = facts_from_flat(imp, opts->facts_text, opts->facts_len);
        else
            rc = build_import(imp);
    }
    if (rc) {
        err->code = rc;
        if (!err->message[0])
            import_error(err, 0, false, "%s", strerror(-rc));
        if ((p->truncated || (len && text[len - 1] != '\n')) && !err->in_facts &&
            !strstr(err->message, "truncated")) {
            char why[sizeof(err->message)];
            memcpy(why, err->message, sizeof(why));
            import_error(err, err->line, false,
                         "the dump is truncated (no empty line after its last "
                         "block): %s",
                         why);
        }
        build_teardown(imp);
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
        import_error(err, 0, in_facts, "%s: %s", name, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        err->code = -EISDIR;
        import_error(err, 0, in_facts, "%s: is a directory, not a dump file", name);
        if (!is_stdin)
            fclose(f);
        return NULL;
    }
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_TEXT) {
                import_error(err, 0, in_facts, "%s: larger than %u bytes", name, MAX_TEXT);
                free(buf);
                buf = NULL;
                break;
            }
            if (mr_grow_array((void **)&buf, &cap, n + 1, 1, 1 << 16)) {
                err->code = -ENOMEM;
                free(buf);
                buf = NULL;
                break;
            }
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                err->code = -EIO;
                import_error(err, 0, in_facts, "%s: read error: %s", name, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (!buf && err && !err->message[0]) {
        err->code = -ENOMEM;
        import_error(err, 0, in_facts, "%s: out of memory", name);
    }
    if (buf && n == 0) {
        import_error(err, 0, in_facts, "%s: empty file (no dump in it)", name);
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
        import_error(err, 0, false, "no file name");
        return NULL;
    }
    if (facts_path && !strcmp(path, "-") && !strcmp(facts_path, "-")) {
        import_error(err, 0, true,
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
        import_error(err, 0, err->in_facts, "%s: %s", strcmp(name, "-") ? name : "standard input",
                     why);
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
    build_teardown(imp);
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
