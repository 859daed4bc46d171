/*
 * store_open.c - making, opening and closing a store above the engine: the
 * meta records a new store starts with, the format check every open makes,
 * OID blocks, and the newest generation.
 *
 * The format is checked in a read view the engine runs before it commits
 * to the open (engine_open's check), so a file of another format or of a
 * newer ghostfs is refused before anything is written to it.
 */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

/* The first write transaction of a new store: its meta records. */
static int mkfs_init(void *arg, struct engine *e, struct engine_txn *w)
{
    struct store *s = arg;
    unsigned char uuid[16];
    struct timespec now;
    s->eng = e;
    if (getrandom(uuid, sizeof uuid, 0) != sizeof uuid)
        return ghost_set_error(-EIO, "%s: no random bytes for the uuid", s->path);
    clock_gettime(CLOCK_REALTIME, &now);
    int r = put_meta64(s, w, "format", GHOST_FORMAT);
    r = r ? r : put_value(s, w, ENGINE_META, "uuid", 4, NULL, 0, uuid, sizeof uuid);
    r = r ? r : put_meta64(s, w, "next_oid", GHOST_OID_FIRST);
    r = r ? r : put_meta64(s, w, "snapmax", 0);
    r = r ? r
          : put_meta64(s, w, "created", (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    return r;
}

int store_mkfs(const char *path)
{
    struct store s = {.path = (char *)path};
    return engine_mkfs(path, mkfs_init, &s);
}

/* Check the format record and read the uuid (engine_open's check). */
static int check_format(void *arg, struct engine *e, struct engine_txn *view,
                        unsigned char uuid[16])
{
    struct store *s = arg;
    uint64_t format;
    s->eng = e;
    int r = get_meta64(s, view, "format", &format);
    if (r == -ENOENT)
        return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (no format record)",
                               s->path);
    if (!r && format > GHOST_FORMAT)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: store format %llu is newer than this ghostfs "
                               "understands (%d); upgrade ghostfs",
                               s->path, (unsigned long long)format, GHOST_FORMAT);
    if (!r && format < GHOST_FORMAT)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: store format %llu is older than this ghostfs reads "
                               "(%d); it has no converter: copy the files out with the "
                               "ghostfs that made the store",
                               s->path, (unsigned long long)format, GHOST_FORMAT);
    r = r ? r : get_meta(s, view, "uuid", s->uuid, sizeof s->uuid);
    if (!r)
        memcpy(uuid, s->uuid, sizeof s->uuid);
    return r;
}

int store_open(struct store *s, const char *path, const struct store_opts *o)
{
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path)
        return ghost_set_error(-ENOMEM, "%s: out of memory", path);
    s->readonly = o->readonly;
    struct engine_opts eo = {.sync = o->sync,
                             .readonly = o->readonly,
                             .fresh = o->fresh,
                             .map_bytes = o->map_bytes,
                             .reserve_bytes = o->reserve_bytes,
                             .log_entries = o->log_entries,
                             .accept_rollback = o->accept_rollback};
    s->quiet = true; /* open errors are returned, not logged */
    int r = engine_open(&s->eng, path, &eo, check_format, s);
    s->quiet = false;
    if (r) {
        s->eng = NULL;
        free(s->path);
        s->path = NULL;
    }
    return r;
}

void store_close(struct store *s)
{
    if (!s->eng)
        return;
    engine_close(s->eng);
    s->eng = NULL;
    free(s->changed_buf);
    s->changed_buf = NULL;
    free(s->path);
    s->path = NULL;
}

static int oid_block_fn(struct store *s, struct engine_txn *w, void *arg)
{
    uint64_t *nf = arg; /* in: how many; out: the first */
    uint64_t next = 0;
    int r = get_meta64(s, w, "next_oid", &next);
    r = r ? r : put_meta64(s, w, "next_oid", next + nf[0]);
    nf[1] = next;
    return r;
}

int store_oid_block(struct store *s, uint64_t n, uint64_t *first, bool grow)
{
    uint64_t nf[2] = {n, 0};
    int r = store_small_write(s, oid_block_fn, nf, grow);
    if (!r)
        *first = nf[1];
    return r;
}
