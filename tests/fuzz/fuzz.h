/*
 * Fuzz targets of memregion: libFuzzer entry points.
 *
 * Each target is one C file defining LLVMFuzzerTestOneInput(). Built with
 * clang -fsanitize=fuzzer (`make fuzz`) it is a libFuzzer binary; linked with
 * replay.c (every build) it is a program that runs each file of the corpus
 * directories given on its command line once, so `make test` replays the
 * corpora with gcc and under ASan/UBSan too.
 *
 * A target reports a broken rule with fuzz_fail(), which prints the reason
 * and aborts: libFuzzer saves the input as a crash, replay fails the test.
 */
#ifndef MEMREGION_TESTS_FUZZ_H
#define MEMREGION_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "fuzz: " __VA_ARGS__);                                                     \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define fuzz_check(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__VA_ARGS__);                                                                \
    } while (0)

/* A byte reader over the fuzz input: past the end it yields zeros. */
typedef struct FuzzIn {
    const uint8_t *p;
    size_t n;
} FuzzIn;

static inline uint8_t fin_u8(FuzzIn *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The next @n bytes into @out, as @n calls of fin_u8() would give them. */
static inline void fin_bytes(FuzzIn *in, uint8_t *out, size_t n)
{
    size_t have = n < in->n ? n : in->n;
    memcpy(out, in->p, have);
    memset(out + have, 0, n - have);
    in->p += have;
    in->n -= have;
}

static inline uint64_t fin_u64(FuzzIn *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)fin_u8(in) << (8 * i);
    return v;
}

#endif /* MEMREGION_TESTS_FUZZ_H */
