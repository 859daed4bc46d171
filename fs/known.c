/*
 * known.c - what the kernel knows, for the notifier: whether it holds an
 * inode, every inode it holds, and the names it holds in a directory that
 * no longer lead where they did.
 *
 * Each function copies what it needs from the inode table under
 * fs.itab_lock and calls back with the lock dropped.
 */
#include "fsint.h"

#include <stdlib.h>
#include <string.h>

#include "dirent.h"
#include "itable.h"

bool fs_is_known(struct fs *fs, uint64_t ino)
{
    if (ino == FS_ROOT_INO) /* the kernel holds the root without a lookup */
        return true;
    pthread_mutex_lock(&fs->itab_lock);
    struct inode *in = inode_find_locked(fs, ino);
    bool known = in && in->nlookup > 0;
    pthread_mutex_unlock(&fs->itab_lock);
    return known;
}

void fs_known_inodes(struct fs *fs, void (*fn)(void *arg, uint64_t ino), void *arg)
{
    uint64_t *inos = NULL;
    size_t n = 0;
    pthread_mutex_lock(&fs->itab_lock);
    inos = malloc((fs->count + 1) * sizeof *inos);
    if (inos)
        inos[n++] = FS_ROOT_INO;
    for (size_t i = 0; inos && i < fs->nbuckets; i++)
        for (struct inode *in = fs->buckets[i]; in; in = in->hnext)
            if (in->nlookup && in->ino != FS_ROOT_INO)
                inos[n++] = in->ino;
    pthread_mutex_unlock(&fs->itab_lock);
    for (size_t i = 0; i < n; i++)
        fn(arg, inos[i]);
    free(inos);
}

struct known_name {
    uint64_t ino;
    char *name;
};

void fs_stale_names(struct fs *fs, uint64_t dir,
                    void (*fn)(void *arg, uint64_t parent, const char *name), void *arg)
{
    struct known_name *names = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&fs->itab_lock);
    for (size_t i = 0; i < fs->nbuckets; i++)
        for (struct inode *in = fs->buckets[i]; in; in = in->hnext) {
            if (!in->nlookup || in->parent != dir || !in->name)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct known_name *p = realloc(names, cap * sizeof *p);
                if (!p)
                    goto unlock;
                names = p;
            }
            names[n].ino = in->ino;
            names[n].name = strdup(in->name);
            if (names[n].name)
                n++;
        }
unlock:
    pthread_mutex_unlock(&fs->itab_lock);
    struct ghost_txn *t = NULL;
    if (n && ghost_txn_begin(fs->g, &t))
        t = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t child = 0;
        bool same = false;
        if (t && dirent_get(t, dir, names[i].name, strlen(names[i].name), &child, NULL) == 0)
            same = child == names[i].ino;
        if (!same)
            fn(arg, dir, names[i].name);
        free(names[i].name);
    }
    if (t)
        ghost_txn_abort(t);
    free(names);
}
