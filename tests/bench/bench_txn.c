/*
 * bench_txn.c - small transactions per second: libghost against raw LMDB.
 *
 *   bench_txn [--dir DIR] [--seconds S | --count N] [--threads 1,2,8]
 *             [--modes LIST] [--no-contended] [--json]
 *
 * A "small transaction" reads one 64-byte object (a counter), writes it back
 * with the count plus one, and writes one 64-byte payload object. Each thread
 * has its own counter and payload, so nothing conflicts. The same work runs
 *
 *   ghost   through ghost_run(), with ghost_options.sync = none, batch, always;
 *   raw     as plain LMDB: one write transaction per small transaction
 *           (mdb_get, two mdb_put, mdb_txn_commit) on the same 8-byte keys,
 *           with MDB_NOSYNC|MDB_WRITEMAP ("none", the flags libghost uses for
 *           sync=none) or LMDB's default full sync ("always").
 *
 * Each case gets a fresh store file in DIR, runs for S seconds (or N
 * transactions per thread) and is deleted afterwards. One optional
 * "contended" case has every thread increment one shared counter through
 * libghost at sync=none, and reports the conflicts and retries that costs.
 * After every case the counters are read back and must equal the number of
 * transactions that reported success: a benchmark that loses increments
 * fails (exit status 1) instead of printing a number.
 *
 * Two ratios are printed with the target each is held to:
 *   ghost/raw txn/s at sync=none, per thread count   >= 0.5 (the object
 *       layer costs at most twice what LMDB costs per transaction);
 *   ghost sync=batch / ghost sync=always, 8 threads  >= 10 (group commit).
 * With --repeat, each round runs every case once, the two sides of a ratio
 * back to back; a ratio is the median over the rounds of the ratio of that
 * round's two runs (with the lowest and highest), so that a slow spell of a
 * shared machine, which slows both sides of one round, cancels out instead
 * of landing on one side's median and not the other's.
 *
 * This is a benchmark, not a test: it never runs under `meson test`, and a
 * missed target does not change the exit status. Exits 0, 1 when a case
 * failed, 2 on bad arguments, 130 when interrupted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "ghost.h"

#define MAX_THREADS 64
#define OBJ_BYTES 64
#define OBJ_TYPE 42
/* Thread i owns the counter COUNTER_OID + 2i and the payload COUNTER_OID +
 * 2i + 1; the contended case shares SHARED_OID. Fixed OIDs, the same as raw
 * LMDB keys, so that both engines do exactly the same work. */
#define SHARED_OID 1000
#define COUNTER_OID 1001
#define RAW_MAP_BYTES ((size_t)1 << 30)

enum engine { ENGINE_GHOST, ENGINE_RAW };

struct bench_case {
    enum engine engine;
    enum ghost_sync sync; /* raw uses only NONE and ALWAYS */
    unsigned threads;
    bool contended;
};

struct result {
    struct bench_case c;
    uint64_t txns;    /* committed */
    double seconds;   /* from the start signal to the last thread's end */
    double rate;      /* txns / seconds */
    uint64_t batches; /* LMDB write transactions (ghost) */
    uint64_t conflicts, retries;
    /* With --repeat: the result above is the median run's, and these
     * describe all the runs of the case that succeeded. */
    unsigned nruns;
    double min_rate, max_rate;
    unsigned round; /* of a single run: the round it ran in */
};

struct config {
    const char *dir;
    double seconds;
    uint64_t count; /* per thread; 0: run for `seconds` */
    unsigned threads[MAX_THREADS];
    size_t nthreads;
    unsigned modes;  /* bit set of MODE_* */
    unsigned repeat; /* runs of each case; the median is reported */
    bool contended;
    bool json;
};

enum {
    MODE_GHOST_NONE = 1 << 0,
    MODE_GHOST_BATCH = 1 << 1,
    MODE_GHOST_ALWAYS = 1 << 2,
    MODE_RAW_NONE = 1 << 3,
    MODE_RAW_ALWAYS = 1 << 4,
    MODE_ALL = (1 << 5) - 1,
};

/* Everything the threads of one case share. */
struct run {
    const struct config *cfg;
    const struct bench_case *c;
    struct ghost *g;
    MDB_env *env;
    MDB_dbi dbi;
    atomic_bool stop;
    /* The threads wait here until all are started; `go` is under `lock`. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool go;
};

struct worker {
    struct run *run;
    pthread_t tid;
    unsigned id;
    uint64_t counter, payload; /* OIDs (ghost) and keys (raw) */
    uint64_t done;             /* transactions committed */
    struct timespec end;
    int err;
    char msg[512];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ts_s(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static const char *sync_name(enum ghost_sync s)
{
    return s == GHOST_SYNC_NONE ? "none" : s == GHOST_SYNC_BATCH ? "batch" : "always";
}

/* ---- the work of one small transaction ------------------------------------ */

static uint64_t counter_value(const void *obj)
{
    uint64_t v;
    memcpy(&v, obj, sizeof v);
    return v;
}

/* A fresh object holding count n; the rest is filler that depends on who
 * wrote it, so that the payload really changes on every write. */
static void make_obj(unsigned char *obj, uint64_t n, unsigned id)
{
    memcpy(obj, &n, sizeof n);
    for (size_t i = sizeof n; i < OBJ_BYTES; i++)
        obj[i] = (unsigned char)(n + id + i);
}

static void key_of(unsigned char k[8], uint64_t oid)
{
    for (int i = 7; i >= 0; i--, oid >>= 8)
        k[i] = (unsigned char)oid;
}

static int ghost_small_txn(struct ghost_txn *txn, void *arg)
{
    struct worker *w = arg;
    unsigned char obj[OBJ_BYTES];
    const void *data;
    size_t len;
    int r = ghost_obj_get(txn, w->counter, NULL, &data, &len);
    if (r)
        return r;
    if (len != OBJ_BYTES)
        return -EBADMSG;
    make_obj(obj, counter_value(data) + 1, w->id);
    r = ghost_obj_put(txn, w->counter, OBJ_TYPE, obj, OBJ_BYTES);
    make_obj(obj, w->done, w->id);
    return r ? r : ghost_obj_put(txn, w->payload, OBJ_TYPE, obj, OBJ_BYTES);
}

static int raw_small_txn(struct worker *w)
{
    struct run *run = w->run;
    unsigned char obj[OBJ_BYTES], kc[8], kp[8];
    MDB_txn *txn;
    MDB_val k = {8, kc}, v;
    int rc = mdb_txn_begin(run->env, NULL, 0, &txn);
    if (rc)
        return rc;
    key_of(kc, w->counter);
    key_of(kp, w->payload);
    rc = mdb_get(txn, run->dbi, &k, &v);
    if (rc == 0 && v.mv_size != OBJ_BYTES)
        rc = EBADMSG;
    if (rc == 0) {
        make_obj(obj, counter_value(v.mv_data) + 1, w->id);
        v = (MDB_val){OBJ_BYTES, obj};
        rc = mdb_put(txn, run->dbi, &k, &v, 0);
    }
    if (rc == 0) {
        make_obj(obj, w->done, w->id);
        k = (MDB_val){8, kp};
        v = (MDB_val){OBJ_BYTES, obj};
        rc = mdb_put(txn, run->dbi, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    uint64_t limit = run->cfg->count ? run->cfg->count : UINT64_MAX;

    pthread_mutex_lock(&run->lock);
    while (!run->go)
        pthread_cond_wait(&run->cond, &run->lock);
    pthread_mutex_unlock(&run->lock);
    while (w->done < limit && !atomic_load_explicit(&run->stop, memory_order_relaxed)) {
        if (run->c->engine == ENGINE_GHOST) {
            int r = ghost_run(run->g, ghost_small_txn, w);
            if (r) {
                w->err = r;
                snprintf(w->msg, sizeof w->msg, "ghost_run: %s%s%s", ghost_strerror(r),
                         *ghost_errmsg() ? ": " : "", ghost_errmsg());
                break;
            }
        } else {
            int rc = raw_small_txn(w);
            if (rc) {
                w->err = rc;
                snprintf(w->msg, sizeof w->msg, "LMDB: %s", mdb_strerror(rc));
                break;
            }
        }
        w->done++;
    }
    clock_gettime(CLOCK_MONOTONIC, &w->end);
    if (w->err)
        atomic_store(&run->stop, true);
    return NULL;
}

/* ---- setting up, checking and removing a store --------------------------- */

static void assign_objects(struct worker *ws, unsigned n, bool contended)
{
    for (unsigned i = 0; i < n; i++) {
        ws[i].id = i;
        ws[i].counter = contended ? SHARED_OID : COUNTER_OID + 2 * (uint64_t)i;
        ws[i].payload = COUNTER_OID + 2 * (uint64_t)i + 1;
    }
}

struct setup {
    struct worker *ws;
    unsigned n;
};

/* Write every counter (at 0) and payload the case will touch. */
static int ghost_setup_txn(struct ghost_txn *txn, void *arg)
{
    struct setup *s = arg;
    unsigned char obj[OBJ_BYTES];
    int r = 0;
    for (unsigned i = 0; i < s->n && !r; i++) {
        make_obj(obj, 0, i);
        r = ghost_obj_put(txn, s->ws[i].counter, OBJ_TYPE, obj, OBJ_BYTES);
        r = r ? r : ghost_obj_put(txn, s->ws[i].payload, OBJ_TYPE, obj, OBJ_BYTES);
    }
    return r;
}

static int raw_setup(struct run *run, struct worker *ws, unsigned n)
{
    unsigned char obj[OBJ_BYTES], key[8];
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(run->env, NULL, 0, &txn);
    for (unsigned i = 0; i < n && !rc; i++) {
        MDB_val k = {8, key}, v = {OBJ_BYTES, obj};
        make_obj(obj, 0, i);
        key_of(key, ws[i].counter);
        rc = mdb_put(txn, run->dbi, &k, &v, 0);
        key_of(key, ws[i].payload);
        rc = rc ? rc : mdb_put(txn, run->dbi, &k, &v, 0);
    }
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

struct verify {
    struct worker *ws;
    unsigned n;
    bool contended;
    char *msg;
    size_t msgsize;
};

/* Compare each counter with the transactions its thread(s) committed. */
static int check_count(struct verify *v, uint64_t oid, uint64_t got, uint64_t want)
{
    if (got == want)
        return 0;
    snprintf(v->msg, v->msgsize,
             "counter %" PRIu64 " holds %" PRIu64 " but %" PRIu64
             " transactions on it reported success",
             oid, got, want);
    return -EIO;
}

static uint64_t committed(const struct verify *v, unsigned i)
{
    uint64_t sum = 0;
    if (!v->contended)
        return v->ws[i].done;
    for (unsigned j = 0; j < v->n; j++)
        sum += v->ws[j].done;
    return sum;
}

static int ghost_verify_txn(struct ghost_txn *txn, void *arg)
{
    struct verify *v = arg;
    unsigned n = v->contended ? 1 : v->n;
    for (unsigned i = 0; i < n; i++) {
        const void *data;
        size_t len;
        int r = ghost_obj_get(txn, v->ws[i].counter, NULL, &data, &len);
        if (r)
            return r;
        r = len == OBJ_BYTES
                ? check_count(v, v->ws[i].counter, counter_value(data), committed(v, i))
                : -EBADMSG;
        if (r)
            return r;
    }
    return 0;
}

static int raw_verify(struct run *run, struct verify *v)
{
    MDB_txn *txn;
    unsigned char key[8];
    int rc = mdb_txn_begin(run->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    for (unsigned i = 0; i < v->n && !rc; i++) {
        MDB_val k = {8, key}, val;
        key_of(key, v->ws[i].counter);
        rc = mdb_get(txn, run->dbi, &k, &val);
        if (rc == 0 && val.mv_size != OBJ_BYTES)
            rc = EBADMSG;
        if (rc == 0 &&
            check_count(v, v->ws[i].counter, counter_value(val.mv_data), committed(v, i)))
            rc = EIO;
    }
    mdb_txn_abort(txn);
    return rc;
}

static void remove_store(const char *path)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    unlink(path);
    unlink(lock);
    snprintf(lock, sizeof lock, "%s-changes", path);
    unlink(lock);
}

/* Open a fresh raw LMDB file (created here, so that it is surely new). */
/* --raw-pwrite: the raw loop's "none" case without MDB_WRITEMAP (LMDB's
 * default way of writing, by pwrite), instead of libghost's own flags. */
static bool raw_pwrite;

static int raw_open(struct run *run, const char *path, enum ghost_sync sync, char *msg,
                    size_t msgsize)
{
    MDB_txn *txn;
    FILE *f = fopen(path, "wx");
    if (!f) {
        snprintf(msg, msgsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    fclose(f);
    int rc = mdb_env_create(&run->env);
    rc = rc ? rc : mdb_env_set_mapsize(run->env, RAW_MAP_BYTES);
    rc = rc ? rc
            : mdb_env_open(run->env, path,
                           /* the LMDB flags libghost itself uses for each mode */
                           MDB_NOSUBDIR | (sync != GHOST_SYNC_NONE ? 0
                                           : raw_pwrite            ? MDB_NOSYNC
                                                                   : MDB_NOSYNC | MDB_WRITEMAP),
                           0644);
    rc = rc ? rc : mdb_txn_begin(run->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &run->dbi);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    if (rc)
        snprintf(msg, msgsize, "%s: LMDB: %s", path, mdb_strerror(rc));
    return rc ? -1 : 0;
}

static int ghost_start(struct run *run, const char *path, enum ghost_sync sync, char *msg,
                       size_t msgsize)
{
    struct ghost_options o;
    ghost_options_init(&o);
    o.sync = sync;
    int r = ghost_mkfs(path);
    r = r ? r : ghost_open(path, &o, &run->g);
    if (r)
        snprintf(msg, msgsize, "%s: %s: %s", path, ghost_strerror(r), ghost_errmsg());
    return r ? -1 : 0;
}

/* ---- one case -------------------------------------------------------------- */

/* Start the threads, let them run, stop them, add up. Returns -1 if a thread
 * failed (its message in msg). */
static int drive(struct run *run, struct worker *ws, struct result *res, char *msg, size_t msgsize)
{
    unsigned n = run->c->threads, started = 0;
    int r = 0;

    pthread_mutex_init(&run->lock, NULL);
    pthread_cond_init(&run->cond, NULL);
    for (; started < n; started++) {
        ws[started].run = run;
        if (pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]))
            break;
    }
    if (started < n) {
        snprintf(msg, msgsize, "cannot start thread %u", started);
        atomic_store(&run->stop, true); /* the threads we have end at once */
        r = -1;
    }
    double t0 = now_s();
    pthread_mutex_lock(&run->lock);
    run->go = true;
    pthread_cond_broadcast(&run->cond);
    pthread_mutex_unlock(&run->lock);
    if (!run->cfg->count) {
        while (!interrupted && !atomic_load(&run->stop) && now_s() - t0 < run->cfg->seconds) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        atomic_store(&run->stop, true);
    }
    double t1 = t0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(ws[i].tid, NULL);
        res->txns += ws[i].done;
        if (ts_s(&ws[i].end) > t1)
            t1 = ts_s(&ws[i].end);
        if (ws[i].err && !r) {
            snprintf(msg, msgsize, "thread %u: %s", i, ws[i].msg);
            r = -1;
        }
    }
    pthread_mutex_destroy(&run->lock);
    pthread_cond_destroy(&run->cond);
    res->seconds = t1 - t0;
    res->rate = res->seconds > 0 ? (double)res->txns / res->seconds : 0;
    return r;
}

static int run_case(const struct config *cfg, const struct bench_case *c, struct result *res,
                    char *msg, size_t msgsize)
{
    static unsigned seq;
    struct worker ws[MAX_THREADS];
    struct run run = {.cfg = cfg, .c = c};
    char path[4096];
    int r;

    memset(ws, 0, sizeof ws);
    memset(res, 0, sizeof *res);
    res->c = *c;
    atomic_init(&run.stop, false);
    assign_objects(ws, c->threads, c->contended);
    snprintf(path, sizeof path, "%s/bench_txn-%d-%u-%s-%s-%u.db", cfg->dir, (int)getpid(), seq++,
             c->engine == ENGINE_GHOST ? "ghost" : "raw", sync_name(c->sync), c->threads);

    struct setup su = {ws, c->threads};
    struct verify v = {ws, c->threads, c->contended, msg, msgsize};
    if (c->engine == ENGINE_GHOST) {
        r = ghost_start(&run, path, c->sync, msg, msgsize);
        if (r)
            goto out;
        r = ghost_run(run.g, ghost_setup_txn, &su);
        if (r) {
            snprintf(msg, msgsize, "setup: %s: %s", ghost_strerror(r), ghost_errmsg());
            goto out;
        }
        struct ghost_stats before, after;
        ghost_stats(run.g, &before);
        r = drive(&run, ws, res, msg, msgsize);
        ghost_stats(run.g, &after);
        res->batches = after.batches - before.batches;
        res->conflicts = after.conflicts - before.conflicts;
        res->retries = after.retries - before.retries;
        if (r == 0 && !interrupted) {
            r = ghost_run(run.g, ghost_verify_txn, &v);
            if (r && r != -EIO)
                snprintf(msg, msgsize, "verify: %s: %s", ghost_strerror(r), ghost_errmsg());
        }
    } else {
        r = raw_open(&run, path, c->sync, msg, msgsize);
        if (r)
            goto out;
        r = raw_setup(&run, ws, c->threads);
        if (r) {
            snprintf(msg, msgsize, "setup: LMDB: %s", mdb_strerror(r));
            goto out;
        }
        r = drive(&run, ws, res, msg, msgsize);
        res->batches = res->txns;
        if (r == 0 && !interrupted) {
            r = raw_verify(&run, &v);
            if (r && r != EIO)
                snprintf(msg, msgsize, "verify: LMDB: %s", mdb_strerror(r));
        }
    }
out:
    if (run.g)
        ghost_close(run.g);
    if (run.env)
        mdb_env_close(run.env);
    remove_store(path);
    return r ? -1 : 0;
}

/* ---- the machine ------------------------------------------------------------- */

static void cpu_model(char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, size, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon)
            continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = 0;
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

static const char *fs_kind(const char *dir)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } kinds[] = {{0x01021994, "tmpfs"}, {0xEF53, "ext2/3/4"},      {0x58465342, "xfs"},
                 {0x9123683E, "btrfs"}, {0x794C7630, "overlayfs"}, {0x6969, "nfs"},
                 {0x2FC12FC1, "zfs"},   {0x65735546, "fuse"},      {0x858458F6, "ramfs"},
                 {0xF2F52010, "f2fs"},  {0x01021997, "9p"},        {0x62656572, "sysfs"}};
    struct statfs st;
    if (statfs(dir, &st) < 0)
        return "unknown";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if ((unsigned long)st.f_type == kinds[i].magic)
            return kinds[i].name;
    return "other";
}

/* ---- output ------------------------------------------------------------------ */

struct ratio {
    char name[96];
    double value, target; /* value: the median over rounds */
    double min, max;      /* the lowest and highest round's */
    unsigned rounds;      /* rounds in which both sides ran */
};

/* Every run so far: runs[i * repeat + j] is the j-th successful run of
 * case i (of n[i]). */
struct all_runs {
    const struct bench_case *cases;
    size_t ncases;
    const struct result *runs;
    const size_t *n;
    unsigned repeat;
};

static long find_case(const struct all_runs *a, enum engine e, enum ghost_sync s, unsigned threads)
{
    for (size_t i = 0; i < a->ncases; i++)
        if (a->cases[i].engine == e && a->cases[i].sync == s && a->cases[i].threads == threads &&
            !a->cases[i].contended)
            return (long)i;
    return -1;
}

/* Rate of case i in `round`, 0 if it has none. */
static double rate_in(const struct all_runs *a, long i, unsigned round)
{
    for (size_t j = 0; j < a->n[i]; j++)
        if (a->runs[(size_t)i * a->repeat + j].round == round)
            return a->runs[(size_t)i * a->repeat + j].rate;
    return 0;
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Ratio of case ia to case ib, round by round. False if no round has both. */
static bool pair_ratio(const struct all_runs *a, long ia, long ib, struct ratio *out)
{
    double v[100];
    unsigned k = 0;
    if (ia < 0 || ib < 0)
        return false;
    for (unsigned round = 0; round < a->repeat && k < 100; round++) {
        double x = rate_in(a, ia, round), y = rate_in(a, ib, round);
        if (x > 0 && y > 0)
            v[k++] = x / y;
    }
    if (k == 0)
        return false;
    qsort(v, k, sizeof *v, by_value);
    out->value = v[(k - 1) / 2];
    out->min = v[0];
    out->max = v[k - 1];
    out->rounds = k;
    return true;
}

static size_t compute_ratios(const struct config *cfg, const struct all_runs *a, struct ratio *out)
{
    size_t k = 0;
    for (size_t i = 0; i < cfg->nthreads; i++) {
        unsigned t = cfg->threads[i];
        if (!pair_ratio(a, find_case(a, ENGINE_GHOST, GHOST_SYNC_NONE, t),
                        find_case(a, ENGINE_RAW, GHOST_SYNC_NONE, t), &out[k]))
            continue;
        snprintf(out[k].name, sizeof out[k].name, "ghost/raw, sync=none, %u thread%s", t,
                 t == 1 ? "" : "s");
        out[k++].target = 0.5;
    }
    if (pair_ratio(a, find_case(a, ENGINE_GHOST, GHOST_SYNC_BATCH, 8),
                   find_case(a, ENGINE_GHOST, GHOST_SYNC_ALWAYS, 8), &out[k])) {
        snprintf(out[k].name, sizeof out[k].name, "ghost sync=batch / sync=always, 8 threads");
        out[k++].target = 10;
    }
    return k;
}

static void print_table(const struct config *cfg, const struct result *rs, size_t n,
                        const struct ratio *ra, size_t nra)
{
    printf("%-16s %-6s %7s %12s %9s %9s %10s %9s", "engine", "sync", "threads", "txn/s", "us/txn",
           "txn/batch", "conflicts", "retries");
    if (cfg->repeat > 1)
        printf(" %10s %10s %4s", "min txn/s", "max txn/s", "runs");
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &rs[i];
        const char *name = r->c.engine == ENGINE_RAW ? "raw-lmdb"
                           : r->c.contended          ? "ghost-contended"
                                                     : "ghost";
        printf("%-16s %-6s %7u %12.0f %9.2f", name, sync_name(r->c.sync), r->c.threads, r->rate,
               r->rate > 0 ? 1e6 / r->rate : 0);
        if (r->c.engine == ENGINE_GHOST)
            printf(" %9.1f %10" PRIu64 " %9" PRIu64,
                   r->batches ? (double)r->txns / (double)r->batches : 0, r->conflicts, r->retries);
        else
            printf(" %9s %10s %9s", "1", "-", "-");
        if (cfg->repeat > 1)
            printf(" %10.0f %10.0f %4u", r->min_rate, r->max_rate, r->nruns);
        putchar('\n');
    }
    if (nra)
        printf("\nratio                                          value   target  met%s\n",
               cfg->repeat > 1 ? "   lowest  highest rounds" : "");
    for (size_t i = 0; i < nra; i++) {
        printf("%-44s %7.2f  >= %-4g  %-4s", ra[i].name, ra[i].value, ra[i].target,
               ra[i].value >= ra[i].target ? "yes" : "NO");
        if (cfg->repeat > 1)
            printf(" %8.2f %8.2f %6u", ra[i].min, ra[i].max, ra[i].rounds);
        putchar('\n');
    }
}

/* Print s as a JSON string literal. */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_json(const struct config *cfg, const char *fs, const char *cpu,
                       const struct result *rs, size_t n, const struct ratio *ra, size_t nra)
{
    printf("{\n  \"dir\": ");
    json_str(cfg->dir);
    printf(",\n  \"filesystem\": ");
    json_str(fs);
    printf(",\n  \"cpu\": ");
    json_str(cpu);
    printf(",\n  \"nproc\": %ld,\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("  \"repeat\": %u,\n", cfg->repeat);
    if (cfg->count)
        printf("  \"count_per_thread\": %" PRIu64 ",\n", cfg->count);
    else
        printf("  \"seconds_per_case\": %g,\n", cfg->seconds);
    printf("  \"results\": [\n");
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &rs[i];
        printf("    {\"engine\": \"%s\", \"sync\": \"%s\", \"threads\": %u, "
               "\"contended\": %s, \"txns\": %" PRIu64 ", \"seconds\": %.4f, "
               "\"txn_per_s\": %.1f, \"batches\": %" PRIu64 ", \"conflicts\": %" PRIu64
               ", \"retries\": %" PRIu64 ", \"runs\": %u, \"min_txn_per_s\": %.1f, "
               "\"max_txn_per_s\": %.1f}%s\n",
               r->c.engine == ENGINE_GHOST ? "ghost" : "raw-lmdb", sync_name(r->c.sync),
               r->c.threads, r->c.contended ? "true" : "false", r->txns, r->seconds, r->rate,
               r->batches, r->conflicts, r->retries, r->nruns, r->min_rate, r->max_rate,
               i + 1 < n ? "," : "");
    }
    printf("  ],\n  \"ratios\": [\n");
    for (size_t i = 0; i < nra; i++)
        printf("    {\"name\": \"%s\", \"value\": %.3f, \"target\": %g, \"met\": %s, "
               "\"lowest\": %.3f, \"highest\": %.3f, \"rounds\": %u}%s\n",
               ra[i].name, ra[i].value, ra[i].target,
               ra[i].value >= ra[i].target ? "true" : "false", ra[i].min, ra[i].max, ra[i].rounds,
               i + 1 < nra ? "," : "");
    printf("  ]\n}\n");
}

/* ---- arguments ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_txn [options]\n"
            "  --dir DIR        where the store files go (default $TMPDIR or /tmp)\n"
            "  --seconds S      run each case S seconds (default 3)\n"
            "  --count N        instead, run N transactions per thread in each case\n"
            "  --threads LIST   thread counts, comma-separated (default 1,2,8; max %d)\n"
            "  --modes LIST     cases to run, comma-separated, from ghost-none,\n"
            "                   ghost-batch, ghost-always, raw-none, raw-always (default all)\n"
            "  --repeat R       run the whole set of cases R times (max 100) and report\n"
            "                   each case's median run, with the lowest and highest\n"
            "  --no-contended   skip the case where all threads share one counter\n"
            "  --json           print JSON instead of a table\n"
            "  --raw-pwrite     raw \"none\" without MDB_WRITEMAP (LMDB's default writes)\n"
            "  --help           this text\n",
            MAX_THREADS);
}

static int bad_arg(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "bench_txn: %s '%s': %s\nTry 'bench_txn --help'.\n", opt, val, why);
    return -1;
}

/* A comma-separated list with no empty item. */
static bool list_ok(const char *s)
{
    size_t n = strlen(s);
    return n && s[0] != ',' && s[n - 1] != ',' && !strstr(s, ",,");
}

static int parse_threads(struct config *cfg, const char *s)
{
    if (!list_ok(s))
        return bad_arg("--threads", s, "expected a comma-separated list such as 1,2,8");
    char *copy = strdup(s), *save = NULL;
    int r = 0;
    cfg->nthreads = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        errno = 0;
        unsigned long t = strtoul(tok, &end, 10);
        if (*tok < '0' || *tok > '9' || *end || errno || t < 1 || t > MAX_THREADS)
            r = bad_arg("--threads", s, "each thread count must be a number from 1 to 64");
        else if (cfg->nthreads == MAX_THREADS)
            r = bad_arg("--threads", s, "too many thread counts");
        else
            cfg->threads[cfg->nthreads++] = (unsigned)t;
    }
    if (!r && cfg->nthreads == 0)
        r = bad_arg("--threads", s, "no thread count given");
    free(copy);
    return r;
}

static int parse_modes(struct config *cfg, const char *s)
{
    if (!list_ok(s))
        return bad_arg("--modes", s, "expected a comma-separated list such as ghost-none,raw-none");
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"ghost-none", MODE_GHOST_NONE},     {"ghost-batch", MODE_GHOST_BATCH},
                 {"ghost-always", MODE_GHOST_ALWAYS}, {"raw-none", MODE_RAW_NONE},
                 {"raw-always", MODE_RAW_ALWAYS},     {"all", MODE_ALL}};
    char *copy = strdup(s), *save = NULL;
    int r = 0;
    cfg->modes = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < sizeof names / sizeof names[0] && strcmp(tok, names[i].name))
            i++;
        if (i == sizeof names / sizeof names[0])
            r = bad_arg("--modes", s, "unknown mode (see --help)");
        else
            cfg->modes |= names[i].bit;
    }
    if (!r && !cfg->modes)
        r = bad_arg("--modes", s, "no mode given");
    free(copy);
    return r;
}

static int parse_args(struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"modes", required_argument, NULL, 'm'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {"no-contended", no_argument, NULL, 'C'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"raw-pwrite", no_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tmp = getenv("TMPDIR");
    bool seconds_given = false;
    unsigned long ul;
    char *end;
    int o;

    cfg->dir = tmp && *tmp ? tmp : "/tmp";
    cfg->seconds = 3;
    cfg->threads[0] = 1, cfg->threads[1] = 2, cfg->threads[2] = 8;
    cfg->nthreads = 3;
    cfg->modes = MODE_ALL;
    cfg->contended = true;
    cfg->repeat = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'P':
            raw_pwrite = true;
            break;
        case 'd':
            cfg->dir = optarg;
            break;
        case 's':
            errno = 0;
            cfg->seconds = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(cfg->seconds > 0 && cfg->seconds <= 3600))
                return bad_arg("--seconds", optarg, "must be a number of seconds in (0, 3600]");
            seconds_given = true;
            break;
        case 'n':
            errno = 0;
            cfg->count = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || errno || cfg->count == 0)
                return bad_arg("--count", optarg, "must be a positive whole number");
            break;
        case 't':
            if (parse_threads(cfg, optarg))
                return -1;
            break;
        case 'm':
            if (parse_modes(cfg, optarg))
                return -1;
            break;
        case 'r':
            errno = 0;
            ul = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || errno || ul < 1 || ul > 100)
                return bad_arg("--repeat", optarg, "must be a whole number from 1 to 100");
            cfg->repeat = (unsigned)ul;
            break;
        case 'C':
            cfg->contended = false;
            break;
        case 'j':
            cfg->json = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default: /* getopt has said what was wrong */
            fprintf(stderr, "Try 'bench_txn --help'.\n");
            return -1;
        }
    }
    if (optind < argc)
        return bad_arg("argument", argv[optind], "this program takes options only");
    if (seconds_given && cfg->count) {
        fprintf(stderr,
                "bench_txn: give --seconds or --count, not both\nTry 'bench_txn --help'.\n");
        return -1;
    }
    struct stat st;
    if (stat(cfg->dir, &st) < 0)
        return bad_arg("--dir", cfg->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bad_arg("--dir", cfg->dir, "not a directory");
    if (access(cfg->dir, W_OK | X_OK) < 0)
        return bad_arg("--dir", cfg->dir, strerror(errno));
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */

/* The cases in the order they run: per thread count, ghost and raw side by
 * side, so that a drift in the machine's speed hits both alike. */
static size_t plan(const struct config *cfg, struct bench_case *cs)
{
    static const struct {
        unsigned bit;
        enum engine e;
        enum ghost_sync s;
    } order[] = {{MODE_GHOST_NONE, ENGINE_GHOST, GHOST_SYNC_NONE},
                 {MODE_RAW_NONE, ENGINE_RAW, GHOST_SYNC_NONE},
                 {MODE_GHOST_BATCH, ENGINE_GHOST, GHOST_SYNC_BATCH},
                 {MODE_GHOST_ALWAYS, ENGINE_GHOST, GHOST_SYNC_ALWAYS},
                 {MODE_RAW_ALWAYS, ENGINE_RAW, GHOST_SYNC_ALWAYS}};
    size_t n = 0;
    unsigned maxt = 0;
    for (size_t i = 0; i < cfg->nthreads; i++) {
        for (size_t j = 0; j < sizeof order / sizeof order[0]; j++)
            if (cfg->modes & order[j].bit)
                cs[n++] = (struct bench_case){order[j].e, order[j].s, cfg->threads[i], false};
        if (cfg->threads[i] > maxt)
            maxt = cfg->threads[i];
    }
    if (cfg->contended && maxt > 1)
        cs[n++] = (struct bench_case){ENGINE_GHOST, GHOST_SYNC_NONE, maxt, true};
    return n;
}

static int by_rate(const void *a, const void *b)
{
    const struct result *x = a, *y = b;
    return x->rate < y->rate ? -1 : x->rate > y->rate;
}

/* Fold the successful runs of one case into its median run. Returns false
 * if no run succeeded. */
static bool summarize(struct result *runs, size_t k, struct result *out)
{
    if (k == 0)
        return false;
    qsort(runs, k, sizeof *runs, by_rate);
    *out = runs[(k - 1) / 2];
    out->nruns = (unsigned)k;
    out->min_rate = runs[0].rate;
    out->max_rate = runs[k - 1].rate;
    return true;
}

int main(int argc, char **argv)
{
    static struct bench_case cases[MAX_THREADS * 5 + 1];
    static struct result results[MAX_THREADS * 5 + 1];
    struct ratio ratios[MAX_THREADS + 1];
    struct config cfg = {0};
    static char msg[8192];
    char cpu[256];
    int status = 0;

    if (parse_args(&cfg, argc, argv))
        return 2;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const char *fs = fs_kind(cfg.dir);
    cpu_model(cpu, sizeof cpu);
    size_t ncases = plan(&cfg, cases), nres = 0;
    /* runs[i * repeat + j]: the j-th successful run of case i. */
    struct result *runs = calloc(ncases * cfg.repeat, sizeof *runs);
    size_t *nruns = calloc(ncases, sizeof *nruns);
    if (!runs || !nruns) {
        fprintf(stderr, "bench_txn: out of memory\n");
        return 1;
    }
    if (!cfg.json) {
        printf("bench_txn: %s (%s), %ld CPUs (%s), LMDB %d.%d.%d, libghost %s\n", cfg.dir, fs,
               sysconf(_SC_NPROCESSORS_ONLN), cpu, MDB_VERSION_MAJOR, MDB_VERSION_MINOR,
               MDB_VERSION_PATCH, GHOST_VERSION);
        if (cfg.count)
            printf("%" PRIu64 " transactions per thread per case", cfg.count);
        else
            printf("%g s per case", cfg.seconds);
        if (cfg.repeat > 1)
            printf(", %u rounds of all cases, the median run of each shown\n"
                   "(a ratio: the median over rounds of the two sides' runs in one round)",
                   cfg.repeat);
        printf(";\na transaction reads a 64-byte counter, writes it back +1 and writes a "
               "64-byte payload\n\n");
        fflush(stdout);
    }
    /* Round after round of every case, so that a passing disturbance of
     * the machine spoils one run of several cases, not every run of one. */
    for (unsigned round = 0; round < cfg.repeat && !interrupted; round++) {
        for (size_t i = 0; i < ncases && !interrupted; i++) {
            struct result *r = &runs[i * cfg.repeat + nruns[i]];
            if (run_case(&cfg, &cases[i], r, msg, sizeof msg)) {
                fprintf(stderr, "bench_txn: %s sync=%s, %u threads%s: %s\n",
                        cases[i].engine == ENGINE_GHOST ? "ghost" : "raw-lmdb",
                        sync_name(cases[i].sync), cases[i].threads,
                        cases[i].contended ? " (contended)" : "", msg);
                status = 1;
                continue;
            }
            if (!interrupted) {
                r->round = round;
                nruns[i]++;
            }
        }
    }
    /* Ratios first: summarize() sorts each case's runs. */
    struct all_runs all = {cases, ncases, runs, nruns, cfg.repeat};
    size_t nra = compute_ratios(&cfg, &all, ratios);
    for (size_t i = 0; i < ncases; i++)
        if (summarize(&runs[i * cfg.repeat], nruns[i], &results[nres]))
            nres++;
    free(runs);
    free(nruns);
    if (cfg.json)
        print_json(&cfg, fs, cpu, results, nres, ratios, nra);
    else if (nres)
        print_table(&cfg, results, nres, ratios, nra);
    fflush(stdout);
    if (interrupted) {
        fprintf(stderr, "bench_txn: interrupted; store files removed\n");
        return 130;
    }
    return status;
}
