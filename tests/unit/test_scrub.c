/*
 * test_scrub.c - ghost_scrub walks every record in slices: a clean store
 * gives no finding and counts what it holds; a flipped byte in a record is
 * found with the record's OID; a map key lost (forge.h) is found as a map
 * short of its tally, and a map that lost every key by its tally alone; a
 * walk in slices of 3 records finds and counts exactly what one slice does;
 * a store read without tallies has its records checked and no map
 * compared.
 *
 * Every test runs in its own process (CK_FORK) on its own store inside
 * test_dir(), which the main process removes at exit.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "ghost.h"
#include "util.h"

#define OWNERS 6      /* objects 16.. that own maps */
#define KEYS 20       /* keys of map 1 of each owner */
#define LONE_OWNER 40 /* owns map 2 with one key */

struct found {
    enum ghost_finding_kind kind;
    uint64_t oid;
    int map;
    char table[16];
    char message[512];
};

struct census {
    struct found f[64];
    size_t n;
    uint64_t objects_seen, type7;
};

static void on_finding(void *arg, const struct ghost_finding *f)
{
    struct census *c = arg;
    ck_assert_uint_lt(c->n, 64);
    struct found *x = &c->f[c->n++];
    x->kind = f->kind;
    x->oid = f->oid;
    x->map = f->map;
    snprintf(x->table, sizeof x->table, "%s", f->table);
    snprintf(x->message, sizeof x->message, "%s", f->message);
}

static void on_object(void *arg, uint64_t oid, uint8_t type)
{
    struct census *c = arg;
    (void)oid;
    c->objects_seen++;
    c->type7 += type == 7;
}

static struct ghost *open_store(const char *path, bool readonly)
{
    struct ghost_options o;
    struct ghost *g = NULL;
    ghost_options_init(&o);
    o.readonly = readonly;
    OK(ghost_open(path, &o, &g));
    return g;
}

/* A payload of 64 bytes that appears nowhere else in the store. */
static void payload(unsigned char *p, uint64_t oid, unsigned salt)
{
    for (unsigned i = 0; i < 64; i++)
        p[i] = (unsigned char)(oid * 131 + salt * 17 + i * 7 + 1);
}

/* OWNERS objects of type 7, each with KEYS keys in map 1; LONE_OWNER with
 * one key in map 2; then a snapshot and a rewrite of one object and one
 * key, so that older versions exist. */
static const char *make_store(const char *name)
{
    const char *path = test_new_store(name);
    struct ghost *g = open_store(path, false);
    struct ghost_txn *t;
    unsigned char p[64];
    char key[16];
    OK(ghost_txn_begin(g, &t));
    for (uint64_t o = 16; o < 16 + OWNERS; o++) {
        payload(p, o, 0);
        OK(ghost_obj_put(t, o, 7, p, sizeof p));
        for (unsigned k = 0; k < KEYS; k++) {
            snprintf(key, sizeof key, "key%02u", k);
            payload(p, o, k + 1);
            OK(ghost_map_put(t, o, 1, key, strlen(key), p, sizeof p));
        }
    }
    OK(ghost_obj_put(t, LONE_OWNER, 7, "lone", 4));
    OK(ghost_map_put(t, LONE_OWNER, 2, "only", 4, "value", 5));
    OK(ghost_txn_commit(t));
    OK(ghost_snapshot_create(g, "before"));
    OK(ghost_txn_begin(g, &t));
    OK(ghost_obj_put(t, 16, 7, "rewritten", 9));
    OK(ghost_map_put(t, 17, 1, "key00", 5, "new", 3));
    OK(ghost_txn_commit(t));
    ghost_close(g);
    return path;
}

/* Scrub the whole store in slices of max records; returns the slices. */
static unsigned scrub_all(const char *path, bool readonly, unsigned max, struct census *c,
                          struct ghost_scrub_stats *st)
{
    struct ghost *g = open_store(path, readonly);
    struct ghost_scrub_cursor cur = {0};
    struct ghost_scrub_visit v = {on_finding, on_object, c};
    unsigned slices = 0;
    int r;
    memset(c, 0, sizeof *c);
    memset(st, 0, sizeof *st);
    do {
        r = ghost_scrub(g, &cur, max, &v, st);
        ck_assert_msg(r >= 0, "ghost_scrub = %d (%s)", r, ghost_errmsg());
        ck_assert_uint_lt(++slices, 100000);
    } while (r == 0);
    ghost_close(g);
    return slices;
}

static void dump(const struct census *c)
{
    for (size_t i = 0; i < c->n; i++)
        fprintf(stderr, "finding %zu: kind %d oid %llu map %d %s: %s\n", i, c->f[i].kind,
                (unsigned long long)c->f[i].oid, c->f[i].map, c->f[i].table, c->f[i].message);
}

START_TEST(clean_store)
{
    const char *path = make_store("clean");
    struct census c;
    struct ghost_scrub_stats st;
    EXPECT(scrub_all(path, false, 0, &c, &st), 1);
    dump(&c);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.findings, 0);
    ck_assert_uint_eq(st.objects, OWNERS + 1);
    ck_assert_uint_eq(c.objects_seen, OWNERS + 1);
    ck_assert_uint_eq(c.type7, OWNERS + 1);
    ck_assert_uint_eq(st.map_keys[1], OWNERS * KEYS);
    ck_assert_uint_eq(st.map_keys[2], 1);
    ck_assert_uint_eq(st.tallies, OWNERS + 1);
    ck_assert_uint_eq(st.maps_checked, OWNERS + 1);
    /* kept for the snapshot: object 16, key00 of 17 and the tally of 17's map 1 */
    ck_assert_uint_eq(st.older, 3);
    ck_assert_uint_ge(st.records, st.objects + st.map_keys[1] + st.map_keys[2] + st.tallies + 2);
    ck_assert_uint_gt(st.bytes, st.object_bytes + st.map_bytes[1]);
}
END_TEST

static const struct found *find(const struct census *c, enum ghost_finding_kind kind, uint64_t oid)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->f[i].kind == kind && c->f[i].oid == oid)
            return &c->f[i];
    return NULL;
}

START_TEST(flipped_byte_found)
{
    const char *path = make_store("flip");
    unsigned char p[64];
    payload(p, 19, 0);
    ck_assert_int_gt(test_flip_everywhere(path, p, sizeof p), 0);
    payload(p, 20, 5); /* key04 of object 20's map 1 */
    ck_assert_int_gt(test_flip_everywhere(path, p, sizeof p), 0);
    struct census c;
    struct ghost_scrub_stats st;
    scrub_all(path, false, 0, &c, &st);
    dump(&c);
    ck_assert_uint_eq(c.n, 2); /* the map with a bad key is not also short of its tally */
    const struct found *f = find(&c, GHOST_FIND_BAD_RECORD, 19);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->table, "objects");
    ck_assert_int_eq(f->map, -1);
    ck_assert_ptr_nonnull(strstr(f->message, "object 19"));
    ck_assert_ptr_nonnull(strstr(f->message, "checksum"));
    f = find(&c, GHOST_FIND_BAD_RECORD, 20);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->table, "maps");
    ck_assert_int_eq(f->map, 1);
    ck_assert_uint_eq(st.findings, 2);
    ck_assert_uint_eq(st.maps_checked, OWNERS); /* all but object 20's map 1 */
}
END_TEST

START_TEST(lost_key_found)
{
    const char *path = make_store("lost");
    forge_lose_key(path, 18, 1, "key07", 5);
    forge_lose_key(path, LONE_OWNER, 2, "only", 4);
    struct census c;
    struct ghost_scrub_stats st;
    scrub_all(path, false, 0, &c, &st);
    dump(&c);
    ck_assert_uint_eq(c.n, 2);
    const struct found *f = find(&c, GHOST_FIND_MAP_SHORT, 18);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->map, 1);
    ck_assert_ptr_nonnull(strstr(f->message, "holds 19 keys where its tally counts 20"));
    f = find(&c, GHOST_FIND_MAP_SHORT, LONE_OWNER);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->map, 2);
    ck_assert_ptr_nonnull(strstr(f->message, "holds no keys"));
}
END_TEST

static int cmp_found(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->oid != y->oid)
        return x->oid < y->oid ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->message, y->message);
}

START_TEST(slices_find_the_same)
{
    const char *path = make_store("slices");
    unsigned char p[64];
    payload(p, 21, 0);
    ck_assert_int_gt(test_flip_everywhere(path, p, sizeof p), 0);
    forge_lose_key(path, 18, 1, "key07", 5); /* a map cut by slice boundaries */
    forge_lose_key(path, 19, 1, "key19", 5); /* its last key */
    forge_lose_key(path, 16, 1, "key00", 5); /* the first map's first key */
    static struct census whole, sliced;
    struct ghost_scrub_stats st_whole, st_sliced;
    EXPECT(scrub_all(path, false, 100000, &whole, &st_whole), 1);
    unsigned slices = scrub_all(path, false, 3, &sliced, &st_sliced);
    dump(&sliced);
    ck_assert_uint_gt(slices, 40);
    ck_assert_uint_eq(whole.n, 4);
    ck_assert_uint_eq(sliced.n, whole.n);
    qsort(whole.f, whole.n, sizeof whole.f[0], cmp_found);
    qsort(sliced.f, sliced.n, sizeof sliced.f[0], cmp_found);
    for (size_t i = 0; i < whole.n; i++) {
        ck_assert_uint_eq(sliced.f[i].kind, whole.f[i].kind);
        ck_assert_uint_eq(sliced.f[i].oid, whole.f[i].oid);
        ck_assert_str_eq(sliced.f[i].message, whole.f[i].message);
    }
    ck_assert_ptr_nonnull(find(&whole, GHOST_FIND_MAP_SHORT, 16));
    ck_assert_ptr_nonnull(find(&whole, GHOST_FIND_MAP_SHORT, 18));
    ck_assert_ptr_nonnull(find(&whole, GHOST_FIND_MAP_SHORT, 19));
    ck_assert_ptr_nonnull(find(&whole, GHOST_FIND_BAD_RECORD, 21));
    ck_assert_int_eq(memcmp(&st_whole, &st_sliced, sizeof st_whole), 0);
    ck_assert_uint_eq(sliced.objects_seen, whole.objects_seen);
}
END_TEST

START_TEST(untallied_store_checks_records)
{
    const char *path = make_store("format2");
    forge_format2(path);
    forge_lose_key(path, 18, 1, "key07", 5); /* no tally to tell */
    struct census c;
    struct ghost_scrub_stats st;
    scrub_all(path, true, 7, &c, &st);
    dump(&c);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.maps_checked, 0);
    ck_assert_uint_eq(st.map_keys[1], OWNERS * KEYS - 1);
}
END_TEST

START_TEST(bad_cursor_refused)
{
    const char *path = make_store("cursor");
    struct ghost *g = open_store(path, true);
    struct ghost_scrub_cursor cur = {.phase = 9};
    struct ghost_scrub_stats st = {0};
    EXPECT(ghost_scrub(g, &cur, 0, NULL, &st), -EINVAL);
    cur = (struct ghost_scrub_cursor){0};
    int r;
    while ((r = ghost_scrub(g, &cur, 0, NULL, &st)) == 0)
        ;
    EXPECT(r, 1);
    ck_assert_uint_eq(cur.phase, 0);
    ghost_close(g);
}
END_TEST

static Suite *scrub_suite(void)
{
    Suite *s = suite_create("scrub");
    TCase *tc = tcase_create("scrub");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, clean_store);
    tcase_add_test(tc, flipped_byte_found);
    tcase_add_test(tc, lost_key_found);
    tcase_add_test(tc, slices_find_the_same);
    tcase_add_test(tc, untallied_store_checks_records);
    tcase_add_test(tc, bad_cursor_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(scrub_suite)
