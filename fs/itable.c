/*
 * itable.c - the in-memory inode table: the runtime state of each inode
 * this process uses, found by inode number.
 *
 * The table holds an entry for each inode the kernel knows (nlookup), that
 * is open (nopen), that has buffered writes, or that a running call is
 * using (refs); it is freed when all four are gone. Its pins mirror the
 * kernel's references in the libghost cache, so memory follows what the
 * kernel holds, not the size of the store. Lookup counts never go below
 * zero: the kernel forgets no more than it looked up.
 *
 * Locks: fs.itab_lock protects the table and every inode's nlookup, nopen,
 * refs, unlinked and name; an inode's rw lock may be held when it is taken,
 * never the other way round.
 */
#include "itable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "orphan.h"

struct inode *inode_of_node(struct hnode *n)
{
    return (struct inode *)((char *)n - offsetof(struct inode, node));
}

struct inode *inode_find_locked(struct fs *fs, uint64_t ino)
{
    assert(MUTEX_HELD(&fs->itab_lock));
    struct hnode *n = htab_find(&fs->itable, ino);
    return n ? inode_of_node(n) : NULL;
}

static struct inode *get_locked(struct fs *fs, uint64_t ino)
{
    struct inode *in = inode_find_locked(fs, ino);
    if (in)
        return in;
    in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->ino = ino;
    in->node.key = ino;
    list_init(&in->dirty_node);
    pthread_rwlock_init(&in->rw, NULL);
    htab_insert(&fs->itable, &in->node);
    if (fs->itable.count > fs->itable.nb) /* without memory: longer chains */
        htab_resize(&fs->itable, fs->itable.nb * 2);
    return in;
}

struct inode *inode_get(struct fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = get_locked(fs, ino);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&fs->itab_lock);
    return in;
}

static bool unused(const struct inode *in)
{
    return !in->nlookup && !in->nopen && !in->refs && !in->wb && !in->wb_old && !in->dirty;
}

static void free_locked(struct fs *fs, struct inode *in)
{
    assert(MUTEX_HELD(&fs->itab_lock));
    htab_remove(&fs->itable, &in->node);
    pthread_rwlock_destroy(&in->rw);
    free(in->name);
    free(in);
}

/* Drop a temporary reference; reclaim an unlinked inode nobody uses. */
void inode_put(struct fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->itab_lock);
    assert(in->refs > 0); /* a reference inode_get took */
    in->refs--;
    bool reclaim = in->unlinked && !in->nlookup && !in->nopen && !in->refs;
    uint64_t ino = in->ino;
    if (reclaim)
        in->unlinked = false;
    if (unused(in) && !reclaim)
        free_locked(fs, in);
    pthread_mutex_unlock(&fs->itab_lock);
    if (reclaim) {
        inode_release(fs, ino);
        pthread_mutex_lock(&fs->itab_lock);
        in = inode_find_locked(fs, ino);
        if (in && unused(in))
            free_locked(fs, in);
        pthread_mutex_unlock(&fs->itab_lock);
    }
}

void inode_looked_up(struct fs *fs, uint64_t ino, uint64_t parent, const char *name)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = get_locked(fs, ino);
    if (in) {
        if (in->nlookup++ == 0)
            ghost_pin(fs->g, ino, 1);
        if (name && (in->parent != parent || !in->name || strcmp(in->name, name))) {
            free(in->name);
            in->name = strdup(name);
            in->parent = parent;
        }
    }
    pthread_mutex_unlock(&fs->itab_lock);
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = inode_find_locked(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->itab_lock);
        return;
    }
    in->refs++;
    uint64_t before = in->nlookup;
    assert(n <= in->nlookup); /* the kernel forgets no more than it looked up */
    in->nlookup -= n;
    if (before && !in->nlookup)
        ghost_unpin(fs->g, ino, 1);
    pthread_mutex_unlock(&fs->itab_lock);
    inode_put(fs, in);
}

/* Does the kernel hold ino: a lookup count above zero, or the root, which
 * it holds without one. */
bool fs_is_known(struct fs *fs, uint64_t ino)
{
    if (ino == FS_ROOT_INO)
        return true;
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = inode_find_locked(fs, ino);
    bool known = in && in->nlookup > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    return known;
}

int itable_init(struct fs *fs)
{
    return htab_init(&fs->itable, 1024);
}

void itable_free(struct fs *fs)
{
    htab_for_each(n, &fs->itable)
    {
        struct inode *in = inode_of_node(n);
        wb_free(in->wb);
        wb_free(in->wb_old);
        pthread_rwlock_destroy(&in->rw);
        free(in->name);
        free(in);
    }
    htab_destroy(&fs->itable);
}
