/* SPDX-License-Identifier: BSD-3-Clause */
/* The JSON string escaping rule (RFC 8259), for every writer of JSON:
 * bidctl's answers and bidstat's output. Any thread. */
#ifndef BIDPLANE_JSON_ESCAPE_H
#define BIDPLANE_JSON_ESCAPE_H

#include <stddef.h>

#define JSON_ESCAPE_MAX 7 /* "\u001f" and its NUL */

/* How character c is written inside a JSON string: NULL when as itself,
 * else its escape, written into buf. */
static inline const char *json_escape_char(unsigned char c, char buf[JSON_ESCAPE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	if (c == '"' || c == '\\') {
		buf[0] = '\\';
		buf[1] = (char)c;
		buf[2] = '\0';
		return buf;
	}
	if (c == '\n')
		return "\\n";
	if (c >= 0x20)
		return NULL;
	buf[0] = '\\';
	buf[1] = 'u';
	buf[2] = '0';
	buf[3] = '0';
	buf[4] = hex[c >> 4];
	buf[5] = hex[c & 15];
	buf[6] = '\0';
	return buf;
}

#endif
