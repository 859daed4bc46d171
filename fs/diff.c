/*
 * diff.c - what changed in the tree between two generations of the store
 * (diff.h). The library names the OIDs whose object or maps differ
 * (ghost_changes, from its change index); each is read in both trees -
 * its inode record and one path up its back references - and classed:
 * reachable only in the later tree, added; only in the older, removed;
 * at another path, renamed, unless its old name is still one of its links
 * (a hard link was added before it); else modified. OIDs that are not
 * inodes (the superblock, the orphan list), and inodes reachable in
 * neither tree (created and removed in between, or unlinked while open),
 * are not told.
 *
 * The two trees are read in transactions begun again every VIEW_OIDS
 * inodes, so that a large diff holds no read view of the store for long;
 * a snapshot reads the same each time, and the live tree moves on, as it
 * does under any tool that walks it. What a slice found is handed to the
 * caller after its views have ended.
 */
#include "diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsint.h"
#include "inode_rec.h"
#include "path.h"
#include "vec.h"

#define VIEW_OIDS 1024

struct found {
    struct diff_entry e;
    char *path, *new_path; /* owned */
};

struct diff {
    struct fs *fs;
    const char *from, *to;
    struct ghost_txn *old, *new; /* NULL: not begun */
    unsigned used;               /* inodes read in them */
    VEC(struct found) slice;     /* found in these views, not handed over yet */
    diff_fn fn;
    void *arg;
};

static void end_views(struct diff *d)
{
    if (d->old)
        ghost_txn_abort(d->old);
    if (d->new)
        ghost_txn_abort(d->new);
    d->old = d->new = NULL;
}

static int begin_views(struct diff *d)
{
    int e = ghost_txn_begin_snapshot(d->fs->g, d->from, &d->old);
    if (e) {
        d->old = NULL;
        return e;
    }
    e = d->to ? ghost_txn_begin_snapshot(d->fs->g, d->to, &d->new)
              : ghost_txn_begin(d->fs->g, &d->new);
    if (e) {
        d->new = NULL;
        end_views(d);
    }
    d->used = 0;
    return e;
}

/* End the views, then hand what they found to the caller. */
static int hand_over(struct diff *d)
{
    end_views(d);
    int e = 0;
    for (size_t i = 0; i < d->slice.n; i++) {
        struct found *f = &d->slice.v[i];
        if (!e)
            e = d->fn(d->arg, &f->e);
        free(f->path);
        free(f->new_path);
    }
    vec_clear(&d->slice);
    return e;
}

/* The inode oid as t sees it: *path NULL if it is not an inode there or
 * not reachable from the root. */
static int read_side(struct ghost_txn *t, uint64_t oid, struct rec *r, char **path,
                     struct path_link *last)
{
    *path = NULL;
    int e = rec_get(t, oid, r);
    if (e == -ENOENT)
        return 0;
    return e ? e : path_of(t, oid, path, last);
}

/* Class oid into f (f->e.kind 0: nothing to tell). */
static int classify(struct diff *d, uint64_t oid, struct found *f)
{
    struct rec ro, rn;
    struct path_link lo;
    int e = read_side(d->old, oid, &ro, &f->path, &lo);
    e = e ? e : read_side(d->new, oid, &rn, &f->new_path, NULL);
    if (e)
        return e;
    char *po = f->path, *pn = f->new_path;
    struct diff_entry *de = &f->e;
    de->oid = oid;
    de->mode = (pn ? rn.mode : ro.mode) & S_IFMT;
    if (!po && !pn)
        return 0;
    if (!po) {
        de->kind = DIFF_ADDED;
        f->path = pn;
        f->new_path = NULL;
    } else if (!pn) {
        de->kind = DIFF_REMOVED;
    } else if (strcmp(po, pn)) {
        /* Still under its old first name: a link sorted before it. */
        e = oid == FS_ROOT_INO ? 0 : path_has_link(d->new, oid, &lo);
        if (e < 0)
            return e;
        de->kind = e ? DIFF_MODIFIED : DIFF_RENAMED;
    } else {
        de->kind = DIFF_MODIFIED;
    }
    if (de->kind != DIFF_RENAMED) {
        free(f->new_path);
        f->new_path = NULL;
    }
    return 0;
}

static int one(void *arg, uint64_t oid)
{
    struct diff *d = arg;
    if (oid != FS_ROOT_INO && oid < GHOST_OID_FIRST)
        return 0; /* the superblock and the other well-known objects */
    int e = d->used == VIEW_OIDS ? hand_over(d) : 0;
    e = e ? e : d->old ? 0 : begin_views(d);
    if (e)
        return e;
    d->used++;
    struct found f = {0};
    e = classify(d, oid, &f);
    if (e == -ENOMEM)
        return e;
    if (e) { /* told, and the diff goes on */
        free(f.path);
        free(f.new_path);
        f = (struct found){.e = {.kind = DIFF_UNREADABLE, .oid = oid, .error = (int)fs_errno(e)}};
    }
    if (!f.e.kind)
        return 0;
    f.e.path = f.path;
    f.e.new_path = f.new_path;
    if (vec_push(&d->slice, f)) {
        free(f.path);
        free(f.new_path);
        return -ENOMEM;
    }
    return 0;
}

int fs_diff(struct fs *fs, const char *from, const char *to, diff_fn fn, void *arg,
            bool *walked_all)
{
    struct diff d = {.fs = fs, .from = from, .to = to, .fn = fn, .arg = arg};
    int e = (int)fs_errno(ghost_changes(fs->g, from, to, one, &d, walked_all));
    if (e) {
        d.fn = NULL;
        end_views(&d);
        for (size_t i = 0; i < d.slice.n; i++) {
            free(d.slice.v[i].path);
            free(d.slice.v[i].new_path);
        }
    } else {
        e = hand_over(&d);
    }
    vec_free(&d.slice);
    return e;
}
