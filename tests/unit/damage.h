/*
 * damage.h - what test_damage.c is made of: a small filesystem written
 * through fs/ and remembered in memory (damage_tree.c), the store's file seen
 * as LMDB pages that can be damaged one at a time (damage_pages.c), and the
 * check of one damaged copy, which runs in a child process and must never
 * call Check's assertions (damage_tree.c, damage_check()).
 */
#ifndef TEST_DAMAGE_H
#define TEST_DAMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;

/* ---- the tree that was written ------------------------------------------------ */

#define DAMAGE_MAX_NODES 48
#define DAMAGE_MAX_XATTRS 3

struct damage_xattr {
    char name[32];
    unsigned char *val;
    size_t len;
};

/* One name of the tree as it was written. Parents come before their
 * children in the array; node 0 is the root. */
struct damage_node {
    char path[320];
    char name[256];
    int parent; /* index of the parent; -1 for the root */
    uint32_t mode;
    unsigned char *data; /* a file's bytes, a symlink's target */
    size_t size;
    struct damage_xattr x[DAMAGE_MAX_XATTRS];
    int nx;
    uint64_t ino; /* when it was written; the check finds it anew */
};

extern struct damage_node damage_tree[DAMAGE_MAX_NODES];
extern int damage_nodes;

/* Make a filesystem at store and write the tree into it through fs/, then
 * close it cleanly. Uses Check's assertions: only in the test's process. */
void damage_build(const char *store);

/* ---- what one damaged copy showed ------------------------------------------------- */

/* A file's class, worst first in the order of enum (higher is worse). */
enum damage_class { DC_OK, DC_DETECTED, DC_MISSING, DC_WRONG, DC_NCLASSES };

enum damage_open { DO_REFUSED, DO_READ_WRITE, DO_READ_ONLY };

/* What a child sends its parent through the pipe. */
struct damage_outcome {
    uint32_t files[DC_NCLASSES]; /* names of the tree in each class */
    uint32_t phantoms;           /* names listed that were never written */
    uint8_t opened;              /* enum damage_open */
    char detail[240];            /* the first thing that went silently wrong */
};

/* Where the child is, in memory it shares with its parent: what it was doing
 * when it died, for the report. */
struct damage_where {
    char step[200];
};

/* Open the copy at store as the daemon would (read-write; read-only if that
 * is refused), check every name of the tree, fill *out. Returns the open
 * filesystem for the caller to close after it has reported (NULL if the
 * store was refused). Called in a child; never asserts. */
struct fs *damage_check(const char *store, struct damage_outcome *out, struct damage_where *where);

/* ---- the store's file as pages ---------------------------------------------------- */

enum damage_kind { PK_FREE, PK_META, PK_BRANCH, PK_LEAF, PK_OVERFLOW, PK_NKINDS };
extern const char *const damage_kind_name[PK_NKINDS];

struct damage_image {
    unsigned char *bytes; /* the clean store file */
    size_t len;
    uint32_t psize;
    size_t npages;
    uint8_t *kind; /* enum damage_kind of each page, from the newest meta page */
};

/* Read the store file at path and label its pages. Asserts (test process). */
void damage_image_load(struct damage_image *im, const char *path);
void damage_image_free(struct damage_image *im);

/* The damage modes: a zeroed page, a page of pseudo-random bytes (seeded by
 * the page number, so every run damages alike), and one byte flipped at each
 * of DAMAGE_FLIPS positions. */
#define DAMAGE_FLIPS 12
#define DAMAGE_MODES (2 + DAMAGE_FLIPS)

const char *damage_mode_name(int mode);

/* Write out page of im damaged by mode into buf (psize bytes). */
void damage_page(const struct damage_image *im, size_t page, int mode, unsigned char *buf);

#endif
