/*
 * fuse_ops.c - the FUSE low-level glue. No filesystem logic lives here:
 * each handler decodes its request, calls one fs_ function, and replies.
 *
 * Kernel caching: entries and attributes are cached for an hour, because
 * every change made through this mount is seen by the kernel anyway, and
 * changes made by another daemon are pushed to the kernel by notification
 * (fuse_lowlevel_notify_inval_*) from the notifier's thread (notify.c) -
 * never from inside a request handler, where it could deadlock on the locks
 * the kernel holds for that request; this file only supplies its sink.
 * Lookups that find nothing are not cached (so a file another mount
 * creates shows up at once).
 *
 * The control tree (/.ghostfs, snapshot views; fs/ctl.c) has inode numbers
 * of its own: each handler asks fs_ctl_owns (or fs_ctl_owns_entry for a
 * name) and calls the fs_ctl_* function instead, or answers a change with
 * fs_ctl_refuse's errno. What may change there (the list of snapshots) is
 * cached for a second only.
 */
#define FUSE_USE_VERSION 314
#include "fuse_ops.h"

#include <assert.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "notify.h"

#define CACHE_TIMEOUT 3600.0
#define CTL_TIMEOUT 1.0

static struct fs *FS(fuse_req_t req)
{
    return ((struct ghostfs_mount *)fuse_req_userdata(req))->fs;
}

/* Does the control tree answer for ino, or for name in parent? */
static bool CTL(fuse_req_t req, fuse_ino_t ino)
{
    return fs_ctl_owns(FS(req), ino);
}

static bool CTL_ENTRY(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    return fs_ctl_owns_entry(FS(req), parent, name);
}

static double timeout_of(fuse_req_t req, uint64_t ino)
{
    return CTL(req, ino) && fs_ctl_volatile(FS(req), ino) ? CTL_TIMEOUT : CACHE_TIMEOUT;
}

/* Nanoseconds since the epoch, also before it, as a timespec. */
static struct timespec ts_of(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    if (ts.tv_nsec < 0) { /* floor, not truncation, for times before 1970 */
        ts.tv_sec--;
        ts.tv_nsec += 1000000000;
    }
    return ts;
}

static void to_stat(const struct fs_attr *a, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)a->size;
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_blksize = (blksize_t)a->blksize;
    st->st_rdev = a->rdev;
    st->st_atim = ts_of(a->atime_ns);
    st->st_mtim = ts_of(a->mtime_ns);
    st->st_ctim = ts_of(a->ctime_ns);
}

/* Reply an error (e < 0) or success (0) to a request that has no other
 * reply. What the kernel gets must be an errno: libfuse turns anything
 * else into ERANGE, which no program expects. */
static void reply_err(fuse_req_t req, int e)
{
    assert(e <= 0 && (e == 0 || fs_is_errno(-e)));
    fuse_reply_err(req, -e);
}

static void reply_entry(fuse_req_t req, int e, const struct fs_attr *a)
{
    if (e) {
        reply_err(req, e);
        return;
    }
    double to = timeout_of(req, a->ino);
    struct fuse_entry_param ep = {
        .ino = a->ino, .generation = a->handle_gen, .attr_timeout = to, .entry_timeout = to};
    to_stat(a, &ep.attr);
    fuse_reply_entry(req, &ep);
}

static struct fs_ctx ctx_of(fuse_req_t req)
{
    const struct fuse_ctx *c = fuse_req_ctx(req);
    struct fs_ctx x = {.uid = c->uid, .gid = c->gid, .umask = c->umask};
    return x;
}

/* ---- the notifier's sink: the kernel --------------------------------------------- */

static struct notifier *notifier;

static void inval_inode(void *arg, uint64_t ino)
{
    fuse_lowlevel_notify_inval_inode(arg, ino, 0, 0);
}

static void inval_entry(void *arg, uint64_t parent, const char *name)
{
    fuse_lowlevel_notify_inval_entry(arg, parent, name, strlen(name));
}

int notifier_start(struct fuse_session *se, struct fs *fs)
{
    struct notify_sink sink = {.inode = inval_inode, .entry = inval_entry, .arg = se};
    return notify_start(fs, &sink, &notifier);
}

void notifier_stop(void)
{
    notify_stop(notifier);
    notifier = NULL;
}

/* ---- requests ---------------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct ghostfs_mount *m = userdata;
    conn->max_write = 1 << 20;
    /* The kernel takes the smaller of this and the mount's read-ahead
     * window, which cli.c raised before INIT (if it could). */
    if (m->read_ahead)
        conn->max_readahead = m->read_ahead;
    /* libfuse fails INIT unless this is the max_read= it was given. */
    conn->max_read = m->max_read;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (m->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    /* chattr and lsattr on directories too (FS_IOC_GETFLAGS/SETFLAGS). */
    if (conn->capable & FUSE_CAP_IOCTL_DIR)
        conn->want |= FUSE_CAP_IOCTL_DIR;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    /* File handles (open_by_handle_at, NFS): the kernel looks up "." and
     * ".." of inodes it no longer holds (fs_lookup answers them). */
    if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
        conn->want |= FUSE_CAP_EXPORT_SUPPORT;
}

static void op_destroy(void *userdata)
{
    struct ghostfs_mount *m = userdata;
    fs_syncfs(m->fs);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs_attr a;
    int e = CTL_ENTRY(req, parent, name) ? fs_ctl_lookup(FS(req), parent, name, &a)
                                         : fs_lookup(FS(req), parent, name, &a);
    if (e == -ENOENT) {
        /* not cached: another mount may create it any moment */
        fuse_reply_err(req, ENOENT);
        return;
    }
    reply_entry(req, e, &a);
}

static void forget_one(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    if (CTL(req, ino))
        fs_ctl_forget(FS(req), ino, n);
    else
        fs_forget(FS(req), ino, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    forget_one(req, ino, n);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
    for (size_t i = 0; i < count; i++)
        forget_one(req, f[i].ino, f[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_attr a;
    struct stat st;
    (void)fi;
    int e = CTL(req, ino) ? fs_ctl_getattr(FS(req), ino, &a) : fs_getattr(FS(req), ino, &a);
    if (e) {
        reply_err(req, e);
        return;
    }
    to_stat(&a, &st);
    fuse_reply_attr(req, &st, timeout_of(req, ino));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct fs_attr in = {0}, out;
    unsigned set = 0;
    struct stat st;
    (void)fi;
    if (CTL(req, ino)) {
        reply_err(req, fs_ctl_refuse(FS(req), ino, NULL, false));
        return;
    }
    if (to_set & FUSE_SET_ATTR_MODE)
        set |= FS_SET_MODE, in.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID)
        set |= FS_SET_UID, in.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        set |= FS_SET_GID, in.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE)
        set |= FS_SET_SIZE, in.size = (uint64_t)attr->st_size;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        set |= FS_SET_ATIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        set |= FS_SET_ATIME,
            in.atime_ns = attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        set |= FS_SET_MTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        set |= FS_SET_MTIME,
            in.mtime_ns = attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
    if (to_set & FUSE_SET_ATTR_CTIME)
        set |= FS_SET_CTIME,
            in.ctime_ns = attr->st_ctim.tv_sec * 1000000000LL + attr->st_ctim.tv_nsec;
    int e = fs_setattr(FS(req), ino, &in, set, &out);
    if (e) {
        reply_err(req, e);
        return;
    }
    to_stat(&out, &st);
    fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[4097];
    int e = CTL(req, ino) ? fs_ctl_readlink(FS(req), ino, buf, sizeof buf)
                          : fs_readlink(FS(req), ino, buf, sizeof buf);
    if (e)
        reply_err(req, e);
    else
        fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct fs_ctx c = ctx_of(req);
    struct fs_attr a;
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, true));
    else
        reply_entry(req, fs_mknod(FS(req), &c, parent, name, mode, rdev, &a), &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs_ctx c = ctx_of(req);
    struct fs_attr a;
    if (CTL_ENTRY(req, parent, name))
        reply_entry(req, fs_ctl_mkdir(FS(req), parent, name, &a), &a);
    else
        reply_entry(req, fs_mkdir(FS(req), &c, parent, name, mode, &a), &a);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct fs_ctx c = ctx_of(req);
    struct fs_attr a;
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, true));
    else
        reply_entry(req, fs_symlink(FS(req), &c, link, parent, name, &a), &a);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
    struct fs_attr a;
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, true));
    else if (CTL(req, ino)) /* a snapshot's file, linked into the live tree */
        reply_err(req, -EXDEV);
    else
        reply_entry(req, fs_link(FS(req), ino, parent, name, &a), &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, false));
    else
        reply_err(req, fs_unlink(FS(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_rmdir(FS(req), parent, name));
    else
        reply_err(req, fs_rmdir(FS(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct fs_ctx c = ctx_of(req);
    if (CTL_ENTRY(req, parent, name))
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, false));
    else if (CTL_ENTRY(req, newparent, newname))
        reply_err(req, fs_ctl_refuse(FS(req), newparent, newname, false));
    else
        reply_err(req, fs_rename(FS(req), &c, parent, name, newparent, newname, flags));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    bool keep;
    if (CTL(req, ino)) {
        struct fs_ctl_doc *doc;
        int e = fs_ctl_open(FS(req), ino, fi->flags, &doc);
        if (e) {
            reply_err(req, e);
            return;
        }
        /* A snapshot's data never changes: cached. A document made at open
         * has size 0 and is read directly, until a read returns nothing. */
        fi->fh = (uintptr_t)doc;
        fi->keep_cache = !doc;
        fi->direct_io = doc != NULL;
        fi->noflush = 1;
        if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted */
            fs_ctl_release(FS(req), doc);
        return;
    }
    int e = fs_open_file(FS(req), ino, fi->flags, &keep);
    if (e) {
        reply_err(req, e);
        return;
    }
    fi->keep_cache = keep;
    /* A read-only handle has nothing to commit at close: the kernel need
     * not send a FLUSH (one round trip fewer per close of grep, cat, tar c). */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
    if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted: undo the open */
        fs_unopen(FS(req), ino, 0);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct fs_ctx c = ctx_of(req);
    struct fs_attr a;
    if (CTL_ENTRY(req, parent, name)) {
        reply_err(req, fs_ctl_refuse(FS(req), parent, name, true));
        return;
    }
    int e = fs_create(FS(req), &c, parent, name, mode, fi->flags, &a);
    if (e) {
        reply_err(req, e);
        return;
    }
    struct fuse_entry_param ep = {.ino = a.ino,
                                  .generation = a.handle_gen,
                                  .attr_timeout = CACHE_TIMEOUT,
                                  .entry_timeout = CACHE_TIMEOUT};
    to_stat(&a, &ep.attr);
    if (fuse_reply_create(req, &ep, fi) == -ENOENT) /* interrupted */
        fs_unopen(FS(req), a.ino, 1);
}

static void reply_pieces(void *arg, const struct iovec *iov, int n)
{
    fuse_reply_iov(arg, iov, n); /* the pieces are the store's pages: no copy here */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    if (CTL(req, ino)) {
        char *buf = malloc(size ? size : 1);
        const struct fs_ctl_doc *doc = (const struct fs_ctl_doc *)(uintptr_t)fi->fh;
        ssize_t n = buf ? fs_ctl_read(FS(req), ino, doc, buf, size, (uint64_t)off) : -ENOMEM;
        if (n < 0)
            reply_err(req, (int)n);
        else
            fuse_reply_buf(req, buf, (size_t)n);
        free(buf);
        return;
    }
    ssize_t n = fs_read_pieces(FS(req), ino, size, (uint64_t)off, reply_pieces, req);
    if (n < 0)
        reply_err(req, (int)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    if (CTL(req, ino)) {
        reply_err(req, fs_ctl_refuse(FS(req), ino, NULL, false));
        return;
    }
    ssize_t n = fs_write(FS(req), ino, buf, size, (uint64_t)off, fi->flags & O_APPEND);
    if (n < 0)
        reply_err(req, (int)n);
    else
        fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    reply_err(req, CTL(req, ino) ? 0 : fs_flush(FS(req), ino));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (CTL(req, ino)) {
        fs_ctl_release(FS(req), (struct fs_ctl_doc *)(uintptr_t)fi->fh);
        reply_err(req, 0);
        return;
    }
    reply_err(req, fs_release(FS(req), ino));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    reply_err(req, CTL(req, ino) ? 0 : fs_fsync(FS(req), ino, datasync));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int e = CTL(req, ino) ? fs_ctl_opendir(FS(req), ino) : fs_opendir(FS(req), ino);
    struct fs_listing *l = e ? NULL : calloc(1, sizeof *l);
    if (!e && !l)
        e = -ENOMEM;
    if (e) {
        reply_err(req, e);
        return;
    }
    fi->fh = (uintptr_t)l;
    fi->cache_readdir = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) /* the opener was interrupted */
        free(l);
}

struct dirbuf {
    fuse_req_t req;
    char *buf;
    size_t size, used;
    bool plus;
};

static int add_entry(void *arg, const char *name, const struct fs_attr *a, uint64_t next)
{
    struct dirbuf *d = arg;
    struct stat st;
    size_t n;
    to_stat(a, &st);
    if (d->plus) {
        double to = timeout_of(d->req, a->ino);
        struct fuse_entry_param ep = {.ino = a->ino,
                                      .generation = a->handle_gen,
                                      .attr = st,
                                      .attr_timeout = to,
                                      .entry_timeout = to};
        n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &ep,
                                   (off_t)next);
    } else {
        n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st, (off_t)next);
    }
    if (n > d->size - d->used)
        return 1;
    d->used += n;
    return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus,
                           struct fuse_file_info *fi)
{
    struct dirbuf d = {.req = req, .buf = malloc(size), .size = size, .plus = plus};
    if (!d.buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int e = CTL(req, ino) ? fs_ctl_readdir(FS(req), ino, (uint64_t)off, plus, add_entry, &d)
                          : fs_readdir_at(FS(req), ino, (uint64_t)off, plus, add_entry, &d,
                                          (struct fs_listing *)(uintptr_t)fi->fh);
    if (e && d.used == 0)
        reply_err(req, e);
    else
        fuse_reply_buf(req, d.buf, d.used);
    free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, false, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, true, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    free((struct fs_listing *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    reply_err(req, CTL(req, ino) ? 0 : fs_fsyncdir(FS(req), ino, datasync));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st;
    (void)ino;
    int e = fs_statfs(FS(req), &st);
    if (e)
        reply_err(req, e);
    else
        fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    if (CTL(req, ino))
        reply_err(req, fs_ctl_refuse(FS(req), ino, NULL, false));
    else
        reply_err(req, fs_setxattr(FS(req), ino, name, value, size, flags));
}

/* getxattr and listxattr: size 0 asks for the length, else the bytes. */
static void reply_xattr(fuse_req_t req, ssize_t n, size_t size, const char *buf)
{
    if (n < 0)
        reply_err(req, (int)n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    reply_xattr(req,
                CTL(req, ino) ? fs_ctl_getxattr(FS(req), ino, name, buf, size)
                              : fs_getxattr(FS(req), ino, name, buf, size),
                size, buf);
    free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    reply_xattr(req,
                CTL(req, ino) ? fs_ctl_listxattr(FS(req), ino, buf, size)
                              : fs_listxattr(FS(req), ino, buf, size),
                size, buf);
    free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    if (CTL(req, ino))
        reply_err(req, fs_ctl_refuse(FS(req), ino, NULL, false));
    else
        reply_err(req, fs_removexattr(FS(req), ino, name));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
    (void)fi;
    if (CTL(req, ino))
        reply_err(req, fs_ctl_refuse(FS(req), ino, NULL, false));
    else
        reply_err(req, fs_fallocate(FS(req), ino, mode, off, len));
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
    if (((struct ghostfs_mount *)fuse_req_userdata(req))->writeback) {
        /* The kernel holds dirty pages we have not seen: let it answer
         * (it treats the whole file as data). */
        fuse_reply_err(req, ENOSYS);
        return;
    }
    const struct fs_ctl_doc *doc = CTL(req, ino) ? (const void *)(uintptr_t)fi->fh : NULL;
    int64_t r = CTL(req, ino) ? fs_ctl_lseek(FS(req), ino, doc, off, whence)
                              : fs_lseek(FS(req), ino, off, whence);
    if (r < 0)
        reply_err(req, (int)r);
    else
        fuse_reply_lseek(req, (off_t)r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len, int flags)
{
    (void)fi_in, (void)fi_out;
    if (CTL(req, ino_out)) {
        reply_err(req, fs_ctl_refuse(FS(req), ino_out, NULL, false));
        return;
    }
    if (CTL(req, ino_in)) { /* from a snapshot: the caller copies by reading */
        reply_err(req, -EXDEV);
        return;
    }
    ssize_t n = fs_copy_range(FS(req), ino_in, (uint64_t)off_in, ino_out, (uint64_t)off_out, len,
                              (unsigned)flags);
    if (n < 0)
        reply_err(req, (int)n);
    else
        fuse_reply_write(req, (size_t)n);
}

/* ---- inode flags: FS_IOC_GETFLAGS / SETFLAGS and FS_IOC_FSGETXATTR / FSSETXATTR ---- */

/* Since Linux 5.13 the kernel makes these requests itself, from its
 * fileattr calls (chattr's ioctl, and xfs_io's), after checking that the
 * caller owns the file and, to change +i or +a, holds CAP_LINUX_IMMUTABLE:
 * that capability is the kernel's word here. Before it changes the flags
 * it reads them back as an fsxattr, so both forms are answered. Whatever
 * FS_IOC_GETFLAGS's number says (a long), its value is an int: the kernel
 * asks with 4 bytes. A 32-bit process's FS_IOC32_* the kernel turns into
 * FS_IOC_* before it checks; it never sends FS_IOC32_* itself, so one that
 * arrives was sent raw by a 64-bit process and skipped those checks: it
 * is not answered (ENOTTY), or the file's owner could clear +i or +a. */

static void getflags(fuse_req_t req, fuse_ino_t ino, bool xattr, size_t out_bufsz)
{
    uint32_t v;
    int e = fs_get_iflags(FS(req), ino, &v);
    if (!e && out_bufsz < (xattr ? sizeof(struct fsxattr) : sizeof v))
        e = -EINVAL;
    if (e) {
        reply_err(req, e);
    } else if (xattr) {
        struct fsxattr fa = {.fsx_xflags = (v & FS_IMMUTABLE_FL ? FS_XFLAG_IMMUTABLE : 0) |
                                           (v & FS_APPEND_FL ? FS_XFLAG_APPEND : 0)};
        fuse_reply_ioctl(req, 0, &fa, sizeof fa);
    } else {
        fuse_reply_ioctl(req, 0, &v, sizeof v);
    }
}

static void setflags(fuse_req_t req, fuse_ino_t ino, bool xattr, const void *in, size_t in_bufsz)
{
    uint32_t v;
    struct fsxattr fa;
    if (in_bufsz < (xattr ? sizeof fa : sizeof v)) {
        reply_err(req, -EINVAL);
        return;
    }
    if (xattr) {
        memcpy(&fa, in, sizeof fa);
        if ((fa.fsx_xflags & ~(unsigned)(FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND)) || fa.fsx_extsize ||
            fa.fsx_projid || fa.fsx_cowextsize) {
            reply_err(req, -EOPNOTSUPP); /* nothing else is kept */
            return;
        }
        v = (fa.fsx_xflags & FS_XFLAG_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
            (fa.fsx_xflags & FS_XFLAG_APPEND ? FS_APPEND_FL : 0);
    } else {
        memcpy(&v, in, sizeof v);
    }
    struct fs_ctx c = ctx_of(req);
    int e = fs_set_iflags(FS(req), &c, ino, v, true);
    if (e)
        reply_err(req, e);
    else
        fuse_reply_ioctl(req, 0, NULL, 0);
}

/* A remount's request, on the root directory (fuse_ops.h). */
static void remount_request(fuse_req_t req, fuse_ino_t ino, const void *in_buf, size_t in_bufsz,
                            size_t out_bufsz)
{
    struct ghostfs_mount *m = fuse_req_userdata(req);
    struct ghostfs_remount r;
    if (ino != FUSE_ROOT_ID || !m->remount) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    if (in_bufsz != sizeof r || out_bufsz != sizeof r) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    uid_t uid = fuse_req_ctx(req)->uid;
    if (uid != 0 && uid != getuid()) {
        fuse_reply_err(req, EPERM);
        return;
    }
    memcpy(&r, in_buf, sizeof r);
    r.opts[sizeof r.opts - 1] = 0;
    m->remount(m->remount_arg, &r);
    fuse_reply_ioctl(req, 0, &r, sizeof r);
}

/* The ioctls: inode flags, and a remount's request. */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
                     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
                     size_t out_bufsz)
{
    (void)arg, (void)fi, (void)flags;
    /* A remount's request comes on the mount's root, which the control
     * tree owns in a mount of a snapshot alone: answer it first. */
    if (cmd == GHOSTFS_IOC_REMOUNT) {
        remount_request(req, ino, in_buf, in_bufsz, out_bufsz);
        return;
    }
    if (CTL(req, ino)) { /* no inode flags are shown in the control tree */
        reply_err(req, -ENOTTY);
        return;
    }
    switch (cmd) {
    case FS_IOC_GETFLAGS:
        getflags(req, ino, false, out_bufsz);
        break;
    case FS_IOC_FSGETXATTR:
        getflags(req, ino, true, out_bufsz);
        break;
    case FS_IOC_SETFLAGS:
        setflags(req, ino, false, in_buf, in_bufsz);
        break;
    case FS_IOC32_GETFLAGS: /* never from the kernel itself: see above */
    case FS_IOC32_SETFLAGS:
        reply_err(req, -ENOTTY);
        break;
    case FS_IOC_FSSETXATTR:
        setflags(req, ino, true, in_buf, in_bufsz);
        break;
    default:
        reply_err(req, -ENOTTY);
    }
}

const struct fuse_lowlevel_ops ghostfs_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .link = op_link,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
    .copy_file_range = op_copy_file_range,
    .ioctl = op_ioctl,
};
