/*
 * crawl.c - the crawler: a background thread that walks the whole store in
 * slices, over and over, at a bounded share of one core (ghost.h:
 * ghost_crawl_start).
 *
 A cycle has two passes. The scrub pass checks every record: each of its
 * slices is one ghost_scrub call, one short read view of at most
 * slice_records records. The prune pass drops the older versions of keys
 * that no snapshot needs any more (store_prune_in): each of its slices is
 * one short write transaction, which writes the crawler's state too.
 *
 * The state is one record of the meta table ("crawl"; not versioned, so
 * snapshots do not keep it): where each pass stands, what this cycle has
 * counted and found so far, what the last full cycle counted, and the
 * lease. It is written by every prune slice, with that slice's deletions,
 * and during the scrub pass at most every SAVE_NS (a scrub slice changes
 * nothing, and a commit per slice would cost a sync each): a crawler
 * killed mid-cycle leaves its place in the store, at most SAVE_NS behind,
 * and the next one, in this process or another, resumes there.
 *
 * The lease: when several processes open one store, only the holder
 * crawls. It is the state's holder id and an expiry (wall clock, since the
 * processes share no other), taken and renewed inside the write
 * transactions that write the state (so two crawlers cannot both take it),
 * renewed at every save; a crawler that finds another's lease current
 * waits until it expires and then takes it over,
 * so the crawl goes on when its holder dies (at once, if it ran on this
 * machine: it looks every LEASE_LOOK_NS, and a holder whose process is
 * gone holds nothing). Two crawlers that take it at
 * once both write the state object, and the commit of one of them fails
 * its read check: that one waits out the other's lease. A crawler that
 * stops gives its lease up.
 *
 * The throttle: after each slice the thread sleeps for what the slice cost
 * in CPU time (its thread's clock), times (1 - share) / share, so that
 * over any stretch of slices the crawler's share of one core is at most
 * cpu_permille. Between cycles it sleeps until the next is due,
 * cycle_seconds after the last one began: an idle crawler does nothing but
 * that one timed wait. ghost_crawl_set and ghost_crawl_stop wake it.
 *
 * The crawler gives way to users: its scrub reads in views of its own; its
 * writes touch only old versions no reader can see and its own record, so
 * no user's transaction conflicts with them; and a prune slice holds the
 * writer's lock only for a short slice of keys.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crawl_findings.h"
#include "record.h"

#define CRAWL_FORMAT 1
#define LEASE_NS (15 * NS_PER_S)
/* How often a crawler that waits for another's lease looks at it. */
#define LEASE_LOOK_NS (2 * NS_PER_S)
#define NS_PER_S INT64_C(1000000000)
/* How long a crawler that met an error or lost a race waits. */
#define BACKOFF_NS NS_PER_S
/* The scrub pass saves its place at most this often. */
#define SAVE_NS (2 * NS_PER_S)
/* Keys a prune slice walks, per record of a scrub slice, and at most: one
 * write transaction, holding the writer's lock that long. */
#define PRUNE_SHARE 4
#define PRUNE_KEYS_MAX 4096
#define CRAWL_MAPS 16
#define CRAWL_TYPES 16

/* What a cycle counted: the store's contents as the walk found them. */
struct crawl_totals {
    uint64_t records, bytes;
    uint64_t objects, object_bytes;
    uint64_t types[CRAWL_TYPES]; /* objects by type (the last: 15 and above) */
    uint64_t map_keys[CRAWL_MAPS], map_bytes[CRAWL_MAPS];
    uint64_t older, older_bytes;
    uint64_t findings;
    uint64_t pruned; /* older versions dropped */
};

enum { PASS_SCRUB, PASS_PRUNE };

/* The state record, decoded. */
struct crawl_state {
    uint64_t holder;
    int64_t lease_until;
    uint64_t holder_host, holder_pid; /* where the holder runs */
    uint64_t cycles;                  /* cycles completed */
    bool in_cycle;
    uint64_t pass;                 /* PASS_SCRUB, PASS_PRUNE */
    uint64_t prune_cursor;         /* store_prune_in's */
    int64_t cycle_start;           /* of the cycle under way, or the last one */
    int64_t last_start, last_end;  /* the last full cycle's */
    struct crawl_totals cur, last; /* this cycle so far; the last full one */
    struct ghost_scrub_cursor cursor;
};

struct crawl {
    struct ghost *g;
    pthread_t thread;
    pthread_mutex_t lock; /* protects opt, stop, and the figures below */
    pthread_cond_t wake;
    struct ghost_crawl_options opt;
    struct ghost_scrub_visit visit; /* the caller's */
    bool stop;
    bool kicked;   /* ghost_crawl_wake since the last step began */
    uint64_t id;   /* our lease holder id */
    uint64_t host; /* this machine since its boot (host_id) */
    /* Written by the crawler thread under lock, read by it without. */
    bool holder;           /* we hold the lease: st is the store's, and ours */
    struct crawl_state st; /* while holder: ahead of the store by what was not saved */
    int64_t saved;         /* when st was last saved (monotonic) */
    int64_t last_sleep;    /* the throttle's last sleep, in ns */
    unsigned failures;     /* slices failed in a row (backing off) */
    uint64_t slices;
    int64_t cpu_ns;                  /* CPU time the crawler spent */
    struct crawl_totals slice_types; /* filled by on_object during a slice */
    bool telling;                    /* the slice's options have a found hook */
    struct crawl_findings found;     /* the findings it keeps (crawl_findings.c) */
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* This machine, since its last boot: a lease held by a process here that
 * no longer exists is taken over at once, without waiting it out. */
static uint64_t host_id(void)
{
    char buf[512] = {0};
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    gethostname(buf, 256);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        size_t n = strlen(buf);
        n += fread(buf + n, 1, sizeof buf - 1 - n, f);
        fclose(f);
    }
    for (const char *p = buf; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* Does the lease in st keep us from crawling at now? */
static bool lease_held(const struct crawl *c, const struct crawl_state *st, int64_t now)
{
    if (st->holder == c->id || st->lease_until <= now)
        return false;
    /* Its holder on this machine, and gone. */
    if (st->holder_host == c->host && st->holder_pid > 0 && st->holder_pid < INT32_MAX &&
        kill((pid_t)st->holder_pid, 0) < 0 && errno == ESRCH)
        return false;
    return true;
}

/* ---- the state object's bytes ---- */

/* Fields in order, each 8 bytes big-endian, then the cursor. */
#define TOTALS_WORDS (8 + CRAWL_TYPES + 2 * CRAWL_MAPS)
#define STATE_WORDS (12 + 2 * TOTALS_WORDS)
#define STATE_FIXED (8 * STATE_WORDS + 12)

struct words {
    unsigned char *p;
};

static void put_w(struct words *w, uint64_t v)
{
    put_be64(w->p, v);
    w->p += 8;
}

static uint64_t get_w(struct words *w)
{
    uint64_t v = get_be64(w->p);
    w->p += 8;
    return v;
}

static void totals_io(struct words *w, struct crawl_totals *t, bool put)
{
    uint64_t *f[8] = {&t->records, &t->bytes,       &t->objects,  &t->object_bytes,
                      &t->older,   &t->older_bytes, &t->findings, &t->pruned};
    for (int i = 0; i < 8; i++)
        put ? put_w(w, *f[i]) : (void)(*f[i] = get_w(w));
    for (int i = 0; i < CRAWL_TYPES; i++)
        put ? put_w(w, t->types[i]) : (void)(t->types[i] = get_w(w));
    for (int i = 0; i < CRAWL_MAPS; i++) {
        put ? put_w(w, t->map_keys[i]) : (void)(t->map_keys[i] = get_w(w));
        put ? put_w(w, t->map_bytes[i]) : (void)(t->map_bytes[i] = get_w(w));
    }
}

/* Encode st into buf (STATE_FIXED + GHOST_SCRUB_KEY_MAX bytes); its length. */
static size_t state_encode(struct crawl_state *st, unsigned char *buf)
{
    struct words w = {buf};
    put_w(&w, CRAWL_FORMAT);
    put_w(&w, st->holder);
    put_w(&w, (uint64_t)st->lease_until);
    put_w(&w, st->cycles);
    put_w(&w, st->in_cycle);
    put_w(&w, (uint64_t)st->cycle_start);
    put_w(&w, (uint64_t)st->last_start);
    put_w(&w, (uint64_t)st->last_end);
    put_w(&w, st->holder_host);
    put_w(&w, st->holder_pid);
    put_w(&w, st->pass);
    put_w(&w, st->prune_cursor);
    totals_io(&w, &st->cur, true);
    totals_io(&w, &st->last, true);
    uint32_t c[3] = {st->cursor.phase, st->cursor.flags, st->cursor.len};
    for (int i = 0; i < 3; i++) {
        w.p[0] = (unsigned char)(c[i] >> 24), w.p[1] = (unsigned char)(c[i] >> 16);
        w.p[2] = (unsigned char)(c[i] >> 8), w.p[3] = (unsigned char)c[i];
        w.p += 4;
    }
    assert(st->cursor.len <= GHOST_SCRUB_KEY_MAX);
    memcpy(w.p, st->cursor.key, st->cursor.len);
    return (size_t)(w.p - buf) + st->cursor.len;
}

static int state_decode(struct crawl_state *st, const unsigned char *buf, size_t len)
{
    memset(st, 0, sizeof *st);
    if (len < STATE_FIXED || get_be64(buf) != CRAWL_FORMAT)
        return ghost_set_error(-GHOST_ECORRUPT, "the crawler's state has an unknown format");
    struct words w = {(unsigned char *)buf + 8};
    st->holder = get_w(&w);
    st->lease_until = (int64_t)get_w(&w);
    st->cycles = get_w(&w);
    st->in_cycle = get_w(&w) != 0;
    st->cycle_start = (int64_t)get_w(&w);
    st->last_start = (int64_t)get_w(&w);
    st->last_end = (int64_t)get_w(&w);
    st->holder_host = get_w(&w);
    st->holder_pid = get_w(&w);
    st->pass = get_w(&w);
    st->prune_cursor = get_w(&w);
    totals_io(&w, &st->cur, false);
    totals_io(&w, &st->last, false);
    uint32_t c[3];
    for (int i = 0; i < 3; i++, w.p += 4)
        c[i] = (uint32_t)w.p[0] << 24 | (uint32_t)w.p[1] << 16 | (uint32_t)w.p[2] << 8 | w.p[3];
    st->cursor.phase = c[0], st->cursor.flags = c[1], st->cursor.len = c[2];
    if (st->cursor.len > GHOST_SCRUB_KEY_MAX || STATE_FIXED + st->cursor.len != len)
        return ghost_set_error(-GHOST_ECORRUPT, "the crawler's state has a damaged cursor");
    memcpy(st->cursor.key, w.p, st->cursor.len);
    return 0;
}

#define STATE_KEY "crawl"

/* Read the state in t: 0 (a fresh state if there is none yet) or an errno. */
static int state_get(struct store *s, struct engine_txn *t, struct crawl_state *st)
{
    struct engine_val k = {strlen(STATE_KEY), STATE_KEY}, v;
    int r = engine_get(s->eng, t, ENGINE_META, &k, &v);
    if (r == -ENOENT) {
        memset(st, 0, sizeof *st);
        return 0;
    }
    if (r)
        return r;
    if (!cksum_ok(&k, &v))
        return corrupt(s, ENGINE_META, &k, "the crawler's state fails its checksum");
    return state_decode(st, (const unsigned char *)v.data + CKSUM_LEN, v.len - CKSUM_LEN);
}

static int state_put(struct store *s, struct engine_txn *w, struct crawl_state *st)
{
    unsigned char buf[STATE_FIXED + GHOST_SCRUB_KEY_MAX];
    size_t len = state_encode(st, buf);
    assert(len <= sizeof buf);
    return put_value(s, w, ENGINE_META, STATE_KEY, strlen(STATE_KEY), NULL, 0, buf, len);
}

struct state_view {
    struct store *s;
    struct crawl_state *st;
};

static int state_view_fn(void *ctx)
{
    struct state_view *a = ctx;
    struct engine_txn *view;
    int r = engine_view_begin(a->s->eng, &view);
    if (r)
        return r;
    r = state_get(a->s, view, a->st);
    engine_view_end(a->s->eng, view);
    return r;
}

/* Read the state as the store has it now. */
static int state_read(struct store *s, struct crawl_state *st)
{
    struct state_view a = {s, st};
    return store_guarded(s, state_view_fn, &a, "reading the crawler's state");
}

/* ---- one step of the crawler ---- */

static void on_object(void *arg, uint64_t oid, uint8_t type)
{
    struct crawl *c = arg;
    c->slice_types.types[type < CRAWL_TYPES ? type : CRAWL_TYPES - 1]++;
    if (c->visit.object)
        c->visit.object(c->visit.arg, oid, type);
}

static void on_finding(void *arg, const struct ghost_finding *f)
{
    struct crawl *c = arg;
    if (!c->telling) /* else the hook logs it, after the slice */
        ghost_log(GHOST_LOG_ERR, "crawler: %s", f->message);
    findings_add(&c->found, f, c->st.cycles + 1, !c->telling);
    if (c->visit.finding)
        c->visit.finding(c->visit.arg, f);
}

static void totals_add(struct crawl_totals *t, const struct ghost_scrub_stats *s,
                       const struct crawl_totals *types)
{
    t->records += s->records, t->bytes += s->bytes;
    t->objects += s->objects, t->object_bytes += s->object_bytes;
    t->older += s->older, t->older_bytes += s->older_bytes;
    t->findings += s->findings;
    for (int i = 0; i < CRAWL_TYPES; i++)
        t->types[i] += types->types[i];
    for (int i = 0; i < 256; i++) {
        int m = i < CRAWL_MAPS ? i : CRAWL_MAPS - 1;
        t->map_keys[m] += s->map_keys[i], t->map_bytes[m] += s->map_bytes[i];
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Put the lease in st in our name, renewed from now. */
static void lease_ours(struct crawl *c, struct crawl_state *st, int64_t now)
{
    st->holder = c->id;
    st->holder_host = c->host;
    st->holder_pid = (uint64_t)getpid();
    st->lease_until = now + LEASE_NS;
}

/* Taking the lease: in one write transaction, so that of two crawlers
 * only one can. */
struct take {
    struct crawl *c;
    unsigned cycle_s;
    struct crawl_state st;
    int64_t wait; /* > 0: not ours, or no cycle due; look again then */
    bool started;
};

static int take_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct take *a = arg;
    int64_t now = wall_ns();
    a->wait = 0;
    a->started = false;
    if (conn_readonly(a->c->g)) { /* remounted read-only: nothing is written */
        a->wait = LEASE_LOOK_NS;
        return 1;
    }
    int r = state_get(s, w, &a->st);
    if (r)
        return r;
    if (lease_held(a->c, &a->st, now)) {
        /* Look again before it expires: its holder may die meanwhile. */
        int64_t left = a->st.lease_until - now;
        a->wait = left < LEASE_LOOK_NS ? (left > NS_PER_S ? left : NS_PER_S) : LEASE_LOOK_NS;
        return 1;
    }
    if ((r = findings_load(s, w, &a->c->found)))
        return r;
    if (!a->st.in_cycle) {
        int64_t due = a->st.cycles ? a->st.last_start + (int64_t)a->cycle_s * NS_PER_S : now;
        if (due > now) {
            a->wait = due - now;
            return 1;
        }
        a->st.in_cycle = true;
        a->st.pass = PASS_SCRUB;
        a->st.prune_cursor = 0;
        a->st.cycle_start = now;
        memset(&a->st.cur, 0, sizeof a->st.cur);
        memset(&a->st.cursor, 0, sizeof a->st.cursor);
        a->started = true;
    }
    lease_ours(a->c, &a->st, now);
    return state_put(s, w, &a->st);
}

/* End the cycle in st: its figures become the last cycle's; the findings
 * it did not make again go. */
static void cycle_done(struct crawl *c, struct crawl_state *st)
{
    st->cycles++;
    st->in_cycle = false;
    st->last_start = st->cycle_start;
    st->last_end = wall_ns();
    st->last = st->cur;
    st->pass = PASS_SCRUB;
    st->prune_cursor = 0;
    memset(&st->cursor, 0, sizeof st->cursor);
    findings_cycle_done(&c->found, st->cycles);
}

/* Saving the state, with a prune slice or alone: if the lease is still
 * ours (a crawler that slept past it may have lost it). */
struct save {
    struct crawl *c;
    struct crawl_state orig; /* the crawler's state as it was */
    struct crawl_state st;   /* what to save: orig, advanced here */
    unsigned prune_keys;     /* > 0: a prune slice first */
    int64_t pruned;
};

static int save_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct save *a = arg;
    struct crawl_state now;
    int64_t t = wall_ns();
    a->st = a->orig; /* store_small_write may run us again after growing */
    a->pruned = 0;
    if (conn_readonly(a->c->g))
        return ghost_set_error(-EROFS, "crawler: the store was made read-only");
    int r = state_get(s, w, &now);
    if (r)
        return r;
    /* Ours only if no one took it since: another crawler that took it, even
     * one that has let it go since, saved a state newer than ours. */
    if (now.holder != a->c->id)
        return ghost_set_error(-GHOST_ECONFLICT, "crawler: another process took the lease");
    if (a->prune_keys) {
        r = store_prune_in(s, w, &a->st.prune_cursor, a->prune_keys, &a->pruned);
        if (r)
            return r;
        a->st.cur.pruned += (uint64_t)a->pruned;
        if (a->st.prune_cursor == 0)
            cycle_done(a->c, &a->st);
    }
    if ((r = findings_save(s, w, &a->c->found)))
        return r;
    lease_ours(a->c, &a->st, t);
    /* It must outlast the sleep the share asks after this slice. */
    a->st.lease_until += a->c->last_sleep;
    if (!a->st.in_cycle)
        a->st.lease_until = 0; /* idle until the next cycle: no lease held */
    return state_put(s, w, &a->st);
}

static int save(struct crawl *c, unsigned prune_keys)
{
    struct save a = {.c = c, .orig = c->st, .prune_keys = prune_keys};
    int r = store_small_write(&c->g->store, save_fn, &a, true);
    if (r)
        return r;
    findings_saved(&c->found);
    pthread_mutex_lock(&c->lock);
    c->st = a.st;
    c->saved = mono_ns();
    if (!c->st.in_cycle)
        c->holder = false; /* idle until the next cycle: no lease held */
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* A scrub slice, its findings and figures added to the crawler's state. */
static int scrub_slice(struct crawl *c, unsigned records)
{
    struct ghost_scrub_stats slice;
    memset(&slice, 0, sizeof slice);
    memset(&c->slice_types, 0, sizeof c->slice_types);
    struct ghost_scrub_visit v = {on_finding, on_object, c};
    struct ghost_scrub_cursor cursor = c->st.cursor;
    int r = ghost_scrub(c->g, &cursor, records, &v, &slice);
    if (r < 0)
        return r;
    pthread_mutex_lock(&c->lock);
    c->st.cursor = cursor;
    totals_add(&c->st.cur, &slice, &c->slice_types);
    if (r == 1) {
        c->st.pass = PASS_PRUNE;
        c->st.prune_cursor = 0;
    }
    pthread_mutex_unlock(&c->lock);
    /* The end of the pass is saved at once; the rest now and then. */
    if (r == 1 || mono_ns() - c->saved >= SAVE_NS)
        return save(c, 0);
    return 0;
}

/* After a failed slice: wait longer each time it fails again (up to about
 * a minute); a prune pass that keeps failing at one place (damage the
 * scrub reports) is given up for this cycle, so that the cycle ends. */
static int64_t failed_slice(struct crawl *c, int r)
{
    unsigned n = ++c->failures;
    if (r != -GHOST_ECONFLICT && r != -EROFS)
        ghost_log(GHOST_LOG_WARN, "crawler: a slice failed: %s", ghost_errmsg());
    if (r == -EROFS)
        return LEASE_LOOK_NS;
    if (n >= 5 && c->holder && c->st.pass == PASS_PRUNE) {
        ghost_log(GHOST_LOG_WARN,
                  "crawler: the prune pass failed %u times at one place; "
                  "it ends this cycle there",
                  n);
        struct crawl_state st = c->st;
        cycle_done(c, &st);
        pthread_mutex_lock(&c->lock);
        c->st = st;
        pthread_mutex_unlock(&c->lock);
        if (save(c, 0) == 0)
            c->failures = 0;
    }
    pthread_mutex_lock(&c->lock);
    c->holder = false; /* take it again, reading the state afresh */
    pthread_mutex_unlock(&c->lock);
    return BACKOFF_NS << (n < 6 ? n : 6);
}

/* One step: take the lease if we have not, then a slice. Returns how long
 * to wait before the next step for anything but the share (0: at once; the
 * time to the next cycle, or to look at another's lease again), and the
 * CPU time the step took in *used. */
static int64_t crawl_step(struct crawl *c, const struct ghost_crawl_options *o, int64_t *used)
{
    int64_t cpu0 = thread_cpu_ns();
    *used = 0;
    if (!c->holder) {
        struct take a = {.c = c, .cycle_s = o->cycle_seconds};
        int r = store_small_write(&c->g->store, take_fn, &a, true);
        *used = thread_cpu_ns() - cpu0;
        if (r == 1)
            return a.wait;
        if (r) {
            ghost_log(GHOST_LOG_WARN, "crawler: cannot take its lease: %s", ghost_errmsg());
            return BACKOFF_NS;
        }
        pthread_mutex_lock(&c->lock);
        c->holder = true;
        c->st = a.st;
        c->saved = mono_ns();
        pthread_mutex_unlock(&c->lock);
        if (a.started)
            ghost_log(GHOST_LOG_INFO, "crawler: cycle %llu begins",
                      (unsigned long long)a.st.cycles + 1);
    }
    uint64_t cycles = c->st.cycles;
    unsigned prune_keys = o->slice_records * PRUNE_SHARE;
    c->telling = o->found != NULL;
    int r = c->st.pass == PASS_SCRUB
                ? scrub_slice(c, o->slice_records)
                : save(c, prune_keys < PRUNE_KEYS_MAX ? prune_keys : PRUNE_KEYS_MAX);
    findings_tell(&c->found, o); /* outside the slice's view: it may read */
    *used = thread_cpu_ns() - cpu0;
    pthread_mutex_lock(&c->lock);
    c->cpu_ns += *used;
    c->slices++;
    pthread_mutex_unlock(&c->lock);
    if (r)
        return failed_slice(c, r);
    c->failures = 0;
    if (c->st.cycles != cycles) {
        const struct crawl_state *st = &c->st;
        ghost_log(GHOST_LOG_INFO,
                  "crawler: cycle %llu done: %llu records, %llu findings, %llu versions "
                  "pruned, %.1f s",
                  (unsigned long long)st->cycles, (unsigned long long)st->last.records,
                  (unsigned long long)st->last.findings, (unsigned long long)st->last.pruned,
                  (double)(st->last_end - st->last_start) / NS_PER_S);
    }
    return 0;
}

/* Save our place and give the lease up, so that another process's crawler
 * need not wait it out. */
static int release_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct crawl *c = arg;
    struct crawl_state now;
    if (conn_readonly(c->g))
        return 1; /* read-only now: it writes nothing, and the lease lapses */
    int r = state_get(s, w, &now);
    if (r || now.holder != c->id)
        return r ? r : 1;
    c->st.lease_until = 0;
    r = findings_save(s, w, &c->found);
    return r ? r : state_put(s, w, &c->st);
}

/* The caller's work (opts.work): a slice of it. Whether more remains; its
 * CPU time in *used. */
static bool work_step(struct crawl *c, const struct ghost_crawl_options *o, int64_t *used)
{
    *used = 0;
    if (!o->work)
        return false;
    int64_t cpu0 = thread_cpu_ns();
    int r = o->work(o->work_arg, o->slice_records);
    *used = thread_cpu_ns() - cpu0;
    pthread_mutex_lock(&c->lock);
    c->cpu_ns += *used;
    pthread_mutex_unlock(&c->lock);
    if (r < 0)
        ghost_log(GHOST_LOG_WARN, "crawler: background work failed: %s", ghost_errmsg());
    return r > 0;
}

/* Wait until the monotonic time at (ns), or until stopped or the options
 * change; with kickable, ghost_crawl_wake ends it too. Called with c->lock
 * held. */
static void wait_until(struct crawl *c, int64_t at, const struct ghost_crawl_options *o,
                       bool kickable)
{
    struct timespec dl = {at / NS_PER_S, at % NS_PER_S};
    while (!c->stop && !memcmp(o, &c->opt, sizeof *o) && !(kickable && c->kicked) && mono_ns() < at)
        pthread_cond_timedwait(&c->wake, &c->lock, &dl);
}

static void *crawl_main(void *arg)
{
    struct crawl *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct ghost_crawl_options o = c->opt;
        if (o.cpu_permille == 0) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        c->kicked = false;
        pthread_mutex_unlock(&c->lock);
        int64_t wu, cu;
        bool more = work_step(c, &o, &wu);
        int64_t idle = crawl_step(c, &o, &cu);
        /* The share: what both took, then (1 - share) / share of it asleep,
         * a sleep no wake cuts short. Past it, an idle crawler (between
         * cycles, or waiting for another's lease) waits on, unless there is
         * work or a wake brings some. */
        unsigned share = o.cpu_permille;
        int64_t throttle = share >= 1000 ? 0 : (wu + cu) * (int64_t)(1000 - share) / (int64_t)share;
        int64_t start = mono_ns();
        pthread_mutex_lock(&c->lock);
        c->last_sleep = throttle;
        wait_until(c, start + throttle, &o, false);
        if (!more && idle > throttle)
            wait_until(c, start + idle, &o, true);
    }
    pthread_mutex_unlock(&c->lock);
    if (c->holder)
        store_small_write(&c->g->store, release_fn, c, true);
    return NULL;
}

/* ---- the API ---- */

void ghost_crawl_options_init(struct ghost_crawl_options *o)
{
    memset(o, 0, sizeof *o);
    o->cpu_permille = 100;
    o->slice_records = 1000;
    o->cycle_seconds = 86400;
}

static int check_options(const struct ghost_crawl_options *o)
{
    if (o->cpu_permille > 1000)
        return ghost_set_error(-EINVAL, "crawler: a CPU share of %u%% is more than one core",
                               o->cpu_permille / 10);
    if (o->slice_records == 0)
        return ghost_set_error(-EINVAL, "crawler: a slice of no records");
    return 0;
}

int ghost_crawl_start(struct ghost *g, const struct ghost_crawl_options *o,
                      const struct ghost_scrub_visit *v)
{
    int r = check_options(o);
    if (r)
        return r;
    if (g->opts.readonly)
        return ghost_set_error(-EROFS, "crawler: the store is open read-only");
    /* (Made read-only later, ghost_set_readonly, it writes nothing until
     * made writable again.) */
    if (g->crawl)
        return ghost_set_error(-EBUSY, "crawler: already running");
    struct crawl *c = calloc(1, sizeof *c);
    if (!c)
        return ghost_set_error(-ENOMEM, "crawler: out of memory");
    c->g = g;
    c->opt = *o;
    if (v)
        c->visit = *v;
    while (getrandom(&c->id, sizeof c->id, 0) != sizeof c->id || c->id == 0)
        ;
    c->host = host_id();
    findings_init(&c->found);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_condattr_destroy(&ca);
    r = pthread_create(&c->thread, NULL, crawl_main, c);
    if (r) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        findings_destroy(&c->found);
        free(c);
        return ghost_set_error(-r, "crawler: cannot start its thread");
    }
    g->crawl = c;
    return 0;
}

int ghost_crawl_set(struct ghost *g, const struct ghost_crawl_options *o)
{
    struct crawl *c = g->crawl;
    int r = check_options(o);
    if (r)
        return r;
    if (!c)
        return ghost_set_error(-ESRCH, "crawler: not running");
    pthread_mutex_lock(&c->lock);
    c->opt = *o;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void ghost_crawl_wake(struct ghost *g)
{
    struct crawl *c = g->crawl;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->kicked = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

void ghost_crawl_stop(struct ghost *g)
{
    struct crawl *c = g->crawl;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    findings_destroy(&c->found);
    g->crawl = NULL;
    free(c);
}

bool crawl_live_findings(struct ghost *g, struct ghost_crawl_finding *out, unsigned max,
                         unsigned *n)
{
    struct crawl *c = g->crawl;
    if (!c)
        return false;
    pthread_mutex_lock(&c->lock);
    bool live = c->holder;
    if (live)
        findings_copy(&c->found, out, max, n);
    pthread_mutex_unlock(&c->lock);
    return live;
}

static void totals_out(struct ghost_crawl_totals *out, const struct crawl_totals *t)
{
    out->records = t->records, out->bytes = t->bytes;
    out->objects = t->objects, out->object_bytes = t->object_bytes;
    out->older = t->older, out->older_bytes = t->older_bytes;
    out->findings = t->findings;
    out->pruned = t->pruned;
    memcpy(out->types, t->types, sizeof out->types);
    memcpy(out->map_keys, t->map_keys, sizeof out->map_keys);
    memcpy(out->map_bytes, t->map_bytes, sizeof out->map_bytes);
}

int ghost_crawl_status(struct ghost *g, struct ghost_crawl_status *out)
{
    struct crawl_state st;
    memset(out, 0, sizeof *out);
    int r = state_read(&g->store, &st);
    if (r)
        return r;
    struct crawl *c = g->crawl;
    if (c) {
        pthread_mutex_lock(&c->lock);
        if (c->holder && st.holder == c->id)
            st = c->st; /* ours: ahead of what it saved */
        out->running = true;
        out->cpu_permille = c->opt.cpu_permille;
        out->slice_records = c->opt.slice_records;
        out->cycle_seconds = c->opt.cycle_seconds;
        out->slices = c->slices;
        out->cpu_ns = c->cpu_ns;
        out->holder = c->holder && st.holder == c->id;
        pthread_mutex_unlock(&c->lock);
    }
    int64_t now = wall_ns();
    out->leased = st.holder != 0 && st.lease_until > now;
    out->cycles = st.cycles;
    out->in_cycle = st.in_cycle;
    out->pruning = st.in_cycle && st.pass == PASS_PRUNE;
    out->cycle_start_ns = st.in_cycle ? st.cycle_start : 0;
    out->last_start_ns = st.last_start;
    out->last_end_ns = st.last_end;
    totals_out(&out->current, &st.cur);
    totals_out(&out->last, &st.last);
    if (st.in_cycle) {
        double elapsed = (double)(now - st.cycle_start) / NS_PER_S;
        out->rate = elapsed > 0 ? (double)st.cur.records / elapsed : 0;
        if (st.cycles && st.last.records) {
            out->percent = 100.0 * (double)st.cur.records / (double)st.last.records;
            if (out->percent > 99.9)
                out->percent = 99.9; /* the store grew: done is not known yet */
            uint64_t left = st.last.records > st.cur.records ? st.last.records - st.cur.records : 0;
            out->eta_seconds = out->rate > 0 ? (double)left / out->rate : -1;
        } else {
            out->percent = -1; /* the first cycle: no size to measure it against */
            out->eta_seconds = -1;
        }
    }
    return 0;
}
