/*
 * backup.c - ghost_backup: a compacted copy of the whole store
 * (engine_copy), checked before it is called a backup.
 *
 * The copy is one read view of the store, so it is consistent whatever
 * writes go on meanwhile: every commit is in it or not, whole. It keeps
 * the store's generations, and its snapshots keep the store's uuid as
 * their origin, so they are the same snapshots (an incremental stream of
 * the store applies to it as to the store); the copy itself gets a uuid
 * of its own, so that snapshots taken later in it and in the store never
 * share an origin. It is then opened read-only, as a store of its own,
 * and scrubbed whole (scrub.c): every record's checksum and every map
 * against its tally. A copy that fails is removed: a backup that is there was read
 * back clean.
 *
 * So that a backup killed half way never leaves a store at dest that
 * opens but is not the copy, the copy is written and checked under a
 * temporary name beside dest (dest.tmp-XXXXXX), and only then renamed to
 * dest, never over a file that appeared there meanwhile, and the
 * directory synced. A failure removes the temporary; a killed backup
 * leaves it, under a name no one takes for the backup.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (r >= 0 && progress) { /* the end, also of a check of one slice */
        struct ghost_progress p = {st.records, st.bytes, 0};
        progress(arg, &p);
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

/* The directory that holds path: its own name in dir (cap bytes). */
static void dir_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
}

static int sync_dir(const char *path)
{
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", dir, strerror(errno));
    int r = fsync(fd) ? ghost_set_error(-errno, "syncing %s: %s", dir, strerror(errno)) : 0;
    close(fd);
    return r;
}

/* Move the checked copy to dest, which must not exist: never over a file
 * that appeared meanwhile. */
static int move_into_place(const char *tmp, const char *dest)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
        return sync_dir(dest);
    if (errno != EINVAL && errno != ENOSYS)
        return ghost_set_error(-errno, "%s: %s", dest, strerror(errno));
    /* A file system without RENAME_NOREPLACE: a link fails on a name that
     * exists as well. */
    if (link(tmp, dest))
        return ghost_set_error(-errno, "%s: %s", dest, strerror(errno));
    unlink(tmp);
    return sync_dir(dest);
}

/* A name beside dest for the copy while it is written and checked. */
static int make_tmp(const char *dest, char *tmp, size_t cap)
{
    if ((size_t)snprintf(tmp, cap, "%s.tmp-XXXXXX", dest) >= cap)
        return ghost_set_error(-ENAMETOOLONG, "%s: name too long", dest);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp); /* engine_copy makes it anew, exclusively */
    return 0;
}

static void remove_copy(const char *path)
{
    char side[4200];
    snprintf(side, sizeof side, "%s-lock", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-changes", path);
    unlink(side);
    unlink(path);
}

/* The copy's uuid is the store's (LMDB copies meta as it is): give it one
 * of its own, so that snapshots taken later in it and in the store never
 * share an origin (a name and an origin are what an incremental's base is
 * known by). The snapshots already there keep the store's as their
 * origin. Opening it writable made its lock and change log files: the
 * backup is one file. */
static int own_identity(const char *path)
{
    struct ghost *c;
    int r = ghost_open(path, NULL, &c);
    if (r)
        return r;
    r = store_new_uuid(&c->store);
    ghost_close(c);
    char side[4200];
    snprintf(side, sizeof side, "%s-lock", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-changes", path);
    unlink(side);
    return r;
}

int ghost_backup(struct ghost *g, const char *dest, ghost_progress_fn progress, void *arg,
                 struct ghost_backup_info *info)
{
    ghost_clear_error();
    struct ghost_backup_info mine;
    struct stat st;
    char tmp[4096];
    info = info ? info : &mine;
    memset(info, 0, sizeof *info);
    if (lstat(dest, &st) == 0)
        return ghost_set_error(-EEXIST, "%s: %s", dest, strerror(EEXIST));
    if (errno != ENOENT)
        return ghost_set_error(-errno, "%s: %s", dest, strerror(errno));
    int r = make_tmp(dest, tmp, sizeof tmp);
    if (r)
        return r;
    r = engine_copy(g->store.eng, tmp, &info->generation);
    if (r)
        return r; /* it removed the file */
    r = own_identity(tmp);
    if (r) {
        remove_copy(tmp);
        return r;
    }
    if (stat(tmp, &st) == 0)
        info->bytes = (uint64_t)st.st_size;
    r = check_copy(tmp, progress, arg, info);
    /* The check's open made the copy a lock file; the backup is one file. */
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", tmp);
    unlink(lock);
    r = r ? r : move_into_place(tmp, dest);
    if (r) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ghost_errmsg());
        remove_copy(tmp);
        ghost_set_error(r, "%s", msg);
    }
    return r;
}
