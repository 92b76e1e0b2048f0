/*
 * The mtree printer and importer: exact print format on a tree built with
 * the API, round trips, malformed input (line numbers and reasons, never a
 * crash), input limits, and the rules that take the four missing facts from
 * a flat dump. Expected texts are written by hand in QEMU's format.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <memregion/memregion.h>

/* ---- helpers -------------------------------------------------------------------- */

typedef int (*PrintFn)(FILE *, AddressSpace *const *, size_t, unsigned);

static char *print_spaces(PrintFn fn, AddressSpace *const *v, size_t n, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(f, v, n, flags), 0);
    fclose(f);
    return buf;
}

static char *print_import(PrintFn fn, MtreeImport *imp, unsigned flags)
{
    return print_spaces(fn, mtree_import_spaces(imp), mtree_import_nr_spaces(imp), flags);
}

static MtreeImport *import_str(const char *text, const char *facts, unsigned flags, MtreeError *err)
{
    MtreeImportOptions o = {.flags = flags};
    if (facts) {
        o.facts_text = facts;
        o.facts_len = strlen(facts);
    }
    return mtree_import(text, strlen(text), &o, err);
}

static void expect_error(const char *text, unsigned line, const char *reason)
{
    MtreeError err;
    MtreeImport *imp = import_str(text, NULL, 0, &err);
    if (imp) {
        mtree_import_free(imp);
        fail_msg("malformed input was accepted (expected: line %u: %s)", line, reason);
    }
    if (err.line != line || !strstr(err.message, reason))
        fail_msg("got 'line %u: %s', expected 'line %u: ...%s...'", err.line, err.message, line,
                 reason);
    if (err.code != -EINVAL)
        fail_msg("malformed input: code %d, expected -EINVAL", err.code);
}

/* ---- printing ----------------------------------------------------------------------- */

static uint64_t rd(void *o, hwaddr a, unsigned s)
{
    (void)o, (void)a, (void)s;
    return 0;
}
static void wr(void *o, hwaddr a, uint64_t d, unsigned s)
{
    (void)o, (void)a, (void)d, (void)s;
}
static const MemoryRegionOps ops = {.read = rd, .write = wr};

/* A small machine with every kind of line the printer writes. */
typedef struct Small {
    MemoryRegion sys, ram, rom, dev, sub, alias, ro_alias, off, nv, io, port;
    AddressSpace as, as2, io_as;
} Small;

static void small_init(Small *s)
{
    memset(s, 0, sizeof(*s));
    memory_region_transaction_begin();
    assert_int_equal(memory_region_init(&s->sys, "sys", MR_SIZE_2_64), 0);
    assert_int_equal(memory_region_init_ram(&s->ram, "ram", 0x10000), 0);
    assert_int_equal(memory_region_init_rom(&s->rom, "boot rom", 0x1000), 0);
    assert_int_equal(memory_region_init_io(&s->dev, &ops, NULL, "dev @0x9000", 0x100), 0);
    assert_int_equal(memory_region_init_io(&s->sub, &ops, NULL, "dev-reg", 1), 0);
    assert_int_equal(memory_region_init_alias(&s->alias, "ram-hi", &s->ram, 0x8000, 0x8000), 0);
    assert_int_equal(memory_region_init_alias(&s->ro_alias, "ram-ro", &s->ram, 0, 0x1000), 0);
    assert_int_equal(memory_region_set_readonly(&s->ro_alias, true), 0);
    assert_int_equal(memory_region_init_io(&s->off, &ops, NULL, "off", 0x10), 0);
    assert_int_equal(memory_region_set_enabled(&s->off, false), 0);
    assert_int_equal(memory_region_init_ram(&s->nv, "nvram", 0x100), 0);
    assert_int_equal(memory_region_set_nonvolatile(&s->nv, true), 0);
    assert_int_equal(memory_region_add_subregion(&s->sys, 0, &s->ram), 0);
    assert_int_equal(memory_region_add_subregion_overlap(&s->sys, 0xf000, &s->rom, 1), 0);
    assert_int_equal(memory_region_add_subregion(&s->sys, 0x9000, &s->dev), 0);
    assert_int_equal(memory_region_add_subregion(&s->dev, 0x10, &s->sub), 0);
    assert_int_equal(memory_region_add_subregion(&s->dev, 0x20, &s->off), 0);
    assert_int_equal(memory_region_add_subregion(&s->sys, 0x100000, &s->alias), 0);
    assert_int_equal(memory_region_add_subregion_overlap(&s->sys, 0x200000, &s->ro_alias, -2), 0);
    assert_int_equal(memory_region_add_subregion(&s->sys, 0x300000, &s->nv), 0);
    assert_int_equal(memory_region_init_io(&s->io, &ops, NULL, "io", 0x10000), 0);
    assert_int_equal(memory_region_init_io(&s->port, &ops, NULL, "port", 1), 0);
    assert_int_equal(memory_region_add_subregion(&s->io, 0x80, &s->port), 0);
    assert_int_equal(address_space_init(&s->as, &s->sys, "memory"), 0);
    assert_int_equal(address_space_init(&s->io_as, &s->io, "I/O"), 0);
    assert_int_equal(address_space_init(&s->as2, &s->sys, "cpu-memory-0"), 0);
    memory_region_transaction_commit();
}

static void small_destroy(Small *s)
{
    address_space_destroy(&s->as2);
    address_space_destroy(&s->io_as);
    address_space_destroy(&s->as);
    MemoryRegion *kids[][2] = {{&s->sys, &s->ram},      {&s->sys, &s->rom}, {&s->sys, &s->dev},
                               {&s->dev, &s->sub},      {&s->dev, &s->off}, {&s->sys, &s->alias},
                               {&s->sys, &s->ro_alias}, {&s->sys, &s->nv},  {&s->io, &s->port}};
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        assert_int_equal(memory_region_del_subregion(kids[i][0], kids[i][1]), 0);
    MemoryRegion *all[] = {&s->alias, &s->ro_alias, &s->sys, &s->ram, &s->rom, &s->dev,
                           &s->sub,   &s->off,      &s->nv,  &s->io,  &s->port};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(memory_region_destroy(all[i]), 0);
}

static const char small_tree_d[] =
    "address-space: cpu-memory-0\n"
    "address-space: memory\n"
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
    "    0000000000000000-000000000000ffff (prio 0, ram): ram\n"
    "    0000000000009000-00000000000090ff (prio 0, i/o): dev @0x9000\n"
    "      0000000000009010-0000000000009010 (prio 0, i/o): dev-reg\n"
    "      0000000000009020-000000000000902f (prio 0, i/o): off [disabled]\n"
    "    000000000000f000-000000000000ffff (prio 1, rom): boot rom\n"
    "    0000000000100000-0000000000107fff (prio 0, ram): alias ram-hi @ram "
    "0000000000008000-000000000000ffff\n"
    "    0000000000200000-0000000000200fff (prio -2, ram): alias ram-ro @ram "
    "0000000000000000-0000000000000fff\n"
    "    0000000000300000-00000000003000ff (prio 0, nv-ram): nvram\n"
    "\n"
    "address-space: I/O\n"
    "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
    "    0000000000000080-0000000000000080 (prio 0, i/o): port\n"
    "\n"
    "memory-region: ram\n"
    "  0000000000000000-000000000000ffff (prio 0, ram): ram\n"
    "\n";

static const char small_flat[] =
    "FlatView #0\n"
    " AS \"memory\", root: sys\n"
    " AS \"cpu-memory-0\", root: sys\n"
    " Root memory region: sys\n"
    "  0000000000000000-0000000000008fff (prio 0, ram): ram\n"
    "  0000000000009000-000000000000900f (prio 0, i/o): dev @0x9000\n"
    "  0000000000009010-0000000000009010 (prio 0, i/o): dev-reg\n"
    "  0000000000009011-00000000000090ff (prio 0, i/o): dev @0x9000 @0000000000000011\n"
    "  0000000000009100-000000000000efff (prio 0, ram): ram @0000000000009100\n"
    "  000000000000f000-000000000000ffff (prio 1, rom): boot rom\n"
    "  0000000000100000-0000000000107fff (prio 0, ram): ram @0000000000008000\n"
    "  0000000000200000-0000000000200fff (prio 0, rom): ram\n"
    "  0000000000300000-00000000003000ff (prio 0, nv-ram): nvram\n"
    "\n"
    "FlatView #1\n"
    " AS \"I/O\", root: io\n"
    " Root memory region: io\n"
    "  0000000000000000-000000000000007f (prio 0, i/o): io\n"
    "  0000000000000080-0000000000000080 (prio 0, i/o): port\n"
    "  0000000000000081-000000000000ffff (prio 0, i/o): io @0000000000000081\n"
    "\n";

static void test_print_formats(void **state)
{
    (void)state;
    Small s;
    small_init(&s);
    AddressSpace *v[] = {&s.as, &s.io_as, &s.as2};
    char *t = print_spaces(mtree_print_tree, v, 3, MTREE_PRINT_DISABLED);
    assert_string_equal(t, small_tree_d);
    free(t);
    /* Without -D the disabled line is left out, nothing else changes. */
    t = print_spaces(mtree_print_tree, v, 3, 0);
    assert_null(strstr(t, "[disabled]"));
    assert_null(strstr(t, "): off"));
    assert_non_null(strstr(t, "      0000000000009010-0000000000009010 (prio 0, i/o): dev-reg\n"));
    free(t);
    t = print_spaces(mtree_print_flat, v, 3, 0);
    assert_string_equal(t, small_flat);
    free(t);
    small_destroy(&s);
}

/* A child placed below its container's start wraps past 2^64 in QEMU's
 * offset arithmetic: QEMU marks the line, and it prints back the same. */
static void test_overflow_marker_round_trip(void **state)
{
    (void)state;
    static const char text[] =
        "address-space: a\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
        "    0000000000001000-0000000000001fff (prio 0, i/o): c\n"
        "      [DETECTED OVERFLOW!] 0000000000000000-0000000000000fff (prio 0, i/o): wrap\n"
        "\n";
    MtreeError err;
    MtreeImport *imp = import_str(text, NULL, 0, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, text);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
}

static void test_small_round_trip(void **state)
{
    (void)state;
    MtreeError err;
    /* The tree alone cannot say that alias ram-ro is read-only (fact 2)
     * nor that "dev @0x9000", which has subregions, terminates (fact 1):
     * the tree prints back the same, the flat view differs. */
    MtreeImport *imp = import_str(small_tree_d, NULL, 0, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, small_tree_d);
    free(t);
    t = print_import(mtree_print_flat, imp, 0);
    assert_string_not_equal(t, small_flat);
    assert_non_null(strstr(t, "  0000000000200000-0000000000200fff (prio 0, ram): ram\n"));
    assert_null(strstr(t, "dev @0x9000"));
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);

    /* With the flat dump both facts come from there and everything
     * matches: the 1-byte port and dev-reg stay 1 byte, "io" terminates
     * (the I/O root). */
    imp = import_str(small_tree_d, small_flat, 0, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, small_tree_d);
    free(t);
    t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, small_flat);
    free(t);
    MtreeFactCounts c;
    mtree_import_fact_counts(imp, &c);
    assert_int_equal(c.from_flat[MTREE_FACT_READONLY], 1);
    assert_int_equal(c.from_flat[MTREE_FACT_TERMINATES], 1);
    assert_int_equal(c.from_flat[MTREE_FACT_SIZE] + c.from_flat[MTREE_FACT_TIE], 0);
    assert_int_equal(mtree_import_nr_spaces(imp), 3);
    assert_non_null(mtree_import_find_space(imp, "I/O"));
    assert_null(mtree_import_find_space(imp, "nope"));
    assert_int_equal(mtree_import_free(imp), 0);
}

/* ---- resolve ----------------------------------------------------------------------- */

static void test_resolve_path(void **state)
{
    (void)state;
    Small s;
    small_init(&s);
    FlatRange fr;
    MtreePath path;
    assert_int_equal(mtree_resolve(&s.as, 0x100010, &fr, &path), 0);
    assert_ptr_equal(fr.mr, &s.ram);
    assert_int_equal(fr.offset_in_region + (0x100010 - fr.addr), 0x8010);
    assert_int_equal(path.depth, 3);
    assert_ptr_equal(path.regions[0], &s.sys);
    assert_ptr_equal(path.regions[1], &s.alias);
    assert_ptr_equal(path.regions[2], &s.ram);
    assert_int_equal(mtree_resolve(&s.as, 0x9010, &fr, &path), 0);
    assert_ptr_equal(path.regions[path.depth - 1], &s.sub);
    assert_int_equal(mtree_resolve(&s.as, 0x400000, &fr, &path), -ENOENT);
    small_destroy(&s);
}

/* ---- malformed input ------------------------------------------------------------------ */

#define L0 "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"

static void test_errors(void **state)
{
    (void)state;
    expect_error("", 0, "no address-space");
    expect_error("hello\n", 1, "expected 'address-space: '");
    expect_error(L0, 1, "outside a block");
    expect_error("address-space: a\n   0000000000000000-0000000000000fff (prio 0, ram): r\n", 2,
                 "odd indentation");
    expect_error("address-space: a\n  00000000000000zz-0000000000000fff (prio 0, ram): r\n", 2,
                 "hex");
    expect_error("address-space: a\n  0000000000000000_0000000000000fff (prio 0, ram): r\n", 2,
                 "START-END");
    expect_error("address-space: a\n  0000000000000000-0000000000000fff (prio x, ram): r\n", 2,
                 "priority");
    expect_error("address-space: a\n  0000000000000000-0000000000000fff (prio 99999999999, "
                 "ram): r\n",
                 2, "priority");
    expect_error("address-space: a\n  0000000000000000-0000000000000fff (prio 0, foo): r\n", 2,
                 "type");
    expect_error("address-space: a\n  0000000000000000-0000000000000fff (prio 0 ram): r\n", 2,
                 "', '");
    expect_error("address-space: a\n\n", 2, "no region line");
    /* QEMU marks [DETECTED OVERFLOW!] only on a range that passed 2^64. */
    expect_error("address-space: a\n  [DETECTED OVERFLOW!] 0000000000000000-0000000000000fff "
                 "(prio 0, ram): r\n",
                 2, "does not pass 2^64");
    expect_error("address-space: a\n" L0
                 "    [DETECTED OVERFLOW!] 0000000000001000-0000000000001fff (prio 0, ram): r\n",
                 3, "does not pass 2^64");
    expect_error("address-space: a\n", 1, "no region line");
    expect_error("address-space: a\n" L0 L0, 3, "second root");
    expect_error("address-space: a\n" L0 "address-space: b\n", 3, "header inside a block");
    expect_error("address-space: a\n" L0
                 "    0000000000000000-0000000000000fff (prio 0, i/o): alias x @nowhere "
                 "0000000000000000-0000000000000fff\n",
                 3, "no 'memory-region: nowhere' block");
    expect_error("address-space: a\n" L0
                 "    0000000000000000-0000000000000fff (prio 0, ram): alias x @r "
                 "0000000000000000-0000000000000fff\n\n"
                 "memory-region: r\n"
                 "  0000000000000000-0000000000000fff (prio 0, ram): r\n"
                 "    0000000000000000-00000000000000ff (prio 0, ram): alias y @r "
                 "0000000000000000-00000000000001ff\n",
                 7, "not as long");
}

/* MtreeError.code tells input errors, file errors and success apart. */
static void test_error_codes(void **state)
{
    (void)state;
    MtreeError err;
    assert_null(mtree_import_file("/nonexistent/dump.txt", NULL, NULL, &err));
    assert_int_equal(err.code, -ENOENT);
    MtreeImport *imp = import_str("address-space: a\n" L0, NULL, 0, &err);
    assert_non_null(imp);
    assert_int_equal(err.code, 0);
    mtree_import_free(imp);
}

static void test_cycle_reported(void **state)
{
    (void)state;
    MtreeError err;
    MtreeImport *imp =
        import_str("address-space: a\n" L0 "    0000000000000000-0000000000000fff (prio 0, "
                   "i/o): alias x @y 0000000000000000-0000000000000fff\n\n"
                   "memory-region: y\n"
                   "  0000000000000000-0000000000000fff (prio 0, i/o): alias y @x "
                   "0000000000000000-0000000000000fff\n\n"
                   "memory-region: x\n"
                   "  0000000000000000-0000000000000fff (prio 0, i/o): alias x @y "
                   "0000000000000000-0000000000000fff\n",
                   NULL, 0, &err);
    assert_null(imp);
    assert_true(err.line > 0);
    assert_non_null(strstr(err.message, "cycle"));
}

/* QEMU's Arm SSE shape: "alias 3" inside the CPU container shows that same
 * container from 0x40000000, so the SRAM shows again at 0x50000000. The
 * expected flat view is written from QEMU's rendering rules. */
static void test_alias_into_own_container(void **state)
{
    (void)state;
    static const char cpu[] =
        "  0000000000000000-00000000ffffffff (prio 0, i/o): cpu-container\n"
        "    0000000040000000-0000000040000fff (prio 0, ram): sram\n"
        "    0000000050000000-000000005fffffff (prio -1500, i/o): alias alias 3 @cpu-container "
        "0000000040000000-000000004fffffff\n";
    char text[1024];
    snprintf(text, sizeof(text), "address-space: cpu\n%s\nmemory-region: cpu-container\n%s\n", cpu,
             cpu);
    MtreeError err;
    MtreeImport *imp = import_str(text, NULL, 0, &err);
    if (!imp)
        fail_msg("import failed: line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, text);
    free(t);
    t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, "FlatView #0\n"
                           " AS \"cpu\", root: cpu-container\n"
                           " Root memory region: cpu-container\n"
                           "  0000000040000000-0000000040000fff (prio 0, ram): sram\n"
                           "  0000000050000000-0000000050000fff (prio 0, ram): sram\n"
                           "\n");
    free(t);
    mtree_import_free(imp);
}

static void test_limits(void **state)
{
    (void)state;
    /* Nesting deeper than 64 levels. */
    size_t cap = 1 << 16;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t n = (size_t)sprintf(t, "address-space: a\n");
    for (int d = 1; d <= 66; d++) {
        for (int k = 0; k < d; k++)
            n += (size_t)sprintf(t + n, "  ");
        n += (size_t)sprintf(t + n, "0000000000000000-0000000000000fff (prio 0, i/o): c%d\n", d);
    }
    MtreeError err;
    assert_null(import_str(t, NULL, 0, &err));
    assert_int_equal(err.line, 66);
    assert_non_null(strstr(err.message, "deeper"));
    free(t);

    /* A line longer than 64 KiB. */
    size_t big = 70000;
    t = malloc(big + 200);
    assert_non_null(t);
    n = (size_t)sprintf(t, "address-space: a\n  0000000000000000-0000000000000fff (prio 0, ram): ");
    memset(t + n, 'x', big);
    strcpy(t + n + big, "\n");
    assert_null(import_str(t, NULL, 0, &err));
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "longer"));
    free(t);

    /* RAM over the caller's limit. */
    MtreeImportOptions o = {.max_ram_bytes = 0x1000};
    const char *two =
        "address-space: a\n" L0 "    0000000000000000-0000000000000fff (prio 0, ram): a\n"
        "    0000000000001000-0000000000001fff (prio 0, ram): b\n";
    assert_null(mtree_import(two, strlen(two), &o, &err));
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.message, "limit"));
}

static void test_flat_errors(void **state)
{
    (void)state;
    MtreeError err;
    const char *tree = "address-space: a\n" L0;
    assert_null(import_str(tree, "FlatView #0\n AS \"a\", root: sys\n  garbage here\n", 0, &err));
    assert_true(err.in_facts);
    assert_int_equal(err.line, 3);
    assert_null(
        import_str(tree, "  0000000000000000-0000000000000fff (prio 0, ram): r\n", 0, &err));
    assert_true(err.in_facts);
    assert_int_equal(err.line, 1);
    assert_null(import_str(tree,
                           "FlatView #0\n AS \"a\", root: sys\n"
                           "  0000000000001000-0000000000001fff (prio 0, ram): r\n"
                           "  0000000000000000-0000000000000fff (prio 0, ram): r\n",
                           0, &err));
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.message, "sorted"));
}

/* Random damage to a real dump: an error or an import, never a crash. */
static void test_mutations_never_crash(void **state)
{
    (void)state;
    static const char base[] =
        "address-space: cpu-smm-0\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): memory\n"
        "    0000000000000000-00000000ffffffff (prio 1, i/o): alias smram @smram "
        "0000000000000000-00000000ffffffff\n"
        "    0000000000000000-ffffffffffffffff (prio 0, i/o): alias memory @system "
        "0000000000000000-ffffffffffffffff\n"
        "\n"
        "address-space: memory\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram "
        "0000000000000000-0000000007ffffff\n"
        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
        "      00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
        "      00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "    00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci "
        "00000000000a0000-00000000000bffff\n"
        "    00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic [disabled]\n"
        "\n"
        "memory-region: smram\n"
        "  0000000000000000-00000000ffffffff (prio 0, i/o): smram [disabled]\n"
        "    00000000000a0000-00000000000bffff (prio 0, ram): alias smram-low @pc.ram "
        "00000000000a0000-00000000000bffff\n"
        "\n"
        "memory-region: system\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram "
        "0000000000000000-0000000007ffffff\n"
        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
        "      00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
        "      00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "    00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci "
        "00000000000a0000-00000000000bffff\n"
        "    00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic [disabled]\n"
        "\n"
        "memory-region: pc.ram\n"
        "  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram\n"
        "\n"
        "memory-region: pci\n"
        "  0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
        "    00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
        "    00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
        "\n";
    /* The intact dump round-trips. */
    MtreeError err;
    MtreeImport *imp = import_str(base, NULL, 0, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_int_equal(mtree_import_free(imp), 0);
    free(t);

    static const char alphabet[] = " -0f9a@\n()[]:,ix";
    size_t len = sizeof(base) - 1;
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    unsigned seed = 12345, accepted = 0, rejected = 0;
    for (int iter = 0; iter < 600; iter++) {
        memcpy(buf, base, len + 1);
        size_t blen = len;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % blen;
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 16) % 3) {
            case 0: /* overwrite a byte */
                buf[pos] = alphabet[(seed >> 4) % (sizeof(alphabet) - 1)];
                break;
            case 1: /* delete a byte */
                memmove(buf + pos, buf + pos + 1, blen - pos);
                blen--;
                break;
            default: /* truncate */
                buf[pos] = 0;
                blen = pos;
            }
            if (blen < 2)
                break;
        }
        imp = mtree_import(buf, strlen(buf), NULL, &err);
        if (imp) {
            accepted++;
            t = print_import(mtree_print_flat, imp, 0);
            free(t);
            assert_int_equal(mtree_import_free(imp), 0);
        } else {
            rejected++;
            assert_true(err.message[0] != 0);
        }
    }
    free(buf);
    /* Both outcomes must occur, or the mutations test nothing. */
    assert_true(accepted > 0);
    assert_true(rejected > 0);
}

/* ---- the four facts ------------------------------------------------------------------ */

/*
 * Each case: a tree dump whose generic rule gives the wrong answer, and the
 * flat dump QEMU would print. With the flat dump the import must print that
 * flat dump exactly and count one fact of the kind taken from it; without,
 * it must not (so the flat dump is what decided).
 */
static void check_fact(const char *tree, const char *flat, MtreeFact kind)
{
    MtreeError err;
    MtreeImport *imp = import_str(tree, flat, MTREE_IMPORT_GENERIC_RULES, &err);
    if (!imp)
        fail_msg("line %u%s: %s", err.line, err.in_facts ? " (flat)" : "", err.message);
    char *t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    MtreeFactCounts c;
    mtree_import_fact_counts(imp, &c);
    for (int f = 0; f < MTREE_FACT_NR; f++)
        assert_int_equal(c.from_flat[f], f == (int)kind ? 1u : 0u);
    assert_int_equal(mtree_import_nr_flat_facts(imp), 1);
    assert_non_null(strstr(mtree_import_flat_fact(imp, 0), mtree_fact_name(kind)));
    /* The tree dump printed back is the same either way. */
    t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, tree);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);

    imp = import_str(tree, NULL, MTREE_IMPORT_GENERIC_RULES, &err);
    assert_non_null(imp);
    t = print_import(mtree_print_flat, imp, 0);
    assert_string_not_equal(t, flat);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
}

static void test_fact_terminates(void **state)
{
    (void)state;
    /* "win" has a subregion (generic rule: a container) but terminates. */
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000001000-0000000000001fff (prio 0, i/o): win\n"
               "      0000000000001100-00000000000011ff (prio 0, i/o): reg\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000001000-00000000000010ff (prio 0, i/o): win\n"
               "  0000000000001100-00000000000011ff (prio 0, i/o): reg\n"
               "  0000000000001200-0000000000001fff (prio 0, i/o): win @0000000000000200\n"
               "\n",
               MTREE_FACT_TERMINATES);
    /* "bus" is a leaf under 4 GiB (generic rule: terminating) but a container. */
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "    0000000000100000-00000000001fffff (prio 0, i/o): bus\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "\n",
               MTREE_FACT_TERMINATES);
}

static void test_fact_readonly(void **state)
{
    (void)state;
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "    0000000000010000-0000000000010fff (prio 0, ram): alias shadow @ram "
               "0000000000000000-0000000000000fff\n"
               "\n"
               "memory-region: ram\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "  0000000000010000-0000000000010fff (prio 0, rom): ram\n"
               "\n",
               MTREE_FACT_READONLY);
}

static void test_fact_size(void **state)
{
    (void)state;
    /* An alias printed START = END (generic rule: 0 bytes) shows a byte. */
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "    0000000000002000-0000000000002000 (prio 0, ram): alias one @ram "
               "0000000000000010-0000000000000010\n"
               "\n"
               "memory-region: ram\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "  0000000000002000-0000000000002000 (prio 0, ram): ram @0000000000000010\n"
               "\n",
               MTREE_FACT_SIZE);
    /* A region printed START = END (generic rule: 1 byte) has 0 bytes. */
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "    0000000000000800-0000000000000800 (prio 1, i/o): blackhole\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000000000-0000000000000fff (prio 0, ram): ram\n"
               "\n",
               MTREE_FACT_SIZE);
}

static void test_fact_tie(void **state)
{
    (void)state;
    /* Equal priority, overlapping, different starts: the generic rule lets
     * the smaller win, QEMU shows the larger (added later). */
    check_fact("address-space: memory\n"
               "  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n"
               "    0000000000001000-0000000000001fff (prio 0, i/o): big\n"
               "    0000000000001800-00000000000018ff (prio 0, i/o): small\n"
               "\n",
               "FlatView #0\n"
               " AS \"memory\", root: sys\n"
               " Root memory region: sys\n"
               "  0000000000001000-0000000000001fff (prio 0, i/o): big\n"
               "\n",
               MTREE_FACT_TIE);
}

/* The QEMU name rules decide what the generic rules cannot. */
static void test_qemu_rules(void **state)
{
    (void)state;
    const char *tree = "address-space: memory\n"
                       "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                       "    0000000000000000-000000000000ffff (prio 0, ram): alias pam-rom @ram "
                       "0000000000000000-000000000000ffff\n"
                       "    000000000c000000-000000000dffffff (prio 0, i/o): platform bus\n"
                       "\n"
                       "address-space: I/O\n"
                       "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
                       "    0000000000000070-0000000000000071 (prio 0, i/o): rtc\n"
                       "      0000000000000070-0000000000000070 (prio 0, i/o): rtc-index\n"
                       "\n"
                       "memory-region: ram\n"
                       "  0000000000000000-000000000000ffff (prio 0, ram): ram\n"
                       "\n";
    const char *flat = "FlatView #0\n"
                       " AS \"memory\", root: system\n"
                       " Root memory region: system\n"
                       "  0000000000000000-000000000000ffff (prio 0, rom): ram\n"
                       "\n"
                       "FlatView #1\n"
                       " AS \"I/O\", root: io\n"
                       " Root memory region: io\n"
                       "  0000000000000000-000000000000006f (prio 0, i/o): io\n"
                       "  0000000000000070-0000000000000070 (prio 0, i/o): rtc-index\n"
                       "  0000000000000071-0000000000000071 (prio 0, i/o): rtc @0000000000000001\n"
                       "  0000000000000072-000000000000ffff (prio 0, i/o): io @0000000000000072\n"
                       "\n";
    MtreeError err;
    MtreeImport *imp = import_str(tree, NULL, 0, &err);
    assert_non_null(imp);
    char *t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
    /* Generic rules plus the flat dump: four facts come from the dump. */
    imp = import_str(tree, flat, MTREE_IMPORT_GENERIC_RULES, &err);
    assert_non_null(imp);
    t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    MtreeFactCounts c;
    mtree_import_fact_counts(imp, &c);
    assert_int_equal(c.from_flat[MTREE_FACT_TERMINATES], 3); /* io, rtc, platform bus */
    assert_int_equal(c.from_flat[MTREE_FACT_READONLY], 1);   /* pam-rom */
    assert_int_equal(mtree_import_free(imp), 0);
}

/* Import @tree with @flags and no flat dump; its flat views must be @flat. */
static void expect_flat(const char *tree, unsigned flags, const char *flat)
{
    MtreeError err;
    MtreeImport *imp = import_str(tree, NULL, flags, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
}

/* Rules found on the wide captures (tests/mtree/data-wide/). */
static void test_wide_rules(void **state)
{
    (void)state;
    /* The root of the `memory` address space is a container even when it
     * is empty (QEMU's `none` machine): nothing renders. */
    const char *none = "address-space: memory\n"
                       "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                       "\n";
    expect_flat(none, 0,
                "FlatView #0\n"
                " AS \"memory\", root: system\n"
                " Root memory region: (none)\n"
                "  No rendered FlatView\n"
                "\n");
    /* An unmapped address-space root of 2^48 bytes without subregions,
     * shown whole by a bus-master alias (an SMMUv3 IOMMU region), renders
     * itself. A 4 GiB one seen through windows (a PCI memory space) is an
     * empty container. */
    const char *iommu = "address-space: dev\n"
                        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container\n"
                        "    0000000000000000-0000ffffffffffff (prio 0, i/o): alias bus master "
                        "@smmu 0000000000000000-0000ffffffffffff\n"
                        "\n"
                        "address-space: smmu\n"
                        "  0000000000000000-0000ffffffffffff (prio 0, i/o): smmu\n"
                        "\n"
                        "address-space: pcimem\n"
                        "  0000000000000000-00000000ffffffff (prio 0, i/o): pcimem\n"
                        "\n"
                        "address-space: memory\n"
                        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                        "    0000000010000000-000000001fffffff (prio 0, i/o): alias win "
                        "@pcimem 0000000010000000-000000001fffffff\n"
                        "    0000000040000000-0000000040000fff (prio 0, ram): ram\n"
                        "\n"
                        "memory-region: smmu\n"
                        "  0000000000000000-0000ffffffffffff (prio 0, i/o): smmu\n"
                        "\n"
                        "memory-region: pcimem\n"
                        "  0000000000000000-00000000ffffffff (prio 0, i/o): pcimem\n"
                        "\n";
    expect_flat(iommu, 0,
                "FlatView #0\n"
                " AS \"memory\", root: system\n"
                " Root memory region: system\n"
                "  0000000040000000-0000000040000fff (prio 0, ram): ram\n"
                "\n"
                "FlatView #1\n"
                " AS \"dev\", root: bus master container\n"
                " AS \"smmu\", root: smmu\n"
                " Root memory region: smmu\n"
                "  0000000000000000-0000ffffffffffff (prio 0, i/o): smmu\n"
                "\n"
                "FlatView #2\n"
                " AS \"pcimem\", root: pcimem\n"
                " Root memory region: (none)\n"
                "  No rendered FlatView\n"
                "\n");
}

/* More rules found on the wide captures: ties and unaliased roots. */
static void test_wide_rules_2(void **state)
{
    (void)state;
    /* Equal-size ports overlapping at equal priority: of two pieces of one
     * port list (one name) the one at the higher address wins (QEMU's i8257
     * page registers on clipper and 40p), else the one printed first
     * (powernv10's xscom-quad.0 over xscom-core.0). An
     * unaliased address-space root under 2^64 bytes without subregions is
     * an empty bus space (POWER9 XIVE); a PHB's I/O space matches the name
     * pattern `pci@*.io` and an empty region named "...container" is one. */
    expect_flat("address-space: xive\n"
                "  0000000000000000-0000007fffffffff (prio 0, i/o): xive\n"
                "\n"
                "address-space: memory\n"
                "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                "    0000000000000487-0000000000000489 (prio 0, i/o): pageh\n"
                "    0000000000000489-000000000000048b (prio 0, i/o): pageh\n"
                "    0000000000001000-00000000000017ff (prio 0, i/o): quad\n"
                "    0000000000001400-0000000000001bff (prio 0, i/o): core\n"
                "    0000000000002000-0000000000002017 (prio 0, i/o): hotplug container\n"
                "    0000000000010000-000000000001ffff (prio 0, i/o): alias io-alias "
                "@pci@800000020000000.io 0000000000000000-000000000000ffff\n"
                "\n"
                "memory-region: pci@800000020000000.io\n"
                "  0000000000000000-000000000000ffff (prio 0, i/o): pci@800000020000000.io\n"
                "\n",
                0,
                "FlatView #0\n"
                " AS \"memory\", root: system\n"
                " Root memory region: system\n"
                "  0000000000000487-0000000000000488 (prio 0, i/o): pageh\n"
                "  0000000000000489-000000000000048b (prio 0, i/o): pageh\n"
                "  0000000000001000-00000000000017ff (prio 0, i/o): quad\n"
                "  0000000000001800-0000000000001bff (prio 0, i/o): core @0000000000000400\n"
                "\n"
                "FlatView #1\n"
                " AS \"xive\", root: xive\n"
                " Root memory region: (none)\n"
                "  No rendered FlatView\n"
                "\n");
    /* A mapped leaf of 16 GiB, no alias's target, is a device window (POWER's
     * xscom-0); one of exactly 4 GiB is an empty 32-bit bus space. */
    expect_flat("address-space: memory\n"
                "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                "    0000000100000000-00000001ffffffff (prio 0, i/o): pci_io\n"
                "    0000000400000000-00000007ffffffff (prio 0, i/o): xscom\n"
                "\n",
                0,
                "FlatView #0\n"
                " AS \"memory\", root: system\n"
                " Root memory region: system\n"
                "  0000000400000000-00000007ffffffff (prio 0, i/o): xscom\n"
                "\n");
    /* A subregion may end past its container's end (rendering clips it):
     * in a dump with no region marked disabled, that alone does not make it
     * the child of a left-out disabled region. */
    const char *past = "address-space: memory\n"
                       "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                       "    0000000000001000-0000000000001fff (prio 0, i/o): esb\n"
                       "      0000000000001000-0000000000002fff (prio 0, i/o): esb-emulated\n"
                       "\n";
    expect_flat(past, 0,
                "FlatView #0\n"
                " AS \"memory\", root: system\n"
                " Root memory region: system\n"
                "  0000000000001000-0000000000001fff (prio 0, i/o): esb-emulated\n"
                "\n");
    MtreeError err;
    MtreeImport *imp = import_str(past, NULL, 0, &err);
    assert_non_null(imp);
    char *t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_string_equal(t, past);
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
}

/* A dump without -D: left-out disabled regions are stood in for. */
static void test_dump_without_disabled(void **state)
{
    (void)state;
    const char *tree = "address-space: I/O\n"
                       "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
                       "      0000000000000000-0000000000000003 (prio 0, i/o): acpi-evt\n"
                       "    0000000000000060-0000000000000060 (prio 0, i/o): kbd\n"
                       "    0000000000000000-0000000000000000 (prio 1, i/o): alias win @bus "
                       "0000000000000000-0000000000000000\n"
                       "      0000000000000600-0000000000000603 (prio 0, i/o): pm\n"
                       "\n"
                       "memory-region: bus\n"
                       "  0000000000000000-00000000ffffffff (prio 0, i/o): bus\n"
                       "\n";
    const char *flat = "FlatView #0\n"
                       " AS \"I/O\", root: io\n"
                       " Root memory region: io\n"
                       "  0000000000000000-000000000000005f (prio 0, i/o): io\n"
                       "  0000000000000060-0000000000000060 (prio 0, i/o): kbd\n"
                       "  0000000000000061-000000000000ffff (prio 0, i/o): io @0000000000000061\n"
                       "\n";
    MtreeError err;
    MtreeImport *imp = import_str(tree, NULL, 0, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    char *t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    /* The stand-ins print as disabled containers with -D, not without. */
    t = print_import(mtree_print_tree, imp, MTREE_PRINT_DISABLED);
    assert_non_null(
        strstr(t, "    0000000000000000-000000000000ffff (prio 0, i/o): (hidden) [disabled]\n"
                  "      0000000000000000-0000000000000003 (prio 0, i/o): acpi-evt\n"));
    free(t);
    t = print_import(mtree_print_tree, imp, 0);
    assert_null(strstr(t, "(hidden)"));
    assert_non_null(strstr(t, "      0000000000000600-0000000000000603 (prio 0, i/o): pm\n"));
    free(t);
    assert_int_equal(mtree_import_free(imp), 0);
}

/* A transcript of a monitor session (`-monitor stdio`): banner, prompts with
 * echoed commands, "\r\n", and both dumps in one file. */
static void test_monitor_session(void **state)
{
    (void)state;
    const char *session =
        "QEMU 7.2.22 monitor - type 'help' for more information\r\n"
        "(qemu) i\033[K\033[Din\033[K\033[D\033[Dinfo mtree -D\r\n"
        "address-space: memory\r\n"
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n"
        "    0000000000001000-0000000000001fff (prio 0, i/o): win\r\n"
        "      0000000000001100-00000000000011ff (prio 0, i/o): reg\r\n"
        "\r\n"
        "(qemu) info mtree -f\r\n"
        "FlatView #0\r\n"
        " AS \"memory\", root: system\r\n"
        " Root memory region: system\r\n"
        "  0000000000001000-00000000000010ff (prio 0, i/o): win\r\n"
        "  0000000000001100-00000000000011ff (prio 0, i/o): reg\r\n"
        "  0000000000001200-0000000000001fff (prio 0, i/o): win @0000000000000200\r\n"
        "\r\n"
        "(qemu) quit\r\n";
    const char *flat = "FlatView #0\n"
                       " AS \"memory\", root: system\n"
                       " Root memory region: system\n"
                       "  0000000000001000-00000000000010ff (prio 0, i/o): win\n"
                       "  0000000000001100-00000000000011ff (prio 0, i/o): reg\n"
                       "  0000000000001200-0000000000001fff (prio 0, i/o): win @0000000000000200\n"
                       "\n";
    MtreeError err;
    MtreeImport *imp = import_str(session, session, 0, &err);
    if (!imp)
        fail_msg("line %u%s: %s", err.line, err.in_facts ? " (flat)" : "", err.message);
    char *t = print_import(mtree_print_flat, imp, 0);
    assert_string_equal(t, flat);
    free(t);
    MtreeFactCounts c;
    mtree_import_fact_counts(imp, &c);
    assert_int_equal(c.from_flat[MTREE_FACT_TERMINATES], 1); /* "win" */
    assert_int_equal(mtree_import_free(imp), 0);
}

/* Many blocks, many same-named alias targets, many identical roots: the
 * import stays near-linear (the test's timeout bounds it). */
static void test_many_blocks(void **state)
{
    (void)state;
    enum { N = 5000 };
    size_t cap = (size_t)N * 400, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    n += (size_t)sprintf(t + n, "address-space: memory\n"
                                "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n");
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(t + n,
                             "    %016x-%016x (prio 0, i/o): alias a%d @t "
                             "0000000000000000-0000000000000fff\n",
                             i * 0x1000, i * 0x1000 + 0xfff, i);
    n += (size_t)sprintf(t + n, "\n");
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(t + n,
                             "address-space: dma%d\n"
                             "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master "
                             "container\n\n",
                             i);
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(t + n, "memory-region: t\n"
                                    "  0000000000000000-0000000000000fff (prio 0, i/o): t\n\n");
    assert_true(n < cap);
    MtreeError err;
    MtreeImport *imp = mtree_import(t, n, NULL, &err);
    if (!imp)
        fail_msg("line %u: %s", err.line, err.message);
    assert_int_equal(mtree_import_nr_spaces(imp), N + 1);
    /* N aliases onto N distinct same-named targets, the system container,
     * N bus master containers, and the N targets. */
    assert_int_equal(mtree_import_nr_regions(imp), 1 + N + N + N);
    char *out = print_import(mtree_print_tree, imp, 0);
    /* Printed back block for block: N targets come out again. */
    size_t blocks = 0;
    for (const char *p = out; (p = strstr(p, "memory-region: t\n")); p++)
        blocks++;
    assert_int_equal(blocks, N);
    free(out);
    out = print_import(mtree_print_flat, imp, 0);
    assert_non_null(strstr(out, "  0000000001387000-0000000001387fff (prio 0, i/o): t\n"));
    free(out);
    assert_int_equal(mtree_import_free(imp), 0);
    free(t);
}

/* Two imports live side by side and go in either order. */
static void test_two_imports(void **state)
{
    (void)state;
    MtreeError err;
    MtreeImport *a = import_str(small_tree_d, small_flat, 0, &err);
    MtreeImport *b = import_str(small_tree_d, small_flat, 0, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(mtree_import_region(a, 0), mtree_import_region(b, 0));
    assert_int_equal(mtree_import_nr_regions(a), mtree_import_nr_regions(b));
    assert_int_equal(mtree_import_free(a), 0);
    char *t = print_import(mtree_print_flat, b, 0);
    assert_string_equal(t, small_flat);
    free(t);
    assert_int_equal(mtree_import_free(b), 0);
    assert_int_equal(mtree_import_free(NULL), 0);
}

/*
 * Importing is writer-side, and writer-side functions may run on any
 * thread (region.h): two imports at once must not share state. Two threads
 * import dumps of different sizes; each dump has many memory-region blocks
 * to sort by name and shape, and one alias whose target has no block, so
 * each import fails the same known way after the sorts, with no regions
 * built.
 */
typedef struct ConcurrentImport {
    char *text;
    size_t len;
    int rounds;
    int bad; /* imports that did not fail as expected */
} ConcurrentImport;

static char *sortable_dump(int blocks, size_t *len)
{
    size_t cap = (size_t)blocks * 160 + 400, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    n += (size_t)sprintf(t + n, "address-space: memory\n"
                                "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                                "    0000000000000000-0000000000000fff (prio 0, i/o): alias a "
                                "@missing 0000000000000000-0000000000000fff\n\n");
    /* Names in descending order, so that sorting moves every block. */
    for (int i = blocks; i > 0; i--)
        n += (size_t)sprintf(t + n,
                             "memory-region: m%06d\n"
                             "  0000000000000000-0000000000000fff (prio 0, i/o): m%06d\n\n",
                             i, i);
    assert_true(n < cap);
    *len = n;
    return t;
}

static void *concurrent_import(void *arg)
{
    ConcurrentImport *c = arg;
    for (int r = 0; r < c->rounds; r++) {
        MtreeError err;
        MtreeImport *imp = mtree_import(c->text, c->len, NULL, &err);
        if (imp) {
            mtree_import_free(imp);
            c->bad++;
        } else if (!strstr(err.message, "no 'memory-region: missing' block")) {
            c->bad++;
        }
    }
    return NULL;
}

static void test_concurrent_imports(void **state)
{
    (void)state;
    ConcurrentImport c[2] = {{.rounds = 40}, {.rounds = 4000}};
    c[0].text = sortable_dump(4000, &c[0].len);
    c[1].text = sortable_dump(40, &c[1].len);
    /* One import alone fails as expected. */
    concurrent_import(&c[1]);
    assert_int_equal(c[1].bad, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, concurrent_import, &c[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(c[i].bad, 0);
        free(c[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print_formats),
        cmocka_unit_test(test_small_round_trip),
        cmocka_unit_test(test_overflow_marker_round_trip),
        cmocka_unit_test(test_resolve_path),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cycle_reported),
        cmocka_unit_test(test_alias_into_own_container),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_flat_errors),
        cmocka_unit_test(test_mutations_never_crash),
        cmocka_unit_test(test_fact_terminates),
        cmocka_unit_test(test_fact_readonly),
        cmocka_unit_test(test_fact_size),
        cmocka_unit_test(test_fact_tie),
        cmocka_unit_test(test_qemu_rules),
        cmocka_unit_test(test_dump_without_disabled),
        cmocka_unit_test(test_monitor_session),
        cmocka_unit_test(test_many_blocks),
        cmocka_unit_test(test_two_imports),
        cmocka_unit_test(test_concurrent_imports),
        cmocka_unit_test(test_wide_rules),
        cmocka_unit_test(test_wide_rules_2),
    };
    return cmocka_run_group_tests_name("mtree-import", tests, NULL, NULL);
}
