/*
 * handle.c - what a handle asks of the filesystem beside its data: opening
 * a directory (it must be one), fsync on a directory, and taking back an
 * open whose reply never reached the kernel. Files are opened and
 * released in open_file.c, directories listed in readdir.c, files read and
 * written in file_io.c.
 *
 * No state of its own: a directory handle holds only what fs_readdir_at
 * counts of a listing (struct fs_listing, kept by the glue); every listing
 * reads the store afresh (see fs_readdir's cookies).
 */
#include <errno.h>
#include <sys/stat.h>

#include "fsint.h"

int fs_opendir(struct fs *fs, uint64_t ino)
{
    struct fs_attr a;
    int e = fs_getattr(fs, ino, &a);
    if (!e && !S_ISDIR(a.mode))
        e = -ENOTDIR;
    return e;
}

int fs_fsyncdir(struct fs *fs, uint64_t ino, bool datasync)
{
    (void)ino, (void)datasync;
    /* Every change to a directory is committed when it is made (one
     * transaction per call), so syncing the store syncs the directory. */
    return fs_sync_store(fs);
}

void fs_unopen(struct fs *fs, uint64_t ino, uint64_t lookups)
{
    /* What fs_release does at a close, then the kernel's forget. */
    fs_release(fs, ino);
    if (lookups)
        fs_forget(fs, ino, lookups);
}
