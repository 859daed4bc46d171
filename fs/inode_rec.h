/*
 * inode_rec.h - the inode record (an FS_OBJ_INODE object), decoded. Its
 * byte layout is owned by inode_rec.c and described there and in
 * docs/format.md; nothing else reads or writes the bytes.
 */
#ifndef GHOSTFS_INODE_REC_H
#define GHOSTFS_INODE_REC_H

#include "fs.h"

/* Inode record flags. */
#define INODE_INLINE 0x1 /* data lives in the record, not in FS_MAP_DATA */
/* chattr's flags (iflags.c), bits that records written before them left 0. */
#define INODE_IMMUTABLE 0x10000 /* +i */
#define INODE_APPEND 0x20000    /* +a */

/* The inode record, decoded. inl points into the transaction (borrowed). */
struct rec {
    uint32_t mode, uid, gid, nlink;
    uint64_t size;
    int64_t atime, mtime, ctime, btime;
    uint64_t rdev;
    uint64_t parent; /* directories: the parent directory */
    uint64_t dv;     /* data version: bumped by every change of the data */
    uint64_t stored; /* bytes held in FS_MAP_DATA blocks (for st_blocks) */
    uint32_t flags;
    const unsigned char *inl;
    size_t inl_len;
};
#define REC_HDR 92

int rec_get(struct ghost_txn *t, uint64_t ino, struct rec *r);
/* rec_get in a read view of its own, for the attributes alone: r->inl is
 * NULL on return (the view is gone), r->inl_len says how long it was. */
int rec_peek(struct fs *fs, uint64_t ino, struct rec *r);
int rec_put(struct ghost_txn *t, uint64_t ino, const struct rec *r);
/* The attributes the kernel sees, from a record. */
void rec_attr(struct fs *fs, uint64_t ino, const struct rec *r, struct fs_attr *a);
/* The generation a file handle of ino carries (see inode_rec.c). */
uint32_t rec_handle_gen(uint64_t ino, const struct rec *r);
/* The time now, in the record's unit: signed nanoseconds since the epoch. */
int64_t now_ns(void);

#endif
