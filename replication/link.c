/* SPDX-License-Identifier: MIT */
/*
 * The master/standby link on the control loop (see link.h; the wire format
 * is docs/replication-protocol.md).
 *
 * One struct conn per TCP connection, moving through phases:
 *
 *   standby: CONNECTING -> TLS -> HELLO (sent HELLO, wait CHALLENGE)
 *            -> PROOF (sent PROOF, wait LOGIN_OK) -> UP
 *   master:  TLS -> HELLO (wait HELLO) -> PROOF (sent CHALLENGE, wait
 *            PROOF) -> CONFIRM (sent LOGIN_OK, wait the standby's first
 *            HEARTBEAT, which says it accepted our proof) -> UP
 *   both:    any -> LINGER (our last words are flushed, then we wait a
 *            little for the peer's close) -> DEAD
 *
 * A connection that ends is taken off the live list at once and its events
 * reported; its memory is freed by a zero-delay "reap" timer, so a
 * connection closed from inside a callback (link_drop from on_frame, say)
 * is never freed under the code that is still using it.
 *
 * I/O: every socket is non-blocking and level-triggered. Output is queued
 * in a per-connection buffer and written when the socket is writable (a
 * send never writes synchronously, so callbacks are never re-entered from
 * link_send), at most LINK_WRITE_BUDGET bytes per turn. Input is read
 * until wolfSSL says it wants more, at most LINK_READ_BUDGET bytes per
 * turn; when that budget runs out a zero-delay timer resumes reading,
 * because wolfSSL may hold decrypted bytes that epoll cannot see. The
 * budgets keep one busy link from stalling the control thread's other
 * work (and its own heartbeats) for long.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "link.h"
#include "login.h"
#include "tls.h"

#define LINK_READ_BUDGET ((size_t)256 << 10)
#define LINK_READ_CHUNK ((size_t)16 << 10)
#define LINK_WRITE_CHUNK ((size_t)64 << 10)
#define LINK_WRITE_BUDGET ((size_t)256 << 10) /* per flush, then yield */
#define LINK_KEEP_CAP ((size_t)64 << 10)     /* buffer memory kept when idle */
#define LINK_ACCEPT_BURST 16
#define LINK_ACCEPT_PAUSE_MS 100
#define LINK_BACKLOG 16
/* Room to reserve for one of the link's own messages. */
#define LINK_MSG_ROOM (FRAME_HEADER_LEN + FRAME_LOGIN_MAX_PAYLOAD)

enum phase {
	PH_CONNECTING,
	PH_TLS,
	PH_HELLO,
	PH_PROOF,
	PH_CONFIRM,
	PH_UP,
	PH_LINGER,
	PH_DEAD,
};

static const char *const phase_names[] = {
	[PH_CONNECTING] = "connecting", [PH_TLS] = "TLS handshake",
	[PH_HELLO] = "login (hello)", [PH_PROOF] = "login (proof)",
	[PH_CONFIRM] = "login (confirm)", [PH_UP] = "up",
	[PH_LINGER] = "closing", [PH_DEAD] = "closed",
};

enum close_how {
	CLOSE_NOW,          /* drop the connection */
	CLOSE_LINGER,       /* flush what is queued (a LOGIN_REFUSED), then close */
	CLOSE_GOODBYE,      /* queue GOODBYE {reason, text}, flush, close */
};

struct buf {
	uint8_t *p;
	size_t start;       /* first unconsumed byte */
	size_t end;         /* one past the last byte */
	size_t cap;
};

struct conn {
	struct link *l;
	struct conn *next;
	enum phase phase;
	int fd;
	uint32_t events;            /* registered with the loop */
	struct tls_io io;
	WOLFSSL *ssl;
	bool shut;                  /* LINGER: our close_notify and FIN are out */
	bool need_writable;         /* on_writable owed when below low water */

	union tdm_addr peer;
	char peer_str[TDM_ADDR_STRLEN];
	char peer_name[FRAME_NAME_MAX + 1];
	char tls_version[16];
	char tls_cipher[64];
	char peer_fpr[TLS_FPR_STRLEN];

	uint8_t exporter[LOGIN_EXPORTER_LEN];
	uint8_t nonce_s[LOGIN_NONCE_LEN];
	uint8_t nonce_m[LOGIN_NONCE_LEN];

	/* Master: what the standby said in PROOF, reported at confirmation. */
	uint8_t peer_role;
	uint64_t peer_epoch;
	uint8_t *peer_info;
	uint32_t peer_info_len;

	struct buf in;
	struct buf out;
	size_t pending_write;       /* length of a wolfSSL_write to retry, 0: none */

	uint64_t last_rx_ms;
	uint64_t peer_hb_send_us;   /* the peer's last heartbeat send time */
	uint64_t peer_hb_rx_us;     /* when we received it (our clock) */
	int64_t rtt_us;

	struct loop_timer deadline; /* connect / login / linger */
	struct loop_timer hb;
	struct loop_timer loss;
	struct loop_timer resume;
};

struct link {
	struct link_params p;       /* pointers below point at our copies */
	char name[FRAME_NAME_MAX + 1];
	char addr_str[TDM_ADDR_STRLEN];
	union tdm_addr addr;        /* master: bound address; standby: master's */
	struct loop *loop;
	struct login_key key;
	struct tls_ctx *tls;
	uint8_t *info;
	uint32_t info_len;
	uint32_t hb_ms, loss_ms, login_ms;
	size_t out_max, out_low;
	bool destroying;

	int listen_fd;
	struct loop_timer accept_pause;

	struct conn *conns;         /* live: before LINGER */
	struct conn *lingering;
	struct conn *dead;          /* freed by the reap timer */
	struct conn *up;            /* the logged-in connection */
	struct loop_timer reap;
	struct loop_timer reconnect;
	uint32_t backoff_ms;
	uint64_t rng;

	uint64_t since_ms;
	bool refused;               /* the last login attempt ended refused */
	uint16_t refusal;
	bool refused_by_peer;
	char refusal_text[LINK_TEXT_MAX];
	uint64_t refusal_ms;
	char last_error[LINK_TEXT_MAX];
	uint64_t last_error_ms;
	char last_peer_name[FRAME_NAME_MAX + 1];
	char last_peer_addr[TDM_ADDR_STRLEN];
	uint8_t last_peer_role;
	uint64_t last_peer_epoch;

	struct link_counters ctr;
};

static void conn_io(struct loop *lp, int fd, uint32_t events, void *arg);
static void conn_close(struct conn *c, enum link_close reason, const char *text,
		       enum close_how how);
static void conn_read(struct conn *c);
static void conn_flush(struct conn *c);
static void schedule_reconnect(struct link *l);

/* ---- names ---------------------------------------------------------------- */

const char *link_state_name(enum link_state s)
{
	switch (s) {
	case LINK_DOWN:
		return "down";
	case LINK_CONNECTING:
		return "connecting";
	case LINK_TLS:
		return "tls";
	case LINK_LOGIN:
		return "login";
	case LINK_UP:
		return "up";
	case LINK_REFUSED:
		return "refused";
	}
	return "unknown";
}

const char *link_close_text(unsigned reason)
{
	switch (reason) {
#define LINK_CLOSE_CASE(name, value, text) case value: return text;
		LINK_CLOSE_REASONS(LINK_CLOSE_CASE)
#undef LINK_CLOSE_CASE
	default:
		return "closed";
	}
}

const char *link_event_name(enum link_event_kind k)
{
	switch (k) {
	case LINK_EV_CONNECTED:
		return "connected";
	case LINK_EV_LOGGED_IN:
		return "logged-in";
	case LINK_EV_REFUSED:
		return "refused";
	case LINK_EV_LOST:
		return "lost";
	case LINK_EV_CLOSED:
		return "closed";
	}
	return "unknown";
}

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t now_us(void)
{
	return clock_mono_ns() / 1000u;
}

static uint32_t rand32(struct link *l)
{
	/* xorshift64*: jitter only, not a secret. */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return (uint32_t)((l->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static int random_bytes(void *out, size_t len)
{
	uint8_t *p = out;
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

/* Copy text for the wire: printable ASCII only, at most FRAME_TEXT_MAX. */
static tstr wire_text(const char *text, char *buf, size_t cap)
{
	size_t n = 0;

	for (; text[n] && n < FRAME_TEXT_MAX && n + 1 < cap; n++) {
		unsigned char ch = (unsigned char)text[n];

		buf[n] = (ch >= 0x20 && ch <= 0x7e) ? (char)ch : '?';
	}
	buf[n] = '\0';
	return tstr_make(buf, n);
}

static void set_error(struct link *l, const char *text)
{
	snprintf(l->last_error, sizeof(l->last_error), "%s", text);
	l->last_error_ms = clock_mono_ms();
}

static void emit(struct link *l, struct conn *c, struct link_event *ev)
{
	if (l->destroying)
		return;
	if (!ev->peer_addr)
		ev->peer_addr = c ? c->peer_str : l->addr_str;
	if (!ev->peer_name)
		ev->peer_name = c ? c->peer_name : "";
	if (!ev->text)
		ev->text = "";
	l->p.cb.on_event(l->p.arg, ev);
}

static void list_remove(struct conn **head, struct conn *c)
{
	for (struct conn **pp = head; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->next = NULL;
			return;
		}
	}
}

static unsigned pending_count(const struct link *l)
{
	unsigned n = 0;

	for (const struct conn *c = l->conns; c; c = c->next)
		n += c->phase < PH_UP;
	return n;
}

/* ---- buffers -------------------------------------------------------------- */

static size_t buf_used(const struct buf *b)
{
	return b->end - b->start;
}

/* Make room for `need` more bytes at the end. */
static int buf_reserve(struct buf *b, size_t need)
{
	size_t used = buf_used(b);
	size_t cap;
	uint8_t *p;

	if (b->cap - b->end >= need)
		return 0;
	if (b->start && b->cap - used >= need) {
		memmove(b->p, b->p + b->start, used);
		b->start = 0;
		b->end = used;
		return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - used < need)
		cap *= 2;
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (used)
		memcpy(p, b->p + b->start, used);
	free(b->p);
	b->p = p;
	b->cap = cap;
	b->start = 0;
	b->end = used;
	return 0;
}

/* After consuming: restart at 0 when empty, give back a large idle buffer. */
static void buf_settle(struct buf *b)
{
	if (b->start != b->end)
		return;
	b->start = 0;
	b->end = 0;
	if (b->cap > LINK_KEEP_CAP) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){ 0 };
}

/* ---- connections -------------------------------------------------------------- */

static struct conn *conn_new(struct link *l)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->l = l;
	c->fd = -1;
	c->io.fd = -1;
	c->rtt_us = -1;
	return c;
}

static void conn_stop_timers(struct conn *c)
{
	struct loop *lp = c->l->loop;

	loop_timer_stop(lp, &c->deadline);
	loop_timer_stop(lp, &c->hb);
	loop_timer_stop(lp, &c->loss);
	loop_timer_stop(lp, &c->resume);
}

/* Close the socket and the TLS session (the struct stays). */
static void conn_release_io(struct conn *c)
{
	if (c->fd >= 0) {
		loop_del_fd(c->l->loop, c->fd);
		close(c->fd);
		c->fd = -1;
		c->io.fd = -1;
	}
	if (c->ssl) {
		wolfSSL_free(c->ssl);
		c->ssl = NULL;
	}
}

static void conn_free(struct conn *c)
{
	conn_stop_timers(c);
	conn_release_io(c);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->peer_info);
	memset(c->exporter, 0, sizeof(c->exporter));
	free(c);
}

static void reap(struct loop *lp, void *arg)
{
	struct link *l = arg;

	while (l->dead) {
		struct conn *c = l->dead;

		l->dead = c->next;
		conn_free(c);
	}
}

static void conn_to_dead(struct conn *c)
{
	struct link *l = c->l;

	conn_stop_timers(c);
	conn_release_io(c);
	c->phase = PH_DEAD;
	c->next = l->dead;
	l->dead = c;
	loop_timer_start(l->loop, &l->reap, 0, reap, l);
}

static void conn_set_events(struct conn *c, uint32_t ev)
{
	if (c->fd < 0 || c->events == ev)
		return;
	if (loop_mod_fd(c->l->loop, c->fd, ev) == 0)
		c->events = ev;
}

/* What to wait for in a login or up phase: input always, output while
 * something is queued. */
static void conn_want(struct conn *c)
{
	conn_set_events(c, EPOLLIN | (buf_used(&c->out) ? EPOLLOUT : 0u));
}

/* ---- queueing frames ------------------------------------------------------------ */

/* Begin writing a message of at most `room` bytes into the output buffer.
 * Returns false (and closes the connection) when out of memory. */
static bool out_begin(struct conn *c, size_t room, struct fwr *w)
{
	if (buf_reserve(&c->out, room) < 0) {
		conn_close(c, LINK_CLOSE_NOMEM, "out of memory for the output buffer",
			   CLOSE_NOW);
		return false;
	}
	fwr_init(w, c->out.p + c->out.end, c->out.cap - c->out.end);
	return true;
}

static void out_commit(struct conn *c, struct fwr *w, int rc)
{
	struct link *l = c->l;

	if (rc < 0) {
		/* Our own message did not encode: a bug, not the peer's fault. */
		conn_close(c, LINK_CLOSE_NOMEM, "internal error: a message did not "
			   "encode", CLOSE_NOW);
		return;
	}
	c->out.end += fwr_len(w);
	l->ctr.frames_out++;
	l->ctr.bytes_out += fwr_len(w);
	conn_want(c);
}

static void send_hello(struct conn *c, uint8_t type, const uint8_t *nonce)
{
	struct msg_hello m = { LINK_PROTO_VERSION, tstr_cstr(c->l->name), nonce };
	struct fwr w;

	if (out_begin(c, LINK_MSG_ROOM, &w))
		out_commit(c, &w, msg_hello_encode(&w, type, &m));
}

static void fill_hb(struct link *l, uint8_t *role, uint64_t *epoch)
{
	*role = LINK_ROLE_NONE;
	*epoch = 0;
	if (l->p.cb.fill_heartbeat)
		l->p.cb.fill_heartbeat(l->p.arg, role, epoch);
	if (*role > LINK_ROLE_MAX)
		*role = LINK_ROLE_NONE;
}

static void send_proof(struct conn *c, uint8_t type, const uint8_t *proof)
{
	struct link *l = c->l;
	struct msg_proof m = { .proof = proof, .info = l->info, .info_len = l->info_len };
	struct fwr w;

	fill_hb(l, &m.role, &m.epoch);
	if (out_begin(c, LINK_MSG_ROOM, &w))
		out_commit(c, &w, msg_proof_encode(&w, type, &m));
}

static void send_reason(struct conn *c, uint8_t type, uint16_t code, const char *text)
{
	char tbuf[FRAME_TEXT_MAX + 1];
	struct msg_reason m = { code, wire_text(text, tbuf, sizeof(tbuf)) };
	struct fwr w;

	if (out_begin(c, LINK_MSG_ROOM, &w))
		out_commit(c, &w, msg_reason_encode(&w, type, &m));
}

static void send_heartbeat(struct conn *c)
{
	struct link *l = c->l;
	struct msg_heartbeat m = { 0 };
	uint64_t now = now_us();
	struct fwr w;

	fill_hb(l, &m.role, &m.epoch);
	m.send_us = now;
	m.echo_us = c->peer_hb_send_us;
	if (c->peer_hb_rx_us) {
		uint64_t hold = now - c->peer_hb_rx_us;
		m.hold_us = hold > UINT32_MAX ? UINT32_MAX : (uint32_t)hold;
	}
	if (!out_begin(c, 64, &w))
		return;
	out_commit(c, &w, msg_heartbeat_encode(&w, &m));
	l->ctr.heartbeats_out++;
}

/* ---- closing --------------------------------------------------------------------- */

static void linger_finish(struct conn *c)
{
	list_remove(&c->l->lingering, c);
	conn_to_dead(c);
}

static void linger_timeout(struct loop *lp, void *arg)
{
	linger_finish(arg);
}

/* Flush our last words, send close_notify and FIN, then discard input
 * until the peer closes (closing first with unread input would make the
 * kernel send a reset, which can destroy our last words in flight). */
static void linger_step(struct conn *c)
{
	uint8_t sink[4096];

	if (!c->shut) {
		while (buf_used(&c->out)) {
			size_t chunk = c->pending_write ? c->pending_write
				: (buf_used(&c->out) < LINK_WRITE_CHUNK ? buf_used(&c->out)
									 : LINK_WRITE_CHUNK);
			int n = wolfSSL_write(c->ssl, c->out.p + c->out.start, (int)chunk);

			if (n > 0) {
				c->pending_write = 0;
				c->out.start += (size_t)n;
				continue;
			}
			n = wolfSSL_get_error(c->ssl, n);
			if (n == WOLFSSL_ERROR_WANT_WRITE || n == WOLFSSL_ERROR_WANT_READ) {
				c->pending_write = chunk;
				conn_set_events(c, EPOLLIN | EPOLLOUT);
				return;
			}
			linger_finish(c);
			return;
		}
		/* One try: a peer that is gone does not get to hold us up. */
		wolfSSL_shutdown(c->ssl);
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
		conn_set_events(c, EPOLLIN);
	}
	for (;;) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		linger_finish(c);
		return;
	}
}

/*
 * End connection c: take it off the live list, report LOST (it was logged
 * in) or CLOSED (it was not; a refusal reports REFUSED itself), and let the
 * standby reconnect. `how` says whether our last words are flushed first.
 */
static void conn_close(struct conn *c, enum link_close reason, const char *text,
		       enum close_how how)
{
	struct link *l = c->l;
	enum phase was = c->phase;
	bool was_up = l->up == c;
	struct link_event ev = { 0 };

	if (was >= PH_LINGER)
		return;
	conn_stop_timers(c);
	list_remove(&l->conns, c);
	set_error(l, text);
	if (was_up) {
		l->up = NULL;
		l->since_ms = clock_mono_ms();
		l->ctr.losses++;
	} else if (reason != LINK_CLOSE_REFUSED && reason != LINK_CLOSE_SHUTDOWN &&
		   reason != LINK_CLOSE_CONNECT_FAILED && reason != LINK_CLOSE_EVICTED) {
		l->ctr.handshake_failures++;
	}
	if (reason != LINK_CLOSE_REFUSED && (!l->p.is_master || was_up))
		l->refused = false;

	if (how == CLOSE_GOODBYE && c->ssl && was >= PH_HELLO) {
		char tbuf[FRAME_TEXT_MAX + 1];
		struct msg_reason m = { (uint16_t)reason, wire_text(text, tbuf, sizeof(tbuf)) };
		struct fwr w;

		if (buf_reserve(&c->out, LINK_MSG_ROOM) == 0) {
			fwr_init(&w, c->out.p + c->out.end, c->out.cap - c->out.end);
			if (msg_reason_encode(&w, FRAME_GOODBYE, &m) == 0) {
				c->out.end += fwr_len(&w);
				l->ctr.frames_out++;
				l->ctr.bytes_out += fwr_len(&w);
			}
		}
	}
	if (how != CLOSE_NOW && c->ssl && was >= PH_HELLO && c->fd >= 0) {
		c->phase = PH_LINGER;
		c->next = l->lingering;
		l->lingering = c;
		loop_timer_start(l->loop, &c->deadline, LINK_LINGER_MS, linger_timeout, c);
		linger_step(c);
	} else {
		conn_to_dead(c);
	}

	/* A refusal is reported as REFUSED by the caller, after this. */
	if (was_up || reason != LINK_CLOSE_REFUSED) {
		ev.kind = was_up ? LINK_EV_LOST : LINK_EV_CLOSED;
		ev.reason = reason;
		ev.text = text;
		emit(l, c, &ev);
	}
	if (!l->p.is_master && !l->destroying)
		schedule_reconnect(l);
}

/* Close for a failed wolfSSL call (ret) on c. */
static void conn_tls_failed(struct conn *c, int ret, const char *doing)
{
	char why[128], text[LINK_TEXT_MAX];
	enum link_close reason;

	tls_error_text(c->ssl, &c->io, ret, why, sizeof(why));
	if (c->io.last_errno)
		reason = LINK_CLOSE_IO_ERROR;
	else if (c->io.eof || wolfSSL_get_error(c->ssl, ret) == WOLFSSL_ERROR_ZERO_RETURN)
		reason = LINK_CLOSE_PEER_CLOSED;
	else
		reason = LINK_CLOSE_TLS_ERROR;
	snprintf(text, sizeof(text), "%s with %s: %s", doing, c->peer_str, why);
	conn_close(c, reason, text, CLOSE_NOW);
}

static void bad_frame(struct conn *c, enum link_close reason, const char *what)
{
	char text[LINK_TEXT_MAX];

	c->l->ctr.bad_frames++;
	snprintf(text, sizeof(text), "%s from %s: %s", link_close_text(reason),
		 c->peer_str, what);
	conn_close(c, reason, text, CLOSE_GOODBYE);
}

/* ---- login --------------------------------------------------------------------------- */

static void note_refusal(struct link *l, const struct conn *c, uint16_t code, bool by_peer,
			 const char *text)
{
	/* link_info names the refused (or refusing) peer while nobody is
	 * logged in, not the last one that logged in. */
	if (c->peer_name[0]) {
		snprintf(l->last_peer_name, sizeof(l->last_peer_name), "%s", c->peer_name);
		snprintf(l->last_peer_addr, sizeof(l->last_peer_addr), "%s", c->peer_str);
	}
	l->refused = true;
	l->refusal = code;
	l->refused_by_peer = by_peer;
	snprintf(l->refusal_text, sizeof(l->refusal_text), "%s", text);
	l->refusal_ms = clock_mono_ms();
	l->ctr.refusals++;
}

/* We refuse the peer: tell it why, report, close. */
static void refuse(struct conn *c, enum login_refusal code, const char *text)
{
	struct link *l = c->l;
	struct link_event ev = { .kind = LINK_EV_REFUSED, .refusal = (uint16_t)code,
				 .refused_by_peer = false, .reason = LINK_CLOSE_REFUSED,
				 .text = text };
	char addr[TDM_ADDR_STRLEN], name[FRAME_NAME_MAX + 1];

	note_refusal(l, c, (uint16_t)code, false, text);
	send_reason(c, FRAME_LOGIN_REFUSED, (uint16_t)code, text);
	/* The connection may be gone after the close: report with copies. */
	memcpy(addr, c->peer_str, sizeof(addr));
	memcpy(name, c->peer_name, sizeof(name));
	ev.peer_addr = addr;
	ev.peer_name = name;
	if (c->phase < PH_LINGER)
		conn_close(c, LINK_CLOSE_REFUSED, text, CLOSE_LINGER);
	emit(l, NULL, &ev);
}

/* The peer refused us. */
static void refused_by_peer(struct conn *c, const struct msg_reason *m)
{
	struct link *l = c->l;
	struct link_event ev = { .kind = LINK_EV_REFUSED, .refusal = m->code,
				 .refused_by_peer = true, .reason = LINK_CLOSE_REFUSED };
	char text[LINK_TEXT_MAX], what[64], addr[TDM_ADDR_STRLEN], name[FRAME_NAME_MAX + 1];

	if (m->text.len)
		snprintf(text, sizeof(text), "%.*s", TSTR_FMT(m->text));
	else
		snprintf(text, sizeof(text), "%s",
			 login_refusal_text(m->code, what, sizeof(what)));
	note_refusal(l, c, m->code, true, text);
	memcpy(addr, c->peer_str, sizeof(addr));
	memcpy(name, c->peer_name, sizeof(name));
	ev.peer_addr = addr;
	ev.peer_name = name;
	ev.text = text;
	conn_close(c, LINK_CLOSE_REFUSED, text, CLOSE_LINGER);
	emit(l, NULL, &ev);
}

static void transcript(const struct conn *c, struct login_transcript *t)
{
	const struct link *l = c->l;

	memcpy(t->exporter, c->exporter, sizeof(t->exporter));
	memcpy(t->nonce_s, c->nonce_s, sizeof(t->nonce_s));
	memcpy(t->nonce_m, c->nonce_m, sizeof(t->nonce_m));
	if (l->p.is_master) {
		t->standby_name = tstr_cstr(c->peer_name);
		t->master_name = tstr_cstr(l->name);
	} else {
		t->standby_name = tstr_cstr(l->name);
		t->master_name = tstr_cstr(c->peer_name);
	}
}

static void hb_timer(struct loop *lp, void *arg);
static void loss_timer(struct loop *lp, void *arg);

/* Both sides: the login is complete on c. */
static void login_complete(struct conn *c, uint8_t role, uint64_t epoch,
			   const uint8_t *info, uint32_t info_len)
{
	struct link *l = c->l;
	struct link_event ev = { .kind = LINK_EV_LOGGED_IN };

	if (l->up && l->up != c) {
		char text[LINK_TEXT_MAX];

		snprintf(text, sizeof(text), "standby '%s' logged in again from %s: "
			 "its session from %s is replaced", c->peer_name, c->peer_str,
			 l->up->peer_str);
		conn_close(l->up, LINK_CLOSE_REPLACED, text, CLOSE_GOODBYE);
	}
	l->up = c;
	c->phase = PH_UP;
	c->peer_role = role;
	c->peer_epoch = epoch;
	l->since_ms = clock_mono_ms();
	l->refused = false;
	l->refusal = 0;
	l->refusal_text[0] = '\0';
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	l->ctr.logins++;
	snprintf(l->last_peer_name, sizeof(l->last_peer_name), "%s", c->peer_name);
	snprintf(l->last_peer_addr, sizeof(l->last_peer_addr), "%s", c->peer_str);
	l->last_peer_role = role;
	l->last_peer_epoch = epoch;
	loop_timer_stop(l->loop, &c->deadline);
	c->last_rx_ms = clock_mono_ms();
	/* A heartbeat at once: on the standby it is the confirmation the
	 * master waits for; on the master it starts the RTT measurement. */
	send_heartbeat(c);
	if (c->phase != PH_UP)
		return;
	loop_timer_start(l->loop, &c->hb, l->hb_ms, hb_timer, c);
	loop_timer_start(l->loop, &c->loss, l->loss_ms, loss_timer, c);

	ev.peer_role = role;
	ev.peer_epoch = epoch;
	ev.peer_info = info;
	ev.peer_info_len = info_len;
	ev.tls_version = c->tls_version;
	ev.tls_cipher = c->tls_cipher;
	emit(l, c, &ev);
}

/* Master: HELLO from a standby. */
static void on_hello(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	struct msg_hello m;
	struct frame_err fe;
	enum login_refusal r;
	char text[LINK_TEXT_MAX];

	if (msg_hello_decode(f->type, f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	tstr_copy_cstr(m.name, c->peer_name, sizeof(c->peer_name));
	memcpy(c->nonce_s, m.nonce, LOGIN_NONCE_LEN);
	r = login_check_hello(m.version, m.name, tstr_cstr(l->name));
	if (r == LOGIN_REFUSE_VERSION) {
		snprintf(text, sizeof(text), "unsupported protocol version: the standby "
			 "speaks %u, this master %u", m.version, LINK_PROTO_VERSION);
		refuse(c, r, text);
		return;
	}
	if (r == LOGIN_REFUSE_NAME) {
		snprintf(text, sizeof(text), "same node name as the master: both are "
			 "named '%s'", l->name);
		refuse(c, r, text);
		return;
	}
	if (random_bytes(c->nonce_m, sizeof(c->nonce_m)) < 0) {
		conn_close(c, LINK_CLOSE_NOMEM, "no randomness for the login nonce",
			   CLOSE_NOW);
		return;
	}
	send_hello(c, FRAME_CHALLENGE, c->nonce_m);
	if (c->phase == PH_HELLO)
		c->phase = PH_PROOF;
}

/* Master: PROOF from the standby. */
static void on_proof(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	struct login_transcript t;
	struct msg_proof m;
	struct frame_err fe;
	enum login_refusal r;
	uint8_t proof[LOGIN_PROOF_LEN];
	char text[LINK_TEXT_MAX];

	if (msg_proof_decode(f->type, f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	transcript(c, &t);
	r = login_master_decide(&l->key, &t, m.proof, FRAME_PROOF_LEN,
				l->up ? tstr_cstr(l->up->peer_name) : TSTR_NULL);
	if (r == LOGIN_REFUSE_PASSWORD) {
		refuse(c, r, "wrong password");
		return;
	}
	if (r == LOGIN_REFUSE_BUSY) {
		snprintf(text, sizeof(text), "another standby is logged in: '%s' from %s",
			 l->up->peer_name, l->up->peer_str);
		refuse(c, r, text);
		return;
	}
	free(c->peer_info);
	c->peer_info = NULL;
	c->peer_info_len = 0;
	if (m.info_len) {
		c->peer_info = malloc(m.info_len);
		if (!c->peer_info) {
			conn_close(c, LINK_CLOSE_NOMEM, "out of memory for the peer's info",
				   CLOSE_NOW);
			return;
		}
		memcpy(c->peer_info, m.info, m.info_len);
		c->peer_info_len = m.info_len;
	}
	c->peer_role = m.role;
	c->peer_epoch = m.epoch;
	if (login_proof(&l->key, LOGIN_SIDE_MASTER, &t, proof) < 0) {
		conn_close(c, LINK_CLOSE_NOMEM, "cannot compute the login proof", CLOSE_NOW);
		return;
	}
	send_proof(c, FRAME_LOGIN_OK, proof);
	if (c->phase == PH_PROOF)
		c->phase = PH_CONFIRM;
}

/* Standby: CHALLENGE from the master. */
static void on_challenge(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	struct login_transcript t;
	struct msg_hello m;
	struct frame_err fe;
	enum login_refusal r;
	uint8_t proof[LOGIN_PROOF_LEN];
	char text[LINK_TEXT_MAX];

	if (msg_hello_decode(f->type, f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	tstr_copy_cstr(m.name, c->peer_name, sizeof(c->peer_name));
	memcpy(c->nonce_m, m.nonce, LOGIN_NONCE_LEN);
	r = login_check_challenge(LINK_PROTO_VERSION, m.version, tstr_cstr(l->name), m.name);
	if (r == LOGIN_REFUSE_VERSION) {
		snprintf(text, sizeof(text), "unsupported protocol version: the master "
			 "speaks %u, this standby %u", m.version, LINK_PROTO_VERSION);
		refuse(c, r, text);
		return;
	}
	if (r == LOGIN_REFUSE_NAME) {
		snprintf(text, sizeof(text), "same node name as the master: both are "
			 "named '%s'", l->name);
		refuse(c, r, text);
		return;
	}
	transcript(c, &t);
	if (login_proof(&l->key, LOGIN_SIDE_STANDBY, &t, proof) < 0) {
		conn_close(c, LINK_CLOSE_NOMEM, "cannot compute the login proof", CLOSE_NOW);
		return;
	}
	send_proof(c, FRAME_PROOF, proof);
	if (c->phase == PH_HELLO)
		c->phase = PH_PROOF;
}

/* Standby: LOGIN_OK from the master. */
static void on_login_ok(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	struct login_transcript t;
	struct msg_proof m;
	struct frame_err fe;

	if (msg_proof_decode(f->type, f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	transcript(c, &t);
	if (!login_proof_check(&l->key, LOGIN_SIDE_MASTER, &t, m.proof, FRAME_PROOF_LEN)) {
		refuse(c, LOGIN_REFUSE_MASTER_PROOF, "the master does not know the PBX "
		       "password (or the connection is intercepted)");
		return;
	}
	login_complete(c, m.role, m.epoch, m.info, m.info_len);
}

static void on_heartbeat(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	struct msg_heartbeat m;
	struct frame_err fe;
	uint64_t now = now_us();
	int64_t rtt = -1;

	if (msg_heartbeat_decode(f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	l->ctr.heartbeats_in++;
	c->peer_role = m.role;
	c->peer_epoch = m.epoch;
	l->last_peer_role = m.role;
	l->last_peer_epoch = m.epoch;
	c->peer_hb_send_us = m.send_us;
	c->peer_hb_rx_us = now;
	/* echo_us is one of our own send times: it cannot be in our future. */
	if (m.echo_us && m.echo_us <= now) {
		uint64_t span = now - m.echo_us;

		rtt = span > m.hold_us ? (int64_t)(span - m.hold_us) : 0;
		c->rtt_us = rtt;
	}
	if (l->p.cb.on_heartbeat)
		l->p.cb.on_heartbeat(l->p.arg, m.role, m.epoch, rtt);
}

static void on_goodbye(struct conn *c, const struct frame *f)
{
	struct msg_reason m;
	struct frame_err fe;
	char text[LINK_TEXT_MAX];

	if (msg_reason_decode(f->type, f->payload, f->len, &m, &fe) < 0) {
		bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		return;
	}
	snprintf(text, sizeof(text), "%s %s closed the link: %.*s",
		 c->l->p.is_master ? "the standby at" : "the master at", c->peer_str,
		 TSTR_FMT(m.text));
	conn_close(c, LINK_CLOSE_PEER_GOODBYE, text, CLOSE_NOW);
}

static void unexpected(struct conn *c, const struct frame *f)
{
	char tbuf[16], what[96];

	snprintf(what, sizeof(what), "%s during %s",
		 frame_type_name(f->type, tbuf, sizeof(tbuf)), phase_names[c->phase]);
	bad_frame(c, LINK_CLOSE_PROTOCOL, what);
}

static void dispatch(struct conn *c, const struct frame *f)
{
	struct link *l = c->l;
	bool master = l->p.is_master;

	if (f->type == FRAME_GOODBYE) {
		on_goodbye(c, f);
		return;
	}
	if (f->type == FRAME_LOGIN_REFUSED && c->phase >= PH_HELLO && c->phase < PH_UP) {
		struct msg_reason m;
		struct frame_err fe;

		if (msg_reason_decode(f->type, f->payload, f->len, &m, &fe) < 0)
			bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
		else
			refused_by_peer(c, &m);
		return;
	}
	switch (c->phase) {
	case PH_HELLO:
		if (master && f->type == FRAME_HELLO)
			on_hello(c, f);
		else if (!master && f->type == FRAME_CHALLENGE)
			on_challenge(c, f);
		else
			unexpected(c, f);
		return;
	case PH_PROOF:
		if (master && f->type == FRAME_PROOF)
			on_proof(c, f);
		else if (!master && f->type == FRAME_LOGIN_OK)
			on_login_ok(c, f);
		else
			unexpected(c, f);
		return;
	case PH_CONFIRM:
		/* The standby's first heartbeat says it accepted our proof. */
		if (f->type != FRAME_HEARTBEAT) {
			unexpected(c, f);
			return;
		}
		login_complete(c, c->peer_role, c->peer_epoch, c->peer_info,
			       c->peer_info_len);
		free(c->peer_info);
		c->peer_info = NULL;
		c->peer_info_len = 0;
		if (c->phase == PH_UP)
			on_heartbeat(c, f);
		return;
	case PH_UP:
		if (f->type == FRAME_HEARTBEAT)
			on_heartbeat(c, f);
		else if (frame_type_is_app(f->type) && l->p.cb.on_frame)
			l->p.cb.on_frame(l->p.arg, f->type, f->payload, f->len);
		else if (!frame_type_is_app(f->type))
			unexpected(c, f);
		return;
	default:
		unexpected(c, f);
		return;
	}
}

/* ---- reading ------------------------------------------------------------------------- */

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Cut and dispatch every whole frame in the input buffer. */
static void parse_frames(struct conn *c)
{
	struct link *l = c->l;

	while (c->phase < PH_LINGER) {
		uint32_t max = c->phase == PH_UP ? FRAME_MAX_PAYLOAD : FRAME_LOGIN_MAX_PAYLOAD;
		struct frame f;
		struct frame_err fe;
		int r = frame_parse(c->in.p + c->in.start, buf_used(&c->in), max, &f, &fe);

		if (r == 0)
			break;
		if (r < 0) {
			bad_frame(c, LINK_CLOSE_MALFORMED, fe.text);
			return;
		}
		/* The payload stays where it is during dispatch: the buffer is
		 * only compacted or freed after this loop, or by the reaper. */
		c->in.start += f.total;
		l->ctr.frames_in++;
		l->ctr.bytes_in += f.total;
		dispatch(c, &f);
	}
	if (c->phase < PH_LINGER)
		buf_settle(&c->in);
}

static void resume_read(struct loop *lp, void *arg)
{
	struct conn *c = arg;

	conn_read(c);
	if (c->phase < PH_LINGER)
		conn_flush(c);
}

static void conn_read(struct conn *c)
{
	size_t budget = LINK_READ_BUDGET;

	while (c->phase >= PH_HELLO && c->phase < PH_LINGER) {
		size_t used = buf_used(&c->in);
		size_t want = LINK_READ_CHUNK;
		int n;

		/* A frame whose header we have: make room for all of it. */
		if (used >= FRAME_HEADER_LEN) {
			size_t total = FRAME_HEADER_LEN +
				(size_t)get_be32(c->in.p + c->in.start + 4);

			if (total > used && total - used > want)
				want = total - used;
		}
		if (buf_reserve(&c->in, want) < 0) {
			conn_close(c, LINK_CLOSE_NOMEM, "out of memory for the input buffer",
				   CLOSE_NOW);
			return;
		}
		n = wolfSSL_read(c->ssl, c->in.p + c->in.end,
				 (int)(c->in.cap - c->in.end > INT32_MAX ? INT32_MAX
									 : c->in.cap - c->in.end));
		if (n > 0) {
			/* Any byte is a sign of life: a frame larger than what
			 * the link carries in loss_timeout must not look like
			 * silence while it arrives. */
			c->last_rx_ms = clock_mono_ms();
			c->in.end += (size_t)n;
			parse_frames(c);
			if ((size_t)n >= budget) {
				loop_timer_start(c->l->loop, &c->resume, 0, resume_read, c);
				return;
			}
			budget -= (size_t)n;
			continue;
		}
		switch (wolfSSL_get_error(c->ssl, n)) {
		case WOLFSSL_ERROR_WANT_READ:
			return;
		case WOLFSSL_ERROR_WANT_WRITE:
			conn_set_events(c, EPOLLIN | EPOLLOUT);
			return;
		default:
			conn_tls_failed(c, n, "connection");
			return;
		}
	}
}

/* ---- writing ------------------------------------------------------------------------- */

static void conn_flush(struct conn *c)
{
	struct link *l = c->l;
	size_t budget = LINK_WRITE_BUDGET;

	while (c->phase >= PH_HELLO && c->phase < PH_LINGER && buf_used(&c->out)) {
		size_t used = buf_used(&c->out);
		size_t chunk = c->pending_write ? c->pending_write
			: (used < LINK_WRITE_CHUNK ? used : LINK_WRITE_CHUNK);
		int n = wolfSSL_write(c->ssl, c->out.p + c->out.start, (int)chunk);

		if (n > 0) {
			c->pending_write = 0;
			c->out.start += (size_t)n;
			if ((size_t)n >= budget)
				break;  /* the rest next turn (EPOLLOUT stays on) */
			budget -= (size_t)n;
			continue;
		}
		switch (wolfSSL_get_error(c->ssl, n)) {
		case WOLFSSL_ERROR_WANT_WRITE:
		case WOLFSSL_ERROR_WANT_READ:
			/* wolfSSL keeps what it encrypted; the retry must be
			 * the same length (the bytes do not move meanwhile). */
			c->pending_write = chunk;
			conn_want(c);
			return;
		default:
			conn_tls_failed(c, n, "connection");
			return;
		}
	}
	if (c->phase >= PH_LINGER)
		return;
	buf_settle(&c->out);
	conn_want(c);
	if (c->need_writable && l->up == c && buf_used(&c->out) < l->out_low) {
		c->need_writable = false;
		if (l->p.cb.on_writable)
			l->p.cb.on_writable(l->p.arg);
	}
}

/* ---- handshake ----------------------------------------------------------------------- */

static void tls_done(struct conn *c)
{
	struct link *l = c->l;
	const char *v = wolfSSL_get_version(c->ssl);
	const char *ci = wolfSSL_get_cipher_name(c->ssl);

	snprintf(c->tls_version, sizeof(c->tls_version), "%s", v ? v : "");
	snprintf(c->tls_cipher, sizeof(c->tls_cipher), "%s", ci ? ci : "");
	tls_peer_fingerprint(c->ssl, c->peer_fpr, sizeof(c->peer_fpr));
	if (tls_exporter(c->ssl, c->exporter, sizeof(c->exporter)) < 0) {
		conn_close(c, LINK_CLOSE_TLS_ERROR, "TLS exporter unavailable", CLOSE_NOW);
		return;
	}
	c->phase = PH_HELLO;
	if (!l->p.is_master) {
		if (random_bytes(c->nonce_s, sizeof(c->nonce_s)) < 0) {
			conn_close(c, LINK_CLOSE_NOMEM, "no randomness for the login nonce",
				   CLOSE_NOW);
			return;
		}
		send_hello(c, FRAME_HELLO, c->nonce_s);
	}
	/* The peer's first message may have come with the handshake. */
	conn_read(c);
	if (c->phase < PH_LINGER)
		conn_flush(c);
}

static void conn_handshake(struct conn *c)
{
	int ret = c->l->p.is_master ? wolfSSL_accept(c->ssl) : wolfSSL_connect(c->ssl);

	if (ret == WOLFSSL_SUCCESS) {
		tls_done(c);
		return;
	}
	switch (wolfSSL_get_error(c->ssl, ret)) {
	case WOLFSSL_ERROR_WANT_READ:
		conn_set_events(c, EPOLLIN);
		return;
	case WOLFSSL_ERROR_WANT_WRITE:
		conn_set_events(c, EPOLLIN | EPOLLOUT);
		return;
	default:
		conn_tls_failed(c, ret, "TLS handshake");
		return;
	}
}

static void login_deadline(struct loop *lp, void *arg)
{
	struct conn *c = arg;
	struct link *l = c->l;
	char text[LINK_TEXT_MAX];

	if (c->phase == PH_CONNECTING) {
		l->ctr.connect_failures++;
		snprintf(text, sizeof(text), "connect to %s: no answer within %u ms",
			 c->peer_str, l->login_ms < LINK_CONNECT_TIMEOUT_MS
			 ? l->login_ms : LINK_CONNECT_TIMEOUT_MS);
		conn_close(c, LINK_CLOSE_CONNECT_FAILED, text, CLOSE_NOW);
		return;
	}
	l->ctr.login_timeouts++;
	snprintf(text, sizeof(text), "%s: TLS and login not completed within %u ms "
		 "(stuck in %s)", c->peer_str, l->login_ms, phase_names[c->phase]);
	conn_close(c, LINK_CLOSE_LOGIN_TIMEOUT, text, CLOSE_GOODBYE);
}

/* TCP is up (accepted, or connected): start TLS. */
static void conn_start_tls(struct conn *c)
{
	struct link *l = c->l;
	struct link_event ev = { .kind = LINK_EV_CONNECTED };

	c->ssl = tls_session_new(l->tls, &c->io);
	if (!c->ssl) {
		conn_close(c, LINK_CLOSE_NOMEM, "out of memory for a TLS session", CLOSE_NOW);
		return;
	}
	c->phase = PH_TLS;
	l->ctr.connects++;
	loop_timer_start(l->loop, &c->deadline, l->login_ms, login_deadline, c);
	emit(l, c, &ev);
	if (c->phase == PH_TLS)
		conn_handshake(c);
}

static void conn_io(struct loop *lp, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	struct link *l = c->l;

	switch (c->phase) {
	case PH_CONNECTING: {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		char text[LINK_TEXT_MAX];

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			l->ctr.connect_failures++;
			snprintf(text, sizeof(text), "connect to %s: %s", c->peer_str,
				 strerror(soerr));
			conn_close(c, LINK_CLOSE_CONNECT_FAILED, text, CLOSE_NOW);
			return;
		}
		conn_set_events(c, EPOLLIN);
		conn_start_tls(c);
		return;
	}
	case PH_TLS:
		conn_handshake(c);
		return;
	case PH_LINGER:
		linger_step(c);
		return;
	case PH_DEAD:
		return;
	default:
		conn_flush(c);
		conn_read(c);
		if (c->phase < PH_LINGER)
			conn_flush(c);
		return;
	}
}

/* ---- timers -------------------------------------------------------------------------- */

static void hb_timer(struct loop *lp, void *arg)
{
	struct conn *c = arg;

	if (c->phase != PH_UP)
		return;
	send_heartbeat(c);
	if (c->phase == PH_UP)
		loop_timer_start(lp, &c->hb, c->l->hb_ms, hb_timer, c);
}

static void loss_timer(struct loop *lp, void *arg)
{
	struct conn *c = arg;
	struct link *l = c->l;
	uint64_t now = clock_mono_ms();
	uint64_t quiet = now > c->last_rx_ms ? now - c->last_rx_ms : 0;
	char text[LINK_TEXT_MAX];

	if (c->phase != PH_UP)
		return;
	if (quiet < l->loss_ms) {
		loop_timer_start(lp, &c->loss, l->loss_ms - quiet, loss_timer, c);
		return;
	}
	snprintf(text, sizeof(text), "nothing received from %s for %llu ms "
		 "(loss_timeout %u ms)", c->peer_str, (unsigned long long)quiet, l->loss_ms);
	conn_close(c, LINK_CLOSE_TIMEOUT, text, CLOSE_GOODBYE);
}

/* ---- standby: connecting ----------------------------------------------------------------- */

static void start_connect(struct loop *lp, void *arg)
{
	struct link *l = arg;
	struct conn *c;
	char text[LINK_TEXT_MAX];
	int one = 1, fd, rc;

	if (l->conns)
		return;
	c = conn_new(l);
	if (!c) {
		set_error(l, "out of memory for a connection");
		schedule_reconnect(l);
		return;
	}
	c->peer = l->addr;
	snprintf(c->peer_str, sizeof(c->peer_str), "%s", l->addr_str);
	c->phase = PH_CONNECTING;
	c->next = l->conns;
	l->conns = c;

	fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = errno;
		goto failed;
	}
	c->fd = fd;
	c->io.fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &l->addr.sa, addr_len(&l->addr)) < 0 && errno != EINPROGRESS) {
		rc = errno;
		goto failed;
	}
	rc = loop_add_fd(l->loop, fd, EPOLLOUT, conn_io, c);
	if (rc < 0) {
		rc = -rc;
		goto failed;
	}
	c->events = EPOLLOUT;
	loop_timer_start(l->loop, &c->deadline, l->login_ms < LINK_CONNECT_TIMEOUT_MS
			 ? l->login_ms : LINK_CONNECT_TIMEOUT_MS, login_deadline, c);
	return;
failed:
	l->ctr.connect_failures++;
	snprintf(text, sizeof(text), "connect to %s: %s", c->peer_str, strerror(rc));
	/* conn_close closes the socket (loop_del_fd ignores an unwatched fd). */
	conn_close(c, LINK_CLOSE_CONNECT_FAILED, text, CLOSE_NOW);
}

static void schedule_reconnect(struct link *l)
{
	uint32_t delay = l->backoff_ms;

	if (l->p.is_master || l->destroying || l->conns)
		return;
	delay += rand32(l) % (delay / 4 + 1);
	loop_timer_start(l->loop, &l->reconnect, delay, start_connect, l);
	l->backoff_ms = l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS
								  : l->backoff_ms * 2;
}

/* ---- master: accepting -------------------------------------------------------------------- */

static void accept_resume(struct loop *lp, void *arg)
{
	struct link *l = arg;

	loop_mod_fd(lp, l->listen_fd, EPOLLIN);
}

static void evict_oldest_pending(struct link *l)
{
	struct conn *oldest = NULL;
	char text[LINK_TEXT_MAX];

	/* New connections go to the head of the list: the last pending one
	 * is the oldest. */
	for (struct conn *c = l->conns; c; c = c->next)
		if (c->phase < PH_UP)
			oldest = c;
	if (!oldest)
		return;
	l->ctr.rejected++;
	snprintf(text, sizeof(text), "%s: dropped, more than %u connections were "
		 "waiting for login", oldest->peer_str, LINK_MAX_PENDING);
	conn_close(oldest, LINK_CLOSE_EVICTED, text, CLOSE_NOW);
}

static void on_accept(struct loop *lp, int fd, uint32_t events, void *arg)
{
	struct link *l = arg;

	for (int i = 0; i < LINK_ACCEPT_BURST; i++) {
		union tdm_addr pa;
		socklen_t len = sizeof(pa);
		struct conn *c;
		int one = 1;
		int cfd = accept4(fd, &pa.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			char text[LINK_TEXT_MAX];

			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: stop accepting for a
			 * moment rather than spin on a listener that stays
			 * readable. */
			snprintf(text, sizeof(text), "accept on %s: %s", l->addr_str,
				 strerror(errno));
			set_error(l, text);
			loop_mod_fd(lp, fd, 0);
			loop_timer_start(lp, &l->accept_pause, LINK_ACCEPT_PAUSE_MS,
					 accept_resume, l);
			return;
		}
		/* Connections that have not logged in are capped; rather than
		 * refuse the newcomer (a flood of idle connections would then
		 * lock the real standby out until they time out), drop the
		 * oldest: a real standby logs in within a round trip or two. */
		if (pending_count(l) >= LINK_MAX_PENDING)
			evict_oldest_pending(l);
		if (!(c = conn_new(l))) {
			close(cfd);
			l->ctr.rejected++;
			continue;
		}
		c->fd = cfd;
		c->io.fd = cfd;
		c->peer = pa;
		addr_format(&pa, c->peer_str, sizeof(c->peer_str));
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (loop_add_fd(lp, cfd, EPOLLIN, conn_io, c) < 0) {
			close(cfd);
			free(c);
			l->ctr.rejected++;
			continue;
		}
		c->events = EPOLLIN;
		c->phase = PH_TLS;
		c->next = l->conns;
		l->conns = c;
		conn_start_tls(c);
	}
}

static int start_listen(struct link *l, char *err, size_t cap)
{
	union tdm_addr bound;
	socklen_t len = sizeof(bound);
	int one = 1, fd, rc;

	fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, cap, "link: cannot listen on %s: %s", l->addr_str,
			 strerror(errno));
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &l->addr.sa, addr_len(&l->addr)) < 0) {
		rc = -errno;
		if (errno == EADDRINUSE)
			snprintf(err, cap, "link: cannot listen on %s: address already in "
				 "use (is another tandemd running?)", l->addr_str);
		else if (errno == EADDRNOTAVAIL)
			snprintf(err, cap, "link: cannot listen on %s: not an address of "
				 "this host", l->addr_str);
		else
			snprintf(err, cap, "link: cannot listen on %s: %s", l->addr_str,
				 strerror(errno));
		close(fd);
		return rc;
	}
	if (listen(fd, LINK_BACKLOG) < 0 ||
	    getsockname(fd, &bound.sa, &len) < 0) {
		rc = -errno;
		snprintf(err, cap, "link: cannot listen on %s: %s", l->addr_str,
			 strerror(errno));
		close(fd);
		return rc;
	}
	l->addr = bound;
	addr_format(&l->addr, l->addr_str, sizeof(l->addr_str));
	rc = loop_add_fd(l->loop, fd, EPOLLIN, on_accept, l);
	if (rc < 0) {
		snprintf(err, cap, "link: cannot watch the listener on %s: %s",
			 l->addr_str, strerror(-rc));
		close(fd);
		return rc;
	}
	l->listen_fd = fd;
	return 0;
}

/* ---- public API ------------------------------------------------------------------------- */

int link_create(const struct link_params *p, struct link **out,
		char *err, size_t errcap)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	const char *cert = p->tls_cert, *key = p->tls_key;
	size_t pwlen;
	struct link *l;
	bool generated;
	int rc;

	*out = NULL;
	if (!p->loop || !p->cb.on_event || !p->name) {
		snprintf(err, errcap, "link: loop, name and on_event are required");
		return -EINVAL;
	}
	if (!frame_name_valid(tstr_cstr(p->name))) {
		snprintf(err, errcap, "link: node name '%s' is not valid on the link "
			 "(1 to %u letters, digits, '-', '_', '.', not starting with '_')",
			 p->name, FRAME_NAME_MAX);
		return TDM_ECONFIG;
	}
	pwlen = p->password ? (p->password_len ? p->password_len : strlen(p->password)) : 0;
	if (pwlen == 0) {
		snprintf(err, errcap, "link: the PBX password ([node] password) is empty");
		return TDM_ECONFIG;
	}
	if (p->info_len > FRAME_INFO_MAX) {
		snprintf(err, errcap, "link: info of %u bytes, at most %u", p->info_len,
			 FRAME_INFO_MAX);
		return -EMSGSIZE;
	}
	if (p->addr.sa.sa_family != AF_INET && p->addr.sa.sa_family != AF_INET6) {
		snprintf(err, errcap, "link: no %s address", p->is_master ? "listen" : "master");
		return TDM_ECONFIG;
	}
	if (!p->is_master && (addr_is_any(&p->addr) || addr_port(&p->addr) == 0)) {
		snprintf(err, errcap, "link: the master's address needs an IP and a port");
		return TDM_ECONFIG;
	}
	if ((cert && cert[0]) != (key && key[0])) {
		snprintf(err, errcap, "link: tls_cert and tls_key go together: set both "
			 "or neither");
		return TDM_ECONFIG;
	}

	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errcap, "link: out of memory");
		return -ENOMEM;
	}
	l->p = *p;
	l->listen_fd = -1;
	l->loop = p->loop;
	snprintf(l->name, sizeof(l->name), "%s", p->name);
	l->p.name = l->name;
	l->p.password = NULL;
	l->p.tls_cert = l->p.tls_key = l->p.data_dir = NULL;
	l->addr = p->addr;
	addr_format(&l->addr, l->addr_str, sizeof(l->addr_str));
	l->hb_ms = p->heartbeat_interval_ms ? p->heartbeat_interval_ms
					    : LINK_DEFAULT_HEARTBEAT_MS;
	l->loss_ms = p->loss_timeout_ms;
	if (!l->loss_ms) {
		uint64_t v = (uint64_t)l->hb_ms * LINK_LOSS_HEARTBEATS;
		l->loss_ms = v < LINK_MIN_LOSS_MS ? LINK_MIN_LOSS_MS
			   : (v > UINT32_MAX ? UINT32_MAX : (uint32_t)v);
	}
	if (l->loss_ms <= l->hb_ms) {
		snprintf(err, errcap, "link: loss timeout (%u ms) must be longer than the "
			 "heartbeat interval (%u ms)", l->loss_ms, l->hb_ms);
		rc = TDM_ECONFIG;
		goto fail;
	}
	l->login_ms = p->login_timeout_ms ? p->login_timeout_ms
					  : LINK_DEFAULT_LOGIN_TIMEOUT_MS;
	l->out_max = p->out_max ? p->out_max : LINK_DEFAULT_OUT_MAX;
	if (l->out_max < FRAME_HEADER_LEN + (size_t)FRAME_MAX_PAYLOAD)
		l->out_max = FRAME_HEADER_LEN + (size_t)FRAME_MAX_PAYLOAD;
	l->out_low = p->out_low_water ? p->out_low_water : LINK_DEFAULT_OUT_LOW;
	if (l->out_low > l->out_max)
		l->out_low = l->out_max;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	l->since_ms = clock_mono_ms();
	if (random_bytes(&l->rng, sizeof(l->rng)) < 0 || l->rng == 0)
		l->rng = clock_mono_ns() | 1;
	if (p->info_len) {
		rc = link_set_info(l, p->info, p->info_len);
		if (rc < 0) {
			snprintf(err, errcap, "link: out of memory");
			goto fail;
		}
	}
	l->p.info = NULL;
	l->p.info_len = 0;

	if (!(cert && cert[0])) {
		if (!p->data_dir || !p->data_dir[0]) {
			snprintf(err, errcap, "link: no data_dir to keep the TLS key in");
			rc = TDM_ECONFIG;
			goto fail;
		}
		rc = tls_identity_ensure(p->data_dir, l->name, cert_path, key_path,
					 &generated, err, errcap);
		if (rc < 0)
			goto fail;
		cert = cert_path;
		key = key_path;
	}
	rc = tls_ctx_create(p->is_master, cert, key, &l->tls, err, errcap);
	if (rc < 0)
		goto fail;
	rc = login_key_derive(p->password, pwlen, &l->key);
	if (rc < 0) {
		snprintf(err, errcap, "link: cannot derive the login key: %s",
			 tdm_strerror(rc));
		goto fail;
	}
	if (p->is_master) {
		rc = start_listen(l, err, errcap);
		if (rc < 0)
			goto fail;
	} else {
		/* The first attempt runs from the loop, so that every event is
		 * reported from there and none from inside link_create. */
		loop_timer_start(l->loop, &l->reconnect, 0, start_connect, l);
	}
	*out = l;
	return 0;
fail:
	link_destroy(l);
	return rc;
}

/* Best effort, without waiting: our GOODBYE and close_notify. */
static void say_goodbye(struct conn *c, const char *text)
{
	char tbuf[FRAME_TEXT_MAX + 1];
	struct msg_reason m = { LINK_CLOSE_SHUTDOWN, wire_text(text, tbuf, sizeof(tbuf)) };
	struct fwr w;

	if (!c->ssl || c->phase < PH_HELLO || c->phase >= PH_LINGER)
		return;
	if (buf_reserve(&c->out, LINK_MSG_ROOM) == 0) {
		fwr_init(&w, c->out.p + c->out.end, c->out.cap - c->out.end);
		if (msg_reason_encode(&w, FRAME_GOODBYE, &m) == 0)
			c->out.end += fwr_len(&w);
	}
	for (int i = 0; i < 64 && buf_used(&c->out); i++) {
		size_t used = buf_used(&c->out);
		size_t chunk = c->pending_write ? c->pending_write
			: (used < LINK_WRITE_CHUNK ? used : LINK_WRITE_CHUNK);
		int n = wolfSSL_write(c->ssl, c->out.p + c->out.start, (int)chunk);

		if (n <= 0)
			break;
		c->pending_write = 0;
		c->out.start += (size_t)n;
	}
	wolfSSL_shutdown(c->ssl);
}

void link_destroy(struct link *l)
{
	struct conn *lists[3];

	if (!l)
		return;
	l->destroying = true;
	lists[0] = l->conns;
	lists[1] = l->lingering;
	lists[2] = l->dead;
	l->conns = l->lingering = l->dead = NULL;
	l->up = NULL;
	for (int i = 0; i < 3; i++) {
		while (lists[i]) {
			struct conn *c = lists[i];

			lists[i] = c->next;
			if (i == 0)
				say_goodbye(c, l->p.is_master ? "the master is shutting down"
							      : "the standby is shutting down");
			conn_free(c);
		}
	}
	loop_timer_stop(l->loop, &l->reap);
	loop_timer_stop(l->loop, &l->reconnect);
	loop_timer_stop(l->loop, &l->accept_pause);
	if (l->listen_fd >= 0) {
		loop_del_fd(l->loop, l->listen_fd);
		close(l->listen_fd);
	}
	tls_ctx_destroy(l->tls);
	login_key_wipe(&l->key);
	free(l->info);
	free(l);
}

int link_send(struct link *l, uint8_t type, const void *payload, uint32_t len)
{
	struct conn *c = l->up;
	struct fwr w;

	if (!frame_type_is_app(type))
		return -EINVAL;
	if (len > FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (!c || c->phase != PH_UP) {
		l->ctr.send_refused++;
		return -ENOTCONN;
	}
	if (buf_used(&c->out) + FRAME_HEADER_LEN + len > l->out_max) {
		l->ctr.send_refused++;
		c->need_writable = true;
		return -ENOBUFS;
	}
	if (buf_reserve(&c->out, FRAME_HEADER_LEN + (size_t)len) < 0) {
		l->ctr.send_refused++;
		c->need_writable = true;
		return -ENOBUFS;
	}
	fwr_init(&w, c->out.p + c->out.end, c->out.cap - c->out.end);
	if (frame_encode(&w, type, payload, len) < 0)
		return -EMSGSIZE;
	c->out.end += fwr_len(&w);
	l->ctr.frames_out++;
	l->ctr.bytes_out += fwr_len(&w);
	if (buf_used(&c->out) >= l->out_low)
		c->need_writable = true;
	conn_want(c);
	return 0;
}

size_t link_queued(const struct link *l)
{
	return l->up ? buf_used(&l->up->out) : 0;
}

bool link_is_up(const struct link *l)
{
	return l->up != NULL;
}

int link_set_info(struct link *l, const void *info, uint32_t len)
{
	uint8_t *copy = NULL;

	if (len > FRAME_INFO_MAX)
		return -EMSGSIZE;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, info, len);
	}
	free(l->info);
	l->info = copy;
	l->info_len = len;
	return 0;
}

void link_drop(struct link *l, bool malformed, const char *text)
{
	char buf[LINK_TEXT_MAX];

	if (!l->up)
		return;
	if (malformed)
		l->ctr.bad_frames++;
	snprintf(buf, sizeof(buf), "%s", text && text[0] ? text : "closed by the application");
	conn_close(l->up, LINK_CLOSE_APP, buf, CLOSE_GOODBYE);
}

void link_local_addr(const struct link *l, union tdm_addr *out)
{
	*out = l->addr;
}

void link_info(const struct link *l, struct link_info *out)
{
	const struct conn *c = l->up;

	memset(out, 0, sizeof(*out));
	out->is_master = l->p.is_master;
	snprintf(out->addr, sizeof(out->addr), "%s", l->addr_str);
	if (c) {
		out->state = LINK_UP;
	} else {
		enum phase best = PH_DEAD;

		for (const struct conn *x = l->conns; x; x = x->next)
			if (best == PH_DEAD || x->phase > best)
				best = x->phase;
		switch (best) {
		case PH_CONNECTING:
			out->state = LINK_CONNECTING;
			break;
		case PH_TLS:
			out->state = LINK_TLS;
			break;
		case PH_HELLO:
		case PH_PROOF:
		case PH_CONFIRM:
			out->state = LINK_LOGIN;
			break;
		default:
			out->state = l->refused ? LINK_REFUSED : LINK_DOWN;
			break;
		}
	}
	snprintf(out->peer_name, sizeof(out->peer_name), "%s",
		 c ? c->peer_name : l->last_peer_name);
	snprintf(out->peer_addr, sizeof(out->peer_addr), "%s",
		 c ? c->peer_str : (l->p.is_master ? l->last_peer_addr : l->addr_str));
	out->since_ms = l->since_ms;
	out->peer_role = l->last_peer_role;
	out->peer_epoch = l->last_peer_epoch;
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s",
		 l->tls ? tls_ctx_fingerprint(l->tls) : "");
	out->rtt_us = -1;
	if (c) {
		out->peer_role = c->peer_role;
		out->peer_epoch = c->peer_epoch;
		snprintf(out->tls_version, sizeof(out->tls_version), "%s", c->tls_version);
		snprintf(out->tls_cipher, sizeof(out->tls_cipher), "%s", c->tls_cipher);
		snprintf(out->peer_fingerprint, sizeof(out->peer_fingerprint), "%s",
			 c->peer_fpr);
		out->rtt_us = c->rtt_us;
		out->last_rx_ms = c->last_rx_ms;
		out->out_queued = buf_used(&c->out);
	}
	snprintf(out->last_error, sizeof(out->last_error), "%s", l->last_error);
	out->last_error_ms = l->last_error_ms;
	out->refusal = l->refusal;
	out->refused_by_peer = l->refused_by_peer;
	snprintf(out->refusal_text, sizeof(out->refusal_text), "%s", l->refusal_text);
	out->refusal_ms = l->refusal_ms;
	out->pending = pending_count(l);
	out->heartbeat_interval_ms = l->hb_ms;
	out->loss_timeout_ms = l->loss_ms;
	out->login_timeout_ms = l->login_ms;
	out->counters = l->ctr;
}
