/*
 * notify.c - the notifier: a queue of inodes other daemons changed, and the
 * thread that tells the sink (the kernel) what to forget about each.
 *
 * The kernel keeps entries and attributes for an hour (fuse_ops.c), so an
 * invalidation that is lost leaves a stale name or stale data visible for
 * that long. Hence:
 *   - The queue grows by realloc; when that fails, or when the library
 *     reports that it dropped its whole cache (OID 0), the flag `all` is
 *     set instead: the thread then invalidates every inode the kernel knows
 *     and every stale name in every such directory - a superset of what was
 *     asked. If the thread itself runs out of memory while delivering, it
 *     sets `all` again and retries after RETRY_MS: delivery is late, never
 *     skipped.
 *   - What the thread needs from the store (does a name the kernel knows
 *     still lead to the same inode) is read in a read view that ends before
 *     the sink is called. A call into the kernel may wait for requests in
 *     flight, and those may wait for a map resize, which waits for every
 *     view to end: a view held across the call could deadlock the mount.
 *
 * Locks: hook_lock -> nt->lock -> nothing. hook_lock guards fs.notify;
 * nt->lock protects the queue, `all` and `stop`. The thread holds neither,
 * nor fs.itab_lock, while it calls the sink or reads the store. enqueue()
 * runs on the library's thread that noticed the change.
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsint.h"

/* How long the thread waits before it tries again after running out of
 * memory. */
#define RETRY_MS 100

struct notifier {
    struct fs *fs;
    struct notify_sink sink;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t *q; /* inodes to invalidate, in the order reported */
    size_t n, cap;
    bool all; /* invalidate everything the kernel knows (q is moot) */
    bool stop;
    pthread_t thread;
};

/* realloc, which tests can make fail (FS_FAULT_ALLOC). */
static void *nt_realloc(void *p, size_t bytes)
{
    if (fs_fault(FS_FAULT_ALLOC))
        return NULL;
    return realloc(p, bytes);
}

/* ---- the library's reports -------------------------------------------------------- */

/* Guards every fs's notify and notify_arg: fs_set_notify must not return
 * while the previous callback runs (its notifier is freed next). Taken
 * once per OID another process changed, never on a request's path. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;

void notify_invalidate(void *arg, uint64_t oid)
{
    struct fs *fs = arg;
    pthread_mutex_lock(&hook_lock);
    if (fs->notify)
        fs->notify(fs->notify_arg, oid);
    pthread_mutex_unlock(&hook_lock);
}

void fs_set_notify(struct fs *fs, fs_notify_fn fn, void *arg)
{
    pthread_mutex_lock(&hook_lock);
    fs->notify = fn;
    fs->notify_arg = arg;
    pthread_mutex_unlock(&hook_lock);
}

/* What the library reports, queued (through fs_set_notify). */
static void enqueue(void *arg, uint64_t ino)
{
    struct notifier *nt = arg;
    pthread_mutex_lock(&nt->lock);
    if (ino == 0) {
        nt->all = true;
    } else if (!nt->all) {
        if (nt->n == nt->cap) {
            size_t cap = nt->cap ? nt->cap * 2 : 256;
            uint64_t *q = nt_realloc(nt->q, cap * sizeof *q);
            if (q) {
                nt->q = q;
                nt->cap = cap;
            }
        }
        if (nt->n < nt->cap)
            nt->q[nt->n++] = ino;
        else
            nt->all = true; /* no room: invalidate more, never less */
    }
    pthread_cond_signal(&nt->cond);
    pthread_mutex_unlock(&nt->lock);
}

/* ---- what the kernel knows ------------------------------------------------------- */

struct known_name {
    uint64_t ino;
    char *name;
    bool stale;
};

/* Copy the names the kernel knows in dir (inodes it looked up there).
 * -ENOMEM if not all could be copied; *out then holds those that were. */
static int names_in(struct fs *fs, uint64_t dir, struct known_name **out, size_t *count)
{
    struct known_name *names = NULL;
    size_t n = 0, cap = 0;
    int e = 0;
    pthread_mutex_lock(&fs->itab_lock);
    for (size_t i = 0; !e && i < fs->nbuckets; i++)
        for (struct inode *in = fs->buckets[i]; !e && in; in = in->hnext) {
            if (!in->nlookup || in->parent != dir || !in->name)
                continue;
            if (n == cap) {
                size_t c = cap ? cap * 2 : 16;
                struct known_name *p = nt_realloc(names, c * sizeof *p);
                if (!p) {
                    e = -ENOMEM;
                    break;
                }
                names = p;
                cap = c;
            }
            size_t len = strlen(in->name) + 1;
            char *copy = nt_realloc(NULL, len);
            if (!copy) {
                e = -ENOMEM;
                break;
            }
            memcpy(copy, in->name, len);
            names[n++] = (struct known_name){.ino = in->ino, .name = copy};
        }
    pthread_mutex_unlock(&fs->itab_lock);
    *out = names;
    *count = n;
    return e;
}

/* Mark the names that no longer lead where they did, in one read view that
 * ends here. A view that cannot start marks them all. */
static void mark_stale(struct fs *fs, uint64_t dir, struct known_name *names, size_t n)
{
    struct ghost_txn *t;
    if (ghost_txn_begin(fs->g, &t)) {
        for (size_t i = 0; i < n; i++)
            names[i].stale = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t child;
        const char *name = names[i].name;
        int e = dirent_get(t, dir, name, strlen(name), &child, NULL);
        names[i].stale = e || child != names[i].ino;
    }
    ghost_txn_abort(t);
}

/* Invalidate ino, and, if it is a directory, the names in it that went
 * stale. -ENOMEM if some names could not be looked at. */
static int deliver_inode(struct notifier *nt, uint64_t ino)
{
    struct known_name *names;
    size_t n;
    nt->sink.inode(nt->sink.arg, ino);
    int e = names_in(nt->fs, ino, &names, &n);
    mark_stale(nt->fs, ino, names, n);
    for (size_t i = 0; i < n; i++) { /* the view is over */
        if (names[i].stale)
            nt->sink.entry(nt->sink.arg, ino, names[i].name);
        free(names[i].name);
    }
    free(names);
    return e;
}

/* Invalidate every inode the kernel knows (the root always). */
static int deliver_all(struct notifier *nt)
{
    struct fs *fs = nt->fs;
    size_t n = 0;
    int e = 0;
    pthread_mutex_lock(&fs->itab_lock);
    uint64_t *inos = nt_realloc(NULL, (fs->count + 1) * sizeof *inos);
    if (inos) {
        inos[n++] = FS_ROOT_INO;
        for (size_t i = 0; i < fs->nbuckets; i++)
            for (struct inode *in = fs->buckets[i]; in; in = in->hnext)
                if (in->nlookup && in->ino != FS_ROOT_INO)
                    inos[n++] = in->ino;
    }
    pthread_mutex_unlock(&fs->itab_lock);
    if (!inos)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (deliver_inode(nt, inos[i]))
            e = -ENOMEM;
    free(inos);
    return e;
}

static int deliver_list(struct notifier *nt, const uint64_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fs_is_known(nt->fs, q[i]) && deliver_inode(nt, q[i]))
            return -ENOMEM; /* the rest is covered by the retry of everything */
    return 0;
}

/* ---- the thread ------------------------------------------------------------------ */

static void wait_retry(struct notifier *nt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += RETRY_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (!nt->stop && pthread_cond_timedwait(&nt->cond, &nt->lock, &ts) != ETIMEDOUT)
        ;
}

static void *notify_main(void *arg)
{
    struct notifier *nt = arg;
    pthread_mutex_lock(&nt->lock);
    for (;;) {
        while (!nt->stop && !nt->n && !nt->all)
            pthread_cond_wait(&nt->cond, &nt->lock);
        if (nt->stop)
            break;
        uint64_t *q = nt->q;
        size_t n = nt->n;
        bool every = nt->all;
        nt->q = NULL;
        nt->n = nt->cap = 0;
        nt->all = false;
        pthread_mutex_unlock(&nt->lock);
        int e = every ? deliver_all(nt) : deliver_list(nt, q, n);
        free(q);
        pthread_mutex_lock(&nt->lock);
        if (e) {
            nt->all = true;
            wait_retry(nt);
        }
    }
    pthread_mutex_unlock(&nt->lock);
    return NULL;
}

int notify_start(struct fs *fs, const struct notify_sink *sink, struct notifier **out)
{
    struct notifier *nt = calloc(1, sizeof *nt);
    if (!nt)
        return -ENOMEM;
    nt->fs = fs;
    nt->sink = *sink;
    pthread_mutex_init(&nt->lock, NULL);
    pthread_cond_init(&nt->cond, NULL);
    int e = -pthread_create(&nt->thread, NULL, notify_main, nt);
    if (e) {
        pthread_mutex_destroy(&nt->lock);
        pthread_cond_destroy(&nt->cond);
        free(nt);
        return e;
    }
    fs_set_notify(fs, enqueue, nt);
    *out = nt;
    return 0;
}

void notify_stop(struct notifier *nt)
{
    if (!nt)
        return;
    fs_set_notify(nt->fs, NULL, NULL);
    pthread_mutex_lock(&nt->lock);
    nt->stop = true;
    pthread_cond_signal(&nt->cond);
    pthread_mutex_unlock(&nt->lock);
    pthread_join(nt->thread, NULL);
    pthread_mutex_destroy(&nt->lock);
    pthread_cond_destroy(&nt->cond);
    free(nt->q);
    free(nt);
}
