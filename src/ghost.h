/*
 * ghost.h - the whole public surface of libghost, the ghostfs object store.
 *
 * A store is one LMDB file holding typed objects keyed by a 64-bit OID and
 * ordered maps owned by objects. Every value on disk carries an XXH3-64
 * checksum that is verified on every read. Every change is an optimistic
 * transaction: reads are remembered with the generation they saw, commit
 * validates them, and a conflict is reported so that the caller (normally
 * through ghost_run()) can run the work again on fresh data.
 *
 * The library knows nothing of files or directories: the filesystem in fs/
 * builds inodes, directory entries, file blocks and xattrs out of objects and
 * maps.
 *
 * Errors: every function that can fail returns 0 (or a documented positive
 * value) on success and a negative errno on failure. Codes of our own:
 *
 *   -GHOST_ECONFLICT  the transaction read something another one changed;
 *                     nothing was written, run the work again.
 *   -GHOST_ECORRUPT   a record failed its checksum or LMDB reported a damaged
 *                     page; ghost_errmsg() names the OID or key.
 *   -GHOST_EFORMAT    the file is not a ghostfs store, or one of a newer
 *                     format, or truncated; ghost_errmsg() says which.
 *   -GHOST_EDISCONNECT the connection to a store reached over the network
 *                     dropped; nothing of the transaction was applied.
 *                     ghost_run() reconnects and runs the work again; it
 *                     reaches other callers only when reconnecting failed.
 *                     (A store in a local file never returns it.)
 *
 * ghost_strerror() turns any of these into text; ghost_errmsg() returns the
 * detailed message of the calling thread's last call's failure ("" after a
 * success).
 *
 * Threads: a struct ghost may be shared by any number of threads. A struct
 * ghost_txn belongs to one thread at a time.
 */
#ifndef GHOST_H
#define GHOST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: what this header declares is
 * all it exports. */
#pragma GCC visibility push(default)

#define GHOST_VERSION "0.1.0"
/* On-disk format written by this library; newer formats are refused. */
#define GHOST_FORMAT 3

enum {
    GHOST_ECONFLICT = 1000,
    GHOST_ECORRUPT = 1001,
    GHOST_EFORMAT = 1002,
    GHOST_EDISCONNECT = 1003,
};

/* OIDs below this are reserved for well-known objects (the filesystem puts
 * its root directory at OID 1); ghost_oid_alloc() never returns them. */
#define GHOST_OID_FIRST 16
/* The largest valid OID; object calls refuse 0 and larger ones with -EINVAL. */
#define GHOST_OID_MAX ((UINT64_C(1) << 63) - 1)

/* Longest key of an ordered map, in bytes. */
#define GHOST_KEY_MAX 480

/* Longest snapshot name, in bytes. */
#define GHOST_SNAP_NAME_MAX 255

struct ghost;
struct ghost_txn;

/* Durability of a commit. */
enum ghost_sync {
    /* Batched commits; each batch's pages reach the disk before the batch
     * is acknowledged, the meta page is synced lazily: a power loss can undo
     * the last batch, never corrupt. ghost_sync() makes everything durable. */
    GHOST_SYNC_BATCH = 0,
    /* No grouping: every transaction is its own fully synced LMDB commit. */
    GHOST_SYNC_ALWAYS = 1,
    /* Batched commits with no fsync on the commit path; the committer syncs
     * once a second while there is unsynced work, and on ghost_sync(). A
     * killed process loses nothing; a power loss can lose the last second
     * and, as LMDB documents for its no-sync mode, is only safe where the
     * filesystem keeps write order. For scratch stores and benchmarks. */
    GHOST_SYNC_NONE = 2,
};

/* Called for each OID another process changed (oid != 0), or once with
 * oid == 0 when this connection fell behind the change log and dropped its
 * whole cache. Runs on the thread that noticed the change, with no library
 * lock held; it must not call back into the library. */
typedef void (*ghost_invalidate_fn)(void *arg, uint64_t oid);

struct ghost_options {
    size_t cache_bytes;   /* cache budget in bytes; 0: 64 MiB */
    enum ghost_sync sync; /* default GHOST_SYNC_BATCH */
    bool readonly;        /* refuse every commit with -EROFS */
    size_t map_bytes;     /* initial LMDB map size; 0: 64 MiB. Grows. */
    size_t reserve_bytes; /* disk space kept for deletes; 0: 4 MiB */
    unsigned max_batch;   /* transactions per group commit; 0: 256 */
    unsigned max_retries; /* attempts in ghost_run(); 0: 10000 */
    uint64_t log_entries; /* slots of the change log shared with other
                             processes (a power of two); 0: 131072. Set
                             by whoever creates it; the others adopt it. */
    bool poll;            /* start a thread that calls ghost_refresh()
                             once a second (only if the store changed) */
    bool accept_rollback; /* open a store that fell back to an older
                             generation (see ghost_open) as it is */
    ghost_invalidate_fn invalidate;
    void *invalidate_arg;
};

/* Fill *opts with the defaults documented above. */
void ghost_options_init(struct ghost_options *opts);

/* Create a new, empty store at path. Fails with -EEXIST if the file exists
 * (nothing is touched), or a negative errno from the filesystem. */
int ghost_mkfs(const char *path);

/* Open the store at path. On success *out is a connection the caller owns
 * (free it with ghost_close()). Fails with -ENOENT if there is no file,
 * -GHOST_EFORMAT if it is not a store, a store of a newer format or a
 * truncated one (the file is left untouched in every case), or a negative
 * errno. Reader slots left by killed processes are cleared. opts may be NULL
 * for the defaults.
 *
 * A store that fell back to an older generation than was committed to it
 * (a damaged LMDB meta page: docs/format.md, "Generations") fails a
 * writable open with -GHOST_ECORRUPT, ghost_errmsg() naming both
 * generations, so that no commit overwrites what still knows the newer
 * state. A read-only open logs the same and goes on, for recovery; with
 * opts->accept_rollback a writable open logs it and goes on from the
 * older generation (and the next open finds nothing to report). */
int ghost_open(const char *path, const struct ghost_options *opts, struct ghost **out);

/* Make everything committed durable, stop the committer, free the
 * connection. Pinned handles are released. No other call on g may be
 * running, nor start after. */
void ghost_close(struct ghost *g);

/* Text for an error code returned by this library (negative or positive). */
const char *ghost_strerror(int err);

/* Detailed message of the failure of this thread's last call to a function
 * of this library that returns a status: "" if that call succeeded, or
 * failed with nothing to say beyond its code (-ENOENT of a lookup). */
const char *ghost_errmsg(void);

/* Report damage a caller found in what the store holds (say, a key that
 * its map's tally counts and a read did not find): logged as the library
 * logs the damage it finds itself, with fmt's message after the store's
 * name, and returned as -GHOST_ECORRUPT with that message. */
int ghost_report_damage(struct ghost *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The library's log. It reports what an operator should know (a damaged
 * record, a full disk, the crawler's cycles); callers above the library
 * log through it too, so that a process has one log.
 *
 * Levels, most urgent first. A sink keeps, unless ghost_log_set_level()
 * says otherwise, errors and warnings on stderr, and info too in syslog
 * and in a file. */
enum ghost_log_level { GHOST_LOG_ERR, GHOST_LOG_WARN, GHOST_LOG_INFO, GHOST_LOG_DEBUG };

/* Log one message (no newline needed; newlines in it become spaces) at
 * level. Any thread, any time. */
void ghost_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ghost_logv(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Log a warning: ghost_log(GHOST_LOG_WARN, ...), for callers above the
 * library that refuse something an operator should hear of, such as a bad
 * name given to the filesystem's control tree. */
void ghost_log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same at the error level: damage the caller reports for the library
 * (the crawler's findings, through its found hook). */
void ghost_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where the log goes from now on (any thread may be logging meanwhile):
 * ghost_log_to_syslog(true): syslog, facility daemon, ident "ghostfs",
 * connected at once (a daemon calls it before it loses its terminal);
 * false: stderr, "ghostfs: LEVEL: message", the default.
 * ghost_log_to_fd(fd): fd, one write(2) per line "TIME ghostfs[PID]: LEVEL:
 * message", TIME local to the millisecond with its UTC offset; fd stays
 * the caller's and must stay open while it is the sink (open it O_APPEND,
 * so that threads and processes sharing it do not mix their lines). A
 * negative fd: back to stderr. */
void ghost_log_to_syslog(bool on);
void ghost_log_to_fd(int fd);

/* Keep messages up to level (a GHOST_LOG_* value) whatever the sink; -1:
 * each sink's default again (see above). */
void ghost_log_set_level(int level);

/* --- transactions --------------------------------------------------------- */

/* Start a transaction at the head of the store. Before it starts, changes
 * committed by other processes are noticed (an O(1) check when there are
 * none). The caller owns *out until ghost_txn_commit() or ghost_txn_abort(). */
int ghost_txn_begin(struct ghost *g, struct ghost_txn **out);

/* Start a read-only transaction that sees the store as it was when snapshot
 * `name` was taken. -ENOENT if there is no such snapshot. */
int ghost_txn_begin_snapshot(struct ghost *g, const char *name, struct ghost_txn **out);

/* Begin a read-only transaction that reads everything, objects included,
 * from one view of the store as it is now, not from the cache: what it
 * reads is one consistent state, at the cost of the cache's help. For
 * checks that compare records with each other (a file's size with its
 * blocks' tally); an ordinary transaction may read an object from the
 * cache newer or older than the view its map reads come from, and is
 * validated at commit instead. Writes fail with -EROFS. */
int ghost_txn_begin_view(struct ghost *g, struct ghost_txn **out);

/* Validate the reads and apply the writes atomically, then free the txn.
 * Returns 0, -GHOST_ECONFLICT (nothing applied; the stale objects were
 * dropped from the cache), -ENOSPC (disk full; nothing applied; the store is
 * intact), -EROFS, or another negative errno. A transaction that wrote
 * nothing commits nothing and returns 0 at once. */
int ghost_txn_commit(struct ghost_txn *txn);

/* Throw the transaction away; nothing it did is kept anywhere. */
void ghost_txn_abort(struct ghost_txn *txn);

/* Generation the transaction reads at (the snapshot's for snapshot views). */
uint64_t ghost_txn_generation(const struct ghost_txn *txn);

/* Run fn(txn, arg) in a fresh transaction and commit it, again and again
 * while it conflicts, with randomized exponential backoff, at most
 * max_retries times; after -GHOST_EDISCONNECT (from fn or the commit) it
 * reconnects first, and that counts as a retry. fn returns 0 to commit,
 * -GHOST_ECONFLICT to start over, or another negative errno to abort
 * (returned as is). Every attempt starts from a clean transaction: nothing
 * an aborted attempt did survives. */
int ghost_run(struct ghost *g, int (*fn)(struct ghost_txn *txn, void *arg), void *arg);

/* Create a new store at path (as ghost_mkfs) and run init(txn, arg) as its
 * first work (as ghost_run, with default options), durable when this
 * returns. The store is written the way a new one should be (its file as
 * long as what it holds), whatever the sync mode later opens will use.
 * untallied: the maps (bit m for map m < 64) that keep no tally
 * (ghost_map_tally), fixed for the store's life: maps whose count the
 * caller keeps itself, spared a tally's write in every commit that
 * changes them. Returns ghost_mkfs's, ghost_open's, init's or ghost_sync's
 * error. */
int ghost_mkfs_init(const char *path, uint64_t untallied,
                    int (*init)(struct ghost_txn *txn, void *arg), void *arg);

/* --- objects -------------------------------------------------------------- */

/* Allocate a new OID. OIDs are handed out in blocks and never reused. */
int ghost_oid_alloc(struct ghost_txn *txn, uint64_t *oid);

/* Read object oid. On success *type is its type (1..255) and *data and *len its
 * bytes, borrowed until the transaction ends. -ENOENT if there is none,
 * -GHOST_ECORRUPT if its record is damaged. The read is remembered and
 * validated at commit. Sees the transaction's own writes. Any of type, data
 * and len may be NULL. */
int ghost_obj_get(struct ghost_txn *txn, uint64_t oid, uint8_t *type, const void **data,
                  size_t *len);

/* The generation that wrote the version of object oid the transaction
 * sees: when the object last changed, for tools that show it. The
 * transaction's own pending writes are not counted (their generation is
 * not known before commit): the committed version's is returned. -ENOENT
 * if there is none, -GHOST_ECORRUPT if its record is damaged. Remembered
 * and validated at commit like ghost_obj_get's read. */
int ghost_obj_generation(struct ghost_txn *txn, uint64_t oid, uint64_t *gen);

/* Write object oid (type 1..255). The bytes are copied. */
int ghost_obj_put(struct ghost_txn *txn, uint64_t oid, uint8_t type, const void *data, size_t len);

/* Delete object oid. Its maps are not touched: delete their keys too. */
int ghost_obj_del(struct ghost_txn *txn, uint64_t oid);

/* --- ordered maps ---------------------------------------------------------- */

/* Maps are owned by an object and numbered 0..255 (the caller chooses what
 * each number means). Keys are 1..GHOST_KEY_MAX bytes, ordered bytewise
 * (a shorter key first when one is a prefix of the other). Values are any
 * length. Over-long keys give -ENAMETOOLONG. */

/* Read a value; borrowed until the transaction ends or commits. -ENOENT if
 * absent. Remembered and validated at commit. Sees the txn's own writes. */
int ghost_map_get(struct ghost_txn *txn, uint64_t owner, uint8_t map, const void *key, size_t klen,
                  const void **val, size_t *vlen);

int ghost_map_put(struct ghost_txn *txn, uint64_t owner, uint8_t map, const void *key, size_t klen,
                  const void *val, size_t vlen);

/* Delete a key; deleting an absent key is not an error. */
int ghost_map_del(struct ghost_txn *txn, uint64_t owner, uint8_t map, const void *key, size_t klen);

/* Visit the keys of one map in order, starting at the first key >= start
 * (start may be NULL to begin at the first key). fn returns 0 to go on, a
 * positive value to stop (returned by ghost_map_scan), or a negative errno
 * (returned). Key and value are borrowed for the call only. A scan sees the
 * committed state of the transaction's read view, not its own pending
 * writes, and is not validated key by key: a caller whose decision depends on
 * a whole map reads the owner object too, and writers that change a map's
 * membership write the owner. */
typedef int (*ghost_scan_fn)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);
int ghost_map_scan(struct ghost_txn *txn, uint64_t owner, uint8_t map, const void *start,
                   size_t slen, ghost_scan_fn fn, void *arg);

/* A map's tally: how many keys it holds and an order-independent digest of
 * which keys hold which versions. Every commit keeps it, so that a key the
 * store has lost (a damaged page) shows as a map shorter than its tally
 * rather than as a smaller map. */
struct ghost_tally {
    uint64_t count;
    uint64_t digest;
};

/* The map's tally as of the transaction's view, not counting its own
 * pending writes; remembered and validated at commit like a read. An empty
 * map's is zeros. -ENODATA if the store kept none then (a store converted
 * from format 2, read at a snapshot older than the conversion, or opened
 * read-only before it was converted). */
int ghost_map_tally(struct ghost_txn *txn, uint64_t owner, uint8_t map, struct ghost_tally *out);
/* (-ENODATA too for a map the store was made to keep no tally of.) */

/* Read every key of the map as of the transaction's view and compare what
 * is there with its tally: 0 if they agree, -GHOST_ECORRUPT (logged, naming
 * the owner and map) if they do not, or the error a read met. *found (may
 * be NULL) is what the map holds. Not validated at commit. */
int ghost_map_check(struct ghost_txn *txn, uint64_t owner, uint8_t map, struct ghost_tally *found);

/* --- cache ------------------------------------------------------------------ */

/* Pin oid's handle in the cache (it will not be evicted, though it may be
 * turned into a ghost and reloaded) - n times. */
void ghost_pin(struct ghost *g, uint64_t oid, uint64_t n);

/* Drop n pins. Returns the pins left. */
uint64_t ghost_unpin(struct ghost *g, uint64_t oid, uint64_t n);

/* --- durability and coherence --------------------------------------------- */

/* Return once everything committed so far is on disk. */
int ghost_sync(struct ghost *g);

/* Notice changes other processes committed: the changed OIDs become ghosts
 * and are passed to the invalidate callback. O(1) when nothing changed, in
 * proportion to the changes otherwise; a connection that fell behind the
 * pruned change log drops its whole cache. Returns the number of OIDs
 * invalidated (INT32_MAX for "all"), or a negative errno. */
int ghost_refresh(struct ghost *g);

/* --- options changed while the connection serves ----------------------------- */

/* Refuse every write from now on (on), as a store opened read-only does
 * (-EROFS from the write, from ghost_oid_alloc, from snapshot create and
 * delete, from pruning), or accept writes again (!on). What was committed
 * stays; what is buffered above the library is the caller's to commit
 * first. Fails with -EROFS (nothing changes) to make writable a store
 * opened read-only: its engine was opened without write access. */
int ghost_set_readonly(struct ghost *g, bool on);

/* Commit with durability `sync` from now on (see enum ghost_sync), and
 * make everything committed so far durable. -EINVAL for an unknown mode.
 * A store opened with GHOST_SYNC_NONE keeps writing through its memory
 * map in every mode (as durable, LMDB cannot change that while open). */
int ghost_set_sync(struct ghost *g, enum ghost_sync sync);

/* A new cache budget, in bytes (at least 1 MiB, else -EINVAL); a smaller
 * one evicts unpinned objects down to it at once. */
int ghost_set_cache_size(struct ghost *g, size_t bytes);

/* --- snapshots -------------------------------------------------------------- */

/* Take a snapshot of the current head, in O(1). -EEXIST if the name is
 * taken, -EINVAL for a name that is empty, over GHOST_SNAP_NAME_MAX bytes,
 * holds a '/', or is "." or ".." (a name must be usable as a directory's). */
int ghost_snapshot_create(struct ghost *g, const char *name);

/* Delete a snapshot. Versions only it needed are reclaimed by
 * ghost_prune_versions(). -ENOENT if absent. */
int ghost_snapshot_delete(struct ghost *g, const char *name);

struct ghost_snapshot {
    char name[GHOST_SNAP_NAME_MAX + 1];
    uint64_t generation;
    uint64_t created_ns; /* wall clock, ns since the epoch */
};

/* Fill up to max entries of list in name order; returns the number of
 * snapshots (which may exceed max), or a negative errno. */
int ghost_snapshot_list(struct ghost *g, struct ghost_snapshot *list, int max);

/* Drop old versions that no snapshot needs, walking at most max_keys keys
 * from *cursor (0 to start) in one short write transaction. Sets *cursor to
 * where to go on, or 0 when the walk is complete. Returns the number of
 * versions dropped, or a negative errno. */
int64_t ghost_prune_versions(struct ghost *g, uint64_t *cursor, unsigned max_keys);

/* Called once for each OID, in increasing order; a non-zero return stops
 * the calls and is returned. */
typedef int (*ghost_oid_fn)(void *arg, uint64_t oid);

/* The OIDs whose object or maps differ between snapshot `from` and the
 * later snapshot `to` (NULL: the head): fn(arg, oid) for each, once, in
 * increasing order. Every OID that differs is named; one changed and
 * changed back may be named too. The store keeps an index of what changed
 * after each snapshot, so this costs in proportion to the change; a
 * snapshot older than the index (taken in a store made before it
 * existed) is answered by a walk of the whole store, and *walked_all (may
 * be NULL) says so. The memory taken is in proportion to the OIDs named.
 * Errors: -ENOENT (no such snapshot), -EINVAL (`to` is not later than
 * `from`), -ESTALE (`from` was deleted or replaced meanwhile),
 * -GHOST_ECORRUPT, -ENOMEM; or fn's. */
int ghost_changes(struct ghost *g, const char *from, const char *to, ghost_oid_fn fn, void *arg,
                  bool *walked_all);

/* --- send and receive: a snapshot as a stream of bytes ---------------------- */

/* A send stream (docs/format.md, "The send stream") carries one snapshot:
 * every object and map key it holds (a full stream), or only the keys that
 * differ from an older snapshot of the same store, its base (an
 * incremental one: puts and deletes). Every record, the header and the
 * trailer carry a checksum, and the trailer counts the records and sums
 * the whole stream, so that a stream cut short, reordered or with one byte
 * changed is refused whole. The maps' tallies are not sent: a receiving
 * store keeps its own. */

/* What a stream says of itself (its header and trailer). */
struct ghost_stream_info {
    char snapshot[GHOST_SNAP_NAME_MAX + 1];
    char base[GHOST_SNAP_NAME_MAX + 1]; /* "" for a full stream */
    bool incremental;
    unsigned char store_uuid[16]; /* the sending store's */
    uint64_t generation;          /* the snapshot's, in the sending store */
    uint64_t untallied;           /* the sending store's untallied maps (ghost_mkfs_init) */
    uint64_t records;             /* puts and deletes */
    uint64_t bytes;               /* the whole stream */
};

/* How far a long call got, for a progress line: records and bytes done,
 * and total_bytes when known (0: unknown). Called now and then (at most
 * every few thousand records) on the calling thread, with no library lock
 * held; it must not call back into the library. */
struct ghost_progress {
    uint64_t records, bytes, total_bytes;
};
typedef void (*ghost_progress_fn)(void *arg, const struct ghost_progress *p);

/* Write snapshot `snap` to fd as a stream: full if base is NULL, else only
 * what changed since snapshot `base`, which must be older. The store is
 * read in slices of short read views (the snapshots pin what they see), so
 * this runs beside mounts that keep writing; it walks every key of the
 * store, whatever the change (time in proportion to the store's size).
 * Output is written between views, never while one is open. info (may be
 * NULL) is filled as the stream's header and trailer say. Errors: -ENOENT
 * (no such snapshot), -EINVAL (base is not older than snap), -ESTALE (a
 * snapshot was deleted or replaced during the send), -GHOST_ECORRUPT (a
 * record failed its check: no stream is worth more than its source), the
 * errno of a failed write (-EPIPE). A failure leaves a stream without its
 * trailer, which receive refuses. */
int ghost_send(struct ghost *g, const char *snap, const char *base, int fd,
               ghost_progress_fn progress, void *arg, struct ghost_stream_info *info);

/* Read the stream in fd (seekable) from its start to its end and check
 * it: header, every record's checksum, the trailer's counts and
 * checksum, nothing after it. 0 with *info filled, or -GHOST_EFORMAT (not
 * a stream, or one of a newer format), -EBADMSG (a record or the whole
 * fails its checksum, or holds what no stream holds), -ENODATA (the
 * stream ends early: truncated); ghost_errmsg() says where. The fd's
 * offset is left at the end. */
int ghost_stream_check(int fd, ghost_progress_fn progress, void *arg,
                       struct ghost_stream_info *info);

/* Apply the stream in fd (seekable: -ESPIPE otherwise; spool a pipe to a
 * file first) to the store: first the whole stream is checked
 * (ghost_stream_check), then applied in ONE write transaction that also
 * takes the snapshot of the same name (its origin recorded, so that the
 * next incremental finds its base), and raises the store's next OID past
 * the sender's. Either all of it is applied or nothing.
 *   A full stream goes only into an empty store: one that holds any
 * snapshot, object or map key refuses it (-ENOTEMPTY). An incremental
 * one needs its base: a snapshot of that name in this store with the same
 * origin (the sender's store and generation): -ENOENT if there is none,
 * -ESTALE if there is one of another origin, and -ESTALE if the store's
 * head is no longer what that snapshot sees (the store was written since;
 * checking this walks the whole store). -ESTALE too if the file changed
 * between the check and the reading that applies it.
 *   Other errors: those of ghost_stream_check; -EEXIST (the snapshot's
 * name is taken here); -E2BIG (the stream needs a larger write
 * transaction than the engine allows); -ENOSPC; -EROFS. The store is left
 * unchanged by every error. */
int ghost_receive(struct ghost *g, int fd, ghost_progress_fn progress, void *arg,
                  struct ghost_stream_info *info);

/* --- backup: a compacted copy --------------------------------------------- */

/* What ghost_backup did. */
struct ghost_backup_info {
    uint64_t generation; /* the copy's: at least the store's when the copy began */
    uint64_t bytes;      /* the copy's file size */
    uint64_t records;    /* records the check read */
    uint64_t findings;   /* what it found wrong (0, or the copy was removed) */
};

/* Copy the store, as one consistent read view of it, to a new file at
 * dest (-EEXIST if anything is there), compacted (no free pages), keeping
 * its generations (so that its versions and snapshots read as here), then
 * open the copy read-only and scrub it whole (ghost_scrub): a copy with
 * any finding is removed and -GHOST_ECORRUPT returned. The copy is made
 * and checked as dest.tmp-XXXXXX and renamed to dest only when checked
 * (-EEXIST if a file appeared at dest meanwhile); on every error the
 * temporary is removed. Runs beside
 * writers (they go on; the copy is the state when it began). The copy is
 * a store of its own: open or mount it to restore. */
int ghost_backup(struct ghost *g, const char *dest, ghost_progress_fn progress, void *arg,
                 struct ghost_backup_info *info);

/* --- scrub: checking every record ------------------------------------------- */

/* What a scrub found wrong. */
enum ghost_finding_kind {
    GHOST_FIND_BAD_RECORD = 1, /* a record fails its checksum or has no valid shape */
    GHOST_FIND_ENGINE,         /* the engine met a damaged page of its own (the walk
                                  skipped ahead past it) */
    GHOST_FIND_MAP_SHORT,      /* a map holds fewer keys than its tally counts */
    GHOST_FIND_MAP_LONG,       /* a map holds more keys than its tally counts */
    GHOST_FIND_MAP_STALE,      /* as many keys as counted, not the versions the
                                  tally names (an older copy of a key) */
    GHOST_FIND_TALLY_MISSING,  /* a map with keys and no tally */
};

/* One finding, borrowed for the callback only. */
struct ghost_finding {
    enum ghost_finding_kind kind;
    const char *table;   /* "meta", "objects", "maps" or "snapshots" */
    uint64_t oid;        /* the object the record belongs to (0: none, an internal table) */
    int map;             /* its map, or -1 for the object itself */
    const char *message; /* one line naming the record and what is wrong */
    uint64_t generation; /* the store's generation the walk saw it at */
};

/* The scrub's callbacks, all optional (NULL), run inside the walk with no
 * library lock held; they must not call back into the library. finding:
 * each thing found wrong. object: each head version of an object, with its
 * type (a caller's census of what exists, e.g. to find what nothing
 * references). */
struct ghost_scrub_visit {
    void (*finding)(void *arg, const struct ghost_finding *f);
    void (*object)(void *arg, uint64_t oid, uint8_t type);
    void *arg;
};

/* What the walk read, added to by each call (zero it before the first).
 * Bytes are keys plus values as stored. */
struct ghost_scrub_stats {
    uint64_t records, bytes;                /* every record of every table */
    uint64_t objects, object_bytes;         /* head versions of objects */
    uint64_t map_keys[256], map_bytes[256]; /* head versions of map keys, by map */
    uint64_t tallies, tally_bytes;          /* head versions of map tallies */
    uint64_t older, older_bytes;            /* older versions and tombstones kept for snapshots */
    uint64_t maps_checked;                  /* maps compared with their tallies */
    uint64_t findings;
};

/* Where a scrub resumes: all zeros to start. Plain bytes, so that it can be
 * kept anywhere (a crawler saves it in the store) and used by another
 * connection. */
#define GHOST_SCRUB_KEY_MAX 512
struct ghost_scrub_cursor {
    uint32_t phase; /* 0 the start, 1 meta and snapshots, 2 objects, 3 maps */
    uint32_t flags; /* the walk is inside a map that began in an earlier slice */
    uint32_t len;   /* key[0..len): the next record to read in this phase */
    unsigned char key[GHOST_SCRUB_KEY_MAX];
};

/* Check the store's records, at most max_records of them (0: 1000) from
 * *cursor, in one short read view of the store as it is now: every
 * record's checksum (which also catches a record found under another key)
 * and shape (a version's header, a tally's size, a snapshot record), the
 * meta and snapshot tables, then the objects with their maps' tallies,
 * then the maps; and every tallied map at the head against its tally
 * (count and sum of its keys' terms, docs/format.md "Tallies"): a map
 * whose keys are read over several calls is read again whole, in one view,
 * where it ends. Maps the store keeps no tally of, and a store read
 * without tallies (a format-2 store opened read-only), are not compared;
 * versions kept for snapshots are checked record by record only.
 * Findings go to v->finding and are counted in ghost_stats().damage; damage
 * the engine itself meets (a page it cannot read) is also logged, as every
 * read logs it. Returns 1 when the walk is complete (*cursor is
 * zeroed: the next call starts again), 0 when there is more (*cursor says
 * where), or a negative errno (*cursor unchanged): -GHOST_ECONFLICT if the
 * view could not begin while the store's map was being grown (retry).
 * Damage that stops the engine itself is a finding, and the walk goes on
 * after the object it was in. */
int ghost_scrub(struct ghost *g, struct ghost_scrub_cursor *cursor, unsigned max_records,
                const struct ghost_scrub_visit *v, struct ghost_scrub_stats *st);

/* --- the crawler ------------------------------------------------------------- */

/* The crawler keeps the last findings it made, at most this many, in the
 * store beside its state (a finding made again updates its entry; one the
 * last full cycle did not make again is dropped: repaired or deleted). */
#define GHOST_CRAWL_FINDINGS 32
#define GHOST_CRAWL_FINDING_TEXT 160
struct ghost_crawl_finding {
    enum ghost_finding_kind kind;
    char table[12];                         /* "meta", "objects", "maps" or "snapshots" */
    uint64_t oid;                           /* the object (0: none, an internal table) */
    int map;                                /* its map, or -1 for the object itself */
    uint64_t generation;                    /* the store's generation when it was first found */
    uint64_t cycle;                         /* the cycle that last found it (1 is the first) */
    char message[GHOST_CRAWL_FINDING_TEXT]; /* ghost_finding's, cut to fit */
};

/* The crawler walks the whole store in the background, over and over, one
 * short slice at a time, at a bounded share of one core: each cycle checks
 * every record (ghost_scrub), then drops the versions no snapshot needs
 * (ghost_prune_versions). Its position, what it counted and found, and a
 * lease that lets one process of a store crawl at a time are kept in the
 * store, so a crawler killed mid-cycle resumes where it stopped, in this
 * process or another. Findings are logged and passed to the visit's
 * finding callback. */
struct ghost_crawl_options {
    unsigned cpu_permille;  /* share of one core, in thousandths (100: 10 %); 0 pauses */
    unsigned slice_records; /* records per slice, each in one short view */
    unsigned cycle_seconds; /* least time from one cycle's start to the next's */
    /* The caller's own background work, done at the crawler's pace (may be
     * NULL): called by the crawler thread before each step, with no lock
     * held, to do at most about max_keys keys' worth; returns 1 if more
     * remains (the crawler then does not idle), 0 if none, or a negative
     * errno (logged; tried again later). ghost_crawl_wake says there is
     * new work. */
    int (*work)(void *arg, unsigned max_keys);
    void *work_arg;
    /* Told of each finding (may be NULL): called by the crawler thread after
     * the slice that found it, with no lock held and no read view open, so
     * it may read the store (to name the object by its path, say). The
     * caller logs it then; without this hook the crawler logs it. A slice
     * that finds more than GHOST_CRAWL_FINDINGS tells only the last ones
     * and logs the others itself. */
    void (*found)(void *arg, const struct ghost_crawl_finding *f);
    void *found_arg;
};

/* Defaults: 10 % of one core, slices of 1,000 records, a cycle a day. */
void ghost_crawl_options_init(struct ghost_crawl_options *opts);

/* Start this connection's crawler thread. v (may be NULL) is called from
 * that thread for every finding and every object (ghost_scrub's rules).
 * -EINVAL for options out of range (a share over 1000, slices of 0),
 * -EROFS on a read-only connection, -EBUSY if it runs already. ghost_close
 * stops it. */
int ghost_crawl_start(struct ghost *g, const struct ghost_crawl_options *opts,
                      const struct ghost_scrub_visit *v);

/* Change the running crawler's options; it takes them at once (a sleep
 * under the old share or cycle is cut short). -ESRCH if none runs. */
int ghost_crawl_set(struct ghost *g, const struct ghost_crawl_options *opts);

/* Tell a crawler waiting for its next cycle that opts.work has work. */
void ghost_crawl_wake(struct ghost *g);

/* Stop the crawler (if it runs), giving up its lease. Its cursor stays. */
void ghost_crawl_stop(struct ghost *g);

/* What one cycle counted (a cycle under way: so far). Object types above
 * 14 are counted in types[15], maps above 14 in map_*[15]. */
struct ghost_crawl_totals {
    uint64_t records, bytes;        /* every record, keys plus values */
    uint64_t objects, object_bytes; /* head versions of objects */
    uint64_t types[16];             /* objects by type */
    uint64_t map_keys[16], map_bytes[16];
    uint64_t older, older_bytes; /* versions kept for snapshots */
    uint64_t findings;
    uint64_t pruned; /* older versions no snapshot needed, dropped */
};

struct ghost_crawl_status {
    /* This connection's crawler. */
    bool running; /* its thread runs */
    bool holder;  /* and holds the lease */
    unsigned cpu_permille, slice_records, cycle_seconds;
    uint64_t slices;
    int64_t cpu_ns; /* CPU time it spent */
    /* The store's crawl, whoever crawls it (the state in the store). */
    bool leased;            /* some process holds the lease now */
    uint64_t cycles;        /* full cycles completed */
    bool in_cycle;          /* a cycle is under way (or was, when its crawler stopped) */
    bool pruning;           /* in its second pass: dropping versions no snapshot needs */
    int64_t cycle_start_ns; /* its start (wall clock), if in_cycle */
    double percent;         /* of it done; -1 unknown (the first cycle) */
    double rate;            /* records a second, this cycle */
    double eta_seconds;     /* until it ends; -1 unknown */
    int64_t last_start_ns, last_end_ns; /* the last full cycle (0: none yet) */
    struct ghost_crawl_totals current, last;
};

/* Read the crawl's state from the store (any connection, read-only too),
 * and this connection's crawler's figures. */
int ghost_crawl_status(struct ghost *g, struct ghost_crawl_status *st);

/* The findings the crawl keeps (GHOST_CRAWL_FINDINGS above), oldest
 * first, into out[0..max), their number in *n: as the store has them, or
 * this connection's crawler's own when it holds the lease (ahead of what
 * it saved). Any connection, read-only too. 0, or -GHOST_ECORRUPT (the
 * record that keeps them is damaged), or the error of a read. */
int ghost_crawl_findings(struct ghost *g, struct ghost_crawl_finding *out, unsigned max,
                         unsigned *n);

/* --- statistics -------------------------------------------------------------- */

struct ghost_stats {
    uint64_t generation;         /* last generation this connection saw */
    uint64_t commits;            /* transactions committed by this connection */
    uint64_t batches;            /* LMDB write transactions they took */
    uint64_t conflicts;          /* commits refused for a stale read */
    uint64_t read_checks;        /* reads validated at commit */
    uint64_t read_checks_logged; /* of which the change log showed unchanged (no lookup) */
    uint64_t retries;            /* attempts ghost_run() repeated */
    uint64_t cache_bytes;        /* bytes the cache holds now */
    uint64_t cache_budget;
    uint64_t cache_handles; /* handles in the cache */
    uint64_t cache_loaded;  /* of which hold data (the rest are ghosts) */
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t invalidations; /* OIDs dropped because another process wrote */
    uint64_t map_bytes;     /* current LMDB map size */
    uint64_t file_bytes;    /* pages in use in the store file */
    uint64_t map_grows;     /* times the map was grown */
    uint64_t damage;        /* damaged records or store pages met (each an -GHOST_ECORRUPT) */
};

void ghost_stats(struct ghost *g, struct ghost_stats *st);

/* Space, for statfs: what the store holds and what it could still take. */
struct ghost_usage {
    uint64_t objects;     /* object versions and map tallies stored (snapshots keep some) */
    uint64_t used_bytes;  /* pages in use in the store file */
    uint64_t free_bytes;  /* free pages in the file + free space on its disk */
    uint64_t total_bytes; /* used + free */
};
int ghost_usage(struct ghost *g, struct ghost_usage *u);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
