/*
 * lmdb_int.h - what the LMDB engine's files share (engine_lmdb.c,
 * lmdb_open.c, lmdb_meta.c, lmdb_guard.c, lmdb_space.c, lmdb_changes.c).
 * Nothing above the engine seam (engine.h) includes it: it is the one
 * place lmdb.h enters.
 *
 * How the seam's tables map onto LMDB: ENGINE_OBJ is LMDB's main database
 * (beside the records LMDB keeps there for the named ones, whose keys sort
 * before every object's, see obj_key in record.h); ENGINE_META,
 * ENGINE_MAP and ENGINE_SNAP are named databases, ENGINE_MAP with a
 * comparator that gives the order engine.h states.
 *
 * Generations are LMDB transaction ids: LMDB keeps them in its meta pages,
 * crash-safe and increasing, so counting generations costs no record.
 *
 * Resizing. LMDB can only change its map while the process has no
 * transaction open. Every LMDB transaction (and every look at the meta
 * pages through the map) counts itself in `readers` (lmdb_enter and
 * lmdb_leave); a resize raises `resizing`, which makes new ones wait, and
 * waits until `readers` drains to zero. A count rather than a lock, so that
 * a transaction may end on another thread than the one that began it
 * (ghost.h: a transaction belongs to one thread at a time, not to one
 * thread). A resizer cannot tell whether it holds a transaction itself, so
 * it waits a bounded time (RESIZE_WAIT_MS) and then gives up with
 * -GHOST_ECONFLICT: the retry starts without views. resize_lock (a mutex)
 * serializes resizers and guards map_size; it nests inside committer.lock
 * and outside cache.lock (internal.h).
 */
#ifndef GHOST_LMDB_INT_H
#define GHOST_LMDB_INT_H

#include <assert.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"
#include "internal.h"

/* A struct engine_val is an MDB_val under another name. */
_Static_assert(sizeof(struct engine_val) == sizeof(MDB_val), "engine_val is MDB_val");
_Static_assert(offsetof(struct engine_val, len) == offsetof(MDB_val, mv_size), "len");
_Static_assert(offsetof(struct engine_val, data) == offsetof(MDB_val, mv_data), "data");
#define MV(v) ((MDB_val *)(v))
/* An engine_txn is an MDB_txn, an engine_cursor an MDB_cursor. */
#define MT(t) ((MDB_txn *)(t))
#define MC(c) ((MDB_cursor *)(c))

/* ---- lmdb_changes.c: the change log in shared memory beside the store ---- */
struct changes_hdr;
struct changes_entry;
struct changes {
    struct changes_hdr *hdr; /* NULL: no change log (a read-only opener) */
    struct changes_entry *ring;
    uint64_t mask;
    size_t size;
    unsigned char uuid[16]; /* the store's: the header must keep naming it */
    uint64_t epoch;         /* this process's page cache (boot and mount) */
    bool writable;          /* mapped for writing: this process commits */
    bool made;              /* set up by this open: its marks know nothing */
};

/* Map STORE-changes, creating or setting it up (with `entries` slots, a
 * power of two, and its generation marks at `gen`, the store's) if
 * writable and it is missing or belongs to another store. */
int changes_open(struct changes *c, const char *store_path, const unsigned char uuid[16],
                 bool writable, uint64_t entries, uint64_t gen);
void changes_close(struct changes *c);
/* The sequence number the next entry will get. */
uint64_t changes_head(const struct changes *c);
/* Where a reader that has seen generation `upto` starts: the head, less the
 * entries of a batch that appended them but had not committed by `upto`. */
uint64_t changes_start(const struct changes *c, uint64_t upto);
/* Append gen's OIDs; the caller holds LMDB's writer lock. Returns the new head. */
uint64_t changes_append(struct changes *c, uint64_t gen, uint64_t writer, const uint64_t *oids,
                        size_t n);
/* True if no entry of a generation after `since` names oid: looking back
 * from the head, an entry of generation <= since comes within `limit`
 * entries and oid does not. False when unsure. The caller holds LMDB's
 * writer lock, so that nobody appends meanwhile. */
bool changes_quiet_since(const struct changes *c, uint64_t oid, uint64_t since, unsigned limit);
/* Call fn for each entry from *seq on whose generation is <= upto and whose
 * writer is not `writer`; advance *seq past them. -ERANGE if entries were
 * lost (overwritten, or no change log): the caller must drop everything. */
int changes_read(const struct changes *c, uint64_t *seq, uint64_t upto, uint64_t writer,
                 void (*fn)(void *arg, uint64_t oid), void *arg);

/* The generation marks (lmdb_changes.c's opening comment; lmdb_meta.c
 * checks the store against them). Writers only; no-ops for a log that is
 * read-only or another store's. */
/* Before committing gen, under LMDB's writer lock: raise `intent`, after
 * clearing (and syncing) a clean flag. */
void changes_intend(struct changes *c, uint64_t gen);
/* After a commit: the store reached gen; everything up to durable is on disk. */
void changes_committed(struct changes *c, uint64_t gen, uint64_t durable);
/* After a sync: everything up to gen is on disk. */
void changes_synced(struct changes *c, uint64_t gen);
/* Under LMDB's writer lock: set every mark to gen, the store's generation
 * (after a sync at close, clean: the header is synced too; or when a
 * rolled-back store is accepted as it is). */
void changes_set_marks(struct changes *c, uint64_t gen, bool clean);

struct changes_marks {
    uint64_t committed, durable, intent;
    bool same_epoch; /* the marks were last raised in this page cache */
    bool clean;      /* and nothing was committed since they were synced */
};
/* Read `committed`, `durable` and the flags into m (intent is left 0):
 * false if there is no log of this store, or this open just set it up
 * (from the store's own generation). Read them before the store's
 * generation, and changes_intent() after it, so that a commit meanwhile
 * cannot put the store outside them. */
bool changes_marks(const struct changes *c, struct changes_marks *m);
uint64_t changes_intent(const struct changes *c);

/* ---- the engine ---- */
struct engine {
    MDB_env *env;
    MDB_dbi dbi[ENGINE_TABLES]; /* by enum engine_table */
    struct changes changes;
    uint64_t writer_id; /* names this connection's change log entries */
    int fd;             /* LMDB's data file descriptor */
    char *path;
    /* LMDB's durability flags (env_sync_flags); changed by engine_set_sync
     * with the writer lock held, read by commits (which hold it) and syncs */
    _Atomic unsigned sync_flags;
    bool readonly;
    bool quiet;                  /* while opening: errors are returned, not logged */
    MDB_txn *open_txn;           /* the read txn of engine_open, while it runs */
    unsigned psize;              /* LMDB page size */
    atomic_int readers;          /* LMDB transactions and map reads under way */
    atomic_bool resizing;        /* a resize waits for readers to drain */
    pthread_mutex_t resize_lock; /* one resize at a time */
    pthread_cond_t resize_cond;  /* readers drained, or the resize ended */
    size_t map_size;             /* protected by resize_lock */
    atomic_uint_fast64_t grows;
    /* Disk reserve: bytes past LMDB's last page that we have fallocated.
     * Touched only by the thread that holds LMDB's writer lock. */
    size_t reserve;
    uint64_t alloc_end;
    bool low_space;
    /* The last free-space check found room: no need to ask again while the
     * file stays below roomy_used and the clock below roomy_ns. */
    uint64_t roomy_used;
    int64_t roomy_ns;
    uint64_t used; /* LMDB's pages in bytes, as measured at used_ns */
    int64_t used_ns;
    /* The write transaction's own cursors for engine_put and engine_del,
     * one per table, opened on first use; LMDB closes them when the
     * transaction ends. Touched only by the holder of LMDB's writer lock. */
    MDB_cursor *wcur[ENGINE_TABLES];
    /* And the cursors lmdb_check_delete sends to a delete's neighbours. */
    MDB_cursor *ncur[ENGINE_TABLES];
    enum { PAGES_UNKNOWN, PAGES_CHECKED, PAGES_UNCHECKED } pages_checked; /* lmdb_pages.c */
    const unsigned char *pages; /* the file mapped read-only (lmdb_pages_map), or NULL */
    size_t pages_len;
    atomic_uint_fast64_t damage; /* damaged pages met (engine_damage) */
};

/* lmdb_pages.c */
/* Before cursor c deletes its current key: if LMDB may then rebalance,
 * check the neighbouring pages it would read; where that needs a search,
 * it is made with cursor *n (of c's transaction and table), opened on
 * first use. 0, or -GHOST_ECORRUPT if one is damaged (nothing is
 * changed). */
int lmdb_check_delete(struct engine *e, MDB_cursor *c, MDB_cursor **n);
/* Map the file read-only for lmdb_check_delete, map_size bytes (again,
 * after the map was resized; with no transaction of this process open),
 * and unmap it. Without the map, the checks take the slow way. */
void lmdb_pages_map(struct engine *e);
void lmdb_pages_unmap(struct engine *e);

/* engine_lmdb.c */
/* Map an LMDB return code to ours, naming what was being done. */
int lmdb_err_slow(struct engine *e, int rc, const char *doing);
static inline int lmdb_err(struct engine *e, int rc, const char *doing)
{
    return __builtin_expect(rc == 0, 1) ? 0 : lmdb_err_slow(e, rc, doing);
}
/* Set up and tear down resizing's fields. */
void lmdb_resize_init(struct engine *e);
void lmdb_resize_destroy(struct engine *e);
/* Wait until no resize is under way. */
void lmdb_resize_wait(struct engine *e);
/* Tell a waiting resizer the readers drained. */
void lmdb_resize_wake(struct engine *e);
/* Take the map for a resize: no transaction of this process open, none
 * beginning (resize_lock held on success). -GHOST_ECONFLICT if the
 * transactions did not end within RESIZE_WAIT_MS. */
int lmdb_resize_begin(struct engine *e);
void lmdb_resize_end(struct engine *e);

/* Count a reader in (waiting out a resize) and out. The count is the
 * process's, not the thread's: any thread may end what another began. */
static inline void lmdb_enter(struct engine *e)
{
    for (;;) {
        atomic_fetch_add(&e->readers, 1);
        if (!atomic_load(&e->resizing))
            return;
        if (atomic_fetch_sub(&e->readers, 1) == 1)
            lmdb_resize_wake(e);
        lmdb_resize_wait(e);
    }
}

static inline void lmdb_leave(struct engine *e)
{
    int before = atomic_fetch_sub(&e->readers, 1);
    assert(before > 0); /* never more leaves than enters */
    if (before == 1 && atomic_load(&e->resizing))
        lmdb_resize_wake(e);
}

/* Begin an LMDB transaction (flags: MDB_RDONLY or 0), counted in readers,
 * adopting a map grown by another process on the way. */
int lmdb_begin(struct engine *e, unsigned flags, MDB_txn **txn);
/* End what lmdb_begin began (abort, or after a commit). */
static inline void lmdb_end(struct engine *e)
{
    lmdb_leave(e);
}

/* lmdb_meta.c */
/* Before LMDB opens path: is it an LMDB file with both meta pages, holding
 * every page the newer refers to? *used: the bytes those pages take. */
int lmdb_check_header(const char *path, uint64_t *used);
/* Once the store and its change log are open: did it fall back to an
 * older generation (or do its meta pages disagree)? -GHOST_ECORRUPT for a
 * writable open, unless o->accept_rollback; a warning for a read-only one. */
int lmdb_check_generation(struct engine *e, const struct engine_opts *o);
/* A copy compacted by LMDB (fd, at path, nobody's open store) starts its
 * transaction ids again at 1: give both its meta pages the ids gen - 1 and
 * gen instead, so that it opens at gen, no older than the generations its
 * records carry (the one place a meta page is written outside LMDB). */
int lmdb_meta_set_generation(int fd, const char *path, uint64_t gen);

/* lmdb_guard.c */
void lmdb_guard_install(void);
/* Let LMDB's failed assertions on env jump to the active guard. */
void lmdb_guard_env(MDB_env *env);
/* Count one damaged page met. */
void lmdb_damage(struct engine *e);

/* lmdb_space.c */
/* Pages LMDB has free inside the file (reusable without growing it). */
uint64_t lmdb_free_pages(struct engine *e);

#endif
