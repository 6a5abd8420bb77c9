/* SPDX-License-Identifier: MIT */
/*
 * Registrations per second through the DPDK back end on one worker lcore,
 * and through the socket back end on one worker thread, in the same run on
 * the same machine.
 *
 * DPDK: the EAL without hugepages or a NIC, a net_ring port over two rings
 * of our own; the generator (the main lcore, CPU 0) puts REGISTER frames on
 * the port's RX ring and takes the answers off its TX ring, closed loop
 * with a window of frames in flight, so the worker (lcore 1, CPU 1) never
 * waits for work and no kernel is in the loop: what is measured is the
 * worker's own cost per request (netstack in and out, parse, registrar,
 * answer, checksums).
 *
 * Socket: the same requests as UDP datagrams over loopback to io_socket.c's
 * worker (pinned to CPU 1), sent and received with sendmmsg/recvmmsg by the
 * same generator on CPU 0, with the same window.
 *
 * Every REGISTER is a real copy-on-write update of its AOR's record (two
 * Call-IDs per AOR, alternating, as bench-register does), without
 * authentication. Runs alternate between the two paths; the medians are
 * reported.
 *
 * The generator must not be the limit: it copies each request frame into
 * an mbuf (about 450 bytes; the worker answers in the request's own mbuf,
 * so frames cannot be shared by reference count) and checks each answer's
 * status code, a small fraction of the worker's cost per request. Each run
 * says how full it found the worker's RX ring when it added a burst: if
 * the ring were often nearly empty ("starved"), the worker would be
 * waiting for the generator and the figure would be the generator's.
 *
 * With --requests N, each DPDK run sends exactly N requests and ends when
 * all are answered (no warm-up, no clock): a fixed amount of work, for
 * instruction counts under callgrind (docs/dpdk.md, "Throughput").
 *
 *   bench-dpdk [--aors N] [--runs R] [--seconds S] [--window W] [--no-socket]
 *              [--requests N]
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <urcu-qsbr.h>

#include "bindings.h"
#include "clock.h"
#include "io.h"
#include "io_dpdk.h"
#include "rec_pool.h"
#include "users.h"

#define MSG_MAX 700
#define GEN_BURST 32

static struct dp_shared shared;
static struct dp_settings settings;
static struct rte_ring *rx_ring, *tx_ring;
static struct rte_mempool *gen_pool;
static uint8_t node_mac[6];
static const uint8_t peer_mac[6] = { 2, 0, 0, 0, 0, 2 };

struct corpus {
	unsigned n;
	char (*sip)[MSG_MAX];            /* the SIP text */
	uint32_t *sip_len;
	uint8_t (*frame)[MSG_MAX + 64];  /* the same in an Ethernet frame */
	uint32_t *frame_len;
};

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
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

/* An Ethernet/IPv4/UDP frame from 198.51.100.2:5060 to 198.51.100.1:5060. */
static uint32_t frame(uint8_t *f, const char *data, uint32_t len)
{
	static const uint8_t src[4] = { 198, 51, 100, 2 }, dst[4] = { 198, 51, 100, 1 };
	uint8_t *ip = f + 14, *u = ip + 20;

	memcpy(f, node_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(28 + len));
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, fold(sum16(0, ip, 20)));
	put16(u, 5060);
	put16(u + 2, 5060);
	put16(u + 4, (uint16_t)(8 + len));
	put16(u + 6, 0);
	memcpy(u + 8, data, len);
	uint16_t c = fold(sum16(sum16(17 + 8 + len, ip + 12, 8), u, 8 + len));
	put16(u + 6, c ? c : 0xffff);
	return 42 + len;
}

static void corpus_make(struct corpus *c, unsigned aors)
{
	c->n = 2 * aors;
	c->sip = calloc(c->n, sizeof(*c->sip));
	c->sip_len = calloc(c->n, sizeof(*c->sip_len));
	c->frame = calloc(c->n, sizeof(*c->frame));
	c->frame_len = calloc(c->n, sizeof(*c->frame_len));
	if (!c->sip || !c->sip_len || !c->frame || !c->frame_len) {
		fprintf(stderr, "bench-dpdk: out of memory\n");
		exit(1);
	}
	/* A0 A1 ... then B0 B1 ...: consecutive requests hit different AORs. */
	for (unsigned r = 0; r < 2; r++) {
		for (unsigned u = 0; u < aors; u++) {
			unsigned i = r * aors + u;
			c->sip_len[i] = (uint32_t)snprintf(c->sip[i], MSG_MAX,
				"REGISTER sip:example.com SIP/2.0\r\n"
				"Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK776asdhds%u;rport\r\n"
				"Max-Forwards: 70\r\n"
				"To: \"User %u\" <sip:user%u@example.com>\r\n"
				"From: \"User %u\" <sip:user%u@example.com>;tag=1928301774\r\n"
				"Call-ID: bench-%u-%u@198.51.100.2\r\n"
				"CSeq: %u REGISTER\r\n"
				"Contact: <sip:user%u@198.51.100.2:5060>;expires=3600\r\n"
				"User-Agent: Phone/1.0\r\n"
				"Content-Length: 0\r\n\r\n",
				r, u, u, u, u, u, r, r + 1, u);
		}
	}
}

static void corpus_frames(struct corpus *c)
{
	for (unsigned i = 0; i < c->n; i++)
		c->frame_len[i] = frame(c->frame[i], c->sip[i], c->sip_len[i]);
}

static void setup_shared(unsigned aors)
{
	strcpy(settings.domain, "example.com");
	strcpy(settings.realm, "example.com");
	settings.auth = DP_AUTH_NONE;
	settings.default_expires = 3600;
	settings.min_expires = 60;
	settings.max_expires = 7200;
	settings.max_contacts = 10;
	settings.nonce_lifetime = 300;
	settings.algs[0] = DIGEST_SHA256;
	settings.nalgs = 1;
	strcpy(settings.server, "tandem-bench");
	shared.bindings = bind_table_create(&(struct bind_table_params){ 0 });
	/* tandemd's control thread grows the table to the number of AORs
	 * registered (bind_reserve() every RESERVE_INTERVAL_MS); there is no
	 * control thread here, so size it for the AORs to come, as
	 * bench-register does. */
	bind_reserve(shared.bindings, aors);
	shared.users = users_create();
	shared.settings = &settings;
	memset(shared.nonce_key.key, 7, sizeof(shared.nonce_key.key));
	memset(shared.tag_key, 3, sizeof(shared.tag_key));
}

struct result {
	double rate;                     /* answers per second */
	uint64_t answers, bad;
	double rx_fill;                  /* mean frames on the worker's RX ring */
	double starved;                  /* share of samples with less than a burst */
};

/* One DPDK run: the worker is started, fed for `seconds` (or until
 * `requests` are answered, when not 0), stopped. */
static struct result run_dpdk(struct io_dpdk *io, const struct corpus *c, double seconds,
			      unsigned window, uint64_t requests)
{
	struct rte_mbuf *out[GEN_BURST], *in[GEN_BURST * 2];
	uint64_t sent = 0, got = 0, got0 = 0, bad = 0, t0 = 0, t1;
	uint64_t warm_end, end, fill = 0, samples = 0, starved = 0;
	unsigned next = 0, turns = 0;
	char err[256];
	struct result r = { 0 };

	if (io_dpdk_start(io, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-dpdk: %s\n", err);
		exit(1);
	}
	warm_end = clock_mono_ns() + 200000000u;
	end = warm_end + (uint64_t)(seconds * 1e9);
	if (requests) {
		/* A fixed amount of work; bounded all the same (valgrind is
		 * slow, but not that slow). */
		t0 = clock_mono_ns();
		warm_end = t0;
		end = t0 + 600ull * 1000000000u;
	}
	for (;;) {
		unsigned n = rte_ring_dequeue_burst(tx_ring, (void **)in, GEN_BURST * 2, NULL);
		for (unsigned i = 0; i < n; i++) {
			const char *p = rte_pktmbuf_mtod_offset(in[i], const char *, 42);
			if (in[i]->data_len < 42 + 12 || p[8] != '2')
				bad++;
		}
		if (n)
			rte_pktmbuf_free_bulk(in, n);
		got += n;

		if (requests && got >= requests)
			break;
		unsigned want = GEN_BURST;
		if (requests && requests - sent < want)
			want = (unsigned)(requests - sent);
		if (want && sent - got + GEN_BURST <= window &&
		    rte_pktmbuf_alloc_bulk(gen_pool, out, want) == 0) {
			/* How much work the worker has queued right now. */
			unsigned queued = rte_ring_count(rx_ring);
			fill += queued;
			starved += queued < GEN_BURST;
			samples++;
			for (unsigned i = 0; i < want; i++) {
				uint32_t len = c->frame_len[next];
				memcpy(rte_pktmbuf_mtod(out[i], void *), c->frame[next], len);
				out[i]->data_len = (uint16_t)len;
				out[i]->pkt_len = len;
				if (++next == c->n)
					next = 0;
			}
			unsigned k = rte_ring_enqueue_burst(rx_ring, (void **)out, want, NULL);
			if (k < want)
				rte_pktmbuf_free_bulk(out + k, want - k);
			sent += k;
		}
		/* Counting instructions (--requests, under valgrind, which runs
		 * one thread at a time): an idle turn hands the CPU to the
		 * worker rather than spinning through valgrind's time slice. */
		if (requests && n == 0)
			sched_yield();
		/* The clock is read every 64 turns: on a VM a read costs as
		 * much as a burst. */
		if (++turns % 64)
			continue;
		uint64_t now = clock_mono_ns();
		if (!requests && t0 == 0 && now >= warm_end) {
			t0 = now;
			got0 = got;
		}
		if (now >= end)
			break;
	}
	t1 = clock_mono_ns();
	io_dpdk_stop(io);
	/* Drain what is left in flight. */
	void *obj = NULL;
	while (rte_ring_dequeue(tx_ring, &obj) == 0)
		rte_pktmbuf_free(obj);
	while (rte_ring_dequeue(rx_ring, &obj) == 0)
		rte_pktmbuf_free(obj);
	r.answers = got - got0;
	r.rate = (double)r.answers / ((double)(t1 - t0) / 1e9);
	r.bad = bad;
	r.rx_fill = samples ? (double)fill / (double)samples : 0;
	r.starved = samples ? (double)starved / (double)samples : 0;
	return r;
}

/* One socket run: a fresh socket back end on 127.0.0.1, fed for
 * `seconds` over loopback. */
static struct result run_socket(struct rec_pool *pool, const struct corpus *c,
				double seconds, unsigned window)
{
	union tdm_addr listen, me;
	struct io *io;
	char err[256];
	struct result r = { 0 };
	socklen_t alen = sizeof(me);
	int fd, probe;

	/* A free port for the node. */
	addr_parse("127.0.0.1:0", 0, &listen);
	probe = socket(AF_INET, SOCK_DGRAM, 0);
	if (probe < 0 || bind(probe, &listen.sa, addr_len(&listen)) < 0 ||
	    getsockname(probe, &listen.sa, &alen) < 0) {
		perror("bench-dpdk: probe socket");
		exit(1);
	}
	close(probe);
	struct io_params p = {
		.backend = IO_BACKEND_SOCKET,
		.listen = &listen,
		.nlisten = 1,
		.workers = 1,
		.shared = &shared,
		.pools = &pool,
	};
	if (io_create(&p, &io, err, sizeof(err)) < 0 || io_start(io, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-dpdk: socket back end: %s\n", err);
		exit(1);
	}

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	addr_parse("127.0.0.1:0", 0, &me);
	int size = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (fd < 0 || bind(fd, &me.sa, addr_len(&me)) < 0 ||
	    connect(fd, &listen.sa, addr_len(&listen)) < 0) {
		perror("bench-dpdk: client socket");
		exit(1);
	}

	static char rbuf[GEN_BURST * 2][2048];
	struct mmsghdr tx[GEN_BURST], rx[GEN_BURST * 2];
	struct iovec txv[GEN_BURST], rxv[GEN_BURST * 2];
	uint64_t sent = 0, got = 0, got0 = 0, bad = 0, t0 = 0, t1;
	uint64_t warm_end = clock_mono_ns() + 200000000u;
	uint64_t end = warm_end + (uint64_t)(seconds * 1e9), stalled = 0;
	unsigned next = 0, turns = 0;

	for (unsigned i = 0; i < GEN_BURST * 2; i++) {
		rxv[i] = (struct iovec){ rbuf[i], sizeof(rbuf[i]) };
		rx[i].msg_hdr = (struct msghdr){ .msg_iov = &rxv[i], .msg_iovlen = 1 };
	}
	for (;;) {
		int n = recvmmsg(fd, rx, GEN_BURST * 2, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++)
			if (rx[i].msg_len < 12 || rbuf[i][8] != '2')
				bad++;
		if (n > 0) {
			got += (unsigned)n;
			stalled = 0;
		}
		/* A datagram lost in the kernel's queues: the window would never
		 * drain, so forget the in-flight ones after a long silence. */
		if (sent > got && ++stalled > 200000) {
			sent = got;
			stalled = 0;
		}
		if (sent - got + GEN_BURST <= window) {
			for (unsigned i = 0; i < GEN_BURST; i++) {
				txv[i] = (struct iovec){ (void *)c->sip[next], c->sip_len[next] };
				tx[i].msg_hdr = (struct msghdr){ .msg_iov = &txv[i], .msg_iovlen = 1 };
				if (++next == c->n)
					next = 0;
			}
			int k = sendmmsg(fd, tx, GEN_BURST, 0);
			if (k > 0)
				sent += (unsigned)k;
		}
		/* The clock is read every 64 turns: on a VM a read costs as
		 * much as a burst. */
		if (++turns % 64)
			continue;
		uint64_t now = clock_mono_ns();
		if (t0 == 0 && now >= warm_end) {
			t0 = now;
			got0 = got;
		}
		if (now >= end)
			break;
	}
	t1 = clock_mono_ns();
	close(fd);
	io_destroy(io);
	r.answers = got - got0;
	r.rate = (double)r.answers / ((double)(t1 - t0) / 1e9);
	r.bad = bad;
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "aors", required_argument, NULL, 'a' },
		{ "runs", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "no-socket", no_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned aors = 10000, runs = 5, window = 512;
	uint64_t requests = 0;
	double seconds = 1.0;
	bool with_socket = true;
	int opt;

	while ((opt = getopt_long(argc, argv, "a:r:s:w:nq:", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': aors = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'w': window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': with_socket = false; break;
		case 'q': requests = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: bench-dpdk [--aors N] [--runs R] [--seconds S] "
				"[--window W] [--no-socket] [--requests N]\n");
			return 2;
		}
	}
	if (aors < 1 || runs < 1 || runs > 64 || window < GEN_BURST || window > 4000 ||
	    seconds <= 0) {
		fprintf(stderr, "bench-dpdk: --aors >= 1, 1 <= --runs <= 64, "
			"32 <= --window <= 4000, --seconds > 0\n");
		return 2;
	}

	char eal_args[256], err[512];
	union tdm_addr listen;
	struct rte_ether_addr mac;
	struct io_dpdk *io;
	struct corpus c;
	struct rec_pool *pools[2];

	rcu_register_thread();
	snprintf(eal_args, sizeof(eal_args), "-l 0,1 --no-huge -m 512 --no-pci --no-shconf "
		 "--no-telemetry --log-level=warning --file-prefix=tandem-bench-%d",
		 (int)getpid());
	if (io_dpdk_eal_init(eal_args, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-dpdk: %s\n", err);
		return 1;
	}
	rx_ring = rte_ring_create("bench_rx", 4096, (int)rte_socket_id(),
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	tx_ring = rte_ring_create("bench_tx", 4096, (int)rte_socket_id(),
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	gen_pool = rte_pktmbuf_pool_create("bench_gen", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	if (!rx_ring || !tx_ring || !gen_pool ||
	    rte_eth_from_rings("tandem_bench", &rx_ring, 1, &tx_ring, 1, rte_socket_id()) < 0) {
		fprintf(stderr, "bench-dpdk: cannot make the ring port\n");
		return 1;
	}
	setup_shared(aors);
	pools[0] = rec_pool_create("bench dpdk");
	pools[1] = rec_pool_create("bench socket");
	addr_parse("198.51.100.1:5060", 0, &listen);
	struct io_params p = {
		.backend = IO_BACKEND_DPDK,
		.listen = &listen,
		.nlisten = 1,
		.workers = 1,
		.shared = &shared,
		.pools = pools,
	};
	if (io_dpdk_create(&p, &io, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-dpdk: %s\n", err);
		return 1;
	}
	rte_eth_macaddr_get(0, &mac);
	memcpy(node_mac, mac.addr_bytes, 6);
	corpus_make(&c, aors);
	corpus_frames(&c);

	printf("tandem bench-dpdk: REGISTER without auth, %u AORs, window %u, %u runs of "
	       "%.1f s, generator on CPU 0, worker on CPU 1\n", aors, window, runs, seconds);
	double dr[64], sr[64];
	uint64_t bad = 0;
	rcu_thread_offline();
	for (unsigned i = 0; i < runs; i++) {
		struct result d = run_dpdk(io, &c, seconds, window, requests);
		dr[i] = d.rate;
		bad += d.bad;
		printf("run %u: dpdk %10.0f/s (RX ring: %.0f frames on average, under a burst "
		       "%.1f%% of the time)", i + 1, d.rate, d.rx_fill, 100 * d.starved);
		if (with_socket) {
			struct result s = run_socket(pools[1], &c, seconds, window);
			sr[i] = s.rate;
			bad += s.bad;
			printf("   socket %10.0f/s", s.rate);
		}
		printf("\n");
		fflush(stdout);
	}
	rcu_thread_online();
	qsort(dr, runs, sizeof(dr[0]), cmp_double);
	printf("dpdk   (net_ring, 1 lcore):   median %10.0f REGISTER/s  (min %.0f, max %.0f)\n",
	       dr[runs / 2], dr[0], dr[runs - 1]);
	if (with_socket) {
		qsort(sr, runs, sizeof(sr[0]), cmp_double);
		printf("socket (loopback, 1 worker):  median %10.0f REGISTER/s  (min %.0f, max "
		       "%.0f)\n", sr[runs / 2], sr[0], sr[runs - 1]);
		printf("dpdk / socket: %.1fx\n", dr[runs / 2] / sr[runs / 2]);
	}
	uint64_t totals[NS_CTR_COUNT];
	const struct ns_counters *blk = io_dpdk_netstack(io, 0);
	ns_counters_sum(&blk, 1, totals);
	if (totals[NS_CTR_tx_full] || totals[NS_CTR_tx_no_mbuf])
		printf("note: %llu answers lost to a full TX ring, %llu to an empty pool\n",
		       (unsigned long long)totals[NS_CTR_tx_full],
		       (unsigned long long)totals[NS_CTR_tx_no_mbuf]);

	io_dpdk_destroy(io);
	rte_mempool_free(gen_pool);
	rte_ring_free(rx_ring);
	rte_ring_free(tx_ring);
	rte_eal_cleanup();
	snprintf(eal_args, sizeof(eal_args), "/var/run/dpdk/tandem-bench-%d", (int)getpid());
	rmdir(eal_args);
	if (bad) {
		fprintf(stderr, "bench-dpdk: %llu answers were not 2xx\n", (unsigned long long)bad);
		return 1;
	}
	return 0;
}
