/*
 * syscalls.c - POSIX behaviour of a mounted ghostfs, one system call at a
 * time.
 *
 *   syscalls DIR [TOPIC...]   run every topic (or those named) inside DIR
 *   syscalls -l               list the topics
 *
 * DIR is a directory on a ghostfs mount. Each topic runs in a child process
 * of its own (and its own process group), in a fresh directory
 * DIR/syscalls.PID/TOPIC, with umask 0. A topic that does not finish within
 * SYSCALLS_TIMEOUT seconds (default 120) is a failure: the kernel stacks of
 * its processes, and of every daemon thread when GHOSTFS_PID names the
 * daemon, are printed before it is killed. At the end the whole tree is
 * removed again ("cleanup"), which must work too.
 *
 * A failed check prints file:line, the topic, the call, what was expected
 * and what came back (errno by name), and the run goes on; the exit status
 * is 1 if any check failed. Checks are counted in a shared mapping, so that
 * the processes a topic forks (appenders, the user nobody) count too.
 *
 * Assumptions: we run as root (chown, device nodes, setresuid); the checks
 * made as nobody need the mount to let other users in (allow_other, which
 * run_syscalls.sh passes), and each of them has a positive control so that a
 * mount that refuses nobody altogether is told apart from a refused
 * operation. File contents are always compared twice: through the page
 * cache, and again after dropping the cached pages (POSIX_FADV_DONTNEED) so
 * that the bytes come from the daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define BLOCK (64 * KiB) /* ghostfs's default block size */

/* ---- checks ------------------------------------------------------------------------ */

struct tally {
    int checks, failures;
};
static struct tally *tally; /* MAP_SHARED: every process of the run counts here */
static const char *topic = "main";
static uid_t nobody_uid = 65534;
static gid_t nobody_gid = 65534;

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "E?";
}

static void counted(void)
{
    __atomic_add_fetch(&tally->checks, 1, __ATOMIC_RELAXED);
}

static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    __atomic_add_fetch(&tally->failures, 1, __ATOMIC_RELAXED);
    printf("%s:%d: [%s] FAIL: ", file, line, topic);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static long long check_ok(const char *file, int line, const char *call, long long r, int e)
{
    counted();
    if (r < 0)
        fail_at(file, line, "%s: expected success, got %lld %s (%s)", call, r, ename(e),
                strerror(e));
    return r;
}

static bool check_fails(const char *file, int line, const char *call, long long r, int e, int want,
                        int alt)
{
    char exp[64];
    counted();
    if (r == -1 && (e == want || (alt && e == alt)))
        return true;
    if (alt)
        snprintf(exp, sizeof exp, "%s or %s", ename(want), ename(alt));
    else
        snprintf(exp, sizeof exp, "%s", ename(want));
    if (r != -1)
        fail_at(file, line, "%s: expected -1 %s, got %lld", call, exp, r);
    else
        fail_at(file, line, "%s: expected -1 %s, got -1 %s (%s)", call, exp, ename(e), strerror(e));
    return false;
}

static bool check_eq(const char *file, int line, const char *a, const char *b, long long x,
                     long long y, const char *what)
{
    counted();
    if (x == y)
        return true;
    fail_at(file, line, "%s%s%s == %s: got %lld, expected %lld", what ? what : "", what ? ": " : "",
            a, b, x, y);
    return false;
}

static bool check_true(const char *file, int line, bool c, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool check_true(const char *file, int line, bool c, const char *expr, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    counted();
    if (c)
        return true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_at(file, line, "%s%s%s", msg, *msg ? ": " : "", expr);
    return false;
}

/* The call succeeds (returns >= 0); yields its result. */
#define OK(call)                                                                                   \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(call);                                                          \
        int e_ = errno;                                                                            \
        check_ok(__FILE__, __LINE__, #call, r_, e_);                                               \
    })
/* The call returns -1 with errno err (or alt). */
#define FAILS(call, err)                                                                           \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(call);                                                          \
        int e_ = errno;                                                                            \
        check_fails(__FILE__, __LINE__, #call, r_, e_, err, 0);                                    \
    })
#define FAILS2(call, err, alt)                                                                     \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(call);                                                          \
        int e_ = errno;                                                                            \
        check_fails(__FILE__, __LINE__, #call, r_, e_, err, alt);                                  \
    })
#define EQ(a, b) check_eq(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b), NULL)
/* EQ with a word on what is compared, e.g. EQM(st.st_nlink, 2, "d after mkdir d/a") */
#define EQM(a, b, what) check_eq(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b), what)
#define CHECK(cond) check_true(__FILE__, __LINE__, (cond), #cond, "%s", "")
#define CHECKF(cond, ...) check_true(__FILE__, __LINE__, (cond), #cond, __VA_ARGS__)

/* ---- helpers ------------------------------------------------------------------------- */

/* Memory or death: a test that cannot allocate has nothing to say. */
static void *xalloc(void *p) __attribute__((returns_nonnull));
static void *xalloc(void *p)
{
    if (!p) {
        perror("syscalls: out of memory");
        exit(2);
    }
    return p;
}
#define xmalloc(n) xalloc(malloc(n))
#define xcalloc(n) xalloc(calloc(1, n))
#define xrealloc(p, n) xalloc(realloc(p, n))

static long long ns_of(struct timespec t)
{
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ns_of(t);
}

/* Long enough for any clock the kernel or the daemon stamps times with. */
static void tick(void)
{
    struct timespec t = {0, 20 * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* What the daemon says (statx with AT_STATX_FORCE_SYNC bypasses the kernel's
 * attribute cache), as a struct stat. Where the kernel's cached view (a
 * plain stat just before) disagrees, that is a failure of its own: programs
 * see the cached one, for as long as the attribute timeout. */
static void from_statx(const struct statx *x, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
    st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
    st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

static void compare_views(const char *file, int line, const char *what, const struct stat *k,
                          const struct stat *d)
{
    struct {
        const char *field;
        long long cached, daemon;
    } f[] = {
        {"st_ino", (long long)k->st_ino, (long long)d->st_ino},
        {"st_mode", k->st_mode, d->st_mode},
        {"st_nlink", (long long)k->st_nlink, (long long)d->st_nlink},
        {"st_uid", k->st_uid, d->st_uid},
        {"st_gid", k->st_gid, d->st_gid},
        {"st_size", k->st_size, d->st_size},
        {"st_rdev", (long long)k->st_rdev, (long long)d->st_rdev},
        {"st_mtim", ns_of(k->st_mtim), ns_of(d->st_mtim)},
        {"st_ctim", ns_of(k->st_ctim), ns_of(d->st_ctim)},
    };
    counted();
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].cached != f[i].daemon)
            fail_at(file, line,
                    "%s: the kernel's cached %s is %lld, the daemon's %lld (stale attributes)",
                    what, f[i].field, f[i].cached, f[i].daemon);
}

#define STAT(path) stat_at(__FILE__, __LINE__, path)
static struct stat stat_at(const char *file, int line, const char *path)
{
    struct stat k, st;
    struct statx x;
    char what[300];
    memset(&st, 0, sizeof st);
    counted();
    if (lstat(path, &k) < 0) {
        fail_at(file, line, "lstat(\"%.200s\"): %s", path, ename(errno));
        return st;
    }
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &x) <
        0) {
        fail_at(file, line, "statx(\"%.200s\", FORCE_SYNC): %s", path, ename(errno));
        return k;
    }
    from_statx(&x, &st);
    snprintf(what, sizeof what, "stat(\"%.200s\")", path);
    compare_views(file, line, what, &k, &st);
    return st;
}

#define FSTAT(fd) fstat_at(__FILE__, __LINE__, fd)
static struct stat fstat_at(const char *file, int line, int fd)
{
    struct stat k, st;
    struct statx x;
    memset(&st, 0, sizeof st);
    counted();
    if (fstat(fd, &k) < 0) {
        fail_at(file, line, "fstat(%d): %s", fd, ename(errno));
        return st;
    }
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &x) < 0) {
        fail_at(file, line, "statx(%d, FORCE_SYNC): %s", fd, ename(errno));
        return k;
    }
    from_statx(&x, &st);
    compare_views(file, line, "fstat", &k, &st);
    return st;
}

/* Create (or truncate) path with mode, open read-write. */
#define CREATE(path) OK(open(path, O_CREAT | O_TRUNC | O_RDWR, 0644))

/* Create path holding the string s. */
#define PUT(path, s) put_at(__FILE__, __LINE__, path, s)
static void put_at(const char *file, int line, const char *path, const char *s)
{
    counted();
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        fail_at(file, line, "open(\"%s\", O_CREAT): %s", path, ename(errno));
        return;
    }
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        fail_at(file, line, "write(\"%s\"): %s", path, ename(errno));
    close(fd);
}

/* The file at path holds exactly the string s. */
#define HOLDS(path, s) holds_at(__FILE__, __LINE__, path, s)
static void holds_at(const char *file, int line, const char *path, const char *s)
{
    char buf[4096];
    counted();
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fail_at(file, line, "open(\"%s\"): %s", path, ename(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        fail_at(file, line, "read(\"%s\"): %s", path, ename(errno));
        return;
    }
    buf[n] = 0;
    if ((size_t)n != strlen(s) || memcmp(buf, s, (size_t)n))
        fail_at(file, line, "\"%s\" holds \"%.60s\" (%zd bytes), expected \"%.60s\"", path, buf, n,
                s);
}

/* Byte off of the test pattern number seed: never zero, so holes show. */
static unsigned char pat(uint64_t off, unsigned seed)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ (seed + 1ULL) * 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return (unsigned char)((x >> 40) % 255 + 1);
}

static void fill_pat(unsigned char *b, size_t n, uint64_t off, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pat(off + i, seed);
}

/* pwrite all of buf at off (in as many calls as it takes). */
static bool pwrite_all(const char *file, int line, int fd, const void *buf, size_t len,
                       uint64_t off)
{
    size_t done = 0;
    counted();
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n <= 0) {
            fail_at(file, line, "pwrite(%zu bytes at %llu): %s", len - done,
                    (unsigned long long)(off + done), n < 0 ? ename(errno) : "wrote 0");
            return false;
        }
        done += (size_t)n;
    }
    return true;
}
#define PWRITE(fd, buf, len, off) pwrite_all(__FILE__, __LINE__, fd, buf, len, off)

/* Write len bytes of pattern seed at off: byte off+i is pat(off+i, seed). */
#define WRITE_PAT(fd, off, len, seed) write_pat(__FILE__, __LINE__, fd, off, len, seed)
static bool write_pat(const char *file, int line, int fd, uint64_t off, size_t len, unsigned seed)
{
    unsigned char *b = xmalloc(len ? len : 1);
    fill_pat(b, len, off, seed);
    bool ok = pwrite_all(file, line, fd, b, len, off);
    free(b);
    return ok;
}

static void drop_cache(int fd)
{
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Bytes [off, off+len) of the file are want[0..len): once through the page
 * cache, once from the daemon. */
#define EXPECT_BYTES(fd, off, want, len, what)                                                     \
    expect_bytes(__FILE__, __LINE__, fd, off, want, len, what)
static bool expect_bytes(const char *file, int line, int fd, uint64_t off, const void *want,
                         size_t len, const char *what)
{
    unsigned char *got = xmalloc(len ? len : 1);
    const unsigned char *w = want;
    bool ok = true;
    for (int pass = 0; ok && pass < 2; pass++) {
        const char *how = pass ? "from the daemon" : "through the page cache";
        size_t done = 0;
        counted();
        if (pass)
            drop_cache(fd);
        while (done < len) {
            ssize_t n = pread(fd, got + done, len - done, (off_t)(off + done));
            if (n < 0) {
                fail_at(file, line, "%s: pread(%zu bytes at %llu) %s: %s", what, len - done,
                        (unsigned long long)(off + done), how, ename(errno));
                ok = false;
                break;
            }
            if (n == 0) {
                fail_at(file, line, "%s: short read %s: %zu of %zu bytes at %llu", what, how, done,
                        len, (unsigned long long)off);
                ok = false;
                break;
            }
            done += (size_t)n;
        }
        for (size_t i = 0; ok && i < len; i++)
            if (got[i] != w[i]) {
                size_t j = i;
                while (j < len && got[j] != w[j])
                    j++;
                fail_at(file, line,
                        "%s: byte %llu is 0x%02x, expected 0x%02x (read %s; %zu bytes "
                        "differ from there)",
                        what, (unsigned long long)(off + i), got[i], w[i], how, j - i);
                ok = false;
            }
    }
    free(got);
    return ok;
}

#define EXPECT_PAT(fd, off, len, seed, what)                                                       \
    expect_pat(__FILE__, __LINE__, fd, off, len, seed, what)
static bool expect_pat(const char *file, int line, int fd, uint64_t off, size_t len, unsigned seed,
                       const char *what)
{
    unsigned char *w = xmalloc(len ? len : 1);
    fill_pat(w, len, off, seed);
    bool ok = expect_bytes(file, line, fd, off, w, len, what);
    free(w);
    return ok;
}

#define EXPECT_ZERO(fd, off, len, what) expect_zero(__FILE__, __LINE__, fd, off, len, what)
static bool expect_zero(const char *file, int line, int fd, uint64_t off, size_t len,
                        const char *what)
{
    unsigned char *w = xcalloc(len ? len : 1);
    bool ok = expect_bytes(file, line, fd, off, w, len, what);
    free(w);
    return ok;
}

/* A directory listing, read with getdents64 into a 4 KiB buffer. */
struct dirent64_raw {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct entry {
    char name[256];
    uint64_t ino;
    int64_t off;
    unsigned char type;
};

/* All entries of path ("." and ".." too); the caller frees *out. -1 on error. */
static int list_dir(const char *path, struct entry **out)
{
    static char buf[4096] __attribute__((aligned(8)));
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    int n = 0, cap = 0;
    *out = NULL;
    if (fd < 0)
        return -1;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got < 0) {
            n = -1;
            break;
        }
        if (got == 0)
            break;
        for (long pos = 0; pos < got;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + pos);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            snprintf((*out)[n].name, sizeof(*out)[n].name, "%s", d->d_name);
            (*out)[n].ino = d->d_ino;
            (*out)[n].off = d->d_off;
            (*out)[n].type = d->d_type;
            n++;
            pos += d->d_reclen;
        }
    }
    close(fd);
    return n;
}

/* The entry called name in path: its index in *es, or -1. */
static const struct entry *find_entry(const struct entry *es, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(es[i].name, name))
            return &es[i];
    return NULL;
}

/* The inode number readdir gives for ".." in dir. */
static uint64_t dotdot_ino(const char *dir)
{
    struct entry *es;
    int n = list_dir(dir, &es);
    const struct entry *e = n > 0 ? find_entry(es, n, "..") : NULL;
    uint64_t ino = e ? e->ino : 0;
    free(es);
    return ino;
}

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static const char *wait_status(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited with %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "was killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(buf, sizeof buf, "ended with status 0x%x", st);
    return buf;
}

/* Wait for a child this topic forked; it must exit with 0. */
#define REAP(pid, what) reap_at(__FILE__, __LINE__, pid, what)
static void reap_at(const char *file, int line, pid_t pid, const char *what)
{
    int st;
    counted();
    if (waitpid(pid, &st, 0) != pid)
        fail_at(file, line, "waitpid(%s): %s", what, ename(errno));
    else if (!WIFEXITED(st) || WEXITSTATUS(st))
        fail_at(file, line, "%s %s", what, wait_status(st));
}

/* Run fn in a child process as the user nobody (group nogroup, no
 * supplementary groups), in the current directory. */
#define AS_NOBODY(fn) as_nobody(__FILE__, __LINE__, fn, #fn)
static void as_nobody(const char *file, int line, void (*fn)(void), const char *name)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fail_at(file, line, "fork: %s", ename(errno));
        return;
    }
    if (pid == 0) {
        if (setgroups(0, NULL) || setresgid(nobody_gid, nobody_gid, nobody_gid) ||
            setresuid(nobody_uid, nobody_uid, nobody_uid)) {
            fail_at(file, line, "becoming nobody: %s", ename(errno));
            _exit(1);
        }
        fn();
        fflush(stdout);
        _exit(0);
    }
    reap_at(file, line, pid, name);
}

/* ---- open, creat, O_EXCL, O_TRUNC, O_APPEND ------------------------------------------------ */

enum { REC = 64, RECS = 500 };

/* One of two processes appending RECS records of REC bytes to path. */
static void append_records(const char *path, char tag)
{
    char rec[REC];
    int fd = OK(open(path, O_WRONLY | O_APPEND));
    for (int i = 0; i < RECS && fd >= 0; i++) {
        memset(rec, '.', sizeof rec);
        int n = snprintf(rec, sizeof rec, "%c %06d ", tag, i);
        rec[n] = '.';
        rec[REC - 1] = '\n';
        if (!EQM(write(fd, rec, REC), REC, "an appended record"))
            break;
    }
    close(fd);
}

static void check_records(const char *path)
{
    int fd = OK(open(path, O_RDONLY));
    struct stat st = FSTAT(fd);
    if (!EQM(st.st_size, 2 * RECS * REC, "size after concurrent appends")) {
        close(fd);
        return;
    }
    char *buf = xmalloc((size_t)st.st_size);
    EQ(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    int next[2] = {0, 0}, bad = 0;
    for (int i = 0; i < 2 * RECS; i++) {
        const char *r = buf + (size_t)i * REC;
        int seq = -1;
        char tag = r[0];
        if ((tag != 'A' && tag != 'B') || sscanf(r + 2, "%d", &seq) != 1 ||
            seq != next[tag - 'A'] || r[REC - 1] != '\n') {
            if (bad++ < 3)
                CHECKF(false, "record %d (at %d) is \"%.*s\", expected tag A or B with seq %d/%d",
                       i, i * REC, REC - 1, r, next[0], next[1]);
            continue;
        }
        next[tag - 'A']++;
    }
    EQM(bad, 0, "torn or misplaced appended records");
    free(buf);
    close(fd);
}

static void t_open(void)
{
    char buf[256];
    struct stat st;

    /* O_EXCL */
    int fd = OK(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
    close(fd);
    FAILS(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    OK(mkdir("d", 0755));
    FAILS(open("d", O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
    OK(symlink("nowhere", "dangling"));
    FAILS(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    FAILS(access("nowhere", F_OK), ENOENT); /* O_EXCL does not follow the link */

    /* creat: write-only, the mode asked for, the umask applied */
    fd = OK(creat("c", 0640));
    FAILS(read(fd, buf, 1), EBADF);
    st = FSTAT(fd);
    EQ(st.st_mode, S_IFREG | 0640);
    EQ(st.st_size, 0);
    close(fd);
    umask(027);
    fd = OK(open("m", O_CREAT | O_WRONLY, 0666));
    umask(0);
    EQM(FSTAT(fd).st_mode, S_IFREG | 0640, "open(0666) under umask 027");
    close(fd);

    /* errors */
    FAILS(open("absent", O_RDONLY), ENOENT);
    FAILS(open("f/x", O_RDONLY), ENOTDIR);
    FAILS(open("f/x", O_CREAT | O_WRONLY, 0644), ENOTDIR);
    FAILS(open("d", O_WRONLY), EISDIR);
    FAILS(open("d", O_RDWR), EISDIR);
    FAILS(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
    FAILS(open("absent/x", O_CREAT | O_WRONLY, 0644), ENOENT);
    FAILS(open("f/", O_RDONLY), ENOTDIR);

    /* O_TRUNC of a file in blocks, and of an inline one */
    fd = CREATE("t");
    WRITE_PAT(fd, 0, 100000, 1);
    close(fd);
    struct stat st0 = STAT("t");
    tick();
    fd = OK(open("t", O_RDWR | O_TRUNC));
    st = FSTAT(fd);
    EQM(st.st_size, 0, "after O_TRUNC");
    CHECKF(ns_of(st.st_mtim) > ns_of(st0.st_mtim), "O_TRUNC must change mtime");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "O_TRUNC must change ctime");
    EQ(write(fd, "ab", 2), 2);
    EXPECT_BYTES(fd, 0, "ab", 2, "written after O_TRUNC");
    EQM(FSTAT(fd).st_size, 2, "2 bytes written after O_TRUNC");
    close(fd);
    fd = OK(open("t", O_RDONLY));
    EQM(read(fd, buf, sizeof buf), 2, "no old bytes come back after O_TRUNC");
    close(fd);
    PUT("small", "0123456789");
    fd = OK(open("small", O_WRONLY | O_TRUNC));
    EQ(FSTAT(fd).st_size, 0);
    close(fd);
    HOLDS("small", "");
    fd = OK(open("t", O_CREAT | O_TRUNC | O_WRONLY, 0600)); /* exists: mode kept */
    st = FSTAT(fd);
    EQ(st.st_size, 0);
    EQM(st.st_mode, S_IFREG | 0644, "O_CREAT of an existing file keeps its mode");
    close(fd);

    /* O_APPEND from two descriptors: every write lands at the end */
    char want[4096];
    size_t len = 0;
    int a = OK(open("app", O_CREAT | O_WRONLY | O_APPEND, 0644));
    int b = OK(open("app", O_WRONLY | O_APPEND));
    for (int i = 0; i < 40; i++) {
        int fdi = i % 2 ? b : a;
        int n = snprintf(buf, sizeof buf, i % 2 ? "b%d-" : "A%02d", i);
        if (i == 20)
            lseek(fdi, 0, SEEK_SET); /* the position does not matter */
        EQ(write(fdi, buf, (size_t)n), n);
        memcpy(want + len, buf, (size_t)n);
        len += (size_t)n;
        if (!EQM(lseek(fdi, 0, SEEK_CUR), len, "offset after an O_APPEND write"))
            break;
    }
    int c = OK(open("app", O_RDWR)); /* not appending: writes where it is */
    EQ(write(c, "Z", 1), 1);
    want[0] = 'Z';
    EQ(write(a, "end", 3), 3);
    memcpy(want + len, "end", 3);
    len += 3;
    EXPECT_BYTES(c, 0, want, len, "interleaved appends");
    EQM(FSTAT(c).st_size, len, "size after interleaved appends");
    close(a);
    close(b);
    close(c);

    /* two processes appending at once: no record torn or lost */
    close(CREATE("race"));
    fflush(stdout);
    pid_t p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = fork();
        if (p[i] == 0) {
            append_records("race", (char)('A' + i));
            fflush(stdout);
            _exit(0);
        }
    }
    REAP(p[0], "appender A");
    REAP(p[1], "appender B");
    check_records("race");
}

/* ---- read, write, pread, pwrite ---------------------------------------------------------- */

static void t_rw(void)
{
    enum { N = 300000 };
    unsigned char *model = xmalloc(N), buf[1000];
    int fd = CREATE("f");

    /* sequential writes in chunks that straddle the 64 KiB blocks */
    fill_pat(model, N, 0, 1);
    for (size_t off = 0; off < N; off += 7001) {
        size_t n = N - off < 7001 ? N - off : 7001;
        if (!EQM(write(fd, model + off, n), n, "a sequential write"))
            break;
    }
    EQ(FSTAT(fd).st_size, N);
    EXPECT_BYTES(fd, 0, model, N, "sequential writes");
    EXPECT_BYTES(fd, BLOCK - 100, model + BLOCK - 100, 200, "a read across a block boundary");

    /* overwrites across a boundary, and on either side of one */
    memset(model + BLOCK - 50, 'X', 100);
    PWRITE(fd, model + BLOCK - 50, 100, BLOCK - 50);
    model[2 * BLOCK - 1] = 'L';
    model[2 * BLOCK] = 'R';
    PWRITE(fd, "L", 1, 2 * BLOCK - 1);
    PWRITE(fd, "R", 1, 2 * BLOCK);
    EXPECT_BYTES(fd, 0, model, N, "after overwrites at block boundaries");

    /* one large unaligned write */
    fill_pat(model + 12345, 200000, 12345, 2);
    WRITE_PAT(fd, 12345, 200000, 2);
    EXPECT_BYTES(fd, 0, model, N, "after a 200000-byte write at 12345");

    /* end of file, empty and invalid calls */
    EQM(pread(fd, buf, 100, N - 10), 10, "a read that crosses the end");
    EQM(pread(fd, buf, 100, N), 0, "a read at the end");
    EQM(pread(fd, buf, 100, 1LL << 40), 0, "a read far past the end");
    lseek(fd, 0, SEEK_END);
    EQM(read(fd, buf, 100), 0, "read at the end");
    EQM(write(fd, buf, 0), 0, "an empty write");
    EQM(pread(fd, buf, 0, 0), 0, "an empty read");
    EQM(FSTAT(fd).st_size, N, "size after an empty write");
    FAILS(pwrite(fd, "x", 1, -1), EINVAL);
    FAILS(pread(fd, buf, 1, -1), EINVAL);
    int ro = OK(open("f", O_RDONLY));
    FAILS(write(ro, "x", 1), EBADF);
    close(ro);
    int dfd = OK(open(".", O_RDONLY | O_DIRECTORY));
    FAILS(read(dfd, buf, 1), EISDIR);
    close(dfd);
    close(fd);
    fd = OK(open("f", O_RDWR));
    EXPECT_BYTES(fd, 0, model, N, "after close and open");
    close(fd);

    /* a small (inline) file turns into blocks */
    fd = CREATE("g");
    WRITE_PAT(fd, 0, 100, 3);
    WRITE_PAT(fd, 70000, 10, 4);
    EQ(FSTAT(fd).st_size, 70010);
    EXPECT_PAT(fd, 0, 100, 3, "inline bytes after the file went to blocks");
    EXPECT_ZERO(fd, 100, 70000 - 100, "the gap between the inline bytes and a far write");
    EXPECT_PAT(fd, 70000, 10, 4, "the far write");
    close(fd);

    /* growing by many small writes past the inline limit */
    fd = CREATE("h");
    for (int i = 0; i < 30; i++)
        WRITE_PAT(fd, (uint64_t)i * 100, 100, 5);
    EXPECT_PAT(fd, 0, 3000, 5, "30 writes of 100 bytes");
    close(fd);

    /* more than the write buffer takes for one file (16 MiB) */
    fd = CREATE("big");
    for (unsigned i = 0; i < 24; i++)
        if (!WRITE_PAT(fd, i * MiB, MiB, 6))
            break;
    EQ(FSTAT(fd).st_size, 24 * MiB);
    for (unsigned i = 0; i < 24; i++)
        if (!EXPECT_PAT(fd, i * MiB, MiB, 6, "a 24 MiB file"))
            break;
    close(fd);

    /* offsets past 4 GiB */
    fd = CREATE("huge");
    WRITE_PAT(fd, 5 * GiB, 4096, 7);
    struct stat st = FSTAT(fd);
    EQM(st.st_size, 5 * GiB + 4096, "size after a write at 5 GiB");
    EXPECT_PAT(fd, 5 * GiB, 4096, 7, "4 KiB at 5 GiB");
    EXPECT_ZERO(fd, 4 * GiB, BLOCK, "the hole at 4 GiB");
    EXPECT_ZERO(fd, 0, BLOCK, "the hole at 0");
    unsigned char edge[200];
    memset(edge, 0, 100);
    fill_pat(edge + 100, 100, 5 * GiB, 7);
    EXPECT_BYTES(fd, 5 * GiB - 100, edge, 200, "hole then data at 5 GiB");
    WRITE_PAT(fd, 4 * GiB - 50, 100, 8); /* across the 32-bit line */
    EXPECT_PAT(fd, 4 * GiB - 50, 100, 8, "100 bytes across 4 GiB");
    EXPECT_ZERO(fd, 0, 4096, "offset 0 after a write at 4 GiB - 50 (32-bit wrap?)");
    EXPECT_ZERO(fd, 4 * GiB + 50, 4096, "after the write across 4 GiB");
    CHECKF(st.st_blocks * 512 < st.st_size / 2,
           "a sparse file of %lld bytes holding 4 KiB claims st_blocks = %lld (%lld bytes "
           "allocated)",
           (long long)st.st_size, (long long)st.st_blocks, (long long)st.st_blocks * 512);
    close(fd);
    fd = OK(open("huge", O_RDONLY));
    EQM(FSTAT(fd).st_size, 5 * GiB + 4096, "size after reopening");
    EXPECT_PAT(fd, 5 * GiB, 4096, 7, "4 KiB at 5 GiB after reopening");
    EXPECT_PAT(fd, 4 * GiB - 50, 100, 8, "100 bytes across 4 GiB after reopening");
    close(fd);

    /* the far end of the 64-bit range */
    fd = CREATE("vast");
    OK(ftruncate(fd, 1LL << 62));
    EQM(FSTAT(fd).st_size, 1LL << 62, "size after ftruncate to 4 EiB");
    EQ(pwrite(fd, "x", 1, (1LL << 62) - 1), 1);
    EXPECT_BYTES(fd, (1ULL << 62) - 1, "x", 1, "the last byte of a 4 EiB file");
    EXPECT_ZERO(fd, 1ULL << 61, 4096, "the middle of a 4 EiB file");
    EQ(pwrite(fd, "y", 1, LLONG_MAX - 1), 1); /* the last byte a file can have */
    EQM(FSTAT(fd).st_size, LLONG_MAX, "size after writing the last possible byte");
    EXPECT_BYTES(fd, LLONG_MAX - 1, "y", 1, "the last possible byte");
    close(fd);

    /* mmap: a shared mapping writes to the file, and sees what write() wrote */
    fd = CREATE("map");
    OK(ftruncate(fd, 3 * BLOCK));
    unsigned char *m = mmap(NULL, 3 * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (CHECKF(m != MAP_FAILED, "mmap: %s", ename(errno))) {
        fill_pat(m + BLOCK - 100, 200, BLOCK - 100, 9);
        OK(msync(m, 3 * BLOCK, MS_SYNC));
        munmap(m, 3 * BLOCK);
        EXPECT_PAT(fd, BLOCK - 100, 200, 9, "written through a shared mapping");
        EXPECT_ZERO(fd, 0, BLOCK - 100, "not written through a shared mapping");
    }
    WRITE_PAT(fd, 2 * BLOCK, 100, 10);
    m = mmap(NULL, 3 * BLOCK, PROT_READ, MAP_SHARED, fd, 0);
    if (CHECKF(m != MAP_FAILED, "mmap: %s", ename(errno))) {
        unsigned char w[100];
        fill_pat(w, 100, 2 * BLOCK, 10);
        CHECKF(!memcmp(m + 2 * BLOCK, w, 100), "a mapping does not see what write() wrote");
        munmap(m, 3 * BLOCK);
    }
    close(fd);

    /* O_DIRECT, if the mount takes it */
    static unsigned char al[8192] __attribute__((aligned(4096)));
    {
        fd = open("direct", O_CREAT | O_RDWR | O_DIRECT, 0644);
        if (fd < 0) {
            CHECKF(errno == EINVAL, "open(O_DIRECT): %s", ename(errno));
        } else {
            fill_pat(al, 8192, 4096, 11);
            EQ(pwrite(fd, al, 8192, 4096), 8192);
            memset(al, 0, 8192);
            EQ(pread(fd, al, 8192, 4096), 8192);
            unsigned char w[8192];
            fill_pat(w, 8192, 4096, 11);
            CHECKF(!memcmp(al, w, 8192), "O_DIRECT read back differs");
            close(fd);
            fd = OK(open("direct", O_RDONLY));
            EXPECT_ZERO(fd, 0, 4096, "before an O_DIRECT write");
            EXPECT_PAT(fd, 4096, 8192, 11, "an O_DIRECT write, read without O_DIRECT");
            close(fd);
        }
    }
    free(model);
}

/* ---- sparse files: SEEK_DATA and SEEK_HOLE ---------------------------------------------- */

static void t_sparse(void)
{
    int fd = CREATE("s");
    WRITE_PAT(fd, 0, 4096, 1);
    WRITE_PAT(fd, MiB, 4096, 2);
    WRITE_PAT(fd, 5 * GiB, 4096, 3);
    long long size = 5 * GiB + 4096; /* no fsync: seeking must see buffered writes */

    EQ(lseek(fd, 0, SEEK_DATA), 0);
    long long h = OK(lseek(fd, 0, SEEK_HOLE));
    CHECKF(h >= 4096 && h <= (long long)MiB, "SEEK_HOLE from 0 gave %lld, expected 4096..1 MiB", h);
    EQM(lseek(fd, 0, SEEK_CUR), h, "the offset SEEK_HOLE moved to");
    long long d = OK(lseek(fd, h, SEEK_DATA));
    CHECKF(d > h && d <= (long long)MiB,
           "SEEK_DATA from the hole at %lld gave %lld, expected past it and <= 1 MiB", h, d);
    long long h2 = OK(lseek(fd, MiB, SEEK_HOLE));
    CHECKF(h2 >= (long long)(MiB + 4096) && h2 < (long long)(5 * GiB),
           "SEEK_HOLE from 1 MiB gave %lld", h2);
    long long d2 = OK(lseek(fd, h2, SEEK_DATA));
    CHECKF(d2 > h2 && d2 <= (long long)(5 * GiB),
           "SEEK_DATA from %lld gave %lld, expected <= 5 GiB", h2, d2);
    CHECKF(d2 >= (long long)(5 * GiB - MiB),
           "SEEK_DATA from %lld gave %lld: 5 GiB of holes reported as data", h2, d2);
    EQM(lseek(fd, 5 * GiB, SEEK_HOLE), size, "SEEK_HOLE in the last data: the end");
    FAILS(lseek(fd, size, SEEK_DATA), ENXIO);
    FAILS(lseek(fd, size, SEEK_HOLE), ENXIO);
    FAILS(lseek(fd, size + 1000, SEEK_DATA), ENXIO);
    FAILS2(lseek(fd, -1, SEEK_DATA), ENXIO, EINVAL);
    EXPECT_ZERO(fd, 4096, BLOCK, "a hole");
    EXPECT_ZERO(fd, 2 * MiB, BLOCK, "a hole");
    EXPECT_PAT(fd, MiB, 4096, 2, "data between holes");
    close(fd);

    /* holes made by ftruncate, data written into them later */
    fd = CREATE("t");
    OK(ftruncate(fd, 10 * MiB));
    WRITE_PAT(fd, 8 * MiB, 4096, 4);
    d = OK(lseek(fd, 0, SEEK_DATA));
    CHECKF(d <= (long long)(8 * MiB), "SEEK_DATA from 0 gave %lld, past the data at 8 MiB", d);
    h = OK(lseek(fd, 8 * MiB, SEEK_HOLE));
    CHECKF(h >= (long long)(8 * MiB + 4096) && h <= (long long)(10 * MiB),
           "SEEK_HOLE from 8 MiB gave %lld", h);
    EXPECT_ZERO(fd, 0, BLOCK, "the start of a truncated-up file");
    EXPECT_PAT(fd, 8 * MiB, 4096, 4, "data written into a hole");
    close(fd);

    /* an empty file has neither data nor holes to seek to */
    fd = CREATE("empty");
    FAILS(lseek(fd, 0, SEEK_DATA), ENXIO);
    FAILS(lseek(fd, 0, SEEK_HOLE), ENXIO);
    close(fd);
}

/* ---- ftruncate ------------------------------------------------------------------------- */

static void t_truncate(void)
{
    enum { N = 200000 };
    unsigned char *model = xcalloc(N);
    int fd = CREATE("f");
    fill_pat(model, N, 0, 1);
    WRITE_PAT(fd, 0, N, 1);
    struct stat st0 = FSTAT(fd), st;
    tick();

    OK(ftruncate(fd, 100000));
    st = FSTAT(fd);
    EQM(st.st_size, 100000, "after cutting to 100000");
    CHECKF(ns_of(st.st_mtim) > ns_of(st0.st_mtim), "ftruncate must change mtime");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "ftruncate must change ctime");
    EXPECT_BYTES(fd, 0, model, 100000, "what is left after a cut");
    OK(ftruncate(fd, N));
    EQ(FSTAT(fd).st_size, N);
    EXPECT_ZERO(fd, 100000, N - 100000, "extended after a cut: the old data must be gone");
    EXPECT_BYTES(fd, 0, model, 100000, "kept before the cut");

    /* cut inside a block, then write past the cut in the same block */
    OK(ftruncate(fd, BLOCK + 64));
    PWRITE(fd, "Z", 1, BLOCK + 164);
    EQ(FSTAT(fd).st_size, BLOCK + 165);
    EXPECT_BYTES(fd, 0, model, BLOCK + 64, "before a cut inside a block");
    EXPECT_ZERO(fd, BLOCK + 64, 100, "between a cut and a write just past it");
    EXPECT_BYTES(fd, BLOCK + 164, "Z", 1, "the write past the cut");

    /* cut at a block boundary, then grow */
    OK(ftruncate(fd, BLOCK));
    OK(ftruncate(fd, 2 * BLOCK));
    EXPECT_BYTES(fd, 0, model, BLOCK, "before a cut at the block boundary");
    EXPECT_ZERO(fd, BLOCK, BLOCK, "after a cut at the block boundary");

    /* to nothing and back */
    OK(ftruncate(fd, 0));
    EQ(FSTAT(fd).st_size, 0);
    OK(ftruncate(fd, 5000));
    PWRITE(fd, "abc", 3, 10);
    unsigned char w[5000] = {0};
    memcpy(w + 10, "abc", 3);
    EXPECT_BYTES(fd, 0, w, 5000, "grown from zero");
    close(fd);

    /* an inline file */
    fd = CREATE("g");
    WRITE_PAT(fd, 0, 500, 2);
    OK(ftruncate(fd, 100));
    OK(ftruncate(fd, 500));
    EXPECT_PAT(fd, 0, 100, 2, "kept of an inline file");
    EXPECT_ZERO(fd, 100, 400, "cut from an inline file, then regrown");
    close(fd);

    /* sparse from the start, written in the middle and at the end */
    fd = CREATE("h");
    OK(ftruncate(fd, 100000));
    WRITE_PAT(fd, 50, 10, 3);
    EQ(FSTAT(fd).st_size, 100000);
    EXPECT_ZERO(fd, 0, 50, "before a small write into a sparse file");
    EXPECT_PAT(fd, 50, 10, 3, "a small write into a sparse file");
    EXPECT_ZERO(fd, 60, 100000 - 60, "after a small write into a sparse file");
    WRITE_PAT(fd, 99990, 10, 4);
    EXPECT_PAT(fd, 50, 10, 3, "a small write, after a write at the end");
    EXPECT_ZERO(fd, 60, 99990 - 60, "the hole, after a write at the end");
    EXPECT_PAT(fd, 99990, 10, 4, "the write at the end");
    close(fd);

    /* through the path, and the errors */
    OK(truncate("g", 7));
    EQ(STAT("g").st_size, 7);
    fd = OK(open("g", O_RDWR));
    FAILS(ftruncate(fd, -1), EINVAL);
    close(fd);
    fd = OK(open("g", O_RDONLY));
    FAILS2(ftruncate(fd, 0), EINVAL, EBADF);
    close(fd);
    OK(mkdir("d", 0755));
    FAILS(truncate("d", 0), EISDIR);

    /* one descriptor cuts what another has just written */
    int a = CREATE("two"), b = OK(open("two", O_RDWR));
    WRITE_PAT(a, 0, 1000, 5);
    OK(ftruncate(b, 500));
    EQ(FSTAT(a).st_size, 500);
    PWRITE(a, "q", 1, 2000);
    EXPECT_PAT(a, 0, 500, 5, "kept by the other descriptor's cut");
    EXPECT_ZERO(a, 500, 1500, "cut by another descriptor, then written past");
    close(a);
    close(b);
    free(model);
}

/* ---- fallocate ------------------------------------------------------------------------- */

static void t_fallocate(void)
{
    enum { N = 200000 };
    unsigned char *model = xmalloc(N + BLOCK);

    /* mode 0 extends the size with zeros, and never shrinks it */
    int fd = CREATE("f");
    OK(fallocate(fd, 0, 0, 100000));
    EQM(FSTAT(fd).st_size, 100000, "after fallocate(0, 100000)");
    EXPECT_ZERO(fd, 0, 100000, "allocated");
    OK(fallocate(fd, 0, 10, 10));
    EQM(FSTAT(fd).st_size, 100000, "fallocate inside the file");
    OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 100000, 50000));
    EQM(FSTAT(fd).st_size, 100000, "fallocate past the end with KEEP_SIZE");
    close(fd);

    /* buffered data survives an allocation past it */
    fd = CREATE("buffered");
    WRITE_PAT(fd, 0, 100, 1);
    OK(fallocate(fd, 0, 0, 1000));
    EQ(FSTAT(fd).st_size, 1000);
    EXPECT_PAT(fd, 0, 100, 1, "written just before fallocate");
    EXPECT_ZERO(fd, 100, 900, "allocated after written data");
    close(fd);

    /* punching a hole zeroes the range and keeps the size */
    fd = CREATE("p");
    fill_pat(model, N, 0, 2);
    WRITE_PAT(fd, 0, N, 2);
    struct stat st0 = FSTAT(fd), st;
    tick();
    OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 60000, 80000));
    memset(model + 60000, 0, 80000);
    st = FSTAT(fd);
    EQM(st.st_size, N, "size after punching a hole");
    CHECKF(ns_of(st.st_mtim) > ns_of(st0.st_mtim), "punching a hole must change mtime");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "punching a hole must change ctime");
    EXPECT_BYTES(fd, 0, model, N, "after punching [60000, 140000)");
    long long h = OK(lseek(fd, 0, SEEK_HOLE));
    CHECKF(h <= (long long)BLOCK,
           "SEEK_HOLE from 0 gave %lld: block [64K, 128K) was punched out entirely", h);
    OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 190000, 100000));
    memset(model + 190000, 0, 10000);
    EQM(FSTAT(fd).st_size, N, "size after punching past the end");
    EXPECT_BYTES(fd, 0, model, N, "after punching [190000, 290000)");

    /* mode 0 over data keeps it */
    OK(fallocate(fd, 0, 0, N + BLOCK));
    memset(model + N, 0, BLOCK);
    EQ(FSTAT(fd).st_size, N + BLOCK);
    EXPECT_BYTES(fd, 0, model, N + BLOCK, "after fallocate over data");

    /* ZERO_RANGE is optional; if it works it zeroes and may extend */
    int r = fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 2000);
    if (r == 0) {
        memset(model + 1000, 0, 2000);
        EXPECT_BYTES(fd, 0, model, N + BLOCK, "after FALLOC_FL_ZERO_RANGE [1000, 3000)");
        OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, N + BLOCK - 10, 100));
        EQM(FSTAT(fd).st_size, N + BLOCK + 90, "ZERO_RANGE past the end extends");
    } else {
        CHECKF(errno == EOPNOTSUPP, "fallocate(ZERO_RANGE) failed with %s", ename(errno));
    }

    /* modes that are not supported, and bad arguments */
    FAILS(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
    FAILS(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, BLOCK), EOPNOTSUPP);
    FAILS(fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, BLOCK), EOPNOTSUPP);
    FAILS(fallocate(fd, 0, 0, 0), EINVAL);
    FAILS(fallocate(fd, 0, -1, 10), EINVAL);
    close(fd);
    fd = OK(open("p", O_RDONLY));
    FAILS(fallocate(fd, 0, 0, 10), EBADF);
    close(fd);

    /* a hole in an inline file */
    fd = CREATE("i");
    WRITE_PAT(fd, 0, 500, 3);
    OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 100));
    EQ(FSTAT(fd).st_size, 500);
    EXPECT_PAT(fd, 0, 100, 3, "before a hole in an inline file");
    EXPECT_ZERO(fd, 100, 100, "a hole in an inline file");
    EXPECT_PAT(fd, 200, 300, 3, "after a hole in an inline file");
    close(fd);
    free(model);
}

/* ---- copy_file_range -------------------------------------------------------------------- */

static void t_copy(void)
{
    int src = CREATE("src"), dst = CREATE("dst");
    WRITE_PAT(src, 0, 300000, 1);
    struct stat st0 = FSTAT(dst);
    tick();

    loff_t in = 1000, out = 5000;
    size_t left = 200000, total = 0;
    while (left) {
        ssize_t n = copy_file_range(src, &in, dst, &out, left, 0);
        if (n <= 0) {
            CHECKF(n == 0, "copy_file_range: %s", ename(errno));
            break;
        }
        left -= (size_t)n;
        total += (size_t)n;
    }
    EQM(total, 200000, "bytes copied");
    EQM(in, 201000, "off_in after the copy");
    EQM(out, 205000, "off_out after the copy");
    struct stat st = FSTAT(dst);
    EQ(st.st_size, 205000);
    CHECKF(ns_of(st.st_mtim) > ns_of(st0.st_mtim), "copy_file_range must change dst's mtime");
    EXPECT_ZERO(dst, 0, 5000, "before the copied range");
    unsigned char *w = xmalloc(200000);
    fill_pat(w, 200000, 1000, 1);
    EXPECT_BYTES(dst, 5000, w, 200000, "copied range");
    EQM(lseek(src, 0, SEEK_CUR), 0, "src offset untouched by a copy with offsets");
    EQM(lseek(dst, 0, SEEK_CUR), 0, "dst offset untouched by a copy with offsets");

    /* with the file offsets */
    lseek(src, 0, SEEK_SET);
    lseek(dst, 0, SEEK_END);
    EQ(copy_file_range(src, NULL, dst, NULL, 1000, 0), 1000);
    EQM(lseek(src, 0, SEEK_CUR), 1000, "src offset after a copy");
    EQM(lseek(dst, 0, SEEK_CUR), 206000, "dst offset after a copy");
    fill_pat(w, 1000, 0, 1);
    EXPECT_BYTES(dst, 205000, w, 1000, "copied with file offsets");

    /* at the end of the source, errors */
    in = 300000;
    out = 0;
    EQM(copy_file_range(src, &in, dst, &out, 100, 0), 0, "a copy from the end");
    in = 0;
    FAILS(copy_file_range(src, &in, dst, &out, 10, 1), EINVAL);
    int ro = OK(open("dst", O_RDONLY));
    FAILS(copy_file_range(src, &in, ro, &out, 10, 0), EBADF);
    close(ro);

    /* from data still buffered in the source */
    int s2 = CREATE("src2"), d2 = CREATE("dst2");
    WRITE_PAT(s2, 0, 70000, 2);
    in = out = 0;
    EQ(copy_file_range(s2, &in, d2, &out, 70000, 0), 70000);
    EXPECT_PAT(d2, 0, 70000, 2, "copied from freshly written data");
    close(s2);
    close(d2);
    close(src);
    close(dst);
    free(w);
}

/* ---- stat: fields and times ----------------------------------------------------------- */

/* ctime of path grows across op. */
#define CTIME_CHANGES(path, op, what)                                                              \
    do {                                                                                           \
        struct stat b_ = STAT(path);                                                               \
        tick();                                                                                    \
        op;                                                                                        \
        struct stat a_ = STAT(path);                                                               \
        CHECKF(ns_of(a_.st_ctim) > ns_of(b_.st_ctim), "ctime of %s after %s: %lld -> %lld", path,  \
               what, ns_of(b_.st_ctim), ns_of(a_.st_ctim));                                        \
    } while (0)

/* mtime and ctime of a directory grow across op. */
#define DIR_TIMES_CHANGE(dir, op, what)                                                            \
    do {                                                                                           \
        struct stat b_ = STAT(dir);                                                                \
        tick();                                                                                    \
        op;                                                                                        \
        struct stat a_ = STAT(dir);                                                                \
        CHECKF(ns_of(a_.st_mtim) > ns_of(b_.st_mtim), "mtime of %s after %s", dir, what);          \
        CHECKF(ns_of(a_.st_ctim) > ns_of(b_.st_ctim), "ctime of %s after %s", dir, what);          \
    } while (0)

/* A time within 5 s of now. */
#define NEAR_NOW(t, what) near_now(__FILE__, __LINE__, ns_of(t), what)
static void near_now(const char *file, int line, long long t, const char *what)
{
    long long now = now_ns();
    counted();
    if (llabs(t - now) >= 5000000000LL)
        fail_at(file, line, "%s is %lld, %.3f s from now (%lld)", what, t, (double)(t - now) / 1e9,
                now);
}

static void t_stat(void)
{
    int fd = OK(open("f", O_CREAT | O_RDWR, 0640));
    struct stat st = FSTAT(fd), st0;
    EQ(st.st_nlink, 1);
    EQ(st.st_size, 0);
    EQ(st.st_mode, S_IFREG | 0640);
    EQ(st.st_uid, geteuid());
    EQ(st.st_gid, getegid());
    CHECK(st.st_blksize > 0);
    CHECK(st.st_ino != 0);
    EQM(st.st_dev, STAT(".").st_dev, "st_dev of a file and of its directory");
    NEAR_NOW(st.st_atim, "atime of a new file");
    NEAR_NOW(st.st_mtim, "mtime of a new file");
    NEAR_NOW(st.st_ctim, "ctime of a new file");
    close(CREATE("other"));
    CHECKF(STAT("other").st_ino != st.st_ino, "two files share an inode number");

    /* a write changes mtime and ctime; committing it does not */
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    OK(futimens(fd, old));
    st0 = FSTAT(fd);
    tick();
    EQ(write(fd, "hello", 5), 5);
    st = FSTAT(fd);
    EQ(st.st_size, 5);
    CHECKF(ns_of(st.st_mtim) > ns_of(st0.st_mtim), "a write must change mtime");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "a write must change ctime");
    NEAR_NOW(st.st_mtim, "mtime after a write");
    OK(fsync(fd));
    st0 = FSTAT(fd);
    EQM(ns_of(st0.st_mtim), ns_of(st.st_mtim), "mtime after fsync vs. right after the write");
    EQM(ns_of(st0.st_ctim), ns_of(st.st_ctim), "ctime after fsync vs. right after the write");

    /* a write after setting a future mtime stamps the time of the write */
    struct timespec future[2] = {{0, UTIME_OMIT}, {4102444800LL, 0}}; /* 2100-01-01 */
    OK(futimens(fd, future));
    tick();
    EQ(pwrite(fd, "x", 1, 0), 1);
    NEAR_NOW(FSTAT(fd).st_mtim, "mtime right after a write that follows a future mtime");
    OK(fsync(fd));
    NEAR_NOW(FSTAT(fd).st_mtim, "mtime after fsync of a write that follows a future mtime");
    close(fd);
    NEAR_NOW(STAT("f").st_mtim, "mtime after close of a write that follows a future mtime");

    /* utimensat: exact times, UTIME_OMIT, UTIME_NOW */
    st0 = STAT("f");
    tick();
    struct timespec ts[2] = {{1234567890, 123456789}, {0, UTIME_OMIT}};
    OK(utimensat(AT_FDCWD, "f", ts, 0));
    st = STAT("f");
    EQM(ns_of(st.st_atim), 1234567890123456789LL, "atime set with utimensat");
    EQM(ns_of(st.st_mtim), ns_of(st0.st_mtim), "mtime with UTIME_OMIT");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "utimensat must change ctime");
    ts[0] = (struct timespec){0, UTIME_OMIT};
    ts[1] = (struct timespec){987654321, 999999999};
    OK(utimensat(AT_FDCWD, "f", ts, 0));
    st = STAT("f");
    EQM(ns_of(st.st_mtim), 987654321999999999LL, "mtime set with utimensat");
    EQM(ns_of(st.st_atim), 1234567890123456789LL, "atime with UTIME_OMIT");
    ts[0] = (struct timespec){0, UTIME_NOW};
    ts[1] = (struct timespec){0, UTIME_OMIT};
    OK(utimensat(AT_FDCWD, "f", ts, 0));
    st = STAT("f");
    NEAR_NOW(st.st_atim, "atime after UTIME_NOW");
    EQM(ns_of(st.st_mtim), 987654321999999999LL, "mtime with UTIME_OMIT after UTIME_NOW");
    ts[0] = (struct timespec){0, UTIME_OMIT};
    ts[1] = (struct timespec){0, UTIME_NOW};
    OK(utimensat(AT_FDCWD, "f", ts, 0));
    NEAR_NOW(STAT("f").st_mtim, "mtime after UTIME_NOW");
    OK(utimensat(AT_FDCWD, "f", old, 0));
    OK(utimensat(AT_FDCWD, "f", NULL, 0));
    st = STAT("f");
    NEAR_NOW(st.st_atim, "atime after utimensat(NULL)");
    NEAR_NOW(st.st_mtim, "mtime after utimensat(NULL)");
    ts[0] = (struct timespec){-1000000, 500}; /* before 1970 */
    ts[1] = (struct timespec){-1, 999999999};
    OK(utimensat(AT_FDCWD, "f", ts, 0));
    st = STAT("f");
    EQM(st.st_atim.tv_sec, -1000000, "atime seconds before 1970");
    EQM(st.st_atim.tv_nsec, 500, "atime nanoseconds before 1970");
    EQM(st.st_mtim.tv_sec, -1, "mtime seconds before 1970");
    EQM(st.st_mtim.tv_nsec, 999999999, "mtime nanoseconds before 1970");
    OK(symlink("f", "l"));
    st0 = STAT("f");
    ts[0] = ts[1] = (struct timespec){222222222, 0};
    OK(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
    EQM(STAT("l").st_mtim.tv_sec, 222222222, "mtime of a symlink set with NOFOLLOW");
    EQM(ns_of(STAT("f").st_mtim), ns_of(st0.st_mtim),
        "mtime of the target of a symlink set with NOFOLLOW");

    /* ctime follows chmod, chown, link, unlink of another name, rename, xattrs */
    CTIME_CHANGES("f", OK(chmod("f", 0600)), "chmod");
    CTIME_CHANGES("f", OK(chown("f", 1, 1)), "chown");
    CTIME_CHANGES("f", OK(link("f", "f2")), "link");
    CTIME_CHANGES("f", OK(unlink("f2")), "unlink of another name");
    CTIME_CHANGES("f", OK(setxattr("f", "user.t", "1", 1, 0)), "setxattr");
    st0 = STAT("f");
    tick();
    OK(rename("f", "g"));
    st = STAT("g");
    CHECKF(ns_of(st.st_ctim) > ns_of(st0.st_ctim), "rename must change ctime");
    EQM(ns_of(st.st_mtim), ns_of(st0.st_mtim), "rename must not change mtime");
    st0 = STAT("g");
    tick();
    OK(chmod("g", 0644));
    EQM(ns_of(STAT("g").st_mtim), ns_of(st0.st_mtim), "chmod must not change mtime");

    /* ... and so it does while a write is still buffered */
    fd = OK(open("g", O_WRONLY));
    EQ(write(fd, "buffered", 8), 8);
    CTIME_CHANGES("g", OK(link("g", "g2")), "link, with a write buffered");
    EQ(write(fd, "x", 1), 1);
    CTIME_CHANGES("g2", OK(rename("g", "h")), "rename, with a write buffered");
    EQ(write(fd, "x", 1), 1);
    CTIME_CHANGES("g2", OK(unlink("h")), "unlink of another name, with a write buffered");
    EQ(write(fd, "x", 1), 1);
    CTIME_CHANGES("g2", OK(setxattr("g2", "user.b", "1", 1, 0)), "setxattr, with a write buffered");
    EQ(write(fd, "x", 1), 1);
    CTIME_CHANGES("g2", OK(chmod("g2", 0640)), "chmod, with a write buffered");
    close(fd);

    /* a directory's mtime and ctime follow its entries */
    OK(mkdir("d", 0755));
    OK(mkdir("e", 0755));
    DIR_TIMES_CHANGE("d", close(CREATE("d/x")), "creating d/x");
    DIR_TIMES_CHANGE("d", OK(mkdir("d/sub", 0755)), "mkdir d/sub");
    DIR_TIMES_CHANGE("d", OK(rename("d/x", "d/y")), "rename inside d");
    DIR_TIMES_CHANGE("d", OK(rename("d/y", "e/y")), "rename out of d");
    DIR_TIMES_CHANGE("e", OK(rename("e/y", "d/y")), "rename out of e");
    DIR_TIMES_CHANGE("d", OK(unlink("d/y")), "unlink d/y");
    DIR_TIMES_CHANGE("d", OK(rmdir("d/sub")), "rmdir d/sub");

    /* symlinks */
    st = STAT("l");
    EQ(st.st_mode, S_IFLNK | 0777);
    EQM(st.st_size, 1, "size of a symlink is the length of its target");
    EQ(st.st_nlink, 1);
}

/* ---- chmod, chown ---------------------------------------------------------------------- */

static void t_chmod(void)
{
    int fd = OK(open("f", O_CREAT | O_RDWR, 0644));
    static const mode_t modes[] = {04755, 02755, 01755, 0, 0777, 06711};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char what[32];
        snprintf(what, sizeof what, "chmod %04o", (unsigned)modes[i]);
        OK(chmod("f", modes[i]));
        EQM(STAT("f").st_mode, S_IFREG | modes[i], what);
    }
    OK(fchmod(fd, 0640));
    EQM(FSTAT(fd).st_mode, S_IFREG | 0640, "fchmod 0640");
    OK(mkdir("d", 0755));
    OK(chmod("d", 01777));
    EQ(STAT("d").st_mode, S_IFDIR | 01777);
    OK(chmod("d", 02755));
    EQ(STAT("d").st_mode, S_IFDIR | 02755);

    OK(chown("f", 1234, 5678));
    struct stat st = STAT("f");
    EQ(st.st_uid, 1234);
    EQ(st.st_gid, 5678);
    OK(chown("f", -1, 42));
    st = STAT("f");
    EQM(st.st_uid, 1234, "uid after chown(-1, 42)");
    EQ(st.st_gid, 42);
    OK(chown("f", 7, -1));
    st = STAT("f");
    EQ(st.st_uid, 7);
    EQM(st.st_gid, 42, "gid after chown(7, -1)");
    OK(fchown(fd, 0, 0));
    st = FSTAT(fd);
    EQ(st.st_uid, 0);
    EQ(st.st_gid, 0);
    OK(chown("d", 99, 98));
    EQ(STAT("d").st_uid, 99);

    /* lchown changes the link, chown its target */
    OK(symlink("f", "l"));
    OK(lchown("l", 99, 98));
    EQM(STAT("l").st_uid, 99, "uid of a symlink after lchown");
    EQM(STAT("f").st_uid, 0, "uid of the target after lchown of the link");
    OK(chown("l", 55, 56));
    EQM(STAT("f").st_uid, 55, "uid of the target after chown through a link");
    EQM(STAT("l").st_uid, 99, "uid of a link after chown through it");

    /* chown of a setuid-setgid executable clears both bits */
    OK(chmod("f", 06755));
    OK(chown("f", 100, -1));
    EQM(STAT("f").st_mode, S_IFREG | 0755, "mode after chown of a 06755 file");
    close(fd);
}

/* ---- mknod: fifos, sockets, devices ----------------------------------------------------- */

static void t_mknod(void)
{
    char buf[8];
    OK(mkfifo("fifo", 0640));
    struct stat st = STAT("fifo");
    EQ(st.st_mode, S_IFIFO | 0640);
    int fd = OK(open("fifo", O_RDWR | O_NONBLOCK));
    EQ(write(fd, "hi", 2), 2);
    EQ(read(fd, buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "hi", 2));
    close(fd);

    OK(mknod("sock", S_IFSOCK | 0600, 0));
    EQ(STAT("sock").st_mode, S_IFSOCK | 0600);
    int s = OK(socket(AF_UNIX, SOCK_STREAM, 0)), c = OK(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "bound"};
    OK(bind(s, (struct sockaddr *)&sa, sizeof sa));
    EQ(STAT("bound").st_mode & S_IFMT, S_IFSOCK);
    OK(listen(s, 1));
    OK(connect(c, (struct sockaddr *)&sa, sizeof sa));
    close(c);
    close(s);

    OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
    st = STAT("null");
    EQ(st.st_mode, S_IFCHR | 0666);
    EQ(major(st.st_rdev), 1);
    EQ(minor(st.st_rdev), 3);
    OK(mknod("blk", S_IFBLK | 0660, makedev(8, 1)));
    st = STAT("blk");
    EQ(st.st_mode, S_IFBLK | 0660);
    EQ(major(st.st_rdev), 8);
    EQ(minor(st.st_rdev), 1);
    OK(mknod("wide", S_IFCHR | 0600, makedev(259, 70000)));
    st = STAT("wide");
    EQ(major(st.st_rdev), 259);
    EQ(minor(st.st_rdev), 70000);

    OK(mknod("reg", S_IFREG | 0600, 0));
    EQ(STAT("reg").st_mode, S_IFREG | 0600);
    OK(mknod("reg0", 0600, 0));
    EQM(STAT("reg0").st_mode, S_IFREG | 0600, "mknod with no file type");
    fd = OK(open("reg", O_RDWR));
    EQ(write(fd, "x", 1), 1);
    close(fd);

    FAILS(mknod("fifo", S_IFIFO | 0600, 0), EEXIST);
    FAILS(mknod("dir", S_IFDIR | 0700, 0), EPERM);

    /* readdir reports each type */
    static const struct {
        const char *name;
        unsigned char type;
    } types[] = {{"fifo", DT_FIFO}, {"sock", DT_SOCK}, {"bound", DT_SOCK},
                 {"null", DT_CHR},  {"blk", DT_BLK},   {"reg", DT_REG},
                 {"reg0", DT_REG},  {"dir", DT_DIR},   {"link", DT_LNK}};
    OK(mkdir("dir", 0755));
    OK(symlink("reg", "link"));
    struct entry *es;
    int n = list_dir(".", &es);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        const struct entry *e = find_entry(es, n, types[i].name);
        if (CHECKF(e != NULL, "readdir lacks %s", types[i].name))
            EQM(e->type, types[i].type, types[i].name);
    }
    free(es);
    OK(unlink("null"));
    OK(unlink("blk"));
    OK(unlink("fifo"));
    FAILS(lstat("fifo", &st), ENOENT);
}

/* ---- directories ------------------------------------------------------------------------ */

static void t_dirs(void)
{
    struct stat st;
    int subdirs = 0; /* of the topic directory */

    OK(mkdir("d", 0750));
    subdirs++;
    st = STAT("d");
    EQ(st.st_mode, S_IFDIR | 0750);
    EQM(st.st_nlink, 2, "a new directory");
    EQ(st.st_uid, geteuid());
    FAILS(mkdir("d", 0755), EEXIST);
    OK(mkdir("d/a", 0755));
    OK(mkdir("d/b", 0755));
    EQM(STAT("d").st_nlink, 4, "d with two subdirectories");
    close(CREATE("d/f"));
    EQM(STAT("d").st_nlink, 4, "d with two subdirectories and a file");
    OK(rmdir("d/a"));
    EQM(STAT("d").st_nlink, 3, "d after rmdir d/a");

    FAILS(rmdir("d"), ENOTEMPTY);
    FAILS(rmdir("d/f"), ENOTDIR);
    FAILS(unlink("d/b"), EISDIR);
    FAILS(mkdir("d/f/x", 0755), ENOTDIR);
    FAILS(rmdir("d/absent"), ENOENT);
    FAILS(rmdir("d/b/."), EINVAL);
    FAILS(rmdir("d/b/.."), ENOTEMPTY);
    FAILS(mkdir("absent/x", 0755), ENOENT);

    /* not empty because of a file only, or of a subdirectory only */
    OK(mkdir("e", 0755));
    close(CREATE("e/x"));
    FAILS(rmdir("e"), ENOTEMPTY);
    OK(unlink("e/x"));
    OK(rmdir("e"));
    OK(mkdir("e", 0755));
    OK(mkdir("e/x", 0755));
    FAILS(rmdir("e"), ENOTEMPTY);
    OK(rmdir("e/x"));
    OK(rmdir("e"));
    FAILS(lstat("e", &st), ENOENT);

    /* an empty directory lists . and .. only */
    struct entry *es;
    int n = list_dir("d/b", &es);
    EQM(n, 2, "entries of an empty directory");
    CHECK(n >= 0 && find_entry(es, n, ".") && find_entry(es, n, ".."));
    free(es);

    /* nlink and .. follow renames across directories */
    OK(mkdir("p1", 0755));
    OK(mkdir("p2", 0755));
    subdirs += 2;
    OK(mkdir("p1/s", 0755));
    EQM(STAT("p1").st_nlink, 3, "p1 holding s");
    EQM(STAT("p2").st_nlink, 2, "p2 empty");
    OK(rename("p1/s", "p2/s"));
    EQM(STAT("p1").st_nlink, 2, "p1 after s moved out");
    EQM(STAT("p2").st_nlink, 3, "p2 after s moved in");
    EQM(STAT("p2/s").st_nlink, 2, "s after moving");
    EQM(dotdot_ino("p2/s"), STAT("p2").st_ino, ".. of s after moving it to p2");
    OK(rename("p2/s", "p2/s2"));
    EQM(STAT("p2").st_nlink, 3, "p2 after renaming s inside it");
    close(CREATE("p1/file"));
    OK(rename("p1/file", "p2/file"));
    EQM(STAT("p1").st_nlink, 2, "p1 after a file moved out");
    EQM(STAT("p2").st_nlink, 3, "p2 after a file moved in");
    OK(rmdir("p1"));
    subdirs--;

    /* mode bits of mkdir */
    OK(mkdir("m", 01777));
    subdirs++;
    EQM(STAT("m").st_mode, S_IFDIR | 01777, "mkdir 01777");

    /* deep nesting */
    char path[PATH_MAX] = "n";
    OK(mkdir("n", 0755));
    subdirs++;
    for (int i = 1; i < 40; i++) {
        strcat(path, "/n");
        if (OK(mkdir(path, 0755)) < 0)
            break;
    }
    close(CREATE(strcat(path, "/f")));
    OK(unlink(path));
    for (int i = 39; i >= 1; i--) {
        path[strlen(path) - 2] = 0;
        OK(rmdir(path));
    }

    /* a removed directory still open */
    OK(mkdir("gone", 0755));
    int fd = OK(open("gone", O_RDONLY | O_DIRECTORY));
    OK(rmdir("gone"));
    EQM(FSTAT(fd).st_nlink, 0, "fstat of a removed directory");
    FAILS(openat(fd, "x", O_CREAT | O_WRONLY, 0644), ENOENT);
    close(fd);
    FAILS(lstat("gone", &st), ENOENT);

    EQM(STAT(".").st_nlink, 2 + subdirs, "the topic directory: 2 + its subdirectories");
}

/* ---- symlink, readlink ----------------------------------------------------------------- */

static void t_symlink(void)
{
    char buf[8192];
    OK(symlink("target", "l"));
    struct stat st = STAT("l");
    EQ(st.st_mode & S_IFMT, S_IFLNK);
    EQ(st.st_size, 6);
    EQ(readlink("l", buf, sizeof buf), 6);
    CHECK(!memcmp(buf, "target", 6));
    EQM(readlink("l", buf, 3), 3, "readlink into a small buffer");
    CHECK(!memcmp(buf, "tar", 3));

    /* targets up to 4095 bytes; longer ones are refused */
    char *t4095 = repeat('t', 4095), *t4096 = repeat('t', 4096), *t5000 = repeat('t', 5000);
    OK(symlink(t4095, "long"));
    EQM(STAT("long").st_size, 4095, "size of a link with a 4095-byte target");
    memset(buf, 0, sizeof buf);
    EQM(readlink("long", buf, sizeof buf), 4095, "readlink of a 4095-byte target");
    CHECK(!memcmp(buf, t4095, 4095));
    FAILS(symlink(t4096, "toolong"), ENAMETOOLONG);
    FAILS(symlink(t5000, "toolong"), ENAMETOOLONG);
    /* a 4095-byte target that resolves: "././.../f" */
    PUT("f", "content");
    for (int i = 0; i < 2047; i++)
        memcpy(t4095 + 2 * i, "./", 2);
    t4095[4094] = 'f';
    OK(symlink(t4095, "long2"));
    HOLDS("long2", "content");

    FAILS(readlink("f", buf, sizeof buf), EINVAL);
    FAILS(symlink("x", "l"), EEXIST);
    FAILS(symlink("", "empty"), ENOENT);

    /* following links */
    OK(symlink("f", "lf"));
    HOLDS("lf", "content");
    struct stat sf;
    OK(stat("lf", &sf));
    EQM(sf.st_ino, STAT("f").st_ino, "stat through a link");
    FAILS(open("lf", O_RDONLY | O_NOFOLLOW), ELOOP);
    OK(symlink("absent", "dl"));
    FAILS(open("dl", O_RDONLY), ENOENT);
    close(OK(open("dl", O_CREAT | O_WRONLY, 0644))); /* creates the target */
    EQM(STAT("absent").st_mode & S_IFMT, S_IFREG, "created through a dangling link");
    OK(symlink("loop2", "loop1"));
    OK(symlink("loop1", "loop2"));
    FAILS(open("loop1", O_RDONLY), ELOOP);
    OK(mkdir("dd", 0755));
    OK(symlink("dd", "ld"));
    close(CREATE("ld/x"));
    EQM(STAT("dd/x").st_mode & S_IFMT, S_IFREG, "created through a link to a directory");
    OK(symlink("../f", "dd/up"));
    HOLDS("dd/up", "content");

    /* targets are stored byte for byte */
    static const char *const odd[] = {"/abs//path/./x/", "a\nb\tc", "\xff\xfe\x01", "..", " "};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        char name[16];
        snprintf(name, sizeof name, "odd%zu", i);
        OK(symlink(odd[i], name));
        ssize_t n = readlink(name, buf, sizeof buf);
        CHECKF(n == (ssize_t)strlen(odd[i]) && !memcmp(buf, odd[i], strlen(odd[i])),
               "readlink(%s) gave %zd bytes", name, n);
    }
    OK(unlink("lf"));
    HOLDS("f", "content");
    free(t4095);
    free(t4096);
    free(t5000);
}

/* ---- link ----------------------------------------------------------------------------- */

static void t_link(void)
{
    char buf[64];
    PUT("f", "data");
    EQ(STAT("f").st_nlink, 1);
    OK(link("f", "g"));
    EQM(STAT("f").st_nlink, 2, "f after link f g");
    EQM(STAT("g").st_nlink, 2, "g after link f g");
    EQM(STAT("g").st_ino, STAT("f").st_ino, "two names of one file");
    OK(mkdir("sub", 0755));
    OK(link("f", "sub/h"));
    EQM(STAT("f").st_nlink, 3, "f after a third name");
    EQM(STAT("g").st_nlink, 3, "g after a third name");
    EQM(STAT("sub/h").st_nlink, 3, "sub/h");
    HOLDS("sub/h", "data");

    OK(unlink("g"));
    EQM(STAT("f").st_nlink, 2, "f after unlink g");
    EQM(STAT("sub/h").st_nlink, 2, "sub/h after unlink g");
    struct stat st;
    FAILS(lstat("g", &st), ENOENT);

    /* renaming a name over another file: that file loses its name */
    PUT("v", "victim");
    int vfd = OK(open("v", O_RDONLY));
    ino_t vino = FSTAT(vfd).st_ino;
    OK(rename("sub/h", "v"));
    EQM(STAT("v").st_ino, STAT("f").st_ino, "v after renaming sub/h over it");
    EQM(STAT("v").st_nlink, 2, "v after renaming sub/h over it");
    EQM(STAT("f").st_nlink, 2, "f after renaming sub/h over v");
    st = FSTAT(vfd);
    EQM(st.st_nlink, 0, "the old v, open, after a rename over it");
    EQM(st.st_ino, vino, "the old v's inode");
    memset(buf, 0, sizeof buf);
    EQ(pread(vfd, buf, sizeof buf, 0), 6);
    CHECKF(!strcmp(buf, "victim"), "the old v reads \"%s\"", buf);
    close(vfd);
    FAILS(lstat("sub/h", &st), ENOENT);

    /* renaming a name over another name of the same file does nothing */
    OK(rename("f", "v"));
    EQM(STAT("f").st_nlink, 2, "f after rename f v (same file)");
    EQM(STAT("v").st_nlink, 2, "v after rename f v (same file)");

    /* a victim with another name keeps it */
    close(CREATE("w"));
    OK(link("w", "w2"));
    PUT("x", "x");
    OK(rename("x", "w"));
    EQM(STAT("w2").st_nlink, 1, "w2 after renaming x over w, its other name");
    HOLDS("w", "x");

    /* errors */
    FAILS(link("sub", "sublink"), EPERM);
    FAILS(link("f", "v"), EEXIST);
    FAILS(link("absent", "z"), ENOENT);
    FAILS(link("f", "absent/z"), ENOENT);

    /* links to a symlink or through it */
    OK(symlink("f", "sl"));
    OK(linkat(AT_FDCWD, "sl", AT_FDCWD, "hl", AT_SYMLINK_FOLLOW));
    EQM(STAT("hl").st_ino, STAT("f").st_ino, "a link through a symlink");
    EQM(STAT("f").st_nlink, 3, "f after a link through a symlink");
    OK(linkat(AT_FDCWD, "sl", AT_FDCWD, "hl2", 0));
    EQM(STAT("hl2").st_mode & S_IFMT, S_IFLNK, "a link to a symlink");
    EQM(STAT("sl").st_nlink, 2, "a symlink with two names");

    /* every name goes: so does the file */
    OK(unlink("f"));
    OK(unlink("v"));
    EQM(STAT("hl").st_nlink, 1, "the last name");
    OK(unlink("hl"));
}

/* ---- rename ------------------------------------------------------------------------------ */

static void t_rename(void)
{
    struct stat st;
    PUT("a", "A");
    ino_t ia = STAT("a").st_ino;
    OK(rename("a", "b"));
    FAILS(lstat("a", &st), ENOENT);
    HOLDS("b", "A");
    EQM(STAT("b").st_ino, ia, "a renamed file keeps its inode");

    /* over an existing file */
    PUT("c", "C");
    int cfd = OK(open("c", O_RDONLY));
    OK(rename("b", "c"));
    HOLDS("c", "A");
    EQM(FSTAT(cfd).st_nlink, 0, "the file renamed over, still open");
    char buf[8] = {0};
    EQ(pread(cfd, buf, sizeof buf, 0), 1);
    CHECKF(buf[0] == 'C', "the file renamed over reads \"%s\"", buf);
    close(cfd);

    /* RENAME_NOREPLACE */
    PUT("d", "D");
    PUT("e", "E");
    FAILS(renameat2(AT_FDCWD, "d", AT_FDCWD, "e", RENAME_NOREPLACE), EEXIST);
    HOLDS("d", "D");
    HOLDS("e", "E");
    OK(renameat2(AT_FDCWD, "d", AT_FDCWD, "f", RENAME_NOREPLACE));
    HOLDS("f", "D");

    /* RENAME_EXCHANGE of two files */
    PUT("x", "X");
    PUT("y", "YY");
    ino_t ix = STAT("x").st_ino, iy = STAT("y").st_ino;
    OK(renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE));
    HOLDS("x", "YY");
    HOLDS("y", "X");
    EQM(STAT("x").st_ino, iy, "x after the exchange");
    EQM(STAT("y").st_ino, ix, "y after the exchange");
    FAILS(renameat2(AT_FDCWD, "x", AT_FDCWD, "absent", RENAME_EXCHANGE), ENOENT);
    FAILS(renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);

    /* RENAME_EXCHANGE of a directory and a file in different directories */
    OK(mkdir("P", 0755));
    OK(mkdir("Q", 0755));
    OK(mkdir("P/dir", 0755));
    close(CREATE("P/dir/inside"));
    PUT("Q/file", "F");
    OK(renameat2(AT_FDCWD, "P/dir", AT_FDCWD, "Q/file", RENAME_EXCHANGE));
    HOLDS("P/dir", "F");
    EQM(STAT("Q/file").st_mode & S_IFMT, S_IFDIR, "Q/file after the exchange");
    EQM(STAT("Q/file/inside").st_mode & S_IFMT, S_IFREG, "the content of the exchanged dir");
    EQM(STAT("P").st_nlink, 2, "P after its subdirectory was exchanged for a file");
    EQM(STAT("Q").st_nlink, 3, "Q after its file was exchanged for a directory");
    EQM(dotdot_ino("Q/file"), STAT("Q").st_ino, ".. of a directory exchanged into Q");

    /* RENAME_EXCHANGE of two directories in different directories */
    OK(mkdir("P/d1", 0755));
    OK(mkdir("P/d1/sub", 0755));
    close(CREATE("P/d1/in1"));
    OK(mkdir("Q/d2", 0755));
    close(CREATE("Q/d2/in2"));
    OK(renameat2(AT_FDCWD, "P/d1", AT_FDCWD, "Q/d2", RENAME_EXCHANGE));
    EQM(STAT("P/d1/in2").st_mode & S_IFMT, S_IFREG, "in2 now under P/d1");
    EQM(STAT("Q/d2/in1").st_mode & S_IFMT, S_IFREG, "in1 now under Q/d2");
    EQM(STAT("Q/d2/sub").st_mode & S_IFMT, S_IFDIR, "sub now under Q/d2");
    EQM(STAT("P").st_nlink, 3, "P after exchanging a directory for a directory");
    EQM(STAT("Q").st_nlink, 4, "Q after exchanging a directory for a directory");
    EQM(STAT("Q/d2").st_nlink, 3, "Q/d2 (holding sub)");
    EQM(dotdot_ino("P/d1"), STAT("P").st_ino, ".. of the directory exchanged into P");
    EQM(dotdot_ino("Q/d2"), STAT("Q").st_ino, ".. of the directory exchanged into Q");
    /* same parent */
    OK(mkdir("P/d3", 0755));
    close(CREATE("P/d3/in3"));
    OK(renameat2(AT_FDCWD, "P/d1", AT_FDCWD, "P/d3", RENAME_EXCHANGE));
    EQM(STAT("P/d1/in3").st_mode & S_IFMT, S_IFREG, "in3 after exchanging d1 and d3");
    EQM(STAT("P").st_nlink, 4, "P after exchanging two of its directories");

    /* a directory cannot go under itself */
    OK(mkdir("T", 0755));
    OK(mkdir("T/U", 0755));
    OK(mkdir("T/U/V", 0755));
    FAILS(rename("T", "T/U/V/W"), EINVAL);
    FAILS(rename("T", "T/W"), EINVAL);
    FAILS(renameat2(AT_FDCWD, "T", AT_FDCWD, "T/U/V", RENAME_EXCHANGE), EINVAL);
    FAILS(renameat2(AT_FDCWD, "T/U/V", AT_FDCWD, "T", RENAME_EXCHANGE), EINVAL);

    /* directories over directories, files over directories and back */
    OK(mkdir("N1", 0755));
    OK(mkdir("N2", 0755));
    close(CREATE("N2/x"));
    FAILS2(rename("N1", "N2"), ENOTEMPTY, EEXIST);
    OK(mkdir("E", 0755));
    nlink_t before = STAT(".").st_nlink;
    ino_t in1 = STAT("N1").st_ino;
    OK(rename("N1", "E"));
    EQM(STAT("E").st_ino, in1, "E after renaming N1 over it");
    EQM(STAT(".").st_nlink, before - 1, "the parent after a directory replaced another");
    close(CREATE("file"));
    FAILS(rename("file", "N2"), EISDIR);
    FAILS(rename("N2", "file"), ENOTDIR);
    FAILS(rename("file", "file/x"), ENOTDIR);
    FAILS(rename("absent", "z"), ENOENT);
    OK(rename("file", "file"));
    EQ(STAT("file").st_mode & S_IFMT, S_IFREG);
    OK(rename("N2", "N3"));
    EQM(STAT("N3/x").st_mode & S_IFMT, S_IFREG, "content of a renamed directory");

    /* an open file survives its rename */
    int fd = CREATE("open");
    OK(rename("open", "moved"));
    EQ(write(fd, "w", 1), 1);
    close(fd);
    HOLDS("moved", "w");
}

/* ---- RENAME_WHITEOUT, O_TMPFILE --------------------------------------------------------- */

/* dir/name is a whiteout: a character device 0:0 with no permission bits
 * and one link, owned by uid, listed as DT_CHR in its directory (overlayfs
 * needs d_type to find whiteouts). */
#define IS_WHITEOUT(dir, name) is_whiteout(__FILE__, __LINE__, dir, name, 0)
#define IS_WHITEOUT_OF(dir, name, uid) is_whiteout(__FILE__, __LINE__, dir, name, uid)
static void is_whiteout(const char *file, int line, const char *dir, const char *name, uid_t uid)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lstat(path, &st)) {
        fail_at(file, line, "no whiteout at %s: %s", path, ename(errno));
        return;
    }
    counted();
    if (st.st_mode != S_IFCHR || major(st.st_rdev) || minor(st.st_rdev) || st.st_nlink != 1 ||
        st.st_uid != uid)
        fail_at(file, line, "%s: mode %o, device %u:%u, %lu links, uid %u: not a whiteout", path,
                (unsigned)st.st_mode, major(st.st_rdev), minor(st.st_rdev),
                (unsigned long)st.st_nlink, (unsigned)st.st_uid);
    struct entry *es;
    int n = list_dir(dir, &es);
    const struct entry *e = n > 0 ? find_entry(es, n, name) : NULL;
    counted();
    if (!e || e->type != DT_CHR)
        fail_at(file, line, "%s: readdir type %d, not DT_CHR", path, e ? e->type : -1);
    free(es);
}

static void nobody_whiteout(void)
{
    /* Linux dropped the CAP_MKNOD this once needed (5.8): the whiteout
     * is the caller's. */
    OK(renameat2(AT_FDCWD, "open/n", AT_FDCWD, "open/n2", RENAME_WHITEOUT));
}

static void t_whiteout(void)
{
    /* A file within one directory: it keeps its inode and data. */
    PUT("a", "A");
    ino_t ia = STAT("a").st_ino;
    OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_WHITEOUT));
    HOLDS("b", "A");
    EQM(STAT("b").st_ino, ia, "a file moved with RENAME_WHITEOUT keeps its inode");
    IS_WHITEOUT(".", "a");
    CHECKF(STAT("a").st_ino != ia, "the whiteout is a new inode");

    /* Across directories, over a file, and over an earlier whiteout. */
    OK(mkdir("P", 0755));
    OK(mkdir("Q", 0755));
    PUT("P/f", "F");
    PUT("Q/v", "V");
    OK(renameat2(AT_FDCWD, "P/f", AT_FDCWD, "Q/v", RENAME_WHITEOUT));
    HOLDS("Q/v", "F");
    IS_WHITEOUT("P", "f");
    OK(renameat2(AT_FDCWD, "P/f", AT_FDCWD, "a", RENAME_WHITEOUT));
    IS_WHITEOUT("P", "f");
    IS_WHITEOUT(".", "a");

    /* A directory: the old parent loses its link; a whiteout is no
     * directory. */
    OK(mkdir("P/d", 0755));
    PUT("P/d/in", "I");
    EQ(STAT("P").st_nlink, 3);
    OK(renameat2(AT_FDCWD, "P/d", AT_FDCWD, "Q/d", RENAME_WHITEOUT));
    IS_WHITEOUT("P", "d");
    HOLDS("Q/d/in", "I");
    EQM(STAT("P").st_nlink, 2, "P after its directory moved away with a whiteout");
    EQM(STAT("Q").st_nlink, 3, "Q after a directory moved in");
    EQM(dotdot_ino("Q/d"), STAT("Q").st_ino, ".. of the moved directory");

    /* With RENAME_NOREPLACE: over a name refused (and no whiteout made),
     * to a free name allowed. With RENAME_EXCHANGE: never. */
    PUT("x", "X");
    PUT("y", "Y");
    FAILS(renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_WHITEOUT | RENAME_NOREPLACE), EEXIST);
    HOLDS("x", "X");
    HOLDS("y", "Y");
    OK(renameat2(AT_FDCWD, "x", AT_FDCWD, "z", RENAME_WHITEOUT | RENAME_NOREPLACE));
    HOLDS("z", "X");
    IS_WHITEOUT(".", "x");
    FAILS(renameat2(AT_FDCWD, "z", AT_FDCWD, "y", RENAME_WHITEOUT | RENAME_EXCHANGE), EINVAL);
    HOLDS("z", "X");
    HOLDS("y", "Y");
    FAILS(renameat2(AT_FDCWD, "absent", AT_FDCWD, "w", RENAME_WHITEOUT), ENOENT);
    struct stat st;
    FAILS(lstat("absent", &st), ENOENT);

    /* A whiteout can be removed like any device node. */
    OK(unlink("x"));
    FAILS(lstat("x", &st), ENOENT);

    /* As nobody: the whiteout is nobody's. */
    OK(mkdir("open", 0777));
    PUT("open/n", "N");
    AS_NOBODY(nobody_whiteout);
    HOLDS("open/n2", "N");
    IS_WHITEOUT_OF("open", "n", nobody_uid);
    EQM(STAT("open/n").st_gid, nobody_gid, "the group of nobody's whiteout");
}

/* libfuse 3.14 has no tmpfile operation: the kernel's FUSE_TMPFILE gets
 * ENOSYS from it, and O_TMPFILE must fail with EOPNOTSUPP, at once, with
 * nothing left behind and the mount still serving. */
static void t_tmpfile(void)
{
    OK(mkdir("t", 0755));
    for (int i = 0; i < 2; i++) { /* the second: the kernel remembers the answer */
        long long t0 = now_ns();
        FAILS(open("t", O_TMPFILE | O_RDWR, 0600), EOPNOTSUPP);
        CHECKF(now_ns() - t0 < 5000000000LL, "O_TMPFILE took %lld ms", (now_ns() - t0) / 1000000);
    }
    struct entry *es;
    EQM(list_dir("t", &es), 2, "t after O_TMPFILE: only . and ..");
    free(es);
    EQM(STAT("t").st_nlink, 2, "t's link count after O_TMPFILE");
    PUT("t/after", "still serving");
    HOLDS("t/after", "still serving");
}

/* ---- names ----------------------------------------------------------------------------- */

static void t_names(void)
{
    char *n255 = repeat('n', 255), *n256 = repeat('n', 256);
    char *d255 = repeat('d', 255), *s255 = repeat('s', 255), *l255 = repeat('l', 255);
    char *r255 = repeat('r', 255);
    struct stat st;

    close(OK(open(n255, O_CREAT | O_WRONLY, 0644)));
    EQ(STAT(n255).st_mode & S_IFMT, S_IFREG);
    FAILS(open(n256, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
    FAILS(lstat(n256, &st), ENAMETOOLONG);
    FAILS(open(n256, O_RDONLY), ENAMETOOLONG);
    OK(mkdir(d255, 0755));
    FAILS(mkdir(n256, 0755), ENAMETOOLONG);
    OK(symlink("x", s255));
    FAILS(symlink("x", n256), ENAMETOOLONG);
    OK(link(n255, l255));
    FAILS(link(n255, n256), ENAMETOOLONG);
    FAILS(mknod(n256, S_IFIFO | 0600, 0), ENAMETOOLONG);
    FAILS(rename(n255, n256), ENAMETOOLONG);
    OK(rename(n255, r255));
    FAILS(unlink(n256), ENAMETOOLONG);
    FAILS(setxattr(n256, "user.x", "1", 1, 0), ENAMETOOLONG);

    /* multibyte and odd bytes come back from readdir as they went in */
    char euro[256] = "";
    for (int i = 0; i < 85; i++)
        strcat(euro, "\xe2\x82\xac");
    static const char *const odd[] = {"a b", "tab\t", "nl\n", "\xff\xfe", "-",  ".hidden",
                                      "...", "Case",  "case", "x=y:z",    "\\", "*?"};
    close(OK(open(euro, O_CREAT | O_WRONLY, 0644)));
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        close(OK(open(odd[i], O_CREAT | O_WRONLY, 0644)));
    struct entry *es;
    int n = list_dir(".", &es);
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen += !strcmp(es[j].name, odd[i]);
        CHECKF(seen == 1, "readdir shows the name #%zu %d times", i, seen);
    }
    const char *const longs[] = {euro, d255, s255, l255, r255};
    for (size_t i = 0; i < sizeof longs / sizeof *longs; i++)
        CHECKF(find_entry(es, n, longs[i]) != NULL, "readdir lacks the 255-byte name #%zu", i);
    EQM(n, 2 + 5 + (int)(sizeof odd / sizeof *odd), "entries");
    free(es);
    FAILS(open("", O_RDONLY), ENOENT);

    /* a path near PATH_MAX */
    char path[PATH_MAX];
    size_t len = 0;
    char *comp = repeat('p', 250);
    for (int i = 0; i < 15; i++) {
        len += (size_t)snprintf(path + len, sizeof path - len, "%s%s", i ? "/" : "", comp);
        if (OK(mkdir(path, 0755)) < 0)
            break;
    }
    snprintf(path + len, sizeof path - len, "/file");
    close(OK(open(path, O_CREAT | O_WRONLY, 0644)));
    EQ(STAT(path).st_mode & S_IFMT, S_IFREG);
    free(comp);
    free(n255);
    free(n256);
    free(d255);
    free(s255);
    free(l255);
    free(r255);
}

/* ---- readdir --------------------------------------------------------------------------- */

enum { KEEP = 1000, GONE = 1000, ADD = 1000, STEP = 100 };

/* Which of our names s is: kind 0 keep-N, 1 gone-N, 2 new-N; -1 otherwise. */
static int parse_name(const char *s, int *num)
{
    static const char *const kinds[] = {"keep-", "gone-", "new-"};
    for (int k = 0; k < 3; k++)
        if (!strncmp(s, kinds[k], strlen(kinds[k])) &&
            sscanf(s + strlen(kinds[k]), "%d", num) == 1 && *num >= 0 && *num < 1000)
            return k;
    return -1;
}

/* Create files keep-0..999 and gone-0..999, then list the directory with
 * getdents64 in 4 KiB batches, deleting STEP gone- files and creating STEP
 * new- files between batches. Every keep- file must be listed exactly once,
 * and no name twice. */
static void listing_under_changes(void)
{
    static char buf[4096] __attribute__((aligned(8)));
    char name[32];
    static int seen[3][1000];
    int dots = 0, dotdots = 0, strangers = 0, batches = 0, gone = 0, added = 0;

    for (int i = 0; i < KEEP; i++) {
        snprintf(name, sizeof name, "keep-%d", i);
        close(OK(open(name, O_CREAT | O_WRONLY, 0644)));
        snprintf(name, sizeof name, "gone-%d", i);
        close(OK(open(name, O_CREAT | O_WRONLY, 0644)));
    }
    memset(seen, 0, sizeof seen);
    int fd = OK(open(".", O_RDONLY | O_DIRECTORY));
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got < 0) {
            CHECKF(false, "getdents64 after %d batches: %s", batches, ename(errno));
            break;
        }
        if (got == 0)
            break;
        batches++;
        for (long pos = 0; pos < got;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + pos);
            int num, k = parse_name(d->d_name, &num);
            if (k >= 0)
                seen[k][num]++;
            else if (!strcmp(d->d_name, "."))
                dots++;
            else if (!strcmp(d->d_name, ".."))
                dotdots++;
            else if (strangers++ < 3)
                CHECKF(false, "readdir gave a name never created: \"%s\"", d->d_name);
            pos += d->d_reclen;
        }
        for (int i = 0; i < STEP && gone < GONE; i++, gone++) {
            snprintf(name, sizeof name, "gone-%d", gone);
            OK(unlink(name));
        }
        for (int i = 0; i < STEP && added < ADD; i++, added++) {
            snprintf(name, sizeof name, "new-%d", added);
            close(OK(open(name, O_CREAT | O_WRONLY, 0644)));
        }
    }
    close(fd);
    CHECKF(batches >= 10, "the listing took only %d getdents64 calls", batches);
    CHECKF(gone == GONE && added == ADD,
           "the listing ended before the changes did (%d deleted, %d added)", gone, added);
    EQM(dots, 1, "times . was listed");
    EQM(dotdots, 1, "times .. was listed");
    int skipped = 0, repeated = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 1000; i++) {
            if (k == 0 && seen[k][i] == 0 && skipped++ < 5)
                CHECKF(false, "keep-%d, there all along, was skipped", i);
            if (seen[k][i] > 1 && repeated++ < 5)
                CHECKF(false, "%s-%d was listed %d times",
                       k == 0   ? "keep"
                       : k == 1 ? "gone"
                                : "new",
                       i, seen[k][i]);
        }
    EQM(skipped, 0, "entries there all along that the listing skipped");
    EQM(repeated, 0, "entries the listing repeated");

    /* afterwards, a listing shows exactly what is there */
    struct entry *es;
    int n = list_dir(".", &es), count[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        int num, k = parse_name(es[i].name, &num);
        if (k >= 0)
            count[k]++;
    }
    EQM(count[0], KEEP, "keep- files listed afterwards");
    EQM(count[1], 0, "gone- files listed afterwards");
    EQM(count[2], ADD, "new- files listed afterwards");
    EQM(n, KEEP + ADD + 2, "entries listed afterwards");
    /* the inode number and type readdir gives are stat's */
    const struct entry *e = find_entry(es, n, "keep-7");
    if (CHECKF(e != NULL, "keep-7 not listed")) {
        struct stat st = STAT("keep-7");
        EQM(e->ino, st.st_ino, "d_ino of keep-7");
        EQM(e->type, DT_REG, "d_type of keep-7");
    }
    e = find_entry(es, n, ".");
    if (e)
        EQM(e->ino, STAT(".").st_ino, "d_ino of .");
    free(es);
}

/* telldir and seekdir, lseek on a directory, offsets that survive changes */
static void listing_positions(void)
{
    char after[10][256], again[10][256];
    DIR *d = opendir(".");
    if (!CHECKF(d != NULL, "opendir: %s", ename(errno)))
        return;
    struct dirent *de = NULL;
    for (int i = 0; i < 100 && (de = readdir(d)); i++)
        ;
    long pos = telldir(d);
    for (int i = 0; i < 10; i++) {
        de = readdir(d);
        snprintf(after[i], sizeof after[i], "%s", de ? de->d_name : "(end)");
    }
    seekdir(d, pos);
    for (int i = 0; i < 10; i++) {
        de = readdir(d);
        snprintf(again[i], sizeof again[i], "%s", de ? de->d_name : "(end)");
        CHECKF(!strcmp(after[i], again[i]), "entry %d after seekdir is %s, was %s", i, again[i],
               after[i]);
    }
    rewinddir(d);
    int n = 0;
    while (readdir(d))
        n++;
    EQM(n, KEEP + ADD + 2, "entries after rewinddir");
    closedir(d);

    /* the position is good in another open of the directory */
    d = opendir(".");
    seekdir(d, pos);
    de = readdir(d);
    CHECKF(de && !strcmp(de->d_name, after[0]), "first entry after seekdir in a new open: %s",
           de ? de->d_name : "(end)");
    /* and still after the entry it pointed at was deleted: resume at the next */
    OK(unlink(after[0]));
    seekdir(d, pos);
    de = readdir(d);
    CHECKF(de && !strcmp(de->d_name, after[1]),
           "after deleting %s, seekdir to its position gives %s, expected %s", after[0],
           de ? de->d_name : "(end)", after[1]);
    closedir(d);

    /* lseek to a d_off continues right after that entry */
    struct entry *es;
    n = list_dir(".", &es);
    if (n > 50) {
        static char buf[4096] __attribute__((aligned(8)));
        int fd = OK(open(".", O_RDONLY | O_DIRECTORY));
        EQ(lseek(fd, es[40].off, SEEK_SET), es[40].off);
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (CHECKF(got > 0, "getdents64 after lseek: %ld %s", got, ename(errno))) {
            struct dirent64_raw *r = (struct dirent64_raw *)buf;
            CHECKF(!strcmp(r->d_name, es[41].name), "after lseek to d_off of %s: %s, expected %s",
                   es[40].name, r->d_name, es[41].name);
        }
        close(fd);
    }
    free(es);
}

static void t_readdir(void)
{
    listing_under_changes();
    listing_positions();
}

/* ---- unlinked but open ---------------------------------------------------------------- */

/* Inodes in use, as statfs counts them. */
static long long used_inodes(void)
{
    struct statvfs sv;
    if (statvfs(".", &sv) < 0)
        return -1;
    return (long long)sv.f_files - (long long)sv.f_ffree;
}

/* used_inodes() once it stops moving (the kernel forgets inodes lazily). */
static long long settled_inodes(void)
{
    long long a = used_inodes(), b;
    for (int i = 0; i < 50; i++) {
        tick();
        tick();
        b = used_inodes();
        if (a == b)
            break;
        a = b;
    }
    return a;
}

static void t_orphan(void)
{
    struct stat st;
    int fd = CREATE("o");
    ino_t ino = FSTAT(fd).st_ino;
    WRITE_PAT(fd, 0, 100000, 1);
    OK(unlink("o"));
    FAILS(lstat("o", &st), ENOENT);
    st = FSTAT(fd);
    EQM(st.st_nlink, 0, "an unlinked open file");
    EQM(st.st_size, 100000, "size of an unlinked open file");
    WRITE_PAT(fd, 100000, 70000, 2);
    EXPECT_PAT(fd, 0, 100000, 1, "written before unlink");
    EXPECT_PAT(fd, 100000, 70000, 2, "written after unlink");
    OK(fsync(fd));
    EXPECT_PAT(fd, 100000, 70000, 2, "written after unlink, after fsync");
    EQ(FSTAT(fd).st_size, 170000);
    OK(ftruncate(fd, 150000));
    EQ(FSTAT(fd).st_size, 150000);
    OK(fchmod(fd, 0600));
    EQ(FSTAT(fd).st_mode, S_IFREG | 0600);
    OK(fsetxattr(fd, "user.x", "1", 1, 0));
    EQ(fgetxattr(fd, "user.x", NULL, 0), 1);

    /* a new file of the same name is another file */
    int fd2 = OK(open("o", O_CREAT | O_EXCL | O_RDWR, 0644));
    st = FSTAT(fd2);
    EQM(st.st_size, 0, "a new file with an unlinked one's name");
    CHECK(st.st_ino != ino);
    EXPECT_PAT(fd, 0, 100000, 1, "the unlinked file, after its name was reused");
    close(fd2);
    close(fd);

    /* two descriptors: the file lives until the last closes */
    int p1 = CREATE("p"), p2 = OK(open("p", O_RDWR));
    EQ(write(p1, "hello", 5), 5);
    OK(unlink("p"));
    close(p1);
    EXPECT_BYTES(p2, 0, "hello", 5, "through the second descriptor after the first closed");
    EQ(pwrite(p2, " world", 6, 5), 6);
    EXPECT_BYTES(p2, 0, "hello world", 11, "written through the survivor");
    close(p2);

    /* the store deletes them after the last close */
    enum { NF = 50 };
    int fds[NF];
    char name[32];
    long long before = settled_inodes();
    for (int i = 0; i < NF; i++) {
        snprintf(name, sizeof name, "r%d", i);
        fds[i] = CREATE(name);
        WRITE_PAT(fds[i], 0, 2 * BLOCK, 3);
    }
    OK(syncfs(fds[0]));
    long long during = used_inodes();
    for (int i = 0; i < NF; i++) {
        snprintf(name, sizeof name, "r%d", i);
        OK(unlink(name));
    }
    EQM(FSTAT(fds[0]).st_nlink, 0, "one of 50 unlinked open files");
    long long unlinked = used_inodes();
    for (int i = 0; i < NF; i++)
        close(fds[i]);
    long long after = unlinked;
    for (int i = 0; i < 250 && after > before + NF / 10; i++) {
        tick();
        after = used_inodes();
    }
    CHECKF(during >= before + NF, "statfs in-use count went from %lld to %lld after %d creates",
           before, during, NF);
    CHECKF(unlinked >= before + NF,
           "statfs in-use count fell from %lld to %lld on unlinking %d files still open", during,
           unlinked, NF);
    CHECKF(after <= before + NF / 10,
           "statfs in-use count 5 s after the last close of %d unlinked files: %lld; before "
           "they were created %lld, with them %lld",
           NF, after, before, during);
}

/* ---- xattrs ----------------------------------------------------------------------------- */

static void t_xattr(void)
{
    char buf[256];
    close(CREATE("f"));
    OK(setxattr("f", "user.a", "1", 1, 0));
    EQM(getxattr("f", "user.a", NULL, 0), 1, "size of user.a");
    EQ(getxattr("f", "user.a", buf, sizeof buf), 1);
    CHECK(buf[0] == '1');
    FAILS(setxattr("f", "user.a", "2", 1, XATTR_CREATE), EEXIST);
    FAILS(setxattr("f", "user.b", "2", 1, XATTR_REPLACE), ENODATA);
    OK(setxattr("f", "user.a", "longer", 6, XATTR_REPLACE));
    EQ(getxattr("f", "user.a", buf, sizeof buf), 6);
    CHECK(!memcmp(buf, "longer", 6));
    OK(setxattr("f", "user.b", "bee", 3, XATTR_CREATE));
    FAILS(getxattr("f", "user.a", buf, 3), ERANGE);
    FAILS(getxattr("f", "user.absent", buf, sizeof buf), ENODATA);
    FAILS(getxattr("f", "user.absent", NULL, 0), ENODATA);

    /* list */
    /* Every inode lists the read-only system.ghostfs.* names too
     * (tests/mount/inspect.sh checks them). */
    const ssize_t sys = sizeof "system.ghostfs.oid" + sizeof "system.ghostfs.generation" +
                        sizeof "system.ghostfs.checksum";
    ssize_t n = OK(listxattr("f", NULL, 0));
    EQM(n, 14 + sys, "listxattr size of user.a, user.b and system.ghostfs.*");
    memset(buf, 0, sizeof buf);
    EQ(listxattr("f", buf, sizeof buf), n);
    bool a = false, b = false;
    for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
        a |= !strcmp(p, "user.a");
        b |= !strcmp(p, "user.b");
    }
    CHECKF(a && b, "listxattr lacks user.a or user.b");
    FAILS(listxattr("f", buf, 5), ERANGE);

    /* remove */
    OK(removexattr("f", "user.a"));
    FAILS(getxattr("f", "user.a", buf, sizeof buf), ENODATA);
    FAILS(removexattr("f", "user.a"), ENODATA);
    EQM(listxattr("f", NULL, 0), 7 + sys, "listxattr size after removing user.a");

    /* limits: names of 255 bytes, values of 64 KiB */
    char name[300] = "user.";
    memset(name + 5, 'x', 250);
    name[255] = 0;
    OK(setxattr("f", name, "v", 1, 0));
    EQM(getxattr("f", name, NULL, 0), 1, "a value under a 255-byte name");
    name[255] = 'x';
    name[256] = 0;
    FAILS(setxattr("f", name, "v", 1, 0), ERANGE);
    FAILS(getxattr("f", name, buf, sizeof buf), ERANGE);
    FAILS(setxattr("f", "", "v", 1, 0), ERANGE);
    static unsigned char big[65537], back[65537];
    fill_pat(big, 65537, 0, 1);
    OK(setxattr("f", "user.big", big, 65536, 0));
    EQM(getxattr("f", "user.big", NULL, 0), 65536, "size of a 64 KiB value");
    memset(back, 0, 65537);
    EQ(getxattr("f", "user.big", back, 65536), 65536);
    CHECKF(!memcmp(big, back, 65536), "a 64 KiB value came back changed");
    FAILS(setxattr("f", "user.big2", big, 65537, 0), E2BIG);

    /* an empty value, through a descriptor, on a directory and a symlink */
    OK(setxattr("f", "user.empty", "", 0, 0));
    EQM(getxattr("f", "user.empty", buf, sizeof buf), 0, "an empty value");
    int fd = OK(open("f", O_RDONLY));
    OK(fsetxattr(fd, "user.fd", "x", 1, 0));
    EQ(fgetxattr(fd, "user.fd", buf, sizeof buf), 1);
    CHECK(flistxattr(fd, NULL, 0) > 0);
    OK(fremovexattr(fd, "user.fd"));
    close(fd);
    OK(mkdir("d", 0755));
    OK(setxattr("d", "user.dir", "D", 1, 0));
    EQ(getxattr("d", "user.dir", buf, sizeof buf), 1);
    OK(symlink("f", "l"));
    FAILS(lsetxattr("l", "user.x", "1", 1, 0), EPERM);
    OK(lsetxattr("l", "trusted.x", "L", 1, 0));
    EQ(lgetxattr("l", "trusted.x", buf, sizeof buf), 1);
    FAILS(getxattr("f", "trusted.x", buf, sizeof buf), ENODATA); /* the link's, not f's */
    FAILS(setxattr("f", "bogus.x", "1", 1, 0), EOPNOTSUPP);

    /* many */
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "user.many%03d", i);
        OK(setxattr("d", name, name, strlen(name), 0));
    }
    char *list = xmalloc(8192);
    n = OK(listxattr("d", list, 8192));
    int count = 0;
    for (char *p = list; n > 0 && p < list + n; p += strlen(p) + 1)
        count += !strncmp(p, "user.many", 9);
    EQM(count, 100, "xattrs listed of 100 set");
    free(list);
}

/* ---- statfs ---------------------------------------------------------------------------- */

static void t_statfs(void)
{
    struct statvfs sv, sv2;
    struct statfs sf;
    OK(statvfs(".", &sv));
    CHECK(sv.f_bsize > 0);
    CHECK(sv.f_frsize > 0);
    CHECK(sv.f_blocks > 0);
    CHECKF(sv.f_blocks >= sv.f_bfree, "f_blocks %llu < f_bfree %llu",
           (unsigned long long)sv.f_blocks, (unsigned long long)sv.f_bfree);
    CHECK(sv.f_bfree >= sv.f_bavail);
    CHECK(sv.f_files >= sv.f_ffree);
    EQ(sv.f_namemax, 255);
    OK(statfs(".", &sf));
    EQM(sf.f_type, 0x65735546, "f_type (FUSE_SUPER_MAGIC)");

    /* creating files and writing data shows in the counts */
    long long files = (long long)(sv.f_files - sv.f_ffree);
    long long blocks = (long long)(sv.f_blocks - sv.f_bfree);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "f%d", i);
        close(CREATE(name));
    }
    int fd = CREATE("data");
    for (int i = 0; i < 8; i++)
        WRITE_PAT(fd, (uint64_t)i * MiB, MiB, 1);
    OK(fsync(fd));
    OK(syncfs(fd));
    OK(fstatvfs(fd, &sv2));
    close(fd);
    long long files2 = (long long)(sv2.f_files - sv2.f_ffree);
    long long blocks2 = (long long)(sv2.f_blocks - sv2.f_bfree);
    CHECKF(files2 >= files + 100, "inodes in use went from %lld to %lld after creating 101 files",
           files, files2);
    CHECKF((blocks2 - blocks) * (long long)sv2.f_frsize >= (long long)(4 * MiB),
           "blocks in use went from %lld to %lld (of %lu bytes) after writing 8 MiB", blocks,
           blocks2, sv2.f_frsize);
    EQM(sv2.f_namemax, 255, "fstatvfs f_namemax");

    /* and deleting them gives the space back (the kernel forgets lazily: wait a little) */
    OK(unlink("data"));
    long long blocks3 = blocks2;
    for (int i = 0; i < 250 && (blocks2 - blocks3) * (long long)sv2.f_frsize < (long long)(4 * MiB);
         i++) {
        tick();
        if (statvfs(".", &sv) == 0)
            blocks3 = (long long)(sv.f_blocks - sv.f_bfree);
    }
    CHECKF((blocks2 - blocks3) * (long long)sv2.f_frsize >= (long long)(4 * MiB),
           "blocks in use went from %lld to %lld (of %lu bytes) 5 s after deleting 8 MiB", blocks2,
           blocks3, sv2.f_frsize);
}

/* ---- setgid directories ------------------------------------------------------------------- */

static void t_setgid(void)
{
    OK(mkdir("g", 0755));
    OK(chown("g", (uid_t)-1, 4242));
    OK(chmod("g", 02775));
    EQ(STAT("g").st_mode, S_IFDIR | 02775);
    close(CREATE("g/f"));
    EQM(STAT("g/f").st_gid, 4242, "a file created in a setgid directory");
    OK(mkdir("g/sub", 0755));
    struct stat st = STAT("g/sub");
    EQM(st.st_gid, 4242, "a directory created in a setgid directory");
    EQM(st.st_mode, S_IFDIR | 02755, "a directory created in a setgid directory");
    close(CREATE("g/sub/deeper"));
    EQM(STAT("g/sub/deeper").st_gid, 4242, "a file two setgid directories down");
    OK(mkfifo("g/fifo", 0644));
    EQM(STAT("g/fifo").st_gid, 4242, "a fifo created in a setgid directory");
    OK(symlink("x", "g/l"));
    EQM(STAT("g/l").st_gid, 4242, "a symlink created in a setgid directory");
    OK(mkdir("plain", 0755));
    close(CREATE("plain/f"));
    EQM(STAT("plain/f").st_gid, getegid(), "a file created in a plain directory");
    EQM(STAT("plain").st_mode, S_IFDIR | 0755, "a plain directory");
}

/* ---- the sticky bit, permissions (as nobody) --------------------------------------------- */

static void nobody_in_sticky(void)
{
    close(OK(open("t/mine", O_CREAT | O_WRONLY, 0644))); /* control: nobody may create */
    EQM(STAT("t/mine").st_uid, nobody_uid, "owner of a file nobody created");
    FAILS2(unlink("t/rootfile"), EPERM, EACCES);
    FAILS2(rename("t/rootfile", "t/stolen"), EPERM, EACCES);
    FAILS2(rename("t/mine", "t/rootfile"), EPERM, EACCES);
    OK(unlink("t/mine"));     /* but its own file, yes */
    OK(unlink("w/rootfile")); /* and without the sticky bit, any */
}

static void t_sticky(void)
{
    OK(mkdir("t", 01777));
    OK(mkdir("w", 0777));
    close(OK(open("t/rootfile", O_CREAT | O_WRONLY, 0666)));
    close(OK(open("w/rootfile", O_CREAT | O_WRONLY, 0666)));
    AS_NOBODY(nobody_in_sticky);
    EQM(STAT("t/rootfile").st_uid, 0, "root's file in the sticky directory");
    struct stat st;
    FAILS(lstat("w/rootfile", &st), ENOENT);
    FAILS(lstat("t/stolen", &st), ENOENT);
}

static void nobody_perms(void)
{
    char buf[16];
    int fd = open("public", O_RDONLY); /* control: nobody gets into the mount */
    if (!CHECKF(fd >= 0, "nobody cannot read a 0644 file (%s): is the mount allow_other?",
                ename(errno)))
        return;
    EQ(read(fd, buf, sizeof buf), 6);
    close(fd);
    FAILS(open("secret", O_RDONLY), EACCES);
    FAILS(open("public", O_WRONLY), EACCES);
    FAILS(open("mine", O_CREAT | O_WRONLY, 0644), EACCES);
    FAILS(chmod("public", 0777), EPERM);
    FAILS(chown("public", nobody_uid, nobody_gid), EPERM);
    FAILS2(setxattr("public", "user.x", "1", 1, 0), EACCES, EPERM);
    FAILS(utimensat(AT_FDCWD, "public", NULL, 0), EACCES);
    OK(utimensat(AT_FDCWD, "open", NULL, 0)); /* writable: touching is allowed */
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    FAILS(utimensat(AT_FDCWD, "open", ts, 0), EPERM); /* setting a time is the owner's */
    FAILS(mkdir("dir/x", 0755), EACCES);
    /* writing a setuid file clears its setuid bit */
    fd = OK(open("suid", O_WRONLY));
    EQ(write(fd, "x", 1), 1);
    close(fd);
}

static void nobody_reads_acl(void)
{
    int fd = open("acl", O_RDONLY);
    CHECKF(fd >= 0,
           "nobody cannot read a 0600 file whose ACL, accepted by setxattr, grants it read: %s",
           ename(errno));
    if (fd >= 0)
        close(fd);
}

/* A POSIX ACL granting uid read, in the kernel's xattr format. */
static size_t acl_granting_read(unsigned char *b, uid_t uid)
{
    struct {
        uint16_t tag, perm;
        uint32_t id;
    } e[] = {{0x01, 6, UINT32_MAX},
             {0x02, 4, uid},
             {0x04, 0, UINT32_MAX},
             {0x10, 4, UINT32_MAX},
             {0x20, 0, UINT32_MAX}}; /* user::rw- user:uid:r-- */
    uint32_t version = 2;            /* group::--- mask::r-- o::--- */
    memcpy(b, &version, 4);
    memcpy(b + 4, e, sizeof e);
    return 4 + sizeof e;
}

static void t_perms(void)
{
    PUT("secret", "secret");
    OK(chmod("secret", 0600));
    PUT("public", "public");
    close(OK(open("open", O_CREAT | O_WRONLY, 0666)));
    close(OK(open("suid", O_CREAT | O_WRONLY, 0666)));
    OK(chmod("suid", 04766));
    OK(mkdir("dir", 0755));
    AS_NOBODY(nobody_perms);
    EQM(STAT("suid").st_mode, S_IFREG | 0766, "a setuid file after nobody wrote to it");
    /* an ACL is either refused or obeyed, never accepted and ignored */
    PUT("acl", "acl");
    OK(chmod("acl", 0600));
    unsigned char acl[64];
    size_t n = acl_granting_read(acl, nobody_uid);
    if (setxattr("acl", "system.posix_acl_access", acl, n, 0) == 0)
        AS_NOBODY(nobody_reads_acl);
    else
        CHECKF(errno == EOPNOTSUPP, "setting an ACL failed with %s", ename(errno));
    /* root reads anything */
    OK(chmod("secret", 0));
    HOLDS("secret", "secret");
}

/* ---- fsync, fdatasync, syncfs ----------------------------------------------------------- */

static void t_sync(void)
{
    int fd = CREATE("f");
    WRITE_PAT(fd, 0, 100000, 1);
    EQ(fsync(fd), 0);
    EXPECT_PAT(fd, 0, 100000, 1, "after fsync");
    WRITE_PAT(fd, 100000, 1000, 2);
    EQ(fdatasync(fd), 0);
    EQ(syncfs(fd), 0);
    EQ(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE), 0);
    close(fd);
    fd = OK(open("f", O_RDONLY));
    EQM(fsync(fd), 0, "fsync of a read-only descriptor");
    close(fd);
    int dfd = OK(open(".", O_RDONLY | O_DIRECTORY));
    EQM(fsync(dfd), 0, "fsync of a directory");
    EQM(fdatasync(dfd), 0, "fdatasync of a directory");
    EQM(syncfs(dfd), 0, "syncfs through a directory");
    close(dfd);
    sync();
}

/* ---- attributes while writes are buffered in the daemon ----------------------------------------
 */

/* What a program sees of path: the size fstat gives and what reading gives,
 * through a new descriptor. */
#define SEEN_AS(path, seed, len, what) seen_as(__FILE__, __LINE__, path, seed, len, what)
static void seen_as(const char *file, int line, const char *path, unsigned seed, size_t len,
                    const char *what)
{
    struct stat st;
    unsigned char buf[4096];
    int fd = open(path, O_RDONLY);
    counted();
    if (fd < 0) {
        fail_at(file, line, "%s: open(%s): %s", what, path, ename(errno));
        return;
    }
    if (fstat(fd, &st) == 0 && st.st_size != (off_t)len)
        fail_at(file, line, "%s: fstat of %s (the kernel's view) gives size %lld, expected %zu",
                what, path, (long long)st.st_size, len);
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n != (ssize_t)len)
        fail_at(file, line, "%s: reading %s gives %zd bytes, expected %zu", what, path, n, len);
    else
        expect_pat(file, line, fd, 0, len, seed, what);
    close(fd);
}

static void t_buffered(void)
{
    struct entry *es;

    /* a listing (readdirplus) while a new file's data is still buffered */
    int fd = CREATE("a");
    WRITE_PAT(fd, 0, 100, 1);
    free(es = NULL), list_dir(".", &es), free(es);
    SEEN_AS("a", 1, 100, "a file listed while its writes were buffered");
    WRITE_PAT(fd, 100, 100, 1);
    free(es = NULL), list_dir(".", &es), free(es);
    SEEN_AS("a", 1, 200, "a file grown and listed while its writes were buffered");
    close(fd);
    SEEN_AS("a", 1, 200, "a file listed while its writes were buffered, after close");

    /* a link made while the data is buffered */
    fd = CREATE("b");
    WRITE_PAT(fd, 0, 100, 2);
    OK(link("b", "b2"));
    SEEN_AS("b", 2, 100, "a file linked while its writes were buffered");
    SEEN_AS("b2", 2, 100, "the new name of a file linked while its writes were buffered");
    close(fd);

    /* a second lookup (another name) of a file with buffered data */
    fd = CREATE("c");
    WRITE_PAT(fd, 0, 300, 3);
    OK(rename("c", "c2"));
    SEEN_AS("c2", 3, 300, "a file renamed while its writes were buffered");
    close(fd);

    /* times: the write's mtime, and a later ctime kept */
    fd = CREATE("d");
    WRITE_PAT(fd, 0, 10, 4);
    struct stat st0 = FSTAT(fd);
    tick();
    free(es = NULL), list_dir(".", &es), free(es);
    struct stat st;
    OK(fstat(fd, &st));
    EQM(ns_of(st.st_mtim), ns_of(st0.st_mtim), "the kernel's mtime after a listing");
    close(fd);
}

/* ---- several processes at once -------------------------------------------------------------- */

enum { PROCS = 4, EACH = 150, STRIPE = 1000, STRIPES = 100 };

static void busy_in_dir(int p)
{
    char name[64];
    for (int j = 0; j < EACH; j++) {
        snprintf(name, sizeof name, "c/d-%d-%d", p, j);
        OK(mkdir(name, 0755));
        snprintf(name, sizeof name, "c/f-%d-%d", p, j);
        close(OK(open(name, O_CREAT | O_EXCL | O_WRONLY, 0644)));
    }
    for (int j = 0; j < EACH; j += 2) {
        snprintf(name, sizeof name, "c/d-%d-%d", p, j);
        OK(rmdir(name));
        snprintf(name, sizeof name, "c/f-%d-%d", p, j);
        OK(unlink(name));
    }
    for (int j = 1; j < EACH; j += 2) { /* move the rest of the directories to e */
        char to[64];
        snprintf(name, sizeof name, "c/d-%d-%d", p, j);
        snprintf(to, sizeof to, "e/d-%d-%d", p, j);
        OK(rename(name, to));
    }
}

static void stripes(int p)
{
    int fd = OK(open("striped", O_WRONLY));
    for (int k = 0; k < STRIPES; k++)
        WRITE_PAT(fd, (uint64_t)(k * PROCS + p) * STRIPE, STRIPE, (unsigned)p);
    close(fd);
}

static void t_concurrent(void)
{
    pid_t pid[PROCS];
    OK(mkdir("c", 0755));
    OK(mkdir("e", 0755));
    close(CREATE("striped"));
    fflush(stdout);
    for (int p = 0; p < PROCS; p++)
        if ((pid[p] = fork()) == 0) {
            busy_in_dir(p);
            stripes(p);
            fflush(stdout);
            _exit(0);
        }
    for (int p = 0; p < PROCS; p++)
        REAP(pid[p], "a busy process");

    int left = PROCS * EACH / 2;
    EQM(STAT("c").st_nlink, 2, "c after every subdirectory was removed or moved out");
    EQM(STAT("e").st_nlink, 2 + left, "e after the subdirectories moved in");
    struct entry *es;
    EQM(list_dir("c", &es), 2 + left, "entries of c (files left)");
    free(es);
    EQM(list_dir("e", &es), 2 + left, "entries of e (directories moved in)");
    free(es);

    int fd = OK(open("striped", O_RDONLY));
    EQ(FSTAT(fd).st_size, (long long)PROCS * STRIPES * STRIPE);
    for (int k = 0; k < STRIPES; k++)
        for (int p = 0; p < PROCS; p++)
            if (!EXPECT_PAT(fd, (uint64_t)(k * PROCS + p) * STRIPE, STRIPE, (unsigned)p,
                            "a stripe written by one of four processes at once"))
                k = STRIPES, p = PROCS;
    close(fd);
}

/* ---- the run ------------------------------------------------------------------------------ */

static const struct topic {
    const char *name;
    void (*fn)(void);
    const char *about;
} topics[] = {
    {"open", t_open, "open/creat: O_EXCL, O_TRUNC, O_APPEND from two fds and two processes"},
    {"rw", t_rw, "read/write/pread/pwrite: block boundaries, inline to blocks, past 4 GiB"},
    {"sparse", t_sparse, "sparse files, lseek SEEK_DATA and SEEK_HOLE"},
    {"truncate", t_truncate, "ftruncate/truncate down and up"},
    {"fallocate", t_fallocate, "fallocate: mode 0, KEEP_SIZE, PUNCH_HOLE, unsupported modes"},
    {"copy", t_copy, "copy_file_range"},
    {"stat", t_stat, "stat fields; mtime/ctime/atime on write, utimensat, chmod, link, rename"},
    {"chmod", t_chmod, "chmod/chown/lchown as root"},
    {"mknod", t_mknod, "fifos, sockets, character and block devices"},
    {"dirs", t_dirs, "mkdir/rmdir errors, directory nlink"},
    {"symlink", t_symlink, "symlink/readlink, targets up to 4095 bytes"},
    {"link", t_link, "hard links: nlink through link, unlink, rename-over"},
    {"rename", t_rename, "rename, RENAME_NOREPLACE, RENAME_EXCHANGE, the errors"},
    {"whiteout", t_whiteout, "renameat2 RENAME_WHITEOUT, alone and with the other flags"},
    {"tmpfile", t_tmpfile, "O_TMPFILE fails cleanly (libfuse 3.14 has no tmpfile operation)"},
    {"names", t_names, "names of 255 and 256 bytes, odd bytes, long paths"},
    {"readdir", t_readdir, "listing 2000 entries under changes; telldir/seekdir"},
    {"orphan", t_orphan, "files unlinked while open"},
    {"xattr", t_xattr, "set/get/list/removexattr, flags and limits"},
    {"statfs", t_statfs, "statfs fields and counts"},
    {"setgid", t_setgid, "setgid directories"},
    {"sticky", t_sticky, "the sticky bit, as nobody"},
    {"perms", t_perms, "permissions, as nobody"},
    {"sync", t_sync, "fsync, fdatasync, syncfs"},
    {"buffered", t_buffered, "what programs see of a file while its writes are buffered"},
    {"concurrent", t_concurrent, "four processes creating, removing, moving, writing at once"},
};
#define NTOPICS (sizeof topics / sizeof *topics)

static void print_file(const char *path, const char *indent)
{
    char line[512];
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        printf("%s%s", indent, line);
    fclose(f);
}

/* The kernel stacks of every thread of pid. */
static void dump_stacks(pid_t pid, const char *who)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    printf("  kernel stacks of %s (pid %d):\n", who, (int)pid);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char comm[64] = "?", wchan[64] = "?";
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, de->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = 0;
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, de->d_name);
        f = fopen(path, "r");
        if (f) {
            if (!fgets(wchan, sizeof wchan, f))
                strcpy(wchan, "?");
            fclose(f);
        }
        printf("   thread %s (%s) wchan %s\n", de->d_name, comm, wchan);
        snprintf(path, sizeof path, "/proc/%d/task/%s/stack", (int)pid, de->d_name);
        print_file(path, "     ");
    }
    closedir(d);
}

/* The processes of process group pgid (a topic and what it forked). */
static void dump_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid > 0 && getpgid(pid) == pgid)
            dump_stacks(pid, "a test process");
    }
    if (d)
        closedir(d);
}

static int topic_timeout(void)
{
    const char *s = getenv("SYSCALLS_TIMEOUT");
    int t = s ? atoi(s) : 0;
    return t > 0 ? t : 120;
}

static char base[PATH_MAX];    /* DIR/syscalls.PID */
static bool hung;              /* a topic hung: the run stops */
static volatile pid_t running; /* the process group of the topic running */

/* SIGINT, SIGTERM: take the running topic down with us. */
static void on_signal(int sig)
{
    if (running > 0)
        kill(-running, SIGKILL);
    _exit(128 + sig);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    counted();
    if (r < 0)
        fail_at(__FILE__, __LINE__, "removing %s: %s", path, ename(errno));
    return 0;
}

/* Remove everything the topics made: that must work too. */
static void t_cleanup(void)
{
    if (chdir("/") < 0)
        return;
    nftw(base, remove_one, 32, FTW_DEPTH | FTW_PHYS);
    struct stat st;
    counted();
    if (lstat(base, &st) == 0)
        fail_at(__FILE__, __LINE__, "%s is still there after removing everything", base);
}

/* Run one topic in a child process, in a new directory base/NAME when
 * own_dir, and wait for it at most topic_timeout() seconds. Returns the
 * topic's failures. */
static int run_topic(const struct topic *tp, bool own_dir)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s", base, tp->name);
    int fails0 = tally->failures, checks0 = tally->checks;
    long long t0 = now_ns();
    topic = tp->name;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (own_dir && (mkdir(dir, 0755) < 0 || chdir(dir) < 0)) {
            fail_at(__FILE__, __LINE__, "making and entering %s: %s", dir, ename(errno));
            _exit(1);
        }
        umask(0);
        tp->fn();
        fflush(stdout);
        _exit(0);
    }
    setpgid(pid, pid);
    running = pid;
    int st = 0, timeout = topic_timeout();
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (now_ns() - t0 > timeout * 1000000000LL) {
            fail_at(__FILE__, __LINE__,
                    "no end after %d s: hung? (SYSCALLS_TIMEOUT sets the limit); the run stops",
                    timeout);
            dump_group(pid);
            const char *daemon = getenv("GHOSTFS_PID");
            if (daemon && atoi(daemon) > 0)
                dump_stacks((pid_t)atoi(daemon), "the ghostfs daemon");
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            st = 0; /* reported */
            hung = true;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    while (waitpid(-pid, NULL, WNOHANG) > 0) /* anything it left behind */
        ;
    running = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fail_at(__FILE__, __LINE__, "the topic's process %s", wait_status(st));
    int fails = tally->failures - fails0;
    printf("%-10s %-6s %4d checks, %3d failed  %6.2f s  %s\n", tp->name, fails ? "FAILED" : "ok",
           tally->checks - checks0, fails, (double)(now_ns() - t0) / 1e9, tp->about);
    fflush(stdout);
    return fails;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "-l")) {
        for (size_t i = 0; i < NTOPICS; i++)
            printf("%-10s %s\n", topics[i].name, topics[i].about);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: syscalls DIR [TOPIC...]   (a directory on a ghostfs mount)\n"
                        "       syscalls -l               (list the topics)\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        size_t j = 0;
        while (j < NTOPICS && strcmp(argv[i], topics[j].name))
            j++;
        if (j == NTOPICS) {
            fprintf(stderr, "syscalls: no topic '%s' (syscalls -l lists them)\n", argv[i]);
            return 2;
        }
    }
    if (geteuid() != 0)
        fprintf(stderr, "syscalls: not root: the chown, mknod and nobody checks will fail\n");
    struct passwd *pw = getpwnam("nobody");
    if (pw) {
        nobody_uid = pw->pw_uid;
        nobody_gid = pw->pw_gid;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    tally = mmap(NULL, sizeof *tally, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tally == MAP_FAILED) {
        perror("mmap");
        return 2;
    }

    snprintf(base, sizeof base, "%s/syscalls.%d", argv[1], (int)getpid());
    if (mkdir(base, 0755) < 0 || chmod(base, 0755) < 0) {
        fprintf(stderr, "syscalls: mkdir %s: %s\n", base, strerror(errno));
        return 2;
    }
    int failed_topics = 0;
    for (size_t i = 0; i < NTOPICS && !hung; i++) {
        bool wanted = argc == 2;
        for (int j = 2; j < argc; j++)
            wanted |= !strcmp(argv[j], topics[i].name);
        if (wanted)
            failed_topics += run_topic(&topics[i], true) > 0;
    }
    if (!hung) {
        static const struct topic cleanup = {"cleanup", t_cleanup, "removing all of it"};
        failed_topics += run_topic(&cleanup, false) > 0;
    }

    printf("%d checks, %d failed (%d topics failed)\n", tally->checks, tally->failures,
           failed_topics);
    return tally->failures ? 1 : 0;
}
