/*
 * Shared helpers for the unit tests.
 *
 * - Tracked allocation of regions and address spaces: a test allocates with
 *   h_mr()/h_container()/h_ram()/... and h_as(); h_teardown() (installed as
 *   the cmocka teardown of every test) destroys and frees whatever the test
 *   left behind, so a failing test does not leave dangling pointers in the
 *   library for the next test.
 * - View checks: assert_view() compares an address space's current flat view
 *   with a table of expected ranges written by hand from the rules.
 * - TestDev: a memory-like MMIO device that logs every callback.
 */
#ifndef UNIT_HELPERS_H
#define UNIT_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "memregion/memregion.h"
#include "support.h"

/* ---- tracked objects (tests/support: one implementation for every suite) ---- */

#define h_mr         ts_mr
#define h_container  ts_container
#define h_ram        ts_ram
#define h_rom        ts_rom
#define h_io         ts_io
#define h_romd       ts_romd
#define h_alias      ts_alias
#define h_as         ts_as
#define h_as_destroy ts_as_destroy
#define h_begin      ts_begin
#define h_commit     ts_commit

/** cmocka teardown: closes transactions, destroys address spaces and regions. */
int h_teardown(void **state);

/** A unit test with the standard teardown. */
#define H_TEST(f) cmocka_unit_test_teardown(f, h_teardown)

/* Add @sub to @parent at @off with @prio, asserting success. */
#define h_add ts_add

/* ---- 128-bit sizes ---------------------------------------------------------- */

/** Format @v in hex into @buf (at least 40 bytes); returns @buf. */
const char *h_u128(mr_size_t v, char *buf);
void h_assert_size(mr_size_t got, mr_size_t want, const char *file, int line);
#define assert_size_equal(got, want) h_assert_size((got), (want), __FILE__, __LINE__)

/* ---- flat view checks ------------------------------------------------------- */

/** One expected flat range. */
typedef struct ExpRange {
    hwaddr addr;
    mr_size_t size;
    const MemoryRegion *mr;
    hwaddr offset;
    bool readonly;
} ExpRange;

void h_check_view(AddressSpace *as, const ExpRange *exp, size_t n, const char *file, int line);

/** Assert that @as's current view is exactly the listed ranges, in order. */
#define assert_view(as, ...)                                                                       \
    do {                                                                                           \
        const ExpRange exp_[] = {__VA_ARGS__};                                                     \
        h_check_view((as), exp_, sizeof(exp_) / sizeof(exp_[0]), __FILE__, __LINE__);              \
    } while (0)
/** Assert that @as's current view holds no range. */
#define assert_view_empty(as) h_check_view((as), NULL, 0, __FILE__, __LINE__)

/** A copy of a view's ranges, to check that a failing call changed nothing. */
typedef struct ViewSnap {
    size_t n;
    FlatRange r[64];
} ViewSnap;

void h_snap(AddressSpace *as, ViewSnap *snap);
void h_check_snap(AddressSpace *as, const ViewSnap *snap, const char *file, int line);
#define assert_view_unchanged(as, snap) h_check_snap((as), (snap), __FILE__, __LINE__)

/** Print a view (for diagnostics). */
void h_print_view(AddressSpace *as);

/* ---- TestDev: a logging, memory-like device --------------------------------- */

#define TD_LOG_MAX 32
#define TD_MEM     0x100

typedef struct TdAccess {
    bool is_write;
    hwaddr addr;
    unsigned size;
    uint64_t data;
    MemTxAttrs attrs;
} TdAccess;

typedef struct TestDev TestDev;
struct TestDev {
    /*
     * Register file: a device access of n bytes at addr is the value made of
     * mem[addr .. addr+n) in the device's own byte order (@endian). A read
     * returns it, a write stores it. Through a bus that honours the
     * device's endianness the device therefore looks like plain memory.
     */
    uint8_t mem[TD_MEM];
    MemDeviceEndian endian;
    /* Accesses at addr >= result_from return @result (with_attrs callbacks only). */
    MemTxResult result;
    hwaddr result_from;
    TdAccess log[TD_LOG_MAX];
    unsigned nlog;
    bool overflow; /* an access fell outside mem[] or the log overflowed */
    /* Optional hook run inside every callback, after logging and before the access. */
    void (*hook)(TestDev *dev, bool is_write, hwaddr addr, unsigned size, uint64_t data);
    void *hook_opaque;
};

/** Reset @dev: zero memory and log, little-endian, no hook, result MEMTX_OK. */
void td_init(TestDev *dev, MemDeviceEndian endian);
/** Fill mem[i] = base + i. */
void td_fill(TestDev *dev, uint8_t base);

/* Callbacks for MemoryRegionOps; opaque is a TestDev. */
uint64_t td_read(void *opaque, hwaddr addr, unsigned size);
void td_write(void *opaque, hwaddr addr, uint64_t data, unsigned size);
MemTxResult td_read_attrs(void *opaque, hwaddr addr, uint64_t *data, unsigned size,
                          MemTxAttrs attrs);
MemTxResult td_write_attrs(void *opaque, hwaddr addr, uint64_t data, unsigned size,
                           MemTxAttrs attrs);

void h_check_access(const TestDev *dev, unsigned i, bool is_write, hwaddr addr, unsigned size,
                    uint64_t data, const char *file, int line);
/** Assert that callback @i of @dev was a read/write of @size bytes at @addr with @data. */
#define assert_access(dev, i, is_write, addr, size, data)                                          \
    h_check_access((dev), (i), (is_write), (addr), (size), (data), __FILE__, __LINE__)
/** Assert the number of callbacks @dev received. */
#define assert_nlog(dev, n)                                                                        \
    do {                                                                                           \
        if ((dev)->nlog != (unsigned)(n))                                                          \
            h_print_log(dev);                                                                      \
        assert_int_equal((dev)->nlog, (n));                                                        \
        assert_false((dev)->overflow);                                                             \
    } while (0)
void h_print_log(const TestDev *dev);

/* Read-write, little-endian, attrs-aware ops over a TestDev, all sizes 1..8 (valid and impl
 * max 8 spelled out: a zero would mean 4 to the device, as in QEMU). */
extern const MemoryRegionOps td_ops_le;
/* The same, big-endian. */
extern const MemoryRegionOps td_ops_be;
/* Plain read/write callbacks (no attrs), little-endian. */
extern const MemoryRegionOps td_ops_plain;

#define ATTRS_NONE MEMTXATTRS_UNSPECIFIED

#endif /* UNIT_HELPERS_H */
