/*
 * cli_send.c - `ghostfs send`, `ghostfs receive` and `ghostfs backup`:
 *
 *   ghostfs send STORE SNAP [--from OLDSNAP] > FILE
 *   ghostfs receive STORE2 < FILE
 *   ghostfs backup STORE DEST
 *
 * The work is the library's (ghost_send, ghost_receive, ghost_backup);
 * this file opens the stores, spools a stream that comes through a pipe
 * (receive reads a stream twice: it checks it whole before it writes),
 * makes STORE2 when it does not exist, and shows progress: on a terminal,
 * one line on stderr rewritten in place, at most ten times a second.
 *
 * receive leaves STORE2 as it was on every error: the library applies a
 * stream in one write transaction or not at all, and a STORE2 this
 * command made for the stream is removed again.
 */
#include "cli_send.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_escape.h"
#include "ghost.h"

void send_usage(FILE *f)
{
    fprintf(f, "       ghostfs send STORE SNAP [--from OLDSNAP] > FILE\n"
               "       ghostfs receive STORE2 < FILE\n"
               "       ghostfs backup STORE DEST\n");
}

struct progress {
    const char *what; /* "send", "receive", "backup" */
    bool tty;
    int64_t start_ns, last_ns;
    bool shown;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void show(void *arg, const struct ghost_progress *p)
{
    struct progress *pr = arg;
    int64_t t = now_ns();
    if (!pr->tty || t - pr->last_ns < 100000000)
        return;
    pr->last_ns = t;
    pr->shown = true;
    double s = (double)(t - pr->start_ns) / 1e9, mib = (double)p->bytes / 1048576.0;
    if (p->total_bytes)
        fprintf(stderr, "\r%s: %5.1f%%  %" PRIu64 " records  %.1f MiB  %.1f s\033[K", pr->what,
                100.0 * (double)p->bytes / (double)p->total_bytes, p->records, mib, s);
    else
        fprintf(stderr, "\r%s: %" PRIu64 " records  %.1f MiB  %.1f s\033[K", pr->what, p->records,
                mib, s);
}

static void progress_init(struct progress *pr, const char *what)
{
    *pr = (struct progress){.what = what, .tty = isatty(2), .start_ns = now_ns()};
}

static void progress_end(struct progress *pr)
{
    if (pr->shown)
        fprintf(stderr, "\r\033[K");
}

/* "ghostfs CMD: STORE: " then the library's message for r. Returns 1. */
static int fail(const char *cmd, const char *store, int r)
{
    const char *m = ghost_errmsg();
    fprintf(stderr, "ghostfs %s: ", cmd);
    if (store) {
        escape_text(stderr, store, strlen(store));
        fputs(": ", stderr);
    }
    if (r == -ENOENT && !*m)
        m = "no such store";
    fprintf(stderr, "%s\n", *m ? m : ghost_strerror(r));
    return 1;
}

static int usage_error(const char *cmd, const char *why)
{
    fprintf(stderr, "ghostfs %s: %s\n", cmd, why);
    send_usage(stderr);
    return 2;
}

static int open_store(const char *path, bool readonly, struct ghost **g)
{
    struct ghost_options o;
    ghost_options_init(&o);
    o.readonly = readonly;
    return ghost_open(path, &o, g);
}

static bool is_help(const char *s)
{
    return !strcmp(s, "--help") || !strcmp(s, "-h");
}

int cmd_send(int argc, char **argv)
{
    const char *store = NULL, *snap = NULL, *from = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage:\n");
            send_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--from")) {
            if (++i == argc)
                return usage_error("send", "--from needs a snapshot's name");
            from = argv[i];
        } else if (!strncmp(argv[i], "--from=", 7)) {
            from = argv[i] + 7;
        } else if (argv[i][0] == '-') {
            return usage_error("send", "unknown option");
        } else if (!store) {
            store = argv[i];
        } else if (!snap) {
            snap = argv[i];
        } else {
            return usage_error("send", "too many arguments");
        }
    }
    if (!snap)
        return usage_error("send", "needs a store and a snapshot");
    if (isatty(1)) {
        fprintf(stderr, "ghostfs send: not writing a binary stream to a terminal: redirect it "
                        "to a file or a pipe\n");
        return 2;
    }
    struct ghost *g;
    int r = open_store(store, true, &g);
    if (r)
        return fail("send", store, r);
    struct progress pr;
    struct ghost_stream_info info;
    progress_init(&pr, "send");
    r = ghost_send(g, snap, from, 1, show, &pr, &info);
    progress_end(&pr);
    if (r) {
        int e = fail("send", store, r);
        ghost_close(g);
        return e;
    }
    ghost_close(g);
    if (pr.tty)
        fprintf(stderr, "send: %s%s%s: %" PRIu64 " records, %" PRIu64 " bytes in %.1f s\n", snap,
                from ? " since " : "", from ? from : "", info.records, info.bytes,
                (double)(now_ns() - pr.start_ns) / 1e9);
    return 0;
}

/* A file beside path, unlinked at once: where a piped stream is spooled.
 * Returns its fd, or -errno. */
static int spool(const char *path, int in)
{
    char dir[PATH_MAX], tmpl[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(tmpl, sizeof tmpl, "%s/.ghostfs-receive-XXXXXX", dirname(dir));
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -errno;
    unlink(tmpl);
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            return fd;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto fail;
            done += w;
        }
    }
fail:;
    int e = errno;
    close(fd);
    return -e;
}

static int no_init(struct ghost_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    return 0;
}

/* Remove a store this command made (its file, its lock and change log). */
static void remove_store(const char *path)
{
    char p[PATH_MAX + 16];
    unlink(path);
    snprintf(p, sizeof p, "%s-lock", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-changes", path);
    unlink(p);
}

int cmd_receive(int argc, char **argv)
{
    if (argc == 2 && is_help(argv[1])) {
        printf("usage:\n");
        send_usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return usage_error("receive", "needs one store, and the stream on standard input");
    const char *store = argv[1];
    struct stat st;
    int fd = 0;
    if (fstat(0, &st) || !S_ISREG(st.st_mode)) {
        fd = spool(store, 0);
        if (fd < 0) {
            fprintf(stderr, "ghostfs receive: spooling the stream beside ");
            escape_text(stderr, store, strlen(store));
            fprintf(stderr, ": %s\n", strerror(-fd));
            return 1;
        }
    }
    struct progress pr;
    struct ghost_stream_info info;
    bool made = false;
    progress_init(&pr, "receive");
    int r = 0;
    if (access(store, F_OK) && errno == ENOENT) {
        /* No store: a full stream makes one (with the sender's untallied
         * maps), after the stream was checked. */
        r = ghost_stream_check(fd, show, &pr, &info);
        if (r == 0 && info.incremental) {
            progress_end(&pr);
            fprintf(stderr, "ghostfs receive: ");
            escape_text(stderr, store, strlen(store));
            fprintf(stderr, ": no such store; an incremental stream goes into the store that "
                            "holds its base ('");
            escape_text(stderr, info.base, strlen(info.base));
            fprintf(stderr, "')\n");
            if (fd)
                close(fd);
            return 1;
        }
        if (r == 0) {
            r = ghost_mkfs_init(store, info.untallied, no_init, NULL);
            made = r == 0;
        }
    }
    struct ghost *g = NULL;
    r = r ? r : open_store(store, false, &g);
    r = r ? r : ghost_receive(g, fd, show, &pr, &info);
    progress_end(&pr);
    if (g)
        ghost_close(g);
    if (fd)
        close(fd);
    if (r) {
        int e = fail("receive", store, r);
        if (made)
            remove_store(store);
        return e;
    }
    if (pr.tty)
        fprintf(stderr, "receive: %s%s%s: %" PRIu64 " records, %" PRIu64 " bytes in %.1f s\n",
                info.snapshot, info.incremental ? " since " : "", info.base, info.records,
                info.bytes, (double)(now_ns() - pr.start_ns) / 1e9);
    return 0;
}

int cmd_backup(int argc, char **argv)
{
    if (argc == 2 && is_help(argv[1])) {
        printf("usage:\n");
        send_usage(stdout);
        return 0;
    }
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
        return usage_error("backup", "needs a store and a destination");
    const char *store = argv[1], *dest = argv[2];
    struct ghost *g;
    int r = open_store(store, true, &g);
    if (r)
        return fail("backup", store, r);
    struct progress pr;
    struct ghost_backup_info info;
    progress_init(&pr, "backup");
    r = ghost_backup(g, dest, show, &pr, &info);
    progress_end(&pr);
    ghost_close(g);
    if (r)
        return fail("backup", NULL, r); /* the message names dest */
    printf("backup: ");
    escape_text(stdout, dest, strlen(dest));
    printf(": %.1f MiB (%" PRIu64 " bytes), generation %" PRIu64 ", %" PRIu64
           " records checked, in %.2f s\n",
           (double)info.bytes / 1048576.0, info.bytes, info.generation, info.records,
           (double)(now_ns() - pr.start_ns) / 1e9);
    return 0;
}
