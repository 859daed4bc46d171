/*
 * make.c - creating inodes and links: mknod, mkdir, symlink, link and
 * create (which also opens).
 *
 * Each is one ghost_run() transaction that reads the parent directory,
 * checks the name is free, writes the new (or relinked) inode's record, the
 * entry with its back reference, and the parent (mtime, and nlink for a new
 * directory), so that two changes racing on one directory conflict and one
 * of them is run again on fresh data. No locks of fs/ are held across it.
 */
#include "fsint.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "attr.h"
#include "dirent.h"
#include "iflags.h"
#include "itable.h"
#include "make.h"

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

/* The name is taken: a create without O_EXCL opens what is there (unless it
 * is a directory); anything else fails. */
static int name_taken(struct ghost_txn *t, struct mk_ctx *c, uint64_t child)
{
    struct rec r;
    if (!(c->flags & O_CREAT) || (c->flags & O_EXCL))
        return -EEXIST;
    int e = rec_get(t, child, &r);
    if (e)
        return e;
    if (S_ISDIR(r.mode))
        return -EISDIR;
    c->existed = true;
    c->ino = child;
    rec_attr(c->fs, child, &r, c->out);
    return 0;
}

/* fs_link: the record of the inode to link, with one more link. */
static int link_record(struct ghost_txn *t, struct mk_ctx *c, struct rec *r, int64_t now)
{
    int e = rec_get(t, c->link_ino, r);
    if (e)
        return e;
    if (S_ISDIR(r->mode))
        return -EPERM;
    if (r->nlink == 0)
        return -ENOENT;
    e = iflags_may_link(r);
    if (e)
        return e;
    if (r->nlink >= 65000)
        return -EMLINK;
    r->nlink++;
    r->ctime = now;
    c->ino = c->link_ino;
    return 0;
}

int make_node(struct ghost_txn *t, const struct fs_ctx *ctx, uint64_t parent, struct rec *pr,
              uint32_t mode, uint64_t rdev, int64_t now, uint64_t *ino, struct rec *r)
{
    int e = ghost_oid_alloc(t, ino);
    if (e)
        return e;
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->uid = ctx->uid;
    r->gid = ctx->gid;
    if (pr->mode & S_ISGID) { /* setgid directory: inherit its group */
        r->gid = pr->gid;
        if (S_ISDIR(mode))
            r->mode |= S_ISGID;
    }
    r->nlink = S_ISDIR(mode) ? 2 : 1;
    r->atime = r->mtime = r->ctime = r->btime = now;
    r->rdev = rdev;
    r->parent = S_ISDIR(mode) ? parent : 0;
    if (S_ISREG(mode) || S_ISLNK(mode))
        r->flags = INODE_INLINE;
    if (S_ISDIR(mode)) {
        if (pr->nlink >= 65000)
            return -EMLINK;
        pr->nlink++;
    }
    return 0;
}

/* The record of a new inode made by c (a symlink with its target). */
static int new_record(struct ghost_txn *t, struct mk_ctx *c, struct rec *pr, struct rec *r,
                      int64_t now)
{
    int e = make_node(t, c->ctx, c->parent, pr, c->mode, c->rdev, now, &c->ino, r);
    if (!e && c->target) {
        r->inl = (const unsigned char *)c->target;
        r->inl_len = strlen(c->target);
        r->size = r->inl_len;
    }
    return e;
}

/* Write the inode's record, its entry in the parent and the parent. */
static int add_entry(struct ghost_txn *t, struct mk_ctx *c, struct rec *pr, const struct rec *r,
                     int64_t now)
{
    int e = rec_put(t, c->ino, r);
    e = e ? e : dirent_put(t, c->parent, c->name, c->len, c->ino, r->mode);
    pr->mtime = pr->ctime = now;
    e = e ? e : rec_put(t, c->parent, pr);
    if (!e)
        rec_attr(c->fs, c->ino, r, c->out);
    return e;
}

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
    if (e == 0)
        return name_taken(t, c, child);
    if (e != -ENOENT)
        return e;
    e = iflags_may_add(&pr);
    if (e)
        return e;
    e = c->link_ino ? link_record(t, c, &r, now) : new_record(t, c, &pr, &r, now);
    return e ? e : add_entry(t, c, &pr, &r, now);
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
    struct mk_ctx c = {.fs = fs,
                       .ctx = ctx,
                       .parent = parent,
                       .name = name,
                       .mode = mode,
                       .rdev = (type == S_IFCHR || type == S_IFBLK) ? rdev : 0,
                       .out = out};
    return make(&c);
}

int fs_mkdir(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
             uint32_t mode, struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs,
                       .ctx = ctx,
                       .parent = parent,
                       .name = name,
                       .mode = S_IFDIR | (mode & 07777),
                       .out = out};
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
    struct mk_ctx c = {.fs = fs,
                       .ctx = ctx,
                       .parent = parent,
                       .name = name,
                       .mode = S_IFLNK | 0777,
                       .target = target,
                       .out = out};
    return make(&c);
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name, struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs, .parent = parent, .name = name, .link_ino = ino, .out = out};
    return make(&c);
}

int fs_create(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
              uint32_t mode, int flags, struct fs_attr *out)
{
    struct mk_ctx c = {.fs = fs,
                       .ctx = ctx,
                       .parent = parent,
                       .name = name,
                       .mode = S_IFREG | (mode & 07777),
                       .flags = flags | O_CREAT,
                       .out = out};
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
