/*
 * daemon_log.h - where a mount's daemon logs: the file of -o log=PATH, or
 * syslog once it has left its terminal, or stderr in the foreground; and
 * libfuse's own messages routed into the same log.
 */
#ifndef GHOSTFS_DAEMON_LOG_H
#define GHOSTFS_DAEMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Open the log file path (absolute) to append to, creating it (mode 0640)
 * if need be: before the daemon leaves its terminal, so that a bad path
 * fails the mount. Returns the descriptor (close-on-exec), or a negative
 * errno with why (naming the option and path) in err. */
int daemon_log_open(const char *path, char *err, size_t size);

/* The daemon's log from now on: the file log_fd (>= 0, from
 * daemon_log_open), else syslog when detached, else stderr. With debug
 * (-d), debug messages too. libfuse's messages go to the same log. */
void daemon_log_start(int log_fd, bool detached, bool debug);

/* libfuse's last error message (without its newline), "" if none: for the
 * report of a mount that failed in libfuse, whose reason went to the log. */
void daemon_log_fuse_error(char *buf, size_t size);

#endif
