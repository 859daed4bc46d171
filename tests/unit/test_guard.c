/*
 * test_guard.c - a damaged LMDB page becomes an error, never a dead
 * process (src/lmdb_guard.c): LMDB's own assertions and memory faults on a
 * damaged branch or leaf page turn into -GHOST_ECORRUPT for the one read or
 * write that met the page, and are counted in ghost_stats().damage; every
 * record the damage does not cover still reads back afterwards, in the same
 * transaction and in new ones, and writes whose path avoids the damage
 * still commit.
 *
 * Each test builds a store holding one map of KEYS keys, enough for a
 * B-tree of two levels (a root branch page over a few dozen leaves), finds
 * its pages through LMDB itself (the leaf holding a key is the page its key
 * bytes lie in; the root is named by the map table's record in LMDB's main
 * table), damages one page as a bad sector or a stray write could, and then
 * works on the store in a child process: an abort there (which is what
 * LMDB's assertions did) fails the test instead of ending the suite.
 *
 * The damage: a leaf whose header says "branch page of one entry" (LMDB's
 * assertions in mdb_page_search_root and mdb_cursor_next), a branch entry
 * that points at a meta page (MDB_CORRUPTED on a search, the assertion on
 * a walk), a value that runs off the end of the map (a memory fault), and
 * zeroed or garbage leaves beside a leaf whose keys are deleted (LMDB's
 * rebalancing looks at them).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ghost.h"
#include "proc.h"
#include "util.h"

#define OWNER 100
#define MAP 1
#define KEYS 600
#define VLEN 200
#define MAX_LEAVES 128

/* LMDB's page header (lmdb's mdb.c, format 1): pgno at 0, flags at 10,
 * lower (the end of the node offsets) at 12; a branch node's child page
 * number is its first 6 bytes (lo, hi, flags: 16 bits each). */
#define PG_FLAGS 10
#define PG_LOWER 12
#define PG_HDR 16
#define P_BRANCH 0x01
#define P_LEAF 0x02

static char path[4096];

/* ---- the store ------------------------------------------------------------ */

static void key_of(int i, char key[8])
{
    snprintf(key, 8, "k%05u", (unsigned)i % 100000);
}

/* The value of key i in version `round` (0: as built). */
static void value_of(int i, int round, unsigned char *v)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)round * 7919 + 1;
    for (int j = 0; j < VLEN; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (unsigned char)x;
    }
}

struct fill {
    int from, to;
};

static int fill_fn(struct ghost_txn *t, void *arg)
{
    struct fill *f = arg;
    unsigned char v[VLEN];
    char key[8];
    for (int i = f->from; i < f->to; i++) {
        key_of(i, key);
        value_of(i, 0, v);
        int r = ghost_map_put(t, OWNER, MAP, key, 6, v, VLEN);
        if (r)
            return r;
    }
    return 0;
}

static void build_store(void)
{
    struct ghost *g;
    snprintf(path, sizeof path, "%s", test_new_store("guard"));
    OK(ghost_open(path, NULL, &g));
    for (int i = 0; i < KEYS; i += 100) {
        struct fill f = {i, i + 100};
        OK(ghost_run(g, fill_fn, &f));
    }
    ghost_close(g);
}

/* ---- its pages, found through LMDB ------------------------------------------ */

struct layout {
    size_t psize;
    uint64_t root;
    int nleaves;
    uint64_t leaf[MAX_LEAVES];
    int first[MAX_LEAVES + 1]; /* the first key of each leaf; first[nleaves] = KEYS */
};

/* The number of the map key k (owner . map . "kNNNNN" . ~gen). */
static int key_number(const MDB_val *k)
{
    char buf[6];
    ck_assert_uint_eq(k->mv_size, 9 + 6 + 8);
    memcpy(buf, (const char *)k->mv_data + 10, 5);
    buf[5] = 0;
    return atoi(buf);
}

static void page_io(const struct layout *L, uint64_t pgno, unsigned char *buf, bool write)
{
    int fd = open(path, write ? O_RDWR : O_RDONLY);
    ck_assert_int_ge(fd, 0);
    off_t at = (off_t)(pgno * L->psize);
    ssize_t n = write ? pwrite(fd, buf, L->psize, at) : pread(fd, buf, L->psize, at);
    ck_assert_int_eq(n, (ssize_t)L->psize);
    ck_assert_int_eq(fsync(fd), 0);
    close(fd);
}

static unsigned get16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void put16(unsigned char *p, unsigned v)
{
    uint16_t x = (uint16_t)v;
    memcpy(p, &x, 2);
}

/* The child page number of node i of a branch page. */
static uint64_t branch_child(const unsigned char *page, int i)
{
    const unsigned char *node = page + get16(page + PG_HDR + 2 * i);
    return get16(node) | (uint64_t)get16(node + 2) << 16 | (uint64_t)get16(node + 4) << 32;
}

static void find_layout(struct layout *L)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_dbi, map_dbi;
    MDB_cursor *cur;
    MDB_stat st;
    MDB_val k = {3, "map"}, v;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
    mdb_env_stat(env, &st);
    L->psize = st.ms_psize;
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &main_dbi), 0);
    ck_assert_int_eq(mdb_get(txn, main_dbi, &k, &v), 0); /* the map table's MDB_db */
    ck_assert_uint_eq(v.mv_size, 48);
    ck_assert_uint_eq(get16((const unsigned char *)v.mv_data + 6), 2); /* its depth */
    memcpy(&L->root, (const char *)v.mv_data + 40, 8);
    ck_assert_int_eq(mdb_dbi_open(txn, "map", 0, &map_dbi), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, map_dbi, &cur), 0);
    L->nleaves = 0;
    uint64_t last = UINT64_MAX;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 9 + 8)
            continue; /* the map's tally (docs/format.md), before its keys */
        const unsigned char *page =
            (const unsigned char *)((uintptr_t)k.mv_data & ~(uintptr_t)(L->psize - 1));
        uint64_t pgno;
        memcpy(&pgno, page, 8);
        if (pgno != last) {
            ck_assert_int_lt(L->nleaves, MAX_LEAVES);
            L->leaf[L->nleaves] = pgno;
            L->first[L->nleaves++] = key_number(&k);
            last = pgno;
        }
    }
    L->first[L->nleaves] = KEYS;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    ck_assert_int_ge(L->nleaves, 8);

    /* What we know of the format holds: the root is a branch page over
     * exactly these leaves, in this order. */
    unsigned char page[65536];
    page_io(L, L->root, page, false);
    ck_assert_uint_eq(get16(page + PG_FLAGS), P_BRANCH);
    ck_assert_int_eq((int)(get16(page + PG_LOWER) - PG_HDR) / 2, L->nleaves);
    for (int i = 0; i < L->nleaves; i++)
        ck_assert_uint_eq(branch_child(page, i), L->leaf[i]);
}

/* ---- damage ------------------------------------------------------------------ */

/* Leaf b's header now says "a branch page with one entry": a search
 * through it fails LMDB's assertion in mdb_page_search_root that a branch
 * has two entries or more, a walk that steps into it the assertion
 * IS_LEAF(mp) in mdb_cursor_next. */
static void leaf_as_branch(const struct layout *L, int b)
{
    unsigned char page[65536];
    page_io(L, L->leaf[b], page, false);
    ck_assert_uint_eq(get16(page + PG_FLAGS), P_LEAF);
    put16(page + PG_FLAGS, P_BRANCH);
    put16(page + PG_LOWER, PG_HDR + 2);
    page_io(L, L->leaf[b], page, true);
}

/* The root's entry for leaf b now points at a meta page: a search finds a
 * page that is no leaf (MDB_CORRUPTED), a walk that steps into it fails
 * the assertion IS_LEAF(mp) in mdb_cursor_next. */
static void child_to_meta(const struct layout *L, int b)
{
    unsigned char page[65536];
    page_io(L, L->root, page, false);
    unsigned char *node = page + get16(page + PG_HDR + 2 * b);
    put16(node, 1);
    put16(node + 2, 0);
    put16(node + 4, 0);
    page_io(L, L->root, page, true);
}

/* The node of key i on leaf b now says its value lies on an overflow page
 * (the leaf itself) and is 2 GiB long: LMDB hands that out unchecked, and
 * the record's checksum, computed over it, runs off the end of the map (a
 * memory fault). */
static void value_past_the_map(const struct layout *L, int b, int i)
{
    unsigned char page[65536];
    char key[8];
    key_of(i, key);
    page_io(L, L->leaf[b], page, false);
    int n = (int)(get16(page + PG_LOWER) - PG_HDR) / 2;
    for (int j = 0; j < n; j++) {
        unsigned char *node = page + get16(page + PG_HDR + 2 * j);
        if (get16(node + 6) != 23 || memcmp(node + 8 + 9, key, 6))
            continue;
        put16(node, 0xFFFF);                   /* data size, low half */
        put16(node + 2, 0x7FFF);               /* high half */
        put16(node + 4, 0x01);                 /* F_BIGDATA */
        memcpy(node + 8 + 23, &L->leaf[b], 8); /* "the overflow page" */
        page_io(L, L->leaf[b], page, true);
        return;
    }
    ck_abort_msg("key %d is not on leaf %d", i, b);
}

/* ---- in the child --------------------------------------------------------------- */

/* A failed check in the child: say where and why, and fail. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, " (errmsg: %s)\n", ghost_errmsg());                                    \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Is key i on leaf bad (none if bad is nleaves)? */
static bool damaged(const struct layout *L, int bad, int i)
{
    return bad < L->nleaves && i >= L->first[bad] && i < L->first[bad + 1];
}

/* Read key i in t: -GHOST_ECORRUPT if it is on leaf bad, else its value
 * of version round(i). 0 if so. */
static int check_key(struct ghost_txn *t, const struct layout *L, int bad, int i, int round)
{
    char key[8];
    const void *val;
    size_t vlen;
    unsigned char want[VLEN];
    key_of(i, key);
    int r = ghost_map_get(t, OWNER, MAP, key, 6, &val, &vlen);
    if (damaged(L, bad, i)) {
        CHECK(r == -GHOST_ECORRUPT, "key %d on the damaged leaf: %s", i, test_ename(r));
        return 0;
    }
    value_of(i, round, want);
    CHECK(r == 0, "key %d: %s", i, test_ename(r));
    CHECK(vlen == VLEN && !memcmp(val, want, VLEN), "key %d reads back wrong", i);
    return 0;
}

/* Every key in one transaction, the damaged leaf's first: each undamaged key
 * reads back as written, each damaged one fails alone. rounds[i] (NULL:
 * all 0) is the version key i should have. */
static int check_all(struct ghost *g, const struct layout *L, int bad, const int *rounds)
{
    struct ghost_txn *t;
    CHECK(ghost_txn_begin(g, &t) == 0, "begin");
    int r = check_key(t, L, bad, L->first[bad], 0);
    for (int i = 0; i < KEYS && !r; i++)
        r = check_key(t, L, bad, i, rounds ? rounds[i] : 0);
    ghost_txn_abort(t);
    return r;
}

static uint64_t damage_count(struct ghost *g)
{
    struct ghost_stats st;
    ghost_stats(g, &st);
    return st.damage;
}

static struct ghost *open_child(void)
{
    struct ghost *g = NULL;
    if (ghost_open(path, NULL, &g)) {
        fprintf(stderr, "ghost_open: %s\n", ghost_errmsg());
        child_exit(1);
    }
    return g;
}

/* Run fn in a child process: it passes if the child returns 0, and fails
 * (with the signal's number) if the child died instead. */
static void in_child(int (*fn)(const struct layout *L, int bad), const struct layout *L, int bad)
{
    pid_t pid = child_spawn();
    if (pid == 0)
        child_exit(fn(L, bad));
    int st = child_wait(pid, 120);
    ck_assert_msg(st != CHILD_TIMEOUT, "the child hung");
    ck_assert_msg(st >= 0, "the child died of signal %d (%s)", -st, strsignal(-st));
    ck_assert_msg(st == 0, "the child failed (exit %d); its reasons are above", st);
}

/* ---- reads -------------------------------------------------------------------- */

static int reads_child(const struct layout *L, int bad)
{
    struct ghost *g = open_child();
    CHECK(damage_count(g) == 0, "no damage met yet");
    /* Twice: the second pass starts on a connection that met the damage. */
    for (int pass = 0; pass < 2; pass++)
        if (check_all(g, L, bad, NULL))
            return 1;
    CHECK(damage_count(g) >= 2, "damage met %" PRIu64 " times", damage_count(g));
    ghost_close(g);
    return 0;
}

START_TEST(search_assertion_is_corrupt)
{
    struct layout L;
    build_store();
    find_layout(&L);
    leaf_as_branch(&L, L.nleaves / 2);
    in_child(reads_child, &L, L.nleaves / 2);
}
END_TEST

START_TEST(branch_to_meta_is_corrupt)
{
    struct layout L;
    build_store();
    find_layout(&L);
    child_to_meta(&L, L.nleaves / 2);
    in_child(reads_child, &L, L.nleaves / 2);
}
END_TEST

struct scan {
    int next; /* the key expected next */
    int bad;  /* keys read back wrong */
};

static int scan_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct scan *s = arg;
    char want_key[8];
    unsigned char want[VLEN];
    key_of(s->next, want_key);
    value_of(s->next, 0, want);
    if (klen != 6 || memcmp(key, want_key, 6) || vlen != VLEN || memcmp(val, want, VLEN))
        s->bad++;
    s->next++;
    return 0;
}

/* A scan from the start stops with -GHOST_ECORRUPT where it steps into the
 * damaged leaf, having shown every key before it right; a scan that starts
 * past the damage reads to the end; point reads still work. */
static int scans_child(const struct layout *L, int bad)
{
    struct ghost *g = open_child();
    struct ghost_txn *t;
    char key[8];
    CHECK(ghost_txn_begin(g, &t) == 0, "begin");
    struct scan s = {0, 0};
    int r = ghost_map_scan(t, OWNER, MAP, NULL, 0, scan_cb, &s);
    CHECK(r == -GHOST_ECORRUPT, "scan over the damage: %s", test_ename(r));
    CHECK(strstr(ghost_errmsg(), "IS_LEAF"), "the message names LMDB's assertion");
    CHECK(s.next == L->first[bad] && s.bad == 0, "scan showed %d keys (%d wrong) of %d", s.next,
          s.bad, L->first[bad]);
    s = (struct scan){L->first[bad + 1], 0};
    key_of(s.next, key);
    r = ghost_map_scan(t, OWNER, MAP, key, 6, scan_cb, &s);
    CHECK(r == 0 && s.next == KEYS && s.bad == 0, "scan past the damage: %s, to %d, %d wrong",
          test_ename(r), s.next, s.bad);
    for (int i = 0; i < KEYS; i++)
        if (check_key(t, L, bad, i, 0))
            return 1;
    ghost_txn_abort(t);
    ghost_close(g);
    return 0;
}

START_TEST(walk_assertion_is_corrupt)
{
    struct layout L;
    build_store();
    find_layout(&L);
    leaf_as_branch(&L, L.nleaves / 2);
    in_child(scans_child, &L, L.nleaves / 2);
}
END_TEST

START_TEST(walk_into_meta_is_corrupt)
{
    struct layout L;
    build_store();
    find_layout(&L);
    child_to_meta(&L, L.nleaves / 2);
    in_child(scans_child, &L, L.nleaves / 2);
}
END_TEST

static int fault_key; /* the one key value_past_the_map damaged */

static int fault_child(const struct layout *L, int bad)
{
    struct ghost *g = open_child();
    struct ghost_txn *t;
    const void *val;
    size_t vlen;
    char key[8];
    (void)L;
    (void)bad;
    CHECK(ghost_txn_begin(g, &t) == 0, "begin");
    for (int i = 0; i < KEYS; i++) {
        if (i == fault_key)
            continue;
        if (check_key(t, L, L->nleaves, i, 0)) /* (no leaf is damaged) */
            return 1;
    }
    key_of(fault_key, key);
    int r = ghost_map_get(t, OWNER, MAP, key, 6, &val, &vlen);
    CHECK(r == -GHOST_ECORRUPT, "the damaged key: %s", test_ename(r));
    CHECK(strstr(ghost_errmsg(), "memory fault"), "the message says what LMDB met");
    for (int i = 0; i < KEYS; i++)
        if (i != fault_key && check_key(t, L, L->nleaves, i, 0))
            return 1;
    ghost_txn_abort(t);
    CHECK(damage_count(g) == 1, "damage met %" PRIu64 " times", damage_count(g));
    ghost_close(g);
    return 0;
}

START_TEST(fault_is_corrupt)
{
    struct layout L;
    build_store();
    find_layout(&L);
    int b = L.nleaves / 2;
    fault_key = L.first[b] + 1;
    value_past_the_map(&L, b, fault_key);
    in_child(fault_child, &L, b);
}
END_TEST

/* ---- writes ------------------------------------------------------------------- */

struct put {
    int key, round;
};

static int put_fn(struct ghost_txn *t, void *arg)
{
    const struct put *p = arg;
    char key[8];
    unsigned char v[VLEN];
    key_of(p->key, key);
    value_of(p->key, p->round, v);
    return ghost_map_put(t, OWNER, MAP, key, 6, v, VLEN);
}

/* A write into the damaged leaf fails with -GHOST_ECORRUPT and changes
 * nothing; writes elsewhere commit, before and after it, on the same
 * connection, and survive a reopen. */
static int writes(const struct layout *L, int bad, bool snapshot)
{
    static int rounds[KEYS];
    struct ghost *g = open_child();
    if (snapshot) /* writes then keep the old versions: another path */
        CHECK(ghost_snapshot_create(g, "before") == 0, "snapshot");
    struct put ok1 = {L->first[0], 1}, ok2 = {L->first[bad + 1], 1};
    struct put hit = {L->first[bad] + 1, 1};
    CHECK(ghost_run(g, put_fn, &ok1) == 0, "a write before the damage");
    rounds[ok1.key] = 1;
    int r = ghost_run(g, put_fn, &hit);
    CHECK(r == -GHOST_ECORRUPT, "a write into the damaged leaf: %s", test_ename(r));
    CHECK(ghost_run(g, put_fn, &ok2) == 0, "a write after it");
    rounds[ok2.key] = 1;
    ok1.round = 2;
    CHECK(ghost_run(g, put_fn, &ok1) == 0, "another write after it");
    rounds[ok1.key] = 2;
    if (check_all(g, L, bad, rounds))
        return 1;
    CHECK(damage_count(g) >= 2, "damage met %" PRIu64 " times", damage_count(g));
    ghost_close(g);
    g = open_child();
    if (check_all(g, L, bad, rounds))
        return 1;
    ghost_close(g);
    return 0;
}

static int writes_child(const struct layout *L, int bad)
{
    return writes(L, bad, false);
}

static int snapshot_writes_child(const struct layout *L, int bad)
{
    return writes(L, bad, true);
}

START_TEST(write_into_damage_fails_alone)
{
    struct layout L;
    build_store();
    find_layout(&L);
    leaf_as_branch(&L, L.nleaves / 2);
    in_child(_i ? snapshot_writes_child : writes_child, &L, L.nleaves / 2);
}
END_TEST

struct del {
    int from, to;
};

static int del_fn(struct ghost_txn *t, void *arg)
{
    const struct del *d = arg;
    char key[8];
    for (int i = d->from; i < d->to; i++) {
        key_of(i, key);
        int r = ghost_map_del(t, OWNER, MAP, key, 6);
        if (r)
            return r;
    }
    return 0;
}

/* Deleting a leaf's keys makes LMDB rebalance it with a neighbour: the
 * damaged leaf beside it. Each delete commits or fails with
 * -GHOST_ECORRUPT, and the process lives on to read what lies past the
 * damage and to write there. (What LMDB does with a neighbour it does not
 * check is its own: here it may refuse, or move the damaged page's nodes
 * as they are.) A zeroed or garbage page as the right neighbour of the
 * leftmost leaf, which LMDB would merge into it without a look at the
 * header (cases 4 and 5), killed the process before lmdb_pages.c checked
 * the neighbours of a delete. */
static int deletes_child(const struct layout *L, int bad)
{
    struct ghost *g = open_child();
    int victim = bad == 1 ? 0 : bad + 1, failed = 0;
    for (int i = L->first[victim]; i < L->first[victim + 1]; i++) {
        struct del d = {i, i + 1};
        int r = ghost_run(g, del_fn, &d);
        CHECK(r == 0 || r == -GHOST_ECORRUPT, "delete of key %d: %s", i, test_ename(r));
        failed += r != 0;
    }
    fprintf(stderr, "%d of %d deletes met the damage\n", failed,
            L->first[victim + 1] - L->first[victim]);
    struct ghost_txn *t;
    CHECK(ghost_txn_begin(g, &t) == 0, "begin");
    for (int i = L->first[bad + 2]; i < KEYS; i++)
        if (check_key(t, L, bad, i, 0))
            return 1;
    ghost_txn_abort(t);
    struct put p = {L->first[L->nleaves - 1], 1};
    CHECK(ghost_run(g, put_fn, &p) == 0, "a write past the damage");
    ghost_close(g);
    return 0;
}

/* The damaged leaf to the left of the leaf emptied (cases 1-3: the
 * header forged, the page zeroed, the page full of garbage) and to the
 * right of the leftmost leaf, emptied (cases 0, 4, 5: the same). */
START_TEST(delete_beside_damage)
{
    struct layout L;
    build_store();
    find_layout(&L);
    int bad = _i == 0 || _i >= 4 ? 1 : L.nleaves / 2;
    if (_i < 2) {
        leaf_as_branch(&L, bad);
    } else {
        unsigned char page[65536];
        memset(page, _i % 2 == 0 ? 0 : 0xA5, L.psize);
        page_io(&L, L.leaf[bad], page, true);
    }
    in_child(deletes_child, &L, bad);
}
END_TEST

/* In a sound store the checks before a delete refuse nothing: every key
 * deleted in a shuffled order, in transactions of one to forty deletes,
 * some of them putting and deleting keys of their own (pages changed in
 * the transaction, which live in LMDB's heap, not in the map). */
struct churn {
    const int *order;
    int from, to;
    bool own; /* also put keys past KEYS, and delete every other one */
};

static int churn_fn(struct ghost_txn *t, void *arg)
{
    const struct churn *c = arg;
    unsigned char v[VLEN];
    char key[8];
    for (int i = c->from; i < c->to; i++) {
        if (c->own) {
            key_of(KEYS + c->order[i], key);
            value_of(KEYS + c->order[i], 0, v);
            int r = ghost_map_put(t, OWNER, MAP, key, 6, v, VLEN);
            if (r)
                return r;
        }
        key_of(c->order[i], key);
        int r = ghost_map_del(t, OWNER, MAP, key, 6);
        if (r)
            return r;
        if (c->own && i % 2) {
            key_of(KEYS + c->order[i], key);
            if ((r = ghost_map_del(t, OWNER, MAP, key, 6)))
                return r;
        }
    }
    return 0;
}

START_TEST(deletes_in_a_sound_store_pass)
{
    int order[KEYS];
    uint64_t x = 88172645463325252ull;
    build_store();
    for (int i = 0; i < KEYS; i++)
        order[i] = i;
    for (int i = KEYS - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int j = (int)(x % (uint64_t)(i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    for (int i = 0, n = 0; i < KEYS; n++) {
        int len = 1 + (int)((uint64_t)i * 2654435761u % 40);
        struct churn c = {order, i, i + len < KEYS ? i + len : KEYS, n % 3 == 0};
        int r = ghost_run(g, churn_fn, &c);
        ck_assert_msg(r == 0, "deletes %d..%d: %s", c.from, c.to, test_ename(r));
        i = c.to;
    }
    ck_assert_uint_eq(damage_count(g), 0);
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    for (int i = 0; i < 2 * KEYS; i++) {
        char key[8];
        const void *val;
        size_t vlen;
        key_of(i, key);
        int r = ghost_map_get(t, OWNER, MAP, key, 6, &val, &vlen);
        ck_assert_msg(r == -ENOENT || i >= KEYS, "key %d outlived its delete", i);
        ck_assert_msg(r == 0 || r == -ENOENT, "key %d: %s", i, test_ename(r));
    }
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

static void teardown(void)
{
    child_kill_all();
    if (path[0])
        remove_store(path);
    path[0] = 0;
}

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, search_assertion_is_corrupt);
    tcase_add_test(tc, branch_to_meta_is_corrupt);
    tcase_add_test(tc, walk_assertion_is_corrupt);
    tcase_add_test(tc, walk_into_meta_is_corrupt);
    tcase_add_test(tc, fault_is_corrupt);
    tcase_add_loop_test(tc, write_into_damage_fails_alone, 0, 2);
    tcase_add_loop_test(tc, delete_beside_damage, 0, 6);
    tcase_add_test(tc, deletes_in_a_sound_store_pass);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(guard_suite)
