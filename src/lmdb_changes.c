/*
 * lmdb_changes.c - the change log: which OIDs each generation changed, shared by
 * every process that has the store open.
 *
 * It lives in a file beside the store (STORE-changes), mapped shared, like
 * LMDB's own lock file: a header and a ring of entries (generation, OID,
 * writer). It is not part of the store and needs no durability, because
 * what it serves - the caches of the processes that have the store open -
 * dies with them: a process that opens the store starts with an empty cache
 * and reads only what is appended after it opened. So the commit path pays
 * for a few stores into shared memory instead of a B-tree record and its
 * pruning.
 *
 * Writers append only while they hold LMDB's writer lock (inside a batch,
 * before it commits), so appends never race each other. A writer first
 * raises `claimed` past the entries it is about to write, writes them, then
 * raises `head`. A reader takes `head`, copies entries up to it, then reads
 * `claimed`: if a writer may have begun to overwrite the oldest entry it
 * copied, the reader has fallen behind and must drop its whole cache. An
 * entry is used only once LMDB's last committed transaction id has reached
 * its generation; entries of a batch that was aborted carry a generation
 * that the next batch reuses, so at worst they cost a needless invalidation.
 * Each entry names the connection that wrote it, so a reader skips its own
 * commits (its cache has them) and never mistakes another's for its own.
 *
 * A process killed between `claimed` and `head` leaves `claimed` ahead; the
 * next writer starts at `head` and leaves `claimed` where it is, which only
 * makes readers more careful.
 *
 * The header also keeps the marks the store's generation must stay within
 * (lmdb_meta.c checks them at open), because the log lives outside the
 * B-tree and so cannot fall back with a damaged meta page:
 *   intent     the highest generation a commit was begun at: raised under
 *              LMDB's writer lock before the commit, so never below it
 *   committed  the highest generation known committed: raised after the
 *              commit, so never above the store's
 *   durable    the highest generation known on disk (a synced commit, a
 *              sync, a close), which a power loss cannot undo
 *   epoch      the boot and the mount of the filesystem that held the
 *              store when they were last raised: the page cache that holds
 *              whatever was committed and not yet synced
 *   clean      the last writer closed after a sync with all three at the
 *              store's generation, and the header was synced; the first
 *              commit after clears it (synced) before it commits
 * Within one epoch the store is at least `committed` and at most `intent`.
 * In another (after a reboot) unsynced commits may be gone, and the log's
 * own page may be older than its last writes: then `durable` is the floor,
 * or, if the header is clean, both marks still hold (nothing was committed
 * after they were synced). Raising the marks costs a few stores per commit,
 * and one msync for the first commit after a close.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CHANGES_MAGIC 0x67686f73746c6f67ull /* "ghostlog" */
#define CHANGES_VERSION 2                   /* 2: the generation marks */
#define CHANGES_HDR 4096

struct changes_hdr {
    uint64_t magic, version;
    unsigned char uuid[16];
    uint64_t entries; /* capacity, a power of two */
    _Alignas(64) _Atomic uint64_t claimed;
    _Alignas(64) _Atomic uint64_t head;
    /* The marks, in one 64-byte line (one disk sector). */
    _Alignas(64) _Atomic uint64_t committed;
    _Atomic uint64_t durable, intent, epoch, clean;
};

struct changes_entry {
    _Atomic uint64_t gen, oid, writer;
};

_Static_assert(sizeof(struct changes_hdr) <= CHANGES_HDR, "header fits its page");
_Static_assert(offsetof(struct changes_hdr, committed) == 192, "docs/format.md's layout");
_Static_assert(offsetof(struct changes_hdr, clean) == 224, "docs/format.md's layout");

/* The page cache the store's unsynced writes live in: this boot's id and
 * the mount of the filesystem that holds the store (a filesystem mounted
 * anew, say after its disk went away, starts with an empty one). Hashed
 * into one word, so that it is read and written whole; 0 if unknown
 * (no /proc), which never matches. */
static uint64_t epoch_of(const char *store_path)
{
    char boot[64] = "";
    struct statx stx;
    uint64_t mnt = 0;
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, boot, sizeof boot - 1);
    close(fd);
    if (n <= 0)
        return 0;
    if (statx(AT_FDCWD, store_path, 0, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID))
        mnt = stx.stx_mnt_id;
    uint64_t h = XXH3_64bits_withSeed(boot, (size_t)n, mnt);
    return h ? h : 1;
}

static size_t file_size(uint64_t entries)
{
    return CHANGES_HDR + (size_t)entries * sizeof(struct changes_entry);
}

static bool header_ok(const struct changes_hdr *h, const unsigned char uuid[16], off_t size)
{
    return h->magic == CHANGES_MAGIC && h->version == CHANGES_VERSION &&
           !memcmp(h->uuid, uuid, 16) && h->entries >= 16 && !(h->entries & (h->entries - 1)) &&
           h->entries <= (UINT64_C(1) << 32) && (uint64_t)size >= file_size(h->entries);
}

int changes_open(struct changes *c, const char *store_path, const unsigned char uuid[16],
                 bool writable, uint64_t entries, uint64_t gen)
{
    char path[4200];
    struct stat st;
    struct changes_hdr h;
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "%s-changes", store_path);
    int fd = open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: cannot open the change log: %s", path, strerror(errno));
    /* Set up under an exclusive lock, so that two processes opening at once
     * agree on one header; a valid header is never rewritten. */
    if (flock(fd, writable ? LOCK_EX : LOCK_SH) < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ghost_set_error(-e, "%s: %s", path, strerror(e));
    }
    ssize_t n = pread(fd, &h, sizeof h, 0);
    bool made = false;
    if (n != (ssize_t)sizeof h || !header_ok(&h, uuid, st.st_size)) {
        if (!writable) {
            close(fd);
            return ghost_set_error(-ENOENT, "%s: no change log for this store yet", path);
        }
        memset(&h, 0, sizeof h);
        h.magic = CHANGES_MAGIC;
        h.version = CHANGES_VERSION;
        memcpy(h.uuid, uuid, 16);
        h.entries = entries;
        /* A new log knows nothing the store does not: its marks start at
         * the store's generation. */
        atomic_init(&h.committed, gen);
        atomic_init(&h.durable, gen);
        atomic_init(&h.intent, gen);
        atomic_init(&h.epoch, epoch_of(store_path));
        /* Allocate every page: a write through the map into a hole on a full
         * disk would kill us with SIGBUS. */
        int e = ftruncate(fd, 0) < 0 ? errno : posix_fallocate(fd, 0, (off_t)file_size(entries));
        if (!e && pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            e = errno ? errno : EIO;
        if (e) {
            close(fd);
            return ghost_set_error(-e, "%s: cannot set up the change log: %s", path, strerror(e));
        }
        made = true;
    }
    size_t size = file_size(h.entries);
    void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    flock(fd, LOCK_UN);
    close(fd);
    if (p == MAP_FAILED)
        return ghost_set_error(-e, "%s: cannot map the change log: %s", path, strerror(e));
    c->hdr = p;
    c->ring = (struct changes_entry *)((char *)p + CHANGES_HDR);
    c->mask = h.entries - 1;
    memcpy(c->uuid, uuid, 16);
    c->size = size;
    c->writable = writable;
    c->made = made;
    c->epoch = epoch_of(store_path);
    return 0;
}

void changes_close(struct changes *c)
{
    if (c->hdr)
        munmap(c->hdr, c->size);
    memset(c, 0, sizeof *c);
}

uint64_t changes_head(const struct changes *c)
{
    return c->hdr ? atomic_load(&c->hdr->head) : 0;
}

uint64_t changes_start(const struct changes *c, uint64_t upto)
{
    if (!c->hdr)
        return 0;
    uint64_t head = atomic_load(&c->hdr->head), i = head;
    while (i > 0 && head - i < c->mask &&
           atomic_load_explicit(&c->ring[(i - 1) & c->mask].gen, memory_order_relaxed) > upto)
        i--;
    return i;
}

/* Does the header still name our store? It is set up anew (in place: the
 * same file) when a process of another store at the same path finds it
 * foreign; a process of the replaced store must then stop writing to it. */
static bool ours(const struct changes *c)
{
    return !memcmp(c->hdr->uuid, c->uuid, 16);
}

uint64_t changes_append(struct changes *c, uint64_t gen, uint64_t writer, const uint64_t *oids,
                        size_t n)
{
    struct changes_hdr *h = c->hdr;
    uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    if (!ours(c))
        return head;
    if (atomic_load_explicit(&h->claimed, memory_order_relaxed) < head + n)
        atomic_store_explicit(&h->claimed, head + n, memory_order_relaxed);
    /* The claim is seen before any slot it covers is: a reader that read a
     * slot we write below and then fences sees the claim. */
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < n; i++) {
        struct changes_entry *e = &c->ring[(head + i) & c->mask];
        atomic_store_explicit(&e->gen, gen, memory_order_relaxed);
        atomic_store_explicit(&e->oid, oids[i], memory_order_relaxed);
        atomic_store_explicit(&e->writer, writer, memory_order_relaxed);
    }
    atomic_store_explicit(&h->head, head + n, memory_order_release);
    return head + n;
}

bool changes_quiet_since(const struct changes *c, uint64_t oid, uint64_t since, unsigned limit)
{
    if (!c->hdr || since == 0)
        return false;
    uint64_t head = atomic_load_explicit(&c->hdr->head, memory_order_acquire);
    if (limit > c->mask)
        limit = (unsigned)c->mask;
    for (uint64_t i = head; i > 0 && head - i < limit; i--) {
        const struct changes_entry *e = &c->ring[(i - 1) & c->mask];
        uint64_t gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
        if (gen == 0)
            return false;   /* no real entry: a log being set up anew */
        if (gen <= since)   /* everything newer is behind us */
            return ours(c); /* unless the log is another store's (or became so) */
        if (atomic_load_explicit(&e->oid, memory_order_relaxed) == oid)
            return false;
    }
    return false;
}

int changes_read(const struct changes *c, uint64_t *seq, uint64_t upto, uint64_t writer,
                 void (*fn)(void *arg, uint64_t oid), void *arg)
{
    if (!c->hdr || !ours(c))
        return -ERANGE;
    struct changes_hdr *h = c->hdr;
    uint64_t from = *seq, head = atomic_load_explicit(&h->head, memory_order_acquire);
    if (head < from || head - from > c->mask + 1)
        return -ERANGE;
    uint64_t i = from;
    for (; i < head; i++) {
        const struct changes_entry *e = &c->ring[i & c->mask];
        uint64_t gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
        if (gen > upto)
            break; /* its batch has not committed (yet) */
        uint64_t w = atomic_load_explicit(&e->writer, memory_order_relaxed);
        uint64_t oid = atomic_load_explicit(&e->oid, memory_order_relaxed);
        if (w != writer)
            fn(arg, oid);
    }
    /* Were any of those entries being overwritten while we read them? */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&h->claimed) - from > c->mask + 1)
        return -ERANGE;
    *seq = i;
    return 0;
}

/* ---- the generation marks ---- */

static void raise_to(_Atomic uint64_t *mark, uint64_t gen)
{
    uint64_t cur = atomic_load(mark);
    while (cur < gen && !atomic_compare_exchange_weak(mark, &cur, gen))
        ;
}

/* Sync the header's page: what a clean flag claims must reach the disk
 * before anything that would make it untrue. */
static void sync_header(const struct changes *c)
{
    if (msync(c->hdr, CHANGES_HDR, MS_SYNC) < 0)
        ghost_log(GHOST_LOG_WARN, "change log: cannot sync its header: %s", strerror(errno));
}

static bool marks_writable(const struct changes *c)
{
    return c->hdr && c->writable && ours(c);
}

void changes_intend(struct changes *c, uint64_t gen)
{
    if (!marks_writable(c))
        return;
    struct changes_hdr *h = c->hdr;
    if (atomic_load(&h->clean)) {
        atomic_store(&h->clean, 0);
        sync_header(c);
    }
    if (atomic_load_explicit(&h->epoch, memory_order_relaxed) != c->epoch)
        atomic_store(&h->epoch, c->epoch);
    raise_to(&h->intent, gen);
}

void changes_committed(struct changes *c, uint64_t gen, uint64_t durable)
{
    if (!marks_writable(c))
        return;
    raise_to(&c->hdr->committed, gen);
    raise_to(&c->hdr->durable, durable);
}

void changes_synced(struct changes *c, uint64_t gen)
{
    if (marks_writable(c))
        raise_to(&c->hdr->durable, gen);
}

void changes_set_marks(struct changes *c, uint64_t gen, bool clean)
{
    if (!marks_writable(c))
        return;
    struct changes_hdr *h = c->hdr;
    atomic_store(&h->intent, gen);
    atomic_store(&h->committed, gen);
    atomic_store(&h->durable, gen);
    atomic_store(&h->epoch, c->epoch);
    atomic_store(&h->clean, clean ? 1 : 0);
    if (clean)
        sync_header(c);
}

bool changes_marks(const struct changes *c, struct changes_marks *m)
{
    memset(m, 0, sizeof *m);
    if (!c->hdr || c->made || !ours(c))
        return false;
    const struct changes_hdr *h = c->hdr;
    m->committed = atomic_load(&h->committed);
    m->durable = atomic_load(&h->durable);
    m->same_epoch = c->epoch && atomic_load(&h->epoch) == c->epoch;
    m->clean = atomic_load(&h->clean) != 0;
    return true;
}

uint64_t changes_intent(const struct changes *c)
{
    return atomic_load(&c->hdr->intent);
}
