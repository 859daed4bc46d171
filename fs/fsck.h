/*
 * fsck.h - `ghostfs fsck STORE [--json]`: the offline check of a store
 * (fsck.c: the command, the scrub and the report) and the structure walk
 * of the filesystem in it (fsck_tree.c).
 */
#ifndef GHOSTFS_FSCK_H
#define GHOSTFS_FSCK_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"
#include "vec.h"

/* Exit codes, in the fsck(8) tradition. */
enum { FSCK_CLEAN = 0, FSCK_ERRORS_LEFT = 4, FSCK_OPERATIONAL = 8 };

/* One thing found wrong; kind is a short fixed word ("bad-record",
 * "map-short", "unreachable", ...), message and path are the caller's to
 * free (path may be NULL: not known). map is -1 where no map is meant. */
struct fsck_finding {
    const char *kind;
    uint64_t oid;
    int map;
    char *path;
    char *message;
};

/* An inode object the scrub saw, and what the structure walk learns of it. */
struct fsck_node {
    uint64_t ino;
    uint32_t names;   /* directory entries that name it */
    uint32_t subdirs; /* a directory: its entries that are directories */
    bool reached;     /* from the root */
    bool is_dir;      /* as its record says */
    char *path;       /* the first path that reached it (owned), or NULL */
};

struct fsck {
    struct fs *fs;
    VEC(struct fsck_finding) findings;
    VEC(struct fsck_node) nodes; /* every inode object, ascending by OID */
    uint64_t directories, reached, orphans;
    bool tty; /* progress on a terminal */
};

/* Add a finding (message formatted; path copied if not NULL). */
void fsck_add(struct fsck *k, const char *kind, uint64_t oid, int map, const char *path,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The node of inode ino, or NULL if the scrub saw no such inode object. */
struct fsck_node *fsck_node(struct fsck *k, uint64_t ino);
/* The structure walk from the root over k->nodes: entries, types, link
 * counts, back references, what is unreachable. 0, or a negative errno
 * that stopped it (an operational error; damage is a finding). */
int fsck_tree(struct fsck *k);
/* `ghostfs fsck ...`: argv[0] is "fsck". Returns the exit code. */
int fsck_main(int argc, char **argv);

#endif
