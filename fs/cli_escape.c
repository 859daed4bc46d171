/*
 * cli_escape.c - writing names for people and for programs (cli_escape.h).
 *
 * A name is bytes: whatever a user typed, in whatever encoding. A listing
 * must keep one name on one line (no raw newline or escape sequence reaches
 * the terminal: no C0 or C1 control, no DEL) and JSON must stay JSON (RFC 8259 wants UTF-8 and
 * escaped control characters), whatever the bytes are.
 */
#include "cli_escape.h"

#include <assert.h>

static bool cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* A C1 control (U+0080..U+009F, two bytes in UTF-8) at s, n its
 * sequence's length: terminals act on them as on ESC sequences (U+009B is
 * CSI), so they are escaped like C0 controls. */
static bool c1_control(const unsigned char *s, size_t n)
{
    return n == 2 && s[0] == 0xC2 && s[1] <= 0x9F;
}

size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    assert(len > 0);
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing over U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1, F5-FF */
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!cont(s[i]))
            return 0;
    return n;
}

void escape_text(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = utf8_seq_len(u + i, len - i);
        if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7F || n == 0)
            fprintf(f, "\\x%02x", c);
        else if (c1_control(u + i, n)) /* as its bytes, as a stray byte is */
            fprintf(f, "\\x%02x\\x%02x", c, u[i + 1]);
        else
            fwrite(u + i, 1, n, f);
        i += n ? n : 1;
    }
}

bool escape_json(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    bool exact = true;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = utf8_seq_len(u + i, len - i);
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c == '\b') {
            fputs("\\b", f);
        } else if (c == '\f') {
            fputs("\\f", f);
        } else if (c < 0x20 || c == 0x7F || n == 0) {
            fprintf(f, "\\u%04x", c);
            exact = exact && n != 0;
        } else if (c1_control(u + i, n)) {   /* the code point: exact */
            fprintf(f, "\\u%04x", u[i + 1]); /* C2 xx is U+00xx */
        } else {
            fwrite(u + i, 1, n, f);
        }
        i += n ? n : 1;
    }
    fputc('"', f);
    return exact;
}
