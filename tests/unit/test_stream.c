/*
 * test_stream.c - send streams (ghost_send, ghost_receive,
 * ghost_stream_check): a full stream and incrementals after it, received
 * into a new store, give each snapshot exactly as the source has it, and
 * the head too; a received snapshot is the base of the next incremental,
 * there and in a third store it is sent on to. Bad input is refused with
 * the store left byte for byte as it was: a stream cut at any length, one
 * byte changed anywhere, a stream whose base is missing or of another
 * store, a full stream into a store with snapshots or objects, a name
 * already taken, a pipe, an incremental over a store written since its
 * base, a stream file replaced between the check and the reading, a
 * length past the format's limits. A sender refuses a snapshot that
 * does not exist and a base that is not older.
 *
 * Every test runs in its own process (CK_FORK) on stores inside
 * test_dir().
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "ghost.h"
#include "util.h"

#define OIDS 64 /* the tests use OIDs 1 .. OIDS - 1 */

static struct ghost *open_store(const char *path)
{
    struct ghost *g = NULL;
    OK(ghost_open(path, NULL, &g));
    return g;
}

static struct ghost *new_store(const char *name)
{
    return open_store(test_new_store(name));
}

/* ---- the state of a store, as text ---- */

struct text {
    char *s;
    size_t n, cap;
};

static void addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (t->s && t->n + (size_t)n < t->cap) {
            t->n += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
}

static void add_bytes(struct text *t, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        addf(t, "%02x", b[i]);
}

static int dump_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct text *t = arg;
    addf(t, "  ");
    add_bytes(t, key, klen);
    addf(t, "=");
    add_bytes(t, val, vlen);
    addf(t, "\n");
    return 0;
}

/* Every object and map key (maps 0..3) the transaction sees. */
static char *dump(struct ghost_txn *t)
{
    struct text out = {0};
    addf(&out, "-");
    for (uint64_t oid = 1; oid < OIDS; oid++) {
        uint8_t type;
        const void *data;
        size_t len;
        int r = ghost_obj_get(t, oid, &type, &data, &len);
        if (r != -ENOENT) {
            OK(r);
            addf(&out, "object %" PRIu64 " type %u ", oid, type);
            add_bytes(&out, data, len);
            addf(&out, "\n");
        }
        for (uint8_t m = 0; m < 4; m++) {
            size_t before = out.n;
            addf(&out, " map %" PRIu64 ".%u\n", oid, m);
            size_t mark = out.n;
            OK(ghost_map_scan(t, oid, m, NULL, 0, dump_key, &out));
            if (out.n == mark)
                out.n = before, out.s[before] = 0; /* empty: say nothing */
        }
    }
    return out.s;
}

static char *dump_snap(struct ghost *g, const char *snap)
{
    struct ghost_txn *t = NULL;
    if (snap)
        OK(ghost_txn_begin_snapshot(g, snap, &t));
    else
        OK(ghost_txn_begin(g, &t));
    char *s = dump(t);
    ghost_txn_abort(t);
    return s;
}

static void assert_same(struct ghost *a, const char *snap_a, struct ghost *b, const char *snap_b)
{
    char *x = dump_snap(a, snap_a), *y = dump_snap(b, snap_b);
    ck_assert_msg(strlen(x) > 1, "the source is empty");
    size_t i = 0;
    while (x[i] && x[i] == y[i])
        i++;
    size_t from = i > 80 ? i - 80 : 0;
    if (getenv("STREAM_DUMP") && strcmp(x, y)) {
        FILE *f = fopen("/tmp/stream_a.txt", "w");
        fputs(x, f);
        fclose(f);
        f = fopen("/tmp/stream_b.txt", "w");
        fputs(y, f);
        fclose(f);
    }
    ck_assert_msg(!strcmp(x, y), "%s and %s differ at byte %zu: ...%.160s\n---\n...%.160s",
                  snap_a ? snap_a : "head", snap_b ? snap_b : "head", i, x + from, y + from);
    free(x);
    free(y);
}

/* ---- writing a source store ---- */

struct change {
    int step;
};

/* Step n of a history: objects and map keys made, changed and deleted,
 * values of many sizes (an empty one, ones that span LMDB pages). */
static int change_fn(struct ghost_txn *t, void *arg)
{
    int n = ((struct change *)arg)->step;
    char buf[9000];
    for (uint64_t oid = 1; oid < OIDS; oid++) {
        unsigned h = (unsigned)(oid * 2654435761u + (unsigned)n * 40503u);
        int act = (int)(h % 5);
        if (act == 0 && n > 0) {
            int r = ghost_obj_del(t, oid);
            if (r)
                return r;
            continue;
        }
        if (act == 1)
            continue; /* unchanged this step */
        size_t len = (h >> 8) % (oid % 7 == 0 ? 9000 : 40);
        memset(buf, 'a' + (int)(h % 26), len);
        int r = ghost_obj_put(t, oid, (uint8_t)(1 + oid % 3), buf, len);
        for (int k = 0; r == 0 && k < 6; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            uint8_t map = (uint8_t)((oid + (unsigned)k) % 4);
            if ((h >> k) % 3 == 0)
                r = ghost_map_del(t, oid, map, key, strlen(key));
            else
                r = ghost_map_put(t, oid, map, key, strlen(key), buf, len / 2 + (size_t)k);
        }
        if (r)
            return r;
    }
    return 0;
}

static void change(struct ghost *g, int step)
{
    struct change c = {step};
    OK(ghost_run(g, change_fn, &c));
}

/* ---- streams in files ---- */

static int file_for(const char *name, bool create)
{
    int fd = open(test_path(name), create ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0600);
    ck_assert_msg(fd >= 0, "open %s: %s", name, strerror(errno));
    return fd;
}

static void send_to(struct ghost *g, const char *snap, const char *base, const char *file)
{
    int fd = file_for(file, true);
    struct ghost_stream_info info;
    OK(ghost_send(g, snap, base, fd, NULL, NULL, &info));
    ck_assert_str_eq(info.snapshot, snap);
    ck_assert_int_eq(info.incremental, base != NULL);
    close(fd);
}

static int receive_from(struct ghost *g, const char *file)
{
    int fd = file_for(file, false);
    struct ghost_stream_info info;
    int r = ghost_receive(g, fd, NULL, NULL, &info);
    close(fd);
    return r;
}

static uint64_t file_hash(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        XXH3_64bits_update(st, buf, (size_t)n);
    close(fd);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static size_t file_size(const char *name)
{
    struct stat st;
    ck_assert_int_eq(stat(test_path(name), &st), 0);
    return (size_t)st.st_size;
}

/* A copy of stream `from` in file `to`: its first `keep` bytes, with the
 * byte at flip_at (if >= 0) changed. */
static void copy_stream(const char *from, const char *to, size_t keep, long flip_at)
{
    size_t n = file_size(from);
    unsigned char *b = malloc(n);
    int fd = file_for(from, false);
    ck_assert_int_eq(read(fd, b, n), (ssize_t)n);
    close(fd);
    if (flip_at >= 0)
        b[flip_at] ^= 0x20;
    fd = file_for(to, true);
    ck_assert_int_eq(write(fd, b, keep < n ? keep : n), (ssize_t)(keep < n ? keep : n));
    close(fd);
    free(b);
}

/* ---- tests ---- */

/* A source with four snapshots; a full stream of the first and three
 * incrementals received into a new store give each snapshot as it was. */
START_TEST(full_then_three_incrementals)
{
    struct ghost *src = new_store("src");
    const char *names[4] = {"s1", "s2", "s3", "s4"};
    for (int i = 0; i < 4; i++) {
        change(src, i);
        OK(ghost_snapshot_create(src, names[i]));
    }
    change(src, 4); /* the head moves on: not in any stream */
    send_to(src, "s1", NULL, "full");
    send_to(src, "s2", "s1", "i2");
    send_to(src, "s3", "s2", "i3");
    send_to(src, "s4", "s3", "i4");

    char dst_path[4096];
    snprintf(dst_path, sizeof dst_path, "%s", test_new_store("dst"));
    struct ghost *dst = open_store(dst_path);
    OK(receive_from(dst, "full"));
    assert_same(src, "s1", dst, "s1");
    assert_same(src, "s1", dst, NULL);
    OK(receive_from(dst, "i2"));
    OK(receive_from(dst, "i3"));
    OK(receive_from(dst, "i4"));
    for (int i = 0; i < 4; i++)
        assert_same(src, names[i], dst, names[i]);
    assert_same(src, "s4", dst, NULL);

    /* The received store is a store like any: it is clean, and it writes. */
    struct ghost_scrub_cursor cur = {0};
    struct ghost_scrub_stats st = {0};
    int r;
    while ((r = ghost_scrub(dst, &cur, 0, NULL, &st)) == 0)
        ;
    EXPECT(r, 1);
    ck_assert_uint_eq(st.findings, 0);
    change(dst, 9);

    /* Sent on from the copy: the origin travels, so s4 of a third store
     * received from dst is the base that src's incremental needs. */
    OK(ghost_snapshot_create(src, "s5"));
    send_to(dst, "s4", NULL, "full-from-dst");
    struct ghost *third = new_store("third");
    OK(receive_from(third, "full-from-dst"));
    send_to(src, "s5", "s4", "i5");
    OK(receive_from(third, "i5"));
    assert_same(src, "s5", third, "s5");
    ghost_close(third);
    ghost_close(dst);

    /* And it reads the same after reopening. */
    dst = open_store(dst_path);
    assert_same(src, "s4", dst, "s4");
    ghost_close(dst);
    ghost_close(src);
}
END_TEST

/* An empty change still makes a stream, and its snapshot. */
START_TEST(incremental_of_nothing)
{
    struct ghost *src = new_store("src");
    change(src, 0);
    OK(ghost_snapshot_create(src, "a"));
    OK(ghost_snapshot_create(src, "b"));
    send_to(src, "a", NULL, "full");
    send_to(src, "b", "a", "incr");
    int fd = file_for("incr", false);
    struct ghost_stream_info info;
    OK(ghost_stream_check(fd, NULL, NULL, &info));
    close(fd);
    ck_assert_uint_eq(info.records, 0);
    ck_assert_str_eq(info.base, "a");
    struct ghost *dst = new_store("dst");
    OK(receive_from(dst, "full"));
    OK(receive_from(dst, "incr"));
    assert_same(src, "b", dst, "b");
    ghost_close(dst);
    ghost_close(src);
}
END_TEST

/* The bad streams of one source, and a store that must not change. */
struct bad {
    struct ghost *src, *dst;
    char dst_path[4096];
};

static void bad_setup(struct bad *b)
{
    b->src = new_store("src");
    change(b->src, 0);
    OK(ghost_snapshot_create(b->src, "s1"));
    change(b->src, 1);
    OK(ghost_snapshot_create(b->src, "s2"));
    send_to(b->src, "s1", NULL, "full");
    send_to(b->src, "s2", "s1", "incr");
    snprintf(b->dst_path, sizeof b->dst_path, "%s", test_new_store("dst"));
    b->dst = open_store(b->dst_path);
}

/* Receiving `file` fails with want and leaves the store's file as it was. */
static void refused(struct bad *b, const char *file, int want, const char *what)
{
    uint64_t before = file_hash(b->dst_path);
    int r = receive_from(b->dst, file);
    ck_assert_msg(r == want, "%s: receive = %d (%s), expected %d (%s); %s", what, r, test_ename(r),
                  want, test_ename(want), ghost_errmsg());
    ck_assert_msg(*ghost_errmsg(), "%s: no message", what);
    ck_assert_msg(file_hash(b->dst_path) == before, "%s: the store changed", what);
}

START_TEST(truncated_anywhere)
{
    struct bad b;
    bad_setup(&b);
    size_t n = file_size("full");
    /* Every length up to 200 bytes (the header, the first records), then
     * samples, and the trailer byte by byte. */
    for (size_t keep = 0; keep < n; keep += keep < 200 || keep > n - 40 ? 1 : 997) {
        copy_stream("full", "cut", keep, -1);
        int want = keep < 8 ? -GHOST_EFORMAT : -ENODATA;
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", keep, n);
        refused(&b, "cut", want, what);
    }
    OK(receive_from(b.dst, "full")); /* the whole one is taken */
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

START_TEST(flipped_anywhere)
{
    struct bad b;
    bad_setup(&b);
    size_t n = file_size("full");
    for (size_t at = 0; at < n; at += at < 200 || at > n - 40 ? 1 : 499) {
        copy_stream("full", "flip", n, (long)at);
        char what[64];
        snprintf(what, sizeof what, "byte %zu of %zu flipped", at, n);
        uint64_t before = file_hash(b.dst_path);
        int r = receive_from(b.dst, "flip");
        ck_assert_msg(r == -EBADMSG || r == -GHOST_EFORMAT || r == -ENODATA,
                      "%s: receive = %d (%s); %s", what, r, test_ename(r), ghost_errmsg());
        ck_assert_msg(file_hash(b.dst_path) == before, "%s: the store changed", what);
    }
    /* Bytes past the trailer are refused too. */
    copy_stream("full", "long", n, -1);
    int fd = open(test_path("long"), O_WRONLY | O_APPEND);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    refused(&b, "long", -EBADMSG, "a byte after the trailer");
    OK(receive_from(b.dst, "full"));
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

START_TEST(base_missing_or_foreign)
{
    struct bad b;
    bad_setup(&b);
    refused(&b, "incr", -ENOENT, "incremental into an empty store");
    /* A snapshot named like the base, taken here: not the base. */
    OK(ghost_snapshot_create(b.dst, "s1"));
    refused(&b, "incr", -ESTALE, "incremental over a base of another store");
    OK(ghost_snapshot_delete(b.dst, "s1"));
    /* A store with snapshots takes no full stream. */
    OK(ghost_snapshot_create(b.dst, "other"));
    refused(&b, "full", -ENOTEMPTY, "full stream into a store with snapshots");
    OK(ghost_snapshot_delete(b.dst, "other"));
    OK(receive_from(b.dst, "full"));
    OK(receive_from(b.dst, "incr"));
    assert_same(b.src, "s2", b.dst, "s2");
    /* The same stream twice: its name is taken. */
    refused(&b, "incr", -EEXIST, "an incremental received twice");
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

static int wipe_fn(struct ghost_txn *t, void *arg)
{
    (void)arg;
    for (uint64_t oid = 1; oid < OIDS; oid++) {
        int r = ghost_obj_del(t, oid);
        for (uint8_t m = 0; m < 4; m++)
            for (int k = 0; k < 6 && (r == 0 || r == -ENOENT); k++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", k);
                r = ghost_map_del(t, oid, m, key, strlen(key));
            }
        if (r && r != -ENOENT)
            return r;
    }
    return 0;
}

/* A store without snapshots but with objects is not wiped by a full
 * stream: it is refused, and the store left as it was. Once every object
 * is deleted, the store is empty and takes it. */
START_TEST(full_into_store_with_objects)
{
    struct bad b;
    bad_setup(&b);
    change(b.dst, 5);
    refused(&b, "full", -ENOTEMPTY, "full stream into a store with objects");
    ck_assert_msg(strstr(ghost_errmsg(), "holds objects"), "%s", ghost_errmsg());
    OK(ghost_run(b.dst, wipe_fn, NULL));
    OK(receive_from(b.dst, "full"));
    assert_same(b.src, "s1", b.dst, "s1");
    assert_same(b.src, "s1", b.dst, NULL);
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

/* An incremental over a store written since its base would mix the two:
 * refused, the store left as it was. A snapshot taken there changes no
 * head and does not count. */
START_TEST(incremental_over_a_written_store)
{
    struct bad b;
    bad_setup(&b);
    OK(receive_from(b.dst, "full"));
    OK(ghost_snapshot_create(b.dst, "mine")); /* no head changes */
    change(b.dst, 7);
    refused(&b, "incr", -ESTALE, "incremental over a store written since its base");
    ck_assert_msg(strstr(ghost_errmsg(), "written since its snapshot 's1'"), "%s", ghost_errmsg());
    assert_same(b.src, "s1", b.dst, "s1");
    ghost_close(b.dst);

    /* Without the write, the same steps take it. */
    b.dst = new_store("dst2");
    OK(receive_from(b.dst, "full"));
    OK(ghost_snapshot_create(b.dst, "mine"));
    OK(receive_from(b.dst, "incr"));
    assert_same(b.src, "s2", b.dst, "s2");
    assert_same(b.src, "s2", b.dst, NULL);
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

/* Between the check and the reading into the store, the file is replaced
 * by another valid stream (from the progress report at the end of the
 * check): what goes in must be what was checked. */
struct swap {
    const char *with;
    bool done;
};

static void swap_at_check_end(void *arg, const struct ghost_progress *p)
{
    struct swap *sw = arg;
    if (sw->done || p->bytes * 2 != p->total_bytes)
        return;
    sw->done = true;
    copy_stream(sw->with, "swapped", (size_t)-1, -1);
}

static uint64_t be_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void be_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* A copy of stream `from` in `to` with one byte of the first record that
 * has a value changed, and every checksum made right again: a valid
 * stream with the same header and other records. */
static void forge_record(const char *from, const char *to)
{
    size_t n = file_size(from);
    unsigned char *b = malloc(n);
    int fd = file_for(from, false);
    ck_assert_int_eq(read(fd, b, n), (ssize_t)n);
    close(fd);
    size_t at = 116 + be_get(b + 112, 2) + be_get(b + 114, 2) + 8, trailer = n - 33;
    uint64_t seq = 1;
    for (; at < trailer; seq++) {
        size_t klen = be_get(b + at + 11, 2), vlen = be_get(b + at + 13, 4);
        size_t len = 17 + klen + vlen;
        if (vlen) {
            b[at + len - 1] ^= 0x01;
            be_put(b + at + len, XXH3_64bits_withSeed(b + at, len, seq));
            break;
        }
        at += len + 8;
    }
    ck_assert_msg(at < trailer, "no record with a value");
    be_put(b + trailer + 17, XXH3_64bits(b, trailer));
    be_put(b + trailer + 25, XXH3_64bits_withSeed(b + trailer, 25, be_get(b + trailer + 1, 8) + 1));
    fd = file_for(to, true);
    ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
    close(fd);
    free(b);
}

START_TEST(stream_replaced_between_passes)
{
    struct bad b;
    bad_setup(&b);
    send_to(b.src, "s2", NULL, "full2"); /* another header */
    forge_record("full", "forged");      /* the same header, other records */
    int fd = file_for("forged", false);
    OK(ghost_stream_check(fd, NULL, NULL, NULL));
    close(fd);
    const char *with[2] = {"full2", "forged"}, *what[2] = {"header", "records"};
    for (int i = 0; i < 2; i++) {
        copy_stream("full", "swapped", (size_t)-1, -1);
        struct swap sw = {with[i], false};
        uint64_t before = file_hash(b.dst_path);
        fd = file_for("swapped", false);
        int r = ghost_receive(b.dst, fd, swap_at_check_end, &sw, NULL);
        close(fd);
        ck_assert(sw.done);
        ck_assert_msg(r == -ESTALE, "%s swapped: receive = %d (%s); %s", what[i], r, test_ename(r),
                      ghost_errmsg());
        ck_assert_msg(strstr(ghost_errmsg(), what[i]), "%s", ghost_errmsg());
        ck_assert_msg(file_hash(b.dst_path) == before, "%s swapped: the store changed", what[i]);
    }
    OK(receive_from(b.dst, "full"));
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

/* A damaged length in a large file: refused as past the format's limits
 * before anything is allocated for it (the file is sparse: its size
 * would let a reader that trusted the length read 200 MiB). */
START_TEST(forged_length)
{
    struct ghost *src = new_store("src");
    change(src, 0);
    OK(ghost_snapshot_create(src, "s1"));
    send_to(src, "s1", NULL, "full");
    size_t n = file_size("full");
    unsigned char hdr[116];
    int fd = file_for("full", false);
    ck_assert_int_eq(read(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    close(fd);
    size_t rec = 116 + be_get(hdr + 112, 2) + be_get(hdr + 114, 2) + 8;
    struct {
        size_t at, len;
        uint64_t val;
        const char *what;
    } forge[2] = {{rec + 13, 4, 200u << 20, "value 209715200"}, {rec + 11, 2, 60000, "key 60000"}};
    for (int i = 0; i < 2; i++) {
        copy_stream("full", "forged", n, -1);
        fd = open(test_path("forged"), O_RDWR);
        ck_assert_int_ge(fd, 0);
        unsigned char b[4];
        for (size_t j = 0; j < forge[i].len; j++)
            b[j] = (unsigned char)(forge[i].val >> (8 * (forge[i].len - 1 - j)));
        ck_assert_int_eq(pwrite(fd, b, forge[i].len, (off_t)forge[i].at), (ssize_t)forge[i].len);
        ck_assert_int_eq(ftruncate(fd, (off_t)300 << 20), 0);
        uint64_t rss = test_peak_rss();
        int r = ghost_stream_check(fd, NULL, NULL, NULL);
        close(fd);
        ck_assert_msg(r == -EBADMSG, "%s: %d (%s) %s", forge[i].what, r, test_ename(r),
                      ghost_errmsg());
        ck_assert_msg(strstr(ghost_errmsg(), forge[i].what), "%s", ghost_errmsg());
        ck_assert_uint_lt(test_peak_rss(), rss + (32u << 20));
    }
    ghost_close(src);
}
END_TEST

START_TEST(name_taken_and_pipes)
{
    struct bad b;
    bad_setup(&b);
    OK(receive_from(b.dst, "full"));
    refused(&b, "full", -EEXIST, "a stream whose snapshot is there already");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    EXPECT(ghost_receive(b.dst, p[0], NULL, NULL, NULL), -ESPIPE);
    close(p[0]);
    close(p[1]);
    /* Not a stream at all: a store. */
    int fd = open(b.dst_path, O_RDONLY);
    EXPECT(ghost_receive(b.dst, fd, NULL, NULL, NULL), -GHOST_EFORMAT);
    close(fd);
    ghost_close(b.dst);
    ghost_close(b.src);
}
END_TEST

START_TEST(sender_refuses)
{
    struct ghost *g = new_store("src");
    change(g, 0);
    OK(ghost_snapshot_create(g, "old"));
    OK(ghost_snapshot_create(g, "new"));
    int fd = file_for("out", true);
    EXPECT(ghost_send(g, "nope", NULL, fd, NULL, NULL, NULL), -ENOENT);
    EXPECT(ghost_send(g, "new", "nope", fd, NULL, NULL, NULL), -ENOENT);
    EXPECT(ghost_send(g, "old", "new", fd, NULL, NULL, NULL), -EINVAL);
    EXPECT(ghost_send(g, "old", "old", fd, NULL, NULL, NULL), -EINVAL);
    close(fd);
    ghost_close(g);
}
END_TEST

/* A backup is the store, snapshots and all, compacted; it keeps the
 * generations, so that it writes on as the store would; it has a uuid of
 * its own, yet takes the store's incrementals (its snapshots keep their
 * origin); and it never overwrites. */
START_TEST(backup_is_the_store)
{
    struct ghost *src = new_store("src");
    change(src, 0);
    OK(ghost_snapshot_create(src, "s1"));
    change(src, 1);
    change(src, 2);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", test_path("copy"));
    struct ghost_backup_info info;
    OK(ghost_backup(src, copy, NULL, NULL, &info));
    ck_assert_uint_eq(info.findings, 0);
    ck_assert_uint_gt(info.records, 0);
    ck_assert_uint_gt(info.bytes, 0);
    EXPECT(ghost_backup(src, copy, NULL, NULL, NULL), -EEXIST);

    struct ghost *c = open_store(copy);
    struct ghost_stats st;
    ghost_stats(c, &st);
    ck_assert_uint_ge(st.generation, info.generation);
    assert_same(src, NULL, c, NULL);
    assert_same(src, "s1", c, "s1");
    /* The copy has a uuid of its own: snapshots taken later in it and in
     * the store cannot share an origin. */
    struct ghost_stream_info a, b;
    int fd = file_for("s1-src", true);
    OK(ghost_send(src, "s1", NULL, fd, NULL, NULL, &a));
    close(fd);
    fd = file_for("s1-copy", true);
    OK(ghost_send(c, "s1", NULL, fd, NULL, NULL, &b));
    close(fd);
    ck_assert_msg(memcmp(a.store_uuid, b.store_uuid, 16), "the copy has the store's uuid");
    /* Writes to the copy are newer than what it holds: the snapshot still
     * reads as it was. */
    change(c, 3);
    assert_same(src, "s1", c, "s1");
    ghost_close(c);

    /* An incremental of the store applies to a backup taken at its base
     * (the same snapshot, by origin). */
    OK(ghost_snapshot_create(src, "s2"));
    snprintf(copy, sizeof copy, "%s", test_path("copy2"));
    OK(ghost_backup(src, copy, NULL, NULL, NULL));
    change(src, 4);
    OK(ghost_snapshot_create(src, "s3"));
    send_to(src, "s3", "s2", "incr");
    c = open_store(copy);
    OK(receive_from(c, "incr"));
    assert_same(src, "s3", c, "s3");
    ghost_close(c);
    ghost_close(src);
}
END_TEST

/* ---- a slice past its buffer ---- */

#define BIG_OBJS 100
#define BIG_LEN (64 * 1024)

static int big_fn(struct ghost_txn *t, void *arg)
{
    (void)arg;
    static unsigned char buf[BIG_LEN];
    for (uint64_t oid = 1; oid <= BIG_OBJS; oid++) {
        memset(buf, (int)(oid & 0xff), sizeof buf);
        buf[0] = (unsigned char)(oid >> 8);
        int r = ghost_obj_put(t, oid, 1, buf, sizeof buf);
        if (r)
            return r;
    }
    return 0;
}

/* 6.5 MB in fewer keys than a slice takes: the slice ends when its buffer
 * fills (4 MiB), and the next one goes on after the last key sent, not
 * from where the slice began (which never ended). The file size limit
 * turns a stream that does not end into a failed write. */
START_TEST(slice_past_its_buffer)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {64 << 20, 64 << 20};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    struct ghost *src = new_store("src");
    OK(ghost_run(src, big_fn, NULL));
    OK(ghost_snapshot_create(src, "big"));
    send_to(src, "big", NULL, "full");
    size_t n = file_size("full");
    ck_assert_uint_gt(n, (size_t)BIG_OBJS * BIG_LEN);
    ck_assert_uint_lt(n, (size_t)BIG_OBJS * BIG_LEN + 65536);
    int fd = file_for("full", false);
    struct ghost_stream_info info;
    OK(ghost_stream_check(fd, NULL, NULL, &info));
    close(fd);
    ck_assert_uint_eq(info.records, BIG_OBJS);

    struct ghost *dst = new_store("dst");
    OK(receive_from(dst, "full"));
    struct ghost_txn *a, *b;
    OK(ghost_txn_begin_snapshot(src, "big", &a));
    OK(ghost_txn_begin(dst, &b));
    for (uint64_t oid = 1; oid <= BIG_OBJS; oid++) {
        uint8_t ta, tb;
        const void *da, *db;
        size_t la, lb;
        OK(ghost_obj_get(a, oid, &ta, &da, &la));
        OK(ghost_obj_get(b, oid, &tb, &db, &lb));
        ck_assert_uint_eq(la, BIG_LEN);
        ck_assert_uint_eq(lb, la);
        ck_assert_uint_eq(tb, ta);
        ck_assert_msg(!memcmp(da, db, la), "object %" PRIu64 " differs", oid);
    }
    ghost_txn_abort(a);
    ghost_txn_abort(b);
    ghost_close(dst);
    ghost_close(src);
}
END_TEST

/* How many files of test_dir() begin with prefix. */
static int files_named(const char *prefix)
{
    DIR *d = opendir(test_dir());
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

struct during_check {
    const char *dest;
    bool seen, dest_there, make_dest;
};

/* Called while the copy is checked: is dest there yet? Then perhaps make
 * a file there, as another program might. */
static void backup_progress(void *arg, const struct ghost_progress *p)
{
    (void)p;
    struct during_check *d = arg;
    struct stat st;
    d->seen = true;
    d->dest_there |= stat(d->dest, &st) == 0;
    if (d->make_dest && !d->dest_there) {
        int fd = open(d->dest, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "mine", 4), 4);
        close(fd);
    }
}

/* A backup appears at dest only once checked, under a temporary name
 * before; it never replaces a file that appeared at dest meanwhile; and
 * it leaves no temporary behind, whether it worked or failed. */
START_TEST(backup_appears_when_checked)
{
    struct ghost *src = new_store("src");
    change(src, 0);
    char dest[4096];
    snprintf(dest, sizeof dest, "%s", test_path("bk"));
    struct during_check d = {dest, false, false, false};
    OK(ghost_backup(src, dest, backup_progress, &d, NULL));
    ck_assert(d.seen);
    ck_assert_msg(!d.dest_there, "the backup was at its name before it was checked");
    ck_assert_int_eq(files_named("bk.tmp-"), 0);
    ck_assert_int_eq(files_named("bk-lock"), 0);
    struct ghost *c = open_store(dest);
    assert_same(src, NULL, c, NULL);
    ghost_close(c);

    EXPECT(ghost_backup(src, dest, NULL, NULL, NULL), -EEXIST);
    ck_assert_int_eq(files_named("bk.tmp-"), 0);

    snprintf(dest, sizeof dest, "%s", test_path("bk2"));
    d = (struct during_check){dest, false, false, true};
    EXPECT(ghost_backup(src, dest, backup_progress, &d, NULL), -EEXIST);
    ck_assert_int_eq(file_size("bk2"), 4); /* the file made meanwhile, kept */
    ck_assert_int_eq(files_named("bk2.tmp-"), 0);
    ghost_close(src);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_then_three_incrementals);
    tcase_add_test(tc, incremental_of_nothing);
    tcase_add_test(tc, truncated_anywhere);
    tcase_add_test(tc, flipped_anywhere);
    tcase_add_test(tc, base_missing_or_foreign);
    tcase_add_test(tc, name_taken_and_pipes);
    tcase_add_test(tc, sender_refuses);
    tcase_add_test(tc, backup_is_the_store);
    tcase_add_test(tc, slice_past_its_buffer);
    tcase_add_test(tc, full_into_store_with_objects);
    tcase_add_test(tc, incremental_over_a_written_store);
    tcase_add_test(tc, stream_replaced_between_passes);
    tcase_add_test(tc, forged_length);
    tcase_add_test(tc, backup_appears_when_checked);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(stream_suite)
