/*
 * test_fsck.c - `ghostfs fsck` (fs/fsck.c, fs/fsck_tree.c) on structural
 * damage planted by hand, which a record's checksum does not show: a lost
 * back reference (a link count its back references do not match), a lost
 * inode (a dangling entry), a lost directory entry (an unreachable inode,
 * and a directory short of its tally). Each is reported by kind with its
 * OID, fsck exits 4, and a clean store exits 0.
 *
 * fsck runs in a child with its standard output in a file, as the command
 * would; the records are taken out with LMDB itself (forge.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forge.h"
#include "fs.h"
#include "fs_util.h"
#include "fsck.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

static char out[65536];

/* Run `ghostfs fsck [--json] path`; its output into out, its exit code
 * returned. */
static int run_fsck_as(bool json)
{
    char file[4400];
    snprintf(file, sizeof file, "%s.fsck-out", path);
    pid_t pid = child_spawn();
    if (pid == 0) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0)
            child_exit(99);
        char *argv[] = {"fsck", json ? "--json" : path, path, NULL};
        child_exit(fsck_main(json ? 3 : 2, argv));
    }
    int status = child_wait(pid, 60);
    FILE *f = fopen(file, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    return status;
}

static int run_fsck(void)
{
    return run_fsck_as(false);
}

static void expect_finding(const char *kind, uint64_t oid)
{
    char want[128];
    snprintf(want, sizeof want, "%s: oid %" PRIu64, kind, oid);
    ck_assert_msg(strstr(out, want), "fsck did not report \"%s\"; it said:\n%s", want, out);
}

START_TEST(clean_store)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    mkfile(d, "f");
    close_fs();
    EXPECT(run_fsck(), 0);
    open_fs();
}
END_TEST

START_TEST(lost_backref)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    close_fs();
    unsigned char k[64];
    be64_put(k, d);
    memcpy(k + 8, "f", 1);
    forge_lose_key(path, f, FS_MAP_BACKREF, k, 9);
    EXPECT(run_fsck(), 4);
    expect_finding("wrong-backrefs", f);
    open_fs();
}
END_TEST

START_TEST(lost_inode)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    close_fs();
    forge_lose_object(path, f);
    EXPECT(run_fsck(), 4);
    expect_finding("dangling-entry", d);
    open_fs();
}
END_TEST

START_TEST(lost_entry)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    mkfile(d, "g");
    close_fs();
    unsigned char k[64];
    forge_lose_key(path, d, FS_MAP_DIRENT, k, forge_dirent_key(k, "f"));
    EXPECT(run_fsck(), 4);
    expect_finding("unreachable", f);
    expect_finding("map-short", d);
    open_fs();
}
END_TEST

/* --json writes a path in UTF-8 as it is (not byte by byte as \u00XX),
 * and a path that is not UTF-8 with its exact bytes in path_hex. */
START_TEST(json_paths)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "caf\xc3\xa9");
    uint64_t f = mkfile(d, "f");
    uint64_t g = mkfile(d, "bad\xff");
    close_fs();
    unsigned char k[64];
    be64_put(k, d);
    memcpy(k + 8, "f", 1);
    forge_lose_key(path, f, FS_MAP_BACKREF, k, 9);
    be64_put(k, d);
    memcpy(k + 8, "bad\xff", 4);
    forge_lose_key(path, g, FS_MAP_BACKREF, k, 12);
    EXPECT(run_fsck_as(true), 4);
    ck_assert_msg(strstr(out, "\"path\":\"/caf\xc3\xa9/f\",\"message\""), "%s", out);
    ck_assert_msg(strstr(out, "\"path\":\"/caf\xc3\xa9/bad\\u00ff\",\"path_hex\":"
                              "\"2f636166c3a92f626164ff\",\"message\""),
                  "%s", out);
    ck_assert_msg(!strstr(out, "\\u00c3"), "UTF-8 written byte by byte: %s", out);
    open_fs();
}
END_TEST

static Suite *fsck_suite(void)
{
    Suite *s = suite_create("fsck");
    TCase *tc = fs_tcase(s, "planted", setup, 60);
    tcase_add_test(tc, clean_store);
    tcase_add_test(tc, lost_backref);
    tcase_add_test(tc, lost_inode);
    tcase_add_test(tc, lost_entry);
    tcase_add_test(tc, json_paths);
    return s;
}

TEST_MAIN(fsck_suite)
