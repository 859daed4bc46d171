/*
 * snapshot.c - named snapshots of a filesystem: the store's snapshots
 * (ghost_snapshot_*), taken after this process's buffered writes are
 * committed, with the library's codes mapped to errnos.
 *
 * A snapshot is a name for one generation of the whole store, so it holds
 * what every process had committed when it was taken; writes another
 * daemon still buffers (up to its commit interval) are not in it.
 *
 * A snapshot that a process has mounted alone is not deleted
 * (snap_mount.c keeps the marks).
 */
#include "fsint.h"

#include "ctl.h"
#include "flusher.h"

int fs_snapshot_create(struct fs *fs, const char *name)
{
    int e = flush_all(fs);
    return (int)fs_errno(e ? e : ghost_snapshot_create(fs->g, name));
}

int fs_snapshot_delete(struct fs *fs, const char *name)
{
    int e = snap_mount_check(fs, name);
    return (int)fs_errno(e ? e : ghost_snapshot_delete(fs->g, name));
}

int fs_snapshot_list(struct fs *fs, struct ghost_snapshot *list, int max)
{
    return (int)fs_errno(ghost_snapshot_list(fs->g, list, max));
}
