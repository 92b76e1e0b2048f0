/*
 * The index searches of view versions (view_build.c, view_lookup.c). Every
 * index of a version is a sorted array: node and chunk start addresses,
 * and first range indexes (of nodes in the view, of chunks in their node).
 * Not installed.
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
 * Two phases. While more than FV_BSEARCH_TAIL candidates remain, a
 * branching step: on arrays larger than the cache, the CPU's guess of the
 * branch issues the next load early, which a data dependency would not.
 * The last few candidates (a cache line or two) are halved with a
 * conditional move, so a lookup at a random address mispredicts no branch
 * there. Invariants: every element below bs_lo_ is <= key, every element
 * from bs_hi_ on is above it; then the answer lies in [bs_b_, bs_b_ +
 * bs_len_), or is bs_lo_ - 1 when no element there is <= key.
 */
#define FV_BSEARCH_TAIL 16
#define FV_BSEARCH_LE(a, n, key)                                                                   \
    __extension__({                                                                                \
        const __typeof__(*(a)) *bs_a_ = (a);                                                       \
        const __typeof__(*(a)) bs_key_ = (__typeof__(*(a)))(key);                                  \
        size_t bs_lo_ = 0, bs_hi_ = (n);                                                           \
        while (bs_hi_ - bs_lo_ > FV_BSEARCH_TAIL) {                                                \
            size_t bs_mid_ = bs_lo_ + (bs_hi_ - bs_lo_) / 2;                                       \
            if (bs_a_[bs_mid_] <= bs_key_)                                                         \
                bs_lo_ = bs_mid_ + 1;                                                              \
            else                                                                                   \
                bs_hi_ = bs_mid_;                                                                  \
        }                                                                                          \
        size_t bs_len_ = bs_hi_ - bs_lo_;                                                          \
        ptrdiff_t bs_r_ = (ptrdiff_t)bs_lo_ - 1;                                                   \
        if (bs_len_) { /* an empty array may be NULL: no arithmetic on it */                       \
            const __typeof__(*(a)) *bs_b_ = bs_a_ + bs_lo_;                                        \
            while (bs_len_ > 1) {                                                                  \
                size_t bs_half_ = bs_len_ / 2;                                                     \
                bs_b_ = bs_b_[bs_half_] <= bs_key_ ? bs_b_ + bs_half_ : bs_b_;                     \
                bs_len_ -= bs_half_;                                                               \
            }                                                                                      \
            if (*bs_b_ <= bs_key_)                                                                 \
                bs_r_ = bs_b_ - bs_a_;                                                             \
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
