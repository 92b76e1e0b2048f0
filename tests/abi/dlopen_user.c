/*
 * The library loaded at run time, as a plugin host or a language binding
 * loads it: dlopen() the shared library given as argv[1], then use it
 * through dlsym() from two threads, one of which exits first (its software
 * TLB is freed then). This fails if the library's thread-local storage does
 * not fit what glibc leaves for libraries loaded after start-up ("cannot
 * allocate memory in static TLS block"), as 112 KiB of per-thread TLB once
 * did. glibc keeps 512 bytes of static TLS for every library loaded that
 * way, so the test also holds the library's own static TLS (its PT_TLS
 * segment) to STATIC_TLS_MAX, leaving the rest to the libraries beside it.
 * An error's message, which lives in dynamic TLS, is read back too. The
 * library is linked -z nodelete, so dlclose() leaves it mapped for the
 * thread-exit destructors it registered.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memregion/memregion.h"

static struct {
    int (*init)(MemoryRegion *, const char *, mr_size_t);
    int (*init_ram)(MemoryRegion *, const char *, mr_size_t);
    int (*add)(MemoryRegion *, hwaddr, MemoryRegion *);
    void *(*ram_ptr)(MemoryRegion *);
    int (*as_init)(AddressSpace *, MemoryRegion *, const char *);
    uint32_t (*ldl)(AddressSpace *, hwaddr, MemTxAttrs, MemTxResult *);
    uint64_t (*fills)(void);
    const char *(*last_error)(void);
} f;

static AddressSpace as;

/* The most static TLS the library may take (today: its access path's
 * thread-locals and liburcu's pointer, about 50 bytes). */
#define STATIC_TLS_MAX 64

typedef struct {
    ElfW(Addr) base; /* load address of the library */
    ElfW(Word) tls;  /* its PT_TLS size, once found */
    int found;
} TlsQuery;

static int find_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    TlsQuery *q = arg;
    if (info->dlpi_addr != q->base)
        return 0;
    q->found = 1;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            q->tls = info->dlpi_phdr[i].p_memsz;
    return 1;
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "dlopen-user: %s: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

/* Read the RAM twice: the second read is a TLB hit (no new fill). */
static int read_twice(void)
{
    MemTxResult r = MEMTX_ERROR;
    uint64_t f0 = f.fills();
    if (f.ldl(&as, 0x1000, MEMTXATTRS_UNSPECIFIED, &r) != 0x11223344 || r != MEMTX_OK ||
        f.ldl(&as, 0x1004, MEMTXATTRS_UNSPECIFIED, &r) != 0x55667788 || r != MEMTX_OK ||
        f.fills() - f0 != 1) {
        fprintf(stderr, "dlopen-user: wrong reads (%llu fills)\n",
                (unsigned long long)(f.fills() - f0));
        return 1;
    }
    return 0;
}

static void *thread_main(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)read_twice();
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dlopen-user LIBMEMREGION.so\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen-user: %s\n", dlerror());
        return 1;
    }
    *(void **)&f.init = sym(h, "memory_region_init");
    *(void **)&f.init_ram = sym(h, "memory_region_init_ram");
    *(void **)&f.add = sym(h, "memory_region_add_subregion");
    *(void **)&f.ram_ptr = sym(h, "memory_region_get_ram_ptr");
    *(void **)&f.as_init = sym(h, "address_space_init");
    *(void **)&f.ldl = sym(h, "address_space_ldl_le");
    *(void **)&f.fills = sym(h, "memregion_stat_tlb_fills");
    *(void **)&f.last_error = sym(h, "memregion_last_error");
    struct link_map *lm;
    TlsQuery q = {0, 0, 0};
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm)) {
        fprintf(stderr, "dlopen-user: dlinfo: %s\n", dlerror());
        return 1;
    }
    q.base = lm->l_addr;
    dl_iterate_phdr(find_tls, &q);
    if (!q.found || q.tls > STATIC_TLS_MAX) {
        fprintf(stderr, "dlopen-user: static TLS of %llu bytes (at most %d: %s)\n",
                (unsigned long long)q.tls, STATIC_TLS_MAX,
                q.found ? "too much for its share of glibc's reserve" : "library not found");
        return 1;
    }
    static MemoryRegion root, ram;
    if (f.init(&root, "root", 0x10000) || f.init_ram(&ram, "ram", 0x1000) ||
        f.add(&root, 0x1000, &ram) || f.as_init(&as, &root, "as")) {
        fprintf(stderr, "dlopen-user: building the map failed\n");
        return 1;
    }
    /* An error's message: a region cannot contain itself. */
    if (f.add(&root, 0, &root) == 0 || !strstr(f.last_error(), "root")) {
        fprintf(stderr, "dlopen-user: no message for a refused call (\"%s\")\n", f.last_error());
        return 1;
    }
    const uint8_t bytes[8] = {0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55};
    memcpy(f.ram_ptr(&ram), bytes, sizeof(bytes));
    pthread_t t;
    void *thread_failed = NULL;
    if (pthread_create(&t, NULL, thread_main, NULL) || pthread_join(t, &thread_failed) ||
        thread_failed || read_twice())
        return 1;
    dlclose(h);
    printf("dlopen-user: loaded with dlopen() (%llu bytes of static TLS), read through the TLB "
           "from two threads\n",
           (unsigned long long)q.tls);
    return 0;
}
