/* SPDX-License-Identifier: MIT */
/*
 * The login of a standby to its master: a mutual proof of the PBX password
 * bound to one TLS session (docs/replication-protocol.md, "Login").
 *
 *   K      = PBKDF2-HMAC-SHA-256(password, LOGIN_KDF_SALT,
 *                                LOGIN_KDF_ITERATIONS, 32 bytes)
 *   X      = TLS exporter (RFC 8446 §7.5), label LOGIN_EXPORTER_LABEL,
 *            no context, 32 bytes: the same on both ends of one TLS
 *            session, different on every other session
 *   inputs = X || nonce_s || nonce_m || u8 len || standby name
 *              || u8 len || master name
 *   standby proof = HMAC-SHA-256(K, "tandem standby proof" || inputs)
 *   master proof  = HMAC-SHA-256(K, "tandem master proof" || inputs)
 *
 * The password never crosses the wire. A proof made on one TLS session is
 * worthless on another (the exporter differs), so a man in the middle who
 * terminates TLS on each side cannot relay it, and a recorded proof cannot
 * be replayed; the nonces make each login's proof unique even within a
 * session.
 *
 * Pure functions, no state, any thread. Comparisons of secrets are
 * constant-time.
 */
#ifndef TANDEM_LOGIN_H
#define TANDEM_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

#define LOGIN_KEY_LEN 32
#define LOGIN_NONCE_LEN 32
#define LOGIN_EXPORTER_LEN 32
#define LOGIN_PROOF_LEN 32

#define LOGIN_EXPORTER_LABEL "EXPORTER-tandem-login"
#define LOGIN_KDF_SALT "tandem link login key v1"
#define LOGIN_KDF_ITERATIONS 100000
#define LOGIN_STANDBY_LABEL "tandem standby proof"
#define LOGIN_MASTER_LABEL "tandem master proof"

/*
 * Why a login is refused: the code travels in LOGIN_REFUSED, the text is
 * what both sides log and show. Append only: the numbers are on the wire.
 * PASSWORD, NAME, VERSION and BUSY are sent by the master;
 * MASTER_PROOF by the standby.
 */
#define LOGIN_REFUSALS(X)                                                      \
	X(LOGIN_REFUSE_PASSWORD, 1, "wrong password")                          \
	X(LOGIN_REFUSE_NAME, 2, "same node name as the master")                \
	X(LOGIN_REFUSE_VERSION, 3, "unsupported protocol version")             \
	X(LOGIN_REFUSE_BUSY, 4, "another standby is logged in")                \
	X(LOGIN_REFUSE_MASTER_PROOF, 5, "the master does not know the PBX "    \
	  "password (or the connection is intercepted)")

enum login_refusal {
	LOGIN_ACCEPT = 0,
#define LOGIN_REFUSAL_ENUM(name, value, text) name = (value),
	LOGIN_REFUSALS(LOGIN_REFUSAL_ENUM)
#undef LOGIN_REFUSAL_ENUM
};

/* The text of a refusal code; "refused (code N)" for codes this version
 * does not know (buf, at least 32 bytes, is used then). */
const char *login_refusal_text(unsigned code, char *buf, size_t cap);

struct login_key {
	uint8_t k[LOGIN_KEY_LEN];
};

/* Derive K from the password (any bytes, len > 0). About 0.1 s of CPU:
 * do it once, at start-up. Returns 0 or TDM_EAUTH (empty password) or
 * -EIO (the crypto library failed). */
int login_key_derive(const void *password, size_t len, struct login_key *out);

/* Overwrite a key that is no longer needed. */
void login_key_wipe(struct login_key *k);

enum login_side {
	LOGIN_SIDE_STANDBY,
	LOGIN_SIDE_MASTER,
};

/* Everything a proof covers. Names are 1..255 bytes (the wire limits them
 * to FRAME_NAME_MAX). */
struct login_transcript {
	uint8_t exporter[LOGIN_EXPORTER_LEN];
	uint8_t nonce_s[LOGIN_NONCE_LEN];
	uint8_t nonce_m[LOGIN_NONCE_LEN];
	tstr standby_name;
	tstr master_name;
};

/* The proof `side` sends. Returns 0, TDM_EMALFORMED (a name of 0 or more
 * than 255 bytes) or -EIO. */
int login_proof(const struct login_key *k, enum login_side side,
		const struct login_transcript *t, uint8_t out[LOGIN_PROOF_LEN]);

/* True when proof (len bytes) is the one `side` must send for t. Runs in
 * time independent of where proof differs. */
bool login_proof_check(const struct login_key *k, enum login_side side,
		       const struct login_transcript *t,
		       const uint8_t *proof, size_t len);

/* Constant-time equality of two buffers of the same length. */
bool login_equal_ct(const void *a, const void *b, size_t len);

/*
 * The master's decision on a HELLO: LOGIN_ACCEPT, LOGIN_REFUSE_VERSION (the
 * standby speaks another protocol version) or LOGIN_REFUSE_NAME (the
 * standby has the master's name; names compare without regard to case, as
 * host names do). The password and "another standby" are decided after the
 * PROOF (login_master_decide).
 */
enum login_refusal login_check_hello(uint16_t version, tstr standby_name,
				     tstr master_name);

/*
 * The master's decision on a PROOF: LOGIN_REFUSE_PASSWORD when the proof
 * is wrong, else LOGIN_REFUSE_BUSY when another standby (another name) is
 * logged in, else LOGIN_ACCEPT. `logged_in` is the name of the standby
 * logged in now (empty: none); the same name logging in again is accepted
 * (it replaces its own stale session).
 */
enum login_refusal login_master_decide(const struct login_key *k,
				       const struct login_transcript *t,
				       const uint8_t *proof, size_t proof_len,
				       tstr logged_in);

/* The standby's decision on a CHALLENGE: LOGIN_REFUSE_VERSION when the
 * master answers with another version than ours, LOGIN_REFUSE_NAME when
 * it bears our name, else LOGIN_ACCEPT. */
enum login_refusal login_check_challenge(uint16_t our_version, uint16_t version,
					 tstr standby_name, tstr master_name);

#endif
