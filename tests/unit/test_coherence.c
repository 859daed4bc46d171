/*
 * test_coherence.c - connections noticing each other's commits: connection A
 * (this process) caches objects; connection B (a worker process, or a second
 * ghost_open() in this process) changes some; ghost_refresh() in A must hand
 * exactly the changed OIDs to the invalidate callback, return 0 in O(1) when
 * nothing changed, drop everything (oid 0, INT32_MAX) when A fell behind the
 * pruned change log, and with opts.poll do it by itself within a couple of
 * seconds while costing next to nothing when idle.
 *
 * The worker is forked before this process opens the store, takes commands
 * on a pipe and answers each with the result of its commit.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ghost.h"
#include "proc.h"
#include <sys/stat.h>

#include "util.h"

/* The change log's ring has this many entries (set by the fixture, which
 * creates it); the worker changes more OIDs than that to make A fall
 * behind. */
#define LOG_KEEPS 4096
#define FALL_BEHIND_COMMITS 5000

static char path[4352];
static uint64_t X, Y, Z, W; /* X=1, Y=2, Z=3, W=0 */

/* --- the invalidate callback's record ------------------------------------------- */

#define SEEN_MAX 64

static struct {
    pthread_mutex_t lock;
    uint64_t oids[SEEN_MAX]; /* the first SEEN_MAX OIDs passed */
    int calls;
    int zero; /* calls with oid 0 */
    double first_at;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_invalidate(void *arg, uint64_t oid)
{
    pthread_mutex_lock(&seen.lock);
    if (seen.calls < SEEN_MAX)
        seen.oids[seen.calls] = oid;
    if (!seen.calls)
        seen.first_at = proc_now();
    seen.calls++;
    if (oid == 0)
        seen.zero++;
    pthread_mutex_unlock(&seen.lock);
}

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    seen.calls = seen.zero = 0;
    seen.first_at = 0;
    pthread_mutex_unlock(&seen.lock);
}

static int seen_calls(void)
{
    pthread_mutex_lock(&seen.lock);
    int n = seen.calls;
    pthread_mutex_unlock(&seen.lock);
    return n;
}

/* Calls that named oid. */
static int seen_count(uint64_t oid)
{
    int n = 0;
    pthread_mutex_lock(&seen.lock);
    for (int i = 0; i < seen.calls && i < SEEN_MAX; i++)
        n += seen.oids[i] == oid;
    pthread_mutex_unlock(&seen.lock);
    return n;
}

/* --- connections ------------------------------------------------------------------- */

static struct ghost *open_a(bool poll)
{
    struct ghost_options opts;
    struct ghost *g = NULL;
    ghost_options_init(&opts);
    opts.sync = GHOST_SYNC_NONE;
    opts.poll = poll;
    opts.invalidate = on_invalidate;
    opts.invalidate_arg = &seen;
    OK(ghost_open(path, &opts, &g));
    return g;
}

static int64_t get_u64(struct ghost *g, uint64_t oid)
{
    struct ghost_txn *t;
    const void *data;
    size_t len;
    uint64_t v = 0;
    OK(ghost_txn_begin(g, &t));
    int r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r == 0) {
        ck_assert_uint_eq(len, sizeof v);
        memcpy(&v, data, sizeof v);
    }
    OK(ghost_txn_commit(t));
    return r < 0 ? r : (int64_t)v;
}

static int put_u64(struct ghost *g, uint64_t oid, uint64_t v)
{
    struct ghost_txn *t;
    int r = ghost_txn_begin(g, &t);
    if (r < 0)
        return r;
    r = ghost_obj_put(t, oid, 1, &v, sizeof v);
    if (r < 0) {
        ghost_txn_abort(t);
        return r;
    }
    return ghost_txn_commit(t);
}

/* --- the worker (connection B) ------------------------------------------------------ */

enum { CMD_PUT, CMD_PUT_MANY, CMD_QUIT };

struct cmd {
    int op;
    uint32_t count; /* CMD_PUT_MANY: transactions, each oid = value + k */
    uint64_t oid, value;
};

static struct {
    pid_t pid;
    int to, from; /* pipe ends: commands to it, results from it */
} worker = {.to = -1, .from = -1};

static int worker_main(int in, int out)
{
    struct ghost_options opts;
    struct ghost *g;
    ghost_options_init(&opts);
    opts.sync = GHOST_SYNC_NONE;
    int r = ghost_open(path, &opts, &g);
    if (write_full(out, &r, sizeof r) < 0 || r < 0)
        return 2;
    struct cmd c;
    while (read_full(in, &c, sizeof c, 300) == 0) {
        switch (c.op) {
        case CMD_PUT:
            r = put_u64(g, c.oid, c.value);
            break;
        case CMD_PUT_MANY:
            r = 0;
            for (uint32_t k = 0; k < c.count && r == 0; k++)
                r = put_u64(g, c.oid, c.value + k);
            break;
        case CMD_QUIT:
            ghost_close(g);
            return 0;
        }
        if (r < 0)
            fprintf(stderr, "worker: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        if (write_full(out, &r, sizeof r) < 0)
            return 3;
    }
    return 4;
}

static void worker_start(void)
{
    int to[2], from[2];
    ck_assert_int_eq(pipe(to), 0);
    ck_assert_int_eq(pipe(from), 0);
    worker.pid = child_spawn();
    if (worker.pid == 0) {
        close(to[1]);
        close(from[0]);
        child_exit(worker_main(to[0], from[1]));
    }
    close(to[0]);
    close(from[1]);
    worker.to = to[1];
    worker.from = from[0];
    int r = -1;
    ck_assert_msg(read_full(worker.from, &r, sizeof r, 30) == 0, "worker did not start");
    ck_assert_msg(r == 0, "worker: ghost_open: %s", ghost_strerror(r));
}

/* Have the worker run a command; returns its result. */
static int worker_do(int op, uint64_t oid, uint64_t value, uint32_t count)
{
    struct cmd c = {.op = op, .count = count, .oid = oid, .value = value};
    int r = -1;
    ck_assert_int_eq(write_full(worker.to, &c, sizeof c), 0);
    ck_assert_msg(read_full(worker.from, &r, sizeof r, 120) == 0, "worker did not answer");
    return r;
}

static void worker_stop(void)
{
    if (!worker.pid)
        return;
    struct cmd c = {.op = CMD_QUIT};
    write_full(worker.to, &c, sizeof c);
    int code = child_wait(worker.pid, 10);
    worker.pid = 0;
    close(worker.to);
    close(worker.from);
    worker.to = worker.from = -1;
    ck_assert_msg(code == 0, "worker ended with %d", code);
}

/* --- fixture ------------------------------------------------------------------------ */

static void setup(void)
{
    snprintf(path, sizeof path, "%s", test_new_store("coherence"));
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_options opts;
    ghost_options_init(&opts);
    opts.log_entries = LOG_KEEPS; /* the first opener sets the ring up */
    OK(ghost_open(path, &opts, &g));
    OK(ghost_txn_begin(g, &t));
    OK(ghost_oid_alloc(t, &X));
    OK(ghost_oid_alloc(t, &Y));
    OK(ghost_oid_alloc(t, &Z));
    OK(ghost_oid_alloc(t, &W));
    uint64_t v[4] = {1, 2, 3, 0};
    OK(ghost_obj_put(t, X, 1, &v[0], 8));
    OK(ghost_obj_put(t, Y, 1, &v[1], 8));
    OK(ghost_obj_put(t, Z, 1, &v[2], 8));
    OK(ghost_obj_put(t, W, 1, &v[3], 8));
    OK(ghost_txn_commit(t));
    ghost_close(g); /* before forking the worker */
    seen_reset();
}

static void teardown(void)
{
    if (worker.pid) {
        child_kill(worker.pid);
        worker.pid = 0;
    }
    child_kill_all();
    if (worker.to >= 0)
        close(worker.to);
    if (worker.from >= 0)
        close(worker.from);
    worker.to = worker.from = -1;
    remove_store(path);
}

/* Read X, Y, Z so that A caches them. */
static void cache_xyz(struct ghost *a)
{
    ck_assert_int_eq(get_u64(a, X), 1);
    ck_assert_int_eq(get_u64(a, Y), 2);
    ck_assert_int_eq(get_u64(a, Z), 3);
}

/* --- tests ---------------------------------------------------------------------------- */

START_TEST(refresh_invalidates_what_changed)
{
    worker_start();
    struct ghost *a = open_a(false);
    cache_xyz(a);
    ck_assert_int_eq(ghost_refresh(a), 0);
    seen_reset();
    struct ghost_stats st0, st;
    ghost_stats(a, &st0);

    ck_assert_int_eq(worker_do(CMD_PUT, X, 10, 0), 0);
    int n = ghost_refresh(a);
    printf("refresh after B changed X: returned %d, %d callback(s)\n", n, seen_calls());
    ck_assert_int_ge(n, 1);
    ck_assert_int_ne(n, INT32_MAX);
    ck_assert_int_ge(seen_calls(), 1);
    ck_assert_int_eq(seen_count(X), seen_calls()); /* X and nothing else */
    ck_assert_int_eq(seen_count(Y), 0);
    ck_assert_int_eq(seen_count(Z), 0);
    ck_assert_int_eq(seen_count(0), 0);
    ghost_stats(a, &st);
    ck_assert_uint_ge(st.invalidations - st0.invalidations, 1);
    ck_assert_uint_ge(st.generation, st0.generation + 1);

    ck_assert_int_eq(get_u64(a, X), 10);
    ck_assert_int_eq(get_u64(a, Y), 2);
    ck_assert_int_eq(get_u64(a, Z), 3);
    ck_assert_int_eq(ghost_refresh(a), 0);

    /* without a refresh, beginning a transaction notices the change */
    seen_reset();
    ck_assert_int_eq(worker_do(CMD_PUT, Y, 20, 0), 0);
    ck_assert_int_eq(get_u64(a, Y), 20);
    ck_assert_int_ge(seen_count(Y), 1);
    ck_assert_int_eq(seen_count(Y), seen_calls());

    ghost_close(a);
    worker_stop();
}
END_TEST

START_TEST(refresh_with_nothing_changed)
{
    worker_start();
    struct ghost *a = open_a(false);
    cache_xyz(a);
    /* a few thousand more cached objects must not make the check slower */
    static uint64_t oids[3000];
    uint64_t v = 5;
    struct ghost_txn *t;
    OK(ghost_txn_begin(a, &t));
    for (int i = 0; i < 3000; i++) {
        OK(ghost_oid_alloc(t, &oids[i]));
        OK(ghost_obj_put(t, oids[i], 1, &v, sizeof v));
    }
    OK(ghost_txn_commit(t));
    OK(ghost_txn_begin(a, &t));
    for (int i = 0; i < 3000; i++)
        OK(ghost_obj_get(t, oids[i], NULL, NULL, NULL));
    OK(ghost_txn_commit(t));
    ck_assert_int_eq(worker_do(CMD_PUT_MANY, W, 1, 10), 0);
    ck_assert_int_ge(ghost_refresh(a), 1);
    ck_assert_int_eq(ghost_refresh(a), 0);
    seen_reset();

    double t0 = proc_now();
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(ghost_refresh(a), 0);
    double dt = proc_now() - t0;
    printf("refresh with nothing changed: %.2f us per call\n", dt / 10000 * 1e6);
    ck_assert_int_eq(seen_calls(), 0);
    ck_assert_msg(dt < 1.0, "10000 idle refreshes took %.2f s", dt);

    /* A's own commit is not somebody else's change */
    ck_assert_int_eq(put_u64(a, Z, 30), 0);
    int n = ghost_refresh(a);
    printf("refresh after A's own commit: %d, %d callback(s)\n", n, seen_calls());
    ck_assert_int_eq(seen_count(0), 0);
    ck_assert_int_eq(get_u64(a, Z), 30);

    ghost_close(a);
    worker_stop();
}
END_TEST

START_TEST(fell_behind_the_log)
{
    worker_start();
    struct ghost *a = open_a(false);
    cache_xyz(a);
    ck_assert_int_eq(ghost_refresh(a), 0);
    seen_reset();

    ck_assert_int_eq(worker_do(CMD_PUT, X, 10, 0), 0);
    double t0 = proc_now();
    ck_assert_int_eq(worker_do(CMD_PUT_MANY, W, 1, FALL_BEHIND_COMMITS), 0);
    printf("fell behind: B committed %d transactions in %.2f s\n", FALL_BEHIND_COMMITS,
           proc_now() - t0);

    struct ghost_stats st0;
    ghost_stats(a, &st0);
    int n = ghost_refresh(a);
    printf("fell behind: refresh returned %d, %d callback(s), %d with oid 0\n", n, seen_calls(),
           seen_count(0));
    ck_assert_int_eq(n, INT32_MAX);
    ck_assert_int_ge(seen_count(0), 1);

    ck_assert_int_eq(get_u64(a, X), 10);
    ck_assert_int_eq(get_u64(a, Y), 2);
    ck_assert_int_eq(get_u64(a, Z), 3);
    ck_assert_int_eq(get_u64(a, W), FALL_BEHIND_COMMITS);
    ck_assert_int_eq(ghost_refresh(a), 0);

    /* and it keeps following afterwards */
    seen_reset();
    ck_assert_int_eq(worker_do(CMD_PUT, Y, 21, 0), 0);
    ck_assert_int_ge(ghost_refresh(a), 1);
    ck_assert_int_eq(seen_count(Y), seen_calls());
    ck_assert_int_eq(get_u64(a, Y), 21);

    ghost_close(a);
    worker_stop();
}
END_TEST

START_TEST(poll_notices_by_itself)
{
    worker_start();
    struct ghost *a = open_a(true);
    cache_xyz(a);
    /* A has nothing left to notice (refreshes are serialized, so the
     * poller's, if one is running, has ended): any callback from here on is
     * for what B commits next. The test's own refresh comes before B's
     * commit; only the poller can notice that. */
    ck_assert_int_eq(ghost_refresh(a), 0);
    seen_reset();

    ck_assert_int_eq(worker_do(CMD_PUT, X, 50, 0), 0);
    double t0 = proc_now();
    while (seen_count(X) == 0 && proc_now() - t0 < 5)
        proc_sleep_ms(20);
    double latency = proc_now() - t0;
    printf("poll: the callback came %.2f s after B's commit\n", latency);
    ck_assert_msg(seen_count(X) >= 1, "no callback within 5 s with opts.poll");
    ck_assert_int_eq(seen_count(Y), 0);
    ck_assert_int_eq(seen_count(Z), 0);
    ck_assert_int_eq(seen_count(0), 0);
    ck_assert_int_eq(get_u64(a, X), 50);

    ghost_close(a);
    worker_stop();
}
END_TEST

/* Context switches of every thread of this process but the calling one. */
static uint64_t other_threads_switches(int *threads)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    uint64_t sum = 0;
    pid_t self = gettid();
    *threads = 0;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        char p[300], line[256];
        snprintf(p, sizeof p, "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        (*threads)++;
        while (fgets(line, sizeof line, f)) {
            const char *v = strchr(line, ':');
            if (v && (!strncmp(line, "voluntary_ctxt_switches", 23) ||
                      !strncmp(line, "nonvoluntary_ctxt_switches", 26)))
                sum += strtoull(v + 1, NULL, 10);
        }
        fclose(f);
    }
    closedir(d);
    return sum;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

START_TEST(idle_costs_little)
{
    /* a cache with thousands of objects in it, to show idle cost does not
     * grow with them */
    struct ghost *a = open_a(true);
    struct ghost_txn *t;
    uint64_t v = 7;
    static uint64_t oids[5000];
    OK(ghost_txn_begin(a, &t));
    for (int i = 0; i < 5000; i++) {
        OK(ghost_oid_alloc(t, &oids[i]));
        OK(ghost_obj_put(t, oids[i], 1, &v, sizeof v));
    }
    OK(ghost_txn_commit(t));
    /* A connection that has just committed keeps its committer's sync timer
     * running until a second after its last unsynced commit. Rather than
     * sleep and hope that has passed, start idling from a connection that
     * has committed nothing: closing syncs everything and stops the timer,
     * and a new connection's committer sleeps until work arrives. Reads do
     * not wake it. */
    ghost_close(a);
    a = open_a(true);
    OK(ghost_txn_begin(a, &t));
    for (int i = 0; i < 5000; i++)
        OK(ghost_obj_get(t, oids[i], NULL, NULL, NULL));
    OK(ghost_txn_commit(t));
    struct ghost_stats st;
    ghost_stats(a, &st);
    ck_assert_uint_ge(st.cache_loaded, 5000);

    int threads;
    double cpu0 = cpu_seconds();
    uint64_t sw0 = other_threads_switches(&threads);
    proc_sleep_ms(3000);
    uint64_t sw1 = other_threads_switches(&threads);
    double cpu = cpu_seconds() - cpu0;
    printf("idle 3 s with poll on: %.4f s CPU, %" PRIu64
           " context switches in %d library thread(s)\n",
           cpu, sw1 - sw0, threads);
    ck_assert_msg(cpu < 0.1, "idle connection used %.3f s CPU in 3 s", cpu);
    /* "wakes at most once a second", loosely: a handful of wakeups per
     * second across all library threads, not a busy timer */
    ck_assert_msg(sw1 - sw0 <= 30, "%" PRIu64 " context switches in 3 s of idling", sw1 - sw0);
    ghost_close(a);
}
END_TEST

START_TEST(two_connections_in_one_process)
{
    struct ghost *a = open_a(false);
    struct ghost *b;
    OK(ghost_open(path, NULL, &b));
    cache_xyz(a);
    ck_assert_int_eq(get_u64(b, X), 1);
    ck_assert_int_eq(ghost_refresh(a), 0);
    seen_reset();

    ck_assert_int_eq(put_u64(b, X, 77), 0);
    int n = ghost_refresh(a);
    printf("same process: refresh returned %d, %d callback(s)\n", n, seen_calls());
    ck_assert_int_ge(n, 1);
    ck_assert_int_ge(seen_count(X), 1);
    ck_assert_int_eq(seen_count(X), seen_calls());
    ck_assert_int_eq(get_u64(a, X), 77);
    ck_assert_int_eq(get_u64(a, Y), 2);

    /* and the other way round */
    ck_assert_int_eq(put_u64(a, Y, 88), 0);
    ck_assert_int_eq(get_u64(b, Y), 88);
    ghost_close(b);
    ck_assert_int_eq(get_u64(a, Y), 88);
    ghost_close(a);
}
END_TEST

/* A connection never takes its own commits for another's: threads commit
 * while others refresh, and no invalidation comes of it. (Before entries
 * named their writer, a refresh that ran between a commit and its being
 * marked as ours invalidated what we had just written.) */
#define OWN_THREADS 3
#define OWN_COMMITS 4000

struct own_arg {
    struct ghost *g;
    uint64_t oid;
};

static void *own_worker(void *p)
{
    struct own_arg *a = p;
    for (uint64_t i = 1; i <= OWN_COMMITS; i++) {
        if (put_u64(a->g, a->oid, i) != 0)
            return (void *)1;
        if (i % 7 == 0)
            ghost_refresh(a->g);
    }
    return NULL;
}

START_TEST(own_commits_invalidate_nothing)
{
    struct ghost *a = open_a(false);
    pthread_t th[OWN_THREADS];
    struct own_arg args[OWN_THREADS];
    uint64_t oids[OWN_THREADS] = {X, Y, Z};
    struct ghost_stats st;
    seen_reset();
    for (int i = 0; i < OWN_THREADS; i++) {
        args[i] = (struct own_arg){a, oids[i]};
        ck_assert_int_eq(pthread_create(&th[i], NULL, own_worker, &args[i]), 0);
    }
    for (int i = 0; i < OWN_THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        ck_assert_msg(ret == NULL, "thread %d failed a commit", i);
    }
    ghost_refresh(a);
    ghost_stats(a, &st);
    printf("own commits: %d threads x %d commits, %d invalidation callback(s), %llu "
           "invalidations\n",
           OWN_THREADS, OWN_COMMITS, seen_calls(), (unsigned long long)st.invalidations);
    ck_assert_int_eq(seen_calls(), 0);
    ck_assert_uint_eq(st.invalidations, 0);
    for (int i = 0; i < OWN_THREADS; i++)
        ck_assert_int_eq(get_u64(a, oids[i]), OWN_COMMITS);
    ghost_close(a);
}
END_TEST

/* A read-only connection that cannot have the change log (nobody had made
 * it when it opened, and it may not create it) still sees every change: it
 * drops its whole cache whenever the store moved. */
START_TEST(read_only_without_change_log)
{
    char changes[4400];
    struct ghost_options o;
    struct ghost *r, *w;
    snprintf(changes, sizeof changes, "%s-changes", path);
    ck_assert_int_eq(unlink(changes), 0);
    ghost_options_init(&o);
    o.readonly = true;
    o.invalidate = on_invalidate;
    o.invalidate_arg = &seen;
    OK(ghost_open(path, &o, &r));
    ck_assert_msg(access(changes, F_OK) != 0, "a read-only open created %s", changes);
    ck_assert_int_eq(get_u64(r, X), 1);
    seen_reset();

    OK(ghost_open(path, NULL, &w)); /* a writer makes the change log */
    ck_assert_int_eq(put_u64(w, X, 55), 0);
    ck_assert_int_eq(ghost_refresh(r), INT32_MAX);
    ck_assert_int_eq(seen.zero, 1);
    ck_assert_int_eq(get_u64(r, X), 55);
    ghost_close(w);
    ghost_close(r);
}
END_TEST

/* A change log left by another store that had the same path is set up
 * anew, and the connections of the new store see each other's changes. */
START_TEST(change_log_of_another_store)
{
    struct ghost *a, *b;
    char lock[4400];
    snprintf(lock, sizeof lock, "%s-lock", path);
    ck_assert_int_eq(unlink(path), 0);
    unlink(lock);
    OK(ghost_mkfs(path)); /* same path, new uuid; the old -changes stays */
    char changes[4400];
    struct stat st;
    snprintf(changes, sizeof changes, "%s-changes", path);
    ck_assert_int_eq(stat(changes, &st), 0);
    off_t old_size = st.st_size; /* the fixture made it with LOG_KEEPS entries */
    OK(ghost_open(path, NULL, &a));
    ck_assert_int_eq(stat(changes, &st), 0);
    ck_assert_msg(st.st_size > old_size,
                  "the old store's change log (%lld bytes) was kept "
                  "(%lld bytes now) instead of set up with the default size",
                  (long long)old_size, (long long)st.st_size);
    OK(ghost_open(path, NULL, &b));
    ck_assert_int_eq(put_u64(a, 100, 1), 0);
    ck_assert_int_eq(get_u64(b, 100), 1);
    ck_assert_int_eq(put_u64(a, 100, 2), 0);
    ck_assert_int_ge(ghost_refresh(b), 1);
    ck_assert_int_eq(get_u64(b, 100), 2);
    ghost_close(b);
    ghost_close(a);
}
END_TEST

/* A commit that changed nothing (a delete of what does not exist) is no
 * generation: another process's next commit, which LMDB gives the id the
 * empty one would have had, must still be noticed. */
START_TEST(commit_that_changed_nothing)
{
    struct ghost *a = open_a(false);
    ck_assert_int_eq(get_u64(a, X), 1);
    worker_start();
    struct ghost_txn *t;
    OK(ghost_txn_begin(a, &t));
    OK(ghost_obj_del(t, 999999)); /* never existed */
    OK(ghost_txn_commit(t));
    seen_reset();
    ck_assert_int_eq(worker_do(CMD_PUT, X, 41, 1), 0);
    int n = ghost_refresh(a);
    printf("after an empty commit: refresh returned %d, %d callback(s)\n", n, seen_calls());
    ck_assert_int_ge(n, 1);
    ck_assert_int_ge(seen_count(X), 1);
    ck_assert_int_eq(get_u64(a, X), 41);
    worker_stop();
    ghost_close(a);
}
END_TEST

static Suite *coherence_suite(void)
{
    Suite *s = suite_create("coherence");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, refresh_invalidates_what_changed);
    tcase_add_test(tc, refresh_with_nothing_changed);
    tcase_add_test(tc, fell_behind_the_log);
    tcase_add_test(tc, poll_notices_by_itself);
    tcase_add_test(tc, idle_costs_little);
    tcase_add_test(tc, two_connections_in_one_process);
    tcase_add_test(tc, own_commits_invalidate_nothing);
    tcase_add_test(tc, read_only_without_change_log);
    tcase_add_test(tc, change_log_of_another_store);
    tcase_add_test(tc, commit_that_changed_nothing);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(coherence_suite)
