/*
 * The mtree tool's operations on address spaces: lookup, diff and DOT
 * output. Writer-side (they read the region tree).
 */
#ifndef MTREE_TOOL_H
#define MTREE_TOOL_H

#include <stdio.h>

#include <memregion/memregion.h>

/** Parse a hexadecimal address, with or without 0x. False when malformed. */
bool mtree_parse_addr(const char *s, uint64_t *out);

/**
 * Print what serves @addr in @as: `  ADDR: NAME @OFFSET (prio P, TYPE)`,
 * then its flat range and its path from the root; or `  ADDR: unassigned`.
 */
void mtree_print_lookup(FILE *out, AddressSpace *as, uint64_t addr);

/** What mtree_diff_spaces() found. */
typedef struct MtreeDiffCounts {
    unsigned appeared, vanished, changed;
    unsigned spaces_differ; /* address spaces present on one side only */
} MtreeDiffCounts;

/**
 * Print the flat ranges that appeared, vanished or changed from the spaces
 * @a to the spaces @b, per address space (paired by name, in order).
 * Returns 0 or a negative errno.
 */
int mtree_diff_spaces(FILE *out, AddressSpace *const *a, size_t na, AddressSpace *const *b,
                      size_t nb, MtreeDiffCounts *counts);

/** Write a Graphviz DOT graph of the trees and flat views of @spaces. */
int mtree_write_dot(FILE *out, AddressSpace *const *spaces, size_t n);

/**
 * Print the overlapping siblings of the trees of @spaces (each pair once),
 * then the ties among them (equal priorities: insertion order decides).
 * *@nr_ties (may be NULL) gets the number of ties. Returns 0 or -ENOMEM.
 */
int mtree_check_overlaps(FILE *out, AddressSpace *const *spaces, size_t n, size_t *nr_ties);

#endif /* MTREE_TOOL_H */
