/* SPDX-License-Identifier: MIT */
/*
 * Tests of replication/frame.c: the frame header on good frames, every
 * truncation of them, garbled headers; each message's encoder and decoder,
 * with missing, extra and out-of-range fields; the bounded reader and
 * writer; and random bytes through every decoder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "frame.h"

static const uint8_t nonce[FRAME_NONCE_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

/* An exact-size heap copy, so that the sanitizer sees any read past the end. */
static uint8_t *dup_exact(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	cr_assert_not_null(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static size_t encode_hello(uint8_t *buf, size_t cap, uint8_t type, const char *name)
{
	struct msg_hello m = { LINK_PROTO_VERSION, tstr_cstr(name), nonce };
	struct fwr w;

	fwr_init(&w, buf, cap);
	cr_assert_eq(msg_hello_encode(&w, type, &m), 0);
	return fwr_len(&w);
}

static size_t encode_heartbeat(uint8_t *buf, size_t cap)
{
	struct msg_heartbeat m = { LINK_ROLE_ACTIVE, 7, 1000001, 999, 250 };
	struct fwr w;

	fwr_init(&w, buf, cap);
	cr_assert_eq(msg_heartbeat_encode(&w, &m), 0);
	return fwr_len(&w);
}

/* ---- header ------------------------------------------------------------- */

Test(frame, header_is_magic_version_type_flags_and_big_endian_length)
{
	uint8_t buf[256];
	size_t n = encode_heartbeat(buf, sizeof(buf));

	cr_assert_eq(buf[0], 0x54);
	cr_assert_eq(buf[1], 1);
	cr_assert_eq(buf[2], FRAME_HEARTBEAT);
	cr_assert_eq(buf[3], 0);
	/* role 1 + epoch 8 + send 8 + echo 8 + hold 4 = 29 bytes. */
	cr_assert_eq(buf[4], 0);
	cr_assert_eq(buf[5], 0);
	cr_assert_eq(buf[6], 0);
	cr_assert_eq(buf[7], 29);
	cr_assert_eq(n, FRAME_HEADER_LEN + 29);
}

Test(frame, a_whole_frame_is_cut_out_with_its_payload)
{
	uint8_t buf[256];
	size_t n = encode_hello(buf, sizeof(buf), FRAME_HELLO, "pbx-b");
	/* A second frame right behind the first one. */
	size_t n2 = encode_heartbeat(buf + n, sizeof(buf) - n);
	uint8_t *copy = dup_exact(buf, n + n2);
	struct frame f;
	struct frame_err e;

	cr_assert_eq(frame_parse(copy, n + n2, FRAME_MAX_PAYLOAD, &f, &e), 1);
	cr_assert_eq(f.type, FRAME_HELLO);
	cr_assert_eq(f.total, n);
	cr_assert_eq(f.len, n - FRAME_HEADER_LEN);
	cr_assert_eq(f.payload, copy + FRAME_HEADER_LEN);
	cr_assert_eq(frame_parse(copy + n, n2, FRAME_MAX_PAYLOAD, &f, &e), 1);
	cr_assert_eq(f.type, FRAME_HEARTBEAT);
	cr_assert_eq(f.total, n2);
	free(copy);
}

Test(frame, every_truncation_of_a_good_frame_needs_more)
{
	uint8_t buf[256];
	size_t n = encode_hello(buf, sizeof(buf), FRAME_CHALLENGE, "master-1");

	for (size_t len = 0; len < n; len++) {
		uint8_t *copy = dup_exact(buf, len);
		struct frame f;
		struct frame_err e;

		cr_assert_eq(frame_parse(copy, len, FRAME_MAX_PAYLOAD, &f, &e), 0,
			     "prefix of %zu bytes", len);
		free(copy);
	}
}

Test(frame, an_empty_payload_is_a_whole_frame)
{
	uint8_t buf[FRAME_HEADER_LEN];
	struct fwr w;
	struct frame f;
	struct frame_err e;

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(frame_encode(&w, 0x41, NULL, 0), 0);
	cr_assert_eq(fwr_len(&w), FRAME_HEADER_LEN);
	cr_assert_eq(frame_parse(buf, sizeof(buf), FRAME_MAX_PAYLOAD, &f, &e), 1);
	cr_assert_eq(f.type, 0x41);
	cr_assert_eq(f.len, 0);
}

static void assert_garbled(const uint8_t *hdr, size_t len, uint32_t max,
			   enum frame_errcode code, const char *text)
{
	uint8_t *copy = dup_exact(hdr, len);
	struct frame f;
	struct frame_err e = { 0 };

	cr_assert_eq(frame_parse(copy, len, max, &f, &e), TDM_EMALFORMED);
	cr_assert_eq(e.code, code, "code %d for %s", e.code, text);
	cr_assert_str_eq(e.text, text);
	free(copy);
}

Test(frame, bad_magic_is_refused_from_the_first_byte)
{
	static const uint8_t h[] = { 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T' };

	assert_garbled(h, 1, FRAME_MAX_PAYLOAD, FRAME_ERR_MAGIC,
		       "frame header: magic 0x47, expected 0x54");
	assert_garbled(h, sizeof(h), FRAME_MAX_PAYLOAD, FRAME_ERR_MAGIC,
		       "frame header: magic 0x47, expected 0x54");
}

Test(frame, a_tls_record_is_not_a_frame)
{
	/* What a TLS client hello looks like to a plain reader. */
	static const uint8_t h[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01 };

	assert_garbled(h, sizeof(h), FRAME_MAX_PAYLOAD, FRAME_ERR_MAGIC,
		       "frame header: magic 0x16, expected 0x54");
}

Test(frame, bad_frame_version_is_refused)
{
	static const uint8_t h[] = { 0x54, 2, FRAME_HELLO, 0, 0, 0, 0, 0 };

	assert_garbled(h, 2, FRAME_MAX_PAYLOAD, FRAME_ERR_VERSION,
		       "frame header: frame version 2, expected 1");
}

Test(frame, reserved_message_types_are_refused)
{
	static const uint8_t reserved[] = { 0x00, 0x06, 0x0f, 0x12, 0x20, 0x3f, 0x80, 0xff };

	for (size_t i = 0; i < sizeof(reserved); i++) {
		uint8_t h[] = { 0x54, 1, reserved[i], 0, 0, 0, 0, 0 };
		char want[64];

		snprintf(want, sizeof(want), "frame header: message type 0x%02x is reserved",
			 reserved[i]);
		assert_garbled(h, 3, FRAME_MAX_PAYLOAD, FRAME_ERR_TYPE, want);
	}
}

Test(frame, link_and_application_types_are_known)
{
	char buf[16];

	cr_assert(frame_type_known(FRAME_HELLO));
	cr_assert(frame_type_known(FRAME_GOODBYE));
	cr_assert(frame_type_known(FRAME_APP_MIN));
	cr_assert(frame_type_known(FRAME_APP_MAX));
	cr_assert_not(frame_type_known(FRAME_APP_MAX + 1));
	cr_assert_not(frame_type_known(FRAME_APP_MIN - 1));
	cr_assert_str_eq(frame_type_name(FRAME_LOGIN_REFUSED, buf, sizeof(buf)),
			 "LOGIN_REFUSED");
	cr_assert_str_eq(frame_type_name(0x42, buf, sizeof(buf)), "APP(0x42)");
	cr_assert_str_eq(frame_type_name(0x99, buf, sizeof(buf)), "0x99");
}

Test(frame, flags_must_be_zero)
{
	static const uint8_t h[] = { 0x54, 1, FRAME_HEARTBEAT, 0x80, 0, 0, 0, 0 };

	assert_garbled(h, 4, FRAME_MAX_PAYLOAD, FRAME_ERR_FLAGS,
		       "frame header: flags 0x80, none are defined");
}

Test(frame, a_length_over_the_limit_is_refused_before_the_payload_arrives)
{
	uint8_t h[] = { 0x54, 1, 0x40, 0, 0x01, 0x00, 0x00, 0x01 };   /* 16 MiB + 1 */
	uint8_t all[] = { 0x54, 1, 0x40, 0, 0xff, 0xff, 0xff, 0xff };

	assert_garbled(h, sizeof(h), FRAME_MAX_PAYLOAD, FRAME_ERR_LENGTH,
		       "frame header: APP(0x40) payload of 16777217 bytes, at most 16777216 here");
	assert_garbled(all, sizeof(all), FRAME_MAX_PAYLOAD, FRAME_ERR_LENGTH,
		       "frame header: APP(0x40) payload of 4294967295 bytes, at most 16777216 here");
}

Test(frame, the_login_limit_is_smaller)
{
	uint8_t h[] = { 0x54, 1, FRAME_PROOF, 0, 0x00, 0x00, 0x80, 0x01 };  /* 32 KiB + 1 */
	uint8_t ok[] = { 0x54, 1, FRAME_PROOF, 0, 0x00, 0x00, 0x80, 0x00 };
	struct frame f;
	struct frame_err e;

	assert_garbled(h, sizeof(h), FRAME_LOGIN_MAX_PAYLOAD, FRAME_ERR_LENGTH,
		       "frame header: PROOF payload of 32769 bytes, at most 32768 here");
	/* Exactly at the limit: waits for the payload. */
	cr_assert_eq(frame_parse(ok, sizeof(ok), FRAME_LOGIN_MAX_PAYLOAD, &f, &e), 0);
}

/* ---- messages ------------------------------------------------------------ */

/* Parse buf as one frame and return its payload as an exact-size copy. */
static uint8_t *payload_of(const uint8_t *buf, size_t n, struct frame *f)
{
	struct frame_err e;

	cr_assert_eq(frame_parse(buf, n, FRAME_MAX_PAYLOAD, f, &e), 1);
	return dup_exact(f->payload, f->len);
}

Test(frame, hello_round_trips)
{
	uint8_t buf[256];
	size_t n = encode_hello(buf, sizeof(buf), FRAME_HELLO, "standby.b-2_x");
	struct frame f;
	uint8_t *p = payload_of(buf, n, &f);
	struct msg_hello m;
	struct frame_err e;

	cr_assert_eq(f.len, 2 + 2 + 13 + 32);
	cr_assert_eq(msg_hello_decode(f.type, p, f.len, &m, &e), 0);
	cr_assert_eq(m.version, LINK_PROTO_VERSION);
	cr_assert(tstr_eq(m.name, TSTR_LIT("standby.b-2_x")));
	cr_assert_arr_eq(m.nonce, nonce, sizeof(nonce));
	free(p);
}

Test(frame, every_truncated_payload_of_each_message_is_malformed)
{
	uint8_t buf[512];
	uint8_t info[5] = "abcde";
	struct msg_proof pm = { nonce, LINK_ROLE_STANDBY, 42, info, sizeof(info) };
	struct msg_reason rm = { 1, TSTR_LIT("wrong password") };
	struct fwr w;
	size_t n;

	struct {
		uint8_t type;
		size_t off, len;
	} msgs[4];
	fwr_init(&w, buf, sizeof(buf));
	msgs[0].off = 0;
	n = encode_hello(buf, sizeof(buf), FRAME_HELLO, "pbx-b");
	msgs[0].type = FRAME_HELLO;
	msgs[0].len = n;
	w.p = buf + n;
	msgs[1].off = n;
	msgs[1].type = FRAME_PROOF;
	cr_assert_eq(msg_proof_encode(&w, FRAME_PROOF, &pm), 0);
	msgs[1].len = fwr_len(&w) - n;
	msgs[2].off = fwr_len(&w);
	msgs[2].type = FRAME_LOGIN_REFUSED;
	cr_assert_eq(msg_reason_encode(&w, FRAME_LOGIN_REFUSED, &rm), 0);
	msgs[2].len = fwr_len(&w) - msgs[2].off;
	msgs[3].off = fwr_len(&w);
	msgs[3].type = FRAME_HEARTBEAT;
	msgs[3].len = encode_heartbeat(w.p, (size_t)(w.end - w.p));

	for (int i = 0; i < 4; i++) {
		const uint8_t *pl = buf + msgs[i].off + FRAME_HEADER_LEN;
		size_t plen = msgs[i].len - FRAME_HEADER_LEN;

		for (size_t cut = 0; cut <= plen; cut++) {
			uint8_t *p = dup_exact(pl, cut);
			struct frame_err e = { 0 };
			int rc;

			switch (msgs[i].type) {
			case FRAME_HELLO: {
				struct msg_hello m;
				rc = msg_hello_decode(FRAME_HELLO, p, (uint32_t)cut, &m, &e);
				break;
			}
			case FRAME_PROOF: {
				struct msg_proof m;
				rc = msg_proof_decode(FRAME_PROOF, p, (uint32_t)cut, &m, &e);
				break;
			}
			case FRAME_LOGIN_REFUSED: {
				struct msg_reason m;
				rc = msg_reason_decode(FRAME_LOGIN_REFUSED, p, (uint32_t)cut, &m, &e);
				break;
			}
			default: {
				struct msg_heartbeat m;
				rc = msg_heartbeat_decode(p, (uint32_t)cut, &m, &e);
				break;
			}
			}
			if (cut == plen) {
				cr_assert_eq(rc, 0, "type %u whole: %s", msgs[i].type, e.text);
			} else {
				cr_assert_eq(rc, TDM_EMALFORMED, "type %u cut at %zu",
					     msgs[i].type, cut);
				cr_assert_eq(e.code, FRAME_ERR_SHORT, "type %u cut at %zu: %s",
					     msgs[i].type, cut, e.text);
			}
			free(p);
		}
	}
}

Test(frame, a_byte_after_the_last_field_is_malformed)
{
	uint8_t buf[256];
	size_t n = encode_heartbeat(buf, sizeof(buf));
	uint8_t *p;
	struct msg_heartbeat m;
	struct frame_err e;

	buf[n] = 0;
	p = dup_exact(buf + FRAME_HEADER_LEN, n - FRAME_HEADER_LEN + 1);
	cr_assert_eq(msg_heartbeat_decode(p, (uint32_t)(n - FRAME_HEADER_LEN + 1), &m, &e),
		     TDM_EMALFORMED);
	cr_assert_eq(e.code, FRAME_ERR_TRAILING);
	cr_assert_str_eq(e.text, "HEARTBEAT: 1 bytes after the last field");
	free(p);
}

/* A HELLO payload with this name (length prefix as given). */
static int decode_hello_named(const char *name, uint16_t declared, struct frame_err *e)
{
	uint8_t buf[512];
	struct fwr w;
	struct msg_hello m;
	uint8_t *p;
	int rc;

	fwr_init(&w, buf, sizeof(buf));
	fwr_u16(&w, 1);
	fwr_u16(&w, declared);
	fwr_bytes(&w, name, strlen(name));
	fwr_bytes(&w, nonce, sizeof(nonce));
	p = dup_exact(buf, fwr_len(&w));
	rc = msg_hello_decode(FRAME_HELLO, p, (uint32_t)fwr_len(&w), &m, e);
	free(p);
	return rc;
}

Test(frame, hello_names_are_checked)
{
	char long_name[80];
	struct frame_err e;

	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	cr_assert_eq(decode_hello_named(long_name, 64, &e), TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "HELLO: node name: longer than 63 bytes");
	long_name[63] = '\0';
	cr_assert_eq(decode_hello_named(long_name, 63, &e), 0);

	cr_assert_eq(decode_hello_named("", 0, &e), TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "HELLO: node name: empty, or not letters, digits, '-', '_', '.'");
	cr_assert_eq(decode_hello_named("a b", 3, &e), TDM_EMALFORMED);
	cr_assert_eq(e.code, FRAME_ERR_FIELD);
	cr_assert_eq(decode_hello_named("pbx\n", 4, &e), TDM_EMALFORMED);
	cr_assert_eq(decode_hello_named("_STANDBY_", 9, &e), TDM_EMALFORMED);
	/* A length that runs past the payload. */
	cr_assert_eq(decode_hello_named("pbx", 60, &e), TDM_EMALFORMED);
	cr_assert_eq(e.code, FRAME_ERR_SHORT);
}

Test(frame, hello_version_zero_is_malformed)
{
	uint8_t buf[64];
	struct fwr w;
	struct msg_hello m;
	struct frame_err e;

	fwr_init(&w, buf, sizeof(buf));
	fwr_u16(&w, 0);
	fwr_str(&w, TSTR_LIT("pbx"));
	fwr_bytes(&w, nonce, sizeof(nonce));
	cr_assert_eq(msg_hello_decode(FRAME_CHALLENGE, buf, (uint32_t)fwr_len(&w), &m, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "CHALLENGE: protocol version: 0 is not a version");
}

Test(frame, proof_round_trips_with_its_info)
{
	uint8_t buf[FRAME_HEADER_LEN + 64 + FRAME_INFO_MAX];
	static uint8_t info[FRAME_INFO_MAX];
	struct msg_proof m = { nonce, LINK_ROLE_ACTIVE, 0x0102030405060708ULL, info,
			       sizeof(info) }, d;
	struct fwr w;
	struct frame f;
	struct frame_err e;
	uint8_t *p;

	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(i * 7);
	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_proof_encode(&w, FRAME_LOGIN_OK, &m), 0);
	p = payload_of(buf, fwr_len(&w), &f);
	cr_assert_eq(f.type, FRAME_LOGIN_OK);
	cr_assert_eq(msg_proof_decode(f.type, p, f.len, &d, &e), 0);
	cr_assert_arr_eq(d.proof, nonce, FRAME_PROOF_LEN);
	cr_assert_eq(d.role, LINK_ROLE_ACTIVE);
	cr_assert_eq(d.epoch, 0x0102030405060708ULL);
	cr_assert_eq(d.info_len, sizeof(info));
	cr_assert_arr_eq(d.info, info, sizeof(info));
	/* The epoch is big-endian right after the proof and the role. */
	cr_assert_eq(p[FRAME_PROOF_LEN + 1], 0x01);
	cr_assert_eq(p[FRAME_PROOF_LEN + 8], 0x08);
	free(p);
}

Test(frame, proof_role_and_info_are_checked)
{
	uint8_t buf[128];
	struct fwr w;
	struct msg_proof m;
	struct frame_err e;

	fwr_init(&w, buf, sizeof(buf));
	fwr_bytes(&w, nonce, sizeof(nonce));
	fwr_u8(&w, 3);
	fwr_u64(&w, 1);
	fwr_u32(&w, 0);
	cr_assert_eq(msg_proof_decode(FRAME_PROOF, buf, (uint32_t)fwr_len(&w), &m, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "PROOF: role: 3 is not a role");

	fwr_init(&w, buf, sizeof(buf));
	fwr_bytes(&w, nonce, sizeof(nonce));
	fwr_u8(&w, 1);
	fwr_u64(&w, 1);
	fwr_u32(&w, FRAME_INFO_MAX + 1);
	cr_assert_eq(msg_proof_decode(FRAME_PROOF, buf, (uint32_t)fwr_len(&w), &m, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "PROOF: info: longer than 16384 bytes");
}

Test(frame, an_info_over_the_limit_does_not_encode)
{
	static uint8_t info[FRAME_INFO_MAX + 1];
	static uint8_t buf[FRAME_INFO_MAX + 128];
	struct msg_proof m = { nonce, 1, 1, info, sizeof(info) };
	struct fwr w;

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_proof_encode(&w, FRAME_PROOF, &m), TDM_ENOSPACE);
}

Test(frame, reasons_round_trip_and_their_text_is_checked)
{
	uint8_t buf[512];
	struct msg_reason m = { 4, TSTR_LIT("another standby is logged in") }, d;
	struct fwr w;
	struct frame f;
	struct frame_err e;
	uint8_t *p;
	char text[300];

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_reason_encode(&w, FRAME_GOODBYE, &m), 0);
	p = payload_of(buf, fwr_len(&w), &f);
	cr_assert_eq(msg_reason_decode(f.type, p, f.len, &d, &e), 0);
	cr_assert_eq(d.code, 4);
	cr_assert(tstr_eq(d.text, m.text));
	free(p);

	/* Code 0, a control character, a text over 255 bytes. */
	fwr_init(&w, buf, sizeof(buf));
	fwr_u16(&w, 0);
	fwr_str(&w, TSTR_LIT("x"));
	cr_assert_eq(msg_reason_decode(FRAME_GOODBYE, buf, (uint32_t)fwr_len(&w), &d, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "GOODBYE: code: 0 is not a reason");

	fwr_init(&w, buf, sizeof(buf));
	fwr_u16(&w, 1);
	fwr_str(&w, TSTR_LIT("bad\x1b[2Jtext"));
	cr_assert_eq(msg_reason_decode(FRAME_LOGIN_REFUSED, buf, (uint32_t)fwr_len(&w), &d, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "LOGIN_REFUSED: text: not printable ASCII");

	memset(text, 'x', 256);
	fwr_init(&w, buf, sizeof(buf));
	fwr_u16(&w, 1);
	fwr_str(&w, tstr_make(text, 256));
	cr_assert_eq(msg_reason_decode(FRAME_LOGIN_REFUSED, buf, (uint32_t)fwr_len(&w), &d, &e),
		     TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "LOGIN_REFUSED: text: longer than 255 bytes");

	/* The encoder refuses such a text too. */
	m.text = TSTR_LIT("a\nb");
	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_reason_encode(&w, FRAME_GOODBYE, &m), TDM_ENOSPACE);
}

Test(frame, heartbeat_round_trips)
{
	uint8_t buf[64];
	size_t n = encode_heartbeat(buf, sizeof(buf));
	struct frame f;
	uint8_t *p = payload_of(buf, n, &f);
	struct msg_heartbeat m;
	struct frame_err e;

	cr_assert_eq(msg_heartbeat_decode(p, f.len, &m, &e), 0);
	cr_assert_eq(m.role, LINK_ROLE_ACTIVE);
	cr_assert_eq(m.epoch, 7);
	cr_assert_eq(m.send_us, 1000001);
	cr_assert_eq(m.echo_us, 999);
	cr_assert_eq(m.hold_us, 250);
	p[0] = 9;
	cr_assert_eq(msg_heartbeat_decode(p, f.len, &m, &e), TDM_EMALFORMED);
	cr_assert_str_eq(e.text, "HEARTBEAT: role: 9 is not a role");
	free(p);
}

Test(frame, random_bytes_never_crash_a_decoder)
{
	unsigned seed = 12345;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 120);
		uint8_t tmp[120];
		uint8_t *p;
		struct frame f;
		struct frame_err e;
		struct msg_hello h;
		struct msg_proof pr;
		struct msg_reason r;
		struct msg_heartbeat hb;

		for (size_t j = 0; j < len; j++)
			tmp[j] = (uint8_t)rand_r(&seed);
		/* Make some of them look like frames, to get past the header. */
		if (len >= 2 && (i & 1)) {
			tmp[0] = FRAME_MAGIC;
			tmp[1] = FRAME_VERSION;
		}
		p = dup_exact(tmp, len);
		(void)frame_parse(p, len, FRAME_LOGIN_MAX_PAYLOAD, &f, &e);
		(void)msg_hello_decode(FRAME_HELLO, p, (uint32_t)len, &h, &e);
		(void)msg_proof_decode(FRAME_PROOF, p, (uint32_t)len, &pr, &e);
		(void)msg_reason_decode(FRAME_GOODBYE, p, (uint32_t)len, &r, &e);
		(void)msg_heartbeat_decode(p, (uint32_t)len, &hb, &e);
		free(p);
	}
}

/* ---- reader and writer ---------------------------------------------------------- */

Test(frame, reader_reads_big_endian_and_stops_at_the_end)
{
	static const uint8_t b[] = { 0xab, 0x01, 0x02, 0x01, 0x02, 0x03, 0x04,
				     1, 2, 3, 4, 5, 6, 7, 8, 0x99 };
	uint8_t *p = dup_exact(b, sizeof(b));
	struct frd r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	frd_init(&r, p, sizeof(b));
	cr_assert(frd_u8(&r, &u8));
	cr_assert_eq(u8, 0xab);
	cr_assert(frd_u16(&r, &u16));
	cr_assert_eq(u16, 0x0102);
	cr_assert(frd_u32(&r, &u32));
	cr_assert_eq(u32, 0x01020304);
	cr_assert(frd_u64(&r, &u64));
	cr_assert_eq(u64, 0x0102030405060708ULL);
	cr_assert_eq(frd_left(&r), 1);
	/* Too short for these: nothing consumed. */
	cr_assert_not(frd_u16(&r, &u16));
	cr_assert_not(frd_u32(&r, &u32));
	cr_assert_not(frd_u64(&r, &u64));
	cr_assert_eq(frd_left(&r), 1);
	cr_assert(frd_u8(&r, &u8));
	cr_assert_eq(u8, 0x99);
	cr_assert_not(frd_u8(&r, &u8));
	free(p);
}

Test(frame, reader_strings_and_blobs_respect_their_limits)
{
	uint8_t buf[64];
	struct fwr w;
	struct frd r;
	tstr s;
	const uint8_t *bp;
	uint32_t blen;
	bool too_long;

	fwr_init(&w, buf, sizeof(buf));
	fwr_str(&w, TSTR_LIT("hello"));
	fwr_blob(&w, "xyz", 3);
	frd_init(&r, buf, fwr_len(&w));
	cr_assert_not(frd_str(&r, 4, &s, &too_long));
	cr_assert(too_long);
	cr_assert_eq(frd_left(&r), fwr_len(&w), "a refused str consumes nothing");
	cr_assert(frd_str(&r, 5, &s, &too_long));
	cr_assert(tstr_eq(s, TSTR_LIT("hello")));
	cr_assert(frd_blob(&r, 3, &bp, &blen, &too_long));
	cr_assert_eq(blen, 3);
	cr_assert_eq(memcmp(bp, "xyz", 3), 0);

	/* A declared length beyond the bytes there: truncated, not too long. */
	frd_init(&r, buf, 4);
	cr_assert_not(frd_str(&r, 100, &s, &too_long));
	cr_assert_not(too_long);
	cr_assert_eq(frd_left(&r), 4);
}

Test(frame, writer_overflow_is_sticky_and_reported_at_the_end)
{
	uint8_t buf[FRAME_HEADER_LEN + 4];
	struct fwr w;
	size_t begin;

	fwr_init(&w, buf, sizeof(buf));
	begin = fwr_frame_begin(&w, 0x40);
	fwr_u32(&w, 0xdeadbeef);
	cr_assert_eq(fwr_frame_end(&w, begin), 0);
	cr_assert_eq(buf[7], 4);
	cr_assert_eq(buf[8], 0xde);

	fwr_init(&w, buf, sizeof(buf));
	begin = fwr_frame_begin(&w, 0x40);
	fwr_u64(&w, 1);          /* does not fit */
	fwr_u8(&w, 1);           /* would fit, but the overflow sticks */
	cr_assert(w.overflow);
	cr_assert_eq(fwr_len(&w), FRAME_HEADER_LEN);
	cr_assert_eq(fwr_frame_end(&w, begin), TDM_ENOSPACE);

	fwr_init(&w, buf, 4);
	cr_assert_eq(frame_encode(&w, 0x40, "ab", 2), TDM_ENOSPACE);
}

Test(frame, writer_refuses_a_str_longer_than_its_prefix)
{
	static char big[70000];
	static uint8_t buf[80000];
	struct fwr w;

	fwr_init(&w, buf, sizeof(buf));
	fwr_str(&w, tstr_make(big, sizeof(big)));
	cr_assert(w.overflow);
}

Test(frame, error_codes_have_texts)
{
	cr_assert_str_eq(frame_errcode_text(FRAME_ERR_MAGIC), "bad magic byte");
	cr_assert_str_eq(frame_errcode_text(FRAME_ERR_TRAILING), "bytes after the last field");
	cr_assert_str_eq(link_role_name(LINK_ROLE_STANDBY), "standby");
	cr_assert_str_eq(link_role_name(7), "unknown");
}
