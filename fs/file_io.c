/*
 * file_io.c - reading and writing file data, through the write buffer.
 *
 * A file's bytes are either inline in its record (INODE_INLINE: the record
 * holds the first inl_len bytes, the rest up to size are zeros) or in
 * FS_MAP_DATA blocks of the filesystem's block size, keyed by block index; a
 * missing block is a hole, a stored block shorter than the block size is
 * zero-filled. A file turns from inline into blocks when a write lands past
 * the inline limit (wb_commit.c), and back when it is truncated to zero
 * (file_space.c).
 *
 * Writes go to the inode's write buffer (wbuf.c). Every read in this
 * process merges the buffer over the stored data. The buffer is committed
 * - close is a transaction - at flush, fsync and release; by the flusher
 * once it is commit_interval old; and at once by the writer when the
 * inode's buffer passes its share or all buffers pass the budget
 * (back-pressure: memory stays bounded however much is written).
 *
 * Locks: a read holds the inode's rw lock shared across its read view, a
 * write holds it exclusively (see fsint.h for the order).
 */
#include "fsint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "damage.h"
#include "dirty.h"
#include "file_io.h"
#include "iflags.h"
#include "itable.h"
#include "wb_commit.h"

#define INODE_SHARE_MAX ((size_t)16 << 20)

/* Copy stored bytes [off, off+len) of the block-or-inline file into dst,
 * zeros for holes and past the stored length. */
static int read_stored(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r,
                       unsigned char *dst, uint64_t off, size_t len, bool settled)
{
    memset(dst, 0, len);
    if (r->flags & INODE_INLINE) {
        if (off < r->inl_len) {
            size_t n = r->inl_len - off < len ? r->inl_len - off : len;
            memcpy(dst, r->inl + off, n);
        }
        return 0;
    }
    struct hole_check hc = HOLE_CHECK_INIT;
    hc.settled = settled;
    while (len) {
        uint64_t index = off / fs->bs;
        uint32_t boff = (uint32_t)(off % fs->bs);
        size_t n = fs->bs - boff < len ? fs->bs - boff : len;
        unsigned char k[BLOCK_KEY_LEN];
        const void *v;
        size_t vlen;
        block_key(k, index);
        int e = ghost_map_get(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, &v, &vlen);
        if (e == -ENOENT && (e = block_absent(fs, t, &hc, ino, r->size, index)) == 0)
            e = -ENOENT;
        if (e && e != -ENOENT)
            return e;
        if (!e && boff < vlen)
            memcpy(dst, (const unsigned char *)v + boff, vlen - boff < n ? vlen - boff : n);
        dst += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Copy what wb holds of [off, off+size) over buf. */
static void merge_buffer(struct fs *fs, const struct wbuf *wb, void *buf, uint64_t off, size_t size)
{
    if (!wb || !size)
        return;
    uint64_t first = off / fs->bs, last = (off + size - 1) / fs->bs;
    size_t pos;
    wb_find((struct wbuf *)wb, first, &pos);
    for (; pos < wb->blocks.n && wb->blocks.v[pos].index <= last; pos++) {
        const struct dblock *d = &wb->blocks.v[pos];
        uint64_t bstart = d->index * fs->bs;
        uint64_t lo = off > bstart ? off : bstart;
        uint64_t hi = off + size < bstart + fs->bs ? off + size : bstart + fs->bs;
        wb_overlay(d, (unsigned char *)buf + (lo - off), (uint32_t)(lo - bstart),
                   (uint32_t)(hi - bstart));
    }
}

/* Zeros that pieces of holes point to. */
static const unsigned char zeros[64 << 10];

/* Hand the stored bytes [off, off+size) of a block file to fn as pieces
 * pointing into t's pages, zeros for holes and past a block's end. */
static int pieces_stored(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r,
                         uint64_t off, size_t size, fs_pieces_fn fn, void *arg)
{
    struct hole_check hc = HOLE_CHECK_INIT;
    size_t nblocks = (size_t)((off % fs->bs + size + fs->bs - 1) / fs->bs);
    size_t cap = 2 * nblocks + size / sizeof zeros + 1, n = 0;
    struct iovec *iov = malloc(cap * sizeof *iov);
    if (!iov)
        return -ENOMEM;
    while (size) {
        uint64_t index = off / fs->bs;
        uint32_t boff = (uint32_t)(off % fs->bs);
        size_t len = fs->bs - boff < size ? fs->bs - boff : size;
        unsigned char k[BLOCK_KEY_LEN];
        const void *v = NULL;
        size_t vlen = 0;
        block_key(k, index);
        int e = ghost_map_get(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, &v, &vlen);
        if (e == -ENOENT && (e = block_absent(fs, t, &hc, ino, r->size, index)) == 0)
            e = -ENOENT;
        if (e && e != -ENOENT) {
            free(iov);
            return e;
        }
        size_t have = !e && boff < vlen ? (vlen - boff < len ? vlen - boff : len) : 0;
        if (have)
            iov[n++] = (struct iovec){(unsigned char *)v + boff, have};
        for (size_t z = len - have; z;) {
            size_t c = z < sizeof zeros ? z : sizeof zeros;
            iov[n++] = (struct iovec){(void *)zeros, c};
            z -= c;
        }
        off += len;
        size -= len;
    }
    fn(arg, iov, (int)n);
    free(iov);
    return 0;
}

/* Whether wb holds bytes of [off, off+size). */
static bool buffered_in(const struct fs *fs, const struct wbuf *wb, uint64_t off, size_t size)
{
    if (!wb || !size)
        return false;
    size_t pos;
    wb_find((struct wbuf *)wb, off / fs->bs, &pos);
    return pos < wb->blocks.n && wb->blocks.v[pos].index <= (off + size - 1) / fs->bs;
}

/* fs_read and fs_read_pieces: with fn, hand the bytes to it (as pieces of
 * the store when nothing of them is buffered and the file has blocks;
 * else as one piece of buf, copied and merged); without, copy into buf. */
static ssize_t read_common(struct fs *fs, uint64_t ino, void *buf, size_t size, uint64_t off,
                           fs_pieces_fn fn, void *arg)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    struct ghost_txn *t;
    struct rec r;
    void *own = NULL;
    pthread_rwlock_rdlock(&in->rw);
    ssize_t e = ghost_txn_begin(fs->g, &t);
    if (e)
        goto out_unlock;
    e = rec_get(t, ino, &r);
    if (!e && S_ISDIR(r.mode))
        e = -EISDIR;
    if (e)
        goto out;
    uint64_t fsize = r.size;
    if (in->wb_old && in->wb_old->end > fsize)
        fsize = in->wb_old->end;
    if (in->wb && in->wb->end > fsize)
        fsize = in->wb->end;
    size = off >= fsize ? 0 : size > fsize - off ? (size_t)(fsize - off) : size;
    if (fn && !(r.flags & INODE_INLINE) && !buffered_in(fs, in->wb_old, off, size) &&
        !buffered_in(fs, in->wb, off, size)) {
        e = pieces_stored(fs, t, ino, &r, off, size, fn, arg);
        e = e ? e : (ssize_t)size;
        goto out;
    }
    if (!buf && size && !(buf = own = malloc(size))) {
        e = -ENOMEM;
        goto out;
    }
    e = size ? read_stored(fs, t, ino, &r, buf, off, size, false) : 0;
    if (e)
        goto out;
    /* Buffered writes over what is stored, the older buffer first. */
    merge_buffer(fs, in->wb_old, buf, off, size);
    merge_buffer(fs, in->wb, buf, off, size);
    if (fn) {
        struct iovec one = {buf ? buf : (void *)zeros, size}; /* (no NULL base: a 0-byte read) */
        fn(arg, &one, 1);
    }
    e = (ssize_t)size;
out:
    ghost_txn_abort(t);
out_unlock:
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    free(own);
    return e;
}

int file_read_settled(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r,
                      void *dst, uint64_t off, size_t len)
{
    return read_stored(fs, t, ino, r, dst, off, len, true);
}

ssize_t fs_read(struct fs *fs, uint64_t ino, void *buf, size_t size, uint64_t off)
{
    return fs_errno(read_common(fs, ino, buf, size, off, NULL, NULL));
}

ssize_t fs_read_pieces(struct fs *fs, uint64_t ino, size_t size, uint64_t off, fs_pieces_fn fn,
                       void *arg)
{
    return fs_errno(read_common(fs, ino, NULL, size, off, fn, arg));
}

/* The size with what is buffered here, over the stored record r. */
static uint64_t current_size(const struct inode *in, const struct rec *r)
{
    uint64_t size = r->size;
    if (in->wb_old && in->wb_old->end > size)
        size = in->wb_old->end;
    if (in->wb && in->wb->end > size)
        size = in->wb->end;
    return size;
}

ssize_t fs_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, uint64_t off,
                 bool append)
{
    if (size == 0)
        return 0;                        /* writes nothing, not even a size */
    pthread_rwlock_rdlock(&fs->ro_lock); /* readonly cannot change under us */
    if (fs->readonly) {
        pthread_rwlock_unlock(&fs->ro_lock);
        return -EROFS;
    }
    struct inode *in = inode_get(fs, ino);
    if (!in) {
        pthread_rwlock_unlock(&fs->ro_lock);
        return -ENOMEM;
    }
    ssize_t ret = (ssize_t)size;
    size_t added = 0;
    pthread_rwlock_wrlock(&in->rw);
    /* The stored record, for the flags (chattr +i, +a) as any daemon set
     * them, and the end of the file for an append. None: another daemon
     * deleted the file under our open fd, which is stale now (write(2)
     * has no ENOENT). */
    struct rec r;
    int e = rec_peek(fs, ino, &r);
    e = e == -ENOENT ? -ESTALE : e;
    e = e ? e : iflags_may_write(&r, append);
    if (e)
        goto out;
    if (append)
        off = current_size(in, &r);
    if (off + size < off || off + size > (uint64_t)INT64_MAX) {
        e = -EFBIG;
        goto out;
    }
    if (!in->wb) {
        in->wb = calloc(1, sizeof *in->wb);
        if (!in->wb) {
            e = -ENOMEM;
            goto out;
        }
    }
    const unsigned char *p = buf;
    uint64_t pos = off;
    size_t left = size;
    while (left) {
        uint64_t index = pos / fs->bs;
        uint32_t boff = (uint32_t)(pos % fs->bs);
        uint32_t n = (uint32_t)(fs->bs - boff < left ? fs->bs - boff : left);
        size_t before = in->wb->bytes;
        struct dblock *d = wb_block(in->wb, index, fs->bs);
        if (!d || wb_add_range(d, boff, boff + n)) {
            e = -ENOMEM;
            break;
        }
        added += in->wb->bytes - before;
        memcpy(d->data + boff, p, n);
        p += n;
        pos += n;
        left -= n;
    }
    if (pos > off) { /* also when a block failed: what was copied is buffered */
        if (pos > in->wb->end)
            in->wb->end = pos;
        in->wb->data = true;
        in->wb->aset &= ~(unsigned)FS_SET_MTIME; /* the write's time replaces a set one */
        in->wb->mtime = in->wb->ctime = now_ns();
    }
    dirty_add(fs, in, added);
    if (e)
        goto out;
    /* Back-pressure: when all inodes hold too much, commit now; when this
     * one has its share, the flusher commits it while writes go on into a
     * fresh buffer (at most two per inode). */
    size_t share = fs->budget / 4 < INODE_SHARE_MAX ? fs->budget / 4 : INODE_SHARE_MAX;
    if (fs->dirty_bytes >= fs->budget)
        e = wb_commit(fs, in);
    else if (in->wb->bytes >= share)
        e = wb_hand_off(fs, in);
out:
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    pthread_rwlock_unlock(&fs->ro_lock);
    return fs_errno(e ? e : ret);
}

int fs_flush(struct fs *fs, uint64_t ino)
{
    return fs_errno(wb_commit_ino(fs, ino));
}

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
    (void)datasync;
    int e = wb_commit_ino(fs, ino);
    return fs_errno(e ? e : fs_sync_store(fs));
}
