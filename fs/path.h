/*
 * path.h - an inode's path, found up its back references (FS_MAP_BACKREF):
 * what `ghostfs inspect` and `ghostfs diff` print for an OID.
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

#endif
