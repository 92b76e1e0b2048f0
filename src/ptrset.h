/*
 * A set of pointers (open addressing, linear probing), for walks that must
 * meet each object once: the overlap listings (overlap.c) and the queue of
 * alias targets of the mtree printer (mtree/print.c). Generic: it holds no
 * library state and may be used from any layer. Inline so that neither
 * library exports it. Not installed.
 *
 * Invariants: cap is 0 or a power of two; n * 2 <= cap; an empty slot is
 * NULL, so NULL itself cannot be a member.
 */
#ifndef MEMREGION_PTRSET_H
#define MEMREGION_PTRSET_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/** Zero-initialise; release with ptrset_free(). Not thread-safe. */
typedef struct PtrSet {
    const void **v; /* cap slots, NULL when empty */
    size_t cap, n;  /* slots allocated, members */
} PtrSet;

static inline size_t ptrset_slot(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* Add @p (not NULL): returns 1 when added, 0 when already present, or
 * -ENOMEM with the set unchanged. */
static inline int ptrset_add(PtrSet *s, const void *p)
{
    if ((s->n + 1) * 2 > s->cap) {
        if (s->cap > SIZE_MAX / 2 / sizeof(*s->v))
            return -ENOMEM;
        size_t cap = s->cap ? 2 * s->cap : 64;
        const void **v = calloc(cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i])
                continue;
            size_t h = ptrset_slot(s->v[i], cap);
            while (v[h])
                h = (h + 1) & (cap - 1);
            v[h] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t h = ptrset_slot(p, s->cap);
    while (s->v[h]) {
        if (s->v[h] == p)
            return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->v[h] = p;
    s->n++;
    return 1;
}

/* Free the slots; the set is empty and reusable afterwards. */
static inline void ptrset_free(PtrSet *s)
{
    free(s->v);
    *s = (PtrSet){0};
}

#endif /* MEMREGION_PTRSET_H */
