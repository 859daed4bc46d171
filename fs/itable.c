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
 * Locks: fs.itab_lock protects the buckets and every inode's nlookup, nopen,
 * refs, unlinked and name; an inode's rw lock may be held when it is taken,
 * never the other way round.
 */
#include "itable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "orphan.h"

static size_t slot(struct fs *fs, uint64_t ino)
{
    return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 24) & (fs->nbuckets - 1);
}

static void table_grow(struct fs *fs)
{
    size_t n = fs->nbuckets * 2;
    struct inode **b = calloc(n, sizeof *b);
    if (!b)
        return;
    struct inode **old = fs->buckets;
    size_t oldn = fs->nbuckets;
    fs->buckets = b;
    fs->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        struct inode *in = old[i], *next;
        for (; in; in = next) {
            next = in->hnext;
            size_t j = slot(fs, in->ino);
            in->hnext = b[j];
            b[j] = in;
        }
    }
    free(old);
}

struct inode *inode_find_locked(struct fs *fs, uint64_t ino)
{
    assert(MUTEX_HELD(&fs->itab_lock));
    struct inode *in = fs->buckets[slot(fs, ino)];
    while (in && in->ino != ino)
        in = in->hnext;
    return in;
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
    pthread_rwlock_init(&in->rw, NULL);
    size_t i = slot(fs, ino);
    in->hnext = fs->buckets[i];
    fs->buckets[i] = in;
    if (++fs->count > fs->nbuckets)
        table_grow(fs);
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
    struct inode **pp = &fs->buckets[slot(fs, in->ino)];
    while (*pp != in)
        pp = &(*pp)->hnext;
    *pp = in->hnext;
    fs->count--;
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
        inode_reclaim(fs, ino);
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

int itable_init(struct fs *fs)
{
    fs->nbuckets = 1024;
    fs->buckets = calloc(fs->nbuckets, sizeof *fs->buckets);
    return fs->buckets ? 0 : -ENOMEM;
}

void itable_free(struct fs *fs)
{
    for (size_t i = 0; i < fs->nbuckets; i++) {
        struct inode *in = fs->buckets[i], *n;
        for (; in; in = n) {
            n = in->hnext;
            wb_free(in->wb);
            wb_free(in->wb_old);
            pthread_rwlock_destroy(&in->rw);
            free(in->name);
            free(in);
        }
    }
    free(fs->buckets);
}
