/*
 * Whole-file reads and array growth for the test programs, header only, so
 * that programs without cmocka (the conformance runner, the scaling tests)
 * use them too. Growth goes through the library's one growth helper,
 * src/grow.h; a test that runs out of memory exits with status 2.
 */
#ifndef TESTS_SUPPORT_FILES_H
#define TESTS_SUPPORT_FILES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "grow.h"

/* Make room for @need elements of @elem bytes in *@arr (capacity *@cap),
 * doubling from @initial; exits with status 2 when memory runs out. */
static inline void ts_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t initial)
{
    if (mr_grow_array((void **)arr, cap, need, elem, initial)) {
        fprintf(stderr, "test: out of memory for %zu elements\n", need);
        exit(2);
    }
}

/* The contents of @path with a NUL byte after them (the caller frees), and
 * their length in *@len when @len is not NULL; NULL when the file cannot be
 * opened or read. */
static inline char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    size_t cap = 0, n = 0, got;
    do {
        ts_grow(&s, &cap, n + 4096 + 1, 1, 1 << 16);
        got = fread(s + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(s);
        return NULL;
    }
    s[n] = 0;
    if (len)
        *len = n;
    return s;
}

#endif /* TESTS_SUPPORT_FILES_H */
