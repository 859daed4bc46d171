/*
 * cli_remount.c - `mount -o remount,...`, on both of its sides.
 *
 * mount(8) runs its helper (mount.fuse.ghostfs) for a remount with the
 * mount's options as the mount table shows them, "remount", and the new
 * ones. The kernel changes what it keeps itself (read-only, nosuid, nodev,
 * noexec, sync, dirsync, the atime flags) on mount(2) with MS_REMOUNT, and
 * does not tell the FUSE daemon; the daemon's own state (read-only in the
 * store, its durability, its cache and buffers) is changed by a request the
 * helper sends it: an ioctl on the mount's root (GHOSTFS_IOC_REMOUNT in
 * fuse_ops.h), answered with an error and a message.
 *
 * The order keeps every write: the daemon checks every option first and
 * refuses the lot, naming them, if one cannot change while mounted. Going
 * read-only, the kernel goes first (it refuses the remount while a file is
 * open for writing, and from then on takes no write), then the daemon
 * commits and syncs what it buffers and refuses writes. Going writable,
 * the daemon goes first, then the kernel.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cli_mount.h"
#include "fuse_ops.h"

/* The flags mount(2) takes with MS_REMOUNT that a list may set. */
#define REMOUNT_FLAGS                                                                              \
    (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_NOATIME |     \
     MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME)

static const char *const sync_names[] = {"batch", "always", "none"};

/* Append ",fmt..." (no comma first) to buf. */
static void add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t size, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    if (n && n + 1 < size)
        buf[n++] = ',', buf[n] = 0;
    va_start(ap, fmt);
    vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
}

/* Whether the comma separated list holds the option o, whole. */
static bool has_option(const char *list, const char *o)
{
    size_t n = strlen(o);
    for (const char *p = list; p && *p; p = strchr(p, ',')) {
        p += *p == ',';
        if (!strncmp(p, o, n) && (p[n] == ',' || !p[n]))
            return true;
    }
    return false;
}

/* ---- the helper's side -------------------------------------------------------------- */

/* Send r to the daemon of mnt; 0, or 1 after printing why not. */
static int ask_daemon(const char *mnt, struct ghostfs_remount *r)
{
    int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cli_fail("remount: %s: %s", mnt, strerror(errno));
    int rc = ioctl(fd, GHOSTFS_IOC_REMOUNT, r);
    int err = errno;
    close(fd);
    if (rc < 0)
        return cli_fail("remount: %s: the daemon did not take the request: %s", mnt,
                        err == ENOTTY ? "it is too old to remount" : strerror(err));
    if (r->error)
        return cli_fail("remount: %s: %s", mnt, r->msg);
    return 0;
}

/* The options of m that are the daemon's to take, as a -o list. */
static void daemon_options(const struct mount_args *m, char *buf, size_t size)
{
    *buf = 0;
    add(buf, size, "%s", m->fo.store.readonly ? "ro" : "rw");
    if (m->vfs_sync)
        add(buf, size, "sync");
    if (m->dirsync)
        add(buf, size, "dirsync");
    if (m->given & GIVEN_SYNC)
        add(buf, size, "sync=%s", sync_names[m->sync]);
    if (m->given & GIVEN_CACHE)
        add(buf, size, "cache_size=%zu", m->fo.store.cache_bytes);
    if (m->given & GIVEN_WBUF)
        add(buf, size, "write_buffer=%zu", m->fo.write_buffer);
    if (m->given & GIVEN_INTERVAL)
        add(buf, size, "commit_interval=%u", m->fo.commit_interval_ms);
    if (m->given & GIVEN_SPIN)
        add(buf, size, "spin=%u", m->spin_us);
    if (m->given & GIVEN_READ_AHEAD)
        add(buf, size, "read_ahead=%u", m->read_ahead_kb);
    if (m->given & GIVEN_WRITEBACK)
        add(buf, size, "writeback");
    if (m->given & GIVEN_ROLLBACK)
        add(buf, size, "accept_rollback");
    /* a name or path may hold a comma: escaped, as mount_option_next reads it */
    char named[sizeof m->log_path + 16];
    if (m->given & GIVEN_SNAPSHOT) {
        snprintf(named, sizeof named, "snapshot=%s", m->fo.snapshot);
        mount_option_add(buf, size, named);
    }
    if (m->given & GIVEN_LOG) {
        snprintf(named, sizeof named, "log=%s", m->log_path);
        mount_option_add(buf, size, named);
    }
    if (m->given & GIVEN_CRAWL_CPU)
        add(buf, size, "crawl_cpu=%u.%u", m->fo.crawl.cpu_permille / 10,
            m->fo.crawl.cpu_permille % 10);
    if (m->given & GIVEN_CRAWL_SLICE)
        add(buf, size, "crawl_slice=%u", m->fo.crawl.slice_records);
    if (m->given & GIVEN_CRAWL_CYCLE)
        add(buf, size, "crawl_cycle=%u", m->fo.crawl.cycle_seconds);
    if (has_option(m->fuse_opts, "auto_unmount"))
        add(buf, size, "auto_unmount");
}

int cmd_remount(struct mount_args *m, bool whole_list)
{
    char dev[64], type[256], super[2048], fixed[1024] = "";
    if (!mount_info(m->mnt, dev, sizeof dev, type, sizeof type, super, sizeof super))
        return cli_fail("remount: %s: not mounted", m->mnt);
    if (strcmp(type, "fuse.ghostfs"))
        return cli_fail("remount: %s: not a ghostfs mount (%s)", m->mnt, type);
    if (geteuid() != 0)
        return cli_fail("remount: %s: only root can remount", m->mnt);
    /* mount(2) with MS_REMOUNT clears every flag it is not given. mount(8)
     * hands its helper the whole list (the mount table's and the new
     * options, a default such as dev or exec said by leaving its opposite
     * out); a direct `ghostfs mount -o remount,ro` names only what changes:
     * the mount keeps the others. */
    unsigned long cur;
    if (!whole_list) {
        if (!mount_vfs_flags(m->mnt, &cur))
            return cli_fail("remount: %s: cannot read its options from the mount table", m->mnt);
        m->vfs_set = (cur & ~m->vfs_named) | (m->vfs_set & m->vfs_named);
        mount_args_settle(m);
    }
    /* What FUSE's kernel side fixed at mount time: mount(8) hands back the
     * mount's own values, which are fine; any other cannot change. */
    char *save = NULL, copy[sizeof m->fuse_opts];
    snprintf(copy, sizeof copy, "%s", m->kernel_opts);
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (!has_option(super, !strcmp(o, "allow_root") ? "allow_other" : o))
            add(fixed, sizeof fixed, "%s", o);
    /* fsname= and subtype= as the mount table has them are fine (mount(8)
     * hands an fstab line's options to every remount); auto_unmount is
     * the daemon's to compare (daemon_options passes it on). */
    char source[PATH_MAX] = "";
    if (!mount_source(m->mnt, source, sizeof source))
        return cli_fail("remount: %s: not mounted", m->mnt);
    snprintf(copy, sizeof copy, "%s", m->fuse_opts);
    char *rest = copy;
    for (char *o; (o = mount_option_next(&rest));)
        if ((!strncmp(o, "fsname=", 7) && strcmp(o + 7, source)) ||
            (!strncmp(o, "subtype=", 8) && strcmp(o + 8, type + strlen("fuse."))))
            add(fixed, sizeof fixed, "%s", o);
    if (*fixed)
        return cli_fail("remount: %s: cannot change while mounted: %s (unmount and mount again)",
                        m->mnt, fixed);

    struct ghostfs_remount r = {.flags = GHOSTFS_REMOUNT_CHECK};
    daemon_options(m, r.opts, sizeof r.opts);
    if (ask_daemon(m->mnt, &r))
        return 1;
    bool to_ro = m->fo.store.readonly, was_ro = has_option(super, "ro");
    r.flags = 0;
    if (!to_ro && ask_daemon(m->mnt, &r))
        return 1;
    if (mount(m->store, m->mnt, NULL, MS_REMOUNT | (m->vfs_set & REMOUNT_FLAGS), NULL) < 0) {
        int err = errno;
        if (!to_ro && was_ro) { /* the daemon went writable for nothing: back */
            struct ghostfs_remount back = {.opts = "ro"};
            ask_daemon(m->mnt, &back);
        }
        return cli_fail("remount: %s: %s", m->mnt,
                        err == EBUSY && to_ro ? "a file is open for writing" : strerror(err));
    }
    if (to_ro && ask_daemon(m->mnt, &r))
        return 1;
    return 0;
}

/* ---- the daemon's side -------------------------------------------------------------- */

/* One remount at a time; it also guards m, which only remounts change. */
static pthread_mutex_t remount_lock = PTHREAD_MUTEX_INITIALIZER;

static void answer(struct ghostfs_remount *r, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer(struct ghostfs_remount *r, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->error = e;
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* Parse r's list into n; false (r answered) if an option is bad. */
static bool parse_request(struct ghostfs_remount *r, struct mount_args *n)
{
    char copy[sizeof r->opts], *rest = copy;
    snprintf(copy, sizeof copy, "%s", r->opts);
    mount_args_init(n);
    n->remount = true;
    for (char *o; (o = mount_option_next(&rest));) {
        cli_fail_to(r->msg, sizeof r->msg);
        int bad = mount_option(n, o);
        cli_fail_to(NULL, 0);
        if (bad) {
            r->error = -EINVAL;
            return false;
        }
    }
    mount_args_settle(n);
    return true;
}

/* The options of n that cannot change while mounted and would, into buf. */
static void fixed_options(const struct mount_args *cur, const struct mount_args *n, char *buf,
                          size_t size)
{
    *buf = 0;
    if ((n->given & GIVEN_SPIN) && n->spin_us != cur->spin_us)
        add(buf, size, "spin=%u", n->spin_us);
    if ((n->given & GIVEN_READ_AHEAD) && n->read_ahead_kb != cur->read_ahead_kb)
        add(buf, size, "read_ahead=%u", n->read_ahead_kb);
    if ((n->given & GIVEN_WRITEBACK) && !cur->writeback)
        add(buf, size, "writeback");
    if ((n->given & GIVEN_ROLLBACK) && !cur->fo.store.accept_rollback)
        add(buf, size, "accept_rollback");
    /* mount(8) names it again on every remount of an fstab line that has
     * it; it cannot be turned on (nor off: there is no word for that). */
    if (has_option(n->fuse_opts, "auto_unmount") && !has_option(cur->fuse_opts, "auto_unmount"))
        add(buf, size, "auto_unmount");
    if ((n->given & GIVEN_SNAPSHOT) &&
        (!cur->fo.snapshot || strcmp(n->fo.snapshot, cur->fo.snapshot)))
        add(buf, size, "snapshot=%s", n->fo.snapshot);
    /* The log file is opened once, before the daemon leaves its terminal;
     * an fstab line's log= comes back with every remount, and is fine. */
    if ((n->given & GIVEN_LOG) && strcmp(n->log_path, cur->log_path))
        add(buf, size, "log=%s", n->log_path);
}

/* The steps that can fail go first, each undone if a later one fails (the
 * store's read-only state last: going read-only commits what is buffered);
 * only then does cur change, and the write buffer and the commit interval,
 * which cannot fail. */
static void apply(struct mount_args *cur, struct fs *fs, const struct mount_args *n,
                  struct ghostfs_remount *r)
{
    int e = 0;
    size_t cache = n->given & GIVEN_CACHE ? n->fo.store.cache_bytes : cur->fo.store.cache_bytes;
    struct ghost_crawl_options crawl = cur->fo.crawl;
    bool crawl_given = n->given & (GIVEN_CRAWL_CPU | GIVEN_CRAWL_SLICE | GIVEN_CRAWL_CYCLE);
    if (n->given & GIVEN_CRAWL_CPU)
        crawl.cpu_permille = n->fo.crawl.cpu_permille;
    if (n->given & GIVEN_CRAWL_SLICE)
        crawl.slice_records = n->fo.crawl.slice_records;
    if (n->given & GIVEN_CRAWL_CYCLE)
        crawl.cycle_seconds = n->fo.crawl.cycle_seconds;
    enum ghost_sync base = n->given & GIVEN_SYNC ? n->sync : cur->sync;
    enum ghost_sync eff = n->vfs_sync || n->dirsync ? GHOST_SYNC_ALWAYS : base;
    enum ghost_sync was = cur->vfs_sync || cur->dirsync ? GHOST_SYNC_ALWAYS : cur->sync;

    if ((n->given & GIVEN_CACHE) && (e = fs_set_cache_size(fs, cache)))
        return answer(r, e, "cache_size: %s", strerror(-e));
    if (crawl_given && (e = fs_set_crawl(fs, &crawl))) {
        if (e == -ESRCH)
            answer(r, -EINVAL, "crawl_*: no crawler runs on a read-only or snapshot mount");
        else
            answer(r, e, "the crawler: %s", strerror(-e));
        goto undo_cache;
    }
    if ((e = fs_set_sync(fs, eff))) {
        answer(r, e, "changing the sync mode to %s: %s", sync_names[eff], strerror(-e));
        goto undo_crawl;
    }
    e = fs_set_readonly(fs, n->fo.store.readonly);
    if (e && n->fo.store.readonly)
        answer(r, e,
               "committing what was written before going read-only: %s (it stays "
               "buffered; writes are refused)",
               strerror(-e));
    else if (e)
        answer(r, e, "%s", strerror(-e));
    if (e)
        goto undo_sync;

    cur->fo.store.cache_bytes = cache;
    cur->fo.crawl = crawl;
    cur->sync = base;
    cur->vfs_sync = n->vfs_sync;
    cur->dirsync = n->dirsync;
    if (n->given & GIVEN_WBUF)
        fs_set_write_buffer(fs, cur->fo.write_buffer = n->fo.write_buffer);
    if (n->given & GIVEN_INTERVAL)
        fs_set_commit_interval(fs, cur->fo.commit_interval_ms = n->fo.commit_interval_ms);
    answer(r, 0, "%s", "");
    return;

undo_sync: /* what was set before can be set again */
    fs_set_sync(fs, was);
undo_crawl:
    if (crawl_given)
        fs_set_crawl(fs, &cur->fo.crawl);
undo_cache:
    if (n->given & GIVEN_CACHE)
        fs_set_cache_size(fs, cur->fo.store.cache_bytes);
}

void daemon_remount(struct mount_args *cur, struct fs *fs, struct ghostfs_remount *r)
{
    struct mount_args n;
    char fixed[512];
    pthread_mutex_lock(&remount_lock);
    if (!parse_request(r, &n))
        goto out;
    fixed_options(cur, &n, fixed, sizeof fixed);
    if (*fixed) {
        answer(r, -EINVAL, "cannot change while mounted: %s (unmount and mount again)", fixed);
        goto out;
    }
    if (!n.fo.store.readonly && cur->fo.snapshot) {
        answer(r, -EROFS,
               "snapshot %s is mounted alone, which is read-only: it cannot be remounted rw "
               "(mount the live tree to write)",
               cur->fo.snapshot);
        goto out;
    }
    if (!n.fo.store.readonly && cur->fo.store.readonly) {
        answer(r, -EROFS,
               "mounted with ro, the store was opened read-only: to write, unmount "
               "and mount it rw");
        goto out;
    }
    if (r->flags & GHOSTFS_REMOUNT_CHECK)
        answer(r, 0, "%s", "");
    else
        apply(cur, fs, &n, r);
out:
    free((char *)n.fo.snapshot); /* parse_request's copy */
    pthread_mutex_unlock(&remount_lock);
}
