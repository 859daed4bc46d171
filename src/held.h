/*
 * held.h - whether a lock is held, for assert() only; libghost and fs/ both
 * use it.
 *
 * A normal glibc mutex does not record its owner, so these tell held from
 * free, not who holds it (nor, for the rw lock, how): they catch a caller
 * that forgot the lock. Outside an assert they would take a free lock, so
 * they are never used there; release builds, which define NDEBUG, compile
 * them out.
 */
#ifndef GHOST_HELD_H
#define GHOST_HELD_H

#include <errno.h>
#include <pthread.h>

#define MUTEX_HELD(m) (pthread_mutex_trylock(m) == EBUSY)
#define RWLOCK_HELD(l) (pthread_rwlock_trywrlock(l) != 0)

#endif
