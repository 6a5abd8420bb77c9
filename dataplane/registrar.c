/* SPDX-License-Identifier: MIT */
/*
 * The registrar: REGISTER processing per RFC 3261 §10.3, with digest
 * authentication (RFC 2617, RFC 8760), Path (RFC 3327) and the binding
 * identity of RFC 5626/5627 (+sip.instance, reg-id).
 *
 * The steps, in the order of §10.3:
 *   1. Request-URI: a sip/sips URI of a domain we serve (416 / 404).
 *   2. Require: checked for every request by the pipeline (420).
 *   3. Authentication (401, stale=true for an old nonce).
 *   4. Authorisation: the authenticated user owns the AOR (403).
 *   5. To is the AOR: a sip/sips URI with a user part in our domain (400/404).
 *   6. Contacts: '*' only alone and with Expires: 0; expiry from the
 *      parameter, else the Expires field, else the default; 423 below the
 *      minimum, clamped to the maximum; per binding the Call-ID / CSeq rule.
 *   7. All changes of one REGISTER are committed together or not at all:
 *      one copy-on-write record per AOR, published atomically.
 *   8. 200 OK listing every current binding with its remaining expiry and a
 *      Date field.
 *
 * Two decisions go beyond the RFC text (docs/registrar.md):
 *   - A REGISTER with the same Call-ID and the same CSeq as a stored binding
 *     is a retransmission (we keep no transaction state): it is answered with
 *     the current bindings and changes nothing. A lower CSeq fails with 500.
 *   - A user part that names a user (by name or number) is stored under the
 *     user's name, so a phone may register its number or its name.
 */
#include <urcu-qsbr.h>

#include "digest.h"
#include "dp_internal.h"
#include "err.h"

#define REG_MAX_ATTEMPTS 16
#define REG_PATH_MAX 2048

/* What a REGISTER asks for one contact, decided before touching the table. */
struct reg_contact {
	const struct sip_contact *c;
	uint32_t expires;     /* seconds after clamping; 0: remove */
};

/* Scratch binding with its fate in this update. */
enum slot_state { SLOT_KEEP, SLOT_TOUCHED, SLOT_NEW, SLOT_REMOVED };

static uint32_t contact_expires(const struct dp_settings *s, const struct sip_msg *m,
				const struct sip_contact *c)
{
	int64_t e = c->expires != SIP_ABSENT ? c->expires
		   : m->expires != SIP_ABSENT ? m->expires
					      : (int64_t)s->default_expires;
	if (e > (int64_t)s->max_expires)
		e = s->max_expires;
	return (uint32_t)e;
}

static bool is_reg_id_equal(int32_t a, int32_t b)
{
	return a == b;
}

/*
 * Does the stored binding sc stand for the same contact as c?
 * RFC 5627 §6 / RFC 5626 §6: with +sip.instance, the instance (and reg-id)
 * identify the binding; otherwise the URI does (RFC 3261 §19.1.4).
 */
static bool same_binding(const struct binding_src *sc, const struct sip_contact *c)
{
	if (c->instance.len) {
		int32_t reg_id = c->reg_id == SIP_ABSENT ? BINDING_REG_ID_NONE : c->reg_id;
		return sc->instance.len && tstr_eq(sc->instance, c->instance) &&
		       is_reg_id_equal(sc->reg_id, reg_id);
	}
	/* A refresh almost always repeats the stored URI byte for byte. */
	return tstr_eq(sc->uri, c->na.uri) || sip_uri_equal(sc->uri, c->na.uri);
}

/* ---------------------------------------------------------------- */
/* Authentication */

static bool challenge(struct dp_req *r, bool stale)
{
	const struct dp_settings *s = r->s;
	char nonce[DIGEST_NONCE_LEN];

	digest_nonce_make_cached(&r->w->nonce_key, &r->w->shared->nonce_key, r->w->now_s,
				 r->m->call_id, nonce);
	dp_reply_start(r, 401, NULL);
	/* RFC 8760 §2.4: one challenge per algorithm, preferred first. */
	for (unsigned i = 0; i < s->nalgs; i++) {
		WBUF_LIT(&r->wb, "WWW-Authenticate: Digest realm=\"");
		wbuf_puts(&r->wb, s->realm);
		WBUF_LIT(&r->wb, "\", nonce=\"");
		wbuf_put(&r->wb, nonce, sizeof(nonce));
		WBUF_LIT(&r->wb, "\", algorithm=");
		wbuf_puts(&r->wb, digest_alg_name(s->algs[i]));
		WBUF_LIT(&r->wb, ", qop=\"auth\"");
		if (stale)
			WBUF_LIT(&r->wb, ", stale=true");
		WBUF_LIT(&r->wb, "\r\n");
	}
	dp_count(&r->w->ctr, DP_CTR_auth_challenges);
	if (stale)
		dp_count(&r->w->ctr, DP_CTR_auth_stale);
	return dp_reply_finish(r);
}

static bool offered(const struct dp_settings *s, enum digest_alg alg)
{
	for (unsigned i = 0; i < s->nalgs; i++)
		if (s->algs[i] == alg)
			return true;
	return false;
}

/*
 * Steps 3 and 4. Returns true when the request may go on; otherwise a
 * response has been written and *replied is true.
 */
static bool authenticate(struct dp_req *r, const struct user *aor_user, bool *replied)
{
	const struct dp_settings *s = r->s;
	struct sip_msg *m = r->m;
	struct sip_digest_cred cred;
	const struct sip_header *h;
	const struct user *usr;
	struct users *users;
	enum digest_alg alg;
	bool found = false;
	int rc;

	*replied = true;
	/* A request may carry credentials for several realms: use ours. */
	for (h = sip_header_first(m, SIP_HDR_AUTHORIZATION); h; h = sip_header_next(m, h)) {
		rc = sip_parse_digest_cred(h->value, &cred);
		if (rc == TDM_ENOTFOUND)
			continue;
		if (rc < 0)
			return !dp_reply_simple(r, 400, "Malformed Authorization");
		if (tstr_eq(cred.realm, tstr_cstr(s->realm))) {
			found = true;
			break;
		}
	}
	if (!found)
		return !challenge(r, false);
	if (digest_alg_parse(cred.algorithm, &alg) < 0 || !offered(s, alg))
		return !challenge(r, false);

	rc = digest_nonce_check_cached(&r->w->nonce_key, &r->w->shared->nonce_key, cred.nonce,
				       m->call_id, r->w->now_s, s->nonce_lifetime);
	if (rc == TDM_ESTALE)
		return !challenge(r, true);
	if (rc < 0)
		return !challenge(r, false);

	/* A quoted username may carry backslash escapes (RFC 3261 §25.1);
	 * the client hashed the unescaped name. */
	char name_buf[USER_NAME_MAX];
	tstr name = cred.username;
	if (tstr_chr(name, '\\') >= 0) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < cred.username.len && n < sizeof(name_buf); i++) {
			if (cred.username.s[i] == '\\' && i + 1 < cred.username.len)
				i++;
			name_buf[n++] = cred.username.s[i];
		}
		name = tstr_make(name_buf, n);
	}

	/* Usually the credentials name the AOR's user, found already: by
	 * name, users_find() would give that very record. */
	if (aor_user && tstr_eq(name, tstr_cstr(aor_user->name))) {
		usr = aor_user;
	} else {
		users = rcu_dereference(r->w->shared->users);
		usr = users ? users_find(users, name) : NULL;
	}
	if (!usr || !usr->has_password || strlen(usr->name) != name.len) {
		/* Unknown users get the same answer as a wrong password, so
		 * that answers do not tell which user names exist. Matching by
		 * number is for AORs; credentials name the user. */
		dp_count(&r->w->ctr, DP_CTR_auth_unknown_user);
		return !challenge(r, false);
	}
	if (digest_verify_cached(&r->w->ha2, alg, &cred,
				 alg == DIGEST_MD5 ? usr->ha1_md5 : usr->ha1_sha256,
				 m->method_name) < 0) {
		dp_count(&r->w->ctr, DP_CTR_auth_failed);
		return !challenge(r, false);
	}
	if (!usr->enabled || usr != aor_user) {
		dp_count(&r->w->ctr, DP_CTR_auth_forbidden);
		return !dp_reply_simple(r, 403, usr->enabled ? "Forbidden (Not Your AOR)"
							     : "Forbidden (User Disabled)");
	}
	dp_count(&r->w->ctr, DP_CTR_auth_ok);
	*replied = false;
	return true;
}

/* ---------------------------------------------------------------- */
/* The 200 OK */

static const char dec_pairs[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Decimal digits of x <= 9999999. */
static unsigned dec_len(uint32_t x)
{
	return x >= 1000000 ? 7 : x >= 100000 ? 6 : x >= 10000 ? 5 : x >= 1000 ? 4 :
	       x >= 100 ? 3 : x >= 10 ? 2 : 1;
}

/* x <= 9999999 in decimal at p, n = dec_len(x) digits, two at a time. */
static void dec_write(char *p, uint32_t x, unsigned n)
{
	for (unsigned i = n; x >= 10; x /= 100) {
		i -= 2;
		memcpy(p + i, dec_pairs + 2 * (x % 100), 2);
	}
	if (n & 1)
		p[0] = (char)('0' + x);
}

/* wbuf_putu() for the small numbers of a 200 OK (an expiry), written in
 * place two digits at a time. */
static void put_dec(struct wbuf *wb, uint64_t v)
{
	unsigned n;

	if (v > 9999999) {
		wbuf_putu(wb, v);
		return;
	}
	n = dec_len((uint32_t)v);
	if (n > wbuf_room(wb)) {
		wb->overflow = true;
		return;
	}
	dec_write(wb->p, (uint32_t)v, n);
	wb->p += n;
}

static void put_binding_contact(struct wbuf *wb, const struct binding_src *b, uint64_t now_ms)
{
	uint64_t left = b->expires_ms > now_ms ? (b->expires_ms - now_ms + 999) / 1000 : 0;

	/* The usual binding (no instance, no reg-id, q absent or 0..1), with
	 * room for its longest form: one check, then the pieces in place.
	 * The same bytes as the general way below. */
	if (!b->instance.len && b->reg_id == BINDING_REG_ID_NONE && left <= 9999999 &&
	    (b->q == BINDING_Q_NONE || b->q <= 1000) && b->uri.len <= wbuf_room(wb) &&
	    wbuf_room(wb) - b->uri.len >= 10 + 10 + 7 + 8 + 2) {
		char *p = wb->p;
		unsigned n = dec_len((uint32_t)left);

		memcpy(p, "Contact: <", 10);
		memcpy(p + 10, b->uri.s, b->uri.len);
		p += 10 + b->uri.len;
		memcpy(p, ">;expires=", 10);
		dec_write(p + 10, (uint32_t)left, n);
		p += 10 + n;
		if (b->q != BINDING_Q_NONE) {
			/* ";q=" and q / 1000 with three decimals: "0.500". */
			memcpy(p, ";q=", 3);
			p[3] = (char)('0' + b->q / 1000);
			p[4] = '.';
			p[5] = (char)('0' + b->q / 100 % 10);
			p[6] = (char)('0' + b->q / 10 % 10);
			p[7] = (char)('0' + b->q % 10);
			p += 8;
		}
		memcpy(p, "\r\n", 2);
		wb->p = p + 2;
		return;
	}
	WBUF_LIT(wb, "Contact: <");
	wbuf_putt(wb, b->uri);
	WBUF_LIT(wb, ">;expires=");
	put_dec(wb, left);
	dp_put_q(wb, b->q);
	if (b->instance.len) {
		WBUF_LIT(wb, ";+sip.instance=\"");
		wbuf_putt(wb, b->instance);
		wbuf_putc(wb, '"');
	}
	if (b->reg_id != BINDING_REG_ID_NONE) {
		WBUF_LIT(wb, ";reg-id=");
		wbuf_putu(wb, (uint64_t)b->reg_id);
	}
	WBUF_LIT(wb, "\r\n");
}

static bool reply_ok(struct dp_req *r, const struct binding_src *b, unsigned n)
{
	struct sip_msg *m = r->m;
	const struct sip_header *h;

	dp_reply_start(r, 200, NULL);
	for (unsigned i = 0; i < n; i++)
		put_binding_contact(&r->wb, &b[i], r->w->now_ms);
	/* RFC 3327 §5.3: echo Path to a UA that supports it. */
	if (m->hdr_count[SIP_HDR_PATH] &&
	    (sip_has_option_tag(m, SIP_HDR_SUPPORTED, "path") ||
	     sip_has_option_tag(m, SIP_HDR_REQUIRE, "path"))) {
		for (h = sip_header_first(m, SIP_HDR_PATH); h; h = sip_header_next(m, h)) {
			wbuf_putt(&r->wb, h->line);
			WBUF_LIT(&r->wb, "\r\n");
		}
	}
	return dp_reply_finish_dated(r);
}

/* ---------------------------------------------------------------- */
/* Step 6 and 7 */

/* Path fields joined with ", " (RFC 3261 §7.3.1 allows either form). */
static bool join_path(struct sip_msg *m, char *buf, size_t cap, tstr *out)
{
	const struct sip_header *h = sip_header_first(m, SIP_HDR_PATH);
	struct wbuf wb;

	*out = TSTR_NULL;
	if (!h)
		return true;
	if (!sip_header_next(m, h)) {
		*out = h->value;
		return true;
	}
	wbuf_init(&wb, buf, cap);
	for (; h; h = sip_header_next(m, h)) {
		if (wbuf_len(&wb))
			WBUF_LIT(&wb, ", ");
		wbuf_putt(&wb, h->value);
	}
	if (wb.overflow)
		return false;
	*out = tstr_make(buf, wbuf_len(&wb));
	return true;
}

/* first: the AOR's record as dp_register() looked it up (may be NULL),
 * for the first attempt; a retry looks it up again. */
static bool apply(struct dp_req *r, tstr aor, uint64_t hash, uint32_t max_contacts,
		  const struct aor_rec *first)
{
	struct dp_worker *w = r->w;
	struct sip_msg *m = r->m;
	struct bind_table *t = w->shared->bindings;
	struct binding_src *sc = w->scratch;
	uint8_t state[DP_SCRATCH_BINDINGS];
	const struct sip_header *ua_hdr = sip_header_first(m, SIP_HDR_USER_AGENT);
	tstr ua = ua_hdr ? ua_hdr->value : TSTR_NULL;
	char pathbuf[REG_PATH_MAX];
	tstr path;
	unsigned attempt;

	if (!join_path(m, pathbuf, sizeof(pathbuf), &path))
		return dp_reply_simple(r, 400, "Path Too Long");

	for (attempt = 0; attempt < REG_MAX_ATTEMPTS; attempt++) {
		const struct aor_rec *old = attempt == 0 ? first : bind_lookup(t, aor, hash);
		unsigned n = 0, live_before = 0, expired = 0;
		unsigned added = 0, refreshed = 0, removed = 0;
		bool changed = false;

		if (old) {
			for (unsigned i = 0; i < old->nbind; i++) {
				if (old->b[i].expires_ms <= w->now_ms) {
					expired++;
					continue;
				}
				if (n == DP_SCRATCH_BINDINGS)
					break;
				binding_to_src(old, &old->b[i], &sc[n]);
				state[n++] = SLOT_KEEP;
			}
		}
		live_before = n;
		changed = expired > 0;

		if (m->contact_star) {
			/* §10.3 step 6: '*' removes every binding, each subject
			 * to the Call-ID / CSeq rule. */
			for (unsigned i = 0; i < n; i++) {
				if (tstr_eq(sc[i].call_id, m->call_id) && m->cseq <= sc[i].cseq) {
					dp_count(&w->ctr, DP_CTR_reg_out_of_order);
					return dp_reply_simple(r, 500, "CSeq Out of Order");
				}
				state[i] = SLOT_REMOVED;
				removed++;
				changed = true;
			}
		}

		for (unsigned ci = 0; !m->contact_star && ci < m->ncontacts; ci++) {
			const struct sip_contact *c = &m->contacts[ci];
			uint32_t exp = contact_expires(r->s, m, c);
			unsigned j;

			for (j = 0; j < n; j++)
				if (state[j] != SLOT_REMOVED && same_binding(&sc[j], c))
					break;

			if (j < n && state[j] == SLOT_KEEP && tstr_eq(sc[j].call_id, m->call_id)) {
				if (m->cseq < sc[j].cseq) {
					dp_count(&w->ctr, DP_CTR_reg_out_of_order);
					return dp_reply_simple(r, 500, "CSeq Out of Order");
				}
				if (m->cseq == sc[j].cseq)
					continue;  /* a retransmission: already applied */
			}

			if (exp == 0) {
				if (j < n) {
					if (state[j] == SLOT_NEW)
						added--;
					else
						removed++;
					if (state[j] == SLOT_TOUCHED)
						refreshed--;
					state[j] = SLOT_REMOVED;
					changed = true;
				}
				continue;
			}
			if (j == n) {
				if (n == DP_SCRATCH_BINDINGS) {
					dp_count(&w->ctr, DP_CTR_reg_too_many_contacts);
					return dp_reply_simple(r, 403, "Too Many Contacts");
				}
				state[n++] = SLOT_NEW;
				added++;
			} else if (state[j] == SLOT_KEEP) {
				state[j] = SLOT_TOUCHED;
				refreshed++;
			}
			sc[j] = (struct binding_src){
				.uri = c->na.uri,
				.call_id = m->call_id,
				.instance = c->instance,
				.path = path,
				.user_agent = ua,
				.expires_ms = w->now_ms + (uint64_t)exp * 1000,
				.registered_ms = w->now_ms,
				.cseq = m->cseq,
				.reg_id = c->reg_id == SIP_ABSENT ? BINDING_REG_ID_NONE : c->reg_id,
				.q = c->q == SIP_Q_ABSENT ? BINDING_Q_NONE : (uint16_t)c->q,
				.source = r->in->src,
			};
			changed = true;
		}

		/* Drop the removed slots. */
		unsigned live = 0;
		for (unsigned i = 0; i < n; i++) {
			if (state[i] == SLOT_REMOVED)
				continue;
			if (live != i)
				sc[live] = sc[i];
			live++;
		}

		if (max_contacts && live > max_contacts && live > live_before) {
			dp_count(&w->ctr, DP_CTR_reg_too_many_contacts);
			return dp_reply_simple(r, 403, "Too Many Contacts");
		}

		/* A new AOR takes a port license (an AOR that is only
		 * refreshed, queried or removed never needs one). */
		if (!old && live && r->s->limit_aors &&
		    dp_aors_registered(w->shared) >= r->s->max_aors) {
			dp_count(&w->ctr, DP_CTR_reg_license_refused);
			return dp_reply_simple(r, 403, "Port Licenses Exhausted");
		}

		if (changed) {
			struct aor_rec *rec = NULL;
			int rc, err = 0;

			if (live) {
				rec = aor_rec_build(w->pool, aor, hash, sc, live, &err);
				if (!rec) {
					if (err == TDM_ETOOMANY) {
						dp_count(&w->ctr, DP_CTR_reg_too_many_contacts);
						return dp_reply_simple(r, 403, "Bindings Too Large");
					}
					dp_count(&w->ctr, DP_CTR_reg_no_memory);
					return dp_reply_simple(r, 500, "Out Of Memory");
				}
			}
			rc = (old || rec) ? bind_publish(t, old, rec) : 0;
			if (rc == TDM_ERACE) {
				/* Someone else changed this AOR: start over from
				 * its current record. */
				if (rec)
					aor_rec_discard(rec);
				dp_count(&w->ctr, DP_CTR_reg_races);
				continue;
			}
			if (!old && rec)
				dp_count(&w->ctr, DP_CTR_aors_added);
			if (old && !rec)
				dp_count(&w->ctr, DP_CTR_aors_removed);
			dp_count_add(&w->ctr, DP_CTR_bindings_added, added);
			dp_count_add(&w->ctr, DP_CTR_bindings_refreshed, refreshed);
			dp_count_add(&w->ctr, DP_CTR_bindings_removed, removed);
			dp_count_add(&w->ctr, DP_CTR_bindings_expired, expired);
			dp_count(&w->ctr, m->contact_star ? DP_CTR_reg_unregisters
							  : DP_CTR_reg_updates);
		} else {
			dp_count(&w->ctr, m->ncontacts ? DP_CTR_reg_updates : DP_CTR_reg_queries);
		}
		return reply_ok(r, sc, live);
	}

	/* Pathological contention on one AOR: let the phone retry. */
	dp_reply_start(r, 500, "Busy, Retry");
	WBUF_LIT(&r->wb, "Retry-After: 1\r\n");
	return dp_reply_finish(r);
}

/* ---------------------------------------------------------------- */

bool dp_register(struct dp_req *r)
{
	const struct dp_settings *s = r->s;
	struct sip_msg *m = r->m;
	struct dp_worker *w = r->w;
	const struct user *usr = NULL;
	const struct sip_uri *ruri, *to;
	uint32_t max_contacts;
	int len, rc;

	/* Step 1: the Request-URI names a domain we serve. */
	if (m->ruri_rc < 0)
		return dp_reply_simple(r, 400, "Malformed Request-URI");
	ruri = &m->ruri_uri;
	if (ruri->scheme != SIP_URI_SIP && ruri->scheme != SIP_URI_SIPS) {
		dp_count(&w->ctr, DP_CTR_req_bad_scheme);
		return dp_reply_simple(r, 416, NULL);
	}
	if (!dp_host_served(s, ruri->host)) {
		dp_count(&w->ctr, DP_CTR_reg_domain_refused);
		return dp_reply_simple(r, 404, "Domain Not Served");
	}

	/* RFC 3327 §5.3: Path only from a UA that knows it is used. */
	if (sip_header_first(m, SIP_HDR_PATH) &&
	    !sip_has_option_tag(m, SIP_HDR_SUPPORTED, "path") &&
	    !sip_has_option_tag(m, SIP_HDR_REQUIRE, "path")) {
		dp_reply_start(r, 421, NULL);
		WBUF_LIT(&r->wb, "Require: path\r\n");
		return dp_reply_finish(r);
	}

	/* Step 5 first in code, because steps 3-4 need to know whose AOR it is;
	 * its answers only come after authentication. The To URI as
	 * sip_parse() decoded it. */
	to = &m->to_uri;
	if (m->to_uri_rc < 0 || (to->scheme != SIP_URI_SIP && to->scheme != SIP_URI_SIPS)) {
		dp_count(&w->ctr, DP_CTR_reg_bad_aor);
		return dp_reply_simple(r, 400, "To Is Not A SIP URI");
	}
	len = dp_aor_resolve(r->w, r->s, to, &usr);

	/* Steps 3 and 4. */
	if (s->auth == DP_AUTH_DIGEST) {
		bool replied;

		if (!authenticate(r, len >= 0 ? usr : NULL, &replied))
			return replied;
	}

	if (len == TDM_ENOTFOUND) {
		dp_count(&w->ctr, DP_CTR_reg_domain_refused);
		return dp_reply_simple(r, 404, "Domain Not Served");
	}
	if (len < 0) {
		dp_count(&w->ctr, DP_CTR_reg_bad_aor);
		return dp_reply_simple(r, 404, "Not Found");
	}

	/* Look the AOR up now and start loading its record, which apply()
	 * reads first: the loads overlap the Contact parsing. The pointer
	 * stays valid until this worker's next quiescent state, after the
	 * request. */
	tstr aor = tstr_make(w->aor, (uint32_t)len);
	uint64_t hash = bind_hash(w->shared->bindings, aor);
	const struct aor_rec *cur = bind_lookup(w->shared->bindings, aor, hash);

	if (cur) {
		/* Four lines: a one-binding record with a phone's usual
		 * Contact, Call-ID and User-Agent is 220 to 300 bytes, and
		 * apply() compares the Call-ID, near its end. (A prefetch
		 * past the allocation cannot fault.) */
		for (int i = 0; i < 4; i++)
			__builtin_prefetch((const char *)cur + 64 * i);
	}
	/* And the memory the new record will most likely be built in. */
	rec_pool_prefetch_next(w->pool);

	/* Step 6. */
	rc = sip_parse_contacts(m);
	if (rc < 0) {
		if (rc == TDM_ETOOMANY) {
			dp_count(&w->ctr, DP_CTR_reg_too_many_contacts);
			return dp_reply_simple(r, 403, "Too Many Contacts");
		}
		dp_count(&w->ctr, DP_CTR_rx_malformed);
		return dp_reply_simple(r, 400, m->error ? m->error : "Malformed Contact");
	}
	if (m->contact_star && m->expires != 0)
		return dp_reply_simple(r, 400, "Contact * Needs Expires: 0");

	for (unsigned i = 0; i < m->ncontacts; i++) {
		const struct sip_contact *c = &m->contacts[i];
		int64_t e = c->expires != SIP_ABSENT ? c->expires
			   : m->expires != SIP_ABSENT ? m->expires
						      : (int64_t)s->default_expires;

		if (c->uri_rc < 0) {
			dp_count(&w->ctr, DP_CTR_rx_malformed);
			return dp_reply_simple(r, 400, "Malformed Contact URI");
		}
		if (e > 0 && e < (int64_t)s->min_expires) {
			dp_count(&w->ctr, DP_CTR_reg_interval_too_brief);
			dp_reply_start(r, 423, NULL);
			WBUF_LIT(&r->wb, "Min-Expires: ");
			wbuf_putu(&r->wb, s->min_expires);
			WBUF_LIT(&r->wb, "\r\n");
			return dp_reply_finish(r);
		}
	}

	max_contacts = usr && usr->max_contacts ? usr->max_contacts : s->max_contacts;
	return apply(r, aor, hash, max_contacts, cur);
}
