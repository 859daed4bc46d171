/*
 * test_changes.c - ghost_changes and the change index behind it: after
 * random writes, deletes and map changes between snapshots taken and
 * deleted along the way, the OIDs named between any two snapshots (or a
 * snapshot and the head) are every OID whose object or map differs, and
 * only OIDs written in between; the index is read in many views when it
 * is large; bad snapshot names and orders are refused; and when the
 * snapshots go, pruning leaves the store with exactly the records it had
 * before they were taken (the index holds nothing for no one).
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir().
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ghost.h"
#include "util.h"

#define FIRST 100
#define N 300
#define TYPE 3
#define MAP 2
#define SNAPS 8

/* The model: each OID's object (0 absent, else its value) and its one map
 * key (likewise), and when each was last written. */
struct model {
    uint64_t obj[N], key[N];
};

struct op {
    struct model *m;
    uint64_t *written; /* [N]: the step of each OID's last write */
    uint64_t step;
    unsigned seed;
};

static int random_writes(struct ghost_txn *t, void *arg)
{
    struct op *o = arg;
    unsigned seed = o->seed;
    for (int i = 0; i < 5; i++) {
        unsigned x = (unsigned)rand_r(&seed);
        unsigned n = x % N, what = (x / N) % 4;
        uint64_t oid = FIRST + n, val = o->step * 1000 + (uint64_t)i + 1;
        int r;
        switch (what) {
        case 0:
            r = ghost_obj_put(t, oid, TYPE, &val, sizeof val);
            o->m->obj[n] = val;
            break;
        case 1:
            r = ghost_obj_del(t, oid);
            if (r == -ENOENT)
                continue; /* nothing changed */
            o->m->obj[n] = 0;
            break;
        case 2:
            r = ghost_map_put(t, oid, MAP, "k", 1, &val, sizeof val);
            o->m->key[n] = val;
            break;
        default:
            r = ghost_map_del(t, oid, MAP, "k", 1);
            if (r == -ENOENT)
                continue;
            o->m->key[n] = 0;
            break;
        }
        if (r)
            return r;
        o->written[n] = o->step;
    }
    return 0;
}

struct seen {
    bool named[N];
    bool oids_named[100];
    unsigned count;
    uint64_t last;
};

static int collect(void *arg, uint64_t oid)
{
    struct seen *s = arg;
    ck_assert_uint_ge(oid, FIRST);
    ck_assert_uint_lt(oid, FIRST + N);
    ck_assert_msg(!s->count || oid > s->last, "OIDs out of order or twice");
    s->named[oid - FIRST] = true;
    s->count++;
    s->last = oid;
    return 0;
}

static int collect_any(void *arg, uint64_t oid)
{
    struct seen *s = arg;
    ck_assert_uint_ge(oid, 1000);
    ck_assert_uint_lt(oid, 1100);
    s->oids_named[oid - 1000] = true;
    s->count++;
    return 0;
}

/* Every OID that differs between a and b is named; every OID named was
 * written in (from, to]. writes[k][n]: OID n was written in step k. */
static void check_pair(struct ghost *g, const char *from, const char *to, const struct model *a,
                       const struct model *b, bool writes[][N], uint64_t from_step,
                       uint64_t to_step)
{
    struct seen s = {0};
    bool walked = true;
    OK(ghost_changes(g, from, to, collect, &s, &walked));
    ck_assert(!walked); /* a store made with the index */
    for (unsigned n = 0; n < N; n++) {
        bool differs = a->obj[n] != b->obj[n] || a->key[n] != b->key[n];
        bool touched = false;
        for (uint64_t k = from_step + 1; k <= to_step; k++)
            touched |= writes[k][n];
        ck_assert_msg(!differs || s.named[n], "%s..%s: OID %u differs and was not named", from,
                      to ? to : "head", FIRST + n);
        ck_assert_msg(!s.named[n] || touched, "%s..%s: OID %u named but not written between", from,
                      to ? to : "head", FIRST + n);
    }
}

#define STEPS 60

START_TEST(changes_between_snapshots)
{
    const char *path = test_new_store("pairs");
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    static struct model m, at[STEPS + 1];
    static bool writes[STEPS + 1][N];
    uint64_t written[N] = {0};
    char names[STEPS + 1][16];
    bool alive[STEPS + 1] = {false};
    for (uint64_t k = 1; k <= STEPS; k++) {
        struct op o = {&m, written, k, (unsigned)k * 7919u};
        uint64_t before[N];
        memcpy(before, written, sizeof before);
        OK(ghost_run(g, random_writes, &o));
        for (unsigned n = 0; n < N; n++)
            writes[k][n] = written[n] != before[n];
        at[k] = m;
        if (k % 5 == 0) { /* a snapshot after this step */
            snprintf(names[k], sizeof names[k], "s%llu", (unsigned long long)k);
            OK(ghost_snapshot_create(g, names[k]));
            alive[k] = true;
        }
        if (k == 25) { /* delete some along the way: their records stay right */
            OK(ghost_snapshot_delete(g, "s10"));
            alive[10] = false;
        }
        if (k == 45) {
            OK(ghost_snapshot_delete(g, "s5"));
            alive[5] = false;
            uint64_t cur = 0;
            int64_t r;
            do
                r = ghost_prune_versions(g, &cur, 0);
            while (r >= 0 && cur);
            ck_assert_int_ge(r, 0);
        }
    }
    unsigned pairs = 0;
    for (uint64_t a = 1; a <= STEPS; a++) {
        if (!alive[a])
            continue;
        for (uint64_t b = a + 1; b <= STEPS; b++)
            if (alive[b]) {
                check_pair(g, names[a], names[b], &at[a], &at[b], writes, a, b);
                pairs++;
            }
        check_pair(g, names[a], NULL, &at[a], &m, writes, a, STEPS);
    }
    ck_assert_uint_ge(pairs, 20);
    ghost_close(g);
}
END_TEST

static int fill(struct ghost_txn *t, void *arg)
{
    uint64_t first = *(uint64_t *)arg;
    for (uint64_t o = first; o < first + 1000; o++) {
        int r = ghost_obj_put(t, o, TYPE, &o, sizeof o);
        if (r)
            return r;
    }
    return 0;
}

static int count_oids(void *arg, uint64_t oid)
{
    (void)oid;
    (*(uint64_t *)arg)++;
    return 0;
}

static uint64_t records(struct ghost *g)
{
    struct ghost_scrub_cursor cur = {0};
    struct ghost_scrub_stats st = {0};
    int r;
    while ((r = ghost_scrub(g, &cur, 0, NULL, &st)) == 0)
        ;
    EXPECT(r, 1);
    ck_assert_uint_eq(st.findings, 0);
    return st.records;
}

/* A change bigger than one read view of the index, then the snapshot
 * deleted: pruning takes the store back to its record count before. */
START_TEST(large_change_then_pruned)
{
    const char *path = test_new_store("large");
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    uint64_t first = 1000;
    for (int i = 0; i < 10; i++, first += 1000)
        OK(ghost_run(g, fill, &first));
    uint64_t before = records(g);
    OK(ghost_snapshot_create(g, "base"));
    /* Rewrite all 10000, twice: each OID is indexed once. */
    for (int pass = 0; pass < 2; pass++) {
        first = 1000;
        for (int i = 0; i < 10; i++, first += 1000)
            OK(ghost_run(g, fill, &first));
    }
    uint64_t n = 0;
    OK(ghost_changes(g, "base", NULL, count_oids, &n, NULL));
    ck_assert_uint_eq(n, 10000);
    /* The snapshot's record, the 10000 versions it keeps, and the index's
     * 10000 records. */
    ck_assert_uint_eq(records(g), before + 1 + 10000 + 10000);
    OK(ghost_snapshot_delete(g, "base"));
    uint64_t cur = 0;
    int64_t r;
    do
        r = ghost_prune_versions(g, &cur, 0);
    while (r >= 0 && cur);
    ck_assert_int_ge(r, 0);
    ck_assert_uint_eq(records(g), before);
    ghost_close(g);
}
END_TEST

START_TEST(bad_requests_refused)
{
    const char *path = test_new_store("bad");
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    uint64_t first = 1000, n = 0;
    OK(ghost_run(g, fill, &first));
    OK(ghost_snapshot_create(g, "a"));
    OK(ghost_run(g, fill, &first));
    OK(ghost_snapshot_create(g, "b"));
    EXPECT(ghost_changes(g, "nope", NULL, count_oids, &n, NULL), -ENOENT);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "nope"));
    EXPECT(ghost_changes(g, "a", "nope", count_oids, &n, NULL), -ENOENT);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "nope"));
    EXPECT(ghost_changes(g, "b", "a", count_oids, &n, NULL), -EINVAL);
    EXPECT(ghost_changes(g, "a", "a", count_oids, &n, NULL), -EINVAL);
    EXPECT(ghost_changes(g, NULL, NULL, count_oids, &n, NULL), -EINVAL);
    ck_assert_uint_eq(n, 0);
    /* Nothing changed since b; 1000 between a and b. */
    OK(ghost_changes(g, "b", NULL, count_oids, &n, NULL));
    ck_assert_uint_eq(n, 0);
    OK(ghost_changes(g, "a", "b", count_oids, &n, NULL));
    ck_assert_uint_eq(n, 1000);
    ghost_close(g);
}
END_TEST

static int touch_ten(struct ghost_txn *t, void *arg)
{
    (void)arg;
    for (uint64_t o = 1000; o < 1100; o += 10) {
        int r = ghost_obj_put(t, o, TYPE, "changed", 7);
        if (r)
            return r;
    }
    return 0;
}

/* Send snapshot snap of src (from base, if any) and receive it into dst. */
static void send_receive(struct ghost *src, const char *snap, const char *base, struct ghost *dst)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    OK(ghost_send(src, snap, base, fileno(f), NULL, NULL, NULL));
    ck_assert_int_eq(lseek(fileno(f), 0, SEEK_SET), 0);
    OK(ghost_receive(dst, fileno(f), NULL, NULL, NULL));
    fclose(f);
}

/* A received store's snapshots diff as the sender's do: a receive's
 * changes belong before the snapshot it takes. */
START_TEST(received_snapshots_diff_alike)
{
    char src_path[4096];
    snprintf(src_path, sizeof src_path, "%s", test_new_store("src"));
    const char *dst_path = test_new_store("dst");
    struct ghost *src, *dst;
    OK(ghost_open(src_path, NULL, &src));
    OK(ghost_open(dst_path, NULL, &dst));
    uint64_t first = 1000, n = 0;
    OK(ghost_run(src, fill, &first));
    OK(ghost_snapshot_create(src, "a"));
    OK(ghost_run(src, touch_ten, NULL));
    OK(ghost_snapshot_create(src, "b"));
    send_receive(src, "a", NULL, dst);
    send_receive(src, "b", "a", dst);
    struct seen s = {0};
    OK(ghost_changes(dst, "a", "b", collect_any, &s, NULL));
    ck_assert_uint_eq(s.count, 10);
    for (uint64_t o = 1000; o < 1100; o += 10)
        ck_assert_msg(s.oids_named[o - 1000], "OID %llu not named", (unsigned long long)o);
    OK(ghost_changes(dst, "a", NULL, count_oids, &n, NULL));
    ck_assert_uint_eq(n, 10);
    n = 0;
    OK(ghost_changes(dst, "b", NULL, count_oids, &n, NULL));
    ck_assert_uint_eq(n, 0);
    ghost_close(dst);
    ghost_close(src);
}
END_TEST

static Suite *changes_suite(void)
{
    Suite *s = suite_create("changes");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, changes_between_snapshots);
    tcase_add_test(tc, large_change_then_pruned);
    tcase_add_test(tc, bad_requests_refused);
    tcase_add_test(tc, received_snapshots_diff_alike);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(changes_suite)
