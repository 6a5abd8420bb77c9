/* SPDX-License-Identifier: MIT */
/*
 * The redirect server (RFC 3261 §8.3 "Redirect Servers"): a request for an
 * AOR we hold bindings for is answered with 302 and the bindings as Contact
 * values, highest q first (then the most recently refreshed first); 480 for
 * a known user without a live binding; 404 for anything else.
 */
#include <urcu-qsbr.h>

#include "dp_internal.h"
#include "err.h"

/* More targets than this make a 302 no phone will walk through. */
#define REDIRECT_MAX_CONTACTS 16

static unsigned effective_q(const struct binding *b)
{
	/* A Contact without q ranks like q=1.0 (RFC 3261 §16.6 step 6 ranks
	 * absent q as the highest). */
	return b->q == BINDING_Q_NONE ? 1000 : b->q;
}

/* Order: higher q first, then more recently registered first. */
static bool ranks_before(const struct binding *a, const struct binding *b)
{
	unsigned qa = effective_q(a), qb = effective_q(b);

	if (qa != qb)
		return qa > qb;
	return a->registered_ms > b->registered_ms;
}

bool dp_redirect(struct dp_req *r)
{
	struct dp_worker *w = r->w;
	const struct user *usr = NULL;
	const struct binding *order[REDIRECT_MAX_CONTACTS];
	const struct aor_rec *rec;
	const struct sip_uri *ruri = &r->m->ruri_uri;
	unsigned n = 0;
	int len;

	/* The Request-URI as sip_parse() decoded it. */
	if (r->m->ruri_rc < 0)
		return dp_reply_simple(r, 400, "Malformed Request-URI");
	if (ruri->scheme != SIP_URI_SIP && ruri->scheme != SIP_URI_SIPS) {
		dp_count(&w->ctr, DP_CTR_req_bad_scheme);
		return dp_reply_simple(r, 416, NULL);
	}

	len = dp_aor_resolve(r->w, r->s, ruri, &usr);
	if (len == TDM_ENOTFOUND) {
		dp_count(&w->ctr, DP_CTR_redirect_404);
		return dp_reply_simple(r, 404, "Domain Not Served");
	}
	if (len < 0) {
		dp_count(&w->ctr, DP_CTR_redirect_404);
		return dp_reply_simple(r, 404, NULL);
	}

	tstr aor = tstr_make(w->aor, (uint32_t)len);
	rec = bind_lookup(w->shared->bindings, aor, bind_hash(w->shared->bindings, aor));

	/* Insertion sort of the live bindings: n is small. */
	for (unsigned i = 0; rec && i < rec->nbind; i++) {
		const struct binding *b = &rec->b[i];
		unsigned j;

		if (b->expires_ms <= w->now_ms)
			continue;
		for (j = n; j > 0 && ranks_before(b, order[j - 1]); j--)
			if (j < REDIRECT_MAX_CONTACTS)
				order[j] = order[j - 1];
		if (j < REDIRECT_MAX_CONTACTS)
			order[j] = b;
		if (n < REDIRECT_MAX_CONTACTS)
			n++;
	}

	if (n == 0) {
		if (usr) {
			dp_count(&w->ctr, DP_CTR_redirect_480);
			return dp_reply_simple(r, 480, NULL);
		}
		dp_count(&w->ctr, DP_CTR_redirect_404);
		return dp_reply_simple(r, 404, NULL);
	}

	dp_reply_start(r, 302, NULL);
	for (unsigned i = 0; i < n; i++) {
		const struct binding *b = order[i];

		WBUF_LIT(&r->wb, "Contact: <");
		wbuf_putt(&r->wb, binding_uri(rec, b));
		wbuf_putc(&r->wb, '>');
		dp_put_q(&r->wb, b->q);
		WBUF_LIT(&r->wb, "\r\n");
	}
	dp_count(&w->ctr, DP_CTR_redirect_302);
	return dp_reply_finish(r);
}
