/* SPDX-License-Identifier: MIT */
/*
 * The socket floor: a UDP SIP answerer that does nothing but the socket
 * work, to measure what the kernel alone costs per registration on this
 * machine.
 *
 *   bench-socket-floor [--listen IP:PORT]
 *
 * It answers every SIP request but ACK with "SIP/2.0 200 OK" followed by
 * the request's own header fields and body (Via, From, To, Call-ID and
 * CSeq come back unchanged, which is what a client matches a response
 * by), sent back to the request's source. It registers nothing and checks
 * nothing. Its I/O is tandemd's socket worker's with one listen address
 * (dataplane/io_socket.c): one socket with SO_REUSEPORT (a worker's socket
 * is in a reuseport group, even alone) and 4 MiB buffers, a blocking
 * recvmmsg(MSG_WAITFORONE) of up to 32 datagrams, one sendmmsg(MSG_DONTWAIT)
 * of the replies; the reply is gathered from two pieces (the status line
 * and the request's tail) so that user space copies nothing.
 *
 * So its CPU time per answered request is what any registrar on UDP
 * sockets pays here before it does any SIP work: the system calls, the
 * kernel's UDP receive and send, and on loopback the receive path of the
 * reply into the client's socket and the client's wake-up. bench/compare-
 * kamailio measures it next to tandem and Kamailio (docs/benchmarks.md):
 * Kamailio's CPU per registration divided by the floor's is the highest
 * ratio per CPU-second that a server on UDP sockets can reach against it
 * on that machine.
 *
 * Runs until SIGINT or SIGTERM; prints the requests answered and dropped
 * on exit.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

#define BURST 32
#define RX_MAX 65536
#define SOCK_BUF (4 << 20)
#define WAIT_MAX_MS 1000

static const char status_line[] = "SIP/2.0 200 OK\r\n";
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Close fd and fail with the errno that brought us here. */
static int close_failed(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}

static int open_socket(const union tdm_addr *a)
{
	struct timeval wait = { WAIT_MAX_MS / 1000, (WAIT_MAX_MS % 1000) * 1000 };
	int size = SOCK_BUF, one = 1;
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return close_failed(fd);
	/* As tandemd: the FORCE options above the sysctl limits when root. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* Bounds the wait, so that a signal between the flag test and the
	 * call cannot leave the loop blocked for good. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
	if (bind(fd, &a->sa, addr_len(a)) < 0)
		return close_failed(fd);
	return fd;
}

/*
 * The length of a request line "METHOD SP Request-URI SP SIP/2.0 CRLF" at
 * the start of data, CRLF included, or 0 when data does not start with
 * one: a response, a keep-alive, anything else. *ack says whether the
 * method is ACK (never answered).
 */
static size_t request_line(const char *data, size_t len, bool *ack)
{
	static const char version[] = " SIP/2.0\r\n";
	const size_t vlen = sizeof(version) - 1;
	const char *cr = memchr(data, '\r', len);

	if (!cr || (size_t)(cr - data) + 2 > len || cr[1] != '\n')
		return 0;
	size_t end = (size_t)(cr - data) + 2;
	if (end < vlen + 3 || memcmp(data + end - vlen, version, vlen) != 0 ||
	    memcmp(data, "SIP/", 4) == 0)
		return 0;
	*ack = end > 4 && memcmp(data, "ACK ", 4) == 0;
	return end;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *listen_at = "127.0.0.1:5060";
	union tdm_addr at;
	int c;

	while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_at = optarg;
			break;
		case 'h':
			printf("Usage: bench-socket-floor [--listen IP:PORT]\n"
			       "Answer every SIP request but ACK with 200 OK and its own header\n"
			       "fields, doing nothing else: the CPU a UDP-socket server pays per\n"
			       "request before any SIP work. Runs until SIGINT or SIGTERM.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc || addr_parse(listen_at, 5060, &at) < 0) {
		fprintf(stderr, "bench-socket-floor: usage: bench-socket-floor "
				"[--listen IP:PORT]\n");
		return 2;
	}

	/* No SA_RESTART: a signal ends a blocked recvmmsg with EINTR. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int fd = open_socket(&at);
	if (fd < 0) {
		fprintf(stderr, "bench-socket-floor: %s: %s\n", listen_at, strerror(errno));
		return 1;
	}

	static char rx_buf[BURST][RX_MAX];
	static struct mmsghdr rx[BURST], tx[BURST];
	static struct iovec rx_iov[BURST], tx_iov[BURST][2];
	static union tdm_addr name[BURST];
	unsigned long long answered = 0, dropped = 0, send_errors = 0;

	for (unsigned i = 0; i < BURST; i++) {
		rx_iov[i] = (struct iovec){ rx_buf[i], RX_MAX };
		rx[i].msg_hdr.msg_iov = &rx_iov[i];
		rx[i].msg_hdr.msg_iovlen = 1;
		rx[i].msg_hdr.msg_name = &name[i];
		tx_iov[i][0] = (struct iovec){ (void *)status_line, sizeof(status_line) - 1 };
		tx[i].msg_hdr.msg_iov = tx_iov[i];
		tx[i].msg_hdr.msg_iovlen = 2;
	}

	while (!stop) {
		for (unsigned i = 0; i < BURST; i++)
			rx[i].msg_hdr.msg_namelen = sizeof(name[i]);
		int n = recvmmsg(fd, rx, BURST, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;   /* EINTR (stop), EAGAIN (the periodic timeout) */

		unsigned k = 0;
		for (unsigned i = 0; i < (unsigned)n; i++) {
			size_t len = rx[i].msg_len;
			bool ack = false;
			size_t line = (rx[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 :
				      request_line(rx_buf[i], len, &ack);
			if (line == 0 || ack) {
				dropped += line == 0;
				continue;
			}
			struct msghdr *h = &tx[k].msg_hdr;
			h->msg_name = &name[i];
			h->msg_namelen = rx[i].msg_hdr.msg_namelen;
			tx_iov[k][1] = (struct iovec){ rx_buf[i] + line, len - line };
			k++;
		}
		for (unsigned sent = 0; sent < k;) {
			int r = sendmmsg(fd, tx + sent, k - sent, MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				send_errors++;
				sent++;
				continue;
			}
			sent += (unsigned)r;
			answered += (unsigned)r;
		}
	}
	close(fd);
	printf("bench-socket-floor: answered %llu, dropped %llu (not a request), "
	       "send errors %llu\n", answered, dropped, send_errors);
	return 0;
}
