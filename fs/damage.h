/*
 * damage.h - what the filesystem concludes when the store lacks something
 * it should hold: a block of a file with no holes, the inode a directory
 * entry names, an entry its directory's tally counts (damage.c).
 */
#ifndef GHOSTFS_DAMAGE_H
#define GHOSTFS_DAMAGE_H

#include "fsint.h"

/* Whether a file's absent blocks are holes, decided once per read view. */
struct hole_check {
    int dense; /* -1 not yet known; 0 the file may have holes; 1 it has none */
    /* The read view is one that does not move (a snapshot's): what it
     * lacks is lost, without a look at a fresh view of the head. */
    bool settled;
};
#define HOLE_CHECK_INIT                                                                            \
    {                                                                                              \
        .dense = -1, .settled = false                                                              \
    }

/* A read in t did not find block `index` of ino (size bytes, as t sees
 * it): 0 if that is a hole, -GHOST_ECORRUPT (reported) if the file stores
 * a block for every index its size covers, so the store lost this one
 * (confirmed in one view of the store before it is reported). */
int block_absent(struct fs *fs, struct ghost_txn *t, struct hole_check *hc, uint64_t ino,
                 uint64_t size, uint64_t index);

/* An entry name -> child of parent was read, and child was not there. The
 * read may have raced with an unlink (the object cache can be newer than
 * the view the entry came from): look again, in one view.
 * -ENOENT if the entry is gone now, -EAGAIN if the child is there now (look
 * it up again), -GHOST_ECORRUPT (reported) if the entry is still there and
 * names an inode the store does not hold. */
int child_absent(struct fs *fs, uint64_t parent, const char *name, size_t len, uint64_t child);

/* A listing of dir reached its end in t, having handed out `seen`
 * entries since its start (seen < 0: not counted). If it counted as many
 * as the directory's tally, that is all; else compare the entries the
 * store holds with the tally (the directory may have changed during the
 * listing). 0, or -GHOST_ECORRUPT (reported) when it holds fewer entries,
 * or other versions of them, than it counts. */
int dir_check(struct fs *fs, struct ghost_txn *t, uint64_t dir, int64_t seen);

#endif
