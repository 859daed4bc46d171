/*
 * test_fs_data.c - the POSIX model of fs/ called directly, without a mount:
 * file data through the write buffer: whether the kernel may keep its
 * pages at open, inline data to blocks, block boundaries, reads in pieces,
 * holes and SEEK_DATA/SEEK_HOLE, truncate, fallocate, copy_range, and random
 * operations checked against a model of the file.
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
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

START_TEST(open_keep_cache)
{
    bool keep = true;
    uint64_t f = mkfile(FS_ROOT_INO, "f"); /* looked up: the table keeps what it knows */
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert(!keep); /* first open: the kernel has nothing it may keep */
    OK(fs_release(fs, f));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(keep, "unchanged data, and the kernel may not keep its pages");
    write_pat(f, 0, 10, 1);
    OK(fs_release(fs, f));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(!keep, "the data changed, and the kernel may keep its pages");
    OK(fs_release(fs, f));
    struct fs_attr in = {.size = 3}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    OK(fs_open_file(fs, f, O_RDONLY, &keep));
    ck_assert_msg(!keep, "truncated, and the kernel may keep its pages");
    OK(fs_release(fs, f));
    EXPECT(fs_open_file(fs, 999999, O_RDONLY, &keep), -ENOENT);
}
END_TEST

START_TEST(write_read_through_buffer)
{
    struct fs_attr a;
    char buf[256];
    OK(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0644, O_RDWR, &a));
    uint64_t f = a.ino;
    EXPECT(fs_write(fs, f, "hello world", 11, 0, false), 11);
    /* Nothing is committed yet; reads and getattr see the buffer. */
    ck_assert_uint_eq(raw_rec(f).size, 0);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 11);
    ck_assert(!memcmp(buf, "hello world", 11));
    ck_assert_uint_eq(size_of(f), 11);
    EXPECT(fs_write(fs, f, "HELLO", 5, 0, false), 5);
    EXPECT(fs_write(fs, f, "!", 1, 20, false), 1);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 21);
    ck_assert(!memcmp(buf, "HELLO world\0\0\0\0\0\0\0\0\0!", 21));
    EXPECT(fs_read(fs, f, buf, 4, 3), 4);
    ck_assert(!memcmp(buf, "LO w", 4));
    EXPECT(fs_read(fs, f, buf, sizeof buf, 21), 0);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 1000), 0);
    EXPECT(fs_write(fs, f, "++", 2, 0, true), 2); /* append: at the end, whatever off */
    ck_assert_uint_eq(size_of(f), 23);
    ck_assert_uint_eq(raw_rec(f).size, 0);

    OK(fs_flush(fs, f));
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.size, 23);
    ck_assert_uint_eq(r.inl_len, 23);
    ck_assert(!memcmp(r.inl, "HELLO world\0\0\0\0\0\0\0\0\0!++", 23));
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 23);
    EXPECT(fs_write(fs, f, "++", 2, 0, true), 2);
    ck_assert_uint_eq(size_of(f), 25);

    /* A block file, buffered: reads merge the buffer over the store. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 200000, 5);
    ck_assert_uint_eq(raw_rec(g).size, 0);
    check_range(g, 0, 200000, 5);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).size, 200000);
    write_pat(g, 100000, 50, 9); /* a partial block over committed data */
    check_range(g, 99990, 10, 5);
    check_range(g, 100000, 50, 9);
    check_range(g, 100050, 10, 5);
    OK(fs_release(fs, f));
    OK(fs_flush(fs, g));
    uint64_t k = mkfile(FS_ROOT_INO, "k");
    write_pat(k, 0, 70000, 8); /* never flushed: fs_close commits it */
    EXPECT(fs_write(fs, k, "x", 1, (uint64_t)INT64_MAX, false), -EFBIG);
    close_fs();
    open_fs();
    ck_assert_uint_eq(size_of(k), 70000);
    check_range(k, 0, 70000, 8);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 25);
    ck_assert(!memcmp(buf, "HELLO world\0\0\0\0\0\0\0\0\0!++++", 25));
    check_range(g, 0, 100000, 5);
    check_range(g, 100000, 50, 9);
    check_range(g, 100050, 99950, 5);
    ck_assert_uint_eq(size_of(g), 200000);
    /* Reading a directory is refused. */
    EXPECT(fs_read(fs, FS_ROOT_INO, buf, sizeof buf, 0), -EISDIR);
}
END_TEST

/* A write of no bytes changes nothing: not the size, not the data, and
 * committing it must not trip over an empty buffer. */
START_TEST(empty_write)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "", 0, 0, false), 0);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(size_of(f), 0);
    EXPECT(fs_write(fs, f, "", 0, 10, true), 0);
    OK(fs_release(fs, f));
    ck_assert_uint_eq(size_of(f), 0);
}
END_TEST

START_TEST(empty_write_past_eof)
{
    char c[16];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "abc", 3, 0, false), 3);
    OK(fs_flush(fs, f));
    EXPECT(fs_write(fs, f, "", 0, 5000, false), 0);
    ck_assert_msg(size_of(f) == 3, "a 0-byte write at 5000 made the size %" PRIu64, size_of(f));
    OK(fs_flush(fs, f));
    ck_assert_msg(size_of(f) == 3, "a 0-byte write at 5000 made the size %" PRIu64, size_of(f));
    EXPECT(fs_read(fs, f, c, sizeof c, 0), 3);
}
END_TEST

/* fs_read_pieces hands out the same bytes fs_read copies: from the store's
 * pages where nothing is buffered (holes as zeros, a short last block, EOF),
 * and through a copy where writes are buffered or the file is inline. */
struct gathered {
    unsigned char *b;
    size_t len;
    int pieces, calls;
};

static void gather_pieces(void *arg, const struct iovec *iov, int n)
{
    struct gathered *g = arg;
    g->calls++;
    g->pieces = n;
    for (int i = 0; i < n; i++) {
        memcpy(g->b + g->len, iov[i].iov_base, iov[i].iov_len);
        g->len += iov[i].iov_len;
    }
}

static void expect_same(uint64_t ino, uint64_t off, size_t size)
{
    unsigned char *want = malloc(size + 1), *got = malloc(size + 1);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    ssize_t n = fs_read(fs, ino, want, size, off);
    ck_assert_int_ge(n, 0);
    struct gathered g = {.b = got};
    EXPECT(fs_read_pieces(fs, ino, size, off, gather_pieces, &g), n);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_uint_eq(g.len, (size_t)n);
    ck_assert_msg(memcmp(want, got, (size_t)n) == 0, "pieces differ at %" PRIu64 "+%zu", off, size);
    free(want);
    free(got);
}

START_TEST(read_pieces_match_read)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 100, 1); /* inline */
    expect_same(f, 0, 4096);
    expect_same(f, 50, 10);
    write_pat(f, 3 * bs + 7, bs, 2); /* blocks 3 and 4, holes before */
    expect_same(f, 0, 5 * bs);       /* buffered: copied */
    OK(fs_flush(fs, f));
    for (uint64_t off = 0; off < 5 * bs; off += bs / 3)
        expect_same(f, off, 2 * bs + 11);
    expect_same(f, 4 * bs + 8, 1 << 20); /* past EOF */
    expect_same(f, 10 * bs, 100);        /* wholly past EOF: nothing */
    struct gathered g = {.b = malloc(2 * bs)};
    EXPECT(fs_read_pieces(fs, f, 2 * bs, 0, gather_pieces, &g), 2 * bs);
    ck_assert_int_ge(g.pieces, 2); /* block 0 holds the old inline bytes, then zeros */
    free(g.b);
    write_pat(f, bs + 1, 10, 3); /* buffered again, over a hole */
    expect_same(f, 0, 3 * bs);
    expect_same(f, 2 * bs, bs); /* not overlapping the buffer: from the store */
    EXPECT(fs_read_pieces(fs, FS_ROOT_INO, 10, 0, gather_pieces, &g), -EISDIR);
}
END_TEST

START_TEST(inline_to_blocks)
{
    ck_assert_uint_le(FS_INLINE_MAX, fs_block_size(fs));
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, FS_INLINE_MAX - 1, 1);
    write_pat(f, FS_INLINE_MAX - 1, 1, 1);
    OK(fs_flush(fs, f));
    struct raw r = raw_rec(f);
    ck_assert_uint_eq(r.size, FS_INLINE_MAX);
    ck_assert_uint_eq(r.inl_len, FS_INLINE_MAX); /* at the limit it stays inline */
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    check_range(f, 0, FS_INLINE_MAX, 1);

    write_pat(f, FS_INLINE_MAX, 1, 1); /* one byte more: blocks */
    check_range(f, 0, FS_INLINE_MAX + 1, 1);
    OK(fs_flush(fs, f));
    r = raw_rec(f);
    ck_assert_uint_eq(r.size, FS_INLINE_MAX + 1);
    ck_assert_uint_eq(r.inl_len, 0);
    EXPECT(block_len(f, 0), FS_INLINE_MAX + 1);
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 1);
    check_range(f, 0, FS_INLINE_MAX + 1, 1);

    /* Inline bytes survive a write far away that turns the file into blocks. */
    uint32_t bs = fs_block_size(fs);
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 100, 2);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).inl_len, 100);
    write_pat(g, 3 * (uint64_t)bs + 5, 10, 2);
    OK(fs_flush(fs, g));
    ck_assert_uint_eq(raw_rec(g).inl_len, 0);
    ck_assert_uint_eq(map_count(g, FS_MAP_DATA), 2);
    ck_assert_int_ge(block_len(g, 0), 100);
    ck_assert_int_ge(block_len(g, 3), 15);
    check_range(g, 0, 100, 2);
    check_range(g, 100, 3 * (size_t)bs + 5 - 100, -1);
    check_range(g, 3 * (uint64_t)bs + 5, 10, 2);

    /* Inline bytes and a buffered write in block 0 past the limit, together. */
    uint64_t h = mkfile(FS_ROOT_INO, "h");
    write_pat(h, 0, 1000, 3);
    OK(fs_flush(fs, h));
    write_pat(h, 1500, 100, 3);
    OK(fs_flush(fs, h));
    check_range(h, 0, 1000, 3);
    check_range(h, 1000, 500, -1);
    check_range(h, 1500, 100, 3);

    /* Truncated to zero, a file is inline again. */
    struct fs_attr in = {.size = 0}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 0);
    write_pat(f, 0, 10, 4);
    OK(fs_flush(fs, f));
    ck_assert_uint_eq(raw_rec(f).inl_len, 10);
    check_range(f, 0, 10, 4);

    reopen();
    check_range(f, 0, 10, 4);
    check_range(g, 0, 100, 2);
    check_range(g, 3 * (uint64_t)bs + 5, 10, 2);
    check_range(h, 0, 1000, 3);
    check_range(h, 1500, 100, 3);
}
END_TEST

START_TEST(block_boundaries)
{
    uint32_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 3 * (size_t)bs, 1);
    OK(fs_flush(fs, f));
    EXPECT(block_len(f, 0), bs);
    EXPECT(block_len(f, 2), bs);
    /* Straddling each boundary, buffered then committed. */
    write_pat(f, bs - 3, 6, 2);
    write_pat(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 0, bs - 3, 1);
    check_range(f, bs - 3, 6, 2);
    check_range(f, bs + 3, bs - 4, 1);
    check_range(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 2 * (uint64_t)bs + 1, bs - 1, 1);
    OK(fs_flush(fs, f));
    check_range(f, bs - 3, 6, 2);
    check_range(f, 2 * (uint64_t)bs - 1, 2, 3);
    check_range(f, 2 * (uint64_t)bs + 1, bs - 1, 1);
    /* Exactly one block, and one byte past the end of the file. */
    write_pat(f, bs, bs, 4);
    write_pat(f, 3 * (uint64_t)bs, 1, 5);
    ck_assert_uint_eq(size_of(f), 3 * (uint64_t)bs + 1);
    OK(fs_flush(fs, f));
    EXPECT(block_len(f, 3), 1);
    check_range(f, 0, bs - 3, 1);
    check_range(f, bs, bs, 4);
    check_range(f, 3 * (uint64_t)bs, 1, 5);
    /* A read across all blocks in one call. */
    unsigned char *b = malloc(4 * (size_t)bs);
    EXPECT(fs_read(fs, f, b, 4 * (size_t)bs, 0), 3 * (size_t)bs + 1);
    ck_assert_uint_eq(b[bs - 1], pat(bs - 1, 2));
    ck_assert_uint_eq(b[bs], pat(bs, 4));
    ck_assert_uint_eq(b[3 * (size_t)bs], pat(3 * (uint64_t)bs, 5));
    free(b);
}
END_TEST

/* Random writes, flushes, truncates, punches and reads against a model of
 * the file, with files of at most max bytes. */
static void run_model(const char *name, uint64_t MAX, uint64_t rng, int steps)
{
    uint32_t bs = fs_block_size(fs);
    unsigned char *model = calloc(1, MAX + 2 * 4096);
    unsigned char *buf = malloc(MAX + 2 * 4096);
    uint64_t size = 0;
    uint64_t f = mkfile(FS_ROOT_INO, name);
#define RND(n) ((rng = rng * 6364136223846793005ull + 1442695040888963407ull), (rng >> 33) % (n))
    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)RND(100);
        if (op < 70) {
            uint64_t off = RND(MAX - 1);
            size_t len = 1 + (size_t)RND(op < 10 ? 2 * bs : (MAX < 3000 ? 100 : 300));
            if (off + len > MAX)
                len = MAX - off;
            for (size_t i = 0; i < len; i++)
                buf[i] = model[off + i] = (unsigned char)(RND(255) + 1);
            EXPECT(fs_write(fs, f, buf, len, off, false), len);
            if (off + len > size)
                size = off + len;
        } else if (op < 82) {
            OK(fs_flush(fs, f));
        } else if (op < 88) {
            uint64_t ns = RND(op < 85 ? MAX / 8 + 1 : MAX);
            struct fs_attr in = {.size = ns}, out;
            OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
            ck_assert_uint_eq(out.size, ns);
            if (ns < size)
                memset(model + ns, 0, size - ns);
            size = ns;
        } else if (op < 90) {
            uint64_t off = RND(MAX);
            uint64_t len = 1 + RND(2 * bs);
            OK(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len));
            for (uint64_t i = off; i < off + len && i < size; i++)
                model[i] = 0;
        } else {
            uint64_t off = RND(MAX);
            size_t len = 1 + (size_t)RND(3 * bs);
            ssize_t want = off >= size ? 0 : (ssize_t)(size - off < len ? size - off : len);
            EXPECT(fs_read(fs, f, buf, len, off), want);
            for (ssize_t i = 0; i < want; i++)
                ck_assert_msg(buf[i] == model[off + (size_t)i],
                              "step %d: byte %" PRIu64 " is %u, model %u", step, off + (uint64_t)i,
                              buf[i], model[off + (size_t)i]);
        }
        ck_assert_msg(size_of(f) == size, "step %d: size %" PRIu64 ", model %" PRIu64, step,
                      size_of(f), size);
    }
#undef RND
    OK(fs_flush(fs, f));
    reopen();
    ck_assert_uint_eq(size_of(f), size);
    if (size) {
        EXPECT(fs_read(fs, f, buf, MAX + 4096, 0), size);
        for (uint64_t i = 0; i < size; i++)
            ck_assert_msg(buf[i] == model[i], "after remount: byte %" PRIu64 " is %u, model %u", i,
                          buf[i], model[i]);
    }
    free(model);
    free(buf);
}

START_TEST(random_against_model)
{
    ck_assert_uint_eq(fs_block_size(fs), 4096);
    run_model("wide", 6 * 4096 + 777, 0x1234567, 600);
    run_model("inline", FS_INLINE_MAX + 300, 0xabcdef, 600); /* around the inline limit */
    run_model("two", 2 * 4096 + 3, 0x5555, 400);
}
END_TEST

START_TEST(sparse_and_seek)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 10 * bs + 5, 1, 1);
    write_pat(f, 3 * bs, bs, 2);
    /* lseek commits the buffer itself. */
    EXPECT(fs_lseek(fs, f, 0, SEEK_DATA), 3 * bs);
    ck_assert_uint_eq(size_of(f), 10 * bs + 6);
    ck_assert_uint_eq(map_count(f, FS_MAP_DATA), 2); /* holes are not stored */
    ck_assert_int_ge(block_len(f, 3), 0);
    ck_assert_int_ge(block_len(f, 10), 0);
    EXPECT(fs_lseek(fs, f, 3 * bs + 7, SEEK_DATA), 3 * bs + 7);
    EXPECT(fs_lseek(fs, f, 0, SEEK_HOLE), 0);
    EXPECT(fs_lseek(fs, f, bs + 1, SEEK_HOLE), bs + 1);
    EXPECT(fs_lseek(fs, f, 3 * bs, SEEK_HOLE), 4 * bs);
    EXPECT(fs_lseek(fs, f, 4 * bs, SEEK_DATA), 10 * bs);
    EXPECT(fs_lseek(fs, f, 10 * bs, SEEK_HOLE), 10 * bs + 6);
    EXPECT(fs_lseek(fs, f, 10 * bs + 6, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, f, 10 * bs + 6, SEEK_HOLE), -ENXIO);
    EXPECT(fs_lseek(fs, f, -1, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, f, 0, SEEK_SET), -EINVAL);
    check_range(f, 0, 3 * bs, -1);
    check_range(f, 3 * bs, bs, 2);
    check_range(f, 4 * bs, 6 * bs + 5, -1);
    check_range(f, 10 * bs + 5, 1, 1);

    /* Grown by truncate: the new tail is a hole. */
    struct fs_attr in = {.size = 20 * bs}, out;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    EXPECT(fs_lseek(fs, f, 11 * bs, SEEK_DATA), -ENXIO);
    int64_t h = fs_lseek(fs, f, 10 * bs + 100, SEEK_HOLE);
    ck_assert_msg(h >= (int64_t)(10 * bs + 100) && h <= (int64_t)(11 * bs),
                  "SEEK_HOLE in the last data block = %" PRId64, h);
    check_range(f, 10 * bs + 6, 10 * bs - 6, -1);

    /* Inline files are all data. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_write(fs, g, "abc", 3, 0, false), 3);
    EXPECT(fs_lseek(fs, g, 0, SEEK_DATA), 0);
    EXPECT(fs_lseek(fs, g, 1, SEEK_DATA), 1);
    EXPECT(fs_lseek(fs, g, 0, SEEK_HOLE), 3);
    EXPECT(fs_lseek(fs, g, 3, SEEK_DATA), -ENXIO);
    /* An empty file has neither. */
    uint64_t e = mkfile(FS_ROOT_INO, "e");
    EXPECT(fs_lseek(fs, e, 0, SEEK_DATA), -ENXIO);
    EXPECT(fs_lseek(fs, e, 0, SEEK_HOLE), -ENXIO);
    reopen();
    EXPECT(fs_lseek(fs, f, 0, SEEK_DATA), 3 * bs);
    check_range(f, 10 * bs + 5, 1, 1);
}
END_TEST

START_TEST(truncate_down_and_up)
{
    uint64_t bs = fs_block_size(fs);
    struct fs_attr in = {0}, out;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 3 * bs + 100, 1);
    OK(fs_flush(fs, f));
    int64_t mtime = attr(f).mtime_ns;

    in.size = bs + 10;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(out.size, bs + 10);
    ck_assert_int_ge(out.mtime_ns, mtime);
    ck_assert_uint_eq(size_of(f), bs + 10);
    check_range(f, 0, bs + 10, 1);
    unsigned char buf[16];
    EXPECT(fs_read(fs, f, buf, sizeof buf, bs + 10), 0);
    EXPECT(block_len(f, 2), -ENOENT);
    EXPECT(block_len(f, 3), -ENOENT);

    /* Growing again must show zeros, not the bytes cut off before. */
    in.size = 3 * bs + 100;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out));
    check_range(f, 0, bs + 10, 1);
    check_range(f, bs + 10, 2 * bs + 90, -1);
    reopen();
    check_range(f, bs + 10, 2 * bs + 90, -1);

    /* Buffered data beyond the cut is cut too. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    write_pat(g, 0, 1000, 2);
    OK(fs_flush(fs, g));
    write_pat(g, 500, 200000, 3); /* buffered, not committed */
    in.size = 800;
    OK(fs_setattr(fs, g, &in, FS_SET_SIZE, &out));
    ck_assert_uint_eq(size_of(g), 800);
    EXPECT(fs_read(fs, g, buf, sizeof buf, 800), 0);
    check_range(g, 0, 500, 2);
    check_range(g, 500, 300, 3);
    in.size = 200500;
    OK(fs_setattr(fs, g, &in, FS_SET_SIZE, &out));
    check_range(g, 500, 300, 3);
    check_range(g, 800, 199700, -1);
    OK(fs_flush(fs, g));
    reopen();
    check_range(g, 800, 199700, -1);

    /* Inline: down then up. */
    uint64_t h = mkfile(FS_ROOT_INO, "h");
    EXPECT(fs_write(fs, h, "abcdef", 6, 0, false), 6);
    in.size = 3;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    in.size = 6;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    char c[8];
    EXPECT(fs_read(fs, h, c, sizeof c, 0), 6);
    ck_assert(!memcmp(c, "abc\0\0\0", 6));
    /* An inline file grown past the inline limit by truncate, then written. */
    in.size = 5000;
    OK(fs_setattr(fs, h, &in, FS_SET_SIZE, &out));
    EXPECT(fs_write(fs, h, "X", 1, 0, false), 1);
    OK(fs_flush(fs, h));
    EXPECT(fs_write(fs, h, "Y", 1, 3000, false), 1);
    OK(fs_flush(fs, h));
    ck_assert_uint_eq(size_of(h), 5000);
    unsigned char *all = read_range(h, 0, 5000);
    ck_assert_uint_eq(all[0], 'X');
    ck_assert(!memcmp(all + 1, "bc", 2));
    for (int i = 3; i < 5000; i++)
        ck_assert_msg(all[i] == (i == 3000 ? 'Y' : 0), "byte %d is %u", i, all[i]);
    free(all);

    /* Only regular files have a size to set. */
    in.size = 0;
    EXPECT(fs_setattr(fs, FS_ROOT_INO, &in, FS_SET_SIZE, &out), -EISDIR);
    struct fs_attr l;
    OK(fs_symlink(fs, &ctx, "target", FS_ROOT_INO, "l", &l));
    EXPECT(fs_setattr(fs, l.ino, &in, FS_SET_SIZE, &out), -EINVAL);
    in.size = (uint64_t)INT64_MAX + 1;
    EXPECT(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), -EFBIG);
}
END_TEST

/* Allocating more than the store has free (what statfs says) is ENOSPC and
 * changes nothing; a range the file stores already needs no room, and
 * punching or zeroing needs none either. */
START_TEST(fallocate_enospc)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 4 * bs, 1);
    OK(fs_flush(fs, f));
    struct statvfs st;
    OK(fs_statfs(fs, &st));
    int64_t free_bytes = (int64_t)(st.f_bavail * st.f_frsize);
    int64_t too_much = free_bytes + (1LL << 30);
    struct fs_attr before = attr(f);
    EXPECT(fs_fallocate(fs, f, 0, 0, too_much), -ENOSPC);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 0, too_much), -ENOSPC);
    EXPECT(fs_fallocate(fs, f, 0, (int64_t)(8 * bs), too_much), -ENOSPC);
    struct fs_attr after = attr(f);
    ck_assert_uint_eq(after.size, 4 * bs);
    ck_assert_uint_eq(after.blocks, before.blocks);
    ck_assert_int_eq(after.mtime_ns, before.mtime_ns);
    ck_assert_int_eq(after.ctime_ns, before.ctime_ns);
    check_range(f, 0, 4 * bs, 1);
    /* Over the stored blocks: nothing to allocate. */
    OK(fs_fallocate(fs, f, 0, 0, (int64_t)(4 * bs)));
    /* Holes over a range that size: no room needed. */
    OK(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, too_much));
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, too_much));
    ck_assert_uint_eq(size_of(f), 4 * bs);
    /* An inline file too. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_write(fs, g, "abc", 3, 0, false), 3);
    EXPECT(fs_fallocate(fs, g, 0, 0, too_much), -ENOSPC);
    ck_assert_uint_eq(size_of(g), 3);
    OK(fs_fallocate(fs, g, 0, 0, 100));
    ck_assert_uint_eq(size_of(g), 100);
    fsck();
}
END_TEST

START_TEST(fallocate_modes)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    write_pat(f, 0, 4 * bs, 1);
    OK(fs_flush(fs, f));
    int64_t mtime = attr(f).mtime_ns;

    /* Punch: whole blocks go, partial ones are zeroed, the size stays. */
    OK(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs / 2, 2 * bs));
    ck_assert_uint_eq(size_of(f), 4 * bs);
    ck_assert_int_ge(attr(f).mtime_ns, mtime);
    check_range(f, 0, bs / 2, 1);
    check_range(f, bs / 2, 2 * bs, -1);
    check_range(f, bs / 2 + 2 * bs, 4 * bs - (bs / 2 + 2 * bs), 1);
    EXPECT(block_len(f, 1), -ENOENT);
    int64_t h = fs_lseek(fs, f, 0, SEEK_HOLE);
    ck_assert_msg(h >= (int64_t)bs / 2 && h <= (int64_t)bs, "SEEK_HOLE after punch = %" PRId64, h);

    /* Zero a range inside, then one across the end (which grows the file). */
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE, 3 * bs + 10, 10));
    check_range(f, 3 * bs, 10, 1);
    check_range(f, 3 * bs + 10, 10, -1);
    check_range(f, 3 * bs + 20, 10, 1);
    ck_assert_uint_eq(size_of(f), 4 * bs);
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE, 4 * bs - 5, 100));
    ck_assert_uint_eq(size_of(f), 4 * bs + 95);
    check_range(f, 4 * bs - 10, 5, 1);
    check_range(f, 4 * bs - 5, 100, -1);
    OK(fs_fallocate(fs, f, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 4 * bs + 50, 1000));
    ck_assert_uint_eq(size_of(f), 4 * bs + 95);

    /* Plain allocation grows the size; with KEEP_SIZE it does not. */
    OK(fs_fallocate(fs, f, 0, 5 * bs, 10));
    ck_assert_uint_eq(size_of(f), 5 * bs + 10);
    check_range(f, 4 * bs + 95, bs - 85, -1);
    OK(fs_fallocate(fs, f, 0, 0, 10)); /* inside: nothing changes */
    check_range(f, 0, 10, 1);
    OK(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 10 * bs, 10));
    ck_assert_uint_eq(size_of(f), 5 * bs + 10);

    /* Refused. */
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE, 0, 10), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_COLLAPSE_RANGE, 0, bs), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, FALLOC_FL_INSERT_RANGE, 0, bs), -EOPNOTSUPP);
    EXPECT(fs_fallocate(fs, f, 0, 0, 0), -EINVAL);
    EXPECT(fs_fallocate(fs, f, 0, INT64_MAX - 5, 10), -EFBIG);
    EXPECT(fs_fallocate(fs, f, 0, -1, 10), -EINVAL);
    EXPECT(fs_fallocate(fs, f, 0, 0, -10), -EINVAL);
    EXPECT(fs_fallocate(fs, FS_ROOT_INO, 0, 0, 10), -EISDIR);

    /* Inline files. */
    uint64_t g = mkfile(FS_ROOT_INO, "g");
    EXPECT(fs_write(fs, g, "abcdefgh", 8, 0, false), 8);
    OK(fs_fallocate(fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
    char c[32];
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 8);
    ck_assert(!memcmp(c, "ab\0\0\0fgh", 8));
    OK(fs_fallocate(fs, g, FALLOC_FL_ZERO_RANGE, 6, 10));
    ck_assert_uint_eq(size_of(g), 16);
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 16);
    ck_assert(!memcmp(c, "ab\0\0\0f\0\0\0\0\0\0\0\0\0\0", 16));
    OK(fs_fallocate(fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 10));
    ck_assert_uint_eq(size_of(g), 16);

    /* Buffered data under a punched range is punched too. */
    uint64_t k = mkfile(FS_ROOT_INO, "k");
    write_pat(k, 0, 3 * bs, 4);
    OK(fs_fallocate(fs, k, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs, bs));
    check_range(k, 0, bs, 4);
    check_range(k, bs, bs, -1);
    check_range(k, 2 * bs, bs, 4);
    reopen();
    check_range(f, bs / 2, 2 * bs, -1);
    check_range(k, bs, bs, -1);
    EXPECT(fs_read(fs, g, c, sizeof c, 0), 16);
    ck_assert(!memcmp(c, "ab\0\0\0f\0\0", 8));
}
END_TEST

START_TEST(copy_range)
{
    uint64_t bs = fs_block_size(fs);
    uint64_t src = mkfile(FS_ROOT_INO, "src");
    uint64_t dst = mkfile(FS_ROOT_INO, "dst");
    write_pat(src, 0, 3 * bs, 1);
    OK(fs_flush(fs, src));
    write_pat(src, 3 * bs, 7, 1); /* still buffered */
    EXPECT(fs_copy_range(fs, src, 10, dst, 100, 2 * bs, 0), 2 * bs);
    ck_assert_uint_eq(size_of(dst), 100 + 2 * bs);
    check_range(dst, 0, 100, -1);
    unsigned char *a = read_range(src, 10, 2 * bs);
    unsigned char *b = read_range(dst, 100, 2 * bs);
    ck_assert(!memcmp(a, b, 2 * bs));
    free(a);
    free(b);
    /* Past the end of the source: a short copy, then nothing. */
    EXPECT(fs_copy_range(fs, src, 3 * bs, dst, 0, 1000, 0), 7);
    a = read_range(src, 3 * bs, 7);
    b = read_range(dst, 0, 7);
    ck_assert(!memcmp(a, b, 7));
    free(a);
    free(b);
    EXPECT(fs_copy_range(fs, src, 3 * bs + 7, dst, 0, 1000, 0), 0);
    EXPECT(fs_copy_range(fs, src, 10 * bs, dst, 0, 1000, 0), 0);
    EXPECT(fs_copy_range(fs, 999999, 0, dst, 0, 10, 0), -ENOENT);
    EXPECT(fs_copy_range(fs, src, 0, dst, 0, 10, 1), -EINVAL); /* no flag is defined */
    /* Within one file, not overlapping. */
    EXPECT(fs_copy_range(fs, src, 0, src, 4 * bs, 100, 0), 100);
    ck_assert_uint_eq(size_of(src), 4 * bs + 100);
    a = read_range(src, 0, 100);
    b = read_range(src, 4 * bs, 100);
    ck_assert(!memcmp(a, b, 100));
    free(a);
    free(b);
    reopen();
    ck_assert_uint_eq(size_of(dst), 100 + 2 * bs);
}
END_TEST

static Suite *fs_data_suite(void)
{
    Suite *s = suite_create("fs-data");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, open_keep_cache);
    tcase_add_test(tc, write_read_through_buffer);
    tcase_add_test(tc, empty_write);
    tcase_add_test(tc, empty_write_past_eof);
    tcase_add_test(tc, inline_to_blocks);
    tcase_add_test(tc, read_pieces_match_read);
    tcase_add_test(tc, block_boundaries);
    tcase_add_test(tc, sparse_and_seek);
    tcase_add_test(tc, truncate_down_and_up);
    tcase_add_test(tc, fallocate_modes);
    tcase_add_test(tc, fallocate_enospc);
    tcase_add_test(tc, copy_range);
    TCase *small = fs_tcase(s, "small-blocks", setup_small, 120);
    tcase_add_test(small, random_against_model);
    return s;
}

TEST_MAIN(fs_data_suite)
