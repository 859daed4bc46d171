/*
 * fs_util.h - the fixture and helpers the suites of fs/ share (the
 * test_fs_*.c programs): a fresh filesystem per test, names and attributes,
 * what the store holds, file data by pattern, directory listings, and a
 * checker of the whole tree.
 *
 * The POSIX model is called directly, without a mount. Each test gets a fresh
 * filesystem (the fixture). The flusher's interval is set to an hour so that
 * nothing is committed behind a test's back: a test that reads the store
 * directly (ghost_txn_begin on fs_store()) sees exactly what flush, release,
 * setattr and the other committing calls wrote. What the store holds is read
 * with the layouts of fs/fs.h and fs/inode_rec.c (the inode record: size at byte
 * 16, parent at 64, flags at 88, inline data after byte 92; block keys are
 * big-endian indexes).
 *
 * The helpers assert (Check) rather than return errors, so they run only in
 * a test's own process, never in a child it forks.
 */
#ifndef TEST_FS_UTIL_H
#define TEST_FS_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "fsint.h" /* fs_store(): the tests read what fs/ stored */
#include "ghost.h"
/* Before the fixture's globals (path, fs, ctx), which their parameters
 * would otherwise shadow. */
#include "proc.h"
#include "util.h"

/* ---- the fixture ------------------------------------------------------------ */

extern char path[4352];         /* the store of the current test */
extern struct fs *fs;           /* open on path between setup and teardown */
extern struct fs_ctx ctx;       /* the caller: this process's uid and gid, umask 022 */
extern size_t opt_write_buffer; /* 0: the default */

void open_fs(void);
void close_fs(void);
void reopen(void);

/* A new filesystem of block size bs (0: the default), opened. */
void setup_bs(uint32_t bs);
void setup(void);              /* default block size */
void setup_small(void);        /* 4 KiB blocks */
void setup_backpressure(void); /* default block size, a 2 MiB write buffer */
void teardown(void);           /* kills the test's children, closes, removes the store */

/* A test case of s named name, with the fixture setup_fn/teardown and a
 * timeout in seconds. */
TCase *fs_tcase(Suite *s, const char *name, void (*setup_fn)(void), double timeout_s);

/* ---- names and attributes ------------------------------------------------------ */

uint64_t mkfile(uint64_t parent, const char *name);
uint64_t mkdir_(uint64_t parent, const char *name);
struct fs_attr attr(uint64_t ino);
uint32_t nlink_of(uint64_t ino);
uint64_t size_of(uint64_t ino);

/* The inode name leads to, or a negative errno; leaves no lookup count. */
int64_t ino_of(uint64_t parent, const char *name);

/* A name of exactly n bytes (n < 1024), in a static buffer. */
const char *long_name(size_t n, char c);

/* ---- what the store holds -------------------------------------------------------- */

uint64_t be64_get(const unsigned char *p);
void be64_put(unsigned char *p, uint64_t v);
bool obj_exists_in(struct ghost *g, uint64_t oid);
bool obj_exists(uint64_t oid);

/* The stored inode record, decoded in part. */
struct raw {
    uint64_t size, parent;
    uint32_t flags, nlink, mode, uid;
    int64_t mtime;
    unsigned char inl[FS_INLINE_MAX + 16];
    size_t inl_len;
};

struct raw raw_rec(uint64_t ino);
size_t map_count_in(struct ghost *g, uint64_t owner, uint8_t map);
size_t map_count(uint64_t owner, uint8_t map);

/* Length of a value in a map, or -ENOENT. */
int64_t map_vlen(uint64_t owner, uint8_t map, const void *key, size_t klen);
int64_t block_len(uint64_t ino, uint64_t index);
bool orphan_listed_in(struct ghost *g, uint64_t ino);
bool has_backref(uint64_t ino, uint64_t parent, const char *name);

/* ---- file data --------------------------------------------------------------------- */

/* The byte at off of pattern seed; never 0, so zeros from holes show. */
unsigned char pat(uint64_t off, unsigned seed);
void fill(unsigned char *buf, uint64_t off, size_t len, unsigned seed);
void write_pat(uint64_t ino, uint64_t off, size_t len, unsigned seed);

/* Read [off, off+len) fully (it must all be inside the file); the caller
 * frees the buffer. */
unsigned char *read_range(uint64_t ino, uint64_t off, size_t len);

/* Bytes [off, off+len) of ino are the pattern (seed) or, for seed < 0, zeros. */
void check_range(uint64_t ino, uint64_t off, size_t len, int seed);

/* ---- listings ------------------------------------------------------------------------ */

struct entry {
    char *name;
    uint64_t ino, next_off;
    uint32_t mode, nlink;
};

struct listing {
    struct entry *e;
    size_t n, cap;
    size_t limit; /* take at most this many, then report "full" */
    uint64_t last_off;
};

/* fs_readdir's callback: appends to the listing arg. */
int collect(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off);
void listing_free(struct listing *l);
void list_all(uint64_t dir, bool plus, struct listing *l);
const struct entry *find_entry(const struct listing *l, const char *name);

/* ---- the tree checker ------------------------------------------------------------------ */

/* Walk the whole tree: every directory's nlink is 2 + its subdirectories and
 * its record names its parent; every other inode's nlink is the number of
 * names it has, and so is its number of back references; every map holds
 * what its tally counts. */
void fsck(void);

#endif
