/*
 * internal.h - what the modules of libghost share and nobody else sees.
 *
 * Module map (one concern per file), from the top down:
 *   connection.c  a connection: open/close, coherence, OID blocks, stats
 *   txn.c         read set, write set, read-your-writes
 *   retry.c       ghost_run(): the retry loop and its backoff
 *   committer.c   the group-commit thread and durability requests
 *   cache.c       OID -> handle, pins, LRU, the byte budget, ghosts
 *   log.c         logging and ghost_errmsg()
 *  The store (versioned keys over the engine; engine-neutral):
 *   record.c/.h   the one owner of the record format: keys, values,
 *                 checksums, meta and snapshot records
 *   store_open.c  mkfs's first records, the format check, OID blocks
 *   store_read.c  reading a key's version at a generation; map scans
 *   store_batch.c batches: validation, writing versions, committing
 *   snapshot.c    named snapshots
 *   prune.c       dropping versions no snapshot needs
 *   change_index.c the change index: the OIDs changed since each snapshot
 *   stream.c/.h   the send stream's format (send.c writes, receive.c reads)
 *   stream_walk.c what differs between two generations
 *   send.c, receive.c, backup.c  ghost_send, ghost_receive, ghost_backup
 *  The engine seam, engine.h, and its LMDB implementation (the only
 *  files that include LMDB's header, see tests/check_layout.sh):
 *   engine_lmdb.c transactions, reads, writes, commits, error mapping
 *   lmdb_open.c   creating, opening and closing the file
 *   lmdb_meta.c   LMDB's meta pages read raw: the header check, and that
 *                 the store did not fall back to an older generation
 *   lmdb_guard.c  a fault or LMDB assertion on a damaged page becomes an error
 *   lmdb_space.c  the disk reserve, map growth, usage
 *   lmdb_copy.c   a compacted copy of the file, its generation kept
 *   lmdb_changes.c the change log shared by the processes that have a
 *                 store open (a ring in shared memory beside the store),
 *                 and the generation marks the store must stay within
 *
 * Lock order (take them in this order, never the reverse):
 *   ghost.coh_lock -> committer.lock -> the engine's locks -> cache.lock
 * (LMDB's: its writer lock, held by a batch from engine_write_begin to the
 * commit; engine.resize_lock, taken only by a resize, which waits for the
 * process's transactions to end and so is never taken inside one.)
 * cache.lock also protects a connection's coherence state (ghost.seen_*),
 * so that the committer records its batch while it installs it.
 * ghost.oid_lock and blob reference counts nest inside anything.
 */
#ifndef GHOST_INTERNAL_H
#define GHOST_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "engine.h"
#include "ghost.h"
#include "held.h"
#include "htab.h"
#include "list.h"
#include "vec.h"

/* Thread-local variables on hot paths: the initial-exec model reaches them
 * with one load instead of a call to __tls_get_addr (what a shared library
 * pays by default). They are few and small, as that model needs. */
#define HOT_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* Conditions the code relies on are assertions, active in the debug and
 * sanitizer builds (release builds define NDEBUG: b_ndebug=if-release).
 * ASSERT_HELD(m): mutex m is held (held.h says what that proves). */
#define ASSERT_HELD(m) assert(MUTEX_HELD(m))

/* ---- log.c ---- */
/* (ghost_log and its levels are public: ghost.h) */
/* Set this thread's ghost_errmsg() text; returns err. */
int ghost_set_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget it: every public function that returns a status calls this
 * first, so that ghost_errmsg() speaks of the last call only. */
extern HOT_TLS bool ghost_error_set;
static inline void ghost_clear_error(void)
{
    ghost_error_set = false;
}

/* A generation number larger than any real one: "read at the head". */
#define GEN_HEAD UINT64_MAX

/* The longest key of the maps table without its version suffix. */
#define MAP_KEY_PART_MAX (8 + 1 + GHOST_KEY_MAX)

/* Keys of the object-kind entries in read and write sets use this "map". */
#define MAP_OBJECT 0x100

/* ---- the store: store_open.c, store_read.c, store_batch.c, snapshot.c,
 * prune.c, record.c (versioned keys and records over the engine) ---- */
/* What a batch changed in one map's tally (record.h): keys added minus
 * removed, terms added minus removed, both mod 2^64. */
struct tally_delta {
    struct hnode node; /* in store.tally_index, keyed by tally_hkey() */
    uint64_t owner;
    unsigned map;
    uint64_t count, sum;
};

struct store {
    struct engine *eng;
    char *path;
    unsigned char uuid[16];
    bool readonly;
    bool quiet;                            /* while opening: errors are returned, not logged */
    uint64_t batch_seq_from, batch_seq_to; /* the last batch's change log positions */
    /* Meta as our last batch left it, valid while no other write
     * transaction came between (touched only by the batch's writer). */
    uint64_t last_batch_gen, last_batch_snapmax;
    VEC(uint64_t) changed_spare; /* the batches' list of changed OIDs, between them (empty) */
    /* The batches' changes to map tallies (record.h), reused by each. */
    VEC(struct tally_delta) tallies;
    /* tallies by owner and map, so that a batch of many maps (a receive)
     * finds each in O(1); rebuilt when the array moves. */
    struct htab tally_index;
    /* Tallies exist at generations >= this (UINT64_MAX: none, a store of
     * an older format opened read-only). */
    uint64_t tallied_from;
    uint64_t format;             /* as the store's meta record says */
    uint64_t untallied;          /* maps that keep no tally (bit m: map m), fixed at mkfs */
    atomic_uint_fast64_t damage; /* damaged records found (by their checksums or shape) */
};

struct store_opts {
    enum ghost_sync sync;
    bool readonly;
    bool fresh; /* made a moment ago: its first records follow */
    size_t map_bytes;
    size_t reserve_bytes;
    uint64_t log_entries;
    bool accept_rollback;
};

int store_mkfs(const char *path, uint64_t untallied);
int store_open(struct store *s, const char *path, const struct store_opts *o);
void store_close(struct store *s);

/* Run fn(ctx); damage the engine meets inside it becomes -GHOST_ECORRUPT
 * (engine_guarded). */
static inline int store_guarded(struct store *s, int (*fn)(void *ctx), void *ctx, const char *doing)
{
    return engine_guarded(s->eng, fn, ctx, doing);
}

/* A read view: one short engine read transaction. */
static inline int store_view_begin(struct store *s, struct engine_txn **view)
{
    return engine_view_begin(s->eng, view);
}
static inline void store_view_end(struct store *s, struct engine_txn *view)
{
    engine_view_end(s->eng, view);
}

/* Read the version of an object / map key visible at generation `at`
 * (GEN_HEAD for the newest). *vgen is the version's generation, 0 when the
 * key is absent (then -ENOENT is returned). Data is borrowed from the
 * engine until the view ends. */
int store_obj_read(struct store *s, struct engine_txn *view, uint64_t oid, uint64_t at,
                   uint64_t *vgen, uint8_t *type, const void **data, size_t *len);
int store_map_read(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                   const void *key, size_t klen, uint64_t at, uint64_t *vgen, const void **val,
                   size_t *vlen);
int store_map_scan(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                   const void *start, size_t slen, uint64_t at, ghost_scan_fn fn, void *arg);
/* A map's tally (record.h) as of `at`: zeros if it has none, -ENODATA if
 * the store kept none then. *vgen as store_map_read's. */
int store_map_tally(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                    uint64_t at, uint64_t *vgen, uint64_t *count, uint64_t *sum);
/* What the map holds as of `at`, added up as its tally should be: reads
 * every key, checking each. */
int store_map_count(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                    uint64_t at, uint64_t *count, uint64_t *sum);

/* A batch is one engine write transaction at generation `gen`. */
struct store_batch {
    struct store *s;
    struct engine_txn *txn;
    uint64_t gen;                 /* generation this batch writes */
    uint64_t snapmax;             /* newest snapshot's generation, 0 if none */
    uint64_t since;               /* snapmax when the batch began: its changes are indexed
                                   * under it (a receive takes a snapshot in its batch) */
    VEC(uint64_t) changed;        /* OIDs changed in this batch, for the change log */
    struct engine_cursor *cur[2]; /* on obj and map, opened on first use */
    bool wrote;                   /* changed a record: the commit will take a generation */
    uint64_t checks_logged;       /* validations the engine's shortcut answered */
};

int store_batch_begin(struct store *s, struct store_batch *b);
/* 0 if the head version's generation still equals gen, else -GHOST_ECONFLICT
 * with *head set to what is there now. */
int store_check_obj(struct store_batch *b, uint64_t oid, uint64_t gen, uint64_t *head);
int store_check_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                    size_t klen, uint64_t gen, uint64_t *head);
int store_put_obj(struct store_batch *b, uint64_t oid, uint8_t type, const void *data, size_t len);
int store_del_obj(struct store_batch *b, uint64_t oid);
int store_put_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key, size_t klen,
                  const void *val, size_t vlen);
int store_del_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                  size_t klen);
int store_batch_commit(struct store_batch *b);
void store_batch_abort(struct store_batch *b);
/* Run fn in one small write transaction and commit it, growing the engine
 * and running it again when it fills up; or, if !grow (the caller holds a
 * view, which would keep the grow waiting in vain), failing with
 * -GHOST_ECONFLICT at once. */
int store_small_write(struct store *s, int (*fn)(struct store *s, struct engine_txn *w, void *arg),
                      void *arg, bool grow);

/* Take n OIDs from meta's next_oid; grow as store_small_write. */
int store_oid_block(struct store *s, uint64_t n, uint64_t *first, bool grow);

int store_snap_create(struct store *s, const char *name);
int store_snap_delete(struct store *s, const char *name);
/* Give the store a uuid of its own (a backup's copy, which LMDB's copy
 * gave the original's): the snapshots taken here first record the old
 * uuid and their generation as their origin, so that they stay the same
 * snapshots (the original's incrementals still find their base), while
 * snapshots taken from now on have an origin the original's cannot
 * share. */
int store_new_uuid(struct store *s);
int store_snap_list(struct store *s, struct ghost_snapshot *list, int max);
int store_snap_find(struct store *s, struct engine_txn *view, const char *name, uint64_t *gen);
/* Its generation here and its origin: the store it was first taken in
 * (its uuid) and its generation there (record.h, snap_origin); and when it
 * was taken (created may be NULL). */
int store_snap_identity(struct store *s, struct engine_txn *view, const char *name, uint64_t *gen,
                        unsigned char uuid[16], uint64_t *ogen, uint64_t *created);
/* Is name one a new snapshot may take? 0 or -EINVAL with the reason. */
int store_snap_name_ok(const char *name);
int64_t store_prune(struct store *s, uint64_t *cursor, unsigned max_keys);
/* One slice of store_prune inside the write transaction w: at most
 * max_keys keys from *cursor (0: 1000), which is advanced (0 when the walk
 * is complete); *dropped counts the versions dropped. */
int store_prune_in(struct store *s, struct engine_txn *w, uint64_t *cursor, unsigned max_keys,
                   int64_t *dropped);

/* ---- change_index.c: the change index ---- */

/* Record that the OIDs (sorted, each once) changed in write transaction w
 * after the snapshot of generation `since` (the newest). */
int chidx_note(struct store *s, struct engine_txn *w, uint64_t since, const uint64_t *oids,
               size_t n);
/* A new store's index starts at w's generation. */
int chidx_start(struct store *s, struct engine_txn *w);
/* Drop at most max records of the index kept for snapshots older than
 * `oldest` (0: every record; no snapshot is left); *dropped counts them. */
int chidx_prune(struct store *s, struct engine_txn *w, uint64_t oldest, unsigned max,
                int64_t *dropped);

/* ---- send.c, receive.c: the send stream (stream.h) ---- */
/* What a diff walk (stream_walk.c) hands its visitor: one key whose
 * visible version differs between generation `from` and `to`. table is
 * ENGINE_OBJ (an object: klen 0) or ENGINE_MAP. val is the version
 * visible at `to` (its bytes after the version header: for an object
 * its type byte first), NULL when the key is absent there (a delete).
 * Borrowed for the call only. */
struct walk_item {
    enum engine_table table;
    uint64_t owner;
    unsigned map;
    const unsigned char *key;
    size_t klen;
    const unsigned char *val;
    size_t vlen;
};
typedef int (*walk_fn)(void *arg, const struct walk_item *it);
/* Where a diff walk goes on: the table, and the next key's part (its key
 * without the version suffix), len 0 at the table's start. */
struct walk_pos {
    enum engine_table table;
    size_t len;
    unsigned char part[MAP_KEY_PART_MAX];
    bool done;
    /* If set, only the keys of these owners (ascending) are walked: the
     * walk seeks from one owner's keys to the next's. */
    const uint64_t *owners;
    size_t nowners;
};
/* Walk the keys of the objects and maps tables (the caller's: no tally,
 * no library object) in view t from *pos, at most max_keys of them,
 * calling fn for each whose visible version at `to` differs from the one
 * at `from` (from 0: every key present at `to`). Sets *pos to where to go
 * on (pos->done at the end). fn's negative return stops the walk and is
 * returned; a positive one ends the walk after that key, with *pos set to
 * go on after it, and is returned. */
int stream_walk(struct store *s, struct engine_txn *t, struct walk_pos *pos, uint64_t from,
                uint64_t to, unsigned max_keys, walk_fn fn, void *arg);

/* ---- cache.c ---- */

/* An immutable, reference-counted copy of an object's bytes. */
struct blob {
    atomic_uint refs;
    uint8_t type;
    size_t len;
    unsigned char data[];
};
struct blob *blob_new(uint8_t type, const void *data, size_t len);
struct blob *blob_get(struct blob *b);
void blob_put(struct blob *b);

struct handle;
struct cache {
    pthread_mutex_t lock; /* protects everything below */
    struct htab table;    /* OID -> handle */
    size_t loaded;
    size_t bytes;
    _Atomic size_t budget; /* changed by cache_set_budget; read without the lock */
    struct list lru;       /* unpinned handles, newest first */
    uint64_t hits, misses;
    uint64_t floor; /* offers from views of an older generation are refused */
};

int cache_init(struct cache *c, size_t budget);
/* A new budget; a smaller one evicts down to it at once (pinned handles
 * excepted). */
void cache_set_budget(struct cache *c, size_t budget);
void cache_destroy(struct cache *c);
/* 1 and a new blob reference in *blob (NULL: known absent) on a hit. */
int cache_lookup(struct cache *c, uint64_t oid, uint64_t *gen, struct blob **blob);
/* Offer a version read from the store in a view of generation view_gen
 * (blob may be NULL for "absent"). Ignored if the cache holds the same
 * or a newer version, or if the view is older than the last invalidation.
 * Takes its own reference. */
void cache_offer(struct cache *c, uint64_t oid, uint64_t gen, struct blob *blob, uint64_t view_gen);
/* Install a version this process just committed in the batch of generation
 * batch_gen, with
 * cache.lock held: the committer installs a whole batch's objects between
 * one cache_lock() and cache_unlock(). Takes over the caller's reference
 * to blob (NULL: "absent"). */
void cache_lock(struct cache *c);
void cache_unlock(struct cache *c);
void cache_install(struct cache *c, uint64_t oid, uint64_t gen, struct blob *blob,
                   uint64_t batch_gen);
/* Make oid a ghost, and refuse offers from views older than view_gen (the
 * generation in which the change was seen). */
void cache_invalidate(struct cache *c, uint64_t oid, uint64_t view_gen);
/* The same with cache.lock held; and every OID at once. */
void cache_invalidate_locked(struct cache *c, uint64_t oid, uint64_t view_gen);
void cache_invalidate_all_locked(struct cache *c, uint64_t view_gen);
void cache_pin(struct cache *c, uint64_t oid, uint64_t n);
uint64_t cache_unpin(struct cache *c, uint64_t oid, uint64_t n);
void cache_stats(struct cache *c, struct ghost_stats *st);

/* ---- txn.c ---- */
struct arena_chunk;

struct read_entry {
    uint64_t oid;
    unsigned map; /* MAP_OBJECT for the object itself */
    unsigned klen;
    const unsigned char *key;
    uint64_t gen;
};

enum { OP_PUT = 1, OP_DEL = 2 };
struct write_entry {
    uint64_t oid;
    unsigned map;
    unsigned klen;
    const unsigned char *key;
    int op;
    uint8_t type;
    size_t vlen;
    const void *val;
    struct blob *blob; /* an object put: val is blob->data, the cache's copy */
};

/* An open-addressing index of a read or write set, built only once the set
 * is too big to scan; cap == 0 means "scan". */
struct set_index {
    uint32_t *slots; /* entry number + 1, 0 for empty */
    size_t cap;      /* slots in use (a power of two), or 0 */
    size_t alloc;    /* slots allocated, kept for reuse */
};

/* Views a transaction set aside after a read met damage, at most. */
#define SPENT_VIEWS_MAX 4

/* txn_new() resets these field by field: a new field needs a line there. */
struct ghost_txn {
    struct ghost *g;
    uint64_t at; /* GEN_HEAD, or a snapshot's generation */
    bool snapshot;
    struct engine_txn *view; /* lazily begun read view */
    bool view_lent;          /* a read returned bytes borrowed from it */
    /* Views that met damage after they lent bytes: ended with the
     * transaction (txn.c, spend_view). */
    struct engine_txn *spent[SPENT_VIEWS_MAX];
    unsigned nspent;
    struct arena_chunk *arena;
    VEC(struct read_entry) reads;
    struct set_index read_idx;
    VEC(struct write_entry) writes;
    struct set_index write_idx;
    VEC(struct blob *) blobs; /* references held until the txn ends */
    size_t write_bytes;       /* bytes the puts add, roughly */
    size_t ndeletes;
    bool counted; /* counted in ghost.writers */
};

/* May this transaction use the disk reserve? One that deletes and adds
 * little: the filesystem's unlink rewrites a directory and deletes more. */
static inline bool txn_frees_space(const struct ghost_txn *t)
{
    return t->ndeletes > 0 && t->write_bytes <= 65536;
}

void txn_release_view(struct ghost_txn *t);
void txn_free(struct ghost_txn *t);

/* ---- committer.c ---- */
struct commit_req {
    struct commit_req *next;
    struct ghost_txn *txn; /* NULL for a durability request */
    int result;
    atomic_bool done;    /* set under the lock, after the last signal */
    bool sleeps;         /* wake is initialized: its caller waits there */
    pthread_cond_t wake; /* its caller waits here: done, or lead now */
};

struct committer {
    pthread_t thread;     /* background: timed syncs and map growth */
    pthread_mutex_t lock; /* protects everything below and each request */
    pthread_cond_t wake;  /* the background thread waits here */
    pthread_cond_t more;  /* a leader waiting for more work waits here */
    struct commit_req *head, *tail;
    atomic_size_t queued;    /* changed under the lock; a gathering leader polls it */
    size_t recent;           /* the last batch plus what queued during it */
    uint64_t last_commit_ns; /* how long the last batch took (leader only) */
    /* A caller is committing batches: taken by a compare-and-swap, by a
     * caller in the queue (under the lock) or by one that commits alone
     * (without it, see commit_alone). */
    atomic_bool leading;
    atomic_bool stop; /* changed under the lock */
    bool running;
    atomic_bool unsynced; /* commits not yet forced to disk (changed under the lock) */
    bool grow_wanted;     /* a writer met a full map while holding a view */
    /* Leader only: how much batches may still grow the file (by the bound
     * of commit_batch) before the map's usage is looked at again, and the
     * batches since it was. */
    uint64_t map_slack;
    unsigned map_quiet;
    struct commit_req **txns;       /* the leader's batch (max_batch entries) */
    VEC(struct commit_req *) syncs; /* the leader's durability requests */
};

int committer_start(struct ghost *g);
void committer_stop(struct ghost *g);
int committer_submit(struct ghost *g, struct ghost_txn *txn);
int committer_sync(struct ghost *g);
/* Ask the committer to grow the map (it holds no view, so it can). */
void committer_request_grow(struct ghost *g);

/* ---- connection.c ---- */
struct ghost {
    struct store store;
    struct cache cache;
    struct committer com;
    struct ghost_options opts;

    pthread_mutex_t oid_lock; /* protects the OID block */
    uint64_t oid_next, oid_end;

    /* Coherence: what this connection has seen of the store, protected
     * by cache.lock. coh_lock lets one refresh run at a time. */
    pthread_mutex_t coh_lock;
    uint64_t seen_gen;                                 /* the generation we have caught up with */
    uint64_t seen_seq;                                 /* the change log entry we have read up to */
    atomic_uint_fast64_t last_gen_hint, seen_seq_hint; /* copies, for lock-free checks */

    pthread_t poller;
    bool poller_running;
    pthread_mutex_t poll_lock;
    pthread_cond_t poll_cond;
    bool poll_stop;

    atomic_uint_fast64_t commits, batches, conflicts, retries, invalidations;
    atomic_uint_fast64_t read_checks, read_checks_logged;
    atomic_int writers; /* transactions that wrote and have not ended yet */
    atomic_bool frozen; /* read-only for now (ghost_set_readonly), though opened writable */
    atomic_int sync;    /* the durability commits get now: opts.sync, or ghost_set_sync's */

    struct crawl *crawl; /* the crawler (crawl.c), or NULL */
};

/* The sync mode commits run under now. */
static inline enum ghost_sync conn_sync(struct ghost *g)
{
    return (enum ghost_sync)atomic_load_explicit(&g->sync, memory_order_relaxed);
}

/* Whether writes are refused: opened read-only, or set so since. */
static inline bool conn_readonly(struct ghost *g)
{
    return g->opts.readonly || atomic_load_explicit(&g->frozen, memory_order_acquire);
}

#ifdef GHOST_TEST_HOOKS
/* Only in the library the race tests link (tests/meson.build): called by
 * the committer right after the engine committed a batch, before the batch is
 * installed in the cache, so that a test can make another connection act
 * in exactly that window. */
extern void (*ghost_test_after_commit)(struct ghost *g);
#endif

/* Called by the committer after it committed generation gen, whose change
 * log entries are store.batch_seq_from .. batch_seq_to, with cache.lock
 * held (while it installs the batch). */
void conn_committed(struct ghost *g, uint64_t gen);

#endif
