/*
 * wb_commit.c - committing a write buffer: close is a transaction.
 *
 * The commit transaction reads the inode and, for each block written only
 * in part, the stored block, and overlays the written ranges: if another
 * writer changed either, the transaction conflicts and the retry overlays
 * the same ranges on the newer data - nothing written is lost. A file
 * turns from inline into blocks here, when the buffer reaches past the
 * inline limit.
 *
 * An inode has at most two buffers: wb, which writes go into, and wb_old, a
 * full one handed to the flusher (wb_hand_off), which commits it without
 * the inode's lock while writes go on. Readers merge wb_old, then wb.
 *
 * Locks: wb_commit runs with the inode's rw lock held exclusively; the
 * flusher's commit of wb_old runs without it, marked by old_busy (under
 * fs.dirty_lock), and whoever needs wb_old waits for old_cond.
 */
#include "wb_commit.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "damage.h"
#include "dirty.h"
#include "itable.h"

/* Put block `index` of ino, keeping r->stored (the bytes held in blocks)
 * right. */
static int block_put(struct ghost_txn *t, uint64_t ino, struct rec *r, uint64_t index,
                     const void *data, size_t len)
{
    unsigned char k[BLOCK_KEY_LEN];
    const void *v;
    size_t old = 0;
    block_key(k, index);
    int e = ghost_map_get(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, &v, &old);
    if (e == -ENOENT)
        old = 0;
    else if (e)
        return e;
    e = ghost_map_put(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, data, len);
    if (!e)
        r->stored = r->stored + len >= old ? r->stored + len - old : 0;
    return e;
}

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

    if (!wb->data || wb->blocks.n == 0) {
        /* only attributes were set */
    } else if ((r.flags & INODE_INLINE) && wb->end <= fs->inline_max) {
        /* Stays inline: old bytes, zero-extended, with the writes on top. */
        size_t n = r.inl_len > wb->end ? r.inl_len : wb->end;
        unsigned char *inl = c->scratch;
        memset(inl, 0, n);
        memcpy(inl, r.inl, r.inl_len);
        wb_overlay(&wb->blocks.v[0], inl, 0, (uint32_t)n);
        r.inl = inl;
        r.inl_len = n;
    } else {
        unsigned char *base = c->scratch;
        struct hole_check hc = HOLE_CHECK_INIT;
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
        for (size_t i = 0; i < wb->blocks.n; i++) {
            struct dblock *d = &wb->blocks.v[i];
            uint64_t bstart = d->index * fs->bs;
            uint32_t blen = (uint32_t)(size - bstart < fs->bs ? size - bstart : fs->bs);
            unsigned char k[BLOCK_KEY_LEN];
            block_key(k, d->index);
            if (wb_covers(d, blen)) { /* written whole: no base to read or copy */
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
                    e = ghost_map_get(t, c->ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, &v, &vlen);
                    if (e == -ENOENT && !(e = block_absent(fs, t, &hc, c->ino, r.size, d->index)))
                        e = -ENOENT; /* a hole */
                    if (e && e != -ENOENT)
                        return e;
                    if (!e)
                        memcpy(base, v, vlen < blen ? vlen : blen);
                }
            }
            wb_overlay(d, base, 0, blen);
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
    assert(RWLOCK_HELD(&in->rw));
    *slot = NULL;
    atomic_store(&in->last_commit, atomic_fetch_add(&fs->wb_commits, 1) + 1);
    pthread_mutex_lock(&fs->dirty_lock);
    assert(fs->dirty_bytes >= wb->bytes); /* dirty bytes never go negative */
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
    assert(RWLOCK_HELD(&in->rw));
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
    assert(RWLOCK_HELD(&in->rw));
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
void wb_commit_old(struct fs *fs, uint64_t ino)
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
int wb_hand_off(struct fs *fs, struct inode *in)
{
    assert(RWLOCK_HELD(&in->rw));
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

int wb_commit_ino(struct fs *fs, uint64_t ino)
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
