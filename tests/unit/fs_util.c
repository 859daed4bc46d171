/*
 * fs_util.c - see fs_util.h. The fixture's state is global so that the
 * test_fs_*.c suites share it; Check runs each test in a child process of
 * its own, so no test sees another's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fs_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

/* ---- the fixture ------------------------------------------------------------ */

char path[4352];
struct fs *fs;
struct fs_ctx ctx;
size_t opt_write_buffer; /* 0: the default */

void open_fs(void)
{
    struct fs_options o;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.commit_interval_ms = 3600 * 1000; /* only the test commits buffers */
    if (opt_write_buffer)
        o.write_buffer = opt_write_buffer;
    fs = NULL;
    OK(fs_open(path, &o, &fs));
}

void close_fs(void)
{
    fs_close(fs);
    fs = NULL;
}

void reopen(void)
{
    close_fs();
    open_fs();
}

void setup_bs(uint32_t bs)
{
    snprintf(path, sizeof path, "%s", test_path("fs"));
    remove_store(path);
    OK(fs_mkfs(path, bs));
    ctx.uid = (uint32_t)getuid();
    ctx.gid = (uint32_t)getgid();
    ctx.umask = 022;
    open_fs();
}

void setup(void)
{
    setup_bs(0);
}
void setup_small(void)
{
    setup_bs(4096);
}

void setup_backpressure(void)
{
    opt_write_buffer = (size_t)2 << 20;
    setup_bs(0);
}

void teardown(void)
{
    child_kill_all();
    if (fs)
        fs_close(fs);
    fs = NULL;
    remove_store(path);
}

TCase *fs_tcase(Suite *s, const char *name, void (*setup_fn)(void), double timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup_fn, teardown);
    tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

/* ---- helpers: names and attributes ------------------------------------------ */

uint64_t mkfile(uint64_t parent, const char *name)
{
    struct fs_attr a;
    OK(fs_mknod(fs, &ctx, parent, name, S_IFREG | 0644, 0, &a));
    return a.ino;
}

uint64_t mkdir_(uint64_t parent, const char *name)
{
    struct fs_attr a;
    OK(fs_mkdir(fs, &ctx, parent, name, 0755, &a));
    return a.ino;
}

struct fs_attr attr(uint64_t ino)
{
    struct fs_attr a;
    OK(fs_getattr(fs, ino, &a));
    return a;
}

uint32_t nlink_of(uint64_t ino)
{
    return attr(ino).nlink;
}
uint64_t size_of(uint64_t ino)
{
    return attr(ino).size;
}

/* The inode name leads to, or a negative errno; leaves no lookup count. */
int64_t ino_of(uint64_t parent, const char *name)
{
    struct fs_attr a;
    int e = fs_lookup(fs, parent, name, &a);
    if (e)
        return e;
    fs_forget(fs, a.ino, 1);
    return (int64_t)a.ino;
}

/* A name of exactly n bytes. */
const char *long_name(size_t n, char c)
{
    static char buf[1024];
    memset(buf, c, n);
    buf[n] = 0;
    return buf;
}

/* ---- helpers: what the store holds -------------------------------------------- */

uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

bool obj_exists_in(struct ghost *g, uint64_t oid)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    int e = ghost_obj_get(t, oid, NULL, NULL, NULL);
    ghost_txn_abort(t);
    ck_assert_msg(e == 0 || e == -ENOENT, "ghost_obj_get(%" PRIu64 ") = %d", oid, e);
    return e == 0;
}

bool obj_exists(uint64_t oid)
{
    return obj_exists_in(fs_store(fs), oid);
}

struct raw raw_rec(uint64_t ino)
{
    struct raw r = {0};
    struct ghost_txn *t;
    const void *d;
    size_t len;
    uint8_t type;
    OK(ghost_txn_begin(fs_store(fs), &t));
    OK(ghost_obj_get(t, ino, &type, &d, &len));
    ck_assert_int_eq(type, FS_OBJ_INODE);
    ck_assert_uint_ge(len, 92);
    const unsigned char *p = d;
    r.mode = (uint32_t)(be64_get(p) >> 32);
    r.uid = (uint32_t)(be64_get(p) & 0xffffffffu);
    r.nlink = (uint32_t)(be64_get(p + 8) & 0xffffffffu);
    r.mtime = (int64_t)be64_get(p + 32);
    r.size = be64_get(p + 16);
    r.parent = be64_get(p + 64);
    r.flags = (uint32_t)(be64_get(p + 84) & 0xffffffffu);
    r.inl_len = len - 92;
    if (r.inl_len <= sizeof r.inl)
        memcpy(r.inl, p + 92, r.inl_len);
    ghost_txn_abort(t);
    return r;
}

static int count_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(size_t *)arg)++;
    return 0;
}

size_t map_count_in(struct ghost *g, uint64_t owner, uint8_t map)
{
    struct ghost_txn *t;
    size_t n = 0;
    OK(ghost_txn_begin(g, &t));
    int e = ghost_map_scan(t, owner, map, NULL, 0, count_key, &n);
    ghost_txn_abort(t);
    ck_assert_msg(e >= 0, "ghost_map_scan = %d", e);
    return n;
}

size_t map_count(uint64_t owner, uint8_t map)
{
    return map_count_in(fs_store(fs), owner, map);
}

/* Length of a value in a map, or -ENOENT. */
int64_t map_vlen(uint64_t owner, uint8_t map, const void *key, size_t klen)
{
    struct ghost_txn *t;
    const void *v;
    size_t vlen;
    OK(ghost_txn_begin(fs_store(fs), &t));
    int e = ghost_map_get(t, owner, map, key, klen, &v, &vlen);
    ghost_txn_abort(t);
    return e ? e : (int64_t)vlen;
}

int64_t block_len(uint64_t ino, uint64_t index)
{
    unsigned char k[8];
    be64_put(k, index);
    return map_vlen(ino, FS_MAP_DATA, k, 8);
}

bool orphan_listed_in(struct ghost *g, uint64_t ino)
{
    unsigned char k[8];
    struct ghost_txn *t;
    be64_put(k, ino);
    OK(ghost_txn_begin(g, &t));
    int e = ghost_map_get(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, k, 8, NULL, NULL);
    ghost_txn_abort(t);
    return e == 0;
}

bool has_backref(uint64_t ino, uint64_t parent, const char *name)
{
    unsigned char k[8 + FS_NAME_MAX];
    size_t len = strlen(name);
    be64_put(k, parent);
    memcpy(k + 8, name, len);
    return map_vlen(ino, FS_MAP_BACKREF, k, 8 + len) >= 0;
}

/* ---- helpers: file data ---------------------------------------------------------- */

unsigned char pat(uint64_t off, unsigned seed)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull + seed * 0x632be59bd9b4e019ull;
    x ^= x >> 29;
    return (unsigned char)(x | 1); /* never 0, so zeros from holes show */
}

void fill(unsigned char *buf, uint64_t off, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(off + i, seed);
}

void write_pat(uint64_t ino, uint64_t off, size_t len, unsigned seed)
{
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    fill(b, off, len, seed);
    EXPECT(fs_write(fs, ino, b, len, off, false), len);
    free(b);
}

/* Read [off, off+len) fully (it must all be inside the file). */
unsigned char *read_range(uint64_t ino, uint64_t off, size_t len)
{
    unsigned char *b = malloc(len + 1);
    ck_assert_ptr_nonnull(b);
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < (1u << 20) ? len - done : (1u << 20);
        ssize_t n = fs_read(fs, ino, b + done, want, off + done);
        ck_assert_msg(n > 0, "fs_read(%" PRIu64 ", %zu, %" PRIu64 ") = %zd (%s) after %zu of %zu",
                      ino, want, off + done, n, test_ename(n), done, len);
        done += (size_t)n;
    }
    return b;
}

/* Bytes [off, off+len) of ino are the pattern (seed) or, for seed < 0, zeros. */
void check_range(uint64_t ino, uint64_t off, size_t len, int seed)
{
    unsigned char *b = read_range(ino, off, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char want = seed < 0 ? 0 : pat(off + i, (unsigned)seed);
        if (b[i] != want) /* one assertion, not one per byte: Check logs each */
            ck_assert_msg(b[i] == want, "ino %" PRIu64 " byte %" PRIu64 " is %u, expected %u", ino,
                          off + i, b[i], want);
    }
    free(b);
}

/* ---- helpers: listings ------------------------------------------------------------- */

int collect(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off)
{
    struct listing *l = arg;
    if (l->limit && l->n >= l->limit)
        return 1;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
        ck_assert_ptr_nonnull(l->e);
    }
    l->e[l->n].name = strdup(name);
    l->e[l->n].ino = a->ino;
    l->e[l->n].mode = a->mode;
    l->e[l->n].nlink = a->nlink;
    l->e[l->n].next_off = next_off;
    l->n++;
    l->last_off = next_off;
    return 0;
}

void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    memset(l, 0, sizeof *l);
}

void list_all(uint64_t dir, bool plus, struct listing *l)
{
    memset(l, 0, sizeof *l);
    OK(fs_readdir(fs, dir, 0, plus, collect, l));
}

const struct entry *find_entry(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].name, name))
            return &l->e[i];
    return NULL;
}

/* ---- the tree checker: link counts, back references, parents ---------------------- */

struct tally {
    uint64_t ino;
    uint32_t links;
};

struct fsck {
    struct tally *t;
    size_t n, cap;
    int depth;
};

static void tally_link(struct fsck *k, uint64_t ino)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->t[i].ino == ino) {
            k->t[i].links++;
            return;
        }
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 64;
        k->t = realloc(k->t, k->cap * sizeof *k->t);
        ck_assert_ptr_nonnull(k->t);
    }
    k->t[k->n].ino = ino;
    k->t[k->n++].links = 1;
}

/* Every map of ino holds what its tally counts. */
static void tallies_agree(uint64_t ino)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(fs_store(fs), &t));
    for (uint8_t m = FS_MAP_DIRENT; m <= FS_MAP_XATTR; m++) /* (back references keep none) */
        EXPECT(ghost_map_check(t, ino, m, NULL), m == FS_MAP_BACKREF ? -ENODATA : 0);
    ghost_txn_abort(t);
}

static void fsck_dir(struct fsck *k, uint64_t dir, uint64_t parent)
{
    tallies_agree(dir);
    struct listing l;
    uint32_t subdirs = 0;
    ck_assert_int_lt(k->depth, 64);
    list_all(dir, false, &l);
    ck_assert_msg(l.n >= 2 && !strcmp(l.e[0].name, ".") && !strcmp(l.e[1].name, ".."),
                  "dir %" PRIu64 " does not list . and .. first", dir);
    ck_assert_uint_eq(l.e[0].ino, dir);
    ck_assert_msg(l.e[1].ino == parent, "'..' of dir %" PRIu64 " is %" PRIu64 ", expected %" PRIu64,
                  dir, l.e[1].ino, parent);
    for (size_t i = 2; i < l.n; i++) {
        struct fs_attr a = attr(l.e[i].ino);
        ck_assert_msg((a.mode & S_IFMT) == (l.e[i].mode & S_IFMT),
                      "dirent %s in %" PRIu64 " has type %o, inode %" PRIu64 " is %o", l.e[i].name,
                      dir, l.e[i].mode & S_IFMT, a.ino, a.mode & S_IFMT);
        ck_assert_msg(has_backref(l.e[i].ino, dir, l.e[i].name),
                      "inode %" PRIu64 " has no back reference for %" PRIu64 "/%s", a.ino, dir,
                      l.e[i].name);
        if (S_ISDIR(a.mode)) {
            subdirs++;
            ck_assert_msg(raw_rec(a.ino).parent == dir,
                          "dir %s (%" PRIu64 ") records parent %" PRIu64 ", is in %" PRIu64,
                          l.e[i].name, a.ino, raw_rec(a.ino).parent, dir);
            ck_assert_msg(map_count(a.ino, FS_MAP_BACKREF) == 1,
                          "dir %" PRIu64 " has %zu back references", a.ino,
                          map_count(a.ino, FS_MAP_BACKREF));
            k->depth++;
            fsck_dir(k, a.ino, dir);
            k->depth--;
        } else {
            tally_link(k, a.ino);
        }
    }
    ck_assert_msg(nlink_of(dir) == 2 + subdirs, "dir %" PRIu64 " has nlink %u, %u subdirs", dir,
                  nlink_of(dir), subdirs);
    listing_free(&l);
}

/* Walk the whole tree: every directory's nlink is 2 + its subdirectories and
 * its record names its parent; every other inode's nlink is the number of
 * names it has, and so is its number of back references; every map holds
 * what its tally counts. */
void fsck(void)
{
    struct fsck k = {0};
    fsck_dir(&k, FS_ROOT_INO, FS_ROOT_INO);
    for (size_t i = 0; i < k.n; i++) {
        uint32_t nl = nlink_of(k.t[i].ino);
        tallies_agree(k.t[i].ino);
        size_t br = map_count(k.t[i].ino, FS_MAP_BACKREF);
        ck_assert_msg(nl == k.t[i].links && br == k.t[i].links,
                      "inode %" PRIu64 ": %u names, nlink %u, %zu back references", k.t[i].ino,
                      k.t[i].links, nl, br);
    }
    free(k.t);
}
