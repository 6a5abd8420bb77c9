/* SPDX-License-Identifier: MIT */
/*
 * The pipeline: parse a datagram, decide what it is, hand it to the
 * registrar or the redirect server, or answer it here (OPTIONS to the node,
 * 400/420/481/501/505), and build the reply in the back end's buffer.
 *
 * What gets an answer (DESIGN.md §2):
 *   - responses: never answered, counted;
 *   - a datagram of only CRLFs: a keep-alive, absorbed;
 *   - malformed requests: 400 with the parser's reason when the top Via
 *     can be decoded, otherwise dropped and counted;
 *   - ACK: absorbed (our final responses are sent statelessly);
 *   - other SIP versions: 505; unsupported Require: 420; unknown methods:
 *     501; CANCEL and requests inside a dialog (To tag): 481;
 *   - REGISTER: the registrar; OPTIONS without a user part: 200;
 *     everything else: the redirect server;
 *   - on a standby in the standby role: every request but ACK is diverted
 *     to the master (302 naming it, or 503 + Retry-After).
 */
#include <time.h>

#include <urcu-qsbr.h>

#include "dp_internal.h"
#include "err.h"

uint64_t dp_aors_registered(const struct dp_shared *shared)
{
	uint64_t added = 0, removed = 0;

	for (unsigned i = 0; i < shared->nctr_blocks; i++) {
		added += dp_counter_get(shared->ctr_blocks[i], DP_CTR_aors_added);
		removed += dp_counter_get(shared->ctr_blocks[i], DP_CTR_aors_removed);
	}
	return added > removed ? added - removed : 0;
}

void dp_worker_init(struct dp_worker *w, unsigned id, struct dp_shared *shared,
		    struct rec_pool *pool)
{
	memset(&w->ctr, 0, sizeof(w->ctr));
	w->id = id;
	w->shared = shared;
	w->pool = pool;
	w->date_s = -1;
	w->nonce_key.ready = false;
	w->ha2.ready = false;
	sip_src_text_init(&w->src_text);
	w->tail_len = 0;
	w->msg.nhdrs = 0;
	dp_burst_begin(w);
}

/* RFC 3261 §20.17 / RFC 1123 date, always GMT. Returns its length. */
static uint32_t format_date(int64_t now_s, char *out, size_t cap)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now_s;
	struct tm tm;
	struct wbuf wb;

	gmtime_r(&t, &tm);
	wbuf_init(&wb, out, cap - 1);
	wbuf_put(&wb, days[tm.tm_wday], 3);
	WBUF_LIT(&wb, ", ");
	wbuf_putc(&wb, (char)('0' + tm.tm_mday / 10));
	wbuf_putc(&wb, (char)('0' + tm.tm_mday % 10));
	wbuf_putc(&wb, ' ');
	wbuf_put(&wb, months[tm.tm_mon], 3);
	wbuf_putc(&wb, ' ');
	wbuf_putu(&wb, (uint64_t)tm.tm_year + 1900);
	wbuf_putc(&wb, ' ');
	wbuf_putc(&wb, (char)('0' + tm.tm_hour / 10));
	wbuf_putc(&wb, (char)('0' + tm.tm_hour % 10));
	wbuf_putc(&wb, ':');
	wbuf_putc(&wb, (char)('0' + tm.tm_min / 10));
	wbuf_putc(&wb, (char)('0' + tm.tm_min % 10));
	wbuf_putc(&wb, ':');
	wbuf_putc(&wb, (char)('0' + tm.tm_sec / 10));
	wbuf_putc(&wb, (char)('0' + tm.tm_sec % 10));
	WBUF_LIT(&wb, " GMT");
	*wb.p = '\0';
	return (uint32_t)wbuf_len(&wb);
}

void dp_worker_enter(struct dp_worker *w)
{
	/* Without the batches' memory, records are retired one call_rcu
	 * each: slower, not wrong. */
	(void)rec_pool_retire_batching(w->pool);
}

void dp_worker_leave(struct dp_worker *w)
{
	rec_pool_retire_flush(w->pool, UINT64_MAX);
	(void)rec_pool_retire_batching(NULL);
}

void dp_burst_begin(struct dp_worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	clock_gettime(CLOCK_REALTIME, &ts);
	w->now_s = ts.tv_sec;
	if (w->now_s != w->date_s) {
		w->date_len = format_date(w->now_s, w->date, sizeof(w->date));
		w->date_s = w->now_s;
	}
}

/* ---------------------------------------------------------------- */
/* Replies */

void dp_reply_start(struct dp_req *r, unsigned code, const char *reason)
{
	const char *tag = NULL;

	r->code = code;
	wbuf_init(&r->wb, r->out->data, r->out->cap);
	/* §8.2.6.2: a final response to a request without a To tag gets
	 * one; the same one for every retransmission. */
	if (r->m->to.tag.len == 0 && code >= 200) {
		sip_reply_to_tag(r->w->shared->tag_key, r->m, r->to_tag);
		r->to_tag[SIP_TO_TAG_LEN] = '\0';
		tag = r->to_tag;
	}
	sip_reply_begin_src(&r->wb, r->m, code, reason,
			    sip_src_text_of(&r->w->src_text, &r->in->src), tag);
}

/* The server text of s as sip_reply_end() takes it. */
static const char *server_of(const struct dp_settings *s)
{
	return s ? s->server : NULL;
}

/* dp_reply_finish() once the end of the response is written. */
static inline __attribute__((always_inline)) bool reply_done(struct dp_req *r)
{
	struct dp_worker *w = r->w;

	if (r->wb.overflow) {
		/* Too many bindings or too long a request to echo: say so in a
		 * response that fits. */
		dp_count(&w->ctr, DP_CTR_tx_too_big);
		r->code = 500;
		wbuf_init(&r->wb, r->out->data, r->out->cap);
		sip_reply_begin_src(&r->wb, r->m, 500, "Response Too Large",
				    sip_src_text_of(&r->w->src_text, &r->in->src),
				    r->to_tag[0] ? r->to_tag : NULL);
		sip_reply_end(&r->wb, NULL);
		if (r->wb.overflow) {
			dp_count(&w->ctr, DP_CTR_tx_errors);
			r->out->len = 0;
			return false;
		}
	}
	r->out->len = (uint32_t)wbuf_len(&r->wb);
	dp_count(&w->ctr, DP_CTR_tx_responses);
	switch (r->code / 100) {
	case 2: dp_count(&w->ctr, DP_CTR_resp_2xx); break;
	case 3: dp_count(&w->ctr, DP_CTR_resp_3xx); break;
	case 4: dp_count(&w->ctr, DP_CTR_resp_4xx); break;
	case 5: dp_count(&w->ctr, DP_CTR_resp_5xx); break;
	default: dp_count(&w->ctr, DP_CTR_resp_6xx); break;
	}
	return true;
}

bool dp_reply_finish(struct dp_req *r)
{
	sip_reply_end(&r->wb, server_of(r->s));
	return reply_done(r);
}

/* Is the worker's end of a 200 the one for this second and for the
 * Server text srv ("" for none)? srv is "" or a settings' server array,
 * so comparing the cached text with its NUL reads inside it. */
static bool tail_is_current(const struct dp_worker *w, const char *srv)
{
	if (w->tail_len == 0 || w->tail_date_s != w->date_s)
		return false;
	if (srv[0] == '\0')
		return w->tail_server_len == 0;
	return w->tail_server_len != 0 && mem_eq(w->tail_server, srv, w->tail_server_len + 1);
}

bool dp_reply_finish_dated(struct dp_req *r)
{
	struct dp_worker *w = r->w;
	const char *server = server_of(r->s);
	const char *srv = server && *server ? server : "";

	if (!tail_is_current(w, srv)) {
		size_t n = strlen(srv);
		struct wbuf tw;

		wbuf_init(&tw, w->tail, sizeof(w->tail));
		WBUF_LIT(&tw, "Date: ");
		wbuf_put(&tw, w->date, w->date_len);
		WBUF_LIT(&tw, "\r\n");
		sip_reply_end(&tw, srv);
		if (tw.overflow || n >= sizeof(w->tail_server)) {
			/* Not with the sizes of dp_settings; piecewise then. */
			w->tail_len = 0;
			WBUF_LIT(&r->wb, "Date: ");
			wbuf_put(&r->wb, w->date, w->date_len);
			WBUF_LIT(&r->wb, "\r\n");
			return dp_reply_finish(r);
		}
		memcpy(w->tail_server, srv, n + 1);
		w->tail_server_len = (uint32_t)n;
		w->tail_date_s = w->date_s;
		w->tail_len = (uint32_t)wbuf_len(&tw);
	}
	wbuf_put(&r->wb, w->tail, w->tail_len);
	return reply_done(r);
}

bool dp_reply_simple(struct dp_req *r, unsigned code, const char *reason)
{
	dp_reply_start(r, code, reason);
	return dp_reply_finish(r);
}

void dp_put_q(struct wbuf *wb, uint16_t q)
{
	if (q == BINDING_Q_NONE)
		return;
	WBUF_LIT(wb, ";q=");
	wbuf_putu(wb, q / 1000);
	wbuf_putc(wb, '.');
	wbuf_putc(wb, (char)('0' + q / 100 % 10));
	wbuf_putc(wb, (char)('0' + q / 10 % 10));
	wbuf_putc(wb, (char)('0' + q % 10));
}

/* ---------------------------------------------------------------- */
/* Domains and AORs */

bool dp_host_served_other(const struct dp_settings *s, tstr host)
{
	union tdm_addr a;

	if (tstr_caseeq_lit(host, s->domain))
		return true;
	for (unsigned i = 0; i < s->naliases; i++)
		if (tstr_caseeq_lit(host, s->aliases[i]))
			return true;
	if (s->naddrs && addr_parse_ip(host.s, host.len, &a) == 0)
		for (unsigned i = 0; i < s->naddrs; i++)
			if (addr_ip_equal(&a, &s->addrs[i]))
				return true;
	return false;
}

int dp_aor_resolve(struct dp_worker *w, const struct dp_settings *s,
		   const struct sip_uri *u, const struct user **user)
{
	char *aor = w->aor;
	const uint32_t cap = sizeof(w->aor);
	const struct user *usr = NULL;
	struct users *users;
	uint32_t scheme_len = u->scheme == SIP_URI_SIPS ? 5 : 4;
	uint32_t at;
	int n;

	*user = NULL;
	if (u->user.len == 0)
		return TDM_EMALFORMED;
	n = sip_aor_canon(u, aor, cap);
	if (n < 0)
		return TDM_EMALFORMED;
	/* The canonical user part holds no '@' (sip_uri_parse() ends it at
	 * the first one, and sip_aor_canon() keeps %40 escaped), nor does
	 * the host: the first '@' is the one between them, and the only
	 * one. Where the user part was copied as written (the usual case),
	 * it is right after it. */
	at = scheme_len + u->user.len;
	if (at >= (uint32_t)n || aor[at] != '@') {
		const char *sep = memchr(aor + scheme_len, '@', (size_t)n - scheme_len);

		if (sep == NULL)
			return TDM_EMALFORMED;
		at = (uint32_t)(sep - aor);
	}

	tstr user_part = tstr_make(aor + scheme_len, at - scheme_len);
	tstr host = tstr_make(aor + at + 1, (uint32_t)n - at - 1);
	bool domain = dp_is_domain(s, host);
	if (!domain && s->domain[0] && !dp_host_served_other(s, host))
		return TDM_ENOTFOUND;

	users = rcu_dereference(w->shared->users);
	if (users)
		usr = users_find(users, user_part);
	*user = usr;

	bool new_host = s->domain[0] && !domain;
	bool new_user = usr && !tstr_eq_field(user_part, usr->name, sizeof(usr->name));
	if (!new_host && !new_user)
		return n;

	/* Rewrite as scheme ":" user "@" domain. */
	char tmp[sizeof(w->aor)];
	struct wbuf wb;

	wbuf_init(&wb, tmp, sizeof(tmp));
	wbuf_put(&wb, aor, scheme_len);
	if (new_user)
		wbuf_puts(&wb, usr->name);
	else
		wbuf_putt(&wb, user_part);
	wbuf_putc(&wb, '@');
	if (new_host)
		wbuf_puts(&wb, s->domain);
	else
		wbuf_putt(&wb, host);
	if (wb.overflow)
		return TDM_EMALFORMED;
	memcpy(aor, tmp, wbuf_len(&wb));
	return (int)wbuf_len(&wb);
}

/* ---------------------------------------------------------------- */

/* 420 when Require lists a tag we do not support (§8.2.2.3). */
static bool check_require(struct dp_req *r, bool *replied)
{
	const struct sip_header *h;
	bool bad = false;

	*replied = false;
	for (h = sip_header_first(r->m, SIP_HDR_REQUIRE); h; h = sip_header_next(r->m, h)) {
		uint32_t pos = 0;
		tstr tag;

		while (sip_list_next(h->value, &pos, &tag)) {
			if (tstr_caseeq_lit(tag, "path"))
				continue;
			if (!bad) {
				dp_reply_start(r, 420, NULL);
				WBUF_LIT(&r->wb, "Unsupported: ");
				bad = true;
			} else {
				WBUF_LIT(&r->wb, ", ");
			}
			wbuf_putt(&r->wb, tag);
		}
	}
	if (!bad)
		return true;
	WBUF_LIT(&r->wb, "\r\n");
	dp_count(&r->w->ctr, DP_CTR_req_bad_extension);
	*replied = dp_reply_finish(r);
	return false;
}

static bool options_self(struct dp_req *r, bool *replied)
{
	struct sip_uri ruri;

	*replied = false;
	if (sip_uri_parse(r->m->ruri, &ruri) < 0 || ruri.user.len)
		return false;
	if (ruri.scheme != SIP_URI_SIP && ruri.scheme != SIP_URI_SIPS)
		return false;
	if (!dp_host_served(r->s, ruri.host)) {
		*replied = dp_reply_simple(r, 404, "Domain Not Served");
		return true;
	}
	dp_reply_start(r, 200, NULL);
	WBUF_LIT(&r->wb, "Allow: " DP_ALLOW "\r\n");
	WBUF_LIT(&r->wb, "Supported: " DP_SUPPORTED "\r\n");
	WBUF_LIT(&r->wb, "Accept: application/sdp\r\n");
	*replied = dp_reply_finish(r);
	return true;
}

/*
 * The standby role: every request goes to the master, with a 302 naming
 * the master (the user part of the Request-URI kept, so an INVITE lands on
 * the same AOR there) or a 503 with Retry-After.
 */
static bool divert(struct dp_req *r)
{
	const struct dp_settings *s = r->s;
	struct sip_uri ruri;

	dp_count(&r->w->ctr, DP_CTR_req_diverted);
	if (s->divert_mode == DP_DIVERT_REJECT || s->master_hostport[0] == '\0') {
		dp_reply_start(r, 503, "Standby, Use The Master");
		WBUF_LIT(&r->wb, "Retry-After: ");
		wbuf_putu(&r->wb, DP_DIVERT_RETRY_AFTER);
		WBUF_LIT(&r->wb, "\r\n");
		return dp_reply_finish(r);
	}
	dp_reply_start(r, 302, "Moved Temporarily (Standby)");
	WBUF_LIT(&r->wb, "Contact: <sip:");
	if (sip_uri_parse(r->m->ruri, &ruri) == 0 && ruri.user.len &&
	    (ruri.scheme == SIP_URI_SIP || ruri.scheme == SIP_URI_SIPS)) {
		wbuf_putt(&r->wb, ruri.user);
		wbuf_putc(&r->wb, '@');
	}
	wbuf_puts(&r->wb, s->master_hostport);
	WBUF_LIT(&r->wb, ">\r\n");
	return dp_reply_finish(r);
}

static void count_method(struct dp_worker *w, enum sip_method m)
{
	switch (m) {
	case SIP_REGISTER: dp_count(&w->ctr, DP_CTR_req_register); break;
	case SIP_INVITE: dp_count(&w->ctr, DP_CTR_req_invite); break;
	case SIP_OPTIONS: dp_count(&w->ctr, DP_CTR_req_options); break;
	case SIP_ACK: dp_count(&w->ctr, DP_CTR_req_ack); break;
	case SIP_CANCEL: dp_count(&w->ctr, DP_CTR_req_cancel); break;
	case SIP_METHOD_UNKNOWN: dp_count(&w->ctr, DP_CTR_req_unknown); break;
	default: dp_count(&w->ctr, DP_CTR_req_other); break;
	}
}

/* "SIP/2.0", compared case-insensitively (§7.1); first exactly, as almost
 * every client writes it. */
static bool version_ok(tstr v)
{
	return tstr_eq(v, TSTR_LIT("SIP/2.0")) || tstr_caseeq(v, TSTR_LIT("SIP/2.0"));
}

bool dp_process(struct dp_worker *w, const struct dp_datagram *in, struct dp_reply *out)
{
	struct sip_msg *m = &w->msg;
	struct dp_req r;
	bool replied;
	int rc;

	/* Every field but the reply buffer's (dp_reply_start() sets those)
	 * and the To tag's, which only needs its first byte cleared. */
	r.w = w;
	r.s = NULL;
	r.in = in;
	r.out = out;
	r.m = m;
	r.code = 0;
	r.to_tag[0] = '\0';
	r.wb.overflow = false;

	dp_count(&w->ctr, DP_CTR_rx_datagrams);
	dp_count_add(&w->ctr, DP_CTR_rx_bytes, in->len);
	out->len = 0;

	rc = sip_parse(m, in->data, in->len);
	if (rc == TDM_ETRUNCATED) {
		dp_count(&w->ctr, DP_CTR_rx_keepalives);
		return false;
	}
	if (rc == 0 && !m->is_request) {
		dp_count(&w->ctr, DP_CTR_rx_responses);
		return false;
	}
	r.s = rcu_dereference(w->shared->settings);
	if (rc < 0) {
		/* Answer what can be answered: a request (never an ACK) whose
		 * top Via tells where to. */
		if (m->is_request && m->via_ok && m->method != SIP_ACK &&
		    sip_reply_dest(m, &in->src, &out->dst)) {
			dp_count(&w->ctr, DP_CTR_rx_malformed);
			return dp_reply_simple(&r, 400, m->error ? m->error : NULL);
		}
		dp_count(&w->ctr, DP_CTR_drop_malformed);
		return false;
	}
	if (!sip_reply_dest(m, &in->src, &out->dst)) {
		dp_count(&w->ctr, DP_CTR_drop_unroutable);
		return false;
	}

	count_method(w, m->method);
	if (m->method == SIP_ACK)
		return false;
	if (r.s->divert)
		return divert(&r);
	if (!version_ok(m->version)) {
		dp_count(&w->ctr, DP_CTR_req_bad_version);
		return dp_reply_simple(&r, 505, NULL);
	}
	if (m->method == SIP_METHOD_UNKNOWN) {
		dp_reply_start(&r, 501, NULL);
		WBUF_LIT(&r.wb, "Allow: " DP_ALLOW "\r\n");
		return dp_reply_finish(&r);
	}
	if (m->method != SIP_CANCEL && !check_require(&r, &replied))
		return replied;

	switch (m->method) {
	case SIP_REGISTER:
		return dp_register(&r);
	case SIP_CANCEL:
		/* Every INVITE got its final answer at once: nothing is left
		 * to cancel (§9.2). */
		return dp_reply_simple(&r, 481, NULL);
	default:
		break;
	}
	if (m->to.tag.len) {
		dp_count(&w->ctr, DP_CTR_req_in_dialog);
		return dp_reply_simple(&r, 481, NULL);
	}
	if (m->method == SIP_OPTIONS && options_self(&r, &replied))
		return replied;
	return dp_redirect(&r);
}
