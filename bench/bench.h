/*
 * memregion-bench: shared declarations.
 *
 * The benchmark measures memregion side by side with Unicorn (QEMU's memory
 * core behind Unicorn's public API) and with a baseline (a plain sorted
 * array with binary search, plus a direct page table where it fits) in one
 * run, and prints ratios computed from that run. Every scenario prints one
 * table; every target of the issue is checked against this run's numbers.
 *
 * Only memregion's public API is used, so the program keeps working when
 * the core's internals change.
 */
#ifndef MEMREGION_BENCH_H
#define MEMREGION_BENCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memregion/memregion.h"

/* ---- options ------------------------------------------------------------- */

typedef struct BenchOptions {
    bool quick;         /* --quick: small sizes, short budgets */
    uint64_t max_n;     /* --max-n: cap on region counts (0: none) */
    double budget_s;    /* --budget: time budget of one memregion phase, seconds */
    double uc_budget_s; /* --unicorn-budget: time budget of one Unicorn phase, seconds */
    double min_run_s;   /* duration of one timed run of a micro-benchmark */
    unsigned scenarios; /* bit i: run scenario i (1..6) */
    bool unicorn_abort; /* run the Unicorn 4096-region abort check in a child process */
    unsigned moves;     /* scenario 4: BAR moves per configuration */
    double scaling_s;   /* scenario 5: duration of one reader phase */
} BenchOptions;

extern BenchOptions opt;

/* True when @n is allowed by --max-n. */
bool n_allowed(uint64_t n);

/* ---- time ---------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* Seconds elapsed since @t0 (a now_ns() value). */
double since_s(uint64_t t0);

/*
 * A micro-benchmark body: perform @iters operations. The body writes its
 * results to bench_sink so that the compiler cannot drop the work.
 */
typedef void (*bench_body_fn)(void *ctx, uint64_t iters);

extern volatile uint64_t bench_sink;

/*
 * Time @body: a warm-up, a calibration that sizes one run to opt.min_run_s,
 * then @runs timed runs. Returns the median cost in ns per operation.
 */
double measure_ns_per_op(bench_body_fn body, void *ctx, unsigned runs);

/* A body and its context, for measure_interleaved(). A NULL fn is a peer
 * that does not run (its result is -1). */
typedef struct BenchBody {
    bench_body_fn fn;
    void *ctx;
} BenchBody;

/*
 * Time @n bodies side by side, for ratios between them: each is calibrated
 * once, then measured in @rounds interleaved rounds of @runs timed runs, and
 * ns[i] is the best round of body i (a round's figure is the median of its
 * runs). On a shared machine a burst of other work then slows one round of
 * every body rather than every round of one body.
 */
void measure_interleaved(unsigned n, const BenchBody *bodies, unsigned rounds, unsigned runs,
                         double *ns);

/* The median of the @n (at least 1) values at @v, which it sorts. */
double median(double *v, unsigned n);

/* ---- random numbers (xorshift64*, deterministic) ----------------------------- */

uint64_t rng_next(uint64_t *state);

/* ---- formatting ------------------------------------------------------------- */

/* Format a duration given in ns with a unit: "12.3 ns", "4.56 us", "7.89 ms", "1.23 s". */
const char *fmt_time(char *buf, size_t len, double ns);
/* Format a ratio: "123x", "12.3x", "1.23x", "0.123x". */
const char *fmt_ratio(char *buf, size_t len, double ratio);

/* ---- tables ------------------------------------------------------------------ */

typedef struct Table Table;

/* A table with @ncols columns named by @headers (borrowed string literals). */
Table *table_new(const char *title, int ncols, const char *const *headers);
/* Start a new row; cells default to "-". */
void table_row(Table *t);
/* Set cell @col of the current row. */
void table_set(Table *t, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note printed under the table. */
void table_note(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the table and its notes to stdout, then free it. */
void table_print_free(Table *t);

/* ---- targets ------------------------------------------------------------------- */

typedef enum TargetStatus { TARGET_MET, TARGET_MISSED, TARGET_NOT_MEASURED } TargetStatus;

/*
 * Record the check of one target of the issue: @what names it, @measured
 * is the measured value as text, @status says whether it holds, @why
 * explains a miss or a missing measurement (or NULL). Printed under the
 * scenario's table and in the summary.
 */
void target_check(int scenario, const char *what, const char *measured, TargetStatus status,
                  const char *why);
/* Print the targets recorded for @scenario. */
void targets_print(int scenario);
/* Print every recorded target; returns the number missed or not measured. */
int targets_summary(void);

/* ---- scenarios --------------------------------------------------------------- */

void scenario_map(void);       /* 1: map/unmap one by one, growth */
void scenario_read(void);      /* 2: host-side 4-byte reads */
void scenario_translate(void); /* 3: translate only */
void scenario_many_as(void);   /* 4: many address spaces, BAR moves */
void scenario_scaling(void);   /* 5: reader throughput with a busy writer */
void scenario_footprint(void); /* 6: bytes per region, flat range, address space */
/* Scenario 6's child process: measure one configuration, print it (argv after the flag). */
int footprint_child(int argc, char **argv);
void scenario_dma(void);        /* 7: DMA through an IOMMU, map/unmap */
void unicorn_abort_check(void); /* the claim: Unicorn aborts at 4096 regions */

/* Fatal setup error of the benchmark itself (never of a measured operation). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Address layout shared by the scenarios. */
#define REGION_SIZE   0x1000ull       /* every benchmark region: 4 KiB */
#define REGION_STRIDE 0x2000ull       /* one region every 8 KiB */
#define RAM_BASE      0x100000000ull  /* RAM regions from 4 GiB */
#define MMIO_BASE     0x8000000000ull /* MMIO regions from 512 GiB */

#endif /* MEMREGION_BENCH_H */
