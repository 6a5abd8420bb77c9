/* SPDX-License-Identifier: MIT */
/*
 * The registrar and redirect server through the whole pipeline: each rule
 * of RFC 3261 §10.3, digest authentication, and the answers of DESIGN.md §2,
 * checked on the responses dp_process() writes.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "digest.h"
#include "err.h"
#include "pipeline.h"
#include "rec_pool.h"

static struct dp_shared shared;
static struct dp_settings *settings;
static struct dp_worker *w;
static struct rec_pool *pool;
static char reply_buf[DP_REPLY_MAX];
static char last[DP_REPLY_MAX + 1];
static union tdm_addr src;
static union tdm_addr last_dst;

static void add_user(struct users *u, const char *name, const char *number,
		     const char *password, uint32_t max_contacts)
{
	struct user *usr = users_alloc();

	cr_assert_not_null(usr);
	snprintf(usr->name, sizeof(usr->name), "%s", name);
	snprintf(usr->number, sizeof(usr->number), "%s", number);
	usr->enabled = true;
	usr->max_contacts = max_contacts;
	if (password) {
		usr->has_password = true;
		digest_ha1(DIGEST_MD5, tstr_cstr(name), TSTR_LIT("example.com"),
			   tstr_cstr(password), usr->ha1_md5);
		digest_ha1(DIGEST_SHA256, tstr_cstr(name), TSTR_LIT("example.com"),
			   tstr_cstr(password), usr->ha1_sha256);
	}
	cr_assert_eq(users_put(u, usr), 0);
}

static void setup(void)
{
	struct users *users;

	rcu_register_thread();
	settings = calloc(1, sizeof(*settings));
	strcpy(settings->domain, "example.com");
	strcpy(settings->realm, "example.com");
	settings->auth = DP_AUTH_NONE;
	settings->default_expires = 3600;
	settings->min_expires = 60;
	settings->max_expires = 7200;
	settings->max_contacts = 3;
	settings->nonce_lifetime = 300;
	settings->algs[0] = DIGEST_SHA256;
	settings->algs[1] = DIGEST_MD5;
	settings->nalgs = 2;
	strcpy(settings->aliases[settings->naliases++], "registrar.example.com");
	addr_parse("192.0.2.1:5060", 0, &settings->addrs[settings->naddrs++]);
	strcpy(settings->server, "tandem-test");

	users = users_create();
	add_user(users, "alice", "100", "alicepw", 0);
	add_user(users, "bob", "200", "bobpw", 0);
	add_user(users, "carol", "", NULL, 1);

	memset(&shared, 0, sizeof(shared));
	shared.bindings = bind_table_create(&(struct bind_table_params){ 0 });
	shared.users = users;
	shared.settings = settings;
	memcpy(shared.nonce_key.key, "0123456789abcdef0123456789abcdef", 32);
	memcpy(shared.tag_key, "tag-key-16-bytes", 16);

	pool = rec_pool_create("test");
	w = aligned_alloc(64, sizeof(*w));
	dp_worker_init(w, 0, &shared, pool);
	addr_parse("192.0.2.10:5062", 0, &src);
}

static void teardown(void)
{
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	bind_table_destroy(shared.bindings);
	users_destroy(shared.users);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	rec_pool_destroy(pool);
	free(w);
	free(settings);
	rcu_unregister_thread();
}

TestSuite(registrar, .init = setup, .fini = teardown);

/* Send a request written with \n line ends (turned into CRLF). Returns the
 * reply as a string, or NULL when there is none. */
static const char *sendv(const char *fmt, va_list ap)
{
	char text[8192], wire[8192];
	size_t n = 0;
	struct dp_reply rep = { .data = reply_buf, .cap = sizeof(reply_buf) };

	vsnprintf(text, sizeof(text), fmt, ap);
	for (const char *p = text; *p && n < sizeof(wire) - 2; p++) {
		if (*p == '\n')
			wire[n++] = '\r';
		wire[n++] = *p;
	}
	struct dp_datagram dg = { .data = wire, .len = (uint32_t)n, .src = src };
	if (!dp_process(w, &dg, &rep))
		return NULL;
	cr_assert_gt(rep.len, 0);
	memcpy(last, rep.data, rep.len);
	last[rep.len] = '\0';
	last_dst = rep.dst;
	return last;
}

static const char *send_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *send_msg(const char *fmt, ...)
{
	va_list ap;
	const char *r;

	va_start(ap, fmt);
	r = sendv(fmt, ap);
	va_end(ap);
	return r;
}

static int code_of(const char *resp)
{
	cr_assert_not_null(resp, "expected a response");
	cr_assert(strncmp(resp, "SIP/2.0 ", 8) == 0, "not a status line: %.40s", resp);
	return atoi(resp + 8);
}

static unsigned count_of(const char *resp, const char *needle)
{
	unsigned n = 0;

	for (const char *p = resp; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A REGISTER for `user` with the given Call-ID, CSeq and extra lines. */
#define REGISTER(user, callid, cseq, extra)                                              \
	send_msg("REGISTER sip:example.com SIP/2.0\n"                                    \
		 "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-%d;rport\n"         \
		 "Max-Forwards: 70\n"                                                    \
		 "To: <sip:" user "@example.com>\n"                                      \
		 "From: <sip:" user "@example.com>;tag=f1\n"                             \
		 "Call-ID: " callid "\n"                                                 \
		 "CSeq: %d REGISTER\n"                                                   \
		 extra                                                                   \
		 "Content-Length: 0\n\n", (cseq), (cseq))

static unsigned bindings_of(const char *aor)
{
	const struct aor_rec *rec = bind_lookup(shared.bindings, tstr_cstr(aor),
						bind_hash(shared.bindings, tstr_cstr(aor)));
	unsigned n = 0;

	for (unsigned i = 0; rec && i < rec->nbind; i++)
		if (rec->b[i].expires_ms > w->now_ms)
			n++;
	return n;
}

/*
 * A rival writer for the copy-on-write retry tests. The unit binary is
 * linked with -Wl,--wrap=bind_publish (tests/meson.build), so the
 * registrar's publish comes here first. While `rival_wins` is positive, a
 * "second worker" publishes its own change of the same AOR just before
 * the registrar's publish: one binding of another phone, replacing whatever
 * is current. The registrar's publish then genuinely loses (TDM_ERACE) and
 * it has to start over from the rival's record. Other callers (the tables'
 * own tests) pass straight through.
 */
int __real_bind_publish(struct bind_table *t, const struct aor_rec *old, struct aor_rec *rec);
int __wrap_bind_publish(struct bind_table *t, const struct aor_rec *old, struct aor_rec *rec);

static unsigned rival_wins;    /* rival publishes still to make */
static unsigned rival_made;    /* rival publishes made */

int __wrap_bind_publish(struct bind_table *t, const struct aor_rec *old, struct aor_rec *rec)
{
	if (rival_wins && rec) {
		tstr aor = aor_rec_key(rec);
		const struct aor_rec *cur = bind_lookup(t, aor, rec->hash);
		struct binding_src b = {
			.uri = TSTR_LIT("sip:rival@192.0.2.77"),
			.call_id = TSTR_LIT("rival-call"),
			.expires_ms = w->now_ms + 600 * 1000,
			.registered_ms = w->now_ms,
			.cseq = ++rival_made,
			.reg_id = BINDING_REG_ID_NONE,
			.q = BINDING_Q_NONE,
			.source = src,
		};
		int err = 0;
		struct aor_rec *mine = aor_rec_build(pool, aor, rec->hash, &b, 1, &err);

		cr_assert_not_null(mine, "rival record: %d", err);
		cr_assert_eq(__real_bind_publish(t, cur, mine), 0, "the rival publishes first");
		rival_wins--;
	}
	return __real_bind_publish(t, old, rec);
}

/* ---- §10.3 step 8 and the basics ---- */

Test(registrar, register_creates_binding_and_200_lists_it_with_date_and_to_tag)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Contact: <sip:alice@192.0.2.10:5062>\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "Contact: <sip:alice@192.0.2.10:5062>;expires=3600\r\n"), "%s", r);
	cr_assert(strstr(r, "\r\nDate: "), "200 OK must carry a Date");
	cr_assert(strstr(r, "To: <sip:alice@example.com>;tag="), "a To tag is added");
	cr_assert(strstr(r, ";received=192.0.2.10;rport=5062"), "%s", r);
	cr_assert(strstr(r, "Call-ID: c1@host\r\nCSeq: 1 REGISTER\r\n"), "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
}

Test(registrar, retransmission_gets_same_to_tag)
{
	char first[DP_REPLY_MAX + 1];
	const char *r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	strcpy(first, r);
	r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 200, "a retransmission is answered, not refused");
	const char *t1 = strstr(first, ";tag="), *t2 = strstr(r, ";tag=");
	cr_assert(t1 && t2);
	cr_assert_eq(strncmp(t1, t2, 21), 0, "the same request gets the same To tag");
}

Test(registrar, response_goes_to_rport_source_or_via_port)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(addr_port(&last_dst), 5062, "rport: back to the source port");
	const char *r = send_msg("OPTIONS sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.99:5070;branch=z9hG4bK-o\n"
				 "To: <sip:example.com>\nFrom: <sip:x@example.com>;tag=1\n"
				 "Call-ID: o1\nCSeq: 1 OPTIONS\n\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(addr_port(&last_dst), 5070, "no rport: to the sent-by port");
	cr_assert(strstr(r, ";received=192.0.2.10\r\n"), "sent-by differs from source: %s", r);
}

Test(registrar, reregister_with_higher_cseq_refreshes)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>;expires=600\n");
	const char *r = REGISTER("alice", "c1@host", 2, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "<sip:a@192.0.2.10>;expires=3600"), "%s", r);
	cr_assert_eq(count_of(r, "Contact:"), 1, "refreshed, not duplicated");
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
}

Test(registrar, lower_cseq_same_call_id_fails_and_changes_nothing)
{
	REGISTER("alice", "c1@host", 5, "Contact: <sip:a@192.0.2.10>;expires=600\n");
	const char *r = REGISTER("alice", "c1@host", 4, "Contact: <sip:a@192.0.2.10>;expires=0\n");
	cr_assert_eq(code_of(r), 500);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1, "the binding survives");
}

Test(registrar, new_call_id_replaces_binding_whatever_its_cseq)
{
	REGISTER("alice", "c1@host", 50, "Contact: <sip:a@192.0.2.10>\n");
	const char *r = REGISTER("alice", "c2@host", 1, "Contact: <sip:a@192.0.2.10>;expires=120\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "expires=120"), "%s", r);
	cr_assert_eq(count_of(r, "Contact:"), 1);
}

Test(registrar, uri_comparison_finds_the_same_binding)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:alice@192.0.2.10;transport=udp>\n");
	/* §19.1.4: scheme and host compare case-insensitively. */
	const char *r = REGISTER("alice", "c1@host", 2,
				 "Contact: <SIP:alice@192.0.2.10;TRANSPORT=udp>;expires=0\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(count_of(r, "Contact:"), 0, "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

/* ---- step 6: expiry ---- */

Test(registrar, expires_parameter_wins_over_header_and_default_applies)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Expires: 300\n"
				 "Contact: <sip:a@192.0.2.10>;expires=200, <sip:b@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "<sip:a@192.0.2.10>;expires=200"), "%s", r);
	cr_assert(strstr(r, "<sip:b@192.0.2.10>;expires=300"), "%s", r);
	r = REGISTER("bob", "c2@host", 1, "Contact: <sip:b@192.0.2.11>\n");
	cr_assert(strstr(r, "expires=3600"), "default_expires applies: %s", r);
}

Test(registrar, interval_below_minimum_gets_423_with_min_expires)
{
	const char *r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>;expires=30\n");
	cr_assert_eq(code_of(r), 423);
	cr_assert(strstr(r, "Min-Expires: 60\r\n"), "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, interval_above_maximum_is_shortened)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Contact: <sip:a@192.0.2.10>;expires=99999999999\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "expires=7200"), "%s", r);
}

Test(registrar, all_or_nothing_when_one_contact_fails)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>;expires=5\n");
	cr_assert_eq(code_of(r), 423);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0,
		     "§10.3: no binding is committed unless all are");
}

Test(registrar, expires_zero_removes_one_binding)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>\n");
	const char *r = REGISTER("alice", "c1@host", 2, "Contact: <sip:a@192.0.2.10>;expires=0\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(count_of(r, "Contact:"), 1);
	cr_assert(strstr(r, "<sip:b@192.0.2.10>"));
	r = REGISTER("alice", "c1@host", 3, "Expires: 0\nContact: <sip:b@192.0.2.10>\n");
	cr_assert_eq(count_of(r, "Contact:"), 0, "Expires: 0 removes too: %s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, star_with_expires_zero_removes_all)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>\n");
	const char *r = REGISTER("alice", "c1@host", 2, "Expires: 0\nContact: *\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(count_of(r, "Contact:"), 0);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, star_without_expires_zero_or_with_others_is_400)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 2, "Contact: *\n")), 400);
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 3, "Expires: 30\nContact: *\n")), 400);
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 4,
				      "Expires: 0\nContact: *, <sip:x@192.0.2.1>\n")), 400);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
}

Test(registrar, star_with_old_cseq_fails)
{
	REGISTER("alice", "c1@host", 9, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 9, "Expires: 0\nContact: *\n")), 500);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
}

Test(registrar, query_without_contact_lists_bindings_and_changes_nothing)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>;q=0.5\n");
	const char *r = REGISTER("alice", "c9@host", 1, "");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "Contact: <sip:a@192.0.2.10>;expires="), "%s", r);
	cr_assert(strstr(r, ";q=0.500"), "q is listed: %s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
}

Test(registrar, expired_bindings_are_not_listed)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>;expires=60\n");
	w->now_ms += 61 * 1000;
	const char *r = REGISTER("alice", "c1@host", 2, "");
	cr_assert_eq(count_of(r, "Contact:"), 0, "%s", r);
}

/* ---- steps 1, 2, 5 ---- */

Test(registrar, domain_not_served_is_404)
{
	const char *r = send_msg("REGISTER sip:other.org SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@other.org>\nFrom: <sip:alice@other.org>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\nContact: <sip:a@192.0.2.10>\n\n");
	cr_assert_eq(code_of(r), 404);
}

Test(registrar, aliases_map_to_the_domain)
{
	const char *r = send_msg("REGISTER sip:192.0.2.1 SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@192.0.2.1>\nFrom: <sip:alice@192.0.2.1>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\nContact: <sip:a@192.0.2.10>\n\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1,
		     "an AOR at one of our addresses is stored under the domain");
}

Test(registrar, number_and_name_are_one_aor)
{
	REGISTER("100", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
	const char *r = REGISTER("alice", "c2@host", 1, "");
	cr_assert_eq(count_of(r, "Contact:"), 1, "%s", r);
}

Test(registrar, request_uri_of_unknown_scheme_is_416)
{
	const char *r = send_msg("REGISTER tel:+15551234 SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\n\n");
	cr_assert_eq(code_of(r), 416);
}

Test(registrar, to_that_is_not_sip_is_400)
{
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: isbn:2983792873\nFrom: <sip:alice@example.com>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\nContact: <sip:a@192.0.2.10>\n\n");
	cr_assert_eq(code_of(r), 400);
}

/* A status line with its reason phrase, e.g. "404 Domain Not Served". */
static void assert_status(const char *resp, const char *code_and_reason)
{
	char line[128];

	snprintf(line, sizeof(line), "SIP/2.0 %s\r\n", code_and_reason);
	cr_assert_not_null(resp, "expected a response");
	cr_assert_eq(strncmp(resp, line, strlen(line)), 0, "expected \"%s\", got: %.60s",
		     code_and_reason, resp);
}

Test(registrar, to_in_a_domain_not_served_is_404_even_when_the_request_uri_is_ours)
{
	/* §10.3 step 5: the To host must be a domain this node serves, even
	 * when the Request-URI (step 1) is. */
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@other.org>\nFrom: <sip:alice@other.org>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\nContact: <sip:b@192.0.2.10>\n\n");
	assert_status(r, "404 Domain Not Served");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_domain_refused), 1);
	cr_assert_eq(bindings_of("sip:alice@other.org"), 0, "nothing is stored for other.org");
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1,
		     "the AOR of the same user in our domain is untouched");
}

Test(registrar, to_without_a_user_part_is_404_and_stores_nothing)
{
	/* A domain alone is not an address-of-record. */
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:example.com>\nFrom: <sip:alice@example.com>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\nContact: <sip:a@192.0.2.10>\n\n");
	assert_status(r, "404 Not Found");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_bad_aor), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_bindings_added), 0);
	cr_assert_eq(bindings_of("sip:example.com"), 0);
}

Test(registrar, unsupported_require_is_420_listing_the_tags)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Require: path, foo, bar\nSupported: path\n"
				 "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 420);
	cr_assert(strstr(r, "Unsupported: foo, bar\r\n"), "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, path_is_stored_and_echoed_to_a_ua_that_supports_it)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Supported: path\nPath: <sip:edge.example.com;lr>\n"
				 "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "Path: <sip:edge.example.com;lr>\r\n"), "%s", r);
	const struct aor_rec *rec = bind_lookup(shared.bindings, TSTR_LIT("sip:alice@example.com"),
		bind_hash(shared.bindings, TSTR_LIT("sip:alice@example.com")));
	cr_assert_not_null(rec);
	cr_assert(tstr_eq(binding_path(rec, &rec->b[0]), TSTR_LIT("<sip:edge.example.com;lr>")));
}

Test(registrar, path_without_support_is_421)
{
	const char *r = REGISTER("alice", "c1@host", 1,
				 "Path: <sip:edge.example.com;lr>\nContact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 421);
	cr_assert(strstr(r, "Require: path\r\n"));
}

/* ---- contact limits and identities ---- */

Test(registrar, contact_limit_refuses_growth_but_allows_refresh)
{
	REGISTER("alice", "c1@host", 1,
		 "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>, <sip:c@192.0.2.10>\n");
	cr_assert_eq(bindings_of("sip:alice@example.com"), 3);
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 2, "Contact: <sip:d@192.0.2.10>\n")), 403);
	cr_assert_eq(code_of(REGISTER("alice", "c1@host", 3, "Contact: <sip:a@192.0.2.10>\n")), 200);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 3);
}

Test(registrar, per_user_contact_limit_overrides_node_limit)
{
	cr_assert_eq(code_of(REGISTER("carol", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n")), 200);
	cr_assert_eq(code_of(REGISTER("carol", "c1@host", 2, "Contact: <sip:b@192.0.2.10>\n")), 403);
}

Test(registrar, one_register_with_more_contacts_than_max_contacts_is_403_and_stores_none)
{
	/* max_contacts is 3: four new contacts in one request are refused as a
	 * whole (§10.3 step 7: all or nothing), not cut down to three. */
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	const char *r = REGISTER("alice", "c1@host", 2,
				 "Contact: <sip:b@192.0.2.10>, <sip:c@192.0.2.10>, "
				 "<sip:d@192.0.2.10>, <sip:e@192.0.2.10>\n");
	assert_status(r, "403 Too Many Contacts");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_too_many_contacts), 1);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1, "the stored binding survives alone");
	r = REGISTER("bob", "c2@host", 1,
		     "Contact: <sip:a@192.0.2.11>, <sip:b@192.0.2.11>, <sip:c@192.0.2.11>, "
		     "<sip:d@192.0.2.11>\n");
	assert_status(r, "403 Too Many Contacts");
	cr_assert_eq(bindings_of("sip:bob@example.com"), 0, "a first REGISTER stores none either");
}

Test(registrar, register_with_more_contacts_than_one_request_may_carry_is_403)
{
	/* Beyond SIP_MAX_CONTACTS the parser stops; with no per-AOR limit the
	 * answer is still 403, and nothing is stored. */
	char contacts[4096], *p = contacts;

	settings->max_contacts = 0;
	p += sprintf(p, "Contact: ");
	for (int i = 0; i <= SIP_MAX_CONTACTS; i++)
		p += sprintf(p, "%s<sip:c%d@192.0.2.10>", i ? ", " : "", i);
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=1\n"
				 "Call-ID: c1@host\nCSeq: 1 REGISTER\n%s\n\n", contacts);
	assert_status(r, "403 Too Many Contacts");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_too_many_contacts), 1);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, malformed_contact_uri_is_400_and_changes_nothing)
{
	/* The Contact field parses (a name-addr in angle brackets) but its URI
	 * does not: no host after the '@'. The other contact of the same
	 * request is not stored either. */
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	const char *r = REGISTER("alice", "c1@host", 2,
				 "Contact: <sip:b@192.0.2.10>, <sip:bad@>\n");
	assert_status(r, "400 Malformed Contact URI");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_rx_malformed), 1);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
	r = REGISTER("alice", "c1@host", 3, "");
	cr_assert(strstr(r, "<sip:a@192.0.2.10>"), "%s", r);
	cr_assert_null(strstr(r, "<sip:b@192.0.2.10>"), "%s", r);
}

Test(registrar, instance_id_identifies_the_binding_across_uri_changes)
{
	REGISTER("alice", "c1@host", 1,
		 "Contact: <sip:a@192.0.2.10:5062>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\n");
	const char *r = REGISTER("alice", "c2@host", 1,
				 "Contact: <sip:a@192.0.2.10:6000>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert_eq(count_of(r, "Contact:"), 1, "same instance and reg-id: replaced: %s", r);
	cr_assert(strstr(r, "sip:a@192.0.2.10:6000"));
	cr_assert(strstr(r, "+sip.instance=\"<urn:uuid:1>\";reg-id=1"), "%s", r);
	r = REGISTER("alice", "c2@host", 2,
		     "Contact: <sip:a@192.0.2.10:7000>;+sip.instance=\"<urn:uuid:1>\";reg-id=2\n");
	cr_assert_eq(count_of(r, "Contact:"), 2, "another reg-id is another flow: %s", r);
}

/* ---- concurrent writers of one AOR (copy-on-write, §10.3 step 7) ---- */

Test(registrar, register_that_loses_a_race_is_rebuilt_from_the_winners_record)
{
	rival_wins = 1;
	const char *r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 200, "%s", r);
	cr_assert_eq(rival_made, 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_races), 1, "one retry");
	/* No lost update: the rival's binding and ours are both stored and
	 * both listed. */
	cr_assert(strstr(r, "<sip:rival@192.0.2.77>"), "%s", r);
	cr_assert(strstr(r, "<sip:a@192.0.2.10>"), "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 2);
}

Test(registrar, register_that_keeps_losing_races_gets_500_busy_retry_after_16_attempts)
{
	rival_wins = 1000;
	const char *r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	assert_status(r, "500 Busy, Retry");
	cr_assert(strstr(r, "\r\nRetry-After: 1\r\n"), "%s", r);
	/* REG_MAX_ATTEMPTS in registrar.c: bounded work per request. */
	cr_assert_eq(rival_made, 16, "the registrar gave up after 16 attempts, not %u",
		     rival_made);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_races), 16);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_bindings_added), 0);
	const struct aor_rec *rec = bind_lookup(shared.bindings, TSTR_LIT("sip:alice@example.com"),
		bind_hash(shared.bindings, TSTR_LIT("sip:alice@example.com")));
	cr_assert_not_null(rec);
	cr_assert_eq(rec->nbind, 1, "only the rival's binding is stored");
	cr_assert(tstr_eq(binding_uri(rec, &rec->b[0]), TSTR_LIT("sip:rival@192.0.2.77")));
}

/* ---- digest ---- */

static void use_digest(void)
{
	settings->auth = DP_AUTH_DIGEST;
}

/* Pull the nonce of the challenge for `alg` out of a 401. */
static void nonce_of(const char *resp, const char *alg, char *out)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), "algorithm=%s", alg);
	p = strstr(resp, needle);
	cr_assert_not_null(p, "no %s challenge in %s", alg, resp);
	while (p > resp && strncmp(p, "nonce=\"", 7) != 0)
		p--;
	p += 7;
	memcpy(out, p, DIGEST_NONCE_LEN);
	out[DIGEST_NONCE_LEN] = '\0';
}

static const char *register_auth(const char *aor_user, const char *auth_user,
				 const char *password, const char *alg, const char *nonce,
				 int cseq)
{
	enum digest_alg a = strcmp(alg, "MD5") == 0 ? DIGEST_MD5 : DIGEST_SHA256;
	uint8_t ha1[32];
	char resp[65];

	digest_ha1(a, tstr_cstr(auth_user), TSTR_LIT("example.com"), tstr_cstr(password), ha1);
	digest_response(a, ha1, TSTR_LIT("REGISTER"), TSTR_LIT("sip:example.com"),
			tstr_cstr(nonce), TSTR_LIT("00000001"), TSTR_LIT("cn0"),
			TSTR_LIT("auth"), resp);
	return send_msg("REGISTER sip:example.com SIP/2.0\n"
			"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-a%d;rport\n"
			"To: <sip:%s@example.com>\nFrom: <sip:%s@example.com>;tag=f\n"
			"Call-ID: auth-call\nCSeq: %d REGISTER\n"
			"Contact: <sip:%s@192.0.2.10>\n"
			"Authorization: Digest username=\"%s\", realm=\"example.com\", "
			"nonce=\"%s\", uri=\"sip:example.com\", response=\"%s\", "
			"algorithm=%s, qop=auth, nc=00000001, cnonce=\"cn0\"\n\n",
			cseq, aor_user, aor_user, cseq, aor_user, auth_user, nonce, resp, alg);
}

static const char *challenge_for(const char *user)
{
	return send_msg("REGISTER sip:example.com SIP/2.0\n"
			"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-c;rport\n"
			"To: <sip:%s@example.com>\nFrom: <sip:%s@example.com>;tag=f\n"
			"Call-ID: auth-call\nCSeq: 1 REGISTER\n"
			"Contact: <sip:%s@192.0.2.10>\n\n", user, user, user);
}

Test(registrar, digest_challenge_offers_sha256_then_md5)
{
	use_digest();
	const char *r = challenge_for("alice");
	cr_assert_eq(code_of(r), 401);
	const char *sha = strstr(r, "algorithm=SHA-256"), *md5 = strstr(r, "algorithm=MD5");
	cr_assert(sha && md5 && sha < md5, "RFC 8760: preferred algorithm first: %s", r);
	cr_assert(strstr(r, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\""));
	cr_assert(strstr(r, "qop=\"auth\""));
	cr_assert_null(strstr(r, "stale"), "a first challenge is not stale");
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, digest_md5_and_sha256_rounds_succeed)
{
	char nonce[DIGEST_NONCE_LEN + 1];

	use_digest();
	nonce_of(challenge_for("alice"), "MD5", nonce);
	cr_assert_eq(code_of(register_auth("alice", "alice", "alicepw", "MD5", nonce, 2)), 200);
	nonce_of(challenge_for("bob"), "SHA-256", nonce);
	cr_assert_eq(code_of(register_auth("bob", "bob", "bobpw", "SHA-256", nonce, 2)), 200);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 1);
	cr_assert_eq(bindings_of("sip:bob@example.com"), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_auth_ok), 2);
}

Test(registrar, digest_challenges_follow_the_configured_order)
{
	use_digest();
	settings->algs[0] = DIGEST_MD5;
	settings->nalgs = 1;
	const char *r = challenge_for("alice");
	cr_assert_eq(count_of(r, "WWW-Authenticate:"), 1, "%s", r);
	cr_assert(strstr(r, "algorithm=MD5"));
	char nonce[DIGEST_NONCE_LEN + 1];
	memcpy(nonce, strstr(r, "nonce=\"") + 7, DIGEST_NONCE_LEN);
	nonce[DIGEST_NONCE_LEN] = '\0';
	cr_assert_eq(code_of(register_auth("alice", "alice", "alicepw", "SHA-256", nonce, 2)), 401,
		     "an algorithm that is not offered is not accepted");
	cr_assert_eq(code_of(register_auth("alice", "alice", "alicepw", "MD5", nonce, 3)), 200);
}

Test(registrar, digest_wrong_password_is_challenged_again)
{
	char nonce[DIGEST_NONCE_LEN + 1];

	use_digest();
	nonce_of(challenge_for("alice"), "MD5", nonce);
	const char *r = register_auth("alice", "alice", "wrong", "MD5", nonce, 2);
	cr_assert_eq(code_of(r), 401);
	cr_assert_null(strstr(r, "stale=true"));
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_auth_failed), 1);
}

Test(registrar, digest_other_users_credentials_are_403)
{
	char nonce[DIGEST_NONCE_LEN + 1];

	use_digest();
	nonce_of(challenge_for("alice"), "MD5", nonce);
	/* bob authenticates correctly but asks to register alice's AOR. */
	cr_assert_eq(code_of(register_auth("alice", "bob", "bobpw", "MD5", nonce, 2)), 403);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, digest_unknown_user_gets_the_same_answer_as_a_wrong_password)
{
	char nonce[DIGEST_NONCE_LEN + 1];

	use_digest();
	nonce_of(challenge_for("mallory"), "MD5", nonce);
	cr_assert_eq(code_of(register_auth("mallory", "mallory", "x", "MD5", nonce, 2)), 401);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_auth_unknown_user), 1);
}

Test(registrar, digest_old_nonce_is_stale)
{
	char nonce[DIGEST_NONCE_LEN + 1];

	use_digest();
	nonce_of(challenge_for("alice"), "MD5", nonce);
	w->now_s += 301;
	const char *r = register_auth("alice", "alice", "alicepw", "MD5", nonce, 2);
	cr_assert_eq(code_of(r), 401);
	cr_assert(strstr(r, "stale=true"), "%s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0);
}

Test(registrar, digest_unknown_scheme_is_challenged)
{
	use_digest();
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\n"
				 "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=1\n"
				 "Call-ID: d1\nCSeq: 1 REGISTER\n"
				 "Authorization: NoOneKnowsThisScheme opaque-data=here\n\n");
	cr_assert_eq(code_of(r), 401);
}

/* ---- redirect server and the other answers ---- */

#define INVITE(user, extra)                                                               \
	send_msg("INVITE sip:" user "@example.com SIP/2.0\n"                             \
		 "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-i\n"                   \
		 "Max-Forwards: 70\n"                                                    \
		 "To: <sip:" user "@example.com>\n"                                      \
		 "From: <sip:caller@example.com>;tag=99\n"                               \
		 "Call-ID: inv-1\nCSeq: 1 INVITE\n" extra                                \
		 "Content-Length: 0\n\n")

Test(registrar, invite_to_registered_aor_is_redirected_highest_q_first)
{
	REGISTER("alice", "c1@host", 1,
		 "Contact: <sip:low@192.0.2.10>;q=0.1, <sip:high@192.0.2.10>;q=0.9, "
		 "<sip:mid@192.0.2.10>;q=0.5\n");
	const char *r = INVITE("alice", "");
	cr_assert_eq(code_of(r), 302);
	const char *h = strstr(r, "sip:high@"), *m = strstr(r, "sip:mid@"), *l = strstr(r, "sip:low@");
	cr_assert(h && m && l && h < m && m < l, "highest q first: %s", r);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_redirect_302), 1);
}

Test(registrar, invite_by_number_reaches_the_named_aor)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(INVITE("100", "")), 302);
}

Test(registrar, known_user_without_binding_is_480_unknown_is_404)
{
	cr_assert_eq(code_of(INVITE("bob", "")), 480);
	cr_assert_eq(code_of(INVITE("nobody", "")), 404);
}

Test(registrar, options_to_the_node_is_200)
{
	const char *r = send_msg("OPTIONS sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-o\n"
				 "Max-Forwards: 0\n"
				 "To: <sip:example.com>\nFrom: <sip:x@example.com>;tag=1\n"
				 "Call-ID: o\nCSeq: 1 OPTIONS\n\n");
	cr_assert_eq(code_of(r), 200);
	cr_assert(strstr(r, "Allow: "));
}

Test(registrar, ack_and_responses_are_never_answered)
{
	cr_assert_null(send_msg("ACK sip:alice@example.com SIP/2.0\n"
				"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-i\n"
				"To: <sip:alice@example.com>;tag=x\nFrom: <sip:c@example.com>;tag=99\n"
				"Call-ID: inv-1\nCSeq: 1 ACK\n\n"));
	cr_assert_null(send_msg("SIP/2.0 200 OK\n"
				"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-r\n"
				"To: <sip:a@example.com>;tag=x\nFrom: <sip:c@example.com>;tag=99\n"
				"Call-ID: r\nCSeq: 1 INVITE\n\n"));
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_req_ack), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_rx_responses), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_tx_responses), 0);
}

Test(registrar, unknown_method_is_501_cancel_and_in_dialog_are_481)
{
	cr_assert_eq(code_of(send_msg("FOO sip:alice@example.com SIP/2.0\n"
				      "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-f\n"
				      "To: <sip:alice@example.com>\nFrom: <sip:c@example.com>;tag=9\n"
				      "Call-ID: f\nCSeq: 1 FOO\n\n")), 501);
	cr_assert_eq(code_of(send_msg("CANCEL sip:alice@example.com SIP/2.0\n"
				      "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-i\n"
				      "To: <sip:alice@example.com>\nFrom: <sip:c@example.com>;tag=99\n"
				      "Call-ID: inv-1\nCSeq: 1 CANCEL\n\n")), 481);
	cr_assert_eq(code_of(send_msg("BYE sip:alice@example.com SIP/2.0\n"
				      "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-b\n"
				      "To: <sip:alice@example.com>;tag=t\nFrom: <sip:c@example.com>;tag=99\n"
				      "Call-ID: inv-1\nCSeq: 2 BYE\n\n")), 481);
}

Test(registrar, other_sip_version_is_505)
{
	cr_assert_eq(code_of(send_msg("OPTIONS sip:example.com SIP/7.0\n"
				      "Via: SIP/7.0/UDP 192.0.2.20;branch=z9hG4bK-v\n"
				      "To: <sip:example.com>\nFrom: <sip:c@example.com>;tag=9\n"
				      "Call-ID: v\nCSeq: 1 OPTIONS\n\n")), 505);
}

Test(registrar, malformed_request_with_via_is_400_without_via_dropped)
{
	const char *r = send_msg("REGISTER sip:example.com SIP/2.0\n"
				 "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-m\n"
				 "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=9\n"
				 "CSeq: 1 REGISTER\n\n");
	cr_assert_eq(code_of(r), 400, "missing Call-ID");
	cr_assert_null(send_msg("REGISTER sip:example.com SIP/2.0\n"
				"To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=9\n"
				"Call-ID: x\nCSeq: 1 REGISTER\n\n"));
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_drop_malformed), 1);
	cr_assert_null(send_msg("\n\n"), "a CRLF keep-alive is absorbed");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_rx_keepalives), 1);
}

Test(registrar, standby_role_diverts_every_request_to_the_master)
{
	settings->divert = true;
	strcpy(settings->master_hostport, "192.0.2.1:5060");
	const char *r = REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 302);
	cr_assert(strstr(r, "Contact: <sip:alice@192.0.2.1:5060>\r\n") == NULL, "%s", r);
	cr_assert(strstr(r, "Contact: <sip:192.0.2.1:5060>\r\n"), "a REGISTER goes to the master: %s", r);
	cr_assert_eq(bindings_of("sip:alice@example.com"), 0, "a diverting standby stores nothing");
	r = INVITE("bob", "");
	cr_assert_eq(code_of(r), 302);
	cr_assert(strstr(r, "Contact: <sip:bob@192.0.2.1:5060>\r\n"), "%s", r);
	cr_assert_null(send_msg("ACK sip:bob@example.com SIP/2.0\n"
				"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-i\n"
				"To: <sip:bob@example.com>;tag=x\nFrom: <sip:c@example.com>;tag=99\n"
				"Call-ID: inv-1\nCSeq: 1 ACK\n\n"), "ACK is still absorbed");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_req_diverted), 2);

	settings->divert_mode = DP_DIVERT_REJECT;
	r = REGISTER("alice", "c1@host", 2, "Contact: <sip:a@192.0.2.10>\n");
	cr_assert_eq(code_of(r), 503);
	cr_assert(strstr(r, "Retry-After: 30\r\n"), "%s", r);
}

Test(registrar, counters_track_table_sizes)
{
	REGISTER("alice", "c1@host", 1, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>\n");
	REGISTER("bob", "c2@host", 1, "Contact: <sip:b@192.0.2.11>\n");
	REGISTER("alice", "c1@host", 2, "Contact: <sip:a@192.0.2.10>;expires=0\n");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_bindings_added), 3);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_bindings_removed), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_aors_added), 2);
	REGISTER("bob", "c2@host", 2, "Expires: 0\nContact: *\n");
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_aors_removed), 1);
	cr_assert_eq(dp_counter_get(&w->ctr, DP_CTR_reg_unregisters), 1);
}

/* The end of a 200 (Date, Server, Content-Length) is kept per worker:
 * it must follow the second and the Server text, and say what writing
 * them afresh says, with and without a Server. */
Test(registrar, the_end_of_a_200_follows_the_date_and_the_server_text)
{
	static const char *const servers[] = { "tandem-test", "tandem-test", "other/2.0", "",
					       "tandem-test-with-a-much-longer-name-0123456789" };
	char want[256];

	for (unsigned i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		const char *resp;

		strcpy(settings->server, servers[i]);
		if (i == 2) {
			/* Another second. */
			w->date_s++;
			strcpy(w->date, "Thu, 01 Jan 2099 00:00:00 GMT");
			w->date_len = (uint32_t)strlen(w->date);
		}
		resp = REGISTER("alice", "dated@h", (int)i + 1,
				"Contact: <sip:alice@192.0.2.10:5062>\n");
		cr_assert_eq(code_of(resp), 200, "%s", resp);
		if (servers[i][0])
			snprintf(want, sizeof(want),
				 "\r\nDate: %.*s\r\nServer: %s\r\nContent-Length: 0\r\n\r\n",
				 (int)w->date_len, w->date, servers[i]);
		else
			snprintf(want, sizeof(want), "\r\nDate: %.*s\r\nContent-Length: 0\r\n\r\n",
				 (int)w->date_len, w->date);
		cr_assert(strlen(resp) > strlen(want) &&
				  strcmp(resp + strlen(resp) - strlen(want), want) == 0,
			  "server '%s': %s", servers[i], resp);
		cr_assert_eq(count_of(resp, "Date: "), 1);
	}
}

/* A Contact of a 200 is written in one piece when it is the usual kind
 * (no instance, no reg-id): the same text as field by field, for every
 * form of q and expiry, next to one that takes the general way. */
Test(registrar, contacts_of_a_200_are_written_alike_by_both_paths)
{
	static const struct {
		const char *param;
		const char *want;
	} cases[] = {
		{ "", ">;expires=3600\r\n" },
		{ ";q=1", ">;expires=3600;q=1.000\r\n" },
		{ ";q=0", ">;expires=3600;q=0.000\r\n" },
		{ ";q=0.5", ">;expires=3600;q=0.500\r\n" },
		{ ";q=0.123", ">;expires=3600;q=0.123\r\n" },
		{ ";q=0.07;expires=60", ">;expires=60;q=0.070\r\n" },
		{ ";expires=7200", ">;expires=7200\r\n" },
		{ ";expires=99999", ">;expires=7200\r\n" },
		{ ";expires=100", ">;expires=100\r\n" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char contact[256], want[256];
		const char *r;

		snprintf(contact, sizeof(contact),
			 "Contact: <sip:c%u@192.0.2.10:5062>%s, "
			 "<sip:i%u@192.0.2.10>;+sip.instance=\"<urn:uuid:%u>\";reg-id=1%s\n",
			 i, cases[i].param, i, i, cases[i].param);
		r = send_msg("REGISTER sip:example.com SIP/2.0\n"
			     "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-p%u;rport\n"
			     "To: <sip:bob@example.com>\n"
			     "From: <sip:bob@example.com>;tag=f1\n"
			     "Call-ID: paths-%u@h\n"
			     "CSeq: 1 REGISTER\n"
			     "%s"
			     "Content-Length: 0\n\n", i, i, contact);
		cr_assert_eq(code_of(r), 200, "%s", r);
		snprintf(want, sizeof(want), "Contact: <sip:c%u@192.0.2.10:5062%s", i, cases[i].want);
		cr_assert(strstr(r, want), "%s: want %s in %s", cases[i].param, want, r);
		snprintf(want, sizeof(want), "Contact: <sip:i%u@192.0.2.10%.*s;+sip.instance=\""
			 "<urn:uuid:%u>\";reg-id=1\r\n", i,
			 (int)(strlen(cases[i].want) - 2), cases[i].want, i);
		cr_assert(strstr(r, want), "%s: want %s in %s", cases[i].param, want, r);
		/* Unregister both, so the next case starts empty. */
		r = send_msg("REGISTER sip:example.com SIP/2.0\n"
			     "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-u%u;rport\n"
			     "To: <sip:bob@example.com>\n"
			     "From: <sip:bob@example.com>;tag=f1\n"
			     "Call-ID: paths-%u@h\n"
			     "CSeq: 2 REGISTER\n"
			     "Contact: *\nExpires: 0\n"
			     "Content-Length: 0\n\n", i, i);
		cr_assert_eq(code_of(r), 200, "%s", r);
	}
}
