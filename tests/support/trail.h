/*
 * The trail of a randomized comparison run (the differential tests): the
 * last operations, the mismatch counts and the mismatch reports, so a
 * failing run shows what led to it and how to replay it.
 *
 * One trail per test program (ts_trail); single-threaded. Also the small
 * utilities such runs share: 128-bit numbers in hex, range equality, numeric
 * environment knobs.
 */
#ifndef TESTS_TRAIL_H
#define TESTS_TRAIL_H

#include <stdbool.h>
#include <stdint.h>

#include <memregion/memregion.h>

#define TS_TRAIL_RING    24  /* operations remembered for a report */
#define TS_TRAIL_LINE    256 /* bytes of one remembered operation */
#define TS_TRAIL_REPORTS 12  /* mismatch lines printed per run */

typedef struct TsTrail {
    uint64_t seed;           /* of the current run, printed with every report */
    uint64_t op;             /* operations run in the current run */
    uint64_t mismatches;     /* all runs */
    uint64_t run_mismatches; /* the current run */
    unsigned reports;        /* mismatch lines printed in the current run */
    bool verbose;            /* print each operation as it is noted */
    uint64_t nr_notes;
    char notes[TS_TRAIL_RING][TS_TRAIL_LINE];
} TsTrail;

extern TsTrail ts_trail;

/** Start a run with @seed: operation and per-run counts back to 0. */
void ts_trail_start(uint64_t seed);
/** Remember an operation ("op N: ..."); printed at once when verbose. */
void ts_trail_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Count a mismatch and print it (the first TS_TRAIL_REPORTS of a run). */
void ts_trail_mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Print the remembered operations, oldest first. */
void ts_trail_print_ops(void);

/** @v in hex ("0x1" and 16 digits for 2^64) in @buf (at least 20 bytes); returns @buf. */
const char *ts_hex128(mr_size_t v, char *buf);
/** Are the two ranges equal in every field, dirty-log mask included? */
bool ts_fr_same(const FlatRange *a, const FlatRange *b);
/** The number in environment variable @name, or @dflt when unset or empty; exits with 2 when it is
 * not a number. */
uint64_t ts_env_u64(const char *name, uint64_t dflt);

#endif /* TESTS_TRAIL_H */
