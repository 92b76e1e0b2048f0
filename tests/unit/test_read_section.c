/*
 * Read sections held by the caller (memregion_read_section_begin/end,
 * access.h): accesses inside one see every commit as accesses outside do,
 * RAM hits skip the section of their own, and the library ends the
 * section wherever the thread could otherwise wait for a writer that waits
 * for it: destroy, the writer lock, device callbacks (found in the TLB or
 * not), map clients (run at once or on unmap).
 *
 * The deadlock cases are built so that a missing suspension hangs for
 * certain (not by chance of timing); a watchdog then fails the test with a
 * message instead of letting it hang until the suite's timeout.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu-bp.h>

#include "helpers.h"

#define RAM_AT 0x1000
#define DEV_AT 0x4000
#define Z_AT   0x8000

/* A watchdog thread, not alarm(): liburcu-bp blocks signals in a thread
 * that waits for a grace period, which is where a hang would be. */
static unsigned guard_gen; /* atomic accesses */

static void *watchdog(void *arg)
{
    unsigned gen = (unsigned)(uintptr_t)arg;
    const char *e = getenv("MEMREGION_HANG_SECONDS");
    unsigned tenths = 10 * (e ? (unsigned)atoi(e) : 20);
    for (unsigned i = 0; i < tenths; i++) {
        usleep(100000);
        if (__atomic_load_n(&guard_gen, __ATOMIC_ACQUIRE) != gen)
            return NULL;
    }
    static const char msg[] = "test_read_section: no progress: a thread inside its read "
                              "section waits for a writer that waits for it\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
}

/* Fail after MEMREGION_HANG_SECONDS (default 20) unless hang_clear() comes first. */
static void hang_guard(void)
{
    pthread_t t;
    unsigned gen = __atomic_add_fetch(&guard_gen, 1, __ATOMIC_ACQ_REL);
    assert_int_equal(pthread_create(&t, NULL, watchdog, (void *)(uintptr_t)gen), 0);
    pthread_detach(t);
}

static void hang_clear(void)
{
    __atomic_add_fetch(&guard_gen, 1, __ATOMIC_ACQ_REL);
}

static MemoryRegion *root, *ram, *io, *z;
static AddressSpace *as;
static TestDev dev;

static void build(void)
{
    td_init(&dev, DEVICE_LITTLE_ENDIAN);
    td_fill(&dev, 0x40);
    root = h_container("root", 0x10000);
    ram = h_ram("ram", 0x1000);
    io = h_io(&td_ops_le, &dev, "dev", 0x1000); /* a whole page: the TLB holds it */
    z = h_ram("z", 0x1000);
    memset(memory_region_get_ram_ptr(ram), 0x11, 0x1000);
    h_add(root, RAM_AT, ram, 0);
    h_add(root, DEV_AT, io, 0);
    as = h_as(root, "as");
}

/* Map z and commit, then unmap it and commit: z is unmapped but was
 * visible, so destroying it waits for a grace period. */
static void make_z_retired(void)
{
    h_add(root, Z_AT, z, 0);
    assert_int_equal(memory_region_del_subregion(root, z), 0);
}

static void test_nesting_and_misuse(void **state)
{
    (void)state;
    assert_int_equal(memregion_read_section_depth(), 0);
    assert_int_equal(memregion_read_section_end(), -EPERM);
    assert_non_null(strstr(memregion_last_error(), "holds no read section"));
    memregion_read_section_begin();
    memregion_read_section_begin();
    assert_int_equal(memregion_read_section_depth(), 2);
    assert_int_equal(memregion_read_section_end(), 0);
    assert_int_equal(memregion_read_section_depth(), 1);
    assert_int_equal(memregion_read_section_end(), 0);
    assert_int_equal(memregion_read_section_end(), -EPERM);
}

/* Inside a section, a RAM read that hit the TLB before still sees the
 * next commit, and a write to a dirty-logged page still marks it dirty
 * (an entry must not copy straight into a logged page). */
static void test_accesses_see_every_commit(void **state)
{
    (void)state;
    build();
    MemoryRegion *other = h_ram("other", 0x1000);
    memset(memory_region_get_ram_ptr(other), 0x22, 0x1000);
    hang_guard();

    memregion_read_section_begin();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 8, ATTRS_NONE, NULL), 0x11111111);
    uint64_t fills = memregion_stat_tlb_fills();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 16, ATTRS_NONE, NULL), 0x11111111);
    assert_int_equal(memregion_stat_tlb_fills(), fills); /* a hit, inside the section */

    /* The same thread changes the map inside its section. */
    h_begin();
    assert_int_equal(memory_region_del_subregion(root, ram), 0);
    h_add(root, RAM_AT, other, 0);
    h_commit();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 16, ATTRS_NONE, NULL), 0x22222222);
    MemoryRegionSection sec;
    assert_int_equal(address_space_translate(as, RAM_AT + 16, false, ATTRS_NONE, &sec), MEMTX_OK);
    assert_ptr_equal(sec.mr, other);
    assert_ptr_equal(sec.host, (uint8_t *)memory_region_get_ram_ptr(other) + 16);

    /* Dirty logging: a write through a hit entry still marks the page. */
    MemTxResult r;
    address_space_stl_le(as, RAM_AT + 32, 7, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_OK);
    assert_int_equal(memory_region_set_log(other, true, DIRTY_MEMORY_VGA), 0);
    assert_false(memory_region_get_dirty(other, 0, 0x1000, DIRTY_MEMORY_VGA));
    address_space_stl_le(as, RAM_AT + 32, 8, ATTRS_NONE, NULL);
    assert_true(memory_region_get_dirty(other, 32, 4, DIRTY_MEMORY_VGA));
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 32, ATTRS_NONE, NULL), 8);

    /* Destroy waits for a grace period: it may not wait for this thread's
     * own section. */
    assert_int_equal(memory_region_destroy(ram), 0);
    assert_int_equal(memregion_read_section_depth(), 1);
    assert_int_equal(memregion_read_section_end(), 0);
    hang_clear();
}

/* User code the library runs from inside a section (a device callback, a
 * DMA map client) runs outside it: here that code waits for another
 * thread's destroy, which waits for a grace period. */
static sem_t in_user_code, destroyed;

static void wait_for_destroy(void)
{
    sem_post(&in_user_code);
    sem_wait(&destroyed);
}

static void hook_waits_for_destroy(TestDev *d, bool is_write, hwaddr addr, unsigned size,
                                   uint64_t data)
{
    (void)d, (void)is_write, (void)addr, (void)size, (void)data;
    wait_for_destroy();
}

static void client_waits_for_destroy(void *opaque)
{
    (void)opaque;
    wait_for_destroy();
}

/* A thread's int result, through pthread_join(). */
static void *result_of(int rc)
{
    return (void *)(intptr_t)rc;
}

static int join_result(pthread_t t)
{
    void *rc;
    assert_int_equal(pthread_join(t, &rc), 0);
    return (int)(intptr_t)rc;
}

static void *destroy_z(void *arg)
{
    (void)arg;
    sem_wait(&in_user_code);
    int rc = memory_region_destroy(z);
    sem_post(&destroyed);
    return result_of(rc);
}

/* Call @run inside a section while destroy_z waits for the user code it
 * starts; the destroy must complete. */
static void user_code_waits_for_destroy(void (*run)(void))
{
    build();
    make_z_retired();
    sem_init(&in_user_code, 0, 0);
    sem_init(&destroyed, 0, 0);
    hang_guard();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, destroy_z, NULL), 0);
    memregion_read_section_begin();
    run();
    assert_int_equal(memregion_read_section_end(), 0);
    assert_int_equal(join_result(t), 0);
    hang_clear();
    sem_destroy(&in_user_code);
    sem_destroy(&destroyed);
}

/* A device read whose page is not in the TLB yet (the miss path). */
static void read_device_cold(void)
{
    dev.hook = hook_waits_for_destroy;
    MemTxResult r;
    assert_int_equal(address_space_ldl_le(as, DEV_AT + 4, ATTRS_NONE, &r), 0x47464544);
    assert_int_equal(r, MEMTX_OK);
    dev.hook = NULL;
}

/* A device call leaves the section ended until an access reopens it (a
 * RAM or translate hit that ends a section of its own): these RAM hits do. */
static void reopen_with_ram_hits(void)
{
    for (int i = 0; i < 2; i++) /* the first may fill the TLB */
        assert_int_equal(address_space_ldl_le(as, RAM_AT, ATTRS_NONE, NULL), 0x11111111);
}

/* A device read that hits the TLB (nested_call's straight path: the
 * section is open, so the access takes the nested path). */
static void read_device_warm(void)
{
    uint64_t fills = memregion_stat_tlb_fills();
    assert_int_equal(address_space_ldl_le(as, DEV_AT, ATTRS_NONE, NULL), 0x43424140);
    assert_int_equal(memregion_stat_tlb_fills(), fills + 1);
    reopen_with_ram_hits();
    fills = memregion_stat_tlb_fills();
    dev.hook = hook_waits_for_destroy;
    assert_int_equal(address_space_ldl_le(as, DEV_AT + 4, ATTRS_NONE, NULL), 0x47464544);
    dev.hook = NULL;
    assert_int_equal(memregion_stat_tlb_fills(), fills);
}

/* A map client run at once: no bounce buffer is live. */
static void register_client_now(void)
{
    AddressSpaceMapClient c = {.cb = client_waits_for_destroy};
    assert_int_equal(address_space_register_map_client(as, &c), 0);
}

/* A map client run when the bounce buffer it waited for is freed. */
static void register_client_then_unmap(void)
{
    hwaddr len = 8;
    void *p = address_space_map(as, DEV_AT, &len, false, ATTRS_NONE);
    assert_non_null(p);
    assert_int_equal(address_space_bounce_buffer_size(as), 8);
    AddressSpaceMapClient c = {.cb = client_waits_for_destroy};
    assert_int_equal(address_space_register_map_client(as, &c), 0);
    reopen_with_ram_hits(); /* the bounce buffer's device read ended the section */
    address_space_unmap(as, p, len, false, len);
}

/* A callback entered while the section is ended (after an earlier device
 * call) makes RAM hits of its own and then waits: those hits must not
 * reopen the section inside the callback. */
static void hook_hits_ram_then_waits(TestDev *d, bool is_write, hwaddr addr, unsigned size,
                                     uint64_t data)
{
    (void)d, (void)is_write, (void)addr, (void)size, (void)data;
    reopen_with_ram_hits();
    wait_for_destroy();
}

static void read_device_twice(void)
{
    assert_int_equal(address_space_ldl_le(as, DEV_AT, ATTRS_NONE, NULL), 0x43424140);
    dev.hook = hook_hits_ram_then_waits;
    assert_int_equal(address_space_ldl_le(as, DEV_AT + 4, ATTRS_NONE, NULL), 0x47464544);
    dev.hook = NULL;
}

static void test_callback_runs_outside_section(void **state)
{
    (void)state;
    user_code_waits_for_destroy(read_device_cold);
}

static void test_callback_on_tlb_hit_runs_outside_section(void **state)
{
    (void)state;
    user_code_waits_for_destroy(read_device_warm);
}

static void test_callback_hits_reopen_no_section(void **state)
{
    (void)state;
    user_code_waits_for_destroy(read_device_twice);
}

static void test_map_client_run_now_outside_section(void **state)
{
    (void)state;
    user_code_waits_for_destroy(register_client_now);
}

static void test_map_client_run_on_unmap_outside_section(void **state)
{
    (void)state;
    user_code_waits_for_destroy(register_client_then_unmap);
}

/* A thread inside its section that waits for the writer lock: the writer
 * holds it and waits for a grace period (destroy inside a transaction). */
static sem_t writer_locked;

static void *destroy_z_in_transaction(void *arg)
{
    (void)arg;
    memory_region_transaction_begin();
    sem_post(&writer_locked);
    int rc = memory_region_destroy(z); /* waits for readers, holding the writer lock */
    memory_region_transaction_commit();
    return result_of(rc);
}

static void test_writer_lock_wait_ends_section(void **state)
{
    (void)state;
    build();
    make_z_retired();
    sem_init(&writer_locked, 0, 0);
    hang_guard();
    memregion_read_section_begin();
    assert_int_equal(address_space_ldl_le(as, RAM_AT, ATTRS_NONE, NULL), 0x11111111);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, destroy_z_in_transaction, NULL), 0);
    sem_wait(&writer_locked);
    assert_int_equal(memory_region_set_enabled(io, false), 0); /* waits for the writer lock */
    MemTxResult r;
    address_space_ldl_le(as, DEV_AT, ATTRS_NONE, &r);
    assert_int_equal(r, MEMTX_DECODE_ERROR);
    assert_int_equal(memregion_read_section_end(), 0);
    assert_int_equal(join_result(t), 0);
    hang_clear();
    sem_destroy(&writer_locked);
}

/* An address space destroyed inside the section that read through it. */
static void test_address_space_destroy_inside_section(void **state)
{
    (void)state;
    build();
    AddressSpace *other = h_as(root, "other");
    hang_guard();
    memregion_read_section_begin();
    assert_int_equal(address_space_ldl_le(other, RAM_AT, ATTRS_NONE, NULL), 0x11111111);
    h_as_destroy(other);
    assert_int_equal(address_space_ldl_le(as, RAM_AT, ATTRS_NONE, NULL), 0x11111111);
    assert_int_equal(memregion_read_section_end(), 0);
    hang_clear();
}

/* Device accesses inside a section: every size and direction reaches the
 * device, and a callback that reads RAM and moves its own region works as
 * outside a section; the section is the caller's again afterwards. */
static void move_self(TestDev *d, bool is_write, hwaddr addr, unsigned size, uint64_t data)
{
    (void)d, (void)addr, (void)size, (void)data;
    if (!is_write)
        return;
    assert_int_equal(address_space_ldl_le(as, RAM_AT, ATTRS_NONE, NULL), 0x11111111);
    assert_int_equal(memregion_read_section_depth(), 1);
    assert_int_equal(memory_region_set_address(io, DEV_AT + 0x1000), 0);
}

static void test_device_accesses_inside_section(void **state)
{
    (void)state;
    build();
    hang_guard();
    memregion_read_section_begin();
    for (int i = 0; i < 3; i++) { /* the second and third find the TLB filled */
        uint8_t b[8];
        assert_int_equal(address_space_read(as, DEV_AT + 8, ATTRS_NONE, b, 2), MEMTX_OK);
        assert_int_equal(b[0], 0x48);
        assert_int_equal(address_space_ldq_le(as, DEV_AT + 16, ATTRS_NONE, NULL),
                         0x5756555453525150ull);
        address_space_stb(as, DEV_AT + 1, 0x99, ATTRS_NONE, NULL);
        assert_int_equal(dev.mem[1], 0x99);
        /* A 3-byte read needs adaptation: the slow path, inside the section. */
        assert_int_equal(address_space_read(as, DEV_AT + 2, ATTRS_NONE, b, 3), MEMTX_OK);
        assert_int_equal(b[2], 0x44);
    }
    dev.hook = move_self;
    address_space_stb(as, DEV_AT, 1, ATTRS_NONE, NULL);
    dev.hook = NULL;
    assert_int_equal(address_space_ldub(as, DEV_AT + 0x1000 + 9, ATTRS_NONE, NULL), 0x49);
    uint32_t v;
    assert_int_equal(address_space_read(as, DEV_AT, ATTRS_NONE, &v, 4), MEMTX_DECODE_ERROR);
    /* RAM hits still skip the section of their own afterwards. */
    address_space_ldl_le(as, RAM_AT, ATTRS_NONE, NULL);
    uint64_t fills = memregion_stat_tlb_fills();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 4, ATTRS_NONE, NULL), 0x11111111);
    assert_int_equal(memregion_stat_tlb_fills(), fills);
    assert_int_equal(memregion_read_section_end(), 0);
    hang_clear();
}

/* A section the library did not open (the program's own liburcu-bp
 * section) serves hits the same way; a device read inside it still
 * reaches the device and sees its own writes. */
static void test_program_own_rcu_section(void **state)
{
    (void)state;
    build();
    urcu_bp_read_lock();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 8, ATTRS_NONE, NULL), 0x11111111);
    uint64_t fills = memregion_stat_tlb_fills();
    assert_int_equal(address_space_ldl_le(as, RAM_AT + 12, ATTRS_NONE, NULL), 0x11111111);
    assert_int_equal(memregion_stat_tlb_fills(), fills);
    address_space_stw_le(as, DEV_AT + 6, 0xbeef, ATTRS_NONE, NULL);
    assert_int_equal(address_space_lduw_le(as, DEV_AT + 6, ATTRS_NONE, NULL), 0xbeef);
    MemoryRegionSection sec;
    assert_int_equal(address_space_translate(as, RAM_AT + 8, true, ATTRS_NONE, &sec), MEMTX_OK);
    assert_ptr_equal(sec.host, (uint8_t *)memory_region_get_ram_ptr(ram) + 8);
    assert_int_equal(memregion_read_section_depth(), 0);
    urcu_bp_read_unlock();
}

int main(void)
{
    /* MEMREGION_TEST_FILTER=test_x runs only the matching tests (the
     * planted fault runs each deadlock case alone, tests/unit/meson.build). */
    const char *filter = getenv("MEMREGION_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        H_TEST(test_nesting_and_misuse),
        H_TEST(test_accesses_see_every_commit),
        H_TEST(test_callback_runs_outside_section),
        H_TEST(test_callback_on_tlb_hit_runs_outside_section),
        H_TEST(test_callback_hits_reopen_no_section),
        H_TEST(test_map_client_run_now_outside_section),
        H_TEST(test_map_client_run_on_unmap_outside_section),
        H_TEST(test_writer_lock_wait_ends_section),
        H_TEST(test_address_space_destroy_inside_section),
        H_TEST(test_device_accesses_inside_section),
        H_TEST(test_program_own_rcu_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
