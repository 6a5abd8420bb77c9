/* SPDX-License-Identifier: MIT */
/*
 * tandem-loadgen's SIP: the requests it sends (REGISTER, INVITE, ACK, with
 * digest credentials), the few fields it reads from responses, and the
 * name patterns. Plain RFC 3261 / RFC 2617 / RFC 8760: nothing here is
 * specific to tandem.
 *
 * The response parser reads bytes from the network: every access is checked
 * against the datagram's length, a line at a time, and anything it does not
 * understand is either skipped (an unusable challenge) or makes the whole
 * response TDM_EMALFORMED (no status line, no Via branch, no CSeq).
 */
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "err.h"
#include "loadgen.h"
#include "wbuf.h"

/* ---- patterns ----------------------------------------------------------- */

int lg_pattern_parse(const char *text, struct lg_pattern *out, const char **err)
{
	char *dst;
	unsigned len = 0;

	memset(out, 0, sizeof(*out));
	dst = out->pre;
	for (const char *p = text; *p; p++) {
		char c = *p;

		if (c == '%') {
			if (p[1] == '%') {
				p++;
			} else if (p[1] == 'u') {
				if (out->has_num) {
					*err = "at most one %u";
					return TDM_EMALFORMED;
				}
				p++;
				out->has_num = true;
				out->pre_len = (uint8_t)len;
				dst = out->post;
				len = 0;
				continue;
			} else {
				*err = "'%' must be followed by 'u' or '%'";
				return TDM_EMALFORMED;
			}
		}
		if ((unsigned char)c < 0x21 || c == 0x7f) {
			*err = "spaces and control characters are not allowed";
			return TDM_EMALFORMED;
		}
		if (len + 1 >= LG_PATTERN_MAX) {
			*err = "too long";
			return TDM_EMALFORMED;
		}
		dst[len++] = c;
	}
	if (out->has_num)
		out->post_len = (uint8_t)len;
	else
		out->pre_len = (uint8_t)len;
	return 0;
}

int lg_pattern_expand(const struct lg_pattern *p, uint32_t n, char *buf, size_t cap)
{
	struct wbuf w;
	char num[12];
	unsigned at = sizeof(num);

	if (cap == 0)
		return TDM_ENOSPACE;
	if (p->has_num)
		do {
			num[--at] = (char)('0' + n % 10);
			n /= 10;
		} while (n);
	wbuf_init(&w, buf, cap - 1);
	wbuf_put(&w, p->pre, p->pre_len);
	wbuf_put(&w, num + at, sizeof(num) - at);
	wbuf_put(&w, p->post, p->post_len);
	if (w.overflow) {
		buf[0] = '\0';
		return TDM_ENOSPACE;
	}
	buf[wbuf_len(&w)] = '\0';
	return (int)wbuf_len(&w);
}

/* ---- response parsing --------------------------------------------------- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Linear white space of a header value, folded lines included. */
static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static tstr trim(tstr t)
{
	while (t.len && is_lws(t.s[0])) {
		t.s++;
		t.len--;
	}
	while (t.len && is_lws(t.s[t.len - 1]))
		t.len--;
	return t;
}

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-.!%*_+`'~", c) != NULL;
}

enum hdr {
	HDR_OTHER,
	HDR_VIA,
	HDR_CSEQ,
	HDR_TO,
	HDR_WWW_AUTH,
	HDR_PROXY_AUTH,
};

static enum hdr header_kind(tstr name)
{
	if (tstr_caseeq_lit(name, "via") || tstr_caseeq_lit(name, "v"))
		return HDR_VIA;
	if (tstr_caseeq_lit(name, "cseq"))
		return HDR_CSEQ;
	if (tstr_caseeq_lit(name, "to") || tstr_caseeq_lit(name, "t"))
		return HDR_TO;
	if (tstr_caseeq_lit(name, "www-authenticate"))
		return HDR_WWW_AUTH;
	if (tstr_caseeq_lit(name, "proxy-authenticate"))
		return HDR_PROXY_AUTH;
	return HDR_OTHER;
}

/* The first value of a comma-separated header (Via may carry several), not
 * splitting inside quotes or angle brackets. */
static tstr first_value(tstr v)
{
	bool quoted = false;
	int angle = 0;

	for (uint32_t i = 0; i < v.len; i++) {
		char c = v.s[i];

		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = false;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '<') {
			angle++;
		} else if (c == '>' && angle > 0) {
			angle--;
		} else if (c == ',' && angle == 0) {
			return tstr_sub(v, 0, i);
		}
	}
	return v;
}

/*
 * The value of parameter `name` in a ";a=b;c=d" list (in `params`, which
 * starts after whatever precedes the first ';'). A parameter without '='
 * has an empty value. Returns false when absent.
 */
static bool find_param(tstr params, const char *name, tstr *value)
{
	uint32_t i = 0;

	while (i < params.len) {
		uint32_t start, eq = 0, end;

		if (params.s[i] != ';') {
			i++;
			continue;
		}
		start = ++i;
		while (i < params.len && params.s[i] != ';') {
			if (params.s[i] == '=' && eq == 0)
				eq = i;
			i++;
		}
		end = i;
		tstr key = trim(tstr_sub(params, start, (eq ? eq : end) - start));
		if (tstr_caseeq_lit(key, name)) {
			*value = eq ? trim(tstr_sub(params, eq + 1, end - eq - 1)) : TSTR_NULL;
			return true;
		}
	}
	return false;
}

static int parse_via(tstr v, tstr *branch)
{
	tstr first = first_value(v);
	int32_t semi = tstr_chr(first, ';');

	if (semi < 0 || !find_param(tstr_tail(first, (uint32_t)semi), "branch", branch) ||
	    branch->len == 0)
		return TDM_EMALFORMED;
	return 0;
}

static int parse_cseq(tstr v, struct lg_response *r)
{
	uint32_t i = 0;
	uint64_t n;

	v = trim(v);
	while (i < v.len && v.s[i] >= '0' && v.s[i] <= '9')
		i++;
	if (i == 0 || i >= v.len || !is_lws(v.s[i]) ||
	    !tstr_to_u64(tstr_sub(v, 0, i), UINT32_MAX, &n))
		return TDM_EMALFORMED;
	r->cseq = (uint32_t)n;
	r->cseq_method = trim(tstr_tail(v, i));
	if (r->cseq_method.len == 0)
		return TDM_EMALFORMED;
	return 0;
}

/* The tag of a To header: parameters after the URI (after '>' when the URI
 * is in angle brackets; otherwise after the URI, which cannot contain ';'
 * parameters of its own in this form, RFC 3261 §20). */
static void parse_to(tstr v, tstr *tag)
{
	tstr params = v;
	int32_t gt;

	*tag = TSTR_NULL;
	if (tstr_chr(v, '<') >= 0) {
		gt = tstr_chr(v, '>');
		if (gt < 0)
			return;
		params = tstr_tail(v, (uint32_t)gt + 1);
	}
	gt = tstr_chr(params, ';');
	if (gt < 0)
		return;
	if (!find_param(tstr_tail(params, (uint32_t)gt), "tag", tag))
		*tag = TSTR_NULL;
}

/*
 * Copy a parameter value into dst, removing the quotes of a quoted-string
 * and its backslash escapes. Returns false when it does not fit (cap
 * includes the NUL) or the quoting is broken.
 */
static bool copy_value(tstr v, char *dst, size_t cap, uint16_t *out_len)
{
	size_t n = 0;

	if (v.len >= 2 && v.s[0] == '"') {
		if (v.s[v.len - 1] != '"')
			return false;
		for (uint32_t i = 1; i + 1 < v.len; i++) {
			char c = v.s[i];
			if (c == '\\') {
				if (i + 2 >= v.len)
					return false;
				c = v.s[++i];
			} else if (c == '"') {
				return false;
			}
			if (n + 1 >= cap)
				return false;
			dst[n++] = c;
		}
	} else {
		if (v.len && v.s[0] == '"')
			return false;
		for (uint32_t i = 0; i < v.len; i++) {
			if (n + 1 >= cap)
				return false;
			dst[n++] = v.s[i];
		}
	}
	dst[n] = '\0';
	*out_len = (uint16_t)n;
	return true;
}

/* Does a qop-options value ("auth", "auth,auth-int", ...) include "auth"? */
static bool qop_has_auth(const char *qop)
{
	const char *p = qop;

	while (*p) {
		const char *end;
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		end = p;
		while (*end && *end != ',' && *end != ' ' && *end != '\t')
			end++;
		len = (size_t)(end - p);
		if (len == 4 && strncasecmp(p, "auth", 4) == 0)
			return true;
		p = end;
	}
	return false;
}

/* The outcome of reading one challenge. */
enum chal_result {
	CHAL_OK,                 /* usable */
	CHAL_SKIP,               /* well-formed but unusable (algorithm, size) */
	CHAL_BAD,                /* broken: stop reading this header */
};

/*
 * Read one "Digest k=v, k=v, ..." challenge starting at *pos in v. Stops
 * before a following "Scheme k=v" challenge in the same header value, and
 * leaves *pos there.
 */
static enum chal_result read_challenge(tstr v, uint32_t *pos, bool *is_digest,
				       struct lg_challenge *c)
{
	uint32_t i = *pos, start;
	bool has_nonce = false, has_realm = false, unusable = false;
	char scratch[LG_NONCE_MAX];
	uint16_t slen;

	memset(c, 0, sizeof(*c));
	c->alg = LG_ALG_MD5;
	while (i < v.len && (is_lws(v.s[i]) || v.s[i] == ','))
		i++;
	start = i;
	while (i < v.len && is_token_char(v.s[i]))
		i++;
	if (i == start || i >= v.len || !is_lws(v.s[i]))
		return CHAL_BAD;
	*is_digest = tstr_caseeq_lit(tstr_sub(v, start, i - start), "digest");

	for (;;) {
		uint32_t ks, ke, vs;
		tstr key, val;

		while (i < v.len && (is_lws(v.s[i]) || v.s[i] == ','))
			i++;
		if (i >= v.len)
			break;
		ks = i;
		while (i < v.len && is_token_char(v.s[i]))
			i++;
		ke = i;
		if (ke == ks)
			return CHAL_BAD;
		while (i < v.len && is_lws(v.s[i]))
			i++;
		if (i >= v.len || v.s[i] != '=') {
			/* A token without '=': the next challenge's scheme. */
			i = ks;
			break;
		}
		i++;
		while (i < v.len && is_lws(v.s[i]))
			i++;
		vs = i;
		if (i < v.len && v.s[i] == '"') {
			i++;
			while (i < v.len && v.s[i] != '"') {
				if (v.s[i] == '\\')
					i++;
				i++;
			}
			if (i >= v.len)
				return CHAL_BAD;
			i++;
		} else {
			while (i < v.len && v.s[i] != ',' && !is_lws(v.s[i]))
				i++;
		}
		key = tstr_sub(v, ks, ke - ks);
		val = tstr_sub(v, vs, i - vs);

		if (tstr_caseeq_lit(key, "realm")) {
			has_realm = copy_value(val, c->realm, sizeof(c->realm), &c->realm_len);
			unusable |= !has_realm;
		} else if (tstr_caseeq_lit(key, "nonce")) {
			has_nonce = copy_value(val, c->nonce, sizeof(c->nonce), &c->nonce_len);
			unusable |= !has_nonce;
		} else if (tstr_caseeq_lit(key, "opaque")) {
			c->has_opaque = copy_value(val, c->opaque, sizeof(c->opaque),
						   &c->opaque_len);
			unusable |= !c->has_opaque;
		} else if (tstr_caseeq_lit(key, "algorithm")) {
			if (!copy_value(val, scratch, sizeof(scratch), &slen))
				unusable = true;
			else if (strcasecmp(scratch, "MD5") == 0)
				c->alg = LG_ALG_MD5;
			else if (strcasecmp(scratch, "SHA-256") == 0)
				c->alg = LG_ALG_SHA256;
			else
				unusable = true;     /* MD5-sess, SHA-512-256, ... */
		} else if (tstr_caseeq_lit(key, "qop")) {
			if (!copy_value(val, scratch, sizeof(scratch), &slen))
				unusable = true;
			else
				c->qop_auth = qop_has_auth(scratch);
		} else if (tstr_caseeq_lit(key, "stale")) {
			if (copy_value(val, scratch, sizeof(scratch), &slen))
				c->stale = strcasecmp(scratch, "true") == 0;
		}
	}
	*pos = i;
	if (!*is_digest || unusable || !has_nonce || !has_realm)
		return CHAL_SKIP;
	return CHAL_OK;
}

static bool alg_wanted(enum lg_alg_pref pref, enum lg_alg alg)
{
	switch (pref) {
	case LG_ALG_PREF_MD5:
		return alg == LG_ALG_MD5;
	case LG_ALG_PREF_SHA256:
		return alg == LG_ALG_SHA256;
	case LG_ALG_PREF_FIRST:
		break;
	}
	return true;
}

static void parse_challenges(tstr v, bool proxy, enum lg_alg_pref pref,
			     struct lg_response *r)
{
	struct lg_challenge c;
	uint32_t pos = 0;

	while (pos < v.len) {
		bool is_digest = false;
		uint32_t before = pos;
		enum chal_result res = read_challenge(v, &pos, &is_digest, &c);

		if (res == CHAL_BAD || pos == before)
			return;
		if (is_digest)
			r->nchallenges++;
		if (res == CHAL_OK && !r->has_challenge && alg_wanted(pref, c.alg)) {
			r->challenge = c;
			r->has_challenge = true;
			r->proxy_challenge = proxy;
		}
	}
}

int lg_parse_response(const char *data, size_t len, enum lg_alg_pref pref,
		      struct lg_response *out)
{
	tstr msg = tstr_make(data, len > UINT32_MAX ? UINT32_MAX : len);
	uint32_t i, line_end;
	bool have_via = false, have_cseq = false;
	const char *reason = NULL;

	memset(out, 0, sizeof(*out));
	/* "SIP/2.0 DDD " */
	if (msg.len < 12 || memcmp(msg.s, "SIP/2.0 ", 8) != 0)
		goto malformed;
	for (i = 8; i < 11; i++)
		if (msg.s[i] < '0' || msg.s[i] > '9')
			goto malformed;
	if (msg.s[11] != ' ' && msg.s[11] != '\r' && msg.s[11] != '\n')
		goto malformed;
	out->code = (unsigned)(msg.s[8] - '0') * 100 + (unsigned)(msg.s[9] - '0') * 10 +
		    (unsigned)(msg.s[10] - '0');
	if (out->code < 100 || out->code > 699)
		goto malformed;
	i = 11;
	{
		const char *nl = memchr(msg.s + i, '\n', msg.len - i);

		if (!nl)
			goto malformed;
		i = (uint32_t)(nl - msg.s) + 1;
	}

	/* Header lines up to the empty line; a line starting with a space or
	 * a tab continues the previous one (RFC 3261 §7.3.1). The scans are
	 * memchr()s: the load generator parses every answer it gets, and
	 * at the rates it drives a byte loop here was a tenth of its CPU. */
	while (i < msg.len) {
		uint32_t start = i, colon;
		const char *hit;
		tstr name, value;

		if (msg.s[i] == '\n' || (msg.s[i] == '\r' && i + 1 < msg.len && msg.s[i + 1] == '\n'))
			break;
		line_end = i;
		for (;;) {
			hit = memchr(msg.s + line_end, '\n', msg.len - line_end);
			line_end = hit ? (uint32_t)(hit - msg.s) : msg.len;
			if (line_end + 1 < msg.len && is_ws(msg.s[line_end + 1])) {
				line_end++;
				continue;
			}
			break;
		}
		/* [start, line_end) is the header with its continuations. */
		hit = memchr(msg.s + start, ':', line_end - start);
		if (!hit) {
			reason = "header without colon";
			goto malformed;
		}
		colon = (uint32_t)(hit - msg.s);
		name = trim(tstr_sub(msg, start, colon - start));
		value = trim(tstr_sub(msg, colon + 1, line_end - colon - 1));
		switch (header_kind(name)) {
		case HDR_VIA:
			if (!have_via) {
				if (parse_via(value, &out->branch) < 0)
					goto malformed;
				have_via = true;
			}
			break;
		case HDR_CSEQ:
			if (!have_cseq) {
				if (parse_cseq(value, out) < 0)
					goto malformed;
				have_cseq = true;
			}
			break;
		case HDR_TO:
			parse_to(value, &out->to_tag);
			break;
		case HDR_WWW_AUTH:
			if (out->code == 401)
				parse_challenges(value, false, pref, out);
			break;
		case HDR_PROXY_AUTH:
			if (out->code == 407)
				parse_challenges(value, true, pref, out);
			break;
		case HDR_OTHER:
			break;
		}
		i = line_end < msg.len ? line_end + 1 : line_end;
	}
	if (!have_via || !have_cseq)
		goto malformed;
	return 0;
malformed:
	(void)reason;
	return TDM_EMALFORMED;
}

/* ---- branches ----------------------------------------------------------- */

#define BRANCH_PREFIX "z9hG4bK-lg"

static bool take_hex(tstr b, uint32_t *i, char stop, uint32_t *out)
{
	uint64_t v = 0;
	uint32_t start = *i;

	while (*i < b.len && b.s[*i] != stop) {
		char c = b.s[*i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v * 16 + d;
		if (v > UINT32_MAX)
			return false;
		(*i)++;
	}
	if (*i == start || (stop && *i >= b.len))
		return false;
	if (stop)
		(*i)++;
	*out = (uint32_t)v;
	return true;
}

bool lg_branch_decode(tstr branch, uint32_t run, uint32_t *thread, uint32_t *slot,
		      uint32_t *gen)
{
	uint32_t i = sizeof(BRANCH_PREFIX) - 1, r;

	if (branch.len <= i || memcmp(branch.s, BRANCH_PREFIX, i) != 0)
		return false;
	if (!take_hex(branch, &i, '-', &r) || r != run)
		return false;
	return take_hex(branch, &i, '-', thread) && take_hex(branch, &i, '-', slot) &&
	       take_hex(branch, &i, 0, gen);
}

/* ---- requests ----------------------------------------------------------- */

static const char *const method_names[] = {
	[LG_REGISTER] = "REGISTER",
	[LG_INVITE] = "INVITE",
	[LG_ACK] = "ACK",
};

static void put_s(struct wbuf *w, const char *s)
{
	wbuf_put(w, s, strlen(s));
}

static void put_u(struct wbuf *w, uint64_t v)
{
	char tmp[24];
	unsigned n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wbuf_put(w, tmp + n, sizeof(tmp) - n);
}

static void put_hex(struct wbuf *w, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[8];
	unsigned n = sizeof(tmp);

	do {
		tmp[--n] = hex[v & 15];
		v >>= 4;
	} while (v);
	wbuf_put(w, tmp + n, sizeof(tmp) - n);
}

/* A quoted-string: '"' and '\' escaped (RFC 3261 §25.1). */
static void put_quoted(struct wbuf *w, const char *s, size_t len)
{
	wbuf_putc(w, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			wbuf_putc(w, '\\');
		wbuf_putc(w, s[i]);
	}
	wbuf_putc(w, '"');
}

static enum digest_alg to_digest_alg(enum lg_alg alg)
{
	return alg == LG_ALG_SHA256 ? DIGEST_SHA256 : DIGEST_MD5;
}

static void fmt_nc(uint32_t nc, char out[9])
{
	snprintf(out, 9, "%08x", nc);
}

static void fmt_cnonce(uint32_t cnonce, char out[9])
{
	snprintf(out, 9, "%08x", cnonce);
}

void lg_digest_response(enum lg_alg alg, const char *user, const char *realm,
			const char *password, const char *method, const char *uri,
			const char *nonce, uint32_t nc, const char *cnonce, bool qop_auth,
			char out[65])
{
	enum digest_alg da = to_digest_alg(alg);
	uint8_t ha1[32];
	char ncs[9];

	fmt_nc(nc, ncs);
	digest_ha1(da, tstr_cstr(user), tstr_cstr(realm), tstr_cstr(password), ha1);
	digest_response(da, ha1, tstr_cstr(method), tstr_cstr(uri), tstr_cstr(nonce),
			qop_auth ? tstr_cstr(ncs) : TSTR_NULL,
			qop_auth ? tstr_cstr(cnonce) : TSTR_NULL,
			qop_auth ? TSTR_LIT("auth") : TSTR_NULL, out);
}

static void put_credentials(struct wbuf *w, const struct lg_request *r)
{
	const struct lg_challenge *c = r->challenge;
	const char *method = method_names[r->method];
	char resp[65], ncs[9], cnonce[9];

	fmt_nc(r->nc, ncs);
	fmt_cnonce(r->cnonce, cnonce);
	lg_digest_response(c->alg, r->authz_user, c->realm, r->password, method, r->ruri,
			   c->nonce, r->nc, cnonce, c->qop_auth, resp);

	put_s(w, r->proxy ? "Proxy-Authorization: Digest username=" :
			    "Authorization: Digest username=");
	put_quoted(w, r->authz_user, strlen(r->authz_user));
	put_s(w, ", realm=");
	put_quoted(w, c->realm, c->realm_len);
	put_s(w, ", nonce=");
	put_quoted(w, c->nonce, c->nonce_len);
	put_s(w, ", uri=");
	put_quoted(w, r->ruri, strlen(r->ruri));
	put_s(w, ", response=\"");
	put_s(w, resp);
	put_s(w, c->alg == LG_ALG_SHA256 ? "\", algorithm=SHA-256" : "\", algorithm=MD5");
	if (c->has_opaque) {
		put_s(w, ", opaque=");
		put_quoted(w, c->opaque, c->opaque_len);
	}
	if (c->qop_auth) {
		put_s(w, ", qop=auth, nc=");
		put_s(w, ncs);
		put_s(w, ", cnonce=\"");
		put_s(w, cnonce);
		wbuf_putc(w, '"');
	}
	put_s(w, "\r\n");
}

int lg_build_request(const struct lg_request *r, char *buf, size_t cap)
{
	const char *method = method_names[r->method];
	struct wbuf w;

	wbuf_init(&w, buf, cap);
	put_s(&w, method);
	wbuf_putc(&w, ' ');
	put_s(&w, r->ruri);
	put_s(&w, " SIP/2.0\r\nVia: SIP/2.0/UDP ");
	put_s(&w, r->via_host);
	wbuf_putc(&w, ':');
	put_u(&w, r->via_port);
	put_s(&w, ";branch=" BRANCH_PREFIX);
	put_hex(&w, r->run);
	wbuf_putc(&w, '-');
	put_hex(&w, r->thread);
	wbuf_putc(&w, '-');
	put_hex(&w, r->slot);
	wbuf_putc(&w, '-');
	put_hex(&w, r->gen);
	put_s(&w, ";rport\r\nMax-Forwards: 70\r\nFrom: <");
	put_s(&w, r->from_uri);
	put_s(&w, ">;tag=");
	put_s(&w, r->from_tag);
	put_s(&w, "\r\nTo: <");
	put_s(&w, r->to_uri);
	wbuf_putc(&w, '>');
	if (r->to_tag.len) {
		put_s(&w, ";tag=");
		wbuf_put(&w, r->to_tag.s, r->to_tag.len);
	}
	put_s(&w, "\r\nCall-ID: ");
	put_s(&w, r->call_id);
	put_s(&w, "\r\nCSeq: ");
	put_u(&w, r->cseq);
	wbuf_putc(&w, ' ');
	put_s(&w, method);
	put_s(&w, "\r\n");
	if (r->contact) {
		put_s(&w, "Contact: <");
		put_s(&w, r->contact);
		put_s(&w, ">\r\n");
	}
	if (r->method == LG_REGISTER && r->expires >= 0) {
		put_s(&w, "Expires: ");
		put_u(&w, (uint64_t)r->expires);
		put_s(&w, "\r\n");
	}
	if (r->authz_user && r->challenge)
		put_credentials(&w, r);
	put_s(&w, "User-Agent: tandem-loadgen\r\nContent-Length: 0\r\n\r\n");
	if (w.overflow)
		return TDM_ENOSPACE;
	return (int)wbuf_len(&w);
}
