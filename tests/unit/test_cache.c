/*
 * test_cache.c - the object cache: pin counts, a byte budget that is never
 * exceeded, pinned handles that stay while unpinned ones go, hit and miss
 * counters, and the headline promise: touching a million objects once with a
 * 64 MiB budget keeps the process under 128 MiB.
 *
 * The million-object test runs the writer and the reader in two fresh
 * processes so that the reader's peak RSS (VmHWM) measures reading alone.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghost.h"
#include "proc.h"
#include "util.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static struct ghost *open_store(const char *path, size_t cache_bytes, enum ghost_sync sync)
{
    struct ghost_options opts;
    struct ghost *g = NULL;
    ghost_options_init(&opts);
    opts.cache_bytes = cache_bytes;
    opts.sync = sync;
    OK(ghost_open(path, &opts, &g));
    ck_assert_ptr_nonnull(g);
    return g;
}

/* Deterministic object contents: len bytes derived from the OID. */
static void fill(uint64_t oid, uint8_t *buf, size_t len)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(oid * 131 + j * 7 + (j >> 8));
}

static bool same(uint64_t oid, const void *data, size_t len, size_t want)
{
    uint8_t buf[4096];
    if (len != want || len > sizeof buf)
        return false;
    fill(oid, buf, len);
    return memcmp(buf, data, len) == 0;
}

/* Allocate n OIDs and write an object of size bytes to each, per_txn objects
 * in a transaction; after every commit the cache must be within its budget. */
static void write_objects(struct ghost *g, uint64_t *oids, size_t n, size_t size, size_t per_txn)
{
    uint8_t buf[4096];
    ck_assert_uint_le(size, sizeof buf);
    for (size_t i = 0; i < n;) {
        struct ghost_txn *t;
        OK(ghost_txn_begin(g, &t));
        for (size_t k = 0; k < per_txn && i < n; k++, i++) {
            OK(ghost_oid_alloc(t, &oids[i]));
            ck_assert_uint_ge(oids[i], GHOST_OID_FIRST);
            fill(oids[i], buf, size);
            OK(ghost_obj_put(t, oids[i], 1, buf, size));
        }
        OK(ghost_txn_commit(t));
        struct ghost_stats st;
        ghost_stats(g, &st);
        ck_assert_msg(st.cache_bytes <= st.cache_budget,
                      "after writing %zu objects the cache holds %" PRIu64
                      " bytes, budget %" PRIu64,
                      i, st.cache_bytes, st.cache_budget);
    }
}

/* --- pin counts ------------------------------------------------------------ */

START_TEST(pin_counts)
{
    char path[4352];
    snprintf(path, sizeof path, "%s", test_new_store("pin"));
    struct ghost *g = open_store(path, 0, GHOST_SYNC_NONE);
    uint64_t oids[2];
    write_objects(g, oids, 2, 100, 2);
    uint64_t a = oids[0], b = oids[1];

    ghost_pin(g, a, 3);
    ck_assert_uint_eq(ghost_unpin(g, a, 1), 2);
    ghost_pin(g, a, 2);
    ck_assert_uint_eq(ghost_unpin(g, a, 1), 3);

    ghost_pin(g, b, 1);
    struct ghost_stats st;
    ghost_stats(g, &st);
    ck_assert_uint_ge(st.cache_handles, 2);
    ck_assert_uint_eq(ghost_unpin(g, b, 1), 0);
    /* b's count is independent of a's */
    ck_assert_uint_eq(ghost_unpin(g, a, 2), 1);

    /* a pinned object is still read correctly */
    struct ghost_txn *t;
    const void *data;
    size_t len;
    uint8_t type;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_obj_get(t, a, &type, &data, &len));
    ck_assert_uint_eq(type, 1);
    ck_assert(same(a, data, len, 100));
    OK(ghost_txn_commit(t));

    ck_assert_uint_eq(ghost_unpin(g, a, 1), 0);

    /* a large count in one call */
    ghost_pin(g, b, 1000000);
    ck_assert_uint_eq(ghost_unpin(g, b, 999999), 1);
    ck_assert_uint_eq(ghost_unpin(g, b, 1), 0);

    ghost_close(g);
    remove_store(path);
}
END_TEST

/* --- the byte budget -------------------------------------------------------- */

#define N_SMALL 2000
#define SMALL_SIZE 1024
#define SMALL_BUDGET (64 * KiB)
#define PIN_EVERY 40

static void check_budget(struct ghost *g, const char *when, size_t i)
{
    struct ghost_stats st;
    ghost_stats(g, &st);
    ck_assert_msg(st.cache_bytes <= SMALL_BUDGET,
                  "%s %zu: cache holds %" PRIu64 " bytes, budget %zu (%" PRIu64 " handles, %" PRIu64
                  " loaded)",
                  when, i, st.cache_bytes, SMALL_BUDGET, st.cache_handles, st.cache_loaded);
}

/* Read every object once, 16 to a transaction, checking the budget after
 * every read and every commit. */
static void read_all_checked(struct ghost *g, const uint64_t *oids, size_t n)
{
    for (size_t i = 0; i < n;) {
        struct ghost_txn *t;
        OK(ghost_txn_begin(g, &t));
        for (size_t k = 0; k < 16 && i < n; k++, i++) {
            const void *data;
            size_t len;
            uint8_t type;
            OK(ghost_obj_get(t, oids[i], &type, &data, &len));
            ck_assert_uint_eq(type, 1);
            ck_assert_msg(same(oids[i], data, len, SMALL_SIZE), "object %" PRIu64 " is wrong",
                          oids[i]);
            check_budget(g, "after reading object", i);
        }
        OK(ghost_txn_commit(t));
        check_budget(g, "after the commit following object", i);
    }
}

START_TEST(budget_is_never_exceeded)
{
    static uint64_t oids[N_SMALL];
    char path[4352];
    snprintf(path, sizeof path, "%s", test_new_store("budget"));
    struct ghost *g = open_store(path, SMALL_BUDGET, GHOST_SYNC_NONE);

    struct ghost_stats st0, st;
    ghost_stats(g, &st0);
    ck_assert_uint_eq(st0.cache_budget, SMALL_BUDGET);

    write_objects(g, oids, N_SMALL, SMALL_SIZE, 40);

    size_t pinned = 0;
    for (size_t i = 0; i < N_SMALL; i += PIN_EVERY, pinned++)
        ghost_pin(g, oids[i], 1);
    check_budget(g, "after pinning", pinned);

    ghost_stats(g, &st0);
    read_all_checked(g, oids, N_SMALL);
    ghost_stats(g, &st);

    uint64_t hits = st.cache_hits - st0.cache_hits;
    uint64_t misses = st.cache_misses - st0.cache_misses;
    printf("budget: %zu pinned; after reading %d objects of %d bytes: %" PRIu64
           " bytes in cache (budget %zu), %" PRIu64 " handles, %" PRIu64 " loaded, %" PRIu64
           " hits, %" PRIu64 " misses\n",
           pinned, N_SMALL, SMALL_SIZE, st.cache_bytes, SMALL_BUDGET, st.cache_handles,
           st.cache_loaded, hits, misses);
    ck_assert_uint_eq(hits + misses, N_SMALL);
    /* at most budget/size objects can have been loaded when their turn came */
    ck_assert_uint_ge(misses, N_SMALL - SMALL_BUDGET / SMALL_SIZE);
    /* pinned handles stay (perhaps as ghosts)... */
    ck_assert_msg(st.cache_handles >= pinned, "%" PRIu64 " handles, %zu pinned", st.cache_handles,
                  pinned);
    /* ...the unpinned ones do not all stay, and loaded data fits the budget */
    ck_assert_msg(st.cache_handles < N_SMALL, "%" PRIu64 " handles kept for %d objects",
                  st.cache_handles, N_SMALL);
    ck_assert_uint_le(st.cache_loaded * SMALL_SIZE, SMALL_BUDGET);

    for (size_t i = 0; i < N_SMALL; i += PIN_EVERY)
        ck_assert_uint_eq(ghost_unpin(g, oids[i], 1), 0);
    check_budget(g, "after unpinning", pinned);

    /* a second pass with nothing pinned keeps to the budget too */
    read_all_checked(g, oids, N_SMALL);
    ghost_stats(g, &st);
    ck_assert_uint_lt(st.cache_handles, N_SMALL);

    ghost_close(g);
    remove_store(path);
}
END_TEST

/* More pinned data than the budget: pinned handles stay, but as ghosts. */
START_TEST(pinned_beyond_budget_become_ghosts)
{
    enum { N = 400, PINNED = 200 }; /* 200 KiB pinned, budget 64 KiB */
    static uint64_t oids[N];
    char path[4352];
    snprintf(path, sizeof path, "%s", test_new_store("pinned"));
    struct ghost *g = open_store(path, SMALL_BUDGET, GHOST_SYNC_NONE);
    write_objects(g, oids, N, SMALL_SIZE, 40);
    for (size_t i = 0; i < PINNED; i++) {
        ghost_pin(g, oids[i], 1);
        check_budget(g, "after pinning object", i);
    }
    read_all_checked(g, oids, PINNED);
    read_all_checked(g, oids, N);
    struct ghost_stats st;
    ghost_stats(g, &st);
    printf("pinned beyond budget: %d pinned of %d bytes: %" PRIu64 " bytes in cache (budget %zu),"
           " %" PRIu64 " handles, %" PRIu64 " loaded\n",
           PINNED, SMALL_SIZE, st.cache_bytes, SMALL_BUDGET, st.cache_handles, st.cache_loaded);
    ck_assert_uint_ge(st.cache_handles, PINNED);
    ck_assert_uint_le(st.cache_loaded * SMALL_SIZE, SMALL_BUDGET);
    for (size_t i = 0; i < PINNED; i++)
        ck_assert_uint_eq(ghost_unpin(g, oids[i], 1), 0);
    check_budget(g, "after unpinning", PINNED);
    ghost_close(g);
    remove_store(path);
}
END_TEST

/* --- hits and misses --------------------------------------------------------- */

START_TEST(hits_and_misses)
{
    uint64_t oids[10];
    char path[4352];
    snprintf(path, sizeof path, "%s", test_new_store("hits"));
    struct ghost *g = open_store(path, 0, GHOST_SYNC_NONE);
    write_objects(g, oids, 10, 200, 10);
    ghost_close(g);

    /* a fresh connection starts cold: every first read is a miss */
    g = open_store(path, 0, GHOST_SYNC_NONE);
    struct ghost_stats st0, st1, st2;
    ghost_stats(g, &st0);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 10; i++) {
            struct ghost_txn *t;
            const void *data;
            size_t len;
            OK(ghost_txn_begin(g, &t));
            OK(ghost_obj_get(t, oids[i], NULL, &data, &len));
            ck_assert(same(oids[i], data, len, 200));
            OK(ghost_txn_commit(t));
        }
        ghost_stats(g, pass ? &st2 : &st1);
    }
    printf("hits/misses: first pass %" PRIu64 "/%" PRIu64 ", second pass %" PRIu64 "/%" PRIu64 "\n",
           st1.cache_hits - st0.cache_hits, st1.cache_misses - st0.cache_misses,
           st2.cache_hits - st1.cache_hits, st2.cache_misses - st1.cache_misses);
    ck_assert_uint_eq(st1.cache_misses - st0.cache_misses, 10);
    ck_assert_uint_eq(st1.cache_hits - st0.cache_hits, 0);
    ck_assert_uint_eq(st2.cache_hits - st1.cache_hits, 10);
    ck_assert_uint_eq(st2.cache_misses - st1.cache_misses, 0);
    ck_assert_uint_ge(st2.cache_loaded, 10);
    ghost_close(g);
    remove_store(path);
}
END_TEST

/* --- a million objects, touched once ---------------------------------------- */

#define N_BIG 1000000
#define BIG_BATCH 20000
#define BIG_READ_TXN 1000
#define BIG_BUDGET (64 * MiB)
#define BIG_RSS_LIMIT (128 * MiB)

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct big_batch {
    uint64_t *oids;
    size_t n;
};

static int write_batch(struct ghost_txn *t, void *arg)
{
    struct big_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        int r = ghost_oid_alloc(t, &b->oids[i]);
        if (r < 0)
            return r;
        uint64_t v = mix(b->oids[i]);
        r = ghost_obj_put(t, b->oids[i], 1, &v, sizeof v);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Child: create N_BIG objects, list their OIDs in oid_file. */
static int big_writer(const char *path, const char *oid_file)
{
    struct ghost_options opts;
    struct ghost *g;
    ghost_options_init(&opts);
    opts.sync = GHOST_SYNC_NONE;
    int r = ghost_open(path, &opts, &g);
    if (r < 0) {
        fprintf(stderr, "writer: ghost_open: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        return 2;
    }
    FILE *f = fopen(oid_file, "wb");
    static uint64_t oids[BIG_BATCH];
    struct big_batch b = {.oids = oids, .n = BIG_BATCH};
    for (size_t done = 0; f && done < N_BIG; done += BIG_BATCH) {
        r = ghost_run(g, write_batch, &b);
        if (r < 0) {
            fprintf(stderr, "writer: ghost_run after %zu objects: %s (%s)\n", done,
                    ghost_strerror(r), ghost_errmsg());
            return 3;
        }
        if (fwrite(oids, sizeof oids[0], BIG_BATCH, f) != BIG_BATCH) {
            perror("writer: fwrite");
            return 4;
        }
    }
    if (!f || fclose(f) != 0) {
        perror("writer: oid file");
        return 4;
    }
    r = ghost_sync(g);
    ghost_close(g);
    return r < 0 ? 5 : 0;
}

struct big_result {
    uint64_t peak_rss, rss_anon, rss_file, rss_start;
    uint64_t read, bad, max_cache_bytes;
    struct ghost_stats st;
    double seconds;
};

/* Child: read each object once, in transactions of BIG_READ_TXN reads. */
static int big_reader(const char *path, const char *oid_file, struct big_result *res)
{
    struct ghost_options opts;
    struct ghost *g;
    res->rss_start = test_rss();
    ghost_options_init(&opts);
    opts.cache_bytes = BIG_BUDGET;
    opts.sync = GHOST_SYNC_NONE;
    double t0 = proc_now();
    int r = ghost_open(path, &opts, &g);
    if (r < 0) {
        fprintf(stderr, "reader: ghost_open: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
        return 2;
    }
    FILE *f = fopen(oid_file, "rb");
    if (!f) {
        perror("reader: oid file");
        return 4;
    }
    uint64_t oids[BIG_READ_TXN];
    size_t n;
    while ((n = fread(oids, sizeof oids[0], BIG_READ_TXN, f)) > 0) {
        struct ghost_txn *t;
        r = ghost_txn_begin(g, &t);
        if (r < 0) {
            fprintf(stderr, "reader: begin: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
            return 3;
        }
        for (size_t i = 0; i < n; i++) {
            const void *data;
            size_t len;
            uint8_t type;
            r = ghost_obj_get(t, oids[i], &type, &data, &len);
            if (r < 0) {
                fprintf(stderr, "reader: get %" PRIu64 ": %s (%s)\n", oids[i], ghost_strerror(r),
                        ghost_errmsg());
                return 3;
            }
            uint64_t v = 0;
            if (len == sizeof v)
                memcpy(&v, data, sizeof v);
            if (type != 1 || len != sizeof v || v != mix(oids[i])) {
                if (res->bad++ < 5)
                    fprintf(stderr, "reader: object %" PRIu64 " is wrong\n", oids[i]);
            }
            res->read++;
        }
        r = ghost_txn_commit(t);
        if (r < 0) {
            fprintf(stderr, "reader: commit: %s (%s)\n", ghost_strerror(r), ghost_errmsg());
            return 3;
        }
        struct ghost_stats st;
        ghost_stats(g, &st);
        if (st.cache_bytes > res->max_cache_bytes)
            res->max_cache_bytes = st.cache_bytes;
    }
    fclose(f);
    res->seconds = proc_now() - t0;
    res->peak_rss = test_peak_rss();
    res->rss_anon = proc_status_bytes("RssAnon");
    res->rss_file = proc_status_bytes("RssFile");
    ghost_stats(g, &res->st);
    ghost_close(g);
    return 0;
}

START_TEST(million_objects_touched_once)
{
    char path[4352], oid_file[4352];
    snprintf(path, sizeof path, "%s", test_new_store("million"));
    snprintf(oid_file, sizeof oid_file, "%s", test_path("million.oids"));

    double t0 = proc_now();
    pid_t pid = child_spawn();
    if (pid == 0)
        child_exit(big_writer(path, oid_file));
    int code = child_wait(pid, 240);
    double t_write = proc_now() - t0;
    ck_assert_msg(code == 0, "writer child failed with %d", code);

    struct big_result *res = shared_alloc(sizeof *res);
    pid = child_spawn();
    if (pid == 0)
        child_exit(big_reader(path, oid_file, res));
    code = child_wait(pid, 240);
    ck_assert_msg(code == 0, "reader child failed with %d", code);

    printf("million: wrote %d objects in %.1f s; read them in %.1f s; reader peak RSS %.1f MiB"
           " (limit %zu MiB; at the end anon %.1f MiB, file-backed %.1f MiB; at fork %.1f MiB);"
           " cache max %.1f MiB, %" PRIu64 " handles, %" PRIu64 " loaded, %" PRIu64
           " misses, %" PRIu64 " hits%s\n",
           N_BIG, t_write, res->seconds, (double)res->peak_rss / MiB, BIG_RSS_LIMIT / MiB,
           (double)res->rss_anon / MiB, (double)res->rss_file / MiB, (double)res->rss_start / MiB,
           (double)res->max_cache_bytes / MiB, res->st.cache_handles, res->st.cache_loaded,
           res->st.cache_misses, res->st.cache_hits,
           UNDER_ASAN ? " (ASan build: RSS limit not enforced)" : "");
    fflush(stdout);

    ck_assert_uint_eq(res->read, N_BIG);
    ck_assert_uint_eq(res->bad, 0);
    ck_assert_uint_le(res->max_cache_bytes, BIG_BUDGET);
    ck_assert_uint_gt(res->peak_rss, 0);
    if (!UNDER_ASAN)
        ck_assert_msg(res->peak_rss < BIG_RSS_LIMIT, "peak RSS %" PRIu64 " bytes >= %zu",
                      res->peak_rss, BIG_RSS_LIMIT);
    shared_free(res, sizeof *res);
    unlink(oid_file);
    remove_store(path);
}
END_TEST

static void teardown(void)
{
    child_kill_all();
}

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pin_counts);
    tcase_add_test(tc, budget_is_never_exceeded);
    tcase_add_test(tc, pinned_beyond_budget_become_ghosts);
    tcase_add_test(tc, hits_and_misses);
    suite_add_tcase(s, tc);

    TCase *big = tcase_create("million");
    tcase_add_checked_fixture(big, NULL, teardown);
    tcase_set_timeout(big, 300);
    tcase_add_test(big, million_objects_touched_once);
    suite_add_tcase(s, big);
    return s;
}

TEST_MAIN(cache_suite)
