/*
 * ctl.h - what the control tree's files share (ctl.c, ctl_objects.c,
 * snapview.c, snap_mount.c): the inode numbers of the control tree and of
 * snapshot views, and the table of snapshots this process shows.
 *
 * Inode numbers. The live tree's are OIDs, below 2^63. Everything the
 * control tree shows has bit 63 set:
 *
 *   bit 63 | slot (16 bits, 62..47) | OID (47 bits, 46..0)
 *
 * Slot 0 is the control tree itself: its directories (CTL_DIR_INO,
 * CTL_SNAPS_INO, CTL_OBJS_INO) and, with bit 46 set (CTL_OBJ_BIT), the
 * files of /.ghostfs/objects: OID o's is CTL_BIT | CTL_OBJ_BIT | o << 1,
 * and o.json's the same plus 1, so only OIDs up to CTL_OBJ_OID_MAX (2^45
 * - 1) have one (a lookup of a larger one that exists is EOVERFLOW,
 * logged). Slot s
 * (1..CTL_SLOTS_MAX) is one snapshot, and OID o inside it is inode
 * CTL_BIT | s << 47 | o. So a snapshot's inodes never share a number with
 * the live tree's nor with another snapshot's, without a table of inodes:
 * the number is computed both ways. The limits: OIDs inside a browsed
 * snapshot must be below 2^47 (an object past it is EOVERFLOW, logged),
 * and at most CTL_SLOTS_MAX snapshots have a slot at once in one process
 * (a slot goes back to the pool when the kernel holds none of its inodes).
 * Slots are given in lookup order, per process: a file handle's number may
 * stand for another snapshot after a restart, which the inode generation
 * (snapview.c, view_attr) tells apart.
 *
 * A mount of one snapshot alone (-o snapshot=NAME) has no live tree to
 * collide with: there every inode is the view's, numbered by its OID, in
 * slot 1.
 */
#ifndef GHOSTFS_CTL_H
#define GHOSTFS_CTL_H

#include "fsint.h"

#define CTL_BIT (UINT64_C(1) << 63)
#define CTL_SLOT_SHIFT 47
#define CTL_OID_MASK ((UINT64_C(1) << CTL_SLOT_SHIFT) - 1)
#define CTL_SLOTS_MAX 65535u
#define CTL_DIR_INO (CTL_BIT | 1)   /* /.ghostfs */
#define CTL_SNAPS_INO (CTL_BIT | 2) /* /.ghostfs/snapshots */
#define CTL_OBJS_INO (CTL_BIT | 3)  /* /.ghostfs/objects */
#define CTL_OBJ_BIT (UINT64_C(1) << (CTL_SLOT_SHIFT - 1))
#define CTL_OBJ_OID_MAX ((UINT64_C(1) << (CTL_SLOT_SHIFT - 2)) - 1)
/* The most bytes of one object's document (ctl_objects.c); the decoder's
 * own limits (INSPECT_LIST_MAX names per list) keep every document of an
 * undamaged store well under it. */
#define CTL_DOC_MAX ((size_t)8 << 20)

#define CTL_SLOT_BUCKETS 4096u /* of the index by name and generation */

/* A snapshot with a slot: what its inode numbers stand for. */
struct ctl_slot {
    char name[GHOST_SNAP_NAME_MAX + 1];
    uint64_t gen;  /* the snapshot's generation: a name taken again is another */
    uint64_t refs; /* the kernel's references to inodes of this slot, and calls under way */
    uint32_t next; /* the next slot in its bucket of the index, 0: none */
    bool used;
};

struct ctl {
    pthread_mutex_t lock;                /* protects slots, nslots, bucket, reuse */
    struct ctl_slot *slots;              /* [0] unused; grown up to slots_max + 1 */
    uint32_t nslots;                     /* slots in use or used before: 1..nslots - 1 */
    uint32_t slots_max;                  /* CTL_SLOTS_MAX (tests make it smaller) */
    uint32_t reuse;                      /* where the search for a slot to reuse goes on */
    uint32_t bucket[CTL_SLOT_BUCKETS];   /* index of used slots by name and generation */
    bool alone;                          /* the mount is one snapshot, slot 1, inode = OID */
    char mark[GHOST_SNAP_NAME_MAX + 64]; /* this process's mark (snap_mount.c) */
    size_t mark_len;                     /* 0: none */
    size_t doc_max;                      /* CTL_DOC_MAX (tests make it smaller) */
};

/* A snapshot view being read: a copy of its slot. */
struct view {
    uint32_t slot;
    char name[GHOST_SNAP_NAME_MAX + 1];
    uint64_t gen;
};

/* ---- ctl.c ---- */
/* Set up fs->ctl: the control tree, or (snapshot not NULL) the mount of
 * that snapshot alone, marked as mounted. -ENOENT if there is no such
 * snapshot. */
int ctl_open(struct fs *fs, const char *snapshot);
/* Take the mark away and free fs->ctl (NULL is fine). */
void ctl_close(struct fs *fs);
/* The inode number of oid in slot's view; -EOVERFLOW (logged) past the
 * encoding's limit. */
int ctl_ino(const struct ctl *c, uint32_t slot, uint64_t oid, uint64_t *ino);

/* ---- ctl_objects.c ---- */
/* Whether ino is a file of /.ghostfs/objects. */
bool objs_is_file(uint64_t ino);
/* Name in /.ghostfs/objects: "OID" or "OID.json", an object that exists
 * (its file, not counted: the number is fixed). -ENOENT for any other
 * name. */
int objs_lookup(struct fs *fs, const char *name, struct fs_attr *out);
int objs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out);
/* The object's document, made now (-EROFS for any access but reading). */
int objs_open(struct fs *fs, uint64_t ino, int flags, struct fs_ctl_doc **doc);
ssize_t objs_read(const struct fs_ctl_doc *doc, void *buf, size_t size, uint64_t off);
size_t objs_doc_len(const struct fs_ctl_doc *doc);
void objs_release(struct fs_ctl_doc *doc);

/* ---- snapview.c ---- */
/* The slot of snapshot name (generation gen), found or given; counts a
 * kernel reference if count. -ENFILE if every slot is held. Finding one
 * costs a look in the index; giving one that was used before (once every
 * slot has been) searches on from where the last search stopped. */
int view_slot(struct fs *fs, const char *name, uint64_t gen, bool count, uint32_t *slot);
/* The snapshot name's root directory as the view shows it (a lookup:
 * counted if count). -ENOENT if there is no such snapshot. */
int view_root(struct fs *fs, const char *name, bool count, struct fs_attr *out);
/* Calls on inode oid of slot's view (the dispatch is ctl.c's). */
int view_lookup(struct fs *fs, uint32_t slot, uint64_t dir, const char *name, struct fs_attr *out);
int view_getattr(struct fs *fs, uint32_t slot, uint64_t oid, struct fs_attr *out);
void view_forget(struct fs *fs, uint32_t slot, uint64_t n);
int view_readlink(struct fs *fs, uint32_t slot, uint64_t oid, char *buf, size_t size);
int view_opendir(struct fs *fs, uint32_t slot, uint64_t oid);
int view_readdir(struct fs *fs, uint32_t slot, uint64_t oid, uint64_t off, bool plus,
                 fs_dirent_fn fn, void *arg);
int view_open(struct fs *fs, uint32_t slot, uint64_t oid, int flags);
ssize_t view_read(struct fs *fs, uint32_t slot, uint64_t oid, void *buf, size_t size, uint64_t off);
ssize_t view_getxattr(struct fs *fs, uint32_t slot, uint64_t oid, const char *name, void *buf,
                      size_t size);
ssize_t view_listxattr(struct fs *fs, uint32_t slot, uint64_t oid, char *buf, size_t size);

/* ---- snap_mount.c ---- */
/* Mark snapshot name as mounted by this process (fs->ctl->mark), so that
 * deleting it is refused while the process lives. */
int snap_mount_mark(struct fs *fs, const char *name);
/* Remove this process's mark, if any. */
void snap_mount_unmark(struct fs *fs);
/* 0 if no live process has snapshot name mounted alone, else -EBUSY
 * (logged, naming the process). Stale marks are removed. */
int snap_mount_check(struct fs *fs, const char *name);

#endif
