/*
 * path.h - an inode's path, found up its back references (FS_MAP_BACKREF):
 * what `ghostfs inspect` and `ghostfs diff` print for an OID, and what
 * the crawler's findings are named by (findings.c).
 */
#ifndef GHOSTFS_PATH_H
#define GHOSTFS_PATH_H

#include <stdint.h>

#include "fs.h"

/* One path from the root to oid, up the first back reference of each
 * inode, as transaction t sees the store: in *out (owned, "/" for the
 * root), or NULL when the walk does not reach the root within 256 steps
 * (an inode unlinked while open, or damage). 0 or -ENOMEM. */
int path_of(struct ghost_txn *t, uint64_t oid, char **out);

/* The same in a read of fs's store at its head, saying why there is no
 * path: 0 (*out owned by the caller), -ENOENT if no chain of back
 * references reaches the root (an unlinked or deleted inode), -EIO if one
 * on the way cannot be read (damaged), -ENOMEM. *out is NULL unless 0. */
int path_find(struct fs *fs, uint64_t oid, char **out);

#endif
