/*
 * record.c - encoding and checking the store's records (record.h has the
 * layout): checksums, versions, meta records, snapshot records, and how a
 * damaged one is described.
 */
#include "record.h"

#include <stdio.h>
#include <xxhash.h>

static uint64_t cksum(const void *key, size_t klen, const void *body, size_t blen)
{
    return XXH3_64bits_withSeed(body, blen, XXH3_64bits(key, klen));
}

bool cksum_ok(const struct engine_val *k, const struct engine_val *v)
{
    if (v->len < CKSUM_LEN)
        return false;
    const unsigned char *p = v->data;
    return get_be64(p) == cksum(k->data, k->len, p + CKSUM_LEN, v->len - CKSUM_LEN);
}

uint64_t version_term(const struct engine_val *k, const struct engine_val *v)
{
    const unsigned char *p = v->data;
    if (get_be64((const unsigned char *)k->data + k->len - 8) == ~GEN_HEAD)
        return get_be64(p);
    unsigned char head[MAP_KEY_MAX];
    assert(k->len >= 8 && k->len <= sizeof head);
    memcpy(head, k->data, k->len - 8);
    put_be64(head + k->len - 8, ~GEN_HEAD);
    return cksum(head, k->len, p + CKSUM_LEN, v->len - CKSUM_LEN);
}

void describe_record(enum engine_table table, const struct engine_val *k, char *what, size_t size)
{
    const unsigned char *p = k->data;
    if (table == ENGINE_OBJ && k->len == OBJ_KEY_LEN && get_be64(p + 8) == ~GEN_HEAD)
        snprintf(what, size, "object %llu (head version)",
                 (unsigned long long)(get_be64(p) & ~OBJ_KEY_BIT));
    else if (table == ENGINE_OBJ && k->len == OBJ_KEY_LEN)
        snprintf(what, size, "object %llu (version %llu)",
                 (unsigned long long)(get_be64(p) & ~OBJ_KEY_BIT),
                 (unsigned long long)~get_be64(p + 8));
    else if (table == ENGINE_OBJ && k->len == TALLY_KEY_LEN)
        snprintf(what, size, "the tally of object %llu's map %u",
                 (unsigned long long)(get_be64(p) & ~OBJ_KEY_BIT), p[16]);
    else if (table == ENGINE_MAP && k->len >= 17)
        snprintf(what, size, "object %llu, map %u, a %zu-byte key", (unsigned long long)get_be64(p),
                 p[8], k->len - 17);
    else
        snprintf(what, size, "a %zu-byte key of an internal table", k->len);
}

int corrupt(struct store *s, enum engine_table table, const struct engine_val *k, const char *why)
{
    char what[160];
    describe_record(table, k, what, sizeof what);
    atomic_fetch_add_explicit(&s->damage, 1, memory_order_relaxed);
    if (!s->quiet)
        ghost_log(GHOST_LOG_ERR, "store %s: %s: %s", s->path, what, why);
    return ghost_set_error(-GHOST_ECORRUPT, "store %s: %s: %s", s->path, what, why);
}

int version_ok(struct store *s, enum engine_table table, const struct engine_val *k,
               const struct engine_val *v)
{
    if (!cksum_ok(k, v))
        return corrupt(s, table, k, "record fails its checksum");
    if (v->len < VER_HDR + 1)
        return corrupt(s, table, k, "record too short");
    return 0;
}

int put_value(struct store *s, struct engine_txn *w, enum engine_table table, const void *key,
              size_t klen, const void *hdr, size_t hlen, const void *body, size_t blen)
{
    struct engine_val k = {klen, (void *)key};
    void *dst;
    int r = engine_put(s->eng, w, table, &k, CKSUM_LEN + hlen + blen, &dst);
    if (r)
        return r;
    unsigned char *p = dst;
    if (hlen)
        memcpy(p + CKSUM_LEN, hdr, hlen);
    if (blen)
        memcpy(p + CKSUM_LEN + hlen, body, blen);
    put_be64(p, cksum(key, klen, p + CKSUM_LEN, hlen + blen));
    return 0;
}

int insert_empty(struct store *s, struct engine_txn *w, enum engine_table table, const void *key,
                 size_t klen)
{
    struct engine_val k = {klen, (void *)key}, old;
    void *dst;
    int r = engine_insert(s->eng, w, table, &k, CKSUM_LEN, &dst, &old);
    if (r == 0)
        put_be64(dst, cksum(key, klen, NULL, 0));
    return r;
}

void fill_version(void *dst, const struct engine_val *k, uint64_t gen, const void *hdr, size_t hlen,
                  const void *body, size_t blen)
{
    unsigned char *p = dst;
    put_be64(p + CKSUM_LEN, gen);
    memcpy(p + VER_HDR, hdr, hlen);
    if (blen)
        memcpy(p + VER_HDR + hlen, body, blen);
    put_be64(p, cksum(k->data, k->len, p + CKSUM_LEN, 8 + hlen + blen));
}

int get_meta(struct store *s, struct engine_txn *t, const char *name, void *out, size_t len)
{
    struct engine_val k = {strlen(name), (void *)name}, v;
    int r = engine_get(s->eng, t, ENGINE_META, &k, &v);
    if (r)
        return r;
    if (!cksum_ok(&k, &v) || v.len != CKSUM_LEN + len)
        return corrupt(s, ENGINE_META, &k, "meta record fails its checksum");
    memcpy(out, (char *)v.data + CKSUM_LEN, len);
    return 0;
}

int get_meta64(struct store *s, struct engine_txn *t, const char *name, uint64_t *val)
{
    unsigned char b[8];
    int r = get_meta(s, t, name, b, 8);
    if (r == 0)
        *val = get_be64(b);
    return r;
}

int put_meta64(struct store *s, struct engine_txn *w, const char *name, uint64_t val)
{
    unsigned char b[8];
    put_be64(b, val);
    return put_value(s, w, ENGINE_META, name, strlen(name), NULL, 0, b, 8);
}

int snap_decode(struct store *s, const struct engine_val *k, const struct engine_val *v,
                uint64_t *gen, uint64_t *created_ns)
{
    if (!cksum_ok(k, v) || !snap_len_ok(v->len))
        return corrupt(s, ENGINE_SNAP, k, "snapshot record fails its checksum");
    *gen = get_be64((unsigned char *)v->data + CKSUM_LEN);
    if (created_ns)
        *created_ns = get_be64((unsigned char *)v->data + CKSUM_LEN + 8);
    return 0;
}

bool snap_value_gen(const struct engine_val *v, size_t minlen, uint64_t *gen)
{
    if (v->len < minlen)
        return false;
    *gen = get_be64((unsigned char *)v->data + CKSUM_LEN);
    return true;
}

bool snap_origin(const struct engine_val *v, unsigned char uuid[16], uint64_t *gen)
{
    if (v->len != CKSUM_LEN + SNAP_VALUE_LEN + SNAP_ORIGIN_LEN)
        return false;
    const unsigned char *p = (const unsigned char *)v->data + CKSUM_LEN + SNAP_VALUE_LEN;
    memcpy(uuid, p, 16);
    *gen = get_be64(p + 16);
    return true;
}

int snap_put(struct store *s, struct engine_txn *w, const char *name, uint64_t gen,
             uint64_t created_ns)
{
    unsigned char body[SNAP_VALUE_LEN];
    put_be64(body, gen);
    put_be64(body + 8, created_ns);
    return put_value(s, w, ENGINE_SNAP, name, strlen(name), NULL, 0, body, sizeof body);
}

int snap_put_origin(struct store *s, struct engine_txn *w, const char *name, uint64_t gen,
                    uint64_t created_ns, const unsigned char uuid[16], uint64_t ogen)
{
    unsigned char body[SNAP_VALUE_LEN + SNAP_ORIGIN_LEN];
    put_be64(body, gen);
    put_be64(body + 8, created_ns);
    memcpy(body + 16, uuid, 16);
    put_be64(body + 32, ogen);
    return put_value(s, w, ENGINE_SNAP, name, strlen(name), NULL, 0, body, sizeof body);
}
