/*
 * engine_lmdb.c - the LMDB engine's transactions, reads, writes, commits
 * and change log (the seam of engine.h, on LMDB).
 *
 * Each engine transaction is one LMDB transaction, each cursor one LMDB
 * cursor, each engine_val an MDB_val: the casts cost nothing. Every LMDB
 * transaction of this process is counted in engine.readers while it is
 * open, so that the map is resized only when none is (lmdb_int.h).
 *
 * The change log (lmdb_changes.c) is written by engine_commit before LMDB's
 * commit, under LMDB's writer lock, so that a process that sees the new
 * generation finds its entries.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* How long a resize waits for the process's transactions to end before it
 * gives up (its own thread may hold one). Transactions are short; one that
 * is not makes the resize fail with a conflict, retried later. */
#define RESIZE_WAIT_MS 100

void lmdb_resize_init(struct engine *e)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->resize_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&e->resize_lock, NULL);
    atomic_init(&e->readers, 0);
    atomic_init(&e->resizing, false);
}

void lmdb_resize_destroy(struct engine *e)
{
    assert(atomic_load(&e->readers) == 0); /* every transaction ended */
    pthread_cond_destroy(&e->resize_cond);
    pthread_mutex_destroy(&e->resize_lock);
}

void lmdb_resize_wait(struct engine *e)
{
    pthread_mutex_lock(&e->resize_lock);
    while (atomic_load(&e->resizing))
        pthread_cond_wait(&e->resize_cond, &e->resize_lock);
    pthread_mutex_unlock(&e->resize_lock);
}

void lmdb_resize_wake(struct engine *e)
{
    /* Under the mutex, so the resizer cannot miss it between its look at
     * readers and its wait. */
    pthread_mutex_lock(&e->resize_lock);
    pthread_cond_broadcast(&e->resize_cond);
    pthread_mutex_unlock(&e->resize_lock);
}

int lmdb_resize_begin(struct engine *e)
{
    struct timespec dl;
    pthread_mutex_lock(&e->resize_lock);
    while (atomic_load(&e->resizing)) /* another resize first */
        pthread_cond_wait(&e->resize_cond, &e->resize_lock);
    atomic_store(&e->resizing, true);
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_nsec += RESIZE_WAIT_MS * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    while (atomic_load(&e->readers) != 0) {
        if (pthread_cond_timedwait(&e->resize_cond, &e->resize_lock, &dl) == ETIMEDOUT &&
            atomic_load(&e->readers) != 0) {
            lmdb_resize_end(e);
            return -GHOST_ECONFLICT;
        }
    }
    return 0;
}

void lmdb_resize_end(struct engine *e)
{
    atomic_store(&e->resizing, false);
    pthread_cond_broadcast(&e->resize_cond);
    pthread_mutex_unlock(&e->resize_lock);
}

int lmdb_err_slow(struct engine *e, int rc, const char *doing)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
        return -GHOST_EGROW;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_CURSOR_FULL:  /* a tree deeper than any real one: a loop of pages */
    case MDB_INCOMPATIBLE: /* a table's record in the main table is damaged */
        lmdb_damage(e);
        /* fall through */
    case MDB_BAD_TXN: /* an earlier call in this transaction met damage */
        if (!e->quiet)
            ghost_log(GHOST_LOG_ERR, "store %s: %s: %s", e->path, doing, mdb_strerror(rc));
        return ghost_set_error(-GHOST_ECORRUPT, "store %s: corrupt: %s: %s", e->path, doing,
                               mdb_strerror(rc));
    case MDB_READERS_FULL:
        return ghost_set_error(-EAGAIN, "store %s: too many readers", e->path);
    case MDB_TXN_FULL:
        return ghost_set_error(-E2BIG, "store %s: transaction too large", e->path);
    default:
        if (rc > 0 && rc < 4096) {
            if (rc == ENOSPC)
                ghost_log(GHOST_LOG_WARN, "store %s: disk full while %s", e->path, doing);
            return ghost_set_error(-rc, "store %s: %s: %s", e->path, doing, strerror(rc));
        }
        return ghost_set_error(-EIO, "store %s: %s: %s", e->path, doing, mdb_strerror(rc));
    }
}

int lmdb_begin(struct engine *e, unsigned flags, MDB_txn **txn)
{
    for (;;) {
        lmdb_enter(e);
        int rc = mdb_txn_begin(e->env, NULL, flags, txn);
        if (rc != MDB_MAP_RESIZED) {
            if (rc)
                lmdb_leave(e);
            return lmdb_err(e, rc, "starting a transaction");
        }
        lmdb_leave(e);
        /* Another process grew the map: adopt its size, which needs the
         * map to ourselves. */
        if (lmdb_resize_begin(e))
            return ghost_set_error(-GHOST_ECONFLICT,
                                   "store %s: map resized by another process; retry", e->path);
        mdb_env_set_mapsize(e->env, 0);
        MDB_envinfo info;
        mdb_env_info(e->env, &info);
        e->map_size = info.me_mapsize;
        lmdb_pages_map(e);
        lmdb_resize_end(e);
    }
}

/* ---- transactions ---- */

int engine_view_begin(struct engine *e, struct engine_txn **view)
{
    return lmdb_begin(e, MDB_RDONLY, (MDB_txn **)view);
}

void engine_view_end(struct engine *e, struct engine_txn *view)
{
    mdb_txn_abort(MT(view));
    lmdb_end(e);
}

int engine_write_begin(struct engine *e, struct engine_txn **w)
{
    if (e->readonly)
        return ghost_set_error(-EROFS, "store %s: opened read-only", e->path);
    return lmdb_begin(e, 0, (MDB_txn **)w);
}

/* The write transaction is ending: LMDB closes its cursors. */
static void forget_write_cursors(struct engine *e)
{
    for (int i = 0; i < ENGINE_TABLES; i++)
        e->wcur[i] = e->ncur[i] = NULL;
}

/* Raise the change log's `committed` and `durable` marks after gen's commit.
 * An LMDB commit that wrote nothing takes no id (and syncs nothing): the
 * meta page says which it was. With MDB_NOMETASYNC the commit synced its
 * pages and the previous commit's meta page, not its own: the previous
 * generation is on disk. Called before lmdb_end, so the map stays. */
static void mark_committed(struct engine *e, uint64_t gen)
{
    MDB_envinfo info;
    mdb_env_info(e->env, &info);
    uint64_t last = info.me_last_txnid, durable = 0;
    if (last == gen && !(e->sync_flags & MDB_NOSYNC))
        durable = e->sync_flags & MDB_NOMETASYNC ? gen - 1 : gen;
    changes_committed(&e->changes, last, durable);
}

int engine_commit(struct engine *e, struct engine_txn *w, const uint64_t *oids, size_t n,
                  uint64_t *log_from, uint64_t *log_to)
{
    uint64_t from = changes_head(&e->changes), to = from;
    uint64_t gen = mdb_txn_id(MT(w));
    forget_write_cursors(e);
    /* Before the commit, while we hold LMDB's writer lock: a process that
     * sees the new generation must find its entries, and an opener must
     * not find the store past the log's `intent`. */
    if (e->changes.hdr) {
        if (n)
            to = changes_append(&e->changes, gen, e->writer_id, oids, n);
        changes_intend(&e->changes, gen);
    }
    int rc = mdb_txn_commit(MT(w));
    if (rc == 0 && e->changes.hdr)
        mark_committed(e, gen);
    lmdb_end(e);
    if (log_from) {
        *log_from = from;
        *log_to = to;
    }
    return lmdb_err(e, rc, "committing");
}

void engine_abort(struct engine *e, struct engine_txn *w)
{
    forget_write_cursors(e);
    mdb_txn_abort(MT(w));
    lmdb_end(e);
}

/* A write transaction's id is the one its commit takes; a read
 * transaction's is that of the last commit it sees. */
uint64_t engine_txn_gen(struct engine_txn *t)
{
    return mdb_txn_id(MT(t));
}

uint64_t engine_last_gen(struct engine *e)
{
    /* mdb_env_info reads the meta pages through the map, which a resize in
     * another thread may be unmapping: count ourselves a reader. */
    MDB_envinfo info;
    lmdb_enter(e);
    mdb_env_info(e->env, &info);
    lmdb_leave(e);
    return info.me_last_txnid;
}

/* ---- reads ---- */

int engine_get(struct engine *e, struct engine_txn *t, enum engine_table table,
               const struct engine_val *key, struct engine_val *val)
{
    int rc = mdb_get(MT(t), e->dbi[table], MV(key), MV(val));
    if (__builtin_expect(rc == 0, 1))
        return 0;
    return lmdb_err(e, rc, "reading a record");
}

/* A cursor remembers its engine through LMDB's own back pointers, so
 * engine_cursor_* need no engine argument; errors name the store through
 * the environment's path kept in the engine, found by the user context. */
static struct engine *cursor_engine(struct engine_cursor *c)
{
    return mdb_env_get_userctx(mdb_txn_env(mdb_cursor_txn(MC(c))));
}

int engine_cursor_open(struct engine *e, struct engine_txn *t, enum engine_table table,
                       struct engine_cursor **c)
{
    return lmdb_err(e, mdb_cursor_open(MT(t), e->dbi[table], (MDB_cursor **)c), "opening a cursor");
}

void engine_cursor_close(struct engine_cursor *c)
{
    mdb_cursor_close(MC(c));
}

int engine_cursor_seek(struct engine_cursor *c, enum engine_seek how, size_t prefix,
                       struct engine_val *key, struct engine_val *val)
{
    static const MDB_cursor_op op[] = {MDB_SET_KEY, MDB_SET_RANGE, MDB_FIRST};
    (void)prefix; /* a B-tree on a memory map reads ahead by itself */
    int rc = mdb_cursor_get(MC(c), MV(key), MV(val), op[how]);
    return rc ? lmdb_err(cursor_engine(c), rc, "seeking a key") : 0;
}

int engine_cursor_next(struct engine_cursor *c, struct engine_val *key, struct engine_val *val)
{
    int rc = mdb_cursor_get(MC(c), MV(key), MV(val), MDB_NEXT);
    return rc ? lmdb_err(cursor_engine(c), rc, "stepping to the next key") : 0;
}

int engine_cursor_current(struct engine_cursor *c, struct engine_val *key, struct engine_val *val)
{
    int rc = mdb_cursor_get(MC(c), MV(key), MV(val), MDB_GET_CURRENT);
    return rc ? lmdb_err(cursor_engine(c), rc, "reading a key") : 0;
}

/* ---- writes ---- */

/* The write transaction's cursor on table, for puts and deletes by key.
 * Not mdb_put and mdb_del: they link a cursor on their own stack into the
 * transaction for the time of the call, and if a damaged page cuts the
 * call short (engine_guarded), the transaction's abort would free that
 * cursor - an address on the stack. A cursor of our own is on the heap. */
static int open_cursor(struct engine *e, struct engine_txn *w, enum engine_table table,
                       MDB_cursor **slot)
{
    if (__builtin_expect(!*slot, 0)) {
        int rc = mdb_cursor_open(MT(w), e->dbi[table], slot);
        if (rc) {
            *slot = NULL;
            return lmdb_err(e, rc, "opening a cursor");
        }
    }
    assert(mdb_cursor_txn(*slot) == MT(w));
    return 0;
}

static int write_cursor(struct engine *e, struct engine_txn *w, enum engine_table table,
                        MDB_cursor **c)
{
    int rc = open_cursor(e, w, table, &e->wcur[table]);
    *c = e->wcur[table];
    return rc;
}

int engine_put(struct engine *e, struct engine_txn *w, enum engine_table table,
               const struct engine_val *key, size_t vlen, void **val)
{
    MDB_cursor *c = NULL;
    MDB_val v = {vlen, NULL};
    int rc = write_cursor(e, w, table, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_put(c, MV(key), &v, MDB_RESERVE);
    if (__builtin_expect(rc != 0, 0))
        return lmdb_err(e, rc, "writing");
    *val = v.mv_data;
    return 0;
}

int engine_insert(struct engine *e, struct engine_txn *w, enum engine_table table,
                  const struct engine_val *key, size_t vlen, void **val, struct engine_val *old)
{
    MDB_cursor *c = NULL;
    MDB_val v = {vlen, NULL};
    int rc = write_cursor(e, w, table, &c);
    if (rc)
        return rc;
    /* One search: LMDB leaves the cursor on a key it finds there. */
    rc = mdb_cursor_put(c, MV(key), &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == MDB_KEYEXIST) {
        *old = (struct engine_val){v.mv_size, v.mv_data};
        return -EEXIST;
    }
    if (__builtin_expect(rc != 0, 0))
        return lmdb_err(e, rc, "writing");
    *val = v.mv_data;
    return 0;
}

int engine_replace(struct engine *e, struct engine_txn *w, enum engine_table table,
                   const struct engine_val *key, size_t vlen, void **val)
{
    MDB_cursor *c = NULL;
    MDB_val v = {vlen, NULL};
    int rc = write_cursor(e, w, table, &c);
    if (rc)
        return rc;
    /* In place when the size is unchanged; no search either way. */
    rc = mdb_cursor_put(c, MV(key), &v, MDB_CURRENT | MDB_RESERVE);
    if (__builtin_expect(rc != 0, 0))
        return lmdb_err(e, rc, "writing");
    *val = v.mv_data;
    return 0;
}

int engine_del(struct engine *e, struct engine_txn *w, enum engine_table table,
               const struct engine_val *key)
{
    MDB_cursor *c = NULL;
    MDB_val k = *MV(key), v;
    int rc = write_cursor(e, w, table, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    if (rc)
        return lmdb_err(e, rc, "deleting");
    rc = lmdb_check_delete(e, c, &e->ncur[table]);
    if (rc)
        return rc;
    rc = mdb_cursor_del(c, 0);
    return rc ? lmdb_err(e, rc, "deleting") : 0;
}

int engine_cursor_put(struct engine_cursor *c, const struct engine_val *key, size_t vlen,
                      void **val)
{
    /* In place: LMDB overwrites the record when the size is unchanged. */
    MDB_val v = {vlen, NULL};
    int rc = mdb_cursor_put(MC(c), MV(key), &v, MDB_CURRENT | MDB_RESERVE);
    if (rc)
        return lmdb_err(cursor_engine(c), rc, "writing");
    *val = v.mv_data;
    return 0;
}

int engine_cursor_del(struct engine_cursor *c)
{
    struct engine *e = cursor_engine(c);
    MDB_dbi dbi = mdb_cursor_dbi(MC(c));
    int table = 0;
    while (table < ENGINE_TABLES && e->dbi[table] != dbi)
        table++;
    assert(table < ENGINE_TABLES);
    int rc = lmdb_check_delete(e, MC(c), &e->ncur[table]);
    if (rc)
        return rc;
    rc = mdb_cursor_del(MC(c), 0);
    return rc ? lmdb_err(e, rc, "deleting") : 0;
}

/* ---- the change log ---- */

bool engine_has_changes(struct engine *e)
{
    return e->changes.hdr != NULL;
}

uint64_t engine_changes_head(struct engine *e)
{
    return changes_head(&e->changes);
}

uint64_t engine_changes_start(struct engine *e, uint64_t upto)
{
    return changes_start(&e->changes, upto);
}

int engine_changes_read(struct engine *e, uint64_t *pos, uint64_t upto,
                        void (*fn)(void *arg, uint64_t oid), void *arg)
{
    return changes_read(&e->changes, pos, upto, e->writer_id, fn, arg);
}

/* How far the shortcut looks back in the change log before it gives up. */
#define QUIET_ENTRIES 64

/* Every commit that changes a record appends its OIDs to the change log
 * before it commits, under LMDB's writer lock, which w holds: so if the
 * log has no entry for oid after gen, no commit changed it since. */
bool engine_unchanged_since(struct engine *e, struct engine_txn *w, uint64_t oid, uint64_t gen)
{
    (void)w;
    return changes_quiet_since(&e->changes, oid, gen, QUIET_ENTRIES);
}

int engine_reconnect(struct engine *e)
{
    (void)e; /* a file on a local disk never disconnects */
    return 0;
}
