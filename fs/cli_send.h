/*
 * cli_send.h - `ghostfs send`, `receive` and `backup` (cli_send.c): a
 * snapshot as a stream of bytes, a stream into another store, and a
 * checked, compacted copy of a whole store.
 */
#ifndef GHOSTFS_CLI_SEND_H
#define GHOSTFS_CLI_SEND_H

#include <stdio.h>

/* The usage lines, for ghostfs --help. */
void send_usage(FILE *f);

/* Each runs its command (argv[0] is its name) and returns the exit
 * status: 0 done, 1 failed (one line on stderr), 2 a usage error. */
int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_backup(int argc, char **argv);

#endif
