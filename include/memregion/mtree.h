/*
 * memregion: QEMU-compatible memory map dumps (`info mtree`).
 *
 * Printing: mtree_print_tree() writes the region trees of address spaces in
 * the format of QEMU's `info mtree` (`info mtree -D` with
 * MTREE_PRINT_DISABLED); mtree_print_flat() writes their rendered flat views
 * in the format of `info mtree -f`. The flat view printed is the library's
 * own rendering (address_space_get_flatview()); nothing is rendered here.
 *
 * Reading: mtree_import() parses a tree dump (`info mtree -D`, `info mtree`,
 * or what mtree_print_tree() wrote) and rebuilds it with the public region
 * API: one MemoryRegion per region object of the dump, one AddressSpace per
 * `address-space:` header. The MtreeImport object owns everything it
 * created. The tree dump does not say four things that rendering needs;
 * docs/mtree.md gives the rules the importer decides them by, and how an
 * optional flat dump (`info mtree -f`) may decide them instead
 * (MtreeImportOptions.facts_text).
 *
 * Thread rules: printing reads the region tree. It holds the library's
 * writer lock while it walks the tree, through an empty transaction
 * (memory_region_transaction_begin() and _commit(), which change nothing),
 * so it may run on any thread, concurrently with other writers, and from
 * callbacks. The printers and the importer use the public API only.
 * Importing and mtree_import_free() are writer-side: they create, map and
 * destroy regions and address spaces. The MtreeImport object itself is not
 * locked: do not use one object from two threads at once.
 */
#ifndef MEMREGION_MTREE_H
#define MEMREGION_MTREE_H

#include <stdio.h>

#include "access.h"
#include "address_space.h"
#include "region.h"

MEMREGION_API_BEGIN

/* ---- printing ------------------------------------------------------------ */

/** Flags of mtree_print_tree() and mtree_print_flat(). */
enum {
    /** Print disabled regions too, marked ` [disabled]` (`info mtree -D`). */
    MTREE_PRINT_DISABLED = 1u << 0,
};

/**
 * Print the region trees of @nr address spaces @spaces, or of every address
 * space (creation order) when @spaces is NULL, in `info mtree` format.
 *
 * One block per distinct root region: its `address-space:` lines (sorted by
 * name), then the tree, siblings sorted by address, then priority (higher
 * first), then list order. Then one `memory-region:` block for every alias
 * target met while printing (in the order met, each target once). Each block
 * ends with an empty line. Without MTREE_PRINT_DISABLED, a disabled region's
 * own line is left out but its subregions are printed, as QEMU does.
 *
 * Returns 0, -ENOMEM, or -EIO when writing to @out failed. @spaces and the
 * regions are only read.
 */
int mtree_print_tree(FILE *out, AddressSpace *const *spaces, size_t nr, unsigned flags);

/**
 * Print the flat views of @nr address spaces @spaces (every address space
 * when @spaces is NULL) in `info mtree -f` format: one `FlatView #n` block per
 * distinct view, listing the address spaces that share it (in the order
 * given), its root region (flatview_root(), `(none)` when NULL) and its
 * ranges. @flags is reserved (pass 0). Returns 0, -ENOMEM or -EIO.
 */
int mtree_print_flat(FILE *out, AddressSpace *const *spaces, size_t nr, unsigned flags);

/**
 * The type word QEMU prints for @mr: "ram", "rom" (read-only RAM), "romd"
 * (ROM device in romd mode) or "i/o" (everything else); for an alias, the
 * type of the region its alias chain ends in. Static string.
 */
const char *mtree_region_type(const MemoryRegion *mr);

/**
 * Format flat range @fr the way mtree_print_flat() prints it, without the
 * indentation and newline: `START-END (prio P, TYPE): NAME[ @OFFSET]`.
 * Writes at most @size bytes including the terminating NUL; returns what
 * snprintf() returns. Reads @fr->mr's name, type and priority (writer-side,
 * or while no writer changes that region).
 */
int mtree_format_range(char *buf, size_t size, const FlatRange *fr);

/* ---- resolving one address ----------------------------------------------- */

/** Longest region path mtree_resolve() reports. */
#define MTREE_PATH_MAX 64

/**
 * Which regions lead to the byte at an address: the path from the address
 * space root down to the terminating region that serves it.
 */
typedef struct MtreePath {
    size_t depth;                          /**< entries used in @regions */
    MemoryRegion *regions[MTREE_PATH_MAX]; /**< root first, terminating region last */
    bool truncated;                        /**< the path was longer than MTREE_PATH_MAX */
} MtreePath;

/**
 * Find which region serves @addr in @as and through which containers and
 * aliases it is reached. The answer (terminating region and offset) is
 * taken from the address space's current flat view (flatview_lookup());
 * the path is found by walking the tree the way rendering does, and is only
 * reported when it ends at that same region and offset.
 *
 * Fills @range with the flat range holding @addr and @path with the route.
 * Returns 0; -ENOENT when @addr is unassigned (@range and @path untouched);
 * -ESRCH when the tree walk disagrees with the flat view (@range filled,
 * path->depth 0). Writer-side (reads the tree under the writer lock).
 */
int mtree_resolve(AddressSpace *as, hwaddr addr, FlatRange *range, MtreePath *path);

/* ---- importing a tree dump ----------------------------------------------- */

/** A tree dump rebuilt with the library: owns its regions and address spaces. */
typedef struct MtreeImport MtreeImport;

/** Where and why an import failed. */
typedef struct MtreeError {
    unsigned line;     /**< 1-based line of the input, 0 when not tied to a line */
    bool in_facts;     /**< the line is in the flat dump (facts_text), not the tree dump */
    char message[240]; /**< the reason, one line of text */
    /**
     * The failure as a negative errno: -EINVAL for input that is malformed,
     * inconsistent or over a limit (or a region the library refused),
     * -ENOMEM when memory ran out, the file's errno (-ENOENT, -EIO, ...)
     * for a file that could not be read. 0 after a success.
     */
    int code;
} MtreeError;

/** Flags of MtreeImportOptions. */
enum {
    /**
     * Decide the four missing facts by the generic rules only: leave out the
     * table of QEMU region names (docs/mtree.md, rule tables). Used to show
     * how many facts a flat dump has to supply without that knowledge.
     */
    MTREE_IMPORT_GENERIC_RULES = 1u << 0,
};

/** Options of mtree_import(). Zero-initialise, then set what you need. */
typedef struct MtreeImportOptions {
    unsigned flags; /**< MTREE_IMPORT_* */
    /**
     * Optional flat dump (`info mtree -f` text) of the same machine state:
     * where the tree's rules and the flat dump disagree about one of the four
     * missing facts, the flat dump decides (docs/mtree.md). Nothing else is
     * taken from it. Borrowed for the duration of the call.
     */
    const char *facts_text;
    size_t facts_len;
    /**
     * Upper bound on the bytes of RAM, ROM and ROM-device memory the import
     * may allocate (the library maps it lazily). 0 means 64 GiB.
     */
    uint64_t max_ram_bytes;
} MtreeImportOptions;

/**
 * Parse @len bytes of tree dump @text and rebuild it: regions, priorities,
 * aliases and their windows (targets from the `memory-region:` blocks),
 * disabled regions, and one address space per `address-space:` line, created
 * in the order: `memory`, `I/O`, then the rest as they appear. MMIO regions
 * get placeholder ops (reads return 0, writes are ignored); RAM is zeroed.
 * Unlike QEMU, IOMMU regions (`smmuv3-*`, `iommu-typhoon`, ...) are imported
 * as such MMIO regions: the flat views match QEMU's, but they do not translate.
 *
 * Input limits (exceeding one is an error, never an unbounded allocation):
 * 64 KiB per line, 64 levels of nesting, 1,000,000 region lines, 65,536 blocks,
 * 256 MiB of text. Import and printing take O(n log n) steps in the size of
 * the dump (mtree_stat_steps()), whatever the input.
 *
 * Refused with a message: dumps with owners (`info mtree -o`, unlike QEMU's
 * own parser-less use of them), a line whose END is below its START without
 * QEMU's `[DETECTED OVERFLOW!]` marker, a dump whose last line is cut, a flat
 * dump alone (FlatView blocks and no tree), and a flat dump (facts_text)
 * whose address spaces or roots are not those of the tree dump.
 *
 * Returns the import (free with mtree_import_free()), or NULL with @err
 * filled (line number and reason) when the input is malformed, inconsistent,
 * or the library refused a region. @opts and @err may be NULL.
 */
MtreeImport *mtree_import(const char *text, size_t len, const MtreeImportOptions *opts,
                          MtreeError *err);

/**
 * Read the tree dump at @path (and, if @facts_path is not NULL, the flat dump
 * there as opts->facts_text) and mtree_import() it. A path of "-" reads
 * standard input (for one of the two only). File errors (missing, a
 * directory, empty, unreadable) and errors about the whole input are
 * reported in @err with line 0 and the file's name in the message.
 */
MtreeImport *mtree_import_file(const char *path, const char *facts_path,
                               const MtreeImportOptions *opts, MtreeError *err);

/**
 * Destroy the import: its address spaces, then all its regions. Pointers
 * obtained from it become invalid. NULL is ignored. Returns 0, or the first
 * error of memory_region_destroy() (a region the caller mapped elsewhere or
 * made an alias target of stays alive then, and is leaked).
 */
int mtree_import_free(MtreeImport *imp);

/** Number of address spaces the import created. */
size_t mtree_import_nr_spaces(const MtreeImport *imp);

/**
 * The import's address spaces, in creation order (an array of
 * mtree_import_nr_spaces() entries, owned by the import), ready for
 * mtree_print_tree() and mtree_print_flat().
 */
AddressSpace *const *mtree_import_spaces(const MtreeImport *imp);

/** The first address space named @name, or NULL. */
AddressSpace *mtree_import_find_space(const MtreeImport *imp, const char *name);

/** Number of regions the import created. */
size_t mtree_import_nr_regions(const MtreeImport *imp);

/** Region @i (0 .. nr-1), in the order of first appearance in the dump. */
MemoryRegion *mtree_import_region(const MtreeImport *imp, size_t i);

/** The four facts a tree dump does not state (docs/mtree.md). */
typedef enum MtreeFact {
    MTREE_FACT_TERMINATES = 0, /**< an `i/o` region: container or terminating MMIO */
    MTREE_FACT_READONLY = 1,   /**< an alias: read-only or not */
    MTREE_FACT_SIZE = 2,       /**< a START=END line: 0 or 1 byte */
    MTREE_FACT_TIE = 3,        /**< overlapping equal-priority siblings: which wins */
    MTREE_FACT_NR = 4,
} MtreeFact;

/** How the import decided the missing facts. */
typedef struct MtreeFactCounts {
    unsigned decided[MTREE_FACT_NR];   /**< facts decided, per kind */
    unsigned from_flat[MTREE_FACT_NR]; /**< of those, taken from the flat dump */
} MtreeFactCounts;

/** Fill @out with the fact counts of @imp. */
void mtree_import_fact_counts(const MtreeImport *imp, MtreeFactCounts *out);

/** Short name of fact @f ("terminates", "readonly", "size", "tie"), or "?". */
const char *mtree_fact_name(MtreeFact f);

/** Number of facts taken from the flat dump, for reports. */
size_t mtree_import_nr_flat_facts(const MtreeImport *imp);
/**
 * A one-line description of fact @i (0 .. n-1) taken from the flat dump.
 * The string is owned by the import. Returns NULL when @i is out of range.
 */
const char *mtree_import_flat_fact(const MtreeImport *imp, size_t i);

/**
 * Elementary steps taken by mtree_import() and the printers since the
 * process started: subtree comparisons, candidate checks, heap operations,
 * alias-chain links followed, regions printed. For tests that check how the
 * work grows with the size of a dump (tests/scaling) without timing it.
 * Any thread; the counter is shared by all threads.
 */
uint64_t mtree_stat_steps(void);

MEMREGION_API_END

#endif /* MEMREGION_MTREE_H */
