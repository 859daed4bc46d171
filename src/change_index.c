/*
 * change_index.c - the change index: which OIDs changed after each snapshot,
 * so that what differs between a snapshot and a later one (or the head)
 * is found in time proportional to the change, not to the store
 * (ghost_changes; `ghostfs diff` is built on it).
 *
 * A batch of generation G, while the store has a snapshot, records each
 * OID it changed (an object written or deleted, or a key of its maps)
 * under meta key "chg" . K . oid, K the newest snapshot's generation when
 * G was written (the batch's snapmax); the value is a checksum only. One
 * record per OID and K, however often the OID changes: the index is as
 * big as what changed, and a batch adds to it only the OIDs it is the
 * first to change since that snapshot (engine_insert finds the others).
 *
 * Why the records of K in [A, B) are exactly the changes of (A, B], for
 * snapshots of generations A < B that both exist now (B may be the
 * head): a change at G in (A, B] saw snapshot A already there (taken at
 * A < G, not deleted since), so its K >= A; and K < G <= B. Conversely a
 * record of K in [A, B) was written at some G > K >= A; had G been past
 * B, snapshot B (taken at B < G, still there) would have made K >= B.
 * Deleting a snapshot leaves its records; they stay right, since the
 * argument needs only the snapshots that exist at the time of the query.
 *
 * No query begins below the oldest snapshot, so the crawler's prune pass
 * drops the records of every K below it (all of them when no snapshot is
 * left). A store made before the index existed has no "chg_from" meta
 * record; one made since has it, the generation the index starts at.
 * Snapshots older than that are answered by a walk of the whole store
 * (stream_walk), which is correct and slow.
 */
#include "record.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>

#define CHG_PREFIX "chg"
#define CHG_PREFIX_LEN 3
#define CHG_KEY_LEN (CHG_PREFIX_LEN + 16)
/* Records read per read view, and changed OIDs a batch records per call
 * of the engine (no limit: a batch's own list bounds it). */
#define READ_SLICE 4096

static void chg_key(unsigned char *k, uint64_t since, uint64_t oid)
{
    memcpy(k, CHG_PREFIX, CHG_PREFIX_LEN);
    put_be64(k + CHG_PREFIX_LEN, since);
    put_be64(k + CHG_PREFIX_LEN + 8, oid);
}

static bool is_chg_key(const struct engine_val *k)
{
    return k->len == CHG_KEY_LEN && !memcmp(k->data, CHG_PREFIX, CHG_PREFIX_LEN);
}

static uint64_t chg_since(const struct engine_val *k)
{
    return get_be64((const unsigned char *)k->data + CHG_PREFIX_LEN);
}

static uint64_t chg_oid(const struct engine_val *k)
{
    return get_be64((const unsigned char *)k->data + CHG_PREFIX_LEN + 8);
}

int chidx_note(struct store *s, struct engine_txn *w, uint64_t since, const uint64_t *oids,
               size_t n)
{
    assert(since > 0);
    unsigned char key[CHG_KEY_LEN];
    for (size_t i = 0; i < n; i++) {
        chg_key(key, since, oids[i]);
        int r = insert_empty(s, w, ENGINE_META, key, sizeof key);
        if (r && r != -EEXIST) /* EEXIST: changed before, since the same snapshot */
            return r;
    }
    return 0;
}

int chidx_start(struct store *s, struct engine_txn *w)
{
    return put_meta64(s, w, "chg_from", engine_txn_gen(w));
}

int chidx_prune(struct store *s, struct engine_txn *w, uint64_t oldest, unsigned max,
                int64_t *dropped)
{
    unsigned char key[CHG_KEY_LEN];
    struct engine_val k = {CHG_PREFIX_LEN, key}, v;
    struct engine_cursor *cur;
    memcpy(key, CHG_PREFIX, CHG_PREFIX_LEN);
    int r = engine_cursor_open(s->eng, w, ENGINE_META, &cur);
    if (r)
        return r;
    int rc = engine_cursor_seek(cur, ENGINE_RANGE, CHG_PREFIX_LEN, &k, &v);
    unsigned n = 0;
    while (rc == 0 && n < max && is_chg_key(&k) && (!oldest || chg_since(&k) < oldest)) {
        rc = engine_cursor_del(cur);
        if (rc)
            break;
        n++;
        rc = engine_cursor_current(cur, &k, &v);
    }
    engine_cursor_close(cur);
    *dropped += n;
    return rc == -ENOENT ? 0 : rc;
}

/* ---- reading: ghost_changes ---- */

struct gather {
    struct store *s;
    VEC(uint64_t) oids;
};

static int add_oid(struct gather *ga, uint64_t oid)
{
    size_t n = ga->oids.n;
    if (n && ga->oids.v[n - 1] == oid)
        return 0;
    if (vec_push(&ga->oids, oid))
        return ghost_set_error(-ENOMEM, "store %s: out of memory", ga->s->path);
    return 0;
}

/* The owner of every key the walk found changed. */
static int walked(void *arg, const struct walk_item *it)
{
    return add_oid(arg, it->owner);
}

/* The whole store, walked (snapshots older than the index). */
static int gather_walk(struct gather *ga, uint64_t from, uint64_t to, const char *base,
                       uint64_t base_gen)
{
    struct walk_pos pos = {.table = ENGINE_OBJ};
    int r = 0;
    while (r == 0 && !pos.done) {
        struct engine_txn *view;
        r = store_view_begin(ga->s, &view);
        if (r)
            break;
        uint64_t gen;
        r = store_snap_find(ga->s, view, base, &gen);
        if (r == 0 && gen != base_gen)
            r = -ENOENT;
        if (r == 0)
            r = stream_walk(ga->s, view, &pos, from, to ? to : engine_txn_gen(view), READ_SLICE,
                            walked, ga);
        store_view_end(ga->s, view);
    }
    return r;
}

/* One read view's worth of the index: from *key on, at most READ_SLICE
 * records of K below `to` (0: no bound). 1 when the index is done. */
struct index_slice {
    struct gather *ga;
    struct engine_txn *view;
    struct engine_cursor *cur;
    unsigned char *key; /* CHG_KEY_LEN bytes: where to go on */
    uint64_t to;
};

static int index_slice_fn(void *ctx)
{
    struct index_slice *a = ctx;
    struct store *s = a->ga->s;
    int r = engine_cursor_open(s->eng, a->view, ENGINE_META, &a->cur);
    if (r) {
        a->cur = NULL;
        return r;
    }
    struct engine_val k = {CHG_KEY_LEN, a->key}, v;
    int rc = engine_cursor_seek(a->cur, ENGINE_RANGE, CHG_PREFIX_LEN, &k, &v);
    bool more = false;
    for (unsigned n = 0; rc == 0; n++, rc = engine_cursor_next(a->cur, &k, &v)) {
        if (!is_chg_key(&k) || (a->to && chg_since(&k) >= a->to))
            break;
        if (!cksum_ok(&k, &v) || v.len != CKSUM_LEN) {
            rc = corrupt(s, ENGINE_META, &k, "change index record fails its checksum");
            break;
        }
        if (n == READ_SLICE) { /* go on from here in a new view */
            memcpy(a->key, k.data, CHG_KEY_LEN);
            more = true;
            break;
        }
        rc = add_oid(a->ga, chg_oid(&k));
        if (rc)
            break;
    }
    engine_cursor_close(a->cur);
    a->cur = NULL;
    if (rc && rc != -ENOENT)
        return rc;
    return more ? 0 : 1;
}

/* The index's records of K in [from, to), in views of READ_SLICE records. */
static int gather_index(struct gather *ga, uint64_t from, uint64_t to, const char *base,
                        uint64_t base_gen)
{
    unsigned char key[CHG_KEY_LEN];
    chg_key(key, from, 0);
    for (;;) {
        struct index_slice a = {.ga = ga, .key = key, .to = to};
        int r = store_view_begin(ga->s, &a.view);
        if (r)
            return r;
        /* The base must be the one the caller meant, and still there: its
         * records are pruned once it is gone. */
        uint64_t gen;
        r = store_snap_find(ga->s, a.view, base, &gen);
        if (r == 0 && gen != base_gen)
            r = -ENOENT;
        if (r == 0)
            r = store_guarded(ga->s, index_slice_fn, &a, "reading the change index");
        if (a.cur) /* damage cut it short */
            engine_cursor_close(a.cur);
        store_view_end(ga->s, a.view);
        if (r)
            return r > 0 ? 0 : r;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The generations of snapshots `from` and `to` (NULL: 0, the head), and
 * where the index starts (UINT64_MAX: this store has none). */
static int gens(struct store *s, const char *from, const char *to, uint64_t *fg, uint64_t *tg,
                uint64_t *indexed)
{
    struct engine_txn *view;
    int r = store_view_begin(s, &view);
    if (r)
        return r;
    const char *missing = from;
    r = store_snap_find(s, view, from, fg);
    *tg = 0;
    if (r == 0 && to) {
        missing = to;
        r = store_snap_find(s, view, to, tg);
    }
    if (r == 0) {
        r = get_meta64(s, view, "chg_from", indexed);
        if (r == -ENOENT) {
            *indexed = UINT64_MAX;
            r = 0;
        }
    } else if (r == -ENOENT) {
        r = ghost_set_error(-ENOENT, "no snapshot '%s'", missing);
    }
    store_view_end(s, view);
    return r;
}

int ghost_changes(struct ghost *g, const char *from, const char *to, ghost_oid_fn fn, void *arg,
                  bool *walked_all)
{
    ghost_clear_error();
    struct store *s = &g->store;
    if (!from)
        return ghost_set_error(-EINVAL, "a diff needs a snapshot to start from");
    uint64_t fg = 0, tg, indexed;
    int r = gens(s, from, to, &fg, &tg, &indexed);
    if (r)
        return r;
    if (to && tg <= fg)
        return ghost_set_error(-EINVAL, "snapshot '%s' is not older than '%s'", from, to);
    struct gather ga = {.s = s};
    bool walk = fg < indexed;
    if (walked_all)
        *walked_all = walk;
    r = walk ? gather_walk(&ga, fg, tg, from, fg) : gather_index(&ga, fg, tg, from, fg);
    if (r == -ENOENT)
        r = ghost_set_error(-ESTALE, "snapshot '%s' was deleted or replaced during the diff", from);
    if (r == 0) {
        if (ga.oids.n) /* (v is NULL when empty) */
            qsort(ga.oids.v, ga.oids.n, sizeof *ga.oids.v, cmp_u64);
        for (size_t i = 0; r == 0 && i < ga.oids.n; i++)
            if (!i || ga.oids.v[i] != ga.oids.v[i - 1])
                r = fn(arg, ga.oids.v[i]);
    }
    vec_free(&ga.oids);
    return r;
}
