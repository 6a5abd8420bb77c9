/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SIP message parser (dataplane/sip_parse.c): every
 * RFC 4475 torture message, hand-written edge cases, limits, every
 * truncation of a valid message, and a guard-page out-of-bounds test in the
 * style of OpenSIPS parser/test/test_oob.c.
 *
 * Messages are copied into buffers of their exact size (never
 * NUL-terminated) so that AddressSanitizer catches any read past the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "sip_chars.h"
#include "sip_parse.h"

#ifndef TESTDATA_DIR
#error "TESTDATA_DIR must be defined (tests/meson.build does)"
#endif

static struct sip_msg msg;

/* Buffers handed out by the helpers, freed after each test. */
static char *bufs[64];
static unsigned nbufs;

static void free_bufs(void)
{
	while (nbufs)
		free(bufs[--nbufs]);
}

TestSuite(sip_parse, .fini = free_bufs);

/* A copy of n bytes in a buffer of exactly n bytes. */
static const char *exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	cr_assert_not_null(b);
	cr_assert_lt(nbufs, sizeof(bufs) / sizeof(bufs[0]));
	memcpy(b, s, n);
	bufs[nbufs++] = b;
	return b;
}

static int parse_n(const char *s, size_t n)
{
	return sip_parse(&msg, exact(s, n), (uint32_t)n);
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* An RFC 4475 message, read as binary into an exact-size buffer. */
static const char *load(const char *name, uint32_t *len)
{
	char path[512];
	FILE *f;
	long n;
	char *b;

	snprintf(path, sizeof(path), "%s/rfc4475/%s", TESTDATA_DIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	b = malloc((size_t)n);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	cr_assert_lt(nbufs, sizeof(bufs) / sizeof(bufs[0]));
	bufs[nbufs++] = b;
	*len = (uint32_t)n;
	return b;
}

static int parse_file(const char *name)
{
	uint32_t n;
	const char *b = load(name, &n);

	return sip_parse(&msg, b, n);
}

static bool teq(tstr t, const char *lit)
{
	return t.len == strlen(lit) && memcmp(t.s, lit, t.len) == 0;
}

#define assert_tstr(t, lit)                                                    \
	cr_assert(teq((t), (lit)), "%s is \"%.*s\", expected \"%s\"", #t,      \
		  TSTR_FMT(t), (lit))

#define REG_START "REGISTER sip:example.com SIP/2.0\r\n"
#define REG_CORE                                                               \
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"   \
	"Max-Forwards: 70\r\n"                                                 \
	"To: \"Alice\" <sip:alice@example.com>\r\n"                            \
	"From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"           \
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"                         \
	"CSeq: 314159 REGISTER\r\n"

/* The typical REGISTER of the brief. */
static const char reg_typical[] =
	REG_START REG_CORE
	"Contact: <sip:alice@192.0.2.10:5060>;expires=3600\r\n"
	"User-Agent: Phone/1.0\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

/* REGISTER with the core fields and `extra` header lines. */
static int parse_reg(const char *extra)
{
	static char b[16384];
	int n = snprintf(b, sizeof(b), REG_START REG_CORE "%sContent-Length: 0\r\n\r\n",
			 extra);

	cr_assert(n > 0 && (size_t)n < sizeof(b));
	return parse_n(b, (size_t)n);
}

/* ------------------------------------------------------------------ */
/* RFC 4475: the class of every message. */

struct torture {
	const char *file;
	int parse;           /* expected sip_parse() result */
	const char *error;   /* expected m->error when refused */
	bool via_ok;         /* a 400 can be routed */
	int contacts;        /* expected sip_parse_contacts() result */
};

/*
 * Where RFC 4475 lets a parser be liberal, the choice made is noted:
 * badaspec (spaces inside <>), lwsruri, lwsstart and trws are refused;
 * escruri (headers in the Request-URI) and baddate (Date is not read) are
 * accepted; badvers parses (the caller answers 505).
 */
static const struct torture torture[] = {
	{ "wsinv.dat", 0, NULL, true, 0 },
	{ "intmeth.dat", 0, NULL, true, 0 },
	{ "esc01.dat", 0, NULL, true, 0 },
	{ "escnull.dat", 0, NULL, true, 0 },
	{ "esc02.dat", 0, NULL, true, 0 },
	{ "lwsdisp.dat", 0, NULL, true, 0 },
	{ "longreq.dat", 0, NULL, true, 0 },
	{ "dblreq.dat", 0, NULL, true, 0 },
	{ "semiuri.dat", 0, NULL, true, 0 },
	{ "transports.dat", 0, NULL, true, 0 },
	{ "mpart01.dat", 0, NULL, true, 0 },
	{ "unreason.dat", 0, NULL, true, 0 },
	{ "noreason.dat", 0, NULL, true, 0 },
	{ "badinv01.dat", TDM_EMALFORMED, "Malformed Via", false, TDM_EMALFORMED },
	{ "clerr.dat", TDM_EMALFORMED, "Bad Content-Length", true, 0 },
	{ "ncl.dat", TDM_EMALFORMED, "Bad Content-Length", true, 0 },
	{ "scalar02.dat", TDM_EMALFORMED, "CSeq out of range", true, 0 },
	{ "scalarlg.dat", TDM_EMALFORMED, "CSeq out of range", true, 0 },
	{ "quotbal.dat", TDM_EMALFORMED, "Malformed To header", true, 0 },
	{ "ltgtruri.dat", TDM_EMALFORMED, "Malformed Request-URI", true, 0 },
	{ "lwsruri.dat", TDM_EMALFORMED, "Malformed Request-Line", true, 0 },
	{ "lwsstart.dat", TDM_EMALFORMED, "Malformed Request-Line", true, 0 },
	{ "trws.dat", TDM_EMALFORMED, "Malformed Request-Line", true, 0 },
	{ "escruri.dat", 0, NULL, true, 0 },
	{ "baddate.dat", 0, NULL, true, 0 },
	{ "regbadct.dat", 0, NULL, true, TDM_EMALFORMED },
	{ "badaspec.dat", TDM_EMALFORMED, "Malformed To header", true, 0 },
	{ "baddn.dat", TDM_EMALFORMED, "Malformed From header", true, 0 },
	{ "badvers.dat", 0, NULL, true, 0 },
	{ "mismatch01.dat", TDM_EMALFORMED, "CSeq method does not match", true, 0 },
	{ "mismatch02.dat", TDM_EMALFORMED, "CSeq method does not match", true, 0 },
	{ "bigcode.dat", TDM_EMALFORMED, "Bad status code", true, 0 },
	{ "badbranch.dat", 0, NULL, true, 0 },
	{ "insuf.dat", TDM_EMALFORMED, "Missing From header", true, 0 },
	{ "unkscm.dat", 0, NULL, true, 0 },
	{ "novelsc.dat", 0, NULL, true, 0 },
	{ "unksm2.dat", 0, NULL, true, 0 },
	{ "bext01.dat", 0, NULL, true, 0 },
	{ "invut.dat", 0, NULL, true, 0 },
	{ "regaut01.dat", 0, NULL, true, 0 },
	{ "multi01.dat", TDM_EMALFORMED, "Duplicate CSeq header", true, 0 },
	{ "mcl01.dat", TDM_EMALFORMED, "Conflicting Content-Length values", true, 0 },
	{ "bcast.dat", 0, NULL, true, 0 },
	{ "zeromf.dat", 0, NULL, true, 0 },
	{ "cparam01.dat", 0, NULL, true, 0 },
	{ "cparam02.dat", 0, NULL, true, 0 },
	{ "regescrt.dat", 0, NULL, true, 0 },
	{ "sdp01.dat", 0, NULL, true, 0 },
	{ "inv2543.dat", 0, NULL, true, 0 },
	{ "test.dat", TDM_EMALFORMED, "Malformed Request-Line", false, 0 },
};

Test(sip_parse, rfc4475_every_message_gets_the_outcome_of_its_class)
{
	cr_assert_eq(sizeof(torture) / sizeof(torture[0]), 50);
	for (unsigned i = 0; i < sizeof(torture) / sizeof(torture[0]); i++) {
		const struct torture *t = &torture[i];
		int r = parse_file(t->file);

		cr_expect_eq(r, t->parse, "%s: sip_parse %d (%s), expected %d", t->file, r,
			     msg.error ? msg.error : "no error", t->parse);
		if (t->error)
			cr_expect(msg.error && strcmp(msg.error, t->error) == 0,
				  "%s: error \"%s\", expected \"%s\"", t->file,
				  msg.error ? msg.error : "(none)", t->error);
		else
			cr_expect_null(msg.error, "%s: unexpected error %s", t->file, msg.error);
		cr_expect_eq(msg.via_ok, t->via_ok, "%s: via_ok %d", t->file, msg.via_ok);
		r = sip_parse_contacts(&msg);
		cr_expect_eq(r, t->contacts, "%s: sip_parse_contacts %d", t->file, r);
	}
}

Test(sip_parse, rfc4475_escnull_registers_two_contacts_with_escaped_nuls_kept)
{
	cr_assert_eq(parse_file("escnull.dat"), 0);
	cr_assert_eq(msg.method, SIP_REGISTER);
	assert_tstr(msg.to.uri, "sip:null-%00-null@example.com");
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 2);
	assert_tstr(msg.contacts[0].na.uri, "sip:%00@host5.example.com");
	assert_tstr(msg.contacts[1].na.uri, "sip:%00%00@host5.example.com");
	cr_assert_eq(msg.contacts[0].expires, SIP_ABSENT);
	cr_assert_eq(msg.expires, SIP_ABSENT);
}

Test(sip_parse, rfc4475_dblreq_is_one_register_with_an_empty_body)
{
	cr_assert_eq(parse_file("dblreq.dat"), 0);
	cr_assert_eq(msg.method, SIP_REGISTER);
	cr_assert_eq(msg.body.len, 0);
	assert_tstr(msg.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
	cr_assert_eq(msg.cseq, 8);
	/* The INVITE after the body is noise: none of its fields is read. */
	cr_assert_eq(msg.hdr_count[SIP_HDR_TO], 1);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CSEQ], 1);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	assert_tstr(msg.contacts[0].na.uri, "sip:j.user@host.example.com");
}

Test(sip_parse, rfc4475_cparam01_addr_spec_parameter_is_a_header_parameter)
{
	struct sip_uri u;
	tstr v;

	cr_assert_eq(parse_file("cparam01.dat"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	cr_assert_not(msg.contacts[0].na.bracketed);
	assert_tstr(msg.contacts[0].na.uri, "sip:+19725552222@gw1.example.net");
	assert_tstr(msg.contacts[0].na.params, ";unknownparam");
	cr_assert_eq(sip_uri_parse(msg.contacts[0].na.uri, &u), 0);
	cr_assert_eq(u.params.len, 0);
	cr_assert_not(sip_param_find(u.params, "unknownparam", &v));
}

Test(sip_parse, rfc4475_cparam02_bracketed_parameter_is_a_uri_parameter)
{
	struct sip_uri u;
	tstr v;

	cr_assert_eq(parse_file("cparam02.dat"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	cr_assert(msg.contacts[0].na.bracketed);
	assert_tstr(msg.contacts[0].na.uri, "sip:+19725552222@gw1.example.net;unknownparam");
	cr_assert_eq(msg.contacts[0].na.params.len, 0);
	cr_assert_eq(sip_uri_parse(msg.contacts[0].na.uri, &u), 0);
	cr_assert(sip_param_find(u.params, "unknownparam", &v));
	cr_assert_eq(v.len, 0);
}

Test(sip_parse, rfc4475_regescrt_keeps_the_escaped_route_header_in_the_uri)
{
	struct sip_uri u;

	cr_assert_eq(parse_file("regescrt.dat"), 0);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTACT], 1);        /* "M:" */
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTENT_LENGTH], 1); /* "L:0" */
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	assert_tstr(msg.contacts[0].na.uri,
		    "sip:user@example.com?Route=%3Csip:sip.example.com%3E");
	cr_assert_eq(sip_uri_parse(msg.contacts[0].na.uri, &u), 0);
	assert_tstr(u.headers, "Route=%3Csip:sip.example.com%3E");
}

Test(sip_parse, rfc4475_regbadct_unbracketed_uri_with_headers_is_refused)
{
	cr_assert_eq(parse_file("regbadct.dat"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Contact");
	cr_assert_eq(msg.ncontacts, 0);
}

Test(sip_parse, rfc4475_esc02_method_is_unknown_not_register)
{
	cr_assert_eq(parse_file("esc02.dat"), 0);
	cr_assert_eq(msg.method, SIP_METHOD_UNKNOWN);
	assert_tstr(msg.method_name, "RE%47IST%45R");
	cr_assert_eq(msg.cseq_method, SIP_METHOD_UNKNOWN);
	assert_tstr(msg.from.display, "\"%Z%45\"");
	/* C%6Fntact is an unknown header, not a Contact. */
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 2);
	assert_tstr(msg.contacts[0].na.uri, "sip:alias1@host1.example.com");
	assert_tstr(msg.contacts[1].na.uri, "sip:alias3@host3.example.com");
}

Test(sip_parse, rfc4475_mpart01_body_is_553_bytes_with_nuls)
{
	uint32_t n;
	const char *b = load("mpart01.dat", &n);

	cr_assert_eq(sip_parse(&msg, b, n), 0);
	cr_assert_eq(msg.method, SIP_MESSAGE);
	cr_assert_eq(msg.body.len, 553);
	cr_assert_eq(msg.body.s + msg.body.len, b + n);
	cr_assert_not_null(memchr(msg.body.s, '\0', msg.body.len));
}

Test(sip_parse, rfc4475_wsinv_folded_and_escaped_fields_decode)
{
	const struct sip_header *h;
	struct sip_via via;
	uint32_t pos = 0;
	tstr v;

	cr_assert_eq(parse_file("wsinv.dat"), 0);
	cr_assert_eq(msg.method, SIP_INVITE);
	assert_tstr(msg.to.uri, "sip:vivekg@chair-dnrc.example.com");
	assert_tstr(msg.to.tag, "1918181833n");
	assert_tstr(msg.from.display, "\"J Rosenberg \\\\\\\"\"");
	assert_tstr(msg.from.uri, "sip:jdrosen@example.com");
	assert_tstr(msg.from.tag, "98asjd8");
	assert_tstr(msg.call_id, "wsinv.ndaksdj@192.0.2.1");
	cr_assert_eq(msg.cseq, 9);
	cr_assert_eq(msg.cseq_method, SIP_INVITE);
	assert_tstr(msg.cseq_method_name, "INVITE");
	cr_assert_eq(msg.max_forwards, 68);
	cr_assert_eq(msg.body.len, 150);

	/* The top Via is folded over three lines with LWS around '/'. */
	assert_tstr(msg.via.transport, "UDP");
	assert_tstr(msg.via.host, "192.0.2.2");
	assert_tstr(msg.via.branch, "390skdjuw");
	cr_assert_eq(msg.via.port, 0);

	/* The second Via field holds two via-parms. */
	h = sip_header_next(&msg, sip_header_first(&msg, SIP_HDR_VIA));
	cr_assert_not_null(h);
	assert_tstr(h->name, "v");
	cr_assert(sip_list_next(h->value, &pos, &v));
	cr_assert_eq(sip_parse_via(v, &via), 0);
	assert_tstr(via.transport, "TCP");
	assert_tstr(via.host, "spindle.example.com");
	assert_tstr(via.branch, "z9hG4bK9ikj8");
	cr_assert(sip_list_next(h->value, &pos, &v));
	cr_assert_eq(sip_parse_via(v, &via), 0);
	assert_tstr(via.transport, "UDP");
	assert_tstr(via.host, "192.168.255.111");
	assert_tstr(via.branch, "z9hG4bK30239");
	cr_assert_not(sip_list_next(h->value, &pos, &v));

	/* Unknown folded header keeps its fold inside the value. */
	h = &msg.hdrs[0];
	for (unsigned i = 0; i < msg.nhdrs; i++)
		if (teq(msg.hdrs[i].name, "NewFangledHeader"))
			h = &msg.hdrs[i];
	cr_assert_eq(h->id, SIP_HDR_OTHER);
	assert_tstr(h->value, "newfangled value\r\n continued newfangled value");

	/* "s :" with an empty value is a Subject. */
	h = sip_header_first(&msg, SIP_HDR_SUBJECT);
	cr_assert_not_null(h);
	cr_assert_eq(h->value.len, 0);

	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	assert_tstr(msg.contacts[0].na.display, "\"Quoted string \\\"\\\"\"");
	assert_tstr(msg.contacts[0].na.uri, "sip:jdrosen@example.com");
	cr_assert_eq(msg.contacts[0].q, 330);
	cr_assert(sip_param_find(msg.contacts[0].na.params, "newparam", &v));
	assert_tstr(v, "newvalue");
	cr_assert(sip_param_find(msg.contacts[0].na.params, "secondparam", &v));
	cr_assert_eq(v.len, 0);
}

Test(sip_parse, rfc4475_intmeth_odd_method_and_nul_in_quoted_string_parse)
{
	const struct sip_header *h;

	cr_assert_eq(parse_file("intmeth.dat"), 0);
	cr_assert_eq(msg.method, SIP_METHOD_UNKNOWN);
	assert_tstr(msg.method_name, "!interesting-Method0123456789_*+`.%indeed'~");
	cr_assert(tstr_eq(msg.cseq_method_name, msg.method_name));
	cr_assert_eq(msg.cseq, 139122385);
	cr_assert_eq(msg.max_forwards, 255);
	/* The To display name holds escaped BEL, NUL and DEL. */
	cr_assert_eq(msg.to.display.len, 22);
	cr_assert_not_null(memchr(msg.to.display.s, '\0', msg.to.display.len));
	assert_tstr(msg.to.uri, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
	assert_tstr(msg.from.display, "token1~` token2'+_ token3*%!.-");
	assert_tstr(msg.from.tag, "_token~1'+`*%!-.");
	assert_tstr(msg.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
	assert_tstr(msg.via.branch, "z9hG4bK-.!%66*_+`'~");
	h = sip_header_first(&msg, SIP_HDR_OTHER);
	cr_assert_not_null(h);
	assert_tstr(h->name, "extensionHeader-!.%*+_`'~");
}

Test(sip_parse, rfc4475_multi01_duplicate_single_fields_are_refused)
{
	cr_assert_eq(parse_file("multi01.dat"), TDM_EMALFORMED);
	/* The first values are still decoded, for the 400. */
	assert_tstr(msg.call_id, "multi01.98asdh@192.0.2.1");
	cr_assert_eq(msg.cseq, 5);
	assert_tstr(msg.to.uri, "sip:user@example.com");
	assert_tstr(msg.from.tag, "3413415");
}

Test(sip_parse, rfc4475_mcl01_conflicting_content_lengths_are_refused)
{
	cr_assert_eq(parse_file("mcl01.dat"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Conflicting Content-Length values");
}

Test(sip_parse, rfc4475_mismatch01_cseq_method_mismatch_is_refused)
{
	cr_assert_eq(parse_file("mismatch01.dat"), TDM_EMALFORMED);
	cr_assert_eq(msg.method, SIP_OPTIONS);
	cr_assert_eq(msg.cseq_method, SIP_INVITE);
	cr_assert_str_eq(msg.error, "CSeq method does not match");
}

Test(sip_parse, rfc4475_unksm2_parses_with_non_sip_uris)
{
	cr_assert_eq(parse_file("unksm2.dat"), 0);
	cr_assert_eq(msg.method, SIP_REGISTER);
	assert_tstr(msg.to.uri, "isbn:2983792873");
	assert_tstr(msg.from.uri, "http://www.example.com");
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	assert_tstr(msg.contacts[0].na.uri, "name:John_Smith");
}

Test(sip_parse, rfc4475_bigcode_status_code_is_refused_without_overflow)
{
	cr_assert_eq(parse_file("bigcode.dat"), TDM_EMALFORMED);
	cr_assert_not(msg.is_request);
	cr_assert_eq(msg.status, 0);
	cr_assert_str_eq(msg.error, "Bad status code");
}

Test(sip_parse, rfc4475_responses_with_empty_and_utf8_reasons_parse)
{
	cr_assert_eq(parse_file("noreason.dat"), 0);
	cr_assert_not(msg.is_request);
	cr_assert_eq(msg.status, 100);
	cr_assert_eq(msg.reason.len, 0);
	cr_assert_eq(parse_file("unreason.dat"), 0);
	cr_assert_eq(msg.status, 200);
	cr_assert_gt(msg.reason.len, 20);
	cr_assert_eq(msg.cseq_method, SIP_INVITE);
}

Test(sip_parse, rfc4475_scalar02_large_expires_saturate_and_cseq_is_refused)
{
	cr_assert_eq(parse_file("scalar02.dat"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "CSeq out of range");
	cr_assert_eq(msg.expires, 4294967295LL);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.contacts[0].expires, 4294967295LL);
}

Test(sip_parse, rfc4475_longreq_long_values_and_many_vias_parse)
{
	cr_assert_eq(parse_file("longreq.dat"), 0);
	cr_assert_gt(msg.hdr_count[SIP_HDR_VIA], 30);
	assert_tstr(msg.via.host, "sip33.example.com");
	cr_assert_gt(msg.to.display.len, 90);
	cr_assert_gt(msg.call_id.len, 100);
}

Test(sip_parse, rfc4475_transports_top_via_is_the_first_field)
{
	cr_assert_eq(parse_file("transports.dat"), 0);
	cr_assert_eq(msg.hdr_count[SIP_HDR_VIA], 5);
	assert_tstr(msg.via.transport, "UDP");
	assert_tstr(msg.via.host, "t1.example.com");
}

Test(sip_parse, rfc4475_inv2543_body_without_content_length_is_the_rest)
{
	uint32_t n;
	const char *b = load("inv2543.dat", &n);

	cr_assert_eq(sip_parse(&msg, b, n), 0);
	cr_assert_eq(msg.max_forwards, SIP_ABSENT);
	cr_assert_eq(msg.via.branch.len, 0);
	cr_assert_eq(msg.from.tag.len, 0);
	cr_assert_eq(msg.body.s + msg.body.len, b + n);
	cr_assert_gt(msg.body.len, 0);
}

Test(sip_parse, rfc4475_regaut01_unknown_authorization_scheme_is_not_found)
{
	struct sip_digest_cred c;
	const struct sip_header *h;

	cr_assert_eq(parse_file("regaut01.dat"), 0);
	h = sip_header_first(&msg, SIP_HDR_AUTHORIZATION);
	cr_assert_not_null(h);
	cr_assert_eq(sip_parse_digest_cred(h->value, &c), TDM_ENOTFOUND);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 0);
}

Test(sip_parse, rfc4475_badvers_version_is_returned_for_a_505)
{
	cr_assert_eq(parse_file("badvers.dat"), 0);
	assert_tstr(msg.version, "SIP/7.0");
}

Test(sip_parse, rfc4475_zeromf_max_forwards_zero_is_valid)
{
	cr_assert_eq(parse_file("zeromf.dat"), 0);
	cr_assert_eq(msg.max_forwards, 0);
}

/* ------------------------------------------------------------------ */
/* The typical REGISTER. */

Test(sip_parse, typical_register_decodes_every_field)
{
	const struct sip_header *h;

	cr_assert_eq(parse(reg_typical), 0);
	cr_assert(msg.is_request);
	cr_assert_eq(msg.method, SIP_REGISTER);
	assert_tstr(msg.ruri, "sip:example.com");
	assert_tstr(msg.version, "SIP/2.0");
	cr_assert(msg.via_ok);
	assert_tstr(msg.via.value, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport");
	assert_tstr(msg.via.protocol, "SIP/2.0/UDP");
	assert_tstr(msg.via.transport, "UDP");
	assert_tstr(msg.via.host, "192.0.2.10");
	cr_assert_eq(msg.via.port, 5060);
	assert_tstr(msg.via.params, ";branch=z9hG4bK776asdhds;rport");
	assert_tstr(msg.via.branch, "z9hG4bK776asdhds");
	cr_assert(msg.via.rport);
	cr_assert_eq(msg.via.received.len, 0);
	assert_tstr(msg.to.display, "\"Alice\"");
	assert_tstr(msg.to.uri, "sip:alice@example.com");
	cr_assert(msg.to.bracketed);
	cr_assert_eq(msg.to.tag.len, 0);
	assert_tstr(msg.from.tag, "1928301774");
	assert_tstr(msg.from.params, ";tag=1928301774");
	assert_tstr(msg.call_id, "a84b4c76e66710@pc33.example.com");
	cr_assert_eq(msg.cseq, 314159);
	cr_assert_eq(msg.cseq_method, SIP_REGISTER);
	cr_assert_eq(msg.max_forwards, 70);
	cr_assert_eq(msg.expires, SIP_ABSENT);
	cr_assert_eq(msg.body.len, 0);
	cr_assert_eq(msg.nhdrs, 9);
	h = sip_header_first(&msg, SIP_HDR_USER_AGENT);
	cr_assert_not_null(h);
	assert_tstr(h->value, "Phone/1.0");
	assert_tstr(h->line, "User-Agent: Phone/1.0");
	cr_assert_null(msg.error);

	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	cr_assert_not(msg.contact_star);
	assert_tstr(msg.contacts[0].na.uri, "sip:alice@192.0.2.10:5060");
	cr_assert_eq(msg.contacts[0].expires, 3600);
	cr_assert_eq(msg.contacts[0].q, SIP_Q_ABSENT);
	cr_assert_eq(msg.contacts[0].reg_id, SIP_ABSENT);
	cr_assert_eq(msg.contacts[0].instance.len, 0);
}

/* The line end of a field is found wherever it falls against the 16-
 * and 32-byte blocks the search reads: every value length from 0 to 80,
 * with CRLF and bare LF, and a fold at each length too. */
Test(sip_parse, line_ends_are_found_at_every_offset_from_the_field_start)
{
	char val[96], b[1024];

	for (unsigned len = 0; len <= 80; len++) {
		memset(val, 'x', len);
		val[len] = '\0';
		for (int lf = 0; lf < 2; lf++) {
			const char *eol = lf ? "\n" : "\r\n";
			int n = snprintf(b, sizeof(b),
					 REG_START REG_CORE "Subject: %s%sX-F: %s%s a%sContent-Length: 0%s%s",
					 val, eol, val, eol, eol, eol, eol);
			cr_assert_eq(parse_n(b, (size_t)n), 0, "len %u lf %d: %s", len, lf, msg.error);
			const struct sip_header *h = sip_header_first(&msg, SIP_HDR_SUBJECT);
			cr_assert_not_null(h);
			cr_assert_eq(h->value.len, len, "len %u lf %d", len, lf);
			h = &msg.hdrs[h - msg.hdrs + 1];
			cr_assert(teq(h->name, "X-F"), "len %u lf %d", len, lf);
			cr_assert_eq(h->value.s + h->value.len, h->line.s + h->line.len);
			cr_assert_eq(h->value.s[h->value.len - 1], 'a', "len %u lf %d", len, lf);
			cr_assert_eq(msg.hdr_count[SIP_HDR_CONTENT_LENGTH], 1);
			free_bufs();
		}
	}
}

Test(sip_parse, bare_lf_line_ends_parse_like_crlf)
{
	char lf[sizeof(reg_typical)];
	size_t n = 0;

	for (const char *p = reg_typical; *p; p++)
		if (*p != '\r')
			lf[n++] = *p;
	cr_assert_eq(parse_n(lf, n), 0);
	assert_tstr(msg.call_id, "a84b4c76e66710@pc33.example.com");
	assert_tstr(msg.via.branch, "z9hG4bK776asdhds");
	assert_tstr(msg.from.tag, "1928301774");
	cr_assert_eq(msg.nhdrs, 9);
	assert_tstr(msg.hdrs[8].line, "Content-Length: 0");
}

Test(sip_parse, leading_crlfs_before_the_start_line_are_skipped)
{
	static const char m[] = "\r\n\r\n\n" REG_START REG_CORE "\r\n";

	cr_assert_eq(parse(m), 0);
	cr_assert_eq(msg.method, SIP_REGISTER);
}

Test(sip_parse, whitespace_only_datagram_is_a_keepalive)
{
	cr_assert_eq(parse(""), TDM_ETRUNCATED);
	cr_assert_eq(parse("\r\n\r\n"), TDM_ETRUNCATED);
	cr_assert_eq(parse("\n"), TDM_ETRUNCATED);
	cr_assert_eq(parse("\r\n \t\r\n"), TDM_ETRUNCATED);
	cr_assert_eq(parse("\r\nx"), TDM_EMALFORMED);
}

Test(sip_parse, compact_header_forms_are_recognised)
{
	static const char m[] =
		"REGISTER sip:example.com SIP/2.0\r\n"
		"v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
		"f: <sip:a@example.com>;tag=1\r\n"
		"T: <sip:a@example.com>\r\n"
		"i: abc@h\r\n"
		"m: <sip:a@192.0.2.1>\r\n"
		"k: path\r\n"
		"c: text/plain\r\n"
		"e: gzip\r\n"
		"s: hi\r\n"
		"o: reg\r\n"
		"u: reg\r\n"
		"r: <sip:x@y>\r\n"
		"b: <sip:x@y>\r\n"
		"x: 1800\r\n"
		"CSeq: 1 REGISTER\r\n"
		"l: 4\r\n"
		"\r\n"
		"body";

	cr_assert_eq(parse(m), 0);
	assert_tstr(msg.call_id, "abc@h");
	assert_tstr(msg.from.tag, "1");
	assert_tstr(msg.body, "body");
	for (enum sip_hdr id = SIP_HDR_VIA; id < SIP_HDR_COUNT; id++) {
		bool compact = id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO ||
			       id == SIP_HDR_CALL_ID || id == SIP_HDR_CONTACT ||
			       id == SIP_HDR_SUPPORTED || id == SIP_HDR_CONTENT_TYPE ||
			       id == SIP_HDR_CONTENT_ENCODING || id == SIP_HDR_SUBJECT ||
			       id == SIP_HDR_EVENT || id == SIP_HDR_ALLOW_EVENTS ||
			       id == SIP_HDR_REFER_TO || id == SIP_HDR_REFERRED_BY ||
			       id == SIP_HDR_SESSION_EXPIRES || id == SIP_HDR_CONTENT_LENGTH;
		if (compact)
			cr_expect_eq(msg.hdr_count[id], 1, "%s", sip_header_name(id));
	}
}

/* Names that share a prefix or first letters with a usual one are not
 * taken for it, and a usual name in another case is still found (by the
 * general lookup rather than the exact-spelling fast path). */
Test(sip_parse, header_names_sharing_a_prefix_are_told_apart)
{
	cr_assert_eq(parse_reg("Call-Info: <http://x>\r\nCSeqX: 2\r\nContacts: <sip:x@y>\r\n"
			       "Content-Lengths: 5\r\nContent-Type: text/plain\r\nCon: 1\r\n"
			       "CONTACT: <sip:z@w>\r\ncontent-length: 0\r\nCo: 1\r\n"),
		     0);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CALL_ID], 1);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CSEQ], 1);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTACT], 1);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTENT_TYPE], 1);
	/* content-length here and Content-Length: 0 that parse_reg() adds. */
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTENT_LENGTH], 2);
	cr_assert_eq(msg.hdr_count[SIP_HDR_OTHER], 6);
	assert_tstr(sip_header_first(&msg, SIP_HDR_CONTACT)->value, "<sip:z@w>");
	assert_tstr(msg.call_id, "a84b4c76e66710@pc33.example.com");
	cr_assert_eq(msg.cseq, 314159);
}

Test(sip_parse, header_name_table_round_trips_full_and_compact_names)
{
	static const struct {
		enum sip_hdr id;
		char compact;
	} compact[] = {
#define SIP_HDR_COMPACT(id, name, c) { id, c },
		SIP_HEADERS(SIP_HDR_COMPACT)
#undef SIP_HDR_COMPACT
	};

	for (unsigned i = 0; i < sizeof(compact) / sizeof(compact[0]); i++) {
		enum sip_hdr id = compact[i].id;
		const char *name = sip_header_name(id);
		char up[64], c[1];
		size_t n = strlen(name);

		cr_assert_lt(n, sizeof(up));
		cr_expect_eq(sip_header_lookup(tstr_cstr(name)), id, "%s", name);
		for (size_t k = 0; k < n; k++)
			up[k] = (char)((name[k] >= 'a' && name[k] <= 'z') ? name[k] - 32 : name[k]);
		cr_expect_eq(sip_header_lookup(tstr_make(up, n)), id, "%.*s", (int)n, up);
		if (compact[i].compact) {
			c[0] = compact[i].compact;
			cr_expect_eq(sip_header_lookup(tstr_make(c, 1)), id, "%c", c[0]);
			c[0] = (char)(c[0] - 32);
			cr_expect_eq(sip_header_lookup(tstr_make(c, 1)), id, "%c", c[0]);
		}
	}
	cr_assert_eq(sip_header_lookup(TSTR_LIT("Contacts")), SIP_HDR_OTHER);
	cr_assert_eq(sip_header_lookup(TSTR_LIT("a")), SIP_HDR_OTHER);
	cr_assert_eq(sip_header_lookup(TSTR_LIT("Call\rID")), SIP_HDR_OTHER);
	cr_assert_null(sip_header_name(SIP_HDR_OTHER));
	cr_assert_null(sip_header_name(SIP_HDR_COUNT));
}

Test(sip_parse, method_table_round_trips_and_methods_are_case_sensitive)
{
	for (enum sip_method m = SIP_INVITE; m < SIP_METHOD_COUNT; m++)
		cr_expect_eq(sip_method_from_name(tstr_cstr(sip_method_name(m))), m);
	cr_assert_eq(sip_method_from_name(TSTR_LIT("register")), SIP_METHOD_UNKNOWN);
	cr_assert_eq(sip_method_from_name(TSTR_LIT("REGISTERX")), SIP_METHOD_UNKNOWN);
	cr_assert_null(sip_method_name(SIP_METHOD_UNKNOWN));
}

Test(sip_parse, folded_lines_are_linear_whitespace_in_every_decoded_field)
{
	static const char m[] =
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP\r\n 192.0.2.10\r\n\t:\r\n 5062\r\n ;branch=z9hG4bK1\r\n ;\r\n  rport\r\n"
		"To:\r\n \"Bob\"\r\n <sip:bob@example.com>\r\n"
		"From:\r\n <sip:bob@example.com>\r\n ;\r\n tag\r\n =\r\n 77\r\n"
		"Call-ID:\r\n  x1@h\r\n"
		"CSeq: 12\r\n\tREGISTER\r\n"
		"Max-Forwards:\r\n 9\r\n"
		"Expires:\r\n 60\r\n"
		"Contact: <sip:bob@192.0.2.10>\r\n ;expires\r\n =\r\n 30\r\n ,\r\n <sip:bob@192.0.2.11>;q\r\n = 0.5\r\n"
		"Content-Length:\r\n 0\r\n"
		"\r\n";

	cr_assert_eq(parse(m), 0, "%s", msg.error);
	assert_tstr(msg.via.host, "192.0.2.10");
	cr_assert_eq(msg.via.port, 5062);
	assert_tstr(msg.via.branch, "z9hG4bK1");
	cr_assert(msg.via.rport);
	assert_tstr(msg.to.display, "\"Bob\"");
	assert_tstr(msg.to.uri, "sip:bob@example.com");
	assert_tstr(msg.from.tag, "77");
	assert_tstr(msg.call_id, "x1@h");
	cr_assert_eq(msg.cseq, 12);
	cr_assert_eq(msg.cseq_method, SIP_REGISTER);
	cr_assert_eq(msg.max_forwards, 9);
	cr_assert_eq(msg.expires, 60);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 2);
	cr_assert_eq(msg.contacts[0].expires, 30);
	cr_assert_eq(msg.contacts[1].q, 500);
}

Test(sip_parse, header_name_may_be_followed_by_spaces_before_the_colon)
{
	cr_assert_eq(parse_reg("Subject \t: hello\r\n"), 0);
	assert_tstr(sip_header_first(&msg, SIP_HDR_SUBJECT)->value, "hello");
}

Test(sip_parse, header_line_without_colon_is_refused)
{
	cr_assert_eq(parse_reg("Foobar roobar\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed header field");
	cr_assert_eq(parse_reg(": novalue\r\n"), TDM_EMALFORMED);
	cr_assert_eq(parse_reg("Bad@Name: x\r\n"), TDM_EMALFORMED);
}

Test(sip_parse, continuation_line_right_after_the_start_line_is_refused)
{
	static const char m[] = REG_START " folded: start\r\n" REG_CORE "\r\n";

	cr_assert_eq(parse(m), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed header field");
}

Test(sip_parse, nul_bytes_in_an_unknown_header_value_do_not_stop_parsing)
{
	static const char m[] = REG_START REG_CORE "X-Bin: a\0b\r\nContent-Length: 0\r\n\r\n";
	const struct sip_header *h;

	cr_assert_eq(parse_n(m, sizeof(m) - 1), 0);
	h = sip_header_first(&msg, SIP_HDR_OTHER);
	cr_assert_eq(h->value.len, 3);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTENT_LENGTH], 1);
}

Test(sip_parse, missing_empty_line_after_headers_is_refused)
{
	static const char m[] = REG_START REG_CORE "Content-Length: 0\r\n";

	cr_assert_eq(parse(m), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Truncated message");
	/* Fields are still decoded for the 400. */
	cr_assert(msg.via_ok);
	assert_tstr(msg.call_id, "a84b4c76e66710@pc33.example.com");
}

/* ------------------------------------------------------------------ */
/* Start lines. */

Test(sip_parse, request_line_must_have_exactly_three_single_spaced_elements)
{
	static const char *const bad[] = {
		"REGISTER  sip:example.com SIP/2.0\r\n",
		"REGISTER sip:example.com  SIP/2.0\r\n",
		"REGISTER sip:example.com SIP/2.0 \r\n",
		"REGISTER sip:example.com\r\n",
		"REGISTER\r\n",
		" REGISTER sip:example.com SIP/2.0\r\n",
		"REGISTER\tsip:example.com SIP/2.0\r\n",
		"REG(ISTER sip:example.com SIP/2.0\r\n",
		"REGISTER sip:example.com HTTP/1.1\r\n",
		"REGISTER sip:example.com SIP/2\r\n",
		"REGISTER sip:example.com SIP/.0\r\n",
		"REGISTER sip:example.com SIP/2.0x\r\n",
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(b, sizeof(b), "%s" REG_CORE "\r\n", bad[i]);
		cr_expect_eq(parse_n(b, (size_t)n), TDM_EMALFORMED, "%s", bad[i]);
		cr_expect_str_eq(msg.error, "Malformed Request-Line", "%s", bad[i]);
		/* The 400 can still be routed. */
		cr_expect(msg.via_ok, "%s", bad[i]);
	}
}

/* Request-Lines ending in " SIP/2.0" (the usual case, split from its
 * end) give the elements and errors the general split gives. */
Test(sip_parse, request_line_ending_in_sip_2_0_splits_like_any_other)
{
	static const struct {
		const char *line;
		const char *ruri;   /* expected, or NULL */
		const char *error;  /* expected m->error, or NULL */
	} cases[] = {
		{ "REGISTER sip:example.com SIP/2.0", "sip:example.com", NULL },
		{ "REGISTER SIPS:a@example.com:5061;lr SIP/2.0", "SIPS:a@example.com:5061;lr", NULL },
		{ "REGISTER tel:+123 SIP/2.0", "tel:+123", NULL },
		{ "REGISTER sip:a b SIP/2.0", NULL, "Malformed Request-Line" },
		{ "REGISTER sip:example.com  SIP/2.0", NULL, "Malformed Request-Line" },
		{ "REGISTER  sip:example.com SIP/2.0", NULL, "Malformed Request-Line" },
		{ "REGISTER <sip:example.com> SIP/2.0", "<sip:example.com>", "Malformed Request-URI" },
		{ "REGISTER sip:@@ SIP/2.0", "sip:@@", NULL },
		{ "REGISTER sip: SIP/2.0", "sip:", "Malformed Request-URI" },
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), "%s\r\n" REG_CORE "Content-Length: 0\r\n\r\n",
				 cases[i].line);
		int r = parse_n(b, (size_t)n);
		if (cases[i].error) {
			cr_expect_eq(r, TDM_EMALFORMED, "%s", cases[i].line);
			cr_expect_str_eq(msg.error, cases[i].error, "%s", cases[i].line);
		} else {
			cr_expect_eq(r, 0, "%s: %s", cases[i].line, msg.error);
			cr_expect(teq(msg.version, "SIP/2.0"), "%s", cases[i].line);
		}
		if (cases[i].ruri)
			cr_expect(teq(msg.ruri, cases[i].ruri), "%s: ruri %.*s", cases[i].line,
				  TSTR_FMT(msg.ruri));
	}
}

Test(sip_parse, request_uri_must_be_an_absolute_uri)
{
	static const char *const bad[] = {
		"<sip:example.com>", "example.com", "sip:", "1sip:x", "sip:a\"b",
		"sip:a<b", ":x",
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(b, sizeof(b), "REGISTER %s SIP/2.0\r\n" REG_CORE "\r\n", bad[i]);
		cr_expect_eq(parse_n(b, (size_t)n), TDM_EMALFORMED, "%s", bad[i]);
		cr_expect_str_eq(msg.error, "Malformed Request-URI", "%s", bad[i]);
	}
}

Test(sip_parse, any_sip_version_is_accepted_for_the_caller_to_answer_505)
{
	static const char m[] = "REGISTER sip:example.com SIP/3.14\r\n" REG_CORE "\r\n";
	static const char lc[] = "REGISTER sip:example.com sip/2.0\r\n" REG_CORE "\r\n";

	cr_assert_eq(parse(m), 0);
	assert_tstr(msg.version, "SIP/3.14");
	cr_assert_eq(parse(lc), 0);
}

Test(sip_parse, status_line_is_parsed_and_code_range_checked)
{
	static const char core[] =
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
		"CSeq: 1 REGISTER\r\n\r\n";
	static const struct {
		const char *line;
		int r;
		unsigned status;
		const char *reason;
	} cases[] = {
		{ "SIP/2.0 200 OK", 0, 200, "OK" },
		{ "SIP/2.0 100 ", 0, 100, "" },
		{ "SIP/2.0 180", 0, 180, "" },
		{ "SIP/2.0 699 Whatever it is", 0, 699, "Whatever it is" },
		{ "SIP/2.0 099 Low", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0 700 High", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0 2000 Long", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0 20 Short", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0 4294967496 Wrap", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0 200OK", TDM_EMALFORMED, 0, NULL },
		{ "SIP/2.0", TDM_EMALFORMED, 0, NULL },
		{ "SIP/x 200 OK", TDM_EMALFORMED, 0, NULL },
	};
	char b[512];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), "%s\r\n%s", cases[i].line, core);
		cr_expect_eq(parse_n(b, (size_t)n), cases[i].r, "%s", cases[i].line);
		cr_expect_not(msg.is_request, "%s", cases[i].line);
		cr_expect_eq(msg.status, cases[i].status, "%s", cases[i].line);
		if (cases[i].reason)
			cr_expect(teq(msg.reason, cases[i].reason), "%s", cases[i].line);
	}
}

Test(sip_parse, responses_do_not_need_the_request_only_fields)
{
	static const char m[] = "SIP/2.0 200 OK\r\nTo: <sip:a@b>\r\nTo: <sip:c@d>\r\n"
				"CSeq: 1 INVITE\r\n\r\n";

	cr_assert_eq(parse(m), 0);
	cr_assert_not(msg.via_ok);
	assert_tstr(msg.to.uri, "sip:a@b");
}

/* ------------------------------------------------------------------ */
/* The checks of sip_parse(). */

Test(sip_parse, each_missing_mandatory_field_has_its_reason)
{
	static const struct {
		const char *drop;
		const char *reason;
	} cases[] = {
		{ "Via:", "Missing Via" },
		{ "From:", "Missing From header" },
		{ "To:", "Missing To header" },
		{ "Call-ID:", "Missing Call-ID" },
		{ "CSeq:", "Missing CSeq" },
	};
	static const char *const lines[] = {
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n",
		"From: <sip:a@example.com>;tag=1\r\n",
		"To: <sip:a@example.com>\r\n",
		"Call-ID: c1@h\r\n",
		"CSeq: 1 REGISTER\r\n",
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), "%s", REG_START);
		for (unsigned k = 0; k < sizeof(lines) / sizeof(lines[0]); k++)
			if (strncmp(lines[k], cases[i].drop, strlen(cases[i].drop)) != 0)
				n += snprintf(b + n, sizeof(b) - (size_t)n, "%s", lines[k]);
		n += snprintf(b + n, sizeof(b) - (size_t)n, "\r\n");
		cr_expect_eq(parse_n(b, (size_t)n), TDM_EMALFORMED, "%s", cases[i].drop);
		cr_expect_str_eq(msg.error, cases[i].reason);
	}
}

Test(sip_parse, duplicate_single_value_fields_are_refused_in_requests)
{
	cr_assert_eq(parse_reg("To: <sip:b@example.com>\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Duplicate To header");
	assert_tstr(msg.to.uri, "sip:alice@example.com");
	cr_assert_eq(parse_reg("f: <sip:b@example.com>;tag=2\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Duplicate From header");
	cr_assert_eq(parse_reg("i: other@h\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Duplicate Call-ID header");
	cr_assert_eq(parse_reg("CSeq: 314159 REGISTER\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Duplicate CSeq header");
	cr_assert_eq(parse_reg("Max-Forwards: 70\r\n"), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Duplicate Max-Forwards header");
}

Test(sip_parse, cseq_must_fit_32_bits_and_name_the_request_method)
{
#define fmt REG_START                                                            \
	"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"        \
	"To: <sip:a@b>\r\nCall-ID: c@h\r\nCSeq: %s\r\n\r\n"
	static const struct {
		const char *cseq;
		const char *error;
	} cases[] = {
		{ "4294967295 REGISTER", NULL },
		{ "0 REGISTER", NULL },
		{ "000000000000000000001 REGISTER", NULL },
		{ "4294967296 REGISTER", "CSeq out of range" },
		{ "36893488147419103232 REGISTER", "CSeq out of range" },
		{ "1 INVITE", "CSeq method does not match" },
		{ "1 register", "CSeq method does not match" },
		{ "1", "Malformed CSeq" },
		{ "1REGISTER", "Malformed CSeq" },
		{ "REGISTER", "Malformed CSeq" },
		{ "-1 REGISTER", "Malformed CSeq" },
		{ "1 REGISTER x", "Malformed CSeq" },
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), fmt, cases[i].cseq);
		int r = parse_n(b, (size_t)n);
		if (cases[i].error) {
			cr_expect_eq(r, TDM_EMALFORMED, "%s", cases[i].cseq);
			cr_expect_str_eq(msg.error, cases[i].error, "%s", cases[i].cseq);
		} else {
			cr_expect_eq(r, 0, "%s: %s", cases[i].cseq, msg.error);
		}
	}
	parse_n(b, (size_t)snprintf(b, sizeof(b), fmt, "4294967295 REGISTER"));
	cr_assert_eq(msg.cseq, 4294967295u);
#undef fmt
}

/* The usual CSeq (up to 8 digits, one SP, the request's method) and the
 * forms the general grammar decides (9 or more digits, other LWS, another
 * spelling) give the same number and method. */
Test(sip_parse, cseq_usual_and_general_forms_decode_alike)
{
#define fmt REG_START                                                            \
	"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"        \
	"To: <sip:a@b>\r\nCall-ID: c@h\r\nCSeq: %s\r\n\r\n"
	static const struct {
		const char *cseq;
		uint32_t n;
	} cases[] = {
		{ "1 REGISTER", 1 },
		{ "99999999 REGISTER", 99999999 },
		{ "999999999 REGISTER", 999999999 },
		{ "1000000000 REGISTER", 1000000000 },
		{ "00000007 REGISTER", 7 },
		{ "7  REGISTER", 7 },
		{ "7\tREGISTER", 7 },
		{ "7\r\n REGISTER", 7 },
	};
	char b[1024];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), fmt, cases[i].cseq);
		cr_expect_eq(parse_n(b, (size_t)n), 0, "%s: %s", cases[i].cseq, msg.error);
		cr_expect_eq(msg.cseq, cases[i].n, "%s", cases[i].cseq);
		cr_expect_eq(msg.cseq_method, SIP_REGISTER, "%s", cases[i].cseq);
		cr_expect(teq(msg.cseq_method_name, "REGISTER"), "%s", cases[i].cseq);
	}
	/* A method of the same length that differs in its last byte, or a
	 * prefix of the request's method, does not match it. */
	static const char *const bad[] = { "1 REGISTEr", "1 REGISTE", "1 REGISTERR", "1 RE" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(b, sizeof(b), fmt, bad[i]);
		cr_expect_eq(parse_n(b, (size_t)n), TDM_EMALFORMED, "%s", bad[i]);
		cr_expect_str_eq(msg.error, "CSeq method does not match", "%s", bad[i]);
	}
#undef fmt
}

/* Two-digit Max-Forwards values (the usual form, decoded apart) give
 * their value, a leading zero included; a two-byte value with a
 * non-digit is malformed, as with any other length. */
Test(sip_parse, two_digit_max_forwards_decode_like_any_other)
{
	static const struct {
		const char *mf;
		int32_t v; /* -2: malformed */
	} cases[] = {
		{ "70", 70 }, { "09", 9 }, { "99", 99 }, { "00", 0 }, { "7", 7 }, { "070", 70 },
		{ "7a", -2 }, { "a7", -2 }, { "/0", -2 }, { "9:", -2 },
	};
	char b[512];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b),
				 "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
				 "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
				 "CSeq: 1 OPTIONS\r\nMax-Forwards: %s\r\n\r\n",
				 cases[i].mf);
		int r = parse_n(b, (size_t)n);
		if (cases[i].v == -2) {
			cr_expect_eq(r, TDM_EMALFORMED, "%s", cases[i].mf);
			cr_expect_str_eq(msg.error, "Malformed Max-Forwards", "%s", cases[i].mf);
			cr_expect_eq(msg.max_forwards, SIP_ABSENT, "%s", cases[i].mf);
		} else {
			cr_expect_eq(r, 0, "%s", cases[i].mf);
			cr_expect_eq(msg.max_forwards, cases[i].v, "%s", cases[i].mf);
		}
	}
}

Test(sip_parse, max_forwards_is_0_to_255)
{
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 0255\r\n\r\n"),
		     0);
	cr_assert_eq(msg.max_forwards, 255);
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 256\r\n\r\n"),
		     TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Max-Forwards out of range");
	cr_assert_eq(msg.max_forwards, SIP_ABSENT);
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 7a\r\n\r\n"),
		     TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Max-Forwards");
}

Test(sip_parse, content_length_frames_the_body_and_is_checked)
{
#define fmt REG_START REG_CORE "%s\r\n%s"
	static const struct {
		const char *cl;
		const char *body;
		int r;
		int64_t len; /* expected body length when accepted */
		const char *error;
	} cases[] = {
		{ "Content-Length: 4\r\n", "abcdEXTRA", 0, 4, NULL },
		{ "Content-Length: 4\r\nContent-Length: 4\r\n", "abcd", 0, 4, NULL },
		{ "", "rest of it", 0, 10, NULL },
		{ "Content-Length: 5\r\n", "abcd", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: -1\r\n", "abcd", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: four\r\n", "abcd", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: \r\n", "", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: 99999999999999999999\r\n", "", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: 4294967295\r\n", "", TDM_EMALFORMED, 0, "Bad Content-Length" },
		{ "Content-Length: 4\r\nl: 3\r\n", "abcd", TDM_EMALFORMED, 0,
		  "Conflicting Content-Length values" },
	};
	char b[2048];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(b, sizeof(b), fmt, cases[i].cl, cases[i].body);
		int r = parse_n(b, (size_t)n);
		cr_expect_eq(r, cases[i].r, "%s", cases[i].cl);
		if (r == 0)
			cr_expect_eq(msg.body.len, cases[i].len, "%s", cases[i].cl);
		else
			cr_expect_str_eq(msg.error, cases[i].error, "%s", cases[i].cl);
	}
#undef fmt
}

Test(sip_parse, expires_header_saturates_and_malformed_counts_as_absent)
{
	cr_assert_eq(parse_reg("Expires: 3600\r\n"), 0);
	cr_assert_eq(msg.expires, 3600);
	cr_assert_eq(parse_reg("Expires: 0\r\n"), 0);
	cr_assert_eq(msg.expires, 0);
	cr_assert_eq(parse_reg("Expires: 4294967295\r\n"), 0);
	cr_assert_eq(msg.expires, 4294967295LL);
	cr_assert_eq(parse_reg("Expires: 4294967296\r\n"), 0);
	cr_assert_eq(msg.expires, 4294967295LL);
	cr_assert_eq(parse_reg("Expires: 99999999999999999999999999999999\r\n"), 0);
	cr_assert_eq(msg.expires, 4294967295LL);
	cr_assert_eq(parse_reg("Expires: Thu, 01 Dec 1994 16:00:00 GMT\r\n"), 0);
	cr_assert_eq(msg.expires, SIP_ABSENT);
	cr_assert_eq(parse_reg("Expires: -5\r\n"), 0);
	cr_assert_eq(msg.expires, SIP_ABSENT);
	cr_assert_eq(parse_reg("Expires:\r\n"), 0);
	cr_assert_eq(msg.expires, SIP_ABSENT);
}

Test(sip_parse, call_id_must_be_word_at_word)
{
	cr_assert_eq(parse_reg(""), 0);
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: a@b@c\r\nCSeq: 1 OPTIONS\r\n\r\n"),
		     TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Call-ID");
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: a b\r\nCSeq: 1 OPTIONS\r\n\r\n"),
		     TDM_EMALFORMED);
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID:\r\nCSeq: 1 OPTIONS\r\n\r\n"),
		     TDM_EMALFORMED);
	cr_assert_eq(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n"
			   "To: <sip:a@b>\r\nCall-ID: @b\r\nCSeq: 1 OPTIONS\r\n\r\n"),
		     TDM_EMALFORMED);
}

Test(sip_parse, fields_are_decoded_even_when_the_message_is_refused)
{
	static const char m[] =
		"REGISTER <sip:example.com> SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKx\r\n"
		"From: <sip:a@example.com>;tag=ft\r\n"
		"To: <sip:a@example.com>\r\n"
		"Call-ID: cid@h\r\n"
		"CSeq: 7 REGISTER\r\n"
		"Content-Length: 1000\r\n\r\n";

	cr_assert_eq(parse(m), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Request-URI");
	cr_assert(msg.is_request);
	cr_assert(msg.via_ok);
	cr_assert_eq(msg.via.port, 5070);
	assert_tstr(msg.from.tag, "ft");
	assert_tstr(msg.to.uri, "sip:a@example.com");
	assert_tstr(msg.call_id, "cid@h");
	cr_assert_eq(msg.cseq, 7);
}

/* ------------------------------------------------------------------ */
/* Via. */

Test(sip_parse, via_ok_is_set_by_the_first_via_parm_even_when_a_later_one_is_bad)
{
	static const char m[] = REG_START
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/UDP ;;\r\n"
		"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n";

	cr_assert_eq(parse(m), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Via");
	cr_assert(msg.via_ok);
	assert_tstr(msg.via.host, "192.0.2.1");
	assert_tstr(msg.via.branch, "z9hG4bK1");
}

/* A message without Via leaves no top Via behind, even when the struct
 * held one from the message parsed before (sip_parse() clears it only
 * when no Via came). */
Test(sip_parse, message_without_via_leaves_no_top_via_from_the_previous_one)
{
	static const char resp[] = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

	cr_assert_eq(parse(reg_typical), 0);
	cr_assert(msg.via_ok);
	cr_assert(msg.via.rport);
	cr_assert_eq(parse_n(resp, sizeof(resp) - 1), 0);
	cr_assert_not(msg.via_ok);
	cr_assert_not(msg.via.rport);
	cr_assert_eq(msg.via.port, 0);
	cr_assert_eq(msg.via.host.len, 0);
	cr_assert_eq(msg.via.branch.len, 0);

	cr_assert_eq(parse(reg_typical), 0);
	cr_assert_eq(parse("\r\n\r\n"), TDM_ETRUNCATED);
	cr_assert_not(msg.via_ok);
	cr_assert_eq(msg.via.port, 0);
	cr_assert_eq(msg.via.host.len, 0);
}

Test(sip_parse, many_via_parms_in_one_field_keep_the_first_as_top_via)
{
	static const char m[] = REG_START
		"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5061"
		";branch=z9hG4bK2 ,SIP/2.0/TLS [2001:db8::2]:5062;branch=z9hG4bK3,"
		"SIP/2.0/SCTP c.example.com;branch=z9hG4bK4\r\n"
		"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n";
	const struct sip_header *h;
	struct sip_via via;
	uint32_t pos = 0;
	unsigned n = 0;
	tstr v;

	cr_assert_eq(parse(m), 0);
	assert_tstr(msg.via.host, "a.example.com");
	assert_tstr(msg.via.branch, "z9hG4bK1");
	assert_tstr(msg.via.value, "SIP/2.0/UDP a.example.com;branch=z9hG4bK1");
	h = sip_header_first(&msg, SIP_HDR_VIA);
	while (sip_list_next(h->value, &pos, &v)) {
		cr_assert_eq(sip_parse_via(v, &via), 0);
		n++;
	}
	cr_assert_eq(n, 4);
	assert_tstr(via.transport, "SCTP");
}

Test(sip_parse, via_with_ipv6_reference_and_parameters_decodes)
{
	struct sip_via via;

	cr_assert_eq(sip_parse_via(TSTR_LIT("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;"
					    "received=2001:db8::9;rport=5070;maddr=[2001:db8::5];ttl=1"),
				   &via), 0);
	assert_tstr(via.host, "[2001:db8::1]");
	cr_assert_eq(via.port, 5060);
	assert_tstr(via.branch, "z9hG4bKa");
	assert_tstr(via.received, "2001:db8::9");
	assert_tstr(via.maddr, "[2001:db8::5]");
	cr_assert(via.rport);

	cr_assert_eq(sip_parse_via(TSTR_LIT("SIP/2.0/UDP [::ffff:192.0.2.1]"), &via), 0);
	assert_tstr(via.host, "[::ffff:192.0.2.1]");
	cr_assert_eq(via.port, 0);
	cr_assert_not(via.rport);
}

Test(sip_parse, malformed_via_parms_are_refused)
{
	static const char *const bad[] = {
		"",
		"SIP/2.0/UDP",
		"SIP/2.0/UDP ",
		"SIP/2.0 192.0.2.1",
		"SIP/2.0/ 192.0.2.1",
		"SIP/2.0/UDP192.0.2.1",
		"SIP/2.0/UDP 192.0.2.1:",
		"SIP/2.0/UDP 192.0.2.1:0",
		"SIP/2.0/UDP 192.0.2.1:65536",
		"SIP/2.0/UDP 192.0.2.1:99999999999999999999",
		"SIP/2.0/UDP 192.0.2.1;;",
		"SIP/2.0/UDP 192.0.2.1;branch",
		"SIP/2.0/UDP 192.0.2.1;branch=",
		"SIP/2.0/UDP 192.0.2.1;branch=\"q\"",
		"SIP/2.0/UDP 192.0.2.1;rport=x",
		"SIP/2.0/UDP 192.0.2.1 junk",
		"SIP/2.0/UDP [2001:db8::1",
		"SIP/2.0/UDP [2001]",
		"SIP/2.0/UDP -host.example.com",
		"SIP/2.0/UDP host..example.com",
		"SIP/2.0/UDP host-.example.com",
		"SIP/2.0/UDP host_name.example.com",
	};
	struct sip_via via;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sip_parse_via(tstr_cstr(bad[i]), &via), TDM_EMALFORMED, "%s", bad[i]);
	cr_assert_eq(sip_parse_via(TSTR_LIT("SIP/2.0/UDP xn--bcher-kva.example.com."), &via), 0);
	assert_tstr(via.host, "xn--bcher-kva.example.com.");
}

/* ------------------------------------------------------------------ */
/* Name-addr, lists, parameters. */

Test(sip_parse, nameaddr_forms_decode)
{
	struct sip_nameaddr na;

	cr_assert_eq(sip_parse_nameaddr(TSTR_LIT("\"A \\\"B\\\" C\" <sip:a@b;lr>;tag=x;p"), &na), 0);
	assert_tstr(na.display, "\"A \\\"B\\\" C\"");
	assert_tstr(na.uri, "sip:a@b;lr");
	assert_tstr(na.params, ";tag=x;p");
	assert_tstr(na.tag, "x");
	cr_assert(na.bracketed);

	cr_assert_eq(sip_parse_nameaddr(TSTR_LIT("Bob Smith<sip:b@h>"), &na), 0);
	assert_tstr(na.display, "Bob Smith");
	assert_tstr(na.uri, "sip:b@h");

	cr_assert_eq(sip_parse_nameaddr(TSTR_LIT("<sip:b@h?Subject=x>"), &na), 0);
	cr_assert_eq(na.display.len, 0);
	assert_tstr(na.uri, "sip:b@h?Subject=x");

	cr_assert_eq(sip_parse_nameaddr(TSTR_LIT(" sip:b@h ; tag = 9 "), &na), 0);
	cr_assert_not(na.bracketed);
	assert_tstr(na.uri, "sip:b@h");
	assert_tstr(na.tag, "9");

	cr_assert_eq(sip_parse_nameaddr(TSTR_LIT("<sip:[2001:db8::1]:5060>"), &na), 0);
	assert_tstr(na.uri, "sip:[2001:db8::1]:5060");
}

Test(sip_parse, malformed_nameaddrs_are_refused)
{
	static const char *const bad[] = {
		"",
		"\"unterminated <sip:a@b>",
		"\"ends in escape\\",
		"\"no uri\"",
		"\"x\" sip:a@b",
		"<sip:a@b",
		"<>",
		"< sip:a@b >",
		"<sip:a@b> junk",
		"<sip:a@b>;",
		"<sip:a@b>;;",
		"<sip:a@b>;tag",
		"<sip:a@b>;tag=\"q\"",
		"sip:a@b?x=y",
		"sip:a@b,sip:c@d",
		"Bell, Alexander <sip:a@b>",
		"a@b",
		"sip:",
	};
	struct sip_nameaddr na = { .tag = TSTR_LIT("untouched") };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sip_parse_nameaddr(tstr_cstr(bad[i]), &na), TDM_EMALFORMED, "%s", bad[i]);
	/* *out is written only on success. */
	assert_tstr(na.tag, "untouched");
}

Test(sip_parse, list_values_honour_quotes_and_angle_brackets)
{
	tstr list = TSTR_LIT(" \"a, b\" <sip:x@y;p=1,2>;q=1 ,, <sip:z@w>, \"\\\",\" <sip:q@r> , ");
	uint32_t pos = 0;
	tstr v;

	cr_assert(sip_list_next(list, &pos, &v));
	assert_tstr(v, "\"a, b\" <sip:x@y;p=1,2>;q=1");
	cr_assert(sip_list_next(list, &pos, &v));
	assert_tstr(v, "<sip:z@w>");
	cr_assert(sip_list_next(list, &pos, &v));
	assert_tstr(v, "\"\\\",\" <sip:q@r>");
	cr_assert_not(sip_list_next(list, &pos, &v));
	cr_assert_not(sip_list_next(list, &pos, &v));

	pos = 0;
	list = TSTR_LIT("a, \"unterminated, b");
	cr_assert(sip_list_next(list, &pos, &v));
	assert_tstr(v, "a");
	cr_assert(sip_list_next(list, &pos, &v));
	assert_tstr(v, "\"unterminated, b");
	cr_assert_not(sip_list_next(list, &pos, &v));
}

Test(sip_parse, option_tags_are_found_case_insensitively_across_fields)
{
	cr_assert_eq(parse_reg("Require: foo\r\nSupported: outbound, PATH\r\nRequire: bar, gruu\r\n"), 0);
	cr_assert(sip_has_option_tag(&msg, SIP_HDR_SUPPORTED, "path"));
	cr_assert(sip_has_option_tag(&msg, SIP_HDR_SUPPORTED, "Outbound"));
	cr_assert(sip_has_option_tag(&msg, SIP_HDR_REQUIRE, "gruu"));
	cr_assert(sip_has_option_tag(&msg, SIP_HDR_REQUIRE, "foo"));
	cr_assert_not(sip_has_option_tag(&msg, SIP_HDR_REQUIRE, "path"));
	cr_assert_not(sip_has_option_tag(&msg, SIP_HDR_PROXY_REQUIRE, "foo"));
	cr_assert_not(sip_has_option_tag(&msg, SIP_HDR_SUPPORTED, "pat"));
}

Test(sip_parse, header_iteration_visits_every_field_of_an_id_in_order)
{
	const struct sip_header *h;
	unsigned n = 0;

	cr_assert_eq(parse_reg("Contact: <sip:a@h1>\r\nX: 1\r\nm: <sip:a@h2>\r\nCONTACT: <sip:a@h3>\r\n"), 0);
	for (h = sip_header_first(&msg, SIP_HDR_CONTACT); h; h = sip_header_next(&msg, h))
		n++;
	cr_assert_eq(n, 3);
	cr_assert_eq(msg.hdr_count[SIP_HDR_CONTACT], 3);
	cr_assert_null(sip_header_first(&msg, SIP_HDR_PATH));
	cr_assert_null(sip_header_first(&msg, SIP_HDR_COUNT));
}

Test(sip_parse, param_find_handles_lws_quotes_flags_and_case)
{
	tstr params = TSTR_LIT(" ; Expires = 60 ;\r\n lr ; +sip.instance=\"<urn:uuid:1>\";Q=0.7");
	tstr v;

	cr_assert(sip_param_find(params, "expires", &v));
	assert_tstr(v, "60");
	cr_assert(sip_param_find(params, "LR", &v));
	cr_assert_eq(v.len, 0);
	cr_assert(sip_param_find(params, "+sip.instance", &v));
	assert_tstr(v, "\"<urn:uuid:1>\"");
	cr_assert(sip_param_find(params, "q", &v));
	assert_tstr(v, "0.7");
	cr_assert_not(sip_param_find(params, "tag", &v));
	cr_assert_not(sip_param_find(params, "expire", &v));
	cr_assert_not(sip_param_find(TSTR_LIT(";a=\"open"), "a", &v));
	cr_assert_not(sip_param_find(TSTR_NULL, "a", &v));
}

Test(sip_parse, param_next_refuses_empty_and_broken_parameters)
{
	static const char *const bad[] = { ";", ";;a", "a", ";a=", ";a=\"x", ";a b", ";=1", ";a=1 x" };
	tstr n, v;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t pos = 0;
		int r;
		while ((r = sip_param_next(tstr_cstr(bad[i]), &pos, &n, &v)) > 0)
			;
		cr_expect_eq(r, TDM_EMALFORMED, "%s", bad[i]);
	}
}

/* ------------------------------------------------------------------ */
/* Contacts. */

Test(sip_parse, contact_q_values_accept_the_qvalue_grammar_only)
{
	static const struct {
		const char *q;
		int v; /* -2: contact refused */
	} cases[] = {
		{ "0", 0 }, { "1", 1000 }, { "0.5", 500 }, { "0.123", 123 }, { "1.000", 1000 },
		{ "0.", 0 }, { "1.0", 1000 }, { "0.05", 50 }, { "0.999", 999 },
		{ "1.001", -2 }, { "2", -2 }, { "0.1234", -2 }, { "abc", -2 }, { ".5", -2 },
		{ "1.5", -2 }, { "-0.5", -2 }, { "\"0.5\"", -2 }, { "0x1", -2 },
	};
	char b[256];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(b, sizeof(b), "Contact: <sip:a@192.0.2.1>;q=%s\r\n", cases[i].q);
		cr_assert_eq(parse_reg(b), 0);
		if (cases[i].v == -2) {
			cr_expect_eq(sip_parse_contacts(&msg), TDM_EMALFORMED, "q=%s", cases[i].q);
			cr_expect_str_eq(msg.error, "Bad q value in Contact");
		} else {
			cr_expect_eq(sip_parse_contacts(&msg), 0, "q=%s", cases[i].q);
			cr_expect_eq(msg.contacts[0].q, cases[i].v, "q=%s", cases[i].q);
		}
	}
}

Test(sip_parse, contact_expires_saturates_and_malformed_counts_as_absent)
{
	cr_assert_eq(parse_reg("Contact: <sip:a@h1>;expires=0, <sip:a@h2>;expires=4294967296,"
			       "<sip:a@h3>;expires=abc, <sip:a@h4>;expires, <sip:a@h5>,"
			       "<sip:a@h6>;EXPIRES=120;expires=5\r\n"),
		     0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 6);
	cr_assert_eq(msg.contacts[0].expires, 0);
	cr_assert_eq(msg.contacts[1].expires, 4294967295LL);
	cr_assert_eq(msg.contacts[2].expires, SIP_ABSENT);
	cr_assert_eq(msg.contacts[3].expires, SIP_ABSENT);
	cr_assert_eq(msg.contacts[4].expires, SIP_ABSENT);
	cr_assert_eq(msg.contacts[5].expires, 120);
}

Test(sip_parse, contact_instance_and_reg_id_decode)
{
	cr_assert_eq(parse_reg("Contact: <sip:a@192.0.2.1;ob>;reg-id=1;"
			       "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";"
			       "expires=600\r\n"),
		     0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	assert_tstr(msg.contacts[0].instance, "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>");
	cr_assert_eq(msg.contacts[0].reg_id, 1);
	cr_assert_eq(msg.contacts[0].expires, 600);

	cr_assert_eq(parse_reg("Contact: <sip:a@192.0.2.1>;reg-id=2147483647\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.contacts[0].reg_id, 2147483647);
	cr_assert_eq(msg.contacts[0].instance.len, 0);

	static const char *const bad[] = { "0", "2147483648", "x", "", "\"1\"" };
	char b[128];
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(b, sizeof(b), "Contact: <sip:a@192.0.2.1>;reg-id%s%s\r\n",
			 bad[i][0] ? "=" : "", bad[i]);
		cr_assert_eq(parse_reg(b), 0);
		cr_expect_eq(sip_parse_contacts(&msg), TDM_EMALFORMED, "reg-id=%s", bad[i]);
		cr_expect_str_eq(msg.error, "Bad reg-id in Contact");
	}
}

/* sip_parse_contacts() decodes a field holding one contact in the usual
 * shape without splitting the list first: commas inside the quoted
 * display name, the <URI> or a quoted parameter value do not split it,
 * and a field with two contacts, or a second field, still gives each. */
Test(sip_parse, one_contact_field_with_inner_commas_is_one_contact)
{
	cr_assert_eq(parse_reg("Contact: \"Bell, A.\" <sip:a,b@192.0.2.1;p=1>;"
			       "+sip.instance=\"<urn:x,y>\";expires=30\r\n"),
		     0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	assert_tstr(msg.contacts[0].na.display, "\"Bell, A.\"");
	assert_tstr(msg.contacts[0].na.uri, "sip:a,b@192.0.2.1;p=1");
	assert_tstr(msg.contacts[0].instance, "<urn:x,y>");
	cr_assert_eq(msg.contacts[0].expires, 30);
	cr_assert_eq(msg.contacts[0].uri_rc, 0);
	assert_tstr(msg.contacts[0].uri.user, "a,b");
	assert_tstr(msg.contacts[0].uri.host, "192.0.2.1");

	cr_assert_eq(parse_reg("Contact: <sip:a@h1>;expires=10,<sip:a@h2>;q=0.5\r\n"
			       "m: <sip:a@h3>\r\n"),
		     0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 3);
	assert_tstr(msg.contacts[0].uri.host, "h1");
	cr_assert_eq(msg.contacts[0].expires, 10);
	assert_tstr(msg.contacts[1].uri.host, "h2");
	cr_assert_eq(msg.contacts[1].q, 500);
	assert_tstr(msg.contacts[2].uri.host, "h3");
	cr_assert_eq(msg.contacts[2].expires, SIP_ABSENT);
}

/* A contact parameter is matched on its whole name, whatever its length:
 * names that share a prefix or a length with a known one are ignored. */
Test(sip_parse, contact_parameters_match_whole_names_only)
{
	cr_assert_eq(parse_reg("Contact: <sip:a@h>;expire=5;expiresx=6;qq=1;Q=0.25;"
			       "reg-i=3;EXPIRES=7\r\n"),
		     0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 1);
	cr_assert_eq(msg.contacts[0].expires, 7);
	cr_assert_eq(msg.contacts[0].q, 250);
	cr_assert_eq(msg.contacts[0].reg_id, SIP_ABSENT);
}

/* A bad parameter in a contact the fast path takes is refused with its
 * reason, as the general path refuses it. */
Test(sip_parse, bad_parameter_of_a_single_usual_contact_is_refused)
{
	cr_assert_eq(parse_reg("Contact: <sip:a@h>;q=2\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Bad q value in Contact");
	cr_assert_eq(parse_reg("Contact: <sip:a@h>;q=0.5;;\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Contact");
}

/* When the To of a REGISTER is refused, after its URI was decoded by the
 * fast path, to_uri_rc says so and to holds nothing. */
Test(sip_parse, refused_to_of_a_register_leaves_no_decoded_uri)
{
	static const char b[] =
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
		"To: <sip:alice@example.com>;tag\r\n"
		"From: <sip:alice@example.com>;tag=1\r\n"
		"Call-ID: c1\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Content-Length: 0\r\n\r\n";

	cr_assert_eq(parse_n(b, sizeof(b) - 1), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed To header");
	cr_assert_eq(msg.to_uri_rc, TDM_EMALFORMED);
	cr_assert_eq(msg.to.uri.len, 0);
	cr_assert_eq(msg.to.tag.len, 0);
	assert_tstr(msg.from.tag, "1");
}

Test(sip_parse, contact_star_must_be_alone)
{
	cr_assert_eq(parse_reg("Contact: *\r\nExpires: 0\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert(msg.contact_star);
	cr_assert_eq(msg.ncontacts, 0);
	cr_assert_eq(msg.expires, 0);

	cr_assert_eq(parse_reg("Contact:  * \r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert(msg.contact_star);

	static const char *const bad[] = {
		"Contact: *, <sip:a@b>\r\n",
		"Contact: <sip:a@b>, *\r\n",
		"Contact: *\r\nContact: <sip:a@b>\r\n",
		"Contact: <sip:a@b>\r\nm: *\r\n",
		"Contact: *\r\nContact: *\r\n",
		"Contact: *;expires=0\r\n",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse_reg(bad[i]), 0);
		cr_expect_eq(sip_parse_contacts(&msg), TDM_EMALFORMED, "%s", bad[i]);
		cr_expect_not(msg.contact_star && msg.ncontacts, "%s", bad[i]);
	}
}

Test(sip_parse, empty_or_malformed_contact_field_is_refused)
{
	cr_assert_eq(parse_reg("Contact:\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_eq(parse_reg("Contact: , ,\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_eq(parse_reg("Contact: \"Joe\" <sip:joe@example.org>;;;;\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Malformed Contact");
}

Test(sip_parse, contact_parse_resets_previous_results)
{
	cr_assert_eq(parse_reg("Contact: <sip:a@h1>, <sip:a@h2>\r\n"), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 2);
	cr_assert_eq(parse_reg(""), 0);
	cr_assert_eq(msg.ncontacts, 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, 0);
	cr_assert_not(msg.contact_star);
}

/* ------------------------------------------------------------------ */
/* Limits. */

/* A REGISTER with exactly `fields` header fields. */
static int parse_with_fields(unsigned fields)
{
	static char b[32768];
	int n = snprintf(b, sizeof(b), "%s", REG_START REG_CORE); /* 6 fields */

	for (unsigned i = 6; i < fields; i++)
		n += snprintf(b + n, sizeof(b) - (size_t)n, "X-F%u: %u\r\n", i, i);
	n += snprintf(b + n, sizeof(b) - (size_t)n, "\r\n");
	return parse_n(b, (size_t)n);
}

Test(sip_parse, header_limit_refuses_rather_than_truncates)
{
	cr_assert_eq(parse_with_fields(SIP_MAX_HEADERS), 0);
	cr_assert_eq(msg.nhdrs, SIP_MAX_HEADERS);
	cr_assert_eq(parse_with_fields(SIP_MAX_HEADERS + 1), TDM_EMALFORMED);
	cr_assert_str_eq(msg.error, "Too many header fields");
	cr_assert(msg.via_ok);
}

/* A REGISTER with n contacts, `per_field` values per Contact field. */
static int parse_with_contacts(unsigned n, unsigned per_field)
{
	static char b[32768];
	int len = snprintf(b, sizeof(b), "%s", REG_START REG_CORE);

	for (unsigned i = 0; i < n; i++) {
		bool start = i % per_field == 0, end = i % per_field == per_field - 1 || i == n - 1;
		len += snprintf(b + len, sizeof(b) - (size_t)len, "%s<sip:u@192.0.2.%u>%s",
				start ? "Contact: " : ", ", i + 1, end ? "\r\n" : "");
	}
	len += snprintf(b + len, sizeof(b) - (size_t)len, "\r\n");
	return parse_n(b, (size_t)len);
}

Test(sip_parse, contact_limit_refuses_rather_than_truncates)
{
	cr_assert_eq(parse_with_contacts(SIP_MAX_CONTACTS, 1), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, SIP_MAX_CONTACTS);
	assert_tstr(msg.contacts[SIP_MAX_CONTACTS - 1].na.uri, "sip:u@192.0.2.32");

	cr_assert_eq(parse_with_contacts(SIP_MAX_CONTACTS + 1, 1), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_ETOOMANY);
	cr_assert_str_eq(msg.error, "Too many Contact values");

	cr_assert_eq(parse_with_contacts(SIP_MAX_CONTACTS, SIP_MAX_CONTACTS), 0);
	cr_assert_eq(sip_parse_contacts(&msg), 0);
	cr_assert_eq(msg.ncontacts, SIP_MAX_CONTACTS);
	cr_assert_eq(parse_with_contacts(SIP_MAX_CONTACTS + 1, 5), 0);
	cr_assert_eq(sip_parse_contacts(&msg), TDM_ETOOMANY);
}

/* ------------------------------------------------------------------ */
/* Digest credentials. */

Test(sip_parse, digest_credentials_decode_with_lws_and_mixed_quoting)
{
	struct sip_digest_cred c;
	tstr v = TSTR_LIT("dIgEsT username=\"alice\",realm=\"example.com\" ,\r\n nonce = \"n0nce\","
			  " uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\","
			  " algorithm=SHA-256, cnonce=\"c\\\"n\", opaque=\"\", qop=auth, nc=00000001,"
			  " userhash=false, unknown=\"x,y\"");

	cr_assert_eq(sip_parse_digest_cred(v, &c), 0);
	assert_tstr(c.username, "alice");
	assert_tstr(c.realm, "example.com");
	assert_tstr(c.nonce, "n0nce");
	assert_tstr(c.uri, "sip:example.com");
	assert_tstr(c.response, "0123456789abcdef0123456789abcdef");
	assert_tstr(c.algorithm, "SHA-256");
	assert_tstr(c.cnonce, "c\\\"n");
	cr_assert_eq(c.opaque.len, 0);
	assert_tstr(c.qop, "auth");
	assert_tstr(c.nc, "00000001");
}

Test(sip_parse, digest_absent_algorithm_is_empty)
{
	struct sip_digest_cred c;

	cr_assert_eq(sip_parse_digest_cred(TSTR_LIT("Digest username=\"a\", realm=\"r\", nonce=\"n\","
						    " uri=\"sip:r\", response=\"x\""), &c), 0);
	cr_assert_eq(c.algorithm.len, 0);
	cr_assert_eq(c.qop.len, 0);
}

Test(sip_parse, digest_non_digest_scheme_is_not_found)
{
	struct sip_digest_cred c;

	cr_assert_eq(sip_parse_digest_cred(TSTR_LIT("NoOneKnowsThisScheme opaque-data=here"), &c),
		     TDM_ENOTFOUND);
	cr_assert_eq(sip_parse_digest_cred(TSTR_LIT("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), &c),
		     TDM_ENOTFOUND);
	cr_assert_eq(sip_parse_digest_cred(TSTR_LIT("Digestive username=\"a\""), &c), TDM_ENOTFOUND);
}

Test(sip_parse, digest_malformed_credentials_are_refused)
{
	static const char *const bad[] = {
		"",
		"Digest",
		"Digest ",
		"Digest,username=\"a\"",
		"Digest username=\"a\", username=\"b\"",
		"Digest REALM=\"a\", realm=\"b\"",
		"Digest username=\"a",
		"Digest username",
		"Digest username=",
		"Digest username=\"a\" realm=\"b\"",
		"Digest =\"a\"",
		"Digest username=a b",
		"Digest username=\"a\\",
	};
	struct sip_digest_cred c;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sip_parse_digest_cred(tstr_cstr(bad[i]), &c), TDM_EMALFORMED, "%s", bad[i]);
}

Test(sip_parse, digest_empty_list_elements_are_skipped)
{
	struct sip_digest_cred c;

	cr_assert_eq(sip_parse_digest_cred(TSTR_LIT("Digest ,, username=\"a\" ,, realm=r,"), &c), 0);
	assert_tstr(c.username, "a");
	assert_tstr(c.realm, "r");
}

/* ------------------------------------------------------------------ */
/* Hostile input: truncation and out-of-bounds reads. */

/* Everything a handler may call on a parsed message. */
static void exercise(struct sip_msg *m)
{
	struct sip_digest_cred c;
	struct sip_uri u;
	char aor[256];

	sip_parse_contacts(m);
	if (m->ruri.len && sip_uri_parse(m->ruri, &u) == 0)
		sip_aor_canon(&u, aor, sizeof(aor));
	if (m->to.uri.len && sip_uri_parse(m->to.uri, &u) == 0)
		sip_aor_canon(&u, aor, sizeof(aor));
	for (unsigned i = 0; i < m->ncontacts; i++)
		if (sip_uri_parse(m->contacts[i].na.uri, &u) == 0)
			sip_uri_equal(m->contacts[i].na.uri, m->to.uri);
	for (const struct sip_header *h = sip_header_first(m, SIP_HDR_AUTHORIZATION); h;
	     h = sip_header_next(m, h))
		sip_parse_digest_cred(h->value, &c);
	sip_has_option_tag(m, SIP_HDR_REQUIRE, "path");
}

Test(sip_parse, every_truncation_of_a_valid_register_is_refused_safely)
{
	static const char m[] =
		REG_START REG_CORE
		"Contact: \"A\" <sip:alice@[2001:db8::1]:5060;transport=udp>;expires=3600;q=0.5,"
		" <sip:alice@192.0.2.10>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n"
		"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\","
		" uri=\"sip:example.com\", response=\"r\"\r\n"
		"Content-Length: 4\r\n\r\nbody";
	size_t len = sizeof(m) - 1;

	cr_assert_eq(parse_n(m, len), 0);
	for (size_t n = 0; n < len; n++) {
		char *b = malloc(n ? n : 1);
		int r;

		cr_assert_not_null(b);
		memcpy(b, m, n);
		r = sip_parse(&msg, b, (uint32_t)n);
		cr_expect_neq(r, 0, "prefix of %zu bytes accepted", n);
		exercise(&msg);
		free(b);
	}
}

/* Parse every prefix of s placed so that its last byte is right before a
 * PROT_NONE page: any read past the end faults. */
static void guard_page_prefixes(const char *s, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t span = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	char *map;

	if (span == 0)
		span = (size_t)pg;
	map = mmap(NULL, span + (size_t)pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mprotect(map + span, (size_t)pg, PROT_NONE), 0);
	for (size_t n = 0; n <= len; n++) {
		char *p = map + span - n;
		memcpy(p, s, n);
		sip_parse(&msg, p, (uint32_t)n);
		exercise(&msg);
	}
	munmap(map, span + (size_t)pg);
}

Test(sip_parse, guard_page_no_prefix_of_any_message_reads_past_its_end)
{
	static const char hand[] =
		"REGISTER sip:%41lice@[2001:db8::1]:5060;transport=udp?x=%3C SIP/2.0\r\n"
		"v: SIP/2.0/UDP [2001:db8::2]:5060;branch=z9hG4bK1;received=2001:db8::3;rport\r\n"
		"To: \"A \\\"q\\\" \" <sip:alice@example.com>\r\n"
		"f: Alice <sip:alice@example.com>;tag=9\r\n"
		"i: x@y\r\nCSeq: 1\r\n REGISTER\r\nExpires: 99999999999999\r\n"
		"m: <sip:a@h>;q=1.000;expires=1;+sip.instance=\"<urn:x>\";reg-id=3, *\r\n"
		"Authorization: Digest username=\"a\",nonce=\"\\\"\"\r\n"
		"Require: path\r\nl: 0\r\n\r\n";

	guard_page_prefixes(hand, sizeof(hand) - 1);
	guard_page_prefixes(reg_typical, sizeof(reg_typical) - 1);
	for (unsigned i = 0; i < sizeof(torture) / sizeof(torture[0]); i++) {
		uint32_t n;
		const char *b = load(torture[i].file, &n);
		guard_page_prefixes(b, n);
	}
}

Test(sip_parse, guard_page_helpers_stop_at_the_end_of_their_input)
{
	static const char *const inputs[] = {
		"\"unterminated", "\"esc\\", "<sip:a@b", ";a=\"x", "Digest a=\"x\\",
		"sip:a@[2001:db8::1", "SIP/2.0/UDP h:", "a, \"b",
	};
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (unsigned i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t n = strlen(inputs[i]);
		char *p = map + pg - n;
		struct sip_nameaddr na;
		struct sip_via via;
		struct sip_digest_cred c;
		struct sip_uri u;
		uint32_t pos = 0;
		tstr t = tstr_make(p, n), a, b;

		memcpy(p, inputs[i], n);
		sip_parse_nameaddr(t, &na);
		sip_parse_via(t, &via);
		sip_parse_digest_cred(t, &c);
		sip_uri_parse(t, &u);
		sip_uri_equal(t, t);
		sip_param_find(t, "a", &a);
		while (sip_list_next(t, &pos, &b))
			;
		sip_host_len(t);
	}
	munmap(map, 2 * (size_t)pg);
}

/* ------------------------------------------------------------------ */
/* Fast paths against the general path (differential).
 *
 * sip_parse() and sip_parse_contacts() take shortcuts for the usual
 * shapes of a field. Each check below recomputes a decoded result with
 * the general, public functions and asserts that it is the same, down to
 * the pointers; the corpus is every RFC 4475 message plus a typical
 * REGISTER with every byte of its interesting fields replaced by each of
 * the 256 octets in turn. */

static bool same_tstr(tstr a, tstr b)
{
	return a.len == b.len && (a.len == 0 || a.s == b.s);
}

static void expect_same_uri(const struct sip_uri *a, const struct sip_uri *b, const char *what)
{
	cr_expect(a->scheme == b->scheme && same_tstr(a->scheme_name, b->scheme_name) &&
		  same_tstr(a->user, b->user) && same_tstr(a->password, b->password) &&
		  same_tstr(a->host, b->host) && a->port == b->port &&
		  same_tstr(a->params, b->params) && same_tstr(a->headers, b->headers),
		  "%s: decoded URI differs from sip_uri_parse()", what);
}

static void expect_same_nameaddr(const struct sip_nameaddr *a, const struct sip_nameaddr *b,
				 const char *what)
{
	cr_expect(same_tstr(a->display, b->display) && same_tstr(a->uri, b->uri) &&
		  same_tstr(a->params, b->params) && same_tstr(a->tag, b->tag) &&
		  a->bracketed == b->bracketed,
		  "%s: name-addr differs from sip_parse_nameaddr()", what);
}

/* A URI decoded once by the parser (rc, u) is what sip_uri_parse() of
 * its text gives. */
static void expect_uri_decoded_once(tstr text, int rc, const struct sip_uri *u, const char *what)
{
	struct sip_uri want;
	int want_rc = sip_uri_parse(text, &want);

	cr_expect_eq(rc, want_rc, "%s: rc %d, sip_uri_parse() says %d", what, rc, want_rc);
	if (rc == 0 && want_rc == 0)
		expect_same_uri(u, &want, what);
}

/* The tag of a decoded name-addr is what the general parameter grammar
 * (sip_param_next()) finds in its parameters: the first "tag", any case,
 * a token; and parameters it accepted are well-formed. */
static void expect_tag_as_params_say(const struct sip_nameaddr *na, const char *what)
{
	tstr name, value, want = TSTR_NULL;
	uint32_t pos = 0;
	bool found = false;
	int r;

	while ((r = sip_param_next(na->params, &pos, &name, &value)) > 0) {
		if (!found && tstr_caseeq(name, TSTR_LIT("tag"))) {
			found = true;
			want = value;
		}
	}
	cr_expect_eq(r, 0, "%s: accepted parameters the general grammar refuses", what);
	cr_expect(same_tstr(na->tag, want), "%s: tag \"%.*s\", the parameters say \"%.*s\"",
		  what, (int)na->tag.len, na->tag.s, (int)want.len, want.s);
}

/* The expires of a contact as the general grammar reads its parameters:
 * the first "expires", delta-seconds saturating at 2^32-1, anything else
 * absent. */
static int64_t expires_as_params_say(tstr params)
{
	uint64_t n = 0;
	tstr v;

	if (!sip_param_find(params, "expires", &v) || v.len == 0)
		return SIP_ABSENT;
	for (uint32_t i = 0; i < v.len; i++) {
		if (v.s[i] < '0' || v.s[i] > '9')
			return SIP_ABSENT;
		if (n <= UINT32_MAX)
			n = n * 10 + (uint64_t)(v.s[i] - '0');
	}
	return n > UINT32_MAX ? (int64_t)UINT32_MAX : (int64_t)n;
}

/* The top Via of m is what sip_list_next() and sip_parse_via() (the
 * general grammar) make of the first Via field. */
static void expect_via_as_general(const struct sip_msg *m)
{
	const struct sip_header *h = sip_header_first(m, SIP_HDR_VIA);
	struct sip_via want;
	uint32_t pos = 0;
	tstr parm;
	bool ok;

	if (h == NULL)
		return;
	ok = sip_list_next(h->value, &pos, &parm) && sip_parse_via(parm, &want) == 0;
	cr_expect_eq(m->via_ok, ok, "Via \"%.*s\": via_ok %d, the general grammar says %d",
		     (int)h->value.len, h->value.s, m->via_ok, ok);
	if (!ok || !m->via_ok)
		return;
	cr_expect(same_tstr(m->via.value, want.value) && same_tstr(m->via.protocol, want.protocol) &&
		  same_tstr(m->via.transport, want.transport) && same_tstr(m->via.host, want.host) &&
		  m->via.port == want.port && same_tstr(m->via.params, want.params) &&
		  same_tstr(m->via.branch, want.branch) && same_tstr(m->via.received, want.received) &&
		  same_tstr(m->via.maddr, want.maddr) && m->via.rport == want.rport,
		  "Via \"%.*s\" decoded unlike sip_parse_via()", (int)h->value.len, h->value.s);
}

/* The To of a REGISTER, From, the top Via and every Contact of m, against
 * the general decoders. */
static void expect_fast_paths_agree(struct sip_msg *m)
{
	const struct sip_header *h = sip_header_first(m, SIP_HDR_TO);
	struct sip_nameaddr na;
	unsigned k = 0;
	tstr v;

	expect_via_as_general(m);

	if (m->hdr_count[SIP_HDR_FROM] == 1 && m->from.uri.s)
		expect_tag_as_params_say(&m->from, "From");
	if (m->hdr_count[SIP_HDR_TO] == 1 && m->to.uri.s)
		expect_tag_as_params_say(&m->to, "To");

	if (m->method == SIP_REGISTER && h && m->hdr_count[SIP_HDR_TO] == 1) {
		if (sip_parse_nameaddr(h->value, &na) == 0) {
			expect_same_nameaddr(&m->to, &na, "To");
			expect_uri_decoded_once(m->to.uri, m->to_uri_rc, &m->to_uri, "To");
		} else {
			cr_expect_lt(m->to_uri_rc, 0, "To: malformed, yet its URI is decoded");
		}
	}
	if (sip_parse_contacts(m) != 0)
		return;
	for (h = sip_header_first(m, SIP_HDR_CONTACT); h; h = sip_header_next(m, h)) {
		uint32_t pos = 0;

		while (sip_list_next(h->value, &pos, &v)) {
			if (v.len == 1 && v.s[0] == '*')
				continue;
			cr_assert_lt(k, m->ncontacts);
			cr_assert_eq(sip_parse_nameaddr(v, &na), 0, "Contact %u", k);
			expect_same_nameaddr(&m->contacts[k].na, &na, "Contact");
			expect_tag_as_params_say(&m->contacts[k].na, "Contact");
			cr_expect_eq(m->contacts[k].expires,
				     expires_as_params_say(m->contacts[k].na.params),
				     "Contact %u: expires differs from the parameters", k);
			expect_uri_decoded_once(m->contacts[k].na.uri, m->contacts[k].uri_rc,
						&m->contacts[k].uri, "Contact");
			k++;
		}
	}
	cr_expect_eq(k, m->ncontacts);
}

/* reg_typical with the field that starts with `field` replaced by
 * "field: value", every byte of value in turn replaced by each octet. */
static void mutate_field(const char *field, const char *value)
{
	char b[1024];
	const char *at = strstr(reg_typical, field);
	size_t pre, vlen = strlen(value), post_at, n;

	cr_assert_not_null(at);
	pre = (size_t)(at - reg_typical) + strlen(field) + 2;
	post_at = (size_t)(strchr(at, '\r') - reg_typical);
	n = pre + vlen + (sizeof(reg_typical) - 1 - post_at);
	cr_assert_lt(n, sizeof(b));
	memcpy(b, reg_typical, pre);
	memcpy(b + pre, value, vlen);
	memcpy(b + pre + vlen, reg_typical + post_at, sizeof(reg_typical) - 1 - post_at);
	sip_parse(&msg, b, (uint32_t)n);
	expect_fast_paths_agree(&msg);
	for (size_t i = pre; i < pre + vlen; i++) {
		for (unsigned c = 0; c < 256; c++) {
			char saved = b[i];

			b[i] = (char)c;
			sip_parse(&msg, b, (uint32_t)n);
			expect_fast_paths_agree(&msg);
			b[i] = saved;
		}
	}
}

Test(sip_parse, differential_via_from_to_and_contacts_decode_as_the_general_functions_do)
{
	static const char *const values[] = {
		"\"Alice\" <sip:alice@example.com>",
		"<sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr?Subject=x&h=%20>;tag=9",
		"<sip:%41lice@EXAMPLE.com.:5060;user=phone>;expires=60;q=0.5",
		"<tel:+1-201-555-0123;phone-context=x>",
		"<urn:uuid:f81d4fae>;+sip.instance=\"<urn:uuid:1>\";reg-id=2",
		"Bob <sip:b@h>",
		"sip:b@h;tag=1",
		"<sip:b@h> ;tag=1",
		"\"a\\\"b\" <sip:b@h>",
		"\"a>b\" <sip:b@h>",
		"<sip:a@b>>",
		"<sip:a b@c>",
		"<sip:@h>",
		"\"Bob\" <sip:bob@example.com>;tag=1928301774",
		"<sip:b@h>;TaG=a.b-c!%*_+`'~",
		"<sip:b@h>;tag=a;tag=b",
		"<sip:b@h>;tag=\"q\"",
		"<sip:b@h>;tagx=1;tag=2",
		"<sip:b@h>;expires=3600",
		"<sip:b@h>;EXPIRES=99999999999",
		"<sip:b@h>;expires=\"60\"",
		"<sip:b@h>;expires=60;expires=70",
		"<sip:b@h>;expiresx=1;expires=2",
		"<sip:b@h>;expires=",
	};

	static const char *const vias[] = {
		"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
		"SIP/2.0/TCP h;BRANCH=x;RPORT",
		"SIP/2.0/UDP h:65535;rport=5060;branch=a",
		"SIP/2.0/UDP h:99999;branch=a",
		"SIP/2.0/UDP h;rportx;branch=b;branchy=c",
		"SIP/2.0/UDP h;branch=;rport",
		"SIP/2.0/UDPX h;branch=1",
		"SIP/2.0/UD h;rport;rport",
		"SIP/2.0/UDP h:0;branch=1",
		"SIP/2.0/UDP h;received=1.2.3.4;branch=z;maddr=x;branch=y",
		"SIP/2.0/UDP [::1]:5060;branch=z;rport, SIP/2.0/UDP h",
	};

	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		mutate_field("To", values[i]);
		mutate_field("From", values[i]);
		mutate_field("Contact", values[i]);
	}
	for (unsigned i = 0; i < sizeof(vias) / sizeof(vias[0]); i++)
		mutate_field("Via", vias[i]);
	for (unsigned i = 0; i < sizeof(torture) / sizeof(torture[0]); i++) {
		parse_file(torture[i].file);
		expect_fast_paths_agree(&msg);
		free_bufs();
	}
}

/* Every PSHUFB class table of sip_chars.h against chr_class, for all 256
 * byte values: the 16-byte scans and the byte loop agree on every byte. */
static const struct {
	const char *name;
	unsigned cls;
} nibble_classes[] = {
	{ "C_TOKEN", C_TOKEN }, { "C_PARAM", C_PARAM }, { "C_WORD", C_WORD },
	{ "C_URIC", C_URIC }, { "C_QSTOP", C_QSTOP }, { "C_ALNUM", C_ALNUM },
	{ "C_USER", C_USER },
};

Test(sip_parse, chars_nibble_tables_match_the_class_table_for_every_byte)
{
	for (unsigned k = 0; k < sizeof(nibble_classes) / sizeof(nibble_classes[0]); k++) {
		const uint8_t *lo = class_nibbles(nibble_classes[k].cls);

		cr_assert_not_null(lo, "%s has no table", nibble_classes[k].name);
		for (unsigned b = 0; b < 256; b++) {
			bool simd = (lo[b & 15] & class_hi[b >> 4]) != 0;
			bool table = (chr_class[b] & nibble_classes[k].cls) != 0;

			cr_assert_eq(simd, table, "%s, byte 0x%02x", nibble_classes[k].name, b);
		}
	}
}

/* sip_uri_parse() scans the user part with C_USER: it must hold exactly
 * the characters of RFC 3261 §25.1 user (unreserved / user-unreserved),
 * escapes apart. */
Test(sip_parse, chars_user_class_is_the_rfc3261_user_set)
{
	static const char user_marks[] = "-_.!~*'()&=+$,;?/";

	for (unsigned b = 0; b < 256; b++) {
		bool rfc = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
			   (b >= '0' && b <= '9') || (b != 0 && strchr(user_marks, (int)b) != NULL);

		cr_assert_eq((chr_class[b] & C_USER) != 0, rfc, "byte 0x%02x", b);
	}
}

/* span() / span_not() of class number k (the constant each needs). */
static uint32_t span_k(unsigned k, bool not, tstr s, uint32_t i)
{
	switch (k) {
	case 0: return not ? span_not(s, i, C_TOKEN) : span(s, i, C_TOKEN);
	case 1: return not ? span_not(s, i, C_PARAM) : span(s, i, C_PARAM);
	case 2: return not ? span_not(s, i, C_WORD) : span(s, i, C_WORD);
	case 3: return not ? span_not(s, i, C_URIC) : span(s, i, C_URIC);
	case 4: return not ? span_not(s, i, C_QSTOP) : span(s, i, C_QSTOP);
	case 6: return not ? span_not(s, i, C_USER) : span(s, i, C_USER);
	default: return not ? span_not(s, i, C_ALNUM) : span(s, i, C_ALNUM);
	}
}

Test(sip_parse, chars_spans_stop_where_a_byte_loop_stops)
{
	/* Mostly members of every class, some of none: runs of every length
	 * end at every position of a block. */
	static const char alphabet[] = "aZ09-._~%!'*+()[]:/&$?@=;,<>\\\"\" {}|^`#\t\r\n\x80\xff";
	unsigned seed = 12345;

	for (unsigned round = 0; round < 3000; round++) {
		uint32_t len = round % 48;
		char *buf = malloc(len ? len : 1);   /* exact size: ASan sees any over-read */

		cr_assert_not_null(buf);
		for (uint32_t j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			/* Three times in four a letter, so that runs are long. */
			buf[j] = (seed >> 16) % 4 ? 'a' + (char)((seed >> 20) % 26)
						  : alphabet[(seed >> 18) % (sizeof(alphabet) - 1)];
		}
		for (unsigned k = 0; k < sizeof(nibble_classes) / sizeof(nibble_classes[0]); k++) {
			unsigned cls = nibble_classes[k].cls;

			for (uint32_t i = 0; i <= len; i++) {
				uint32_t in = i, out = i;

				while (in < len && (chr_class[(unsigned char)buf[in]] & cls))
					in++;
				while (out < len && !(chr_class[(unsigned char)buf[out]] & cls))
					out++;
				cr_assert_eq(span_k(k, false, tstr_make(buf, len), i), in,
					     "span %s, length %u, from %u", nibble_classes[k].name, len, i);
				cr_assert_eq(span_k(k, true, tstr_make(buf, len), i), out,
					     "span_not %s, length %u, from %u", nibble_classes[k].name,
					     len, i);
			}
		}
		free(buf);
	}
}

/* sip_host_span() classifies a host 16 bytes at a time when the string
 * around it is long enough, and a byte at a time otherwise: the same host,
 * placed both ways, must get the same length. */
Test(sip_parse, differential_host_span_block_and_byte_loop_agree)
{
	static const char alphabet[] = "aZ09-.-.:;@>\x80";
	unsigned seed = 777;

	for (unsigned round = 0; round < 20000; round++) {
		char text[24], *shortbuf, *longbuf;
		uint32_t len = 1 + round % 20, pad = 16;

		for (uint32_t j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			text[j] = (seed >> 16) % 2 ? 'a' + (char)((seed >> 20) % 26)
						  : alphabet[(seed >> 18) % (sizeof(alphabet) - 1)];
		}
		/* Alone in an exact-size buffer (the byte loop below 16 bytes),
		 * and after 16 bytes of padding (the block). */
		shortbuf = malloc(len);
		longbuf = malloc(pad + len);
		cr_assert(shortbuf && longbuf);
		memcpy(shortbuf, text, len);
		memset(longbuf, 'x', pad);
		memcpy(longbuf + pad, text, len);
		if (len < 16)
			cr_assert_eq(sip_host_span(tstr_make(longbuf, pad + len), pad),
				     sip_host_len(tstr_make(shortbuf, len)),
				     "host \"%.*s\"", (int)len, text);
		else
			cr_assert_eq(sip_host_span(tstr_make(longbuf, pad + len), pad),
				     sip_host_len(tstr_make(shortbuf, len)));
		free(shortbuf);
		free(longbuf);
	}
	/* The usual hosts. */
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@example.com"), 10), 11);
	cr_assert_eq(sip_host_span(TSTR_LIT("SIP/2.0/UDP 192.0.2.10:5060;rport"), 12), 10);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@example.com.;lr"), 10), 12);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@exa--mple.c-om"), 10), 14);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@example-.com"), 10), 0);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@example..com"), 10), 0);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@example.-com"), 10), 0);
	cr_assert_eq(sip_host_span(TSTR_LIT("sip:alice@-example.com"), 10), 0);
}

/* sip_uri_parse_in() may scan the bytes after a URI (the " SIP/2.0" of a
 * Request-Line, the '>' of a name-addr): for every URI and whatever
 * follows it, the result is sip_uri_parse()'s. Each seed has every byte
 * in turn replaced by each octet, and is followed by each tail. */
Test(sip_parse, differential_uri_parse_in_gives_what_sip_uri_parse_gives)
{
	static const char *const seeds[] = {
		"sip:example.com", "sip:a@b", "sip:user@[::1]:5060", "sips:x@h.example.:5061;lr",
		"sip:@h", "sip:user@", "sip:h-", "sip:a.b", "sip:alice:pw@h?x=y", "tel:+123",
	};
	static const char *const tails[] = {
		" SIP/2.0", ">;tag=1", "a", ".", "-", "[::1]", "]", "@x", ":5060", "%41", "",
	};
	char b[64];

	for (unsigned s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		size_t len = strlen(seeds[s]);

		for (unsigned t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			size_t tl = strlen(tails[t]);
			char *buf = malloc(len + tl);   /* exact size: ASan sees any over-read */

			cr_assert_not_null(buf);
			memcpy(b, seeds[s], len);
			for (size_t i = 0; i <= len; i++) {
				for (unsigned c = 0; c < 256; c++) {
					struct sip_uri in, want;
					tstr text = tstr_make(buf, len);
					int rc_in, rc;

					memcpy(buf, b, len);
					if (i < len)
						buf[i] = (char)c;
					memcpy(buf + len, tails[t], tl);
					rc_in = sip_uri_parse_in(text, (uint32_t)tl, &in);
					rc = sip_uri_parse(text, &want);
					cr_assert_eq(rc_in, rc, "\"%.*s\" + \"%s\"", (int)len, buf, tails[t]);
					if (rc == 0)
						expect_same_uri(&in, &want, seeds[s]);
					if (i == len)
						break;
				}
			}
			free(buf);
		}
	}
}

/* digits4() takes four bytes when each is '0'..'9', whatever the others
 * are, with their decimal value: every byte value in every position. */
Test(sip_parse, chars_digits4_accepts_exactly_four_decimal_digits)
{
	static const unsigned char fill[] = { '0', '5', '9' };

	for (unsigned pos = 0; pos < 4; pos++) {
		for (unsigned f = 0; f < sizeof(fill); f++) {
			for (unsigned b = 0; b < 256; b++) {
				char p[4];
				uint32_t got = 0, want = 0;
				bool digits = true;

				memset(p, fill[f], sizeof(p));
				p[pos] = (char)b;
				for (unsigned k = 0; k < 4; k++) {
					digits &= p[k] >= '0' && p[k] <= '9';
					want = want * 10 + (uint32_t)(p[k] - '0');
				}
				cr_assert_eq(digits4(p, &got), digits, "byte 0x%02x at %u", b, pos);
				if (digits)
					cr_assert_eq(got, want);
			}
		}
	}
}

/* The port of a URI and of the top Via: four digits take a shortcut, any
 * other count the loop; both give 1..65535 or refuse. */
Test(sip_parse, ports_of_every_length_decode_or_are_refused)
{
	static const struct {
		const char *port;
		int value; /* -1: refused */
	} ports[] = {
		{ "5060", 5060 }, { "0000", -1 }, { "0001", 1 }, { "9999", 9999 },
		{ "65535", 65535 }, { "65536", -1 }, { "50601", 50601 }, { "506", 506 },
		{ "5", 5 }, { "0", -1 }, { "000005060", 5060 }, { "99999999999", -1 }, { "", -1 },
	};
	char text[64], msgtext[512];

	for (unsigned k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
		struct sip_uri u;
		struct sip_via via;
		int n, rc;

		n = snprintf(text, sizeof(text), "sip:alice@example.com:%s", ports[k].port);
		rc = sip_uri_parse(tstr_make(exact(text, (size_t)n), (size_t)n), &u);
		cr_assert_eq(rc == 0, ports[k].value >= 0, "URI port \"%s\"", ports[k].port);
		if (rc == 0)
			cr_assert_eq(u.port, ports[k].value, "URI port \"%s\"", ports[k].port);
		n = snprintf(text, sizeof(text), "sip:alice@example.com:%s;lr", ports[k].port);
		rc = sip_uri_parse(tstr_make(exact(text, (size_t)n), (size_t)n), &u);
		cr_assert_eq(rc == 0, ports[k].value >= 0, "URI port \"%s;lr\"", ports[k].port);
		if (rc == 0)
			cr_assert_eq(u.port, ports[k].value);

		n = snprintf(text, sizeof(text), "SIP/2.0/UDP 192.0.2.10:%s;branch=z9hG4bK1;rport",
			     ports[k].port);
		rc = sip_parse_via(tstr_make(exact(text, (size_t)n), (size_t)n), &via);
		cr_assert_eq(rc == 0, ports[k].value >= 0, "Via port \"%s\"", ports[k].port);
		if (rc == 0)
			cr_assert_eq(via.port, ports[k].value);
		/* The top Via of a whole message takes via_fast(). */
		n = snprintf(msgtext, sizeof(msgtext),
			     REG_START "Via: SIP/2.0/UDP 192.0.2.10:%s;branch=z9hG4bK1\r\n"
			     "To: <sip:a@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
			     "Call-ID: x@y\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
			     ports[k].port);
		cr_assert(n > 0 && (size_t)n < sizeof(msgtext));
		parse(msgtext);
		cr_assert_eq(msg.via_ok, ports[k].value >= 0, "top Via port \"%s\"", ports[k].port);
		if (msg.via_ok)
			cr_assert_eq(msg.via.port, ports[k].value);
	}
}
