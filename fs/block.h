/*
 * block.h - the key of a data block (FS_MAP_DATA on a file): the block's
 * index, 8 bytes big-endian, so that a scan meets blocks in file order. The
 * one place that encodes and decodes it; the value is the block's bytes
 * (at most the block size; shorter: zeros follow; absent: a hole).
 */
#ifndef GHOSTFS_BLOCK_H
#define GHOSTFS_BLOCK_H

#include "be.h"

#define BLOCK_KEY_LEN 8

static inline void block_key(unsigned char k[BLOCK_KEY_LEN], uint64_t index)
{
    put_be64(k, index);
}

/* The index in a key of FS_MAP_DATA (klen == BLOCK_KEY_LEN). */
static inline uint64_t block_index(const void *key)
{
    return get_be64(key);
}

#endif
