/*
 * inspect.c - one object of a store decoded (inspect.h): its kind, the
 * generation that last wrote it, whether its checksums and tallies hold,
 * its attributes, and what it links to and from, as text for a person or
 * as a JSON document (format INSPECT_FORMAT; docs/inspect.md describes
 * every member).
 *
 * Everything is read in one read view of the store as it is now
 * (ghost_txn_begin_view), not through the cache: the record's checksum is
 * verified by this read, not by one made earlier, and what the output says
 * of an object's maps is of the same state as its record. A damaged record
 * or key does not stop the decoding: it becomes a problem in the output
 * ("checksum": "damaged", with the library's message) and the rest is read
 * (a read that met damage begins a fresh view, as the library does).
 *
 * The cost is bounded whatever the object's size: lists stop at
 * INSPECT_LIST_MAX names (totals come from the maps' tallies), and a map
 * is compared with its tally (which reads and verifies every key and
 * value) only up to a number of keys and of bytes: INSPECT_CHECK_KEYS and
 * INSPECT_CHECK_BYTES for inspect_object, far less for inspect_checksum,
 * which every getxattr of system.ghostfs.checksum - and so every `cp -a`
 * out of a mount - pays. What is left unchecked is said. The bytes
 * are decoded by their owners (inode_rec.c, dirent.c, super.c); a name is
 * written escaped (cli_escape.c), so that any byte stays on its line and
 * the JSON stays JSON.
 *
 * No locks: the view is this call's own; nothing of the fs's runtime state
 * is read but its store and block size.
 */
#include "inspect.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "cli_escape.h"
#include "dirent.h"
#include "fsint.h"
#include "path.h"
#include "super.h"
#include "vec.h"

/* One name of a list: a directory entry, a link (back reference), an
 * attribute, or an orphan (no name). */
struct named {
    uint64_t oid;  /* entry: the child; link: the directory; orphan: the inode */
    uint64_t size; /* attribute: its value's bytes */
    uint32_t mode; /* entry: its type bits */
    char *name;    /* owned; NULL for an orphan */
    size_t len;
};

struct names {
    VEC(struct named) v; /* the first INSPECT_LIST_MAX */
    uint64_t total;      /* how many there are */
};

struct insp {
    struct fs *fs;
    uint64_t oid;
    uint64_t check_keys, check_bytes; /* the largest map compared with its tally */
    uint64_t store_gen;               /* of the view */
    uint64_t gen;                     /* that wrote the object (0: unknown) */
    bool have_obj;                    /* the object was read */
    bool have_rec;                    /* ...and decoded as an inode */
    uint8_t type;                     /* the object's type */
    const char *kind;
    struct rec rec;
    char *target; /* a symlink's (owned) */
    size_t target_len;
    struct super sb;
    bool have_sb;
    uint64_t blocks; /* a file's FS_MAP_DATA keys */
    char *path;      /* one path from the root (owned), or NULL */
    struct names entries, links, xattrs, orphans;
    VEC(char *) problems;  /* what is damaged (owned) */
    VEC(char *) unchecked; /* maps too large to compare with their tallies (owned) */
};

static void note(struct insp *in, bool problem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct insp *in, bool problem, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s && (problem ? vec_push(&in->problems, s) : vec_push(&in->unchecked, s)))
        free(s);
}

/* A read failed: damage becomes a problem (0: go on), anything else is
 * returned. */
static int damaged(struct insp *in, const char *what, int e)
{
    if (e != -GHOST_ECORRUPT)
        return e;
    const char *m = ghost_errmsg();
    note(in, true, "%s: %s", what, m && *m ? m : ghost_strerror(e));
    return 0;
}

static const char *kind_of(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "file";
    case S_IFDIR:
        return "directory";
    case S_IFLNK:
        return "symlink";
    case S_IFCHR:
        return "char-device";
    case S_IFBLK:
        return "block-device";
    case S_IFIFO:
        return "fifo";
    case S_IFSOCK:
        return "socket";
    }
    return "unknown";
}

static void list_free(struct names *l)
{
    for (size_t i = 0; i < l->v.n; i++)
        free(l->v.v[i].name);
    vec_free(&l->v);
}

static int list_add(struct names *l, uint64_t oid, uint64_t size, uint32_t mode, const void *name,
                    size_t len)
{
    struct named n = {oid, size, mode, NULL, len};
    if (name) {
        n.name = malloc(len + 1);
        if (!n.name)
            return -ENOMEM;
        memcpy(n.name, name, len);
        n.name[len] = 0;
    }
    if (vec_push(&l->v, n)) {
        free(n.name);
        return -ENOMEM;
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

struct scan {
    struct insp *in;
    struct names *l;
    int map;
    bool count_all; /* no tally: count the keys, up to the caps */
    bool sum_bytes; /* add up the values' bytes, up to the caps (to know the check's cost) */
    bool capped;    /* stopped at check_keys or check_bytes */
    uint64_t seen, bytes;
};

static int visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct scan *s = arg;
    struct names *l = s->l;
    s->seen++;
    s->bytes += vlen;
    bool listed = l->v.n < INSPECT_LIST_MAX;
    if (!listed && !s->count_all && !s->sum_bytes)
        return 1;
    /* Counting and adding up cost a read of each key and value: no more
     * than a check would be allowed to. */
    if ((s->count_all || s->sum_bytes) &&
        (s->seen > s->in->check_keys || s->bytes > s->in->check_bytes)) {
        s->capped = true;
        return 1;
    }
    if (!listed)
        return 0;
    char name[FS_NAME_MAX + 1];
    uint64_t oid, off;
    uint32_t mode;
    switch (s->map) {
    case FS_MAP_DIRENT:
        if (dirent_decode(key, klen, val, vlen, name, &off, &oid, &mode)) {
            note(s->in, true, "entries: a key of %zu bytes is not an entry's", klen);
            return 0;
        }
        return list_add(l, oid, 0, mode, name, klen - 8);
    case FS_MAP_BACKREF:
        if (backref_decode(key, klen, &oid, name)) {
            note(s->in, true, "links: a key of %zu bytes is not a back reference's", klen);
            return 0;
        }
        return list_add(l, oid, 0, 0, name, klen - 8);
    case FS_MAP_XATTR: /* the key is the name (xattr.c) */
        return list_add(l, 0, vlen, 0, key, klen);
    case FS_MAP_ORPHAN: /* the key is the inode, 8 bytes (orphan.c) */
        return klen == 8 ? list_add(l, get_be64(key), 0, 0, NULL, 0) : 0;
    }
    return 0;
}

static const char *map_word(int map)
{
    switch (map) {
    case FS_MAP_DIRENT:
        return "entries";
    case FS_MAP_BACKREF:
        return "links";
    case FS_MAP_DATA:
        return "blocks";
    case FS_MAP_XATTR:
        return "attributes";
    case FS_MAP_ORPHAN:
        return "orphans";
    }
    return "map";
}

/* A map's tally into *count: 0 (damage noted), -ENODATA if the map keeps
 * none, or another error. */
static int map_tally(struct insp *in, struct ghost_txn *t, uint64_t owner, int map, uint64_t *count)
{
    struct ghost_tally tl;
    int e = ghost_map_tally(t, owner, (uint8_t)map, &tl);
    *count = e ? 0 : tl.count;
    if (e == -ENODATA)
        return e;
    return e ? damaged(in, map_word(map), e) : 0;
}

/* Compare a map of count keys and bytes bytes of values (UINT64_MAX: not
 * known, more than the cap) with its tally, if that costs no more than the
 * caps; else say it was left unchecked. */
static int map_check(struct insp *in, struct ghost_txn *t, uint64_t owner, int map, uint64_t count,
                     uint64_t bytes)
{
    if (count > in->check_keys || bytes > in->check_bytes) {
        if (bytes == UINT64_MAX)
            note(in, false, "%s: %llu keys, over %llu bytes: not read to compare with their tally",
                 map_word(map), (unsigned long long)count, (unsigned long long)in->check_bytes);
        else
            note(in, false, "%s: %llu keys, %llu bytes: not read to compare with their tally",
                 map_word(map), (unsigned long long)count, (unsigned long long)bytes);
        return 0;
    }
    int e = ghost_map_check(t, owner, (uint8_t)map, NULL);
    return e ? damaged(in, map_word(map), e) : 0;
}

/* A map's tally, and the map compared with it when it is small enough
 * (bytes: what its values hold). *count is the tally's count; -ENODATA if
 * the map keeps none. */
static int tally_and_check(struct insp *in, struct ghost_txn *t, uint64_t owner, int map,
                           uint64_t bytes, uint64_t *count)
{
    size_t problems = in->problems.n;
    int e = map_tally(in, t, owner, map, count);
    if (e || in->problems.n != problems) /* (a damaged tally is noted: nothing to compare) */
        return e;
    return map_check(in, t, owner, map, *count, bytes);
}

/* The first INSPECT_LIST_MAX keys of a map into l, its total, its check.
 * What a map's values hold is known only by reading them: an attribute
 * map's are added up while it is listed (up to the caps), as the check's
 * cost is its bytes. A map with no tally is counted, up to the caps too. */
static int read_list(struct insp *in, struct ghost_txn *t, uint64_t owner, int map, struct names *l)
{
    size_t problems = in->problems.n;
    int e = map_tally(in, t, owner, map, &l->total);
    if (e && e != -ENODATA)
        return e;
    bool tallied = e == 0 && in->problems.n == problems;
    struct scan s = {.in = in, .l = l, .map = map, .count_all = e == -ENODATA};
    s.sum_bytes = tallied && map == FS_MAP_XATTR && l->total <= in->check_keys;
    e = ghost_map_scan(t, owner, (uint8_t)map, NULL, 0, visit, &s);
    if (e < 0 && (e = damaged(in, map_word(map), e)) != 0)
        return e;
    if (s.count_all) {
        l->total = s.seen - s.capped;
        if (s.capped)
            note(
                in, false,
                "%s: no tally; counted up to %llu keys and no further (the total is at least that)",
                map_word(map), (unsigned long long)l->total);
        return 0;
    }
    if (l->total < l->v.n) /* the tally counts fewer than are there */
        l->total = l->v.n;
    if (!tallied)
        return 0;
    uint64_t bytes = map != FS_MAP_XATTR ? 0 : s.sum_bytes && !s.capped ? s.bytes : UINT64_MAX;
    return map_check(in, t, owner, map, l->total, bytes);
}

struct key_count {
    uint64_t n, max; /* stop past max */
};

static int count_keys(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct key_count *c = arg;
    (void)key, (void)klen, (void)val, (void)vlen;
    return ++c->n > c->max;
}

static int read_inode(struct insp *in, struct ghost_txn *t)
{
    struct rec *r = &in->rec;
    int e = rec_get(t, in->oid, r);
    if (e == -EIO) { /* inode_rec.c: a record shorter than its header */
        note(in, true, "record: an inode record too short to decode");
        return 0;
    }
    if (e)
        return damaged(in, "record", e);
    in->have_rec = true;
    in->kind = kind_of(r->mode);
    if (S_ISLNK(r->mode) || (r->flags & INODE_INLINE)) {
        in->target_len = r->inl_len;
        in->target = malloc(r->inl_len + 1);
        if (!in->target)
            return -ENOMEM;
        memcpy(in->target, r->inl, r->inl_len);
        in->target[r->inl_len] = 0;
    }
    r->inl = NULL; /* borrowed from the view: not kept */
    if (S_ISDIR(r->mode) && (e = read_list(in, t, in->oid, FS_MAP_DIRENT, &in->entries)))
        return e;
    if (S_ISREG(r->mode)) {
        e = tally_and_check(in, t, in->oid, FS_MAP_DATA, r->stored, &in->blocks);
        if (e == -ENODATA) { /* counted, up to the cap */
            struct key_count c = {0, in->check_keys};
            e = ghost_map_scan(t, in->oid, FS_MAP_DATA, NULL, 0, count_keys, &c);
            e = e < 0 ? damaged(in, "blocks", e) : 0;
            in->blocks = c.n > c.max ? c.max : c.n;
            if (c.n > c.max)
                note(
                    in, false,
                    "blocks: no tally; counted up to %llu keys and no further (the total is at least that)",
                    (unsigned long long)c.max);
        }
        if (e)
            return e;
    }
    e = read_list(in, t, in->oid, FS_MAP_XATTR, &in->xattrs);
    e = e ? e : read_list(in, t, in->oid, FS_MAP_BACKREF, &in->links);
    if (e)
        return e;
    /* A path that cannot be found (damage the lists above report) is none. */
    e = path_of(t, in->oid, &in->path, NULL);
    return e == -ENOMEM ? e : 0;
}

static int read_super(struct insp *in, struct ghost_txn *t)
{
    int e = super_get(t, &in->sb);
    if (e == -EMEDIUMTYPE) {
        note(in, true, "record: a superblock too short to decode");
        return 0;
    }
    in->have_sb = e == 0 || e == -EPROTONOSUPPORT;
    return e == -EPROTONOSUPPORT ? 0 : damaged(in, "record", e);
}

static int read_all(struct insp *in, struct ghost_txn *t)
{
    in->store_gen = ghost_txn_generation(t);
    int e = ghost_obj_generation(t, in->oid, &in->gen);
    if (e == -ENOENT && in->oid == FS_ORPHAN_OID) { /* a map with no object */
        in->kind = "orphan-list";
        return read_list(in, t, in->oid, FS_MAP_ORPHAN, &in->orphans);
    }
    if (e == -ENOENT || e == -EINVAL)
        return e;
    in->kind = "unknown";
    if (e)
        return damaged(in, "record", e);
    e = ghost_obj_get(t, in->oid, &in->type, NULL, NULL);
    if (e)
        return damaged(in, "record", e);
    in->have_obj = true;
    if (in->type == FS_OBJ_INODE)
        return read_inode(in, t);
    if (in->type == FS_OBJ_SUPER && in->oid == FS_SUPER_OID) {
        in->kind = "superblock";
        return read_super(in, t);
    }
    return 0;
}

static void insp_free(struct insp *in)
{
    free(in->target);
    free(in->path);
    list_free(&in->entries);
    list_free(&in->links);
    list_free(&in->xattrs);
    list_free(&in->orphans);
    for (size_t i = 0; i < in->problems.n; i++)
        free(in->problems.v[i]);
    for (size_t i = 0; i < in->unchecked.n; i++)
        free(in->unchecked.v[i]);
    vec_free(&in->problems);
    vec_free(&in->unchecked);
}

/* Read object oid into in (zeroed here), comparing maps of at most
 * check_keys keys and check_bytes bytes with their tallies: 0, or what
 * read_all returns. */
static int insp_read(struct fs *fs, uint64_t oid, uint64_t check_keys, uint64_t check_bytes,
                     struct insp *in)
{
    memset(in, 0, sizeof *in);
    in->fs = fs;
    in->oid = oid;
    in->check_keys = check_keys;
    in->check_bytes = check_bytes;
    if (oid == 0 || oid > GHOST_OID_MAX)
        return -EINVAL;
    struct ghost_txn *t;
    int e = ghost_txn_begin_view(fs_store(fs), &t);
    if (e)
        return (int)fs_errno(e);
    e = read_all(in, t);
    ghost_txn_abort(t);
    if (e)
        insp_free(in);
    return (int)fs_errno(e);
}

/* ---- text ---------------------------------------------------------------------- */

static void mode_string(uint32_t mode, char s[11])
{
    static const char types[] = "?pc?d?b?-?l?s???";
    static const char rwx[] = "rwxrwxrwx";
    s[0] = types[(mode >> 12) & 15];
    for (int i = 0; i < 9; i++)
        s[1 + i] = mode & (1u << (8 - i)) ? rwx[i] : '-';
    if (mode & S_ISUID)
        s[3] = s[3] == 'x' ? 's' : 'S';
    if (mode & S_ISGID)
        s[6] = s[6] == 'x' ? 's' : 'S';
    if (mode & S_ISVTX)
        s[9] = s[9] == 'x' ? 't' : 'T';
    s[10] = 0;
}

static void text_time(FILE *f, const char *label, int64_t ns)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    time_t tt = (time_t)sec;
    struct tm tm;
    char buf[64] = "?";
    if (gmtime_r(&tt, &tm))
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "%-12s %s.%09lld UTC\n", label, buf, (long long)frac);
}

static void text_more(FILE *f, const struct names *l)
{
    if (l->total > l->v.n)
        fprintf(f, "  ... and %llu more\n", (unsigned long long)(l->total - l->v.n));
}

static void text_lists(FILE *f, const struct insp *in)
{
    if (in->entries.total || (in->have_rec && S_ISDIR(in->rec.mode))) {
        fprintf(f, "%-12s %llu\n", "entries", (unsigned long long)in->entries.total);
        for (size_t i = 0; i < in->entries.v.n; i++) {
            const struct named *n = &in->entries.v.v[i];
            fputs("  ", f);
            escape_text(f, n->name, n->len);
            fprintf(f, " -> %llu (%s)\n", (unsigned long long)n->oid, kind_of(n->mode));
        }
        text_more(f, &in->entries);
    }
    if (in->have_rec) {
        fprintf(f, "%-12s %llu\n", "links", (unsigned long long)in->links.total);
        for (size_t i = 0; i < in->links.v.n; i++) {
            const struct named *n = &in->links.v.v[i];
            fprintf(f, "  in %llu as ", (unsigned long long)n->oid);
            escape_text(f, n->name, n->len);
            fputc('\n', f);
        }
        text_more(f, &in->links);
        fprintf(f, "%-12s %llu\n", "xattrs", (unsigned long long)in->xattrs.total);
        for (size_t i = 0; i < in->xattrs.v.n; i++) {
            const struct named *n = &in->xattrs.v.v[i];
            fputs("  ", f);
            escape_text(f, n->name, n->len);
            fprintf(f, " (%llu bytes)\n", (unsigned long long)n->size);
        }
        text_more(f, &in->xattrs);
    }
    if (!strcmp(in->kind, "orphan-list")) {
        fprintf(f, "%-12s %llu\n", "orphans", (unsigned long long)in->orphans.total);
        for (size_t i = 0; i < in->orphans.v.n; i++)
            fprintf(f, "  %llu\n", (unsigned long long)in->orphans.v.v[i].oid);
        text_more(f, &in->orphans);
    }
}

static void text_inode(FILE *f, const struct insp *in)
{
    const struct rec *r = &in->rec;
    char ms[11];
    mode_string(r->mode, ms);
    fprintf(f, "%-12s 0%o (%s)\n", "mode", r->mode, ms);
    fprintf(f, "%-12s %u\n%-12s %u\n%-12s %u\n%-12s %llu\n", "uid", r->uid, "gid", r->gid, "nlink",
            r->nlink, "size", (unsigned long long)r->size);
    if (S_ISCHR(r->mode) || S_ISBLK(r->mode))
        fprintf(f, "%-12s %u:%u\n", "rdev", major(r->rdev), minor(r->rdev));
    text_time(f, "atime", r->atime);
    text_time(f, "mtime", r->mtime);
    text_time(f, "ctime", r->ctime);
    text_time(f, "btime", r->btime);
    if (S_ISDIR(r->mode))
        fprintf(f, "%-12s %llu\n", "parent", (unsigned long long)r->parent);
    if (S_ISREG(r->mode)) {
        bool inl = r->flags & INODE_INLINE;
        fprintf(f, "%-12s %llu blocks of %u bytes, %llu bytes stored%s\n", "data",
                (unsigned long long)in->blocks, fs_block_size(in->fs),
                (unsigned long long)(inl ? in->target_len : r->stored),
                inl ? " (inline, in the record)" : "");
        fprintf(f, "%-12s %llu\n", "data version", (unsigned long long)r->dv);
    }
    if (S_ISLNK(r->mode) && in->target) {
        fprintf(f, "%-12s ", "target");
        escape_text(f, in->target, in->target_len);
        fputc('\n', f);
    }
}

static void write_text(FILE *f, const struct insp *in)
{
    fprintf(f, "%-12s %llu\n%-12s %s", "oid", (unsigned long long)in->oid, "kind", in->kind);
    if (in->have_obj && !in->have_rec && !in->have_sb)
        fprintf(f, " (object type %u)", in->type);
    fputc('\n', f);
    if (in->gen)
        fprintf(f, "%-12s %llu (the store is at %llu)\n", "generation", (unsigned long long)in->gen,
                (unsigned long long)in->store_gen);
    fprintf(f, "%-12s %s\n", "checksum", in->problems.n ? "damaged" : "ok");
    for (size_t i = 0; i < in->problems.n; i++)
        fprintf(f, "  %s\n", in->problems.v[i]);
    for (size_t i = 0; i < in->unchecked.n; i++)
        fprintf(f, "  not checked: %s\n", in->unchecked.v[i]);
    if (in->have_rec) {
        fprintf(f, "%-12s ", "path");
        if (in->path)
            escape_text(f, in->path, strlen(in->path));
        else
            fputs("(none found from the root)", f);
        fputc('\n', f);
        text_inode(f, in);
    }
    if (in->have_sb)
        fprintf(f, "%-12s %u\n%-12s %u\n%-12s %u\n", "version", in->sb.version, "block size",
                in->sb.block_size, "inline max", in->sb.inline_max);
    text_lists(f, in);
}

/* ---- JSON ---------------------------------------------------------------------- */

/* "key":"string" (and "key_hex" with the exact bytes when they are not
 * valid UTF-8), after a comma. */
static void json_name(FILE *f, const char *key, const char *s, size_t len)
{
    fprintf(f, ",\"%s\":", key);
    if (escape_json(f, s, len))
        return;
    fprintf(f, ",\"%s_hex\":\"", key);
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", (unsigned char)s[i]);
    fputc('"', f);
}

static void json_strings(FILE *f, const char *key, char *const *v, size_t n)
{
    fprintf(f, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        escape_json(f, v[i], strlen(v[i]));
    }
    fputc(']', f);
}

static void json_list(FILE *f, const char *key, const struct names *l, int map)
{
    fprintf(f, ",\"%s\":{\"total\":%llu,\"omitted\":%llu,\"listed\":[", key,
            (unsigned long long)l->total, (unsigned long long)(l->total - l->v.n));
    for (size_t i = 0; i < l->v.n; i++) {
        const struct named *n = &l->v.v[i];
        fputs(i ? "," : "", f);
        if (map == FS_MAP_ORPHAN) {
            fprintf(f, "%llu", (unsigned long long)n->oid);
            continue;
        }
        if (map == FS_MAP_DIRENT)
            fprintf(f, "{\"oid\":%llu,\"kind\":\"%s\"", (unsigned long long)n->oid,
                    kind_of(n->mode));
        else if (map == FS_MAP_BACKREF)
            fprintf(f, "{\"parent\":%llu", (unsigned long long)n->oid);
        else
            fprintf(f, "{\"size\":%llu", (unsigned long long)n->size);
        json_name(f, "name", n->name, n->len);
        fputc('}', f);
    }
    fputs("]}", f);
}

static void json_inode(FILE *f, const struct insp *in)
{
    const struct rec *r = &in->rec;
    fputs(",\"path\":", f);
    if (in->path)
        escape_json(f, in->path, strlen(in->path));
    else
        fputs("null", f);
    fprintf(f,
            ",\"attributes\":{\"mode\":%u,\"mode_octal\":\"%o\",\"uid\":%u,\"gid\":%u,"
            "\"nlink\":%u,\"size\":%llu,\"rdev\":%llu,\"atime_ns\":%lld,\"mtime_ns\":%lld,"
            "\"ctime_ns\":%lld,\"btime_ns\":%lld,\"data_version\":%llu,\"flags\":%u}",
            r->mode, r->mode, r->uid, r->gid, r->nlink, (unsigned long long)r->size,
            (unsigned long long)r->rdev, (long long)r->atime, (long long)r->mtime,
            (long long)r->ctime, (long long)r->btime, (unsigned long long)r->dv, r->flags);
    if (S_ISDIR(r->mode)) {
        fprintf(f, ",\"parent\":%llu", (unsigned long long)r->parent);
        json_list(f, "entries", &in->entries, FS_MAP_DIRENT);
    }
    if (S_ISREG(r->mode)) {
        bool inl = r->flags & INODE_INLINE;
        fprintf(f,
                ",\"data\":{\"inline\":%s,\"blocks\":%llu,\"block_size\":%u,\"bytes_stored\":%llu}",
                inl ? "true" : "false", (unsigned long long)in->blocks, fs_block_size(in->fs),
                (unsigned long long)(inl ? in->target_len : r->stored));
    }
    if (S_ISLNK(r->mode) && in->target)
        json_name(f, "target", in->target, in->target_len);
    json_list(f, "links", &in->links, FS_MAP_BACKREF);
    json_list(f, "xattrs", &in->xattrs, FS_MAP_XATTR);
}

static void write_json(FILE *f, const struct insp *in)
{
    fprintf(f, "{\"format\":%d,\"oid\":%llu,\"kind\":\"%s\",\"object_type\":", INSPECT_FORMAT,
            (unsigned long long)in->oid, in->kind);
    if (in->have_obj)
        fprintf(f, "%u", in->type);
    else
        fputs("null", f);
    fprintf(f, ",\"store_generation\":%llu,\"generation\":", (unsigned long long)in->store_gen);
    if (in->gen)
        fprintf(f, "%llu", (unsigned long long)in->gen);
    else
        fputs("null", f);
    fprintf(f, ",\"checksum\":{\"state\":\"%s\"", in->problems.n ? "damaged" : "ok");
    json_strings(f, "problems", in->problems.v, in->problems.n);
    json_strings(f, "unchecked", in->unchecked.v, in->unchecked.n);
    fputc('}', f);
    if (in->have_rec)
        json_inode(f, in);
    if (in->have_sb)
        fprintf(f, ",\"superblock\":{\"version\":%u,\"block_size\":%u,\"inline_max\":%u}",
                in->sb.version, in->sb.block_size, in->sb.inline_max);
    if (!strcmp(in->kind, "orphan-list"))
        json_list(f, "orphans", &in->orphans, FS_MAP_ORPHAN);
    fputs("}\n", f);
}

/* ---- the calls ------------------------------------------------------------------ */

int inspect_object(struct fs *fs, uint64_t oid, enum inspect_style style, FILE *f, bool *is_damaged)
{
    struct insp in;
    int e = insp_read(fs, oid, INSPECT_CHECK_KEYS, INSPECT_CHECK_BYTES, &in);
    if (e)
        return e;
    if (style == INSPECT_JSON)
        write_json(f, &in);
    else
        write_text(f, &in);
    if (is_damaged)
        *is_damaged = in.problems.n != 0;
    insp_free(&in);
    return 0;
}

int inspect_exists(struct fs *fs, uint64_t oid)
{
    if (oid == 0 || oid > GHOST_OID_MAX)
        return -EINVAL;
    struct ghost_txn *t;
    int e = ghost_txn_begin_view(fs_store(fs), &t);
    if (e)
        return (int)fs_errno(e);
    uint64_t gen;
    e = ghost_obj_generation(t, oid, &gen);
    ghost_txn_abort(t);
    /* As read_all decides: the orphan list is a map with no object, and
     * damage where an object is still makes a document (naming it). */
    if ((e == -ENOENT && oid == FS_ORPHAN_OID) || e == -GHOST_ECORRUPT)
        return 0;
    return (int)fs_errno(e);
}

int inspect_checksum(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
    struct insp in;
    int e = insp_read(fs, ino, INSPECT_XATTR_CHECK_KEYS, INSPECT_XATTR_CHECK_BYTES, &in);
    if (e)
        return e;
    if (in.problems.n)
        snprintf(buf, size, "damaged: %s", in.problems.v[0]);
    else if (in.unchecked.n)
        snprintf(buf, size, "ok, unchecked: %s", in.unchecked.v[0]);
    else
        snprintf(buf, size, "ok");
    insp_free(&in);
    return 0;
}

int inspect_resolve(struct fs *fs, const char *path, uint64_t *oid)
{
    if (path[0] != '/')
        return -EINVAL;
    struct ghost_txn *t;
    int e = ghost_txn_begin_view(fs_store(fs), &t);
    if (e)
        return (int)fs_errno(e);
    uint64_t cur = FS_ROOT_INO;
    const char *p = path;
    while (!e) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        char name[FS_NAME_MAX + 1];
        struct rec r;
        e = rec_get(t, cur, &r);
        if (!e && !S_ISDIR(r.mode))
            e = -ENOTDIR;
        if (e)
            break;
        if (len > FS_NAME_MAX) {
            e = -ENAMETOOLONG;
            break;
        }
        memcpy(name, p, len);
        name[len] = 0;
        if (!strcmp(name, ".."))
            cur = r.parent ? r.parent : FS_ROOT_INO;
        else if (strcmp(name, "."))
            e = dirent_get(t, cur, name, len, &cur, NULL);
        p += len;
    }
    ghost_txn_abort(t);
    if (!e)
        *oid = cur;
    return (int)fs_errno(e);
}
