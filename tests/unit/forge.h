/*
 * forge.h - damage forged with LMDB itself, as a damaged page would leave a
 * store: a record gone, or an older record in a key's place, each with a
 * valid checksum. For the tests of what the store and the filesystem make
 * of damage that no checksum shows (test_tally.c, test_fs_lost.c, test_fsck.c).
 *
 * The store must be closed. Keys are built as docs/format.md lays them out;
 * the map table's comparator is the engine's order, copied.
 */
#ifndef TEST_FORGE_H
#define TEST_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Take the head of a map key out of the store. */
void forge_lose_key(const char *path, uint64_t owner, uint8_t map, const void *key, size_t klen);

/* The key of directory entry name in its directory's map (docs/format.md):
 * hash . name, written into k; returns its length. */
size_t forge_dirent_key(unsigned char *k, const char *name);

/* Take the head of an object out of the store. */
void forge_lose_object(const char *path, uint64_t oid);

/* Save the head record of a map key (at most 256 bytes) into save, or, with
 * restore, put the saved one back in place of what is there now. */
void forge_swap_key(const char *path, uint64_t owner, uint8_t map, const void *key, size_t klen,
                    unsigned char *save, size_t *len, bool restore);

/* Make the store what format 2 wrote: no tallies, no "tallied" record,
 * format 2. */
void forge_format2(const char *path);

#endif
