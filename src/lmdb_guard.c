/*
 * lmdb_guard.c - the LMDB engine's fault guard: a damaged page becomes an
 * error, not a dead process.
 *
 * LMDB trusts the page numbers and offsets it finds in its pages; a damaged
 * page can make it read past the end of the file (SIGBUS) or out of the map
 * (SIGSEGV). Every LMDB call runs inside engine_guarded(), which catches
 * such a fault in this thread and turns it into -GHOST_ECORRUPT for that
 * one call; a fault anywhere else goes to whoever handled the signal before
 * us. The handler runs with SA_NODEFER so that the jump needs no signal
 * mask restore (a sigsetjmp without a system call).
 */
#include "lmdb_int.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static HOT_TLS sigjmp_buf *guard;
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

int engine_guarded(struct engine *e, int (*fn)(void *ctx), void *ctx, const char *doing)
{
    sigjmp_buf jb, *prev = guard;
    int r;
    guard = &jb;
    if (sigsetjmp(jb, 0) == 0) {
        r = fn(ctx);
    } else if (!strcmp(doing, "committing")) {
        /* Writing through the map into a hole the disk had no room for. */
        guard = prev;
        ghost_log(GHOST_LOG_WARN, "store %s: disk full while writing a page", e->path);
        r = ghost_set_error(-ENOSPC, "store %s: disk full", e->path);
    } else {
        guard = prev;
        if (!e->quiet)
            ghost_log(GHOST_LOG_ERR, "store %s: %s: a damaged page (memory fault)", e->path, doing);
        r = ghost_set_error(-GHOST_ECORRUPT,
                            "store %s: corrupt: %s met a damaged page (a memory fault)", e->path,
                            doing);
    }
    guard = prev;
    return r;
}
