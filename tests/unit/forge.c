/*
 * forge.c - damage forged with LMDB itself (forge.h).
 */
#include "forge.h"

#include <check.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

/* The engine's order for the map table (docs/format.md): the key without
 * its last 8 bytes, then those. */
static int versioned_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t la = a->mv_size - 8, lb = b->mv_size - 8;
    int c = memcmp(a->mv_data, b->mv_data, la < lb ? la : lb);
    if (c || la != lb)
        return c ? c : la < lb ? -1 : 1;
    return memcmp((const char *)a->mv_data + la, (const char *)b->mv_data + lb, 8);
}

struct forge {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi obj, map, meta;
    const char *path;
};

static void forge_begin(struct forge *f, const char *path)
{
    f->path = path;
    ck_assert_int_eq(mdb_env_create(&f->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(f->env, 16), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(f->env, (size_t)1 << 30), 0);
    ck_assert_int_eq(mdb_env_open(f->env, path, MDB_NOSUBDIR, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
    ck_assert_int_eq(mdb_dbi_open(f->txn, NULL, 0, &f->obj), 0);
    ck_assert_int_eq(mdb_dbi_open(f->txn, "map", 0, &f->map), 0);
    ck_assert_int_eq(mdb_set_compare(f->txn, f->map, versioned_cmp), 0);
    ck_assert_int_eq(mdb_dbi_open(f->txn, "meta", 0, &f->meta), 0);
}

static void forge_end(struct forge *f)
{
    ck_assert_int_eq(mdb_txn_commit(f->txn), 0);
    mdb_env_close(f->env);
    /* A commit ghostfs did not make: its change log (which would take it
     * for a rollback or another program's write) must go (docs/format.md). */
    char changes[4400];
    snprintf(changes, sizeof changes, "%s-changes", f->path);
    ck_assert_msg(unlink(changes) == 0 || errno == ENOENT, "%s: %s", changes, strerror(errno));
}

static size_t map_key(unsigned char *k, uint64_t owner, uint8_t map, const void *key, size_t klen,
                      uint64_t suffix)
{
    for (int i = 0; i < 8; i++)
        k[i] = (unsigned char)(owner >> (56 - 8 * i));
    k[8] = map;
    memcpy(k + 9, key, klen);
    for (int i = 0; i < 8; i++)
        k[9 + klen + i] = (unsigned char)(suffix >> (56 - 8 * i));
    return 17 + klen;
}

size_t forge_dirent_key(unsigned char *k, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = XXH3_64bits(name, len) >> 1;
    h = h < 3 ? h + 3 : h; /* 0, 1, 2 are the listing's start, "." and ".." */
    for (int i = 0; i < 8; i++)
        k[i] = (unsigned char)(h >> (56 - 8 * i));
    memcpy(k + 8, name, len);
    return 8 + len;
}

void forge_lose_key(const char *path, uint64_t owner, uint8_t map, const void *key, size_t klen)
{
    struct forge f;
    unsigned char k[600];
    forge_begin(&f, path);
    MDB_val mk = {map_key(k, owner, map, key, klen, 0), k};
    ck_assert_int_eq(mdb_del(f.txn, f.map, &mk, NULL), 0);
    forge_end(&f);
}

void forge_lose_object(const char *path, uint64_t oid)
{
    struct forge f;
    unsigned char k[16] = {0};
    forge_begin(&f, path);
    for (int i = 0; i < 8; i++)
        k[i] = (unsigned char)((oid | UINT64_C(1) << 63) >> (56 - 8 * i));
    MDB_val mk = {sizeof k, k};
    ck_assert_int_eq(mdb_del(f.txn, f.obj, &mk, NULL), 0);
    forge_end(&f);
}

void forge_swap_key(const char *path, uint64_t owner, uint8_t map, const void *key, size_t klen,
                    unsigned char *save, size_t *len, bool restore)
{
    struct forge f;
    unsigned char k[600];
    forge_begin(&f, path);
    MDB_val mk = {map_key(k, owner, map, key, klen, 0), k}, mv;
    if (restore) {
        mv = (MDB_val){*len, save};
        ck_assert_int_eq(mdb_put(f.txn, f.map, &mk, &mv, 0), 0);
    } else {
        ck_assert_int_eq(mdb_get(f.txn, f.map, &mk, &mv), 0);
        ck_assert_uint_le(mv.mv_size, 256);
        memcpy(save, mv.mv_data, mv.mv_size);
        *len = mv.mv_size;
    }
    forge_end(&f);
}

void forge_format2(const char *path)
{
    struct forge f;
    MDB_cursor *c;
    MDB_val k, v;
    forge_begin(&f, path);
    /* The tallies: 25-byte keys of the objects' table (owner . ff x 8 . map .
     * suffix), beside the objects' 16-byte ones. */
    ck_assert_int_eq(mdb_cursor_open(f.txn, f.obj, &c), 0);
    int n = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == 25 && (((const unsigned char *)k.mv_data)[0] & 0x80)) {
            ck_assert_int_eq(mdb_cursor_del(c, 0), 0);
            n++;
        }
    mdb_cursor_close(c);
    ck_assert_int_gt(n, 0);
    k = (MDB_val){7, "tallied"};
    ck_assert_int_eq(mdb_del(f.txn, f.meta, &k, NULL), 0);
    unsigned char rec[16];
    for (int i = 0; i < 8; i++)
        rec[8 + i] = i == 7 ? 2 : 0;
    uint64_t sum = XXH3_64bits_withSeed(rec + 8, 8, XXH3_64bits("format", 6));
    for (int i = 0; i < 8; i++)
        rec[i] = (unsigned char)(sum >> (56 - 8 * i));
    k = (MDB_val){6, "format"};
    v = (MDB_val){sizeof rec, rec};
    ck_assert_int_eq(mdb_put(f.txn, f.meta, &k, &v, 0), 0);
    forge_end(&f);
}
