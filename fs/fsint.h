/*
 * fsint.h - what the files of fs/ share: the decoded inode record, the
 * in-memory inode table and the per-inode write buffer.
 *
 * Lock order: inode.rw -> fs.itab_lock, and inode.rw -> fs.dirty_lock
 * (itab_lock and dirty_lock are never held together). An inode's rw lock
 * is held shared by readers of its data and exclusively by writers and by the
 * commit of its buffer; no libghost call made under it waits for another
 * inode's lock.
 */
#ifndef GHOSTFS_FSINT_H
#define GHOSTFS_FSINT_H

#include <pthread.h>
#include <stdatomic.h>

#include "fs.h"

/* errors.c: the error boundary. fs_errno maps a library code (>= 1000) to
 * the errno a program should see and passes everything else (0, byte
 * counts, real errnos) through; every fs_ function returns through it.
 * fs_run is ghost_run with its result mapped. */
long fs_errno(long e);
int fs_run(struct fs *fs, int (*fn)(struct ghost_txn *t, void *arg), void *arg);
/* The store under fs, for code that reads it beside fs/ (tests). Nothing
 * above fs/ talks to the library: what it returns would bypass fs_errno. */
struct ghost *fs_store(struct fs *fs);

/* ghost_sync and ghost_usage, mapped. */
int fs_sync_store(struct fs *fs);
int fs_store_usage(struct fs *fs, struct ghost_usage *u);

/* Fault injection, compiled into test builds only (FS_TEST_HOOKS): the next
 * `times` passes through a site fail - with code (non-zero) for the library
 * calls above, as a failed allocation for FS_FAULT_ALLOC (notify.c).
 * fs_fault(site) is that code, or 0: go on. */
enum { FS_FAULT_RUN, FS_FAULT_SYNC, FS_FAULT_USAGE, FS_FAULT_ALLOC, FS_FAULT_SITES };
#ifdef FS_TEST_HOOKS
void fs_test_fault(int site, int code, unsigned times);
/* The same, once `skip` passes through the site went on unharmed. */
void fs_test_fault_after(int site, unsigned skip, int code, unsigned times);
int fs_fault(int site);
#else
#define fs_fault(site) 0
#endif

/* Big-endian integers, as every key and record of fs/ stores them. */
static inline void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t get_be64(const unsigned char *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* Inode record flags. */
#define INODE_INLINE 0x1 /* data lives in the record, not in FS_MAP_DATA */

/* The inode record, decoded. inl points into the transaction (borrowed). */
struct rec {
    uint32_t mode, uid, gid, nlink;
    uint64_t size;
    int64_t atime, mtime, ctime, btime;
    uint64_t rdev;
    uint64_t parent; /* directories: the parent directory */
    uint64_t dv;     /* data version: bumped by every change of the data */
    uint64_t stored; /* bytes held in FS_MAP_DATA blocks (for st_blocks) */
    uint32_t flags;
    const unsigned char *inl;
    size_t inl_len;
};
#define REC_HDR 92

int rec_get(struct ghost_txn *t, uint64_t ino, struct rec *r);
/* rec_get in a read view of its own, for the attributes alone: r->inl is
 * NULL on return (the view is gone), r->inl_len says how long it was. */
int rec_peek(struct fs *fs, uint64_t ino, struct rec *r);
int rec_put(struct ghost_txn *t, uint64_t ino, const struct rec *r);
void rec_attr(struct fs *fs, uint64_t ino, const struct rec *r, struct fs_attr *a);
/* Add what is still buffered in this process (writes, and attributes set
 * on an open file) to attributes read from the store. mark is
 * commit_mark(fs) taken before the record was read: if a buffer of this
 * inode was committed since, the record is read again (under the inode's
 * lock, so that no commit falls between the record and the buffer merged
 * on it). */
void attr_merge_buffered(struct fs *fs, struct fs_attr *a, uint64_t mark);
#define commit_mark(fs) atomic_load(&(fs)->wb_commits)
int64_t now_ns(void);

/* One dirty block of the write buffer: the bytes written and which ranges
 * of the block they cover. */
struct range {
    uint32_t lo, hi;
};
struct dblock {
    uint64_t index;
    unsigned char *data; /* block_size bytes */
    struct range *r;
    uint32_t nr, capr;
};
struct wbuf {
    struct dblock *b; /* sorted by index */
    size_t n, cap;
    uint64_t end;     /* the file is at least this long */
    size_t bytes;
    bool data;        /* bytes were written (else only attributes were set) */
    /* Attributes set while the file is open, committed with its data: tar
     * sets owner, mode and times on the open file before it closes it. */
    unsigned aset;    /* which of FS_SET_MODE, _UID, _GID, _ATIME, _MTIME */
    uint32_t mode, uid, gid;
    int64_t atime;
    int64_t mtime;    /* valid when data or FS_SET_MTIME */
    /* What each attribute in aset was when it was first set here: a commit
     * sets it only if the store still has that, so that a change another
     * daemon committed meanwhile is not undone. */
    uint32_t base_mode, base_uid, base_gid;
    int64_t base_atime, base_mtime;
    int64_t ctime;    /* of the last buffered change */
};
/* Attributes set with setattr that wb_setattr can buffer. */
#define WB_SETTABLE                                                                        \
    (FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW | \
     FS_SET_MTIME_NOW)

/* Called for each inode another process changed (0: all); see notify.c. */
typedef void (*fs_notify_fn)(void *arg, uint64_t ino);

/* Runtime state of an inode this process uses. */
struct inode {
    uint64_t ino;
    struct inode *hnext;
    uint64_t nlookup;     /* kernel references */
    uint32_t nopen;       /* open files */
    uint32_t refs;        /* temporary references by running calls */
    pthread_rwlock_t rw;  /* protects wb, wb_old and cached_dv */
    struct wbuf *wb;      /* writes since the last commit (or hand-off) */
    /* A full buffer handed to the flusher, which commits it without rw
     * while writes go on into wb; readers merge wb_old, then wb. */
    struct wbuf *wb_old;
    bool old_pending;     /* waiting for the flusher (under fs.dirty_lock) */
    bool old_busy;        /* the flusher is committing it (under fs.dirty_lock) */
    _Atomic uint64_t last_commit; /* commit_mark(fs) after its last buffer commit */
    uint64_t cached_dv;
    bool dv_known;
    bool unlinked;        /* nlink reached 0: reclaim when unused */
    uint64_t parent;      /* a name the kernel knows it by, for invalidation */
    char *name;
    struct inode *dnext, *dprev; /* dirty list */
    bool dirty;
    int64_t dirty_since;
};

struct fs {
    struct ghost *g;
    uint32_t bs;
    size_t inline_max;
    pthread_mutex_t itab_lock; /* protects the table and every inode's counts */
    struct inode **buckets;
    size_t nbuckets, count;

    pthread_mutex_t dirty_lock; /* protects the dirty list, dirty_bytes, old_* */
    pthread_cond_t dirty_cond;
    pthread_cond_t old_cond;    /* a background commit of a wb_old ended */
    _Atomic uint64_t wb_commits; /* buffers committed so far (see commit_mark) */
    struct inode *dirty_head;
    size_t dirty_bytes, budget;
    unsigned interval_ms;
    pthread_t flusher;
    bool flusher_running, stop;

    fs_notify_fn notify; /* under notify.c's hook_lock */
    void *notify_arg;
    char owner[48]; /* boot id and pid, recorded with our orphans */
    bool readonly;
};

/* Find or add the runtime inode and take a temporary reference. */
struct inode *inode_get(struct fs *fs, uint64_t ino);
void inode_put(struct fs *fs, struct inode *in);
/* Count a kernel reference; remember the name it came by. */
void inode_looked_up(struct fs *fs, uint64_t ino, uint64_t parent, const char *name);
/* Delete an unlinked inode and everything it owns, unless still in use. */
int inode_reclaim(struct fs *fs, uint64_t ino);
/* Delete the keys of ino's maps in t, at most max of them. Returns 1 when
 * none are left, 0 when more are, or a negative errno. With whole, deletes
 * nothing unless they all fit. */
int inode_delete_maps(struct ghost_txn *t, uint64_t ino, size_t max, bool whole);
int orphans_reclaim(struct fs *fs, bool ours_only);

/* file.c */
/* Commit in->wb_old, then in->wb. With in->rw held exclusively; while the
 * flusher is committing wb_old it waits for it with in->rw dropped. */
int wb_commit(struct fs *fs, struct inode *in);
/* Buffer a setattr of WB_SETTABLE fields; with in->rw held exclusively.
 * Fills *out with the attributes as they now are. -EAGAIN: not a regular
 * file, commit it at once instead. */
int wb_setattr(struct fs *fs, struct inode *in, const struct fs_attr *a, unsigned set,
               struct fs_attr *out);
/* What a commit of wb would make of attributes / of the record. */
void wb_merge_attr(const struct wbuf *wb, struct fs_attr *a);
void wb_apply(const struct wbuf *wb, struct rec *r);
void wb_free(struct wbuf *wb);
void dirty_remove(struct fs *fs, struct inode *in);
int flusher_start(struct fs *fs);
void flusher_stop(struct fs *fs);
int flush_all(struct fs *fs);
int truncate_txn(struct fs *fs, struct ghost_txn *t, uint64_t ino, struct rec *r,
                 uint64_t size);

/* dir.c */
uint64_t name_hash(const char *name, size_t len);
/* Look name (len bytes) up in dir: *child and *dtype (may be NULL), or
 * -ENOENT. The directory-entry layout is dir.c's alone. */
int dirent_get(struct ghost_txn *t, uint64_t dir, const char *name, size_t len,
               uint64_t *child, uint8_t *dtype);

/* notify.c */
/* Who gets the library's reports (NULL: nobody). Once it returns, the
 * previous fn is not running nor will be called. */
void fs_set_notify(struct fs *fs, fs_notify_fn fn, void *arg);
/* The library's invalidate callback, set by fs_open (arg: the fs). */
void notify_invalidate(void *arg, uint64_t oid);

#endif
