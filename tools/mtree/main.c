/*
 * mtree: read, print, look up, diff and draw memory maps in QEMU's
 * `info mtree` format, rebuilt with the memregion library.
 *
 * Exit status: 0 success; 1 `diff` found differences; 2 usage, file or
 * input errors (message on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memregion/memregion.h>

#include "board.h"
#include "mtree_tool.h"

extern char **environ;

#define EXIT_DIFF 1
#define EXIT_ERR  2

/* ---- options ------------------------------------------------------------------ */

typedef struct Opts {
    const char *cmd;
    const char **pos; /* positional arguments (argc entries) */
    int npos;
    const char *facts_from, *facts_a, *facts_b;
    const char *as_name;
    const char *out_file;
    bool disabled, svg, generic, firmware, explain, help;
} Opts;

static const char usage_main[] =
    "usage: mtree [COMMAND] [OPTIONS] [FILE...]\n"
    "\n"
    "Read QEMU `info mtree` dumps (or the built-in default board when no FILE is\n"
    "given), rebuild them with the memregion library, and print, look up, diff\n"
    "or draw the memory map.\n"
    "\n"
    "commands:\n"
    "  show   [FILE]           the region trees (`info mtree` format)\n"
    "  flat   [FILE]           the flat views (`info mtree -f` format)\n"
    "  lookup [FILE] ADDR...   which region serves ADDR, at which offset, through\n"
    "                          which aliases\n"
    "  diff   [A B]            flat ranges that appeared, vanished or changed\n"
    "  dot    [FILE]           Graphviz DOT of the tree and the flat map\n"
    "  check  [FILE]           overlapping siblings, and ties decided by insertion order\n"
    "  help   [COMMAND]        help for one command\n"
    "\n"
    "Without a command: `show` and `flat` of the default board (a PC-like\n"
    "machine: RAM below and above 4G, PCI hole, VGA window, BIOS with PAM\n"
    "shadow aliases, SMRAM, per-CPU APIC pages, I/O ports).\n"
    "\n"
    "common options:\n"
    "  --facts-from FLATDUMP   take the four facts a tree dump lacks from the\n"
    "                          matching `info mtree -f` dump (docs/mtree.md)\n"
    "  --generic-rules         decide those facts without QEMU's name tables\n"
    "  --explain               list on stderr the facts taken from FLATDUMP\n"
    "  --firmware              default board: the state after its firmware ran\n"
    "  -h, --help              this help (or `mtree COMMAND --help`)\n"
    "  --version               the mtree and library version\n";

static const char usage_show[] =
    "usage: mtree show [OPTIONS] [FILE]\n"
    "\n"
    "Print the region trees of all address spaces, as QEMU's `info mtree`:\n"
    "one block per root region, then one `memory-region:` block per alias\n"
    "target. FILE is a tree dump (`info mtree -D` is best; `info mtree` works);\n"
    "without FILE, the default board.\n"
    "\n"
    "  -D, --disabled          include disabled regions (`info mtree -D`)\n"
    "  --facts-from FLATDUMP, --generic-rules, --explain, --firmware: see `mtree --help`\n";

static const char usage_flat[] =
    "usage: mtree flat [OPTIONS] [FILE]\n"
    "\n"
    "Rebuild FILE (a tree dump; default: the default board), render it with the\n"
    "library and print its flat views as QEMU's `info mtree -f`.\n"
    "\n"
    "  --facts-from FLATDUMP, --generic-rules, --explain, --firmware: see `mtree --help`\n";

static const char usage_lookup[] =
    "usage: mtree lookup [OPTIONS] [FILE] ADDR...\n"
    "\n"
    "For each ADDR (hexadecimal, with or without 0x) say which region serves it\n"
    "in each address space: the region, the offset in it, the flat range, and the\n"
    "path of containers and aliases from the address-space root. With one\n"
    "argument, ADDR is looked up on the default board.\n"
    "\n"
    "  --as NAME               only address space NAME\n"
    "  --facts-from FLATDUMP, --generic-rules, --explain, --firmware: see `mtree --help`\n";

static const char usage_diff[] =
    "usage: mtree diff [OPTIONS] [A B]\n"
    "\n"
    "Rebuild tree dumps A and B, render both, and list per address space the\n"
    "flat ranges that appeared (+), vanished (-) or changed (~, same addresses,\n"
    "other contents). Without files: the default board at reset against the\n"
    "default board after its firmware ran. Exit status 1 when they differ.\n"
    "\n"
    "  --facts-a FLATDUMP      flat dump of A (see --facts-from)\n"
    "  --facts-b FLATDUMP      flat dump of B\n"
    "  --generic-rules, --explain: see `mtree --help`\n";

static const char usage_dot[] =
    "usage: mtree dot [OPTIONS] [FILE]\n"
    "\n"
    "Write a Graphviz DOT graph: the region tree (containers to subregions,\n"
    "dashed arrows from aliases to their targets, disabled regions grey) and\n"
    "one table per flat view.\n"
    "\n"
    "  --svg                   render to SVG with `dot` (Graphviz must be installed)\n"
    "  -o FILE                 write to FILE instead of standard output\n"
    "  --facts-from FLATDUMP, --generic-rules, --explain, --firmware: see `mtree --help`\n";

static const char usage_check[] =
    "usage: mtree check [OPTIONS] [FILE]\n"
    "\n"
    "List every pair of sibling regions that overlap (the one that shows first),\n"
    "then the ties among them: equal priorities, where only the order in which\n"
    "the board added them decides. FILE is a tree dump; without FILE, the\n"
    "default board.\n"
    "\n"
    "  --facts-from FLATDUMP, --generic-rules, --explain, --firmware: see `mtree --help`\n";

static const char *usage_of(const char *cmd)
{
    if (!cmd)
        return usage_main;
    if (!strcmp(cmd, "show"))
        return usage_show;
    if (!strcmp(cmd, "flat"))
        return usage_flat;
    if (!strcmp(cmd, "lookup"))
        return usage_lookup;
    if (!strcmp(cmd, "diff"))
        return usage_diff;
    if (!strcmp(cmd, "dot"))
        return usage_dot;
    if (!strcmp(cmd, "check"))
        return usage_check;
    return NULL;
}

static int die_usage(const char *cmd, const char *msg, const char *arg)
{
    fprintf(stderr, "mtree%s%s: %s%s%s\n", cmd ? " " : "", cmd ? cmd : "", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'mtree %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_ERR;
}

/* Parse argv after the command. Returns 0 or an exit status. */
static int parse_opts(int argc, char **argv, int first, Opts *o)
{
    bool only_pos = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *c = o->cmd;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (i + 1 >= argc)                                                                         \
            return die_usage(c, "option needs an argument", a);                                    \
    } while (0)
        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            o->pos[o->npos++] = a;
        } else if (!strcmp(a, "--")) {
            only_pos = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = true;
        } else if (!strcmp(a, "--facts-from")) {
            NEED_ARG();
            o->facts_from = argv[++i];
        } else if (!strcmp(a, "--facts-a") && c && !strcmp(c, "diff")) {
            NEED_ARG();
            o->facts_a = argv[++i];
        } else if (!strcmp(a, "--facts-b") && c && !strcmp(c, "diff")) {
            NEED_ARG();
            o->facts_b = argv[++i];
        } else if (!strcmp(a, "--generic-rules")) {
            o->generic = true;
        } else if (!strcmp(a, "--explain")) {
            o->explain = true;
        } else if (!strcmp(a, "--firmware")) {
            o->firmware = true;
        } else if ((!strcmp(a, "-D") || !strcmp(a, "--disabled")) && c && !strcmp(c, "show")) {
            o->disabled = true;
        } else if (!strcmp(a, "--as") && c && !strcmp(c, "lookup")) {
            NEED_ARG();
            o->as_name = argv[++i];
        } else if (!strcmp(a, "--svg") && c && !strcmp(c, "dot")) {
            o->svg = true;
        } else if (!strcmp(a, "-o") && c && !strcmp(c, "dot")) {
            NEED_ARG();
            o->out_file = argv[++i];
        } else {
            return die_usage(c, "unknown option", a);
        }
#undef NEED_ARG
    }
    return 0;
}

/* ---- sources: a dump or the default board --------------------------------------- */

typedef struct Source {
    MtreeImport *imp;
    Board board;
    bool is_board;
    AddressSpace *const *spaces;
    size_t nspaces;
} Source;

static int open_source(Source *s, const char *file, const char *facts, const Opts *o, bool firmware)
{
    memset(s, 0, sizeof(*s));
    if (!file) {
        if (facts)
            return die_usage(o->cmd, "--facts-from needs a FILE", NULL);
        int rc = board_init(&s->board, firmware);
        if (rc) {
            fprintf(stderr, "mtree: building the default board failed: %s\n",
                    memregion_last_error());
            return EXIT_ERR;
        }
        s->is_board = true;
        s->spaces = s->board.spaces;
        s->nspaces = s->board.nspaces;
        return 0;
    }
    MtreeImportOptions io = {.flags = o->generic ? MTREE_IMPORT_GENERIC_RULES : 0};
    MtreeError err;
    s->imp = mtree_import_file(file, facts, &io, &err);
    if (!s->imp) {
        const char *where = err.in_facts ? facts : file;
        if (err.line)
            fprintf(stderr, "mtree: %s:%u: %s\n", where, err.line, err.message);
        else
            fprintf(stderr, "mtree: %s\n", err.message);
        return EXIT_ERR;
    }
    s->spaces = mtree_import_spaces(s->imp);
    s->nspaces = mtree_import_nr_spaces(s->imp);
    if (o->explain) {
        size_t n = mtree_import_nr_flat_facts(s->imp);
        fprintf(stderr, "%s: %zu fact%s taken from %s\n", file, n, n == 1 ? "" : "s",
                facts ? facts : "(no flat dump)");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", mtree_import_flat_fact(s->imp, i));
    }
    return 0;
}

static void close_source(Source *s)
{
    if (s->is_board)
        board_destroy(&s->board);
    else if (s->imp)
        mtree_import_free(s->imp);
    memset(s, 0, sizeof(*s));
}

static int output_result(int rc)
{
    if (rc) {
        fprintf(stderr, "mtree: writing the output failed: %s\n", strerror(-rc));
        return EXIT_ERR;
    }
    if (fflush(stdout)) {
        fprintf(stderr, "mtree: writing the output failed: %s\n", strerror(errno));
        return EXIT_ERR;
    }
    return 0;
}

/* ---- commands -------------------------------------------------------------------- */

static int cmd_show_flat(const Opts *o, bool flat)
{
    if (o->npos > 1)
        return die_usage(o->cmd, "too many arguments", o->pos[1]);
    Source s;
    int rc = open_source(&s, o->npos ? o->pos[0] : NULL, o->facts_from, o, o->firmware);
    if (rc)
        return rc;
    if (flat)
        rc = mtree_print_flat(stdout, s.spaces, s.nspaces, 0);
    else
        rc = mtree_print_tree(stdout, s.spaces, s.nspaces, o->disabled ? MTREE_PRINT_DISABLED : 0);
    rc = output_result(rc);
    close_source(&s);
    return rc;
}

static int cmd_default(const Opts *o)
{
    if (o->npos)
        return die_usage(NULL, "unknown command", o->pos[0]);
    Source s;
    int rc = open_source(&s, NULL, NULL, o, o->firmware);
    if (rc)
        return rc;
    rc = mtree_print_tree(stdout, s.spaces, s.nspaces, 0);
    if (!rc)
        rc = mtree_print_flat(stdout, s.spaces, s.nspaces, 0);
    rc = output_result(rc);
    close_source(&s);
    return rc;
}

static int cmd_lookup(const Opts *o)
{
    if (o->npos < 1)
        return die_usage(o->cmd, "missing ADDR", NULL);
    uint64_t probe;
    if (o->npos == 1 && !mtree_parse_addr(o->pos[0], &probe))
        return die_usage(o->cmd, "an address is missing after FILE (give FILE ADDR...)", o->pos[0]);
    const char *file = o->npos >= 2 ? o->pos[0] : NULL;
    int first = o->npos >= 2 ? 1 : 0;
    uint64_t *addrs = malloc((size_t)o->npos * sizeof(*addrs));
    int naddr = 0;
    if (!addrs) {
        fprintf(stderr, "mtree lookup: out of memory\n");
        return EXIT_ERR;
    }
    for (int i = first; i < o->npos; i++) {
        if (!mtree_parse_addr(o->pos[i], &addrs[naddr])) {
            free(addrs);
            return die_usage(o->cmd, "not a hexadecimal address", o->pos[i]);
        }
        naddr++;
    }
    Source s;
    int rc = open_source(&s, file, o->facts_from, o, o->firmware);
    if (rc) {
        free(addrs);
        return rc;
    }
    bool found_as = !o->as_name;
    for (size_t i = 0; i < s.nspaces; i++) {
        AddressSpace *as = s.spaces[i];
        if (o->as_name && strcmp(address_space_name(as), o->as_name) != 0)
            continue;
        found_as = true;
        printf("address-space: %s\n", address_space_name(as));
        for (int k = 0; k < naddr; k++)
            mtree_print_lookup(stdout, as, addrs[k]);
        printf("\n");
    }
    free(addrs);
    if (!found_as) {
        fprintf(stderr, "mtree lookup: no address space named '%s'\n", o->as_name);
        close_source(&s);
        return EXIT_ERR;
    }
    rc = output_result(0);
    close_source(&s);
    return rc;
}

static int cmd_diff(const Opts *o)
{
    if (o->npos != 0 && o->npos != 2)
        return die_usage(o->cmd, "expected two files A and B, or none", NULL);
    if (o->facts_from)
        return die_usage(o->cmd, "use --facts-a and --facts-b with diff", NULL);
    Source a, b;
    int rc = open_source(&a, o->npos ? o->pos[0] : NULL, o->facts_a, o, false);
    if (rc)
        return rc;
    rc = open_source(&b, o->npos ? o->pos[1] : NULL, o->facts_b, o, !o->npos);
    if (rc) {
        close_source(&a);
        return rc;
    }
    MtreeDiffCounts counts;
    rc = mtree_diff_spaces(stdout, a.spaces, a.nspaces, b.spaces, b.nspaces, &counts);
    if (rc == 0)
        rc = output_result(0);
    else
        rc = output_result(rc);
    if (!rc && (counts.appeared || counts.vanished || counts.changed || counts.spaces_differ))
        rc = EXIT_DIFF;
    close_source(&b);
    close_source(&a);
    return rc;
}

/* Is Graphviz's `dot` an executable file somewhere on PATH? */
static bool have_dot(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char file[4096];
        if (n && n < sizeof(file) - 5) {
            snprintf(file, sizeof(file), "%.*s/dot", (int)n, p);
            if (access(file, X_OK) == 0)
                return true;
        }
        p += n + (e ? 1 : 0);
    }
    return false;
}

/* Run `dot -Tsvg IN` with its output to @out_fd. */
static int run_dot(const char *in, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd != STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    char *argv[] = {"dot", "-Tsvg", (char *)in, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "mtree dot: cannot run 'dot' (%s): install Graphviz for --svg\n",
                strerror(rc));
        return EXIT_ERR;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "mtree dot: 'dot -Tsvg' failed\n");
        return EXIT_ERR;
    }
    return 0;
}

static int cmd_dot(const Opts *o)
{
    if (o->npos > 1)
        return die_usage(o->cmd, "too many arguments", o->pos[1]);
    if (o->svg && !have_dot()) {
        /* Before anything is written: no empty output file is left behind. */
        fprintf(stderr, "mtree dot: --svg needs Graphviz: 'dot' is not on PATH "
                        "(install the graphviz package, or leave out --svg for DOT text)\n");
        return EXIT_ERR;
    }
    Source s;
    int rc = open_source(&s, o->npos ? o->pos[0] : NULL, o->facts_from, o, o->firmware);
    if (rc)
        return rc;
    FILE *out = stdout;
    char tmp[] = "/tmp/mtree-dot-XXXXXX";
    int tmpfd = -1;
    if (o->svg) {
        tmpfd = mkstemp(tmp);
        out = tmpfd >= 0 ? fdopen(tmpfd, "w") : NULL;
    } else if (o->out_file) {
        out = fopen(o->out_file, "w");
    }
    if (!out) {
        fprintf(stderr, "mtree dot: %s: %s\n", o->svg ? tmp : o->out_file, strerror(errno));
        if (tmpfd >= 0) {
            close(tmpfd);
            unlink(tmp);
        }
        close_source(&s);
        return EXIT_ERR;
    }
    rc = mtree_write_dot(out, s.spaces, s.nspaces);
    if (!rc && ferror(out))
        rc = -EIO;
    if (out != stdout && fclose(out) && !rc)
        rc = -EIO;
    close_source(&s);
    if (rc) {
        fprintf(stderr, "mtree dot: writing the graph failed: %s\n", strerror(-rc));
        if (o->svg)
            unlink(tmp);
        return EXIT_ERR;
    }
    if (o->svg) {
        int fd = STDOUT_FILENO;
        if (o->out_file) {
            FILE *f = fopen(o->out_file, "w");
            if (!f) {
                fprintf(stderr, "mtree dot: %s: %s\n", o->out_file, strerror(errno));
                unlink(tmp);
                return EXIT_ERR;
            }
            fflush(stdout);
            rc = run_dot(tmp, fileno(f));
            if (fclose(f) && !rc)
                rc = EXIT_ERR;
        } else {
            fflush(stdout);
            rc = run_dot(tmp, fd);
        }
        unlink(tmp);
        return rc;
    }
    return output_result(0);
}

static int cmd_check(const Opts *o)
{
    if (o->npos > 1)
        return die_usage(o->cmd, "too many arguments", o->pos[1]);
    Source s;
    int rc = open_source(&s, o->npos ? o->pos[0] : NULL, o->facts_from, o, o->firmware);
    if (rc)
        return rc;
    rc = output_result(mtree_check_overlaps(stdout, s.spaces, s.nspaces, NULL));
    close_source(&s);
    return rc;
}

static int run(const Opts *o)
{
    if (o->help) {
        fputs(usage_of(o->cmd), stdout);
        return 0;
    }
    if (!o->cmd)
        return cmd_default(o);
    if (!strcmp(o->cmd, "show"))
        return cmd_show_flat(o, false);
    if (!strcmp(o->cmd, "flat"))
        return cmd_show_flat(o, true);
    if (!strcmp(o->cmd, "lookup"))
        return cmd_lookup(o);
    if (!strcmp(o->cmd, "diff"))
        return cmd_diff(o);
    if (!strcmp(o->cmd, "check"))
        return cmd_check(o);
    return cmd_dot(o);
}

int main(int argc, char **argv)
{
    Opts o = {0};
    int first = 1;
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("mtree (memregion) %s\n", memregion_version_string());
        return 0;
    }
    if (argc > 1 && argv[1][0] != '-') {
        o.cmd = argv[1];
        first = 2;
        if (!strcmp(o.cmd, "help")) {
            const char *u = usage_of(argc > 2 ? argv[2] : NULL);
            if (!u)
                return die_usage(NULL, "unknown command", argv[2]);
            fputs(u, stdout);
            return 0;
        }
        if (!usage_of(o.cmd))
            return die_usage(NULL, "unknown command", o.cmd);
    }
    o.pos = calloc((size_t)argc, sizeof(char *));
    if (!o.pos) {
        fprintf(stderr, "mtree: out of memory\n");
        return EXIT_ERR;
    }
    int rc = parse_opts(argc, argv, first, &o);
    if (!rc)
        rc = run(&o);
    free(o.pos);
    return rc;
}
