/*
 * flusher.c - the thread that commits what stays buffered, and flush_all.
 *
 * The flusher walks the dirty list (dirty.c) and commits a buffer once it
 * is commit_interval old, and the wb_old a writer handed it (wb_commit.c)
 * at once. It sleeps on a condition variable while nothing is dirty: an
 * idle filesystem has no timer. A commit that fails (a full disk, say) is
 * tried again an interval later.
 *
 * Locks: it reads the list under fs.dirty_lock, copies the inode numbers
 * it will commit, and drops the lock before it commits any of them.
 */
#include "flusher.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "itable.h"
#include "vec.h"
#include "wb_commit.h"

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
        if (list_empty(&fs->dirty)) {
            pthread_cond_wait(&fs->dirty_cond, &fs->dirty_lock);
            continue;
        }
        int64_t now = now_ns(), interval = (int64_t)fs->interval_ms * 1000000;
        int64_t oldest = INT64_MAX;
        size_t nold = 0, ndue = 0;
        list_for_each(n, &fs->dirty)
        {
            const struct inode *in = list_entry(n, struct inode, dirty_node);
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
            wb_commit_old(fs, old[i]);
        for (size_t i = 0; i < ndue; i++)
            if (wb_commit_ino(fs, due[i]))
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
    VEC(uint64_t) inos = {0};
    int first = 0;
    pthread_mutex_lock(&fs->dirty_lock);
    list_for_each(n, &fs->dirty)
    {
        if (vec_push(&inos, list_entry(n, struct inode, dirty_node)->ino)) {
            first = -ENOMEM;
            break;
        }
    }
    pthread_mutex_unlock(&fs->dirty_lock);
    for (size_t i = 0; i < inos.n; i++) {
        int e = wb_commit_ino(fs, inos.v[i]);
        if (e) {
            first = first ? first : e;
            retry_later(fs, inos.v[i]);
        }
    }
    vec_free(&inos);
    return first;
}
