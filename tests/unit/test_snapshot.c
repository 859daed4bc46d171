/*
 * test_snapshot.c - versions and snapshots: a snapshot sees objects, map
 * keys and scans as they were when it was taken; snapshots are named,
 * listed, refused when the name is bad, read-only, and survive reopening;
 * an overwritten version is dropped at once unless a snapshot needs it, and
 * ghost_prune_versions() reclaims what only a deleted snapshot needed while
 * keeping what the remaining ones need.
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir(), which the main process removes at exit.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ghost.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------- */

static const char *new_store(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s", test_new_store(name));
    return buf;
}

static struct ghost *open_store(const char *path)
{
    struct ghost *g = NULL;
    OK(ghost_open(path, NULL, &g));
    ck_assert_ptr_nonnull(g);
    return g;
}

static struct ghost_txn *begin(struct ghost *g)
{
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin(g, &t));
    ck_assert_ptr_nonnull(t);
    return t;
}

static struct ghost_txn *begin_snap(struct ghost *g, const char *name)
{
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin_snapshot(g, name, &t));
    ck_assert_ptr_nonnull(t);
    return t;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t head_generation(struct ghost *g)
{
    struct ghost_txn *t = begin(g);
    uint64_t gen = ghost_txn_generation(t);
    ghost_txn_abort(t);
    return gen;
}

static void assert_obj(struct ghost_txn *t, uint64_t oid, const char *want)
{
    const void *data;
    size_t len;
    uint8_t type;
    int r = ghost_obj_get(t, oid, &type, &data, &len);
    if (!want) {
        EXPECT(r, -ENOENT);
        return;
    }
    OK(r);
    ck_assert_int_eq(type, 1);
    ck_assert_msg(len == strlen(want) && !memcmp(data, want, len),
                  "object %" PRIu64 " is \"%.*s\", expected \"%s\"", oid, (int)len,
                  (const char *)data, want);
}

static void assert_key(struct ghost_txn *t, uint64_t owner, const char *key, const char *want)
{
    const void *val;
    size_t vlen;
    int r = ghost_map_get(t, owner, 0, key, strlen(key), &val, &vlen);
    if (!want) {
        EXPECT(r, -ENOENT);
        return;
    }
    OK(r);
    ck_assert_msg(vlen == strlen(want) && !memcmp(val, want, vlen),
                  "key %s is \"%.*s\", expected \"%s\"", key, (int)vlen, (const char *)val, want);
}

/* A scan rendered as "k=v,k=v," for easy comparison. */
static int render(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%.*s=%.*s,", (int)klen, (const char *)key, (int)vlen,
             (const char *)val);
    return 0;
}

static void assert_scan(struct ghost_txn *t, uint64_t owner, const char *start, const char *want)
{
    char out[1024] = "";
    OK(ghost_map_scan(t, owner, 0, start, start ? strlen(start) : 0, render, out));
    ck_assert_str_eq(out, want);
}

static void put_obj(struct ghost *g, uint64_t oid, const char *val)
{
    struct ghost_txn *t = begin(g);
    OK(ghost_obj_put(t, oid, 1, val, strlen(val)));
    OK(ghost_txn_commit(t));
}

static int64_t prune_all(struct ghost *g, unsigned max_keys)
{
    uint64_t cursor = 0;
    int64_t total = 0;
    int rounds = 0;
    do {
        int64_t r = ghost_prune_versions(g, &cursor, max_keys);
        ck_assert_msg(r >= 0, "ghost_prune_versions = %" PRId64 ": %s", r, ghost_errmsg());
        total += r;
        ck_assert_msg(++rounds < 100000, "prune walk does not end");
    } while (cursor != 0);
    return total;
}

/* ---- snapshot views ------------------------------------------------------- */

#define OID 1000 /* the test object; its map 0 holds keys a..d */

/* v1 with {a=a1,b=b1,c=c1} is snapshot s1; v2 with {a=a1,c=c2,d=d2} is s2;
 * then everything is deleted. */
static void check_views(struct ghost *g)
{
    struct ghost_txn *t;

    t = begin(g);
    assert_obj(t, OID, NULL);
    assert_key(t, OID, "a", NULL);
    assert_key(t, OID, "c", NULL);
    assert_scan(t, OID, NULL, "");
    ghost_txn_abort(t);

    t = begin_snap(g, "s1");
    assert_obj(t, OID, "v1");
    assert_key(t, OID, "a", "a1");
    assert_key(t, OID, "b", "b1");
    assert_key(t, OID, "c", "c1");
    assert_key(t, OID, "d", NULL);
    assert_scan(t, OID, NULL, "a=a1,b=b1,c=c1,");
    assert_scan(t, OID, "b", "b=b1,c=c1,");
    assert_obj(t, OID + 1, NULL); /* written after s1 */
    ghost_txn_abort(t);

    t = begin_snap(g, "s2");
    assert_obj(t, OID, "v2");
    assert_key(t, OID, "a", "a1");
    assert_key(t, OID, "b", NULL);
    assert_key(t, OID, "c", "c2");
    assert_key(t, OID, "d", "d2");
    assert_scan(t, OID, NULL, "a=a1,c=c2,d=d2,");
    assert_scan(t, OID, "b", "c=c2,d=d2,");
    assert_obj(t, OID + 1, "later");
    ghost_txn_abort(t);
}

START_TEST(snapshot_views)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_snapshot list[4];

    new_store(path, sizeof path, "views.ghost");
    g = open_store(path);

    t = begin(g);
    OK(ghost_obj_put(t, OID, 1, "v1", 2));
    OK(ghost_map_put(t, OID, 0, "a", 1, "a1", 2));
    OK(ghost_map_put(t, OID, 0, "b", 1, "b1", 2));
    OK(ghost_map_put(t, OID, 0, "c", 1, "c1", 2));
    OK(ghost_txn_commit(t));
    uint64_t gen_a = head_generation(g);
    uint64_t before = now_ns();
    OK(ghost_snapshot_create(g, "s1"));
    uint64_t after = now_ns();

    t = begin(g);
    OK(ghost_obj_put(t, OID, 1, "v2", 2));
    OK(ghost_obj_put(t, OID + 1, 1, "later", 5));
    OK(ghost_map_put(t, OID, 0, "d", 1, "d2", 2));
    OK(ghost_map_del(t, OID, 0, "b", 1));
    OK(ghost_map_put(t, OID, 0, "c", 1, "c2", 2));
    OK(ghost_txn_commit(t));
    uint64_t gen_b = head_generation(g);
    ck_assert_uint_gt(gen_b, gen_a);
    OK(ghost_snapshot_create(g, "s2"));

    t = begin(g);
    OK(ghost_obj_del(t, OID));
    OK(ghost_map_del(t, OID, 0, "a", 1));
    OK(ghost_map_del(t, OID, 0, "c", 1));
    OK(ghost_map_del(t, OID, 0, "d", 1));
    OK(ghost_txn_commit(t));

    check_views(g);

    /* The list: both, in name order, with their generations. */
    ck_assert_int_eq(ghost_snapshot_list(g, list, 4), 2);
    ck_assert_str_eq(list[0].name, "s1");
    ck_assert_str_eq(list[1].name, "s2");
    ck_assert_uint_ge(list[0].generation, gen_a);
    ck_assert_uint_lt(list[0].generation, gen_b);
    ck_assert_uint_ge(list[1].generation, gen_b);
    ck_assert_uint_le(list[1].generation, head_generation(g));
    ck_assert_uint_ge(list[0].created_ns, before - 1000000000u); /* 1 s of clock slack */
    ck_assert_uint_le(list[0].created_ns, after + 1000000000u);
    ck_assert_uint_le(list[0].created_ns, list[1].created_ns);
    t = begin_snap(g, "s1");
    ck_assert_uint_eq(ghost_txn_generation(t), list[0].generation);
    ghost_txn_abort(t);
    t = begin_snap(g, "s2");
    ck_assert_uint_eq(ghost_txn_generation(t), list[1].generation);
    ghost_txn_abort(t);
    ghost_close(g);

    /* Snapshots survive close and reopen. */
    g = open_store(path);
    check_views(g);
    struct ghost_snapshot again[4];
    ck_assert_int_eq(ghost_snapshot_list(g, again, 4), 2);
    ck_assert_str_eq(again[0].name, "s1");
    ck_assert_uint_eq(again[0].generation, list[0].generation);
    ck_assert_uint_eq(again[0].created_ns, list[0].created_ns);
    ck_assert_str_eq(again[1].name, "s2");
    ck_assert_uint_eq(again[1].generation, list[1].generation);
    ghost_close(g);
}
END_TEST

START_TEST(snapshot_is_readonly)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    uint64_t oid;
    int r;

    new_store(path, sizeof path, "snap-ro.ghost");
    g = open_store(path);
    put_obj(g, OID, "v1");
    OK(ghost_snapshot_create(g, "frozen"));

    t = begin_snap(g, "frozen");
    r = ghost_obj_put(t, OID, 1, "v2", 2);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);

    t = begin_snap(g, "frozen");
    r = ghost_map_put(t, OID, 0, "k", 1, "v", 1);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);

    t = begin_snap(g, "frozen");
    r = ghost_obj_del(t, OID);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);

    t = begin_snap(g, "frozen");
    r = ghost_map_del(t, OID, 0, "k", 1);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);

    /* Nothing changed, in the snapshot or at the head. */
    t = begin_snap(g, "frozen");
    assert_obj(t, OID, "v1");
    assert_key(t, OID, "k", NULL);
    OK(ghost_txn_commit(t)); /* reading only: commits nothing, fine */
    t = begin(g);
    assert_obj(t, OID, "v1");
    assert_key(t, OID, "k", NULL);
    OK(ghost_oid_alloc(t, &oid)); /* the head is writable as ever */
    OK(ghost_obj_put(t, oid, 1, "x", 1));
    OK(ghost_txn_commit(t));
    ghost_close(g);
}
END_TEST

START_TEST(snapshot_names)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t = NULL;
    struct ghost_snapshot list[8];
    char name[GHOST_SNAP_NAME_MAX + 2];

    new_store(path, sizeof path, "names.ghost");
    g = open_store(path);
    put_obj(g, OID, "one");
    OK(ghost_snapshot_create(g, "beta"));
    put_obj(g, OID, "two");
    OK(ghost_snapshot_create(g, "alpha"));
    put_obj(g, OID, "three");
    OK(ghost_snapshot_create(g, "gamma"));
    put_obj(g, OID, "four");

    EXPECT(ghost_snapshot_create(g, "alpha"), -EEXIST);
    EXPECT(ghost_snapshot_create(g, ""), -EINVAL);
    EXPECT(ghost_snapshot_create(g, "a/b"), -EINVAL);
    EXPECT(ghost_snapshot_create(g, "."), -EINVAL);
    EXPECT(ghost_snapshot_create(g, ".."), -EINVAL);
    /* (An older ghostfs took them: such a snapshot is found and deleted
     * by its name; none is here.) */
    EXPECT(ghost_snapshot_delete(g, ".."), -ENOENT);
    OK(ghost_snapshot_create(g, "...")); /* only "." and ".." are taken */
    OK(ghost_snapshot_delete(g, "..."));
    memset(name, 'n', sizeof name);
    name[GHOST_SNAP_NAME_MAX + 1] = 0;
    EXPECT(ghost_snapshot_create(g, name), -EINVAL);
    name[GHOST_SNAP_NAME_MAX] = 0;
    OK(ghost_snapshot_create(g, name)); /* the longest legal name */
    EXPECT(ghost_snapshot_delete(g, "delta"), -ENOENT);
    EXPECT(ghost_txn_begin_snapshot(g, "delta", &t), -ENOENT);

    /* Name order; the count even when it exceeds max. */
    memset(list, 0xAB, sizeof list);
    ck_assert_int_eq(ghost_snapshot_list(g, list, 8), 4);
    ck_assert_str_eq(list[0].name, "alpha");
    ck_assert_str_eq(list[1].name, "beta");
    ck_assert_str_eq(list[2].name, "gamma");
    ck_assert_str_eq(list[3].name, name);
    ck_assert_uint_lt(list[1].generation, list[0].generation); /* beta was first */
    ck_assert_uint_lt(list[0].generation, list[2].generation);
    ck_assert_uint_le(list[2].generation, list[3].generation);
    ck_assert_uint_eq((unsigned char)list[4].name[0], 0xAB); /* untouched */

    memset(list, 0xAB, sizeof list);
    ck_assert_int_eq(ghost_snapshot_list(g, list, 1), 4);
    ck_assert_str_eq(list[0].name, "alpha");
    ck_assert_uint_eq((unsigned char)list[1].name[0], 0xAB);

    t = begin_snap(g, "beta");
    assert_obj(t, OID, "one");
    ghost_txn_abort(t);
    t = begin_snap(g, "alpha");
    assert_obj(t, OID, "two");
    ghost_txn_abort(t);
    t = begin_snap(g, "gamma");
    assert_obj(t, OID, "three");
    ghost_txn_abort(t);

    /* Delete; the name is then free again and means the new head. */
    OK(ghost_snapshot_delete(g, "alpha"));
    EXPECT(ghost_snapshot_delete(g, "alpha"), -ENOENT);
    EXPECT(ghost_txn_begin_snapshot(g, "alpha", &t), -ENOENT);
    ck_assert_int_eq(ghost_snapshot_list(g, list, 8), 3);
    ck_assert_str_eq(list[0].name, "beta");
    t = begin_snap(g, "beta");
    assert_obj(t, OID, "one"); /* the others are not disturbed */
    ghost_txn_abort(t);
    OK(ghost_snapshot_create(g, "alpha"));
    t = begin_snap(g, "alpha");
    assert_obj(t, OID, "four");
    ghost_txn_abort(t);
    ghost_close(g);

    g = open_store(path);
    ck_assert_int_eq(ghost_snapshot_list(g, list, 8), 4);
    ck_assert_str_eq(list[0].name, "alpha");
    ck_assert_str_eq(list[1].name, "beta");
    ck_assert_str_eq(list[2].name, "gamma");
    ghost_close(g);
}
END_TEST

/* ---- versions dropped and kept ----------------------------------------------- */

enum { VAL = 4096, OVERWRITES = 1000 };

static void fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 99;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void write_version(struct ghost *g, uint64_t n)
{
    static unsigned char buf[VAL];
    struct ghost_txn *t = begin(g);
    fill(buf, sizeof buf, n);
    OK(ghost_obj_put(t, OID, 1, buf, sizeof buf));
    OK(ghost_map_put(t, OID, 0, "hot", 3, buf, sizeof buf));
    OK(ghost_txn_commit(t));
}

static void assert_version(struct ghost_txn *t, uint64_t n)
{
    static unsigned char want[VAL];
    const void *data;
    size_t len;
    fill(want, sizeof want, n);
    OK(ghost_obj_get(t, OID, NULL, &data, &len));
    ck_assert_uint_eq(len, VAL);
    ck_assert_msg(!memcmp(data, want, VAL), "object is not version %" PRIu64, n);
    OK(ghost_map_get(t, OID, 0, "hot", 3, &data, &len));
    ck_assert_uint_eq(len, VAL);
    ck_assert_msg(!memcmp(data, want, VAL), "map value is not version %" PRIu64, n);
}

static uint64_t file_bytes(struct ghost *g)
{
    struct ghost_stats st;
    OK(ghost_sync(g));
    ghost_stats(g, &st);
    ck_assert_uint_gt(st.file_bytes, 0);
    return st.file_bytes;
}

START_TEST(overwrite_without_snapshot)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;

    new_store(path, sizeof path, "overwrite.ghost");
    g = open_store(path);
    write_version(g, 0);
    uint64_t start = file_bytes(g);
    for (uint64_t n = 1; n <= OVERWRITES; n++)
        write_version(g, n);
    uint64_t end = file_bytes(g);
    /* Keeping every version would take 2 x 1000 x 4 KiB = 8 MiB. */
    ck_assert_msg(end < start + (2 << 20),
                  "store grew from %" PRIu64 " to %" PRIu64 " bytes for one overwritten key", start,
                  end);
    t = begin(g);
    assert_version(t, OVERWRITES);
    ghost_txn_abort(t);
    ck_assert_int_eq(prune_all(g, 64), 0); /* nothing was left to prune */
    ghost_close(g);
}
END_TEST

START_TEST(snapshot_keeps_then_prune)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;

    new_store(path, sizeof path, "keep.ghost");
    g = open_store(path);
    write_version(g, 0);
    OK(ghost_snapshot_create(g, "keep"));
    uint64_t start = file_bytes(g);
    for (uint64_t n = 1; n <= OVERWRITES; n++)
        write_version(g, n);
    uint64_t end = file_bytes(g);
    /* The snapshot needs version 0, and nothing needs versions 1..999. */
    ck_assert_msg(end < start + (2 << 20),
                  "store grew from %" PRIu64 " to %" PRIu64 " bytes with one snapshot", start, end);
    t = begin_snap(g, "keep");
    assert_version(t, 0);
    ghost_txn_abort(t);
    t = begin(g);
    assert_version(t, OVERWRITES);
    ghost_txn_abort(t);

    /* Pruning while the snapshot lives must keep version 0. */
    prune_all(g, 64);
    t = begin_snap(g, "keep");
    assert_version(t, 0);
    ghost_txn_abort(t);
    ghost_close(g);

    g = open_store(path);
    t = begin_snap(g, "keep");
    assert_version(t, 0);
    ghost_txn_abort(t);
    OK(ghost_snapshot_delete(g, "keep"));
    int64_t dropped = prune_all(g, 1);
    ck_assert_msg(dropped > 0, "prune dropped %" PRId64 " versions after the snapshot went",
                  dropped);
    ck_assert_int_eq(prune_all(g, 64), 0);
    t = begin(g);
    assert_version(t, OVERWRITES);
    ghost_txn_abort(t);
    ghost_close(g);

    g = open_store(path);
    t = begin(g);
    assert_version(t, OVERWRITES);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* Deleting the middle one of three snapshots frees what only it needed and
 * keeps what the others need. */
START_TEST(prune_keeps_needed_versions)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;

    new_store(path, sizeof path, "three.ghost");
    g = open_store(path);
    for (int i = 1; i <= 4; i++) {
        char v[8], s[8];
        snprintf(v, sizeof v, "v%d", i);
        t = begin(g);
        OK(ghost_obj_put(t, OID, 1, v, strlen(v)));
        OK(ghost_map_put(t, OID, 0, "k", 1, v, strlen(v)));
        if (i == 2)
            OK(ghost_map_put(t, OID, 0, "only2", 5, v, strlen(v)));
        if (i == 3)
            OK(ghost_map_del(t, OID, 0, "only2", 5));
        OK(ghost_txn_commit(t));
        snprintf(s, sizeof s, "s%d", i);
        if (i < 4)
            OK(ghost_snapshot_create(g, s));
    }
    /* Extra objects so that the walk has more than one key to go over. */
    for (uint64_t o = OID + 1; o < OID + 200; o++)
        put_obj(g, o, "filler");

    OK(ghost_snapshot_delete(g, "s2"));
    int64_t dropped = prune_all(g, 3);
    ck_assert_msg(dropped >= 2,
                  "prune dropped %" PRId64 " versions, expected v2 of the "
                  "object and of key k (and key only2)",
                  dropped);

    for (int pass = 0; pass < 2; pass++) {
        t = begin_snap(g, "s1");
        assert_obj(t, OID, "v1");
        assert_key(t, OID, "k", "v1");
        assert_key(t, OID, "only2", NULL);
        ghost_txn_abort(t);
        t = begin_snap(g, "s3");
        assert_obj(t, OID, "v3");
        assert_key(t, OID, "k", "v3");
        assert_key(t, OID, "only2", NULL);
        assert_obj(t, OID + 1, NULL);
        ghost_txn_abort(t);
        t = begin(g);
        assert_obj(t, OID, "v4");
        assert_key(t, OID, "k", "v4");
        assert_scan(t, OID, NULL, "k=v4,");
        assert_obj(t, OID + 150, "filler");
        ghost_txn_abort(t);
        ghost_close(g);
        g = open_store(path);
    }
    ghost_close(g);
}
END_TEST

/* A batch that changes nothing (its only write deletes a key that does not
 * exist) commits nothing and takes no generation: a snapshot taken after it
 * must still keep what a later write replaces. (Once, such a batch made
 * the next one trust its stale "no snapshot" and overwrite the version the
 * snapshot needed.) */
START_TEST(snapshot_after_a_batch_that_changed_nothing)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    const void *data;
    size_t len;

    new_store(path, sizeof path, "noop.ghost");
    g = open_store(path);
    t = begin(g);
    OK(ghost_obj_put(t, 100, 1, "v1", 2));
    OK(ghost_txn_commit(t));
    t = begin(g);
    OK(ghost_obj_del(t, 200)); /* never existed */
    OK(ghost_map_del(t, 100, 0, "none", 4));
    OK(ghost_txn_commit(t));
    OK(ghost_snapshot_create(g, "s"));
    t = begin(g);
    OK(ghost_obj_put(t, 100, 1, "v2", 2));
    OK(ghost_txn_commit(t));

    t = begin_snap(g, "s");
    OK(ghost_obj_get(t, 100, NULL, &data, &len));
    ck_assert_msg(len == 2 && !memcmp(data, "v1", 2), "snapshot s does not see v1");
    ghost_txn_abort(t);
    t = begin(g);
    OK(ghost_obj_get(t, 100, NULL, &data, &len));
    ck_assert_msg(len == 2 && !memcmp(data, "v2", 2), "the head is not v2");
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("views");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, snapshot_views);
    tcase_add_test(tc, snapshot_is_readonly);
    tcase_add_test(tc, snapshot_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("versions");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, overwrite_without_snapshot);
    tcase_add_test(tc, snapshot_keeps_then_prune);
    tcase_add_test(tc, prune_keeps_needed_versions);
    tcase_add_test(tc, snapshot_after_a_batch_that_changed_nothing);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(snapshot_suite)
