/*
 * open_file.c - opening and releasing files: the open count that keeps an
 * unlinked inode alive, and the kernel's page cache kept across opens while
 * the data did not change (the record's data version).
 *
 * Locks: the inode's rw lock, exclusively, then fs.itab_lock for nopen. An
 * unlink holds the same rw lock across its transaction, so that an open
 * comes either before it (and the inode becomes an orphan) or after it
 * (and finds it gone).
 */
#include "fsint.h"

#include <errno.h>
#include <fcntl.h>

#include "iflags.h"
#include "itable.h"
#include "wb_commit.h"

int fs_open_file(struct fs *fs, uint64_t ino, int flags, bool *keep_cache)
{
    struct rec r;
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    /* Count the open and read the record under the inode's lock: an unlink
     * (which holds it across its transaction) then either sees us open, or
     * has deleted the inode before we look. */
    pthread_rwlock_wrlock(&in->rw);
    int e = rec_peek(fs, ino, &r);
    if (!e && S_ISDIR(r.mode) && (flags & O_ACCMODE) != O_RDONLY)
        e = -EISDIR;
    if (!e)
        e = iflags_may_open(&r, flags, fs->kernel_writeback);
    if (!e) {
        *keep_cache = in->dv_known && in->cached_dv == r.dv;
        in->cached_dv = r.dv;
        in->dv_known = true;
        pthread_mutex_lock(&fs->itab_lock);
        in->nopen++;
        pthread_mutex_unlock(&fs->itab_lock);
    }
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e);
}

int fs_release(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    int e = wb_commit(fs, in);
    pthread_mutex_lock(&fs->itab_lock);
    if (in->nopen)
        in->nopen--;
    pthread_mutex_unlock(&fs->itab_lock);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e);
}
