/*
 * ctl_objects.c - /.ghostfs/objects: one object of the store decoded, by
 * name, inside a live mount:
 *
 *   /.ghostfs/objects/OID        what `ghostfs inspect STORE OID` prints
 *   /.ghostfs/objects/OID.json   what `ghostfs inspect STORE OID --json` prints
 *
 * Like ZFS's and procfs's lookup-only names, the directory lists nothing:
 * a name is looked up on demand, and a listing of the store would cost
 * what the store holds. A name is the decimal OID, with no sign, no
 * leading zero, not 0, at most GHOST_OID_MAX, optionally followed by
 * ".json"; any other name, or an OID the store holds nothing at, is
 * ENOENT. The file's number is computed from the OID (ctl.h), so the
 * kernel may forget it freely and nothing per name is kept.
 *
 * The content is made at open, in one fresh read view of the store
 * through this mount's own connection (inspect.c, the decoder `ghostfs
 * inspect` uses), after committing what this mount still buffers for that
 * inode (so that the document shows what the mount shows): it is fixed
 * for that open, as a procfs file's is, and changes from one open to the
 * next. Its size is unknown before it is made, so getattr says 0 and the
 * glue opens it with direct I/O: the kernel then reads until a read
 * returns nothing, without looking at the size.
 *
 * Memory: one document per open file, of at most ctl.doc_max bytes
 * (CTL_DOC_MAX). The decoder lists at most INSPECT_LIST_MAX names per list
 * and says how many it left out, so a directory of a million entries makes
 * a document of its first thousand; only a damaged store's list of
 * problems could pass the cap. A text document past it is cut there and
 * ends with a line saying so; a JSON one is replaced by a short valid
 * document saying so ("truncated": true), since a cut one would not parse.
 *
 * The files are read-only, mode 0400, owned by the root directory's owner:
 * a document names entries of directories its reader may not list.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "inspect.h"
#include "itable.h"
#include "wb_commit.h"

#define JSON_SUFFIX ".json"

struct fs_ctl_doc {
    char *data; /* owned */
    size_t len, cap;
    size_t max; /* the cap: bytes past it are dropped */
    bool cut;   /* some were */
    bool nomem; /* growing failed */
};

bool objs_is_file(uint64_t ino)
{
    return (ino & CTL_BIT) && (ino & ~CTL_BIT) >> CTL_SLOT_SHIFT == 0 && (ino & CTL_OBJ_BIT);
}

static uint64_t file_ino(uint64_t oid, bool json)
{
    assert(oid > 0 && oid <= CTL_OBJ_OID_MAX);
    return CTL_BIT | CTL_OBJ_BIT | oid << 1 | (json ? 1 : 0);
}

/* "OID" or "OID.json" into *oid and *json; -ENOENT for any other name. */
static int parse_name(const char *name, uint64_t *oid, bool *json)
{
    size_t len = strlen(name), sl = strlen(JSON_SUFFIX);
    *json = len > sl && !strcmp(name + len - sl, JSON_SUFFIX);
    if (*json)
        len -= sl;
    if (len == 0 || len > 19 || name[0] == '0') /* 19 digits hold GHOST_OID_MAX */
        return -ENOENT;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -ENOENT;
        v = v * 10 + (uint64_t)(name[i] - '0'); /* < 10^19 < 2^64: no wrap */
    }
    if (v > GHOST_OID_MAX)
        return -ENOENT;
    *oid = v;
    return 0;
}

/* An object's file: read-only, owned as the root is, of the root's times;
 * size 0 (the document is made at open). */
static int file_attr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    struct rec r;
    int e = rec_peek(fs, FS_ROOT_INO, &r);
    if (e)
        return e;
    rec_attr(fs, FS_ROOT_INO, &r, out);
    out->ino = ino;
    out->mode = S_IFREG | 0400;
    out->nlink = 1;
    out->size = 0;
    out->blocks = 0;
    out->rdev = 0;
    out->handle_gen = 0;
    return 0;
}

/* The OID of an object's file, if the store still holds an object there. */
static int file_oid(struct fs *fs, uint64_t ino, uint64_t *oid, bool *json)
{
    assert(objs_is_file(ino));
    *oid = (ino & ~(CTL_BIT | CTL_OBJ_BIT)) >> 1;
    *json = ino & 1;
    if (*oid == 0)
        return -ENOENT;
    int e = inspect_exists(fs, *oid);
    return e == -EINVAL ? -ENOENT : e;
}

int objs_lookup(struct fs *fs, const char *name, struct fs_attr *out)
{
    uint64_t oid;
    bool json;
    int e = parse_name(name, &oid, &json);
    e = e ? e : inspect_exists(fs, oid);
    if (e)
        return e == -EINVAL ? -ENOENT : e;
    if (oid > CTL_OBJ_OID_MAX) {
        ghost_log_warning("object %llu is past the %d bits the control tree's inode numbers "
                          "hold for objects/; `ghostfs inspect` shows it",
                          (unsigned long long)oid, CTL_SLOT_SHIFT - 2);
        return -EOVERFLOW;
    }
    return file_attr(fs, file_ino(oid, json), out);
}

int objs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
    uint64_t oid;
    bool json;
    int e = file_oid(fs, ino, &oid, &json);
    return e ? e : file_attr(fs, ino, out);
}

/* ---- the document ---------------------------------------------------------------- */

/* The FILE's writer: keep up to d->max bytes, drop (and note) the rest. */
static ssize_t doc_write(void *cookie, const char *buf, size_t size)
{
    struct fs_ctl_doc *d = cookie;
    size_t n = d->max - d->len < size ? d->max - d->len : size;
    if (n < size)
        d->cut = true;
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + n)
            cap *= 2;
        cap = cap > d->max ? d->max : cap;
        char *p = realloc(d->data, cap);
        if (!p) {
            d->nomem = true;
            return -1;
        }
        d->data = p;
        d->cap = cap;
    }
    memcpy(d->data + d->len, buf, n);
    d->len += n;
    return (ssize_t)size;
}

/* Replace d's content by s (a few bytes, past the cap if need be). */
static int doc_set(struct fs_ctl_doc *d, const char *s, size_t keep)
{
    size_t n = strlen(s);
    char *p = realloc(d->data, keep + n);
    if (!p)
        return -ENOMEM;
    memcpy(p + keep, s, n);
    d->data = p;
    d->len = d->cap = keep + n;
    return 0;
}

/* A document cut at the cap: say so, keeping it readable by its reader. */
static int doc_truncated(struct fs_ctl_doc *d, uint64_t oid, bool json)
{
    char s[320];
    if (json)
        snprintf(s, sizeof s,
                 "{\"format\":%d,\"oid\":%llu,\"truncated\":true,\"bytes_max\":%zu,"
                 "\"error\":\"the document is over %zu bytes; ghostfs inspect prints it whole\"}\n",
                 INSPECT_FORMAT, (unsigned long long)oid, d->max, d->max);
    else
        snprintf(s, sizeof s,
                 "\n[truncated: the document is over %zu bytes; ghostfs inspect prints it whole]\n",
                 d->max);
    return doc_set(d, s, json ? 0 : d->len);
}

/* What this mount still buffers for oid, committed (nothing to do if it
 * holds no inode of that number). */
static int commit_buffered(struct fs *fs, uint64_t oid)
{
    if (fs->readonly)
        return 0;
    pthread_mutex_lock(&fs->itab_lock);
    bool known = inode_find_locked(fs, oid) != NULL;
    pthread_mutex_unlock(&fs->itab_lock);
    return known ? wb_commit_ino(fs, oid) : 0;
}

static int make_doc(struct fs *fs, uint64_t oid, bool json, struct fs_ctl_doc *d)
{
    static const cookie_io_functions_t io = {.write = doc_write};
    int e = commit_buffered(fs, oid);
    if (e)
        return e;
    FILE *f = fopencookie(d, "w", io);
    if (!f)
        return -ENOMEM;
    e = inspect_object(fs, oid, json ? INSPECT_JSON : INSPECT_TEXT, f, NULL);
    if (fclose(f) && !e)
        e = d->nomem ? -ENOMEM : -EIO;
    if (!e && d->cut) {
        ghost_log_warning("the document of object %llu is over %zu bytes: cut",
                          (unsigned long long)oid, d->max);
        e = doc_truncated(d, oid, json);
    }
    return e;
}

int objs_open(struct fs *fs, uint64_t ino, int flags, struct fs_ctl_doc **doc)
{
    uint64_t oid;
    bool json;
    *doc = NULL;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        return -EROFS;
    int e = file_oid(fs, ino, &oid, &json);
    if (e)
        return e;
    struct fs_ctl_doc *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->max = fs->ctl->doc_max;
    e = make_doc(fs, oid, json, d);
    if (e) {
        objs_release(d);
        return e == -EINVAL ? -ENOENT : e;
    }
    *doc = d;
    return 0;
}

ssize_t objs_read(const struct fs_ctl_doc *doc, void *buf, size_t size, uint64_t off)
{
    if (off >= doc->len)
        return 0;
    size_t n = doc->len - off < size ? doc->len - (size_t)off : size;
    memcpy(buf, doc->data + off, n);
    return (ssize_t)n;
}

size_t objs_doc_len(const struct fs_ctl_doc *doc)
{
    return doc->len;
}

void objs_release(struct fs_ctl_doc *doc)
{
    if (!doc)
        return;
    free(doc->data);
    free(doc);
}
