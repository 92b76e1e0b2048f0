/*
 * A user's program: it includes every public header and uses the installed
 * way of linking (the shared libraries). tests/abi/compile-user builds it
 * with -std=c11 -pedantic -Werror -Wall -Wextra (and as C++ when a C++
 * compiler is present), so a header that needs a GNU extension without
 * marking it, or lacks C++ linkage, fails here.
 */
#include <memregion/memregion.h>
#ifdef WITH_KVM
#include <memregion/kvm.h>
#endif

#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
/* C++: the headers' declarations have C linkage (this links only if so). */
int main()
{
    return memregion_version() == MEMREGION_VERSION_NUMBER && memregion_last_error()[0] == 0 ? 0
                                                                                             : 1;
}
#else
int main(void)
{
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", MEMREGION_VERSION_MAJOR, MEMREGION_VERSION_MINOR,
             MEMREGION_VERSION_PATCH);
    if (memregion_version() != MEMREGION_VERSION_NUMBER ||
        strcmp(memregion_version_string(), expect) != 0) {
        fprintf(stderr, "library version %s (%u), headers %s (%d)\n", memregion_version_string(),
                memregion_version(), expect, MEMREGION_VERSION_NUMBER);
        return 1;
    }

    MemoryRegion root, ram;
    AddressSpace as;
    if (memory_region_init(&root, "root", MR_SIZE_2_64) ||
        memory_region_init_ram(&ram, "ram", 0x1000) ||
        memory_region_add_subregion(&root, 0x1000, &ram) || address_space_init(&as, &root, "as")) {
        fprintf(stderr, "setup: %s\n", memregion_last_error());
        return 1;
    }
    uint32_t v = 0x12345678, r = 0;
    MemTxResult w = address_space_write(&as, 0x1ffc, MEMTXATTRS_UNSPECIFIED, &v, sizeof(v));
    MemTxResult rd = address_space_read(&as, 0x1ffc, MEMTXATTRS_UNSPECIFIED, &r, sizeof(r));
    if (w != MEMTX_OK || rd != MEMTX_OK || r != v) {
        fprintf(stderr, "access: %u %u %#x\n", w, rd, r);
        return 1;
    }
    address_space_destroy(&as);
    memory_region_del_subregion(&root, &ram);
    memory_region_destroy(&ram);
    memory_region_destroy(&root);
    printf("user program: memregion %s\n", memregion_version_string());
    return 0;
}
#endif
