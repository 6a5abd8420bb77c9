/* SPDX-License-Identifier: MIT */
/*
 * Digest authentication: HA1, responses and stateless nonces.
 * See digest.h for the nonce format and the rules.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/md5.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "digest.h"
#include "err.h"

#define NONCE_TIME_HEX 16
#define NONCE_MAC_BYTES 16
/* A nonce from further in the future than this is not trusted. */
#define NONCE_FUTURE_SLACK_S 60

/* A hash in progress. Short pieces (a ':', a method, a nonce) are
 * gathered in buf and handed to wolfCrypt together: each update call
 * costs more than copying a few bytes. */
struct hash_ctx {
	enum digest_alg alg;
	uint32_t n;              /* bytes waiting in buf */
	uint8_t buf[192];
	union {
		wc_Md5 md5;
		wc_Sha256 sha256;
	} u;
};

static void hash_init(struct hash_ctx *h, enum digest_alg alg)
{
	h->alg = alg;
	h->n = 0;
	if (alg == DIGEST_MD5)
		wc_InitMd5(&h->u.md5);
	else
		wc_InitSha256(&h->u.sha256);
}

static void hash_flush(struct hash_ctx *h, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (h->alg == DIGEST_MD5)
		wc_Md5Update(&h->u.md5, data, (word32)len);
	else
		wc_Sha256Update(&h->u.sha256, data, (word32)len);
}

static void hash_update(struct hash_ctx *h, const void *data, size_t len)
{
	if (len > sizeof(h->buf) - h->n) {
		hash_flush(h, h->buf, h->n);
		h->n = 0;
		if (len > sizeof(h->buf)) {
			hash_flush(h, data, len);
			return;
		}
	}
	if (len)
		memcpy(h->buf + h->n, data, len);
	h->n += (uint32_t)len;
}

static void hash_update_t(struct hash_ctx *h, tstr t)
{
	hash_update(h, t.s, t.len);
}

static void hash_colon(struct hash_ctx *h)
{
	hash_update(h, ":", 1);
}

static void hash_final(struct hash_ctx *h, uint8_t *out)
{
	hash_flush(h, h->buf, h->n);
	h->n = 0;
	if (h->alg == DIGEST_MD5) {
		wc_Md5Final(&h->u.md5, out);
		wc_Md5Free(&h->u.md5);
	} else {
		wc_Sha256Final(&h->u.sha256, out);
		wc_Sha256Free(&h->u.sha256);
	}
}

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const uint8_t *in, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
}

/* Value + 1 of each hex digit (either case); 0 for any other octet. */
static const uint8_t hex_plus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Decode exactly n bytes of hex (either case). On failure out holds
 * anything. */
static bool from_hex(tstr in, uint8_t *out, unsigned n)
{
	const unsigned char *p = (const unsigned char *)in.s;
	unsigned bad = 0;

	if (in.len != 2 * n)
		return false;
	for (unsigned i = 0; i < n; i++) {
		unsigned hi = hex_plus1[p[2 * i]], lo = hex_plus1[p[2 * i + 1]];

		bad |= (hi == 0) | (lo == 0);
		out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return bad == 0;
}

/* Compare without leaking where the first difference is. */
static bool equal_ct(const uint8_t *a, const uint8_t *b, unsigned n)
{
	uint8_t d = 0;

	for (unsigned i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

unsigned digest_hash_len(enum digest_alg alg)
{
	return alg == DIGEST_MD5 ? 16 : 32;
}

const char *digest_alg_name(enum digest_alg alg)
{
	return alg == DIGEST_MD5 ? "MD5" : "SHA-256";
}

int digest_alg_parse(tstr name, enum digest_alg *out)
{
	if (name.len == 0 || tstr_caseeq_lit(name, "MD5")) {
		*out = DIGEST_MD5;
		return 0;
	}
	if (tstr_caseeq_lit(name, "SHA-256")) {
		*out = DIGEST_SHA256;
		return 0;
	}
	return TDM_ENOTFOUND;
}

void digest_ha1(enum digest_alg alg, tstr username, tstr realm, tstr password,
		uint8_t *out)
{
	struct hash_ctx h;

	hash_init(&h, alg);
	hash_update_t(&h, username);
	hash_colon(&h);
	hash_update_t(&h, realm);
	hash_colon(&h);
	hash_update_t(&h, password);
	hash_final(&h, out);
}

/* HMAC (RFC 2104) with SHA-256: a key of DIGEST_KEY_LEN bytes is padded
 * to the block size with zeros and XOR-ed with the inner and outer pads.
 * The hash states after those blocks are the cache. */
static void key_cache_fill(struct nonce_key_cache *c, const struct nonce_key *k)
{
	uint8_t pad[WC_SHA256_BLOCK_SIZE];

	if (c->ready)
		return;
	memset(pad, 0x36, sizeof(pad));
	for (unsigned i = 0; i < DIGEST_KEY_LEN; i++)
		pad[i] ^= k->key[i];
	wc_InitSha256(&c->inner);
	wc_Sha256Update(&c->inner, pad, sizeof(pad));
	memset(pad, 0x5c, sizeof(pad));
	for (unsigned i = 0; i < DIGEST_KEY_LEN; i++)
		pad[i] ^= k->key[i];
	wc_InitSha256(&c->outer);
	wc_Sha256Update(&c->outer, pad, sizeof(pad));
	memcpy(c->key, k->key, sizeof(c->key));
	c->ready = true;
}

static void key_cache_update(struct nonce_key_cache *c, const struct nonce_key *k)
{
	if (c->ready && memcmp(c->key, k->key, sizeof(c->key)) != 0) {
		wc_Sha256Free(&c->inner);
		wc_Sha256Free(&c->outer);
		c->ready = false;
	}
	key_cache_fill(c, k);
}

static void key_cache_free(struct nonce_key_cache *c)
{
	if (!c->ready)
		return;
	wc_Sha256Free(&c->inner);
	wc_Sha256Free(&c->outer);
	c->ready = false;
}

/* HMAC-SHA-256(key, when || Call-ID) from the key's cached pad states. */
static void nonce_mac(struct nonce_key_cache *c, const struct nonce_key *k,
		      const uint8_t when[8], tstr call_id, uint8_t mac[WC_SHA256_DIGEST_SIZE])
{
	wc_Sha256 h;

	key_cache_update(c, k);
	wc_Sha256Copy(&c->inner, &h);
	wc_Sha256Update(&h, when, 8);
	if (call_id.len)
		wc_Sha256Update(&h, (const byte *)call_id.s, call_id.len);
	wc_Sha256Final(&h, mac);
	wc_Sha256Free(&h);
	wc_Sha256Copy(&c->outer, &h);
	wc_Sha256Update(&h, mac, WC_SHA256_DIGEST_SIZE);
	wc_Sha256Final(&h, mac);
	wc_Sha256Free(&h);
}

static void put_be64(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

void digest_nonce_make_cached(struct nonce_key_cache *c, const struct nonce_key *k,
			      int64_t now_s, tstr call_id, char out[DIGEST_NONCE_LEN])
{
	uint8_t when[8], mac[WC_SHA256_DIGEST_SIZE];

	put_be64(when, (uint64_t)now_s);
	nonce_mac(c, k, when, call_id, mac);
	to_hex(when, 8, out);
	to_hex(mac, NONCE_MAC_BYTES, out + NONCE_TIME_HEX);
}

void digest_nonce_make(const struct nonce_key *k, int64_t now_s, tstr call_id,
		       char out[DIGEST_NONCE_LEN])
{
	struct nonce_key_cache c = { .ready = false };

	digest_nonce_make_cached(&c, k, now_s, call_id, out);
	key_cache_free(&c);
}

int digest_nonce_check(const struct nonce_key *k, tstr nonce, tstr call_id,
		       int64_t now_s, uint32_t lifetime_s)
{
	struct nonce_key_cache c = { .ready = false };
	int rc = digest_nonce_check_cached(&c, k, nonce, call_id, now_s, lifetime_s);

	key_cache_free(&c);
	return rc;
}

int digest_nonce_check_cached(struct nonce_key_cache *c, const struct nonce_key *k,
			      tstr nonce, tstr call_id, int64_t now_s, uint32_t lifetime_s)
{
	uint8_t when[8], got[NONCE_MAC_BYTES], mac[WC_SHA256_DIGEST_SIZE];
	int64_t issued = 0;

	if (nonce.len != DIGEST_NONCE_LEN ||
	    !from_hex(tstr_sub(nonce, 0, NONCE_TIME_HEX), when, 8) ||
	    !from_hex(tstr_sub(nonce, NONCE_TIME_HEX, 2 * NONCE_MAC_BYTES), got,
		      NONCE_MAC_BYTES))
		return TDM_EAUTH;

	nonce_mac(c, k, when, call_id, mac);
	if (!equal_ct(got, mac, NONCE_MAC_BYTES))
		return TDM_EAUTH;

	for (int i = 0; i < 8; i++)
		issued = (int64_t)((uint64_t)issued << 8 | when[i]);
	if (issued > now_s + NONCE_FUTURE_SLACK_S)
		return TDM_ESTALE;
	if (now_s - issued > (int64_t)lifetime_s)
		return TDM_ESTALE;
	return 0;
}

/* HA2 = H(method ":" digest-uri) (qop=auth or no qop). */
static void compute_ha2(enum digest_alg alg, tstr method, tstr uri, uint8_t ha2[32])
{
	struct hash_ctx h;

	hash_init(&h, alg);
	hash_update_t(&h, method);
	hash_colon(&h);
	hash_update_t(&h, uri);
	hash_final(&h, ha2);
}

/* The response from HA1 and HA2: both hashes as lower-case hex. */
static void response_from_ha2(enum digest_alg alg, const uint8_t *ha1, const uint8_t *ha2,
			      tstr nonce, tstr nc, tstr cnonce, tstr qop, uint8_t *out)
{
	unsigned n = digest_hash_len(alg);
	char hex[64];
	struct hash_ctx h;

	hash_init(&h, alg);
	to_hex(ha1, n, hex);
	hash_update(&h, hex, 2 * n);
	hash_colon(&h);
	hash_update_t(&h, nonce);
	hash_colon(&h);
	if (qop.len) {
		hash_update_t(&h, nc);
		hash_colon(&h);
		hash_update_t(&h, cnonce);
		hash_colon(&h);
		hash_update_t(&h, qop);
		hash_colon(&h);
	}
	to_hex(ha2, n, hex);
	hash_update(&h, hex, 2 * n);
	hash_final(&h, out);
}

static void compute_response(enum digest_alg alg, const uint8_t *ha1, tstr method,
			     tstr uri, tstr nonce, tstr nc, tstr cnonce, tstr qop,
			     uint8_t *out)
{
	uint8_t ha2[32];

	compute_ha2(alg, method, uri, ha2);
	response_from_ha2(alg, ha1, ha2, nonce, nc, cnonce, qop, out);
}

/* HA2 from the cache when it holds this algorithm, method and uri;
 * otherwise computed, and kept when the strings fit. */
static const uint8_t *cached_ha2(struct digest_ha2_cache *c, enum digest_alg alg,
				 tstr method, tstr uri)
{
	if (c->ready && c->alg == alg && c->method_len == method.len &&
	    c->uri_len == uri.len && memcmp(c->method, method.s, method.len) == 0 &&
	    memcmp(c->uri, uri.s, uri.len) == 0)
		return c->ha2;
	c->ready = false;
	compute_ha2(alg, method, uri, c->ha2);
	if (method.len <= sizeof(c->method) && uri.len <= sizeof(c->uri)) {
		c->alg = alg;
		c->method_len = (uint8_t)method.len;
		c->uri_len = (uint8_t)uri.len;
		memcpy(c->method, method.s, method.len);
		memcpy(c->uri, uri.s, uri.len);
		c->ready = true;
	}
	return c->ha2;
}

int digest_verify_cached(struct digest_ha2_cache *c, enum digest_alg alg,
			 const struct sip_digest_cred *cred, const uint8_t *ha1, tstr method)
{
	unsigned n = digest_hash_len(alg);
	uint8_t want[32], got[32];

	if (cred->qop.len) {
		/* We offer qop="auth" only; auth-int would need the body hash. */
		if (!tstr_caseeq_lit(cred->qop, "auth"))
			return TDM_EAUTH;
		if (cred->nc.len == 0 || cred->cnonce.len == 0)
			return TDM_EAUTH;
	}
	if (!from_hex(cred->response, got, n))
		return TDM_EAUTH;
	response_from_ha2(alg, ha1, cached_ha2(c, alg, method, cred->uri), cred->nonce,
			  cred->nc, cred->cnonce, cred->qop, want);
	return equal_ct(got, want, n) ? 0 : TDM_EAUTH;
}

int digest_verify(enum digest_alg alg, const struct sip_digest_cred *cred,
		  const uint8_t *ha1, tstr method)
{
	struct digest_ha2_cache c = { .ready = false };

	return digest_verify_cached(&c, alg, cred, ha1, method);
}

void digest_response(enum digest_alg alg, const uint8_t *ha1, tstr method, tstr uri,
		     tstr nonce, tstr nc, tstr cnonce, tstr qop, char *out)
{
	unsigned n = digest_hash_len(alg);
	uint8_t resp[32];

	compute_response(alg, ha1, method, uri, nonce, nc, cnonce, qop, resp);
	to_hex(resp, n, out);
	out[2 * n] = '\0';
}
