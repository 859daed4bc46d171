/*
 * attr.h - an inode's attributes as this process sees them: the stored
 * record with what is still buffered here merged on it.
 */
#ifndef GHOSTFS_ATTR_H
#define GHOSTFS_ATTR_H

#include "fsint.h"

/* Add what is still buffered in this process (writes, and attributes set
 * on an open file) to attributes read from the store. mark is
 * commit_mark(fs) taken before the record was read: if a buffer of this
 * inode was committed since, the record is read again (under the inode's
 * lock, so that no commit falls between the record and the buffer merged
 * on it). */
void attr_merge_buffered(struct fs *fs, struct fs_attr *a, uint64_t mark);
#define commit_mark(fs) atomic_load(&(fs)->wb_commits)

#endif
