/* SPDX-License-Identifier: MIT */
/*
 * The kernel socket back end.
 *
 * Every worker has its own UDP socket per listen address, all bound with
 * SO_REUSEPORT so that the kernel spreads the flows over the workers (by
 * hash of the 4-tuple: a phone keeps talking to the same worker). A worker
 * reads a burst with one recvmmsg from each of its sockets in turn, runs
 * the pipeline over the burst, and sends the replies with one
 * sendmmsg(MSG_DONTWAIT) as soon as the burst is done: two system calls
 * per burst.
 *
 * With one socket the worker waits for traffic in the receive call itself,
 * RCU-offline: recvmmsg(MSG_WAITFORONE) sleeps until the first datagram and
 * returns at once when some are queued. With several sockets it reads each
 * with MSG_DONTWAIT and, when all are empty, goes offline and sleeps in
 * poll() over them and the stop eventfd. It does not busy-poll (measured:
 * it cost more CPU than it saved). The stop path wakes a worker blocked in
 * recvmmsg with shutdown(SHUT_RD) on its sockets (and SO_RCVTIMEO bounds
 * the wait in any case). docs/architecture.md, "The socket worker's loop",
 * has the figures.
 *
 * Sockets bound to a wildcard address learn each datagram's destination
 * address (IP_PKTINFO / IPV6_RECVPKTINFO) and answer from it, so replies
 * leave from the address the phone sent to even on multi-homed hosts.
 *
 * Before the reuseport group is created, each address is bound once without
 * SO_REUSEPORT: if anyone holds the port (even another tandemd with
 * SO_REUSEPORT), that bind fails and start-up reports the port in use,
 * instead of silently sharing the traffic.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_socket.h"
#include "log.h"
#include "rcu.h"

#define IO_BURST 32
#define IO_RX_MAX 65536            /* largest UDP payload, rounded up */
/* Buffer slots are IO_SKEW bytes (9 cache lines) longer than they need
 * be, so that the starts of the 32 datagrams of a burst (and of their
 * replies) fall into different cache sets instead of all aliasing at
 * 64 KiB (8 KiB) strides. */
#define IO_SKEW 576
#define IO_RX_STRIDE (IO_RX_MAX + IO_SKEW)
#define IO_TX_STRIDE (DP_REPLY_MAX + IO_SKEW)
#define IO_RCVBUF (4 << 20)
#define IO_SNDBUF (4 << 20)
#define IO_MAX_LISTEN 16
#define IO_CMSG_SPACE 64
/* A worker blocked in recvmmsg() wakes at least this often (the stop path
 * does not depend on it: shutdown() wakes it at once). */
#define IO_WAIT_MAX_MS 10000

struct io_worker {
	struct dp_worker dp;             /* first: aligned, hot */
	struct io_socket *io;
	unsigned index;
	int cpu;                         /* -1: not pinned; -2: the default */
	int pinned_cpu;                  /* where pin() pinned it, or -1 */
	int fds[IO_MAX_LISTEN];
	pthread_t thread;
	bool started;

	/* Burst state: the sockets' buffers, owned by this worker only. */
	struct mmsghdr rx[IO_BURST];
	struct iovec rx_iov[IO_BURST];
	union tdm_addr rx_name[IO_BURST];
	uint8_t rx_cmsg[IO_BURST][IO_CMSG_SPACE];
	struct mmsghdr tx[IO_BURST];
	struct iovec tx_iov[IO_BURST];
	union tdm_addr tx_name[IO_BURST];
	uint8_t tx_cmsg[IO_BURST][IO_CMSG_SPACE];
	struct dp_reply replies[IO_BURST];
	char *rx_buf;                    /* IO_BURST * IO_RX_STRIDE */
	char *tx_buf;                    /* IO_BURST * IO_TX_STRIDE */
};

struct io_socket {
	unsigned nworkers;
	unsigned nlisten;
	union tdm_addr listen[IO_MAX_LISTEN];
	bool wildcard[IO_MAX_LISTEN];
	bool any_wildcard;
	int stop_fd;
	atomic_bool stop;
	struct io_worker *workers;       /* nworkers, cache-aligned */
};

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

static int open_socket(const union tdm_addr *a, bool reuseport, bool pktinfo,
		       char *err, size_t cap)
{
	char name[TDM_ADDR_STRLEN];
	struct timeval wait = { IO_WAIT_MAX_MS / 1000, (IO_WAIT_MAX_MS % 1000) * 1000 };
	int one = 1, rcv = IO_RCVBUF, snd = IO_SNDBUF;
	int fd, rc;

	addr_format(a, name, sizeof(name));
	/* Blocking: the worker waits in recvmmsg(MSG_WAITFORONE); every other
	 * call says MSG_DONTWAIT. */
	fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errf(err, cap, -errno, "%s: cannot create a socket: %s", name,
			    strerror(errno));
	if (a->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		rc = -errno;
		close(fd);
		return errf(err, cap, rc, "%s: SO_REUSEPORT: %s", name, strerror(-rc));
	}
	if (pktinfo) {
		if (a->sa.sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	/* Best effort: a bigger queue absorbs bursts of REGISTERs, and a bigger
	 * send buffer keeps a burst of replies from failing with EAGAIN while
	 * earlier ones still sit in receivers' queues (on loopback a reply is
	 * charged to our socket until its receiver reads it). Above the
	 * sysctl limits only with CAP_NET_ADMIN (the FORCE options). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
	if (bind(fd, &a->sa, addr_len(a)) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -EADDRINUSE)
			return errf(err, cap, rc, "%s: address already in use (another SIP "
				    "server is listening there)", name);
		if (rc == -EADDRNOTAVAIL)
			return errf(err, cap, rc, "%s: no such local address", name);
		if (rc == -EACCES)
			return errf(err, cap, rc, "%s: permission denied", name);
		return errf(err, cap, rc, "%s: cannot bind: %s", name, strerror(-rc));
	}
	return fd;
}

/* Fill in the port the kernel picked for a listen address with port 0
 * (used by tests), from the probe socket. */
static void learn_port(int fd, union tdm_addr *a)
{
	union tdm_addr bound;
	socklen_t len = sizeof(bound);

	if (addr_port(a) == 0 && getsockname(fd, &bound.sa, &len) == 0)
		addr_set_port(a, addr_port(&bound));
}

int io_socket_create(const struct io_params *p, struct io_socket **out, char *err, size_t cap)
{
	struct io_socket *io;
	int rc;

	*out = NULL;
	if (p->nlisten == 0 || p->nlisten > IO_MAX_LISTEN)
		return errf(err, cap, -EINVAL, "between 1 and %d listen addresses needed",
			    IO_MAX_LISTEN);
	if (p->workers == 0)
		return errf(err, cap, -EINVAL, "at least one worker needed");

	io = calloc(1, sizeof(*io));
	if (!io)
		return errf(err, cap, -ENOMEM, "out of memory");
	io->nworkers = p->workers;
	io->nlisten = p->nlisten;
	io->stop_fd = -1;
	memcpy(io->listen, p->listen, p->nlisten * sizeof(p->listen[0]));
	for (unsigned l = 0; l < p->nlisten; l++) {
		io->wildcard[l] = addr_is_any(&io->listen[l]);
		io->any_wildcard |= io->wildcard[l];
	}

	io->workers = aligned_alloc(64, sizeof(struct io_worker) * p->workers);
	if (!io->workers) {
		free(io);
		return errf(err, cap, -ENOMEM, "out of memory");
	}
	memset(io->workers, 0, sizeof(struct io_worker) * p->workers);
	for (unsigned i = 0; i < p->workers; i++)
		for (unsigned l = 0; l < IO_MAX_LISTEN; l++)
			io->workers[i].fds[l] = -1;

	io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->stop_fd < 0) {
		rc = errf(err, cap, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}

	/* The probe: fails if anybody at all holds the address. */
	for (unsigned l = 0; l < p->nlisten; l++) {
		int fd = open_socket(&io->listen[l], false, false, err, cap);
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		learn_port(fd, &io->listen[l]);
		close(fd);
	}

	for (unsigned i = 0; i < p->workers; i++) {
		struct io_worker *iw = &io->workers[i];

		iw->io = io;
		iw->index = i;
		iw->cpu = p->ncpus ? (int)p->cpus[i % p->ncpus] : -2;
		for (unsigned l = 0; l < p->nlisten; l++) {
			iw->fds[l] = open_socket(&io->listen[l], true, io->wildcard[l], err, cap);
			if (iw->fds[l] < 0) {
				rc = iw->fds[l];
				goto fail;
			}
		}
		iw->rx_buf = malloc((size_t)IO_BURST * IO_RX_STRIDE);
		iw->tx_buf = malloc((size_t)IO_BURST * IO_TX_STRIDE);
		if (!iw->rx_buf || !iw->tx_buf) {
			rc = errf(err, cap, -ENOMEM, "out of memory");
			goto fail;
		}
		for (unsigned k = 0; k < IO_BURST; k++) {
			iw->rx_iov[k] = (struct iovec){ iw->rx_buf + (size_t)k * IO_RX_STRIDE,
							IO_RX_MAX };
			iw->rx[k].msg_hdr = (struct msghdr){
				.msg_name = &iw->rx_name[k],
				.msg_iov = &iw->rx_iov[k],
				.msg_iovlen = 1,
			};
			iw->tx[k].msg_hdr = (struct msghdr){
				.msg_name = &iw->tx_name[k],
				.msg_iov = &iw->tx_iov[k],
				.msg_iovlen = 1,
			};
		}
		dp_worker_init(&iw->dp, i, p->shared, p->pools[i]);
	}
	*out = io;
	return 0;
fail:
	io_socket_destroy(io);
	return rc;
}

/*
 * Pin a started worker to its CPU. Called by the control thread (which may
 * log) right after pthread_create(): the worker runs unpinned for the few
 * microseconds in between. Best effort: a CPU that does not exist or lies
 * outside the process's cpuset leaves the worker unpinned (with the
 * control thread's CPUs: node.c), with a warning naming the worker and
 * the CPU; the node still starts.
 */
static void pin(struct io_worker *iw)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	int cpu = iw->cpu;
	int rc;

	iw->pinned_cpu = -1;
	if (cpu == -2)  /* default: leave CPU 0 to the control thread */
		cpu = ncpu > 1 ? (int)(1 + iw->index % (unsigned)(ncpu - 1)) : 0;
	if (cpu < 0)
		return;
	if (cpu >= CPU_SETSIZE) {
		rc = EINVAL;
	} else {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		rc = pthread_setaffinity_np(iw->thread, sizeof(set), &set);
	}
	if (rc == 0) {
		iw->pinned_cpu = cpu;
	} else {
		log_warn("io", "worker %u: cannot pin to CPU %d (%s); it is left unpinned",
			 iw->index, cpu, rc == EINVAL ? "no such CPU, or not in this "
			 "process's CPU set" : strerror(rc));
	}
}

/* The local address a datagram was sent to, from IP_PKTINFO. */
static void set_reply_source(struct msghdr *rx, struct msghdr *tx, uint8_t *cbuf)
{
	struct cmsghdr *c;

	tx->msg_control = NULL;
	tx->msg_controllen = 0;
	for (c = CMSG_FIRSTHDR(rx); c; c = CMSG_NXTHDR(rx, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct in_pktinfo out = { .ipi_spec_dst = pi.ipi_addr };
			tx->msg_control = cbuf;
			tx->msg_controllen = CMSG_SPACE(sizeof(out));
			struct cmsghdr *t = CMSG_FIRSTHDR(tx);
			t->cmsg_level = IPPROTO_IP;
			t->cmsg_type = IP_PKTINFO;
			t->cmsg_len = CMSG_LEN(sizeof(out));
			memcpy(CMSG_DATA(t), &out, sizeof(out));
			return;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct in6_pktinfo out = { .ipi6_addr = pi.ipi6_addr };
			tx->msg_control = cbuf;
			tx->msg_controllen = CMSG_SPACE(sizeof(out));
			struct cmsghdr *t = CMSG_FIRSTHDR(tx);
			t->cmsg_level = IPPROTO_IPV6;
			t->cmsg_type = IPV6_PKTINFO;
			t->cmsg_len = CMSG_LEN(sizeof(out));
			memcpy(CMSG_DATA(t), &out, sizeof(out));
			return;
		}
	}
}

/* Make the first n receive headers ready again (the kernel wrote their
 * lengths and flags). Only the lengths change between calls. The headers
 * serve every socket of the worker, so they carry control buffers when any
 * socket is bound to a wildcard address (only those ask for IP_PKTINFO;
 * the others leave the buffer empty). */
static void rx_reset(struct io_worker *iw, unsigned n)
{
	bool wildcard = iw->io->any_wildcard;

	for (unsigned i = 0; i < n; i++) {
		struct msghdr *h = &iw->rx[i].msg_hdr;

		h->msg_namelen = sizeof(iw->rx_name[i]);
		h->msg_control = wildcard ? iw->rx_cmsg[i] : NULL;
		h->msg_controllen = wildcard ? IO_CMSG_SPACE : 0;
		h->msg_flags = 0;
	}
}

/* Answer the n datagrams just read from socket l, and send the replies. */
static void answer(struct io_worker *iw, unsigned l, unsigned n)
{
	struct dp_worker *w = &iw->dp;
	bool wildcard = iw->io->wildcard[l];
	int fd = iw->fds[l];
	unsigned k = 0;

	dp_burst_begin(w);
	for (unsigned i = 0; i < n; i++) {
		struct msghdr *h = &iw->rx[i].msg_hdr;
		struct dp_reply *rep = &iw->replies[k];

		if (h->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			dp_count(&w->ctr, DP_CTR_rx_datagrams);
			dp_count(&w->ctr, DP_CTR_drop_malformed);
			continue;
		}
		struct dp_datagram dg = {
			.data = iw->rx_iov[i].iov_base,
			.len = iw->rx[i].msg_len,
			.src = iw->rx_name[i],
			.local = (uint16_t)l,
		};
		rep->data = iw->tx_buf + (size_t)k * IO_TX_STRIDE;
		rep->cap = DP_REPLY_MAX;
		if (!dp_process(w, &dg, rep) || rep->len == 0)
			continue;

		/* msg_name, msg_iov and msg_iovlen point at this slot's own
		 * name and iovec since io_socket_create(). */
		struct msghdr *t = &iw->tx[k].msg_hdr;
		iw->tx_name[k] = rep->dst;
		iw->tx_iov[k] = (struct iovec){ rep->data, rep->len };
		t->msg_namelen = addr_len(&rep->dst);
		t->msg_control = NULL;
		t->msg_controllen = 0;
		if (wildcard)
			set_reply_source(h, t, iw->tx_cmsg[k]);
		k++;
	}
	rx_reset(iw, n);

	for (unsigned sent = 0; sent < k;) {
		int r = sendmmsg(fd, iw->tx + sent, k - sent, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* This datagram cannot go (no route, bad address, the
			 * send buffer full): count it and carry on with the
			 * rest. */
			dp_count(&w->ctr, DP_CTR_tx_errors);
			sent++;
			continue;
		}
		sent += (unsigned)r;
	}
	dp_burst_end(w);
}

static bool stopping(const struct io_socket *io)
{
	return atomic_load_explicit(&io->stop, memory_order_acquire);
}

/* Read and answer one burst from socket l without waiting. Returns the
 * datagrams read. */
static unsigned service(struct io_worker *iw, unsigned l)
{
	int n = recvmmsg(iw->fds[l], iw->rx, IO_BURST, MSG_DONTWAIT, NULL);

	if (n <= 0)
		return 0;
	answer(iw, l, (unsigned)n);
	return (unsigned)n;
}

/*
 * Wait for traffic, offline (a blocked worker must not hold grace periods
 * up). With one socket the wait is the next burst's recvmmsg itself
 * (MSG_WAITFORONE: block for the first datagram, then take what else is
 * queued); with several, poll() on them and the stop eventfd. Returns the
 * datagrams read and answered.
 */
static unsigned wait_and_service(struct io_worker *iw, struct pollfd *pfd)
{
	struct io_socket *io = iw->io;
	unsigned nl = io->nlisten;
	int n;

	tdm_rcu_thread_offline();
	if (nl > 1) {
		poll(pfd, nl + 1, IO_WAIT_MAX_MS);
		tdm_rcu_thread_online();
		return 0;
	}
	n = recvmmsg(iw->fds[0], iw->rx, IO_BURST, MSG_WAITFORONE, NULL);
	tdm_rcu_thread_online();
	/* After shutdown(SHUT_RD) recvmmsg() returns empty "datagrams":
	 * nothing read once the stop flag is up is answered or counted. */
	if (n <= 0 || stopping(io)) {
		if (n > 0)
			rx_reset(iw, (unsigned)n);
		return 0;
	}
	answer(iw, 0, (unsigned)n);
	return (unsigned)n;
}

static void *worker_main(void *arg)
{
	struct io_worker *iw = arg;
	struct io_socket *io = iw->io;
	struct pollfd pfd[IO_MAX_LISTEN + 1];
	unsigned nl = io->nlisten;

	rcu_register_thread();
	dp_worker_enter(&iw->dp);

	for (unsigned l = 0; l < nl; l++) {
		pfd[l] = (struct pollfd){ .fd = iw->fds[l], .events = POLLIN };
	}
	rx_reset(iw, IO_BURST);
	pfd[nl] = (struct pollfd){ .fd = io->stop_fd, .events = POLLIN };

	while (!stopping(io)) {
		unsigned got = 0;

		/* One socket: nothing to do between bursts but wait, so go
		 * straight to recvmmsg(), which returns at once when datagrams
		 * are queued. Two system calls per burst, recvmmsg and
		 * sendmmsg; going offline and online again around the wait is
		 * this turn's quiescent state. */
		if (nl == 1) {
			wait_and_service(iw, pfd);
			continue;
		}

		for (unsigned l = 0; l < nl; l++)
			got += service(iw, l);
		tdm_rcu_quiescent_state();
		if (!got)
			wait_and_service(iw, pfd);
	}

	dp_worker_leave(&iw->dp);
	tdm_rcu_unregister_thread();
	return NULL;
}

int io_socket_start(struct io_socket *io, char *err, size_t cap)
{
	for (unsigned i = 0; i < io->nworkers; i++) {
		struct io_worker *iw = &io->workers[i];
		int rc = pthread_create(&iw->thread, NULL, worker_main, iw);

		if (rc != 0) {
			io_socket_stop(io);
			return errf(err, cap, -rc, "cannot start worker %u: %s", i, strerror(rc));
		}
		iw->started = true;
		pin(iw);
	}
	return 0;
}

void io_socket_stop(struct io_socket *io)
{
	uint64_t one = 1;

	atomic_store(&io->stop, true);
	if (io->stop_fd >= 0 && write(io->stop_fd, &one, sizeof(one)) < 0) {
		/* Counter saturated: the workers are woken anyway. */
	}
	/* Wake the workers blocked in recvmmsg(): on a UDP socket shutdown()
	 * fails with ENOTCONN but still marks it shut for reading and wakes its
	 * readers, whose receive calls return at once from then on. Only when
	 * stopping: a stopped back end is destroyed, never restarted. */
	for (unsigned i = 0; i < io->nworkers; i++)
		if (io->workers[i].started)
			for (unsigned l = 0; l < io->nlisten; l++)
				if (io->workers[i].fds[l] >= 0)
					(void)shutdown(io->workers[i].fds[l], SHUT_RD);
	for (unsigned i = 0; i < io->nworkers; i++) {
		if (io->workers[i].started) {
			pthread_join(io->workers[i].thread, NULL);
			io->workers[i].started = false;
		}
	}
}

void io_socket_destroy(struct io_socket *io)
{
	if (!io)
		return;
	if (io->workers) {
		io_socket_stop(io);
		for (unsigned i = 0; i < io->nworkers; i++) {
			struct io_worker *iw = &io->workers[i];
			for (unsigned l = 0; l < IO_MAX_LISTEN; l++)
				if (iw->fds[l] >= 0)
					close(iw->fds[l]);
			free(iw->rx_buf);
			free(iw->tx_buf);
		}
	}
	if (io->stop_fd >= 0)
		close(io->stop_fd);
	free(io->workers);
	free(io);
}

unsigned io_socket_nworkers(const struct io_socket *io)
{
	return io->nworkers;
}

int io_socket_worker_cpus(const struct io_socket *io, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (unsigned i = 0; i < io->nworkers; i++) {
		const struct io_worker *iw = &io->workers[i];

		if (iw->started && iw->pinned_cpu >= 0)
			CPU_SET(iw->pinned_cpu, set);
	}
	return CPU_COUNT(set);
}

const struct dp_worker *io_socket_worker(const struct io_socket *io, unsigned i)
{
	return &io->workers[i].dp;
}
