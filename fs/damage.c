/*
 * damage.c - telling what the store lost from what was never there.
 *
 * A damaged page can make a record vanish without a trace: no checksum
 * fails, a read just does not find the key. Left alone, a lost block reads
 * as a hole of zeros, a lost entry as a smaller directory, a lost inode as
 * a name that does not exist. The store keeps, for every map, a tally of
 * how many keys it holds and which versions (ghost_map_tally); this file
 * turns it into answers: a file that stores a block for every index its
 * size covers has no holes, so a block missing from it is lost; a listing
 * that finds other entries than its directory's tally names is damaged;
 * an entry whose inode is missing, in a view where the entry is still
 * there, names a lost inode. Each is reported (logged, naming the inode)
 * and answered with -GHOST_ECORRUPT, which fs_errno makes EIO.
 *
 * What a read cannot tell: a block lost from a file that has holes (the
 * tally's count is below what the size covers either way). The tally's
 * digest still tells, to a check that reads the whole map
 * (ghost_map_check), as the crawler's does.
 */
#include "damage.h"

#include <errno.h>

#include "block.h"
#include "dirent.h"

/* Does the store, in one consistent view, hold ino as a block file that
 * stores a block for every index its size covers, without block index?
 * (The reader's own transaction may have taken the inode from the cache
 * and the blocks from a view of another generation, when a commit came
 * between: a file grown by a flusher meanwhile would look dense.) */
static int confirm_lost_block(struct fs *fs, uint64_t ino, uint64_t index, uint64_t *size)
{
    struct ghost_txn *t;
    struct rec r;
    struct ghost_tally tl;
    unsigned char k[BLOCK_KEY_LEN];
    int e = ghost_txn_begin_view(fs->g, &t);
    if (e)
        return e;
    block_key(k, index);
    e = rec_get(t, ino, &r);
    if (e || !S_ISREG(r.mode) || (r.flags & INODE_INLINE))
        goto out; /* gone, or no longer a block file: not this read's business */
    e = ghost_map_get(t, ino, FS_MAP_DATA, k, BLOCK_KEY_LEN, NULL, NULL);
    if (e != -ENOENT)
        goto out; /* there now (the read raced with its writing), or an error */
    e = ghost_map_tally(t, ino, FS_MAP_DATA, &tl);
    if (e)
        goto out;
    uint64_t covered = r.size / fs->bs + (r.size % fs->bs != 0);
    *size = r.size;
    e = tl.count >= covered && index < covered;
out:
    ghost_txn_abort(t);
    return e == -ENODATA || e == -ENOENT ? 0 : e;
}

int block_absent(struct fs *fs, struct ghost_txn *t, struct hole_check *hc, uint64_t ino,
                 uint64_t size, uint64_t index)
{
    uint64_t covered = size / fs->bs + (size % fs->bs != 0);
    struct ghost_tally tl = {0, 0};
    if (hc->dense < 0) {
        int e = ghost_map_tally(t, ino, FS_MAP_DATA, &tl);
        if (e == -ENODATA) /* a store read without tallies: cannot tell */
            e = 0, tl.count = 0;
        if (e)
            return e;
        hc->dense = tl.count >= covered;
    }
    if (!hc->dense || index >= covered)
        return 0;
    int e = hc->settled ? 1 : confirm_lost_block(fs, ino, index, &size);
    if (e <= 0)
        return e;
    return ghost_report_damage(fs->g,
                               "inode %llu: block %llu is missing; the file stores as many "
                               "blocks as its %llu bytes cover, so it has no holes",
                               (unsigned long long)ino, (unsigned long long)index,
                               (unsigned long long)size);
}

int child_absent(struct fs *fs, uint64_t parent, const char *name, size_t len, uint64_t child)
{
    struct ghost_txn *t;
    struct rec r;
    uint64_t now;
    int e = ghost_txn_begin_view(fs->g, &t); /* entry and inode as one state */
    if (e)
        return e;
    e = dirent_get(t, parent, name, len, &now, NULL);
    if (!e && now != child)
        e = -EAGAIN; /* renamed over meanwhile */
    if (!e) {
        e = rec_get(t, child, &r);
        if (e == 0)
            e = -EAGAIN;
        else if (e == -ENOENT)
            e = ghost_report_damage(fs->g,
                                    "directory %llu: entry \"%.*s\" names inode %llu, which the "
                                    "store does not hold",
                                    (unsigned long long)parent, (int)len, name,
                                    (unsigned long long)child);
    }
    ghost_txn_abort(t);
    return e;
}

int dir_check(struct fs *fs, struct ghost_txn *t, uint64_t dir, int64_t seen)
{
    (void)fs;
    struct ghost_tally tl;
    int e = seen < 0 ? 0 : ghost_map_tally(t, dir, FS_MAP_DIRENT, &tl);
    if (!e && seen >= 0 && tl.count == (uint64_t)seen)
        return 0;
    e = e ? e : ghost_map_check(t, dir, FS_MAP_DIRENT, NULL);
    return e == -ENODATA ? 0 : e;
}
