/*
 * test_log.c - the library's logger (src/log.c) as a sink: to a file
 * descriptor every line is "TIME ghostfs[PID]: LEVEL: message" and one
 * line per message, whatever the message holds; each sink keeps its
 * default levels unless told otherwise; lines of many threads written at
 * once to one O_APPEND file stay whole; and back on stderr it writes what
 * it always did. (Syslog is checked by tests/mount/daemonlog.sh.)
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ghost.h"
#include "util.h"

#define LINE_RE                                                                                    \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-9]{4} "               \
    "ghostfs\\[[0-9]+\\]: (error|warning|info|debug): "

/* A fresh log file, opened as the daemon opens one. */
static int open_log(const char *name)
{
    const char *path = test_path(name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* What the file holds, NUL-terminated; the caller frees it. */
static char *slurp(const char *name)
{
    FILE *f = fopen(test_path(name), "r");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* How many lines text has, and whether every one matches LINE_RE and
 * ends in a newline. */
static size_t whole_lines(const char *text, bool *all_whole)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
    size_t lines = 0;
    *all_whole = true;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            *all_whole = false; /* a line without its newline */
            break;
        }
        char *line = strndup(p, (size_t)(nl - p));
        if (regexec(&re, line, 0, NULL, 0))
            *all_whole = false;
        free(line);
        lines++;
        p = nl + 1;
    }
    regfree(&re);
    return lines;
}

static void reset(void)
{
    ghost_log_to_fd(-1);
    ghost_log_set_level(-1);
}

START_TEST(fd_lines_have_time_process_and_level)
{
    int fd = open_log("a.log");
    ghost_log_to_fd(fd);
    ghost_log(GHOST_LOG_ERR, "an error %d", 1);
    ghost_log(GHOST_LOG_WARN, "a warning");
    ghost_log(GHOST_LOG_INFO, "some info");
    ghost_log(GHOST_LOG_DEBUG, "a debug line"); /* not kept by default */
    ghost_log_warning("through ghost_log_warning");
    reset();
    close(fd);
    char *text = slurp("a.log");
    bool whole;
    ck_assert_uint_eq(whole_lines(text, &whole), 4);
    ck_assert(whole);
    ck_assert_ptr_nonnull(strstr(text, "]: error: an error 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "]: warning: a warning\n"));
    ck_assert_ptr_nonnull(strstr(text, "]: info: some info\n"));
    ck_assert_ptr_nonnull(strstr(text, "]: warning: through ghost_log_warning\n"));
    ck_assert_ptr_null(strstr(text, "a debug line"));
    char pid[32];
    snprintf(pid, sizeof pid, "ghostfs[%ld]", (long)getpid());
    ck_assert_ptr_nonnull(strstr(text, pid));
    free(text);
}
END_TEST

/* libfuse ends its messages with a newline, and a message may hold more:
 * still one line each. A message longer than a line is cut, not split. */
START_TEST(one_message_one_line)
{
    int fd = open_log("b.log");
    ghost_log_to_fd(fd);
    ghost_log(GHOST_LOG_ERR, "fuse: reading device: bad\n");
    ghost_log(GHOST_LOG_ERR, "two\nlines\n\n");
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ghost_log(GHOST_LOG_WARN, "%s", big);
    reset();
    close(fd);
    char *text = slurp("b.log");
    bool whole;
    ck_assert_uint_eq(whole_lines(text, &whole), 3);
    ck_assert(whole);
    ck_assert_ptr_nonnull(strstr(text, ": error: fuse: reading device: bad\n"));
    ck_assert_ptr_nonnull(strstr(text, ": error: two lines\n"));
    ck_assert_ptr_nonnull(strstr(text, "xxx\n"));
    free(text);
}
END_TEST

START_TEST(levels_can_be_set)
{
    int fd = open_log("c.log");
    ghost_log_to_fd(fd);
    ghost_log_set_level(GHOST_LOG_DEBUG);
    ghost_log(GHOST_LOG_DEBUG, "kept debug");
    ghost_log_set_level(GHOST_LOG_ERR);
    ghost_log(GHOST_LOG_WARN, "dropped warning");
    ghost_log(GHOST_LOG_ERR, "kept error");
    reset();
    close(fd);
    char *text = slurp("c.log");
    ck_assert_ptr_nonnull(strstr(text, ": debug: kept debug\n"));
    ck_assert_ptr_nonnull(strstr(text, ": error: kept error\n"));
    ck_assert_ptr_null(strstr(text, "dropped"));
    free(text);
}
END_TEST

/* Back on stderr: "ghostfs: LEVEL: message", warnings and errors only. */
START_TEST(stderr_as_before)
{
    int fd = open_log("d.log");
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    ghost_log_to_fd(fd);
    ghost_log_to_fd(-1);
    ghost_log(GHOST_LOG_WARN, "on stderr");
    ghost_log(GHOST_LOG_INFO, "info stays off a terminal");
    ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    close(fd);
    char *text = slurp("d.log");
    ck_assert_str_eq(text, "ghostfs: warning: on stderr\n");
    free(text);
}
END_TEST

enum { THREADS = 8, PER_THREAD = 2000 };

static void *logger(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++)
        ghost_log(GHOST_LOG_WARN, "thread %ld line %d %s", id, i,
                  "padding padding padding padding padding padding padding padding");
    return NULL;
}

START_TEST(threads_do_not_mix_lines)
{
    int fd = open_log("e.log");
    ghost_log_to_fd(fd);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, logger, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    reset();
    close(fd);
    char *text = slurp("e.log");
    bool whole;
    ck_assert_uint_eq(whole_lines(text, &whole), (size_t)THREADS * PER_THREAD);
    ck_assert(whole);
    size_t ends = 0; /* and each line is one message, its end included */
    for (const char *p = text; (p = strstr(p, "padding\n")); p++)
        ends++;
    ck_assert_uint_eq(ends, (size_t)THREADS * PER_THREAD);
    free(text);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fd_lines_have_time_process_and_level);
    tcase_add_test(tc, one_message_one_line);
    tcase_add_test(tc, levels_can_be_set);
    tcase_add_test(tc, stderr_as_before);
    tcase_add_test(tc, threads_do_not_mix_lines);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(log_suite)
