/*
 * scrub.c - checking every record of the store, in slices: the walk that
 * the crawler and `ghostfs fsck` run (ghost.h: ghost_scrub).
 *
 * One call is one short read view. It walks the meta and snapshot tables
 * (a handful of records), then the objects table, then the maps table, in
 * the engine's order, and stops after max_records records with a cursor
 * that names the next record's key, so that no view stays open long and a
 * walk can be resumed by another call, another connection, or (saved) a
 * later process.
 *
 * Each record is checked on its own: its checksum (seeded with its key, so
 * a record moved under another key fails too) and its shape: a version's
 * header, no tombstone as a head, an older version under the key of the
 * generation it was written at, nothing newer than the view, a tally's
 * size, a snapshot record's size. Findings go to the caller's callback:
 * the caller (fsck, the crawler) reports them; only damage the engine
 * meets in its own pages is logged as well, as every read logs it.
 *
 * Each map is then compared with its tally (docs/format.md, "Tallies").
 * A map's keys are contiguous in the maps table (owner . map first), so
 * the walk adds up the count and the sum of the terms of the heads it
 * passes and compares them with the tally where the map ends. A map that
 * a slice boundary cut is read again whole where it ends, in that slice's
 * view (store_map_count): partial sums carried from an older view could
 * disagree with a newer tally without any damage. A very large map thus
 * costs one long view; the crawler may later carry partial sums instead
 * while the change log shows the owner unchanged. A map with a damaged
 * record is not compared (the record is the finding). A tally that counts
 * keys of a map that holds none is found in the objects table, since the
 * maps table never meets that map.
 */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>

enum { PHASE_START, PHASE_META, PHASE_OBJ, PHASE_MAP };
#define CUT 0x1 /* cursor flag: inside a map begun in an earlier slice */

struct scrub {
    struct store *s;
    struct engine_txn *view;
    uint64_t view_gen;
    const struct ghost_scrub_visit *cb;
    struct ghost_scrub_stats *st;
    struct ghost_scrub_cursor next; /* where the walk stands */
    unsigned budget;                /* records this slice may still read */
    struct engine_cursor *c, *c2;   /* open cursors, closed by ghost_scrub */
    uint64_t last_owner;            /* of the last record read, for a skip past damage */
    bool seen;                      /* a record was read in this slice */
    /* The map being added up (maps table): owner . map. */
    unsigned char prefix[9];
    bool in_map, cut, damaged;
    uint64_t count, sum;
    unsigned char bad_prefix[9]; /* a damaged record's, for the map it belongs to */
    bool has_bad;
};

static const char *table_name(enum engine_table t)
{
    static const char *const names[] = {"meta", "objects", "maps", "snapshots"};
    return names[t];
}

static void report(struct scrub *sc, enum ghost_finding_kind kind, enum engine_table table,
                   uint64_t oid, int map, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void report(struct scrub *sc, enum ghost_finding_kind kind, enum engine_table table,
                   uint64_t oid, int map, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_fetch_add_explicit(&sc->s->damage, 1, memory_order_relaxed);
    sc->st->findings++;
    if (sc->cb && sc->cb->finding) {
        struct ghost_finding f = {kind, table_name(table), oid, map, msg, sc->view_gen};
        sc->cb->finding(sc->cb->arg, &f);
    }
}

/* A record that is wrong in itself, named by its key. */
static void bad_record(struct scrub *sc, enum engine_table table, const struct engine_val *k,
                       const char *why)
{
    const unsigned char *p = k->data;
    char what[160];
    uint64_t oid = 0;
    int map = -1;
    describe_record(table, k, what, sizeof what);
    if (table == ENGINE_OBJ && k->len >= 8) {
        oid = get_be64(p) & ~OBJ_KEY_BIT;
        map = k->len == TALLY_KEY_LEN ? p[16] : -1;
    } else if (table == ENGINE_MAP && k->len >= 9) {
        oid = get_be64(p);
        map = p[8];
    }
    report(sc, GHOST_FIND_BAD_RECORD, table, oid, map, "%s: %s", what, why);
}

/* Check a version record (objects, tallies, map keys). true if it is
 * sound, with *head and *tomb set; else reported. */
static bool version_sound(struct scrub *sc, enum engine_table table, const struct engine_val *k,
                          const struct engine_val *v, bool *head, bool *tomb)
{
    const char *why = NULL;
    if (!cksum_ok(k, v)) {
        why = "record fails its checksum";
    } else if (v->len < VER_HDR + 1) {
        why = "record too short";
    } else {
        unsigned flags = ((const unsigned char *)v->data)[VER_HDR];
        uint64_t gen = rec_gen(v);
        *head = key_gen(k) == GEN_HEAD;
        *tomb = flags & FLAG_TOMBSTONE;
        if (flags & ~FLAG_TOMBSTONE)
            why = "version has unknown flags";
        else if (*tomb && *head)
            why = "a tombstone as the head version";
        else if (*tomb && v->len != VER_HDR + 1)
            why = "a tombstone that holds bytes";
        else if (gen == 0 || gen > sc->view_gen)
            why = "version of a generation the store has not reached";
        else if (!*head && key_gen(k) != gen)
            why = "older version kept under another generation's key";
    }
    if (why)
        bad_record(sc, table, k, why);
    return !why;
}

static void count_record(struct scrub *sc, const struct engine_val *k, const struct engine_val *v)
{
    sc->st->records++;
    sc->st->bytes += k->len + v->len;
}

/* Does the maps table hold any key of owner . map? */
static int map_has_keys(struct scrub *sc, uint64_t owner, unsigned map, bool *any)
{
    unsigned char kbuf[17];
    struct engine_val k, v;
    int r = sc->c2 ? 0 : engine_cursor_open(sc->s->eng, sc->view, ENGINE_MAP, &sc->c2);
    if (r) {
        sc->c2 = NULL;
        return r;
    }
    put_be64(kbuf, owner);
    kbuf[8] = (unsigned char)map;
    put_be64(kbuf + 9, 0);
    k = (struct engine_val){sizeof kbuf, kbuf};
    r = engine_cursor_seek(sc->c2, ENGINE_RANGE, 9, &k, &v);
    if (r && r != -ENOENT)
        return r;
    *any = r == 0 && k.len >= 17 && !memcmp(k.data, kbuf, 9);
    return 0;
}

static bool tallied(const struct store *s, unsigned map)
{
    return s->tallied_from != UINT64_MAX && !(map < 64 && (s->untallied >> map & 1));
}

/* A tally record (objects table): its size, and a map that holds keys if
 * it counts any. */
static int tally_record(struct scrub *sc, const struct engine_val *k, const struct engine_val *v)
{
    bool head, tomb, any;
    const unsigned char *p = k->data;
    if (!version_sound(sc, ENGINE_OBJ, k, v, &head, &tomb))
        return 0;
    if (!tomb && v->len != VER_HDR + 1 + TALLY_LEN) {
        bad_record(sc, ENGINE_OBJ, k, "tally record of the wrong size");
        return 0;
    }
    if (!head) {
        sc->st->older++;
        sc->st->older_bytes += k->len + v->len;
        return 0;
    }
    sc->st->tallies++;
    sc->st->tally_bytes += k->len + v->len;
    uint64_t owner = get_be64(p) & ~OBJ_KEY_BIT,
             count = get_be64((unsigned char *)v->data + VER_HDR + 1);
    if (!count || !tallied(sc->s, p[16]))
        return 0;
    int r = map_has_keys(sc, owner, p[16], &any);
    if (r || any)
        return r;
    report(sc, GHOST_FIND_MAP_SHORT, ENGINE_MAP, owner, p[16],
           "object %llu, map %u holds no keys where its tally counts %llu",
           (unsigned long long)owner, p[16], (unsigned long long)count);
    return 0;
}

static int obj_record(struct scrub *sc, const struct engine_val *k, const struct engine_val *v)
{
    bool head, tomb;
    const unsigned char *p = k->data;
    if (k->len == TALLY_KEY_LEN && get_be64(p + 8) == UINT64_MAX)
        return tally_record(sc, k, v);
    if (k->len != OBJ_KEY_LEN) {
        bad_record(sc, ENGINE_OBJ, k, "a key of no record's shape");
        return 0;
    }
    if (!version_sound(sc, ENGINE_OBJ, k, v, &head, &tomb))
        return 0;
    const unsigned char *val = v->data;
    if (!tomb && (v->len < VER_HDR + 2 || val[VER_HDR + 1] == 0)) {
        bad_record(sc, ENGINE_OBJ, k, "object record without a type");
        return 0;
    }
    if (!head) {
        sc->st->older++;
        sc->st->older_bytes += k->len + v->len;
        return 0;
    }
    sc->st->objects++;
    sc->st->object_bytes += k->len + v->len;
    if (sc->cb && sc->cb->object)
        sc->cb->object(sc->cb->arg, get_be64(p) & ~OBJ_KEY_BIT, val[VER_HDR + 1]);
    return 0;
}

/* Compare the map just left with its tally. */
static int map_finish(struct scrub *sc)
{
    uint64_t owner = get_be64(sc->prefix), count = sc->count, sum = sc->sum, vgen, tc, ts;
    unsigned map = sc->prefix[8];
    bool cut = sc->cut;
    if (!sc->in_map)
        return 0;
    sc->in_map = sc->cut = false;
    if (sc->damaged || !tallied(sc->s, map))
        return 0;
    int r = cut ? store_map_count(sc->s, sc->view, owner, map, GEN_HEAD, &count, &sum) : 0;
    r = r ? r : store_map_tally(sc->s, sc->view, owner, map, GEN_HEAD, &vgen, &tc, &ts);
    if (r == -GHOST_ECORRUPT || r == -ENODATA)
        return 0; /* a damaged record the walk reports itself; no tally kept */
    if (r)
        return r;
    sc->st->maps_checked++;
    if (count == tc && sum == ts)
        return 0;
    enum ghost_finding_kind kind = count < tc   ? GHOST_FIND_MAP_SHORT
                                   : vgen == 0  ? GHOST_FIND_TALLY_MISSING
                                   : count > tc ? GHOST_FIND_MAP_LONG
                                                : GHOST_FIND_MAP_STALE;
    report(sc, kind, ENGINE_MAP, owner, (int)map,
           "object %llu, map %u holds %llu keys where its tally counts %llu%s",
           (unsigned long long)owner, map, (unsigned long long)count, (unsigned long long)tc,
           kind == GHOST_FIND_TALLY_MISSING ? " (it has none)"
           : kind == GHOST_FIND_MAP_STALE   ? ", not the versions it names"
                                            : "");
    return 0;
}

static int map_record(struct scrub *sc, const struct engine_val *k, const struct engine_val *v)
{
    bool head, tomb;
    if (k->len < 17 || k->len > MAP_KEY_MAX) {
        bad_record(sc, ENGINE_MAP, k, "a key of no map key's shape");
        return 0;
    }
    if (!version_sound(sc, ENGINE_MAP, k, v, &head, &tomb)) {
        if (sc->in_map && !memcmp(sc->prefix, k->data, 9))
            sc->damaged = true;
        memcpy(sc->bad_prefix, k->data, 9);
        sc->has_bad = true;
        return 0;
    }
    if (!sc->in_map || memcmp(sc->prefix, k->data, 9)) {
        int r = map_finish(sc);
        if (r)
            return r;
        memcpy(sc->prefix, k->data, 9);
        sc->in_map = true;
        sc->count = sc->sum = 0;
        sc->damaged = sc->has_bad && !memcmp(sc->bad_prefix, sc->prefix, 9);
    }
    if (!head) {
        sc->st->older++;
        sc->st->older_bytes += k->len + v->len;
        return 0;
    }
    unsigned map = ((const unsigned char *)k->data)[8];
    sc->st->map_keys[map]++;
    sc->st->map_bytes[map] += k->len + v->len;
    sc->count++;
    sc->sum += get_be64(v->data); /* a head's term is its checksum */
    return 0;
}

/* Where a table's walk begins: before every object (LMDB keeps its named
 * tables' records in the objects table, below the top bit), or every map. */
static size_t table_start(enum engine_table table, unsigned char *key)
{
    memset(key, 0, 17);
    if (table == ENGINE_OBJ) {
        put_be64(key, OBJ_KEY_BIT);
        return OBJ_KEY_LEN;
    }
    return 17;
}

/* The slice ran out at record k of the maps table: the map being added up
 * goes on in the next slice (cut) or ended here. */
static int map_pause(struct scrub *sc, const struct engine_val *k)
{
    if (sc->in_map && k->len >= 17 && !memcmp(sc->prefix, k->data, 9)) {
        sc->next.flags |= CUT;
        return 0;
    }
    return map_finish(sc);
}

/* walk_table's walk, with sc->c open (closed by walk_table, or after a
 * fault by ghost_scrub). */
static int walk_open(struct scrub *sc, enum engine_table table)
{
    struct engine_val k, v;
    unsigned char start[17];
    int r = engine_cursor_open(sc->s->eng, sc->view, table, &sc->c);
    if (r) {
        sc->c = NULL;
        return r;
    }
    if (sc->next.len)
        k = (struct engine_val){sc->next.len, sc->next.key};
    else
        k = (struct engine_val){table_start(table, start), start};
    int rc = engine_cursor_seek(sc->c, ENGINE_RANGE, 0, &k, &v);
    while (rc == 0 && (sc->budget > 0 || k.len > GHOST_SCRUB_KEY_MAX)) {
        sc->budget -= sc->budget > 0;
        count_record(sc, &k, &v);
        sc->seen = true;
        sc->last_owner = k.len >= 8 ? get_be64(k.data) & ~OBJ_KEY_BIT : 0;
        r = table == ENGINE_OBJ ? obj_record(sc, &k, &v) : map_record(sc, &k, &v);
        if (r)
            return r;
        rc = engine_cursor_next(sc->c, &k, &v);
    }
    if (rc && rc != -ENOENT)
        return rc;
    if (rc == -ENOENT) { /* the table's end ends its last map */
        r = table == ENGINE_MAP ? map_finish(sc) : 0;
        return r ? r : 1;
    }
    sc->next.flags = 0;
    r = table == ENGINE_MAP ? map_pause(sc, &k) : 0;
    if (r)
        return r;
    memcpy(sc->next.key, k.data, k.len); /* borrowed from the view, still open */
    sc->next.len = (uint32_t)k.len;
    return 0;
}

/* Walk one table from sc->next. 1 when it is done, 0 when the slice's
 * budget ran out (sc->next names the next record), or an error. */
static int walk_table(struct scrub *sc, enum engine_table table)
{
    int r = walk_open(sc, table);
    if (sc->c)
        engine_cursor_close(sc->c);
    sc->c = NULL;
    return r;
}

/* The meta and snapshot tables, whole (a few records): checksums, and a
 * snapshot record's size and generation. */
static int walk_small(struct scrub *sc, enum engine_table table)
{
    struct engine_val k, v;
    int r = engine_cursor_open(sc->s->eng, sc->view, table, &sc->c);
    if (r)
        return r;
    int rc = engine_cursor_seek(sc->c, ENGINE_FIRST, 0, &k, &v);
    for (; rc == 0; rc = engine_cursor_next(sc->c, &k, &v)) {
        count_record(sc, &k, &v);
        if (!cksum_ok(&k, &v))
            bad_record(sc, table, &k, "record fails its checksum");
        else if (table == ENGINE_SNAP &&
                 (!snap_len_ok(v.len) ||
                  get_be64((unsigned char *)v.data + CKSUM_LEN) > sc->view_gen))
            bad_record(sc, table, &k, "snapshot record of the wrong size or generation");
    }
    engine_cursor_close(sc->c);
    sc->c = NULL;
    return rc == -ENOENT ? 0 : rc;
}

/* One slice: phases from sc->next on, while the budget lasts. 1 when the
 * walk is complete. */
static int slice_fn(void *ctx)
{
    struct scrub *sc = ctx;
    int r = 0;
    if (sc->next.phase == PHASE_START || sc->next.phase == PHASE_META) {
        r = walk_small(sc, ENGINE_META);
        r = r ? r : walk_small(sc, ENGINE_SNAP);
        if (r)
            return r; /* (damage: skip_damage goes on with the objects) */
        sc->next = (struct ghost_scrub_cursor){.phase = PHASE_OBJ};
    }
    if (!r && sc->next.phase == PHASE_OBJ) {
        r = walk_table(sc, ENGINE_OBJ);
        if (r <= 0)
            return r;
        sc->next = (struct ghost_scrub_cursor){.phase = PHASE_MAP};
        sc->seen = false; /* skip_damage's owner is of this table's records */
        r = 0;
    }
    if (!r && sc->next.phase == PHASE_MAP)
        return walk_table(sc, ENGINE_MAP);
    return r;
}

/* The engine met damage of its own: a finding, and the walk goes on after
 * the object it was in (or after the table, if it could not read one
 * record of it), so that one damaged page does not stop the scrub. */
static int skip_damage(struct scrub *sc)
{
    enum engine_table t = sc->next.phase == PHASE_MAP ? ENGINE_MAP : ENGINE_OBJ;
    uint64_t o = sc->last_owner;
    bool known = sc->seen;
    if (!known && sc->next.phase >= PHASE_OBJ && sc->next.len >= 8) {
        /* Nothing read in this slice: go on after the owner it resumed at
         * (a later one; never back, so the walk ends). */
        o = get_be64(sc->next.key) & (t == ENGINE_OBJ ? ~OBJ_KEY_BIT : UINT64_MAX);
        known = true;
    }
    report(sc, GHOST_FIND_ENGINE, t, known ? o : 0, -1, "%s%s", ghost_errmsg(),
           known ? " (after the last record of the object named)" : "");
    sc->in_map = sc->cut = false;
    if (sc->next.phase < PHASE_OBJ || !known || o >= GHOST_OID_MAX) {
        bool last = sc->next.phase == PHASE_MAP;
        sc->next = (struct ghost_scrub_cursor){.phase = sc->next.phase < PHASE_OBJ ? PHASE_OBJ
                                                                                   : PHASE_MAP};
        return last ? 1 : 0;
    }
    sc->next.flags = 0;
    sc->next.len = (uint32_t)table_start(t, sc->next.key);
    put_be64(sc->next.key, (o + 1) | (t == ENGINE_OBJ ? OBJ_KEY_BIT : 0));
    return 0;
}

int ghost_scrub(struct ghost *g, struct ghost_scrub_cursor *cursor, unsigned max_records,
                const struct ghost_scrub_visit *v, struct ghost_scrub_stats *st)
{
    ghost_clear_error();
    struct scrub sc = {.s = &g->store, .cb = v, .st = st, .next = *cursor};
    sc.budget = max_records ? max_records : 1000;
    if (sc.next.len > GHOST_SCRUB_KEY_MAX || sc.next.phase > PHASE_MAP)
        return ghost_set_error(-EINVAL, "scrub cursor out of range");
    sc.cut = sc.in_map = sc.next.phase == PHASE_MAP && (sc.next.flags & CUT) && sc.next.len >= 9;
    if (sc.cut)
        memcpy(sc.prefix, sc.next.key, 9);
    int r = store_view_begin(sc.s, &sc.view);
    if (r)
        return r;
    sc.view_gen = engine_txn_gen(sc.view);
    r = store_guarded(sc.s, slice_fn, &sc, "scrubbing the store");
    if (sc.c)
        engine_cursor_close(sc.c);
    if (sc.c2)
        engine_cursor_close(sc.c2);
    store_view_end(sc.s, sc.view);
    if (r == -GHOST_ECORRUPT)
        r = skip_damage(&sc);
    if (r < 0)
        return r;
    *cursor = r ? (struct ghost_scrub_cursor){0} : sc.next;
    return r;
}
