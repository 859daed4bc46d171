/*
 * ctl.c - the control tree at the root of every mount:
 *
 *   /.ghostfs/                  read-only
 *   /.ghostfs/snapshots/        one directory per snapshot of the store;
 *                               mkdir NAME takes a snapshot, rmdir NAME
 *                               deletes it
 *   /.ghostfs/snapshots/NAME/   the whole tree as the snapshot holds it,
 *                               read-only (snapview.c)
 *   /.ghostfs/objects/          lists nothing; OID and OID.json in it are
 *                               one object decoded (ctl_objects.c)
 *
 * Like ZFS's .zfs with snapdir=hidden, /.ghostfs answers a lookup and is
 * absent from the root's listing, so that find, tar, rsync and du of the
 * mount do not walk every snapshot. The name is reserved in the root:
 * creating it is EEXIST, removing or renaming it (or onto it) EPERM. A
 * store whose root already holds an entry of that name (made by a program
 * that used the library directly) keeps it, shadowed: the control tree
 * answers for the name, the root's listing shows neither, and the mount
 * logs a warning; a mount of a snapshot alone (-o snapshot=NAME, which has
 * no control tree) shows the entry, so it can be copied out.
 *
 * A mount of one snapshot alone is all view: every inode is the
 * snapshot's (ctl.h explains the numbers), and every change is EROFS.
 *
 * This file decides which inode is whose and answers for the three control
 * directories; what is inside a snapshot is snapview.c's, an object's
 * document ctl_objects.c's. The glue (fuse_ops.c) asks fs_ctl_owns /
 * fs_ctl_owns_entry and calls the fs_ctl_* function instead of the live
 * tree's.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirent.h"

#define SNAPS_NAME "snapshots"
#define OBJS_NAME "objects"

int ctl_ino(const struct ctl *c, uint32_t slot, uint64_t oid, uint64_t *ino)
{
    assert(slot > 0 && slot <= CTL_SLOTS_MAX);
    if (c->alone) {
        *ino = oid;
        return 0;
    }
    if (oid > CTL_OID_MASK) {
        ghost_log_warning("inode %llu of a snapshot is past the %d bits a snapshot view's inode "
                          "numbers hold; it cannot be shown",
                          (unsigned long long)oid, CTL_SLOT_SHIFT);
        return -EOVERFLOW;
    }
    *ino = CTL_BIT | (uint64_t)slot << CTL_SLOT_SHIFT | oid;
    return 0;
}

/* Which view and which OID an inode number of the control tree stands
 * for: slot 0 is the control tree's own directories. */
static void ctl_decode(const struct ctl *c, uint64_t ino, uint32_t *slot, uint64_t *oid)
{
    if (c->alone) {
        *slot = 1;
        *oid = ino;
        return;
    }
    assert(ino & CTL_BIT);
    *slot = (uint32_t)((ino & ~CTL_BIT) >> CTL_SLOT_SHIFT);
    *oid = ino & CTL_OID_MASK;
}

bool fs_ctl_owns(struct fs *fs, uint64_t ino)
{
    return fs->ctl->alone || (ino & CTL_BIT);
}

static bool is_ctl_name(uint64_t parent, const char *name)
{
    return parent == FS_ROOT_INO && !strcmp(name, FS_CTL_NAME);
}

bool fs_ctl_owns_entry(struct fs *fs, uint64_t parent, const char *name)
{
    return fs_ctl_owns(fs, parent) || is_ctl_name(parent, name);
}

bool fs_ctl_shadows(struct fs *fs, uint64_t dir, const char *name)
{
    return fs->ctl && !fs->ctl->alone && is_ctl_name(dir, name);
}

/* ---- the control directories -------------------------------------------------------- */

/* /.ghostfs, its snapshots/ and objects/: owned as the root is, times of
 * the root; /.ghostfs and objects/ read-only (0555), snapshots/ writable
 * by the root's owner (mkdir takes a snapshot). */
static int ctl_dir_attr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    struct rec r;
    int e = rec_peek(fs, FS_ROOT_INO, &r);
    if (e)
        return e;
    rec_attr(fs, FS_ROOT_INO, &r, out);
    out->ino = ino;
    out->size = 0;
    out->blocks = 0;
    out->handle_gen = 0;
    if (ino == CTL_DIR_INO || ino == CTL_OBJS_INO) {
        out->mode = S_IFDIR | 0555;
        out->nlink = ino == CTL_DIR_INO ? 4 : 2;
        return 0;
    }
    assert(ino == CTL_SNAPS_INO);
    int n = fs_snapshot_list(fs, NULL, 0);
    if (n < 0)
        return n;
    out->mode = S_IFDIR | 0755;
    out->nlink = 2 + (uint32_t)n;
    return 0;
}

int fs_ctl_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out)
{
    uint32_t slot;
    uint64_t oid;
    if (is_ctl_name(parent, name) && !fs->ctl->alone)
        return fs_errno(ctl_dir_attr(fs, CTL_DIR_INO, out));
    ctl_decode(fs->ctl, parent, &slot, &oid);
    /* ".." at the top of a snapshot is snapshots/ (in a mount of a
     * snapshot alone its root is the mount's, its own ".."). */
    if (slot && oid == FS_ROOT_INO && !fs->ctl->alone && !strcmp(name, ".."))
        return fs_errno(ctl_dir_attr(fs, CTL_SNAPS_INO, out));
    if (slot)
        return (int)fs_errno(view_lookup(fs, slot, oid, name, out));
    /* ".." of /.ghostfs is the root: a lookup of the live tree's, counted
     * as the kernel will forget it. */
    if (parent == CTL_DIR_INO && !strcmp(name, ".."))
        return fs_lookup(fs, FS_ROOT_INO, ".", out);
    if (parent == CTL_DIR_INO && !strcmp(name, SNAPS_NAME))
        return fs_errno(ctl_dir_attr(fs, CTL_SNAPS_INO, out));
    if (parent == CTL_DIR_INO && !strcmp(name, OBJS_NAME))
        return fs_errno(ctl_dir_attr(fs, CTL_OBJS_INO, out));
    bool dir = parent == CTL_DIR_INO || parent == CTL_SNAPS_INO || parent == CTL_OBJS_INO;
    if (dir && !strcmp(name, "."))
        return fs_errno(ctl_dir_attr(fs, parent, out));
    if (dir && !strcmp(name, "..")) /* (of snapshots/ or objects/) */
        return fs_errno(ctl_dir_attr(fs, CTL_DIR_INO, out));
    if (parent == CTL_OBJS_INO)
        return fs_errno(objs_lookup(fs, name, out));
    if (parent == CTL_SNAPS_INO) {
        size_t len;
        int e = check_name(name, &len);
        /* (mkdir of such a name ends here: the kernel looks it up first) */
        if (e == -ENAMETOOLONG)
            ghost_log_warning("snapshot name of %zu bytes refused: the longest is %d", len,
                              GHOST_SNAP_NAME_MAX);
        return fs_errno(e ? e : view_root(fs, name, true, out));
    }
    if (parent == CTL_DIR_INO)
        return -ENOENT;
    /* A number of the control tree that is no directory: only a file
     * handle (its lookup of ".") names one. */
    return -ESTALE;
}

void fs_ctl_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    if (slot) /* the control directories are not counted: their numbers are fixed */
        view_forget(fs, slot, n);
}

int fs_ctl_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    if (slot)
        return fs_errno(view_getattr(fs, slot, oid, out));
    if (objs_is_file(ino))
        return fs_errno(objs_getattr(fs, ino, out));
    if (ino == CTL_DIR_INO || ino == CTL_SNAPS_INO || ino == CTL_OBJS_INO)
        return fs_errno(ctl_dir_attr(fs, ino, out));
    return -ENOENT;
}

bool fs_ctl_volatile(struct fs *fs, uint64_t ino)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    /* The control directories change as snapshots come and go, and so
     * does which snapshot a name in /.ghostfs/snapshots is; what is inside
     * a snapshot never changes. */
    return slot == 0 || (oid == FS_ROOT_INO && !fs->ctl->alone);
}

int fs_ctl_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    return slot ? fs_errno(view_readlink(fs, slot, oid, buf, size)) : -EINVAL;
}

int fs_ctl_opendir(struct fs *fs, uint64_t ino)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    if (slot)
        return fs_errno(view_opendir(fs, slot, oid));
    if (objs_is_file(ino))
        return -ENOTDIR;
    return ino == CTL_DIR_INO || ino == CTL_SNAPS_INO || ino == CTL_OBJS_INO ? 0 : -ENOENT;
}

/* /.ghostfs: ".", "..", "snapshots", "objects" at offsets 1 to 4; objects/
 * (ino CTL_OBJS_INO): ".", ".." only, as its names are looked up, never
 * listed. */
static int readdir_ctl_dir(struct fs *fs, uint64_t ino, uint64_t off, fs_dirent_fn fn, void *arg)
{
    static const char *const names[] = {".", "..", SNAPS_NAME, OBJS_NAME};
    uint64_t inos[] = {CTL_DIR_INO, FS_ROOT_INO, CTL_SNAPS_INO, CTL_OBJS_INO};
    uint64_t n = 4;
    if (ino == CTL_OBJS_INO) {
        inos[0] = CTL_OBJS_INO;
        inos[1] = CTL_DIR_INO;
        n = 2;
    }
    for (uint64_t i = off; i < n; i++) {
        struct fs_attr a = {.ino = inos[i], .mode = S_IFDIR};
        int e = inos[i] == FS_ROOT_INO ? fs_getattr(fs, FS_ROOT_INO, &a)
                                       : ctl_dir_attr(fs, inos[i], &a);
        if (e)
            return e;
        if (fn(arg, names[i], &a, i + 1))
            return 0; /* (no lookup is counted for any of them: their numbers are fixed) */
    }
    return 0;
}

struct snap_ent {
    uint64_t off; /* the name's hash: a listing's offsets stay valid as snapshots come and go */
    const char *name;
    uint64_t gen;
};

static int by_off(const void *a, const void *b)
{
    uint64_t x = ((const struct snap_ent *)a)->off, y = ((const struct snap_ent *)b)->off;
    return x < y ? -1 : x > y;
}

/* /.ghostfs/snapshots: one directory per snapshot, in the order of the
 * names' hashes (as a directory's entries are). */
static int readdir_snaps(struct fs *fs, uint64_t off, bool plus, fs_dirent_fn fn, void *arg)
{
    struct fs_attr a;
    if (off < 1) {
        int e = ctl_dir_attr(fs, CTL_SNAPS_INO, &a);
        if (e || fn(arg, ".", &a, 1))
            return e;
        off = 1;
    }
    if (off < 2) {
        int e = ctl_dir_attr(fs, CTL_DIR_INO, &a);
        if (e || fn(arg, "..", &a, 2))
            return e;
        off = 2;
    }
    int n = fs_snapshot_list(fs, NULL, 0);
    if (n <= 0)
        return n;
    struct ghost_snapshot *list = calloc((size_t)n, sizeof *list);
    struct snap_ent *ents = calloc((size_t)n, sizeof *ents);
    int e = list && ents ? 0 : -ENOMEM;
    int got = e ? 0 : fs_snapshot_list(fs, list, n);
    if (got < 0)
        e = got;
    got = got > n ? n : got; /* (taken meanwhile: in the next listing) */
    for (int i = 0; i < got; i++)
        ents[i] = (struct snap_ent){name_hash(list[i].name, strlen(list[i].name)), list[i].name,
                                    list[i].generation};
    qsort(ents, (size_t)(got > 0 ? got : 0), sizeof *ents, by_off);
    for (int i = 0; !e && i < got; i++) {
        if (ents[i].off <= off)
            continue;
        uint32_t slot;
        if (plus) { /* counted as a lookup */
            e = view_root(fs, ents[i].name, true, &a);
        } else {
            /* A slot is given even so (not counted, so it can go back at
             * once): the number a listing shows must be the one stat
             * shows, or ls -i and find see two numbers for one directory.
             * A snapshot that has one keeps it (view_slot finds it). */
            memset(&a, 0, sizeof a);
            a.mode = S_IFDIR;
            e = view_slot(fs, ents[i].name, ents[i].gen, false, &slot);
            e = e ? e : ctl_ino(fs->ctl, slot, FS_ROOT_INO, &a.ino);
        }
        if (e == -ENOENT) { /* deleted meanwhile */
            e = 0;
            continue;
        }
        if (e)
            break;
        if (fn(arg, ents[i].name, &a, ents[i].off)) {
            if (plus)
                fs_ctl_forget(fs, a.ino, 1); /* not taken */
            break;
        }
    }
    free(list);
    free(ents);
    return e;
}

int fs_ctl_readdir(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn, void *arg)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    if (slot)
        return fs_errno(view_readdir(fs, slot, oid, off, plus, fn, arg));
    if (ino == CTL_DIR_INO || ino == CTL_OBJS_INO)
        return fs_errno(readdir_ctl_dir(fs, ino, off, fn, arg));
    if (ino == CTL_SNAPS_INO)
        return fs_errno(readdir_snaps(fs, off, plus, fn, arg));
    return -ENOENT;
}

int fs_ctl_open(struct fs *fs, uint64_t ino, int flags, struct fs_ctl_doc **doc)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    *doc = NULL;
    if (!slot && objs_is_file(ino))
        return fs_errno(objs_open(fs, ino, flags, doc));
    return slot ? fs_errno(view_open(fs, slot, oid, flags)) : -EISDIR;
}

ssize_t fs_ctl_read(struct fs *fs, uint64_t ino, const struct fs_ctl_doc *doc, void *buf,
                    size_t size, uint64_t off)
{
    uint32_t slot;
    uint64_t oid;
    if (doc)
        return objs_read(doc, buf, size, off);
    ctl_decode(fs->ctl, ino, &slot, &oid);
    return slot ? fs_errno(view_read(fs, slot, oid, buf, size, off)) : -EISDIR;
}

void fs_ctl_release(struct fs *fs, struct fs_ctl_doc *doc)
{
    (void)fs;
    objs_release(doc);
}

int64_t fs_ctl_lseek(struct fs *fs, uint64_t ino, const struct fs_ctl_doc *doc, int64_t off,
                     int whence)
{
    struct fs_attr a;
    int e = doc ? 0 : fs_ctl_getattr(fs, ino, &a);
    if (e)
        return e;
    if (doc) /* its length, not getattr's 0 */
        a.size = objs_doc_len(doc);
    if (off < 0)
        return -ENXIO;
    /* A view's file is all data, as far as seeking is concerned: its holes
     * read as zeros (as generic_file_llseek answers); so is a document. */
    if (whence == SEEK_DATA)
        return (uint64_t)off < a.size ? off : -ENXIO;
    if (whence == SEEK_HOLE)
        return (uint64_t)off < a.size ? (int64_t)a.size : -ENXIO;
    return -EINVAL;
}

ssize_t fs_ctl_getxattr(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    return slot ? fs_errno(view_getxattr(fs, slot, oid, name, buf, size)) : -ENODATA;
}

ssize_t fs_ctl_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
    uint32_t slot;
    uint64_t oid;
    ctl_decode(fs->ctl, ino, &slot, &oid);
    return slot ? fs_errno(view_listxattr(fs, slot, oid, buf, size)) : 0;
}

/* ---- taking and deleting snapshots ---------------------------------------------------- */

/* A name refused in /.ghostfs/snapshots: logged, as the caller only sees
 * an errno. */
static int refused(const char *what, const char *name, int e, const char *why)
{
    ghost_log_warning("%s snapshot '%.*s' refused: %s", what, 300, name,
                      why && *why ? why : strerror(-e));
    return e;
}

/* The errno Linux gives for a bad directory name. */
static int snap_name_errno(const char *name, const char **why)
{
    size_t len;
    int e = check_name(name, &len);
    *why = e == -ENAMETOOLONG ? "the name is over 255 bytes"
           : e                ? "the name is empty or holds a '/'"
                              : NULL;
    if (!e && (!strcmp(name, ".") || !strcmp(name, ".."))) {
        *why = "'.' and '..' are every directory's";
        e = -EEXIST;
    }
    return e;
}

int fs_ctl_mkdir(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out)
{
    const char *why;
    if (is_ctl_name(parent, name) && !fs->ctl->alone)
        return -EEXIST;
    if (parent != CTL_SNAPS_INO || fs->ctl->alone)
        return -EROFS;
    int e = snap_name_errno(name, &why);
    if (e)
        return refused("taking", name, e, why);
    e = fs_snapshot_create(fs, name);
    if (e)
        return refused("taking", name, e, ghost_errmsg());
    return fs_errno(view_root(fs, name, true, out));
}

int fs_ctl_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
    const char *why;
    if (is_ctl_name(parent, name) && !fs->ctl->alone)
        return -EPERM;
    if (parent != CTL_SNAPS_INO || fs->ctl->alone)
        return -EROFS;
    int e = snap_name_errno(name, &why);
    if (e == -EEXIST)
        e = !strcmp(name, ".") ? -EINVAL : -ENOTEMPTY; /* as rmdir(2) of them */
    if (e)
        return refused("deleting", name, e, why);
    e = fs_snapshot_delete(fs, name);
    if (e && e != -ENOENT)
        return refused("deleting", name, e, ghost_errmsg());
    return e;
}

int fs_ctl_refuse(struct fs *fs, uint64_t ino, const char *name, bool creates)
{
    if (name && is_ctl_name(ino, name) && !fs->ctl->alone)
        return creates ? -EEXIST : -EPERM;
    /* Files, links and renames in /.ghostfs/snapshots: only directories,
     * made and removed by mkdir and rmdir, are snapshots. */
    if (ino == CTL_SNAPS_INO && !fs->ctl->alone)
        return -EPERM;
    return -EROFS;
}

/* ---- the control tree's life ----------------------------------------------------------- */

/* A real entry named FS_CTL_NAME in the root: say it is shadowed. */
static void warn_shadowed(struct fs *fs)
{
    struct ghost_txn *t;
    uint64_t child;
    if (ghost_txn_begin(fs->g, &t))
        return;
    int e = dirent_get(t, FS_ROOT_INO, FS_CTL_NAME, strlen(FS_CTL_NAME), &child, NULL);
    ghost_txn_abort(t);
    if (!e)
        ghost_log_warning("the root holds an entry named %s (inode %llu), hidden by the control "
                          "tree of that name; mount a snapshot alone (-o snapshot=NAME) to "
                          "reach it",
                          FS_CTL_NAME, (unsigned long long)child);
}

int ctl_open(struct fs *fs, const char *snapshot)
{
    struct ctl *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    c->nslots = 1;
    c->slots_max = CTL_SLOTS_MAX;
    c->doc_max = CTL_DOC_MAX;
    c->slots = calloc(1, sizeof *c->slots);
    fs->ctl = c;
    if (!c->slots)
        return -ENOMEM;
    if (!snapshot) {
        warn_shadowed(fs);
        return 0;
    }
    c->alone = true;
    struct fs_attr a;
    int e = view_root(fs, snapshot, false, &a); /* slot 1: the whole mount */
    if (e)
        return e;
    assert(c->nslots == 2);
    if (fs->readonly) {
        ghost_log_warning("snapshot %s is mounted from a read-only store: nothing marks it "
                          "mounted, and deleting it is not refused",
                          snapshot);
        return 0;
    }
    return snap_mount_mark(fs, snapshot);
}

void ctl_close(struct fs *fs)
{
    struct ctl *c = fs->ctl;
    if (!c)
        return;
    snap_mount_unmark(fs);
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
    fs->ctl = NULL;
}
