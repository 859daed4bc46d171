/*
 * fuse_ops.h - the FUSE glue's surface for the command (cli.c).
 */
#ifndef GHOSTFS_FUSE_OPS_H
#define GHOSTFS_FUSE_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

struct fs;
struct fuse_session;

/* A remount's request to the daemon: mount(8)'s helper opens the mount's
 * root directory and sends this ioctl (the kernel does not tell a FUSE
 * daemon about a remount). Only root, or the user the daemon runs as, may
 * send it. opts: the options, as a -o list, that the daemon is to take
 * (ro or rw, sync, dirsync, and ghostfs's own); the daemon checks them all
 * before it changes anything, and answers with error (0 or a negative
 * errno) and msg (why not, naming the options). */
struct ghostfs_remount {
    uint32_t flags; /* GHOSTFS_REMOUNT_* */
    int32_t error;
    char opts[2048];
    char msg[1024];
};
#define GHOSTFS_REMOUNT_CHECK 1u /* only check: change nothing */
#define GHOSTFS_IOC_REMOUNT _IOWR('G', 0x52, struct ghostfs_remount)

/* What the request handlers get as userdata. */
struct ghostfs_mount {
    struct fs *fs;
    bool writeback;
    unsigned read_ahead; /* bytes to offer the kernel at INIT; 0: its own */
    unsigned max_read;   /* max_read= as libfuse was given it (it must match); 0: none */
    /* Handles a remount request (the command's, cli_remount.c). */
    void (*remount)(void *arg, struct ghostfs_remount *r);
    void *remount_arg;
};

extern const struct fuse_lowlevel_ops ghostfs_ops;

/* Start/stop the thread that tells the kernel about other daemons' changes. */
int notifier_start(struct fuse_session *se, struct fs *fs);
void notifier_stop(void);

/* Read the session's device through fuse_io.c: after each request a worker
 * polls spin_us microseconds for the next before it sleeps (0: never). */
#define GHOSTFS_SPIN_US 50
int fuse_io_start(struct fuse_session *se, unsigned spin_us);

#endif
