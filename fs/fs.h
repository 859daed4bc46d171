/*
 * fs.h - the POSIX model of ghostfs: inodes, directories, file data and
 * xattrs made of libghost objects and maps.
 *
 * Every function here is a plain C call that the unit tests use without a
 * mount; fs/fuse_ops.c only translates FUSE requests into these calls.
 * Functions return 0 (or a byte count) on success and a negative errno - a
 * real one: the library's own codes are mapped in errors.c (a conflict that
 * outlasted every retry is -EBUSY, a damaged record -EIO).
 * Permission checks are the kernel's (the mount uses default_permissions);
 * what the kernel cannot know - setgid inheritance, O_EXCL, ENOTEMPTY,
 * renaming a directory under itself - is done here.
 *
 * Objects and maps (docs/format.md has the byte layouts):
 *   inode object (type FS_OBJ_INODE) at OID = inode number; root is OID 1
 *   superblock object (type FS_OBJ_SUPER) at OID 2: block size, inline limit
 *   map FS_MAP_DIRENT  on a directory: hash(name) . name -> child . dtype
 *   map FS_MAP_BACKREF on an inode:    parent . name -> (empty)
 *   map FS_MAP_DATA    on a file:      block index -> block bytes (holes absent)
 *   map FS_MAP_XATTR   on an inode:    name -> value
 *   map FS_MAP_ORPHAN  on OID 3:       inode -> owner (unlinked while open)
 *   map FS_MAP_SNAPMOUNT on OID 4:     snapshot . 0 . owner -> (empty) (mounted alone)
 */
#ifndef GHOSTFS_FS_H
#define GHOSTFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "ghost.h"

#define FS_ROOT_INO 1
#define FS_SUPER_OID 2
#define FS_ORPHAN_OID 3
#define FS_SNAPMOUNT_OID 4 /* the marks of mounted snapshots (snap_mount.c) */

enum { FS_OBJ_INODE = 1, FS_OBJ_SUPER = 2 };
enum {
    FS_MAP_DIRENT = 1,
    FS_MAP_BACKREF = 2,
    FS_MAP_DATA = 3,
    FS_MAP_XATTR = 4,
    FS_MAP_ORPHAN = 5,
    FS_MAP_SNAPMOUNT = 6
};

#define FS_NAME_MAX 255
#define FS_XATTR_NAME_MAX 255
#define FS_XATTR_SIZE_MAX 65536
#define FS_BLOCK_DEFAULT 65536
#define FS_INLINE_MAX 1024

/* Attributes as the kernel sees them. */
struct fs_attr {
    uint64_t ino;
    uint32_t mode, uid, gid, nlink;
    uint64_t size, blocks, rdev;
    int64_t atime_ns, mtime_ns, ctime_ns, btime_ns;
    uint32_t blksize;
    /* The kernel's inode generation, which a file handle carries beside
     * the inode number: fixed for the life of the inode (rec_attr). */
    uint32_t handle_gen;
};

/* Who asks: for ownership of new inodes. */
struct fs_ctx {
    uint32_t uid, gid;
    uint32_t umask;
};

/* setattr: which fields of the request to apply. */
enum {
    FS_SET_MODE = 1 << 0,
    FS_SET_UID = 1 << 1,
    FS_SET_GID = 1 << 2,
    FS_SET_SIZE = 1 << 3,
    FS_SET_ATIME = 1 << 4,
    FS_SET_MTIME = 1 << 5,
    FS_SET_ATIME_NOW = 1 << 6,
    FS_SET_MTIME_NOW = 1 << 7,
    FS_SET_CTIME = 1 << 8,
};

struct fs_options {
    struct ghost_options store;
    size_t write_buffer; /* bytes of dirty file data before back-pressure */
    unsigned commit_interval_ms;
    /* Show this snapshot alone, read-only, instead of the live tree
     * (NULL: the live tree, with the control tree at /.ghostfs). */
    const char *snapshot;
    /* Run the crawler (the daemon does; tools and tests need not), with
     * these options. Not on a read-only open nor a snapshot. */
    bool crawl_on;
    struct ghost_crawl_options crawl;
    /* The kernel caches writes (FUSE's writeback cache): they reach fs/
     * late, through any fd open for writing, after the kernel has already
     * said yes. Inode flags cannot be kept then (iflags.c). */
    bool kernel_writeback;
};

struct fs;

void fs_options_init(struct fs_options *o);

/* Make a store and an empty filesystem in it (root directory 0755 owned by
 * the caller). block_size 0 means FS_BLOCK_DEFAULT; it must be a power of
 * two between 4 KiB and 1 MiB. */
int fs_mkfs(const char *store, uint32_t block_size);

/* Open the filesystem in store; reclaims inodes orphaned by a crash. */
int fs_open(const char *store, const struct fs_options *o, struct fs **out);

/* Commit everything buffered, reclaim this process's orphans, close. */
void fs_close(struct fs *fs);

uint32_t fs_block_size(struct fs *fs);

/* Is e (positive) an errno that a reply to the kernel may carry: known to
 * the C library and none of libghost's own codes. */
bool fs_is_errno(int e);

/* Is ino known to the kernel (looked up and not forgotten; the root always).
 * What the kernel is told of other daemons' changes is notify.h's. */
bool fs_is_known(struct fs *fs, uint64_t ino);

/* ---- names ---- */
int fs_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out);
/* Drop n kernel references taken by lookup/create/mknod/mkdir/symlink/link. */
void fs_forget(struct fs *fs, uint64_t ino, uint64_t n);
int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out);
int fs_setattr(struct fs *fs, uint64_t ino, const struct fs_attr *in, unsigned to_set,
               struct fs_attr *out);
int fs_mknod(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
             uint32_t mode, uint64_t rdev, struct fs_attr *out);
int fs_mkdir(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
             uint32_t mode, struct fs_attr *out);
int fs_symlink(struct fs *fs, const struct fs_ctx *ctx, const char *target, uint64_t parent,
               const char *name, struct fs_attr *out);
/* Copies the target into buf (NUL-terminated, truncated to size - 1). */
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size);
int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name, struct fs_attr *out);
int fs_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT (a character
 * device 0:0 owned by ctx's caller takes the old name, in the same
 * transaction). ctx is read only for a whiteout. */
int fs_rename(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, unsigned flags);

/* Directory listing. Offsets are stable cookies derived from name hashes:
 * entries added or removed during a listing never make another one be
 * skipped or repeated. fn returns non-zero when the reply buffer is full
 * (the entry was not taken). With plus, each entry taken counts as a lookup. */
typedef int (*fs_dirent_fn)(void *arg, const char *name, const struct fs_attr *attr,
                            uint64_t next_off);
int fs_readdir(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn, void *arg);
/* A listing in progress, one per open directory handle (zeroed at open):
 * what fs_readdir_at counts, so that a listing read from its start to its
 * end is checked against the directory's count of entries without reading
 * the directory again. Without one (fs_readdir), a listing that reaches
 * its end reads the directory again to check it. */
struct fs_listing {
    uint64_t next_off; /* where the listing stands */
    uint64_t seen;     /* entries handed out since offset 0 */
    bool counting;     /* read in order from offset 0 */
};
int fs_readdir_at(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn, void *arg,
                  struct fs_listing *l);
/* Open a directory handle: -ENOTDIR unless ino is a directory. */
int fs_opendir(struct fs *fs, uint64_t ino);
/* Make the directory's entries durable. */
int fs_fsyncdir(struct fs *fs, uint64_t ino, bool datasync);

/* ---- files ---- */
/* Open: counts the open file; *keep_cache says whether the kernel may keep
 * the pages it has (the data did not change since it last opened it). */
int fs_open_file(struct fs *fs, uint64_t ino, int flags, bool *keep_cache);
int fs_create(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent, const char *name,
              uint32_t mode, int flags, struct fs_attr *out);
ssize_t fs_read(struct fs *fs, uint64_t ino, void *buf, size_t size, uint64_t off);
/* The same read without a copy: [off, off+size) clipped to the file is handed
 * to fn as pieces that point into the store's pages (and a page of zeros for
 * holes), valid only during the call - what a reply to the kernel needs.
 * Returns the bytes handed to fn, or a negative errno and fn was not called. */
typedef void (*fs_pieces_fn)(void *arg, const struct iovec *iov, int n);
ssize_t fs_read_pieces(struct fs *fs, uint64_t ino, size_t size, uint64_t off, fs_pieces_fn fn,
                       void *arg);
/* append: write at the end of the file, whatever off says. */
ssize_t fs_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, uint64_t off,
                 bool append);
/* The reply to an open or create did not reach the kernel (the request was
 * interrupted): undo the open, and the lookups the create counted (0 after
 * an open). */
void fs_unopen(struct fs *fs, uint64_t ino, uint64_t lookups);
/* Commit the inode's buffered writes (close is a transaction). */
int fs_flush(struct fs *fs, uint64_t ino);
int fs_fsync(struct fs *fs, uint64_t ino, bool datasync);
/* Last close of one open: commits, and reclaims the inode if it was
 * unlinked and nobody else holds it. */
int fs_release(struct fs *fs, uint64_t ino);
/* -EINVAL for a negative offset or a length that is not positive. */
int fs_fallocate(struct fs *fs, uint64_t ino, int mode, int64_t off, int64_t len);
int64_t fs_lseek(struct fs *fs, uint64_t ino, int64_t off, int whence);
/* flags: none is defined (copy_file_range(2)); any is -EINVAL. */
ssize_t fs_copy_range(struct fs *fs, uint64_t in, uint64_t off_in, uint64_t out, uint64_t off_out,
                      size_t len, unsigned flags);
int fs_statfs(struct fs *fs, struct statvfs *st);
int fs_syncfs(struct fs *fs);

/* ---- inode flags (iflags.c) ---- */
/* The inode's flags as FS_IOC_GETFLAGS gives them: FS_IMMUTABLE_FL,
 * FS_APPEND_FL (linux/fs.h). */
int fs_get_iflags(struct fs *fs, uint64_t ino, uint32_t *flags);
/* Set them (FS_IOC_SETFLAGS) on a regular file or directory (-ENOTTY for
 * others): -EOPNOTSUPP for any other bit; -EPERM unless who is the owner
 * or root, and to change either flag unless cap_immutable (the caller
 * holds CAP_LINUX_IMMUTABLE); -EOPNOTSUPP under the kernel's writeback
 * cache (fs_options.kernel_writeback). */
int fs_set_iflags(struct fs *fs, const struct fs_ctx *who, uint64_t ino, uint32_t flags,
                  bool cap_immutable);

/* ---- options changed while mounted (remount.c) ---- */
/* Read-only (ro): every write is refused with -EROFS from now on, after
 * every buffered write is committed and synced; the error of a commit
 * that failed is returned (its data stays buffered and the filesystem
 * refuses new writes but is not read-only in the store yet). Writable
 * (!ro): -EROFS if the store was opened read-only. */
int fs_set_readonly(struct fs *fs, bool ro);
bool fs_readonly(struct fs *fs);
/* The store's durability from now on (ghost_set_sync). */
int fs_set_sync(struct fs *fs, enum ghost_sync sync);
/* The object cache's budget (at least 1 MiB, else -EINVAL). */
int fs_set_cache_size(struct fs *fs, size_t bytes);
/* One slice of the deferred deletes (orphan.c): at most about max_keys
 * keys of one inode deleted. 1 if deferred deletes remain, 0 if none, or a
 * library error. The crawler's work (ghost_crawl_options.work). */
int fs_reclaim_deferred(struct fs *fs, unsigned max_keys);
/* How many deferred deletes wait, the size of their files, and the data
 * blocks they still hold (their tallies: it falls as the crawler deletes
 * them a slice at a time, while the size stays until the last slice). */
int fs_deferred_backlog(struct fs *fs, uint64_t *files, uint64_t *bytes, uint64_t *blocks);
/* The crawler's options from now on (ghost_crawl_set): -ESRCH if this
 * open runs no crawler. */
int fs_set_crawl(struct fs *fs, const struct ghost_crawl_options *o);
/* Dirty bytes before back-pressure (> 0); commit interval in ms (> 0). */
void fs_set_write_buffer(struct fs *fs, size_t bytes);
void fs_set_commit_interval(struct fs *fs, unsigned ms);

/* ---- snapshots (snapshot.c) ---- */
/* Commit this process's buffered writes, then take a snapshot of the store
 * as every process has committed it. -EINVAL for a bad name (empty, over
 * GHOST_SNAP_NAME_MAX bytes, with '/', "." or ".."), -EEXIST if it is
 * taken, -EROFS on a read-only open. */
int fs_snapshot_create(struct fs *fs, const char *name);
/* -ENOENT if there is no such snapshot; -EINVAL for a bad name. */
int fs_snapshot_delete(struct fs *fs, const char *name);
/* (-EBUSY, logged, while a process has the snapshot mounted alone.) */
/* ghost_snapshot_list: up to max entries in name order; returns how many
 * snapshots there are (which may exceed max). */
int fs_snapshot_list(struct fs *fs, struct ghost_snapshot *list, int max);

/* ---- the control tree (ctl.c, ctl_objects.c, snapview.c) ---- */
/* /.ghostfs at the root: snapshots/ lists the snapshots, mkdir there takes
 * one and rmdir deletes it, and snapshots/NAME/ is the tree as NAME holds
 * it, read-only; objects/OID and objects/OID.json are one object decoded
 * (what `ghostfs inspect` prints), looked up by name, never listed. Its
 * inodes have numbers of their own (ctl.h), never the live tree's; in a
 * mount of a snapshot alone (fs_options.snapshot) every inode is the
 * snapshot's and there is no control tree. The glue asks whether the control tree owns an
 * inode, or a name in a directory, and calls these instead of the live
 * tree's functions. Every change they do not take is fs_ctl_refuse's
 * errno: EEXIST to create the root's FS_CTL_NAME, EPERM to remove or
 * rename it or to make anything but a directory in snapshots/, EROFS
 * anywhere else. */
#define FS_CTL_NAME ".ghostfs"
bool fs_ctl_owns(struct fs *fs, uint64_t ino);
bool fs_ctl_owns_entry(struct fs *fs, uint64_t parent, const char *name);
/* Is name in dir an entry of the live tree that the control tree hides
 * (the root's FS_CTL_NAME, left out of its listing). */
bool fs_ctl_shadows(struct fs *fs, uint64_t dir, const char *name);
/* Whether what the kernel caches of ino may change (the control
 * directories, a snapshot's directory in snapshots/): cache it briefly. */
bool fs_ctl_volatile(struct fs *fs, uint64_t ino);
int fs_ctl_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out);
void fs_ctl_forget(struct fs *fs, uint64_t ino, uint64_t n);
int fs_ctl_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out);
int fs_ctl_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size);
int fs_ctl_opendir(struct fs *fs, uint64_t ino);
/* As fs_readdir (offsets are stable cookies; with plus each entry taken
 * counts as a lookup). */
int fs_ctl_readdir(struct fs *fs, uint64_t ino, uint64_t off, bool plus, fs_dirent_fn fn,
                   void *arg);
/* One object's document (a file of /.ghostfs/objects), opaque. */
struct fs_ctl_doc;
/* -EROFS for any access but reading (or O_TRUNC). A file of
 * /.ghostfs/objects sets *doc to its object's document, made now: what it
 * reads is fixed for this open, and its size is 0 (getattr), so the glue
 * reads it with direct I/O, until a read returns nothing; fs_ctl_release
 * frees it. A snapshot's file sets *doc to NULL (its data is the
 * snapshot's, which never changes). */
int fs_ctl_open(struct fs *fs, uint64_t ino, int flags, struct fs_ctl_doc **doc);
/* Read ino, opened as doc (NULL: not a document). */
ssize_t fs_ctl_read(struct fs *fs, uint64_t ino, const struct fs_ctl_doc *doc, void *buf,
                    size_t size, uint64_t off);
/* The last close of what fs_ctl_open opened (doc may be NULL). */
void fs_ctl_release(struct fs *fs, struct fs_ctl_doc *doc);
/* SEEK_DATA and SEEK_HOLE in ino, opened as doc (NULL: not a document). */
int64_t fs_ctl_lseek(struct fs *fs, uint64_t ino, const struct fs_ctl_doc *doc, int64_t off,
                     int whence);
ssize_t fs_ctl_getxattr(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
ssize_t fs_ctl_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size);
/* In snapshots/: take snapshot name (this process's buffered writes
 * committed first) and return its directory, counted as a lookup. Bad
 * names get the errno mkdir(2) would (ENAMETOOLONG, EINVAL, EEXIST), and a
 * log line. */
int fs_ctl_mkdir(struct fs *fs, uint64_t parent, const char *name, struct fs_attr *out);
/* In snapshots/: delete snapshot name; -EBUSY (logged) while a process
 * has it mounted alone, -ENOENT if there is none. */
int fs_ctl_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* The errno of any other change of ino, or of name in directory ino;
 * creates: the change would make name. */
int fs_ctl_refuse(struct fs *fs, uint64_t ino, const char *name, bool creates);

/* ---- xattrs ---- */
int fs_setxattr(struct fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
                int flags);
/* size 0: return the value's size. Else copy it, or -ERANGE. */
ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *buf, size_t size);
int fs_removexattr(struct fs *fs, uint64_t ino, const char *name);

#endif
