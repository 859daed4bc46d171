/*
 * record.h - the store's on-disk records, above the engine seam: keys,
 * values and their checksums. record.c and this header are the one owner
 * of that format (docs/format.md describes it for people); every other
 * file of the store builds and reads records only through them.
 *
 *   ENGINE_META  name -> value          format, uuid, next_oid, snapmax, created
 *   ENGINE_OBJ   oid . ~gen -> gen . flags . type . bytes
 *   ENGINE_MAP   owner . map . key . ~gen -> gen . flags . bytes
 *   ENGINE_SNAP  name -> gen . created_ns
 *   ENGINE_OBJ   owner . ff x 8 . map . ~gen -> gen . flags . count . sum  (a tally)
 *
 * Every value starts with an XXH3-64 checksum (big-endian) of the rest of
 * the value, seeded with the XXH3-64 of the key, so a flipped byte or a
 * value found under the wrong key is caught on read. Integers in keys are
 * big-endian so that byte order is numeric order.
 *
 * Versioned keys. Each key has at most one head version and any number of
 * older versions kept for snapshots. The head is stored under key .
 * ~GEN_HEAD (a suffix of zeroes) with its generation in the value, so that
 * the common write - replacing the head when no snapshot needs it -
 * overwrites one record in place. An older version's key ends in ~gen
 * (bit-inverted). In the order the engine gives ENGINE_MAP and ENGINE_OBJ
 * (engine.h: the part before the suffix first, then the suffix), the
 * versions of one key are contiguous, the head first and then the older
 * ones newest first, and a seek to key . ~G lands on the newest older
 * version written at or before G. Reading at the head is one lookup of key
 * . ~GEN_HEAD; reading at a snapshot's G takes the head if it is no newer
 * than G, else the seek.
 *
 * Only store files include this header.
 */
#ifndef GHOST_RECORD_H
#define GHOST_RECORD_H

#include "engine.h"
#include "internal.h"

#include <string.h>

#define CKSUM_LEN 8
#define VER_HDR (CKSUM_LEN + 8) /* a version's value: checksum, generation, flags */
#define FLAG_TOMBSTONE 0x01
#define OBJ_KEY_LEN 16
#define MAP_KEY_MAX (8 + 1 + GHOST_KEY_MAX + 8)

/* An object's key has the top bit of its OID set (OIDs stay below 2^63), so
 * that objects sort after the records an engine may keep in the same table
 * (LMDB keeps its named tables' there): new OIDs then land at the end of
 * the tree, where a B-tree splits a full page at the end and leaves the
 * old one full, not in the middle, which would leave every page half
 * empty. */
#define OBJ_KEY_BIT (UINT64_C(1) << 63)

static inline void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline size_t obj_key(unsigned char *k, uint64_t oid, uint64_t gen)
{
    put_be64(k, oid | OBJ_KEY_BIT);
    put_be64(k + 8, ~gen);
    return OBJ_KEY_LEN;
}

static inline size_t map_key(unsigned char *k, uint64_t owner, unsigned map, const void *key,
                             size_t klen, uint64_t gen)
{
    put_be64(k, owner);
    k[8] = (unsigned char)map;
    if (klen)
        memcpy(k + 9, key, klen);
    put_be64(k + 9 + klen, ~gen);
    return 9 + klen + 8;
}

/* The generation in a versioned key's suffix. */
static inline uint64_t key_gen(const struct engine_val *k)
{
    return ~get_be64((const unsigned char *)k->data + k->len - 8);
}

/* The generation of a version whose checksum was checked. */
static inline uint64_t rec_gen(const struct engine_val *v)
{
    return get_be64((const unsigned char *)v->data + CKSUM_LEN);
}

/* Is k a version of the key in kbuf (klen bytes with its suffix)? */
static inline bool same_key(const struct engine_val *k, const unsigned char *kbuf, size_t klen)
{
    return k->len == klen && !memcmp(k->data, kbuf, klen - 8);
}

static inline bool is_tombstone(const struct engine_val *v)
{
    return v->len > VER_HDR && (((unsigned char *)v->data)[VER_HDR] & FLAG_TOMBSTONE);
}

/* A map's tally: how many keys it holds and the sum (mod 2^64) of their
 * versions' terms. It is kept in ENGINE_OBJ beside its owner's object,
 * under owner | OBJ_KEY_BIT . ff x 8 . map . suffix: its owner's key, then
 * eight 0xff bytes, which no object version's suffix is (generation 0 is
 * never written, and ~0 is all ones), so that it sorts after all of its
 * owner's versions and each key's versions stay contiguous. Apart from
 * the keys it counts, so that one damaged page cannot take a map's keys
 * and their count together, and in the pages a batch writing the owner
 * has in hand already. Versioned like any key, so that a snapshot sees the
 * tally of its own generation. A version's term is its checksum as a head
 * (seeded with key . ~GEN_HEAD): for a head that is the checksum it
 * carries, so a batch keeps the tally without hashing anything; a copy
 * kept for a snapshot, stored under another suffix, has its term
 * recomputed by whoever checks it. Absent means empty. A lost or moved key
 * leaves the tally short of the map; a stale one (an older version of the
 * key) leaves its sum wrong. */
#define TALLY_KEY_LEN 25
#define TALLY_LEN 16 /* count:8 . sum:8 */
static inline size_t tally_key(unsigned char *k, uint64_t owner, unsigned map, uint64_t gen)
{
    put_be64(k, owner | OBJ_KEY_BIT);
    put_be64(k + 8, UINT64_MAX);
    k[16] = (unsigned char)map;
    put_be64(k + 17, ~gen);
    return TALLY_KEY_LEN;
}
/* The term of a checked version k -> v. */
uint64_t version_term(const struct engine_val *k, const struct engine_val *v);

/* Is v's checksum right for key k? */
bool cksum_ok(const struct engine_val *k, const struct engine_val *v);
/* What the record under key k of table belongs to, in words ("object 17
 * (head version)"), into what[size]. */
void describe_record(enum engine_table table, const struct engine_val *k, char *what, size_t size);
/* Describe a damaged record of table by what it belongs to, count it
 * (store.damage), log it (unless the store is quiet) and return
 * -GHOST_ECORRUPT. */
int corrupt(struct store *s, enum engine_table table, const struct engine_val *k, const char *why);
/* Check a version record's checksum and shape: 0 or -GHOST_ECORRUPT. */
int version_ok(struct store *s, enum engine_table table, const struct engine_val *k,
               const struct engine_val *v);
/* Put key -> hdr . body with its checksum in front. */
int put_value(struct store *s, struct engine_txn *w, enum engine_table table, const void *key,
              size_t klen, const void *hdr, size_t hlen, const void *body, size_t blen);
/* Put key -> its checksum alone, unless the key is there (-EEXIST), in
 * which case nothing is written. */
int insert_empty(struct store *s, struct engine_txn *w, enum engine_table table, const void *key,
                 size_t klen);
/* Fill a value the engine reserved for a version of key k: checksum,
 * generation, then hdr (its first byte the flags) and body. */
void fill_version(void *dst, const struct engine_val *k, uint64_t gen, const void *hdr, size_t hlen,
                  const void *body, size_t blen);
/* Put a version of a key (kbuf, its suffix filled in) at generation gen.
 * Inline: it is most of the commit path's one put. */
static inline int put_version(struct store *s, struct engine_txn *w, enum engine_table table,
                              const void *key, size_t klen, uint64_t gen, const void *hdr,
                              size_t hlen, const void *body, size_t blen)
{
    struct engine_val k = {klen, (void *)key};
    void *dst;
    int r = engine_put(s->eng, w, table, &k, VER_HDR + hlen + blen, &dst);
    if (r)
        return r;
    fill_version(dst, &k, gen, hdr, hlen, body, blen);
    return 0;
}
/* A meta record: -ENOENT if absent, -GHOST_ECORRUPT if not len bytes. */
int get_meta(struct store *s, struct engine_txn *t, const char *name, void *out, size_t len);
int get_meta64(struct store *s, struct engine_txn *t, const char *name, uint64_t *val);
int put_meta64(struct store *s, struct engine_txn *w, const char *name, uint64_t val);
/* A snapshot record's value: its generation and creation time; then, for
 * a snapshot made by receiving a stream (receive.c), its origin: the uuid
 * of the store it was first taken in and its generation there, which name
 * it wherever it is copied to (a snapshot taken here is its own origin:
 * this store's uuid and its generation). */
#define SNAP_VALUE_LEN 16
#define SNAP_ORIGIN_LEN 24 /* uuid:16 . generation:8 */
/* Is len (the value's, with its checksum) a snapshot record's? */
static inline bool snap_len_ok(size_t len)
{
    return len == CKSUM_LEN + SNAP_VALUE_LEN || len == CKSUM_LEN + SNAP_VALUE_LEN + SNAP_ORIGIN_LEN;
}
/* Check and decode one: 0 or -GHOST_ECORRUPT. */
int snap_decode(struct store *s, const struct engine_val *k, const struct engine_val *v,
                uint64_t *gen, uint64_t *created_ns);
/* A decoded record's origin: false if it has none (taken here). */
bool snap_origin(const struct engine_val *v, unsigned char uuid[16], uint64_t *gen);
/* Its generation without the checksum (walks that skip what they cannot
 * use): false if v is too short to hold one. */
bool snap_value_gen(const struct engine_val *v, size_t minlen, uint64_t *gen);
int snap_put(struct store *s, struct engine_txn *w, const char *name, uint64_t gen,
             uint64_t created_ns);
/* The same with an origin (uuid, ogen). */
int snap_put_origin(struct store *s, struct engine_txn *w, const char *name, uint64_t gen,
                    uint64_t created_ns, const unsigned char uuid[16], uint64_t ogen);

#endif
