/*
 * inspect.h - one object of a store decoded, for people (text) and for
 * programs (JSON, format INSPECT_FORMAT, described in docs/inspect.md):
 * what `ghostfs inspect` prints, what the control tree's objects/OID
 * shows, and what the read-only system.ghostfs.* attributes say (inspect.c,
 * inspect_xattr.c).
 */
#ifndef GHOSTFS_INSPECT_H
#define GHOSTFS_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fs.h"

/* The version of the JSON document; a change that breaks readers raises it. */
#define INSPECT_FORMAT 1
/* At most this many directory entries, links, attributes or orphans are
 * listed; the totals say how many there are. */
#define INSPECT_LIST_MAX 1000
/* A map of more keys, or more bytes of values, than these is not compared
 * with its tally by inspect_object (comparing reads and verifies it whole,
 * which would make inspecting a huge file or directory slow); the output
 * says which were left unchecked (`ghostfs fsck` checks everything). */
#define INSPECT_CHECK_KEYS 65536
#define INSPECT_CHECK_BYTES (UINT64_C(1) << 30)
/* The same for inspect_checksum, which a getxattr pays (every `cp -a` out
 * of a mount reads system.ghostfs.checksum): a file's blocks are read to
 * check them only up to 1 MiB. */
#define INSPECT_XATTR_CHECK_KEYS 1024
#define INSPECT_XATTR_CHECK_BYTES (UINT64_C(1) << 20)

enum inspect_style { INSPECT_TEXT, INSPECT_JSON };

/* Decode object oid of fs's store, as the store holds it now (one read
 * view; what this process still buffers is not seen), and write it to f.
 * Returns 0 when it was written - *damaged (may be NULL) then says whether
 * a checksum or a tally showed damage, which the output names -, -EINVAL
 * for an OID that cannot name an object (0, over GHOST_OID_MAX), -ENOENT
 * when the store holds no object there (nothing written), or another
 * negative errno (nothing written). */
int inspect_object(struct fs *fs, uint64_t oid, enum inspect_style style, FILE *f, bool *damaged);

/* Whether inspect_object would write a document for oid, at the cost of
 * one short read: 0 if so (an object is there, or damage where one is, or
 * oid is the orphan list's), -ENOENT if the store holds nothing there,
 * -EINVAL for an OID that cannot name an object, or another negative
 * errno. */
int inspect_exists(struct fs *fs, uint64_t oid);

/* The inode an absolute path names inside fs ("/" is the root; "." and
 * ".." work; symbolic links are not followed, as lstat(2) does not).
 * -EINVAL if path does not begin with '/', -ENOENT, -ENOTDIR,
 * -ENAMETOOLONG as a lookup says them, or the error a read met. */
int inspect_resolve(struct fs *fs, const char *path, uint64_t *oid);

/* What system.ghostfs.checksum says of inode ino, NUL-ended in buf (cut
 * to size): "damaged: " and the first problem found; else "ok, unchecked: "
 * and the first map too large to check (INSPECT_XATTR_CHECK_*); else "ok".
 * Checks as inspect_object does, within those bounds. 0, or -ENOENT, or
 * another negative errno. */
int inspect_checksum(struct fs *fs, uint64_t ino, char *buf, size_t size);

/* ---- the read-only attributes (inspect_xattr.c) ---- */

/* Their namespace; docs/inspect.md says why this one. */
#define INSPECT_XATTR_PREFIX "system.ghostfs."

/* Whether name is in the namespace (set and remove refuse it: -EOPNOTSUPP). */
bool inspect_xattr_name(const char *name);
/* getxattr of a name in the namespace: as fs_getxattr (size 0: the
 * length), -ENODATA for a name it does not define. */
ssize_t inspect_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
/* Append the names to a listing that used *used bytes of buf (size 0:
 * only count), as fs_listxattr lays names out. No store read. */
void inspect_xattr_list(char *buf, size_t size, size_t *used);

#endif
