/*
 * The mtree importer and printer on generated worst cases: work counted
 * (mtree_stat_steps()), never timed.
 *
 *  - N identical subregion lines and N identical, identically named
 *    memory-region: blocks (every block has N candidates; each match changes
 *    what the others may join);
 *  - an alias chain of L memory-region: blocks, each an alias onto the next.
 *
 * For each, the dump grows 8-fold in four steps. Importing and printing it
 * must take at most 8 * 1.5 times the steps of the smallest (O(n log n)
 * stays well below; the quadratic importer this replaces took 64 times),
 * and the import must be right: the regions expected, every block matched.
 *
 * Last line: "scaling (mtree): identical blocks xR, alias chain xR" (the
 * growth of the work when the dump grows 8-fold).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memregion/memregion.h>
#include <memregion/mtree.h>

#include "files.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...)
{
    for (;;) {
        if (b->s) { /* (no pointer arithmetic on NULL before the first growth) */
            va_list ap;
            va_start(ap, fmt);
            int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
            va_end(ap);
            if (k >= 0 && (size_t)k < b->cap - b->n) {
                b->n += (size_t)k;
                return;
            }
        }
        ts_grow(&b->s, &b->cap, b->cap + 1, 1, 1 << 16);
    }
}

static void gen_identical(Buf *b, unsigned n)
{
    put(b, "address-space: memory\n");
    put(b, "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n");
    for (unsigned i = 0; i < n; i++)
        put(b, "    0000000000001000-0000000000001fff (prio 0, i/o): dev\n");
    put(b, "\n");
    for (unsigned i = 0; i < n; i++)
        put(b, "memory-region: dev\n  0000000000001000-0000000000001fff (prio 0, i/o): dev\n\n");
}

static void gen_chain(Buf *b, unsigned n)
{
    put(b, "address-space: memory\n");
    put(b, "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n");
    put(b, "    0000000000000000-0000000000000fff (prio 0, ram): alias a0 @a1 "
           "0000000000000000-0000000000000fff\n\n");
    for (unsigned i = 1; i < n; i++)
        put(b,
            "memory-region: a%u\n  0000000000000000-0000000000000fff (prio 0, ram): alias a%u @a%u "
            "0000000000000000-0000000000000fff\n\n",
            i, i, i + 1);
    put(b, "memory-region: a%u\n  0000000000000000-0000000000000fff (prio 0, ram): a%u\n\n", n, n);
}

/* Import and print one generated dump; returns the steps taken. */
static uint64_t run(void (*gen)(Buf *, unsigned), unsigned n, size_t want_regions, const char *what)
{
    Buf b = {0};
    gen(&b, n);
    FILE *out = fopen("/dev/null", "w");
    if (!out)
        abort();
    uint64_t before = mtree_stat_steps();
    MtreeError err;
    MtreeImport *imp = mtree_import(b.s, b.n, NULL, &err);
    CHECK(imp, "%s n=%u: import failed at line %u: %s", what, n, err.line, err.message);
    if (!imp) {
        fclose(out);
        free(b.s);
        return 0;
    }
    CHECK(mtree_print_tree(out, NULL, 0, MTREE_PRINT_DISABLED) == 0, "%s: print", what);
    uint64_t steps = mtree_stat_steps() - before;
    CHECK(mtree_import_nr_regions(imp) == want_regions, "%s n=%u: %zu regions, want %zu", what, n,
          mtree_import_nr_regions(imp), want_regions);
    printf("%s: n=%u, %zu bytes, %" PRIu64 " steps (%.1f per byte)\n", what, n, b.n, steps,
           (double)steps / (double)b.n);
    CHECK(mtree_import_free(imp) == 0, "%s: free", what);
    fclose(out);
    free(b.s);
    return steps;
}

int main(void)
{
    double growth[2];
    /* Identical blocks: system + n lines, each block joined to one line. */
    uint64_t s0 = 0, s = 0;
    for (unsigned n = 100; n <= 800; n *= 2) {
        s = run(gen_identical, n, 1 + n, "identical blocks");
        if (n == 100)
            s0 = s;
    }
    growth[0] = s0 ? (double)s / (double)s0 : 0;
    CHECK(growth[0] <= 12.0, "identical blocks: 8x the dump took %.1fx the steps", growth[0]);
    /* Alias chains: system, L aliases and the RAM at the end. */
    for (unsigned n = 500; n <= 4000; n *= 2) {
        s = run(gen_chain, n, n + 2, "alias chain");
        if (n == 500)
            s0 = s;
    }
    growth[1] = s0 ? (double)s / (double)s0 : 0;
    CHECK(growth[1] <= 12.0, "alias chain: 8x the dump took %.1fx the steps", growth[1]);
    printf("scaling (mtree): identical blocks x%.1f, alias chain x%.1f for an 8x larger dump%s\n",
           growth[0], growth[1], failures ? ", FAILED" : "");
    return failures ? 1 : 0;
}
