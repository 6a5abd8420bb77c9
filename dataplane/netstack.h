/* SPDX-License-Identifier: MIT */
/*
 * The DPDK back end's own network stack, over plain byte buffers (no DPDK
 * here, so that every path is unit-tested without a port).
 *
 * What it terminates, for the node's own addresses (the [sip] listen
 * addresses) and its own MAC:
 *   - Ethernet II, with or without one 802.1Q tag (answers keep the tag);
 *   - ARP requests for a node IPv4 address: answered;
 *   - IPv6 neighbour solicitations for a node IPv6 address: answered with a
 *     solicited neighbour advertisement (RFC 4861 §7.2.4);
 *   - ICMP echo and ICMPv6 echo to a node address: answered;
 *   - IPv4/IPv6 + UDP to a listen address and port, checksums verified: the
 *     payload goes to the SIP pipeline (ns_input() returns NS_DATAGRAM);
 *   - the SIP answer goes back as UDP from the address and port the request
 *     was sent to, to the MAC the request came from (the client, or the
 *     router that forwarded it), fragmented when it is larger than the MTU.
 * Everything else is dropped and counted: IP fragments (no reassembly: SIP
 * requests over UDP fit one datagram in practice, see docs/dpdk.md), other
 * protocols, other addresses, bad checksums, truncated or malformed
 * headers, and the IPv6 router/neighbour/multicast-listener noise of a LAN.
 *
 * Calling context: ns_init() anywhere; the rest on a worker (no locks, no
 * allocation, no system calls). A struct netstack is immutable once set up
 * and shared by every worker; each worker has its own ns_counters block.
 */
#ifndef TANDEM_NETSTACK_H
#define TANDEM_NETSTACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define NS_MAX_LOCAL 16
#define NS_ETH_LEN 14
#define NS_VLAN_LEN 4
#define NS_ETH_MIN 60                    /* shortest frame without FCS */
#define NS_MTU_DEFAULT 1500
#define NS_MTU_MIN 1280                  /* IPv6's minimum link MTU */

/*
 * Counters of the network stack and of the DPDK back end around it, one
 * block per worker lcore (append-only, like dataplane/counters.h).
 */
#define NS_COUNTERS(X)                                                         \
	X(rx_frames, "Frames received")                                         \
	X(rx_bytes, "Bytes of frames received")                                 \
	X(rx_udp, "UDP datagrams passed to the SIP pipeline")                  \
	X(arp_replies, "ARP requests for a node address answered")              \
	X(nd_adverts, "IPv6 neighbour solicitations answered")                  \
	X(icmp_echo_replies, "ICMP echo requests answered")                     \
	X(icmp6_echo_replies, "ICMPv6 echo requests answered")                  \
	X(tx_frames, "Frames sent (answers of every kind)")                     \
	X(tx_udp, "UDP answers sent")                                           \
	X(tx_fragments, "IP fragments sent (answers larger than the MTU)")      \
	X(drop_truncated, "Frames shorter than their headers say")              \
	X(drop_bad_header, "Malformed IP, ARP or ICMP headers")                 \
	X(drop_ip_cksum, "IPv4 header checksum errors")                         \
	X(drop_udp_cksum, "UDP checksum errors (or IPv6 UDP without checksum)") \
	X(drop_icmp_cksum, "ICMP and ICMPv6 checksum errors")                   \
	X(drop_fragment, "IP fragments (not reassembled)")                      \
	X(drop_not_for_us, "Frames for another MAC or IP address")              \
	X(drop_bad_source, "Frames from a multicast, broadcast or unspecified source") \
	X(drop_arp_other, "ARP other than a request for a node address")        \
	X(drop_nd_other, "IPv6 ND, RA, MLD and other ICMPv6 not answered")      \
	X(drop_icmp_other, "ICMP other than echo requests")                     \
	X(drop_udp_port, "UDP to a node address on a port not listened on")     \
	X(drop_proto, "Other EtherTypes, IP protocols and extension headers")   \
	X(drop_no_room, "Answers that did not fit their buffer")                \
	X(drop_multiseg, "Frames in several segments (not handled)")           \
	X(tx_no_mbuf, "Answer frames not built: mbuf pool empty")               \
	X(tx_full, "Answer frames dropped: TX queue full")

enum ns_ctr {
#define NS_CTR_ENUM(name, help) NS_CTR_##name,
	NS_COUNTERS(NS_CTR_ENUM)
#undef NS_CTR_ENUM
	NS_CTR_COUNT
};

/* One writer per block (its worker); readers sum the blocks. */
struct ns_counters {
	_Atomic uint64_t v[NS_CTR_COUNT];
} __attribute__((aligned(64)));

static inline void ns_count_add(struct ns_counters *c, enum ns_ctr id, uint64_t n)
{
	uint64_t cur = atomic_load_explicit(&c->v[id], memory_order_relaxed);

	atomic_store_explicit(&c->v[id], cur + n, memory_order_relaxed);
}

static inline void ns_count(struct ns_counters *c, enum ns_ctr id)
{
	ns_count_add(c, id, 1);
}

static inline uint64_t ns_counter_get(const struct ns_counters *c, enum ns_ctr id)
{
	return atomic_load_explicit(&c->v[id], memory_order_relaxed);
}

const char *ns_counter_name(enum ns_ctr id);
const char *ns_counter_help(enum ns_ctr id);

/* out[i] = sum over blocks[0..n) of counter i. */
void ns_counters_sum(const struct ns_counters *const *blocks, unsigned n,
		     uint64_t out[NS_CTR_COUNT]);

/* ---------------------------------------------------------------- */

struct ns_local {
	sa_family_t family;              /* AF_INET or AF_INET6 */
	uint16_t port;                   /* host order */
	uint8_t ip[16];                  /* network order; IPv4 in ip[0..3] */
};

/* The node on one port. Immutable once ns_init() has filled it. */
struct netstack {
	uint8_t mac[6];
	uint16_t mtu;                    /* largest IP packet sent */
	unsigned nlocal;
	struct ns_local local[NS_MAX_LOCAL];   /* index = dp_datagram.local */
};

/*
 * Set up ns for the port's MAC and MTU and the SIP listen addresses (which
 * must be concrete unicast addresses: the node answers ARP and neighbour
 * solicitations for them). Returns 0, or TDM_ECONFIG with a message naming
 * the address in err.
 */
int ns_init(struct netstack *ns, const uint8_t mac[6], uint16_t mtu,
	    const union tdm_addr *listen, unsigned nlisten, char *err, size_t errcap);

/* Checksum results the port reported for a frame (ns_input's rx_flags). */
#define NS_RX_IP_CKSUM_GOOD (1u << 0)
#define NS_RX_IP_CKSUM_BAD (1u << 1)
#define NS_RX_L4_CKSUM_GOOD (1u << 2)
#define NS_RX_L4_CKSUM_BAD (1u << 3)

/* Where a datagram came from, as much as its answer needs. */
struct ns_peer {
	uint8_t mac[6];                  /* the sender's or its router's MAC */
	bool vlan;
	uint16_t vlan_tci;               /* host order, when vlan */
	uint8_t tclass;                  /* the request's DSCP (ECN bits clear) */
	uint16_t local;                  /* index into netstack.local */
};

/* A UDP datagram for the SIP pipeline; data points into the frame. */
struct ns_datagram {
	const uint8_t *data;
	uint32_t len;
	union tdm_addr src;
	struct ns_peer peer;
};

enum ns_verdict {
	NS_DROP,                         /* dropped, counted */
	NS_REPLY,                        /* answered in place: send the frame back */
	NS_DATAGRAM,                     /* UDP for a listen address: see dg */
};

/*
 * Handle one received frame of len bytes in a buffer of cap bytes (cap >=
 * len). ARP, neighbour solicitations and echo requests are answered in
 * place: the answer overwrites the frame, *reply_len is its length (at most
 * cap), and the caller sends the buffer back. A datagram for the pipeline
 * fills dg (whose data points into frame). Counts everything in c.
 */
enum ns_verdict ns_input(const struct netstack *ns, struct ns_counters *c, uint8_t *frame,
			 uint32_t len, uint32_t cap, unsigned rx_flags,
			 struct ns_datagram *dg, uint32_t *reply_len);

/* Offloads a port offers for the UDP answers (ns_udp_prepare's offloads). */
#define NS_TX_IP_CKSUM (1u << 0)         /* the port writes the IPv4 header checksum */
#define NS_TX_UDP_CKSUM (1u << 1)        /* the port writes the UDP checksum */

/* A UDP answer, cut into frames: filled by ns_udp_prepare(). */
struct ns_tx {
	const struct netstack *ns;
	struct ns_peer peer;
	const uint8_t *payload;
	uint32_t len;
	uint8_t dst_ip[16];
	uint16_t dst_port;
	sa_family_t family;
	uint16_t cksum;                  /* the UDP checksum field, network order bytes */
	uint32_t ident;                  /* IPv4 ID / IPv6 fragment identification */
	unsigned nframes;
	uint32_t frag_data;              /* IP payload bytes per fragment (multiple of 8) */
	unsigned offloads;               /* what the frames leave to the port */
	uint16_t l2_len, l3_len;         /* header lengths, for the port's offloads */
};

/*
 * Prepare the UDP answer carrying payload[0..len) to dst (the address
 * dp_process() chose) for a datagram that came from peer. Computes the
 * UDP checksum, unless the answer fits one frame and offloads has
 * NS_TX_UDP_CKSUM (then the field holds the pseudo-header sum the port
 * expects). ident numbers the datagram (IPv4 ID, IPv6 fragment ID): the
 * caller keeps a counter per worker. Returns the number of frames (1, or
 * more for an answer larger than the MTU), or TDM_EMALFORMED when dst is
 * not of the family of the local address, or len too big for UDP.
 */
int ns_udp_prepare(const struct netstack *ns, const struct ns_peer *peer,
		   const union tdm_addr *dst, const uint8_t *payload, uint32_t len,
		   uint32_t ident, unsigned offloads, struct ns_tx *tx);

/* Write frame i (0 <= i < nframes) into buf. Returns its length, or 0 if
 * cap is too small. Frames are padded to NS_ETH_MIN bytes. */
uint32_t ns_udp_frame(const struct ns_tx *tx, unsigned i, uint8_t *buf, uint32_t cap);

/* The largest frame ns_udp_frame() writes for this netstack: MTU + link
 * headers. */
uint32_t ns_frame_max(const struct netstack *ns);

/*
 * The Internet checksum (RFC 1071) helpers, exposed for tests: the 32-bit
 * running sum of a buffer in the machine's byte order (add more pieces,
 * each starting at an even offset of the whole), and the folded,
 * complemented result in network byte order.
 */
uint32_t ns_cksum_add(uint32_t sum, const void *data, size_t len);
uint16_t ns_cksum_fold(uint32_t sum);

/* ns_cksum_add() without its AVX2 path (the SSE2 one and the scalar
 * tail), for tests on machines that have AVX2. */
uint32_t ns_cksum_add_noavx2(uint32_t sum, const void *data, size_t len);

#endif
