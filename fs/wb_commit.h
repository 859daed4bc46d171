/*
 * wb_commit.h - committing write buffers: close is a transaction.
 */
#ifndef GHOSTFS_WB_COMMIT_H
#define GHOSTFS_WB_COMMIT_H

#include "fsint.h"

/* Commit in->wb_old, then in->wb. With in->rw held exclusively; while the
 * flusher is committing wb_old it waits for it with in->rw dropped. On
 * failure a buffer is kept (nothing written is dropped). */
int wb_commit(struct fs *fs, struct inode *in);
/* wb_commit of ino, taking and dropping its rw lock. */
int wb_commit_ino(struct fs *fs, uint64_t ino);
/* in->wb has reached its share: hand it to the flusher (as in->wb_old) if
 * the previous one is committed, else wait for that one and commit both.
 * With in->rw held exclusively. */
int wb_hand_off(struct fs *fs, struct inode *in);
/* The flusher's half of a hand-off: commit ino's wb_old while writers go
 * on filling wb. */
void wb_commit_old(struct fs *fs, uint64_t ino);

#endif
