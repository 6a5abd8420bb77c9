/* SPDX-License-Identifier: MIT */
/*
 * Tests of replication/login.c: the key and both proofs against vectors
 * computed independently (Python hashlib/hmac), acceptance both ways with
 * the right password, refusal of a wrong password on either side, of a
 * proof replayed from another TLS session or relayed by a man in the
 * middle, of a name clash, a protocol version mismatch and a second
 * standby.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "frame.h"
#include "login.h"

#define PASSWORD "correct horse battery staple"

/* Derived once per process: PBKDF2 is deliberately slow. */
static struct login_key key_right, key_wrong;

static void derive_keys(bool wrong_too)
{
	cr_assert_eq(login_key_derive(PASSWORD, strlen(PASSWORD), &key_right), 0);
	if (wrong_too)
		cr_assert_eq(login_key_derive("correct horse battery stapl", 27, &key_wrong), 0);
}

/* One TLS session's transcript: exporter, nonces and names. */
static void session(struct login_transcript *t, uint8_t exporter_seed,
		    uint8_t nonce_seed)
{
	for (int i = 0; i < 32; i++) {
		t->exporter[i] = (uint8_t)(exporter_seed + i);
		t->nonce_s[i] = (uint8_t)(nonce_seed ^ (0xa0 + i % 16));
		t->nonce_m[i] = (uint8_t)(nonce_seed ^ 0x50);
	}
	t->standby_name = TSTR_LIT("pbx-b");
	t->master_name = TSTR_LIT("pbx-a");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

Test(login, key_and_proofs_match_independent_vectors)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];
	char h[2 * LOGIN_PROOF_LEN + 1];

	derive_keys(false);
	hex(key_right.k, sizeof(key_right.k), h);
	cr_assert_str_eq(h, "30504262d1fdecd3da58c598e5bf8efa44456c9199939232636721c94340dbc6");

	session(&t, 0, 0);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), 0);
	hex(proof, sizeof(proof), h);
	cr_assert_str_eq(h, "34764038b464edf0299f0607734ac1a85bab5b2fdd80e1979a199b2091bba56c");
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_MASTER, &t, proof), 0);
	hex(proof, sizeof(proof), h);
	cr_assert_str_eq(h, "a8954af6c17c222bc46b60d42247872af6e31282ba4fcc5272fc984a19494d97");
}

Test(login, an_empty_password_gives_no_key)
{
	struct login_key k;

	cr_assert_eq(login_key_derive("", 0, &k), TDM_EAUTH);
}

Test(login, right_password_is_accepted_both_ways)
{
	struct login_transcript t;
	uint8_t sproof[LOGIN_PROOF_LEN], mproof[LOGIN_PROOF_LEN];

	derive_keys(false);
	session(&t, 1, 2);
	/* The standby proves, the master checks... */
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, sproof), 0);
	cr_assert_eq(login_master_decide(&key_right, &t, sproof, sizeof(sproof), TSTR_NULL),
		     LOGIN_ACCEPT);
	/* ...then the master proves, the standby checks. */
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_MASTER, &t, mproof), 0);
	cr_assert(login_proof_check(&key_right, LOGIN_SIDE_MASTER, &t, mproof, sizeof(mproof)));
	/* The two proofs differ: one side's cannot be reflected as the other's. */
	cr_assert_neq(memcmp(sproof, mproof, sizeof(sproof)), 0);
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_MASTER, &t, sproof,
					sizeof(sproof)));
}

Test(login, a_standby_with_a_wrong_password_is_refused)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];

	derive_keys(true);
	session(&t, 1, 2);
	cr_assert_eq(login_proof(&key_wrong, LOGIN_SIDE_STANDBY, &t, proof), 0);
	cr_assert_eq(login_master_decide(&key_right, &t, proof, sizeof(proof), TSTR_NULL),
		     LOGIN_REFUSE_PASSWORD);
}

Test(login, a_master_with_a_wrong_password_is_refused_by_the_standby)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];
	char buf[32];

	derive_keys(true);
	session(&t, 1, 2);
	cr_assert_eq(login_proof(&key_wrong, LOGIN_SIDE_MASTER, &t, proof), 0);
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_MASTER, &t, proof, sizeof(proof)));
	cr_assert_str_eq(login_refusal_text(LOGIN_REFUSE_MASTER_PROOF, buf, sizeof(buf)),
			 "the master does not know the PBX password (or the connection "
			 "is intercepted)");
}

Test(login, a_proof_replayed_on_another_tls_session_is_refused)
{
	struct login_transcript recorded, later;
	uint8_t proof[LOGIN_PROOF_LEN];

	derive_keys(false);
	session(&recorded, 10, 3);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &recorded, proof), 0);
	/* The attacker replays the HELLO nonce too; only the session differs. */
	later = recorded;
	later.exporter[31] ^= 1;
	cr_assert_eq(login_master_decide(&key_right, &later, proof, sizeof(proof), TSTR_NULL),
		     LOGIN_REFUSE_PASSWORD);
	/* Same session, but the master's fresh nonce differs. */
	later = recorded;
	later.nonce_m[0] ^= 0x80;
	cr_assert_eq(login_master_decide(&key_right, &later, proof, sizeof(proof), TSTR_NULL),
		     LOGIN_REFUSE_PASSWORD);
}

Test(login, a_proof_relayed_by_a_man_in_the_middle_is_refused_both_ways)
{
	/* The standby's TLS session ends at the relay (exporter A); the relay
	 * opens its own to the master (exporter B) and forwards every login
	 * message unchanged: names and nonces are the same on both legs. */
	struct login_transcript leg_standby, leg_master;
	uint8_t sproof[LOGIN_PROOF_LEN], mproof[LOGIN_PROOF_LEN];

	derive_keys(false);
	session(&leg_standby, 0x11, 4);
	leg_master = leg_standby;
	for (int i = 0; i < 32; i++)
		leg_master.exporter[i] = (uint8_t)(0xee - i);

	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &leg_standby, sproof), 0);
	cr_assert_eq(login_master_decide(&key_right, &leg_master, sproof, sizeof(sproof),
					 TSTR_NULL), LOGIN_REFUSE_PASSWORD);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_MASTER, &leg_master, mproof), 0);
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_MASTER, &leg_standby, mproof,
					sizeof(mproof)));
}

Test(login, a_proof_is_bound_to_both_names)
{
	struct login_transcript t, u;
	uint8_t proof[LOGIN_PROOF_LEN];

	derive_keys(false);
	session(&t, 5, 6);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), 0);
	u = t;
	u.standby_name = TSTR_LIT("pbx-c");
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &u, proof, sizeof(proof)));
	u = t;
	u.master_name = TSTR_LIT("pbx-z");
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &u, proof, sizeof(proof)));
	/* Names are length-prefixed: moving the boundary changes the proof. */
	t.standby_name = TSTR_LIT("ab");
	t.master_name = TSTR_LIT("cd");
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), 0);
	u = t;
	u.standby_name = TSTR_LIT("abc");
	u.master_name = TSTR_LIT("d");
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &u, proof, sizeof(proof)));
}

Test(login, a_proof_of_the_wrong_length_is_refused)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN + 1];

	derive_keys(false);
	session(&t, 1, 1);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), 0);
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &t, proof,
					LOGIN_PROOF_LEN - 1));
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &t, proof,
					LOGIN_PROOF_LEN + 1));
	cr_assert_eq(login_master_decide(&key_right, &t, proof, 0, TSTR_NULL),
		     LOGIN_REFUSE_PASSWORD);
}

Test(login, an_empty_name_makes_no_proof)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];

	derive_keys(false);
	session(&t, 1, 1);
	t.master_name = TSTR_NULL;
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), TDM_EMALFORMED);
	cr_assert_not(login_proof_check(&key_right, LOGIN_SIDE_STANDBY, &t, proof, sizeof(proof)));
}

Test(login, a_standby_with_the_masters_name_is_refused)
{
	cr_assert_eq(login_check_hello(LINK_PROTO_VERSION, TSTR_LIT("pbx-a"), TSTR_LIT("pbx-a")),
		     LOGIN_REFUSE_NAME);
	/* Names are host names: case does not make them different. */
	cr_assert_eq(login_check_hello(LINK_PROTO_VERSION, TSTR_LIT("PBX-A"), TSTR_LIT("pbx-a")),
		     LOGIN_REFUSE_NAME);
	cr_assert_eq(login_check_challenge(LINK_PROTO_VERSION, LINK_PROTO_VERSION,
					   TSTR_LIT("pbx-a"), TSTR_LIT("Pbx-A")),
		     LOGIN_REFUSE_NAME);
	cr_assert_eq(login_check_hello(LINK_PROTO_VERSION, TSTR_LIT("pbx-b"), TSTR_LIT("pbx-a")),
		     LOGIN_ACCEPT);
}

Test(login, a_protocol_version_mismatch_is_refused_on_either_side)
{
	char buf[32];

	cr_assert_eq(login_check_hello(LINK_PROTO_VERSION + 1, TSTR_LIT("pbx-b"),
				       TSTR_LIT("pbx-a")), LOGIN_REFUSE_VERSION);
	/* Checked before the name: the names may mean something else in
	 * another version. */
	cr_assert_eq(login_check_hello(LINK_PROTO_VERSION + 1, TSTR_LIT("pbx-a"),
				       TSTR_LIT("pbx-a")), LOGIN_REFUSE_VERSION);
	cr_assert_eq(login_check_challenge(LINK_PROTO_VERSION, LINK_PROTO_VERSION + 1,
					   TSTR_LIT("pbx-b"), TSTR_LIT("pbx-a")),
		     LOGIN_REFUSE_VERSION);
	cr_assert_str_eq(login_refusal_text(LOGIN_REFUSE_VERSION, buf, sizeof(buf)),
			 "unsupported protocol version");
}

Test(login, a_second_standby_is_refused_but_the_same_one_may_return)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];
	char buf[32];

	derive_keys(false);
	session(&t, 7, 7);
	cr_assert_eq(login_proof(&key_right, LOGIN_SIDE_STANDBY, &t, proof), 0);
	cr_assert_eq(login_master_decide(&key_right, &t, proof, sizeof(proof),
					 TSTR_LIT("pbx-c")), LOGIN_REFUSE_BUSY);
	cr_assert_eq(login_master_decide(&key_right, &t, proof, sizeof(proof),
					 TSTR_LIT("PBX-B")), LOGIN_ACCEPT);
	cr_assert_str_eq(login_refusal_text(LOGIN_REFUSE_BUSY, buf, sizeof(buf)),
			 "another standby is logged in");
}

Test(login, the_password_is_checked_before_telling_about_another_standby)
{
	struct login_transcript t;
	uint8_t proof[LOGIN_PROOF_LEN];

	derive_keys(true);
	session(&t, 7, 7);
	cr_assert_eq(login_proof(&key_wrong, LOGIN_SIDE_STANDBY, &t, proof), 0);
	cr_assert_eq(login_master_decide(&key_right, &t, proof, sizeof(proof),
					 TSTR_LIT("pbx-c")), LOGIN_REFUSE_PASSWORD);
}

Test(login, refusal_codes_are_stable_and_unknown_ones_are_named)
{
	char buf[32];

	cr_assert_eq(LOGIN_REFUSE_PASSWORD, 1);
	cr_assert_eq(LOGIN_REFUSE_NAME, 2);
	cr_assert_eq(LOGIN_REFUSE_VERSION, 3);
	cr_assert_eq(LOGIN_REFUSE_BUSY, 4);
	cr_assert_eq(LOGIN_REFUSE_MASTER_PROOF, 5);
	cr_assert_str_eq(login_refusal_text(LOGIN_REFUSE_PASSWORD, buf, sizeof(buf)),
			 "wrong password");
	cr_assert_str_eq(login_refusal_text(77, buf, sizeof(buf)), "refused (code 77)");
}

Test(login, constant_time_equality_compares_every_byte)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	cr_assert(login_equal_ct(a, b, sizeof(a)));
	b[31] = 1;
	cr_assert_not(login_equal_ct(a, b, sizeof(a)));
	b[31] = 0;
	b[0] = 0x80;
	cr_assert_not(login_equal_ct(a, b, sizeof(a)));
	cr_assert(login_equal_ct(a, b, 0));
}

Test(login, a_wiped_key_is_zero)
{
	struct login_key k;

	memset(k.k, 0xaa, sizeof(k.k));
	login_key_wipe(&k);
	for (size_t i = 0; i < sizeof(k.k); i++)
		cr_assert_eq(k.k[i], 0);
}
