/*
 * The tests' random numbers: splitmix64, small and deterministic on every
 * platform, so a seed printed by a failing run replays it anywhere. Each
 * test keeps its own state (a global, or thread-local for threads).
 */
#ifndef TESTS_RNG_H
#define TESTS_RNG_H

#include <stdbool.h>
#include <stdint.h>

/** The next number of the sequence whose state is *@state. */
static inline uint64_t ts_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * One sequence for a whole test program (the differential tests): its
 * state, set from the seed (defined in the test-support library), and
 * draws from it.
 */
extern uint64_t ts_rng_state;

/** The next number of the program's sequence. */
static inline uint64_t ts_rnd(void)
{
    return ts_rng_next(&ts_rng_state);
}

/** Uniform in [0, @n); @n == 0 gives 0. */
static inline uint64_t ts_rnd_below(uint64_t n)
{
    return n ? ts_rnd() % n : 0;
}

/** Uniform in [0, @n) for a 128-bit bound up to 2^64. */
static inline unsigned __int128 ts_rnd_below128(unsigned __int128 n)
{
    if (n == 0)
        return 0;
    if (n >= (unsigned __int128)1 << 64)
        return ts_rnd();
    return ts_rnd_below((uint64_t)n);
}

/** True with probability @pct percent. */
static inline bool ts_chance(unsigned pct)
{
    return ts_rnd_below(100) < pct;
}

#endif /* TESTS_RNG_H */
