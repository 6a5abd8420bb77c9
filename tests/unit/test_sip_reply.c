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
