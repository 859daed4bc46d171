/*
 * cli_diff.h - `ghostfs diff`, what changed since a snapshot (cli_diff.c).
 */
#ifndef GHOSTFS_CLI_DIFF_H
#define GHOSTFS_CLI_DIFF_H

#include <stdio.h>

/* The usage line of `ghostfs diff`, for ghostfs --help. */
void diff_usage(FILE *f);

/* Run `ghostfs diff ...`: argv[0] is "diff". Returns the exit status: 0
 * done, 1 failed, 2 a usage error. */
int cmd_diff(int argc, char **argv);

#endif
