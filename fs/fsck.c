/*
 * fsck.c - `ghostfs fsck STORE [--json]`: check a store offline.
 *
 * Two passes over a store opened read-only (nothing is repaired yet, so
 * nothing is written): the library's scrub (ghost_scrub: every record's
 * checksum and shape, every map against its tally), in slices as the
 * crawler will run it, collecting the inode objects it passes; then the
 * structure walk from the root (fsck_tree.c). Findings are listed at the
 * end, each by OID and, where the walk reached it, path.
 *
 * Exit codes as fsck(8): 0 clean, 4 errors left, 8 an operational error
 * (no store, not a store, bad usage). On a terminal, stderr shows a
 * progress line; otherwise one plain line per pass.
 *
 * --json prints one document (version 1) on stdout:
 *   {"version":1,"store":S,"clean":B,
 *    "findings":[{"kind":S,"oid":N,"map":N|null,"path":S|null,"message":S}],
 *    "stats":{"records":N,"bytes":N,"objects":N,"object_bytes":N,
 *             "tallies":N,"tally_bytes":N,"older_versions":N,"older_bytes":N,
 *             "maps_checked":N,"map_keys":{"M":N},"map_bytes":{"M":N},
 *             "inodes":N,"directories":N,"reached":N,"orphans":N}}
 * Strings are written by escape_json (cli_escape.h): valid UTF-8 as it is,
 * control bytes escaped, and each byte that is not UTF-8 as \u0080-\u00ff;
 * a path with such bytes has "path_hex" after "path": its exact bytes in
 * hex (names need not be UTF-8).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_escape.h"
#include "fsck.h"
#include "fsint.h"

void fsck_add(struct fsck *k, const char *kind, uint64_t oid, int map, const char *path,
              const char *fmt, ...)
{
    struct fsck_finding f = {kind, oid, map, path ? strdup(path) : NULL, NULL};
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&f.message, fmt, ap) < 0)
        f.message = NULL;
    va_end(ap);
    if (vec_push(&k->findings, f)) {
        free(f.path);
        free(f.message);
    }
}

struct fsck_node *fsck_node(struct fsck *k, uint64_t ino)
{
    size_t lo = 0, hi = k->nodes.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->nodes.v[mid].ino < ino)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->nodes.n && k->nodes.v[lo].ino == ino ? &k->nodes.v[lo] : NULL;
}

static const char *scrub_kind(enum ghost_finding_kind kind)
{
    switch (kind) {
    case GHOST_FIND_BAD_RECORD:
        return "bad-record";
    case GHOST_FIND_ENGINE:
        return "engine-damage";
    case GHOST_FIND_MAP_SHORT:
        return "map-short";
    case GHOST_FIND_MAP_LONG:
        return "map-long";
    case GHOST_FIND_MAP_STALE:
        return "map-stale";
    case GHOST_FIND_TALLY_MISSING:
        return "tally-missing";
    }
    return "damage";
}

static void on_finding(void *arg, const struct ghost_finding *f)
{
    fsck_add(arg, scrub_kind(f->kind), f->oid, f->map, NULL, "%s", f->message);
}

/* The scrub passes objects in OID order: nodes stay sorted. */
static void on_object(void *arg, uint64_t oid, uint8_t type)
{
    struct fsck *k = arg;
    struct fsck_node n = {.ino = oid};
    if (type == FS_OBJ_INODE && vec_push(&k->nodes, n))
        fsck_add(k, "out-of-memory", oid, -1, NULL, "inode not recorded: out of memory");
}

static void progress(struct fsck *k, const struct ghost_scrub_cursor *c,
                     const struct ghost_scrub_stats *st, uint64_t obj_records)
{
    double pct = 0;
    if (c->phase == 2 && obj_records)
        pct = 30.0 * (double)st->records / (double)obj_records;
    else if (c->phase == 3 && c->len >= 8 && k->nodes.n)
        pct = 30 + 70.0 * (double)get_be64(c->key) / (double)(k->nodes.v[k->nodes.n - 1].ino + 1);
    fprintf(stderr, "\rfsck: scrub %3.0f%%, %llu records, %llu findings ", pct > 99 ? 99 : pct,
            (unsigned long long)st->records, (unsigned long long)k->findings.n);
}

static int scrub(struct fsck *k, struct ghost_scrub_stats *st)
{
    struct ghost *g = fs_store(k->fs);
    struct ghost_scrub_cursor cur = {0};
    struct ghost_scrub_visit v = {on_finding, on_object, k};
    struct ghost_usage u = {0};
    unsigned tries = 0;
    int r;
    ghost_usage(g, &u);
    while ((r = ghost_scrub(g, &cur, 10000, &v, st)) == 0 || r == -GHOST_ECONFLICT) {
        if (r == -GHOST_ECONFLICT && ++tries > 100)
            break;
        if (k->tty)
            progress(k, &cur, st, u.objects);
    }
    if (k->tty)
        fprintf(stderr, "\r\033[K");
    return r < 0 ? r : 0;
}

/* ---- the report ------------------------------------------------------------- */

/* A string or null; returns whether it was said exactly (valid UTF-8). */
static bool json_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return true;
    }
    return escape_json(stdout, s, strlen(s));
}

static void json_maps(const char *name, const uint64_t *v)
{
    printf(",\"%s\":{", name);
    for (int m = 0, first = 1; m < 256; m++)
        if (v[m]) {
            printf("%s\"%d\":%llu", first ? "" : ",", m, (unsigned long long)v[m]);
            first = 0;
        }
    putchar('}');
}

static void report_json(struct fsck *k, const char *store, const struct ghost_scrub_stats *st)
{
    printf("{\"version\":1,\"store\":");
    json_str(store);
    printf(",\"clean\":%s,\"findings\":[", k->findings.n ? "false" : "true");
    for (size_t i = 0; i < k->findings.n; i++) {
        const struct fsck_finding *f = &k->findings.v[i];
        printf("%s{\"kind\":\"%s\",\"oid\":%llu,\"map\":", i ? "," : "", f->kind,
               (unsigned long long)f->oid);
        if (f->map < 0)
            printf("null");
        else
            printf("%d", f->map);
        printf(",\"path\":");
        if (!json_str(f->path)) {
            printf(",\"path_hex\":\"");
            for (const char *p = f->path; *p; p++)
                printf("%02x", (unsigned char)*p);
            putchar('"');
        }
        printf(",\"message\":");
        json_str(f->message);
        putchar('}');
    }
    printf("],\"stats\":{\"records\":%llu,\"bytes\":%llu,\"objects\":%llu,\"object_bytes\":%llu,"
           "\"tallies\":%llu,\"tally_bytes\":%llu,\"older_versions\":%llu,\"older_bytes\":%llu,"
           "\"maps_checked\":%llu",
           (unsigned long long)st->records, (unsigned long long)st->bytes,
           (unsigned long long)st->objects, (unsigned long long)st->object_bytes,
           (unsigned long long)st->tallies, (unsigned long long)st->tally_bytes,
           (unsigned long long)st->older, (unsigned long long)st->older_bytes,
           (unsigned long long)st->maps_checked);
    json_maps("map_keys", st->map_keys);
    json_maps("map_bytes", st->map_bytes);
    printf(",\"inodes\":%zu,\"directories\":%llu,\"reached\":%llu,\"orphans\":%llu}}\n", k->nodes.n,
           (unsigned long long)k->directories, (unsigned long long)k->reached,
           (unsigned long long)k->orphans);
}

static void report_text(struct fsck *k, const char *store, const struct ghost_scrub_stats *st)
{
    for (size_t i = 0; i < k->findings.n; i++) {
        const struct fsck_finding *f = &k->findings.v[i];
        printf("%s: oid %llu", f->kind, (unsigned long long)f->oid);
        if (f->map >= 0)
            printf(" map %d", f->map);
        printf(" %s: %s\n", f->path ? f->path : "(no path)", f->message ? f->message : "");
    }
    printf("%s: %llu records, %zu inodes, %llu directories checked: ", store,
           (unsigned long long)st->records, k->nodes.n, (unsigned long long)k->directories);
    if (k->findings.n)
        printf("%zu errors left (fsck repairs nothing yet)\n", k->findings.n);
    else
        printf("clean\n");
}

/* Findings of the scrub learn the paths the walk found. */
static void name_findings(struct fsck *k)
{
    for (size_t i = 0; i < k->findings.n; i++) {
        struct fsck_finding *f = &k->findings.v[i];
        struct fsck_node *n = f->path ? NULL : fsck_node(k, f->oid);
        if (n && n->path)
            f->path = strdup(n->path);
    }
}

static void fsck_free(struct fsck *k)
{
    for (size_t i = 0; i < k->findings.n; i++) {
        free(k->findings.v[i].path);
        free(k->findings.v[i].message);
    }
    for (size_t i = 0; i < k->nodes.n; i++)
        free(k->nodes.v[i].path);
    vec_free(&k->findings);
    vec_free(&k->nodes);
}

/* ---- the command -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: ghostfs fsck [--json] STORE\n"
               "Check a ghostfs store offline: every record's checksum and shape, every map\n"
               "against its tally, and the tree from the root (entries, types, link counts,\n"
               "back references, unreachable inodes). The store is opened read-only: this\n"
               "version repairs nothing.\n"
               "  --json  one JSON document (version 1) on stdout\n"
               "Exit status: 0 clean, 4 errors left, 8 operational error.\n");
}

/* Report an operational error: m the library's message (NULL: the last
 * one), e a negative errno or library code. */
static int op_error(const char *store, int e, const char *m)
{
    if (!m)
        m = ghost_errmsg();
    if (e == -EMEDIUMTYPE)
        fprintf(stderr, "ghostfs fsck: %s: a ghost object store, but not a ghostfs filesystem\n",
                store);
    else if (m && *m && strstr(m, store))
        fprintf(stderr, "ghostfs fsck: %s\n", m);
    else
        fprintf(stderr, "ghostfs fsck: %s: %s\n", store, m && *m ? m : ghost_strerror(e));
    return FSCK_OPERATIONAL;
}

static int run(struct fsck *k, const char *store, bool json)
{
    struct fs_options o;
    struct ghost_scrub_stats st = {0};
    struct stat sb;
    if (stat(store, &sb))
        return op_error(store, -errno, NULL);
    fs_options_init(&o);
    o.store.readonly = true;
    int e = fs_open(store, &o, &k->fs);
    if (e)
        return op_error(store, e, NULL);
    k->tty = isatty(2);
    e = scrub(k, &st);
    if (!k->tty && !e)
        fprintf(stderr, "fsck: scrub: %llu records checked\n", (unsigned long long)st.records);
    e = e ? e : fsck_tree(k);
    if (!k->tty && !e)
        fprintf(stderr, "fsck: structure: %llu directories walked\n",
                (unsigned long long)k->directories);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ghost_errmsg()); /* closing clears it */
    fs_close(k->fs);
    if (e) {
        return op_error(store, e, msg);
    }
    name_findings(k);
    if (json)
        report_json(k, store, &st);
    else
        report_text(k, store, &st);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "ghostfs fsck: writing the report: %s\n", strerror(errno));
        return FSCK_OPERATIONAL;
    }
    return k->findings.n ? FSCK_ERRORS_LEFT : FSCK_CLEAN;
}

int fsck_main(int argc, char **argv)
{
    const char *store = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return FSCK_CLEAN;
        } else if (argv[i][0] == '-' || store) {
            fprintf(stderr, "ghostfs fsck: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return FSCK_OPERATIONAL;
        } else {
            store = argv[i];
        }
    }
    if (!store) {
        usage(stderr);
        return FSCK_OPERATIONAL;
    }
    struct fsck k = {0};
    int code = run(&k, store, json);
    fsck_free(&k);
    return code;
}
