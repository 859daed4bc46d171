/*
 * damage_check.c - check one damaged copy of the store against the tree that
 * was written (damage_tree), as a user of the mount would see it: open the
 * store the way the daemon does, then look up every name, compare its type,
 * mode and size, read a file's bytes (through fs_read_pieces, the read the
 * daemon replies with), a symlink's target, every xattr and the xattr list,
 * and list every directory.
 *
 * Each name gets the worst class of what happened to it:
 *   WRONG     a value that differs from what was written came back without
 *             an error (bytes, size, type, mode, target, an xattr, a name
 *             in the xattr list that was never set);
 *   MISSING   the name, or one of its xattrs, is gone with no error to say
 *             so: a lookup said ENOENT while the listing of its directory
 *             succeeded, the listing left it out, or an xattr said ENODATA;
 *   DETECTED  an error (not ENOENT) at some step for it, or its directory's
 *             listing failed, or the store refused to open;
 *   OK        everything matched.
 * A name under a directory that could not be found inherits how that
 * directory was lost. A listing that shows a name never written, without an
 * error, counts a phantom.
 *
 * This runs in a child process: no Check assertion here. What the library
 * logs goes to the child's stderr, which its parent points at a file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "damage.h"
#include "fs.h"

enum { LIST_NONE, LIST_OK, LIST_ERR };

struct walk {
    struct fs *fs;
    struct damage_outcome *out;
    struct damage_where *where;
    uint64_t ino[DAMAGE_MAX_NODES]; /* 0: not found */
    int cls[DAMAGE_MAX_NODES];      /* enum damage_class */
    int list[DAMAGE_MAX_NODES];     /* a directory's listing: LIST_* */
    bool listed[DAMAGE_MAX_NODES];  /* shown by its directory's listing */
    int detail_cls;                 /* the class out->detail tells of */
};

static void step(struct walk *w, const char *what, int i)
{
    snprintf(w->where->step, sizeof w->where->step, "%.30s %.150s", what, damage_tree[i].path);
}

/* Node i is (at least) in class c. The detail tells of the first silent
 * failure of the worst class met. */
static void mark(struct walk *w, int i, int c, const char *fmt, ...)
{
    if (c > w->cls[i])
        w->cls[i] = c;
    if (c < DC_MISSING || c <= w->detail_cls)
        return;
    w->detail_cls = c;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(w->out->detail, sizeof w->out->detail, "%s %.60s: %s",
             c == DC_WRONG ? "WRONG" : "MISSING", damage_tree[i].path, msg);
}

/* ---- directories ------------------------------------------------------------------ */

struct names {
    char **v;
    size_t n, cap;
};

static int collect_name(void *arg, const char *name, const struct fs_attr *a, uint64_t next_off)
{
    struct names *l = arg;
    (void)a, (void)next_off;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, l->cap * sizeof *v);
        if (!v)
            abort();
        l->v = v;
    }
    l->v[l->n++] = strdup(name);
    return 0;
}

static int child_named(int dir, const char *name)
{
    for (int j = dir + 1; j < damage_nodes; j++)
        if (damage_tree[j].parent == dir && !strcmp(damage_tree[j].name, name))
            return j;
    return -1;
}

/* A listing that succeeded: mark what it shows, count what it should not. */
static void take_listing(struct walk *w, int i, const struct names *l)
{
    for (size_t k = 0; k < l->n; k++) {
        if (!strcmp(l->v[k], ".") || !strcmp(l->v[k], ".."))
            continue;
        int j = child_named(i, l->v[k]);
        if (j >= 0 && !w->listed[j]) {
            w->listed[j] = true;
            continue;
        }
        w->out->phantoms++;
        if (w->detail_cls < DC_MISSING) { /* told like a missing name */
            w->detail_cls = DC_MISSING;
            snprintf(w->out->detail, sizeof w->out->detail, "PHANTOM %.60s lists '%.60s'%s",
                     damage_tree[i].path, l->v[k], j >= 0 ? " twice" : "");
        }
    }
}

static void check_dir(struct walk *w, int i)
{
    struct names l = {0};
    step(w, "readdir", i);
    int e = fs_opendir(w->fs, w->ino[i]);
    if (!e)
        e = fs_readdir(w->fs, w->ino[i], 0, false, collect_name, &l);
    if (e) {
        w->list[i] = LIST_ERR;
        mark(w, i, DC_DETECTED, "readdir: %d", e);
    } else {
        w->list[i] = LIST_OK;
        take_listing(w, i, &l);
    }
    for (size_t k = 0; k < l.n; k++)
        free(l.v[k]);
    free(l.v);
}

/* ---- files, symlinks, xattrs ---------------------------------------------------------- */

struct gather {
    unsigned char *buf;
    size_t cap, len;
};

static void gather_pieces(void *arg, const struct iovec *iov, int n)
{
    struct gather *g = arg;
    for (int k = 0; k < n; k++) {
        size_t take = iov[k].iov_len < g->cap - g->len ? iov[k].iov_len : g->cap - g->len;
        if (take)
            memcpy(g->buf + g->len, iov[k].iov_base, take);
        g->len += take;
    }
}

/* Compare what was read (len bytes of got) with what was written. */
static void compare_bytes(struct walk *w, int i, const unsigned char *got, size_t len,
                          const char *what)
{
    const struct damage_node *n = &damage_tree[i];
    size_t same = 0;
    while (same < len && same < n->size && got[same] == n->data[same])
        same++;
    if (same < len && same < n->size)
        mark(w, i, DC_WRONG, "%s: byte %zu is 0x%02x, written 0x%02x", what, same, got[same],
             n->data[same]);
    else if (len != n->size)
        mark(w, i, DC_WRONG, "%s: %zu bytes, written %zu", what, len, n->size);
}

/* Read the file to one byte past its written size, in 128 KiB pieces. */
static void check_file(struct walk *w, int i)
{
    const struct damage_node *n = &damage_tree[i];
    const size_t chunk = 128 << 10;
    bool keep;
    step(w, "open", i);
    int e = fs_open_file(w->fs, w->ino[i], O_RDONLY, &keep);
    if (e) {
        mark(w, i, DC_DETECTED, "open: %d", e);
        return;
    }
    struct gather g = {malloc(n->size + 1 + chunk), n->size + 1 + chunk, 0};
    if (!g.buf)
        abort();
    step(w, "read", i);
    ssize_t r = 1;
    while (r > 0 && g.len < n->size + 1)
        r = fs_read_pieces(w->fs, w->ino[i], chunk, g.len, gather_pieces, &g);
    if (r < 0)
        mark(w, i, DC_DETECTED, "read at %zu: %zd", g.len, r);
    else
        compare_bytes(w, i, g.buf, g.len, "read");
    free(g.buf);
    step(w, "release", i);
    e = fs_release(w->fs, w->ino[i]);
    if (e)
        mark(w, i, DC_DETECTED, "release: %d", e);
}

static void check_symlink(struct walk *w, int i)
{
    char buf[4096];
    step(w, "readlink", i);
    int e = fs_readlink(w->fs, w->ino[i], buf, sizeof buf);
    if (e)
        mark(w, i, DC_DETECTED, "readlink: %d", e);
    else
        compare_bytes(w, i, (const unsigned char *)buf, strlen(buf), "readlink");
}

static bool xattr_written(int i, const char *name)
{
    for (int k = 0; k < damage_tree[i].nx; k++)
        if (!strcmp(damage_tree[i].x[k].name, name))
            return true;
    return false;
}

static void check_xattrs(struct walk *w, int i)
{
    static unsigned char buf[FS_XATTR_SIZE_MAX + 1];
    const struct damage_node *n = &damage_tree[i];
    step(w, "getxattr", i);
    for (int k = 0; k < n->nx; k++) {
        ssize_t r = fs_getxattr(w->fs, w->ino[i], n->x[k].name, buf, sizeof buf);
        if (r == -ENODATA)
            mark(w, i, DC_MISSING, "xattr %s: ENODATA", n->x[k].name);
        else if (r < 0)
            mark(w, i, DC_DETECTED, "getxattr %s: %zd", n->x[k].name, r);
        else if ((size_t)r != n->x[k].len || memcmp(buf, n->x[k].val, (size_t)r))
            mark(w, i, DC_WRONG, "xattr %s differs (%zd bytes)", n->x[k].name, r);
    }
    step(w, "listxattr", i);
    ssize_t r = fs_listxattr(w->fs, w->ino[i], (char *)buf, sizeof buf);
    if (r < 0) {
        mark(w, i, DC_DETECTED, "listxattr: %zd", r);
        return;
    }
    int seen = 0;
    for (ssize_t at = 0; at < r; at += (ssize_t)strlen((char *)buf + at) + 1) {
        if (!strncmp((char *)buf + at, "system.ghostfs.", 15))
            continue; /* computed, not stored: every inode has them */
        if (xattr_written(i, (char *)buf + at))
            seen++;
        else
            mark(w, i, DC_WRONG, "listxattr shows '%.40s'", (char *)buf + at);
    }
    if (seen < n->nx)
        mark(w, i, DC_MISSING, "listxattr shows %d of %d", seen, n->nx);
}

/* ---- one name ------------------------------------------------------------------------- */

/* Find node i: its attributes, or how it is lost. Returns whether found. */
static bool find(struct walk *w, int i, struct fs_attr *a)
{
    const struct damage_node *n = &damage_tree[i];
    int p = n->parent, e;
    if (p < 0) {
        step(w, "getattr", i);
        e = fs_getattr(w->fs, FS_ROOT_INO, a);
    } else if (!w->ino[p]) { /* lost with its directory, and as that was */
        w->cls[i] = w->cls[p] == DC_DETECTED ? DC_DETECTED : DC_MISSING;
        return false;
    } else {
        step(w, "lookup", i);
        e = fs_lookup(w->fs, w->ino[p], n->name, a);
        if (!e)
            fs_forget(w->fs, a->ino, 1);
    }
    if (e == -ENOENT && p >= 0 && w->list[p] != LIST_ERR)
        mark(w, i, DC_MISSING, "lookup: ENOENT, and its directory lists %s",
             w->listed[i] ? "it" : "no such name");
    else if (e)
        mark(w, i, DC_DETECTED, "lookup: %d", e);
    else if (p >= 0 && w->list[p] == LIST_OK && !w->listed[i])
        mark(w, i, DC_MISSING, "found, but its directory's listing leaves it out");
    return !e;
}

static void check_node(struct walk *w, int i)
{
    const struct damage_node *n = &damage_tree[i];
    struct fs_attr a;
    if (!find(w, i, &a))
        return;
    w->ino[i] = a.ino;
    if (a.mode != n->mode) {
        mark(w, i, DC_WRONG, "mode 0%o, written 0%o", a.mode, n->mode);
        if ((a.mode & S_IFMT) != (n->mode & S_IFMT))
            return; /* its content cannot be compared */
    }
    if (!S_ISDIR(n->mode) && a.size != n->size)
        mark(w, i, DC_WRONG, "size %llu, written %zu", (unsigned long long)a.size, n->size);
    check_xattrs(w, i);
    if (S_ISDIR(n->mode))
        check_dir(w, i);
    else if (S_ISLNK(n->mode))
        check_symlink(w, i);
    else
        check_file(w, i);
}

/* ---- one copy ------------------------------------------------------------------------- */

static int open_copy(const char *store, bool readonly, struct fs **out)
{
    struct fs_options o;
    fs_options_init(&o);
    o.store.readonly = readonly;
    return fs_open(store, &o, out);
}

struct fs *damage_check(const char *store, struct damage_outcome *out, struct damage_where *where)
{
    static struct walk w;
    memset(&w, 0, sizeof w);
    memset(out, 0, sizeof *out);
    w.out = out;
    w.where = where;
    snprintf(where->step, sizeof where->step, "open read-write");
    out->opened = DO_READ_WRITE;
    char refusal[1024] = "";
    if (open_copy(store, false, &w.fs)) {
        snprintf(refusal, sizeof refusal, "%s", ghost_errmsg());
        snprintf(where->step, sizeof where->step, "open read-only");
        out->opened = DO_READ_ONLY;
        if (open_copy(store, true, &w.fs)) {
            out->opened = DO_REFUSED;
            out->files[DC_DETECTED] = (uint32_t)damage_nodes;
            return NULL;
        }
    }
    /* Refused for writing because it fell back to an older generation,
     * and opened read-only for recovery: the user was told at open that
     * what follows is the older state. Every name is still read (the
     * recovery must not crash), but an older byte is not a silent one. */
    bool told = out->opened == DO_READ_ONLY && strstr(refusal, "rolled back");
    for (int i = 0; i < damage_nodes; i++)
        check_node(&w, i);
    for (int i = 0; i < damage_nodes; i++) {
        if (told && (w.cls[i] == DC_WRONG || w.cls[i] == DC_MISSING))
            w.cls[i] = DC_DETECTED;
        out->files[w.cls[i]]++;
    }
    return w.fs;
}
