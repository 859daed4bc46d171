/*
 * test_txn.c - optimistic transactions: read-set validation (objects, absent
 * objects and map keys), read-only and blind-write commits, ghost_run()'s
 * retry loop and its error path, the promise that an aborted or conflicted
 * attempt leaves no trace (in the store, in the cache, or in the next
 * attempt), bytes of its own writes staying valid, read and write sets too
 * big to scan, a thread's next transaction starting clean on reused buffers,
 * and a shared counter incremented by 2 processes x 2 threads.
 *
 * A "racing writer" is another thread committing through the same
 * connection while the transaction under test is open; it is joined before
 * the test goes on, so every interleaving here is deterministic.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghost.h"
#include "proc.h"
#include "util.h"

/* The store every test but the last starts with. */
static char path[4352];
static struct ghost *g;
static uint64_t X, Y, W, Z; /* X=1, Y=10, W (map owner) holds map 0 {"K2":"a","K3":"c"},
                               Z allocated but never written */

static struct ghost *open_store(enum ghost_sync sync)
{
    struct ghost_options opts;
    struct ghost *c = NULL;
    ghost_options_init(&opts);
    opts.sync = sync;
    OK(ghost_open(path, &opts, &c));
    return c;
}

static void put_u64_txn(struct ghost_txn *t, uint64_t oid, uint64_t v)
{
    OK(ghost_obj_put(t, oid, 1, &v, sizeof v));
}

/* Value of oid in txn t; -errno if it cannot be read. */
static int64_t get_u64_txn(struct ghost_txn *t, uint64_t oid)
{
    const void *data;
    size_t len;
    int r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r < 0)
        return r;
    ck_assert_uint_eq(len, sizeof(uint64_t));
    uint64_t v = 0;
    memcpy(&v, data, sizeof v);
    return (int64_t)v;
}

/* Committed value of oid, read in a fresh transaction. */
static int64_t committed(uint64_t oid)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    int64_t v = get_u64_txn(t, oid);
    OK(ghost_txn_commit(t));
    return v;
}

/* Committed value of key in W's map 0: 0 and the value in buf, or -errno. */
static int committed_key(const char *key, char *buf, size_t size)
{
    struct ghost_txn *t;
    const void *val;
    size_t vlen;
    OK(ghost_txn_begin(g, &t));
    int r = ghost_map_get(t, W, 0, key, strlen(key), &val, &vlen);
    if (r == 0)
        snprintf(buf, size, "%.*s", (int)vlen, (const char *)val);
    ghost_txn_abort(t);
    return r;
}

static void setup(void)
{
    snprintf(path, sizeof path, "%s", test_new_store("txn"));
    g = open_store(GHOST_SYNC_NONE);
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_oid_alloc(t, &X));
    OK(ghost_oid_alloc(t, &Y));
    OK(ghost_oid_alloc(t, &W));
    OK(ghost_oid_alloc(t, &Z));
    put_u64_txn(t, X, 1);
    put_u64_txn(t, Y, 10);
    put_u64_txn(t, W, 0);
    OK(ghost_map_put(t, W, 0, "K2", 2, "a", 1));
    OK(ghost_map_put(t, W, 0, "K3", 2, "c", 1));
    OK(ghost_txn_commit(t));
}

static void teardown(void)
{
    child_kill_all();
    if (g)
        ghost_close(g);
    g = NULL;
    remove_store(path);
}

static struct ghost_stats stats(void)
{
    struct ghost_stats st;
    ghost_stats(g, &st);
    return st;
}

/* --- the racing writer --------------------------------------------------------- */

enum race_op { RACE_PUT, RACE_DEL, RACE_MAP_PUT, RACE_MAP_DEL };

struct race {
    enum race_op op;
    uint64_t oid;
    uint64_t value;
    const char *key, *val;
    int64_t seen; /* the value of oid the racer read before writing */
    int result;
};

static void *race_thread(void *arg)
{
    struct race *rc = arg;
    struct ghost_txn *t;
    rc->result = ghost_txn_begin(g, &t);
    if (rc->result < 0)
        return NULL;
    const void *data;
    size_t len;
    rc->seen = -ENOENT;
    if (rc->op == RACE_PUT || rc->op == RACE_DEL) {
        int r = ghost_obj_get(t, rc->oid, NULL, &data, &len);
        if (r == 0 && len == sizeof(uint64_t))
            memcpy(&rc->seen, data, sizeof(uint64_t));
        else
            rc->seen = r;
    }
    switch (rc->op) {
    case RACE_PUT:
        rc->result = ghost_obj_put(t, rc->oid, 1, &rc->value, sizeof rc->value);
        break;
    case RACE_DEL:
        rc->result = ghost_obj_del(t, rc->oid);
        break;
    case RACE_MAP_PUT:
        rc->result =
            ghost_map_put(t, rc->oid, 0, rc->key, strlen(rc->key), rc->val, strlen(rc->val));
        break;
    case RACE_MAP_DEL:
        rc->result = ghost_map_del(t, rc->oid, 0, rc->key, strlen(rc->key));
        break;
    }
    if (rc->result < 0) {
        ghost_txn_abort(t);
        return NULL;
    }
    rc->result = ghost_txn_commit(t);
    return NULL;
}

/* Run one committed change in another thread and wait for it. */
static struct race race(struct race rc)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, race_thread, &rc), 0);
    pthread_join(th, NULL);
    ck_assert_msg(rc.result == 0, "racing writer: %s", ghost_strerror(rc.result));
    return rc;
}

static struct race race_put(uint64_t oid, uint64_t value)
{
    return race((struct race){.op = RACE_PUT, .oid = oid, .value = value});
}

/* --- validation ----------------------------------------------------------------- */

START_TEST(stale_read_conflicts)
{
    struct ghost_stats st0 = stats();
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    race_put(X, 2);
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);

    ck_assert_int_eq(committed(Y), 10);
    ck_assert_int_eq(committed(X), 2);
    ck_assert_uint_eq(stats().conflicts - st0.conflicts, 1);

    /* the lost update: A reads X and writes X */
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 2);
    race_put(X, 3);
    put_u64_txn(a, X, 100);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(X), 3);
    ck_assert_uint_eq(stats().conflicts - st0.conflicts, 2);
}
END_TEST

START_TEST(deleted_object_conflicts)
{
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    race((struct race){.op = RACE_DEL, .oid = X});
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);
    ck_assert_int_eq(committed(X), -ENOENT);
}
END_TEST

START_TEST(absent_object_read_is_validated)
{
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, Z), -ENOENT);
    race_put(Z, 5);
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);
    ck_assert_int_eq(committed(Z), 5);
}
END_TEST

START_TEST(read_only_commits_zero)
{
    struct ghost_stats st0 = stats();
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    ck_assert_int_eq(get_u64_txn(a, Z), -ENOENT);
    OK(ghost_txn_commit(a));

    /* wrote nothing: commits nothing and returns 0, even though X changed */
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    race_put(X, 2);
    OK(ghost_txn_commit(a));
    ck_assert_uint_eq(stats().conflicts, st0.conflicts);
}
END_TEST

START_TEST(blind_writes_do_not_conflict)
{
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    race_put(X, 5);
    put_u64_txn(a, X, 7);
    put_u64_txn(a, Y, 8);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(X), 7);
    ck_assert_int_eq(committed(Y), 8);

    /* write-write without a read: the last commit wins */
    OK(ghost_txn_begin(g, &a));
    put_u64_txn(a, Y, 9);
    race_put(Y, 20);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(Y), 9);

    /* a blind map write next to a changed key */
    OK(ghost_txn_begin(g, &a));
    OK(ghost_map_put(a, W, 0, "K9", 2, "x", 1));
    race((struct race){.op = RACE_MAP_PUT, .oid = W, .key = "K2", .val = "b"});
    OK(ghost_txn_commit(a));
    char buf[64];
    OK(committed_key("K9", buf, sizeof buf));
    ck_assert_str_eq(buf, "x");
}
END_TEST

START_TEST(map_reads_are_validated)
{
    struct ghost_txn *a;
    const void *val;
    size_t vlen;
    char buf[64];

    /* A reads absent key K, B creates K */
    OK(ghost_txn_begin(g, &a));
    EXPECT(ghost_map_get(a, W, 0, "K", 1, &val, &vlen), -ENOENT);
    race((struct race){.op = RACE_MAP_PUT, .oid = W, .key = "K", .val = "new"});
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);
    OK(committed_key("K", buf, sizeof buf));
    ck_assert_str_eq(buf, "new");

    /* A reads K2, B changes it */
    OK(ghost_txn_begin(g, &a));
    OK(ghost_map_get(a, W, 0, "K2", 2, &val, &vlen));
    ck_assert_uint_eq(vlen, 1);
    ck_assert_mem_eq(val, "a", 1);
    race((struct race){.op = RACE_MAP_PUT, .oid = W, .key = "K2", .val = "b"});
    put_u64_txn(a, Y, 12);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);

    /* A reads K3, B deletes it */
    OK(ghost_txn_begin(g, &a));
    OK(ghost_map_get(a, W, 0, "K3", 2, &val, &vlen));
    race((struct race){.op = RACE_MAP_DEL, .oid = W, .key = "K3"});
    put_u64_txn(a, Y, 13);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);
    EXPECT(committed_key("K3", buf, sizeof buf), -ENOENT);
}
END_TEST

/* Validation asks the change log first: a read is known unchanged when no
 * commit since the version it saw named its OID. These pin down that the
 * shortcut is taken where it should be, and that whatever it cannot answer
 * goes to the store and is answered right. */

/* Add one to the counter *arg (also the shared counter's work, below). */
static int increment(struct ghost_txn *t, void *arg)
{
    uint64_t oid = *(const uint64_t *)arg;
    const void *data;
    size_t len;
    uint64_t v = 0;
    int r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r < 0)
        return r;
    if (len != sizeof v)
        return -EINVAL;
    memcpy(&v, data, sizeof v);
    v++;
    return ghost_obj_put(t, oid, 1, &v, sizeof v);
}

START_TEST(log_answers_validation)
{
    struct ghost_stats st0 = stats();
    for (int i = 0; i < 100; i++)
        OK(ghost_run(g, increment, &X));
    struct ghost_stats st = stats();
    ck_assert_int_eq(committed(X), 101);
    ck_assert_uint_eq(st.read_checks - st0.read_checks, 100);
    ck_assert_uint_eq(st.read_checks_logged - st0.read_checks_logged, 100);
    ck_assert_uint_eq(st.conflicts, st0.conflicts);
}
END_TEST

/* More commits came after the read than validation looks back over: the
 * store answers, conflict or not. */
#define MANY_COMMITS 200

START_TEST(validation_past_the_log)
{
    struct ghost_txn *a;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    race_put(X, 2);
    for (int i = 0; i < MANY_COMMITS; i++)
        race_put(Z, (uint64_t)i);
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);

    struct ghost_stats st0 = stats();
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 2);
    for (int i = 0; i < MANY_COMMITS; i++)
        race_put(Z, (uint64_t)i);
    put_u64_txn(a, Y, 12);
    OK(ghost_txn_commit(a));
    struct ghost_stats st = stats();
    ck_assert_int_eq(committed(Y), 12);
    /* the racers' reads of Z were each of the newest version: only ours
     * went to the store */
    ck_assert_uint_eq(st.read_checks - st0.read_checks, MANY_COMMITS + 1);
    ck_assert_uint_eq(st.read_checks_logged - st0.read_checks_logged, MANY_COMMITS);
}
END_TEST

/* The change log names owners, not map keys: another key of the owner
 * changing sends the check to the store, which finds the key read intact. */
START_TEST(other_key_of_owner_no_conflict)
{
    struct ghost_txn *a;
    const void *val;
    size_t vlen;
    OK(ghost_txn_begin(g, &a));
    OK(ghost_map_get(a, W, 0, "K2", 2, &val, &vlen));
    race((struct race){.op = RACE_MAP_PUT, .oid = W, .key = "K9", .val = "z"});
    race_put(W, 5); /* and the owner object itself */
    put_u64_txn(a, Y, 11);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(Y), 11);
}
END_TEST

/* A second connection to the store (its own cache, its own change log
 * writer) changes what we read: a conflict, as from another process. */
START_TEST(stale_read_across_connections)
{
    struct ghost *h = open_store(GHOST_SYNC_NONE);
    struct ghost_txn *a, *b;
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    OK(ghost_txn_begin(h, &b));
    ck_assert_int_eq(get_u64_txn(b, X), 1);
    put_u64_txn(b, X, 2);
    OK(ghost_txn_commit(b));
    put_u64_txn(a, X, 100);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(X), 2);
    /* and a read that stayed valid while the other connection wrote */
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, Y), 10);
    OK(ghost_txn_begin(h, &b));
    put_u64_txn(b, X, 3);
    OK(ghost_txn_commit(b));
    put_u64_txn(a, Y, 20);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(Y), 20);
    ghost_close(h);
}
END_TEST

/* --- ghost_run ----------------------------------------------------------------- */

#define RACED_ATTEMPTS 3

static int attempts;

/* Copies X into Y; its first RACED_ATTEMPTS attempts are raced on X. */
static int copy_x_raced(struct ghost_txn *t, void *arg)
{
    attempts++;
    int64_t v = get_u64_txn(t, X);
    if (v < 0)
        return (int)v;
    if (attempts <= RACED_ATTEMPTS)
        race_put(X, (uint64_t)v + 100);
    put_u64_txn(t, Y, (uint64_t)v);
    return 0;
}

START_TEST(run_retries_conflicts)
{
    struct ghost_stats st0 = stats();
    attempts = 0;
    OK(ghost_run(g, copy_x_raced, NULL));
    struct ghost_stats st = stats();
    ck_assert_int_eq(attempts, RACED_ATTEMPTS + 1);
    ck_assert_int_eq(committed(X), 1 + 100 * RACED_ATTEMPTS);
    ck_assert_int_eq(committed(Y), 1 + 100 * RACED_ATTEMPTS);
    printf("run_retries_conflicts: %d attempts, retries +%" PRIu64 ", conflicts +%" PRIu64
           ", commits +%" PRIu64 "\n",
           attempts, st.retries - st0.retries, st.conflicts - st0.conflicts,
           st.commits - st0.commits);
    ck_assert_uint_eq(st.retries - st0.retries, RACED_ATTEMPTS);
    ck_assert_uint_eq(st.conflicts - st0.conflicts, RACED_ATTEMPTS);
    /* the racers' commits and the final one */
    ck_assert_uint_eq(st.commits - st0.commits, RACED_ATTEMPTS + 1);
}
END_TEST

static int write_then_fail(struct ghost_txn *t, void *arg)
{
    attempts++;
    put_u64_txn(t, X, 666);
    put_u64_txn(t, Z, 666);
    OK(ghost_map_put(t, W, 0, "bad", 3, "bad", 3));
    return -EIO;
}

START_TEST(run_error_aborts)
{
    struct ghost_stats st0 = stats();
    char buf[64];
    attempts = 0;
    EXPECT(ghost_run(g, write_then_fail, NULL), -EIO);
    ck_assert_int_eq(attempts, 1);
    ck_assert_int_eq(committed(X), 1);
    ck_assert_int_eq(committed(Z), -ENOENT);
    EXPECT(committed_key("bad", buf, sizeof buf), -ENOENT);
    struct ghost_stats st = stats();
    ck_assert_uint_eq(st.commits, st0.commits);
    ck_assert_uint_eq(st.retries, st0.retries);
}
END_TEST

/* The first two attempts write and then find the connection dropped; the
 * third commits. Nothing of the dropped ones is kept. */
static int write_then_disconnect(struct ghost_txn *t, void *arg)
{
    attempts++;
    put_u64_txn(t, Y, attempts <= 2 ? 666 : 7);
    return attempts <= 2 ? -GHOST_EDISCONNECT : 0;
}

START_TEST(run_reconnects_after_disconnect)
{
    struct ghost_stats st0 = stats();
    attempts = 0;
    OK(ghost_run(g, write_then_disconnect, NULL));
    ck_assert_int_eq(attempts, 3);
    ck_assert_int_eq(committed(Y), 7);
    struct ghost_stats st = stats();
    ck_assert_uint_eq(st.retries - st0.retries, 2);
    ck_assert_uint_eq(st.commits - st0.commits, 1);
    ck_assert_str_eq(ghost_strerror(-GHOST_EDISCONNECT), "the connection to the store dropped");
}
END_TEST

struct seen {
    int64_t x[4];
    int key[4];
};

/* Attempt 1 writes X=666 and a map key, then asks to start over itself. */
static int give_up_once(struct ghost_txn *t, void *arg)
{
    struct seen *s = arg;
    const void *val;
    size_t vlen;
    int n = attempts++;
    s->x[n] = get_u64_txn(t, X);
    s->key[n] = ghost_map_get(t, W, 0, "bad", 3, &val, &vlen);
    if (n == 0) {
        put_u64_txn(t, X, 666);
        OK(ghost_map_put(t, W, 0, "bad", 3, "bad", 3));
        return -GHOST_ECONFLICT;
    }
    put_u64_txn(t, Y, (uint64_t)s->x[n]);
    return 0;
}

START_TEST(run_fn_conflict_starts_over)
{
    struct seen s = {{0}, {0}};
    attempts = 0;
    OK(ghost_run(g, give_up_once, &s));
    ck_assert_int_eq(attempts, 2);
    ck_assert_int_eq(s.x[1], 1);
    ck_assert_int_eq(s.key[1], -ENOENT);
    ck_assert_int_eq(committed(X), 1);
    ck_assert_int_eq(committed(Y), 1);
}
END_TEST

/* --- nothing survives a failed attempt -------------------------------------------- */

/* Attempt 1 reads X, writes X=666, a map key and a new object, and is raced
 * on X; attempt 2 records what it sees and increments X. */
static uint64_t new_oid;

static int poisoned_attempt(struct ghost_txn *t, void *arg)
{
    struct seen *s = arg;
    const void *val;
    size_t vlen;
    int n = attempts++;
    if (n >= 4)
        return -EDEADLK;
    s->x[n] = get_u64_txn(t, X);
    s->key[n] = ghost_map_get(t, W, 0, "bad", 3, &val, &vlen);
    if (n == 0) {
        put_u64_txn(t, X, 666);
        OK(ghost_map_put(t, W, 0, "bad", 3, "bad", 3));
        OK(ghost_oid_alloc(t, &new_oid));
        put_u64_txn(t, new_oid, 666);
        ck_assert_int_eq(get_u64_txn(t, X), 666); /* own writes are visible */
        struct race rc = race_put(X, 3);
        /* the racer, another thread, never saw the uncommitted 666 */
        ck_assert_int_eq(rc.seen, 2);
        return 0;
    }
    put_u64_txn(t, X, (uint64_t)s->x[n] + 1);
    return 0;
}

START_TEST(failed_attempt_leaves_nothing)
{
    struct ghost_txn *a;
    char buf[64];
    uint64_t oid;

    /* by hand: write X=666, a key and a new object, then conflict */
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    put_u64_txn(a, X, 666);
    OK(ghost_map_put(a, W, 0, "bad", 3, "bad", 3));
    OK(ghost_oid_alloc(a, &oid));
    put_u64_txn(a, oid, 666);
    ck_assert_int_eq(get_u64_txn(a, X), 666);
    struct race rc = race_put(X, 2);
    ck_assert_int_eq(rc.seen, 1);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);

    ck_assert_int_eq(committed(X), 2);
    ck_assert_int_eq(committed(oid), -ENOENT);
    EXPECT(committed_key("bad", buf, sizeof buf), -ENOENT);

    /* through ghost_run: the retry sees the committed X, not 666 */
    struct seen s = {{0}, {0}};
    attempts = 0;
    OK(ghost_run(g, poisoned_attempt, &s));
    ck_assert_int_eq(attempts, 2);
    ck_assert_int_eq(s.x[0], 2);
    ck_assert_int_eq(s.x[1], 3);
    ck_assert_int_eq(s.key[1], -ENOENT);
    ck_assert_int_eq(committed(X), 4);
    ck_assert_int_eq(committed(new_oid), -ENOENT);
    EXPECT(committed_key("bad", buf, sizeof buf), -ENOENT);

    /* and a new connection (no cache) agrees */
    ghost_close(g);
    g = open_store(GHOST_SYNC_NONE);
    ck_assert_int_eq(committed(X), 4);
    ck_assert_int_eq(committed(new_oid), -ENOENT);
    EXPECT(committed_key("bad", buf, sizeof buf), -ENOENT);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
    struct ghost_stats st0 = stats();
    struct ghost_txn *a;
    char buf[64];
    uint64_t oid;

    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    put_u64_txn(a, X, 666);
    put_u64_txn(a, Z, 666);
    OK(ghost_map_put(a, W, 0, "bad", 3, "bad", 3));
    OK(ghost_map_del(a, W, 0, "K2", 2));
    OK(ghost_obj_del(a, Y));
    OK(ghost_oid_alloc(a, &oid));
    put_u64_txn(a, oid, 666);
    ck_assert_int_eq(get_u64_txn(a, X), 666);
    ck_assert_int_eq(get_u64_txn(a, Y), -ENOENT);
    ghost_txn_abort(a);

    ck_assert_int_eq(committed(X), 1);
    ck_assert_int_eq(committed(Y), 10);
    ck_assert_int_eq(committed(Z), -ENOENT);
    ck_assert_int_eq(committed(oid), -ENOENT);
    EXPECT(committed_key("bad", buf, sizeof buf), -ENOENT);
    OK(committed_key("K2", buf, sizeof buf));
    ck_assert_str_eq(buf, "a");
    ck_assert_uint_eq(stats().commits, st0.commits);
}
END_TEST

/* --- read-your-writes ------------------------------------------------------------- */

/* Bytes read back from the transaction's own write stay valid until it
 * ends, even after the object is written again (or deleted), and may be
 * the source of the next put. */
START_TEST(own_writes_stay_borrowed)
{
    struct ghost_txn *a;
    const void *p1, *p2;
    size_t len;
    uint64_t v1 = 111, v2 = 222, v;

    OK(ghost_txn_begin(g, &a));
    OK(ghost_obj_put(a, X, 1, &v1, sizeof v1));
    OK(ghost_obj_get(a, X, NULL, &p1, &len));
    OK(ghost_obj_put(a, X, 1, p1, len)); /* its own bytes as the source */
    OK(ghost_obj_put(a, X, 1, &v2, sizeof v2));
    OK(ghost_obj_get(a, X, NULL, &p2, &len));
    OK(ghost_obj_del(a, X));
    OK(ghost_obj_put(a, Y, 1, p2, len));
    memcpy(&v, p1, sizeof v);
    ck_assert_uint_eq(v, 111);
    memcpy(&v, p2, sizeof v);
    ck_assert_uint_eq(v, 222);
    ck_assert_int_eq(get_u64_txn(a, X), -ENOENT);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(X), -ENOENT);
    ck_assert_int_eq(committed(Y), 222);
}
END_TEST

/* --- sets past scanning size, and reused transactions ---------------------------- */

#define MANY 100 /* entries: well past the size up to which a set is scanned */

/* A transaction with MANY object writes, MANY map writes and MANY reads
 * still finds each of its entries once (read-your-writes, a write twice
 * to one object, validation of every read). */
START_TEST(big_sets_find_every_entry)
{
    uint64_t oids[MANY];
    struct ghost_txn *a;
    char key[16], buf[64];
    const void *val;
    size_t vlen;

    OK(ghost_txn_begin(g, &a));
    for (int i = 0; i < MANY; i++) {
        OK(ghost_oid_alloc(a, &oids[i]));
        put_u64_txn(a, oids[i], (uint64_t)i);
        snprintf(key, sizeof key, "big%d", i);
        OK(ghost_map_put(a, W, 0, key, strlen(key), key, strlen(key)));
    }
    for (int i = 0; i < MANY; i += 3) /* a second put replaces the first */
        put_u64_txn(a, oids[i], (uint64_t)i + 1000);
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(get_u64_txn(a, oids[i]), i % 3 ? i : i + 1000);
        snprintf(key, sizeof key, "big%d", i);
        OK(ghost_map_get(a, W, 0, key, strlen(key), &val, &vlen));
        ck_assert_uint_eq(vlen, strlen(key));
        ck_assert(!memcmp(val, key, vlen));
    }
    OK(ghost_txn_commit(a));
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(committed(oids[i]), i % 3 ? i : i + 1000);

    /* MANY reads of absent keys, read twice each; the racer changes the
     * last one read, which must still be validated */
    OK(ghost_txn_begin(g, &a));
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < MANY; i++) {
            snprintf(key, sizeof key, "none%d", i);
            EXPECT(ghost_map_get(a, W, 0, key, strlen(key), &val, &vlen), -ENOENT);
            ck_assert_int_eq(get_u64_txn(a, oids[i]), i % 3 ? i : i + 1000);
        }
    race((struct race){.op = RACE_MAP_PUT, .oid = W, .key = "none99", .val = "x"});
    put_u64_txn(a, Y, 11);
    EXPECT(ghost_txn_commit(a), -GHOST_ECONFLICT);
    ck_assert_int_eq(committed(Y), 10);
    OK(committed_key("none99", buf, sizeof buf));
    ck_assert_str_eq(buf, "x");
}
END_TEST

/* A thread's next transaction reuses the buffers of its last one: it must
 * start empty - no reads, writes or index entries of the one before - also
 * on another connection after the first was closed. */
START_TEST(next_txn_starts_clean)
{
    uint64_t oids[MANY];
    struct ghost_txn *a;
    struct ghost_stats st0 = stats();

    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    for (int i = 0; i < MANY; i++) {
        OK(ghost_oid_alloc(a, &oids[i]));
        put_u64_txn(a, oids[i], 666);
    }
    put_u64_txn(a, X, 666);
    ghost_txn_abort(a);

    /* small, then big: neither sees the aborted writes */
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    ck_assert_int_eq(get_u64_txn(a, oids[0]), -ENOENT);
    OK(ghost_txn_commit(a)); /* read-only: commits nothing */
    OK(ghost_txn_begin(g, &a));
    for (int i = 1; i < MANY; i += 2)
        put_u64_txn(a, oids[i], (uint64_t)i);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(get_u64_txn(a, oids[i]), i % 2 ? i : -ENOENT);
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    OK(ghost_txn_commit(a));
    ck_assert_uint_eq(stats().commits - st0.commits, 1);
    ck_assert_int_eq(committed(X), 1);
    ck_assert_int_eq(committed(oids[0]), -ENOENT);
    ck_assert_int_eq(committed(oids[1]), 1);

    /* a transaction aborted on one connection, the next on another */
    OK(ghost_txn_begin(g, &a));
    put_u64_txn(a, X, 666);
    ck_assert_int_eq(get_u64_txn(a, Y), 10);
    ghost_txn_abort(a);
    ghost_close(g);
    g = open_store(GHOST_SYNC_NONE);
    OK(ghost_txn_begin(g, &a));
    ck_assert_int_eq(get_u64_txn(a, X), 1);
    put_u64_txn(a, Y, 12);
    OK(ghost_txn_commit(a));
    ck_assert_int_eq(committed(X), 1);
    ck_assert_int_eq(committed(Y), 12);
}
END_TEST

/* --- the shared counter ------------------------------------------------------------ */

#define COUNTER_PROCS 2
#define COUNTER_THREADS 2
#define COUNTER_INCREMENTS 10000
/* GHOST_SYNC_BATCH is what a daemon runs with; the test takes a few seconds
 * with it here. Set GHOST_TEST_COUNTER_SYNC=none|always to try the others. */
#define COUNTER_SYNC GHOST_SYNC_BATCH

struct counter_result {
    uint64_t conflicts, retries, commits, failures;
    double seconds;
    int first_error;
};

struct counter_thread {
    struct ghost *g;
    uint64_t oid;
    uint64_t failures;
    int first_error;
};

static void *counter_thread(void *arg)
{
    struct counter_thread *ct = arg;
    for (int i = 0; i < COUNTER_INCREMENTS; i++) {
        int r = ghost_run(ct->g, increment, &ct->oid);
        if (r < 0) {
            if (!ct->failures++)
                ct->first_error = r;
        }
    }
    return NULL;
}

static enum ghost_sync counter_sync(void)
{
    const char *s = getenv("GHOST_TEST_COUNTER_SYNC");
    if (s && !strcmp(s, "none"))
        return GHOST_SYNC_NONE;
    if (s && !strcmp(s, "always"))
        return GHOST_SYNC_ALWAYS;
    return COUNTER_SYNC;
}

static int counter_child(uint64_t oid, struct counter_result *res)
{
    struct ghost_options opts;
    struct ghost *c;
    ghost_options_init(&opts);
    opts.sync = counter_sync();
    int r = ghost_open(path, &opts, &c);
    if (r < 0) {
        fprintf(stderr, "counter child: ghost_open: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        return 2;
    }
    double t0 = proc_now();
    struct counter_thread ct[COUNTER_THREADS];
    pthread_t th[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++) {
        ct[i] = (struct counter_thread){.g = c, .oid = oid};
        if (pthread_create(&th[i], NULL, counter_thread, &ct[i]) != 0)
            return 3;
    }
    for (int i = 0; i < COUNTER_THREADS; i++) {
        pthread_join(th[i], NULL);
        res->failures += ct[i].failures;
        if (ct[i].failures && !res->first_error)
            res->first_error = ct[i].first_error;
    }
    res->seconds = proc_now() - t0;
    struct ghost_stats st;
    ghost_stats(c, &st);
    res->conflicts = st.conflicts;
    res->retries = st.retries;
    res->commits = st.commits;
    ghost_close(c);
    return res->failures ? 1 : 0;
}

START_TEST(shared_counter)
{
    uint64_t counter;
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_oid_alloc(t, &counter));
    put_u64_txn(t, counter, 0);
    OK(ghost_txn_commit(t));
    ghost_close(g); /* children open their own connections */
    g = NULL;

    struct counter_result *res = shared_alloc(COUNTER_PROCS * sizeof *res);
    pid_t pids[COUNTER_PROCS];
    double t0 = proc_now();
    for (int p = 0; p < COUNTER_PROCS; p++) {
        pids[p] = child_spawn();
        if (pids[p] == 0)
            child_exit(counter_child(counter, &res[p]));
    }
    int codes[COUNTER_PROCS];
    for (int p = 0; p < COUNTER_PROCS; p++)
        codes[p] = child_wait(pids[p], 120);
    double secs = proc_now() - t0;

    uint64_t conflicts = 0, retries = 0, commits = 0, failures = 0;
    for (int p = 0; p < COUNTER_PROCS; p++) {
        conflicts += res[p].conflicts;
        retries += res[p].retries;
        commits += res[p].commits;
        failures += res[p].failures;
    }
    g = open_store(GHOST_SYNC_NONE);
    int64_t value = committed(counter);
    enum ghost_sync sync = counter_sync();
    printf("shared_counter: %d processes x %d threads x %d increments, sync=%s: value %" PRId64
           " in %.1f s; conflicts %" PRIu64 " (per process: %" PRIu64 ", %" PRIu64
           "), retries %" PRIu64 ", commits %" PRIu64 ", failed runs %" PRIu64 "\n",
           COUNTER_PROCS, COUNTER_THREADS, COUNTER_INCREMENTS,
           sync == GHOST_SYNC_NONE     ? "none"
           : sync == GHOST_SYNC_ALWAYS ? "always"
                                       : "batch",
           value, secs, conflicts, res[0].conflicts, res[1].conflicts, retries, commits, failures);
    fflush(stdout);
    for (int p = 0; p < COUNTER_PROCS; p++)
        ck_assert_msg(codes[p] == 0, "counter process %d ended with %d (first error %s)", p,
                      codes[p], ghost_strerror(res[p].first_error));
    ck_assert_int_eq(value, COUNTER_PROCS * COUNTER_THREADS * COUNTER_INCREMENTS);
    ck_assert_uint_eq(commits, COUNTER_PROCS * COUNTER_THREADS * COUNTER_INCREMENTS);
    shared_free(res, COUNTER_PROCS * sizeof *res);
}
END_TEST

static Suite *txn_suite(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stale_read_conflicts);
    tcase_add_test(tc, deleted_object_conflicts);
    tcase_add_test(tc, absent_object_read_is_validated);
    tcase_add_test(tc, read_only_commits_zero);
    tcase_add_test(tc, blind_writes_do_not_conflict);
    tcase_add_test(tc, map_reads_are_validated);
    tcase_add_test(tc, log_answers_validation);
    tcase_add_test(tc, validation_past_the_log);
    tcase_add_test(tc, other_key_of_owner_no_conflict);
    tcase_add_test(tc, stale_read_across_connections);
    tcase_add_test(tc, run_retries_conflicts);
    tcase_add_test(tc, run_error_aborts);
    tcase_add_test(tc, run_reconnects_after_disconnect);
    tcase_add_test(tc, run_fn_conflict_starts_over);
    tcase_add_test(tc, failed_attempt_leaves_nothing);
    tcase_add_test(tc, abort_leaves_nothing);
    tcase_add_test(tc, own_writes_stay_borrowed);
    tcase_add_test(tc, big_sets_find_every_entry);
    tcase_add_test(tc, next_txn_starts_clean);
    suite_add_tcase(s, tc);

    TCase *counter = tcase_create("counter");
    tcase_add_checked_fixture(counter, setup, teardown);
    tcase_set_timeout(counter, 150);
    tcase_add_test(counter, shared_counter);
    suite_add_tcase(s, counter);
    return s;
}

TEST_MAIN(txn_suite)
