/*
 * test_diskfull.c - a full disk refuses commits with -ENOSPC and loses
 * nothing: every committed value still reads back, the store reopens,
 * deletes still commit (the reserve), and once space is freed new writes
 * succeed again.
 *
 * The disk is a 24 MiB tmpfs that main() mounts, so this needs root; without
 * it (or when the mount fails) the program says why and exits 77, which meson
 * reports as "skipped". When it can, main() first moves into a private mount
 * namespace, so the tmpfs disappears with this process whatever happens; it
 * also unmounts at exit and on SIGINT/SIGTERM/SIGHUP. Each test runs in its
 * own process (CK_FORK), which dies with main() (PR_SET_PDEATHSIG), so a
 * crash (SIGBUS on a full disk, say) is reported as a failure and cannot
 * leave the mount busy.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ghost.h"
#include "util.h"

#define DISK_SIZE "24m"
#define VAL (256 << 10)
#define MAX_VALUES 400 /* 100 MiB: far more than the disk holds */

static char mnt[4400];
static pid_t mounter;
static volatile sig_atomic_t mounted;

/* ---- the tmpfs ------------------------------------------------------------ */

static void unmount_disk(void)
{
    if (mounted && getpid() == mounter) {
        if (umount2(mnt, 0) != 0)
            umount2(mnt, MNT_DETACH);
        mounted = 0;
    }
}

static void on_signal(int sig)
{
    if (mounted && getpid() == mounter) {
        umount2(mnt, MNT_DETACH);
        mounted = 0;
    }
    exit(128 + sig); /* the parent only waits for a test: atexit removes test_dir() */
}

/* Returns NULL on success or why the test cannot run. */
static const char *mount_disk(void)
{
    static char why[4600];

    if (geteuid() != 0)
        return "not root: cannot mount a tmpfs";
    snprintf(mnt, sizeof mnt, "%s", test_path("disk"));
    if (mkdir(mnt, 0700) != 0) {
        snprintf(why, sizeof why, "mkdir %s: %s", mnt, strerror(errno));
        return why;
    }
    /* A mount namespace of our own: the tmpfs goes away with us. */
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    mounter = getpid();
    atexit(unmount_disk); /* runs before util.c removes test_dir() */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=" DISK_SIZE ",mode=0700")) {
        snprintf(why, sizeof why, "mount tmpfs on %s: %s", mnt, strerror(errno));
        return why;
    }
    mounted = 1;
    return NULL;
}

static const char *disk_path(const char *name)
{
    static char path[sizeof mnt + 1 + 256];
    snprintf(path, sizeof path, "%s/%s", mnt, name);
    return path;
}

static void empty_disk(void)
{
    DIR *d = opendir(mnt);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(disk_path(e->d_name));
    closedir(d);
}

static void setup(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != mounter)
        _exit(1);
    empty_disk();
}

static void teardown(void)
{
    empty_disk();
}

/* ---- helpers ---------------------------------------------------------------- */

static void fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static struct ghost *open_small(const char *path)
{
    struct ghost_options o;
    struct ghost *g = NULL;
    ghost_options_init(&o);
    o.map_bytes = 4 << 20;
    /* The default, sync=batch, and sync=none have LMDB write through its
     * map, where a full disk would be a SIGBUS if the reserve did not
     * prevent it; GHOST_TEST_SYNC=always tests LMDB's pwrite path. */
    const char *mode = getenv("GHOST_TEST_SYNC");
    if (mode && !strcmp(mode, "none"))
        o.sync = GHOST_SYNC_NONE;
    if (mode && !strcmp(mode, "always"))
        o.sync = GHOST_SYNC_ALWAYS;
    OK(ghost_open(path, &o, &g));
    return g;
}

/* Commit one new 256 KiB object; returns the commit's result and its OID. */
static int put_value(struct ghost *g, uint64_t *oid)
{
    static unsigned char buf[VAL];
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin(g, &t));
    OK(ghost_oid_alloc(t, oid));
    fill(buf, sizeof buf, *oid);
    int r = ghost_obj_put(t, *oid, 1, buf, sizeof buf);
    if (r < 0) {
        ghost_txn_abort(t);
        return r;
    }
    return ghost_txn_commit(t);
}

/* Every OID in oids[0..n) not marked deleted reads back intact; `gone` are
 * absent. */
static void verify(struct ghost *g, const uint64_t *oids, const bool *deleted, int n,
                   const uint64_t *gone, int ngone)
{
    static unsigned char want[VAL];
    struct ghost_txn *t = NULL;
    const void *data;
    size_t len;

    OK(ghost_txn_begin(g, &t));
    for (int i = 0; i < n; i++) {
        int r = ghost_obj_get(t, oids[i], NULL, &data, &len);
        if (deleted && deleted[i]) {
            EXPECT(r, -ENOENT);
            continue;
        }
        ck_assert_msg(r == 0, "value %d (OID %" PRIu64 ") lost: %d %s", i, oids[i], r,
                      ghost_errmsg());
        ck_assert_uint_eq(len, VAL);
        fill(want, sizeof want, oids[i]);
        ck_assert_msg(!memcmp(data, want, VAL), "value %d (OID %" PRIu64 ") damaged", i, oids[i]);
    }
    for (int i = 0; i < ngone; i++)
        EXPECT(ghost_obj_get(t, gone[i], NULL, NULL, NULL), -ENOENT);
    ghost_txn_abort(t);
}

static int delete_values(struct ghost *g, const uint64_t *oids, bool *deleted, int from, int to)
{
    struct ghost_txn *t = NULL;
    OK(ghost_txn_begin(g, &t));
    for (int i = from; i < to; i++) {
        OK(ghost_obj_del(t, oids[i]));
        deleted[i] = true;
    }
    return ghost_txn_commit(t);
}

/* Write a file until the disk has no space left. */
static void fill_disk(const char *filler)
{
    static char chunk[1 << 20];
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(fd >= 0);
    memset(chunk, 'f', sizeof chunk);
    for (;;) {
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w < (ssize_t)sizeof chunk) {
            ck_assert_msg(w >= 0 || errno == ENOSPC, "filler: %s", strerror(errno));
            if (w < 0)
                break;
        }
    }
    close(fd);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(fill_until_enospc)
{
    static uint64_t oids[MAX_VALUES + 8];
    static bool deleted[MAX_VALUES + 8];
    uint64_t gone[4];
    int n = 0, ngone = 0, r = 0;
    char path[sizeof mnt + 300];

    snprintf(path, sizeof path, "%s", disk_path("full.ghost"));
    OK(ghost_mkfs(path));
    struct ghost *g = open_small(path);

    for (int i = 0; i < MAX_VALUES; i++) {
        uint64_t oid;
        r = put_value(g, &oid);
        if (r == -ENOSPC) {
            gone[ngone++] = oid;
            break;
        }
        ck_assert_msg(r == 0, "commit %d: %d (%s): %s", i, r, ghost_strerror(r), ghost_errmsg());
        oids[n++] = oid;
    }
    EXPECT(r, -ENOSPC);
    ck_assert_msg(n >= 16, "disk full after only %d values (%d KiB)", n, n * VAL / 1024);
    /* It stays full, and says so each time. */
    uint64_t oid;
    EXPECT(put_value(g, &oid), -ENOSPC);
    gone[ngone++] = oid;
    verify(g, oids, NULL, n, gone, ngone);
    ghost_close(g);

    /* Reopen on the full disk: everything is there. */
    g = open_small(path);
    verify(g, oids, NULL, n, gone, ngone);

    /* Deleting needs no free space (the reserve). */
    OK(delete_values(g, oids, deleted, 0, 4));
    OK(delete_values(g, oids, deleted, 4, 16));
    verify(g, oids, deleted, n, gone, ngone);

    /* With space freed, new values fit again. */
    for (int i = 0; i < 4; i++) {
        OK(put_value(g, &oids[n]));
        n++;
    }
    verify(g, oids, deleted, n, gone, ngone);
    ghost_close(g);

    g = open_small(path);
    verify(g, oids, deleted, n, gone, ngone);
    ghost_close(g);
}
END_TEST

/* Another process fills the disk while the store is open. */
START_TEST(filler_file)
{
    static uint64_t oids[64];
    static bool deleted[64];
    uint64_t gone[64];
    int n = 0, ngone = 0, r = 0;
    char path[sizeof mnt + 300], filler[sizeof mnt + 300];

    snprintf(path, sizeof path, "%s", disk_path("filled.ghost"));
    snprintf(filler, sizeof filler, "%s", disk_path("filler"));
    OK(ghost_mkfs(path));
    struct ghost *g = open_small(path);
    for (int i = 0; i < 16; i++) {
        OK(put_value(g, &oids[n]));
        n++;
    }

    fill_disk(filler);

    for (int i = 0; i < 48; i++) {
        uint64_t oid;
        r = put_value(g, &oid);
        if (r == -ENOSPC) {
            gone[ngone++] = oid;
            break;
        }
        ck_assert_msg(r == 0, "commit: %d (%s): %s", r, ghost_strerror(r), ghost_errmsg());
        oids[n++] = oid;
    }
    EXPECT(r, -ENOSPC);
    verify(g, oids, NULL, n, gone, ngone);

    ghost_close(g);
    g = open_small(path);
    verify(g, oids, NULL, n, gone, ngone);

    OK(delete_values(g, oids, deleted, 0, 2));
    verify(g, oids, deleted, n, gone, ngone);

    ck_assert_int_eq(unlink(filler), 0);
    for (int i = 0; i < 4; i++) {
        OK(put_value(g, &oids[n]));
        n++;
    }
    verify(g, oids, deleted, n, gone, ngone);
    ghost_close(g);

    g = open_small(path);
    verify(g, oids, deleted, n, gone, ngone);
    ghost_close(g);
}
END_TEST

/* A new store cannot be made on a full disk: mkfs says so, and leaves no
 * half-made store behind (nor a lock file). */
START_TEST(mkfs_on_full_disk)
{
    char path[sizeof mnt + 300], lock[sizeof mnt + 310];

    snprintf(path, sizeof path, "%s", disk_path("late.ghost"));
    snprintf(lock, sizeof lock, "%s-lock", path);
    fill_disk(disk_path("filler"));
    int r = ghost_mkfs(path);
    ck_assert_msg(r == -ENOSPC, "mkfs on a full disk: %d (%s): %s", r, ghost_strerror(r),
                  ghost_errmsg());
    ck_assert_msg(!exists(path), "mkfs left %s behind", path);
    ck_assert_msg(!exists(lock), "mkfs left %s behind", lock);
}
END_TEST

/* A store whose lock file is gone (say, removed by a cleanup script) is
 * opened on a full disk: it opens, or fails cleanly with -ENOSPC; either
 * way nothing is lost. */
START_TEST(open_without_lock_on_full_disk)
{
    static uint64_t oids[8];
    char path[sizeof mnt + 300], lock[sizeof mnt + 310];

    snprintf(path, sizeof path, "%s", disk_path("nolock.ghost"));
    snprintf(lock, sizeof lock, "%s-lock", path);
    OK(ghost_mkfs(path));
    struct ghost *g = open_small(path);
    for (int i = 0; i < 8; i++)
        OK(put_value(g, &oids[i]));
    ghost_close(g);
    ck_assert_int_eq(unlink(lock), 0);

    fill_disk(disk_path("filler"));
    g = NULL;
    int r = ghost_open(path, NULL, &g);
    ck_assert_msg(r == 0 || r == -ENOSPC, "open on a full disk: %d (%s): %s", r, ghost_strerror(r),
                  ghost_errmsg());
    if (r == 0) {
        verify(g, oids, NULL, 8, NULL, 0);
        ghost_close(g);
    }
    ck_assert_int_eq(unlink(disk_path("filler")), 0);
    g = open_small(path);
    verify(g, oids, NULL, 8, NULL, 0);
    ghost_close(g);
}
END_TEST

int main(void)
{
    test_dir(); /* before mount_disk(): its atexit must run after unmount_disk() */
    const char *why = mount_disk();
    if (why) {
        printf("skipped: %s\n", why);
        return 77;
    }

    Suite *s = suite_create("diskfull");
    TCase *tc = tcase_create("enospc");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fill_until_enospc);
    tcase_add_test(tc, filler_file);
    tcase_add_test(tc, mkfs_on_full_disk);
    tcase_add_test(tc, open_without_lock_on_full_disk);
    suite_add_tcase(s, tc);

    int rc = test_run_suite(s);
    unmount_disk();
    return rc;
}
