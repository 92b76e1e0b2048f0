/*
 * The trail of a randomized comparison run (trail.h).
 */
#include "trail.h"
#include "rng.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

TsTrail ts_trail;

uint64_t ts_rng_state; /* rng.h */

void ts_trail_start(uint64_t seed)
{
    ts_trail.seed = seed;
    ts_trail.op = 0;
    ts_trail.run_mismatches = 0;
    ts_trail.reports = 0;
    ts_trail.nr_notes = 0;
}

void ts_trail_note(const char *fmt, ...)
{
    char *line = ts_trail.notes[ts_trail.nr_notes++ % TS_TRAIL_RING];
    int n = snprintf(line, TS_TRAIL_LINE, "op %" PRIu64 ": ", ts_trail.op);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, TS_TRAIL_LINE - (size_t)n, fmt, ap);
    va_end(ap);
    if (ts_trail.verbose)
        printf("  %s\n", line);
}

void ts_trail_mismatch(const char *fmt, ...)
{
    ts_trail.mismatches++;
    ts_trail.run_mismatches++;
    if (ts_trail.reports++ >= TS_TRAIL_REPORTS)
        return;
    printf("MISMATCH seed=%" PRIu64 " op=%" PRIu64 ": ", ts_trail.seed, ts_trail.op);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void ts_trail_print_ops(void)
{
    printf("  last operations:\n");
    uint64_t first = ts_trail.nr_notes > TS_TRAIL_RING ? ts_trail.nr_notes - TS_TRAIL_RING : 0;
    for (uint64_t i = first; i < ts_trail.nr_notes; i++)
        printf("    %s\n", ts_trail.notes[i % TS_TRAIL_RING]);
}

const char *ts_hex128(mr_size_t v, char *buf)
{
    if (v >> 64)
        sprintf(buf, "0x1%016" PRIx64, (uint64_t)v);
    else
        sprintf(buf, "0x%" PRIx64, (uint64_t)v);
    return buf;
}

bool ts_fr_same(const FlatRange *a, const FlatRange *b)
{
    return a->addr == b->addr && a->size == b->size && a->mr == b->mr &&
           a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
           a->nonvolatile == b->nonvolatile && a->romd_mode == b->romd_mode &&
           a->dirty_log_mask == b->dirty_log_mask;
}

uint64_t ts_env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    unsigned long long x = strtoull(v, &end, 0);
    if (*end) {
        fprintf(stderr, "%s: not a number: %s\n", name, v);
        exit(2);
    }
    return x;
}
