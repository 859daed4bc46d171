/*
 * snapview.c - a snapshot shown as a directory tree: the whole filesystem
 * as it was when the snapshot was taken, read-only and lazy.
 *
 * A view is nothing but a snapshot's name and generation (a slot, ctl.h):
 * every call starts a read transaction at the snapshot
 * (ghost_txn_begin_snapshot), reads what it needs - one inode, one block
 * range, one round of a listing - and ends it. Nothing of the tree is
 * loaded before it is looked at, and nothing is kept after: the kernel's
 * caches keep what it wants, and a snapshot never changes, so what it
 * caches stays true. If the snapshot is deleted, or deleted and taken again
 * under the same name (another generation), the view's calls fail with
 * ENOENT.
 *
 * Inode numbers: OID o of slot s is ctl_ino(s, o) (ctl.h). The slot's
 * reference count is the kernel's lookups of all its inodes together; a
 * slot the kernel holds nothing of may be given to another snapshot.
 *
 * Writes are refused before they get here (ctl.c: EROFS). Damage is told
 * as in the live tree (damage.c), except that a view never moves: a block,
 * an entry's inode or an entry missing from a snapshot is lost, reported
 * without looking again.
 *
 * Locks: ctl.lock guards the slot table, briefly; it is never held across
 * a read of the store or a call of fn. A call that hands out inodes of a
 * slot holds a reference to it from the start (view_begin), so the slot
 * cannot go to another snapshot while the call reads.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "damage.h"
#include "dirent.h"
#include "file_io.h"

/* ---- slots ----------------------------------------------------------------------- */

static uint32_t slot_bucket(const char *name, uint64_t gen)
{
    uint64_t h = name_hash(name, strlen(name)) ^ gen * UINT64_C(0x9e3779b97f4a7c15);
    return (uint32_t)(h ^ (h >> 32)) % CTL_SLOT_BUCKETS;
}

/* Take slot s out of the index (called with c->lock held). */
static void slot_unindex(struct ctl *c, uint32_t s)
{
    uint32_t *p = &c->bucket[slot_bucket(c->slots[s].name, c->slots[s].gen)];
    while (*p != s) {
        assert(*p != 0); /* an indexed slot is in its bucket */
        p = &c->slots[*p].next;
    }
    *p = c->slots[s].next;
}

/* A slot to give to another snapshot: never used, or used and held by
 * nothing (called with c->lock held); 0 if every one is held. A mount of a
 * snapshot alone gives none back: its one slot is the whole mount. */
static uint32_t slot_to_reuse(struct ctl *c)
{
    if (c->nslots <= c->slots_max)
        return 0; /* (grow instead) */
    for (uint32_t i = 0; i < c->slots_max; i++) {
        uint32_t s = 1 + (c->reuse + i) % c->slots_max;
        struct ctl_slot *x = &c->slots[s];
        if (!x->used || (x->refs == 0 && !c->alone)) {
            c->reuse = s % c->slots_max;
            return s;
        }
    }
    return 0;
}

int view_slot(struct fs *fs, const char *name, uint64_t gen, bool count, uint32_t *slot)
{
    struct ctl *c = fs->ctl;
    uint32_t b = slot_bucket(name, gen);
    int e = 0;
    pthread_mutex_lock(&c->lock);
    for (uint32_t s = c->bucket[b]; s; s = c->slots[s].next) {
        struct ctl_slot *x = &c->slots[s];
        assert(x->used);
        if (x->gen == gen && !strcmp(x->name, name)) {
            *slot = s;
            goto found;
        }
    }
    uint32_t free_slot = slot_to_reuse(c);
    if (!free_slot && c->nslots <= c->slots_max) { /* a slot never used before */
        struct ctl_slot *grown = realloc(c->slots, (c->nslots + 1) * sizeof *grown);
        if (!grown) {
            e = -ENOMEM;
            goto out;
        }
        c->slots = grown;
        free_slot = c->nslots++;
        c->slots[free_slot].used = false;
    } else if (!free_slot) {
        ghost_log_warning("snapshot %s: every one of the %u slots of snapshot views is held by "
                          "the kernel; it cannot be shown until some are released",
                          name, c->slots_max);
        e = -ENFILE;
        goto out;
    }
    struct ctl_slot *x = &c->slots[free_slot];
    if (x->used)
        slot_unindex(c, free_slot);
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->gen = gen;
    x->used = true;
    x->next = c->bucket[b];
    c->bucket[b] = free_slot;
    *slot = free_slot;
found:
    if (count)
        c->slots[*slot].refs++;
out:
    pthread_mutex_unlock(&c->lock);
    return e;
}

/* Add n kernel references to slot. */
static void slot_count(struct fs *fs, uint32_t slot, uint64_t n)
{
    pthread_mutex_lock(&fs->ctl->lock);
    assert(slot < fs->ctl->nslots && fs->ctl->slots[slot].used);
    fs->ctl->slots[slot].refs += n;
    pthread_mutex_unlock(&fs->ctl->lock);
}

void view_forget(struct fs *fs, uint32_t slot, uint64_t n)
{
    struct ctl *c = fs->ctl;
    pthread_mutex_lock(&c->lock);
    if (slot < c->nslots && c->slots[slot].used) {
        struct ctl_slot *x = &c->slots[slot];
        x->refs = x->refs > n ? x->refs - n : 0;
    }
    pthread_mutex_unlock(&c->lock);
}

/* Start a read of slot's snapshot: -ENOENT if the snapshot is gone or is
 * not the one the slot stands for any more.
 *
 * hold: take a reference to the slot at once, under the lock that found
 * it, for a call that will hand out inodes of it (a lookup, a listing with
 * attributes): a slot the kernel holds nothing of may be given to another
 * snapshot at any time, and must not be while the call reads one
 * snapshot and answers with numbers the other would own. The caller drops
 * it (view_forget) unless it hands it to the kernel; on an error here it
 * is dropped already. */
static int view_begin(struct fs *fs, uint32_t slot, bool hold, struct view *v, struct ghost_txn **t)
{
    struct ctl *c = fs->ctl;
    pthread_mutex_lock(&c->lock);
    bool ok = slot > 0 && slot < c->nslots && c->slots[slot].used;
    if (ok) {
        v->slot = slot;
        v->gen = c->slots[slot].gen;
        memcpy(v->name, c->slots[slot].name, sizeof v->name);
        if (hold)
            c->slots[slot].refs++;
    }
    pthread_mutex_unlock(&c->lock);
    if (!ok)
        return -ENOENT;
    int e = ghost_txn_begin_snapshot(fs->g, v->name, t);
    if (!e && ghost_txn_generation(*t) != v->gen) {
        ghost_txn_abort(*t);
        e = -ENOENT; /* deleted, and the name taken again */
    }
    if (e && hold)
        view_forget(fs, slot, 1);
    return e;
}

/* The snapshot's generation folded to the kernel's 32 bits of inode
 * generation (a 64-bit mix first, so that nearby generations differ in
 * many bits). */
static uint32_t snap_handle_gen(uint64_t gen)
{
    uint64_t x = gen + UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (uint32_t)(x ^ (x >> 32));
}

/* The attributes of oid (record r) as the view shows them.
 *
 * The generation a file handle carries: a slot is given out per process in
 * the order snapshots are looked up, so after a restart the number a
 * handle holds may stand for another snapshot's inode of the same OID -
 * the same file, born at the same time, in another snapshot. The
 * snapshot's generation is folded in, so such a handle is refused (ESTALE)
 * instead of opening the other snapshot's file. The mount's root (a
 * snapshot mounted alone) stays 0, as the kernel made it. */
static int view_attr(struct fs *fs, const struct view *v, uint64_t oid, const struct rec *r,
                     struct fs_attr *out)
{
    rec_attr(fs, oid, r, out);
    int e = ctl_ino(fs->ctl, v->slot, oid, &out->ino);
    if (!e && out->ino != FS_ROOT_INO)
        out->handle_gen ^= snap_handle_gen(v->gen);
    return e;
}

/* The inode an entry of dir names is not in the snapshot: lost. */
static int lost_child(struct fs *fs, const struct view *v, uint64_t dir, const char *name,
                      uint64_t child)
{
    return ghost_report_damage(fs->g,
                               "snapshot %s: directory %llu: entry \"%s\" names inode %llu, "
                               "which the snapshot does not hold",
                               v->name, (unsigned long long)dir, name, (unsigned long long)child);
}

/* ---- names and attributes ------------------------------------------------------------- */

int view_root(struct fs *fs, const char *name, bool count, struct fs_attr *out)
{
    struct ghost_txn *t;
    struct rec r;
    uint32_t slot;
    int e = ghost_txn_begin_snapshot(fs->g, name, &t);
    if (e)
        return e;
    uint64_t gen = ghost_txn_generation(t);
    e = rec_get(t, FS_ROOT_INO, &r);
    if (!e)
        e = view_slot(fs, name, gen, count, &slot);
    if (!e) {
        struct view v = {.slot = slot, .gen = gen};
        e = view_attr(fs, &v, FS_ROOT_INO, &r, out);
        if (e && count)
            view_forget(fs, slot, 1);
    }
    ghost_txn_abort(t);
    return e;
}

int view_lookup(struct fs *fs, uint32_t slot, uint64_t dir, const char *name, struct fs_attr *out)
{
    struct ghost_txn *t;
    struct view v;
    struct rec pr, r;
    uint64_t child = 0;
    size_t len;
    int e = check_name(name, &len);
    e = e ? e : view_begin(fs, slot, true, &v, &t);
    if (e)
        return e;
    e = rec_get(t, dir, &pr);
    if (!e && !strcmp(name, "."))
        child = dir;
    else if (!e && !S_ISDIR(pr.mode))
        e = -ENOTDIR;
    else if (!e && !strcmp(name, ".."))
        child = pr.parent ? pr.parent : FS_ROOT_INO; /* (ctl.c answers for the top) */
    else if (!e)
        e = dirent_get(t, dir, name, len, &child, NULL);
    if (!e) {
        e = rec_get(t, child, &r);
        if (e == -ENOENT)
            e = lost_child(fs, &v, dir, name, child);
    }
    e = e ? e : view_attr(fs, &v, child, &r, out);
    ghost_txn_abort(t);
    if (e) /* (else the reference view_begin took is the kernel's) */
        view_forget(fs, slot, 1);
    return e;
}

int view_getattr(struct fs *fs, uint32_t slot, uint64_t oid, struct fs_attr *out)
{
    struct ghost_txn *t;
    struct view v;
    struct rec r;
    int e = view_begin(fs, slot, false, &v, &t);
    if (e)
        return e;
    e = rec_get(t, oid, &r);
    e = e ? e : view_attr(fs, &v, oid, &r, out);
    ghost_txn_abort(t);
    return e;
}

int view_readlink(struct fs *fs, uint32_t slot, uint64_t oid, char *buf, size_t size)
{
    struct ghost_txn *t;
    struct view v;
    struct rec r;
    if (size == 0)
        return -EINVAL;
    int e = view_begin(fs, slot, false, &v, &t);
    if (e)
        return e;
    e = rec_get(t, oid, &r);
    if (!e && !S_ISLNK(r.mode))
        e = -EINVAL;
    if (!e) {
        size_t n = r.inl_len < size - 1 ? r.inl_len : size - 1;
        memcpy(buf, r.inl, n);
        buf[n] = 0;
    }
    ghost_txn_abort(t);
    return e;
}

/* ---- listings ------------------------------------------------------------------------- */

struct vd_ctx {
    struct fs *fs;
    struct ghost_txn *t;
    const struct view *v;
    uint64_t dir;
    bool plus;
    fs_dirent_fn fn;
    void *arg;
    uint64_t taken; /* entries handed out */
    bool full;
    int err;
};

static int vd_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct vd_ctx *c = arg;
    char name[FS_NAME_MAX + 1];
    uint64_t off, child;
    uint32_t mode;
    struct fs_attr a = {0};
    if (dirent_decode(key, klen, val, vlen, name, &off, &child, &mode))
        return 0;
    a.mode = mode;
    int e = ctl_ino(c->fs->ctl, c->v->slot, child, &a.ino);
    if (!e && c->plus) {
        struct rec r;
        e = rec_get(c->t, child, &r);
        if (e == -ENOENT)
            e = lost_child(c->fs, c->v, c->dir, name, child);
        e = e ? e : view_attr(c->fs, c->v, child, &r, &a);
    }
    if (e) {
        c->err = e;
        return 1;
    }
    if (c->fn(c->arg, name, &a, off)) {
        c->full = true;
        return 1;
    }
    c->taken++;
    return 0;
}

int view_opendir(struct fs *fs, uint32_t slot, uint64_t oid)
{
    struct fs_attr a;
    int e = view_getattr(fs, slot, oid, &a);
    return e ? e : S_ISDIR(a.mode) ? 0 : -ENOTDIR;
}

/* "." and ".." of dir (record r), from offset off; 1 if fn is full. */
static int dots(struct vd_ctx *c, const struct rec *r, uint64_t *off)
{
    struct fs_attr a;
    int e = 0;
    if (*off < 1) {
        e = view_attr(c->fs, c->v, c->dir, r, &a);
        if (e)
            return e;
        if (c->fn(c->arg, ".", &a, 1)) /* no lookup count for "." and ".." */
            return 1;
        *off = 1;
    }
    if (*off < 2) {
        memset(&a, 0, sizeof a);
        a.mode = S_IFDIR;
        if (c->dir != FS_ROOT_INO)
            e = ctl_ino(c->fs->ctl, c->v->slot, r->parent, &a.ino);
        else /* the view's root: in /.ghostfs/snapshots, or the mount's root */
            a.ino = c->fs->ctl->alone ? FS_ROOT_INO : CTL_SNAPS_INO;
        if (e)
            return e;
        if (c->fn(c->arg, "..", &a, 2))
            return 1;
        *off = 2;
    }
    return 0;
}

int view_readdir(struct fs *fs, uint32_t slot, uint64_t oid, uint64_t off, bool plus,
                 fs_dirent_fn fn, void *arg)
{
    struct ghost_txn *t;
    struct view v;
    struct rec r;
    int e = view_begin(fs, slot, plus, &v, &t);
    if (e)
        return e;
    e = rec_get(t, oid, &r);
    if (!e && !S_ISDIR(r.mode))
        e = -ENOTDIR;
    struct vd_ctx c = {.fs = fs, .t = t, .v = &v, .dir = oid, .plus = plus, .fn = fn, .arg = arg};
    bool from_start = off == 0;
    e = e ? e : dots(&c, &r, &off);
    if (e) {
        ghost_txn_abort(t);
        if (plus)
            view_forget(fs, slot, 1);
        return e < 0 ? e : 0;
    }
    unsigned char start[8];
    size_t slen = dirent_resume_key(start, off);
    e = ghost_map_scan(t, oid, FS_MAP_DIRENT, start, slen, vd_visit, &c);
    e = e < 0 ? e : c.err;
    /* A listing read whole in this one view: does the directory hold what
     * its tally counts? */
    if (!e && !c.full)
        e = dir_check(fs, t, oid, from_start ? (int64_t)c.taken : -1);
    ghost_txn_abort(t);
    if (plus) { /* the entries handed out are the kernel's; the call's own reference goes */
        slot_count(fs, slot, c.taken);
        view_forget(fs, slot, 1);
    }
    return c.taken && e ? 0 : e; /* what was handed out is the reply */
}

/* ---- file data and attributes --------------------------------------------------------- */

int view_open(struct fs *fs, uint32_t slot, uint64_t oid, int flags)
{
    struct fs_attr a;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        return -EROFS;
    int e = view_getattr(fs, slot, oid, &a);
    return e ? e : S_ISDIR(a.mode) ? -EISDIR : 0;
}

ssize_t view_read(struct fs *fs, uint32_t slot, uint64_t oid, void *buf, size_t size, uint64_t off)
{
    struct ghost_txn *t;
    struct view v;
    struct rec r;
    int e = view_begin(fs, slot, false, &v, &t);
    if (e)
        return e;
    e = rec_get(t, oid, &r);
    if (!e && S_ISDIR(r.mode))
        e = -EISDIR;
    size_t n = 0;
    if (!e) {
        n = off >= r.size ? 0 : size > r.size - off ? (size_t)(r.size - off) : size;
        e = n ? file_read_settled(fs, t, oid, &r, buf, off, n) : 0;
    }
    ghost_txn_abort(t);
    return e ? e : (ssize_t)n;
}

ssize_t view_getxattr(struct fs *fs, uint32_t slot, uint64_t oid, const char *name, void *buf,
                      size_t size)
{
    struct ghost_txn *t;
    struct view v;
    size_t nlen = strlen(name);
    if (nlen == 0)
        return -EINVAL;
    if (nlen > FS_XATTR_NAME_MAX)
        return -ERANGE;
    int e = view_begin(fs, slot, false, &v, &t);
    if (e)
        return e;
    ssize_t ret = xattr_get_in(t, oid, name, nlen, buf, size);
    ghost_txn_abort(t);
    return ret;
}

ssize_t view_listxattr(struct fs *fs, uint32_t slot, uint64_t oid, char *buf, size_t size)
{
    struct ghost_txn *t;
    struct view v;
    size_t used = 0;
    int e = view_begin(fs, slot, false, &v, &t);
    if (e)
        return e;
    e = xattr_list_in(t, oid, buf, size, &used);
    ghost_txn_abort(t);
    if (e < 0)
        return e;
    return size && used > size ? -ERANGE : (ssize_t)used;
}
