/*
 * The library version. meson.build's project version is the one source:
 * the build passes its parts in, and a mismatch with version.h stops the
 * build here.
 */
#include "base.h"

#define MR_STR_(x) #x
#define MR_STR(x)  MR_STR_(x)

_Static_assert(MEMREGION_VERSION_MAJOR == MR_BUILD_VERSION_MAJOR &&
                   MEMREGION_VERSION_MINOR == MR_BUILD_VERSION_MINOR &&
                   MEMREGION_VERSION_PATCH == MR_BUILD_VERSION_PATCH,
               "include/memregion/version.h disagrees with the version in meson.build");

unsigned memregion_version(void)
{
    return MEMREGION_VERSION_NUMBER;
}

const char *memregion_version_string(void)
{
    return MR_STR(MEMREGION_VERSION_MAJOR) "." MR_STR(MEMREGION_VERSION_MINOR) "." MR_STR(
        MEMREGION_VERSION_PATCH);
}
