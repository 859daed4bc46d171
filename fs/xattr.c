/*
 * xattr.c - extended attributes, one FS_MAP_XATTR key per name.
 *
 * Names are 1..255 bytes in the user., trusted. and security. namespaces,
 * values at most 64 KiB (the kernel's limit). A set
 * or remove also rewrites the inode (ctime), which makes two changes of one
 * inode's xattrs conflict instead of both seeing the same state. A name
 * not found on an inode that has attributes, and every full listing, is
 * checked against the map's tally (damage.c explains why), so that an
 * attribute the store lost is EIO rather than absent.
 *
 * The names under system.ghostfs. are not stored: they are the object's
 * OID, generation and checksum state, computed by inspect_xattr.c (which
 * says why that namespace), listed with every inode's, and refused to set
 * and remove (EOPNOTSUPP: inspect_xattr.c says why not EPERM).
 */
#include "fsint.h"

#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "iflags.h"
#include "inspect.h"

struct xa_ctx {
    uint64_t ino;
    const char *name;
    size_t nlen;
    const void *value;
    size_t size;
    int flags;
    bool remove;
};

/* The namespaces Linux defines. POSIX ACLs (system.posix_acl_*) are
 * refused: storing them without enforcing them would only pretend. */
static int check_xname(const char *name, size_t *len)
{
    *len = strlen(name);
    if (*len == 0)
        return -EINVAL;
    if (*len > FS_XATTR_NAME_MAX)
        return -ERANGE;
    if (strncmp(name, "user.", 5) && strncmp(name, "trusted.", 8) && strncmp(name, "security.", 9))
        return -EOPNOTSUPP;
    return 0;
}

static int xa_fn(struct ghost_txn *t, void *arg)
{
    struct xa_ctx *c = arg;
    struct rec r;
    int e = rec_get(t, c->ino, &r);
    e = e ? e : iflags_may_change_xattr(&r);
    if (e)
        return e;
    e = ghost_map_get(t, c->ino, FS_MAP_XATTR, c->name, c->nlen, NULL, NULL);
    if (e && e != -ENOENT)
        return e;
    bool exists = e == 0;
    if (c->remove) {
        if (!exists)
            return -ENODATA;
        e = ghost_map_del(t, c->ino, FS_MAP_XATTR, c->name, c->nlen);
    } else {
        if ((c->flags & XATTR_CREATE) && exists)
            return -EEXIST;
        if ((c->flags & XATTR_REPLACE) && !exists)
            return -ENODATA;
        e = ghost_map_put(t, c->ino, FS_MAP_XATTR, c->name, c->nlen, c->value, c->size);
    }
    if (e)
        return e;
    r.ctime = now_ns();
    return rec_put(t, c->ino, &r);
}

int fs_setxattr(struct fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
                int flags)
{
    struct xa_ctx c = {.ino = ino, .name = name, .value = value, .size = size, .flags = flags};
    if (inspect_xattr_name(name))
        return -EOPNOTSUPP;
    int e = check_xname(name, &c.nlen);
    if (e)
        return e;
    if (size > FS_XATTR_SIZE_MAX)
        return -E2BIG;
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
        return -EINVAL;
    e = fs_run(fs, xa_fn, &c);
    return e;
}

int fs_removexattr(struct fs *fs, uint64_t ino, const char *name)
{
    struct xa_ctx c = {.ino = ino, .name = name, .remove = true};
    if (inspect_xattr_name(name))
        return -EOPNOTSUPP;
    int e = check_xname(name, &c.nlen);
    if (e)
        return e;
    e = fs_run(fs, xa_fn, &c);
    return e;
}

/* An attribute was not found: -ENODATA, unless the inode has attributes
 * and they are not all there (its tally names one the store lost). */
static int xattr_absent(struct ghost_txn *t, uint64_t ino)
{
    struct ghost_tally tl;
    int e = ghost_map_tally(t, ino, FS_MAP_XATTR, &tl);
    if (e == -ENODATA || (!e && tl.count == 0))
        return -ENODATA;
    e = e ? e : ghost_map_check(t, ino, FS_MAP_XATTR, NULL);
    return e ? e : -ENODATA;
}

ssize_t xattr_get_in(struct ghost_txn *t, uint64_t ino, const char *name, size_t nlen, void *buf,
                     size_t size)
{
    struct rec r;
    const void *v;
    size_t vlen;
    int e = rec_get(t, ino, &r);
    if (!e) {
        e = ghost_map_get(t, ino, FS_MAP_XATTR, name, nlen, &v, &vlen);
        if (e == -ENOENT) /* the inode is there, the attribute is not */
            e = xattr_absent(t, ino);
    }
    if (e)
        return e;
    if (size && size < vlen)
        return -ERANGE;
    if (size)
        memcpy(buf, v, vlen);
    return (ssize_t)vlen;
}

ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
    size_t nlen;
    struct ghost_txn *t;
    if (inspect_xattr_name(name))
        return inspect_xattr_get(fs, ino, name, buf, size);
    int e = check_xname(name, &nlen);
    if (e)
        return e;
    e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    ssize_t ret = xattr_get_in(t, ino, name, nlen, buf, size);
    ghost_txn_abort(t);
    return fs_errno(ret);
}

struct list_ctx {
    char *buf;
    size_t size, used;
    uint64_t n; /* names listed */
};

static int list_visit(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
    struct list_ctx *c = arg;
    (void)v, (void)vl;
    if (c->size && c->used + klen + 1 <= c->size) {
        memcpy(c->buf + c->used, key, klen);
        c->buf[c->used + klen] = 0;
    }
    c->used += klen + 1;
    c->n++;
    return 0;
}

int xattr_list_in(struct ghost_txn *t, uint64_t ino, char *buf, size_t size, size_t *used)
{
    struct rec r;
    struct list_ctx c = {buf, size, 0, 0};
    int e = rec_get(t, ino, &r);
    e = e ? e : ghost_map_scan(t, ino, FS_MAP_XATTR, NULL, 0, list_visit, &c);
    if (e >= 0) { /* the whole list: is it all there is? Read again only if
                   * it is short of the tally's count */
        struct ghost_tally tl;
        e = ghost_map_tally(t, ino, FS_MAP_XATTR, &tl);
        if (!e && tl.count != c.n)
            e = ghost_map_check(t, ino, FS_MAP_XATTR, NULL);
        e = e == -ENODATA ? 0 : e;
    }
    *used = c.used;
    return e < 0 ? e : 0;
}

ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
    struct ghost_txn *t;
    size_t used = 0;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = xattr_list_in(t, ino, buf, size, &used);
    ghost_txn_abort(t);
    if (e < 0)
        return fs_errno(e);
    inspect_xattr_list(buf, size, &used);
    if (size && used > size)
        return -ERANGE;
    return (ssize_t)used;
}
