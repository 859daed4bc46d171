/*
 * cli_snapshot.c - `ghostfs snapshot`, the named snapshots of a store:
 *
 *   ghostfs snapshot create STORE NAME
 *   ghostfs snapshot list STORE [--json]
 *   ghostfs snapshot delete STORE NAME
 *
 * The store is opened as a mount opens it (fs_open), not exclusively: the
 * command works on a store nobody has open and beside daemons serving it
 * (LMDB serializes the one short write each command makes). `list` opens
 * it read-only, so it changes nothing and works where writing is refused.
 *
 * A bad name is refused before the store is opened, with the reason; the
 * library checks the same rules again (and whether the name exists) in the
 * write itself. Every error is one line on stderr naming the snapshot and
 * the store; names are written escaped (cli_escape.h), so a name holding a
 * newline or a terminal escape stays one harmless line.
 *
 * `list --json` writes one JSON document, version 1:
 *
 *   {"version": 1, "snapshots": [
 *     {"name": "daily", "generation": 42, "created": "2024-05-01T12:00:00Z",
 *      "created_ns": 1714564800123456789},
 *     ...
 *   ]}
 *
 * in name order (byte order). "created" is UTC to the second, "created_ns"
 * the exact time in ns since the epoch. A name that is not valid UTF-8 has
 * its stray bytes written as \u0080-\u00ff (escape_json), and its entry
 * carries "name_hex" too: the name's exact bytes in hex. A later version
 * may add members; a change that breaks readers raises "version".
 */
#include "cli_snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_escape.h"
#include "fs.h"

/* The longest part of a bad name an error message shows. */
#define SHOWN_MAX 64

struct snap_args {
    const char *sub;   /* create, list or delete */
    const char *store; /* as given */
    const char *name;  /* create, delete */
    bool json;         /* list --json */
    bool help;         /* --help among the options */
};

void snapshot_usage(FILE *f)
{
    fprintf(f, "       ghostfs snapshot create STORE NAME\n"
               "       ghostfs snapshot list STORE [--json]\n"
               "       ghostfs snapshot delete STORE NAME\n");
}

/* A usage error: "ghostfs: snapshot: " before, arg (escaped; may be NULL)
 * and after. Returns 2, the exit status. */
static int usage_error(const char *before, const char *arg, const char *after)
{
    fprintf(stderr, "ghostfs: snapshot: %s", before);
    if (arg)
        escape_text(stderr, arg, strlen(arg));
    fprintf(stderr, "%s (see ghostfs snapshot --help)\n", after);
    return 2;
}

static bool is_help(const char *s)
{
    return !strcmp(s, "--help") || !strcmp(s, "-h");
}

/* One error line: "ghostfs: snapshot SUB: STORE: " what, with the snapshot's
 * name (escaped, cut at SHOWN_MAX bytes) between before and after when
 * with_name. Returns 1, the exit status. */
static int fail_at(const struct snap_args *a, bool with_name, const char *before, const char *after)
{
    fprintf(stderr, "ghostfs: snapshot %s: ", a->sub);
    escape_text(stderr, a->store, strlen(a->store));
    fprintf(stderr, ": %s", before);
    if (with_name) {
        size_t n = strlen(a->name);
        fputc('\'', stderr);
        escape_text(stderr, a->name, n > SHOWN_MAX ? SHOWN_MAX : n);
        fprintf(stderr, "%s'", n > SHOWN_MAX ? "..." : "");
    }
    fprintf(stderr, "%s\n", after);
    return 1;
}

/* Why name cannot name a snapshot, or NULL if it can (the library's rules:
 * ghost_snapshot_create). */
static const char *name_problem(const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    if (n == 0)
        return " is empty";
    if (n > GHOST_SNAP_NAME_MAX) {
        snprintf(buf, size, " is %zu bytes long; the limit is %d", n, GHOST_SNAP_NAME_MAX);
        return buf;
    }
    if (strchr(name, '/'))
        return " contains '/'";
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return " is reserved ('.' and '..' name directories)";
    return NULL;
}

/* Open the store as a mount does; on failure, say why and return 1. */
static int open_store(const struct snap_args *a, bool readonly, struct fs **fs)
{
    struct fs_options fo;
    fs_options_init(&fo);
    fo.store.readonly = readonly;
    int e = fs_open(a->store, &fo, fs);
    if (!e)
        return 0;
    const char *m = ghost_errmsg();
    char why[1024];
    if (e == -ENOENT)
        snprintf(why, sizeof why, "no such store");
    else if (e == -EMEDIUMTYPE)
        snprintf(why, sizeof why, "a ghost object store, but not a ghostfs filesystem");
    else if (e == -EPROTONOSUPPORT)
        snprintf(why, sizeof why, "a ghostfs filesystem of a newer version");
    else if (m && *m)
        snprintf(why, sizeof why, "%s", m);
    else
        snprintf(why, sizeof why, "%s", strerror(-e));
    /* The library's message may start with the store's name: ours does. */
    size_t n = strlen(a->store);
    if (!strncmp(why, a->store, n) && !strncmp(why + n, ": ", 2))
        memmove(why, why + n + 2, strlen(why + n + 2) + 1);
    return fail_at(a, false, why, "");
}

/* Every snapshot, into *out (the caller frees it); the count or -errno. */
static int list_all(struct fs *fs, struct ghost_snapshot **out)
{
    struct ghost_snapshot *list = NULL;
    int max = 16, n;
    for (;;) {
        struct ghost_snapshot *bigger = realloc(list, (size_t)max * sizeof *list);
        if (!bigger) {
            free(list);
            return -ENOMEM;
        }
        list = bigger;
        n = fs_snapshot_list(fs, list, max);
        if (n <= max)
            break;
        max = n; /* more were taken meanwhile: read them all again */
    }
    if (n < 0) {
        free(list);
        return n;
    }
    *out = list;
    return n;
}

/* ns since the epoch as ISO-8601: local time with its offset
 * (2024-05-01T14:00:00+02:00), or UTC (2024-05-01T12:00:00Z). */
static void iso_time(uint64_t ns, bool utc, char *buf, size_t size)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (utc ? !gmtime_r(&t, &tm) : !localtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return;
    }
    size_t n = strftime(buf, size, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S%z", &tm);
    if (!utc && n >= 5 && n + 1 < size) { /* +0200 -> +02:00 */
        memmove(buf + n - 1, buf + n - 2, 3);
        buf[n - 2] = ':';
    }
}

static void print_table(const struct ghost_snapshot *list, int n)
{
    char when[64];
    printf("%10s  %-25s  %s\n", "GENERATION", "CREATED", "NAME");
    for (int i = 0; i < n; i++) {
        iso_time(list[i].created_ns, false, when, sizeof when);
        printf("%10" PRIu64 "  %-25s  ", list[i].generation, when);
        escape_text(stdout, list[i].name, strlen(list[i].name));
        putchar('\n');
    }
}

static void print_json(const struct ghost_snapshot *list, int n)
{
    char when[64];
    printf("{\"version\": 1, \"snapshots\": [");
    for (int i = 0; i < n; i++) {
        const struct ghost_snapshot *s = &list[i];
        size_t len = strlen(s->name);
        printf("%s\n  {\"name\": ", i ? "," : "");
        bool exact = escape_json(stdout, s->name, len);
        if (!exact) {
            printf(", \"name_hex\": \"");
            for (size_t j = 0; j < len; j++)
                printf("%02x", (unsigned char)s->name[j]);
            putchar('"');
        }
        iso_time(s->created_ns, true, when, sizeof when);
        printf(", \"generation\": %" PRIu64 ", \"created\": \"%s\", \"created_ns\": %" PRIu64 "}",
               s->generation, when, s->created_ns);
    }
    printf("%s]}\n", n ? "\n" : "");
}

static int do_list(const struct snap_args *a)
{
    struct fs *fs;
    struct ghost_snapshot *list;
    if (open_store(a, true, &fs))
        return 1;
    int n = list_all(fs, &list);
    fs_close(fs);
    if (n < 0)
        return fail_at(a, false, strerror(-n), "");
    if (a->json)
        print_json(list, n);
    else
        print_table(list, n);
    free(list);
    if (fflush(stdout) || ferror(stdout))
        return fail_at(a, false, "cannot write the list: ", strerror(errno));
    return 0;
}

/* The library's message for the failure just seen, or strerror: as one
 * line (a name in it may hold any byte), after ": ". */
static void failure_detail(int e, char *buf, size_t size)
{
    const char *m = ghost_errmsg();
    snprintf(buf, size, ": %s", m && *m ? m : strerror(-e));
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
}

/* create or delete, after the name passed name_problem. */
static int do_change(const struct snap_args *a, bool create)
{
    struct fs *fs;
    char detail[1024];
    if (open_store(a, false, &fs))
        return 1;
    int e = create ? fs_snapshot_create(fs, a->name) : fs_snapshot_delete(fs, a->name);
    failure_detail(e, detail, sizeof detail); /* before fs_close() calls the library */
    fs_close(fs);
    if (e == -EEXIST && create)
        return fail_at(a, true, "snapshot ", " already exists");
    if (e == -ENOENT && !create)
        return fail_at(a, true, "no snapshot named ", "");
    if (e == -EROFS)
        return fail_at(a, true, "cannot change snapshot ", ": the store is read-only");
    if (e)
        return fail_at(a, true, create ? "cannot take snapshot " : "cannot delete snapshot ",
                       detail);
    printf("%s snapshot '", create ? "took" : "deleted");
    escape_text(stdout, a->name, strlen(a->name));
    printf("' of ");
    escape_text(stdout, a->store, strlen(a->store));
    putchar('\n');
    return 0;
}

/* Parse argv (argv[0] "snapshot", argv[1] the subcommand) into a; 0, or
 * the exit status of a usage error (reported). */
static int parse(struct snap_args *a, int argc, char **argv)
{
    const char *pos[3];
    int npos = 0;
    bool options = true;
    a->sub = argv[1];
    bool list = !strcmp(a->sub, "list");
    if (!list && strcmp(a->sub, "create") && strcmp(a->sub, "delete"))
        return usage_error("unknown subcommand '", a->sub, "'");
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (options && !strcmp(s, "--")) {
            options = false; /* a name may start with '-' */
        } else if (options && list && !strcmp(s, "--json")) {
            a->json = true;
        } else if (options && is_help(s)) {
            a->help = true;
        } else if (options && s[0] == '-' && s[1]) {
            return usage_error("unknown option '", s, "'");
        } else if (npos < (list ? 1 : 2)) {
            pos[npos++] = s;
        } else {
            return usage_error("unexpected argument '", s, "'");
        }
    }
    if (a->help)
        return 0;
    if (npos == 0)
        return usage_error(a->sub, NULL, ": which store?");
    if (npos == 1 && !list)
        return usage_error(a->sub, NULL, ": which snapshot?");
    a->store = pos[0];
    a->name = list ? NULL : pos[1];
    return 0;
}

int cmd_snapshot(int argc, char **argv)
{
    struct snap_args a = {0};
    char buf[128];
    if (argc < 2)
        return usage_error("which subcommand: create, list or delete?", NULL, "");
    int r = is_help(argv[1]) ? 0 : parse(&a, argc, argv);
    if (r)
        return r;
    if (is_help(argv[1]) || a.help) {
        printf("usage:\n");
        snapshot_usage(stdout);
        return 0;
    }
    if (!strcmp(a.sub, "list"))
        return do_list(&a);
    const char *why = name_problem(a.name, buf, sizeof buf);
    if (why)
        return fail_at(&a, true, "snapshot name ", why);
    return do_change(&a, !strcmp(a.sub, "create"));
}
