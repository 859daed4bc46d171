/*
 * bench_diff.c - `ghostfs diff` costs what changed, not the store: the
 * time of fs_diff (what the command runs) between a snapshot and the live
 * tree with 100 files changed, in filesystems of 10^3 up to 10^6 files;
 * beside it an incremental send of the same change (ghost_send --from,
 * which reads the keys of the OIDs the change index names), and, as the
 * reference, a full send of the later snapshot, which reads every key of
 * the store (the cost of any walk of the whole store).
 *
 *   bench_diff [--dir DIR] [--max N] [--repeat R]
 *
 * The files are made through the filesystem's own functions (fs_mknod),
 * 1,000 to a directory, unsynced. At each size (growing tenfold up to
 * --max, default 1,000,000): snapshot "base", then 100 files changed - 50
 * created, 30 renamed, 20 removed -, snapshot "after"; fs_diff(base, live)
 * and both sends are each timed R times (default 5) and the medians
 * printed with their ratio to the smallest size's. Then both snapshots go, and
 * their versions and index records are pruned before the store grows.
 *
 * Exits non-zero if a step fails, or if a diff does not list exactly the
 * 100 changed files (and the directories whose entries changed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "fsint.h"

#define PER_DIR 1000
#define CHANGED 100
#define MAX_REPEAT 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int e)
{
    fprintf(stderr, "bench_diff: %s: %s (%s)\n", what, strerror(e < 0 ? -e : e), ghost_errmsg());
    exit(1);
}

static const struct fs_ctx ctx = {0, 0, 022};
static uint64_t dirs[1000000 / PER_DIR + 1];

static void name_of(char *buf, size_t size, uint64_t i)
{
    snprintf(buf, size, "f%llu", (unsigned long long)i);
}

static uint64_t dir_of(struct fs *fs, uint64_t i)
{
    uint64_t d = i / PER_DIR;
    if (!dirs[d]) {
        char name[32];
        struct fs_attr a;
        snprintf(name, sizeof name, "d%llu", (unsigned long long)d);
        int e = fs_mkdir(fs, &ctx, FS_ROOT_INO, name, 0755, &a);
        if (e)
            die("mkdir", e);
        dirs[d] = a.ino;
    }
    return dirs[d];
}

/* Make files [from, to). */
static void grow(struct fs *fs, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        char name[32];
        struct fs_attr a;
        name_of(name, sizeof name, i);
        int e = fs_mknod(fs, &ctx, dir_of(fs, i), name, S_IFREG | 0644, 0, &a);
        if (e)
            die("mknod", e);
        fs_forget(fs, a.ino, 1);
    }
}

/* 50 created, 30 renamed, 20 removed, spread over the store's n files. */
static void change(struct fs *fs, uint64_t n, unsigned round)
{
    uint64_t step = n / CHANGED;
    for (unsigned k = 0; k < CHANGED; k++) {
        uint64_t i = k * step + round % step;
        uint64_t d = dir_of(fs, i);
        char name[32], other[48];
        name_of(name, sizeof name, i);
        int e;
        if (k < 50) {
            struct fs_attr a;
            snprintf(other, sizeof other, "new%u.%u", round, k);
            e = fs_mknod(fs, &ctx, d, other, S_IFREG | 0644, 0, &a);
            if (!e)
                fs_forget(fs, a.ino, 1);
        } else if (k < 80) {
            snprintf(other, sizeof other, "%s.moved", name);
            /* There and back: the same path, a changed inode (M). */
            e = fs_rename(fs, &ctx, d, name, d, other, 0);
            e = e ? e : fs_rename(fs, &ctx, d, other, d, name, 0);
        } else {
            e = fs_unlink(fs, d, name);
        }
        if (e)
            die("change", e);
    }
}

struct count {
    unsigned files, dirs;
};

static int counted(void *arg, const struct diff_entry *e)
{
    struct count *c = arg;
    if (S_ISDIR(e->mode))
        c->dirs++;
    else
        c->files++;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    uint64_t max = 1000000;
    int repeat = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--max") && i + 1 < argc)
            max = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_diff [--dir DIR] [--max N] [--repeat R]\n");
            return 2;
        }
    }
    if (repeat < 1 || repeat > MAX_REPEAT || max < 1000 || max > 1000000) {
        fprintf(stderr, "bench_diff: --repeat 1..%d, --max 1000..1000000\n", MAX_REPEAT);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_diff.%d", dir, (int)getpid());
    int e = fs_mkfs(path, 0);
    if (e)
        die("mkfs", e);
    struct fs_options fo;
    fs_options_init(&fo);
    fo.store.sync = GHOST_SYNC_NONE;
    struct fs *fs;
    e = fs_open(path, &fo, &fs);
    if (e)
        die("open", e);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    printf("%10s %12s %7s %16s %7s %16s %7s\n", "files", "diff (ms)", "ratio", "send --from (ms)",
           "ratio", "full send (ms)", "ratio");
    double diff0 = 0, send0 = 0, full0 = 0;
    uint64_t have = 0;
    unsigned round = 0;
    for (uint64_t n = 1000; n <= max; n *= 10) {
        grow(fs, have, n);
        have = n;
        double td[MAX_REPEAT], ts[MAX_REPEAT], tf[MAX_REPEAT];
        for (int r = 0; r < repeat; r++, round++) {
            if ((e = fs_snapshot_create(fs, "base")))
                die("snapshot", e);
            change(fs, have, round);
            if ((e = fs_snapshot_create(fs, "after")))
                die("snapshot", e);
            struct count c = {0};
            double t0 = now_s();
            if ((e = fs_diff(fs, "base", NULL, counted, &c, NULL)))
                die("diff", e);
            td[r] = now_s() - t0;
            /* 50 new, 30 renamed there and back (modified), 20 removed;
             * and the directories they are in. */
            if (c.files != CHANGED || c.dirs == 0) {
                fprintf(stderr, "bench_diff: %u files and %u directories listed, wanted %d\n",
                        c.files, c.dirs, CHANGED);
                return 1;
            }
            t0 = now_s();
            if ((e = ghost_send(fs->g, "after", "base", devnull, NULL, NULL, NULL)))
                die("send", e);
            ts[r] = now_s() - t0;
            t0 = now_s();
            if ((e = ghost_send(fs->g, "after", NULL, devnull, NULL, NULL, NULL)))
                die("send", e);
            tf[r] = now_s() - t0;
            if ((e = fs_snapshot_delete(fs, "base")) || (e = fs_snapshot_delete(fs, "after")))
                die("delete", e);
            uint64_t cur = 0;
            int64_t p;
            do
                p = ghost_prune_versions(fs->g, &cur, 10000);
            while (p >= 0 && cur);
            if (p < 0)
                die("prune", (int)p);
            /* The removed files come back, so every round sees n files. */
            for (unsigned k = 80; k < CHANGED; k++) {
                uint64_t i = k * (have / CHANGED) + round % (have / CHANGED);
                char name[32];
                struct fs_attr a;
                name_of(name, sizeof name, i);
                if ((e = fs_mknod(fs, &ctx, dir_of(fs, i), name, S_IFREG | 0644, 0, &a)))
                    die("mknod", e);
                fs_forget(fs, a.ino, 1);
            }
        }
        double d = median(td, repeat) * 1e3, s = median(ts, repeat) * 1e3;
        double f = median(tf, repeat) * 1e3;
        if (n == 1000)
            diff0 = d, send0 = s, full0 = f;
        printf("%10llu %12.2f %7.2f %16.2f %7.2f %16.2f %7.2f\n", (unsigned long long)n, d,
               d / diff0, s, s / send0, f, f / full0);
        fflush(stdout);
    }
    close(devnull);
    fs_close(fs);
    char side[4200];
    unlink(path);
    snprintf(side, sizeof side, "%s-lock", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-changes", path);
    unlink(side);
    return 0;
}
