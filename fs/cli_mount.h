/*
 * cli_mount.h - what the ghostfs command's mount and remount share: the
 * parsed mount options (cli.c parses them) and the remount, on both sides
 * of it (cli_remount.c): mount(8)'s helper, and the daemon that receives
 * the request.
 */
#ifndef GHOSTFS_CLI_MOUNT_H
#define GHOSTFS_CLI_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "fs.h"

/* Which options a list named (a remount changes only those). */
enum {
    GIVEN_SYNC = 1 << 0,         /* sync= */
    GIVEN_CACHE = 1 << 1,        /* cache_size= */
    GIVEN_WBUF = 1 << 2,         /* write_buffer= */
    GIVEN_INTERVAL = 1 << 3,     /* commit_interval= */
    GIVEN_SPIN = 1 << 4,         /* spin= */
    GIVEN_READ_AHEAD = 1 << 5,   /* read_ahead= */
    GIVEN_WRITEBACK = 1 << 6,    /* writeback */
    GIVEN_ROLLBACK = 1 << 7,     /* accept_rollback */
    GIVEN_NODEV = 1 << 8,        /* nodev (mount(8) never passes dev: it is its default) */
    GIVEN_NOSUID = 1 << 9,       /* nosuid */
    GIVEN_SNAPSHOT = 1 << 10,    /* snapshot= */
    GIVEN_CRAWL_CPU = 1 << 11,   /* crawl_cpu= */
    GIVEN_CRAWL_SLICE = 1 << 12, /* crawl_slice= */
    GIVEN_CRAWL_CYCLE = 1 << 13, /* crawl_cycle= */
    GIVEN_LOG = 1 << 14,         /* log= */
};

struct mount_args {
    const char *store, *mnt;
    struct fs_options fo;
    enum ghost_sync sync;   /* sync=; fo.store.sync is ALWAYS instead under sync/dirsync */
    bool vfs_sync, dirsync; /* the mount options sync and dirsync */
    bool foreground, debug, writeback, remount;
    unsigned given;          /* GIVEN_* */
    unsigned long vfs_set;   /* MS_* flags the list asked for (a remount's) */
    unsigned long vfs_named; /* MS_* flags the list named, set or cleared */
    char kernel_opts[1024];  /* FUSE's own kernel options (user_id=...), a remount's */
    unsigned spin_us;        /* how long a worker polls for the next request */
    unsigned read_ahead_kb;  /* the mount's read-ahead window; 0: the kernel's */
    unsigned max_read;       /* max_read=, the largest read request; 0: not given */
    char fuse_opts[4096];    /* passed on to libfuse, commas in an option escaped */
    bool fuse_opts_full;     /* an option did not fit in fuse_opts */
    char log_path[4096];     /* log=, the daemon's log file; "" if not given */
    int log_fd;              /* it, opened before the daemon forks; -1 if none */
};

/* The next option of the comma separated list at *cursor, unescaped in
 * place: as libfuse reads -o lists, "\," is a comma inside an option and
 * "\\" a backslash. Empty options are skipped; NULL at the end. */
char *mount_option_next(char **cursor);
/* Append option o to the comma separated list buf (size bytes), its
 * commas and backslashes escaped; false if it does not fit (buf is then
 * unchanged). */
bool mount_option_add(char *buf, size_t size, const char *o);

/* Parse one option of a -o list into m; 0, or 1 after printing why not. */
int mount_option(struct mount_args *m, char *o);
/* The defaults, before any option. */
void mount_args_init(struct mount_args *m);
/* Once every option is parsed: what follows from several (sync, dirsync). */
void mount_args_settle(struct mount_args *m);
/* The device (major:minor) of the last mount on path, from mountinfo;
 * false if nothing is mounted there. fstype and opts (its super options)
 * may be NULL. */
bool mount_info(const char *path, char *dev, size_t size, char *fstype, size_t tsize, char *opts,
                size_t osize);
/* The MS_* flags (of those mount_option knows) the last mount on path
 * has, per mount (mountinfo's options) and per superblock (sync, lazytime,
 * ...); false if nothing is mounted there. */
bool mount_vfs_flags(const char *path, unsigned long *flags);
/* The source of the last mount on path (a ghostfs mount's: its store, as
 * it was named to the mount), with mountinfo's escapes undone. */
bool mount_source(const char *path, char *source, size_t size);
/* Print "prog: message" on stderr (or into the buffer cli_fail_to named,
 * without the "prog: "); returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Where cli_fail writes from now on: buf (size bytes), or stderr (NULL).
 * One thread at a time. */
void cli_fail_to(char *buf, size_t size);

/* `mount -o remount,...`: m is parsed (m->mnt a ghostfs mount). whole_list:
 * m's list is all the mount is to have (mount(8)'s helper gets that);
 * otherwise it names only changes, and the mount keeps its other flags.
 * Returns the exit code. */
int cmd_remount(struct mount_args *m, bool whole_list);

struct ghostfs_mount;
struct ghostfs_remount;
/* The daemon's side: check (and unless r asks only that, apply) the
 * options r carries to the mount this daemon serves with m's options;
 * r->error and r->msg say how it went. */
void daemon_remount(struct mount_args *m, struct fs *fs, struct ghostfs_remount *r);

#endif
