/*
 * file_io.h - what file_io.c offers beside fs.h's reads and writes.
 */
#ifndef GHOSTFS_FILE_IO_H
#define GHOSTFS_FILE_IO_H

#include "inode_rec.h"

/* Copy the stored bytes [off, off+len) of ino (its record r, as t reads
 * it) into dst: zeros for holes and past what is stored. For a read view
 * that does not move (a snapshot's): a block absent from a file that
 * stores one for every index its size covers is reported lost at once.
 * Nothing buffered in this process is merged. */
int file_read_settled(struct fs *fs, struct ghost_txn *t, uint64_t ino, const struct rec *r,
                      void *dst, uint64_t off, size_t len);

#endif
