/*
 * cli_diff.c - `ghostfs diff STORE SNAP [SNAP2] [--json]`: the paths
 * created, changed, renamed and removed between snapshot SNAP and SNAP2,
 * or the live tree as the store holds it now, as `zfs diff` lists them.
 *
 * One line per inode, in inode (OID) order, fields separated by a tab:
 *
 *   +  PATH            created (reachable in the later tree only)
 *   -  PATH            removed
 *   M  PATH            its data, attributes, entries or links changed
 *   R  PATH  NEWPATH   now at another path (and maybe changed too)
 *
 * Paths are escaped as everywhere in ghostfs's output (cli_escape.h): a
 * tab or newline in a name cannot split a line. A file with several links
 * is told by its first (path.h). `--json` writes one document, version 1:
 *
 *   {"version": 1, "from": "SNAP", "to": "SNAP2" or null, "changes": [
 *     {"change": "+", "oid": 17, "type": "file", "path": "/a"},
 *     {"change": "R", "oid": 18, "type": "dir", "path": "/b", "new_path": "/c"}, ...]}
 *
 * The store is opened read-only, beside the daemons serving it; what they
 * still buffer is not in the store yet and so not seen. The cost is in
 * proportion to what changed (the store's change index, ghost_changes);
 * for a snapshot older than the index a note on stderr says the store was
 * walked whole.
 *
 * The list is written when the diff is done, so that a failure leaves
 * nothing half written; an inode that cannot be read (damage) is named on
 * stderr, the rest is listed, and the exit status is 1.
 *
 * Exit status: 0 listed, 1 failed (no such store or snapshot, a read
 * error, an inode that could not be read, the output could not be
 * written), 2 a usage error.
 */
#include "cli_diff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_escape.h"
#include "cli_store.h"
#include "diff.h"

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

void diff_usage(FILE *f)
{
    fprintf(f, "       ghostfs diff STORE SNAP [SNAP2] [--json]\n");
}

static void help(void)
{
    printf("usage: ghostfs diff STORE SNAP [SNAP2] [--json]\n"
           "List what changed between snapshot SNAP and snapshot SNAP2, or the tree as\n"
           "the store holds it now: one line per file, directory or link, in inode\n"
           "order, its change and path separated by tabs:\n"
           "  +  PATH            created\n"
           "  -  PATH            removed\n"
           "  M  PATH            its data, attributes, entries or links changed\n"
           "  R  PATH  NEWPATH   renamed or moved (and maybe changed too)\n"
           "It takes time in proportion to what changed, not to the store. The store\n"
           "is opened read-only; it may be mounted meanwhile.\n"
           "  --json  one JSON document (\"version\": 1; see ghostfs(1))\n"
           "Exit status: 0 listed, 1 failed, 2 usage error.\n");
}

static int usage_error(const char *before, const char *arg, const char *after)
{
    fprintf(stderr, "ghostfs: diff: %s", before);
    if (arg)
        escape_text(stderr, arg, strlen(arg));
    fprintf(stderr, "%s (see ghostfs diff --help)\n", after);
    return EXIT_USAGE;
}

static const char *type_name(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "file";
    case S_IFDIR:
        return "dir";
    case S_IFLNK:
        return "symlink";
    case S_IFIFO:
        return "fifo";
    case S_IFSOCK:
        return "socket";
    case S_IFCHR:
        return "chardev";
    case S_IFBLK:
        return "blockdev";
    default:
        return "unknown";
    }
}

struct out {
    FILE *f; /* the whole output, written to stdout once the diff is done */
    const char *store;
    bool json;
    unsigned long n, unreadable;
};

static int print(void *arg, const struct diff_entry *e)
{
    struct out *o = arg;
    FILE *f = o->f;
    if (e->kind == DIFF_UNREADABLE) {
        fprintf(stderr, "ghostfs: diff: ");
        escape_text(stderr, o->store, strlen(o->store));
        fprintf(stderr, ": inode %llu cannot be read: %s\n", (unsigned long long)e->oid,
                strerror(-e->error));
        o->unreadable++;
        return 0;
    }
    if (o->json) {
        fprintf(f, "%s\n  {\"change\": \"%c\", \"oid\": %llu, \"type\": \"%s\", \"path\": ",
                o->n ? "," : "", e->kind, (unsigned long long)e->oid, type_name(e->mode));
        escape_json(f, e->path, strlen(e->path));
        if (e->new_path) {
            fprintf(f, ", \"new_path\": ");
            escape_json(f, e->new_path, strlen(e->new_path));
        }
        fputc('}', f);
    } else {
        fprintf(f, "%c\t", e->kind);
        escape_text(f, e->path, strlen(e->path));
        if (e->new_path) {
            fputc('\t', f);
            escape_text(f, e->new_path, strlen(e->new_path));
        }
        fputc('\n', f);
    }
    o->n++;
    return ferror(f) ? -ENOMEM : 0;
}

/* The whole output to stdout: 0, or -EIO. */
static int write_out(const char *buf, size_t len)
{
    if (len && fwrite(buf, 1, len, stdout) != len)
        return -EIO;
    return fflush(stdout) || ferror(stdout) ? -EIO : 0;
}

int cmd_diff(int argc, char **argv)
{
    const char *args[3] = {NULL};
    int nargs = 0;
    struct out o = {0};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--json"))
            o.json = true;
        else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help();
            return EXIT_DONE;
        } else if (s[0] == '-' && s[1])
            return usage_error("unknown option '", s, "'");
        else if (nargs == 3)
            return usage_error("unexpected argument '", s, "'");
        else
            args[nargs++] = s;
    }
    if (nargs < 2)
        return usage_error(nargs ? "which snapshot?" : "which store and snapshot?", NULL, "");
    const char *store = args[0], *from = args[1], *to = args[2];
    o.store = store;
    struct fs *fs;
    if (cli_open_store("diff", store, true, &fs))
        return EXIT_FAILED;
    /* Written out only when the diff is done: a failure leaves no half of a
     * document on stdout. */
    char *buf = NULL;
    size_t len = 0;
    o.f = open_memstream(&buf, &len);
    int e = o.f ? 0 : -ENOMEM;
    if (!e && o.json) {
        fprintf(o.f, "{\"version\": 1, \"from\": ");
        escape_json(o.f, from, strlen(from));
        fprintf(o.f, ", \"to\": ");
        if (to)
            escape_json(o.f, to, strlen(to));
        else
            fprintf(o.f, "null");
        fprintf(o.f, ", \"changes\": [");
    }
    bool walked = false;
    e = e ? e : fs_diff(fs, from, to, print, &o, &walked);
    const char *m = ghost_errmsg();
    char why[1024];
    snprintf(why, sizeof why, "%s", m && *m ? m : strerror(-e));
    if (!e && o.json)
        fprintf(o.f, "%s]}\n", o.n ? "\n" : "");
    if (o.f && fclose(o.f) && !e)
        e = -ENOMEM, snprintf(why, sizeof why, "%s", strerror(ENOMEM));
    if (!e && write_out(buf, len)) {
        e = -EIO;
        snprintf(why, sizeof why, "cannot write the output: %s", strerror(errno));
    }
    free(buf);
    if (e) {
        fprintf(stderr, "ghostfs: diff: ");
        escape_text(stderr, store, strlen(store));
        fprintf(stderr, ": ");
        escape_text(stderr, why, strlen(why));
        fputc('\n', stderr);
    } else if (walked) {
        fprintf(stderr, "ghostfs: diff: snapshot '");
        escape_text(stderr, from, strlen(from));
        fprintf(stderr, "' is older than the store's change index: the whole store was read\n");
    }
    fs_close(fs);
    return e || o.unreadable ? EXIT_FAILED : EXIT_DONE;
}
