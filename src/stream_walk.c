/*
 * stream_walk.c - what differs between two generations: a walk over every
 * key of the objects and maps tables, comparing the version each
 * generation sees (internal.h: stream_walk). send.c writes what it finds
 * as a stream; receive.c uses it to list what a full stream replaces.
 *
 * A key's versions are contiguous, the head first and then the older ones
 * newest first (record.h), so the version a generation G sees is the
 * first of the key's records written at or before G (a tombstone there:
 * absent). Two generations see the same thing when they see the same
 * version, which one generation number names: no bytes are compared. The
 * walk of every key therefore costs in proportion to the store.
 *
 * Given the owners whose keys changed (the change index, change_index.c),
 * the walk visits only theirs, seeking from one owner to the next: it
 * then costs in proportion to the change.
 *
 * The walk is resumable by key (struct walk_pos), so that a caller reads
 * a large store in many short views. It resumes at the first record of
 * the next key it has not visited: a version written meanwhile lands in
 * front of that key's older ones, never between two keys already passed.
 */
#include "record.h"

#include <errno.h>

/* The part of a versioned key that names the key (its suffix dropped). */
static inline size_t part_len(const struct engine_val *k)
{
    return k->len - 8;
}

/* Is this record of the objects table an object's (not a tally, nor an
 * engine's own record)? */
static inline bool is_object(const struct engine_val *k)
{
    return k->len == OBJ_KEY_LEN && (((const unsigned char *)k->data)[0] & 0x80);
}

struct walk {
    struct store *s;
    struct engine_txn *t;
    struct walk_pos *pos;
    uint64_t from, to;
    unsigned budget;
    walk_fn fn;
    void *arg;
    int stop;                  /* fn's positive return: the slice ends after this key */
    struct engine_cursor *cur; /* open only if damage cut the walk short */
};

/* One key's records, from the cursor's record on: the versions `from` and
 * `to` see (NULL: absent). Leaves the cursor on the next key's first
 * record (rc -ENOENT past the table's end). */
static int read_key(struct walk *w, struct engine_val *k, struct engine_val *v, int *rc,
                    unsigned char *part, size_t plen, struct engine_val *at_to,
                    struct engine_val *at_from)
{
    enum engine_table table = w->pos->table;
    bool got_to = false, got_from = w->from == 0;
    at_to->data = at_from->data = NULL;
    while (*rc == 0 && k->len == plen + 8 && !memcmp(k->data, part, plen)) {
        if (!got_to || !got_from) {
            int r = version_ok(w->s, table, k, v);
            if (r)
                return r;
            uint64_t g = rec_gen(v);
            if (!got_to && g <= w->to) {
                got_to = true;
                if (!is_tombstone(v))
                    *at_to = *v;
            }
            if (!got_from && g <= w->from) {
                got_from = true;
                if (!is_tombstone(v))
                    *at_from = *v;
            }
        }
        *rc = engine_cursor_next(w->cur, k, v);
    }
    return 0;
}

static int visit(struct walk *w, const unsigned char *part, size_t plen,
                 const struct engine_val *at_to, const struct engine_val *at_from)
{
    if (!at_to->data && !at_from->data)
        return 0;
    if (at_to->data && at_from->data && rec_gen(at_to) == rec_gen(at_from))
        return 0; /* one version: the same bytes */
    struct walk_item it = {.table = w->pos->table, .owner = get_be64(part)};
    if (w->pos->table == ENGINE_OBJ) {
        it.owner &= ~OBJ_KEY_BIT;
    } else {
        it.map = part[8];
        it.key = part + 9;
        it.klen = plen - 9;
    }
    if (at_to->data) {
        it.val = (const unsigned char *)at_to->data + VER_HDR + 1;
        it.vlen = at_to->len - VER_HDR - 1;
        if (w->pos->table == ENGINE_OBJ && it.vlen < 1)
            return corrupt(w->s, ENGINE_OBJ, at_to, "object record too short");
    }
    return w->fn(w->arg, &it);
}

static int walk_table(struct walk *w)
{
    struct walk_pos *pos = w->pos;
    unsigned char kbuf[MAP_KEY_MAX], part[MAP_KEY_PART_MAX];
    struct engine_val k, v, at_to, at_from;
    enum engine_seek how = ENGINE_RANGE;
    int r = engine_cursor_open(w->s->eng, w->t, pos->table, &w->cur);
    if (r) {
        w->cur = NULL;
        return r;
    }
    if (pos->len) { /* the first record of the key to resume at */
        memcpy(kbuf, pos->part, pos->len);
        memset(kbuf + pos->len, 0, 8);
        k = (struct engine_val){pos->len + 8, kbuf};
    } else if (pos->table == ENGINE_OBJ) { /* past the engine's own records */
        k = (struct engine_val){obj_key(kbuf, 0, GEN_HEAD), kbuf};
    } else {
        how = ENGINE_FIRST;
    }
    int rc = engine_cursor_seek(w->cur, how, 0, &k, &v);
    size_t oi = 0; /* pos->owners[oi]: the next owner walked */
    while (rc == 0) {
        if (pos->owners && k.len >= 8) {
            uint64_t owner = get_be64(k.data) & ~(pos->table == ENGINE_OBJ ? OBJ_KEY_BIT : 0);
            while (oi < pos->nowners && pos->owners[oi] < owner)
                oi++;
            if (oi == pos->nowners) {
                rc = -ENOENT; /* no owner of the set is left in this table */
                break;
            }
            if (pos->owners[oi] > owner) { /* skip to its first key */
                uint64_t o = pos->owners[oi];
                k = (struct engine_val){pos->table == ENGINE_OBJ
                                            ? obj_key(kbuf, o, GEN_HEAD)
                                            : map_key(kbuf, o, 0, NULL, 0, GEN_HEAD),
                                        kbuf};
                rc = engine_cursor_seek(w->cur, ENGINE_RANGE, 0, &k, &v);
                continue;
            }
        }
        bool ours =
            pos->table == ENGINE_MAP ? k.len >= 9 + 1 + 8 && k.len <= MAP_KEY_MAX : is_object(&k);
        if (!ours) {
            if (pos->table == ENGINE_MAP)
                return corrupt(w->s, ENGINE_MAP, &k, "key of no map key's length");
            rc = engine_cursor_next(w->cur, &k, &v); /* a tally: the receiver keeps its own */
            continue;
        }
        size_t plen = part_len(&k);
        memcpy(part, k.data, plen);
        if (w->budget == 0) { /* resume here, in the next view */
            memcpy(pos->part, part, plen);
            pos->len = plen;
            break;
        }
        w->budget--;
        r = read_key(w, &k, &v, &rc, part, plen, &at_to, &at_from);
        r = r ? r : visit(w, part, plen, &at_to, &at_from);
        if (r > 0) {
            /* Stop after this key: the budget's path above saves the next
             * key as the place to resume, as at the end of any slice. */
            w->stop = r;
            w->budget = 0;
            r = 0;
        }
        if (r)
            break;
    }
    engine_cursor_close(w->cur);
    w->cur = NULL;
    if (r)
        return r;
    if (rc == -ENOENT) { /* this table is done */
        pos->len = 0;
        if (pos->table == ENGINE_OBJ)
            pos->table = ENGINE_MAP;
        else
            pos->done = true;
        return 0;
    }
    return rc;
}

static int walk_fn_guarded(void *ctx)
{
    struct walk *w = ctx;
    int r = 0;
    while (r == 0 && !w->pos->done && w->budget > 0)
        r = walk_table(w);
    return r;
}

int stream_walk(struct store *s, struct engine_txn *t, struct walk_pos *pos, uint64_t from,
                uint64_t to, unsigned max_keys, walk_fn fn, void *arg)
{
    assert(pos->table == ENGINE_OBJ || pos->table == ENGINE_MAP);
    assert(from < to);
    struct walk w = {s, t, pos, from, to, max_keys ? max_keys : 1, fn, arg, 0, NULL};
    int r = store_guarded(s, walk_fn_guarded, &w, "walking the store");
    if (w.cur)
        engine_cursor_close(w.cur);
    return r ? r : w.stop;
}
