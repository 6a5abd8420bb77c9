/* SPDX-License-Identifier: MIT */
/*
 * The DPDK back end: one port, one RX/TX queue pair per worker lcore, the
 * node's own Ethernet/ARP/IP/UDP handling (netstack.c) around the shared
 * SIP pipeline.
 *
 * A worker's loop turn: receive a burst from its RX queue; for each frame,
 * netstack decides: drop it, answer it in place (ARP, neighbour
 * solicitation, echo: the same mbuf goes back out), or hand its UDP payload
 * to dp_process(), which writes the SIP answer into the worker's reply
 * buffer; the answer is then framed back into the request's own mbuf (and
 * fresh ones when it must be fragmented). The burst's answers leave in one
 * rte_eth_tx_burst() at the end of the burst, so none waits longer than
 * one burst; then one RCU quiescent state. An idle worker spins on its
 * queue (rte_pause between empty polls) and never sleeps: the lcore is
 * dedicated, and it stays an online QSBR reader that reports a quiescent
 * state every turn.
 *
 * Nothing on a worker locks, allocates from the system (mbufs come from the
 * port's pool, through the lcore's mempool cache), makes a system call
 * (the clocks are vDSO reads) or logs: everything is counted, in the
 * worker's dp_counters and ns_counters, which the control thread reads.
 *
 * Answers go back to the MAC address the request came from (the client
 * on the same link, or the router that forwarded the request), so the node
 * needs no ARP cache or routing table: it only answers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include <urcu-qsbr.h>

#include "err.h"
#include "io_dpdk.h"
#include "rcu.h"

#define IOD_BURST 32
#define IOD_RXD 1024
#define IOD_TXD 1024
/* An answer of DP_REPLY_MAX bytes takes at most 6 frames of 1280 bytes. */
#define IOD_FRAMES_MAX ((DP_REPLY_MAX + 8 + 1231) / 1232)
#define IOD_TX_MAX (IOD_BURST * 2 + IOD_FRAMES_MAX)
#define IOD_TX_RETRIES 8
#define IOD_MBUF_CACHE 256
#define IOD_MBUFS_MIN 8191
#define IOD_MBUFS_MAX 65535
#define IOD_MAX_ARGS 64
#define IOD_NAME 64

struct iod_worker {
	struct dp_worker dp;             /* first: aligned, hot */
	struct ns_counters ns;
	struct io_dpdk *io;
	unsigned index;
	unsigned lcore;
	uint16_t port;
	uint16_t queue;
	uint32_t ident;                  /* IPv4 ID / IPv6 fragment ID of answers */
	unsigned ntx;
	bool launched;
	struct rte_mbuf *rx[IOD_BURST];
	struct rte_mbuf *tx[IOD_TX_MAX];
	struct dp_reply rep;
	char reply[DP_REPLY_MAX];
} __attribute__((aligned(64)));

struct io_dpdk {
	unsigned nworkers;
	uint16_t port;
	bool port_configured;
	bool port_started;
	bool rss;
	unsigned tx_offloads;            /* NS_TX_* */
	uint64_t rx_offloads;            /* RTE_ETH_RX_OFFLOAD_* in use */
	unsigned nmbufs;
	struct rte_mempool *pool;
	struct netstack ns;
	struct call_rcu_data *crdp;      /* the workers' call_rcu thread (RT) */
	atomic_bool stop;
	char driver[IOD_NAME];
	char port_name[RTE_ETH_NAME_MAX_LEN];
	struct iod_worker **workers;     /* nworkers, each on its lcore's socket */
};

/* The EAL is a process-wide singleton: initialised once, cleaned up once. */
static struct {
	bool ready;                      /* rte_eal_init() succeeded */
	bool ours;                       /* ... called by io_dpdk_create() */
	bool gone;                       /* rte_eal_cleanup() called */
	char *args;                      /* the argv strings, kept for the EAL */
} eal;

static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---------------------------------------------------------------- */
/* EAL */

int io_dpdk_split_args(const char *s, char *buf, size_t cap, char **argv, int max)
{
	size_t o = 0;
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			return n;
		if (n == max)
			return TDM_ETOOMANY;
		argv[n++] = buf + o;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
			char c = *s++;

			if (c == '\'') {
				while (*s && *s != '\'') {
					if (o + 1 >= cap)
						return TDM_ENOSPACE;
					buf[o++] = *s++;
				}
				if (*s++ != '\'')
					return TDM_EMALFORMED;
				continue;
			}
			if (c == '"') {
				while (*s && *s != '"') {
					if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
						s++;
					if (o + 1 >= cap)
						return TDM_ENOSPACE;
					buf[o++] = *s++;
				}
				if (*s++ != '"')
					return TDM_EMALFORMED;
				continue;
			}
			if (c == '\\') {
				if (*s == '\0')
					return TDM_EMALFORMED;
				c = *s++;
			}
			if (o + 1 >= cap)
				return TDM_ENOSPACE;
			buf[o++] = c;
		}
		if (o >= cap)
			return TDM_ENOSPACE;
		buf[o++] = '\0';
	}
}

static const char *eal_hint(int e)
{
	switch (e) {
	case EACCES:
		/* The EAL's "Cannot get hugepage information": no hugepages
		 * reserved, no hugetlbfs mounted, or no right to use them.
		 * The first is the common case, root or not. */
		return geteuid() == 0
		       ? "no usable hugepages: none reserved, no hugetlbfs mounted, or no "
			 "permission to use them; reserve and mount hugepages (docs/dpdk.md, "
			 "\"Hugepages\"), or for a test add --no-huge -m 256"
		       : "no usable hugepages, or no permission: DPDK needs root (hugepages, "
			 "/dev/vfio or /dev/uio*, raw sockets for net_af_packet) and reserved "
			 "hugepages (docs/dpdk.md, \"Hugepages\"; for a test add --no-huge "
			 "-m 256)";
	case EPERM:
		return "permission denied: DPDK needs root (hugepages, /dev/vfio or "
		       "/dev/uio*, raw sockets for net_af_packet)";
	case ENOMEM:
	case EAGAIN:
		return "not enough memory: reserve hugepages (see docs/dpdk.md) or, "
		       "for a test, add --no-huge -m 256";
	case EALREADY:
		return "the EAL was already initialised in this process";
	case EINVAL:
		return "invalid EAL arguments: an option the EAL does not know, or a "
		       "bad value (the EAL's own message above names it)";
	case ENOTSUP:
		return "not supported on this system";
	default:
		return rte_strerror(e);
	}
}

int io_dpdk_eal_init(const char *args, char *err, size_t cap)
{
	char *argv[IOD_MAX_ARGS + 2];
	size_t bufcap;
	int argc, rc;

	if (eal.ready)
		return 0;
	if (eal.gone)
		return errf(err, cap, -EALREADY, "DPDK: the EAL was already used and cleaned up "
			    "in this process; it cannot be initialised twice");
	bufcap = strlen(args) + sizeof("tandemd") + 1;
	eal.args = malloc(bufcap);
	if (!eal.args)
		return errf(err, cap, -ENOMEM, "out of memory");
	strcpy(eal.args, "tandemd");
	argv[0] = eal.args;
	argc = io_dpdk_split_args(args, eal.args + sizeof("tandemd"),
				  bufcap - sizeof("tandemd"), argv + 1, IOD_MAX_ARGS);
	if (argc < 0) {
		free(eal.args);
		eal.args = NULL;
		return errf(err, cap, TDM_ECONFIG, "[io] dpdk_args: %s",
			    argc == TDM_ETOOMANY ? "more than 64 arguments"
			    : argc == TDM_EMALFORMED ? "unterminated quote or trailing backslash"
			    : "too long");
	}
	argc += 1;
	argv[argc] = NULL;

	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		int e = rte_errno;
		/* The EAL keeps pointers into argv: leave the strings be. */
		return errf(err, cap, -(e ? e : EINVAL), "DPDK EAL initialisation failed "
			    "(dpdk_args \"%s\"): %s", args, eal_hint(e));
	}
	if (rc < argc - 1) {
		eal.ready = true;
		return errf(err, cap, TDM_ECONFIG, "[io] dpdk_args: \"%s\" is not an EAL "
			    "argument", argv[rc + 1]);
	}
	eal.ready = true;
	return 0;
}

static unsigned worker_lcores(void)
{
	unsigned lcore, n = 0;

	RTE_LCORE_FOREACH_WORKER(lcore)
		n++;
	return n;
}

int io_dpdk_prepare(const char *args, unsigned workers, bool workers_auto, char *err,
		    size_t cap)
{
	bool first = !eal.ready && !eal.gone;
	unsigned n;
	int rc;

	rc = io_dpdk_eal_init(args, err, cap);
	if (rc < 0)
		return rc;
	if (first)
		eal.ours = true;
	if (!workers_auto)
		return (int)workers;
	n = worker_lcores();
	if (n == 0)
		return errf(err, cap, TDM_ECONFIG, "[io] workers = auto: dpdk_args gives the EAL "
			    "no worker lcore (the first lcore of -l runs the control thread, "
			    "each further one a worker: e.g. -l 0-1 for one worker)");
	return (int)n;
}

void io_dpdk_eal_cleanup(void)
{
	if (!eal.ours || !eal.ready)
		return;
	rte_eal_cleanup();
	free(eal.args);
	eal.args = NULL;
	eal.ready = false;
	eal.ours = false;
	eal.gone = true;
}

/* ---------------------------------------------------------------- */
/* The worker */

static void flush(struct iod_worker *w)
{
	unsigned sent = 0, tries = 0;

	while (sent < w->ntx) {
		uint16_t k = rte_eth_tx_burst(w->port, w->queue, w->tx + sent,
					      (uint16_t)(w->ntx - sent));
		sent += k;
		if (k == 0 && ++tries >= IOD_TX_RETRIES)
			break;
	}
	if (sent < w->ntx) {
		ns_count_add(&w->ns, NS_CTR_tx_full, w->ntx - sent);
		rte_pktmbuf_free_bulk(w->tx + sent, w->ntx - sent);
	}
	ns_count_add(&w->ns, NS_CTR_tx_frames, sent);
	w->ntx = 0;
}

static inline void queue_tx(struct iod_worker *w, struct rte_mbuf *m)
{
	if (w->ntx == IOD_TX_MAX)
		flush(w);
	w->tx[w->ntx++] = m;
}

/* The port's verdict on a frame's checksums, for netstack. */
static inline unsigned rx_flags(const struct rte_mbuf *m)
{
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	unsigned f = 0;

	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= NS_RX_IP_CKSUM_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= NS_RX_IP_CKSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= NS_RX_L4_CKSUM_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= NS_RX_L4_CKSUM_BAD;
	return f;
}

/* Frame the SIP answer in w->rep: into m (the request's mbuf, which is
 * no longer needed), and fresh mbufs for further fragments. */
static void send_answer(struct iod_worker *w, struct rte_mbuf *m, const struct ns_peer *peer)
{
	struct io_dpdk *io = w->io;
	struct rte_mbuf *frames[IOD_FRAMES_MAX];
	struct ns_tx tx;
	int n;

	n = ns_udp_prepare(&io->ns, peer, &w->rep.dst, (const uint8_t *)w->rep.data,
			   w->rep.len, w->ident++, io->tx_offloads, &tx);
	if (n < 1 || n > IOD_FRAMES_MAX) {
		dp_count(&w->dp.ctr, DP_CTR_tx_errors);
		rte_pktmbuf_free(m);
		return;
	}
	frames[0] = m;
	if (n > 1 && rte_pktmbuf_alloc_bulk(io->pool, frames + 1, (unsigned)n - 1) != 0) {
		ns_count(&w->ns, NS_CTR_tx_no_mbuf);
		dp_count(&w->dp.ctr, DP_CTR_tx_errors);
		rte_pktmbuf_free(m);
		return;
	}
	rte_pktmbuf_reset(m);
	for (int i = 0; i < n; i++) {
		struct rte_mbuf *f = frames[i];
		uint32_t len = ns_udp_frame(&tx, (unsigned)i, rte_pktmbuf_mtod(f, uint8_t *),
					    rte_pktmbuf_tailroom(f));

		if (len == 0) {
			/* Cannot happen with the MTU clamped to the data room;
			 * counted rather than trusted. */
			ns_count(&w->ns, NS_CTR_drop_no_room);
			dp_count(&w->dp.ctr, DP_CTR_tx_errors);
			rte_pktmbuf_free_bulk(frames + i, (unsigned)(n - i));
			return;
		}
		f->data_len = (uint16_t)len;
		f->pkt_len = len;
		if (tx.offloads) {
			f->l2_len = tx.l2_len;
			f->l3_len = tx.l3_len;
			f->ol_flags |= tx.family == AF_INET ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
			if (tx.offloads & NS_TX_IP_CKSUM)
				f->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
			if (tx.offloads & NS_TX_UDP_CKSUM)
				f->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		}
		queue_tx(w, f);
	}
	ns_count(&w->ns, NS_CTR_tx_udp);
	if (n > 1)
		ns_count_add(&w->ns, NS_CTR_tx_fragments, (uint64_t)n);
}

static void handle(struct iod_worker *w, struct rte_mbuf *m)
{
	struct io_dpdk *io = w->io;
	struct ns_datagram dg;
	uint32_t reply_len;
	enum ns_verdict v;

	if (m->nb_segs != 1) {
		ns_count(&w->ns, NS_CTR_rx_frames);
		ns_count(&w->ns, NS_CTR_drop_multiseg);
		rte_pktmbuf_free(m);
		return;
	}
	v = ns_input(&io->ns, &w->ns, rte_pktmbuf_mtod(m, uint8_t *), m->data_len,
		     (uint32_t)(m->buf_len - m->data_off), rx_flags(m), &dg, &reply_len);
	if (v == NS_REPLY) {
		m->data_len = (uint16_t)reply_len;
		m->pkt_len = reply_len;
		m->ol_flags &= RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;
		m->packet_type = 0;
		queue_tx(w, m);
		return;
	}
	if (v == NS_DATAGRAM) {
		struct dp_datagram d = {
			.data = (const char *)dg.data,
			.len = dg.len,
			.src = dg.src,
			.local = dg.peer.local,
		};
		w->rep.data = w->reply;
		w->rep.cap = sizeof(w->reply);
		if (dp_process(&w->dp, &d, &w->rep) && w->rep.len > 0) {
			send_answer(w, m, &dg.peer);
			return;
		}
	}
	rte_pktmbuf_free(m);
}

/* Prefetch a received frame's bytes, up to IOD_PREFETCH_LINES cache
 * lines: the whole of a usual REGISTER. The frame was written by another
 * core (or by the NIC); a request takes the worker far longer than the
 * fetch, so while one request is answered the next one's lines arrive,
 * instead of missing one by one in the parser. */
#define IOD_PREFETCH_LINES 12
static inline void prefetch_frame(const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned lines = ((unsigned)m->data_len + 63) / 64;

	if (lines > IOD_PREFETCH_LINES)
		lines = IOD_PREFETCH_LINES;
	for (unsigned i = 0; i < lines; i++)
		rte_prefetch0(p + 64 * i);
}

/* One non-empty burst: answer it and send the answers. Not inlined, so
 * that a profile (callgrind, perf) shows the cost per burst apart from the
 * empty polls of an idle worker. The mbuf headers of the whole burst are
 * prefetched first (each holds the address and length of its frame), then
 * each frame's bytes one request ahead. */
static __attribute__((noinline)) void serve_burst(struct iod_worker *w, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(w->rx[i]);
	dp_burst_begin(&w->dp);
	prefetch_frame(w->rx[0]);
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			prefetch_frame(w->rx[i + 1]);
		handle(w, w->rx[i]);
	}
	flush(w);
	dp_burst_end(&w->dp);
}

static int worker_main(void *arg)
{
	struct iod_worker *w = arg;
	struct io_dpdk *io = w->io;

	rcu_register_thread();
	/* Records this worker retires go to the control side's RT call_rcu
	 * thread (io_dpdk_create): call_rcu() then neither creates a thread
	 * here nor wakes one with a system call. */
	set_thread_call_rcu_data(io->crdp);
	dp_worker_enter(&w->dp);
	while (!atomic_load_explicit(&io->stop, memory_order_relaxed)) {
		uint16_t n = rte_eth_rx_burst(w->port, w->queue, w->rx, IOD_BURST);

		if (n)
			serve_burst(w, n);
		else
			rte_pause();
		tdm_rcu_quiescent_state();
	}
	dp_worker_leave(&w->dp);
	set_thread_call_rcu_data(NULL);
	tdm_rcu_unregister_thread();
	return 0;
}

/* ---------------------------------------------------------------- */
/* Set-up */

static int port_error(char *err, size_t cap, int rc, const char *what, uint16_t port,
		      const char *name)
{
	return errf(err, cap, rc < 0 ? rc : -EIO, "DPDK port %u (%s): %s failed: %s", port,
		    name, what, rte_strerror(rc < 0 ? -rc : rc));
}

/* Let the solicited-node multicast groups of our IPv6 addresses in. */
static void join_solicited_nodes(struct io_dpdk *io)
{
	struct rte_ether_addr mc[NS_MAX_LOCAL];
	uint32_t n = 0;

	for (unsigned i = 0; i < io->ns.nlocal; i++) {
		const struct ns_local *l = &io->ns.local[i];
		if (l->family != AF_INET6)
			continue;
		uint8_t b[6] = { 0x33, 0x33, 0xff, l->ip[13], l->ip[14], l->ip[15] };
		memcpy(mc[n++].addr_bytes, b, 6);
	}
	if (n == 0)
		return;
	/* Best effort: virtual ports take every frame anyway. */
	if (rte_eth_dev_set_mc_addr_list(io->port, mc, n) != 0)
		rte_eth_allmulticast_enable(io->port);
}

static int setup_port(struct io_dpdk *io, const struct io_params *p, char *err, size_t cap)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_ether_addr mac;
	uint16_t port = io->port, nrxd = IOD_RXD, ntxd = IOD_TXD, mtu = NS_MTU_DEFAULT;
	const char *name = io->port_name;
	int socket = rte_eth_dev_socket_id(port);
	uint32_t room;
	int rc;

	if (socket < 0)
		socket = (int)rte_socket_id();
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return port_error(err, cap, rc, "reading its capabilities", port, name);
	snprintf(io->driver, sizeof(io->driver), "%s", info.driver_name ? info.driver_name : "?");
	if (info.max_rx_queues < p->workers || info.max_tx_queues < p->workers)
		return errf(err, cap, TDM_ECONFIG, "DPDK port %u (%s, %s) has %u RX and %u TX "
			    "queues, [io] workers = %u needs one pair each%s", port, name,
			    io->driver, info.max_rx_queues, info.max_tx_queues, p->workers,
			    strstr(io->driver, "af_packet") ? " (net_af_packet: add qpairs=N "
			    "to the --vdev)" : "");

	memset(&conf, 0, sizeof(conf));
	if (p->workers > 1 && (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP))) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
		io->rss = true;
	}
	io->rx_offloads = info.rx_offload_capa &
			  (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	conf.rxmode.offloads = io->rx_offloads;
	conf.txmode.offloads = info.tx_offload_capa &
			       (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		io->tx_offloads |= NS_TX_IP_CKSUM;
	if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
		io->tx_offloads |= NS_TX_UDP_CKSUM;

	rc = rte_eth_dev_configure(port, (uint16_t)p->workers, (uint16_t)p->workers, &conf);
	if (rc != 0)
		return port_error(err, cap, rc, "configuration", port, name);
	io->port_configured = true;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if (rc != 0)
		return port_error(err, cap, rc, "sizing its queues", port, name);

	/* The pool: every queue full, every worker's pending TX and the
	 * lcore caches, within the bounds that no-hugepage test set-ups
	 * afford (see docs/dpdk.md). */
	uint64_t want = (uint64_t)p->workers * (nrxd + ntxd + IOD_TX_MAX + IOD_BURST +
						IOD_MBUF_CACHE) + 1024;
	io->nmbufs = want < IOD_MBUFS_MIN ? IOD_MBUFS_MIN
		     : want > IOD_MBUFS_MAX ? IOD_MBUFS_MAX : (unsigned)want;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	snprintf(pool_name, sizeof(pool_name), "tandem_p%u", port);
	io->pool = rte_pktmbuf_pool_create(pool_name, io->nmbufs, IOD_MBUF_CACHE, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!io->pool)
		return errf(err, cap, -ENOMEM, "DPDK: cannot create a pool of %u mbufs for port "
			    "%u: %s (about %u MiB; with --no-huge raise -m)", io->nmbufs, port,
			    rte_strerror(rte_errno), (io->nmbufs * 4u) / 1024 + 10);

	for (uint16_t q = 0; q < p->workers; q++) {
		struct rte_eth_rxconf rxc = info.default_rxconf;
		struct rte_eth_txconf txc = info.default_txconf;

		rxc.offloads = conf.rxmode.offloads;
		txc.offloads = conf.txmode.offloads;
		rc = rte_eth_rx_queue_setup(port, q, nrxd, (unsigned)socket, &rxc, io->pool);
		if (rc != 0)
			return port_error(err, cap, rc, "RX queue set-up", port, name);
		rc = rte_eth_tx_queue_setup(port, q, ntxd, (unsigned)socket, &txc);
		if (rc != 0)
			return port_error(err, cap, rc, "TX queue set-up", port, name);
	}

	rc = rte_eth_macaddr_get(port, &mac);
	if (rc != 0)
		return port_error(err, cap, rc, "reading its MAC address", port, name);
	if (rte_eth_dev_get_mtu(port, &mtu) != 0)
		mtu = NS_MTU_DEFAULT;
	/* A frame must fit one mbuf (no scatter). */
	room = RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM - NS_ETH_LEN - NS_VLAN_LEN;
	if (mtu > room)
		mtu = (uint16_t)room;
	if (mtu < NS_MTU_MIN)
		return errf(err, cap, TDM_ECONFIG, "DPDK port %u (%s): MTU %u is below %d",
			    port, name, mtu, NS_MTU_MIN);
	rc = ns_init(&io->ns, mac.addr_bytes, mtu, p->listen, p->nlisten, err, cap);
	if (rc < 0)
		return rc;

	rc = rte_eth_dev_start(port);
	if (rc != 0)
		return port_error(err, cap, rc, "start", port, name);
	io->port_started = true;
	join_solicited_nodes(io);
	return 0;
}

int io_dpdk_create(const struct io_params *p, struct io_dpdk **out, char *err, size_t cap)
{
	struct io_dpdk *io;
	unsigned lcore, nlcores;
	uint16_t port, nports;
	int rc;

	*out = NULL;
	if (p->nlisten == 0 || p->nlisten > NS_MAX_LOCAL)
		return errf(err, cap, -EINVAL, "between 1 and %d listen addresses needed",
			    NS_MAX_LOCAL);
	if (p->workers == 0)
		return errf(err, cap, -EINVAL, "at least one worker needed");
	if (!eal.ready) {
		bool first = !eal.gone;
		rc = io_dpdk_eal_init(p->dpdk_args ? p->dpdk_args : "", err, cap);
		if (rc < 0)
			return rc;
		eal.ours = first;
	}

	nports = rte_eth_dev_count_avail();
	if (nports == 0)
		return errf(err, cap, -ENODEV, "no DPDK port: no device was probed (bind a NIC to "
			    "vfio-pci and name it with -a, or add a --vdev; a --vdev that "
			    "cannot start, e.g. net_af_packet without root or with a missing "
			    "interface, is skipped by the EAL: see its messages above)");
	if (nports > 1)
		return errf(err, cap, TDM_ECONFIG, "%u DPDK ports were probed; tandem drives one: "
			    "name exactly one device with -a or --vdev (and --no-pci with a "
			    "--vdev)", nports);
	RTE_ETH_FOREACH_DEV(port)
		break;

	nlcores = worker_lcores();
	if (nlcores < p->workers)
		return errf(err, cap, TDM_ECONFIG, "[io] workers = %u but the EAL has %u worker "
			    "lcore%s (the first lcore of -l runs the control thread; e.g. "
			    "-l 0-%u for %u workers)", p->workers, nlcores, nlcores == 1 ? "" : "s",
			    p->workers, p->workers);

	io = calloc(1, sizeof(*io));
	if (!io)
		return errf(err, cap, -ENOMEM, "out of memory");
	io->nworkers = p->workers;
	io->port = port;
	if (rte_eth_dev_get_name_by_port(port, io->port_name) != 0)
		snprintf(io->port_name, sizeof(io->port_name), "port %u", port);
	io->workers = calloc(p->workers, sizeof(io->workers[0]));
	if (!io->workers) {
		rc = errf(err, cap, -ENOMEM, "out of memory");
		goto fail;
	}

	rc = setup_port(io, p, err, cap);
	if (rc < 0)
		goto fail;

	unsigned i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (i == p->workers)
			break;
		struct iod_worker *w = rte_zmalloc_socket("tandem_worker", sizeof(*w), 64,
							   (int)rte_lcore_to_socket_id(lcore));
		if (!w) {
			rc = errf(err, cap, -ENOMEM, "DPDK: no memory for worker %u on lcore %u",
				  i, lcore);
			goto fail;
		}
		io->workers[i] = w;
		w->io = io;
		w->index = i;
		w->lcore = lcore;
		w->port = port;
		w->queue = (uint16_t)i;
		w->ident = i << 24;
		dp_worker_init(&w->dp, i, p->shared, p->pools[i]);
		i++;
	}
	/*
	 * The workers' call_rcu thread, made here on the control thread: it
	 * inherits the control thread's CPU set (the main lcore's, which the
	 * EAL pinned it to), never a worker lcore's, as it would if a
	 * worker's first call_rcu() created liburcu's default thread. RT:
	 * the thread polls its queue every 10 ms instead of sleeping on a
	 * futex that each call_rcu() would have to wake with a system call
	 * (docs/dpdk.md, "What runs where").
	 */
	io->crdp = create_call_rcu_data(URCU_CALL_RCU_RT, -1);
	if (!io->crdp) {
		rc = errf(err, cap, -ENOMEM, "DPDK: cannot create the workers' call_rcu thread");
		goto fail;
	}
	pthread_setname_np(get_call_rcu_thread(io->crdp), "tandem-rcu-dpdk");
	*out = io;
	return 0;
fail:
	io_dpdk_destroy(io);
	return rc;
}

int io_dpdk_start(struct io_dpdk *io, char *err, size_t cap)
{
	atomic_store(&io->stop, false);
	for (unsigned i = 0; i < io->nworkers; i++) {
		struct iod_worker *w = io->workers[i];
		int rc = rte_eal_remote_launch(worker_main, w, w->lcore);

		if (rc != 0) {
			io_dpdk_stop(io);
			return errf(err, cap, rc < 0 ? rc : -EBUSY, "cannot launch worker %u on "
				    "lcore %u: %s", i, w->lcore, rte_strerror(-rc));
		}
		w->launched = true;
	}
	return 0;
}

void io_dpdk_stop(struct io_dpdk *io)
{
	atomic_store(&io->stop, true);
	for (unsigned i = 0; i < io->nworkers; i++) {
		struct iod_worker *w = io->workers ? io->workers[i] : NULL;
		if (w && w->launched) {
			rte_eal_wait_lcore(w->lcore);
			w->launched = false;
		}
	}
}

void io_dpdk_destroy(struct io_dpdk *io)
{
	if (!io)
		return;
	if (io->workers) {
		io_dpdk_stop(io);
		for (unsigned i = 0; i < io->nworkers; i++)
			rte_free(io->workers[i]);
		free(io->workers);
	}
	if (io->crdp) {
		/* The workers are gone; call_rcu_data_free() waits for the
		 * thread to stop, which may be waiting for a grace period:
		 * not as an online reader. Callbacks still queued move to
		 * the default call_rcu thread (rcu_barrier() covers both). */
		bool online = rcu_read_ongoing();

		if (online)
			tdm_rcu_thread_offline();
		call_rcu_data_free(io->crdp);
		if (online)
			tdm_rcu_thread_online();
	}
	if (io->port_started)
		rte_eth_dev_stop(io->port);
	if (io->port_configured)
		rte_eth_dev_close(io->port);
	rte_mempool_free(io->pool);
	free(io);
	io_dpdk_eal_cleanup();
}

unsigned io_dpdk_nworkers(const struct io_dpdk *io)
{
	return io->nworkers;
}

const struct dp_worker *io_dpdk_worker(const struct io_dpdk *io, unsigned i)
{
	return &io->workers[i]->dp;
}

const struct ns_counters *io_dpdk_netstack(const struct io_dpdk *io, unsigned i)
{
	return &io->workers[i]->ns;
}

void io_dpdk_describe(const struct io_dpdk *io, char *buf, size_t cap)
{
	const uint8_t *m = io->ns.mac;
	char lcores[128] = "";
	size_t o = 0;

	for (unsigned i = 0; i < io->nworkers && o < sizeof(lcores); i++)
		o += (size_t)snprintf(lcores + o, sizeof(lcores) - o, "%s%u", i ? "," : "",
				      io->workers[i]->lcore);
	snprintf(buf, cap, "DPDK port %u (%s, %s) %02x:%02x:%02x:%02x:%02x:%02x MTU %u, "
		 "%u queue pair%s on lcore%s %s (control on lcore %u), RSS %s, checksum "
		 "offload rx %s tx %s, %u mbufs",
		 io->port, io->port_name, io->driver, m[0], m[1], m[2], m[3], m[4], m[5],
		 io->ns.mtu, io->nworkers, io->nworkers == 1 ? "" : "s",
		 io->nworkers == 1 ? "" : "s", lcores, rte_get_main_lcore(),
		 io->rss ? "on" : "off", io->rx_offloads ? "on" : "off",
		 io->tx_offloads == (NS_TX_IP_CKSUM | NS_TX_UDP_CKSUM) ? "on"
		 : io->tx_offloads ? "partial" : "off", io->nmbufs);
}

int io_dpdk_port_stats(const struct io_dpdk *io, struct io_dpdk_port_stats *out)
{
	struct rte_eth_stats s;
	int rc = rte_eth_stats_get(io->port, &s);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	out->ipackets = s.ipackets;
	out->opackets = s.opackets;
	out->ibytes = s.ibytes;
	out->obytes = s.obytes;
	out->imissed = s.imissed;
	out->ierrors = s.ierrors;
	out->oerrors = s.oerrors;
	out->rx_nombuf = s.rx_nombuf;
	return 0;
}
