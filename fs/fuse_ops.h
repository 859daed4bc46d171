/*
 * fuse_ops.h - the FUSE glue's surface for the command (cli.c).
 */
#ifndef GHOSTFS_FUSE_OPS_H
#define GHOSTFS_FUSE_OPS_H

#include <stdbool.h>

struct fs;
struct fuse_session;

/* What the request handlers get as userdata. */
struct ghostfs_mount {
    struct fs *fs;
    bool writeback;
    unsigned read_ahead; /* bytes to offer the kernel at INIT; 0: its own */
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
