/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the SIP parser: one input is one datagram. It runs
 * everything a worker may run on outside bytes (sip_parse, the Contact,
 * URI and Authorization decoders, the AOR canonicaliser) and checks a few
 * properties that must hold for any input:
 *   - every tstr handed out lies inside the datagram;
 *   - the URIs decoded in passing (To of a REGISTER, Contacts) are what
 *     sip_uri_parse() gives for their text, and the top Via is what
 *     sip_parse_via() gives (the fast paths agree with the general
 *     decoders);
 *   - a URI that parses equals itself (sip_uri_equal is reflexive);
 *   - two sip/sips URIs that compare equal have the same canonical AOR;
 *   - a canonical AOR parses again and canonicalises to itself.
 * A broken property aborts, so libFuzzer keeps the input.
 *
 * Build and run: see README.md in this folder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sip_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lo, *hi;

static void check_in(tstr t)
{
	if (t.len && (t.s < lo || t.s + t.len > hi))
		abort();
}

static void check_uri(tstr text)
{
	struct sip_uri u, v;
	char aor[512], again[512];
	int n, m;

	if (sip_uri_parse(text, &u) != 0)
		return;
	check_in(u.scheme_name);
	check_in(u.user);
	check_in(u.password);
	check_in(u.host);
	check_in(u.params);
	check_in(u.headers);
	if (!sip_uri_equal(text, text))
		abort();
	n = sip_aor_canon(&u, aor, sizeof(aor));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(aor) || aor[n] != '\0')
		abort();
	if (sip_uri_parse(tstr_make(aor, (size_t)n), &v) != 0)
		abort();
	m = sip_aor_canon(&v, again, sizeof(again));
	if (m != n || memcmp(aor, again, (size_t)n) != 0)
		abort();
}

/* Equal sip/sips URIs share their AOR. */
static void check_pair(tstr a, tstr b)
{
	struct sip_uri x, y;
	char ca[512], cb[512];
	int na, nb;

	if (!sip_uri_equal(a, b))
		return;
	if (sip_uri_parse(a, &x) != 0 || sip_uri_parse(b, &y) != 0)
		abort();
	na = sip_aor_canon(&x, ca, sizeof(ca));
	nb = sip_aor_canon(&y, cb, sizeof(cb));
	if (na != nb || (na > 0 && memcmp(ca, cb, (size_t)na) != 0))
		abort();
}

static bool same_tstr(tstr a, tstr b)
{
	return a.len == b.len && (a.len == 0 || a.s == b.s);
}

/* A URI the parser decoded once (To of a REGISTER, a Contact) is what
 * sip_uri_parse() of its text gives: the fast paths that decode it in
 * passing must agree with the general decoder. */
static void check_decoded_once(tstr text, int rc, const struct sip_uri *u)
{
	struct sip_uri want;

	if (sip_uri_parse(text, &want) != rc)
		abort();
	if (rc == 0 && (want.scheme != u->scheme || !same_tstr(want.user, u->user) ||
			!same_tstr(want.password, u->password) || !same_tstr(want.host, u->host) ||
			want.port != u->port || !same_tstr(want.params, u->params) ||
			!same_tstr(want.headers, u->headers) ||
			!same_tstr(want.scheme_name, u->scheme_name)))
		abort();
}

/* sip_parse_contacts() decodes a field holding one usual contact without
 * splitting the list: it must give what splitting gives, value by value,
 * with sip_parse_nameaddr() (the general name-addr decoder). */
static void check_contacts_split(const struct sip_msg *m)
{
	unsigned k = 0;

	for (const struct sip_header *h = sip_header_first(m, SIP_HDR_CONTACT); h;
	     h = sip_header_next(m, h)) {
		uint32_t pos = 0;
		tstr v;

		while (sip_list_next(h->value, &pos, &v)) {
			struct sip_nameaddr na;

			if (v.len == 1 && v.s[0] == '*')
				continue;
			if (k >= m->ncontacts || sip_parse_nameaddr(v, &na) != 0)
				abort();
			if (!same_tstr(na.display, m->contacts[k].na.display) ||
			    !same_tstr(na.uri, m->contacts[k].na.uri) ||
			    !same_tstr(na.params, m->contacts[k].na.params) ||
			    !same_tstr(na.tag, m->contacts[k].na.tag))
				abort();
			k++;
		}
	}
	if (k != m->ncontacts)
		abort();
}

/* The CSeq of an accepted request, as its general grammar reads it:
 * digits, LWS, the method, which is the request's. */
static void check_cseq(const struct sip_msg *m)
{
	const struct sip_header *h = sip_header_first(m, SIP_HDR_CSEQ);
	uint64_t n = 0;
	uint32_t i = 0;

	if (h == NULL)
		abort();
	for (; i < h->value.len && h->value.s[i] >= '0' && h->value.s[i] <= '9'; i++)
		if ((n = n * 10 + (uint64_t)(h->value.s[i] - '0')) > UINT32_MAX)
			abort();
	if (i == 0 || n != m->cseq || m->cseq_method != m->method ||
	    m->cseq_method_name.len != m->method_name.len ||
	    memcmp(m->cseq_method_name.s, m->method_name.s, m->method_name.len) != 0 ||
	    m->cseq_method_name.s + m->cseq_method_name.len != h->value.s + h->value.len)
		abort();
}

/* The top Via as sip_parse() decoded it (via_fast() when it has the
 * usual shape) is what sip_list_next() + sip_parse_via() make of the
 * first Via field. */
static void check_top_via(const struct sip_msg *m)
{
	const struct sip_header *h = sip_header_first(m, SIP_HDR_VIA);
	struct sip_via want;
	uint32_t pos = 0;
	tstr parm;
	bool ok;

	if (h == NULL)
		return;
	ok = sip_list_next(h->value, &pos, &parm) && sip_parse_via(parm, &want) == 0;
	if (ok != m->via_ok)
		abort();
	if (ok && (!same_tstr(m->via.value, want.value) ||
		   !same_tstr(m->via.protocol, want.protocol) ||
		   !same_tstr(m->via.transport, want.transport) ||
		   !same_tstr(m->via.host, want.host) || m->via.port != want.port ||
		   !same_tstr(m->via.params, want.params) ||
		   !same_tstr(m->via.branch, want.branch) ||
		   !same_tstr(m->via.received, want.received) ||
		   !same_tstr(m->via.maddr, want.maddr) || m->via.rport != want.rport))
		abort();
}

static void check_nameaddr(const struct sip_nameaddr *na)
{
	check_in(na->display);
	check_in(na->uri);
	check_in(na->params);
	check_in(na->tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m; /* 12 KiB: keep it off the fuzzer's stack */
	struct sip_digest_cred cred;
	struct sip_via via;
	const struct sip_header *h;
	uint32_t pos;
	tstr v;
	int rc;

	if (size > UINT32_MAX)
		return 0;
	lo = (const char *)data;
	hi = lo + size;
	rc = sip_parse(&m, lo, (uint32_t)size);
	if (rc == TDM_ETRUNCATED)
		return 0;
	if (rc == 0 && m.is_request)
		check_cseq(&m);
	check_top_via(&m);

	check_in(m.method_name);
	check_in(m.ruri);
	check_in(m.version);
	check_in(m.reason);
	check_in(m.call_id);
	check_in(m.body);
	check_in(m.via.value);
	check_in(m.via.branch);
	check_nameaddr(&m.from);
	check_nameaddr(&m.to);
	if (m.nhdrs > SIP_MAX_HEADERS)
		abort();
	for (unsigned i = 0; i < m.nhdrs; i++) {
		check_in(m.hdrs[i].line);
		check_in(m.hdrs[i].value);
		pos = 0;
		while (sip_list_next(m.hdrs[i].value, &pos, &v))
			check_in(v);
	}

	/* The rest of the Via fields, as the reply builder walks them. */
	for (h = sip_header_first(&m, SIP_HDR_VIA); h; h = sip_header_next(&m, h)) {
		pos = 0;
		while (sip_list_next(h->value, &pos, &v))
			if (sip_parse_via(v, &via) == 0)
				check_in(via.host);
	}

	/* sip_parse() decodes the To URI of a REGISTER whose To it accepts. */
	if (m.is_request && m.method == SIP_REGISTER && m.to.uri.s)
		check_decoded_once(m.to.uri, m.to_uri_rc, &m.to_uri);

	rc = sip_parse_contacts(&m);
	if (m.ncontacts > SIP_MAX_CONTACTS)
		abort();
	if (rc == 0)
		check_contacts_split(&m);
	for (unsigned i = 0; i < m.ncontacts; i++)
		check_decoded_once(m.contacts[i].na.uri, m.contacts[i].uri_rc, &m.contacts[i].uri);
	check_uri(m.ruri);
	check_uri(m.to.uri);
	check_uri(m.from.uri);
	check_pair(m.to.uri, m.from.uri);
	for (unsigned i = 0; i < m.ncontacts; i++) {
		check_nameaddr(&m.contacts[i].na);
		check_in(m.contacts[i].instance);
		check_uri(m.contacts[i].na.uri);
		check_pair(m.contacts[i].na.uri, m.to.uri);
		if (m.contacts[i].q != SIP_Q_ABSENT &&
		    (m.contacts[i].q < 0 || m.contacts[i].q > 1000))
			abort();
	}

	for (h = sip_header_first(&m, SIP_HDR_AUTHORIZATION); h; h = sip_header_next(&m, h)) {
		if (sip_parse_digest_cred(h->value, &cred) == 0) {
			check_in(cred.username);
			check_in(cred.response);
			check_in(cred.nc);
		}
	}
	sip_has_option_tag(&m, SIP_HDR_REQUIRE, "path");
	if (sip_param_find(m.via.params, "branch", &v))
		check_in(v);
	return 0;
}
