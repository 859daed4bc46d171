/*
 * cli_store.c - opening a store for a command (cli_store.h): the reasons
 * people need, instead of an errno's words, for the failures they meet.
 */
#include "cli_store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_escape.h"

int cli_open_store(const char *cmd, const char *store, bool readonly, struct fs **fs)
{
    struct fs_options fo;
    fs_options_init(&fo);
    fo.store.readonly = readonly;
    int e = fs_open(store, &fo, fs);
    if (!e)
        return 0;
    const char *m = ghost_errmsg();
    const char *why = m && *m ? m : strerror(-e);
    if (e == -ENOENT)
        why = "no such store";
    else if (e == -EMEDIUMTYPE)
        why = "a ghost object store, but not a ghostfs filesystem";
    else if (e == -EPROTONOSUPPORT)
        why = "a ghostfs filesystem of a newer version";
    /* The library's message may start with the store's name: ours does. */
    size_t n = strlen(store);
    if (!strncmp(why, store, n) && !strncmp(why + n, ": ", 2))
        why += n + 2;
    fprintf(stderr, "ghostfs: %s: ", cmd);
    escape_text(stderr, store, n);
    fprintf(stderr, ": %s\n", why);
    return e;
}
