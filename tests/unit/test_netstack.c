/* SPDX-License-Identifier: MIT */
/*
 * Tests of dataplane/netstack.c, the DPDK back end's network stack, without
 * DPDK: frames crafted byte by byte go in, answers are compared byte by
 * byte (the fixed frames below were computed independently, with Python's
 * struct module), and hostile frames (truncated, bad checksums, fragments,
 * other addresses, random bytes) must be dropped and counted.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "netstack.h"

/* The node: 02:00:00:00:00:01, 198.51.100.1:5060 and [2001:db8::1]:5060.
 * The peer: 02:00:00:00:00:02, 198.51.100.2 and 2001:db8::2. */
static const uint8_t NODE_MAC[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t PEER_MAC[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t NODE4[4] = { 198, 51, 100, 1 };
static const uint8_t PEER4[4] = { 198, 51, 100, 2 };
static const uint8_t NODE6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t PEER6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static const uint8_t arp_request[42] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x02, 0xc6, 0x33, 0x64, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xc6, 0x33, 0x64, 0x01,
};
static const uint8_t arp_reply[60] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x01, 0xc6, 0x33, 0x64, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0xc6, 0x33, 0x64, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t echo_request[74] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x01,
	0xd5, 0x22, 0xc6, 0x33, 0x64, 0x02, 0xc6, 0x33, 0x64, 0x01, 0x08, 0x00,
	0xd2, 0x52, 0x00, 0x77, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
	0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
	0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x30, 0x31, 0x32, 0x33,
	0x34, 0x35,
};
static const uint8_t echo_reply[74] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01,
	0x14, 0x23, 0xc6, 0x33, 0x64, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x00, 0x00,
	0xda, 0x52, 0x00, 0x77, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
	0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
	0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x30, 0x31, 0x32, 0x33,
	0x34, 0x35,
};
static const uint8_t udp4_reply[79] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x60, 0x00, 0x41, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11,
	0x25, 0xdb, 0xc6, 0x33, 0x64, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x13, 0xc4,
	0x13, 0xce, 0x00, 0x2d, 0x86, 0x3b, 0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e,
	0x30, 0x20, 0x32, 0x30, 0x30, 0x20, 0x4f, 0x4b, 0x0d, 0x0a, 0x43, 0x6f,
	0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x4c, 0x65, 0x6e, 0x67, 0x74, 0x68,
	0x3a, 0x20, 0x30, 0x0d, 0x0a, 0x0d, 0x0a,
};
static const uint8_t nd_solicit[86] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,
	0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x02, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, 0x1c, 0x27, 0x00, 0x00,
	0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02,
};
static const uint8_t nd_advert[86] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,
	0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0x00, 0x8a, 0x73, 0x60, 0x00,
	0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x01,
};

static struct netstack ns;
static struct ns_counters ctr;

static void setup(void)
{
	union tdm_addr l[3];
	char err[160];

	cr_assert_eq(addr_parse("198.51.100.1:5060", 0, &l[0]), 0);
	cr_assert_eq(addr_parse("[2001:db8::1]:5060", 0, &l[1]), 0);
	cr_assert_eq(addr_parse("198.51.100.1:5080", 0, &l[2]), 0);
	cr_assert_eq(ns_init(&ns, NODE_MAC, 1500, l, 3, err, sizeof(err)), 0, "%s", err);
	memset(&ctr, 0, sizeof(ctr));
}

TestSuite(netstack, .init = setup);

static uint64_t C(enum ns_ctr id)
{
	return ns_counter_get(&ctr, id);
}

/* ---------------------------------------------------------------- */
/* A reference checksum, word by word in network order (RFC 1071 §4.1). */

static uint32_t ref_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Pseudo-header sums (RFC 768, RFC 8200 §8.1). */
static uint32_t ref_pseudo4(const uint8_t *ip, uint8_t proto, uint32_t len)
{
	return ref_add(0, ip + 12, 8) + proto + len;
}

static uint32_t ref_pseudo6(const uint8_t *ip, uint8_t nh, uint32_t len)
{
	return ref_add(0, ip + 8, 32) + nh + len;
}

/* ---------------------------------------------------------------- */
/* Frame builders: a valid frame from the peer to the node, that a test may
 * then change (and re-checksum with fix4/fix6). */

#define L4_4 (14 + 20)                   /* UDP header of make_udp4() */
#define L4_6 (14 + 40)                   /* UDP header of make_udp6() */

static const char REGISTER[] =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 198.51.100.2:5070;branch=z9hG4bK776asdhds;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:alice@example.com>\r\n"
	"From: <sip:alice@example.com>;tag=1928301774\r\n"
	"Call-ID: a84b4c76e66710@198.51.100.2\r\n"
	"CSeq: 1 REGISTER\r\n"
	"Contact: <sip:alice@198.51.100.2:5070>\r\n"
	"Content-Length: 0\r\n\r\n";

static void fix4(uint8_t *f, uint32_t l2)
{
	uint8_t *ip = f + l2;
	uint32_t ihl = (ip[0] & 15u) * 4, tot = get16(ip + 2);

	put16(ip + 10, 0);
	put16(ip + 10, ref_fold(ref_add(0, ip, ihl)));
	if (ip[9] == 17 && tot >= ihl + 8) {
		uint8_t *u = ip + ihl;
		uint32_t ulen = get16(u + 4);
		put16(u + 6, 0);
		uint16_t c = ref_fold(ref_add(ref_pseudo4(ip, 17, ulen), u, ulen));
		put16(u + 6, c ? c : 0xffff);
	}
}

static void fix6(uint8_t *f, uint32_t l2, uint32_t l4, uint8_t proto)
{
	uint8_t *ip = f + l2, *u = f + l4;
	uint32_t len = l2 + 40 + get16(ip + 4) - l4;
	uint8_t *ck = proto == 17 ? u + 6 : u + 2;

	if (proto == 17)
		len = get16(u + 4);
	put16(ck, 0);
	uint16_t c = ref_fold(ref_add(ref_pseudo6(ip, proto, len), u, len));
	put16(ck, proto == 17 && c == 0 ? 0xffff : c);
}

static uint32_t make_eth(uint8_t *f, uint16_t type, int vlan)
{
	memcpy(f, NODE_MAC, 6);
	memcpy(f + 6, PEER_MAC, 6);
	if (vlan >= 0) {
		put16(f + 12, 0x8100);
		put16(f + 14, (uint16_t)vlan);
		put16(f + 16, type);
		return 18;
	}
	put16(f + 12, type);
	return 14;
}

static uint32_t make_udp4_vlan(uint8_t *f, const char *data, uint32_t len, int vlan)
{
	uint32_t l2 = make_eth(f, 0x0800, vlan);
	uint8_t *ip = f + l2, *u = ip + 20;

	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[1] = 0x68;                           /* DSCP AF31, ECN 0 */
	put16(ip + 2, (uint16_t)(28 + len));
	put16(ip + 4, 0xbeef);
	put16(ip + 6, 0x4000);                  /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, PEER4, 4);
	memcpy(ip + 16, NODE4, 4);
	put16(u, 5070);
	put16(u + 2, 5060);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	fix4(f, l2);
	return l2 + 28 + len;
}

static uint32_t make_udp4(uint8_t *f, const char *data, uint32_t len)
{
	return make_udp4_vlan(f, data, len, -1);
}

static uint32_t make_udp6(uint8_t *f, const char *data, uint32_t len)
{
	uint32_t l2 = make_eth(f, 0x86dd, -1);
	uint8_t *ip = f + l2, *u = ip + 40;

	memset(ip, 0, 48);
	ip[0] = 0x6b;                           /* traffic class 0xb8 (EF) */
	ip[1] = 0x80;
	put16(ip + 4, (uint16_t)(8 + len));
	ip[6] = 17;
	ip[7] = 64;
	memcpy(ip + 8, PEER6, 16);
	memcpy(ip + 24, NODE6, 16);
	put16(u, 5070);
	put16(u + 2, 5060);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	fix6(f, l2, l2 + 40, 17);
	return l2 + 48 + len;
}

/* Run ns_input on a copy of the frame in an exact-size heap buffer, so
 * that AddressSanitizer sees any read past its end. */
static enum ns_verdict input_exact(const uint8_t *frame, uint32_t len, unsigned flags)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct ns_datagram dg;
	uint32_t rl;
	enum ns_verdict v;

	memcpy(copy, frame, len);
	v = ns_input(&ns, &ctr, copy, len, len, flags, &dg, &rl);
	if (v == NS_DATAGRAM)
		cr_assert(dg.data >= copy && dg.data + dg.len <= copy + len);
	if (v == NS_REPLY)
		cr_assert_leq(rl, len);
	free(copy);
	return v;
}

static enum ns_verdict input(uint8_t *f, uint32_t len, struct ns_datagram *dg, uint32_t *rl)
{
	return ns_input(&ns, &ctr, f, len, 2048, 0, dg, rl);
}

/* ---------------------------------------------------------------- */
/* Set-up */

Test(netstack, init_rejects_wildcard_port_zero_and_multicast_addresses)
{
	struct netstack n;
	union tdm_addr a;
	char err[160];

	addr_parse("0.0.0.0:5060", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 1, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "0.0.0.0:5060") && strstr(err, "wildcard"), "%s", err);
	addr_parse("[::]:5060", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 1, err, sizeof(err)), TDM_ECONFIG);
	addr_parse("198.51.100.1:0", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 1, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "port"), "%s", err);
	addr_parse("224.0.0.1:5060", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 1, err, sizeof(err)), TDM_ECONFIG);
	addr_parse("[ff02::1]:5060", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 1, err, sizeof(err)), TDM_ECONFIG);
	addr_parse("[2001:db8::1]:5060", 0, &a);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1000, &a, 1, err, sizeof(err)), TDM_ECONFIG,
		     "IPv6 needs an MTU of 1280");
	cr_assert_eq(ns_init(&n, NODE_MAC, 1280, &a, 1, err, sizeof(err)), 0);
	cr_assert_eq(ns_init(&n, NODE_MAC, 1500, &a, 0, err, sizeof(err)), TDM_ECONFIG);
	cr_assert_eq(ns_init(&n, (const uint8_t[6]){ 1, 0, 0, 0, 0, 1 }, 1500, &a, 1, err,
			     sizeof(err)), TDM_ECONFIG, "a multicast MAC cannot be the node's");
}

Test(netstack, checksum_matches_reference_for_any_length_and_split)
{
	uint8_t buf[1031];

	srand(7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t len = 0; len <= sizeof(buf); len += 1 + len / 8) {
		uint16_t want = htons(ref_fold(ref_add(0, buf, len)));
		cr_assert_eq(ns_cksum_fold(ns_cksum_add(0, buf, len)), want, "len %zu", len);
		for (size_t cut = 0; cut <= len; cut += 2) {
			uint32_t s = ns_cksum_add(ns_cksum_add(0, buf, cut), buf + cut, len - cut);
			cr_assert_eq(ns_cksum_fold(s), want, "len %zu cut %zu", len, cut);
		}
	}
}

/* The vector loop (64 and 16 bytes a turn) and its tails: every length up
 * to a few turns, from every alignment, on random bytes and on all-ones
 * (the largest words, where a lost carry would show). */
Test(netstack, checksum_vector_loop_matches_reference_at_every_length_and_alignment)
{
	static uint8_t buf[300 + 16];

	for (int fill = 0; fill < 2; fill++) {
		srand(11);
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = fill ? 0xff : (uint8_t)rand();
		for (size_t off = 0; off < 16; off++)
			for (size_t len = 0; len <= 300; len++) {
				uint16_t want = htons(ref_fold(ref_add(0, buf + off, len)));
				cr_assert_eq(ns_cksum_fold(ns_cksum_add(0, buf + off, len)), want,
					     "fill %d off %zu len %zu", fill, off, len);
				cr_assert_eq(ns_cksum_fold(ns_cksum_add_noavx2(0, buf + off, len)),
					     want, "no AVX2: fill %d off %zu len %zu", fill, off, len);
			}
	}
}

Test(netstack, checksum_of_a_largest_datagram_of_ones_does_not_overflow)
{
	static uint8_t buf[65535];

	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(ns_cksum_fold(ns_cksum_add(0xffffffffu, buf, sizeof(buf))),
		     htons(ref_fold(ref_add(0xffffffffu % 0xffff, buf, sizeof(buf)))));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(ns_cksum_fold(ns_cksum_add(0, buf, sizeof(buf))),
		     htons(ref_fold(ref_add(0, buf, sizeof(buf)))));
	cr_assert_eq(ns_cksum_fold(ns_cksum_add_noavx2(0, buf, sizeof(buf))),
		     htons(ref_fold(ref_add(0, buf, sizeof(buf)))));
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(ns_cksum_fold(ns_cksum_add_noavx2(0, buf, sizeof(buf))),
		     htons(ref_fold(ref_add(0, buf, sizeof(buf)))));
}

/* ---------------------------------------------------------------- */
/* ARP */

Test(netstack, arp_request_for_node_address_is_answered_byte_by_byte)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, arp_request, sizeof(arp_request));
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_REPLY);
	cr_assert_eq(rl, sizeof(arp_reply));
	cr_assert_arr_eq(f, arp_reply, sizeof(arp_reply));
	cr_assert_eq(C(NS_CTR_arp_replies), 1);
}

Test(netstack, arp_request_in_a_vlan_is_answered_in_the_same_vlan)
{
	uint8_t f[2048], want[64];
	uint32_t rl;
	struct ns_datagram dg;

	/* The same request and answer with a tag (PCP 5, VID 100) inserted. */
	memcpy(f, arp_request, 12);
	put16(f + 12, 0x8100);
	put16(f + 14, 0xa064);
	memcpy(f + 16, arp_request + 12, sizeof(arp_request) - 12);
	memcpy(want, arp_reply, 12);
	put16(want + 12, 0x8100);
	put16(want + 14, 0xa064);
	memcpy(want + 16, arp_reply + 12, 42 - 12);
	memset(want + 46, 0, 14);
	cr_assert_eq(input(f, sizeof(arp_request) + 4, &dg, &rl), NS_REPLY);
	cr_assert_eq(rl, 60);
	cr_assert_arr_eq(f, want, 60);
}

Test(netstack, arp_for_another_address_or_not_a_request_is_ignored)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, arp_request, sizeof(arp_request));
	f[41] = 9;                              /* who has 198.51.100.9 */
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_DROP);
	memcpy(f, arp_request, sizeof(arp_request));
	f[21] = 2;                              /* an ARP reply */
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_arp_other), 2);
	memcpy(f, arp_request, sizeof(arp_request));
	f[0] = 0x04;                            /* unicast to another MAC */
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_not_for_us), 1);
	memcpy(f, arp_request, sizeof(arp_request));
	f[19] = 16;                             /* not Ethernet/IPv4 sizes */
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_bad_header), 1);
	cr_assert_eq(C(NS_CTR_arp_replies), 0);
}

Test(netstack, arp_probe_with_zero_sender_address_is_answered)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, arp_request, sizeof(arp_request));
	memset(f + 28, 0, 4);                   /* RFC 5227 probe */
	cr_assert_eq(input(f, sizeof(arp_request), &dg, &rl), NS_REPLY);
	cr_assert_arr_eq(f + 38, (uint8_t[4]){ 0 }, 4, "target protocol address is 0.0.0.0");
	cr_assert_arr_eq(f + 28, NODE4, 4);
}

Test(netstack, truncated_arp_is_dropped)
{
	for (uint32_t len = 0; len < sizeof(arp_request); len++)
		cr_assert_eq(input_exact(arp_request, len, 0), NS_DROP, "len %u", len);
	cr_assert_eq(C(NS_CTR_drop_truncated), sizeof(arp_request));
}

/* ---------------------------------------------------------------- */
/* ICMP and ICMPv6 echo */

Test(netstack, icmp_echo_is_answered_byte_by_byte)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, echo_request, sizeof(echo_request));
	cr_assert_eq(input(f, sizeof(echo_request), &dg, &rl), NS_REPLY);
	cr_assert_eq(rl, sizeof(echo_reply));
	cr_assert_arr_eq(f, echo_reply, sizeof(echo_reply));
	cr_assert_eq(C(NS_CTR_icmp_echo_replies), 1);
}

Test(netstack, icmp_with_bad_checksum_or_other_type_is_dropped)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, echo_request, sizeof(echo_request));
	f[73] ^= 1;
	cr_assert_eq(input(f, sizeof(echo_request), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_icmp_cksum), 1);
	memcpy(f, echo_request, sizeof(echo_request));
	f[34] = 13;                             /* timestamp request */
	f[36] = 0;
	f[37] = 0;
	put16(f + 36, ref_fold(ref_add(0, f + 34, 40)));
	cr_assert_eq(input(f, sizeof(echo_request), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_icmp_other), 1);
	cr_assert_eq(C(NS_CTR_icmp_echo_replies), 0);
}

Test(netstack, icmp6_echo_is_answered_with_reply_checksum_valid)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, "ping-data", 9);
	struct ns_datagram dg;

	/* Turn the UDP frame into an echo request: id 0x77, seq 1. */
	uint8_t *ip = f + 14, *e = ip + 40;
	ip[6] = 58;
	e[0] = 128;
	e[1] = 0;
	put16(e + 4, 0x77);
	put16(e + 6, 1);
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, len, &dg, &rl), NS_REPLY);
	cr_assert_eq(rl, len);
	cr_assert_arr_eq(f, PEER_MAC, 6);
	cr_assert_arr_eq(f + 6, NODE_MAC, 6);
	cr_assert_arr_eq(ip + 8, NODE6, 16);
	cr_assert_arr_eq(ip + 24, PEER6, 16);
	cr_assert_eq(ip[7], 64);
	cr_assert_eq(e[0], 129);
	cr_assert_eq(get16(e + 4), 0x77);
	cr_assert_eq(get16(e + 6), 1);
	cr_assert_arr_eq(e + 8, "ping-data", 9);
	cr_assert_eq(ref_fold(ref_add(ref_pseudo6(ip, 58, 17), e, 17)), 0, "checksum");
	cr_assert_eq(C(NS_CTR_icmp6_echo_replies), 1);
}

/* ---------------------------------------------------------------- */
/* Neighbour discovery */

Test(netstack, neighbour_solicitation_gets_solicited_advert_byte_by_byte)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_REPLY);
	cr_assert_eq(rl, sizeof(nd_advert));
	cr_assert_arr_eq(f, nd_advert, sizeof(nd_advert));
	cr_assert_eq(C(NS_CTR_nd_adverts), 1);
}

Test(netstack, unicast_solicitation_for_node_address_is_answered)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	memcpy(f, NODE_MAC, 6);                 /* NUD: unicast to the target */
	memcpy(f + 38, NODE6, 16);
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_REPLY);
	cr_assert_arr_eq(f, nd_advert, sizeof(nd_advert));
}

Test(netstack, duplicate_address_probe_is_answered_to_all_nodes)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;
	static const uint8_t all_nodes[16] = { 0xff, 2, [15] = 1 };

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	memset(f + 22, 0, 16);                  /* source :: */
	put16(f + 18, 24);                      /* without the SLLA option */
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, 14 + 40 + 24, &dg, &rl), NS_REPLY);
	cr_assert_arr_eq(f, ((uint8_t[6]){ 0x33, 0x33, 0, 0, 0, 1 }), 6);
	cr_assert_arr_eq(f + 38, all_nodes, 16);
	cr_assert_eq(f[58], 0x20, "Override without Solicited");
	cr_assert_eq(ref_fold(ref_add(ref_pseudo6(f + 14, 58, 32), f + 54, 32)), 0);
}

Test(netstack, solicitation_for_other_target_or_invalid_is_dropped_quietly)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	f[77] = 9;                              /* target 2001:db8::9 */
	f[53] = 9;                              /* and its solicited-node group */
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_nd_other), 1);

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	f[21] = 64;                             /* hop limit not 255: forwarded */
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_bad_header), 1);

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	f[79] = 0;                              /* an option of length 0 */
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_bad_header), 2);

	memcpy(f, nd_solicit, sizeof(nd_solicit));
	f[60] ^= 0x40;                          /* bad checksum */
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_icmp_cksum), 1);
	cr_assert_eq(C(NS_CTR_nd_adverts), 0);
}

Test(netstack, router_advertisements_and_mld_reports_are_dropped_quietly)
{
	uint8_t f[2048];
	uint32_t rl;
	struct ns_datagram dg;
	static const uint8_t all_nodes[16] = { 0xff, 2, [15] = 1 };
	static const uint8_t mld2[16] = { 0xff, 2, [15] = 0x16 };

	/* RA to ff02::1 */
	memcpy(f, nd_solicit, sizeof(nd_solicit));
	memcpy(f, ((uint8_t[6]){ 0x33, 0x33, 0, 0, 0, 1 }), 6);
	memcpy(f + 38, all_nodes, 16);
	f[54] = 134;
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	/* MLDv2 report to ff02::16 */
	memcpy(f + 38, mld2, 16);
	f[54] = 143;
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	/* a neighbour advertisement from someone else */
	memcpy(f + 38, all_nodes, 16);
	f[54] = 136;
	fix6(f, 14, 54, 58);
	cr_assert_eq(input(f, sizeof(nd_solicit), &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_nd_other), 3);
	cr_assert_eq(C(NS_CTR_tx_frames) + C(NS_CTR_nd_adverts), 0);
}

/* ---------------------------------------------------------------- */
/* UDP in */

Test(netstack, udp4_register_is_delivered_with_source_and_peer)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;
	char a[TDM_ADDR_STRLEN];

	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.len, sizeof(REGISTER) - 1);
	cr_assert_eq(dg.data, f + 42, "zero-copy: the payload in the frame");
	cr_assert_str_eq(addr_format(&dg.src, a, sizeof(a)), "198.51.100.2:5070");
	cr_assert_arr_eq(dg.peer.mac, PEER_MAC, 6);
	cr_assert_eq(dg.peer.vlan, false);
	cr_assert_eq(dg.peer.tclass, 0x68);
	cr_assert_eq(dg.peer.local, 0);
	cr_assert_eq(C(NS_CTR_rx_udp), 1);
}

Test(netstack, udp4_to_second_port_maps_to_its_listen_index)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	put16(f + L4_4 + 2, 5080);
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.peer.local, 2);
}

Test(netstack, udp4_in_vlan_is_delivered_with_the_tag)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4_vlan(f, REGISTER, sizeof(REGISTER) - 1, 0x2005);
	struct ns_datagram dg;

	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.peer.vlan, true);
	cr_assert_eq(dg.peer.vlan_tci, 0x2005);
	cr_assert_eq(dg.len, sizeof(REGISTER) - 1);
}

Test(netstack, udp4_with_ethernet_padding_uses_the_ip_length)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, "\r\n\r\n", 4);
	struct ns_datagram dg;

	cr_assert_lt(len, 60);
	memset(f + len, 0xaa, 60 - len);        /* padding that is not data */
	cr_assert_eq(input(f, 60, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.len, 4);
}

Test(netstack, udp4_with_ip_options_is_delivered)
{
	uint8_t f[2048], g[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	/* Insert 4 bytes of options (NOP NOP NOP EOL): IHL 6. */
	memcpy(g, f, 34);
	memcpy(g + 34, (uint8_t[4]){ 1, 1, 1, 0 }, 4);
	memcpy(g + 38, f + 34, len - 34);
	g[14] = 0x46;
	put16(g + 16, (uint16_t)(get16(f + 16) + 4));
	fix4(g, 14);
	cr_assert_eq(input(g, len + 4, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.data, g + 46);
}

Test(netstack, udp4_bad_checksum_is_dropped_and_zero_checksum_accepted)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	f[len - 5] ^= 0x20;                     /* one bit of the payload */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_udp_cksum), 1);
	put16(f + L4_4 + 6, 0);                 /* RFC 768: no checksum */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
}

Test(netstack, port_checksum_results_are_trusted)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	cr_assert_eq(ns_input(&ns, &ctr, f, len, 2048, NS_RX_L4_CKSUM_BAD, &dg, &rl), NS_DROP);
	cr_assert_eq(ns_input(&ns, &ctr, f, len, 2048, NS_RX_IP_CKSUM_BAD, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_udp_cksum), 1);
	cr_assert_eq(C(NS_CTR_drop_ip_cksum), 1);
	f[len - 5] ^= 0x20;
	f[24] ^= 0x01;                          /* both checksums now wrong */
	cr_assert_eq(ns_input(&ns, &ctr, f, len, 2048,
			      NS_RX_IP_CKSUM_GOOD | NS_RX_L4_CKSUM_GOOD, &dg, &rl), NS_DATAGRAM,
		     "verified by the port: not checked again");
}

Test(netstack, ip4_header_checksum_error_is_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	f[22] = 63;                             /* TTL changed, checksum not */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_ip_cksum), 1);
}

Test(netstack, ip4_fragments_are_dropped_and_counted)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	put16(f + 20, 0x2000);                  /* first fragment: MF */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	put16(f + 20, 0x00b9);                  /* last fragment: offset 1480 */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_fragment), 2);
	cr_assert_eq(C(NS_CTR_rx_udp), 0);
}

Test(netstack, udp4_for_other_address_port_or_mac_is_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	put16(f + L4_4 + 2, 5061);
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_udp_port), 1);

	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	f[33] = 7;                              /* 198.51.100.7 */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);

	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	f[5] = 9;                               /* another MAC */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	memset(f, 0xff, 6);                     /* broadcast */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_not_for_us), 3);
}

Test(netstack, bad_sources_are_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	f[6] |= 1;                              /* multicast source MAC */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	memset(f + 26, 0xff, 4);                /* from 255.255.255.255 */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	memset(f + 22, 0, 16);                  /* from :: */
	fix6(f, 14, L4_6, 17);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_bad_source), 3);
}

Test(netstack, other_protocols_are_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	f[23] = 6;                              /* TCP */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	put16(f + 12, 0x88cc);                  /* LLDP */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_proto), 2);
}

Test(netstack, malformed_ip4_and_udp_headers_are_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	f[14] = 0x44;                           /* IHL 4 */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	f[14] = 0x65;                           /* version 6 in an IPv4 frame */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	put16(f + L4_4 + 4, 7);                 /* UDP length below its header */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_bad_header), 3);
	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	put16(f + L4_4 + 4, (uint16_t)(len - L4_4 + 1));   /* past the IP packet */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);
	put16(f + 16, (uint16_t)(len - 14 + 1)); /* IP length past the frame */
	fix4(f, 14);
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_truncated), 2);
}

Test(netstack, every_truncation_of_udp_frames_is_dropped)
{
	uint8_t f[2048];
	uint32_t len4 = make_udp4(f, REGISTER, sizeof(REGISTER) - 1);

	for (uint32_t len = 0; len < len4; len++)
		cr_assert_eq(input_exact(f, len, 0), NS_DROP, "IPv4, %u bytes", len);
	cr_assert_eq(input_exact(f, len4, 0), NS_DATAGRAM);

	uint32_t len6 = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	for (uint32_t len = 0; len < len6; len++)
		cr_assert_eq(input_exact(f, len, 0), NS_DROP, "IPv6, %u bytes", len);
	cr_assert_eq(input_exact(f, len6, 0), NS_DATAGRAM);
	cr_assert_eq(C(NS_CTR_drop_truncated), len4 + len6);
}

Test(netstack, udp6_register_is_delivered)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;
	char a[TDM_ADDR_STRLEN];

	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.data, f + 62);
	cr_assert_eq(dg.len, sizeof(REGISTER) - 1);
	cr_assert_str_eq(addr_format(&dg.src, a, sizeof(a)), "[2001:db8::2]:5070");
	cr_assert_eq(dg.peer.local, 1);
	cr_assert_eq(dg.peer.tclass, 0xb8);
}

Test(netstack, udp6_without_or_with_bad_checksum_is_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	put16(f + L4_6 + 6, 0);                 /* RFC 8200 §8.1: invalid */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	f[100] ^= 4;
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_udp_cksum), 2);
}

/* Insert an extension header of type nh (8 bytes) before the UDP header. */
static uint32_t insert_ext6(uint8_t *f, uint32_t len, uint8_t type, uint8_t next_after)
{
	memmove(f + 62, f + 54, len - 54);
	memset(f + 54, 0, 8);
	f[54] = next_after;
	f[20] = type;
	put16(f + 18, (uint16_t)(get16(f + 18) + 8));
	return len + 8;
}

Test(netstack, udp6_after_hop_by_hop_and_destination_options_is_delivered)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	len = insert_ext6(f, len, 60, 17);      /* destination options */
	len = insert_ext6(f, len, 0, 60);       /* hop-by-hop first */
	f[56] = 1;                              /* a PadN option filling the header */
	f[57] = 4;
	cr_assert_eq(input(f, len, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.data, f + 54 + 16 + 8);
	cr_assert_eq(dg.len, sizeof(REGISTER) - 1);
}

Test(netstack, ip6_fragment_header_is_dropped_and_counted)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	len = insert_ext6(f, len, 44, 17);
	put16(f + 56, 1);                       /* offset 0, M */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	len = insert_ext6(f, len, 0, 44);       /* behind a hop-by-hop header */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_fragment), 2);
}

Test(netstack, hostile_ip6_extension_headers_are_dropped)
{
	uint8_t f[2048];
	uint32_t rl, len = make_udp6(f, REGISTER, sizeof(REGISTER) - 1);
	struct ns_datagram dg;

	len = insert_ext6(f, len, 0, 17);
	f[55] = 200;                            /* 1608 bytes long: past the packet */
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_truncated), 1);
	f[55] = 0;
	f[20] = 43;                             /* a routing header, segments left 1 */
	f[57] = 1;
	cr_assert_eq(input(f, len, &dg, &rl), NS_DROP);
	cr_assert_eq(C(NS_CTR_drop_proto), 1);
}

/* ---------------------------------------------------------------- */
/* UDP out */

static struct ns_peer peer4(void)
{
	struct ns_peer p = { .local = 0, .tclass = 0x60 };

	memcpy(p.mac, PEER_MAC, 6);
	return p;
}

Test(netstack, udp4_reply_frame_is_built_byte_by_byte)
{
	static const char ok[] = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ns_peer p = peer4();
	union tdm_addr dst;
	struct ns_tx tx;
	uint8_t f[2048];

	addr_parse("198.51.100.2:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, (const uint8_t *)ok, sizeof(ok) - 1, 7, 0,
				    &tx), 1);
	cr_assert_eq(ns_udp_frame(&tx, 0, f, sizeof(f)), sizeof(udp4_reply));
	cr_assert_arr_eq(f, udp4_reply, sizeof(udp4_reply));
	cr_assert_eq(ns_udp_frame(&tx, 0, f, sizeof(udp4_reply) - 1), 0, "too small a buffer");
	cr_assert_eq(ns_udp_frame(&tx, 1, f, sizeof(f)), 0, "only one frame");
}

Test(netstack, udp6_reply_in_vlan_has_valid_checksum_and_tag)
{
	static const char ok[] = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ns_peer p = { .local = 1, .vlan = true, .vlan_tci = 0x0064, .tclass = 0xb8 };
	union tdm_addr dst;
	struct ns_tx tx;
	uint8_t f[2048];
	uint32_t len;

	memcpy(p.mac, PEER_MAC, 6);
	addr_parse("[2001:db8::2]:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, (const uint8_t *)ok, sizeof(ok) - 1, 1, 0,
				    &tx), 1);
	len = ns_udp_frame(&tx, 0, f, sizeof(f));
	cr_assert_eq(len, 18 + 40 + 8 + sizeof(ok) - 1);
	cr_assert_eq(get16(f + 12), 0x8100);
	cr_assert_eq(get16(f + 14), 0x0064);
	cr_assert_eq(get16(f + 16), 0x86dd);
	uint8_t *ip = f + 18, *u = ip + 40;
	cr_assert_eq(ip[0], 0x6b);
	cr_assert_eq(ip[1], 0x80);
	cr_assert_eq(ip[6], 17);
	cr_assert_arr_eq(ip + 8, NODE6, 16);
	cr_assert_arr_eq(ip + 24, PEER6, 16);
	cr_assert_eq(get16(u), 5060);
	cr_assert_eq(get16(u + 2), 5070);
	cr_assert_eq(ref_fold(ref_add(ref_pseudo6(ip, 17, get16(u + 4)), u, get16(u + 4))), 0);
	cr_assert_arr_eq(u + 8, ok, sizeof(ok) - 1);

	/* And what we send, we accept (as the peer would). */
	struct netstack peer_ns;
	union tdm_addr me;
	struct ns_datagram dg;
	uint32_t rl;
	addr_parse("[2001:db8::2]:5070", 0, &me);
	cr_assert_eq(ns_init(&peer_ns, PEER_MAC, 1500, &me, 1, NULL, 0), 0);
	cr_assert_eq(ns_input(&peer_ns, &ctr, f, len, sizeof(f), 0, &dg, &rl), NS_DATAGRAM);
	cr_assert_eq(dg.len, sizeof(ok) - 1);
}

Test(netstack, reply_to_other_family_or_bad_local_is_refused)
{
	struct ns_peer p = peer4();
	union tdm_addr dst;
	struct ns_tx tx;

	addr_parse("[2001:db8::2]:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, (const uint8_t *)"x", 1, 1, 0, &tx),
		     TDM_EMALFORMED);
	p.local = 3;
	addr_parse("198.51.100.2:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, (const uint8_t *)"x", 1, 1, 0, &tx),
		     TDM_EMALFORMED);
}

Test(netstack, offloaded_reply_leaves_checksums_to_the_port)
{
	struct ns_peer p = peer4();
	union tdm_addr dst;
	struct ns_tx tx;
	uint8_t f[2048];

	addr_parse("198.51.100.2:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, (const uint8_t *)"hello", 5, 1,
				    NS_TX_IP_CKSUM | NS_TX_UDP_CKSUM, &tx), 1);
	cr_assert_eq(tx.offloads, NS_TX_IP_CKSUM | NS_TX_UDP_CKSUM);
	cr_assert_eq(tx.l2_len, 14);
	cr_assert_eq(tx.l3_len, 20);
	ns_udp_frame(&tx, 0, f, sizeof(f));
	cr_assert_eq(get16(f + 24), 0, "IP checksum left to the port");
	/* The UDP field holds the pseudo-header sum, not complemented. */
	uint16_t phdr = (uint16_t)~ref_fold(ref_pseudo4(f + 14, 17, 13));
	cr_assert_eq(get16(f + 40), phdr);
}

/* Reassemble the frames of tx; check every fragment; return the UDP
 * datagram length. */
static uint32_t reassemble(const struct ns_tx *tx, uint8_t *out, bool v6)
{
	uint8_t f[2048];
	uint32_t total = 0;
	bool last_seen = false;

	for (unsigned i = 0; i < tx->nframes; i++) {
		uint32_t len = ns_udp_frame(tx, i, f, sizeof(f));
		uint8_t *ip = f + 14;
		uint32_t off, n;
		bool more;

		cr_assert_gt(len, 0);
		cr_assert_leq(len, 14 + 1500, "frame %u fits the MTU", i);
		if (!v6) {
			cr_assert_eq(ref_fold(ref_add(0, ip, 20)), 0, "IP checksum of %u", i);
			cr_assert_eq(get16(ip + 4), tx->ident & 0xffff);
			off = (get16(ip + 6) & 0x1fffu) * 8;
			more = get16(ip + 6) & 0x2000;
			n = get16(ip + 2) - 20u;
			memcpy(out + off, ip + 20, n);
		} else {
			cr_assert_eq(ip[6], 44);
			uint8_t *fh = ip + 40;
			cr_assert_eq(fh[0], 17);
			cr_assert_eq(((uint32_t)fh[4] << 24 | (uint32_t)fh[5] << 16 | (uint32_t)fh[6] << 8 | fh[7]),
				     tx->ident);
			off = get16(fh + 2) & 0xfff8u;
			more = get16(fh + 2) & 1;
			n = get16(ip + 4) - 8u;
			memcpy(out + off, fh + 8, n);
		}
		cr_assert(more || i + 1 == tx->nframes, "MF on all but the last");
		cr_assert(!more || n % 8 == 0);
		last_seen = !more;
		if (off + n > total)
			total = off + n;
	}
	cr_assert(last_seen);
	return total;
}

Test(netstack, reply_larger_than_mtu_is_fragmented_ip4)
{
	static uint8_t payload[6000], out[8192];
	struct ns_peer p = peer4();
	union tdm_addr dst;
	struct ns_tx tx;
	uint8_t ip[20] = { 0 };

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 % 251);
	addr_parse("198.51.100.2:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, payload, sizeof(payload), 0x10203, 0, &tx), 5,
		     "6008 bytes in 1480-byte fragments");
	cr_assert_eq(reassemble(&tx, out, false), 8 + sizeof(payload));
	cr_assert_arr_eq(out + 8, payload, sizeof(payload));
	memcpy(ip + 12, NODE4, 4);
	memcpy(ip + 16, PEER4, 4);
	cr_assert_eq(ref_fold(ref_add(ref_pseudo4(ip, 17, 6008), out, 6008)), 0,
		     "the UDP checksum covers the whole datagram");
}

Test(netstack, reply_larger_than_mtu_is_fragmented_ip6)
{
	static uint8_t payload[3000], out[8192];
	struct ns_peer p = { .local = 1 };
	union tdm_addr dst;
	struct ns_tx tx;
	uint8_t ip[40] = { 0 };

	memcpy(p.mac, PEER_MAC, 6);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 % 253);
	addr_parse("[2001:db8::2]:5070", 0, &dst);
	cr_assert_eq(ns_udp_prepare(&ns, &p, &dst, payload, sizeof(payload), 0xabcdef01u,
				    NS_TX_UDP_CKSUM, &tx), 3);
	cr_assert_eq(tx.offloads, 0, "no checksum offload for fragments");
	cr_assert_eq(reassemble(&tx, out, true), 8 + sizeof(payload));
	cr_assert_arr_eq(out + 8, payload, sizeof(payload));
	memcpy(ip + 8, NODE6, 16);
	memcpy(ip + 24, PEER6, 16);
	cr_assert_eq(ref_fold(ref_add(ref_pseudo6(ip, 17, 3008), out, 3008)), 0);
}

/* ---------------------------------------------------------------- */
/* Hostile input */

Test(netstack, random_corruption_never_crashes_and_every_frame_is_counted_once)
{
	uint8_t base[5][2048], f[2048];
	uint32_t blen[5];
	unsigned seed = 12345;

	blen[0] = make_udp4_vlan(base[0], REGISTER, sizeof(REGISTER) - 1, 5);
	blen[1] = make_udp6(base[1], REGISTER, sizeof(REGISTER) - 1);
	memcpy(base[2], arp_request, sizeof(arp_request));
	blen[2] = sizeof(arp_request);
	memcpy(base[3], echo_request, sizeof(echo_request));
	blen[3] = sizeof(echo_request);
	memcpy(base[4], nd_solicit, sizeof(nd_solicit));
	blen[4] = sizeof(nd_solicit);

	for (unsigned iter = 0; iter < 100000; iter++) {
		unsigned b = (unsigned)rand_r(&seed) % 5;
		uint32_t len = blen[b];

		memcpy(f, base[b], len);
		for (int k = rand_r(&seed) % 4; k >= 0; k--)
			f[(unsigned)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
		if (rand_r(&seed) % 4 == 0)
			len = (uint32_t)rand_r(&seed) % (len + 1);
		input_exact(f, len, 0);
	}
	uint64_t sum = C(NS_CTR_rx_udp) + C(NS_CTR_arp_replies) + C(NS_CTR_nd_adverts) +
		       C(NS_CTR_icmp_echo_replies) + C(NS_CTR_icmp6_echo_replies);
	for (unsigned i = 0; i < NS_CTR_COUNT; i++)
		if (strncmp(ns_counter_name((enum ns_ctr)i), "drop_", 5) == 0)
			sum += C((enum ns_ctr)i);
	cr_assert_eq(C(NS_CTR_rx_frames), 100000);
	cr_assert_eq(sum, 100000, "each frame has exactly one outcome");
	cr_assert_gt(C(NS_CTR_rx_udp), 0);
}

Test(netstack, counters_have_names_and_sum_over_blocks)
{
	struct ns_counters a = { 0 }, b = { 0 };
	const struct ns_counters *blocks[2] = { &a, &b };
	uint64_t out[NS_CTR_COUNT];

	ns_count(&a, NS_CTR_rx_udp);
	ns_count_add(&b, NS_CTR_rx_udp, 4);
	ns_counters_sum(blocks, 2, out);
	cr_assert_eq(out[NS_CTR_rx_udp], 5);
	cr_assert_str_eq(ns_counter_name(NS_CTR_drop_fragment), "drop_fragment");
	cr_assert_str_eq(ns_counter_name(NS_CTR_COUNT), "?");
	for (unsigned i = 0; i < NS_CTR_COUNT; i++)
		cr_assert_gt(strlen(ns_counter_help((enum ns_ctr)i)), 5);
}
