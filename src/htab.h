/*
 * htab.h - the one intrusive hash table of libghost and fs/: 64-bit keys
 * (OIDs, inode numbers) to the elements that embed a struct hnode.
 *
 * Chained buckets, a power of two of them, indexed by a Fibonacci hash of
 * the key (OIDs are allocated in runs, so their low bits alone would crowd
 * neighbouring buckets). The table never allocates on its own: when to grow
 * is the owner's decision (the cache counts the bucket array against its
 * byte budget), made by calling htab_resize(), which on no memory leaves the
 * table as it was - longer chains, never a lost element. Not thread-safe:
 * the owner's lock protects it.
 *
 * Header-only: both libghost and fs/ use it.
 */
#ifndef GHOST_HTAB_H
#define GHOST_HTAB_H

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct hnode {
    struct hnode *next; /* the bucket's chain */
    uint64_t key;
};

struct htab {
    struct hnode **b;
    size_t nb;    /* buckets: a power of two */
    size_t count; /* elements */
};

static inline size_t htab_slot(const struct htab *t, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (t->nb - 1);
}

/* An empty table of nb buckets (a power of two): 0 or -ENOMEM. */
static inline int htab_init(struct htab *t, size_t nb)
{
    assert(nb && (nb & (nb - 1)) == 0);
    t->b = calloc(nb, sizeof *t->b);
    if (!t->b)
        return -ENOMEM;
    t->nb = nb;
    t->count = 0;
    return 0;
}

/* Free the buckets; the elements are the owner's (walk them first). */
static inline void htab_destroy(struct htab *t)
{
    free(t->b);
    t->b = NULL;
    t->nb = t->count = 0;
}

static inline struct hnode *htab_find(const struct htab *t, uint64_t key)
{
    struct hnode *n = t->b[htab_slot(t, key)];
    while (n && n->key != key)
        n = n->next;
    return n;
}

/* Add n, whose key is set and not in the table yet. */
static inline void htab_insert(struct htab *t, struct hnode *n)
{
    assert(!htab_find(t, n->key));
    struct hnode **slot = &t->b[htab_slot(t, n->key)];
    n->next = *slot;
    *slot = n;
    t->count++;
}

/* Add n even if an element of its key is there: for an owner whose keys
 * are a hash of what tells its elements apart (it compares them itself,
 * walking the chain of htab_slot()). */
static inline void htab_push(struct htab *t, struct hnode *n)
{
    struct hnode **slot = &t->b[htab_slot(t, n->key)];
    n->next = *slot;
    *slot = n;
    t->count++;
}

/* Take n, which is in the table, out of it. */
static inline void htab_remove(struct htab *t, struct hnode *n)
{
    struct hnode **pp = &t->b[htab_slot(t, n->key)];
    while (*pp != n) {
        assert(*pp); /* n must be in the table */
        pp = &(*pp)->next;
    }
    *pp = n->next;
    assert(t->count > 0);
    t->count--;
}

/* Rehash into nb buckets (a power of two): 0, or -ENOMEM with t unchanged. */
static inline int htab_resize(struct htab *t, size_t nb)
{
    assert(nb && (nb & (nb - 1)) == 0);
    struct hnode **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    struct hnode **old = t->b;
    size_t oldn = t->nb;
    t->b = b;
    t->nb = nb;
    for (size_t i = 0; i < oldn; i++) {
        struct hnode *n = old[i], *next;
        for (; n; n = next) {
            next = n->next;
            struct hnode **slot = &b[htab_slot(t, n->key)];
            n->next = *slot;
            *slot = n;
        }
    }
    free(old);
    return 0;
}

/* Walk every element; the body may remove n (and only n). */
#define htab_for_each(n, t)                                                                        \
    for (size_t n##_i_ = 0; n##_i_ < (t)->nb; n##_i_++)                                            \
        for (struct hnode *n = (t)->b[n##_i_], *n##_next_ = n ? n->next : NULL; n;                 \
             n = n##_next_, n##_next_ = n ? n->next : NULL)

#endif
