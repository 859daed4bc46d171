/*
 * test_fs_orphan.c - the POSIX model of fs/ called directly, without a mount:
 * inodes unlinked while open (kept until released or until the
 * filesystem closes), large ones reclaimed in several transactions, and
 * orphans left by a process that crashed (reclaimed by the next open) or that
 * still lives (kept).
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

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
    OK(fs_rename(fs, &ctx, FS_ROOT_INO, "w", FS_ROOT_INO, "v", 0));
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
    ck_assert_msg(res->ready && res->err == 0, "child failed: %d (%s)", res->err,
                  test_ename(res->err));
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

static Suite *fs_orphan_suite(void)
{
    Suite *s = suite_create("fs-orphan");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, unlinked_but_open);
    tcase_add_test(tc, unlinked_open_and_looked_up);
    tcase_add_test(tc, unlinked_open_at_close);
    tcase_add_test(tc, crash_orphan_exit);
    tcase_add_test(tc, crash_orphan_kill);
    tcase_add_test(tc, orphan_of_live_process_kept);
    TCase *small = fs_tcase(s, "small-blocks", setup_small, 120);
    tcase_add_test(small, reclaim_many_blocks);
    return s;
}

TEST_MAIN(fs_orphan_suite)
