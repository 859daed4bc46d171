/*
 * dirhandle.c - what a directory handle asks of the filesystem beyond
 * listing it (dir.c): opening one (it must be a directory) and fsync on one.
 *
 * No state: a directory handle holds nothing in this process; every listing
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
     * transaction per call): making the store durable makes it durable. */
    return fs_sync_store(fs);
}
