/*
 * test_fs_lost.c - what the filesystem makes of a record the store lost
 * (fs/damage.c): a block lost from a file with no holes reads as EIO, not
 * as zeros, and a partial write over it fails rather than fill it with
 * zeros; a hole still reads as zeros; a directory that lost an entry fails
 * its listing with EIO instead of showing fewer names; an entry whose inode
 * was lost fails lookup and readdirplus with EIO instead of ENOENT; a lost
 * attribute fails getxattr and listxattr; and the rest of the filesystem
 * stays readable.
 *
 * Records are taken out with LMDB itself (forge.h) while the store is
 * closed, as a damaged page would leave them: gone without a trace.
 * The fixture and the helpers are fs_util.c's (see fs_util.h).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forge.h"
#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "util.h"

static void lose_block(uint64_t ino, uint64_t index)
{
    unsigned char k[8];
    be64_put(k, index);
    close_fs();
    forge_lose_key(path, ino, FS_MAP_DATA, k, sizeof k);
    open_fs();
}

static int ignore(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off)
{
    (void)arg, (void)name, (void)a, (void)next_off;
    return 0;
}

static unsigned char buf[1 << 20];

START_TEST(lost_block_is_eio)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "dense");
    write_pat(f, 0, 3 * bs + 100, 1);
    OK(fs_release(fs, f));
    lose_block(f, 1);
    check_range(f, 0, bs, 1); /* the blocks it still has read back */
    check_range(f, 2 * bs, bs + 100, 1);
    EXPECT(fs_read(fs, f, buf, bs, bs), -EIO);
    EXPECT(fs_read(fs, f, buf, 3 * bs, 0), -EIO);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "block 1 is missing"));
    /* No hole to show either: a copy that skips holes would copy zeros. */
    EXPECT(fs_lseek(fs, f, bs, SEEK_HOLE), 3 * (int64_t)bs + 100);
    EXPECT(fs_lseek(fs, f, bs, SEEK_DATA), (int64_t)bs);

    /* A write of part of the lost block would have to keep the rest of
     * it: it fails instead of making it zeros. */
    EXPECT(fs_write(fs, f, "x", 1, bs + 10, false), 1);
    EXPECT(fs_flush(fs, f), -EIO);
    fs_release(fs, f);
    check_range(f, 0, bs, 1);
}
END_TEST

/* A file with holes reads them as zeros; what it lost there a read cannot
 * tell, and a check of its blocks can. */
START_TEST(holes_stay_holes)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "sparse");
    write_pat(f, 0, bs, 1);
    write_pat(f, 2 * bs, bs, 2);
    write_pat(f, 4 * bs, bs, 3);
    OK(fs_release(fs, f));
    check_range(f, bs, bs, -1);
    check_range(f, 3 * bs, bs, -1);
    lose_block(f, 2);
    check_range(f, 2 * bs, bs, -1); /* the limit: reads as a hole */
    check_range(f, 4 * bs, bs, 3);
    struct ghost_txn *t;
    OK(ghost_txn_begin(fs_store(fs), &t));
    EXPECT(ghost_map_check(t, f, FS_MAP_DATA, NULL), -GHOST_ECORRUPT);
    ghost_txn_abort(t);
}
END_TEST

START_TEST(lost_entry_fails_listing)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "f%d", i);
        mkfile(d, name);
    }
    uint64_t other = mkdir_(FS_ROOT_INO, "other");
    mkfile(other, "fine");
    unsigned char k[64];
    size_t klen = forge_dirent_key(k, "f3");
    close_fs();
    forge_lose_key(path, d, FS_MAP_DIRENT, k, klen);
    open_fs();
    EXPECT(fs_readdir(fs, d, 0, false, ignore, NULL), -EIO);
    EXPECT(fs_readdir(fs, d, 0, true, ignore, NULL), -EIO);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "tally counts 5"));
    struct listing l;
    list_all(other, true, &l); /* the rest lists as before */
    ck_assert_uint_eq(l.n, 3);
    listing_free(&l);
    ck_assert_int_gt(ino_of(d, "f2"), 0);
}
END_TEST

/* Takes two entries a call, as a small reply buffer would. */
static int take_two(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off)
{
    int *n = arg;
    (void)name, (void)a;
    if (*n == 2)
        return 1;
    ++*n;
    return 0;
}

/* Read a listing in calls of two entries through one handle's count. */
static int list_counted(uint64_t dir, struct fs_listing *l)
{
    uint64_t off = 0;
    for (int calls = 0; calls < 100; calls++) {
        int n = 0;
        int e = fs_readdir_at(fs, dir, off, false, take_two, &n, l);
        if (e || n == 0)
            return e;
        off = l->next_off;
    }
    return -ELOOP;
}

/* A listing counted through its handle: an intact directory is not read
 * again (its count agrees), a damaged one fails at its end, and a listing
 * that seeks is checked by reading the directory again. */
START_TEST(counted_listing)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d"), ok = mkdir_(FS_ROOT_INO, "ok");
    char name[16];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "f%d", i);
        mkfile(d, name);
        mkfile(ok, name);
    }
    struct fs_listing l = {0};
    OK(list_counted(ok, &l));
    ck_assert(l.counting);
    ck_assert_uint_eq(l.seen, 9);
    unsigned char k[64];
    size_t klen = forge_dirent_key(k, "f4");
    close_fs();
    forge_lose_key(path, d, FS_MAP_DIRENT, k, klen);
    open_fs();
    EXPECT(list_counted(d, &l), -EIO); /* as soon as a round reaches the end */
    OK(list_counted(ok, &l));
    /* A seek: no longer counted, the end reads the directory again. */
    l = (struct fs_listing){.next_off = 2, .seen = 0, .counting = true};
    EXPECT(fs_readdir_at(fs, d, 3, false, ignore, NULL, &l), -EIO);
    ck_assert(!l.counting);
}
END_TEST

START_TEST(lost_inode_is_eio)
{
    uint64_t d = mkdir_(FS_ROOT_INO, "d");
    uint64_t f = mkfile(d, "gone");
    uint64_t g = mkfile(d, "kept");
    close_fs();
    forge_lose_object(path, f);
    open_fs();
    struct fs_attr a;
    EXPECT(fs_lookup(fs, d, "gone", &a), -EIO);
    ck_assert_ptr_nonnull(strstr(ghost_errmsg(), "which the store does not hold"));
    EXPECT(fs_readdir(fs, d, 0, true, ignore, NULL), -EIO);
    OK(fs_lookup(fs, d, "kept", &a));
    ck_assert_uint_eq(a.ino, g);
    fs_forget(fs, g, 1);
    EXPECT(fs_lookup(fs, d, "never", &a), -ENOENT);
}
END_TEST

START_TEST(lost_xattr_is_eio)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f"), g = mkfile(FS_ROOT_INO, "g");
    OK(fs_setxattr(fs, f, "user.a", "1", 1, 0));
    OK(fs_setxattr(fs, f, "user.b", "2", 1, 0));
    close_fs();
    forge_lose_key(path, f, FS_MAP_XATTR, "user.b", 6);
    open_fs();
    char v[8];
    EXPECT(fs_getxattr(fs, f, "user.a", v, sizeof v), 1);
    EXPECT(fs_getxattr(fs, f, "user.b", v, sizeof v), -EIO);
    EXPECT(fs_getxattr(fs, f, "user.never", v, sizeof v), -EIO); /* cannot tell which */
    EXPECT(fs_listxattr(fs, f, v, sizeof v), -EIO);
    EXPECT(fs_getxattr(fs, g, "user.never", v, sizeof v), -ENODATA); /* none: none lost */
}
END_TEST

/* An inode unlinked between the two reads of a lookup is a race, not
 * damage: ENOENT. */
START_TEST(unlinked_is_not_lost)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_unlink(fs, FS_ROOT_INO, "f"));
    struct fs_attr a;
    EXPECT(fs_lookup(fs, FS_ROOT_INO, "f", &a), -ENOENT);
    (void)f;
    fsck();
}
END_TEST

static Suite *fs_lost_suite(void)
{
    Suite *s = suite_create("fs-lost");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, lost_block_is_eio);
    tcase_add_test(tc, holes_stay_holes);
    tcase_add_test(tc, lost_entry_fails_listing);
    tcase_add_test(tc, counted_listing);
    tcase_add_test(tc, lost_inode_is_eio);
    tcase_add_test(tc, lost_xattr_is_eio);
    tcase_add_test(tc, unlinked_is_not_lost);
    return s;
}

TEST_MAIN(fs_lost_suite)
