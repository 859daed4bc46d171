/*
 * cli_inspect.c - `ghostfs inspect STORE [OID|PATH] [--json]`: one object
 * of a store decoded, offline or beside the daemons serving it.
 *
 * The object is named by its OID (what `ls -i` shows on a mount), or by an
 * absolute path inside the filesystem (/a/b, resolved from the root without
 * following symbolic links); nothing names the root. The store is opened
 * read-only, which LMDB allows beside a mount's daemon; what a daemon
 * still buffers is not in the store yet, and so not shown. The decoding
 * and both formats are inspect.c's (docs/inspect.md describes them).
 *
 * Exit status (docs/inspect.md):
 *   0  the object was decoded and nothing in it is damaged
 *   1  it could not be: no such object or path, not a store, an I/O error
 *   2  a usage error: a bad option, an argument that is neither an OID nor
 *      an absolute path, an OID no object can have (0, over 2^63 - 1; an
 *      inode number of the control tree is told apart, and a snapshot
 *      view's decoded to its OID)
 *   3  the object was decoded and is damaged (the output says how)
 * Every error is one line on stderr naming what is wrong.
 */
#include "cli_inspect.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli_escape.h"
#include "cli_store.h"
#include "ctl.h"
#include "fs.h"
#include "inspect.h"

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_DAMAGED = 3 };

void inspect_usage(FILE *f)
{
    fprintf(f, "       ghostfs inspect STORE [OID|PATH] [--json]\n");
}

static void help(void)
{
    printf("usage: ghostfs inspect STORE [OID|PATH] [--json]\n"
           "Decode one object of a ghostfs store: its kind, the generation that last\n"
           "wrote it, its checksum state, attributes, directory entries, blocks, links\n"
           "(back references) and extended attribute names. OID is a number (ls -i on\n"
           "a mount shows it, outside /.ghostfs); PATH is absolute inside the\n"
           "filesystem (/a/b); neither: the root. The store is opened read-only; it\n"
           "may be mounted meanwhile.\n"
           "  --json  one JSON document (\"format\": %d; see docs/inspect.md)\n"
           "Exit status: 0 decoded, 1 failed (no such object, not a store), 2 usage\n"
           "error, 3 decoded and damaged.\n",
           INSPECT_FORMAT);
}

/* "ghostfs: inspect: " what, with arg (escaped) after it. Returns code. */
static int fail(int code, const char *what, const char *arg, const char *after)
{
    fprintf(stderr, "ghostfs: inspect: %s", what);
    if (arg)
        escape_text(stderr, arg, strlen(arg));
    fprintf(stderr, "%s\n", after);
    return code;
}

/* An OID in decimal: 1 (*oid set), 0 if s is not a number, -1 if it is
 * one no object can have; 2 if it is an inode number of the control tree
 * (bit 63 set: ctl.h), *oid then the number. */
static int parse_oid(const char *s, uint64_t *oid)
{
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v == 0)
        return -1;
    *oid = v;
    return v > GHOST_OID_MAX ? 2 : 1;
}

/* What `ls -i` shows inside /.ghostfs is not an OID: say what it is. A
 * snapshot view's number holds the OID and the slot the daemon gave the
 * snapshot (ctl.h); which snapshot that is only the daemon knows. A file
 * of /.ghostfs/objects holds its OID. */
static int control_tree_number(const char *what, uint64_t ino)
{
    uint32_t slot = (uint32_t)((ino & ~CTL_BIT) >> CTL_SLOT_SHIFT);
    uint64_t oid = ino & CTL_OID_MASK;
    char err[400];
    if (objs_is_file(ino)) {
        oid = (ino & ~(CTL_BIT | CTL_OBJ_BIT)) >> 1;
        snprintf(err, sizeof err,
                 " is the inode number of /.ghostfs/objects/%llu%s, not an OID: inspect OID "
                 "%llu to see that object",
                 (unsigned long long)oid, ino & 1 ? ".json" : "", (unsigned long long)oid);
        return fail(EXIT_USAGE, "", what, err);
    }
    if (slot == 0 || oid == 0) {
        snprintf(err, sizeof err,
                 " is not an OID an object can have (1 to %llu): from 2^63 up are inode "
                 "numbers of the control tree (/.ghostfs)",
                 (unsigned long long)GHOST_OID_MAX);
        return fail(EXIT_USAGE, "", what, err);
    }
    snprintf(err, sizeof err,
             " is an inode number inside /.ghostfs/snapshots: OID %llu in the snapshot the "
             "mount's daemon gave slot %u (which one only it knows); inspect OID %llu to see "
             "that object as the store holds it now",
             (unsigned long long)oid, slot, (unsigned long long)oid);
    return fail(EXIT_USAGE, "", what, err);
}

/* The object named by what (an OID or a path; NULL: the root) written to
 * stdout. */
static int run(struct fs *fs, const char *store, const char *what, uint64_t oid, bool json)
{
    char err[1200];
    if (what && what[0] == '/') {
        int e = inspect_resolve(fs, what, &oid);
        if (e) {
            snprintf(err, sizeof err, ": %s", strerror(-e));
            return fail(EXIT_FAILED, "path ", what, err);
        }
    }
    bool bad = false;
    int e = inspect_object(fs, oid, json ? INSPECT_JSON : INSPECT_TEXT, stdout, &bad);
    if (e == -ENOENT) {
        snprintf(err, sizeof err, "no object has OID %llu in ", (unsigned long long)oid);
        return fail(EXIT_FAILED, err, store, "");
    }
    if (e) {
        snprintf(err, sizeof err, ": %s", strerror(-e));
        return fail(EXIT_FAILED, "reading ", what ? what : "the root", err);
    }
    if (fflush(stdout) || ferror(stdout))
        return fail(EXIT_FAILED, "writing the output: ", strerror(errno), "");
    return bad ? EXIT_DAMAGED : EXIT_DONE;
}

int cmd_inspect(int argc, char **argv)
{
    const char *store = NULL, *what = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--json")) {
            json = true;
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help();
            return EXIT_DONE;
        } else if (s[0] == '-' && s[1]) {
            return fail(EXIT_USAGE, "unknown option '", s, "' (see ghostfs inspect --help)");
        } else if (!store) {
            store = s;
        } else if (!what) {
            what = s;
        } else {
            return fail(EXIT_USAGE, "unexpected argument '", s, "' (see ghostfs inspect --help)");
        }
    }
    if (!store)
        return fail(EXIT_USAGE, "which store? (see ghostfs inspect --help)", NULL, "");
    uint64_t oid = FS_ROOT_INO;
    if (what && what[0] != '/') {
        int r = parse_oid(what, &oid);
        if (r == 0)
            return fail(EXIT_USAGE, "'", what,
                        "' is neither an OID (a number) nor an absolute path (/a/b)");
        if (r < 0)
            return fail(EXIT_USAGE, "", what,
                        " is not an OID an object can have (1 to 9223372036854775807)");
        if (r == 2)
            return control_tree_number(what, oid);
    }
    struct fs *fs;
    if (cli_open_store("inspect", store, true, &fs))
        return EXIT_FAILED;
    int code = run(fs, store, what, oid, json);
    fs_close(fs);
    return code;
}
