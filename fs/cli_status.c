/*
 * cli_status.c - `ghostfs status`: how a store is, for people and for
 * programs:
 *
 *   ghostfs status STORE|MOUNTPOINT [--json]
 *
 * The store is opened read-only beside whatever daemons serve it (a
 * mountpoint is followed to the store its mount serves). What it says: the
 * store's generation and space, and the crawler's state as the store
 * keeps it (ghost_crawl_status) - whether some daemon crawls it now, how
 * far its cycle has come, at what rate, when it should end, and what the
 * last full cycle counted and found: the store's contents by kind (inodes,
 * directory entries, file data, extended attributes, versions kept for
 * snapshots) and the versions it pruned; the deferred deletes still to
 * be freed; and the findings the crawler keeps (the last 32), each named
 * by its object's OID, the kind of record, and one path to it as the
 * store is now (findings.c), or why no path is known.
 *
 * `--json` writes one JSON document, version 1 (a change that breaks
 * readers raises "version"; members are only ever added). Beside the
 * store's figures and "crawler" (its state; "last" and "current" the
 * counts of json_totals): "deferred_files", "deferred_bytes" and
 * "deferred_blocks" (the backlog: files, their size, data blocks still
 * stored), and "findings", the kept findings oldest first, each
 * {"oid", "path" (null: then "path_unknown" or "no_path" says why),
 * "what" (the kind of record), "kind" (finding_kind_word), "table", "map"
 * (null: the object itself), "generation" (first found at), "cycle" (last
 * found in), "message"} - or null, with "findings_error", when the record
 * that keeps them cannot be read.
 */
#include "cli_status.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_escape.h"
#include "cli_mount.h"
#include "findings.h"
#include "fs.h"
#include "fsint.h"

#define STATUS_FORMAT 1

void status_usage(FILE *f)
{
    fprintf(f, "       ghostfs status STORE|MOUNTPOINT [--json]\n");
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "ghostfs status: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

/* The store a ghostfs mount at path serves, into store; false if path is
 * not such a mount. */
static bool mounted_store(const char *path, char *store, size_t size)
{
    char dev[64], type[256];
    if (!mount_info(path, dev, sizeof dev, type, sizeof type, NULL, 0) ||
        strcmp(type, "fuse.ghostfs"))
        return false;
    return mount_source(path, store, size);
}

/* bytes as people read them ("0 B", "88.0 KiB", "1.2 GiB"), into buf. */
static const char *human(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%" PRIu64 " B", bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

/* A wall-clock time in ns as UTC text, into buf. */
static const char *utc(int64_t ns, char *buf, size_t size)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static void text_totals(const struct ghost_crawl_totals *t)
{
    char b[32];
    printf("  records            %" PRIu64 " (%s)\n", t->records, human(t->bytes, b, sizeof b));
    printf("  inodes             %" PRIu64 "\n", t->types[FS_OBJ_INODE]);
    printf("  directory entries  %" PRIu64 "\n", t->map_keys[FS_MAP_DIRENT]);
    printf("  file data          %" PRIu64 " blocks (%s)\n", t->map_keys[FS_MAP_DATA],
           human(t->map_bytes[FS_MAP_DATA], b, sizeof b));
    printf("  xattrs             %" PRIu64 " (%s)\n", t->map_keys[FS_MAP_XATTR],
           human(t->map_bytes[FS_MAP_XATTR], b, sizeof b));
    printf("  kept for snapshots %" PRIu64 " versions (%s)\n", t->older,
           human(t->older_bytes, b, sizeof b));
    printf("  pruned             %" PRIu64 " versions no snapshot needed\n", t->pruned);
    printf("  findings           %" PRIu64 "\n", t->findings);
}

/* What status shows. */
struct report {
    struct ghost_stats stats;
    struct ghost_usage usage;
    struct ghost_crawl_status crawl;
    uint64_t deferred_files, deferred_bytes, deferred_blocks;
    /* The kept findings, each with its place; findings_error if they
     * could not be read (the rest is shown). */
    struct ghost_crawl_finding findings[GHOST_CRAWL_FINDINGS];
    struct finding_place places[GHOST_CRAWL_FINDINGS];
    unsigned nfindings;
    char findings_error[256];
};

static void text_findings(const struct report *rp)
{
    if (rp->findings_error[0]) {
        printf("findings    cannot be read: %s\n", rp->findings_error);
        return;
    }
    printf("findings    %u kept (the last %d the crawler made)\n", rp->nfindings,
           GHOST_CRAWL_FINDINGS);
    for (unsigned i = 0; i < rp->nfindings; i++) {
        const struct ghost_crawl_finding *f = &rp->findings[i];
        printf("  ");
        finding_place_text(stdout, f, &rp->places[i]);
        printf(", first found at generation %" PRIu64 ", last in cycle %" PRIu64 ": ",
               f->generation, f->cycle);
        escape_text(stdout, f->message, strlen(f->message));
        putchar('\n');
    }
}

static void json_findings(const struct report *rp)
{
    if (rp->findings_error[0]) {
        printf(",\"findings\":null,\"findings_error\":");
        escape_json(stdout, rp->findings_error, strlen(rp->findings_error));
        return;
    }
    printf(",\"findings\":[");
    for (unsigned i = 0; i < rp->nfindings; i++) {
        const struct ghost_crawl_finding *f = &rp->findings[i];
        const struct finding_place *p = &rp->places[i];
        printf("%s{\"oid\":%" PRIu64 ",\"path\":", i ? "," : "", f->oid);
        if (p->path)
            escape_json(stdout, p->path, strlen(p->path));
        else
            printf("null,\"%s\":\"%s\"", p->unknown ? "path_unknown" : "no_path", p->why);
        printf(",\"what\":\"%s\",\"kind\":\"%s\",\"table\":\"%s\",\"map\":", p->what,
               finding_kind_word(f->kind), f->table);
        if (f->map >= 0)
            printf("%d", f->map);
        else
            printf("null");
        printf(",\"generation\":%" PRIu64 ",\"cycle\":%" PRIu64 ",\"message\":", f->generation,
               f->cycle);
        escape_json(stdout, f->message, strlen(f->message));
        putchar('}');
    }
    putchar(']');
}

static void print_text(const char *store, const struct report *rp)
{
    uint64_t gen = rp->stats.generation;
    const struct ghost_usage *u = &rp->usage;
    const struct ghost_crawl_status *c = &rp->crawl;
    char when[64], used[32], avail[32];
    printf("store       ");
    escape_text(stdout, store, strlen(store));
    putchar('\n');
    printf("generation  %" PRIu64 "\n", gen);
    printf("space       %s used, %s free\n", human(u->used_bytes, used, sizeof used),
           human(u->free_bytes, avail, sizeof avail));
    printf("deferred    %" PRIu64 " unlinked files (%s, %" PRIu64 " blocks still stored) "
           "to be deleted by the crawler; counted as used\n",
           rp->deferred_files, human(rp->deferred_bytes, used, sizeof used), rp->deferred_blocks);
    text_findings(rp);
    if (c->cycles == 0 && !c->in_cycle) {
        printf("crawler     has not crawled this store yet\n");
        return;
    }
    printf("crawler     %s\n", c->leased     ? "crawling now (a daemon holds its lease)"
                               : c->in_cycle ? "stopped in a cycle (it resumes where it stopped)"
                                             : "idle until its next cycle is due");
    if (c->in_cycle) {
        printf("cycle       %" PRIu64 ", %s pass, started %s\n", c->cycles + 1,
               c->pruning ? "prune" : "scrub", utc(c->cycle_start_ns, when, sizeof when));
        if (c->percent >= 0)
            printf("progress    %.1f %%, %.0f records/s, about %.0f s left\n", c->percent, c->rate,
                   c->eta_seconds);
        else
            printf("progress    %" PRIu64 " records, %.0f records/s (the first cycle: no end "
                   "known)\n",
                   c->current.records, c->rate);
    }
    if (c->cycles) {
        printf("last cycle  %" PRIu64 ", ended %s, took %.1f s\n", c->cycles,
               utc(c->last_end_ns, when, sizeof when),
               (double)(c->last_end_ns - c->last_start_ns) / 1e9);
        text_totals(&c->last);
    }
}

static void json_totals(const char *name, const struct ghost_crawl_totals *t)
{
    printf(",\"%s\":{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"inodes\":%" PRIu64
           ",\"dirents\":%" PRIu64 ",\"data_blocks\":%" PRIu64 ",\"data_bytes\":%" PRIu64
           ",\"xattrs\":%" PRIu64 ",\"xattr_bytes\":%" PRIu64 ",\"kept_versions\":%" PRIu64
           ",\"kept_bytes\":%" PRIu64 ",\"pruned\":%" PRIu64 ",\"findings\":%" PRIu64 "}",
           name, t->records, t->bytes, t->types[FS_OBJ_INODE], t->map_keys[FS_MAP_DIRENT],
           t->map_keys[FS_MAP_DATA], t->map_bytes[FS_MAP_DATA], t->map_keys[FS_MAP_XATTR],
           t->map_bytes[FS_MAP_XATTR], t->older, t->older_bytes, t->pruned, t->findings);
}

static void print_json(const char *store, const struct report *rp)
{
    uint64_t gen = rp->stats.generation;
    const struct ghost_usage *u = &rp->usage;
    const struct ghost_crawl_status *c = &rp->crawl;
    printf("{\"version\":%d,\"store\":", STATUS_FORMAT);
    escape_json(stdout, store, strlen(store));
    printf(",\"generation\":%" PRIu64 ",\"used_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64
           ",\"deferred_files\":%" PRIu64 ",\"deferred_bytes\":%" PRIu64
           ",\"deferred_blocks\":%" PRIu64,
           gen, u->used_bytes, u->free_bytes, rp->deferred_files, rp->deferred_bytes,
           rp->deferred_blocks);
    json_findings(rp);
    printf(",\"crawler\":{\"leased\":%s,\"cycles\":%" PRIu64 ",\"in_cycle\":%s",
           c->leased ? "true" : "false", c->cycles, c->in_cycle ? "true" : "false");
    if (c->in_cycle) {
        printf(",\"pass\":\"%s\",\"cycle_start_ns\":%" PRId64 ",\"rate\":%.1f",
               c->pruning ? "prune" : "scrub", c->cycle_start_ns, c->rate);
        if (c->percent >= 0)
            printf(",\"percent\":%.1f,\"eta_seconds\":%.0f", c->percent, c->eta_seconds);
        json_totals("current", &c->current);
    }
    if (c->cycles) {
        printf(",\"last_start_ns\":%" PRId64 ",\"last_end_ns\":%" PRId64, c->last_start_ns,
               c->last_end_ns);
        json_totals("last", &c->last);
    }
    printf("}}\n");
}

/* The kept findings and their places, into rp: 0 or -ENOMEM (a finding
 * that cannot be read is said in rp->findings_error). */
static int read_findings(struct fs *fs, struct report *rp)
{
    rp->nfindings = 0;
    rp->findings_error[0] = 0;
    int e = ghost_crawl_findings(fs_store(fs), rp->findings, GHOST_CRAWL_FINDINGS, &rp->nfindings);
    if (e) {
        snprintf(rp->findings_error, sizeof rp->findings_error, "%s",
                 ghost_errmsg()[0] ? ghost_errmsg() : ghost_strerror(e));
        rp->nfindings = 0;
        return 0;
    }
    for (unsigned i = 0; i < rp->nfindings; i++) {
        e = finding_place(fs, &rp->findings[i], &rp->places[i]);
        if (e) {
            while (i-- > 0)
                finding_place_free(&rp->places[i]);
            rp->nfindings = 0;
            return e;
        }
    }
    return 0;
}

int cmd_status(int argc, char **argv)
{
    const char *arg = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage:\n");
            status_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || arg) {
            fprintf(stderr, "ghostfs status: unexpected argument '%s'\n", argv[i]);
            status_usage(stderr);
            return 2;
        } else {
            arg = argv[i];
        }
    }
    if (!arg) {
        fprintf(stderr, "ghostfs status: which store? usage:\n");
        status_usage(stderr);
        return 2;
    }
    char store[PATH_MAX];
    struct stat st;
    if (stat(arg, &st) < 0)
        return fail("%s: %s", arg, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (!mounted_store(arg, store, sizeof store))
            return fail("%s: a directory, and no ghostfs filesystem is mounted there%s", arg, "");
        if (store[0] != '/')
            return fail("%s: its mount names its store by a relative path (%s): give the store",
                        arg, store);
    } else {
        snprintf(store, sizeof store, "%s", arg);
    }
    struct fs_options o;
    struct fs *fs;
    fs_options_init(&o);
    o.store.readonly = true;
    int e = fs_open(store, &o, &fs);
    if (e)
        return ghost_errmsg()[0] ? fail("%s%s", ghost_errmsg(), "")
                                 : fail("%s: %s", store, strerror(-e));
    struct ghost *g = fs_store(fs);
    struct report rp;
    ghost_stats(g, &rp.stats);
    e = ghost_usage(g, &rp.usage);
    e = e ? e : ghost_crawl_status(g, &rp.crawl);
    if (e) {
        int r = fail("%s: %s", store, ghost_errmsg()[0] ? ghost_errmsg() : ghost_strerror(e));
        fs_close(fs);
        return r;
    }
    e = fs_deferred_backlog(fs, &rp.deferred_files, &rp.deferred_bytes, &rp.deferred_blocks);
    if (!e)
        e = read_findings(fs, &rp);
    fs_close(fs);
    if (e == -ENOMEM)
        return fail("%s: the findings: %s", store, strerror(-e));
    if (e)
        return fail("%s: the deferred deletes: %s", store, strerror(-e));
    if (json)
        print_json(store, &rp);
    else
        print_text(store, &rp);
    for (unsigned i = 0; i < rp.nfindings; i++)
        finding_place_free(&rp.places[i]);
    return 0;
}
