/*
 * path.c - an inode's path up its back references (path.h). A hard link
 * has several; the first in key order (its parent's OID, then the name)
 * is the one told, so that the same store always gives the same path.
 */
#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirent.h"
#include "fsint.h"

/* No path is deeper: each level takes at least two of PATH_MAX's bytes.
 * A walk past it is in a loop, which only damage makes. */
#define PATH_DEPTH_MAX 2048

static int first_backref(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct path_link *l = arg;
    (void)val, (void)vlen;
    return backref_decode(key, klen, &l->parent, l->name) ? 0 : 1;
}

int path_of(struct ghost_txn *t, uint64_t oid, char **out, struct path_link *last)
{
    *out = NULL;
    if (last)
        *last = (struct path_link){0};
    char *path = strdup(oid == FS_ROOT_INO ? "/" : "");
    if (!path)
        return -ENOMEM;
    for (int depth = 0; oid != FS_ROOT_INO; depth++) {
        struct path_link l = {0};
        int e = depth < PATH_DEPTH_MAX
                    ? ghost_map_scan(t, oid, FS_MAP_BACKREF, NULL, 0, first_backref, &l)
                    : -ELOOP;
        if (e <= 0) { /* 0: no link; unreachable */
            free(path);
            return e;
        }
        if (depth == 0 && last)
            *last = l;
        char *longer;
        if (asprintf(&longer, "/%s%s", l.name, path) < 0) {
            free(path);
            return -ENOMEM;
        }
        free(path);
        path = longer;
        oid = l.parent;
    }
    *out = path;
    return 0;
}

int path_find(struct fs *fs, uint64_t oid, char **out)
{
    struct ghost_txn *t;
    *out = NULL;
    int e = ghost_txn_begin(fs_store(fs), &t);
    if (e)
        return (int)fs_errno(e);
    e = path_of(t, oid, out, NULL);
    ghost_txn_abort(t);
    if (e == 0 && !*out)
        return -ENOENT;
    return e == -ENOMEM ? e : (int)fs_errno(e);
}

int path_has_link(struct ghost_txn *t, uint64_t oid, const struct path_link *l)
{
    int e = backref_get(t, oid, l->parent, l->name, strlen(l->name));
    return e == -ENOENT ? 0 : e < 0 ? e : 1;
}
