/*
 * The one growth helper of both libraries (the core and libmemregion-kvm),
 * inline so that neither exports it. Not installed.
 */
#ifndef MEMREGION_GROW_H
#define MEMREGION_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Make room for @need elements of @elem bytes in the array *@arr of
 * capacity *@cap (in elements), doubling from @initial. Returns 0, or
 * -ENOMEM with the array and capacity unchanged.
 */
static inline int mr_grow_array(void **arr, size_t *cap, size_t need, size_t elem, size_t initial)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (initial ? initial : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -ENOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return -ENOMEM;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

#endif /* MEMREGION_GROW_H */
