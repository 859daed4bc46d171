/*
 * lmdb_meta.c - LMDB's two meta pages, read raw, and the check that the
 * store did not fall back to an older generation.
 *
 * LMDB keeps two meta pages, pages 0 and 1, each naming a root and the id
 * of the transaction that wrote it; it opens the store at the one with the
 * larger id. A commit with id T writes page T & 1, so after any commit the
 * two hold T - 1 and T, each in the page of its parity. A new file holds
 * 0 in both; after the first commit, 0 and 1 (a copy compacted by mdb_copy
 * -c starts that way too; a plain copy keeps the pages as they are). LMDB
 * checksums nothing: one damaged byte of a meta page's id makes LMDB open
 * the store one transaction back, silently, or at a made-up generation.
 *
 * Two checks at open catch that:
 *   - the pages agree: both ids in the pages of their parity and
 *     consecutive (or both 0);
 *   - the store's generation lies within the marks the change log keeps
 *     outside the B-tree (lmdb_changes.c): at least the last generation
 *     committed, at most the last one a commit was begun at.
 * The first needs nothing but the file, the second catches what leaves the
 * pages agreeing (the newest id damaged to two below itself, the older one
 * to one above the newest). A finding refuses a writable open with
 * -GHOST_ECORRUPT, since the next commit would overwrite the page that
 * still knows the newer state; a read-only open goes on, with a warning, so
 * that the files can be copied out. engine_opts.accept_rollback takes the
 * store as LMDB opens it: the log's marks are set to its generation and
 * two commits that change nothing rewrite both meta pages.
 *
 * A compacted copy (lmdb_copy.c) is the one file whose meta pages are
 * written here: LMDB starts its ids at 1, below the generations its
 * records carry, and lmdb_meta_set_generation puts them back.
 *
 * The layout is LMDB's (mdb.c, format 1, 64-bit): a page header of 16
 * bytes (pgno:8, pad:2, flags:2, lower:2, upper:2), then MDB_meta: magic:4,
 * version:4, address:8, mapsize:8, two MDB_db of 48 bytes (the free-page
 * one's first field is the page size), last_pg:8, txnid:8.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define LMDB_P_META 0x08
#define PAGE_FLAGS 10 /* in the page header */
#define PAGEHDR 16
#define M_MAGIC (PAGEHDR + 0)
#define M_VERSION (PAGEHDR + 4)
#define M_PSIZE (PAGEHDR + 24)
#define M_LAST_PG (PAGEHDR + 24 + 2 * 48)
#define M_TXNID (M_LAST_PG + 8)
#define META_BYTES (M_TXNID + 8)

struct meta {
    bool valid; /* a meta page: its flag, magic and version */
    uint32_t magic, version, psize;
    uint64_t last_pg, txnid;
};

static void parse_meta(const unsigned char *p, struct meta *m)
{
    uint16_t flags;
    memcpy(&flags, p + PAGE_FLAGS, 2);
    memcpy(&m->magic, p + M_MAGIC, 4);
    memcpy(&m->version, p + M_VERSION, 4);
    memcpy(&m->psize, p + M_PSIZE, 4);
    memcpy(&m->last_pg, p + M_LAST_PG, 8);
    memcpy(&m->txnid, p + M_TXNID, 8);
    m->valid = (flags & LMDB_P_META) && m->magic == LMDB_MAGIC && m->version == LMDB_DATA_VERSION;
}

static bool psize_ok(uint32_t psize)
{
    return psize >= 512 && psize <= 65536 && !(psize & (psize - 1));
}

static bool read_meta(int fd, off_t at, struct meta *m)
{
    unsigned char buf[META_BYTES];
    if (pread(fd, buf, sizeof buf, at) != (ssize_t)sizeof buf)
        return false;
    parse_meta(buf, m);
    return true;
}

/* Page 0 is not a meta page: is the file an LMDB file whose page 0 was
 * damaged (page 1 is one, at some page size), or not an LMDB file at all? */
static int page0_bad(int fd, const char *path)
{
    for (uint32_t psize = 512; psize <= 65536; psize *= 2) {
        struct meta m1;
        if (read_meta(fd, psize, &m1) && m1.valid && m1.psize == psize)
            return ghost_set_error(-GHOST_ECORRUPT,
                                   "%s: damaged: LMDB's meta page 0 is not a meta page (page 1 "
                                   "is, of transaction %llu); LMDB cannot open the store",
                                   path, (unsigned long long)m1.txnid);
    }
    return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not an LMDB file)", path);
}

/* Both meta pages, and the file holding every page the newer refers to. */
static int check_pages(int fd, const char *path, off_t size, uint64_t *used)
{
    struct meta m[2];
    if (!read_meta(fd, 0, &m[0]))
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: not a ghostfs store (file too short to be an LMDB file)", path);
    if (m[0].magic == LMDB_MAGIC && m[0].version != LMDB_DATA_VERSION)
        return ghost_set_error(-GHOST_EFORMAT, "%s: unsupported LMDB data format %u", path,
                               m[0].version);
    if (!m[0].valid || !psize_ok(m[0].psize))
        return page0_bad(fd, path);
    uint32_t psize = m[0].psize;
    uint64_t need = (m[0].last_pg + 1) * psize;
    if (read_meta(fd, psize, &m[1])) {
        if (!m[1].valid)
            return ghost_set_error(-GHOST_ECORRUPT,
                                   "%s: damaged: LMDB's meta page 1 is not a meta page (page 0 "
                                   "is, of transaction %llu); LMDB cannot open the store",
                                   path, (unsigned long long)m[0].txnid);
        if (m[1].txnid > m[0].txnid)
            need = (m[1].last_pg + 1) * psize;
    }
    *used = need;
    if ((uint64_t)size < need || (uint64_t)size < 2 * (uint64_t)psize)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: truncated store: the file is %lld bytes, its pages need "
                               "%llu",
                               path, (long long)size, (unsigned long long)need);
    return 0;
}

int lmdb_check_header(const char *path, uint64_t *used)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    int r = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        r = ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not a regular file)", path);
    r = r ? r : check_pages(fd, path, st.st_size, used);
    close(fd);
    return r;
}

/* ---- the generation check ---- */

/* The two pages' transaction ids, as one moment saw them: read twice until
 * the reads agree. (A commit between the reads of the two pages is
 * harmless, two would pair a page from before them with one from after;
 * they would also change what the second read finds.) False if commits
 * kept coming, or the file cannot be read. */
static bool read_ids(struct engine *e, uint64_t id[2])
{
    for (int tries = 0; tries < 100; tries++) {
        struct meta m[4];
        for (int i = 0; i < 4; i++)
            if (!read_meta(e->fd, (off_t)(i & 1) * e->psize, &m[i]))
                return false;
        if (m[0].txnid == m[2].txnid && m[1].txnid == m[3].txnid) {
            id[0] = m[0].txnid;
            id[1] = m[1].txnid;
            return true;
        }
    }
    return false;
}

/* Do the meta pages agree: each id in the page of its parity, the two
 * consecutive, or both 0 (a file no commit has touched)? */
static bool ids_agree(const uint64_t id[2])
{
    if (id[0] == 0 && id[1] == 0)
        return true;
    uint64_t lo = id[0] < id[1] ? id[0] : id[1], hi = id[0] ^ id[1] ^ lo;
    return (id[0] & 1) == 0 && (id[1] & 1) == 1 && hi - lo == 1;
}

struct finding {
    char what[300];
    size_t len;
};

static void say(struct finding *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct finding *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (f->len < sizeof f->what) {
        int n = vsnprintf(f->what + f->len, sizeof f->what - f->len, fmt, ap);
        f->len += n > 0 ? (size_t)n : 0;
    }
    va_end(ap);
}

/* Compare gen, the store's generation, with the change log's marks. */
static void check_marks(const struct changes_marks *m, uint64_t gen, struct finding *f)
{
    typedef unsigned long long ull;
    bool whole = m->same_epoch || m->clean;
    if (whole && gen < m->committed)
        say(f, "it opens at generation %llu, but %llu was committed (says STORE-changes)", (ull)gen,
            (ull)m->committed);
    else if (!whole && gen < m->durable)
        say(f, "it opens at generation %llu, but %llu was synced to disk (says STORE-changes)",
            (ull)gen, (ull)m->durable);
    else if (whole && gen > m->intent)
        say(f,
            "it opens at generation %llu, but no commit was begun past %llu (says "
            "STORE-changes; did another program write it?)",
            (ull)gen, (ull)m->intent);
}

/* Compare the meta pages' ids with what commits leave (ids_agree). whole:
 * the change log vouches that no commit was lost to a crash. */
static void check_ids(const uint64_t id[2], bool whole, struct finding *f)
{
    typedef unsigned long long ull;
    bool parity = (id[0] & 1) == 0 && ((id[1] & 1) == 1 || id[1] == 0);
    say(f, "%sLMDB's meta pages hold transactions %llu (page 0) and %llu (page 1)",
        f->len ? "; " : "", (ull)id[0], (ull)id[1]);
    if (!ids_agree(id))
        say(f, "%s",
            !parity ? ", one in the wrong page"
            : whole ? ", not consecutive ones"
                    : ", not consecutive ones (or the system went down with sync=none)");
}

/* Take the store as LMDB opens it: the log's marks come down to its
 * generation, and two commits that change nothing (a record put and
 * deleted again) rewrite both meta pages, the damaged one first or second. */
static int accept_state(struct engine *e)
{
    static const unsigned char key[16]; /* no object's key: theirs have the top bit set */
    for (int i = 0; i < 2; i++) {
        MDB_txn *txn;
        MDB_val k = {sizeof key, (void *)key}, v = {0, (void *)key};
        int r = lmdb_begin(e, 0, &txn);
        if (r)
            return r;
        if (i == 0)
            changes_set_marks(&e->changes, mdb_txn_id(txn) - 1, false);
        int rc = mdb_put(txn, e->dbi[ENGINE_OBJ], &k, &v, 0);
        rc = rc ? rc : mdb_del(txn, e->dbi[ENGINE_OBJ], &k, NULL);
        if (rc) {
            engine_abort(e, (struct engine_txn *)txn);
            return lmdb_err(e, rc, "rewriting the meta pages");
        }
        r = engine_commit(e, (struct engine_txn *)txn, NULL, 0, NULL, NULL);
        if (r)
            return r;
    }
    return 0;
}

/* Log a warning about the store at path unless this process logged the
 * same one last: `ghostfs mount` opens the store to check it, then its
 * daemon (forked, with this memory) opens it again. */
static void warn_once(const char *path, const char *what, const char *then)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t last;
    uint64_t h = XXH3_64bits_withSeed(what, strlen(what), XXH3_64bits(path, strlen(path))) ^
                 XXH3_64bits(then, strlen(then));
    pthread_mutex_lock(&lock);
    bool again = h == last;
    last = h;
    pthread_mutex_unlock(&lock);
    if (!again)
        ghost_log(GHOST_LOG_WARN, "%s: damaged or rolled back: %s; %s", path, what, then);
}

int lmdb_check_generation(struct engine *e, const struct engine_opts *o)
{
    typedef unsigned long long ull;
    struct finding f = {.len = 0};
    struct changes_marks m;
    uint64_t id[2];
    /* The marks below the store's generation are read before it, the one
     * above after it: a commit meanwhile keeps it between them. */
    bool logged = changes_marks(&e->changes, &m);
    uint64_t gen = engine_last_gen(e);
    if (logged) {
        m.intent = changes_intent(&e->changes);
        check_marks(&m, gen, &f);
    }
    if (read_ids(e, id) && (f.len || !ids_agree(id)))
        check_ids(id, logged && (m.same_epoch || m.clean), &f);
    if (!f.len)
        return 0;
    if (o->readonly) {
        warn_once(e->path, f.what, "opened read-only, as it is");
        return 0;
    }
    if (o->accept_rollback) {
        warn_once(e->path, f.what, "accepted (accept_rollback): going on from there");
        return accept_state(e);
    }
    return ghost_set_error(-GHOST_ECORRUPT,
                           "%s: damaged or rolled back: %s. Mount it read-only (-o ro) to copy "
                           "files out, or once with -o accept_rollback to go on from "
                           "generation %llu",
                           e->path, f.what, (ull)gen);
}

/* ---- a compacted copy's generation ---- */

int lmdb_meta_set_generation(int fd, const char *path, uint64_t gen)
{
    struct meta m[2];
    unsigned char page[2][META_BYTES];
    if (gen < 2)
        return 0; /* the copy's 0 and 1 are right already */
    if (pread(fd, page[0], META_BYTES, 0) != META_BYTES)
        return ghost_set_error(-EIO, "%s: cannot read the copy's meta page", path);
    parse_meta(page[0], &m[0]);
    if (!m[0].valid || !psize_ok(m[0].psize) ||
        pread(fd, page[1], META_BYTES, m[0].psize) != META_BYTES)
        return ghost_set_error(-EIO, "%s: the copy's meta pages cannot be read", path);
    parse_meta(page[1], &m[1]);
    if (!m[1].valid)
        return ghost_set_error(-EIO, "%s: the copy's meta page 1 is not one", path);
    /* The newer page names the copied tree; both pages get its fields,
     * each with the id of its parity: gen - 1 and gen, consecutive. */
    int newer = m[1].txnid > m[0].txnid;
    for (int i = 0; i < 2; i++) {
        unsigned char out[META_BYTES];
        memcpy(out, page[i], PAGEHDR); /* the page's own header (its number) */
        memcpy(out + PAGEHDR, page[newer] + PAGEHDR, META_BYTES - PAGEHDR);
        uint64_t id = (gen & 1) == (uint64_t)i ? gen : gen - 1;
        memcpy(out + M_TXNID, &id, 8);
        if (pwrite(fd, out, META_BYTES, (off_t)i * m[0].psize) != META_BYTES)
            return ghost_set_error(-errno, "%s: writing the copy's meta page: %s", path,
                                   strerror(errno));
    }
    return fsync(fd) ? ghost_set_error(-errno, "%s: %s", path, strerror(errno)) : 0;
}
