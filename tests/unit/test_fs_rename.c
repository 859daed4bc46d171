/*
 * test_fs_rename.c - the POSIX model of fs/ called directly, without a mount:
 * rename and its flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT):
 * files and directories, within and across directories, every error, and the
 * link counts and back references after each (checked by walking the whole
 * tree).
 *
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

START_TEST(rename_files)
{
    uint64_t d1 = mkdir_(FS_ROOT_INO, "d1");
    uint64_t d2 = mkdir_(FS_ROOT_INO, "d2");
    uint64_t f = mkfile(d1, "f");
    write_pat(f, 0, 5000, 1);
    struct fs_attr before = attr(f);

    /* Within one directory. */
    OK(fs_rename(fs, &ctx, d1, "f", d1, "g", 0));
    EXPECT(ino_of(d1, "f"), -ENOENT);
    EXPECT(ino_of(d1, "g"), f);
    ck_assert_uint_eq(nlink_of(f), 1);
    ck_assert(has_backref(f, d1, "g"));
    ck_assert(!has_backref(f, d1, "f"));
    ck_assert_int_ge(attr(f).ctime_ns, before.ctime_ns);

    /* Across directories: neither directory's nlink moves. */
    OK(fs_rename(fs, &ctx, d1, "g", d2, "h", 0));
    EXPECT(ino_of(d1, "g"), -ENOENT);
    EXPECT(ino_of(d2, "h"), f);
    ck_assert_uint_eq(nlink_of(d1), 2);
    ck_assert_uint_eq(nlink_of(d2), 2);
    check_range(f, 0, 5000, 1);
    fsck();

    /* Over a victim with one link: the victim goes. */
    uint64_t v = mkfile(d1, "v");
    fs_forget(fs, v, 1);
    OK(fs_rename(fs, &ctx, d2, "h", d1, "v", 0));
    EXPECT(ino_of(d1, "v"), f);
    ck_assert(!obj_exists(v));
    ck_assert(!orphan_listed_in(fs_store(fs), v));
    fsck();

    /* Over a victim with two links: it keeps one. */
    uint64_t w = mkfile(d2, "w");
    struct fs_attr a;
    OK(fs_link(fs, w, d1, "w2", &a));
    OK(fs_rename(fs, &ctx, d1, "v", d2, "w", 0));
    ck_assert_uint_eq(nlink_of(w), 1);
    ck_assert_uint_eq(nlink_of(f), 1);
    EXPECT(ino_of(d2, "w"), f);
    EXPECT(ino_of(d1, "w2"), w);
    fsck();

    /* Two names of one inode: rename does nothing, both stay. */
    OK(fs_link(fs, f, d1, "f-again", &a));
    OK(fs_rename(fs, &ctx, d1, "f-again", d2, "w", 0));
    EXPECT(ino_of(d1, "f-again"), f);
    EXPECT(ino_of(d2, "w"), f);
    ck_assert_uint_eq(nlink_of(f), 2);
    fsck();

    /* Onto itself: nothing happens. */
    OK(fs_rename(fs, &ctx, d1, "w2", d1, "w2", 0));
    EXPECT(ino_of(d1, "w2"), w);
    ck_assert_uint_eq(nlink_of(w), 1);

    /* Errors. */
    uint64_t gone = mkdir_(FS_ROOT_INO, "gone");
    OK(fs_rmdir(fs, FS_ROOT_INO, "gone"));
    EXPECT(fs_rename(fs, &ctx, d1, "w2", gone, "x", 0), -ENOENT);
    fs_forget(fs, gone, 1);
    EXPECT(fs_rename(fs, &ctx, d1, "missing", d2, "x", 0), -ENOENT);
    EXPECT(fs_rename(fs, &ctx, d1, "w2", f, "x", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, &ctx, f, "x", d1, "y", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, &ctx, d1, "w2", 999999, "x", 0), -ENOENT);
    EXPECT(fs_rename(fs, &ctx, d1, "w2", d2, "..", 0), -EBUSY);
    EXPECT(fs_rename(fs, &ctx, d1, ".", d2, "x", 0), -EBUSY);
    EXPECT(fs_rename(fs, &ctx, d1, "w2", d2, "", 0), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, d1, "w2", d2, "a/b", 0), -EINVAL);
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
    OK(fs_rename(fs, &ctx, p1, "a", p1, "b", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    EXPECT(ino_of(a, ".."), p1);
    fsck();

    /* Across: the old parent loses a link, the new one gains it, ".." follows. */
    OK(fs_rename(fs, &ctx, p1, "b", p2, "a", 0));
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
    OK(fs_rename(fs, &ctx, p2, "a", p1, "empty", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 2);
    ck_assert(!obj_exists(empty));
    EXPECT(ino_of(a, ".."), p1);
    fsck();

    /* Over an empty directory in the same parent. */
    uint64_t e2 = mkdir_(p1, "e2");
    ck_assert_uint_eq(nlink_of(p1), 4);
    OK(fs_rename(fs, &ctx, p1, "empty", p1, "e2", 0));
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(e2), 0);
    fs_forget(fs, e2, 1);
    ck_assert(!obj_exists(e2));
    fsck();

    /* Type mismatches and non-empty victims. */
    uint64_t full = mkdir_(p2, "full");
    mkfile(full, "x");
    mkfile(p2, "file");
    EXPECT(fs_rename(fs, &ctx, p1, "e2", p2, "full", 0), -ENOTEMPTY);
    EXPECT(fs_rename(fs, &ctx, p1, "e2", p2, "file", 0), -ENOTDIR);
    EXPECT(fs_rename(fs, &ctx, p2, "file", p1, "e2", 0), -EISDIR);
    EXPECT(fs_rename(fs, &ctx, p2, "full", p1, "e2", 0), -ENOTEMPTY); /* e2 has sub and f */

    /* Under itself. */
    EXPECT(fs_rename(fs, &ctx, p1, "e2", a, "x", 0), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, p1, "e2", sub, "x", 0), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, "p1", sub, "p1", 0), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, "p1", p1, "p1", 0), -EINVAL);
    EXPECT(ino_of(p1, "e2"), a);
    ck_assert_uint_eq(nlink_of(p1), 3);
    /* Moving it up is fine. */
    OK(fs_rename(fs, &ctx, a, "sub", FS_ROOT_INO, "sub", 0));
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
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, "f", d, "g", RENAME_NOREPLACE), -EEXIST);
    EXPECT(ino_of(FS_ROOT_INO, "f"), f);
    EXPECT(ino_of(d, "g"), g);
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, "d", FS_ROOT_INO, "f", RENAME_NOREPLACE), -EEXIST);
    OK(fs_rename(fs, &ctx, FS_ROOT_INO, "f", d, "h", RENAME_NOREPLACE));
    EXPECT(ino_of(d, "h"), f);
    EXPECT(fs_rename(fs, &ctx, d, "h", d, "g", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, d, "h", d, "z", 0x100), -EINVAL);
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

    EXPECT(fs_rename(fs, &ctx, p1, "f", p2, "missing", RENAME_EXCHANGE), -ENOENT);
    EXPECT(fs_rename(fs, &ctx, p1, "missing", p2, "g", RENAME_EXCHANGE), -ENOENT);

    /* file <-> file across directories. */
    OK(fs_rename(fs, &ctx, p1, "f", p2, "g", RENAME_EXCHANGE));
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
    OK(fs_rename(fs, &ctx, p1, "f", p2, "d", RENAME_EXCHANGE));
    EXPECT(ino_of(p1, "f"), d);
    EXPECT(ino_of(p2, "d"), g);
    ck_assert_uint_eq(nlink_of(p1), 4);
    ck_assert_uint_eq(nlink_of(p2), 2);
    EXPECT(ino_of(d, ".."), p1);
    fsck();

    /* dir <-> dir across: counts stay, both ".." follow. */
    OK(fs_rename(fs, &ctx, p1, "e", p2, "d", RENAME_EXCHANGE)); /* e <-> the file g: dir moves */
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 3);
    uint64_t x = mkdir_(p2, "x");
    OK(fs_rename(fs, &ctx, p1, "f", p2, "x", RENAME_EXCHANGE));
    EXPECT(ino_of(p1, "f"), x);
    EXPECT(ino_of(p2, "x"), d);
    EXPECT(ino_of(x, ".."), p1);
    EXPECT(ino_of(d, ".."), p2);
    ck_assert_uint_eq(nlink_of(p1), 3);
    ck_assert_uint_eq(nlink_of(p2), 4);
    fsck();

    /* Exchange with a non-empty dir is fine; exchanging a dir into itself is not. */
    OK(fs_rename(fs, &ctx, p2, "x", p2, "d", RENAME_EXCHANGE)); /* same dir, both dirs */
    EXPECT(ino_of(p2, "x"), e);
    EXPECT(fs_rename(fs, &ctx, p2, "d", dd, "y", RENAME_EXCHANGE), -ENOENT);
    mkfile(dd, "y");
    EXPECT(fs_rename(fs, &ctx, p2, "d", dd, "y", RENAME_EXCHANGE), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, dd, "y", p2, "d", RENAME_EXCHANGE), -EINVAL);
    EXPECT(ino_of(p2, "d"), d);
    fsck();
    reopen();
    fsck();
}
END_TEST

/* The whiteout at name in dir: a character device 0:0 with no permission
 * bits and one link, owned by who; returns its inode. */
static uint64_t whiteout_at(uint64_t dir, const char *name, const struct fs_ctx *who)
{
    int64_t w = ino_of(dir, name);
    ck_assert_msg(w > 0, "no whiteout at %s: %" PRId64, name, w);
    struct fs_attr a = attr((uint64_t)w);
    ck_assert_msg(a.mode == S_IFCHR, "%s: mode %o, not a whiteout's", name, (unsigned)a.mode);
    ck_assert_uint_eq(a.rdev, 0);
    ck_assert_uint_eq(a.nlink, 1);
    ck_assert_uint_eq(a.uid, who->uid);
    ck_assert_uint_eq(a.gid, who->gid);
    ck_assert(has_backref((uint64_t)w, dir, name));
    return (uint64_t)w;
}

START_TEST(rename_whiteout)
{
    struct fs_ctx other = {.uid = 1234, .gid = 5678, .umask = 022};
    uint64_t d1 = mkdir_(FS_ROOT_INO, "d1");
    uint64_t d2 = mkdir_(FS_ROOT_INO, "d2");
    uint64_t f = mkfile(d1, "f");
    write_pat(f, 0, 3000, 2);

    /* A file across directories: the whiteout takes the old name, owned by
     * the caller; the file keeps its inode and data. */
    OK(fs_rename(fs, &other, d1, "f", d2, "g", RENAME_WHITEOUT));
    EXPECT(ino_of(d2, "g"), f);
    uint64_t w1 = whiteout_at(d1, "f", &other);
    ck_assert_uint_ne(w1, f);
    ck_assert(!has_backref(f, d1, "f"));
    ck_assert_uint_eq(nlink_of(f), 1);
    ck_assert_uint_eq(nlink_of(d1), 2);
    check_range(f, 0, 3000, 2);
    fsck();

    /* Within one directory, over a victim with one link: the victim goes. */
    uint64_t v = mkfile(d2, "v");
    fs_forget(fs, v, 1);
    OK(fs_rename(fs, &ctx, d2, "g", d2, "v", RENAME_WHITEOUT));
    EXPECT(ino_of(d2, "v"), f);
    whiteout_at(d2, "g", &ctx);
    ck_assert(!obj_exists(v));
    fsck();

    /* A whiteout moved over another whiteout (what overlayfs does when a
     * name is whited out again) leaves a fresh one behind. */
    OK(fs_rename(fs, &ctx, d2, "g", d1, "f", RENAME_WHITEOUT));
    ck_assert(!obj_exists(w1));
    whiteout_at(d1, "f", &ctx);
    whiteout_at(d2, "g", &ctx);
    fsck();

    /* A directory across directories: its link moves, the whiteout is no
     * directory and adds none. */
    uint64_t dir = mkdir_(d1, "dir");
    mkfile(dir, "inside");
    ck_assert_uint_eq(nlink_of(d1), 3);
    OK(fs_rename(fs, &ctx, d1, "dir", d2, "dir", RENAME_WHITEOUT));
    whiteout_at(d1, "dir", &ctx);
    EXPECT(ino_of(dir, ".."), d2);
    ck_assert_uint_eq(nlink_of(d1), 2);
    ck_assert_uint_eq(nlink_of(d2), 3);
    ck_assert_int_gt(ino_of(dir, "inside"), 0);
    fsck();

    /* With RENAME_NOREPLACE: refused over a name, allowed to a free one. */
    EXPECT(fs_rename(fs, &ctx, d2, "v", d2, "dir", RENAME_WHITEOUT | RENAME_NOREPLACE), -EEXIST);
    EXPECT(ino_of(d2, "v"), f);
    OK(fs_rename(fs, &ctx, d2, "v", d2, "w", RENAME_WHITEOUT | RENAME_NOREPLACE));
    EXPECT(ino_of(d2, "w"), f);
    whiteout_at(d2, "v", &ctx);

    /* With RENAME_EXCHANGE: never (no name is left free for it). */
    EXPECT(fs_rename(fs, &ctx, d2, "w", d2, "dir", RENAME_WHITEOUT | RENAME_EXCHANGE), -EINVAL);
    EXPECT(fs_rename(fs, &ctx, d2, "w", d2, "dir",
                     RENAME_WHITEOUT | RENAME_EXCHANGE | RENAME_NOREPLACE),
           -EINVAL);
    EXPECT(ino_of(d2, "w"), f);
    EXPECT(ino_of(d2, "dir"), dir);

    /* Refusals make nothing: a missing source, a type mismatch, "." */
    size_t entries = map_count(d2, FS_MAP_DIRENT);
    EXPECT(fs_rename(fs, &ctx, d2, "missing", d2, "x", RENAME_WHITEOUT), -ENOENT);
    EXPECT(fs_rename(fs, &ctx, d2, "w", d2, "dir", RENAME_WHITEOUT), -EISDIR);
    EXPECT(fs_rename(fs, &ctx, d2, ".", d2, "x", RENAME_WHITEOUT), -EBUSY);
    EXPECT(ino_of(d2, "missing"), -ENOENT);
    EXPECT(ino_of(d2, "w"), f);
    ck_assert_uint_eq(map_count(d2, FS_MAP_DIRENT), entries);

    /* Two names of one inode: rename does nothing, so no whiteout either. */
    struct fs_attr a;
    OK(fs_link(fs, f, d2, "w2", &a));
    OK(fs_rename(fs, &ctx, d2, "w2", d2, "w", RENAME_WHITEOUT));
    EXPECT(ino_of(d2, "w2"), f);
    ck_assert_uint_eq(nlink_of(f), 2);
    fsck();

    /* What was committed is what a reopened store holds. */
    reopen();
    whiteout_at(d1, "f", &ctx);
    whiteout_at(d1, "dir", &ctx);
    whiteout_at(d2, "v", &ctx);
    EXPECT(ino_of(d2, "w"), f);
    fsck();
}
END_TEST

static Suite *fs_rename_suite(void)
{
    Suite *s = suite_create("fs-rename");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, rename_files);
    tcase_add_test(tc, rename_dirs);
    tcase_add_test(tc, rename_noreplace);
    tcase_add_test(tc, rename_exchange);
    tcase_add_test(tc, rename_whiteout);
    return s;
}

TEST_MAIN(fs_rename_suite)
