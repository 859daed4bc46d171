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

#define CHANGES_MAGIC 0x67686f73746c6f67ull /* "ghostlog" */
#define CHANGES_VERSION 1
#define CHANGES_HDR 4096

struct changes_hdr {
    uint64_t magic, version;
    unsigned char uuid[16];
    uint64_t entries; /* capacity, a power of two */
    _Alignas(64) _Atomic uint64_t claimed;
    _Alignas(64) _Atomic uint64_t head;
};

struct changes_entry {
    _Atomic uint64_t gen, oid, writer;
};

_Static_assert(sizeof(struct changes_hdr) <= CHANGES_HDR, "header fits its page");

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
                 bool writable, uint64_t entries)
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
        /* Allocate every page: a write through the map into a hole on a full
         * disk would kill us with SIGBUS. */
        int e = ftruncate(fd, 0) < 0 ? errno : posix_fallocate(fd, 0, (off_t)file_size(entries));
        if (!e && pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            e = errno ? errno : EIO;
        if (e) {
            close(fd);
            return ghost_set_error(-e, "%s: cannot set up the change log: %s", path, strerror(e));
        }
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
