/*
 * test_fs_ctl.c - the control tree (/.ghostfs) and snapshot views in the
 * POSIX model of fs/, called directly, without a mount: taking and
 * deleting snapshots by mkdir and rmdir in snapshots/, the view of a
 * snapshot (lookup, getattr, readdir with and without attributes,
 * readlink, read of inline, block and sparse files, xattrs) staying as it
 * was while the live tree changes, inode numbers of views apart from the
 * live tree's and from each other, file handle generations apart between
 * snapshots, the errno of every change refused, a
 * real entry named .ghostfs shadowed in the root (and shown by a mount of a
 * snapshot alone), deleting a snapshot mounted alone refused, and a slot
 * kept by the snapshot a lookup reads while other lookups want it; ".." at
 * the top of the control tree and of a snapshot.
 *
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "ctl.h" /* the slot table: the test makes it one slot */
#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "util.h"

#define BIT63 (UINT64_C(1) << 63)

/* The inode of /.ghostfs/snapshots (looked up, not assumed). */
static uint64_t snaps_dir(void)
{
    struct fs_attr a;
    ck_assert(fs_ctl_owns_entry(fs, FS_ROOT_INO, FS_CTL_NAME));
    OK(fs_ctl_lookup(fs, FS_ROOT_INO, FS_CTL_NAME, &a));
    ck_assert(S_ISDIR(a.mode));
    ck_assert(fs_ctl_owns(fs, a.ino));
    uint64_t ctl = a.ino;
    OK(fs_ctl_lookup(fs, ctl, "snapshots", &a));
    return a.ino;
}

/* Look name up in a view's directory, counting no lookup: the inode. */
static uint64_t vlook(uint64_t dir, const char *name)
{
    struct fs_attr a;
    OK(fs_ctl_lookup(fs, dir, name, &a));
    fs_ctl_forget(fs, a.ino, 1);
    return a.ino;
}

static int collect_ctl(uint64_t dir, bool plus, struct listing *l)
{
    memset(l, 0, sizeof *l);
    int e = fs_ctl_readdir(fs, dir, 0, plus, collect, l);
    if (plus) /* each entry taken counted a lookup */
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->e[i].name, ".") && strcmp(l->e[i].name, ".."))
                fs_ctl_forget(fs, l->e[i].ino, 1);
    return e;
}

static size_t vread(uint64_t ino, void *buf, size_t size, uint64_t off)
{
    ssize_t n = fs_ctl_read(fs, ino, NULL, buf, size, off);
    ck_assert_int_ge(n, 0);
    return (size_t)n;
}

START_TEST(take_browse_delete)
{
    struct fs_attr a;
    struct listing l;
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    write_pat(f, 0, 200000, 1); /* blocks, buffered: the snapshot commits them first */
    uint64_t small = mkfile(d, "small");
    EXPECT(fs_write(fs, small, "tiny", 4, 0, false), 4);
    OK(fs_flush(fs, small));
    OK(fs_symlink(fs, &ctx, "d/small", FS_ROOT_INO, "sym", &a));
    OK(fs_setxattr(fs, small, "user.k", "v1", 2, 0));
    uint64_t sparse = mkfile(FS_ROOT_INO, "sparse");
    struct fs_attr set = {.size = 1 << 20};
    OK(fs_setattr(fs, sparse, &set, FS_SET_SIZE, &a));
    EXPECT(fs_write(fs, sparse, "z", 1, 700000, false), 1);
    OK(fs_flush(fs, sparse));

    uint64_t sd = snaps_dir();
    OK(fs_ctl_mkdir(fs, sd, "s1", &a));
    uint64_t root1 = a.ino;
    ck_assert(root1 & BIT63);
    ck_assert(S_ISDIR(a.mode));
    ck_assert_uint_ne(root1, sd);

    /* The live tree changes after. */
    write_pat(f, 0, 300000, 2);
    OK(fs_flush(fs, f));
    OK(fs_setxattr(fs, small, "user.k", "v2", 2, 0));
    OK(fs_unlink(fs, d, "small"));
    mkfile(d, "later");

    /* The view is as it was. */
    uint64_t vd = vlook(root1, "d");
    uint64_t vf = vlook(vd, "f");
    ck_assert(vf & BIT63);
    ck_assert_uint_ne(vf, f);
    OK(fs_ctl_getattr(fs, vf, &a));
    ck_assert_uint_eq(a.size, 200000);
    ck_assert_uint_eq(a.ino, vf);
    unsigned char *buf = malloc(200000), *want = malloc(200000);
    ck_assert_uint_eq(vread(vf, buf, 200000, 0), 200000);
    fill(want, 0, 200000, 1);
    ck_assert(!memcmp(buf, want, 200000));
    ck_assert_uint_eq(vread(vf, buf, 1000, 199500), 500); /* clipped at the end */
    ck_assert_uint_eq(vread(vf, buf, 10, 300000), 0);
    uint64_t vs = vlook(vd, "small");
    ck_assert_uint_eq(vread(vs, buf, 100, 0), 4);
    ck_assert(!memcmp(buf, "tiny", 4));
    char v[8];
    EXPECT(fs_ctl_getxattr(fs, vs, "user.k", v, sizeof v), 2);
    ck_assert(!memcmp(v, "v1", 2));
    EXPECT(fs_ctl_getxattr(fs, vs, "user.none", v, sizeof v), -ENODATA);
    EXPECT(fs_ctl_getxattr(fs, vs, "user.k", v, 1), -ERANGE);
    EXPECT(fs_ctl_listxattr(fs, vs, NULL, 0), 7);
    char target[64];
    OK(fs_ctl_readlink(fs, vlook(root1, "sym"), target, sizeof target));
    ck_assert_str_eq(target, "d/small");
    uint64_t vsp = vlook(root1, "sparse");
    ck_assert_uint_eq(vread(vsp, buf, 100, 699950), 100);
    ck_assert_int_eq(buf[0], 0);
    ck_assert_int_eq(buf[50], 'z');
    EXPECT(fs_ctl_lookup(fs, vd, "later", &a), -ENOENT);
    EXPECT(fs_ctl_read(fs, vd, NULL, buf, 10, 0), -EISDIR);

    /* Listings, with and without attributes. */
    for (int plus = 0; plus < 2; plus++) {
        OK(collect_ctl(vd, plus, &l));
        ck_assert_uint_eq(l.n, 4); /* . .. f small */
        const struct entry *x = find_entry(&l, "small");
        ck_assert_ptr_nonnull(x);
        ck_assert_uint_eq(x->ino, vs);
        ck_assert_ptr_null(find_entry(&l, "later"));
        ck_assert_uint_eq(find_entry(&l, "..")->ino, root1);
        listing_free(&l);
    }
    OK(collect_ctl(sd, true, &l));
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_eq(find_entry(&l, "s1")->ino, root1);
    listing_free(&l);

    /* Deleting: gone from the list, and its view answers ENOENT. */
    OK(fs_ctl_rmdir(fs, sd, "s1"));
    EXPECT(fs_ctl_getattr(fs, vf, &a), -ENOENT);
    EXPECT(fs_ctl_lookup(fs, sd, "s1", &a), -ENOENT);
    EXPECT(fs_ctl_rmdir(fs, sd, "s1"), -ENOENT);
    /* Taken again under that name, it is another snapshot. */
    OK(fs_ctl_mkdir(fs, sd, "s1", &a));
    EXPECT(fs_ctl_getattr(fs, vf, &a), -ENOENT);
    OK(fs_ctl_lookup(fs, sd, "s1", &a));
    ck_assert_uint_ne(a.ino, root1);
    fs_ctl_forget(fs, a.ino, 2);
    free(buf);
    free(want);
    fsck();
}
END_TEST

START_TEST(inode_numbers)
{
    struct fs_attr a;
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    OK(fs_link(fs, f, FS_ROOT_INO, "hard", &a));
    OK(fs_flush(fs, f));
    uint64_t sd = snaps_dir();
    uint64_t r[2], vf[2];
    OK(fs_ctl_mkdir(fs, sd, "a", &a));
    r[0] = a.ino;
    OK(fs_ctl_mkdir(fs, sd, "b", &a));
    r[1] = a.ino;
    for (int i = 0; i < 2; i++) {
        vf[i] = vlook(vlook(r[i], "d"), "f");
        ck_assert_uint_eq(vlook(r[i], "hard"), vf[i]); /* a hard link stays one inode */
        ck_assert_uint_ne(vf[i], f);
        ck_assert_uint_ne(vlook(r[i], "d"), d);
        ck_assert_uint_ne(r[i], FS_ROOT_INO);
    }
    ck_assert_uint_ne(vf[0], vf[1]);
    ck_assert_uint_ne(r[0], r[1]);
    fs_ctl_forget(fs, r[0], 1);
    fs_ctl_forget(fs, r[1], 1);
}
END_TEST

/* A file handle carries an inode number and a generation; a number's slot
 * may stand for another snapshot after a restart, so the generation tells
 * the snapshots' inodes of one file apart. */
START_TEST(handle_generations)
{
    struct fs_attr a, b;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_flush(fs, f));
    uint64_t sd = snaps_dir();
    OK(fs_ctl_mkdir(fs, sd, "a", &a));
    uint64_t ra = a.ino;
    OK(fs_ctl_mkdir(fs, sd, "b", &b));
    uint64_t rb = b.ino;
    ck_assert_uint_ne(a.handle_gen, b.handle_gen); /* the roots */
    OK(fs_ctl_lookup(fs, ra, "f", &a));
    OK(fs_ctl_lookup(fs, rb, "f", &b));
    ck_assert_uint_ne(a.handle_gen, b.handle_gen);
    /* What a lookup, a getattr and a listing with attributes say agree. */
    struct fs_attr g;
    OK(fs_ctl_getattr(fs, a.ino, &g));
    ck_assert_uint_eq(g.handle_gen, a.handle_gen);
    OK(fs_ctl_lookup(fs, a.ino, ".", &g));
    ck_assert_uint_eq(g.handle_gen, a.handle_gen);
    fs_ctl_forget(fs, a.ino, 2);
    fs_ctl_forget(fs, b.ino, 1);
    /* A handle's lookup of "." on a number nothing has. */
    EXPECT(fs_ctl_lookup(fs, BIT63 | 7, ".", &g), -ESTALE);
    EXPECT(fs_ctl_lookup(fs, BIT63 | (UINT64_C(777) << 47) | 5, ".", &g), -ENOENT);
    fs_ctl_forget(fs, ra, 1);
    fs_ctl_forget(fs, rb, 1);
}
END_TEST

/* One slot, two snapshots: a lookup in the slot's root (as a file handle
 * makes, with no reference held) races with lookups of the snapshots by
 * name, which give the slot to whichever one asks while nothing holds it.
 * The slot must stay the snapshot a lookup read for as long as its answer
 * is held: "f" is a file in snapshot a and a directory in c, so the answer
 * tells which one was read. */
#define RACE_ROUNDS 20000
static _Atomic int race_done;

static void *race_names(void *arg)
{
    uint64_t sd = *(uint64_t *)arg;
    struct fs_attr a;
    for (int i = 0; !race_done; i++) {
        int e = fs_ctl_lookup(fs, sd, i % 2 ? "c" : "a", &a);
        ck_assert(e == 0 || e == -ENFILE);
        if (!e)
            fs_ctl_forget(fs, a.ino, 1);
    }
    return NULL;
}

START_TEST(slot_held_during_lookup)
{
    struct fs_attr a;
    OK(fs_flush(fs, mkfile(FS_ROOT_INO, "f")));
    fs->ctl->slots_max = 1;
    uint64_t sd = snaps_dir();
    OK(fs_ctl_mkdir(fs, sd, "a", &a));
    fs_ctl_forget(fs, a.ino, 1);
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    mkdir_(FS_ROOT_INO, "f");
    OK(fs_ctl_mkdir(fs, sd, "c", &a));
    uint64_t root = a.ino; /* slot 1's root, whichever snapshot holds it */
    fs_ctl_forget(fs, a.ino, 1);
    EXPECT(fs_ctl_lookup(fs, sd, "a", &a), 0); /* a has the one slot */
    EXPECT(fs_ctl_lookup(fs, sd, "c", &a), -ENFILE);
    fs_ctl_forget(fs, root, 1);

    pthread_t th;
    race_done = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, race_names, &sd), 0);
    int wrong = 0, seen[2] = {0, 0};
    for (int i = 0; i < RACE_ROUNDS; i++) {
        if (fs_ctl_lookup(fs, root, "f", &a))
            continue;
        bool dir = S_ISDIR(a.mode);
        seen[dir]++;
        pthread_mutex_lock(&fs->ctl->lock);
        if (strcmp(fs->ctl->slots[1].name, dir ? "c" : "a"))
            wrong++;
        pthread_mutex_unlock(&fs->ctl->lock);
        fs_ctl_forget(fs, a.ino, 1);
    }
    race_done = 1;
    pthread_join(th, NULL);
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_gt(seen[0] + seen[1], 0);
}
END_TEST

/* ".." at the top of the control tree and of a snapshot (the kernel asks
 * for it to resolve a handle's parent). */
START_TEST(dotdot_at_the_top)
{
    struct fs_attr a;
    uint64_t sd = snaps_dir();
    OK(fs_ctl_lookup(fs, FS_ROOT_INO, FS_CTL_NAME, &a));
    uint64_t ctl = a.ino;
    OK(fs_ctl_lookup(fs, ctl, "..", &a));
    ck_assert_uint_eq(a.ino, FS_ROOT_INO);
    ck_assert(S_ISDIR(a.mode));
    fs_forget(fs, FS_ROOT_INO, 1);
    OK(fs_ctl_lookup(fs, sd, "..", &a));
    ck_assert_uint_eq(a.ino, ctl);
    mkdir_(FS_ROOT_INO, "d");
    OK(fs_ctl_mkdir(fs, sd, "s", &a));
    uint64_t root = a.ino;
    OK(fs_ctl_lookup(fs, root, "..", &a));
    ck_assert_uint_eq(a.ino, sd);
    ck_assert(S_ISDIR(a.mode));
    uint64_t vd = vlook(root, "d");
    ck_assert_uint_eq(vlook(vd, ".."), root);
    fs_ctl_forget(fs, root, 1);
}
END_TEST

START_TEST(refusals)
{
    struct fs_attr a;
    struct fs_ctl_doc *doc;
    uint64_t sd = snaps_dir();
    OK(fs_ctl_lookup(fs, FS_ROOT_INO, FS_CTL_NAME, &a));
    uint64_t ctl = a.ino;
    /* The reserved name in the root. */
    EXPECT(fs_ctl_mkdir(fs, FS_ROOT_INO, FS_CTL_NAME, &a), -EEXIST);
    EXPECT(fs_ctl_refuse(fs, FS_ROOT_INO, FS_CTL_NAME, true), -EEXIST);
    EXPECT(fs_ctl_refuse(fs, FS_ROOT_INO, FS_CTL_NAME, false), -EPERM);
    EXPECT(fs_ctl_rmdir(fs, FS_ROOT_INO, FS_CTL_NAME), -EPERM);
    ck_assert(!fs_ctl_owns_entry(fs, FS_ROOT_INO, "other"));
    ck_assert(!fs_ctl_owns(fs, FS_ROOT_INO));
    /* /.ghostfs is read-only; snapshots/ holds only snapshots. */
    EXPECT(fs_ctl_mkdir(fs, ctl, "x", &a), -EROFS);
    EXPECT(fs_ctl_rmdir(fs, ctl, "snapshots"), -EROFS);
    EXPECT(fs_ctl_refuse(fs, ctl, "x", true), -EROFS);
    EXPECT(fs_ctl_refuse(fs, sd, "x", true), -EPERM);
    /* Bad names, with mkdir(2)'s errnos. */
    EXPECT(fs_ctl_mkdir(fs, sd, long_name(256, 'n'), &a), -ENAMETOOLONG);
    EXPECT(fs_ctl_lookup(fs, sd, long_name(256, 'n'), &a), -ENAMETOOLONG);
    EXPECT(fs_ctl_mkdir(fs, sd, "", &a), -EINVAL);
    EXPECT(fs_ctl_mkdir(fs, sd, "a/b", &a), -EINVAL);
    EXPECT(fs_ctl_mkdir(fs, sd, ".", &a), -EEXIST);
    EXPECT(fs_ctl_mkdir(fs, sd, "..", &a), -EEXIST);
    EXPECT(fs_ctl_rmdir(fs, sd, "."), -EINVAL);
    EXPECT(fs_ctl_rmdir(fs, sd, ".."), -ENOTEMPTY);
    OK(fs_ctl_mkdir(fs, sd, long_name(255, 'n'), &a));
    fs_ctl_forget(fs, a.ino, 1);
    OK(fs_ctl_mkdir(fs, sd, "s", &a));
    EXPECT(fs_ctl_mkdir(fs, sd, "s", &a), -EEXIST);
    EXPECT(fs_snapshot_list(fs, NULL, 0), 2);
    /* Inside a view: every change is EROFS; opening to write too. */
    uint64_t vr = a.ino;
    EXPECT(fs_ctl_refuse(fs, vr, "new", true), -EROFS);
    EXPECT(fs_ctl_refuse(fs, vr, NULL, false), -EROFS);
    EXPECT(fs_ctl_mkdir(fs, vr, "new", &a), -EROFS);
    EXPECT(fs_ctl_rmdir(fs, vr, "x"), -EROFS);
    EXPECT(fs_ctl_open(fs, vr, O_RDONLY, &doc), -EISDIR);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_flush(fs, f));
    OK(fs_ctl_rmdir(fs, sd, "s"));
    OK(fs_ctl_mkdir(fs, sd, "s", &a));
    uint64_t vf = vlook(a.ino, "f");
    EXPECT(fs_ctl_open(fs, vf, O_WRONLY, &doc), -EROFS);
    EXPECT(fs_ctl_open(fs, vf, O_RDWR, &doc), -EROFS);
    EXPECT(fs_ctl_open(fs, vf, O_RDONLY | O_TRUNC, &doc), -EROFS);
    OK(fs_ctl_open(fs, vf, O_RDONLY, &doc));
    ck_assert_ptr_null(doc); /* a snapshot's file is no document */
    fs_ctl_forget(fs, a.ino, 1);
}
END_TEST

/* A real entry named .ghostfs in the root (made through the model, as a
 * program using it directly could): the control tree answers for the name,
 * the root's listing shows neither, and a mount of a snapshot alone shows
 * the real one. */
START_TEST(shadowed_entry)
{
    struct fs_attr a;
    struct listing l;
    uint64_t real = mkdir_(FS_ROOT_INO, FS_CTL_NAME);
    mkfile(real, "inside");
    mkfile(FS_ROOT_INO, "other");
    list_all(FS_ROOT_INO, false, &l);
    ck_assert_ptr_null(find_entry(&l, FS_CTL_NAME));
    ck_assert_ptr_nonnull(find_entry(&l, "other"));
    listing_free(&l);
    list_all(FS_ROOT_INO, true, &l);
    ck_assert_ptr_null(find_entry(&l, FS_CTL_NAME));
    listing_free(&l);
    OK(fs_ctl_lookup(fs, FS_ROOT_INO, FS_CTL_NAME, &a));
    ck_assert_uint_ne(a.ino, real);
    OK(fs_snapshot_create(fs, "with"));

    struct fs_options o;
    fs_options_init(&o);
    o.snapshot = "with";
    struct fs *alone;
    OK(fs_open(path, &o, &alone));
    ck_assert(fs_ctl_owns(alone, FS_ROOT_INO));
    ck_assert(fs_ctl_owns_entry(alone, FS_ROOT_INO, FS_CTL_NAME));
    OK(fs_ctl_getattr(alone, FS_ROOT_INO, &a));
    ck_assert_uint_eq(a.ino, FS_ROOT_INO); /* alone, inode numbers are OIDs */
    OK(fs_ctl_lookup(alone, FS_ROOT_INO, FS_CTL_NAME, &a));
    ck_assert_uint_eq(a.ino, real);
    OK(fs_ctl_lookup(alone, real, "inside", &a));
    memset(&l, 0, sizeof l);
    OK(fs_ctl_readdir(alone, FS_ROOT_INO, 0, false, collect, &l));
    ck_assert_ptr_nonnull(find_entry(&l, FS_CTL_NAME));
    ck_assert_uint_eq(find_entry(&l, "..")->ino, FS_ROOT_INO);
    listing_free(&l);
    EXPECT(fs_ctl_mkdir(alone, FS_ROOT_INO, "x", &a), -EROFS);
    EXPECT(fs_ctl_refuse(alone, FS_ROOT_INO, FS_CTL_NAME, true), -EROFS);

    /* Mounted alone: not deleted, by anyone, until it is closed. */
    EXPECT(fs_snapshot_delete(fs, "with"), -EBUSY);
    EXPECT(fs_ctl_rmdir(fs, snaps_dir(), "with"), -EBUSY);
    fs_close(alone);
    OK(fs_snapshot_delete(fs, "with"));
}
END_TEST

START_TEST(stale_mark)
{
    /* A mark left by a process that is gone (no such pid on this boot)
     * does not keep the snapshot. */
    OK(fs_snapshot_create(fs, "s"));
    char key[128];
    const char *owner = fs->owner;
    size_t boot = strcspn(owner, " ");
    int n = snprintf(key, sizeof key, "s%c%.*s %d", 0, (int)boot, owner, 0x7ffffff0);
    struct ghost_txn *t;
    OK(ghost_txn_begin(fs_store(fs), &t));
    OK(ghost_map_put(t, FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT, key, (size_t)n, "", 0));
    OK(ghost_txn_commit(t));
    ck_assert_uint_eq(map_count(FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT), 1);
    OK(fs_snapshot_delete(fs, "s"));
    ck_assert_uint_eq(map_count(FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT), 0);
    /* A missing snapshot cannot be mounted alone. */
    struct fs_options o;
    fs_options_init(&o);
    o.snapshot = "s";
    struct fs *alone = NULL;
    EXPECT(fs_open(path, &o, &alone), -ENOENT);
}
END_TEST

static Suite *fs_ctl_suite(void)
{
    Suite *s = suite_create("fs-ctl");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, take_browse_delete);
    tcase_add_test(tc, inode_numbers);
    tcase_add_test(tc, handle_generations);
    tcase_add_test(tc, slot_held_during_lookup);
    tcase_add_test(tc, dotdot_at_the_top);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, shadowed_entry);
    tcase_add_test(tc, stale_mark);
    return s;
}

TEST_MAIN(fs_ctl_suite)
