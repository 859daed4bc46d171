/*
 * lmdb_open.c - the LMDB engine's life: creating a store's file, checking
 * that a file is an LMDB file before LMDB touches it and that it did not
 * fall back to an older generation (both in lmdb_meta.c), opening it with
 * the flags each durability mode needs, and closing it.
 *
 * The tables (lmdb_int.h): ENGINE_OBJ is LMDB's main database, the others
 * named ones; ENGINE_MAP gets versioned_cmp, the order engine.h states.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define LOG_ENTRIES_DEFAULT (UINT64_C(1) << 17) /* change log slots (3 MiB) */
#define MAX_READERS 1024

/* ENGINE_MAP's order (engine.h): the part before the 8-byte suffix, a
 * shorter part first, then the suffix. */
static int versioned_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t la = a->mv_size - 8, lb = b->mv_size - 8;
    int c = memcmp(a->mv_data, b->mv_data, la < lb ? la : lb);
    if (c)
        return c;
    if (la != lb)
        return la < lb ? -1 : 1;
    return memcmp((const char *)a->mv_data + la, (const char *)b->mv_data + lb, 8);
}

/* LMDB's flags for each durability mode:
 *   always: data and meta page synced at every commit, LMDB writing its
 *           pages with pwrite (its default, the most conservative path)
 *   batch:  data synced at every commit, the meta page lazily (NOMETASYNC):
 *           a crash can undo the last commit, never corrupt
 *   none:   nothing synced at commit (NOSYNC)
 * none, and batch on a filesystem in memory (tmpfs), let LMDB write its
 * pages through the memory map (WRITEMAP), which saves a copy and a system
 * call per page: on tmpfs that is most of a small commit's cost. On a disk
 * filesystem a synced WRITEMAP commit costs more instead (1.4x the time of
 * a batch here, on ext4): every page LMDB dirties through the map is a
 * write fault that the filesystem must journal, and every sync makes the
 * pages read-only again. With WRITEMAP LMDB syncs with msync, which Linux
 * turns into an fsync of the file's dirty range, and it still syncs the
 * data before it writes the meta page that makes them reachable. The file
 * is as long as the map, mostly holes (the map starts small and grows); on
 * a full disk a write into a hole would fault (SIGBUS), which the reserve we
 * keep allocated ahead of LMDB's last page prevents (engine_space_check).
 *
 * A fresh store (its first records, written right after engine_mkfs) is
 * opened as with `always`, whatever was asked: its few pages are written
 * with pwrite, so the file stays as long as what it holds instead of as
 * long as the map. */
static unsigned env_sync_flags(enum ghost_sync sync, bool in_memory, bool fresh)
{
    if (fresh)
        return 0;
    switch (sync) {
    case GHOST_SYNC_ALWAYS:
        return 0;
    case GHOST_SYNC_NONE:
        return MDB_NOSYNC | MDB_WRITEMAP;
    default:
        return MDB_NOMETASYNC | (in_memory ? MDB_WRITEMAP : 0);
    }
}

/* Whether path lives on a filesystem in memory, where a sync costs nothing. */
static bool in_memory(const char *path)
{
    struct statfs st;
    return statfs(path, &st) == 0 && (st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC);
}

/* LMDB lets a running environment change its sync flags, not MDB_WRITEMAP:
 * a store opened with sync=none keeps writing through its map, which is as
 * durable as writes when the flags ask for syncs; one opened otherwise goes
 * to sync=none without it (slower, as safe). The writer lock keeps every
 * commit on one side of the change. */
int engine_set_sync(struct engine *e, enum ghost_sync sync)
{
    const unsigned mask = MDB_NOSYNC | MDB_NOMETASYNC;
    if (e->readonly)
        return 0;
    MDB_txn *w;
    int r = lmdb_begin(e, 0, &w);
    if (r)
        return r;
    unsigned want = env_sync_flags(sync, in_memory(e->path), false) & mask;
    unsigned have = e->sync_flags & mask;
    int rc = have & ~want ? mdb_env_set_flags(e->env, have & ~want, 0) : 0;
    if (!rc && (want & ~have))
        rc = mdb_env_set_flags(e->env, want & ~have, 1);
    if (!rc)
        e->sync_flags = (e->sync_flags & ~mask) | want;
    mdb_txn_abort(w);
    lmdb_end(e);
    return rc ? lmdb_err(e, rc, "changing its sync mode") : 0;
}

static int open_dbis(struct engine *e, MDB_txn *txn, unsigned flags)
{
    static const char *const names[] = {
        [ENGINE_META] = "meta", [ENGINE_MAP] = "map", [ENGINE_SNAP] = "snap"};
    static const enum engine_table named[] = {ENGINE_META, ENGINE_MAP, ENGINE_SNAP};
    /* ENGINE_OBJ is LMDB's main database, beside the records LMDB keeps
     * there for the named ones (keys "map", "meta", "snap", which sort
     * before every object's). A write to a named database also copies the
     * main database's page that holds its record, and its first use in
     * each transaction looks that record up: the objects, written by
     * almost every transaction, save both. Their keys all have one length,
     * so LMDB's own byte order sorts them as versioned_cmp would. */
    int rc0 = mdb_dbi_open(txn, NULL, 0, &e->dbi[ENGINE_OBJ]);
    if (rc0)
        return lmdb_err(e, rc0, "opening tables");
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        MDB_dbi *dbi = &e->dbi[named[i]];
        int rc = mdb_dbi_open(txn, names[named[i]], flags, dbi);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
            return ghost_set_error(-GHOST_EFORMAT,
                                   "%s: not a ghostfs store (an LMDB file without its "
                                   "'%s' table)",
                                   e->path, names[named[i]]);
        if (rc)
            return lmdb_err(e, rc, "opening tables");
        if (named[i] == ENGINE_MAP)
            mdb_set_compare(txn, *dbi, versioned_cmp);
    }
    return 0;
}

/* LMDB sizes a new lock file with ftruncate and then writes to it through a
 * memory map, which dies of SIGBUS on a full disk. Allocate it first, so a
 * full disk is an ENOSPC here instead. Room for MAX_READERS slots of 64
 * bytes plus LMDB's header. */
static int prepare_lock_file(const char *path)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT)
        return ghost_set_error(-ENOENT, "%s: the directory it should be in does not exist", path);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: cannot create the lock file: %s", lock,
                               strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (!e && st.st_size == 0)
        e = posix_fallocate(fd, 0, (off_t)(MAX_READERS + 4) * 64);
    close(fd);
    if (e) {
        if (st.st_size == 0)
            unlink(lock);
        return ghost_set_error(-e, "%s: cannot allocate the lock file: %s", lock, strerror(e));
    }
    return 0;
}

static int env_create(struct engine *e, const char *path, unsigned flags, size_t map_bytes)
{
    int rc = prepare_lock_file(path);
    if (rc)
        return rc;
    rc = mdb_env_create(&e->env);
    if (rc)
        return ghost_set_error(-ENOMEM, "%s: %s", path, mdb_strerror(rc));
    mdb_env_set_userctx(e->env, e); /* for errors met through a cursor */
    lmdb_guard_env(e->env);         /* a failed assertion is damage, not an abort */
    mdb_env_set_maxdbs(e->env, 8);
    mdb_env_set_maxreaders(e->env, MAX_READERS);
    mdb_env_set_mapsize(e->env, map_bytes);
    rc = mdb_env_open(e->env, path, flags | MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD, 0644);
    if (rc) {
        mdb_env_close(e->env);
        e->env = NULL;
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (%s)", path,
                                   mdb_strerror(rc));
        return ghost_set_error(rc > 0 && rc < 4096 ? -rc : -EIO, "%s: %s", path, mdb_strerror(rc));
    }
    return 0;
}

int engine_mkfs(const char *path, int (*init)(void *arg, struct engine *e, struct engine_txn *w),
                void *arg)
{
    struct engine e = {.path = (char *)path, .fd = -1};
    struct stat st;
    MDB_txn *txn;
    int r;

    if (stat(path, &st) == 0)
        return ghost_set_error(-EEXIST, "%s: file exists; refusing to overwrite it", path);
    if (errno != ENOENT)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    lmdb_resize_init(&e);
    r = env_create(&e, path, 0, (size_t)64 << 20);
    if (r)
        goto out_lock;
    r = lmdb_begin(&e, 0, &txn);
    if (r)
        goto out;
    r = open_dbis(&e, txn, MDB_CREATE);
    r = r ? r : init(arg, &e, (struct engine_txn *)txn);
    if (r) {
        engine_abort(&e, (struct engine_txn *)txn);
        goto out;
    }
    r = engine_commit(&e, (struct engine_txn *)txn, NULL, 0, NULL, NULL);
out:
    mdb_env_close(e.env);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (r)
        unlink(path);
    unlink(lock);
out_lock:
    lmdb_resize_destroy(&e);
    return r;
}

struct open_args {
    struct engine *e;
    int (*check)(void *arg, struct engine *e, struct engine_txn *view, unsigned char uuid[16]);
    void *arg;
    unsigned char *uuid;
};

/* Open the named tables and let the caller check the format, in one read
 * transaction. */
static int open_tables(void *ctx)
{
    struct open_args *a = ctx;
    struct engine *e = a->e;
    MDB_txn *txn;
    int r = lmdb_err(e, mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), "opening");
    if (r)
        return r;
    e->open_txn = txn; /* for engine_open to end it if a fault cuts us short */
    r = open_dbis(e, txn, 0);
    r = r ? r : a->check(a->arg, e, (struct engine_txn *)txn, a->uuid);
    e->open_txn = NULL;
    if (r) {
        mdb_txn_abort(txn);
        return r;
    }
    return lmdb_err(e, mdb_txn_commit(txn), "opening");
}

/* Look at the file through LMDB without MDB_WRITEMAP (which would extend
 * the file to the map size) and run the caller's check: a file that turns
 * out not to be our store stays untouched. */
static int probe(struct engine *e, struct open_args *a, size_t map_bytes)
{
    int dead = 0;
    int r = env_create(e, e->path, MDB_RDONLY, map_bytes);
    if (r)
        return r;
    mdb_reader_check(e->env, &dead);
    if (dead)
        ghost_log(GHOST_LOG_INFO, "store %s: cleared %d stale reader slots", e->path, dead);
    e->quiet = true; /* open errors are returned, not logged */
    r = engine_guarded(e, open_tables, a, "opening its tables");
    e->quiet = false;
    if (e->open_txn) { /* a fault left it open */
        mdb_txn_abort(e->open_txn);
        e->open_txn = NULL;
    }
    mdb_env_close(e->env);
    e->env = NULL;
    return r;
}

/* The environment's figures, once it is open for real. */
static void measure(struct engine *e)
{
    MDB_envinfo info;
    MDB_stat mst;
    mdb_env_info(e->env, &info);
    mdb_env_stat(e->env, &mst);
    e->map_size = info.me_mapsize;
    e->psize = mst.ms_psize;
    mdb_env_get_fd(e->env, &e->fd);
    /* What is surely allocated: LMDB's pages. (With MDB_WRITEMAP the file is
     * as long as the map, mostly holes, so its size says nothing.) */
    e->alloc_end = ((uint64_t)info.me_last_pgno + 1) * e->psize;
}

/* A writer must have the change log, or the others would miss its
 * changes; a reader without one drops its cache on every change. */
static int open_changes(struct engine *e, const struct engine_opts *o, const unsigned char uuid[16])
{
    uint64_t entries = o->log_entries ? o->log_entries : LOG_ENTRIES_DEFAULT;
    if (entries < 16 || (entries & (entries - 1)))
        return ghost_set_error(-EINVAL, "change log of %llu entries: not a power of two >= 16",
                               (unsigned long long)entries);
    int r = changes_open(&e->changes, e->path, uuid, !o->readonly, entries, engine_last_gen(e));
    if (r && !o->readonly)
        return r;
    if (getrandom(&e->writer_id, sizeof e->writer_id, 0) != sizeof e->writer_id) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        e->writer_id = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40;
    }
    e->writer_id |= 1; /* never 0 */
    return 0;
}

int engine_open(struct engine **ep, const char *path, const struct engine_opts *o,
                int (*check)(void *arg, struct engine *e, struct engine_txn *view,
                             unsigned char uuid[16]),
                void *arg)
{
    char lock[4200];
    struct stat st;
    unsigned char uuid[16];
    int r;

    *ep = NULL;
    lmdb_guard_install();
    if (stat(path, &st) < 0)
        return ghost_set_error(-errno, "%s: %s", path,
                               errno == ENOENT ? "no such store" : strerror(errno));
    uint64_t used = 0;
    r = lmdb_check_header(path, &used);
    if (r)
        return r;
    struct engine *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path))) {
        free(e);
        return ghost_set_error(-ENOMEM, "%s: out of memory", path);
    }
    snprintf(lock, sizeof lock, "%s-lock", path);
    bool had_lock = access(lock, F_OK) == 0;
    e->fd = -1;
    e->readonly = o->readonly;
    e->reserve = o->reserve_bytes;
    lmdb_resize_init(e);
    /* Size the map by the pages LMDB uses, not by the file: with
     * MDB_WRITEMAP the file is as long as the last process's map. */
    size_t want = o->map_bytes;
    if (used + (16u << 20) > want)
        want = (size_t)used * 2 + (16u << 20);
    struct open_args a = {e, check, arg, uuid};
    r = probe(e, &a, want);
    if (r)
        goto fail;
    /* Now for real. */
    e->sync_flags = env_sync_flags(o->sync, in_memory(path), o->fresh);
    r = env_create(e, path, e->sync_flags, want);
    r = r ? r : engine_guarded(e, open_tables, &a, "opening its tables");
    if (r)
        goto fail;
    measure(e);
    lmdb_pages_map(e);
    r = open_changes(e, o, uuid);
    r = r ? r : lmdb_check_generation(e, o);
    if (r)
        goto fail;
    *ep = e;
    return 0;
fail:
    lmdb_pages_unmap(e);
    changes_close(&e->changes);
    if (e->env)
        mdb_env_close(e->env);
    if (!had_lock)
        unlink(lock);
    lmdb_resize_destroy(e);
    free(e->path);
    free(e);
    return r;
}

/* Make every commit durable. A writer then marks the change log clean
 * (lmdb_changes.c): under LMDB's writer lock, so that no commit comes
 * between the sync and the marks. */
static void sync_for_close(struct engine *e)
{
    MDB_txn *txn;
    if (e->readonly || !e->changes.hdr || lmdb_begin(e, 0, &txn)) {
        mdb_env_sync(e->env, 1);
        return;
    }
    if (mdb_env_sync(e->env, 1) == 0)
        changes_set_marks(&e->changes, mdb_txn_id(txn) - 1, true);
    mdb_txn_abort(txn);
    lmdb_end(e);
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    sync_for_close(e);
    lmdb_pages_unmap(e);
    mdb_env_close(e->env);
    changes_close(&e->changes);
    lmdb_resize_destroy(e);
    free(e->path);
    free(e);
}
