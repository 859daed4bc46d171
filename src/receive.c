/*
 * receive.c - ghost_receive and ghost_stream_check: a send stream
 * (stream.h) checked whole, then applied to a store in one write
 * transaction, with the snapshot it carries.
 *
 * Two passes over the stream, which is therefore a file (the command
 * spools a pipe beside the store first). The first reads it to its end
 * and checks every checksum and the trailer's counts without touching the
 * store, so that a damaged or truncated stream is refused before anything
 * is written. The second reads it again inside one batch (store_batch.c:
 * the versions, tallies and change log entries of an ordinary commit),
 * checking everything again as it goes (the file could have changed
 * between the passes), and aborts the batch on any error. The snapshot of
 * the stream's name, the newest snapshot mark and the next OID are written
 * in the same batch, so that the data and the snapshot that names it land
 * together or not at all.
 *
 * One write transaction has a limit of its own: LMDB lets one dirty at
 * most 131,071 pages (about 512 MiB of 4 KiB pages) when it cannot spill
 * them to the file (the engine maps the file writable under sync=none);
 * a stream past it fails with -E2BIG, and nothing of it stays.
 */
#include "record.h"
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct recv {
    struct ghost *g;
    struct store *s;
    int fd;
    struct stream_header h;
    struct ghost_stream_info info;
    uint64_t total; /* the stream's bytes */
    ghost_progress_fn progress;
    void *parg;
    struct store_batch b;
    /* Pass 1's header and stream checksums, which pass 2 must find again:
     * a file replaced between the passes is not what was checked. */
    bool checked;
    uint64_t header_sum, stream_sum;
};

static void report(struct recv *rv, uint64_t records, uint64_t bytes)
{
    if (rv->progress) {
        struct ghost_progress p = {records, bytes, 2 * rv->total};
        rv->progress(rv->parg, &p);
    }
}

static int changed(struct recv *rv, const char *what)
{
    return ghost_set_error(-ESTALE,
                           "the stream's %s changed between its check and its reading into "
                           "store %s: nothing was received",
                           what, rv->s ? rv->s->path : "");
}

/* Read the stream from its start; apply (may be NULL) each record. */
static int read_stream(struct recv *rv, uint64_t done,
                       int (*apply)(struct recv *rv, const struct stream_rec *r))
{
    struct stream_in in;
    struct stream_rec rec;
    int r = stream_in_init(&in, rv->fd);
    rv->total = in.total;
    r = r ? r : stream_read_header(&in, &rv->h);
    if (r == 0 && rv->checked && in.header_sum != rv->header_sum)
        r = changed(rv, "header");
    while (r == 0 && (r = stream_read_record(&in, &rec)) == 1) {
        r = apply ? apply(rv, &rec) : 0;
        if (in.seq % 4096 == 0)
            report(rv, in.seq, done + in.pos);
    }
    if (r == 0 && rv->checked && in.stream_sum != rv->stream_sum)
        r = changed(rv, "records");
    if (r == 0 && !rv->checked) {
        rv->header_sum = in.header_sum;
        rv->stream_sum = in.stream_sum;
    }
    if (r == 0) {
        report(rv, in.seq, done + in.pos);
        struct ghost_stream_info *i = &rv->info;
        memset(i, 0, sizeof *i);
        snprintf(i->snapshot, sizeof i->snapshot, "%s", rv->h.name);
        snprintf(i->base, sizeof i->base, "%s", rv->h.base);
        i->incremental = rv->h.flags & STREAM_INCREMENTAL;
        memcpy(i->store_uuid, rv->h.store_uuid, 16);
        i->generation = rv->h.gen;
        i->untallied = rv->h.untallied;
        i->records = in.records;
        i->bytes = in.total;
    }
    stream_in_free(&in);
    return r;
}

int ghost_stream_check(int fd, ghost_progress_fn progress, void *arg,
                       struct ghost_stream_info *info)
{
    ghost_clear_error();
    struct recv rv = {.fd = fd, .progress = progress, .parg = arg};
    int r = read_stream(&rv, 0, NULL);
    if (r == 0 && info)
        *info = rv.info;
    return r;
}

static int found(void *arg, const struct walk_item *it)
{
    (void)arg, (void)it;
    return 1;
}

/* 1 if the head holds any object or map key of the library's caller
 * (a store `ghostfs mkfs` made holds its root and superblock), 0 if none. */
static int holds_objects(struct store *s, struct engine_txn *t)
{
    struct walk_pos pos = {.table = ENGINE_OBJ};
    int r = 0;
    while (r == 0 && !pos.done)
        r = stream_walk(s, t, &pos, 0, GEN_HEAD, 4096, found, NULL);
    return r;
}

struct first_change {
    uint64_t owner;
    bool map;
};

static int note_change(void *arg, const struct walk_item *it)
{
    struct first_change *c = arg;
    c->owner = it->owner;
    c->map = it->table == ENGINE_MAP;
    return 1;
}

/* An incremental turns its base into the snapshot: applied over a head
 * that is no longer the base, it mixes the two (an OID this store handed
 * out since can be one the stream brings). So the head must still be what
 * the base snapshot (of generation base_gen here) sees. Heads are compared,
 * not the store's generation, which moves with writes that change no head
 * (a snapshot taken, the crawler's state, pruning). The walk costs in
 * proportion to the store, as a send does. */
static int written_since(struct recv *rv, struct engine_txn *t, uint64_t base_gen)
{
    struct walk_pos pos = {.table = ENGINE_OBJ};
    struct first_change c = {0};
    int r = 0;
    while (r == 0 && !pos.done)
        r = stream_walk(rv->s, t, &pos, base_gen, GEN_HEAD, 4096, note_change, &c);
    if (r <= 0)
        return r;
    return ghost_set_error(-ESTALE,
                           "store %s was written since its snapshot '%s' (generation %llu; "
                           "the %s of OID %llu differs from it): an incremental stream applies "
                           "only to a store whose head is still its base",
                           rv->s->path, rv->h.base, (unsigned long long)base_gen,
                           c.map ? "maps" : "object", (unsigned long long)c.owner);
}

/* May this store take the stream? Asked in a view before the batch, and
 * again inside it (t is then the batch's transaction). */
static int fits(struct recv *rv, struct engine_txn *t)
{
    struct store *s = rv->s;
    uint64_t gen, og;
    unsigned char uuid[16];
    int r = store_snap_identity(s, t, rv->h.name, &gen, uuid, &og, NULL);
    if (r == 0)
        return ghost_set_error(-EEXIST, "store %s has a snapshot named '%s' already", s->path,
                               rv->h.name);
    if (r != -ENOENT)
        return r;
    if (!(rv->h.flags & STREAM_INCREMENTAL)) {
        struct engine_cursor *cur;
        struct engine_val k, v;
        r = engine_cursor_open(s->eng, t, ENGINE_SNAP, &cur);
        if (r)
            return r;
        r = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
        engine_cursor_close(cur);
        if (r == 0)
            return ghost_set_error(-ENOTEMPTY,
                                   "store %s holds snapshots: a full stream is received only "
                                   "into a store that holds none (a new one)",
                                   s->path);
        if (r != -ENOENT)
            return r;
        r = holds_objects(s, t);
        if (r == 1)
            return ghost_set_error(-ENOTEMPTY,
                                   "store %s holds objects: a full stream is received only "
                                   "into a new or empty store",
                                   s->path);
        return r;
    }
    r = store_snap_identity(s, t, rv->h.base, &gen, uuid, &og, NULL);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT,
                               "store %s has no snapshot '%s', the base of this incremental "
                               "stream: receive the streams before it first",
                               s->path, rv->h.base);
    if (r == 0 && (memcmp(uuid, rv->h.base_uuid, 16) || og != rv->h.base_gen))
        return ghost_set_error(-ESTALE,
                               "snapshot '%s' of store %s is not the base of this stream (it "
                               "was taken in another store or at another generation)",
                               rv->h.base, s->path);
    return r ? r : written_since(rv, t, gen);
}

static int apply_rec(struct recv *rv, const struct stream_rec *r)
{
    switch (r->kind) {
    case REC_OBJ_PUT:
        return store_put_obj(&rv->b, r->owner, r->type, r->val, r->vlen);
    case REC_OBJ_DEL:
        return store_del_obj(&rv->b, r->owner);
    case REC_MAP_PUT:
        return store_put_map(&rv->b, r->owner, r->map, r->key, r->klen, r->val, r->vlen);
    case REC_MAP_DEL:
        return store_del_map(&rv->b, r->owner, r->map, r->key, r->klen);
    default:
        return ghost_set_error(-EBADMSG, "unknown record kind %d", (int)r->kind);
    }
}

/* The snapshot, the newest snapshot mark, the next OID: in the batch. */
static int finish(struct recv *rv)
{
    struct store_batch *b = &rv->b;
    uint64_t next;
    int r = snap_put_origin(rv->s, b->txn, rv->h.name, b->gen, rv->h.created_ns, rv->h.origin_uuid,
                            rv->h.origin_gen);
    r = r ? r : put_meta64(rv->s, b->txn, "snapmax", b->gen);
    r = r ? r : get_meta64(rv->s, b->txn, "next_oid", &next);
    if (r == 0 && rv->h.next_oid > next)
        r = put_meta64(rv->s, b->txn, "next_oid", rv->h.next_oid);
    if (r == 0) {
        b->snapmax = b->gen; /* what the next batch of ours takes as snapmax */
        b->wrote = true;     /* a stream that changed nothing still takes its snapshot */
    }
    return r;
}

/* One try at the batch, guarded: the batch ends here, committed or not. */
static int apply_fn(void *ctx)
{
    struct recv *rv = ctx;
    int r = store_batch_begin(rv->s, &rv->b);
    if (r)
        return r;
    r = fits(rv, rv->b.txn); /* a full stream: into an empty store only */
    r = r ? r : read_stream(rv, rv->total, apply_rec);
    r = r ? r : finish(rv);
    if (r) {
        store_batch_abort(&rv->b);
        return r;
    }
    return store_batch_commit(&rv->b); /* ends the batch, whatever happens */
}

static int apply(struct recv *rv)
{
    for (int tries = 0;; tries++) {
        memset(&rv->b, 0, sizeof rv->b);
        int r = store_guarded(rv->s, apply_fn, rv, "receiving a stream");
        if (rv->b.txn) /* damage cut the batch short */
            store_batch_abort(&rv->b);
        if (r == -E2BIG)
            return ghost_set_error(-E2BIG,
                                   "the stream (%llu records, %llu bytes) needs a larger write "
                                   "transaction than the store's engine allows; nothing was "
                                   "received",
                                   (unsigned long long)rv->info.records,
                                   (unsigned long long)rv->total);
        if (r != -GHOST_EGROW || tries >= 8)
            return r;
        r = engine_grow(rv->s->eng);
        if (r)
            return r;
    }
}

int ghost_receive(struct ghost *g, int fd, ghost_progress_fn progress, void *arg,
                  struct ghost_stream_info *info)
{
    ghost_clear_error();
    if (g->opts.readonly)
        return ghost_set_error(-EROFS, "store opened read-only");
    struct recv rv = {.g = g, .s = &g->store, .fd = fd, .progress = progress, .parg = arg};
    int r = read_stream(&rv, 0, NULL); /* pass 1: check it all, touch nothing */
    if (r)
        return r;
    rv.checked = true;
    struct engine_txn *view;
    r = store_view_begin(rv.s, &view);
    if (r)
        return r;
    r = fits(&rv, view);
    store_view_end(rv.s, view);
    r = r ? r : engine_space_check(rv.s->eng, rv.total, false);
    if (r == -ENOSPC)
        ghost_set_error(r, "store %s: no room for a stream of %llu bytes", rv.s->path,
                        (unsigned long long)rv.total);
    r = r ? r : apply(&rv);
    if (r == 0) {
        /* Its own change log entries are skipped by this connection, and
         * its cache knows nothing of the batch: forget it all. */
        cache_lock(&g->cache);
        cache_invalidate_all_locked(&g->cache, rv.b.gen);
        cache_unlock(&g->cache);
        pthread_mutex_lock(&g->oid_lock);
        g->oid_next = g->oid_end = 0; /* a block taken before may hold received OIDs */
        pthread_mutex_unlock(&g->oid_lock);
        if (info)
            *info = rv.info;
    }
    return r;
}
