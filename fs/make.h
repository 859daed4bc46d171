/*
 * make.h - a new inode inside a running transaction: what rename's
 * whiteout shares with mknod, mkdir, symlink and create.
 */
#ifndef GHOSTFS_MAKE_H
#define GHOSTFS_MAKE_H

#include "fsint.h"

/* The record *r of a new inode of the given mode (type and permissions)
 * and rdev, owned by ctx's caller, to be named in directory `parent`
 * (record *pr): its number is allocated in t (*ino), a setgid parent
 * passes its group on, and a new directory adds a link to *pr (-EMLINK
 * past the limit). Writes nothing: the caller puts *r, the entry and *pr. */
int make_node(struct ghost_txn *t, const struct fs_ctx *ctx, uint64_t parent, struct rec *pr,
              uint32_t mode, uint64_t rdev, int64_t now, uint64_t *ino, struct rec *r);

#endif
