/*
 * test_committer.c - group commit and durability: concurrent commits share
 * LMDB write transactions with sync=batch (and do not with sync=always); a
 * small map grows under a stream of small commits; ghost_sync() followed by
 * kill -9 loses nothing committed before the sync; and a store killed in the
 * middle of a stream of commits, in each of the three sync modes, opens with
 * every object readable, every pair written in one transaction still
 * agreeing, and every acknowledged commit present.
 *
 * A killed child commits from COMMITTERS threads at once so that batches are
 * in flight when the signal lands. Each thread owns a pair of objects
 * (counter, companion) and a run of keys in one map, all written together in
 * each of its transactions; the parent checks all three agree.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghost.h"
#include "proc.h"
#include "util.h"

static const char *sync_name[] = {"batch", "always", "none"};

static char path[4352];

static struct ghost *open_store(enum ghost_sync sync)
{
    struct ghost_options opts;
    struct ghost *g = NULL;
    ghost_options_init(&opts);
    opts.sync = sync;
    OK(ghost_open(path, &opts, &g));
    return g;
}

static void teardown(void)
{
    child_kill_all();
    remove_store(path);
}

/* --- group commit --------------------------------------------------------------- */

#define THREADS 8

struct writer {
    struct ghost *g;
    uint64_t oid;
    int commits;
    int failures;
    int first_error;
};

static int bump(struct ghost_txn *t, void *arg)
{
    uint64_t oid = *(const uint64_t *)arg, v = 0;
    const void *data;
    size_t len;
    int r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && len == sizeof v)
        memcpy(&v, data, sizeof v);
    v++;
    return ghost_obj_put(t, oid, 1, &v, sizeof v);
}

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->commits; i++) {
        int r = ghost_run(w->g, bump, &w->oid);
        if (r < 0 && !w->failures++)
            w->first_error = r;
    }
    return NULL;
}

/* THREADS threads commit `per_thread` transactions each, every thread on its
 * own object (so nothing conflicts); returns the stats deltas. */
static void concurrent_commits(enum ghost_sync sync, int per_thread, uint64_t *commits,
                               uint64_t *batches, uint64_t *conflicts, double *secs)
{
    struct ghost *g = open_store(sync);
    struct writer w[THREADS];
    pthread_t th[THREADS];
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){.g = g, .commits = per_thread};
        OK(ghost_oid_alloc(t, &w[i].oid));
    }
    OK(ghost_txn_commit(t)); /* wrote nothing */

    struct ghost_stats st0, st;
    ghost_stats(g, &st0);
    double t0 = proc_now();
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_thread, &w[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    *secs = proc_now() - t0;
    ghost_stats(g, &st);
    for (int i = 0; i < THREADS; i++)
        ck_assert_msg(w[i].failures == 0, "thread %d: %d failed commits, first: %s", i,
                      w[i].failures, ghost_strerror(w[i].first_error));
    *commits = st.commits - st0.commits;
    *batches = st.batches - st0.batches;
    *conflicts = st.conflicts - st0.conflicts;

    /* every object holds its thread's count */
    OK(ghost_txn_begin(g, &t));
    for (int i = 0; i < THREADS; i++) {
        const void *data;
        size_t len;
        uint64_t v = 0;
        OK(ghost_obj_get(t, w[i].oid, NULL, &data, &len));
        ck_assert_uint_eq(len, sizeof v);
        memcpy(&v, data, sizeof v);
        ck_assert_uint_eq(v, (uint64_t)per_thread);
    }
    OK(ghost_txn_commit(t));
    OK(ghost_sync(g));
    ghost_close(g);
    printf("group commit, sync=%s: %d threads x %d: %" PRIu64 " commits in %" PRIu64
           " batches (%.1f per batch), %" PRIu64 " conflicts, %.2f s\n",
           sync_name[sync], THREADS, per_thread, *commits, *batches,
           *batches ? (double)*commits / (double)*batches : 0.0, *conflicts, *secs);
}

START_TEST(batch_groups_commits)
{
    uint64_t commits, batches, conflicts;
    double secs;
    snprintf(path, sizeof path, "%s", test_new_store("batch"));
    concurrent_commits(GHOST_SYNC_BATCH, 200, &commits, &batches, &conflicts, &secs);
    ck_assert_uint_eq(commits, THREADS * 200);
    ck_assert_uint_eq(conflicts, 0);
    ck_assert_uint_gt(batches, 0);
    ck_assert_msg(batches < commits, "no batching: %" PRIu64 " batches for %" PRIu64 " commits",
                  batches, commits);
}
END_TEST

START_TEST(always_commits_one_by_one)
{
    uint64_t commits, batches, conflicts;
    double secs;
    snprintf(path, sizeof path, "%s", test_new_store("always"));
    concurrent_commits(GHOST_SYNC_ALWAYS, 25, &commits, &batches, &conflicts, &secs);
    ck_assert_uint_eq(commits, THREADS * 25);
    ck_assert_uint_eq(batches, commits);
}
END_TEST

START_TEST(none_groups_commits)
{
    uint64_t commits, batches, conflicts;
    double secs;
    snprintf(path, sizeof path, "%s", test_new_store("none"));
    concurrent_commits(GHOST_SYNC_NONE, 200, &commits, &batches, &conflicts, &secs);
    ck_assert_uint_eq(commits, THREADS * 200);
    ck_assert_uint_gt(batches, 0);
    ck_assert_uint_le(batches, commits);
}
END_TEST

/* --- map growth ---------------------------------------------------------------------- */

#define SMALL_COMMITS 6000
#define SMALL_BYTES 1024

static int put_new(struct ghost_txn *t, void *arg)
{
    uint64_t *oid = arg;
    unsigned char buf[SMALL_BYTES];
    int r = ghost_oid_alloc(t, oid);
    if (r < 0)
        return r;
    memset(buf, (int)(*oid & 0xff), sizeof buf);
    memcpy(buf, oid, sizeof *oid);
    return ghost_obj_put(t, *oid, 1, buf, sizeof buf);
}

/* The committer looks at the map's usage only now and then; a stream of
 * small commits that fills a small map many times over must still find
 * the map grown in time, and lose nothing. */
START_TEST(map_grows_under_small_commits)
{
    struct ghost_options opts;
    struct ghost *g;
    struct ghost_stats st;
    static uint64_t oids[SMALL_COMMITS];

    snprintf(path, sizeof path, "%s", test_new_store("grow"));
    ghost_options_init(&opts);
    opts.sync = GHOST_SYNC_NONE;
    opts.map_bytes = 1 << 20;
    OK(ghost_open(path, &opts, &g));
    for (int i = 0; i < SMALL_COMMITS; i++)
        OK(ghost_run(g, put_new, &oids[i]));
    ghost_stats(g, &st);
    ck_assert_msg(st.map_grows > 0, "map_grows = %" PRIu64, st.map_grows);
    ck_assert_msg(st.map_bytes >= (uint64_t)SMALL_COMMITS * SMALL_BYTES, "map_bytes = %" PRIu64,
                  st.map_bytes);
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    for (int i = 0; i < SMALL_COMMITS; i++) {
        const void *data;
        size_t len;
        uint64_t v;
        OK(ghost_obj_get(t, oids[i], NULL, &data, &len));
        ck_assert_uint_eq(len, SMALL_BYTES);
        memcpy(&v, data, sizeof v);
        ck_assert_uint_eq(v, oids[i]);
        ck_assert_uint_eq(((const unsigned char *)data)[len - 1], oids[i] & 0xff);
    }
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* --- kill -9 ------------------------------------------------------------------------- */

#define COMMITTERS 4
#define BEFORE_SYNC 50 /* commits per thread before ghost_sync() */
#define MAX_COMMITS 200000
#define ROUNDS 3
#define MAP 7

struct crash_shared {
    _Atomic uint64_t acked[COMMITTERS]; /* last commit acknowledged to thread t */
    uint64_t synced[COMMITTERS];        /* acknowledged before ghost_sync() was called */
    uint64_t start[COMMITTERS];
    int error;
};

/* The objects of the crash test, made by the parent. */
static uint64_t counter[COMMITTERS], companion[COMMITTERS], map_owner;

static uint64_t companion_of(uint64_t i)
{
    return i ^ 0x5a5a5a5a5a5a5a5aULL;
}

static size_t make_key(uint8_t *key, int t, uint64_t i)
{
    key[0] = (uint8_t)t;
    for (int b = 0; b < 8; b++)
        key[1 + b] = (uint8_t)(i >> (56 - 8 * b));
    return 9;
}

/* 1..64 bytes derived from (t, i). */
static size_t make_val(uint8_t *val, int t, uint64_t i)
{
    size_t len = 1 + (size_t)((i * 7 + (uint64_t)t) % 64);
    for (size_t j = 0; j < len; j++)
        val[j] = (uint8_t)(i * 13 + j + (uint64_t)t * 101);
    return len;
}

struct step {
    int t;
    uint64_t i;
};

/* One transaction of thread t: counter = i, companion = companion_of(i), key (t, i). */
static int crash_step(struct ghost_txn *txn, void *arg)
{
    const struct step *s = arg;
    uint64_t c = s->i, d = companion_of(s->i);
    uint8_t key[9], val[64];
    int r = ghost_obj_put(txn, counter[s->t], 1, &c, sizeof c);
    if (!r)
        r = ghost_obj_put(txn, companion[s->t], 2, &d, sizeof d);
    if (!r)
        r = ghost_map_put(txn, map_owner, MAP, key, make_key(key, s->t, s->i), val,
                          make_val(val, s->t, s->i));
    return r;
}

struct crash_thread {
    struct ghost *g;
    struct crash_shared *sh;
    int t;
};

static void *crash_committer(void *arg)
{
    struct crash_thread *ct = arg;
    struct crash_shared *sh = ct->sh;
    for (uint64_t i = sh->start[ct->t] + 1; i <= sh->start[ct->t] + MAX_COMMITS; i++) {
        struct step s = {.t = ct->t, .i = i};
        int r = ghost_run(ct->g, crash_step, &s);
        if (r < 0) {
            fprintf(stderr, "crash child, thread %d: commit %" PRIu64 ": %s (%s)\n", ct->t, i,
                    ghost_strerror(r), ghost_errmsg());
            sh->error = r;
            return NULL;
        }
        atomic_store(&sh->acked[ct->t], i);
    }
    return NULL;
}

static uint64_t read_u64(struct ghost_txn *t, uint64_t oid, int *err)
{
    const void *data;
    size_t len;
    uint64_t v = 0;
    *err = ghost_obj_get(t, oid, NULL, &data, &len);
    if (!*err && len == sizeof v)
        memcpy(&v, data, sizeof v);
    else if (!*err)
        *err = -EINVAL;
    return v;
}

/* Child: go on from the committed counters, sync after BEFORE_SYNC commits
 * per thread, tell the parent, and go on committing until killed. */
static int crash_child(enum ghost_sync sync, struct crash_shared *sh, int fd)
{
    struct ghost_options opts;
    struct ghost *g;
    ghost_options_init(&opts);
    opts.sync = sync;
    int r = ghost_open(path, &opts, &g);
    if (r < 0) {
        fprintf(stderr, "crash child: ghost_open: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        return 2;
    }
    struct ghost_txn *txn;
    if ((r = ghost_txn_begin(g, &txn)) < 0)
        return 3;
    for (int t = 0; t < COMMITTERS; t++) {
        sh->start[t] = read_u64(txn, counter[t], &r);
        if (r < 0) {
            fprintf(stderr, "crash child: counter %d: %s\n", t, ghost_strerror(r));
            return 3;
        }
        atomic_store(&sh->acked[t], sh->start[t]);
    }
    ghost_txn_abort(txn);

    struct crash_thread ct[COMMITTERS];
    pthread_t th[COMMITTERS];
    for (int t = 0; t < COMMITTERS; t++) {
        ct[t] = (struct crash_thread){.g = g, .sh = sh, .t = t};
        if (pthread_create(&th[t], NULL, crash_committer, &ct[t]) != 0)
            return 4;
    }
    for (int t = 0; t < COMMITTERS; t++)
        while (atomic_load(&sh->acked[t]) < sh->start[t] + BEFORE_SYNC && !sh->error)
            proc_sleep_ms(1);
    for (int t = 0; t < COMMITTERS; t++)
        sh->synced[t] = atomic_load(&sh->acked[t]);
    r = ghost_sync(g);
    if (r < 0) {
        fprintf(stderr, "crash child: ghost_sync: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        sh->error = r;
        return 5;
    }
    if (write_full(fd, "synced\n", 7) < 0)
        return 6;
    for (int t = 0; t < COMMITTERS; t++)
        pthread_join(th[t], NULL);
    return sh->error ? 7 : 0; /* only if never killed */
}

struct scan_state {
    int t;
    uint64_t next; /* the key (t, next) is expected */
    int bad;
};

static int scan_keys(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct scan_state *s = arg;
    uint8_t want_key[9], want_val[64];
    size_t wk = make_key(want_key, s->t, s->next), wv = make_val(want_val, s->t, s->next);
    if (klen < 1 || ((const uint8_t *)key)[0] != s->t)
        return 1; /* past this thread's keys */
    if (klen != wk || memcmp(key, want_key, wk) || vlen != wv || memcmp(val, want_val, wv)) {
        s->bad++;
        return 1;
    }
    s->next++;
    return 0;
}

/* Open the store after a kill and check everything the child could have
 * left: returns the counters in now[]. */
static void check_after_kill(enum ghost_sync sync, const struct crash_shared *sh, uint64_t *now)
{
    struct ghost *g = open_store(GHOST_SYNC_NONE);
    struct ghost_txn *txn;
    OK(ghost_txn_begin(g, &txn));
    for (int t = 0; t < COMMITTERS; t++) {
        int r;
        uint64_t c = read_u64(txn, counter[t], &r);
        ck_assert_msg(r == 0, "sync=%s: counter %d unreadable after kill -9: %s (%s)",
                      sync_name[sync], t, ghost_strerror(r), ghost_errmsg());
        uint64_t d = read_u64(txn, companion[t], &r);
        ck_assert_msg(r == 0, "sync=%s: companion %d unreadable after kill -9: %s (%s)",
                      sync_name[sync], t, ghost_strerror(r), ghost_errmsg());
        ck_assert_msg(d == companion_of(c),
                      "sync=%s: thread %d: counter %" PRIu64 " and companion %" PRIu64
                      " (of %" PRIu64 ") disagree",
                      sync_name[sync], t, c, d, d ^ companion_of(0));
        ck_assert_msg(c >= sh->synced[t],
                      "sync=%s: thread %d: counter %" PRIu64 " but %" PRIu64
                      " were committed before ghost_sync()",
                      sync_name[sync], t, c, sh->synced[t]);
        uint64_t acked = atomic_load(&sh->acked[t]);
        ck_assert_msg(c >= acked,
                      "sync=%s: thread %d: counter %" PRIu64 " but commit %" PRIu64
                      " had been acknowledged before kill -9",
                      sync_name[sync], t, c, acked);

        /* every key 1..c of this thread, in order, nothing after */
        uint8_t key[9];
        struct scan_state s = {.t = t, .next = 1};
        int r2 = ghost_map_scan(txn, map_owner, MAP, key, make_key(key, t, 1), scan_keys, &s);
        ck_assert_msg(r2 >= 0, "sync=%s: scan: %s (%s)", sync_name[sync], ghost_strerror(r2),
                      ghost_errmsg());
        ck_assert_msg(s.bad == 0 && s.next == c + 1,
                      "sync=%s: thread %d: counter %" PRIu64 " but keys run to %" PRIu64
                      " (bad %d)",
                      sync_name[sync], t, c, s.next - 1, s.bad);
        const void *val;
        size_t vlen;
        uint8_t want[64];
        for (uint64_t i = 1; i <= c; i++) {
            r = ghost_map_get(txn, map_owner, MAP, key, make_key(key, t, i), &val, &vlen);
            ck_assert_msg(r == 0, "sync=%s: key (%d, %" PRIu64 "): %s (%s)", sync_name[sync], t, i,
                          ghost_strerror(r), ghost_errmsg());
            size_t wl = make_val(want, t, i);
            ck_assert(vlen == wl && !memcmp(val, want, wl));
        }
        r = ghost_map_get(txn, map_owner, MAP, key, make_key(key, t, c + 1), &val, &vlen);
        ck_assert_int_eq(r, -ENOENT);
        now[t] = c;
    }
    OK(ghost_txn_commit(txn));
    ghost_close(g);
}

START_TEST(kill9_after_sync)
{
    enum ghost_sync sync = (enum ghost_sync)_i;
    char name[32];
    snprintf(name, sizeof name, "kill-%s", sync_name[sync]);
    snprintf(path, sizeof path, "%s", test_new_store(name));

    struct ghost *g = open_store(sync);
    struct ghost_txn *txn;
    OK(ghost_txn_begin(g, &txn));
    uint64_t zero = 0, zc = companion_of(0);
    for (int t = 0; t < COMMITTERS; t++) {
        OK(ghost_oid_alloc(txn, &counter[t]));
        OK(ghost_oid_alloc(txn, &companion[t]));
        OK(ghost_obj_put(txn, counter[t], 1, &zero, sizeof zero));
        OK(ghost_obj_put(txn, companion[t], 2, &zc, sizeof zc));
    }
    OK(ghost_oid_alloc(txn, &map_owner));
    OK(ghost_obj_put(txn, map_owner, 3, "m", 1));
    OK(ghost_txn_commit(txn));
    ghost_close(g); /* the child opens its own */

    unsigned seed = (unsigned)getpid() ^ (unsigned)(proc_now() * 1000);
    struct crash_shared *sh = shared_alloc(sizeof *sh);
    for (int round = 0; round < ROUNDS; round++) {
        memset(sh, 0, sizeof *sh);
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = child_spawn();
        if (pid == 0) {
            close(fds[0]);
            child_exit(crash_child(sync, sh, fds[1]));
        }
        close(fds[1]);
        char msg[8];
        int got = read_full(fds[0], msg, 7, 60);
        close(fds[0]);
        if (got < 0) {
            int code = child_kill(pid);
            ck_abort_msg("sync=%s round %d: no \"synced\" from the child (it ended with %d,"
                         " error %s)",
                         sync_name[sync], round, code, ghost_strerror(sh->error));
        }
        ck_assert(!memcmp(msg, "synced\n", 7));
        unsigned delay = 20 + (unsigned)(rand_r(&seed) % 280);
        proc_sleep_ms(delay);
        int code = child_kill(pid);
        ck_assert_msg(code == -SIGKILL,
                      "sync=%s round %d: the child ended with %d before the"
                      " kill (error %s)",
                      sync_name[sync], round, code, ghost_strerror(sh->error));
        ck_assert_int_eq(sh->error, 0);

        uint64_t now[COMMITTERS];
        check_after_kill(sync, sh, now);
        printf("kill -9, sync=%s, round %d: killed %u ms after ghost_sync; per thread: "
               "started at, synced, acknowledged, found:",
               sync_name[sync], round, delay);
        for (int t = 0; t < COMMITTERS; t++)
            printf(" [%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "]", sh->start[t],
                   sh->synced[t], (uint64_t)atomic_load(&sh->acked[t]), now[t]);
        printf("\n");
        fflush(stdout);
    }
    shared_free(sh, sizeof *sh);
}
END_TEST

static Suite *committer_suite(void)
{
    Suite *s = suite_create("committer");
    TCase *tc = tcase_create("group");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, batch_groups_commits);
    tcase_add_test(tc, always_commits_one_by_one);
    tcase_add_test(tc, none_groups_commits);
    tcase_add_test(tc, map_grows_under_small_commits);
    suite_add_tcase(s, tc);

    TCase *tk = tcase_create("kill9");
    tcase_add_checked_fixture(tk, NULL, teardown);
    tcase_set_timeout(tk, 240);
    tcase_add_loop_test(tk, kill9_after_sync, GHOST_SYNC_BATCH, GHOST_SYNC_NONE + 1);
    suite_add_tcase(s, tk);
    return s;
}

TEST_MAIN(committer_suite)
