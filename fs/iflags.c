/*
 * iflags.c - inode flags: chattr's +i (immutable) and +a (append only),
 * kept in the inode record's flags word (INODE_IMMUTABLE, INODE_APPEND;
 * inode_rec.c), and the checks every path of fs/ makes against them
 * (iflags.h has the rules). A record written before the flags existed has
 * those bits clear: no flag.
 *
 * The kernel hands FS_IOC_GETFLAGS / FS_IOC_SETFLAGS to the daemon with
 * Linux's FS_*_FL values; only the two above are kept, any other bit is
 * refused with EOPNOTSUPP rather than stored without meaning. Who may set
 * them: the owner (or root); changing +i or +a needs CAP_LINUX_IMMUTABLE,
 * which the caller says it holds (the kernel checks both before it sends
 * the request; fs_set_iflags checks again for callers other than the
 * kernel).
 *
 * Under the kernel's writeback cache (fs_options.kernel_writeback) the
 * flags cannot be kept: writes reach the daemon late, through fds opened
 * before a flag was set, and an append is followed by a setattr of mtime
 * and ctime that +a refuses, failing fsync. There flags are not set
 * (EOPNOTSUPP), and a file that has +a (set by a mount without the cache)
 * is not opened for writing at all; +i already refuses every write open.
 *
 * No locks of its own: fs_set_iflags commits the inode's buffered writes
 * under its rw lock first (they were accepted before the flag), as setattr
 * does.
 */
#include "iflags.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "fsint.h"
#include "itable.h"
#include "wb_commit.h"

#define FL_KNOWN (FS_IMMUTABLE_FL | FS_APPEND_FL)

static bool immutable(const struct rec *r)
{
    return r->flags & INODE_IMMUTABLE;
}

static bool append_only(const struct rec *r)
{
    return r->flags & INODE_APPEND;
}

int iflags_may_open(const struct rec *r, int flags, bool kernel_writeback)
{
    bool writes = (flags & O_ACCMODE) != O_RDONLY;
    if (immutable(r) && (writes || (flags & O_TRUNC)))
        return -EPERM;
    if (append_only(r) && kernel_writeback && (writes || (flags & O_TRUNC)))
        return -EPERM;
    if (append_only(r) && ((writes && !(flags & O_APPEND)) || (flags & O_TRUNC)))
        return -EPERM;
    return 0;
}

int iflags_may_write(const struct rec *r, bool append)
{
    if (immutable(r) || (append_only(r) && !append))
        return -EPERM;
    return 0;
}

int iflags_may_setattr(const struct rec *r, unsigned set)
{
    /* Touching to "now" (utimes(NULL)) is allowed on an append-only file,
     * as on Linux's own filesystems; a set time is not. */
    unsigned refused =
        FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_SIZE | FS_SET_ATIME | FS_SET_MTIME;
    if (immutable(r) && set)
        return -EPERM;
    if (append_only(r) && (set & refused))
        return -EPERM;
    return 0;
}

int iflags_may_fallocate(const struct rec *r, int mode)
{
    if (immutable(r) || (append_only(r) && (mode & ~FALLOC_FL_KEEP_SIZE)))
        return -EPERM;
    return 0;
}

int iflags_may_change_xattr(const struct rec *r)
{
    return immutable(r) || append_only(r) ? -EPERM : 0;
}

int iflags_may_add(const struct rec *dir)
{
    return immutable(dir) ? -EPERM : 0;
}

int iflags_may_remove(const struct rec *dir, const struct rec *child)
{
    if (immutable(dir) || append_only(dir) || immutable(child) || append_only(child))
        return -EPERM;
    return 0;
}

int iflags_may_link(const struct rec *r)
{
    return immutable(r) || append_only(r) ? -EPERM : 0;
}

int iflags_may_rename(const struct rec *from, const struct rec *child, const struct rec *to,
                      const struct rec *victim, bool exchange)
{
    int e = iflags_may_remove(from, child);
    e = e ? e : iflags_may_add(to);
    if (!e && victim)
        e = iflags_may_remove(to, victim);
    if (!e && exchange)
        e = iflags_may_add(from);
    return e;
}

/* ---- reading and setting them -------------------------------------------------------- */

static uint32_t to_linux(const struct rec *r)
{
    return (immutable(r) ? FS_IMMUTABLE_FL : 0) | (append_only(r) ? FS_APPEND_FL : 0);
}

int fs_get_iflags(struct fs *fs, uint64_t ino, uint32_t *flags)
{
    struct rec r;
    int e = rec_peek(fs, ino, &r);
    if (e)
        return fs_errno(e);
    *flags = to_linux(&r);
    return 0;
}

struct setfl_ctx {
    const struct fs_ctx *who;
    uint64_t ino;
    uint32_t flags;
    bool cap_immutable;
};

static int setfl_fn(struct ghost_txn *t, void *arg)
{
    struct setfl_ctx *c = arg;
    struct rec r;
    int e = rec_get(t, c->ino, &r);
    if (e)
        return e;
    if (!S_ISREG(r.mode) && !S_ISDIR(r.mode))
        return -ENOTTY; /* as the kernel answers for other kinds */
    if (c->who->uid != 0 && c->who->uid != r.uid)
        return -EPERM;
    uint32_t old = to_linux(&r);
    if (old == c->flags)
        return 0;
    if (((old ^ c->flags) & FL_KNOWN) && !c->cap_immutable)
        return -EPERM;
    r.flags &= ~(uint32_t)(INODE_IMMUTABLE | INODE_APPEND);
    if (c->flags & FS_IMMUTABLE_FL)
        r.flags |= INODE_IMMUTABLE;
    if (c->flags & FS_APPEND_FL)
        r.flags |= INODE_APPEND;
    r.ctime = now_ns();
    return rec_put(t, c->ino, &r);
}

int fs_set_iflags(struct fs *fs, const struct fs_ctx *who, uint64_t ino, uint32_t flags,
                  bool cap_immutable)
{
    if ((flags & ~(uint32_t)FL_KNOWN) || fs->kernel_writeback)
        return -EOPNOTSUPP;
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    int e = wb_commit(fs, in);
    if (!e) {
        struct setfl_ctx c = {who, ino, flags, cap_immutable};
        e = fs_run(fs, setfl_fn, &c);
    }
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return fs_errno(e);
}
