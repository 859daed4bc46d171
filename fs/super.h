/*
 * super.h - the superblock (the FS_OBJ_SUPER object at FS_SUPER_OID): what
 * a store must hold to be a ghostfs filesystem, and the settings fixed at
 * mkfs. super.c owns its bytes.
 */
#ifndef GHOSTFS_SUPER_H
#define GHOSTFS_SUPER_H

#include "fs.h"

#define SUPER_VERSION 1 /* the only format there is */

struct super {
    uint32_t version;
    uint32_t block_size; /* of FS_MAP_DATA blocks */
    uint32_t inline_max; /* the longest data kept inline in a record */
};

/* Write the superblock of a new filesystem (SUPER_VERSION) in t. */
int super_put(struct ghost_txn *t, const struct super *sb);
/* Read the superblock in t. -EMEDIUMTYPE: the store holds none (not a
 * ghostfs filesystem); -EPROTONOSUPPORT: a version this code cannot read;
 * else what reading the object returned. */
int super_get(struct ghost_txn *t, struct super *sb);

#endif
