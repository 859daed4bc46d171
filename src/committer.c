/*
 * committer.c - group commit: many transactions applied in one engine write
 * transaction, by one committer at a time.
 *
 * Callers compute their transactions in parallel, outside any lock, then
 * queue them here. If nobody is committing, the caller becomes the leader:
 * in its own thread it takes everything queued (up to max_batch), opens one
 * write transaction of the engine (at the next generation), and for each
 * transaction in turn validates its read set against the current state -
 * which includes the transactions applied before it in the same batch - and
 * applies its writes, or refuses it with a conflict (the stale objects
 * become ghosts). One commit and, in batch mode, one data sync serve them
 * all. Callers that queued meanwhile wait; the leader serves batches until
 * its own transaction is done, then steps down and one of them takes over.
 * So there is one committer at a time, as with a committer thread, without
 * two thread switches per commit. Only after the engine has committed are the
 * written objects installed in the cache and the callers woken.
 *
 * Failures: a full map is grown and the batch rerun; any other failure
 * (a full disk, a damaged page) reruns the batch's transactions one per
 * engine write transaction, so that one bad transaction fails alone. The
 * engine undoes an aborted write transaction entirely, so a failure never
 * leaves half a batch.
 *
 * Durability: sync=always gives every transaction its own fully synced
 * commit; batch syncs each batch's data at commit and the record that makes
 * it reachable lazily (LMDB: its meta page); none syncs nothing on the
 * commit path. A durability request (ghost_sync) forces a full sync after
 * the batch it joins. While some commit is not yet fully synced, a
 * background thread wakes once a second to sync; when all is synced it
 * sleeps until work arrives - an idle connection costs nothing.
 *
 * Waiting: a caller whose transaction is in another's batch polls for it
 * to be done (yielding its vCPU on every turn) for up to SPIN_NS, about a
 * data sync, before it sleeps on its condition variable; a leader polls
 * for the transactions it gathers. A batch takes about one sync, and on a
 * virtual machine whose idle vCPUs halt, waking a sleeping thread costs
 * about as much again - and the next batch cannot fill until the woken
 * threads have queued their next transactions. Polling happens only while
 * a commit is in flight: an idle connection still costs nothing.
 *
 * Lock: committer.lock protects the queue, the flags and each request's
 * done/result/sleeps fields; done, leading and queued are atomic so that
 * pollers may read them without it.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYNC_INTERVAL_S 1

#ifdef GHOST_TEST_HOOKS
void (*ghost_test_after_commit)(struct ghost *g);
#endif

/* Counters that one thread at a time changes (the leader, or a holder of
 * committer.lock) and others only read: a load and a store, not the
 * locked read-modify-write of an atomic add, a few dozen cycles each on
 * the commit path. */
static void bump(atomic_uint_fast64_t *a, uint64_t n)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static size_t queued(struct committer *c)
{
    return atomic_load_explicit(&c->queued, memory_order_relaxed);
}

static void set_queued(struct committer *c, size_t n)
{
    atomic_store_explicit(&c->queued, n, memory_order_relaxed);
}

/* Validate t's reads; on a conflict, ghost every stale object. */
static int validate(struct ghost *g, struct store_batch *b, struct ghost_txn *t)
{
    bool conflict = false;
    for (size_t i = 0; i < t->reads.n; i++) {
        struct read_entry *e = &t->reads.v[i];
        uint64_t head;
        int r = e->map == MAP_OBJECT
                    ? store_check_obj(b, e->oid, e->gen, &head)
                    : store_check_map(b, e->oid, e->map, e->key, e->klen, e->gen, &head);
        if (r == -GHOST_ECONFLICT) {
            conflict = true;
            if (e->map == MAP_OBJECT)
                cache_invalidate(&g->cache, e->oid, b->gen);
        } else if (r) {
            return r;
        }
    }
    return conflict ? -GHOST_ECONFLICT : 0;
}

static int apply(struct store_batch *b, struct ghost_txn *t)
{
    for (size_t i = 0; i < t->writes.n; i++) {
        struct write_entry *w = &t->writes.v[i];
        int r;
        if (w->map == MAP_OBJECT)
            r = w->op == OP_PUT ? store_put_obj(b, w->oid, w->type, w->val, w->vlen)
                                : store_del_obj(b, w->oid);
        else
            r = w->op == OP_PUT ? store_put_map(b, w->oid, w->map, w->key, w->klen, w->val, w->vlen)
                                : store_del_map(b, w->oid, w->map, w->key, w->klen);
        if (r)
            return r;
    }
    return 0;
}

/* Put the objects a committed transaction wrote into the cache: the blob
 * each put made, or "absent". The cache takes over the transaction's
 * reference (its bytes are not looked at again: the transaction is over
 * but for freeing). Called with the cache locked. */
static void install(struct ghost *g, struct ghost_txn *t, uint64_t gen)
{
    ASSERT_HELD(&g->cache.lock);
    for (size_t i = 0; i < t->writes.n; i++) {
        struct write_entry *w = &t->writes.v[i];
        if (w->map == MAP_OBJECT) {
            cache_install(&g->cache, w->oid, w->op == OP_DEL ? 0 : gen, w->blob, gen);
            w->blob = NULL;
            w->val = NULL;
        }
    }
}

struct batch_run {
    struct ghost *g;
    struct commit_req **reqs;
    size_t n;
    struct store_batch b;
    size_t ok;    /* transactions applied (and committed, if the batch was) */
    uint64_t gen; /* the batch's generation */
    bool wrote;   /* it changed a record: the commit took its generation */
};

/* The engine's part of a batch: validate and apply each transaction in one
 * write transaction and commit it. Runs guarded (engine_guarded): damage
 * met anywhere in it ends it, and run_batch aborts what it left open. */
static int run_batch_fn(void *ctx)
{
    struct batch_run *br = ctx;
    struct ghost *g = br->g;
    struct commit_req **reqs = br->reqs;
    struct store_batch *bp = &br->b;
    int r = store_batch_begin(&g->store, bp);
    if (r)
        return r;
    uint64_t checks = 0;
    for (size_t i = 0; i < br->n; i++) {
        struct ghost_txn *t = reqs[i]->txn;
        if (reqs[i]->result == -ENOSPC)
            continue; /* refused by the space check */
        checks += t->reads.n;
        r = validate(g, bp, t);
        if (r == -GHOST_ECONFLICT) {
            reqs[i]->result = r;
            continue;
        }
        r = r ? r : apply(bp, t);
        if (r) {
            store_batch_abort(bp);
            return r;
        }
        reqs[i]->result = 0;
        br->ok++;
    }
    bump(&g->read_checks, checks);
    bump(&g->read_checks_logged, bp->checks_logged);
    if (br->ok == 0) {
        store_batch_abort(bp);
        return 0;
    }
    br->gen = bp->gen;
    br->wrote = bp->wrote;
    return store_batch_commit(bp);
}

/* One engine write transaction for reqs[0..n). Sets each request's result.
 * Returns 0, or an error that concerns the whole batch (nothing applied). */
static int run_batch(struct ghost *g, struct commit_req **reqs, size_t n)
{
    /* Not zeroed whole (a string instruction's start-up cost, on every
     * commit): store_batch_begin() sets the batch up first thing. */
    struct batch_run br;
    br.g = g;
    br.reqs = reqs;
    br.n = n;
    br.b.txn = NULL;
    br.ok = 0;
    int r = store_guarded(&g->store, run_batch_fn, &br, "committing");
    if (r && br.b.txn)
        store_batch_abort(&br.b); /* a fault (reported as ENOSPC or corrupt) left it open */
    if (r || br.ok == 0)
        return r;
#ifdef GHOST_TEST_HOOKS
    if (ghost_test_after_commit)
        ghost_test_after_commit(g);
#endif
    /* Outside the guard: nothing here reads the engine's pages, and a
     * fault here would be a bug of ours, not damage to report.
     * A batch that changed nothing committed nothing: its generation is
     * not ours (another process's next commit takes that id), so nothing
     * may be installed or recorded under it. */
    if (br.wrote) {
        cache_lock(&g->cache);
        for (size_t i = 0; i < n; i++)
            if (reqs[i]->result == 0)
                install(g, reqs[i]->txn, br.gen);
        conn_committed(g, br.gen);
        cache_unlock(&g->cache);
    }
    bump(&g->batches, 1);
    bump(&g->commits, br.ok);
    return 0;
}

/* The most a batch can grow the file, pessimistically: each entry written
 * may copy and split a leaf-to-root path of pages, values take bytes (or
 * overflow pages) of their own, and every batch also rewrites the meta,
 * change log and free list pages. */
#define GROWTH_PAGES_PER_BATCH 64
#define GROWTH_PAGES_PER_ENTRY 16

/* Commit reqs[0..n) and set each request's result. Returns the bound on
 * how much the batch grew the file. */
static uint64_t commit_batch(struct ghost *g, struct commit_req **reqs, size_t n)
{
    size_t bytes = 0, entries = 0;
    bool frees = true;
    for (size_t i = 0; i < n; i++) {
        reqs[i]->result = 1; /* pending */
        bytes += reqs[i]->txn->write_bytes;
        entries += reqs[i]->txn->writes.n;
        frees &= txn_frees_space(reqs[i]->txn);
    }
    if (engine_space_check(g->store.eng, bytes, frees) < 0) {
        /* Not everything fits: let each transaction try on its own. */
        for (size_t i = 0; i < n; i++) {
            struct ghost_txn *t = reqs[i]->txn;
            reqs[i]->result = engine_space_check(g->store.eng, t->write_bytes, txn_frees_space(t));
            if (reqs[i]->result == 0)
                reqs[i]->result = 1;
        }
    }
    /* A grow that failed in this call is not tried again in it: each try
     * may wait (engine_grow) while every new transaction of the process
     * waits on it, and the transactions that kept it from growing are
     * still open. */
    int grow_failed = 0;
    for (;;) {
        int r = run_batch(g, reqs, n);
        if (r == 0)
            break;
        if (r == -GHOST_EGROW) {
            r = engine_grow(g->store.eng);
            if (r == 0) {
                for (size_t i = 0; i < n; i++)
                    if (reqs[i]->result != -ENOSPC)
                        reqs[i]->result = 1;
                continue;
            }
            grow_failed = r;
        }
        if (n == 1) {
            reqs[0]->result = r;
            break;
        }
        /* Rerun one by one so that only the failing transaction fails. */
        for (size_t i = 0; i < n; i++) {
            if (reqs[i]->result == -ENOSPC)
                continue;
            reqs[i]->result = 1;
            for (;;) {
                r = run_batch(g, &reqs[i], 1);
                if (r != -GHOST_EGROW)
                    break;
                /* A grow that failed answers with its own error, as above
                 * (-GHOST_ECONFLICT while views are open, which ghost_run
                 * retries): -GHOST_EGROW is the engine's, never a result. */
                r = grow_failed ? grow_failed : engine_grow(g->store.eng);
                if (r) {
                    grow_failed = r;
                    break;
                }
                reqs[i]->result = 1;
            }
            if (r)
                reqs[i]->result = r;
        }
        break;
    }
    for (size_t i = 0; i < n; i++) {
        if (reqs[i]->result == -GHOST_ECONFLICT)
            bump(&g->conflicts, 1);
        assert(reqs[i]->result != 1); /* every request was answered */
        if (reqs[i]->result == 1)     /* (in release builds: never report success by default) */
            reqs[i]->result = -EIO;
    }
    return engine_growth_bound(g->store.eng, entries, bytes);
}

/* Look at the map's usage at least this often, whatever the bound says:
 * other processes grow the file too. */
#define MAP_CHECK_BATCHES 64

/* Grow the map before it fills, here where no view is held, so that small
 * writers inside a transaction rarely meet a full map: when more than half
 * of it is used. Looking costs a lock and an engine call, so after a look the
 * leader skips looking while the batches since, by their bound on growth,
 * cannot have crossed half way to that point: it grows the map after the
 * same batch as if it looked after every one, and looks after every batch
 * once the map is close to the point. Leader only. */
static void watch_map(struct ghost *g, uint64_t growth)
{
    struct committer *c = &g->com;
    if (growth < c->map_slack && c->map_quiet < MAP_CHECK_BATCHES) {
        c->map_slack -= growth;
        c->map_quiet++;
        return;
    }
    uint64_t map, used;
    engine_usage(g->store.eng, &map, &used);
    c->map_slack = used < map / 2 ? (map / 2 - used) / 2 : 0;
    c->map_quiet = 0;
    if (used > map / 2 && engine_grow(g->store.eng) == 0)
        c->map_slack = 0; /* look again after the next batch */
}

/* Take up to max transactions and every durability request queued; the
 * rest stay queued in order. Called with c->lock held. */
static void take(struct committer *c, size_t max, size_t *n, size_t *ns)
{
    ASSERT_HELD(&c->lock);
    struct commit_req *q = c->head, *keep = NULL, *keep_tail = NULL;
    *n = 0;
    vec_clear(&c->syncs);
    while (q) {
        struct commit_req *next = q->next;
        q->next = NULL;
        bool took = false;
        if (q->txn && *n < max) {
            c->txns[(*n)++] = q;
            took = true;
        } else if (!q->txn) {
            /* Without memory to take it, it stays queued for a later batch. */
            took = vec_push(&c->syncs, q) == 0;
        }
        if (took) {
            set_queued(c, queued(c) - 1);
        } else {
            if (keep_tail)
                keep_tail->next = q;
            else
                keep = q;
            keep_tail = q;
        }
        q = next;
    }
    c->head = keep;
    *ns = c->syncs.n;
    c->tail = keep_tail;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long a caller polls for its transaction's batch to be done. */
#define SPIN_NS 300000

/* How long a leader in batch mode waits for transactions that other
 * threads are still computing, to commit them in the same batch. */
#define GATHER_NS 200000
#define GATHER_MIN_NS 20000

/* Wait (at most GATHER_NS) for the transactions that will soon be queued:
 * those other threads are computing now, or as many as the last batch and
 * its followers had (their threads are waking up from it). Called with
 * c->lock held; drops it while it polls. */
static void gather(struct ghost *g)
{
    struct committer *c = &g->com;
    ASSERT_HELD(&c->lock);
    size_t want = (size_t)atomic_load(&g->writers) + c->queued;
    if (c->recent > want)
        want = c->recent;
    if (want > g->opts.max_batch)
        want = g->opts.max_batch;
    if (conn_sync(g) != GHOST_SYNC_BATCH || c->queued >= want)
        return;
    /* Waiting pays only while a commit costs more than the wait: never
     * wait longer than the last batch took. */
    int64_t wait = c->last_commit_ns < GATHER_NS ? (int64_t)c->last_commit_ns : GATHER_NS;
    if (wait < GATHER_MIN_NS) /* commits are cheap (no real sync): just go */
        return;
    pthread_mutex_unlock(&c->lock);
    int64_t until = mono_ns() + wait;
    while (atomic_load(&c->queued) < want && mono_ns() < until)
        sched_yield();
    pthread_mutex_lock(&c->lock);
}

/* Wake q's caller if it sleeps (see sleep_on). Called with c->lock held. */
static void wake_caller(struct commit_req *q)
{
    if (q->sleeps)
        pthread_cond_signal(&q->wake);
}

/* Commits were made that are not yet forced to disk: start the background
 * sync timer if it is not running. Called with c->lock held. */
static void note_unsynced(struct committer *c)
{
    ASSERT_HELD(&c->lock);
    if (!c->unsynced) {
        c->unsynced = true;
        pthread_cond_signal(&c->wake);
    }
}

/* A leader stepped down: the oldest waiter leads next, or committer_stop,
 * waiting for the last commit, may go on. Called with c->lock held. */
static void hand_on(struct committer *c)
{
    ASSERT_HELD(&c->lock);
    if (c->head)
        wake_caller(c->head);
    else if (c->stop)
        pthread_cond_broadcast(&c->more);
}

/* Become the leader, if nobody is. */
static bool take_lead(struct committer *c)
{
    bool idle = false;
    return atomic_compare_exchange_strong_explicit(&c->leading, &idle, true, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* The leader: a caller whose request is queued while nobody commits becomes
 * the committer, in its own thread, and commits batches until its own
 * request is done; then it hands the lead to the oldest waiter, if any.
 * Group commit without a thread switch on the way in or out, and each
 * waiter is woken once, when its request is done (or when it must lead).
 * Called and returns with c->lock held. */
static void lead(struct ghost *g, struct commit_req *mine)
{
    struct committer *c = &g->com;
    ASSERT_HELD(&c->lock);
    size_t max = conn_sync(g) == GHOST_SYNC_ALWAYS ? 1 : g->opts.max_batch;
    while (!mine->done && c->head) {
        size_t n, ns;
        gather(g);
        take(c, max, &n, &ns);
        pthread_mutex_unlock(&c->lock);
        if (n) {
            /* Only gather() uses the time, and only in batch mode. */
            bool timed = conn_sync(g) == GHOST_SYNC_BATCH;
            int64_t t0 = timed ? mono_ns() : 0;
            uint64_t growth = commit_batch(g, c->txns, n);
            if (timed)
                c->last_commit_ns = (uint64_t)(mono_ns() - t0);
            watch_map(g, growth);
        }
        bool synced = conn_sync(g) == GHOST_SYNC_ALWAYS;
        int r = ns ? engine_sync(g->store.eng, true) : 0;
        if (ns)
            synced = r == 0;
        pthread_mutex_lock(&c->lock);
        /* Signal, then set done: a caller polling done returns (and its
         * request ends) the moment it sees it. */
        for (size_t i = 0; i < n; i++) {
            if (c->txns[i] != mine)
                wake_caller(c->txns[i]);
            atomic_store_explicit(&c->txns[i]->done, true, memory_order_release);
        }
        for (size_t i = 0; i < ns; i++) {
            struct commit_req *q = c->syncs.v[i];
            q->result = r;
            if (q != mine)
                wake_caller(q);
            atomic_store_explicit(&q->done, true, memory_order_release);
        }
        c->recent = n + c->queued; /* this batch and those who queued meanwhile */
        if (ns && synced)
            c->unsynced = false;
        else if (n && !synced)
            note_unsynced(c);
    }
    atomic_store_explicit(&c->leading, false, memory_order_release);
    hand_on(c);
}

/* The background thread: syncs a second after unsynced commits, grows the
 * map on request, and sleeps otherwise. */
static void *committer_main(void *arg)
{
    struct ghost *g = arg;
    struct committer *c = &g->com;

    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (c->grow_wanted) {
            c->grow_wanted = false;
            pthread_mutex_unlock(&c->lock);
            engine_grow(g->store.eng);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (!c->unsynced) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SYNC_INTERVAL_S;
        if (pthread_cond_timedwait(&c->wake, &c->lock, &ts) == ETIMEDOUT && c->unsynced) {
            c->unsynced = false;
            /* Against commit_alone, which reads unsynced without the lock
             * after its commit: either it sees false and signals, or the
             * sync below covers its commit. */
            atomic_thread_fence(memory_order_seq_cst);
            pthread_mutex_unlock(&c->lock);
            engine_sync(g->store.eng, true);
            pthread_mutex_lock(&c->lock);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int committer_start(struct ghost *g)
{
    struct committer *c = &g->com;
    memset(c, 0, sizeof *c);
    c->txns = calloc(g->opts.max_batch ? g->opts.max_batch : 1, sizeof *c->txns);
    if (!c->txns)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->more, NULL);
    int r = pthread_create(&c->thread, NULL, committer_main, g);
    if (r) {
        free(c->txns);
        return -r;
    }
    c->running = true;
    return 0;
}

void committer_stop(struct ghost *g)
{
    struct committer *c = &g->com;
    if (!c->running)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    while (c->leading || c->head)
        pthread_cond_wait(&c->more, &c->lock);
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    c->running = false;
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->more);
    free(c->txns);
    vec_free(&c->syncs);
}

/* A request's condition variable is initialized only when its caller
 * first sleeps: most requests are served by their own caller as leader, or
 * while it polls, and never need one. Both run with c->lock held, which
 * orders the initialization before any signal. */
static void sleep_on(struct committer *c, struct commit_req *q)
{
    ASSERT_HELD(&c->lock);
    if (!q->sleeps) {
        pthread_cond_init(&q->wake, NULL);
        q->sleeps = true;
    }
    pthread_cond_wait(&q->wake, &c->lock);
}

/* Poll (without c->lock, which the caller holds) until q is done, the
 * leader steps down or SPIN_NS pass. Returns true, without the lock, when q
 * is done; else false, with the lock. */
static bool poll_done(struct committer *c, struct commit_req *q)
{
    ASSERT_HELD(&c->lock);
    pthread_mutex_unlock(&c->lock);
    int64_t until = mono_ns() + SPIN_NS;
    while (!atomic_load(&q->done) && atomic_load(&c->leading) && mono_ns() < until)
        sched_yield();
    if (atomic_load(&q->done))
        return true;
    pthread_mutex_lock(&c->lock);
    return false;
}

/* The uncontended case: nobody commits and nothing is queued. The caller
 * takes the lead by a compare-and-swap, commits its transaction alone and
 * gives the lead up by a store - without the queue, its lock and its
 * bookkeeping, which cost as much as the rest of the commit path together.
 * Not in batch mode, whose leader waits for company (gather). Returns false,
 * having done nothing, when someone else leads or waits.
 *
 * A caller that queued meanwhile saw us leading and polls or sleeps. It
 * publishes itself (queued) and then looks at `leading`; we clear `leading`
 * and then look at `queued`, each with a full fence between: one of us sees
 * the other, so either it leads or we wake it. */
static bool commit_alone(struct ghost *g, struct commit_req *q)
{
    struct committer *c = &g->com;
    if (conn_sync(g) == GHOST_SYNC_BATCH || queued(c) ||
        atomic_load_explicit(&c->stop, memory_order_relaxed) || !take_lead(c))
        return false;
    struct commit_req *reqs[1] = {q};
    watch_map(g, commit_batch(g, reqs, 1));
    bool synced = conn_sync(g) == GHOST_SYNC_ALWAYS;
    atomic_store_explicit(&c->leading, false, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (queued(c) || atomic_load_explicit(&c->stop, memory_order_relaxed) ||
        (!synced && !atomic_load_explicit(&c->unsynced, memory_order_relaxed))) {
        pthread_mutex_lock(&c->lock);
        if (!synced)
            note_unsynced(c);
        if (!c->leading) /* nobody took the lead after us */
            hand_on(c);
        pthread_mutex_unlock(&c->lock);
    }
    return true;
}

static int submit(struct ghost *g, struct commit_req *q)
{
    struct committer *c = &g->com;
    bool polled = false;
    if (q->txn && commit_alone(g, q))
        return q->result;
    pthread_mutex_lock(&c->lock);
    if (c->stop && !c->leading) {
        pthread_mutex_unlock(&c->lock);
        return -ESHUTDOWN;
    }
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    set_queued(c, queued(c) + 1);
    atomic_thread_fence(memory_order_seq_cst); /* see commit_alone */
    while (!q->done) {
        if (take_lead(c)) {
            lead(g, q);
        } else if (!polled) {
            polled = true;
            if (poll_done(c, q))
                goto out;
        } else {
            sleep_on(c, q);
        }
    }
    pthread_mutex_unlock(&c->lock);
out:
    if (q->sleeps)
        pthread_cond_destroy(&q->wake);
    return q->result;
}

int committer_submit(struct ghost *g, struct ghost_txn *t)
{
    struct commit_req q = {.txn = t};
    return submit(g, &q);
}

void committer_request_grow(struct ghost *g)
{
    struct committer *c = &g->com;
    pthread_mutex_lock(&c->lock);
    c->grow_wanted = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

int committer_sync(struct ghost *g)
{
    struct commit_req q = {0};
    return submit(g, &q);
}
