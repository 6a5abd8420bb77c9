/* SPDX-License-Identifier: MIT */
/*
 * The DPDK back end's network stack over byte buffers: Ethernet (+802.1Q),
 * ARP, IPv4, IPv6 (extension headers walked), ICMP/ICMPv6 echo, neighbour
 * discovery and UDP. See netstack.h for what is answered and what dropped.
 *
 * Every reader checks the remaining length before each field and leaves
 * through one counted drop. Lengths come from the IP headers, never from
 * the frame length (a short frame carries Ethernet padding after the IP
 * packet). Multi-byte fields are read and written byte by byte in network
 * order, so nothing here depends on the buffer's alignment.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "err.h"
#include "netstack.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_IPV6 0x86dd

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_ 17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define ND_OPT_SOURCE_LLADDR 1
#define ND_OPT_TARGET_LLADDR 2

#define TTL_DEFAULT 64
#define UDP_HDR 8
#define IP4_HDR 20
#define IP6_HDR 40
#define IP6_FRAG_HDR 8
#define UDP_MAX_PAYLOAD (65535 - IP4_HDR - UDP_HDR)

static const struct {
	const char *name;
	const char *help;
} ns_counter_info[NS_CTR_COUNT] = {
#define NS_CTR_INFO(name, help) [NS_CTR_##name] = { #name, help },
	NS_COUNTERS(NS_CTR_INFO)
#undef NS_CTR_INFO
};

const char *ns_counter_name(enum ns_ctr id)
{
	return (unsigned)id < NS_CTR_COUNT ? ns_counter_info[id].name : "?";
}

const char *ns_counter_help(enum ns_ctr id)
{
	return (unsigned)id < NS_CTR_COUNT ? ns_counter_info[id].help : "?";
}

void ns_counters_sum(const struct ns_counters *const *blocks, unsigned n,
		     uint64_t out[NS_CTR_COUNT])
{
	for (unsigned i = 0; i < NS_CTR_COUNT; i++)
		out[i] = 0;
	for (unsigned b = 0; b < n; b++)
		for (unsigned i = 0; i < NS_CTR_COUNT; i++)
			out[i] += ns_counter_get(blocks[b], (enum ns_ctr)i);
}

/* ---------------------------------------------------------------- */
/* Byte access and checksums */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * RFC 1071: the one's complement sum is the same whatever the byte order
 * of the words, as long as every piece is summed the same way; so sum the
 * machine's own words, 32 bits at a time into 64 bits (2^32 = 1 modulo
 * 0xffff, so folding at the end gives the 16-bit sum).
 *
 * This is the per-packet cost of the UDP path (the request verified, the
 * answer computed: about 900 bytes a REGISTER), so the bulk goes 16 bytes
 * an instruction group with SSE2 (x86-64's baseline), PMADDWD adding
 * pairs of 16-bit words into 32-bit lanes. PMADDWD's words are signed, so
 * each word u is first turned into u - 32768 (its top bit flipped), and
 * 65536 is added back per pair at the end: three instructions per 16
 * bytes, about a fifth of an instruction per byte, where the 64-bit loop
 * of the tail takes more than half.
 */
static inline uint64_t sum_tail(uint64_t s, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		s += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		s += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The last byte is the high-order byte of a zero-padded word. */
		uint8_t pad[2] = { p[0], 0 };
		uint16_t w;
		memcpy(&w, pad, 2);
		s += w;
	}
	return s;
}

static inline uint32_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

#ifdef __SSE2__
/* The four 32-bit lanes of v added up (together within 2^29 in magnitude
 * here, so the sum fits). */
static inline int32_t hsum_epi32(__m128i v)
{
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
	return _mm_cvtsi128_si32(v);
}

/* The 16-byte blocks of *pp, in pieces of at most 32 KiB: a 32-bit lane
 * then gathers at most 2048 pair sums, each within [-65536, 65534], and
 * the four lanes together stay below 2^29. Advances *pp and *lenp past
 * them. */
static uint64_t sum_bulk(uint64_t s, const uint8_t **pp, size_t *lenp)
{
	const __m128i flip = _mm_set1_epi16((short)0x8000), ones = _mm_set1_epi16(1);
	const uint8_t *p = *pp;
	size_t len = *lenp;

#define SUM16(acc, q) \
	acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_xor_si128( \
		_mm_loadu_si128((const __m128i *)(const void *)(q)), flip), ones))
	while (len >= 16) {
		size_t blocks = (len < 32768 ? len : 32768) / 16, i = 0;
		__m128i a = _mm_setzero_si128(), b = _mm_setzero_si128();

		for (; i + 4 <= blocks; i += 4, p += 64) {
			SUM16(a, p);
			SUM16(b, p + 16);
			SUM16(a, p + 32);
			SUM16(b, p + 48);
		}
		for (; i < blocks; i++, p += 16)
			SUM16(a, p);
		/* Four pairs a block, each 65536 short. */
		s += (uint64_t)((int64_t)hsum_epi32(_mm_add_epi32(a, b)) +
				((int64_t)blocks << 18));
		len -= blocks * 16;
	}
#undef SUM16
	*pp = p;
	*lenp = len;
	return s;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define NS_HAVE_AVX2_PATH 1
/* The same with AVX2 where the CPU has it (checked at each call: one
 * load and a test): 32 bytes per three instructions, the loads folded
 * into VPXOR (SSE2's PXOR needs aligned memory operands, so there each
 * block costs a separate load too), and a last 16-byte block the same
 * way. Pieces of at most 32 KiB: at most 16 384 pair sums, so the lanes
 * together stay within [-2^30, 2^30). */
__attribute__((target("avx2"))) static uint64_t sum_bulk_avx2(uint64_t s, const uint8_t **pp,
							       size_t *lenp)
{
	const __m256i flip = _mm256_set1_epi16((short)0x8000), ones = _mm256_set1_epi16(1);
	const uint8_t *p = *pp;
	size_t len = *lenp;

#define SUM32(acc, q) \
	acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_xor_si256( \
		_mm256_loadu_si256((const __m256i *)(const void *)(q)), flip), ones))
	while (len >= 16) {
		size_t piece = len < 32768 ? len : 32768, blocks = piece / 32, i = 0;
		__m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
		int64_t pairs = (int64_t)blocks * 8;
		__m128i v;

		for (; i + 2 <= blocks; i += 2, p += 64) {
			SUM32(a, p);
			SUM32(b, p + 32);
		}
		if (i < blocks) {
			SUM32(a, p);
			p += 32;
		}
		len -= blocks * 32;
		v = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
		v = _mm_add_epi32(v, _mm256_castsi256_si128(b));
		v = _mm_add_epi32(v, _mm256_extracti128_si256(b, 1));
		if (len >= 16 && piece < 32768) {
			/* The last 16-byte block of the buffer. */
			v = _mm_add_epi32(v, _mm_madd_epi16(_mm_xor_si128(
				_mm_loadu_si128((const __m128i *)(const void *)p),
				_mm256_castsi256_si128(flip)), _mm256_castsi256_si128(ones)));
			p += 16;
			len -= 16;
			pairs += 4;
		}
		v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
		v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
		/* Each pair 65536 short. */
		s += (uint64_t)((int64_t)_mm_cvtsi128_si32(v) + (pairs << 16));
	}
#undef SUM32
	*pp = p;
	*lenp = len;
	return s;
}
#endif

/* The running sum of len bytes, in 64 bits (not folded). */
static inline uint64_t sum_bytes(uint64_t s, const uint8_t *p, size_t len, bool avx2)
{
#ifdef NS_HAVE_AVX2_PATH
	if (avx2 && len >= 32)
		s = sum_bulk_avx2(s, &p, &len);
#else
	(void)avx2;
#endif
#ifdef __SSE2__
	if (len >= 16)
		s = sum_bulk(s, &p, &len);
#endif
	return sum_tail(s, p, len);
}

uint32_t ns_cksum_add(uint32_t sum, const void *data, size_t len)
{
#ifdef NS_HAVE_AVX2_PATH
	return fold64(sum_bytes(sum, data, len, __builtin_cpu_supports("avx2")));
#else
	return fold64(sum_bytes(sum, data, len, false));
#endif
}

uint32_t ns_cksum_add_noavx2(uint32_t sum, const void *data, size_t len)
{
	return fold64(sum_bytes(sum, data, len, false));
}

uint16_t ns_cksum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A 16-bit value in network order, as a machine word for ns_cksum_add's sums. */
static inline uint32_t net16(uint16_t v)
{
	return htons(v);
}

/* n (a multiple of 4, a constant where inlined) bytes of a header or an
 * address, 32 bits at a time. */
static inline uint64_t sum_words(uint64_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		s += w;
	}
	return s;
}

/* The IPv4 or IPv6 pseudo-header sum (addresses, protocol, length). */
static inline uint32_t pseudo_sum(sa_family_t family, const uint8_t *src, const uint8_t *dst,
				  uint8_t proto, uint32_t len)
{
	uint64_t s;

	/* IPv6's 32-bit length and next header: the upper halves are 0. */
	s = (uint64_t)net16(proto) + net16((uint16_t)len);
	if (family == AF_INET)
		s = sum_words(sum_words(s, src, 4), dst, 4);
	else
		s = sum_words(sum_words(s, src, 16), dst, 16);
	return fold64(s);
}

/* The IPv4 header checksum over ihl bytes (20 in the usual case). */
static inline uint16_t ip4_cksum(const uint8_t *ip, uint32_t ihl)
{
	if (ihl == IP4_HDR)
		return ns_cksum_fold(fold64(sum_words(0, ip, IP4_HDR)));
	return ns_cksum_fold(ns_cksum_add(0, ip, ihl));
}

static inline void put_cksum(uint8_t *field, uint16_t ck)
{
	memcpy(field, &ck, 2);
}

/* ---------------------------------------------------------------- */
/* Set-up */

static int errf(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return TDM_ECONFIG;
}

int ns_init(struct netstack *ns, const uint8_t mac[6], uint16_t mtu,
	    const union tdm_addr *listen, unsigned nlisten, char *err, size_t errcap)
{
	memset(ns, 0, sizeof(*ns));
	memcpy(ns->mac, mac, 6);
	if (nlisten == 0 || nlisten > NS_MAX_LOCAL)
		return errf(err, errcap, "between 1 and %d listen addresses needed",
			    NS_MAX_LOCAL);
	if (mac[0] & 1)
		return errf(err, errcap, "the port's MAC address is a multicast address");
	if (mtu < 576)
		return errf(err, errcap, "the port's MTU (%u) is below 576", mtu);
	ns->mtu = mtu;

	for (unsigned i = 0; i < nlisten; i++) {
		const union tdm_addr *a = &listen[i];
		struct ns_local *l = &ns->local[i];
		char name[TDM_ADDR_STRLEN];

		addr_format(a, name, sizeof(name));
		if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
			return errf(err, errcap, "listen address %u: not IPv4 or IPv6", i);
		if (addr_is_any(a))
			return errf(err, errcap, "%s: io.mode = dpdk needs the node's own "
				    "address, not a wildcard (it answers ARP and neighbour "
				    "solicitations for it)", name);
		if (addr_port(a) == 0)
			return errf(err, errcap, "%s: io.mode = dpdk needs a port", name);
		l->family = a->sa.sa_family;
		l->port = addr_port(a);
		if (l->family == AF_INET) {
			memcpy(l->ip, &a->in4.sin_addr, 4);
			if (l->ip[0] >= 224 || l->ip[0] == 0 || l->ip[0] == 127)
				return errf(err, errcap, "%s: not a unicast address a port "
					    "can own", name);
		} else {
			memcpy(l->ip, &a->in6.sin6_addr, 16);
			if (l->ip[0] == 0xff || IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr) ||
			    IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr))
				return errf(err, errcap, "%s: not a unicast address a port "
					    "can own", name);
			if (mtu < NS_MTU_MIN)
				return errf(err, errcap, "%s: IPv6 needs an MTU of at least "
					    "%d (the port has %u)", name, NS_MTU_MIN, mtu);
		}
	}
	ns->nlocal = nlisten;
	return 0;
}

uint32_t ns_frame_max(const struct netstack *ns)
{
	return NS_ETH_LEN + NS_VLAN_LEN + ns->mtu;
}

/* Index of the first local address with this IP (any port), or -1. */
static int find_ip(const struct netstack *ns, sa_family_t family, const uint8_t *ip)
{
	size_t alen = family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < ns->nlocal; i++)
		if (ns->local[i].family == family && memcmp(ns->local[i].ip, ip, alen) == 0)
			return (int)i;
	return -1;
}

/* Index of the local address with this IP and port, or -1. */
static int find_ip_port(const struct netstack *ns, sa_family_t family, const uint8_t *ip,
			uint16_t port)
{
	size_t alen = family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < ns->nlocal; i++)
		if (ns->local[i].family == family && ns->local[i].port == port &&
		    memcmp(ns->local[i].ip, ip, alen) == 0)
			return (int)i;
	return -1;
}

/* ---------------------------------------------------------------- */
/* Input */

/* One frame being looked at. */
struct frame {
	const struct netstack *ns;
	struct ns_counters *c;
	uint8_t *buf;
	uint32_t len;                    /* bytes received */
	uint32_t cap;                    /* bytes the buffer holds */
	uint32_t l2;                     /* offset of the network header */
	bool vlan;
	uint16_t tci;
	unsigned rx_flags;
};

static inline bool mac_is_ours(const struct frame *f)
{
	return memcmp(f->buf, f->ns->mac, 6) == 0;
}

static enum ns_verdict drop(struct frame *f, enum ns_ctr why)
{
	ns_count(f->c, why);
	return NS_DROP;
}

/* The Ethernet header of an answer: back to the sender, from us. */
static void eth_reply(struct frame *f, const uint8_t *dst_mac)
{
	uint8_t dst[6];

	memcpy(dst, dst_mac, 6);
	memcpy(f->buf, dst, 6);
	memcpy(f->buf + 6, f->ns->mac, 6);
}

/* Finish an answer of len bytes written in place: pad to the Ethernet
 * minimum. */
static enum ns_verdict reply(struct frame *f, uint32_t len, uint32_t *reply_len,
			     enum ns_ctr what)
{
	if (len < NS_ETH_MIN) {
		memset(f->buf + len, 0, NS_ETH_MIN - len);
		len = NS_ETH_MIN;
	}
	*reply_len = len;
	ns_count(f->c, what);
	return NS_REPLY;
}

/* RFC 826 with RFC 5227's probes (sender IP 0.0.0.0) answered too. */
static enum ns_verdict arp_input(struct frame *f, uint32_t *reply_len)
{
	uint8_t *a = f->buf + f->l2;
	uint8_t sha[6], spa[4], tpa[4];

	if (f->len - f->l2 < 28)
		return drop(f, NS_CTR_drop_truncated);
	if (rd16(a) != 1 || rd16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4)
		return drop(f, NS_CTR_drop_bad_header);
	if (rd16(a + 6) != 1)                   /* replies, RARP: not ours to answer */
		return drop(f, NS_CTR_drop_arp_other);
	memcpy(sha, a + 8, 6);
	memcpy(spa, a + 14, 4);
	memcpy(tpa, a + 24, 4);
	if (find_ip(f->ns, AF_INET, tpa) < 0)
		return drop(f, NS_CTR_drop_arp_other);
	if (!mac_is_ours(f) && !(f->buf[0] == 0xff && memcmp(f->buf, f->buf + 1, 5) == 0))
		return drop(f, NS_CTR_drop_not_for_us);
	if (sha[0] & 1)
		return drop(f, NS_CTR_drop_bad_source);
	if (f->cap < f->l2 + 28 || f->cap < NS_ETH_MIN)
		return drop(f, NS_CTR_drop_no_room);

	eth_reply(f, f->buf + 6);
	wr16(a + 6, 2);
	memcpy(a + 8, f->ns->mac, 6);
	memcpy(a + 14, tpa, 4);
	memcpy(a + 18, sha, 6);
	memcpy(a + 24, spa, 4);
	return reply(f, f->l2 + 28, reply_len, NS_CTR_arp_replies);
}

static bool ip4_bad_source(const uint8_t *ip)
{
	return ip[0] >= 224 || ip[0] == 0 || ip[0] == 127;
}

static enum ns_verdict udp_deliver(struct frame *f, const uint8_t *l4, uint16_t ulen,
				   int local, uint8_t tclass, struct ns_datagram *dg)
{
	dg->data = l4 + UDP_HDR;
	dg->len = ulen - UDP_HDR;
	memcpy(dg->peer.mac, f->buf + 6, 6);
	dg->peer.vlan = f->vlan;
	dg->peer.vlan_tci = f->vlan ? f->tci : 0;
	dg->peer.tclass = tclass & 0xfc;
	dg->peer.local = (uint16_t)local;
	ns_count(f->c, NS_CTR_rx_udp);
	return NS_DATAGRAM;
}

static enum ns_verdict ip4_input(struct frame *f, struct ns_datagram *dg, uint32_t *reply_len)
{
	uint8_t *ip = f->buf + f->l2;
	uint32_t room = f->len - f->l2;
	uint32_t ihl, tot;
	int local;

	if (room < IP4_HDR)
		return drop(f, NS_CTR_drop_truncated);
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	tot = rd16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < IP4_HDR || tot < ihl)
		return drop(f, NS_CTR_drop_bad_header);
	if (tot > room)
		return drop(f, NS_CTR_drop_truncated);
	if (!(f->rx_flags & NS_RX_IP_CKSUM_GOOD) &&
	    ((f->rx_flags & NS_RX_IP_CKSUM_BAD) || ip4_cksum(ip, ihl) != 0))
		return drop(f, NS_CTR_drop_ip_cksum);
	if (!mac_is_ours(f))
		return drop(f, NS_CTR_drop_not_for_us);
	local = find_ip(f->ns, AF_INET, ip + 16);
	if (local < 0)
		return drop(f, NS_CTR_drop_not_for_us);
	if (ip4_bad_source(ip + 12))
		return drop(f, NS_CTR_drop_bad_source);
	if (rd16(ip + 6) & 0x3fff)              /* MF or a fragment offset */
		return drop(f, NS_CTR_drop_fragment);

	uint8_t *l4 = ip + ihl;
	uint32_t l4len = tot - ihl;

	if (ip[9] == IPPROTO_UDP_) {
		uint16_t ulen, ck;

		if (l4len < UDP_HDR)
			return drop(f, NS_CTR_drop_truncated);
		ulen = rd16(l4 + 4);
		if (ulen < UDP_HDR)
			return drop(f, NS_CTR_drop_bad_header);
		if (ulen > l4len)
			return drop(f, NS_CTR_drop_truncated);
		local = find_ip_port(f->ns, AF_INET, ip + 16, rd16(l4 + 2));
		if (local < 0)
			return drop(f, NS_CTR_drop_udp_port);
		memcpy(&ck, l4 + 6, 2);
		/* RFC 768: a zero checksum means none was computed. */
		if (ck != 0 && !(f->rx_flags & NS_RX_L4_CKSUM_GOOD)) {
			if ((f->rx_flags & NS_RX_L4_CKSUM_BAD) ||
			    ns_cksum_fold(ns_cksum_add(pseudo_sum(AF_INET, ip + 12, ip + 16,
								  IPPROTO_UDP_, ulen),
						       l4, ulen)) != 0)
				return drop(f, NS_CTR_drop_udp_cksum);
		}
		dg->src.in4 = (struct sockaddr_in){ .sin_family = AF_INET };
		memcpy(&dg->src.in4.sin_addr, ip + 12, 4);
		memcpy(&dg->src.in4.sin_port, l4, 2);
		return udp_deliver(f, l4, ulen, local, ip[1], dg);
	}
	if (ip[9] != IPPROTO_ICMP_)
		return drop(f, NS_CTR_drop_proto);

	if (l4len < 8)
		return drop(f, NS_CTR_drop_truncated);
	if (ns_cksum_fold(ns_cksum_add(0, l4, l4len)) != 0)
		return drop(f, NS_CTR_drop_icmp_cksum);
	if (l4[0] != ICMP_ECHO_REQUEST || l4[1] != 0)
		return drop(f, NS_CTR_drop_icmp_other);

	/* The echo reply, in place: same identifier, sequence and data. */
	uint8_t addr[4];
	eth_reply(f, f->buf + 6);
	memcpy(addr, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, addr, 4);
	ip[8] = TTL_DEFAULT;
	wr16(ip + 6, 0);
	wr16(ip + 10, 0);
	put_cksum(ip + 10, ip4_cksum(ip, ihl));
	l4[0] = ICMP_ECHO_REPLY;
	wr16(l4 + 2, 0);
	put_cksum(l4 + 2, ns_cksum_fold(ns_cksum_add(0, l4, l4len)));
	return reply(f, f->l2 + tot, reply_len, NS_CTR_icmp_echo_replies);
}

static bool ip6_is_unspecified(const uint8_t *a)
{
	static const uint8_t zero[16];

	return memcmp(a, zero, 16) == 0;
}

/* ff02::1:ffXX:XXXX for target t (RFC 4291 §2.7.1). */
static bool ip6_is_solicited_node(const uint8_t *a, const uint8_t *t)
{
	static const uint8_t prefix[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	return memcmp(a, prefix, 13) == 0 && memcmp(a + 13, t + 13, 3) == 0;
}

/* A neighbour solicitation (RFC 4861 §7.1.1 checks) for one of our
 * addresses: a solicited advertisement in place (§7.2.4). */
static enum ns_verdict nd_solicit(struct frame *f, uint8_t *ip, const uint8_t *icmp,
				  uint32_t len, uint32_t *reply_len)
{
	uint8_t target[16], src[16], peer_mac[6];
	bool dad = ip6_is_unspecified(ip + 8);

	if (ip[7] != 255 || icmp[1] != 0 || len < 24 || icmp[8] == 0xff)
		return drop(f, NS_CTR_drop_bad_header);
	for (uint32_t o = 24; o < len;) {       /* options: none may have length 0 */
		if (len - o < 2 || icmp[o + 1] == 0 || (uint32_t)icmp[o + 1] * 8 > len - o)
			return drop(f, NS_CTR_drop_bad_header);
		if (dad && icmp[o] == ND_OPT_SOURCE_LLADDR)
			return drop(f, NS_CTR_drop_bad_header);
		o += (uint32_t)icmp[o + 1] * 8;
	}
	memcpy(target, icmp + 8, 16);
	if (find_ip(f->ns, AF_INET6, target) < 0)
		return drop(f, NS_CTR_drop_nd_other);
	if (ip[24] == 0xff ? !ip6_is_solicited_node(ip + 24, target)
			   : memcmp(ip + 24, target, 16) != 0 || !mac_is_ours(f))
		return drop(f, NS_CTR_drop_nd_other);
	if (dad && ip[24] != 0xff)
		return drop(f, NS_CTR_drop_bad_header);
	if (f->cap < f->l2 + IP6_HDR + 32)
		return drop(f, NS_CTR_drop_no_room);

	memcpy(src, ip + 8, 16);
	memcpy(peer_mac, f->buf + 6, 6);
	if (dad) {
		/* A duplicate address detection probe for our address: defend
		 * it to all nodes (§7.2.4). */
		static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
		static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
		memcpy(peer_mac, all_nodes_mac, 6);
		memcpy(src, all_nodes, 16);
	}
	eth_reply(f, peer_mac);
	wr32(ip, 6u << 28);
	wr16(ip + 4, 32);
	ip[6] = IPPROTO_ICMPV6_;
	ip[7] = 255;
	memcpy(ip + 8, target, 16);
	memcpy(ip + 24, src, 16);

	uint8_t *na = ip + IP6_HDR;
	memset(na, 0, 32);
	na[0] = ND_NEIGHBOR_ADVERT;
	na[4] = dad ? 0x20 : 0x60;              /* Override, and Solicited if unicast */
	memcpy(na + 8, target, 16);
	na[24] = ND_OPT_TARGET_LLADDR;
	na[25] = 1;
	memcpy(na + 26, f->ns->mac, 6);
	put_cksum(na + 2, ns_cksum_fold(ns_cksum_add(pseudo_sum(AF_INET6, ip + 8, ip + 24,
								IPPROTO_ICMPV6_, 32),
						     na, 32)));
	return reply(f, f->l2 + IP6_HDR + 32, reply_len, NS_CTR_nd_adverts);
}

static enum ns_verdict icmp6_input(struct frame *f, uint8_t *ip, uint32_t off, uint32_t end,
				   int local, uint32_t *reply_len)
{
	uint8_t *icmp = ip + off;
	uint32_t len = end - off;

	if (len < 4)
		return drop(f, NS_CTR_drop_truncated);
	if (ns_cksum_fold(ns_cksum_add(pseudo_sum(AF_INET6, ip + 8, ip + 24, IPPROTO_ICMPV6_,
						  len),
				       icmp, len)) != 0)
		return drop(f, NS_CTR_drop_icmp_cksum);
	if (icmp[0] == ND_NEIGHBOR_SOLICIT)
		return nd_solicit(f, ip, icmp, len, reply_len);
	if (icmp[0] != ICMP6_ECHO_REQUEST || icmp[1] != 0 || local < 0)
		return drop(f, NS_CTR_drop_nd_other);
	if (ip6_is_unspecified(ip + 8))
		return drop(f, NS_CTR_drop_bad_source);
	if (len < 8)
		return drop(f, NS_CTR_drop_truncated);

	/* The echo reply, in place, without the request's extension
	 * headers. */
	uint8_t addr[16];
	eth_reply(f, f->buf + 6);
	memcpy(addr, ip + 8, 16);
	memcpy(ip + 8, ip + 24, 16);
	memcpy(ip + 24, addr, 16);
	if (off != IP6_HDR)
		memmove(ip + IP6_HDR, icmp, len);
	icmp = ip + IP6_HDR;
	wr16(ip + 4, (uint16_t)len);
	ip[6] = IPPROTO_ICMPV6_;
	ip[7] = TTL_DEFAULT;
	icmp[0] = ICMP6_ECHO_REPLY;
	wr16(icmp + 2, 0);
	put_cksum(icmp + 2, ns_cksum_fold(ns_cksum_add(pseudo_sum(AF_INET6, ip + 8, ip + 24,
								  IPPROTO_ICMPV6_, len),
						       icmp, len)));
	return reply(f, f->l2 + IP6_HDR + len, reply_len, NS_CTR_icmp6_echo_replies);
}

static enum ns_verdict ip6_input(struct frame *f, struct ns_datagram *dg, uint32_t *reply_len)
{
	uint8_t *ip = f->buf + f->l2;
	uint32_t room = f->len - f->l2;
	uint32_t end, off = IP6_HDR;
	uint8_t nh;
	int local;

	if (room < IP6_HDR)
		return drop(f, NS_CTR_drop_truncated);
	if (ip[0] >> 4 != 6)
		return drop(f, NS_CTR_drop_bad_header);
	end = IP6_HDR + rd16(ip + 4);
	if (end > room)
		return drop(f, NS_CTR_drop_truncated);
	local = find_ip(f->ns, AF_INET6, ip + 24);
	if (local < 0 && ip[24] != 0xff)
		return drop(f, NS_CTR_drop_not_for_us);
	if (local >= 0 && !mac_is_ours(f))
		return drop(f, NS_CTR_drop_not_for_us);
	if (ip[8] == 0xff)
		return drop(f, NS_CTR_drop_bad_source);

	/* Extension headers before the upper layer (RFC 8200 §4). */
	nh = ip[6];
	while (nh == IPPROTO_HOPOPTS_ || nh == IPPROTO_DSTOPTS_ || nh == IPPROTO_ROUTING_) {
		uint32_t hlen;

		if (end - off < 8)
			return drop(f, NS_CTR_drop_truncated);
		hlen = ((uint32_t)ip[off + 1] + 1) * 8;
		if (hlen > end - off)
			return drop(f, NS_CTR_drop_truncated);
		/* A routing header with segments left asks us to forward. */
		if (nh == IPPROTO_ROUTING_ && ip[off + 3] != 0)
			return drop(f, NS_CTR_drop_proto);
		nh = ip[off];
		off += hlen;
	}
	if (nh == IPPROTO_FRAGMENT_)
		return drop(f, NS_CTR_drop_fragment);
	if (nh == IPPROTO_ICMPV6_)
		return icmp6_input(f, ip, off, end, local, reply_len);
	if (local < 0)                          /* multicast UDP and the like */
		return drop(f, NS_CTR_drop_not_for_us);
	if (nh != IPPROTO_UDP_)
		return drop(f, NS_CTR_drop_proto);
	if (ip6_is_unspecified(ip + 8))
		return drop(f, NS_CTR_drop_bad_source);

	uint8_t *l4 = ip + off;
	uint32_t l4len = end - off;
	uint16_t ulen, ck;

	if (l4len < UDP_HDR)
		return drop(f, NS_CTR_drop_truncated);
	ulen = rd16(l4 + 4);
	if (ulen < UDP_HDR)
		return drop(f, NS_CTR_drop_bad_header);
	if (ulen > l4len)
		return drop(f, NS_CTR_drop_truncated);
	local = find_ip_port(f->ns, AF_INET6, ip + 24, rd16(l4 + 2));
	if (local < 0)
		return drop(f, NS_CTR_drop_udp_port);
	memcpy(&ck, l4 + 6, 2);
	/* RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6. */
	if (ck == 0)
		return drop(f, NS_CTR_drop_udp_cksum);
	if (!(f->rx_flags & NS_RX_L4_CKSUM_GOOD) &&
	    ((f->rx_flags & NS_RX_L4_CKSUM_BAD) ||
	     ns_cksum_fold(ns_cksum_add(pseudo_sum(AF_INET6, ip + 8, ip + 24, IPPROTO_UDP_, ulen),
					l4, ulen)) != 0))
		return drop(f, NS_CTR_drop_udp_cksum);
	dg->src.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6 };
	memcpy(&dg->src.in6.sin6_addr, ip + 8, 16);
	memcpy(&dg->src.in6.sin6_port, l4, 2);
	return udp_deliver(f, l4, ulen, local, (uint8_t)(rd16(ip) >> 4), dg);
}

enum ns_verdict ns_input(const struct netstack *ns, struct ns_counters *c, uint8_t *frame,
			 uint32_t len, uint32_t cap, unsigned rx_flags,
			 struct ns_datagram *dg, uint32_t *reply_len)
{
	struct frame f = {
		.ns = ns, .c = c, .buf = frame, .len = len, .cap = cap < len ? len : cap,
		.l2 = NS_ETH_LEN, .rx_flags = rx_flags,
	};
	uint16_t type;

	*reply_len = 0;
	ns_count(c, NS_CTR_rx_frames);
	ns_count_add(c, NS_CTR_rx_bytes, len);
	if (len < NS_ETH_LEN)
		return drop(&f, NS_CTR_drop_truncated);
	type = rd16(frame + 12);
	if (type == ETHERTYPE_VLAN) {
		if (len < NS_ETH_LEN + NS_VLAN_LEN)
			return drop(&f, NS_CTR_drop_truncated);
		f.vlan = true;
		f.tci = rd16(frame + 14);
		type = rd16(frame + 16);
		f.l2 += NS_VLAN_LEN;
	}
	if (frame[6] & 1)                       /* a multicast source MAC */
		return drop(&f, NS_CTR_drop_bad_source);
	switch (type) {
	case ETHERTYPE_ARP:
		return arp_input(&f, reply_len);
	case ETHERTYPE_IPV4:
		return ip4_input(&f, dg, reply_len);
	case ETHERTYPE_IPV6:
		return ip6_input(&f, dg, reply_len);
	default:
		return drop(&f, NS_CTR_drop_proto);
	}
}

/* ---------------------------------------------------------------- */
/* Output */

int ns_udp_prepare(const struct netstack *ns, const struct ns_peer *peer,
		   const union tdm_addr *dst, const uint8_t *payload, uint32_t len,
		   uint32_t ident, unsigned offloads, struct ns_tx *tx)
{
	const struct ns_local *loc;
	uint32_t l3, ipdata = UDP_HDR + len;

	if (peer->local >= ns->nlocal || len > UDP_MAX_PAYLOAD)
		return TDM_EMALFORMED;
	loc = &ns->local[peer->local];
	if (dst->sa.sa_family != loc->family)
		return TDM_EMALFORMED;

	/* Every field is set below (no memset: this runs per answer). */
	tx->ns = ns;
	tx->peer = *peer;
	tx->payload = payload;
	tx->len = len;
	tx->family = loc->family;
	/* sin_port and sin6_port are at the same place, in network order. */
	_Static_assert(offsetof(struct sockaddr_in, sin_port) ==
		       offsetof(struct sockaddr_in6, sin6_port), "port offsets");
	tx->dst_port = ntohs(dst->in4.sin_port);
	tx->ident = ident;
	tx->offloads = 0;
	if (loc->family == AF_INET)
		memcpy(tx->dst_ip, &dst->in4.sin_addr, 4);
	else
		memcpy(tx->dst_ip, &dst->in6.sin6_addr, 16);
	l3 = loc->family == AF_INET ? IP4_HDR : IP6_HDR;
	tx->l2_len = (uint16_t)(NS_ETH_LEN + (peer->vlan ? NS_VLAN_LEN : 0));
	tx->l3_len = (uint16_t)l3;

	if (l3 + ipdata <= ns->mtu) {
		tx->nframes = 1;
		tx->frag_data = ipdata;
	} else {
		/* RFC 791 / RFC 8200 §4.5: fragment data in multiples of 8. */
		tx->frag_data = (ns->mtu - l3 - (loc->family == AF_INET6 ? IP6_FRAG_HDR : 0)) &
				~7u;
		tx->nframes = (ipdata + tx->frag_data - 1) / tx->frag_data;
	}

	uint32_t sum = pseudo_sum(loc->family, loc->ip, tx->dst_ip, IPPROTO_UDP_, ipdata);
	if (tx->nframes == 1 && (offloads & NS_TX_UDP_CKSUM)) {
		/* The port adds the header and data to the pseudo-header sum
		 * it finds in the field. */
		tx->cksum = (uint16_t)~ns_cksum_fold(sum);
		tx->offloads |= NS_TX_UDP_CKSUM;
	} else {
		/* The UDP header's words (its checksum field 0), then the data. */
		uint64_t h = (uint64_t)sum + net16(loc->port) + net16(tx->dst_port) +
			     net16((uint16_t)ipdata);
		tx->cksum = ns_cksum_fold(ns_cksum_add(fold64(h), payload, len));
		if (tx->cksum == 0)             /* RFC 768: 0 means none; send all ones */
			tx->cksum = 0xffff;
	}
	if (tx->nframes == 1 && loc->family == AF_INET && (offloads & NS_TX_IP_CKSUM))
		tx->offloads |= NS_TX_IP_CKSUM;
	return (int)tx->nframes;
}

uint32_t ns_udp_frame(const struct ns_tx *tx, unsigned i, uint8_t *buf, uint32_t cap)
{
	const struct netstack *ns = tx->ns;
	const struct ns_local *loc = &ns->local[tx->peer.local];
	uint32_t ipdata = UDP_HDR + tx->len;
	uint32_t from = i * tx->frag_data, n, hdr, len;
	bool frag = tx->nframes > 1;
	uint8_t *p = buf, *ip;

	if (i >= tx->nframes)
		return 0;
	n = ipdata - from < tx->frag_data ? ipdata - from : tx->frag_data;
	hdr = tx->l2_len + tx->l3_len + (frag && tx->family == AF_INET6 ? IP6_FRAG_HDR : 0);
	len = hdr + n;
	if (cap < len || cap < NS_ETH_MIN)
		return 0;

	memcpy(p, tx->peer.mac, 6);
	memcpy(p + 6, ns->mac, 6);
	p += 12;
	if (tx->peer.vlan) {
		wr16(p, ETHERTYPE_VLAN);
		wr16(p + 2, tx->peer.vlan_tci);
		p += 4;
	}
	wr16(p, tx->family == AF_INET ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
	ip = p + 2;

	if (tx->family == AF_INET) {
		uint16_t fl = 0;

		if (frag)
			fl = (uint16_t)((from / 8) | (i + 1 < tx->nframes ? 0x2000 : 0));
		ip[0] = 0x45;
		ip[1] = tx->peer.tclass;
		wr16(ip + 2, (uint16_t)(IP4_HDR + n));
		wr16(ip + 4, (uint16_t)tx->ident);
		wr16(ip + 6, fl);
		ip[8] = TTL_DEFAULT;
		ip[9] = IPPROTO_UDP_;
		wr16(ip + 10, 0);
		memcpy(ip + 12, loc->ip, 4);
		memcpy(ip + 16, tx->dst_ip, 4);
		if (!(tx->offloads & NS_TX_IP_CKSUM))
			put_cksum(ip + 10, ip4_cksum(ip, IP4_HDR));
		p = ip + IP4_HDR;
	} else {
		wr32(ip, 6u << 28 | (uint32_t)tx->peer.tclass << 20);
		wr16(ip + 4, (uint16_t)(n + (frag ? IP6_FRAG_HDR : 0)));
		ip[6] = frag ? IPPROTO_FRAGMENT_ : IPPROTO_UDP_;
		ip[7] = TTL_DEFAULT;
		memcpy(ip + 8, loc->ip, 16);
		memcpy(ip + 24, tx->dst_ip, 16);
		p = ip + IP6_HDR;
		if (frag) {
			p[0] = IPPROTO_UDP_;
			p[1] = 0;
			wr16(p + 2, (uint16_t)(from | (i + 1 < tx->nframes ? 1 : 0)));
			wr32(p + 4, tx->ident);
			p += IP6_FRAG_HDR;
		}
	}

	/* The IP payload from offset `from`: the UDP header, then data. */
	if (from == 0) {
		wr16(p, loc->port);
		wr16(p + 2, tx->dst_port);
		wr16(p + 4, (uint16_t)ipdata);
		put_cksum(p + 6, tx->cksum);
		memcpy(p + UDP_HDR, tx->payload, n - UDP_HDR);
	} else {
		memcpy(p, tx->payload + (from - UDP_HDR), n);
	}
	if (len < NS_ETH_MIN) {
		memset(buf + len, 0, NS_ETH_MIN - len);
		len = NS_ETH_MIN;
	}
	return len;
}
