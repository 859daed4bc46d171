/*
 * cli_status.h - `ghostfs status`: a store's generation, space and
 * crawler, as text or JSON (cli_status.c).
 */
#ifndef GHOSTFS_CLI_STATUS_H
#define GHOSTFS_CLI_STATUS_H

#include <stdio.h>

/* The usage line of `ghostfs status`, for ghostfs --help. */
void status_usage(FILE *f);

/* Run `ghostfs status ...`: argv[0] is "status". Returns the exit status:
 * 0 shown, 1 failed (one line on stderr), 2 a usage error. */
int cmd_status(int argc, char **argv);

#endif
