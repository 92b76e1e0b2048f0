/*
 * The index searches of view versions (view_build.c, view_lookup.c). Every
 * index of a version is a sorted array: node and chunk start addresses,
 * first range and first chunk indexes. Not installed.
 */
#ifndef MEMREGION_VIEW_SEARCH_H
#define MEMREGION_VIEW_SEARCH_H

#include <stddef.h>

#include "view.h"

/*
 * The last index i < @n with @a[i] <= @key, or -1 when there is none; @a is
 * sorted ascending, of any integer type, and @key is compared as that type.
 * One macro for all element types keeps the loop in one place without a
 * comparison callback on the lookup path.
 *
 * Branch-free: each step halves the candidates with a conditional move, so
 * a lookup at a random address costs log2(n) loads and no mispredicted
 * branch (a branching search mispredicts about half its steps there).
 * Invariant: the answer, when there is one, lies in [bs_b_, bs_b_ + bs_len_).
 */
#define FV_BSEARCH_LE(a, n, key)                                                                   \
    __extension__({                                                                                \
        const __typeof__(*(a)) *bs_a_ = (a), *bs_b_ = bs_a_;                                       \
        const __typeof__(*(a)) bs_key_ = (__typeof__(*(a)))(key);                                  \
        size_t bs_len_ = (n);                                                                      \
        ptrdiff_t bs_r_ = -1;                                                                      \
        if (bs_len_) {                                                                             \
            while (bs_len_ > 1) {                                                                  \
                size_t bs_half_ = bs_len_ / 2;                                                     \
                bs_b_ = bs_b_[bs_half_] <= bs_key_ ? bs_b_ + bs_half_ : bs_b_;                     \
                bs_len_ -= bs_half_;                                                               \
            }                                                                                      \
            bs_r_ = *bs_b_ <= bs_key_ ? bs_b_ - bs_a_ : -1;                                        \
        }                                                                                          \
        bs_r_;                                                                                     \
    })

/* The number of ranges node @n holds in the finished version @fv (the
 * node's last chunk may hold more in later versions). */
static inline size_t fv_node_ranges(const FlatView *fv, size_t n)
{
    return (n + 1 < fv->nr_nodes ? fv->node_first[n + 1] : fv->nr) - fv->node_first[n];
}

/* The number of ranges of chunk @k of node @nd in a version where @nd holds
 * @nd_ranges ranges. */
static inline uint32_t fv_node_chunk_nr(const FvNode *nd, uint32_t k, size_t nd_ranges)
{
    return (uint32_t)((k + 1 < nd->nr ? nd->first[k + 1] : nd_ranges) - nd->first[k]);
}

#endif /* MEMREGION_VIEW_SEARCH_H */
