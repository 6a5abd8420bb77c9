/* SPDX-License-Identifier: MIT */
/*
 * SIP URIs (RFC 3261 §19.1): decoding, comparison (§19.1.4) and the
 * canonical address-of-record a registrar keys its bindings on (§10.3).
 *
 * Zero-copy and bounds-checked like the message parser: every tstr of a
 * struct sip_uri points into the text that was parsed.
 *
 * Calling context: any thread; no state.
 */
#include <arpa/inet.h>
#include <string.h>

#include "err.h"
#include "sip_chars.h"
#include "sip_parse.h"

static inline uint32_t load4(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Character classes of RFC 3261 §25.1; '%' escapes are handled apart. */
enum {
	U_UNRES = 1 << 0,    /* unreserved = alphanum / mark */
	U_USER = 1 << 1,     /* user: unreserved / user-unreserved */
	U_PASS = 1 << 2,     /* password: unreserved / & = + $ , */
	U_PARAM = 1 << 3,    /* paramchar: unreserved / param-unreserved */
	U_HNV = 1 << 4,      /* hname / hvalue: unreserved / hnv-unreserved */
	U_RESERVED = 1 << 5, /* reserved: ; / ? : @ & = + $ , */
	U_ALPHA = 1 << 6,
	U_SCHEME = 1 << 7,   /* ALPHA / DIGIT / + / - / . */
};

#define UK_UNRES (U_UNRES | U_USER | U_PASS | U_PARAM | U_HNV)
#define UK_ALPHA (UK_UNRES | U_ALPHA | U_SCHEME)
#define UK_DIGIT (UK_UNRES | U_SCHEME)

static const uint8_t uri_class[256] = {
	['a' ... 'z'] = UK_ALPHA,
	['A' ... 'Z'] = UK_ALPHA,
	['0' ... '9'] = UK_DIGIT,
	['-'] = UK_UNRES | U_SCHEME,
	['.'] = UK_UNRES | U_SCHEME,
	['_'] = UK_UNRES,
	['!'] = UK_UNRES,
	['~'] = UK_UNRES,
	['*'] = UK_UNRES,
	['\''] = UK_UNRES,
	['('] = UK_UNRES,
	[')'] = UK_UNRES,
	['&'] = U_USER | U_PASS | U_PARAM | U_RESERVED,
	['='] = U_USER | U_PASS | U_RESERVED,
	['+'] = U_USER | U_PASS | U_PARAM | U_HNV | U_RESERVED | U_SCHEME,
	['$'] = U_USER | U_PASS | U_PARAM | U_HNV | U_RESERVED,
	[','] = U_USER | U_PASS | U_RESERVED,
	[';'] = U_USER | U_RESERVED,
	['?'] = U_USER | U_HNV | U_RESERVED,
	['/'] = U_USER | U_PARAM | U_HNV | U_RESERVED,
	[':'] = U_PARAM | U_HNV | U_RESERVED,
	['['] = U_PARAM | U_HNV,
	[']'] = U_PARAM | U_HNV,
	['@'] = U_RESERVED,
};

static inline bool uri_is(unsigned char c, unsigned cls)
{
	return (uri_class[c] & cls) != 0;
}

static inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Is s.s[i] the start of a well-formed "%" HEX HEX? */
static inline bool is_escape(tstr s, uint32_t i)
{
	return s.s[i] == '%' && s.len - i > 2 && hexval(s.s[i + 1]) >= 0 &&
	       hexval(s.s[i + 2]) >= 0;
}

#define SPAN_BAD UINT32_MAX

/* Index of the first byte at or after i that is neither in cls nor part of
 * an escape; SPAN_BAD when a '%' does not start a valid escape. */
static uint32_t span_esc(tstr s, uint32_t i, unsigned cls)
{
	while (i < s.len) {
		unsigned char c = (unsigned char)s.s[i];
		if (c == '%') {
			if (!is_escape(s, i))
				return SPAN_BAD;
			i += 3;
		} else if (uri_is(c, cls)) {
			i++;
		} else {
			break;
		}
	}
	return i;
}

/* The whole of s is made of cls characters and escapes, at least min of
 * them. */
static bool all_esc(tstr s, unsigned cls, uint32_t min)
{
	return s.len >= min && span_esc(s, 0, cls) == s.len;
}

/* ------------------------------------------------------------------ */
/* Parsing. */

/* uri-parameters = *( ";" pname [ "=" pvalue ] ), from s.s[i] == ';' to the
 * first '?' or the end. Returns the end index or SPAN_BAD. */
static uint32_t parse_uri_params(tstr s, uint32_t i)
{
	for (unsigned n = 0; i < s.len && s.s[i] == ';'; n++) {
		uint32_t e = span_esc(s, i + 1, U_PARAM);
		if (e == SPAN_BAD || e == i + 1 || n == SIP_URI_MAX_PARAMS)
			return SPAN_BAD;
		if (e < s.len && s.s[e] == '=') {
			i = e + 1;
			e = span_esc(s, i, U_PARAM);
			if (e == SPAN_BAD || e == i)
				return SPAN_BAD;
		}
		i = e;
	}
	return i;
}

/* headers = header *( "&" header ), header = hname "=" hvalue, all of s. */
static bool headers_ok(tstr s)
{
	uint32_t i = 0;

	for (unsigned n = 0;; n++) {
		uint32_t e = span_esc(s, i, U_HNV);
		if (e == SPAN_BAD || e == i || e >= s.len || s.s[e] != '=' ||
		    n == SIP_URI_MAX_PARAMS)
			return false;
		e = span_esc(s, e + 1, U_HNV);
		if (e == SPAN_BAD)
			return false;
		if (e == s.len)
			return true;
		if (s.s[e] != '&')
			return false;
		i = e + 1;
	}
}

int sip_uri_parse(tstr t, struct sip_uri *out)
{
	return sip_uri_parse_in(t, 0, out);
}

int sip_uri_parse_in(tstr t, uint32_t after, struct sip_uri *out)
{
	/* Decoded in place: the caller's struct is usually the one kept
	 * (struct sip_msg), and a copy at the end cost as much as a short
	 * URI's decoding. */
	struct sip_uri *u = out;
	uint32_t i, e;
	const char *at;
	tstr rest, wide;

	/* Only the fields a sip: URI may leave empty are cleared here; every
	 * other one is set on the way (a rep stos over the whole struct cost
	 * more than a short URI's decoding). */
	u->user = u->password = u->headers = TSTR_NULL;
	u->port = 0;

	/* "sip:" and "sips:" in any case, without the general scheme scan. */
	if (t.len >= 5 && (load4(t.s) | 0x00202020u) == load4("sip:")) {
		/* 's' 'i' 'p' in any case (OR-ing 0x20 maps only 'S' 'I' 'P'
		 * onto them), then ':' exactly. */
		u->scheme = SIP_URI_SIP;
		u->scheme_name = tstr_sub(t, 0, 3);
		rest = tstr_tail(t, 4);
		goto sip;
	}
	if (t.len >= 5 && (t.s[0] | 0x20) == 's' && (t.s[1] | 0x20) == 'i' &&
	    (t.s[2] | 0x20) == 'p') {
		if (t.s[3] == ':') {
			u->scheme = SIP_URI_SIP;
			u->scheme_name = tstr_sub(t, 0, 3);
			rest = tstr_tail(t, 4);
			goto sip;
		}
		if ((t.s[3] | 0x20) == 's' && t.s[4] == ':' && t.len >= 6) {
			u->scheme = SIP_URI_SIPS;
			u->scheme_name = tstr_sub(t, 0, 4);
			rest = tstr_tail(t, 5);
			goto sip;
		}
	}

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (t.len == 0 || !uri_is((unsigned char)t.s[0], U_ALPHA))
		goto malformed;
	for (i = 1; i < t.len && uri_is((unsigned char)t.s[i], U_SCHEME); i++)
		;
	if (i >= t.len || t.s[i] != ':' || i + 1 >= t.len)
		goto malformed;
	u->scheme_name = tstr_sub(t, 0, i);
	rest = tstr_tail(t, i + 1);

	if (tstr_caseeq(u->scheme_name, TSTR_LIT("sip")))
		u->scheme = SIP_URI_SIP;
	else if (tstr_caseeq(u->scheme_name, TSTR_LIT("sips")))
		u->scheme = SIP_URI_SIPS;
	else if (tstr_caseeq(u->scheme_name, TSTR_LIT("tel")))
		u->scheme = SIP_URI_TEL;
	else
		u->scheme = SIP_URI_OTHER;

	if (u->scheme == SIP_URI_TEL || u->scheme == SIP_URI_OTHER) {
		/* Visible ASCII other than < > " and no escape gone wrong. */
		for (e = 0; e < rest.len; e++) {
			unsigned char c = (unsigned char)rest.s[e];
			if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' ||
			    (c == '%' && !is_escape(rest, e)))
				goto malformed;
		}
		u->host = TSTR_NULL;
		u->params = rest;
		return 0;
	}

sip:
	/* [ userinfo "@" ]: '@' cannot appear unescaped after the userinfo
	 * (not in host, paramchar or hvalue), so the first one ends it. The
	 * user part may hold ';', '?', '/' and ',' (RFC 4475 §3.1.1.2).
	 * Usually the user is plain characters up to the '@', or there is
	 * no '@' at all; escapes and passwords take the longer way. */
	i = 0;
	/* rest and the bytes readable after it, the first of which is
	 * neither a user nor a host character (else none is used): a scan
	 * of the user or of a host name stops at rest's end in both, and
	 * the longer one can be scanned 16 bytes at a time. */
	if (after && is_class(t.s[t.len], C_USER | C_HOST))
		after = 0;
	wide = tstr_make(rest.s, rest.len + after);
	/* C_USER is U_USER (sip_chars.h; the unit tests check it). */
	e = span(wide, 0, C_USER);
	if (e < rest.len && rest.s[e] == '@' && e > 0) {
		u->user = tstr_sub(rest, 0, e);
		i = e + 1;
	} else if (e < rest.len && (at = memchr(rest.s + e, '@', rest.len - e)) != NULL) {
		uint32_t ui = (uint32_t)(at - rest.s);
		tstr userinfo = tstr_sub(rest, 0, ui);
		int32_t colon = tstr_chr(userinfo, ':');

		if (colon >= 0) {
			u->user = tstr_sub(userinfo, 0, (uint32_t)colon);
			u->password = tstr_tail(userinfo, (uint32_t)colon + 1);
			if (!all_esc(u->password, U_PASS, 0))
				goto malformed;
		} else {
			u->user = userinfo;
		}
		if (!all_esc(u->user, U_USER, 1))
			goto malformed;
		i = ui + 1;
	}

	/* hostport */
	/* An IPv6 reference, or nothing, is looked at in rest alone. */
	e = sip_host_span(i < rest.len && rest.s[i] != '[' ? wide : rest, i);
	if (e == 0)
		goto malformed;
	u->host = tstr_sub(rest, i, e);
	i += e;
	if (i < rest.len && rest.s[i] == ':') {
		uint32_t port = 0;

		/* port = 1*DIGIT, 1..65535. Usually four digits and no
		 * fifth; else the loop, which stops growing past the range,
		 * so it cannot overflow however many digits are given. */
		i++;
		if (rest.len - i >= 4 && digits4(rest.s + i, &port) &&
		    (rest.len - i == 4 || !is_class(rest.s[i + 4], C_DIGIT))) {
			e = i + 4;
		} else {
			port = 0;
			for (e = i; e < rest.len; e++) {
				uint32_t d = (uint32_t)(unsigned char)rest.s[e] - '0';
				if (d > 9)
					break;
				if (port <= 65535)
					port = port * 10 + d;
			}
		}
		if (e == i || port == 0 || port > 65535)
			goto malformed;
		u->port = (uint16_t)port;
		i = e;
	}
	if (i == rest.len) {
		u->params = tstr_sub(rest, i, 0);
		return 0;
	}

	/* uri-parameters */
	e = parse_uri_params(rest, i);
	if (e == SPAN_BAD)
		goto malformed;
	u->params = tstr_sub(rest, i, e - i);
	i = e;

	/* [ headers ] */
	if (i < rest.len) {
		if (rest.s[i] != '?')
			goto malformed;
		u->headers = tstr_tail(rest, i + 1);
		if (!headers_ok(u->headers))
			goto malformed;
	}
	return 0;

malformed:
	return TDM_EMALFORMED;
}

/* ------------------------------------------------------------------ */
/* Comparison (RFC 3261 §19.1.4). */

/*
 * The next comparison unit of s at *i: an octet, where an escape of a
 * character outside the reserved set counts as that character, and an
 * escape of a reserved character stays distinct from the literal
 * (0x100 | octet).
 */
static int unit_next(tstr s, uint32_t *i, bool icase)
{
	char c = s.s[*i];

	if (c == '%' && is_escape(s, *i)) {
		unsigned v = (unsigned)(hexval(s.s[*i + 1]) << 4 | hexval(s.s[*i + 2]));
		*i += 3;
		if (uri_is((unsigned char)v, U_RESERVED))
			return (int)(0x100 | v);
		c = (char)v;
	} else {
		(*i)++;
	}
	return (unsigned char)(icase ? ascii_lower(c) : c);
}

static bool esc_equal(tstr a, tstr b, bool icase)
{
	uint32_t i = 0, j = 0;

	while (i < a.len && j < b.len)
		if (unit_next(a, &i, icase) != unit_next(b, &j, icase))
			return false;
	return i == a.len && j == b.len;
}

static bool host_equal(tstr a, tstr b)
{
	struct in6_addr x, y;
	char ba[48], bb[48];

	if (a.len > 2 && b.len > 2 && a.s[0] == '[' && b.s[0] == '[' &&
	    a.len - 2 < sizeof(ba) && b.len - 2 < sizeof(bb)) {
		/* IPv6 references compare as addresses: [::1] = [0:0::1]. */
		tstr_copy_cstr(tstr_sub(a, 1, a.len - 2), ba, sizeof(ba));
		tstr_copy_cstr(tstr_sub(b, 1, b.len - 2), bb, sizeof(bb));
		if (inet_pton(AF_INET6, ba, &x) == 1 && inet_pton(AF_INET6, bb, &y) == 1)
			return memcmp(&x, &y, sizeof(x)) == 0;
	}
	return tstr_caseeq(a, b);
}

/* The first parameter of params named like name (escape-aware). */
static bool uri_param_get(tstr params, tstr name, tstr *value)
{
	uint32_t pos = 0;
	tstr n, v;

	while (sip_param_next(params, &pos, &n, &v) > 0) {
		if (esc_equal(n, name, true)) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* The parameters that must match when present in either URI. */
static bool is_strict_param(tstr name)
{
	static const tstr strict[] = {
		TSTR_LIT("user"), TSTR_LIT("ttl"), TSTR_LIT("method"),
		TSTR_LIT("maddr"), TSTR_LIT("transport"),
	};

	for (unsigned k = 0; k < sizeof(strict) / sizeof(strict[0]); k++)
		if (esc_equal(name, strict[k], true))
			return true;
	return false;
}

/* Does a parameter named like name come before offset end in params? */
static bool param_seen_before(tstr params, tstr name, uint32_t end)
{
	uint32_t pos = 0;
	tstr n, v;

	while (sip_param_next(params, &pos, &n, &v) > 0 && n.s < params.s + end)
		if (esc_equal(n, name, true))
			return true;
	return false;
}

/*
 * Every parameter of a that b also has must have the same value, and the
 * user, ttl, method, maddr and transport parameters of a must be in b.
 * Only the first occurrence of a name counts. Called both ways round;
 * quadratic in the number of parameters, which sip_uri_parse() bounds.
 */
static bool params_cover(tstr a, tstr b)
{
	uint32_t pos = 0;
	tstr n, v, w;

	while (sip_param_next(a, &pos, &n, &v) > 0) {
		if (param_seen_before(a, n, (uint32_t)(n.s - a.s)))
			continue;
		if (uri_param_get(b, n, &w)) {
			if (!esc_equal(v, w, true))
				return false;
		} else if (is_strict_param(n)) {
			return false;
		}
	}
	return true;
}

/* One "hname=hvalue" of a URI's headers, from *pos; false at the end. */
static bool header_next(tstr h, uint32_t *pos, tstr *name, tstr *value)
{
	uint32_t i = *pos, e, eq;

	if (i >= h.len)
		return false;
	for (e = i; e < h.len && h.s[e] != '&'; e++)
		;
	for (eq = i; eq < e && h.s[eq] != '='; eq++)
		;
	*name = tstr_sub(h, i, eq - i);
	*value = eq < e ? tstr_sub(h, eq + 1, e - eq - 1) : tstr_sub(h, e, 0);
	*pos = e + 1;
	return true;
}

/* Header names compare case-insensitively, and a compact form equals its
 * full name ("?s=x" = "?Subject=x"). */
static bool hname_equal(tstr a, tstr b)
{
	enum sip_hdr x;

	if (esc_equal(a, b, true))
		return true;
	x = sip_header_lookup(a);
	return x != SIP_HDR_OTHER && x == sip_header_lookup(b);
}

/* Every header of a is in b, with the same value. Values compare as
 * written (escape-aware, case-sensitive): the per-field rules of §20 are
 * beyond what a registrar needs. */
static bool headers_cover(tstr a, tstr b)
{
	uint32_t pa = 0;
	tstr n, v;

	while (header_next(a, &pa, &n, &v)) {
		uint32_t pb = 0;
		tstr m, w;
		bool found = false;

		while (!found && header_next(b, &pb, &m, &w))
			found = hname_equal(n, m) && esc_equal(v, w, false);
		if (!found)
			return false;
	}
	return true;
}

/* The userinfo as written ("user:password"), empty when absent. */
static tstr userinfo_of(const struct sip_uri *u)
{
	const char *start = u->scheme_name.s + u->scheme_name.len + 1;

	if (u->user.len == 0)
		return TSTR_NULL;
	return tstr_make(start, (size_t)(u->host.s - 1 - start));
}

bool sip_uri_equal(tstr a, tstr b)
{
	struct sip_uri x, y;

	if (sip_uri_parse(a, &x) != 0 || sip_uri_parse(b, &y) != 0)
		return false;
	if (x.scheme != y.scheme)
		return false;
	if (x.scheme != SIP_URI_SIP && x.scheme != SIP_URI_SIPS)
		return tstr_caseeq(a, b);

	/* userinfo case-sensitive; host case-insensitive; a port (even the
	 * default one) only equals the same port; the user, ttl, method,
	 * maddr and transport parameters must match when present in either,
	 * other parameters only when present in both; headers as a set. */
	return esc_equal(userinfo_of(&x), userinfo_of(&y), false) &&
	       host_equal(x.host, y.host) && x.port == y.port &&
	       params_cover(x.params, y.params) && params_cover(y.params, x.params) &&
	       headers_cover(x.headers, y.headers) && headers_cover(y.headers, x.headers);
}

/* ------------------------------------------------------------------ */
/* Address-of-record. */

static inline uint64_t load8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline void store8(char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Does s hold a '%'? Eight bytes at a time (a zero byte of x ^ "%%%%...").*/
static bool has_percent(tstr s)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint32_t i = 0;

	for (; i + 8 <= s.len; i += 8) {
		uint64_t x = load8(s.s + i) ^ (ones * '%');
		if ((x - ones) & ~x & highs)
			return true;
	}
	for (; i < s.len; i++)
		if (s.s[i] == '%')
			return true;
	return false;
}

/* memcpy() for the short strings of an AOR: 8-byte words, the last one
 * overlapping; no call. */
static void copy_words(char *d, const char *s, uint32_t n)
{
	if (n < 8) {
		for (uint32_t i = 0; i < n; i++)
			d[i] = s[i];
		return;
	}
	for (uint32_t i = 0; i + 8 < n; i += 8)
		store8(d + i, load8(s + i));
	store8(d + n - 8, load8(s + n - 8));
}

/* Eight bytes with 'A'..'Z' lower-cased: for each ASCII byte, bit 7 of
 * b + (0x80 - 'A') is set when b >= 'A', and of b + (0x80 - 'Z' - 1) when
 * b > 'Z'. Bytes >= 0x80 are left alone (x has their bit 7 set). */
static inline uint64_t lower8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t ascii = x & ~highs;
	uint64_t ge_a = ascii + ones * (0x80 - 'A');
	uint64_t gt_z = ascii + ones * (0x80 - 'Z' - 1);
	uint64_t upper = ge_a & ~gt_z & ~x & highs;

	return x | (upper >> 2);
}

/* n bytes of s to d with ASCII letters in lower case (ascii_lower()). */
static void copy_lower(char *d, const char *s, uint32_t n)
{
	if (n < 8) {
		for (uint32_t i = 0; i < n; i++)
			d[i] = ascii_lower(s[i]);
		return;
	}
	for (uint32_t i = 0; i + 8 < n; i += 8)
		store8(d + i, lower8(load8(s + i)));
	store8(d + n - 8, lower8(load8(s + n - 8)));
}

struct canon_out {
	char *p;
	uint32_t len, cap;
	bool full;
};

static void put(struct canon_out *o, char c)
{
	/* Keep one byte for the NUL. */
	if (o->len + 1 >= o->cap) {
		o->full = true;
		return;
	}
	o->p[o->len++] = c;
}

int sip_aor_canon(const struct sip_uri *u, char *out, uint32_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	struct canon_out o = { .p = out, .cap = cap };
	const char *scheme;

	if (u->scheme == SIP_URI_SIP)
		scheme = "sip:";
	else if (u->scheme == SIP_URI_SIPS)
		scheme = "sips:";
	else
		return TDM_EMALFORMED;
	if (u->user.len == 0 || u->host.len == 0)
		return TDM_EMALFORMED;

	/* The usual AOR: no escape in the user part, a host name or IPv4
	 * address. Word copies, the host lower-cased in passing; the loops
	 * below give the same bytes. */
	uint32_t slen = u->scheme == SIP_URI_SIP ? 4 : 5;
	uint64_t total = (uint64_t)slen + u->user.len + 1 + u->host.len;
	if (u->host.s[0] != '[' && total < cap && !has_percent(u->user)) {
		char *p = out;

		memcpy(p, u->scheme == SIP_URI_SIP ? "sip:@" : "sips:", 5);
		p += slen;
		copy_words(p, u->user.s, u->user.len);
		p += u->user.len;
		*p++ = '@';
		copy_lower(p, u->host.s, u->host.len);
		p[u->host.len] = '\0';
		return (int)total;
	}

	for (const char *s = scheme; *s; s++)
		put(&o, *s);

	/* User: escapes of unreserved characters decoded, others kept with
	 * upper-case hex (%00 stays %00: it cannot be written otherwise). */
	for (uint32_t i = 0; i < u->user.len;) {
		char c = u->user.s[i];
		if (c != '%') {
			put(&o, c);
			i++;
			continue;
		}
		if (!is_escape(u->user, i))
			return TDM_EMALFORMED;
		unsigned v = (unsigned)(hexval(u->user.s[i + 1]) << 4 | hexval(u->user.s[i + 2]));
		if (uri_is((unsigned char)v, U_UNRES)) {
			put(&o, (char)v);
		} else {
			put(&o, '%');
			put(&o, hex[v >> 4]);
			put(&o, hex[v & 15]);
		}
		i += 3;
	}
	put(&o, '@');

	/* Host in lower case; an IPv6 reference in its inet_ntop() form. */
	if (u->host.s[0] == '[' && u->host.len > 2 && u->host.len - 2 < INET6_ADDRSTRLEN) {
		char text[INET6_ADDRSTRLEN];
		struct in6_addr a;

		tstr_copy_cstr(tstr_sub(u->host, 1, u->host.len - 2), text, sizeof(text));
		if (inet_pton(AF_INET6, text, &a) == 1 &&
		    inet_ntop(AF_INET6, &a, text, sizeof(text)) != NULL) {
			put(&o, '[');
			for (const char *s = text; *s; s++)
				put(&o, *s);
			put(&o, ']');
			goto done;
		}
	}
	for (uint32_t i = 0; i < u->host.len; i++)
		put(&o, ascii_lower(u->host.s[i]));

done:
	if (o.full || cap == 0)
		return TDM_ENOSPACE;
	out[o.len] = '\0';
	return (int)o.len;
}
