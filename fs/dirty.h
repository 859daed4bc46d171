/*
 * dirty.h - the dirty list: the inodes with buffered writes.
 */
#ifndef GHOSTFS_DIRTY_H
#define GHOSTFS_DIRTY_H

#include "fsint.h"

/* Put in on the dirty list (if it is not there) and count added bytes. */
void dirty_add(struct fs *fs, struct inode *in, size_t added);
/* Take in off the dirty list. */
void dirty_remove(struct fs *fs, struct inode *in);

#endif
