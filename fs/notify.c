/*
 * notify.c - the notifier: a queue of inodes other daemons changed, and the
 * thread that tells the sink (the kernel) what to forget about each.
 *
 * The kernel keeps entries and attributes for an hour (fuse_ops.c), so an
 * invalidation that is lost leaves a stale name or stale data visible for
 * that long. Hence:
 *   - The queue grows (vec.h); when that fails, or when the library
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
 *   - A delivery is a batch: the inodes to forget, and the names the kernel
 *     knows in them, copied in one pass over the inode table whatever
 *     their number (everything costs in proportion to the table, not to
 *     its square).
 *
 * Locks: hook_lock -> nt->lock -> nothing. hook_lock guards fs.notify;
 * nt->lock protects the queue, `all` and `stop`. The thread holds neither,
 * nor fs.itab_lock, while it calls the sink or reads the store. enqueue()
 * runs on whichever thread noticed the change (see hook_lock).
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirent.h"
#include "fsint.h"
#include "itable.h"
#include "vec.h"

/* How long the thread waits before it tries again after running out of
 * memory. */
#define RETRY_MS 100

struct notifier {
    struct fs *fs;
    struct notify_sink sink;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    VEC(uint64_t) q; /* inodes to invalidate, in the order reported */
    bool all;        /* invalidate everything the kernel knows (q is moot) */
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

/* vec_reserve(), which tests can make fail (FS_FAULT_ALLOC) as they make
 * nt_realloc fail: the hook is asked only when a must grow - exactly when
 * vec_reserve() would call realloc - so each fault a test arms fails one
 * allocation, whichever array or copy makes it. */
#define nt_reserve(a, need)                                                                        \
    __extension__({                                                                                \
        size_t nt_need_ = (need);                                                                  \
        (nt_need_ > (a)->cap && fs_fault(FS_FAULT_ALLOC)) ? -ENOMEM : vec_reserve((a), nt_need_);  \
    })

/* ---- the library's reports -------------------------------------------------------- */

/* Guards every fs's notify and notify_arg: fs_set_notify must not return
 * while the previous callback runs (its notifier is freed next). Taken
 * once per OID another process changed, by the thread that noticed it: the
 * poller, or a request whose ghost_txn_begin() refreshed the view - with
 * that request's fs/ locks (an inode's rw) held, which is why nothing under
 * hook_lock or nt->lock may take a lock of fs/. Never when nothing changed. */
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
        if (nt_reserve(&nt->q, nt->q.n + 1) == 0)
            nt->q.v[nt->q.n++] = ino;
        else
            nt->all = true; /* no room: invalidate more, never less */
    }
    pthread_cond_signal(&nt->cond);
    pthread_mutex_unlock(&nt->lock);
}

/* ---- what the kernel knows ------------------------------------------------------- */

/* How many names one read view checks: views are short (a map resize waits
 * for every view to end), and the sink hears of a name only after its view. */
#define VIEW_NAMES 1024

/* The name ino is known by in directory parent. */
struct known_name {
    uint64_t parent, ino;
    char *name;
    bool stale;
};

/* One delivery: inodes the kernel must forget (sorted, each once), and the
 * names it knows in them, copied out of the inode table. */
struct batch {
    uint64_t *inos; /* sized once, never grown */
    size_t ninos;
    VEC(struct known_name) names;
};

static int cmp_ino(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void sort_inos(struct batch *b)
{
    size_t n = 0;
    qsort(b->inos, b->ninos, sizeof *b->inos, cmp_ino);
    for (size_t i = 0; i < b->ninos; i++)
        if (!n || b->inos[n - 1] != b->inos[i])
            b->inos[n++] = b->inos[i];
    b->ninos = n;
}

/* Every inode the kernel knows (the root always), into b->inos. */
static int known_inodes(struct fs *fs, struct batch *b)
{
    pthread_mutex_lock(&fs->itab_lock);
    b->inos = nt_realloc(NULL, (fs->itable.count + 1) * sizeof *b->inos);
    if (b->inos) {
        b->inos[b->ninos++] = FS_ROOT_INO;
        htab_for_each(n, &fs->itable)
        {
            const struct inode *in = inode_of_node(n);
            if (in->nlookup && in->ino != FS_ROOT_INO)
                b->inos[b->ninos++] = in->ino;
        }
    }
    pthread_mutex_unlock(&fs->itab_lock);
    return b->inos ? 0 : -ENOMEM;
}

/* Copy in's name into b. With fs.itab_lock held. */
static int add_name(struct batch *b, const struct inode *in)
{
    if (nt_reserve(&b->names, b->names.n + 1))
        return -ENOMEM;
    size_t len = strlen(in->name) + 1;
    char *copy = nt_realloc(NULL, len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, in->name, len);
    b->names.v[b->names.n++] =
        (struct known_name){.parent = in->parent, .ino = in->ino, .name = copy};
    return 0;
}

/* Copy the names the kernel knows in the directories among b->inos (sorted):
 * one pass over the inode table however many there are - a pass per
 * directory made "everything" quadratic in the table's size. -ENOMEM if
 * not all could be copied; b then holds those that were. */
static int known_names(struct fs *fs, struct batch *b)
{
    int e = 0;
    if (!b->ninos) /* none the kernel knows: nothing to look for */
        return 0;
    pthread_mutex_lock(&fs->itab_lock);
    htab_for_each(n, &fs->itable)
    {
        const struct inode *in = inode_of_node(n);
        if (!e && in->nlookup && in->name &&
            bsearch(&in->parent, b->inos, b->ninos, sizeof *b->inos, cmp_ino))
            e = add_name(b, in);
    }
    pthread_mutex_unlock(&fs->itab_lock);
    return e;
}

/* Mark the names that no longer lead where they did, in one read view that
 * ends here. A view that cannot start marks them all. */
static void mark_stale(struct fs *fs, struct known_name *names, size_t n)
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
        int e = dirent_get(t, names[i].parent, name, strlen(name), &child, NULL);
        names[i].stale = e || child != names[i].ino;
    }
    ghost_txn_abort(t);
}

/* Tell the sink to forget b's inodes, then the names in them that went
 * stale, VIEW_NAMES at a time, each view over before the sink is called. */
static void deliver(struct notifier *nt, struct batch *b)
{
    for (size_t i = 0; i < b->ninos; i++)
        nt->sink.inode(nt->sink.arg, b->inos[i]);
    struct known_name *names = b->names.v;
    size_t n = b->names.n;
    for (size_t at = 0; at < n; at += VIEW_NAMES) {
        size_t end = n - at < VIEW_NAMES ? n : at + VIEW_NAMES;
        mark_stale(nt->fs, names + at, end - at);
        for (size_t i = at; i < end; i++)
            if (names[i].stale)
                nt->sink.entry(nt->sink.arg, names[i].parent, names[i].name);
    }
}

static void batch_free_names(struct batch *b)
{
    for (size_t i = 0; i < b->names.n; i++)
        free(b->names.v[i].name);
    vec_free(&b->names);
}

/* Invalidate every inode the kernel knows. -ENOMEM if not all could be. */
static int deliver_all(struct notifier *nt)
{
    struct batch b = {0};
    int e = known_inodes(nt->fs, &b);
    if (!e) {
        sort_inos(&b);
        e = known_names(nt->fs, &b);
        deliver(nt, &b);
    }
    batch_free_names(&b);
    free(b.inos);
    return e;
}

/* Invalidate those of q's n inodes the kernel knows (q is reordered). */
static int deliver_list(struct notifier *nt, uint64_t *q, size_t n)
{
    struct batch b = {.inos = q};
    for (size_t i = 0; i < n; i++)
        if (fs_is_known(nt->fs, q[i]))
            q[b.ninos++] = q[i];
    sort_inos(&b);
    int e = known_names(nt->fs, &b); /* the rest is covered by the retry of everything */
    deliver(nt, &b);
    batch_free_names(&b);
    return e;
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
        while (!nt->stop && !nt->q.n && !nt->all)
            pthread_cond_wait(&nt->cond, &nt->lock);
        if (nt->stop)
            break;
        VEC(uint64_t) q = {0};
        vec_move(&q, &nt->q); /* the queue starts anew while we deliver */
        bool every = nt->all;
        nt->all = false;
        pthread_mutex_unlock(&nt->lock);
        int e = every ? deliver_all(nt) : deliver_list(nt, q.v, q.n);
        vec_free(&q);
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
    vec_free(&nt->q);
    free(nt);
}
