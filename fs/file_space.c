/*
 * file_space.c - the space a file's data takes: truncate, fallocate (punch
 * a hole, zero a range, extend), lseek's SEEK_DATA / SEEK_HOLE, and
 * copy_file_range. An allocating fallocate that needs more room than the
 * store has free fails with ENOSPC and changes nothing (its size stays).
 *
 * Each of these first commits the inode's write buffer (so that it works on
 * the stored data alone) and then runs one transaction; truncate runs inside
 * the caller's setattr transaction (fs_setattr). Whole blocks in a zeroed range
 * are deleted (holes), partial ones rewritten, and a tail cut is stored
 * shorter; r->stored follows.
 */
#include "file_space.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "iflags.h"
#include "itable.h"
#include "vec.h"
#include "wb_commit.h"

struct keylist {
    VEC(uint64_t) idx;
    uint64_t until; /* stop before this block index */
};

static int collect_blocks(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
    struct keylist *kl = arg;
    (void)v, (void)vl;
    if (klen != BLOCK_KEY_LEN)
        return 0;
    uint64_t i = block_index(key);
    if (i >= kl->until)
        return 1;
    return vec_push(&kl->idx, i);
}

/* Zero [from, to) of the stored data of a block file: whole blocks are
 * deleted, partial ones rewritten. */
static int zero_range(struct fs *fs, struct ghost_txn *t, uint64_t ino, struct rec *r,
                      uint64_t from, uint64_t to)
{
    if (from >= to)
        return 0;
    uint64_t first = from / fs->bs, last = (to - 1) / fs->bs;
    struct keylist kl = {.until = last + 1};
    unsigned char k[BLOCK_KEY_LEN];
    block_key(k, first);
    int e = ghost_map_scan(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, collect_blocks, &kl);
    for (size_t i = 0; e >= 0 && i < kl.idx.n; i++) {
        uint64_t bstart = kl.idx.v[i] * fs->bs;
        uint64_t lo = from > bstart ? from - bstart : 0;
        uint64_t hi = to < bstart + fs->bs ? to - bstart : fs->bs;
        block_key(k, kl.idx.v[i]);
        const void *v;
        size_t vlen;
        e = ghost_map_get(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, &v, &vlen);
        if (e)
            break;
        if (lo == 0 && hi >= vlen) {
            e = ghost_map_del(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN);
            r->stored = r->stored >= vlen ? r->stored - vlen : 0;
        } else if (lo < vlen) {
            unsigned char *b = malloc(vlen);
            if (!b) {
                e = -ENOMEM;
                break;
            }
            memcpy(b, v, vlen);
            size_t end = hi < vlen ? hi : vlen;
            memset(b + lo, 0, end - lo);
            /* cutting the tail: store it shorter */
            size_t keep = hi >= vlen ? lo : vlen;
            e = ghost_map_put(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, b, keep);
            r->stored = r->stored >= vlen - keep ? r->stored - (vlen - keep) : 0;
            free(b);
        }
    }
    vec_free(&kl.idx);
    return e < 0 ? e : 0;
}

int truncate_txn(struct fs *fs, struct ghost_txn *t, uint64_t ino, struct rec *r, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return -EFBIG;
    if (r->flags & INODE_INLINE) {
        if (size < r->inl_len)
            r->inl_len = size;
    } else if (size < r->size) {
        int e = zero_range(fs, t, ino, r, size, r->size);
        if (e)
            return e;
        if (size == 0) { /* nothing stored: back to inline */
            r->flags |= INODE_INLINE;
            r->inl_len = 0;
            r->stored = 0;
        }
    }
    if (size != r->size)
        r->dv++;
    r->size = size;
    return 0;
}

struct alloc_ctx {
    struct fs *fs;
    uint64_t ino;
    int mode;
    uint64_t off, len;
    uint64_t free; /* allocating: the bytes the store has free */
};

struct blockcount {
    uint64_t until; /* stop before this block index */
    uint64_t n;
};

static int count_blocks(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
    struct blockcount *bc = arg;
    (void)v, (void)vl;
    if (klen != BLOCK_KEY_LEN)
        return 0;
    if (block_index(key) >= bc->until)
        return 1;
    bc->n++;
    return 0;
}

/* Allocating [off, off+len) needs room for the blocks it covers that the
 * file does not store yet; more than the store has free is ENOSPC, before
 * anything is changed. Nothing is reserved: a later write may still find
 * the space taken by others. */
static int check_room(struct alloc_ctx *c, struct ghost_txn *t, const struct rec *r)
{
    uint64_t bs = c->fs->bs, end = c->off + c->len;
    uint64_t first = c->off / bs, last = (end - 1) / bs;
    uint64_t need = (last - first + 1) * bs, have = 0;
    if (r->flags & INODE_INLINE) {
        have = r->inl_len > c->off ? bs : 0; /* the inline bytes stand for block 0 */
    } else {
        struct blockcount bc = {.until = last + 1};
        unsigned char k[BLOCK_KEY_LEN];
        block_key(k, first);
        int e = ghost_map_scan(t, c->ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, count_blocks, &bc);
        if (e < 0)
            return e;
        have = bc.n * bs;
    }
    need = need > have ? need - have : 0;
    return need > c->free ? -ENOSPC : 0;
}

static int falloc_fn(struct ghost_txn *t, void *arg)
{
    struct alloc_ctx *c = arg;
    struct rec r;
    int e = rec_get(t, c->ino, &r);
    if (e)
        return e;
    if (!S_ISREG(r.mode))
        return S_ISDIR(r.mode) ? -EISDIR : -ENODEV;
    e = iflags_may_fallocate(&r, c->mode);
    if (!e && !(c->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
        e = check_room(c, t, &r);
    if (e)
        return e;
    uint64_t end = c->off + c->len;
    if (c->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        uint64_t to = end < r.size ? end : r.size;
        if (r.flags & INODE_INLINE) {
            if (c->off < r.inl_len) {
                size_t hi = to < r.inl_len ? to : r.inl_len;
                unsigned char *b = malloc(r.inl_len);
                if (!b)
                    return -ENOMEM;
                memcpy(b, r.inl, r.inl_len);
                memset(b + c->off, 0, hi - c->off);
                r.inl = b;
                r.dv++;
                r.mtime = r.ctime = now_ns();
                if (!(c->mode & FALLOC_FL_KEEP_SIZE) && end > r.size)
                    r.size = end;
                e = rec_put(t, c->ino, &r);
                free(b);
                return e;
            }
        } else {
            e = zero_range(c->fs, t, c->ino, &r, c->off, to);
            if (e)
                return e;
        }
        r.dv++;
        r.mtime = r.ctime = now_ns();
    }
    if (!(c->mode & FALLOC_FL_KEEP_SIZE) && end > r.size) {
        r.size = end;
        r.ctime = now_ns();
    }
    return rec_put(t, c->ino, &r);
}

int fs_fallocate(struct fs *fs, uint64_t ino, int mode, int64_t soff, int64_t slen)
{
    if (soff < 0 || slen <= 0)
        return -EINVAL;
    uint64_t off = (uint64_t)soff, len = (uint64_t)slen;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
        return -EOPNOTSUPP;
    if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
        return -EOPNOTSUPP;
    if (len == 0 || off + len < off || off + len > (uint64_t)INT64_MAX)
        return len == 0 ? -EINVAL : -EFBIG;
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    struct alloc_ctx c = {fs, ino, mode, off, len, 0};
    struct ghost_usage u;
    int e = wb_commit(fs, in);
    if (!e && !(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
        e = fs_store_usage(fs, &u); /* what statfs says is free */
        c.free = u.free_bytes;
    }
    if (!e)
        e = fs_run(fs, falloc_fn, &c);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e);
}

struct seek_ctx {
    uint64_t want; /* next block index expected */
    bool data;     /* SEEK_DATA: stop at the first block */
    uint64_t found;
    bool hit;
};

static int seek_visit(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
    struct seek_ctx *s = arg;
    (void)v, (void)vl;
    if (klen != BLOCK_KEY_LEN)
        return 0;
    uint64_t i = block_index(key);
    if (s->data) {
        s->found = i;
        s->hit = true;
        return 1;
    }
    if (i != s->want)
        return 1; /* a gap: the hole starts at want */
    s->want++;
    return 0;
}

/* Does the file store a block for every index its size covers (so that
 * it has no holes, and a gap in its blocks is damage a read will report,
 * not a hole to show)? 1, 0, or an error. */
static int dense(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r)
{
    struct ghost_tally tl;
    int e = ghost_map_tally(t, ino, FS_MAP_DATA, &tl);
    if (e == -ENODATA)
        return 0;
    uint64_t covered = r->size / fs->bs + (r->size % fs->bs != 0);
    return e ? e : tl.count >= covered;
}

int64_t fs_lseek(struct fs *fs, uint64_t ino, int64_t off, int whence)
{
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0)
        return -ENXIO;
    int e = wb_commit_ino(fs, ino);
    if (e)
        return fs_errno(e);
    struct ghost_txn *t;
    struct rec r;
    e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = rec_get(t, ino, &r);
    int64_t ret = e;
    if (!e && (uint64_t)off >= r.size)
        ret = -ENXIO;
    else if (!e && ((r.flags & INODE_INLINE) || (ret = dense(fs, t, ino, &r)) == 1))
        ret = whence == SEEK_DATA ? off : (int64_t)r.size; /* no holes */
    else if (!e && ret == 0) {
        struct seek_ctx s = {.want = (uint64_t)off / fs->bs, .data = whence == SEEK_DATA};
        unsigned char k[BLOCK_KEY_LEN];
        block_key(k, s.want);
        e = ghost_map_scan(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, seek_visit, &s);
        if (e < 0) {
            ret = e;
        } else if (whence == SEEK_DATA) {
            uint64_t at = s.found * fs->bs;
            if (!s.hit || at >= r.size)
                ret = -ENXIO;
            else
                ret = (int64_t)(at > (uint64_t)off ? at : (uint64_t)off);
        } else {
            uint64_t hole = s.want * fs->bs;
            if (hole < (uint64_t)off)
                hole = (uint64_t)off;
            ret = (int64_t)(hole < r.size ? hole : r.size);
        }
    }
    ghost_txn_abort(t);
    return fs_errno(ret);
}

ssize_t fs_copy_range(struct fs *fs, uint64_t in, uint64_t off_in, uint64_t out, uint64_t off_out,
                      size_t len, unsigned flags)
{
    if (flags)
        return -EINVAL;
    size_t chunk = (size_t)1 << 20, done = 0;
    unsigned char *buf = malloc(chunk);
    if (!buf)
        return -ENOMEM;
    while (done < len) {
        size_t want = len - done < chunk ? len - done : chunk;
        ssize_t n = fs_read(fs, in, buf, want, off_in + done);
        if (n <= 0) {
            if (n < 0 && done == 0)
                done = (size_t)n;
            break;
        }
        ssize_t w = fs_write(fs, out, buf, (size_t)n, off_out + done, false);
        if (w < 0) {
            if (done == 0)
                done = (size_t)w;
            break;
        }
        done += (size_t)w;
        if ((size_t)n < want)
            break;
    }
    free(buf);
    return (ssize_t)done;
}
