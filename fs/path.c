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

/* How deep a path may be: past this the walk is taken for a loop (damage). */
#define PATH_DEPTH_MAX 256

struct up {
    uint64_t parent;
    char *name; /* owned */
};

static int first_backref(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct up *u = arg;
    (void)val, (void)vlen;
    char name[FS_NAME_MAX + 1];
    if (backref_decode(key, klen, &u->parent, name))
        return 0;
    u->name = strdup(name);
    return u->name ? 1 : -ENOMEM;
}

/* path_of's walk, saying why it failed: 0; -ENOENT (no chain reaches the
 * root); -ENOMEM; or the error a back reference's read met. *out is NULL
 * unless 0. */
static int path_walk(struct ghost_txn *t, uint64_t oid, char **out)
{
    char *path = strdup(oid == FS_ROOT_INO ? "/" : "");
    int e = path ? 0 : -ENOMEM;
    for (int depth = 0; !e && oid != FS_ROOT_INO; depth++) {
        struct up u = {0};
        e = depth < PATH_DEPTH_MAX
                ? ghost_map_scan(t, oid, FS_MAP_BACKREF, NULL, 0, first_backref, &u)
                : 0;
        char *longer = NULL;
        if (e == 1 && asprintf(&longer, "/%s%s", u.name, path) < 0)
            e = -ENOMEM;
        else
            e = e == 1 ? 0 : e < 0 ? e : -ENOENT;
        free(u.name);
        free(path);
        path = longer;
        oid = u.parent;
    }
    if (e) {
        free(path);
        path = NULL;
    }
    *out = path;
    return e;
}

int path_of(struct ghost_txn *t, uint64_t oid, char **out)
{
    int e = path_walk(t, oid, out);
    return e == -ENOMEM ? e : 0;
}

int path_find(struct fs *fs, uint64_t oid, char **out)
{
    struct ghost_txn *t;
    *out = NULL;
    int e = ghost_txn_begin(fs_store(fs), &t);
    if (e)
        return (int)fs_errno(e);
    e = path_walk(t, oid, out);
    ghost_txn_abort(t);
    return e == -ENOENT || e == -ENOMEM ? e : (int)fs_errno(e);
}
