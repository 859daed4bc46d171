/*
 * live.c - changing a connection's options while it serves: read-only or
 * writable, the durability of commits, and the cache's budget. A daemon remounted with new options
 * calls these; everything else keeps the options it was opened with.
 *
 * Read-only here is a promise about what comes next, not about what is
 * pending: ghost_set_readonly(g, true) refuses every write a transaction
 * tries from then on (-EROFS, as a store opened read-only does), and the
 * caller commits and syncs what it still holds first.
 */
#include <errno.h>

#include "internal.h"

int ghost_set_readonly(struct ghost *g, bool on)
{
    ghost_clear_error();
    if (!on && g->opts.readonly)
        return ghost_set_error(-EROFS,
                               "store %s: opened read-only; it cannot become writable "
                               "without being opened again",
                               g->store.path);
    atomic_store_explicit(&g->frozen, on, memory_order_release);
    return 0;
}

int ghost_set_cache_size(struct ghost *g, size_t bytes)
{
    ghost_clear_error();
    if (bytes < ((size_t)1 << 20))
        return ghost_set_error(-EINVAL, "a cache of %zu bytes: at least 1 MiB", bytes);
    cache_set_budget(&g->cache, bytes);
    return 0;
}

int ghost_set_sync(struct ghost *g, enum ghost_sync sync)
{
    ghost_clear_error();
    if (sync > GHOST_SYNC_NONE)
        return ghost_set_error(-EINVAL, "unknown sync mode %d", (int)sync);
    if (sync == conn_sync(g))
        return 0;
    /* The engine first, under its writer lock; the committer's policy
     * (batching, whether a commit counts as synced) follows. A commit
     * between the two may be counted as synced when it was not: the sync
     * below covers it, and everything committed under the old mode. */
    int r = engine_set_sync(g->store.eng, sync);
    if (r)
        return r;
    atomic_store_explicit(&g->sync, (int)sync, memory_order_relaxed);
    r = committer_sync(g);
    if (r == 0)
        ghost_clear_error();
    return r;
}
