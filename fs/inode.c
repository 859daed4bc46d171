/*
 * inode.c - inode records, the in-memory inode table, attributes, and the
 * life of an inode: mkfs and mount, lookup counts, open and release, and
 * reclaiming inodes whose last link went away.
 *
 * The record (FS_OBJ_INODE object, all integers big-endian):
 *   mode:4 uid:4 gid:4 nlink:4 size:8 atime:8 mtime:8 ctime:8 btime:8
 *   rdev:8 parent:8 dv:8 stored:8 flags:4  then inline data (small files,
 *   symlinks)
 * Times are signed nanoseconds since the epoch.
 *
 * The table holds an entry for each inode the kernel knows (nlookup), that
 * is open (nopen), that has buffered writes, or that a running call is
 * using (refs); it is freed when all four are gone. Its pins mirror the
 * kernel's references in the libghost cache, so memory follows what the
 * kernel holds, not the size of the store.
 *
 * Unlinking the last name of an inode that is still open or known to the
 * kernel records it in the orphan map (with this process's boot id and pid)
 * instead of deleting it; the last release or forget deletes it, and a mount
 * after a crash deletes orphans whose process is gone.
 */
#include "fsint.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file_space.h"
#include "flusher.h"
#include "wb_commit.h"

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rec_get(struct ghost_txn *t, uint64_t ino, struct rec *r)
{
    uint8_t type;
    const void *d;
    size_t len;
    int e = ghost_obj_get(t, ino, &type, &d, &len);
    if (e)
        return e == -GHOST_ECORRUPT ? -EIO : e;
    if (type != FS_OBJ_INODE)
        return -ENOENT;
    if (len < REC_HDR)
        return -EIO;
    const unsigned char *p = d;
    r->mode = get_be32(p);
    r->uid = get_be32(p + 4);
    r->gid = get_be32(p + 8);
    r->nlink = get_be32(p + 12);
    r->size = get_be64(p + 16);
    r->atime = (int64_t)get_be64(p + 24);
    r->mtime = (int64_t)get_be64(p + 32);
    r->ctime = (int64_t)get_be64(p + 40);
    r->btime = (int64_t)get_be64(p + 48);
    r->rdev = get_be64(p + 56);
    r->parent = get_be64(p + 64);
    r->dv = get_be64(p + 72);
    r->stored = get_be64(p + 80);
    r->flags = get_be32(p + 88);
    r->inl = p + REC_HDR;
    r->inl_len = len - REC_HDR;
    return 0;
}

int rec_put(struct ghost_txn *t, uint64_t ino, const struct rec *r)
{
    unsigned char stackbuf[REC_HDR + 512];
    size_t len = REC_HDR + r->inl_len;
    unsigned char *p = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!p)
        return -ENOMEM;
    put_be32(p, r->mode);
    put_be32(p + 4, r->uid);
    put_be32(p + 8, r->gid);
    put_be32(p + 12, r->nlink);
    put_be64(p + 16, r->size);
    put_be64(p + 24, (uint64_t)r->atime);
    put_be64(p + 32, (uint64_t)r->mtime);
    put_be64(p + 40, (uint64_t)r->ctime);
    put_be64(p + 48, (uint64_t)r->btime);
    put_be64(p + 56, r->rdev);
    put_be64(p + 64, r->parent);
    put_be64(p + 72, r->dv);
    put_be64(p + 80, r->stored);
    put_be32(p + 88, r->flags);
    if (r->inl_len)
        memcpy(p + REC_HDR, r->inl, r->inl_len);
    int e = ghost_obj_put(t, ino, FS_OBJ_INODE, p, len);
    if (p != stackbuf)
        free(p);
    return e;
}

void rec_attr(struct fs *fs, uint64_t ino, const struct rec *r, struct fs_attr *a)
{
    memset(a, 0, sizeof *a);
    a->ino = ino;
    a->mode = r->mode;
    a->uid = r->uid;
    a->gid = r->gid;
    a->nlink = r->nlink;
    a->size = r->size;
    a->blocks = ((r->flags & INODE_INLINE ? r->inl_len : r->stored) + 511) / 512;
    a->rdev = r->rdev;
    a->atime_ns = r->atime;
    a->mtime_ns = r->mtime;
    a->ctime_ns = r->ctime;
    a->btime_ns = r->btime;
    a->blksize = fs->bs;
}

/* ---- the inode table ------------------------------------------------------- */

static size_t slot(struct fs *fs, uint64_t ino)
{
    return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 24) & (fs->nbuckets - 1);
}

static void table_grow(struct fs *fs)
{
    size_t n = fs->nbuckets * 2;
    struct inode **b = calloc(n, sizeof *b);
    if (!b)
        return;
    struct inode **old = fs->buckets;
    size_t oldn = fs->nbuckets;
    fs->buckets = b;
    fs->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        struct inode *in = old[i], *next;
        for (; in; in = next) {
            next = in->hnext;
            size_t j = slot(fs, in->ino);
            in->hnext = b[j];
            b[j] = in;
        }
    }
    free(old);
}

static struct inode *find_locked(struct fs *fs, uint64_t ino)
{
    struct inode *in = fs->buckets[slot(fs, ino)];
    while (in && in->ino != ino)
        in = in->hnext;
    return in;
}

static struct inode *get_locked(struct fs *fs, uint64_t ino)
{
    struct inode *in = find_locked(fs, ino);
    if (in)
        return in;
    in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->ino = ino;
    pthread_rwlock_init(&in->rw, NULL);
    size_t i = slot(fs, ino);
    in->hnext = fs->buckets[i];
    fs->buckets[i] = in;
    if (++fs->count > fs->nbuckets)
        table_grow(fs);
    return in;
}

struct inode *inode_get(struct fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = get_locked(fs, ino);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&fs->itab_lock);
    return in;
}

static bool unused(const struct inode *in)
{
    return !in->nlookup && !in->nopen && !in->refs && !in->wb && !in->wb_old && !in->dirty;
}

static void free_locked(struct fs *fs, struct inode *in)
{
    struct inode **pp = &fs->buckets[slot(fs, in->ino)];
    while (*pp != in)
        pp = &(*pp)->hnext;
    *pp = in->hnext;
    fs->count--;
    pthread_rwlock_destroy(&in->rw);
    free(in->name);
    free(in);
}

/* Drop a temporary reference; reclaim an unlinked inode nobody uses. */
void inode_put(struct fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->itab_lock);
    in->refs--;
    bool reclaim = in->unlinked && !in->nlookup && !in->nopen && !in->refs;
    uint64_t ino = in->ino;
    if (reclaim)
        in->unlinked = false;
    if (unused(in) && !reclaim)
        free_locked(fs, in);
    pthread_mutex_unlock(&fs->itab_lock);
    if (reclaim) {
        inode_reclaim(fs, ino);
        pthread_mutex_lock(&fs->itab_lock);
        in = find_locked(fs, ino);
        if (in && unused(in))
            free_locked(fs, in);
        pthread_mutex_unlock(&fs->itab_lock);
    }
}

void inode_looked_up(struct fs *fs, uint64_t ino, uint64_t parent, const char *name)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = get_locked(fs, ino);
    if (in) {
        if (in->nlookup++ == 0)
            ghost_pin(fs->g, ino, 1);
        if (name && (in->parent != parent || !in->name || strcmp(in->name, name))) {
            free(in->name);
            in->name = strdup(name);
            in->parent = parent;
        }
    }
    pthread_mutex_unlock(&fs->itab_lock);
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = find_locked(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->itab_lock);
        return;
    }
    in->refs++;
    uint64_t before = in->nlookup;
    in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
    if (before && !in->nlookup)
        ghost_unpin(fs->g, ino, 1);
    pthread_mutex_unlock(&fs->itab_lock);
    inode_put(fs, in);
}

/* ---- attributes --------------------------------------------------------------- */

int rec_peek(struct fs *fs, uint64_t ino, struct rec *r)
{
    struct ghost_txn *t;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = rec_get(t, ino, r);
    ghost_txn_abort(t);
    r->inl = NULL;
    return e;
}

/* The attributes of ino as stored. */
static int stored_attr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    struct rec r;
    int e = rec_peek(fs, ino, &r);
    if (!e)
        rec_attr(fs, ino, &r, out);
    return e;
}

int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    uint64_t mark = commit_mark(fs);
    int e = stored_attr(fs, ino, out);
    if (e)
        return e;
    attr_merge_buffered(fs, out, mark);
    return 0;
}

void attr_merge_buffered(struct fs *fs, struct fs_attr *a, uint64_t mark)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = find_locked(fs, a->ino);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&fs->itab_lock);
    if (!in)
        return;
    pthread_rwlock_rdlock(&in->rw);
    struct fs_attr fresh;
    if (atomic_load(&in->last_commit) > mark && stored_attr(fs, a->ino, &fresh) == 0)
        *a = fresh;
    if (in->wb_old)
        wb_merge_attr(in->wb_old, a);
    if (in->wb)
        wb_merge_attr(in->wb, a);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
}

struct setattr_ctx {
    struct fs *fs;
    uint64_t ino;
    const struct fs_attr *in;
    unsigned set;
    struct fs_attr *out;
};

static int setattr_fn(struct ghost_txn *t, void *arg)
{
    struct setattr_ctx *c = arg;
    struct rec r;
    int64_t now = now_ns();
    int e = rec_get(t, c->ino, &r);
    if (e)
        return e;
    if (c->set & FS_SET_SIZE) {
        if (S_ISDIR(r.mode))
            return -EISDIR;
        if (!S_ISREG(r.mode))
            return -EINVAL;
        e = truncate_txn(c->fs, t, c->ino, &r, c->in->size);
        if (e)
            return e;
        r.mtime = now;
    }
    if (c->set & FS_SET_MODE)
        r.mode = (r.mode & S_IFMT) | (c->in->mode & 07777);
    if (c->set & FS_SET_UID)
        r.uid = c->in->uid;
    if (c->set & FS_SET_GID)
        r.gid = c->in->gid;
    if (c->set & FS_SET_ATIME_NOW)
        r.atime = now;
    else if (c->set & FS_SET_ATIME)
        r.atime = c->in->atime_ns;
    if (c->set & FS_SET_MTIME_NOW)
        r.mtime = now;
    else if (c->set & FS_SET_MTIME)
        r.mtime = c->in->mtime_ns;
    r.ctime = (c->set & FS_SET_CTIME) ? c->in->ctime_ns : now;
    e = rec_put(t, c->ino, &r);
    if (!e)
        rec_attr(c->fs, c->ino, &r, c->out);
    return e;
}

int fs_setattr(struct fs *fs, uint64_t ino, const struct fs_attr *in_attr, unsigned to_set,
               struct fs_attr *out)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    /* Owner, mode and times of a file with buffered writes join its write
     * buffer and commit with it: at the FLUSH of the writer's close, fsync,
     * release or the commit interval. */
    pthread_mutex_lock(&fs->itab_lock);
    bool open = in->nopen > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    if (open && in->wb && in->wb->data && !fs->readonly && !(to_set & ~WB_SETTABLE)) {
        int e = wb_setattr(fs, in, in_attr, to_set, out);
        if (e != -EAGAIN) {
            pthread_rwlock_unlock(&in->rw);
            inode_put(fs, in);
            return e;
        }
    }
    /* Otherwise commit buffered writes first: a truncate must cut them too,
     * and the times set here must not be overwritten by a later commit. */
    int e = wb_commit(fs, in);
    if (!e) {
        struct setattr_ctx c = {fs, ino, in_attr, to_set, out};
        e = ghost_run(fs->g, setattr_fn, &c);
    }
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return e == -GHOST_ECORRUPT ? -EIO : e;
}

/* ---- open and release ------------------------------------------------------------ */

int fs_open_file(struct fs *fs, uint64_t ino, int flags, bool *keep_cache)
{
    struct rec r;
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    /* Count the open and read the record under the inode's lock: an unlink
     * (which holds it across its transaction) then either sees us open, or
     * has deleted the inode before we look. */
    pthread_rwlock_wrlock(&in->rw);
    int e = rec_peek(fs, ino, &r);
    if (!e && S_ISDIR(r.mode) && (flags & O_ACCMODE) != O_RDONLY)
        e = -EISDIR;
    if (!e) {
        *keep_cache = in->dv_known && in->cached_dv == r.dv;
        in->cached_dv = r.dv;
        in->dv_known = true;
        pthread_mutex_lock(&fs->itab_lock);
        in->nopen++;
        pthread_mutex_unlock(&fs->itab_lock);
    }
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return e;
}

int fs_release(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_get(fs, ino);
    if (!in)
        return -ENOMEM;
    pthread_rwlock_wrlock(&in->rw);
    int e = wb_commit(fs, in);
    pthread_mutex_lock(&fs->itab_lock);
    if (in->nopen)
        in->nopen--;
    pthread_mutex_unlock(&fs->itab_lock);
    pthread_rwlock_unlock(&in->rw);
    inode_put(fs, in);
    return e;
}

/* ---- reclaiming unlinked inodes ----------------------------------------------------- */

struct keys {
    unsigned char (*k)[GHOST_KEY_MAX];
    size_t *len;
    uint8_t *map;
    uint8_t cur; /* the map being scanned */
    size_t n, max;
};

static int collect_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct keys *ks = arg;
    (void)val;
    (void)vlen;
    if (ks->n == ks->max)
        return 1;
    memcpy(ks->k[ks->n], key, klen);
    ks->len[ks->n] = klen;
    ks->map[ks->n++] = ks->cur;
    return 0;
}

int inode_delete_maps(struct ghost_txn *t, uint64_t ino, size_t max, bool whole)
{
    static const uint8_t maps[] = {FS_MAP_DATA, FS_MAP_XATTR, FS_MAP_DIRENT, FS_MAP_BACKREF};
    struct keys ks = {.max = whole ? max + 1 : max};
    ks.k = malloc(ks.max * sizeof *ks.k);
    ks.len = malloc(ks.max * sizeof *ks.len);
    ks.map = malloc(ks.max);
    int e = ks.k && ks.len && ks.map ? 0 : -ENOMEM;
    for (size_t m = 0; !e && m < sizeof maps && ks.n < ks.max; m++) {
        ks.cur = maps[m];
        e = ghost_map_scan(t, ino, maps[m], NULL, 0, collect_key, &ks);
        e = e > 0 ? 0 : e;
    }
    bool all = ks.n < ks.max;
    if (!e && (all || !whole))
        for (size_t i = 0; !e && i < ks.n; i++)
            e = ghost_map_del(t, ino, ks.map[i], ks.k[i], ks.len[i]);
    free(ks.k);
    free(ks.len);
    free(ks.map);
    return e ? e : all;
}

struct reclaim_ctx {
    struct fs *fs;
    uint64_t ino;
    bool done;
};

/* Delete up to RECLAIM_SLICE keys of the inode's maps per transaction; the
 * last transaction deletes the inode and its orphan entry, after checking
 * that it is still unlinked (nothing reachable is ever reclaimed). */
#define RECLAIM_SLICE 2048

static int reclaim_fn(struct ghost_txn *t, void *arg)
{
    struct reclaim_ctx *c = arg;
    struct rec r;
    unsigned char okey[8];
    put_be64(okey, c->ino);
    int e = rec_get(t, c->ino, &r);
    if (e == -ENOENT) {
        c->done = true;
        return ghost_map_del(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, okey, 8);
    }
    if (e)
        return e;
    if (r.nlink > 0) { /* linked again (or never unlinked): keep it */
        c->done = true;
        return ghost_map_del(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, okey, 8);
    }
    e = inode_delete_maps(t, c->ino, RECLAIM_SLICE, false);
    if (e < 0)
        return e;
    c->done = e == 1;
    if (!c->done) /* more to go: keep the inode, touch it so a racing link conflicts */
        return rec_put(t, c->ino, &r);
    e = ghost_obj_del(t, c->ino);
    return e ? e : ghost_map_del(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, okey, 8);
}

int inode_reclaim(struct fs *fs, uint64_t ino)
{
    struct reclaim_ctx c = {.fs = fs, .ino = ino};
    int e = 0;
    while (!e && !c.done)
        e = ghost_run(fs->g, reclaim_fn, &c);
    return e;
}

struct orphan_scan {
    struct fs *fs;
    bool ours_only;
    uint64_t *inos;
    size_t n, cap;
};

static bool owner_alive(const char *owner, size_t len, const char *me)
{
    /* owner is "bootid pid"; another boot means the process is gone. */
    size_t mylen = strlen(me);
    const char *sp = memchr(owner, ' ', len);
    const char *mysp = strchr(me, ' ');
    if (!sp || !mysp || (size_t)(sp - owner) != (size_t)(mysp - me) ||
        memcmp(owner, me, (size_t)(sp - owner)))
        return false;
    char pidbuf[16] = {0};
    size_t pl = len - (size_t)(sp - owner) - 1;
    if (pl >= sizeof pidbuf)
        return false;
    memcpy(pidbuf, sp + 1, pl);
    pid_t pid = (pid_t)atol(pidbuf);
    (void)mylen;
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static int orphan_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct orphan_scan *s = arg;
    if (klen != 8)
        return 0;
    bool mine = vlen == strlen(s->fs->owner) && !memcmp(val, s->fs->owner, vlen);
    if (s->ours_only ? !mine : (!mine && owner_alive(val, vlen, s->fs->owner)))
        return 0;
    if (!s->ours_only && mine)
        return 0; /* ours are still in use; release/forget reclaims them */
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        uint64_t *p = realloc(s->inos, s->cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->inos = p;
    }
    s->inos[s->n++] = get_be64(key);
    return 0;
}

int orphans_reclaim(struct fs *fs, bool ours_only)
{
    struct ghost_txn *t;
    struct orphan_scan s = {.fs = fs, .ours_only = ours_only};
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = ghost_map_scan(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, NULL, 0, orphan_visit, &s);
    ghost_txn_abort(t);
    for (size_t i = 0; e >= 0 && i < s.n; i++)
        e = inode_reclaim(fs, s.inos[i]);
    free(s.inos);
    return e < 0 ? e : 0;
}

/* ---- mkfs, mount, statfs -------------------------------------------------------------- */

void fs_options_init(struct fs_options *o)
{
    memset(o, 0, sizeof *o);
    ghost_options_init(&o->store);
    o->write_buffer = (size_t)256 << 20;
    o->commit_interval_ms = 1000;
}

struct mkfs_ctx {
    uint32_t bs;
};

static int mkfs_fn(struct ghost_txn *t, void *arg)
{
    struct mkfs_ctx *c = arg;
    unsigned char sb[12];
    put_be32(sb, 1);
    put_be32(sb + 4, c->bs);
    put_be32(sb + 8, FS_INLINE_MAX);
    int e = ghost_obj_put(t, FS_SUPER_OID, FS_OBJ_SUPER, sb, sizeof sb);
    int64_t now = now_ns();
    struct rec r = {.mode = S_IFDIR | 0755,
                    .uid = (uint32_t)getuid(),
                    .gid = (uint32_t)getgid(),
                    .nlink = 2,
                    .atime = now,
                    .mtime = now,
                    .ctime = now,
                    .btime = now,
                    .parent = FS_ROOT_INO};
    return e ? e : rec_put(t, FS_ROOT_INO, &r);
}

int fs_mkfs(const char *store, uint32_t block_size)
{
    struct mkfs_ctx c = {block_size ? block_size : FS_BLOCK_DEFAULT};
    if (c.bs < 4096 || c.bs > (1u << 20) || (c.bs & (c.bs - 1)))
        return -EINVAL;
    int e = ghost_mkfs(store);
    if (e)
        return e;
    /* sync=always: LMDB writes the few pages of a new filesystem with
     * pwrite and syncs them, so the file is as long as what it holds (the
     * other modes write through a map as long as the file). */
    struct ghost_options o;
    ghost_options_init(&o);
    o.sync = GHOST_SYNC_ALWAYS;
    struct ghost *g;
    e = ghost_open(store, &o, &g);
    if (e)
        return e;
    e = ghost_run(g, mkfs_fn, &c);
    ghost_sync(g);
    ghost_close(g);
    return e;
}

static void on_invalidate(void *arg, uint64_t oid)
{
    struct fs *fs = arg;
    if (fs->notify)
        fs->notify(fs->notify_arg, oid);
}

void fs_set_notify(struct fs *fs, fs_notify_fn fn, void *arg)
{
    fs->notify_arg = arg;
    fs->notify = fn;
}

int fs_open(const char *store, const struct fs_options *o, struct fs **out)
{
    struct fs_options defaults;
    fs_options_init(&defaults);
    if (!o)
        o = &defaults;
    struct fs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    struct ghost_options go = o->store;
    go.invalidate = on_invalidate;
    go.invalidate_arg = fs;
    go.poll = true;
    int e = ghost_open(store, &go, &fs->g);
    if (e) {
        free(fs);
        return e;
    }
    /* Read the superblock. */
    struct ghost_txn *t;
    uint8_t type;
    const void *d;
    size_t len;
    e = ghost_txn_begin(fs->g, &t);
    if (!e) {
        e = ghost_obj_get(t, FS_SUPER_OID, &type, &d, &len);
        if (e == -ENOENT || (!e && (type != FS_OBJ_SUPER || len < 12)))
            e = -EMEDIUMTYPE;
        if (!e) {
            fs->bs = get_be32((const unsigned char *)d + 4);
            fs->inline_max = get_be32((const unsigned char *)d + 8);
            if (get_be32(d) != 1)
                e = -EPROTONOSUPPORT;
        }
        ghost_txn_abort(t);
    }
    if (e) {
        ghost_close(fs->g);
        free(fs);
        return e;
    }
    pthread_mutex_init(&fs->itab_lock, NULL);
    pthread_mutex_init(&fs->dirty_lock, NULL);
    pthread_cond_init(&fs->dirty_cond, NULL);
    pthread_cond_init(&fs->old_cond, NULL);
    fs->nbuckets = 1024;
    fs->buckets = calloc(fs->nbuckets, sizeof *fs->buckets);
    fs->budget = o->write_buffer ? o->write_buffer : defaults.write_buffer;
    fs->interval_ms = o->commit_interval_ms ? o->commit_interval_ms : 1000;
    fs->readonly = o->store.readonly;

    char boot[40] = "unknown";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fgets(boot, sizeof boot, f))
            boot[strcspn(boot, "\n")] = 0;
        fclose(f);
    }
    snprintf(fs->owner, sizeof fs->owner, "%s %d", boot, (int)getpid());

    e = fs->buckets ? flusher_start(fs) : -ENOMEM;
    if (!e && !o->store.readonly)
        orphans_reclaim(fs, false);
    if (e) {
        fs_close(fs);
        return e;
    }
    *out = fs;
    return 0;
}

void fs_close(struct fs *fs)
{
    if (!fs)
        return;
    flush_all(fs);
    flusher_stop(fs);
    if (!fs->g)
        return;
    if (!fs->readonly)
        orphans_reclaim(fs, true);
    ghost_sync(fs->g);
    for (size_t i = 0; i < fs->nbuckets; i++) {
        struct inode *in = fs->buckets[i], *n;
        for (; in; in = n) {
            n = in->hnext;
            wb_free(in->wb);
            wb_free(in->wb_old);
            pthread_rwlock_destroy(&in->rw);
            free(in->name);
            free(in);
        }
    }
    free(fs->buckets);
    ghost_close(fs->g);
    pthread_mutex_destroy(&fs->itab_lock);
    pthread_mutex_destroy(&fs->dirty_lock);
    pthread_cond_destroy(&fs->dirty_cond);
    pthread_cond_destroy(&fs->old_cond);
    free(fs);
}

struct ghost *fs_store(struct fs *fs) { return fs->g; }

uint32_t fs_block_size(struct fs *fs) { return fs->bs; }

int fs_statfs(struct fs *fs, struct statvfs *st)
{
    struct ghost_usage u;
    int e = ghost_usage(fs->g, &u);
    if (e)
        return e;
    memset(st, 0, sizeof *st);
    st->f_bsize = fs->bs;
    st->f_frsize = 4096;
    st->f_blocks = u.total_bytes / 4096;
    st->f_bfree = u.free_bytes / 4096;
    st->f_bavail = st->f_bfree;
    /* Any free 4 KiB could hold an inode; OIDs never run out. */
    st->f_files = u.objects + st->f_bfree;
    st->f_ffree = st->f_bfree;
    st->f_favail = st->f_ffree;
    st->f_namemax = FS_NAME_MAX;
    return 0;
}

int fs_syncfs(struct fs *fs)
{
    int e = flush_all(fs);
    int e2 = ghost_sync(fs->g);
    return e ? e : e2;
}

/* ---- what the kernel knows, for the notifier ------------------------------------- */

bool fs_is_known(struct fs *fs, uint64_t ino)
{
    if (ino == FS_ROOT_INO) /* the kernel holds the root without a lookup */
        return true;
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = find_locked(fs, ino);
    bool known = in && in->nlookup > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    return known;
}

void fs_known_inodes(struct fs *fs, void (*fn)(void *arg, uint64_t ino), void *arg)
{
    uint64_t *inos = NULL;
    size_t n = 0;
    pthread_mutex_lock(&fs->itab_lock);
    inos = malloc((fs->count + 1) * sizeof *inos);
    if (inos)
        inos[n++] = FS_ROOT_INO;
    for (size_t i = 0; inos && i < fs->nbuckets; i++)
        for (struct inode *in = fs->buckets[i]; in; in = in->hnext)
            if (in->nlookup && in->ino != FS_ROOT_INO)
                inos[n++] = in->ino;
    pthread_mutex_unlock(&fs->itab_lock);
    for (size_t i = 0; i < n; i++)
        fn(arg, inos[i]);
    free(inos);
}

struct known_name {
    uint64_t ino;
    char *name;
};

void fs_stale_names(struct fs *fs, uint64_t dir,
                    void (*fn)(void *arg, uint64_t parent, const char *name), void *arg)
{
    struct known_name *names = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&fs->itab_lock);
    for (size_t i = 0; i < fs->nbuckets; i++)
        for (struct inode *in = fs->buckets[i]; in; in = in->hnext) {
            if (!in->nlookup || in->parent != dir || !in->name)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct known_name *p = realloc(names, cap * sizeof *p);
                if (!p)
                    goto unlock;
                names = p;
            }
            names[n].ino = in->ino;
            names[n].name = strdup(in->name);
            if (names[n].name)
                n++;
        }
unlock:
    pthread_mutex_unlock(&fs->itab_lock);
    struct ghost_txn *t = NULL;
    if (n && ghost_txn_begin(fs->g, &t))
        t = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t child = 0;
        bool same = false;
        if (t) {
            unsigned char k[8 + FS_NAME_MAX];
            size_t len = strlen(names[i].name);
            const void *v;
            size_t vlen;
            put_be64(k, name_hash(names[i].name, len));
            memcpy(k + 8, names[i].name, len);
            if (ghost_map_get(t, dir, FS_MAP_DIRENT, k, 8 + len, &v, &vlen) == 0 && vlen == 9) {
                child = get_be64(v);
                same = child == names[i].ino;
            }
        }
        if (!same)
            fn(arg, dir, names[i].name);
        free(names[i].name);
    }
    if (t)
        ghost_txn_abort(t);
    free(names);
}
