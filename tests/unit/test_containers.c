/*
 * test_containers.c - the small containers every module shares: the
 * growable array (vec.h), the intrusive list (list.h) and the intrusive
 * hash table (htab.h).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "htab.h"
#include "list.h"
#include "util.h"
#include "vec.h"

START_TEST(vec_grows_and_keeps_order)
{
    VEC(uint64_t) a = {0};
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert_int_eq(vec_push(&a, i * 3), 0);
    ck_assert_uint_eq(a.n, 1000);
    ck_assert_uint_ge(a.cap, 1000);
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(a.v[i], i * 3);
    size_t cap = a.cap;
    vec_clear(&a);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_uint_eq(a.cap, cap); /* kept for reuse */
    vec_free(&a);
    ck_assert_ptr_null(a.v);
    ck_assert_uint_eq(a.cap, 0);
}
END_TEST

/* An impossible size is -ENOMEM, and the array is as it was: no abort, no
 * lost element. */
START_TEST(vec_failure_leaves_it_unchanged)
{
    VEC(uint64_t) a = {0};
    ck_assert_int_eq(vec_push(&a, 7), 0);
    uint64_t *v = a.v;
    size_t cap = a.cap;
    ck_assert_int_eq(vec_reserve(&a, SIZE_MAX / 4), -ENOMEM);
    ck_assert_ptr_eq(a.v, v);
    ck_assert_uint_eq(a.cap, cap);
    ck_assert_uint_eq(a.n, 1);
    ck_assert_uint_eq(a.v[0], 7);
    vec_free(&a);
}
END_TEST

/* vec_move hands one VEC's allocation to another of the same element type
 * (a different struct type): the elements, n and cap go over, nothing is
 * copied, and the source is empty and may grow again on its own. */
START_TEST(vec_move_hands_the_buffer_over)
{
    VEC(uint64_t) from = {0};
    VEC(uint64_t) to = {0};
    for (uint64_t i = 0; i < 20; i++)
        ck_assert_int_eq(vec_push(&from, i + 1), 0);
    uint64_t *v = from.v;
    size_t cap = from.cap;
    vec_move(&to, &from);
    ck_assert_ptr_eq(to.v, v);
    ck_assert_uint_eq(to.n, 20);
    ck_assert_uint_eq(to.cap, cap);
    for (uint64_t i = 0; i < 20; i++)
        ck_assert_uint_eq(to.v[i], i + 1);
    ck_assert_ptr_null(from.v);
    ck_assert_uint_eq(from.n, 0);
    ck_assert_uint_eq(from.cap, 0);
    ck_assert_int_eq(vec_push(&from, 99), 0);
    ck_assert_ptr_ne(from.v, to.v);
    ck_assert_uint_eq(from.v[0], 99);
    ck_assert_uint_eq(to.v[0], 1);
    /* Kept for reuse, then handed back (as a batch gives its list back). */
    vec_free(&from);
    vec_clear(&to);
    vec_move(&from, &to);
    ck_assert_ptr_eq(from.v, v);
    ck_assert_uint_eq(from.n, 0);
    ck_assert_uint_eq(from.cap, cap);
    ck_assert_ptr_null(to.v);
    vec_free(&from);
}
END_TEST

struct item {
    int value;
    struct list node;
    struct hnode h;
};

START_TEST(list_order_and_removal)
{
    struct list head;
    list_init(&head);
    ck_assert(list_empty(&head));
    ck_assert_ptr_null(list_first(&head));
    struct item it[5];
    for (int i = 0; i < 5; i++) {
        it[i].value = i;
        list_init(&it[i].node);
        ck_assert(!list_linked(&it[i].node));
    }
    list_push_back(&head, &it[1].node);
    list_push_back(&head, &it[2].node);
    list_push_front(&head, &it[0].node);
    list_push_back(&head, &it[3].node);
    int expect = 0;
    list_for_each(n, &head)
    {
        ck_assert_int_eq(list_entry(n, struct item, node)->value, expect);
        expect++;
    }
    ck_assert_int_eq(expect, 4);
    list_del(&it[2].node);
    ck_assert(!list_linked(&it[2].node));
    ck_assert_ptr_eq(list_last(&head), &it[3].node);
    list_for_each_safe(n, &head) list_del(n);
    ck_assert(list_empty(&head));
    for (int i = 0; i < 4; i++)
        ck_assert(!list_linked(&it[i].node));
}
END_TEST

START_TEST(htab_find_remove_resize)
{
    enum { N = 5000 };
    struct item *it = calloc(N, sizeof *it);
    ck_assert_ptr_nonnull(it);
    struct htab t;
    ck_assert_int_eq(htab_init(&t, 16), 0);
    for (int i = 0; i < N; i++) {
        it[i].value = i;
        it[i].h.key = (uint64_t)i << 20; /* runs that share their low bits */
        htab_insert(&t, &it[i].h);
        if (t.count > t.nb)
            ck_assert_int_eq(htab_resize(&t, t.nb * 2), 0);
    }
    ck_assert_uint_eq(t.count, N);
    ck_assert_uint_ge(t.nb, N);
    for (int i = 0; i < N; i++) {
        struct hnode *h = htab_find(&t, (uint64_t)i << 20);
        ck_assert_ptr_eq(h, &it[i].h);
        ck_assert_int_eq(list_entry(h, struct item, h)->value, i);
    }
    ck_assert_ptr_null(htab_find(&t, 1));
    for (int i = 0; i < N; i += 2)
        htab_remove(&t, &it[i].h);
    ck_assert_uint_eq(t.count, N / 2);
    size_t seen = 0;
    htab_for_each(h, &t)
    {
        ck_assert_int_eq(list_entry(h, struct item, h)->value % 2, 1);
        htab_remove(&t, h);
        seen++;
    }
    ck_assert_uint_eq(seen, N / 2);
    ck_assert_uint_eq(t.count, 0);
    htab_destroy(&t);
    free(it);
}
END_TEST

static Suite *containers_suite(void)
{
    Suite *s = suite_create("containers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, vec_grows_and_keeps_order);
    tcase_add_test(tc, vec_failure_leaves_it_unchanged);
    tcase_add_test(tc, vec_move_hands_the_buffer_over);
    tcase_add_test(tc, list_order_and_removal);
    tcase_add_test(tc, htab_find_remove_resize);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(containers_suite)
