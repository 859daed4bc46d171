/*
 * dirty.c - the dirty list: the inodes that have a write buffer (wb or
 * wb_old), each with the time it became dirty, and fs.dirty_bytes, the
 * bytes of all buffers (for back-pressure in file_io.c). The flusher walks
 * the list; the writers add to it and a commit takes an inode off it.
 *
 * Locks: fs.dirty_lock protects the list, dirty_bytes, dirty_since and the
 * inodes' old_pending / old_busy; it is never held while a commit runs or
 * an inode's rw lock is waited for.
 */
#include "dirty.h"

void dirty_add(struct fs *fs, struct inode *in, size_t added)
{
    pthread_mutex_lock(&fs->dirty_lock);
    if (!in->dirty) {
        in->dirty = true;
        in->dirty_since = now_ns();
        list_push_front(&fs->dirty, &in->dirty_node);
        pthread_cond_signal(&fs->dirty_cond);
    }
    fs->dirty_bytes += added;
    pthread_mutex_unlock(&fs->dirty_lock);
}

void dirty_remove(struct fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->dirty_lock);
    if (in->dirty) {
        list_del(&in->dirty_node);
        in->dirty = false;
    }
    pthread_mutex_unlock(&fs->dirty_lock);
}
