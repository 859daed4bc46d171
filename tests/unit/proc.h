/*
 * proc.h - helpers for unit suites that run part of a test in other
 * processes: forking a child that dies with its parent, waiting for it with a
 * deadline, killing by PID what is left, shared memory for results, and
 * removing a store's files.
 *
 * Header-only (static inline) so that each suite takes what it uses, except
 * the list of children, which is defined once in util.c: a suite made of
 * several files (the fs suites and fs_util.c) must see one list, or a
 * teardown in one file would not kill the children a test in another forked.
 *
 * Rules for the code a child runs: never call ck_assert (Check's reporting
 * belongs to the test process); print what went wrong to stderr and leave
 * with child_exit(code). A child must not use a struct ghost its parent
 * opened: fork first, then ghost_open() in the child.
 */
#ifndef TEST_PROC_H
#define TEST_PROC_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAX_CHILDREN 64

/* Children forked by this process and not yet reaped (in util.c). */
extern pid_t proc_children[PROC_MAX_CHILDREN];

static inline void proc_forget(pid_t pid)
{
    for (int i = 0; i < PROC_MAX_CHILDREN; i++)
        if (proc_children[i] == pid)
            proc_children[i] = 0;
}

/* Fork. In the child (return 0) the child is set to get SIGKILL when the
 * process that forked it dies, so that a failed or timed-out test leaves no
 * stray process behind. Returns the child's PID in the parent; aborts if
 * fork fails. */
static inline pid_t child_spawn(void)
{
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        for (int i = 0; i < PROC_MAX_CHILDREN; i++)
            proc_children[i] = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(99);
        return 0;
    }
    for (int i = 0; i < PROC_MAX_CHILDREN; i++)
        if (!proc_children[i]) {
            proc_children[i] = pid;
            break;
        }
    return pid;
}

/* Leave a child: flush stdio, skip the parent's atexit handlers. */
static inline void child_exit(int code)
{
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

static inline double proc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void proc_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

#define CHILD_TIMEOUT (-1000)

/* Wait for child pid at most timeout_s seconds; on timeout it is killed
 * with SIGKILL and reaped. Returns its exit code (0..255), minus the signal
 * number if a signal ended it, or CHILD_TIMEOUT. */
static inline int child_wait(pid_t pid, double timeout_s)
{
    double end = proc_now() + timeout_s;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            proc_forget(pid);
            return -ECHILD;
        }
        if (proc_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            proc_forget(pid);
            return CHILD_TIMEOUT;
        }
        proc_sleep_ms(10);
    }
    proc_forget(pid);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return -WTERMSIG(status);
}

/* Kill child pid with SIGKILL and reap it. Returns as child_wait(). */
static inline int child_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    return child_wait(pid, 10);
}

/* Kill and reap every child still known; for teardown after a failure. */
static inline void child_kill_all(void)
{
    for (int i = 0; i < PROC_MAX_CHILDREN; i++)
        if (proc_children[i])
            child_kill(proc_children[i]);
}

/* Zeroed memory shared with the children forked after this call. */
static inline void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    return p;
}

static inline void shared_free(void *p, size_t size)
{
    munmap(p, size);
}

/* Read exactly len bytes from fd within timeout_s seconds. Returns 0, or -1
 * on end of file, error or timeout. */
static inline int read_full(int fd, void *buf, size_t len, double timeout_s)
{
    double end = proc_now() + timeout_s;
    char *p = buf;
    while (len) {
        int left = (int)((end - proc_now()) * 1000);
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Remove the store at path, its lock file and its change log. */
static inline void remove_store(const char *path)
{
    char lock[4400];
    snprintf(lock, sizeof lock, "%s-lock", path);
    unlink(path);
    unlink(lock);
    snprintf(lock, sizeof lock, "%s-changes", path);
    unlink(lock);
}

/* A field of /proc/self/status in bytes ("RssAnon", "RssFile"...). */
static inline uint64_t proc_status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    size_t n = strlen(field);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':')
            kb = strtoull(line + n + 1, NULL, 10);
    fclose(f);
    return kb * 1024;
}

#endif
