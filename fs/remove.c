/*
 * remove.c - removing names: unlink and rmdir, and what happens to an inode
 * whose last link went (deleted at once if nobody here holds it and it is
 * small, else recorded as an orphan and reclaimed when the last holder lets
 * go - orphan.c).
 *
 * Locks: the child's rw lock is held across the transaction, so that an
 * open of it (which takes the same lock) comes either before - and then the
 * inode is busy and becomes an orphan - or after, and finds it gone.
 */
#include "remove.h"

#include <errno.h>
#include <string.h>

#include "dirent.h"
#include "iflags.h"
#include "itable.h"
#include "orphan.h"

/* Drop one link of child (named name in dir), in transaction t. Sets
 * *gone when its last link went. */
int remove_link(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child,
                struct rec *cr, int64_t now, bool *gone)
{
    int e = dirent_del(t, dir, name, len, child);
    if (e)
        return e;
    if (S_ISDIR(cr->mode))
        cr->nlink = 0;
    else if (cr->nlink > 0)
        cr->nlink--;
    cr->ctime = now;
    *gone = cr->nlink == 0;
    e = rec_put(t, child, cr);
    if (e || !*gone)
        return e;
    /* Record it as an orphan; whoever holds it last deletes it. */
    return 0;
}

struct rm_ctx {
    struct fs *fs;
    uint64_t parent;
    const char *name;
    size_t len;
    bool dir;
    uint64_t child; /* the inode the name led to when we locked it */
    bool busy;      /* open here, or with buffered writes */
    bool gone;      /* its last link went */
    bool deleted;   /* ... and it was deleted in the same transaction */
    bool moved;     /* the name now leads elsewhere: look again */
};

/* A file unlinked while nobody here has it open, small enough to go in one
 * transaction: delete it with its name (one commit per unlink, not two). */
#define DELETE_NOW_BLOCKS 16

/* Delete ino (maps and object) in t; 1 if it has too many keys, and then
 * nothing is deleted: the orphan path reclaims it in slices. */
static int delete_small(struct ghost_txn *t, uint64_t ino)
{
    int e = inode_delete_maps(t, ino, DELETE_NOW_BLOCKS, true);
    if (e < 0)
        return e;
    return e == 0 ? 1 : ghost_obj_del(t, ino);
}

static int rm_fn(struct ghost_txn *t, void *arg)
{
    struct rm_ctx *c = arg;
    struct rec pr, cr;
    uint64_t child;
    int64_t now = now_ns();
    int e = dir_get(t, c->parent, &pr);
    e = e ? e : dirent_get(t, c->parent, c->name, c->len, &child, NULL);
    if (e)
        return e;
    c->gone = c->deleted = c->moved = false;
    if (child != c->child) { /* renamed over since we looked: start again */
        c->child = child;
        c->moved = true;
        return 0;
    }
    e = rec_get(t, child, &cr);
    e = e ? e : iflags_may_remove(&pr, &cr);
    if (e)
        return e;
    if (c->dir) {
        if (!S_ISDIR(cr.mode))
            return -ENOTDIR;
        e = dir_empty(t, child);
        if (e < 0)
            return e;
        if (!e)
            return -ENOTEMPTY;
        pr.nlink--;
    } else if (S_ISDIR(cr.mode)) {
        return -EISDIR;
    }
    e = remove_link(t, c->parent, c->name, c->len, child, &cr, now, &c->gone);
    if (!e && c->gone && !c->busy && !c->dir) { /* a directory may be a cwd: later */
        e = delete_small(t, child);
        c->deleted = e == 0;
        if (e == 1)
            e = 0;
    }
    if (!e && c->gone && !c->deleted)
        e = orphan_put(t, c->fs, child);
    pr.mtime = pr.ctime = now;
    return e ? e : rec_put(t, c->parent, &pr);
}

/* After the last link went: delete now if nobody here holds the inode,
 * else when the last holder lets go. */
void remove_unlinked(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in) {
        inode_release(fs, ino);
        return;
    }
    pthread_mutex_lock(&fs->itab_lock);
    in->unlinked = true;
    pthread_mutex_unlock(&fs->itab_lock);
    inode_put(fs, in); /* reclaims if unused */
}

/* The child's rw lock is held across the transaction, so that an open of
 * it (which takes the same lock) comes either before - and then the inode
 * is busy and becomes an orphan - or after, and finds it gone. */
static int remove_name(struct fs *fs, uint64_t parent, const char *name, bool dir)
{
    struct rm_ctx c = {.fs = fs, .parent = parent, .name = name, .dir = dir};
    int e = check_name(name, &c.len);
    if (e)
        return e;
    if (!strcmp(name, "."))
        return -EINVAL;
    if (!strcmp(name, ".."))
        return -ENOTEMPTY;
    struct ghost_txn *t;
    e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    struct rec pr;
    e = dir_get(t, parent, &pr);
    e = e ? e : dirent_get(t, parent, name, c.len, &c.child, NULL);
    ghost_txn_abort(t);
    for (int round = 0; !e && round < 100; round++) {
        struct inode *in = inode_get(fs, c.child);
        if (!in)
            return -ENOMEM;
        pthread_rwlock_wrlock(&in->rw);
        pthread_mutex_lock(&fs->itab_lock);
        c.busy = in->nopen > 0 || in->wb || in->wb_old || in->dirty;
        pthread_mutex_unlock(&fs->itab_lock);
        e = fs_run(fs, rm_fn, &c);
        pthread_rwlock_unlock(&in->rw);
        inode_put(fs, in);
        if (e || !c.moved)
            break;
    }
    if (e)
        return fs_errno(e);
    if (c.moved)
        return -EAGAIN;
    if (c.gone && !c.deleted)
        remove_unlinked(fs, c.child);
    return 0;
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
    return remove_name(fs, parent, name, false);
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
    return remove_name(fs, parent, name, true);
}
