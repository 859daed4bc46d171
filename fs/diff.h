/*
 * diff.h - what changed in the tree between a snapshot and a later one, or
 * the live tree: what `ghostfs diff` prints (cli_diff.c).
 */
#ifndef GHOSTFS_DIFF_H
#define GHOSTFS_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"

/* What became of one inode. */
enum diff_kind {
    DIFF_ADDED = '+',      /* reachable in the later tree only */
    DIFF_REMOVED = '-',    /* reachable in the older tree only */
    DIFF_MODIFIED = 'M',   /* at the same path, its data, attributes or entries changed */
    DIFF_RENAMED = 'R',    /* at another path (and maybe changed too) */
    DIFF_UNREADABLE = '!', /* could not be read (error says why): damage */
};

struct diff_entry {
    enum diff_kind kind;
    uint64_t oid;
    uint32_t mode;        /* its type bits, in the later tree (the older, if removed) */
    const char *path;     /* in the older tree; in the later for DIFF_ADDED */
    const char *new_path; /* DIFF_RENAMED: in the later tree; else NULL */
    int error;            /* DIFF_UNREADABLE: the negative errno; path is NULL */
};

/* Called for each inode that differs, in OID order, never while a read
 * view of the store is open (so a slow reader of the output holds no view
 * of the store); the strings are borrowed for the call. A non-zero return
 * stops the diff and is returned. */
typedef int (*diff_fn)(void *arg, const struct diff_entry *e);

/* Compare snapshot `from` of fs's store with snapshot `to`, or with the
 * tree as the store holds it now (to NULL), in time proportional to what
 * changed (ghost_changes); *walked_all (may be NULL) says the store had to
 * be walked whole instead (a snapshot older than its change index). A
 * path is the first of an inode's links (path.h); a hard link added, or
 * removed while the inode keeps its first, shows as a change of the inode
 * (M). An inode that cannot be read is told (DIFF_UNREADABLE) and the diff
 * goes on. 0, or the library's error (-ENOENT: no such snapshot; -EINVAL:
 * `to` is not later), or fn's. */
int fs_diff(struct fs *fs, const char *from, const char *to, diff_fn fn, void *arg,
            bool *walked_all);

#endif
