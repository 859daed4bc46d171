/*
 * test_fs.c - the POSIX model of fs/ called directly, without a mount: names
 * (lookup, create, mknod, mkdir, symlink, link, unlink, rmdir, rename and its
 * flags, with every error the model itself must produce), link counts and
 * back references on every path (checked by walking the whole tree), setgid
 * inheritance, readdir cookies that survive changes between batches,
 * readdirplus lookup counts, file data through the write buffer (inline to
 * blocks, block boundaries, holes and SEEK_DATA/SEEK_HOLE, truncate,
 * fallocate, copy_range), xattrs, times, inodes unlinked while open or
 * orphaned by a crash, back-pressure of the write buffer, statfs, and bad
 * input to mkfs and open.
 *
 * Each test gets a fresh filesystem (the fixture). The flusher's interval is
 * set to an hour so that nothing is committed behind a test's back: a test
 * that reads the store directly (ghost_txn_begin on fs_store()) sees exactly
 * what flush, release, setattr and the other committing calls wrote. What
 * the store holds is read with the layouts of fs/fs.h and fs/inode.c (the
 * inode record: size at byte 16, parent at 64, flags at 80, inline data
 * after byte 92; block keys are big-endian indexes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

/* ---- the fixture ------------------------------------------------------------ */

static char path[4352];
static struct fs *fs;
static struct fs_ctx ctx;
static size_t opt_write_buffer; /* 0: the default */

static void open_fs(void)
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

static void close_fs(void)
{
    fs_close(fs);
    fs = NULL;
}

static void reopen(void)
{
    close_fs();
    open_fs();
}

static void setup_bs(uint32_t bs)
{
    snprintf(path, sizeof path, "%s", test_path("fs"));
    remove_store(path);
    OK(fs_mkfs(path, bs));
    ctx.uid = (uint32_t)getuid();
    ctx.gid = (uint32_t)getgid();
    ctx.umask = 022;
    open_fs();
}

static void setup(void)
{
    setup_bs(0);
}
static void setup_small(void)
{
    setup_bs(4096);
}

static void setup_backpressure(void)
{
    opt_write_buffer = (size_t)2 << 20;
    setup_bs(0);
}

static void teardown(void)
{
    child_kill_all();
    if (fs)
        fs_close(fs);
    fs = NULL;
    remove_store(path);
}

/* ---- helpers: names and attributes ------------------------------------------ */

static uint64_t mkfile(uint64_t parent, const char *name)
{
    struct fs_attr a;
    OK(fs_mknod(fs, &ctx, parent, name, S_IFREG | 0644, 0, &a));
    return a.ino;
}

static uint64_t mkdir_(uint64_t parent, const char *name)
{
    struct fs_attr a;
    OK(fs_mkdir(fs, &ctx, parent, name, 0755, &a));
    return a.ino;
}

static struct fs_attr attr(uint64_t ino)
{
    struct fs_attr a;
    OK(fs_getattr(fs, ino, &a));
    return a;
}

static uint32_t nlink_of(uint64_t ino)
{
    return attr(ino).nlink;
}
static uint64_t size_of(uint64_t ino)
{
    return attr(ino).size;
}

/* The inode name leads to, or a negative errno; leaves no lookup count. */
static int64_t ino_of(uint64_t parent, const char *name)
{
    struct fs_attr a;
    int e = fs_lookup(fs, parent, name, &a);
    if (e)
        return e;
    fs_forget(fs, a.ino, 1);
    return (int64_t)a.ino;
}

/* A name of exactly n bytes. */
static const char *long_name(size_t n, char c)
{
    static char buf[1024];
    memset(buf, c, n);
    buf[n] = 0;
    return buf;
}

/* ---- helpers: what the store holds -------------------------------------------- */

static uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static bool obj_exists_in(struct ghost *g, uint64_t oid)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(g, &t));
    int e = ghost_obj_get(t, oid, NULL, NULL, NULL);
    ghost_txn_abort(t);
    ck_assert_msg(e == 0 || e == -ENOENT, "ghost_obj_get(%" PRIu64 ") = %d", oid, e);
    return e == 0;
}

static bool obj_exists(uint64_t oid)
{
    return obj_exists_in(fs_store(fs), oid);
}

/* The stored inode record, decoded in part. */
struct raw {
    uint64_t size, parent;
    uint32_t flags, nlink, mode, uid;
    int64_t mtime;
    unsigned char inl[FS_INLINE_MAX + 16];
    size_t inl_len;
};

static struct raw raw_rec(uint64_t ino)
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

static size_t map_count_in(struct ghost *g, uint64_t owner, uint8_t map)
{
    struct ghost_txn *t;
    size_t n = 0;
    OK(ghost_txn_begin(g, &t));
    int e = ghost_map_scan(t, owner, map, NULL, 0, count_key, &n);
    ghost_txn_abort(t);
    ck_assert_msg(e >= 0, "ghost_map_scan = %d", e);
    return n;
}

static size_t map_count(uint64_t owner, uint8_t map)
{
    return map_count_in(fs_store(fs), owner, map);
}

/* Length of a value in a map, or -ENOENT. */
static int64_t map_vlen(uint64_t owner, uint8_t map, const void *key, size_t klen)
{
    struct ghost_txn *t;
    const void *v;
    size_t vlen;
    OK(ghost_txn_begin(fs_store(fs), &t));
    int e = ghost_map_get(t, owner, map, key, klen, &v, &vlen);
    ghost_txn_abort(t);
    return e ? e : (int64_t)vlen;
}

static int64_t block_len(uint64_t ino, uint64_t index)
{
    unsigned char k[8];
    be64_put(k, index);
    return map_vlen(ino, FS_MAP_DATA, k, 8);
}

static bool orphan_listed_in(struct ghost *g, uint64_t ino)
{
    unsigned char k[8];
    struct ghost_txn *t;
    be64_put(k, ino);
    OK(ghost_txn_begin(g, &t));
    int e = ghost_map_get(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, k, 8, NULL, NULL);
    ghost_txn_abort(t);
    return e == 0;
}

static bool has_backref(uint64_t ino, uint64_t parent, const char *name)
{
    unsigned char k[8 + FS_NAME_MAX];
    size_t len = strlen(name);
    be64_put(k, parent);
    memcpy(k + 8, name, len);
    return map_vlen(ino, FS_MAP_BACKREF, k, 8 + len) >= 0;
}

/* ---- helpers: file data ---------------------------------------------------------- */

static unsigned char pat(uint64_t off, unsigned seed)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull + seed * 0x632be59bd9b4e019ull;
    x ^= x >> 29;
    return (unsigned char)(x | 1); /* never 0, so zeros from holes show */
}

static void fill(unsigned char *buf, uint64_t off, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(off + i, seed);
}

static void write_pat(uint64_t ino, uint64_t off, size_t len, unsigned seed)
{
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    fill(b, off, len, seed);
    EXPECT(fs_write(fs, ino, b, len, off, false), len);
    free(b);
}

/* Read [off, off+len) fully (it must all be inside the file). */
static unsigned char *read_range(uint64_t ino, uint64_t off, size_t len)
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
static void check_range(uint64_t ino, uint64_t off, size_t len, int seed)
{
    unsigned char *b = read_range(ino, off, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char want = seed < 0 ? 0 : pat(off + i, (unsigned)seed);
        if (b[i] != want) /* one assertion, not one per byte: Check logs each */
            ck_assert_msg(b[i] == want, "ino %" PRIu64 " byte %" PRIu64 " is %u, expected %u",
                          ino, off + i, b[i], want);
    }
    free(b);
}

/* ---- helpers: listings ------------------------------------------------------------- */

struct entry {
    char *name;
    uint64_t ino, next_off;
    uint32_t mode, nlink;
};

struct listing {
    struct entry *e;
    size_t n, cap;
    size_t limit; /* take at most this many, then report "full" */
    uint64_t last_off;
};

static int collect(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off)
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

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static void list_all(uint64_t dir, bool plus, struct listing *l)
{
    memset(l, 0, sizeof *l);
    OK(fs_readdir(fs, dir, 0, plus, collect, l));
}

static const struct entry *find_entry(const struct listing *l, const char *name)
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

static void fsck_dir(struct fsck *k, uint64_t dir, uint64_t parent)
{
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
 * names it has, and so is its number of back references. */
static void fsck(void)
{
    struct fsck k = {0};
    fsck_dir(&k, FS_ROOT_INO, FS_ROOT_INO);
    for (size_t i = 0; i < k.n; i++) {
        uint32_t nl = nlink_of(k.t[i].ino);
        size_t br = map_count(k.t[i].ino, FS_MAP_BACKREF);
        ck_assert_msg(nl == k.t[i].links && br == k.t[i].links,
                      "inode %" PRIu64 ": %u names, nlink %u, %zu back references", k.t[i].ino,
                      k.t[i].links, nl, br);
    }
    free(k.t);
}

/* =================================================================================== */
/* mkfs, open, bad input                                                                */
/* =================================================================================== */

START_TEST(root_after_mkfs)
{
    struct fs_attr a = attr(FS_ROOT_INO);
    ck_assert(S_ISDIR(a.mode));
    ck_assert_uint_eq(a.mode & 07777, 0755);
    ck_assert_uint_eq(a.nlink, 2);
    ck_assert_uint_eq(a.uid, getuid());
    ck_assert_uint_eq(a.gid, getgid());
    ck_assert_uint_eq(a.ino, FS_ROOT_INO);
    ck_assert_uint_eq(fs_block_size(fs), FS_BLOCK_DEFAULT);
    EXPECT(ino_of(FS_ROOT_INO, "."), FS_ROOT_INO);
    EXPECT(ino_of(FS_ROOT_INO, ".."), FS_ROOT_INO);
    struct listing l;
    list_all(FS_ROOT_INO, false, &l);
    ck_assert_uint_eq(l.n, 2);
    listing_free(&l);
    fsck();
}
END_TEST

START_TEST(bad_block_size)
{
    static const uint32_t bad[] = {1,        512,        1000,  2048,   3000,
                                   4095,     4097,       65537, 100000, (1u << 20) + 4096,
                                   2u << 20, 0x80000000u};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *p = test_path("badbs");
        remove_store(p);
        EXPECT(fs_mkfs(p, bad[i]), -EINVAL);
        ck_assert_msg(access(p, F_OK) != 0, "fs_mkfs(%u) failed but left a store", bad[i]);
    }
    static const uint32_t good[] = {4096, 8192, 1u << 20};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char p[4352];
        struct fs *f = NULL;
        snprintf(p, sizeof p, "%s", test_path("goodbs"));
        remove_store(p);
        OK(fs_mkfs(p, good[i]));
        OK(fs_open(p, NULL, &f));
        ck_assert_uint_eq(fs_block_size(f), good[i]);
        fs_close(f);
        EXPECT(fs_mkfs(p, good[i]), -EEXIST); /* never over an existing store */
        remove_store(p);
    }
}
END_TEST

START_TEST(open_without_superblock)
{
    char p[4352];
    struct fs *f = NULL;
    snprintf(p, sizeof p, "%s", test_new_store("plain")); /* a ghost store, no filesystem */
    int e = fs_open(p, NULL, &f);
    ck_assert_msg(e < 0, "fs_open on a store without superblock = %d", e);
    ck_assert_ptr_null(f);
    /* It wrote nothing: the store is still a plain, empty one. */
    struct ghost *g;
    OK(ghost_open(p, NULL, &g));
    ck_assert(!obj_exists_in(g, FS_SUPER_OID));
    ck_assert(!obj_exists_in(g, FS_ROOT_INO));
    ghost_close(g);
    remove_store(p);
    snprintf(p, sizeof p, "%s", test_path("nothing-here"));
    remove_store(p);
    ck_assert_int_lt(fs_open(p, NULL, &f), 0);
}
END_TEST

START_TEST(statfs_sane)
{
    struct statvfs st;
    OK(fs_statfs(fs, &st));
    ck_assert_uint_eq(st.f_bsize, fs_block_size(fs));
    ck_assert_uint_gt(st.f_frsize, 0);
    ck_assert_uint_gt(st.f_blocks, 0);
    ck_assert_uint_le(st.f_bfree, st.f_blocks);
    ck_assert_uint_le(st.f_bavail, st.f_bfree);
    ck_assert_uint_le(st.f_ffree, st.f_files);
    ck_assert_uint_le(st.f_favail, st.f_ffree);
    ck_assert_uint_eq(st.f_namemax, FS_NAME_MAX);
    /* Writing 8 MiB takes space (or at least gives none back). */
    uint64_t f = mkfile(FS_ROOT_INO, "big");
    write_pat(f, 0, 8u << 20, 1);
    OK(fs_flush(fs, f));
    OK(fs_syncfs(fs));
    struct statvfs st2;
    OK(fs_statfs(fs, &st2));
    ck_assert_uint_le(st2.f_bfree, st2.f_blocks);
    ck_assert_uint_ge((uint64_t)st2.f_blocks * st2.f_frsize, 8u << 20);
    ck_assert_uint_eq(st2.f_namemax, FS_NAME_MAX);
}
END_TEST

/* =================================================================================== */
/* names                                                                                */
/* =================================================================================== */

START_TEST(create_and_lookup)
{
    struct fs_attr a, b;
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0640, O_RDWR, &a));
    ck_assert(S_ISREG(a.mode));
    ck_assert_uint_eq(a.mode & 07777, 0640);
    ck_assert_uint_eq(a.nlink, 1);
    ck_assert_uint_eq(a.size, 0);
    ck_assert_uint_eq(a.uid, ctx.uid);
    ck_assert_uint_eq(a.gid, ctx.gid);
    ck_assert_uint_ge(a.ino, GHOST_OID_FIRST);
    OK(fs_lookup(fs, FS_ROOT_INO, "f", &b));
    ck_assert_uint_eq(b.ino, a.ino);
    ck_assert_uint_eq(b.mode, a.mode);
    fs_forget(fs, a.ino, 1);
    write_pat(a.ino, 0, 100, 3);

    /* O_EXCL on an existing name; without it create opens the file. */
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0600, O_RDWR | O_EXCL, &b), -EEXIST);
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0600, O_RDWR, &b));
    ck_assert_uint_eq(b.ino, a.ino);
    ck_assert_uint_eq(b.mode & 07777, 0640);
    ck_assert_uint_eq(size_of(a.ino), 100);
    /* ... and with O_TRUNC truncates it, buffered data included. */
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0600, O_RDWR | O_TRUNC, &b));
    ck_assert_uint_eq(b.ino, a.ino);
    ck_assert_uint_eq(b.size, 0);
    ck_assert_uint_eq(size_of(a.ino), 0);
    for (int i = 0; i < 3; i++)
        OK(fs_release(fs, a.ino));
    fs_forget(fs, a.ino, 3);

    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "d", 0600, O_RDWR, &b), -EISDIR);
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "d", 0600, O_RDWR | O_EXCL, &b), -EEXIST);
    EXPECT(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &b), -EEXIST);
    EXPECT(fs_mkdir(fs, &ctx, FS_ROOT_INO, "f", 0755, &b), -EEXIST);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "f", S_IFIFO | 0644, 0, &b), -EEXIST);
    EXPECT(fs_symlink(fs, &ctx, "x", FS_ROOT_INO, "d", &b), -EEXIST);
    EXPECT(fs_lookup(fs, FS_ROOT_INO, "nope", &b), -ENOENT);
    EXPECT(fs_lookup(fs, d, "nope", &b), -ENOENT);
    EXPECT(fs_lookup(fs, a.ino, "x", &b), -ENOTDIR);
    EXPECT(fs_mknod(fs, &ctx, a.ino, "x", S_IFREG | 0644, 0, &b), -ENOTDIR);
    EXPECT(fs_mkdir(fs, &ctx, a.ino, "x", 0755, &b), -ENOTDIR);
    EXPECT(fs_create(fs, &ctx, a.ino, "x", 0644, O_RDWR, &b), -ENOTDIR);
    EXPECT(fs_lookup(fs, 999999, "x", &b), -ENOENT);
    EXPECT(ino_of(d, ".."), FS_ROOT_INO);
    EXPECT(ino_of(d, "."), d);
    EXPECT(fs_open_file(fs, d, O_WRONLY, &(bool){0}), -EISDIR);

    /* Names survive a remount. */
    reopen();
    EXPECT(ino_of(FS_ROOT_INO, "f"), a.ino);
    EXPECT(ino_of(FS_ROOT_INO, "d"), d);
    fsck();
}
END_TEST

START_TEST(name_limits)
{
    struct fs_attr a;
    char n255[256], n256[257];
    memcpy(n255, long_name(255, 'a'), sizeof n255);
    memcpy(n256, long_name(256, 'b'), sizeof n256);
    uint64_t f = mkfile(FS_ROOT_INO, n255);
    EXPECT(ino_of(FS_ROOT_INO, n255), f);
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_lookup(fs, FS_ROOT_INO, n256, &a), -ENAMETOOLONG);
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, n256, 0644, O_RDWR, &a), -ENAMETOOLONG);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, n256, S_IFREG | 0644, 0, &a), -ENAMETOOLONG);
    EXPECT(fs_mkdir(fs, &ctx, FS_ROOT_INO, n256, 0755, &a), -ENAMETOOLONG);
    EXPECT(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, n256, &a), -ENAMETOOLONG);
    EXPECT(fs_link(fs, g, FS_ROOT_INO, n256, &a), -ENAMETOOLONG);
    EXPECT(fs_unlink(fs, FS_ROOT_INO, n256), -ENAMETOOLONG);
    EXPECT(fs_rmdir(fs, FS_ROOT_INO, n256), -ENAMETOOLONG);
    EXPECT(fs_rename(fs, FS_ROOT_INO, "g", FS_ROOT_INO, n256, 0), -ENAMETOOLONG);
    EXPECT(fs_rename(fs, FS_ROOT_INO, n256, FS_ROOT_INO, "h", 0), -ENAMETOOLONG);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "", S_IFREG | 0644, 0, &a), -EINVAL);
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "", 0644, O_RDWR, &a), -EINVAL);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "a/b", S_IFREG | 0644, 0, &a), -EINVAL);
    /* A 255-byte name can be renamed, linked and listed. */
    OK(fs_rename(fs, FS_ROOT_INO, n255, FS_ROOT_INO, "short", 0));
    OK(fs_link(fs, g, FS_ROOT_INO, n255, &a));
    fs_forget(fs, g, 1);
    struct listing l;
    list_all(FS_ROOT_INO, false, &l);
    ck_assert_ptr_nonnull(find_entry(&l, n255));
    listing_free(&l);
    (void)f;
    fsck();
}
END_TEST

/* "." and ".." always exist: nothing can be made under those names. */
START_TEST(dot_names)
{
    struct fs_attr a;
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    static const char *const dots[] = {".", ".."};
    for (int i = 0; i < 2; i++) {
        EXPECT(fs_mkdir(fs, &ctx, d, dots[i], 0755, &a), -EEXIST);
        EXPECT(fs_mknod(fs, &ctx, d, dots[i], S_IFREG | 0644, 0, &a), -EEXIST);
        EXPECT(fs_symlink(fs, &ctx, "t", d, dots[i], &a), -EEXIST);
        EXPECT(fs_link(fs, f, d, dots[i], &a), -EEXIST);
        EXPECT(fs_create(fs, &ctx, d, dots[i], 0644, O_RDWR | O_EXCL, &a), -EEXIST);
    }
    struct listing l;
    list_all(d, false, &l);
    ck_assert_uint_eq(l.n, 2);
    listing_free(&l);
    fsck();
}
END_TEST

START_TEST(mknod_types)
{
    struct fs_attr a;
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "fifo", S_IFIFO | 0600, 1234, &a));
    ck_assert(S_ISFIFO(a.mode));
    ck_assert_uint_eq(a.rdev, 0);
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "sock", S_IFSOCK | 0600, 0, &a));
    ck_assert(S_ISSOCK(a.mode));
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "chr", S_IFCHR | 0600, 0x0103, &a));
    ck_assert(S_ISCHR(a.mode));
    ck_assert_uint_eq(a.rdev, 0x0103);
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "blk", S_IFBLK | 0600, 0x0801, &a));
    ck_assert(S_ISBLK(a.mode));
    ck_assert_uint_eq(a.rdev, 0x0801);
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "plain", 0644, 0, &a));
    ck_assert(S_ISREG(a.mode));
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "dir", S_IFDIR | 0755, 0, &a), -EINVAL);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "lnk", S_IFLNK | 0777, 0, &a), -EINVAL);
    EXPECT(fs_lookup(fs, FS_ROOT_INO, "dir", &a), -ENOENT);
    reopen();
    OK(fs_lookup(fs, FS_ROOT_INO, "chr", &a));
    ck_assert(S_ISCHR(a.mode));
    ck_assert_uint_eq(a.rdev, 0x0103);
    struct listing l;
    list_all(FS_ROOT_INO, false, &l);
    ck_assert(S_ISFIFO(find_entry(&l, "fifo")->mode));
    ck_assert(S_ISSOCK(find_entry(&l, "sock")->mode));
    ck_assert(S_ISBLK(find_entry(&l, "blk")->mode));
    listing_free(&l);
    fsck();
}
END_TEST

START_TEST(symlink_readlink)
{
    struct fs_attr a;
    char buf[8192];
    OK(fs_symlink(fs, &ctx, "../some/target", FS_ROOT_INO, "l", &a));
    ck_assert(S_ISLNK(a.mode));
    ck_assert_uint_eq(a.size, strlen("../some/target"));
    ck_assert_uint_eq(a.nlink, 1);
    OK(fs_readlink(fs, a.ino, buf, sizeof buf));
    ck_assert_str_eq(buf, "../some/target");
    OK(fs_readlink(fs, a.ino, buf, 5));
    ck_assert_str_eq(buf, "../s");
    OK(fs_readlink(fs, a.ino, buf, 1));
    ck_assert_str_eq(buf, "");
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_readlink(fs, f, buf, sizeof buf), -EINVAL);
    EXPECT(fs_readlink(fs, FS_ROOT_INO, buf, sizeof buf), -EINVAL);
    EXPECT(fs_symlink(fs, &ctx, "", FS_ROOT_INO, "empty", &a), -ENOENT);
    char *big = malloc(4097);
    memset(big, 'x', 4096);
    big[4096] = 0;
    EXPECT(fs_symlink(fs, &ctx, big, FS_ROOT_INO, "big", &a), -ENAMETOOLONG);
    big[4095] = 0; /* 4095 bytes: the longest target */
    OK(fs_symlink(fs, &ctx, big, FS_ROOT_INO, "long", &a));
    OK(fs_readlink(fs, a.ino, buf, sizeof buf));
    ck_assert_str_eq(buf, big);
    free(big);
    reopen();
    OK(fs_lookup(fs, FS_ROOT_INO, "l", &a));
    OK(fs_readlink(fs, a.ino, buf, sizeof buf));
    ck_assert_str_eq(buf, "../some/target");
    fsck();
}
END_TEST

/* A buffer of size 0 has no room even for the NUL: nothing may be written. */
START_TEST(readlink_size_zero)
{
    struct fs_attr a;
    char buf[64];
    OK(fs_symlink(fs, &ctx, "target", FS_ROOT_INO, "l", &a));
    memset(buf, '#', sizeof buf);
    int e = fs_readlink(fs, a.ino, buf, 0);
    ck_assert_msg(buf[0] == '#' && buf[6] == '#',
                  "fs_readlink(size 0) = %d wrote into the buffer: \"%.8s\"", e, buf);
}
END_TEST

START_TEST(hard_links)
{
    struct fs_attr a;
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t e = mkdir_(FS_ROOT_INO, "e");
    uint64_t f = mkfile(d, "f");
    write_pat(f, 0, 3000, 7);
    OK(fs_link(fs, f, e, "g", &a));
    ck_assert_uint_eq(a.ino, f);
    ck_assert_uint_eq(a.nlink, 2);
    ck_assert_uint_eq(nlink_of(f), 2);
    ck_assert_uint_eq(nlink_of(d), 2); /* files never count in a dir's nlink */
    ck_assert_uint_eq(nlink_of(e), 2);
    OK(fs_link(fs, f, d, "f2", &a));
    ck_assert_uint_eq(nlink_of(f), 3);
    fsck();
    EXPECT(fs_link(fs, f, e, "g", &a), -EEXIST);
    EXPECT(fs_link(fs, d, e, "dlink", &a), -EPERM);
    EXPECT(fs_link(fs, FS_ROOT_INO, e, "root", &a), -EPERM);
    EXPECT(fs_link(fs, f, f, "x", &a), -ENOTDIR);
    EXPECT(fs_link(fs, 999999, e, "x", &a), -ENOENT);
    ck_assert_uint_eq(nlink_of(d), 2);
    ck_assert_uint_eq(nlink_of(f), 3);

    OK(fs_unlink(fs, d, "f"));
    ck_assert_uint_eq(nlink_of(f), 2);
    check_range(f, 0, 3000, 7);
    OK(fs_unlink(fs, d, "f2"));
    ck_assert_uint_eq(nlink_of(f), 1);
    EXPECT(ino_of(e, "g"), f);
    check_range(f, 0, 3000, 7);
    fsck();
    reopen();
    ck_assert_uint_eq(nlink_of(f), 1);
    check_range(f, 0, 3000, 7);
    fsck();
    /* Linking into a removed directory fails. */
    OK(fs_rmdir(fs, FS_ROOT_INO, "d"));
    EXPECT(fs_link(fs, f, d, "late", &a), -ENOENT);
    fs_forget(fs, f, 3);
    fs_forget(fs, d, 1);
    fs_forget(fs, e, 1);
    fsck();
}
END_TEST

START_TEST(unlink_rmdir_errors)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t sub = mkdir_(d, "sub");
    uint64_t f = mkfile(d, "f");
    EXPECT(fs_unlink(fs, FS_ROOT_INO, "d"), -EISDIR);
    EXPECT(fs_rmdir(fs, d, "f"), -ENOTDIR);
    EXPECT(fs_rmdir(fs, FS_ROOT_INO, "d"), -ENOTEMPTY);
    EXPECT(fs_unlink(fs, d, "missing"), -ENOENT);
    EXPECT(fs_rmdir(fs, d, "missing"), -ENOENT);
    EXPECT(fs_rmdir(fs, d, "."), -EINVAL);
    EXPECT(fs_rmdir(fs, d, ".."), -ENOTEMPTY);
    EXPECT(fs_unlink(fs, f, "x"), -ENOTDIR);
    ck_assert_uint_eq(nlink_of(d), 3);
    ck_assert_uint_eq(nlink_of(FS_ROOT_INO), 3);
    OK(fs_rmdir(fs, d, "sub"));
    ck_assert_uint_eq(nlink_of(d), 2);
    ck_assert_uint_eq(nlink_of(sub), 0); /* still looked up: the inode stays, unlinked */
    struct fs_attr a;
    EXPECT(fs_mkdir(fs, &ctx, sub, "x", 0755, &a), -ENOENT);
    EXPECT(fs_mknod(fs, &ctx, sub, "x", S_IFREG | 0644, 0, &a), -ENOENT);
    EXPECT(fs_create(fs, &ctx, sub, "x", 0644, O_RDWR, &a), -ENOENT);
    EXPECT(fs_symlink(fs, &ctx, "t", sub, "x", &a), -ENOENT);
    fs_forget(fs, sub, 1);
    ck_assert(!obj_exists(sub));
    OK(fs_unlink(fs, d, "f"));
    ck_assert(!obj_exists(f)); /* not open: deleted with its last name */
    fs_forget(fs, f, 1);
    ck_assert(!obj_exists(f));
    OK(fs_rmdir(fs, FS_ROOT_INO, "d"));
    ck_assert_uint_eq(nlink_of(FS_ROOT_INO), 2);
    fs_forget(fs, d, 1);
    ck_assert(!obj_exists(d));
    ck_assert_uint_eq(map_count(FS_ORPHAN_OID, FS_MAP_ORPHAN), 0);
    fsck();
}
END_TEST

START_TEST(lookup_counts)
{
    struct fs_attr a;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    ck_assert(fs_is_known(fs, f));
    fs_forget(fs, f, 1);
    ck_assert(!fs_is_known(fs, f));
    OK(fs_lookup(fs, FS_ROOT_INO, "f", &a));
    OK(fs_lookup(fs, FS_ROOT_INO, "f", &a));
    OK(fs_link(fs, f, FS_ROOT_INO, "f2", &a));
    fs_forget(fs, f, 2);
    ck_assert(fs_is_known(fs, f));
    fs_forget(fs, f, 1);
    ck_assert(!fs_is_known(fs, f));
    fs_forget(fs, f, 5); /* more than held: harmless */
    ck_assert(!fs_is_known(fs, f));
    OK(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "l", &a));
    ck_assert(fs_is_known(fs, a.ino));
    fs_forget(fs, a.ino, 1);
    ck_assert(!fs_is_known(fs, a.ino));
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    ck_assert(fs_is_known(fs, d));
    fs_forget(fs, d, 1);
    ck_assert(!fs_is_known(fs, d));
    /* A failed lookup counts nothing. */
    EXPECT(fs_lookup(fs, d, "nope", &a), -ENOENT);
    ck_assert(!fs_is_known(fs, d));
    /* A file whose last name goes while nobody has it open is deleted with
     * its name, in the same transaction, lookup count or not (the kernel's
     * count is only its cache; an open file keeps it: unlinked_but_open). */
    OK(fs_lookup(fs, FS_ROOT_INO, "f", &a));
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    ck_assert(obj_exists(f)); /* f2 still names it */
    OK(fs_unlink(fs, FS_ROOT_INO, "f2"));
    ck_assert(!obj_exists(f));
    ck_assert(!orphan_listed_in(fs_store(fs), f));
    fs_forget(fs, f, 1); /* harmless */
    ck_assert(!obj_exists(f));
    /* A directory's last reference still keeps it (it may be a cwd). */
    uint64_t dd = mkdir_(FS_ROOT_INO, "dd");
    OK(fs_rmdir(fs, FS_ROOT_INO, "dd"));
    ck_assert(obj_exists(dd));
    ck_assert(orphan_listed_in(fs_store(fs), dd));
    fs_forget(fs, dd, 1);
    ck_assert(!obj_exists(dd));
    ck_assert(!orphan_listed_in(fs_store(fs), dd));
}
END_TEST

/* =================================================================================== */
/* link counts and rename                                                               */
/* =================================================================================== */

START_TEST(nlink_dirs)
{
    uint64_t a = mkdir_(FS_ROOT_INO, "a");
    ck_assert_uint_eq(nlink_of(FS_ROOT_INO), 3);
    ck_assert_uint_eq(nlink_of(a), 2);
    uint64_t b = mkdir_(a, "b");
    uint64_t c = mkdir_(a, "c");
    ck_assert_uint_eq(nlink_of(a), 4);
    ck_assert_uint_eq(nlink_of(b), 2);
    mkfile(a, "f");
    struct fs_attr at;
    OK(fs_symlink(fs, &ctx, "x", a, "l", &at));
    OK(fs_mknod(fs, &ctx, a, "p", S_IFIFO | 0644, 0, &at));
    ck_assert_uint_eq(nlink_of(a), 4);
    fsck();
    OK(fs_rmdir(fs, a, "b"));
    ck_assert_uint_eq(nlink_of(a), 3);
    ck_assert_uint_eq(nlink_of(b), 0);
    reopen();
    ck_assert_uint_eq(nlink_of(a), 3);
    ck_assert_uint_eq(nlink_of(FS_ROOT_INO), 3);
    ck_assert(!obj_exists(b)); /* looked up only before the remount */
    (void)c;
    fsck();
}
END_TEST

START_TEST(rename_files)
{
    uint64_t d1 = mkdir_(FS_ROOT_INO, "d1");
    uint64_t d2 = mkdir_(FS_ROOT_INO, "d2");
    uint64_t f = mkfile(d1, "f");
    write_pat(f, 0, 5000, 1);
    struct fs_attr before = attr(f);

    /* Within one directory. */
    OK(fs_rename(fs, d1, "f", d1, "g", 0));
    EXPECT(ino_of(d1, "f"), -ENOENT);
    EXPECT(ino_of(d1, "g"), f);
    ck_assert_uint_eq(nlink_of(f), 1);
    ck_assert(has_backref(f, d1, "g"));
    ck_assert(!has_backref(f, d1, "f"));
    ck_assert_int_ge(attr(f).ctime_ns, before.ctime_ns);

    /* Across directories: neither directory's nlink moves. */
    OK(fs_rename(fs, d1, "g", d2, "h", 0));
    EXPECT(ino_of(d1, "g"), -ENOENT);
    EXPECT(ino_of(d2, "h"), f);
    ck_assert_uint_eq(nlink_of(d1), 2);
    ck_assert_uint_eq(nlink_of(d2), 2);
    check_range(f, 0, 5000, 1);
    fsck();

    /* Over a victim with one link: the victim goes. */
    uint64_t v = mkfile(d1, "v");
    fs_forget(fs, v, 1);
    OK(fs_rename(fs, d2, "h", d1, "v", 0));
    EXPECT(ino_of(d1, "v"), f);
    ck_assert(!obj_exists(v));
    ck_assert(!orphan_listed_in(fs_store(fs), v));
    fsck();

    /* Over a victim with two links: it keeps one. */
    uint64_t w = mkfile(d2, "w");
    struct fs_attr a;
    OK(fs_link(fs, w, d1, "w2", &a));
    OK(fs_rename(fs, d1, "v", d2, "w", 0));
    ck_assert_uint_eq(nlink_of(w), 1);
    ck_assert_uint_eq(nlink_of(f), 1);
    EXPECT(ino_of(d2, "w"), f);
    EXPECT(ino_of(d1, "w2"), w);
    fsck();

    /* Two names of one inode: rename does nothing, both stay. */
    OK(fs_link(fs, f, d1, "f-again", &a));
    OK(fs_rename(fs, d1, "f-again", d2, "w", 0));
    EXPECT(ino_of(d1, "f-again"), f);
    EXPECT(ino_of(d2, "w"), f);
    ck_assert_uint_eq(nlink_of(f), 2);
    fsck();

    /* Onto itself: nothing happens. */
    OK(fs_rename(fs, d1, "w2", d1, "w2", 0));
    EXPECT(ino_of(d1, "w2"), w);
    ck_assert_uint_eq(nlink_of(w), 1);

    /* Errors. */
    uint64_t gone = mkdir_(FS_ROOT_INO, "gone");
    OK(fs_rmdir(fs, FS_ROOT_INO, "gone"));
    EXPECT(fs_rename(fs, d1, "w2", gone, "x", 0), -ENOENT);
    fs_forget(fs, gone, 1);
    EXPECT(fs_rename(fs, d1, "missing", d2, "x", 0), -ENOENT);
    EXPECT(fs_rename(fs, d1, "w2", f, "x", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, f, "x", d1, "y", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, d1, "w2", 999999, "x", 0), -ENOENT);
    EXPECT(fs_rename(fs, d1, "w2", d2, "..", 0), -EBUSY);
    EXPECT(fs_rename(fs, d1, ".", d2, "x", 0), -EBUSY);
    EXPECT(fs_rename(fs, d1, "w2", d2, "", 0), -EINVAL);
    EXPECT(fs_rename(fs, d1, "w2", d2, "a/b", 0), -EINVAL);
    fsck();
    reopen();
    fsck();
    check_range(f, 0, 5000, 1);
}
END_TEST

START_TEST(rename_dirs)
{
    uint64_t p1 = mkdir_(FS_ROOT_INO, "p1");
    uint64_t p2 = mkdir_(FS_ROOT_INO, "p2");
    uint64_t a = mkdir_(p1, "a");
    uint64_t sub = mkdir_(a, "sub");
    mkfile(a, "f");

    /* Within one directory. */
    OK(fs_rename(fs, p1, "a", p1, "b", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    EXPECT(ino_of(a, ".."), p1);
    fsck();

    /* Across: the old parent loses a link, the new one gains it, ".." follows. */
    OK(fs_rename(fs, p1, "b", p2, "a", 0));
    ck_assert_uint_eq(nlink_of(p1), 2);
    ck_assert_uint_eq(nlink_of(p2), 3);
    ck_assert_uint_eq(nlink_of(a), 3);
    EXPECT(ino_of(a, ".."), p2);
    ck_assert_uint_eq(raw_rec(a).parent, p2);
    fsck();

    /* Over an empty directory elsewhere: p2 loses a, gains nothing net in p1. */
    uint64_t empty = mkdir_(p1, "empty");
    fs_forget(fs, empty, 1);
    ck_assert_uint_eq(nlink_of(p1), 3);
    OK(fs_rename(fs, p2, "a", p1, "empty", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 2);
    ck_assert(!obj_exists(empty));
    EXPECT(ino_of(a, ".."), p1);
    fsck();

    /* Over an empty directory in the same parent. */
    uint64_t e2 = mkdir_(p1, "e2");
    ck_assert_uint_eq(nlink_of(p1), 4);
    OK(fs_rename(fs, p1, "empty", p1, "e2", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(e2), 0);
    fs_forget(fs, e2, 1);
    ck_assert(!obj_exists(e2));
    fsck();

    /* Type mismatches and non-empty victims. */
    uint64_t full = mkdir_(p2, "full");
    mkfile(full, "x");
    mkfile(p2, "file");
    EXPECT(fs_rename(fs, p1, "e2", p2, "full", 0), -ENOTEMPTY);
    EXPECT(fs_rename(fs, p1, "e2", p2, "file", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, p2, "file", p1, "e2", 0), -EISDIR);
    EXPECT(fs_rename(fs, p2, "full", p1, "e2", 0), -ENOTEMPTY); /* e2 has sub and f */

    /* Under itself. */
    EXPECT(fs_rename(fs, p1, "e2", a, "x", 0), -EINVAL);
    EXPECT(fs_rename(fs, p1, "e2", sub, "x", 0), -EINVAL);
    EXPECT(fs_rename(fs, FS_ROOT_INO, "p1", sub, "p1", 0), -EINVAL);
    EXPECT(fs_rename(fs, FS_ROOT_INO, "p1", p1, "p1", 0), -EINVAL);
    EXPECT(ino_of(p1, "e2"), a);
    ck_assert_uint_eq(nlink_of(p1), 3);
    /* Moving it up is fine. */
    OK(fs_rename(fs, a, "sub", FS_ROOT_INO, "sub", 0));
    ck_assert_uint_eq(nlink_of(a), 2);
    ck_assert_uint_eq(nlink_of(FS_ROOT_INO), 5);
    EXPECT(ino_of(sub, ".."), FS_ROOT_INO);
    fsck();
    reopen();
    fsck();
}
END_TEST

START_TEST(rename_noreplace)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    uint64_t g = mkfile(d, "g");
    EXPECT(fs_rename(fs, FS_ROOT_INO, "f", d, "g", RENAME_NOREPLACE), -EEXIST);
    EXPECT(ino_of(FS_ROOT_INO, "f"), f);
    EXPECT(ino_of(d, "g"), g);
    EXPECT(fs_rename(fs, FS_ROOT_INO, "d", FS_ROOT_INO, "f", RENAME_NOREPLACE), -EEXIST);
    OK(fs_rename(fs, FS_ROOT_INO, "f", d, "h", RENAME_NOREPLACE));
    EXPECT(ino_of(d, "h"), f);
    EXPECT(fs_rename(fs, d, "h", d, "g", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
    EXPECT(fs_rename(fs, d, "h", d, "z", RENAME_WHITEOUT), -EINVAL);
    EXPECT(fs_rename(fs, d, "h", d, "z", 0x100), -EINVAL);
    EXPECT(ino_of(d, "h"), f);
    fsck();
}
END_TEST

START_TEST(rename_exchange)
{
    uint64_t p1 = mkdir_(FS_ROOT_INO, "p1");
    uint64_t p2 = mkdir_(FS_ROOT_INO, "p2");
    uint64_t f = mkfile(p1, "f");
    uint64_t g = mkfile(p2, "g");
    uint64_t d = mkdir_(p2, "d");
    uint64_t dd = mkdir_(d, "dd");
    uint64_t e = mkdir_(p1, "e");

    EXPECT(fs_rename(fs, p1, "f", p2, "missing", RENAME_EXCHANGE), -ENOENT);
    EXPECT(fs_rename(fs, p1, "missing", p2, "g", RENAME_EXCHANGE), -ENOENT);

    /* file <-> file across directories. */
    OK(fs_rename(fs, p1, "f", p2, "g", RENAME_EXCHANGE));
    EXPECT(ino_of(p1, "f"), g);
    EXPECT(ino_of(p2, "g"), f);
    ck_assert(has_backref(f, p2, "g") && !has_backref(f, p1, "f"));
    ck_assert(has_backref(g, p1, "f") && !has_backref(g, p2, "g"));
    ck_assert_uint_eq(nlink_of(f), 1);
    ck_assert_uint_eq(nlink_of(g), 1);
    fsck();

    /* file <-> dir across: the dir's link moves to its new parent. */
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 3);
    OK(fs_rename(fs, p1, "f", p2, "d", RENAME_EXCHANGE));
    EXPECT(ino_of(p1, "f"), d);
    EXPECT(ino_of(p2, "d"), g);
    ck_assert_uint_eq(nlink_of(p1), 4);
    ck_assert_uint_eq(nlink_of(p2), 2);
    EXPECT(ino_of(d, ".."), p1);
    fsck();

    /* dir <-> dir across: counts stay, both ".." follow. */
    OK(fs_rename(fs, p1, "e", p2, "d", RENAME_EXCHANGE)); /* e <-> the file g: dir moves */
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 3);
    uint64_t x = mkdir_(p2, "x");
    OK(fs_rename(fs, p1, "f", p2, "x", RENAME_EXCHANGE));
    EXPECT(ino_of(p1, "f"), x);
    EXPECT(ino_of(p2, "x"), d);
    EXPECT(ino_of(x, ".."), p1);
    EXPECT(ino_of(d, ".."), p2);
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 4);
    fsck();

    /* Exchange with a non-empty dir is fine; exchanging a dir into itself is not. */
    OK(fs_rename(fs, p2, "x", p2, "d", RENAME_EXCHANGE)); /* same dir, both dirs */
    EXPECT(ino_of(p2, "x"), e);
    EXPECT(fs_rename(fs, p2, "d", dd, "y", RENAME_EXCHANGE), -ENOENT);
    mkfile(dd, "y");
    EXPECT(fs_rename(fs, p2, "d", dd, "y", RENAME_EXCHANGE), -EINVAL);
    EXPECT(fs_rename(fs, dd, "y", p2, "d", RENAME_EXCHANGE), -EINVAL);
    EXPECT(ino_of(p2, "d"), d);
    fsck();
    reopen();
    fsck();
}
END_TEST

START_TEST(setgid_inheritance)
{
    struct fs_attr a, in;
    uint32_t other = ctx.gid + 4242;
    uint64_t sg = mkdir_(FS_ROOT_INO, "sg");
    memset(&in, 0, sizeof in);
    in.gid = other;
    in.mode = 02775;
    OK(fs_setattr(fs, sg, &in, FS_SET_GID | FS_SET_MODE, &a));
    ck_assert_uint_eq(a.gid, other);
    ck_assert_uint_eq(a.mode, S_IFDIR | 02775);

    OK(fs_create(fs, &ctx, sg, "f", 0644, O_RDWR, &a));
    ck_assert_uint_eq(a.gid, other);
    ck_assert_uint_eq(a.uid, ctx.uid);
    ck_assert_uint_eq(a.mode, S_IFREG | 0644); /* files do not get S_ISGID */
    OK(fs_mknod(fs, &ctx, sg, "fifo", S_IFIFO | 0600, 0, &a));
    ck_assert_uint_eq(a.gid, other);
    OK(fs_symlink(fs, &ctx, "t", sg, "l", &a));
    ck_assert_uint_eq(a.gid, other);
    OK(fs_mkdir(fs, &ctx, sg, "sub", 0755, &a));
    ck_assert_uint_eq(a.gid, other);
    ck_assert_uint_eq(a.mode, S_IFDIR | 02755);
    uint64_t sub = a.ino;
    OK(fs_create(fs, &ctx, sub, "deep", 0600, O_RDWR, &a));
    ck_assert_uint_eq(a.gid, other);
    OK(fs_mkdir(fs, &ctx, sub, "deeper", 0700, &a));
    ck_assert_uint_eq(a.mode, S_IFDIR | 02700);
    ck_assert_uint_eq(a.gid, other);

    /* Outside a setgid directory the caller's group is used. */
    uint64_t plain = mkdir_(FS_ROOT_INO, "plain");
    OK(fs_create(fs, &ctx, plain, "f", 0644, O_RDWR, &a));
    ck_assert_uint_eq(a.gid, ctx.gid);
    OK(fs_mkdir(fs, &ctx, plain, "sub", 0755, &a));
    ck_assert_uint_eq(a.gid, ctx.gid);
    ck_assert_uint_eq(a.mode & S_ISGID, 0);
    reopen();
    OK(fs_lookup(fs, sg, "sub", &a));
    ck_assert_uint_eq(a.mode, S_IFDIR | 02755);
    ck_assert_uint_eq(a.gid, other);
}
END_TEST

/* Both times of dir are later than t. */
static bool changed_since(uint64_t dir, int64_t t)
{
    struct fs_attr a = attr(dir);
    return a.mtime_ns > t && a.ctime_ns > t;
}

/* A moment later than every time of d1 and d2 so far. */
static int64_t mark(uint64_t d1, uint64_t d2)
{
    proc_sleep_ms(2);
    struct fs_attr a = attr(d1), b = attr(d2);
    int64_t t = a.mtime_ns > b.mtime_ns ? a.mtime_ns : b.mtime_ns;
    t = a.ctime_ns > t ? a.ctime_ns : t;
    t = b.ctime_ns > t ? b.ctime_ns : t;
    proc_sleep_ms(2);
    return t;
}

START_TEST(dir_times)
{
    uint64_t d1 = mkdir_(FS_ROOT_INO, "d1");
    uint64_t d2 = mkdir_(FS_ROOT_INO, "d2");
    struct fs_attr a;
    int64_t t = mark(d1, d2);
    uint64_t f = mkfile(d1, "f");
    ck_assert_msg(changed_since(d1, t), "create does not touch the directory's times");
    t = mark(d1, d2);
    OK(fs_link(fs, f, d2, "g", &a));
    ck_assert_msg(changed_since(d2, t), "link does not touch the directory's times");
    ck_assert_int_gt(attr(f).ctime_ns, t);
    t = mark(d1, d2);
    OK(fs_rename(fs, d1, "f", d2, "h", 0));
    ck_assert_msg(changed_since(d1, t) && changed_since(d2, t),
                  "rename does not touch both directories' times");
    ck_assert_int_gt(attr(f).ctime_ns, t);
    t = mark(d1, d2);
    OK(fs_unlink(fs, d2, "g"));
    ck_assert_msg(changed_since(d2, t), "unlink does not touch the directory's times");
    ck_assert_int_gt(attr(f).ctime_ns, t);
    t = mark(d1, d2);
    mkdir_(d1, "sub");
    ck_assert(changed_since(d1, t));
    t = mark(d1, d2);
    OK(fs_rmdir(fs, d1, "sub"));
    ck_assert(changed_since(d1, t));
}
END_TEST

START_TEST(open_keep_cache)
{
    bool keep = true;
    uint64_t f = mkfile(FS_ROOT_INO, "f"); /* looked up: the table keeps what it knows */
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert(!keep); /* first open: the kernel has nothing it may keep */
    OK(fs_release(fs, f));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(keep, "unchanged data, and the kernel may not keep its pages");
    write_pat(f, 0, 10, 1);
    OK(fs_release(fs, f));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(!keep, "the data changed, and the kernel may keep its pages");
    OK(fs_release(fs, f));
    struct fs_attr in = {.size = 3}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(!keep, "truncated, and the kernel may keep its pages");
    OK(fs_release(fs, f));
    EXPECT(fs_open_file(fs, 999999, O_RDONLY, &keep), -ENOENT);
}
END_TEST

/* =================================================================================== */
/* readdir                                                                              */
/* =================================================================================== */

START_TEST(readdir_lists_everything)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    char name[32];
    for (int i = 0; i < 150; i++) {
        snprintf(name, sizeof name, "file%03d", i);
        mkfile(d, name);
    }
    mkdir_(d, "subdir");
    struct fs_attr a;
    OK(fs_symlink(fs, &ctx, "t", d, "link", &a));
    struct listing l;
    list_all(d, false, &l);
    ck_assert_uint_eq(l.n, 2 + 150 + 2);
    ck_assert_str_eq(l.e[0].name, ".");
    ck_assert_str_eq(l.e[1].name, "..");
    ck_assert_uint_eq(l.e[0].ino, d);
    ck_assert_uint_eq(l.e[1].ino, FS_ROOT_INO);
    for (int i = 0; i < 150; i++) {
        snprintf(name, sizeof name, "file%03d", i);
        const struct entry *en = find_entry(&l, name);
        ck_assert_msg(en != NULL, "%s not listed", name);
        ck_assert(S_ISREG(en->mode));
        EXPECT(ino_of(d, name), en->ino);
    }
    ck_assert(S_ISDIR(find_entry(&l, "subdir")->mode));
    ck_assert(S_ISLNK(find_entry(&l, "link")->mode));
    /* Offsets are distinct, increasing cookies; none is 0. */
    for (size_t i = 0; i < l.n; i++) {
        ck_assert_uint_ne(l.e[i].next_off, 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(l.e[i].name, l.e[j].name), "%s listed twice", l.e[i].name);
        if (i)
            ck_assert_uint_gt(l.e[i].next_off, l.e[i - 1].next_off);
    }
    /* Resuming after "." starts at "..", after ".." at the first entry. */
    struct listing from1 = {0}, from2 = {0};
    OK(fs_readdir(fs, d, l.e[0].next_off, false, collect, &from1));
    OK(fs_readdir(fs, d, l.e[1].next_off, false, collect, &from2));
    ck_assert_uint_eq(from1.n, l.n - 1);
    ck_assert_str_eq(from1.e[0].name, "..");
    ck_assert_uint_eq(from2.n, l.n - 2);
    ck_assert_str_eq(from2.e[0].name, l.e[2].name);
    listing_free(&from1);
    listing_free(&from2);
    /* Resuming at the last offset lists nothing more. */
    struct listing rest = {0};
    OK(fs_readdir(fs, d, l.e[l.n - 1].next_off, false, collect, &rest));
    ck_assert_uint_eq(rest.n, 0);
    listing_free(&l);
    uint64_t f = mkfile(FS_ROOT_INO, "notadir");
    EXPECT(fs_readdir(fs, f, 0, false, collect, &rest), -ENOTDIR);
    EXPECT(fs_readdir(fs, 999999, 0, false, collect, &rest), -ENOENT);
    ck_assert_uint_eq(rest.n, 0);
}
END_TEST

/* List in batches of 7 (the callback refuses the 8th entry, as a full reply
 * buffer does) and change the directory between batches. */
START_TEST(readdir_resume_with_changes)
{
    enum { N = 200, BATCH = 7 };
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    char name[32];
    int seen[N] = {0}; /* the original names, by index */
    bool removed[N] = {false};
    int added_seen[256] = {0};
    int dots = 0, dotdots = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%03d", i);
        fs_forget(fs, mkfile(d, name), 1);
    }
    uint64_t off = 0;
    int rounds = 0, next_add = 0, next_rm = 0;
    for (;;) {
        struct listing b = {.limit = BATCH};
        OK(fs_readdir(fs, d, off, false, collect, &b));
        for (size_t i = 0; i < b.n; i++) {
            int k;
            if (!strcmp(b.e[i].name, "."))
                dots++;
            else if (!strcmp(b.e[i].name, ".."))
                dotdots++;
            else if (sscanf(b.e[i].name, "n%d", &k) == 1 && k >= 0 && k < N)
                seen[k]++;
            else if (sscanf(b.e[i].name, "added%d", &k) == 1 && k >= 0 && k < 256)
                added_seen[k]++;
            else
                ck_abort_msg("unexpected name %s", b.e[i].name);
        }
        if (b.n == 0) {
            listing_free(&b);
            break;
        }
        off = b.last_off;
        /* Remove the entry the cookie points at, and some other one; add two. */
        if (b.n && b.e[b.n - 1].name[0] == 'n') {
            int k = atoi(b.e[b.n - 1].name + 1);
            OK(fs_unlink(fs, d, b.e[b.n - 1].name));
            removed[k] = true;
        }
        while (next_rm < N && (removed[next_rm] || seen[next_rm]))
            next_rm++;
        int victim = (next_rm * 7 + rounds * 13) % N;
        if (!removed[victim]) {
            snprintf(name, sizeof name, "n%03d", victim);
            OK(fs_unlink(fs, d, name));
            removed[victim] = true;
        }
        for (int j = 0; j < 2 && next_add < 256; j++) {
            snprintf(name, sizeof name, "added%d", next_add++);
            fs_forget(fs, mkfile(d, name), 1);
        }
        listing_free(&b);
        ck_assert_int_lt(++rounds, 1000);
    }
    ck_assert_int_eq(dots, 1);
    ck_assert_int_eq(dotdots, 1);
    for (int i = 0; i < N; i++) {
        if (removed[i])
            ck_assert_msg(seen[i] <= 1, "n%03d (removed meanwhile) listed %d times", i, seen[i]);
        else
            ck_assert_msg(seen[i] == 1, "n%03d (there throughout) listed %d times", i, seen[i]);
    }
    for (int i = 0; i < 256; i++)
        ck_assert_msg(added_seen[i] <= 1, "added%d listed %d times", i, added_seen[i]);
    ck_assert_int_gt(rounds, N / BATCH / 2);
    fsck();
}
END_TEST

START_TEST(readdirplus_counts_lookups)
{
    uint64_t p = mkdir_(FS_ROOT_INO, "p");
    uint64_t d = mkdir_(p, "d");
    fs_forget(fs, p, 1);
    fs_forget(fs, d, 1);
    char name[32];
    uint64_t ino[5];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "f%d", i);
        ino[i] = mkfile(d, name);
        write_pat(ino[i], 0, (size_t)(i + 1) * 10, 1);
        OK(fs_flush(fs, ino[i]));
        fs_forget(fs, ino[i], 1);
        ck_assert(!fs_is_known(fs, ino[i]));
    }
    /* ".", ".." and 3 entries fit; the 4th is refused and must not count. */
    struct listing l = {.limit = 5};
    OK(fs_readdir(fs, d, 0, true, collect, &l));
    ck_assert_uint_eq(l.n, 5);
    ck_assert(!fs_is_known(fs, d)); /* "." counts nothing */
    ck_assert(!fs_is_known(fs, p)); /* nor does ".." */
    ck_assert_uint_eq(l.e[1].ino, p);
    int known = 0;
    for (int i = 0; i < 5; i++)
        known += fs_is_known(fs, ino[i]);
    ck_assert_int_eq(known, 3);
    for (size_t i = 2; i < l.n; i++) {
        ck_assert(fs_is_known(fs, l.e[i].ino));
        struct fs_attr a = attr(l.e[i].ino);
        ck_assert_uint_eq(l.e[i].mode, a.mode); /* full attributes with plus */
        ck_assert_uint_eq(l.e[i].nlink, 1);
    }
    struct listing rest = {0};
    OK(fs_readdir(fs, d, l.last_off, true, collect, &rest));
    ck_assert_uint_eq(rest.n, 2);
    for (int i = 0; i < 5; i++)
        ck_assert(fs_is_known(fs, ino[i]));
    /* A second listing counts again: two forgets are needed. */
    struct listing again;
    list_all(d, true, &again);
    ck_assert_uint_eq(again.n, 7);
    for (int i = 0; i < 5; i++) {
        fs_forget(fs, ino[i], 1);
        ck_assert(fs_is_known(fs, ino[i]));
        fs_forget(fs, ino[i], 1);
        ck_assert(!fs_is_known(fs, ino[i]));
    }
    /* Without plus nothing is counted. */
    struct listing bare;
    list_all(d, false, &bare);
    for (int i = 0; i < 5; i++)
        ck_assert(!fs_is_known(fs, ino[i]));
    /* An open keeps an unlinked inode alive until it is released; the
     * count alone does not (see lookup_counts). */
    struct listing one = {.limit = 3};
    OK(fs_readdir(fs, d, 0, true, collect, &one));
    uint64_t held = one.e[2].ino;
    ck_assert(fs_is_known(fs, held));
    bool keep;
    OK(fs_open_file(fs, held, O_RDONLY, &keep));
    OK(fs_unlink(fs, d, one.e[2].name));
    ck_assert(obj_exists(held));
    ck_assert_uint_eq(nlink_of(held), 0);
    OK(fs_release(fs, held));
    ck_assert(obj_exists(held)); /* still counted */
    fs_forget(fs, held, 1);
    ck_assert(!obj_exists(held));
    listing_free(&l);
    listing_free(&rest);
    listing_free(&again);
    listing_free(&bare);
    listing_free(&one);
}
END_TEST

/* =================================================================================== */
/* file data                                                                            */
/* =================================================================================== */

START_TEST(write_read_through_buffer)
{
    struct fs_attr a;
    char buf[256];
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0644, O_RDWR, &a));
    uint64_t f = a.ino;
    EXPECT(fs_write(fs, f, "hello world", 11, 0, false), 11);
    /* Nothing is committed yet; reads and getattr see the buffer. */
    ck_assert_uint_eq(raw_rec(f).size, 0);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 11);
    ck_assert(!memcmp(buf, "hello world", 11));
    ck_assert_uint_eq(size_of(f), 11);
    EXPECT(fs_write(fs, f, "HELLO", 5, 0, false), 5);
    EXPECT(fs_write(fs, f, "!", 1, 20, false), 1);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 21);
    ck_assert(!memcmp(buf, "HELLO world\0\0\0\0\0\0\0\0\0!", 21));
    EXPECT(fs_read(fs, f, buf, 4, 3), 4);
    ck_assert(!memcmp(buf, "LO w", 4));
    EXPECT(fs_read(fs, f, buf, sizeof buf, 21), 0);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 1000), 0);
    EXPECT(fs_write(fs, f, "++", 2, 0, true), 2); /* append: at the end, whatever off */
    ck_assert_uint_eq(size_of(f), 23);
    ck_assert_uint_eq(raw_rec(f).size, 0);

    OK(fs_flush(fs, f));
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.size, 23);
    ck_assert_uint_eq(r.inl_len, 23);
    ck_assert(!memcmp(r.inl, "HELLO world\0\0\0\0\0\0\0\0\0!++", 23));
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 23);
    EXPECT(fs_write(fs, f, "++", 2, 0, true), 2);
    ck_assert_uint_eq(size_of(f), 25);

    /* A block file, buffered: reads merge the buffer over the store. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 200000, 5);
    ck_assert_uint_eq(raw_rec(g).size, 0);
    check_range(g, 0, 200000, 5);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).size, 200000);
    write_pat(g, 100000, 50, 9); /* a partial block over committed data */
    check_range(g, 99990, 10, 5);
    check_range(g, 100000, 50, 9);
    check_range(g, 100050, 10, 5);
    OK(fs_release(fs, f));
    OK(fs_flush(fs, g));
    uint64_t k = mkfile(FS_ROOT_INO, "k");
    write_pat(k, 0, 70000, 8); /* never flushed: fs_close commits it */
    EXPECT(fs_write(fs, k, "x", 1, (uint64_t)INT64_MAX, false), -EFBIG);
    close_fs();
    open_fs();
    ck_assert_uint_eq(size_of(k), 70000);
    check_range(k, 0, 70000, 8);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 25);
    ck_assert(!memcmp(buf, "HELLO world\0\0\0\0\0\0\0\0\0!++++", 25));
    check_range(g, 0, 100000, 5);
    check_range(g, 100000, 50, 9);
    check_range(g, 100050, 99950, 5);
    ck_assert_uint_eq(size_of(g), 200000);
    /* Reading a directory is refused. */
    EXPECT(fs_read(fs, FS_ROOT_INO, buf, sizeof buf, 0), -EISDIR);
}
END_TEST

/* A write of no bytes changes nothing: not the size, not the data, and
 * committing it must not trip over an empty buffer. */
START_TEST(empty_write)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "", 0, 0, false), 0);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(size_of(f), 0);
    EXPECT(fs_write(fs, f, "", 0, 10, true), 0);
    OK(fs_release(fs, f));
    ck_assert_uint_eq(size_of(f), 0);
}
END_TEST

START_TEST(empty_write_past_eof)
{
    char c[16];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "abc", 3, 0, false), 3);
    OK(fs_flush(fs, f));
    EXPECT(fs_write(fs, f, "", 0, 5000, false), 0);
    ck_assert_msg(size_of(f) == 3, "a 0-byte write at 5000 made the size %" PRIu64, size_of(f));
    OK(fs_flush(fs, f));
    ck_assert_msg(size_of(f) == 3, "a 0-byte write at 5000 made the size %" PRIu64, size_of(f));
    EXPECT(fs_read(fs, f, c, sizeof c, 0), 3);
}
END_TEST

/* fs_read_pieces hands out the same bytes fs_read copies: from the store's
 * pages where nothing is buffered (holes as zeros, a short last block, EOF),
 * and through a copy where writes are buffered or the file is inline. */
struct gathered {
    unsigned char *b;
    size_t len;
    int pieces, calls;
};

static void gather_pieces(void *arg, const struct iovec *iov, int n)
{
    struct gathered *g = arg;
    g->calls++;
    g->pieces = n;
    for (int i = 0; i < n; i++) {
        memcpy(g->b + g->len, iov[i].iov_base, iov[i].iov_len);
        g->len += iov[i].iov_len;
    }
}

static void expect_same(uint64_t ino, uint64_t off, size_t size)
{
    unsigned char *want = malloc(size + 1), *got = malloc(size + 1);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    ssize_t n = fs_read(fs, ino, want, size, off);
    ck_assert_int_ge(n, 0);
    struct gathered g = {.b = got};
    EXPECT(fs_read_pieces(fs, ino, size, off, gather_pieces, &g), n);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_uint_eq(g.len, (size_t)n);
    ck_assert_msg(memcmp(want, got, (size_t)n) == 0, "pieces differ at %" PRIu64 "+%zu", off,
                  size);
    free(want);
    free(got);
}

START_TEST(read_pieces_match_read)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 100, 1); /* inline */
    expect_same(f, 0, 4096);
    expect_same(f, 50, 10);
    write_pat(f, 3 * bs + 7, bs, 2); /* blocks 3 and 4, holes before */
    expect_same(f, 0, 5 * bs);       /* buffered: copied */
    OK(fs_flush(fs, f));
    for (uint64_t off = 0; off < 5 * bs; off += bs / 3)
        expect_same(f, off, 2 * bs + 11);
    expect_same(f, 4 * bs + 8, 1 << 20); /* past EOF */
    expect_same(f, 10 * bs, 100);        /* wholly past EOF: nothing */
    struct gathered g = {.b = malloc(2 * bs)};
    EXPECT(fs_read_pieces(fs, f, 2 * bs, 0, gather_pieces, &g), 2 * bs);
    ck_assert_int_ge(g.pieces, 2); /* block 0 holds the old inline bytes, then zeros */
    free(g.b);
    write_pat(f, bs + 1, 10, 3); /* buffered again, over a hole */
    expect_same(f, 0, 3 * bs);
    expect_same(f, 2 * bs, bs); /* not overlapping the buffer: from the store */
    EXPECT(fs_read_pieces(fs, FS_ROOT_INO, 10, 0, gather_pieces, &g), -EISDIR);
}
END_TEST

START_TEST(inline_to_blocks)
{
    ck_assert_uint_le(FS_INLINE_MAX, fs_block_size(fs));
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, FS_INLINE_MAX - 1, 1);
    write_pat(f, FS_INLINE_MAX - 1, 1, 1);
    OK(fs_flush(fs, f));
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.size, FS_INLINE_MAX);
    ck_assert_uint_eq(r.inl_len, FS_INLINE_MAX); /* at the limit it stays inline */
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    check_range(f, 0, FS_INLINE_MAX, 1);

    write_pat(f, FS_INLINE_MAX, 1, 1); /* one byte more: blocks */
    check_range(f, 0, FS_INLINE_MAX + 1, 1);
    OK(fs_flush(fs, f));
    r = raw_rec(f);
    ck_assert_uint_eq(r.size, FS_INLINE_MAX + 1);
    ck_assert_uint_eq(r.inl_len, 0);
    EXPECT(block_len(f, 0), FS_INLINE_MAX + 1);
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 1);
    check_range(f, 0, FS_INLINE_MAX + 1, 1);

    /* Inline bytes survive a write far away that turns the file into blocks. */
    uint32_t bs = fs_block_size(fs);
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 100, 2);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).inl_len, 100);
    write_pat(g, 3 * (uint64_t)bs + 5, 10, 2);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).inl_len, 0);
    ck_assert_uint_eq(map_count(g, FS_MAP_DATA), 2);
    ck_assert_int_ge(block_len(g, 0), 100);
    ck_assert_int_ge(block_len(g, 3), 15);
    check_range(g, 0, 100, 2);
    check_range(g, 100, 3 * (size_t)bs + 5 - 100, -1);
    check_range(g, 3 * (uint64_t)bs + 5, 10, 2);

    /* Inline bytes and a buffered write in block 0 past the limit, together. */
    uint64_t h = mkfile(FS_ROOT_INO, "h");
    write_pat(h, 0, 1000, 3);
    OK(fs_flush(fs, h));
    write_pat(h, 1500, 100, 3);
    OK(fs_flush(fs, h));
    check_range(h, 0, 1000, 3);
    check_range(h, 1000, 500, -1);
    check_range(h, 1500, 100, 3);

    /* Truncated to zero, a file is inline again. */
    struct fs_attr in = {.size = 0}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    write_pat(f, 0, 10, 4);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).inl_len, 10);
    check_range(f, 0, 10, 4);

    reopen();
    check_range(f, 0, 10, 4);
    check_range(g, 0, 100, 2);
    check_range(g, 3 * (uint64_t)bs + 5, 10, 2);
    check_range(h, 0, 1000, 3);
    check_range(h, 1500, 100, 3);
}
END_TEST

START_TEST(block_boundaries)
{
    uint32_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 3 * (size_t)bs, 1);
    OK(fs_flush(fs, f));
    EXPECT(block_len(f, 0), bs);
    EXPECT(block_len(f, 2), bs);
    /* Straddling each boundary, buffered then committed. */
    write_pat(f, bs - 3, 6, 2);
    write_pat(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 0, bs - 3, 1);
    check_range(f, bs - 3, 6, 2);
    check_range(f, bs + 3, bs - 4, 1);
    check_range(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 2 * (uint64_t)bs + 1, bs - 1, 1);
    OK(fs_flush(fs, f));
    check_range(f, bs - 3, 6, 2);
    check_range(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 2 * (uint64_t)bs + 1, bs - 1, 1);
    /* Exactly one block, and one byte past the end of the file. */
    write_pat(f, bs, bs, 4);
    write_pat(f, 3 * (uint64_t)bs, 1, 5);
    ck_assert_uint_eq(size_of(f), 3 * (uint64_t)bs + 1);
    OK(fs_flush(fs, f));
    EXPECT(block_len(f, 3), 1);
    check_range(f, 0, bs - 3, 1);
    check_range(f, bs, bs, 4);
    check_range(f, 3 * (uint64_t)bs, 1, 5);
    /* A read across all blocks in one call. */
    unsigned char *b = malloc(4 * (size_t)bs);
    EXPECT(fs_read(fs, f, b, 4 * (size_t)bs, 0), 3 * (size_t)bs + 1);
    ck_assert_uint_eq(b[bs - 1], pat(bs - 1, 2));
    ck_assert_uint_eq(b[bs], pat(bs, 4));
    ck_assert_uint_eq(b[3 * (size_t)bs], pat(3 * (uint64_t)bs, 5));
    free(b);
}
END_TEST

/* Random writes, flushes, truncates, punches and reads against a model of
 * the file, with files of at most max bytes. */
static void run_model(const char *name, uint64_t MAX, uint64_t rng, int steps)
{
    uint32_t bs = fs_block_size(fs);
    unsigned char *model = calloc(1, MAX + 2 * 4096);
    unsigned char *buf = malloc(MAX + 2 * 4096);
    uint64_t size = 0;
    uint64_t f = mkfile(FS_ROOT_INO, name);
#define RND(n) ((rng = rng * 6364136223846793005ull + 1442695040888963407ull), (rng >> 33) % (n))
    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)RND(100);
        if (op < 70) {
            uint64_t off = RND(MAX - 1);
            size_t len = 1 + (size_t)RND(op < 10 ? 2 * bs : (MAX < 3000 ? 100 : 300));
            if (off + len > MAX)
                len = MAX - off;
            for (size_t i = 0; i < len; i++)
                buf[i] = model[off + i] = (unsigned char)(RND(255) + 1);
            EXPECT(fs_write(fs, f, buf, len, off, false), len);
            if (off + len > size)
                size = off + len;
        } else if (op < 82) {
            OK(fs_flush(fs, f));
        } else if (op < 88) {
            uint64_t ns = RND(op < 85 ? MAX / 8 + 1 : MAX);
            struct fs_attr in = {.size = ns}, out;
            OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
            ck_assert_uint_eq(out.size, ns);
            if (ns < size)
                memset(model + ns, 0, size - ns);
            size = ns;
        } else if (op < 90) {
            uint64_t off = RND(MAX);
            uint64_t len = 1 + RND(2 * bs);
            OK(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len));
            for (uint64_t i = off; i < off + len && i < size; i++)
                model[i] = 0;
        } else {
            uint64_t off = RND(MAX);
            size_t len = 1 + (size_t)RND(3 * bs);
            ssize_t want = off >= size ? 0 : (ssize_t)(size - off < len ? size - off : len);
            EXPECT(fs_read(fs, f, buf, len, off), want);
            for (ssize_t i = 0; i < want; i++)
                ck_assert_msg(buf[i] == model[off + (size_t)i],
                              "step %d: byte %" PRIu64 " is %u, model %u", step, off + (uint64_t)i,
                              buf[i], model[off + (size_t)i]);
        }
        ck_assert_msg(size_of(f) == size, "step %d: size %" PRIu64 ", model %" PRIu64, step,
                      size_of(f), size);
    }
#undef RND
    OK(fs_flush(fs, f));
    reopen();
    ck_assert_uint_eq(size_of(f), size);
    if (size) {
        EXPECT(fs_read(fs, f, buf, MAX + 4096, 0), size);
        for (uint64_t i = 0; i < size; i++)
            ck_assert_msg(buf[i] == model[i], "after remount: byte %" PRIu64 " is %u, model %u", i,
                          buf[i], model[i]);
    }
    free(model);
    free(buf);
}

START_TEST(random_against_model)
{
    ck_assert_uint_eq(fs_block_size(fs), 4096);
    run_model("wide", 6 * 4096 + 777, 0x1234567, 600);
    run_model("inline", FS_INLINE_MAX + 300, 0xabcdef, 600); /* around the inline limit */
    run_model("two", 2 * 4096 + 3, 0x5555, 400);
}
END_TEST

START_TEST(sparse_and_seek)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 10 * bs + 5, 1, 1);
    write_pat(f, 3 * bs, bs, 2);
    /* lseek commits the buffer itself. */
    EXPECT(fs_lseek(fs, f, 0, SEEK_DATA), 3 * bs);
    ck_assert_uint_eq(size_of(f), 10 * bs + 6);
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 2); /* holes are not stored */
    ck_assert_int_ge(block_len(f, 3), 0);
    ck_assert_int_ge(block_len(f, 10), 0);
    EXPECT(fs_lseek(fs, f, 3 * bs + 7, SEEK_DATA), 3 * bs + 7);
    EXPECT(fs_lseek(fs, f, 0, SEEK_HOLE), 0);
    EXPECT(fs_lseek(fs, f, bs + 1, SEEK_HOLE), bs + 1);
    EXPECT(fs_lseek(fs, f, 3 * bs, SEEK_HOLE), 4 * bs);
    EXPECT(fs_lseek(fs, f, 4 * bs, SEEK_DATA), 10 * bs);
    EXPECT(fs_lseek(fs, f, 10 * bs, SEEK_HOLE), 10 * bs + 6);
    EXPECT(fs_lseek(fs, f, 10 * bs + 6, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, f, 10 * bs + 6, SEEK_HOLE), -ENXIO);
    EXPECT(fs_lseek(fs, f, -1, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, f, 0, SEEK_SET), -EINVAL);
    check_range(f, 0, 3 * bs, -1);
    check_range(f, 3 * bs, bs, 2);
    check_range(f, 4 * bs, 6 * bs + 5, -1);
    check_range(f, 10 * bs + 5, 1, 1);

    /* Grown by truncate: the new tail is a hole. */
    struct fs_attr in = {.size = 20 * bs}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    EXPECT(fs_lseek(fs, f, 11 * bs, SEEK_DATA), -ENXIO);
    int64_t h = fs_lseek(fs, f, 10 * bs + 100, SEEK_HOLE);
    ck_assert_msg(h >= (int64_t)(10 * bs + 100) && h <= (int64_t)(11 * bs),
                  "SEEK_HOLE in the last data block = %" PRId64, h);
    check_range(f, 10 * bs + 6, 10 * bs - 6, -1);

    /* Inline files are all data. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_write(fs, g, "abc", 3, 0, false), 3);
    EXPECT(fs_lseek(fs, g, 0, SEEK_DATA), 0);
    EXPECT(fs_lseek(fs, g, 1, SEEK_DATA), 1);
    EXPECT(fs_lseek(fs, g, 0, SEEK_HOLE), 3);
    EXPECT(fs_lseek(fs, g, 3, SEEK_DATA), -ENXIO);
    /* An empty file has neither. */
    uint64_t e = mkfile(FS_ROOT_INO, "e");
    EXPECT(fs_lseek(fs, e, 0, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, e, 0, SEEK_HOLE), -ENXIO);
    reopen();
    EXPECT(fs_lseek(fs, f, 0, SEEK_DATA), 3 * bs);
    check_range(f, 10 * bs + 5, 1, 1);
}
END_TEST

START_TEST(truncate_down_and_up)
{
    uint64_t bs = fs_block_size(fs);
    struct fs_attr in = {0}, out;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 3 * bs + 100, 1);
    OK(fs_flush(fs, f));
    int64_t mtime = attr(f).mtime_ns;

    in.size = bs + 10;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(out.size, bs + 10);
    ck_assert_int_ge(out.mtime_ns, mtime);
    ck_assert_uint_eq(size_of(f), bs + 10);
    check_range(f, 0, bs + 10, 1);
    unsigned char buf[16];
    EXPECT(fs_read(fs, f, buf, sizeof buf, bs + 10), 0);
    EXPECT(block_len(f, 2), -ENOENT);
    EXPECT(block_len(f, 3), -ENOENT);

    /* Growing again must show zeros, not the bytes cut off before. */
    in.size = 3 * bs + 100;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    check_range(f, 0, bs + 10, 1);
    check_range(f, bs + 10, 2 * bs + 90, -1);
    reopen();
    check_range(f, bs + 10, 2 * bs + 90, -1);

    /* Buffered data beyond the cut is cut too. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 1000, 2);
    OK(fs_flush(fs, g));
    write_pat(g, 500, 200000, 3); /* buffered, not committed */
    in.size = 800;
    OK(fs_setattr(fs, g, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(size_of(g), 800);
    EXPECT(fs_read(fs, g, buf, sizeof buf, 800), 0);
    check_range(g, 0, 500, 2);
    check_range(g, 500, 300, 3);
    in.size = 200500;
    OK(fs_setattr(fs, g, &in, FS_SET_SIZE, &out));
    check_range(g, 500, 300, 3);
    check_range(g, 800, 199700, -1);
    OK(fs_flush(fs, g));
    reopen();
    check_range(g, 800, 199700, -1);

    /* Inline: down then up. */
    uint64_t h = mkfile(FS_ROOT_INO, "h");
    EXPECT(fs_write(fs, h, "abcdef", 6, 0, false), 6);
    in.size = 3;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    in.size = 6;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    char c[8];
    EXPECT(fs_read(fs, h, c, sizeof c, 0), 6);
    ck_assert(!memcmp(c, "abc\0\0\0", 6));
    /* An inline file grown past the inline limit by truncate, then written. */
    in.size = 5000;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    EXPECT(fs_write(fs, h, "X", 1, 0, false), 1);
    OK(fs_flush(fs, h));
    EXPECT(fs_write(fs, h, "Y", 1, 3000, false), 1);
    OK(fs_flush(fs, h));
    ck_assert_uint_eq(size_of(h), 5000);
    unsigned char *all = read_range(h, 0, 5000);
    ck_assert_uint_eq(all[0], 'X');
    ck_assert(!memcmp(all + 1, "bc", 2));
    for (int i = 3; i < 5000; i++)
        ck_assert_msg(all[i] == (i == 3000 ? 'Y' : 0), "byte %d is %u", i, all[i]);
    free(all);

    /* Only regular files have a size to set. */
    in.size = 0;
    EXPECT(fs_setattr(fs, FS_ROOT_INO, &in, FS_SET_SIZE, &out), -EISDIR);
    struct fs_attr l;
    OK(fs_symlink(fs, &ctx, "target", FS_ROOT_INO, "l", &l));
    EXPECT(fs_setattr(fs, l.ino, &in, FS_SET_SIZE, &out), -EINVAL);
    in.size = (uint64_t)INT64_MAX + 1;
    EXPECT(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), -EFBIG);
}
END_TEST

START_TEST(fallocate_modes)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 4 * bs, 1);
    OK(fs_flush(fs, f));
    int64_t mtime = attr(f).mtime_ns;

    /* Punch: whole blocks go, partial ones are zeroed, the size stays. */
    OK(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs / 2, 2 * bs));
    ck_assert_uint_eq(size_of(f), 4 * bs);
    ck_assert_int_ge(attr(f).mtime_ns, mtime);
    check_range(f, 0, bs / 2, 1);
    check_range(f, bs / 2, 2 * bs, -1);
    check_range(f, bs / 2 + 2 * bs, 4 * bs - (bs / 2 + 2 * bs), 1);
    EXPECT(block_len(f, 1), -ENOENT);
    int64_t h = fs_lseek(fs, f, 0, SEEK_HOLE);
    ck_assert_msg(h >= (int64_t)bs / 2 && h <= (int64_t)bs, "SEEK_HOLE after punch = %" PRId64, h);

    /* Zero a range inside, then one across the end (which grows the file). */
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE, 3 * bs + 10, 10));
    check_range(f, 3 * bs, 10, 1);
    check_range(f, 3 * bs + 10, 10, -1);
    check_range(f, 3 * bs + 20, 10, 1);
    ck_assert_uint_eq(size_of(f), 4 * bs);
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE, 4 * bs - 5, 100));
    ck_assert_uint_eq(size_of(f), 4 * bs + 95);
    check_range(f, 4 * bs - 10, 5, 1);
    check_range(f, 4 * bs - 5, 100, -1);
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 4 * bs + 50, 1000));
    ck_assert_uint_eq(size_of(f), 4 * bs + 95);

    /* Plain allocation grows the size; with KEEP_SIZE it does not. */
    OK(fs_fallocate(fs, f, 0, 5 * bs, 10));
    ck_assert_uint_eq(size_of(f), 5 * bs + 10);
    check_range(f, 4 * bs + 95, bs - 85, -1);
    OK(fs_fallocate(fs, f, 0, 0, 10)); /* inside: nothing changes */
    check_range(f, 0, 10, 1);
    OK(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 10 * bs, 10));
    ck_assert_uint_eq(size_of(f), 5 * bs + 10);

    /* Refused. */
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE, 0, 10), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_COLLAPSE_RANGE, 0, bs), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_INSERT_RANGE, 0, bs), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, 0, 0, 0), -EINVAL);
    EXPECT(fs_fallocate(fs, f, 0, UINT64_MAX - 5, 10), -EFBIG);
    EXPECT(fs_fallocate(fs, FS_ROOT_INO, 0, 0, 10), -EISDIR);

    /* Inline files. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_write(fs, g, "abcdefgh", 8, 0, false), 8);
    OK(fs_fallocate(fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
    char c[32];
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 8);
    ck_assert(!memcmp(c, "ab\0\0\0fgh", 8));
    OK(fs_fallocate(fs, g, FALLOC_FL_ZERO_RANGE, 6, 10));
    ck_assert_uint_eq(size_of(g), 16);
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 16);
    ck_assert(!memcmp(c, "ab\0\0\0f\0\0\0\0\0\0\0\0\0\0", 16));
    OK(fs_fallocate(fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 10));
    ck_assert_uint_eq(size_of(g), 16);

    /* Buffered data under a punched range is punched too. */
    uint64_t k = mkfile(FS_ROOT_INO, "k");
    write_pat(k, 0, 3 * bs, 4);
    OK(fs_fallocate(fs, k, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs, bs));
    check_range(k, 0, bs, 4);
    check_range(k, bs, bs, -1);
    check_range(k, 2 * bs, bs, 4);
    reopen();
    check_range(f, bs / 2, 2 * bs, -1);
    check_range(k, bs, bs, -1);
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 16);
    ck_assert(!memcmp(c, "ab\0\0\0f\0\0", 8));
}
END_TEST

START_TEST(copy_range)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t src = mkfile(FS_ROOT_INO, "src");
    uint64_t dst = mkfile(FS_ROOT_INO, "dst");
    write_pat(src, 0, 3 * bs, 1);
    OK(fs_flush(fs, src));
    write_pat(src, 3 * bs, 7, 1); /* still buffered */
    EXPECT(fs_copy_range(fs, src, 10, dst, 100, 2 * bs), 2 * bs);
    ck_assert_uint_eq(size_of(dst), 100 + 2 * bs);
    check_range(dst, 0, 100, -1);
    unsigned char *a = read_range(src, 10, 2 * bs);
    unsigned char *b = read_range(dst, 100, 2 * bs);
    ck_assert(!memcmp(a, b, 2 * bs));
    free(a);
    free(b);
    /* Past the end of the source: a short copy, then nothing. */
    EXPECT(fs_copy_range(fs, src, 3 * bs, dst, 0, 1000), 7);
    a = read_range(src, 3 * bs, 7);
    b = read_range(dst, 0, 7);
    ck_assert(!memcmp(a, b, 7));
    free(a);
    free(b);
    EXPECT(fs_copy_range(fs, src, 3 * bs + 7, dst, 0, 1000), 0);
    EXPECT(fs_copy_range(fs, src, 10 * bs, dst, 0, 1000), 0);
    EXPECT(fs_copy_range(fs, 999999, 0, dst, 0, 10), -ENOENT);
    /* Within one file, not overlapping. */
    EXPECT(fs_copy_range(fs, src, 0, src, 4 * bs, 100), 100);
    ck_assert_uint_eq(size_of(src), 4 * bs + 100);
    a = read_range(src, 0, 100);
    b = read_range(src, 4 * bs, 100);
    ck_assert(!memcmp(a, b, 100));
    free(a);
    free(b);
    reopen();
    ck_assert_uint_eq(size_of(dst), 100 + 2 * bs);
}
END_TEST

/* =================================================================================== */
/* xattrs and attributes                                                                */
/* =================================================================================== */

START_TEST(xattrs)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    char buf[512];
    int64_t ctime = attr(f).ctime_ns;
    OK(fs_setxattr(fs, f, "user.a", "one", 3, 0));
    ck_assert_int_ge(attr(f).ctime_ns, ctime);
    EXPECT(fs_getxattr(fs, f, "user.a", NULL, 0), 3);
    EXPECT(fs_getxattr(fs, f, "user.a", buf, sizeof buf), 3);
    ck_assert(!memcmp(buf, "one", 3));
    EXPECT(fs_getxattr(fs, f, "user.a", buf, 2), -ERANGE);
    EXPECT(fs_getxattr(fs, f, "user.missing", buf, sizeof buf), -ENODATA);
    EXPECT(fs_getxattr(fs, f, "user.missing", NULL, 0), -ENODATA);

    EXPECT(fs_setxattr(fs, f, "user.a", "two", 3, XATTR_CREATE), -EEXIST);
    EXPECT(fs_setxattr(fs, f, "user.b", "two", 3, XATTR_REPLACE), -ENODATA);
    OK(fs_setxattr(fs, f, "user.a", "three", 5, XATTR_REPLACE));
    OK(fs_setxattr(fs, f, "user.b", "", 0, XATTR_CREATE));
    EXPECT(fs_getxattr(fs, f, "user.b", buf, sizeof buf), 0);
    EXPECT(fs_getxattr(fs, f, "user.a", buf, sizeof buf), 5);
    ck_assert(!memcmp(buf, "three", 5));
    EXPECT(fs_setxattr(fs, f, "user.c", "x", 1, XATTR_CREATE | XATTR_REPLACE), -ENODATA);
    EXPECT(fs_setxattr(fs, f, "user.c", "x", 1, 0x100), -EINVAL);
    EXPECT(fs_setxattr(fs, f, "", "x", 1, 0), -EINVAL);
    char lname[1100];
    snprintf(lname, sizeof lname, "user.%s", long_name(251, 'n')); /* 256 bytes */
    EXPECT(fs_setxattr(fs, f, lname, "x", 1, 0), -ERANGE);
    lname[255] = 0; /* 255 bytes */
    OK(fs_setxattr(fs, f, lname, "x", 1, 0));
    OK(fs_removexattr(fs, f, lname));
    /* Namespaces Linux does not define, and ACLs that would not be enforced. */
    EXPECT(fs_setxattr(fs, f, "bogus.x", "x", 1, 0), -EOPNOTSUPP);
    EXPECT(fs_setxattr(fs, f, "system.posix_acl_access", "x", 1, 0), -EOPNOTSUPP);
    EXPECT(fs_getxattr(fs, f, "system.posix_acl_access", buf, sizeof buf), -EOPNOTSUPP);

    /* Sizes: 64 KiB is the limit. */
    char *big = malloc(1u << 20);
    memset(big, 'v', 1u << 20);
    OK(fs_setxattr(fs, f, "user.big", big, FS_XATTR_SIZE_MAX, 0));
    EXPECT(fs_getxattr(fs, f, "user.big", NULL, 0), FS_XATTR_SIZE_MAX);
    EXPECT(fs_setxattr(fs, f, "user.big", big, FS_XATTR_SIZE_MAX + 1, 0), -E2BIG);
    EXPECT(fs_setxattr(fs, f, "user.huge", big, 1u << 20, 0), -E2BIG);
    EXPECT(fs_getxattr(fs, f, "user.huge", NULL, 0), -ENODATA);
    memset(big, 0, FS_XATTR_SIZE_MAX);
    EXPECT(fs_getxattr(fs, f, "user.big", big, FS_XATTR_SIZE_MAX), FS_XATTR_SIZE_MAX);
    ck_assert_uint_eq((unsigned char)big[FS_XATTR_SIZE_MAX - 1], 'v');
    free(big);

    /* List: names, NUL-terminated, in any order. */
    size_t want = sizeof "user.a" + sizeof "user.b" + sizeof "user.big";
    EXPECT(fs_listxattr(fs, f, NULL, 0), want);
    EXPECT(fs_listxattr(fs, f, buf, want - 1), -ERANGE);
    memset(buf, 'Z', sizeof buf);
    EXPECT(fs_listxattr(fs, f, buf, want), want);
    int found = 0;
    for (char *p = buf; p < buf + want; p += strlen(p) + 1)
        found += !strcmp(p, "user.a") + !strcmp(p, "user.b") + !strcmp(p, "user.big");
    ck_assert_int_eq(found, 3);

    OK(fs_removexattr(fs, f, "user.a"));
    EXPECT(fs_removexattr(fs, f, "user.a"), -ENODATA);
    EXPECT(fs_getxattr(fs, f, "user.a", NULL, 0), -ENODATA);
    EXPECT(fs_listxattr(fs, f, NULL, 0), sizeof "user.b" + sizeof "user.big");

    /* On directories and symlinks too; on nothing: ENOENT. */
    OK(fs_setxattr(fs, FS_ROOT_INO, "user.d", "dir", 3, 0));
    struct fs_attr l;
    OK(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "l", &l));
    OK(fs_setxattr(fs, l.ino, "trusted.x", "lnk", 3, 0));
    EXPECT(fs_listxattr(fs, mkfile(FS_ROOT_INO, "bare"), buf, sizeof buf), 0);

    reopen();
    EXPECT(fs_getxattr(fs, FS_ROOT_INO, "user.d", buf, sizeof buf), 3);
    EXPECT(fs_getxattr(fs, l.ino, "trusted.x", buf, sizeof buf), 3);
    EXPECT(fs_getxattr(fs, f, "user.big", NULL, 0), FS_XATTR_SIZE_MAX);
    /* They go with the inode. */
    ck_assert_uint_eq(map_count(f, FS_MAP_XATTR), 2);
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    ck_assert(!obj_exists(f));
    ck_assert_uint_eq(map_count(f, FS_MAP_XATTR), 0);
}
END_TEST

/* An inode that does not exist has no xattrs to miss: ENOENT, not ENODATA. */
START_TEST(xattr_missing_inode)
{
    char buf[64];
    EXPECT(fs_setxattr(fs, 999999, "user.x", "v", 1, 0), -ENOENT);
    EXPECT(fs_listxattr(fs, 999999, buf, sizeof buf), -ENOENT);
    EXPECT(fs_removexattr(fs, 999999, "user.x"), -ENOENT);
    EXPECT(fs_getxattr(fs, 999999, "user.x", buf, sizeof buf), -ENOENT);
    EXPECT(fs_getxattr(fs, 999999, "user.x", NULL, 0), -ENOENT);
}
END_TEST

START_TEST(setattr_fields_and_times)
{
    struct fs_attr in, out;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    memset(&in, 0, sizeof in);
    in.atime_ns = 1000000000LL * 1000 + 5;
    in.mtime_ns = 1000000000LL * 2000 + 7;
    int64_t t0 = attr(f).ctime_ns;
    OK(fs_setattr(fs, f, &in, FS_SET_ATIME | FS_SET_MTIME, &out));
    ck_assert_int_eq(out.atime_ns, in.atime_ns);
    ck_assert_int_eq(out.mtime_ns, in.mtime_ns);
    ck_assert_int_ge(out.ctime_ns, t0);
    struct fs_attr a = attr(f);
    ck_assert_int_eq(a.atime_ns, in.atime_ns);
    ck_assert_int_eq(a.mtime_ns, in.mtime_ns);

    /* Only atime: mtime stays. */
    in.atime_ns = 1000000000LL * 3000;
    OK(fs_setattr(fs, f, &in, FS_SET_ATIME, &out));
    ck_assert_int_eq(out.atime_ns, in.atime_ns);
    ck_assert_int_eq(out.mtime_ns, 1000000000LL * 2000 + 7);

    /* Now: between before and after. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    OK(fs_setattr(fs, f, &in, FS_SET_ATIME_NOW | FS_SET_MTIME_NOW, &out));
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    ck_assert_int_ge(out.atime_ns, before);
    ck_assert_int_le(out.atime_ns, after);
    ck_assert_int_ge(out.mtime_ns, before);
    ck_assert_int_le(out.mtime_ns, after);
    ck_assert_int_ge(out.ctime_ns, before);

    /* An explicit ctime. */
    in.ctime_ns = 1000000000LL * 4000 + 9;
    OK(fs_setattr(fs, f, &in, FS_SET_CTIME, &out));
    ck_assert_int_eq(out.ctime_ns, in.ctime_ns);
    ck_assert_int_eq(attr(f).ctime_ns, in.ctime_ns);

    /* Mode keeps the file type; owner and group. */
    in.mode = S_IFDIR | 04751;
    in.uid = ctx.uid + 1;
    in.gid = ctx.gid + 2;
    OK(fs_setattr(fs, f, &in, FS_SET_MODE | FS_SET_UID | FS_SET_GID, &out));
    ck_assert_uint_eq(out.mode, S_IFREG | 04751);
    ck_assert_uint_eq(out.uid, ctx.uid + 1);
    ck_assert_uint_eq(out.gid, ctx.gid + 2);

    /* Setting times while writes are buffered: the explicit time wins over
     * the buffer's, and later writes move mtime again. */
    write_pat(f, 0, 100, 1);
    in.mtime_ns = 1000000000LL * 5000;
    OK(fs_setattr(fs, f, &in, FS_SET_MTIME, &out));
    ck_assert_int_eq(out.mtime_ns, in.mtime_ns);
    ck_assert_uint_eq(out.size, 100);
    OK(fs_flush(fs, f));
    ck_assert_int_eq(attr(f).mtime_ns, in.mtime_ns);
    clock_gettime(CLOCK_REALTIME, &ts);
    before = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    write_pat(f, 0, 10, 2);
    ck_assert_int_ge(attr(f).mtime_ns, before);
    OK(fs_flush(fs, f));
    ck_assert_int_ge(attr(f).mtime_ns, before);
    ck_assert_int_ge(attr(f).ctime_ns, before);

    /* Persisted with nanoseconds. */
    in.atime_ns = 1234567890123456789LL;
    in.mtime_ns = -1000000000LL * 60; /* before the epoch */
    OK(fs_setattr(fs, f, &in, FS_SET_ATIME | FS_SET_MTIME, &out));
    reopen();
    a = attr(f);
    ck_assert_int_eq(a.atime_ns, 1234567890123456789LL);
    ck_assert_int_eq(a.mtime_ns, -1000000000LL * 60);
    ck_assert_uint_eq(a.mode, S_IFREG | 04751);
    ck_assert_uint_eq(a.uid, ctx.uid + 1);
    /* Directories take times too; missing inodes do not. */
    OK(fs_setattr(fs, FS_ROOT_INO, &in, FS_SET_MTIME, &out));
    ck_assert_int_eq(out.mtime_ns, in.mtime_ns);
    EXPECT(fs_setattr(fs, 999999, &in, FS_SET_MTIME, &out), -ENOENT);
    EXPECT(fs_getattr(fs, 999999, &out), -ENOENT);
}
END_TEST


/* Owner, mode and times set on an open file wait in its write buffer, like
 * its data (tar sets three of them on every file it writes), and commit
 * with it; what cannot wait (a size, a directory) commits at once. */
START_TEST(setattr_of_open_file_buffered)
{
    bool keep;
    struct fs_attr in = {0}, out;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_open_file(fs, f, O_RDWR, &keep));
    write_pat(f, 0, 3000, 1);
    in.mode = 0600;
    in.uid = ctx.uid + 7;
    in.mtime_ns = 1000000000LL * 1234;
    OK(fs_setattr(fs, f, &in, FS_SET_MODE | FS_SET_UID | FS_SET_MTIME, &out));
    ck_assert_uint_eq(out.mode, S_IFREG | 0600);
    ck_assert_uint_eq(out.uid, ctx.uid + 7);
    ck_assert_int_eq(out.mtime_ns, in.mtime_ns);
    ck_assert_uint_eq(out.size, 3000);
    struct fs_attr a = attr(f);
    ck_assert_uint_eq(a.mode, S_IFREG | 0600);
    ck_assert_uint_eq(a.uid, ctx.uid + 7);
    ck_assert_int_eq(a.mtime_ns, in.mtime_ns);
    /* Nothing is in the store yet. */
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.mode, S_IFREG | 0644);
    ck_assert_uint_eq(r.uid, ctx.uid);
    ck_assert_uint_eq(r.size, 0);

    /* A truncate cannot wait: it commits the buffer, then cuts. */
    in.size = 1000;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    r = raw_rec(f);
    ck_assert_uint_eq(r.mode, S_IFREG | 0600);
    ck_assert_uint_eq(r.uid, ctx.uid + 7);
    ck_assert_uint_eq(r.size, 1000);
    check_range(f, 0, 1000, 1);

    /* With no write buffered (nothing for the writer's close to commit),
     * attributes go straight to the store. */
    in.mode = 0640;
    in.atime_ns = 1000000000LL * 99;
    OK(fs_setattr(fs, f, &in, FS_SET_MODE | FS_SET_ATIME, &out));
    ck_assert_uint_eq(out.mode, S_IFREG | 0640);
    ck_assert_int_eq(out.atime_ns, in.atime_ns);
    ck_assert_uint_eq(out.size, 1000);
    r = raw_rec(f);
    ck_assert_uint_eq(r.mode, S_IFREG | 0640);
    ck_assert_uint_eq(r.size, 1000);
    check_range(f, 0, 1000, 1);

    /* Behind a write: buffered, committed by flush, data kept. */
    write_pat(f, 0, 10, 1);
    in.mode = 0604;
    OK(fs_setattr(fs, f, &in, FS_SET_MODE, &out));
    ck_assert_uint_eq(raw_rec(f).mode, S_IFREG | 0640);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).mode, S_IFREG | 0604);
    check_range(f, 0, 1000, 1);
    a = attr(f);
    ck_assert_int_eq(a.atime_ns, in.atime_ns);
    ck_assert_int_ge(a.ctime_ns, out.ctime_ns);

    /* A change committed meanwhile (as by another daemon) is not undone by
     * a buffered one it came after. */
    write_pat(f, 0, 10, 1);
    in.uid = ctx.uid + 3;
    OK(fs_setattr(fs, f, &in, FS_SET_UID, &out));
    ck_assert_uint_eq(out.uid, ctx.uid + 3);
    struct fs *other = NULL;
    struct fs_options oo;
    fs_options_init(&oo);
    oo.store.sync = GHOST_SYNC_NONE;
    OK(fs_open(path, &oo, &other));
    struct fs_attr o2 = {.uid = ctx.uid + 4}, oout;
    OK(fs_setattr(other, f, &o2, FS_SET_UID, &oout));
    fs_close(other);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).uid, ctx.uid + 4);
    /* ...while one set here after it wins. */
    write_pat(f, 0, 10, 1);
    in.uid = ctx.uid + 5;
    OK(fs_setattr(fs, f, &in, FS_SET_UID, &out));
    OK(fs_open(path, &oo, &other));
    o2.uid = ctx.uid + 6;
    OK(fs_setattr(other, f, &o2, FS_SET_UID, &oout));
    fs_close(other);
    in.uid = ctx.uid + 8;
    OK(fs_setattr(fs, f, &in, FS_SET_UID, &out));
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).uid, ctx.uid + 8);

    /* A write after an explicit mtime moves it again; release commits. */
    in.mtime_ns = 1000000000LL * 5;
    OK(fs_setattr(fs, f, &in, FS_SET_MTIME, &out));
    write_pat(f, 1000, 10, 2);
    ck_assert_int_gt(attr(f).mtime_ns, in.mtime_ns);
    OK(fs_release(fs, f));
    r = raw_rec(f);
    ck_assert_int_gt(r.mtime, in.mtime_ns);
    ck_assert_uint_eq(r.size, 1010);

    /* Closed: straight to the store. */
    in.mode = 0606;
    OK(fs_setattr(fs, f, &in, FS_SET_MODE, &out));
    ck_assert_uint_eq(raw_rec(f).mode, S_IFREG | 0606);

    /* An open directory is not buffered. */
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    OK(fs_open_file(fs, d, O_RDONLY, &keep));
    in.mode = 0700;
    OK(fs_setattr(fs, d, &in, FS_SET_MODE, &out));
    ck_assert_uint_eq(raw_rec(d).mode, S_IFDIR | 0700);
    OK(fs_release(fs, d));

    /* Survives a reopen (close_fs commits what is buffered). */
    OK(fs_open_file(fs, f, O_RDWR, &keep));
    write_pat(f, 0, 1000, 1);
    in.uid = ctx.uid + 9;
    OK(fs_setattr(fs, f, &in, FS_SET_UID, &out));
    reopen();
    ck_assert_uint_eq(attr(f).uid, ctx.uid + 9);
    check_range(f, 0, 1000, 1);
}
END_TEST

/* =================================================================================== */
/* unlinked while open, orphans                                                         */
/* =================================================================================== */

START_TEST(unlinked_but_open)
{
    bool keep;
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_open_file(fs, f, O_RDWR, &keep));
    fs_forget(fs, f, 1); /* only the open file holds it now */
    write_pat(f, 0, 2 * bs + 10, 1);
    OK(fs_flush(fs, f));
    OK(fs_setxattr(fs, f, "user.x", "v", 1, 0));
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    EXPECT(ino_of(FS_ROOT_INO, "f"), -ENOENT);
    ck_assert(obj_exists(f));
    ck_assert(orphan_listed_in(fs_store(fs), f));
    ck_assert_uint_eq(nlink_of(f), 0);
    /* Still readable and writable. */
    check_range(f, 0, 2 * bs + 10, 1);
    write_pat(f, bs, 3 * bs, 2);
    check_range(f, 0, bs, 1);
    check_range(f, bs, 3 * bs, 2);
    OK(fs_flush(fs, f));
    check_range(f, bs, 3 * bs, 2);
    ck_assert_uint_eq(size_of(f), 4 * bs);
    write_pat(f, 0, 10, 3); /* left in the buffer for release */
    OK(fs_release(fs, f));
    ck_assert(!obj_exists(f));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    ck_assert_uint_eq(map_count(f, FS_MAP_XATTR), 0);
    ck_assert_uint_eq(map_count(f, FS_MAP_BACKREF), 0);
    ck_assert(!orphan_listed_in(fs_store(fs), f));
    EXPECT(fs_getattr(fs, f, &(struct fs_attr){0}), -ENOENT);
}
END_TEST

/* As the kernel does it: create (a lookup and an open), unlink, release,
 * forget. The inode lives until the last of them. */
START_TEST(unlinked_open_and_looked_up)
{
    struct fs_attr a;
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0644, O_RDWR, &a));
    uint64_t f = a.ino;
    write_pat(f, 0, 5000, 1);
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    check_range(f, 0, 5000, 1);
    OK(fs_release(fs, f));
    ck_assert(obj_exists(f)); /* the kernel still knows it */
    check_range(f, 0, 5000, 1);
    fs_forget(fs, f, 1);
    ck_assert(!obj_exists(f));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    ck_assert(!orphan_listed_in(fs_store(fs), f));

    /* Two opens: the first release keeps it. */
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "g", 0644, O_RDWR, &a));
    uint64_t g = a.ino;
    bool keep;
    OK(fs_open_file(fs, g, O_RDONLY, &keep));
    fs_forget(fs, g, 1);
    OK(fs_unlink(fs, FS_ROOT_INO, "g"));
    OK(fs_release(fs, g));
    ck_assert(obj_exists(g));
    OK(fs_release(fs, g));
    ck_assert(!obj_exists(g));

    /* A victim of rename that is open lives on until released. */
    uint64_t v = mkfile(FS_ROOT_INO, "v");
    uint64_t w = mkfile(FS_ROOT_INO, "w");
    write_pat(v, 0, 3000, 4);
    OK(fs_open_file(fs, v, O_RDONLY, &keep));
    fs_forget(fs, v, 1);
    OK(fs_rename(fs, FS_ROOT_INO, "w", FS_ROOT_INO, "v", 0));
    EXPECT(ino_of(FS_ROOT_INO, "v"), w);
    check_range(v, 0, 3000, 4);
    ck_assert(obj_exists(v));
    OK(fs_release(fs, v));
    ck_assert(!obj_exists(v));

    /* Linked again while open: it is not reclaimed. */
    uint64_t x = mkfile(FS_ROOT_INO, "x");
    OK(fs_open_file(fs, x, O_RDONLY, &keep));
    fs_forget(fs, x, 1);
    OK(fs_unlink(fs, FS_ROOT_INO, "x"));
    int e = fs_link(fs, x, FS_ROOT_INO, "x-again", &a);
    if (e == 0) { /* Linux refuses linkat on an unlinked file, but if it is allowed... */
        fs_forget(fs, x, 1);
        OK(fs_release(fs, x));
        ck_assert(obj_exists(x));
        EXPECT(ino_of(FS_ROOT_INO, "x-again"), x);
    } else {
        EXPECT(e, -ENOENT);
        OK(fs_release(fs, x));
        ck_assert(!obj_exists(x));
    }
    fsck();
}
END_TEST

/* Unlinked while open and never released: fs_close reclaims it. */
START_TEST(unlinked_open_at_close)
{
    bool keep;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 300000, 1);
    OK(fs_open_file(fs, f, O_RDWR, &keep));
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    close_fs();
    open_fs();
    ck_assert(!obj_exists(f));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    ck_assert(!orphan_listed_in(fs_store(fs), f));
}
END_TEST

/* A large unlinked file is reclaimed in several transactions. */
START_TEST(reclaim_many_blocks)
{
    uint64_t bs = fs_block_size(fs);
    ck_assert_uint_eq(bs, 4096);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    for (uint64_t i = 0; i < 5000; i++)
        EXPECT(fs_write(fs, f, "x", 1, i * bs, false), 1);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 5000);
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "user.%d", i);
        OK(fs_setxattr(fs, f, name, "v", 1, 0));
    }
    fs_forget(fs, f, 1);
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    ck_assert(!obj_exists(f));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    ck_assert_uint_eq(map_count(f, FS_MAP_XATTR), 0);
    ck_assert(!orphan_listed_in(fs_store(fs), f));
}
END_TEST

struct crash_result {
    volatile uint64_t ino;
    volatile int ready;
    volatile int err;
};

/* In a child: open the filesystem, create a file with data, keep it open,
 * unlink it, and then die in the way asked (0: _exit, 1: SIGKILL, 2: wait
 * to be killed). Never returns. */
static void crash_child(const char *p, struct crash_result *res, int how)
{
    struct fs_options o;
    struct fs *f = NULL;
    struct fs_attr a;
    struct fs_ctx c = {(uint32_t)getuid(), (uint32_t)getgid(), 022};
    fs_options_init(&o);
    int e = fs_open(p, &o, &f);
    if (!e)
        e = fs_create(f, &c, FS_ROOT_INO, "doomed", 0644, O_RDWR, &a);
    if (!e) {
        unsigned char buf[100000];
        fill(buf, 0, sizeof buf, 9);
        ssize_t n = fs_write(f, a.ino, buf, sizeof buf, 0, false);
        e = n < 0 ? (int)n : fs_flush(f, a.ino);
    }
    if (!e)
        e = fs_setxattr(f, a.ino, "user.k", "v", 1, 0);
    if (!e)
        e = fs_unlink(f, FS_ROOT_INO, "doomed");
    if (!e)
        e = ghost_sync(fs_store(f));
    res->err = e;
    res->ino = e ? 0 : a.ino;
    __sync_synchronize();
    res->ready = 1;
    if (e)
        child_exit(1);
    if (how == 1)
        raise(SIGKILL);
    if (how == 2)
        for (;;)
            pause();
    child_exit(0);
}

static void check_orphan_reclaimed_after_crash(int how)
{
    struct crash_result *res = shared_alloc(sizeof *res);
    close_fs(); /* the child must be the only user of the store */
    pid_t pid = child_spawn();
    if (pid == 0)
        crash_child(path, res, how);
    int code = child_wait(pid, 30);
    ck_assert_msg(res->ready && res->err == 0, "child failed: %d (%s)", res->err, test_ename(res->err));
    ck_assert_int_eq(code, how == 1 ? -SIGKILL : 0);
    uint64_t ino = res->ino;
    /* The store holds the orphan, listed as such. */
    struct ghost *g;
    OK(ghost_open(path, NULL, &g));
    ck_assert(obj_exists_in(g, ino));
    ck_assert(orphan_listed_in(g, ino));
    ck_assert_uint_gt(map_count_in(g, ino, FS_MAP_DATA), 0);
    ghost_close(g);
    /* Mounting reclaims it. */
    open_fs();
    ck_assert_msg(!obj_exists(ino), "orphan %" PRIu64 " left by a dead process survived fs_open",
                  ino);
    ck_assert(!orphan_listed_in(fs_store(fs), ino));
    ck_assert_uint_eq(map_count(ino, FS_MAP_DATA), 0);
    ck_assert_uint_eq(map_count(ino, FS_MAP_XATTR), 0);
    EXPECT(ino_of(FS_ROOT_INO, "doomed"), -ENOENT);
    fsck();
    shared_free(res, sizeof *res);
}

START_TEST(crash_orphan_exit)
{
    check_orphan_reclaimed_after_crash(0);
}
END_TEST

START_TEST(crash_orphan_kill)
{
    check_orphan_reclaimed_after_crash(1);
}
END_TEST

/* An orphan whose process is alive is in use: another mount leaves it. */
START_TEST(orphan_of_live_process_kept)
{
    struct crash_result *res = shared_alloc(sizeof *res);
    close_fs();
    pid_t pid = child_spawn();
    if (pid == 0)
        crash_child(path, res, 2);
    double end = proc_now() + 30;
    while (!res->ready && proc_now() < end)
        proc_sleep_ms(10);
    ck_assert_msg(res->ready && res->err == 0, "child failed: %d", res->err);
    uint64_t ino = res->ino;
    open_fs();
    ck_assert_msg(obj_exists(ino), "fs_open reclaimed an orphan its live owner still holds");
    ck_assert(orphan_listed_in(fs_store(fs), ino));
    close_fs();
    ck_assert_int_eq(child_kill(pid), -SIGKILL);
    open_fs();
    ck_assert(!obj_exists(ino));
    ck_assert(!orphan_listed_in(fs_store(fs), ino));
    shared_free(res, sizeof *res);
}
END_TEST

/* =================================================================================== */
/* back-pressure                                                                        */
/* =================================================================================== */

START_TEST(write_buffer_backpressure)
{
    enum { CHUNK = 128 << 10 };
    const uint64_t total = (uint64_t)64 << 20;
    uint64_t f = mkfile(FS_ROOT_INO, "big");
    unsigned char *buf = malloc(CHUNK);
    uint64_t rss0 = test_rss(), anon0 = proc_status_bytes("RssAnon");
    uint64_t peak = rss0, peak_anon = anon0;
    for (uint64_t off = 0; off < total; off += CHUNK) {
        fill(buf, off, CHUNK, 6);
        EXPECT(fs_write(fs, f, buf, CHUNK, off, false), CHUNK);
        if ((off / CHUNK) % 8 == 0) {
            uint64_t r = test_rss(), an = proc_status_bytes("RssAnon");
            peak = r > peak ? r : peak;
            peak_anon = an > peak_anon ? an : peak_anon;
        }
    }
    /* Most of it was committed by back-pressure, without any flush. */
    uint64_t committed = raw_rec(f).size;
    ck_assert_msg(committed >= total - ((uint64_t)2 << 20),
                  "only %" PRIu64 " of %" PRIu64 " bytes committed without a flush", committed,
                  total);
    fprintf(stderr,
            "backpressure: RSS %" PRIu64 " -> peak %" PRIu64 " MiB, anon %" PRIu64 " -> %" PRIu64
            " MiB\n",
            rss0 >> 20, peak >> 20, anon0 >> 20, peak_anon >> 20);
    if (!UNDER_ASAN) {
        ck_assert_msg(peak < ((uint64_t)100 << 20),
                      "RSS reached %" PRIu64 " MiB writing 64 MiB with a 2 MiB buffer", peak >> 20);
        ck_assert_msg(peak_anon - anon0 < ((uint64_t)16 << 20),
                      "anonymous memory grew by %" PRIu64 " MiB", (peak_anon - anon0) >> 20);
    }
    ck_assert_uint_eq(size_of(f), total);
    for (uint64_t off = 0; off < total; off += CHUNK) {
        EXPECT(fs_read(fs, f, buf, CHUNK, off), CHUNK);
        for (size_t i = 0; i < CHUNK; i += 997)
            ck_assert_msg(buf[i] == pat(off + i, 6), "byte %" PRIu64 " differs", off + i);
    }
    free(buf);
}
END_TEST

/* =================================================================================== */


/* A buffer that reaches its share is committed by the flusher while writes
 * go on into a fresh one: reads see the newer writes over the older buffer
 * over what is stored, whatever the flusher has done yet, and a flush, a
 * truncate or a reopen leaves exactly what was written last. */
START_TEST(write_buffer_handoff)
{
    enum { SHARE = 512 << 10, ROUNDS = 40 };
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    unsigned char *buf = malloc(SHARE);
    ck_assert_ptr_nonnull(buf);
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t base = (uint64_t)(r % 5) * SHARE;
        uint64_t at = base + 4096 * (r + 1) + r; /* inside the chunk, unaligned */
        fill(buf, base, SHARE, r);
        EXPECT(fs_write(fs, f, buf, SHARE, base, false), SHARE); /* hands it off */
        write_pat(f, at, 3000, 1000 + r);                        /* into the new buffer */
        check_range(f, base, at - base, (int)r);
        check_range(f, at, 3000, (int)(1000 + r));
        check_range(f, at + 3000, base + SHARE - at - 3000, (int)r);
        if (r % 7 == 3)
            OK(fs_flush(fs, f));
    }
    /* The last round of each chunk is what stays: round r wrote chunk r % 5. */
    struct fs_attr in = {0}, out;
    in.size = 5 * (uint64_t)SHARE - 10;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out)); /* commits both buffers, then cuts */
    ck_assert_uint_eq(raw_rec(f).size, in.size);
    reopen();
    for (unsigned r = ROUNDS - 5; r < ROUNDS; r++) {
        uint64_t base = (uint64_t)(r % 5) * SHARE;
        uint64_t at = base + 4096 * (r + 1) + r;
        uint64_t end = base + SHARE < in.size ? base + SHARE : in.size;
        check_range(f, base, at - base, (int)r);
        check_range(f, at, 3000, (int)(1000 + r));
        check_range(f, at + 3000, end - at - 3000, (int)r);
    }
    ck_assert_uint_eq(size_of(f), in.size);
    free(buf);
}
END_TEST

/* Close is a transaction, and a conflict rebases: two connections (as two
 * daemons would), each in its own thread, buffer writes to different bytes
 * of the same blocks of one file and commit them at the same time, round
 * after round. A commit that loses the race conflicts (the block and the
 * inode changed under it) and is run again on the newer version: at the end
 * every byte either writer wrote is there. */
struct racer {
    struct fs *fs;
    uint64_t ino;
    char mark;
    size_t at; /* this writer's bytes: [at + 200 r, at + 200 r + 100) */
    int rounds;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char buf[100];
    memset(buf, r->mark, sizeof buf);
    for (int i = 0; i < r->rounds; i++) {
        if (fs_write(r->fs, r->ino, buf, sizeof buf, r->at + 200 * (size_t)i, false) != 100 ||
            fs_flush(r->fs, r->ino) != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(conflict_rebases_buffered_writes)
{
    enum { ROUNDS = 300 };
    uint64_t f = mkfile(FS_ROOT_INO, "shared");
    bool keep;
    static char base[200 * ROUNDS + 100], got[sizeof base];
    memset(base, '.', sizeof base);
    ck_assert_int_eq(fs_write(fs, f, base, sizeof base, 0, false), (ssize_t)sizeof base);
    OK(fs_flush(fs, f));

    struct fs_options o;
    struct fs *other = NULL;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.commit_interval_ms = 3600 * 1000;
    OK(fs_open(path, &o, &other));
    OK(fs_open_file(other, f, O_RDWR, &keep));

    struct racer ra = {fs, f, 'A', 0, ROUNDS}, rb = {other, f, 'B', 100, ROUNDS};
    pthread_t ta, tb;
    void *ea, *eb;
    pthread_create(&ta, NULL, race, &ra);
    pthread_create(&tb, NULL, race, &rb);
    pthread_join(ta, &ea);
    pthread_join(tb, &eb);
    ck_assert_ptr_null(ea);
    ck_assert_ptr_null(eb);
    struct ghost_stats sa, sb;
    ghost_stats(fs_store(fs), &sa);
    ghost_stats(fs_store(other), &sb);
    printf("rebase race: %llu + %llu conflicts in %d rounds\n",
           (unsigned long long)sa.conflicts, (unsigned long long)sb.conflicts, ROUNDS);

    OK(fs_release(other, f));
    fs_close(other);
    reopen();
    ck_assert_uint_eq(size_of(f), sizeof base);
    ck_assert_int_eq(fs_read(fs, f, got, sizeof got, 0), (ssize_t)sizeof got);
    for (size_t i = 0; i < sizeof got; i++) {
        char want = i % 200 < 100 ? 'A' : 'B';
        if (i >= 200 * ROUNDS)
            want = '.';
        if (got[i] != want)
            ck_abort_msg("byte %zu is '%c', want '%c'", i, got[i], want);
    }
}
END_TEST

static Suite *fs_suite(void)
{
    Suite *s = suite_create("fs");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, root_after_mkfs);
    tcase_add_test(tc, bad_block_size);
    tcase_add_test(tc, open_without_superblock);
    tcase_add_test(tc, statfs_sane);
    tcase_add_test(tc, create_and_lookup);
    tcase_add_test(tc, name_limits);
    tcase_add_test(tc, dot_names);
    tcase_add_test(tc, mknod_types);
    tcase_add_test(tc, symlink_readlink);
    tcase_add_test(tc, readlink_size_zero);
    tcase_add_test(tc, hard_links);
    tcase_add_test(tc, unlink_rmdir_errors);
    tcase_add_test(tc, lookup_counts);
    tcase_add_test(tc, nlink_dirs);
    tcase_add_test(tc, rename_files);
    tcase_add_test(tc, rename_dirs);
    tcase_add_test(tc, rename_noreplace);
    tcase_add_test(tc, rename_exchange);
    tcase_add_test(tc, setgid_inheritance);
    tcase_add_test(tc, dir_times);
    tcase_add_test(tc, open_keep_cache);
    tcase_add_test(tc, readdir_lists_everything);
    tcase_add_test(tc, readdir_resume_with_changes);
    tcase_add_test(tc, readdirplus_counts_lookups);
    tcase_add_test(tc, write_read_through_buffer);
    tcase_add_test(tc, empty_write);
    tcase_add_test(tc, empty_write_past_eof);
    tcase_add_test(tc, inline_to_blocks);
    tcase_add_test(tc, read_pieces_match_read);
    tcase_add_test(tc, block_boundaries);
    tcase_add_test(tc, sparse_and_seek);
    tcase_add_test(tc, truncate_down_and_up);
    tcase_add_test(tc, fallocate_modes);
    tcase_add_test(tc, copy_range);
    tcase_add_test(tc, xattrs);
    tcase_add_test(tc, setattr_of_open_file_buffered);
    tcase_add_test(tc, xattr_missing_inode);
    tcase_add_test(tc, setattr_fields_and_times);
    tcase_add_test(tc, unlinked_but_open);
    tcase_add_test(tc, unlinked_open_and_looked_up);
    tcase_add_test(tc, unlinked_open_at_close);
    tcase_add_test(tc, crash_orphan_exit);
    tcase_add_test(tc, crash_orphan_kill);
    tcase_add_test(tc, orphan_of_live_process_kept);
    tcase_add_test(tc, conflict_rebases_buffered_writes);
    suite_add_tcase(s, tc);

    TCase *small = tcase_create("small-blocks");
    tcase_add_checked_fixture(small, setup_small, teardown);
    tcase_set_timeout(small, 120);
    tcase_add_test(small, random_against_model);
    tcase_add_test(small, reclaim_many_blocks);
    suite_add_tcase(s, small);

    TCase *bp = tcase_create("backpressure");
    tcase_add_checked_fixture(bp, setup_backpressure, teardown);
    tcase_set_timeout(bp, 300);
    tcase_add_test(bp, write_buffer_backpressure);
    tcase_add_test(bp, write_buffer_handoff);
    suite_add_tcase(s, bp);
    return s;
}

TEST_MAIN(fs_suite)
