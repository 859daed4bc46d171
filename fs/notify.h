/*
 * notify.h - pushing other daemons' changes to whoever caches what this one
 * served (the kernel, through the FUSE glue; a recorder, in tests).
 *
 * The library reports each OID another process changed (fs_set_notify);
 * the notifier queues it and, on a thread of its own, tells the sink which
 * inodes and which names it must forget. Two promises:
 *   - nothing is dropped: when memory runs out, the notifier forgets what
 *     it queued and invalidates every inode the kernel knows instead (and
 *     tries again until that succeeds) - more, never less;
 *   - the sink is never called while the notifier holds a read view of the
 *     store, nor with any lock of fs/ held: a call into the kernel can wait
 *     for requests that need those (a map resize waits for every view).
 */
#ifndef GHOSTFS_NOTIFY_H
#define GHOSTFS_NOTIFY_H

#include <stdint.h>

struct fs;

/* Where invalidations go. Both are called on the notifier's thread only. */
struct notify_sink {
    /* Forget ino's attributes and cached data. */
    void (*inode)(void *arg, uint64_t ino);
    /* Forget the entry name in directory parent (it no longer leads to the
     * inode it did). */
    void (*entry)(void *arg, uint64_t parent, const char *name);
    void *arg;
};

struct notifier;

/* Start delivering fs's changes to sink (copied); the caller owns *out.
 * Returns 0, -ENOMEM, or the error of starting the thread. */
int notify_start(struct fs *fs, const struct notify_sink *sink, struct notifier **out);

/* Stop the thread (what is still queued is not delivered: whoever stops
 * the notifier is going away too) and free nt. NULL is accepted. */
void notify_stop(struct notifier *nt);

#endif
