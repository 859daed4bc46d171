/*
 * test_fs_names.c - the POSIX model of fs/ called directly, without a mount:
 * names: lookup, create, mknod, mkdir, symlink, link, unlink and rmdir,
 * with every error the model itself must produce; name limits; lookup
 * counts; link counts of directories (checked by walking the whole tree);
 * setgid inheritance; the times of a directory whose names change.
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
#include <time.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

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
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, "g", FS_ROOT_INO, n256, 0), -ENAMETOOLONG);
    EXPECT(fs_rename(fs, &ctx, FS_ROOT_INO, n256, FS_ROOT_INO, "h", 0), -ENAMETOOLONG);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "", S_IFREG | 0644, 0, &a), -EINVAL);
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "", 0644, O_RDWR, &a), -EINVAL);
    EXPECT(fs_mknod(fs, &ctx, FS_ROOT_INO, "a/b", S_IFREG | 0644, 0, &a), -EINVAL);
    /* A 255-byte name can be renamed, linked and listed. */
    OK(fs_rename(fs, &ctx, FS_ROOT_INO, n255, FS_ROOT_INO, "short", 0));
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

/* What the kernel asks to turn a file handle into an inode it no longer
 * holds: "." of any inode, ".." of a directory, each counted as a lookup,
 * with the generation every other reply gave; an inode whose last link
 * went is not found (ESTALE to the handle). */
START_TEST(handle_lookups)
{
    struct fs_attr a, b;
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0644, O_RDWR, &a));
    OK(fs_release(fs, a.ino));
    fs_forget(fs, a.ino, 1);
    ck_assert(!fs_is_known(fs, a.ino));
    OK(fs_lookup(fs, a.ino, ".", &b));
    ck_assert_uint_eq(b.ino, a.ino);
    ck_assert_uint_eq(b.handle_gen, a.handle_gen);
    ck_assert(fs_is_known(fs, a.ino));
    fs_forget(fs, a.ino, 1);
    EXPECT(fs_lookup(fs, a.ino, "..", &b), -ENOTDIR);
    ck_assert(!fs_is_known(fs, a.ino));
    OK(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "l", &b));
    fs_forget(fs, b.ino, 1);
    struct fs_attr c;
    OK(fs_lookup(fs, b.ino, ".", &c));
    ck_assert(S_ISLNK(c.mode));
    fs_forget(fs, b.ino, 1);

    /* ".." of a directory is its parent, as a lookup of the parent says. */
    uint64_t p = mkdir_(FS_ROOT_INO, "p"), d = mkdir_(p, "d");
    fs_forget(fs, p, 1);
    fs_forget(fs, d, 1);
    OK(fs_lookup(fs, d, "..", &b));
    ck_assert_uint_eq(b.ino, p);
    OK(fs_lookup(fs, FS_ROOT_INO, "p", &c));
    ck_assert_uint_eq(b.handle_gen, c.handle_gen);
    fs_forget(fs, p, 2);
    OK(fs_lookup(fs, p, "..", &b));
    ck_assert_uint_eq(b.ino, FS_ROOT_INO);
    ck_assert_uint_eq(b.handle_gen, 0); /* the kernel made the root with 0 */
    OK(fs_lookup(fs, FS_ROOT_INO, ".", &b));
    ck_assert_uint_eq(b.handle_gen, 0);

    /* The generation is the inode's for life: after a remount too. */
    reopen();
    OK(fs_lookup(fs, a.ino, ".", &b));
    ck_assert_uint_eq(b.handle_gen, a.handle_gen);
    fs_forget(fs, a.ino, 1);
    OK(fs_getattr(fs, a.ino, &b));
    ck_assert_uint_eq(b.handle_gen, a.handle_gen);

    /* Unlinked while open: no handle reaches it; deleted: nor. */
    bool keep;
    OK(fs_open_file(fs, a.ino, O_RDONLY, &keep));
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    EXPECT(fs_lookup(fs, a.ino, ".", &b), -ENOENT);
    OK(fs_release(fs, a.ino));
    EXPECT(fs_lookup(fs, a.ino, ".", &b), -ENOENT);
    ck_assert(!fs_is_known(fs, a.ino));
    OK(fs_rmdir(fs, p, "d"));
    EXPECT(fs_lookup(fs, d, ".", &b), -ENOENT);
    EXPECT(fs_lookup(fs, d, "..", &b), -ENOENT);
    EXPECT(fs_lookup(fs, 999999, ".", &b), -ENOENT);
    EXPECT(fs_lookup(fs, FS_SUPER_OID, ".", &b), -ENOENT);
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

/* The wall clock, which fs/ stamps times with, in ns. */
static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The latest time of d1 and d2 so far; returns once the clock has passed
 * it, so that whatever changes next is stamped later. */
static int64_t mark(uint64_t d1, uint64_t d2)
{
    struct fs_attr a = attr(d1), b = attr(d2);
    int64_t t = a.mtime_ns > b.mtime_ns ? a.mtime_ns : b.mtime_ns;
    t = a.ctime_ns > t ? a.ctime_ns : t;
    t = b.ctime_ns > t ? b.ctime_ns : t;
    double end = proc_now() + 5;
    while (realtime_ns() <= t && proc_now() < end)
        proc_sleep_ms(1);
    ck_assert_msg(realtime_ns() > t, "the wall clock stays behind a time it stamped");
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
    OK(fs_rename(fs, &ctx, d1, "f", d2, "h", 0));
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

static Suite *fs_names_suite(void)
{
    Suite *s = suite_create("fs-names");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, create_and_lookup);
    tcase_add_test(tc, name_limits);
    tcase_add_test(tc, dot_names);
    tcase_add_test(tc, mknod_types);
    tcase_add_test(tc, symlink_readlink);
    tcase_add_test(tc, readlink_size_zero);
    tcase_add_test(tc, hard_links);
    tcase_add_test(tc, unlink_rmdir_errors);
    tcase_add_test(tc, lookup_counts);
    tcase_add_test(tc, handle_lookups);
    tcase_add_test(tc, nlink_dirs);
    tcase_add_test(tc, setgid_inheritance);
    tcase_add_test(tc, dir_times);
    return s;
}

TEST_MAIN(fs_names_suite)
