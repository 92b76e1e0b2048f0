/*
 * The tests' random numbers: splitmix64, small and deterministic on every
 * platform, so a seed printed by a failing run replays it anywhere. Each
 * test keeps its own state (a global, or thread-local for threads).
 */
#ifndef TESTS_RNG_H
#define TESTS_RNG_H

#include <stdint.h>

/** The next number of the sequence whose state is *@state. */
static inline uint64_t ts_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif /* TESTS_RNG_H */
