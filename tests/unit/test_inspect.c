/*
 * test_inspect.c - one object decoded (fs/inspect.c) and the read-only
 * system.ghostfs.* attributes (fs/inspect_xattr.c), without a mount: every
 * kind of object as text and JSON (attributes, entries, blocks, target,
 * links, attribute names, the superblock, the orphan list), long listings
 * cut at INSPECT_LIST_MAX with the rest counted, names of any bytes, the
 * generation, damage reported by name (a lost entry, a lost block), paths
 * resolved, every bad input, and the checksum attribute's reads bounded
 * (attribute values, uncounted links). That the JSON parses is checked by
 * tests/mount/inspect.sh with a real parser.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "forge.h"
#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "inspect.h"
#include "util.h"

static char *out; /* the last inspection's output (freed by the next) */

/* Inspect oid as style; the output in out, the result returned. */
static int insp(uint64_t oid, enum inspect_style style, bool *damaged)
{
    size_t size = 0;
    free(out);
    out = NULL;
    FILE *f = open_memstream(&out, &size);
    ck_assert_ptr_nonnull(f);
    bool d = false;
    int e = inspect_object(fs, oid, style, f, &d);
    fclose(f);
    if (damaged)
        *damaged = d;
    return e;
}

static void has(const char *want)
{
    ck_assert_msg(strstr(out, want), "output lacks \"%s\"; it is:\n%s", want, out);
}

static void lacks(const char *unwanted)
{
    ck_assert_msg(!strstr(out, unwanted), "output has \"%s\"; it is:\n%s", unwanted, out);
}

/* Decoded, undamaged, as text and as JSON. */
static void both_ok(uint64_t oid, const char *text, const char *json)
{
    bool d = true;
    OK(insp(oid, INSPECT_TEXT, &d));
    ck_assert_msg(!d, "oid %" PRIu64 " found damaged:\n%s", oid, out);
    has(text);
    has("checksum     ok\n");
    OK(insp(oid, INSPECT_JSON, &d));
    ck_assert(!d);
    has(json);
    has("{\"format\":1,");
    has("\"checksum\":{\"state\":\"ok\",\"problems\":[],\"unchecked\":[]}");
    ck_assert_msg(out[strlen(out) - 2] == '}', "the document does not end: %s", out);
}

static uint64_t generation_of(uint64_t oid)
{
    struct ghost_txn *t;
    uint64_t gen = 0;
    OK(ghost_txn_begin(fs_store(fs), &t));
    OK(ghost_obj_generation(t, oid, &gen));
    ghost_txn_abort(t);
    return gen;
}

START_TEST(each_kind)
{
    char want[256];
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t small = mkfile(d, "small");
    write_pat(small, 0, 100, 1);
    OK(fs_flush(fs, small));
    uint64_t big = mkfile(d, "big");
    write_pat(big, 0, 3 * fs_block_size(fs) - 10, 2);
    OK(fs_flush(fs, big));
    OK(fs_setxattr(fs, big, "user.colour", "blue", 4, 0));
    struct fs_attr a;
    OK(fs_link(fs, big, FS_ROOT_INO, "hard", &a));
    OK(fs_symlink(fs, &ctx, "../small", d, "sym", &a));
    uint64_t sym = a.ino;
    OK(fs_mknod(fs, &ctx, d, "null", S_IFCHR | 0666, makedev(1, 3), &a));
    uint64_t dev = a.ino;
    OK(fs_mknod(fs, &ctx, d, "pipe", S_IFIFO | 0600, 0, &a));
    uint64_t pipe = a.ino;

    both_ok(FS_ROOT_INO, "kind         directory\n", "\"kind\":\"directory\"");
    has("\"path\":\"/\"");
    has("\"entries\":{\"total\":2,\"omitted\":0,");
    snprintf(want, sizeof want, "{\"oid\":%" PRIu64 ",\"kind\":\"directory\",\"name\":\"d\"}", d);
    has(want);

    both_ok(d, "kind         directory\n", "\"parent\":1,");
    has("\"path\":\"/d\"");
    snprintf(want, sizeof want, "{\"oid\":%" PRIu64 ",\"kind\":\"symlink\",\"name\":\"sym\"}", sym);
    has(want);
    has("\"kind\":\"char-device\",\"name\":\"null\"");
    has("\"kind\":\"fifo\",\"name\":\"pipe\"");
    has("\"links\":{\"total\":1,\"omitted\":0,\"listed\":[{\"parent\":1,\"name\":\"d\"}]}");

    both_ok(small, "data         0 blocks of 65536 bytes, 100 bytes stored (inline",
            "\"data\":{\"inline\":true,\"blocks\":0,\"block_size\":65536,\"bytes_stored\":100}");
    has("\"size\":100,");
    has("\"mode_octal\":\"100644\"");

    both_ok(big, "data         3 blocks of 65536 bytes", "\"kind\":\"file\"");
    snprintf(want, sizeof want, "\"blocks\":3,\"block_size\":65536,\"bytes_stored\":%u",
             3 * fs_block_size(fs) - 10);
    has(want);
    has("\"links\":{\"total\":2,");
    has("{\"parent\":1,\"name\":\"hard\"}");
    snprintf(want, sizeof want, "{\"parent\":%" PRIu64 ",\"name\":\"big\"}", d);
    has(want);
    has("\"xattrs\":{\"total\":1,\"omitted\":0,\"listed\":[{\"size\":4,\"name\":\"user.colour\"}]}");
    OK(insp(big, INSPECT_TEXT, NULL));
    has("  user.colour (4 bytes)\n");
    has("  in 1 as hard\n");
    has("nlink        2\n");

    both_ok(sym, "target       ../small\n", "\"target\":\"../small\"");
    has("\"kind\":\"symlink\"");
    both_ok(dev, "rdev         1:3\n", "\"kind\":\"char-device\"");
    snprintf(want, sizeof want, "\"rdev\":%llu,", (unsigned long long)makedev(1, 3));
    has(want);
    both_ok(pipe, "kind         fifo\n", "\"mode_octal\":\"10600\"");

    both_ok(FS_SUPER_OID, "kind         superblock\n",
            "\"superblock\":{\"version\":1,\"block_size\":65536,\"inline_max\":1024}");
    lacks("\"attributes\"");
    fsck();
}
END_TEST

/* The generation is the one that last wrote the record, and moves on. */
START_TEST(generations)
{
    char want[128];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    uint64_t g1 = generation_of(f);
    ck_assert_uint_gt(g1, 0);
    OK(insp(f, INSPECT_JSON, NULL));
    snprintf(want, sizeof want, "\"generation\":%" PRIu64 ",", g1);
    has(want);
    mkfile(FS_ROOT_INO, "other"); /* the store moves on, f does not */
    ck_assert_uint_eq(generation_of(f), g1);
    OK(fs_setxattr(fs, f, "user.x", "1", 1, 0));
    uint64_t g2 = generation_of(f);
    ck_assert_uint_gt(g2, g1);
    OK(insp(f, INSPECT_TEXT, NULL));
    snprintf(want, sizeof want, "generation   %" PRIu64 " (the store is at ", g2);
    has(want);
    struct ghost_txn *t;
    OK(ghost_txn_begin(fs_store(fs), &t));
    EXPECT(ghost_obj_generation(t, 999999, &g2), -ENOENT);
    EXPECT(ghost_obj_generation(t, 0, &g2), -EINVAL);
    ghost_txn_abort(t);
}
END_TEST

/* Names of any bytes: valid UTF-8 as it is, other bytes escaped, and the
 * exact bytes in hex beside a JSON string that cannot say them. */
START_TEST(names_escaped)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    mkfile(d, "caf\xc3\xa9");
    mkfile(d, "bad\xff\nname");
    mkfile(d, "q\"uote\\");
    both_ok(d, "  caf\xc3\xa9 -> ", "\"name\":\"caf\xc3\xa9\"}");
    has("\"name\":\"bad\\u00ff\\nname\",\"name_hex\":\"626164ff0a6e616d65\"}");
    has("\"name\":\"q\\\"uote\\\\\"}");
    OK(insp(d, INSPECT_TEXT, NULL));
    has("  bad\\xff\\nname -> ");
    has("  q\"uote\\\\ -> ");
}
END_TEST

/* A directory of more entries than are listed: the rest are counted. */
START_TEST(long_listing)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    char name[32];
    for (int i = 0; i < INSPECT_LIST_MAX + 5; i++) {
        snprintf(name, sizeof name, "n%04d", i);
        mkfile(d, name);
    }
    both_ok(d, "entries      1005\n", "\"entries\":{\"total\":1005,\"omitted\":5,");
    OK(insp(d, INSPECT_TEXT, NULL));
    has("  ... and 5 more\n");
    size_t listed = 0;
    for (const char *p = out; (p = strstr(p, " -> ")); p++)
        listed++;
    ck_assert_uint_eq(listed, INSPECT_LIST_MAX);
}
END_TEST

/* The orphan list (OID 3 has a map and no object): an inode unlinked
 * while open is on it. */
START_TEST(orphan_list)
{
    struct fs_attr a;
    char want[64];
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "gone", S_IFREG | 0644, 0, &a));
    OK(fs_unlink(fs, FS_ROOT_INO, "gone"));
    both_ok(FS_ORPHAN_OID, "kind         orphan-list\n", "\"kind\":\"orphan-list\"");
    snprintf(want, sizeof want, "\"orphans\":{\"total\":1,\"omitted\":0,\"listed\":[%" PRIu64 "]}",
             a.ino);
    has(want);
    /* the orphan itself: no links, no path */
    both_ok(a.ino, "links        0\n", "\"path\":null");
    OK(fs_release(fs, a.ino));
    fs_forget(fs, a.ino, 1); /* the create's lookup: now it is reclaimed */
    EXPECT(insp(a.ino, INSPECT_TEXT, NULL), -ENOENT);
}
END_TEST

START_TEST(bad_input)
{
    uint64_t oid = 77;
    EXPECT(insp(0, INSPECT_TEXT, NULL), -EINVAL);
    EXPECT(insp(GHOST_OID_MAX + 1, INSPECT_JSON, NULL), -EINVAL);
    EXPECT(insp(999999, INSPECT_TEXT, NULL), -ENOENT);
    ck_assert_str_eq(out, ""); /* nothing written */
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "f");
    OK(inspect_resolve(fs, "/", &oid));
    ck_assert_uint_eq(oid, FS_ROOT_INO);
    OK(inspect_resolve(fs, "//d/./../d//f", &oid));
    ck_assert_uint_eq(oid, f);
    OK(inspect_resolve(fs, "/d/", &oid));
    ck_assert_uint_eq(oid, d);
    EXPECT(inspect_resolve(fs, "d/f", &oid), -EINVAL);
    EXPECT(inspect_resolve(fs, "", &oid), -EINVAL);
    EXPECT(inspect_resolve(fs, "/nope", &oid), -ENOENT);
    EXPECT(inspect_resolve(fs, "/d/f/x", &oid), -ENOTDIR);
    EXPECT(inspect_resolve(fs, long_name(300, 'a'), &oid), -EINVAL);
    char lp[400] = "/";
    strcat(lp, long_name(300, 'a'));
    EXPECT(inspect_resolve(fs, lp, &oid), -ENAMETOOLONG);
    ck_assert_uint_eq(oid, d); /* untouched by failures */
}
END_TEST

/* Damage is named, the rest still decoded, and the caller told. */
START_TEST(damage_named)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    mkfile(d, "a");
    mkfile(d, "lost");
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 3 * fs_block_size(fs), 3);
    OK(fs_flush(fs, f));
    close_fs();
    unsigned char k[300];
    forge_lose_key(path, d, FS_MAP_DIRENT, k, forge_dirent_key(k, "lost"));
    be64_put(k, 1);
    forge_lose_key(path, f, FS_MAP_DATA, k, 8);
    open_fs();

    bool dmg = false;
    OK(insp(d, INSPECT_TEXT, &dmg));
    ck_assert(dmg);
    has("checksum     damaged\n  entries: ");
    has("holds 1 keys where its tally counts 2");
    has("  a -> "); /* the rest is decoded */
    OK(insp(d, INSPECT_JSON, &dmg));
    ck_assert(dmg);
    has("\"checksum\":{\"state\":\"damaged\",\"problems\":[\"entries: ");
    OK(insp(f, INSPECT_JSON, &dmg));
    ck_assert(dmg);
    has("\"problems\":[\"blocks: ");
    has("\"blocks\":3,"); /* the tally's count: what the file should hold */

    char v[600];
    ssize_t n = fs_getxattr(fs, f, "system.ghostfs.checksum", v, sizeof v - 1);
    ck_assert_int_gt(n, 0);
    v[n] = 0;
    ck_assert_msg(!strncmp(v, "damaged: blocks: ", 17), "checksum says %s", v);
    n = fs_getxattr(fs, FS_ROOT_INO, "system.ghostfs.checksum", v, sizeof v);
    ck_assert_int_eq(n, 2);
    ck_assert(!memcmp(v, "ok", 2));
}
END_TEST

/* system.ghostfs.*: listed on every inode, read-only, the values the
 * store holds; other names unchanged. */
START_TEST(ghostfs_xattrs)
{
    char buf[512], want[64];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    struct fs_attr a;
    OK(fs_symlink(fs, &ctx, "f", FS_ROOT_INO, "l", &a));
    uint64_t inos[] = {FS_ROOT_INO, f, a.ino};
    for (size_t i = 0; i < 3; i++) {
        uint64_t ino = inos[i];
        ssize_t n = fs_listxattr(fs, ino, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        int found = 0;
        for (char *p = buf; p < buf + n; p += strlen(p) + 1)
            found += !strcmp(p, "system.ghostfs.oid") + !strcmp(p, "system.ghostfs.generation") +
                     !strcmp(p, "system.ghostfs.checksum");
        ck_assert_int_eq(found, 3);
        snprintf(want, sizeof want, "%" PRIu64, ino);
        EXPECT(fs_getxattr(fs, ino, "system.ghostfs.oid", NULL, 0), strlen(want));
        EXPECT(fs_getxattr(fs, ino, "system.ghostfs.oid", buf, sizeof buf), strlen(want));
        ck_assert(!memcmp(buf, want, strlen(want)));
        snprintf(want, sizeof want, "%" PRIu64, generation_of(ino));
        EXPECT(fs_getxattr(fs, ino, "system.ghostfs.generation", buf, sizeof buf), strlen(want));
        ck_assert(!memcmp(buf, want, strlen(want)));
        EXPECT(fs_getxattr(fs, ino, "system.ghostfs.checksum", buf, sizeof buf), 2);
        EXPECT(fs_getxattr(fs, ino, "system.ghostfs.checksum", buf, 1), -ERANGE);
    }
    EXPECT(fs_getxattr(fs, f, "system.ghostfs.nope", buf, sizeof buf), -ENODATA);
    EXPECT(fs_setxattr(fs, f, "system.ghostfs.oid", "1", 1, 0), -EOPNOTSUPP);
    EXPECT(fs_setxattr(fs, f, "system.ghostfs.new", "1", 1, 0), -EOPNOTSUPP);
    EXPECT(fs_removexattr(fs, f, "system.ghostfs.oid"), -EOPNOTSUPP);
    EXPECT(fs_setxattr(fs, f, "system.other", "1", 1, 0), -EOPNOTSUPP);
    EXPECT(fs_getxattr(fs, 999999, "system.ghostfs.oid", buf, sizeof buf), -ENOENT);
    EXPECT(fs_getxattr(fs, 999999, "system.ghostfs.checksum", buf, sizeof buf), -ENOENT);
    /* A file over 1 MiB: its blocks are not read for the attribute (a
     * getxattr, which cp -a makes, must not read the whole file), and
     * the value says so; inspect_object reads them. */
    uint64_t big = mkfile(FS_ROOT_INO, "big");
    write_pat(big, 0, (2u << 20) + 1, 5);
    OK(fs_flush(fs, big));
    ssize_t n = fs_getxattr(fs, big, "system.ghostfs.checksum", buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_str_eq(buf, "ok, unchecked: blocks: 33 keys, 2097153 bytes: not read to compare "
                          "with their tally");
    both_ok(big, "data         33 blocks", "\"blocks\":33,");

    /* ordinary names keep working beside them */
    OK(fs_setxattr(fs, f, "user.k", "v", 1, 0));
    EXPECT(fs_getxattr(fs, f, "user.k", buf, sizeof buf), 1);
    OK(fs_removexattr(fs, f, "user.k"));
    ck_assert_uint_eq(map_count(f, FS_MAP_XATTR), 0); /* nothing of them stored */
}
END_TEST

/* The checksum attribute's cost is bounded by what it reads, whatever the
 * maps: attribute values past 1 MiB are not read to compare with their
 * tally, and a map with no tally (the links) is counted only up to the cap;
 * each is said. inspect_object, with its larger caps, reads them. */
START_TEST(checksum_cost_bounded)
{
    char buf[512], name[32];
    static char val[60000];
    memset(val, 'v', sizeof val);
    uint64_t x = mkfile(FS_ROOT_INO, "x");
    for (int i = 0; i < 20; i++) { /* 1.2 MB of values */
        snprintf(name, sizeof name, "user.a%02d", i);
        OK(fs_setxattr(fs, x, name, val, sizeof val, 0));
    }
    ssize_t n = fs_getxattr(fs, x, "system.ghostfs.checksum", buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_str_eq(buf, "ok, unchecked: attributes: 20 keys, over 1048576 bytes: not read to "
                          "compare with their tally");
    both_ok(x, "xattrs       20\n", "\"xattrs\":{\"total\":20,");

    uint64_t l = mkfile(FS_ROOT_INO, "l");
    struct fs_attr a;
    for (int i = 0; i < INSPECT_XATTR_CHECK_KEYS + 6; i++) {
        snprintf(name, sizeof name, "h%04d", i);
        OK(fs_link(fs, l, FS_ROOT_INO, name, &a));
    }
    n = fs_getxattr(fs, l, "system.ghostfs.checksum", buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_str_eq(buf, "ok, unchecked: links: no tally; counted up to 1024 keys and no "
                          "further (the total is at least that)");
    both_ok(l, "links        1031\n", "\"links\":{\"total\":1031,");
}
END_TEST

static Suite *inspect_suite(void)
{
    Suite *s = suite_create("inspect");
    TCase *tc = fs_tcase(s, "core", setup, 120);
    tcase_add_test(tc, each_kind);
    tcase_add_test(tc, generations);
    tcase_add_test(tc, names_escaped);
    tcase_add_test(tc, long_listing);
    tcase_add_test(tc, orphan_list);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, damage_named);
    tcase_add_test(tc, ghostfs_xattrs);
    tcase_add_test(tc, checksum_cost_bounded);
    return s;
}

TEST_MAIN(inspect_suite)
