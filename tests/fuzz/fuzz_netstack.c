/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DPDK worker's packet decoder (netstack.c): one
 * input is one received Ethernet frame, preceded by one byte whose low four
 * bits are the port's checksum flags (NS_RX_*). It runs what a worker runs
 * on a frame from the wire, then checks properties that must hold for any
 * input:
 *   - ns_input() never reads or writes outside the frame's buffer (the
 *     buffer is an exact-size heap copy, so AddressSanitizer sees a byte
 *     past it), and counts every frame it drops;
 *   - an answer made in place (ARP, neighbour advertisement, echo reply)
 *     fits the buffer and is at least an Ethernet header;
 *   - a datagram handed to the pipeline lies inside the frame, names a
 *     listen address of the node, and comes from a non-zero port;
 *   - the UDP answer to that datagram (its own payload sent back, the way
 *     the pipeline answers) cut into frames by ns_udp_prepare() and
 *     ns_udp_frame(), when it fits one frame, is taken by a node that owns
 *     the destination address as a datagram with the same payload, source
 *     and checksums: what we send, we would accept.
 * A broken property aborts, so libFuzzer keeps the input.
 *
 * Build and run: see README.md in this folder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "netstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t NODE_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static struct netstack node;
static bool node_ready;

static void node_init(void)
{
	union tdm_addr l[3];
	char err[160];

	if (addr_parse("198.51.100.1:5060", 0, &l[0]) != 0 ||
	    addr_parse("[2001:db8::1]:5060", 0, &l[1]) != 0 ||
	    addr_parse("198.51.100.1:5080", 0, &l[2]) != 0 ||
	    ns_init(&node, NODE_MAC, 1500, l, 3, err, sizeof(err)) != 0)
		abort();
	node_ready = true;
}

static uint64_t dropped(const struct ns_counters *c)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < NS_CTR_COUNT; i++)
		if (strncmp(ns_counter_name((enum ns_ctr)i), "drop_", 5) == 0)
			sum += ns_counter_get(c, (enum ns_ctr)i);
	return sum;
}

/* The answer to dg, as the pipeline would send it, must be accepted by a
 * node that owns its destination. */
static void check_answer(const struct ns_datagram *dg)
{
	static uint8_t out[2048 + 64];
	struct netstack peer;
	struct ns_counters pc;
	struct ns_datagram back;
	struct ns_tx tx;
	union tdm_addr local;
	uint32_t len, rl = 0;
	char err[160];
	int n;

	n = ns_udp_prepare(&node, &dg->peer, &dg->src, dg->data, dg->len, 1, 0, &tx);
	if (n < 0)
		abort();   /* dg->src is of the local address's family by now */
	if (n != 1 || ns_frame_max(&node) > sizeof(out))
		return;
	len = ns_udp_frame(&tx, 0, out, sizeof(out));
	if (len == 0 || len > ns_frame_max(&node))
		abort();

	/* A node on the other side: the request's source is its address,
	 * the request's source MAC its MAC. Not every source is an address a
	 * node may own (multicast, broadcast, unspecified): those are not
	 * answered by a real peer, skip them. */
	local = dg->src;
	if (ns_init(&peer, dg->peer.mac, 1500, &local, 1, err, sizeof(err)) != 0)
		return;
	memset(&pc, 0, sizeof(pc));
	if (ns_input(&peer, &pc, out, len, len, 0, &back, &rl) != NS_DATAGRAM)
		abort();
	if (back.len != dg->len || memcmp(back.data, dg->data, dg->len) != 0)
		abort();
	if (addr_port(&back.src) != node.local[dg->peer.local].port)
		abort();
	if (back.peer.vlan != dg->peer.vlan ||
	    (back.peer.vlan && (back.peer.vlan_tci & 0x0fff) != (dg->peer.vlan_tci & 0x0fff)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_counters c;
	struct ns_datagram dg;
	uint32_t rl = 0, cap;
	unsigned flags;
	uint8_t *frame;
	enum ns_verdict v;

	if (!node_ready)
		node_init();
	if (size < 1)
		return 0;
	flags = data[0] & 0x0f;
	data++;
	size--;
	if (size > 9216)
		return 0;   /* a jumbo frame is the largest a port hands over */

	/* An exact-size buffer: one byte past it is a heap overflow. An
	 * answer in place may need up to the minimum frame size. */
	cap = size < NS_ETH_MIN ? NS_ETH_MIN : (uint32_t)size;
	frame = malloc(cap ? cap : 1);
	if (!frame)
		return 0;
	memcpy(frame, data, size);
	memset(&c, 0, sizeof(c));
	memset(&dg, 0, sizeof(dg));

	v = ns_input(&node, &c, frame, (uint32_t)size, cap, flags, &dg, &rl);
	switch (v) {
	case NS_DROP:
		if (dropped(&c) == 0)
			abort();   /* every drop is counted */
		break;
	case NS_REPLY:
		if (rl < 14 || rl > cap)
			abort();
		break;
	case NS_DATAGRAM:
		if (dg.data < frame || dg.data + dg.len > frame + size)
			abort();
		if (dg.peer.local >= node.nlocal)
			abort();
		if (addr_port(&dg.src) == 0)
			abort();
		check_answer(&dg);
		break;
	default:
		abort();
	}
	free(frame);
	return 0;
}
