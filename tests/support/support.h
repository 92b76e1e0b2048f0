/*
 * Test support shared by the unit and listener tests (one library, so the
 * helpers exist once).
 *
 * Tracked objects: a test allocates regions and address spaces with ts_*();
 * ts_teardown_objects() (called by each suite's cmocka teardown) closes the
 * transactions a failed test left open, destroys the address spaces, unmaps
 * and destroys the regions (aliases before their targets) and frees them,
 * so a failing test leaves no dangling pointer in the library for the next
 * one. The suites' own names (h_*, lt_*) map onto these in their headers.
 */
#ifndef TESTS_SUPPORT_H
#define TESTS_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <memregion/memregion.h>

/** A zeroed, tracked, uninitialised region. */
MemoryRegion *ts_mr(void);
/** Tracked regions of each kind; initialisation failures fail the test. */
MemoryRegion *ts_container(const char *name, mr_size_t size);
MemoryRegion *ts_ram(const char *name, mr_size_t size);
MemoryRegion *ts_rom(const char *name, mr_size_t size);
MemoryRegion *ts_io(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size);
MemoryRegion *ts_romd(const MemoryRegionOps *ops, void *opaque, const char *name, mr_size_t size);
MemoryRegion *ts_alias(const char *name, MemoryRegion *orig, hwaddr offset, mr_size_t size);
/** A tracked, initialised address space. */
AddressSpace *ts_as(MemoryRegion *root, const char *name);
/** Destroy and free a tracked address space now. */
void ts_as_destroy(AddressSpace *as);

/** Transaction wrappers that let the teardown close what a failed test left open. */
void ts_begin(void);
void ts_commit(void);
/** Commit every transaction opened with ts_begin() and not yet committed. */
void ts_close_transactions(void);

/**
 * Close open transactions, destroy every tracked address space and region.
 * Returns the number of regions that could not be destroyed (leaked, with a
 * message, rather than freed while the library may still use them).
 */
size_t ts_teardown_objects(void);

/** Add @sub to @parent at @off with @prio, asserting success. */
#define ts_add(parent, off, sub, prio)                                                             \
    assert_int_equal(memory_region_add_subregion_overlap((parent), (off), (sub), (prio)), 0)

/** The host memory of RAM-backed region @mr, as bytes. */
static inline uint8_t *ts_ram_ptr(MemoryRegion *mr)
{
    return memory_region_get_ram_ptr(mr);
}

/** Assert that a memregion call failed with @err and left a message. */
#define assert_error(call, err)                                                                    \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        assert_int_equal(rc_, -(err));                                                             \
        assert_non_null(memregion_last_error());                                                   \
        assert_true(memregion_last_error()[0] != '\0');                                            \
    } while (0)

#endif /* TESTS_SUPPORT_H */
