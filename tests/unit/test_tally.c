/*
 * test_tally.c - every map's tally (its count of keys and the digest of
 * which versions they hold) is kept by every commit, with and without
 * snapshots, and read at a snapshot as it was; a key the store lost or an
 * older version in a key's place makes ghost_map_check fail where a scan
 * alone would show a smaller map; a store of format 2 is read without
 * tallies when opened read-only and converted on its first writable open.
 *
 * The damage is forged with LMDB itself (forge.h), as a damaged page would
 * leave it: a record gone, or an older one in its place, each with a valid
 * checksum.
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir(), which the main process removes at exit.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forge.h"
#include "ghost.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------- */

static struct ghost *open_store(const char *path, bool readonly)
{
    struct ghost_options o;
    struct ghost *g = NULL;
    ghost_options_init(&o);
    o.readonly = readonly;
    OK(ghost_open(path, &o, &g));
    return g;
}

static struct ghost_txn *begin(struct ghost *g)
{
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin(g, &t));
    return t;
}

static void put(struct ghost *g, uint64_t owner, uint8_t map, const char *key, const char *val)
{
    struct ghost_txn *t = begin(g);
    OK(ghost_map_put(t, owner, map, key, strlen(key), val, strlen(val)));
    OK(ghost_txn_commit(t));
}

static void del(struct ghost *g, uint64_t owner, uint8_t map, const char *key)
{
    struct ghost_txn *t = begin(g);
    OK(ghost_map_del(t, owner, map, key, strlen(key)));
    OK(ghost_txn_commit(t));
}

/* The tally of (owner, map) at the head, checked against what the map holds. */
static struct ghost_tally tally(struct ghost *g, uint64_t owner, uint8_t map)
{
    struct ghost_txn *t = begin(g);
    struct ghost_tally want, found;
    OK(ghost_map_tally(t, owner, map, &want));
    OK(ghost_map_check(t, owner, map, &found));
    ck_assert_uint_eq(found.count, want.count);
    ck_assert_uint_eq(found.digest, want.digest);
    ghost_txn_abort(t);
    return want;
}

static int count_keys(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    ++*(int *)arg;
    return 0;
}

/* ---- tests --------------------------------------------------------------- */

/* Puts, overwrites and deletes keep count and digest equal to what the map
 * holds; an empty map's tally is zeros; maps do not share tallies. */
START_TEST(kept_by_every_commit)
{
    struct ghost *g = open_store(test_new_store("kept.ghost"), false);
    struct ghost_tally t0 = tally(g, 40, 1), t;
    ck_assert_uint_eq(t0.count, 0);
    ck_assert_uint_eq(t0.digest, 0);
    put(g, 40, 1, "a", "one");
    put(g, 40, 1, "b", "two");
    put(g, 40, 2, "a", "other map");
    t = tally(g, 40, 1);
    ck_assert_uint_eq(t.count, 2);
    struct ghost_tally before = t;
    put(g, 40, 1, "a", "one, again"); /* an overwrite: same count, new digest */
    t = tally(g, 40, 1);
    ck_assert_uint_eq(t.count, 2);
    ck_assert_uint_ne(t.digest, before.digest);
    del(g, 40, 1, "a");
    del(g, 40, 1, "nothing"); /* deleting what is absent changes nothing */
    ck_assert_uint_eq(tally(g, 40, 1).count, 1);
    del(g, 40, 1, "b");
    t = tally(g, 40, 1);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_uint_eq(t.digest, 0);
    ck_assert_uint_eq(tally(g, 40, 2).count, 1);

    /* Many transactions in one batch, some writing one key twice. */
    struct ghost_txn *tx = begin(g);
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i % 200);
        OK(ghost_map_put(tx, 41, 3, key, strlen(key), key, strlen(key)));
    }
    OK(ghost_txn_commit(tx));
    ck_assert_uint_eq(tally(g, 41, 3).count, 200);

    /* A scan does not show the tally as a key. */
    tx = begin(g);
    int n = 0;
    OK(ghost_map_scan(tx, 41, 3, NULL, 0, count_keys, &n));
    ck_assert_int_eq(n, 200);
    ghost_txn_abort(tx);
    ghost_close(g);
}
END_TEST

/* A snapshot reads the tally of its own generation, and a check there
 * recomputes the terms of the versions kept for it. */
START_TEST(snapshot_sees_its_tally)
{
    struct ghost *g = open_store(test_new_store("snap.ghost"), false);
    put(g, 40, 1, "a", "one");
    put(g, 40, 1, "b", "two");
    struct ghost_tally then = tally(g, 40, 1);
    OK(ghost_snapshot_create(g, "s1"));
    put(g, 40, 1, "a", "changed"); /* the old head is kept for s1 */
    del(g, 40, 1, "b");
    put(g, 40, 1, "c", "new");
    ck_assert_uint_eq(tally(g, 40, 1).count, 2);
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin_snapshot(g, "s1", &t));
    struct ghost_tally at, found;
    OK(ghost_map_tally(t, 40, 1, &at));
    ck_assert_uint_eq(at.count, then.count);
    ck_assert_uint_eq(at.digest, then.digest);
    OK(ghost_map_check(t, 40, 1, &found));
    ck_assert_uint_eq(found.digest, then.digest);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* A key the store lost: the scan shows one key fewer, the check says so. */
START_TEST(lost_key_is_found)
{
    const char *path = test_new_store("lost.ghost");
    struct ghost *g = open_store(path, false);
    put(g, 40, 3, "block0", "data");
    put(g, 40, 3, "block1", "data");
    put(g, 40, 3, "block2", "data");
    ghost_close(g);
    forge_lose_key(path, 40, 3, "block1", 6);
    g = open_store(path, false);
    struct ghost_txn *t = begin(g);
    struct ghost_tally want, found;
    OK(ghost_map_tally(t, 40, 3, &want));
    ck_assert_uint_eq(want.count, 3);
    EXPECT(ghost_map_check(t, 40, 3, &found), -GHOST_ECORRUPT);
    ck_assert_uint_eq(found.count, 2);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "object 40, map 3"));
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* An older version in a key's place (its checksum valid): the count
 * agrees, the digest does not. */
START_TEST(stale_version_is_found)
{
    const char *path = test_new_store("stale.ghost");
    unsigned char save[256];
    size_t len = 0;
    struct ghost *g = open_store(path, false);
    put(g, 40, 3, "block0", "old bytes");
    ghost_close(g);
    forge_swap_key(path, 40, 3, "block0", 6, save, &len, false);
    g = open_store(path, false);
    put(g, 40, 3, "block0", "new bytes");
    ghost_close(g);
    forge_swap_key(path, 40, 3, "block0", 6, save, &len, true);
    g = open_store(path, false);
    struct ghost_txn *t = begin(g);
    const void *v;
    size_t vlen;
    OK(ghost_map_get(t, 40, 3, "block0", 6, &v, &vlen)); /* reads back, checksum and all */
    ck_assert_mem_eq(v, "old bytes", 9);
    EXPECT(ghost_map_check(t, 40, 3, NULL), -GHOST_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "not the versions"));
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* Format 2: read-only, no tallies (-ENODATA) and the maps read as before;
 * writable, converted once, the tallies right, the format 3. */
START_TEST(format2_converted)
{
    const char *path = test_new_store("old.ghost");
    struct ghost *g = open_store(path, false);
    char key[16];
    for (uint64_t owner = 40; owner < 60; owner++)
        for (int i = 0; i < (int)owner % 7; i++) {
            snprintf(key, sizeof key, "k%d", i);
            put(g, owner, (uint8_t)(1 + owner % 3), key, "value");
        }
    OK(ghost_snapshot_create(g, "before"));
    put(g, 40, 2, "k0", "changed"); /* an older version, which is not counted */
    ghost_close(g);
    forge_format2(path);

    g = open_store(path, true);
    struct ghost_txn *t = begin(g);
    struct ghost_tally tl;
    EXPECT(ghost_map_tally(t, 41, 3, &tl), -ENODATA);
    int n = 0;
    OK(ghost_map_scan(t, 41, 3, NULL, 0, count_keys, &n));
    ck_assert_int_eq(n, 41 % 7);
    ghost_txn_abort(t);
    ghost_close(g);

    g = open_store(path, false); /* converts */
    for (uint64_t owner = 40; owner < 60; owner++)
        ck_assert_uint_eq(tally(g, owner, (uint8_t)(1 + owner % 3)).count, owner % 7);
    OK(ghost_txn_begin_snapshot(g, "before", &t)); /* older than the conversion */
    EXPECT(ghost_map_tally(t, 41, 3, &tl), -ENODATA);
    ghost_txn_abort(t);
    put(g, 41, 3, "more", "value");
    ck_assert_uint_eq(tally(g, 41, 3).count, 41 % 7 + 1);
    ghost_close(g);
    g = open_store(path, false); /* once: a second open finds format 3 */
    ck_assert_uint_eq(tally(g, 41, 3).count, 41 % 7 + 1);
    ghost_close(g);
}
END_TEST

/* A transaction that read a tally conflicts with a commit that changed
 * the map since, as with any read. */
START_TEST(tally_read_is_validated)
{
    struct ghost *g = open_store(test_new_store("valid.ghost"), false);
    put(g, 40, 1, "a", "one");
    struct ghost_txn *t = begin(g);
    struct ghost_tally tl;
    OK(ghost_map_tally(t, 40, 1, &tl));
    ck_assert_uint_eq(tl.count, 1);
    put(g, 40, 1, "b", "two");
    OK(ghost_map_put(t, 41, 1, "x", 1, "y", 1));
    EXPECT(ghost_txn_commit(t), -GHOST_ECONFLICT);
    t = begin(g);
    OK(ghost_map_tally(t, 40, 1, &tl));
    ck_assert_uint_eq(tl.count, 2);
    put(g, 40, 2, "other map", "z"); /* another map of the owner: no conflict */
    OK(ghost_map_put(t, 41, 1, "x", 1, "y", 1));
    OK(ghost_txn_commit(t));
    ghost_close(g);
}
END_TEST

static int init_nothing(struct ghost_txn *t, void *arg)
{
    (void)arg;
    return ghost_map_put(t, 40, 2, "made", 4, "at mkfs", 7);
}

/* A map the store was made to keep no tally of: none read, none kept, and
 * the other maps keep theirs. */
START_TEST(untallied_map)
{
    const char *path = test_new_store("untallied.ghost");
    unlink(path);
    OK(ghost_mkfs_init(path, UINT64_C(1) << 2, init_nothing, NULL));
    struct ghost *g = open_store(path, false);
    put(g, 40, 2, "a", "one");
    put(g, 40, 1, "a", "one");
    struct ghost_txn *t = begin(g);
    struct ghost_tally tl;
    EXPECT(ghost_map_tally(t, 40, 2, &tl), -ENODATA);
    EXPECT(ghost_map_check(t, 40, 2, NULL), -ENODATA);
    int n = 0;
    OK(ghost_map_scan(t, 40, 2, NULL, 0, count_keys, &n));
    ck_assert_int_eq(n, 2);
    ghost_txn_abort(t);
    ck_assert_uint_eq(tally(g, 40, 1).count, 1);
    ghost_close(g);
}
END_TEST

static void put_obj(struct ghost *g, uint64_t oid, const char *val)
{
    struct ghost_txn *t = begin(g);
    if (val)
        OK(ghost_obj_put(t, oid, 1, val, strlen(val)));
    else
        OK(ghost_obj_del(t, oid));
    OK(ghost_txn_commit(t));
}

static int obj_at(struct ghost *g, const char *snap, uint64_t oid, char *out, size_t size)
{
    struct ghost_txn *t;
    const void *v;
    size_t len;
    OK(ghost_txn_begin_snapshot(g, snap, &t));
    int r = ghost_obj_get(t, oid, NULL, &v, &len);
    if (!r)
        snprintf(out, size, "%.*s", (int)len, (const char *)v);
    ghost_txn_abort(t);
    return r;
}

/* An owner's tallies sort after all of its object's versions: a deleted
 * object whose older version a snapshot keeps gets its tombstone (a later
 * snapshot does not see it again), and pruning drops its versions. */
START_TEST(tallies_after_object_versions)
{
    struct ghost *g = open_store(test_new_store("order.ghost"), false);
    char got[32];
    put_obj(g, 40, "v1");
    put(g, 40, 1, "a", "a map, so a tally");
    OK(ghost_snapshot_create(g, "s1"));
    put_obj(g, 40, "v2"); /* v1 kept for s1 */
    put_obj(g, 40, "v3");
    put_obj(g, 40, NULL); /* deleted: a tombstone must hide v1 */
    OK(ghost_snapshot_create(g, "s2"));
    EXPECT(obj_at(g, "s2", 40, got, sizeof got), -ENOENT);
    OK(obj_at(g, "s1", 40, got, sizeof got));
    ck_assert_str_eq(got, "v1");
    put(g, 40, 1, "b", "more");
    OK(ghost_snapshot_delete(g, "s1"));
    OK(ghost_snapshot_delete(g, "s2"));
    uint64_t cursor = 0;
    int64_t dropped = 0;
    do {
        int64_t n = ghost_prune_versions(g, &cursor, 100);
        ck_assert_int_ge(n, 0);
        dropped += n;
    } while (cursor);
    ck_assert_int_ge(dropped, 2); /* v1 and the tombstone, at least */
    ck_assert_uint_eq(tally(g, 40, 1).count, 2);
    struct ghost_txn *t = begin(g);
    EXPECT(ghost_obj_get(t, 40, NULL, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

static Suite *tally_suite(void)
{
    Suite *s = suite_create("tally");
    TCase *tc = tcase_create("tally");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kept_by_every_commit);
    tcase_add_test(tc, snapshot_sees_its_tally);
    tcase_add_test(tc, lost_key_is_found);
    tcase_add_test(tc, stale_version_is_found);
    tcase_add_test(tc, format2_converted);
    tcase_add_test(tc, tally_read_is_validated);
    tcase_add_test(tc, untallied_map);
    tcase_add_test(tc, tallies_after_object_versions);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(tally_suite)
