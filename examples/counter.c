/*
 * counter.c - a traffic counter on libghost, the classic use of an object
 * store: many writers add to a few hot counters, and no increment may be lost.
 *
 *   counter STORE [--keys N] [--adds M] [--threads T] [--mkfs]
 *
 * The counters live in map 0 of the well-known object OID 1 (type 200; a store
 * whose OID 1 is anything else is refused): the key is "page-NN", the value an
 * 8-byte big-endian count. Each of T threads makes M "hits" on pseudo-random
 * pages; one in four comes from a bot and counts zero. Run any number of these
 * processes against one store at once: the final totals are exactly the sum of
 * what each one added.
 *
 * - ghost_run() owns the retry loop. increment() reads a counter and writes
 *   the new value; if another thread or process changed that counter in
 *   between, the commit is refused as a conflict and ghost_run() calls
 *   increment() again on fresh data. Nothing here retries by hand, and no
 *   state survives an aborted attempt (each attempt rewrites struct hit).
 * - Commit only when something changed. A bot hit reads its counter and
 *   writes nothing; a transaction that wrote nothing commits nothing, so it
 *   costs no LMDB write. The "commits" that ghost_stats() reports for the run
 *   are the hits that changed a counter, and no more.
 * - One struct ghost serves all threads; a transaction belongs to its thread.
 *
 * --adds 0 only prints the totals. Exits 0, 1 on a store error, 2 on bad arguments.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ghost.h"

#define COUNTER_OID 1    /* owner of the counters' map; below GHOST_OID_FIRST */
#define COUNTER_TYPE 200 /* object type that marks a store as a counter store */
#define COUNTER_MAP 0

static unsigned nkeys = 8, nthreads = 4;
static uint64_t nadds = 1000;
static struct ghost *g; /* shared by every thread */

struct hit {
    char key[16];
    uint64_t delta;
    bool wrote; /* set by the last attempt only */
};

struct worker {
    pthread_t tid;
    unsigned seed;
    uint64_t added, writes, filtered;
    int err;
};

static int increment(struct ghost_txn *txn, void *arg)
{
    struct hit *h = arg;
    const void *val;
    size_t vlen;
    uint64_t old = 0, sum;

    h->wrote = false;
    int rc = ghost_map_get(txn, COUNTER_OID, COUNTER_MAP, h->key, strlen(h->key), &val, &vlen);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && vlen != sizeof old)
        return -EBADMSG; /* not one of our counters */
    if (rc == 0)
        memcpy(&old, val, sizeof old);
    if (h->delta == 0)
        return 0; /* nothing changed: nothing to commit */
    sum = htobe64(be64toh(old) + h->delta);
    rc = ghost_map_put(txn, COUNTER_OID, COUNTER_MAP, h->key, strlen(h->key), &sum, sizeof sum);
    h->wrote = rc == 0;
    return rc;
}

/* Mark the store as ours; refuse one whose OID 1 is something else (a filesystem's root). */
static int claim_store(struct ghost_txn *txn, void *arg)
{
    uint8_t type;
    int rc = ghost_obj_get(txn, COUNTER_OID, &type, NULL, NULL);
    if (rc == -ENOENT)
        return ghost_obj_put(txn, COUNTER_OID, COUNTER_TYPE, "counter", 7);
    if (rc == 0 && type != COUNTER_TYPE)
        return -EMEDIUMTYPE;
    return rc;
}

static int fail(const char *store, const char *what, int rc)
{
    fprintf(stderr, "counter: %s: %s: %s%s%s\n", store, what, ghost_strerror(rc),
            *ghost_errmsg() ? ": " : "", ghost_errmsg());
    return 1;
}

static void *work(void *arg)
{
    struct worker *w = arg;

    for (uint64_t i = 0; i < nadds && !w->err; i++) {
        struct hit h = {.delta = rand_r(&w->seed) % 4 == 0 ? 0 : 1}; /* 1 in 4: a bot */
        snprintf(h.key, sizeof h.key, "page-%02u", (unsigned)rand_r(&w->seed) % nkeys);
        int rc = ghost_run(g, increment, &h);
        if ((w->err = rc < 0 ? rc : 0) < 0)
            fail(h.key, "increment", rc);
        w->added += h.wrote ? h.delta : 0;
        w->writes += h.wrote;
        w->filtered += !w->err && !h.wrote;
    }
    return NULL;
}

static int print_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t v = 0;
    if (vlen == sizeof v)
        memcpy(&v, val, sizeof v);
    *(uint64_t *)arg += (v = be64toh(v));
    printf("  %-12.*s %10" PRIu64 "\n", (int)klen, (const char *)key, v);
    return 0;
}

static int print_totals(void)
{
    struct ghost_txn *txn;
    uint64_t sum = 0;
    int rc = ghost_txn_begin(g, &txn);
    if (rc < 0)
        return rc;
    printf("totals at generation %" PRIu64 ":\n", ghost_txn_generation(txn));
    rc = ghost_map_scan(txn, COUNTER_OID, COUNTER_MAP, NULL, 0, print_one, &sum);
    ghost_txn_abort(txn);
    printf("  %-12s %10" PRIu64 "\n", "all pages", sum);
    return rc < 0 ? rc : 0;
}

#define USAGE "usage: counter STORE [--keys N] [--adds M] [--threads T] [--mkfs]\n"

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, arg ? "counter: %s '%s'\n" USAGE : "counter: %s\n" USAGE, what, arg);
    exit(2);
}

static uint64_t number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    uint64_t v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v < min || v > max) {
        fprintf(stderr, "counter: %s needs a number from %" PRIu64 " to %" PRIu64 ", not '%s'\n",
                opt, min, max, s ? s : "");
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, const char **store, bool *mkfs)
{
    for (int i = 1; i < argc; i++) {
        char opt[32];
        const char *a = argv[i], *eq = strchr(a, '='), *val;
        if (strncmp(a, "--", 2) != 0 || !strcmp(a, "--")) {
            if (a[0] == '-' && a[1])
                usage_error("unknown option", a);
            if (*store)
                usage_error("more than one STORE:", a);
            *store = a;
            continue;
        }
        snprintf(opt, sizeof opt, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        if (!strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!strcmp(a, "--mkfs")) {
            *mkfs = true;
            continue;
        }
        if (strcmp(opt, "--keys") && strcmp(opt, "--adds") && strcmp(opt, "--threads"))
            usage_error("unknown option", a);
        val = eq ? eq + 1 : argv[++i]; /* argv[argc] is NULL */
        if (!strcmp(opt, "--keys"))
            nkeys = (unsigned)number(opt, val, 1, 10000);
        else if (!strcmp(opt, "--adds"))
            nadds = number(opt, val, 0, UINT32_MAX);
        else
            nthreads = (unsigned)number(opt, val, 1, 256);
    }
    if (!*store)
        usage_error("no STORE given", NULL);
}

int main(int argc, char **argv)
{
    const char *store = NULL;
    bool mkfs = false;
    static struct worker ws[256];
    struct ghost_stats st0, st;
    int rc, status = 0;

    parse_args(argc, argv, &store, &mkfs);
    if (mkfs && (rc = ghost_mkfs(store)) < 0 && rc != -EEXIST)
        return fail(store, "mkfs", rc);
    rc = ghost_open(store, NULL, &g);
    if (rc < 0)
        return fail(store, rc == -ENOENT ? "open (--mkfs creates it)" : "open", rc);
    if ((rc = ghost_run(g, claim_store, NULL)) < 0) {
        fail(store, rc == -EMEDIUMTYPE ? "OID 1 is not a counter object" : "claim", rc);
        ghost_close(g);
        return 1;
    }

    ghost_stats(g, &st0);
    for (unsigned t = 0; t < nthreads; t++) {
        ws[t].seed = (unsigned)getpid() * 2654435761u + t * 40503u;
        if ((rc = pthread_create(&ws[t].tid, NULL, work, &ws[t])) != 0) {
            fprintf(stderr, "counter: pthread_create: %s\n", strerror(rc));
            exit(1); /* the threads already running use g: no clean way back */
        }
    }
    uint64_t added = 0, writes = 0, filtered = 0;
    for (unsigned t = 0; t < nthreads; t++) {
        pthread_join(ws[t].tid, NULL);
        added += ws[t].added;
        writes += ws[t].writes;
        filtered += ws[t].filtered;
        status |= ws[t].err < 0;
    }

    ghost_stats(g, &st);
    int pid = getpid();
    if (nadds > 0) /* else only the totals */
        printf("pid %d: added %" PRIu64 " in %" PRIu64 " commits; %" PRIu64 " bot hits committed"
               " nothing\npid %d: ghost_stats: commits %" PRIu64 ", batches %" PRIu64
               ", conflicts %" PRIu64 ", retries %" PRIu64 "\n",
               pid, added, writes, filtered, pid, st.commits - st0.commits,
               st.batches - st0.batches, st.conflicts - st0.conflicts, st.retries - st0.retries);
    if ((rc = print_totals()) < 0)
        status = fail(store, "scan", rc);
    ghost_close(g);
    return status;
}
