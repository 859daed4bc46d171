/*
 * snapshot.c - named snapshots: a snapshot is a name for a generation,
 * kept in ENGINE_SNAP; meta's snapmax is the newest one's generation,
 * which decides whether a write must keep the head it replaces
 * (store_batch.c). Reading at a snapshot is store_read.c's business.
 */
#include "record.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* A snapshot's name is a directory's name too (the filesystem shows each
 * snapshot as a directory): no '/', and (for a new one, `creating`) not "."
 * or "..", which every directory already holds. An older ghostfs took
 * those: such a snapshot can still be found and deleted. */
static int snap_name_ok(const char *name, bool creating)
{
    size_t n = name ? strlen(name) : 0;
    bool dots = creating && n && (!strcmp(name, ".") || !strcmp(name, ".."));
    if (n == 0 || n > GHOST_SNAP_NAME_MAX || strchr(name, '/') || dots)
        return ghost_set_error(-EINVAL, "snapshot name '%s' is %s", name ? name : "",
                               n == 0                    ? "empty"
                               : n > GHOST_SNAP_NAME_MAX ? "too long"
                               : dots                    ? "reserved ('.' and '..')"
                                                         : "not a plain name");
    return 0;
}

/* The newest snapshot's generation into *max, 0 if none (records too short
 * to hold one are skipped). A table that cannot be read to its end is an
 * error: a smaller answer would let writes drop versions a snapshot needs. */
static int newest_snapshot(struct store *s, struct engine_txn *w, uint64_t *max)
{
    struct engine_cursor *cur;
    struct engine_val k, v;
    uint64_t g;
    *max = 0;
    int rc = engine_cursor_open(s->eng, w, ENGINE_SNAP, &cur);
    if (rc)
        return rc;
    rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        if (snap_value_gen(&v, CKSUM_LEN + 8, &g))
            *max = g > *max ? g : *max;
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    return rc == -ENOENT ? 0 : rc;
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

int store_snap_name_ok(const char *name)
{
    return snap_name_ok(name, true);
}

int store_snap_create(struct store *s, const char *name)
{
    int r = snap_name_ok(name, true);
    return r ? r : store_small_write(s, snap_create_fn, (void *)name, true);
}

static int snap_delete_fn(struct store *s, struct engine_txn *w, void *arg)
{
    const char *name = arg;
    struct engine_val k = {strlen(name), (void *)name};
    int r = engine_del(s->eng, w, ENGINE_SNAP, &k);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", name);
    uint64_t max;
    r = r ? r : newest_snapshot(s, w, &max);
    return r ? r : put_meta64(s, w, "snapmax", max);
}

int store_snap_delete(struct store *s, const char *name)
{
    int r = snap_name_ok(name, false);
    return r ? r : store_small_write(s, snap_delete_fn, (void *)name, true);
}

/* ---- a new identity (a backup's copy) ---- */

struct renew {
    VEC(char) names; /* the origin-less snapshots' names, each NUL-ended */
};

static int renew_fn(struct store *s, struct engine_txn *w, void *arg)
{
    struct renew *a = arg;
    struct engine_cursor *cur;
    struct engine_val k, v;
    unsigned char uuid[16], ou[16];
    uint64_t og;
    vec_clear(&a->names);
    int rc = engine_cursor_open(s->eng, w, ENGINE_SNAP, &cur);
    if (rc)
        return rc;
    rc = engine_cursor_seek(cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        uint64_t g;
        int r = snap_decode(s, &k, &v, &g, NULL);
        if (r) {
            engine_cursor_close(cur);
            return r;
        }
        if (!snap_origin(&v, ou, &og)) {
            for (size_t i = 0; i < k.len; i++)
                if (vec_push(&a->names, ((const char *)k.data)[i]))
                    rc = -ENOMEM;
            if (vec_push(&a->names, 0))
                rc = -ENOMEM;
            if (rc) {
                engine_cursor_close(cur);
                return ghost_set_error(-ENOMEM, "out of memory");
            }
        }
        rc = engine_cursor_next(cur, &k, &v);
    }
    engine_cursor_close(cur);
    if (rc != -ENOENT)
        return rc;
    /* Each snapshot taken here keeps this store's identity as its origin. */
    for (size_t i = 0; i < a->names.n; i += strlen(a->names.v + i) + 1) {
        const char *name = a->names.v + i;
        struct engine_val nk = {strlen(name), (void *)name};
        uint64_t g, created;
        int r = engine_get(s->eng, w, ENGINE_SNAP, &nk, &v);
        r = r ? r : snap_decode(s, &nk, &v, &g, &created);
        r = r ? r : snap_put_origin(s, w, name, g, created, s->uuid, g);
        if (r)
            return r;
    }
    if (getrandom(uuid, sizeof uuid, 0) != sizeof uuid)
        return ghost_set_error(-EIO, "%s: no random bytes for the uuid", s->path);
    int r = put_value(s, w, ENGINE_META, "uuid", 4, NULL, 0, uuid, sizeof uuid);
    if (r == 0)
        memcpy(s->uuid, uuid, 16);
    return r;
}

int store_new_uuid(struct store *s)
{
    struct renew a = {0};
    int r = store_small_write(s, renew_fn, &a, true);
    vec_free(&a.names);
    return r;
}

struct snap_read {
    struct store *s;
    struct engine_txn *view;
    const char *name;
    uint64_t *gen;
    struct ghost_snapshot *list;
    int max;
    struct engine_cursor *cur; /* open only if damage cut the read short */
};

static int snap_find_fn(void *ctx)
{
    struct snap_read *a = ctx;
    struct engine_val k = {strlen(a->name), (void *)a->name}, v;
    int r = engine_get(a->s->eng, a->view, ENGINE_SNAP, &k, &v);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", a->name);
    return r ? r : snap_decode(a->s, &k, &v, a->gen, NULL);
}

/* A snapshot's identity (snap_origin): where it was first taken. */
struct snap_ident {
    struct snap_read rd;
    unsigned char *uuid;
    uint64_t *ogen, *created;
};

static int snap_ident_fn(void *ctx)
{
    struct snap_ident *a = ctx;
    struct engine_val k = {strlen(a->rd.name), (void *)a->rd.name}, v;
    int r = engine_get(a->rd.s->eng, a->rd.view, ENGINE_SNAP, &k, &v);
    if (r == -ENOENT)
        return ghost_set_error(-ENOENT, "no snapshot named '%s'", a->rd.name);
    r = r ? r : snap_decode(a->rd.s, &k, &v, a->rd.gen, a->created);
    if (r == 0 && !snap_origin(&v, a->uuid, a->ogen)) {
        memcpy(a->uuid, a->rd.s->uuid, 16); /* taken here: its own origin */
        *a->ogen = *a->rd.gen;
    }
    return r;
}

int store_snap_identity(struct store *s, struct engine_txn *view, const char *name, uint64_t *gen,
                        unsigned char uuid[16], uint64_t *ogen, uint64_t *created)
{
    int r = snap_name_ok(name, false);
    struct snap_ident a = {{.s = s, .view = view, .name = name, .gen = gen}, uuid, ogen, created};
    return r ? r : store_guarded(s, snap_ident_fn, &a, "reading a snapshot");
}

int store_snap_find(struct store *s, struct engine_txn *view, const char *name, uint64_t *gen)
{
    int r = snap_name_ok(name, false);
    struct snap_read a = {.s = s, .view = view, .name = name, .gen = gen};
    return r ? r : store_guarded(s, snap_find_fn, &a, "reading a snapshot");
}

/* Fill a->list from the snapshot table; returns the count. */
static int snap_list_fn(void *ctx)
{
    struct snap_read *a = ctx;
    struct engine_val k, v;
    int n = 0, r = engine_cursor_open(a->s->eng, a->view, ENGINE_SNAP, &a->cur);
    if (r) {
        a->cur = NULL;
        return r;
    }
    int rc = engine_cursor_seek(a->cur, ENGINE_FIRST, 0, &k, &v);
    while (rc == 0) {
        uint64_t gen, created;
        r = snap_decode(a->s, &k, &v, &gen, &created);
        if (r)
            break;
        if (n < a->max) {
            struct ghost_snapshot *sn = &a->list[n];
            size_t len = k.len > GHOST_SNAP_NAME_MAX ? GHOST_SNAP_NAME_MAX : k.len;
            memcpy(sn->name, k.data, len);
            sn->name[len] = 0;
            sn->generation = gen;
            sn->created_ns = created;
        }
        n++;
        rc = engine_cursor_next(a->cur, &k, &v);
    }
    engine_cursor_close(a->cur);
    a->cur = NULL;
    if (!r && rc != -ENOENT)
        r = rc; /* a list cut short by damage is an error, not a shorter list */
    return r ? r : n;
}

int store_snap_list(struct store *s, struct ghost_snapshot *list, int max)
{
    struct snap_read a = {.s = s, .list = list, .max = max};
    int r = engine_view_begin(s->eng, &a.view);
    if (r)
        return r;
    r = store_guarded(s, snap_list_fn, &a, "listing snapshots");
    if (a.cur)
        engine_cursor_close(a.cur);
    engine_view_end(s->eng, a.view);
    return r;
}
