/*
 * readdir.c - directory listings, with and without attributes (readdirplus).
 *
 * Offsets are the name hashes of dirent.c's keys: a listing resumes after
 * the last hash it handed out, so entries added or removed meanwhile never
 * make another be skipped or repeated. No locks are held across a read view;
 * the inode locks that merging buffered writes needs are taken after it.
 */
#include "fsint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "damage.h"
#include "dirent.h"
#include "itable.h"

/* readdir works in rounds: collect up to ROUND entries in one short read
 * view, end it, then hand them out (adding writes still buffered here, which
 * needs inode locks that must not be waited for while a view is open). */
#define ROUND 128

struct rd_entry {
    char name[FS_NAME_MAX + 1];
    struct fs_attr a;
    uint64_t off;
    bool absent; /* its inode was not there (readdirplus) */
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
    struct rd_entry *x = &c->e[c->n];
    uint64_t child;
    uint32_t mode;
    if (dirent_decode(key, klen, val, vlen, x->name, &x->off, &child, &mode))
        return 0;
    x->absent = false;
    memset(&x->a, 0, sizeof x->a);
    x->a.ino = child;
    x->a.mode = mode;
    if (c->plus) {
        struct rec r;
        int e = rec_get(c->t, x->a.ino, &r);
        x->absent = e == -ENOENT; /* raced with a delete, or damage: see after the view */
        if (x->absent)
            return ++c->n == ROUND;
        if (e) {
            c->err = e;
            return 1;
        }
        rec_attr(c->fs, x->a.ino, &r, &x->a);
    }
    return ++c->n == ROUND;
}

/* How many entries a listing will have handed out since its start if it
 * hands out all n of this last round; -1 if it is not counted. */
static int64_t listed(const struct fs_listing *l, size_t n)
{
    return l && l->counting ? (int64_t)(l->seen + n) : -1;
}

/* A readdirplus entry whose inode its view did not find: gone now
 * (-ENOENT), damage (-GHOST_ECORRUPT), or there now, with its attributes. */
static int entry_absent(struct fs *fs, uint64_t dir, struct rd_entry *x)
{
    int e = child_absent(fs, dir, x->name, strlen(x->name), x->a.ino);
    if (e != -EAGAIN)
        return e;
    struct rec r;
    e = rec_peek(fs, x->a.ino, &r);
    if (!e)
        rec_attr(fs, x->a.ino, &r, &x->a);
    x->absent = false;
    return e;
}

int fs_readdir(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn, void *arg)
{
    return fs_readdir_at(fs, ino, off, plus, fn, arg, NULL);
}

int fs_readdir_at(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn, void *arg,
                  struct fs_listing *l)
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
    bool from_start = off < 2, handed = false; /* (entries, in this call) */
    if (l) { /* a listing read in order from its start is counted */
        if (off == 0)
            *l = (struct fs_listing){.next_off = 0, .seen = 0, .counting = true};
        else if (off != l->next_off)
            l->counting = false; /* a seek */
    }
    if (off < 1) {
        rec_attr(fs, ino, &r, &a);
        if (fn(arg, ".", &a, 1)) { /* no lookup count for "." and ".." */
            ghost_txn_abort(t);
            return 0;
        }
        off = 1;
        if (l)
            l->next_off = off;
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
        if (l)
            l->next_off = off;
    }
    ghost_txn_abort(t);

    struct rd_ctx c = {.fs = fs, .plus = plus, .e = malloc(ROUND * sizeof *c.e)};
    if (!c.e)
        return -ENOMEM;
    for (;;) {
        unsigned char start[8];
        size_t slen = dirent_resume_key(start, off);
        c.n = 0;
        uint64_t mark = commit_mark(fs);
        e = ghost_txn_begin(fs->g, &c.t);
        if (e)
            break;
        e = ghost_map_scan(c.t, ino, FS_MAP_DIRENT, start, slen, rd_visit, &c);
        if (e > 0)
            e = 0;
        e = e ? e : c.err;
        /* The end of the listing, in this view: does the directory hold
         * what its tally counts? Once per listing (not again for the call
         * that only finds the end). */
        if (!e && c.n < ROUND && (c.n || from_start || handed))
            e = dir_check(fs, c.t, ino, listed(l, c.n));
        ghost_txn_abort(c.t);
        if (e)
            break;
        bool full = false;
        for (size_t i = 0; i < c.n && !full; i++) {
            if (fs_ctl_shadows(fs, ino, c.e[i].name)) { /* (counted as listed, not shown) */
                off = c.e[i].off;
                if (l) {
                    l->seen++;
                    l->next_off = off;
                }
                continue;
            }
            if (c.e[i].absent) {
                e = entry_absent(fs, ino, &c.e[i]);
                if (e == -ENOENT) {   /* unlinked meanwhile: not listed */
                    off = c.e[i].off; /* (the kernel resumes after what it has) */
                    e = 0;
                    continue;
                }
                if (e)
                    break;
            }
            if (plus)
                attr_merge_buffered(fs, &c.e[i].a, mark);
            full = fn(arg, c.e[i].name, &c.e[i].a, c.e[i].off) != 0;
            if (!full) {
                if (plus)
                    inode_looked_up(fs, c.e[i].a.ino, ino, c.e[i].name);
                off = c.e[i].off;
                handed = true;
                if (l) {
                    l->seen++;
                    l->next_off = off;
                }
            }
        }
        if (e || full || c.n < ROUND)
            break;
    }
    free(c.e);
    return fs_errno(e);
}
