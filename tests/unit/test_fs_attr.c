/*
 * test_fs_attr.c - the POSIX model of fs/ called directly, without a mount:
 * attributes and xattrs: get/set/list/remove of xattrs and their limits,
 * setattr of every field and the times it sets, and setattr of a file whose
 * writes are still buffered.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

/* What every inode's listing holds beside its stored names. */
#define SYS_NAMES                                                                                  \
    (sizeof "system.ghostfs.oid" + sizeof "system.ghostfs.generation" +                            \
     sizeof "system.ghostfs.checksum")

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

    /* List: names, NUL-terminated, in any order; every inode's has the
     * read-only system.ghostfs.* names too (test_inspect checks them). */
    size_t want = sizeof "user.a" + sizeof "user.b" + sizeof "user.big" + SYS_NAMES;
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
    EXPECT(fs_listxattr(fs, f, NULL, 0), sizeof "user.b" + sizeof "user.big" + SYS_NAMES);

    /* On directories and symlinks too; on nothing: ENOENT. */
    OK(fs_setxattr(fs, FS_ROOT_INO, "user.d", "dir", 3, 0));
    struct fs_attr l;
    OK(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "l", &l));
    OK(fs_setxattr(fs, l.ino, "trusted.x", "lnk", 3, 0));
    EXPECT(fs_listxattr(fs, mkfile(FS_ROOT_INO, "bare"), buf, sizeof buf), SYS_NAMES);

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

static Suite *fs_attr_suite(void)
{
    Suite *s = suite_create("fs-attr");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, xattrs);
    tcase_add_test(tc, setattr_of_open_file_buffered);
    tcase_add_test(tc, xattr_missing_inode);
    tcase_add_test(tc, setattr_fields_and_times);
    return s;
}

TEST_MAIN(fs_attr_suite)
