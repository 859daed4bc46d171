/*
 * test_fs_remount.c - the POSIX model of fs/ called directly, without a
 * mount: what a remount asks of the daemon (fs/remount.c). Going read-only
 * commits what is buffered and then refuses every write with EROFS, also
 * the ones the kernel would have stopped first; going writable again
 * works, except for a store opened read-only; the sync mode, the cache
 * and the write buffer change while files are being written. Built again
 * with FS_TEST_HOOKS (fs-remount-hooks): going read-only fails when the
 * store's sync fails.
 *
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fs_util.h"
#include "fsint.h"
#include "ghost.h"
#include "util.h"

enum { LEN = 300000 };

START_TEST(readonly_commits_buffered_writes_then_refuses)
{
    static unsigned char buf[LEN], got[LEN];
    struct fs_attr a;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    fill(buf, 0, LEN, 3);
    EXPECT(fs_write(fs, f, buf, LEN, 0, false), LEN);
    /* the fixture's flusher waits an hour: it is only buffered */
    ck_assert_uint_eq(raw_rec(f).size, 0);

    OK(fs_set_readonly(fs, true));
    ck_assert(fs_readonly(fs));
    ck_assert_uint_eq(raw_rec(f).size, LEN); /* committed by the remount */
    EXPECT(fs_write(fs, f, buf, 10, 0, false), -EROFS);
    EXPECT(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &a), -EROFS);
    EXPECT(fs_unlink(fs, FS_ROOT_INO, "f"), -EROFS);
    EXPECT(fs_read(fs, f, got, LEN, 0), LEN);
    ck_assert(memcmp(buf, got, LEN) == 0);

    /* what it committed survives a close and an open */
    reopen();
    EXPECT(fs_read(fs, f, got, LEN, 0), LEN);
    ck_assert(memcmp(buf, got, LEN) == 0);
}
END_TEST

START_TEST(writable_again)
{
    struct fs_attr a;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_set_readonly(fs, true));
    EXPECT(fs_write(fs, f, "x", 1, 0, false), -EROFS);
    OK(fs_set_readonly(fs, false));
    ck_assert(!fs_readonly(fs));
    EXPECT(fs_write(fs, f, "x", 1, 0, false), 1);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).size, 1);
    OK(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &a));
}
END_TEST

START_TEST(opened_readonly_stays_so)
{
    struct fs *ro;
    struct fs_options o;
    fs_options_init(&o);
    o.store.readonly = true;
    OK(fs_open(path, &o, &ro));
    ck_assert(fs_readonly(ro));
    EXPECT(fs_set_readonly(ro, false), -EROFS);
    ck_assert(fs_readonly(ro));
    OK(fs_set_readonly(ro, true));
    fs_close(ro);
}
END_TEST

START_TEST(live_options)
{
    static unsigned char buf[LEN], got[LEN];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    fill(buf, 0, LEN, 5);
    static const enum ghost_sync modes[] = {GHOST_SYNC_NONE, GHOST_SYNC_ALWAYS, GHOST_SYNC_BATCH,
                                            GHOST_SYNC_NONE};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        OK(fs_set_sync(fs, modes[i]));
        EXPECT(fs_write(fs, f, buf, LEN, i * LEN, false), LEN);
        OK(fs_flush(fs, f));
    }
    EXPECT(fs_set_sync(fs, (enum ghost_sync)7), -EINVAL);
    EXPECT(fs_set_cache_size(fs, 1000), -EINVAL);
    OK(fs_set_cache_size(fs, (size_t)1 << 20));
    reopen();
    for (size_t i = 0; i < 4; i++) {
        EXPECT(fs_read(fs, f, got, LEN, i * LEN), LEN);
        ck_assert(memcmp(buf, got, LEN) == 0);
    }

    /* A smaller write buffer: back-pressure commits without a flush. */
    fs_set_write_buffer(fs, (size_t)1 << 20);
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    for (uint64_t off = 0; off < ((uint64_t)4 << 20); off += LEN)
        EXPECT(fs_write(fs, g, buf, LEN, off, false), LEN);
    ck_assert_uint_gt(raw_rec(g).size, 0);
    fs_set_commit_interval(fs, 1000);
}
END_TEST

#ifdef FS_TEST_HOOKS
/* Going read-only ends with a sync of the store: when that fails, so does
 * the remount (a mount test cannot tell a sync that did not happen). */
START_TEST(readonly_fails_when_the_sync_fails)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "data", 4, 0, false), 4);
    fs_test_fault(FS_FAULT_SYNC, -EIO, 1);
    EXPECT(fs_set_readonly(fs, true), -EIO);
    ck_assert(fs_readonly(fs)); /* writes stay refused */
    EXPECT(fs_write(fs, f, "x", 1, 0, false), -EROFS);
    ck_assert_uint_eq(raw_rec(f).size, 4); /* committed before the sync */
    fs_test_fault(FS_FAULT_SYNC, 0, 0);
    OK(fs_set_readonly(fs, true)); /* again, with a sync that works */
}
END_TEST
#endif

static Suite *fs_remount_suite(void)
{
    Suite *s = suite_create("fs-remount");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, readonly_commits_buffered_writes_then_refuses);
    tcase_add_test(tc, writable_again);
    tcase_add_test(tc, opened_readonly_stays_so);
    tcase_add_test(tc, live_options);
#ifdef FS_TEST_HOOKS
    tcase_add_test(tc, readonly_fails_when_the_sync_fails);
#endif
    return s;
}

TEST_MAIN(fs_remount_suite)
