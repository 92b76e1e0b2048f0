/*
 * memregion: basic types shared by every header.
 *
 * Addresses are 64-bit. Sizes are 128-bit so that the whole 64-bit space,
 * 2^64 bytes, is an ordinary size (MR_SIZE_2_64) and no end address ever
 * overflows silently. A size larger than 2^64 is rejected with an error.
 */
#ifndef MEMREGION_TYPES_H
#define MEMREGION_TYPES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Symbol visibility and C++ linkage of the public API.
 *
 * The libraries are built with -fvisibility=hidden: a function is exported
 * only when it is declared between MEMREGION_API_BEGIN and MEMREGION_API_END,
 * which every public header puts around its declarations (a header added
 * later does the same; nothing is marked per declaration). Internal functions
 * declared elsewhere stay hidden, so they cannot collide with an embedding
 * program's names. tests/abi checks that both shared libraries export exactly
 * the functions the public headers declare.
 */
#if defined(__GNUC__) || defined(__clang__)
#define MEMREGION_VISIBILITY_PUSH_ _Pragma("GCC visibility push(default)")
#define MEMREGION_VISIBILITY_POP_  _Pragma("GCC visibility pop")
#else
#define MEMREGION_VISIBILITY_PUSH_
#define MEMREGION_VISIBILITY_POP_
#endif
#ifdef __cplusplus
#define MEMREGION_API_BEGIN                                                                        \
    extern "C" {                                                                                   \
    MEMREGION_VISIBILITY_PUSH_
#define MEMREGION_API_END                                                                          \
    MEMREGION_VISIBILITY_POP_                                                                      \
    }
#else
#define MEMREGION_API_BEGIN MEMREGION_VISIBILITY_PUSH_
#define MEMREGION_API_END   MEMREGION_VISIBILITY_POP_
#endif

MEMREGION_API_BEGIN

/** A guest physical (bus) address. */
typedef uint64_t hwaddr;

/**
 * A region size in bytes: any value from 0 to 2^64 inclusive.
 *
 * This is the one documented way to say 2^64: MR_SIZE_2_64. Plain integer
 * literals convert implicitly, so `memory_region_init_ram(mr, "ram", 0x1000)`
 * works as written. UINT64_MAX means 2^64 - 1 bytes, never 2^64.
 */
__extension__ typedef unsigned __int128 mr_size_t;

/** The size of the whole 64-bit address space. */
#define MR_SIZE_2_64 ((mr_size_t)1 << 64)

/**
 * Result of a memory transaction. MEMTX_OK, or a bitwise OR of the error
 * bits: an access that the core splits into several device accesses ORs
 * their results together.
 */
typedef uint32_t MemTxResult;
#define MEMTX_OK           0u
#define MEMTX_ERROR        (1u << 0) /**< the device reported an error */
#define MEMTX_DECODE_ERROR (1u << 1) /**< nothing is there, or the access shape is invalid */
#define MEMTX_ACCESS_ERROR (1u << 2) /**< something is there but refuses this access */

/**
 * Attributes of a memory transaction. They travel unchanged from
 * address_space_read()/write() to the `_with_attrs` callbacks of the device
 * that is reached. Devices see them only when they use those callbacks.
 */
typedef struct MemTxAttrs {
    unsigned int unspecified : 1;   /**< the caller had nothing to say */
    unsigned int secure : 1;        /**< secure world (TrustZone, SMM) */
    unsigned int user : 1;          /**< unprivileged access */
    unsigned int debug : 1;         /**< debugger access: may write ROM, no side-effect guard */
    unsigned int requester_id : 16; /**< PCI requester id or CPU index */
    /**
     * Byte enables of a partial write, bit i for byte i of the device access
     * in address order. Set by the core only for regions that opt out of
     * read-modify-write (MemoryRegionOps.impl.no_read_modify_write); zero
     * otherwise. See the access rules in region.h.
     */
    unsigned int byte_enable : 8;
} MemTxAttrs;

/** Attributes for an access whose origin says nothing special. */
#define MEMTXATTRS_UNSPECIFIED ((MemTxAttrs){.unspecified = 1})

/*
 * Error codes returned (negated) by every API function that can fail are
 * ordinary errno values (<errno.h>); memregion_last_error() holds the message.
 */

/**
 * The message of the last error reported to this thread by a memregion
 * call, or "" when none. The string belongs to the library and stays valid
 * until the next failing call on the same thread.
 *
 * Thread rules: any thread; the message is thread-local.
 */
const char *memregion_last_error(void);

MEMREGION_API_END

#endif /* MEMREGION_TYPES_H */
