/*
 * flusher.h - the thread that commits what stays buffered for longer than
 * the commit interval, and committing everything that is buffered.
 */
#ifndef GHOSTFS_FLUSHER_H
#define GHOSTFS_FLUSHER_H

#include "fsint.h"

int flusher_start(struct fs *fs);
void flusher_stop(struct fs *fs);
/* Commit every buffer dirty now; returns the first failure (the buffers
 * that failed stay dirty, and the flusher retries them). */
int flush_all(struct fs *fs);

#endif
