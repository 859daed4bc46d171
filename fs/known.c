/*
 * known.c - what the kernel knows, for the notifier: whether it holds an
 * inode (a lookup count above zero, or the root, which it holds without
 * one). Which inodes and names it holds, for a batch of changes, notify.c
 * gathers itself in one pass over the table.
 */
#include "fsint.h"

#include "itable.h"

bool fs_is_known(struct fs *fs, uint64_t ino)
{
    if (ino == FS_ROOT_INO) /* the kernel holds the root without a lookup */
        return true;
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = inode_find_locked(fs, ino);
    bool known = in && in->nlookup > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    return known;
}
