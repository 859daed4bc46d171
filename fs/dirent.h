/*
 * dirent.h - directory entries and back references (their bytes are owned
 * by dirent.c), and the checks every change of a directory makes.
 */
#ifndef GHOSTFS_DIRENT_H
#define GHOSTFS_DIRENT_H

#include "inode_rec.h"

#define DKEY_MAX (8 + FS_NAME_MAX) /* the longest entry or back-reference key */

/* The hash a name's entry is keyed (and readdir's offset is) by: at least
 * 3, as 0, 1 and 2 are the start, "." and "..". */
uint64_t name_hash(const char *name, size_t len);
/* A name a directory may hold: sets *len, or -ENAMETOOLONG / -EINVAL. */
int check_name(const char *name, size_t *len);
/* Look name up in dir: *child and (if dtype) *dtype, or -ENOENT. */
int dirent_get(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t *child,
               uint8_t *dtype);
/* Add the entry name -> child (of type mode) to dir, and its back
 * reference to child. */
int dirent_put(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child,
               uint32_t mode);
/* Remove the entry and its back reference. */
int dirent_del(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child);
/* The key from which a scan of FS_MAP_DIRENT lists the entries after
 * readdir offset off; returns its length. */
size_t dirent_resume_key(unsigned char k[8], uint64_t off);
/* Decode one entry that a scan of FS_MAP_DIRENT met: its name (NUL-ended,
 * name holds FS_NAME_MAX + 1 bytes), its offset, the child and its type
 * bits. -1 for a key or value that is not an entry's (skip it). */
int dirent_decode(const void *key, size_t klen, const void *val, size_t vlen, char *name,
                  uint64_t *off, uint64_t *child, uint32_t *mode);
/* Decode one back reference that a scan of FS_MAP_BACKREF met: the
 * directory that names the inode and the name (NUL-ended, name holds
 * FS_NAME_MAX + 1 bytes). -1 for a key that is not a back reference's. */
int backref_decode(const void *key, size_t klen, uint64_t *parent, char *name);
/* Whether inode child has the back reference (dir, name): 0, -ENOENT, or
 * the error the read met. */
int backref_get(struct ghost_txn *t, uint64_t child, uint64_t dir, const char *name, size_t len);
/* Read a directory for a change: it must exist and be a directory that has
 * not been removed. */
int dir_get(struct ghost_txn *t, uint64_t dir, struct rec *r);
/* 1 if dir has no entries, 0 if it has, or a negative errno. */
int dir_empty(struct ghost_txn *t, uint64_t dir);

#endif
