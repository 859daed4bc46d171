/*
 * super.c - the superblock's bytes: the one place that encodes and decodes
 * them (docs/format.md has the same layout).
 *
 * The superblock is the FS_OBJ_SUPER object at FS_SUPER_OID, written once
 * by mkfs and read at every open; all integers big-endian:
 *   version:4 (SUPER_VERSION) block_size:4 inline_max:4
 * No locks: it is read and written inside the caller's transaction.
 */
#include "super.h"

#include <errno.h>

#include "be.h"

#define SUPER_LEN 12

int super_put(struct ghost_txn *t, const struct super *sb)
{
    unsigned char b[SUPER_LEN];
    put_be32(b, sb->version);
    put_be32(b + 4, sb->block_size);
    put_be32(b + 8, sb->inline_max);
    return ghost_obj_put(t, FS_SUPER_OID, FS_OBJ_SUPER, b, sizeof b);
}

int super_get(struct ghost_txn *t, struct super *sb)
{
    uint8_t type;
    const void *d;
    size_t len;
    int e = ghost_obj_get(t, FS_SUPER_OID, &type, &d, &len);
    if (e == -ENOENT || (!e && (type != FS_OBJ_SUPER || len < SUPER_LEN)))
        return -EMEDIUMTYPE;
    if (e)
        return e;
    const unsigned char *p = d;
    sb->version = get_be32(p);
    sb->block_size = get_be32(p + 4);
    sb->inline_max = get_be32(p + 8);
    return sb->version == SUPER_VERSION ? 0 : -EPROTONOSUPPORT;
}
