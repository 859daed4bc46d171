/*
 * cli_escape.h - names, which may hold any byte but '/' and NUL, written
 * by the ghostfs command for people (one line each, unambiguous) and for
 * programs (JSON strings that every parser accepts).
 */
#ifndef GHOSTFS_CLI_ESCAPE_H
#define GHOSTFS_CLI_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How many bytes the valid UTF-8 sequence at s (len bytes available) takes,
 * 1 to 4; 0 if s does not start one (a stray continuation byte, an
 * overlong form, a surrogate, a code point over U+10FFFF, a cut sequence). */
size_t utf8_seq_len(const unsigned char *s, size_t len);

/* Write s (len bytes) for a person: valid UTF-8 and printable ASCII as they
 * are; a backslash as \\; newline, tab and carriage return as \n, \t, \r;
 * every other control byte, DEL and every byte of invalid UTF-8 as \xNN. */
void escape_text(FILE *f, const char *s, size_t len);

/* Write s (len bytes) as a JSON string, quotes included: '"' and '\' and
 * the control bytes escaped as RFC 8259 says (\n, \t, ... \u00XX), DEL as
 * \u007f, valid UTF-8 as it is. A byte that is not part of valid UTF-8
 * becomes \u00XX, the code point of the same number (U+0080 to U+00FF), so
 * the output is always valid JSON but says such bytes inexactly. Returns
 * whether s was valid UTF-8 (said exactly). */
bool escape_json(FILE *f, const char *s, size_t len);

#endif
