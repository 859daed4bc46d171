/*
 * engine.h - the seam between libghost's object layer and a key-value engine.
 *
 * Everything above this header (records and checksums, versioned keys,
 * batches of transactions, snapshots, pruning, the cache, the committer)
 * is engine-neutral and reaches the engine only through these functions.
 * One engine is built today: LMDB (engine_lmdb.c and lmdb_*.c, the only
 * files that include LMDB's header; tests/check_layout.sh fails the build
 * otherwise). The contract is written for the next one too, a database
 * server reached over the network (docs/ARCHITECTURE.md, "The engine seam"):
 *
 *   - A read may cost a round trip: cursors may read ahead many records
 *     per call (engine_cursor_seek's `prefix` bounds how far), and a write
 *     transaction's puts may be kept locally and sent whole at commit.
 *   - There may be no shared memory: the change log ("which OIDs did
 *     others change since position X") is the engine's to keep, in a ring
 *     beside the file for LMDB (lmdb_changes.c) or in a table for a server.
 *   - A connection may drop: any call may fail with -GHOST_EDISCONNECT,
 *     after which engine_reconnect() and a retry of the whole transaction
 *     are the cure (ghost_run does both).
 *
 * The store. An engine holds four ordered tables of byte keys and byte
 * values (enum engine_table). ENGINE_META, ENGINE_OBJ and ENGINE_SNAP sort
 * their keys in plain byte order (memcmp, a shorter key first when one is
 * a prefix of the other). ENGINE_MAP's keys all end in an 8-byte suffix and
 * sort by the part before the suffix first (in byte order, a shorter part
 * first), then by the suffix in byte order: so the versions of one key
 * (same part, different suffixes) are contiguous. (A server may keep that
 * key as two columns, the part and the suffix.) ENGINE_OBJ's keys also end
 * in a suffix, after a part of 8 bytes (an object) or 17 (a map's tally,
 * record.h: its owner's 8, eight 0xff bytes that no suffix is, a map);
 * byte order gives that same order there.
 *
 * Generations. Every committed write transaction gets a generation, a
 * number larger than any before it; a read view sees the store as of one
 * generation. Generations are the only clock of the store: versions,
 * snapshots, the cache and coherence are all expressed in them.
 *
 * Errors. Functions return 0 or a negative code: -ENOENT for a key or
 * record that is not there (not an error, and without a message), else
 * an error with ghost_errmsg() set:
 *   -GHOST_ECORRUPT     the engine found its own structures damaged
 *   -GHOST_EDISCONNECT  the connection to the engine dropped (remote
 *                       engines only); nothing of the transaction stuck
 *   -GHOST_EGROW        the engine's room ran out and engine_grow() may add
 *                       more (LMDB: its memory map); retry after it
 *   -GHOST_ECONFLICT    only where stated (open transactions of this
 *                       process block a resize this call needs)
 *   -ENOSPC, -EIO, -ENOMEM, -EAGAIN (too many readers), -E2BIG (a write
 *   transaction too large), -EROFS (a write on a read-only store).
 *
 * Threads. A struct engine may be used by many threads. A transaction (a
 * view or a write) belongs to one thread at a time, and may be ended by
 * another thread than the one that began it. Only one write transaction
 * is open at a time in the whole store (across processes): its begin
 * blocks until the previous one ended.
 *
 * Memory. Bytes an engine returns (keys and values) are borrowed: valid
 * until the transaction ends or, in a write transaction, until its next
 * write. Never freed by the caller.
 */
#ifndef GHOST_ENGINE_H
#define GHOST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ghost.h"

/* Internal code: the engine must grow (engine_grow) before a retry. */
#define GHOST_EGROW 1100

struct engine;        /* an open store */
struct engine_txn;    /* a read view or a write transaction */
struct engine_cursor; /* a position in one table of one transaction */

enum engine_table { ENGINE_META, ENGINE_OBJ, ENGINE_MAP, ENGINE_SNAP };
#define ENGINE_TABLES 4

/* A key or a value: `len` bytes at `data`. */
struct engine_val {
    size_t len;
    void *data;
};

struct engine_opts {
    enum ghost_sync sync; /* durability of each commit (ghost.h) */
    bool readonly;        /* refuse writes; no change log is created */
    bool fresh;           /* the store was made a moment ago by engine_mkfs */
    size_t map_bytes;     /* LMDB: the memory map's initial size */
    size_t reserve_bytes; /* disk space kept for deletes on a full disk */
    uint64_t log_entries; /* LMDB: change log slots (0: the default) */
    bool accept_rollback; /* open a store that fell back to an older
                             generation as it is, instead of refusing */
};

/* ---- a store's life ---- */

/* Create an empty store at path (refusing to overwrite anything: -EEXIST)
 * and run init(arg, w) in its first write transaction, which is committed
 * durably before this returns. A failure once the store was made removes it.
 * Blocks on disk I/O. */
int engine_mkfs(const char *path, int (*init)(void *arg, struct engine *e, struct engine_txn *w),
                void *arg);

/* Open the store at path into *e. check(arg, e, view, uuid) runs in a read
 * view before the store is used, to check the format and to tell the
 * engine the store's identity (uuid, 16 bytes), which it keeps to pair its
 * change log with the store; check's error is returned (the store is left
 * untouched). Errors: -ENOENT (no store), -GHOST_EFORMAT (not a store of
 * this engine, or truncated), -GHOST_ECORRUPT (the store fell back to an
 * older generation than was committed to it, or its engine's own header is
 * damaged: a writable open only, and not with o->accept_rollback; a
 * read-only open logs a warning and goes on), -EINVAL (bad options),
 * -ENOMEM, I/O errors.
 * Blocks on disk or network I/O. */
int engine_open(struct engine **e, const char *path, const struct engine_opts *o,
                int (*check)(void *arg, struct engine *e, struct engine_txn *view,
                             unsigned char uuid[16]),
                void *arg);

/* Make the last commits durable and close. No transaction may be open. */
void engine_close(struct engine *e);

/* After -GHOST_EDISCONNECT: connect again (blocks until connected or it
 * gives up with that same code). Every transaction begun before is dead:
 * end it and begin again. 0 at once for a local engine, which never
 * disconnects. */
int engine_reconnect(struct engine *e);

/* Run fn(ctx) and return what it returns. If the engine's code inside fn
 * met damage in its own structures that it cannot report as an error
 * (LMDB: a memory fault on a damaged page, or one of LMDB's assertions
 * failing), fn is cut short there, the damage is logged and counted, and
 * -GHOST_ECORRUPT is returned instead (-ENOSPC for a bus error while
 * `doing` is "committing": that is how a full disk shows through LMDB's
 * memory map). What fn had open is then the caller's to end: the cursors
 * it opened in a view closed, and the view not read from again but ended;
 * a write transaction aborted (engine_abort also closes the cursors left
 * open in it). `doing` says what fn does, for the log. Costs one setjmp. */
int engine_guarded(struct engine *e, int (*fn)(void *ctx), void *ctx, const char *doing);

/* How many times this connection's engine found its own structures
 * damaged (each an -GHOST_ECORRUPT); damaged records the store finds by
 * their checksums are counted above the engine. */
uint64_t engine_damage(struct engine *e);

/* ---- transactions ---- */

/* Begin a read view at the newest generation. -GHOST_ECONFLICT if the
 * store must be remapped first and the process's open transactions (this
 * thread's among them, perhaps) do not end within a short wait: end them
 * and retry. Blocks only while the map is resized (LMDB). */
int engine_view_begin(struct engine *e, struct engine_txn **view);
/* End a view; may run on another thread than its begin. */
void engine_view_end(struct engine *e, struct engine_txn *view);

/* Begin the write transaction; blocks until no other is open. Its
 * generation (engine_txn_gen) is the one its commit will have. Errors as
 * engine_view_begin, and -EROFS. */
int engine_write_begin(struct engine *e, struct engine_txn **w);

/* Commit w, ending it whatever happens. oids[0..n) (sorted, distinct) are
 * the OIDs it changed: the engine records them in the change log under the
 * transaction's generation, atomically with the commit, so that any
 * reader that sees the generation finds them. *log_from / *log_to (may be
 * NULL) are set to the change log positions its entries took (equal if
 * none). Errors: -GHOST_EGROW, -ENOSPC, -GHOST_EDISCONNECT (the
 * connection dropped and the commit did not happen: an engine that cannot
 * tell whether it did finds out, after reconnecting, before it answers,
 * since the caller runs the work again), I/O errors. Blocks on disk or
 * network I/O (as the sync mode asks). */
int engine_commit(struct engine *e, struct engine_txn *w, const uint64_t *oids, size_t n,
                  uint64_t *log_from, uint64_t *log_to);
/* Drop w's writes and end it, closing the cursors still open in it. */
void engine_abort(struct engine *e, struct engine_txn *w);

/* The generation a view sees, or the one a write transaction commits as. */
uint64_t engine_txn_gen(struct engine_txn *t);

/* The newest committed generation, read without a transaction. Blocks only
 * while the map is resized (LMDB); may cost a round trip (a server). */
uint64_t engine_last_gen(struct engine *e);

/* ---- reads (views and write transactions) ---- */

/* The value of key in table: 0 with *val set (borrowed), or -ENOENT. */
int engine_get(struct engine *e, struct engine_txn *t, enum engine_table table,
               const struct engine_val *key, struct engine_val *val);

/* Open a cursor on table; close it before its transaction ends (or, in a
 * write transaction, leave it to engine_abort). */
int engine_cursor_open(struct engine *e, struct engine_txn *t, enum engine_table table,
                       struct engine_cursor **c);
void engine_cursor_close(struct engine_cursor *c);

enum engine_seek {
    ENGINE_EXACT, /* the record of exactly *key */
    ENGINE_RANGE, /* the first record whose key is >= *key */
    ENGINE_FIRST, /* the table's first record */
};

/* Position c: *key is the key sought (not read for ENGINE_FIRST), and
 * *key and *val are set to the record found (borrowed). prefix: the
 * caller's walk from here stays among keys that share the first `prefix`
 * bytes of *key (0: unknown), so a remote engine may fetch those records
 * in one round trip and serve engine_cursor_next from them. 0, or -ENOENT
 * if there is no such record. */
int engine_cursor_seek(struct engine_cursor *c, enum engine_seek how, size_t prefix,
                       struct engine_val *key, struct engine_val *val);
/* Step to the next record in table order; -ENOENT past the last. After
 * engine_cursor_del, the record that followed the deleted one. */
int engine_cursor_next(struct engine_cursor *c, struct engine_val *key, struct engine_val *val);
/* The record under the cursor (after a delete: the one that followed). */
int engine_cursor_current(struct engine_cursor *c, struct engine_val *key, struct engine_val *val);

/* ---- writes (write transactions only) ---- */

/* Put a value of vlen bytes under key, replacing any. *val is set to where
 * the caller writes the value's bytes, which it must do before its next
 * call on this transaction. */
int engine_put(struct engine *e, struct engine_txn *w, enum engine_table table,
               const struct engine_val *key, size_t vlen, void **val);
/* Put a value of vlen bytes under key if the key is not there: 0 with *val
 * to fill, as engine_put. If it is there: -EEXIST with *old its value
 * (borrowed until the next call on this transaction), and the next
 * engine_replace of this key on this table needs no second search. */
int engine_insert(struct engine *e, struct engine_txn *w, enum engine_table table,
                  const struct engine_val *key, size_t vlen, void **val, struct engine_val *old);
/* Replace the value of key, which engine_insert has just found there, by
 * vlen bytes to fill at *val. */
int engine_replace(struct engine *e, struct engine_txn *w, enum engine_table table,
                   const struct engine_val *key, size_t vlen, void **val);
/* Delete key; -ENOENT if it is not there. */
int engine_del(struct engine *e, struct engine_txn *w, enum engine_table table,
               const struct engine_val *key);
/* Replace the value of the record under the cursor (its key is key, the
 * caller's copy: the cursor's own may move), as engine_put does. */
int engine_cursor_put(struct engine_cursor *c, const struct engine_val *key, size_t vlen,
                      void **val);
/* Delete the record under the cursor. */
int engine_cursor_del(struct engine_cursor *c);

/* ---- the change log ---- */

/* Whether this connection has a change log (a read-only LMDB opener may
 * not): without one, engine_changes_read reports every change as lost. */
bool engine_has_changes(struct engine *e);
/* The position the next entry will take. Never blocks; one load from
 * shared memory for LMDB, what the last notification said for a server
 * (this is how a connection learns, cheaply, that others committed). */
uint64_t engine_changes_head(struct engine *e);
/* Where a reader that has seen generation `upto` starts reading. */
uint64_t engine_changes_start(struct engine *e, uint64_t upto);
/* Call fn(arg, oid) for each OID that other connections' commits of
 * generation <= upto changed, from position *pos on; advance *pos past
 * them. -ERANGE if entries were lost (overwritten, or no change log): the
 * caller must then forget everything it cached. */
int engine_changes_read(struct engine *e, uint64_t *pos, uint64_t upto,
                        void (*fn)(void *arg, uint64_t oid), void *arg);
/* Validation's shortcut, inside write transaction w: true if no commit
 * after generation gen changed oid; false when unsure (the caller then
 * reads the records). Never blocks, never errs. */
bool engine_unchanged_since(struct engine *e, struct engine_txn *w, uint64_t oid, uint64_t gen);

/* ---- copies ---- */

/* Write a compacted copy of the store, as one read view sees it, to a new
 * file at path (-EEXIST if anything is there), its generation *gen: no
 * older than the view's, so that every version and snapshot in it reads as
 * here. Runs beside writers. A failure removes the file. Blocks on I/O. */
int engine_copy(struct engine *e, const char *path, uint64_t *gen);

/* ---- room, durability, statistics ---- */

/* Would a write transaction that adds about `bytes` bytes fit on the disk?
 * frees: it deletes more than it adds, and may use the reserve. 0 or
 * -ENOSPC. Called before engine_write_begin, by one thread at a time. */
int engine_space_check(struct engine *e, size_t bytes, bool frees);
/* The most a write transaction of `entries` writes and `bytes` bytes can
 * grow the store's file (pessimistic). */
uint64_t engine_growth_bound(struct engine *e, size_t entries, size_t bytes);
/* Add room after -GHOST_EGROW. Waits, a short bounded time, for the
 * process's open transactions to end (LMDB cannot resize under them), and
 * fails with -GHOST_ECONFLICT if they do not (this thread may hold one). */
int engine_grow(struct engine *e);
/* Make every commit so far durable (force: even with sync=none). */
int engine_sync(struct engine *e, bool force);
/* Commit with another durability from now on (a store opened read-only:
 * nothing to do). Waits for the commit in progress, if any. The caller
 * syncs afterwards what was committed under the old one. */
int engine_set_sync(struct engine *e, enum ghost_sync sync);
/* Room the engine has (LMDB: the map) and uses; never blocks on a lock
 * but a resize. */
void engine_usage(struct engine *e, uint64_t *room_bytes, uint64_t *used_bytes);
/* Fill u: records in ENGINE_OBJ, bytes used, free and in total. */
int engine_space(struct engine *e, struct ghost_usage *u);
/* How many times the map grew since open. */
uint64_t engine_grows(struct engine *e);

#endif
