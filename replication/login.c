/* SPDX-License-Identifier: MIT */
/*
 * The login proof of the master/standby link (see login.h): key derivation,
 * the two HMAC proofs over a TLS-session-bound transcript, and the pure
 * accept/refuse decisions of each side.
 *
 * Why PBKDF2 and not HKDF: the PBX password is chosen by a person, so it
 * has little entropy. Whoever receives a proof (a host that manages to
 * answer at the master's address gets the standby's) can test guesses
 * offline; HKDF would let it test billions per second, PBKDF2 with
 * LOGIN_KDF_ITERATIONS makes each guess cost that many HMACs. The cost is
 * paid once per process (the key is derived at start-up), never per login,
 * so an unauthenticated client cannot make the master burn CPU with it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "err.h"
#include "frame.h"
#include "login.h"

const char *login_refusal_text(unsigned code, char *buf, size_t cap)
{
	switch (code) {
#define LOGIN_REFUSAL_CASE(name, value, text) case value: return text;
		LOGIN_REFUSALS(LOGIN_REFUSAL_CASE)
#undef LOGIN_REFUSAL_CASE
	default:
		break;
	}
	snprintf(buf, cap, "refused (code %u)", code);
	return buf;
}

int login_key_derive(const void *password, size_t len, struct login_key *out)
{
	static const char salt[] = LOGIN_KDF_SALT;

	if (len == 0)
		return TDM_EAUTH;
	if (len > INT32_MAX)
		return TDM_EMALFORMED;
	if (wc_PBKDF2(out->k, password, (int)len, (const byte *)salt,
		      (int)(sizeof(salt) - 1), LOGIN_KDF_ITERATIONS,
		      LOGIN_KEY_LEN, WC_SHA256) != 0)
		return -EIO;
	return 0;
}

void login_key_wipe(struct login_key *k)
{
	volatile uint8_t *p = k->k;

	for (size_t i = 0; i < sizeof(k->k); i++)
		p[i] = 0;
}

bool login_equal_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a;
	const volatile uint8_t *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (uint8_t)(x[i] ^ y[i]);
	return diff == 0;
}

int login_proof(const struct login_key *k, enum login_side side,
		const struct login_transcript *t, uint8_t out[LOGIN_PROOF_LEN])
{
	const char *label = side == LOGIN_SIDE_STANDBY ? LOGIN_STANDBY_LABEL
						       : LOGIN_MASTER_LABEL;
	uint8_t slen = (uint8_t)t->standby_name.len;
	uint8_t mlen = (uint8_t)t->master_name.len;
	Hmac h;
	int rc = 0;

	if (t->standby_name.len == 0 || t->standby_name.len > 255 ||
	    t->master_name.len == 0 || t->master_name.len > 255)
		return TDM_EMALFORMED;
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -EIO;
	if (wc_HmacSetKey(&h, WC_SHA256, k->k, LOGIN_KEY_LEN) != 0 ||
	    wc_HmacUpdate(&h, (const byte *)label, (word32)strlen(label)) != 0 ||
	    wc_HmacUpdate(&h, t->exporter, LOGIN_EXPORTER_LEN) != 0 ||
	    wc_HmacUpdate(&h, t->nonce_s, LOGIN_NONCE_LEN) != 0 ||
	    wc_HmacUpdate(&h, t->nonce_m, LOGIN_NONCE_LEN) != 0 ||
	    wc_HmacUpdate(&h, &slen, 1) != 0 ||
	    wc_HmacUpdate(&h, (const byte *)t->standby_name.s, slen) != 0 ||
	    wc_HmacUpdate(&h, &mlen, 1) != 0 ||
	    wc_HmacUpdate(&h, (const byte *)t->master_name.s, mlen) != 0 ||
	    wc_HmacFinal(&h, out) != 0)
		rc = -EIO;
	wc_HmacFree(&h);
	return rc;
}

bool login_proof_check(const struct login_key *k, enum login_side side,
		       const struct login_transcript *t,
		       const uint8_t *proof, size_t len)
{
	uint8_t want[LOGIN_PROOF_LEN];
	bool ok;

	if (len != LOGIN_PROOF_LEN || login_proof(k, side, t, want) != 0)
		return false;
	ok = login_equal_ct(want, proof, LOGIN_PROOF_LEN);
	memset(want, 0, sizeof(want));
	return ok;
}

enum login_refusal login_check_hello(uint16_t version, tstr standby_name,
				     tstr master_name)
{
	if (version != LINK_PROTO_VERSION)
		return LOGIN_REFUSE_VERSION;
	if (tstr_caseeq(standby_name, master_name))
		return LOGIN_REFUSE_NAME;
	return LOGIN_ACCEPT;
}

enum login_refusal login_master_decide(const struct login_key *k,
				       const struct login_transcript *t,
				       const uint8_t *proof, size_t proof_len,
				       tstr logged_in)
{
	if (!login_proof_check(k, LOGIN_SIDE_STANDBY, t, proof, proof_len))
		return LOGIN_REFUSE_PASSWORD;
	if (!tstr_empty(logged_in) && !tstr_caseeq(logged_in, t->standby_name))
		return LOGIN_REFUSE_BUSY;
	return LOGIN_ACCEPT;
}

enum login_refusal login_check_challenge(uint16_t our_version, uint16_t version,
					 tstr standby_name, tstr master_name)
{
	if (version != our_version)
		return LOGIN_REFUSE_VERSION;
	if (tstr_caseeq(standby_name, master_name))
		return LOGIN_REFUSE_NAME;
	return LOGIN_ACCEPT;
}
