/*
 * dir.c - names: lookup, creating and removing inodes, links, rename and
 * directory listings.
 *
 * A directory's entries live in its FS_MAP_DIRENT map under the key
 * hash(name) . name, so that a listing in key order can resume from a hash:
 * readdir hands the kernel the hash of the last entry as the offset, and
 * entries added or removed meanwhile never shift the others. Each link also
 * has a back reference (FS_MAP_BACKREF on the child, key parent . name) so
 * that link counts and reachability can be checked locally, and a
 * directory's record names its parent (for "..", and to refuse moving a
 * directory under itself).
 *
 * Every change is one ghost_run() transaction that reads the directories
 * and inodes it depends on and rewrites each directory whose entries it
 * changes (mtime), so that two changes racing on one directory conflict and
 * one of them is run again on fresh data.
 */
#include "fsint.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define DKEY_MAX (8 + FS_NAME_MAX)

uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = XXH3_64bits(name, len) >> 1; /* keep offsets positive */
    return h < 3 ? h + 3 : h;                 /* 0, 1, 2 are start, ".", ".." */
}

static int check_name(const char *name, size_t *len)
{
    *len = strlen(name);
    if (*len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if (*len == 0 || strchr(name, '/'))
        return -EINVAL;
    return 0;
}

static size_t dirent_key(unsigned char *k, const char *name, size_t len)
{
    put_be64(k, name_hash(name, len));
    memcpy(k + 8, name, len);
    return 8 + len;
}

static size_t backref_key(unsigned char *k, uint64_t parent, const char *name, size_t len)
{
    put_be64(k, parent);
    memcpy(k + 8, name, len);
    return 8 + len;
}

/* Look name up in dir: *child and *dtype, or -ENOENT. */
int dirent_get(struct ghost_txn *t, uint64_t dir, const char *name, size_t len,
               uint64_t *child, uint8_t *dtype)
{
    unsigned char k[DKEY_MAX];
    const void *v;
    size_t vlen;
    int e = ghost_map_get(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len), &v, &vlen);
    if (e)
        return e;
    if (vlen != 9)
        return -EIO;
    *child = get_be64(v);
    if (dtype)
        *dtype = ((const unsigned char *)v)[8];
    return 0;
}

static int dirent_put(struct ghost_txn *t, uint64_t dir, const char *name, size_t len,
                      uint64_t child, uint32_t mode)
{
    unsigned char k[DKEY_MAX], v[9];
    put_be64(v, child);
    v[8] = (unsigned char)((mode & S_IFMT) >> 12);
    int e = ghost_map_put(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len), v, 9);
    if (e)
        return e;
    return ghost_map_put(t, child, FS_MAP_BACKREF, k, backref_key(k, dir, name, len), "", 0);
}

static int dirent_del(struct ghost_txn *t, uint64_t dir, const char *name, size_t len,
                      uint64_t child)
{
    unsigned char k[DKEY_MAX];
    int e = ghost_map_del(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len));
    if (e)
        return e;
    return ghost_map_del(t, child, FS_MAP_BACKREF, k, backref_key(k, dir, name, len));
}

/* Read a directory for a change: it must exist and be a directory that has
 * not been removed. */
static int dir_get(struct ghost_txn *t, uint64_t dir, struct rec *r)
{
    int e = rec_get(t, dir, r);
    if (e)
        return e;
    if (!S_ISDIR(r->mode))
        return -ENOTDIR;
    if (r->nlink == 0)
        return -ENOENT;
    return 0;
}

/* ---- lookup ------------------------------------------------------------------- */

int fs_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out)
{
    struct ghost_txn *t;
    struct rec pr, r;
    uint64_t child;
    size_t len;
    int e = check_name(name, &len);
    if (e)
        return e;
    uint64_t mark = commit_mark(fs);
    e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = rec_get(t, parent, &pr);
    if (!e && !S_ISDIR(pr.mode))
        e = -ENOTDIR;
    if (!e && !strcmp(name, "."))
        child = parent;
    else if (!e && !strcmp(name, ".."))
        child = pr.parent ? pr.parent : FS_ROOT_INO;
    else if (!e)
        e = dirent_get(t, parent, name, len, &child, NULL);
    if (!e)
        e = rec_get(t, child, &r);
    if (!e)
        rec_attr(fs, child, &r, out);
    ghost_txn_abort(t);
    if (e)
        return fs_errno(e);
    inode_looked_up(fs, child, parent, name);
    attr_merge_buffered(fs, out, mark); /* add writes still buffered here */
    return 0;
}

/* ---- making inodes ---------------------------------------------------------------- */

struct mk_ctx {
    struct fs *fs;
    const struct fs_ctx *ctx;
    uint64_t parent;
    const char *name;
    size_t len;
    uint32_t mode;
    uint64_t rdev;
    const char *target; /* symlinks */
    uint64_t link_ino;  /* fs_link: the inode to link, else 0 */
    int flags;          /* fs_create */
    uint64_t ino;       /* out */
    bool existed;       /* fs_create found the name taken */
    struct fs_attr *out;
};

static int mk_fn(struct ghost_txn *t, void *arg)
{
    struct mk_ctx *c = arg;
    struct rec pr, r;
    uint64_t child;
    int64_t now = now_ns();
    int e = dir_get(t, c->parent, &pr);
    if (e)
        return e;
    c->existed = false;
    e = dirent_get(t, c->parent, c->name, c->len, &child, NULL);
    if (e == 0) {
        if (c->flags & O_CREAT && !(c->flags & O_EXCL)) {
            /* create of an existing name: open it instead */
            e = rec_get(t, child, &r);
            if (e)
                return e;
            if (S_ISDIR(r.mode))
                return -EISDIR;
            c->existed = true;
            c->ino = child;
            rec_attr(c->fs, child, &r, c->out);
            return 0;
        }
        return -EEXIST;
    }
    if (e != -ENOENT)
        return e;

    if (c->link_ino) {
        e = rec_get(t, c->link_ino, &r);
        if (e)
            return e;
        if (S_ISDIR(r.mode))
            return -EPERM;
        if (r.nlink == 0)
            return -ENOENT;
        if (r.nlink >= 65000)
            return -EMLINK;
        r.nlink++;
        r.ctime = now;
        c->ino = c->link_ino;
    } else {
        e = ghost_oid_alloc(t, &c->ino);
        if (e)
            return e;
        memset(&r, 0, sizeof r);
        r.mode = c->mode;
        r.uid = c->ctx->uid;
        r.gid = c->ctx->gid;
        if (pr.mode & S_ISGID) { /* setgid directory: inherit its group */
            r.gid = pr.gid;
            if (S_ISDIR(c->mode))
                r.mode |= S_ISGID;
        }
        r.nlink = S_ISDIR(c->mode) ? 2 : 1;
        r.atime = r.mtime = r.ctime = r.btime = now;
        r.rdev = c->rdev;
        r.parent = S_ISDIR(c->mode) ? c->parent : 0;
        if (S_ISREG(c->mode) || S_ISLNK(c->mode))
            r.flags = INODE_INLINE;
        if (c->target) {
            r.inl = (const unsigned char *)c->target;
            r.inl_len = strlen(c->target);
            r.size = r.inl_len;
        }
        if (S_ISDIR(c->mode)) {
            if (pr.nlink >= 65000)
                return -EMLINK;
            pr.nlink++;
        }
    }
    e = rec_put(t, c->ino, &r);
    e = e ? e : dirent_put(t, c->parent, c->name, c->len, c->ino, r.mode);
    pr.mtime = pr.ctime = now;
    e = e ? e : rec_put(t, c->parent, &pr);
    if (!e)
        rec_attr(c->fs, c->ino, &r, c->out);
    return e;
}

static int make(struct mk_ctx *c)
{
    int e = check_name(c->name, &c->len);
    if (e)
        return e;
    if (!strcmp(c->name, ".") || !strcmp(c->name, ".."))
        return -EEXIST;
    uint64_t mark = commit_mark(c->fs);
    e = fs_run(c->fs, mk_fn, c);
    if (e)
        return e;
    inode_looked_up(c->fs, c->ino, c->parent, c->name);
    attr_merge_buffered(c->fs, c->out, mark); /* a new link to a file being written */
    return 0;
}

int fs_mknod(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
             uint32_t mode, uint64_t rdev, struct fs_attr *out)
{
    uint32_t type = mode & S_IFMT;
    if (type == 0)
        mode |= type = S_IFREG;
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    struct mk_ctx c = {.fs = fs, .ctx = ctx, .parent = parent, .name = name, .mode = mode,
                       .rdev = (type == S_IFCHR || type == S_IFBLK) ? rdev : 0, .out = out};
    return make(&c);
}

int fs_mkdir(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
             uint32_t mode, struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs, .ctx = ctx, .parent = parent, .name = name,
                       .mode = S_IFDIR | (mode & 07777), .out = out};
    return make(&c);
}

int fs_symlink(struct fs *fs, const struct fs_ctx *ctx, const char *target, uint64_t parent,
               const char *name, struct fs_attr *out)
{
    size_t tlen = strlen(target);
    if (tlen == 0)
        return -ENOENT;
    if (tlen >= 4096)
        return -ENAMETOOLONG;
    struct mk_ctx c = {.fs = fs, .ctx = ctx, .parent = parent, .name = name,
                       .mode = S_IFLNK | 0777, .target = target, .out = out};
    return make(&c);
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name,
            struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs, .parent = parent, .name = name, .link_ino = ino, .out = out};
    return make(&c);
}

int fs_create(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
              uint32_t mode, int flags, struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs, .ctx = ctx, .parent = parent, .name = name,
                       .mode = S_IFREG | (mode & 07777), .flags = flags | O_CREAT, .out = out};
    int e = make(&c);
    if (e)
        return e;
    bool keep;
    e = fs_open_file(fs, c.ino, flags, &keep);
    if (e) {
        fs_forget(fs, c.ino, 1); /* the lookup make() counted */
        return e;
    }
    if (c.existed && (flags & O_TRUNC)) {
        struct fs_attr a = {.size = 0};
        e = fs_setattr(fs, c.ino, &a, FS_SET_SIZE, out);
        if (e) /* the open too, or the inode stays busy until the daemon ends */
            fs_unopen(fs, c.ino, 1);
    }
    return e;
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
    struct ghost_txn *t;
    struct rec r;
    if (size == 0)
        return -EINVAL;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = rec_get(t, ino, &r);
    if (!e && !S_ISLNK(r.mode))
        e = -EINVAL;
    if (!e) {
        size_t n = r.inl_len < size - 1 ? r.inl_len : size - 1;
        memcpy(buf, r.inl, n);
        buf[n] = 0;
    }
    ghost_txn_abort(t);
    return fs_errno(e);
}

/* ---- removing names -------------------------------------------------------------- */

static int has_entry(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)arg, (void)k, (void)kl, (void)v, (void)vl;
    return 1;
}

static int dir_empty(struct ghost_txn *t, uint64_t dir)
{
    int e = ghost_map_scan(t, dir, FS_MAP_DIRENT, NULL, 0, has_entry, NULL);
    return e < 0 ? e : e == 0;
}

/* Drop one link of child (named name in dir), in transaction t. Sets
 * *gone when its last link went. */
static int drop_link(struct ghost_txn *t, uint64_t dir, const char *name, size_t len,
                     uint64_t child, struct rec *cr, int64_t now, bool *gone)
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
    uint64_t child;    /* the inode the name led to when we locked it */
    bool busy;         /* open here, or with buffered writes */
    bool gone;         /* its last link went */
    bool deleted;      /* ... and it was deleted in the same transaction */
    bool moved;        /* the name now leads elsewhere: look again */
};

static int orphan_put(struct ghost_txn *t, struct fs *fs, uint64_t ino)
{
    unsigned char k[8];
    put_be64(k, ino);
    return ghost_map_put(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, k, 8, fs->owner, strlen(fs->owner));
}

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
    e = drop_link(t, c->parent, c->name, c->len, child, &cr, now, &c->gone);
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
static void unlinked(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in) {
        inode_reclaim(fs, ino);
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
        unlinked(fs, c.child);
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

/* ---- rename ------------------------------------------------------------------------ */

struct mv_ctx {
    struct fs *fs;
    uint64_t p1, p2;
    const char *n1, *n2;
    size_t l1, l2;
    unsigned flags;
    uint64_t victim;
    bool gone;
};

/* Is dir `anc` an ancestor of (or equal to) `dir`? */
static int is_ancestor(struct ghost_txn *t, uint64_t anc, uint64_t dir)
{
    for (int depth = 0; depth < 4096; depth++) {
        if (dir == anc)
            return 1;
        if (dir == FS_ROOT_INO)
            return 0;
        struct rec r;
        int e = rec_get(t, dir, &r);
        if (e)
            return e;
        dir = r.parent;
    }
    return -ELOOP;
}

static int mv_fn(struct ghost_txn *t, void *arg)
{
    struct mv_ctx *c = arg;
    struct rec p1, p2buf, *p2 = &p2buf, cr, vr;
    uint64_t child, victim = 0;
    int64_t now = now_ns();
    bool same = c->p1 == c->p2;
    c->gone = false;
    c->victim = 0;
    int e = dir_get(t, c->p1, &p1);
    if (e)
        return e;
    if (same)
        p2 = &p1;
    else if ((e = dir_get(t, c->p2, p2)))
        return e;
    e = dirent_get(t, c->p1, c->n1, c->l1, &child, NULL);
    e = e ? e : rec_get(t, child, &cr);
    if (e)
        return e;
    e = dirent_get(t, c->p2, c->n2, c->l2, &victim, NULL);
    if (e && e != -ENOENT)
        return e;
    bool have_victim = e == 0;
    if ((c->flags & RENAME_NOREPLACE) && have_victim)
        return -EEXIST;
    if ((c->flags & RENAME_EXCHANGE) && !have_victim)
        return -ENOENT;
    if (have_victim && victim == child)
        return 0; /* two names of one inode: nothing to do */
    if (have_victim && (e = rec_get(t, victim, &vr)))
        return e;
    /* A directory cannot move under itself. */
    if (S_ISDIR(cr.mode) && !same) {
        e = is_ancestor(t, child, c->p2);
        if (e)
            return e < 0 ? e : -EINVAL;
    }
    if ((c->flags & RENAME_EXCHANGE) && S_ISDIR(vr.mode) && !same) {
        e = is_ancestor(t, victim, c->p1);
        if (e)
            return e < 0 ? e : -EINVAL;
    }

    if (c->flags & RENAME_EXCHANGE) {
        e = dirent_del(t, c->p1, c->n1, c->l1, child);
        e = e ? e : dirent_del(t, c->p2, c->n2, c->l2, victim);
        e = e ? e : dirent_put(t, c->p2, c->n2, c->l2, child, cr.mode);
        e = e ? e : dirent_put(t, c->p1, c->n1, c->l1, victim, vr.mode);
        if (e)
            return e;
        if (!same) {
            if (S_ISDIR(cr.mode)) {
                cr.parent = c->p2;
                p1.nlink--;
                p2->nlink++;
            }
            if (S_ISDIR(vr.mode)) {
                vr.parent = c->p1;
                p2->nlink--;
                p1.nlink++;
            }
        }
        vr.ctime = now;
        e = rec_put(t, victim, &vr);
    } else {
        if (have_victim) {
            if (S_ISDIR(cr.mode) && !S_ISDIR(vr.mode))
                return -ENOTDIR;
            if (!S_ISDIR(cr.mode) && S_ISDIR(vr.mode))
                return -EISDIR;
            if (S_ISDIR(vr.mode)) {
                e = dir_empty(t, victim);
                if (e < 0)
                    return e;
                if (!e)
                    return -ENOTEMPTY;
                p2->nlink--;
            }
            e = drop_link(t, c->p2, c->n2, c->l2, victim, &vr, now, &c->gone);
            if (!e && c->gone)
                e = orphan_put(t, c->fs, victim);
            if (e)
                return e;
            c->victim = victim;
        }
        e = dirent_del(t, c->p1, c->n1, c->l1, child);
        e = e ? e : dirent_put(t, c->p2, c->n2, c->l2, child, cr.mode);
        if (e)
            return e;
        if (S_ISDIR(cr.mode) && !same) {
            cr.parent = c->p2;
            p1.nlink--;
            p2->nlink++;
        }
    }
    cr.ctime = now;
    p1.mtime = p1.ctime = now;
    p2->mtime = p2->ctime = now;
    e = rec_put(t, child, &cr);
    e = e ? e : rec_put(t, c->p1, &p1);
    if (!e && !same)
        e = rec_put(t, c->p2, p2);
    return e;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
              const char *newname, unsigned flags)
{
    struct mv_ctx c = {.fs = fs, .p1 = parent, .p2 = newparent, .n1 = name, .n2 = newname,
                       .flags = flags};
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
        return -EINVAL;
    if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
        return -EINVAL;
    int e = check_name(name, &c.l1);
    e = e ? e : check_name(newname, &c.l2);
    if (e)
        return e;
    if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(newname, ".") ||
        !strcmp(newname, ".."))
        return -EBUSY;
    e = fs_run(fs, mv_fn, &c);
    if (e)
        return e;
    if (c.gone)
        unlinked(fs, c.victim);
    return 0;
}

/* ---- readdir ---------------------------------------------------------------------- */

/* readdir works in rounds: collect up to ROUND entries in one short read
 * view, end it, then hand them out (adding writes still buffered here, which
 * needs inode locks that must not be waited for while a view is open). */
#define ROUND 128

struct rd_entry {
    char name[FS_NAME_MAX + 1];
    struct fs_attr a;
    uint64_t off;
};

struct rd_ctx {
    struct fs *fs;
    struct ghost_txn *t;
    bool plus;
    struct rd_entry *e;
    size_t n;
    int err;
};

static int rd_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct rd_ctx *c = arg;
    if (klen <= 8 || klen > DKEY_MAX || vlen != 9)
        return 0;
    struct rd_entry *x = &c->e[c->n];
    memcpy(x->name, (const char *)key + 8, klen - 8);
    x->name[klen - 8] = 0;
    x->off = get_be64(key);
    memset(&x->a, 0, sizeof x->a);
    x->a.ino = get_be64(val);
    x->a.mode = (uint32_t)((const unsigned char *)val)[8] << 12;
    if (c->plus) {
        struct rec r;
        int e = rec_get(c->t, x->a.ino, &r);
        if (e == -ENOENT)
            return 0; /* raced with a delete */
        if (e) {
            c->err = e;
            return 1;
        }
        rec_attr(c->fs, x->a.ino, &r, &x->a);
    }
    return ++c->n == ROUND;
}

int fs_readdir(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn,
               void *arg)
{
    struct ghost_txn *t;
    struct rec r;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = rec_get(t, ino, &r);
    if (!e && !S_ISDIR(r.mode))
        e = -ENOTDIR;
    if (e) {
        ghost_txn_abort(t);
        return fs_errno(e);
    }
    struct fs_attr a = {0};
    if (off < 1) {
        rec_attr(fs, ino, &r, &a);
        if (fn(arg, ".", &a, 1)) { /* no lookup count for "." and ".." */
            ghost_txn_abort(t);
            return 0;
        }
        off = 1;
    }
    if (off < 2) {
        uint64_t up = r.parent ? r.parent : FS_ROOT_INO;
        struct rec ur;
        memset(&a, 0, sizeof a);
        a.ino = up;
        a.mode = S_IFDIR;
        if (plus && rec_get(t, up, &ur) == 0)
            rec_attr(fs, up, &ur, &a);
        if (fn(arg, "..", &a, 2)) {
            ghost_txn_abort(t);
            return 0;
        }
        off = 2;
    }
    ghost_txn_abort(t);

    struct rd_ctx c = {.fs = fs, .plus = plus, .e = malloc(ROUND * sizeof *c.e)};
    if (!c.e)
        return -ENOMEM;
    for (;;) {
        unsigned char start[8];
        put_be64(start, off + 1);
        c.n = 0;
        uint64_t mark = commit_mark(fs);
        e = ghost_txn_begin(fs->g, &c.t);
        if (e)
            break;
        e = ghost_map_scan(c.t, ino, FS_MAP_DIRENT, start, 8, rd_visit, &c);
        ghost_txn_abort(c.t);
        if (e > 0)
            e = 0;
        e = e ? e : c.err;
        if (e)
            break;
        bool full = false;
        for (size_t i = 0; i < c.n && !full; i++) {
            if (plus)
                attr_merge_buffered(fs, &c.e[i].a, mark);
            full = fn(arg, c.e[i].name, &c.e[i].a, c.e[i].off) != 0;
            if (!full) {
                if (plus)
                    inode_looked_up(fs, c.e[i].a.ino, ino, c.e[i].name);
                off = c.e[i].off;
            }
        }
        if (full || c.n < ROUND)
            break;
    }
    free(c.e);
    return fs_errno(e);
}
