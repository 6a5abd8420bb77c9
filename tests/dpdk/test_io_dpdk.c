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
#include <sys/wait.h>
#include <time.h>
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
	/* Poison the whole data room: an answer written in place must not
	 * carry bytes of ours it did not write (Ethernet padding). */
	memset(rte_pktmbuf_mtod(m, uint8_t *), 0xa5, rte_pktmbuf_tailroom(m));
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

/*
 * The To tag the node must put on a final answer, computed here from the
 * definition rather than by the node's code: SipHash-1-3 keyed with the
 * node's tag key, over the Call-ID (zero-padded to a multiple of 8 bytes)
 * followed by the From tag, written as 16 lower-case hex digits, least
 * significant first.
 */
static uint64_t ref_rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static void ref_sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ref_rotl(v[1], 13); v[1] ^= v[0]; v[0] = ref_rotl(v[0], 32);
	v[2] += v[3]; v[3] = ref_rotl(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ref_rotl(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ref_rotl(v[1], 17); v[1] ^= v[2]; v[2] = ref_rotl(v[2], 32);
}

static uint64_t ref_le64(const uint8_t *p, size_t n)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

static uint64_t ref_siphash13(const uint8_t key[16], const uint8_t *m, size_t len)
{
	uint64_t k0 = ref_le64(key, 8), k1 = ref_le64(key + 8, 8);
	uint64_t v[4] = { k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
			  k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull };
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = ref_le64(m + i, 8);
		v[3] ^= w;
		ref_sipround(v);
		v[0] ^= w;
	}
	uint64_t last = ref_le64(m + i, len - i) | (uint64_t)(len & 0xff) << 56;
	v[3] ^= last;
	ref_sipround(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (int r = 0; r < 3; r++)
		ref_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void ref_to_tag(const char *call_id, const char *from_tag, char out[17])
{
	uint8_t m[256] = { 0 };
	size_t n = strlen(call_id), padded = (n + 7) / 8 * 8, t = strlen(from_tag);

	memcpy(m, call_id, n);
	memcpy(m + padded, from_tag, t);
	uint64_t h = ref_siphash13(shared.tag_key, m, padded + t);
	for (int i = 0; i < 16; i++)
		out[i] = "0123456789abcdef"[(h >> (4 * i)) & 0xf];
	out[16] = '\0';
}

/* "Tue, 25 Nov 2026 04:08:00 GMT" (RFC 3261 §20.17: RFC 1123, GMT), at
 * most 5 s from now. */
static bool date_is_now(const char *p, size_t len)
{
	struct tm tm = { 0 };
	char buf[64];
	const char *end;

	if (len != 29 || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return false;
	time_t t = timegm(&tm), now = time(NULL);
	return t <= now + 1 && t >= now - 5;
}

/*
 * The whole answer to make_register(host, port, user, cseq, "Contact:
 * <contact>...") sent from src:port: every byte but the Date value, which
 * must be a well-formed date of now. The top Via gets received and rport
 * (RFC 3581 §4: received always goes with rport, even when it equals the
 * sent-by; an IPv6 address without brackets, RFC 3261 §25.1). Returns
 * NULL or what differs.
 */
static const char *check_register_200(const char *p, uint32_t plen, const char *host,
				      const char *src, uint16_t port, const char *user,
				      unsigned cseq, const char *contact, unsigned expires)
{
	static char why[4096];
	char want[2048], tag[17], call_id[128];
	const char *date;
	int head, n;

	snprintf(call_id, sizeof(call_id), "%s@test", user);
	ref_to_tag(call_id, "49583", tag);
	head = snprintf(want, sizeof(want),
			"SIP/2.0 200 OK\r\n"
			"Via: SIP/2.0/UDP %s:%u;branch=z9hG4bK-%s;received=%s;rport=%u\r\n"
			"From: <sip:%s@example.com>;tag=49583\r\n"
			"To: <sip:%s@example.com>;tag=%s\r\n"
			"Call-ID: %s\r\n"
			"CSeq: %u REGISTER\r\n"
			"Contact: <%s>;expires=%u\r\n"
			"Date: ",
			host, port, user, src, port, user, user, tag, call_id, cseq, contact,
			expires);
	date = memmem(p, plen, "\r\nDate: ", 8);
	if (!date)
		return "no Date field";
	date += 8;
	const char *eol = memmem(date, plen - (uint32_t)(date - p), "\r\n", 2);
	if (!eol || !date_is_now(date, (size_t)(eol - date))) {
		snprintf(why, sizeof(why), "Date value is not now in RFC 1123 form: %.*s",
			 eol ? (int)(eol - date) : 40, date);
		return why;
	}
	n = snprintf(want + head, sizeof(want) - (size_t)head,
		     "%.*s\r\n"
		     "Server: tandem-test\r\n"
		     "Content-Length: 0\r\n"
		     "\r\n", (int)(eol - date), date);
	n += head;
	if ((uint32_t)n != plen || memcmp(want, p, plen) != 0) {
		snprintf(why, sizeof(why), "answer differs:\n--- expected (%d bytes)\n%s"
			 "--- got (%u bytes)\n%.*s", n, want, plen, (int)plen, p);
		return why;
	}
	return NULL;
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
	const char *why = check_register_200((const char *)g + 42, plen, "198.51.100.2", "198.51.100.2", 5070,
					     "alice", 1, "sip:alice@198.51.100.2:5070", 600);
	CHECK(why == NULL, "%s", why);
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
	/* No expires given: the default, 3600 s. */
	const char *why = check_register_200((const char *)u + 8, len - 62, "[2001:db8::2]", "2001:db8::2", 5070,
					     "bob", 1, "sip:bob@[2001:db8::2]:5070", 3600);
	CHECK(why == NULL, "%s", why);
}

/* Put an 802.1Q tag (TCI tci) into the frame f of len bytes, after the
 * MACs. Returns the new length. */
static uint32_t add_vlan(uint8_t *f, uint32_t len, uint16_t tci)
{
	memmove(f + 16, f + 12, len - 12);
	put16(f + 12, 0x8100);
	put16(f + 14, tci);
	return len + 4;
}

/* Check the answer g (len bytes) carries the tag tci, and take it out. */
static uint32_t strip_vlan(uint8_t *g, uint32_t len, uint16_t tci)
{
	if (len < 18 || get16(g + 12) != 0x8100 || get16(g + 14) != tci)
		return 0;
	memmove(g + 12, g + 16, len - 16);
	return len - 4;
}

/*
 * The answer is written into the request's own mbuf, its UDP checksum
 * computed 32 or 16 bytes at a time with a scalar tail: answers of odd
 * and even lengths, over IPv4 and IPv6, in a VLAN, each checked whole
 * (headers byte by byte, checksums against the reference, the SIP text).
 * The two users' names differ by one character, which appears five times
 * in the answer: one of the two answers has an odd length.
 */
static void register_in_a_vlan_is_answered_in_place_odd_and_even(void)
{
	static const char *const users[2] = { "vlan4", "vlan4x" };
	uint32_t parity[2];

	for (unsigned k = 0; k < 2; k++) {
		char sip[1024], contact[128], uri[96];
		uint8_t f[2048], g[2048];
		uint16_t tci = (uint16_t)(0x2000 | (100 + k));   /* priority 1, VLAN 100/101 */

		snprintf(uri, sizeof(uri), "sip:%s@198.51.100.2:5070", users[k]);
		snprintf(contact, sizeof(contact), "Contact: <%s>;expires=600\r\n", uri);
		uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", 5070, users[k], 1,
					   contact);
		send_frame(f, add_vlan(f, udp4(f, sip, n, 5070), tci));
		uint32_t len = strip_vlan(g, recv_frame(g, sizeof(g)), tci);
		CHECK(len > 0, "no answer, or not in VLAN %u", tci & 0xfff);
		uint32_t plen = check_udp4_answer(g, len, 5070);
		CHECK(plen > 0, "bad Ethernet/IPv4/UDP headers or checksums (%s)", users[k]);
		const char *why = check_register_200((const char *)g + 42, plen, "198.51.100.2",
						     "198.51.100.2", 5070, users[k], 1, uri, 600);
		CHECK(why == NULL, "%s", why);
		parity[k] = plen & 1;
	}
	CHECK(parity[0] != parity[1], "one answer of odd length");

	static const char *const users6[2] = { "vlan6", "vlan6x" };
	for (unsigned k = 0; k < 2; k++) {
		char sip[1024], contact[128], uri[96];
		uint8_t f[2048], g[2048];
		uint16_t tci = (uint16_t)(200 + k);

		snprintf(uri, sizeof(uri), "sip:%s@[2001:db8::2]:5070", users6[k]);
		snprintf(contact, sizeof(contact), "Contact: <%s>\r\n", uri);
		uint32_t n = make_register(sip, sizeof(sip), "[2001:db8::2]", 5070, users6[k], 1,
					   contact);
		send_frame(f, add_vlan(f, udp6(f, sip, n, 5070), tci));
		uint32_t len = strip_vlan(g, recv_frame(g, sizeof(g)), tci);
		CHECK(len > 62, "no answer, or not in VLAN %u", tci);
		const uint8_t *ip = g + 14, *u = ip + 40;
		CHECK(memcmp(g, PEER_MAC, 6) == 0 && memcmp(g + 6, NODE_MAC, 6) == 0, "MACs");
		CHECK(get16(g + 12) == 0x86dd, "EtherType");
		CHECK(ip[0] == 0x60 && ip[1] == 0 && get16(ip + 2) == 0, "version, class, flow");
		CHECK(ip[6] == 17 && ip[7] == 64, "next header, hop limit");
		CHECK(get16(ip + 4) == len - 54, "payload length");
		CHECK(memcmp(ip + 8, NODE6, 16) == 0 && memcmp(ip + 24, PEER6, 16) == 0,
		      "addresses");
		CHECK(get16(u) == 5060 && get16(u + 2) == 5070 && get16(u + 4) == len - 54,
		      "UDP ports and length");
		CHECK(get16(u + 6) != 0 &&
		      ref_fold(ref_add(ref_add(17 + get16(u + 4), ip + 8, 32), u,
				       get16(u + 4))) == 0, "UDP checksum");
		const char *why = check_register_200((const char *)u + 8, len - 62,
						     "[2001:db8::2]", "2001:db8::2", 5070,
						     users6[k], 1, uri, 3600);
		CHECK(why == NULL, "%s", why);
		parity[k] = (len - 62) & 1;
	}
	CHECK(parity[0] != parity[1], "one IPv6 answer of odd length");
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

	/* 58 bytes: padded to the Ethernet minimum with zeros (the request's
	 * mbuf held 0xa5 there: send_frame). */
	CHECK(len == 58, "request of %u bytes", len);
	memset(want + len, 0, 60 - len);
	send_frame(f, len);
	CHECK(recv_frame(g, sizeof(g)) == 60, "answer of 60 bytes");
	CHECK(memcmp(g, want, 60) == 0, "echo reply bytes");
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
 * The start-up errors an operator sees, each case in a child process of
 * its own (the EAL can be initialised once per process, and a failed
 * rte_eal_init() leaves it half done): the EAL's arguments, its memory,
 * the port, the lcores, the addresses.
 */
static char start_eal[512];
static const char *const START_EAL_BASE = "-l 0,1 --no-pci --no-shconf --no-telemetry "
					  "--log-level=error";

static int start_create(const char *eal_extra, unsigned workers, const char *listen,
			char *err, size_t cap)
{
	union tdm_addr l;
	struct io_dpdk *x = NULL;

	snprintf(start_eal, sizeof(start_eal), "%s --file-prefix=tandem-test-%d %s",
		 START_EAL_BASE, (int)getpid(), eal_extra);
	addr_parse(listen, 0, &l);
	struct io_params p = { .backend = IO_BACKEND_DPDK, .listen = &l, .nlisten = 1,
			       .workers = workers, .dpdk_args = start_eal, .shared = &shared,
			       .pools = &pool };
	int rc = io_dpdk_create(&p, &x, err, cap);
	if (rc == 0 || x != NULL) {
		snprintf(err, cap, "io_dpdk_create succeeded");
		io_dpdk_destroy(x);
		return 0;
	}
	return rc;
}

/* A ring port, as the node's only port: needs the EAL up first. */
static bool start_ring_port(const char *eal_extra, char *err, size_t cap)
{
	snprintf(start_eal, sizeof(start_eal), "%s --file-prefix=tandem-test-%d %s",
		 START_EAL_BASE, (int)getpid(), eal_extra);
	if (io_dpdk_eal_init(start_eal, err, cap) < 0)
		return false;
	rx_ring = rte_ring_create("test_rx", 64, (int)rte_socket_id(), 0);
	tx_ring = rte_ring_create("test_tx", 64, (int)rte_socket_id(), 0);
	return rx_ring && tx_ring &&
	       rte_eth_from_rings("tandem_err", &rx_ring, 1, &tx_ring, 1, rte_socket_id()) >= 0;
}

static void start_error_unknown_eal_option_is_explained(void)
{
	char err[1024];
	int rc = start_create("--no-huge -m 128 --no-such-option", 1, "198.51.100.1:5060", err,
			      sizeof(err));

	CHECK(rc == -EINVAL, "rc %d: %s", rc, err);
	CHECK(strstr(err, "DPDK EAL initialisation failed") && strstr(err, "--no-such-option") &&
	      strstr(err, "invalid EAL arguments"), "%s", err);
}

static void start_error_stray_word_is_named(void)
{
	char err[1024];
	int rc = start_create("--no-huge -m 128 lcores", 1, "198.51.100.1:5060", err,
			      sizeof(err));

	CHECK(rc == TDM_ECONFIG, "rc %d: %s", rc, err);
	CHECK(strstr(err, "\"lcores\" is not an EAL argument"), "%s", err);
}

/* Free hugepages of any size on this machine (-1: cannot tell). */
static long free_hugepages(void)
{
	static const char *const sizes[] = { "2048kB", "1048576kB" };
	long total = 0;
	bool seen = false;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[128];
		long n;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%s/free_hugepages",
			 sizes[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%ld", &n) == 1) {
			total += n;
			seen = true;
		}
		fclose(f);
	}
	return seen ? total : -1;
}

static void start_error_no_hugepages_is_explained(void)
{
	char err[1024];
	long free_pages = free_hugepages();

	if (free_pages != 0) {
		printf("[SKIP] this machine has hugepages (%ld free): the EAL would start\n",
		       free_pages);
		return;
	}
	/* Without --no-huge: the EAL says "Cannot get hugepage information"
	 * and fails with EACCES, even as root. */
	int rc = start_create("-m 64", 1, "198.51.100.1:5060", err, sizeof(err));
	CHECK(rc == -EACCES, "rc %d: %s", rc, err);
	CHECK(strstr(err, "no usable hugepages") && strstr(err, "docs/dpdk.md") &&
	      strstr(err, "--no-huge"), "%s", err);
}

static void start_error_pool_that_does_not_fit_is_explained(void)
{
	char err[1024];

	/* 16 MiB without hugepages: the EAL starts, 8191 mbufs (4 KiB each
	 * with --no-huge) do not fit. */
	CHECK(start_ring_port("--no-huge -m 16", err, sizeof(err)), "ring port: %s", err);
	int rc = start_create("", 1, "198.51.100.1:5060", err, sizeof(err));
	CHECK(rc == -ENOMEM, "rc %d: %s", rc, err);
	CHECK(strstr(err, "cannot create a pool of 8191 mbufs") && strstr(err, "raise -m"),
	      "%s", err);
}

static void start_error_no_port_is_explained(void)
{
	char err[1024];
	int rc = start_create("--no-huge -m 128", 1, "198.51.100.1:5060", err, sizeof(err));

	CHECK(rc == -ENODEV, "rc %d: %s", rc, err);
	CHECK(strstr(err, "no DPDK port") && strstr(err, "--vdev"), "%s", err);
}

static void start_error_missing_af_packet_interface_is_no_port(void)
{
	char err[1024];
	int rc = start_create("--no-huge -m 128 --vdev=net_af_packet0,iface=tdm-no-such-if", 1,
			      "198.51.100.1:5060", err, sizeof(err));

	CHECK(rc == -ENODEV, "rc %d: %s", rc, err);
	CHECK(strstr(err, "no DPDK port") && strstr(err, "net_af_packet"), "%s", err);
}

static void start_error_too_few_lcores_is_explained(void)
{
	char err[1024];

	CHECK(start_ring_port("--no-huge -m 128", err, sizeof(err)), "ring port: %s", err);
	int rc = start_create("", 2, "198.51.100.1:5060", err, sizeof(err));
	CHECK(rc == TDM_ECONFIG, "rc %d: %s", rc, err);
	CHECK(strstr(err, "[io] workers = 2 but the EAL has 1 worker lcore"), "%s", err);
}

static void start_error_auto_workers_without_worker_lcore_is_explained(void)
{
	char err[1024];

	snprintf(start_eal, sizeof(start_eal), "-l 0 --no-huge -m 128 --no-pci --no-shconf "
		 "--no-telemetry --log-level=error --file-prefix=tandem-test-%d", (int)getpid());
	int rc = io_dpdk_prepare(start_eal, 1, true, err, sizeof(err));
	CHECK(rc == TDM_ECONFIG, "rc %d: %s", rc, err);
	CHECK(strstr(err, "workers = auto") && strstr(err, "no worker lcore"), "%s", err);
}

static void start_auto_workers_follow_the_lcores(void)
{
	char err[1024];

	snprintf(start_eal, sizeof(start_eal), "-l 0,1 --no-huge -m 128 --no-pci --no-shconf "
		 "--no-telemetry --log-level=error --file-prefix=tandem-test-%d", (int)getpid());
	int rc = io_dpdk_prepare(start_eal, 7, true, err, sizeof(err));
	CHECK(rc == 1, "workers = auto with -l 0,1 gives %d workers (%s)", rc, err);
	CHECK(io_dpdk_prepare(start_eal, 7, false, err, sizeof(err)) == 7, "explicit count");
	io_dpdk_eal_cleanup();
}

/*
 * Two workers on one port, each with its own queue pair. A ring port has
 * no RSS: the test plays the NIC and puts one phone's REGISTER on queue 0
 * and another's on queue 1 (as RSS would, by a hash of the source); each
 * worker answers on its own TX queue, counts in its own blocks, and both
 * bindings land in the one shared table. Three lcores on the two CPUs
 * (control on CPU 0, both workers on CPU 1, taking turns): functional
 * only.
 */
static void two_workers_answer_each_on_its_own_queue(void)
{
	struct rte_ring *rx[2], *tx[2];
	struct rec_pool *pools[2] = { pool, rec_pool_create("dpdk-test-2") };
	struct rte_ether_addr mac;
	struct io_dpdk *x = NULL;
	union tdm_addr l;
	char err[1024];
	int port;

	snprintf(start_eal, sizeof(start_eal), "--lcores=0@0,1@1,2@1 --no-huge -m 256 "
		 "--no-pci --no-shconf --no-telemetry --log-level=error "
		 "--file-prefix=tandem-test-%d", (int)getpid());
	CHECK(io_dpdk_eal_init(start_eal, err, sizeof(err)) == 0, "EAL: %s", err);
	for (unsigned q = 0; q < 2; q++) {
		char name[32];
		snprintf(name, sizeof(name), "t2_rx%u", q);
		rx[q] = rte_ring_create(name, 256, (int)rte_socket_id(), 0);
		snprintf(name, sizeof(name), "t2_tx%u", q);
		tx[q] = rte_ring_create(name, 256, (int)rte_socket_id(), 0);
		CHECK(rx[q] && tx[q], "rings");
	}
	gen_pool = rte_pktmbuf_pool_create("t2_gen", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	port = rte_eth_from_rings("tandem_2w", rx, 2, tx, 2, rte_socket_id());
	CHECK(gen_pool && port >= 0 && pools[1], "ring port with two queue pairs");
	addr_parse("198.51.100.1:5060", 0, &l);
	struct io_params p = { .backend = IO_BACKEND_DPDK, .listen = &l, .nlisten = 1,
			       .workers = 2, .shared = &shared, .pools = pools };
	CHECK(io_dpdk_create(&p, &x, err, sizeof(err)) == 0, "create: %s", err);
	CHECK(io_dpdk_nworkers(x) == 2, "two workers");
	rte_eth_macaddr_get((uint16_t)port, &mac);
	memcpy(NODE_MAC, mac.addr_bytes, 6);
	CHECK(io_dpdk_start(x, err, sizeof(err)) == 0, "start: %s", err);
	rcu_thread_offline();

	static const char *const users[2] = { "queue0", "queue1" };
	for (unsigned q = 0; q < 2; q++) {
		char sip[1024], contact[128], uri[96];
		uint8_t f[2048];
		uint16_t sport = (uint16_t)(5070 + q);
		snprintf(uri, sizeof(uri), "sip:%s@198.51.100.2:%u", users[q], sport);
		snprintf(contact, sizeof(contact), "Contact: <%s>;expires=600\r\n", uri);
		uint32_t n = make_register(sip, sizeof(sip), "198.51.100.2", sport, users[q], 1,
					   contact);
		uint32_t len = udp4(f, sip, n, sport);
		struct rte_mbuf *m = rte_pktmbuf_alloc(gen_pool);
		CHECK(m, "test mbuf");
		memcpy(rte_pktmbuf_append(m, (uint16_t)len), f, len);
		CHECK(rte_ring_enqueue(rx[q], m) == 0, "queue %u", q);
	}
	for (unsigned q = 0; q < 2; q++) {
		uint64_t deadline = clock_mono_ms() + 3000;
		uint8_t g[2048];
		void *obj;

		while (rte_ring_dequeue(tx[q], &obj) != 0) {
			CHECK(clock_mono_ms() < deadline, "no answer on TX queue %u", q);
			usleep(100);
		}
		struct rte_mbuf *m = obj;
		uint32_t len = rte_pktmbuf_pkt_len(m);
		CHECK(len <= sizeof(g) && m->nb_segs == 1, "one segment");
		memcpy(g, rte_pktmbuf_mtod(m, void *), len);
		rte_pktmbuf_free(m);
		uint32_t plen = check_udp4_answer(g, len, (uint16_t)(5070 + q));
		CHECK(plen > 0, "bad headers or checksums on queue %u", q);
		char uri[96];
		snprintf(uri, sizeof(uri), "sip:%s@198.51.100.2:%u", users[q], 5070 + q);
		const char *why = check_register_200((const char *)g + 42, plen, "198.51.100.2",
						     "198.51.100.2", (uint16_t)(5070 + q),
						     users[q], 1, uri, 600);
		CHECK(why == NULL, "queue %u: %s", q, why);
		CHECK(rte_ring_count(tx[1 - q]) == 0 || q == 0,
		      "nothing more on the other queue");
		CHECK(ns_counter_get(io_dpdk_netstack(x, q), NS_CTR_rx_udp) == 1 &&
		      ns_counter_get(io_dpdk_netstack(x, q), NS_CTR_tx_udp) == 1,
		      "worker %u counted its own request and answer", q);
		CHECK(dp_counter_get(&io_dpdk_worker(x, q)->ctr, DP_CTR_bindings_added) == 1,
		      "worker %u stored one binding", q);
	}
	rcu_thread_online();
	io_dpdk_destroy(x);
	rcu_barrier();
}

static void start_error_wildcard_listen_is_explained(void)
{
	char err[1024];

	CHECK(start_ring_port("--no-huge -m 128", err, sizeof(err)), "ring port: %s", err);
	int rc = start_create("", 1, "0.0.0.0:5060", err, sizeof(err));
	CHECK(rc == TDM_ECONFIG, "rc %d: %s", rc, err);
	CHECK(strstr(err, "0.0.0.0:5060") && strstr(err, "wildcard"), "%s", err);
}

/* Run fn in a child process; the child's verdict is its exit status. */
static void run_case_alone(const char *name, void (*fn)(void))
{
	char dir[128];
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		passed = failed = 0;
		setup_shared();
		run_case(name, fn);
		fflush(stdout);
		_exit(failed ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!WIFEXITED(status))
			printf("[FAIL] %s (the child died: status %#x)\n", name, status);
		failed++;
	} else {
		passed++;
	}
	/* --no-shconf still makes the runtime directory: leave nothing. */
	snprintf(dir, sizeof(dir), "/var/run/dpdk/tandem-test-%d", (int)pid);
	rmdir(dir);
}

static int start_errors(void)
{
	run_case_alone("start_error_unknown_eal_option_is_explained",
		       start_error_unknown_eal_option_is_explained);
	run_case_alone("start_error_stray_word_is_named", start_error_stray_word_is_named);
	run_case_alone("start_error_no_hugepages_is_explained",
		       start_error_no_hugepages_is_explained);
	run_case_alone("start_error_pool_that_does_not_fit_is_explained",
		       start_error_pool_that_does_not_fit_is_explained);
	run_case_alone("start_error_no_port_is_explained", start_error_no_port_is_explained);
	run_case_alone("start_error_missing_af_packet_interface_is_no_port",
		       start_error_missing_af_packet_interface_is_no_port);
	run_case_alone("start_error_too_few_lcores_is_explained",
		       start_error_too_few_lcores_is_explained);
	run_case_alone("start_error_auto_workers_without_worker_lcore_is_explained",
		       start_error_auto_workers_without_worker_lcore_is_explained);
	run_case_alone("start_auto_workers_follow_the_lcores",
		       start_auto_workers_follow_the_lcores);
	run_case_alone("start_error_wildcard_listen_is_explained",
		       start_error_wildcard_listen_is_explained);
	run_case_alone("two_workers_answer_each_on_its_own_queue",
		       two_workers_answer_each_on_its_own_queue);
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
	run_case("register_in_a_vlan_is_answered_in_place_odd_and_even",
		 register_in_a_vlan_is_answered_in_place_odd_and_even);
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
