/*
 * txn.c - optimistic transactions: read set and write set.
 *
 * A transaction remembers every object and map key it read, with the
 * generation of the version it saw (0 for "absent"), and buffers every write:
 * map keys and values in its own arena, an object's bytes in a new blob that
 * the cache takes over once the commit succeeded. Nothing it does is visible
 * to anybody else - not even to the cache - until the committer has
 * validated the read set inside the engine's write transaction and applied the
 * writes. Reads see the transaction's own writes first (read-your-writes),
 * then the cache, then the store.
 *
 * Objects are read through the cache; map keys straight from the engine
 * (for LMDB a B-tree lookup on a memory map). The read view is begun lazily
 * on the first read that needs it and ended before commit, so views stay
 * short.
 *
 * ghost_run(), the retry loop around them, is retry.c's.
 *
 * A transaction belongs to one thread; it takes no locks of its own.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    unsigned char data[];
};

static void *arena_alloc(struct ghost_txn *t, size_t n)
{
    struct arena_chunk *c = t->arena;
    n = (n + 15) & ~(size_t)15;
    if (!c || c->size - c->used < n) {
        /* Start small (most transactions are), grow geometrically. */
        size_t size = c ? c->size * 2 : 1024;
        if (size > 65536)
            size = 65536;
        if (size < n)
            size = n;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = t->arena;
        t->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static void *arena_dup(struct ghost_txn *t, const void *p, size_t n)
{
    void *q = arena_alloc(t, n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

/* ---- read and write sets: arrays, indexed once they are big ------------- */

/* Most transactions read and write a handful of entries: up to SCAN_MAX a
 * set is searched by comparing every entry, which costs less than hashing
 * the key; past it, an open-addressing index finds entries. */
#define SCAN_MAX 8

static uint64_t entry_hash(uint64_t oid, unsigned map, const void *key, size_t klen)
{
    return XXH3_64bits_withSeed(key, klen, oid * 0x9e3779b97f4a7c15ull + map);
}

/* Entries are read_entry or write_entry, which share their first four
 * members' layout by design. */
#define SAME_KEY(x, OID, MAP, KEY, KLEN)                                                           \
    ((x)->oid == (OID) && (x)->map == (MAP) && (x)->klen == (KLEN) &&                              \
     ((KLEN) == 0 || !memcmp((x)->key, KEY, KLEN)))

/* Find (oid,map,key) in the set arr[0..n) with index ix: OUT = the entry,
 * or NULL. */
#define FIND(arr, n, ix, OID, MAP, KEY, KLEN, OUT)                                                 \
    do {                                                                                           \
        OUT = NULL;                                                                                \
        if (!(ix).cap) {                                                                           \
            for (size_t e_ = 0; e_ < (n); e_++)                                                    \
                if (SAME_KEY(&(arr)[e_], OID, MAP, KEY, KLEN)) {                                   \
                    OUT = &(arr)[e_];                                                              \
                    break;                                                                         \
                }                                                                                  \
            break;                                                                                 \
        }                                                                                          \
        size_t m_ = (ix).cap - 1;                                                                  \
        size_t i_ = (size_t)entry_hash(OID, MAP, KEY, KLEN) & m_;                                  \
        for (uint32_t e_; (e_ = (ix).slots[i_]) != 0; i_ = (i_ + 1) & m_)                          \
            if (SAME_KEY(&(arr)[e_ - 1], OID, MAP, KEY, KLEN)) {                                   \
                OUT = &(arr)[e_ - 1];                                                              \
                break;                                                                             \
            }                                                                                      \
    } while (0)

static const struct read_entry *entry_at(const void *arr, size_t esize, size_t e)
{
    return (const struct read_entry *)((const char *)arr + e * esize);
}

static void index_insert(struct set_index *ix, const struct read_entry *x, size_t e)
{
    size_t m = ix->cap - 1;
    size_t i = (size_t)entry_hash(x->oid, x->map, x->key, x->klen) & m;
    while (ix->slots[i])
        i = (i + 1) & m;
    ix->slots[i] = (uint32_t)(e + 1);
}

/* The set arr has just grown to n entries, the last one new. Index it if
 * the set is past scanning, keeping at least twice as many slots as
 * entries. Without memory for the index the set is scanned instead, which
 * is slower but just as correct, so this cannot fail. */
static void index_add(struct set_index *ix, size_t n, const void *arr, size_t esize)
{
    if (n <= SCAN_MAX)
        return;
    if (ix->cap && n * 2 < ix->cap) {
        index_insert(ix, entry_at(arr, esize, n - 1), n - 1);
        return;
    }
    size_t cap = ix->cap ? ix->cap * 2 : 4 * SCAN_MAX;
    ix->cap = 0;
    if (cap > ix->alloc) {
        uint32_t *p = malloc(cap * sizeof *p);
        if (!p)
            return;
        free(ix->slots);
        ix->slots = p;
        ix->alloc = cap;
    }
    memset(ix->slots, 0, cap * sizeof *ix->slots);
    ix->cap = cap;
    for (size_t e = 0; e < n; e++)
        index_insert(ix, entry_at(arr, esize, e), e);
}

static struct read_entry *find_read(struct ghost_txn *t, uint64_t oid, unsigned map,
                                    const void *key, size_t klen)
{
    struct read_entry *e;
    FIND(t->reads.v, t->reads.n, t->read_idx, oid, map, key, klen, e);
    return e;
}

/* Remember a read; the first generation seen is the one validated. */
static int note_read(struct ghost_txn *t, uint64_t oid, unsigned map, const void *key, size_t klen,
                     uint64_t gen)
{
    if (find_read(t, oid, map, key, klen))
        return 0;
    if (vec_reserve(&t->reads, t->reads.n + 1) < 0)
        return -ENOMEM;
    const unsigned char *k = klen ? arena_dup(t, key, klen) : NULL;
    if (klen && !k)
        return -ENOMEM;
    struct read_entry *e = &t->reads.v[t->reads.n++];
    *e = (struct read_entry){.oid = oid, .map = map, .klen = (unsigned)klen, .key = k, .gen = gen};
    index_add(&t->read_idx, t->reads.n, t->reads.v, sizeof *e);
    return 0;
}

static struct write_entry *find_write(struct ghost_txn *t, uint64_t oid, unsigned map,
                                      const void *key, size_t klen)
{
    struct write_entry *e;
    FIND(t->writes.v, t->writes.n, t->write_idx, oid, map, key, klen, e);
    return e;
}

static struct write_entry *add_write(struct ghost_txn *t, uint64_t oid, unsigned map,
                                     const void *key, size_t klen)
{
    if (vec_reserve(&t->writes, t->writes.n + 1) < 0)
        return NULL;
    const unsigned char *k = klen ? arena_dup(t, key, klen) : NULL;
    if (klen && !k)
        return NULL;
    struct write_entry *e = &t->writes.v[t->writes.n++];
    *e = (struct write_entry){.oid = oid, .map = map, .klen = (unsigned)klen, .key = k};
    index_add(&t->write_idx, t->writes.n, t->writes.v, sizeof *e);
    return e;
}

static int note_write(struct ghost_txn *t, uint64_t oid, unsigned map, const void *key, size_t klen,
                      int op, uint8_t type, const void *val, size_t vlen)
{
    if (t->snapshot || conn_readonly(t->g))
        return ghost_set_error(-EROFS, "write in a read-only %s",
                               t->snapshot ? "snapshot view" : "store");
    /* A writer: in batch mode the committer may wait a moment for us (the
     * count serves nothing else, so the other modes skip its atomics). */
    if (!t->counted && conn_sync(t->g) == GHOST_SYNC_BATCH) {
        t->counted = true;
        atomic_fetch_add(&t->g->writers, 1);
    }
    /* The value first, so that a failure leaves the write set as it was.
     * An object's bytes go straight into the blob the cache will hold once
     * the commit succeeded: one copy, made here, outside the committer. */
    struct blob *blob = NULL;
    const void *v = NULL;
    if (op == OP_PUT && map == MAP_OBJECT) {
        blob = blob_new(type, val, vlen);
        v = blob ? blob->data : NULL;
    } else if (op == OP_PUT) {
        v = arena_dup(t, val, vlen);
    }
    if (op == OP_PUT && !v)
        return -ENOMEM;
    struct write_entry *e = find_write(t, oid, map, key, klen);
    if (!e)
        e = add_write(t, oid, map, key, klen);
    /* An earlier put's bytes stay borrowed until the txn ends: keep them. */
    if (!e || (e->blob && vec_reserve(&t->blobs, t->blobs.n + 1) < 0)) {
        blob_put(blob);
        return -ENOMEM;
    }
    if (e->blob)
        t->blobs.v[t->blobs.n++] = e->blob;
    e->op = op;
    e->type = type;
    e->vlen = vlen;
    e->val = v;
    e->blob = blob;
    if (op == OP_PUT)
        t->write_bytes += vlen + klen + 32;
    else
        t->ndeletes++;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int view(struct ghost_txn *t)
{
    if (t->view)
        return 0;
    t->view_lent = false;
    return store_view_begin(&t->g->store, &t->view);
}

void txn_release_view(struct ghost_txn *t)
{
    if (t->view)
        store_view_end(&t->g->store, t->view);
    t->view = NULL;
    while (t->nspent)
        store_view_end(&t->g->store, t->spent[--t->nspent]);
}

/* A read that met damage may leave its view unusable: LMDB refuses every
 * later read of a transaction that met a damaged page, and a read the guard
 * cut short (engine_guarded) leaves the view in no state worth trusting.
 * So the next read begins a fresh view, and other records stay readable.
 * The old one ends now if no read lent bytes from it; else it is set aside
 * until the transaction ends, for what it lent stays borrowed till then.
 * Past SPENT_VIEWS_MAX such views it is kept in use, and later reads in it
 * may fail too (never with wrong data: LMDB refuses them). Returns r. */
static int spend_view(struct ghost_txn *t, int r)
{
    if (r != -GHOST_ECORRUPT || !t->view)
        return r;
    if (!t->view_lent) {
        store_view_end(&t->g->store, t->view);
        t->view = NULL;
    } else if (t->nspent < SPENT_VIEWS_MAX) {
        t->spent[t->nspent++] = t->view;
        t->view = NULL;
    }
    return r;
}

/* Retired transactions. A transaction's buffers (the struct, both sets and
 * their indexes, the blob list, an arena chunk) cost more to allocate and
 * free than a small transaction's own work, so each thread keeps the
 * buffers of its last ended transaction, and its next transaction starts
 * from them. Only buffers are kept - no state, no reference to the ghost -
 * and txn_new() resets every field, so nothing of an ended (or aborted)
 * attempt reaches the next one, whichever ghost that belongs to. Buffers
 * past the SPARE_* sizes are freed rather than kept, so a thread holds a
 * few KiB at most; the spare is freed when its thread exits. */
#define SPARE_ENTRIES 256 /* reads, writes, blobs */
#define SPARE_SLOTS 1024  /* index slots */
#define SPARE_ARENA 16384 /* bytes of the one arena chunk kept */

static HOT_TLS struct ghost_txn *spare;
static HOT_TLS bool spare_registered;
static pthread_key_t spare_key;
static bool spare_key_ok;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void txn_destroy(struct ghost_txn *t)
{
    if (!t)
        return;
    while (t->arena) {
        struct arena_chunk *n = t->arena->next;
        free(t->arena);
        t->arena = n;
    }
    vec_free(&t->blobs);
    vec_free(&t->reads);
    free(t->read_idx.slots);
    vec_free(&t->writes);
    free(t->write_idx.slots);
    free(t);
}

/* Thread exit: the key's value is the address of that thread's spare. */
static void spare_destroy(void *slot)
{
    struct ghost_txn **s = slot;
    txn_destroy(*s);
    *s = NULL;
}

static void spare_key_create(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spare_destroy) == 0;
}

/* Free an array (a VEC) grown past what a spare keeps. */
#define trim_array(a)                                                                              \
    do {                                                                                           \
        if ((a)->cap > SPARE_ENTRIES)                                                              \
            vec_free(a);                                                                           \
    } while (0)

static void trim_index(struct set_index *ix)
{
    if (ix->alloc > SPARE_SLOTS) {
        free(ix->slots);
        ix->slots = NULL;
        ix->alloc = 0;
    }
    ix->cap = 0;
}

/* Free what a spare should not keep: all arena chunks but the newest (the
 * largest), that one too if it is big, and oversized arrays. */
static void trim(struct ghost_txn *t)
{
    struct arena_chunk *c = t->arena;
    if (c) {
        struct arena_chunk *n = c->next;
        while (n) {
            struct arena_chunk *next = n->next;
            free(n);
            n = next;
        }
        c->next = NULL;
        c->used = 0;
        if (c->size > SPARE_ARENA) {
            free(c);
            t->arena = NULL;
        }
    }
    trim_array(&t->reads);
    trim_array(&t->writes);
    trim_array(&t->blobs);
    trim_index(&t->read_idx);
    trim_index(&t->write_idx);
}

/* Keep t's buffers as this thread's spare, or free them. */
static void retire(struct ghost_txn *t)
{
    if (spare) { /* this thread ended two transactions in a row */
        txn_destroy(t);
        return;
    }
    if (!spare_registered) { /* first time: free the spare at thread exit */
        pthread_once(&spare_once, spare_key_create);
        if (!spare_key_ok || pthread_setspecific(spare_key, &spare) != 0) {
            txn_destroy(t);
            return;
        }
        spare_registered = true;
    }
    trim(t);
    spare = t;
}

void txn_free(struct ghost_txn *t)
{
    if (t->counted) {
        int before = atomic_fetch_sub(&t->g->writers, 1);
        assert(before > 0); /* counted once, uncounted once */
        (void)before;
    }
    txn_release_view(t);
    for (size_t i = 0; i < t->blobs.n; i++)
        blob_put(t->blobs.v[i]);
    for (size_t i = 0; i < t->writes.n; i++)
        blob_put(t->writes.v[i].blob);
    retire(t);
}

static struct ghost_txn *txn_new(struct ghost *g)
{
    struct ghost_txn *t = spare;
    spare = NULL;
    if (!t && !(t = calloc(1, sizeof *t)))
        return NULL;
    /* Every field anew; of a spare only its (trimmed, empty) buffers are
     * kept. Field by field: assigning a whole new struct costs a string
     * store whose start-up is a good part of a small transaction. A field
     * added to struct ghost_txn must be reset here (next_txn_starts_clean
     * in test_txn checks the ones that matter). */
    t->g = g;
    t->at = GEN_HEAD;
    t->snapshot = false;
    t->view = NULL;
    t->view_lent = false;
    t->nspent = 0;
    vec_clear(&t->reads);
    t->read_idx.cap = 0;
    vec_clear(&t->writes);
    t->write_idx.cap = 0;
    vec_clear(&t->blobs);
    t->write_bytes = 0;
    t->ndeletes = 0;
    t->counted = false;
    return t;
}

int ghost_txn_begin(struct ghost *g, struct ghost_txn **out)
{
    ghost_clear_error();
    int r = ghost_refresh(g);
    if (r < 0)
        return r;
    *out = txn_new(g);
    return *out ? 0 : -ENOMEM;
}

int ghost_txn_begin_view(struct ghost *g, struct ghost_txn **out)
{
    ghost_clear_error();
    struct ghost_txn *t = txn_new(g);
    if (!t)
        return -ENOMEM;
    int r = view(t);
    if (r) {
        txn_free(t);
        return r;
    }
    t->at = GEN_HEAD; /* the head, as this one view sees it */
    t->snapshot = true;
    *out = t;
    return 0;
}

int ghost_txn_begin_snapshot(struct ghost *g, const char *name, struct ghost_txn **out)
{
    ghost_clear_error();
    struct ghost_txn *t = txn_new(g);
    if (!t)
        return -ENOMEM;
    int r = view(t);
    r = r ? r : store_snap_find(&g->store, t->view, name, &t->at);
    if (r) {
        txn_free(t);
        return r;
    }
    t->snapshot = true;
    *out = t;
    return 0;
}

uint64_t ghost_txn_generation(const struct ghost_txn *t)
{
    if (t->at != GEN_HEAD)
        return t->at;
    struct ghost_txn *m = (struct ghost_txn *)t;
    if (view(m))
        return 0;
    return engine_txn_gen(t->view);
}

void ghost_txn_abort(struct ghost_txn *t)
{
    if (t)
        txn_free(t);
}

int ghost_txn_commit(struct ghost_txn *t)
{
    ghost_clear_error();
    int r = 0;
    txn_release_view(t);
    if (t->writes.n == 0) {
        txn_free(t);
        return 0;
    }
    if (t->counted) { /* no longer computing: it is in the queue */
        t->counted = false;
        int before = atomic_fetch_sub(&t->g->writers, 1);
        assert(before > 0);
        (void)before;
    }
    r = committer_submit(t->g, t);
    txn_free(t);
    /* As leader this thread may have met others' failures, and the map's
     * upkeep may have failed harmlessly: none of that is this call's. */
    if (r == 0)
        ghost_clear_error();
    return r;
}

/* ---- objects ------------------------------------------------------------------ */

static int keep_blob(struct ghost_txn *t, struct blob *b)
{
    if (vec_reserve(&t->blobs, t->blobs.n + 1) < 0) {
        blob_put(b);
        return -ENOMEM;
    }
    t->blobs.v[t->blobs.n++] = b;
    return 0;
}

int ghost_oid_alloc(struct ghost_txn *t, uint64_t *oid)
{
    ghost_clear_error();
    struct ghost *g = t->g;
    if (t->snapshot || conn_readonly(g))
        return ghost_set_error(-EROFS, "cannot allocate an OID in a read-only view");
    pthread_mutex_lock(&g->oid_lock);
    int r = 0;
    if (g->oid_next == g->oid_end) {
        uint64_t first;
        /* With a view of ours open a grow would wait for it in vain (and
         * every new transaction of the process with it): refuse at once. */
        r = store_oid_block(&g->store, 1024, &first, !t->view);
        if (r == -GHOST_ECONFLICT) /* full map, and a view blocks growth */
            committer_request_grow(g);
        if (!r) {
            g->oid_next = first;
            g->oid_end = first + 1024;
        }
    }
    if (!r)
        *oid = g->oid_next++;
    pthread_mutex_unlock(&g->oid_lock);
    return r;
}

static int check_oid(uint64_t oid)
{
    if (oid == 0 || oid > GHOST_OID_MAX)
        return ghost_set_error(-EINVAL, "object %llu: not a valid OID (1..2^63-1)",
                               (unsigned long long)oid);
    return 0;
}

int ghost_obj_get(struct ghost_txn *t, uint64_t oid, uint8_t *type, const void **data, size_t *len)
{
    ghost_clear_error();
    uint8_t ty;
    const void *d;
    size_t l;
    uint64_t gen;
    struct blob *b;
    int r;

    if (!type)
        type = &ty;
    if (!data)
        data = &d;
    if (!len)
        len = &l;
    r = check_oid(oid);
    if (r)
        return r;
    if (t->snapshot) {
        r = view(t);
        r = r ? r : store_obj_read(&t->g->store, t->view, oid, t->at, &gen, type, data, len);
        t->view_lent |= r == 0;
        return spend_view(t, r);
    }
    struct write_entry *w = find_write(t, oid, MAP_OBJECT, NULL, 0);
    if (w) {
        if (w->op == OP_DEL)
            return -ENOENT;
        *type = w->type;
        *data = w->val;
        *len = w->vlen;
        return 0;
    }
    if (cache_lookup(&t->g->cache, oid, &gen, &b)) {
        r = note_read(t, oid, MAP_OBJECT, NULL, 0, gen);
        if (!b)
            return r ? r : -ENOENT;
        if (r) { /* no memory to note the read: the reference goes back */
            blob_put(b);
            return r;
        }
        r = keep_blob(t, b);
        if (r)
            return r;
        *type = b->type;
        *data = b->data;
        *len = b->len;
        return 0;
    }
    r = view(t);
    if (r)
        return r;
    r = store_obj_read(&t->g->store, t->view, oid, GEN_HEAD, &gen, type, data, len);
    if (r && r != -ENOENT)
        return spend_view(t, r);
    b = r ? NULL : blob_new(*type, *data, *len);
    if (!r && !b)
        return -ENOMEM;
    cache_offer(&t->g->cache, oid, gen, b, engine_txn_gen(t->view));
    int r2 = note_read(t, oid, MAP_OBJECT, NULL, 0, gen);
    if (b && r2)
        blob_put(b);
    else if (b) {
        r2 = r2 ? r2 : keep_blob(t, b);
        if (!r2) {
            *data = b->data; /* stable until the txn ends, unlike the view */
        }
    }
    return r2 ? r2 : r;
}

int ghost_obj_generation(struct ghost_txn *t, uint64_t oid, uint64_t *gen)
{
    ghost_clear_error();
    uint8_t type;
    const void *data;
    size_t len;
    int r = check_oid(oid);
    if (r)
        return r;
    if (!t->snapshot) {
        /* Through the cache, so that the generation is that of the
         * version ghost_obj_get hands out, as its read remembered it. */
        r = ghost_obj_get(t, oid, NULL, NULL, NULL);
        const struct read_entry *e = r ? NULL : find_read(t, oid, MAP_OBJECT, NULL, 0);
        if (r || e) {
            *gen = e ? e->gen : 0;
            return r;
        }
        /* Only a pending write of our own was read: the committed
         * version's generation comes from the store. */
    }
    r = view(t);
    r = r ? r : store_obj_read(&t->g->store, t->view, oid, t->at, gen, &type, &data, &len);
    t->view_lent |= r == 0;
    return spend_view(t, r);
}

int ghost_obj_put(struct ghost_txn *t, uint64_t oid, uint8_t type, const void *data, size_t len)
{
    ghost_clear_error();
    int r = check_oid(oid);
    if (r)
        return r;
    if (type == 0)
        return ghost_set_error(-EINVAL, "object %llu: type %u is not a valid type",
                               (unsigned long long)oid, type);
    return note_write(t, oid, MAP_OBJECT, NULL, 0, OP_PUT, type, data, len);
}

int ghost_obj_del(struct ghost_txn *t, uint64_t oid)
{
    ghost_clear_error();
    int r = check_oid(oid);
    return r ? r : note_write(t, oid, MAP_OBJECT, NULL, 0, OP_DEL, 0, NULL, 0);
}

/* ---- maps ----------------------------------------------------------------------- */

static int check_key(size_t klen)
{
    if (klen == 0)
        return ghost_set_error(-EINVAL, "empty map key");
    if (klen > GHOST_KEY_MAX)
        return ghost_set_error(-ENAMETOOLONG, "map key of %zu bytes is longer than %d", klen,
                               GHOST_KEY_MAX);
    return 0;
}

int ghost_map_get(struct ghost_txn *t, uint64_t owner, uint8_t map, const void *key, size_t klen,
                  const void **val, size_t *vlen)
{
    ghost_clear_error();
    const void *v;
    size_t l;
    uint64_t gen;
    int r = check_key(klen);
    if (r)
        return r;
    if (!val)
        val = &v;
    if (!vlen)
        vlen = &l;
    struct write_entry *w = t->snapshot ? NULL : find_write(t, owner, map, key, klen);
    if (w) {
        if (w->op == OP_DEL)
            return -ENOENT;
        *val = w->val;
        *vlen = w->vlen;
        return 0;
    }
    r = view(t);
    if (r)
        return r;
    r = store_map_read(&t->g->store, t->view, owner, map, key, klen, t->at, &gen, val, vlen);
    if (r && r != -ENOENT)
        return spend_view(t, r);
    t->view_lent |= r == 0;
    if (!t->snapshot) {
        int r2 = note_read(t, owner, map, key, klen, gen);
        if (r2)
            return r2;
    }
    return r;
}

int ghost_map_put(struct ghost_txn *t, uint64_t owner, uint8_t map, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
    ghost_clear_error();
    int r = check_key(klen);
    return r ? r : note_write(t, owner, map, key, klen, OP_PUT, 0, val, vlen);
}

int ghost_map_del(struct ghost_txn *t, uint64_t owner, uint8_t map, const void *key, size_t klen)
{
    ghost_clear_error();
    int r = check_key(klen);
    return r ? r : note_write(t, owner, map, key, klen, OP_DEL, 0, NULL, 0);
}

int ghost_map_scan(struct ghost_txn *t, uint64_t owner, uint8_t map, const void *start, size_t slen,
                   ghost_scan_fn fn, void *arg)
{
    ghost_clear_error();
    if (slen > GHOST_KEY_MAX)
        return check_key(slen);
    int r = view(t);
    return r ? r
             : spend_view(t, store_map_scan(&t->g->store, t->view, owner, map, start,
                                            start ? slen : 0, t->at, fn, arg));
}

int ghost_map_tally(struct ghost_txn *t, uint64_t owner, uint8_t map, struct ghost_tally *out)
{
    ghost_clear_error();
    uint64_t gen;
    int r = view(t);
    r = r ? r
          : store_map_tally(&t->g->store, t->view, owner, map, t->at, &gen, &out->count,
                            &out->digest);
    if (r || t->snapshot)
        return r;
    return note_read(t, owner, map, NULL, 0, gen);
}

int ghost_map_check(struct ghost_txn *t, uint64_t owner, uint8_t map, struct ghost_tally *found)
{
    ghost_clear_error();
    struct ghost_tally have, want;
    struct store *s = &t->g->store;
    int r = view(t);
    r = r ? r : store_map_count(s, t->view, owner, map, t->at, &have.count, &have.digest);
    uint64_t gen;
    r = r ? r : store_map_tally(s, t->view, owner, map, t->at, &gen, &want.count, &want.digest);
    if (found)
        *found = have;
    if (r)
        return r;
    if (have.count == want.count && have.digest == want.digest)
        return 0;
    r = ghost_set_error(-GHOST_ECORRUPT,
                        "store %s: corrupt: object %llu, map %u holds %llu keys where its tally "
                        "counts %llu%s",
                        s->path, (unsigned long long)owner, map, (unsigned long long)have.count,
                        (unsigned long long)want.count,
                        have.count == want.count ? ", not the versions it names" : "");
    atomic_fetch_add_explicit(&s->damage, 1, memory_order_relaxed);
    ghost_log(GHOST_LOG_ERR, "%s", ghost_errmsg());
    return r;
}
