/* SPDX-License-Identifier: MIT */
/*
 * The load generator's JSON string writer: the strings its report carries
 * (the target, the --domain given on the command line) are written as JSON
 * string literals, so that a consumer's parser never sees a bare quote,
 * backslash or control byte.
 */
#include <stdio.h>

#include "err.h"
#include "loadgen.h"

int lg_json_string(const char *s, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

#define PUT(ch)                                                                 \
	do {                                                                    \
		if (n + 1 >= cap)                                               \
			return TDM_ENOSPACE;                                    \
		buf[n++] = (ch);                                                \
	} while (0)

	PUT('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c < 0x20 || c >= 0x7f) {
			/* Control bytes, DEL and anything outside ASCII: the
			 * byte's value as a code point (a host name is ASCII). */
			PUT('\\');
			PUT('u');
			PUT('0');
			PUT('0');
			PUT(hex[c >> 4]);
			PUT(hex[c & 15]);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
#undef PUT
	buf[n] = '\0';
	return (int)n;
}
