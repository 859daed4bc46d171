/*
 * store_read.c - reading versioned keys at a generation: one object, one
 * map key, or a map in key order (record.h describes the versions).
 *
 * Every read runs inside engine_guarded, so that a damaged page the engine
 * meets becomes -GHOST_ECORRUPT for that one read; a cursor the read had
 * open when the guard cut it short is closed here, and the view is the
 * caller's to set aside (txn.c does). What a read returns is borrowed from
 * the engine until the view ends.
 */
#include "record.h"

#include <errno.h>

/* Find the version of a key (kbuf, its suffix to be filled in) visible at
 * `at`: the head if it is no newer than `at`, else the newest older version
 * written at or before `at`. Returns 0 with *k and *v set (possibly a
 * tombstone), -ENOENT, or an error. */
static int seek_version(struct store *s, struct engine_cursor *cur, enum engine_table table,
                        unsigned char *kbuf, size_t klen, uint64_t at, struct engine_val *k,
                        struct engine_val *v)
{
    put_be64(kbuf + klen - 8, ~GEN_HEAD);
    *k = (struct engine_val){klen, kbuf};
    int r = engine_cursor_seek(cur, ENGINE_EXACT, klen - 8, k, v);
    if (r && r != -ENOENT)
        return r;
    if (r == 0) {
        r = version_ok(s, table, k, v);
        if (r || rec_gen(v) <= at)
            return r;
    }
    if (at == GEN_HEAD)
        return -ENOENT; /* no head: absent (the newest older one is a tombstone) */
    put_be64(kbuf + klen - 8, ~at);
    *k = (struct engine_val){klen, kbuf};
    r = engine_cursor_seek(cur, ENGINE_RANGE, klen - 8, k, v);
    if (r)
        return r;
    if (!same_key(k, kbuf, klen))
        return -ENOENT;
    return version_ok(s, table, k, v);
}

/* *cur: the cursor a read at a snapshot opens, NULL again once closed. */
static int read_version_raw(struct store *s, struct engine_txn *view, enum engine_table table,
                            unsigned char *kbuf, size_t klen, uint64_t at, uint64_t *vgen,
                            const unsigned char **body, size_t *blen, struct engine_cursor **cur)
{
    struct engine_val k, v;
    int r;
    *vgen = 0;
    if (at == GEN_HEAD) { /* the common case: one lookup, no cursor */
        put_be64(kbuf + klen - 8, ~GEN_HEAD);
        k = (struct engine_val){klen, kbuf};
        r = engine_get(s->eng, view, table, &k, &v);
        r = r ? r : version_ok(s, table, &k, &v);
    } else {
        r = engine_cursor_open(s->eng, view, table, cur);
        if (r) {
            *cur = NULL;
            return r;
        }
        r = seek_version(s, *cur, table, kbuf, klen, at, &k, &v);
        engine_cursor_close(*cur);
        *cur = NULL;
    }
    if (r)
        return r;
    const unsigned char *p = v.data;
    if (p[VER_HDR] & FLAG_TOMBSTONE)
        return -ENOENT;
    *vgen = rec_gen(&v);
    *body = p + VER_HDR + 1;
    *blen = v.len - VER_HDR - 1;
    return 0;
}

struct read_args {
    struct store *s;
    struct engine_txn *view;
    enum engine_table table;
    unsigned char *kbuf;
    size_t klen;
    uint64_t at, *vgen;
    const unsigned char **body;
    size_t *blen;
    struct engine_cursor *cur; /* open only if damage cut the read short */
};

static int read_fn(void *ctx)
{
    struct read_args *a = ctx;
    return read_version_raw(a->s, a->view, a->table, a->kbuf, a->klen, a->at, a->vgen, a->body,
                            a->blen, &a->cur);
}

static int read_version(struct store *s, struct engine_txn *view, enum engine_table table,
                        unsigned char *kbuf, size_t klen, uint64_t at, uint64_t *vgen,
                        const unsigned char **body, size_t *blen)
{
    struct read_args a = {s, view, table, kbuf, klen, at, vgen, body, blen, NULL};
    *vgen = 0;
    int r = engine_guarded(s->eng, read_fn, &a, "reading a record");
    if (a.cur)
        engine_cursor_close(a.cur);
    return r;
}

int store_obj_read(struct store *s, struct engine_txn *view, uint64_t oid, uint64_t at,
                   uint64_t *vgen, uint8_t *type, const void **data, size_t *len)
{
    unsigned char kbuf[OBJ_KEY_LEN];
    const unsigned char *body;
    size_t blen;
    int r = read_version(s, view, ENGINE_OBJ, kbuf, obj_key(kbuf, oid, 0), at, vgen, &body, &blen);
    if (r)
        return r;
    if (blen < 1) {
        struct engine_val k = {OBJ_KEY_LEN, kbuf};
        return corrupt(s, ENGINE_OBJ, &k, "object record too short");
    }
    *type = body[0];
    *data = body + 1;
    *len = blen - 1;
    return 0;
}

int store_map_read(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                   const void *key, size_t klen, uint64_t at, uint64_t *vgen, const void **val,
                   size_t *vlen)
{
    unsigned char kbuf[MAP_KEY_MAX];
    const unsigned char *body;
    size_t blen;
    int r = read_version(s, view, ENGINE_MAP, kbuf, map_key(kbuf, owner, map, key, klen, 0), at,
                         vgen, &body, &blen);
    if (r)
        return r;
    *val = body;
    *vlen = blen;
    return 0;
}

/* What a scan hands each visible version: its key and value, checked. */
typedef int (*scan_visit)(void *arg, const struct engine_val *k, const struct engine_val *v);

/* Scan one map in key order, each key at the version visible at `at`. The
 * cursor rests on the first record of each key in turn (its head, or the
 * newest older version); older versions are looked up only for a snapshot
 * and skipped otherwise. Every seek tells the engine the walk stays
 * within owner . map (9 bytes), so a remote one can read ahead that far. */
static int map_scan_raw(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                        const void *start, size_t slen, uint64_t at, scan_visit visit, void *arg,
                        struct engine_cursor **curp)
{
    unsigned char kbuf[MAP_KEY_MAX];
    struct engine_cursor *cur;
    struct engine_val k, v;
    size_t klen = map_key(kbuf, owner, map, start, slen, GEN_HEAD);
    int r = engine_cursor_open(s->eng, view, ENGINE_MAP, &cur);
    if (r)
        return r;
    *curp = cur; /* for store_map_scan to close if damage cuts the scan short */
    k = (struct engine_val){klen, kbuf};
    int rc = engine_cursor_seek(cur, ENGINE_RANGE, 9, &k, &v);
    r = 0;
    while (rc == 0) {
        const unsigned char *p = k.data;
        if (k.len < 17 || get_be64(p) != owner || p[8] != map)
            break;
        if (k.len > MAP_KEY_MAX) {
            r = corrupt(s, ENGINE_MAP, &k, "key longer than any map key");
            break;
        }
        r = version_ok(s, ENGINE_MAP, &k, &v);
        if (r)
            break;
        klen = k.len;
        memcpy(kbuf, p, klen - 8);
        if (rec_gen(&v) > at) { /* too new for this view: the older version at `at` */
            put_be64(kbuf + klen - 8, ~at);
            k = (struct engine_val){klen, kbuf};
            rc = engine_cursor_seek(cur, ENGINE_RANGE, 9, &k, &v);
            if (rc)
                break;
            if (!same_key(&k, kbuf, klen))
                continue; /* nothing that old: k is the next key's first record */
            r = version_ok(s, ENGINE_MAP, &k, &v);
            if (r)
                break;
        }
        if (!is_tombstone(&v) && (r = visit(arg, &k, &v)) != 0)
            break;
        /* On to the next key, past this one's older versions (rare). */
        do
            rc = engine_cursor_next(cur, &k, &v);
        while (rc == 0 && same_key(&k, kbuf, klen));
    }
    engine_cursor_close(cur);
    *curp = NULL;
    if (r)
        return r;
    if (rc && rc != -ENOENT)
        return rc;
    return 0;
}

struct scan_args {
    struct store *s;
    struct engine_txn *view;
    uint64_t owner;
    unsigned map;
    const void *start;
    size_t slen;
    uint64_t at;
    scan_visit visit;
    void *arg;
    ghost_scan_fn fn; /* a caller's scan: its function and argument */
    void *fn_arg;
    struct engine_cursor *cur; /* open only if damage cut the scan short */
};

static int scan_fn(void *ctx)
{
    struct scan_args *a = ctx;
    return map_scan_raw(a->s, a->view, a->owner, a->map, a->start, a->slen, a->at, a->visit, a->arg,
                        &a->cur);
}

/* Run a scan guarded; a fault that cut it short left its cursor open. */
static int guarded_scan(struct scan_args *a, scan_visit visit, void *arg, const char *doing)
{
    a->visit = visit;
    a->arg = arg;
    a->cur = NULL;
    int r = engine_guarded(a->s->eng, scan_fn, a, doing);
    if (a->cur)
        engine_cursor_close(a->cur);
    return r;
}

/* A caller's scan sees a key and its bytes. */
static int visit_caller(void *arg, const struct engine_val *k, const struct engine_val *v)
{
    struct scan_args *a = arg;
    const unsigned char *key = k->data, *val = v->data;
    return a->fn(a->fn_arg, key + 9, k->len - 17, val + VER_HDR + 1, v->len - VER_HDR - 1);
}

int store_map_scan(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                   const void *start, size_t slen, uint64_t at, ghost_scan_fn fn, void *arg)
{
    struct scan_args a = {s, view, owner, map, start, slen, at, NULL, NULL, fn, arg, NULL};
    return guarded_scan(&a, visit_caller, &a, "scanning a map");
}

/* A map's tally as a view at `at` sees it: -ENODATA where the store kept
 * none. */
int store_map_tally(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                    uint64_t at, uint64_t *vgen, uint64_t *count, uint64_t *sum)
{
    const void *val;
    size_t vlen;
    *count = *sum = 0;
    *vgen = 0;
    if (at < s->tallied_from || s->tallied_from == UINT64_MAX ||
        (map < 64 && (s->untallied >> map & 1)))
        return ghost_set_error(-ENODATA, "store %s: no tally at generation %llu", s->path,
                               (unsigned long long)at);
    unsigned char kbuf[TALLY_KEY_LEN];
    size_t klen = tally_key(kbuf, owner, map, GEN_HEAD);
    int r = read_version(s, view, ENGINE_OBJ, kbuf, klen, at, vgen, (const unsigned char **)&val,
                         &vlen);
    if (r == -ENOENT)
        return 0;
    if (r)
        return r;
    if (vlen != TALLY_LEN) {
        struct engine_val k = {klen, kbuf};
        return corrupt(s, ENGINE_OBJ, &k, "tally record of the wrong size");
    }
    *count = get_be64(val);
    *sum = get_be64((const unsigned char *)val + 8);
    return 0;
}

/* Adds up what a scan finds, as a tally would. */
static int visit_tally(void *arg, const struct engine_val *k, const struct engine_val *v)
{
    uint64_t *t = arg;
    t[0]++;
    t[1] += version_term(k, v);
    return 0;
}

int store_map_count(struct store *s, struct engine_txn *view, uint64_t owner, unsigned map,
                    uint64_t at, uint64_t *count, uint64_t *sum)
{
    uint64_t t[2] = {0, 0};
    struct scan_args a = {s, view, owner, map, NULL, 0, at, NULL, NULL, NULL, NULL, NULL};
    int r = guarded_scan(&a, visit_tally, t, "checking a map");
    *count = t[0];
    *sum = t[1];
    return r;
}
