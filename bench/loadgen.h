/* SPDX-License-Identifier: MIT */
/*
 * tandem-loadgen, internal interface between its files (not installed, not
 * used by tandem itself):
 *
 *   loadgen.c       command line, threads, the event loop, reports
 *   loadgen_sip.c   building requests, parsing responses, digest answers
 *   loadgen_hist.c  the latency histogram
 *   loadgen_json.c  JSON string literals for the report
 *
 * The protocol side is plain RFC 3261 over UDP: nothing here knows tandem,
 * so the load generator drives any registrar or redirect server.
 */
#ifndef TANDEM_LOADGEN_H
#define TANDEM_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

/* ---- latency histogram (loadgen_hist.c) --------------------------------
 *
 * Log-linear buckets in the manner of HdrHistogram: values below 128 are
 * counted exactly; above, each power of two is split into 64 equal buckets,
 * so a bucket is never wider than 1/64 (1.6 %) of its values. Values are in
 * nanoseconds; the range ends at 2^40 ns (18 minutes), larger values are
 * counted in the last bucket. One histogram is 18 KiB and owned by one
 * thread; lg_hist_merge() adds one into another after the run.
 */
#define LG_HIST_SUB_BITS 7
#define LG_HIST_HALF (1u << (LG_HIST_SUB_BITS - 1))
#define LG_HIST_MAX_BITS 40
#define LG_HIST_BUCKETS ((LG_HIST_MAX_BITS - LG_HIST_SUB_BITS + 2) * LG_HIST_HALF)

struct lg_hist {
	uint64_t count;
	uint64_t sum;           /* ns, for the mean */
	uint64_t min, max;      /* ns; min is UINT64_MAX while empty */
	uint64_t bucket[LG_HIST_BUCKETS];
};

void lg_hist_init(struct lg_hist *h);
void lg_hist_record(struct lg_hist *h, uint64_t ns);
void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from);
/* Bucket of a value, and the lowest / highest value a bucket holds. */
unsigned lg_hist_index(uint64_t ns);
uint64_t lg_hist_lowest(unsigned idx);
uint64_t lg_hist_highest(unsigned idx);
/*
 * The value at percentile p (0 < p <= 100): the highest value of the bucket
 * that holds the ceil(p/100 * count)-th smallest value, but never above the
 * largest value recorded. 0 when empty.
 */
uint64_t lg_hist_percentile(const struct lg_hist *h, double p);

/* ---- name patterns ------------------------------------------------------
 *
 * User names and passwords come from a pattern: literal text with at most
 * one "%u" (the AOR's number) and "%%" for a percent sign. Nothing else
 * after '%' is accepted, so a pattern is never handed to printf.
 */
#define LG_PATTERN_MAX 128

struct lg_pattern {
	char pre[LG_PATTERN_MAX];
	char post[LG_PATTERN_MAX];
	uint8_t pre_len, post_len;
	bool has_num;
};

/* 0, or TDM_EMALFORMED with a reason in err. */
int lg_pattern_parse(const char *text, struct lg_pattern *out, const char **err);
/* Expand for number n into buf (NUL-terminated); returns the length, or
 * TDM_ENOSPACE when it does not fit. */
int lg_pattern_expand(const struct lg_pattern *p, uint32_t n, char *buf, size_t cap);

/* ---- responses (loadgen_sip.c) ----------------------------------------- */

enum lg_alg {
	LG_ALG_MD5,
	LG_ALG_SHA256,
};

/* Which challenge to answer when a 401/407 offers several (RFC 8760 §2.4:
 * the first one the client supports, in the server's order). */
enum lg_alg_pref {
	LG_ALG_PREF_FIRST,       /* the server's first MD5 or SHA-256 challenge */
	LG_ALG_PREF_MD5,         /* only MD5 */
	LG_ALG_PREF_SHA256,      /* only SHA-256 */
};

#define LG_REALM_MAX 128
#define LG_NONCE_MAX 256
#define LG_OPAQUE_MAX 256
#define LG_TAG_MAX 128

/* One digest challenge, unescaped (quoted-string escapes removed). */
struct lg_challenge {
	enum lg_alg alg;
	bool qop_auth;           /* qop offered and includes "auth" */
	bool stale;
	bool has_opaque;
	uint16_t realm_len, nonce_len, opaque_len;
	char realm[LG_REALM_MAX];
	char nonce[LG_NONCE_MAX];
	char opaque[LG_OPAQUE_MAX];
};

/* What the load generator needs from a response. Strings point into the
 * datagram. */
struct lg_response {
	unsigned code;           /* 100..699 */
	tstr branch;             /* top Via's branch parameter */
	uint32_t cseq;
	tstr cseq_method;
	tstr to_tag;             /* empty when the To header has no tag */
	unsigned nchallenges;    /* Digest challenges seen (any algorithm) */
	bool has_challenge;      /* a usable challenge was chosen */
	bool proxy_challenge;    /* it came from Proxy-Authenticate (407) */
	struct lg_challenge challenge;
};

/*
 * Parse a SIP response. Returns 0, or TDM_EMALFORMED when it is not a SIP
 * response this tool can use: no status line, a code outside 100..699, no
 * Via with a branch, no CSeq, or a header line without a colon. Reads only
 * [data, data + len). Challenges (WWW-Authenticate, or Proxy-Authenticate)
 * are parsed only for 401 and 407; the one chosen follows pref. A challenge
 * with a realm, nonce or opaque too long to keep, an unknown algorithm, or
 * a broken parameter list is skipped, not an error.
 */
int lg_parse_response(const char *data, size_t len, enum lg_alg_pref pref,
		      struct lg_response *out);

/* Find a branch we generated: "z9hG4bK-lg<run>-<thread>-<slot>-<gen>", each
 * number in lower-case hex. Returns false for any other branch. */
bool lg_branch_decode(tstr branch, uint32_t run, uint32_t *thread, uint32_t *slot,
		      uint32_t *gen);

/* ---- requests (loadgen_sip.c) ------------------------------------------ */

enum lg_method {
	LG_REGISTER,
	LG_INVITE,
	LG_ACK,
};

/* Everything a request is made of. Strings are NUL-terminated. */
struct lg_request {
	enum lg_method method;
	const char *ruri;        /* "sip:example.com" or "sip:user1@example.com" */
	const char *via_host;    /* "127.0.0.1" or "[::1]" */
	uint16_t via_port;
	uint32_t run, thread, slot, gen;     /* the branch */
	const char *from_uri, *from_tag;
	const char *to_uri;
	tstr to_tag;             /* ACK only: the tag of the response */
	const char *call_id;
	uint32_t cseq;
	const char *contact;     /* URI, no brackets; NULL: no Contact */
	int64_t expires;         /* REGISTER: -1 for no Expires header */
	/* Credentials: authz_user non-NULL adds (Proxy-)Authorization. */
	const char *authz_user;
	const char *password;
	const struct lg_challenge *challenge;
	bool proxy;              /* Proxy-Authorization (for a 407) */
	uint32_t nc;             /* nonce count, 1 for a fresh nonce */
	uint32_t cnonce;
};

/* Build the request into buf; returns its length, or TDM_ENOSPACE. */
int lg_build_request(const struct lg_request *r, char *buf, size_t cap);

/* The digest response for the request's credentials (exposed for tests):
 * lower-case hex into out (65 bytes). */
void lg_digest_response(enum lg_alg alg, const char *user, const char *realm,
			const char *password, const char *method, const char *uri,
			const char *nonce, uint32_t nc, const char *cnonce, bool qop_auth,
			char out[65]);

/* ---- JSON output (loadgen_json.c) ----------------------------------------
 *
 * Write s as a JSON string literal, quotes included, NUL-terminated, into
 * buf: '"' and '\\' are escaped with a backslash, every byte below 0x20 or
 * from 0x7f up as \u00XX (the byte's value). Returns the length without the
 * NUL, or TDM_ENOSPACE when it does not fit in cap bytes.
 */
int lg_json_string(const char *s, char *buf, size_t cap);

#endif
