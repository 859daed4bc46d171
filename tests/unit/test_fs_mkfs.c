/*
 * test_fs_mkfs.c - the POSIX model of fs/ called directly, without a mount:
 * mkfs, open and statfs: the root a new filesystem has, bad block sizes,
 * a store without a superblock, and what statfs reports as data is written.
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

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

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

static Suite *fs_mkfs_suite(void)
{
    Suite *s = suite_create("fs-mkfs");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, root_after_mkfs);
    tcase_add_test(tc, bad_block_size);
    tcase_add_test(tc, open_without_superblock);
    tcase_add_test(tc, statfs_sane);
    return s;
}

TEST_MAIN(fs_mkfs_suite)
