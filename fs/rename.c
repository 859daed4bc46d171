/*
 * rename.c - rename, with RENAME_NOREPLACE and RENAME_EXCHANGE.
 *
 * One ghost_run() transaction reads both directories, both names and the
 * inodes they lead to, refuses to move a directory under itself (a
 * directory's record names its parent, so the check walks up from the
 * target), then moves the entries and rewrites every record whose link
 * counts, parent or times change. A replaced inode whose last link went is
 * recorded as an orphan and reclaimed after the transaction (remove.c).
 * No locks of fs/ are held across it.
 */
#include "fsint.h"

#include <errno.h>
#include <linux/fs.h>
#include <string.h>

#include "dirent.h"
#include "orphan.h"
#include "remove.h"

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
            e = remove_link(t, c->p2, c->n2, c->l2, victim, &vr, now, &c->gone);
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
    e = ghost_run(fs->g, mv_fn, &c);
    if (e)
        return e == -GHOST_ECORRUPT ? -EIO : e;
    if (c.gone)
        remove_unlinked(fs, c.victim);
    return 0;
}
