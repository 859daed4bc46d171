/*
 * stream.c - the send stream's format (stream.h, docs/format.md "The send
 * stream"): encoding the header, records and trailer with their checksums,
 * and reading them back, checking each as it comes. Nothing here knows
 * the store: send.c decides what to write, receive.c what to do with it.
 *
 * The reader trusts no length before the bytes that follow it are known to
 * exist: a record's lengths are bounded by the format's limits (a key of
 * GHOST_KEY_MAX bytes, a value of STREAM_VALUE_MAX) and by what is left of
 * the file (its size is known: the stream is a file, spooled if it came
 * through a pipe), so a damaged length reads as a damaged or truncated
 * stream, not as a huge allocation.
 */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define HDR_FIXED 116 /* the header up to the names */
#define REC_HDR 17    /* kind:1 owner:8 map:1 type:1 klen:2 vlen:4 */
#define TRAILER_LEN (1 + 8 + 8 + 8 + 8)
#define READ_CHUNK (1 << 20)

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- writing ---- */

int stream_out_init(struct stream_out *o, int fd)
{
    memset(o, 0, sizeof *o);
    o->fd = fd;
    o->sum = XXH3_createState();
    if (!o->sum || XXH3_64bits_reset(o->sum) != XXH_OK)
        return ghost_set_error(-ENOMEM, "out of memory");
    return 0;
}

void stream_out_free(struct stream_out *o)
{
    free(o->buf);
    if (o->sum)
        XXH3_freeState(o->sum);
    memset(o, 0, sizeof *o);
}

/* Room for n more bytes in the buffer: a pointer to them. */
static unsigned char *out_room(struct stream_out *o, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 65536;
        while (cap < o->len + n)
            cap *= 2;
        unsigned char *b = realloc(o->buf, cap);
        if (!b)
            return NULL;
        o->buf = b;
        o->cap = cap;
    }
    unsigned char *p = o->buf + o->len;
    o->len += n;
    o->bytes += n;
    return p;
}

/* The bytes just appended at p (n of them) count in the stream's sum. */
static void out_summed(struct stream_out *o, const unsigned char *p, size_t n)
{
    XXH3_64bits_update(o->sum, p, n);
}

int stream_put_header(struct stream_out *o, const struct stream_header *h)
{
    size_t nl = strlen(h->name), bl = strlen(h->base);
    unsigned char *p = out_room(o, HDR_FIXED + nl + bl + 8);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory");
    unsigned char *q = p;
    memcpy(q, STREAM_MAGIC, 8);
    be32(q + 8, h->version);
    be32(q + 12, h->flags);
    memcpy(q + 16, h->store_uuid, 16);
    be64(q + 32, h->gen);
    memcpy(q + 40, h->origin_uuid, 16);
    be64(q + 56, h->origin_gen);
    be64(q + 64, h->created_ns);
    memcpy(q + 72, h->base_uuid, 16);
    be64(q + 88, h->base_gen);
    be64(q + 96, h->untallied);
    be64(q + 104, h->next_oid);
    q[112] = (unsigned char)(nl >> 8), q[113] = (unsigned char)nl;
    q[114] = (unsigned char)(bl >> 8), q[115] = (unsigned char)bl;
    memcpy(q + HDR_FIXED, h->name, nl);
    memcpy(q + HDR_FIXED + nl, h->base, bl);
    size_t n = HDR_FIXED + nl + bl;
    be64(q + n, XXH3_64bits(q, n));
    out_summed(o, p, n + 8);
    return 0;
}

int stream_put_record(struct stream_out *o, const struct stream_rec *r)
{
    size_t n = REC_HDR + r->klen + r->vlen;
    if (r->klen > GHOST_KEY_MAX || r->vlen > STREAM_VALUE_MAX)
        return ghost_set_error(-EFBIG,
                               "OID %llu: a value of %zu bytes is larger than a stream carries "
                               "(%zu)",
                               (unsigned long long)r->owner, r->vlen, STREAM_VALUE_MAX);
    unsigned char *p = out_room(o, n + 8);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory");
    p[0] = (unsigned char)r->kind;
    be64(p + 1, r->owner);
    p[9] = (unsigned char)r->map;
    p[10] = r->type;
    p[11] = (unsigned char)(r->klen >> 8), p[12] = (unsigned char)r->klen;
    be32(p + 13, (uint32_t)r->vlen);
    if (r->klen)
        memcpy(p + REC_HDR, r->key, r->klen);
    if (r->vlen)
        memcpy(p + REC_HDR + r->klen, r->val, r->vlen);
    be64(p + n, XXH3_64bits_withSeed(p, n, ++o->seq));
    out_summed(o, p, n + 8);
    return 0;
}

int stream_put_trailer(struct stream_out *o)
{
    uint64_t sum = XXH3_64bits_digest(o->sum), before = o->bytes;
    unsigned char *p = out_room(o, TRAILER_LEN);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory");
    p[0] = REC_END;
    be64(p + 1, o->seq);
    be64(p + 9, before);
    be64(p + 17, sum);
    be64(p + 25, XXH3_64bits_withSeed(p, 25, o->seq + 1));
    return 0;
}

int stream_flush(struct stream_out *o)
{
    size_t done = 0;
    while (done < o->len) {
        ssize_t n = write(o->fd, o->buf + done, o->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            return ghost_set_error(-e, "writing the stream: %s", strerror(e));
        }
        done += (size_t)n;
    }
    o->len = 0;
    return 0;
}

/* ---- reading ---- */

int stream_in_init(struct stream_in *in, int fd)
{
    struct stat st;
    memset(in, 0, sizeof *in);
    in->fd = fd;
    if (fstat(fd, &st))
        return ghost_set_error(-errno, "reading the stream: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return ghost_set_error(-ESPIPE, "the stream must be read from a file, not a pipe");
    if (lseek(fd, 0, SEEK_SET) < 0)
        return ghost_set_error(-errno, "reading the stream: %s", strerror(errno));
    in->total = (uint64_t)st.st_size;
    in->buf = malloc(READ_CHUNK);
    in->sum = XXH3_createState();
    if (!in->buf || !in->sum || XXH3_64bits_reset(in->sum) != XXH_OK)
        return ghost_set_error(-ENOMEM, "out of memory");
    return 0;
}

void stream_in_free(struct stream_in *in)
{
    free(in->buf);
    free(in->rec);
    if (in->sum)
        XXH3_freeState(in->sum);
    memset(in, 0, sizeof *in);
}

static int truncated(struct stream_in *in, const char *what)
{
    return ghost_set_error(-ENODATA,
                           "the stream is truncated: it ends at byte %llu, inside %s (after "
                           "%llu records)",
                           (unsigned long long)in->total, what, (unsigned long long)in->seq);
}

/* Read exactly n bytes into dst (the current record's buffer). */
static int in_read(struct stream_in *in, unsigned char *dst, size_t n, const char *what)
{
    if (n > in->total - in->pos)
        return truncated(in, what);
    while (n) {
        if (in->boff == in->blen) {
            ssize_t got = read(in->fd, in->buf, READ_CHUNK);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return ghost_set_error(-errno, "reading the stream: %s", strerror(errno));
            if (got == 0)
                return truncated(in, what); /* the file shrank under us */
            in->blen = (size_t)got;
            in->boff = 0;
        }
        size_t take = in->blen - in->boff < n ? in->blen - in->boff : n;
        memcpy(dst, in->buf + in->boff, take);
        in->boff += take;
        in->pos += take;
        dst += take;
        n -= take;
    }
    return 0;
}

/* The record buffer, at least n bytes. */
static unsigned char *rec_room(struct stream_in *in, size_t n)
{
    if (n > in->rcap) {
        unsigned char *b = realloc(in->rec, n);
        if (!b)
            return NULL;
        in->rec = b;
        in->rcap = n;
    }
    return in->rec;
}

static bool name_ok(const char *n, size_t len)
{
    return len <= GHOST_SNAP_NAME_MAX && !memchr(n, '/', len) && !memchr(n, 0, len);
}

int stream_read_header(struct stream_in *in, struct stream_header *h)
{
    unsigned char *p = rec_room(in, HDR_FIXED + 2 * GHOST_SNAP_NAME_MAX + 8);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory");
    if (in->total < 8)
        return ghost_set_error(-GHOST_EFORMAT, "not a ghostfs send stream (%llu bytes)",
                               (unsigned long long)in->total);
    int r = in_read(in, p, 8, "the header");
    if (r)
        return r;
    if (memcmp(p, STREAM_MAGIC, 8))
        return ghost_set_error(-GHOST_EFORMAT, "not a ghostfs send stream (no magic)");
    r = in_read(in, p + 8, HDR_FIXED - 8, "the header");
    if (r)
        return r;
    memset(h, 0, sizeof *h);
    h->version = rd32(p + 8);
    if (h->version != STREAM_VERSION)
        return ghost_set_error(-GHOST_EFORMAT,
                               "a send stream of format %u; this ghostfs reads format %d",
                               h->version, STREAM_VERSION);
    size_t nl = (size_t)p[112] << 8 | p[113], bl = (size_t)p[114] << 8 | p[115];
    if (nl == 0 || nl > GHOST_SNAP_NAME_MAX || bl > GHOST_SNAP_NAME_MAX)
        return ghost_set_error(-EBADMSG, "the stream's header is damaged (name lengths)");
    r = in_read(in, p + HDR_FIXED, nl + bl + 8, "the header");
    if (r)
        return r;
    size_t n = HDR_FIXED + nl + bl;
    if (rd64(p + n) != XXH3_64bits(p, n))
        return ghost_set_error(-EBADMSG, "the stream's header fails its checksum");
    in->header_sum = rd64(p + n);
    XXH3_64bits_update(in->sum, p, n + 8);
    h->flags = rd32(p + 12);
    memcpy(h->store_uuid, p + 16, 16);
    h->gen = rd64(p + 32);
    memcpy(h->origin_uuid, p + 40, 16);
    h->origin_gen = rd64(p + 56);
    h->created_ns = rd64(p + 64);
    memcpy(h->base_uuid, p + 72, 16);
    h->base_gen = rd64(p + 88);
    h->untallied = rd64(p + 96);
    h->next_oid = rd64(p + 104);
    memcpy(h->name, p + HDR_FIXED, nl);
    memcpy(h->base, p + HDR_FIXED + nl, bl);
    bool incr = h->flags & STREAM_INCREMENTAL;
    if (h->flags & ~(uint32_t)STREAM_INCREMENTAL || !name_ok(h->name, nl) ||
        !name_ok(h->base, bl) || incr != (bl > 0))
        return ghost_set_error(-EBADMSG, "the stream's header holds what no stream does");
    return 0;
}

/* Does the record hold what a stream may? NULL, or what is wrong. */
static const char *rec_problem(const struct stream_rec *r)
{
    if (r->owner == 0 || r->owner > GHOST_OID_MAX)
        return "an OID out of range";
    switch (r->kind) {
    case REC_OBJ_PUT:
        if (r->type == 0)
            return "an object of no type";
        /* fall through */
    case REC_OBJ_DEL:
        if (r->map || r->klen || (r->kind == REC_OBJ_DEL && (r->vlen || r->type)))
            return "an object record with a map key";
        return NULL;
    case REC_MAP_PUT:
    case REC_MAP_DEL:
        if (r->klen == 0 || r->klen > GHOST_KEY_MAX || r->type ||
            (r->kind == REC_MAP_DEL && r->vlen))
            return "a map record with a bad key";
        return NULL;
    default:
        return "an unknown kind of record";
    }
}

static int read_trailer(struct stream_in *in, unsigned char *p)
{
    int r = in_read(in, p + REC_HDR, TRAILER_LEN - REC_HDR, "the trailer");
    if (r)
        return r;
    if (rd64(p + 25) != XXH3_64bits_withSeed(p, 25, in->seq + 1))
        return ghost_set_error(-EBADMSG, "the stream's trailer fails its checksum");
    in->records = rd64(p + 1);
    in->bytes = rd64(p + 9);
    in->stream_sum = rd64(p + 17);
    uint64_t before = in->pos - TRAILER_LEN;
    if (in->records != in->seq || in->bytes != before)
        return ghost_set_error(-EBADMSG,
                               "the stream's trailer counts %llu records in %llu bytes; the "
                               "stream holds %llu in %llu",
                               (unsigned long long)in->records, (unsigned long long)in->bytes,
                               (unsigned long long)in->seq, (unsigned long long)before);
    if (rd64(p + 17) != XXH3_64bits_digest(in->sum))
        return ghost_set_error(-EBADMSG, "the stream fails its checksum");
    if (in->pos != in->total)
        return ghost_set_error(-EBADMSG, "%llu bytes follow the stream's trailer",
                               (unsigned long long)(in->total - in->pos));
    return 0;
}

int stream_read_record(struct stream_in *in, struct stream_rec *r)
{
    unsigned char *p = rec_room(in, TRAILER_LEN > REC_HDR ? TRAILER_LEN : REC_HDR);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory");
    int e = in_read(in, p, REC_HDR, "a record");
    if (e)
        return e;
    if (p[0] == REC_END)
        return read_trailer(in, p);
    size_t klen = (size_t)p[11] << 8 | p[12], vlen = rd32(p + 13);
    /* Bounded by the format and by the file before anything is allocated
     * for them. */
    if (klen > GHOST_KEY_MAX || vlen > STREAM_VALUE_MAX)
        return ghost_set_error(-EBADMSG,
                               "record %llu of the stream (at byte %llu) has a length past the "
                               "format's limits (key %zu of at most %d, value %zu of at most %zu)",
                               (unsigned long long)in->seq + 1,
                               (unsigned long long)(in->pos - REC_HDR), klen, GHOST_KEY_MAX, vlen,
                               STREAM_VALUE_MAX);
    if (klen + vlen + 8 > in->total - in->pos)
        return truncated(in, "a record");
    size_t n = REC_HDR + klen + vlen;
    unsigned char hdr[REC_HDR];
    memcpy(hdr, p, REC_HDR);
    p = rec_room(in, n + 8);
    if (!p)
        return ghost_set_error(-ENOMEM, "out of memory (a record of %zu bytes)", n);
    memcpy(p, hdr, REC_HDR);
    e = in_read(in, p + REC_HDR, klen + vlen + 8, "a record");
    if (e)
        return e;
    in->seq++;
    if (rd64(p + n) != XXH3_64bits_withSeed(p, n, in->seq))
        return ghost_set_error(-EBADMSG,
                               "record %llu of the stream (at byte %llu) fails its checksum",
                               (unsigned long long)in->seq, (unsigned long long)(in->pos - n - 8));
    XXH3_64bits_update(in->sum, p, n + 8);
    *r = (struct stream_rec){.kind = p[0],
                             .owner = rd64(p + 1),
                             .map = p[9],
                             .type = p[10],
                             .key = p + REC_HDR,
                             .klen = klen,
                             .val = p + REC_HDR + klen,
                             .vlen = vlen};
    const char *why = rec_problem(r);
    if (why)
        return ghost_set_error(-EBADMSG, "record %llu of the stream holds %s",
                               (unsigned long long)in->seq, why);
    return 1;
}
