/*
 * cli.c - the ghostfs command.
 *
 *   ghostfs mkfs [--block-size N] STORE
 *   ghostfs mount STORE MOUNTPOINT [-o opt,...] [-f] [-d]
 *   ghostfs umount MOUNTPOINT
 *   ghostfs snapshot create|list|delete STORE ...   (cli_snapshot.c)
 *   ghostfs fsck [--json] STORE                (fsck.c)
 *   ghostfs inspect STORE [OID|PATH] [--json]   (cli_inspect.c)
 *   ghostfs diff STORE SNAP [SNAP2] [--json]   (cli_diff.c)
 *   ghostfs send|receive|backup ...            (cli_send.c)
 *   ghostfs STORE MOUNTPOINT [-o opt,...]      (how mount.fuse3 calls us)
 *   mount.ghostfs STORE MOUNTPOINT [-o opt,...] (mount -t fuse.ghostfs, fstab)
 *
 * Mounting checks everything it can before it forks: the store opens and is
 * a filesystem, the mountpoint is a directory and not already mounted, every
 * option is known. The daemon is then a child that opens the store itself
 * (LMDB and threads do not survive fork) and tells the parent through a
 * pipe whether it is serving; the parent prints any error and exits with
 * the daemon's verdict, so `ghostfs mount` fails when the mount failed.
 * "Serving" means the kernel took the daemon's answer to its INIT request
 * (see watch_init): libfuse can still refuse INIT after the mount.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_diff.h"
#include "cli_inspect.h"
#include "cli_mount.h"
#include "cli_send.h"
#include "cli_snapshot.h"
#include "cli_status.h"
#include "daemon_log.h"
#include "fs.h"
#include "fsck.h"
#include "fuse_ops.h"

static const char *prog = "ghostfs";

static void usage(FILE *f)
{
    fprintf(f, "usage: ghostfs mkfs [--block-size BYTES] STORE\n"
               "       ghostfs mount STORE MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
               "       ghostfs umount MOUNTPOINT\n"
               "       ghostfs fsck [--json] STORE   (offline check; repairs nothing yet)\n");
    snapshot_usage(f);
    inspect_usage(f);
    diff_usage(f);
    send_usage(f);
    status_usage(f);
    fprintf(f, "       ghostfs --help | --version\n"
               "\n"
               "Snapshots: create takes one of the store as committed now, list shows\n"
               "them (--json: a versioned JSON document), delete drops one. They work on\n"
               "an unmounted store and beside mounts of it.\n"
               "\n"
               "send writes a snapshot (or, with --from, what changed since an older one)\n"
               "as a checked stream; receive applies one to STORE2 whole or not at all,\n"
               "making STORE2 for a full stream if it does not exist; backup writes a\n"
               "compacted, checked copy of the whole store (mount the copy to restore).\n"
               "\n"
               "Mount options (-o, comma separated):\n"
               "  ro                  read only\n"
               "  snapshot=NAME       mount snapshot NAME alone, read-only (deleting it is\n"
               "                      refused while it is mounted)\n"
               "  allow_other         let other users in (needs user_allow_other)\n"
               "  sync=batch|always|none   durability of commits (default batch)\n"
               "  cache_size=BYTES    object cache budget (default 64M)\n"
               "  write_buffer=BYTES  dirty file data before back-pressure (default 256M)\n"
               "  commit_interval=MS  commit buffered writes after this long (default 1000)\n"
               "  writeback           let the kernel cache writes too (one mount only;\n"
               "                      chattr +i/+a are not supported, and an append-only\n"
               "                      file is not opened for writing)\n"
               "  accept_rollback     go on from the older state of a store that fell back\n"
               "                      to one (a damaged meta page), instead of refusing\n"
               "  spin=US             poll for the next request this long before sleeping\n"
               "                      (default 50; 0: sleep at once)\n"
               "  read_ahead=KB       the mount's read-ahead window, set as root (default\n"
               "                      1024; 0: the kernel's, 128)\n"
               "  crawl_cpu=PERCENT   the background crawler's share of one core (default\n"
               "                      10; 0 pauses it). It checks every record and drops\n"
               "                      versions no snapshot needs; see ghostfs status\n"
               "  crawl_slice=N       records it reads in one short transaction (default 1000)\n"
               "  crawl_cycle=TIME    least time from one full walk's start to the next's\n"
               "                      (seconds, or 90m, 12h, 7d; default 1d)\n"
               "  log=PATH            the daemon's log: appended to the file PATH (an\n"
               "                      absolute path), each line with its time and level,\n"
               "                      libfuse's messages too. Default: syslog (facility\n"
               "                      daemon) once detached; stderr with -f or -d\n"
               "  and the usual mount options: rw, dev, nodev, suid, nosuid (nodev,nosuid\n"
               "  unless root asks dev,suid; mount(8) as root: dev,suid unless told no),\n"
               "  exec, noexec, allow_root, auto_unmount, fsname=, subtype=, max_read=,\n"
               "  sync, dirsync (either: every change is durable before the call returns,\n"
               "  as sync=always; sync also makes the kernel fsync each write), async.\n"
               "  Access times: ghostfs never updates a file's atime on reads (as with\n"
               "  noatime) and FUSE leaves atime to it, so atime, noatime, relatime,\n"
               "  norelatime, strictatime, nostrictatime, lazytime, nolazytime, diratime\n"
               "  and nodiratime are accepted and change nothing.\n"
               "Remount (as root: mount -o remount,OPTIONS MOUNTPOINT): ro commits and\n"
               "  syncs everything first, rw writes again (not if mounted ro), sync=,\n"
               "  cache_size=, write_buffer=, commit_interval=, crawl_cpu=, crawl_slice=,\n"
               "  crawl_cycle=, sync, dirsync and the\n"
               "  kernel's flags change live; spin=, read_ahead=, writeback,\n"
               "  accept_rollback, log=, allow_other, fsname= and the like are refused.\n"
               "-f  stay in the foreground   -d  foreground with FUSE debug output\n"
               "BYTES may end in K, M or G. A comma inside an option's value is written\n"
               "\\, (and a backslash \\\\), as libfuse reads -o lists.\n");
}

/* Where cli_fail writes instead of stderr, if anywhere (cli_fail_to). */
static char *fail_buf;
static size_t fail_size;

void cli_fail_to(char *buf, size_t size)
{
    fail_buf = buf;
    fail_size = size;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (fail_buf) {
        vsnprintf(fail_buf, fail_size, fmt, ap);
    } else {
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
    return 1;
}
#define fail cli_fail

/* The library's messages name the store already; ours must too. */
static const char *store_error(const char *store, int e)
{
    static char buf[1024];
    const char *m = ghost_errmsg();
    if (e == -EMEDIUMTYPE)
        snprintf(buf, sizeof buf,
                 "%s: a ghost object store, but not a ghostfs filesystem (no superblock)", store);
    else if (e == -EPROTONOSUPPORT)
        snprintf(buf, sizeof buf, "%s: a ghostfs filesystem of a newer version", store);
    else if (m && *m && strstr(m, store))
        snprintf(buf, sizeof buf, "%s", m);
    else
        snprintf(buf, sizeof buf, "%s: %s", store, m && *m ? m : ghost_strerror(e));
    return buf;
}

static int parse_bytes(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* A share of one core in percent, to one decimal ("10", "2.5"), as
 * thousandths. */
static int parse_permille(const char *s, unsigned *out)
{
    unsigned whole = 0, tenth = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9' && whole <= 100)
        whole = whole * 10 + (unsigned)(*p++ - '0');
    if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
        tenth = (unsigned)(p[1] - '0');
        p += 2;
    }
    if (*p == '%')
        p++;
    if (*p || whole * 10 + tenth > 1000)
        return -1;
    *out = whole * 10 + tenth;
    return 0;
}

/* A duration in seconds, or with s, m, h or d after it; at most a year. */
static int parse_duration(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned long long unit = *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 1;
    if (*end == 's' || unit > 1)
        end++;
    if (*end || v > 366ULL * 86400 / unit)
        return -1;
    *out = (unsigned)(v * unit);
    return 0;
}

static bool is_help(const char *s)
{
    return !strcmp(s, "--help") || !strcmp(s, "-h");
}

/* ---- mkfs ----------------------------------------------------------------------- */

static int cmd_mkfs(int argc, char **argv)
{
    size_t bs = 0;
    const char *store = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: ghostfs mkfs [--block-size BYTES] STORE\n"
                   "Make a new, empty ghostfs filesystem in the file STORE (refused if it\n"
                   "exists). BYTES: the size of file data blocks, a power of two from 4K\n"
                   "to 1M (default 64K); it may end in K or M.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--block-size") && i + 1 < argc) {
            if (parse_bytes(argv[++i], &bs))
                return fail("mkfs: bad block size '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            return fail("mkfs: unknown option '%s'", argv[i]);
        } else if (!store) {
            store = argv[i];
        } else {
            return fail("mkfs: unexpected argument '%s'", argv[i]);
        }
    }
    if (!store)
        return fail("mkfs: which store? usage: ghostfs mkfs [--block-size BYTES] STORE");
    if (bs && (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1))))
        return fail("mkfs: block size %zu must be a power of two from 4K to 1M", bs);
    int e = fs_mkfs(store, (uint32_t)bs);
    if (e)
        return fail("mkfs: %s", store_error(store, e));
    printf("made a ghostfs filesystem in %s (block size %zu)\n", store,
           bs ? bs : (size_t)FS_BLOCK_DEFAULT);
    return 0;
}

/* ---- mount ------------------------------------------------------------------------ */

/* Why the filesystem did not open: a missing snapshot (-o snapshot=) is
 * named; everything else is the store's error. */
static const char *open_error(const char *store, const char *snapshot, int e)
{
    static char buf[1024];
    if (snapshot && e == -ENOENT) {
        snprintf(buf, sizeof buf, "%s: no snapshot named '%s' (see ghostfs snapshot list)", store,
                 snapshot);
        return buf;
    }
    return store_error(store, e);
}

char *mount_option_next(char **cursor)
{
    char *s = *cursor;
    while (s && *s == ',')
        s++;
    if (!s || !*s) {
        *cursor = NULL;
        return NULL;
    }
    char *start = s, *w = s;
    for (; *s && *s != ','; s++) {
        if (*s == '\\' && s[1])
            s++;
        *w++ = *s;
    }
    *cursor = *s ? s + 1 : NULL; /* before *w = 0, which may overwrite the comma */
    *w = 0;
    return start;
}

bool mount_option_add(char *buf, size_t size, const char *o)
{
    size_t n = strlen(buf), at = n;
    if (n) {
        if (at + 1 >= size)
            return false;
        buf[at++] = ',';
    }
    for (const char *r = o; *r; r++) {
        bool esc = *r == ',' || *r == '\\';
        if (at + esc + 1 >= size) {
            buf[n] = 0;
            return false;
        }
        if (esc)
            buf[at++] = '\\';
        buf[at++] = *r;
    }
    buf[at] = 0;
    return true;
}

static void add_fuse_opt(struct mount_args *m, const char *o)
{
    if (!mount_option_add(m->fuse_opts, sizeof m->fuse_opts, o))
        m->fuse_opts_full = true; /* check_mount says so */
}

/* Options mount(8) and fstab pass that mean nothing to a FUSE daemon. */
static bool ignored(const char *o)
{
    static const char *const list[] = {"defaults", "auto",      "noauto",  "user",
                                       "nouser",   "users",     "_netdev", "nofail",
                                       "rw",       "sync_read", "async",   NULL};
    for (int i = 0; list[i]; i++)
        if (!strcmp(o, list[i]))
            return true;
    return !strncmp(o, "x-", 2) || !strncmp(o, "comment=", 8);
}

static bool passed_to_fuse(const char *o)
{
    static const char *const list[] = {"allow_other", "allow_root", "dev",          "suid",
                                       "exec",        "noexec",     "atime",        "noatime",
                                       "sync",        "dirsync",    "auto_unmount", NULL};
    static const char *const prefixed[] = {"fsname=", "subtype=", NULL};
    for (int i = 0; list[i]; i++)
        if (!strcmp(o, list[i]))
            return true;
    for (int i = 0; prefixed[i]; i++)
        if (!strncmp(o, prefixed[i], strlen(prefixed[i])))
            return true;
    return false;
}

/* A whole decimal number from lo to hi, all of s. Returns 0, or -1. */
static int parse_number(const char *s, long lo, long hi, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The mount flags the kernel keeps (mount(2)'s MS_*): what a remount
 * gives it. nosymfollow and the like are not here: libfuse 3.14 cannot
 * mount with them, so they are unknown options. */
static const struct {
    const char *name;
    unsigned long flag;
    bool on;
} vfs_flags[] = {
    {"ro", MS_RDONLY, true},
    {"rw", MS_RDONLY, false},
    {"nosuid", MS_NOSUID, true},
    {"suid", MS_NOSUID, false},
    {"nodev", MS_NODEV, true},
    {"dev", MS_NODEV, false},
    {"noexec", MS_NOEXEC, true},
    {"exec", MS_NOEXEC, false},
    {"sync", MS_SYNCHRONOUS, true},
    {"async", MS_SYNCHRONOUS, false},
    {"dirsync", MS_DIRSYNC, true},
    {"noatime", MS_NOATIME, true},
    {"atime", MS_NOATIME, false},
    {"nodiratime", MS_NODIRATIME, true},
    {"diratime", MS_NODIRATIME, false},
    {"relatime", MS_RELATIME, true},
    {"norelatime", MS_RELATIME, false},
    {"strictatime", MS_STRICTATIME, true},
    {"nostrictatime", MS_STRICTATIME, false},
    {"lazytime", MS_LAZYTIME, true},
    {"nolazytime", MS_LAZYTIME, false},
};

/* A VFS flag option: note it in m->vfs_set; false if o is none. */
static bool vfs_flag(struct mount_args *m, const char *o)
{
    for (size_t i = 0; i < sizeof vfs_flags / sizeof vfs_flags[0]; i++) {
        if (strcmp(o, vfs_flags[i].name))
            continue;
        m->vfs_named |= vfs_flags[i].flag;
        if (vfs_flags[i].on)
            m->vfs_set |= vfs_flags[i].flag;
        else
            m->vfs_set &= ~vfs_flags[i].flag;
        return true;
    }
    return false;
}

/* The options FUSE's kernel side shows in the mount table, which mount(8)
 * hands back to a remount's helper. */
static bool fuse_kernel_option(const char *o)
{
    static const char *const prefixed[] = {
        "user_id=", "group_id=", "rootmode=", "blksize=", "max_read=", NULL};
    if (!strcmp(o, "default_permissions") || !strcmp(o, "allow_other") || !strcmp(o, "allow_root"))
        return true;
    for (int i = 0; prefixed[i]; i++)
        if (!strncmp(o, prefixed[i], strlen(prefixed[i])))
            return true;
    return false;
}

/* Whether the comma separated list holds word. */
static bool list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p; p = strchr(p, ',')) {
        p += *p == ',';
        if (!strncmp(p, word, n) && (p[n] == ',' || !p[n]))
            return true;
    }
    return false;
}

void mount_args_init(struct mount_args *m)
{
    memset(m, 0, sizeof *m);
    fs_options_init(&m->fo);
    m->sync = m->fo.store.sync;
    m->spin_us = GHOSTFS_SPIN_US;
    m->read_ahead_kb = 1024;
    m->log_fd = -1;
}

void mount_args_settle(struct mount_args *m)
{
    m->vfs_sync = m->vfs_set & MS_SYNCHRONOUS;
    m->dirsync = m->vfs_set & MS_DIRSYNC;
    m->fo.store.readonly = m->vfs_set & MS_RDONLY;
    /* sync and dirsync: every change durable before the call returns. The
     * kernel makes each write of a sync mount an fsync too. */
    m->fo.store.sync = m->vfs_sync || m->dirsync ? GHOST_SYNC_ALWAYS : m->sync;
    if (m->fo.store.readonly && !m->remount)
        add_fuse_opt(m, "ro");
}

int mount_option(struct mount_args *m, char *o)
{
    char *val = strchr(o, '=');
    size_t bytes;
    bool flag = vfs_flag(m, o);
    if (!strcmp(o, "remount")) {
        m->remount = true;
    } else if (!strcmp(o, "nodev") || !strcmp(o, "nosuid")) {
        m->given |= o[2] == 'd' ? GIVEN_NODEV : GIVEN_NOSUID;
        add_fuse_opt(m, o);
    } else if (!strcmp(o, "writeback")) {
        m->writeback = m->fo.kernel_writeback = true;
        m->given |= GIVEN_WRITEBACK;
    } else if (!strcmp(o, "accept_rollback")) {
        m->fo.store.accept_rollback = true;
        m->given |= GIVEN_ROLLBACK;
    } else if (val && !strncmp(o, "snapshot=", 9)) {
        if (!val[1])
            return fail("bad value in option '%s': the name of a snapshot", o);
        free((char *)m->fo.snapshot);
        m->fo.snapshot = strdup(val + 1);
        if (!m->fo.snapshot)
            return fail("out of memory");
        m->given |= GIVEN_SNAPSHOT;
        add_fuse_opt(m, "ro"); /* the kernel refuses writes before asking */
    } else if (val && !strncmp(o, "sync=", 5)) {
        if (!strcmp(val + 1, "batch"))
            m->sync = GHOST_SYNC_BATCH;
        else if (!strcmp(val + 1, "always"))
            m->sync = GHOST_SYNC_ALWAYS;
        else if (!strcmp(val + 1, "none"))
            m->sync = GHOST_SYNC_NONE;
        else
            return fail("bad value in option '%s': sync is batch, always or none", o);
        m->given |= GIVEN_SYNC;
    } else if (val && !strncmp(o, "cache_size=", 11)) {
        if (parse_bytes(val + 1, &bytes) || bytes < (1u << 20))
            return fail("bad value in option '%s': a size of at least 1M", o);
        m->fo.store.cache_bytes = bytes;
        m->given |= GIVEN_CACHE;
    } else if (val && !strncmp(o, "write_buffer=", 13)) {
        if (parse_bytes(val + 1, &bytes) || bytes < (1u << 20))
            return fail("bad value in option '%s': a size of at least 1M", o);
        m->fo.write_buffer = bytes;
        m->given |= GIVEN_WBUF;
    } else if (val && !strncmp(o, "commit_interval=", 16)) {
        if (parse_number(val + 1, 1, 3600000, &m->fo.commit_interval_ms))
            return fail("bad value in option '%s': milliseconds from 1 to 3600000", o);
        m->given |= GIVEN_INTERVAL;
    } else if (val && !strncmp(o, "read_ahead=", 11)) {
        if (parse_number(val + 1, 0, 65536, &m->read_ahead_kb))
            return fail("bad value in option '%s': KiB from 0 to 65536", o);
        m->given |= GIVEN_READ_AHEAD;
    } else if (val && !strncmp(o, "crawl_cpu=", 10)) {
        if (parse_permille(val + 1, &m->fo.crawl.cpu_permille))
            return fail("bad value in option '%s': a percentage of one core, 0 to 100", o);
        m->given |= GIVEN_CRAWL_CPU;
    } else if (val && !strncmp(o, "crawl_slice=", 12)) {
        if (parse_number(val + 1, 10, 100000, &m->fo.crawl.slice_records))
            return fail("bad value in option '%s': records from 10 to 100000", o);
        m->given |= GIVEN_CRAWL_SLICE;
    } else if (val && !strncmp(o, "crawl_cycle=", 12)) {
        if (parse_duration(val + 1, &m->fo.crawl.cycle_seconds))
            return fail("bad value in option '%s': a time such as 3600, 90m, 12h or 7d, at "
                        "most a year",
                        o);
        m->given |= GIVEN_CRAWL_CYCLE;
    } else if (val && !strncmp(o, "spin=", 5)) {
        if (parse_number(val + 1, 0, 10000, &m->spin_us))
            return fail("bad value in option '%s': microseconds from 0 to 10000", o);
        m->given |= GIVEN_SPIN;
    } else if (val && !strncmp(o, "log=", 4)) {
        /* opened by mount_parsed; the daemon runs in /, so absolute */
        if (val[1] != '/')
            return fail("bad value in option '%s': the log file's absolute path", o);
        if (strlen(val + 1) >= sizeof m->log_path)
            return fail("bad value in option 'log=': a path of %zu bytes", strlen(val + 1));
        snprintf(m->log_path, sizeof m->log_path, "%s", val + 1);
        m->given |= GIVEN_LOG;
    } else if (val && !m->remount && !strncmp(o, "max_read=", 9)) {
        /* libfuse gives it to the kernel, and refuses INIT unless the
         * daemon's init offers the same (op_init) */
        if (parse_number(val + 1, 4096, UINT_MAX, &m->max_read))
            return fail("bad value in option '%s': bytes from 4096 to %u", o, UINT_MAX);
        add_fuse_opt(m, o);
    } else if (m->remount && fuse_kernel_option(o)) {
        /* the mount's own, handed back by mount(8): checked by cmd_remount */
        size_t n = strlen(m->kernel_opts);
        snprintf(m->kernel_opts + n, sizeof m->kernel_opts - n, "%s%s", n ? "," : "", o);
    } else if (passed_to_fuse(o)) {
        add_fuse_opt(m, o);
    } else if (!flag && !ignored(o)) {
        return fail("unknown mount option '%s' (see ghostfs --help)", o);
    }
    /* (relatime and the other VFS flags libfuse 3.14 refuses are kept
     * from it: FUSE leaves access times to the daemon, see --help) */
    return 0;
}

static int parse_mount(struct mount_args *m, int argc, char **argv)
{
    mount_args_init(m);
    /* A remount may name "remount" anywhere in its list: know it first. */
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "-o", 2))
            m->remount |= list_has(argv[i][2]     ? argv[i] + 2
                                   : i + 1 < argc ? argv[i + 1]
                                                  : "",
                                   "remount");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
            const char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!list)
                return fail("-o needs a list of options");
            char *copy = strdup(list), *rest = copy;
            if (!copy)
                return fail("out of memory");
            for (char *o; (o = mount_option_next(&rest));)
                if (mount_option(m, o)) {
                    free(copy);
                    return 1;
                }
            free(copy);
        } else if (!strcmp(a, "-f")) {
            m->foreground = true;
        } else if (!strcmp(a, "-d")) {
            m->foreground = m->debug = true;
        } else if (!strcmp(a, "-n") || !strcmp(a, "-s") || !strcmp(a, "-v")) {
            /* mount(8) helper flags: no mtab, sloppy, verbose */
        } else if (a[0] == '-') {
            return fail("unknown option '%s' (see ghostfs --help)", a);
        } else if (!m->store) {
            m->store = a;
        } else if (!m->mnt) {
            m->mnt = a;
        } else {
            return fail("unexpected argument '%s'", a);
        }
    }
    mount_args_settle(m);
    if (!m->store || !m->mnt)
        return fail("mount needs a STORE and a MOUNTPOINT (see ghostfs --help)");
    /* The daemon runs in /, so it needs absolute paths. */
    static char store[PATH_MAX], mnt[PATH_MAX];
    if (!realpath(m->store, store))
        return fail("store %s: %s", m->store, errno == ENOENT ? "no such store" : strerror(errno));
    if (!realpath(m->mnt, mnt))
        return fail("mountpoint %s: %s", m->mnt, strerror(errno));
    m->store = store;
    m->mnt = mnt;
    return 0;
}

/* Undo mountinfo's escapes in place: a space, tab, newline or backslash
 * in a path is written there as \ and three octal digits. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

/* The mountinfo line of the last mount on path into line; false if none. */
static bool mountinfo_line(const char *path, char *line, size_t size)
{
    char real[PATH_MAX], buf[8192];
    if (!realpath(path, real))
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    bool found = false;
    if (!f)
        return false;
    while (fgets(buf, sizeof buf, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS */
        char mp[4096];
        if (sscanf(buf, "%*s %*s %*s %*s %4095s", mp) != 1)
            continue;
        unescape_octal(mp);
        if (strcmp(mp, real))
            continue;
        snprintf(line, size, "%s", buf);
        found = true;
    }
    fclose(f);
    return found;
}

bool mount_info(const char *path, char *dev, size_t size, char *fstype, size_t tsize, char *opts,
                size_t osize)
{
    char line[8192], d[64] = "", t[256] = "", so[2048] = "";
    if (!mountinfo_line(path, line, sizeof line))
        return false;
    sscanf(line, "%*s %*s %63s", d);
    const char *dash = strstr(line, " - ");
    if (dash)
        sscanf(dash + 3, "%255s %*s %2047s", t, so);
    snprintf(dev, size, "%s", d);
    if (fstype)
        snprintf(fstype, tsize, "%s", t);
    if (opts)
        snprintf(opts, osize, "%s", so);
    return true;
}

/* The MS_* flags a list of options names as set. */
static unsigned long flags_in_list(char *list)
{
    unsigned long flags = 0;
    char *save = NULL;
    for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save))
        for (size_t i = 0; i < sizeof vfs_flags / sizeof vfs_flags[0]; i++)
            if (vfs_flags[i].on && !strcmp(o, vfs_flags[i].name))
                flags |= vfs_flags[i].flag;
    return flags;
}

bool mount_vfs_flags(const char *path, unsigned long *flags)
{
    char line[8192], mnt_opts[2048] = "", super[2048] = "";
    if (!mountinfo_line(path, line, sizeof line))
        return false;
    const char *dash = strstr(line, " - ");
    if (sscanf(line, "%*s %*s %*s %*s %*s %2047s", mnt_opts) != 1 || !dash)
        return false;
    sscanf(dash + 3, "%*s %*s %2047s", super);
    *flags = flags_in_list(mnt_opts) | flags_in_list(super);
    return true;
}

bool mount_source(const char *path, char *source, size_t size)
{
    char real[PATH_MAX], line[8192], src[4096] = "";
    bool found = false;
    if (!realpath(path, real))
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        char mp[4096];
        const char *dash = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 || !dash)
            continue;
        unescape_octal(mp);
        if (strcmp(mp, real) || sscanf(dash + 3, "%*s %4095s", src) != 1)
            continue;
        unescape_octal(src);
        snprintf(source, size, "%s", src);
        found = true;
    }
    fclose(f);
    return found;
}

/* The device (major:minor) of the last mount on path. */
static bool mount_device(const char *path, char *dev, size_t size)
{
    return mount_info(path, dev, size, NULL, 0, NULL, 0);
}

static bool is_mounted(const char *path)
{
    char dev[64];
    return mount_device(path, dev, sizeof dev);
}

/* The kernel reads ahead 128 KiB at a time on a FUSE mount, in requests of
 * that size: at INIT it takes the smaller of what the daemon offers and the
 * mount's read-ahead window, a file in sysfs that root may raise - here,
 * after the mount and before the loop answers INIT (op_init offers the
 * same). With a window of 1 MiB a sequential read takes an eighth of the
 * requests. Not root: the kernel's window stays (silently: that is
 * expected); another failure is reported. */
static void set_read_ahead(const char *mnt, unsigned kb)
{
    char dev[64], path[128];
    if (!kb || !mount_device(mnt, dev, sizeof dev))
        return;
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *f = fopen(path, "w");
    bool ok = f && fprintf(f, "%u\n", kb) > 0;
    if (f && fclose(f))
        ok = false;
    if (!ok && errno != EACCES && errno != EPERM && errno != EROFS) /* else: not root */
        fprintf(stderr, "%s: %s: read-ahead stays the kernel's: %s: %s\n", prog, mnt, path,
                strerror(errno));
}

/* Is every name=VALUE in the FUSE options (fsname=, subtype=) want? The
 * daemon names its mounts itself: the store's path, and type fuse.ghostfs
 * (which ghostfs status, remounts and fstab rely on); a different one is
 * refused rather than silently replaced. */
static bool own_name(const struct mount_args *m, const char *name, const char *want)
{
    char copy[sizeof m->fuse_opts], *rest = copy;
    size_t n = strlen(name);
    snprintf(copy, sizeof copy, "%s", m->fuse_opts);
    for (char *o; (o = mount_option_next(&rest));)
        if (!strncmp(o, name, n) && strcmp(o + n, want))
            return false;
    return true;
}

static int check_mount(struct mount_args *m)
{
    struct stat st;
    if (m->fuse_opts_full)
        return fail("too many mount options, or too long: they do not fit in %zu bytes",
                    sizeof m->fuse_opts);
    if (!own_name(m, "fsname=", m->store))
        return fail("option fsname=: ghostfs names its mounts by their store (%s) and keeps it "
                    "so",
                    m->store);
    if (!own_name(m, "subtype=", "ghostfs"))
        return fail("option subtype=: a ghostfs mount's type is fuse.ghostfs, which it keeps");
    if (stat(m->mnt, &st) < 0)
        return fail("mountpoint %s: %s", m->mnt, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail("mountpoint %s: not a directory", m->mnt);
    if (is_mounted(m->mnt))
        return fail("mountpoint %s: busy (something is already mounted there)", m->mnt);
    /* Open the store once here so that its errors reach the terminal. */
    struct fs *fs;
    struct fs_options fo = m->fo;
    int e = fs_open(m->store, &fo, &fs);
    if (e)
        return fail("%s", open_error(m->store, fo.snapshot, e));
    fs_close(fs);
    return 0;
}

/* The arguments libfuse parses: the program's name, the -o list (with our
 * fsname, subtype and default_permissions added) and -d. argv has room for
 * 5; returns how many there are, or -1 if the list is too long. The
 * store's path is escaped in the list (a comma in it would start another
 * option): libfuse takes "\," for a comma and "\\" for a backslash. */
static int fuse_argv(struct mount_args *m, char **argv)
{
    char fsname[PATH_MAX + 16];
    int argc = 0;
    snprintf(fsname, sizeof fsname, "fsname=%s", m->store);
    add_fuse_opt(m, fsname);
    add_fuse_opt(m, "subtype=ghostfs");
    add_fuse_opt(m, "default_permissions");
    if (m->fuse_opts_full)
        return -1;
    argv[argc++] = (char *)prog;
    argv[argc++] = "-o";
    argv[argc++] = m->fuse_opts;
    if (m->debug)
        argv[argc++] = "-d";
    argv[argc] = NULL;
    return argc;
}

/* The mount is up: tell the parent waiting on report_fd that we serve, and
 * leave its terminal (the log went to syslog or the log file already:
 * daemon_log_start). */
static void report_serving(int report_fd)
{
    if (write(report_fd, "", 1) != 1) { /* "serving" */
    }
    close(report_fd);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
}

/* Why the daemon failed (err, empty if it did not): to the parent waiting
 * on report_fd, or to stderr when there is none (the foreground). */
static void report_failure(int report_fd, const char *err)
{
    if (report_fd >= 0) {
        if (write(report_fd, err, strlen(err) + 1) < 0) {
        }
        close(report_fd);
    } else if (*err) {
        fprintf(stderr, "%s: %s\n", prog, err);
    }
}

/* Waiting for INIT: the kernel sends it at mount time, the loop answers it,
 * and libfuse may refuse it then (a capability the kernel lacks, a
 * max_read= init did not offer), which leaves nothing mounted. Any request
 * to the mount waits until INIT is done, and fails with ECONNREFUSED if it
 * failed: a statfs from another thread of the daemon tells the parent. */
struct init_watch {
    int root;      /* the mount's root, opened O_PATH (no request) before the loop */
    int report_fd; /* the parent's pipe, the watch's to report on and close */
    char mnt[PATH_MAX];
    pthread_t thread;
};

static void *watch_init(void *arg)
{
    struct init_watch *w = arg;
    struct statfs st;
    char err[PATH_MAX + 128];
    int rc = fstatfs(w->root, &st), e = errno;
    close(w->root);
    if (rc < 0 && (e == ECONNREFUSED || e == ENOTCONN || e == ECONNABORTED)) {
        snprintf(err, sizeof err, "%s: the FUSE INIT failed (%s), nothing is mounted", w->mnt,
                 strerror(e));
        ghost_log(GHOST_LOG_ERR, "%s", err);
        report_failure(w->report_fd, err);
    } else {
        report_serving(w->report_fd); /* another error is the store's, not the mount's */
    }
    return NULL;
}

/* Start watching for INIT, which then reports on report_fd; false if it
 * cannot (the caller reports at once, as before). */
static bool start_init_watch(struct init_watch *w, const char *mnt, int report_fd)
{
    snprintf(w->mnt, sizeof w->mnt, "%s", mnt);
    w->report_fd = report_fd;
    w->root = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (w->root < 0)
        return false;
    if (pthread_create(&w->thread, NULL, watch_init, w)) {
        close(w->root);
        return false;
    }
    return true;
}

/* Serve requests until the filesystem is unmounted or a signal ends the
 * loop; 0 for a clean end. */
static int run_loop(struct fuse_session *se)
{
    /* Keep freed buffers (file blocks, and what each commit allocates and
     * frees again, up to a few MiB) in the heap instead of returning them
     * to the kernel and faulting fresh pages in for every commit. */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 64);
    fuse_loop_cfg_set_idle_threads(cfg, 16);
    int ret = fuse_session_loop_mt(se, cfg) ? 1 : 0;
    fuse_loop_cfg_destroy(cfg);
    return ret;
}

struct serving {
    struct mount_args *m;
    struct fs *fs;
};

static void on_remount(void *arg, struct ghostfs_remount *r)
{
    struct serving *s = arg;
    daemon_remount(s->m, s->fs, r);
}

static int serve(struct mount_args *m, int report_fd)
{
    struct fs *fs = NULL;
    struct fuse_session *se = NULL;
    struct init_watch watch;
    bool watching = false;
    char err[512] = "";
    char *argv_fuse[8];
    int ret = 1;
    int argc_fuse = fuse_argv(m, argv_fuse);
    struct fuse_args args = FUSE_ARGS_INIT(argc_fuse < 0 ? 0 : argc_fuse, argv_fuse);

    /* A detached daemon logs to syslog from the start (its terminal gets
     * the error that stops it through report_fd), unless log= named a file */
    bool detached = report_fd >= 0;
    daemon_log_start(m->log_fd, detached, m->debug);
    if (argc_fuse < 0) {
        snprintf(err, sizeof err, "the mount options and the store's path are too long");
        goto out;
    }
    m->fo.crawl_on = true; /* the daemon's, not the check's open before it */
    int e = fs_open(m->store, &m->fo, &fs);
    if (e) {
        snprintf(err, sizeof err, "%s", open_error(m->store, m->fo.snapshot, e));
        goto out;
    }
    struct serving serving = {m, fs};
    struct ghostfs_mount gm = {.fs = fs,
                               .writeback = m->writeback,
                               .read_ahead = m->read_ahead_kb * 1024,
                               .max_read = m->max_read,
                               .remount = on_remount,
                               .remount_arg = &serving};
    se = fuse_session_new(&args, &ghostfs_ops, sizeof ghostfs_ops, &gm);
    if (!se) {
        char why[256];
        daemon_log_fuse_error(why, sizeof why);
        snprintf(err, sizeof err, "cannot start a FUSE session%s%s", *why ? ": " : "", why);
        goto out;
    }
    if (fuse_set_signal_handlers(se)) {
        snprintf(err, sizeof err, "cannot install signal handlers");
        goto out;
    }
    if (fuse_session_mount(se, m->mnt)) {
        char why[256];
        daemon_log_fuse_error(why, sizeof why);
        snprintf(err, sizeof err, "cannot mount on %s: %s", m->mnt,
                 *why ? why : "is /dev/fuse there, and fuse3?");
        goto out_signals;
    }
    set_read_ahead(m->mnt, m->read_ahead_kb);
    if (fuse_io_start(se, m->spin_us)) {
        snprintf(err, sizeof err, "cannot set up the FUSE device");
        goto out_unmount;
    }
    if (notifier_start(se, fs)) {
        snprintf(err, sizeof err, "cannot start the notifier thread");
        goto out_unmount;
    }
    if (report_fd >= 0) {
        watching = start_init_watch(&watch, m->mnt, report_fd);
        if (!watching)
            report_serving(report_fd);
        report_fd = -1;
    }
    ghost_log(GHOST_LOG_INFO, "%s: serving %s (ghostfs %s)", m->mnt, m->store, GHOST_VERSION);
    ret = run_loop(se);
    ghost_log(GHOST_LOG_INFO, "%s: unmounted, committing and closing the store", m->mnt);
    notifier_stop();
out_unmount:
    fuse_session_unmount(se); /* ends the connection: a watch still waiting is told */
    if (watching)
        pthread_join(watch.thread, NULL);
out_signals:
    fuse_remove_signal_handlers(se);
out:
    if (se)
        fuse_session_destroy(se);
    fs_close(fs);
    fuse_opt_free_args(&args);
    if (*err && (detached || m->log_fd >= 0)) /* (else the log is the stderr it goes to) */
        ghost_log(GHOST_LOG_ERR, "%s", err);
    report_failure(report_fd, err);
    return *err ? 1 : ret;
}

/* mount(8) drops dev and suid from what it hands its helper (they are its
 * defaults, as for every filesystem root mounts): as its helper, run by
 * root, take their absence as they are meant, as mount.fuse3 does. Our
 * own command keeps FUSE's nodev,nosuid unless told -o dev,suid. */
static void helper_defaults(struct mount_args *m)
{
    if (strncmp(prog, "mount.", 6) || geteuid() != 0 || m->remount)
        return;
    if (!(m->given & GIVEN_NODEV) && !(m->vfs_set & MS_NODEV))
        add_fuse_opt(m, "dev");
    if (!(m->given & GIVEN_NOSUID) && !(m->vfs_set & MS_NOSUID))
        add_fuse_opt(m, "suid");
}

static int mount_parsed(struct mount_args *mp);

static int cmd_mount(int argc, char **argv)
{
    struct mount_args m;
    /* The mount options are most of the general help: it is the mount's. */
    if (argc == 2 && is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    memset(&m, 0, sizeof m);
    int r = parse_mount(&m, argc, argv) ? 1 : mount_parsed(&m);
    free((char *)m.fo.snapshot); /* (the daemon leaves by _exit) */
    return r;
}

static int mount_parsed(struct mount_args *mp)
{
    struct mount_args m = *mp;
    if (m.remount)
        return cmd_remount(&m, !strncmp(prog, "mount.", 6));
    helper_defaults(&m);
    if (check_mount(&m))
        return 1;
    /* Opened here, by the command, so that a log file that cannot be
     * written fails the mount at the terminal; the daemon inherits it. */
    char why[PATH_MAX + 128];
    if (*m.log_path && (m.log_fd = daemon_log_open(m.log_path, why, sizeof why)) < 0)
        return fail("%s", why);
    if (m.foreground)
        return serve(&m, -1);
    int p[2];
    if (pipe(p) < 0)
        return fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        setsid();
        if (chdir("/") < 0) {
        }
        _exit(serve(&m, p[1]));
    }
    close(p[1]);
    if (m.log_fd >= 0)
        close(m.log_fd); /* the daemon's */
    char msg[512];
    ssize_t n = read(p[0], msg, sizeof msg - 1);
    close(p[0]);
    if (n == 1 && msg[0] == 0)
        return 0; /* the daemon serves */
    int status;
    waitpid(pid, &status, 0);
    if (n > 0) {
        msg[n] = 0;
        return fail("%s", msg);
    }
    return fail("the daemon died before it could mount");
}

static int cmd_umount(int argc, char **argv)
{
    if (argc == 2 && is_help(argv[1])) {
        printf("usage: ghostfs umount MOUNTPOINT\n"
               "Unmount a ghostfs mount (through fusermount3 -u); its daemon commits\n"
               "what it buffers, syncs the store and exits.\n");
        return 0;
    }
    if (argc != 2)
        return fail("usage: ghostfs umount MOUNTPOINT");
    if (!is_mounted(argv[1]))
        return fail("%s: not mounted", argv[1]);
    execlp("fusermount3", "fusermount3", "-u", argv[1], (char *)NULL);
    return fail("cannot run fusermount3: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    char *base = basename(argv[0]);
    if (!strncmp(base, "mount.", 6)) { /* mount.ghostfs, mount.fuse.ghostfs */
        prog = base;
        return cmd_mount(argc, argv);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("ghostfs %s (store format %d)\n", GHOST_VERSION, GHOST_FORMAT);
        return 0;
    }
    if (!strcmp(cmd, "mkfs"))
        return cmd_mkfs(argc - 1, argv + 1);
    if (!strcmp(cmd, "mount"))
        return cmd_mount(argc - 1, argv + 1);
    if (!strcmp(cmd, "fsck"))
        return fsck_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "umount") || !strcmp(cmd, "unmount"))
        return cmd_umount(argc - 1, argv + 1);
    if (!strcmp(cmd, "snapshot"))
        return cmd_snapshot(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return cmd_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "send"))
        return cmd_send(argc - 1, argv + 1);
    if (!strcmp(cmd, "receive"))
        return cmd_receive(argc - 1, argv + 1);
    if (!strcmp(cmd, "backup"))
        return cmd_backup(argc - 1, argv + 1);
    if (cmd[0] != '-' && argc >= 3 && access(cmd, F_OK) == 0)
        return cmd_mount(argc, argv); /* "ghostfs STORE MNT -o ..." from mount.fuse3 */
    fail("unknown command '%s'", cmd);
    usage(stderr);
    return 2;
}
