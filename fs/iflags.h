/*
 * iflags.h - inode flags (chattr's +i and +a): what each operation may do
 * to an inode that has them, and reading and setting them (fs.h:
 * fs_get_iflags, fs_set_iflags).
 *
 * The checks take records read in the caller's transaction, so that they
 * hold against what every daemon of the store committed, and return 0 or
 * -EPERM. They follow Linux's rules for these flags:
 *   immutable: no write, truncate, fallocate, attribute or xattr change,
 *     no new link, no rename or removal of it, and as a directory no entry
 *     added or removed;
 *   append only: written at the end only (open without O_APPEND fails),
 *     no truncate, no mode, owner or time set (touching to "now" is
 *     fine), no xattr change, no new link, no rename or removal of it, and
 *     as a directory entries may be added but none removed.
 */
#ifndef GHOSTFS_IFLAGS_H
#define GHOSTFS_IFLAGS_H

#include <stdbool.h>

#include "inode_rec.h"

/* Open with these open(2) flags (the access mode, O_APPEND, O_TRUNC);
 * kernel_writeback: the kernel caches writes (an append-only file is then
 * not opened for writing: iflags.c). */
int iflags_may_open(const struct rec *r, int flags, bool kernel_writeback);
/* Write data (at the end when append). */
int iflags_may_write(const struct rec *r, bool append);
/* setattr of the FS_SET_* fields in set. */
int iflags_may_setattr(const struct rec *r, unsigned set);
/* fallocate in this mode. */
int iflags_may_fallocate(const struct rec *r, int mode);
/* Set or remove an xattr. */
int iflags_may_change_xattr(const struct rec *r);
/* Add a name to directory dir. */
int iflags_may_add(const struct rec *dir);
/* Remove (or rename away) the name in directory dir that leads to child. */
int iflags_may_remove(const struct rec *dir, const struct rec *child);
/* Give r another name. */
int iflags_may_link(const struct rec *r);
/* Move child from directory from to directory to, over victim (NULL:
 * none), or exchange the two. */
int iflags_may_rename(const struct rec *from, const struct rec *child, const struct rec *to,
                      const struct rec *victim, bool exchange);

#endif
