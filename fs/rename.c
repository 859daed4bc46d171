/*
 * rename.c - rename, with RENAME_NOREPLACE, RENAME_EXCHANGE and
 * RENAME_WHITEOUT.
 *
 * One ghost_run() transaction reads both directories, both names and the
 * inodes they lead to, refuses to move a directory under itself (a
 * directory's record names its parent, so the check walks up from the
 * target), then moves the entries and rewrites every record whose link
 * counts, parent or times change. A replaced inode whose last link went is
 * recorded as an orphan and reclaimed after the transaction (remove.c).
 * No locks of fs/ are held across it.
 *
 * RENAME_WHITEOUT (overlayfs's way to hide a lower file when its upper
 * copy moves or goes) leaves a whiteout at the old name: a new character
 * device 0:0 with no permission bits, owned by the caller. It is made in
 * the same transaction as the move, so a crash leaves either the old name
 * or both the new name and the whiteout, never a name without its
 * whiteout. A whiteout is only ever made, never opened, so a nodev mount
 * makes them as well.
 */
#include "fsint.h"

#include <errno.h>
#include <linux/fs.h>
#include <string.h>

#include "dirent.h"
#include "iflags.h"
#include "make.h"
#include "orphan.h"
#include "remove.h"

/* What Linux makes a whiteout of (the kernel's WHITEOUT_MODE and
 * WHITEOUT_DEV, which no user header exports). */
#define WHITEOUT_MODE (S_IFCHR | 0)
#define WHITEOUT_DEV 0

struct mv_ctx {
    struct fs *fs;
    const struct fs_ctx *ctx; /* the caller: a whiteout's owner */
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

/* What one run of mv_fn read and is changing. */
struct mv_state {
    struct rec p1, p2buf, *p2; /* the directories; p2 is &p1 when they are one */
    struct rec cr, vr;         /* the inode moved; the one replaced or exchanged */
    uint64_t child, victim;
    bool same, have_victim;
    int64_t now;
};

/* Read both directories, the inode the old name leads to and whatever the
 * new name leads to. */
static int mv_read(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    s->same = c->p1 == c->p2;
    s->p2 = &s->p2buf;
    int e = dir_get(t, c->p1, &s->p1);
    if (e)
        return e;
    if (s->same)
        s->p2 = &s->p1;
    else if ((e = dir_get(t, c->p2, s->p2)))
        return e;
    e = dirent_get(t, c->p1, c->n1, c->l1, &s->child, NULL);
    e = e ? e : rec_get(t, s->child, &s->cr);
    if (e)
        return e;
    e = dirent_get(t, c->p2, c->n2, c->l2, &s->victim, NULL);
    if (e && e != -ENOENT)
        return e;
    s->have_victim = e == 0;
    return 0;
}

/* Whether the rename may go ahead: 0, 1 when there is nothing to do, or a
 * negative errno. Reads the victim's record. */
static int mv_check(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    int e;
    if ((c->flags & RENAME_NOREPLACE) && s->have_victim)
        return -EEXIST;
    if ((c->flags & RENAME_EXCHANGE) && !s->have_victim)
        return -ENOENT;
    if (s->have_victim && s->victim == s->child)
        return 1; /* two names of one inode: nothing to do */
    if (s->have_victim && (e = rec_get(t, s->victim, &s->vr)))
        return e;
    e = iflags_may_rename(&s->p1, &s->cr, s->p2, s->have_victim ? &s->vr : NULL,
                          c->flags & RENAME_EXCHANGE);
    if (e)
        return e;
    /* A directory cannot move under itself. */
    if (S_ISDIR(s->cr.mode) && !s->same) {
        e = is_ancestor(t, s->child, c->p2);
        if (e)
            return e < 0 ? e : -EINVAL;
    }
    if ((c->flags & RENAME_EXCHANGE) && S_ISDIR(s->vr.mode) && !s->same) {
        e = is_ancestor(t, s->victim, c->p1);
        if (e)
            return e < 0 ? e : -EINVAL;
    }
    return 0;
}

/* RENAME_EXCHANGE: swap the two entries (and directories' parents). */
static int mv_exchange(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    int e = dirent_del(t, c->p1, c->n1, c->l1, s->child);
    e = e ? e : dirent_del(t, c->p2, c->n2, c->l2, s->victim);
    e = e ? e : dirent_put(t, c->p2, c->n2, c->l2, s->child, s->cr.mode);
    e = e ? e : dirent_put(t, c->p1, c->n1, c->l1, s->victim, s->vr.mode);
    if (e)
        return e;
    if (!s->same) {
        if (S_ISDIR(s->cr.mode)) {
            s->cr.parent = c->p2;
            s->p1.nlink--;
            s->p2->nlink++;
        }
        if (S_ISDIR(s->vr.mode)) {
            s->vr.parent = c->p1;
            s->p2->nlink--;
            s->p1.nlink++;
        }
    }
    s->vr.ctime = s->now;
    return rec_put(t, s->victim, &s->vr);
}

/* The new name leads to another inode: drop that link (an empty directory
 * of the same kind only); an inode whose last link went becomes an orphan. */
static int mv_replace(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    int e;
    if (S_ISDIR(s->cr.mode) && !S_ISDIR(s->vr.mode))
        return -ENOTDIR;
    if (!S_ISDIR(s->cr.mode) && S_ISDIR(s->vr.mode))
        return -EISDIR;
    if (S_ISDIR(s->vr.mode)) {
        e = dir_empty(t, s->victim);
        if (e < 0)
            return e;
        if (!e)
            return -ENOTEMPTY;
        s->p2->nlink--;
    }
    e = remove_link(t, c->p2, c->n2, c->l2, s->victim, &s->vr, s->now, &c->gone);
    if (!e && c->gone)
        e = orphan_put(t, c->fs, s->victim);
    if (e)
        return e;
    c->victim = s->victim;
    return 0;
}

/* Move the entry from the old name to the new one. */
static int mv_move(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    int e = s->have_victim ? mv_replace(t, c, s) : 0;
    e = e ? e : dirent_del(t, c->p1, c->n1, c->l1, s->child);
    e = e ? e : dirent_put(t, c->p2, c->n2, c->l2, s->child, s->cr.mode);
    if (e)
        return e;
    if (S_ISDIR(s->cr.mode) && !s->same) {
        s->cr.parent = c->p2;
        s->p1.nlink--;
        s->p2->nlink++;
    }
    return 0;
}

/* RENAME_WHITEOUT: a whiteout takes the old name, which the move freed. */
static int mv_whiteout(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    uint64_t ino;
    struct rec r;
    int e = make_node(t, c->ctx, c->p1, &s->p1, WHITEOUT_MODE, WHITEOUT_DEV, s->now, &ino, &r);
    e = e ? e : rec_put(t, ino, &r);
    return e ? e : dirent_put(t, c->p1, c->n1, c->l1, ino, r.mode);
}

/* Put the moved inode and the directories, with their new times. */
static int mv_write(struct ghost_txn *t, struct mv_ctx *c, struct mv_state *s)
{
    s->cr.ctime = s->now;
    s->p1.mtime = s->p1.ctime = s->now;
    s->p2->mtime = s->p2->ctime = s->now;
    int e = rec_put(t, s->child, &s->cr);
    e = e ? e : rec_put(t, c->p1, &s->p1);
    if (!e && !s->same)
        e = rec_put(t, c->p2, s->p2);
    return e;
}

static int mv_fn(struct ghost_txn *t, void *arg)
{
    struct mv_ctx *c = arg;
    struct mv_state s = {.now = now_ns()};
    c->gone = false;
    c->victim = 0;
    int e = mv_read(t, c, &s);
    e = e ? e : mv_check(t, c, &s);
    if (e)
        return e < 0 ? e : 0;
    e = (c->flags & RENAME_EXCHANGE) ? mv_exchange(t, c, &s) : mv_move(t, c, &s);
    if (!e && (c->flags & RENAME_WHITEOUT))
        e = mv_whiteout(t, c, &s);
    return e ? e : mv_write(t, c, &s);
}

int fs_rename(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, unsigned flags)
{
    struct mv_ctx c = {.fs = fs,
                       .ctx = ctx,
                       .p1 = parent,
                       .p2 = newparent,
                       .n1 = name,
                       .n2 = newname,
                       .flags = flags};
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
        return -EINVAL;
    /* An exchange leaves no name free: nothing to keep from being
     * replaced, nowhere for a whiteout (renameat2(2)). */
    if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
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
        remove_unlinked(fs, c.victim);
    return 0;
}
