/*
 * file_space.h - the space a file's data takes: truncate, holes, seeking.
 */
#ifndef GHOSTFS_FILE_SPACE_H
#define GHOSTFS_FILE_SPACE_H

#include "fsint.h"

/* Set the size of ino (record r, read in t) to size, cutting stored data
 * past it; the caller puts r. */
int truncate_txn(struct fs *fs, struct ghost_txn *t, uint64_t ino, struct rec *r, uint64_t size);

#endif
