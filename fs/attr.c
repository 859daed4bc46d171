/*
 * attr.c - getattr and setattr: an inode's attributes as this process sees
 * them, and changing them.
 *
 * What getattr returns is the stored record with this process's buffered
 * writes and buffered attributes merged on it. A setattr on a file open
 * with buffered writes joins its write buffer (setattr_buffered) and
 * commits with it; any other setattr commits the buffer first and then
 * runs its own transaction, so that a truncate cuts buffered data too and
 * no later commit overwrites the times set here.
 *
 * Locks: the inode's rw lock (exclusive for setattr, shared while merging),
 * then fs.itab_lock briefly.
 */
#include "attr.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "dirty.h"
#include "file_space.h"
#include "iflags.h"
#include "itable.h"
#include "wb_commit.h"

/* The attributes of ino as stored. */
static int stored_attr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    struct rec r;
    int e = rec_peek(fs, ino, &r);
    if (!e)
        rec_attr(fs, ino, &r, out);
    return e;
}

int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    uint64_t mark = commit_mark(fs);
    int e = stored_attr(fs, ino, out);
    if (e)
        return fs_errno(e);
    attr_merge_buffered(fs, out, mark);
    return 0;
}

void attr_merge_buffered(struct fs *fs, struct fs_attr *a, uint64_t mark)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = inode_find_locked(fs, a->ino);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&fs->itab_lock);
    if (!in)
        return;
    pthread_rwlock_rdlock(&in->rw);
    struct fs_attr fresh;
    if (atomic_load(&in->last_commit) > mark && stored_attr(fs, a->ino, &fresh) == 0)
        *a = fresh;
    if (in->wb_old)
        wb_merge_attr(in->wb_old, a);
    if (in->wb)
        wb_merge_attr(in->wb, a);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
}

struct setattr_ctx {
    struct fs *fs;
    uint64_t ino;
    const struct fs_attr *in;
    unsigned set;
    struct fs_attr *out;
};

static int setattr_fn(struct ghost_txn *t, void *arg)
{
    struct setattr_ctx *c = arg;
    struct rec r;
    int64_t now = now_ns();
    int e = rec_get(t, c->ino, &r);
    e = e ? e : iflags_may_setattr(&r, c->set);
    if (e)
        return e;
    if (c->set & FS_SET_SIZE) {
        if (S_ISDIR(r.mode))
            return -EISDIR;
        if (!S_ISREG(r.mode))
            return -EINVAL;
        e = truncate_txn(c->fs, t, c->ino, &r, c->in->size);
        if (e)
            return e;
        r.mtime = now;
    }
    if (c->set & FS_SET_MODE)
        r.mode = (r.mode & S_IFMT) | (c->in->mode & 07777);
    if (c->set & FS_SET_UID)
        r.uid = c->in->uid;
    if (c->set & FS_SET_GID)
        r.gid = c->in->gid;
    if (c->set & FS_SET_ATIME_NOW)
        r.atime = now;
    else if (c->set & FS_SET_ATIME)
        r.atime = c->in->atime_ns;
    if (c->set & FS_SET_MTIME_NOW)
        r.mtime = now;
    else if (c->set & FS_SET_MTIME)
        r.mtime = c->in->mtime_ns;
    r.ctime = (c->set & FS_SET_CTIME) ? c->in->ctime_ns : now;
    e = rec_put(t, c->ino, &r);
    if (!e)
        rec_attr(c->fs, c->ino, &r, c->out);
    return e;
}

/* Buffer a setattr of WB_SETTABLE fields in in->wb; with in->rw held
 * exclusively. Fills *out with the attributes as they now are. -EAGAIN: not
 * a regular file, commit it at once instead. */
static int setattr_buffered(struct fs *fs, struct inode *in, const struct fs_attr *a, unsigned set,
                            struct fs_attr *out)
{
    assert(RWLOCK_HELD(&in->rw));
    struct rec r;
    int e = rec_peek(fs, in->ino, &r);
    e = e ? e : iflags_may_setattr(&r, set);
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

int fs_setattr(struct fs *fs, uint64_t ino, const struct fs_attr *in_attr, unsigned to_set,
               struct fs_attr *out)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    /* Owner, mode and times of a file with buffered writes join its write
     * buffer and commit with it: at the FLUSH of the writer's close, fsync,
     * release or the commit interval. */
    pthread_mutex_lock(&fs->itab_lock);
    bool open = in->nopen > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    if (open && in->wb && in->wb->data && !fs->readonly && !(to_set & ~WB_SETTABLE)) {
        int e = setattr_buffered(fs, in, in_attr, to_set, out);
        if (e != -EAGAIN) {
            pthread_rwlock_unlock(&in->rw);
            inode_put(fs, in);
            return fs_errno(e);
        }
    }
    /* Otherwise commit buffered writes first: a truncate must cut them too,
     * and the times set here must not be overwritten by a later commit. */
    int e = wb_commit(fs, in);
    if (!e) {
        struct setattr_ctx c = {fs, ino, in_attr, to_set, out};
        e = fs_run(fs, setattr_fn, &c);
    }
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e);
}
