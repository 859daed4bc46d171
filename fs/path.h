/*
 * path.h - an inode's path, found up its back references (FS_MAP_BACKREF):
 * what `ghostfs inspect` and `ghostfs diff` print for an OID, and what
 * the crawler's findings are named by (findings.c).
 */
#ifndef GHOSTFS_PATH_H
#define GHOSTFS_PATH_H

#include <stdint.h>

#include "fs.h"

/* The link a path ends in: the directory and the name in it. */
struct path_link {
    uint64_t parent;
    char name[FS_NAME_MAX + 1];
};

/* One path from the root to oid, up the first back reference of each
 * inode, as transaction t sees the store: in *out (owned, "/" for the
 * root), or NULL when some inode on the way has no back reference (an
 * inode unlinked while open). last (may be NULL) gets oid's own first
 * link (parent 0 for the root or an unreachable inode). 0, -ENOMEM,
 * -ELOOP (deeper than any path can be: a loop, which only damage makes),
 * or the error a read met (a damaged record). */
int path_of(struct ghost_txn *t, uint64_t oid, char **out, struct path_link *last);

/* path_of in a read of fs's store at its head, saying why there is no
 * path: 0 (*out owned by the caller), -ENOENT if no chain of back
 * references reaches the root (an unlinked or deleted inode), -EIO if one
 * on the way cannot be read (damaged), -ENOMEM. *out is NULL unless 0. */
int path_find(struct fs *fs, uint64_t oid, char **out);

/* Whether inode oid has the link (parent, name) in t: 1 yes, 0 no, or a
 * negative errno. */
int path_has_link(struct ghost_txn *t, uint64_t oid, const struct path_link *l);

#endif
