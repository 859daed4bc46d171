/*
 * cli_store.h - a command opening a store as a mount does, and saying in
 * one line why it could not.
 */
#ifndef GHOSTFS_CLI_STORE_H
#define GHOSTFS_CLI_STORE_H

#include <stdbool.h>

#include "fs.h"

/* fs_open the store (read-only if asked). On failure, write
 * "ghostfs: CMD: STORE: why" to stderr and return the negative errno. */
int cli_open_store(const char *cmd, const char *store, bool readonly, struct fs **fs);

#endif
