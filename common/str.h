/* SPDX-License-Identifier: MIT */
/*
 * Counted strings: a pointer and a length into someone else's bytes, never
 * NUL-terminated copies. The parser hands these out pointing into the
 * datagram; they are valid as long as the datagram is.
 */
#ifndef TANDEM_STR_H
#define TANDEM_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tstr {
	const char *s;
	uint32_t len;
} tstr;

#define TSTR_NULL ((tstr){ NULL, 0 })
/* A tstr from a string literal: TSTR_LIT("REGISTER"). */
#define TSTR_LIT(lit) ((tstr){ (lit), (uint32_t)(sizeof(lit) - 1) })
/* printf("%.*s", TSTR_FMT(x)) */
#define TSTR_FMT(t) (int)(t).len, (t).s

static inline tstr tstr_make(const char *s, size_t len)
{
	return (tstr){ s, (uint32_t)len };
}

static inline tstr tstr_cstr(const char *s)
{
	return (tstr){ s, s ? (uint32_t)strlen(s) : 0 };
}

static inline bool tstr_empty(tstr a)
{
	return a.len == 0;
}

static inline bool tstr_eq(tstr a, tstr b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

static inline bool tstr_caseeq(tstr a, tstr b)
{
	if (a.len != b.len)
		return false;
	for (uint32_t i = 0; i < a.len; i++)
		if (ascii_lower(a.s[i]) != ascii_lower(b.s[i]))
			return false;
	return true;
}

/* Case-insensitive comparison with a NUL-terminated literal. */
static inline bool tstr_caseeq_lit(tstr a, const char *lit)
{
	return tstr_caseeq(a, tstr_cstr(lit));
}

static inline tstr tstr_sub(tstr a, uint32_t from, uint32_t len)
{
	return (tstr){ a.s + from, len };
}

/* The bytes of a from index `from` to the end. */
static inline tstr tstr_tail(tstr a, uint32_t from)
{
	return from >= a.len ? (tstr){ a.s + a.len, 0 }
			     : (tstr){ a.s + from, a.len - from };
}

/* Index of the first c in a, or -1. */
static inline int32_t tstr_chr(tstr a, char c)
{
	const char *p = a.len ? memchr(a.s, c, a.len) : NULL;
	return p ? (int32_t)(p - a.s) : -1;
}

/*
 * Parse an unsigned decimal that fills all of a (no sign, no spaces).
 * Returns false on an empty string, a non-digit, or a value above max;
 * never overflows, however many digits are given.
 */
bool tstr_to_u64(tstr a, uint64_t max, uint64_t *out);

/* Copy a into buf as a NUL-terminated string, truncating to cap - 1 bytes. */
void tstr_copy_cstr(tstr a, char *buf, size_t cap);

#endif
