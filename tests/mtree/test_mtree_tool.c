/*
 * The mtree tool, run as a program on QEMU's dumps: help and errors of every
 * subcommand, show/flat against the dumps, lookup answers checked against
 * QEMU's flat dumps, diff checked against the difference of QEMU's own flat
 * dumps before and after firmware, dot, the default board, and the
 * conformance runner's mismatch report.
 *
 * usage: test-mtree-tool MTREE DATADIR CONFORMANCE
 */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <memregion/version.h>

#include "files.h"

extern char **environ;

static const char *mtree_bin, *data_dir, *conformance_bin;
static char tmp_dir[] = "/tmp/mtree-test-XXXXXX";
static const char *stdin_path; /* when set, run() gives the program this file as stdin */

/* ---- running programs ----------------------------------------------------------- */

static char *slurp(const char *path)
{
    return ts_read_file(path, NULL);
}

/* Run @argv (NULL-terminated); capture stdout and stderr. Returns the exit status. */
static int run(char *const argv[], char **out, char **err)
{
    char po[256], pe[256];
    snprintf(po, sizeof(po), "%s/stdout", tmp_dir);
    snprintf(pe, sizeof(pe), "%s/stderr", tmp_dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, po, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (stdin_path)
        posix_spawn_file_actions_addopen(&fa, 0, stdin_path, O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    char *o = slurp(po), *e = slurp(pe);
    assert_non_null(o);
    assert_non_null(e);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return WEXITSTATUS(status);
}

static char *data(const char *config, const char *suffix)
{
    char *p = malloc(strlen(data_dir) + strlen(config) + strlen(suffix) + 3);
    assert_non_null(p);
    sprintf(p, "%s/%s%s", data_dir, config, suffix);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- QEMU's flat dumps, parsed here (independently of the library) ------------------ */

typedef struct QRange {
    uint64_t start, end;
    char body[256]; /* "(prio P, TYPE): NAME" without offset and KVM */
    char name[200];
    char type[8];
    int prio;
    uint64_t off;
} QRange;

typedef struct QBlock {
    char as[16][64];
    int nas;
    QRange r[512];
    int nr;
} QBlock;

typedef struct QFlat {
    QBlock b[64];
    int nb;
} QFlat;

static void parse_qflat(const char *path, QFlat *q)
{
    char *text = slurp(path);
    assert_non_null(text);
    memset(q, 0, sizeof(*q));
    QBlock *cur = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "FlatView #", 10)) {
            assert_true(q->nb < 64);
            cur = &q->b[q->nb++];
        } else if (!strncmp(line, " AS \"", 5)) {
            char *e = strstr(line + 5, "\", root: ");
            assert_non_null(e);
            assert_true(cur->nas < 16);
            size_t l = (size_t)(e - line - 5);
            l = l < 63 ? l : 63;
            memcpy(cur->as[cur->nas], line + 5, l);
            cur->as[cur->nas++][l] = 0;
        } else if (!strncmp(line, "  0", 3) || !strncmp(line, "  f", 3) ||
                   (line[0] == ' ' && line[1] == ' ' && strchr("0123456789abcdef", line[2]))) {
            if (strstr(line, "No rendered"))
                continue;
            assert_true(cur->nr < 512);
            QRange *r = &cur->r[cur->nr++];
            assert_int_equal(sscanf(line, "  %" SCNx64 "-%" SCNx64 " (prio %d, %7[^)]", &r->start,
                                    &r->end, &r->prio, r->type),
                             4);
            char *name = strstr(line, "): ") + 3;
            size_t l = strlen(name);
            while (l >= 4 && !strcmp(name + l - 4, " KVM"))
                name[l -= 4] = 0;
            if (l >= 18 && name[l - 18] == ' ' && name[l - 17] == '@') {
                r->off = strtoull(name + l - 16, NULL, 16);
                name[l - 18] = 0;
            }
            char nm[sizeof(r->name)];
            size_t nl = strlen(name) < sizeof(nm) - 1 ? strlen(name) : sizeof(nm) - 1;
            memcpy(nm, name, nl);
            nm[nl] = 0;
            memcpy(r->name, nm, nl + 1);
            char ty[sizeof(r->type)];
            memcpy(ty, r->type, sizeof(ty));
            snprintf(r->body, sizeof(r->body), "(prio %d, %s): %s", r->prio, ty, nm);
        }
    }
    free(text);
}

/* Number of blocks of @q listing address space @as. */
static int as_count(const QFlat *q, const char *as)
{
    int n = 0;
    for (int i = 0; i < q->nb; i++)
        for (int k = 0; k < q->b[i].nas; k++)
            n += !strcmp(q->b[i].as[k], as);
    return n;
}

static const QBlock *block_of(const QFlat *q, const char *as)
{
    for (int i = 0; i < q->nb; i++)
        for (int k = 0; k < q->b[i].nas; k++)
            if (!strcmp(q->b[i].as[k], as))
                return &q->b[i];
    return NULL;
}

static char **config_names(int *n)
{
    char *path = data("configs", ".tsv");
    char *text = slurp(path);
    free(path);
    assert_non_null(text);
    char **v = calloc(128, sizeof(char *));
    *n = 0;
    bool header = true;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (header) {
            header = false;
            continue;
        }
        char *tab = strchr(line, '\t');
        if (tab && *n < 128)
            v[(*n)++] = strndup(line, (size_t)(tab - line));
    }
    free(text);
    return v;
}

/* ---- help and errors ---------------------------------------------------------------- */

static void test_help(void **state)
{
    (void)state;
    const char *cmds[] = {"show", "flat", "lookup", "diff", "dot", "check"};
    for (size_t i = 0; i < 6; i++) {
        char *out, *err;
        char *argv[] = {(char *)mtree_bin, (char *)cmds[i], "--help", NULL};
        assert_int_equal(run(argv, &out, &err), 0);
        char want[64];
        snprintf(want, sizeof(want), "usage: mtree %s ", cmds[i]);
        assert_true(!strncmp(out, want, strlen(want)));
        assert_string_equal(err, "");
        free(out);
        free(err);
        char *argv2[] = {(char *)mtree_bin, "help", (char *)cmds[i], NULL};
        assert_int_equal(run(argv2, &out, NULL), 0);
        assert_true(!strncmp(out, want, strlen(want)));
        free(out);
    }
    char *out;
    char *argv[] = {(char *)mtree_bin, "--help", NULL};
    assert_int_equal(run(argv, &out, NULL), 0);
    assert_non_null(strstr(out, "usage: mtree [COMMAND]"));
    assert_non_null(strstr(out, "--facts-from"));
    free(out);
}

static void test_version(void **state)
{
    (void)state;
    char *out, *err;
    char *argv[] = {(char *)mtree_bin, "--version", NULL};
    assert_int_equal(run(argv, &out, &err), 0);
    char want[64];
    snprintf(want, sizeof(want), "mtree (memregion) %d.%d.%d\n", MEMREGION_VERSION_MAJOR,
             MEMREGION_VERSION_MINOR, MEMREGION_VERSION_PATCH);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
    free(out);
    free(err);
}

static void expect_failure(char *const argv[], const char *msg)
{
    char *out, *err;
    int rc = run(argv, &out, &err);
    if (rc != 2 || !strstr(err, msg) || out[0])
        fail_msg("%s %s: exit %d, stderr '%s', stdout '%.80s' (expected exit 2 and '%s')", argv[1],
                 argv[2] ? argv[2] : "", rc, err, out, msg);
    free(out);
    free(err);
}

static void test_errors(void **state)
{
    (void)state;
    char bad[256], *m = (char *)mtree_bin;
    snprintf(bad, sizeof(bad), "%s/bad.txt", tmp_dir);
    write_file(bad, "address-space: memory\n  0000000000000000-zzzz (prio 0, i/o): system\n");
    char badflat[256];
    snprintf(badflat, sizeof(badflat), "%s/badflat.txt", tmp_dir);
    write_file(badflat, "FlatView #0\n AS \"memory\", root: system\n  what is this\n");
    char *tree = data("x86_pc_reset", ".mtree-D.txt");
    expect_failure((char *[]){m, "frob", NULL}, "unknown command");
    expect_failure((char *[]){m, "show", "--nope", NULL}, "unknown option");
    expect_failure((char *[]){m, "show", "/nonexistent/dump.txt", NULL}, "/nonexistent/dump.txt");
    expect_failure((char *[]){m, "show", bad, NULL}, "bad.txt:2: expected START-END");
    expect_failure((char *[]){m, "flat", bad, NULL}, "bad.txt:2:");
    expect_failure((char *[]){m, "flat", tree, "--facts-from", badflat, NULL},
                   "badflat.txt:3: unexpected line");
    expect_failure((char *[]){m, "flat", tree, "--facts-from", tree, NULL},
                   "no 'FlatView #N' block");
    expect_failure((char *[]){m, "lookup", NULL}, "missing ADDR");
    expect_failure((char *[]){m, "lookup", tree, "xyz", NULL}, "not a hexadecimal address");
    expect_failure((char *[]){m, "lookup", tree, "0", "--as", "nope", NULL},
                   "no address space named 'nope'");
    expect_failure((char *[]){m, "diff", tree, NULL}, "expected two files");
    expect_failure((char *[]){m, "dot", tree, tree, NULL}, "too many arguments");
    expect_failure((char *[]){m, "show", "--facts-from", NULL}, "needs an argument");
    expect_failure((char *[]){m, "flat", "--facts-from", tree, NULL}, "needs a FILE");
    free(tree);
}

/*
 * Input that used to be accepted silently with a wrong result, or refused
 * with a message that pointed the wrong way (one check per case).
 */
static void test_input_errors(void **state)
{
    (void)state;
    char *m = (char *)mtree_bin;
    char path[256], empty[256], trunc[256], svg[256], nobin[256];
    char *tree = data("x86_pc_reset", ".mtree-D.txt");
    char *flat = data("x86_pc_reset", ".flat.txt");
    char *armflat = data("arm_virt_reset", ".flat.txt");
    char *owners = data("arm_mps2_an385_reset", ".mtree-Do.txt");

    /* END < START (without QEMU's overflow marker). */
    snprintf(path, sizeof(path), "%s/backwards.txt", tmp_dir);
    write_file(path, "address-space: memory\n"
                     "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                     "    0000000000002000-0000000000001000 (prio 0, ram): ram\n\n");
    expect_failure((char *[]){m, "show", path, NULL}, "backwards.txt:3: END is below START");
    /* A directory. */
    expect_failure((char *[]){m, "show", tmp_dir, NULL}, "is a directory");
    /* An empty file is named. */
    snprintf(empty, sizeof(empty), "%s/empty.txt", tmp_dir);
    write_file(empty, "");
    expect_failure((char *[]){m, "show", empty, NULL}, "empty.txt: empty file");
    /* A truncated dump: cut in the middle of a line. */
    char *text = slurp(tree);
    assert_non_null(text);
    size_t cut = strlen(text) / 2;
    while (text[cut - 1] == '\n' || text[cut] == '\n')
        cut++; /* in the middle of a line */
    text[cut] = 0;
    snprintf(trunc, sizeof(trunc), "%s/truncated.txt", tmp_dir);
    write_file(trunc, text);
    free(text);
    expect_failure((char *[]){m, "show", trunc, NULL}, "the dump is truncated");
    /* lookup FILE without an address. */
    expect_failure((char *[]){m, "lookup", tree, NULL}, "an address is missing after FILE");
    /* dot --svg without Graphviz: says so, leaves no file. */
    snprintf(svg, sizeof(svg), "%s/map.svg", tmp_dir);
    snprintf(nobin, sizeof(nobin), "%s/nobin", tmp_dir);
    mkdir(nobin, 0755);
    char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", nobin, 1);
    expect_failure((char *[]){m, "dot", "--svg", "-o", svg, tree, NULL}, "needs Graphviz");
    if (old_path) {
        setenv("PATH", old_path, 1);
        free(old_path);
    }
    assert_int_not_equal(access(svg, F_OK), 0);
    /* diff (or any command) on flat dumps: says why. */
    expect_failure((char *[]){m, "diff", flat, flat, NULL}, "a flat dump (`info mtree -f`");
    /* Dumps with owners: refused, naming the format. */
    expect_failure((char *[]){m, "show", owners, NULL}, "owners (`info mtree -o` or -Do)");
    /* A flat dump of another machine: the first mismatch is named. */
    expect_failure((char *[]){m, "flat", tree, "--facts-from", armflat, NULL},
                   "not a flat dump of this machine: address space");
    /* `-` is standard input, for the tree dump or the flat dump, not both. */
    char *out, *err;
    stdin_path = tree;
    assert_int_equal(run((char *[]){m, "show", "-D", "-", NULL}, &out, &err), 0);
    char *want = slurp(tree);
    assert_non_null(want);
    assert_true(strstr(out, "address-space: memory\n") != NULL);
    free(out);
    free(err);
    free(want);
    assert_int_equal(run((char *[]){m, "flat", "-", "--facts-from", "-", NULL}, &out, &err), 2);
    assert_non_null(strstr(err, "not both"));
    free(out);
    free(err);
    stdin_path = flat;
    assert_int_equal(run((char *[]){m, "flat", tree, "--facts-from", "-", NULL}, &out, &err), 0);
    free(out);
    free(err);
    stdin_path = NULL;
    free(tree);
    free(flat);
    free(armflat);
    free(owners);
}

/* ---- show and flat on dumps ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Blocks of @text, sorted; flat blocks lose `FlatView #N` and get their AS
 * lines sorted (QEMU's order is not recorded in a tree dump). */
static char **sorted_blocks(const char *text, bool flat, int *n)
{
    char **v = calloc(4096, sizeof(char *));
    *n = 0;
    char *copy = strdup(text);
    for (char *p = copy; p && *p;) {
        char *e = strstr(p, "\n\n");
        if (e)
            *e = 0;
        if (*p) {
            char *blk = malloc(strlen(p) + 2);
            blk[0] = 0;
            char *as[64];
            int nas = 0;
            char *lines = strdup(p);
            for (char *l = strtok(lines, "\n"); l; l = strtok(NULL, "\n")) {
                if (flat && !strncmp(l, "FlatView #", 10))
                    continue;
                if (flat && !strncmp(l, " AS \"", 5) && nas < 64) {
                    as[nas++] = l;
                    continue;
                }
                strcat(blk, l);
                strcat(blk, "\n");
            }
            qsort(as, (size_t)nas, sizeof(char *), cmp_str);
            char *full = malloc(strlen(p) + 2);
            full[0] = 0;
            for (int i = 0; i < nas; i++) {
                strcat(full, as[i]);
                strcat(full, "\n");
            }
            strcat(full, blk);
            free(blk);
            free(lines);
            v[(*n)++] = full;
        }
        p = e ? e + 2 : NULL;
    }
    free(copy);
    qsort(v, (size_t)*n, sizeof(char *), cmp_str);
    return v;
}

static void assert_same_blocks(const char *ours, const char *theirs, bool flat)
{
    int na, nb;
    char **a = sorted_blocks(ours, flat, &na), **b = sorted_blocks(theirs, flat, &nb);
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_string_equal(a[i], b[i]);
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);
}

static void test_show_flat_on_dumps(void **state)
{
    (void)state;
    /* The last four are QEMU's Arm SSE boards: aliases that lead back into their own container. */
    const char *configs[] = {
        "x86_pc_reset",         "arm_mps2_an385_reset", "x86_pc_vgastd_e1000_bios",
        "arm_mps2_an505_reset", "arm_mps2_an521_reset", "arm_mps3_an547_reset",
        "arm_musca_b1_reset"};
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        char *tree = data(configs[i], ".mtree-D.txt"), *plain = data(configs[i], ".mtree.txt");
        char *flat = data(configs[i], ".flat.txt");
        char *want_tree = slurp(tree), *want_plain = slurp(plain), *want_flat = slurp(flat);
        char *out;
        assert_int_equal(run((char *[]){(char *)mtree_bin, "show", "-D", tree, NULL}, &out, NULL),
                         0);
        assert_same_blocks(out, want_tree, false);
        free(out);
        assert_int_equal(run((char *[]){(char *)mtree_bin, "show", tree, NULL}, &out, NULL), 0);
        assert_same_blocks(out, want_plain, false);
        free(out);
        /* From `info mtree` (no -D) with the flat dump's facts, as a user would. */
        assert_int_equal(
            run((char *[]){(char *)mtree_bin, "flat", plain, "--facts-from", flat, NULL}, &out,
                NULL),
            0);
        assert_same_blocks(out, want_flat, true);
        free(out);
        free(tree);
        free(plain);
        free(flat);
        free(want_tree);
        free(want_plain);
        free(want_flat);
    }
}

/* ---- check: overlaps and ties ----------------------------------------------------------
 * In QEMU's own flat dump of g3beige, fwcfg.ctl and fwcfg.data show at
 * f0000510..f0000512 inside pci-hole: both are priority 0 in system, so
 * only insertion order makes them win. The PC has no such tie. */
static void test_check(void **state)
{
    (void)state;
    char *tree = data("ppc_g3beige_reset", ".mtree-D.txt");
    char *flat = data("ppc_g3beige_reset", ".flat.txt");
    char *out;
    assert_int_equal(
        run((char *[]){(char *)mtree_bin, "check", tree, "--facts-from", flat, NULL}, &out, NULL),
        0);
    const char *ties = strstr(out, "\nties (2): ");
    assert_non_null(ties);
    assert_non_null(strstr(ties, "  system: [00000000f0000510-00000000f0000511] 'fwcfg.ctl' "
                                 "(prio 0) over 'pci-hole' (prio 0)\n"));
    assert_non_null(strstr(ties, "  system: [00000000f0000512-00000000f0000512] 'fwcfg.data' "
                                 "(prio 0) over 'pci-hole' (prio 0)\n"));
    assert_true(!strncmp(out, "overlaps (2): ", 14));
    free(out);
    free(tree);
    free(flat);
    tree = data("x86_pc_reset", ".mtree-D.txt");
    assert_int_equal(run((char *[]){(char *)mtree_bin, "check", tree, NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, "\nties (0): "));
    free(out);
    free(tree);
    /* QEMU's 40p and clipper map two 'dma-pageh' port lists over the same
     * byte at equal priority: the tie the tree alone shows (wide captures). */
    static const struct {
        const char *config, *line;
    } pageh[] = {
        {"ppc_40p_reset", "  pci-io: [0000000000000489-0000000000000489] 'dma-pageh' (prio 0) over "
                          "'dma-pageh' (prio 0)\n"},
        {"alpha_clipper_reset", "  pci0-io: [0000000000000489-0000000000000489] 'dma-pageh' "
                                "(prio 0) over 'dma-pageh' (prio 0)\n"},
    };
    for (size_t i = 0; i < sizeof(pageh) / sizeof(pageh[0]); i++) {
        tree = data(pageh[i].config, ".mtree-D.txt");
        char *wide = malloc(strlen(tree) + 16);
        assert_non_null(wide);
        sprintf(wide, "%s/../data-wide/%s.mtree-D.txt", data_dir, pageh[i].config);
        assert_int_equal(run((char *[]){(char *)mtree_bin, "check", wide, NULL}, &out, NULL), 0);
        const char *t = strstr(out, "\nties (");
        assert_non_null(t);
        assert_non_null(strstr(t, pageh[i].line));
        free(out);
        free(wide);
        free(tree);
    }
}

/* ---- lookup against QEMU's flat dumps ------------------------------------------------ */

static void add_addr(uint64_t *v, int *n, uint64_t a)
{
    for (int i = 0; i < *n; i++)
        if (v[i] == a)
            return;
    if (*n < 600)
        v[(*n)++] = a;
}

static void test_lookup_against_flat(void **state)
{
    (void)state;
    int nconf;
    char **configs = config_names(&nconf);
    assert_true(nconf >= 22);
    static QFlat q;
    unsigned checked = 0, unassigned = 0;
    for (int c = 0; c < nconf; c++) {
        char *tree = data(configs[c], ".mtree-D.txt"), *flat = data(configs[c], ".flat.txt");
        parse_qflat(flat, &q);
        /* Addresses: first, last and middle byte of every range, and the
         * byte after each range (often a hole). */
        static uint64_t addrs[600];
        int na = 0;
        for (int b = 0; b < q.nb; b++)
            for (int r = 0; r < q.b[b].nr; r++) {
                const QRange *x = &q.b[b].r[r];
                add_addr(addrs, &na, x->start);
                add_addr(addrs, &na, x->end);
                add_addr(addrs, &na, x->start + (x->end - x->start) / 2);
                if (x->end != UINT64_MAX)
                    add_addr(addrs, &na, x->end + 1);
            }
        char **argv = calloc((size_t)na + 8, sizeof(char *));
        char(*hex)[20] = calloc((size_t)na, 20);
        int k = 0;
        argv[k++] = (char *)mtree_bin;
        argv[k++] = "lookup";
        argv[k++] = tree;
        argv[k++] = "--facts-from";
        argv[k++] = flat;
        for (int i = 0; i < na; i++) {
            snprintf(hex[i], 20, "%" PRIx64, addrs[i]);
            argv[k++] = hex[i];
        }
        char *out, *err;
        int rc = run(argv, &out, &err);
        if (rc)
            fail_msg("%s: lookup failed: %s", configs[c], err);
        /* Check every address space named once in the dump. */
        const char *as = NULL;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strncmp(line, "address-space: ", 15)) {
                as = line + 15;
                continue;
            }
            if (line[0] != ' ' || line[1] != ' ' || line[2] == ' ' || !as || as_count(&q, as) != 1)
                continue;
            uint64_t a = strtoull(line + 2, NULL, 16);
            const char *got = line + 2 + 16 + 2;
            const QBlock *blk = block_of(&q, as);
            const QRange *hit = NULL;
            for (int r = 0; r < blk->nr && !hit; r++)
                if (a >= blk->r[r].start && a <= blk->r[r].end)
                    hit = &blk->r[r];
            char want[512];
            if (hit)
                snprintf(want, sizeof(want), "%s @%016" PRIx64 " (prio %d, %s)", hit->name,
                         hit->off + (a - hit->start), hit->prio, hit->type);
            else
                snprintf(want, sizeof(want), "unassigned");
            if (strcmp(got, want))
                fail_msg("%s [%s] %016" PRIx64 ": mtree says '%s', QEMU's flat dump '%s'",
                         configs[c], as, a, got, want);
            checked++;
            unassigned += !hit;
        }
        free(out);
        free(err);
        free(argv);
        free(hex);
        free(tree);
        free(flat);
        free(configs[c]);
    }
    free(configs);
    printf("lookup: %u answers checked against QEMU's flat dumps (%u unassigned)\n", checked,
           unassigned);
    assert_true(checked > 5000);
    assert_true(unassigned > 100);
}

/* ---- diff against QEMU's own before/after flat dumps ------------------------------------ */

/* The diff lines of one address space, computed from QEMU's flat dumps. */
static int expected_diff(const QBlock *a, const QBlock *b, char lines[][600], int max)
{
    int n = 0, i = 0, j = 0;
    while ((i < a->nr || j < b->nr) && n + 2 < max) {
        const QRange *x = i < a->nr ? &a->r[i] : NULL, *y = j < b->nr ? &b->r[j] : NULL;
        char xl[400] = "", yl[400] = "";
        if (x) {
            snprintf(xl, sizeof(xl), "%016" PRIx64 "-%016" PRIx64 " %s", x->start, x->end, x->body);
            if (x->off)
                snprintf(xl + strlen(xl), sizeof(xl) - strlen(xl), " @%016" PRIx64, x->off);
        }
        if (y) {
            snprintf(yl, sizeof(yl), "%016" PRIx64 "-%016" PRIx64 " %s", y->start, y->end, y->body);
            if (y->off)
                snprintf(yl + strlen(yl), sizeof(yl) - strlen(yl), " @%016" PRIx64, y->off);
        }
        if (x && (!y || x->start < y->start)) {
            snprintf(lines[n++], 600, "  - %s", xl);
            i++;
        } else if (y && (!x || y->start < x->start)) {
            snprintf(lines[n++], 600, "  + %s", yl);
            j++;
        } else if (x->end == y->end) {
            i++, j++;
            if (!strcmp(xl, yl))
                continue;
            snprintf(lines[n++], 600, "  ~ %s", xl);
            snprintf(lines[n++], 600, "    now %s", yl + 34);
        } else {
            snprintf(lines[n++], 600, "  - %s", xl);
            snprintf(lines[n++], 600, "  + %s", yl);
            i++, j++;
        }
    }
    return n;
}

static void test_diff_before_after_firmware(void **state)
{
    (void)state;
    char *ta = data("x86_pc_vgastd_e1000_reset", ".mtree-D.txt");
    char *fa = data("x86_pc_vgastd_e1000_reset", ".flat.txt");
    char *tb = data("x86_pc_vgastd_e1000_bios", ".mtree-D.txt");
    char *fb = data("x86_pc_vgastd_e1000_bios", ".flat.txt");
    char *out, *err;
    int rc =
        run((char *[]){(char *)mtree_bin, "diff", ta, tb, "--facts-a", fa, "--facts-b", fb, NULL},
            &out, &err);
    assert_int_equal(rc, 1); /* they differ */
    static QFlat qa, qb;
    parse_qflat(fa, &qa);
    parse_qflat(fb, &qb);
    /* Every address space named once on both sides. */
    static char want[4096][600];
    unsigned spaces = 0, lines_checked = 0;
    for (int i = 0; i < qa.nb; i++)
        for (int k = 0; k < qa.b[i].nas; k++) {
            const char *as = qa.b[i].as[k];
            if (as_count(&qa, as) != 1 || as_count(&qb, as) != 1)
                continue;
            int n = expected_diff(block_of(&qa, as), block_of(&qb, as), want, 4096);
            /* The tool's section for this address space. */
            char hdr[128];
            snprintf(hdr, sizeof(hdr), "address-space: %s\n", as);
            char *sec = strstr(out, hdr);
            if (!n) {
                assert_null(sec);
                continue;
            }
            assert_non_null(sec);
            sec += strlen(hdr);
            char *end = strstr(sec, "\n\n");
            assert_non_null(end);
            char *copy = strndup(sec, (size_t)(end - sec));
            int got = 0;
            for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n"), got++) {
                assert_true(got < n);
                if (strcmp(l, want[got]))
                    fail_msg("[%s] line %d: mtree '%s', from QEMU's dumps '%s'", as, got, l,
                             want[got]);
                lines_checked++;
            }
            assert_int_equal(got, n);
            free(copy);
            spaces++;
        }
    printf("diff: %u lines in %u address spaces match QEMU's before/after flat dumps\n",
           lines_checked, spaces);
    assert_true(spaces >= 3);
    /* The PAM shadow: the BIOS segment now reads write-protected RAM. */
    assert_non_null(strstr(out, "  + 00000000000f0000-00000000000fffff (prio 0, rom): pc.ram "
                                "@00000000000f0000\n"));
    assert_non_null(strstr(out, "  + 00000000febc0000-00000000febdffff (prio 1, i/o): "
                                "e1000-mmio\n"));
    assert_non_null(strstr(out, "\ndiff: "));
    free(out);
    free(err);
    /* A dump against itself: no difference, exit 0. */
    rc = run((char *[]){(char *)mtree_bin, "diff", ta, ta, NULL}, &out, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "diff: 0 appeared, 0 vanished, 0 changed in 0 address spaces\n");
    free(out);
    free(ta);
    free(fa);
    free(tb);
    free(fb);
}

/* ---- the default board ------------------------------------------------------------------- */

static void test_default_board(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run((char *[]){(char *)mtree_bin, NULL}, &out, NULL), 0);
    /* The parts the board promises, as QEMU would print them. */
    const char *want[] = {
        "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n",
        "    0000000000000000-000000007fffffff (prio 0, ram): alias ram-below-4g @pc.ram "
        "0000000000000000-000000007fffffff\n",
        "    0000000100000000-000000013fffffff (prio 0, ram): alias ram-above-4g @pc.ram "
        "0000000080000000-00000000bfffffff\n",
        "    0000000080000000-00000000febfffff (prio 0, i/o): alias pci-hole @pci "
        "0000000080000000-00000000febfffff\n",
        "    00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci "
        "00000000000a0000-00000000000bffff\n",
        "    00000000000f0000-00000000000fffff (prio 1, i/o): alias pam-pci @pci "
        "00000000000f0000-00000000000fffff\n",
        "address-space: cpu-smm-0\n",
        "address-space: I/O\n  0000000000000000-000000000000ffff (prio 0, i/o): io\n",
        /* flat: RAM below and above 4G, the VGA window, the BIOS, per-CPU APIC */
        "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n"
        "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
        "  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
        "  00000000000e0000-00000000000fffff (prio 0, rom): pc.bios @0000000000020000\n"
        "  0000000000100000-000000007fffffff (prio 0, ram): pc.ram @0000000000100000\n",
        "  00000000fee00000-00000000fee00fff (prio 4096, i/o): apic-cpu0\n",
        "  00000000fee00000-00000000fee00fff (prio 4096, i/o): apic-cpu1\n",
        "  0000000100000000-000000013fffffff (prio 0, ram): pc.ram @0000000080000000\n",
        /* SMM sees RAM behind the VGA window */
        " AS \"cpu-smm-0\", root: smm-container-0\n Root memory region: smm-container-0\n"
        "  0000000000000000-00000000000bffff (prio 0, ram): pc.ram\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(out, want[i]))
            fail_msg("default board output lacks:\n%s", want[i]);
    free(out);

    /* Our own dump format reads back: show -D, import, show -D again. */
    char path[256];
    snprintf(path, sizeof(path), "%s/board.txt", tmp_dir);
    char *dump, *again, *flat1, *flat2;
    assert_int_equal(
        run((char *[]){(char *)mtree_bin, "show", "-D", "--firmware", NULL}, &dump, NULL), 0);
    write_file(path, dump);
    assert_int_equal(run((char *[]){(char *)mtree_bin, "show", "-D", path, NULL}, &again, NULL), 0);
    assert_string_equal(again, dump);
    assert_int_equal(run((char *[]){(char *)mtree_bin, "flat", "--firmware", NULL}, &flat1, NULL),
                     0);
    assert_int_equal(run((char *[]){(char *)mtree_bin, "flat", path, NULL}, &flat2, NULL), 0);
    assert_same_blocks(flat2, flat1, true);
    free(dump);
    free(again);
    free(flat1);
    free(flat2);

    /* diff without files: the board at reset against after its firmware. */
    assert_int_equal(run((char *[]){(char *)mtree_bin, "diff", NULL}, &out, NULL), 1);
    assert_non_null(strstr(out,
                           "address-space: memory\n"
                           "  ~ 00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
                           "    now (prio 0, ram): pc.ram @00000000000c0000\n"
                           "  ~ 00000000000e0000-00000000000fffff (prio 0, rom): pc.bios "
                           "@0000000000020000\n"
                           "    now (prio 0, rom): pc.ram @00000000000e0000\n"
                           "  + 00000000febc0000-00000000febdffff (prio 0, i/o): e1000-mmio\n"));
    free(out);

    /* lookup on the board: the BIOS shadow after firmware, through PAM. */
    assert_int_equal(run((char *[]){(char *)mtree_bin, "lookup", "--firmware", "--as", "memory",
                                    "0xffff0", NULL},
                         &out, NULL),
                     0);
    assert_string_equal(out, "address-space: memory\n"
                             "  00000000000ffff0: pc.ram @00000000000ffff0 (prio 0, rom)\n"
                             "    range: 00000000000e0000-00000000000fffff (prio 0, rom): pc.ram "
                             "@00000000000e0000\n"
                             "    path: system > pam-rom (alias @pc.ram 00000000000f0000) > "
                             "pc.ram\n"
                             "\n");
    free(out);
}

/* ---- dot ------------------------------------------------------------------------------ */

static void test_dot(void **state)
{
    (void)state;
    char *tree = data("x86_pc_reset", ".mtree-D.txt");
    char *out;
    assert_int_equal(run((char *[]){(char *)mtree_bin, "dot", tree, NULL}, &out, NULL), 0);
    assert_true(!strncmp(out, "digraph mtree {\n", 16));
    assert_true(strlen(out) > 2 && !strcmp(out + strlen(out) - 2, "}\n"));
    int depth = 0;
    for (const char *p = out; *p; p++) {
        /* Braces outside quoted strings and HTML labels balance. */
        if (*p == '"')
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
        if (*p == '{')
            depth++;
        if (*p == '}')
            depth--;
        assert_true(depth >= 0);
    }
    assert_int_equal(depth, 0);
    assert_non_null(strstr(out, "[label=\"pc.bios\\nrom, prio 0, size 0x40000\""));
    assert_non_null(strstr(out, "style=dashed, label=\"@20000\"")); /* isa-bios -> pc.bios */
    assert_non_null(strstr(out, "as0 [shape=ellipse, label=\"memory\"]"));
    free(out);

    char svg[256];
    snprintf(svg, sizeof(svg), "%s/map.svg", tmp_dir);
    char *err;
    int rc = run((char *[]){(char *)mtree_bin, "dot", "--svg", "-o", svg, tree, NULL}, NULL, &err);
    if (rc == 2 && strstr(err, "install Graphviz")) {
        free(err);
        free(tree);
        skip();
    }
    assert_int_equal(rc, 0);
    char *s = slurp(svg);
    assert_non_null(s);
    assert_non_null(strstr(s, "<svg"));
    assert_non_null(strstr(s, "pc.bios"));
    free(s);
    free(err);
    free(tree);
}

/* ---- the conformance runner reports a mismatch ------------------------------------------- */

static void copy_file(const char *from, const char *to, const char *old, const char *new)
{
    char *t = slurp(from);
    assert_non_null(t);
    if (old) {
        char *p = strstr(t, old);
        assert_non_null(p);
        char *u = malloc(strlen(t) + strlen(new) + 1);
        sprintf(u, "%.*s%s%s", (int)(p - t), t, new, p + strlen(old));
        free(t);
        t = u;
    }
    write_file(to, t);
    free(t);
}

static void test_conformance_reports_mismatch(void **state)
{
    (void)state;
    char dir[256], path[512];
    snprintf(dir, sizeof(dir), "%s/data", tmp_dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/configs.tsv", dir);
    write_file(path, "name\trun_seconds\tcommand\nx86_pc_reset\t0\tqemu\n");
    const char *suffixes[] = {".mtree-D.txt", ".mtree.txt", ".flat.txt"};
    for (int i = 0; i < 3; i++) {
        char *from = data("x86_pc_reset", suffixes[i]);
        snprintf(path, sizeof(path), "%s/x86_pc_reset%s", dir, suffixes[i]);
        copy_file(from, path, NULL, NULL);
        free(from);
    }
    char *out;
    assert_int_equal(run((char *[]){(char *)conformance_bin, dir, NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, "x86_pc_reset: identical"));
    assert_non_null(strstr(out, "\nconformance: 1/1 configurations identical\n"));
    free(out);

    /* One changed byte in QEMU's flat dump must be found and shown. */
    char *from = data("x86_pc_reset", ".flat.txt");
    snprintf(path, sizeof(path), "%s/x86_pc_reset.flat.txt", dir);
    copy_file(from, path, "(prio 0, i/o): hpet\n", "(prio 0, i/o): hpet2\n");
    free(from);
    assert_int_equal(run((char *[]){(char *)conformance_bin, dir, NULL}, &out, NULL), 1);
    assert_non_null(strstr(out, "x86_pc_reset: MISMATCH"));
    assert_non_null(strstr(out, "    ours: "
                                "  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet\n"));
    assert_non_null(strstr(out, "    qemu: "
                                "  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet2\n"));
    assert_non_null(strstr(out, "\nconformance: 0/1 configurations identical\n"));
    free(out);

    /* --expect: a mismatch listed as known passes, one expected to be
     * identical (from the tree alone, or unlisted) fails the run. */
    char expect[512];
    snprintf(expect, sizeof(expect), "%s/expected.tsv", dir);
    write_file(expect, "# comment\nx86_pc_reset\tfail\n");
    assert_int_equal(
        run((char *[]){(char *)conformance_bin, dir, "--expect", expect, NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, "expected ("));
    assert_non_null(strstr(out, ": 0 worse, 0 better\n"));
    free(out);
    write_file(expect, "x86_pc_reset\ttree\n");
    assert_int_equal(
        run((char *[]){(char *)conformance_bin, dir, "--expect", expect, NULL}, &out, NULL), 1);
    assert_non_null(strstr(out, "x86_pc_reset: WORSE than expected: fail, expected tree\n"));
    free(out);
    write_file(expect, "other\tfail\n");
    assert_int_equal(
        run((char *[]){(char *)conformance_bin, dir, "--expect", expect, NULL}, &out, NULL), 1);
    free(out);
    /* Restored, the capture is rebuilt from the tree alone: better than listed. */
    from = data("x86_pc_reset", ".flat.txt");
    copy_file(from, path, NULL, NULL);
    free(from);
    write_file(expect, "x86_pc_reset\tfacts\n");
    assert_int_equal(
        run((char *[]){(char *)conformance_bin, dir, "--expect", expect, NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, "x86_pc_reset: better than expected: tree, expected facts\n"));
    assert_non_null(
        strstr(out, "\nconformance: from the tree alone: 1/1 configurations identical\n"));
    free(out);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test-mtree-tool MTREE DATADIR CONFORMANCE\n");
        return 2;
    }
    mtree_bin = argv[1];
    data_dir = argv[2];
    conformance_bin = argv[3];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_show_flat_on_dumps),
        cmocka_unit_test(test_lookup_against_flat),
        cmocka_unit_test(test_diff_before_after_firmware),
        cmocka_unit_test(test_default_board),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_conformance_reports_mismatch),
    };
    return cmocka_run_group_tests_name("mtree-tool", tests, setup, teardown);
}
