/*
 * crawl_findings.c - the findings the crawler keeps: the last
 * GHOST_CRAWL_FINDINGS things its scrub found wrong, each with its
 * object, its map, what is wrong and the generation it was first found
 * at, so that `ghostfs status` can list them long after the log lines
 * scrolled away, and from another process (ghost_crawl_findings).
 *
 * A ring, least recently found first: damage that stays is found again
 * every cycle, so a finding made again moves its entry to the end
 * instead of adding one, and an entry that a whole cycle did not find
 * again is dropped (repaired, or its object deleted). Only when more
 * than GHOST_CRAWL_FINDINGS things are wrong at once does the oldest
 * fall out.
 *
 * The caller's hook (ghost_crawl_options.found) is told of each finding
 * after the slice that made it, outside the scrub's read view, so that
 * it may read the store (the filesystem names the object by its path).
 *
 * The ring is kept in the meta record "crawl.findings", written in the
 * crawler's own write transactions (with its state, crawl.c) when it
 * changed. It is a record of its own, not more bytes of the state record
 * "crawl", because the state's decoder refuses any other length: an
 * older ghostfs opening the store goes on reading its state and never
 * sees this one. Its bytes (docs/format.md):
 *
 *   u64 format (1) . u64 count . count x entry
 *   entry: u64 oid . u64 generation . u64 cycle . u8 kind . u8 table
 *          . u16 map (0xffff: the object itself) . u8 len . message[len]
 *
 * all big-endian. The findings are remade by every cycle, so a record
 * that is damaged or of a newer format is read as none and written again.
 */
#include "crawl_findings.h"

#include <stdio.h>
#include <string.h>

#include "record.h"

#define FINDINGS_KEY "crawl.findings"
#define FINDINGS_FORMAT 1
#define ENTRY_FIXED (3 * 8 + 1 + 1 + 2 + 1)
#define NO_MAP 0xffff

static const char *const tables[] = {"meta", "objects", "maps", "snapshots"};

void findings_init(struct crawl_findings *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

void findings_destroy(struct crawl_findings *r)
{
    pthread_mutex_destroy(&r->lock);
}

static bool same(const struct ghost_crawl_finding *e, const struct ghost_crawl_finding *f)
{
    return e->kind == f->kind && e->oid == f->oid && e->map == f->map &&
           !strcmp(e->table, f->table) && !strcmp(e->message, f->message);
}

/* Drop entry i, the later ones moving up. Called with r->lock held. */
static void drop(struct crawl_findings *r, unsigned i)
{
    assert(i < r->n);
    memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof r->v[0]);
    memmove(&r->told[i], &r->told[i + 1], (r->n - i - 1) * sizeof r->told[0]);
    r->n--;
    r->dirty = true;
}

void findings_add(struct crawl_findings *r, const struct ghost_finding *f, uint64_t cycle,
                  bool told)
{
    struct ghost_crawl_finding e;
    memset(&e, 0, sizeof e);
    e.kind = f->kind;
    snprintf(e.table, sizeof e.table, "%s", f->table ? f->table : "");
    e.oid = f->oid;
    e.map = f->map;
    e.generation = f->generation;
    e.cycle = cycle;
    snprintf(e.message, sizeof e.message, "%s", f->message ? f->message : "");
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->n; i++)
        if (same(&r->v[i], &e)) {
            e.generation = r->v[i].generation; /* when it was first found */
            drop(r, i);
            break;
        }
    if (r->n == GHOST_CRAWL_FINDINGS) {
        if (!r->told[0]) /* more at once than the ring holds: not lost to the log */
            ghost_log(GHOST_LOG_ERR, "crawler: %s", r->v[0].message);
        drop(r, 0);
    }
    r->v[r->n] = e;
    r->told[r->n++] = told;
    r->dirty = true;
    pthread_mutex_unlock(&r->lock);
}

void findings_cycle_done(struct crawl_findings *r, uint64_t cycle)
{
    pthread_mutex_lock(&r->lock);
    for (unsigned i = r->n; i-- > 0;)
        if (r->v[i].cycle < cycle)
            drop(r, i);
    pthread_mutex_unlock(&r->lock);
}

void findings_tell(struct crawl_findings *r, const struct ghost_crawl_options *o)
{
    if (!o->found)
        return;
    /* Only this thread changes the ring, so the entries stay where they
     * are while the hook runs without the lock. */
    for (unsigned i = 0;; i++) {
        struct ghost_crawl_finding e;
        pthread_mutex_lock(&r->lock);
        bool more = i < r->n;
        bool tell = more && !r->told[i];
        if (tell) {
            e = r->v[i];
            r->told[i] = true;
        }
        pthread_mutex_unlock(&r->lock);
        if (!more)
            return;
        if (tell)
            o->found(o->found_arg, &e);
    }
}

void findings_copy(struct crawl_findings *r, struct ghost_crawl_finding *out, unsigned max,
                   unsigned *n)
{
    pthread_mutex_lock(&r->lock);
    *n = r->n < max ? r->n : max;
    memcpy(out, r->v, *n * sizeof *out);
    pthread_mutex_unlock(&r->lock);
}

/* ---- the record's bytes ---- */

static int table_index(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, tables[i]))
            return i;
    return 0;
}

/* Encode n entries into buf; its length. */
static size_t encode(const struct ghost_crawl_finding *v, unsigned n, unsigned char *buf)
{
    unsigned char *p = buf;
    put_be64(p, FINDINGS_FORMAT);
    put_be64(p + 8, n);
    p += 16;
    for (unsigned i = 0; i < n; i++) {
        size_t len = strlen(v[i].message);
        unsigned map = v[i].map < 0 ? NO_MAP : (unsigned)v[i].map;
        put_be64(p, v[i].oid);
        put_be64(p + 8, v[i].generation);
        put_be64(p + 16, v[i].cycle);
        p[24] = (unsigned char)v[i].kind;
        p[25] = (unsigned char)table_index(v[i].table);
        p[26] = (unsigned char)(map >> 8), p[27] = (unsigned char)map;
        assert(len < GHOST_CRAWL_FINDING_TEXT && len <= 255);
        p[28] = (unsigned char)len;
        memcpy(p + ENTRY_FIXED, v[i].message, len);
        p += ENTRY_FIXED + len;
    }
    return (size_t)(p - buf);
}

/* Decode buf into v, their number in *n: 0, or 1 for bytes this format
 * does not describe (a newer format, or damage). */
static int decode(const unsigned char *buf, size_t len, struct ghost_crawl_finding *v, unsigned *n)
{
    *n = 0;
    if (len < 16 || get_be64(buf) != FINDINGS_FORMAT || get_be64(buf + 8) > GHOST_CRAWL_FINDINGS)
        return 1;
    unsigned count = (unsigned)get_be64(buf + 8);
    const unsigned char *p = buf + 16, *end = buf + len;
    for (unsigned i = 0; i < count; i++) {
        if (end - p < ENTRY_FIXED || p[25] >= 4 || p[28] >= GHOST_CRAWL_FINDING_TEXT ||
            end - p - ENTRY_FIXED < p[28])
            return 1;
        struct ghost_crawl_finding *e = &v[i];
        memset(e, 0, sizeof *e);
        e->oid = get_be64(p);
        e->generation = get_be64(p + 8);
        e->cycle = get_be64(p + 16);
        e->kind = (enum ghost_finding_kind)p[24];
        snprintf(e->table, sizeof e->table, "%s", tables[p[25]]);
        unsigned map = (unsigned)p[26] << 8 | p[27];
        e->map = map == NO_MAP ? -1 : (int)map;
        memcpy(e->message, p + ENTRY_FIXED, p[28]);
        p += ENTRY_FIXED + p[28];
    }
    if (p != end)
        return 1;
    *n = count;
    return 0;
}

/* Read the record in t into v: 0 (none if absent), 1 (unreadable: logged
 * and counted as damage), or the error of the read. */
static int read_record(struct store *s, struct engine_txn *t, struct ghost_crawl_finding *v,
                       unsigned *n)
{
    struct engine_val k = {strlen(FINDINGS_KEY), FINDINGS_KEY}, val;
    *n = 0;
    int r = engine_get(s->eng, t, ENGINE_META, &k, &val);
    if (r == -ENOENT)
        return 0;
    if (r)
        return r;
    if (!cksum_ok(&k, &val)) {
        corrupt(s, ENGINE_META, &k, "the crawler's findings fail their checksum");
        return 1;
    }
    if (decode((const unsigned char *)val.data + CKSUM_LEN, val.len - CKSUM_LEN, v, n)) {
        ghost_log(GHOST_LOG_WARN, "crawler: its kept findings are of a format it does not "
                                  "know; they are made again");
        return 1;
    }
    return 0;
}

int findings_load(struct store *s, struct engine_txn *t, struct crawl_findings *r)
{
    struct ghost_crawl_finding v[GHOST_CRAWL_FINDINGS];
    unsigned n;
    int e = read_record(s, t, v, &n);
    if (e < 0)
        return e;
    pthread_mutex_lock(&r->lock);
    memcpy(r->v, v, n * sizeof v[0]);
    for (unsigned i = 0; i < n; i++)
        r->told[i] = true;
    r->n = n;
    r->dirty = e == 1; /* unreadable: written again */
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int findings_save(struct store *s, struct engine_txn *w, struct crawl_findings *r)
{
    unsigned char buf[16 + GHOST_CRAWL_FINDINGS * (ENTRY_FIXED + GHOST_CRAWL_FINDING_TEXT)];
    pthread_mutex_lock(&r->lock);
    bool dirty = r->dirty;
    size_t len = dirty ? encode(r->v, r->n, buf) : 0;
    pthread_mutex_unlock(&r->lock);
    if (!dirty)
        return 0;
    assert(len <= sizeof buf);
    return put_value(s, w, ENGINE_META, FINDINGS_KEY, strlen(FINDINGS_KEY), NULL, 0, buf, len);
}

void findings_saved(struct crawl_findings *r)
{
    pthread_mutex_lock(&r->lock);
    r->dirty = false;
    pthread_mutex_unlock(&r->lock);
}

/* ---- the API ---- */

struct findings_view {
    struct store *s;
    struct ghost_crawl_finding *v;
    unsigned n;
};

static int findings_view_fn(void *arg)
{
    struct findings_view *a = arg;
    struct engine_txn *view;
    int r = engine_view_begin(a->s->eng, &view);
    if (r)
        return r;
    r = read_record(a->s, view, a->v, &a->n);
    engine_view_end(a->s->eng, view);
    if (r == 1)
        return ghost_set_error(-GHOST_ECORRUPT, "the crawler's kept findings cannot be read");
    return r;
}

int ghost_crawl_findings(struct ghost *g, struct ghost_crawl_finding *out, unsigned max,
                         unsigned *n)
{
    *n = 0;
    if (crawl_live_findings(g, out, max, n))
        return 0;
    struct ghost_crawl_finding v[GHOST_CRAWL_FINDINGS];
    struct findings_view a = {&g->store, v, 0};
    int r = store_guarded(&g->store, findings_view_fn, &a, "reading the crawler's findings");
    if (r)
        return r;
    *n = a.n < max ? a.n : max;
    memcpy(out, v, *n * sizeof *out);
    return 0;
}
