/* SPDX-License-Identifier: MIT */
/*
 * SIP message parser (RFC 3261 §7, §20, §25; RFC 4475 for the hard cases).
 *
 * sip_parse() walks the datagram once: an SSE2 compare (memchr() elsewhere)
 * finds line ends, the usual spelling of a header name is recognised
 * without scanning it (any other by a switch on its length), and only the
 * fields every request needs are decoded. Runs of token, parameter, word
 * and URI characters are scanned 16 bytes at a time where SSSE3 is there
 * (sip_chars.h). Everything else (Contact,
 * Authorization, option tags, parameters) is decoded on demand by the
 * helpers below. Every tstr points into the caller's buffer; every read is
 * checked against its bounds, so a datagram that is not NUL-terminated, or
 * that holds NUL bytes, is safe.
 *
 * Fast paths: the usual shapes of the top Via ("SIP/2.0/UDP host:port;
 * params", no LWS, no quotes), of a name-addr ('"name" <uri>;params'), of
 * a Request-Line ending in " SIP/2.0", of a CSeq naming the request's
 * method, and of a Contact field holding one such name-addr are decoded
 * in one pass. Inside them the usual pieces are recognised by word
 * compares instead of scans: a name-addr's one ";tag=" or ";expires="
 * parameter (one_param()), a Via's three-letter transport, "branch=" and
 * "rport" (via_name_end()), four-digit ports and delta-seconds
 * (digits4(), sip_chars.h). Anything else falls back to the general
 * grammar, which gives the same result for whatever a fast path accepts
 * (a differential fuzz of both against the general code is how that was
 * checked: tests/fuzz/fuzz_sip_parse.c compares the contacts, the top Via
 * and the CSeq too, and tests/unit/test_sip_parse.c compares Via, From,
 * To and Contact over every one-byte mutation of their usual shapes).
 * The Request-URI, the To URI of a REGISTER and the Contact URIs are
 * decoded with sip_uri_parse() once, here and in sip_parse_contacts(),
 * for the handlers to reuse (the Request-URI with sip_uri_parse_in(),
 * which may scan the " SIP/2.0" after it); for To and Contact the decode
 * replaces the name-addr's character scan, so each URI is read once
 * (tests/unit/test_sip_parse.c checks the results against the general
 * functions).
 *
 * Errors: the first problem found is kept in m->error (a static string fit
 * for a 400 reason phrase) and parsing goes on where the framing still makes
 * sense, so that a 400 can echo Via, From, To, Call-ID and CSeq.
 *
 * Calling context: any thread; no state beyond the struct sip_msg.
 */
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "err.h"
#include "sip_chars.h"
#include "sip_parse.h"

static inline bool is_sp(char c)
{
	return c == ' ' || c == '\t';
}

/* sip_skip_lws() with the common cases (no white space, or one SP
 * before a non-space) inline. */
static inline uint32_t lws(tstr s, uint32_t i)
{
	if (i >= s.len || !is_class(s.s[i], C_WS))
		return i;
	if (s.s[i] == ' ' && (i + 1 >= s.len || !is_class(s.s[i + 1], C_WS)))
		return i + 1;
	return sip_skip_lws(s, i);
}

uint32_t sip_skip_lws(tstr s, uint32_t i)
{
	while (i < s.len) {
		char c = s.s[i];
		if (is_sp(c))
			i++;
		else if (c == '\n' && s.len - i > 1 && is_sp(s.s[i + 1]))
			i += 2;
		else if (c == '\r' && s.len - i > 2 && s.s[i + 1] == '\n' &&
			 is_sp(s.s[i + 2]))
			i += 3;
		else
			break;
	}
	return i;
}

/* s without leading and trailing SP, HT, CR and LF. */
static inline tstr trim(tstr s)
{
	uint32_t b = 0, e = s.len;

	while (b < e && is_class(s.s[b], C_WS))
		b++;
	while (e > b && is_class(s.s[e - 1], C_WS))
		e--;
	return tstr_sub(s, b, e - b);
}

/*
 * s.s[i] is '"': index just past the closing quote, or 0 when the string
 * is unterminated. quoted-pair escapes any octet but CR and LF. Runs of
 * ordinary octets are skipped four at a time.
 */
static uint32_t quoted_end(tstr s, uint32_t i)
{
	for (i++;;) {
		i = span_not(s, i, C_QSTOP);
		if (i >= s.len)
			return 0;
		if (s.s[i] == '"')
			return i + 1;
		/* A backslash: the next octet is taken as it is. */
		if (++i >= s.len || s.s[i] == '\r' || s.s[i] == '\n')
			return 0;
		i++;
	}
}

/*
 * 1*DIGIT filling all of v, at most max (max < 2^32). Never overflows: the
 * accumulator stops growing once it passes max. No division, unlike
 * tstr_to_u64(): this runs several times per packet.
 */
static bool dec(tstr v, uint32_t max, uint32_t *out)
{
	uint64_t n = 0;

	if (v.len == 0)
		return false;
	for (uint32_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.s[i] - '0';
		if (d > 9)
			return false;
		n = n * 10 + d;
		if (n > max)
			return false;
	}
	*out = (uint32_t)n;
	return true;
}

/* Does v consist of digits only (at least one)? */
static inline bool all_digits(tstr v)
{
	return v.len && span(v, 0, C_DIGIT) == v.len;
}

/*
 * Saturating delta-seconds (RFC 3261 §10.2.1.1 / §20.19): 1*DIGIT, values
 * above 2^32-1 become 2^32-1. Any other text: false.
 */
static inline __attribute__((always_inline)) bool parse_delta(tstr v, int64_t *out)
{
	uint64_t n = 0;
	uint32_t n4;

	/* Usually four digits ("3600"). */
	if (v.len == 4 && digits4(v.s, &n4)) {
		*out = n4;
		return true;
	}
	if (v.len == 0)
		return false;
	for (uint32_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.s[i] - '0';
		if (d > 9)
			return false;
		if (n <= UINT32_MAX)
			n = n * 10 + d;
	}
	*out = n > UINT32_MAX ? (int64_t)UINT32_MAX : (int64_t)n;
	return true;
}

/* ------------------------------------------------------------------ */
/* Names. */

static const char *const method_names[SIP_METHOD_COUNT] = {
#define SIP_METHOD_NAME(id, name) [id] = name,
	SIP_METHODS(SIP_METHOD_NAME)
#undef SIP_METHOD_NAME
};

static const char *const header_names[SIP_HDR_COUNT] = {
#define SIP_HDR_NAME(id, name, compact) [id] = name,
	SIP_HEADERS(SIP_HDR_NAME)
#undef SIP_HDR_NAME
};

const char *sip_method_name(enum sip_method m)
{
	return (unsigned)m < SIP_METHOD_COUNT ? method_names[m] : NULL;
}

const char *sip_header_name(enum sip_hdr id)
{
	return (unsigned)id < SIP_HDR_COUNT ? header_names[id] : NULL;
}

/* Methods are case-sensitive (RFC 3261 §7.1). */
enum sip_method sip_method_from_name(tstr n)
{
#define M(lit, id)                                                             \
	if (memcmp(n.s, lit, sizeof(lit) - 1) == 0)                            \
		return id;
	switch (n.len) {
	case 3:
		M("ACK", SIP_ACK)
		M("BYE", SIP_BYE)
		break;
	case 4:
		M("INFO", SIP_INFO)
		break;
	case 5:
		M("PRACK", SIP_PRACK)
		M("REFER", SIP_REFER)
		break;
	case 6:
		M("INVITE", SIP_INVITE)
		M("CANCEL", SIP_CANCEL)
		M("NOTIFY", SIP_NOTIFY)
		M("UPDATE", SIP_UPDATE)
		break;
	case 7:
		M("OPTIONS", SIP_OPTIONS)
		M("MESSAGE", SIP_MESSAGE)
		M("PUBLISH", SIP_PUBLISH)
		break;
	case 8:
		M("REGISTER", SIP_REGISTER)
		break;
	case 9:
		M("SUBSCRIBE", SIP_SUBSCRIBE)
		break;
	default:
		break;
	}
#undef M
	return SIP_METHOD_UNKNOWN;
}

/* Compact forms (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 3892, RFC 4028). */
static const uint8_t compact_ids[128] = {
	['v'] = SIP_HDR_VIA, ['V'] = SIP_HDR_VIA,
	['f'] = SIP_HDR_FROM, ['F'] = SIP_HDR_FROM,
	['t'] = SIP_HDR_TO, ['T'] = SIP_HDR_TO,
	['i'] = SIP_HDR_CALL_ID, ['I'] = SIP_HDR_CALL_ID,
	['m'] = SIP_HDR_CONTACT, ['M'] = SIP_HDR_CONTACT,
	['l'] = SIP_HDR_CONTENT_LENGTH, ['L'] = SIP_HDR_CONTENT_LENGTH,
	['c'] = SIP_HDR_CONTENT_TYPE, ['C'] = SIP_HDR_CONTENT_TYPE,
	['e'] = SIP_HDR_CONTENT_ENCODING, ['E'] = SIP_HDR_CONTENT_ENCODING,
	['s'] = SIP_HDR_SUBJECT, ['S'] = SIP_HDR_SUBJECT,
	['k'] = SIP_HDR_SUPPORTED, ['K'] = SIP_HDR_SUPPORTED,
	['o'] = SIP_HDR_EVENT, ['O'] = SIP_HDR_EVENT,
	['u'] = SIP_HDR_ALLOW_EVENTS, ['U'] = SIP_HDR_ALLOW_EVENTS,
	['r'] = SIP_HDR_REFER_TO, ['R'] = SIP_HDR_REFER_TO,
	['b'] = SIP_HDR_REFERRED_BY, ['B'] = SIP_HDR_REFERRED_BY,
	['x'] = SIP_HDR_SESSION_EXPIRES, ['X'] = SIP_HDR_SESSION_EXPIRES,
};

/*
 * n equals lc, a literal of lower-case letters and "-+.", ignoring ASCII
 * case; both are len bytes long. Precondition: n holds only C_PARAM
 * characters (token characters and []/:&$()), as every name the parser
 * compares does. For those, OR-ing 0x20 folds exactly the upper-case
 * letters onto lc's alphabet (no other C_PARAM byte lands on a letter,
 * '-', '+' or '.'), so whole words can be compared at once.
 */
static inline bool name_is(const char *n, const char *lc, uint32_t len)
{
	const uint64_t f8 = 0x2020202020202020ull;
	const uint32_t f4 = 0x20202020u;

	if (len >= 8) {
		for (uint32_t i = 0; i + 8 < len; i += 8)
			if ((tstr_load8(n + i) | f8) != tstr_load8(lc + i))
				return false;
		return (tstr_load8(n + len - 8) | f8) == tstr_load8(lc + len - 8);
	}
	if (len >= 4)
		return (tstr_load4(n) | f4) == tstr_load4(lc) &&
		       (tstr_load4(n + len - 4) | f4) == tstr_load4(lc + len - 4);
	for (uint32_t i = 0; i < len; i++)
		if ((n[i] | 0x20) != lc[i])
			return false;
	return true;
}

#define NAME_IS(t, lit) ((t).len == sizeof(lit) - 1 && name_is((t).s, lit, sizeof(lit) - 1))

/* Header names are case-insensitive (RFC 3261 §7.3.1). A switch on the
 * length and the first letter leaves one candidate, compared once; the unit
 * tests check that every entry of SIP_HEADERS (full and compact) is found
 * here. */
static enum sip_hdr header_lookup(tstr n)
{
	const char *s = n.s;

	if (n.len == 1)
		return (unsigned char)s[0] < 128 ? (enum sip_hdr)compact_ids[(unsigned char)s[0]]
						 : SIP_HDR_OTHER;
#define H(lit, id) return name_is(s, lit, sizeof(lit) - 1) ? id : SIP_HDR_OTHER
	switch (n.len) {
	case 2:
		H("to", SIP_HDR_TO);
	case 3:
		H("via", SIP_HDR_VIA);
	case 4:
		switch (s[0] | 0x20) {
		case 'f':
			H("from", SIP_HDR_FROM);
		case 'c':
			H("cseq", SIP_HDR_CSEQ);
		case 'p':
			H("path", SIP_HDR_PATH);
		}
		break;
	case 5:
		switch (s[0] | 0x20) {
		case 'r':
			H("route", SIP_HDR_ROUTE);
		case 'e':
			H("event", SIP_HDR_EVENT);
		}
		break;
	case 7:
		switch (s[0] | 0x20) {
		case 'c':
			if ((s[1] | 0x20) == 'o')
				H("contact", SIP_HDR_CONTACT);
			H("call-id", SIP_HDR_CALL_ID);
		case 'e':
			H("expires", SIP_HDR_EXPIRES);
		case 'r':
			H("require", SIP_HDR_REQUIRE);
		case 's':
			H("subject", SIP_HDR_SUBJECT);
		}
		break;
	case 8:
		H("refer-to", SIP_HDR_REFER_TO);
	case 9:
		switch (s[0] | 0x20) {
		case 's':
			H("supported", SIP_HDR_SUPPORTED);
		case 't':
			H("timestamp", SIP_HDR_TIMESTAMP);
		}
		break;
	case 10:
		H("user-agent", SIP_HDR_USER_AGENT);
	case 11:
		H("referred-by", SIP_HDR_REFERRED_BY);
	case 12:
		switch (s[0] | 0x20) {
		case 'm':
			H("max-forwards", SIP_HDR_MAX_FORWARDS);
		case 'c':
			H("content-type", SIP_HDR_CONTENT_TYPE);
		case 'r':
			H("record-route", SIP_HDR_RECORD_ROUTE);
		case 'a':
			H("allow-events", SIP_HDR_ALLOW_EVENTS);
		}
		break;
	case 13:
		switch (s[0] | 0x20) {
		case 'a':
			H("authorization", SIP_HDR_AUTHORIZATION);
		case 'p':
			H("proxy-require", SIP_HDR_PROXY_REQUIRE);
		}
		break;
	case 14:
		H("content-length", SIP_HDR_CONTENT_LENGTH);
	case 15:
		H("session-expires", SIP_HDR_SESSION_EXPIRES);
	case 16:
		H("content-encoding", SIP_HDR_CONTENT_ENCODING);
	default:
		break;
	}
#undef H
	return SIP_HDR_OTHER;
}

enum sip_hdr sip_header_lookup(tstr n)
{
	/* header_lookup() wants token characters (see name_is()). */
	if (n.len == 0 || span(n, 0, C_TOKEN) != n.len)
		return SIP_HDR_OTHER;
	return header_lookup(n);
}

/* ------------------------------------------------------------------ */
/* Lists, parameters, hosts. */

bool sip_list_next(tstr list, uint32_t *pos, tstr *value)
{
	uint32_t i = *pos;

	/* No comma left: one value, whatever quotes or brackets it holds. */
	if (i < list.len && memchr(list.s + i, ',', list.len - i) == NULL) {
		tstr v = trim(tstr_tail(list, i));
		*pos = list.len;
		*value = v;
		return v.len != 0;
	}
	while (i < list.len) {
		uint32_t start = i;
		bool angle = false;
		tstr v;

		for (; i < list.len; i++) {
			char c = list.s[i];
			if (!is_class(c, C_LIST))
				continue;
			if (c == '"') {
				uint32_t e = quoted_end(list, i);
				if (e == 0) {
					/* Unterminated: the rest is one value, which
					 * its own decoder will refuse. */
					i = list.len;
					break;
				}
				i = e - 1;
			} else if (c == '<') {
				angle = true;
			} else if (c == '>') {
				angle = false;
			} else if (c == ',' && !angle) {
				break;
			}
		}
		v = trim(tstr_sub(list, start, i - start));
		if (i < list.len)
			i++; /* the comma */
		if (v.len) {
			*pos = i;
			*value = v;
			return true;
		}
	}
	*pos = i;
	return false;
}

int sip_param_next(tstr params, uint32_t *pos, tstr *name, tstr *value)
{
	uint32_t i = lws(params, *pos), n, e;

	if (i >= params.len) {
		*pos = i;
		return 0;
	}
	if (params.s[i] != ';')
		return TDM_EMALFORMED;
	i = lws(params, i + 1);
	n = span(params, i, C_PARAM);
	if (n == i)
		return TDM_EMALFORMED;
	*name = tstr_sub(params, i, n - i);
	*value = tstr_sub(params, n, 0);
	i = lws(params, n);
	if (i < params.len && params.s[i] == '=') {
		i = lws(params, i + 1);
		if (i >= params.len)
			return TDM_EMALFORMED;
		if (params.s[i] == '"') {
			e = quoted_end(params, i);
			if (e == 0)
				return TDM_EMALFORMED;
		} else {
			e = span(params, i, C_PARAM);
			if (e == i)
				return TDM_EMALFORMED;
		}
		*value = tstr_sub(params, i, e - i);
		i = lws(params, e);
	}
	if (i < params.len && params.s[i] != ';')
		return TDM_EMALFORMED;
	*pos = i;
	return 1;
}

bool sip_param_find(tstr params, const char *name, tstr *value)
{
	tstr want = tstr_cstr(name), n, v;
	uint32_t pos = 0;

	while (sip_param_next(params, &pos, &n, &v) > 0) {
		if (tstr_caseeq(n, want)) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* The byte loop of sip_host_span(), on the string that starts with the
 * host (sip_chars.h). */
uint32_t sip_host_len_bytes(tstr s)
{
	uint32_t i, colons = 0;

	if (s.len == 0)
		return 0;
	if (s.s[0] == '[') {
		/* IPv6reference: hex digits, ':' and '.' (for an embedded
		 * IPv4 tail); inet_pton() is the caller's full check. */
		for (i = 1; i < s.len && (is_class(s.s[i], C_HEX) ||
					  s.s[i] == ':' || s.s[i] == '.'); i++)
			colons += s.s[i] == ':';
		if (i >= s.len || s.s[i] != ']' || colons < 2 || i - 1 > 45)
			return 0;
		return i + 1;
	}
	/* hostname / IPv4address: labels of alphanumerics and inner '-',
	 * separated by single dots, an optional trailing dot. A label is a
	 * run of alphanumerics, then any number of ('-'+ alphanumeric+). */
	const unsigned char *b = (const unsigned char *)s.s, *p = b, *e = b + s.len;

	if (!(chr_class[*p] & C_ALNUM))
		return 0;
	for (;;) {
		/* p is at an alphanumeric */
		do
			p++;
		while (p < e && (chr_class[*p] & C_ALNUM));
		if (p == e)
			return s.len;
		if (*p == '-') {
			do
				p++;
			while (p < e && *p == '-');
			/* A label does not end in '-'. */
			if (p == e || !(chr_class[*p] & C_ALNUM))
				return 0;
			continue;
		}
		if (*p != '.')
			return (uint32_t)(p - b);
		p++;
		if (p == e)
			return s.len;
		if (!(chr_class[*p] & C_ALNUM)) {
			/* A dot ends the name, but is not followed by an empty
			 * label or one that starts with '-'. */
			if (*p == '.' || *p == '-')
				return 0;
			return (uint32_t)(p - b);
		}
	}
}

uint32_t sip_host_len(tstr s)
{
	return sip_host_span(s, 0);
}

/*
 * A generic absoluteURI: scheme ":" and one or more URI characters. This
 * refuses what cannot be a URI (spaces, <, >, quotes, control octets);
 * sip_uri_parse() is the full decoder, run by whoever uses the URI.
 */
static bool uri_ok(tstr u)
{
	uint32_t i;

	if (u.len == 0 || !is_class(u.s[0], C_ALPHA))
		return false;
	i = span(u, 1, C_SCHEME);
	if (i + 1 >= u.len || u.s[i] != ':')
		return false;
	return span(u, i + 1, C_URIC) == u.len;
}

/* ------------------------------------------------------------------ */
/* Field decoders. */

int sip_parse_via(tstr value, struct sip_via *out)
{
	struct sip_via via = { 0 };
	tstr v = trim(value), name, pv;
	uint32_t i = 0, s0, ts = 0, e, pos = 0, seen = 0, port;
	int r;

	/* sent-protocol: name SLASH version SLASH transport, SLASH = SWS / SWS */
	s0 = i;
	i = span(v, i, C_TOKEN);
	if (i == s0)
		goto malformed;
	for (int k = 0; k < 2; k++) {
		i = lws(v, i);
		if (i >= v.len || v.s[i] != '/')
			goto malformed;
		i = lws(v, i + 1);
		ts = i;
		i = span(v, i, C_TOKEN);
		if (i == ts)
			goto malformed;
	}
	via.protocol = tstr_sub(v, s0, i - s0);
	via.transport = tstr_sub(v, ts, i - ts);

	/* LWS sent-by */
	e = lws(v, i);
	if (e == i)
		goto malformed;
	i = e;
	e = sip_host_span(v, i);
	if (e == 0)
		goto malformed;
	via.host = tstr_sub(v, i, e);
	i = lws(v, i + e);
	if (i < v.len && v.s[i] == ':') {
		i = lws(v, i + 1);
		e = span(v, i, C_DIGIT);
		if (!dec(tstr_sub(v, i, e - i), 65535, &port) || port == 0)
			goto malformed;
		via.port = (uint16_t)port;
		i = lws(v, e);
	}

	/* *( SEMI via-params ) */
	if (i < v.len) {
		if (v.s[i] != ';')
			goto malformed;
		via.params = tstr_tail(v, i);
		while ((r = sip_param_next(via.params, &pos, &name, &pv)) > 0) {
			unsigned bit;
			tstr *slot;

			if (NAME_IS(name, "branch")) {
				bit = 1;
				slot = &via.branch;
			} else if (NAME_IS(name, "received")) {
				bit = 2;
				slot = &via.received;
			} else if (NAME_IS(name, "maddr")) {
				bit = 4;
				slot = &via.maddr;
			} else if (NAME_IS(name, "rport")) {
				/* RFC 3581: a flag in requests, a port in responses. */
				if (pv.len && !dec(pv, 65535, &port))
					goto malformed;
				via.rport = true;
				continue;
			} else {
				continue;
			}
			/* token / host values: no flags, no quotes. */
			if (pv.len == 0 || pv.s[0] == '"')
				goto malformed;
			if (!(seen & bit)) {
				seen |= bit;
				*slot = pv;
			}
		}
		if (r < 0)
			goto malformed;
	}
	via.value = v;
	*out = via;
	return 0;

malformed:
	return TDM_EMALFORMED;
}

/* The full grammar; v is trimmed. */
static int nameaddr_slow(tstr v, struct sip_nameaddr *out)
{
	struct sip_nameaddr na = { 0 };
	tstr name, pv;
	uint32_t i = 0, e, pos = 0;
	bool have_tag = false;
	int r;

	if (v.len == 0)
		goto malformed;
	if (v.s[0] == '"') {
		e = quoted_end(v, 0);
		if (e == 0)
			goto malformed;
		na.display = tstr_sub(v, 0, e);
		i = lws(v, e);
		if (i >= v.len || v.s[i] != '<')
			goto malformed;
	} else if (v.s[0] != '<') {
		/* display-name = *(token LWS) before '<'; LWS before '<' is
		 * optional here (RFC 4475 §3.1.1.6 asks to accept its lack).
		 * Anything else is an addr-spec. */
		uint32_t j = 0, last = 0;
		while (j < v.len) {
			if (is_class(v.s[j], C_TOKEN)) {
				j = span(v, j, C_TOKEN);
				last = j;
			} else {
				e = lws(v, j);
				if (e == j)
					break;
				j = e;
			}
		}
		if (j < v.len && v.s[j] == '<') {
			na.display = tstr_sub(v, 0, last);
			i = j;
		}
	}

	if (i < v.len && v.s[i] == '<') {
		const char *gt = memchr(v.s + i + 1, '>', v.len - i - 1);
		if (gt == NULL)
			goto malformed;
		e = (uint32_t)(gt - v.s);
		na.uri = tstr_sub(v, i + 1, e - i - 1);
		na.bracketed = true;
		if (!uri_ok(na.uri))
			goto malformed;
		i = e + 1;
	} else {
		/* addr-spec: the URI ends at the first ';' or LWS, and what
		 * follows are header parameters (RFC 3261 §20.10). A URI
		 * holding ',' '?' or ';' must be in <>: refuse it here
		 * rather than guess (RFC 4475 §3.1.2.13). */
		e = i;
		while (e < v.len && v.s[e] != ';' && !is_class(v.s[e], C_WS))
			e++;
		na.uri = tstr_sub(v, i, e - i);
		if (!uri_ok(na.uri) || tstr_chr(na.uri, '?') >= 0 ||
		    tstr_chr(na.uri, ',') >= 0)
			goto malformed;
		i = e;
	}

	i = lws(v, i);
	if (i < v.len) {
		if (v.s[i] != ';')
			goto malformed;
		na.params = tstr_tail(v, i);
		while ((r = sip_param_next(na.params, &pos, &name, &pv)) > 0) {
			if (!NAME_IS(name, "tag"))
				continue;
			if (pv.len == 0 || span(pv, 0, C_TOKEN) != pv.len)
				goto malformed;
			if (!have_tag) {
				have_tag = true;
				na.tag = pv;
			}
		}
		if (r < 0)
			goto malformed;
	}
	*out = na;
	return 0;

malformed:
	return TDM_EMALFORMED;
}

/* One header parameter, as params_split() hands it out. */
struct hparam {
	tstr name;
	tstr value;  /* raw, quotes kept; empty for a flag */
	bool token;  /* value is a non-empty token */
};

/* More parameters than this on one value go the general way. */
#define FAST_PARAMS 8

/* A URI with all its characters in C_URIC: does it start with a scheme
 * and ':' and have something after it (the rest of uri_ok())? */
static inline bool scheme_ok(tstr u)
{
	uint32_t i;

	/* Usually "sip:" in any case ('s' 'i' 'p' are the only bytes that
	 * OR-ing 0x20 maps onto them): the scan below would stop at its ':'. */
	if (u.len > 4 && (tstr_load4(u.s) | 0x00202020u) == tstr_load4("sip:"))
		return true;
	if (u.len == 0 || !is_class(u.s[0], C_ALPHA))
		return false;
	i = span(u, 1, C_SCHEME);
	return i + 1 < u.len && u.s[i] == ':';
}

/*
 * Split the header parameters of v that start at v.s[i] (a ';') when they
 * have the usual shape: no LWS, each value a run of C_PARAM characters or
 * a quoted string, at most FAST_PARAMS of them. Returns their number, or -1
 * when sip_param_next() must decide. For what this accepts,
 * sip_param_next() returns the same names and values.
 */
static int params_split(tstr v, uint32_t i, struct hparam *out)
{
	int n = 0;

	while (i < v.len) {
		uint32_t e;

		if (v.s[i] != ';' || n == FAST_PARAMS)
			return -1;
		e = span(v, i + 1, C_PARAM);
		if (e == i + 1)
			return -1;
		out[n].name = tstr_sub(v, i + 1, e - i - 1);
		out[n].value = tstr_sub(v, e, 0);
		out[n].token = false;
		i = e;
		if (i < v.len && v.s[i] == '=') {
			i++;
			if (i < v.len && v.s[i] == '"') {
				e = quoted_end(v, i);
				if (e == 0)
					return -1;
			} else {
				/* Tokens first (a token is a C_PARAM run), so
				 * that a tag needs no second look. */
				e = span(v, i, C_TOKEN);
				out[n].token = e > i && (e == v.len || !is_class(v.s[e], C_PARAM));
				if (!out[n].token)
					e = span(v, e, C_PARAM);
				if (e == i)
					return -1;
			}
			out[n].value = tstr_sub(v, i, e - i);
			i = e;
		}
		n++;
	}
	return n;
}

/*
 * v.s[i] is ';', and the len bytes after it are a parameter name (the
 * caller compared them). When '=' and a token running to the end of v
 * follow, sets pv[0] to what params_split() gives for this one
 * parameter and returns true: the '=' is no C_PARAM character, so
 * params_split() finds the same name, and takes the value as a token.
 */
static inline __attribute__((always_inline)) bool one_param(tstr v, uint32_t i, uint32_t len,
							     struct hparam *pv)
{
	if (v.s[i + 1 + len] != '=' || span(v, i + 2 + len, C_TOKEN) != v.len)
		return false;
	pv[0].name = tstr_sub(v, i + 1, len);
	pv[0].value = tstr_tail(v, i + 2 + len);
	pv[0].token = true;
	return true;
}

/*
 * A name-addr in its usual shapes, '"display" <uri>' or '<uri>' (one SP at
 * most between them), then header parameters as params_split() takes them.
 * Decodes into *na and the parameters into pv in one pass and returns
 * their number, or returns -1 when nameaddr_slow() must decide (*na may
 * then hold anything). v is trimmed. Whatever this accepts,
 * nameaddr_slow() decodes to the same result.
 *
 * With uri not NULL (To of a REGISTER, Contact: the URIs the registrar
 * reads), the URI is decoded too: when this returns >= 0, *uri_rc and
 * *uri are what sip_uri_parse(na->uri) gives. The decode then stands in
 * for the character scan, so the URI is read once.
 */
static inline __attribute__((always_inline)) int nameaddr_fast(tstr v, struct sip_nameaddr *na,
								struct hparam *pv, struct sip_uri *uri,
								int *uri_rc)
{
	uint32_t i = 0, s, e;
	bool have_tag = false, uri_checked = false;
	int n;

	if (v.len < 2)
		return -1;
	na->display = TSTR_NULL;
	if (v.s[0] == '"') {
		/* quoted_end() without escapes, which go the general way. */
		i = span_not(v, 1, C_QSTOP);
		if (i >= v.len || v.s[i] != '"')
			return -1;
		na->display = tstr_sub(v, 0, ++i);
		if (i < v.len && v.s[i] == ' ')
			i++;
		if (i >= v.len || v.s[i] != '<')
			return -1;
	} else if (v.s[0] != '<') {
		return -1;
	}
	/* The URI runs to the first '>', all of it URI characters. */
	s = i + 1;
	if (uri) {
		const char *gt = memchr(v.s + s, '>', v.len - s);

		if (gt == NULL)
			return -1;
		e = (uint32_t)(gt - v.s);
		*uri_rc = sip_uri_parse(tstr_sub(v, s, e - s), uri);
		/* A sip or sips URI that sip_uri_parse() accepts is made of
		 * C_URIC characters only and starts with its scheme (see
		 * parse_request_line()): the scan below would stop at this
		 * '>' and scheme_ok() would hold. Whatever else is there
		 * (another scheme, an error) is scanned: if the scan stops
		 * anywhere but at this '>', the general path decides. */
		uri_checked = *uri_rc == 0 &&
			      (uri->scheme == SIP_URI_SIP || uri->scheme == SIP_URI_SIPS);
	}
	if (!uri_checked) {
		e = span(v, s, C_URIC);
		if (e >= v.len || v.s[e] != '>')
			return -1;
		if (!scheme_ok(tstr_sub(v, s, e - s)))
			return -1;
	}
	na->uri = tstr_sub(v, s, e - s);
	na->bracketed = true;
	na->params = TSTR_NULL;
	na->tag = TSTR_NULL;
	i = e + 1;
	if (i == v.len)
		return 0;
	if (v.s[i] != ';')
		return -1;
	na->params = tstr_tail(v, i);
	/* Usually the one parameter is a tag (From; To of a dialog) or an
	 * expires (Contact), in any case: OR-ing 0x20 maps only a letter's
	 * two cases onto it, so one compare recognises the name whatever
	 * the bytes are. The value is non-empty: one_param() reads the
	 * byte after the name. */
	if (v.len - i > 5 && (tstr_load4(v.s + i) | 0x20202000u) == tstr_load4(";tag") &&
	    one_param(v, i, 3, pv)) {
		na->tag = pv[0].value;
		return 1;
	}
	if (v.len - i > 9 && (tstr_load8(v.s + i) | 0x2020202020202000ull) == tstr_load8(";expires") &&
	    one_param(v, i, 7, pv))
		return 1;
	n = params_split(v, i, pv);
	for (int k = 0; k < n; k++) {
		if (!NAME_IS(pv[k].name, "tag"))
			continue;
		if (!pv[k].token)
			return -1;
		if (!have_tag) {
			have_tag = true;
			na->tag = pv[k].value;
		}
	}
	return n;
}

/*
 * A name-addr with parameters, v trimmed (a header value as sip_parse()
 * stores it is), into *out: the fast path, else the general grammar.
 * With uri not NULL, also sip_uri_parse() of the URI into *uri_rc and
 * *uri. On error *out is cleared, *uri_rc is TDM_EMALFORMED and *uri may
 * hold anything.
 */
static int nameaddr_in(tstr v, struct sip_nameaddr *out, struct sip_uri *uri, int *uri_rc)
{
	struct hparam pv[FAST_PARAMS];

	if (nameaddr_fast(v, out, pv, uri, uri_rc) >= 0)
		return 0;
	if (nameaddr_slow(v, out) != 0) {
		*out = (struct sip_nameaddr){ 0 };
		if (uri)
			*uri_rc = TDM_EMALFORMED;
		return TDM_EMALFORMED;
	}
	if (uri)
		*uri_rc = sip_uri_parse(out->uri, uri);
	return 0;
}

int sip_parse_nameaddr(tstr value, struct sip_nameaddr *out)
{
	struct sip_nameaddr na;

	/* *out is written only on success. */
	if (nameaddr_in(trim(value), &na, NULL, NULL) != 0)
		return TDM_EMALFORMED;
	*out = na;
	return 0;
}

/* callid = word [ "@" word ] */
static bool callid_ok(tstr v)
{
	uint32_t i = span(v, 0, C_WORD), j;

	if (i == v.len)
		return i > 0;
	if (i == 0 || v.s[i] != '@')
		return false;
	j = span(v, i + 1, C_WORD);
	return j == v.len && j > i + 1;
}

/* ------------------------------------------------------------------ */
/* sip_parse() */

#define FAIL(m, why)                                                           \
	do {                                                                   \
		if ((m)->error == NULL)                                        \
			(m)->error = (why);                                    \
	} while (0)

struct parse_state {
	struct sip_msg *m;
	int64_t clen; /* Content-Length, -1 while absent */
};

/* "SIP/" 1*DIGIT "." 1*DIGIT, all of v; case-insensitive (§7.1). */
static bool version_ok(tstr v)
{
	uint32_t i, d;

	if (v.len == 7 && memcmp(v.s, "SIP/2.0", 7) == 0)
		return true;
	if (v.len < 7 || !tstr_caseeq(tstr_sub(v, 0, 4), TSTR_LIT("SIP/")))
		return false;
	i = span(v, 4, C_DIGIT);
	if (i == 4 || i >= v.len || v.s[i] != '.')
		return false;
	d = i + 1;
	i = span(v, d, C_DIGIT);
	return i > d && i == v.len;
}

/*
 * Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §25.1),
 * exactly one SP between the elements and none after the version. Extra
 * spaces (RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws) and LWS inside the
 * Request-URI (§3.1.2.8) are refused with 400: the RFC allows either, and
 * guessing where an element ends is how parsers start to disagree.
 */
static void parse_request_line(struct sip_msg *m, tstr l)
{
	const char *sp;
	uint32_t i, u;

	m->is_request = true;
	i = span(l, 0, C_TOKEN);
	if (i == 0 || i >= l.len || l.s[i] != ' ')
		goto malformed;
	m->method_name = tstr_sub(l, 0, i);
	m->method = sip_method_from_name(m->method_name);
	u = ++i;
	/* Usually the line ends in " SIP/2.0" after a sip: or sips: URI.
	 * One that sip_uri_parse() accepts holds no SP, so the first SP
	 * after the method is the one before the version: the general code
	 * below would find the same three elements. */
	if (l.len - u > 9 && tstr_load8(l.s + l.len - 8) == tstr_load8(" SIP/2.0")) {
		tstr r = tstr_sub(l, u, l.len - 8 - u);

		/* " SIP/2.0" is readable after it. */
		m->ruri_rc = sip_uri_parse_in(r, 8, &m->ruri_uri);
		if (m->ruri_rc == 0 && (m->ruri_uri.scheme == SIP_URI_SIP ||
					m->ruri_uri.scheme == SIP_URI_SIPS)) {
			m->ruri = r;
			m->version = tstr_tail(l, l.len - 7);
			return;
		}
	}
	sp = memchr(l.s + u, ' ', l.len - u);
	if (sp == NULL || sp == l.s + u)
		goto malformed;
	i = (uint32_t)(sp - l.s);
	m->ruri = tstr_sub(l, u, i - u);
	m->ruri_rc = sip_uri_parse(m->ruri, &m->ruri_uri);
	m->version = tstr_tail(l, i + 1);
	if (!version_ok(m->version))
		goto malformed;
	/* A Request-URI in <> (RFC 4475 §3.1.2.7) is not an absoluteURI. A
	 * sip: or sips: URI that sip_uri_parse() accepts is one: its grammar
	 * only has characters uri_ok() takes. */
	if (!(m->ruri_rc == 0 && (m->ruri_uri.scheme == SIP_URI_SIP ||
				  m->ruri_uri.scheme == SIP_URI_SIPS)) &&
	    !uri_ok(m->ruri))
		FAIL(m, "Malformed Request-URI");
	return;

malformed:
	FAIL(m, "Malformed Request-Line");
}

/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase. A missing
 * "SP Reason-Phrase" is accepted as an empty reason. */
static void parse_status_line(struct sip_msg *m, tstr l)
{
	int32_t sp = tstr_chr(l, ' ');
	uint32_t i, d;
	unsigned code;

	if (sp < 0)
		goto malformed;
	m->version = tstr_sub(l, 0, (uint32_t)sp);
	if (!version_ok(m->version))
		goto malformed;
	d = (uint32_t)sp + 1;
	i = span(l, d, C_DIGIT);
	/* Exactly three digits: a long code (RFC 4475 §3.1.2.19) is never
	 * converted, so it cannot overflow. */
	if (i - d != 3)
		goto bad_code;
	code = (unsigned)(l.s[d] - '0') * 100 + (unsigned)(l.s[d + 1] - '0') * 10 +
	       (unsigned)(l.s[d + 2] - '0');
	if (code < 100 || code > 699)
		goto bad_code;
	if (i == l.len)
		m->reason = tstr_sub(l, i, 0);
	else if (l.s[i] == ' ')
		m->reason = tstr_tail(l, i + 1);
	else
		goto malformed;
	m->status = (uint16_t)code;
	return;

bad_code:
	FAIL(m, "Bad status code");
	return;
malformed:
	FAIL(m, "Malformed Status-Line");
}

/*
 * v.s[i] is ';': where the via-param name after it ends, span(v, i + 1,
 * C_PARAM), with the usual "branch=" and a last or followed "rport"
 * recognised in any case without the scan. OR-ing 0x20 maps only a
 * letter's two cases onto it, and '=', ';' and the end stop the scan.
 */
static inline uint32_t via_name_end(tstr v, uint32_t i)
{
	if (v.len - i > 8 && (tstr_load8(v.s + i) | 0x0020202020202000ull) == tstr_load8(";branch="))
		return i + 7;
	if (v.len - i >= 6 && (tstr_load4(v.s + i + 1) | 0x20202020u) == tstr_load4("rpor") &&
	    (v.s[i + 5] | 0x20) == 't' && (v.len - i == 6 || !is_class(v.s[i + 6], C_PARAM)))
		return i + 6;
	return span(v, i + 1, C_PARAM);
}

/*
 * The usual shape of a top Via, "SIP/2.0/UDP host[:port][;param[=value]]...",
 * one via-parm, no LWS inside, no quoted values, decoded in one pass into
 * m->via. Returns false, having written nothing that matters, when the
 * value is anything else: sip_parse_via() then decides. Whatever this
 * accepts, sip_list_next() + sip_parse_via() accept with the same result.
 */
static bool via_fast(struct sip_msg *m, tstr v)
{
	struct sip_via *via = &m->via;
	uint32_t i, e, seen = 0, port, params_at, kept_end;
	bool rewritten_seen = false, kept_first = true;

	if (v.len < 10 || tstr_load8(v.s) != tstr_load8("SIP/2.0/"))
		return false;
	/* Usually a transport of three token characters ("UDP", "TCP",
	 * "TLS") and a SP, where the scan would stop. */
	if (v.len > 12 && v.s[11] == ' ' &&
	    (chr_class[(unsigned char)v.s[8]] & chr_class[(unsigned char)v.s[9]] &
	     chr_class[(unsigned char)v.s[10]] & C_TOKEN))
		i = 11;
	else
		i = span(v, 8, C_TOKEN);
	/* One SP before sent-by, as sip_parse_via() wants LWS there. */
	if (i == 8 || i + 1 >= v.len || v.s[i] != ' ' || is_class(v.s[i + 1], C_WS))
		return false;
	via->protocol = tstr_sub(v, 0, i);
	via->transport = tstr_sub(v, 8, i - 8);
	i++;
	e = sip_host_span(v, i);
	if (e == 0)
		return false;
	via->host = tstr_sub(v, i, e);
	i += e;
	via->port = 0;
	if (i < v.len && v.s[i] == ':') {
		/* span(C_DIGIT) and dec(65535): usually four digits and no
		 * fifth, else in one loop. */
		unsigned d;

		if (v.len - i > 4 && digits4(v.s + i + 1, &port) &&
		    (v.len - i == 5 || !is_class(v.s[i + 5], C_DIGIT))) {
			e = i + 5;
		} else {
			port = 0;
			for (e = i + 1; e < v.len && (d = (unsigned char)v.s[e] - '0') <= 9; e++)
				if ((port = port * 10 + d) > 65535)
					return false;
		}
		if (e == i + 1 || port == 0)
			return false;
		via->port = (uint16_t)port;
		i = e;
	}
	via->params = TSTR_NULL;
	via->branch = via->received = via->maddr = TSTR_NULL;
	via->rport = false;
	if (i < v.len) {
		if (v.s[i] != ';')
			return false;
		via->params = tstr_tail(v, i);
	}
	params_at = kept_end = i;
	while (i < v.len) {
		tstr name, pv;
		unsigned bit = 0;
		tstr *slot;
		bool rewritten;

		/* v.s[i] is ';' */
		e = via_name_end(v, i);
		if (e == i + 1)
			return false;
		name = tstr_sub(v, i + 1, e - i - 1);
		pv = tstr_sub(v, e, 0);
		i = e;
		if (i < v.len && v.s[i] == '=') {
			e = span(v, i + 1, C_PARAM);
			if (e == i + 1)
				return false;
			pv = tstr_sub(v, i + 1, e - i - 1);
			i = e;
		}
		if (i < v.len && v.s[i] != ';')
			return false;
		slot = NULL;
		rewritten = false;
		switch (name.len) {
		case 5:
			if (NAME_IS(name, "rport")) {
				/* RFC 3581: a flag in requests, a port in responses. */
				if (pv.len && !dec(pv, 65535, &port))
					return false;
				via->rport = true;
				rewritten = true;
			} else if (NAME_IS(name, "maddr")) {
				bit = 4;
				slot = &via->maddr;
			}
			break;
		case 6:
			if (NAME_IS(name, "branch")) {
				bit = 1;
				slot = &via->branch;
			}
			break;
		case 8:
			if (NAME_IS(name, "received")) {
				bit = 2;
				slot = &via->received;
				rewritten = true;
			}
			break;
		default:
			break;
		}
		/* Which parameters a response copies (kept_len). */
		if (rewritten) {
			rewritten_seen = true;
		} else {
			kept_first &= !rewritten_seen;
			kept_end = i;
		}
		if (slot == NULL)
			continue;
		if (pv.len == 0)
			return false;
		if (!(seen & bit)) {
			seen |= bit;
			*slot = pv;
		}
	}
	via->value = v;
	via->plain = true;
	via->kept_len = kept_first ? kept_end - params_at : SIP_VIA_KEPT_SCATTERED;
	m->via_ok = true;
	return true;
}

static void decode_via(struct sip_msg *m, tstr v)
{
	struct sip_via extra;
	uint32_t pos = 0;
	tstr parm;

	if (via_fast(m, v))
		return;
	m->via = (struct sip_via){ 0 };
	if (!sip_list_next(v, &pos, &parm) || sip_parse_via(parm, &m->via) != 0) {
		FAIL(m, "Malformed Via");
		return;
	}
	/* The response can be routed from here on, whatever comes next. */
	m->via_ok = true;
	while (sip_list_next(v, &pos, &parm)) {
		if (sip_parse_via(parm, &extra) != 0) {
			FAIL(m, "Malformed Via");
			return;
		}
	}
}

/* a and b (len bytes each, len <= 16) hold the same bytes; a few word
 * compares instead of a call to memcmp(). */
static inline bool same_short(const char *a, const char *b, uint32_t len)
{
	if (len >= 8)
		return tstr_load8(a) == tstr_load8(b) && tstr_load8(a + len - 8) == tstr_load8(b + len - 8);
	if (len >= 4)
		return tstr_load4(a) == tstr_load4(b) && tstr_load4(a + len - 4) == tstr_load4(b + len - 4);
	for (uint32_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/*
 * The usual CSeq of a request: at most 8 digits (so no range check is
 * needed), one SP, and the request's own method, spelt as in the
 * Request-Line. Decodes it into m and returns true, or returns false
 * for decode_cseq() to decide. The general grammar gives the same
 * result for whatever this takes: the method name is a token (the
 * Request-Line was scanned as one) and names the same method.
 */
static inline bool cseq_fast(struct sip_msg *m, tstr v)
{
	tstr name = m->method_name;
	uint32_t d = 0, n = 0;

	for (; d < v.len && d < 9; d++) {
		unsigned c = (unsigned char)v.s[d] - '0';
		if (c > 9)
			break;
		n = n * 10 + c;
	}
	if (d == 0 || d == 9 || name.len == 0 || name.len > 16 ||
	    v.len != d + 1 + name.len || v.s[d] != ' ' ||
	    !same_short(v.s + d + 1, name.s, name.len))
		return false;
	m->cseq = n;
	m->cseq_method_name = tstr_sub(v, d + 1, name.len);
	m->cseq_method = m->method;
	return true;
}

/* CSeq = 1*DIGIT LWS Method */
static void decode_cseq(struct sip_msg *m, tstr v)
{
	uint32_t d, i, e, n;

	if (cseq_fast(m, v))
		return;
	d = span(v, 0, C_DIGIT);

	i = lws(v, d);
	if (d == 0 || i == d || i >= v.len)
		goto malformed;
	e = span(v, i, C_TOKEN);
	if (e != v.len)
		goto malformed;
	if (!dec(tstr_sub(v, 0, d), UINT32_MAX, &n)) {
		FAIL(m, "CSeq out of range");
		return;
	}
	m->cseq = n;
	m->cseq_method_name = tstr_sub(v, i, e - i);
	m->cseq_method = sip_method_from_name(m->cseq_method_name);
	return;

malformed:
	FAIL(m, "Malformed CSeq");
}

/* The value v of a field with this id, the first one with it or not. */
static inline void decode_field(struct parse_state *ps, enum sip_hdr id, tstr v, bool first)
{
	struct sip_msg *m = ps->m;
	uint32_t n;

	switch (id) {
	case SIP_HDR_VIA:
		if (first)
			decode_via(m, v);
		break;
	case SIP_HDR_FROM:
		if (!first) {
			if (m->is_request)
				FAIL(m, "Duplicate From header");
		} else if (nameaddr_in(v, &m->from, NULL, NULL) != 0) {
			FAIL(m, "Malformed From header");
		}
		break;
	case SIP_HDR_TO:
		if (!first) {
			if (m->is_request)
				FAIL(m, "Duplicate To header");
		} else if (nameaddr_in(v, &m->to, m->method == SIP_REGISTER ? &m->to_uri : NULL,
				       &m->to_uri_rc) != 0) {
			FAIL(m, "Malformed To header");
		}
		break;
	case SIP_HDR_CALL_ID:
		if (!first) {
			if (m->is_request)
				FAIL(m, "Duplicate Call-ID header");
		} else if (callid_ok(v)) {
			m->call_id = v;
		} else {
			FAIL(m, "Malformed Call-ID");
		}
		break;
	case SIP_HDR_CSEQ:
		if (!first) {
			if (m->is_request)
				FAIL(m, "Duplicate CSeq header");
		} else {
			decode_cseq(m, v);
		}
		break;
	case SIP_HDR_MAX_FORWARDS:
		if (!first) {
			if (m->is_request)
				FAIL(m, "Duplicate Max-Forwards header");
		} else if (v.len == 2 && (unsigned)(v.s[0] - '0') <= 9 &&
			   (unsigned)(v.s[1] - '0') <= 9) {
			/* The usual two digits: always in range. */
			m->max_forwards = (v.s[0] - '0') * 10 + (v.s[1] - '0');
		} else if (!all_digits(v)) {
			FAIL(m, "Malformed Max-Forwards");
		} else if (!dec(v, 255, &n)) {
			FAIL(m, "Max-Forwards out of range");
		} else {
			m->max_forwards = (int32_t)n;
		}
		break;
	case SIP_HDR_EXPIRES:
		/* Malformed (e.g. an RFC 2543 date) counts as absent: §10.3. */
		if (first && !parse_delta(v, &m->expires))
			m->expires = SIP_ABSENT;
		break;
	case SIP_HDR_CONTENT_LENGTH:
		if (!dec(v, UINT32_MAX, &n)) {
			FAIL(m, "Bad Content-Length");
		} else if (ps->clen < 0) {
			ps->clen = (int64_t)n;
		} else if (ps->clen != (int64_t)n) {
			FAIL(m, "Conflicting Content-Length values");
		}
		break;
	default:
		break;
	}
}

/*
 * The header names requests usually carry, spelt as usual and followed
 * directly by ':', recognised without scanning: returns the name length
 * and sets *id, or returns 0 when the general path must decide. p has at
 * least 16 readable bytes. Such a name is a token, so the general path
 * would find the same name and id.
 */
static inline uint32_t known_name(const char *p, uint8_t *id)
{
#define K(lit, hid)                                                            \
	if (memcmp(p, lit ":", sizeof(lit)) == 0) {                            \
		*id = hid;                                                     \
		return sizeof(lit) - 1;                                        \
	}
	switch (p[0]) {
	case 'V':
		K("Via", SIP_HDR_VIA)
		break;
	case 'T':
		K("To", SIP_HDR_TO)
		break;
	case 'F':
		K("From", SIP_HDR_FROM)
		break;
	case 'C':
		/* Four of the usual names start with 'C': the second
		 * letter leaves one or two candidates. */
		switch (p[1]) {
		case 'a':
			K("Call-ID", SIP_HDR_CALL_ID)
			break;
		case 'S':
			K("CSeq", SIP_HDR_CSEQ)
			break;
		case 'o':
			K("Contact", SIP_HDR_CONTACT)
			K("Content-Length", SIP_HDR_CONTENT_LENGTH)
			K("Content-Type", SIP_HDR_CONTENT_TYPE)
			break;
		default:
			break;
		}
		break;
	case 'M':
		K("Max-Forwards", SIP_HDR_MAX_FORWARDS)
		break;
	case 'E':
		K("Expires", SIP_HDR_EXPIRES)
		break;
	case 'U':
		K("User-Agent", SIP_HDR_USER_AGENT)
		break;
	case 'A':
		K("Authorization", SIP_HDR_AUTHORIZATION)
		break;
	case 'S':
		K("Supported", SIP_HDR_SUPPORTED)
		break;
	case 'R':
		K("Require", SIP_HDR_REQUIRE)
		K("Route", SIP_HDR_ROUTE)
		K("Record-Route", SIP_HDR_RECORD_ROUTE)
		break;
	case 'P':
		K("Path", SIP_HDR_PATH)
		break;
	default:
		break;
	}
#undef K
	/* A compact form: none of the names above is one letter. */
	if (p[1] == ':') {
		unsigned char c = (unsigned char)p[0];

		if (c < 128 && compact_ids[c]) {
			*id = compact_ids[c];
			return 1;
		}
	}
	return 0;
}

/* The first '\n' in [p, end), or NULL. Header lines are short, so this
 * beats a call to memchr(): 16 bytes at a time with SSE2 (every x86-64
 * has it), then byte by byte for the last few. */
static inline const char *find_lf(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i lf = _mm_set1_epi8('\n');

	/* 32 bytes a turn: most header lines are longer than 16. */
	for (; end - p >= 32; p += 32) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x0, lf)) |
				(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x1, lf)) << 16;

		if (mask)
			return p + __builtin_ctz(mask);
	}
	for (; end - p >= 16; p += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, lf));

		if (mask)
			return p + __builtin_ctz(mask);
	}
	for (; p < end; p++)
		if (*p == '\n')
			return p;
	return NULL;
#else
	return memchr(p, '\n', (size_t)(end - p));
#endif
}

/*
 * The field whose remaining text starts at q, q not a line end: it runs
 * to the first line end not followed by SP/HT (a fold continues it,
 * §7.3.1). Sets *eol to where it ends (its CRLF or LF, or end) and
 * returns where the next line starts.
 */
static inline const char *field_end(const char *q, const char *end, const char **eol)
{
	const char *nl;

	for (;;) {
		nl = find_lf(q, end);
		if (nl == NULL) {
			*eol = end;
			return end;
		}
		/* SP and HT are below '!', as a header name's first byte
		 * is not: one compare settles the usual case. */
		if (nl + 1 < end && (unsigned char)nl[1] <= ' ' && is_sp(nl[1])) {
			q = nl + 1;
			continue;
		}
		/* nl > the field's start: that is not a line end
		 * (sip_parse() checked). */
		*eol = nl[-1] == '\r' ? nl - 1 : nl;
		return nl + 1;
	}
}

/*
 * One header field starting at p (not an empty line): recognise the name,
 * find the end of the field (folds included), record and decode it.
 * Returns where the next line starts, or NULL when the message is to be
 * refused at once (too many fields).
 */
static const char *parse_field(struct parse_state *ps, const char *p, const char *end)
{
	struct sip_msg *m = ps->m;
	const char *q, *eol, *v, *ve;
	struct sip_header *h;
	uint32_t n = 0, c, nh = m->nhdrs;
	uint8_t id = SIP_HDR_OTHER;
	bool first;
	tstr value;

	if (end - p >= 16)
		n = known_name(p, &id);
	if (n) {
		c = n;
	} else {
		/* The name is a token, then SP / HT, then ':'. None of these
		 * is a line end, so the scan cannot leave the field. */
		tstr rest = tstr_make(p, (size_t)(end - p));

		n = span(rest, 0, C_TOKEN);
		c = n;
		while (c < rest.len && is_sp(p[c]))
			c++;
		if (!(n && c < rest.len && p[c] == ':')) {
			q = field_end(p, end, &eol);
			if (nh == SIP_MAX_HEADERS) {
				FAIL(m, "Too many header fields");
				return NULL;
			}
			FAIL(m, "Malformed header field");
			return q;
		}
		id = (uint8_t)header_lookup(tstr_make(p, n));
	}
	q = field_end(p + c, end, &eol);
	if (nh == SIP_MAX_HEADERS) {
		FAIL(m, "Too many header fields");
		return NULL;
	}

	/* The value without leading and trailing LWS; usually one SP
	 * before it and nothing after. */
	v = p + c + 1;
	ve = eol;
	if (ve - v >= 2 && v[0] == ' ' && (unsigned char)v[1] > ' ') {
		/* v[1] is not white space, so the value is not empty. */
		v++;
		while ((unsigned char)ve[-1] <= ' ' && is_class(ve[-1], C_WS))
			ve--;
	} else {
		while (v < ve && is_class(*v, C_WS))
			v++;
		while (ve > v && (unsigned char)ve[-1] <= ' ' && is_class(ve[-1], C_WS))
			ve--;
	}
	value = tstr_make(v, (size_t)(ve - v));
	h = &m->hdrs[nh];
	h->id = id;
	h->name = tstr_make(p, n);
	h->value = value;
	h->line = tstr_make(p, (size_t)(eol - p));
	m->nhdrs = (uint16_t)(nh + 1);
	first = m->hdr_count[id] == 0;
	if (first) {
		m->hdr_first[id] = (int16_t)nh;
		m->hdr_count[id] = 1;
	} else if (m->hdr_count[id] < UINT8_MAX) {
		m->hdr_count[id]++;
	}
	decode_field(ps, (enum sip_hdr)id, value, first);
	return q;
}

/* m->via holds the first via-parm, or zeroes when there was no Via. */
static inline void via_done(struct sip_msg *m)
{
	if (m->hdr_count[SIP_HDR_VIA] == 0)
		m->via = (struct sip_via){ 0 };
}

static void msg_reset(struct sip_msg *m, const char *buf, uint32_t len)
{
	m->buf = buf;
	m->len = len;
	m->is_request = false;
	m->method = SIP_METHOD_UNKNOWN;
	m->method_name = TSTR_NULL;
	m->ruri = TSTR_NULL;
	m->version = TSTR_NULL;
	m->status = 0;
	m->reason = TSTR_NULL;
	m->nhdrs = 0;
	memset(m->hdr_first, 0xff, sizeof(m->hdr_first));
	memset(m->hdr_count, 0, sizeof(m->hdr_count));
	/* m->via is cleared by via_done() only when no Via came: a decoded
	 * top Via sets every field. */
	m->via_ok = false;
	m->from = (struct sip_nameaddr){ 0 };
	m->to = (struct sip_nameaddr){ 0 };
	m->call_id = TSTR_NULL;
	m->cseq = 0;
	m->cseq_method = SIP_METHOD_UNKNOWN;
	m->cseq_method_name = TSTR_NULL;
	m->expires = SIP_ABSENT;
	m->max_forwards = SIP_ABSENT;
	m->body = TSTR_NULL;
	m->contact_star = false;
	m->ncontacts = 0;
	m->error = NULL;
	m->ruri_rc = TDM_EMALFORMED;
	m->to_uri_rc = TDM_EMALFORMED;
}

int sip_parse(struct sip_msg *m, const char *buf, uint32_t len)
{
	struct parse_state ps = { .m = m, .clen = -1 };
	const char *p = buf, *end = buf + len, *nl, *eol;
	bool eoh = false;
	tstr line;
	uint32_t rest;

	msg_reset(m, buf, len);

	/* Leading CRLFs (RFC 3261 §7.5); nothing but whitespace is a
	 * keep-alive (RFC 5626 §3.5.1), not a message. */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	for (nl = p; nl < end && is_class(*nl, C_WS); nl++)
		;
	if (nl == end) {
		via_done(m);
		return TDM_ETRUNCATED;
	}

	/* Start line. */
	nl = memchr(p, '\n', (size_t)(end - p));
	eol = nl ? nl : end;
	if (nl && eol > p && eol[-1] == '\r')
		eol--;
	line = tstr_make(p, (size_t)(eol - p));
	if (line.len >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' &&
	    (p[2] | 0x20) == 'p' && p[3] == '/')
		parse_status_line(m, line);
	else
		parse_request_line(m, line);
	p = nl ? nl + 1 : end;

	/* Header fields, up to the empty line. */
	while (p < end) {
		/* CR and LF are below any header name's first byte. */
		if ((unsigned char)*p <= '\r') {
			if (*p == '\n') {
				p++;
				eoh = true;
				break;
			}
			if (*p == '\r' && end - p >= 2 && p[1] == '\n') {
				p += 2;
				eoh = true;
				break;
			}
		}
		p = parse_field(&ps, p, end);
		if (p == NULL) {
			via_done(m);
			return TDM_EMALFORMED;
		}
	}
	if (!eoh)
		FAIL(m, "Truncated message");
	via_done(m);

	/* Body: framed by Content-Length; octets past it are ignored
	 * (§18.3). Without Content-Length it is the rest of the datagram. */
	rest = (uint32_t)(end - p);
	if (ps.clen > (int64_t)rest) {
		FAIL(m, "Bad Content-Length");
		m->body = tstr_make(p, rest);
	} else {
		m->body = tstr_make(p, ps.clen >= 0 ? (size_t)ps.clen : rest);
	}

	/* §8.1.1: the fields every request carries. */
	if (m->is_request) {
		if (m->hdr_count[SIP_HDR_VIA] == 0)
			FAIL(m, "Missing Via");
		if (m->hdr_count[SIP_HDR_FROM] == 0)
			FAIL(m, "Missing From header");
		if (m->hdr_count[SIP_HDR_TO] == 0)
			FAIL(m, "Missing To header");
		if (m->hdr_count[SIP_HDR_CALL_ID] == 0)
			FAIL(m, "Missing Call-ID");
		if (m->hdr_count[SIP_HDR_CSEQ] == 0)
			FAIL(m, "Missing CSeq");
		if (m->cseq_method_name.s && m->method_name.s &&
		    !tstr_eq(m->cseq_method_name, m->method_name))
			FAIL(m, "CSeq method does not match");
	}
	return m->error ? TDM_EMALFORMED : 0;
}

/* ------------------------------------------------------------------ */
/* Header helpers. */

const struct sip_header *sip_header_next(const struct sip_msg *m,
					 const struct sip_header *h)
{
	if (h < m->hdrs || h >= m->hdrs + m->nhdrs)
		return NULL;
	for (const struct sip_header *n = h + 1; n < m->hdrs + m->nhdrs; n++)
		if (n->id == h->id)
			return n;
	return NULL;
}

bool sip_has_option_tag(const struct sip_msg *m, enum sip_hdr id, const char *tag)
{
	const struct sip_header *h = sip_header_first(m, id);
	tstr want, v;

	if (h == NULL)
		return false;
	want = tstr_cstr(tag);
	for (; h; h = sip_header_next(m, h)) {
		uint32_t pos = 0;
		while (sip_list_next(h->value, &pos, &v))
			if (tstr_caseeq(v, want))
				return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Contacts (RFC 3261 §20.10, §10.2.1.2; RFC 5626 §4.2). */

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as q*1000. */
static bool parse_q(tstr v, int16_t *out)
{
	int q, scale = 100;

	if (v.len == 0 || (v.s[0] != '0' && v.s[0] != '1') || v.len > 5)
		return false;
	q = (v.s[0] - '0') * 1000;
	if (v.len > 1) {
		if (v.s[1] != '.')
			return false;
		for (uint32_t i = 2; i < v.len; i++, scale /= 10) {
			unsigned d = (unsigned char)v.s[i] - '0';
			if (d > 9)
				return false;
			q += (int)d * scale;
		}
	}
	if (q > 1000)
		return false;
	*out = (int16_t)q;
	return true;
}

/*
 * One parameter of a contact-param, for parse_contact(): the first
 * occurrence of a name wins, as in sip_param_find(). Returns 0, or
 * TDM_EMALFORMED with *why set.
 */
static inline __attribute__((always_inline)) int contact_param(struct sip_contact *c, tstr name,
								  tstr pv, unsigned *seen,
								  const char **why)
{
	uint32_t n;

	/* One candidate per length; most parameters have none. */
	switch (name.len) {
	case 7:
		if (!NAME_IS(name, "expires"))
			break;
		if (!(*seen & 1) && !parse_delta(pv, &c->expires))
			c->expires = SIP_ABSENT;
		*seen |= 1;
		break;
	case 1:
		if (!NAME_IS(name, "q"))
			break;
		if (!(*seen & 2) && !parse_q(pv, &c->q)) {
			*why = "Bad q value in Contact";
			return TDM_EMALFORMED;
		}
		*seen |= 2;
		break;
	case 13:
		if (!NAME_IS(name, "+sip.instance"))
			break;
		if (!(*seen & 4)) {
			if (pv.len >= 2 && pv.s[0] == '"')
				pv = tstr_sub(pv, 1, pv.len - 2);
			c->instance = pv;
		}
		*seen |= 4;
		break;
	case 6:
		if (!NAME_IS(name, "reg-id"))
			break;
		/* RFC 5626 §4.2: 1 to 2^31-1. */
		if (!(*seen & 8)) {
			if (!dec(pv, INT32_MAX, &n) || n == 0) {
				*why = "Bad reg-id in Contact";
				return TDM_EMALFORMED;
			}
			c->reg_id = (int32_t)n;
		}
		*seen |= 8;
		break;
	default:
		break;
	}
	return 0;
}

/* parse_contact() found v not in the usual shape and was told not to
 * try the general grammar. */
#define CONTACT_NOT_FAST 1

/*
 * One contact-param: the name-addr and the parameters a registrar reads.
 * Returns 0, TDM_EMALFORMED with *why set, or, with fast_only, returns
 * CONTACT_NOT_FAST (having decided nothing) when v is not in the shape
 * nameaddr_fast() takes.
 */
static int parse_contact(tstr v, struct sip_contact *c, const char **why, bool fast_only)
{
	struct hparam hp[FAST_PARAMS];
	tstr name, pv;
	uint32_t pos = 0;
	unsigned seen = 0;
	int r, n;

	*why = "Malformed Contact";
	/* The usual shape is split in one pass; anything else is decoded
	 * by the general functions, with the same result. */
	n = nameaddr_fast(v, &c->na, hp, &c->uri, &c->uri_rc);
	if (n < 0) {
		if (fast_only)
			return CONTACT_NOT_FAST;
		if (nameaddr_slow(v, &c->na) != 0)
			return TDM_EMALFORMED;
		c->uri_rc = sip_uri_parse(c->na.uri, &c->uri);
	}
	c->expires = SIP_ABSENT;
	c->q = SIP_Q_ABSENT;
	c->instance = TSTR_NULL;
	c->reg_id = SIP_ABSENT;
	for (int k = 0; k < n; k++)
		if (contact_param(c, hp[k].name, hp[k].value, &seen, why) < 0)
			return TDM_EMALFORMED;
	if (n >= 0)
		return 0;
	while ((r = sip_param_next(c->na.params, &pos, &name, &pv)) > 0)
		if (contact_param(c, name, pv, &seen, why) < 0)
			return TDM_EMALFORMED;
	return r < 0 ? TDM_EMALFORMED : 0;
}

int sip_parse_contacts(struct sip_msg *m)
{
	const bool one_field = m->hdr_count[SIP_HDR_CONTACT] == 1;
	const char *why;
	tstr v;
	int r;

	m->contact_star = false;
	m->ncontacts = 0;
	for (const struct sip_header *h = sip_header_first(m, SIP_HDR_CONTACT); h;
	     h = one_field ? NULL : sip_header_next(m, h)) {
		uint32_t pos = 0;
		bool any = false;

		/*
		 * The usual field holds one contact in the usual shape, which
		 * is decoded without splitting the list first. That gives
		 * what the loop below gives: a value nameaddr_fast() takes
		 * whole has no ',' outside its quoted strings and <URI>
		 * (none is a parameter character), so sip_list_next() would
		 * return it whole, as the one value of the field (h->value
		 * is trimmed already).
		 */
		if (!m->contact_star && m->ncontacts < SIP_MAX_CONTACTS) {
			r = parse_contact(h->value, &m->contacts[m->ncontacts], &why, true);
			if (r == 0) {
				m->ncontacts++;
				continue;
			}
			if (r < 0) {
				m->error = why;
				return TDM_EMALFORMED;
			}
		}
		while (sip_list_next(h->value, &pos, &v)) {
			any = true;
			/* STAR = SWS "*" SWS, alone (§10.2.2, §20.10). */
			if (v.len == 1 && v.s[0] == '*') {
				if (m->contact_star || m->ncontacts)
					goto star_mixed;
				m->contact_star = true;
				continue;
			}
			if (m->contact_star)
				goto star_mixed;
			if (m->ncontacts == SIP_MAX_CONTACTS) {
				m->error = "Too many Contact values";
				return TDM_ETOOMANY;
			}
			if (parse_contact(v, &m->contacts[m->ncontacts], &why, false) != 0) {
				m->error = why;
				return TDM_EMALFORMED;
			}
			m->ncontacts++;
		}
		if (!any) {
			m->error = "Malformed Contact";
			return TDM_EMALFORMED;
		}
	}
	return 0;

star_mixed:
	m->error = "Contact * mixed with other contacts";
	return TDM_EMALFORMED;
}

/* ------------------------------------------------------------------ */
/* Authorization (RFC 7235 §2.1, RFC 7616 §3.4, RFC 3261 §25.1). */

/* The one entry of the fields table below that a parameter name can
 * match, by its length and first letter (index, or -1); the caller
 * compares the whole name. */
static int cred_field(tstr n)
{
	char c = (char)(n.s[0] | 0x20);

	switch (n.len) {
	case 2: return 9;                         /* nc */
	case 3: return c == 'u' ? 3 : 8;          /* uri, qop */
	case 5: return c == 'r' ? 1 : 2;          /* realm, nonce */
	case 6: return c == 'c' ? 6 : 7;          /* cnonce, opaque */
	case 8: return c == 'u' ? 0 : 4;          /* username, response */
	case 9: return 5;                         /* algorithm */
	default: return -1;
	}
}

int sip_parse_digest_cred(tstr value, struct sip_digest_cred *out)
{
#define F(name) { #name, sizeof(#name) - 1, offsetof(struct sip_digest_cred, name) }
	static const struct {
		const char *name;
		uint32_t len;
		size_t off;
	} fields[] = {
		F(username), F(realm), F(nonce), F(uri), F(response),
		F(algorithm), F(cnonce), F(opaque), F(qop), F(nc),
	};
#undef F
	struct sip_digest_cred c = { 0 };
	tstr v = trim(value), name, pv;
	uint32_t i, e, seen = 0, nparams = 0;

	i = span(v, 0, C_TOKEN);
	if (i == 0)
		goto malformed;
	if (!tstr_caseeq(tstr_sub(v, 0, i), TSTR_LIT("Digest")))
		return TDM_ENOTFOUND;
	e = lws(v, i);
	if (e == i)
		goto malformed;
	i = e;
	/* auth-param *(COMMA auth-param); empty list elements are allowed
	 * (RFC 7230 §7). Each known parameter at most once (RFC 7616 §3.4). */
	while (i < v.len) {
		if (v.s[i] == ',') {
			i = lws(v, i + 1);
			continue;
		}
		e = span(v, i, C_TOKEN);
		if (e == i)
			goto malformed;
		name = tstr_sub(v, i, e - i);
		i = lws(v, e);
		if (i >= v.len || v.s[i] != '=')
			goto malformed;
		i = lws(v, i + 1);
		if (i >= v.len)
			goto malformed;
		if (v.s[i] == '"') {
			e = quoted_end(v, i);
			if (e == 0)
				goto malformed;
			pv = tstr_sub(v, i + 1, e - i - 2);
		} else {
			e = span(v, i, C_TOKEN);
			if (e == i)
				goto malformed;
			pv = tstr_sub(v, i, e - i);
		}
		i = lws(v, e);
		if (i < v.len && v.s[i] != ',')
			goto malformed;
		nparams++;
		int k = cred_field(name);
		if (k < 0 || !name_is(name.s, fields[k].name, fields[k].len))
			continue;
		if (seen & (1u << k))
			goto malformed;
		seen |= 1u << k;
		*(tstr *)((char *)&c + fields[k].off) = pv;
	}
	if (nparams == 0)
		goto malformed;
	*out = c;
	return 0;

malformed:
	return TDM_EMALFORMED;
}
