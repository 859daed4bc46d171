/*
 * test_fs_notify.c - the notifier (fs/notify.c) with a recording sink in
 * place of the kernel: another daemon (a child process) unlinks a name the
 * kernel of this one knows, and this one's notifier must tell the sink to
 * forget the directory's attributes and that name -
 *   - also when memory runs out (FS_FAULT_ALLOC of the FS_TEST_HOOKS build
 *     makes the queue's and the thread's allocations fail): then the sink
 *     gets a superset, every inode the kernel knows, never less;
 *   - never while the notifier holds a read view: the sink commits a value
 *     that makes the store's map grow, which waits for every view to end,
 *     and must not find itself waiting for its own caller.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsint.h"
#include "ghost.h"
#include "itable.h"
#include "notify.h"
#include "proc.h"
#include "util.h"

/* ---- the recording sink ---------------------------------------------------------- */

#define REC_MAX 4096

struct recorder {
    pthread_mutex_t lock;
    uint64_t inodes[REC_MAX];
    size_t ninodes;
    struct {
        uint64_t parent;
        char name[FS_NAME_MAX + 1];
    } entries[REC_MAX];
    size_t nentries;
    size_t total_entries; /* also those past REC_MAX */
    /* Called on the notifier's thread with each entry, if set. */
    void (*on_entry)(uint64_t parent, const char *name);
};

static struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void rec_inode(void *arg, uint64_t ino)
{
    (void)arg;
    pthread_mutex_lock(&rec.lock);
    if (rec.ninodes < REC_MAX)
        rec.inodes[rec.ninodes++] = ino;
    pthread_mutex_unlock(&rec.lock);
}

static void rec_entry(void *arg, uint64_t parent, const char *name)
{
    (void)arg;
    if (rec.on_entry)
        rec.on_entry(parent, name);
    pthread_mutex_lock(&rec.lock);
    rec.total_entries++;
    if (rec.nentries < REC_MAX) {
        rec.entries[rec.nentries].parent = parent;
        snprintf(rec.entries[rec.nentries].name, sizeof rec.entries[0].name, "%s", name);
        rec.nentries++;
    }
    pthread_mutex_unlock(&rec.lock);
}

static bool got_inode(uint64_t ino)
{
    bool found = false;
    pthread_mutex_lock(&rec.lock);
    for (size_t i = 0; i < rec.ninodes && !found; i++)
        found = rec.inodes[i] == ino;
    pthread_mutex_unlock(&rec.lock);
    return found;
}

static bool got_entry(uint64_t parent, const char *name)
{
    bool found = false;
    pthread_mutex_lock(&rec.lock);
    for (size_t i = 0; i < rec.nentries && !found; i++)
        found = rec.entries[i].parent == parent && !strcmp(rec.entries[i].name, name);
    pthread_mutex_unlock(&rec.lock);
    return found;
}

/* Wait (up to 10 s) until the sink got the entry. */
static bool wait_entry(uint64_t parent, const char *name)
{
    double t0 = proc_now();
    while (!got_entry(parent, name) && proc_now() - t0 < 10)
        proc_sleep_ms(5);
    return got_entry(parent, name);
}

/* ---- the fixture: this daemon, and another in a child process ------------------ */

static char path[4352];
static struct fs *fs;
static struct notifier *nt;
static struct fs_ctx ctx;
static uint64_t dir, file, bystander;
static pid_t other;
static int to_other = -1, from_other = -1;

static struct fs *open_one(size_t map_bytes)
{
    struct fs_options o;
    struct fs *f = NULL;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.store.map_bytes = map_bytes;
    OK(fs_open(path, &o, &f));
    return f;
}

/* The other daemon: waits for a directory, opens the filesystem (LMDB
 * wants one environment per file in a process, hence the child), unlinks
 * "file" in it, answers with the result. */
static void other_main(int in, int out)
{
    uint64_t d;
    int e = read_full(in, &d, sizeof d, 30) ? -EPIPE : 0;
    struct fs *f = NULL;
    struct fs_options o;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    e = e ? e : fs_open(path, &o, &f);
    e = e ? e : fs_unlink(f, d, "file");
    fs_close(f);
    write_full(out, &e, sizeof e);
    child_exit(0);
}

/* fs (with the notifier) knows dir, dir/file and bystander. */
static void setup_with_map(size_t map_bytes)
{
    struct fs_attr a;
    int down[2], up[2];
    snprintf(path, sizeof path, "%s", test_path("fs"));
    remove_store(path);
    OK(fs_mkfs(path, 0));
    ck_assert(pipe(down) == 0 && pipe(up) == 0);
    other = child_spawn(); /* before this process opens the store */
    if (other == 0) {
        close(down[1]);
        close(up[0]);
        other_main(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    to_other = down[1];
    from_other = up[0];
    ctx.uid = (uint32_t)getuid();
    ctx.gid = (uint32_t)getgid();
    ctx.umask = 022;
    fs = open_one(map_bytes);
    OK(fs_mkdir(fs, &ctx, FS_ROOT_INO, "dir", 0755, &a));
    dir = a.ino;
    OK(fs_mknod(fs, &ctx, dir, "file", S_IFREG | 0644, 0, &a));
    file = a.ino;
    OK(fs_mknod(fs, &ctx, FS_ROOT_INO, "bystander", S_IFREG | 0644, 0, &a));
    bystander = a.ino;
    pthread_mutex_lock(&rec.lock);
    rec.ninodes = rec.nentries = rec.total_entries = 0;
    rec.on_entry = NULL;
    pthread_mutex_unlock(&rec.lock);
    struct notify_sink sink = {.inode = rec_inode, .entry = rec_entry};
    OK(notify_start(fs, &sink, &nt));
}

static void setup(void)
{
    setup_with_map(0);
}

static void teardown(void)
{
    child_kill_all();
    close(to_other);
    close(from_other);
    fs_test_fault(FS_FAULT_ALLOC, 0, 0);
    notify_stop(nt);
    nt = NULL;
    fs_close(fs);
    fs = NULL;
    remove_store(path);
}

/* The other daemon unlinks dir/file; fs notices at once. */
static void unlink_elsewhere(void)
{
    int e = -ETIMEDOUT;
    ck_assert(write_full(to_other, &dir, sizeof dir) == 0);
    ck_assert_msg(read_full(from_other, &e, sizeof e, 30) == 0, "no answer from the other");
    OK(e);
    ck_assert_int_eq(child_wait(other, 10), 0);
    ck_assert_int_ge(ghost_refresh(fs->g), 0);
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(stale_name)
{
    unlink_elsewhere();
    ck_assert_msg(wait_entry(dir, "file"), "the stale name was not invalidated");
    ck_assert(got_inode(dir));
    ck_assert(!got_entry(FS_ROOT_INO, "dir")); /* still leads where it did */
}
END_TEST

/* The queue cannot grow: the change is not dropped, everything is
 * invalidated instead. */
START_TEST(no_memory_to_queue)
{
    fs_test_fault(FS_FAULT_ALLOC, -ENOMEM, 1);
    unlink_elsewhere();
    ck_assert_msg(wait_entry(dir, "file"), "the invalidation was dropped");
    ck_assert(got_inode(dir));
    /* A superset: inodes nobody changed are invalidated too. */
    ck_assert(got_inode(FS_ROOT_INO));
    ck_assert(got_inode(bystander));
    /* But a name is only forgotten when it went stale. */
    ck_assert(!got_entry(FS_ROOT_INO, "bystander"));
}
END_TEST

/* The same, with the queue's growth the only allocation that can fail:
 * the kernel has forgotten both inodes the other daemon changes, so a
 * delivery of the list copies no name (and allocates nothing through the
 * hook) and tells the sink nothing. Only the queue's failure, answered by
 * invalidating everything, tells it of bystander. */
START_TEST(no_memory_to_grow_the_queue)
{
    fs_forget(fs, file, 1);
    fs_forget(fs, dir, 1);
    fs_test_fault(FS_FAULT_ALLOC, -ENOMEM, 1);
    unlink_elsewhere();
    double t0 = proc_now();
    while (!got_inode(bystander) && proc_now() - t0 < 10)
        proc_sleep_ms(5);
    ck_assert_msg(got_inode(bystander), "a queue that could not grow did not mean everything");
    ck_assert(got_inode(FS_ROOT_INO));
    ck_assert(!got_inode(dir) && !got_inode(file)); /* the kernel knows neither */
}
END_TEST

/* The thread itself runs out of memory, again and again: it retries until
 * it can deliver. */
START_TEST(no_memory_to_deliver)
{
    fs_test_fault(FS_FAULT_ALLOC, -ENOMEM, 12);
    unlink_elsewhere();
    ck_assert_msg(wait_entry(dir, "file"), "the invalidation was dropped");
    ck_assert(got_inode(dir));
    ck_assert(got_inode(bystander));
}
END_TEST

/* Everything costs one pass over the inode table, not one per inode the
 * kernel knows. The kernel here knows 40,000 names in dir that the store
 * never held (the table is all the notifier asks), so each is stale; a pass
 * per inode makes that billions of steps, one pass a fraction of a second. */
START_TEST(everything_in_one_pass)
{
    enum { N = 40000 };
    const uint64_t base = (uint64_t)1 << 40; /* OIDs nothing allocates */
    char name[32];
    for (unsigned i = 0; i < N; i++) {
        snprintf(name, sizeof name, "phantom-%u", i);
        inode_looked_up(fs, base + i, dir, name);
    }
    fs_test_fault(FS_FAULT_ALLOC, -ENOMEM, 1); /* the queue cannot grow: everything */
    unlink_elsewhere();
    double t0 = proc_now(), took;
    size_t got;
    for (;;) {
        pthread_mutex_lock(&rec.lock);
        got = rec.total_entries;
        pthread_mutex_unlock(&rec.lock);
        took = proc_now() - t0;
        if (got >= N + 1 || took > 30)
            break;
        proc_sleep_ms(5);
    }
    ck_assert_msg(got >= N + 1, "%zu of %d stale names delivered in 30 s", got, N + 1);
    ck_assert(got_inode(dir) && got_inode(bystander)); /* everything: the inodes too */
    /* One pass takes a fraction of a second; the margin is for a loaded
     * machine (a pass per inode delivered nothing in 30 s). */
    ck_assert_msg(took < 10, "everything took %.1f s for %d names", took, N);
}
END_TEST

/* ---- no view held while the sink runs ----------------------------------------------- */

struct grower {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done, started;
    int err;
    uint64_t grows_before, grows_after;
    pthread_t thread;
};

static struct grower gr = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static size_t big_len;

static int big_fn(struct ghost_txn *t, void *arg)
{
    uint64_t oid;
    (void)arg;
    int e = ghost_oid_alloc(t, &oid);
    void *v = e ? NULL : calloc(1, big_len);
    if (!e && !v)
        e = -ENOMEM;
    if (!e)
        e = ghost_obj_put(t, oid, 9, v, big_len);
    free(v);
    return e;
}

static void *grow_main(void *arg)
{
    (void)arg;
    struct ghost_stats st;
    ghost_stats(fs->g, &st);
    gr.grows_before = st.map_grows;
    big_len = 2 * (size_t)st.map_bytes; /* cannot fit: the map must grow */
    int e = ghost_run(fs->g, big_fn, NULL);
    ghost_stats(fs->g, &st);
    pthread_mutex_lock(&gr.lock);
    gr.err = e;
    gr.grows_after = st.map_grows;
    gr.done = true;
    pthread_cond_signal(&gr.cond);
    pthread_mutex_unlock(&gr.lock);
    return NULL;
}

/* In the sink: make the map grow, and wait (5 s at most) for it. A view
 * held by our caller would make the growth wait for us. */
static void grow_in_sink(uint64_t parent, const char *name)
{
    (void)parent, (void)name;
    pthread_mutex_lock(&gr.lock);
    if (gr.started) {
        pthread_mutex_unlock(&gr.lock);
        return;
    }
    gr.started = true;
    pthread_create(&gr.thread, NULL, grow_main, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    while (!gr.done && pthread_cond_timedwait(&gr.cond, &gr.lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&gr.lock);
}

static void setup_small_map(void)
{
    setup_with_map((size_t)1 << 20);
}

START_TEST(sink_outside_views)
{
    pthread_mutex_lock(&rec.lock);
    rec.on_entry = grow_in_sink;
    pthread_mutex_unlock(&rec.lock);
    gr.done = gr.started = false;
    unlink_elsewhere();
    ck_assert_msg(wait_entry(dir, "file"), "the stale name was not invalidated");
    pthread_mutex_lock(&gr.lock);
    bool in_time = gr.done;
    pthread_mutex_unlock(&gr.lock);
    pthread_join(gr.thread, NULL); /* it finishes once the sink returned, in any case */
    ck_assert_msg(in_time, "the map could not grow while the sink ran: a view was open");
    OK(gr.err);
    ck_assert_msg(gr.grows_after > gr.grows_before, "the map did not grow (%llu, %llu)",
                  (unsigned long long)gr.grows_before, (unsigned long long)gr.grows_after);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *s = suite_create("fs_notify");
    TCase *tc = tcase_create("notifier");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stale_name);
    tcase_add_test(tc, no_memory_to_queue);
    tcase_add_test(tc, no_memory_to_grow_the_queue);
    tcase_add_test(tc, no_memory_to_deliver);
    tcase_add_test(tc, everything_in_one_pass);
    suite_add_tcase(s, tc);
    TCase *views = tcase_create("views");
    tcase_add_checked_fixture(views, setup_small_map, teardown);
    tcase_set_timeout(views, 60);
    tcase_add_test(views, sink_outside_views);
    suite_add_tcase(s, views);
    return s;
}

TEST_MAIN(notify_suite)
