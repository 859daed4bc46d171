/*
 * test_damage.c - every damaged byte is detected: for a small store, every
 * page in turn is damaged in every way, and each damaged copy is read back
 * through fs/ (no mount) the way a user of the mount would read it.
 *
 * The store (damage_tree.c) is written through fs/ and closed cleanly; it is
 * about a hundred LMDB pages. For each page and each of 14 damage modes
 * (zeroed, pseudo-random garbage, and one byte xor 0xff at each of 12
 * positions: damage_pages.c) a copy of the store and its change log is made,
 * and a forked child opens it as the daemon does (read-write, read-only if
 * that is refused) and checks every name against what was written
 * (damage_check.c says how each name is classed). The child reports through a
 * pipe; an alarm ends one that hangs, and one that dies is counted, not fatal
 * to the test.
 *
 * It passes when, over every copy, no name came back wrong without an error,
 * none went missing without an error, no listing showed a name never written,
 * and no child died or hung. The summary goes to stderr in every run, with
 * one line for each failing copy (the first 50).
 *
 * GHOST_DAMAGE_STRIDE=N damages only every Nth page of file data and free
 * pages (and still every meta, branch and leaf page), for slow builds; the
 * default is every page.
 *
 * Against format 2 before issue 17's fixes (LMDB 0.9.24, the store on ext4):
 * 101 pages (2 meta, 2 branch, 10 leaf, 73 overflow, 14 free), 1,414
 * copies; 23 failed: 4 WRONG, 15 MISSING, 0 PHANTOM, 4 ABORTED, 0 HUNG. Of
 * the 30 names in a copy, 39,985 checks were OK, 2,236 DETECTED, 74 MISSING
 * and 5 WRONG. 30 copies were refused at open with an error (DETECTED):
 * 11 of the 28 with a damaged meta page (either one: LMDB 0.9 checks both,
 * so even -o ro cannot open them), and 19 with damage to the main tree's
 * root, the leaf that holds the tables' records or the meta table's leaf.
 *
 *   mode       copies  WRONG MISSING ABORTED    page kind  copies  WRONG MISSING ABORTED
 *   zero          101      0       0       2    meta           28      1       0       0
 *   garbage       101      0       0       2    branch         28      1       1       0
 *   flip@10       101      0       1       0    leaf          140      2      14       4
 *   flip@12       101      0       4       0    overflow     1022      0       0       0
 *   flip@16       101      1       5       0    free          196      0       0       0
 *   flip@20       101      1       5       0
 *   flip@128      101      1       0       0    (the other six modes: none)
 *   flip@144      101      1       0       0
 *
 * - WRONG: a 64 KiB block read as zeros at the right size (a node pointer
 *   or key on its path damaged: page 96 flip@20, page 97 flip@16, @128);
 *   and page 0 flip@144, the meta page's transaction id 74 -> 181: LMDB's
 *   readers take the meta page of the id's parity, meta 1 (id 73, the tree
 *   before the last commit), so /c/last reads its bytes of one write before.
 * - MISSING: a leaf's lower bound or first node pointers damaged (flip@12,
 *   16, 20) drop records: an inode whose directory still lists it (ENOENT),
 *   a directory entry that readdir no longer shows, an xattr (ENODATA);
 *   page 96 (the map table's branch root) flip@10 makes it a leaf, and all
 *   30 names lose their entries and xattrs without an error.
 * - ABORTED: LMDB's assertions on a zeroed or garbage leaf: 'IS_LEAF(mp)' in
 *   mdb_cursor_next (pages 2 and 85), 'i > 0' in mdb_page_search_root.
 * On tmpfs, where LMDB writes through its map and the file is as long as
 * the map, 26 copies fail: reads past the last page that fault (SIGBUS,
 * caught as EIO) on ext4 find zeros there.
 *
 * After them (format 3: map tallies in their own table, fs/damage.c, LMDB's
 * assertions caught, the meta pages checked against the change log): 104
 * pages (2 meta, 2 branch, 11 leaf, 73 overflow, 16 free), 1,456 copies,
 * none failed. 41,297 checks OK, 2,383 DETECTED; 27 copies refused at open,
 * 2 (both meta page 0 flip@144 and one more meta flip) refused for writing
 * as rolled back and read read-only, as recovery does: the older bytes they
 * show were announced at open, so they count as DETECTED (damage_check.c).
 * A tally kept beside its map's keys, the first try, left 4 MISSING: a
 * damaged leaf took the keys and their count together.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "damage.h"
#include "fs.h"
#include "proc.h"
#include "util.h"

#define CHILD_ALARM_S 10 /* a copy is checked in milliseconds; this is a hang */
#define MAX_DETAILS 50

enum { F_WRONG, F_MISSING, F_PHANTOM, F_ABORTED, F_HUNG, NFAILS };

/* Copies counted by what they showed; a copy counts once in each column. */
struct tally {
    unsigned copies, clean, refused, read_only;
    unsigned fail[NFAILS];
    unsigned long files[DC_NCLASSES];
};

struct copy_paths {
    char store[4352], changes[4400], lock[4400], log[4400];
};

/* What one child did. */
struct copy_result {
    struct damage_outcome out;
    bool reported;
    int status; /* child_wait()'s */
    bool fails[NFAILS];
    char where[200];
};

/* ---- making a copy ------------------------------------------------------------------ */

/* A new file (not the old one truncated, which ext4 would write back at
 * close) with len bytes of b. */
static void write_file(const char *p, const void *b, size_t len)
{
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ck_assert_msg(fd >= 0, "create %s", p);
    ck_assert_int_eq(write_full(fd, b, len), 0);
    close(fd);
}

static unsigned char *read_file(const char *p, size_t *len)
{
    struct stat st;
    int fd = open(p, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s", p);
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

/* The store with page damaged by mode (mode < 0: undamaged), its change log
 * as it was, and no lock file (LMDB makes its own). */
static void make_copy(const struct copy_paths *cp, const struct damage_image *im,
                      const unsigned char *changes, size_t changes_len, size_t page, int mode)
{
    unlink(cp->lock);
    write_file(cp->changes, changes, changes_len);
    write_file(cp->store, im->bytes, im->npages * im->psize);
    int fd = open(cp->store, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    /* The pages past the last one LMDB wrote are zeros (a file as long as
     * the map): a hole, not a copy. */
    ck_assert_int_eq(ftruncate(fd, (off_t)im->len), 0);
    if (mode >= 0) {
        unsigned char *buf = malloc(im->psize);
        ck_assert_ptr_nonnull(buf);
        damage_page(im, page, mode, buf);
        ck_assert_int_eq(pwrite(fd, buf, im->psize, (off_t)(page * im->psize)), (ssize_t)im->psize);
        free(buf);
    }
    close(fd);
}

/* ---- checking a copy in a child -------------------------------------------------------- */

static void child_check(const struct copy_paths *cp, struct damage_where *where, int report)
{
    int log = open(cp->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) { /* the library's messages about the damage */
        dup2(log, 2);
        close(log);
    }
    /* Check's runner handles SIGALRM by killing the test's whole process
     * group; this child inherited that. A hang must end only this child. */
    signal(SIGALRM, SIG_DFL);
    alarm(CHILD_ALARM_S);
    struct damage_outcome out;
    struct fs *f = damage_check(cp->store, &out, where);
    if (write_full(report, &out, sizeof out))
        child_exit(3);
    snprintf(where->step, sizeof where->step, "close");
    fs_close(f);
    child_exit(0);
}

/* child_wait(), without its 10 ms naps: a copy takes a few milliseconds. */
static int wait_exit(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, (CHILD_ALARM_S + 5) * 1000) < 0 && errno == EINTR)
            ;
        close(fd);
    }
    return child_wait(pid, CHILD_ALARM_S + 5);
}

static void run_copy(const struct copy_paths *cp, struct damage_where *where, struct copy_result *r)
{
    int fds[2];
    memset(r, 0, sizeof *r);
    memset(where, 0, sizeof *where);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = child_spawn();
    if (pid == 0) {
        close(fds[0]);
        child_check(cp, where, fds[1]);
    }
    close(fds[1]);
    r->reported = read_full(fds[0], &r->out, sizeof r->out, CHILD_ALARM_S + 5) == 0;
    close(fds[0]);
    r->status = wait_exit(pid);
    snprintf(r->where, sizeof r->where, "%s", where->step);
    bool hung = r->status == CHILD_TIMEOUT || r->status == -SIGALRM;
    r->fails[F_HUNG] = hung;
    r->fails[F_ABORTED] = !hung && (r->status != 0 || !r->reported);
    if (r->reported) {
        r->fails[F_WRONG] = r->out.files[DC_WRONG] > 0;
        r->fails[F_MISSING] = r->out.files[DC_MISSING] > 0;
        r->fails[F_PHANTOM] = r->out.phantoms > 0;
    }
}

/* ---- the report ------------------------------------------------------------------------- */

static bool failed(const struct copy_result *r)
{
    for (int f = 0; f < NFAILS; f++)
        if (r->fails[f])
            return true;
    return false;
}

static void tally_add(struct tally *t, const struct copy_result *r)
{
    t->copies++;
    for (int f = 0; f < NFAILS; f++)
        t->fail[f] += r->fails[f];
    if (!r->reported)
        return;
    for (int c = 0; c < DC_NCLASSES; c++)
        t->files[c] += r->out.files[c];
    t->clean += r->out.files[DC_OK] == (uint32_t)damage_nodes && !failed(r);
    t->refused += r->out.opened == DO_REFUSED;
    t->read_only += r->out.opened == DO_READ_ONLY;
}

/* The child's last words on stderr: LMDB's assertion or a sanitizer's
 * report, if it made one. */
static void last_words(const char *log, char *buf, size_t size)
{
    char line[512], any[512] = "";
    FILE *f = fopen(log, "r");
    buf[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strstr(line, "Assertion") || strstr(line, "Sanitizer") || strstr(line, "runtime error"))
            snprintf(buf, size, "%.150s", line);
        if (line[0])
            snprintf(any, sizeof any, "%.150s", line);
    }
    fclose(f);
    if (!buf[0])
        snprintf(buf, size, "%.150s", any);
}

static void print_detail(const struct damage_image *im, const struct copy_paths *cp, size_t page,
                         int mode, const struct copy_result *r)
{
    char words[200];
    fprintf(stderr, "  page %3zu (%-8s) %-9s ", page, damage_kind_name[im->kind[page]],
            damage_mode_name(mode));
    if (r->fails[F_HUNG] || r->fails[F_ABORTED]) {
        last_words(cp->log, words, sizeof words);
        fprintf(stderr, "%s (%s) during %s%s%.150s\n", r->fails[F_HUNG] ? "HUNG" : "ABORTED",
                r->status == CHILD_TIMEOUT ? "timeout"
                : r->status < 0            ? strsignal(-r->status)
                                           : "exit without a report",
                r->where, words[0] ? ": " : "", words);
        return;
    }
    fprintf(stderr, "%s [%u wrong, %u missing, %u phantom; %u detected]\n", r->out.detail,
            r->out.files[DC_WRONG], r->out.files[DC_MISSING], r->out.phantoms,
            r->out.files[DC_DETECTED]);
}

static void print_row(const char *name, const struct tally *t)
{
    fprintf(stderr, "%-10s %6u %6u %6u %6u", name, t->copies, t->clean, t->refused, t->read_only);
    for (int f = 0; f < NFAILS; f++)
        fprintf(stderr, " %7u", t->fail[f]);
    fprintf(stderr, "\n");
}

static void print_summary(const struct tally *by_mode, const struct tally *by_kind,
                          const struct tally *all, double secs)
{
    static const char *head = "copies  clean refused    ro   WRONG MISSING PHANTOM ABORTED    HUNG";
    fprintf(stderr, "\ncopies by damage mode (a copy counts once in each column it shows)\n");
    fprintf(stderr, "%-10s %s\n", "mode", head);
    for (int m = 0; m < DAMAGE_MODES; m++)
        print_row(damage_mode_name(m), &by_mode[m]);
    fprintf(stderr, "\ncopies by kind of page damaged\n%-10s %s\n", "page", head);
    for (int k = 0; k < PK_NKINDS; k++)
        if (by_kind[k].copies)
            print_row(damage_kind_name[k], &by_kind[k]);
    print_row("all", all);
    fprintf(stderr,
            "\nnames checked: %lu OK, %lu DETECTED, %lu MISSING, %lu WRONG (%d names a copy);"
            " %.1f s\n",
            all->files[DC_OK], all->files[DC_DETECTED], all->files[DC_MISSING],
            all->files[DC_WRONG], damage_nodes, secs);
}

/* ---- the test ---------------------------------------------------------------------------- */

static size_t stride(void)
{
    const char *s = getenv("GHOST_DAMAGE_STRIDE");
    long n = s ? strtol(s, NULL, 10) : 1;
    return n > 1 ? (size_t)n : 1;
}

/* With a stride, the pages of LMDB's structure are still all damaged: they
 * are few, and every failure so far has come from one of them. */
static bool sampled_always(int kind)
{
    return kind == PK_META || kind == PK_BRANCH || kind == PK_LEAF;
}

static void set_paths(struct copy_paths *cp)
{
    const char *dir = test_path("copy");
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(cp->store, sizeof cp->store, "%s/store", dir);
    snprintf(cp->changes, sizeof cp->changes, "%s-changes", cp->store);
    snprintf(cp->lock, sizeof cp->lock, "%s-lock", cp->store);
    snprintf(cp->log, sizeof cp->log, "%s/child.log", dir);
}

/* Copy the child's log (its stderr) to ours. */
static void show_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f)
        return;
    fprintf(stderr, "--- %s\n", path);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

/* The undamaged copy reads back exactly: the check itself is sound. */
static void check_clean(const struct copy_paths *cp, const struct damage_image *im,
                        const unsigned char *changes, size_t clen, struct damage_where *where)
{
    struct copy_result r;
    make_copy(cp, im, changes, clen, 0, -1);
    run_copy(cp, where, &r);
    if (!r.reported || r.status != 0)
        show_log(cp->log); /* a sanitizer's report, say */
    ck_assert_msg(r.reported && r.status == 0, "the undamaged copy: status %d during %s", r.status,
                  r.where);
    ck_assert_msg(r.out.opened == DO_READ_WRITE && r.out.files[DC_OK] == (uint32_t)damage_nodes &&
                      !r.out.phantoms,
                  "the undamaged copy: %u of %d names OK, %u phantoms: %s", r.out.files[DC_OK],
                  damage_nodes, r.out.phantoms, r.out.detail);
}

struct run {
    struct copy_paths cp;
    struct damage_image im;
    unsigned char *changes;
    size_t changes_len;
    struct damage_where *where;
    struct tally by_mode[DAMAGE_MODES], by_kind[PK_NKINDS], all;
    unsigned details;
};

static void damage_one(struct run *u, size_t page, int mode)
{
    struct copy_result r;
    make_copy(&u->cp, &u->im, u->changes, u->changes_len, page, mode);
    run_copy(&u->cp, u->where, &r);
    tally_add(&u->by_mode[mode], &r);
    tally_add(&u->by_kind[u->im.kind[page]], &r);
    tally_add(&u->all, &r);
    if (failed(&r) && u->details++ < MAX_DETAILS)
        print_detail(&u->im, &u->cp, page, mode, &r);
}

START_TEST(every_page_every_damage)
{
    static struct run u;
    char store[4352], changes[4400];
    snprintf(store, sizeof store, "%s", test_path("clean"));
    snprintf(changes, sizeof changes, "%s-changes", store);
    damage_build(store);
    damage_image_load(&u.im, store);
    u.changes = read_file(changes, &u.changes_len);
    set_paths(&u.cp);
    u.where = shared_alloc(sizeof *u.where);
    unsigned kinds[PK_NKINDS] = {0};
    for (size_t p = 0; p < u.im.npages; p++)
        kinds[u.im.kind[p]]++;
    fprintf(stderr,
            "store: %zu pages of %u bytes (%u meta, %u branch, %u leaf, %u overflow,"
            " %u free), %d names\n",
            u.im.npages, u.im.psize, kinds[PK_META], kinds[PK_BRANCH], kinds[PK_LEAF],
            kinds[PK_OVERFLOW], kinds[PK_FREE], damage_nodes);
    check_clean(&u.cp, &u.im, u.changes, u.changes_len, u.where);

    double t0 = proc_now();
    size_t every = stride();
    for (size_t p = 0; p < u.im.npages; p++)
        if (p % every == 0 || sampled_always(u.im.kind[p]))
            for (int m = 0; m < DAMAGE_MODES; m++)
                damage_one(&u, p, m);
    if (u.details > MAX_DETAILS)
        fprintf(stderr, "  ... and %u more failing copies\n", u.details - MAX_DETAILS);
    print_summary(u.by_mode, u.by_kind, &u.all, proc_now() - t0);

    unsigned bad = 0;
    for (int f = 0; f < NFAILS; f++)
        bad += u.all.fail[f];
    ck_assert_msg(bad == 0,
                  "%u copies of %u failed: %u WRONG, %u MISSING, %u PHANTOM, %u ABORTED,"
                  " %u HUNG (see the table above)",
                  u.details, u.all.copies, u.all.fail[F_WRONG], u.all.fail[F_MISSING],
                  u.all.fail[F_PHANTOM], u.all.fail[F_ABORTED], u.all.fail[F_HUNG]);
    shared_free(u.where, sizeof *u.where);
    free(u.changes);
    damage_image_free(&u.im);
}
END_TEST

static Suite *damage_suite(void)
{
    Suite *s = suite_create("damage");
    TCase *tc = tcase_create("exhaustive");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, every_page_every_damage);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(damage_suite)
