/*
 * inode_rec.c - the inode record's bytes: the one place that encodes and
 * decodes them (docs/format.md has the same layout).
 *
 * The record (FS_OBJ_INODE object at OID = inode number, all integers
 * big-endian):
 *   mode:4 uid:4 gid:4 nlink:4 size:8 atime:8 mtime:8 ctime:8 btime:8
 *   rdev:8 parent:8 dv:8 stored:8 flags:4  then inline data (small files,
 *   symlinks)
 * Times are signed nanoseconds since the epoch. flags: bit 0 INLINE, bits
 * 16 and 17 chattr's +i and +a (iflags.c); a record written before those
 * existed has them clear.
 *
 * No locks: a record is read and written inside the caller's transaction
 * (rec_peek opens a read view of its own).
 */
#include "inode_rec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "fsint.h"

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rec_get(struct ghost_txn *t, uint64_t ino, struct rec *r)
{
    uint8_t type;
    const void *d;
    size_t len;
    int e = ghost_obj_get(t, ino, &type, &d, &len);
    if (e)
        return e;
    if (type != FS_OBJ_INODE)
        return -ENOENT;
    if (len < REC_HDR)
        return -EIO;
    const unsigned char *p = d;
    r->mode = get_be32(p);
    r->uid = get_be32(p + 4);
    r->gid = get_be32(p + 8);
    r->nlink = get_be32(p + 12);
    r->size = get_be64(p + 16);
    r->atime = (int64_t)get_be64(p + 24);
    r->mtime = (int64_t)get_be64(p + 32);
    r->ctime = (int64_t)get_be64(p + 40);
    r->btime = (int64_t)get_be64(p + 48);
    r->rdev = get_be64(p + 56);
    r->parent = get_be64(p + 64);
    r->dv = get_be64(p + 72);
    r->stored = get_be64(p + 80);
    r->flags = get_be32(p + 88);
    r->inl = p + REC_HDR;
    r->inl_len = len - REC_HDR;
    return 0;
}

int rec_put(struct ghost_txn *t, uint64_t ino, const struct rec *r)
{
    unsigned char stackbuf[REC_HDR + 512];
    size_t len = REC_HDR + r->inl_len;
    unsigned char *p = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!p)
        return -ENOMEM;
    put_be32(p, r->mode);
    put_be32(p + 4, r->uid);
    put_be32(p + 8, r->gid);
    put_be32(p + 12, r->nlink);
    put_be64(p + 16, r->size);
    put_be64(p + 24, (uint64_t)r->atime);
    put_be64(p + 32, (uint64_t)r->mtime);
    put_be64(p + 40, (uint64_t)r->ctime);
    put_be64(p + 48, (uint64_t)r->btime);
    put_be64(p + 56, r->rdev);
    put_be64(p + 64, r->parent);
    put_be64(p + 72, r->dv);
    put_be64(p + 80, r->stored);
    put_be32(p + 88, r->flags);
    if (r->inl_len)
        memcpy(p + REC_HDR, r->inl, r->inl_len);
    int e = ghost_obj_put(t, ino, FS_OBJ_INODE, p, len);
    if (p != stackbuf)
        free(p);
    return e;
}

void rec_attr(struct fs *fs, uint64_t ino, const struct rec *r, struct fs_attr *a)
{
    memset(a, 0, sizeof *a);
    a->ino = ino;
    a->mode = r->mode;
    a->uid = r->uid;
    a->gid = r->gid;
    a->nlink = r->nlink;
    a->size = r->size;
    a->blocks = ((r->flags & INODE_INLINE ? r->inl_len : r->stored) + 511) / 512;
    a->rdev = r->rdev;
    a->atime_ns = r->atime;
    a->mtime_ns = r->mtime;
    a->ctime_ns = r->ctime;
    a->btime_ns = r->btime;
    a->blksize = fs->bs;
    a->handle_gen = rec_handle_gen(ino, r);
}

/* OIDs are never handed out twice (a store's next OID only grows), so the
 * inode number alone tells inodes apart within one store's history: a
 * handle to a deleted inode finds no record and is ESTALE. The generation
 * covers what that does not: a store copied back from an older copy hands
 * out again numbers that handles taken on the newer one may name. The
 * birth time is fixed at creation and differs between two inodes that get
 * one number that way, so it is folded to the kernel's 32 bits. The root
 * is 0: the kernel made its inode before any reply, with generation 0, and
 * would take any other as a sign that the number was reused. */
uint32_t rec_handle_gen(uint64_t ino, const struct rec *r)
{
    if (ino == FS_ROOT_INO)
        return 0;
    uint64_t b = (uint64_t)r->btime;
    return (uint32_t)(b ^ (b >> 32));
}

int rec_peek(struct fs *fs, uint64_t ino, struct rec *r)
{
    struct ghost_txn *t;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = rec_get(t, ino, r);
    ghost_txn_abort(t);
    r->inl = NULL;
    return e;
}
