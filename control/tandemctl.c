/* SPDX-License-Identifier: MIT */
/*
 * tandemctl: the command-line client of the stats socket.
 *
 *   tandemctl [-s SOCKET] [--timeout SECONDS] COMMAND WORDS...
 *   COMMANDS | tandemctl [-s SOCKET] [--timeout SECONDS]
 *
 * Sends one command line, reads the answer up to the empty line that ends
 * it, and prints it without that empty line. With no command and stdin not
 * a terminal, runs every line of stdin (blank lines and '#' comments are
 * skipped) over one connection; answers are separated by an empty line.
 *
 * Exit status: 0 every command answered, 1 a command was refused (its
 * "error: ..." or {"error":...} answer goes to stderr), 2 no answer at all
 * (usage error, cannot connect, timeout, connection lost).
 *
 * Only libc: this binary links the common code and nothing else.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define DEFAULT_SOCKET "/run/tandem/tandem.sock"
#define DEFAULT_TIMEOUT_S 10.0
#define LINE_MAX_BYTES 4096             /* the stats socket's line limit */
#define ANSWER_MAX ((size_t)256 << 20)  /* far above the server's 64 MiB */

enum {
	EXIT_ANSWERED = 0,
	EXIT_REFUSED = 1,
	EXIT_FAILED = 2,
};

struct conn {
	int fd;
	const char *path;
	double timeout_s;
	char *buf;          /* received bytes not yet handed out */
	size_t len, cap;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tandemctl [-s SOCKET] [--timeout SECONDS] COMMAND [WORDS...]\n"
		"       COMMANDS | tandemctl [-s SOCKET] [--timeout SECONDS]\n"
		"\n"
		"Send a command to tandemd's stats socket and print the answer.\n"
		"Add \"json\" after a command for JSON output; 'tandemctl help' lists\n"
		"the commands. Without a command, each line of stdin is a command.\n"
		"\n"
		"Options:\n"
		"  -s, --socket SOCKET  the stats socket (default: $TANDEM_SOCKET,\n"
		"                       else " DEFAULT_SOCKET ")\n"
		"  --timeout SECONDS    give up when an answer takes longer (default 10)\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 answered, 1 a command was refused (the error goes to\n"
		"stderr), 2 no answer (cannot connect, timeout, connection lost, usage).\n");
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("tandemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILED);
}

static uint64_t deadline_after(double seconds)
{
	return clock_mono_ms() + (uint64_t)(seconds * 1000.0);
}

/* Milliseconds left until deadline for poll(), 0 when it has passed. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = clock_mono_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
}

static void conn_open(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = deadline_after(c->timeout_s);
	size_t n = strlen(c->path);
	const char *hint = "";

	if (n == 0 || n >= sizeof(sa.sun_path))
		fail("cannot connect to %s: socket path %s", c->path,
		     n ? "too long" : "empty");
	memcpy(sa.sun_path, c->path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		fail("cannot create a socket: %s", strerror(errno));
	/* A unix connect does not go in progress: it succeeds, fails, or finds
	 * the listener's backlog full (EAGAIN), which is worth a short retry. */
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if ((e == EAGAIN || e == EINTR) && ms_left(deadline) > 0) {
			poll(NULL, 0, 10);
			continue;
		}
		if (e == EAGAIN)
			fail("cannot connect to %s: tandemd is too busy (no room within %g s)",
			     c->path, c->timeout_s);
		if (e == ENOENT || e == ECONNREFUSED)
			hint = " (is tandemd running?)";
		else if (e == EACCES || e == EPERM)
			hint = " (run as root or as a member of the socket's group)";
		fail("cannot connect to %s: %s%s", c->path, strerror(e), hint);
	}
}

static void conn_send(struct conn *c, const char *data, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			fail("lost the connection to %s: %s", c->path, strerror(errno));
		if (poll(&p, 1, ms_left(deadline)) == 0)
			fail("no answer from %s within %g s", c->path, c->timeout_s);
	}
}

/*
 * Read one answer: the bytes before the empty line that ends it (each line
 * with its '\n'). Returns its length; the answer starts at c->buf and the
 * caller drops it with conn_consume(c, len).
 */
static size_t conn_answer(struct conn *c, uint64_t deadline, size_t *consumed)
{
	size_t scanned = 0;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (c->len && c->buf[0] == '\n') {
			*consumed = 1;
			return 0;
		}
		for (size_t i = scanned ? scanned - 1 : 0; i + 1 < c->len; i++) {
			if (c->buf[i] == '\n' && c->buf[i + 1] == '\n') {
				*consumed = i + 2;
				return i + 1;
			}
		}
		scanned = c->len;

		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? 2 * c->cap : 131072;
			char *b;

			if (cap > ANSWER_MAX)
				fail("answer from %s larger than %zu MiB", c->path,
				     ANSWER_MAX >> 20);
			b = realloc(c->buf, cap);
			if (!b)
				fail("out of memory");
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0)
			fail("%s closed the connection before the answer was complete",
			     c->path);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fail("lost the connection to %s: %s", c->path, strerror(errno));
		if (poll(&p, 1, ms_left(deadline)) == 0)
			fail("no answer from %s within %g s", c->path, c->timeout_s);
	}
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static bool is_error_answer(const char *a, size_t len)
{
	return (len >= 7 && memcmp(a, "error: ", 7) == 0) ||
	       (len >= 9 && memcmp(a, "{\"error\":", 9) == 0);
}

static void write_out(FILE *f, const char *data, size_t len)
{
	if ((len && fwrite(data, 1, len, f) != len) || fflush(f) != 0)
		fail("cannot write the answer: %s", strerror(errno));
}

/*
 * Send one command line and print its answer. *printed says whether an
 * answer already went to stdout (answers after the first are preceded by
 * an empty line). Returns EXIT_ANSWERED or EXIT_REFUSED.
 */
static int run(struct conn *c, const char *line, size_t len, bool *printed)
{
	uint64_t deadline = deadline_after(c->timeout_s);
	size_t alen, consumed;
	int status;

	conn_send(c, line, len, deadline);
	conn_send(c, "\n", 1, deadline);
	alen = conn_answer(c, deadline, &consumed);
	if (is_error_answer(c->buf, alen)) {
		write_out(stderr, c->buf, alen);
		status = EXIT_REFUSED;
	} else {
		if (*printed && alen)
			write_out(stdout, "\n", 1);
		write_out(stdout, c->buf, alen);
		*printed = *printed || alen;
		status = EXIT_ANSWERED;
	}
	conn_consume(c, consumed);
	return status;
}

/* Words joined by spaces; a word with blanks or quotes (or empty) quoted. */
static char *join_words(char **words, int n, size_t *len)
{
	size_t cap = 1;
	char *line, *p;

	for (int i = 0; i < n; i++)
		cap += 2 * strlen(words[i]) + 3;
	line = malloc(cap);
	if (!line)
		fail("out of memory");
	p = line;
	for (int i = 0; i < n; i++) {
		const char *w = words[i];
		bool quote = w[0] == '\0' || strpbrk(w, " \t\r\v\f\"") != NULL;

		if (strchr(w, '\n'))
			fail("a command word cannot contain a line break");
		if (i)
			*p++ = ' ';
		if (!quote) {
			p = stpcpy(p, w);
			continue;
		}
		*p++ = '"';
		for (; *w; w++) {
			if (*w == '"' || *w == '\\')
				*p++ = '\\';
			*p++ = *w;
		}
		*p++ = '"';
	}
	*p = '\0';
	*len = (size_t)(p - line);
	return line;
}

/* Send one command and return its answer as a NUL-terminated copy (the
 * caller frees it); *refused tells whether it was an error answer. */
static char *query(struct conn *c, const char *line, bool *refused)
{
	uint64_t deadline = deadline_after(c->timeout_s);
	size_t alen, consumed;
	char *a;

	conn_send(c, line, strlen(line), deadline);
	conn_send(c, "\n", 1, deadline);
	alen = conn_answer(c, deadline, &consumed);
	a = malloc(alen + 1);
	if (!a)
		fail("out of memory");
	memcpy(a, c->buf, alen);
	a[alen] = '\0';
	*refused = is_error_answer(a, alen);
	conn_consume(c, consumed);
	return a;
}

/* The value of "key: value" in a text answer (at the top level), or "". */
static void answer_value(const char *a, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	out[0] = '\0';
	for (const char *p = a; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':' && p[klen + 1] == ' ') {
			const char *v = p + klen + 2, *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);
			if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
				v++;
				n -= 2;
			}
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
	}
}

/*
 * tandemctl user import FILE: the node reads the file itself (its absolute
 * path is sent) and imports it on its job thread; this polls the import's
 * status, shows a progress line on stderr and ends with the outcome. All
 * or nothing: a refused file changes nothing, and the answer names the
 * line of the first bad row.
 */
static int run_import(struct conn *c, const char *file)
{
	char path[PATH_MAX], *line, *a, state[32], v[64], total[32];
	bool refused, tty = isatty(STDERR_FILENO);
	int status = EXIT_ANSWERED;

	if (!realpath(file, path))
		fail("%s: %s", file, strerror(errno));
	line = join_words((char *[]){ "user", "import", path }, 3, &(size_t){ 0 });
	a = query(c, line, &refused);
	free(line);
	if (refused) {
		fputs(a, stderr);
		free(a);
		return EXIT_REFUSED;
	}
	free(a);
	for (;;) {
		poll(NULL, 0, 200);
		a = query(c, "user import status", &refused);
		if (refused) {
			fputs(a, stderr);
			free(a);
			return EXIT_REFUSED;
		}
		answer_value(a, "state", state, sizeof(state));
		answer_value(a, "rows_read", v, sizeof(v));
		answer_value(a, "rows_in_file", total, sizeof(total));
		if (strcmp(state, "running") == 0) {
			fprintf(stderr, "%simporting %s: %s of %s rows%s", tty ? "\r" : "", path, v,
				total, tty ? "" : "\n");
			fflush(stderr);
			free(a);
			continue;
		}
		/* The last progress line, also for an import too quick to
		 * have shown one. */
		fprintf(stderr, "%simporting %s: %s of %s rows\n", tty ? "\r" : "", path, v, total);
		if (strcmp(state, "done") == 0) {
			write_out(stdout, a, strlen(a));
		} else {
			char err[1024];
			answer_value(a, "error", err, sizeof(err));
			fprintf(stderr, "error: import refused, nothing changed: %s\n",
				err[0] ? err : state);
			status = EXIT_REFUSED;
		}
		free(a);
		return status;
	}
}

static int run_stdin(struct conn *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	bool printed = false;
	int status = EXIT_ANSWERED;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		size_t len = (size_t)n;
		size_t skip = strspn(line, " \t\r\n");

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (skip >= len || line[skip] == '#')
			continue;
		if (len > LINE_MAX_BYTES || memchr(line, '\0', len)) {
			fprintf(stderr, "tandemctl: line %u: %s\n", lineno,
				len > LINE_MAX_BYTES ? "command longer than 4096 bytes"
						     : "command contains a NUL byte");
			status = EXIT_REFUSED;
			continue;
		}
		if (c->fd < 0)
			conn_open(c);
		if (run(c, line, len, &printed) != EXIT_ANSWERED)
			status = EXIT_REFUSED;
	}
	if (ferror(stdin))
		fail("cannot read stdin: %s", strerror(errno));
	free(line);
	return status;
}

static double parse_timeout(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400)
		fail("--timeout wants seconds, more than 0 and at most 86400 (got '%s')", s);
	return v;
}

int main(int argc, char **argv)
{
	struct conn c = { .fd = -1, .timeout_s = DEFAULT_TIMEOUT_S };
	const char *env = getenv("TANDEM_SOCKET");
	int i = 1, status;

	c.path = env && env[0] ? env : DEFAULT_SOCKET;
	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return EXIT_ANSWERED;
		} else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0 ||
			   strcmp(a, "--timeout") == 0) {
			if (i + 1 >= argc)
				fail("%s needs a value (try --help)", a);
			if (strcmp(a, "--timeout") == 0)
				c.timeout_s = parse_timeout(argv[i + 1]);
			else
				c.path = argv[i + 1];
			i += 2;
		} else if (strncmp(a, "--socket=", 9) == 0) {
			c.path = a + 9;
			i++;
		} else if (strncmp(a, "--timeout=", 10) == 0) {
			c.timeout_s = parse_timeout(a + 10);
			i++;
		} else if (strncmp(a, "-s", 2) == 0) {
			c.path = a + 2;
			i++;
		} else {
			fprintf(stderr, "tandemctl: unknown option '%s'\n\n", a);
			usage(stderr);
			return EXIT_FAILED;
		}
	}

	if (i == argc) {
		if (isatty(STDIN_FILENO)) {
			usage(stderr);
			return EXIT_FAILED;
		}
		status = run_stdin(&c);
	} else if (argc - i == 3 && strcmp(argv[i], "user") == 0 &&
		   strcmp(argv[i + 1], "import") == 0 && strcmp(argv[i + 2], "status") != 0) {
		/* An import may run for minutes: the timeout is per answer. */
		conn_open(&c);
		status = run_import(&c, argv[i + 2]);
	} else {
		bool printed = false;
		size_t len;
		char *line = join_words(argv + i, argc - i, &len);

		if (len > LINE_MAX_BYTES)
			fail("command longer than %d bytes", LINE_MAX_BYTES);
		conn_open(&c);
		status = run(&c, line, len, &printed);
		free(line);
	}
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	return status;
}
