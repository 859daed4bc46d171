/*
 * errors.c - the one boundary between libghost's error codes and the errno
 * values a program sees.
 *
 * libghost returns negative errnos plus a few codes of its own (>= 1000, see
 * ghost.h and the internal ones in src/internal.h). Every fs_ function ends
 * in fs_errno() or fs_run(), so nothing above fs/ - the FUSE glue, libfuse,
 * the kernel, the unit tests - ever sees a library code: libfuse would turn
 * one into ERANGE, which no program expects from write(2) or fsync(2).
 *
 * The table, and why each code goes where it goes:
 *
 *   GHOST_ECONFLICT -> EBUSY. Seen here only once ghost_run() has run out of
 *       retries (max_retries attempts with backoff): other writers keep
 *       changing what this call reads. Nothing was written, and trying again
 *       later may work - which EIO would deny (it says data may be lost) and
 *       which EAGAIN would overstate: on a blocking descriptor EAGAIN means
 *       "would block", and programs that see it spin or poll for readiness
 *       that never comes. EBUSY ("resource busy") is the honest word.
 *   GHOST_ECORRUPT -> EIO. A record failed its checksum or the engine found
 *       a damaged page: the classic meaning of EIO. The library has already
 *       logged the line naming the store and the key (the store logs every
 *       damage it reports), so the operator finds what is damaged without
 *       this layer saying it twice.
 *   GHOST_EFORMAT -> EINVAL. The file is not a store, is of a newer format
 *       or is truncated: what mount(2) answers for a superblock it cannot
 *       use. ghost_errmsg() keeps the detail for the command's message.
 *   GHOST_EDISCONNECT -> EIO. The connection to a remote engine dropped
 *       and ghost_run() could not connect again within its retries: the
 *       store cannot be reached, and the call did nothing. EIO is what a
 *       program gets from any file system whose device went away.
 *   GHOST_EGROW (internal, 1100) -> ENOSPC. The engine's room (LMDB's map)
 *       is full and must grow; the committer grows it and retries, so it
 *       escapes only when growing failed, i.e. the store can take no more.
 *   any other code >= 1000 -> EIO. A code added later whose outcome this
 *       table does not know yet: EIO claims nothing about it.
 *
 * Real errnos (and 0, and byte counts) pass through unchanged, so mapping
 * twice is harmless.
 *
 * The calls fs/ makes into libghost outside a transaction (ghost_run, the
 * sync, the space figures) go through here too, mapped; in test builds
 * (FS_TEST_HOOKS) each can be told to fail, so that tests drive every path
 * a library failure takes up to the errno a program sees.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "fsint.h"

/* The internal code of src/engine.h; fs/ does not include that header. */
#define FS_GHOST_EGROW 1100
/* Codes at or above this are the library's own, not errnos. */
#define FS_GHOST_CODES 1000

long fs_errno(long e)
{
    if (e > -FS_GHOST_CODES)
        return e;
    switch (-e) {
    case GHOST_ECONFLICT:
        return -EBUSY;
    case GHOST_ECORRUPT:
        return -EIO;
    case GHOST_EFORMAT:
        return -EINVAL;
    case GHOST_EDISCONNECT:
        return -EIO;
    case FS_GHOST_EGROW:
        return -ENOSPC;
    default:
        return -EIO;
    }
}

/* ---- the calls fs/ makes into libghost outside a transaction ---------------- */

#ifdef FS_TEST_HOOKS
static _Atomic int fault_code[FS_FAULT_SITES];
static _Atomic unsigned fault_times[FS_FAULT_SITES];
static _Atomic unsigned fault_skip[FS_FAULT_SITES];

void fs_test_fault_after(int site, unsigned skip, int code, unsigned times)
{
    atomic_store(&fault_times[site], 0);
    atomic_store(&fault_code[site], code);
    atomic_store(&fault_skip[site], skip);
    atomic_store(&fault_times[site], times);
}

void fs_test_fault(int site, int code, unsigned times)
{
    fs_test_fault_after(site, 0, code, times);
}

/* Take one from *counter unless it is 0; whether it was not. */
static bool take_one(_Atomic unsigned *counter)
{
    unsigned n = atomic_load(counter);
    while (n && !atomic_compare_exchange_weak(counter, &n, n - 1))
        ;
    return n != 0;
}

int fs_fault(int site)
{
    if (take_one(&fault_skip[site]) || !take_one(&fault_times[site]))
        return 0;
    return atomic_load(&fault_code[site]);
}
#endif

int fs_run(struct fs *fs, int (*fn)(struct ghost_txn *t, void *arg), void *arg)
{
    int e = fs_fault(FS_FAULT_RUN);
    return (int)fs_errno(e ? e : ghost_run(fs->g, fn, arg));
}

int fs_sync_store(struct fs *fs)
{
    int e = fs_fault(FS_FAULT_SYNC);
    return (int)fs_errno(e ? e : ghost_sync(fs->g));
}

int fs_store_usage(struct fs *fs, struct ghost_usage *u)
{
    int e = fs_fault(FS_FAULT_USAGE);
    return (int)fs_errno(e ? e : ghost_usage(fs->g, u));
}

bool fs_is_errno(int e)
{
    /* The kernel refuses a reply outside (0, 4096) and libfuse turns it
     * into ERANGE; a code at or above FS_GHOST_CODES is the library's and
     * slipped past fs_errno(); and the C library must know its name, or no
     * program can tell what it means. */
    return e > 0 && e < FS_GHOST_CODES && strerrorname_np(e) != NULL;
}
