/*
 * test_rollback.c - a store cannot silently fall back to an older
 * generation (docs/format.md, "Generations" and "Change log"): LMDB's two
 * meta pages are forged the ways one damaged byte can leave them, and the
 * change log's marks the ways a wrong one would read; a writable open must
 * refuse each, naming both generations, a read-only one must open and read
 * the older data, and accept_rollback must go on from it. A store in normal
 * use - many opens, commits, OID blocks, snapshots, other processes
 * committing while it opens - never trips the check.
 *
 * The forgeries use the layouts docs/format.md states: LMDB's meta page
 * (16 bytes of page header, then MDB_meta, whose page size is at offset 24
 * and whose transaction id is at offset 128) and the change log's header
 * (the marks at offset 192).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ghost.h"
#include "proc.h"
#include "util.h"

#define META_PSIZE (16 + 24)
#define META_TXNID (16 + 128)

/* The change log's marks (docs/format.md, "Change log"). */
enum { LOG_COMMITTED = 192, LOG_DURABLE = 200, LOG_INTENT = 208, LOG_EPOCH = 216, LOG_CLEAN = 224 };

#define OID 40

/* ---- forging ---------------------------------------------------------------- */

static uint64_t read_u64(const char *path, off_t at)
{
    uint64_t v = 0;
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(pread(fd, &v, sizeof v, at), (ssize_t)sizeof v);
    close(fd);
    return v;
}

static void write_u64(const char *path, off_t at, uint64_t v)
{
    int fd = open(path, O_WRONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(pwrite(fd, &v, sizeof v, at), (ssize_t)sizeof v);
    close(fd);
}

static off_t psize(const char *path)
{
    uint32_t p = (uint32_t)read_u64(path, META_PSIZE);
    ck_assert_msg(p >= 512 && !(p & (p - 1)), "page size %u: not an LMDB meta page", p);
    return (off_t)p;
}

/* The transaction ids of meta pages 0 and 1. */
static void meta_ids(const char *path, uint64_t id[2])
{
    for (int i = 0; i < 2; i++)
        id[i] = read_u64(path, i * psize(path) + META_TXNID);
}

static void set_meta_id(const char *path, int page, uint64_t id)
{
    write_u64(path, page * psize(path) + META_TXNID, id);
}

/* The page that holds the newest transaction: what LMDB opens. */
static int newer_page(const char *path)
{
    uint64_t id[2];
    meta_ids(path, id);
    return id[1] > id[0];
}

static const char *log_path(const char *path)
{
    static char buf[4400];
    snprintf(buf, sizeof buf, "%.4300s-changes", path);
    return buf;
}

static uint64_t log_mark(const char *path, int at)
{
    return read_u64(log_path(path), at);
}

static void set_log_mark(const char *path, int at, uint64_t v)
{
    write_u64(log_path(path), at, v);
}

/* ---- the store -------------------------------------------------------------- */

static struct ghost *open_with(const char *path, bool readonly, bool accept)
{
    struct ghost_options o;
    struct ghost *g = NULL;
    ghost_options_init(&o);
    o.readonly = readonly;
    o.accept_rollback = accept;
    OK(ghost_open(path, &o, &g));
    return g;
}

/* Commit value v to OID (its own batch, its own generation). */
static void put(struct ghost *g, uint32_t v)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_obj_put(t, OID, 1, &v, sizeof v));
    OK(ghost_txn_commit(t));
}

static uint32_t get(struct ghost *g)
{
    struct ghost_txn *t;
    const void *data;
    size_t len;
    uint32_t v;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_obj_get(t, OID, NULL, &data, &len));
    ck_assert_uint_eq(len, sizeof v);
    memcpy(&v, data, sizeof v);
    ghost_txn_abort(t);
    return v;
}

/* A store whose last commits wrote 1, 2, 3 to OID, one a generation, and
 * was closed; *gen is its generation (that of the 3). */
static const char *store_of_three(const char *name, uint64_t *gen)
{
    static char path[4400];
    snprintf(path, sizeof path, "%s", test_new_store(name));
    struct ghost *g = open_with(path, false, false);
    for (uint32_t v = 1; v <= 3; v++)
        put(g, v);
    ghost_close(g);
    uint64_t id[2];
    meta_ids(path, id);
    *gen = id[newer_page(path)];
    ck_assert_uint_eq(log_mark(path, LOG_COMMITTED), *gen);
    return path;
}

/* A writable open is refused with -GHOST_ECORRUPT and a message that holds
 * every word of words (the generations among them, and what to do). */
static void assert_refused(const char *path, const char *const *words)
{
    struct ghost *g = NULL;
    EXPECT(ghost_open(path, NULL, &g), -GHOST_ECORRUPT);
    ck_assert_ptr_null(g);
    for (int i = 0; words[i]; i++)
        ck_assert_msg(strstr(ghost_errmsg(), words[i]), "errmsg lacks \"%s\": %s", words[i],
                      ghost_errmsg());
    ck_assert_msg(!strchr(ghost_errmsg(), '\n'), "errmsg is more than one line: %s",
                  ghost_errmsg());
}

static const char *num(uint64_t v)
{
    static char buf[4][32];
    static int n;
    char *b = buf[n++ % 4];
    snprintf(b, sizeof buf[0], "%" PRIu64, v);
    return b;
}

/* A read-only open goes on and reads what the older generation holds. */
static void assert_reads(const char *path, uint32_t want)
{
    struct ghost *g = open_with(path, true, false);
    ck_assert_uint_eq(get(g), want);
    ghost_close(g);
}

/* accept_rollback goes on from the older state: it reads `want`, commits,
 * and the next plain open finds nothing to report. */
static void assert_accepts(const char *path, uint32_t want)
{
    struct ghost *g = open_with(path, false, true);
    ck_assert_uint_eq(get(g), want);
    put(g, 7);
    ghost_close(g);
    uint64_t id[2];
    meta_ids(path, id);
    ck_assert_msg(id[0] % 2 == 0 && id[1] % 2 == 1 && (id[0] + 1 == id[1] || id[1] + 1 == id[0]),
                  "meta pages still disagree after accepting: %" PRIu64 ", %" PRIu64, id[0], id[1]);
    g = open_with(path, false, false);
    ck_assert_uint_eq(get(g), 7);
    ghost_close(g);
}

/* ---- damaged meta pages -------------------------------------------------------- */

/* The newest page's id two below itself: the pages still look like two
 * consecutive commits, one back. Only the change log can tell. */
START_TEST(newest_down_two)
{
    uint64_t gen;
    const char *path = store_of_three("down2.ghost", &gen);
    set_meta_id(path, newer_page(path), gen - 2);
    const char *words[] = {num(gen - 1), num(gen),          "STORE-changes",
                           "-o ro",      "accept_rollback", NULL};
    assert_refused(path, words);
    assert_reads(path, 2);
    assert_refused(path, words); /* reading changed nothing */
    assert_accepts(path, 2);
}
END_TEST

/* One byte of the newest page's id cleared (the failure the issue saw): the
 * store opens one back, and the pages disagree as well. */
START_TEST(newest_byte_cleared)
{
    uint64_t gen;
    const char *path = store_of_three("byte.ghost", &gen);
    int page = newer_page(path);
    ck_assert_msg(gen & 0xfe, "generation %" PRIu64 " has no low bits to clear", gen);
    set_meta_id(path, page, gen & ~(uint64_t)0xfe);
    const char *words[] = {num(gen - 1), num(gen), num(gen & ~(uint64_t)0xfe), NULL};
    assert_refused(path, words);
    assert_reads(path, 2);
    assert_accepts(path, 2);
}
END_TEST

/* The same without the change log (the store copied elsewhere, say): the
 * pages alone show it. */
START_TEST(newest_byte_cleared_no_log)
{
    uint64_t gen;
    const char *path = store_of_three("nolog.ghost", &gen);
    set_meta_id(path, newer_page(path), gen & ~(uint64_t)0xfe);
    ck_assert_int_eq(unlink(log_path(path)), 0);
    const char *words[] = {num(gen - 1), num(gen & ~(uint64_t)0xfe), "not consecutive", NULL};
    assert_refused(path, words);
    assert_reads(path, 2);
    assert_accepts(path, 2);
}
END_TEST

/* The older page's id one above the newest: LMDB takes the older root as
 * the newest state, the pages look consecutive, and only `intent` tells. */
START_TEST(older_up_past_newest)
{
    uint64_t gen;
    const char *path = store_of_three("up.ghost", &gen);
    set_meta_id(path, !newer_page(path), gen + 1);
    const char *words[] = {num(gen + 1), num(gen), "no commit was begun", NULL};
    assert_refused(path, words);
    assert_reads(path, 2);
    assert_accepts(path, 2);
}
END_TEST

/* An id in the page of the other parity: damage, whatever LMDB opens. */
START_TEST(wrong_parity)
{
    uint64_t gen;
    const char *path = store_of_three("parity.ghost", &gen);
    int page = newer_page(path);
    set_meta_id(path, page, gen ^ 1); /* the other parity */
    const char *words[] = {num(gen ^ 1), "wrong page", NULL};
    assert_refused(path, words);
    ck_assert_int_eq(unlink(log_path(path)), 0);
    assert_refused(path, words);
    struct ghost *g = open_with(path, true, false);
    uint32_t v = get(g); /* whichever root LMDB took: 2 or 3 */
    ck_assert_msg(v == 2 || v == 3, "read %u", v);
    ghost_close(g);
    assert_accepts(path, v);
}
END_TEST

/* A meta page that is not one (its magic number damaged): LMDB cannot open
 * the store at all, and the message says which page, not "not a store". */
START_TEST(damaged_magic)
{
    uint64_t gen;
    const char *path = store_of_three("magic.ghost", &gen);
    off_t ps = psize(path);
    for (int page = 1; page >= 0; page--) {
        uint64_t word = read_u64(path, page * ps + 16); /* magic and version */
        write_u64(path, page * ps + 16, word ^ 0x10);
        for (int ro = 0; ro < 2; ro++) {
            struct ghost_options o;
            struct ghost *g = NULL;
            char want[32];
            ghost_options_init(&o);
            o.readonly = ro;
            EXPECT(ghost_open(path, &o, &g), -GHOST_ECORRUPT);
            snprintf(want, sizeof want, "meta page %d", page);
            ck_assert_msg(strstr(ghost_errmsg(), want), "errmsg lacks \"%s\": %s", want,
                          ghost_errmsg());
        }
        write_u64(path, page * ps + 16, word);
    }
    struct ghost *g = open_with(path, false, false);
    ck_assert_uint_eq(get(g), 3);
    ghost_close(g);
}
END_TEST

/* ---- the change log's marks ---------------------------------------------------- */

/* A log that saw a newer commit than the store holds. */
START_TEST(log_committed_newer)
{
    uint64_t gen;
    const char *path = store_of_three("lognewer.ghost", &gen);
    set_log_mark(path, LOG_COMMITTED, gen + 5);
    const char *words[] = {num(gen), num(gen + 5), "committed", NULL};
    assert_refused(path, words);
    assert_reads(path, 3);
    assert_accepts(path, 3);
}
END_TEST

/* In another epoch (after a reboot), commits that were not synced may be
 * gone: a dirty log's `committed` is no floor there, `durable` is; a clean
 * log's marks still hold. */
START_TEST(log_other_epoch)
{
    uint64_t gen;
    const char *path = store_of_three("epoch.ghost", &gen);
    ck_assert_uint_eq(log_mark(path, LOG_CLEAN), 1);
    set_log_mark(path, LOG_EPOCH, log_mark(path, LOG_EPOCH) ^ 0x5a5a);
    set_log_mark(path, LOG_COMMITTED, gen + 5);
    const char *words[] = {num(gen), num(gen + 5), NULL};
    assert_refused(path, words); /* clean: believed */

    set_log_mark(path, LOG_CLEAN, 0);
    set_log_mark(path, LOG_INTENT, gen + 5);
    struct ghost *g = open_with(path, false, false); /* lost to a crash: fine */
    ck_assert_uint_eq(get(g), 3);
    ghost_close(g);

    set_log_mark(path, LOG_EPOCH, log_mark(path, LOG_EPOCH) ^ 0x5a5a);
    set_log_mark(path, LOG_CLEAN, 0);
    set_log_mark(path, LOG_DURABLE, gen + 2);
    const char *synced[] = {num(gen), num(gen + 2), "synced", NULL};
    assert_refused(path, synced);
    assert_reads(path, 3);
}
END_TEST

/* What each mark says after commits in each sync mode, and after close. */
START_TEST(marks_follow_commits)
{
    static const enum ghost_sync modes[] = {GHOST_SYNC_ALWAYS, GHOST_SYNC_BATCH, GHOST_SYNC_NONE};
    const char *path = test_new_store("marks.ghost");
    for (int m = 0; m < 3; m++) {
        struct ghost_options o;
        struct ghost *g = NULL;
        ghost_options_init(&o);
        o.sync = modes[m];
        OK(ghost_open(path, &o, &g));
        put(g, (uint32_t)m);
        uint64_t id[2];
        meta_ids(path, id);
        uint64_t gen = id[newer_page(path)];
        ck_assert_uint_eq(log_mark(path, LOG_CLEAN), 0);
        ck_assert_uint_eq(log_mark(path, LOG_COMMITTED), gen);
        ck_assert_uint_ge(log_mark(path, LOG_INTENT), gen);
        uint64_t durable = log_mark(path, LOG_DURABLE);
        if (modes[m] == GHOST_SYNC_ALWAYS)
            ck_assert_uint_eq(durable, gen);
        else if (modes[m] == GHOST_SYNC_BATCH)
            ck_assert_uint_ge(durable, gen - 1);
        ck_assert_uint_le(durable, gen);
        OK(ghost_sync(g));
        ck_assert_uint_eq(log_mark(path, LOG_DURABLE), gen);
        ghost_close(g);
        ck_assert_uint_eq(log_mark(path, LOG_CLEAN), 1);
        ck_assert_uint_eq(log_mark(path, LOG_COMMITTED), gen);
        ck_assert_uint_eq(log_mark(path, LOG_INTENT), gen);
    }
}
END_TEST

/* ---- normal use never trips it ------------------------------------------------- */

static int oid_block_fn(struct ghost_txn *t, void *arg)
{
    uint64_t *last = arg;
    for (int i = 0; i < 300; i++) { /* more than one block */
        int r = ghost_oid_alloc(t, last);
        if (r)
            return r;
    }
    return ghost_obj_put(t, *last, 1, "x", 1);
}

START_TEST(normal_use)
{
    const char *path = test_new_store("normal.ghost");
    for (int round = 0; round < 40; round++) {
        struct ghost_options o;
        struct ghost *g = NULL;
        char name[32];
        uint64_t last, cursor = 0;
        ghost_options_init(&o);
        o.sync = (enum ghost_sync)(round % 3);
        OK(ghost_open(path, &o, &g));
        put(g, (uint32_t)round);
        OK(ghost_run(g, oid_block_fn, &last));
        snprintf(name, sizeof name, "s%d", round);
        OK(ghost_snapshot_create(g, name));
        if (round % 2) {
            OK(ghost_snapshot_delete(g, name));
            while (ghost_prune_versions(g, &cursor, 64) >= 0 && cursor)
                ;
        }
        ghost_close(g);
        g = open_with(path, true, false);
        ck_assert_uint_eq(get(g), (uint32_t)round);
        ghost_close(g);
    }
}
END_TEST

/* A store made by ghost_mkfs (never opened: no change log), one made by
 * ghost_mkfs_init, and a plain copy of a store (mdb_env_copy) open cleanly. */
static int init_fn(struct ghost_txn *t, void *arg)
{
    (void)arg;
    uint32_t v = 9;
    return ghost_obj_put(t, OID, 1, &v, sizeof v);
}

START_TEST(new_stores)
{
    char path[4400], copy[4400];
    snprintf(path, sizeof path, "%s", test_new_store("made.ghost"));
    uint64_t id[2];
    meta_ids(path, id);
    ck_assert_msg(id[0] == 0 && id[1] == 1, "after mkfs: %" PRIu64 ", %" PRIu64, id[0], id[1]);
    ghost_close(open_with(path, true, false));
    ghost_close(open_with(path, false, false));

    snprintf(path, sizeof path, "%s", test_path("init.ghost"));
    OK(ghost_mkfs_init(path, 0, init_fn, NULL));
    struct ghost *g = open_with(path, false, false);
    ck_assert_uint_eq(get(g), 9);
    put(g, 10);
    ghost_close(g);

    MDB_env *env;
    snprintf(copy, sizeof copy, "%s", test_path("copy.ghost"));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644), 0);
    ck_assert_int_eq(mdb_env_copy(env, copy), 0);
    mdb_env_close(env);
    g = open_with(copy, false, false);
    ck_assert_uint_eq(get(g), 10);
    ghost_close(g);
}
END_TEST

/* Other processes commit while this one opens and closes, writable and
 * read-only: the marks are read around the store's generation so that no
 * commit meanwhile puts it outside them. */
START_TEST(opens_while_others_commit)
{
    const char *path = test_new_store("busy.ghost");
    volatile int *stop = shared_alloc(sizeof *stop);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = child_spawn();
        if (kids[k] == 0) {
            struct ghost *g = NULL;
            struct ghost_options o;
            ghost_options_init(&o);
            o.sync = k ? GHOST_SYNC_NONE : GHOST_SYNC_BATCH;
            if (ghost_open(path, &o, &g)) {
                fprintf(stderr, "committer %d: %s\n", k, ghost_errmsg());
                child_exit(1);
            }
            for (uint32_t i = 0; !*stop; i++) {
                struct ghost_txn *t;
                if (ghost_txn_begin(g, &t) || ghost_obj_put(t, OID + (uint64_t)k, 1, &i, 4)) {
                    fprintf(stderr, "committer %d: %s\n", k, ghost_errmsg());
                    child_exit(1);
                }
                int r = ghost_txn_commit(t);
                if (r && r != -GHOST_ECONFLICT) {
                    fprintf(stderr, "committer %d: %s\n", k, ghost_errmsg());
                    child_exit(1);
                }
            }
            ghost_close(g);
            child_exit(0);
        }
    }
    double end = proc_now() + 3;
    int opens = 0;
    while (proc_now() < end) {
        struct ghost *g = open_with(path, opens % 2 == 1, false);
        ghost_close(g);
        opens++;
    }
    *stop = 1;
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(child_wait(kids[k], 30), 0);
    ck_assert_int_gt(opens, 10);
}
END_TEST

static Suite *rollback_suite(void)
{
    Suite *s = suite_create("rollback");
    TCase *tc = tcase_create("meta");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, newest_down_two);
    tcase_add_test(tc, newest_byte_cleared);
    tcase_add_test(tc, newest_byte_cleared_no_log);
    tcase_add_test(tc, older_up_past_newest);
    tcase_add_test(tc, wrong_parity);
    tcase_add_test(tc, damaged_magic);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, log_committed_newer);
    tcase_add_test(tc, log_other_epoch);
    tcase_add_test(tc, marks_follow_commits);
    suite_add_tcase(s, tc);
    tc = tcase_create("normal");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, normal_use);
    tcase_add_test(tc, new_stores);
    tcase_add_test(tc, opens_while_others_commit);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(rollback_suite)
