/*
 * crawl.c - the crawler: a background thread that walks the whole store in
 * slices, over and over, at a bounded share of one core (ghost.h:
 * ghost_crawl_start).
 *
 * Each slice is one ghost_scrub call: one short read view, at most
 * slice_records records. After it the crawler writes its state, an object
 * of the library's own at GHOST_OID_CRAWL, in one transaction: where the
 * walk stands (the scrub cursor), what this cycle has counted and found so
 * far, what the last full cycle counted, and the lease. A crawler killed
 * mid-cycle thus leaves its cursor in the store, and the next one, in this
 * process or another, resumes there. (Slices that repair will write their
 * repairs in that same transaction.)
 *
 * The lease: when several processes open one store, only the holder
 * crawls. It is the state's holder id and an expiry (wall clock, since the
 * processes share no other), renewed by every slice; a crawler that finds
 * another's lease current waits until it expires and then takes it over,
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
 * The crawler never delays a user's transaction: its slice reads in a view
 * of its own, and its one write touches only its state object, which no
 * one else writes. If that write fails (a conflict: another crawler), the
 * crawler backs off, not a user.
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

#include "record.h"

#define CRAWL_FORMAT 1
#define LEASE_NS (15 * NS_PER_S)
/* How often a crawler that waits for another's lease looks at it. */
#define LEASE_LOOK_NS (2 * NS_PER_S)
#define NS_PER_S INT64_C(1000000000)
/* How long a crawler that met an error or lost a race waits. */
#define BACKOFF_NS NS_PER_S
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
};

/* The state object, decoded. */
struct crawl_state {
    uint64_t holder;
    int64_t lease_until;
    uint64_t holder_host, holder_pid; /* where the holder runs */
    uint64_t cycles;                  /* cycles completed */
    bool in_cycle;
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
    uint64_t id;   /* our lease holder id */
    uint64_t host; /* this machine since its boot (host_id) */
    bool holder;   /* we held the lease at our last slice */
    uint64_t slices;
    int64_t cpu_ns;                  /* CPU time the crawler spent */
    struct crawl_totals slice_types; /* filled by on_object during a slice */
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
#define TOTALS_WORDS (7 + CRAWL_TYPES + 2 * CRAWL_MAPS)
#define STATE_WORDS (10 + 2 * TOTALS_WORDS)
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
    uint64_t *f[7] = {&t->records, &t->bytes,       &t->objects, &t->object_bytes,
                      &t->older,   &t->older_bytes, &t->findings};
    for (int i = 0; i < 7; i++)
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

/* Read the state in t: 0 (a fresh state if there is none yet) or an errno. */
static int state_read(struct ghost_txn *t, struct crawl_state *st)
{
    uint8_t type;
    const void *data;
    size_t len;
    int r = ghost_obj_get(t, GHOST_OID_CRAWL, &type, &data, &len);
    if (r == -ENOENT) {
        memset(st, 0, sizeof *st);
        return 0;
    }
    if (r)
        return r;
    if (type != GHOST_TYPE_LIBRARY)
        return ghost_set_error(-GHOST_ECORRUPT, "object %d is not the crawler's state",
                               GHOST_OID_CRAWL);
    return state_decode(st, data, len);
}

static int state_write(struct ghost_txn *t, struct crawl_state *st)
{
    unsigned char buf[STATE_FIXED + GHOST_SCRUB_KEY_MAX];
    size_t len = state_encode(st, buf);
    assert(len <= sizeof buf);
    return ghost_obj_put(t, GHOST_OID_CRAWL, GHOST_TYPE_LIBRARY, buf, len);
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
    ghost_log(GHOST_LOG_ERR, "crawler: %s", f->message);
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

/* What a step decided: write the state (after a slice), and wait. */
struct step {
    struct crawl_state st;
    struct ghost_scrub_stats slice;
    int scrubbed; /* ghost_scrub's answer: 1 the cycle is complete */
    bool started; /* this step began a cycle */
    int64_t now;
};

/* Take the lease and begin a cycle if one is due: 0 to go on with a slice,
 * or the time to wait first (> 0), or a negative errno. */
static int64_t step_begin(struct crawl *c, struct step *s, unsigned cycle_s)
{
    struct ghost_txn *t;
    int r = ghost_txn_begin(c->g, &t);
    if (r)
        return r;
    r = state_read(t, &s->st);
    ghost_txn_abort(t);
    if (r)
        return r;
    s->now = wall_ns();
    if (lease_held(c, &s->st, s->now)) {
        c->holder = false;
        /* Look again before it expires: its holder may die meanwhile. */
        int64_t left = s->st.lease_until - s->now;
        return left < LEASE_LOOK_NS ? (left > NS_PER_S ? left : NS_PER_S) : LEASE_LOOK_NS;
    }
    if (!s->st.in_cycle) {
        int64_t due = s->st.cycles ? s->st.last_start + (int64_t)cycle_s * NS_PER_S : s->now;
        if (due > s->now)
            return due - s->now;
        s->st.in_cycle = true;
        s->st.cycle_start = s->now;
        memset(&s->st.cur, 0, sizeof s->st.cur);
        memset(&s->st.cursor, 0, sizeof s->st.cursor);
        s->started = true;
    }
    return 0;
}

/* Save what the slice did, if the lease is still ours to take. */
static int step_save(struct crawl *c, struct step *s)
{
    struct ghost_txn *t = NULL;
    struct crawl_state now;
    int r = ghost_txn_begin(c->g, &t);
    r = r ? r : state_read(t, &now);
    if (!r && lease_held(c, &now, wall_ns()))
        r = -GHOST_ECONFLICT; /* another crawler took the lease meanwhile */
    if (r) {
        if (t)
            ghost_txn_abort(t);
        return r;
    }
    struct crawl_state *st = &s->st;
    totals_add(&st->cur, &s->slice, &c->slice_types);
    st->holder = c->id;
    st->holder_host = c->host;
    st->holder_pid = (uint64_t)getpid();
    st->lease_until = wall_ns() + LEASE_NS;
    if (s->scrubbed == 1) {
        st->cycles++;
        st->in_cycle = false;
        st->last_start = st->cycle_start;
        st->last_end = wall_ns();
        st->last = st->cur;
        memset(&st->cursor, 0, sizeof st->cursor);
    }
    r = state_write(t, st);
    if (r) {
        ghost_txn_abort(t);
        return r;
    }
    return ghost_txn_commit(t);
}

/* One step: a slice, or the decision to wait. Returns how long to wait
 * before the next step (0: at once). */
static int64_t crawl_step(struct crawl *c, const struct ghost_crawl_options *o)
{
    struct step s;
    memset(&s, 0, sizeof s);
    int64_t wait = step_begin(c, &s, o->cycle_seconds);
    if (wait > 0)
        return wait;
    if (wait < 0) {
        if (wait != -GHOST_ECONFLICT)
            ghost_log(GHOST_LOG_WARN, "crawler: cannot read its state: %s", ghost_errmsg());
        return BACKOFF_NS;
    }
    if (s.started)
        ghost_log(GHOST_LOG_INFO, "crawler: cycle %llu begins",
                  (unsigned long long)s.st.cycles + 1);
    int64_t cpu0 = thread_cpu_ns();
    memset(&c->slice_types, 0, sizeof c->slice_types);
    struct ghost_scrub_visit v = {on_finding, on_object, c};
    s.scrubbed = ghost_scrub(c->g, &s.st.cursor, o->slice_records, &v, &s.slice);
    int r = s.scrubbed < 0 ? s.scrubbed : step_save(c, &s);
    int64_t used = thread_cpu_ns() - cpu0;
    pthread_mutex_lock(&c->lock);
    c->cpu_ns += used;
    c->slices++;
    c->holder = r == 0;
    pthread_mutex_unlock(&c->lock);
    if (r) {
        if (r != -GHOST_ECONFLICT)
            ghost_log(GHOST_LOG_WARN, "crawler: a slice failed: %s", ghost_errmsg());
        return BACKOFF_NS;
    }
    if (s.scrubbed == 1)
        ghost_log(GHOST_LOG_INFO, "crawler: cycle %llu done: %llu records, %llu findings, %.1f s",
                  (unsigned long long)s.st.cycles, (unsigned long long)s.st.last.records,
                  (unsigned long long)s.st.last.findings,
                  (double)(s.st.last_end - s.st.last_start) / NS_PER_S);
    /* At most the share: a slice's CPU time, then (1 - share) / share of
     * it asleep. */
    unsigned share = o->cpu_permille;
    return share >= 1000 ? 0 : used * (int64_t)(1000 - share) / (int64_t)share;
}

/* Give the lease up, so that another process's crawler need not wait it
 * out. */
static void release_lease(struct crawl *c)
{
    struct ghost_txn *t;
    struct crawl_state st;
    if (ghost_txn_begin(c->g, &t))
        return;
    if (state_read(t, &st) == 0 && st.holder == c->id) {
        st.lease_until = 0;
        if (state_write(t, &st) == 0) {
            ghost_txn_commit(t);
            return;
        }
    }
    ghost_txn_abort(t);
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
        pthread_mutex_unlock(&c->lock);
        int64_t wait = crawl_step(c, &o);
        pthread_mutex_lock(&c->lock);
        if (wait > 0 && !c->stop && !memcmp(&o, &c->opt, sizeof o)) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            int64_t at = (int64_t)dl.tv_sec * NS_PER_S + dl.tv_nsec + wait;
            dl.tv_sec = at / NS_PER_S, dl.tv_nsec = at % NS_PER_S;
            pthread_cond_timedwait(&c->wake, &c->lock, &dl);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (c->holder)
        release_lease(c);
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
    g->crawl = NULL;
    free(c);
}

static void totals_out(struct ghost_crawl_totals *out, const struct crawl_totals *t)
{
    out->records = t->records, out->bytes = t->bytes;
    out->objects = t->objects, out->object_bytes = t->object_bytes;
    out->older = t->older, out->older_bytes = t->older_bytes;
    out->findings = t->findings;
    memcpy(out->types, t->types, sizeof out->types);
    memcpy(out->map_keys, t->map_keys, sizeof out->map_keys);
    memcpy(out->map_bytes, t->map_bytes, sizeof out->map_bytes);
}

int ghost_crawl_status(struct ghost *g, struct ghost_crawl_status *out)
{
    struct ghost_txn *t;
    struct crawl_state st;
    memset(out, 0, sizeof *out);
    int r = ghost_txn_begin(g, &t);
    if (r)
        return r;
    r = state_read(t, &st);
    ghost_txn_abort(t);
    if (r)
        return r;
    struct crawl *c = g->crawl;
    if (c) {
        pthread_mutex_lock(&c->lock);
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
