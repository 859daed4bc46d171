/*
 * prune.c - dropping the older versions no snapshot needs any more (after
 * a snapshot was deleted), a bounded number of keys per call so that the
 * caller can spread the work over many short write transactions.
 */
#include "record.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>

struct prune {
    VEC(uint64_t) snaps; /* snapshot generations, ascending */
    uint64_t *cursor;
    unsigned max_keys;
    int64_t dropped;
};

/* Is there a snapshot Gs with lo <= Gs < hi? */
static bool snapshot_between(const struct prune *p, uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < p->snaps.n; i++)
        if (p->snaps.v[i] >= lo && p->snaps.v[i] < hi)
            return true;
    return false;
}

/* Drop the older versions of the key whose newest record (head or
 * tombstone, of generation head) the cursor just left: it rests on the
 * record after that one. A version stays if a snapshot sees it; a
 * tombstone that hides nothing goes too. *k and *v are the record the
 * cursor rests on when this returns (0, -ENOENT at the end, or an error). */
static int prune_key(struct engine_cursor *cur, struct prune *p, const unsigned char *prefix,
                     size_t plen, uint64_t head, uint64_t newer, bool head_tomb,
                     struct engine_val *k, struct engine_val *v)
{
    unsigned char seek[MAP_KEY_MAX];
    bool kept_older = false;
    int rc = engine_cursor_next(cur, k, v);
    while (rc == 0 && k->len == plen + 8 && !memcmp(k->data, prefix, plen)) {
        uint64_t gen = key_gen(k);
        if (snapshot_between(p, gen, newer)) {
            kept_older = true;
            newer = gen;
            rc = engine_cursor_next(cur, k, v);
            continue;
        }
        /* After a delete the cursor rests on the following record, which
         * engine_cursor_next returns. */
        rc = engine_cursor_del(cur);
        if (rc)
            return rc;
        p->dropped++;
        rc = engine_cursor_next(cur, k, v);
    }
    if ((rc && rc != -ENOENT) || !head_tomb || kept_older)
        return rc;
    /* A tombstone that hides nothing: every view sees "absent". */
    memcpy(seek, prefix, plen);
    put_be64(seek + plen, ~head);
    *k = (struct engine_val){plen + 8, seek};
    rc = engine_cursor_seek(cur, ENGINE_EXACT, 0, k, v);
    rc = rc ? rc : engine_cursor_del(cur);
    if (rc)
        return rc;
    p->dropped++;
    return engine_cursor_next(cur, k, v);
}

/* Walk one table from the owner OID in *owner, one key (all its versions,
 * newest first) at a time. Returns 1 when the table is done, 0 when
 * max_keys ran out (*owner set to the owner to resume at), or an error. */
static int prune_table(struct store *s, struct engine_txn *w, enum engine_table table,
                       struct prune *p, uint64_t *owner)
{
    struct engine_cursor *cur;
    struct engine_val k, v;
    unsigned char prefix[MAP_KEY_MAX], seek[MAP_KEY_MAX];
    unsigned keys = 0;
    int r = engine_cursor_open(s->eng, w, table, &cur);
    if (r)
        return r;
    uint64_t bit = table == ENGINE_OBJ ? OBJ_KEY_BIT : 0;
    size_t minlen = table == ENGINE_OBJ ? 16u : 17u; /* (a map's tally: 25 in obj) */
    memset(seek, 0, 17);
    put_be64(seek, *owner | bit);
    k = (struct engine_val){minlen, seek};
    /* (In LMDB's obj the records of the named tables sort before every
     * object.) */
    int rc = engine_cursor_seek(cur, ENGINE_RANGE, 0, &k, &v);
    while (rc == 0) {
        if (k.len > MAP_KEY_MAX || k.len < minlen) { /* not a key of ours: refuse to guess */
            rc = corrupt(s, table, &k, "pruning met a key of no version's shape");
            break;
        }
        size_t plen = k.len - 8;
        uint64_t o = get_be64(k.data) & ~bit;
        if (o != *owner && keys >= p->max_keys) {
            *owner = o;
            engine_cursor_close(cur);
            return 0;
        }
        *owner = o;
        keys++;
        memcpy(prefix, k.data, plen);
        /* The newest record: the head (its generation in its value) or a
         * tombstone; the older versions follow, newest first. */
        uint64_t head = key_gen(&k);
        uint64_t newer = v.len >= VER_HDR ? rec_gen(&v) : head;
        rc = prune_key(cur, p, prefix, plen, head, newer, is_tombstone(&v), &k, &v);
    }
    engine_cursor_close(cur);
    if (rc && rc != -ENOENT)
        return rc;
    return 1;
}

/* The generations of every snapshot, into p->snaps. */
static int snapshot_gens(struct store *s, struct engine_txn *w, struct prune *p)
{
    struct engine_cursor *cur;
    struct engine_val k, v;
    int r = engine_cursor_open(s->eng, w, ENGINE_SNAP, &cur);
    if (r)
        return r;
    /* Every snapshot, or an error: a version (or change index record) kept
     * for a snapshot missing from the list would be dropped for good. */
    int rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        uint64_t g;
        if (!cksum_ok(&k, &v) || !snap_len_ok(v.len) || !snap_value_gen(&v, 0, &g)) {
            rc = corrupt(s, ENGINE_SNAP, &k, "snapshot record fails its checksum");
            break;
        }
        if (vec_push(&p->snaps, g)) {
            rc = ghost_set_error(-ENOMEM, "store %s: out of memory", s->path);
            break;
        }
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    return rc == -ENOENT ? 0 : rc;
}

#define PRUNE_MAPS (UINT64_C(1) << 63)

int store_prune_in(struct store *s, struct engine_txn *w, uint64_t *cursor, unsigned max_keys,
                   int64_t *dropped)
{
    struct prune p = {.cursor = cursor, .max_keys = max_keys ? max_keys : 1000};
    int r = snapshot_gens(s, w, &p);
    if (r)
        goto out;
    uint64_t c = *cursor;
    bool maps = c & PRUNE_MAPS;
    uint64_t owner = c & ~PRUNE_MAPS;
    /* The change index below the oldest snapshot: no diff starts there. */
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < p.snaps.n; i++)
        oldest = p.snaps.v[i] < oldest ? p.snaps.v[i] : oldest;
    int64_t unindexed = 0;
    r = chidx_prune(s, w, p.snaps.n ? oldest : 0, p.max_keys, &unindexed);
    if (r)
        goto out;
    r = prune_table(s, w, maps ? ENGINE_MAP : ENGINE_OBJ, &p, &owner);
    if (r < 0)
        goto out;
    if (r == 0)
        *cursor = owner | (maps ? PRUNE_MAPS : 0);
    else
        *cursor = maps ? 0 : PRUNE_MAPS;
    r = 0;
    *dropped = p.dropped;
out:
    vec_free(&p.snaps);
    return r;
}

struct prune_run {
    uint64_t *cursor, start;
    unsigned max_keys;
    int64_t dropped;
};

static int prune_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct prune_run *p = arg;
    *p->cursor = p->start; /* store_small_write() may run us again after growing */
    return store_prune_in(s, w, p->cursor, p->max_keys, &p->dropped);
}

int64_t store_prune(struct store *s, uint64_t *cursor, unsigned max_keys)
{
    struct prune_run p = {cursor, *cursor, max_keys, 0};
    int r = store_small_write(s, prune_fn, &p, true);
    if (r)
        *cursor = p.start;
    return r ? r : p.dropped;
}
