/*
 * lmdb_guard.c - the LMDB engine's guard: a damaged page becomes an error,
 * not a dead process.
 *
 * LMDB checksums nothing and trusts the page numbers, flags and offsets it
 * finds in its pages. A damaged page can make it read past the end of the
 * file (SIGBUS) or out of the map (SIGSEGV), or fail one of its own
 * assertions (a branch page with one entry, a "leaf" that is not one),
 * after which LMDB calls abort(). Every LMDB call that reads pages runs
 * inside engine_guarded(), which catches both in this thread and turns
 * them into -GHOST_ECORRUPT for that one call: the fault handler and the
 * assertion hook (mdb_env_set_assert, installed on every environment) jump
 * back to the guard with siglongjmp. A fault anywhere else goes to whoever
 * handled the signal before us, and an assertion outside a guard is logged
 * and left to abort as LMDB means it to. The handler runs with SA_NODEFER
 * so that the jump needs no signal mask restore (a sigsetjmp without a
 * system call).
 *
 * Every damage met this way is logged (the store, what was being done,
 * LMDB's assertion if it was one) and counted (engine_damage). What the
 * jump leaves behind is the guard's caller's to clean up: engine.h says
 * how (engine_guarded). A view needs nothing of LMDB's undone. A write
 * transaction is aborted, which is safe as long as LMDB had not linked a
 * cursor on its own stack into it when the jump left that stack: mdb_put
 * and mdb_del do so for the whole call, so engine_put and engine_del use
 * cursors of ours (engine_lmdb.c). LMDB still does so for a moment inside
 * a page split or merge; damage met exactly there would make the abort
 * free a stack address. And no guard undoes what LMDB writes while it
 * trusts a damaged page it does not check (merging a zeroed neighbour
 * into a leaf corrupts its own heap): the guard keeps reads safe, and
 * writes whose own path meets the damage; lmdb_pages.c checks the pages a
 * delete would merge before LMDB reads them.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* What a jump carries besides a signal number: an assertion failed. */
#define JUMP_ASSERT 0x10000

static HOT_TLS sigjmp_buf *guard;
/* The failed assertion's text: LMDB's buffer is gone once we jumped. */
static HOT_TLS char assert_text[256];
static struct sigaction old_bus, old_segv;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (guard)
        siglongjmp(*guard, sig);
    struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
    if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL); /* returning re-runs the access: default action */
    }
}

/* LMDB calls this when one of its assertions fails, and abort() when it
 * returns. */
static void on_assert(MDB_env *env, const char *msg)
{
    if (guard) {
        snprintf(assert_text, sizeof assert_text, "%s", msg);
        siglongjmp(*guard, JUMP_ASSERT);
    }
    struct engine *e = mdb_env_get_userctx(env);
    ghost_log(GHOST_LOG_ERR, "store %s: LMDB failed an assertion outside a guarded call: %s",
              e ? e->path : "?", msg);
}

static void install_once(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
}

void lmdb_guard_install(void)
{
    pthread_once(&guard_once, install_once);
}

void lmdb_guard_env(MDB_env *env)
{
    mdb_env_set_assert(env, on_assert);
}

void lmdb_damage(struct engine *e)
{
    atomic_fetch_add_explicit(&e->damage, 1, memory_order_relaxed);
}

uint64_t engine_damage(struct engine *e)
{
    return atomic_load_explicit(&e->damage, memory_order_relaxed);
}

/* Does LMDB write its pages through the map (MDB_WRITEMAP)? */
static bool writes_through_map(struct engine *e)
{
    unsigned flags = 0;
    return e->env && mdb_env_get_flags(e->env, &flags) == 0 && (flags & MDB_WRITEMAP);
}

/* After a jump: what to tell the caller. */
static __attribute__((cold, noinline)) int jumped(struct engine *e, int why, const char *doing)
{
    if (why == SIGBUS && !strcmp(doing, "committing") && writes_through_map(e)) {
        /* Writing through the map into a hole the disk had no room for
         * (without MDB_WRITEMAP a full disk is an error of write(2)). */
        ghost_log(GHOST_LOG_WARN, "store %s: disk full while writing a page", e->path);
        return ghost_set_error(-ENOSPC, "store %s: disk full", e->path);
    }
    lmdb_damage(e);
    const char *how = why == JUMP_ASSERT ? "LMDB: " : "";
    const char *what = why == JUMP_ASSERT ? assert_text : "a memory fault";
    if (!e->quiet)
        ghost_log(GHOST_LOG_ERR, "store %s: %s met a damaged page (%s%s)", e->path, doing, how,
                  what);
    return ghost_set_error(-GHOST_ECORRUPT, "store %s: corrupt: %s met a damaged page (%s%s)",
                           e->path, doing, how, what);
}

int engine_guarded(struct engine *e, int (*fn)(void *ctx), void *ctx, const char *doing)
{
    sigjmp_buf jb, *prev = guard;
    guard = &jb;
    int why = sigsetjmp(jb, 0);
    if (why == 0) {
        int r = fn(ctx);
        guard = prev;
        return r;
    }
    guard = prev;
    return jumped(e, why, doing);
}
