/*
 * orphan.c - inodes whose last link went while they were in use, and
 * deleting an inode with everything it owns.
 *
 * Unlinking the last name of an inode that is still open or known to the
 * kernel records it in the orphan map (FS_MAP_ORPHAN on FS_ORPHAN_OID, key
 * inode:8, value the owner "bootid pid" of this process) instead of
 * deleting it; the last release or forget deletes it, and a mount after a
 * crash deletes orphans whose process is gone. This file owns that map's
 * layout.
 *
 * A big file whose last link went is not deleted when this process lets go
 * of it (inode_release: at the unlink, or at the kernel's last forget): its
 * orphan entry is given the owner ORPHAN_DEFERRED and the call returns at
 * once; the crawler deletes it a slice at a time, at its share of a core
 * (fs_reclaim_deferred, the crawler's work), and never while this process
 * holds the inode again. Until then its blocks count as used, in statfs as
 * in the store (they are still there: statfs's used space is the store's),
 * and `ghostfs status` shows the backlog: files, their size, and the blocks
 * still stored, which fall slice by slice. A big inode is deleted
 * in slices, one transaction each, and the last one deletes the record and the orphan entry - after
 * checking that the inode is still unlinked (nothing reachable is ever reclaimed).
 *
 * No locks of fs/ are taken here: the callers have dropped theirs.
 */
#include "orphan.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vec.h"

void orphan_owner(char *owner, size_t size)
{
    char boot[40] = "unknown";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fgets(boot, sizeof boot, f))
            boot[strcspn(boot, "\n")] = 0;
        fclose(f);
    }
    snprintf(owner, size, "%s %d", boot, (int)getpid());
}

int orphan_put(struct ghost_txn *t, struct fs *fs, uint64_t ino)
{
    unsigned char k[8];
    put_be64(k, ino);
    return ghost_map_put(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, k, 8, fs->owner, strlen(fs->owner));
}

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
    size_t slice; /* keys per transaction */
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
    e = inode_delete_maps(t, c->ino, c->slice, false);
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
    struct reclaim_ctx c = {.fs = fs, .ino = ino, .slice = RECLAIM_SLICE};
    int e = 0;
    while (!e && !c.done)
        e = fs_run(fs, reclaim_fn, &c);
    return e;
}

/* A file of more blocks than this (by its size) is a deferred delete. */
#define DEFER_BLOCKS 1024

struct defer_ctx {
    struct fs *fs;
    uint64_t ino;
    bool deferred;
};

static int defer_fn(struct ghost_txn *t, void *arg)
{
    struct defer_ctx *c = arg;
    struct rec r;
    c->deferred = false;
    int e = rec_get(t, c->ino, &r);
    if (e || r.nlink > 0 || r.size / c->fs->bs <= DEFER_BLOCKS)
        return e == -ENOENT ? 0 : e;
    e = orphan_defer(t, c->ino);
    c->deferred = e == 0;
    return e;
}

int inode_release(struct fs *fs, uint64_t ino)
{
    if (atomic_load(&fs->defer)) {
        struct defer_ctx c = {fs, ino, false};
        int e = fs_run(fs, defer_fn, &c);
        if (e)
            return e;
        if (c.deferred) {
            ghost_crawl_wake(fs->g);
            return 0;
        }
    }
    return inode_reclaim(fs, ino);
}

int orphan_defer(struct ghost_txn *t, uint64_t ino)
{
    unsigned char k[8];
    put_be64(k, ino);
    return ghost_map_put(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, k, 8, ORPHAN_DEFERRED,
                         strlen(ORPHAN_DEFERRED));
}

static bool is_deferred(const void *owner, size_t len)
{
    return len == strlen(ORPHAN_DEFERRED) && !memcmp(owner, ORPHAN_DEFERRED, len);
}

struct deferred_scan {
    struct fs *fs;
    uint64_t first; /* the first deferred inode to take, 0 if none */
    uint64_t count;
    VEC(uint64_t) inos; /* all of them, if wanted */
    bool all;
};

/* Is ino one to leave alone for now: held here again (a handle's lookup),
 * or one whose reclaim failed (damage) in this process? */
static bool defer_skip(struct fs *fs, uint64_t ino)
{
    if (fs_is_known(fs, ino))
        return true;
    for (int i = 0; i < DEFER_FAILED_MAX; i++)
        if (fs->defer_failed[i] == ino)
            return true;
    return false;
}

static int deferred_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct deferred_scan *s = arg;
    if (klen != 8 || !is_deferred(val, vlen))
        return 0;
    uint64_t ino = get_be64(key);
    if (!s->first && (s->all || !defer_skip(s->fs, ino)))
        s->first = ino;
    s->count++;
    if (s->all && vec_push(&s->inos, ino))
        return -ENOMEM;
    return s->all || !s->first ? 0 : 1; /* the first to take is enough */
}

int fs_reclaim_deferred(struct fs *fs, unsigned max_keys)
{
    struct ghost_txn *t;
    struct deferred_scan s = {.fs = fs};
    if (fs_readonly(fs))
        return 0; /* remounted read-only: they wait */
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = ghost_map_scan(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, NULL, 0, deferred_visit, &s);
    ghost_txn_abort(t);
    if (e < 0)
        return e;
    if (!s.first)
        return 0;
    /* One slice of one inode; the next call goes on (with it or the next).
     * Under ro_lock, so that a remount to read-only finds it done. */
    size_t slice = max_keys && max_keys < RECLAIM_SLICE ? max_keys : RECLAIM_SLICE;
    struct reclaim_ctx c = {.fs = fs, .ino = s.first, .slice = slice};
    pthread_rwlock_rdlock(&fs->ro_lock);
    e = fs_readonly(fs) ? 0 : fs_run(fs, reclaim_fn, &c);
    pthread_rwlock_unlock(&fs->ro_lock);
    if (e < 0) {
        /* Not again in this process: the others go on (the crawler's scrub
         * reports damage; the next mount tries it again). */
        fs->defer_failed[fs->defer_failed_next++ % DEFER_FAILED_MAX] = s.first;
        ghost_log_warning("deferred delete of inode %" PRIu64 " failed: %s; left for now", s.first,
                          ghost_errmsg());
        return 1;
    }
    return 1;
}

int fs_deferred_backlog(struct fs *fs, uint64_t *files, uint64_t *bytes, uint64_t *blocks)
{
    struct ghost_txn *t;
    struct deferred_scan s = {.all = true};
    *files = *bytes = *blocks = 0;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return fs_errno(e);
    e = ghost_map_scan(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, NULL, 0, deferred_visit, &s);
    for (size_t i = 0; e >= 0 && i < s.inos.n; i++) {
        struct rec r;
        struct ghost_tally tally;
        if (rec_get(t, s.inos.v[i], &r) == 0)
            *bytes += r.size;
        /* O(1): the data map's tally (none kept in a store read unconverted) */
        if (ghost_map_tally(t, s.inos.v[i], FS_MAP_DATA, &tally) == 0)
            *blocks += tally.count;
    }
    ghost_txn_abort(t);
    *files = s.count;
    vec_free(&s.inos);
    return e < 0 ? fs_errno(e) : 0;
}

struct orphan_scan {
    struct fs *fs;
    bool ours_only;
    VEC(uint64_t) inos;
};

bool owner_alive(const char *owner, size_t len, const char *me)
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
    if (is_deferred(val, vlen))
        return 0; /* the crawler's (fs_reclaim_deferred), at its pace */
    bool mine = vlen == strlen(s->fs->owner) && !memcmp(val, s->fs->owner, vlen);
    if (s->ours_only ? !mine : (!mine && owner_alive(val, vlen, s->fs->owner)))
        return 0;
    if (!s->ours_only && mine)
        return 0; /* ours are still in use; release/forget reclaims them */
    return vec_push(&s->inos, get_be64(key));
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
    for (size_t i = 0; e >= 0 && i < s.inos.n; i++)
        e = inode_reclaim(fs, s.inos.v[i]);
    vec_free(&s.inos);
    return e < 0 ? e : 0;
}
