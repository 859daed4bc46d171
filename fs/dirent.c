/*
 * dirent.c - directory entries and back references: the one place that
 * encodes and decodes their keys and values (docs/format.md has the same
 * layout), and the checks every change of a directory makes.
 *
 * A directory's entries live in its FS_MAP_DIRENT map under the key
 * hash(name):8 . name -> child:8 . dtype:1 (the mode's type bits >> 12), so
 * that a listing in key order can resume from a hash: readdir hands the
 * kernel the hash of the last entry as the offset, and entries added or
 * removed meanwhile never shift the others. Each link also has a back
 * reference (FS_MAP_BACKREF on the child, key parent:8 . name -> empty) so
 * that link counts and reachability can be checked locally; dirent_put and
 * dirent_del keep the two together.
 *
 * No locks: everything here runs inside the caller's transaction.
 */
#include "dirent.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "be.h"

uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = XXH3_64bits(name, len) >> 1; /* keep offsets positive */
    return h < 3 ? h + 3 : h;                 /* 0, 1, 2 are start, ".", ".." */
}

int check_name(const char *name, size_t *len)
{
    *len = strlen(name);
    if (*len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if (*len == 0 || strchr(name, '/'))
        return -EINVAL;
    return 0;
}

static size_t dirent_key(unsigned char *k, const char *name, size_t len)
{
    put_be64(k, name_hash(name, len));
    memcpy(k + 8, name, len);
    return 8 + len;
}

static size_t backref_key(unsigned char *k, uint64_t parent, const char *name, size_t len)
{
    put_be64(k, parent);
    memcpy(k + 8, name, len);
    return 8 + len;
}

int dirent_get(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t *child,
               uint8_t *dtype)
{
    unsigned char k[DKEY_MAX];
    const void *v;
    size_t vlen;
    int e = ghost_map_get(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len), &v, &vlen);
    if (e)
        return e;
    if (vlen != 9)
        return -EIO;
    *child = get_be64(v);
    if (dtype)
        *dtype = ((const unsigned char *)v)[8];
    return 0;
}

int backref_get(struct ghost_txn *t, uint64_t child, uint64_t dir, const char *name, size_t len)
{
    unsigned char k[DKEY_MAX];
    const void *v;
    size_t vlen;
    return ghost_map_get(t, child, FS_MAP_BACKREF, k, backref_key(k, dir, name, len), &v, &vlen);
}

int dirent_put(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child,
               uint32_t mode)
{
    unsigned char k[DKEY_MAX], v[9];
    put_be64(v, child);
    v[8] = (unsigned char)((mode & S_IFMT) >> 12);
    int e = ghost_map_put(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len), v, 9);
    if (e)
        return e;
    return ghost_map_put(t, child, FS_MAP_BACKREF, k, backref_key(k, dir, name, len), "", 0);
}

int dirent_del(struct ghost_txn *t, uint64_t dir, const char *name, size_t len, uint64_t child)
{
    unsigned char k[DKEY_MAX];
    int e = ghost_map_del(t, dir, FS_MAP_DIRENT, k, dirent_key(k, name, len));
    if (e)
        return e;
    return ghost_map_del(t, child, FS_MAP_BACKREF, k, backref_key(k, dir, name, len));
}

int dir_get(struct ghost_txn *t, uint64_t dir, struct rec *r)
{
    int e = rec_get(t, dir, r);
    if (e)
        return e;
    if (!S_ISDIR(r->mode))
        return -ENOTDIR;
    if (r->nlink == 0)
        return -ENOENT;
    return 0;
}

static int has_entry(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)arg, (void)k, (void)kl, (void)v, (void)vl;
    return 1;
}

int dir_empty(struct ghost_txn *t, uint64_t dir)
{
    int e = ghost_map_scan(t, dir, FS_MAP_DIRENT, NULL, 0, has_entry, NULL);
    return e < 0 ? e : e == 0;
}

size_t dirent_resume_key(unsigned char k[8], uint64_t off)
{
    put_be64(k, off + 1);
    return 8;
}

int dirent_decode(const void *key, size_t klen, const void *val, size_t vlen, char *name,
                  uint64_t *off, uint64_t *child, uint32_t *mode)
{
    if (klen <= 8 || klen > DKEY_MAX || vlen != 9)
        return -1;
    memcpy(name, (const char *)key + 8, klen - 8);
    name[klen - 8] = 0;
    *off = get_be64(key);
    *child = get_be64(val);
    *mode = (uint32_t)((const unsigned char *)val)[8] << 12;
    return 0;
}

int backref_decode(const void *key, size_t klen, uint64_t *parent, char *name)
{
    if (klen <= 8 || klen > DKEY_MAX)
        return -1;
    *parent = get_be64(key);
    memcpy(name, (const char *)key + 8, klen - 8);
    name[klen - 8] = 0;
    return 0;
}
