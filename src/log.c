/*
 * log.c - the library's one way to report: a leveled logger and the
 * per-thread "last error" message behind ghost_errmsg().
 *
 * Library code never prints on its own. A failure sets the calling thread's
 * message (ghost_set_error) and, when it is worth an operator's attention
 * (a damaged record, a full disk), also logs it. Callers above the library
 * (the daemon, and libfuse's messages it routes here) log through the same
 * function, so that there is one sink and one list of levels.
 *
 * The sink is one of three: stderr (the default: "ghostfs: error: ..."),
 * syslog (a daemon without a terminal), or a file descriptor (a log file
 * of the operator's: every line starts with its local time to the
 * millisecond, the process and the level). The sink and the level may be
 * switched while other threads log: both are atomics, read once per line.
 * Each line is one write(2); on a file opened O_APPEND, lines of several
 * threads, and of several daemons sharing one file, never interleave.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char last_error[512];
/* Whether last_error belongs to this thread's last call: cleared on entry
 * to every public function that returns a status (ghost_clear_error), one
 * store on the hot paths, where the message itself is never touched. */
HOT_TLS bool ghost_error_set;

enum sink { SINK_STDERR, SINK_SYSLOG, SINK_FD };
static _Atomic int sink = SINK_STDERR;
static _Atomic int sink_fd = -1; /* SINK_FD's; the caller's, never closed here */
/* The least urgent level kept; -1: the sink's default (see ghost.h). */
static _Atomic int level_set = -1;

static const char *const level_name[] = {"error", "warning", "info", "debug"};

void ghost_log_to_syslog(bool on)
{
    if (on) {
        /* LOG_NDELAY: connect now, while the process can still see its
         * syslog socket, not at the first message */
        openlog("ghostfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        atomic_store(&sink, SINK_SYSLOG);
    } else {
        atomic_store(&sink, SINK_STDERR);
    }
}

void ghost_log_to_fd(int fd)
{
    if (fd < 0) {
        atomic_store(&sink, SINK_STDERR);
        return;
    }
    atomic_store(&sink_fd, fd);
    atomic_store(&sink, SINK_FD);
}

void ghost_log_set_level(int level)
{
    assert(level >= -1 && level <= GHOST_LOG_DEBUG);
    atomic_store(&level_set, level);
}

/* Write all of buf to fd, as one write(2) unless a signal or a short write
 * (a full disk) cuts it. A log line that cannot be written is dropped:
 * there is nowhere left to say so. */
static void write_line(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* "2024-05-01T12:00:00.123+0200 ghostfs[PID]: " into buf. */
static size_t stamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, size - n, ".%03ld", ts.tv_nsec / 1000000);
    n += m > 0 ? (size_t)m : 0;
    n += strftime(buf + n, size - n, "%z", &tm);
    m = snprintf(buf + n, size - n, " ghostfs[%ld]: ", (long)getpid());
    return n + (m > 0 ? (size_t)m : 0);
}

void ghost_logv(int level, const char *fmt, va_list ap)
{
    char line[1200];
    assert(level >= GHOST_LOG_ERR && level <= GHOST_LOG_DEBUG);
    int to = atomic_load(&sink);
    int keep = atomic_load(&level_set);
    if (keep < 0)
        keep = to == SINK_STDERR ? GHOST_LOG_WARN : GHOST_LOG_INFO;
    if (level > keep)
        return;
    size_t head = 0;
    if (to == SINK_FD)
        head = stamp(line, sizeof line);
    else if (to == SINK_STDERR)
        head = (size_t)snprintf(line, sizeof line, "ghostfs: ");
    if (to != SINK_SYSLOG)
        head += (size_t)snprintf(line + head, sizeof line - head, "%s: ", level_name[level]);
    assert(head < sizeof line - 2);
    size_t room = sizeof line - head - 1; /* one byte kept for the newline */
    int m = vsnprintf(line + head, room, fmt, ap);
    size_t len = head + (m < 0 ? 0 : (size_t)m < room ? (size_t)m : room - 1); /* cut */
    /* One message, one line: a newline in it (libfuse ends its messages
     * with one) would make a reader take what follows for another line. */
    while (len > head && line[len - 1] == '\n')
        len--;
    for (size_t i = head; i < len; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    if (to == SINK_SYSLOG) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        line[len] = 0;
        syslog(prio[level], "%s", line);
        return;
    }
    line[len++] = '\n';
    write_line(to == SINK_FD ? atomic_load(&sink_fd) : STDERR_FILENO, line, len);
}

void ghost_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ghost_logv(level, fmt, ap);
    va_end(ap);
}

void ghost_log_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ghost_logv(GHOST_LOG_WARN, fmt, ap);
    va_end(ap);
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
