/* SPDX-License-Identifier: MIT */
/*
 * tandem-loadgen: a SIP registration load generator over UDP.
 *
 *   tandem-loadgen [OPTIONS] TARGET          (tandem-loadgen --help)
 *
 * It sends REGISTERs (and optionally INVITEs, to be redirected) to any SIP
 * registrar, at a fixed offered rate (open loop) or keeping a window of
 * operations outstanding (closed loop), and reports what came back: every
 * response class and code, timeouts, retransmissions, digest rounds, a
 * latency histogram with its percentiles, and its own CPU use.
 *
 * Model. An *operation* is what a phone does: one registration (a REGISTER,
 * and when challenged a second one with credentials) or one INVITE (with
 * its ACK). Each operation belongs to an AOR of the population (user%u by
 * default); an AOR has one Call-ID for the whole run and its CSeq grows by
 * one per request, so re-registrations look like a phone's refreshes. An
 * AOR has at most one REGISTER outstanding at a time.
 *
 * Transactions follow RFC 3261 §17.1 for UDP: a request without a final
 * answer is retransmitted after T1, 2*T1, 4*T1, ... (capped at T2 for
 * non-INVITE, timer E; uncapped for INVITE, timer A, which stops on a
 * provisional answer) and given up after --timeout (timer F/B, 64*T1 by
 * default). The latency of an operation runs from its first request to its
 * final answer, digest round included.
 *
 * Threads. Each thread owns a contiguous slice of the AORs, its sockets
 * (each bound to its own source port and connected to the target, so a
 * server with SO_REUSEPORT sockets spreads the load over its workers), its
 * transaction slots and its counters; nothing is shared while running but
 * the stop flag and relaxed counter reads for the progress line. A thread
 * sleeps in epoll_pwait2() until a socket is readable or its next send or
 * timer is due, so its CPU time is the work it did.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "err.h"
#include "loadgen.h"

#define LG_MSG_MAX 4096          /* one request, credentials included */
#define LG_RX_MAX 9216           /* one response; larger ones are truncated */
#define LG_BURST 32              /* datagrams per recvmmsg / sendmmsg */
#define LG_MAX_THREADS 64
#define LG_MAX_SOCKETS 1024
#define LG_MAX_LEVELS 64
#define LG_MAX_CPUS 256
#define LG_START_PER_TURN 512    /* operations started per loop turn, at most */
#define LG_SOCK_RUN 8            /* consecutive AORs that share a socket */
#define LG_RX_PER_SOCKET 256     /* datagrams read per socket and turn, at most */
#define LG_EVENTS 64             /* sockets ready per turn */
#define LG_BATCH_MAX_NS (100 * NS_PER_MS)
#define LG_ACK_RING 64
#define LG_AUTH_ROUNDS 3         /* requests with credentials per operation */
#define LG_NONE UINT32_MAX

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull

/* The counters of a thread: written by it alone (relaxed atomics, so the
 * progress line may read them while it runs), summed after the run. */
#define LG_COUNTERS(X)                                                                \
	X(ops_started, "operations started")                                          \
	X(ops_ok, "operations that succeeded (REGISTER 2xx, INVITE 2xx or 3xx)")       \
	X(ops_failed, "operations that ended with another final response")            \
	X(ops_timeout, "operations without a final response within the timeout")     \
	X(ops_skipped, "open loop: operations due but not started (no free slot/AOR)") \
	X(requests, "requests sent, first transmissions")                             \
	X(retransmissions, "requests sent again by timer A/E")                        \
	X(acks, "ACKs sent for INVITE final responses")                               \
	X(auth_answered, "challenges answered with credentials")                      \
	X(auth_failed, "operations that ended in 401/407")                            \
	X(responses, "responses received")                                            \
	X(resp_1xx, "1xx responses")                                                  \
	X(resp_2xx, "2xx responses")                                                  \
	X(resp_3xx, "3xx responses")                                                  \
	X(resp_4xx, "4xx responses")                                                  \
	X(resp_5xx, "5xx responses")                                                  \
	X(resp_6xx, "6xx responses")                                                  \
	X(stray, "responses that match no outstanding transaction")                   \
	X(malformed, "datagrams that are not a usable SIP response")                  \
	X(send_errors, "datagrams the kernel refused to send")                        \
	X(icmp_errors, "ICMP errors reported on the sockets")

enum lg_ctr {
#define X(name, help) CTR_##name,
	LG_COUNTERS(X)
#undef X
	CTR_COUNT
};

struct config {
	union tdm_addr target;
	union tdm_addr local;
	bool has_local;
	char target_text[TDM_ADDR_STRLEN];
	bool closed;             /* closed loop (window) or open loop (rate) */
	double rate;             /* open loop: operations per second */
	unsigned window;         /* closed loop: operations outstanding */
	unsigned max_outstanding;    /* open loop: slots */
	uint64_t count;          /* operations, 0: no limit */
	uint64_t duration_ns;
	uint32_t aors, first;
	struct lg_pattern user, auth_user, password;
	bool has_password;
	char domain[256];
	char register_ruri[264];     /* "sip:" domain */
	int64_t expires;
	unsigned contact_port;
	unsigned invite_pct;
	unsigned threads, sockets;
	unsigned cpus[LG_MAX_CPUS], ncpus;
	bool retransmit;
	uint64_t t1_ns, t2_ns, timeout_ns;
	uint64_t batch_ns;       /* gather answers this long while busy */
	enum lg_alg_pref alg;
	bool reuse_nonce;
	bool json, quiet;
	const char *json_path;
	uint64_t interval_ns;
	uint32_t run;
};

/* A transaction slot: one operation in flight. */
struct slot {
	uint32_t gen;            /* bumped for every new transaction */
	uint32_t aor;            /* index in the thread's slice */
	uint32_t prev, next;     /* timer list links */
	uint32_t cseq;
	uint32_t inv_seq;        /* INVITE: the Call-ID's number */
	uint16_t len;
	uint16_t sock;
	uint8_t level;           /* timer level */
	uint8_t linked;          /* in the timer list of its level */
	uint8_t active;
	uint8_t method;          /* LG_REGISTER or LG_INVITE */
	uint8_t auth_rounds;     /* requests with credentials so far */
	uint8_t preemptive;      /* the last credentials came from the cache */
	uint8_t proceeding;      /* a provisional response was seen */
	uint8_t proxy;           /* credentials go in Proxy-Authorization */
	uint64_t op_start;
	uint64_t txn_start;
};

struct auth_cache {
	struct lg_challenge c;
	uint32_t nc;
	bool proxy;
};

struct aor_state {
	uint32_t cseq;
	uint8_t busy;
};

struct tx_queue {
	struct mmsghdr msg[LG_BURST];
	struct iovec iov[LG_BURST];
	uint32_t stamp[LG_BURST];        /* slot to stamp when sent, or LG_NONE */
	bool stamp_op[LG_BURST];         /* the operation's first request */
	unsigned n;
};

struct sock {
	int fd;
	uint16_t port;
	struct tx_queue tx;
};

struct tlist {
	uint32_t head, tail;
};

struct thread {
	const struct config *cfg;
	unsigned index;
	pthread_t tid;
	bool joined;
	int cpu;
	int epfd;
	char local_ip[TDM_ADDR_STRLEN];   /* for Call-IDs */
	char via_host[TDM_ADDR_STRLEN + 2];   /* bracketed for IPv6 */

	uint32_t lo, naors;              /* global AOR numbers [first+lo, +naors) */
	struct aor_state *aors;
	struct auth_cache **cache;       /* --reuse-nonce only */
	uint32_t cursor, inv_cursor;
	uint32_t inv_seq;
	unsigned inv_acc;

	struct slot *slots;
	char (*msgs)[LG_MSG_MAX];        /* the request of each slot */
	uint32_t nslots, free_head, outstanding;
	uint32_t window;                 /* closed loop */
	uint64_t quota;                  /* operations to start, UINT64_MAX: no limit */
	double rate;                     /* open loop, per second */
	uint64_t attempted;              /* started + skipped */

	unsigned nlevels[2];
	uint64_t offset[2][LG_MAX_LEVELS];
	struct tlist lists[2][LG_MAX_LEVELS];

	struct sock *socks;
	unsigned nsocks;

	char ack_buf[LG_ACK_RING][LG_MSG_MAX];
	unsigned nack;

	struct mmsghdr rx[LG_BURST];
	struct iovec rx_iov[LG_BURST];
	char rx_cmsg[LG_BURST][CMSG_SPACE(sizeof(struct timespec))];
	char *rx_buf;
	uint64_t timers_ns;              /* when the timers last ran */

	_Atomic uint64_t ctr[CTR_COUNT];
	uint64_t codes[600];             /* 100..699 */
	struct lg_hist hist;
	uint64_t cpu_ns;                 /* this thread's CPU time */
	uint64_t send_end_ns;            /* when it stopped starting operations */
	int error;
	char errmsg[160];
};

static atomic_int stop_level;           /* 1: stop sending; 2: stop now */
static uint64_t t0_ns;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&stop_level, 1);
}

static inline void ctr_add(struct thread *t, enum lg_ctr c, uint64_t n)
{
	atomic_store_explicit(&t->ctr[c],
			      atomic_load_explicit(&t->ctr[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t ctr_get(struct thread *t, enum lg_ctr c)
{
	return atomic_load_explicit(&t->ctr[c], memory_order_relaxed);
}

/* ---- timer lists ---------------------------------------------------------
 *
 * Every transaction of a kind (INVITE or not) has the same schedule relative
 * to its start: retransmit at offset[0], offset[1], ..., give up at the last
 * offset. Level k holds the transactions whose next event is offset[k], in
 * the order they started, so each list is sorted by deadline and only its
 * head needs looking at. Links are slot indexes; unlinking is O(1).
 */

static unsigned kind_of(const struct slot *s)
{
	return s->method == LG_INVITE ? 1 : 0;
}

static void tl_unlink(struct thread *t, uint32_t i)
{
	struct slot *s = &t->slots[i];
	struct tlist *l = &t->lists[kind_of(s)][s->level];

	if (!s->linked)
		return;
	if (s->prev != LG_NONE)
		t->slots[s->prev].next = s->next;
	else
		l->head = s->next;
	if (s->next != LG_NONE)
		t->slots[s->next].prev = s->prev;
	else
		l->tail = s->prev;
	s->prev = s->next = LG_NONE;
	s->linked = 0;
}

static void tl_append(struct thread *t, uint32_t i, uint8_t level)
{
	struct slot *s = &t->slots[i];
	struct tlist *l = &t->lists[kind_of(s)][level];

	s->level = level;
	s->linked = 1;
	s->next = LG_NONE;
	s->prev = l->tail;
	if (l->tail != LG_NONE)
		t->slots[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
}

static void schedule_init(struct thread *t)
{
	const struct config *c = t->cfg;

	for (unsigned k = 0; k < 2; k++) {
		uint64_t at = 0, step = c->t1_ns;
		unsigned n = 0;

		while (c->retransmit && n < LG_MAX_LEVELS - 1) {
			at += step;
			if (at >= c->timeout_ns)
				break;
			t->offset[k][n++] = at;
			step *= 2;
			if (k == 0 && step > c->t2_ns)
				step = c->t2_ns;
		}
		t->offset[k][n++] = c->timeout_ns;
		t->nlevels[k] = n;
		for (unsigned l = 0; l < LG_MAX_LEVELS; l++)
			t->lists[k][l] = (struct tlist){ LG_NONE, LG_NONE };
	}
}

/* ---- sending ------------------------------------------------------------- */

/* Send the socket's queue. A request is stamped with the time it is handed
 * to the kernel: the start of its transaction (and of its operation, for
 * the first request of one). */
static void tx_flush(struct thread *t, struct sock *so)
{
	struct tx_queue *q = &so->tx;
	uint64_t now = clock_mono_ns();
	unsigned done = 0;

	for (unsigned k = 0; k < q->n; k++) {
		struct slot *s;

		if (q->stamp[k] == LG_NONE)
			continue;
		s = &t->slots[q->stamp[k]];
		s->txn_start = now;
		if (q->stamp_op[k])
			s->op_start = now;
	}
	while (done < q->n) {
		int n = sendmmsg(so->fd, q->msg + done, q->n - done, 0);

		if (n > 0) {
			done += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNREFUSED) {
			/* An earlier ICMP error reported on this send: retry. */
			ctr_add(t, CTR_icmp_errors, 1);
			continue;
		}
		/* Not sent (buffer full, ...): the retransmission timer will
		 * send it again; skip the datagram that failed. */
		ctr_add(t, CTR_send_errors, 1);
		done++;
	}
	q->n = 0;
}

static void tx_flush_all(struct thread *t)
{
	for (unsigned i = 0; i < t->nsocks; i++)
		if (t->socks[i].tx.n)
			tx_flush(t, &t->socks[i]);
	t->nack = 0;
}

static void tx_queue(struct thread *t, unsigned sock, const char *buf, size_t len,
		     uint32_t stamp, bool stamp_op)
{
	struct sock *so = &t->socks[sock];
	struct tx_queue *q = &so->tx;

	if (q->n == LG_BURST)
		tx_flush(t, so);
	q->stamp[q->n] = stamp;
	q->stamp_op[q->n] = stamp_op;
	q->iov[q->n] = (struct iovec){ (void *)buf, len };
	q->msg[q->n].msg_hdr = (struct msghdr){ .msg_iov = &q->iov[q->n], .msg_iovlen = 1 };
	q->n++;
}

/* ---- requests -------------------------------------------------------------- */

struct names {
	char user[LG_PATTERN_MAX + 16];
	char auth_user[LG_PATTERN_MAX + 16];
	char password[LG_PATTERN_MAX + 16];
	char aor_uri[LG_PATTERN_MAX + 300];
	char contact[LG_PATTERN_MAX + 100];
	char call_id[200];
	char from_tag[40];
};

static uint32_t global_aor(const struct thread *t, uint32_t aor)
{
	return t->cfg->first + t->lo + aor;
}

/* A string builder for names: parts are appended, the result truncated to
 * its buffer (the sizes are checked once at start-up by check_sizes()). */
struct sb {
	char *p;
	size_t left;             /* room, the NUL included */
};

static struct sb sb_init(char *buf, size_t cap)
{
	buf[0] = '\0';
	return (struct sb){ buf, cap };
}

static void sb_s(struct sb *b, const char *s)
{
	size_t n = strlen(s);

	if (n >= b->left)
		n = b->left - 1;
	memcpy(b->p, s, n);
	b->p += n;
	b->left -= n;
	*b->p = '\0';
}

static void sb_u(struct sb *b, uint32_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[12];
	unsigned n = sizeof(tmp) - 1;

	tmp[n] = '\0';
	do {
		tmp[--n] = digits[v % base];
		v /= base;
	} while (v);
	sb_s(b, tmp + n);
}

static int fill_names(const struct thread *t, const struct slot *s, struct names *n,
		      bool credentials)
{
	const struct config *c = t->cfg;
	uint32_t g = global_aor(t, s->aor);
	struct sb b;

	if (lg_pattern_expand(&c->user, g, n->user, sizeof(n->user)) < 0)
		return TDM_ENOSPACE;
	if (credentials &&
	    (lg_pattern_expand(&c->auth_user, g, n->auth_user, sizeof(n->auth_user)) < 0 ||
	     lg_pattern_expand(&c->password, g, n->password, sizeof(n->password)) < 0))
		return TDM_ENOSPACE;
	b = sb_init(n->aor_uri, sizeof(n->aor_uri));
	sb_s(&b, "sip:");
	sb_s(&b, n->user);
	sb_s(&b, "@");
	sb_s(&b, c->domain);
	b = sb_init(n->contact, sizeof(n->contact));
	sb_s(&b, "sip:");
	sb_s(&b, n->user);
	sb_s(&b, "@");
	sb_s(&b, t->via_host);
	sb_s(&b, ":");
	sb_u(&b, c->contact_port, 10);
	/* Call-ID "<run>-<aor>@<ip>" (an INVITE: "<run>-i<thread>-<n>@<ip>"),
	 * From tag the same without the host. */
	b = sb_init(n->from_tag, sizeof(n->from_tag));
	sb_u(&b, c->run, 16);
	if (s->method == LG_INVITE) {
		sb_s(&b, "-i");
		sb_u(&b, t->index, 10);
		sb_s(&b, "-");
		sb_u(&b, s->inv_seq, 10);
	} else {
		sb_s(&b, "-");
		sb_u(&b, g, 10);
	}
	b = sb_init(n->call_id, sizeof(n->call_id));
	sb_s(&b, n->from_tag);
	sb_s(&b, "@");
	sb_s(&b, t->local_ip);
	return 0;
}

/*
 * Build the slot's current request into its buffer: a REGISTER or INVITE
 * for its AOR, with credentials when `challenge` is given.
 */
static int build_slot(struct thread *t, uint32_t i, const struct lg_challenge *challenge,
		      uint32_t nc)
{
	const struct config *c = t->cfg;
	struct slot *s = &t->slots[i];
	struct names n;
	char caller[LG_PATTERN_MAX + 300];
	struct lg_request r = {
		.method = s->method,
		.via_host = t->via_host,
		.via_port = t->socks[s->sock].port,
		.run = c->run,
		.thread = t->index,
		.slot = i,
		.gen = s->gen,
		.cseq = s->cseq,
		.expires = c->expires,
		.proxy = s->proxy,
		.nc = nc,
	};
	int len;

	if (fill_names(t, s, &n, challenge != NULL) < 0)
		return TDM_ENOSPACE;
	r.call_id = n.call_id;
	r.from_tag = n.from_tag;
	r.to_uri = n.aor_uri;
	if (s->method == LG_REGISTER) {
		r.ruri = c->register_ruri;
		r.from_uri = n.aor_uri;
		r.contact = n.contact;
	} else {
		snprintf(caller, sizeof(caller), "sip:loadgen-%u@%s", t->index, c->domain);
		r.ruri = n.aor_uri;
		r.from_uri = caller;
		snprintf(n.contact, sizeof(n.contact), "sip:loadgen-%u@%s:%u", t->index,
			 t->via_host, t->socks[s->sock].port);
		r.contact = n.contact;
	}
	if (challenge) {
		r.authz_user = n.auth_user;
		r.password = n.password;
		r.challenge = challenge;
		r.cnonce = (uint32_t)(s->gen * 2654435761u) ^ c->run;
	}
	len = lg_build_request(&r, t->msgs[i], LG_MSG_MAX);
	if (len < 0)
		return len;
	s->len = (uint16_t)len;
	return 0;
}

/* Send an ACK for a final response to the slot's INVITE (RFC 3261
 * §17.1.1.3: same branch for a non-2xx answer, a new one for a 2xx). */
static void send_ack(struct thread *t, uint32_t i, tstr to_tag, bool is_2xx)
{
	const struct config *c = t->cfg;
	struct slot *s = &t->slots[i];
	struct names n;
	char caller[LG_PATTERN_MAX + 300];
	struct lg_request r = {
		.method = LG_ACK,
		.via_host = t->via_host,
		.via_port = t->socks[s->sock].port,
		.run = c->run,
		.thread = t->index,
		.slot = i,
		.gen = is_2xx ? s->gen ^ 0x80000000u : s->gen,
		.cseq = s->cseq,
		.expires = -1,
	};
	int len;

	if (fill_names(t, s, &n, false) < 0)
		return;
	if (t->nack == LG_ACK_RING)
		tx_flush_all(t);
	snprintf(caller, sizeof(caller), "sip:loadgen-%u@%s", t->index, c->domain);
	r.ruri = n.aor_uri;
	r.from_uri = caller;
	r.from_tag = n.from_tag;
	r.to_uri = n.aor_uri;
	r.to_tag = to_tag;
	r.call_id = n.call_id;
	len = lg_build_request(&r, t->ack_buf[t->nack], LG_MSG_MAX);
	if (len < 0)
		return;
	tx_queue(t, s->sock, t->ack_buf[t->nack], (size_t)len, LG_NONE, false);
	t->nack++;
	ctr_add(t, CTR_acks, 1);
}

/* ---- operations ---------------------------------------------------------- */

static void slot_free(struct thread *t, uint32_t i)
{
	struct slot *s = &t->slots[i];

	tl_unlink(t, i);
	if (s->method == LG_REGISTER)
		t->aors[s->aor].busy = 0;
	s->active = 0;
	s->gen++;
	s->next = t->free_head;
	t->free_head = i;
	t->outstanding--;
}

/* Start transmitting the slot's (new) request: first send, timers. The
 * times are set again when the request is actually sent (tx_flush). */
static void txn_begin(struct thread *t, uint32_t i, uint64_t now, bool first)
{
	struct slot *s = &t->slots[i];

	s->txn_start = now;
	if (first)
		s->op_start = now;
	s->proceeding = 0;
	tl_append(t, i, 0);
	tx_queue(t, s->sock, t->msgs[i], s->len, i, first);
	ctr_add(t, CTR_requests, 1);
}

/* A free AOR from the cursor on, or LG_NONE after 64 busy ones. */
static uint32_t next_free_aor(struct thread *t)
{
	for (unsigned tries = 0; tries < 64 && tries < t->naors; tries++) {
		uint32_t a = t->cursor;

		t->cursor = t->cursor + 1 == t->naors ? 0 : t->cursor + 1;
		if (!t->aors[a].busy)
			return a;
	}
	return LG_NONE;
}

/* Start one operation. Returns false when none could start (no free slot,
 * every AOR tried busy) or the request did not fit. */
static bool op_start(struct thread *t, uint64_t now)
{
	const struct config *c = t->cfg;
	uint32_t i = t->free_head, aor;
	bool invite = false;
	struct slot *s;
	const struct lg_challenge *cred = NULL;
	uint32_t nc = 1;

	if (i == LG_NONE)
		return false;
	if (c->invite_pct) {
		t->inv_acc += c->invite_pct;
		if (t->inv_acc >= 100) {
			t->inv_acc -= 100;
			invite = true;
		}
	}
	if (invite) {
		aor = t->inv_cursor;
		t->inv_cursor = t->inv_cursor + 1 == t->naors ? 0 : t->inv_cursor + 1;
	} else {
		aor = next_free_aor(t);
		if (aor == LG_NONE)
			return false;
	}
	s = &t->slots[i];
	t->free_head = s->next;
	s->active = 1;
	s->aor = aor;
	s->method = invite ? LG_INVITE : LG_REGISTER;
	/* Runs of consecutive AORs share a socket: the operations one turn
	 * starts (consecutive AORs) then leave in a few sendmmsg() calls, and
	 * their answers come back in a few recvmmsg() calls, instead of one
	 * of each per socket; the runs still spread the AORs over every
	 * socket (and so over a server's SO_REUSEPORT workers). */
	s->sock = (uint16_t)(aor / LG_SOCK_RUN % t->nsocks);
	s->auth_rounds = 0;
	s->preemptive = 0;
	s->proxy = 0;
	s->op_start = now;
	s->prev = s->next = LG_NONE;
	if (invite) {
		s->inv_seq = t->inv_seq++;
		s->cseq = 1;
	} else {
		t->aors[aor].busy = 1;
		s->cseq = ++t->aors[aor].cseq;
		if (t->cache && t->cache[aor]) {
			cred = &t->cache[aor]->c;
			nc = ++t->cache[aor]->nc;
			s->proxy = t->cache[aor]->proxy;
			s->auth_rounds = 1;
			s->preemptive = 1;
		}
	}
	t->outstanding++;
	if (build_slot(t, i, cred, nc) < 0) {
		/* Cannot happen with the sizes checked at start-up. */
		slot_free(t, i);
		return false;
	}
	txn_begin(t, i, now, true);
	ctr_add(t, CTR_ops_started, 1);
	return true;
}

/* `arrived`: when the kernel received the final answer. */
static void op_end(struct thread *t, uint32_t i, uint64_t arrived, bool ok)
{
	struct slot *s = &t->slots[i];

	if (ok) {
		ctr_add(t, CTR_ops_ok, 1);
		lg_hist_record(&t->hist, arrived > s->op_start ? arrived - s->op_start : 0);
	} else {
		ctr_add(t, CTR_ops_failed, 1);
	}
	slot_free(t, i);
}

/* Answer a 401/407: a new request with credentials (CSeq + 1, new branch).
 * Returns false when this challenge is not to be answered. */
static bool answer_challenge(struct thread *t, uint32_t i, const struct lg_response *r,
			     uint64_t now)
{
	const struct config *c = t->cfg;
	struct slot *s = &t->slots[i];
	const struct lg_challenge *ch = &r->challenge;

	if (!c->has_password || !r->has_challenge || s->auth_rounds >= LG_AUTH_ROUNDS)
		return false;
	/* Credentials that were refused are not sent again, unless the nonce
	 * was only stale or came from our cache. */
	if (s->auth_rounds > 0 && !ch->stale && !s->preemptive)
		return false;
	if (s->method == LG_REGISTER && t->cache) {
		struct auth_cache **slotp = &t->cache[s->aor];
		if (!*slotp)
			*slotp = malloc(sizeof(**slotp));
		if (*slotp) {
			(*slotp)->c = *ch;
			(*slotp)->nc = 1;
			(*slotp)->proxy = r->proxy_challenge;
		}
	}
	if (s->method == LG_REGISTER)
		s->cseq = ++t->aors[s->aor].cseq;
	else
		s->cseq++;
	tl_unlink(t, i);
	s->gen++;
	s->auth_rounds++;
	s->preemptive = 0;
	s->proxy = r->proxy_challenge;
	if (build_slot(t, i, ch, 1) < 0)
		return false;
	txn_begin(t, i, now, false);
	ctr_add(t, CTR_auth_answered, 1);
	return true;
}

/* A datagram from a socket: `arrived` is when the kernel received it (for
 * the latency), `now` the time of this loop turn. */
static void on_response(struct thread *t, const char *data, size_t len, uint64_t now,
			uint64_t arrived)
{
	struct lg_response r;
	uint32_t th, i, gen;
	struct slot *s;
	bool ok;

	if (lg_parse_response(data, len, t->cfg->alg, &r) < 0) {
		ctr_add(t, CTR_malformed, 1);
		return;
	}
	ctr_add(t, CTR_responses, 1);
	ctr_add(t, (enum lg_ctr)(CTR_resp_1xx + r.code / 100 - 1), 1);
	t->codes[r.code - 100]++;

	if (!lg_branch_decode(r.branch, t->cfg->run, &th, &i, &gen) || th != t->index ||
	    i >= t->nslots) {
		ctr_add(t, CTR_stray, 1);
		return;
	}
	s = &t->slots[i];
	if (!s->active || s->gen != gen || r.cseq != s->cseq) {
		ctr_add(t, CTR_stray, 1);
		return;
	}
	if (r.code < 200) {
		s->proceeding = 1;
		return;
	}
	if (s->method == LG_INVITE)
		send_ack(t, i, r.to_tag, r.code < 300);
	if ((r.code == 401 || r.code == 407) && answer_challenge(t, i, &r, now))
		return;
	if (r.code == 401 || r.code == 407)
		ctr_add(t, CTR_auth_failed, 1);
	if (s->method == LG_REGISTER)
		ok = r.code >= 200 && r.code < 300;
	else
		ok = r.code >= 200 && r.code < 400;
	op_end(t, i, arrived, ok);
}

/* Retransmit or time out every transaction whose next event is due. */
static void run_timers(struct thread *t, uint64_t now)
{
	for (unsigned k = 0; k < 2; k++) {
		unsigned last = t->nlevels[k] - 1;

		for (unsigned l = 0; l <= last; l++) {
			struct tlist *list = &t->lists[k][l];

			while (list->head != LG_NONE) {
				uint32_t i = list->head;
				struct slot *s = &t->slots[i];

				if (s->txn_start + t->offset[k][l] > now)
					break;
				if (l == last) {
					ctr_add(t, CTR_ops_timeout, 1);
					slot_free(t, i);
					continue;
				}
				tl_unlink(t, i);
				tl_append(t, i, (uint8_t)(l + 1));
				/* An INVITE that got a provisional answer waits
				 * without retransmitting (timer A stops). */
				if (k == 1 && s->proceeding)
					continue;
				tx_queue(t, s->sock, t->msgs[i], s->len, LG_NONE, false);
				ctr_add(t, CTR_retransmissions, 1);
			}
		}
	}
}

/* The earliest timer deadline, or UINT64_MAX. */
static uint64_t next_timer(const struct thread *t)
{
	uint64_t best = UINT64_MAX;

	for (unsigned k = 0; k < 2; k++)
		for (unsigned l = 0; l < t->nlevels[k]; l++) {
			uint32_t h = t->lists[k][l].head;
			if (h != LG_NONE && t->slots[h].txn_start + t->offset[k][l] < best)
				best = t->slots[h].txn_start + t->offset[k][l];
		}
	return best;
}

/*
 * Read socket k: bursts until it is empty (a short burst) or `cap`
 * datagrams were read. Returns the datagrams read; *drained tells whether
 * the socket was found empty.
 */
static unsigned receive(struct thread *t, unsigned k, unsigned cap, uint64_t *now,
			bool *drained)
{
	unsigned total = 0;

	*drained = false;
	while (total < cap) {
		int64_t real_to_mono;
		struct timespec rt;
		int n;

		for (unsigned j = 0; j < LG_BURST; j++) {
			t->rx_iov[j] = (struct iovec){ t->rx_buf + (size_t)j * LG_RX_MAX, LG_RX_MAX };
			t->rx[j].msg_hdr = (struct msghdr){
				.msg_iov = &t->rx_iov[j],
				.msg_iovlen = 1,
				.msg_control = t->rx_cmsg[j],
				.msg_controllen = sizeof(t->rx_cmsg[j]),
			};
		}
		n = recvmmsg(t->socks[k].fd, t->rx, LG_BURST, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == ECONNREFUSED) {
			/* An ICMP error, reported once: read on. */
			ctr_add(t, CTR_icmp_errors, 1);
			continue;
		}
		if (n <= 0) {
			*drained = true;
			break;
		}
		/* The kernel stamps datagrams with the wall clock; convert to
		 * the monotonic clock of our send times. */
		clock_gettime(CLOCK_REALTIME, &rt);
		*now = clock_mono_ns();
		real_to_mono = (int64_t)*now - ((int64_t)rt.tv_sec * (int64_t)NS_PER_S + rt.tv_nsec);
		for (int j = 0; j < n; j++) {
			struct msghdr *h = &t->rx[j].msg_hdr;
			uint64_t arrived = *now;

			for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
				    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
					struct timespec ts;
					int64_t v;

					memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
					v = (int64_t)ts.tv_sec * (int64_t)NS_PER_S + ts.tv_nsec +
					    real_to_mono;
					if (v > 0 && (uint64_t)v <= *now)
						arrived = (uint64_t)v;
				}
			}
			if (h->msg_flags & MSG_TRUNC)
				ctr_add(t, CTR_malformed, 1);
			else
				on_response(t, t->rx_buf + (size_t)j * LG_RX_MAX, t->rx[j].msg_len,
					    *now, arrived);
		}
		total += (unsigned)n;
		if (n < LG_BURST) {
			*drained = true;
			break;
		}
	}
	return total;
}

/* Open loop: how many operations are due `el` ns after the start (those at
 * k / rate <= el), or, at the end, all those before `duration` ns. */
static uint64_t open_loop_due(const struct thread *t, uint64_t el, uint64_t duration,
			      bool at_end)
{
	if (at_end) {
		double n = (double)duration / 1e9 * t->rate;
		uint64_t k = (uint64_t)n;

		return (double)k < n - 1e-9 ? k + 1 : k;
	}
	return (uint64_t)((double)el / 1e9 * t->rate) + 1;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void pin_thread(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		fprintf(stderr, "tandem-loadgen: cannot pin a thread to CPU %d: running "
			"unpinned\n", cpu);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	const struct config *c = t->cfg;
	uint64_t now, send_end = t0_ns + c->duration_ns, drain_end = UINT64_MAX;
	uint64_t cpu0;
	unsigned got = 0;
	bool sending = true;

	pin_thread(t->cpu);
	/* Precise sleeps: the open loop paces by sleeping. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while ((now = clock_mono_ns()) < t0_ns) {
		uint64_t d = t0_ns - now;
		struct timespec ts = { (time_t)(d / NS_PER_S), (long)(d % NS_PER_S) };
		nanosleep(&ts, NULL);
	}
	cpu0 = thread_cpu_ns();

	for (bool drained = true;;) {
		static_assert(LG_BATCH_MAX_NS < NS_PER_S, "a nap is below one second");
		struct epoll_event ev[LG_EVENTS];
		struct timespec ts = { 0, 0 };
		uint64_t wake;
		int nev;

		now = clock_mono_ns();
		if (atomic_load_explicit(&stop_level, memory_order_relaxed) >= 2)
			break;
		if (sending) {
			bool last = now >= send_end ||
				    atomic_load_explicit(&stop_level, memory_order_relaxed) >= 1;
			unsigned budget = last ? UINT32_MAX : LG_START_PER_TURN;

			if (!c->closed) {
				/* Operation k is due at t0 + k / rate, for every
				 * t0 + k / rate < send_end; the last turn starts
				 * whatever is still due. */
				uint64_t until = now < send_end ? now : send_end;
				uint64_t due = open_loop_due(t, until - t0_ns, c->duration_ns,
							     until == send_end);

				if (due > t->quota)
					due = t->quota;
				while (t->attempted < due && budget--) {
					t->attempted++;
					if (!op_start(t, now))
						ctr_add(t, CTR_ops_skipped, 1);
				}
			} else if (!last) {
				while (t->outstanding < t->window && t->attempted < t->quota &&
				       budget--) {
					if (!op_start(t, now))
						break;
					t->attempted++;
				}
			}
			tx_flush_all(t);
			if (last || t->attempted >= t->quota) {
				sending = false;
				t->send_end_ns = now < send_end ? now : send_end;
				drain_end = now + c->timeout_ns + 100 * NS_PER_MS;
			}
		}
		if (!sending && t->outstanding == 0)
			break;
		if (now >= drain_end)
			break;

		/* Wait for an answer, the next operation or the next timer; not
		 * at all when a socket was left unread last turn. */
		wake = next_timer(t);
		if (sending) {
			uint64_t next_send = send_end;
			if (!c->closed) {
				uint64_t at = t0_ns + (uint64_t)((double)t->attempted * 1e9 / t->rate);
				if (at < next_send)
					next_send = at;
			} else if (t->outstanding < t->window && t->attempted < t->quota) {
				/* Every AOR was busy: look again soon. */
				next_send = now + 100000;
			}
			if (next_send < wake)
				wake = next_send;
		}
		if (drain_end < wake)
			wake = drain_end;
		if (wake > now + 50 * NS_PER_MS)
			wake = now + 50 * NS_PER_MS;    /* to notice a stop request */
		if (drained && wake > now) {
			uint64_t wait = wake - now;

			if (got && c->batch_ns) {
				/* Answers are flowing: let them (and the
				 * operations due) gather for a moment rather than
				 * waking up for each one. The latency is not
				 * affected: answers carry the kernel's receive
				 * time, requests are stamped when sent. */
				struct timespec nap;

				if (wait > c->batch_ns)
					wait = c->batch_ns;
				nap.tv_sec = 0;
				nap.tv_nsec = (long)wait;
				nanosleep(&nap, NULL);
			} else {
				ts.tv_sec = (time_t)(wait / NS_PER_S);
				ts.tv_nsec = (long)(wait % NS_PER_S);
			}
		}
		nev = epoll_pwait2(t->epfd, ev, LG_EVENTS, &ts, NULL);

		/* Read the sockets that have something, a fair share each. */
		now = clock_mono_ns();
		drained = true;
		got = 0;
		for (int e = 0; e < nev; e++) {
			bool empty;

			got += receive(t, ev[e].data.u32, LG_RX_PER_SOCKET, &now, &empty);
			drained &= empty;
		}
		tx_flush_all(t);
		/* Answers still queued in a socket are not late: look at the
		 * timers once everything was read (or every millisecond, in
		 * case the answers never stop). */
		if (drained || now - t->timers_ns >= NS_PER_MS) {
			run_timers(t, now);
			t->timers_ns = now;
			tx_flush_all(t);
		}
	}
	if (sending)
		t->send_end_ns = clock_mono_ns();
	/* Whatever is still outstanding never got its answer. */
	for (uint32_t i = 0; i < t->nslots; i++)
		if (t->slots[i].active) {
			ctr_add(t, CTR_ops_timeout, 1);
			slot_free(t, i);
		}
	t->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

/* ---- set-up ------------------------------------------------------------- */

static int open_socket(struct thread *t, struct sock *so)
{
	const struct config *c = t->cfg;
	union tdm_addr local, bound;
	socklen_t blen = sizeof(bound);
	int size = 4 << 20, one = 1;
	struct epoll_event ev = { .events = EPOLLIN };

	so->fd = socket(c->target.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (so->fd < 0)
		return -errno;
	/* Large buffers absorb bursts; as root, beyond net.core.*mem_max. */
	if (setsockopt(so->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(so->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(so->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(so->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (c->target.sa.sa_family == AF_INET6)
		setsockopt(so->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Receive times from the kernel: the latency does not include the
	 * time an answer waited for us in the socket. */
	setsockopt(so->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (c->has_local) {
		local = c->local;
		addr_set_port(&local, 0);
		if (bind(so->fd, &local.sa, addr_len(&local)) < 0)
			return -errno;
	}
	if (connect(so->fd, &c->target.sa, addr_len(&c->target)) < 0)
		return -errno;
	if (getsockname(so->fd, &bound.sa, &blen) < 0)
		return -errno;
	so->port = addr_port(&bound);
	if (t->local_ip[0] == '\0') {
		addr_format_ip(&bound, t->local_ip, sizeof(t->local_ip));
		if (bound.sa.sa_family == AF_INET6)
			snprintf(t->via_host, sizeof(t->via_host), "[%s]", t->local_ip);
		else
			snprintf(t->via_host, sizeof(t->via_host), "%s", t->local_ip);
	}
	ev.data.u32 = (uint32_t)(so - t->socks);
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, so->fd, &ev) < 0)
		return -errno;
	return 0;
}

static int thread_setup(struct thread *t, unsigned nsocks, uint32_t nslots)
{
	const struct config *c = t->cfg;
	int rc;

	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -errno;
	t->aors = calloc(t->naors, sizeof(*t->aors));
	t->slots = calloc(nslots, sizeof(*t->slots));
	/* Pages of unused slots are never touched: the free list is LIFO. */
	t->msgs = calloc(nslots, LG_MSG_MAX);
	t->socks = calloc(nsocks, sizeof(*t->socks));
	t->rx_buf = malloc((size_t)LG_BURST * LG_RX_MAX);
	if (c->reuse_nonce)
		t->cache = calloc(t->naors, sizeof(*t->cache));
	if (!t->aors || !t->slots || !t->msgs || !t->socks || !t->rx_buf ||
	    (c->reuse_nonce && !t->cache))
		return -ENOMEM;
	t->nslots = nslots;
	for (uint32_t i = 0; i < nslots; i++) {
		t->slots[i].next = i + 1 < nslots ? i + 1 : LG_NONE;
		t->slots[i].prev = LG_NONE;
		t->slots[i].gen = 1;
	}
	t->free_head = 0;
	t->nsocks = nsocks;
	for (unsigned k = 0; k < nsocks; k++)
		t->socks[k].fd = -1;
	for (unsigned k = 0; k < nsocks; k++) {
		rc = open_socket(t, &t->socks[k]);
		if (rc < 0)
			return rc;
	}
	lg_hist_init(&t->hist);
	schedule_init(t);
	return 0;
}

static void thread_cleanup(struct thread *t)
{
	if (t->socks)
		for (unsigned k = 0; k < t->nsocks; k++)
			if (t->socks[k].fd >= 0)
				close(t->socks[k].fd);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->cache)
		for (uint32_t a = 0; a < t->naors; a++)
			free(t->cache[a]);
	free(t->cache);
	free(t->aors);
	free(t->slots);
	free(t->msgs);
	free(t->socks);
	free(t->rx_buf);
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: tandem-loadgen [OPTIONS] TARGET\n"
"\n"
"Send SIP REGISTERs (and optionally INVITEs) over UDP to TARGET, an IP:port\n"
"(192.0.2.1:5060, [2001:db8::1]:5060; the port defaults to 5060), and\n"
"report every response, timeout and retransmission, the latency and the\n"
"CPU used. Works against any SIP registrar.\n"
"\n"
"Load (one of):\n"
"  -r, --rate N            open loop: start N operations per second\n"
"  -w, --window N          closed loop: keep N operations outstanding\n"
"                          (default: closed loop, window 64)\n"
"      --max-outstanding N open loop: operations in flight at most; beyond,\n"
"                          due operations are skipped and counted (16384)\n"
"Bounds (the run always ends by itself):\n"
"  -n, --count N           start N operations at most (default: no limit)\n"
"  -d, --duration TIME     start operations for TIME at most (default 10s)\n"
"      --timeout TIME      give up on a transaction after TIME (64*T1)\n"
"Population:\n"
"  -a, --aors N            number of AORs (default 1000)\n"
"      --first N           number of the first AOR (default 0)\n"
"  -u, --user PATTERN      user part of the AORs (default user%%u)\n"
"      --domain DOMAIN     domain of the AORs and REGISTER's Request-URI\n"
"                          (default: the target's IP)\n"
"      --expires SECONDS   Expires of the REGISTERs (default 3600; -1: none)\n"
"      --contact-port N    port of the Contact URIs (default 5060)\n"
"      --invite-pct P      make P %% of the operations INVITEs to the AORs\n"
"                          (a redirect server answers 3xx; default 0)\n"
"Digest authentication (answered when a password is given):\n"
"  -p, --password PATTERN  password of each user (\"secret\", \"pw%%u\")\n"
"      --auth-user PATTERN digest user name (default: the user part)\n"
"      --auth-alg ALG      first (the server's first MD5 or SHA-256 offer,\n"
"                          default), md5 or sha256\n"
"      --reuse-nonce       send the last nonce of an AOR with its next\n"
"                          REGISTER (nc + 1) instead of waiting for a 401\n"
"Transactions:\n"
"      --t1 TIME           RFC 3261 T1 (default 500ms); T2 is 8*T1 capped\n"
"                          at 4s unless --t2 is given\n"
"      --t2 TIME           RFC 3261 T2\n"
"      --no-retransmit     send every request once\n"
"Threads and sockets:\n"
"  -t, --threads N         sending threads (default 1)\n"
"  -s, --sockets N         UDP sockets (source ports) in all (default 8 per\n"
"                          thread); AOR k always uses the same one\n"
"      --local IP          source address (default: the kernel's choice)\n"
"      --cpus LIST         pin thread i to the i-th CPU of LIST (0,2-3)\n"
"      --batch TIME        while answers flow, gather them (and the\n"
"                          operations due) for TIME between reads (50us;\n"
"                          0: wake for each); latencies use the kernel's\n"
"                          receive times either way\n"
"Output:\n"
"      --json              print JSON instead of text\n"
"      --json-file PATH    also write the JSON report to PATH\n"
"      --interval TIME     print a progress line to stderr every TIME\n"
"  -q, --quiet             no report on stdout (with --json-file)\n"
"      --seed N            run identifier (Call-IDs, branches; default random)\n"
"  -h, --help              this text\n"
"\n"
"TIME takes a unit: 50us, 500ms, 3s, 2m (a bare number is seconds).\n"
"Exit status: 0 the run completed, 1 it could not run, 2 usage error.\n");
}

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("tandem-loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (!tstr_to_u64(tstr_cstr(s), max, &v) || v < min) {
		fprintf(stderr, "tandem-loadgen: %s: '%s' must be a whole number from %llu "
			"to %llu (see --help)\n", opt, s, (unsigned long long)min,
			(unsigned long long)max);
		exit(2);
	}
	return v;
}

/* A duration: digits and an optional unit ms, s, m, h; bare is seconds. */
static uint64_t parse_time(const char *opt, const char *s)
{
	size_t n = strspn(s, "0123456789");
	uint64_t v, mult;
	const char *unit = s + n;

	if (n == 0 || !tstr_to_u64(tstr_make(s, n), 1000000000ull, &v))
		goto bad;
	if (*unit == '\0' || strcmp(unit, "s") == 0)
		mult = NS_PER_S;
	else if (strcmp(unit, "ms") == 0)
		mult = NS_PER_MS;
	else if (strcmp(unit, "us") == 0)
		mult = 1000;
	else if (strcmp(unit, "m") == 0)
		mult = 60 * NS_PER_S;
	else if (strcmp(unit, "h") == 0)
		mult = 3600 * NS_PER_S;
	else
		goto bad;
	if (v > UINT64_MAX / mult / 2)
		goto bad;
	return v * mult;
bad:
	fprintf(stderr, "tandem-loadgen: %s: '%s' is not a duration (500ms, 3s, 2m)\n",
		opt, s);
	exit(2);
}

static void parse_cpus(struct config *c, const char *s)
{
	const char *p = s;

	c->ncpus = 0;
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p || a >= 4096)
			goto bad;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b < a || b >= 4096)
				goto bad;
			p = end;
		}
		for (unsigned long x = a; x <= b; x++) {
			if (c->ncpus == LG_MAX_CPUS)
				goto bad;
			c->cpus[c->ncpus++] = (unsigned)x;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (c->ncpus)
		return;
bad:
	die_usage("--cpus: '%s' is not a CPU list (0,2-3)", s);
}

static void parse_pattern(const char *opt, const char *s, struct lg_pattern *p)
{
	const char *why = NULL;

	if (lg_pattern_parse(s, p, &why) < 0) {
		fprintf(stderr, "tandem-loadgen: %s: '%s': %s (see --help)\n", opt, s, why);
		exit(2);
	}
}

static void parse_args(int argc, char **argv, struct config *c)
{
	enum {
		O_MAXOUT = 256, O_TIMEOUT, O_FIRST, O_DOMAIN, O_EXPIRES, O_CPORT, O_INVITE,
		O_AUTHUSER, O_AUTHALG, O_REUSE, O_T1, O_T2, O_NORETX, O_LOCAL, O_CPUS,
		O_JSON, O_JSONFILE, O_INTERVAL, O_SEED, O_BATCH,
	};
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "max-outstanding", required_argument, NULL, O_MAXOUT },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "aors", required_argument, NULL, 'a' },
		{ "first", required_argument, NULL, O_FIRST },
		{ "user", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, O_DOMAIN },
		{ "expires", required_argument, NULL, O_EXPIRES },
		{ "contact-port", required_argument, NULL, O_CPORT },
		{ "invite-pct", required_argument, NULL, O_INVITE },
		{ "password", required_argument, NULL, 'p' },
		{ "auth-user", required_argument, NULL, O_AUTHUSER },
		{ "auth-alg", required_argument, NULL, O_AUTHALG },
		{ "reuse-nonce", no_argument, NULL, O_REUSE },
		{ "t1", required_argument, NULL, O_T1 },
		{ "t2", required_argument, NULL, O_T2 },
		{ "no-retransmit", no_argument, NULL, O_NORETX },
		{ "threads", required_argument, NULL, 't' },
		{ "sockets", required_argument, NULL, 's' },
		{ "local", required_argument, NULL, O_LOCAL },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "json", no_argument, NULL, O_JSON },
		{ "json-file", required_argument, NULL, O_JSONFILE },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "seed", required_argument, NULL, O_SEED },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool has_rate = false, has_window = false, has_timeout = false, has_t2 = false;
	bool has_auth_user = false, has_domain = false, has_seed = false;
	const char *user = "user%u";
	int opt;

	memset(c, 0, sizeof(*c));
	c->window = 64;
	c->max_outstanding = 16384;
	c->duration_ns = 10 * NS_PER_S;
	c->aors = 1000;
	c->expires = 3600;
	c->contact_port = 5060;
	c->threads = 1;
	c->retransmit = true;
	c->t1_ns = 500 * NS_PER_MS;
	c->batch_ns = 50000;
	c->alg = LG_ALG_PREF_FIRST;

	while ((opt = getopt_long(argc, argv, "r:w:n:d:a:u:p:t:s:qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': {
			char *end;
			c->rate = strtod(optarg, &end);
			if (*end || !(c->rate > 0) || c->rate > 1e9)
				die_usage("--rate: '%s' must be a positive number", optarg);
			has_rate = true;
			break;
		}
		case 'w':
			c->window = (unsigned)parse_u64("--window", optarg, 1, 1u << 20);
			has_window = true;
			break;
		case O_MAXOUT:
			c->max_outstanding = (unsigned)parse_u64("--max-outstanding", optarg, 1,
								 1u << 20);
			break;
		case 'n':
			c->count = parse_u64("--count", optarg, 1, UINT64_MAX / 2);
			break;
		case 'd':
			c->duration_ns = parse_time("--duration", optarg);
			break;
		case O_TIMEOUT:
			c->timeout_ns = parse_time("--timeout", optarg);
			has_timeout = true;
			break;
		case 'a':
			c->aors = (uint32_t)parse_u64("--aors", optarg, 1, 100000000);
			break;
		case O_FIRST:
			c->first = (uint32_t)parse_u64("--first", optarg, 0, 3000000000u);
			break;
		case 'u':
			user = optarg;
			break;
		case O_DOMAIN:
			if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(c->domain) ||
			    strpbrk(optarg, " \t\r\n<>;\"@"))
				die_usage("--domain: '%s' is not a host name or IP", optarg);
			snprintf(c->domain, sizeof(c->domain), "%s", optarg);
			has_domain = true;
			break;
		case O_EXPIRES:
			c->expires = strcmp(optarg, "-1") == 0 ? -1 :
				     (int64_t)parse_u64("--expires", optarg, 0, UINT32_MAX);
			break;
		case O_CPORT:
			c->contact_port = (unsigned)parse_u64("--contact-port", optarg, 1, 65535);
			break;
		case O_INVITE:
			c->invite_pct = (unsigned)parse_u64("--invite-pct", optarg, 0, 100);
			break;
		case 'p':
			parse_pattern("--password", optarg, &c->password);
			c->has_password = true;
			break;
		case O_AUTHUSER:
			parse_pattern("--auth-user", optarg, &c->auth_user);
			has_auth_user = true;
			break;
		case O_AUTHALG:
			if (strcasecmp(optarg, "first") == 0)
				c->alg = LG_ALG_PREF_FIRST;
			else if (strcasecmp(optarg, "md5") == 0)
				c->alg = LG_ALG_PREF_MD5;
			else if (strcasecmp(optarg, "sha256") == 0 ||
				 strcasecmp(optarg, "sha-256") == 0)
				c->alg = LG_ALG_PREF_SHA256;
			else
				die_usage("--auth-alg: '%s' is not first, md5 or sha256", optarg);
			break;
		case O_REUSE:
			c->reuse_nonce = true;
			break;
		case O_T1:
			c->t1_ns = parse_time("--t1", optarg);
			if (c->t1_ns < NS_PER_MS)
				die_usage("--t1: '%s' is below 1ms", optarg);
			break;
		case O_T2:
			c->t2_ns = parse_time("--t2", optarg);
			has_t2 = true;
			break;
		case O_NORETX:
			c->retransmit = false;
			break;
		case 't':
			c->threads = (unsigned)parse_u64("--threads", optarg, 1, LG_MAX_THREADS);
			break;
		case 's':
			c->sockets = (unsigned)parse_u64("--sockets", optarg, 1, LG_MAX_SOCKETS);
			break;
		case O_LOCAL:
			if (addr_parse_ip(optarg, strlen(optarg), &c->local) < 0)
				die_usage("--local: '%s' is not an IP address", optarg);
			c->has_local = true;
			break;
		case O_CPUS:
			parse_cpus(c, optarg);
			break;
		case O_BATCH:
			c->batch_ns = parse_time("--batch", optarg);
			if (c->batch_ns > LG_BATCH_MAX_NS)
				die_usage("--batch: '%s' is above 100ms", optarg);
			break;
		case O_JSON:
			c->json = true;
			break;
		case O_JSONFILE:
			c->json_path = optarg;
			break;
		case O_INTERVAL:
			c->interval_ns = parse_time("--interval", optarg);
			break;
		case 'q':
			c->quiet = true;
			break;
		case O_SEED:
			c->run = (uint32_t)parse_u64("--seed", optarg, 0, UINT32_MAX);
			has_seed = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "tandem-loadgen: %s (see --help)\n",
			optind >= argc ? "a TARGET (IP:port) is needed" : "one TARGET only");
		exit(2);
	}
	if (addr_parse(argv[optind], 5060, &c->target) < 0 || addr_is_any(&c->target) ||
	    addr_port(&c->target) == 0)
		die_usage("'%s' is not a target IP:port (names are not resolved)", argv[optind]);
	addr_format(&c->target, c->target_text, sizeof(c->target_text));
	if (c->has_local && c->local.sa.sa_family != c->target.sa.sa_family)
		die_usage("--local: '%s' is not of the target's address family",
			  c->target.sa.sa_family == AF_INET ? "IPv6" : "IPv4");
	if (has_rate && has_window)
		die_usage("%s: give --rate (open loop) or --window (closed loop), not both",
			  "--rate");
	c->closed = !has_rate;
	parse_pattern("--user", user, &c->user);
	if (!has_auth_user)
		c->auth_user = c->user;
	if (!has_domain) {
		char ip[TDM_ADDR_STRLEN];
		addr_format_ip(&c->target, ip, sizeof(ip));
		snprintf(c->domain, sizeof(c->domain),
			 c->target.sa.sa_family == AF_INET6 ? "[%s]" : "%s", ip);
	}
	snprintf(c->register_ruri, sizeof(c->register_ruri), "sip:%s", c->domain);
	if (!has_timeout)
		c->timeout_ns = 64 * c->t1_ns;
	if (!has_t2)
		c->t2_ns = 8 * c->t1_ns < 4 * NS_PER_S ? 8 * c->t1_ns : 4 * NS_PER_S;
	if (c->t2_ns < c->t1_ns)
		die_usage("--t2: must not be below T1 (%s)", "--t1");
	if (c->timeout_ns == 0 || c->duration_ns == 0)
		die_usage("%s: durations must be above 0", "--timeout/--duration");
	if (c->sockets == 0)
		c->sockets = 8 * c->threads;
	if (c->sockets < c->threads)
		die_usage("--sockets: at least one per thread (%s)", "--threads");
	if (c->aors < c->threads)
		die_usage("--aors: at least one AOR per thread (%s)", "--threads");
	if (c->closed && c->window < c->threads)
		die_usage("--window: at least one operation per thread (%s)", "--threads");
	if ((uint64_t)c->first + c->aors > UINT32_MAX)
		die_usage("--first: the AOR numbers must stay below 2^32 (%s)", "--aors");
	if (c->quiet && !c->json_path)
		die_usage("--quiet: without --json-file there would be no report (%s)", "-q");
	if (!has_seed && getrandom(&c->run, sizeof(c->run), 0) != sizeof(c->run))
		c->run = (uint32_t)(clock_mono_ns() ^ (uint64_t)getpid());
}

/* The longest request must fit a slot: check with the largest numbers. */
static int check_sizes(const struct config *c)
{
	struct lg_challenge ch = { .alg = LG_ALG_SHA256, .qop_auth = true, .has_opaque = true };
	char user[LG_PATTERN_MAX + 16], pw[LG_PATTERN_MAX + 16], uri[LG_PATTERN_MAX + 300];
	char ruri[300], contact[LG_PATTERN_MAX + 100], callid[200];
	static char buf[LG_MSG_MAX];

	memset(ch.realm, 'r', sizeof(ch.realm) - 1);
	memset(ch.nonce, 'n', sizeof(ch.nonce) - 1);
	memset(ch.opaque, 'o', sizeof(ch.opaque) - 1);
	ch.realm_len = sizeof(ch.realm) - 1;
	ch.nonce_len = sizeof(ch.nonce) - 1;
	ch.opaque_len = sizeof(ch.opaque) - 1;
	if (lg_pattern_expand(&c->user, UINT32_MAX, user, sizeof(user)) < 0 ||
	    lg_pattern_expand(&c->password, UINT32_MAX, pw, sizeof(pw)) < 0)
		return TDM_ENOSPACE;
	snprintf(uri, sizeof(uri), "sip:%s@%s", user, c->domain);
	snprintf(ruri, sizeof(ruri), "sip:%s", c->domain);
	snprintf(contact, sizeof(contact), "sip:%s@[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
		 user);
	snprintf(callid, sizeof(callid), "ffffffff-4294967295@ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	struct lg_request r = {
		.method = LG_INVITE, .ruri = uri,
		.via_host = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", .via_port = 65535,
		.run = UINT32_MAX, .thread = UINT32_MAX, .slot = UINT32_MAX, .gen = UINT32_MAX,
		.from_uri = uri, .from_tag = "ffffffff-i4294967295-4294967295",
		.to_uri = uri, .to_tag = tstr_make(buf, LG_TAG_MAX), .call_id = callid,
		.cseq = UINT32_MAX, .contact = contact, .expires = UINT32_MAX,
		.authz_user = user, .password = pw, .challenge = &ch, .nc = UINT32_MAX,
	};
	memset(buf, 't', LG_TAG_MAX);
	return lg_build_request(&r, buf, sizeof(buf)) < 0 ? TDM_ENOSPACE : 0;
}

/* ---- reports ------------------------------------------------------------ */

struct totals {
	uint64_t ctr[CTR_COUNT];
	uint64_t codes[600];
	struct lg_hist hist;
	double send_s, wall_s;
	double cpu_user_s, cpu_sys_s;
	double busiest_pct;
};

static const char *const ctr_names[] = {
#define X(name, help) #name,
	LG_COUNTERS(X)
#undef X
};

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void report_text(FILE *f, const struct config *c, const struct totals *T)
{
	const uint64_t *v = T->ctr;
	uint64_t attempted = v[CTR_ops_started] + v[CTR_ops_skipped];
	uint64_t bad = v[CTR_ops_failed] + v[CTR_ops_timeout] + v[CTR_ops_skipped];
	const struct lg_hist *h = &T->hist;
	double cpu = T->cpu_user_s + T->cpu_sys_s;

	fprintf(f, "tandem-loadgen: %s to %s, ", c->invite_pct ? "REGISTER+INVITE" : "REGISTER",
		c->target_text);
	if (c->closed)
		fprintf(f, "closed loop, window %u", c->window);
	else
		fprintf(f, "open loop, %.0f/s offered", c->rate);
	fprintf(f, ", %u thread%s, %u sockets, %u AORs\n", c->threads, c->threads > 1 ? "s" : "",
		c->sockets, c->aors);
	fprintf(f, "time         %.3f s sending, %.3f s in all\n", T->send_s, T->wall_s);
	fprintf(f, "operations   started %llu, ok %llu, failed %llu, timeouts %llu, skipped %llu:"
		" %.3f %% failures\n",
		(unsigned long long)v[CTR_ops_started], (unsigned long long)v[CTR_ops_ok],
		(unsigned long long)v[CTR_ops_failed], (unsigned long long)v[CTR_ops_timeout],
		(unsigned long long)v[CTR_ops_skipped], pct(bad, attempted));
	fprintf(f, "rates        started %.0f/s, ok %.0f/s\n",
		T->send_s > 0 ? (double)v[CTR_ops_started] / T->send_s : 0,
		T->send_s > 0 ? (double)v[CTR_ops_ok] / T->send_s : 0);
	fprintf(f, "requests     sent %llu, retransmissions %llu, ACKs %llu\n",
		(unsigned long long)v[CTR_requests], (unsigned long long)v[CTR_retransmissions],
		(unsigned long long)v[CTR_acks]);
	fprintf(f, "responses    %llu: 1xx %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu, 6xx %llu;"
		" stray %llu, malformed %llu\n",
		(unsigned long long)v[CTR_responses], (unsigned long long)v[CTR_resp_1xx],
		(unsigned long long)v[CTR_resp_2xx], (unsigned long long)v[CTR_resp_3xx],
		(unsigned long long)v[CTR_resp_4xx], (unsigned long long)v[CTR_resp_5xx],
		(unsigned long long)v[CTR_resp_6xx], (unsigned long long)v[CTR_stray],
		(unsigned long long)v[CTR_malformed]);
	fprintf(f, "codes       ");
	for (unsigned i = 0; i < 600; i++)
		if (T->codes[i])
			fprintf(f, " %u: %llu", i + 100, (unsigned long long)T->codes[i]);
	fprintf(f, "\n");
	fprintf(f, "auth         challenges answered %llu, failures %llu\n",
		(unsigned long long)v[CTR_auth_answered], (unsigned long long)v[CTR_auth_failed]);
	if (h->count)
		fprintf(f, "latency      %llu ok operations: min %.0f us, mean %.0f us, p50 %.0f us, "
			"p90 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us\n",
			(unsigned long long)h->count, us(h->min), us(h->sum / h->count),
			us(lg_hist_percentile(h, 50)), us(lg_hist_percentile(h, 90)),
			us(lg_hist_percentile(h, 99)), us(lg_hist_percentile(h, 99.9)),
			us(h->max));
	else
		fprintf(f, "latency      no successful operation\n");
	fprintf(f, "errors       send %llu, icmp %llu\n",
		(unsigned long long)v[CTR_send_errors], (unsigned long long)v[CTR_icmp_errors]);
	fprintf(f, "loadgen cpu  user %.2f s, system %.2f s: %.0f %% of one CPU, busiest thread "
		"%.0f %%, %.2f us per operation\n",
		T->cpu_user_s, T->cpu_sys_s, T->wall_s > 0 ? 100 * cpu / T->wall_s : 0,
		T->busiest_pct, v[CTR_ops_started] ? 1e6 * cpu / (double)v[CTR_ops_started] : 0);
}

static void report_json(FILE *f, const struct config *c, const struct totals *T)
{
	const uint64_t *v = T->ctr;
	uint64_t attempted = v[CTR_ops_started] + v[CTR_ops_skipped];
	uint64_t bad = v[CTR_ops_failed] + v[CTR_ops_timeout] + v[CTR_ops_skipped];
	const struct lg_hist *h = &T->hist;
	double cpu = T->cpu_user_s + T->cpu_sys_s;
	bool first = true;
	/* The strings from the command line, escaped: at most 6 bytes each. */
	char target[6 * sizeof(c->target_text) + 3], domain[6 * sizeof(c->domain) + 3];

	if (lg_json_string(c->target_text, target, sizeof(target)) < 0 ||
	    lg_json_string(c->domain, domain, sizeof(domain)) < 0)
		abort();	/* cannot happen: the buffers hold the worst case */
	fprintf(f, "{\"target\":%s,\"loop\":\"%s\",", target, c->closed ? "closed" : "open");
	if (c->closed)
		fprintf(f, "\"window\":%u,\"offered_rate\":null,", c->window);
	else
		fprintf(f, "\"window\":null,\"offered_rate\":%.3f,", c->rate);
	fprintf(f, "\"threads\":%u,\"sockets\":%u,\"aors\":%u,\"first\":%u,\"domain\":%s,"
		"\"invite_pct\":%u,\"run\":\"%08x\",",
		c->threads, c->sockets, c->aors, c->first, domain, c->invite_pct, c->run);
	fprintf(f, "\"retransmit\":%s,\"t1_ms\":%.3f,\"t2_ms\":%.3f,\"timeout_ms\":%.3f,",
		c->retransmit ? "true" : "false", (double)c->t1_ns / 1e6,
		(double)c->t2_ns / 1e6, (double)c->timeout_ns / 1e6);
	fprintf(f, "\"send_s\":%.6f,\"elapsed_s\":%.6f,", T->send_s, T->wall_s);
	fprintf(f, "\"counters\":{");
	for (unsigned i = 0; i < CTR_COUNT; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", ctr_names[i], (unsigned long long)v[i]);
	fprintf(f, "},\"codes\":{");
	for (unsigned i = 0; i < 600; i++)
		if (T->codes[i]) {
			fprintf(f, "%s\"%u\":%llu", first ? "" : ",", i + 100,
				(unsigned long long)T->codes[i]);
			first = false;
		}
	fprintf(f, "},\"failure_pct\":%.6f,", pct(bad, attempted));
	fprintf(f, "\"rate\":{\"started\":%.3f,\"ok\":%.3f},",
		T->send_s > 0 ? (double)v[CTR_ops_started] / T->send_s : 0,
		T->send_s > 0 ? (double)v[CTR_ops_ok] / T->send_s : 0);
	fprintf(f, "\"latency_us\":{\"count\":%llu", (unsigned long long)h->count);
	if (h->count)
		fprintf(f, ",\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
			"\"p99.9\":%.3f,\"max\":%.3f",
			us(h->min), us(h->sum / h->count), us(lg_hist_percentile(h, 50)),
			us(lg_hist_percentile(h, 90)), us(lg_hist_percentile(h, 99)),
			us(lg_hist_percentile(h, 99.9)), us(h->max));
	fprintf(f, "},\"histogram_us\":[");
	first = true;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		if (h->bucket[i]) {
			uint64_t hi = lg_hist_highest(i);
			fprintf(f, "%s[%.3f,%.3f,%llu]", first ? "" : ",", us(lg_hist_lowest(i)),
				hi == UINT64_MAX ? us(h->max) : us(hi),
				(unsigned long long)h->bucket[i]);
			first = false;
		}
	fprintf(f, "],\"cpu\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"percent\":%.3f,"
		"\"busiest_thread_percent\":%.3f,\"us_per_op\":%.3f}}\n",
		T->cpu_user_s, T->cpu_sys_s, T->wall_s > 0 ? 100 * cpu / T->wall_s : 0,
		T->busiest_pct, v[CTR_ops_started] ? 1e6 * cpu / (double)v[CTR_ops_started] : 0);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The progress line: operations and answers since the last one. */
static void progress(struct thread *th, unsigned n, uint64_t *last, uint64_t now)
{
	uint64_t cur[4] = { 0 }, out = 0;
	static const enum lg_ctr which[4] = { CTR_ops_started, CTR_ops_ok, CTR_ops_timeout,
					      CTR_ops_failed };
	static uint64_t last_ns;
	double dt;

	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < 4; k++)
			cur[k] += ctr_get(&th[i], which[k]);
	out = cur[0] - cur[1] - cur[2] - cur[3];
	if (last_ns == 0)
		last_ns = t0_ns;
	dt = (double)(now - last_ns) / 1e9;
	fprintf(stderr, "%7.1f s  started %.0f/s  ok %.0f/s  timeouts %llu  failed %llu  "
		"outstanding %llu\n", (double)(now - t0_ns) / 1e9,
		dt > 0 ? (double)(cur[0] - last[0]) / dt : 0,
		dt > 0 ? (double)(cur[1] - last[1]) / dt : 0,
		(unsigned long long)(cur[2] - last[2]), (unsigned long long)(cur[3] - last[3]),
		(unsigned long long)out);
	memcpy(last, cur, sizeof(cur));
	last_ns = now;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct thread *th;
	struct totals *T;
	struct rusage ru0, ru1;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t per_thread_slots, wall0, wall1, send_end = 0, last[4] = { 0 };
	int rc = 0;

	parse_args(argc, argv, &cfg);
	if (check_sizes(&cfg) < 0) {
		fprintf(stderr, "tandem-loadgen: the user, password or domain is too long for a "
			"request of %d bytes\n", LG_MSG_MAX);
		return 2;
	}
	th = calloc(cfg.threads, sizeof(*th));
	T = calloc(1, sizeof(*T));
	if (!th || !T) {
		fprintf(stderr, "tandem-loadgen: out of memory\n");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (unsigned i = 0; i < cfg.threads; i++) {
		struct thread *t = &th[i];
		unsigned nsocks = cfg.sockets / cfg.threads + (i < cfg.sockets % cfg.threads);
		uint64_t base = cfg.aors / cfg.threads, extra = cfg.aors % cfg.threads;

		t->cfg = &cfg;
		t->index = i;
		t->epfd = -1;
		t->cpu = cfg.ncpus ? (int)cfg.cpus[i % cfg.ncpus] : -1;
		t->lo = (uint32_t)(i * base + (i < extra ? i : extra));
		t->naors = (uint32_t)(base + (i < extra));
		if (cfg.closed) {
			t->window = cfg.window / cfg.threads + (i < cfg.window % cfg.threads);
			per_thread_slots = t->window;
		} else {
			t->rate = cfg.rate / cfg.threads;
			per_thread_slots = cfg.max_outstanding / cfg.threads +
					   (i < cfg.max_outstanding % cfg.threads);
			if (per_thread_slots == 0)
				per_thread_slots = 1;
		}
		t->quota = cfg.count ? cfg.count / cfg.threads + (i < cfg.count % cfg.threads)
				     : UINT64_MAX;
		rc = thread_setup(t, nsocks, (uint32_t)per_thread_slots);
		if (rc < 0) {
			fprintf(stderr, "tandem-loadgen: cannot set up thread %u (socket to %s): "
				"%s\n", i, cfg.target_text, tdm_strerror(rc));
			rc = 1;
			goto out;
		}
	}

	getrusage(RUSAGE_SELF, &ru0);
	t0_ns = clock_mono_ns() + 20 * NS_PER_MS;
	for (unsigned i = 0; i < cfg.threads; i++) {
		if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0) {
			fprintf(stderr, "tandem-loadgen: cannot start thread %u\n", i);
			atomic_store(&stop_level, 2);
			for (unsigned j = 0; j < i; j++)
				pthread_join(th[j].tid, NULL);
			rc = 1;
			goto out;
		}
	}
	wall0 = t0_ns;
	if (cfg.interval_ns) {
		uint64_t next = t0_ns + cfg.interval_ns;
		for (;;) {
			bool running = false;
			uint64_t now = clock_mono_ns();

			for (unsigned i = 0; i < cfg.threads; i++) {
				if (th[i].joined)
					continue;
				if (pthread_tryjoin_np(th[i].tid, NULL) == EBUSY)
					running = true;
				else
					th[i].joined = true;
			}
			if (!running)
				break;
			if (now >= next) {
				progress(th, cfg.threads, last, now);
				next += cfg.interval_ns;
			}
			usleep(10000);
		}
	}
	for (unsigned i = 0; i < cfg.threads; i++)
		if (!th[i].joined)
			pthread_join(th[i].tid, NULL);
	wall1 = clock_mono_ns();
	getrusage(RUSAGE_SELF, &ru1);

	lg_hist_init(&T->hist);
	for (unsigned i = 0; i < cfg.threads; i++) {
		struct thread *t = &th[i];
		double busy;

		for (unsigned k = 0; k < CTR_COUNT; k++)
			T->ctr[k] += ctr_get(t, (enum lg_ctr)k);
		for (unsigned k = 0; k < 600; k++)
			T->codes[k] += t->codes[k];
		lg_hist_merge(&T->hist, &t->hist);
		if (t->send_end_ns > send_end)
			send_end = t->send_end_ns;
		busy = 100.0 * (double)t->cpu_ns / (double)(wall1 - wall0);
		if (busy > T->busiest_pct)
			T->busiest_pct = busy;
	}
	T->send_s = send_end > wall0 ? (double)(send_end - wall0) / 1e9 : 0;
	T->wall_s = (double)(wall1 - wall0) / 1e9;
	T->cpu_user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
	T->cpu_sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);

	if (cfg.json_path) {
		FILE *f = fopen(cfg.json_path, "w");
		if (!f || (report_json(f, &cfg, T), fclose(f) != 0)) {
			fprintf(stderr, "tandem-loadgen: cannot write %s: %s\n", cfg.json_path,
				strerror(errno));
			rc = 1;
		}
	}
	if (!cfg.quiet) {
		if (cfg.json)
			report_json(stdout, &cfg, T);
		else
			report_text(stdout, &cfg, T);
	}
	fflush(stdout);
out:
	for (unsigned i = 0; i < cfg.threads; i++)
		thread_cleanup(&th[i]);
	free(th);
	free(T);
	return rc;
}
