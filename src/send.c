/*
 * send.c - ghost_send: a snapshot written as a send stream (stream.h),
 * whole or as what changed since an older snapshot.
 *
 * An incremental stream reads only the keys of the OIDs that changed
 * between its base and its snapshot (ghost_changes, the change index), so
 * that it costs in proportion to the change.
 *
 * The store is read in slices, each in a short read view of its own
 * (stream_walk.c), so that a send beside busy mounts neither holds one
 * view for long (which makes LMDB's file grow) nor keeps a view open while
 * it waits on the output: a slice's records are buffered, the view ended,
 * then the buffer written. What a slice reads is what the snapshots see,
 * and the snapshots keep it: every slice checks that both are still there
 * at the generations the first one found, so that a snapshot deleted (and
 * its versions pruned) in the middle fails the send instead of mixing two
 * states.
 */
#include "record.h"
#include "stream.h"
#include "vec.h"

#include <errno.h>
#include <stdio.h>

/* Keys per slice, and the buffer size at which a slice ends early. */
#define SLICE_KEYS 4096
#define SLICE_BYTES ((size_t)4 << 20)

struct send {
    struct ghost *g;
    struct store *s;
    const char *snap, *base;
    uint64_t gen, base_gen; /* in this store */
    struct stream_out out;
    ghost_progress_fn progress;
    void *parg;
    VEC(uint64_t) owners; /* an incremental stream's changed OIDs, ascending */
};

/* A differing key becomes a record. */
static int emit(void *arg, const struct walk_item *it)
{
    struct send *sd = arg;
    struct stream_rec r = {.owner = it->owner, .map = it->map, .key = it->key, .klen = it->klen};
    if (it->table == ENGINE_OBJ) {
        r.kind = it->val ? REC_OBJ_PUT : REC_OBJ_DEL;
        if (it->val) {
            r.type = it->val[0];
            r.val = it->val + 1;
            r.vlen = it->vlen - 1;
        }
    } else {
        r.kind = it->val ? REC_MAP_PUT : REC_MAP_DEL;
        r.val = it->val;
        r.vlen = it->vlen;
    }
    int e = stream_put_record(&sd->out, &r);
    /* A slice that buffered enough ends early (a positive stop). */
    return e ? e : sd->out.len >= SLICE_BYTES;
}

/* The snapshots, as this view sees them, are the ones the send began
 * with. */
static int still_there(struct send *sd, struct engine_txn *view)
{
    uint64_t gen, og;
    unsigned char uuid[16];
    int r = store_snap_identity(sd->s, view, sd->snap, &gen, uuid, &og, NULL);
    if (r == 0 && gen != sd->gen)
        r = -ESTALE;
    if (r == 0 && sd->base) {
        r = store_snap_identity(sd->s, view, sd->base, &gen, uuid, &og, NULL);
        if (r == 0 && gen != sd->base_gen)
            r = -ESTALE;
    }
    if (r == -ENOENT || r == -ESTALE)
        return ghost_set_error(-ESTALE, "a snapshot of the send was deleted or replaced during it");
    return r;
}

/* The header: both snapshots' identities, read in one view. */
static int begin(struct send *sd, struct stream_header *h)
{
    struct engine_txn *view;
    int r = store_view_begin(sd->s, &view);
    if (r)
        return r;
    memset(h, 0, sizeof *h);
    h->version = STREAM_VERSION;
    memcpy(h->store_uuid, sd->s->uuid, 16);
    snprintf(h->name, sizeof h->name, "%s", sd->snap);
    r = store_snap_identity(sd->s, view, sd->snap, &sd->gen, h->origin_uuid, &h->origin_gen,
                            &h->created_ns);
    if (r == 0 && sd->base) {
        h->flags = STREAM_INCREMENTAL;
        snprintf(h->base, sizeof h->base, "%s", sd->base);
        r = store_snap_identity(sd->s, view, sd->base, &sd->base_gen, h->base_uuid, &h->base_gen,
                                NULL);
        if (r == 0 && sd->base_gen >= sd->gen)
            r = ghost_set_error(-EINVAL, "base snapshot '%s' is not older than '%s'", sd->base,
                                sd->snap);
    }
    h->gen = sd->gen;
    h->untallied = sd->s->untallied;
    r = r ? r : get_meta64(sd->s, view, "next_oid", &h->next_oid);
    store_view_end(sd->s, view);
    return r;
}

static void report(struct send *sd)
{
    if (sd->progress) {
        struct ghost_progress p = {sd->out.seq, sd->out.bytes, 0};
        sd->progress(sd->parg, &p);
    }
}

/* Collect an owner that differs between the base and the snapshot. */
static int add_owner(void *arg, uint64_t oid)
{
    struct send *sd = arg;
    if (vec_push(&sd->owners, oid))
        return ghost_set_error(-ENOMEM, "out of memory");
    return 0;
}

static int send_all(struct send *sd, struct ghost_stream_info *info)
{
    struct stream_header h;
    int r = begin(sd, &h);
    r = r ? r : stream_put_header(&sd->out, &h);
    struct walk_pos pos = {.table = ENGINE_OBJ};
    /* An incremental stream reads only the keys of the OIDs the change
     * index names (all of them, if the base is older than the index). */
    bool walked_all = true;
    if (r == 0 && sd->base) {
        r = ghost_changes(sd->g, sd->base, sd->snap, add_owner, sd, &walked_all);
        if (r == 0 && !walked_all) {
            pos.owners = sd->owners.v;
            pos.nowners = sd->owners.n;
            pos.done = sd->owners.n == 0;
        }
    }
    while (r == 0 && !pos.done) {
        struct engine_txn *view;
        r = store_view_begin(sd->s, &view);
        if (r)
            break;
        r = still_there(sd, view);
        if (r == 0)
            r = stream_walk(sd->s, view, &pos, sd->base ? sd->base_gen : 0, sd->gen, SLICE_KEYS,
                            emit, sd);
        store_view_end(sd->s, view);
        if (r > 0)
            r = 0; /* the slice's buffer filled: write it, go on */
        r = r ? r : stream_flush(&sd->out);
        report(sd);
    }
    r = r ? r : stream_put_trailer(&sd->out);
    r = r ? r : stream_flush(&sd->out);
    if (r == 0 && info) {
        memset(info, 0, sizeof *info);
        snprintf(info->snapshot, sizeof info->snapshot, "%s", h.name);
        snprintf(info->base, sizeof info->base, "%s", h.base);
        info->incremental = sd->base != NULL;
        memcpy(info->store_uuid, h.store_uuid, 16);
        info->generation = h.gen;
        info->untallied = h.untallied;
        info->records = sd->out.seq;
        info->bytes = sd->out.bytes;
    }
    return r;
}

int ghost_send(struct ghost *g, const char *snap, const char *base, int fd,
               ghost_progress_fn progress, void *arg, struct ghost_stream_info *info)
{
    ghost_clear_error();
    struct send sd = {
        .g = g, .s = &g->store, .snap = snap, .base = base, .progress = progress, .parg = arg};
    if (!snap || (base && !strcmp(snap, base)))
        return ghost_set_error(-EINVAL, "a send needs a snapshot, and a base other than it");
    int r = stream_out_init(&sd.out, fd);
    r = r ? r : send_all(&sd, info);
    stream_out_free(&sd.out);
    vec_free(&sd.owners);
    return r;
}
