/*
 * cli_snapshot.h - `ghostfs snapshot`: take, list and delete the named
 * snapshots of a store (cli_snapshot.c).
 */
#ifndef GHOSTFS_CLI_SNAPSHOT_H
#define GHOSTFS_CLI_SNAPSHOT_H

#include <stdio.h>

/* The usage lines of `ghostfs snapshot`, for ghostfs --help. */
void snapshot_usage(FILE *f);

/* Run `ghostfs snapshot ...`: argv[0] is "snapshot". Returns the exit
 * status: 0 done, 1 failed (one line on stderr), 2 a usage error. */
int cmd_snapshot(int argc, char **argv);

#endif
