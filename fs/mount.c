/*
 * mount.c - the life of a filesystem: mkfs, opening (reading the
 * superblock, starting the flusher, reclaiming a crash's orphans),
 * closing, statfs and syncfs.
 *
 * Lock order, for all of fs/, is written in fsint.h; this file creates and
 * destroys those locks, and nothing else runs while it does.
 */
#include "fsint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "findings.h"
#include "flusher.h"
#include "itable.h"
#include "orphan.h"
#include "super.h"

int fs_crawl_work(void *arg, unsigned max_keys)
{
    return fs_reclaim_deferred(arg, max_keys);
}

void fs_options_init(struct fs_options *o)
{
    memset(o, 0, sizeof *o);
    ghost_options_init(&o->store);
    ghost_crawl_options_init(&o->crawl);
    o->write_buffer = (size_t)256 << 20;
    o->commit_interval_ms = 1000;
}

struct mkfs_ctx {
    uint32_t bs;
};

static int mkfs_fn(struct ghost_txn *t, void *arg)
{
    struct mkfs_ctx *c = arg;
    struct super sb = {.version = SUPER_VERSION, .block_size = c->bs, .inline_max = FS_INLINE_MAX};
    int e = super_put(t, &sb);
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
    /* Back references and orphans keep no tally: the link count is the
     * back references' count, and the crawler finds an orphan by its
     * link count too. */
    uint64_t untallied = UINT64_C(1) << FS_MAP_BACKREF | UINT64_C(1) << FS_MAP_ORPHAN;
    return fs_errno(ghost_mkfs_init(store, untallied, mkfs_fn, &c));
}

/* Read the superblock into fs: its block size and inline limit. */
static int read_super(struct fs *fs)
{
    struct ghost_txn *t;
    struct super sb;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = super_get(t, &sb);
    if (!e) {
        fs->bs = sb.block_size;
        fs->inline_max = sb.inline_max;
    }
    ghost_txn_abort(t);
    return e;
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
    go.invalidate = notify_invalidate;
    go.invalidate_arg = fs;
    go.poll = true;
    int e = ghost_open(store, &go, &fs->g);
    if (e) {
        free(fs);
        return fs_errno(e);
    }
    e = read_super(fs);
    if (e) {
        ghost_close(fs->g);
        free(fs);
        return fs_errno(e);
    }
    pthread_mutex_init(&fs->itab_lock, NULL);
    pthread_mutex_init(&fs->dirty_lock, NULL);
    pthread_rwlock_init(&fs->ro_lock, NULL);
    list_init(&fs->dirty);
    pthread_cond_init(&fs->dirty_cond, NULL);
    pthread_cond_init(&fs->old_cond, NULL);
    int tab = itable_init(fs);
    fs->budget = o->write_buffer ? o->write_buffer : defaults.write_buffer;
    fs->interval_ms = o->commit_interval_ms ? o->commit_interval_ms : 1000;
    fs->readonly = o->store.readonly;
    fs->kernel_writeback = o->kernel_writeback;

    orphan_owner(fs->owner, sizeof fs->owner);

    e = tab ? tab : flusher_start(fs);
    if (!e && !o->store.readonly)
        orphans_reclaim(fs, false);
    if (!e)
        e = ctl_open(fs, o->snapshot);
    if (!e && o->crawl_on && !o->store.readonly && !o->snapshot) {
        struct ghost_crawl_options co = o->crawl;
        co.work = fs_crawl_work;
        co.work_arg = fs;
        co.found = fs_crawl_found;
        co.found_arg = fs;
        e = fs_errno(ghost_crawl_start(fs->g, &co, NULL));
        atomic_store(&fs->defer, e == 0 && co.cpu_permille > 0);
    }
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
    if (fs->g)
        ghost_crawl_stop(fs->g); /* saves its place, gives up its lease */
    flush_all(fs);
    flusher_stop(fs);
    ctl_close(fs);
    if (!fs->g)
        return;
    if (!fs->readonly)
        orphans_reclaim(fs, true);
    ghost_sync(fs->g);
    itable_free(fs);
    ghost_close(fs->g);
    pthread_mutex_destroy(&fs->itab_lock);
    pthread_mutex_destroy(&fs->dirty_lock);
    pthread_rwlock_destroy(&fs->ro_lock);
    pthread_cond_destroy(&fs->dirty_cond);
    pthread_cond_destroy(&fs->old_cond);
    free(fs);
}

struct ghost *fs_store(struct fs *fs)
{
    return fs->g;
}

uint32_t fs_block_size(struct fs *fs)
{
    return fs->bs;
}

int fs_statfs(struct fs *fs, struct statvfs *st)
{
    struct ghost_usage u;
    int e = fs_store_usage(fs, &u);
    if (e)
        return fs_errno(e);
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
    int e2 = fs_sync_store(fs);
    return fs_errno(e ? e : e2);
}
