/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of tandem-loadgen's pure parts (bench/loadgen_hist.c,
 * bench/loadgen_sip.c, bench/loadgen_json.c): the histogram's buckets and
 * percentiles, name patterns, the response parser on valid and hostile
 * input, branches, the requests and digest answers it builds, and the JSON
 * strings of its report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "bench/loadgen.h"

/* ---- histogram ---------------------------------------------------------- */

Test(lg_hist, every_value_lies_in_its_bucket_and_buckets_are_narrow)
{
	uint64_t v = 0;
	unsigned last = 0;

	while (v < (1ull << 40)) {
		unsigned i = lg_hist_index(v);
		uint64_t lo = lg_hist_lowest(i), hi = lg_hist_highest(i);

		cr_assert(i < LG_HIST_BUCKETS);
		cr_assert(i >= last, "index must not decrease (v=%llu)", (unsigned long long)v);
		cr_assert(lo <= v && v <= hi, "v=%llu not in [%llu, %llu]", (unsigned long long)v,
			  (unsigned long long)lo, (unsigned long long)hi);
		/* Relative width at most 1/64 above the exact range. */
		if (v >= 128)
			cr_assert((hi - lo + 1) * 64 <= lo, "bucket %u too wide", i);
		last = i;
		v = v < 1000 ? v + 1 : v + v / 37 + 1;
	}
}

Test(lg_hist, buckets_are_contiguous)
{
	for (unsigned i = 0; i + 2 < LG_HIST_BUCKETS; i++)
		cr_assert_eq(lg_hist_highest(i) + 1, lg_hist_lowest(i + 1), "gap after bucket %u", i);
}

Test(lg_hist, huge_values_land_in_the_last_bucket)
{
	cr_assert_eq(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS - 1);
	cr_assert_eq(lg_hist_index(1ull << 45), LG_HIST_BUCKETS - 1);
	cr_assert_eq(lg_hist_highest(LG_HIST_BUCKETS - 1), UINT64_MAX);
}

Test(lg_hist, percentiles_of_a_uniform_distribution_are_within_bucket_precision)
{
	struct lg_hist *h = malloc(sizeof(*h));

	lg_hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		lg_hist_record(h, v * 1000);         /* 1 us .. 100 ms */
	cr_assert_eq(h->count, 100000);
	cr_assert_eq(h->min, 1000);
	cr_assert_eq(h->max, 100000000);
	const double ps[] = { 50, 90, 99, 99.9 };
	for (unsigned k = 0; k < 4; k++) {
		double want = ps[k] / 100 * 100000 * 1000;
		double got = (double)lg_hist_percentile(h, ps[k]);
		cr_assert(got >= want && got <= want * (1 + 1.0 / 64) + 1,
			  "p%g: got %.0f, want %.0f", ps[k], got, want);
	}
	cr_assert_eq(lg_hist_percentile(h, 100), h->max);
	free(h);
}

Test(lg_hist, percentile_never_exceeds_the_largest_value_recorded)
{
	struct lg_hist *h = malloc(sizeof(*h));

	lg_hist_init(h);
	lg_hist_record(h, 1000001);
	cr_assert_eq(lg_hist_percentile(h, 50), 1000001);
	cr_assert_eq(lg_hist_percentile(h, 99.9), 1000001);
	free(h);
}

Test(lg_hist, empty_histogram_reports_zero)
{
	struct lg_hist *h = malloc(sizeof(*h));

	lg_hist_init(h);
	cr_assert_eq(lg_hist_percentile(h, 50), 0);
	cr_assert_eq(h->count, 0);
	free(h);
}

Test(lg_hist, merge_adds_counts_and_extremes)
{
	struct lg_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	lg_hist_init(a);
	lg_hist_init(b);
	for (unsigned i = 0; i < 90; i++)
		lg_hist_record(a, 100);
	for (unsigned i = 0; i < 10; i++)
		lg_hist_record(b, 5000000);
	lg_hist_merge(a, b);
	cr_assert_eq(a->count, 100);
	cr_assert_eq(a->min, 100);
	cr_assert_eq(a->max, 5000000);
	cr_assert_eq(lg_hist_percentile(a, 90), 100);
	cr_assert_eq(lg_hist_percentile(a, 91), 5000000);
	free(a);
	free(b);
}

/* ---- patterns ----------------------------------------------------------- */

Test(lg_pattern, expands_the_number_and_percent_signs)
{
	struct lg_pattern p;
	const char *why = NULL;
	char buf[64];

	cr_assert_eq(lg_pattern_parse("user%u", &p, &why), 0);
	cr_assert_eq(lg_pattern_expand(&p, 42, buf, sizeof(buf)), 6);
	cr_assert_str_eq(buf, "user42");
	cr_assert_eq(lg_pattern_parse("a%%b%uc", &p, &why), 0);
	lg_pattern_expand(&p, 7, buf, sizeof(buf));
	cr_assert_str_eq(buf, "a%b7c");
	cr_assert_eq(lg_pattern_parse("secret", &p, &why), 0);
	lg_pattern_expand(&p, 7, buf, sizeof(buf));
	cr_assert_str_eq(buf, "secret");
}

Test(lg_pattern, refuses_what_printf_would_misread)
{
	struct lg_pattern p;
	const char *why = NULL;
	char longp[300];

	cr_assert_eq(lg_pattern_parse("user%s", &p, &why), TDM_EMALFORMED);
	cr_assert_not_null(why);
	cr_assert_eq(lg_pattern_parse("%u%u", &p, &why), TDM_EMALFORMED);
	cr_assert_eq(lg_pattern_parse("abc%", &p, &why), TDM_EMALFORMED);
	cr_assert_eq(lg_pattern_parse("a b", &p, &why), TDM_EMALFORMED);
	cr_assert_eq(lg_pattern_parse("a\r\nb", &p, &why), TDM_EMALFORMED);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_eq(lg_pattern_parse(longp, &p, &why), TDM_EMALFORMED);
}

Test(lg_pattern, expand_reports_a_buffer_too_small)
{
	struct lg_pattern p;
	const char *why = NULL;
	char buf[6];

	lg_pattern_parse("user%u", &p, &why);
	cr_assert_eq(lg_pattern_expand(&p, 4294967295u, buf, sizeof(buf)), TDM_ENOSPACE);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(lg_pattern_expand(&p, 1, buf, sizeof(buf)), 5);
}

/* ---- responses ---------------------------------------------------------- */

/* The datagram of the last parse(): the response's strings point into it,
 * so it lives until the next parse() or the end of the test. */
static char *datagram;

static void free_datagram(void)
{
	free(datagram);
	datagram = NULL;
}

TestSuite(lg_parse, .fini = free_datagram);

static int parse(const char *text, enum lg_alg_pref pref, struct lg_response *r)
{
	/* A copy exactly as long as the text, so ASan sees any over-read. */
	size_t n = strlen(text);

	free_datagram();
	datagram = malloc(n ? n : 1);
	memcpy(datagram, text, n);
	return lg_parse_response(datagram, n, pref, r);
}

#define OK200 \
	"SIP/2.0 200 OK\r\n" \
	"Via: SIP/2.0/UDP 127.0.0.1:5555;branch=z9hG4bK-lg1a-0-5-9;rport=5555;received=127.0.0.1\r\n" \
	"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKother\r\n" \
	"From: <sip:user1@example.com>;tag=1a-1\r\n" \
	"To: <sip:user1@example.com>;tag=srv77\r\n" \
	"Call-ID: 1a-1@127.0.0.1\r\n" \
	"CSeq: 12 REGISTER\r\n" \
	"Contact: <sip:user1@127.0.0.1:5060>;expires=3600\r\n" \
	"Content-Length: 0\r\n\r\n"

Test(lg_parse, reads_code_branch_cseq_and_to_tag)
{
	struct lg_response r;

	cr_assert_eq(parse(OK200, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert_eq(r.code, 200);
	cr_assert(tstr_eq(r.branch, TSTR_LIT("z9hG4bK-lg1a-0-5-9")));
	cr_assert_eq(r.cseq, 12);
	cr_assert(tstr_eq(r.cseq_method, TSTR_LIT("REGISTER")));
	cr_assert(tstr_eq(r.to_tag, TSTR_LIT("srv77")));
	cr_assert_not(r.has_challenge);
}

Test(lg_parse, compact_forms_folding_and_bare_lf)
{
	struct lg_response r;
	const char *msg =
		"SIP/2.0 404 Not Found\n"
		"v: SIP/2.0/UDP 127.0.0.1:5555\n"
		"  ;branch=z9hG4bKabc\n"
		"t: sip:user1@example.com;tag=x1\n"
		"CSeq:\t7\n INVITE\n"
		"\n";

	cr_assert_eq(parse(msg, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert_eq(r.code, 404);
	cr_assert(tstr_eq(r.branch, TSTR_LIT("z9hG4bKabc")));
	cr_assert_eq(r.cseq, 7);
	cr_assert(tstr_eq(r.cseq_method, TSTR_LIT("INVITE")));
	cr_assert(tstr_eq(r.to_tag, TSTR_LIT("x1")));
}

Test(lg_parse, a_via_with_several_values_gives_the_first_branch)
{
	struct lg_response r;
	const char *msg =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bKfirst, SIP/2.0/UDP b;branch=z9hG4bKsecond\r\n"
		"CSeq: 1 REGISTER\r\n\r\n";

	cr_assert_eq(parse(msg, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert(tstr_eq(r.branch, TSTR_LIT("z9hG4bKfirst")));
}

Test(lg_parse, refuses_what_it_cannot_use)
{
	struct lg_response r;
	static const char *const bad[] = {
		"",
		"SIP/2.0 200",
		"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 2x0 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 099 Low\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 700 High\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=\r\nCSeq: 1 REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 99999999999 REGISTER\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nno colon here\r\nCSeq: 1 R\r\n\r\n",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], LG_ALG_PREF_FIRST, &r), TDM_EMALFORMED, "case %u", i);
}

#define CHALLENGE401 \
	"SIP/2.0 401 Unauthorized\r\n" \
	"Via: SIP/2.0/UDP 127.0.0.1:5555;branch=z9hG4bK-lg1a-0-5-9;rport=5555\r\n" \
	"To: <sip:user1@example.com>;tag=t\r\n" \
	"CSeq: 1 REGISTER\r\n" \
	"WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc\\\"def\", " \
	"algorithm=SHA-256, qop=\"auth-int,auth\", opaque=\"op\", stale=TRUE\r\n" \
	"WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n2\", algorithm=MD5, qop=\"auth\"\r\n" \
	"Content-Length: 0\r\n\r\n"

Test(lg_parse, takes_the_first_challenge_and_unescapes_it)
{
	struct lg_response r;

	cr_assert_eq(parse(CHALLENGE401, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert_eq(r.nchallenges, 2);
	cr_assert(r.has_challenge);
	cr_assert_not(r.proxy_challenge);
	cr_assert_eq(r.challenge.alg, LG_ALG_SHA256);
	cr_assert_str_eq(r.challenge.realm, "example.com");
	cr_assert_str_eq(r.challenge.nonce, "abc\"def");
	cr_assert_eq(r.challenge.nonce_len, 7);
	cr_assert(r.challenge.qop_auth);
	cr_assert(r.challenge.stale);
	cr_assert(r.challenge.has_opaque);
	cr_assert_str_eq(r.challenge.opaque, "op");
}

Test(lg_parse, algorithm_preference_picks_among_offers)
{
	struct lg_response r;

	cr_assert_eq(parse(CHALLENGE401, LG_ALG_PREF_MD5, &r), 0);
	cr_assert(r.has_challenge);
	cr_assert_eq(r.challenge.alg, LG_ALG_MD5);
	cr_assert_str_eq(r.challenge.nonce, "n2");
	cr_assert_not(r.challenge.stale);
	cr_assert_not(r.challenge.has_opaque);
}

Test(lg_parse, unusable_challenges_are_skipped)
{
	struct lg_response r;
	char msg[2048], nonce[LG_NONCE_MAX + 10];

	memset(nonce, 'n', sizeof(nonce) - 1);
	nonce[sizeof(nonce) - 1] = '\0';
	snprintf(msg, sizeof(msg),
		 "SIP/2.0 401 Unauthorized\r\n"
		 "Via: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n"
		 "WWW-Authenticate: Digest realm=\"r\", nonce=\"x\", algorithm=MD5-sess\r\n"
		 "WWW-Authenticate: Digest realm=\"r\", nonce=\"%s\"\r\n"
		 "WWW-Authenticate: Basic realm=\"r\"\r\n"
		 "WWW-Authenticate: Digest realm=\"r\"\r\n"
		 "WWW-Authenticate: Digest nonce=\"q\", realm=\"unterminated\r\n"
		 "WWW-Authenticate: Digest realm=\"r\", nonce=\"ok\"\r\n\r\n", nonce);
	cr_assert_eq(parse(msg, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert(r.has_challenge);
	cr_assert_str_eq(r.challenge.nonce, "ok");
	cr_assert_eq(r.challenge.alg, LG_ALG_MD5, "no algorithm means MD5");
	cr_assert_not(r.challenge.qop_auth);
}

Test(lg_parse, several_challenges_in_one_header)
{
	struct lg_response r;
	const char *msg =
		"SIP/2.0 401 Unauthorized\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 REGISTER\r\n"
		"WWW-Authenticate: Basic realm=\"r\", Digest realm=\"r2\", nonce=\"n\", "
		"algorithm=SHA-256\r\n\r\n";

	cr_assert_eq(parse(msg, LG_ALG_PREF_SHA256, &r), 0);
	cr_assert(r.has_challenge);
	cr_assert_str_eq(r.challenge.realm, "r2");
	cr_assert_eq(r.challenge.alg, LG_ALG_SHA256);
}

Test(lg_parse, proxy_challenges_count_only_in_a_407)
{
	struct lg_response r;
	const char *p401 =
		"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n"
		"Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\r\n";
	const char *p407 =
		"SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\n"
		"CSeq: 1 INVITE\r\nProxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\r\n";

	cr_assert_eq(parse(p401, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert_not(r.has_challenge);
	cr_assert_eq(parse(p407, LG_ALG_PREF_FIRST, &r), 0);
	cr_assert(r.has_challenge);
	cr_assert(r.proxy_challenge);
}

Test(lg_parse, every_truncation_of_a_challenge_is_handled)
{
	const char *full = CHALLENGE401;
	size_t n = strlen(full);

	for (size_t len = 0; len <= n; len++) {
		char *copy = malloc(len ? len : 1);
		struct lg_response r;

		memcpy(copy, full, len);
		int rc = lg_parse_response(copy, len, LG_ALG_PREF_FIRST, &r);
		cr_assert(rc == 0 || rc == TDM_EMALFORMED);
		free(copy);
	}
}

Test(lg_parse, random_bytes_never_crash)
{
	uint32_t x = 12345;
	char *buf = malloc(512);

	for (unsigned iter = 0; iter < 20000; iter++) {
		size_t len = iter % 512;
		struct lg_response r;

		/* Mostly SIP-looking bytes, to get past the status line. */
		memcpy(buf, "SIP/2.0 401 X\r\n", len < 15 ? len : 15);
		for (size_t i = 15; i < len; i++) {
			static const char alphabet[] = "\r\n \t:;,=\"\\<>VviaCSeqWwAuthenticDgsrlmnoc1";
			x = x * 1103515245u + 12345u;
			buf[i] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
		}
		int rc = lg_parse_response(buf, len, LG_ALG_PREF_FIRST, &r);
		cr_assert(rc == 0 || rc == TDM_EMALFORMED);
	}
	free(buf);
}

/* ---- branches and requests --------------------------------------------- */

Test(lg_branch, decodes_what_the_builder_wrote_and_nothing_else)
{
	uint32_t th, slot, gen;

	cr_assert(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2-ff-10"), 0x1a, &th, &slot, &gen));
	cr_assert_eq(th, 2);
	cr_assert_eq(slot, 0xff);
	cr_assert_eq(gen, 0x10);
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2-ff-10"), 0x1b, &th, &slot, &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2-ff"), 0x1a, &th, &slot, &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2-FF-10"), 0x1a, &th, &slot, &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2-1ffffffff-1"), 0x1a, &th, &slot,
				       &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK776asdhds"), 0x1a, &th, &slot, &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg"), 0, &th, &slot, &gen));
	cr_assert_not(lg_branch_decode(TSTR_LIT("z9hG4bK-lg1a-2--10"), 0x1a, &th, &slot, &gen));
}

static struct lg_request sample_request(void)
{
	return (struct lg_request){
		.method = LG_REGISTER,
		.ruri = "sip:example.com",
		.via_host = "127.0.0.1",
		.via_port = 40000,
		.run = 0xabc,
		.thread = 1,
		.slot = 2,
		.gen = 3,
		.from_uri = "sip:user7@example.com",
		.from_tag = "abc-7",
		.to_uri = "sip:user7@example.com",
		.call_id = "abc-7@127.0.0.1",
		.cseq = 5,
		.contact = "sip:user7@127.0.0.1:5060",
		.expires = 3600,
	};
}

Test(lg_build, register_round_trips_through_the_response_parser)
{
	struct lg_request q = sample_request();
	char buf[2048];
	int n = lg_build_request(&q, buf, sizeof(buf));
	uint32_t th, slot, gen;

	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strstr(buf, "REGISTER sip:example.com SIP/2.0\r\n") == buf);
	cr_assert_not_null(strstr(buf, "\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-lgabc-1-2-3;rport\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nCSeq: 5 REGISTER\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nContact: <sip:user7@127.0.0.1:5060>\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nExpires: 3600\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nContent-Length: 0\r\n\r\n"));
	cr_assert_null(strstr(buf, "Authorization"));

	/* A server echoes Via and CSeq: the parser must find our branch. */
	char resp[2048];
	const char *via = strstr(buf, "Via:");
	const char *via_end = strstr(via, "\r\n");
	snprintf(resp, sizeof(resp), "SIP/2.0 200 OK\r\n%.*s\r\nCSeq: 5 REGISTER\r\n\r\n",
		 (int)(via_end - via), via);
	struct lg_response r;
	cr_assert_eq(lg_parse_response(resp, strlen(resp), LG_ALG_PREF_FIRST, &r), 0);
	cr_assert(lg_branch_decode(r.branch, 0xabc, &th, &slot, &gen));
	cr_assert_eq(th, 1);
	cr_assert_eq(slot, 2);
	cr_assert_eq(gen, 3);
}

Test(lg_build, never_writes_past_the_buffer)
{
	struct lg_request q = sample_request();
	char full[2048];
	int n = lg_build_request(&q, full, sizeof(full));

	for (int cap = 0; cap < n; cap++) {
		char *buf = malloc(cap ? (size_t)cap : 1);
		cr_assert_eq(lg_build_request(&q, buf, (size_t)cap), TDM_ENOSPACE);
		free(buf);
	}
	char *exact = malloc((size_t)n);
	cr_assert_eq(lg_build_request(&q, exact, (size_t)n), n);
	free(exact);
}

Test(lg_build, credentials_quote_and_escape_the_challenge)
{
	struct lg_request q = sample_request();
	struct lg_challenge c = { .alg = LG_ALG_MD5, .qop_auth = true, .has_opaque = true };
	char buf[2048];

	strcpy(c.realm, "example.com");
	c.realm_len = 11;
	strcpy(c.nonce, "a\"b");
	c.nonce_len = 3;
	strcpy(c.opaque, "o\\p");
	c.opaque_len = 3;
	q.authz_user = "user7";
	q.password = "pw7";
	q.challenge = &c;
	q.nc = 1;
	q.cnonce = 0xdeadbeef;
	int n = lg_build_request(&q, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_not_null(strstr(buf, "\r\nAuthorization: Digest username=\"user7\", "
				       "realm=\"example.com\", nonce=\"a\\\"b\", uri=\"sip:example.com\", "
				       "response=\""));
	cr_assert_not_null(strstr(buf, "\", algorithm=MD5, opaque=\"o\\\\p\", qop=auth, "
				       "nc=00000001, cnonce=\"deadbeef\"\r\n"));
	q.proxy = true;
	n = lg_build_request(&q, buf, sizeof(buf));
	buf[n] = '\0';
	cr_assert_not_null(strstr(buf, "\r\nProxy-Authorization: Digest "));
}

Test(lg_build, ack_carries_the_to_tag)
{
	struct lg_request q = sample_request();
	char buf[2048];

	q.method = LG_ACK;
	q.ruri = "sip:user7@example.com";
	q.to_tag = TSTR_LIT("srv1");
	q.contact = NULL;
	q.cseq = 1;
	int n = lg_build_request(&q, buf, sizeof(buf));
	buf[n] = '\0';
	cr_assert(strstr(buf, "ACK sip:user7@example.com SIP/2.0\r\n") == buf);
	cr_assert_not_null(strstr(buf, "\r\nTo: <sip:user7@example.com>;tag=srv1\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nCSeq: 1 ACK\r\n"));
	cr_assert_null(strstr(buf, "Expires"));
	cr_assert_null(strstr(buf, "Contact"));
}

/* ---- digest (RFC 2617 §3.5 and RFC 7616 §3.9.1 examples) ---------------- */

Test(lg_digest, rfc2617_md5_example)
{
	char out[65];

	lg_digest_response(LG_ALG_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
			   "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", 1, "0a4f113b",
			   true, out);
	cr_assert_str_eq(out, "6629fae49393a05397450978507c4ef1");
}

Test(lg_digest, rfc7616_sha256_and_md5_examples)
{
	char out[65];
	const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
	const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

	lg_digest_response(LG_ALG_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
			   "GET", "/dir/index.html", nonce, 1, cnonce, true, out);
	cr_assert_str_eq(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
	lg_digest_response(LG_ALG_MD5, "Mufasa", "http-auth@example.org", "Circle of Life",
			   "GET", "/dir/index.html", nonce, 1, cnonce, true, out);
	cr_assert_str_eq(out, "8ca523f5e9506fed4657c9700eebdbec");
}

/* ---- JSON strings --------------------------------------------------------- */

Test(lg_json, quotes_backslashes_and_control_bytes_are_escaped)
{
	char buf[128];

	cr_assert_eq(lg_json_string("example.com", buf, sizeof(buf)), 13);
	cr_assert_str_eq(buf, "\"example.com\"");
	cr_assert_eq(lg_json_string("", buf, sizeof(buf)), 2);
	cr_assert_str_eq(buf, "\"\"");
	lg_json_string("a\"b\\c", buf, sizeof(buf));
	cr_assert_str_eq(buf, "\"a\\\"b\\\\c\"");
	lg_json_string("x\x01y\ty\x1f\x7f", buf, sizeof(buf));
	cr_assert_str_eq(buf, "\"x\\u0001y\\u0009y\\u001f\\u007f\"");
	/* Bytes outside ASCII by value: the output is always plain ASCII. */
	lg_json_string("\xc3\xa9", buf, sizeof(buf));
	cr_assert_str_eq(buf, "\"\\u00c3\\u00a9\"");
	lg_json_string("[2001:db8::1]:5060", buf, sizeof(buf));
	cr_assert_str_eq(buf, "\"[2001:db8::1]:5060\"");
}

Test(lg_json, never_writes_past_the_buffer)
{
	const char *in = "d\"o\\m\x02ain";
	char full[64];
	int n = lg_json_string(in, full, sizeof(full));

	cr_assert_gt(n, 0);
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		char *buf = malloc(cap ? cap : 1);
		cr_assert_eq(lg_json_string(in, buf, cap), TDM_ENOSPACE, "cap %zu", cap);
		free(buf);
	}
	char *exact = malloc((size_t)n + 1);
	cr_assert_eq(lg_json_string(in, exact, (size_t)n + 1), n);
	cr_assert_str_eq(exact, full);
	free(exact);
}
