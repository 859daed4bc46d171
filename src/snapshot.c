/*
 * snapshot.c - named snapshots: a snapshot is a name for a generation,
 * kept in ENGINE_SNAP; meta's snapmax is the newest one's generation,
 * which decides whether a write must keep the head it replaces
 * (store_batch.c). Reading at a snapshot is store_read.c's business.
 */
#include "record.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static int snap_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > GHOST_SNAP_NAME_MAX || strchr(name, '/'))
        return ghost_set_error(-EINVAL, "snapshot name '%s' is %s", name ? name : "",
                               n == 0                    ? "empty"
                               : n > GHOST_SNAP_NAME_MAX ? "too long"
                                                         : "not a plain name");
    return 0;
}

/* The newest snapshot's generation, 0 if none (records too short to hold
 * one are skipped). */
static uint64_t newest_snapshot(struct store *s, struct engine_txn *w)
{
    struct engine_cursor *cur;
    struct engine_val k, v;
    uint64_t max = 0, g;
    if (engine_cursor_open(s->eng, w, ENGINE_SNAP, &cur))
        return 0;
    int rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        if (snap_value_gen(&v, CKSUM_LEN + 8, &g))
            max = g > max ? g : max;
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    return max;
}

static int snap_create_fn(struct store *s, struct engine_txn *w, void *arg)
{
    const char *name = arg;
    struct engine_val k = {strlen(name), (void *)name}, v;
    struct timespec now;
    if (engine_get(s->eng, w, ENGINE_SNAP, &k, &v) == 0)
        return ghost_set_error(-EEXIST, "snapshot '%s' exists", name);
    uint64_t gen = engine_txn_gen(w); /* no version has it: this transaction writes none */
    clock_gettime(CLOCK_REALTIME, &now);
    int r = snap_put(s, w, name, gen, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    return r ? r : put_meta64(s, w, "snapmax", gen);
}

int store_snap_create(struct store *s, const char *name)
{
    int r = snap_name_ok(name);
    return r ? r : store_small_write(s, snap_create_fn, (void *)name, true);
}

static int snap_delete_fn(struct store *s, struct engine_txn *w, void *arg)
{
    const char *name = arg;
    struct engine_val k = {strlen(name), (void *)name};
    int r = engine_del(s->eng, w, ENGINE_SNAP, &k);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", name);
    if (r)
        return r;
    return put_meta64(s, w, "snapmax", newest_snapshot(s, w));
}

int store_snap_delete(struct store *s, const char *name)
{
    int r = snap_name_ok(name);
    return r ? r : store_small_write(s, snap_delete_fn, (void *)name, true);
}

int store_snap_find(struct store *s, struct engine_txn *view, const char *name, uint64_t *gen)
{
    int r = snap_name_ok(name);
    if (r)
        return r;
    struct engine_val k = {strlen(name), (void *)name}, v;
    r = engine_get(s->eng, view, ENGINE_SNAP, &k, &v);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", name);
    return r ? r : snap_decode(s, &k, &v, gen, NULL);
}

int store_snap_list(struct store *s, struct ghost_snapshot *list, int max)
{
    struct engine_txn *view;
    struct engine_cursor *cur;
    struct engine_val k, v;
    int n = 0;
    int r = engine_view_begin(s->eng, &view);
    if (r)
        return r;
    r = engine_cursor_open(s->eng, view, ENGINE_SNAP, &cur);
    if (r) {
        engine_view_end(s->eng, view);
        return r;
    }
    int rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        uint64_t gen, created;
        r = snap_decode(s, &k, &v, &gen, &created);
        if (r)
            break;
        if (n < max) {
            size_t len = k.len > GHOST_SNAP_NAME_MAX ? GHOST_SNAP_NAME_MAX : k.len;
            memcpy(list[n].name, k.data, len);
            list[n].name[len] = 0;
            list[n].generation = gen;
            list[n].created_ns = created;
        }
        n++;
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    engine_view_end(s->eng, view);
    return r ? r : n;
}
