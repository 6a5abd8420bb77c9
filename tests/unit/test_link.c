/* SPDX-License-Identifier: MIT */
/*
 * Tests of replication/link.c (with tls.c, login.c, frame.c) end to end, in
 * one process on 127.0.0.1: a control loop runs in its own thread (an
 * urcu-qsbr reader, as in tandemd), links are created and destroyed on it,
 * and the test thread watches their callbacks. Hand-driven peers (a raw
 * TLS client or server speaking the protocol from this thread) play the
 * hostile or broken side: garbage frames, a silent peer, a master that
 * cannot prove the password, a client that never starts TLS.
 *
 * Every wait is bounded (WAIT_MS); timings use short heartbeats (50 ms)
 * and login timeout (500 ms), and a 400 ms loss timeout where loss is what
 * is tested. LINK_TEST_TRACE=1 in the environment prints every event.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "clock.h"
#include "err.h"
#include "frame.h"
#include "link.h"
#include "login.h"
#include "loop.h"
#include "tls.h"

#define PASSWORD "s3cret pbx password"
#define HB_MS 50
#define LOSS_MS 400             /* in the tests of loss detection */
#define CALM_LOSS_MS 1500       /* elsewhere: creating a link blocks the shared
				 * loop for a key derivation, which must not
				 * look like a loss */
#define LOGIN_MS 500
#define WAIT_MS 5000
#define MAX_EV 64

/* ---- the loop thread ------------------------------------------------------ */

static struct loop *lp;
static pthread_t loop_thr;
static int cmd_fd = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void (*cmd_fn)(void *);
static void *cmd_arg;
static bool cmd_done;
static char tmpdirs[4][64];
static uint32_t loss_ms = CALM_LOSS_MS;
static uint32_t login_ms = LOGIN_MS;

static void *loop_main(void *arg)
{
	(void)arg;
	rcu_register_thread();
	loop_run(lp);
	tls_thread_cleanup();
	rcu_unregister_thread();
	return NULL;
}

static void on_cmd(struct loop *l, int fd, uint32_t events, void *arg)
{
	void (*fn)(void *);
	void *fa;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&mu);
	fn = cmd_fn;
	fa = cmd_arg;
	cmd_fn = NULL;
	pthread_mutex_unlock(&mu);
	if (fn)
		fn(fa);   /* without the lock: callbacks it triggers take it */
	pthread_mutex_lock(&mu);
	cmd_done = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Run fn(arg) on the loop thread and wait for it (the loop and the links
 * are not thread-safe). */
static void on_loop(void (*fn)(void *), void *arg)
{
	uint64_t one = 1;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&mu);
	cmd_fn = fn;
	cmd_arg = arg;
	cmd_done = false;
	pthread_mutex_unlock(&mu);
	cr_assert_eq(write(cmd_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	pthread_mutex_lock(&mu);
	while (!cmd_done) {
		if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
			break;
	}
	bool done = cmd_done;
	pthread_mutex_unlock(&mu);
	cr_assert(done, "the loop thread did not run the command in time");
}

static void make_dir(char *buf)
{
	snprintf(buf, 64, "/tmp/tandem-link-XXXXXX");
	cr_assert_not_null(mkdtemp(buf));
}

static void rm_dir(const char *dir)
{
	static const char *const files[] = { "tls.key", "tls.crt", "other.key",
					     "other.crt", NULL };
	char path[PATH_MAX];

	if (!dir[0])
		return;
	for (int i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void setup(void)
{
	lp = loop_create();
	cr_assert_not_null(lp);
	cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_geq(cmd_fd, 0);
	cr_assert_eq(loop_add_fd(lp, cmd_fd, EPOLLIN, on_cmd, NULL), 0);
	for (int i = 0; i < 4; i++)
		make_dir(tmpdirs[i]);
	cr_assert_eq(pthread_create(&loop_thr, NULL, loop_main, NULL), 0);
}

static void teardown(void)
{
	loop_stop(lp);
	pthread_join(loop_thr, NULL);
	/* Links left by a test are destroyed by the test itself; the loop
	 * can go now. */
	loop_destroy(lp);
	close(cmd_fd);
	for (int i = 0; i < 4; i++)
		rm_dir(tmpdirs[i]);
	tls_thread_cleanup();
}

TestSuite(link, .init = setup, .fini = teardown, .timeout = 90);

/* ---- recording callbacks -------------------------------------------------- */

struct ev {
	enum link_event_kind kind;
	uint16_t refusal;
	bool by_peer;
	enum link_close reason;
	char text[LINK_TEXT_MAX];
	char peer_name[FRAME_NAME_MAX + 1];
	uint8_t role;
	uint64_t epoch;
	char info[64];
	uint64_t at_ms;
};

struct rec {
	struct link *link;
	uint8_t role;               /* what fill_heartbeat announces */
	uint64_t epoch;
	int nev;
	struct ev ev[MAX_EV];
	int hb, hb_rtt;
	int64_t last_rtt;
	uint8_t hb_role;
	uint64_t hb_epoch;
	int frames;
	uint8_t frame_type;
	uint32_t frame_len;
	bool frame_pattern_ok;      /* payload[i] == (uint8_t)(i * 31 + len) */
	int writable;
	bool drop_on_frame;
};

static void rec_event(void *arg, const struct link_event *e)
{
	struct rec *r = arg;

	if (getenv("LINK_TEST_TRACE"))
		fprintf(stderr, "EV %s %s [%s] reason=%s refusal=%u by_peer=%d: %s\n",
			link_event_name(e->kind), e->peer_addr, e->peer_name,
			link_close_text(e->reason), e->refusal, e->refused_by_peer, e->text);
	pthread_mutex_lock(&mu);
	if (r->nev < MAX_EV) {
		struct ev *x = &r->ev[r->nev++];

		x->kind = e->kind;
		x->refusal = e->refusal;
		x->by_peer = e->refused_by_peer;
		x->reason = e->reason;
		snprintf(x->text, sizeof(x->text), "%s", e->text);
		snprintf(x->peer_name, sizeof(x->peer_name), "%s", e->peer_name);
		x->role = e->peer_role;
		x->epoch = e->peer_epoch;
		if (e->kind == LINK_EV_LOGGED_IN)
			snprintf(x->info, sizeof(x->info), "%.*s", (int)e->peer_info_len,
				 (const char *)e->peer_info);
		x->at_ms = clock_mono_ms();
	}
	pthread_mutex_unlock(&mu);
}

static void rec_heartbeat(void *arg, uint8_t role, uint64_t epoch, int64_t rtt_us)
{
	struct rec *r = arg;

	pthread_mutex_lock(&mu);
	r->hb++;
	r->hb_role = role;
	r->hb_epoch = epoch;
	if (rtt_us >= 0) {
		r->hb_rtt++;
		r->last_rtt = rtt_us;
	}
	pthread_mutex_unlock(&mu);
}

static void rec_fill(void *arg, uint8_t *role, uint64_t *epoch)
{
	struct rec *r = arg;

	*role = r->role;
	*epoch = r->epoch;
}

static bool pattern_ok(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(i * 31 + len))
			return false;
	return true;
}

static void rec_frame(void *arg, uint8_t type, const uint8_t *payload, uint32_t len)
{
	struct rec *r = arg;
	bool ok = pattern_ok(payload, len);

	pthread_mutex_lock(&mu);
	r->frames++;
	r->frame_type = type;
	r->frame_len = len;
	r->frame_pattern_ok = ok;
	bool drop = r->drop_on_frame;
	pthread_mutex_unlock(&mu);
	if (drop)
		link_drop(r->link, true, "bad snapshot chunk");
}

static void rec_writable(void *arg)
{
	struct rec *r = arg;

	pthread_mutex_lock(&mu);
	r->writable++;
	pthread_mutex_unlock(&mu);
}

static int count(struct rec *r, enum link_event_kind kind)
{
	int n = 0;

	for (int i = 0; i < r->nev; i++)
		n += r->ev[i].kind == kind;
	return n;
}

/* The first event of this kind (under mu), or NULL. */
static struct ev *first(struct rec *r, enum link_event_kind kind)
{
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].kind == kind)
			return &r->ev[i];
	return NULL;
}

/* Poll cond (evaluated under mu) until it holds or ms pass. */
#define WAIT_FOR(cond, ms)                                                     \
	({                                                                     \
		uint64_t _end = clock_mono_ms() + (ms);                        \
		bool _ok;                                                      \
		for (;;) {                                                     \
			pthread_mutex_lock(&mu);                               \
			_ok = (cond);                                          \
			pthread_mutex_unlock(&mu);                             \
			if (_ok || clock_mono_ms() > _end)                     \
				break;                                         \
			usleep(5000);                                          \
		}                                                              \
		_ok;                                                           \
	})

#define WAIT(cond) WAIT_FOR(cond, WAIT_MS)

#define LOCKED(expr)                                                           \
	({                                                                     \
		pthread_mutex_lock(&mu);                                       \
		__typeof__(expr) _v = (expr);                                  \
		pthread_mutex_unlock(&mu);                                     \
		_v;                                                            \
	})

/* ---- creating links on the loop ------------------------------------------- */

struct mk {
	struct link_params p;
	struct link **out;
	int rc;
	char err[512];
};

static void do_create(void *arg)
{
	struct mk *m = arg;

	m->rc = link_create(&m->p, m->out, m->err, sizeof(m->err));
}

static void do_destroy(void *arg)
{
	link_destroy(arg);
}

static struct link_params params(bool master, const char *name, const char *password,
				 const union tdm_addr *addr, const char *dir, struct rec *r)
{
	struct link_params p = {
		.is_master = master,
		.name = name,
		.password = password,
		.addr = *addr,
		.data_dir = dir,
		.heartbeat_interval_ms = HB_MS,
		.loss_timeout_ms = loss_ms,
		.login_timeout_ms = login_ms,
		.loop = lp,
		.cb = { rec_event, rec_heartbeat, rec_fill, rec_frame, rec_writable },
		.arg = r,
	};
	return p;
}

static int create(struct link_params *p, struct link **out, char *err, size_t cap)
{
	struct mk m = { .p = *p, .out = out };

	on_loop(do_create, &m);
	if (err)
		snprintf(err, cap, "%s", m.err);
	return m.rc;
}

static union tdm_addr loopback(uint16_t port)
{
	union tdm_addr a;

	cr_assert_eq(addr_parse("127.0.0.1", port ? port : 1, &a), 0);
	addr_set_port(&a, port);
	return a;
}

/* A master on 127.0.0.1 with a kernel-chosen port; returns its address. */
static struct link *master(struct rec *r, const char *name, const char *password,
			   const char *dir, const char *info, union tdm_addr *where)
{
	union tdm_addr a = loopback(0);
	struct link_params p = params(true, name, password, &a, dir, r);
	struct link *l = NULL;
	char err[512];

	p.info = info;
	p.info_len = info ? (uint32_t)strlen(info) : 0;
	cr_assert_eq(create(&p, &l, err, sizeof(err)), 0, "%s", err);
	r->link = l;
	link_local_addr(l, where);
	cr_assert_neq(addr_port(where), 0);
	return l;
}

static struct link *standby(struct rec *r, const char *name, const char *password,
			    const char *dir, const union tdm_addr *master_addr)
{
	struct link_params p = params(false, name, password, master_addr, dir, r);
	struct link *l = NULL;
	char err[512];

	cr_assert_eq(create(&p, &l, err, sizeof(err)), 0, "%s", err);
	r->link = l;
	return l;
}

static void destroy(struct link *l)
{
	on_loop(do_destroy, l);
}

struct info_req {
	struct link *l;
	struct link_info info;
};

static void do_info(void *arg)
{
	struct info_req *q = arg;

	link_info(q->l, &q->info);
}

static struct link_info info_of(struct link *l)
{
	struct info_req q = { .l = l };

	on_loop(do_info, &q);
	return q.info;
}

/* ---- a hand-driven peer (blocking, on the test thread) -------------------- */

struct raw {
	int fd;
	struct tls_io io;
	WOLFSSL *ssl;
	struct tls_ctx *ctx;
};

static void raw_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 3 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void raw_ctx(struct raw *r, bool server, const char *dir)
{
	char cert[PATH_MAX], key[PATH_MAX], err[512];
	bool gen;

	cr_assert_eq(tls_identity_ensure(dir, "raw-peer", cert, key, &gen, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(tls_ctx_create(server, cert, key, &r->ctx, err, sizeof(err)), 0,
		     "%s", err);
}

static int tcp_connect(const union tdm_addr *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	raw_timeouts(fd);
	cr_assert_eq(connect(fd, &a->sa, addr_len(a)), 0, "connect: %s", strerror(errno));
	return fd;
}

static void raw_client(struct raw *r, const union tdm_addr *a, const char *dir)
{
	memset(r, 0, sizeof(*r));
	raw_ctx(r, false, dir);
	r->fd = tcp_connect(a);
	r->io.fd = r->fd;
	r->ssl = tls_session_new(r->ctx, &r->io);
	cr_assert_not_null(r->ssl);
	cr_assert_eq(wolfSSL_connect(r->ssl), WOLFSSL_SUCCESS);
}

/* Listen on 127.0.0.1 (any port) for a link standby to connect to. */
static int raw_listen(union tdm_addr *where)
{
	union tdm_addr a = loopback(0);
	socklen_t len = sizeof(*where);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, &a.sa, addr_len(&a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, &where->sa, &len), 0);
	return fd;
}

/* Accept the standby's connection on lfd; r->ctx was made beforehand with
 * raw_ctx(r, true, ...) (before the standby starts: the link's login
 * timeout runs from the TCP connection on). */
static void raw_server(struct raw *r, int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	cr_assert_not_null(r->ctx);
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "the standby did not connect");
	r->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(r->fd, 0);
	raw_timeouts(r->fd);
	r->io.fd = r->fd;
	r->ssl = tls_session_new(r->ctx, &r->io);
	cr_assert_not_null(r->ssl);
	cr_assert_eq(wolfSSL_accept(r->ssl), WOLFSSL_SUCCESS);
}

/* Close the connection; keep_ctx keeps the context for another one. */
static void raw_close_conn(struct raw *r)
{
	if (r->ssl)
		wolfSSL_free(r->ssl);
	if (r->fd >= 0)
		close(r->fd);
	r->ssl = NULL;
	r->fd = -1;
	memset(&r->io, 0, sizeof(r->io));
}

static void raw_close(struct raw *r)
{
	raw_close_conn(r);
	tls_ctx_destroy(r->ctx);
	r->ctx = NULL;
}

static void raw_write(struct raw *r, const void *p, size_t len)
{
	cr_assert_eq(wolfSSL_write(r->ssl, p, (int)len), (int)len);
}

static bool raw_read_n(struct raw *r, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int k = wolfSSL_read(r->ssl, p + got, (int)(n - got));

		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

/* Read one frame; false at the end of the stream. */
static bool raw_read_frame(struct raw *r, uint8_t *type, uint8_t *payload,
			   size_t cap, uint32_t *len)
{
	uint8_t h[FRAME_HEADER_LEN];
	struct frame f;
	struct frame_err e;

	if (!raw_read_n(r, h, sizeof(h)))
		return false;
	cr_assert_eq(frame_parse(h, sizeof(h), FRAME_MAX_PAYLOAD, &f, &e), 0);
	*len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	cr_assert_leq(*len, cap);
	*type = h[2];
	return raw_read_n(r, payload, *len);
}

/* Read frames until one of this type (heartbeats are skipped). */
static uint32_t raw_expect(struct raw *r, uint8_t want, uint8_t *payload, size_t cap)
{
	uint8_t type;
	uint32_t len;

	for (;;) {
		cr_assert(raw_read_frame(r, &type, payload, cap, &len),
			  "stream ended while waiting for type 0x%02x", want);
		if (type == want)
			return len;
		cr_assert_eq(type, FRAME_HEARTBEAT, "got type 0x%02x, wanted 0x%02x", type, want);
	}
}

static void raw_send_hello(struct raw *r, uint8_t type, const char *name,
			   const uint8_t *nonce)
{
	uint8_t buf[256];
	struct msg_hello m = { LINK_PROTO_VERSION, tstr_cstr(name), nonce };
	struct fwr w;

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_hello_encode(&w, type, &m), 0);
	raw_write(r, buf, fwr_len(&w));
}

static void raw_send_proof(struct raw *r, uint8_t type, const uint8_t *proof,
			   uint8_t role, uint64_t epoch)
{
	uint8_t buf[256];
	struct msg_proof m = { proof, role, epoch, NULL, 0 };
	struct fwr w;

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_proof_encode(&w, type, &m), 0);
	raw_write(r, buf, fwr_len(&w));
}

static void raw_send_heartbeat(struct raw *r, uint8_t role)
{
	uint8_t buf[64];
	struct msg_heartbeat m = { role, 0, clock_mono_ns() / 1000, 0, 0 };
	struct fwr w;

	fwr_init(&w, buf, sizeof(buf));
	cr_assert_eq(msg_heartbeat_encode(&w, &m), 0);
	raw_write(r, buf, fwr_len(&w));
}

/* The login key of PASSWORD. Derive it before connecting: the link's login
 * timeout runs while the test thread computes. */
static struct login_key right_key;

static void derive_right_key(void)
{
	cr_assert_eq(login_key_derive(PASSWORD, strlen(PASSWORD), &right_key), 0);
}

/* Log a raw client in to a master link as standby `name`. */
static void raw_login_as_standby(struct raw *r, const char *name, const char *master_name)
{
	const struct login_key *k = &right_key;
	struct login_transcript t;
	uint8_t payload[1024], proof[LOGIN_PROOF_LEN];
	struct msg_hello ch;
	struct msg_proof ok;
	struct frame_err e;
	uint32_t len;

	memset(t.nonce_s, 0x5a, sizeof(t.nonce_s));
	raw_send_hello(r, FRAME_HELLO, name, t.nonce_s);
	len = raw_expect(r, FRAME_CHALLENGE, payload, sizeof(payload));
	cr_assert_eq(msg_hello_decode(FRAME_CHALLENGE, payload, len, &ch, &e), 0, "%s", e.text);
	cr_assert(tstr_eq(ch.name, tstr_cstr(master_name)));
	memcpy(t.nonce_m, ch.nonce, sizeof(t.nonce_m));
	cr_assert_eq(tls_exporter(r->ssl, t.exporter, sizeof(t.exporter)), 0);
	t.standby_name = tstr_cstr(name);
	t.master_name = tstr_cstr(master_name);
	cr_assert_eq(login_proof(k, LOGIN_SIDE_STANDBY, &t, proof), 0);
	raw_send_proof(r, FRAME_PROOF, proof, LINK_ROLE_STANDBY, 0);
	len = raw_expect(r, FRAME_LOGIN_OK, payload, sizeof(payload));
	cr_assert_eq(msg_proof_decode(FRAME_LOGIN_OK, payload, len, &ok, &e), 0, "%s", e.text);
	cr_assert(login_proof_check(k, LOGIN_SIDE_MASTER, &t, ok.proof, FRAME_PROOF_LEN),
		  "the master's proof checks out");
	/* The confirmation the master waits for. */
	raw_send_heartbeat(r, LINK_ROLE_STANDBY);
}

/* ---- login ------------------------------------------------------------------ */

Test(link, a_standby_logs_in_and_both_sides_report_it)
{
	struct rec rm = { .role = LINK_ROLE_ACTIVE, .epoch = 5 };
	struct rec rs = { .role = LINK_ROLE_STANDBY, .epoch = 3 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], "domain=voice.example", &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	struct link_info mi, si;

	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1 && count(&rs, LINK_EV_LOGGED_IN) == 1));
	pthread_mutex_lock(&mu);
	cr_assert_eq(count(&rs, LINK_EV_CONNECTED), 1);
	cr_assert_eq(count(&rm, LINK_EV_CONNECTED), 1);
	struct ev *em = first(&rm, LINK_EV_LOGGED_IN), *es = first(&rs, LINK_EV_LOGGED_IN);
	cr_assert_str_eq(em->peer_name, "pbx-b");
	cr_assert_eq(em->role, LINK_ROLE_STANDBY);
	cr_assert_eq(em->epoch, 3);
	cr_assert_str_eq(em->info, "");
	cr_assert_str_eq(es->peer_name, "pbx-a");
	cr_assert_eq(es->role, LINK_ROLE_ACTIVE);
	cr_assert_eq(es->epoch, 5);
	cr_assert_str_eq(es->info, "domain=voice.example");
	pthread_mutex_unlock(&mu);

	mi = info_of(m);
	si = info_of(s);
	cr_assert_eq(mi.state, LINK_UP);
	cr_assert_eq(si.state, LINK_UP);
	cr_assert_str_eq(mi.peer_name, "pbx-b");
	cr_assert_str_eq(si.peer_name, "pbx-a");
	cr_assert_str_eq(mi.tls_version, "TLSv1.3");
	cr_assert_str_eq(si.tls_version, "TLSv1.3");
	cr_assert_str_eq(mi.tls_cipher, si.tls_cipher);
	cr_assert_neq(strlen(mi.tls_cipher), 0);
	/* Each side sees the other's certificate. */
	cr_assert_eq(strlen(mi.fingerprint), 95);
	cr_assert_str_eq(si.peer_fingerprint, mi.fingerprint);
	cr_assert_str_eq(mi.peer_fingerprint, si.fingerprint);
	cr_assert_str_neq(mi.fingerprint, si.fingerprint);
	cr_assert_eq(mi.counters.logins, 1);
	cr_assert_eq(si.counters.logins, 1);
	cr_assert_eq(mi.counters.refusals, 0);
	cr_assert_str_eq(link_state_name(si.state), "up");

	destroy(s);
	destroy(m);
}

Test(link, heartbeats_flow_both_ways_with_round_trip_times)
{
	struct rec rm = { .role = LINK_ROLE_ACTIVE, .epoch = 9 };
	struct rec rs = { .role = LINK_ROLE_STANDBY, .epoch = 8 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	uint64_t t0;
	int hb0;

	cr_assert(WAIT(rm.hb_rtt >= 3 && rs.hb_rtt >= 3));
	pthread_mutex_lock(&mu);
	cr_assert_eq(rm.hb_role, LINK_ROLE_STANDBY);
	cr_assert_eq(rm.hb_epoch, 8);
	cr_assert_eq(rs.hb_role, LINK_ROLE_ACTIVE);
	cr_assert_eq(rs.hb_epoch, 9);
	/* Loopback: well under a heartbeat interval, and never negative. */
	cr_assert_geq(rm.last_rtt, 0);
	cr_assert_lt(rm.last_rtt, 50000);
	cr_assert_lt(rs.last_rtt, 50000);
	hb0 = rs.hb;
	pthread_mutex_unlock(&mu);

	/* The announced role and epoch change with what fill_heartbeat says. */
	pthread_mutex_lock(&mu);
	rm.epoch = 10;
	pthread_mutex_unlock(&mu);
	cr_assert(WAIT(rs.hb_epoch == 10));

	/* About one heartbeat per interval. */
	t0 = clock_mono_ms();
	pthread_mutex_lock(&mu);
	hb0 = rs.hb;
	pthread_mutex_unlock(&mu);
	usleep(20 * HB_MS * 1000);
	int got = LOCKED(rs.hb) - hb0;
	uint64_t span = clock_mono_ms() - t0;
	cr_assert_geq(got, (int)(span / HB_MS) / 2, "%d heartbeats in %llu ms", got,
		      (unsigned long long)span);
	cr_assert_leq(got, (int)(span / HB_MS) + 3, "%d heartbeats in %llu ms", got,
		      (unsigned long long)span);

	struct link_info si = info_of(s);
	cr_assert_geq(si.rtt_us, 0);
	cr_assert_geq(si.counters.heartbeats_in, 10);
	cr_assert_geq(si.counters.heartbeats_out, 10);
	cr_assert_eq(si.counters.losses, 0);
	destroy(s);
	destroy(m);
}

Test(link, a_wrong_password_is_refused_on_both_sides_and_retried)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", "not the password", tmpdirs[1], &ma);

	cr_assert(WAIT(count(&rm, LINK_EV_REFUSED) >= 1 && count(&rs, LINK_EV_REFUSED) >= 1));
	pthread_mutex_lock(&mu);
	struct ev *em = first(&rm, LINK_EV_REFUSED), *es = first(&rs, LINK_EV_REFUSED);
	cr_assert_eq(em->refusal, LOGIN_REFUSE_PASSWORD);
	cr_assert_not(em->by_peer);
	cr_assert_str_eq(em->text, "wrong password");
	cr_assert_str_eq(em->peer_name, "pbx-b");
	cr_assert_eq(es->refusal, LOGIN_REFUSE_PASSWORD);
	cr_assert(es->by_peer);
	cr_assert_str_eq(es->text, "wrong password");
	cr_assert_eq(count(&rm, LINK_EV_LOGGED_IN), 0);
	cr_assert_eq(count(&rs, LINK_EV_LOGGED_IN), 0);
	/* A refusal is not reported as a loss or a failed connection too. */
	cr_assert_eq(count(&rs, LINK_EV_LOST) + count(&rs, LINK_EV_CLOSED), 0);
	pthread_mutex_unlock(&mu);

	/* The standby keeps trying (the master may be reconfigured). */
	cr_assert(WAIT(count(&rs, LINK_EV_REFUSED) >= 2));
	struct link_info si = info_of(s);
	cr_assert_eq(si.refusal, LOGIN_REFUSE_PASSWORD);
	cr_assert(si.refused_by_peer);
	cr_assert_str_eq(si.refusal_text, "wrong password");
	cr_assert_geq(si.counters.refusals, 2);
	cr_assert_neq(si.state, LINK_UP);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.refusal, LOGIN_REFUSE_PASSWORD);
	cr_assert_not(mi.refused_by_peer);
	/* show peers names the standby it refused */
	cr_assert_str_eq(mi.peer_name, "pbx-b");
	cr_assert(strncmp(mi.peer_addr, "127.0.0.1:", 10) == 0, "%s", mi.peer_addr);
	destroy(s);
	destroy(m);
}

Test(link, a_standby_with_the_masters_name_is_refused)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "PBX-A", PASSWORD, tmpdirs[1], &ma);

	cr_assert(WAIT(count(&rm, LINK_EV_REFUSED) >= 1 && count(&rs, LINK_EV_REFUSED) >= 1));
	pthread_mutex_lock(&mu);
	struct ev *em = first(&rm, LINK_EV_REFUSED), *es = first(&rs, LINK_EV_REFUSED);
	cr_assert_eq(em->refusal, LOGIN_REFUSE_NAME);
	cr_assert_eq(es->refusal, LOGIN_REFUSE_NAME);
	cr_assert(es->by_peer);
	cr_assert_str_eq(es->text, "same node name as the master: both are named 'pbx-a'");
	pthread_mutex_unlock(&mu);
	destroy(s);
	destroy(m);
}

Test(link, a_second_standby_is_refused_while_one_is_logged_in)
{
	struct rec rm = { 0 }, rb = { 0 }, rc = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *b = standby(&rb, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	struct link *c;

	cr_assert(WAIT(count(&rb, LINK_EV_LOGGED_IN) == 1));
	c = standby(&rc, "pbx-c", PASSWORD, tmpdirs[2], &ma);
	cr_assert(WAIT(count(&rc, LINK_EV_REFUSED) >= 1));
	pthread_mutex_lock(&mu);
	struct ev *ec = first(&rc, LINK_EV_REFUSED);
	cr_assert_eq(ec->refusal, LOGIN_REFUSE_BUSY);
	cr_assert(ec->by_peer);
	cr_assert(strstr(ec->text, "another standby is logged in: 'pbx-b'"), "%s", ec->text);
	struct ev *em = first(&rm, LINK_EV_REFUSED);
	cr_assert_not_null(em);
	cr_assert_eq(em->refusal, LOGIN_REFUSE_BUSY);
	cr_assert_str_eq(em->peer_name, "pbx-c");
	/* The first standby is untouched. */
	cr_assert_eq(count(&rm, LINK_EV_LOST), 0);
	cr_assert_eq(count(&rb, LINK_EV_LOST), 0);
	pthread_mutex_unlock(&mu);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.state, LINK_UP);
	cr_assert_str_eq(mi.peer_name, "pbx-b");
	destroy(c);
	destroy(b);
	destroy(m);
}

Test(link, the_same_standby_logging_in_again_replaces_its_old_session)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	struct raw r;
	uint8_t buf[512], type;
	uint32_t len;

	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1));
	/* The "same" standby, from a new connection (as after a restart whose
	 * old connection the master has not noticed yet). */
	destroy(s);
	cr_assert(WAIT(count(&rm, LINK_EV_LOST) == 1));
	s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 2));
	derive_right_key();
	raw_client(&r, &ma, tmpdirs[2]);
	raw_login_as_standby(&r, "pbx-b", "pbx-a");
	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 3 && count(&rm, LINK_EV_LOST) == 2));
	/* The old session is reported lost (replaced), then the new one in. */
	pthread_mutex_lock(&mu);
	int i = 0;
	while (i < rm.nev && !(rm.ev[i].kind == LINK_EV_LOST &&
			       rm.ev[i].reason == LINK_CLOSE_REPLACED))
		i++;
	cr_assert_lt(i + 1, rm.nev, "no replacement reported");
	cr_assert_eq(rm.ev[i + 1].kind, LINK_EV_LOGGED_IN);
	cr_assert_str_eq(rm.ev[i + 1].peer_name, "pbx-b");
	pthread_mutex_unlock(&mu);
	/* The replaced standby was told why. */
	cr_assert(WAIT(count(&rs, LINK_EV_LOST) >= 1));
	pthread_mutex_lock(&mu);
	struct ev *es = first(&rs, LINK_EV_LOST);
	cr_assert_eq(es->reason, LINK_CLOSE_PEER_GOODBYE);
	cr_assert(strstr(es->text, "replaced"), "%s", es->text);
	pthread_mutex_unlock(&mu);
	destroy(s);
	/* Drain what the master sent the raw standby until it is closed. */
	while (raw_read_frame(&r, &type, buf, sizeof(buf), &len))
		if (type == FRAME_GOODBYE)
			break;
	raw_close(&r);
	destroy(m);
}

Test(link, a_master_that_cannot_prove_the_password_is_refused_by_the_standby)
{
	struct rec rs = { 0 };
	union tdm_addr fa;
	int lfd = raw_listen(&fa);
	struct link *s;
	struct raw r = { .fd = -1 };
	struct login_key wrong;
	struct login_transcript t;
	uint8_t payload[1024], proof[LOGIN_PROOF_LEN];
	struct msg_hello h;
	struct msg_reason why;
	struct frame_err e;
	uint32_t len;

	/* The fake master knows another password. */
	cr_assert_eq(login_key_derive("guess", 5, &wrong), 0);
	raw_ctx(&r, true, tmpdirs[2]);
	s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &fa);
	raw_server(&r, lfd);
	len = raw_expect(&r, FRAME_HELLO, payload, sizeof(payload));
	cr_assert_eq(msg_hello_decode(FRAME_HELLO, payload, len, &h, &e), 0);
	cr_assert(tstr_eq(h.name, TSTR_LIT("pbx-b")));
	memcpy(t.nonce_s, h.nonce, sizeof(t.nonce_s));
	memset(t.nonce_m, 0x33, sizeof(t.nonce_m));
	raw_send_hello(&r, FRAME_CHALLENGE, "pbx-a", t.nonce_m);
	len = raw_expect(&r, FRAME_PROOF, payload, sizeof(payload));
	/* Answer with a proof made from another password. */
	cr_assert_eq(tls_exporter(r.ssl, t.exporter, sizeof(t.exporter)), 0);
	t.standby_name = TSTR_LIT("pbx-b");
	t.master_name = TSTR_LIT("pbx-a");
	cr_assert_eq(login_proof(&wrong, LOGIN_SIDE_MASTER, &t, proof), 0);
	raw_send_proof(&r, FRAME_LOGIN_OK, proof, LINK_ROLE_ACTIVE, 1);
	len = raw_expect(&r, FRAME_LOGIN_REFUSED, payload, sizeof(payload));
	cr_assert_eq(msg_reason_decode(FRAME_LOGIN_REFUSED, payload, len, &why, &e), 0);
	cr_assert_eq(why.code, LOGIN_REFUSE_MASTER_PROOF);

	cr_assert(WAIT(count(&rs, LINK_EV_REFUSED) == 1));
	pthread_mutex_lock(&mu);
	struct ev *es = first(&rs, LINK_EV_REFUSED);
	cr_assert_eq(es->refusal, LOGIN_REFUSE_MASTER_PROOF);
	cr_assert_not(es->by_peer);
	cr_assert_str_eq(es->text, "the master does not know the PBX password (or the "
			 "connection is intercepted)");
	cr_assert_eq(count(&rs, LINK_EV_LOGGED_IN), 0);
	pthread_mutex_unlock(&mu);
	raw_close(&r);
	destroy(s);
	close(lfd);
}

/* ---- loss and reconnection ----------------------------------------------------- */

Test(link, the_standby_reports_a_departed_master_and_finds_the_next_one)
{
	struct rec rm = { 0 }, rs = { 0 }, rm2 = { 0 };
	union tdm_addr ma, ma2;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	struct link_params p;
	struct link *m2 = NULL;
	char err[512];
	uint64_t gone;

	cr_assert(WAIT(count(&rs, LINK_EV_LOGGED_IN) == 1));
	gone = clock_mono_ms();
	destroy(m);
	cr_assert(WAIT(count(&rs, LINK_EV_LOST) == 1));
	pthread_mutex_lock(&mu);
	struct ev *e = first(&rs, LINK_EV_LOST);
	/* At once (the master said goodbye), not after the loss timeout. */
	cr_assert_leq(e->at_ms - gone, 600, "lost after %llu ms",
		      (unsigned long long)(e->at_ms - gone));
	cr_assert_eq(e->reason, LINK_CLOSE_PEER_GOODBYE);
	cr_assert(strstr(e->text, "the master is shutting down"), "%s", e->text);
	pthread_mutex_unlock(&mu);

	/* While there is no master, attempts fail (and are reported). */
	cr_assert(WAIT(count(&rs, LINK_EV_CLOSED) >= 2));
	pthread_mutex_lock(&mu);
	cr_assert_eq(first(&rs, LINK_EV_CLOSED)->reason, LINK_CLOSE_CONNECT_FAILED);
	pthread_mutex_unlock(&mu);
	struct link_info si = info_of(s);
	cr_assert_neq(si.state, LINK_UP);
	cr_assert_eq(si.counters.losses, 1);
	cr_assert_geq(si.counters.connect_failures, 2);

	/* A new master on the same address is found within the backoff cap. */
	p = params(true, "pbx-a", PASSWORD, &ma, tmpdirs[0], &rm2);
	cr_assert_eq(create(&p, &m2, err, sizeof(err)), 0, "%s", err);
	link_local_addr(m2, &ma2);
	cr_assert(addr_equal(&ma, &ma2));
	uint64_t back = clock_mono_ms();
	cr_assert(WAIT(count(&rs, LINK_EV_LOGGED_IN) == 2));
	pthread_mutex_lock(&mu);
	uint64_t took = rs.ev[rs.nev - 1].at_ms - back;
	pthread_mutex_unlock(&mu);
	cr_assert_leq(took, LINK_BACKOFF_MAX_MS * 5 / 4 + 1000, "found after %llu ms",
		      (unsigned long long)took);
	destroy(s);
	destroy(m2);
}

Test(link, a_silent_master_is_lost_after_loss_timeout_and_the_standby_reconnects)
{
	struct rec rs = { 0 };
	union tdm_addr fa;
	int lfd = raw_listen(&fa);
	struct link *s;
	struct raw r = { .fd = -1 };
	struct login_transcript t;
	uint8_t payload[1024], proof[LOGIN_PROOF_LEN];
	struct msg_hello h;
	struct frame_err e;
	uint32_t len;
	uint64_t silent;

	loss_ms = LOSS_MS;
	derive_right_key();
	raw_ctx(&r, true, tmpdirs[2]);
	s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &fa);
	raw_server(&r, lfd);
	len = raw_expect(&r, FRAME_HELLO, payload, sizeof(payload));
	cr_assert_eq(msg_hello_decode(FRAME_HELLO, payload, len, &h, &e), 0);
	memcpy(t.nonce_s, h.nonce, sizeof(t.nonce_s));
	memset(t.nonce_m, 0x44, sizeof(t.nonce_m));
	raw_send_hello(&r, FRAME_CHALLENGE, "pbx-a", t.nonce_m);
	raw_expect(&r, FRAME_PROOF, payload, sizeof(payload));
	cr_assert_eq(tls_exporter(r.ssl, t.exporter, sizeof(t.exporter)), 0);
	t.standby_name = TSTR_LIT("pbx-b");
	t.master_name = TSTR_LIT("pbx-a");
	cr_assert_eq(login_proof(&right_key, LOGIN_SIDE_MASTER, &t, proof), 0);
	raw_send_proof(&r, FRAME_LOGIN_OK, proof, LINK_ROLE_ACTIVE, 4);
	silent = clock_mono_ms();
	/* The fake master now says nothing more. */
	cr_assert(WAIT(count(&rs, LINK_EV_LOGGED_IN) == 1));
	cr_assert(WAIT(count(&rs, LINK_EV_LOST) == 1));
	pthread_mutex_lock(&mu);
	struct ev *ev = first(&rs, LINK_EV_LOST);
	uint64_t after = ev->at_ms - silent;
	cr_assert_eq(ev->reason, LINK_CLOSE_TIMEOUT);
	cr_assert(strstr(ev->text, "nothing received from 127.0.0.1:"), "%s", ev->text);
	cr_assert_eq(first(&rs, LINK_EV_LOGGED_IN)->epoch, 4);
	pthread_mutex_unlock(&mu);
	cr_assert_geq(after, LOSS_MS - 10, "lost after %llu ms", (unsigned long long)after);
	cr_assert_leq(after, LOSS_MS + 1000, "lost after %llu ms", (unsigned long long)after);

	/* ...and comes back: a new connection to the same address. */
	raw_close_conn(&r);
	raw_server(&r, lfd);
	raw_expect(&r, FRAME_HELLO, payload, sizeof(payload));
	raw_close(&r);
	destroy(s);
	close(lfd);
}

Test(link, a_silent_standby_is_lost_by_the_master)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m;
	struct raw r;
	uint8_t payload[1024], type;
	uint32_t len;
	uint64_t silent;
	struct msg_reason why;
	struct frame_err e;

	loss_ms = LOSS_MS;
	m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	derive_right_key();
	raw_client(&r, &ma, tmpdirs[2]);
	raw_login_as_standby(&r, "pbx-z", "pbx-a");
	silent = clock_mono_ms();
	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1));
	cr_assert(WAIT(count(&rm, LINK_EV_LOST) == 1));
	pthread_mutex_lock(&mu);
	struct ev *ev = first(&rm, LINK_EV_LOST);
	uint64_t after = ev->at_ms - silent;
	cr_assert_eq(ev->reason, LINK_CLOSE_TIMEOUT);
	cr_assert_str_eq(ev->peer_name, "pbx-z");
	pthread_mutex_unlock(&mu);
	cr_assert_geq(after, LOSS_MS - 10);
	cr_assert_leq(after, LOSS_MS + 1000);
	/* The master said goodbye with the reason before closing. */
	for (;;) {
		cr_assert(raw_read_frame(&r, &type, payload, sizeof(payload), &len));
		if (type == FRAME_GOODBYE)
			break;
		cr_assert_eq(type, FRAME_HEARTBEAT);
	}
	cr_assert_eq(msg_reason_decode(type, payload, len, &why, &e), 0);
	cr_assert_eq(why.code, LINK_CLOSE_TIMEOUT);
	cr_assert_not(raw_read_frame(&r, &type, payload, sizeof(payload), &len),
		      "closed after the goodbye");
	raw_close(&r);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.state, LINK_DOWN);
	cr_assert_eq(mi.counters.losses, 1);
	cr_assert_str_eq(mi.peer_name, "pbx-z");
	destroy(m);
}

/* ---- hostile and broken clients ------------------------------------------------------ */

Test(link, a_garbage_frame_closes_the_connection_and_is_counted)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct raw r;
	uint8_t payload[1024], type;
	uint32_t len;
	struct msg_reason why;
	struct frame_err e;

	raw_client(&r, &ma, tmpdirs[2]);
	raw_write(&r, "GET / HTTP/1.0\r\n\r\n", 18);
	cr_assert(raw_read_frame(&r, &type, payload, sizeof(payload), &len));
	cr_assert_eq(type, FRAME_GOODBYE);
	cr_assert_eq(msg_reason_decode(type, payload, len, &why, &e), 0);
	cr_assert_eq(why.code, LINK_CLOSE_MALFORMED);
	cr_assert(tstr_eq(tstr_sub(why.text, 0, 15), TSTR_LIT("malformed frame")));
	cr_assert_not(raw_read_frame(&r, &type, payload, sizeof(payload), &len));
	raw_close(&r);

	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	pthread_mutex_lock(&mu);
	struct ev *ev = first(&rm, LINK_EV_CLOSED);
	cr_assert_eq(ev->reason, LINK_CLOSE_MALFORMED);
	cr_assert(strstr(ev->text, "frame header: magic 0x47, expected 0x54"), "%s", ev->text);
	pthread_mutex_unlock(&mu);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.counters.bad_frames, 1);
	cr_assert_eq(mi.counters.connects, 1);
	cr_assert_eq(mi.state, LINK_DOWN);
	cr_assert_eq(mi.pending, 0);
	destroy(m);
}

Test(link, an_oversized_login_frame_is_refused_before_its_payload)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct raw r;
	/* A HELLO header announcing 1 MiB: an unauthenticated peer may not
	 * make the master buffer that much. */
	static const uint8_t h[] = { 0x54, 1, FRAME_HELLO, 0, 0x00, 0x10, 0x00, 0x00 };
	uint8_t payload[1024], type;
	uint32_t len;

	raw_client(&r, &ma, tmpdirs[2]);
	raw_write(&r, h, sizeof(h));
	cr_assert(raw_read_frame(&r, &type, payload, sizeof(payload), &len));
	cr_assert_eq(type, FRAME_GOODBYE);
	raw_close(&r);
	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	pthread_mutex_lock(&mu);
	cr_assert(strstr(first(&rm, LINK_EV_CLOSED)->text, "at most 32768 here"), "%s",
		  first(&rm, LINK_EV_CLOSED)->text);
	pthread_mutex_unlock(&mu);
	destroy(m);
}

Test(link, an_application_frame_before_login_is_a_protocol_error)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct raw r;
	static const uint8_t f[] = { 0x54, 1, 0x40, 0, 0, 0, 0, 1, 0xaa };
	uint8_t payload[1024], type;
	uint32_t len;

	raw_client(&r, &ma, tmpdirs[2]);
	raw_write(&r, f, sizeof(f));
	cr_assert(raw_read_frame(&r, &type, payload, sizeof(payload), &len));
	cr_assert_eq(type, FRAME_GOODBYE);
	raw_close(&r);
	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	pthread_mutex_lock(&mu);
	struct ev *ev = first(&rm, LINK_EV_CLOSED);
	cr_assert_eq(ev->reason, LINK_CLOSE_PROTOCOL);
	cr_assert(strstr(ev->text, "APP(0x40) during login (hello)"), "%s", ev->text);
	cr_assert_eq(rm.frames, 0);
	pthread_mutex_unlock(&mu);
	destroy(m);
}

Test(link, a_client_that_never_starts_tls_is_closed_after_the_login_timeout)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	int fd = tcp_connect(&ma);
	uint64_t t0 = clock_mono_ms();
	char c;
	ssize_t n = recv(fd, &c, 1, 0);
	uint64_t took = clock_mono_ms() - t0;

	cr_assert_eq(n, 0, "closed by the master (recv: %zd, %s)", n, strerror(errno));
	cr_assert_geq(took, LOGIN_MS - 20, "closed after %llu ms", (unsigned long long)took);
	cr_assert_leq(took, LOGIN_MS + 1500, "closed after %llu ms", (unsigned long long)took);
	close(fd);
	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	pthread_mutex_lock(&mu);
	cr_assert_eq(first(&rm, LINK_EV_CLOSED)->reason, LINK_CLOSE_LOGIN_TIMEOUT);
	pthread_mutex_unlock(&mu);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.counters.login_timeouts, 1);
	destroy(m);
}

Test(link, a_client_speaking_plain_text_fails_the_tls_handshake)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	int fd = tcp_connect(&ma);
	char buf[256];

	cr_assert_eq(send(fd, "HELLO pbx-b\r\n\r\n", 15, MSG_NOSIGNAL), 15);
	/* Whatever the master answers (a TLS alert), it then closes. */
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	pthread_mutex_lock(&mu);
	struct ev *ev = first(&rm, LINK_EV_CLOSED);
	cr_assert(ev->reason == LINK_CLOSE_TLS_ERROR || ev->reason == LINK_CLOSE_PEER_CLOSED,
		  "reason %d: %s", ev->reason, ev->text);
	cr_assert(strstr(ev->text, "TLS handshake with 127.0.0.1:"), "%s", ev->text);
	pthread_mutex_unlock(&mu);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.counters.handshake_failures, 1);
	destroy(m);
}

Test(link, a_flood_of_idle_connections_does_not_lock_the_standby_out)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m;
	struct link *s;
	int fds[LINK_MAX_PENDING + 1];
	char c;

	/* Idle connections that stay pending for the whole test. */
	login_ms = 10000;
	m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	for (int i = 0; i <= LINK_MAX_PENDING; i++)
		fds[i] = tcp_connect(&ma);
	/* One too many: the oldest is dropped at once, not at its timeout. */
	uint64_t t0 = clock_mono_ms();
	cr_assert_eq(recv(fds[0], &c, 1, 0), 0);
	cr_assert_lt(clock_mono_ms() - t0, 2000);
	cr_assert(WAIT(count(&rm, LINK_EV_CLOSED) == 1));
	cr_assert_eq(LOCKED(first(&rm, LINK_EV_CLOSED)->reason), LINK_CLOSE_EVICTED);
	/* With the idle ones still there, the real standby gets in. */
	s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	cr_assert(WAIT(count(&rs, LINK_EV_LOGGED_IN) == 1));
	struct link_info mi = info_of(m);
	cr_assert_geq(mi.counters.rejected, 2);
	cr_assert_eq(mi.state, LINK_UP);
	for (int i = 0; i <= LINK_MAX_PENDING; i++)
		close(fds[i]);
	destroy(s);
	destroy(m);
}

/* ---- application frames ------------------------------------------------------------------ */

struct send_req {
	struct link *l;
	uint8_t type;
	uint8_t *payload;
	uint32_t len;
	int rc, rc2;
	size_t queued;
};

static void do_send_twice(void *arg)
{
	struct send_req *q = arg;

	q->rc = link_send(q->l, q->type, q->payload, q->len);
	q->queued = link_queued(q->l);
	q->rc2 = link_send(q->l, q->type, q->payload, q->len);
}

static void do_send(void *arg)
{
	struct send_req *q = arg;

	q->rc = link_send(q->l, q->type, q->payload, q->len);
	q->queued = link_queued(q->l);
}

static int send_on_loop(struct link *l, uint8_t type, uint32_t len, size_t *queued)
{
	struct send_req q = { .l = l, .type = type, .len = len };

	q.payload = malloc(len ? len : 1);
	cr_assert_not_null(q.payload);
	for (uint32_t i = 0; i < len; i++)
		q.payload[i] = (uint8_t)(i * 31 + len);
	on_loop(do_send, &q);
	free(q.payload);
	if (queued)
		*queued = q.queued;
	return q.rc;
}

Test(link, application_frames_travel_both_ways_after_login_only)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s;

	cr_assert_eq(send_on_loop(m, 0x40, 10, NULL), -ENOTCONN);
	s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1 && count(&rs, LINK_EV_LOGGED_IN) == 1));

	cr_assert_eq(send_on_loop(m, 0x41, 1000, NULL), 0);
	cr_assert(WAIT(rs.frames == 1));
	pthread_mutex_lock(&mu);
	cr_assert_eq(rs.frame_type, 0x41);
	cr_assert_eq(rs.frame_len, 1000);
	cr_assert(rs.frame_pattern_ok);
	pthread_mutex_unlock(&mu);

	cr_assert_eq(send_on_loop(s, 0x7f, 0, NULL), 0);
	cr_assert(WAIT(rm.frames == 1));
	cr_assert_eq(LOCKED(rm.frame_type), 0x7f);
	cr_assert_eq(LOCKED(rm.frame_len), 0);

	/* 1 MiB in one frame: many TLS records, reassembled. */
	cr_assert_eq(send_on_loop(m, 0x50, 1u << 20, NULL), 0);
	cr_assert(WAIT(rs.frames == 2));
	pthread_mutex_lock(&mu);
	cr_assert_eq(rs.frame_len, 1u << 20);
	cr_assert(rs.frame_pattern_ok);
	pthread_mutex_unlock(&mu);

	/* The link's own types and reserved ones are not the application's. */
	cr_assert_eq(send_on_loop(m, FRAME_HEARTBEAT, 1, NULL), -EINVAL);
	cr_assert_eq(send_on_loop(m, 0x80, 1, NULL), -EINVAL);
	cr_assert_eq(send_on_loop(m, 0x40, FRAME_MAX_PAYLOAD + 1, NULL), -EMSGSIZE);
	destroy(s);
	destroy(m);
}

Test(link, a_full_queue_refuses_and_on_writable_follows_the_drain)
{
	struct rec rm = { 0 }, rs = { 0 };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);
	size_t queued;

	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1 && count(&rs, LINK_EV_LOGGED_IN) == 1));
	/* Two maximal frames do not fit the default 32 MiB queue at once (both
	 * sends in one loop turn, so nothing is written in between). */
	struct send_req q = { .l = m, .type = 0x42, .len = FRAME_MAX_PAYLOAD };
	q.payload = malloc(q.len);
	cr_assert_not_null(q.payload);
	for (uint32_t i = 0; i < q.len; i++)
		q.payload[i] = (uint8_t)(i * 31 + q.len);
	on_loop(do_send_twice, &q);
	free(q.payload);
	cr_assert_eq(q.rc, 0);
	cr_assert_eq(q.rc2, -ENOBUFS);
	queued = q.queued;
	cr_assert_eq(queued, FRAME_HEADER_LEN + FRAME_MAX_PAYLOAD);
	/* 16 MiB through TLS on one (sanitized, maybe shared) core: give it
	 * time; what matters is that it arrives and nothing is lost. */
	cr_assert(WAIT_FOR(rm.writable >= 1 || count(&rm, LINK_EV_LOST), 4 * WAIT_MS));
	cr_assert_eq(LOCKED(count(&rm, LINK_EV_LOST) + count(&rs, LINK_EV_LOST)), 0,
		     "master: %s / standby: %s",
		     rm.nev ? rm.ev[rm.nev - 1].text : "", rs.nev ? rs.ev[rs.nev - 1].text : "");
	cr_assert_eq(send_on_loop(m, 0x43, FRAME_MAX_PAYLOAD, NULL), 0);
	cr_assert(WAIT_FOR(rs.frames == 2, 4 * WAIT_MS));
	pthread_mutex_lock(&mu);
	cr_assert_eq(rs.frame_type, 0x43);
	cr_assert_eq(rs.frame_len, FRAME_MAX_PAYLOAD);
	cr_assert(rs.frame_pattern_ok);
	pthread_mutex_unlock(&mu);
	struct link_info mi = info_of(m);
	cr_assert_eq(mi.counters.send_refused, 1);
	cr_assert_eq(mi.counters.losses, 0);
	destroy(s);
	destroy(m);
}

Test(link, the_application_can_drop_a_peer_that_sent_a_bad_payload)
{
	struct rec rm = { 0 }, rs = { .drop_on_frame = true };
	union tdm_addr ma;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link *s = standby(&rs, "pbx-b", PASSWORD, tmpdirs[1], &ma);

	cr_assert(WAIT(count(&rm, LINK_EV_LOGGED_IN) == 1 && count(&rs, LINK_EV_LOGGED_IN) == 1));
	cr_assert_eq(send_on_loop(m, 0x44, 16, NULL), 0);
	cr_assert(WAIT(count(&rs, LINK_EV_LOST) == 1 && count(&rm, LINK_EV_LOST) == 1));
	pthread_mutex_lock(&mu);
	cr_assert_eq(first(&rs, LINK_EV_LOST)->reason, LINK_CLOSE_APP);
	cr_assert_str_eq(first(&rs, LINK_EV_LOST)->text, "bad snapshot chunk");
	cr_assert_eq(first(&rm, LINK_EV_LOST)->reason, LINK_CLOSE_PEER_GOODBYE);
	cr_assert(strstr(first(&rm, LINK_EV_LOST)->text, "bad snapshot chunk"), "%s",
		  first(&rm, LINK_EV_LOST)->text);
	rs.drop_on_frame = false;
	pthread_mutex_unlock(&mu);
	struct link_info si = info_of(s);
	cr_assert_eq(si.counters.bad_frames, 1);
	/* The standby reconnects as after any loss. */
	cr_assert(WAIT(count(&rs, LINK_EV_LOGGED_IN) == 2));
	destroy(s);
	destroy(m);
}

/* ---- start-up: identity files and errors ---------------------------------------------------- */

static void file_of(const char *dir, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strdup(buf);
}

Test(link, the_identity_is_generated_once_and_reused)
{
	struct rec rm = { 0 };
	union tdm_addr ma;
	char key[PATH_MAX], cert[PATH_MAX];
	struct stat st;
	struct link *m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link_info first_info = info_of(m);
	char *k1, *c1, *k2, *c2;

	file_of(tmpdirs[0], "tls.key", key);
	file_of(tmpdirs[0], "tls.crt", cert);
	cr_assert_eq(stat(key, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(stat(cert, &st), 0);
	k1 = slurp(key);
	c1 = slurp(cert);
	cr_assert(strstr(k1, "-----BEGIN EC PRIVATE KEY-----"), "%s", k1);
	cr_assert(strstr(c1, "-----BEGIN CERTIFICATE-----"));
	destroy(m);

	m = master(&rm, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	k2 = slurp(key);
	c2 = slurp(cert);
	cr_assert_str_eq(k1, k2);
	cr_assert_str_eq(c1, c2);
	cr_assert_str_eq(info_of(m).fingerprint, first_info.fingerprint);
	destroy(m);
	free(k1);
	free(c1);
	free(k2);
	free(c2);
}

Test(link, a_key_without_its_certificate_gets_a_new_certificate)
{
	char key[PATH_MAX], cert[PATH_MAX], err[512];
	bool gen;
	char *k1;
	struct tls_ctx *t;

	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)), 0);
	cr_assert(gen);
	k1 = slurp(key);
	unlink(cert);
	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)),
		     0, "%s", err);
	cr_assert(gen);
	char *k2 = slurp(key);
	cr_assert_str_eq(k1, k2, "the key is kept");
	cr_assert_eq(tls_ctx_create(true, cert, key, &t, err, sizeof(err)), 0, "%s", err);
	tls_ctx_destroy(t);
	/* Both present: nothing is written. */
	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)), 0);
	cr_assert_not(gen);
	free(k1);
	free(k2);
}

Test(link, a_certificate_without_its_key_is_a_start_up_error)
{
	char key[PATH_MAX], cert[PATH_MAX], err[512];
	bool gen;

	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)), 0);
	unlink(key);
	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)),
		     TDM_ECONFIG);
	cr_assert(strstr(err, cert) && strstr(err, "exists without its key"), "%s", err);
	cr_assert(access(cert, F_OK) == 0, "the certificate is not deleted");
}

Test(link, a_corrupt_certificate_is_a_start_up_error_naming_the_file)
{
	struct rec r = { 0 };
	union tdm_addr a = loopback(0);
	char key[PATH_MAX], cert[PATH_MAX], err[512];
	struct link_params p = params(true, "pbx-a", PASSWORD, &a, tmpdirs[0], &r);
	struct link *l = NULL;
	bool gen;
	FILE *f;

	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert, key, &gen, err, sizeof(err)), 0);
	f = fopen(cert, "w");
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert_null(l);
	cr_assert(strstr(err, cert) && strstr(err, "not a usable PEM certificate"), "%s", err);
}

Test(link, a_key_that_does_not_match_the_certificate_is_a_start_up_error)
{
	struct rec r = { 0 };
	union tdm_addr a = loopback(0);
	char key0[PATH_MAX], cert0[PATH_MAX], key1[PATH_MAX], cert1[PATH_MAX], err[512];
	struct link_params p = params(true, "pbx-a", PASSWORD, &a, tmpdirs[0], &r);
	struct link *l = NULL;
	bool gen;

	cr_assert_eq(tls_identity_ensure(tmpdirs[0], "pbx-a", cert0, key0, &gen, err, sizeof(err)), 0);
	cr_assert_eq(tls_identity_ensure(tmpdirs[1], "pbx-b", cert1, key1, &gen, err, sizeof(err)), 0);
	p.tls_cert = cert0;
	p.tls_key = key1;
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "does not match"), "%s", err);
	cr_assert(strstr(err, key1) && strstr(err, cert0), "%s", err);

	/* The matching pair, given explicitly, is fine. */
	p.tls_key = key0;
	cr_assert_eq(create(&p, &l, err, sizeof(err)), 0, "%s", err);
	destroy(l);
}

Test(link, a_missing_key_file_is_named)
{
	struct rec r = { 0 };
	union tdm_addr a = loopback(0);
	char err[512];
	struct link_params p = params(true, "pbx-a", PASSWORD, &a, tmpdirs[0], &r);
	struct link *l = NULL;

	p.tls_cert = "/nonexistent/tandem.crt";
	p.tls_key = "/nonexistent/tandem.key";
	cr_assert_eq(create(&p, &l, err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "TLS certificate /nonexistent/tandem.crt: cannot open: "
			 "No such file or directory");
	p.tls_key = NULL;
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "tls_cert and tls_key go together"), "%s", err);
}

Test(link, an_unwritable_data_dir_is_a_start_up_error_naming_the_path)
{
	struct rec r = { 0 };
	union tdm_addr a = loopback(0);
	char err[512];
	struct link_params p = params(true, "pbx-a", PASSWORD, &a, "/nonexistent/dir", &r);
	struct link *l = NULL;

	cr_assert_lt(create(&p, &l, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent/dir/tls.key"), "%s", err);
}

Test(link, a_listen_address_in_use_is_a_start_up_error)
{
	struct rec r1 = { 0 }, r2 = { 0 };
	union tdm_addr ma;
	struct link *m = master(&r1, "pbx-a", PASSWORD, tmpdirs[0], NULL, &ma);
	struct link_params p = params(true, "pbx-a", PASSWORD, &ma, tmpdirs[0], &r2);
	struct link *l = NULL;
	char err[512], want[256], as[TDM_ADDR_STRLEN];

	cr_assert_eq(create(&p, &l, err, sizeof(err)), -EADDRINUSE);
	snprintf(want, sizeof(want), "link: cannot listen on %s: address already in use "
		 "(is another tandemd running?)", addr_format(&ma, as, sizeof(as)));
	cr_assert_str_eq(err, want);
	destroy(m);
}

Test(link, bad_parameters_are_refused_with_a_reason)
{
	struct rec r = { 0 };
	union tdm_addr a = loopback(0);
	char err[512];
	struct link_params p = params(false, "pbx-b", PASSWORD, &a, tmpdirs[0], &r);
	struct link *l = NULL;

	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert_str_eq(err, "link: the master's address needs an IP and a port");
	p = params(true, "pbx-a", "", &a, tmpdirs[0], &r);
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "password"), "%s", err);
	p = params(true, "_ACTIVE_", PASSWORD, &a, tmpdirs[0], &r);
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert(strstr(err, "'_ACTIVE_' is not valid"), "%s", err);
	p = params(true, "pbx-a", PASSWORD, &a, tmpdirs[0], &r);
	p.heartbeat_interval_ms = 500;
	p.loss_timeout_ms = 500;
	cr_assert_eq(create(&p, &l, err, sizeof(err)), TDM_ECONFIG);
	cr_assert_str_eq(err, "link: loss timeout (500 ms) must be longer than the "
			 "heartbeat interval (500 ms)");
	cr_assert_null(l);
	link_destroy(NULL);
}
