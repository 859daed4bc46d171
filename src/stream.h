/*
 * stream.h - the send stream's bytes: its header, its records and its
 * trailer (docs/format.md, "The send stream"). stream.c is the one owner of
 * that format: send.c writes a stream through it, receive.c reads one.
 *
 *   header   magic "GHSTSEND" . version:4 . flags:4 . store uuid:16 .
 *            snapshot gen:8 . origin uuid:16 . origin gen:8 . created_ns:8 .
 *            base origin uuid:16 . base origin gen:8 . untallied:8 .
 *            next_oid:8 . name_len:2 . base_len:2 . name . base . cksum:8
 *   record   kind:1 . owner:8 . map:1 . type:1 . klen:2 . vlen:4 . key .
 *            value . cksum:8
 *   trailer  kind:1 (0x7f) . records:8 . bytes:8 . stream cksum:8 . cksum:8
 *
 * Integers are big-endian. A record's checksum is XXH3-64 of its bytes
 * before it, seeded with its sequence number (1 for the first record), so
 * a record dropped, repeated or moved fails its own check; the trailer's
 * is seeded the same way. The stream checksum is XXH3-64 of every byte
 * before the trailer. Only send.c and receive.c include this header.
 */
#ifndef GHOST_STREAM_H
#define GHOST_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xxhash.h>

#include "ghost.h"

#define STREAM_MAGIC "GHSTSEND"
#define STREAM_VERSION 1
#define STREAM_INCREMENTAL 0x1 /* header flags */
/* The largest value a record may carry: the format's limit, so that one
 * damaged length cannot make a reader allocate gigabytes. The filesystem's
 * largest values are blocks of at most 1 MiB; a library value past this
 * cannot be sent (-EFBIG). */
#define STREAM_VALUE_MAX ((size_t)64 << 20)

enum stream_kind {
    REC_OBJ_PUT = 1,
    REC_OBJ_DEL = 2,
    REC_MAP_PUT = 3,
    REC_MAP_DEL = 4,
    REC_END = 0x7f, /* the trailer */
};

struct stream_header {
    uint32_t version, flags;
    unsigned char store_uuid[16];
    uint64_t gen; /* the snapshot's, in the sending store */
    unsigned char origin_uuid[16];
    uint64_t origin_gen;
    uint64_t created_ns;
    unsigned char base_uuid[16]; /* the base's origin (an incremental) */
    uint64_t base_gen;
    uint64_t untallied, next_oid;
    char name[GHOST_SNAP_NAME_MAX + 1];
    char base[GHOST_SNAP_NAME_MAX + 1];
};

/* One record, its key and value borrowed until the next read. */
struct stream_rec {
    enum stream_kind kind;
    uint64_t owner;
    unsigned map; /* maps only */
    uint8_t type; /* object puts only */
    const void *key;
    size_t klen; /* maps only */
    const void *val;
    size_t vlen; /* puts only */
};

/* Writing: records go to a buffer that the caller flushes to the fd
 * between read views (stream_flush). */
struct stream_out {
    int fd;
    unsigned char *buf;
    size_t len, cap;
    XXH3_state_t *sum; /* of every byte before the trailer */
    uint64_t seq;      /* records written */
    uint64_t bytes;    /* bytes written or buffered */
};
int stream_out_init(struct stream_out *o, int fd);
void stream_out_free(struct stream_out *o);
int stream_put_header(struct stream_out *o, const struct stream_header *h);
int stream_put_record(struct stream_out *o, const struct stream_rec *r);
int stream_put_trailer(struct stream_out *o);
/* Write what is buffered to the fd; -errno of a failed write. */
int stream_flush(struct stream_out *o);

/* Reading, and checking as it reads. */
struct stream_in {
    int fd;
    uint64_t total;     /* the stream's size (the fd's file) */
    uint64_t pos;       /* bytes consumed */
    unsigned char *buf; /* read buffer */
    size_t blen, boff;  /* bytes in buf, next unread */
    unsigned char *rec; /* the current record's bytes */
    size_t rcap;
    XXH3_state_t *sum;
    uint64_t seq;            /* records read */
    uint64_t records, bytes; /* as the trailer says, once read */
    uint64_t header_sum;     /* the header's checksum, once read */
    uint64_t stream_sum;     /* the trailer's stream checksum, once read */
};
/* Start reading the stream at fd's offset 0; its size from fstat. */
int stream_in_init(struct stream_in *in, int fd);
void stream_in_free(struct stream_in *in);
/* -GHOST_EFORMAT (not a stream, a newer one), -EBADMSG, -ENODATA
 * (truncated), I/O errors; each with ghost_errmsg() set. */
int stream_read_header(struct stream_in *in, struct stream_header *h);
/* 1 and *r set for a record; 0 at the trailer, checked (counts, the
 * stream's checksum, and nothing after it); or an error as above. */
int stream_read_record(struct stream_in *in, struct stream_rec *r);

#endif
