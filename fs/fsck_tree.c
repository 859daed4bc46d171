/*
 * fsck_tree.c - the structure walk of `ghostfs fsck`: the tree from the
 * root, checked against the inode objects the scrub saw (fsck.h).
 *
 * Breadth first, one directory per read view (ghost_txn_begin_view: what a
 * directory's entries and their inodes say is read from one state): every
 * entry must name an inode object of the entry's type; a directory must
 * name its parent and have one name. Then every inode reached is read
 * again for its link count and its back references (FS_MAP_BACKREF): a
 * directory's nlink is 2 + its subdirectories, anything else's the number
 * of entries that name it, as is its number of back references. Inode
 * objects the root does not reach, other than orphans (unlinked while
 * open; reclaimed at the next mount), are unreachable.
 *
 * The layouts are fs/'s own: entries decoded by dirent.c, records by
 * inode_rec.c, the orphan map as orphan.c writes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "be.h"
#include "dirent.h"
#include "fsck.h"
#include "fsint.h"

struct entry {
    uint64_t child;
    uint32_t mode; /* the entry's type bits */
    char name[FS_NAME_MAX + 1];
};

typedef VEC(struct entry) entry_vec;
typedef VEC(uint64_t) oid_queue;

static int collect_entry(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    entry_vec *ents = arg;
    struct entry e;
    uint64_t off;
    if (dirent_decode(key, klen, val, vlen, e.name, &off, &e.child, &e.mode))
        return 0; /* not an entry's shape: the scrub's checksum vouched for it */
    return vec_push(ents, e) ? -ENOMEM : 0;
}

static char *join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", strcmp(dir, "/") ? dir : "", name) < 0)
        return NULL;
    return p;
}

/* What the walk learns of an entry's child, read in the directory's view. */
static int visit_entry(struct fsck *k, struct ghost_txn *t, uint64_t dir, const char *dpath,
                       const struct entry *e, oid_queue *queue)
{
    struct rec r;
    char *cpath = join(dpath, e->name);
    if (!cpath)
        return -ENOMEM;
    struct fsck_node *n = fsck_node(k, e->child);
    int rc = rec_get(t, e->child, &r);
    if (!n || rc) {
        if (rc == -ENOENT || (!rc && !n))
            fsck_add(k, "dangling-entry", dir, -1, cpath,
                     "entry names inode %llu, which does not exist", (unsigned long long)e->child);
        else /* damaged: the scrub names the record; we name its path */
            fsck_add(k, "unreadable-inode", e->child, -1, cpath, "inode record unreadable: %s",
                     ghost_errmsg());
        free(cpath);
        return 0;
    }
    if ((r.mode & S_IFMT) != e->mode)
        fsck_add(k, "wrong-type", e->child, -1, cpath,
                 "entry says type %o, inode %llu is of type %o", e->mode,
                 (unsigned long long)e->child, r.mode & S_IFMT);
    n->is_dir = S_ISDIR(r.mode);
    n->names++;
    if (n->is_dir && n->reached) {
        fsck_add(k, "directory-linked-twice", e->child, -1, cpath,
                 "directory already reached as %s", n->path ? n->path : "?");
    } else if (n->is_dir) {
        if (r.parent != dir)
            fsck_add(k, "wrong-parent", e->child, -1, cpath,
                     "directory records parent %llu, is in %llu", (unsigned long long)r.parent,
                     (unsigned long long)dir);
        if (vec_push(queue, e->child)) {
            free(cpath);
            return -ENOMEM;
        }
    }
    if (n->is_dir)
        fsck_node(k, dir)->subdirs++;
    if (!n->reached) {
        n->reached = true;
        n->path = cpath;
        k->reached++;
        return 0;
    }
    free(cpath);
    return 0;
}

/* One directory: its entries and their inodes, in one view. */
static int walk_dir(struct fsck *k, uint64_t dir, oid_queue *queue)
{
    struct ghost_txn *t;
    entry_vec ents = {0};
    const char *dpath = fsck_node(k, dir)->path;
    int r = ghost_txn_begin_view(fs_store(k->fs), &t);
    if (r)
        return r;
    r = ghost_map_scan(t, dir, FS_MAP_DIRENT, NULL, 0, collect_entry, &ents);
    if (r == -GHOST_ECORRUPT) { /* the scrub names the record; we name the directory */
        fsck_add(k, "unreadable-directory", dir, FS_MAP_DIRENT, dpath,
                 "listing stopped at a damaged entry: %s", ghost_errmsg());
        r = 0;
    }
    for (size_t i = 0; !r && i < ents.n; i++)
        r = visit_entry(k, t, dir, dpath, &ents.v[i], queue);
    ghost_txn_abort(t);
    vec_free(&ents);
    k->directories++;
    if (k->tty && k->directories % 1000 == 0)
        fprintf(stderr, "\rfsck: structure: %llu directories ", (unsigned long long)k->directories);
    return r;
}

static int count_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    ++*(uint64_t *)arg;
    return 0;
}

/* A reached inode's link count and back references. */
static void check_links(struct fsck *k, struct ghost_txn *t, struct fsck_node *n)
{
    struct rec r;
    uint64_t backrefs = 0;
    int e = rec_get(t, n->ino, &r);
    e = e ? e : ghost_map_scan(t, n->ino, FS_MAP_BACKREF, NULL, 0, count_key, &backrefs);
    if (e) {
        fsck_add(k, "unreadable-inode", n->ino, -1, n->path, "%s", ghost_errmsg());
        return;
    }
    uint64_t want = n->is_dir ? 2 + (uint64_t)n->subdirs : n->names;
    uint64_t want_refs = n->ino == FS_ROOT_INO ? 0 : n->is_dir ? 1 : n->names;
    if (r.nlink != want)
        fsck_add(k, "wrong-nlink", n->ino, -1, n->path, "nlink %u, expected %llu", r.nlink,
                 (unsigned long long)want);
    if (backrefs != want_refs)
        fsck_add(k, "wrong-backrefs", n->ino, FS_MAP_BACKREF, n->path,
                 "%llu back references, expected %llu", (unsigned long long)backrefs,
                 (unsigned long long)want_refs);
}

static int collect_orphan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct fsck *k = arg;
    (void)val, (void)vlen;
    struct fsck_node *n = klen == 8 ? fsck_node(k, get_be64(key)) : NULL;
    if (n && !n->reached) {
        n->reached = true; /* not reachable, and rightly so: not unreachable either */
        k->orphans++;
    }
    return 0;
}

/* Link counts in views of 256 inodes; then orphans; then the rest. */
static int check_nodes(struct fsck *k)
{
    struct ghost_txn *t = NULL;
    int r = 0;
    for (size_t i = 0; !r && i < k->nodes.n; i++) {
        if (!k->nodes.v[i].reached)
            continue;
        if (!t && (r = ghost_txn_begin_view(fs_store(k->fs), &t)) != 0)
            break;
        check_links(k, t, &k->nodes.v[i]);
        if (i % 256 == 255) {
            ghost_txn_abort(t);
            t = NULL;
        }
    }
    if (t)
        ghost_txn_abort(t);
    if (r || (r = ghost_txn_begin_view(fs_store(k->fs), &t)) != 0)
        return r;
    r = ghost_map_scan(t, FS_ORPHAN_OID, FS_MAP_ORPHAN, NULL, 0, collect_orphan, k);
    ghost_txn_abort(t);
    if (r == -GHOST_ECORRUPT) {
        fsck_add(k, "unreadable-orphans", FS_ORPHAN_OID, FS_MAP_ORPHAN, NULL, "%s", ghost_errmsg());
        r = 0;
    }
    for (size_t i = 0; !r && i < k->nodes.n; i++)
        if (!k->nodes.v[i].reached)
            fsck_add(k, "unreachable", k->nodes.v[i].ino, -1, NULL,
                     "inode reached by no path from the root and not an orphan");
    return r;
}

int fsck_tree(struct fsck *k)
{
    oid_queue queue = {0};
    struct fsck_node *root = fsck_node(k, FS_ROOT_INO);
    if (!root) {
        fsck_add(k, "root-missing", FS_ROOT_INO, -1, "/", "the root directory's inode is missing");
        return 0;
    }
    root->reached = root->is_dir = true;
    root->path = strdup("/");
    k->reached = 1;
    int r = root->path && !vec_push(&queue, FS_ROOT_INO) ? 0 : -ENOMEM;
    for (size_t i = 0; !r && i < queue.n; i++)
        r = walk_dir(k, queue.v[i], &queue);
    vec_free(&queue);
    if (k->tty)
        fprintf(stderr, "\r\033[K");
    return r ? r : check_nodes(k);
}
