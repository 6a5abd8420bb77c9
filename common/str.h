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

/* Unaligned loads for the word-at-a-time compares below. */
static inline uint64_t tstr_load8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t tstr_load4(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Is any byte of x zero? (Exact: a borrow only spreads above a zero.) */
#define TSTR_HASZERO8(x) (((x) - 0x0101010101010101ull) & ~(x) & 0x8080808080808080ull)
#define TSTR_HASZERO4(x) (((x) - 0x01010101u) & ~(x) & 0x80808080u)

/*
 * memcmp(a, b, n) == 0 without the call, for the short keys of the hot
 * paths (an AOR, a user name, a host): overlapping word loads, nothing
 * read outside the n bytes of either side.
 */
static inline __attribute__((always_inline)) bool mem_eq(const void *a, const void *b, size_t n)
{
	const char *x = a, *y = b;

	if (n >= 8) {
		uint64_t d;

		if (n <= 16)
			return ((tstr_load8(x) ^ tstr_load8(y)) |
				(tstr_load8(x + n - 8) ^ tstr_load8(y + n - 8))) == 0;
		if (n > 64)
			return memcmp(a, b, n) == 0;
		d = tstr_load8(x + n - 8) ^ tstr_load8(y + n - 8);
		for (size_t i = 0; i + 8 < n; i += 8)
			d |= tstr_load8(x + i) ^ tstr_load8(y + i);
		return d == 0;
	}
	if (n >= 4)
		return ((tstr_load4(x) ^ tstr_load4(y)) |
			(tstr_load4(x + n - 4) ^ tstr_load4(y + n - 4))) == 0;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static inline bool tstr_eq(tstr a, tstr b)
{
	return a.len == b.len && mem_eq(a.s, b.s, a.len);
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
 * Is key the NUL-terminated string held in the array field[cap]? The same
 * as tstr_eq(key, the string up to its NUL) without a strlen(): field is
 * read only within its cap bytes, and a key with a NUL byte never equals.
 */
static inline bool tstr_eq_field(tstr key, const char *field, size_t cap)
{
	const char *k = key.s;
	size_t n = key.len;

	if (n >= cap || field[n] != '\0')
		return false;
	if (n >= 8 && n <= 16) {
		uint64_t a = tstr_load8(k), b = tstr_load8(k + n - 8);

		return ((a ^ tstr_load8(field)) | (b ^ tstr_load8(field + n - 8)) |
			TSTR_HASZERO8(a) | TSTR_HASZERO8(b)) == 0;
	}
	if (n > 16 && n <= 64) {
		uint64_t a = tstr_load8(k + n - 8);
		uint64_t d = a ^ tstr_load8(field + n - 8), z = TSTR_HASZERO8(a);

		for (size_t i = 0; i + 8 < n; i += 8) {
			a = tstr_load8(k + i);
			d |= a ^ tstr_load8(field + i);
			z |= TSTR_HASZERO8(a);
		}
		return (d | z) == 0;
	}
	if (n >= 4 && n < 8) {
		uint32_t a = tstr_load4(k), b = tstr_load4(k + n - 4);

		return ((a ^ tstr_load4(field)) | (b ^ tstr_load4(field + n - 4)) |
			TSTR_HASZERO4(a) | TSTR_HASZERO4(b)) == 0;
	}
	if (n > 64)
		return memcmp(k, field, n) == 0 && memchr(k, '\0', n) == NULL;
	for (size_t i = 0; i < n; i++)
		if (k[i] != field[i] || k[i] == '\0')
			return false;
	return true;
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
