/* SPDX-License-Identifier: MIT */
/*
 * Stateless response building: the status line and the fields copied from
 * the request. See sip_reply.h.
 *
 * This runs for every request, so the common case is written as a few
 * block copies: a status line from a table, each copied field together
 * with its CRLF straight from the request, the top Via's sent-by as
 * written when it is written the canonical way, its parameters in runs.
 * Anything unusual takes the general path, which gives the same bytes.
 */
#include <arpa/inet.h>
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "siphash.h"
#include "sip_reply.h"

#define SIP_DEFAULT_PORT 5060

bool sip_reply_dest(const struct sip_msg *m, const union tdm_addr *src,
		    union tdm_addr *dst)
{
	uint16_t port;

	*dst = *src;
	/* With rport, the source port as it is (addr_port(), inline). */
	if (m->via.rport)
		return (src->sa.sa_family == AF_INET6 ? src->in6.sin6_port : src->in4.sin_port) != 0;
	port = m->via.port ? m->via.port : SIP_DEFAULT_PORT;
	addr_set_port(dst, port);
	return true;
}

/* ------------------------------------------------------------------ */
/* The To tag: SipHash-1-3 (one compression and three finalisation rounds
 * of SipHash), keyed, over the Call-ID and the From tag. A tag only has to
 * be the same for every retransmission and not guessable without the key;
 * this is the variant hash tables use for that, at about half the cost of
 * SipHash-2-4. */

/*
 * SipHash-1-3 of a, zero bytes up to a multiple of 8, then b: each part is
 * read in place. (A Call-ID holds no NUL byte, so the padding cannot make
 * two different requests look alike.)
 */
static uint64_t siphash13_two(const uint8_t key[16], const uint8_t *a, size_t alen,
			      const uint8_t *b, size_t blen)
{
	const uint8_t *p, *end;
	struct siphash h;

	siphash_init(&h, key);
	for (p = a, end = a + (alen & ~(size_t)7); p < end; p += 8)
		siphash_word(&h, siphash_le64(p));
	if (alen & 7)
		siphash_word(&h, siphash_tail(a, alen));
	for (p = b, end = b + (blen & ~(size_t)7); p < end; p += 8)
		siphash_word(&h, siphash_le64(p));
	return siphash_final(&h, siphash_tail(b, blen) |
				 (uint64_t)((alen + 7) / 8 * 8 + blen) << 56);
}

void sip_reply_to_tag(const uint8_t key[16], const struct sip_msg *m,
		      char out[SIP_TO_TAG_LEN])
{
	static const uint8_t none[1];
	uint32_t n, t;
	uint64_t h;

	/* Call-ID and From tag identify the request's dialog-to-be; past
	 * 512 bytes each they add nothing a tag needs. (A 400 may have
	 * neither.) */
	n = m->call_id.len < 512 ? m->call_id.len : 512;
	t = m->from.tag.len < 512 ? m->from.tag.len : 512;
	h = siphash13_two(key, n ? (const uint8_t *)m->call_id.s : none, n,
		      t ? (const uint8_t *)m->from.tag.s : none, t);

	/* 16 lower-case hex digits, the lowest nibble first. */
#if defined(__SSSE3__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Each byte's two nibbles side by side (low one first), then one
	 * table look-up for all 16 (PSHUFB). */
	const __m128i mask = _mm_set1_epi8(0x0f);
	const __m128i digits = _mm_setr_epi8('0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
					     'a', 'b', 'c', 'd', 'e', 'f');
	__m128i b = _mm_cvtsi64_si128((long long)h);
	__m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, mask),
					_mm_and_si128(_mm_srli_epi16(b, 4), mask));

	_mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(digits, nib));
#else
	/* 32 bits at a time: spread each nibble into a byte, then add '0',
	 * or 'a' - 10 for 10..15. */
	for (int half = 0; half < 2; half++, h >>= 32) {
		uint64_t x = (uint32_t)h;

		x = (x | x << 16) & 0x0000ffff0000ffffull;
		x = (x | x << 8) & 0x00ff00ff00ff00ffull;
		x = (x | x << 4) & 0x0f0f0f0f0f0f0f0full;
		x += 0x3030303030303030ull +
		     (((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull) * 0x27;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		x = __builtin_bswap64(x);
#endif
		memcpy(out + 8 * half, &x, 8);
	}
#endif
}

/* ------------------------------------------------------------------ */
/* Small writers. */

/* The pieces of a response go through wbuf_put() (bounds-checked). */
static inline void put(struct wbuf *w, const char *src, size_t n)
{
	wbuf_put(w, src, n);
}

static inline void putt(struct wbuf *w, tstr t)
{
	wbuf_put(w, t.s, t.len);
}

/* "00" to "99". */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Decimal digits of v <= 99999. */
static unsigned ndigits(unsigned v)
{
	return v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
}

/* Unsigned decimal of at most 5 digits (a port, a status code), written
 * in place two digits at a time. */
static void put_u16(struct wbuf *w, unsigned v)
{
	unsigned n = ndigits(v), i = n;

	if (n > wbuf_room(w)) {
		w->overflow = true;
		return;
	}
	for (; v >= 10; v /= 100) {
		i -= 2;
		memcpy(w->p + i, digit_pairs + 2 * (v % 100), 2);
	}
	if (i)
		w->p[0] = (char)('0' + v);
	w->p += n;
}

/* A field of the request as written, with its line end: one copy when
 * the request ends it with CRLF, as almost every request does. */
static void put_line(struct wbuf *w, const struct sip_msg *m, const struct sip_header *h)
{
	const char *e = h->line.s + h->line.len;

	if (m->buf + m->len - e >= 2 && e[0] == '\r' && e[1] == '\n') {
		put(w, h->line.s, h->line.len + 2);
		return;
	}
	putt(w, h->line);
	WBUF_LIT(w, "\r\n");
}

static const struct sip_header *first(const struct sip_msg *m, enum sip_hdr id)
{
	int i = m->hdr_first[id];

	return i >= 0 && i < m->nhdrs ? &m->hdrs[i] : NULL;
}

/* Each octet in decimal: its length and up to three digits. */
#define OCTET(v)                                                               \
	{ (v) >= 100 ? 3 : (v) >= 10 ? 2 : 1,                                   \
	  { (char)('0' + ((v) >= 100 ? (v) / 100 : (v) >= 10 ? (v) / 10 : (v))),       \
	    (char)((v) >= 100 ? '0' + (v) / 10 % 10 : (v) >= 10 ? '0' + (v) % 10 : 0), \
	    (char)((v) >= 100 ? '0' + (v) % 10 : 0) } }
#define OCTET4(v) OCTET(v), OCTET((v) + 1), OCTET((v) + 2), OCTET((v) + 3)
#define OCTET16(v) OCTET4(v), OCTET4((v) + 4), OCTET4((v) + 8), OCTET4((v) + 12)
#define OCTET64(v) OCTET16(v), OCTET16((v) + 16), OCTET16((v) + 32), OCTET16((v) + 48)
static const struct {
	uint8_t len;
	char d[3];
} octet_text[256] = { OCTET64(0), OCTET64(64), OCTET64(128), OCTET64(192) };

/* The IP of src as addr_format_ip() writes it, without a NUL; IPv4
 * without libc. out has TDM_ADDR_STRLEN bytes. Returns the length. */
static size_t format_ip(const union tdm_addr *src, char *out)
{
	if (src->sa.sa_family == AF_INET) {
		const uint8_t *b = (const uint8_t *)&src->in4.sin_addr.s_addr;
		char *p = out;

		for (int i = 0; i < 4; i++) {
			memcpy(p, octet_text[b[i]].d, 3);
			p += octet_text[b[i]].len;
			*p++ = '.';
		}
		return (size_t)(p - 1 - out);
	}
	addr_format_ip(src, out, TDM_ADDR_STRLEN);
	return strlen(out);
}

/* ------------------------------------------------------------------ */
/* The top Via. */

/* Is the Via host the source address, written the usual way? A host
 * written otherwise ("010.0.0.1", a name) just gets a received parameter,
 * which is always allowed. */
static bool host_is(tstr host, const char *ip, size_t iplen)
{
	if (host.len >= 2 && host.s[0] == '[')
		host = tstr_sub(host, 1, host.len - 2);
	return tstr_caseeq(host, tstr_make(ip, iplen));
}

static tstr trim(tstr t)
{
	while (t.len && (t.s[0] == ' ' || t.s[0] == '\t' || t.s[0] == '\r' || t.s[0] == '\n')) {
		t.s++;
		t.len--;
	}
	while (t.len && (t.s[t.len - 1] == ' ' || t.s[t.len - 1] == '\t' ||
			 t.s[t.len - 1] == '\r' || t.s[t.len - 1] == '\n'))
		t.len--;
	return t;
}

/* Is name (as written) received or rport, which we rewrite? */
static bool is_rewritten(tstr name)
{
	return (name.len == 5 && tstr_caseeq(name, TSTR_LIT("rport"))) ||
	       (name.len == 8 && tstr_caseeq(name, TSTR_LIT("received")));
}

/* Copy the via parameters except received and rport, each as ";" and the
 * parameter without surrounding LWS. */
static void put_via_params_slow(struct wbuf *w, tstr params)
{
	uint32_t i = 0;

	while (i < params.len) {
		uint32_t start, end;
		bool quoted = false;

		while (i < params.len && params.s[i] == ';')
			i++;
		start = i;
		for (; i < params.len; i++) {
			char c = params.s[i];
			if (quoted && c == '\\') {
				i++;
				continue;
			}
			if (c == '"')
				quoted = !quoted;
			else if (c == ';' && !quoted)
				break;
		}
		end = i < params.len ? i : params.len;

		tstr seg = trim(tstr_sub(params, start, end - start));
		if (seg.len == 0)
			continue;
		int32_t eq = tstr_chr(seg, '=');
		tstr name = trim(eq < 0 ? seg : tstr_sub(seg, 0, (uint32_t)eq));
		if (is_rewritten(name))
			continue;
		wbuf_putc(w, ';');
		wbuf_putt(w, seg);
	}
}

/* Does the parameter text at p (after its ';', up to end) start with the
 * name lit (lower-case letters, len bytes) followed by '=' or its end?
 * For a letter of lit, (b | 0x20) == letter holds for its two cases only,
 * so this is ascii_lower() comparison. */
static bool param_named(const char *p, const char *end, const char *lit, size_t len)
{
	if ((size_t)(end - p) < len || ((size_t)(end - p) > len && p[len] != '='))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((p[i] | 0x20) != lit[i])
			return false;
	return true;
}

/*
 * Copy the via parameters except received and rport. Plain parameters
 * (no LWS, no quotes, see struct sip_via) come out as written less the
 * dropped ones, so they are copied in runs; any others are rebuilt one by
 * one, each as ';' and the parameter without LWS around it.
 */
static void put_via_params(struct wbuf *w, const struct sip_via *v)
{
	const char *p = v->params.s, *end = p + v->params.len, *run = p;

	if (!v->plain || v->params.len == 0 || p[0] != ';') {
		put_via_params_slow(w, v->params);
		return;
	}
	if (v->kept_len != SIP_VIA_KEPT_SCATTERED) {
		/* The usual ";branch=...;rport": the parameters to drop all
		 * come last (the parser saw where). */
		put(w, p, v->kept_len);
		return;
	}
	while (p < end) {
		/* p is at the ';' that starts a parameter. */
		const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
		const char *ne = next ? next : end;

		if (param_named(p + 1, ne, "rport", 5) || param_named(p + 1, ne, "received", 8)) {
			put(w, run, (size_t)(p - run));
			run = ne;
		}
		p = ne;
	}
	put(w, run, (size_t)(end - run));
}

static void put_top_via(struct wbuf *w, const struct sip_msg *m, const struct sip_header *h,
			const struct sip_src_text *src)
{
	const struct sip_via *v = &m->via;
	const char *line_end = h->line.s + h->line.len;
	const char *parm_end = v->value.s + v->value.len;
	const char *sent_end = v->params.len ? v->params.s : parm_end;
	const char *host_end = v->host.s + v->host.len;

	/* "Via: SIP/2.0/UDP host:port" as written, when it is written as we
	 * would write it: one SP before the host, the port without LWS or
	 * leading zeros. */
	if (v->protocol.s == v->value.s && v->host.s == v->protocol.s + v->protocol.len + 1 &&
	    v->host.s[-1] == ' ' &&
	    (v->port ? sent_end - host_end == 1 + (ptrdiff_t)ndigits(v->port) &&
			       host_end[0] == ':' && host_end[1] != '0'
		     : host_end == sent_end)) {
		put(w, h->line.s, (size_t)(sent_end - h->line.s));
	} else {
		/* "Via: " or "v: " exactly as the request wrote it. */
		put(w, h->line.s, (size_t)(v->value.s - h->line.s));
		wbuf_putt(w, v->protocol);
		wbuf_putc(w, ' ');
		wbuf_putt(w, v->host);
		if (v->port) {
			wbuf_putc(w, ':');
			put_u16(w, v->port);
		}
	}
	if (v->params.len)
		put_via_params(w, v);

	/* RFC 3261 §18.2.1: received when sent-by is not the source address;
	 * RFC 3581 §4: always with rport, and rport gets the source port.
	 * Both texts are ready; with room for the longest, each is one copy
	 * of a fixed size, cut to its length. */
	bool received = v->rport || !host_is(v->host, src->received + 10,
					     (size_t)src->received_len - 10);

	if (wbuf_room(w) >= 64 + 16) {
		if (received) {
			memcpy(w->p, src->received, 64);
			w->p += src->received_len;
		}
		if (v->rport) {
			memcpy(w->p, src->rport, 16);
			w->p += src->rport_len;
		}
	} else {
		if (received)
			put(w, src->received, src->received_len);
		if (v->rport)
			put(w, src->rport, src->rport_len);
	}
	/* Further via-parms of the same field, verbatim. */
	put(w, parm_end, (size_t)(line_end - parm_end));
	WBUF_LIT(w, "\r\n");
}

/* ------------------------------------------------------------------ */

/* Standard reason phrases, for sip_reason() and the status lines. */
#define SIP_REASONS(X)                                                         \
	X(100, "Trying")                                                       \
	X(200, "OK")                                                           \
	X(302, "Moved Temporarily")                                            \
	X(400, "Bad Request")                                                  \
	X(401, "Unauthorized")                                                 \
	X(403, "Forbidden")                                                    \
	X(404, "Not Found")                                                    \
	X(405, "Method Not Allowed")                                           \
	X(416, "Unsupported URI Scheme")                                       \
	X(420, "Bad Extension")                                                \
	X(421, "Extension Required")                                           \
	X(423, "Interval Too Brief")                                           \
	X(480, "Temporarily Unavailable")                                      \
	X(481, "Call/Transaction Does Not Exist")                              \
	X(500, "Server Internal Error")                                        \
	X(501, "Not Implemented")                                              \
	X(503, "Service Unavailable")                                          \
	X(505, "Version Not Supported")

/* "SIP/2.0 200 OK\r\n" for a code with a standard reason phrase; empty
 * for any other code. */
static tstr status_line(unsigned code)
{
#define STATUS_LINE(c, text) case c: return TSTR_LIT("SIP/2.0 " #c " " text "\r\n");
	switch (code) {
	SIP_REASONS(STATUS_LINE)
	default: return TSTR_NULL;
	}
#undef STATUS_LINE
}

/* Is a the same source as b (family, address, port)? Only for the two
 * families a source has; anything else is never the same. */
static bool same_src(const union tdm_addr *a, const union tdm_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr &&
		       a->in4.sin_port == b->in4.sin_port;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return false;
}

const struct sip_src_text *sip_src_text_set(struct sip_src_text *t, const union tdm_addr *src)
{
	struct wbuf w;

	if (same_src(&t->addr, src))
		return t;
	_Static_assert(sizeof(t->received) >= 10 + TDM_ADDR_STRLEN, "room for the IP");
	_Static_assert(sizeof(t->received) >= 64 && sizeof(t->rport) >= 16, "fixed copies");
	memset(t, 0, sizeof(*t));
	memcpy(t->received, ";received=", 10);
	t->received_len = (uint8_t)(10 + format_ip(src, t->received + 10));
	wbuf_init(&w, t->rport, sizeof(t->rport));
	WBUF_LIT(&w, ";rport=");
	put_u16(&w, addr_port(src));
	t->rport_len = (uint8_t)wbuf_len(&w);
	t->addr = *src;
	return t;
}

void sip_reply_begin(struct wbuf *w, const struct sip_msg *m, unsigned code,
		     const char *reason, const union tdm_addr *src, const char *to_tag)
{
	struct sip_src_text t;

	sip_src_text_init(&t);
	sip_reply_begin_src(w, m, code, reason, sip_src_text_of(&t, src), to_tag);
}

/*
 * Copy n bytes of the request at s to d, in 16-byte pieces when the
 * request holds the bytes the last piece reads past s + n (they are
 * written past d + n too, where the next piece goes: the caller has the
 * room). Returns d + n.
 */
static inline __attribute__((always_inline)) char *span(char *d, const char *s, size_t n,
							 const char *req_end)
{
	if (n <= 64 && (size_t)(req_end - s) >= ((n + 15) & ~(size_t)15)) {
		memcpy(d, s, 16);
		if (n > 16) {
			memcpy(d + 16, s + 16, 16);
			if (n > 32) {
				memcpy(d + 32, s + 32, 16);
				if (n > 48)
					memcpy(d + 48, s + 48, 16);
			}
		}
		return d + n;
	}
	memcpy(d, s, n);
	return d + n;
}

/* Does the field h end with CRLF in the request? */
static inline bool ends_crlf(const struct sip_msg *m, const struct sip_header *h)
{
	const char *e = h->line.s + h->line.len;

	return m->buf + m->len - e >= 2 && e[0] == '\r' && e[1] == '\n';
}

/*
 * The usual response head, when the buffer has room for the request and
 * what a response adds (status line, received, rport, To tag: under 256
 * bytes with the slack of the fixed-size copies): one Via written the way
 * we would write it, with plain parameters; From, To, Call-ID and CSeq
 * each ended by CRLF. Then no piece needs a bounds check, and the pieces
 * are copied without calls. Returns false, having written nothing, when
 * the request is not of that kind: sip_reply_begin_src() goes the general
 * way, which gives the same bytes.
 */
static bool begin_fast(struct wbuf *w, const struct sip_msg *m, tstr sl,
		       const struct sip_src_text *src, const char *to_tag)
{
	const struct sip_header *top = first(m, SIP_HDR_VIA), *from = first(m, SIP_HDR_FROM);
	const struct sip_header *to = first(m, SIP_HDR_TO), *cid = first(m, SIP_HDR_CALL_ID);
	const struct sip_header *cseq = first(m, SIP_HDR_CSEQ);
	const struct sip_via *v = &m->via;
	const char *req_end = m->buf + m->len;
	bool tag = to_tag && m->to.tag.len == 0;
	char *p;

	if (!top || !from || !to || !cid || !cseq || !m->via_ok ||
	    m->hdr_count[SIP_HDR_VIA] != 1 || wbuf_room(w) < (size_t)m->len + 256 ||
	    !ends_crlf(m, from) || (!tag && !ends_crlf(m, to)) || !ends_crlf(m, cid) ||
	    !ends_crlf(m, cseq))
		return false;

	const char *line_end = top->line.s + top->line.len;
	const char *parm_end = v->value.s + v->value.len;
	const char *sent_end = v->params.len ? v->params.s : parm_end;
	const char *host_end = v->host.s + v->host.len;

	/* put_top_via()'s sent-by as written, and put_via_params()'s
	 * parameters in one run right after it. */
	if (!(v->protocol.s == v->value.s && v->host.s == v->protocol.s + v->protocol.len + 1 &&
	      v->host.s[-1] == ' ' &&
	      (v->port ? sent_end - host_end == 1 + (ptrdiff_t)ndigits(v->port) &&
				 host_end[0] == ':' && host_end[1] != '0'
		       : host_end == sent_end)))
		return false;
	if (v->params.len && (!v->plain || v->params.s[0] != ';' ||
			      v->kept_len == SIP_VIA_KEPT_SCATTERED))
		return false;

	p = w->p;
	if (sl.len == 16)
		memcpy(p, sl.s, 16);   /* "SIP/2.0 200 OK\r\n" */
	else
		memcpy(p, sl.s, sl.len);
	p += sl.len;
	p = span(p, top->line.s,
		 (size_t)(sent_end - top->line.s) + (v->params.len ? v->kept_len : 0), req_end);
	if (v->rport || !host_is(v->host, src->received + 10, (size_t)src->received_len - 10)) {
		/* An IPv4 source fits in 32. */
		if (src->received_len <= 32)
			memcpy(p, src->received, 32);
		else
			memcpy(p, src->received, 64);
		p += src->received_len;
	}
	if (v->rport) {
		memcpy(p, src->rport, 16);
		p += src->rport_len;
	}
	if (parm_end != line_end)
		p = span(p, parm_end, (size_t)(line_end - parm_end), req_end);
	memcpy(p, "\r\n", 2);
	p += 2;
	p = span(p, from->line.s, from->line.len + 2, req_end);
	if (tag) {
		p = span(p, to->line.s, to->line.len, req_end);
		memcpy(p, ";tag=", 5);
		memcpy(p + 5, to_tag, SIP_TO_TAG_LEN);
		memcpy(p + 5 + SIP_TO_TAG_LEN, "\r\n", 2);
		p += 5 + SIP_TO_TAG_LEN + 2;
	} else {
		p = span(p, to->line.s, to->line.len + 2, req_end);
	}
	if (cseq->line.s == cid->line.s + cid->line.len + 2) {
		p = span(p, cid->line.s, cid->line.len + 2 + cseq->line.len + 2, req_end);
	} else {
		p = span(p, cid->line.s, cid->line.len + 2, req_end);
		p = span(p, cseq->line.s, cseq->line.len + 2, req_end);
	}
	w->p = p;
	return true;
}

void sip_reply_begin_src(struct wbuf *w, const struct sip_msg *m, unsigned code,
			 const char *reason, const struct sip_src_text *src,
			 const char *to_tag)
{
	const struct sip_header *h, *hc, *top = first(m, SIP_HDR_VIA);
	tstr sl = reason ? TSTR_NULL : status_line(code);

	if (sl.len && begin_fast(w, m, sl, src, to_tag))
		return;
	if (sl.len) {
		putt(w, sl);
	} else {
		WBUF_LIT(w, "SIP/2.0 ");
		if (code <= 99999)
			put_u16(w, code);
		else
			wbuf_putu(w, code);
		wbuf_putc(w, ' ');
		wbuf_puts(w, reason ? reason : sip_reason(code));
		WBUF_LIT(w, "\r\n");
	}

	if (top) {
		if (m->via_ok)
			put_top_via(w, m, top, src);
		else
			put_line(w, m, top);
		if (m->hdr_count[SIP_HDR_VIA] > 1)
			for (h = top + 1; h < m->hdrs + m->nhdrs; h++)
				if (h->id == SIP_HDR_VIA)
					put_line(w, m, h);
	}
	if ((h = first(m, SIP_HDR_FROM)))
		put_line(w, m, h);
	if ((h = first(m, SIP_HDR_TO))) {
		if (to_tag && m->to.tag.len == 0) {
			/* ";tag=" + 16 digits + CRLF: 23 bytes, in three stores. */
			putt(w, h->line);
			if (wbuf_room(w) >= 5 + SIP_TO_TAG_LEN + 2) {
				memcpy(w->p, ";tag=", 5);
				memcpy(w->p + 5, to_tag, SIP_TO_TAG_LEN);
				memcpy(w->p + 5 + SIP_TO_TAG_LEN, "\r\n", 2);
				w->p += 5 + SIP_TO_TAG_LEN + 2;
			} else {
				w->overflow = true;
			}
		} else {
			put_line(w, m, h);
		}
	}
	h = first(m, SIP_HDR_CALL_ID);
	hc = first(m, SIP_HDR_CSEQ);
	if (h && hc && hc->line.s == h->line.s + h->line.len + 2 &&
	    h->line.s[h->line.len] == '\r' && h->line.s[h->line.len + 1] == '\n') {
		/* Call-ID and CSeq next to each other, as they usually are: one
		 * copy of both lines. */
		put_line(w, m, &(struct sip_header){
			.line = tstr_make(h->line.s, h->line.len + 2 + hc->line.len) });
		return;
	}
	if (h)
		put_line(w, m, h);
	if (hc)
		put_line(w, m, hc);
}

void sip_reply_end(struct wbuf *w, const char *server)
{
	if (server && *server) {
		WBUF_LIT(w, "Server: ");
		wbuf_puts(w, server);
		WBUF_LIT(w, "\r\nContent-Length: 0\r\n\r\n");
		return;
	}
	WBUF_LIT(w, "Content-Length: 0\r\n\r\n");
}

const char *sip_reason(unsigned code)
{
#define REASON(c, text) case c: return text;
	switch (code) {
	SIP_REASONS(REASON)
	default: return "Unknown";
	}
#undef REASON
}
