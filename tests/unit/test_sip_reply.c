/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the stateless response builder (dataplane/sip_reply.c):
 * its shortcuts against its general paths (differential), byte for byte.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sip_parse.h"
#include "sip_reply.h"

static struct sip_msg msg;

/* The response head sip_reply_begin() writes for m, as a C string. */
static const char *head(const struct sip_msg *m, const union tdm_addr *src, char *out,
			size_t cap)
{
	struct wbuf w;

	wbuf_init(&w, out, cap - 1);
	sip_reply_begin(&w, m, 200, NULL, src, "0123456789abcdef");
	cr_assert(!w.overflow);
	*w.p = '\0';
	return out;
}

/* A REGISTER with this top Via value. */
static int parse_with_via(const char *via, char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
			 "REGISTER sip:example.com SIP/2.0\r\n"
			 "Via: %s\r\n"
			 "To: <sip:a@example.com>\r\n"
			 "From: <sip:a@example.com>;tag=1\r\n"
			 "Call-ID: c@h\r\n"
			 "CSeq: 1 REGISTER\r\n"
			 "Content-Length: 0\r\n\r\n", via);

	cr_assert(n > 0 && (size_t)n < cap);
	return sip_parse(&msg, buf, (uint32_t)n);
}

/* The top Via's parameters are copied without received and rport. The
 * parser says where those are when they all come last (kept_len); the
 * response must be the same as when it does not say (the scan of every
 * parameter), and as when the parameters are taken apart one by one (the
 * path for a Via that is not plain). */
Test(sip_reply, differential_via_parameters_are_copied_alike_by_every_path)
{
	static const char *const params[] = {
		"", ";branch=z9hG4bK1", ";branch=z9hG4bK1;rport", ";rport;branch=z9hG4bK1",
		";branch=z9hG4bK1;received=192.0.2.9", ";received=192.0.2.9;rport",
		";branch=z9hG4bK1;RPORT;x=1", ";branch=z9hG4bK1;rport=5060;received=h;ttl=3",
		";rportx;receivedy;branch=z9hG4bK1", ";maddr=h;rport", ";rport", ";a;b;rport;c",
		";branch=z9hG4bK1;received=192.0.2.9;rport;received=192.0.2.8",
	};
	static const char *const sent_by[] = {
		"SIP/2.0/UDP 192.0.2.10:5060", "SIP/2.0/UDP 192.0.2.10", "SIP/2.0/UDP host.example.com:5062",
	};
	union tdm_addr src;

	addr_parse("192.0.2.10:5060", 0, &src);
	for (unsigned s = 0; s < sizeof(sent_by) / sizeof(sent_by[0]); s++) {
		for (unsigned p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
			char via[256], buf[1024], want[2048], got[2048];

			snprintf(via, sizeof(via), "%s%s", sent_by[s], params[p]);
			cr_assert_eq(parse_with_via(via, buf, sizeof(buf)), 0, "%s", via);
			cr_assert(msg.via.plain, "%s", via);
			head(&msg, &src, got, sizeof(got));

			msg.via.kept_len = SIP_VIA_KEPT_SCATTERED;
			head(&msg, &src, want, sizeof(want));
			cr_expect_str_eq(got, want, "Via: %s", via);

			msg.via.plain = false;
			head(&msg, &src, want, sizeof(want));
			cr_expect_str_eq(got, want, "Via: %s", via);
		}
	}
}

/* ------------------------------------------------------------------ */
/* The To tag against SipHash-1-3 written from the paper. */

static uint64_t ref_le(const uint8_t *p, size_t n)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void ref_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

static uint64_t ref_siphash13(const uint8_t key[16], const uint8_t *m, size_t len)
{
	uint64_t k0 = ref_le(key, 8), k1 = ref_le(key + 8, 8);
	uint64_t v[4] = { k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
			  k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull };
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = ref_le(m + i, 8);

		v[3] ^= w;
		ref_round(v);
		v[0] ^= w;
	}
	uint64_t last = ref_le(m + i, len - i) | (uint64_t)(len & 0xff) << 56;
	v[3] ^= last;
	ref_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (int r = 0; r < 3; r++)
		ref_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

Test(sip_reply, to_tag_is_siphash13_of_call_id_and_from_tag_in_hex_lowest_nibble_first)
{
	static const uint8_t key[16] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6 };
	static const char *const call_ids[] = { "c@h", "a84b4c76e66710", "0123456789abcdef@x",
						"x" };
	static const char *const tags[] = { "1", "9fxced76sl", "", "0123456789abcdefg" };

	for (unsigned c = 0; c < 4; c++) {
		for (unsigned t = 0; t < 4; t++) {
			char buf[512], tag[SIP_TO_TAG_LEN], want[SIP_TO_TAG_LEN];
			uint8_t m[256] = { 0 };
			size_t n = strlen(call_ids[c]), padded = (n + 7) / 8 * 8;
			size_t tl = strlen(tags[t]);
			int len;

			len = snprintf(buf, sizeof(buf),
				       "REGISTER sip:example.com SIP/2.0\r\n"
				       "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
				       "To: <sip:a@example.com>\r\n"
				       "From: <sip:a@example.com>%s%s\r\n"
				       "Call-ID: %s\r\n"
				       "CSeq: 1 REGISTER\r\n"
				       "Content-Length: 0\r\n\r\n",
				       tl ? ";tag=" : "", tags[t], call_ids[c]);
			cr_assert_eq(sip_parse(&msg, buf, (uint32_t)len), 0);
			sip_reply_to_tag(key, &msg, tag);
			memcpy(m, call_ids[c], n);
			memcpy(m + padded, tags[t], tl);
			uint64_t h = ref_siphash13(key, m, padded + tl);
			for (int i = 0; i < SIP_TO_TAG_LEN; i++)
				want[i] = "0123456789abcdef"[(h >> (4 * i)) & 0xf];
			cr_assert_arr_eq(tag, want, SIP_TO_TAG_LEN, "call %u tag %u", c, t);
		}
	}
}

/* Call-ID and CSeq come out in that order, each once, whether they are
 * next to each other in the request (one copy) or not. */
Test(sip_reply, call_id_and_cseq_are_copied_alike_adjacent_or_not)
{
	static const char *const orders[] = {
		"Call-ID: c@h\r\nCSeq: 1 REGISTER\r\n",
		"Call-ID: c@h\r\nMax-Forwards: 70\r\nCSeq: 1 REGISTER\r\n",
		"CSeq: 1 REGISTER\r\nCall-ID: c@h\r\n",
		"i: c@h\r\nCSeq: 1 REGISTER\r\n",
	};
	static const char *const want[] = {
		"Call-ID: c@h\r\nCSeq: 1 REGISTER\r\nEND",
		"Call-ID: c@h\r\nCSeq: 1 REGISTER\r\nEND",
		"Call-ID: c@h\r\nCSeq: 1 REGISTER\r\nEND",
		"i: c@h\r\nCSeq: 1 REGISTER\r\nEND",
	};
	union tdm_addr src;

	cr_assert_eq(addr_parse("192.0.2.1", 5060, &src), 0);
	for (unsigned i = 0; i < 4; i++) {
		char buf[512], out[1024];
		int len = snprintf(buf, sizeof(buf),
				   "REGISTER sip:example.com SIP/2.0\r\n"
				   "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
				   "To: <sip:a@example.com>\r\n"
				   "From: <sip:a@example.com>;tag=1\r\n"
				   "%s"
				   "Content-Length: 0\r\n\r\n", orders[i]);
		const char *h, *p;

		cr_assert_eq(sip_parse(&msg, buf, (uint32_t)len), 0);
		h = head(&msg, &src, out, sizeof(out) - 3);
		strcat(out, "END");
		p = strstr(h, ";tag=0123456789abcdef\r\n");
		cr_assert_not_null(p, "%s", h);
		cr_assert_str_eq(p + strlen(";tag=0123456789abcdef\r\n"), want[i], "order %u", i);
	}
}

/* The worker's source text (formatted once per source, reused while the
 * source stays the same) gives the bytes formatting it afresh gives, as
 * the source changes in address, port and family, for a Via with rport
 * (received always), without (received only when the host differs), and
 * the received/rport values are the source's. */
Test(sip_reply, cached_source_text_writes_what_fresh_formatting_writes)
{
	static const char *const srcs[] = {
		"192.0.2.10:5060", "192.0.2.10:5060", "192.0.2.10:5061", "192.0.2.11:5061",
		"[::1]:5060", "[::1]:5060", "[2001:db8::1]:5060", "[2001:db8::1]:6000",
		"192.0.2.10:5060", "255.255.255.255:65535", "0.0.0.0:1", "10.0.0.1:9",
		"[2001:db8:1:2:3:4:5:6]:65535", "192.0.2.10:5060",
	};
	static const char *const vias[] = {
		"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport",
		"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1",
		"SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1",
		"SIP/2.0/UDP host.example.com;rport;branch=z9hG4bK1",
	};
	struct sip_src_text cache;

	sip_src_text_init(&cache);
	for (unsigned v = 0; v < sizeof(vias) / sizeof(vias[0]); v++) {
		for (unsigned i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
			char buf[1024], fresh[2048], cached[2048], ip[TDM_ADDR_STRLEN], want[128];
			union tdm_addr src;
			struct wbuf w;

			cr_assert_eq(addr_parse(srcs[i], 0, &src), 0, "%s", srcs[i]);
			cr_assert_eq(parse_with_via(vias[v], buf, sizeof(buf)), 0);
			head(&msg, &src, fresh, sizeof(fresh));

			wbuf_init(&w, cached, sizeof(cached) - 1);
			sip_reply_begin_src(&w, &msg, 200, NULL, sip_src_text_of(&cache, &src),
					    "0123456789abcdef");
			cr_assert(!w.overflow);
			*w.p = '\0';
			cr_expect_str_eq(cached, fresh, "Via %s from %s", vias[v], srcs[i]);

			addr_format_ip(&src, ip, sizeof(ip));
			snprintf(want, sizeof(want), ";received=%s;rport=%u\r\n", ip,
				 addr_port(&src));
			if (msg.via.rport)
				cr_expect_not_null(strstr(cached, want), "%s: %s", srcs[i], cached);
			/* Tight buffers take the checked copies: same bytes. */
			for (size_t cap = strlen(fresh) - 40; cap <= strlen(fresh) + 1; cap++) {
				char tight[2048];

				wbuf_init(&w, tight, cap);
				sip_reply_begin_src(&w, &msg, 200, NULL,
						    sip_src_text_of(&cache, &src), "0123456789abcdef");
				if (!w.overflow) {
					*w.p = '\0';
					cr_expect_str_eq(tight, fresh, "cap %zu", cap);
				} else {
					cr_expect(cap < strlen(fresh), "cap %zu overflowed", cap);
				}
			}
		}
	}
}

/* The head of the usual request is written in one go when the buffer has
 * room for the whole request and more (one check, no calls); a buffer
 * just large enough takes the general way. Both give the same bytes, for
 * requests that qualify and for every reason one does not: bare LF line
 * ends, two Vias, a Via not written our way, scattered parameters, To with
 * a tag, Call-ID and CSeq apart or reversed, compact names, another
 * via-parm in the top Via, no rport. */
Test(sip_reply, the_one_check_head_writes_what_the_general_way_writes)
{
	static const char *const reqs[] = {
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
		"Max-Forwards: 70\r\n"
		"To: \"User 1\" <sip:user1@example.com>\r\n"
		"From: \"User 1\" <sip:user1@example.com>;tag=1928301774\r\n"
		"Call-ID: bench-1-0@192.0.2.10\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Content-Length: 0\r\n\r\n",
		"REGISTER sip:example.com SIP/2.0\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\n"
		"To: <sip:user1@example.com>\n"
		"From: <sip:user1@example.com>;tag=1\n"
		"Call-ID: c@h\n"
		"CSeq: 1 REGISTER\n"
		"Content-Length: 0\n\n",
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
		"Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK2\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"To: <sip:a@example.com>\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Call-ID: c@h\r\n"
		"Content-Length: 0\r\n\r\n",
		"INVITE sip:a@example.com SIP/2.0\r\n"
		"v: SIP/2.0/UDP  host.example.com:05060 ;branch=z9hG4bK1 ;rport\r\n"
		"f: <sip:a@example.com>;tag=1\r\n"
		"t: <sip:b@example.com>;tag=2\r\n"
		"i: c@h\r\n"
		"CSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n",
		"OPTIONS sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10;rport;branch=z9hG4bK1;received=1.2.3.4;x=y\r\n"
		"To: <sip:a@example.com>\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"Call-ID: a-much-longer-call-id-0123456789abcdef0123456789abcdef@host.example.com\r\n"
		"Max-Forwards: 70\r\n"
		"CSeq: 1 OPTIONS\r\n"
		"Content-Length: 0\r\n\r\n",
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"
		"To: <sip:a@example.com>\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"Call-ID: c@h\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Content-Length: 0\r\n\r\n",
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.11:5062;branch=z9hG4bK1\r\n"
		"To: <sip:a@example.com>\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"Call-ID: c@h\r\n"
		"CSeq: 1 REGISTER\r\n\r\n",
	};
	static const unsigned codes[] = { 200, 401, 404, 481, 500, 999 };
	union tdm_addr src;

	cr_assert_eq(addr_parse("192.0.2.10:5060", 0, &src), 0);
	for (unsigned i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char buf[1024];
		size_t n = strlen(reqs[i]);

		memcpy(buf, reqs[i], n);
		if (sip_parse(&msg, buf, (uint32_t)n) != 0) {
			cr_assert_fail("request %u does not parse: %s", i, msg.error);
		}
		for (unsigned c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
			for (int t = 0; t < 2; t++) {
				const char *tag = t ? "0123456789abcdef" : NULL;
				char big[4096], tight[4096];
				struct sip_src_text st;
				struct wbuf w;
				size_t len;

				sip_src_text_init(&st);
				wbuf_init(&w, big, sizeof(big) - 1);
				sip_reply_begin_src(&w, &msg, codes[c], NULL,
						    sip_src_text_of(&st, &src), tag);
				cr_assert(!w.overflow);
				len = wbuf_len(&w);
				big[len] = '\0';
				/* Exactly the room needed: the general way. */
				wbuf_init(&w, tight, len);
				sip_reply_begin_src(&w, &msg, codes[c], NULL, &st, tag);
				cr_assert(!w.overflow, "request %u code %u", i, codes[c]);
				tight[len] = '\0';
				cr_expect_str_eq(big, tight, "request %u code %u tag %d", i,
						 codes[c], t);
			}
		}
	}
}
