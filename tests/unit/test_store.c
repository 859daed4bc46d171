/*
 * test_store.c - the store as the public API shows it: creating and opening
 * stores, refusing files that are not stores (and leaving them untouched),
 * checksums that catch a flipped byte and name the OID, objects, ordered
 * maps, OID allocation, map growth, reader slots of killed processes and
 * read-only connections.
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir(), which the main process removes at exit. Helper processes that
 * a test forks die with it (PR_SET_PDEATHSIG) even when an assertion fails.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ghost.h"
#include "util.h"

/* Header-only XXH3, to re-checksum a record we patch (the test programs do
 * not link libxxhash). */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- helpers ------------------------------------------------------------- */

/* A store of its own for one test; the path is copied into buf. */
static const char *new_store(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s", test_new_store(name));
    return buf;
}

static struct ghost *open_store(const char *path, const struct ghost_options *o)
{
    struct ghost *g = NULL;
    OK(ghost_open(path, o, &g));
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

/* Deterministic bytes for value number `seed`, so that a reader can check
 * without keeping a copy. */
static void fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static bool matches(const void *buf, size_t len, uint64_t seed)
{
    unsigned char *want = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(want);
    fill(want, len, seed);
    bool same = memcmp(buf, want, len) == 0;
    free(want);
    return same;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *lock_path(const char *path)
{
    static char buf[4500];
    snprintf(buf, sizeof buf, "%s-lock", path);
    return buf;
}

/* What we remember of a file to prove that nobody touched it. */
struct fileprint {
    off_t size;
    struct timespec mtime;
    uint64_t hash;
};

static struct fileprint print_file(const char *path)
{
    struct fileprint fp = {0};
    struct stat st;
    unsigned char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fstat(fd, &st), 0);
    fp.size = st.st_size;
    fp.mtime = st.st_mtim;
    fp.hash = 0xcbf29ce484222325ull; /* FNV-1a */
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            fp.hash = (fp.hash ^ buf[i]) * 0x100000001b3ull;
    ck_assert_int_eq(n, 0);
    close(fd);
    return fp;
}

static void assert_unchanged(const char *path, struct fileprint before)
{
    struct fileprint now = print_file(path);
    ck_assert_msg(now.size == before.size, "%s: size changed from %jd to %jd", path,
                  (intmax_t)before.size, (intmax_t)now.size);
    ck_assert_msg(now.mtime.tv_sec == before.mtime.tv_sec &&
                      now.mtime.tv_nsec == before.mtime.tv_nsec,
                  "%s: mtime changed", path);
    ck_assert_msg(now.hash == before.hash, "%s: contents changed", path);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static bool contains_ci(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* ghost_open must refuse path with -GHOST_EFORMAT, say why, and touch
 * nothing: not the file, and no lock file next to it. */
static void assert_refused(const char *path, const char *const *words)
{
    struct ghost *g = NULL;
    struct fileprint before = print_file(path);
    bool said = false;

    unlink(lock_path(path));
    int r = ghost_open(path, NULL, &g);
    ck_assert_msg(r == -GHOST_EFORMAT, "ghost_open(%s) = %d (%s), expected -GHOST_EFORMAT; %s",
                  path, r, ghost_strerror(r), ghost_errmsg());
    ck_assert_ptr_null(g);
    for (int i = 0; words[i]; i++)
        said = said || contains_ci(ghost_errmsg(), words[i]);
    ck_assert_msg(said, "errmsg does not say what is wrong: \"%s\"", ghost_errmsg());
    assert_unchanged(path, before);
    ck_assert_msg(!exists(lock_path(path)), "a lock file was created for refused %s", path);
}

/* ---- creating and opening -------------------------------------------------- */

START_TEST(mkfs_open_close)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    uint64_t oid;

    snprintf(path, sizeof path, "%s", test_path("fresh.ghost"));
    ck_assert(!exists(path));
    OK(ghost_mkfs(path));
    ck_assert(exists(path));
    for (int i = 0; i < 3; i++) {
        g = open_store(path, NULL);
        t = begin(g);
        if (i == 0) {
            OK(ghost_oid_alloc(t, &oid));
            OK(ghost_obj_put(t, oid, 7, "hello", 5));
            OK(ghost_txn_commit(t));
        } else {
            EXPECT(ghost_obj_get(t, oid, NULL, NULL, NULL), 0);
            ghost_txn_abort(t);
        }
        ghost_close(g);
    }
}
END_TEST

START_TEST(mkfs_existing)
{
    char path[4400], text[4400];
    new_store(path, sizeof path, "existing.ghost");
    struct fileprint before = print_file(path);

    EXPECT(ghost_mkfs(path), -EEXIST);
    assert_unchanged(path, before);
    struct ghost *g = open_store(path, NULL);
    ghost_close(g);

    snprintf(text, sizeof text, "%s", test_path("existing.txt"));
    write_file(text, "precious\n", 9);
    before = print_file(text);
    EXPECT(ghost_mkfs(text), -EEXIST);
    assert_unchanged(text, before);

    snprintf(text, sizeof text, "%s", test_path("no/such/dir/x.ghost"));
    int r = ghost_mkfs(text);
    ck_assert_msg(r < 0, "mkfs in a missing directory returned %d", r);
}
END_TEST

START_TEST(open_missing)
{
    char path[4400];
    struct ghost *g = NULL;

    snprintf(path, sizeof path, "%s", test_path("missing.ghost"));
    EXPECT(ghost_open(path, NULL, &g), -ENOENT);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(ghost_errmsg(), path), "errmsg does not name %s: \"%s\"", path,
                  ghost_errmsg());
    ck_assert_msg(!exists(path), "open created %s", path);
    ck_assert_msg(!exists(lock_path(path)), "open created a lock file");
}
END_TEST

START_TEST(open_text_file)
{
    char path[4400];
    static const char *const words[] = {"not", NULL};
    char text[20000];

    snprintf(path, sizeof path, "%s", test_path("notes.txt"));
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "The quick brown fox jumps over the lazy dog.\n"[i % 45];
    write_file(path, text, sizeof text);
    assert_refused(path, words);

    /* A short one too, smaller than any page. */
    write_file(path, "hello\n", 6);
    assert_refused(path, words);
}
END_TEST

START_TEST(open_empty_file)
{
    char path[4400];
    static const char *const words[] = {"not", "empty", "truncat", NULL};

    snprintf(path, sizeof path, "%s", test_path("empty.ghost"));
    write_file(path, "", 0);
    assert_refused(path, words);
}
END_TEST

START_TEST(open_plain_lmdb)
{
    char path[4400];
    static const char *const words[] = {"not", NULL};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi, other;
    MDB_val k = {5, "hello"}, v = {5, "world"};

    snprintf(path, sizeof path, "%s", test_path("plain.mdb"));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "other", MDB_CREATE, &other), 0);
    ck_assert_int_eq(mdb_put(txn, other, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_refused(path, words);
}
END_TEST

START_TEST(open_truncated)
{
    char path[4400];
    static const char *const words[] = {"truncat", NULL};
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_stats st;
    static unsigned char val[16384];
    struct stat sb;

    new_store(path, sizeof path, "truncated.ghost");
    g = open_store(path, NULL);
    for (int c = 0; c < 8; c++) {
        t = begin(g);
        for (int i = 0; i < 32; i++) {
            uint64_t oid;
            OK(ghost_oid_alloc(t, &oid));
            fill(val, sizeof val, oid);
            OK(ghost_obj_put(t, oid, 1, val, sizeof val));
        }
        OK(ghost_txn_commit(t));
    }
    ghost_stats(g, &st);
    ghost_close(g);

    /* Cut the file to half of what is in use (a file preallocated to the map
     * size would otherwise still hold every page). */
    ck_assert_int_eq(stat(path, &sb), 0);
    uint64_t used = (uint64_t)sb.st_size;
    if (st.file_bytes && st.file_bytes < used)
        used = st.file_bytes;
    ck_assert_msg(used > 4 * 16384, "store is only %" PRIu64 " bytes", used);
    ck_assert_int_eq(truncate(path, (off_t)(used / 2)), 0);

    assert_refused(path, words);
}
END_TEST

/* Rewrite meta "format" with raw LMDB, as a newer ghostfs would have written
 * it. The record layout is the one src/record.h (and docs/format.md) documents:
 * table "meta", key "format", value = XXH3-64 checksum (big-endian, of the
 * rest of the value, seeded with XXH3-64 of the key) then the format as an
 * 8-byte big-endian integer. A program that commits to a store behind
 * ghostfs's back removes the change log after (docs/format.md): else the
 * next open finds the store past every commit the log knows of. */
static void set_format(const char *path, uint64_t format)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    unsigned char rec[16];
    MDB_val k = {6, "format"}, v = {sizeof rec, rec};

    for (int i = 0; i < 8; i++)
        rec[8 + i] = (unsigned char)(format >> (56 - 8 * i));
    uint64_t sum = XXH3_64bits_withSeed(rec + 8, 8, XXH3_64bits("format", 6));
    for (int i = 0; i < 8; i++)
        rec[i] = (unsigned char)(sum >> (56 - 8 * i));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val old;
    ck_assert_msg(mdb_get(txn, meta, &k, &old) == 0 && old.mv_size == sizeof rec,
                  "the store has no 16-byte meta \"format\" record: the test no longer "
                  "matches the format");
    ck_assert_int_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char changes[4400];
    snprintf(changes, sizeof changes, "%s-changes", path);
    ck_assert_msg(unlink(changes) == 0 || errno == ENOENT, "%s: %s", changes, strerror(errno));
}

START_TEST(open_newer_format)
{
    char path[4400];
    static const char *const words[] = {"newer", "format", NULL};
    struct ghost *g;
    struct ghost_txn *t;

    new_store(path, sizeof path, "newer.ghost");
    g = open_store(path, NULL);
    t = begin(g);
    OK(ghost_obj_put(t, 40, 1, "kept", 4));
    OK(ghost_txn_commit(t));
    ghost_close(g);

    /* The patch itself is sound: writing today's format back opens fine. */
    set_format(path, GHOST_FORMAT);
    g = open_store(path, NULL);
    ghost_close(g);

    set_format(path, GHOST_FORMAT + 1);
    assert_refused(path, words);
    ck_assert_msg(strstr(ghost_errmsg(), "newer"), "errmsg does not say newer: \"%s\"",
                  ghost_errmsg());

    set_format(path, GHOST_FORMAT);
    g = open_store(path, NULL);
    t = begin(g);
    OK(ghost_obj_get(t, 40, NULL, NULL, NULL));
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

static void commit_one(const char *path, uint64_t oid, int i);

/* A store of an older format (format 1 kept versions under other keys and a
 * change log table) is refused with a message that says it is older, and
 * left as it was. */
START_TEST(open_older_format)
{
    char path[4400];
    static const char *const words[] = {"older", "format", NULL};
    struct ghost *g;

    new_store(path, sizeof path, "older.ghost");
    commit_one(path, 40, 7);
    set_format(path, 1);
    assert_refused(path, words);
    set_format(path, GHOST_FORMAT);
    g = open_store(path, NULL);
    ghost_close(g);
}
END_TEST

/* The change log's size must be a power of two of at least 16 entries. */
START_TEST(open_bad_log_entries)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g = NULL;
    static const uint64_t bad[] = {1, 15, 17, 1000};

    new_store(path, sizeof path, "logsize.ghost");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ghost_options_init(&o);
        o.log_entries = bad[i];
        int r = ghost_open(path, &o, &g);
        ck_assert_msg(r == -EINVAL, "log_entries=%llu: %d", (unsigned long long)bad[i], r);
        ck_assert_msg(strstr(ghost_errmsg(), "power of two"), "errmsg: \"%s\"", ghost_errmsg());
    }
    ghost_options_init(&o);
    o.log_entries = 16;
    g = open_store(path, &o);
    ghost_close(g);
}
END_TEST

/* ---- checksums --------------------------------------------------------------- */

static const char victim_obj[65] =
    "<<ghostfs-checksum-victim-object-0123456789abcdefghijklmnopqrs>>";
static const char victim_map[65] =
    "[[ghostfs-checksum-victim-mapval-0123456789abcdefghijklmnopqrs]]";
static const char bystander[65] =
    "((ghostfs-checksum-bystander-val-0123456789abcdefghijklmnopqrs))";

struct scan_count {
    int n;
};

static int count_keys(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    ((struct scan_count *)arg)->n++;
    return 0;
}

START_TEST(checksum_flip)
{
    char path[4400], num[32];
    struct ghost *g;
    struct ghost_txn *t;
    uint64_t bad, good, owner;
    const void *data;
    size_t len;
    uint8_t type;

    new_store(path, sizeof path, "checksum.ghost");
    g = open_store(path, NULL);
    t = begin(g);
    OK(ghost_oid_alloc(t, &bad));
    OK(ghost_oid_alloc(t, &good));
    OK(ghost_oid_alloc(t, &owner));
    OK(ghost_obj_put(t, bad, 9, victim_obj, 64));
    OK(ghost_obj_put(t, good, 9, bystander, 64));
    OK(ghost_obj_put(t, owner, 9, "owner", 5));
    OK(ghost_map_put(t, owner, 3, "victim-key", 10, victim_map, 64));
    OK(ghost_map_put(t, owner, 3, "other-key", 9, bystander, 64));
    OK(ghost_map_put(t, owner, 4, "victim-key", 10, bystander, 64));
    OK(ghost_txn_commit(t));
    ghost_close(g);

    ck_assert_msg(test_flip_everywhere(path, victim_obj, 64) > 0, "object payload not in the file");
    ck_assert_msg(test_flip_everywhere(path, victim_map, 64) > 0, "map value not in the file");

    g = open_store(path, NULL);
    t = begin(g);
    EXPECT(ghost_obj_get(t, bad, &type, &data, &len), -GHOST_ECORRUPT);
    snprintf(num, sizeof num, "%" PRIu64, bad);
    ck_assert_msg(strstr(ghost_errmsg(), num), "errmsg does not name OID %s: \"%s\"", num,
                  ghost_errmsg());

    OK(ghost_obj_get(t, good, &type, &data, &len));
    ck_assert_int_eq(type, 9);
    ck_assert_uint_eq(len, 64);
    ck_assert(memcmp(data, bystander, 64) == 0);

    EXPECT(ghost_map_get(t, owner, 3, "victim-key", 10, &data, &len), -GHOST_ECORRUPT);
    snprintf(num, sizeof num, "%" PRIu64, owner);
    ck_assert_msg(strstr(ghost_errmsg(), num) || strstr(ghost_errmsg(), "victim-key"),
                  "errmsg names neither owner %s nor the key: \"%s\"", num, ghost_errmsg());

    OK(ghost_map_get(t, owner, 3, "other-key", 9, &data, &len));
    ck_assert_uint_eq(len, 64);
    ck_assert(memcmp(data, bystander, 64) == 0);
    OK(ghost_map_get(t, owner, 4, "victim-key", 10, &data, &len));
    ck_assert(memcmp(data, bystander, 64) == 0);
    OK(ghost_obj_get(t, owner, NULL, NULL, NULL));
    ghost_txn_abort(t);

    /* A scan that meets the bad value reports it too. */
    struct scan_count sc = {0};
    t = begin(g);
    EXPECT(ghost_map_scan(t, owner, 3, NULL, 0, count_keys, &sc), -GHOST_ECORRUPT);
    ghost_txn_abort(t);

    /* Asking again gives the same answer (no cached good copy appears). */
    t = begin(g);
    EXPECT(ghost_obj_get(t, bad, NULL, &data, &len), -GHOST_ECORRUPT);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* ---- objects ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void assert_distinct(uint64_t *oids, size_t n)
{
    qsort(oids, n, sizeof *oids, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(oids[i] >= GHOST_OID_FIRST, "OID %" PRIu64 " is reserved", oids[i]);
        if (i)
            ck_assert_msg(oids[i] != oids[i - 1], "OID %" PRIu64 " handed out twice", oids[i]);
    }
}

START_TEST(oid_alloc_never_reused)
{
    char path[4400];
    enum { ROUNDS = 6, PER_ROUND = 500, TOTAL = ROUNDS * PER_ROUND };
    static uint64_t oids[TOTAL];
    size_t n = 0;

    new_store(path, sizeof path, "oids.ghost");
    for (int round = 0; round < ROUNDS; round++) {
        struct ghost *g = open_store(path, NULL);
        for (int batch = 0; batch < PER_ROUND / 50; batch++) {
            struct ghost_txn *t = begin(g);
            for (int i = 0; i < 50; i++) {
                OK(ghost_oid_alloc(t, &oids[n]));
                if (i % 10 == 0) /* some transactions write, most don't */
                    OK(ghost_obj_put(t, oids[n], 1, "x", 1));
                n++;
            }
            OK(ghost_txn_commit(t));
        }
        ghost_close(g);
    }
    ck_assert_uint_eq(n, TOTAL);
    assert_distinct(oids, n);
}
END_TEST

START_TEST(oid_alloc_after_abort)
{
    char path[4400];
    enum { N = 600 };
    static uint64_t oids[N];
    size_t n = 0;

    new_store(path, sizeof path, "oids-abort.ghost");
    for (int round = 0; round < 3; round++) {
        struct ghost *g = open_store(path, NULL);
        for (int batch = 0; batch < 4; batch++) {
            struct ghost_txn *t = begin(g);
            for (int i = 0; i < N / 12; i++)
                OK(ghost_oid_alloc(t, &oids[n++]));
            ghost_txn_abort(t);
        }
        ghost_close(g);
    }
    assert_distinct(oids, n);
}
END_TEST

START_TEST(obj_round_trip)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    uint64_t a, b, c;
    const void *data;
    size_t len;
    uint8_t type;
    static unsigned char big[1 << 20];

    new_store(path, sizeof path, "objects.ghost");
    g = open_store(path, NULL);

    t = begin(g);
    OK(ghost_oid_alloc(t, &a));
    OK(ghost_oid_alloc(t, &b));
    OK(ghost_oid_alloc(t, &c));
    ck_assert(a != b && b != c && a != c);
    EXPECT(ghost_obj_put(t, a, 0, "zero", 4), -EINVAL);
    /* OIDs out of range: 0, and anything past GHOST_OID_MAX (whose key
     * would alias a valid OID's). */
    EXPECT(ghost_obj_put(t, 0, 1, "x", 1), -EINVAL);
    EXPECT(ghost_obj_put(t, GHOST_OID_MAX + 1, 1, "x", 1), -EINVAL);
    EXPECT(ghost_obj_put(t, UINT64_MAX, 1, "x", 1), -EINVAL);
    EXPECT(ghost_obj_get(t, GHOST_OID_MAX + 1, NULL, NULL, NULL), -EINVAL);
    EXPECT(ghost_obj_del(t, UINT64_MAX), -EINVAL);
    ck_assert_msg(strstr(ghost_errmsg(), "not a valid OID"), "errmsg: %s", ghost_errmsg());
    OK(ghost_obj_put(t, GHOST_OID_MAX, 1, "top", 3));
    EXPECT(ghost_obj_get(t, a, &type, &data, &len), -ENOENT);
    OK(ghost_obj_put(t, a, 1, "first", 5));
    /* Read-your-writes. */
    OK(ghost_obj_get(t, a, &type, &data, &len));
    ck_assert_int_eq(type, 1);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(data, "first", 5) == 0);
    OK(ghost_obj_put(t, a, 2, "second", 6));
    OK(ghost_obj_get(t, a, &type, &data, &len));
    ck_assert_int_eq(type, 2);
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(data, "second", 6) == 0);
    fill(big, sizeof big, 42);
    OK(ghost_obj_put(t, b, 255, big, sizeof big));
    OK(ghost_obj_put(t, c, 3, "", 0));
    OK(ghost_obj_get(t, a, NULL, NULL, NULL));
    OK(ghost_txn_commit(t));

    t = begin(g);
    OK(ghost_obj_get(t, a, &type, &data, &len));
    ck_assert_int_eq(type, 2);
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(data, "second", 6) == 0);
    OK(ghost_obj_get(t, b, &type, &data, &len));
    ck_assert_int_eq(type, 255);
    ck_assert_uint_eq(len, sizeof big);
    ck_assert(matches(data, len, 42));
    OK(ghost_obj_get(t, c, &type, &data, &len));
    ck_assert_int_eq(type, 3);
    ck_assert_uint_eq(len, 0);
    /* Deleted, then read in the same transaction. */
    OK(ghost_obj_del(t, a));
    EXPECT(ghost_obj_get(t, a, &type, &data, &len), -ENOENT);
    OK(ghost_obj_put(t, a, 4, "again", 5));
    OK(ghost_obj_get(t, a, &type, &data, &len));
    ck_assert_int_eq(type, 4);
    OK(ghost_obj_del(t, a));
    OK(ghost_obj_del(t, c));
    OK(ghost_txn_commit(t));

    /* An aborted transaction leaves nothing behind. */
    t = begin(g);
    EXPECT(ghost_obj_get(t, a, NULL, NULL, NULL), -ENOENT);
    OK(ghost_obj_put(t, a, 5, "aborted", 7));
    ghost_txn_abort(t);
    ghost_close(g);

    g = open_store(path, NULL);
    t = begin(g);
    EXPECT(ghost_obj_get(t, a, &type, &data, &len), -ENOENT);
    EXPECT(ghost_obj_get(t, c, &type, &data, &len), -ENOENT);
    OK(ghost_obj_get(t, b, &type, &data, &len));
    ck_assert_uint_eq(len, sizeof big);
    ck_assert(matches(data, len, 42));
    EXPECT(ghost_obj_get(t, 999999999, &type, &data, &len), -ENOENT);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* ---- maps ---------------------------------------------------------------------- */

struct collected {
    int n, stop_after, stop_with;
    size_t klen[64];
    unsigned char key[64][GHOST_KEY_MAX + 1];
    size_t vlen[64];
    char val[64][32];
};

static int collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct collected *c = arg;
    ck_assert_int_lt(c->n, 64);
    ck_assert_uint_le(klen, GHOST_KEY_MAX);
    memcpy(c->key[c->n], key, klen);
    c->klen[c->n] = klen;
    c->vlen[c->n] = vlen;
    memcpy(c->val[c->n], val, vlen < 31 ? vlen : 31);
    c->val[c->n][vlen < 31 ? vlen : 31] = 0;
    c->n++;
    if (c->stop_after && c->n == c->stop_after)
        return c->stop_with;
    return 0;
}

struct kv {
    const char *key;
    size_t klen;
};

/* Bytewise order, a prefix first; bytes compare unsigned. */
static const struct kv ordered[] = {
    {"\x01", 1}, {"ab", 2}, {"ab\0", 3}, {"abc", 3}, {"a\x80", 2}, {"b", 1}, {"\xff", 1},
};
#define NORDERED (int)(sizeof ordered / sizeof ordered[0])

static void assert_keys(const struct collected *c, int first)
{
    ck_assert_int_eq(c->n, NORDERED - first);
    for (int i = 0; i < c->n; i++) {
        const struct kv *want = &ordered[first + i];
        ck_assert_msg(c->klen[i] == want->klen && !memcmp(c->key[i], want->key, want->klen),
                      "key %d of the scan is not key %d of the expected order", i, first + i);
        char v[8];
        snprintf(v, sizeof v, "v%d", first + i);
        ck_assert_str_eq(c->val[i], v);
    }
}

START_TEST(map_order_and_scan)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    uint64_t owner;
    static struct collected c;
    static const int put_order[] = {5, 3, 0, 6, 1, 4, 2};

    new_store(path, sizeof path, "maps.ghost");
    g = open_store(path, NULL);
    t = begin(g);
    OK(ghost_oid_alloc(t, &owner));
    OK(ghost_obj_put(t, owner, 1, "dir", 3));
    for (int i = 0; i < NORDERED; i++) {
        int k = put_order[i];
        char v[8];
        snprintf(v, sizeof v, "v%d", k);
        OK(ghost_map_put(t, owner, 0, ordered[k].key, ordered[k].klen, v, strlen(v)));
    }
    OK(ghost_txn_commit(t));

    t = begin(g);
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, NULL, 0, collect, &c));
    assert_keys(&c, 0);

    /* From a start key that exists: "ab\0" and everything after it. */
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, "ab\0", 3, collect, &c));
    assert_keys(&c, 2);
    /* From "ab": the prefix key itself comes first. */
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, "ab", 2, collect, &c));
    assert_keys(&c, 1);
    /* From one that does not: the next one. */
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, "abb", 3, collect, &c));
    assert_keys(&c, 3);
    /* Past the end: nothing. */
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, "\xff\xff", 2, collect, &c));
    ck_assert_int_eq(c.n, 0);

    /* Stopping: the positive value comes back, no key after it is seen. */
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    c.stop_with = 7;
    EXPECT(ghost_map_scan(t, owner, 0, NULL, 0, collect, &c), 7);
    ck_assert_int_eq(c.n, 3);
    /* Errors come back too. */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    c.stop_with = -EIO;
    EXPECT(ghost_map_scan(t, owner, 0, NULL, 0, collect, &c), -EIO);
    ck_assert_int_eq(c.n, 2);

    /* Single gets. */
    for (int i = 0; i < NORDERED; i++) {
        const void *val;
        size_t vlen;
        char v[8];
        snprintf(v, sizeof v, "v%d", i);
        OK(ghost_map_get(t, owner, 0, ordered[i].key, ordered[i].klen, &val, &vlen));
        ck_assert_uint_eq(vlen, strlen(v));
        ck_assert(memcmp(val, v, vlen) == 0);
    }
    EXPECT(ghost_map_get(t, owner, 0, "a", 1, NULL, NULL), -ENOENT);
    EXPECT(ghost_map_get(t, owner, 0, "abcd", 4, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);

    /* Delete: "ab" goes, "ab\0" stays; deleting an absent key is fine. */
    t = begin(g);
    OK(ghost_map_del(t, owner, 0, "ab", 2));
    OK(ghost_map_del(t, owner, 0, "never-there", 11));
    EXPECT(ghost_map_get(t, owner, 0, "ab", 2, NULL, NULL), -ENOENT);
    OK(ghost_map_get(t, owner, 0, "ab\0", 3, NULL, NULL));
    /* Read-your-writes for maps. */
    OK(ghost_map_put(t, owner, 0, "new", 3, "fresh", 5));
    const void *val;
    size_t vlen;
    OK(ghost_map_get(t, owner, 0, "new", 3, &val, &vlen));
    ck_assert_uint_eq(vlen, 5);
    ck_assert(memcmp(val, "fresh", 5) == 0);
    OK(ghost_map_del(t, owner, 0, "new", 3));
    EXPECT(ghost_map_get(t, owner, 0, "new", 3, NULL, NULL), -ENOENT);
    OK(ghost_txn_commit(t));
    ghost_close(g);

    g = open_store(path, NULL);
    t = begin(g);
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, owner, 0, NULL, 0, collect, &c));
    ck_assert_int_eq(c.n, NORDERED - 1);
    ck_assert_uint_eq(c.klen[0], 1);
    ck_assert_uint_eq(c.klen[1], 3);
    ck_assert(memcmp(c.key[1], "ab\0", 3) == 0);
    EXPECT(ghost_map_get(t, owner, 0, "new", 3, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

START_TEST(map_bad_keys)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    static unsigned char key[GHOST_KEY_MAX + 1];
    static struct collected c;
    const void *val;
    size_t vlen;

    new_store(path, sizeof path, "keys.ghost");
    memset(key, 'k', sizeof key);
    g = open_store(path, NULL);
    t = begin(g);
    EXPECT(ghost_map_put(t, 100, 0, key, GHOST_KEY_MAX + 1, "v", 1), -ENAMETOOLONG);
    EXPECT(ghost_map_get(t, 100, 0, key, GHOST_KEY_MAX + 1, &val, &vlen), -ENAMETOOLONG);
    EXPECT(ghost_map_del(t, 100, 0, key, GHOST_KEY_MAX + 1), -ENAMETOOLONG);
    EXPECT(ghost_map_put(t, 100, 0, key, 4096, "v", 1), -ENAMETOOLONG);
    EXPECT(ghost_map_put(t, 100, 0, "", 0, "v", 1), -EINVAL);
    EXPECT(ghost_map_get(t, 100, 0, "", 0, &val, &vlen), -EINVAL);
    EXPECT(ghost_map_del(t, 100, 0, "", 0), -EINVAL);
    /* The longest legal key works. */
    OK(ghost_map_put(t, 100, 0, key, GHOST_KEY_MAX, "max", 3));
    OK(ghost_txn_commit(t));

    t = begin(g);
    OK(ghost_map_get(t, 100, 0, key, GHOST_KEY_MAX, &val, &vlen));
    ck_assert_uint_eq(vlen, 3);
    EXPECT(ghost_map_get(t, 100, 0, key, GHOST_KEY_MAX - 1, &val, &vlen), -ENOENT);
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, 100, 0, NULL, 0, collect, &c));
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(c.klen[0], GHOST_KEY_MAX);
    ck_assert(memcmp(c.key[0], key, GHOST_KEY_MAX) == 0);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

START_TEST(map_big_values)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    static unsigned char big[1 << 20];
    const void *val;
    size_t vlen;

    new_store(path, sizeof path, "bigvals.ghost");
    g = open_store(path, NULL);
    t = begin(g);
    for (int i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof k, "big%d", i);
        fill(big, sizeof big, 1000 + (uint64_t)i);
        OK(ghost_map_put(t, 200, 1, k, strlen(k), big, sizeof big - (size_t)i));
    }
    OK(ghost_map_put(t, 200, 1, "empty", 5, "", 0));
    OK(ghost_txn_commit(t));
    ghost_close(g);

    g = open_store(path, NULL);
    t = begin(g);
    for (int i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof k, "big%d", i);
        OK(ghost_map_get(t, 200, 1, k, strlen(k), &val, &vlen));
        ck_assert_uint_eq(vlen, sizeof big - (size_t)i);
        fill(big, sizeof big, 1000 + (uint64_t)i);
        ck_assert(memcmp(val, big, vlen) == 0);
    }
    OK(ghost_map_get(t, 200, 1, "empty", 5, &val, &vlen));
    ck_assert_uint_eq(vlen, 0);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

START_TEST(maps_do_not_mix)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    static struct collected c;
    /* Neighbours in any plausible key encoding: owner · map · key. */
    static const struct {
        uint64_t owner;
        uint8_t map;
        const char *key;
        size_t klen;
    } where[] = {
        {100, 0, "k", 1},          {100, 1, "k", 1},        {100, 255, "k", 1},
        {100, 255, "\xff\xff", 2}, {101, 0, "\0", 1},       {101, 0, "k", 1},
        {356, 0, "k", 1},          {1ull << 40, 0, "k", 1}, {(1ull << 40) + 1, 0, "k", 1},
    };
    enum { N = sizeof where / sizeof where[0] };

    new_store(path, sizeof path, "mix.ghost");
    g = open_store(path, NULL);
    t = begin(g);
    for (int i = 0; i < N; i++) {
        char v[8];
        snprintf(v, sizeof v, "w%d", i);
        OK(ghost_map_put(t, where[i].owner, where[i].map, where[i].key, where[i].klen, v,
                         strlen(v)));
    }
    OK(ghost_txn_commit(t));

    t = begin(g);
    for (int i = 0; i < N; i++) {
        const void *val;
        size_t vlen;
        char v[8];
        snprintf(v, sizeof v, "w%d", i);
        OK(ghost_map_get(t, where[i].owner, where[i].map, where[i].key, where[i].klen, &val,
                         &vlen));
        ck_assert_uint_eq(vlen, strlen(v));
        ck_assert(memcmp(val, v, vlen) == 0);

        /* The scan of this (owner, map) sees exactly its own keys. */
        int expect = 0;
        for (int j = 0; j < N; j++)
            expect += where[j].owner == where[i].owner && where[j].map == where[i].map;
        memset(&c, 0, sizeof c);
        OK(ghost_map_scan(t, where[i].owner, where[i].map, NULL, 0, collect, &c));
        ck_assert_msg(c.n == expect, "owner %" PRIu64 " map %d: scan saw %d keys, expected %d",
                      where[i].owner, where[i].map, c.n, expect);
        for (int j = 0; j < c.n; j++)
            ck_assert_msg(c.val[j][0] == 'w', "foreign value %s", c.val[j]);
    }
    /* Empty neighbours stay empty. */
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, 100, 2, NULL, 0, collect, &c));
    ck_assert_int_eq(c.n, 0);
    memset(&c, 0, sizeof c);
    OK(ghost_map_scan(t, 99, 255, NULL, 0, collect, &c));
    ck_assert_int_eq(c.n, 0);
    EXPECT(ghost_map_get(t, 100, 2, "k", 1, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* ---- map growth ------------------------------------------------------------------ */

START_TEST(map_grows)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_stats st;
    enum { COMMITS = 25, PER = 8, VAL = 256 << 10 }; /* 50 MiB */
    static unsigned char buf[VAL];
    const void *val;
    size_t vlen;

    new_store(path, sizeof path, "grow.ghost");
    ghost_options_init(&o);
    o.map_bytes = 1 << 20;
    g = open_store(path, &o);
    for (int c = 0; c < COMMITS; c++) {
        t = begin(g);
        for (int i = 0; i < PER; i++) {
            uint32_t k = (uint32_t)(c * PER + i);
            fill(buf, sizeof buf, k);
            OK(ghost_map_put(t, 500, 0, &k, sizeof k, buf, sizeof buf));
        }
        OK(ghost_txn_commit(t));
    }
    t = begin(g);
    for (uint32_t k = 0; k < COMMITS * PER; k++) {
        OK(ghost_map_get(t, 500, 0, &k, sizeof k, &val, &vlen));
        ck_assert_uint_eq(vlen, VAL);
        ck_assert_msg(matches(val, vlen, k), "value %u differs", k);
    }
    ghost_txn_abort(t);
    ghost_stats(g, &st);
    ck_assert_msg(st.map_grows > 0, "map_grows = %" PRIu64, st.map_grows);
    ck_assert_msg(st.map_bytes >= (uint64_t)COMMITS * PER * VAL, "map_bytes = %" PRIu64,
                  st.map_bytes);
    ghost_close(g);

    /* And after reopening with the same small initial map. */
    g = open_store(path, &o);
    t = begin(g);
    for (uint32_t k = 0; k < COMMITS * PER; k += 7) {
        OK(ghost_map_get(t, 500, 0, &k, sizeof k, &val, &vlen));
        ck_assert(matches(val, vlen, k));
    }
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

static void *abort_txn(void *arg)
{
    ghost_txn_abort(arg);
    return NULL;
}

/* ghost.h: a transaction belongs to one thread at a time, not to the one
 * that began it. A view begun here and ended on another thread must leave
 * nothing behind that would keep the map from growing for this thread's
 * own commits later (they grow it from this thread). */
START_TEST(view_ended_on_another_thread)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_stats st;
    pthread_t th;
    enum { COMMITS = 8, PER = 8, VAL = 256 << 10 }; /* 16 MiB */
    static unsigned char buf[VAL];
    const void *val;
    size_t vlen;
    uint32_t absent = UINT32_MAX;

    new_store(path, sizeof path, "handoff.ghost");
    ghost_options_init(&o);
    o.map_bytes = 1 << 20;
    g = open_store(path, &o);
    t = begin(g);
    EXPECT(ghost_map_get(t, 500, 0, &absent, sizeof absent, &val, &vlen), -ENOENT);
    ck_assert_int_eq(pthread_create(&th, NULL, abort_txn, t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    for (int c = 0; c < COMMITS; c++) {
        t = begin(g);
        for (int i = 0; i < PER; i++) {
            uint32_t k = (uint32_t)(c * PER + i);
            fill(buf, sizeof buf, k);
            OK(ghost_map_put(t, 500, 0, &k, sizeof k, buf, sizeof buf));
        }
        OK(ghost_txn_commit(t));
    }
    ghost_stats(g, &st);
    ck_assert_msg(st.map_grows > 0, "map_grows = %" PRIu64, st.map_grows);
    ghost_close(g); /* debug builds check that every view was counted out */
}
END_TEST

/* A thread that holds a view and commits more than the map holds cannot
 * have the map grown under its own view: the commit fails with a conflict
 * (after a short wait, not a hang), and succeeds once the view ended. */
START_TEST(grow_refused_under_own_view)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *reader, *t;
    struct ghost_stats st;
    enum {
        PER = 96,
        VAL = 256 << 10
    }; /* 24 MiB in one commit: more than the map
          (a new store's opens with 16 MiB more than it uses) */
    static unsigned char buf[VAL];
    const void *val;
    size_t vlen;
    uint32_t absent = UINT32_MAX;
    int r = 0;

    new_store(path, sizeof path, "ownview.ghost");
    ghost_options_init(&o);
    o.map_bytes = 1 << 20;
    g = open_store(path, &o);
    reader = begin(g);
    EXPECT(ghost_map_get(reader, 500, 0, &absent, sizeof absent, &val, &vlen), -ENOENT);
    for (int attempt = 0; attempt < 2; attempt++) {
        t = begin(g);
        for (uint32_t k = 0; k < PER; k++) {
            fill(buf, sizeof buf, k);
            OK(ghost_map_put(t, 500, 0, &k, sizeof k, buf, sizeof buf));
        }
        r = ghost_txn_commit(t);
        if (r == 0)
            ck_assert_str_eq(ghost_errmsg(), ""); /* what failed on the way is not told */
        if (attempt == 0) {
            EXPECT(r, -GHOST_ECONFLICT);
            ghost_txn_abort(reader);
        }
    }
    OK(r);
    ghost_stats(g, &st);
    ck_assert_msg(st.map_grows > 0, "map_grows = %" PRIu64, st.map_grows);
    ghost_close(g);
}
END_TEST

struct big_writer {
    struct ghost *g;
    pthread_barrier_t *ready;
    uint32_t base;
    int result;
};

enum { BIG_PER = 80, BIG_VAL = 256 << 10 }; /* 20 MiB: more than a new store's map */

static void *big_commit(void *arg)
{
    struct big_writer *w = arg;
    struct ghost_txn *t = begin(w->g);
    unsigned char *buf = malloc(BIG_VAL);
    ck_assert_ptr_nonnull(buf);
    for (uint32_t i = 0; i < BIG_PER; i++) {
        uint32_t k = w->base + i;
        fill(buf, BIG_VAL, k);
        OK(ghost_map_put(t, 501, 0, &k, sizeof k, buf, BIG_VAL));
    }
    free(buf);
    pthread_barrier_wait(w->ready); /* commit together: one batch, most often */
    w->result = ghost_txn_commit(t);
    return NULL;
}

/* While another thread holds a view the map cannot grow, and commits that
 * need it to fail with a conflict (which ghost_run retries), never with
 * the engine's internal "must grow" code: not when they shared a batch
 * either, which the committer reruns one transaction at a time. */
START_TEST(grow_blocked_by_view_is_a_conflict)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *reader;
    const void *val;
    size_t vlen;
    uint32_t absent = UINT32_MAX;
    pthread_barrier_t ready;
    struct big_writer w[2];
    pthread_t th[2];

    new_store(path, sizeof path, "viewgrow.ghost");
    ghost_options_init(&o);
    o.map_bytes = 1 << 20;
    g = open_store(path, &o);
    reader = begin(g);
    EXPECT(ghost_map_get(reader, 500, 0, &absent, sizeof absent, &val, &vlen), -ENOENT);
    for (int round = 0; round < 3; round++) {
        pthread_barrier_init(&ready, NULL, 2);
        for (int i = 0; i < 2; i++) {
            w[i] = (struct big_writer){g, &ready, (uint32_t)(round * 2 + i) * BIG_PER, 1};
            ck_assert_int_eq(pthread_create(&th[i], NULL, big_commit, &w[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            ck_assert_msg(w[i].result == -GHOST_ECONFLICT, "round %d writer %d: %d (%s)", round, i,
                          w[i].result, ghost_strerror(w[i].result));
        }
        pthread_barrier_destroy(&ready);
    }
    ghost_txn_abort(reader);
    ghost_close(g);
}
END_TEST

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Commit values of len bytes, one per transaction, until the map (kept
 * from growing by a view) refuses them. */
static void fill_map(struct ghost *g, size_t len, uint32_t *k)
{
    unsigned char *buf = calloc(1, len);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        struct ghost_txn *t = begin(g);
        (*k)++;
        OK(ghost_map_put(t, 502, 0, k, sizeof *k, buf, len));
        int r = ghost_txn_commit(t);
        if (r) {
            EXPECT(r, -GHOST_ECONFLICT);
            break;
        }
    }
    free(buf);
}

/* A transaction that holds a view and needs a new OID block when the map
 * is full cannot have the map grown: it gets a conflict at once (and the
 * committer's thread grows the map), not after a resize waited in vain for
 * its own view while every other thread's transactions waited too. */
START_TEST(oid_block_under_own_view_fails_fast)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *blocker, *t;
    const void *val;
    size_t vlen;
    uint32_t absent = UINT32_MAX, k = 0;
    uint64_t oid;

    new_store(path, sizeof path, "oidview.ghost");
    ghost_options_init(&o);
    o.map_bytes = 1 << 20;
    g = open_store(path, &o);
    blocker = begin(g);
    EXPECT(ghost_map_get(blocker, 500, 0, &absent, sizeof absent, &val, &vlen), -ENOENT);
    fill_map(g, 1 << 20, &k);
    fill_map(g, 16 << 10, &k);
    fill_map(g, 100, &k);
    t = begin(g);
    EXPECT(ghost_map_get(t, 500, 0, &absent, sizeof absent, &val, &vlen), -ENOENT);
    int64_t t0 = now_ms();
    int r = ghost_oid_alloc(t, &oid);
    int64_t took = now_ms() - t0;
    EXPECT(r, -GHOST_ECONFLICT);
    ck_assert_msg(took < 90, "the OID block waited %lld ms under its own view", (long long)took);
    ghost_txn_abort(t);
    ghost_txn_abort(blocker);
    t = begin(g); /* the views ended: the map grows and the block is taken */
    OK(ghost_oid_alloc(t, &oid));
    ghost_txn_abort(t);
    ghost_close(g);
}
END_TEST

/* ghost_errmsg() speaks of the last call only: a success clears it. */
START_TEST(errmsg_cleared_on_success)
{
    char path[4400];
    struct ghost *g;
    struct ghost_txn *t;
    struct ghost_stats st;

    new_store(path, sizeof path, "errmsg.ghost");
    g = open_store(path, NULL);
    ck_assert_str_eq(ghost_errmsg(), "");
    EXPECT(ghost_snapshot_delete(g, "nope"), -ENOENT);
    ck_assert_msg(strstr(ghost_errmsg(), "nope") != NULL, "errmsg '%s'", ghost_errmsg());
    ghost_stats(g, &st); /* returns no status: leaves the message alone */
    ck_assert_msg(strstr(ghost_errmsg(), "nope") != NULL, "errmsg '%s'", ghost_errmsg());
    OK(ghost_txn_begin(g, &t));
    ck_assert_str_eq(ghost_errmsg(), "");
    EXPECT(ghost_obj_put(t, 0, 1, "x", 1), -EINVAL);
    ck_assert_str_ne(ghost_errmsg(), "");
    OK(ghost_obj_put(t, GHOST_OID_FIRST, 1, "x", 1));
    ck_assert_str_eq(ghost_errmsg(), "");
    OK(ghost_txn_commit(t));
    ck_assert_str_eq(ghost_errmsg(), "");
    ghost_close(g);
}
END_TEST

/* ---- stale reader slots ------------------------------------------------------------ */

/* Fork a process that opens the store, reads inside a transaction and then
 * waits to be killed. It writes 'k' (or 'e' on failure) to fd when ready. */
static pid_t reader_child(const char *path, uint64_t oid, int fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid > 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    struct ghost *g = NULL;
    struct ghost_txn *t = NULL;
    char ok = 'e';
    if (ghost_open(path, NULL, &g) == 0 && ghost_txn_begin(g, &t) == 0 &&
        ghost_obj_get(t, oid, NULL, NULL, NULL) == 0)
        ok = 'k';
    if (ok != 'k')
        fprintf(stderr, "reader child %d: %s\n", (int)getpid(), ghost_errmsg());
    if (write(fd, &ok, 1) != 1)
        _exit(1);
    for (;;)
        pause();
}

static void commit_one(const char *path, uint64_t oid, int i)
{
    struct ghost *g = open_store(path, NULL);
    struct ghost_txn *t = begin(g);
    OK(ghost_obj_put(t, oid, 1, &i, sizeof i));
    OK(ghost_txn_commit(t));
    t = begin(g);
    const void *data;
    size_t len;
    OK(ghost_obj_get(t, oid, NULL, &data, &len));
    ck_assert_uint_eq(len, sizeof i);
    ck_assert(memcmp(data, &i, sizeof i) == 0);
    ghost_txn_abort(t);
    ghost_close(g);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* Reader slots in the store's lock table whose process is gone, counted with
 * raw LMDB (mdb_reader_list, which clears nothing). */
struct dead_count {
    int dead;
};

static int count_dead(const char *msg, void *arg)
{
    int pid;
    if (sscanf(msg, "%d", &pid) == 1 && pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
        ((struct dead_count *)arg)->dead++;
    return 0;
}

static int dead_slots(const char *path)
{
    MDB_env *env;
    struct dead_count dc = {0};
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644), 0);
    ck_assert_int_ge(mdb_reader_list(env, count_dead, &dc), 0);
    mdb_env_close(env);
    return dc.dead;
}

START_TEST(stale_readers)
{
    char path[4400];
    enum { BATCHES = 4, PER_BATCH = 50 }; /* 200 killed readers, 50 alive at once */
    pid_t kids[PER_BATCH], witness;
    int fds[2], left_behind = 0;
    char c;

    new_store(path, sizeof path, "readers.ghost");
    commit_one(path, 77, -1);
    int fds_before = count_fds();

    /* A process that keeps the store open all along, so that no opener is
     * ever alone (LMDB resets the reader table for a lone opener), and the
     * slots of the killed readers stay until someone clears them. */
    ck_assert_int_eq(pipe(fds), 0);
    witness = reader_child(path, 77, fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    close(fds[1]);
    ck_assert_msg(c == 'k', "the witness could not open and read");

    for (int b = 0; b < BATCHES; b++) {
        ck_assert_int_eq(pipe(fds), 0);
        for (int i = 0; i < PER_BATCH; i++)
            kids[i] = reader_child(path, 77, fds[1]);
        int failed = 0;
        for (int i = 0; i < PER_BATCH; i++) {
            ck_assert_int_eq(read(fds[0], &c, 1), 1);
            failed += c != 'k';
        }
        for (int i = 0; i < PER_BATCH; i++) {
            kill(kids[i], SIGKILL);
            ck_assert_int_eq(waitpid(kids[i], NULL, 0), kids[i]);
        }
        close(fds[0]);
        close(fds[1]);
        ck_assert_msg(failed == 0, "batch %d: %d of %d readers could not open and read", b, failed,
                      PER_BATCH);
        left_behind += dead_slots(path);
        /* Opening clears them; and the store takes commits. */
        commit_one(path, 77, b);
        int dead = dead_slots(path);
        ck_assert_msg(dead == 0,
                      "batch %d: %d reader slots of killed processes left after "
                      "ghost_open",
                      b, dead);
    }
    /* The check above means something only if the readers held slots. */
    ck_assert_msg(left_behind > 0, "killed readers left no slots behind: the test no longer "
                                   "holds an LMDB reader while it waits");

    /* One at a time too. */
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(pipe(fds), 0);
        pid_t kid = reader_child(path, 77, fds[1]);
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        kill(kid, SIGKILL);
        ck_assert_int_eq(waitpid(kid, NULL, 0), kid);
        close(fds[0]);
        close(fds[1]);
        ck_assert_msg(c == 'k', "reader %d failed", i);
    }
    commit_one(path, 77, 1000);
    ck_assert_int_eq(dead_slots(path), 0);
    kill(witness, SIGKILL);
    ck_assert_int_eq(waitpid(witness, NULL, 0), witness);
    ck_assert_int_eq(count_fds(), fds_before);
}
END_TEST

/* ---- read-only --------------------------------------------------------------------- */

START_TEST(readonly_refuses_commits)
{
    char path[4400];
    struct ghost_options o;
    struct ghost *g;
    struct ghost_txn *t;
    const void *data;
    size_t len;

    new_store(path, sizeof path, "ro.ghost");
    commit_one(path, 20, 5);

    ghost_options_init(&o);
    o.readonly = true;
    g = open_store(path, &o);
    t = begin(g);
    OK(ghost_obj_get(t, 20, NULL, &data, &len));
    ck_assert_uint_eq(len, sizeof(int));
    int r = ghost_obj_put(t, 20, 1, "changed", 7);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);
    t = begin(g);
    r = ghost_map_put(t, 20, 0, "k", 1, "v", 1);
    if (r == 0)
        r = ghost_txn_commit(t);
    else
        ghost_txn_abort(t);
    EXPECT(r, -EROFS);
    EXPECT(ghost_snapshot_create(g, "ro-snap"), -EROFS);
    /* A transaction that writes nothing still "commits". */
    t = begin(g);
    OK(ghost_obj_get(t, 20, NULL, NULL, NULL));
    OK(ghost_txn_commit(t));
    ghost_close(g);

    g = open_store(path, NULL);
    t = begin(g);
    OK(ghost_obj_get(t, 20, NULL, &data, &len));
    ck_assert_uint_eq(len, sizeof(int));
    EXPECT(ghost_map_get(t, 20, 0, "k", 1, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);
    struct ghost_snapshot none[1];
    ck_assert_int_eq(ghost_snapshot_list(g, none, 1), 0);
    ghost_close(g);
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------- */

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("open");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mkfs_open_close);
    tcase_add_test(tc, mkfs_existing);
    tcase_add_test(tc, open_missing);
    tcase_add_test(tc, open_text_file);
    tcase_add_test(tc, open_empty_file);
    tcase_add_test(tc, open_plain_lmdb);
    tcase_add_test(tc, open_truncated);
    tcase_add_test(tc, open_newer_format);
    tcase_add_test(tc, open_older_format);
    tcase_add_test(tc, open_bad_log_entries);
    suite_add_tcase(s, tc);

    tc = tcase_create("checksum");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, checksum_flip);
    suite_add_tcase(s, tc);

    tc = tcase_create("objects");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, oid_alloc_never_reused);
    tcase_add_test(tc, oid_alloc_after_abort);
    tcase_add_test(tc, obj_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("maps");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, map_order_and_scan);
    tcase_add_test(tc, map_bad_keys);
    tcase_add_test(tc, map_big_values);
    tcase_add_test(tc, maps_do_not_mix);
    suite_add_tcase(s, tc);

    tc = tcase_create("growth");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, map_grows);
    tcase_add_test(tc, view_ended_on_another_thread);
    tcase_add_test(tc, grow_refused_under_own_view);
    tcase_add_test(tc, grow_blocked_by_view_is_a_conflict);
    tcase_add_test(tc, oid_block_under_own_view_fails_fast);
    tcase_add_test(tc, errmsg_cleared_on_success);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, stale_readers);
    tcase_add_test(tc, readonly_refuses_commits);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(store_suite)
