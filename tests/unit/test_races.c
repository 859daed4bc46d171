/*
 * test_races.c - interleavings too narrow to hit by chance, made exact by a
 * hook that the library built for this test calls inside its commit path
 * (GHOST_TEST_HOOKS; the installed library has no such hook).
 *
 * The window: LMDB has committed a batch of connection A, which has not yet
 * put the objects it wrote into its cache. Another connection B commits a
 * newer version of the same object, and A's refresh reads B's change log
 * entry - before A installs its own, older version. A must not then keep
 * the older version: nothing would ever invalidate it again.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghost.h"
#include "internal.h"
#include "proc.h"
#include "util.h"

static char path[4352];
static struct ghost *a, *b;
static uint64_t X;
static bool read_in_window; /* the hook also caches B's version in A */
static int fired;

static int put(struct ghost *g, uint64_t oid, uint64_t v)
{
    struct ghost_txn *t;
    int r = ghost_txn_begin(g, &t);
    if (r)
        return r;
    r = ghost_obj_put(t, oid, 1, &v, sizeof v);
    if (r) {
        ghost_txn_abort(t);
        return r;
    }
    return ghost_txn_commit(t);
}

/* X's value as connection g sees it (its cache first), -errno on error. */
static int64_t get(struct ghost *g, uint64_t oid)
{
    struct ghost_txn *t;
    const void *data;
    size_t len;
    uint64_t v = 0;
    int r = ghost_txn_begin(g, &t);
    if (r)
        return r;
    r = ghost_obj_get(t, oid, NULL, &data, &len);
    if (r == 0 && len == sizeof v)
        memcpy(&v, data, sizeof v);
    ghost_txn_abort(t);
    return r ? r : (int64_t)v;
}

/* In A's commit, after LMDB's commit and before the install. */
static void after_commit(struct ghost *g)
{
    if (g != a || fired++)
        return;
    ck_assert_int_eq(put(b, X, 2), 0);
    ck_assert_int_ge(ghost_refresh(a), 1); /* A reads B's entry for X */
    if (read_in_window)
        ck_assert_int_eq(get(a, X), 2); /* and caches B's version */
}

static void setup(void)
{
    snprintf(path, sizeof path, "%s", test_new_store("races"));
    struct ghost_options o;
    ghost_options_init(&o);
    o.sync = GHOST_SYNC_NONE;
    OK(ghost_open(path, &o, &a));
    OK(ghost_open(path, &o, &b));
    struct ghost_txn *t;
    OK(ghost_txn_begin(b, &t));
    OK(ghost_oid_alloc(t, &X));
    uint64_t v = 0;
    OK(ghost_obj_put(t, X, 1, &v, sizeof v));
    OK(ghost_txn_commit(t));
    fired = 0;
}

static void teardown(void)
{
    ghost_test_after_commit = NULL;
    ghost_close(b);
    ghost_close(a);
    remove_store(path);
}

/* A write of X in A, overtaken by B. Variants (_i): bit 0, A also caches
 * B's version in the window; bit 1, A had X cached before (its handle
 * remembers the change) - otherwise the write is blind and A has no handle
 * for X when the refresh reads B's entry. */
START_TEST(late_install)
{
    bool cached = _i & 2;
    read_in_window = _i & 1;
    if (cached)
        ck_assert_int_eq(get(a, X), 0);
    ghost_test_after_commit = after_commit;
    ck_assert_int_eq(put(a, X, 1), 0);
    ghost_test_after_commit = NULL;
    ck_assert_int_eq(fired, 1);
    ghost_refresh(a);
    ck_assert_int_eq(get(b, X), 2);
    int64_t v = get(a, X);
    ck_assert_msg(v == 2, "A kept its own older version of X (%lld) after B's newer one%s%s",
                  (long long)v, read_in_window ? ", read in the window" : "",
                  cached ? ", X cached before" : "");
}
END_TEST

static Suite *races_suite(void)
{
    Suite *s = suite_create("races");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, late_install, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(races_suite)
