/*
 * fsint.h - the runtime state of a mounted filesystem that the files of
 * fs/ share: struct fs and struct inode, and the order of their locks.
 *
 * Lock order: fs.ro_lock -> inode.rw -> fs.itab_lock, and inode.rw ->
 * fs.dirty_lock (itab_lock and dirty_lock are never held together). An inode's rw lock
 * is held shared by readers of its data and exclusively by writers and by the
 * commit of its buffer; no libghost call made under it waits for another
 * inode's lock. ctl.lock (ctl.h: the snapshot views' slots) is a leaf,
 * held briefly and never across a read of the store.
 */
#ifndef GHOSTFS_FSINT_H
#define GHOSTFS_FSINT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "be.h"
#include "fs.h"
#include "held.h"
#include "htab.h"
#include "inode_rec.h"
#include "list.h"
#include "wbuf.h"

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

/* MUTEX_HELD, RWLOCK_HELD: for assert() only (held.h). */

/* Called for each inode another process changed (0: all); see notify.c. */
typedef void (*fs_notify_fn)(void *arg, uint64_t ino);

/* Runtime state of an inode this process uses. */
struct inode {
    uint64_t ino;
    struct hnode node;   /* in fs.itable, keyed by ino */
    uint64_t nlookup;    /* kernel references */
    uint32_t nopen;      /* open files */
    uint32_t refs;       /* temporary references by running calls */
    pthread_rwlock_t rw; /* protects wb, wb_old and cached_dv */
    struct wbuf *wb;     /* writes since the last commit (or hand-off) */
    /* A full buffer handed to the flusher, which commits it without rw
     * while writes go on into wb; readers merge wb_old, then wb. */
    struct wbuf *wb_old;
    bool old_pending;             /* waiting for the flusher (under fs.dirty_lock) */
    bool old_busy;                /* the flusher is committing it (under fs.dirty_lock) */
    _Atomic uint64_t last_commit; /* commit_mark(fs) after its last buffer commit */
    uint64_t cached_dv;
    bool dv_known;
    bool unlinked;   /* nlink reached 0: reclaim when unused */
    uint64_t parent; /* a name the kernel knows it by, for invalidation */
    char *name;
    struct list dirty_node; /* on fs.dirty while `dirty` */
    bool dirty;
    int64_t dirty_since;
};

struct fs {
    struct ghost *g;
    uint32_t bs;
    size_t inline_max;
    pthread_mutex_t itab_lock; /* protects the table and every inode's counts */
    struct htab itable;        /* ino -> struct inode (itable.c) */

    pthread_mutex_t dirty_lock; /* protects the dirty list, dirty_bytes, old_* */
    pthread_cond_t dirty_cond;
    pthread_cond_t old_cond;     /* a background commit of a wb_old ended */
    _Atomic uint64_t wb_commits; /* buffers committed so far (see commit_mark) */
    struct list dirty;           /* inodes with buffered writes (dirty.c) */
    size_t dirty_bytes;
    _Atomic size_t budget; /* dirty bytes before back-pressure (set under dirty_lock) */
    unsigned interval_ms;  /* under dirty_lock: the flusher sleeps by it */
    pthread_t flusher;
    bool flusher_running, stop;

    fs_notify_fn notify; /* under notify.c's hook_lock */
    void *notify_arg;
    char owner[48];  /* boot id and pid, recorded with our orphans */
    struct ctl *ctl; /* the control tree (ctl.h) */
    /* Writes refused with -EROFS (mounted or remounted read-only). Set
     * under ro_lock held exclusively; a write that buffers data holds it
     * shared, so that once readonly is set and ro_lock released no write
     * is left half way to the buffers (remount.c). */
    pthread_rwlock_t ro_lock;
    atomic_bool readonly;
    atomic_bool defer; /* big unlinked files are left to the crawler (orphan.c) */
#define DEFER_FAILED_MAX 16
    uint64_t defer_failed[DEFER_FAILED_MAX]; /* deferred deletes that failed here */
    unsigned defer_failed_next;              /* (the crawler thread's own) */
    bool kernel_writeback;                   /* fs_options's, fixed at open */
};

/* xattr.c: an inode's attribute (getxattr: its length, the value copied
 * to buf when size > 0; -ERANGE if it does not fit) and its list of names
 * (*used: the bytes the whole list takes; what fits is copied), read in t,
 * with the checks of a missing one against the map's tally; the live tree
 * and the snapshot views (snapview.c) both read through them. */
ssize_t xattr_get_in(struct ghost_txn *t, uint64_t ino, const char *name, size_t nlen, void *buf,
                     size_t size);
int xattr_list_in(struct ghost_txn *t, uint64_t ino, char *buf, size_t size, size_t *used);

/* mount.c: the crawler's work (ghost_crawl_options.work), arg the fs: the
 * deferred deletes. */
int fs_crawl_work(void *arg, unsigned max_keys);

/* notify.c */
/* Who gets the library's reports (NULL: nobody). Once it returns, the
 * previous fn is not running nor will be called. */
void fs_set_notify(struct fs *fs, fs_notify_fn fn, void *arg);
/* The library's invalidate callback, set by fs_open (arg: the fs). */
void notify_invalidate(void *arg, uint64_t oid);

#endif
