/*
 * cli_inspect.h - `ghostfs inspect`: one object of a store decoded, as
 * text or JSON (cli_inspect.c).
 */
#ifndef GHOSTFS_CLI_INSPECT_H
#define GHOSTFS_CLI_INSPECT_H

#include <stdio.h>

/* The usage line of `ghostfs inspect`, for ghostfs --help. */
void inspect_usage(FILE *f);

/* Run `ghostfs inspect ...`: argv[0] is "inspect". Returns the exit
 * status: 0 decoded, 1 failed, 2 a usage error, 3 decoded and damaged. */
int cmd_inspect(int argc, char **argv);

#endif
