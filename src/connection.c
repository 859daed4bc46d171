/*
 * connection.c - a connection to a store: open and close, cross-process coherence,
 * snapshots, statistics.
 *
 * Coherence. Several processes may open one store. Each connection
 * remembers the last generation it has seen (seen_gen) and how far it has
 * read the engine's change log (seen_seq, a position in it).
 * ghost_refresh() first compares the change log's head with seen_seq
 * (engine_changes_head; for LMDB one load from shared memory: equal means
 * no commit changed an object), then the newest committed generation
 * (engine_last_gen, read without a transaction) with seen_gen (equal means
 * nothing was committed anywhere).
 * Otherwise it reads the change log entries of the generations it has not
 * seen, turns exactly those OIDs into ghosts and passes them to the
 * invalidate callback. A connection that fell so far behind that the log's
 * ring overwrote entries it had not read drops its whole cache and says so
 * with OID 0. Entries this connection wrote itself are skipped (its cache
 * has them); conn_committed() steps over them at once when nothing else came
 * between.
 *
 * The optional poller thread runs ghost_refresh() once a second; nothing
 * else in the library runs on a timer, and nothing runs per object.
 *
 * Locks: cache.lock protects seen_gen/seen_seq (the committer steps them
 * over its own batch while it installs the batch in the cache, under that
 * lock already); coh_lock serializes refreshes; oid_lock protects the OID
 * block; poll_lock the poller's stop flag.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ghost_options_init(struct ghost_options *o)
{
    memset(o, 0, sizeof *o);
    o->cache_bytes = (size_t)64 << 20;
    o->sync = GHOST_SYNC_BATCH;
    o->map_bytes = (size_t)64 << 20;
    o->reserve_bytes = (size_t)4 << 20;
    o->max_batch = 256;
    o->max_retries = 10000;
}

int ghost_mkfs(const char *path)
{
    ghost_clear_error();
    return store_mkfs(path, 0);
}

static void *poller_main(void *arg)
{
    struct ghost *g = arg;
    pthread_mutex_lock(&g->poll_lock);
    while (!g->poll_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&g->poll_cond, &g->poll_lock, &ts);
        if (g->poll_stop)
            break;
        pthread_mutex_unlock(&g->poll_lock);
        ghost_refresh(g);
        pthread_mutex_lock(&g->poll_lock);
    }
    pthread_mutex_unlock(&g->poll_lock);
    return NULL;
}

/* fresh: the store was made a moment ago and its first records follow. */
static int open_conn(const char *path, const struct ghost_options *opts, bool fresh,
                     struct ghost **out)
{
    struct ghost_options defaults;
    struct ghost *g;
    int r;

    ghost_options_init(&defaults);
    g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->opts = opts ? *opts : defaults;
    if (!g->opts.cache_bytes)
        g->opts.cache_bytes = defaults.cache_bytes;
    if (!g->opts.map_bytes)
        g->opts.map_bytes = defaults.map_bytes;
    if (!g->opts.reserve_bytes)
        g->opts.reserve_bytes = defaults.reserve_bytes;
    if (!g->opts.max_batch)
        g->opts.max_batch = defaults.max_batch;
    if (!g->opts.max_retries)
        g->opts.max_retries = defaults.max_retries;
    if (g->opts.sync > GHOST_SYNC_NONE) {
        int mode = (int)g->opts.sync;
        free(g);
        return ghost_set_error(-EINVAL, "unknown sync mode %d", mode);
    }
    atomic_init(&g->sync, (int)g->opts.sync);

    struct store_opts so = {.sync = g->opts.sync,
                            .readonly = g->opts.readonly,
                            .fresh = fresh,
                            .map_bytes = g->opts.map_bytes,
                            .reserve_bytes = g->opts.reserve_bytes,
                            .log_entries = g->opts.log_entries,
                            .accept_rollback = g->opts.accept_rollback};
    r = store_open(&g->store, path, &so);
    if (r) {
        free(g);
        return r;
    }
    r = cache_init(&g->cache, g->opts.cache_bytes);
    if (r) {
        store_close(&g->store);
        free(g);
        return r;
    }
    pthread_mutex_init(&g->oid_lock, NULL);
    pthread_mutex_init(&g->coh_lock, NULL);
    pthread_mutex_init(&g->poll_lock, NULL);
    pthread_cond_init(&g->poll_cond, NULL);

    /* The cache starts empty, so what was committed before this point needs
     * no invalidation; a batch that had appended its entries but not yet
     * committed is read like any later one. */
    g->seen_gen = engine_last_gen(g->store.eng);
    g->seen_seq = engine_changes_start(g->store.eng, g->seen_gen);
    atomic_store_explicit(&g->last_gen_hint, g->seen_gen, memory_order_release);
    atomic_store_explicit(&g->seen_seq_hint, g->seen_seq, memory_order_release);
    r = r ? r : committer_start(g);
    if (!r && g->opts.poll) {
        r = -pthread_create(&g->poller, NULL, poller_main, g);
        g->poller_running = r == 0;
    }
    if (r) {
        ghost_close(g);
        return r;
    }
    *out = g;
    return 0;
}

int ghost_open(const char *path, const struct ghost_options *opts, struct ghost **out)
{
    ghost_clear_error();
    return open_conn(path, opts, false, out);
}

int ghost_mkfs_init(const char *path, uint64_t untallied,
                    int (*init)(struct ghost_txn *txn, void *arg), void *arg)
{
    ghost_clear_error();
    struct ghost *g;
    int r = store_mkfs(path, untallied);
    r = r ? r : open_conn(path, NULL, true, &g);
    if (r)
        return r;
    r = ghost_run(g, init, arg);
    r = r ? r : ghost_sync(g); /* (a successful sync would clear r's message) */
    ghost_close(g);
    return r;
}

void ghost_close(struct ghost *g)
{
    if (!g)
        return;
    ghost_crawl_stop(g);
    if (g->poller_running) {
        pthread_mutex_lock(&g->poll_lock);
        g->poll_stop = true;
        pthread_cond_signal(&g->poll_cond);
        pthread_mutex_unlock(&g->poll_lock);
        pthread_join(g->poller, NULL);
    }
    committer_stop(g);
    cache_destroy(&g->cache);
    store_close(&g->store);
    pthread_mutex_destroy(&g->oid_lock);
    pthread_mutex_destroy(&g->coh_lock);
    pthread_mutex_destroy(&g->poll_lock);
    pthread_cond_destroy(&g->poll_cond);
    free(g);
}

void conn_committed(struct ghost *g, uint64_t gen)
{
    ASSERT_HELD(&g->cache.lock);
    struct store *st = &g->store;
    if (g->seen_seq == st->batch_seq_from) { /* nothing of others' came between */
        g->seen_seq = st->batch_seq_to;
        atomic_store_explicit(&g->seen_seq_hint, g->seen_seq, memory_order_release);
        if (g->seen_gen + 1 == gen) {
            g->seen_gen = gen;
            atomic_store_explicit(&g->last_gen_hint, gen, memory_order_release);
        }
    }
}

struct refresh {
    VEC(uint64_t) oids;
    bool nomem; /* an OID could not be kept: invalidate everything */
};

static void collect(void *arg, uint64_t oid)
{
    struct refresh *rf = arg;
    if (rf->nomem)
        return;
    if (vec_push(&rf->oids, oid))
        rf->nomem = true; /* invalidate more, never less */
}

int ghost_refresh(struct ghost *g)
{
    ghost_clear_error();
    struct store *st = &g->store;
    /* The O(1) paths: nobody appended to the change log (so no commit
     * changed an object), or nobody committed anything, since we last
     * looked. The first is one load from shared memory. */
    if (engine_has_changes(st->eng) &&
        engine_changes_head(st->eng) == atomic_load(&g->seen_seq_hint))
        return 0;
    if (engine_last_gen(st->eng) == atomic_load(&g->last_gen_hint))
        return 0;

    pthread_mutex_lock(&g->coh_lock);
    uint64_t gen = engine_last_gen(st->eng);
    cache_lock(&g->cache);
    uint64_t seq = g->seen_seq, seen = g->seen_gen;
    cache_unlock(&g->cache);
    struct refresh rf = {0};
    bool all = false;
    if (gen > seen || engine_has_changes(st->eng)) {
        /* The log is read without cache.lock; meanwhile the committer may
         * step seen_seq over a batch of ours (only from where we started),
         * so what we read is merged with it by taking the further one. */
        int r = engine_changes_read(st->eng, &seq, gen, collect, &rf);
        if (r == -ERANGE) { /* entries lost: start over after them */
            all = true;
            seq = engine_changes_start(st->eng, gen);
        }
        all |= rf.nomem; /* read up to gen, but not every OID kept */
    }
    cache_lock(&g->cache);
    if (all)
        cache_invalidate_all_locked(&g->cache, gen);
    else
        for (size_t i = 0; i < rf.oids.n; i++)
            cache_invalidate_locked(&g->cache, rf.oids.v[i], gen);
    if (seq > g->seen_seq)
        g->seen_seq = seq;
    if (gen > g->seen_gen)
        g->seen_gen = gen;
    atomic_store_explicit(&g->last_gen_hint, g->seen_gen, memory_order_release);
    atomic_store_explicit(&g->seen_seq_hint, g->seen_seq, memory_order_release);
    cache_unlock(&g->cache);
    pthread_mutex_unlock(&g->coh_lock);
    /* The callback runs with no lock held. */
    if (all) {
        atomic_fetch_add(&g->invalidations, 1);
        if (g->opts.invalidate)
            g->opts.invalidate(g->opts.invalidate_arg, 0);
        vec_free(&rf.oids);
        return INT32_MAX;
    }
    size_t n = rf.oids.n;
    atomic_fetch_add(&g->invalidations, n);
    if (g->opts.invalidate)
        for (size_t i = 0; i < n; i++)
            g->opts.invalidate(g->opts.invalidate_arg, rf.oids.v[i]);
    vec_free(&rf.oids);
    return (int)(n > INT32_MAX - 1 ? INT32_MAX - 1 : n);
}

void ghost_pin(struct ghost *g, uint64_t oid, uint64_t n)
{
    cache_pin(&g->cache, oid, n);
}

uint64_t ghost_unpin(struct ghost *g, uint64_t oid, uint64_t n)
{
    return cache_unpin(&g->cache, oid, n);
}

int ghost_sync(struct ghost *g)
{
    ghost_clear_error();
    int r = committer_sync(g);
    if (r == 0) /* (as leader it may have met others' failures) */
        ghost_clear_error();
    return r;
}

int ghost_snapshot_create(struct ghost *g, const char *name)
{
    ghost_clear_error();
    if (conn_readonly(g))
        return ghost_set_error(-EROFS, "store %s read-only", g->opts.readonly ? "opened" : "set");
    /* The snapshot is the committed state when its own write transaction
     * runs: every batch committed before it is in it. */
    return store_snap_create(&g->store, name);
}

int ghost_snapshot_delete(struct ghost *g, const char *name)
{
    ghost_clear_error();
    if (conn_readonly(g))
        return ghost_set_error(-EROFS, "store %s read-only", g->opts.readonly ? "opened" : "set");
    return store_snap_delete(&g->store, name);
}

int ghost_snapshot_list(struct ghost *g, struct ghost_snapshot *list, int max)
{
    ghost_clear_error();
    return store_snap_list(&g->store, list, max);
}

int64_t ghost_prune_versions(struct ghost *g, uint64_t *cursor, unsigned max_keys)
{
    ghost_clear_error();
    if (conn_readonly(g))
        return ghost_set_error(-EROFS, "store %s read-only", g->opts.readonly ? "opened" : "set");
    return store_prune(&g->store, cursor, max_keys);
}

void ghost_stats(struct ghost *g, struct ghost_stats *st)
{
    memset(st, 0, sizeof *st);
    st->generation = atomic_load(&g->last_gen_hint); /* seen_gen's copy */
    st->commits = atomic_load(&g->commits);
    st->batches = atomic_load(&g->batches);
    st->conflicts = atomic_load(&g->conflicts);
    st->read_checks = atomic_load(&g->read_checks);
    st->read_checks_logged = atomic_load(&g->read_checks_logged);
    st->retries = atomic_load(&g->retries);
    st->invalidations = atomic_load(&g->invalidations);
    st->map_grows = engine_grows(g->store.eng);
    st->damage = atomic_load(&g->store.damage) + engine_damage(g->store.eng);
    cache_stats(&g->cache, st);
    engine_usage(g->store.eng, &st->map_bytes, &st->file_bytes);
}

int ghost_usage(struct ghost *g, struct ghost_usage *u)
{
    ghost_clear_error();
    return engine_space(g->store.eng, u);
}
