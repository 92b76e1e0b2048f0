/*
 * memregion: the library version.
 *
 * The macros give the version a program was compiled against;
 * memregion_version() gives the version of the library it runs with. The
 * shared library's soname carries the ABI version: the major version, or
 * 0.MINOR while the major version is 0 (libmemregion.so.0.1), since until
 * 1.0 a minor release may break the ABI (a public struct's layout
 * included). A change that breaks it raises that number.
 */
#ifndef MEMREGION_VERSION_H
#define MEMREGION_VERSION_H

#include "types.h"

#define MEMREGION_VERSION_MAJOR 0
#define MEMREGION_VERSION_MINOR 1
#define MEMREGION_VERSION_PATCH 0

/** The version as one number: major * 10000 + minor * 100 + patch. */
#define MEMREGION_VERSION_NUMBER                                                                   \
    (MEMREGION_VERSION_MAJOR * 10000 + MEMREGION_VERSION_MINOR * 100 + MEMREGION_VERSION_PATCH)

MEMREGION_API_BEGIN

/**
 * The version of the running library as MEMREGION_VERSION_NUMBER computes
 * it; compare with the macro to detect a program built against other
 * headers. Any thread.
 */
unsigned memregion_version(void);

/** The version of the running library as "MAJOR.MINOR.PATCH" (static storage). Any thread. */
const char *memregion_version_string(void);

MEMREGION_API_END

#endif /* MEMREGION_VERSION_H */
