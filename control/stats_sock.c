/* SPDX-License-Identifier: MIT */
/*
 * The stats socket (see stats_sock.h): a unix stream listener on the
 * control loop and its clients.
 *
 * Per client: an input buffer cut into lines (at most STATS_LINE_MAX bytes
 * each, "\r\n" accepted), each line run through the cli in order, and an
 * output buffer written without blocking (EPOLLOUT while some is pending).
 * Limits that keep one client from hurting the others or the node:
 *   - while more than STATS_OUT_SOFT bytes of answers wait for a client, its
 *     commands are not run and its input is not read; input is also not
 *     read while complete commands already received wait to run (so
 *     pipelining never grows memory without bound, input or output);
 *   - one answer larger than STATS_ANSWER_MAX is replaced by an error;
 *   - a client that takes none of its pending output for STATS_STALL_MS is
 *     disconnected;
 *   - at most STATS_MAX_CLIENTS clients; one more gets an error line and is
 *     closed.
 * Commands already received are run as the client takes its answers: while
 * some wait, EPOLLOUT is watched even with no output pending, so the next
 * turn runs them (input alone cannot be relied on: a pipelining client
 * that sent everything and now only reads never makes its socket readable
 * again).
 * Protocol-level refusals (line too long, NUL byte, too many clients) are
 * text answers "error: ...". At end of input the remaining answers are
 * still delivered before the connection is closed, so
 * `printf 'show role\n' | socat - UNIX-CONNECT:...` works.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "stats_sock.h"

#define STATS_LINE_MAX 4096
#define STATS_MAX_CLIENTS 256
#define STATS_OUT_SOFT ((size_t)1 << 20)
#define STATS_ANSWER_MAX ((size_t)64 << 20)
#define STATS_KEEP_CAP ((size_t)256 << 10)   /* buffer memory kept when idle */
#define STATS_STALL_MS 30000
#define STATS_READ_CHUNK 16384
#define STATS_ACCEPT_BURST 64
#define STATS_ACCEPT_PAUSE_MS 100
#define STATS_LOG_EVERY_MS 10000
#define STATS_BACKLOG 128

struct client {
	struct stats_sock *s;
	int fd;
	uint32_t events;            /* registered with the loop */
	bool eof;                   /* no more input: answer, then close */
	bool closing;               /* refused: flush the error, then close */
	bool dead;                  /* out of memory: close at once */
	struct dbuf in;
	struct dbuf out;
	size_t out_off;             /* bytes of out already sent */
	struct loop_timer stall;
	struct client *prev, *next;
};

struct stats_sock {
	struct loop *loop;
	struct cli *cli;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct client *clients;
	unsigned nclients;
	struct loop_timer accept_pause;
	uint64_t warned_ms;         /* last warning logged */
	unsigned unlogged;          /* warnings suppressed since */
};

/*
 * Client trouble is logged at most once per STATS_LOG_EVERY_MS, so a
 * misbehaving client (or a loop of them) cannot flood the log.
 */
static void warn_limited(struct stats_sock *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn_limited(struct stats_sock *s, const char *fmt, ...)
{
	uint64_t now = loop_now_ms(s->loop);
	char msg[256];
	va_list ap;

	if (s->warned_ms && now - s->warned_ms < STATS_LOG_EVERY_MS) {
		s->unlogged++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->unlogged)
		log_warn("stats", "%s (and %u similar events not logged)", msg, s->unlogged);
	else
		log_warn("stats", "%s", msg);
	s->warned_ms = now;
	s->unlogged = 0;
}

static size_t pending(const struct client *c)
{
	return c->out.len - c->out_off;
}

static void client_free(struct client *c)
{
	struct stats_sock *s = c->s;

	loop_timer_stop(s->loop, &c->stall);
	loop_del_fd(s->loop, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nclients--;
	dbuf_free(&c->in);
	dbuf_free(&c->out);
	free(c);
}

static void on_stall(struct loop *l, void *arg)
{
	struct client *c = arg;

	warn_limited(c->s, "client took no output for %d s (%zu bytes pending): disconnected",
		     STATS_STALL_MS / 1000, pending(c));
	client_free(c);
}

/* Send what can be sent now. Returns 0, or -errno when the client is gone. */
static int client_flush(struct client *c)
{
	struct loop *l = c->s->loop;
	bool progress = false;

	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->out_off += (size_t)n;
		progress = true;
	}
	if (c->out_off == c->out.len) {
		c->out_off = 0;
		if (c->out.cap > STATS_KEEP_CAP)
			dbuf_free(&c->out);
		else
			dbuf_reset(&c->out);
		loop_timer_stop(l, &c->stall);
		return 0;
	}
	/* Drop what was sent once it is most of the buffer (amortised O(1)). */
	if (c->out_off > c->out.len / 2) {
		dbuf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	if (progress || !c->stall.armed)
		loop_timer_start(l, &c->stall, STATS_STALL_MS, on_stall, c);
	return 0;
}

static void answer_error(struct client *c, const char *msg)
{
	dbuf_printf(&c->out, "error: %s\n\n", msg);
}

static void run_line(struct client *c, const char *line)
{
	size_t before = c->out.len;
	size_t size;

	cli_execute(c->s->cli, line, &c->out);
	if (c->out.oom) {
		warn_limited(c->s, "out of memory answering a client: disconnected");
		c->dead = true;
		return;
	}
	size = c->out.len - before;
	if (size > STATS_ANSWER_MAX) {
		char msg[128];

		c->out.len = before;
		c->out.data[before] = '\0';
		snprintf(msg, sizeof(msg), "answer too large (%zu bytes, at most %zu MiB)",
			 size, STATS_ANSWER_MAX >> 20);
		answer_error(c, msg);
		warn_limited(c->s, "refused an answer of %zu bytes (limit %zu MiB)", size,
			     STATS_ANSWER_MAX >> 20);
	}
}

/*
 * The next line to run in c->in from offset start: *len is its length
 * without the '\n', *used with it. A line that can only get longer than
 * allowed is returned as it is, to be refused at once; at end of input the
 * last line needs no '\n'. Returns false when no line is complete yet.
 */
static bool next_line(const struct client *c, size_t start, size_t *len, size_t *used)
{
	size_t avail = c->in.len - start;
	const char *line, *nl;

	if (!avail)
		return false;     /* (and data may be NULL) */
	line = c->in.data + start;
	nl = memchr(line, '\n', avail);
	if (nl) {
		*len = (size_t)(nl - line);
		*used = *len + 1;
		return true;
	}
	if (avail > STATS_LINE_MAX + 1 || c->eof) {
		*len = avail;
		*used = avail;
		return true;
	}
	return false;
}

/* Received commands wait to run (for room in the output). */
static bool has_work(const struct client *c)
{
	size_t len, used;

	return !c->closing && !c->dead && next_line(c, 0, &len, &used);
}

/* Run the complete lines received, in order, while the output has room. */
static void client_process(struct client *c)
{
	struct dbuf *in = &c->in;
	size_t start = 0, len, used;

	while (!c->closing && !c->dead && pending(c) < STATS_OUT_SOFT &&
	       next_line(c, start, &len, &used)) {
		char *line = in->data + start;

		if (len && line[len - 1] == '\r')
			len--;
		if (len > STATS_LINE_MAX) {
			dbuf_printf(&c->out, "error: line too long (at most %d bytes)\n\n",
				    STATS_LINE_MAX);
			warn_limited(c->s, "client sent a line longer than %d bytes: closing",
				     STATS_LINE_MAX);
			c->closing = true;
			break;
		}
		if (memchr(line, '\0', len)) {
			answer_error(c, "line contains a NUL byte");
		} else {
			/* Over the '\r', '\n', or the buffer's own terminator. */
			line[len] = '\0';
			run_line(c, line);
		}
		start += used;
	}
	if (c->closing)
		dbuf_reset(in);
	else
		dbuf_consume(in, start);
}

static int client_read(struct client *c)
{
	char buf[STATS_READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0) {
		dbuf_put(&c->in, buf, (size_t)n);
		return c->in.oom ? -ENOMEM : 0;
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -errno;
}

/*
 * Watch what the client needs next. Returns false if it is done (freed).
 *
 * Input is read only when everything received so far has run and the
 * output has room. Commands still waiting (because the output was over
 * STATS_OUT_SOFT when they came up) are run on the next EPOLLOUT, which is
 * watched for them even when all output went out already: the client may
 * have sent its last byte long ago, so no EPOLLIN would ever come.
 */
static bool client_update(struct client *c)
{
	bool work = has_work(c);
	uint32_t want = 0;

	if (!c->eof && !c->closing && !work && pending(c) < STATS_OUT_SOFT)
		want |= EPOLLIN;
	if (pending(c) || work)
		want |= EPOLLOUT;
	if (!want) {
		client_free(c);
		return false;
	}
	if (want != c->events) {
		if (loop_mod_fd(c->s->loop, c->fd, want) < 0) {
			client_free(c);
			return false;
		}
		c->events = want;
	}
	return true;
}

static void on_client(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct client *c = arg;

	if ((events & EPOLLOUT) && client_flush(c) < 0)
		goto drop;
	if (c->events & EPOLLIN) {
		if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && client_read(c) < 0)
			goto drop;
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		/* Gone while we were not reading: nobody takes the answers. */
		goto drop;
	}
	client_process(c);
	if (c->dead || client_flush(c) < 0)
		goto drop;
	client_update(c);
	return;
drop:
	client_free(c);
}

/* Tell a connection we cannot serve why, best effort, and close it. */
static void refuse(struct stats_sock *s, int fd, const char *why)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "error: %s\n\n", why);

	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* Nothing more to do for it. */
	}
	close(fd);
	warn_limited(s, "refused a client: %s", why);
}

static int client_add(struct stats_sock *s, int fd)
{
	struct client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->fd = fd;
	c->events = EPOLLIN;
	dbuf_init(&c->in);
	dbuf_init(&c->out);
	r = loop_add_fd(s->loop, fd, EPOLLIN, on_client, c);
	if (r < 0) {
		free(c);
		return r;
	}
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->nclients++;
	return 0;
}

static void on_accept_resume(struct loop *l, void *arg)
{
	struct stats_sock *s = arg;

	if (loop_mod_fd(l, s->fd, EPOLLIN) < 0)
		log_err("stats", "cannot resume accepting clients");
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct stats_sock *s = arg;

	for (int i = 0; i < STATS_ACCEPT_BURST; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int r;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The connection stays queued; retrying at once
				 * would spin. Pause the listener a little. */
				warn_limited(s, "cannot accept a client: %s", strerror(errno));
				if (loop_mod_fd(l, fd, 0) == 0)
					loop_timer_start(l, &s->accept_pause,
							 STATS_ACCEPT_PAUSE_MS,
							 on_accept_resume, s);
			}
			return;
		}
		if (s->nclients >= STATS_MAX_CLIENTS) {
			char why[64];

			snprintf(why, sizeof(why), "too many clients (at most %d)",
				 STATS_MAX_CLIENTS);
			refuse(s, cfd, why);
			continue;
		}
		r = client_add(s, cfd);
		if (r < 0)
			refuse(s, cfd, r == -EMFILE ? "too many open files" : tdm_strerror(r));
	}
}

/* mkdir -p of path's directory, mode 0755 for what is created. */
static int make_parent_dirs(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	struct stat st;

	if (!slash || slash == path)
		return 0;
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0755) == 0) {
			/* 0755 whatever the umask: tandemctl users must reach
			 * the socket; the socket's own mode guards it. */
			if (chmod(dir, 0755) < 0)
				return -errno;
		} else {
			if (errno != EEXIST)
				return -errno;
			if (stat(dir, &st) < 0)
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		}
		if (i < n)
			dir[i] = '/';
	}
	return 0;
}

/*
 * Make the path free for bind(): nothing there, or a socket nobody listens
 * on (left by a process that died), which is removed. A live socket is
 * -EADDRINUSE; anything that is not a socket is -EEXIST and left alone.
 */
static int claim_path(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	r = r == 0 ? 0 : errno;
	close(fd);
	switch (r) {
	case 0:
	case EAGAIN:      /* alive, its backlog is full */
		return -EADDRINUSE;
	case ECONNREFUSED:
		if (unlink(sa->sun_path) < 0 && errno != ENOENT)
			return -errno;
		log_info("stats", "removed stale socket %s", sa->sun_path);
		return 0;
	case ENOENT:
		return 0;
	default:
		return -r;
	}
}

struct stats_sock *stats_sock_open(struct loop *l, const char *path,
				   struct cli *cli, int *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	struct stats_sock *s = NULL;
	bool bound = false;
	struct stat st;
	int r;

	if (n == 0) {
		r = -EINVAL;
		goto fail;
	}
	if (n >= sizeof(sa.sun_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, path, n + 1);
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto fail;
	}
	s->loop = l;
	s->cli = cli;
	s->fd = -1;
	memcpy(s->path, path, n + 1);

	r = make_parent_dirs(path);
	if (r < 0)
		goto fail;
	r = claim_path(&sa);
	if (r < 0)
		goto fail;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail_errno;
	if (bind(s->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail_errno;
	bound = true;
	/* Before listen(): nobody can connect while the mode is still the
	 * umask's. */
	if (chmod(path, 0660) < 0 || stat(path, &st) < 0)
		goto fail_errno;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->fd, STATS_BACKLOG) < 0)
		goto fail_errno;
	r = loop_add_fd(l, s->fd, EPOLLIN, on_accept, s);
	if (r < 0)
		goto fail;
	log_info("stats", "stats socket listening on %s", path);
	return s;

fail_errno:
	r = -errno;
fail:
	if (s) {
		if (s->fd >= 0)
			close(s->fd);
		if (bound)
			unlink(path);
		free(s);
	}
	if (err)
		*err = r;
	return NULL;
}

void stats_sock_close(struct stats_sock *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	loop_timer_stop(s->loop, &s->accept_pause);
	loop_del_fd(s->loop, s->fd);
	close(s->fd);
	/* Only our own socket: never one a successor has bound meanwhile. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}
