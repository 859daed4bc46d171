/*
 * diff.c - what changed in the tree between two generations of the store
 * (diff.h). The library names the OIDs whose object or maps differ
 * (ghost_changes, from its change index); each is read in both trees -
 * its inode record and one path up its back references - and classed:
 * reachable only in the later tree, added; only in the older, removed;
 * at another path, renamed; else modified. OIDs that are not inodes (the
 * superblock, the orphan list) and changes nobody can see (an inode
 * created and unlinked in between, a record rewritten as it was) are not
 * told.
 *
 * The two trees are read in transactions that are begun again every
 * VIEW_OIDS inodes, so that a large diff does not hold one read view of
 * the store for its whole length; a snapshot reads the same each time,
 * and the live tree moves on, as it does under any tool that walks it.
 */
#include "diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsint.h"
#include "inode_rec.h"
#include "path.h"

#define VIEW_OIDS 4096

struct diff {
    struct fs *fs;
    const char *from, *to;
    struct ghost_txn *old, *new; /* NULL: not begun */
    unsigned used;               /* OIDs read in them */
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
    if (e)
        d->new = NULL;
    d->used = 0;
    return e;
}

/* The inode oid as t sees it: *path NULL if it is not an inode there or
 * not reachable from the root. */
static int read_side(struct ghost_txn *t, uint64_t oid, struct rec *r, char **path)
{
    *path = NULL;
    int e = rec_get(t, oid, r);
    if (e == -ENOENT)
        return 0;
    if (e)
        return e;
    return path_of(t, oid, path);
}

static int one(void *arg, uint64_t oid)
{
    struct diff *d = arg;
    if (oid != FS_ROOT_INO && oid < GHOST_OID_FIRST)
        return 0; /* the superblock and the other well-known objects */
    if (d->used == VIEW_OIDS)
        end_views(d);
    int e = d->old ? 0 : begin_views(d);
    if (e)
        return e;
    d->used++;
    struct rec ro, rn;
    char *po = NULL, *pn = NULL;
    e = read_side(d->old, oid, &ro, &po);
    e = e ? e : read_side(d->new, oid, &rn, &pn);
    if (e == 0 && (po || pn)) {
        struct diff_entry de = {.oid = oid, .path = po ? po : pn, .mode = pn ? rn.mode : ro.mode};
        if (!po)
            de.kind = DIFF_ADDED;
        else if (!pn)
            de.kind = DIFF_REMOVED;
        else if (strcmp(po, pn)) {
            de.kind = DIFF_RENAMED;
            de.new_path = pn;
        } else {
            de.kind = DIFF_MODIFIED;
        }
        de.mode &= S_IFMT;
        e = d->fn(d->arg, &de);
    }
    free(po);
    free(pn);
    return e;
}

int fs_diff(struct fs *fs, const char *from, const char *to, diff_fn fn, void *arg,
            bool *walked_all)
{
    struct diff d = {.fs = fs, .from = from, .to = to, .fn = fn, .arg = arg};
    int e = ghost_changes(fs->g, from, to, one, &d, walked_all);
    end_views(&d);
    return e;
}
