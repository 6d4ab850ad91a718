/* tokenlaunch: run a program on a phone and note when each piece of its stdout arrives.
 *
 * The phone's counterpart of the launcher this host runs every command with
 * (core/devices/spawn.py): pocketbench builds this file with the phone's
 * cross toolchain (static, like the runtime), pushes it beside the runtime
 * and starts the runtime through it.  The program's stdout is a pipe; each
 * read is timestamped with CLOCK_MONOTONIC on the phone itself (no adb
 * transport in the figure) and passed on to the launcher's stdout unchanged.
 * A runtime that writes and flushes each token as it makes it so gives one
 * timestamp per token.
 *
 * Usage: tokenlaunch ARRIVALS PROGRAM [ARG...]
 *
 * When the program has ended, ARRIVALS holds the same lines as the host's
 * launcher writes, then the program's own wait4 figures:
 *
 *   NS END                  one per piece read: nanoseconds since just before
 *                           the program started, stdout bytes up to its end
 *   rusage PEAK_KB CPU_S    the program's peak RSS and CPU time (user + system)
 *
 * The lines are kept in memory until the program ends, so no write of ours
 * competes with it while it generates.  INT, TERM, HUP, QUIT, USR1 and USR2
 * are forwarded to the program; if the launcher itself is killed, the
 * program dies with it (PR_SET_PDEATHSIG).  The launcher exits as the
 * program did: with its exit code, or by the same signal.  125: the launcher
 * itself could not start the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static volatile pid_t child = -1;

static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The arrival lines so far; on a failed allocation all are dropped (lost = 1):
 * fewer pieces than tokens makes pocketbench decline the figures, never guess. */
static char *notes;
static size_t used, room;
static int lost;

static void note(long long ns, long long end) {
    if (lost) return;
    if (room - used < 64) {
        size_t more = room ? room * 2 : (size_t)1 << 16;
        char *grown = realloc(notes, more);
        if (!grown) {
            lost = 1;
            used = 0;
            return;
        }
        notes = grown;
        room = more;
    }
    used += (size_t)snprintf(notes + used, room - used, "%lld %lld\n", ns, end);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fail(const char *what, const char *name) {
    fprintf(stderr, "tokenlaunch: %s %s: %s\n", what, name, strerror(errno));
    return 125;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs("usage: tokenlaunch ARRIVALS PROGRAM [ARG...]\n", stderr);
        return 125;
    }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return fail("cannot write", argv[1]);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return fail("cannot make a pipe for", argv[2]);

    /* Blocked until the handlers know the program's pid; the program gets the
     * caller's mask back before exec. */
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++) sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old);

    pid_t parent = getpid();
    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) return fail("cannot start", argv[2]);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(137); /* the launcher died before the guard was set */
        dup2(pipefd[1], 1);                  /* dup2 clears close-on-exec on stdout */
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "tokenlaunch: cannot start %s: %s\n", argv[2], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    child = pid;
    close(pipefd[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++) sigaction(forwarded[i], &sa, NULL);
    /* A closed stdout ends the passing-on below; the program then meets the
     * closed pipe itself, as it would without the launcher. */
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);

    static char buf[1 << 16];
    long long done = 0;
    for (;;) {
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        long long t = now_ns();
        if (write_all(1, buf, (size_t)n) != 0) break;
        done += n;
        note(t - start, done);
    }
    close(pipefd[0]);

    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) return fail("lost the program", argv[2]);
    }
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    char tail[96];
    int len = snprintf(tail, sizeof tail, "rusage %ld %.6f\n", (long)ru.ru_maxrss, cpu);
    if (write_all(out, notes ? notes : "", used) != 0 || write_all(out, tail, (size_t)len) != 0)
        fprintf(stderr, "tokenlaunch: cannot write %s: %s\n", argv[1], strerror(errno));
    close(out);

    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* The program's crash, not ours: no core file of the launcher. */
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        raise(sig);
        return 128 + sig;
    }
    return 125;
}
