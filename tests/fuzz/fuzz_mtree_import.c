/*
 * Fuzz target: the tree-dump importer. Arbitrary bytes go to mtree_import();
 * whatever it builds is printed (tree with and without disabled regions,
 * flat views), looked up at the edges of its flat ranges (mtree_resolve())
 * and torn down. The import must either fail with a message or succeed, and
 * must never crash, hang or leak; printing and lookups must succeed on what
 * it built.
 *
 * With the name fuzz_mtree_facts (FUZZ_FACTS defined) the input is a tree
 * dump, a NUL byte, and a flat dump given as facts_text (--facts-from): the
 * flat-dump parser and the fact-learning stage get the bytes.
 */
#include <errno.h>
#include <string.h>

#include <memregion/memregion.h>
#include <memregion/mtree.h>

#include "fuzz.h"

static FILE *sink(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    if (!f)
        fuzz_fail("cannot open /dev/null");
    return f;
}

static void exercise(MtreeImport *imp)
{
    FILE *out = sink();
    size_t nas = mtree_import_nr_spaces(imp);
    AddressSpace *const *spaces = mtree_import_spaces(imp);
    fuzz_check(mtree_print_tree(out, NULL, 0, 0) == 0, "mtree_print_tree failed");
    fuzz_check(mtree_print_tree(out, spaces, nas, MTREE_PRINT_DISABLED) == 0,
               "mtree_print_tree -D failed");
    fuzz_check(mtree_print_flat(out, spaces, nas, 0) == 0, "mtree_print_flat failed");
    unsigned budget = 256; /* lookups per input: keeps one run short */
    for (size_t s = 0; s < nas && budget; s++) {
        FlatView *fv = address_space_get_flatview(spaces[s]);
        size_t nr = flatview_nr_ranges(fv);
        for (size_t i = 0; i < nr && budget; i++, budget--) {
            const FlatRange *fr = flatview_range(fv, i);
            char line[512];
            mtree_format_range(line, sizeof(line), fr);
            hwaddr probe[2] = {fr->addr, (hwaddr)(fr->addr + fr->size - 1)};
            for (int k = 0; k < 2; k++) {
                FlatRange range;
                MtreePath path;
                int rc = mtree_resolve(spaces[s], probe[k], &range, &path);
                fuzz_check(rc == 0, "mtree_resolve(%s, 0x%llx) = %d inside a flat range",
                           address_space_name(spaces[s]), (unsigned long long)probe[k], rc);
                fuzz_check(path.depth > 0 && path.regions[path.depth - 1] == fr->mr,
                           "mtree_resolve ends elsewhere than the flat range");
            }
        }
        flatview_unref(fv);
    }
    for (size_t i = 0; i < mtree_import_nr_regions(imp); i++)
        fuzz_check(mtree_import_region(imp, i) != NULL, "region %zu missing", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t len = size;
    MtreeImportOptions opts = {0};
#ifdef FUZZ_FACTS
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul)
        return 0;
    len = (size_t)(nul - data);
    opts.facts_text = (const char *)nul + 1;
    opts.facts_len = size - len - 1;
#endif
    opts.max_ram_bytes = 1ull << 40; /* RAM is mapped lazily: only address space is used */
    MtreeError err;
    MtreeImport *imp = mtree_import(text, len, &opts, &err);
    if (!imp) {
        fuzz_check(err.message[0] != 0, "import failed without a message");
        return 0;
    }
    exercise(imp);
    fuzz_check(mtree_import_free(imp) == 0, "mtree_import_free failed");
    return 0;
}
