/*
 * lmdb_space.c - the LMDB engine's room: the disk reserve, the memory
 * map's growth, durability on request, and usage figures.
 *
 * Space. LMDB grows its file by writing past the end; on a full disk that
 * write fails and the commit is refused with ENOSPC, which LMDB survives
 * intact. So that deletes can still commit on a full disk, we keep
 * `reserve` bytes past LMDB's last page allocated with
 * fallocate(KEEP_SIZE): when the reserve can no longer be topped up, only
 * transactions that delete (or that fit in LMDB's free pages) are let
 * through. The map (address space) grows when LMDB reports it full
 * (-GHOST_EGROW, then engine_grow), which needs resize_lock exclusively.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define NAMED_TABLES 3 /* meta, map, snap: their records share obj's database */

/* mdb_env_info reads the meta pages through the map, which a resize in
 * another thread may be unmapping: count ourselves a reader. */
static void env_info(struct engine *e, MDB_envinfo *info)
{
    lmdb_enter(e);
    mdb_env_info(e->env, info);
    lmdb_leave(e);
}

int engine_grow(struct engine *e)
{
    if (lmdb_resize_begin(e))
        return ghost_set_error(-GHOST_ECONFLICT, "store %s: map full; it grows once open views end",
                               e->path);
    size_t want =
        e->map_size < ((size_t)1 << 33) ? e->map_size * 2 : e->map_size + ((size_t)1 << 33);
    int rc = mdb_env_set_mapsize(e->env, want);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(e->env, &info);
        e->map_size = info.me_mapsize;
        lmdb_pages_map(e);
        atomic_fetch_add(&e->grows, 1);
        ghost_log(GHOST_LOG_INFO, "store %s: map grown to %zu MiB", e->path, e->map_size >> 20);
    }
    lmdb_resize_end(e);
    return rc ? lmdb_err(e, rc, "growing the map") : 0;
}

uint64_t engine_grows(struct engine *e)
{
    return atomic_load(&e->grows);
}

int engine_sync(struct engine *e, bool force)
{
    MDB_envinfo info;
    lmdb_enter(e);
    mdb_env_info(e->env, &info); /* what the sync covers at least */
    int rc = mdb_env_sync(e->env, force);
    lmdb_leave(e);
    if (!rc && (force || !(e->sync_flags & MDB_NOSYNC)))
        changes_synced(&e->changes, info.me_last_txnid);
    return rc ? lmdb_err(e, rc, "syncing") : 0;
}

struct free_walk {
    MDB_txn *txn;
    MDB_cursor *cur; /* open only if damage cut the walk short */
    uint64_t pages;
};

static int free_walk_fn(void *ctx)
{
    struct free_walk *a = ctx;
    MDB_val k, v;
    if (mdb_cursor_open(a->txn, 0, &a->cur)) {
        a->cur = NULL;
        return 0;
    }
    int rc = mdb_cursor_get(a->cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (v.mv_size >= sizeof(size_t))
            a->pages += *(size_t *)v.mv_data;
        rc = mdb_cursor_get(a->cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(a->cur);
    a->cur = NULL;
    return 0;
}

/* Damage in the free list shortens the count, which only makes the space
 * check more careful. */
uint64_t lmdb_free_pages(struct engine *e)
{
    struct free_walk a = {NULL, NULL, 0};
    if (lmdb_begin(e, MDB_RDONLY, &a.txn))
        return 0;
    engine_guarded(e, free_walk_fn, &a, "counting free pages");
    if (a.cur)
        mdb_cursor_close(a.cur);
    engine_view_end(e, (struct engine_txn *)a.txn);
    return a.pages;
}

/* A coarse clock (a few ms), which costs a fraction of the precise one. */
static int64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define ROOMY_NS 50000000 /* 50 ms */
#define USED_NS 2000000   /* 2 ms */

/* Too long for one screen: it is one decision, from the cheapest evidence
 * of room to the most expensive, and each step returns as soon as it can. */
int engine_space_check(struct engine *e, size_t bytes, bool frees)
{
    /* The common case, a disk with plenty of room seen moments ago: the
     * file's length as measured within the last USED_NS will do (it grows
     * by far less than the room in that time). */
    int64_t now = coarse_ns();
    if (!e->low_space && now < e->roomy_ns && now < e->used_ns + USED_NS &&
        e->used + 2 * (uint64_t)bytes < e->roomy_used)
        return 0;
    MDB_envinfo info;
    env_info(e, &info);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * e->psize;
    e->used = used;
    e->used_ns = now;
    uint64_t need = used + 2 * (uint64_t)bytes + 64 * (uint64_t)e->psize + e->reserve;
    if (e->alloc_end >= need)
        return 0;
    /* With plenty of room on the disk there is nothing to reserve yet (and
     * on tmpfs allocating ahead means zeroing every page before LMDB writes
     * it). The reserve is taken while the disk has room, before it fills. */
    struct statvfs vfs;
    uint64_t plenty = 64 * (uint64_t)e->reserve > ((uint64_t)256 << 20) ? 64 * (uint64_t)e->reserve
                                                                        : ((uint64_t)256 << 20);
    /* The disk's free space is asked at most every ROOMY_NS, and again
     * sooner once the file has grown by half of the room seen then: a
     * statfs per batch was a sixth of a small transaction's cost. */
    if (!e->low_space && used + 2 * (uint64_t)bytes < e->roomy_used && now < e->roomy_ns)
        return 0;
    if (!e->low_space && fstatvfs(e->fd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize > plenty + 2 * (uint64_t)bytes) {
        uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize - plenty;
        e->roomy_used = used + room / 2;
        e->roomy_ns = now + ROOMY_NS;
        return 0;
    }
    e->roomy_ns = 0;
    /* Allocate ahead in steps of an eighth of the file, at least the reserve,
     * and only the part past what we already allocated. */
    uint64_t step = used / 8 > e->reserve ? used / 8 : e->reserve;
    uint64_t to = need + step;
    uint64_t from = e->alloc_end < used ? e->alloc_end : used;
    if (fallocate(e->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) == 0) {
        e->alloc_end = to;
        if (e->low_space)
            ghost_log(GHOST_LOG_INFO, "store %s: disk space available again", e->path);
        e->low_space = false;
        return 0;
    }
    if (errno != ENOSPC) /* a filesystem without fallocate: let LMDB find out */
        return 0;
    if (!e->low_space)
        ghost_log(GHOST_LOG_WARN, "store %s: disk nearly full; only deletes are accepted", e->path);
    e->low_space = true;
    if (frees)
        return 0;
    if (lmdb_free_pages(e) * e->psize >= 2 * (uint64_t)bytes + 64 * (uint64_t)e->psize)
        return 0;
    return ghost_set_error(-ENOSPC, "store %s: disk full", e->path);
}

/* The most a batch can grow the file, pessimistically: each entry written
 * may copy and split a leaf-to-root path of pages, values take bytes (or
 * overflow pages) of their own, and every batch also rewrites the meta,
 * change log and free list pages. */
#define GROWTH_PAGES_PER_BATCH 64
#define GROWTH_PAGES_PER_ENTRY 16

uint64_t engine_growth_bound(struct engine *e, size_t entries, size_t bytes)
{
    return (GROWTH_PAGES_PER_BATCH + GROWTH_PAGES_PER_ENTRY * (uint64_t)entries) * e->psize +
           2 * (uint64_t)bytes;
}

void engine_usage(struct engine *e, uint64_t *room_bytes, uint64_t *used_bytes)
{
    MDB_envinfo info;
    env_info(e, &info);
    *room_bytes = info.me_mapsize;
    *used_bytes = ((uint64_t)info.me_last_pgno + 1) * e->psize;
}

int engine_space(struct engine *e, struct ghost_usage *u)
{
    struct statvfs vfs;
    MDB_stat st;
    MDB_txn *txn;
    uint64_t map;
    memset(u, 0, sizeof *u);
    int r = lmdb_begin(e, MDB_RDONLY, &txn);
    if (r)
        return r;
    r = lmdb_err(e, mdb_stat(txn, e->dbi[ENGINE_OBJ], &st), "reading table statistics");
    engine_view_end(e, (struct engine_txn *)txn);
    if (r)
        return r;
    u->objects = st.ms_entries > NAMED_TABLES ? st.ms_entries - NAMED_TABLES : 0;
    engine_usage(e, &map, &u->used_bytes);
    uint64_t reusable = lmdb_free_pages(e) * e->psize; /* inside the file, free */
    u->used_bytes = u->used_bytes > reusable ? u->used_bytes - reusable : 0;
    u->free_bytes = reusable;
    if (fstatvfs(e->fd, &vfs) == 0)
        u->free_bytes += (uint64_t)vfs.f_bavail * vfs.f_frsize;
    u->total_bytes = u->used_bytes + u->free_bytes;
    return 0;
}
