/*
 * store_batch.c - a batch: one engine write transaction at one generation,
 * into which the committer validates and applies many transactions; and
 * the small write transactions of OID blocks, snapshots and pruning.
 *
 * A write replaces the head at once unless a snapshot needs it: a snapshot
 * at Gs sees the head (written at Gh) iff Gs >= Gh, so the old head moves
 * to key . ~Gh iff snapmax >= Gh. A delete removes the head and leaves a
 * tombstone (an older version marked deleted, at the deleting generation)
 * when older versions would otherwise show through; so the newest record
 * of a key is always its head or a tombstone.
 *
 * Batches take turns (the engine has one write transaction at a time), so
 * the fields of struct store they touch (changed_spare, last_batch_*) need
 * no lock of their own.
 */
#include "record.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the batch's tally deltas, by owner and map ----
 *
 * A receive changes the tallies of as many maps as the stream carries: the
 * deltas are an array (written back in order at commit) indexed by a hash
 * table (store.tally_index) whose key is a hash of owner and map; the
 * chain is walked comparing both. The table points into the array, so it
 * is rebuilt whenever the array moves (it doubles: O(1) per delta in all),
 * and emptied with it. */

static uint64_t tally_hkey(uint64_t owner, unsigned map)
{
    return owner * 257 + map;
}

static struct tally_delta *tally_find(const struct store *s, uint64_t owner, unsigned map)
{
    const struct htab *t = &s->tally_index;
    if (!t->nb)
        return NULL;
    for (struct hnode *n = t->b[htab_slot(t, tally_hkey(owner, map))]; n; n = n->next) {
        struct tally_delta *d = list_entry(n, struct tally_delta, node);
        if (d->owner == owner && d->map == map)
            return d;
    }
    return NULL;
}

/* Empty the array and its index: O(deltas), not O(buckets). */
static void tallies_clear(struct store *s)
{
    struct htab *t = &s->tally_index;
    for (size_t i = 0; t->nb && i < s->tallies.n; i++)
        t->b[htab_slot(t, s->tallies.v[i].node.key)] = NULL;
    t->count = 0;
    vec_clear(&s->tallies);
}

/* Index the whole array again, in a table of as many buckets as it has
 * room for elements. On no memory the index is dropped (empty) and the
 * batch fails. */
static int tallies_reindex(struct store *s)
{
    struct htab *t = &s->tally_index;
    size_t nb = 64;
    while (nb < s->tallies.cap)
        nb *= 2;
    if (nb != t->nb) {
        htab_destroy(t);
        if (htab_init(t, nb))
            return ghost_set_error(-ENOMEM, "store %s: out of memory", s->path);
    } else {
        memset(t->b, 0, nb * sizeof *t->b);
        t->count = 0;
    }
    for (size_t i = 0; i < s->tallies.n; i++)
        htab_push(t, &s->tallies.v[i].node);
    return 0;
}

int store_batch_begin(struct store *s, struct store_batch *b)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    int r = engine_write_begin(s->eng, &b->txn);
    if (r) {
        b->txn = NULL;
        return r;
    }
    b->gen = engine_txn_gen(b->txn);
    tallies_clear(s);
    /* Batches take turns: they share one buffer. */
    vec_move(&b->changed, &s->changed_spare);
    /* If the last write transaction was our own batch, meta is as we left
     * it: skip reading it. Anything else (another process, a snapshot, an
     * OID block) took a generation in between. */
    if (b->gen == s->last_batch_gen + 1) {
        b->snapmax = b->since = s->last_batch_snapmax;
        return 0;
    }
    r = get_meta64(s, b->txn, "snapmax", &b->snapmax);
    if (r) {
        store_batch_abort(b);
        return r;
    }
    b->since = b->snapmax;
    return 0;
}

/* A write transaction's cursors must be closed before it ends. */
static void close_cursors(struct store_batch *b)
{
    for (int i = 0; i < 2; i++)
        if (b->cur[i])
            engine_cursor_close(b->cur[i]);
    b->cur[0] = b->cur[1] = NULL;
}

/* A list of changed OIDs that grew past this many slots is freed, not
 * kept for the next batch. */
#define CHANGED_KEPT 4096

/* Whether the batch's list of changed OIDs is to be kept for the next. */
static inline bool keeps_changed(const struct store_batch *b)
{
    return b->changed.cap <= CHANGED_KEPT && !b->s->changed_spare.v;
}

/* Hand the list of changed OIDs back for the next batch (while we still
 * hold the writer's turn), unless it grew big. */
static inline void give_back_changed(struct store_batch *b)
{
    if (keeps_changed(b)) {
        vec_clear(&b->changed);
        vec_move(&b->s->changed_spare, &b->changed);
    } else {
        vec_free(&b->changed);
    }
}

void store_batch_abort(struct store_batch *b)
{
    if (b->txn) {
        close_cursors(b);
        give_back_changed(b);
        engine_abort(b->s->eng, b->txn);
    }
    b->txn = NULL;
    vec_free(&b->changed);
}

/* The list of changed OIDs could not grow (it is as it was): the batch
 * fails whole. */
static __attribute__((cold, noinline)) int changed_nomem(struct store_batch *b)
{
    return ghost_set_error(-ENOMEM, "store %s: out of memory", b->s->path);
}

/* Remember that the batch changed oid. Growing the list is out of line
 * (vec.h): kept between batches, it rarely grows. */
static inline int note_changed(struct store_batch *b, uint64_t oid)
{
    size_t n = b->changed.n;
    if (n && b->changed.v[n - 1] == oid)
        return 0;
    return vec_push(&b->changed, oid) ? changed_nomem(b) : 0;
}

/* The batch's cursor on table, opened on first use. */
static int batch_cursor(struct store_batch *b, enum engine_table table, struct engine_cursor **cur)
{
    int i = table == ENGINE_OBJ ? 0 : 1;
    assert(table == ENGINE_OBJ || table == ENGINE_MAP);
    if (!b->cur[i]) {
        int r = engine_cursor_open(b->s->eng, b->txn, table, &b->cur[i]);
        if (r) {
            b->cur[i] = NULL;
            return r;
        }
    }
    *cur = b->cur[i];
    return 0;
}

/* The generation of the head version of a key, 0 if it has none. */
static int head_gen(struct store_batch *b, enum engine_table table, unsigned char *kbuf,
                    size_t klen, uint64_t *head)
{
    struct engine_val k = {klen, kbuf}, v;
    put_be64(kbuf + klen - 8, ~GEN_HEAD);
    *head = 0;
    int r = engine_get(b->s->eng, b->txn, table, &k, &v);
    if (r == -ENOENT)
        return 0;
    r = r ? r : version_ok(b->s, table, &k, &v);
    if (r == 0)
        *head = rec_gen(&v);
    return r;
}

/* How many OIDs of the batch so far validation's shortcut compares before
 * it reads the records instead. */
#define QUIET_CHANGED 64

/* Validation's fast path: the engine knows oid is unchanged since gen
 * (engine_unchanged_since), and this batch has not changed it either; then
 * the head of every key of oid is still the version the reader saw at gen
 * (versions only move forward, and the reader saw a head). Only
 * "unchanged" is trusted: a change that names oid may be of a map key the
 * reader did not read, and sends the check to the records. */
static bool unchanged_since(struct store_batch *b, uint64_t oid, uint64_t gen)
{
    if (b->changed.n > QUIET_CHANGED)
        return false;
    for (size_t i = 0; i < b->changed.n; i++)
        if (b->changed.v[i] == oid)
            return false;
    return engine_unchanged_since(b->s->eng, b->txn, oid, gen);
}

/* 0 if the head of oid's key in kbuf is still the version of generation
 * gen, else -GHOST_ECONFLICT with *head set to what is there now. */
static int check_head(struct store_batch *b, uint64_t oid, enum engine_table table,
                      unsigned char *kbuf, size_t klen, uint64_t gen, uint64_t *head)
{
    if (unchanged_since(b, oid, gen)) {
        b->checks_logged++;
        *head = gen;
        return 0;
    }
    int r = head_gen(b, table, kbuf, klen, head);
    if (r)
        return r;
    return *head == gen ? 0 : -GHOST_ECONFLICT;
}

int store_check_obj(struct store_batch *b, uint64_t oid, uint64_t gen, uint64_t *head)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    return check_head(b, oid, ENGINE_OBJ, kbuf, obj_key(kbuf, oid, 0), gen, head);
}

/* Has a transaction applied earlier in this batch changed the map's tally?
 * (Tallies are written when the batch commits, so their records do not
 * show it yet.) */
static bool tally_changed(struct store_batch *b, uint64_t owner, unsigned map)
{
    const struct tally_delta *d = tally_find(b->s, owner, map);
    return d && (d->count || d->sum);
}

int store_check_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key,
                    size_t klen, uint64_t gen, uint64_t *head)
{
    unsigned char kbuf[MAP_KEY_MAX];
    if (klen == 0) { /* a read of the map's tally */
        if (tally_changed(b, owner, map)) {
            *head = b->gen;
            return -GHOST_ECONFLICT;
        }
        return check_head(b, owner, ENGINE_OBJ, kbuf, tally_key(kbuf, owner, map, 0), gen, head);
    }
    return check_head(b, owner, ENGINE_MAP, kbuf, map_key(kbuf, owner, map, key, klen, 0), gen,
                      head);
}

/* What write_version is changing: a key (kbuf with its head suffix, klen
 * bytes) of one table, and the new value (hdr . body) unless it deletes. */
struct version_write {
    enum engine_table table;
    unsigned char *kbuf;
    size_t klen;
    const void *hdr, *body;
    size_t hlen, blen;
};

/* Keep a copy of the old head (old, olen bytes, of generation hgen) as the
 * older version key . ~hgen: a snapshot needs it. */
static int keep_old(struct store_batch *b, const struct version_write *vw, const unsigned char *old,
                    size_t olen, uint64_t hgen)
{
    put_be64(vw->kbuf + vw->klen - 8, ~hgen);
    return put_version(b->s, b->txn, vw->table, vw->kbuf, vw->klen, hgen, old + VER_HDR,
                       olen - VER_HDR, NULL, 0);
}

/* Delete the head under cur, keeping it first if a snapshot needs it, and
 * leave a tombstone if an older version would otherwise show through. */
static int delete_head(struct store_batch *b, struct engine_cursor *cur,
                       const struct version_write *vw, const unsigned char *old, size_t olen,
                       uint64_t hgen)
{
    int r = engine_cursor_del(cur);
    if (!r && old)
        r = keep_old(b, vw, old, olen, hgen);
    bool older = old != NULL;
    if (!r && !older) {
        /* After a delete the cursor rests on the next record: is it an
         * older version of this key (and not already a tombstone)? */
        struct engine_val k, v;
        older = engine_cursor_current(cur, &k, &v) == 0 && same_key(&k, vw->kbuf, vw->klen) &&
                v.len > VER_HDR && !is_tombstone(&v);
    }
    if (!r && older) {
        unsigned char tomb = FLAG_TOMBSTONE;
        put_be64(vw->kbuf + vw->klen - 8, ~b->gen);
        r = put_version(b->s, b->txn, vw->table, vw->kbuf, vw->klen, b->gen, &tomb, 1, NULL, 0);
    }
    return r;
}

/* Does the store keep no tally of this map? */
static inline bool untallied(const struct store *s, unsigned map)
{
    return map < 64 && (s->untallied >> map & 1);
}

/* Note that a write changed the tally of the map whose key is in kbuf. */
static int tally_note(struct store_batch *b, const unsigned char *kbuf, uint64_t count,
                      uint64_t sum)
{
    struct store *s = b->s;
    uint64_t owner = get_be64(kbuf);
    unsigned map = kbuf[8];
    struct tally_delta *d = tally_find(s, owner, map);
    if (d) {
        d->count += count;
        d->sum += sum;
        return 0;
    }
    const struct tally_delta *was = s->tallies.v;
    struct tally_delta nd = {.node.key = tally_hkey(owner, map), owner, map, count, sum};
    if (vec_push(&s->tallies, nd))
        return ghost_set_error(-ENOMEM, "store %s: out of memory", s->path);
    if (s->tallies.v != was || !s->tally_index.nb)
        return tallies_reindex(s);
    htab_push(&s->tally_index, &s->tallies.v[s->tallies.n - 1].node);
    return 0;
}

/* Put the head of a key over whatever is there, unread: one put. */
static int put_head_blind(struct store_batch *b, const struct version_write *vw)
{
    struct engine_val k = {vw->klen, vw->kbuf};
    void *dst;
    int r = engine_put(b->s->eng, b->txn, vw->table, &k, VER_HDR + vw->hlen + vw->blen, &dst);
    if (r)
        return r;
    fill_version(dst, &k, b->gen, vw->hdr, vw->hlen, vw->body, vw->blen);
    b->wrote = true;
    return 0;
}

/* The old head (*old, found by engine_insert) when a snapshot needs it: a
 * copy in small or on the heap (*copy), else NULL. *hgen is its
 * generation, read only when there are snapshots. */
static int old_head_for_snapshot(struct store_batch *b, const struct version_write *vw,
                                 const struct engine_val *old, unsigned char *small, size_t smax,
                                 unsigned char **copy, uint64_t *hgen)
{
    struct engine_val k = {vw->klen, vw->kbuf};
    *copy = NULL;
    *hgen = 0;
    if (old->len < VER_HDR + 1)
        return corrupt(b->s, vw->table, &k, "record too short");
    /* With no snapshot the old head is replaced whatever it holds: it is
     * not read, so its checksum need not be checked either (a damaged one
     * leaves a tally wrong, where a check finds it). */
    if (!b->snapmax)
        return 0;
    int r = version_ok(b->s, vw->table, &k, old);
    if (r)
        return r;
    *hgen = rec_gen(old);
    if (*hgen == b->gen || b->snapmax < *hgen) /* no snapshot sees it */
        return 0;
    *copy = old->len <= smax ? small : malloc(old->len);
    if (!*copy)
        return ghost_set_error(-ENOMEM, "store %s: out of memory", b->s->path);
    memcpy(*copy, old->data, old->len);
    return 0;
}

/* Put the head of a key: one search, which finds the old head if there is
 * one (kept first if a snapshot needs it). *oldck is the old head's
 * checksum and *ck the new one's, for the tally; *had whether there was
 * an old head. */
static int put_head(struct store_batch *b, const struct version_write *vw, bool *had,
                    uint64_t *oldck, uint64_t *ck)
{
    struct store *s = b->s;
    struct engine_val k = {vw->klen, vw->kbuf}, old;
    size_t vlen = VER_HDR + vw->hlen + vw->blen;
    unsigned char small[256], *copy;
    uint64_t hgen;
    void *dst;
    int r = engine_insert(s->eng, b->txn, vw->table, &k, vlen, &dst, &old);
    *had = r == -EEXIST;
    if (r == -EEXIST) {
        r = old_head_for_snapshot(b, vw, &old, small, sizeof small, &copy, &hgen);
        if (r)
            return r;
        *oldck = get_be64(old.data);
        r = engine_replace(s->eng, b->txn, vw->table, &k, vlen, &dst);
        if (!r) {
            fill_version(dst, &k, b->gen, vw->hdr, vw->hlen, vw->body, vw->blen);
            *ck = get_be64(dst);
            b->wrote = true;
        }
        if (!r && copy)
            r = keep_old(b, vw, copy, old.len, hgen);
        if (copy != small)
            free(copy);
        return r;
    }
    if (r)
        return r;
    fill_version(dst, &k, b->gen, vw->hdr, vw->hlen, vw->body, vw->blen);
    *ck = get_be64(dst);
    b->wrote = true;
    return 0;
}

/* Delete the head of a key, if it has one (*had), keeping it first if a
 * snapshot needs it; *oldck is its checksum. */
static int del_head(struct store_batch *b, const struct version_write *vw, bool *had,
                    uint64_t *oldck)
{
    struct engine_cursor *cur;
    struct engine_val k = {vw->klen, vw->kbuf}, v;
    unsigned char small[256], *copy;
    uint64_t hgen;
    *had = false;
    int r = batch_cursor(b, vw->table, &cur);
    r = r ? r : engine_cursor_seek(cur, ENGINE_EXACT, vw->klen - 8, &k, &v);
    if (r == -ENOENT) /* no head: absent already */
        return 0;
    r = r ? r : old_head_for_snapshot(b, vw, &v, small, sizeof small, &copy, &hgen);
    if (r)
        return r;
    *had = true;
    *oldck = get_be64(v.data);
    b->wrote = true; /* whatever follows changes the head */
    r = delete_head(b, cur, vw, copy, v.len, hgen);
    if (copy != small)
        free(copy);
    return r;
}

/* Write (or, with del, delete) the head version of a key at the batch's
 * generation. The old head moves to an older version only if a snapshot
 * needs it; a delete leaves a tombstone when older versions would otherwise
 * show through. A map key's write changes its map's tally by the old and
 * the new head's checksums, which the search for the old head finds. */
static int write_version(struct store_batch *b, const struct version_write *vw, bool del)
{
    bool tallied = vw->table == ENGINE_MAP && !untallied(b->s, vw->kbuf[8]), had = false;
    uint64_t oldck = 0, ck = 0;
    int r;
    put_be64(vw->kbuf + vw->klen - 8, ~GEN_HEAD);
    /* The common case for objects: no snapshot can need the old head, and
     * no tally its checksum: one put, over whatever is there. */
    if (!del && !b->snapmax && !tallied)
        return put_head_blind(b, vw);
    r = del ? del_head(b, vw, &had, &oldck) : put_head(b, vw, &had, &oldck, &ck);
    if (r || !tallied || (del && !had))
        return r;
    return tally_note(b, vw->kbuf, (uint64_t)!del - (uint64_t)had, ck - oldck);
}

int store_put_obj(struct store_batch *b, uint64_t oid, uint8_t type, const void *data, size_t len)
{
    unsigned char kbuf[OBJ_KEY_LEN], hdr[2] = {0, type};
    struct version_write vw = {ENGINE_OBJ, kbuf, obj_key(kbuf, oid, 0), hdr, data, 2, len};
    int r = note_changed(b, oid);
    return r ? r : write_version(b, &vw, false);
}

int store_del_obj(struct store_batch *b, uint64_t oid)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    struct version_write vw = {ENGINE_OBJ, kbuf, obj_key(kbuf, oid, 0), NULL, NULL, 0, 0};
    int r = note_changed(b, oid);
    return r ? r : write_version(b, &vw, true);
}

int store_put_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
    unsigned char kbuf[MAP_KEY_MAX], hdr = 0;
    struct version_write vw = {ENGINE_MAP, kbuf, map_key(kbuf, owner, map, key, klen, 0), &hdr, val,
                               1,          vlen};
    int r = note_changed(b, owner);
    return r ? r : write_version(b, &vw, false);
}

int store_del_map(struct store_batch *b, uint64_t owner, unsigned map, const void *key, size_t klen)
{
    unsigned char kbuf[MAP_KEY_MAX];
    struct version_write vw = {
        ENGINE_MAP, kbuf, map_key(kbuf, owner, map, key, klen, 0), NULL, NULL, 0, 0};
    int r = note_changed(b, owner);
    return r ? r : write_version(b, &vw, true);
}

/* Add a batch's delta to one map's tally: one search, which finds the old
 * tally if there is one. A tally that comes to zero is deleted (absent
 * means empty). */
static int write_tally(struct store_batch *b, const struct tally_delta *d)
{
    struct store *s = b->s;
    unsigned char kbuf[TALLY_KEY_LEN], val[TALLY_LEN], hdr = 0, small[64], *copy = NULL;
    struct version_write vw = {
        ENGINE_OBJ, kbuf, tally_key(kbuf, d->owner, d->map, GEN_HEAD), &hdr, val, 1, TALLY_LEN};
    struct engine_val k = {TALLY_KEY_LEN, kbuf}, old;
    uint64_t count = d->count, sum = d->sum, hgen = 0;
    void *dst;
    put_be64(val, count);
    put_be64(val + 8, sum);
    int r = engine_insert(s->eng, b->txn, ENGINE_OBJ, &k, VER_HDR + 1 + TALLY_LEN, &dst, &old);
    if (r == 0) {
        fill_version(dst, &k, b->gen, &hdr, 1, val, TALLY_LEN);
        return 0;
    }
    if (r != -EEXIST)
        return r;
    r = version_ok(s, ENGINE_OBJ, &k, &old);
    if (!r && old.len != VER_HDR + 1 + TALLY_LEN)
        r = corrupt(s, ENGINE_OBJ, &k, "tally record of the wrong size");
    if (r)
        return r;
    const unsigned char *p = (const unsigned char *)old.data + VER_HDR + 1;
    count += get_be64(p);
    sum += get_be64(p + 8);
    if (!count && !sum) {
        bool had;
        uint64_t oldck;
        return del_head(b, &vw, &had, &oldck);
    }
    put_be64(val, count);
    put_be64(val + 8, sum);
    r = old_head_for_snapshot(b, &vw, &old, small, sizeof small, &copy, &hgen);
    r = r ? r : engine_replace(s->eng, b->txn, ENGINE_OBJ, &k, VER_HDR + 1 + TALLY_LEN, &dst);
    if (r)
        return r;
    fill_version(dst, &k, b->gen, &hdr, 1, val, TALLY_LEN);
    return copy ? keep_old(b, &vw, copy, VER_HDR + 1 + TALLY_LEN, hgen) : 0;
}

/* Write back the tallies the batch changed, each a version like any key's
 * (a snapshot keeps the one it saw). */
static int write_tallies(struct store_batch *b)
{
    struct store *s = b->s;
    for (size_t i = 0; i < s->tallies.n; i++) {
        const struct tally_delta *d = &s->tallies.v[i];
        if (!d->count && !d->sum)
            continue;
        int r = write_tally(b, d);
        if (r)
            return r;
    }
    tallies_clear(s);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort the changed OIDs and drop duplicates; returns how many remain. */
static size_t sort_changed(struct store_batch *b)
{
    uint64_t *v = b->changed.v;
    size_t nchanged = b->changed.n;
    if (nchanged > 16) {
        qsort(v, nchanged, sizeof *v, cmp_u64);
    } else { /* most batches change a few OIDs: no call per comparison */
        for (size_t i = 1; i < nchanged; i++) {
            uint64_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < nchanged; i++)
        if (!n || v[n - 1] != v[i])
            v[n++] = v[i];
    return n;
}

/* Commit, telling the other connections which OIDs changed. The batch is
 * always finished (committed or aborted) on return. A batch that changed
 * nothing (its deletes found nothing to delete) is aborted: the engine
 * would not give its commit a generation, so its generation must not be
 * told to anyone, nor taken as ours. */
int store_batch_commit(struct store_batch *b)
{
    struct store *s = b->s;
    if (!b->wrote) {
        store_batch_abort(b);
        return 0;
    }
    int r = write_tallies(b);
    if (r) {
        store_batch_abort(b);
        return r;
    }
    size_t n = sort_changed(b);
    uint64_t *changed = b->changed.v;
    /* While a snapshot exists, what changed after it is indexed (change_index.c). */
    if (b->since) {
        r = chidx_note(s, b->txn, b->since, changed, n);
        if (r) {
            store_batch_abort(b);
            return r;
        }
    }
    close_cursors(b);
    /* Handed back before the commit, while we hold the writer's turn: the
     * engine reads the list inside engine_commit, before the next batch
     * can begin and take it. A list too big to keep is freed after. */
    bool keep = keeps_changed(b);
    if (keep)
        give_back_changed(b);
    r = engine_commit(s->eng, b->txn, changed, n, &s->batch_seq_from, &s->batch_seq_to);
    if (!keep)
        vec_free(&b->changed);
    if (r == 0) {
        s->last_batch_gen = b->gen;
        s->last_batch_snapmax = b->snapmax;
    }
    b->txn = NULL;
    return r;
}

struct small_write {
    struct store *s;
    int (*fn)(struct store *s, struct engine_txn *w, void *arg);
    void *arg;
    struct engine_txn *w; /* NULL once ended */
};

/* Run the work and end its transaction; guarded by store_small_write, which
 * aborts the transaction if damage cut this short (w still set). */
static int small_write_fn(void *ctx)
{
    struct small_write *a = ctx;
    int r = a->fn(a->s, a->w, a->arg);
    if (r)
        engine_abort(a->s->eng, a->w);
    else
        r = engine_commit(a->s->eng, a->w, NULL, 0, NULL, NULL);
    a->w = NULL;
    return r;
}

int store_small_write(struct store *s, int (*fn)(struct store *s, struct engine_txn *w, void *arg),
                      void *arg, bool grow)
{
    if (s->readonly)
        return ghost_set_error(-EROFS, "store %s: opened read-only", s->path);
    for (;;) {
        struct small_write a = {s, fn, arg, NULL};
        int r = engine_write_begin(s->eng, &a.w);
        if (r)
            return r;
        r = store_guarded(s, small_write_fn, &a, "committing");
        if (a.w) /* damage cut it short */
            engine_abort(s->eng, a.w);
        if (r != -GHOST_EGROW)
            return r;
        if (!grow)
            return ghost_set_error(-GHOST_ECONFLICT,
                                   "store %s: map full; it grows once open views end", s->path);
        r = engine_grow(s->eng);
        if (r)
            return r;
    }
}
