/* SPDX-License-Identifier: MIT */
/*
 * HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760):
 * MD5 and SHA-256, qop=auth or no qop, with stateless nonces.
 *
 * A nonce is 16 hex digits of its issue time (wall clock, seconds) followed
 * by 32 hex digits of HMAC-SHA-256(key, time || Call-ID), truncated to 128
 * bits. The node keeps no nonce state: a nonce is valid when its MAC checks
 * out and it is younger than the nonce lifetime; an authentic nonce that is
 * too old is "stale" (answered with stale=true so the phone retries without
 * asking its user). Binding the nonce to the Call-ID means a nonce cannot be
 * reused for another registration dialog. The key is kept in data_dir, so
 * nonces survive a restart of the node.
 *
 * Hashes come from wolfCrypt. Calling context: any thread; no state.
 */
#ifndef TANDEM_DIGEST_H
#define TANDEM_DIGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "sip_parse.h"
#include "str.h"

#define DIGEST_NONCE_LEN 48
#define DIGEST_KEY_LEN 32

enum digest_alg {
	DIGEST_MD5,
	DIGEST_SHA256,
};

struct nonce_key {
	uint8_t key[DIGEST_KEY_LEN];
};

/* Length of the hash of alg in bytes (16 or 32). */
unsigned digest_hash_len(enum digest_alg alg);

/* "MD5" / "SHA-256". */
const char *digest_alg_name(enum digest_alg alg);

/* Parse an algorithm parameter; empty means MD5. Returns 0 or
 * TDM_ENOTFOUND for an algorithm we do not offer (e.g. "MD5-sess"). */
int digest_alg_parse(tstr name, enum digest_alg *out);

/* HA1 = H(username ":" realm ":" password); out gets digest_hash_len(alg) bytes. */
void digest_ha1(enum digest_alg alg, tstr username, tstr realm, tstr password,
		uint8_t *out);

/* Write a fresh nonce (DIGEST_NONCE_LEN characters, not NUL-terminated). */
void digest_nonce_make(const struct nonce_key *k, int64_t now_s, tstr call_id,
		       char out[DIGEST_NONCE_LEN]);

/* 0 when valid, TDM_ESTALE when authentic but older than lifetime_s (or
 * from the future by more than a minute), TDM_EAUTH when forged or
 * malformed. */
int digest_nonce_check(const struct nonce_key *k, tstr nonce, tstr call_id,
		       int64_t now_s, uint32_t lifetime_s);

/*
 * A nonce key's HMAC-SHA-256 key schedule, kept by its user (one per
 * worker, never shared): the hash states after the key's inner and outer
 * pads. Hashing the key is half the cost of a nonce MAC; with the
 * schedule kept, each nonce hashes only its own bytes. Zero-initialise;
 * the _cached functions (re)compute it whenever k differs from the key it
 * was made from, so it never needs to be told that the key changed.
 */
struct nonce_key_cache {
	bool ready;
	uint8_t key[DIGEST_KEY_LEN];
	wc_Sha256 inner, outer;
};

/* digest_nonce_make() and digest_nonce_check() with a key cache: the same
 * results. */
void digest_nonce_make_cached(struct nonce_key_cache *c, const struct nonce_key *k,
			      int64_t now_s, tstr call_id, char out[DIGEST_NONCE_LEN]);
int digest_nonce_check_cached(struct nonce_key_cache *c, const struct nonce_key *k,
			      tstr nonce, tstr call_id, int64_t now_s, uint32_t lifetime_s);

/*
 * Check a digest response: returns 0 when cred->response equals the value
 * computed from ha1 (digest_hash_len(alg) bytes), the request method and
 * cred's uri/nonce/nc/cnonce/qop; TDM_EAUTH otherwise (including a qop
 * other than "auth" or a malformed response).
 */
int digest_verify(enum digest_alg alg, const struct sip_digest_cred *cred,
		  const uint8_t *ha1, tstr method);

/*
 * HA2 = H(method ":" digest-uri) of the last request verified, kept by its
 * user (one per worker, never shared). A registrar's REGISTERs nearly all
 * name the same method and uri, so HA2 is nearly always the same: one
 * hash (a SHA-256 or MD5 block) less per verification. Zero-initialise.
 */
#define DIGEST_HA2_CACHE_URI 128

struct digest_ha2_cache {
	bool ready;
	enum digest_alg alg;
	uint8_t method_len;
	uint8_t uri_len;
	char method[16];
	char uri[DIGEST_HA2_CACHE_URI];
	uint8_t ha2[32];
};

/* digest_verify() with an HA2 cache: the same result. */
int digest_verify_cached(struct digest_ha2_cache *c, enum digest_alg alg,
			 const struct sip_digest_cred *cred, const uint8_t *ha1, tstr method);

/* Compute the response a client would send (for tests and the load
 * generator): hex into out (2 * digest_hash_len(alg) characters + NUL). */
void digest_response(enum digest_alg alg, const uint8_t *ha1, tstr method, tstr uri,
		     tstr nonce, tstr nc, tstr cnonce, tstr qop, char *out);

#endif
