/*
 * list.h - the one intrusive doubly linked list of libghost and fs/.
 *
 * A struct list is embedded in each element; a list's head is a struct list
 * of its own, circular, so that an empty list points at itself and neither
 * insertion nor removal has a special case. list_entry() gets the element
 * back from its embedded node. An element that is on no list has its node
 * pointing at itself (list_init, list_del), so list_linked() can tell.
 *
 * Header-only: both libghost and fs/ use it.
 */
#ifndef GHOST_LIST_H
#define GHOST_LIST_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

/* Is this element's node on a list? */
static inline bool list_linked(const struct list *n)
{
    return n->next != n;
}

static inline void list_insert_(struct list *n, struct list *prev, struct list *next)
{
    assert(!list_linked(n));
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}

/* Insert n first / last; n must be on no list. */
static inline void list_push_front(struct list *head, struct list *n)
{
    list_insert_(n, head, head->next);
}

static inline void list_push_back(struct list *head, struct list *n)
{
    list_insert_(n, head->prev, head);
}

/* Take n off its list; it may then be inserted again. */
static inline void list_del(struct list *n)
{
    assert(list_linked(n));
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* The first / last node, or NULL when the list is empty. */
static inline struct list *list_first(const struct list *head)
{
    return list_empty(head) ? NULL : head->next;
}

static inline struct list *list_last(const struct list *head)
{
    return list_empty(head) ? NULL : head->prev;
}

/* Walk the nodes; the _safe form lets the body delete n. */
#define list_for_each(n, head) for (struct list *n = (head)->next; n != (head); n = n->next)
#define list_for_each_safe(n, head)                                                                \
    for (struct list *n = (head)->next, *n##_next_ = n->next; n != (head);                         \
         n = n##_next_, n##_next_ = n->next)

#endif
