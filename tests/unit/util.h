/*
 * util.h - what every unit suite shares: the assertions on results (OK,
 * EXPECT), the suite's main() (TEST_MAIN), a private temporary directory per
 * test program (removed at exit), store paths inside it, and reading the
 * process's memory figures.
 *
 * Results are 0, a count, or a negative error: an errno (-ENOENT) or one of
 * the library's own codes (-GHOST_ECONFLICT). The assertions widen every
 * result to long long, so they take an int, an ssize_t or an int64_t alike,
 * and evaluate each argument once.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "ghost.h"

/* AddressSanitizer keeps freed memory in quarantine: memory figures mean
 * nothing under it. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* A result's name for a failure message: "ok" for r >= 0, the errno's name
 * ("ENOENT") for a negative errno, the library's text for its own codes. */
const char *test_ename(long long r);

/* expr must return exactly 0. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        long long ok_r_ = (long long)(expr);                                                       \
        ck_assert_msg(ok_r_ == 0, "%s = %lld (%s); errmsg: %s", #expr, ok_r_, test_ename(ok_r_),   \
                      ghost_errmsg());                                                             \
    } while (0)

/* expr must return want (0, a count, or a negative error). */
#define EXPECT(expr, want)                                                                         \
    do {                                                                                           \
        long long ex_r_ = (long long)(expr), ex_w_ = (long long)(want);                            \
        ck_assert_msg(ex_r_ == ex_w_, "%s = %lld (%s), expected %s = %lld (%s); errmsg: %s",       \
                      #expr, ex_r_, test_ename(ex_r_), #want, ex_w_, test_ename(ex_w_),            \
                      ghost_errmsg());                                                             \
    } while (0)

/* Run every test of s, each in a child process of its own, printing as much
 * as CK_VERBOSITY asks (a summary line by default); frees s. Returns EXIT_SUCCESS if all passed,
 * otherwise EXIT_FAILURE. */
int test_run_suite(Suite *s);

/* A suite program's main(): the temporary directory is made first, by this
 * process, so that it is shared by the tests (each runs in a child Check
 * forks) and removed when this process exits, not when a test's child
 * does. */
#define TEST_MAIN(suite_fn)                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        test_dir();                                                                                \
        return test_run_suite(suite_fn());                                                         \
    }

/* A fresh directory under $TMPDIR (or /tmp), created on first use and
 * removed with everything in it when the process that created it exits. */
const char *test_dir(void);

/* test_dir()/name, in a static buffer that the next call overwrites. */
const char *test_path(const char *name);

/* A new store at test_dir()/name (an existing one is deleted first);
 * returns its path in a static buffer. Aborts the test on failure. */
const char *test_new_store(const char *name);

/* Peak resident set size of this process in bytes (VmHWM). */
uint64_t test_peak_rss(void);

/* Current resident set size in bytes (VmRSS). */
uint64_t test_rss(void);

/* Flip one byte in every copy of needle (len bytes) in the file at path:
 * damage a record where it is stored, in every page that holds a copy (the
 * engine's copy-on-write may leave older pages behind). Returns how many
 * copies there were. */
int test_flip_everywhere(const char *path, const void *needle, size_t len);

#endif
