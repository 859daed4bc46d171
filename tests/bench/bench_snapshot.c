/*
 * bench_snapshot.c - taking a snapshot costs the same in a store of any
 * size: the time of ghost_snapshot_create, and of the first write after it
 * (which keeps an older version for the snapshot), in stores of 10^3 up to
 * 10^6 files.
 *
 *   bench_snapshot [--dir DIR] [--max N] [--repeat R]
 *
 * A "file" is what ghostfs writes for one small file: an inode object of
 * 200 bytes, a directory entry (a key of its directory's map) and a back
 * reference (a key of its own map), written 1,000 files per transaction.
 * The store grows by a factor of ten at a time, up to --max (default
 * 1,000,000); at each size a snapshot is taken R times (default 5), each
 * followed by one write of an existing file and the snapshot's delete, and
 * the median times are printed with the ratio to the smallest size's (the
 * fill commits unsynced; what is measured commits as a mount does, each
 * commit synced: sync=batch). A
 * snapshot is one record in the store's snapshot table, so the ratios stay
 * near 1 whatever the size.
 *
 * Exits non-zero if a step fails, or if a snapshot does not show the store
 * as it was (the file written after it reads back its old value in the
 * snapshot and its new one at the head).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ghost.h"

#define DIR_OID 100
#define FIRST_FILE 1000
#define BATCH 1000
#define MAX_REPEAT 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int r)
{
    fprintf(stderr, "bench_snapshot: %s: %s (%s)\n", what, ghost_strerror(r), ghost_errmsg());
    exit(1);
}

struct fill {
    uint64_t from, to;
};

static int fill_fn(struct ghost_txn *t, void *arg)
{
    const struct fill *f = arg;
    unsigned char inode[200];
    for (uint64_t o = f->from; o < f->to; o++) {
        char name[32];
        unsigned char ref[16];
        memset(inode, (int)(o & 0xff), sizeof inode);
        int n = snprintf(name, sizeof name, "file%" PRIu64, o);
        memcpy(ref, &o, 8);
        memset(ref + 8, 0, 8);
        int r = ghost_obj_put(t, o, 1, inode, sizeof inode);
        r = r ? r : ghost_map_put(t, DIR_OID, 1, name, (size_t)n, &o, sizeof o);
        r = r ? r : ghost_map_put(t, o, 2, ref, sizeof ref, NULL, 0);
        if (r)
            return r;
    }
    return 0;
}

struct poke {
    uint64_t oid;
    unsigned char value;
};

static int poke_fn(struct ghost_txn *t, void *arg)
{
    const struct poke *p = arg;
    unsigned char inode[200];
    memset(inode, p->value, sizeof inode);
    return ghost_obj_put(t, p->oid, 1, inode, sizeof inode);
}

/* The first byte of object oid, at the head or in snapshot snap. */
static int first_byte(struct ghost *g, const char *snap, uint64_t oid)
{
    struct ghost_txn *t;
    const void *data;
    size_t len;
    int r = snap ? ghost_txn_begin_snapshot(g, snap, &t) : ghost_txn_begin(g, &t);
    if (r)
        die("begin", r);
    r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r)
        die("read", r);
    int b = ((const unsigned char *)data)[0];
    ghost_txn_abort(t);
    return b;
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
    const char *dir = "/tmp";
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
            fprintf(stderr, "usage: bench_snapshot [--dir DIR] [--max N] [--repeat R]\n");
            return 2;
        }
    }
    if (repeat < 1 || repeat > MAX_REPEAT || max < 1000) {
        fprintf(stderr, "bench_snapshot: --repeat 1..%d, --max at least 1000\n", MAX_REPEAT);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_snapshot.%d", dir, (int)getpid());
    struct ghost_options o;
    struct ghost *g;
    ghost_options_init(&o);
    o.sync = GHOST_SYNC_NONE; /* the fill is not what is measured */
    int r = ghost_mkfs(path);
    r = r ? r : ghost_open(path, &o, &g);
    if (r)
        die(path, r);
    printf("%10s %14s %14s %10s\n", "files", "snapshot_ms", "1st_write_ms", "ratio");
    double base = 0;
    uint64_t have = 0;
    for (uint64_t size = 1000; size <= max; size *= 10) {
        for (uint64_t from = have; from < size; from += BATCH) {
            struct fill f = {FIRST_FILE + from,
                             FIRST_FILE + (from + BATCH < size ? from + BATCH : size)};
            if ((r = ghost_run(g, fill_fn, &f)))
                die("fill", r);
        }
        have = size;
        /* Measured as a mount commits: each commit synced (sync=batch). */
        if ((r = ghost_set_sync(g, GHOST_SYNC_BATCH)))
            die("sync mode", r);
        double snap[MAX_REPEAT], write[MAX_REPEAT];
        for (int i = 0; i < repeat; i++) {
            uint64_t oid = FIRST_FILE + (uint64_t)(i * 7919) % size;
            int before = first_byte(g, NULL, oid);
            double t0 = now_s();
            if ((r = ghost_snapshot_create(g, "bench")))
                die("snapshot", r);
            double t1 = now_s();
            struct poke p = {oid, (unsigned char)(before + 1)};
            if ((r = ghost_run(g, poke_fn, &p)))
                die("write", r);
            double t2 = now_s();
            if (first_byte(g, "bench", oid) != before || first_byte(g, NULL, oid) != p.value) {
                fprintf(stderr,
                        "bench_snapshot: the snapshot does not show object %" PRIu64 " as it was\n",
                        oid);
                return 1;
            }
            if ((r = ghost_snapshot_delete(g, "bench")))
                die("delete", r);
            snap[i] = (t1 - t0) * 1e3;
            write[i] = (t2 - t1) * 1e3;
        }
        if ((r = ghost_set_sync(g, GHOST_SYNC_NONE)))
            die("sync mode", r);
        double ms = median(snap, repeat), wms = median(write, repeat);
        if (!base)
            base = ms;
        printf("%10" PRIu64 " %14.3f %14.3f %10.2f\n", size, ms, wms, ms / base);
        fflush(stdout);
    }
    ghost_close(g);
    char aux[4200];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-lock", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-changes", path);
    unlink(aux);
    return 0;
}
