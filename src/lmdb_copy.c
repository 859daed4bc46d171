/*
 * lmdb_copy.c - a compacted copy of an LMDB store (engine_copy): LMDB's
 * own copy in one read transaction (mdb_env_copyfd2 with MDB_CP_COMPACT:
 * the live pages only, renumbered, free pages dropped), written to a new
 * file, then the copy's generation put back (lmdb_meta.c): LMDB starts a
 * compacted copy's transaction ids at 1, and a store whose generation is
 * below the ones its records carry would write new versions that sort as
 * older than the ones they replace.
 *
 * The copy's read transaction is counted as every reader of the engine is
 * (lmdb_enter), so that no resize of the map runs under it.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct copy {
    struct engine *e;
    int fd;
};

static int copy_fn(void *ctx)
{
    struct copy *c = ctx;
    MDB_txn *txn;
    /* A transaction of our own first: it adopts a map another process
     * grew, which LMDB's copy would otherwise refuse. */
    int r = lmdb_begin(c->e, MDB_RDONLY, &txn);
    if (r)
        return r;
    mdb_txn_abort(txn);
    lmdb_end(c->e);
    lmdb_enter(c->e);
    int rc = mdb_env_copyfd2(c->e->env, c->fd, MDB_CP_COMPACT);
    lmdb_leave(c->e);
    return rc ? lmdb_err(c->e, rc, "copying the store") : 0;
}

int engine_copy(struct engine *e, const char *path, uint64_t *gen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    struct copy c = {e, fd};
    int r = engine_guarded(e, copy_fn, &c, "copying the store");
    /* The copy's read transaction began before this: the store's newest
     * generation now is no older than the copy's. */
    *gen = engine_last_gen(e);
    r = r ? r : lmdb_meta_set_generation(fd, path, *gen);
    if (r == 0 && fsync(fd))
        r = ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    close(fd);
    if (r)
        unlink(path);
    return r;
}
