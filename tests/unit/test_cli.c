/* SPDX-License-Identifier: MIT */
/*
 * Tests of control/cli.c (command tables, word splitting, dispatch, help,
 * errors) and control/stats_sock.c (the unix socket on a real control loop
 * running in its own thread, with real clients).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "cli.h"
#include "clock.h"
#include "loop.h"
#include "stats_sock.h"

/* ---- test commands --------------------------------------------------------- */

struct calls {
	int n;
	int argc;
	char argv[CLI_MAX_ARGS][64];
	enum out_format fmt;
	const char *which;
};

static void record(struct calls *c, const char *which, int argc, char **argv,
		   struct out *o)
{
	c->n++;
	c->which = which;
	c->argc = argc;
	c->fmt = o->fmt;
	for (int i = 0; i < argc && i < CLI_MAX_ARGS; i++)
		snprintf(c->argv[i], sizeof(c->argv[i]), "%s", argv[i]);
	cr_assert_null(argv[argc], "argv is NULL-terminated");
}

static void h_show(void *ctx, int argc, char **argv, struct out *o)
{
	record(ctx, "show", argc, argv, o);
	out_str(o, "what", argc ? argv[0] : "everything");
}

static void h_show_role(void *ctx, int argc, char **argv, struct out *o)
{
	record(ctx, "show role", argc, argv, o);
	out_str(o, "role", "master");
	out_u64(o, "epoch", 4);
}

static void h_show_regs(void *ctx, int argc, char **argv, struct out *o)
{
	record(ctx, "show registrations", argc, argv, o);
	if (argc > 1) {
		out_error(o, "usage: show registrations [AOR]");
		return;
	}
	out_list_begin(o, "registrations");
	for (int i = 0; i < argc; i++)
		out_str(o, NULL, argv[i]);
	out_list_end(o);
}

static void h_silent(void *ctx, int argc, char **argv, struct out *o)
{
	record(ctx, "silent", argc, argv, o);
}

static const struct cli_cmd show_cmds[] = {
	{ "show role", "", "role and epoch", h_show_role },
	{ "show registrations", "[AOR]", "bindings, all or of one AOR", h_show_regs },
};

static const struct cli_cmd other_cmds[] = {
	{ "show", "[WHAT]", "anything", h_show },
	{ "silent", "", "answers nothing", h_silent },
};

static struct cli *make_cli(struct calls *calls)
{
	struct cli *c = cli_create();

	cr_assert_not_null(c);
	cr_assert_eq(cli_register(c, show_cmds, 2, calls), 0);
	return c;
}

/* Run line; the caller frees the answer. */
static char *exec(struct cli *c, const char *line)
{
	struct dbuf b;
	char *s;

	dbuf_init(&b);
	cli_execute(c, line, &b);
	cr_assert(!b.oom);
	cr_assert_not_null(b.data);
	s = strdup(b.data);
	dbuf_free(&b);
	return s;
}

static void assert_answer(struct cli *c, const char *line, const char *want)
{
	char *got = exec(c, line);

	cr_assert_str_eq(got, want, "line '%s'", line);
	free(got);
}

/* ---- cli ---------------------------------------------------------------------- */

Test(cli, runs_a_registered_command_and_ends_the_answer_with_one_empty_line)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show role", "role: master\nepoch: 4\n\n");
	cr_assert_eq(calls.n, 1);
	cr_assert_str_eq(calls.which, "show role");
	cr_assert_eq(calls.argc, 0);
	cr_assert_eq(calls.fmt, OUT_TEXT);
	cli_destroy(c);
}

Test(cli, matches_the_longest_registered_prefix_and_passes_the_rest_as_arguments)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	cr_assert_eq(cli_register(c, other_cmds, 2, &calls), 0);
	assert_answer(c, "show role", "role: master\nepoch: 4\n\n");
	cr_assert_str_eq(calls.which, "show role");
	assert_answer(c, "show roles", "what: roles\n\n");
	cr_assert_str_eq(calls.which, "show");
	cr_assert_eq(calls.argc, 1);
	assert_answer(c, "show registrations sip:alice@example.com",
		      "registrations:\n  - sip:alice@example.com\n\n");
	cr_assert_str_eq(calls.which, "show registrations");
	cr_assert_str_eq(calls.argv[0], "sip:alice@example.com");
	assert_answer(c, "show", "what: everything\n\n");
	cr_assert_str_eq(calls.which, "show");
	cr_assert_eq(calls.argc, 0);
	cli_destroy(c);
}

Test(cli, matches_command_words_case_insensitively_and_ignores_extra_blanks)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "  SHOW\t Role \r", "role: master\nepoch: 4\n\n");
	cr_assert_eq(calls.n, 1);
	cli_destroy(c);
}

Test(cli, trailing_json_selects_json_and_is_not_an_argument)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show role json", "{\"role\":\"master\",\"epoch\":4}\n\n");
	cr_assert_eq(calls.fmt, OUT_JSON);
	cr_assert_eq(calls.argc, 0);
	assert_answer(c, "show registrations sip:a@b JSON",
		      "{\"registrations\":[\"sip:a@b\"]}\n\n");
	cr_assert_eq(calls.argc, 1);
	cr_assert_str_eq(calls.argv[0], "sip:a@b");
	cli_destroy(c);
}

Test(cli, a_quoted_json_is_an_argument_not_the_format_switch)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show registrations \"json\"", "registrations:\n  - json\n\n");
	cr_assert_eq(calls.fmt, OUT_TEXT);
	cr_assert_eq(calls.argc, 1);
	cli_destroy(c);
}

Test(cli, double_quotes_group_words_and_backslash_escapes_inside_them)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	char *a;

	a = exec(c, "show registrations \"sip:a b@x\"");
	cr_assert_eq(calls.argc, 1);
	cr_assert_str_eq(calls.argv[0], "sip:a b@x");
	free(a);

	a = exec(c, "show registrations \"\"");
	cr_assert_eq(calls.argc, 1);
	cr_assert_str_eq(calls.argv[0], "");
	free(a);

	a = exec(c, "show registrations \"a\\\"b\\\\c\\d\"");
	cr_assert_str_eq(calls.argv[0], "a\"b\\c\\d");
	free(a);

	/* Outside quotes a backslash is an ordinary character; quotes in the
	 * middle of a word join its parts. */
	a = exec(c, "show registrations x\\y\"1 2\"z");
	cr_assert_eq(calls.argc, 1);
	cr_assert_str_eq(calls.argv[0], "x\\y1 2z");
	free(a);
	cli_destroy(c);
}

Test(cli, refuses_an_unterminated_quote_and_too_many_words)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	char line[256] = "show registrations";

	assert_answer(c, "show registrations \"sip:a", "error: unterminated quote\n\n");
	for (int i = 2; i < CLI_MAX_ARGS; i++)
		strcat(line, " w");
	assert_answer(c, line, "error: usage: show registrations [AOR]\n\n");
	strcat(line, " w");
	assert_answer(c, line, "error: too many words (at most 16)\n\n");
	cr_assert_eq(calls.n, 1, "only the 16-word line reached the handler");
	cli_destroy(c);
}

Test(cli, reports_an_unknown_command_with_a_hint)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "shwo role", "error: unknown command 'shwo role' (try 'help')\n\n");
	assert_answer(c, "shwo  role json",
		      "{\"error\":\"unknown command 'shwo role' (try 'help')\"}\n\n");
	assert_answer(c, "json", "error: unknown command 'json' (try 'help')\n\n");
	cr_assert_eq(calls.n, 0);
	cli_destroy(c);
}

Test(cli, reports_an_incomplete_command_with_a_hint)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show", "error: incomplete command 'show' (try 'help show')\n\n");
	cli_destroy(c);
}

Test(cli, refuses_arguments_to_a_command_that_takes_none)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show role now",
		      "error: 'show role' takes no arguments (try 'help show role')\n\n");
	cr_assert_eq(calls.n, 0);
	cli_destroy(c);
}

Test(cli, a_handler_refusal_replaces_its_answer_in_both_formats)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "show registrations a b", "error: usage: show registrations [AOR]\n\n");
	assert_answer(c, "show registrations a b json",
		      "{\"error\":\"usage: show registrations [AOR]\"}\n\n");
	cli_destroy(c);
}

Test(cli, a_blank_line_or_an_empty_text_answer_is_the_empty_line_alone)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	cr_assert_eq(cli_register(c, other_cmds, 2, &calls), 0);
	assert_answer(c, "", "\n");
	assert_answer(c, " \t ", "\n");
	assert_answer(c, "silent", "\n");
	cr_assert_eq(calls.n, 1);
	assert_answer(c, "silent json", "{}\n\n");
	cli_destroy(c);
}

Test(cli, appends_answers_after_what_the_buffer_already_holds)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	struct dbuf b;

	dbuf_init(&b);
	cli_execute(c, "show role", &b);
	cli_execute(c, "nope", &b);
	cli_execute(c, "show role json", &b);
	cr_assert_str_eq(b.data, "role: master\nepoch: 4\n\n"
				 "error: unknown command 'nope' (try 'help')\n\n"
				 "{\"role\":\"master\",\"epoch\":4}\n\n");
	dbuf_free(&b);
	cli_destroy(c);
}

Test(cli, help_lists_every_registered_command_in_aligned_columns)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "help",
		      "help                [COMMAND]  list the commands (or those starting with COMMAND)\n"
		      "show role                      role and epoch\n"
		      "show registrations  [AOR]      bindings, all or of one AOR\n"
		      "Add \"json\" after a command for JSON output.\n"
		      "\n");
	cr_assert_eq(calls.n, 0);
	cli_destroy(c);
}

Test(cli, help_lists_commands_of_later_tables_too_and_filters_by_prefix)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	char *a;

	cr_assert_eq(cli_register(c, other_cmds, 2, &calls), 0);
	a = exec(c, "help");
	cr_assert_not_null(strstr(a, "\nsilent "));
	cr_assert_not_null(strstr(a, "\nshow "));
	free(a);
	assert_answer(c, "help show r",
		      "show role                  role and epoch\n"
		      "show registrations  [AOR]  bindings, all or of one AOR\n"
		      "Add \"json\" after a command for JSON output.\n"
		      "\n");
	assert_answer(c, "help shwo", "error: no command starts with 'shwo'\n\n");
	cli_destroy(c);
}

Test(cli, help_in_json_is_a_list_of_commands)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);

	assert_answer(c, "help show role json",
		      "{\"commands\":[{\"command\":\"show role\",\"args\":\"\","
		      "\"help\":\"role and epoch\"}]}\n\n");
	cli_destroy(c);
}

Test(cli, register_refuses_duplicates_and_malformed_entries)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	static const struct cli_cmd dup[] = { { "SHOW  role", "", "again", h_show } };
	static const struct cli_cmd help[] = { { "help", "", "mine", h_show } };
	static const struct cli_cmd twice[] = { { "a b", "", "", h_show }, { "a  b", "", "", h_show } };
	static const struct cli_cmd empty[] = { { "  ", "", "", h_show } };
	static const struct cli_cmd nohandler[] = { { "x", "", "", NULL } };
	static const struct cli_cmd quote[] = { { "x \"y\"", "", "", h_show } };

	cr_assert_eq(cli_register(c, dup, 1, &calls), -EEXIST);
	cr_assert_eq(cli_register(c, help, 1, &calls), -EEXIST);
	cr_assert_eq(cli_register(c, twice, 2, &calls), -EEXIST);
	cr_assert_eq(cli_register(c, empty, 1, &calls), -EINVAL);
	cr_assert_eq(cli_register(c, nohandler, 1, &calls), -EINVAL);
	cr_assert_eq(cli_register(c, quote, 1, &calls), -EINVAL);
	/* Nothing of a refused table was registered. */
	assert_answer(c, "a b", "error: unknown command 'a b' (try 'help')\n\n");
	assert_answer(c, "show role", "role: master\nepoch: 4\n\n");
	cr_assert_str_eq(calls.which, "show role");
	cli_destroy(c);
	cli_destroy(NULL);
}

Test(cli, hostile_lines_always_get_exactly_one_well_formed_answer)
{
	struct calls calls = { 0 };
	struct cli *c = make_cli(&calls);
	static const char alphabet[] = "show role registrations json \"\\\t\xff\x01";
	uint64_t x = 88172645463325252ull;

	for (int n = 0; n < 2000; n++) {
		char line[64];
		size_t len = (size_t)(n % 63);
		char *a, *end;

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			line[i] = alphabet[x % (sizeof(alphabet) - 1)];
		}
		line[len] = '\0';
		a = exec(c, line);
		end = strstr(a, "\n\n");
		if (strcmp(a, "\n") != 0) {
			cr_assert_not_null(end, "line '%s' answer '%s'", line, a);
			cr_assert_eq(end[2], '\0', "exactly one empty line, at the end: '%s'", a);
			cr_assert_neq(a[0], '\n');
		}
		free(a);
	}
	cli_destroy(c);
}

/* ---- stats socket: a loop thread and real clients ------------------------------ */

struct server {
	char dir[64];
	char path[160];
	struct loop *loop;
	struct cli *cli;
	struct stats_sock *sock;
	pthread_t thread;
	bool running;
};

static void h_echo(void *ctx, int argc, char **argv, struct out *o)
{
	out_list_begin(o, "words");
	for (int i = 0; i < argc; i++)
		out_str(o, NULL, argv[i]);
	out_list_end(o);
}

/* "big N": about N bytes of text, lines of 99 'x' and a newline. */
static void h_big(void *ctx, int argc, char **argv, struct out *o)
{
	char line[100];
	unsigned long n = argc ? strtoul(argv[0], NULL, 10) : 0;

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (unsigned long i = 0; i < n / sizeof(line); i++)
		out_raw(o, line, sizeof(line));
}

static const struct cli_cmd sock_cmds[] = {
	{ "echo", "[WORDS...]", "the words back", h_echo },
	{ "big", "BYTES", "a large answer", h_big },
};

static void *loop_thread(void *arg)
{
	struct server *srv = arg;

	rcu_register_thread();
	loop_run(srv->loop);
	rcu_unregister_thread();
	return NULL;
}

static void server_init(struct server *srv, const char *sub)
{
	memset(srv, 0, sizeof(*srv));
	strcpy(srv->dir, "/tmp/tandem-cli-XXXXXX");
	cr_assert_not_null(mkdtemp(srv->dir));
	snprintf(srv->path, sizeof(srv->path), "%s/%s", srv->dir, sub);
	srv->loop = loop_create();
	cr_assert_not_null(srv->loop);
	srv->cli = cli_create();
	cr_assert_not_null(srv->cli);
	cr_assert_eq(cli_register(srv->cli, sock_cmds, 2, NULL), 0);
}

static void server_run(struct server *srv)
{
	cr_assert_eq(pthread_create(&srv->thread, NULL, loop_thread, srv), 0);
	srv->running = true;
}

static void server_start(struct server *srv, const char *sub)
{
	int err = 0;

	server_init(srv, sub);
	srv->sock = stats_sock_open(srv->loop, srv->path, srv->cli, &err);
	cr_assert_not_null(srv->sock, "open: %s", strerror(-err));
	server_run(srv);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(p);
	return 0;
}

static void server_stop(struct server *srv)
{
	if (srv->running) {
		loop_stop(srv->loop);
		pthread_join(srv->thread, NULL);
	}
	stats_sock_close(srv->sock);
	cli_destroy(srv->cli);
	loop_destroy(srv->loop);
	nftw(srv->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct client {
	int fd;
	char *buf;
	size_t off, len, cap;   /* buf[off..len) is read and not yet taken */
};

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void client_open(struct client *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->fd = unix_connect(path);
	cr_assert_geq(c->fd, 0, "connect: %s", strerror(-c->fd));
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static void client_send(struct client *c, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static void client_sends(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/* Read more within timeout_ms; returns bytes read, 0 on EOF, -1 on timeout. */
static ssize_t client_fill(struct client *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off + 1);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->cap - c->len < 65536) {
		c->cap = c->cap ? 2 * c->cap : 131072;
		c->buf = realloc(c->buf, c->cap + 1);
		cr_assert_not_null(c->buf);
	}
	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n < 0 && errno == ECONNRESET)
		return 0;
	cr_assert_geq(n, 0, "recv: %s", strerror(errno));
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return n;
}

/*
 * The next answer without its empty line; the caller frees it. Taking an
 * answer costs its own length, not the length of what was read after it.
 */
static char *client_answer(struct client *c)
{
	uint64_t deadline = clock_mono_ms() + 20000;
	size_t scanned = 0;    /* bytes after off already searched */

	for (;;) {
		char *p = c->buf + c->off;
		size_t avail = c->len - c->off;
		size_t alen = 0, used = 0;
		char *a;

		if (avail && p[0] == '\n') {
			used = 1;
		} else if (avail) {
			size_t from = scanned ? scanned - 1 : 0;
			char *e = memmem(p + from, avail - from, "\n\n", 2);
			if (e) {
				alen = (size_t)(e - p) + 1;
				used = alen + 1;
			}
			scanned = avail;
		}
		if (used) {
			a = strndup(p, alen);
			cr_assert_not_null(a);
			c->off += used;
			if (c->off == c->len)
				c->off = c->len = 0;
			return a;
		}
		cr_assert_lt(clock_mono_ms(), deadline, "no complete answer in time");
		cr_assert_gt(client_fill(c, 20000), 0, "connection closed mid-answer: '%s'",
			     c->buf ? c->buf + c->off : "");
	}
}

static void assert_next_answer(struct client *c, const char *want)
{
	char *a = client_answer(c);

	cr_assert_str_eq(a, want);
	free(a);
}

/* The server closed the connection (after everything it sent was read). */
static void assert_closed(struct client *c)
{
	ssize_t n;

	while ((n = client_fill(c, 10000)) > 0)
		;
	cr_assert_eq(n, 0, "the server closes the connection");
}

Test(stats_sock, answers_several_commands_of_one_write_in_order)
{
	struct server srv;
	struct client c;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_sends(&c, "echo a\necho b json\nnope\n\necho c\n");
	assert_next_answer(&c, "words:\n  - a\n");
	assert_next_answer(&c, "{\"words\":[\"b\"]}\n");
	assert_next_answer(&c, "error: unknown command 'nope' (try 'help')\n");
	assert_next_answer(&c, "");
	assert_next_answer(&c, "words:\n  - c\n");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, assembles_a_command_split_over_several_writes)
{
	struct server srv;
	struct client c;
	const char *parts[] = { "ec", "ho sp", "lit ", "line\r", "\n" };

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	for (unsigned i = 0; i < 5; i++) {
		client_sends(&c, parts[i]);
		usleep(20000);
		if (i < 4)
			cr_assert_eq(client_fill(&c, 0), -1, "no answer before the line ends");
	}
	assert_next_answer(&c, "words:\n  - split\n  - line\n");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, answers_the_last_line_at_end_of_input_then_closes)
{
	struct server srv;
	struct client c;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_sends(&c, "echo one\necho two");
	shutdown(c.fd, SHUT_WR);
	assert_next_answer(&c, "words:\n  - one\n");
	assert_next_answer(&c, "words:\n  - two\n");
	assert_closed(&c);
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, accepts_a_line_of_4096_bytes)
{
	struct server srv;
	struct client c;
	char line[4096 + 2];
	char *a;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	memcpy(line, "echo ", 5);
	memset(line + 5, 'w', 4096 - 5);
	line[4096] = '\n';
	line[4097] = '\0';
	client_sends(&c, line);
	a = client_answer(&c);
	cr_assert_eq(strlen(a), strlen("words:\n  - \n") + 4091);
	free(a);
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, refuses_a_longer_line_and_closes_the_client)
{
	struct server srv;
	struct client c;
	char buf[16 + 4097 + 16];

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	strcpy(buf, "echo first\n");
	memset(buf + 11, 'a', 4097);
	strcpy(buf + 11 + 4097, "\necho never\n");
	/* One write: the server may close as soon as it has seen the long
	 * line, and "echo never" must be there already to prove it is not run
	 * (not refused by a broken pipe on our side). */
	client_sends(&c, buf);
	assert_next_answer(&c, "words:\n  - first\n");
	assert_next_answer(&c, "error: line too long (at most 4096 bytes)\n");
	assert_closed(&c);
	cr_assert_eq(c.len, 0, "nothing after the refusal");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, refuses_an_endless_line_without_waiting_for_its_newline)
{
	struct server srv;
	struct client c;
	char junk[8192];

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	memset(junk, 'j', sizeof(junk));
	client_send(&c, junk, sizeof(junk));
	assert_next_answer(&c, "error: line too long (at most 4096 bytes)\n");
	assert_closed(&c);
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, refuses_a_line_with_a_nul_byte_and_keeps_the_client)
{
	struct server srv;
	struct client c;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_send(&c, "echo a\0b\necho ok\n", 17);
	assert_next_answer(&c, "error: line contains a NUL byte\n");
	assert_next_answer(&c, "words:\n  - ok\n");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, creates_missing_directories_and_a_group_only_socket)
{
	struct server srv;
	struct stat st;
	char dir[200];

	server_start(&srv, "run/tandem/tandem.sock");
	cr_assert_eq(stat(srv.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0660);
	snprintf(dir, sizeof(dir), "%s/run/tandem", srv.dir);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0755, "mode %o", st.st_mode & 07777);
	server_stop(&srv);
}

Test(stats_sock, a_second_open_on_a_live_socket_fails_with_eaddrinuse)
{
	struct server srv;
	struct loop *l2 = loop_create();
	struct client c;
	int err = 0;

	server_start(&srv, "tandem.sock");
	cr_assert_null(stats_sock_open(l2, srv.path, srv.cli, &err));
	cr_assert_eq(err, -EADDRINUSE);
	/* The first server is untouched. */
	client_open(&c, srv.path);
	client_sends(&c, "echo still\n");
	assert_next_answer(&c, "words:\n  - still\n");
	client_close(&c);
	loop_destroy(l2);
	server_stop(&srv);
}

Test(stats_sock, replaces_a_stale_socket_file_left_by_a_dead_process)
{
	struct server srv;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client c;
	int fd, err = 0;

	server_init(&srv, "tandem.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, srv.path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	close(fd);      /* the file stays, nobody listens */
	cr_assert_eq(access(srv.path, F_OK), 0);

	srv.sock = stats_sock_open(srv.loop, srv.path, srv.cli, &err);
	cr_assert_not_null(srv.sock, "open: %s", strerror(-err));
	server_run(&srv);
	client_open(&c, srv.path);
	client_sends(&c, "echo fresh\n");
	assert_next_answer(&c, "words:\n  - fresh\n");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, never_removes_a_file_that_is_not_a_socket)
{
	struct server srv;
	int fd, err = 0;
	struct stat st;

	server_init(&srv, "tandem.sock");
	fd = open(srv.path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "keep", 4), 4);
	close(fd);
	cr_assert_null(stats_sock_open(srv.loop, srv.path, srv.cli, &err));
	cr_assert_eq(err, -EEXIST);
	cr_assert_eq(stat(srv.path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_size, 4);
	server_stop(&srv);
}

Test(stats_sock, refuses_a_path_longer_than_a_unix_socket_address)
{
	struct loop *l = loop_create();
	struct cli *c = cli_create();
	char path[200];
	int err = 0;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_null(stats_sock_open(l, path, c, &err));
	cr_assert_eq(err, -ENAMETOOLONG);
	cr_assert_null(stats_sock_open(l, "", c, &err));
	cr_assert_eq(err, -EINVAL);
	cli_destroy(c);
	loop_destroy(l);
}

Test(stats_sock, close_unlinks_the_socket_and_disconnects_clients)
{
	struct server srv;
	struct client c;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_sends(&c, "echo x\n");
	assert_next_answer(&c, "words:\n  - x\n");
	loop_stop(srv.loop);
	pthread_join(srv.thread, NULL);
	srv.running = false;
	stats_sock_close(srv.sock);
	srv.sock = NULL;
	cr_assert_neq(access(srv.path, F_OK), 0);
	assert_closed(&c);
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, a_client_that_does_not_read_a_huge_answer_does_not_block_others)
{
	struct server srv;
	struct client stuck, other;
	char *a;

	server_start(&srv, "tandem.sock");
	client_open(&stuck, srv.path);
	client_open(&other, srv.path);
	client_sends(&stuck, "big 8000000\necho after\n");
	usleep(100000);
	for (int i = 0; i < 20; i++) {
		char cmd[32];
		char want[48];

		snprintf(cmd, sizeof(cmd), "echo %d\n", i);
		snprintf(want, sizeof(want), "words:\n  - %d\n", i);
		client_sends(&other, cmd);
		assert_next_answer(&other, want);
	}
	/* The stuck client still gets all of its answer, then the next one. */
	a = client_answer(&stuck);
	cr_assert_eq(strlen(a), 8000000);
	cr_assert_eq(strspn(a, "x\n"), 8000000);
	free(a);
	assert_next_answer(&stuck, "words:\n  - after\n");
	client_close(&stuck);
	client_close(&other);
	server_stop(&srv);
}

/*
 * Send data[*sent..len), as much as the socket takes without blocking. Until
 * need bytes in all are sent, wait up to wait_ms for room, again and again;
 * returns false when a wait ran out (the peer stopped reading).
 */
static bool send_upto(int fd, const char *data, size_t len, size_t *sent, size_t need,
		      int wait_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		while (*sent < len) {
			ssize_t n = send(fd, data + *sent, len - *sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				cr_assert(errno == EAGAIN || errno == EWOULDBLOCK,
					  "send: %s", strerror(errno));
				break;
			}
			*sent += (size_t)n;
		}
		if (*sent >= need)
			return true;
		if (poll(&p, 1, wait_ms) != 1)
			return false;
	}
}

/*
 * 600 pairs of commands in one write: the server reads them all at once and
 * runs them as the client takes the answers (12 MB in all, never more than
 * about 1 MiB waiting in the server). Now and then the server's output
 * drains completely while commands it has received still wait to run (when
 * the client reads as fast as the server writes); they must run then,
 * although no more input will come. Several rounds give that moment more
 * chances to occur. Another client is served meanwhile.
 */
Test(stats_sock, a_pipelining_client_is_throttled_and_gets_every_answer_in_order)
{
	enum { N = 600, ROUNDS = 4 };
	struct server srv;
	struct client c, other;
	struct dbuf cmds;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_open(&other, srv.path);
	dbuf_init(&cmds);
	for (int i = 0; i < N; i++)
		dbuf_printf(&cmds, "big 20000\necho %d\n", i);
	cr_assert_not(cmds.oom);
	for (int r = 0; r < ROUNDS; r++) {
		/* 12 MB of answers pending while nothing is read. */
		client_send(&c, cmds.data, cmds.len);
		client_sends(&other, "echo alive\n");
		assert_next_answer(&other, "words:\n  - alive\n");
		for (int i = 0; i < N; i++) {
			char want[48];
			char *a = client_answer(&c);

			cr_assert_eq(strlen(a), 20000, "round %d, answer %d: %zu bytes", r, i,
				     strlen(a));
			free(a);
			snprintf(want, sizeof(want), "words:\n  - %d\n", i);
			assert_next_answer(&c, want);
		}
		cr_assert_eq(client_fill(&c, 0), -1, "nothing more than the answers");
	}
	dbuf_free(&cmds);
	client_close(&c);
	client_close(&other);
	server_stop(&srv);
}

/*
 * The client pipelines commands whose answers (2000 bytes each) it does not
 * read. Once about 1 MiB of answers waits, the server stops reading it:
 * with a small socket buffer the client can then send nothing more, long
 * before it has sent everything (were the server to read on, the 8000 pairs
 * would be 16 MB of answers in its memory). Then the client reads, sending
 * the rest of its commands as the server takes them: the server resumes
 * reading, and every answer arrives, in order.
 * Nothing here depends on speed: the pause ends the first phase, and a slow
 * server only makes that phase end earlier.
 */
Test(stats_sock, a_client_with_over_a_mib_of_unread_answers_is_not_read_until_it_reads)
{
	enum { PAIRS = 8000 };
	struct server srv;
	struct client c;
	struct dbuf cmds;
	size_t *ends = calloc(PAIRS, sizeof(*ends));
	size_t sent = 0;
	int sndbuf = 4096;

	cr_assert_not_null(ends);
	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	cr_assert_eq(setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	dbuf_init(&cmds);
	for (int i = 0; i < PAIRS; i++) {
		dbuf_printf(&cmds, "big 2000\necho %d\n", i);
		ends[i] = cmds.len;
	}
	cr_assert_not(cmds.oom);

	/* Send without reading until the server takes nothing for a second. */
	cr_assert_not(send_upto(c.fd, cmds.data, cmds.len, &sent, cmds.len, 1000),
		      "the server read all %zu bytes of commands of a client that "
		      "reads none of its answers", cmds.len);

	for (int i = 0; i < PAIRS; i++) {
		char want[48];
		char *a;

		cr_assert(send_upto(c.fd, cmds.data, cmds.len, &sent, ends[i], 20000),
			  "the server stopped reading commands (pair %d, %zu of %zu bytes sent)",
			  i, sent, cmds.len);
		a = client_answer(&c);
		cr_assert_eq(strlen(a), 2000, "answer %d: %zu bytes", i, strlen(a));
		free(a);
		snprintf(want, sizeof(want), "words:\n  - %d\n", i);
		assert_next_answer(&c, want);
	}
	cr_assert_eq(client_fill(&c, 0), -1, "nothing more than the answers");
	dbuf_free(&cmds);
	free(ends);
	client_close(&c);
	server_stop(&srv);
}

/*
 * All commands arrive, then end of input, while most of them still wait for
 * room in the output: each one is still answered, in order, and only then
 * is the connection closed.
 */
Test(stats_sock, answers_every_pipelined_command_before_closing_at_end_of_input)
{
	enum { PAIRS = 400 };
	struct server srv;
	struct client c;
	struct dbuf cmds;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	dbuf_init(&cmds);
	for (int i = 0; i < PAIRS; i++)
		dbuf_printf(&cmds, "big 20000\necho %d\n", i);
	/* 8 MB of answers for 8 KB of commands. */
	client_send(&c, cmds.data, cmds.len);
	cr_assert_eq(shutdown(c.fd, SHUT_WR), 0);
	for (int i = 0; i < PAIRS; i++) {
		char want[48];
		char *a = client_answer(&c);

		cr_assert_eq(strlen(a), 20000, "answer %d: %zu bytes", i, strlen(a));
		free(a);
		snprintf(want, sizeof(want), "words:\n  - %d\n", i);
		assert_next_answer(&c, want);
	}
	assert_closed(&c);
	cr_assert_eq(c.len, 0, "nothing more than the answers");
	dbuf_free(&cmds);
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, an_answer_above_64_mib_is_replaced_by_an_error, .timeout = 120)
{
	struct server srv;
	struct client c;

	server_start(&srv, "tandem.sock");
	client_open(&c, srv.path);
	client_sends(&c, "big 70000000\necho next\n");
	assert_next_answer(&c, "error: answer too large (70000001 bytes, at most 64 MiB)\n");
	assert_next_answer(&c, "words:\n  - next\n");
	client_close(&c);
	server_stop(&srv);
}

Test(stats_sock, a_client_that_vanishes_with_pending_output_is_dropped_cleanly)
{
	struct server srv;
	struct client gone, other;

	server_start(&srv, "tandem.sock");
	client_open(&gone, srv.path);
	client_open(&other, srv.path);
	client_sends(&gone, "big 4000000\n");
	usleep(50000);
	client_close(&gone);
	client_sends(&other, "echo fine\n");
	assert_next_answer(&other, "words:\n  - fine\n");
	client_close(&other);
	server_stop(&srv);
}

Test(stats_sock, the_client_beyond_the_limit_gets_an_error_and_a_freed_slot_is_reused,
     .timeout = 60)
{
	struct server srv;
	static struct client cs[256];
	struct client extra;
	uint64_t deadline;
	bool served = false;

	server_start(&srv, "tandem.sock");
	for (int i = 0; i < 256; i++)
		client_open(&cs[i], srv.path);
	/* All 256 are served (so all have been accepted). */
	for (int i = 0; i < 256; i++) {
		client_sends(&cs[i], "echo in\n");
		assert_next_answer(&cs[i], "words:\n  - in\n");
	}
	client_open(&extra, srv.path);
	assert_next_answer(&extra, "error: too many clients (at most 256)\n");
	assert_closed(&extra);
	client_close(&extra);

	client_close(&cs[0]);
	deadline = clock_mono_ms() + 10000;
	while (!served && clock_mono_ms() < deadline) {
		char *a;

		client_open(&extra, srv.path);
		client_sends(&extra, "echo again\n");
		a = client_answer(&extra);
		served = strcmp(a, "words:\n  - again\n") == 0;
		free(a);
		client_close(&extra);
		if (!served)
			usleep(20000);
	}
	cr_assert(served, "a slot frees up when a client leaves");
	for (int i = 1; i < 256; i++)
		client_close(&cs[i]);
	server_stop(&srv);
}

static long cpu_ms(const struct rusage *u)
{
	return (u->ru_utime.tv_sec + u->ru_stime.tv_sec) * 1000L +
	       (u->ru_utime.tv_usec + u->ru_stime.tv_usec) / 1000L;
}

Test(stats_sock, accepting_resumes_after_the_process_ran_out_of_file_descriptors)
{
	struct server srv;
	struct client cs[3];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rlimit old, low;
	struct rusage before, after;
	int lowest;

	server_start(&srv, "tandem.sock");
	strcpy(sa.sun_path, srv.path);
	for (int i = 0; i < 3; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(cs[i].fd, 0);
	}
	/* From here on no new descriptor can be made: accept4 gets EMFILE. */
	lowest = dup(0);
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < 3; i++) {
		char cmd[32];

		cr_assert_eq(connect(cs[i].fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		snprintf(cmd, sizeof(cmd), "echo %d\n", i);
		client_sends(&cs[i], cmd);
	}
	cr_assert_eq(getrusage(RUSAGE_SELF, &before), 0);
	usleep(300000);
	cr_assert_eq(getrusage(RUSAGE_SELF, &after), 0);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* The listener paused instead of spinning on the pending connections. */
	cr_assert_lt(cpu_ms(&after) - cpu_ms(&before), 100, "%ld ms of CPU while out of fds",
		     cpu_ms(&after) - cpu_ms(&before));
	for (int i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "words:\n  - %d\n", i);
		assert_next_answer(&cs[i], want);
		client_close(&cs[i]);
	}
	server_stop(&srv);
}

/* ---- tandemctl against a real stats socket ------------------------------------- */

/*
 * The tandemctl binary: $TANDEMCTL, else the one in the build directory of
 * this test binary (<build>/tests/unit -> <build>/tandemctl).
 */
static bool find_tandemctl(char *buf, size_t cap)
{
	const char *env = getenv("TANDEMCTL");
	char self[512];
	ssize_t n;
	char *slash;

	if (env && env[0]) {
		snprintf(buf, cap, "%s", env);
		return access(buf, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(buf, cap, "%s/../tandemctl", self);
	if (access(buf, X_OK) == 0)
		return true;
	snprintf(buf, cap, "%s/../control/tandemctl", self);
	return access(buf, X_OK) == 0;
}

struct run {
	int status;             /* exit status, or -1 if it did not exit */
	char out[65536];
	char err[4096];
};

/* Read what is there; false at end of file. */
static bool read_some(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n <= 0)
		return false;
	*len += (size_t)n;
	return true;
}

/* Run tandemctl with args; socket_env sets TANDEM_SOCKET (NULL: unset). */
static void run_ctl(struct run *r, const char *socket_env, const char *input,
		    const char *const *args)
{
	char bin[600];
	const char *argv[16];
	int in[2], out[2], err[2];
	size_t olen = 0, elen = 0;
	bool open_out = true, open_err = true;
	int st, n = 0;
	pid_t pid;

	if (!find_tandemctl(bin, sizeof(bin)))
		cr_skip_test("tandemctl binary not found (set TANDEMCTL)");
	argv[n++] = bin;
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (socket_env)
			setenv("TANDEM_SOCKET", socket_env, 1);
		else
			unsetenv("TANDEM_SOCKET");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (input && input[0])
		cr_assert_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	while (open_out || open_err) {
		struct pollfd p[2] = { { .fd = open_out ? out[0] : -1, .events = POLLIN },
				       { .fd = open_err ? err[0] : -1, .events = POLLIN } };

		cr_assert_gt(poll(p, 2, 20000), 0, "tandemctl hangs");
		if (p[0].revents && !read_some(out[0], r->out, sizeof(r->out), &olen))
			open_out = false;
		if (p[1].revents && !read_some(err[0], r->err, sizeof(r->err), &elen))
			open_err = false;
	}
	r->out[olen] = '\0';
	r->err[elen] = '\0';
	close(out[0]);
	close(err[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(tandemctl, prints_the_answer_without_its_empty_line_and_exits_0)
{
	struct server srv;
	struct run r;

	server_start(&srv, "tandem.sock");
	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", srv.path, "echo", "a", "b c", "d\"e", "", NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "words:\n  - a\n  - b c\n  - d\"e\n  - \"\"\n");
	cr_assert_str_eq(r.err, "");
	run_ctl(&r, NULL, NULL, (const char *[]){ "--socket", srv.path, "echo", "x", "json", NULL });
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "{\"words\":[\"x\"]}\n");
	server_stop(&srv);
}

Test(tandemctl, uses_tandem_socket_unless_s_is_given)
{
	struct server srv;
	struct run r;

	server_start(&srv, "tandem.sock");
	run_ctl(&r, srv.path, NULL, (const char *[]){ "echo", "env", NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "words:\n  - env\n");
	run_ctl(&r, "/nonexistent/tandem.sock", NULL,
		(const char *[]){ "-s", srv.path, "echo", "flag", NULL });
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "words:\n  - flag\n");
	server_stop(&srv);
}

Test(tandemctl, a_refused_command_goes_to_stderr_and_exits_1)
{
	struct server srv;
	struct run r;

	server_start(&srv, "tandem.sock");
	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", srv.path, "shwo", "role", NULL });
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.out, "");
	cr_assert_str_eq(r.err, "error: unknown command 'shwo role' (try 'help')\n");
	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", srv.path, "shwo", "json", NULL });
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "{\"error\":\"unknown command 'shwo' (try 'help')\"}\n");
	server_stop(&srv);
}

Test(tandemctl, cannot_connect_exits_2_with_a_hint)
{
	struct run r;

	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", "/nonexistent/tandem.sock", "show", "role", NULL });
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.out, "");
	cr_assert_str_eq(r.err, "tandemctl: cannot connect to /nonexistent/tandem.sock: "
				"No such file or directory (is tandemd running?)\n");
}

Test(tandemctl, a_server_that_never_answers_times_out_with_exit_2)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/tandem-ctl-XXXXXX";
	struct run r;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/mute.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);   /* connects complete, nobody answers */
	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", sa.sun_path, "--timeout", "0.3", "show", "role", NULL });
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "no answer from"), "%s", r.err);
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
}

Test(tandemctl, runs_stdin_line_by_line_and_exits_1_if_any_was_refused)
{
	struct server srv;
	struct run r;

	server_start(&srv, "tandem.sock");
	run_ctl(&r, NULL, "echo 1\n# a comment\n\n  \nnope\necho 2\r\n",
		(const char *[]){ "-s", srv.path, NULL });
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.out, "words:\n  - 1\n\nwords:\n  - 2\n");
	cr_assert_str_eq(r.err, "error: unknown command 'nope' (try 'help')\n");
	run_ctl(&r, NULL, "echo 1\necho 2\n", (const char *[]){ "-s", srv.path, NULL });
	cr_assert_eq(r.status, 0);
	server_stop(&srv);
}

Test(tandemctl, usage_errors_exit_2_and_help_exits_0)
{
	struct run r;

	run_ctl(&r, NULL, NULL, (const char *[]){ "--help", NULL });
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(r.out, "Usage: tandemctl"));
	run_ctl(&r, NULL, NULL, (const char *[]){ "--bogus", "x", NULL });
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "unknown option '--bogus'"));
	run_ctl(&r, NULL, NULL, (const char *[]){ "--timeout", "-1", "x", NULL });
	cr_assert_eq(r.status, 2);
	run_ctl(&r, NULL, NULL, (const char *[]){ "-s", NULL });
	cr_assert_eq(r.status, 2);
}
