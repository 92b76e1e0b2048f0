/*
 * The mini VMM (examples/vmm) end to end: run it on real KVM and check its
 * output line by line against lines written here by hand: what the guest
 * printed through the UART, which display rows were redrawn (only the
 * dirty ones), and the counters of the final report.
 *
 * Usage: kvm-vmm-output PATH-TO-VMM. Exits 77 (skipped) when the VMM
 * reports that KVM is not available.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

#define MAX_LINES 256

static char *lines[MAX_LINES];
static size_t nr_lines;
static int vmm_status;

/* What the guest prints, in order (guest.S). */
static const char *const guest_lines[] = {
    "boot: running from ROM at 0xffff0000",
    "rom: writes to 0x000f0100 and 0xffff0100 dropped, bytes unchanged",
    "shadow: ROM copied to RAM at 0x000f0000 and write-protected",
    "shadow: running from RAM at 0x000f0000",
    "shadow: write to 0x000f0100 dropped, the copy is write-protected",
    "vga: wrote rows 1, 3 and 4, display refreshed",
    "vga: rewrote row 3, display refreshed",
    "dev: id 0x5644524d at 0xe0000000",
    "dev: BAR 0 moved to 0xe0100000",
    "dev: id 0x5644524d at the new address, scratch 0x0000c0de",
    "dev: the old address reads 0xffffffff",
    "doorbell: 3 rings through the ioeventfd, 1 write reached the device",
    "burst: 64 coalesced writes, the device saw 64, sum 2080",
    "done",
};

/* Guest and display lines together, in the order they must appear. */
static const char *const screen[] = {
    "[guest] boot: running from ROM at 0xffff0000",
    "[guest] rom: writes to 0x000f0100 and 0xffff0100 dropped, bytes unchanged",
    "[guest] shadow: ROM copied to RAM at 0x000f0000 and write-protected",
    "[guest] shadow: running from RAM at 0x000f0000",
    "[guest] shadow: write to 0x000f0100 dropped, the copy is write-protected",
    "[display] row  1: Hello from row 1",
    "[display] row  3: Row 3: dirty logging at work",
    "[display] row  4: Row 4: only dirty rows are redrawn",
    "[guest] vga: wrote rows 1, 3 and 4, display refreshed",
    "[display] row  3: Row 3 again: nothing else changed",
    "[guest] vga: rewrote row 3, display refreshed",
    "[guest] dev: id 0x5644524d at 0xe0000000",
    "[guest] dev: BAR 0 moved to 0xe0100000",
    "[guest] dev: id 0x5644524d at the new address, scratch 0x0000c0de",
    "[guest] dev: the old address reads 0xffffffff",
    "[guest] doorbell: 3 rings through the ioeventfd, 1 write reached the device",
    "[guest] burst: 64 coalesced writes, the device saw 64, sum 2080",
    "[guest] done",
};

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static const char *find_line(const char *prefix)
{
    for (size_t i = 0; i < nr_lines; i++)
        if (has_prefix(lines[i], prefix))
            return lines[i];
    return NULL;
}

static void test_exit_status(void **state)
{
    (void)state;
    assert_int_equal(vmm_status, 0);
}

static void test_guest_and_display_lines(void **state)
{
    (void)state;
    size_t want = sizeof(screen) / sizeof(screen[0]), j = 0;
    for (size_t i = 0; i < nr_lines; i++) {
        if (!has_prefix(lines[i], "[guest]") && !has_prefix(lines[i], "[display]"))
            continue;
        if (j >= want)
            fail_msg("unexpected extra line: %s", lines[i]);
        assert_string_equal(lines[i], screen[j]);
        j++;
    }
    assert_int_equal(j, want);
}

static void test_rom_unchanged(void **state)
{
    (void)state;
    const char *l = find_line("[vmm] ROM bytes after the run:");
    assert_non_null(l);
    assert_string_equal(l, "[vmm] ROM bytes after the run: unchanged");
}

static void test_report(void **state)
{
    (void)state;
    /*
     * Slots, derived from the map: at boot RAM is cut by the VGA window and
     * the PAM window into 3 pieces, plus VGA, the ROM alias at 0xF0000 and
     * the ROM at 4 GiB: 6 slots (0..5). PAM to RAM read/write: 3 deletions
     * (RAM piece 2, the ROM alias, RAM piece 3) and 1 creation (one RAM
     * range from 0xB0000, slot 2 again). PAM to RAM read-only: 1 deletion, 3
     * creations (slots 2, 3, 4 again). Moving the MMIO BAR: nothing.
     */
    const char *l = find_line("[report] slots:");
    assert_non_null(l);
    assert_string_equal(l, "[report] slots: 10 created, 4 deleted, 4 reused, 6 active "
                           "(14 KVM_SET_USER_MEMORY_REGION calls)");

    /*
     * Exits: every character the guest prints is one OUT. MMIO reads: the
     * device id (3 times), BAR 0, scratch, rings, other writes, FIFO count
     * and sum = 9. MMIO writes: 2 ROM writes, 2 PAM switches, 1 write to the
     * protected copy, 2 display refreshes, scratch, BAR 0, the unmatched
     * doorbell value = 10. The matching doorbell writes and the FIFO burst
     * do not exit.
     */
    unsigned chars = 0;
    for (size_t i = 0; i < sizeof(guest_lines) / sizeof(guest_lines[0]); i++)
        chars += (unsigned)strlen(guest_lines[i]) + 1;
    char want[160];
    snprintf(want, sizeof(want),
             "[report] exits: 9 mmio-read, 10 mmio-write, 0 pio-in, %u pio-out, 1 hlt, 0 other",
             chars);
    l = find_line("[report] exits:");
    assert_non_null(l);
    assert_string_equal(l, want);

    /* Rows 1, 3, 4 then row 3 again: four pages, one dirty-log read per refresh. */
    l = find_line("[report] dirty pages synced:");
    assert_non_null(l);
    assert_string_equal(l, "[report] dirty pages synced: 4 (2 KVM_GET_DIRTY_LOG calls), "
                           "rows redrawn: 4 in 2 refreshes");
    l = find_line("[report] coalesced entries drained:");
    assert_non_null(l);
    assert_string_equal(l, "[report] coalesced entries drained: 64");
    /* The doorbell and the FIFO zone were registered at 0xE0000000, then again after the move. */
    l = find_line("[report] ioeventfds assigned:");
    assert_non_null(l);
    assert_string_equal(
        l, "[report] ioeventfds assigned: 2, coalesced zones registered: 2, errors: 0");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-VMM\n", argv[0]);
        return 2;
    }
    harness_require_kvm("kvm-vmm");
    FILE *p = popen(argv[1], "r");
    if (!p) {
        perror("popen");
        return 1;
    }
    char buf[512];
    while (fgets(buf, sizeof(buf), p) && nr_lines < MAX_LINES) {
        buf[strcspn(buf, "\n")] = '\0';
        lines[nr_lines++] = strdup(buf);
        printf("%s\n", buf);
    }
    int st = pclose(p);
    vmm_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (vmm_status == 77) {
        printf("SKIP kvm-vmm: the VMM could not use KVM\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_guest_and_display_lines),
        cmocka_unit_test(test_rom_unchanged),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests_name("kvm-vmm", tests, NULL, NULL);
}
