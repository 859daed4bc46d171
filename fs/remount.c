/*
 * remount.c - a mounted filesystem's options changed while it serves (what
 * a remount asks of the daemon): read-only or writable, the durability of
 * commits, the cache's budget, the write buffer, the commit interval and
 * the crawler's pace.
 *
 * Going read-only commits everything first. Three steps, in this order:
 * readonly is set under ro_lock held exclusively, so that every write that
 * was buffering data has finished and every later one is refused (-EROFS);
 * every buffer is committed; then the store refuses writes too and what was
 * committed is synced. If a commit fails (a full disk), the buffers stay,
 * the store stays writable so that the flusher can retry them, and the
 * error is returned: nothing written is dropped.
 */
#include "fsint.h"

#include <assert.h>

#include "findings.h"
#include "flusher.h"

bool fs_readonly(struct fs *fs)
{
    return fs->readonly;
}

int fs_set_readonly(struct fs *fs, bool ro)
{
    if (!ro) {
        /* The store first: one opened read-only cannot become writable. */
        int e = ghost_set_readonly(fs->g, false);
        if (e)
            return fs_errno(e);
        pthread_rwlock_wrlock(&fs->ro_lock);
        fs->readonly = false;
        pthread_rwlock_unlock(&fs->ro_lock);
        return 0;
    }
    pthread_rwlock_wrlock(&fs->ro_lock);
    fs->readonly = true;
    pthread_rwlock_unlock(&fs->ro_lock);
    /* A setattr already under way may still buffer attributes (it looks at
     * readonly under its inode's lock, not ro_lock): another pass commits
     * them. */
    int e = 0;
    bool left = true;
    for (int pass = 0; pass < 8 && !e && left; pass++) {
        e = flush_all(fs);
        pthread_mutex_lock(&fs->dirty_lock);
        left = !list_empty(&fs->dirty);
        pthread_mutex_unlock(&fs->dirty_lock);
    }
    if (!e && left)
        e = -EBUSY;
    if (!e)
        e = ghost_set_readonly(fs->g, true);
    if (!e)
        e = fs_sync_store(fs);
    return fs_errno(e);
}

int fs_set_sync(struct fs *fs, enum ghost_sync sync)
{
    return fs_errno(ghost_set_sync(fs->g, sync));
}

int fs_set_cache_size(struct fs *fs, size_t bytes)
{
    return fs_errno(ghost_set_cache_size(fs->g, bytes));
}

int fs_set_crawl(struct fs *fs, const struct ghost_crawl_options *o)
{
    struct ghost_crawl_options co = *o;
    co.work = o->work ? o->work : fs_crawl_work;
    co.work_arg = fs;
    co.found = o->found ? o->found : fs_crawl_found;
    co.found_arg = o->found ? o->found_arg : fs;
    int e = fs_errno(ghost_crawl_set(fs->g, &co));
    if (!e) /* paused, the crawler would leave big deletes waiting: none is deferred */
        atomic_store(&fs->defer, co.cpu_permille > 0);
    return e;
}

void fs_set_write_buffer(struct fs *fs, size_t bytes)
{
    assert(bytes > 0);
    pthread_mutex_lock(&fs->dirty_lock);
    fs->budget = bytes;
    pthread_mutex_unlock(&fs->dirty_lock);
}

void fs_set_commit_interval(struct fs *fs, unsigned ms)
{
    assert(ms > 0);
    pthread_mutex_lock(&fs->dirty_lock);
    fs->interval_ms = ms;
    pthread_cond_signal(&fs->dirty_cond); /* the flusher sleeps by the old one */
    pthread_mutex_unlock(&fs->dirty_lock);
}
