/*
 * lookup.c - resolving names: lookup (which counts a kernel reference) and
 * readlink.
 *
 * The kernel never asks for "." or ".." while it walks a path; it asks for
 * them to turn a file handle back into an inode it no longer holds
 * (open_by_handle_at, NFS export): "." of any inode still linked somewhere,
 * ".." of a directory. An inode whose last link went is ESTALE to a handle
 * (the kernel makes ENOENT that), as on other filesystems.
 *
 * Each reads in one short read view and, for lookup, adds what is still
 * buffered here after the view has ended (that needs the inode's lock,
 * which must not be waited for while a view is open).
 */
#include "fsint.h"

#include <errno.h>
#include <string.h>

#include "attr.h"
#include "damage.h"
#include "dirent.h"
#include "itable.h"

int fs_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out)
{
    struct ghost_txn *t;
    struct rec pr, r;
    uint64_t child = 0;
    size_t len;
    int tries = 0;
    int e = check_name(name, &len);
    if (e)
        return e;
    bool dot = !strcmp(name, "."), dotdot = !strcmp(name, "..");
again:
    child = 0;
    uint64_t mark = commit_mark(fs);
    e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = rec_get(t, parent, &pr);
    /* "." of any inode (the kernel resolving a handle), unless its last
     * link went: then the handle is stale. */
    if (!e && (dot || dotdot) && pr.nlink == 0)
        e = -ENOENT;
    else if (!e && dot)
        child = parent;
    else if (!e && !S_ISDIR(pr.mode))
        e = -ENOTDIR;
    else if (!e && dotdot)
        child = pr.parent ? pr.parent : FS_ROOT_INO;
    else if (!e)
        e = dirent_get(t, parent, name, len, &child, NULL);
    if (!e)
        e = rec_get(t, child, &r);
    if (!e)
        rec_attr(fs, child, &r, out);
    ghost_txn_abort(t);
    if (e == -ENOENT && child && !dot && !dotdot) {
        /* The entry was there and its inode was not: a race, or damage. */
        e = child_absent(fs, parent, name, len, child);
        if (e == -EAGAIN && tries++ < 3)
            goto again;
    }
    if (e)
        return fs_errno(e);
    /* "." and ".." are no name to invalidate the child by. */
    inode_looked_up(fs, child, parent, dot || dotdot ? NULL : name);
    attr_merge_buffered(fs, out, mark); /* add writes still buffered here */
    return 0;
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
