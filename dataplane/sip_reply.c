/* SPDX-License-Identifier: MIT */
/*
 * Stateless response building: the status line and the fields copied from
 * the request. See sip_reply.h.
 */
#include <arpa/inet.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/siphash.h>

#include "sip_reply.h"

#define SIP_DEFAULT_PORT 5060

bool sip_reply_dest(const struct sip_msg *m, const union tdm_addr *src,
		    union tdm_addr *dst)
{
	uint16_t port;

	*dst = *src;
	if (m->via.rport)
		port = addr_port(src);
	else
		port = m->via.port ? m->via.port : SIP_DEFAULT_PORT;
	if (port == 0)
		return false;
	addr_set_port(dst, port);
	return true;
}

void sip_reply_to_tag(const uint8_t key[16], const struct sip_msg *m,
		      char out[SIP_TO_TAG_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t in[512], mac[8];
	uint32_t n = 0;

	/* Call-ID and From tag identify the request's dialog-to-be; the
	 * bytes past 512 add nothing a tag needs. */
	n = m->call_id.len < sizeof(in) ? m->call_id.len : sizeof(in);
	if (n)
		memcpy(in, m->call_id.s, n);
	if (m->from.tag.len && n < sizeof(in)) {
		uint32_t t = m->from.tag.len < sizeof(in) - n ? m->from.tag.len
							      : (uint32_t)sizeof(in) - n;
		memcpy(in + n, m->from.tag.s, t);
		n += t;
	}
	wc_SipHash(key, in, n, mac, sizeof(mac));
	for (unsigned i = 0; i < sizeof(mac); i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
}

/* Is the Via host the source address, written the usual way? A host
 * written otherwise ("010.0.0.1", a name) just gets a received parameter,
 * which is always allowed. */
static bool host_is(tstr host, const char *ip)
{
	if (host.len >= 2 && host.s[0] == '[')
		host = tstr_sub(host, 1, host.len - 2);
	return tstr_caseeq(host, tstr_cstr(ip));
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

/* Copy the via parameters except received and rport, which we rewrite. */
static void put_via_params(struct wbuf *w, tstr params)
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
		if (tstr_caseeq_lit(name, "received") || tstr_caseeq_lit(name, "rport"))
			continue;
		wbuf_putc(w, ';');
		wbuf_putt(w, seg);
	}
}

static void put_top_via(struct wbuf *w, const struct sip_msg *m, const struct sip_header *h,
			const union tdm_addr *src)
{
	const struct sip_via *v = &m->via;
	const char *line_end = h->line.s + h->line.len;
	const char *parm_end = v->value.s + v->value.len;
	char ip[TDM_ADDR_STRLEN];

	/* "Via: " or "v: " exactly as the request wrote it. */
	wbuf_put(w, h->line.s, (size_t)(v->value.s - h->line.s));
	wbuf_putt(w, v->protocol);
	wbuf_putc(w, ' ');
	wbuf_putt(w, v->host);
	if (v->port) {
		wbuf_putc(w, ':');
		wbuf_putu(w, v->port);
	}
	put_via_params(w, v->params);

	/* RFC 3261 §18.2.1: received when sent-by is not the source address;
	 * RFC 3581 §4: always with rport, and rport gets the source port. */
	addr_format_ip(src, ip, sizeof(ip));
	if (v->rport || !host_is(v->host, ip)) {
		WBUF_LIT(w, ";received=");
		wbuf_puts(w, ip);
	}
	if (v->rport) {
		WBUF_LIT(w, ";rport=");
		wbuf_putu(w, addr_port(src));
	}
	/* Further via-parms of the same field, verbatim. */
	wbuf_put(w, parm_end, (size_t)(line_end - parm_end));
	WBUF_LIT(w, "\r\n");
}

static void put_line(struct wbuf *w, const struct sip_header *h)
{
	wbuf_putt(w, h->line);
	WBUF_LIT(w, "\r\n");
}

static void put_first(struct wbuf *w, const struct sip_msg *m, enum sip_hdr id)
{
	const struct sip_header *h = sip_header_first(m, id);

	if (h)
		put_line(w, h);
}

void sip_reply_begin(struct wbuf *w, const struct sip_msg *m, unsigned code,
		     const char *reason, const union tdm_addr *src, const char *to_tag)
{
	const struct sip_header *h;

	WBUF_LIT(w, "SIP/2.0 ");
	wbuf_putu(w, code);
	wbuf_putc(w, ' ');
	wbuf_puts(w, reason ? reason : sip_reason(code));
	WBUF_LIT(w, "\r\n");

	for (h = sip_header_first(m, SIP_HDR_VIA); h; h = sip_header_next(m, h)) {
		if (h == sip_header_first(m, SIP_HDR_VIA) && m->via_ok)
			put_top_via(w, m, h, src);
		else
			put_line(w, h);
	}
	put_first(w, m, SIP_HDR_FROM);
	h = sip_header_first(m, SIP_HDR_TO);
	if (h) {
		wbuf_putt(w, h->line);
		if (to_tag && m->to.tag.len == 0) {
			WBUF_LIT(w, ";tag=");
			wbuf_puts(w, to_tag);
		}
		WBUF_LIT(w, "\r\n");
	}
	put_first(w, m, SIP_HDR_CALL_ID);
	put_first(w, m, SIP_HDR_CSEQ);
}

void sip_reply_end(struct wbuf *w, const char *server)
{
	if (server && *server) {
		WBUF_LIT(w, "Server: ");
		wbuf_puts(w, server);
		WBUF_LIT(w, "\r\n");
	}
	WBUF_LIT(w, "Content-Length: 0\r\n\r\n");
}

const char *sip_reason(unsigned code)
{
	switch (code) {
	case 100: return "Trying";
	case 200: return "OK";
	case 302: return "Moved Temporarily";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 416: return "Unsupported URI Scheme";
	case 420: return "Bad Extension";
	case 421: return "Extension Required";
	case 423: return "Interval Too Brief";
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "Version Not Supported";
	default: return "Unknown";
	}
}
