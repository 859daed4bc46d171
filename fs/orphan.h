/*
 * orphan.h - inodes unlinked while in use: the orphan map, and deleting an
 * inode with everything it owns.
 */
#ifndef GHOSTFS_ORPHAN_H
#define GHOSTFS_ORPHAN_H

#include "fsint.h"

/* This process's owner string ("bootid pid"), recorded with its orphans. */
void orphan_owner(char *owner, size_t size);
/* Whether the process an owner string (len bytes) names still runs: on
 * this boot (me is this process's owner string) and alive. */
bool owner_alive(const char *owner, size_t len, const char *me);
/* Record ino in t as an orphan of this process. */
int orphan_put(struct ghost_txn *t, struct fs *fs, uint64_t ino);
/* Delete an unlinked inode and everything it owns, unless still in use. */
int inode_reclaim(struct fs *fs, uint64_t ino);
/* The same, for an inode nobody here holds any more: a big one is left to
 * the crawler (a deferred delete) while it runs, the others reclaimed now. */
int inode_release(struct fs *fs, uint64_t ino);
/* Delete the keys of ino's maps in t, at most max of them. Returns 1 when
 * none are left, 0 when more are, or a negative errno. With whole, deletes
 * nothing unless they all fit. */
int inode_delete_maps(struct ghost_txn *t, uint64_t ino, size_t max, bool whole);
/* The owner of a deferred delete: unlinked, used by nobody, left for the
 * crawler to delete (fs_reclaim_deferred). */
#define ORPHAN_DEFERRED "deferred"
/* Record ino in t as a deferred delete. */
int orphan_defer(struct ghost_txn *t, uint64_t ino);
/* Reclaim the orphans of this process (ours_only), or of processes that are
 * gone (at mount, after a crash); never the deferred deletes. */
int orphans_reclaim(struct fs *fs, bool ours_only);

#endif
