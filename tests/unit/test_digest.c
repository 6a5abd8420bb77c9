/* SPDX-License-Identifier: MIT */
/* Digest authentication: published test vectors and stateless nonces. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "digest.h"
#include "err.h"

static const struct nonce_key key = { .key = "0123456789abcdef0123456789abcdef" };

static void hex(const uint8_t *b, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

Test(digest, rfc2617_md5_example_response)
{
	uint8_t ha1[16];
	char resp[65];

	/* RFC 2617 §3.5. */
	digest_ha1(DIGEST_MD5, TSTR_LIT("Mufasa"), TSTR_LIT("testrealm@host.com"),
		   TSTR_LIT("Circle Of Life"), ha1);
	digest_response(DIGEST_MD5, ha1, TSTR_LIT("GET"), TSTR_LIT("/dir/index.html"),
			TSTR_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093"), TSTR_LIT("00000001"),
			TSTR_LIT("0a4f113b"), TSTR_LIT("auth"), resp);
	cr_assert_str_eq(resp, "6629fae49393a05397450978507c4ef1");
}

Test(digest, rfc7616_sha256_example_response)
{
	uint8_t ha1[32];
	char resp[65];

	/* RFC 7616 §3.9.1. */
	digest_ha1(DIGEST_SHA256, TSTR_LIT("Mufasa"), TSTR_LIT("http-auth@example.org"),
		   TSTR_LIT("Circle of Life"), ha1);
	digest_response(DIGEST_SHA256, ha1, TSTR_LIT("GET"), TSTR_LIT("/dir/index.html"),
			TSTR_LIT("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"),
			TSTR_LIT("00000001"),
			TSTR_LIT("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
			TSTR_LIT("auth"), resp);
	cr_assert_str_eq(resp, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

Test(digest, rfc2069_response_without_qop)
{
	uint8_t ha1[16];
	char resp[65], ha1hex[33];

	/* Without qop: H(HA1:nonce:HA2). HA1 of the RFC 2617 example. */
	digest_ha1(DIGEST_MD5, TSTR_LIT("Mufasa"), TSTR_LIT("testrealm@host.com"),
		   TSTR_LIT("Circle Of Life"), ha1);
	hex(ha1, 16, ha1hex);
	cr_assert_str_eq(ha1hex, "939e7578ed9e3c518a452acee763bce9");
	digest_response(DIGEST_MD5, ha1, TSTR_LIT("GET"), TSTR_LIT("/dir/index.html"),
			TSTR_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093"), TSTR_NULL, TSTR_NULL,
			TSTR_NULL, resp);
	cr_assert_str_eq(resp, "670fd8c2df070c60b045671b8b24ff02");
}

static struct sip_digest_cred cred_for(enum digest_alg alg, const uint8_t *ha1,
				       char *resp, tstr nonce, const char *qop)
{
	struct sip_digest_cred c = {
		.username = TSTR_LIT("alice"),
		.realm = TSTR_LIT("example.com"),
		.nonce = nonce,
		.uri = TSTR_LIT("sip:example.com"),
		.nc = TSTR_LIT("00000001"),
		.cnonce = TSTR_LIT("abcdef"),
		.qop = tstr_cstr(qop),
	};
	digest_response(alg, ha1, TSTR_LIT("REGISTER"), c.uri, c.nonce, c.nc, c.cnonce,
			c.qop, resp);
	c.response = tstr_cstr(resp);
	return c;
}

Test(digest, verify_accepts_right_and_refuses_wrong_response)
{
	enum digest_alg algs[] = { DIGEST_MD5, DIGEST_SHA256 };

	for (unsigned i = 0; i < 2; i++) {
		uint8_t ha1[32], bad[32];
		char resp[65];

		digest_ha1(algs[i], TSTR_LIT("alice"), TSTR_LIT("example.com"),
			   TSTR_LIT("secret"), ha1);
		digest_ha1(algs[i], TSTR_LIT("alice"), TSTR_LIT("example.com"),
			   TSTR_LIT("Secret"), bad);
		struct sip_digest_cred c = cred_for(algs[i], ha1, resp, TSTR_LIT("n1"), "auth");

		cr_assert_eq(digest_verify(algs[i], &c, ha1, TSTR_LIT("REGISTER")), 0);
		cr_assert_eq(digest_verify(algs[i], &c, bad, TSTR_LIT("REGISTER")), TDM_EAUTH,
			     "a wrong password must not verify");
		cr_assert_eq(digest_verify(algs[i], &c, ha1, TSTR_LIT("INVITE")), TDM_EAUTH,
			     "the method is part of the response");
		/* Upper-case hex is still the same response. */
		for (char *p = resp; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 32);
		cr_assert_eq(digest_verify(algs[i], &c, ha1, TSTR_LIT("REGISTER")), 0);
	}
}

Test(digest, verify_refuses_unsupported_qop_and_garbage)
{
	uint8_t ha1[16];
	char resp[65];

	digest_ha1(DIGEST_MD5, TSTR_LIT("alice"), TSTR_LIT("example.com"), TSTR_LIT("pw"), ha1);
	struct sip_digest_cred c = cred_for(DIGEST_MD5, ha1, resp, TSTR_LIT("n"), "auth-int");
	cr_assert_eq(digest_verify(DIGEST_MD5, &c, ha1, TSTR_LIT("REGISTER")), TDM_EAUTH);

	c = cred_for(DIGEST_MD5, ha1, resp, TSTR_LIT("n"), "auth");
	c.nc = TSTR_NULL;
	cr_assert_eq(digest_verify(DIGEST_MD5, &c, ha1, TSTR_LIT("REGISTER")), TDM_EAUTH,
		     "qop=auth without nc is refused");

	c = cred_for(DIGEST_MD5, ha1, resp, TSTR_LIT("n"), "auth");
	c.response = TSTR_LIT("zz");
	cr_assert_eq(digest_verify(DIGEST_MD5, &c, ha1, TSTR_LIT("REGISTER")), TDM_EAUTH);
	c.response = TSTR_LIT("0123456789abcdef0123456789abcdeg");
	cr_assert_eq(digest_verify(DIGEST_MD5, &c, ha1, TSTR_LIT("REGISTER")), TDM_EAUTH);
}

Test(digest, algorithm_names)
{
	enum digest_alg a;

	cr_assert_eq(digest_alg_parse(TSTR_NULL, &a), 0);
	cr_assert_eq(a, DIGEST_MD5, "no algorithm means MD5");
	cr_assert_eq(digest_alg_parse(TSTR_LIT("md5"), &a), 0);
	cr_assert_eq(a, DIGEST_MD5);
	cr_assert_eq(digest_alg_parse(TSTR_LIT("SHA-256"), &a), 0);
	cr_assert_eq(a, DIGEST_SHA256);
	cr_assert_eq(digest_alg_parse(TSTR_LIT("MD5-sess"), &a), TDM_ENOTFOUND);
	cr_assert_eq(digest_alg_parse(TSTR_LIT("SHA-512-256"), &a), TDM_ENOTFOUND);
}

Test(digest, fresh_nonce_is_valid_for_its_call_id_only)
{
	char nonce[DIGEST_NONCE_LEN] = { 0 };
	tstr n = tstr_make(nonce, sizeof(nonce));

	digest_nonce_make(&key, 1000000, TSTR_LIT("call-1"), nonce);
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("call-1"), 1000000, 300), 0);
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("call-1"), 1000300, 300), 0);
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("call-2"), 1000000, 300), TDM_EAUTH,
		     "a nonce is bound to its Call-ID");
}

Test(digest, old_nonce_is_stale_and_future_nonce_is_refused)
{
	char nonce[DIGEST_NONCE_LEN] = { 0 };
	tstr n = tstr_make(nonce, sizeof(nonce));

	digest_nonce_make(&key, 1000000, TSTR_LIT("c"), nonce);
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("c"), 1000301, 300), TDM_ESTALE);
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("c"), 1000000 - 61, 300), TDM_ESTALE,
		     "a nonce from the future beyond the slack is not trusted");
	cr_assert_eq(digest_nonce_check(&key, n, TSTR_LIT("c"), 1000000 - 59, 300), 0);
}

Test(digest, forged_or_malformed_nonce_is_refused)
{
	char nonce[DIGEST_NONCE_LEN] = { 0 };
	struct nonce_key other = { .key = "another key, another key, anoth" };

	digest_nonce_make(&key, 1000000, TSTR_LIT("c"), nonce);
	cr_assert_eq(digest_nonce_check(&other, tstr_make(nonce, sizeof(nonce)), TSTR_LIT("c"),
					1000000, 300), TDM_EAUTH, "another node's key");
	for (unsigned i = 0; i < sizeof(nonce); i++) {
		char t[DIGEST_NONCE_LEN];
		memcpy(t, nonce, sizeof(t));
		t[i] = t[i] == '0' ? '1' : '0';
		cr_assert_eq(digest_nonce_check(&key, tstr_make(t, sizeof(t)), TSTR_LIT("c"),
						1000000, 300), TDM_EAUTH,
			     "flipping character %u must break the nonce", i);
	}
	cr_assert_eq(digest_nonce_check(&key, tstr_make(nonce, sizeof(nonce) - 1),
					TSTR_LIT("c"), 1000000, 300), TDM_EAUTH);
	cr_assert_eq(digest_nonce_check(&key, TSTR_LIT("not-a-nonce"), TSTR_LIT("c"), 1000000,
					300), TDM_EAUTH);
	cr_assert_eq(digest_nonce_check(&key, TSTR_NULL, TSTR_LIT("c"), 1000000, 300),
		     TDM_EAUTH);
}

/* The nonce is hex(time) then hex(HMAC-SHA-256(key, time || Call-ID))
 * truncated to 128 bits, whichever way the MAC is computed: nonces issued
 * before a restart (or by an older build) must still check. */
static void nonce_by_wolfcrypt_hmac(const struct nonce_key *k, int64_t now_s, tstr call_id,
				    char out[DIGEST_NONCE_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t when[8], mac[WC_SHA256_DIGEST_SIZE];
	Hmac hmac;

	for (int i = 7; i >= 0; i--, now_s >>= 8)
		when[i] = (uint8_t)now_s;
	cr_assert_eq(wc_HmacInit(&hmac, NULL, INVALID_DEVID), 0);
	cr_assert_eq(wc_HmacSetKey(&hmac, WC_SHA256, k->key, sizeof(k->key)), 0);
	cr_assert_eq(wc_HmacUpdate(&hmac, when, 8), 0);
	cr_assert_eq(wc_HmacUpdate(&hmac, (const byte *)call_id.s, call_id.len), 0);
	cr_assert_eq(wc_HmacFinal(&hmac, mac), 0);
	wc_HmacFree(&hmac);
	for (unsigned i = 0; i < 8; i++) {
		out[2 * i] = hex[when[i] >> 4];
		out[2 * i + 1] = hex[when[i] & 15];
	}
	for (unsigned i = 0; i < 16; i++) {
		out[16 + 2 * i] = hex[mac[i] >> 4];
		out[16 + 2 * i + 1] = hex[mac[i] & 15];
	}
}

Test(digest, nonce_mac_is_hmac_sha256_with_or_without_a_key_cache)
{
	static const struct nonce_key keys[2] = {
		{ .key = "0123456789abcdef0123456789abcdef" },
		{ .key = "another key, another key, anoth" },
	};
	static const char *const call_ids[] = {
		"c", "a84b4c76e66710@pc33.example.com",
		"a-call-id-long-enough-to-need-a-second-block-of-sha-256-input@host",
	};
	struct nonce_key_cache cache = { .ready = false };
	char want[DIGEST_NONCE_LEN], got[DIGEST_NONCE_LEN], cached[DIGEST_NONCE_LEN];

	/* Keys alternate: the cache must notice each change. */
	for (unsigned round = 0; round < 4; round++) {
		const struct nonce_key *k = &keys[round % 2];

		for (unsigned i = 0; i < sizeof(call_ids) / sizeof(call_ids[0]); i++) {
			tstr cid = tstr_cstr(call_ids[i]);

			nonce_by_wolfcrypt_hmac(k, 1700000000 + round, cid, want);
			digest_nonce_make(k, 1700000000 + round, cid, got);
			digest_nonce_make_cached(&cache, k, 1700000000 + round, cid, cached);
			cr_assert_arr_eq(got, want, sizeof(want));
			cr_assert_arr_eq(cached, want, sizeof(want));
			cr_assert_eq(digest_nonce_check_cached(&cache, k, tstr_make(want, sizeof(want)),
							       cid, 1700000000, 300), 0);
			cr_assert_eq(digest_nonce_check_cached(&cache, &keys[(round + 1) % 2],
							       tstr_make(want, sizeof(want)), cid,
							       1700000000, 300), TDM_EAUTH);
		}
	}
}

/* One HA2 cache across changing algorithms, methods and uris (one too
 * long to be kept): every answer is digest_verify()'s, right responses
 * verify and each one checked against another request's parts fails. */
Test(digest, verify_with_an_ha2_cache_answers_as_without)
{
	static const char *const uris[] = {
		"sip:example.com", "sip:example.com", "sip:other.example.com",
		"sip:a-uri-longer-than-the-cache-keeps-0123456789-0123456789-0123456789-"
		"0123456789-0123456789-0123456789-0123456789@example.com", "sip:example.com",
	};
	static const char *const methods[] = { "REGISTER", "INVITE", "REGISTER", "A-VERY-LONG-METHOD-NAME" };
	struct digest_ha2_cache cache = { .ready = false };
	uint8_t ha1[2][32];

	digest_ha1(DIGEST_MD5, TSTR_LIT("alice"), TSTR_LIT("example.com"), TSTR_LIT("pw"), ha1[0]);
	digest_ha1(DIGEST_SHA256, TSTR_LIT("alice"), TSTR_LIT("example.com"), TSTR_LIT("pw"),
		   ha1[1]);
	/* The algorithm changes fastest: the same method and uri are
	 * verified with MD5, then with SHA-256, then the next pair. */
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned u = 0; u < sizeof(uris) / sizeof(uris[0]); u++) {
			for (unsigned k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
				for (unsigned a = 0; a < 2; a++) {
					enum digest_alg alg = a ? DIGEST_SHA256 : DIGEST_MD5;
					struct sip_digest_cred c = {
						.nonce = TSTR_LIT("n1"), .uri = tstr_cstr(uris[u]),
						.nc = TSTR_LIT("00000001"), .cnonce = TSTR_LIT("c"),
						.qop = TSTR_LIT("auth"),
					};
					tstr method = tstr_cstr(methods[k]);
					tstr other = tstr_cstr(methods[(k + 1) % 4]);
					char resp[65];

					digest_response(alg, ha1[a], method, c.uri, c.nonce, c.nc,
							c.cnonce, c.qop, resp);
					c.response = tstr_cstr(resp);
					cr_assert_eq(digest_verify_cached(&cache, alg, &c, ha1[a], method),
						     0);
					cr_assert_eq(digest_verify_cached(&cache, alg, &c, ha1[a], method),
						     0, "the same request again (from the cache)");
					cr_assert_eq(digest_verify_cached(&cache, alg, &c, ha1[a], other),
						     digest_verify(alg, &c, ha1[a], other));
					cr_assert_eq(digest_verify_cached(&cache, alg, &c, ha1[a], other),
						     TDM_EAUTH);
					cr_assert_eq(digest_verify_cached(&cache, alg, &c, ha1[a], method),
						     0);
				}
			}
		}
	}
}
