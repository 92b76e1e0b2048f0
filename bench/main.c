/*
 * memregion-bench: memregion against Unicorn and a baseline, in one run.
 *
 * Usage: memregion-bench [--quick] [--max-n N] [--budget SECONDS]
 *                        [--scenario LIST] [--no-abort-check]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <unicorn/unicorn.h>

#include "bench.h"

BenchOptions opt = {
    .budget_s = 6,
    .uc_budget_s = 30,
    .min_run_s = 0.05,
    .scenarios = 0xfe,
    .unicorn_abort = true,
    .moves = 10000,
    .scaling_s = 0.5,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: memregion-bench [options]\n"
               "  --quick            small sizes and short budgets (about 30 s)\n"
               "  --max-n N          run no row with more than N regions\n"
               "  --budget SECONDS   time budget of one map or unmap phase of scenario 1, and of\n"
               "                     the slow configurations of scenario 4 (default 6)\n"
               "  --scenario LIST    run only these scenarios, e.g. 1,4 (default 1,2,3,4,5,6,7)\n"
               "  --no-abort-check   skip the check that Unicorn aborts at 4096 regions\n"
               "  --help             this text\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static void parse_args(int argc, char **argv)
{
    bool budget_set = false, uc_budget_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            opt.quick = true;
        } else if (!strcmp(a, "--max-n") && val) {
            if (!parse_u64(val, &opt.max_n) || opt.max_n == 0)
                bench_die("--max-n: expected a positive number, got '%s'", val);
            i++;
        } else if (!strcmp(a, "--budget") && val) {
            char *end;
            opt.budget_s = strtod(val, &end);
            if (*end || !(opt.budget_s > 0))
                bench_die("--budget: expected seconds, got '%s'", val);
            budget_set = true;
            i++;
        } else if (!strcmp(a, "--unicorn-budget") && val) {
            char *end;
            opt.uc_budget_s = strtod(val, &end);
            if (*end || !(opt.uc_budget_s > 0))
                bench_die("--unicorn-budget: expected seconds, got '%s'", val);
            uc_budget_set = true;
            i++;
        } else if (!strcmp(a, "--scenario") && val) {
            opt.scenarios = 0;
            for (const char *p = val; *p; p++) {
                if (*p >= '1' && *p <= '7')
                    opt.scenarios |= 1u << (*p - '0');
                else if (*p != ',')
                    bench_die("--scenario: expected a list of 1..7, got '%s'", val);
            }
            i++;
        } else if (!strcmp(a, "--no-abort-check")) {
            opt.unicorn_abort = false;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (opt.quick) {
        if (!budget_set)
            opt.budget_s = 1;
        if (!uc_budget_set)
            opt.uc_budget_s = 2;
        opt.min_run_s = 0.02;
        opt.moves = 1000;
        opt.scaling_s = 0.2;
        opt.unicorn_abort = false;
    }
}

/*
 * The claim that Unicorn aborts at 4096 regions, shown in a child
 * process: map 4 KiB MMIO regions until it dies, and report where and how.
 */
void unicorn_abort_check(void)
{
    enum { LIMIT = 4200 };
    printf("\n== Unicorn region limit: map up to %d MMIO regions in a child process ==\n", LIMIT);
    fflush(stdout);
    int progress[2], err[2];
    if (pipe(progress) || pipe(err))
        bench_die("pipe");
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        close(progress[0]);
        close(err[0]);
        dup2(err[1], 2);
        uc_engine *uc;
        if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
            _exit(3);
        for (uint32_t i = 0; i < LIMIT; i++) {
            if (write(progress[1], &i, sizeof(i)) != sizeof(i))
                _exit(4);
            if (uc_mmio_map(uc, MMIO_BASE + i * REGION_STRIDE, REGION_SIZE, NULL, NULL, NULL,
                            NULL) != UC_ERR_OK)
                _exit(5);
        }
        _exit(0);
    }
    close(progress[1]);
    close(err[1]);
    uint32_t last = 0, v;
    while (read(progress[0], &v, sizeof(v)) == sizeof(v))
        last = v;
    char msg[512] = "";
    ssize_t len = read(err[0], msg, sizeof(msg) - 1);
    msg[len > 0 ? len : 0] = 0;
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = 0;
    int status;
    waitpid(pid, &status, 0);
    close(progress[0]);
    close(err[0]);
    if (WIFSIGNALED(status))
        printf("  Unicorn died with signal %d (%s) while mapping region %u (%u regions "
               "were mapped), after %.1fs\n  its message: %s\n",
               WTERMSIG(status), strsignal(WTERMSIG(status)), last + 1, last, since_s(t0),
               msg[0] ? msg : "(none)");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        printf("  Unicorn mapped all %d regions: the abort did not happen with this build\n",
               LIMIT);
    else
        printf("  Unicorn failed with exit status %d at region %u: %s\n",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1, last + 1, msg);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    /* Scenario 6 runs each configuration in a fresh process: this program again. */
    if (argc > 1 && !strcmp(argv[1], "--footprint-child"))
        return footprint_child(argc - 2, argv + 2);
    parse_args(argc, argv);
    unsigned major, minor;
    uc_version(&major, &minor);
    printf("memregion-bench: memregion against Unicorn %u.%u (QEMU's memory core) and a "
           "baseline (sorted array, page table)\n",
           major, minor);
    printf("options: %s run, budget per phase %.1fs (Unicorn %.1fs)", opt.quick ? "quick" : "full",
           opt.budget_s, opt.uc_budget_s);
    if (opt.max_n)
        printf(", max N %llu", (unsigned long long)opt.max_n);
    printf("\n");
    uint64_t t0 = now_ns();
    if (opt.scenarios & (1u << 1))
        scenario_map();
    if (opt.unicorn_abort && (opt.scenarios & (1u << 1)))
        unicorn_abort_check();
    if (opt.scenarios & (1u << 2))
        scenario_read();
    if (opt.scenarios & (1u << 3))
        scenario_translate();
    if (opt.scenarios & (1u << 4))
        scenario_many_as();
    if (opt.scenarios & (1u << 5))
        scenario_scaling();
    if (opt.scenarios & (1u << 6))
        scenario_footprint();
    if (opt.scenarios & (1u << 7))
        scenario_dma();
    targets_summary();
    printf("total time %.1fs\n", since_s(t0));
    return 0;
}
