/*
 * test_crawl.c - the crawler (ghost_crawl_start): a cycle walks every
 * record and counts what the store holds, then the crawler does nothing
 * until the next cycle is due; a crawler killed mid-cycle leaves its cursor
 * in the store and the next one resumes there; one process of a store
 * crawls at a time, and another takes over when it dies; the CPU share is
 * kept; a damaged record is found, and the crawler keeps its findings
 * (told to a hook, saved for other connections, dropped once repaired);
 * bad options are refused.
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir(); tests that need a second process fork one and kill it.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ghost.h"
#include "util.h"

#define TYPE 7
#define MAP 1

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct fill {
    uint64_t first, n;
};

static int fill_fn(struct ghost_txn *t, void *arg)
{
    const struct fill *f = arg;
    unsigned char v[100];
    for (uint64_t o = f->first; o < f->first + f->n; o++) {
        memset(v, (int)(o & 0xff), sizeof v);
        int r = ghost_obj_put(t, o, TYPE, v, sizeof v);
        for (int k = 0; !r && k < 3; k++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", k);
            r = ghost_map_put(t, o, MAP, key, strlen(key), v, 40);
        }
        if (r)
            return r;
    }
    return 0;
}

/* A store of n objects of TYPE at 100.., each with 3 keys in MAP. */
static const char *make_store(const char *name, uint64_t n)
{
    const char *path = test_new_store(name);
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    for (uint64_t i = 0; i < n; i += 500) {
        struct fill f = {100 + i, n - i < 500 ? n - i : 500};
        OK(ghost_run(g, fill_fn, &f));
    }
    ghost_close(g);
    return path;
}

static void status(struct ghost *g, struct ghost_crawl_status *st)
{
    OK(ghost_crawl_status(g, st));
}

/* Wait up to secs for the store's crawl to have completed `cycles`. */
static bool wait_cycles(struct ghost *g, uint64_t cycles, double secs)
{
    struct ghost_crawl_status st;
    for (double end = now_s() + secs; now_s() < end; usleep(20000)) {
        ghost_refresh(g);
        status(g, &st);
        if (st.cycles >= cycles)
            return true;
    }
    return false;
}

static struct ghost_crawl_options fast(unsigned slice)
{
    struct ghost_crawl_options o;
    ghost_crawl_options_init(&o);
    o.cpu_permille = 1000;
    o.slice_records = slice;
    o.cycle_seconds = 3600;
    return o;
}

START_TEST(cycle_counts_then_idles)
{
    const char *path = make_store("idle", 300);
    struct ghost *g;
    struct ghost_crawl_status st;
    OK(ghost_open(path, NULL, &g));
    status(g, &st);
    ck_assert(!st.running && st.cycles == 0 && !st.in_cycle);
    struct ghost_crawl_options o = fast(50);
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert_msg(wait_cycles(g, 1, 30), "no cycle completed in 30 s");
    status(g, &st);
    ck_assert(st.running && !st.in_cycle);
    ck_assert(!st.holder && !st.leased); /* idle: it holds no lease */
    ck_assert_uint_eq(st.last.types[TYPE], 300);
    ck_assert_uint_eq(st.last.map_keys[MAP], 900);
    ck_assert_uint_eq(st.last.findings, 0);
    ck_assert_uint_ge(st.last.records, 1200);
    ck_assert_int_gt(st.last_end_ns, 0);
    ck_assert_int_ge(st.last_end_ns, st.last_start_ns);
    /* Its slices were short: many of them. */
    ck_assert_uint_ge(st.slices, 1200 / 50);
    /* Idle: no slice, no commit, until the next cycle is due. */
    struct ghost_stats s0, s1;
    OK(ghost_refresh(g));
    ghost_stats(g, &s0);
    uint64_t slices = st.slices;
    usleep(1500000);
    OK(ghost_refresh(g));
    ghost_stats(g, &s1);
    status(g, &st);
    ck_assert_uint_eq(st.slices, slices);
    ck_assert_uint_eq(s1.generation, s0.generation);
    /* A shorter cycle, set live, makes the next one due at once. */
    o.cycle_seconds = 0;
    OK(ghost_crawl_set(g, &o));
    ck_assert_msg(wait_cycles(g, 2, 30), "a live change of cycle_seconds was not taken");
    ghost_close(g);
}
END_TEST

/* The child crawls slowly until it is killed. */
static void crawl_forever(const char *path, unsigned permille, unsigned slice)
{
    struct ghost *g;
    if (ghost_open(path, NULL, &g))
        _exit(2);
    struct ghost_crawl_options o = fast(slice);
    o.cpu_permille = permille;
    if (ghost_crawl_start(g, &o, NULL))
        _exit(3);
    for (;;)
        pause();
}

/* Slices a fresh crawler at fast(slice) takes for one whole cycle of a
 * store like make_store(n) makes. */
static uint64_t whole_cycle_slices(uint64_t n, unsigned slice)
{
    const char *path = make_store("whole", n);
    struct ghost *g;
    struct ghost_crawl_status st;
    OK(ghost_open(path, NULL, &g));
    struct ghost_crawl_options o = fast(slice);
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert_msg(wait_cycles(g, 1, 60), "the reference cycle was not finished");
    status(g, &st);
    ghost_close(g);
    return st.slices;
}

START_TEST(killed_crawler_resumes)
{
    /* Large enough that the slow child is far from done when it first
     * saves its place (every 2 s), in any build. */
    const uint64_t n = 8000;
    const char *path = make_store("resume", n);
    struct ghost *g;
    struct ghost_crawl_status st;
    /* Fork before this process has threads of its own: a child forked
     * while another thread holds an allocator's lock would hang. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        crawl_forever(path, 10, 10);
    OK(ghost_open(path, NULL, &g));
    /* Until the child saved its place once. */
    double end = now_s() + 30;
    do {
        usleep(20000);
        status(g, &st);
    } while (st.current.records == 0 && now_s() < end);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ghost_refresh(g);
    status(g, &st);
    ck_assert_msg(st.in_cycle && st.cycles == 0, "the child finished its cycle too soon");
    uint64_t done = st.current.records;
    ck_assert_uint_ge(done, 100);
    ck_assert(st.leased); /* the dead child's lease: taken over at once here */
    struct ghost_crawl_options o = fast(10);
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert_msg(wait_cycles(g, 1, 60), "the cycle was not finished");
    status(g, &st);
    /* The whole store was counted once: the child's part and ours. */
    ck_assert_uint_eq(st.last.types[TYPE], n);
    ck_assert_uint_eq(st.last.map_keys[MAP], 3 * n);
    /* And we read only what the child had not: a whole cycle takes
     * done / 10 slices more; half of that is the margin. */
    uint64_t whole = whole_cycle_slices(n, 10);
    ck_assert_msg(st.slices + done / 20 < whole,
                  "resumed in %llu slices, a whole cycle takes %llu, the child did %llu records",
                  (unsigned long long)st.slices, (unsigned long long)whole,
                  (unsigned long long)done);
    ghost_close(g);
}
END_TEST

START_TEST(one_crawler_per_store)
{
    const char *path = make_store("lease", 3000);
    struct ghost *g;
    struct ghost_crawl_status st;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        crawl_forever(path, 20, 5); /* slowly: its cycle outlasts the test */
    OK(ghost_open(path, NULL, &g));
    /* Until the child holds the lease. */
    double end = now_s() + 30;
    do {
        usleep(20000);
        ghost_refresh(g);
        status(g, &st);
    } while (!st.leased && now_s() < end);
    ck_assert(st.leased);
    struct ghost_crawl_options o = fast(20);
    OK(ghost_crawl_start(g, &o, NULL));
    usleep(1500000);
    status(g, &st);
    ck_assert_msg(st.slices == 0 && !st.holder, "two crawlers at once: %llu slices here",
                  (unsigned long long)st.slices);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* The holder died: this one takes over at its next look (every 2 s),
     * not when the lease would have expired (15 s after the child last
     * renewed it); 12 s leaves room for a loaded machine. */
    end = now_s() + 12;
    do {
        usleep(50000);
        status(g, &st);
    } while (st.slices == 0 && now_s() < end);
    ck_assert_msg(st.slices > 0 && st.holder, "the lease was not taken over");
    ck_assert_msg(st.in_cycle || st.cycles > 0, "no cycle under way");
    ghost_close(g);
}
END_TEST

START_TEST(cpu_share_is_kept)
{
    const char *path = make_store("share", 6000);
    struct ghost *g;
    struct ghost_crawl_status st0, st1;
    OK(ghost_open(path, NULL, &g));
    struct ghost_crawl_options o = fast(200);
    o.cpu_permille = 100;
    o.cycle_seconds = 0; /* always crawling */
    OK(ghost_crawl_start(g, &o, NULL));
    usleep(300000);
    status(g, &st0);
    double t0 = now_s();
    usleep(3000000);
    status(g, &st1);
    double share = (double)(st1.cpu_ns - st0.cpu_ns) / 1e9 / (now_s() - t0);
    ck_assert_msg(st1.slices > st0.slices, "the crawler did nothing");
    /* 10 %, and at most one slice's CPU over it. */
    ck_assert_msg(share <= 0.13, "a share of %.3f at cpu_permille=100", share);
    ck_assert_uint_eq(st1.cpu_permille, 100);
    /* 0 pauses it. */
    o.cpu_permille = 0;
    OK(ghost_crawl_set(g, &o));
    usleep(300000);
    status(g, &st0);
    usleep(1000000);
    status(g, &st1);
    ck_assert_uint_eq(st1.slices, st0.slices);
    ghost_close(g);
}
END_TEST

/* Work that always has more, 5 ms of CPU a call, and wakes sent every
 * 10 ms: the share holds all the same. */
static int busy_work(void *arg, unsigned max_keys)
{
    (void)arg, (void)max_keys;
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 5000000L);
    return 1;
}

START_TEST(share_kept_with_work_and_wakes)
{
    const char *path = make_store("work", 3000);
    struct ghost *g;
    struct ghost_crawl_status st0, st1;
    OK(ghost_open(path, NULL, &g));
    struct ghost_crawl_options o = fast(200);
    o.cpu_permille = 100;
    o.cycle_seconds = 0;
    o.work = busy_work;
    OK(ghost_crawl_start(g, &o, NULL));
    usleep(300000);
    status(g, &st0);
    double t0 = now_s();
    while (now_s() - t0 < 3) {
        ghost_crawl_wake(g);
        usleep(10000);
    }
    status(g, &st1);
    double share = (double)(st1.cpu_ns - st0.cpu_ns) / 1e9 / (now_s() - t0);
    ck_assert_msg(share <= 0.13, "a share of %.3f at cpu_permille=100 with work and wakes", share);
    ck_assert_msg(share > 0.02, "the crawler did (almost) nothing: %.3f", share);
    ghost_close(g);
}
END_TEST

struct seen {
    int findings;
};

static void on_finding(void *arg, const struct ghost_finding *f)
{
    struct seen *s = arg;
    (void)f;
    s->findings++;
}

START_TEST(damage_is_found)
{
    const char *path = make_store("damage", 200);
    unsigned char v[100];
    memset(v, 150, sizeof v); /* object 150's payload */
    ck_assert_int_gt(test_flip_everywhere(path, v, sizeof v), 0);
    struct ghost *g;
    struct seen seen = {0};
    OK(ghost_open(path, NULL, &g));
    struct ghost_crawl_options o = fast(40);
    struct ghost_scrub_visit visit = {on_finding, NULL, &seen};
    OK(ghost_crawl_start(g, &o, &visit));
    ck_assert(wait_cycles(g, 1, 30));
    struct ghost_crawl_status st;
    status(g, &st);
    ck_assert_uint_ge(st.last.findings, 1);
    ghost_crawl_stop(g);
    ck_assert_int_ge(seen.findings, 1);
    ghost_close(g);
}
END_TEST

/* What the found hook was told (it runs on the crawler thread; read only
 * once the crawler has stopped). */
struct told {
    int calls;
    uint64_t oid;
    int map;
    uint64_t generation;
};

static void on_found(void *arg, const struct ghost_crawl_finding *f)
{
    struct told *t = arg;
    t->calls++;
    t->oid = f->oid, t->map = f->map, t->generation = f->generation;
}

/* The one kept finding of object oid in g's crawl (the test fails if
 * there are others of it). */
static struct ghost_crawl_finding kept_of(struct ghost *g, uint64_t oid, unsigned *total)
{
    struct ghost_crawl_finding v[GHOST_CRAWL_FINDINGS], found = {0};
    unsigned n, of = 0;
    OK(ghost_crawl_findings(g, v, GHOST_CRAWL_FINDINGS, &n));
    for (unsigned i = 0; i < n; i++)
        if (v[i].oid == oid)
            found = v[i], of++;
    ck_assert_uint_le(of, 1);
    *total = n;
    return found;
}

static int rewrite_150_fn(struct ghost_txn *t, void *arg)
{
    (void)arg;
    unsigned char v[100];
    memset(v, 0x51, sizeof v);
    return ghost_obj_put(t, 150, TYPE, v, sizeof v);
}

/* The crawler keeps its findings: the hook is told of each after its
 * slice (and the crawler logs none itself), the store keeps them for
 * other connections, a finding made again is one entry with the
 * generation it was first found at, and once a cycle no longer makes it
 * (the object rewritten) it goes. */
START_TEST(findings_are_kept)
{
    const char *path = make_store("kept", 200);
    unsigned char v[100];
    memset(v, 150, sizeof v); /* object 150's payload */
    ck_assert_int_gt(test_flip_everywhere(path, v, sizeof v), 0);
    struct ghost *g, *ro;
    struct told told = {0};
    OK(ghost_open(path, NULL, &g));
    struct ghost_crawl_options o = fast(40);
    o.found = on_found;
    o.found_arg = &told;
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert(wait_cycles(g, 1, 30));
    unsigned n;
    struct ghost_crawl_finding f = kept_of(g, 150, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f.oid, 150);
    ck_assert_int_eq(f.map, -1);
    ck_assert_str_eq(f.table, "objects");
    ck_assert_int_eq(f.kind, GHOST_FIND_BAD_RECORD);
    ck_assert_uint_eq(f.cycle, 1);
    ck_assert_uint_gt(f.generation, 0);
    ck_assert_ptr_nonnull(strstr(f.message, "object 150"));
    ck_assert_ptr_nonnull(strstr(f.message, "fails its checksum"));
    uint64_t first = f.generation;

    /* Another cycle finds it again: still one entry, first found as before. */
    OK(ghost_run(g, fill_fn, &(struct fill){400, 1})); /* the generation moves on */
    o.cycle_seconds = 1;
    OK(ghost_crawl_set(g, &o));
    ck_assert(wait_cycles(g, 2, 30));
    f = kept_of(g, 150, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_ge(f.cycle, 2);
    ck_assert_uint_eq(f.generation, first);
    ghost_crawl_stop(g);
    ck_assert_int_ge(told.calls, 2); /* once a cycle */
    ck_assert_uint_eq(told.oid, 150);
    ck_assert_int_eq(told.map, -1);
    ck_assert_uint_eq(told.generation, first);

    /* Saved: a read-only connection, with no crawler, sees them. */
    struct ghost_options ro_opts;
    ghost_options_init(&ro_opts);
    ro_opts.readonly = true;
    OK(ghost_open(path, &ro_opts, &ro));
    f = kept_of(ro, 150, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f.generation, first);
    ghost_close(ro);

    /* Repaired (rewritten whole): the next full cycle drops it. */
    OK(ghost_run(g, rewrite_150_fn, NULL));
    struct ghost_crawl_status st;
    status(g, &st);
    uint64_t cycles = st.cycles;
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert(wait_cycles(g, cycles + 1, 30));
    f = kept_of(g, 150, &n);
    ck_assert_uint_eq(n, 0);
    ghost_close(g);
}
END_TEST

/* Versions kept for a snapshot that is gone: the prune pass drops them. */
static int rewrite_fn(struct ghost_txn *t, void *arg)
{
    (void)arg;
    unsigned char v[100];
    memset(v, 0xEE, sizeof v);
    for (uint64_t o = 100; o < 150; o++) {
        int r = ghost_obj_put(t, o, TYPE, v, sizeof v);
        r = r ? r : ghost_map_put(t, o, MAP, "k0", 2, v, 30);
        if (r)
            return r;
    }
    return 0;
}

START_TEST(prune_pass_drops_unneeded_versions)
{
    const char *path = make_store("prune", 100);
    struct ghost *g;
    struct ghost_crawl_status st;
    OK(ghost_open(path, NULL, &g));
    OK(ghost_snapshot_create(g, "s"));
    OK(ghost_run(g, rewrite_fn, NULL));
    struct ghost_crawl_options o = fast(50);
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert(wait_cycles(g, 1, 30));
    status(g, &st);
    ck_assert_uint_ge(st.last.older, 100); /* 50 objects and 50 keys, kept */
    ck_assert_uint_eq(st.last.pruned, 0);
    ghost_crawl_stop(g);
    OK(ghost_snapshot_delete(g, "s"));
    o.cycle_seconds = 1; /* the next cycle is due at once, then each second */
    OK(ghost_crawl_start(g, &o, NULL));
    uint64_t cycles = st.cycles;
    ck_assert(wait_cycles(g, cycles + 1, 30));
    status(g, &st);
    ck_assert_uint_ge(st.last.pruned, 100);
    ck_assert(wait_cycles(g, cycles + 2, 30));
    status(g, &st);
    ck_assert_uint_eq(st.last.older, 0);
    ck_assert_uint_eq(st.last.pruned, 0);
    ghost_close(g);
}
END_TEST

START_TEST(bad_options_are_refused)
{
    const char *path = make_store("bad", 10);
    struct ghost *g;
    struct ghost_crawl_options o = fast(10);
    OK(ghost_open(path, NULL, &g));
    ck_assert_int_eq(ghost_crawl_set(g, &o), -ESRCH);
    o.cpu_permille = 1001;
    ck_assert_int_eq(ghost_crawl_start(g, &o, NULL), -EINVAL);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "more than one core"));
    o = fast(0);
    ck_assert_int_eq(ghost_crawl_start(g, &o, NULL), -EINVAL);
    o = fast(10);
    OK(ghost_crawl_start(g, &o, NULL));
    ck_assert_int_eq(ghost_crawl_start(g, &o, NULL), -EBUSY);
    o.slice_records = 0;
    ck_assert_int_eq(ghost_crawl_set(g, &o), -EINVAL);
    ghost_close(g);
    struct ghost_options ro;
    ghost_options_init(&ro);
    ro.readonly = true;
    OK(ghost_open(path, &ro, &g));
    o = fast(10);
    ck_assert_int_eq(ghost_crawl_start(g, &o, NULL), -EROFS);
    struct ghost_crawl_status st;
    OK(ghost_crawl_status(g, &st)); /* read-only: the status still reads */
    ghost_close(g);
}
END_TEST

static Suite *crawl_suite(void)
{
    Suite *s = suite_create("crawl");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cycle_counts_then_idles);
    tcase_add_test(tc, killed_crawler_resumes);
    tcase_add_test(tc, one_crawler_per_store);
    tcase_add_test(tc, cpu_share_is_kept);
    tcase_add_test(tc, share_kept_with_work_and_wakes);
    tcase_add_test(tc, damage_is_found);
    tcase_add_test(tc, findings_are_kept);
    tcase_add_test(tc, prune_pass_drops_unneeded_versions);
    tcase_add_test(tc, bad_options_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(crawl_suite)
