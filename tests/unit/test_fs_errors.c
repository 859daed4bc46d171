/*
 * test_fs_errors.c - the error boundary of fs/: whatever goes wrong in the
 * library, every fs_ function returns a real errno, the one errors.c's table
 * names. Each path is driven by the failure itself: a record damaged in the
 * file (a flipped byte, caught by its checksum), a conflict that outlasts
 * ghost_run's retries (another process rewriting the same inode, and the
 * fault hook of FS_TEST_HOOKS builds for every caller of fs_run), and the
 * store's sync and space figures failing (the same hook).
 *
 * Before the boundary existed, fs_lseek, fs_statfs, fs_fsync, fs_syncfs and
 * every caller of ghost_run whose retries ran out returned the library's
 * codes (1000 and up), which libfuse turned into ERANGE.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsint.h"
#include "ghost.h"
#include "itable.h"
#include "proc.h"
#include "util.h"

/* ---- the fixture ------------------------------------------------------------ */

static char path[4352];
static struct fs *fs;
static struct fs_ctx ctx;

static void open_fs(unsigned max_retries)
{
    struct fs_options o;
    fs_options_init(&o);
    o.store.sync = GHOST_SYNC_NONE;
    o.store.max_retries = max_retries;
    o.commit_interval_ms = 3600 * 1000; /* only the test commits buffers */
    fs = NULL;
    OK(fs_open(path, &o, &fs));
}

static void close_fs(void)
{
    fs_close(fs);
    fs = NULL;
}

static void setup(void)
{
    snprintf(path, sizeof path, "%s", test_path("fs"));
    remove_store(path);
    OK(fs_mkfs(path, 0));
    ctx.uid = (uint32_t)getuid();
    ctx.gid = (uint32_t)getgid();
    ctx.umask = 022;
    open_fs(0);
}

static void teardown(void)
{
    child_kill_all();
    for (int s = 0; s < FS_FAULT_SITES; s++)
        fs_test_fault(s, 0, 0);
    if (fs)
        fs_close(fs);
    fs = NULL;
    remove_store(path);
}

static uint64_t mkfile(uint64_t parent, const char *name)
{
    struct fs_attr a;
    OK(fs_mknod(fs, &ctx, parent, name, S_IFREG | 0644, 0, &a));
    return a.ino;
}

static const char victim[65] = "<<fs-errors-victim-block-0123456789abcdefghijklmnopqrstuvwxyz>>";
static const char victim_rec[65] = "((fs-errors-victim-record-0123456789abcdefghijklmnopqrstuvwx))";

/* ---- the table ---------------------------------------------------------------- */

START_TEST(table)
{
    EXPECT(fs_errno(0), 0);
    EXPECT(fs_errno(4096), 4096); /* byte counts pass */
    EXPECT(fs_errno(-ENOENT), -ENOENT);
    EXPECT(fs_errno(-ENOSPC), -ENOSPC);
    EXPECT(fs_errno(-GHOST_ECONFLICT), -EBUSY);
    EXPECT(fs_errno(-GHOST_ECORRUPT), -EIO);
    EXPECT(fs_errno(-GHOST_EFORMAT), -EINVAL);
    EXPECT(fs_errno(-1100), -ENOSPC); /* GHOST_EGROW, internal */
    EXPECT(fs_errno(-GHOST_EDISCONNECT), -EIO);
    EXPECT(fs_errno(-1099), -EIO); /* a code added later */
    EXPECT(fs_errno(-1234567), -EIO);
    ck_assert(fs_is_errno(EIO));
    ck_assert(fs_is_errno(ENOTDIR));
    ck_assert(!fs_is_errno(0));
    ck_assert(!fs_is_errno(GHOST_ECONFLICT));
    ck_assert(!fs_is_errno(GHOST_ECORRUPT));
    ck_assert(!fs_is_errno(999)); /* no errno has that number */
    ck_assert(!fs_is_errno(5000));
}
END_TEST

/* ---- damaged records: -EIO everywhere, never a library code ------------------- */

START_TEST(damaged_block)
{
    uint32_t bs = fs_block_size(fs);
    unsigned char *buf = calloc(3, bs);
    ck_assert(buf);
    memset(buf, 'a', 3 * (size_t)bs);
    memcpy(buf + bs, victim, 64); /* block 1 */
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    /* Blocks 1 and 2, block 0 a hole: a file with holes, whose seeks walk
     * its blocks (one with none answers from its blocks' tally). */
    EXPECT(fs_write(fs, f, buf + bs, 2 * (size_t)bs, bs, false), 2 * (ssize_t)bs);
    OK(fs_flush(fs, f));
    close_fs();
    ck_assert_int_gt(test_flip_everywhere(path, victim, 64), 0);
    open_fs(0);

    /* The seek walks the blocks: it meets the damage. */
    EXPECT(fs_lseek(fs, f, bs, SEEK_DATA), -EIO);
    EXPECT(fs_lseek(fs, f, 0, SEEK_HOLE), -EIO);
    EXPECT(fs_read(fs, f, buf, bs, bs), -EIO);
    EXPECT(fs_copy_range(fs, f, bs, f, 0, bs, 0), -EIO);
    /* The hole and the undamaged block still read. */
    EXPECT(fs_read(fs, f, buf, bs, 0), (ssize_t)bs);
    EXPECT(fs_read(fs, f, buf, bs, 2 * (uint64_t)bs), (ssize_t)bs);
    EXPECT(fs_lseek(fs, f, 2 * (int64_t)bs, SEEK_DATA), 2 * (int64_t)bs);
    free(buf);
}
END_TEST

START_TEST(damaged_inode)
{
    struct fs_attr a;
    bool keep;
    char buf[256];
    uint64_t d;
    OK(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &a));
    d = a.ino;
    uint64_t f = mkfile(d, "f");
    EXPECT(fs_write(fs, f, victim_rec, 64, 0, false), 64); /* inline: in the record */
    OK(fs_flush(fs, f));
    close_fs();
    ck_assert_int_gt(test_flip_everywhere(path, victim_rec, 64), 0);
    open_fs(0);

    EXPECT(fs_getattr(fs, f, &a), -EIO);
    EXPECT(fs_lookup(fs, d, "f", &a), -EIO);
    EXPECT(fs_open_file(fs, f, O_RDONLY, &keep), -EIO);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), -EIO);
    EXPECT(fs_lseek(fs, f, 0, SEEK_DATA), -EIO);
    EXPECT(fs_readlink(fs, f, buf, sizeof buf), -EIO);
    struct fs_attr in = {.mode = 0600};
    EXPECT(fs_setattr(fs, f, &in, FS_SET_MODE, &a), -EIO);
    EXPECT(fs_setxattr(fs, f, "user.a", "v", 1, 0), -EIO);
    EXPECT(fs_getxattr(fs, f, "user.a", buf, sizeof buf), -EIO);
    EXPECT(fs_listxattr(fs, f, buf, sizeof buf), -EIO);
    EXPECT(fs_removexattr(fs, f, "user.a"), -EIO);
    EXPECT(fs_fallocate(fs, f, 0, 0, 4096), -EIO);
    EXPECT(fs_link(fs, f, d, "g", &a), -EIO);
    EXPECT(fs_unlink(fs, d, "f"), -EIO);
    /* Its directory is whole. */
    OK(fs_getattr(fs, d, &a));
    OK(fs_opendir(fs, d));
}
END_TEST

/* ---- conflicts that outlast the retries: -EBUSY ---------------------------------- */

/* Every caller of fs_run, made to meet a conflict on its only attempt. */
START_TEST(conflict_every_run)
{
    struct fs_attr a, in = {.mode = 0600};
    uint64_t d, f = mkfile(FS_ROOT_INO, "f");
    OK(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &a));
    d = a.ino;
#define BUSY(expr)                                                                                 \
    do {                                                                                           \
        fs_test_fault(FS_FAULT_RUN, -GHOST_ECONFLICT, 1);                                          \
        EXPECT(expr, -EBUSY);                                                                      \
        fs_test_fault(FS_FAULT_RUN, 0, 0);                                                         \
    } while (0)
    BUSY(fs_mknod(fs, &ctx, FS_ROOT_INO, "n", S_IFREG | 0644, 0, &a));
    BUSY(fs_mkdir(fs, &ctx, FS_ROOT_INO, "m", 0755, &a));
    BUSY(fs_symlink(fs, &ctx, "t", FS_ROOT_INO, "s", &a));
    BUSY(fs_link(fs, f, d, "l", &a));
    BUSY(fs_create(fs, &ctx, FS_ROOT_INO, "c", 0644, O_RDWR, &a));
    BUSY(fs_unlink(fs, FS_ROOT_INO, "f"));
    BUSY(fs_rmdir(fs, FS_ROOT_INO, "d"));
    BUSY(fs_rename(fs, &ctx, FS_ROOT_INO, "f", d, "f2", 0));
    BUSY(fs_setattr(fs, f, &in, FS_SET_MODE, &a));
    BUSY(fs_setxattr(fs, f, "user.a", "v", 1, 0));
    BUSY(fs_removexattr(fs, f, "user.a"));
    BUSY(fs_fallocate(fs, f, 0, 0, 4096));
    /* Buffered writes meet it when they are committed. */
    EXPECT(fs_write(fs, f, "hello", 5, 0, false), 5);
    BUSY(fs_flush(fs, f));
    BUSY(fs_fsync(fs, f, false));
    BUSY(fs_syncfs(fs));
    EXPECT(fs_write(fs, f, "hello", 5, 0, false), 5);
    BUSY(fs_lseek(fs, f, 0, SEEK_DATA)); /* commits first */
    /* Nothing was lost: the buffer is still there to commit. */
    OK(fs_flush(fs, f));
    char buf[8];
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 5);
#undef BUSY
}
END_TEST

/* A create that finds the name taken, opens the file and then fails to
 * truncate it takes back the open and the lookup it counted: a leaked open
 * keeps the inode busy (an unlink then orphans it) until the daemon ends. */
START_TEST(create_truncate_fails)
{
    struct fs_attr a;
    char buf[8];
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    EXPECT(fs_write(fs, f, "hello", 5, 0, false), 5);
    OK(fs_flush(fs, f));
    fs_test_fault_after(FS_FAULT_RUN, 1, -GHOST_ECONFLICT, 1); /* the make passes */
    EXPECT(fs_create(fs, &ctx, FS_ROOT_INO, "f", 0644, O_RDWR | O_TRUNC, &a), -EBUSY);
    struct inode *in = inode_get(fs, f);
    ck_assert(in);
    pthread_mutex_lock(&fs->itab_lock);
    uint32_t nopen = in->nopen;
    uint64_t nlookup = in->nlookup;
    pthread_mutex_unlock(&fs->itab_lock);
    inode_put(fs, in);
    ck_assert_msg(nopen == 0, "the failed create left %u open", nopen);
    ck_assert_msg(nlookup == 1, "the failed create left %llu lookups, not 1",
                  (unsigned long long)nlookup);
    EXPECT(fs_read(fs, f, buf, sizeof buf, 0), 5); /* and nothing was cut */
}
END_TEST

/* A real conflict: another daemon (a child process: LMDB wants one
 * environment per file in a process) rewrites the inode as fast as it can
 * while this one, allowed a single attempt, sets an xattr on it. */
struct hammer {
    uint64_t ino;
    atomic_bool stop;
    atomic_int commits;
};

static int touch_fn(struct ghost_txn *t, void *arg)
{
    struct hammer *h = arg;
    uint8_t type;
    const void *d;
    size_t len;
    int e = ghost_obj_get(t, h->ino, &type, &d, &len);
    return e ? e : ghost_obj_put(t, h->ino, type, d, len);
}

static void hammer(struct hammer *h)
{
    struct ghost_options o;
    struct ghost *g;
    ghost_options_init(&o);
    o.sync = GHOST_SYNC_NONE;
    int e = ghost_open(path, &o, &g);
    while (!e && !atomic_load(&h->stop)) {
        e = ghost_run(g, touch_fn, h);
        e = e == -GHOST_ECONFLICT ? 0 : e;
        atomic_fetch_add(&h->commits, 1);
    }
    if (e)
        fprintf(stderr, "hammer: %s\n", ghost_strerror(e));
    if (!e)
        ghost_close(g);
    child_exit(e ? 1 : 0);
}

START_TEST(conflict_real)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    close_fs(); /* before the fork: the child opens the store on its own */
    struct hammer *h = shared_alloc(sizeof *h);
    h->ino = f;
    pid_t pid = child_spawn();
    if (pid == 0)
        hammer(h);
    double t0 = proc_now();
    while (atomic_load(&h->commits) < 10 && proc_now() - t0 < 10)
        proc_sleep_ms(1);
    open_fs(1);
    int busy = 0, ok = 0, bad = 0;
    t0 = proc_now();
    while (busy == 0 && !bad && proc_now() - t0 < 30) {
        int e = fs_setxattr(fs, f, "user.a", "v", 1, 0);
        busy += e == -EBUSY;
        ok += e == 0;
        bad = e && e != -EBUSY ? e : 0;
    }
    atomic_store(&h->stop, true);
    int status = child_wait(pid, 10);
    int commits = atomic_load(&h->commits);
    shared_free(h, sizeof *h);
    ck_assert_msg(!bad, "fs_setxattr = %d (%s)", bad, test_ename(bad));
    ck_assert_msg(status == 0, "the other daemon failed (%d)", status);
    ck_assert_msg(busy > 0, "no conflict in 30 s (%d calls succeeded, %d commits beside)", ok,
                  commits);
}
END_TEST

/* ---- the store's sync and space figures --------------------------------------- */

START_TEST(store_failures)
{
    struct statvfs st;
    struct fs_attr a;
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_mkdir(fs, &ctx, FS_ROOT_INO, "d", 0755, &a));
    static const struct {
        int code, want;
    } cases[] = {
        {-GHOST_ECORRUPT, -EIO},
        {-GHOST_ECONFLICT, -EBUSY},
        {-GHOST_EFORMAT, -EINVAL},
        {-GHOST_EDISCONNECT, -EIO},
        {-EIO, -EIO},
        {-ENOSPC, -ENOSPC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int want = cases[i].want;
        fs_test_fault(FS_FAULT_SYNC, cases[i].code, 1);
        EXPECT(fs_fsync(fs, f, false), want);
        fs_test_fault(FS_FAULT_SYNC, cases[i].code, 1);
        EXPECT(fs_fsync(fs, f, true), want);
        fs_test_fault(FS_FAULT_SYNC, cases[i].code, 1);
        EXPECT(fs_syncfs(fs), want);
        fs_test_fault(FS_FAULT_SYNC, cases[i].code, 1);
        EXPECT(fs_fsyncdir(fs, a.ino, false), want);
        fs_test_fault(FS_FAULT_USAGE, cases[i].code, 1);
        EXPECT(fs_statfs(fs, &st), want);
    }
    /* And once the store is well again, so is everything. */
    OK(fs_fsync(fs, f, false));
    OK(fs_syncfs(fs));
    OK(fs_fsyncdir(fs, a.ino, false));
    OK(fs_statfs(fs, &st));
}
END_TEST

/* ---- opening: not a store, not a directory ------------------------------------ */

START_TEST(open_not_a_store)
{
    close_fs();
    remove_store(path);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    for (int i = 0; i < 4096; i++)
        fputs("not a store at all ", f);
    fclose(f);
    struct fs *other = NULL;
    EXPECT(fs_open(path, NULL, &other), -EINVAL);
    ck_assert_msg(*ghost_errmsg(), "the detail is gone from ghost_errmsg()");
}
END_TEST

START_TEST(opendir)
{
    uint64_t f = mkfile(FS_ROOT_INO, "f");
    OK(fs_opendir(fs, FS_ROOT_INO));
    EXPECT(fs_opendir(fs, f), -ENOTDIR);
    EXPECT(fs_opendir(fs, 999999), -ENOENT);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("fs_errors");
    TCase *tc = tcase_create("boundary");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, table);
    tcase_add_test(tc, damaged_block);
    tcase_add_test(tc, damaged_inode);
    tcase_add_test(tc, conflict_every_run);
    tcase_add_test(tc, create_truncate_fails);
    tcase_add_test(tc, conflict_real);
    tcase_add_test(tc, store_failures);
    tcase_add_test(tc, open_not_a_store);
    tcase_add_test(tc, opendir);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(errors_suite)
