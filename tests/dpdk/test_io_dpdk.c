/* SPDX-License-Identifier: MIT */
/*
 * The DPDK back end in one process, without a NIC or hugepages: the EAL
 * with --no-huge --no-pci --no-shconf, and a net_ring port made with
 * rte_eth_from_rings() over two rings of our own (a --vdev=net_ring0 loops
 * TX back into RX, which would feed the node its own answers). The test
 * puts crafted frames on the port's RX ring, the node's worker lcore
 * answers on the TX ring, and the answers are checked byte by byte.
 *
 * A plain program rather than Criterion: the EAL can be initialised once
 * per process, and every case runs against the same running node, in
 * order. It prints "N passed, N failed" and exits non-zero on a failure.
 *
 *   test-io-dpdk                   the node on lcores 0,1, every case
 *   test-io-dpdk --start-errors    the start-up errors an operator sees
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <urcu-qsbr.h>

#include "bindings.h"
#include "clock.h"
#include "err.h"
#include "io_dpdk.h"
#include "rec_pool.h"
#include "users.h"

/* ---------------------------------------------------------------- */
/* A small harness */

static unsigned passed, failed;
static bool case_failed;
static const char *case_name;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FAIL %s: %s:%d: %s: ", case_name, __FILE__, \
				__LINE__, #cond);                               \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			case_failed = true;                                     \
			return;                                                 \
		}                                                               \
	} while (0)

static void run_case(const char *name, void (*fn)(void))
{
	case_name = name;
	case_failed = false;
	fn();
	if (case_failed) {
		failed++;
		printf("[FAIL] %s\n", name);
	} else {
		passed++;
		printf("[ OK ] %s\n", name);
	}
	fflush(stdout);
}

/* ---------------------------------------------------------------- */
/* The node under test */

static uint8_t NODE_MAC[6];
static const uint8_t PEER_MAC[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t NODE4[4] = { 198, 51, 100, 1 };
static const uint8_t PEER4[4] = { 198, 51, 100, 2 };
static const uint8_t NODE6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t PEER6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static struct rte_ring *rx_ring, *tx_ring;
static struct rte_mempool *gen_pool;
static struct io_dpdk *io;
static struct dp_shared shared;
static struct dp_settings settings;
static struct rec_pool *pool;

static uint64_t ns_ctr(enum ns_ctr id)
{
	return ns_counter_get(io_dpdk_netstack(io, 0), id);
}

static uint64_t dp_ctr(enum dp_ctr id)
{
	return dp_counter_get(&io_dpdk_worker(io, 0)->ctr, id);
}

/* ---------------------------------------------------------------- */
/* Frames */

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

static uint32_t udp4(uint8_t *f, const char *data, uint32_t len, uint16_t sport)
{
	uint8_t *ip = f + 14, *u = ip + 20;

	memcpy(f, NODE_MAC, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 28);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(28 + len));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, PEER4, 4);
	memcpy(ip + 16, NODE4, 4);
	put16(ip + 10, ref_fold(ref_add(0, ip, 20)));
	put16(u, sport);
	put16(u + 2, 5060);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	uint16_t c = ref_fold(ref_add(ref_add(17 + 8 + len, ip + 12, 8), u, 8 + len));
	put16(u + 6, c ? c : 0xffff);
	return 42 + len;
}

static uint32_t udp6(uint8_t *f, const char *data, uint32_t len, uint16_t sport)
{
	uint8_t *ip = f + 14, *u = ip + 40;

	memcpy(f, NODE_MAC, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x86dd);
	memset(ip, 0, 48);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)(8 + len));
	ip[6] = 17;
	ip[7] = 64;
	memcpy(ip + 8, PEER6, 16);
	memcpy(ip + 24, NODE6, 16);
	put16(u, sport);
	put16(u + 2, 5060);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	uint16_t c = ref_fold(ref_add(ref_add(17 + 8 + len, ip + 8, 32), u, 8 + len));
	put16(u + 6, c ? c : 0xffff);
	return 62 + len;
}

static uint32_t arp_request(uint8_t *f)
{
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };

	memset(f, 0xff, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x0806);
	memcpy(f + 14, hdr, 8);
	memcpy(f + 22, PEER_MAC, 6);
	memcpy(f + 28, PEER4, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, NODE4, 4);
	return 42;
}

static void send_frame(const uint8_t *f, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(gen_pool);

	if (!m) {
		fprintf(stderr, "test pool empty\n");
		exit(2);
	}
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), f, len);
	while (rte_ring_enqueue(rx_ring, m) != 0)
		;
}

/* The next frame the node sent, copied into f; its length, or 0 after
 * 2 s without one. */
static uint32_t recv_frame(uint8_t *f, uint32_t cap)
{
	uint64_t deadline = clock_mono_ms() + 2000;
	void *obj;

	while (rte_ring_dequeue(tx_ring, &obj) != 0) {
		if (clock_mono_ms() > deadline)
			return 0;
		usleep(100);
	}
	struct rte_mbuf *m = obj;
	uint32_t len = rte_pktmbuf_pkt_len(m);
	if (len > cap || m->nb_segs != 1)
		len = 0;
	else
		memcpy(f, rte_pktmbuf_mtod(m, void *), len);
	rte_pktmbuf_free(m);
	return len;
}

static bool ring_empty_for(unsigned ms)
{
	usleep(ms * 1000);
	return rte_ring_count(tx_ring) == 0;
}

/* The expected ARP answer: proves that nothing else was sent before it. */
static bool arp_marker_is_next(void)
{
	uint8_t f[2048], g[2048];
	uint32_t len;

	send_frame(g, arp_request(g));
	len = recv_frame(f, sizeof(f));
	return len == 60 && get16(f + 12) == 0x0806 && get16(f + 20) == 2;
}

/* ---------------------------------------------------------------- */
/* Cases */

static const char REGISTER_FMT[] =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP %s:%u;branch=z9hG4bK-%s;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:%s@example.com>\r\n"
	"From: <sip:%s@example.com>;tag=49583\r\n"
	"Call-ID: %s@test\r\n"
	"CSeq: %u REGISTER\r\n"
	"%s"
	"Content-Length: 0\r\n\r\n";

static uint32_t make_register(char *buf, size_t cap, const char *host, uint16_t port,
			      const char *user, unsigned cseq, const char *contacts)
{
	return (uint32_t)snprintf(buf, cap, REGISTER_FMT, host, port, user, user, user, user,
				  cseq, contacts);
}

/* Check an IPv4/UDP answer header by header: Ethernet, IP (checksum
 * verified independently), UDP to dport (checksum verified). Returns the
 * SIP payload length, or 0 with the failure recorded. */
static uint32_t check_udp4_answer(const uint8_t *f, uint32_t len, uint16_t dport)
{
	const uint8_t *ip = f + 14, *u = ip + 20;
	uint8_t want[34];

	/* Every header byte, with the ID (a counter) taken from the frame. */
	memcpy(want, PEER_MAC, 6);
	memcpy(want + 6, NODE_MAC, 6);
	put16(want + 12, 0x0800);
	want[14] = 0x45;
	want[15] = 0;
	put16(want + 16, (uint16_t)(len - 14));
	memcpy(want + 18, ip + 4, 2);
	put16(want + 20, 0);
	want[22] = 64;
	want[23] = 17;
	memcpy(want + 24, ip + 10, 2);
	memcpy(want + 26, NODE4, 4);
	memcpy(want + 30, PEER4, 4);
	if (len < 42 || memcmp(f, want, 34) != 0)
		return 0;
	if (ref_fold(ref_add(0, ip, 20)) != 0)
		return 0;
	uint32_t ulen = get16(u + 4);
	if (get16(u) != 5060 || get16(u + 2) != dport || ulen != len - 34)
		return 0;
	if (ref_fold(ref_add(ref_add(17 + ulen, ip + 12, 8), u, ulen)) != 0)
		return 0;
	return ulen - 8;
}

static void register_over_ipv4_is_answered_200(void)
{
	char sip[1024];
	uint8_t f[2048], g[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "alice", 1,
				   "Contact: <sip:alice@198.51.100.2:5070>;expires=600\r\n");
	uint64_t added = dp_ctr(DP_CTR_bindings_added);

	send_frame(f, udp4(f, sip, n, 5070));
	uint32_t len = recv_frame(g, sizeof(g));
	CHECK(len > 0, "no answer");
	uint32_t plen = check_udp4_answer(g, len, 5070);
	CHECK(plen > 0, "bad Ethernet/IPv4/UDP headers or checksums");
	const char *p = (const char *)g + 42;
	CHECK(plen > 15 && memcmp(p, "SIP/2.0 200 OK\r\n", 16) == 0, "%.*s", (int)plen, p);
	CHECK(memmem(p, plen, ";rport=5070", 11), "%.*s", (int)plen, p);
	CHECK(memmem(p, plen, "<sip:alice@198.51.100.2:5070>;expires=600", 41), "%.*s",
	      (int)plen, p);
	CHECK(dp_ctr(DP_CTR_bindings_added) == added + 1, "binding stored");
}

static void reregister_refreshes_the_binding(void)
{
	char sip[1024];
	uint8_t f[2048], g[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "alice", 2,
				   "Contact: <sip:alice@198.51.100.2:5070>;expires=300\r\n");
	uint64_t refreshed = dp_ctr(DP_CTR_bindings_refreshed);

	send_frame(f, udp4(f, sip, n, 5070));
	uint32_t len = recv_frame(g, sizeof(g));
	uint32_t plen = check_udp4_answer(g, len, 5070);
	CHECK(plen > 0, "bad answer (%u bytes)", len);
	CHECK(memmem(g + 42, plen, ";expires=300", 12), "new expiry");
	CHECK(dp_ctr(DP_CTR_bindings_refreshed) == refreshed + 1, "refreshed");
}

static void invite_to_registered_aor_is_redirected(void)
{
	static const char invite[] =
		"INVITE sip:alice@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 198.51.100.2:5090;branch=z9hG4bK-inv1\r\n"
		"Max-Forwards: 70\r\n"
		"To: <sip:alice@example.com>\r\n"
		"From: <sip:bob@example.com>;tag=77\r\n"
		"Call-ID: inv1@test\r\n"
		"CSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n";
	uint8_t f[2048], g[2048];

	/* No rport: the answer goes to the Via port, 5090 (RFC 3261 §18.2.2). */
	send_frame(f, udp4(f, invite, sizeof(invite) - 1, 40000));
	uint32_t len = recv_frame(g, sizeof(g));
	uint32_t plen = check_udp4_answer(g, len, 5090);
	CHECK(plen > 0, "bad answer (%u bytes)", len);
	CHECK(memcmp(g + 42, "SIP/2.0 302 ", 12) == 0, "%.*s", (int)plen, (char *)g + 42);
	CHECK(memmem(g + 42, plen, "Contact: <sip:alice@198.51.100.2:5070>", 38), "%.*s",
	      (int)plen, (char *)g + 42);
}

static void register_over_ipv6_is_answered_200(void)
{
	char sip[1024];
	uint8_t f[2048], g[2048];
	uint32_t n = make_register(sip, sizeof(sip), "[2001:db8::2]", 5070, "bob", 1,
				   "Contact: <sip:bob@[2001:db8::2]:5070>\r\n");

	send_frame(f, udp6(f, sip, n, 5070));
	uint32_t len = recv_frame(g, sizeof(g));
	CHECK(len > 62, "no answer");
	const uint8_t *ip = g + 14, *u = ip + 40;
	CHECK(memcmp(g, PEER_MAC, 6) == 0 && memcmp(g + 6, NODE_MAC, 6) == 0, "MACs");
	CHECK(get16(g + 12) == 0x86dd, "EtherType");
	CHECK(ip[0] == 0x60 && ip[6] == 17 && ip[7] == 64, "IPv6 header");
	CHECK(get16(ip + 4) == len - 54, "payload length");
	CHECK(memcmp(ip + 8, NODE6, 16) == 0 && memcmp(ip + 24, PEER6, 16) == 0, "addresses");
	CHECK(get16(u) == 5060 && get16(u + 2) == 5070, "ports");
	CHECK(ref_fold(ref_add(ref_add(17 + get16(u + 4), ip + 8, 32), u, get16(u + 4))) == 0,
	      "UDP checksum");
	CHECK(memcmp(u + 8, "SIP/2.0 200 OK\r\n", 16) == 0, "%.*s", (int)(len - 62),
	      (char *)u + 8);
	CHECK(memmem(u + 8, len - 62, "<sip:bob@[2001:db8::2]:5070>", 28), "contact listed");
}

static void arp_request_is_answered_byte_by_byte(void)
{
	uint8_t f[2048], g[2048], want[60] = { 0 };
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 2 };

	memcpy(want, PEER_MAC, 6);
	memcpy(want + 6, NODE_MAC, 6);
	put16(want + 12, 0x0806);
	memcpy(want + 14, hdr, 8);
	memcpy(want + 22, NODE_MAC, 6);
	memcpy(want + 28, NODE4, 4);
	memcpy(want + 32, PEER_MAC, 6);
	memcpy(want + 38, PEER4, 4);
	send_frame(f, arp_request(f));
	CHECK(recv_frame(g, sizeof(g)) == 60, "60-byte answer");
	CHECK(memcmp(g, want, 60) == 0, "ARP reply bytes");
}

static void icmp_echo_is_answered_byte_by_byte(void)
{
	uint8_t f[2048], g[2048], want[2048];
	uint32_t len = udp4(f, "0123456789abcdef", 16, 1);
	uint8_t *ip = f + 14, *e = ip + 20;

	/* An echo request (id 0x4242, seq 7) in place of the UDP header. */
	ip[9] = 1;
	put16(ip + 10, 0);
	put16(ip + 10, ref_fold(ref_add(0, ip, 20)));
	e[0] = 8;
	e[1] = 0;
	put16(e + 2, 0);
	put16(e + 4, 0x4242);
	put16(e + 6, 7);
	put16(e + 2, ref_fold(ref_add(0, e, 24)));

	memcpy(want, f, len);
	memcpy(want, PEER_MAC, 6);
	memcpy(want + 6, NODE_MAC, 6);
	uint8_t *wi = want + 14, *we = wi + 20;
	memcpy(wi + 12, NODE4, 4);
	memcpy(wi + 16, PEER4, 4);
	put16(wi + 6, 0);
	wi[8] = 64;
	put16(wi + 10, 0);
	put16(wi + 10, ref_fold(ref_add(0, wi, 20)));
	we[0] = 0;
	put16(we + 2, 0);
	put16(we + 2, ref_fold(ref_add(0, we, 24)));

	send_frame(f, len);
	CHECK(recv_frame(g, sizeof(g)) == 60, "answer of 60 bytes");
	CHECK(memcmp(g, want, len) == 0, "echo reply bytes");
}

static void neighbour_solicitation_is_answered(void)
{
	uint8_t f[2048], g[2048];
	static const uint8_t sn[16] = { 0xff, 2, [11] = 1, [12] = 0xff, [15] = 1 };
	uint8_t *ip = f + 14, *icmp = ip + 40;

	memcpy(f, (uint8_t[6]){ 0x33, 0x33, 0xff, 0, 0, 1 }, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x86dd);
	memset(ip, 0, 40 + 32);
	ip[0] = 0x60;
	put16(ip + 4, 32);
	ip[6] = 58;
	ip[7] = 255;
	memcpy(ip + 8, PEER6, 16);
	memcpy(ip + 24, sn, 16);
	icmp[0] = 135;
	memcpy(icmp + 8, NODE6, 16);
	icmp[24] = 1;
	icmp[25] = 1;
	memcpy(icmp + 26, PEER_MAC, 6);
	put16(icmp + 2, ref_fold(ref_add(ref_add(58 + 32, ip + 8, 32), icmp, 32)));

	send_frame(f, 14 + 40 + 32);
	CHECK(recv_frame(g, sizeof(g)) == 86, "86-byte advertisement");
	const uint8_t *gi = g + 14, *na = gi + 40;
	CHECK(memcmp(g, PEER_MAC, 6) == 0 && memcmp(g + 6, NODE_MAC, 6) == 0, "MACs");
	CHECK(gi[6] == 58 && gi[7] == 255, "ICMPv6, hop limit 255");
	CHECK(memcmp(gi + 8, NODE6, 16) == 0 && memcmp(gi + 24, PEER6, 16) == 0, "addresses");
	CHECK(na[0] == 136 && na[4] == 0x60, "solicited, override");
	CHECK(memcmp(na + 8, NODE6, 16) == 0, "target");
	CHECK(na[24] == 2 && na[25] == 1 && memcmp(na + 26, NODE_MAC, 6) == 0, "TLLA option");
	CHECK(ref_fold(ref_add(ref_add(58 + 32, gi + 8, 32), na, 32)) == 0, "checksum");
}

static void bad_udp_checksum_gets_no_answer_and_is_counted(void)
{
	char sip[1024];
	uint8_t f[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "carol", 1, "");
	uint32_t len = udp4(f, sip, n, 5070);
	uint64_t before = ns_ctr(NS_CTR_drop_udp_cksum);

	f[len - 3] ^= 0x10;
	send_frame(f, len);
	CHECK(arp_marker_is_next(), "no answer to the corrupt datagram");
	CHECK(ns_ctr(NS_CTR_drop_udp_cksum) == before + 1, "counted");
}

static void truncated_frame_gets_no_answer_and_is_counted(void)
{
	char sip[1024];
	uint8_t f[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "carol", 1, "");
	uint32_t len = udp4(f, sip, n, 5070);
	uint64_t before = ns_ctr(NS_CTR_drop_truncated);

	send_frame(f, len - 40);
	send_frame(f, 20);
	CHECK(arp_marker_is_next(), "no answer to truncated frames");
	CHECK(ns_ctr(NS_CTR_drop_truncated) == before + 2, "counted");
}

static void fragment_gets_no_answer_and_is_counted(void)
{
	char sip[1024];
	uint8_t f[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "carol", 1, "");
	uint32_t len = udp4(f, sip, n, 5070);
	uint8_t *ip = f + 14;
	uint64_t before = ns_ctr(NS_CTR_drop_fragment);

	put16(ip + 6, 0x2000);                  /* MF: the first of several */
	put16(ip + 10, 0);
	put16(ip + 10, ref_fold(ref_add(0, ip, 20)));
	send_frame(f, len);
	CHECK(arp_marker_is_next(), "no answer to a fragment");
	CHECK(ns_ctr(NS_CTR_drop_fragment) == before + 1, "counted");
}

static void answer_larger_than_mtu_is_sent_in_fragments(void)
{
	char sip[8192], contacts[6000];
	uint8_t f[2048], g[2048], dgram[8192];
	size_t o = 0;

	/* 30 contacts: the 200 OK lists them all, about 2 kB. */
	for (unsigned i = 0; i < 30; i++)
		o += (size_t)snprintf(contacts + o, sizeof(contacts) - o,
				      "Contact: <sip:dave@198.51.100.2:%u;line=0123456789>\r\n",
				      6000 + i);
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "dave", 1, contacts);
	CHECK(42 + n <= 2048, "request fits a frame (%u)", n);
	send_frame(f, udp4(f, sip, n, 5070));

	uint32_t total = 0, last_end = 0;
	uint16_t ident = 0;
	for (unsigned i = 0; i < 8; i++) {
		uint32_t len = recv_frame(g, sizeof(g));
		CHECK(len > 34 && len <= 1514, "fragment %u of %u bytes", i, len);
		const uint8_t *ip = g + 14;
		CHECK(ref_fold(ref_add(0, ip, 20)) == 0, "IP checksum");
		if (i == 0)
			ident = get16(ip + 4);
		CHECK(get16(ip + 4) == ident, "one ID for all fragments");
		uint32_t off = (get16(ip + 6) & 0x1fffu) * 8, dlen = get16(ip + 2) - 20u;
		CHECK(off == last_end, "fragments in order");
		memcpy(dgram + off, ip + 20, dlen);
		last_end = off + dlen;
		total++;
		if (!(get16(ip + 6) & 0x2000))
			break;
	}
	CHECK(total >= 2, "fragmented (%u frames): %.*s", total, (int)(last_end > 200 ? 200 : last_end), (char *)dgram + 8);
	uint32_t ulen = get16(dgram + 4);
	CHECK(ulen == last_end, "UDP length %u = reassembled %u", ulen, last_end);
	CHECK(ref_fold(ref_add(ref_add(17 + ulen, (const uint8_t[8]){ 198, 51, 100, 1, 198, 51,
							       100, 2 }, 8),
			       dgram, ulen)) == 0, "UDP checksum over the whole datagram");
	CHECK(memcmp(dgram + 8, "SIP/2.0 200 OK\r\n", 16) == 0, "200 OK");
	CHECK(memmem(dgram + 8, ulen - 8, "sip:dave@198.51.100.2:6029", 26), "last contact");
	CHECK(ns_ctr(NS_CTR_tx_fragments) >= 2, "counted");
}

static void frames_for_other_hosts_are_ignored(void)
{
	char sip[1024];
	uint8_t f[2048];
	uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, "erin", 1, "");
	uint32_t len = udp4(f, sip, n, 5070);
	uint64_t before = ns_ctr(NS_CTR_drop_not_for_us);

	f[5] = 0x77;                            /* another MAC */
	send_frame(f, len);
	CHECK(arp_marker_is_next(), "no answer");
	CHECK(ns_ctr(NS_CTR_drop_not_for_us) == before + 1, "counted");
	CHECK(ring_empty_for(20), "nothing else sent");
}

static void dpdk_args_are_split_like_a_shell(void)
{
	char buf[256], *argv[8];
	int n = io_dpdk_split_args("  -l 0-3\t--vdev='net_pcap0,rx_pcap=a b.pcap' "
				   "\"x\\\"y\" a\\ b ''  ", buf, sizeof(buf), argv, 8);

	CHECK(n == 6, "%d words", n);
	CHECK(strcmp(argv[0], "-l") == 0 && strcmp(argv[1], "0-3") == 0, "plain words");
	CHECK(strcmp(argv[2], "--vdev=net_pcap0,rx_pcap=a b.pcap") == 0, "%s", argv[2]);
	CHECK(strcmp(argv[3], "x\"y") == 0, "%s", argv[3]);
	CHECK(strcmp(argv[4], "a b") == 0, "%s", argv[4]);
	CHECK(strcmp(argv[5], "") == 0, "an empty quoted word");
	CHECK(io_dpdk_split_args("a 'b", buf, sizeof(buf), argv, 8) == TDM_EMALFORMED, "quote");
	CHECK(io_dpdk_split_args("a b\\", buf, sizeof(buf), argv, 8) == TDM_EMALFORMED,
	      "trailing backslash");
	CHECK(io_dpdk_split_args("a b c", buf, sizeof(buf), argv, 2) == TDM_ETOOMANY, "count");
	CHECK(io_dpdk_split_args("abcdef", buf, 4, argv, 2) == TDM_ENOSPACE, "space");
	CHECK(io_dpdk_split_args(" \t ", buf, sizeof(buf), argv, 2) == 0, "no words");
}

/* ---------------------------------------------------------------- */

static void setup_shared(void)
{
	strcpy(settings.domain, "example.com");
	strcpy(settings.realm, "example.com");
	settings.auth = DP_AUTH_NONE;
	settings.default_expires = 3600;
	settings.min_expires = 60;
	settings.max_expires = 7200;
	settings.max_contacts = 0;
	settings.nonce_lifetime = 300;
	settings.algs[0] = DIGEST_SHA256;
	settings.nalgs = 1;
	strcpy(settings.server, "tandem-test");
	shared.bindings = bind_table_create(&(struct bind_table_params){ 0 });
	shared.users = users_create();
	shared.settings = &settings;
	memset(shared.nonce_key.key, 7, sizeof(shared.nonce_key.key));
	memset(shared.tag_key, 3, sizeof(shared.tag_key));
	pool = rec_pool_create("dpdk-test");
	if (!shared.bindings || !shared.users || !pool) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
}

/*
 * In a process of its own (the EAL is initialised once per process): the
 * messages of the start-up errors, in the order create checks them.
 */
static char start_eal[512];

static void start_error_no_port_is_explained(void)
{
	union tdm_addr l;
	char err[512];
	struct io_dpdk *x;

	addr_parse("198.51.100.1:5060", 0, &l);
	struct io_params p = { .backend = IO_BACKEND_DPDK, .listen = &l, .nlisten = 1,
			       .workers = 1, .dpdk_args = start_eal, .shared = &shared,
			       .pools = &pool };
	int rc = io_dpdk_create(&p, &x, err, sizeof(err));
	CHECK(rc == -ENODEV && x == NULL, "rc %d", rc);
	CHECK(strstr(err, "no DPDK port") && strstr(err, "--vdev"), "%s", err);
}

static void start_error_too_few_lcores_is_explained(void)
{
	union tdm_addr l;
	char err[512];
	struct io_dpdk *x;

	rx_ring = rte_ring_create("test_rx", 64, (int)rte_socket_id(), 0);
	tx_ring = rte_ring_create("test_tx", 64, (int)rte_socket_id(), 0);
	CHECK(rte_eth_from_rings("tandem_err", &rx_ring, 1, &tx_ring, 1, rte_socket_id()) >= 0,
	      "ring port");
	addr_parse("198.51.100.1:5060", 0, &l);
	struct io_params p = { .backend = IO_BACKEND_DPDK, .listen = &l, .nlisten = 1,
			       .workers = 2, .shared = &shared, .pools = &pool };
	CHECK(io_dpdk_create(&p, &x, err, sizeof(err)) == TDM_ECONFIG, "refused");
	CHECK(strstr(err, "[io] workers = 2 but the EAL has 1 worker lcore"), "%s", err);
}

static void start_error_wildcard_listen_is_explained(void)
{
	union tdm_addr l;
	char err[512];
	struct io_dpdk *x;

	addr_parse("0.0.0.0:5060", 0, &l);
	struct io_params p = { .backend = IO_BACKEND_DPDK, .listen = &l, .nlisten = 1,
			       .workers = 1, .shared = &shared, .pools = &pool };
	CHECK(io_dpdk_create(&p, &x, err, sizeof(err)) == TDM_ECONFIG, "refused");
	CHECK(strstr(err, "0.0.0.0:5060") && strstr(err, "wildcard"), "%s", err);
}

static int start_errors(void)
{
	snprintf(start_eal, sizeof(start_eal), "-l 0,1 --no-huge -m 128 --no-pci --no-shconf "
		 "--no-telemetry --log-level=error --file-prefix=tandem-test-%d", (int)getpid());
	setup_shared();
	run_case("start_error_no_port_is_explained", start_error_no_port_is_explained);
	run_case("start_error_too_few_lcores_is_explained",
		 start_error_too_few_lcores_is_explained);
	/* The last: the failed create cleans the EAL up. */
	run_case("start_error_wildcard_listen_is_explained",
		 start_error_wildcard_listen_is_explained);
	snprintf(start_eal, sizeof(start_eal), "/var/run/dpdk/tandem-test-%d", (int)getpid());
	rmdir(start_eal);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	char eal_args[512], err[512];
	const char *lcores = "0,1";
	union tdm_addr listen[2];
	struct rte_ether_addr mac;

	rcu_register_thread();
	run_case("dpdk_args_are_split_like_a_shell", dpdk_args_are_split_like_a_shell);
	if (argc > 1 && strcmp(argv[1], "--start-errors") == 0)
		return start_errors();
	snprintf(eal_args, sizeof(eal_args), "-l %s --no-huge -m 256 --no-pci --no-shconf "
		 "--no-telemetry --log-level=warning --file-prefix=tandem-test-%d", lcores,
		 (int)getpid());
	if (io_dpdk_eal_init(eal_args, err, sizeof(err)) < 0) {
		fprintf(stderr, "test-io-dpdk: %s\n", err);
		return 1;
	}
	rx_ring = rte_ring_create("test_rx", 4096, (int)rte_socket_id(),
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_ring = rte_ring_create("test_tx", 4096, (int)rte_socket_id(),
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	gen_pool = rte_pktmbuf_pool_create("test_gen", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	if (!rx_ring || !tx_ring || !gen_pool ||
	    rte_eth_from_rings("tandem_test", &rx_ring, 1, &tx_ring, 1, rte_socket_id()) < 0) {
		fprintf(stderr, "test-io-dpdk: cannot make the ring port\n");
		return 1;
	}

	setup_shared();
	addr_parse("198.51.100.1:5060", 0, &listen[0]);
	addr_parse("[2001:db8::1]:5060", 0, &listen[1]);
	struct io_params p = {
		.backend = IO_BACKEND_DPDK,
		.listen = listen,
		.nlisten = 2,
		.workers = 1,
		.dpdk_args = "",
		.shared = &shared,
		.pools = &pool,
	};
	if (io_dpdk_create(&p, &io, err, sizeof(err)) < 0) {
		fprintf(stderr, "test-io-dpdk: %s\n", err);
		return 1;
	}
	io_dpdk_describe(io, err, sizeof(err));
	printf("%s\n", err);
	rte_eth_macaddr_get(0, &mac);
	memcpy(NODE_MAC, mac.addr_bytes, 6);
	if (io_dpdk_start(io, err, sizeof(err)) < 0) {
		fprintf(stderr, "test-io-dpdk: %s\n", err);
		return 1;
	}

	/* The main thread reads no RCU tables while the cases run. */
	rcu_thread_offline();
	run_case("register_over_ipv4_is_answered_200", register_over_ipv4_is_answered_200);
	run_case("reregister_refreshes_the_binding", reregister_refreshes_the_binding);
	run_case("invite_to_registered_aor_is_redirected", invite_to_registered_aor_is_redirected);
	run_case("register_over_ipv6_is_answered_200", register_over_ipv6_is_answered_200);
	run_case("arp_request_is_answered_byte_by_byte", arp_request_is_answered_byte_by_byte);
	run_case("icmp_echo_is_answered_byte_by_byte", icmp_echo_is_answered_byte_by_byte);
	run_case("neighbour_solicitation_is_answered", neighbour_solicitation_is_answered);
	run_case("bad_udp_checksum_gets_no_answer_and_is_counted",
		 bad_udp_checksum_gets_no_answer_and_is_counted);
	run_case("truncated_frame_gets_no_answer_and_is_counted",
		 truncated_frame_gets_no_answer_and_is_counted);
	run_case("fragment_gets_no_answer_and_is_counted", fragment_gets_no_answer_and_is_counted);
	run_case("answer_larger_than_mtu_is_sent_in_fragments",
		 answer_larger_than_mtu_is_sent_in_fragments);
	run_case("frames_for_other_hosts_are_ignored", frames_for_other_hosts_are_ignored);
	rcu_thread_online();

	io_dpdk_stop(io);
	uint64_t frames = ns_ctr(NS_CTR_rx_frames);
	if (frames == 0)
		failed++;
	io_dpdk_destroy(io);
	rcu_barrier();
	bind_table_destroy(shared.bindings);
	users_destroy(shared.users);
	rcu_barrier();
	rec_pool_destroy(pool);
	rte_mempool_free(gen_pool);
	rte_ring_free(rx_ring);
	rte_ring_free(tx_ring);
	rte_eal_cleanup();
	rcu_unregister_thread();
	/* --no-shconf still makes the runtime directory: leave nothing behind. */
	snprintf(eal_args, sizeof(eal_args), "/var/run/dpdk/tandem-test-%d", (int)getpid());
	rmdir(eal_args);

	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
