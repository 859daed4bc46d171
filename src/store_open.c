/*
 * store_open.c - making, opening and closing a store above the engine: the
 * meta records a new store starts with, the format check every open makes,
 * OID blocks, and the newest generation.
 *
 * The format is checked in a read view the engine runs before it commits
 * to the open (engine_open's check), so a file of another format or of a
 * newer ghostfs is refused before anything is written to it.
 */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

/* The first write transaction of a new store: its meta records. */
static int mkfs_init(void *arg, struct engine *e, struct engine_txn *w)
{
    struct store *s = arg;
    unsigned char uuid[16];
    struct timespec now;
    s->eng = e;
    if (getrandom(uuid, sizeof uuid, 0) != sizeof uuid)
        return ghost_set_error(-EIO, "%s: no random bytes for the uuid", s->path);
    clock_gettime(CLOCK_REALTIME, &now);
    int r = put_meta64(s, w, "format", GHOST_FORMAT);
    r = r ? r : put_value(s, w, ENGINE_META, "uuid", 4, NULL, 0, uuid, sizeof uuid);
    r = r ? r : put_meta64(s, w, "next_oid", GHOST_OID_FIRST);
    r = r ? r : put_meta64(s, w, "tallied", 0);
    r = r ? r : put_meta64(s, w, "untallied", s->untallied);
    r = r ? r : put_meta64(s, w, "snapmax", 0);
    r = r ? r : chidx_start(s, w);
    r = r ? r
          : put_meta64(s, w, "created", (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    return r;
}

int store_mkfs(const char *path, uint64_t untallied)
{
    struct store s = {.path = (char *)path, .untallied = untallied};
    return engine_mkfs(path, mkfs_init, &s);
}

/* The format that added map tallies; a store of the one before is
 * converted on its first writable open. */
#define FORMAT_TALLIES 3

/* Check the format record and read the uuid (engine_open's check). */
static int check_format(void *arg, struct engine *e, struct engine_txn *view,
                        unsigned char uuid[16])
{
    struct store *s = arg;
    uint64_t format;
    s->eng = e;
    int r = get_meta64(s, view, "format", &format);
    if (r == -ENOENT)
        return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (no format record)",
                               s->path);
    if (!r && format > GHOST_FORMAT)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: store format %llu is newer than this ghostfs "
                               "understands (%d); upgrade ghostfs",
                               s->path, (unsigned long long)format, GHOST_FORMAT);
    if (!r && format < FORMAT_TALLIES - 1)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: store format %llu is older than this ghostfs reads "
                               "(%d); it has no converter: copy the files out with the "
                               "ghostfs that made the store",
                               s->path, (unsigned long long)format, GHOST_FORMAT);
    r = r ? r : get_meta(s, view, "uuid", s->uuid, sizeof s->uuid);
    if (r)
        return r;
    memcpy(uuid, s->uuid, sizeof s->uuid);
    s->format = format;
    if (format < FORMAT_TALLIES) {
        s->tallied_from = UINT64_MAX;
        return 0;
    }
    r = get_meta64(s, view, "tallied", &s->tallied_from);
    if (r == -ENOENT) { /* made with tallies: every generation has them */
        s->tallied_from = 0;
        r = 0;
    }
    r = r ? r : get_meta64(s, view, "untallied", &s->untallied);
    if (r == -ENOENT) { /* converted: every map keeps one */
        s->untallied = 0;
        r = 0;
    }
    return r;
}

/* Write the tally of the map whose key prefix (owner . map) is in kbuf. */
static int put_tally(struct store *s, struct engine_txn *w, const unsigned char *prefix,
                     uint64_t count, uint64_t sum)
{
    unsigned char kbuf[TALLY_KEY_LEN], val[TALLY_LEN], hdr = 0;
    tally_key(kbuf, get_be64(prefix), prefix[8], GEN_HEAD);
    assert(sizeof kbuf == TALLY_KEY_LEN);
    put_be64(val, count);
    put_be64(val + 8, sum);
    return put_version(s, w, ENGINE_OBJ, kbuf, sizeof kbuf, engine_txn_gen(w), &hdr, 1, val,
                       sizeof val);
}

/* Convert a store of the format before tallies: walk every map's heads,
 * checking each, and write each map's tally; then the new format. One
 * write transaction, so that a crash leaves the store as it was. */
static int convert_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct engine_cursor *cur;
    struct engine_val k, v;
    unsigned char prefix[9], kbuf[MAP_KEY_MAX];
    uint64_t count = 0, sum = 0, *gen = arg;
    int r = engine_cursor_open(s->eng, w, ENGINE_MAP, &cur);
    if (r)
        return r;
    int rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0 && !r) {
        const unsigned char *p = k.data;
        if (k.len < 18 || k.len > MAP_KEY_MAX || get_be64(p + k.len - 8) != ~GEN_HEAD) {
            rc = engine_cursor_next(cur, &k, &v); /* an older version: not counted */
            continue;
        }
        r = version_ok(s, ENGINE_MAP, &k, &v);
        if (!r && count && memcmp(prefix, p, 9)) {
            /* A new map: write the last one's tally (in another table:
             * the cursor stays on k, but k's bytes may move with a
             * page the put touches, so find it again from a copy). */
            memcpy(kbuf, p, k.len);
            size_t klen = k.len;
            r = put_tally(s, w, prefix, count, sum);
            count = sum = 0;
            k = (struct engine_val){klen, kbuf};
            rc = r ? 0 : engine_cursor_seek(cur, ENGINE_EXACT, klen - 8, &k, &v);
            continue;
        }
        if (r)
            break;
        memcpy(prefix, p, 9);
        count++;
        sum += get_be64(v.data);
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    if (!r && rc != -ENOENT)
        r = rc;
    if (!r && count)
        r = put_tally(s, w, prefix, count, sum);
    *gen = engine_txn_gen(w);
    r = r ? r : put_meta64(s, w, "tallied", *gen);
    return r ? r : put_meta64(s, w, "format", FORMAT_TALLIES);
}

struct convert_args {
    struct store *s;
    uint64_t gen;
};

static int convert_run(void *ctx)
{
    struct convert_args *a = ctx;
    return store_small_write(a->s, convert_fn, &a->gen, true);
}

/* Bring a store of an older format up to this one, or, opened read-only,
 * read it as it is (without tallies). */
static int convert(struct store *s)
{
    if (s->format == GHOST_FORMAT)
        return 0;
    if (s->readonly) {
        ghost_log(GHOST_LOG_INFO,
                  "store %s: format %llu, read-only: read without map tallies (a writable "
                  "open converts it to format %d)",
                  s->path, (unsigned long long)s->format, GHOST_FORMAT);
        return 0;
    }
    ghost_log(GHOST_LOG_INFO, "store %s: converting format %llu to %d (map tallies)", s->path,
              (unsigned long long)s->format, GHOST_FORMAT);
    struct convert_args a = {s, 0};
    int r = engine_guarded(s->eng, convert_run, &a, "converting the store");
    if (r)
        return ghost_set_error(r, "store %s: converting format %llu to %d failed: %s", s->path,
                               (unsigned long long)s->format, GHOST_FORMAT, ghost_errmsg());
    s->format = GHOST_FORMAT;
    s->tallied_from = a.gen;
    return 0;
}

int store_open(struct store *s, const char *path, const struct store_opts *o)
{
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path)
        return ghost_set_error(-ENOMEM, "%s: out of memory", path);
    s->readonly = o->readonly;
    struct engine_opts eo = {.sync = o->sync,
                             .readonly = o->readonly,
                             .fresh = o->fresh,
                             .map_bytes = o->map_bytes,
                             .reserve_bytes = o->reserve_bytes,
                             .log_entries = o->log_entries,
                             .accept_rollback = o->accept_rollback};
    s->quiet = true; /* open errors are returned, not logged */
    int r = engine_open(&s->eng, path, &eo, check_format, s);
    s->quiet = false;
    if (!r) {
        r = convert(s);
        if (r)
            engine_close(s->eng);
    }
    if (r) {
        s->eng = NULL;
        free(s->path);
        s->path = NULL;
    }
    return r;
}

void store_close(struct store *s)
{
    if (!s->eng)
        return;
    engine_close(s->eng);
    s->eng = NULL;
    vec_free(&s->changed_spare);
    vec_free(&s->tallies);
    htab_destroy(&s->tally_index);
    free(s->path);
    s->path = NULL;
}

static int oid_block_fn(struct store *s, struct engine_txn *w, void *arg)
{
    uint64_t *nf = arg; /* in: how many; out: the first */
    uint64_t next = 0;
    int r = get_meta64(s, w, "next_oid", &next);
    r = r ? r : put_meta64(s, w, "next_oid", next + nf[0]);
    nf[1] = next;
    return r;
}

int store_oid_block(struct store *s, uint64_t n, uint64_t *first, bool grow)
{
    uint64_t nf[2] = {n, 0};
    int r = store_small_write(s, oid_block_fn, nf, grow);
    if (!r)
        *first = nf[1];
    return r;
}
