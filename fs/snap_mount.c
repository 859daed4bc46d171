/*
 * snap_mount.c - which snapshots are mounted alone (-o snapshot=NAME), so
 * that deleting one of them is refused (EBUSY) instead of pulling the tree
 * from under its mount.
 *
 * A mount of a snapshot puts a mark in the store: a key of FS_MAP_SNAPMOUNT
 * on FS_SNAPMOUNT_OID, "name \0 owner" with an empty value, where owner is
 * the process's "bootid pid" (as orphans record theirs). Its unmount takes
 * the mark away. A process killed before it could leaves its mark; a mark
 * whose owner is not alive on this boot is stale, and the delete that finds
 * it removes it. Marks are per machine: a process of another machine (a
 * store on a server engine) is taken for dead, as the orphans' owners are.
 *
 * The check and the delete are two transactions: a mount that marks in
 * between has checked that the snapshot exists after marking, so it either
 * fails to mount or the delete sees its mark - except when both land in
 * that one window, where the mount serves a deleted snapshot (its reads
 * fail with ENOENT).
 */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orphan.h"
#include "vec.h"

static size_t mark_key(struct fs *fs, const char *name, char *k, size_t size)
{
    int n = snprintf(k, size, "%s%c%s", name, 0, fs->owner);
    assert(n > 0 && (size_t)n < size);
    return (size_t)n;
}

struct mark_ctx {
    const char *key;
    size_t klen;
    bool del;
};

static int mark_fn(struct ghost_txn *t, void *arg)
{
    struct mark_ctx *m = arg;
    if (m->del)
        return ghost_map_del(t, FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT, m->key, m->klen);
    return ghost_map_put(t, FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT, m->key, m->klen, "", 0);
}

int snap_mount_mark(struct fs *fs, const char *name)
{
    struct ctl *c = fs->ctl;
    struct mark_ctx m = {c->mark, mark_key(fs, name, c->mark, sizeof c->mark), false};
    int e = fs_run(fs, mark_fn, &m);
    if (e) {
        c->mark[0] = 0;
        return e;
    }
    c->mark_len = m.klen;
    /* Still there, now that a delete would see the mark? */
    struct ghost_txn *t;
    e = ghost_txn_begin_snapshot(fs->g, name, &t);
    if (!e)
        ghost_txn_abort(t);
    if (e)
        snap_mount_unmark(fs);
    return e;
}

void snap_mount_unmark(struct fs *fs)
{
    struct ctl *c = fs->ctl;
    if (!c->mark_len)
        return;
    struct mark_ctx m = {c->mark, c->mark_len, true};
    int e = fs_run(fs, mark_fn, &m);
    if (e)
        ghost_log_warning("snapshot %s: the mark of its mount stays in the store (%s); the "
                          "next delete of the snapshot removes it",
                          c->mark, strerror(-e));
    c->mark_len = 0;
}

struct check_ctx {
    struct fs *fs;
    const char *name;
    size_t nlen;
    char owner[96]; /* a live owner found */
    VEC(char *) stale;
    int err;
};

static int check_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct check_ctx *c = arg;
    (void)val, (void)vlen;
    if (klen <= c->nlen || memcmp(key, c->name, c->nlen) || ((const char *)key)[c->nlen])
        return 1; /* past this snapshot's marks */
    const char *owner = (const char *)key + c->nlen + 1;
    size_t olen = klen - c->nlen - 1;
    if (owner_alive(owner, olen, c->fs->owner)) {
        snprintf(c->owner, sizeof c->owner, "%.*s", (int)olen, owner);
        return 1;
    }
    char *copy = malloc(klen + 1);
    if (!copy || vec_push(&c->stale, copy)) {
        free(copy);
        c->err = -ENOMEM;
        return 1;
    }
    memcpy(copy, key, klen);
    copy[klen] = 0; /* (the length is the name's, 0, and the owner's) */
    return 0;
}

int snap_mount_check(struct fs *fs, const char *name)
{
    struct ghost_txn *t;
    struct check_ctx c = {.fs = fs, .name = name, .nlen = strlen(name)};
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = ghost_map_scan(t, FS_SNAPMOUNT_OID, FS_MAP_SNAPMOUNT, name, c.nlen + 1, check_visit, &c);
    ghost_txn_abort(t);
    e = e < 0 ? e : c.err;
    if (!e && c.owner[0]) {
        ghost_log_warning("snapshot %s is mounted (by process %s, boot id %.*s): unmount it "
                          "before deleting it",
                          name, strchr(c.owner, ' ') ? strchr(c.owner, ' ') + 1 : c.owner,
                          (int)strcspn(c.owner, " "), c.owner);
        e = -EBUSY;
    }
    for (size_t i = 0; i < c.stale.n; i++) {
        struct mark_ctx m = {c.stale.v[i], c.nlen + 1 + strlen(c.stale.v[i] + c.nlen + 1), true};
        if (!e)
            e = fs_run(fs, mark_fn, &m);
        free(c.stale.v[i]);
    }
    vec_free(&c.stale);
    return fs_errno(e);
}
