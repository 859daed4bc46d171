/*
 * store.c - the only module that talks to LMDB.
 *
 * It owns the on-disk format (docs/format.md describes it for people):
 *
 *   meta  name -> value          format, uuid, next_oid, snapmax, created
 *   obj   oid . ~gen -> gen . flags . type . bytes
 *   map   owner . map . key . ~gen -> gen . flags . bytes
 *   snap  name -> gen . created_ns
 *
 * Every value starts with an XXH3-64 checksum (big-endian) of the rest of the
 * value, seeded with the XXH3-64 of the key, so a flipped byte or a value
 * found under the wrong key is caught on read. Integers in keys are
 * big-endian so that byte order is numeric order.
 *
 * Generations. A batch of transactions commits as one LMDB write
 * transaction, and its generation is that transaction's id: LMDB keeps it
 * in its meta pages, crash-safe and increasing, so counting generations
 * costs no record. Which OIDs a generation changed is told to the other
 * processes through the change log beside the store (changes.c).
 *
 * Versioned keys. Each key has at most one head version and any number of
 * older versions kept for snapshots. The head is stored under key . ~GEN_HEAD
 * (a suffix of zeroes) with its generation in the value, so that the common
 * write - replacing the head when no snapshot needs it - overwrites one
 * record in place. An older version's key ends in ~gen (bit-inverted). The
 * map database uses a comparator that orders by the part before the 8-byte
 * suffix first (a shorter key first when one is a prefix of the other),
 * then by the suffix (obj's keys all have one length, so plain byte order
 * does the same there), so the versions of one key are contiguous, the
 * head first and then the older ones newest first, and a seek to key . ~G
 * lands on the newest older version written at or before G. Reading at the
 * head is one lookup of key . ~GEN_HEAD; reading at a snapshot's G takes the
 * head if it is no newer than G, else the seek.
 *
 * A write replaces the head at once unless a snapshot needs it: a snapshot
 * at Gs sees the head (written at Gh) iff Gs >= Gh, so the old head moves to
 * key . ~Gh iff snapmax >= Gh. A delete removes the head and leaves a
 * tombstone (an older version marked deleted, at the deleting generation)
 * when older versions would otherwise show through; so the newest record of
 * a key is always its head or a tombstone. ghost_prune_versions() drops
 * versions no snapshot needs after a snapshot is deleted.
 *
 * Space. LMDB grows its file by writing past the end; on a full disk that
 * write fails and the commit is refused with ENOSPC, which LMDB survives
 * intact. So that deletes can still commit on a full disk, we keep `reserve`
 * bytes past LMDB's last page allocated with fallocate(KEEP_SIZE): when the
 * reserve can no longer be topped up, only transactions that delete (or that
 * fit in LMDB's free pages) are let through. The map (address space) grows by
 * itself when LMDB reports it full.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- damaged pages -------------------------------------------------------------
 *
 * LMDB trusts the page numbers and offsets it finds in its pages; a damaged
 * page can make it read past the end of the file (SIGBUS) or out of the map
 * (SIGSEGV). Every LMDB call runs inside store_guarded(), which catches such
 * a fault in this thread and turns it into -GHOST_ECORRUPT for that one
 * call; a fault anywhere else goes to whoever handled the signal before us.
 * The handler runs with SA_NODEFER so that the jump needs no signal mask
 * restore (a sigsetjmp without a system call).
 */
static HOT_TLS sigjmp_buf *guard;
static struct sigaction old_bus, old_segv;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (guard)
        siglongjmp(*guard, sig);
    struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
    if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL); /* returning re-runs the access: default action */
    }
}

static void guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
}

int store_guarded(struct store *s, int (*fn)(void *ctx), void *ctx, const char *doing)
{
    sigjmp_buf jb, *prev = guard;
    int r;
    guard = &jb;
    if (sigsetjmp(jb, 0) == 0) {
        r = fn(ctx);
    } else if (!strcmp(doing, "committing")) {
        /* Writing through the map into a hole the disk had no room for. */
        guard = prev;
        ghost_log(GHOST_LOG_WARN, "store %s: disk full while writing a page", s->path);
        r = ghost_set_error(-ENOSPC, "store %s: disk full", s->path);
    } else {
        guard = prev;
        if (!s->quiet)
            ghost_log(GHOST_LOG_ERR, "store %s: %s: a damaged page (memory fault)", s->path,
                      doing);
        r = ghost_set_error(-GHOST_ECORRUPT,
                            "store %s: corrupt: %s met a damaged page (a memory fault)",
                            s->path, doing);
    }
    guard = prev;
    return r;
}

#define CKSUM_LEN 8
#define VER_HDR (CKSUM_LEN + 8) /* a version's value: checksum, generation, flags */
#define FLAG_TOMBSTONE 0x01
#define LOG_ENTRIES_DEFAULT (UINT64_C(1) << 17) /* change log slots (3 MiB) */
#define MAX_READERS 1024
#define NAMED_TABLES 3 /* meta, map, snap: their records share obj's database */
#define OBJ_KEY_LEN 16
#define MAP_KEY_MAX (8 + 1 + GHOST_KEY_MAX + 8)

/* LMDB's on-disk meta page, as lmdb.h's format 1 lays it out on x86-64. We
 * read it ourselves before mdb_env_open() so that a file that is not a
 * store, or a truncated one, is refused without LMDB touching it. */
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define LMDB_PAGEHDR 16
#define LMDB_DB_SIZE 48

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- keys ---------------------------------------------------------------- */

static int versioned_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t la = a->mv_size - 8, lb = b->mv_size - 8;
    int c = memcmp(a->mv_data, b->mv_data, la < lb ? la : lb);
    if (c)
        return c;
    if (la != lb)
        return la < lb ? -1 : 1;
    return memcmp((const char *)a->mv_data + la, (const char *)b->mv_data + lb, 8);
}

/* An object's key has the top bit of its OID set (OIDs stay below 2^63), so
 * that objects sort after the records LMDB keeps in the same database for
 * the named tables: new OIDs then land at the end of the tree, where LMDB
 * splits a full page at the end and leaves the old one full, not in the
 * middle, which would leave every page half empty. */
#define OBJ_KEY_BIT (UINT64_C(1) << 63)

static size_t obj_key(unsigned char *k, uint64_t oid, uint64_t gen)
{
    put_be64(k, oid | OBJ_KEY_BIT);
    put_be64(k + 8, ~gen);
    return OBJ_KEY_LEN;
}

static size_t map_key(unsigned char *k, uint64_t owner, unsigned map, const void *key,
                      size_t klen, uint64_t gen)
{
    put_be64(k, owner);
    k[8] = (unsigned char)map;
    if (klen)
        memcpy(k + 9, key, klen);
    put_be64(k + 9 + klen, ~gen);
    return 9 + klen + 8;
}

/* ---- values and checksums --------------------------------------------------- */

static uint64_t cksum(const void *key, size_t klen, const void *body, size_t blen)
{
    return XXH3_64bits_withSeed(body, blen, XXH3_64bits(key, klen));
}

static bool cksum_ok(const MDB_val *k, const MDB_val *v)
{
    if (v->mv_size < CKSUM_LEN)
        return false;
    const unsigned char *p = v->mv_data;
    return get_be64(p) == cksum(k->mv_data, k->mv_size, p + CKSUM_LEN, v->mv_size - CKSUM_LEN);
}

/* Describe a damaged record by what it belongs to. */
static int corrupt(struct store *s, MDB_dbi dbi, const MDB_val *k, const char *why)
{
    const unsigned char *p = k->mv_data;
    char what[160];

    if (dbi == s->obj && k->mv_size == OBJ_KEY_LEN && get_be64(p + 8) == ~GEN_HEAD)
        snprintf(what, sizeof what, "object %llu (head version)",
                 (unsigned long long)(get_be64(p) & ~OBJ_KEY_BIT));
    else if (dbi == s->obj && k->mv_size == OBJ_KEY_LEN)
        snprintf(what, sizeof what, "object %llu (version %llu)",
                 (unsigned long long)(get_be64(p) & ~OBJ_KEY_BIT),
                 (unsigned long long)~get_be64(p + 8));
    else if (dbi == s->map && k->mv_size >= 17)
        snprintf(what, sizeof what, "object %llu, map %u, a %zu-byte key",
                 (unsigned long long)get_be64(p), p[8], k->mv_size - 17);
    else
        snprintf(what, sizeof what, "a %zu-byte key of an internal table", k->mv_size);
    if (!s->quiet)
        ghost_log(GHOST_LOG_ERR, "store %s: %s: %s", s->path, what, why);
    return ghost_set_error(-GHOST_ECORRUPT, "store %s: %s: %s", s->path, what, why);
}

/* Map an LMDB error to ours, naming what was being read. */
static int mdb_err(struct store *s, int rc, const char *doing)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
        return -GHOST_EMAPFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN:
        if (!s->quiet)
            ghost_log(GHOST_LOG_ERR, "store %s: %s: %s", s->path, doing, mdb_strerror(rc));
        return ghost_set_error(-GHOST_ECORRUPT, "store %s: corrupt: %s: %s", s->path, doing,
                               mdb_strerror(rc));
    case MDB_READERS_FULL:
        return ghost_set_error(-EAGAIN, "store %s: too many readers", s->path);
    case MDB_TXN_FULL:
        return ghost_set_error(-E2BIG, "store %s: transaction too large", s->path);
    default:
        if (rc > 0 && rc < 4096) {
            if (rc == ENOSPC)
                ghost_log(GHOST_LOG_WARN, "store %s: disk full while %s", s->path, doing);
            return ghost_set_error(-rc, "store %s: %s: %s", s->path, doing, strerror(rc));
        }
        return ghost_set_error(-EIO, "store %s: %s: %s", s->path, doing, mdb_strerror(rc));
    }
}

/* Put key -> body with its checksum in front. flags: MDB_APPEND for a key
 * known to sort after every key of dbi (LMDB then skips the search); if it
 * does not, it is put the ordinary way. */
static int put_value_flags(struct store *s, MDB_txn *txn, MDB_dbi dbi, const void *key,
                           size_t klen, const void *hdr, size_t hlen, const void *body,
                           size_t blen, unsigned flags)
{
    MDB_val k = {klen, (void *)key}, v = {CKSUM_LEN + hlen + blen, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE | flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_APPEND))
        rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return mdb_err(s, rc, "writing");
    unsigned char *p = v.mv_data;
    if (hlen)
        memcpy(p + CKSUM_LEN, hdr, hlen);
    if (blen)
        memcpy(p + CKSUM_LEN + hlen, body, blen);
    put_be64(p, cksum(key, klen, p + CKSUM_LEN, hlen + blen));
    return 0;
}

static int put_value(struct store *s, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                     const void *hdr, size_t hlen, const void *body, size_t blen)
{
    return put_value_flags(s, txn, dbi, key, klen, hdr, hlen, body, blen, 0);
}

/* Fill a value reserved in LMDB as a version: checksum, generation, flags
 * and the rest of hdr, body. */
static void fill_version(void *dst, const MDB_val *k, uint64_t gen, const void *hdr,
                         size_t hlen, const void *body, size_t blen)
{
    unsigned char *p = dst;
    put_be64(p + CKSUM_LEN, gen);
    memcpy(p + VER_HDR, hdr, hlen);
    if (blen)
        memcpy(p + VER_HDR + hlen, body, blen);
    put_be64(p, cksum(k->mv_data, k->mv_size, p + CKSUM_LEN, 8 + hlen + blen));
}

/* Put a version of a key: hdr starts with the flags byte. */
static int put_version(struct store *s, MDB_txn *txn, MDB_dbi dbi, const void *key,
                       size_t klen, uint64_t gen, const void *hdr, size_t hlen,
                       const void *body, size_t blen)
{
    MDB_val k = {klen, (void *)key}, v = {VER_HDR + hlen + blen, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return mdb_err(s, rc, "writing");
    fill_version(v.mv_data, &k, gen, hdr, hlen, body, blen);
    return 0;
}

static int get_meta(struct store *s, MDB_txn *txn, const char *name, void *out, size_t len)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc)
        return mdb_err(s, rc, "reading the store's meta table");
    if (!cksum_ok(&k, &v) || v.mv_size != CKSUM_LEN + len)
        return corrupt(s, s->meta, &k, "meta record fails its checksum");
    memcpy(out, (char *)v.mv_data + CKSUM_LEN, len);
    return 0;
}

static int get_meta64(struct store *s, MDB_txn *txn, const char *name, uint64_t *val)
{
    unsigned char b[8];
    int r = get_meta(s, txn, name, b, 8);
    if (r == 0)
        *val = get_be64(b);
    return r;
}

static int put_meta64(struct store *s, MDB_txn *txn, const char *name, uint64_t val)
{
    unsigned char b[8];
    put_be64(b, val);
    return put_value(s, txn, s->meta, name, strlen(name), NULL, 0, b, 8);
}

/* ---- opening ------------------------------------------------------------------ */

/* Check the file's LMDB header ourselves: magic, version, and that the file
 * holds every page its newest meta page refers to. */
static int check_header(const char *path, uint64_t *used)
{
    unsigned char page[2][LMDB_PAGEHDR + 16 + 8 + 8 + 2 * LMDB_DB_SIZE + 16];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not a regular file)",
                               path);
    }
    ssize_t n = pread(fd, page[0], sizeof page[0], 0);
    uint32_t magic, version, psize;
    if (n != (ssize_t)sizeof page[0]) {
        close(fd);
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: not a ghostfs store (file too short to be an LMDB file)",
                               path);
    }
    memcpy(&magic, page[0] + LMDB_PAGEHDR, 4);
    memcpy(&version, page[0] + LMDB_PAGEHDR + 4, 4);
    /* The page size is kept in the free-list DB's md_pad. */
    memcpy(&psize, page[0] + LMDB_PAGEHDR + 24, 4);
    if (magic != LMDB_MAGIC || psize < 512 || psize > 65536 || (psize & (psize - 1))) {
        close(fd);
        return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not an LMDB file)",
                               path);
    }
    if (version != LMDB_DATA_VERSION) {
        close(fd);
        return ghost_set_error(-GHOST_EFORMAT, "%s: unsupported LMDB data format %u", path,
                               version);
    }
    n = pread(fd, page[1], sizeof page[1], psize);
    close(fd);
    uint64_t need = 0, best = 0;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && n != (ssize_t)sizeof page[1])
            break;
        const unsigned char *m = page[i] + LMDB_PAGEHDR;
        uint64_t last_pg, txnid;
        memcpy(&magic, m, 4);
        memcpy(&last_pg, m + 24 + 2 * LMDB_DB_SIZE, 8);
        memcpy(&txnid, m + 32 + 2 * LMDB_DB_SIZE, 8);
        if (magic == LMDB_MAGIC && txnid >= best) {
            best = txnid;
            need = (last_pg + 1) * psize;
        }
    }
    *used = need;
    if (n != (ssize_t)sizeof page[1] || (uint64_t)st.st_size < need)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: truncated store: the file is %lld bytes, its pages need "
                               "%llu",
                               path, (long long)st.st_size, (unsigned long long)need);
    return 0;
}

/* LMDB's flags for each durability mode:
 *   always: data and meta page synced at every commit, LMDB writing its
 *           pages with pwrite (its default, the most conservative path)
 *   batch:  data synced at every commit, the meta page lazily (NOMETASYNC):
 *           a crash can undo the last commit, never corrupt
 *   none:   nothing synced at commit (NOSYNC)
 * none, and batch on a filesystem in memory (tmpfs), let LMDB write its
 * pages through the memory map (WRITEMAP), which saves a copy and a system
 * call per page: on tmpfs that is most of a small commit's cost. On a disk
 * filesystem a synced WRITEMAP commit costs more instead (1.4x the time of
 * a batch here, on ext4): every page LMDB dirties through the map is a
 * write fault that the filesystem must journal, and every sync makes the
 * pages read-only again. With WRITEMAP LMDB syncs with msync, which Linux
 * turns into an fsync of the file's dirty range, and it still syncs the
 * data before it writes the meta page that makes them reachable. The file
 * is as long as the map, mostly holes (the map starts small and grows); on
 * a full disk a write into a hole would fault (SIGBUS), which the reserve we
 * keep allocated ahead of LMDB's last page prevents (store_space_check). */
static unsigned env_sync_flags(enum ghost_sync sync, bool in_memory)
{
    switch (sync) {
    case GHOST_SYNC_ALWAYS:
        return 0;
    case GHOST_SYNC_NONE:
        return MDB_NOSYNC | MDB_WRITEMAP;
    default:
        return MDB_NOMETASYNC | (in_memory ? MDB_WRITEMAP : 0);
    }
}

/* Whether path lives on a filesystem in memory, where a sync costs nothing. */
static bool in_memory(const char *path)
{
    struct statfs st;
    return statfs(path, &st) == 0 &&
           (st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC);
}

static int open_dbis(struct store *s, MDB_txn *txn, unsigned flags)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
        bool versioned;
    } t[] = {{"meta", &s->meta, false}, {"map", &s->map, true}, {"snap", &s->snap, false}};
    /* obj is LMDB's main database, beside the records LMDB keeps there for
     * the named ones (keys "map", "meta", "snap", which sort before every
     * object's: see obj_key). A write to a named database also copies the main
     * database's page that holds its record, and its first use in each
     * transaction looks that record up: the objects, written by almost
     * every transaction, save both. Their keys all have one length, so
     * LMDB's own byte order sorts them as versioned_cmp would. */
    int rc0 = mdb_dbi_open(txn, NULL, 0, &s->obj);
    if (rc0)
        return mdb_err(s, rc0, "opening tables");
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int rc = mdb_dbi_open(txn, t[i].name, flags, t[i].dbi);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
            return ghost_set_error(-GHOST_EFORMAT,
                                   "%s: not a ghostfs store (an LMDB file without its "
                                   "'%s' table)",
                                   s->path, t[i].name);
        if (rc)
            return mdb_err(s, rc, "opening tables");
        if (t[i].versioned)
            mdb_set_compare(txn, *t[i].dbi, versioned_cmp);
    }
    return 0;
}

/* LMDB sizes a new lock file with ftruncate and then writes to it through a
 * memory map, which dies of SIGBUS on a full disk. Allocate it first, so a
 * full disk is an ENOSPC here instead. Room for MAX_READERS slots of 64
 * bytes plus LMDB's header. */
static int prepare_lock_file(const char *path)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT)
        return ghost_set_error(-ENOENT, "%s: the directory it should be in does not exist",
                               path);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: cannot create the lock file: %s", lock,
                               strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (!e && st.st_size == 0)
        e = posix_fallocate(fd, 0, (off_t)(MAX_READERS + 4) * 64);
    close(fd);
    if (e) {
        if (st.st_size == 0)
            unlink(lock);
        return ghost_set_error(-e, "%s: cannot allocate the lock file: %s", lock, strerror(e));
    }
    return 0;
}

static int env_create(struct store *s, const char *path, unsigned flags, size_t map_bytes)
{
    int rc = prepare_lock_file(path);
    if (rc)
        return rc;
    rc = mdb_env_create(&s->env);
    if (rc)
        return ghost_set_error(-ENOMEM, "%s: %s", path, mdb_strerror(rc));
    mdb_env_set_maxdbs(s->env, 8);
    mdb_env_set_maxreaders(s->env, MAX_READERS);
    mdb_env_set_mapsize(s->env, map_bytes);
    rc = mdb_env_open(s->env, path, flags | MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD, 0644);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (%s)", path,
                                   mdb_strerror(rc));
        return ghost_set_error(rc > 0 && rc < 4096 ? -rc : -EIO, "%s: %s", path,
                               mdb_strerror(rc));
    }
    return 0;
}

int store_mkfs(const char *path)
{
    struct store s = {.path = (char *)path};
    struct stat st;
    MDB_txn *txn;
    unsigned char uuid[16];
    int r;

    if (stat(path, &st) == 0)
        return ghost_set_error(-EEXIST, "%s: file exists; refusing to overwrite it", path);
    if (errno != ENOENT)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    r = env_create(&s, path, 0, (size_t)64 << 20);
    if (r)
        return r;
    r = mdb_err(&s, mdb_txn_begin(s.env, NULL, 0, &txn), "starting mkfs");
    if (r)
        goto out;
    r = open_dbis(&s, txn, MDB_CREATE);
    if (getrandom(uuid, sizeof uuid, 0) != sizeof uuid)
        r = r ? r : ghost_set_error(-EIO, "%s: no random bytes for the uuid", path);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r = r ? r : put_meta64(&s, txn, "format", GHOST_FORMAT);
    r = r ? r : put_value(&s, txn, s.meta, "uuid", 4, NULL, 0, uuid, sizeof uuid);
    r = r ? r : put_meta64(&s, txn, "next_oid", GHOST_OID_FIRST);
    r = r ? r : put_meta64(&s, txn, "snapmax", 0);
    r = r ? r : put_meta64(&s, txn, "created",
                           (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    if (r) {
        mdb_txn_abort(txn);
        goto out;
    }
    r = mdb_err(&s, mdb_txn_commit(txn), "committing mkfs");
out:
    mdb_env_close(s.env);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (r) {
        unlink(path);
    }
    unlink(lock);
    return r;
}

/* Open the named tables and check the format, in one read transaction. */
static int open_tables(void *ctx)
{
    struct store *s = ctx;
    MDB_txn *txn;
    uint64_t format;
    int r = mdb_err(s, mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), "opening");
    if (r)
        return r;
    s->open_txn = txn; /* for store_open to end it if a fault cuts us short */
    r = open_dbis(s, txn, 0);
    if (!r) {
        r = get_meta64(s, txn, "format", &format);
        if (r == -ENOENT)
            r = ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (no format record)",
                                s->path);
        else if (!r && format > GHOST_FORMAT)
            r = ghost_set_error(-GHOST_EFORMAT,
                                "%s: store format %llu is newer than this ghostfs "
                                "understands (%d); upgrade ghostfs",
                                s->path, (unsigned long long)format, GHOST_FORMAT);
        else if (!r && format < GHOST_FORMAT)
            r = ghost_set_error(-GHOST_EFORMAT,
                                "%s: store format %llu is older than this ghostfs reads "
                                "(%d); it has no converter: copy the files out with the "
                                "ghostfs that made the store",
                                s->path, (unsigned long long)format, GHOST_FORMAT);
        if (!r)
            r = get_meta(s, txn, "uuid", s->uuid, sizeof s->uuid);
    }
    s->open_txn = NULL;
    if (r) {
        mdb_txn_abort(txn);
        return r;
    }
    return mdb_err(s, mdb_txn_commit(txn), "opening");
}

int store_open(struct store *s, const char *path, const struct store_opts *o)
{
    char lock[4200];
    struct stat st;
    int dead = 0, r;

    memset(s, 0, sizeof *s);
    s->fd = -1;
    pthread_once(&guard_once, guard_install);
    if (stat(path, &st) < 0)
        return ghost_set_error(-errno, "%s: %s", path,
                               errno == ENOENT ? "no such store" : strerror(errno));
    uint64_t used = 0;
    r = check_header(path, &used);
    if (r)
        return r;
    snprintf(lock, sizeof lock, "%s-lock", path);
    bool had_lock = access(lock, F_OK) == 0;

    s->path = strdup(path);
    s->sync = o->sync;
    s->readonly = o->readonly;
    s->reserve = o->reserve_bytes;
    pthread_rwlock_init(&s->resize_lock, NULL);
    /* Size the map by the pages LMDB uses, not by the file: with
     * MDB_WRITEMAP the file is as long as the last process's map. */
    size_t want = o->map_bytes;
    if (used + (16u << 20) > want)
        want = (size_t)used * 2 + (16u << 20);

    /* First look without MDB_WRITEMAP, which would extend the file to the
     * map size: a file that turns out not to be our store stays untouched. */
    r = env_create(s, path, MDB_RDONLY, want);
    if (r)
        goto fail;
    mdb_reader_check(s->env, &dead);
    if (dead)
        ghost_log(GHOST_LOG_INFO, "store %s: cleared %d stale reader slots", path, dead);
    s->quiet = true; /* open errors are returned, not logged */
    r = store_guarded(s, open_tables, s, "opening its tables");
    s->quiet = false;
    if (s->open_txn) { /* a fault left it open */
        mdb_txn_abort(s->open_txn);
        s->open_txn = NULL;
    }
    mdb_env_close(s->env);
    s->env = NULL;
    if (r)
        goto fail;

    /* Now for real. */
    r = env_create(s, path, env_sync_flags(o->sync, in_memory(path)), want);
    r = r ? r : store_guarded(s, open_tables, s, "opening its tables");
    if (r)
        goto fail;

    MDB_envinfo info;
    MDB_stat mst;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &mst);
    s->map_size = info.me_mapsize;
    s->psize = mst.ms_psize;
    mdb_env_get_fd(s->env, &s->fd);
    /* What is surely allocated: LMDB's pages. (With MDB_WRITEMAP the file is
     * as long as the map, mostly holes, so its size says nothing.) */
    s->alloc_end = ((uint64_t)info.me_last_pgno + 1) * s->psize;

    /* A writer must have the change log, or the others would miss its
     * changes; a reader without one drops its cache on every change. */
    uint64_t entries = o->log_entries ? o->log_entries : LOG_ENTRIES_DEFAULT;
    if (entries < 16 || (entries & (entries - 1))) {
        r = ghost_set_error(-EINVAL, "change log of %llu entries: not a power of two >= 16",
                            (unsigned long long)entries);
        goto fail;
    }
    r = changes_open(&s->changes, path, s->uuid, !o->readonly, entries);
    if (r && !o->readonly)
        goto fail;
    r = 0;
    if (getrandom(&s->writer_id, sizeof s->writer_id, 0) != sizeof s->writer_id) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s->writer_id = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40;
    }
    s->writer_id |= 1; /* never 0 */
    return 0;
fail:
    if (s->env)
        mdb_env_close(s->env);
    s->env = NULL;
    if (!had_lock)
        unlink(lock);
    pthread_rwlock_destroy(&s->resize_lock);
    free(s->path);
    s->path = NULL;
    return r;
}

void store_close(struct store *s)
{
    if (!s->env)
        return;
    mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    s->env = NULL;
    changes_close(&s->changes);
    free(s->changed_buf);
    s->changed_buf = NULL;
    pthread_rwlock_destroy(&s->resize_lock);
    free(s->path);
    s->path = NULL;
}

/* ---- read views -------------------------------------------------------------------- */

/* LMDB transactions this thread has open. The map can only be resized when
 * the process has none, so a thread that holds one must not wait for a
 * resize: it gets a conflict instead and its retry starts without views. */
static HOT_TLS int held;

static void end_locked(struct store *s)
{
    held--;
    pthread_rwlock_unlock(&s->resize_lock);
}

/* Begin an LMDB transaction with resize_lock held shared; adopt a map grown
 * by another process when LMDB asks us to. */
static int begin(struct store *s, unsigned flags, MDB_txn **txn)
{
    for (;;) {
        pthread_rwlock_rdlock(&s->resize_lock);
        int rc = mdb_txn_begin(s->env, NULL, flags, txn);
        if (rc != MDB_MAP_RESIZED) {
            if (rc)
                pthread_rwlock_unlock(&s->resize_lock);
            else
                held++;
            return mdb_err(s, rc, "starting a transaction");
        }
        pthread_rwlock_unlock(&s->resize_lock);
        if (held)
            return ghost_set_error(-GHOST_ECONFLICT,
                                   "store %s: map resized by another process; retry", s->path);
        pthread_rwlock_wrlock(&s->resize_lock);
        mdb_env_set_mapsize(s->env, 0);
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
        pthread_rwlock_unlock(&s->resize_lock);
    }
}

int store_view_begin(struct store *s, MDB_txn **txn) { return begin(s, MDB_RDONLY, txn); }

void store_view_end(struct store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    end_locked(s);
}

/* The generation a transaction sees is the id of the last write
 * transaction it sees; a write transaction's is its own id. */
static uint64_t current_gen(MDB_txn *txn)
{
    return mdb_txn_id(txn);
}

uint64_t store_view_generation(struct store *s, MDB_txn *txn)
{
    (void)s;
    return current_gen(txn);
}

static uint64_t key_gen(const MDB_val *k)
{
    return ~get_be64((const unsigned char *)k->mv_data + k->mv_size - 8);
}

/* The generation of a version whose checksum was checked. */
static uint64_t rec_gen(const MDB_val *v)
{
    return get_be64((const unsigned char *)v->mv_data + CKSUM_LEN);
}

static bool same_key(const MDB_val *k, const unsigned char *kbuf, size_t klen)
{
    return k->mv_size == klen && !memcmp(k->mv_data, kbuf, klen - 8);
}

/* Check a version record's checksum and shape. */
static int version_ok(struct store *s, MDB_dbi dbi, const MDB_val *k, const MDB_val *v)
{
    if (!cksum_ok(k, v))
        return corrupt(s, dbi, k, "record fails its checksum");
    if (v->mv_size < VER_HDR + 1)
        return corrupt(s, dbi, k, "record too short");
    return 0;
}

/* Find the version of a key (kbuf, its suffix to be filled in) visible at
 * `at`: the head if it is no newer than `at`, else the newest older version
 * written at or before `at`. Returns 0 with *k and *v set (possibly a
 * tombstone), -ENOENT, or an error. */
static int seek_version(struct store *s, MDB_cursor *cur, MDB_dbi dbi, unsigned char *kbuf,
                        size_t klen, uint64_t at, MDB_val *k, MDB_val *v)
{
    put_be64(kbuf + klen - 8, ~GEN_HEAD);
    k->mv_size = klen;
    k->mv_data = kbuf;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_KEY);
    if (rc && rc != MDB_NOTFOUND)
        return mdb_err(s, rc, "seeking a key");
    if (rc == 0) {
        int r = version_ok(s, dbi, k, v);
        if (r || rec_gen(v) <= at)
            return r;
    }
    if (at == GEN_HEAD)
        return -ENOENT; /* no head: absent (the newest older one is a tombstone) */
    put_be64(kbuf + klen - 8, ~at);
    k->mv_size = klen;
    k->mv_data = kbuf;
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc)
        return mdb_err(s, rc, "seeking a key");
    if (!same_key(k, kbuf, klen))
        return -ENOENT;
    return version_ok(s, dbi, k, v);
}

static int read_version_raw(struct store *s, MDB_txn *txn, MDB_dbi dbi, unsigned char *kbuf,
                            size_t klen, uint64_t at, uint64_t *vgen,
                            const unsigned char **body, size_t *blen)
{
    MDB_val k, v;
    int r;
    *vgen = 0;
    if (at == GEN_HEAD) { /* the common case: one lookup, no cursor */
        put_be64(kbuf + klen - 8, ~GEN_HEAD);
        k = (MDB_val){klen, kbuf};
        int rc = mdb_get(txn, dbi, &k, &v);
        r = rc ? mdb_err(s, rc, "reading a record") : version_ok(s, dbi, &k, &v);
    } else {
        MDB_cursor *cur;
        r = mdb_err(s, mdb_cursor_open(txn, dbi, &cur), "opening a cursor");
        if (r)
            return r;
        r = seek_version(s, cur, dbi, kbuf, klen, at, &k, &v);
        mdb_cursor_close(cur);
    }
    if (r)
        return r;
    const unsigned char *p = v.mv_data;
    if (p[VER_HDR] & FLAG_TOMBSTONE)
        return -ENOENT;
    *vgen = rec_gen(&v);
    *body = p + VER_HDR + 1;
    *blen = v.mv_size - VER_HDR - 1;
    return 0;
}

struct read_args {
    struct store *s;
    MDB_txn *txn;
    MDB_dbi dbi;
    unsigned char *kbuf;
    size_t klen;
    uint64_t at, *vgen;
    const unsigned char **body;
    size_t *blen;
};

static int read_fn(void *ctx)
{
    struct read_args *a = ctx;
    return read_version_raw(a->s, a->txn, a->dbi, a->kbuf, a->klen, a->at, a->vgen, a->body,
                            a->blen);
}

static int read_version(struct store *s, MDB_txn *txn, MDB_dbi dbi, unsigned char *kbuf,
                        size_t klen, uint64_t at, uint64_t *vgen, const unsigned char **body,
                        size_t *blen)
{
    struct read_args a = {s, txn, dbi, kbuf, klen, at, vgen, body, blen};
    *vgen = 0;
    return store_guarded(s, read_fn, &a, "reading a record");
}

int store_obj_read(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t at, uint64_t *vgen,
                   uint8_t *type, const void **data, size_t *len)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    const unsigned char *body;
    size_t blen;
    int r = read_version(s, txn, s->obj, kbuf, obj_key(kbuf, oid, 0), at, vgen, &body, &blen);
    if (r)
        return r;
    if (blen < 1) {
        MDB_val k = {OBJ_KEY_LEN, kbuf};
        return corrupt(s, s->obj, &k, "object record too short");
    }
    *type = body[0];
    *data = body + 1;
    *len = blen - 1;
    return 0;
}

int store_map_read(struct store *s, MDB_txn *txn, uint64_t owner, unsigned map,
                   const void *key, size_t klen, uint64_t at, uint64_t *vgen,
                   const void **val, size_t *vlen)
{
    unsigned char kbuf[MAP_KEY_MAX];
    const unsigned char *body;
    size_t blen;
    int r = read_version(s, txn, s->map, kbuf, map_key(kbuf, owner, map, key, klen, 0), at,
                         vgen, &body, &blen);
    if (r)
        return r;
    *val = body;
    *vlen = blen;
    return 0;
}

/* Scan one map in key order, each key at the version visible at `at`. The
 * cursor rests on the first record of each key in turn (its head, or the
 * newest older version); older versions are looked up only for a snapshot
 * and skipped otherwise. */
static int map_scan_raw(struct store *s, MDB_txn *txn, uint64_t owner, unsigned map,
                        const void *start, size_t slen, uint64_t at, ghost_scan_fn fn,
                        void *arg)
{
    unsigned char kbuf[MAP_KEY_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    size_t klen = map_key(kbuf, owner, map, start, slen, GEN_HEAD);
    int r = mdb_err(s, mdb_cursor_open(txn, s->map, &cur), "opening a cursor");
    if (r)
        return r;
    k.mv_size = klen;
    k.mv_data = kbuf;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        const unsigned char *p = k.mv_data;
        if (k.mv_size < 17 || get_be64(p) != owner || p[8] != map)
            break;
        if (k.mv_size > MAP_KEY_MAX) {
            r = corrupt(s, s->map, &k, "key longer than any map key");
            break;
        }
        r = version_ok(s, s->map, &k, &v);
        if (r)
            break;
        klen = k.mv_size;
        memcpy(kbuf, p, klen - 8);
        if (rec_gen(&v) > at) { /* too new for this view: the older version at `at` */
            put_be64(kbuf + klen - 8, ~at);
            k = (MDB_val){klen, kbuf};
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc)
                break;
            if (!same_key(&k, kbuf, klen))
                continue; /* nothing that old: k is the next key's first record */
            r = version_ok(s, s->map, &k, &v);
            if (r)
                break;
        }
        const unsigned char *val = v.mv_data;
        if (!(val[VER_HDR] & FLAG_TOMBSTONE)) {
            r = fn(arg, kbuf + 9, klen - 17, val + VER_HDR + 1, v.mv_size - VER_HDR - 1);
            if (r)
                break;
        }
        /* On to the next key, past this one's older versions (rare). */
        do
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        while (rc == 0 && same_key(&k, kbuf, klen));
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    if (rc && rc != MDB_NOTFOUND)
        return mdb_err(s, rc, "scanning a map");
    return 0;
}

struct scan_args {
    struct store *s;
    MDB_txn *txn;
    uint64_t owner;
    unsigned map;
    const void *start;
    size_t slen;
    uint64_t at;
    ghost_scan_fn fn;
    void *arg;
};

static int scan_fn(void *ctx)
{
    struct scan_args *a = ctx;
    return map_scan_raw(a->s, a->txn, a->owner, a->map, a->start, a->slen, a->at, a->fn,
                        a->arg);
}

int store_map_scan(struct store *s, MDB_txn *txn, uint64_t owner, unsigned map,
                   const void *start, size_t slen, uint64_t at, ghost_scan_fn fn, void *arg)
{
    struct scan_args a = {s, txn, owner, map, start, slen, at, fn, arg};
    return store_guarded(s, scan_fn, &a, "scanning a map");
}

/* ---- batches ----------------------------------------------------------------------- */

int store_batch_begin(struct store *s, struct store_batch *b)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    int r = begin(s, 0, &b->txn);
    if (r)
        return r;
    b->gen = current_gen(b->txn);
    /* Batches take turns (LMDB's writer lock): they share one buffer. */
    b->changed = s->changed_buf;
    b->capchanged = s->changed_cap;
    s->changed_buf = NULL;
    s->changed_cap = 0;
    /* If the last write transaction was our own batch, meta is as we left
     * it: skip reading it. Anything else (another process, a snapshot, an
     * OID block) took a transaction id in between. */
    if (b->gen == s->last_batch_txnid + 1) {
        b->snapmax = s->last_batch_snapmax;
        return 0;
    }
    r = get_meta64(s, b->txn, "snapmax", &b->snapmax);
    if (r) {
        store_batch_abort(b);
        return r;
    }
    return 0;
}

/* A write transaction's cursors must be closed before it ends. */
static void close_cursors(struct store_batch *b)
{
    for (int i = 0; i < 2; i++)
        if (b->cur[i])
            mdb_cursor_close(b->cur[i]);
    b->cur[0] = b->cur[1] = NULL;
}

/* Hand the list of changed OIDs back for the next batch (while we still
 * hold LMDB's writer lock), unless it grew big. */
static void give_back_changed(struct store_batch *b)
{
    struct store *s = b->s;
    if (b->capchanged <= 4096 && !s->changed_buf) {
        s->changed_buf = b->changed;
        s->changed_cap = b->capchanged;
    } else {
        free(b->changed);
    }
    b->changed = NULL;
    b->nchanged = b->capchanged = 0;
}

void store_batch_abort(struct store_batch *b)
{
    if (b->txn) {
        close_cursors(b);
        give_back_changed(b);
        mdb_txn_abort(b->txn);
        end_locked(b->s);
    }
    b->txn = NULL;
    free(b->changed);
    b->changed = NULL;
}

static void note_changed(struct store_batch *b, uint64_t oid)
{
    if (b->nchanged && b->changed[b->nchanged - 1] == oid)
        return;
    if (b->nchanged == b->capchanged) {
        b->capchanged = b->capchanged ? b->capchanged * 2 : 64;
        b->changed = realloc(b->changed, b->capchanged * sizeof *b->changed);
        if (!b->changed)
            abort();
    }
    b->changed[b->nchanged++] = oid;
}

/* The batch's cursor on dbi, opened on first use. */
static int batch_cursor(struct store_batch *b, MDB_dbi dbi, MDB_cursor **cur)
{
    int i = dbi == b->s->obj ? 0 : 1;
    if (!b->cur[i]) {
        int r = mdb_err(b->s, mdb_cursor_open(b->txn, dbi, &b->cur[i]), "opening a cursor");
        if (r)
            return r;
    }
    *cur = b->cur[i];
    return 0;
}

/* The generation of the head version of a key, 0 if it has none. */
static int head_gen(struct store_batch *b, MDB_dbi dbi, unsigned char *kbuf, size_t klen,
                    uint64_t *head)
{
    MDB_val k = {klen, kbuf}, v;
    put_be64(kbuf + klen - 8, ~GEN_HEAD);
    *head = 0;
    int rc = mdb_get(b->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    int r = rc ? mdb_err(b->s, rc, "reading a record") : version_ok(b->s, dbi, &k, &v);
    if (r == 0)
        *head = rec_gen(&v);
    return r;
}

/* How far validation looks back in the change log, and how many OIDs of
 * the batch so far it compares, before it asks LMDB instead. */
#define QUIET_ENTRIES 64
#define QUIET_CHANGED 64

/* Validation's fast path. Every commit that changes a head appends its
 * OIDs to the change log before it commits, under LMDB's writer lock, which
 * this batch holds; so if the log has no entry for `oid` after generation
 * `gen`, and this batch has not changed it either, the head of every key of
 * oid is still the version the reader saw at gen (versions only move
 * forward, and the reader saw a head). Only "unchanged" is trusted: an
 * entry that names oid may be of a map key the reader did not read, and
 * sends the check to LMDB. */
static bool unchanged_since(struct store_batch *b, uint64_t oid, uint64_t gen)
{
    if (b->nchanged > QUIET_CHANGED)
        return false;
    for (size_t i = 0; i < b->nchanged; i++)
        if (b->changed[i] == oid)
            return false;
    return changes_quiet_since(&b->s->changes, oid, gen, QUIET_ENTRIES);
}

/* 0 if the head of oid's key in kbuf is still the version of generation
 * gen, else -GHOST_ECONFLICT with *head set to what is there now. */
static int check_head(struct store_batch *b, uint64_t oid, MDB_dbi dbi, unsigned char *kbuf,
                      size_t klen, uint64_t gen, uint64_t *head)
{
    if (unchanged_since(b, oid, gen)) {
        b->checks_logged++;
        *head = gen;
        return 0;
    }
    int r = head_gen(b, dbi, kbuf, klen, head);
    if (r)
        return r;
    return *head == gen ? 0 : -GHOST_ECONFLICT;
}

int store_check_obj(struct store_batch *b, uint64_t oid, uint64_t gen, uint64_t *head)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    return check_head(b, oid, b->s->obj, kbuf, obj_key(kbuf, oid, 0), gen, head);
}

int store_check_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                    size_t klen, uint64_t gen, uint64_t *head)
{
    unsigned char kbuf[MAP_KEY_MAX];
    return check_head(b, owner, b->s->map, kbuf, map_key(kbuf, owner, map, key, klen, 0), gen,
                      head);
}

/* Keep a copy of the head version hv as the older version key . ~hgen (a
 * snapshot needs it). */
static int keep_old(struct store_batch *b, MDB_dbi dbi, unsigned char *kbuf, size_t klen,
                    const unsigned char *old, size_t olen, uint64_t hgen)
{
    put_be64(kbuf + klen - 8, ~hgen);
    return put_version(b->s, b->txn, dbi, kbuf, klen, hgen, old + VER_HDR, olen - VER_HDR,
                       NULL, 0);
}

/* Write (or, with del, delete) the head version of a key at the batch's
 * generation. The old head moves to an older version only if a snapshot
 * needs it; a delete leaves a tombstone when older versions would otherwise
 * show through. */
static int write_version(struct store_batch *b, MDB_dbi dbi, unsigned char *kbuf, size_t klen,
                         const void *hdr, size_t hlen, const void *body, size_t blen,
                         bool del)
{
    struct store *s = b->s;
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char small[256], *old = NULL;
    size_t olen = 0;
    int r0;
    put_be64(kbuf + klen - 8, ~GEN_HEAD);
    /* The common case: no snapshot can need the old head, so the new one is
     * put over it (in place when the size is unchanged), unread. */
    if (!del && !b->snapmax) {
        r0 = put_version(s, b->txn, dbi, kbuf, klen, b->gen, hdr, hlen, body, blen);
        b->wrote |= r0 == 0;
        return r0;
    }
    int r = batch_cursor(b, dbi, &cur);
    if (r)
        return r;
    k = (MDB_val){klen, kbuf};
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc && rc != MDB_NOTFOUND)
        return mdb_err(s, rc, "seeking a key");
    if (rc == MDB_NOTFOUND) {
        if (del) /* no head: absent already */
            return 0;
        r0 = put_version(s, b->txn, dbi, kbuf, klen, b->gen, hdr, hlen, body, blen);
        b->wrote |= r0 == 0;
        return r0;
    }
    b->wrote = true; /* whatever follows changes the head */
    /* With no snapshot the old head is replaced whatever it holds: it is
     * not read, so its checksum need not be checked either. */
    uint64_t hgen = 0;
    if (b->snapmax) {
        r = version_ok(s, dbi, &k, &v);
        if (r)
            return r;
        hgen = rec_gen(&v);
    }
    if (b->snapmax && hgen != b->gen && b->snapmax >= hgen) { /* a snapshot sees it */
        olen = v.mv_size;
        old = olen <= sizeof small ? small : malloc(olen);
        if (!old)
            return -ENOMEM;
        memcpy(old, v.mv_data, olen);
    }
    if (!del) {
        /* In place: LMDB overwrites the record when the size is unchanged.
         * (k points into the page, which the put may change: use kbuf.) */
        MDB_val hk = {klen, kbuf}, nv = {VER_HDR + hlen + blen, NULL};
        rc = mdb_cursor_put(cur, &hk, &nv, MDB_CURRENT | MDB_RESERVE);
        if (rc == 0)
            fill_version(nv.mv_data, &hk, b->gen, hdr, hlen, body, blen);
        r = rc ? mdb_err(s, rc, "writing") : 0;
        if (!r && old)
            r = keep_old(b, dbi, kbuf, klen, old, olen, hgen);
    } else {
        rc = mdb_cursor_del(cur, 0);
        r = rc ? mdb_err(s, rc, "deleting") : 0;
        if (!r && old)
            r = keep_old(b, dbi, kbuf, klen, old, olen, hgen);
        bool older = old != NULL;
        if (!r && !older) {
            /* After a delete the cursor rests on the next record: is it an
             * older version of this key (and not already a tombstone)? */
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
            older = rc == 0 && same_key(&k, kbuf, klen) && v.mv_size > VER_HDR &&
                    !(((unsigned char *)v.mv_data)[VER_HDR] & FLAG_TOMBSTONE);
        }
        if (!r && older) {
            unsigned char tomb = FLAG_TOMBSTONE;
            put_be64(kbuf + klen - 8, ~b->gen);
            r = put_version(s, b->txn, dbi, kbuf, klen, b->gen, &tomb, 1, NULL, 0);
        }
    }
    if (old != small)
        free(old);
    return r;
}

int store_put_obj(struct store_batch *b, uint64_t oid, uint8_t type, const void *data,
                  size_t len)
{
    unsigned char kbuf[OBJ_KEY_LEN], hdr[2] = {0, type};
    note_changed(b, oid);
    return write_version(b, b->s->obj, kbuf, obj_key(kbuf, oid, 0), hdr, 2, data, len, false);
}

int store_del_obj(struct store_batch *b, uint64_t oid)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    note_changed(b, oid);
    return write_version(b, b->s->obj, kbuf, obj_key(kbuf, oid, 0), NULL, 0, NULL, 0, true);
}

int store_put_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                  size_t klen, const void *val, size_t vlen)
{
    unsigned char kbuf[MAP_KEY_MAX], hdr = 0;
    note_changed(b, owner);
    return write_version(b, b->s->map, kbuf, map_key(kbuf, owner, map, key, klen, 0), &hdr, 1,
                         val, vlen, false);
}

int store_del_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                  size_t klen)
{
    unsigned char kbuf[MAP_KEY_MAX];
    note_changed(b, owner);
    return write_version(b, b->s->map, kbuf, map_key(kbuf, owner, map, key, klen, 0), NULL, 0,
                         NULL, 0, true);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tell the other processes which OIDs changed, then commit. The batch is
 * always finished (committed or aborted) on return. A batch that changed
 * nothing (its deletes found nothing to delete) is aborted: LMDB would not
 * give its commit a transaction id, so its generation must not be told to
 * anyone, nor taken as ours. */
int store_batch_commit(struct store_batch *b)
{
    struct store *s = b->s;
    if (!b->wrote) {
        store_batch_abort(b);
        return 0;
    }
    if (b->nchanged > 16) {
        qsort(b->changed, b->nchanged, sizeof *b->changed, cmp_u64);
    } else { /* most batches change a few OIDs: no call per comparison */
        for (size_t i = 1; i < b->nchanged; i++) {
            uint64_t x = b->changed[i];
            size_t j = i;
            for (; j > 0 && b->changed[j - 1] > x; j--)
                b->changed[j] = b->changed[j - 1];
            b->changed[j] = x;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < b->nchanged; i++)
        if (!n || b->changed[n - 1] != b->changed[i])
            b->changed[n++] = b->changed[i];
    /* Before the commit, while we hold LMDB's writer lock: a process that
     * sees the new generation must find its entries. */
    s->batch_seq_from = changes_head(&s->changes);
    s->batch_seq_to = s->changes.hdr
                          ? changes_append(&s->changes, b->gen, s->writer_id, b->changed, n)
                          : s->batch_seq_from;
    close_cursors(b);
    give_back_changed(b);
    int rc = mdb_txn_commit(b->txn);
    if (rc == 0) {
        s->last_batch_txnid = b->gen;
        s->last_batch_snapmax = b->snapmax;
    }
    b->txn = NULL;
    end_locked(s);
    return mdb_err(s, rc, "committing");
}

/* mdb_env_info reads the meta pages through the map, which a resize in
 * another thread may be unmapping: hold resize_lock shared around it. */
static void env_info(struct store *s, MDB_envinfo *info)
{
    pthread_rwlock_rdlock(&s->resize_lock);
    mdb_env_info(s->env, info);
    pthread_rwlock_unlock(&s->resize_lock);
}

int store_grow(struct store *s)
{
    if (held)
        return ghost_set_error(-GHOST_ECONFLICT,
                               "store %s: map full; it grows once open views end", s->path);
    pthread_rwlock_wrlock(&s->resize_lock);
    size_t want = s->map_size < ((size_t)1 << 33) ? s->map_size * 2
                                                  : s->map_size + ((size_t)1 << 33);
    int rc = mdb_env_set_mapsize(s->env, want);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
        atomic_fetch_add(&s->grows, 1);
        ghost_log(GHOST_LOG_INFO, "store %s: map grown to %zu MiB", s->path,
                  s->map_size >> 20);
    }
    pthread_rwlock_unlock(&s->resize_lock);
    return rc ? mdb_err(s, rc, "growing the map") : 0;
}

int store_sync(struct store *s, bool force)
{
    pthread_rwlock_rdlock(&s->resize_lock);
    int rc = mdb_env_sync(s->env, force);
    pthread_rwlock_unlock(&s->resize_lock);
    return rc ? mdb_err(s, rc, "syncing") : 0;
}

/* Pages LMDB has free inside the file (may be reused without growing it). */
static uint64_t free_pages(struct store *s)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    if (begin(s, MDB_RDONLY, &txn))
        return 0;
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            if (v.mv_size >= sizeof(size_t))
                n += *(size_t *)v.mv_data;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    store_view_end(s, txn);
    return n;
}

/* A coarse clock (a few ms), which costs a fraction of the precise one. */
static int64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define ROOMY_NS 50000000 /* 50 ms */
#define USED_NS 2000000   /* 2 ms */

int store_space_check(struct store *s, size_t bytes, bool frees)
{
    /* The common case, a disk with plenty of room seen moments ago: the
     * file's length as measured within the last USED_NS will do (it grows
     * by far less than the room in that time). */
    int64_t now = coarse_ns();
    if (!s->low_space && now < s->roomy_ns && now < s->used_ns + USED_NS &&
        s->used + 2 * (uint64_t)bytes < s->roomy_used)
        return 0;
    MDB_envinfo info;
    env_info(s, &info);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
    s->used = used;
    s->used_ns = now;
    uint64_t need = used + 2 * (uint64_t)bytes + 64 * (uint64_t)s->psize + s->reserve;
    if (s->alloc_end >= need)
        return 0;
    /* With plenty of room on the disk there is nothing to reserve yet (and
     * on tmpfs allocating ahead means zeroing every page before LMDB writes
     * it). The reserve is taken while the disk has room, before it fills. */
    struct statvfs vfs;
    uint64_t plenty = 64 * (uint64_t)s->reserve > ((uint64_t)256 << 20)
                          ? 64 * (uint64_t)s->reserve
                          : ((uint64_t)256 << 20);
    /* The disk's free space is asked at most every ROOMY_NS, and again
     * sooner once the file has grown by half of the room seen then: a
     * statfs per batch was a sixth of a small transaction's cost. */
    if (!s->low_space && used + 2 * (uint64_t)bytes < s->roomy_used && now < s->roomy_ns)
        return 0;
    if (!s->low_space && fstatvfs(s->fd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize > plenty + 2 * (uint64_t)bytes) {
        uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize - plenty;
        s->roomy_used = used + room / 2;
        s->roomy_ns = now + ROOMY_NS;
        return 0;
    }
    s->roomy_ns = 0;
    /* Allocate ahead in steps of an eighth of the file, at least the reserve,
     * and only the part past what we already allocated. */
    uint64_t step = used / 8 > s->reserve ? used / 8 : s->reserve;
    uint64_t to = need + step;
    uint64_t from = s->alloc_end < used ? s->alloc_end : used;
    if (fallocate(s->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) == 0) {
        s->alloc_end = to;
        if (s->low_space)
            ghost_log(GHOST_LOG_INFO, "store %s: disk space available again", s->path);
        s->low_space = false;
        return 0;
    }
    if (errno != ENOSPC) /* a filesystem without fallocate: let LMDB find out */
        return 0;
    if (!s->low_space)
        ghost_log(GHOST_LOG_WARN, "store %s: disk nearly full; only deletes are accepted",
                  s->path);
    s->low_space = true;
    if (frees)
        return 0;
    if (free_pages(s) * s->psize >= 2 * (uint64_t)bytes + 64 * (uint64_t)s->psize)
        return 0;
    return ghost_set_error(-ENOSPC, "store %s: disk full", s->path);
}

/* ---- OIDs, the change log, snapshots ---------------------------------------------- */

int store_oid_block(struct store *s, uint64_t n, uint64_t *first)
{
    MDB_txn *txn;
    uint64_t next = 0;
    if (s->readonly)
        return ghost_set_error(-EROFS, "store %s: opened read-only", s->path);
    int r = begin(s, 0, &txn);
    if (r)
        return r;
    r = get_meta64(s, txn, "next_oid", &next);
    r = r ? r : put_meta64(s, txn, "next_oid", next + n);
    if (r) {
        mdb_txn_abort(txn);
    } else {
        r = mdb_err(s, mdb_txn_commit(txn), "allocating OIDs");
    }
    end_locked(s);
    if (r == -GHOST_EMAPFULL) {
        r = store_grow(s);
        return r ? r : store_oid_block(s, n, first);
    }
    *first = next;
    return r;
}

uint64_t store_last_txnid(struct store *s)
{
    MDB_envinfo info;
    env_info(s, &info);
    return info.me_last_txnid;
}

static int snap_name_ok(struct store *s, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > GHOST_SNAP_NAME_MAX || strchr(name, '/'))
        return ghost_set_error(-EINVAL, "snapshot name '%s' is %s", name ? name : "",
                               n == 0 ? "empty" : n > GHOST_SNAP_NAME_MAX ? "too long"
                                                                         : "not a plain name");
    (void)s;
    return 0;
}

static uint64_t newest_snapshot(struct store *s, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t max = 0;
    if (mdb_cursor_open(txn, s->snap, &cur))
        return 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (v.mv_size >= CKSUM_LEN + 8) {
            uint64_t g = get_be64((unsigned char *)v.mv_data + CKSUM_LEN);
            max = g > max ? g : max;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return max;
}

/* Run one small write transaction, growing the map if it fills up. */
static int small_write(struct store *s, int (*fn)(struct store *s, MDB_txn *txn, void *arg),
                       void *arg)
{
    if (s->readonly)
        return ghost_set_error(-EROFS, "store %s: opened read-only", s->path);
    for (;;) {
        MDB_txn *txn;
        int r = begin(s, 0, &txn);
        if (r)
            return r;
        r = fn(s, txn, arg);
        if (r)
            mdb_txn_abort(txn);
        else
            r = mdb_err(s, mdb_txn_commit(txn), "committing");
        end_locked(s);
        if (r != -GHOST_EMAPFULL)
            return r;
        r = store_grow(s);
        if (r)
            return r;
    }
}

static int snap_create_fn(struct store *s, MDB_txn *txn, void *arg)
{
    const char *name = arg;
    MDB_val k = {strlen(name), (void *)name}, v;
    unsigned char body[16];
    uint64_t gen;
    struct timespec now;
    if (mdb_get(txn, s->snap, &k, &v) == 0)
        return ghost_set_error(-EEXIST, "snapshot '%s' exists", name);
    int r;
    gen = current_gen(txn); /* no version has it: this transaction writes none */
    clock_gettime(CLOCK_REALTIME, &now);
    put_be64(body, gen);
    put_be64(body + 8, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    r = put_value(s, txn, s->snap, name, strlen(name), NULL, 0, body, 16);
    return r ? r : put_meta64(s, txn, "snapmax", gen);
}

int store_snap_create(struct store *s, const char *name)
{
    int r = snap_name_ok(s, name);
    return r ? r : small_write(s, snap_create_fn, (void *)name);
}

static int snap_delete_fn(struct store *s, MDB_txn *txn, void *arg)
{
    const char *name = arg;
    MDB_val k = {strlen(name), (void *)name};
    int rc = mdb_del(txn, s->snap, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", name);
    if (rc)
        return mdb_err(s, rc, "deleting a snapshot");
    return put_meta64(s, txn, "snapmax", newest_snapshot(s, txn));
}

int store_snap_delete(struct store *s, const char *name)
{
    int r = snap_name_ok(s, name);
    return r ? r : small_write(s, snap_delete_fn, (void *)name);
}

int store_snap_find(struct store *s, MDB_txn *txn, const char *name, uint64_t *gen)
{
    int r = snap_name_ok(s, name);
    if (r)
        return r;
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, s->snap, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", name);
    if (rc)
        return mdb_err(s, rc, "reading a snapshot");
    if (!cksum_ok(&k, &v) || v.mv_size != CKSUM_LEN + 16)
        return corrupt(s, s->snap, &k, "snapshot record fails its checksum");
    *gen = get_be64((unsigned char *)v.mv_data + CKSUM_LEN);
    return 0;
}

int store_snap_list(struct store *s, struct ghost_snapshot *list, int max)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int n = 0;
    int r = begin(s, MDB_RDONLY, &txn);
    if (r)
        return r;
    r = mdb_err(s, mdb_cursor_open(txn, s->snap, &cur), "listing snapshots");
    if (r) {
        store_view_end(s, txn);
        return r;
    }
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (!cksum_ok(&k, &v) || v.mv_size != CKSUM_LEN + 16) {
            r = corrupt(s, s->snap, &k, "snapshot record fails its checksum");
            break;
        }
        if (n < max) {
            size_t len = k.mv_size > GHOST_SNAP_NAME_MAX ? GHOST_SNAP_NAME_MAX : k.mv_size;
            memcpy(list[n].name, k.mv_data, len);
            list[n].name[len] = 0;
            list[n].generation = get_be64((unsigned char *)v.mv_data + CKSUM_LEN);
            list[n].created_ns = get_be64((unsigned char *)v.mv_data + CKSUM_LEN + 8);
        }
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    store_view_end(s, txn);
    return r ? r : n;
}

/* ---- pruning versions no snapshot needs ---------------------------------------- */

struct prune {
    uint64_t *snaps; /* snapshot generations, ascending */
    size_t nsnaps;
    uint64_t *cursor;
    unsigned max_keys;
    int64_t dropped;
};

/* Is there a snapshot Gs with lo <= Gs < hi? */
static bool snapshot_between(const struct prune *p, uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < p->nsnaps; i++)
        if (p->snaps[i] >= lo && p->snaps[i] < hi)
            return true;
    return false;
}

static bool is_tombstone(const MDB_val *v)
{
    return v->mv_size > VER_HDR && (((unsigned char *)v->mv_data)[VER_HDR] & FLAG_TOMBSTONE);
}

/* Walk one database from the owner OID in *owner, one key (all its
 * versions, newest first) at a time. Returns 1 when the database is done, 0
 * when max_keys ran out (*owner set to the owner to resume at), or an error.
 * Note: after mdb_cursor_del() the cursor rests on the following record and
 * MDB_NEXT returns that record, so a delete is followed by MDB_NEXT. */
static int prune_db(struct store *s, MDB_txn *txn, MDB_dbi dbi, struct prune *p,
                    uint64_t *owner)
{
    MDB_cursor *cur;
    MDB_val k, v;
    unsigned char prefix[MAP_KEY_MAX], seek[MAP_KEY_MAX];
    unsigned keys = 0;
    int r = mdb_err(s, mdb_cursor_open(txn, dbi, &cur), "pruning");
    if (r)
        return r;
    uint64_t bit = dbi == s->obj ? OBJ_KEY_BIT : 0;
    memset(seek, 0, 17);
    put_be64(seek, *owner | bit);
    k.mv_size = dbi == s->obj ? 16 : 17;
    k.mv_data = seek;
    /* (In obj the records of the named tables sort before every object.) */
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size > MAP_KEY_MAX || k.mv_size < (dbi == s->obj ? 16u : 17u)) {
            rc = MDB_CORRUPTED; /* not a key of ours: refuse to guess */
            break;
        }
        size_t plen = k.mv_size - 8;
        uint64_t o = get_be64(k.mv_data) & ~bit;
        if (o != *owner && keys >= p->max_keys) {
            *owner = o;
            mdb_cursor_close(cur);
            return 0;
        }
        *owner = o;
        keys++;
        memcpy(prefix, k.mv_data, plen);
        /* The newest record: the head (its generation in its value) or a
         * tombstone; the older versions follow, newest first. */
        uint64_t head = key_gen(&k);
        uint64_t newer = v.mv_size >= VER_HDR ? rec_gen(&v) : head;
        bool head_tomb = is_tombstone(&v), kept_older = false;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        while (rc == 0 && k.mv_size == plen + 8 && !memcmp(k.mv_data, prefix, plen)) {
            uint64_t gen = key_gen(&k);
            if (snapshot_between(p, gen, newer)) {
                kept_older = true;
                newer = gen;
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                continue;
            }
            rc = mdb_cursor_del(cur, 0);
            if (rc)
                goto out;
            p->dropped++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc && rc != MDB_NOTFOUND)
            goto out;
        if (head_tomb && !kept_older) {
            /* A tombstone that hides nothing: every view sees "absent". */
            memcpy(seek, prefix, plen);
            put_be64(seek + plen, ~head);
            k.mv_size = plen + 8;
            k.mv_data = seek;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
            rc = rc ? rc : mdb_cursor_del(cur, 0);
            if (rc)
                goto out;
            p->dropped++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
out:
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return mdb_err(s, rc, "pruning");
    return 1;
}

static int snapshot_gens(struct store *s, MDB_txn *txn, struct prune *p)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t cap = 0;
    int r = mdb_err(s, mdb_cursor_open(txn, s->snap, &cur), "reading snapshots");
    if (r)
        return r;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (v.mv_size == CKSUM_LEN + 16) {
            if (p->nsnaps == cap) {
                cap = cap ? cap * 2 : 16;
                p->snaps = realloc(p->snaps, cap * sizeof *p->snaps);
                if (!p->snaps)
                    abort();
            }
            p->snaps[p->nsnaps++] = get_be64((unsigned char *)v.mv_data + CKSUM_LEN);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return 0;
}

#define PRUNE_MAPS (UINT64_C(1) << 63)

static int prune_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct prune *p = arg;
    p->nsnaps = 0; /* small_write() may run us again after growing the map */
    int r = snapshot_gens(s, txn, p);
    if (r)
        return r;
    p->dropped = 0;
    uint64_t c = *p->cursor;
    bool maps = c & PRUNE_MAPS;
    uint64_t owner = c & ~PRUNE_MAPS;
    r = prune_db(s, txn, maps ? s->map : s->obj, p, &owner);
    if (r < 0)
        return r;
    if (r == 0)
        *p->cursor = owner | (maps ? PRUNE_MAPS : 0);
    else
        *p->cursor = maps ? 0 : PRUNE_MAPS;
    return 0;
}

int64_t store_prune(struct store *s, uint64_t *cursor, unsigned max_keys)
{
    struct prune p = {.cursor = cursor, .max_keys = max_keys ? max_keys : 1000};
    uint64_t saved = *cursor;
    int r = small_write(s, prune_fn, &p);
    free(p.snaps);
    if (r)
        *cursor = saved;
    return r ? r : p.dropped;
}

void store_usage(struct store *s, uint64_t *map_bytes, uint64_t *file_bytes)
{
    MDB_envinfo info;
    env_info(s, &info);
    *map_bytes = info.me_mapsize;
    *file_bytes = ((uint64_t)info.me_last_pgno + 1) * s->psize;
}

int store_space(struct store *s, struct ghost_usage *u)
{
    struct statvfs vfs;
    MDB_stat st;
    MDB_txn *txn;
    uint64_t map;
    memset(u, 0, sizeof *u);
    int r = begin(s, MDB_RDONLY, &txn);
    if (r)
        return r;
    r = mdb_err(s, mdb_stat(txn, s->obj, &st), "reading table statistics");
    store_view_end(s, txn);
    if (r)
        return r;
    u->objects = st.ms_entries > NAMED_TABLES ? st.ms_entries - NAMED_TABLES : 0;
    store_usage(s, &map, &u->used_bytes);
    uint64_t reusable = free_pages(s) * s->psize; /* inside the file, free */
    u->used_bytes = u->used_bytes > reusable ? u->used_bytes - reusable : 0;
    u->free_bytes = reusable;
    if (fstatvfs(s->fd, &vfs) == 0)
        u->free_bytes += (uint64_t)vfs.f_bavail * vfs.f_frsize;
    u->total_bytes = u->used_bytes + u->free_bytes;
    return 0;
}
