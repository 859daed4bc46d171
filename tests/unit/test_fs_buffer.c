/*
 * test_fs_buffer.c - the POSIX model of fs/ called directly, without a mount:
 * the write buffer under load: back-pressure keeps memory bounded, a
 * full buffer is handed to the flusher while writes go on, and buffered
 * writes that conflict with another connection's are rebased, not lost.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fs_util.h"
#include "ghost.h"
#include "proc.h"
#include "util.h"

START_TEST(write_buffer_backpressure)
{
    enum { CHUNK = 128 << 10 };
    const uint64_t total = (uint64_t)64 << 20;
    uint64_t f = mkfile(FS_ROOT_INO, "big");
    unsigned char *buf = malloc(CHUNK);
    uint64_t rss0 = test_rss(), anon0 = proc_status_bytes("RssAnon");
    uint64_t peak = rss0, peak_anon = anon0;
    for (uint64_t off = 0; off < total; off += CHUNK) {
        fill(buf, off, CHUNK, 6);
        EXPECT(fs_write(fs, f, buf, CHUNK, off, false), CHUNK);
        if ((off / CHUNK) % 8 == 0) {
            uint64_t r = test_rss(), an = proc_status_bytes("RssAnon");
            peak = r > peak ? r : peak;
            peak_anon = an > peak_anon ? an : peak_anon;
        }
    }
    /* Most of it was committed by back-pressure, without any flush. */
    uint64_t committed = raw_rec(f).size;
    ck_assert_msg(committed >= total - ((uint64_t)2 << 20),
                  "only %" PRIu64 " of %" PRIu64 " bytes committed without a flush", committed,
                  total);
    fprintf(stderr,
            "backpressure: RSS %" PRIu64 " -> peak %" PRIu64 " MiB, anon %" PRIu64 " -> %" PRIu64
            " MiB\n",
            rss0 >> 20, peak >> 20, anon0 >> 20, peak_anon >> 20);
    if (!UNDER_ASAN) {
        ck_assert_msg(peak < ((uint64_t)100 << 20),
                      "RSS reached %" PRIu64 " MiB writing 64 MiB with a 2 MiB buffer", peak >> 20);
        ck_assert_msg(peak_anon - anon0 < ((uint64_t)16 << 20),
                      "anonymous memory grew by %" PRIu64 " MiB", (peak_anon - anon0) >> 20);
    }
    ck_assert_uint_eq(size_of(f), total);
    for (uint64_t off = 0; off < total; off += CHUNK) {
        EXPECT(fs_read(fs, f, buf, CHUNK, off), CHUNK);
        for (size_t i = 0; i < CHUNK; i += 997)
            ck_assert_msg(buf[i] == pat(off + i, 6), "byte %" PRIu64 " differs", off + i);
    }
    free(buf);
}
END_TEST

/* A buffer that reaches its share is committed by the flusher while writes
 * go on into a fresh one: reads see the newer writes over the older buffer
 * over what is stored, whatever the flusher has done yet, and a flush, a
 * truncate or a reopen leaves exactly what was written last. */
START_TEST(write_buffer_handoff)
{
    enum { SHARE = 512 << 10, ROUNDS = 40 };
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    unsigned char *buf = malloc(SHARE);
    ck_assert_ptr_nonnull(buf);
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t base = (uint64_t)(r % 5) * SHARE;
        uint64_t at = base + 4096 * (r + 1) + r; /* inside the chunk, unaligned */
        fill(buf, base, SHARE, r);
        EXPECT(fs_write(fs, f, buf, SHARE, base, false), SHARE); /* hands it off */
        write_pat(f, at, 3000, 1000 + r);                        /* into the new buffer */
        check_range(f, base, at - base, (int)r);
        check_range(f, at, 3000, (int)(1000 + r));
        check_range(f, at + 3000, base + SHARE - at - 3000, (int)r);
        if (r % 7 == 3)
            OK(fs_flush(fs, f));
    }
    /* The last round of each chunk is what stays: round r wrote chunk r % 5. */
    struct fs_attr in = {0}, out;
    in.size = 5 * (uint64_t)SHARE - 10;
    OK(fs_setattr(fs, f, &in, FS_SET_SIZE, &out)); /* commits both buffers, then cuts */
    ck_assert_uint_eq(raw_rec(f).size, in.size);
    reopen();
    for (unsigned r = ROUNDS - 5; r < ROUNDS; r++) {
        uint64_t base = (uint64_t)(r % 5) * SHARE;
        uint64_t at = base + 4096 * (r + 1) + r;
        uint64_t end = base + SHARE < in.size ? base + SHARE : in.size;
        check_range(f, base, at - base, (int)r);
        check_range(f, at, 3000, (int)(1000 + r));
        check_range(f, at + 3000, end - at - 3000, (int)r);
    }
    ck_assert_uint_eq(size_of(f), in.size);
    free(buf);
}
END_TEST

/* Close is a transaction, and a conflict rebases: two connections (as two
 * daemons would), each in its own thread, buffer writes to different bytes
 * of the same blocks of one file and commit them at the same time, round
 * after round. A commit that loses the race conflicts (the block and the
 * inode changed under it) and is run again on the newer version: at the end
 * every byte either writer wrote is there. */
struct racer {
    struct fs *fs;
    uint64_t ino;
    char mark;
    size_t at; /* this writer's bytes: [at + 200 r, at + 200 r + 100) */
    int rounds;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char buf[100];
    memset(buf, r->mark, sizeof buf);
    for (int i = 0; i < r->rounds; i++) {
        if (fs_write(r->fs, r->ino, buf, sizeof buf, r->at + 200 * (size_t)i, false) != 100 ||
            fs_flush(r->fs, r->ino) != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(conflict_rebases_buffered_writes)
{
    enum { ROUNDS = 300 };
    uint64_t f = mkfile(FS_ROOT_INO, "shared");
    bool keep;
    static char base[200 * ROUNDS + 100], got[sizeof base];
    memset(base, '.', sizeof base);
    ck_assert_int_eq(fs_write(fs, f, base, sizeof base, 0, false), (ssize_t)sizeof base);
    OK(fs_flush(fs, f));

    struct fs_options o;
    struct fs *other = NULL;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.commit_interval_ms = 3600 * 1000;
    OK(fs_open(path, &o, &other));
    OK(fs_open_file(other, f, O_RDWR, &keep));

    struct racer ra = {fs, f, 'A', 0, ROUNDS}, rb = {other, f, 'B', 100, ROUNDS};
    pthread_t ta, tb;
    void *ea, *eb;
    pthread_create(&ta, NULL, race, &ra);
    pthread_create(&tb, NULL, race, &rb);
    pthread_join(ta, &ea);
    pthread_join(tb, &eb);
    ck_assert_ptr_null(ea);
    ck_assert_ptr_null(eb);
    struct ghost_stats sa, sb;
    ghost_stats(fs_store(fs), &sa);
    ghost_stats(fs_store(other), &sb);
    printf("rebase race: %llu + %llu conflicts in %d rounds\n", (unsigned long long)sa.conflicts,
           (unsigned long long)sb.conflicts, ROUNDS);

    OK(fs_release(other, f));
    fs_close(other);
    reopen();
    ck_assert_uint_eq(size_of(f), sizeof base);
    ck_assert_int_eq(fs_read(fs, f, got, sizeof got, 0), (ssize_t)sizeof got);
    for (size_t i = 0; i < sizeof got; i++) {
        char want = i % 200 < 100 ? 'A' : 'B';
        if (i >= 200 * ROUNDS)
            want = '.';
        if (got[i] != want)
            ck_abort_msg("byte %zu is '%c', want '%c'", i, got[i], want);
    }
}
END_TEST

/* A file another daemon deleted (its last name unlinked there, where it
 * was not open) is gone under an fd open here: a write says so with
 * ESTALE, as for a stale handle, not ENOENT, which write(2) never means. */
START_TEST(write_after_another_daemon_deleted)
{
    uint64_t f = mkfile(FS_ROOT_INO, "gone");
    bool keep;
    OK(fs_open_file(fs, f, O_RDWR, &keep));
    EXPECT(fs_write(fs, f, "x", 1, 0, false), 1);
    OK(fs_flush(fs, f));

    struct fs_options o;
    struct fs *other = NULL;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    OK(fs_open(path, &o, &other));
    OK(fs_unlink(other, FS_ROOT_INO, "gone"));
    fs_close(other);

    EXPECT(fs_write(fs, f, "y", 1, 1, false), -ESTALE);
    OK(fs_release(fs, f));
}
END_TEST

static Suite *fs_buffer_suite(void)
{
    Suite *s = suite_create("fs-buffer");
    TCase *tc = fs_tcase(s, "core", setup, 60);
    tcase_add_test(tc, conflict_rebases_buffered_writes);
    tcase_add_test(tc, write_after_another_daemon_deleted);
    TCase *bp = fs_tcase(s, "backpressure", setup_backpressure, 300);
    tcase_add_test(bp, write_buffer_backpressure);
    tcase_add_test(bp, write_buffer_handoff);
    return s;
}

TEST_MAIN(fs_buffer_suite)
