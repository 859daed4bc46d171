/*
 * inspect_xattr.c - the read-only extended attributes that tell each
 * inode's OID, the generation that last wrote it and its checksum state
 * to `getfattr -d -m - FILE`:
 *
 *   system.ghostfs.oid         the OID (the inode number), decimal
 *   system.ghostfs.generation  the generation that last wrote its record
 *   system.ghostfs.checksum    "ok", or "damaged: " and the first problem,
 *                              or "ok, unchecked: " and what was too large
 *
 * Why "system.": it is the namespace Linux gives to attributes that a
 * filesystem computes rather than stores (system.posix_acl_access,
 * system.nfs4_acl, sockfs's read-only system.sockprotoname), and it is the
 * one every copying tool leaves alone or fails to copy harmlessly:
 * - user.* would be copied by `cp -a` and `rsync -X` into the copy as
 *   stale data (an OID means nothing elsewhere), and the kernel refuses
 *   user.* on symlinks and devices, which have OIDs too;
 * - trusted.* is readable by root alone (the kernel answers ENODATA to
 *   others, so getfattr fails for them), and root's `cp -a`/`rsync -X`
 *   would copy it as stale data;
 * - system.* reaches the daemon for every user and every kind of inode,
 *   rsync never copies it, and other filesystems refuse unknown system.*
 *   names (cp -a then skips them silently; only an explicit
 *   `cp --preserve=xattr` reports that they could not be kept).
 * Setting or removing a name of the namespace fails with EOPNOTSUPP: they
 * are facts about the object, not data (xattr.c checks inspect_xattr_name
 * first), as sockfs refuses to set system.sockprotoname. Not EPERM:
 * overlayfs copies every attribute of a directory of its upper layer when
 * it makes it opaque (rmdir of a merged directory) and gives up on any
 * error but EOPNOTSUPP, which it takes as "this name cannot be copied";
 * with EPERM, a ghostfs upper layer could not remove a directory
 * (tests/mount/overlay.sh). cp -a likewise passes over EOPNOTSUPP.
 * Other system.* names stay refused as before (EOPNOTSUPP too).
 *
 * Cost: listing the names reads nothing (they are the same for every
 * inode), so listxattr on an ordinary file costs what it did. Reading
 * oid and generation is one record read through the cache; checksum reads
 * the object as `ghostfs inspect` does (inspect.c), in a view of its own,
 * so it verifies the stored bytes now - but, since `cp -a` reads every
 * listed attribute of every file it copies, it reads a file's blocks only
 * up to 1 MiB, and a directory's entries up to 1,024 (INSPECT_XATTR_CHECK_*):
 * past that the value says what it left unchecked.
 */
#include "inspect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fsint.h"

#define NAME_OID INSPECT_XATTR_PREFIX "oid"
#define NAME_GEN INSPECT_XATTR_PREFIX "generation"
#define NAME_SUM INSPECT_XATTR_PREFIX "checksum"

bool inspect_xattr_name(const char *name)
{
    return !strncmp(name, INSPECT_XATTR_PREFIX, sizeof INSPECT_XATTR_PREFIX - 1);
}

void inspect_xattr_list(char *buf, size_t size, size_t *used)
{
    static const char names[] = NAME_OID "\0" NAME_GEN "\0" NAME_SUM; /* NUL-ended each */
    if (size && *used + sizeof names <= size)
        memcpy(buf + *used, names, sizeof names);
    *used += sizeof names;
}

/* The inode's record generation; -ENOENT if it is not an inode. */
static int generation(struct fs *fs, uint64_t ino, uint64_t *gen)
{
    struct ghost_txn *t;
    struct rec r;
    int e = ghost_txn_begin(fs->g, &t);
    if (e)
        return e;
    e = rec_get(t, ino, &r);
    e = e ? e : ghost_obj_generation(t, ino, gen);
    ghost_txn_abort(t);
    return e;
}

ssize_t inspect_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
    char val[512];
    uint64_t gen;
    int e;
    if (!strcmp(name, NAME_SUM))
        e = inspect_checksum(fs, ino, val, sizeof val);
    else if (!strcmp(name, NAME_OID) || !strcmp(name, NAME_GEN))
        e = generation(fs, ino, &gen);
    else
        return -ENODATA;
    if (e)
        return fs_errno(e);
    if (!strcmp(name, NAME_OID))
        snprintf(val, sizeof val, "%llu", (unsigned long long)ino);
    else if (!strcmp(name, NAME_GEN))
        snprintf(val, sizeof val, "%llu", (unsigned long long)gen);
    size_t len = strlen(val); /* the value is text, without a NUL */
    if (size == 0)
        return (ssize_t)len;
    if (size < len)
        return -ERANGE;
    memcpy(buf, val, len);
    return (ssize_t)len;
}
