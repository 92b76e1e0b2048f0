/*
 * The internal assert facility is on in this build (debug, debugoptimized
 * and the sanitizer builds), and a broken invariant stops the process with
 * a message naming it: here, change tracking called without the writer lock
 * (the "writer lock held" rule of commit.c), in a child process.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "commit.h"

static int expect_abort(void (*fn)(void), const char *what)
{
    int fds[2];
    if (pipe(fds))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0); /* the check did not fire */
    }
    close(fds[1]);
    char buf[512] = {0};
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(buf) - 1 && (got = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)got;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        fprintf(stderr, "%s: the child was not aborted (status %#x)\n", what, status);
        return 1;
    }
    if (!strstr(buf, "memregion: internal invariant broken: ") || !strstr(buf, what)) {
        fprintf(stderr, "%s: unexpected message: %s\n", what, buf);
        return 1;
    }
    printf("ok: %s", buf);
    return 0;
}

static void change_without_lock(void)
{
    damage_topology();
}

static void unlock_unheld(void)
{
    mr_writer_unlock();
}

int main(void)
{
#ifdef NDEBUG
    printf("built with NDEBUG: internal checks are off\n");
    return 77;
#else
    int bad = expect_abort(change_without_lock, "mr_writer_owned()");
    bad |= expect_abort(unlock_unheld, "mr_writer_depth > 0");
    return bad;
#endif
}
