/*
 * flusher.h - the dirty list (inodes with buffered writes) and the thread
 * that commits what stays buffered for longer than the commit interval.
 */
#ifndef GHOSTFS_FLUSHER_H
#define GHOSTFS_FLUSHER_H

#include "fsint.h"

/* Put in on the dirty list (if it is not there) and count added bytes. */
void dirty_add(struct fs *fs, struct inode *in, size_t added);
/* Take in off the dirty list. */
void dirty_remove(struct fs *fs, struct inode *in);
int flusher_start(struct fs *fs);
void flusher_stop(struct fs *fs);
/* Commit every buffer dirty now; returns the first failure (the buffers
 * that failed stay dirty, and the flusher retries them). */
int flush_all(struct fs *fs);

#endif
