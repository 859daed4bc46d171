/*
 * log.c - the library's one way to report: a leveled logger and the
 * per-thread "last error" message behind ghost_errmsg().
 *
 * Library code never prints on its own. A failure sets the calling thread's
 * message (ghost_set_error) and, when it is worth an operator's attention
 * (a damaged record, a full disk), also logs it. The log goes to stderr by
 * default; the daemon can route it to syslog with ghost_log_to_syslog().
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static _Thread_local char last_error[512];
/* Whether last_error belongs to this thread's last call: cleared on entry
 * to every public function that returns a status (ghost_clear_error), one
 * store on the hot paths, where the message itself is never touched. */
HOT_TLS bool ghost_error_set;
static const int log_level = GHOST_LOG_WARN;
static bool use_syslog;

void ghost_log_to_syslog(bool on)
{
    if (on && !use_syslog)
        openlog("ghostfs", LOG_PID, LOG_DAEMON);
    use_syslog = on;
}

void ghost_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (use_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", buf);
    } else {
        static const char *name[] = {"error", "warning", "info", "debug"};
        fprintf(stderr, "ghostfs: %s: %s\n", name[level], buf);
    }
}

void ghost_log_warning(const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ghost_log(GHOST_LOG_WARN, "%s", buf);
}

void ghost_log_error(const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ghost_log(GHOST_LOG_ERR, "%s", buf);
}

int ghost_set_error(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    ghost_error_set = true;
    return err;
}

int ghost_report_damage(struct ghost *g, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    atomic_fetch_add_explicit(&g->store.damage, 1, memory_order_relaxed);
    ghost_log(GHOST_LOG_ERR, "store %s: %s", g->store.path, what);
    return ghost_set_error(-GHOST_ECORRUPT, "store %s: corrupt: %s", g->store.path, what);
}

const char *ghost_errmsg(void)
{
    return ghost_error_set ? last_error : "";
}

const char *ghost_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
    case GHOST_ECONFLICT:
        return "transaction conflict: another transaction changed what this one read";
    case GHOST_ECORRUPT:
        return "damaged record in the store (checksum mismatch or bad page)";
    case GHOST_EFORMAT:
        return "not a usable ghostfs store";
    case GHOST_EDISCONNECT:
        return "the connection to the store dropped";
    default:
        return strerror(err);
    }
}
