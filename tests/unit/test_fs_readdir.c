/*
 * test_fs_readdir.c - the POSIX model of fs/ called directly, without a mount:
 * readdir: every name listed once, cookies that survive changes between
 * batches, and the lookup counts readdirplus takes.
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

static Suite *fs_readdir_suite(void)
{
    Suite *s = suite_create("fs-readdir");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, readdir_lists_everything);
    tcase_add_test(tc, readdir_resume_with_changes);
    tcase_add_test(tc, readdirplus_counts_lookups);
    return s;
}

TEST_MAIN(fs_readdir_suite)
