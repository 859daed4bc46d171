/*
 * vec.h - the one growable array of libghost and fs/.
 *
 * VEC(T) is an anonymous struct { T *v; size_t n, cap; }: v[0..n) are the
 * elements, cap the slots allocated. A zeroed VEC is empty and owns
 * nothing. Growth doubles the capacity (starting at 8), so n pushes cost
 * O(n) copies in all.
 *
 * Failure is an answer, never an abort: vec_reserve() and vec_push()
 * return -ENOMEM and leave the array exactly as it was (its elements, n
 * and cap untouched), so the caller can fall back to doing more work with
 * less memory.
 *
 * Header-only, with no dependency beyond libc: both libghost and fs/ use it.
 */
#ifndef GHOST_VEC_H
#define GHOST_VEC_H

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

/* Reallocate `v` (of *cap elements of esize bytes) to hold at least `need`;
 * returns the new array with *cap updated, or NULL (v and *cap untouched).
 * Out of line and cold: the callers' fast path is one comparison, and
 * growing is rare (the transaction layer keeps its arrays between uses). */
static __attribute__((noinline, cold, unused)) void *vec_realloc_(void *v, size_t *cap, size_t need,
                                                                  size_t esize)
{
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / esize)
            return NULL;
        ncap *= 2;
    }
    void *p = realloc(v, ncap * esize);
    if (p)
        *cap = ncap;
    return p;
}

/* Make room for `need` elements in all: 0, or -ENOMEM with a unchanged. */
#define vec_reserve(a, need)                                                                       \
    __extension__({                                                                                \
        int vec_r_ = 0;                                                                            \
        size_t vec_need_ = (need);                                                                 \
        if (vec_need_ > (a)->cap) {                                                                \
            size_t vec_cap_ = (a)->cap;                                                            \
            void *vec_p_ = vec_realloc_((a)->v, &vec_cap_, vec_need_, sizeof *(a)->v);             \
            if (vec_p_) {                                                                          \
                (a)->v = vec_p_;                                                                   \
                (a)->cap = vec_cap_;                                                               \
            } else {                                                                               \
                vec_r_ = -ENOMEM;                                                                  \
            }                                                                                      \
        }                                                                                          \
        vec_r_;                                                                                    \
    })

/* Append x: 0, or -ENOMEM with a unchanged. */
#define vec_push(a, x)                                                                             \
    __extension__({                                                                                \
        int vec_e_ = vec_reserve((a), (a)->n + 1);                                                 \
        if (!vec_e_)                                                                               \
            (a)->v[(a)->n++] = (x);                                                                \
        vec_e_;                                                                                    \
    })

/* Hand src's elements and allocation to dst, which must own nothing; src
 * is empty after. Each VEC(T) is a struct type of its own, so two of the
 * same T cannot be assigned to each other: this is how one passes its
 * buffer on (a batch to the next, a queue to the thread that drains it). */
#define vec_move(dst, src)                                                                         \
    ((void)(assert(!(dst)->v && !(dst)->cap), (dst)->v = (src)->v, (dst)->n = (src)->n,            \
            (dst)->cap = (src)->cap, (src)->v = NULL, (src)->n = 0, (src)->cap = 0))

/* Forget the elements, keep the allocation for reuse. */
#define vec_clear(a) ((void)((a)->n = 0))

/* Free the allocation; a is empty again. */
#define vec_free(a) ((void)(free((a)->v), (a)->v = NULL, (a)->n = 0, (a)->cap = 0))

#endif
