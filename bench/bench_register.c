/* SPDX-License-Identifier: MIT */
/*
 * Microbenchmark of the per-packet work on one core: nanoseconds per
 * request through dp_process() (parse, registrar or redirect, reply built
 * into a buffer), with no I/O. Every REGISTER is a real copy-on-write update
 * of its AOR's record (the Call-ID alternates between two values, so the
 * binding is replaced each time), over a population of distinct AORs.
 *
 *   bench-register [--aors N] [--runs R] [--seconds S] [--cpu C] [--only NAME]
 *
 * Prints one line per scenario: the median over R runs of ns per request,
 * and the spread (min..max). Scenarios:
 *   parse            sip_parse() of a typical REGISTER only
 *   register         REGISTER refresh, no authentication
 *   register-md5     REGISTER refresh with a valid MD5 Authorization
 *   register-sha256  the same with SHA-256
 *   invite-302       INVITE to a registered AOR, answered with 302
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu-qsbr.h>

#include "clock.h"
#include "digest.h"
#include "pipeline.h"
#include "rec_pool.h"

#define MSG_MAX 1024

struct corpus {
	unsigned n;
	char (*msg)[MSG_MAX];
	uint32_t *len;
};

static struct dp_shared shared;
static struct dp_settings settings;
static struct dp_worker *worker;
static char reply[DP_REPLY_MAX];

static const char *const realm = "example.com";

static void corpus_alloc(struct corpus *c, unsigned n)
{
	c->n = n;
	c->msg = calloc(n, MSG_MAX);
	c->len = calloc(n, sizeof(*c->len));
	if (!c->msg || !c->len) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
}

static void corpus_free(struct corpus *c)
{
	free(c->msg);
	free(c->len);
}

enum auth_kind { AUTH_NONE_, AUTH_MD5_, AUTH_SHA256_ };

/* A REGISTER of user u in round r (the round picks the Call-ID). */
static void make_register(struct corpus *c, unsigned i, unsigned u, unsigned r,
			  enum auth_kind auth)
{
	char authz[512] = "";
	char callid[64];

	snprintf(callid, sizeof(callid), "bench-%u-%u@192.0.2.10", u, r);
	if (auth != AUTH_NONE_) {
		enum digest_alg alg = auth == AUTH_MD5_ ? DIGEST_MD5 : DIGEST_SHA256;
		char user[32], nonce[DIGEST_NONCE_LEN + 1], resp[65];
		uint8_t ha1[32];

		snprintf(user, sizeof(user), "user%u", u);
		digest_ha1(alg, tstr_cstr(user), tstr_cstr(realm), TSTR_LIT("secret"), ha1);
		digest_nonce_make(&shared.nonce_key, clock_real_s(), tstr_cstr(callid), nonce);
		nonce[DIGEST_NONCE_LEN] = '\0';
		digest_response(alg, ha1, TSTR_LIT("REGISTER"), TSTR_LIT("sip:example.com"),
				tstr_cstr(nonce), TSTR_LIT("00000001"), TSTR_LIT("0a4f113b"),
				TSTR_LIT("auth"), resp);
		snprintf(authz, sizeof(authz),
			 "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
			 "uri=\"sip:example.com\", response=\"%s\", algorithm=%s, qop=auth, "
			 "nc=00000001, cnonce=\"0a4f113b\"\r\n",
			 user, realm, nonce, resp, digest_alg_name(alg));
	}
	c->len[i] = (uint32_t)snprintf(c->msg[i], MSG_MAX,
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds%u;rport\r\n"
		"Max-Forwards: 70\r\n"
		"To: \"User %u\" <sip:user%u@example.com>\r\n"
		"From: \"User %u\" <sip:user%u@example.com>;tag=1928301774\r\n"
		"Call-ID: %s\r\n"
		"CSeq: %u REGISTER\r\n"
		"Contact: <sip:user%u@192.0.2.10:5060>;expires=3600\r\n"
		"%s"
		"User-Agent: Phone/1.0\r\n"
		"Content-Length: 0\r\n\r\n",
		r, u, u, u, u, callid, r + 1, u, authz);
}

static void make_invite(struct corpus *c, unsigned i, unsigned u)
{
	c->len[i] = (uint32_t)snprintf(c->msg[i], MSG_MAX,
		"INVITE sip:user%u@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds8%u\r\n"
		"Max-Forwards: 70\r\n"
		"To: <sip:user%u@example.com>\r\n"
		"From: <sip:caller@example.com>;tag=1928301774\r\n"
		"Call-ID: inv-%u@192.0.2.20\r\n"
		"CSeq: 1 INVITE\r\n"
		"Contact: <sip:caller@192.0.2.20:5060>\r\n"
		"Content-Length: 0\r\n\r\n", u, u, u, u);
}

static void setup(unsigned aors, bool with_users)
{
	struct users *users = users_create();

	rcu_register_thread();
	strcpy(settings.domain, realm);
	strcpy(settings.realm, realm);
	settings.default_expires = 3600;
	settings.min_expires = 60;
	settings.max_expires = 7200;
	settings.max_contacts = 10;
	settings.nonce_lifetime = 3600;
	settings.algs[0] = DIGEST_SHA256;
	settings.algs[1] = DIGEST_MD5;
	settings.nalgs = 2;
	strcpy(settings.server, "tandem-bench");

	for (unsigned u = 0; with_users && u < aors; u++) {
		struct user *usr = users_alloc();
		snprintf(usr->name, sizeof(usr->name), "user%u", u);
		usr->enabled = usr->has_password = true;
		digest_ha1(DIGEST_MD5, tstr_cstr(usr->name), tstr_cstr(realm), TSTR_LIT("secret"),
			   usr->ha1_md5);
		digest_ha1(DIGEST_SHA256, tstr_cstr(usr->name), tstr_cstr(realm),
			   TSTR_LIT("secret"), usr->ha1_sha256);
		users_put(users, usr);
	}
	shared.bindings = bind_table_create(&(struct bind_table_params){ 0 });
	/* tandemd's control thread grows the table to the number of AORs
	 * registered (bind_reserve() every RESERVE_INTERVAL_MS); there is no
	 * control thread here, so size it for the AORs to come. */
	bind_reserve(shared.bindings, aors);
	shared.users = users;
	shared.settings = &settings;
	memset(shared.nonce_key.key, 7, sizeof(shared.nonce_key.key));
	memset(shared.tag_key, 3, sizeof(shared.tag_key));
	worker = aligned_alloc(64, sizeof(*worker));
	dp_worker_init(worker, 0, &shared, rec_pool_create("bench"));
	dp_worker_enter(worker);   /* batches its retired records, as workers do */
}

/* Run the corpus through the pipeline `passes` times; ns per request. */
static double run(const struct corpus *c, unsigned passes, bool parse_only)
{
	struct dp_reply rep = { .data = reply, .cap = sizeof(reply) };
	struct dp_datagram dg = { .local = 0 };
	uint64_t t0, t1, total = (uint64_t)passes * c->n;
	static struct sip_msg m;

	addr_parse("192.0.2.10:5060", 0, &dg.src);
	t0 = clock_mono_ns();
	for (unsigned p = 0; p < passes; p++) {
		for (unsigned i = 0; i < c->n; i++) {
			dg.data = c->msg[i];
			dg.len = c->len[i];
			if ((i & 31) == 0) {
				dp_burst_end(worker);
				dp_burst_begin(worker);
				rcu_quiescent_state();
			}
			if (parse_only)
				sip_parse(&m, dg.data, dg.len);
			else
				dp_process(worker, &dg, &rep);
		}
	}
	t1 = clock_mono_ns();
	return (double)(t1 - t0) / (double)total;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const char *only_scenario;

/* Does scenario name run (all do without --only)? */
static bool wanted(const char *name)
{
	return !only_scenario || strcmp(only_scenario, name) == 0;
}

/* Median of `runs` runs, each about `seconds` long. */
static void scenario(const char *name, const struct corpus *c, unsigned runs, double seconds,
		     bool parse_only)
{
	double ns[64];
	unsigned passes;

	if (!wanted(name))
		return;
	/* Calibrate: one pass, then enough passes to last `seconds`. */
	double one = run(c, 1, parse_only) * c->n;
	passes = (unsigned)(seconds * 1e9 / (one > 1 ? one : 1));
	if (passes < 1)
		passes = 1;
	for (unsigned r = 0; r < runs; r++)
		ns[r] = run(c, passes, parse_only);
	qsort(ns, runs, sizeof(ns[0]), cmp_double);
	printf("%-16s %9.1f ns/request   (min %.1f, max %.1f, %u runs of %u requests)\n", name,
	       ns[runs / 2], ns[0], ns[runs - 1], runs, passes * c->n);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "aors", required_argument, NULL, 'a' },
		{ "runs", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "only", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned aors = 10000, runs = 7;
	double seconds = 0.5;
	int cpu = 1, opt;
	const char *only = NULL;
	struct corpus reg, md5, sha, inv;

	while ((opt = getopt_long(argc, argv, "a:r:s:c:o:", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': aors = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'c': cpu = atoi(optarg); break;
		case 'o': only = optarg; break;
		default:
			fprintf(stderr, "usage: bench-register [--aors N] [--runs R] "
				"[--seconds S] [--cpu C] [--only NAME]\n");
			return 2;
		}
	}
	if (aors < 1 || runs < 1 || runs > 64) {
		fprintf(stderr, "bench-register: --aors >= 1, 1 <= --runs <= 64\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			fprintf(stderr, "bench-register: cannot pin to CPU %d, running unpinned\n", cpu);
	}

	only_scenario = only;
	setup(aors, true);
	corpus_alloc(&reg, 2 * aors);
	corpus_alloc(&md5, 2 * aors);
	corpus_alloc(&sha, 2 * aors);
	corpus_alloc(&inv, aors);
	/* Two rounds per AOR, interleaved so consecutive requests hit
	 * different AORs: A0 A1 ... then B0 B1 ... The digest corpora are
	 * built only when their scenario runs (each message costs a nonce
	 * and a response hash, which dominates a run under valgrind). */
	for (unsigned r = 0; r < 2; r++) {
		for (unsigned u = 0; u < aors; u++) {
			make_register(&reg, r * aors + u, u, r, AUTH_NONE_);
			if (wanted("register-md5"))
				make_register(&md5, r * aors + u, u, r + 2, AUTH_MD5_);
			if (wanted("register-sha256"))
				make_register(&sha, r * aors + u, u, r + 4, AUTH_SHA256_);
		}
	}
	for (unsigned u = 0; u < aors; u++)
		make_invite(&inv, u, u);

	printf("tandem bench-register: %u AORs, one core, median of %u runs\n", aors, runs);
	scenario("parse", &reg, runs, seconds, true);
	settings.auth = DP_AUTH_NONE;
	scenario("register", &reg, runs, seconds, false);
	settings.auth = DP_AUTH_DIGEST;
	scenario("register-md5", &md5, runs, seconds, false);
	scenario("register-sha256", &sha, runs, seconds, false);
	settings.auth = DP_AUTH_NONE;
	/* The INVITEs need bindings to be redirected to: register every AOR
	 * first (untimed) when no REGISTER scenario has run. */
	if (only_scenario && strcmp(only_scenario, "invite-302") == 0)
		run(&reg, 1, false);
	scenario("invite-302", &inv, runs, seconds, false);

	uint64_t ok = dp_counter_get(&worker->ctr, DP_CTR_resp_2xx) +
		      dp_counter_get(&worker->ctr, DP_CTR_resp_3xx);
	uint64_t all = dp_counter_get(&worker->ctr, DP_CTR_tx_responses);
	if (ok != all) {
		fprintf(stderr, "bench-register: %llu of %llu answers were not 2xx/3xx\n",
			(unsigned long long)(all - ok), (unsigned long long)all);
		return 1;
	}
	corpus_free(&reg);
	corpus_free(&md5);
	corpus_free(&sha);
	corpus_free(&inv);
	return 0;
}
