/*
 * damage_tree.c - the tree test_damage.c writes, remembered in memory, and
 * the check of a damaged copy against it.
 *
 * The tree is small (a hundred-odd LMDB pages of 4 KiB) but has every kind of
 * record fs/ writes: directories three deep, empty, inline and one-block
 * files, files of several 64 KiB blocks with a short last block, a sparse
 * file with holes, a symlink, xattrs small and large on files and
 * directories, a long name, and enough small files that both of LMDB's
 * trees (objects and maps) need branch pages. The last transaction before the
 * clean close rewrites one file, so that a store that opens one transaction
 * back shows it.
 *
 * The check (damage_check) runs in a child process: it must not call Check's
 * assertions, and it reports what it found in a struct damage_outcome.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "damage.h"
#include "fs_util.h"

struct damage_node damage_tree[DAMAGE_MAX_NODES];
int damage_nodes;

#define BLK 65536

/* ---- writing the tree (the test's process) -------------------------------------- */

/* Remember name under parent, with the mode fs/ gave it. */
static int add_node(int parent, const char *name, uint64_t ino)
{
    ck_assert_int_lt(damage_nodes, DAMAGE_MAX_NODES);
    struct damage_node *n = &damage_tree[damage_nodes];
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->mode = attr(ino).mode;
    n->ino = ino;
    snprintf(n->name, sizeof n->name, "%s", name);
    char dir[sizeof n->path] = "";
    if (parent > 0)
        snprintf(dir, sizeof dir, "%s", damage_tree[parent].path);
    snprintf(n->path, sizeof n->path, "%.60s/%.250s", dir, name);
    return damage_nodes++;
}

static int add_dir(int parent, const char *name)
{
    return add_node(parent, name, mkdir_(damage_tree[parent].ino, name));
}

/* Write len bytes of pattern seed at off of file i and remember them. */
static void put_data(int i, uint64_t off, size_t len, unsigned seed)
{
    struct damage_node *n = &damage_tree[i];
    if (off + len > n->size) {
        n->data = realloc(n->data, off + len);
        ck_assert_ptr_nonnull(n->data);
        memset(n->data + n->size, 0, off + len - n->size);
        n->size = off + len;
    }
    fill(n->data + off, off, len, seed);
    write_pat(n->ino, off, len, seed);
}

/* A file of size bytes of pattern seed, committed on its own. */
static int add_file(int parent, const char *name, size_t size, unsigned seed)
{
    int i = add_node(parent, name, mkfile(damage_tree[parent].ino, name));
    if (size)
        put_data(i, 0, size, seed);
    OK(fs_flush(fs, damage_tree[i].ino));
    return i;
}

static int add_symlink(int parent, const char *name, const char *target)
{
    struct fs_attr a;
    OK(fs_symlink(fs, &ctx, target, damage_tree[parent].ino, name, &a));
    int i = add_node(parent, name, a.ino);
    damage_tree[i].data = (unsigned char *)strdup(target);
    damage_tree[i].size = strlen(target);
    return i;
}

static void add_xattr(int i, const char *name, size_t len, unsigned seed)
{
    struct damage_node *n = &damage_tree[i];
    ck_assert_int_lt(n->nx, DAMAGE_MAX_XATTRS);
    struct damage_xattr *x = &n->x[n->nx++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->val = malloc(len);
    ck_assert_ptr_nonnull(x->val);
    x->len = len;
    fill(x->val, 0, len, seed);
    OK(fs_setxattr(fs, n->ino, name, x->val, len, 0));
}

static void write_tree(void)
{
    damage_nodes = 0;
    int root = add_node(-1, "", FS_ROOT_INO);
    add_xattr(root, "user.root", 20, 1);
    add_file(root, "empty", 0, 0);
    add_xattr(add_file(root, "tiny", 10, 2), "user.a", 5, 3);
    int a = add_dir(root, "a");
    add_xattr(a, "user.dir", 30, 4);
    add_file(a, "inline", 1000, 5);
    add_file(a, "oneblock", 3000, 6);
    add_file(a, "two", BLK + 4000, 7);
    int b = add_dir(a, "b");
    int three = add_file(b, "three", 2 * BLK + 100, 8);
    add_xattr(three, "user.x", 100, 9);
    add_xattr(three, "user.big", 3000, 10); /* an overflow page of its own */
    add_file(b, "note", 200, 11);
    add_symlink(b, "link", "../two");
    int c = add_dir(root, "c");
    int sparse = add_file(c, "sparse", 1500, 12); /* block 0, holes at 1 and 2, block 3 */
    put_data(sparse, 3 * BLK + 1000, 2500, 13);
    OK(fs_flush(fs, damage_tree[sparse].ino));
    add_xattr(add_file(c, "full", BLK, 14), "user.c", 64, 15);
    add_dir(c, "d");
    add_file(c, long_name(200, 'n'), 300, 16);
    int last = add_file(c, "last", 4000, 17);
    int many = add_dir(root, "many");
    for (unsigned k = 0; k < 12; k++) {
        char name[16];
        snprintf(name, sizeof name, "s%02u", k);
        add_xattr(add_file(many, name, 300 + 60 * k, 20 + k), "user.tag", 150 + 10 * k, 40 + k);
    }
    put_data(last, 1000, 3000, 18); /* the last transaction before the close */
    OK(fs_flush(fs, damage_tree[last].ino));
}

void damage_build(const char *store)
{
    char changes[4400];
    snprintf(path, sizeof path, "%s", store);
    OK(fs_mkfs(path, 0));
    /* A change log of 64 slots instead of 131072: the copies are made
     * and opened a thousand times, and the log's size is its creator's. */
    snprintf(changes, sizeof changes, "%s-changes", path);
    unlink(changes);
    struct fs_options o;
    fs_options_init(&o);
    o.store.log_entries = 64;
    o.commit_interval_ms = 3600 * 1000; /* each file is committed by its flush */
    OK(fs_open(path, &o, &fs));
    ctx.uid = (uint32_t)getuid();
    ctx.gid = (uint32_t)getgid();
    ctx.umask = 022;
    write_tree();
    fs_close(fs);
    fs = NULL;
}
