/*
 * retry.c - ghost_run(), the retry loop around transactions.
 *
 * Every attempt runs the caller's work in a fresh transaction, so no state
 * from an aborted attempt can leak into the next one (fresh in state: the
 * buffers of a thread's last transaction are reused). A conflict is retried
 * after a backoff, exponential with full jitter; a dropped connection after
 * the engine has connected again.
 */
#include "internal.h"

#include <time.h>

static void backoff(unsigned attempt, uint64_t *seed)
{
    /* Full jitter: sleep a random time in [0, min(cap, base * 2^attempt)). */
    uint64_t cap_ns = 10 * 1000 * 1000, base_ns = 20 * 1000;
    uint64_t limit = attempt >= 9 ? cap_ns : base_ns << attempt;
    if (limit > cap_ns)
        limit = cap_ns;
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    uint64_t ns = *seed % limit;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

int ghost_run(struct ghost *g, int (*fn)(struct ghost_txn *txn, void *arg), void *arg)
{
    ghost_clear_error();
    unsigned max = g->opts.max_retries ? g->opts.max_retries : 10000;
    uint64_t seed = 0; /* seeded at the first retry: most runs need none */
    for (unsigned attempt = 0;; attempt++) {
        struct ghost_txn *t;
        int r = ghost_txn_begin(g, &t);
        if (r)
            return r;
        r = fn(t, arg);
        if (r == 0)
            r = ghost_txn_commit(t);
        else
            ghost_txn_abort(t);
        if (r == -GHOST_EDISCONNECT) {
            /* The engine dropped its connection: every view is dead, and
             * the work starts over on a new one. */
            int rc = engine_reconnect(g->store.eng);
            if (rc)
                return rc;
        } else if (r != -GHOST_ECONFLICT) {
            return r;
        }
        if (attempt + 1 >= max)
            return r == -GHOST_ECONFLICT
                       ? ghost_set_error(r, "gave up after %u conflicting attempts", max)
                       : ghost_set_error(r,
                                         "gave up after %u attempts, the last "
                                         "disconnected",
                                         max);
        atomic_fetch_add(&g->retries, 1);
        if (!seed) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            seed = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15ull + (uint64_t)(uintptr_t)&now;
            seed |= 1;
        }
        backoff(attempt, &seed);
    }
}
