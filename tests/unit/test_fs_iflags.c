/*
 * test_fs_iflags.c - inode flags (chattr +i, +a) in the POSIX model of fs/,
 * called directly, without a mount: setting and reading them (who may, which
 * bits), that they persist in the inode record across a remount and are
 * read as clear from a record written before they existed, and that every
 * path of fs/ refuses what each flag forbids - and still does what it allows.
 *
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "util.h"

#define IMM FS_IMMUTABLE_FL
#define APP FS_APPEND_FL

static struct fs_ctx root_ctx = {.uid = 0, .gid = 0, .umask = 022};

static uint32_t flags_of(uint64_t ino)
{
    uint32_t f = 0xdead;
    OK(fs_get_iflags(fs, ino, &f));
    return f;
}

static void set_flags(uint64_t ino, uint32_t f)
{
    OK(fs_set_iflags(fs, &root_ctx, ino, f, true));
    ck_assert_uint_eq(flags_of(ino), f);
}

static int open_close(uint64_t ino, int flags)
{
    bool keep;
    int e = fs_open_file(fs, ino, flags, &keep);
    if (!e)
        OK(fs_release(fs, ino));
    return e;
}

START_TEST(set_and_get)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f"), d = mkdir_(FS_ROOT_INO, "d");
    struct fs_attr a;
    OK(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "l", &a));
    ck_assert_uint_eq(flags_of(f), 0);
    int64_t ctime = attr(f).ctime_ns;
    set_flags(f, IMM);
    ck_assert_int_gt(attr(f).ctime_ns, ctime); /* a change of the inode */
    set_flags(f, IMM | APP);
    set_flags(f, APP);
    set_flags(d, IMM);
    set_flags(d, 0);
    /* What is not kept is refused, not stored without meaning. */
    EXPECT(fs_set_iflags(fs, &root_ctx, f, APP | FS_NODUMP_FL, true), -EOPNOTSUPP);
    EXPECT(fs_set_iflags(fs, &root_ctx, f, FS_NOATIME_FL, true), -EOPNOTSUPP);
    ck_assert_uint_eq(flags_of(f), APP);
    /* Only files and directories have them. */
    EXPECT(fs_set_iflags(fs, &root_ctx, a.ino, IMM, true), -ENOTTY);
    EXPECT(fs_get_iflags(fs, 999999, &(uint32_t){0}), -ENOENT);
    /* Only CAP_LINUX_IMMUTABLE changes +i or +a; only the owner or root
     * sets flags at all. */
    EXPECT(fs_set_iflags(fs, &root_ctx, f, 0, false), -EPERM);
    EXPECT(fs_set_iflags(fs, &root_ctx, f, APP | IMM, false), -EPERM);
    OK(fs_set_iflags(fs, &root_ctx, f, APP, false)); /* no change */
    struct fs_ctx other = {.uid = 4242, .gid = 4242};
    if (attr(f).uid != other.uid)
        EXPECT(fs_set_iflags(fs, &other, f, 0, true), -EPERM);
    ck_assert_uint_eq(flags_of(f), APP);
    /* They are in the inode record: a remount keeps them. */
    set_flags(d, IMM);
    reopen();
    ck_assert_uint_eq(flags_of(f), APP);
    ck_assert_uint_eq(flags_of(d), IMM);
    ck_assert(raw_rec(f).flags & 0x20000);
    set_flags(f, 0);
    set_flags(d, 0);
    fsck();
}
END_TEST

/* A record written before the flags existed has their bits clear (the
 * flags word held only INLINE): it reads as no flag, and setting one keeps
 * the INLINE bit and the inline data. */
START_TEST(old_records)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 100, 5);
    OK(fs_flush(fs, f));
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.flags, 0x1); /* INLINE and nothing else, as before */
    ck_assert_uint_eq(flags_of(f), 0);
    set_flags(f, IMM);
    ck_assert_uint_eq(raw_rec(f).flags, 0x1 | 0x10000);
    check_range(f, 0, 100, 5);
    set_flags(f, 0);
    ck_assert_uint_eq(raw_rec(f).flags, 0x1);
}
END_TEST

START_TEST(immutable_file)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    write_pat(f, 0, 5000, 1);
    OK(fs_flush(fs, f));
    OK(fs_setxattr(fs, f, "user.a", "1", 1, 0));
    bool keep;
    OK(fs_open_file(fs, f, O_RDWR, &keep)); /* open before the flag */
    set_flags(f, IMM);
    struct fs_attr a = {.size = 0, .mode = 0600}, out;

    /* data */
    EXPECT(fs_write(fs, f, "x", 1, 0, false), -EPERM);
    EXPECT(fs_write(fs, f, "x", 1, 0, true), -EPERM);
    EXPECT(open_close(f, O_WRONLY), -EPERM);
    EXPECT(open_close(f, O_RDWR), -EPERM);
    EXPECT(open_close(f, O_WRONLY | O_APPEND), -EPERM);
    EXPECT(open_close(f, O_RDONLY | O_TRUNC), -EPERM);
    OK(open_close(f, O_RDONLY));
    EXPECT(fs_fallocate(fs, f, 0, 0, 100000), -EPERM);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 0, 100000), -EPERM);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10), -EPERM);
    uint64_t g = mkfile(d, "g");
    write_pat(g, 0, 100, 2);
    OK(fs_flush(fs, g));
    EXPECT(fs_copy_range(fs, g, 0, f, 0, 100, 0), -EPERM);
    /* attributes */
    EXPECT(fs_setattr(fs, f, &a, FS_SET_SIZE, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_MODE, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_UID | FS_SET_GID, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_ATIME_NOW | FS_SET_MTIME_NOW, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_MTIME, &out), -EPERM);
    /* xattrs */
    EXPECT(fs_setxattr(fs, f, "user.b", "2", 1, 0), -EPERM);
    EXPECT(fs_setxattr(fs, f, "user.a", "2", 1, XATTR_REPLACE), -EPERM);
    EXPECT(fs_removexattr(fs, f, "user.a"), -EPERM);
    char v[4];
    EXPECT(fs_getxattr(fs, f, "user.a", v, sizeof v), 1);
    /* names */
    EXPECT(fs_unlink(fs, d, "f"), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", d, "f2", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", FS_ROOT_INO, "f2", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "g", d, "f", 0), -EPERM); /* over it */
    EXPECT(fs_rename(fs, &root_ctx, d, "g", d, "f", RENAME_EXCHANGE), -EPERM);
    EXPECT(fs_link(fs, f, d, "f3", &out), -EPERM);
    EXPECT(ino_of(d, "f"), (int64_t)f);
    EXPECT(ino_of(d, "f2"), -ENOENT);
    EXPECT(ino_of(d, "f3"), -ENOENT);

    /* Nothing changed; reading still works. */
    ck_assert_uint_eq(size_of(f), 5000);
    check_range(f, 0, 5000, 1);
    ck_assert_uint_eq(attr(f).nlink, 1);

    /* Cleared, everything works again. */
    set_flags(f, 0);
    EXPECT(fs_write(fs, f, "x", 1, 0, false), 1);
    OK(fs_release(fs, f));
    OK(fs_setattr(fs, f, &a, FS_SET_SIZE, &out));
    OK(fs_rename(fs, &root_ctx, d, "f", d, "f2", 0));
    OK(fs_unlink(fs, d, "f2"));
    fsck();
}
END_TEST

START_TEST(append_only_file)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    write_pat(f, 0, 5000, 1);
    OK(fs_flush(fs, f));
    OK(fs_setxattr(fs, f, "user.a", "1", 1, 0));
    set_flags(f, APP);
    struct fs_attr a = {.size = 0, .mode = 0600}, out;

    /* Writes at the end only. */
    EXPECT(open_close(f, O_WRONLY), -EPERM);
    EXPECT(open_close(f, O_RDWR), -EPERM);
    EXPECT(open_close(f, O_WRONLY | O_APPEND | O_TRUNC), -EPERM);
    OK(open_close(f, O_RDONLY));
    bool keep;
    OK(fs_open_file(fs, f, O_WRONLY | O_APPEND, &keep));
    EXPECT(fs_write(fs, f, "x", 1, 0, false), -EPERM);
    EXPECT(fs_write(fs, f, "tail", 4, 0, true), 4);
    OK(fs_release(fs, f));
    ck_assert_uint_eq(size_of(f), 5004);
    check_range(f, 0, 5000, 1);
    /* fallocate may only add */
    OK(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 0, 10000));
    ck_assert_uint_eq(size_of(f), 5004);
    OK(fs_fallocate(fs, f, 0, 0, 10000));
    ck_assert_uint_eq(size_of(f), 10000);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10), -EPERM);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE, 0, 10), -EPERM);
    /* attributes: no truncate, mode, owner or set time; touching is fine */
    EXPECT(fs_setattr(fs, f, &a, FS_SET_SIZE, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_MODE, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_UID, &out), -EPERM);
    EXPECT(fs_setattr(fs, f, &a, FS_SET_ATIME | FS_SET_MTIME, &out), -EPERM);
    OK(fs_setattr(fs, f, &a, FS_SET_ATIME_NOW | FS_SET_MTIME_NOW, &out));
    /* xattrs, names */
    EXPECT(fs_setxattr(fs, f, "user.b", "2", 1, 0), -EPERM);
    EXPECT(fs_removexattr(fs, f, "user.a"), -EPERM);
    EXPECT(fs_unlink(fs, d, "f"), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", d, "f2", 0), -EPERM);
    EXPECT(fs_link(fs, f, d, "f3", &out), -EPERM);
    ck_assert_uint_eq(size_of(f), 10000);
    check_range(f, 0, 5000, 1);
    set_flags(f, 0);
    OK(fs_unlink(fs, d, "f"));
    fsck();
}
END_TEST

START_TEST(immutable_dir)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d"), e = mkdir_(FS_ROOT_INO, "e");
    uint64_t f = mkfile(d, "f"), g = mkfile(e, "g");
    uint64_t sub = mkdir_(d, "sub");
    set_flags(d, IMM);
    struct fs_attr out;
    /* no name added */
    EXPECT(fs_create(fs, &ctx, d, "new", 0644, O_RDWR, &out), -EPERM);
    EXPECT(fs_mknod(fs, &ctx, d, "new", S_IFIFO | 0644, 0, &out), -EPERM);
    EXPECT(fs_mkdir(fs, &ctx, d, "new", 0755, &out), -EPERM);
    EXPECT(fs_symlink(fs, &ctx, "t", d, "new", &out), -EPERM);
    EXPECT(fs_link(fs, g, d, "new", &out), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, e, "g", d, "new", 0), -EPERM);
    /* none removed */
    EXPECT(fs_unlink(fs, d, "f"), -EPERM);
    EXPECT(fs_rmdir(fs, d, "sub"), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", e, "f", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", d, "f2", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, e, "g", d, "f", RENAME_EXCHANGE), -EPERM);
    /* An existing name opens, and what is inside may change. */
    OK(fs_create(fs, &ctx, d, "f", 0644, O_RDWR, &out));
    ck_assert_uint_eq(out.ino, f);
    EXPECT(fs_write(fs, f, "abc", 3, 0, false), 3);
    OK(fs_release(fs, f));
    fs_forget(fs, f, 1);
    uint64_t inner = mkfile(sub, "inner");
    (void)inner;
    EXPECT(fs_create(fs, &ctx, d, "f", 0644, O_RDWR | O_EXCL, &out), -EEXIST);
    /* the directory itself */
    struct fs_attr a = {.mode = 0700};
    EXPECT(fs_setattr(fs, d, &a, FS_SET_MODE, &out), -EPERM);
    EXPECT(fs_setxattr(fs, d, "user.a", "1", 1, 0), -EPERM);
    EXPECT(fs_rmdir(fs, FS_ROOT_INO, "d"), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, FS_ROOT_INO, "d", e, "d", 0), -EPERM);
    EXPECT(ino_of(d, "new"), -ENOENT);
    EXPECT(ino_of(e, "g"), (int64_t)g);
    set_flags(d, 0);
    OK(fs_rename(fs, &root_ctx, e, "g", d, "new", 0));
    OK(fs_unlink(fs, d, "f"));
    fsck();
}
END_TEST

START_TEST(append_only_dir)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d"), e = mkdir_(FS_ROOT_INO, "e");
    mkfile(d, "f");
    mkfile(e, "g");
    mkfile(e, "h");
    set_flags(d, APP);
    struct fs_attr out;
    /* names may be added */
    OK(fs_create(fs, &ctx, d, "new", 0644, O_RDWR, &out));
    OK(fs_release(fs, out.ino));
    OK(fs_mkdir(fs, &ctx, d, "sub", 0755, &out));
    OK(fs_rename(fs, &root_ctx, e, "g", d, "g", 0));
    /* none removed or replaced */
    EXPECT(fs_unlink(fs, d, "f"), -EPERM);
    EXPECT(fs_rmdir(fs, d, "sub"), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, d, "f", e, "f", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, e, "h", d, "f", 0), -EPERM);
    EXPECT(fs_rename(fs, &root_ctx, e, "h", d, "f", RENAME_EXCHANGE), -EPERM);
    ck_assert_int_gt(ino_of(d, "f"), 0);
    ck_assert_int_gt(ino_of(e, "h"), 0);
    set_flags(d, 0);
    OK(fs_unlink(fs, d, "f"));
    fsck();
}
END_TEST

/* Opened as under FUSE's writeback cache: the kernel keeps writes in its
 * pages and sends them later, through fds opened before a flag was set,
 * and flushes mtime and ctime with a setattr the flags refuse. Neither
 * flag can be kept as promised: setting one is not supported, and a file
 * that has +a (set by a mount without the cache) is not opened for
 * writing at all. */
START_TEST(kernel_writeback)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f"), a = mkfile(FS_ROOT_INO, "a");
    set_flags(a, APP);
    close_fs();
    struct fs_options o;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.kernel_writeback = true;
    OK(fs_open(path, &o, &fs));
    EXPECT(fs_set_iflags(fs, &root_ctx, f, IMM, true), -EOPNOTSUPP);
    EXPECT(fs_set_iflags(fs, &root_ctx, a, 0, true), -EOPNOTSUPP);
    ck_assert_uint_eq(flags_of(f), 0);
    ck_assert_uint_eq(flags_of(a), APP);
    EXPECT(open_close(a, O_WRONLY | O_APPEND), -EPERM);
    EXPECT(open_close(a, O_RDWR | O_APPEND), -EPERM);
    OK(open_close(a, O_RDONLY));
    OK(open_close(f, O_WRONLY));
    /* Without the cache, as before. */
    reopen();
    OK(open_close(a, O_WRONLY | O_APPEND));
    set_flags(f, IMM);
    set_flags(f, 0);
}
END_TEST

static Suite *fs_iflags_suite(void)
{
    Suite *s = suite_create("fs-iflags");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, set_and_get);
    tcase_add_test(tc, old_records);
    tcase_add_test(tc, immutable_file);
    tcase_add_test(tc, append_only_file);
    tcase_add_test(tc, immutable_dir);
    tcase_add_test(tc, append_only_dir);
    tcase_add_test(tc, kernel_writeback);
    return s;
}

TEST_MAIN(fs_iflags_suite)
