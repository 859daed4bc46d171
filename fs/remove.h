/*
 * remove.h - dropping links; what rename shares with unlink and rmdir.
 */
#ifndef GHOSTFS_REMOVE_H
#define GHOSTFS_REMOVE_H

#include "fsint.h"

/* Drop one link of child (named name in dir, record *cr), in transaction t:
 * the entry, its back reference and a link count. Sets *gone when its last
 * link went (the caller records it as an orphan or deletes it). */
int remove_link(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child,
                struct rec *cr, int64_t now, bool *gone);
/* After the last link of ino went (and the transaction committed): delete
 * it now if nobody here holds it, else when the last holder lets go. */
void remove_unlinked(struct fs *fs, uint64_t ino);

#endif
