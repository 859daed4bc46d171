/*
 * util.c - see util.h. The temporary directory belongs to the process that
 * made it: forked children (Check runs each test in one) share it, and only
 * the creator removes it at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include "util.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ghost.h"
#include "proc.h"

pid_t proc_children[PROC_MAX_CHILDREN];

const char *test_ename(long long r)
{
    if (r >= 0)
        return "ok";
    const char *n = r >= -4095 ? strerrorname_np((int)-r) : NULL;
    return n ? n : ghost_strerror(r < INT_MIN ? INT_MIN : (int)r);
}

int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    /* Each test in a process of its own, whatever CK_FORK says: the suites
     * rely on it (a crash such as SIGBUS on a full disk is one failure, not
     * the end of the program; a fixture's globals and children do not leak
     * into the next test). */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static char dir[4096];
static pid_t owner;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_dir(void)
{
    if (dir[0] && getpid() == owner)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_dir(void)
{
    if (dir[0])
        return dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ghosttest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    owner = getpid();
    atexit(remove_dir);
    return dir;
}

const char *test_path(const char *name)
{
    static char path[4352];
    snprintf(path, sizeof path, "%s/%s", test_dir(), name);
    return path;
}

const char *test_new_store(const char *name)
{
    static char path[4352];
    char lock[4400];
    snprintf(path, sizeof path, "%s/%s", test_dir(), name);
    snprintf(lock, sizeof lock, "%s-lock", path);
    unlink(path);
    unlink(lock);
    snprintf(lock, sizeof lock, "%s-changes", path);
    unlink(lock);
    int r = ghost_mkfs(path);
    if (r < 0) {
        fprintf(stderr, "ghost_mkfs %s: %s\n", path, ghost_errmsg());
        abort();
    }
    return path;
}

static uint64_t status_kb(const char *field)
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

uint64_t test_peak_rss(void)
{
    return status_kb("VmHWM");
}
uint64_t test_rss(void)
{
    return status_kb("VmRSS");
}

int test_flip_everywhere(const char *path, const void *needle, size_t len)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    int n = 0;
    ck_assert(fd >= 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(map != MAP_FAILED);
    unsigned char *p = map, *end = map + st.st_size;
    while (p < end && (p = memmem(p, (size_t)(end - p), needle, len))) {
        p[len / 2] ^= 0x10;
        p += len;
        n++;
    }
    ck_assert_int_eq(msync(map, (size_t)st.st_size, MS_SYNC), 0);
    munmap(map, (size_t)st.st_size);
    close(fd);
    return n;
}
