/*
 * fileops.c - the timed inner loops of tests/bench/bench_fs.sh, done in one
 * process so that a phase's time is the filesystem's and not fork/exec's.
 *
 *   fileops write   FILE MIB           write MIB MiB in 1 MiB write()s, fsync, close
 *   fileops read    FILE MIB           read it back in 1 MiB read()s, check every page
 *   fileops create  DIR N THREADS      THREADS threads, thread t makes DIR/t/ and
 *                                      N/THREADS empty files in it (open O_CREAT|O_EXCL)
 *   fileops stat    DIR N THREADS [PASSES]
 *                                      fstatat() every one of those files, PASSES
 *                                      times over (default 1)
 *   fileops readdir DIR N PASSES       read every DIR/t/ to the end PASSES times; the
 *                                      entries must add up to N per pass
 *   fileops unlink  DIR N THREADS      unlink every file, then rmdir DIR/t/
 *
 * The data written is incompressible (a random 1 MiB buffer) and no two 4 KiB
 * pages are alike: each page starts with its block and page number, which
 * `read` checks, so a read that returns wrong data fails the run.
 *
 * Prints one line: the wall-clock seconds of the timed part (threads start
 * together behind a barrier; the time runs to the last thread's end).
 * Exits 1, with a message on stderr, on any failed call.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define PAGE 4096u
#define MAGIC 0x67686f7374667321ull /* "ghostfs!" */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fileops: %s %s: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

static void fill_block(unsigned char *buf, uint64_t block)
{
    for (uint64_t p = 0; p < MIB / PAGE; p++) {
        uint64_t hdr[2] = {MAGIC ^ block, (block << 8) | p};
        memcpy(buf + p * PAGE, hdr, sizeof hdr);
    }
}

static unsigned char *random_buffer(void)
{
    unsigned char *buf = aligned_alloc(PAGE, MIB);
    if (!buf)
        die("malloc", NULL);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < MIB; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        memcpy(buf + i, &x, 8);
    }
    return buf;
}

static double do_write(const char *path, uint64_t mib)
{
    unsigned char *buf = random_buffer();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open", path);
    double t0 = now();
    for (uint64_t b = 0; b < mib; b++) {
        fill_block(buf, b);
        for (size_t off = 0; off < MIB;) {
            ssize_t n = write(fd, buf + off, MIB - off);
            if (n <= 0)
                die("write", path);
            off += (size_t)n;
        }
    }
    if (fsync(fd) < 0)
        die("fsync", path);
    if (close(fd) < 0)
        die("close", path);
    double t = now() - t0;
    free(buf);
    return t;
}

static double do_read(const char *path, uint64_t mib)
{
    unsigned char *buf = aligned_alloc(PAGE, MIB);
    if (!buf)
        die("malloc", NULL);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("open", path);
    double t0 = now();
    uint64_t b = 0;
    for (;; b++) {
        size_t got = 0;
        while (got < MIB) {
            ssize_t n = read(fd, buf + got, MIB - got);
            if (n < 0)
                die("read", path);
            if (n == 0)
                break;
            got += (size_t)n;
        }
        if (got == 0)
            break;
        if (got != MIB || b >= mib) {
            fprintf(stderr, "fileops: %s: %s at MiB %llu\n", path,
                    got != MIB ? "short file" : "longer than written", (unsigned long long)b);
            exit(1);
        }
        for (uint64_t p = 0; p < MIB / PAGE; p++) {
            uint64_t hdr[2];
            memcpy(hdr, buf + p * PAGE, sizeof hdr);
            if (hdr[0] != (MAGIC ^ b) || hdr[1] != ((b << 8) | p)) {
                fprintf(stderr, "fileops: %s: wrong data in MiB %llu, page %llu\n", path,
                        (unsigned long long)b, (unsigned long long)p);
                exit(1);
            }
        }
    }
    close(fd);
    double t = now() - t0;
    if (b != mib) {
        fprintf(stderr, "fileops: %s: read %llu MiB, wrote %llu\n", path, (unsigned long long)b,
                (unsigned long long)mib);
        exit(1);
    }
    free(buf);
    return t;
}

/* ---- many files ------------------------------------------------------------------ */

enum op { OP_CREATE, OP_STAT, OP_READDIR, OP_UNLINK };

struct worker {
    pthread_t thread;
    enum op op;
    const char *dir;
    unsigned id;
    long n; /* files of this thread (readdir: files in all of DIR) */
    long passes;
    unsigned nthreads;
    pthread_barrier_t *start;
    double end;
};

static void subdir(char *out, size_t len, const char *dir, unsigned id)
{
    snprintf(out, len, "%s/%u", dir, id);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    char sub[4096], name[32];
    subdir(sub, sizeof sub, w->dir, w->id);
    int dfd = -1;
    if (w->op == OP_CREATE && mkdir(sub, 0755) < 0)
        die("mkdir", sub);
    if (w->op != OP_READDIR) {
        dfd = open(sub, O_RDONLY | O_DIRECTORY);
        if (dfd < 0)
            die("open", sub);
    }
    pthread_barrier_wait(w->start);
    switch (w->op) {
    case OP_CREATE:
        for (long i = 0; i < w->n; i++) {
            snprintf(name, sizeof name, "f%07ld", i);
            int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0 || close(fd) < 0)
                die("create", name);
        }
        break;
    case OP_STAT:
        for (long i = 0; i < w->n * w->passes; i++) {
            struct stat st;
            snprintf(name, sizeof name, "f%07ld", i % w->n);
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                die("stat", name);
            if (!S_ISREG(st.st_mode) || st.st_size != 0) {
                fprintf(stderr, "fileops: %s/%s: not an empty regular file\n", sub, name);
                exit(1);
            }
        }
        break;
    case OP_READDIR:
        for (long p = 0; p < w->passes; p++) {
            long seen = 0;
            for (unsigned t = 0; t < w->nthreads; t++) {
                subdir(sub, sizeof sub, w->dir, t);
                DIR *d = opendir(sub);
                if (!d)
                    die("opendir", sub);
                struct dirent *de;
                errno = 0;
                while ((de = readdir(d)))
                    if (de->d_name[0] == 'f')
                        seen++;
                if (errno)
                    die("readdir", sub);
                closedir(d);
            }
            if (seen != w->n) {
                fprintf(stderr, "fileops: readdir of %s saw %ld files, not %ld\n", w->dir, seen,
                        w->n);
                exit(1);
            }
        }
        break;
    case OP_UNLINK:
        for (long i = 0; i < w->n; i++) {
            snprintf(name, sizeof name, "f%07ld", i);
            if (unlinkat(dfd, name, 0) < 0)
                die("unlink", name);
        }
        break;
    }
    w->end = now();
    if (dfd >= 0)
        close(dfd);
    if (w->op == OP_UNLINK && rmdir(sub) < 0)
        die("rmdir", sub);
    return NULL;
}

static double do_files(enum op op, const char *dir, long n, long k, long passes)
{
    unsigned nthreads = op == OP_READDIR ? 1 : (unsigned)k;
    struct stat st;
    if (op == OP_CREATE && mkdir(dir, 0755) < 0 && errno != EEXIST)
        die("mkdir", dir);
    if (op == OP_READDIR) {
        /* one reader, over as many subdirectories as there are */
        char sub[4096];
        nthreads = 0;
        for (;; nthreads++) {
            subdir(sub, sizeof sub, dir, nthreads);
            if (stat(sub, &st) < 0)
                break;
        }
        if (!nthreads)
            die("stat", dir);
    }
    pthread_barrier_t start;
    unsigned workers = op == OP_READDIR ? 1 : nthreads;
    pthread_barrier_init(&start, NULL, workers + 1);
    struct worker *w = calloc(workers, sizeof *w);
    for (unsigned t = 0; t < workers; t++) {
        w[t] = (struct worker){.op = op,
                               .dir = dir,
                               .id = t,
                               .nthreads = nthreads,
                               .passes = op == OP_READDIR ? k : passes,
                               .start = &start,
                               .n = op == OP_READDIR ? n : n / nthreads + (t < n % nthreads)};
        if (pthread_create(&w[t].thread, NULL, work, &w[t]))
            die("pthread_create", NULL);
    }
    pthread_barrier_wait(&start);
    double t0 = now(), end = t0;
    for (unsigned t = 0; t < workers; t++) {
        pthread_join(w[t].thread, NULL);
        if (w[t].end > end)
            end = w[t].end;
    }
    free(w);
    pthread_barrier_destroy(&start);
    return end - t0;
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1) {
        fprintf(stderr, "fileops: '%s' is not a positive number\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    double t;
    if (argc == 4 && !strcmp(argv[1], "write"))
        t = do_write(argv[2], (uint64_t)number(argv[3]));
    else if (argc == 4 && !strcmp(argv[1], "read"))
        t = do_read(argv[2], (uint64_t)number(argv[3]));
    else if (argc == 5 && !strcmp(argv[1], "create"))
        t = do_files(OP_CREATE, argv[2], number(argv[3]), number(argv[4]), 1);
    else if ((argc == 5 || argc == 6) && !strcmp(argv[1], "stat"))
        t = do_files(OP_STAT, argv[2], number(argv[3]), number(argv[4]),
                     argc == 6 ? number(argv[5]) : 1);
    else if (argc == 5 && !strcmp(argv[1], "readdir"))
        t = do_files(OP_READDIR, argv[2], number(argv[3]), number(argv[4]), 1);
    else if (argc == 5 && !strcmp(argv[1], "unlink"))
        t = do_files(OP_UNLINK, argv[2], number(argv[3]), number(argv[4]), 1);
    else {
        fprintf(stderr, "usage: fileops write|read FILE MIB\n"
                        "       fileops create|unlink DIR N THREADS\n"
                        "       fileops stat DIR N THREADS [PASSES]\n"
                        "       fileops readdir DIR N PASSES\n");
        return 2;
    }
    printf("%.6f\n", t);
    return 0;
}
