/*
 * itable.h - the in-memory inode table: the runtime state (struct inode,
 * in fsint.h) of each inode this process uses, with its lookup, open and
 * temporary reference counts.
 */
#ifndef GHOSTFS_ITABLE_H
#define GHOSTFS_ITABLE_H

#include "fsint.h"

/* An empty table in fs; 0 or -ENOMEM. */
int itable_init(struct fs *fs);
/* Free the table and every inode in it (with its buffers). Nothing may use
 * fs any more. */
void itable_free(struct fs *fs);
/* Find or add the runtime inode and take a temporary reference. */
struct inode *inode_get(struct fs *fs, uint64_t ino);
/* Drop a temporary reference; reclaim an unlinked inode nobody uses. */
void inode_put(struct fs *fs, struct inode *in);
/* The runtime inode of ino, or NULL; with fs->itab_lock held (the inode may
 * go once it is dropped, unless a reference is taken). */
struct inode *inode_find_locked(struct fs *fs, uint64_t ino);
/* The inode a node of fs.itable is embedded in (for walks of the table). */
struct inode *inode_of_node(struct hnode *n);
/* Count a kernel reference; remember the name it came by. */
void inode_looked_up(struct fs *fs, uint64_t ino, uint64_t parent, const char *name);

#endif
