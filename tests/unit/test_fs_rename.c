/*
 * test_fs_rename.c - the POSIX model of fs/ called directly, without a mount:
 * rename and its flags (RENAME_NOREPLACE, RENAME_EXCHANGE): files and
 * directories, within and across directories, every error, and the link
 * counts and back references after each (checked by walking the whole tree).
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

static Suite *fs_rename_suite(void)
{
    Suite *s = suite_create("fs-rename");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, rename_files);
    tcase_add_test(tc, rename_dirs);
    tcase_add_test(tc, rename_noreplace);
    tcase_add_test(tc, rename_exchange);
    return s;
}

TEST_MAIN(fs_rename_suite)
