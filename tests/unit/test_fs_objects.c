/*
 * test_fs_objects.c - /.ghostfs/objects in the POSIX model of fs/, called
 * directly, without a mount (ctl_objects.c): names looked up on demand and
 * never listed; every name that is not a decimal OID (with ".json" or
 * not) of an existing object is ENOENT; the files' inode numbers (bit 63,
 * OID and OID.json apart, the largest OID that has one, EOVERFLOW past
 * it); a document is what inspect_object writes, made at open, fixed for
 * that open, with what this process buffers committed first; read at any
 * offset; SEEK_DATA and SEEK_HOLE see its length; every change refused; a document past the cap cut
 * and saying so (text) or replaced by a short valid one (JSON); an object removed between lookup
 * and open is ENOENT.
 *
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h" /* the numbers, and the cap the test makes small */
#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "inspect.h"
#include "util.h"

/* The inode of /.ghostfs/objects (looked up, not assumed). */
static uint64_t objs_dir(void)
{
    struct fs_attr a;
    OK(fs_ctl_lookup(fs, FS_ROOT_INO, FS_CTL_NAME, &a));
    uint64_t ctl = a.ino;
    OK(fs_ctl_lookup(fs, ctl, "objects", &a));
    ck_assert(S_ISDIR(a.mode));
    ck_assert(fs_ctl_owns(fs, a.ino));
    OK(fs_ctl_lookup(fs, a.ino, "..", &a));
    ck_assert_uint_eq(a.ino, ctl);
    OK(fs_ctl_lookup(fs, ctl, "objects", &a));
    return a.ino;
}

/* The lookup of name in objects/: 0 (its file's number in *ino, if not
 * NULL) or a negative errno. */
static int obj_file(const char *name, uint64_t *ino)
{
    struct fs_attr a;
    int e = fs_ctl_lookup(fs, objs_dir(), name, &a);
    if (e)
        return e;
    ck_assert(S_ISREG(a.mode));
    ck_assert_uint_eq(a.mode & 07777, 0400);
    ck_assert_uint_eq(a.size, 0);
    if (ino)
        *ino = a.ino;
    return 0;
}

/* The number of name's file in objects/ (it must be there). */
static uint64_t obj_ino(const char *name)
{
    uint64_t ino = 0;
    int e = obj_file(name, &ino);
    ck_assert_msg(e == 0, "lookup of objects/%s: %s", name, test_ename(e));
    return ino;
}

/* The whole document of name, read in pieces of piece bytes (the caller
 * frees it); *len its length. */
static char *read_doc(const char *name, size_t piece, size_t *len)
{
    uint64_t ino = obj_ino(name);
    struct fs_ctl_doc *doc;
    OK(fs_ctl_open(fs, ino, O_RDONLY, &doc));
    ck_assert_ptr_nonnull(doc);
    char *out = NULL;
    size_t n = 0;
    for (;;) {
        out = realloc(out, n + piece + 1);
        ck_assert_ptr_nonnull(out);
        ssize_t got = fs_ctl_read(fs, ino, doc, out + n, piece, n);
        ck_assert_int_ge(got, 0);
        if (got == 0)
            break;
        n += (size_t)got;
    }
    out[n] = 0;
    fs_ctl_release(fs, doc);
    *len = n;
    return out;
}

/* What inspect_object writes for oid now (the caller frees it). */
static char *inspected(uint64_t oid, enum inspect_style style)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    OK(inspect_object(fs, oid, style, f, NULL));
    fclose(f);
    return buf;
}

START_TEST(names)
{
    struct listing l = {0};
    char name[64];
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    OK(fs_flush(fs, f));
    uint64_t od = objs_dir();
    /* Listed: nothing but "." and "..". */
    OK(fs_ctl_opendir(fs, od));
    OK(fs_ctl_readdir(fs, od, 0, false, collect, &l));
    ck_assert_uint_eq(l.n, 2);
    ck_assert_uint_eq(find_entry(&l, ".")->ino, od);
    ck_assert_ptr_nonnull(find_entry(&l, ".."));
    listing_free(&l);
    memset(&l, 0, sizeof l);
    OK(fs_ctl_readdir(fs, od, 0, true, collect, &l));
    ck_assert_uint_eq(l.n, 2);
    listing_free(&l);

    /* Good names: two files per object, numbers apart from the live tree. */
    snprintf(name, sizeof name, "%llu", (unsigned long long)f);
    uint64_t text = obj_ino(name);
    snprintf(name, sizeof name, "%llu.json", (unsigned long long)f);
    uint64_t json = obj_ino(name);
    ck_assert_uint_ne(text, json);
    ck_assert(text & CTL_BIT && json & CTL_BIT);
    ck_assert(fs_ctl_owns(fs, text));
    OK(obj_file("1", NULL));      /* the root */
    OK(obj_file("2.json", NULL)); /* the superblock */
    OK(obj_file("3", NULL));      /* the orphan list: a map, no object */
    struct fs_attr a;
    OK(fs_ctl_getattr(fs, text, &a));
    ck_assert_uint_eq(a.ino, text);
    EXPECT(fs_ctl_opendir(fs, text), -ENOTDIR);

    /* Bad names. */
    static const char *const bad[] = {"",
                                      "x",
                                      "0",
                                      "00",
                                      "01",
                                      "+1",
                                      "-1",
                                      " 1",
                                      "1 ",
                                      "1x",
                                      "0x1",
                                      "1e3",
                                      ".json",
                                      "0.json",
                                      "1.JSON",
                                      "1.json.json",
                                      "1json",
                                      "9223372036854775808",  /* GHOST_OID_MAX + 1 */
                                      "18446744073709551615", /* 2^64 - 1 */
                                      "18446744073709551616", /* 2^64: overflow */
                                      "99999999999999999999999",
                                      "999999",
                                      "9223372036854775807"}; /* the largest OID, no object */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(obj_file(bad[i], NULL) == -ENOENT, "objects/'%s': %s", bad[i],
                      test_ename(obj_file(bad[i], NULL)));
    EXPECT(fs_ctl_lookup(fs, od, long_name(255, '1'), &a), -ENOENT);
}
END_TEST

/* The numbers hold OIDs up to CTL_OBJ_OID_MAX; an object past it is
 * EOVERFLOW, one with no number ENOENT. */
START_TEST(largest_oid)
{
    struct ghost_txn *t;
    OK(ghost_txn_begin(fs_store(fs), &t));
    OK(ghost_obj_put(t, CTL_OBJ_OID_MAX, 7, "x", 1));
    OK(ghost_obj_put(t, CTL_OBJ_OID_MAX + 1, 7, "y", 1));
    OK(ghost_txn_commit(t));
    char name[64];
    snprintf(name, sizeof name, "%llu.json", (unsigned long long)CTL_OBJ_OID_MAX);
    uint64_t ino = obj_ino(name);
    ck_assert_uint_eq(ino, CTL_BIT | CTL_OBJ_BIT | CTL_OBJ_OID_MAX << 1 | 1);
    size_t len;
    char *doc = read_doc(name, 4096, &len);
    ck_assert_ptr_nonnull(strstr(doc, "\"kind\":\"unknown\",\"object_type\":7"));
    free(doc);
    snprintf(name, sizeof name, "%llu", (unsigned long long)CTL_OBJ_OID_MAX + 1);
    EXPECT(obj_file(name, NULL), -EOVERFLOW);
    snprintf(name, sizeof name, "%llu", (unsigned long long)CTL_OBJ_OID_MAX + 2);
    EXPECT(obj_file(name, NULL), -ENOENT);
}
END_TEST

START_TEST(documents)
{
    char name[64];
    size_t len, len2;
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    write_pat(f, 0, 5000, 1); /* buffered: committed when the document is made */
    snprintf(name, sizeof name, "%llu", (unsigned long long)f);
    char *text = read_doc(name, 4096, &len);
    char *want = inspected(f, INSPECT_TEXT);
    ck_assert_str_eq(text, want);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_ptr_nonnull(strstr(text, "\nkind         file\n"));
    ck_assert_ptr_nonnull(strstr(text, "\npath         /d/f\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsize         5000\n"));
    char links[64];
    snprintf(links, sizeof links, "\n  in %llu as f\n", (unsigned long long)d);
    ck_assert_ptr_nonnull(strstr(text, links));
    /* Read in small pieces: the same bytes. */
    char *small = read_doc(name, 3, &len2);
    ck_assert_str_eq(small, text);
    free(small);
    free(want);
    free(text);

    snprintf(name, sizeof name, "%llu.json", (unsigned long long)f);
    char *json = read_doc(name, 4096, &len);
    want = inspected(f, INSPECT_JSON);
    ck_assert_str_eq(json, want);
    ck_assert(!strncmp(json, "{\"format\":1,", 12));
    free(want);
    free(json);
}
END_TEST

/* Fixed at open: a change after it is seen by the next open only. */
START_TEST(fixed_at_open)
{
    char name[64];
    size_t len;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_flush(fs, f));
    snprintf(name, sizeof name, "%llu", (unsigned long long)f);
    uint64_t ino = obj_ino(name);
    struct fs_ctl_doc *doc;
    OK(fs_ctl_open(fs, ino, O_RDONLY, &doc));
    char before[8192];
    ssize_t n = fs_ctl_read(fs, ino, doc, before, sizeof before - 1, 0);
    ck_assert_int_gt(n, 0);
    before[n] = 0;
    write_pat(f, 0, 100, 2);
    OK(fs_flush(fs, f));
    char again[8192];
    EXPECT(fs_ctl_read(fs, ino, doc, again, sizeof again, 0), n);
    ck_assert(!memcmp(before, again, (size_t)n));
    EXPECT(fs_ctl_read(fs, ino, doc, again, sizeof again, (uint64_t)n), 0);
    EXPECT(fs_ctl_read(fs, ino, doc, again, sizeof again, UINT64_MAX), 0);
    /* Seeking sees the document's length, not getattr's 0: all data. */
    EXPECT(fs_ctl_lseek(fs, ino, doc, 0, SEEK_DATA), 0);
    EXPECT(fs_ctl_lseek(fs, ino, doc, 5, SEEK_HOLE), n);
    EXPECT(fs_ctl_lseek(fs, ino, doc, n, SEEK_DATA), -ENXIO);
    fs_ctl_release(fs, doc);
    char *now = read_doc(name, 4096, &len);
    ck_assert_ptr_nonnull(strstr(before, "\nsize         0\n"));
    ck_assert_ptr_nonnull(strstr(now, "\nsize         100\n"));
    ck_assert_str_ne(now, before);
    free(now);
    /* Removed between lookup and open: ENOENT from then on. */
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    fs_forget(fs, f, 1); /* mknod's lookup: the last reference, the inode goes */
    ck_assert(!obj_exists(f));
    EXPECT(fs_ctl_open(fs, ino, O_RDONLY, &doc), -ENOENT);
    ck_assert_ptr_null(doc);
    struct fs_attr a;
    EXPECT(fs_ctl_getattr(fs, ino, &a), -ENOENT);
    EXPECT(obj_file(name, NULL), -ENOENT);
}
END_TEST

START_TEST(refusals)
{
    struct fs_attr a;
    struct fs_ctl_doc *doc;
    uint64_t od = objs_dir();
    uint64_t ino = obj_ino("1");
    EXPECT(fs_ctl_open(fs, ino, O_WRONLY, &doc), -EROFS);
    EXPECT(fs_ctl_open(fs, ino, O_RDWR, &doc), -EROFS);
    EXPECT(fs_ctl_open(fs, ino, O_RDONLY | O_TRUNC, &doc), -EROFS);
    EXPECT(fs_ctl_open(fs, od, O_RDONLY, &doc), -EISDIR);
    EXPECT(fs_ctl_refuse(fs, od, "5", true), -EROFS);
    EXPECT(fs_ctl_refuse(fs, od, "1", false), -EROFS);
    EXPECT(fs_ctl_refuse(fs, ino, NULL, false), -EROFS);
    EXPECT(fs_ctl_mkdir(fs, od, "x", &a), -EROFS);
    EXPECT(fs_ctl_rmdir(fs, od, "x"), -EROFS);
    char buf[8];
    EXPECT(fs_ctl_readlink(fs, ino, buf, sizeof buf), -EINVAL);
    EXPECT(fs_ctl_getxattr(fs, ino, "user.x", buf, sizeof buf), -ENODATA);
}
END_TEST

/* Past the cap: text is cut and ends saying so; JSON is a short valid
 * document saying so. */
START_TEST(cap)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    for (int i = 0; i < 40; i++) {
        char n[32];
        snprintf(n, sizeof n, "entry-%02d", i);
        OK(fs_flush(fs, mkfile(d, n)));
    }
    fs->ctl->doc_max = 512;
    char name[64];
    size_t len;
    snprintf(name, sizeof name, "%llu", (unsigned long long)d);
    char *text = read_doc(name, 100, &len);
    char *whole = inspected(d, INSPECT_TEXT);
    ck_assert_uint_gt(strlen(whole), 512);
    ck_assert(!strncmp(text, whole, 512));
    ck_assert_ptr_nonnull(strstr(text + 512, "[truncated: the document is over 512 bytes"));
    ck_assert_uint_lt(len, 512 + 160);
    free(text);
    free(whole);
    snprintf(name, sizeof name, "%llu.json", (unsigned long long)d);
    char *json = read_doc(name, 100, &len);
    char want[128];
    snprintf(want, sizeof want, "{\"format\":1,\"oid\":%llu,\"truncated\":true,\"bytes_max\":512,",
             (unsigned long long)d);
    ck_assert_msg(!strncmp(json, want, strlen(want)), "%s", json);
    ck_assert(json[len - 1] == '\n' && json[len - 2] == '}');
    free(json);
    /* A small document is whole under the same cap. */
    uint64_t f = mkfile(d, "zz");
    OK(fs_flush(fs, f));
    fs->ctl->doc_max = 64 << 10;
    snprintf(name, sizeof name, "%llu", (unsigned long long)f);
    text = read_doc(name, 100, &len);
    ck_assert_ptr_null(strstr(text, "[truncated"));
    free(text);
}
END_TEST

static Suite *fs_objects_suite(void)
{
    Suite *s = suite_create("fs-objects");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, names);
    tcase_add_test(tc, largest_oid);
    tcase_add_test(tc, documents);
    tcase_add_test(tc, fixed_at_open);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, cap);
    return s;
}

TEST_MAIN(fs_objects_suite)
