/*
 * daemon_log.c - a mount's daemon's log: the sink chosen from the mount's
 * options, and libfuse's messages routed into it.
 *
 * The daemon has one log, the library's (ghost_log in src/log.c), and this
 * file only points it somewhere: at the file of -o log=PATH, which the
 * command opens before it forks, so that a path that cannot be written is
 * an error at the terminal and nothing is mounted; otherwise at syslog for
 * a daemon that left its terminal, or at stderr for one in the foreground.
 *
 * libfuse reports through fuse_log(), to stderr by default, which a
 * detached daemon has pointed at /dev/null: fuse_set_log_func() hands its
 * messages to route_fuse(), which maps libfuse's levels (syslog's eight)
 * onto the library's four and logs them. The last error libfuse said is
 * also kept, for a mount that fails in libfuse to say why at the terminal.
 */
#define FUSE_USE_VERSION 314
#include "daemon_log.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_log.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"

/* libfuse's last error message; fuse_error_lock protects it (libfuse logs
 * from any thread). */
static pthread_mutex_t fuse_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char fuse_error[256];

int daemon_log_open(const char *path, char *err, size_t size)
{
    if (path[0] != '/') {
        snprintf(err, size, "bad value in option 'log=%s': the log file's absolute path", path);
        return -EINVAL;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        int e = errno;
        snprintf(err, size, "option log=%s: cannot open the log file: %s", path, strerror(e));
        return -e;
    }
    return fd;
}

/* libfuse's level as the library's: emergencies to errors are errors,
 * notices are info. */
static int ghost_level(enum fuse_log_level level)
{
    if (level <= FUSE_LOG_ERR)
        return GHOST_LOG_ERR;
    if (level == FUSE_LOG_WARNING)
        return GHOST_LOG_WARN;
    if (level <= FUSE_LOG_INFO)
        return GHOST_LOG_INFO;
    return GHOST_LOG_DEBUG;
}

static void route_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ghost_log(ghost_level(level), "%s", msg);
    if (level > FUSE_LOG_ERR)
        return;
    pthread_mutex_lock(&fuse_error_lock);
    snprintf(fuse_error, sizeof fuse_error, "%.*s", (int)strcspn(msg, "\n"), msg);
    pthread_mutex_unlock(&fuse_error_lock);
}

void daemon_log_fuse_error(char *buf, size_t size)
{
    pthread_mutex_lock(&fuse_error_lock);
    snprintf(buf, size, "%s", fuse_error);
    pthread_mutex_unlock(&fuse_error_lock);
}

void daemon_log_start(int log_fd, bool detached, bool debug)
{
    if (log_fd >= 0)
        ghost_log_to_fd(log_fd);
    else if (detached)
        ghost_log_to_syslog(true);
    if (debug)
        ghost_log_set_level(GHOST_LOG_DEBUG);
    fuse_set_log_func(route_fuse);
}
