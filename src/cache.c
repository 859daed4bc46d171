/*
 * cache.c - the ghost cache: OID -> handle, bounded by a byte budget.
 *
 * A handle is an object's identity in this process. It is either loaded (it
 * holds a blob: the bytes of one committed version and that version's
 * generation) or a ghost (known, nothing loaded). The cache only ever holds
 * committed versions: a transaction's own writes live in the transaction and
 * reach the cache only after its commit succeeded, so an aborted attempt
 * leaves nothing behind.
 *
 * Pinned handles (the filesystem pins an inode while the kernel knows it)
 * are never evicted, though they can be turned into ghosts. Unpinned handles
 * sit on an LRU list, newest first; when the bytes held pass the budget, the
 * oldest are turned into ghosts (their blob freed), and ghosts at the old end
 * are freed outright. Bytes are counted for handles, blobs and the bucket
 * array alike, so the budget bounds the whole cache.
 *
 * Versions only move forward: cache_offer() ignores a version no newer than
 * the one held, and any version read in a view older than the last
 * invalidation (c->floor, a generation). That keeps a reader with an
 * old view from putting stale bytes back after another writer changed them.
 *
 * Blobs are reference counted: a transaction that read an object keeps its
 * blob alive until it ends, even if the cache drops or replaces it.
 *
 * Lock: cache.lock protects the table, the LRU and the counters.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct handle {
    struct hnode node; /* in cache.table; its key is the OID */
    struct list lru;   /* on cache.lru only while unpinned */
    uint64_t pins;
    uint64_t gen;     /* version held (0: absent) */
    uint64_t changed; /* generation of the last change seen */
    struct blob *blob;
    bool loaded; /* gen/blob are meaningful */
};

static size_t blob_bytes(size_t len)
{
    return (sizeof(struct blob) + len + 15) & ~(size_t)15;
}

#define HANDLE_BYTES ((sizeof(struct handle) + 15) & ~(size_t)15)

struct blob *blob_new(uint8_t type, const void *data, size_t len)
{
    struct blob *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->type = type;
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

struct blob *blob_get(struct blob *b)
{
    if (b)
        atomic_fetch_add(&b->refs, 1);
    return b;
}

/* The last reference needs no atomic decrement: only a holder can make
 * another reference, so a count of one, held by us, cannot grow. (The
 * acquire pairs with the release of other holders' decrements.) */
void blob_put(struct blob *b)
{
    if (!b)
        return;
    if (atomic_load_explicit(&b->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

static struct handle *handle_of_node(struct hnode *n)
{
    return list_entry(n, struct handle, node);
}

static struct handle *handle_of_lru(struct list *l)
{
    return list_entry(l, struct handle, lru);
}

int cache_init(struct cache *c, size_t budget)
{
    memset(c, 0, sizeof *c);
    size_t nb = 1024;
    while (nb > 16 && nb * sizeof(struct hnode *) > budget / 8)
        nb /= 2;
    if (htab_init(&c->table, nb))
        return -ENOMEM;
    list_init(&c->lru);
    c->budget = budget;
    c->bytes = nb * sizeof(struct hnode *);
    pthread_mutex_init(&c->lock, NULL);
    return 0;
}

void cache_destroy(struct cache *c)
{
    htab_for_each(n, &c->table)
    {
        struct handle *h = handle_of_node(n);
        blob_put(h->blob);
        free(h);
    }
    htab_destroy(&c->table);
    pthread_mutex_destroy(&c->lock);
}

static struct handle *find(struct cache *c, uint64_t oid)
{
    struct hnode *n = htab_find(&c->table, oid);
    return n ? handle_of_node(n) : NULL;
}

/* Move a recently used unpinned handle to the front. */
static void touch(struct cache *c, struct handle *h)
{
    if (h->pins == 0 && c->lru.next != &h->lru) {
        list_del(&h->lru);
        list_push_front(&c->lru, &h->lru);
    }
}

static void unload(struct cache *c, struct handle *h)
{
    if (h->blob) {
        assert(c->bytes >= blob_bytes(h->blob->len)); /* the byte count never goes negative */
        c->bytes -= blob_bytes(h->blob->len);
        blob_put(h->blob);
        h->blob = NULL;
    }
    if (h->loaded) {
        assert(c->loaded > 0);
        c->loaded--;
    }
    h->loaded = false;
}

static void remove_handle(struct cache *c, struct handle *h)
{
    htab_remove(&c->table, &h->node);
    unload(c, h);
    if (h->changed > c->floor) /* keep refusing views older than its change */
        c->floor = h->changed;
    if (h->pins == 0)
        list_del(&h->lru);
    assert(c->bytes >= HANDLE_BYTES);
    c->bytes -= HANDLE_BYTES;
    free(h);
}

/* Bring the bytes held back under budget, oldest first, sparing `keep`.
 * Pinned handles are not on the LRU: only they can hold the cache above
 * its budget, and only by their handles and blobs. */
static void shrink(struct cache *c, struct handle *keep)
{
    struct list *n = c->lru.prev;
    while (c->bytes > c->budget && n != &c->lru) {
        struct list *prev = n->prev;
        struct handle *h = handle_of_lru(n);
        if (h == keep)
            ;
        else if (h->loaded)
            unload(c, h);
        else
            remove_handle(c, h);
        n = prev;
    }
}

void cache_set_budget(struct cache *c, size_t budget)
{
    pthread_mutex_lock(&c->lock);
    c->budget = budget;
    shrink(c, NULL);
    pthread_mutex_unlock(&c->lock);
}

/* Twice the buckets, if the table stays within a quarter of the budget;
 * without memory for them the chains just grow longer. */
static void grow_table(struct cache *c)
{
    size_t n = c->table.nb * 2;
    size_t add = (n - c->table.nb) * sizeof(struct hnode *);
    if (n * sizeof(struct hnode *) > c->budget / 4)
        return;
    if (htab_resize(&c->table, n) == 0)
        c->bytes += add;
}

static struct handle *get_or_add(struct cache *c, uint64_t oid)
{
    struct handle *h = find(c, oid);
    if (h)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->node.key = oid;
    htab_insert(&c->table, &h->node);
    list_init(&h->lru);
    list_push_front(&c->lru, &h->lru);
    c->bytes += HANDLE_BYTES;
    if (c->table.count > c->table.nb)
        grow_table(c);
    shrink(c, h);
    return h;
}

int cache_lookup(struct cache *c, uint64_t oid, uint64_t *gen, struct blob **blob)
{
    pthread_mutex_lock(&c->lock);
    struct handle *h = find(c, oid);
    int hit = h && h->loaded;
    if (hit) {
        *gen = h->gen;
        *blob = blob_get(h->blob);
        touch(c, h);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

/* Make h (NULL: none, for want of memory) hold version gen, taking over
 * the caller's reference to blob. Returns h. */
static struct handle *load(struct cache *c, struct handle *h, uint64_t gen, struct blob *blob)
{
    if (!h) {
        blob_put(blob);
        return NULL;
    }
    unload(c, h);
    h->gen = gen;
    h->blob = blob;
    h->loaded = true;
    c->loaded++;
    if (blob)
        c->bytes += blob_bytes(blob->len);
    touch(c, h);
    if (c->bytes > c->budget) {
        shrink(c, h);
        if (c->bytes > c->budget) /* no room even after evicting: keep it a ghost */
            unload(c, h);
    }
    return h;
}

/* Returns oid's handle, NULL if there is none (no memory for one). Takes
 * over the caller's reference to blob. */
static struct handle *install(struct cache *c, uint64_t oid, uint64_t gen, struct blob *blob)
{
    return load(c, get_or_add(c, oid), gen, blob);
}

static bool cacheable(const struct cache *c, const struct blob *blob)
{
    return HANDLE_BYTES + (blob ? blob_bytes(blob->len) : 0) <= c->budget / 8;
}

void cache_offer(struct cache *c, uint64_t oid, uint64_t gen, struct blob *blob, uint64_t view_gen)
{
    if (!cacheable(c, blob))
        return;
    pthread_mutex_lock(&c->lock);
    struct handle *h = find(c, oid);
    bool stale = view_gen < c->floor ||
                 (h && (view_gen < h->changed || (h->loaded && gen <= h->gen && gen != 0)));
    if (!stale) {
        h = install(c, oid, gen, blob_get(blob));
        /* A view saw this version at view_gen: a commit of ours older
         * than that, installed late, must not replace it (cache_install). */
        if (h && view_gen > h->changed)
            h->changed = view_gen;
    }
    pthread_mutex_unlock(&c->lock);
}

void cache_lock(struct cache *c)
{
    pthread_mutex_lock(&c->lock);
}

void cache_unlock(struct cache *c)
{
    pthread_mutex_unlock(&c->lock);
}

void cache_install(struct cache *c, uint64_t oid, uint64_t gen, struct blob *blob,
                   uint64_t batch_gen)
{
    ASSERT_HELD(&c->lock);
    struct handle *h = find(c, oid);
    /* Between our commit and this install, a refresh may have seen a newer
     * change of oid (recorded in its handle, or in the floor when it had
     * none), or a reader may have cached a newer version: ours is stale. */
    if (h ? h->changed > batch_gen : c->floor > batch_gen) {
        if (h && !(h->loaded && h->gen > gen))
            unload(c, h);
        blob_put(blob);
        return;
    }
    if (cacheable(c, blob)) {
        h = h ? load(c, h, gen, blob) : install(c, oid, gen, blob); /* found already */
    } else {
        blob_put(blob);
        if (h)
            unload(c, h);
    }
    /* No handle to remember the change by (none, or no memory for one):
     * refuse every offer from an older view instead. */
    if (!h && batch_gen > c->floor)
        c->floor = batch_gen;
    if (h && batch_gen > h->changed)
        h->changed = batch_gen;
}

void cache_invalidate_locked(struct cache *c, uint64_t oid, uint64_t view_gen)
{
    ASSERT_HELD(&c->lock);
    struct handle *h = find(c, oid);
    if (h) {
        unload(c, h);
        if (view_gen > h->changed)
            h->changed = view_gen;
    } else if (view_gen > c->floor) {
        c->floor = view_gen;
    }
}

void cache_invalidate(struct cache *c, uint64_t oid, uint64_t view_gen)
{
    pthread_mutex_lock(&c->lock);
    cache_invalidate_locked(c, oid, view_gen);
    pthread_mutex_unlock(&c->lock);
}

void cache_invalidate_all_locked(struct cache *c, uint64_t view_gen)
{
    ASSERT_HELD(&c->lock);
    if (view_gen > c->floor)
        c->floor = view_gen;
    htab_for_each(n, &c->table)
    {
        struct handle *h = handle_of_node(n);
        if (h->pins)
            unload(c, h);
        else
            remove_handle(c, h);
    }
}

void cache_pin(struct cache *c, uint64_t oid, uint64_t n)
{
    pthread_mutex_lock(&c->lock);
    struct handle *h = get_or_add(c, oid);
    if (h && n) {
        if (h->pins == 0)
            list_del(&h->lru);
        h->pins += n;
    }
    pthread_mutex_unlock(&c->lock);
}

uint64_t cache_unpin(struct cache *c, uint64_t oid, uint64_t n)
{
    uint64_t left = 0;
    pthread_mutex_lock(&c->lock);
    struct handle *h = find(c, oid);
    if (h && h->pins) {
        h->pins = n >= h->pins ? 0 : h->pins - n;
        left = h->pins;
        if (left == 0) {
            list_push_front(&c->lru, &h->lru);
            shrink(c, NULL);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return left;
}

void cache_stats(struct cache *c, struct ghost_stats *st)
{
    pthread_mutex_lock(&c->lock);
    st->cache_bytes = c->bytes;
    st->cache_budget = c->budget;
    st->cache_handles = c->table.count;
    st->cache_loaded = c->loaded;
    st->cache_hits = c->hits;
    st->cache_misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
