/* SPDX-License-Identifier: MIT */
/*
 * Internal to the SIP parser (dataplane/sip_parse.c) and its unit tests,
 * which check the tables below against each other: the character classes
 * of RFC 3261 §25.1 and the scans over them. Not a public interface.
 *
 * span() and span_not() are where the parser spends most of its time. A
 * byte at a time they cost a table lookup and a branch per byte; with
 * SSSE3 (every build with DPDK has it: DPDK's flags bring
 * -march=corei7) the classes most scanned are tested 16 bytes at a time
 * with the nibble-table technique (two PSHUFB lookups, see
 * class_nibbles()), which gives the same answer for each of the 256 byte
 * values. Without SSSE3, or for a string shorter than 16 bytes, the byte
 * loop runs. Neither reads outside the string it is given.
 */
#ifndef TANDEM_SIP_CHARS_H
#define TANDEM_SIP_CHARS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "str.h"

/* Character classes (RFC 3261 §25.1). */

enum {
	C_TOKEN = 1 << 0,  /* token */
	C_PARAM = 1 << 1,  /* unquoted parameter name or value: token, host,
	                    * or URI paramchar (escapes included via '%') */
	C_WORD = 1 << 2,   /* Call-ID word */
	C_HOST = 1 << 3,   /* hostname / IPv4address characters */
	C_DIGIT = 1 << 4,
	C_HEX = 1 << 5,
	C_URIC = 1 << 6,   /* may appear in a URI after the scheme: visible
	                    * ASCII except < > " { } | \ ^ ` # */
	C_WS = 1 << 7,     /* SP HT CR LF */
	C_ALPHA = 1 << 8,
	C_SCHEME = 1 << 9, /* ALPHA DIGIT + - . */
	C_LIST = 1 << 10,  /* " < > , : what sip_list_next() stops at */
	C_ALNUM = 1 << 11,
	C_QSTOP = 1 << 12, /* " \ where a quoted string ends or escapes */
	C_USER = 1 << 13,  /* user of a SIP URI without its escapes: unreserved
	                    * / user-unreserved (sip_uri.c's U_USER) */
};

#define K_ALNUM (C_TOKEN | C_PARAM | C_WORD | C_HOST | C_URIC | C_SCHEME | C_ALNUM | C_USER)
#define K_LOWER_HEX (K_ALNUM | C_ALPHA | C_HEX)
#define K_LETTER (K_ALNUM | C_ALPHA)
#define K_NUM (K_ALNUM | C_DIGIT | C_HEX)

static const uint16_t chr_class[256] = {
	['a' ... 'f'] = K_LOWER_HEX,
	['g' ... 'z'] = K_LETTER,
	['A' ... 'F'] = K_LOWER_HEX,
	['G' ... 'Z'] = K_LETTER,
	['0' ... '9'] = K_NUM,
	['-'] = C_TOKEN | C_PARAM | C_WORD | C_HOST | C_URIC | C_SCHEME | C_USER,
	['.'] = C_TOKEN | C_PARAM | C_WORD | C_HOST | C_URIC | C_SCHEME | C_USER,
	['+'] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_SCHEME | C_USER,
	['!'] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_USER,
	['%'] = C_TOKEN | C_PARAM | C_WORD | C_URIC,
	['*'] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_USER,
	['_'] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_USER,
	['\''] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_USER,
	['~'] = C_TOKEN | C_PARAM | C_WORD | C_URIC | C_USER,
	['`'] = C_TOKEN | C_PARAM | C_WORD,
	['('] = C_PARAM | C_WORD | C_URIC | C_USER,
	[')'] = C_PARAM | C_WORD | C_URIC | C_USER,
	[':'] = C_PARAM | C_WORD | C_URIC,
	['/'] = C_PARAM | C_WORD | C_URIC | C_USER,
	['['] = C_PARAM | C_WORD | C_URIC,
	[']'] = C_PARAM | C_WORD | C_URIC,
	['&'] = C_PARAM | C_URIC | C_USER,
	['$'] = C_PARAM | C_URIC | C_USER,
	['?'] = C_WORD | C_URIC | C_USER,
	['<'] = C_WORD | C_LIST,
	['>'] = C_WORD | C_LIST,
	['\\'] = C_WORD | C_QSTOP,
	['"'] = C_WORD | C_LIST | C_QSTOP,
	['{'] = C_WORD,
	['}'] = C_WORD,
	['='] = C_URIC | C_USER,
	[';'] = C_URIC | C_USER,
	[','] = C_URIC | C_LIST | C_USER,
	['@'] = C_URIC,
	[' '] = C_WS,
	['\t'] = C_WS,
	['\r'] = C_WS,
	['\n'] = C_WS,
};

static inline bool is_class(char c, unsigned cls)
{
	return (chr_class[(unsigned char)c] & cls) != 0;
}

/*
 * The classes scanned 16 bytes at a time, as PSHUFB tables: byte b is in
 * the class when
 *     lo[b & 15] & class_hi[b >> 4] != 0.
 * class_hi gives each high nibble 2..7 (0x20..0x7f) a bit of its own and
 * every other high nibble none; lo[l] has bit h - 2 set when the byte
 * h * 16 + l is in the class. So every member must lie in 0x20..0x7f, as
 * those of these classes do (control octets, SP and non-ASCII are never
 * token, URI or word characters). Generated from chr_class; the unit tests
 * check every table against it for all 256 bytes.
 */
static const uint8_t class_hi[16] = { 0, 0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20 };

static const uint8_t nib_token[16] = {
	0x3a, 0x3f, 0x3e, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f,
	0x3e, 0x3e, 0x3d, 0x15, 0x14, 0x15, 0x35, 0x1c,
};
static const uint8_t nib_param[16] = {
	0x3a, 0x3f, 0x3e, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f,
	0x3f, 0x3f, 0x3f, 0x1d, 0x14, 0x1d, 0x35, 0x1d,
};
static const uint8_t nib_word[16] = {
	0x3a, 0x3f, 0x3f, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f,
	0x3f, 0x3f, 0x3f, 0x3d, 0x1e, 0x3d, 0x37, 0x1f,
};
static const uint8_t nib_uric[16] = {
	0x2e, 0x3f, 0x3e, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f,
	0x3f, 0x3f, 0x3f, 0x1f, 0x15, 0x1f, 0x35, 0x1f,
};
static const uint8_t nib_qstop[16] = {
	0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
};
static const uint8_t nib_user[16] = {
	0x2a, 0x3f, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f, 0x3f,
	0x3f, 0x3f, 0x3d, 0x17, 0x15, 0x17, 0x35, 0x1f,
};
static const uint8_t nib_alnum[16] = {
	0x2a, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
	0x3e, 0x3e, 0x3c, 0x14, 0x14, 0x14, 0x14, 0x14,
};

/* The PSHUFB table of cls, or NULL for a class scanned a byte at a time.
 * cls is a constant at every call of span() and span_not(), which are
 * always inlined so that this choice is made at compile time. */
static inline const uint8_t *class_nibbles(unsigned cls)
{
	switch (cls) {
	case C_TOKEN: return nib_token;
	case C_PARAM: return nib_param;
	case C_WORD: return nib_word;
	case C_URIC: return nib_uric;
	case C_QSTOP: return nib_qstop;
	case C_ALNUM: return nib_alnum;
	case C_USER: return nib_user;
	default: return NULL;
	}
}

#ifdef __SSSE3__
/* Bit k set when byte k of the 16 at p is NOT in the class of table lo. */
static inline unsigned outside16(const unsigned char *p, const uint8_t lo[16])
{
	const __m128i nibble = _mm_set1_epi8(0x0f);
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i l = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)lo),
				     _mm_and_si128(x, nibble));
	__m128i h = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)class_hi),
				     _mm_and_si128(_mm_srli_epi16(x, 4), nibble));

	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(l, h),
							  _mm_setzero_si128()));
}

/*
 * The scan of span() (flip 0: stop at the first byte outside the class) or
 * span_not() (flip 0xffff: stop at the first byte inside) over [p, e), for
 * a string [b, e) of at least 16 bytes: 16-byte blocks, the last one
 * ending at e. That one may start before p; its bits for the bytes before
 * p are shifted out.
 */
static inline uint32_t scan16(const unsigned char *b, const unsigned char *p,
			      const unsigned char *e, const uint8_t lo[16], unsigned flip)
{
	unsigned stop;

	for (; e - p >= 16; p += 16) {
		stop = outside16(p, lo) ^ flip;
		if (stop)
			return (uint32_t)(p - b) + (uint32_t)__builtin_ctz(stop);
	}
	if (p >= e)
		return (uint32_t)(p - b);
	stop = (outside16(e - 16, lo) ^ flip) >> (16 - (e - p));
	return stop ? (uint32_t)(p - b) + (uint32_t)__builtin_ctz(stop) : (uint32_t)(e - b);
}
#endif

/* Index of the first byte at or after i that is not in cls (s.len if
 * none). The byte loop is unrolled, and on pointers rather than 32-bit
 * indexes (which cost a move per byte). */
static inline __attribute__((always_inline)) uint32_t span(tstr s, uint32_t i, unsigned cls)
{
	const unsigned char *b = (const unsigned char *)s.s;
	const unsigned char *p = b + i, *e = b + s.len;

#ifdef __SSSE3__
	if (class_nibbles(cls) && s.len >= 16)
		return scan16(b, p, e, class_nibbles(cls), 0);
#endif
	for (; e - p >= 4; p += 4) {
		if (!(chr_class[p[0]] & cls))
			return (uint32_t)(p - b);
		if (!(chr_class[p[1]] & cls))
			return (uint32_t)(p + 1 - b);
		if (!(chr_class[p[2]] & cls))
			return (uint32_t)(p + 2 - b);
		if (!(chr_class[p[3]] & cls))
			return (uint32_t)(p + 3 - b);
	}
	while (p < e && (chr_class[*p] & cls))
		p++;
	return (uint32_t)(p - b);
}

/* Index of the first byte at or after i that is in cls (s.len if none). */
static inline __attribute__((always_inline)) uint32_t span_not(tstr s, uint32_t i,
								 unsigned cls)
{
	const unsigned char *b = (const unsigned char *)s.s;
	const unsigned char *p = b + i, *e = b + s.len;

#ifdef __SSSE3__
	if (class_nibbles(cls) && s.len >= 16)
		return scan16(b, p, e, class_nibbles(cls), 0xffff);
#endif
	for (; e - p >= 4; p += 4) {
		if (chr_class[p[0]] & cls)
			return (uint32_t)(p - b);
		if (chr_class[p[1]] & cls)
			return (uint32_t)(p + 1 - b);
		if (chr_class[p[2]] & cls)
			return (uint32_t)(p + 2 - b);
		if (chr_class[p[3]] & cls)
			return (uint32_t)(p + 3 - b);
	}
	while (p < e && !(chr_class[*p] & cls))
		p++;
	return (uint32_t)(p - b);
}

/*
 * Are the four bytes at p decimal digits? Then *out is their value. One
 * test for the four: every byte has the high nibble 3, and still has it
 * after adding 6 (which no byte 0x30..0x3f carries out of), i.e. lies in
 * 0x30..0x39. The usual port ("5060") and many counts have four digits.
 */
static inline bool digits4(const char *p, uint32_t *out)
{
	uint32_t x;

	memcpy(&x, p, 4);
	if ((x & 0xf0f0f0f0u) != 0x30303030u || ((x + 0x06060606u) & 0xf0f0f0f0u) != 0x30303030u)
		return false;
	x -= 0x30303030u;
	*out = (x & 0xff) * 1000 + (x >> 8 & 0xff) * 100 + (x >> 16 & 0xff) * 10 + (x >> 24);
	return true;
}

/* The host at the start of s, a byte at a time (sip_parse.c). */
uint32_t sip_host_len_bytes(tstr s);

struct sip_uri;

/*
 * sip_uri_parse() of t, told that `after` more bytes after t are
 * readable (t.s[t.len] ...), as in a message where a URI is followed by
 * '>' or " SIP/2.0": when the first of them is neither a user nor a host
 * character, the scans of a short URI's user and host run over them 16
 * bytes at a time and stop where t ends. Same result as sip_uri_parse()
 * (sip_uri.c; the unit tests compare them).
 */
int sip_uri_parse_in(tstr t, uint32_t after, struct sip_uri *out);

#ifdef __SSSE3__
/*
 * The same rules as sip_host_len_bytes() for a host name or IPv4 address, on
 * one 16-byte block of s (which has at least 16 bytes): the block starts
 * at the host, or ends at the end of s with its bits for the bytes before
 * the host shifted out, so that bytes past the end count as neither
 * alphanumeric, '.' nor '-'. The host is the run of those characters at
 * the start, valid when it starts with an alphanumeric, no '.' is followed
 * by '.' or '-', no '-' by '.', and it does not end in '-' (a trailing
 * '.' is part of it): exactly what the loop accepts. Returns UINT32_MAX
 * when the run fills the block (the loop decides).
 */
static inline uint32_t host_len_block(tstr s, uint32_t i)
{
	const unsigned char *b = (const unsigned char *)s.s, *p = b + i, *e = b + s.len;
	const unsigned char *q = e - p >= 16 ? p : e - 16;
	const unsigned shift = (unsigned)(p - q);
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
	unsigned alnum = (~outside16(q, nib_alnum) & 0xffffu) >> shift;
	unsigned dot = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('.'))) >> shift;
	unsigned dash = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('-'))) >> shift;
	unsigned n = (unsigned)__builtin_ctz(~(alnum | dot | dash));
	unsigned run = (1u << n) - 1;

	if (n == 16)
		return UINT32_MAX;
	if (!(alnum & 1))
		return 0;
	dot &= run;
	dash &= run;
	if ((dot & ((dot | dash) >> 1)) || (dash & (dot >> 1)) || (dash >> (n - 1)) & 1)
		return 0;
	return n;
}
#endif

/*
 * sip_host_len() of the host that starts at s.s[i]: its length, 0 when
 * none starts there. Reads nothing outside s, and may read all of it:
 * given the whole string a host is part of (a URI, a Via value), it can
 * classify the host's bytes 16 at a time. Inline: it runs for every URI
 * and the top Via, and the call cost as much as the block.
 */
static inline uint32_t sip_host_span(tstr s, uint32_t i)
{
	if (i >= s.len)
		return 0;
#ifdef __SSSE3__
	if (s.len >= 16 && s.s[i] != '[') {
		uint32_t n = host_len_block(s, i);

		if (n != UINT32_MAX)
			return n;
	}
#endif
	return sip_host_len_bytes(tstr_tail(s, i));
}

#endif
