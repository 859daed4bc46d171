/*
 * file.c - file data: blocks, inline data, the per-inode write buffer, and
 * the flusher that commits it.
 *
 * A file's bytes are either inline in its record (INODE_INLINE: the record
 * holds the first inl_len bytes, the rest up to size are zeros) or in
 * FS_MAP_DATA blocks of the filesystem's block size, keyed by block index; a
 * missing block is a hole, a stored block shorter than the block size is
 * zero-filled. A file turns from inline into blocks when a write lands past
 * the inline limit, and back when it is truncated to zero.
 *
 * Writes go to the inode's write buffer: per dirty block, the bytes and the
 * ranges written. Every read in this process merges the buffer over the
 * stored data. The buffer is committed - close is a transaction - at flush,
 * fsync and release; by the flusher once it is commit_interval old; and at
 * once by the writer when the inode's buffer passes its share or all
 * buffers pass the budget (back-pressure: memory stays bounded however much
 * is written). The commit transaction reads the inode and, for each block
 * written only in part, the stored block, and overlays the written ranges:
 * if another writer changed either, the transaction conflicts and the retry
 * overlays the same ranges on the newer data - nothing written is lost.
 *
 * The flusher thread sleeps on a condition variable while nothing is dirty:
 * an idle filesystem has no timer.
 */
#include "fsint.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INODE_SHARE_MAX ((size_t)16 << 20)

/* ---- the write buffer ---------------------------------------------------------- */

void wb_free(struct wbuf *wb)
{
    if (!wb)
        return;
    for (size_t i = 0; i < wb->n; i++) {
        free(wb->b[i].data);
        free(wb->b[i].r);
    }
    free(wb->b);
    free(wb);
}

static struct dblock *wb_find(struct wbuf *wb, uint64_t index, size_t *pos)
{
    size_t lo = 0, hi = wb ? wb->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wb->b[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return wb && lo < wb->n && wb->b[lo].index == index ? &wb->b[lo] : NULL;
}

static struct dblock *wb_block(struct wbuf *wb, uint64_t index, uint32_t bs)
{
    size_t pos;
    struct dblock *d = wb_find(wb, index, &pos);
    if (d)
        return d;
    if (wb->n == wb->cap) {
        size_t cap = wb->cap ? wb->cap * 2 : 8;
        struct dblock *b = realloc(wb->b, cap * sizeof *b);
        if (!b)
            return NULL;
        wb->b = b;
        wb->cap = cap;
    }
    unsigned char *data = malloc(bs);
    if (!data)
        return NULL;
    memmove(&wb->b[pos + 1], &wb->b[pos], (wb->n - pos) * sizeof *wb->b);
    wb->n++;
    d = &wb->b[pos];
    memset(d, 0, sizeof *d);
    d->index = index;
    d->data = data;
    wb->bytes += bs;
    return d;
}

/* Add [lo, hi) to the block's written ranges, merging neighbours. */
static int add_range(struct dblock *d, uint32_t lo, uint32_t hi)
{
    uint32_t i = 0, j;
    while (i < d->nr && d->r[i].hi < lo)
        i++;
    j = i;
    while (j < d->nr && d->r[j].lo <= hi) {
        if (d->r[j].lo < lo)
            lo = d->r[j].lo;
        if (d->r[j].hi > hi)
            hi = d->r[j].hi;
        j++;
    }
    /* ranges i..j-1 merge into one */
    if (i == j) {
        if (d->nr == d->capr) {
            uint32_t cap = d->capr ? d->capr * 2 : 4;
            struct range *r = realloc(d->r, cap * sizeof *r);
            if (!r)
                return -ENOMEM;
            d->r = r;
            d->capr = cap;
        }
        memmove(&d->r[i + 1], &d->r[i], (d->nr - i) * sizeof *d->r);
        d->nr++;
    } else if (j - i > 1) {
        memmove(&d->r[i + 1], &d->r[j], (d->nr - j) * sizeof *d->r);
        d->nr -= j - i - 1;
    }
    d->r[i].lo = lo;
    d->r[i].hi = hi;
    return 0;
}

static bool covers(const struct dblock *d, uint32_t len)
{
    return d->nr == 1 && d->r[0].lo == 0 && d->r[0].hi >= len;
}

static void overlay(const struct dblock *d, unsigned char *dst, uint32_t from, uint32_t to)
{
    /* Copy the written bytes of d that fall in [from, to) to dst (which
     * stands for block offset `from`). */
    for (uint32_t i = 0; i < d->nr; i++) {
        uint32_t lo = d->r[i].lo > from ? d->r[i].lo : from;
        uint32_t hi = d->r[i].hi < to ? d->r[i].hi : to;
        if (lo < hi)
            memcpy(dst + (lo - from), d->data + lo, hi - lo);
    }
}

/* ---- attributes in the buffer -------------------------------------------------------- */

void wb_merge_attr(const struct wbuf *wb, struct fs_attr *a)
{
    if (wb->end > a->size)
        a->size = wb->end;
    a->blocks += (wb->bytes + 511) / 512; /* an estimate until commit */
    if (wb->data || (wb->aset & FS_SET_MTIME))
        a->mtime_ns = wb->mtime;
    if (wb->aset & FS_SET_MODE)
        a->mode = (a->mode & S_IFMT) | wb->mode;
    if (wb->aset & FS_SET_UID)
        a->uid = wb->uid;
    if (wb->aset & FS_SET_GID)
        a->gid = wb->gid;
    if (wb->aset & FS_SET_ATIME)
        a->atime_ns = wb->atime;
    if (wb->ctime > a->ctime_ns)
        a->ctime_ns = wb->ctime;
}

void wb_apply(const struct wbuf *wb, struct rec *r)
{
    /* An attribute set here is applied only over the value it replaced: if
     * another daemon changed it since, its change is the later one. */
    if ((wb->aset & FS_SET_MTIME) && r->mtime == wb->base_mtime)
        r->mtime = wb->mtime;
    else if (wb->data && !(wb->aset & FS_SET_MTIME))
        r->mtime = wb->mtime;
    if ((wb->aset & FS_SET_MODE) && (r->mode & 07777) == wb->base_mode)
        r->mode = (r->mode & S_IFMT) | wb->mode;
    if ((wb->aset & FS_SET_UID) && r->uid == wb->base_uid)
        r->uid = wb->uid;
    if ((wb->aset & FS_SET_GID) && r->gid == wb->base_gid)
        r->gid = wb->gid;
    if ((wb->aset & FS_SET_ATIME) && r->atime == wb->base_atime)
        r->atime = wb->atime;
    if (wb->ctime > r->ctime)
        r->ctime = wb->ctime;
}

/* ---- the dirty list ------------------------------------------------------------ */

static void dirty_add(struct fs *fs, struct inode *in, size_t added)
{
    pthread_mutex_lock(&fs->dirty_lock);
    if (!in->dirty) {
        in->dirty = true;
        in->dirty_since = now_ns();
        in->dprev = NULL;
        in->dnext = fs->dirty_head;
        if (fs->dirty_head)
            fs->dirty_head->dprev = in;
        fs->dirty_head = in;
        pthread_cond_signal(&fs->dirty_cond);
    }
    fs->dirty_bytes += added;
    pthread_mutex_unlock(&fs->dirty_lock);
}

void dirty_remove(struct fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->dirty_lock);
    if (in->dirty) {
        if (in->dprev)
            in->dprev->dnext = in->dnext;
        else
            fs->dirty_head = in->dnext;
        if (in->dnext)
            in->dnext->dprev = in->dprev;
        in->dirty = false;
    }
    pthread_mutex_unlock(&fs->dirty_lock);
}

/* ---- reading stored data ----------------------------------------------------------- */

/* Copy stored bytes [off, off+len) of the block-or-inline file into dst,
 * zeros for holes and past the stored length. */
static int read_stored(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r,
                       unsigned char *dst, uint64_t off, size_t len)
{
    memset(dst, 0, len);
    if (r->flags & INODE_INLINE) {
        if (off < r->inl_len) {
            size_t n = r->inl_len - off < len ? r->inl_len - off : len;
            memcpy(dst, r->inl + off, n);
        }
        return 0;
    }
    while (len) {
        uint64_t index = off / fs->bs;
        uint32_t boff = (uint32_t)(off % fs->bs);
        size_t n = fs->bs - boff < len ? fs->bs - boff : len;
        unsigned char k[8];
        const void *v;
        size_t vlen;
        put_be64(k, index);
        int e = ghost_map_get(t, ino, FS_MAP_DATA, k, 8, &v, &vlen);
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
static void merge_buffer(struct fs *fs, const struct wbuf *wb, void *buf, uint64_t off,
                         size_t size)
{
    if (!wb || !size)
        return;
    uint64_t first = off / fs->bs, last = (off + size - 1) / fs->bs;
    size_t pos;
    wb_find((struct wbuf *)wb, first, &pos);
    for (; pos < wb->n && wb->b[pos].index <= last; pos++) {
        const struct dblock *d = &wb->b[pos];
        uint64_t bstart = d->index * fs->bs;
        uint64_t lo = off > bstart ? off : bstart;
        uint64_t hi = off + size < bstart + fs->bs ? off + size : bstart + fs->bs;
        overlay(d, (unsigned char *)buf + (lo - off), (uint32_t)(lo - bstart),
                (uint32_t)(hi - bstart));
    }
}

/* Zeros that pieces of holes point to. */
static const unsigned char zeros[64 << 10];

/* Hand the stored bytes [off, off+size) of a block file to fn as pieces
 * pointing into t's pages, zeros for holes and past a block's end. */
static int pieces_stored(struct fs *fs, struct ghost_txn *t, uint64_t ino, uint64_t off,
                         size_t size, fs_pieces_fn fn, void *arg)
{
    size_t nblocks = (size_t)((off % fs->bs + size + fs->bs - 1) / fs->bs);
    size_t cap = 2 * nblocks + size / sizeof zeros + 1, n = 0;
    struct iovec *iov = malloc(cap * sizeof *iov);
    if (!iov)
        return -ENOMEM;
    while (size) {
        uint64_t index = off / fs->bs;
        uint32_t boff = (uint32_t)(off % fs->bs);
        size_t len = fs->bs - boff < size ? fs->bs - boff : size;
        unsigned char k[8];
        const void *v = NULL;
        size_t vlen = 0;
        put_be64(k, index);
        int e = ghost_map_get(t, ino, FS_MAP_DATA, k, 8, &v, &vlen);
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
    return pos < wb->n && wb->b[pos].index <= (off + size - 1) / fs->bs;
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
        e = pieces_stored(fs, t, ino, off, size, fn, arg);
        e = e ? e : (ssize_t)size;
        goto out;
    }
    if (!buf && size && !(buf = own = malloc(size))) {
        e = -ENOMEM;
        goto out;
    }
    e = size ? read_stored(fs, t, ino, &r, buf, off, size) : 0;
    if (e)
        goto out;
    /* Buffered writes over what is stored, the older buffer first. */
    merge_buffer(fs, in->wb_old, buf, off, size);
    merge_buffer(fs, in->wb, buf, off, size);
    if (fn) {
        struct iovec one = {buf, size};
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

ssize_t fs_read(struct fs *fs, uint64_t ino, void *buf, size_t size, uint64_t off)
{
    return fs_errno(read_common(fs, ino, buf, size, off, NULL, NULL));
}

ssize_t fs_read_pieces(struct fs *fs, uint64_t ino, size_t size, uint64_t off,
                       fs_pieces_fn fn, void *arg)
{
    return fs_errno(read_common(fs, ino, NULL, size, off, fn, arg));
}

/* ---- stored blocks ----------------------------------------------------------------- */

/* Put block `index` of ino, keeping r->stored (the bytes held in blocks)
 * right. */
static int block_put(struct ghost_txn *t, uint64_t ino, struct rec *r, uint64_t index,
                     const void *data, size_t len)
{
    unsigned char k[8];
    const void *v;
    size_t old = 0;
    put_be64(k, index);
    int e = ghost_map_get(t, ino, FS_MAP_DATA, k, 8, &v, &old);
    if (e == -ENOENT)
        old = 0;
    else if (e)
        return e;
    e = ghost_map_put(t, ino, FS_MAP_DATA, k, 8, data, len);
    if (!e)
        r->stored = r->stored + len >= old ? r->stored + len - old : 0;
    return e;
}

/* ---- committing the buffer ---------------------------------------------------------- */

struct commit_ctx {
    struct fs *fs;
    uint64_t ino;
    struct wbuf *wb;
    unsigned char *scratch; /* one block */
};

static int commit_fn(struct ghost_txn *t, void *arg)
{
    struct commit_ctx *c = arg;
    struct fs *fs = c->fs;
    struct wbuf *wb = c->wb;
    struct rec r;
    int e = rec_get(t, c->ino, &r);
    if (e)
        return e;
    uint64_t size = r.size > wb->end ? r.size : wb->end;

    if (!wb->data || wb->n == 0) {
        /* only attributes were set */
    } else if ((r.flags & INODE_INLINE) && wb->end <= fs->inline_max) {
        /* Stays inline: old bytes, zero-extended, with the writes on top. */
        size_t n = r.inl_len > wb->end ? r.inl_len : wb->end;
        unsigned char *inl = c->scratch;
        memset(inl, 0, n);
        memcpy(inl, r.inl, r.inl_len);
        overlay(&wb->b[0], inl, 0, (uint32_t)n);
        r.inl = inl;
        r.inl_len = n;
    } else {
        unsigned char *base = c->scratch;
        const unsigned char *old_inl = NULL;
        size_t old_inl_len = 0;
        if (r.flags & INODE_INLINE) {
            /* Turn into blocks: the inline bytes become block 0. */
            old_inl = r.inl;
            old_inl_len = r.inl_len;
            r.flags &= ~(uint32_t)INODE_INLINE;
            r.inl_len = 0;
            if (old_inl_len && !wb_find(wb, 0, NULL)) {
                e = block_put(t, c->ino, &r, 0, old_inl, old_inl_len);
                if (e)
                    return e;
            }
        }
        for (size_t i = 0; i < wb->n; i++) {
            struct dblock *d = &wb->b[i];
            uint64_t bstart = d->index * fs->bs;
            uint32_t blen = (uint32_t)(size - bstart < fs->bs ? size - bstart : fs->bs);
            unsigned char k[8];
            put_be64(k, d->index);
            if (covers(d, blen)) { /* written whole: no base to read or copy */
                e = block_put(t, c->ino, &r, d->index, d->data, blen);
                if (e)
                    return e;
                continue;
            }
            memset(base, 0, blen);
            {
                if (d->index == 0 && old_inl) {
                    memcpy(base, old_inl, old_inl_len < blen ? old_inl_len : blen);
                } else if (bstart < r.size && !old_inl) {
                    const void *v;
                    size_t vlen;
                    e = ghost_map_get(t, c->ino, FS_MAP_DATA, k, 8, &v, &vlen);
                    if (e && e != -ENOENT)
                        return e;
                    if (!e)
                        memcpy(base, v, vlen < blen ? vlen : blen);
                }
            }
            overlay(d, base, 0, blen);
            e = block_put(t, c->ino, &r, d->index, base, blen);
            if (e)
                return e;
        }
    }
    r.size = size;
    /* The buffer holds the newest times: a setattr that it cannot hold
     * commits it first, so nothing set later can be older. */
    wb_apply(wb, &r);
    if (wb->data)
        r.dv++;
    return rec_put(t, c->ino, &r);
}

/* Commit wb to ino. Takes no lock: the caller keeps wb from changing. */
static int commit_wbuf(struct fs *fs, uint64_t ino, struct wbuf *wb)
{
    size_t scratch = fs->bs > fs->inline_max ? fs->bs : fs->inline_max;
    struct commit_ctx c = {fs, ino, wb, malloc(scratch)};
    if (!c.scratch)
        return -ENOMEM;
    int e = fs_run(fs, commit_fn, &c);
    free(c.scratch);
    if (e == -ENOENT) /* the inode is gone: nothing left to write to */
        e = 0;
    return e;
}

/* *slot (in->wb or in->wb_old) is committed: drop it. With in->rw held
 * exclusively. */
static void wbuf_done(struct fs *fs, struct inode *in, struct wbuf **slot)
{
    struct wbuf *wb = *slot;
    *slot = NULL;
    atomic_store(&in->last_commit, atomic_fetch_add(&fs->wb_commits, 1) + 1);
    pthread_mutex_lock(&fs->dirty_lock);
    fs->dirty_bytes -= wb->bytes;
    pthread_mutex_unlock(&fs->dirty_lock);
    if (!in->wb && !in->wb_old)
        dirty_remove(fs, in);
    wb_free(wb);
}

/* Wait until the flusher is not committing in->wb_old. With in->rw held
 * exclusively; it is dropped while waiting (the flusher needs it to end). */
static void wait_old(struct fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->dirty_lock);
    while (in->old_busy) {
        pthread_mutex_unlock(&fs->dirty_lock);
        pthread_rwlock_unlock(&in->rw);
        pthread_mutex_lock(&fs->dirty_lock);
        while (in->old_busy)
            pthread_cond_wait(&fs->old_cond, &fs->dirty_lock);
        pthread_mutex_unlock(&fs->dirty_lock);
        pthread_rwlock_wrlock(&in->rw);
        pthread_mutex_lock(&fs->dirty_lock);
    }
    pthread_mutex_unlock(&fs->dirty_lock);
}

/* On failure a buffer is kept (nothing written is dropped). */
int wb_commit(struct fs *fs, struct inode *in)
{
    wait_old(fs, in);
    if (in->wb_old) { /* never started, or failed: commit it here, first */
        int e = commit_wbuf(fs, in->ino, in->wb_old);
        if (e)
            return e;
        wbuf_done(fs, in, &in->wb_old);
    }
    if (!in->wb)
        return 0;
    int e = commit_wbuf(fs, in->ino, in->wb);
    if (!e)
        wbuf_done(fs, in, &in->wb);
    return e;
}

/* The flusher's half of a hand-off: commit ino's wb_old while writers go
 * on filling wb. */
static void commit_old(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return;
    pthread_rwlock_wrlock(&in->rw);
    struct wbuf *old = in->wb_old;
    pthread_mutex_lock(&fs->dirty_lock);
    in->old_pending = false;
    in->old_busy = old != NULL;
    pthread_mutex_unlock(&fs->dirty_lock);
    pthread_rwlock_unlock(&in->rw);
    if (old) {
        int e = commit_wbuf(fs, ino, old); /* old stays as it is: readers use it */
        pthread_rwlock_wrlock(&in->rw);
        if (!e) /* else it stays, and the next wb_commit retries and reports */
            wbuf_done(fs, in, &in->wb_old);
        pthread_mutex_lock(&fs->dirty_lock);
        in->old_busy = false;
        pthread_cond_broadcast(&fs->old_cond);
        pthread_mutex_unlock(&fs->dirty_lock);
        pthread_rwlock_unlock(&in->rw);
    }
    inode_put(fs, in);
}

/* in->wb has reached its share: hand it to the flusher if the previous one
 * is committed, else wait for that one (back-pressure) and commit both. */
static int hand_off(struct fs *fs, struct inode *in)
{
    wait_old(fs, in);
    if (in->wb_old || !in->wb)
        return wb_commit(fs, in);
    in->wb_old = in->wb;
    in->wb = NULL;
    pthread_mutex_lock(&fs->dirty_lock);
    in->old_pending = true;
    in->dirty_since = now_ns(); /* the interval runs for the new buffer */
    pthread_cond_signal(&fs->dirty_cond);
    pthread_mutex_unlock(&fs->dirty_lock);
    return 0;
}

static int current_size(struct fs *fs, struct inode *in, uint64_t *size)
{
    struct rec r;
    int e = rec_peek(fs, in->ino, &r);
    if (e)
        return e;
    *size = r.size;
    if (in->wb_old && in->wb_old->end > *size)
        *size = in->wb_old->end;
    if (in->wb && in->wb->end > *size)
        *size = in->wb->end;
    return 0;
}

ssize_t fs_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, uint64_t off,
                 bool append)
{
    if (size == 0)
        return 0; /* writes nothing, not even a size */
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    ssize_t ret = (ssize_t)size;
    size_t added = 0;
    pthread_rwlock_wrlock(&in->rw);
    int e = append ? current_size(fs, in, &off) : 0;
    if (e)
        goto out;
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
        if (!d || add_range(d, boff, boff + n)) {
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
        e = hand_off(fs, in);
out:
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e ? e : ret);
}

int wb_setattr(struct fs *fs, struct inode *in, const struct fs_attr *a, unsigned set,
               struct fs_attr *out)
{
    struct rec r;
    int e = rec_peek(fs, in->ino, &r);
    if (e)
        return e;
    rec_attr(fs, in->ino, &r, out);
    if (!S_ISREG(r.mode) || !in->wb)
        return -EAGAIN;
    struct wbuf *wb = in->wb;
    /* The base of an attribute is what the commit will find before this
     * buffer is applied: the store's value with the older buffer applied
     * on it, as it is now (this set is the latest change). */
    struct fs_attr cur = *out;
    if (in->wb_old)
        wb_merge_attr(in->wb_old, &cur);
    struct rec base = r;
    if (in->wb_old)
        wb_apply(in->wb_old, &base);
    int64_t now = now_ns();
    if (set & FS_SET_MODE)
        wb->base_mode = base.mode & 07777;
    if (set & FS_SET_UID)
        wb->base_uid = base.uid;
    if (set & FS_SET_GID)
        wb->base_gid = base.gid;
    if (set & (FS_SET_ATIME | FS_SET_ATIME_NOW))
        wb->base_atime = base.atime;
    if (set & (FS_SET_MTIME | FS_SET_MTIME_NOW))
        wb->base_mtime = base.mtime;
    if (set & FS_SET_MODE)
        wb->mode = a->mode & 07777;
    if (set & FS_SET_UID)
        wb->uid = a->uid;
    if (set & FS_SET_GID)
        wb->gid = a->gid;
    if (set & (FS_SET_ATIME | FS_SET_ATIME_NOW))
        wb->atime = set & FS_SET_ATIME_NOW ? now : a->atime_ns;
    if (set & (FS_SET_MTIME | FS_SET_MTIME_NOW))
        wb->mtime = set & FS_SET_MTIME_NOW ? now : a->mtime_ns;
    wb->aset |= set & (FS_SET_MODE | FS_SET_UID | FS_SET_GID);
    if (set & (FS_SET_ATIME | FS_SET_ATIME_NOW))
        wb->aset |= FS_SET_ATIME;
    if (set & (FS_SET_MTIME | FS_SET_MTIME_NOW))
        wb->aset |= FS_SET_MTIME;
    wb->ctime = now;
    dirty_add(fs, in, 0);
    *out = cur;
    wb_merge_attr(wb, out);
    return 0;
}

static int commit_ino(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    int e = wb_commit(fs, in);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return e;
}

int fs_flush(struct fs *fs, uint64_t ino) { return fs_errno(commit_ino(fs, ino)); }

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
    (void)datasync;
    int e = commit_ino(fs, ino);
    return fs_errno(e ? e : fs_sync_store(fs));
}

/* ---- truncate, holes, seeking ---------------------------------------------------------- */

struct keylist {
    uint64_t *idx;
    size_t n, cap;
    uint64_t until; /* stop before this block index */
};

static int collect_blocks(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
    struct keylist *kl = arg;
    (void)v, (void)vl;
    if (klen != 8)
        return 0;
    uint64_t i = get_be64(key);
    if (i >= kl->until)
        return 1;
    if (kl->n == kl->cap) {
        kl->cap = kl->cap ? kl->cap * 2 : 64;
        uint64_t *p = realloc(kl->idx, kl->cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        kl->idx = p;
    }
    kl->idx[kl->n++] = i;
    return 0;
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
    unsigned char k[8];
    put_be64(k, first);
    int e = ghost_map_scan(t, ino, FS_MAP_DATA, k, 8, collect_blocks, &kl);
    for (size_t i = 0; e >= 0 && i < kl.n; i++) {
        uint64_t bstart = kl.idx[i] * fs->bs;
        uint64_t lo = from > bstart ? from - bstart : 0;
        uint64_t hi = to < bstart + fs->bs ? to - bstart : fs->bs;
        put_be64(k, kl.idx[i]);
        const void *v;
        size_t vlen;
        e = ghost_map_get(t, ino, FS_MAP_DATA, k, 8, &v, &vlen);
        if (e)
            break;
        if (lo == 0 && hi >= vlen) {
            e = ghost_map_del(t, ino, FS_MAP_DATA, k, 8);
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
            e = ghost_map_put(t, ino, FS_MAP_DATA, k, 8, b, keep);
            r->stored = r->stored >= vlen - keep ? r->stored - (vlen - keep) : 0;
            free(b);
        }
    }
    free(kl.idx);
    return e < 0 ? e : 0;
}

int truncate_txn(struct fs *fs, struct ghost_txn *t, uint64_t ino, struct rec *r,
                 uint64_t size)
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
};

static int falloc_fn(struct ghost_txn *t, void *arg)
{
    struct alloc_ctx *c = arg;
    struct rec r;
    int e = rec_get(t, c->ino, &r);
    if (e)
        return e;
    if (!S_ISREG(r.mode))
        return S_ISDIR(r.mode) ? -EISDIR : -ENODEV;
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

int fs_fallocate(struct fs *fs, uint64_t ino, int mode, uint64_t off, uint64_t len)
{
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
    int e = wb_commit(fs, in);
    if (!e) {
        struct alloc_ctx c = {fs, ino, mode, off, len};
        e = fs_run(fs, falloc_fn, &c);
    }
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
    if (klen != 8)
        return 0;
    uint64_t i = get_be64(key);
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

int64_t fs_lseek(struct fs *fs, uint64_t ino, int64_t off, int whence)
{
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0)
        return -ENXIO;
    int e = commit_ino(fs, ino);
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
    else if (!e && (r.flags & INODE_INLINE))
        ret = whence == SEEK_DATA ? off : (int64_t)r.size;
    else if (!e) {
        struct seek_ctx s = {.want = (uint64_t)off / fs->bs, .data = whence == SEEK_DATA};
        unsigned char k[8];
        put_be64(k, s.want);
        e = ghost_map_scan(t, ino, FS_MAP_DATA, k, 8, seek_visit, &s);
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

ssize_t fs_copy_range(struct fs *fs, uint64_t in, uint64_t off_in, uint64_t out,
                      uint64_t off_out, size_t len)
{
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

/* ---- the flusher ------------------------------------------------------------------------ */

/* A commit the flusher made failed (a full disk, say): the data stays
 * buffered, and the flusher tries again an interval later, not at once. */
static void retry_later(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return;
    pthread_mutex_lock(&fs->dirty_lock);
    in->dirty_since = now_ns();
    pthread_mutex_unlock(&fs->dirty_lock);
    inode_put(fs, in);
}

static void *flusher_main(void *arg)
{
    struct fs *fs = arg;
    uint64_t old[64], due[64];
    pthread_mutex_lock(&fs->dirty_lock);
    while (!fs->stop) {
        if (!fs->dirty_head) {
            pthread_cond_wait(&fs->dirty_cond, &fs->dirty_lock);
            continue;
        }
        int64_t now = now_ns(), interval = (int64_t)fs->interval_ms * 1000000;
        int64_t oldest = INT64_MAX;
        size_t nold = 0, ndue = 0;
        for (struct inode *in = fs->dirty_head; in; in = in->dnext) {
            if (in->old_pending && nold < 64)
                old[nold++] = in->ino;
            if (in->dirty_since + interval <= now && ndue < 64)
                due[ndue++] = in->ino;
            else if (in->dirty_since < oldest)
                oldest = in->dirty_since;
        }
        if (nold == 0 && ndue == 0) {
            int64_t wake = oldest + interval;
            struct timespec ts = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
            pthread_cond_timedwait(&fs->dirty_cond, &fs->dirty_lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&fs->dirty_lock);
        for (size_t i = 0; i < nold; i++)
            commit_old(fs, old[i]);
        for (size_t i = 0; i < ndue; i++)
            if (commit_ino(fs, due[i]))
                retry_later(fs, due[i]);
        pthread_mutex_lock(&fs->dirty_lock);
    }
    pthread_mutex_unlock(&fs->dirty_lock);
    return NULL;
}

int flusher_start(struct fs *fs)
{
    int e = pthread_create(&fs->flusher, NULL, flusher_main, fs);
    fs->flusher_running = e == 0;
    return -e;
}

void flusher_stop(struct fs *fs)
{
    if (!fs->flusher_running)
        return;
    pthread_mutex_lock(&fs->dirty_lock);
    fs->stop = true;
    pthread_cond_signal(&fs->dirty_cond);
    pthread_mutex_unlock(&fs->dirty_lock);
    pthread_join(fs->flusher, NULL);
    fs->flusher_running = false;
}

int flush_all(struct fs *fs)
{
    /* Commit what is dirty now; a buffer that fails to commit stays
     * buffered and dirty (the flusher retries it), and the first failure
     * is reported. */
    size_t n = 0, cap = 0;
    uint64_t *inos = NULL;
    int first = 0;
    pthread_mutex_lock(&fs->dirty_lock);
    for (struct inode *in = fs->dirty_head; in; in = in->dnext) {
        if (n == cap) {
            size_t c2 = cap ? cap * 2 : 64;
            uint64_t *p = realloc(inos, c2 * sizeof *p);
            if (!p) {
                first = -ENOMEM;
                break;
            }
            inos = p;
            cap = c2;
        }
        inos[n++] = in->ino;
    }
    pthread_mutex_unlock(&fs->dirty_lock);
    for (size_t i = 0; i < n; i++) {
        int e = commit_ino(fs, inos[i]);
        if (e) {
            first = first ? first : e;
            retry_later(fs, inos[i]);
        }
    }
    free(inos);
    return first;
}
