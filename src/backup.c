/*
 * backup.c - ghost_backup: a compacted copy of the whole store
 * (engine_copy), checked before it is called a backup.
 *
 * The copy is one read view of the store, so it is consistent whatever
 * writes go on meanwhile: every commit is in it or not, whole. It keeps
 * the store's uuid and generations, so its snapshots are the same
 * snapshots (an incremental stream of the store applies to it as to the
 * store). It is then opened read-only, as a store of its own, and scrubbed
 * whole (scrub.c): every record's checksum and every map against its
 * tally. A copy that fails is removed: a backup that is there was read
 * back clean.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void count_finding(void *arg, const struct ghost_finding *f)
{
    (void)f;
    ++*(uint64_t *)arg;
}

/* Scrub the copy at path whole; findings into info. */
static int check_copy(const char *path, ghost_progress_fn progress, void *arg,
                      struct ghost_backup_info *info)
{
    struct ghost_options o;
    struct ghost *c;
    ghost_options_init(&o);
    o.readonly = true;
    int r = ghost_open(path, &o, &c);
    if (r)
        return r;
    struct ghost_scrub_cursor cur = {0};
    struct ghost_scrub_stats st = {0};
    struct ghost_scrub_visit v = {.finding = count_finding, .arg = &info->findings};
    while ((r = ghost_scrub(c, &cur, 10000, &v, &st)) == 0 || r == -GHOST_ECONFLICT) {
        if (progress) {
            struct ghost_progress p = {st.records, st.bytes, 0};
            progress(arg, &p);
        }
    }
    ghost_close(c);
    info->records = st.records;
    if (r < 0)
        return r;
    if (info->findings)
        return ghost_set_error(-GHOST_ECORRUPT,
                               "the copy %s fails its check (%llu findings): removed", path,
                               (unsigned long long)info->findings);
    return 0;
}

int ghost_backup(struct ghost *g, const char *dest, ghost_progress_fn progress, void *arg,
                 struct ghost_backup_info *info)
{
    ghost_clear_error();
    struct ghost_backup_info mine;
    struct stat st;
    info = info ? info : &mine;
    memset(info, 0, sizeof *info);
    int r = engine_copy(g->store.eng, dest, &info->generation);
    if (r)
        return r;
    if (stat(dest, &st) == 0)
        info->bytes = (uint64_t)st.st_size;
    r = check_copy(dest, progress, arg, info);
    /* The check's open made the copy a lock file; the backup is one file. */
    char lock[4096];
    snprintf(lock, sizeof lock, "%s-lock", dest);
    unlink(lock);
    if (r) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ghost_errmsg());
        unlink(dest);
        ghost_set_error(r, "%s", msg);
    }
    return r;
}
