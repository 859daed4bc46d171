/*
 * test_cli_escape.c - names written by the ghostfs command: which byte
 * sequences are valid UTF-8 (the boundaries of every rule: overlong forms,
 * surrogates, U+10FFFF, cut sequences), names as one line of text, and as
 * JSON strings that say valid UTF-8 exactly and stay valid JSON for any
 * other byte.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_escape.h"
#include "util.h"

/* What fn wrote for s (len bytes), in a static buffer. */
static const char *text_of(const char *s, size_t len)
{
    static char out[4096];
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(f);
    escape_text(f, s, len);
    fclose(f);
    snprintf(out, sizeof out, "%s", buf);
    free(buf);
    return out;
}

static const char *json_of(const char *s, size_t len, bool *exact)
{
    static char out[4096];
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(f);
    *exact = escape_json(f, s, len);
    fclose(f);
    snprintf(out, sizeof out, "%s", buf);
    free(buf);
    return out;
}

static size_t seq(const char *s)
{
    return utf8_seq_len((const unsigned char *)s, strlen(s));
}

START_TEST(utf8_boundaries)
{
    ck_assert_uint_eq(seq("a"), 1);
    ck_assert_uint_eq(seq("\x7f"), 1);
    ck_assert_uint_eq(seq("\x80"), 0);             /* a continuation byte alone */
    ck_assert_uint_eq(seq("\xc0\x80"), 0);         /* overlong NUL */
    ck_assert_uint_eq(seq("\xc1\xbf"), 0);         /* overlong */
    ck_assert_uint_eq(seq("\xc2\x80"), 2);         /* U+0080 */
    ck_assert_uint_eq(seq("\xdf\xbf"), 2);         /* U+07FF */
    ck_assert_uint_eq(seq("\xc3"), 0);             /* cut short */
    ck_assert_uint_eq(seq("\xc3\x41"), 0);         /* not a continuation */
    ck_assert_uint_eq(seq("\xe0\x9f\xbf"), 0);     /* overlong */
    ck_assert_uint_eq(seq("\xe0\xa0\x80"), 3);     /* U+0800 */
    ck_assert_uint_eq(seq("\xed\x9f\xbf"), 3);     /* U+D7FF */
    ck_assert_uint_eq(seq("\xed\xa0\x80"), 0);     /* U+D800, a surrogate */
    ck_assert_uint_eq(seq("\xef\xbf\xbf"), 3);     /* U+FFFF */
    ck_assert_uint_eq(seq("\xe2\x82"), 0);         /* cut short */
    ck_assert_uint_eq(seq("\xf0\x8f\xbf\xbf"), 0); /* overlong */
    ck_assert_uint_eq(seq("\xf0\x90\x80\x80"), 4); /* U+10000 */
    ck_assert_uint_eq(seq("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF */
    ck_assert_uint_eq(seq("\xf4\x90\x80\x80"), 0); /* over U+10FFFF */
    ck_assert_uint_eq(seq("\xf5\x80\x80\x80"), 0);
    ck_assert_uint_eq(seq("\xff"), 0);
    ck_assert_uint_eq(seq("\xf0\x9f\x98"), 0); /* cut short */
}
END_TEST

START_TEST(text_is_one_line)
{
    ck_assert_str_eq(text_of("daily", 5), "daily");
    ck_assert_str_eq(text_of("a b'c\"", 6), "a b'c\"");
    ck_assert_str_eq(text_of("a\\b", 3), "a\\\\b");
    ck_assert_str_eq(text_of("a\nb\tc\r", 6), "a\\nb\\tc\\r");
    ck_assert_str_eq(text_of("\x1b[2J\x7f", 5), "\\x1b[2J\\x7f");
    ck_assert_str_eq(text_of("caf\xc3\xa9", 5), "caf\xc3\xa9");
    ck_assert_str_eq(text_of("x\xff\xc3", 3), "x\\xff\\xc3");
    ck_assert_str_eq(text_of("\xed\xa0\x80", 3), "\\xed\\xa0\\x80");
    ck_assert_str_eq(text_of("", 0), "");
    /* C1 controls: U+009B is CSI, which terminals act on as ESC [ */
    ck_assert_str_eq(text_of("a\xc2\x9b[2J", 6), "a\\xc2\\x9b[2J"); /* "[": no hex digit */
    ck_assert_str_eq(text_of("\xc2\x80\xc2\x9f", 4), "\\xc2\\x80\\xc2\\x9f");
    ck_assert_str_eq(text_of("\xc2\xa0\xc2\xa9", 4), "\xc2\xa0\xc2\xa9"); /* U+00A0, U+00A9 */
}
END_TEST

START_TEST(json_strings)
{
    bool exact;
    ck_assert_str_eq(json_of("daily", 5, &exact), "\"daily\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("", 0, &exact), "\"\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("q\"b\\s/", 6, &exact), "\"q\\\"b\\\\s/\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("\n\t\r\b\f", 5, &exact), "\"\\n\\t\\r\\b\\f\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("\x01\x1f\x7f", 3, &exact), "\"\\u0001\\u001f\\u007f\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, &exact),
                     "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    ck_assert(exact);
    /* Stray bytes: U+00XX each, and the answer says it is not exact. */
    /* C1 controls as their code points: exact */
    ck_assert_str_eq(json_of("\xc2\x9b\xc2\x80\xc2\xa0", 6, &exact), "\"\\u009b\\u0080\xc2\xa0\"");
    ck_assert(exact);
    ck_assert_str_eq(json_of("x\xff\xc3(", 4, &exact), "\"x\\u00ff\\u00c3(\"");
    ck_assert(!exact);
    ck_assert_str_eq(json_of("\xed\xa0\x80", 3, &exact), "\"\\u00ed\\u00a0\\u0080\"");
    ck_assert(!exact);
}
END_TEST

/* Every byte value, alone and after a lead byte: JSON output never holds a
 * raw control byte, and text output never a raw control byte or DEL. */
START_TEST(every_byte)
{
    for (int b = 1; b < 256; b++) {
        char s[2] = {(char)0xc3, (char)b};
        bool exact;
        for (int start = 0; start < 2; start++) {
            const char *j = json_of(s + start, 2 - (size_t)start, &exact);
            const char *t = text_of(s + start, 2 - (size_t)start);
            for (const char *p = j; *p; p++)
                ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "json byte %02x", b);
            for (const char *p = t; *p; p++)
                ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "text byte %02x", b);
        }
    }
    /* Every C1 control (U+0080..U+009F) comes out as ASCII, in both. */
    for (int b = 0x80; b <= 0x9f; b++) {
        char s[2] = {(char)0xc2, (char)b};
        bool exact;
        const char *outs[] = {json_of(s, 2, &exact), text_of(s, 2)};
        ck_assert(exact);
        for (int k = 0; k < 2; k++)
            for (const char *p = outs[k]; *p; p++)
                ck_assert_msg((unsigned char)*p < 0x80, "%s: U+00%02X raw", k ? "text" : "json", b);
    }
}
END_TEST

static Suite *cli_escape_suite(void)
{
    Suite *s = suite_create("cli_escape");
    TCase *tc = tcase_create("escape");
    tcase_add_test(tc, utf8_boundaries);
    tcase_add_test(tc, text_is_one_line);
    tcase_add_test(tc, json_strings);
    tcase_add_test(tc, every_byte);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(cli_escape_suite)
