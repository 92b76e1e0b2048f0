/*
 * memregion-bench: timing, tables and target bookkeeping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

volatile uint64_t bench_sink;

bool n_allowed(uint64_t n)
{
    return opt.max_n == 0 || n <= opt.max_n;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memregion-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- time ----------------------------------------------------------------- */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double since_s(uint64_t t0)
{
    return (double)(now_ns() - t0) * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(v[0]), cmp_double);
    return v[n / 2];
}

/* Warm @body up and size one timed run of it to opt.min_run_s: the
 * iteration count to pass it. */
static uint64_t calibrate(bench_body_fn body, void *ctx)
{
    /* Grow the batch until it takes 1/8 of a run. */
    uint64_t iters = 64;
    double target = opt.min_run_s / 8;
    for (;;) {
        uint64_t t0 = now_ns();
        body(ctx, iters);
        double s = since_s(t0);
        if (s >= target || iters >= (1ull << 40))
            break;
        iters *= s < target / 16 ? 16 : 2;
    }
    return iters * 8;
}

/* The median cost per op, in ns, of @runs (clamped to 1..16) runs of
 * @iters ops each. */
static double timed_runs(bench_body_fn body, void *ctx, uint64_t iters, unsigned runs)
{
    double samples[16];
    if (runs > 16)
        runs = 16;
    if (runs == 0)
        runs = 1;
    for (unsigned r = 0; r < runs; r++) {
        uint64_t t0 = now_ns();
        body(ctx, iters);
        samples[r] = (double)(now_ns() - t0) / (double)iters;
    }
    return median(samples, runs);
}

double measure_ns_per_op(bench_body_fn body, void *ctx, unsigned runs)
{
    return timed_runs(body, ctx, calibrate(body, ctx), runs);
}

void measure_interleaved(unsigned n, const BenchBody *bodies, unsigned rounds, unsigned runs,
                         double *ns)
{
    uint64_t iters[n];
    for (unsigned i = 0; i < n; i++)
        iters[i] = bodies[i].fn ? calibrate(bodies[i].fn, bodies[i].ctx) : 0;
    for (unsigned round = 0; round < rounds; round++)
        for (unsigned i = 0; i < n; i++) {
            if (!bodies[i].fn) {
                ns[i] = -1;
                continue;
            }
            double v = timed_runs(bodies[i].fn, bodies[i].ctx, iters[i], runs);
            ns[i] = round == 0 || v < ns[i] ? v : ns[i];
        }
}

/* ---- random numbers ----------------------------------------------------------- */

uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- formatting ------------------------------------------------------------------ */

const char *fmt_time(char *buf, size_t len, double ns)
{
    if (ns < 0)
        snprintf(buf, len, "-");
    else if (ns < 10)
        snprintf(buf, len, "%.2f ns", ns);
    else if (ns < 1000)
        snprintf(buf, len, "%.1f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.2f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.2f ms", ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", ns / 1e9);
    return buf;
}

const char *fmt_ratio(char *buf, size_t len, double r)
{
    if (!(r > 0))
        snprintf(buf, len, "-");
    else if (r >= 100)
        snprintf(buf, len, "%.0fx", r);
    else if (r >= 10)
        snprintf(buf, len, "%.1fx", r);
    else if (r >= 0.1)
        snprintf(buf, len, "%.2fx", r);
    else
        snprintf(buf, len, "%.3fx", r);
    return buf;
}

/* ---- tables ---------------------------------------------------------------------- */

enum { TABLE_MAX_COLS = 16, CELL_LEN = 96, NOTE_LEN = 512 };

typedef char Cell[CELL_LEN];

struct Table {
    char title[160];
    int ncols;
    const char *const *headers;
    Cell *cells; /* rows * ncols */
    int nrows, caprows;
    char (*notes)[NOTE_LEN];
    int nnotes, capnotes;
};

Table *table_new(const char *title, int ncols, const char *const *headers)
{
    if (ncols > TABLE_MAX_COLS)
        bench_die("table '%s': too many columns", title);
    Table *t = calloc(1, sizeof(*t));
    if (!t)
        bench_die("out of memory");
    snprintf(t->title, sizeof(t->title), "%s", title);
    t->ncols = ncols;
    t->headers = headers;
    return t;
}

void table_row(Table *t)
{
    if (t->nrows == t->caprows) {
        t->caprows = t->caprows ? 2 * t->caprows : 16;
        t->cells = realloc(t->cells, (size_t)t->caprows * (size_t)t->ncols * sizeof(Cell));
        if (!t->cells)
            bench_die("out of memory");
    }
    for (int c = 0; c < t->ncols; c++)
        strcpy(t->cells[t->nrows * t->ncols + c], "-");
    t->nrows++;
}

void table_set(Table *t, int col, const char *fmt, ...)
{
    if (t->nrows == 0 || col < 0 || col >= t->ncols)
        bench_die("table '%s': bad cell", t->title);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->cells[(t->nrows - 1) * t->ncols + col], CELL_LEN, fmt, ap);
    va_end(ap);
}

void table_note(Table *t, const char *fmt, ...)
{
    if (t->nnotes == t->capnotes) {
        t->capnotes = t->capnotes ? 2 * t->capnotes : 8;
        t->notes = realloc(t->notes, (size_t)t->capnotes * NOTE_LEN);
        if (!t->notes)
            bench_die("out of memory");
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->notes[t->nnotes++], NOTE_LEN, fmt, ap);
    va_end(ap);
}

void table_print_free(Table *t)
{
    int width[TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = (int)strlen(t->headers[c]);
        for (int r = 0; r < t->nrows; r++) {
            int w = (int)strlen(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    printf("\n%s\n\n", t->title);
    printf("|");
    for (int c = 0; c < t->ncols; c++)
        printf(" %-*s |", width[c], t->headers[c]);
    printf("\n|");
    for (int c = 0; c < t->ncols; c++) {
        for (int i = 0; i < width[c] + 2; i++)
            putchar('-');
        printf("|");
    }
    printf("\n");
    for (int r = 0; r < t->nrows; r++) {
        printf("|");
        for (int c = 0; c < t->ncols; c++)
            printf(" %*s |", c == 0 ? -width[c] : width[c], t->cells[r * t->ncols + c]);
        printf("\n");
    }
    if (t->nnotes)
        printf("\n");
    for (int i = 0; i < t->nnotes; i++)
        printf("  - %s\n", t->notes[i]);
    fflush(stdout);
    free(t->cells);
    free(t->notes);
    free(t);
}

/* ---- targets -------------------------------------------------------------------- */

typedef struct Target {
    int scenario;
    char what[160];
    char measured[240];
    TargetStatus status;
    char why[1024];
} Target;

static Target targets[32];
static int nr_targets;

/* Copy a target's text whole: a line cut short would go unnoticed. */
static void target_text(char *dst, size_t size, const char *src)
{
    if (strlen(src) >= size)
        bench_die("a target's text is longer than its buffer");
    memcpy(dst, src, strlen(src) + 1);
}

void target_check(int scenario, const char *what, const char *measured, TargetStatus status,
                  const char *why)
{
    if (nr_targets == (int)(sizeof(targets) / sizeof(targets[0])))
        bench_die("too many targets");
    Target *t = &targets[nr_targets++];
    t->scenario = scenario;
    target_text(t->what, sizeof(t->what), what);
    target_text(t->measured, sizeof(t->measured), measured);
    t->status = status;
    target_text(t->why, sizeof(t->why), (status != TARGET_MET && why) ? why : "");
}

static const char *status_name(TargetStatus s)
{
    return s == TARGET_MET ? "MET" : s == TARGET_MISSED ? "MISSED" : "NOT MEASURED";
}

static void target_print(const Target *t)
{
    printf("  %-7s %s: %s\n", status_name(t->status), t->what, t->measured);
    if (t->why[0])
        printf("          why: %s\n", t->why);
}

void targets_print(int scenario)
{
    bool any = false;
    for (int i = 0; i < nr_targets; i++) {
        if (targets[i].scenario != scenario)
            continue;
        if (!any)
            printf("\nTargets (scenario %d):\n", scenario);
        any = true;
        target_print(&targets[i]);
    }
    fflush(stdout);
}

int targets_summary(void)
{
    int missed = 0;
    printf("\nSummary of the issue's targets (this run):\n");
    for (int i = 0; i < nr_targets; i++) {
        printf("  [%d] ", targets[i].scenario);
        printf("%-7s %s: %s\n", status_name(targets[i].status), targets[i].what,
               targets[i].measured);
        missed += targets[i].status != TARGET_MET;
    }
    printf("  %d of %d targets met\n", nr_targets - missed, nr_targets);
    return missed;
}
