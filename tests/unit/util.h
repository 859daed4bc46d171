/*
 * util.h - small helpers shared by the unit suites: a private temporary
 * directory per test program (removed at exit), store paths inside it, and
 * reading the process's memory figures.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

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

#endif
