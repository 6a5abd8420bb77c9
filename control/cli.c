/* SPDX-License-Identifier: MIT */
/*
 * The stats socket's command table and dispatcher (see cli.h).
 *
 * Modules register tables of {words, args, help, handler}; the built-in
 * `help` lists them all. A line is split into words (double quotes group,
 * backslash escapes '"' and '\' inside quotes), a trailing unquoted "json"
 * selects JSON, and the registered command with the most words that are a
 * prefix of the line runs with the remaining words as its arguments. Every
 * line gets exactly one answer: zero or more non-empty lines, then one
 * empty line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "err.h"

struct cli_table {
	const struct cli_cmd *cmds;
	unsigned n;
	void *ctx;
};

struct cli {
	struct cli_table *tables;
	unsigned ntables;
	unsigned cap;
};

/* A command line split into words, in place in buf. */
struct cli_line {
	char *buf;
	char *argv[CLI_MAX_ARGS + 1];      /* NULL-terminated */
	bool quoted[CLI_MAX_ARGS];         /* the word had quotes in it */
	unsigned argc;
};

static void cmd_help(void *ctx, int argc, char **argv, struct out *o);

static const struct cli_cmd builtin_cmds[] = {
	{ "help", "[COMMAND]", "list the commands (or those starting with COMMAND)", cmd_help },
};

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The next space-separated word of a command's words at or after p. */
static const char *next_word(const char *p, size_t *len)
{
	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	*len = strcspn(p, " ");
	return p;
}

/*
 * How many leading words of argv equal the command's words (ASCII case
 * insensitive); *nwords receives the command's word count.
 */
static unsigned common_words(const char *words, char *const *argv, unsigned argc,
			     unsigned *nwords)
{
	unsigned k = 0, n = 0;
	bool same = true;
	const char *p = words;
	size_t len;

	while ((p = next_word(p, &len)) != NULL) {
		if (same && n < argc && strlen(argv[n]) == len &&
		    strncasecmp(argv[n], p, len) == 0)
			k++;
		else
			same = false;
		n++;
		p += len;
	}
	*nwords = n;
	return k;
}

static bool same_words(const char *a, const char *b)
{
	const char *pa = a, *pb = b;
	size_t la, lb;

	for (;;) {
		pa = next_word(pa, &la);
		pb = next_word(pb, &lb);
		if (!pa || !pb)
			return !pa && !pb;
		if (la != lb || strncasecmp(pa, pb, la) != 0)
			return false;
		pa += la;
		pb += lb;
	}
}

struct cli *cli_create(void)
{
	struct cli *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (cli_register(c, builtin_cmds, sizeof(builtin_cmds) / sizeof(builtin_cmds[0]),
			 c) < 0) {
		cli_destroy(c);
		return NULL;
	}
	return c;
}

void cli_destroy(struct cli *c)
{
	if (!c)
		return;
	free(c->tables);
	free(c);
}

static bool cmd_exists(const struct cli *c, const char *words)
{
	for (unsigned t = 0; t < c->ntables; t++)
		for (unsigned i = 0; i < c->tables[t].n; i++)
			if (same_words(c->tables[t].cmds[i].words, words))
				return true;
	return false;
}

int cli_register(struct cli *c, const struct cli_cmd *cmds, unsigned n, void *ctx)
{
	size_t len;

	for (unsigned i = 0; i < n; i++) {
		if (!cmds[i].words || !cmds[i].handler ||
		    !next_word(cmds[i].words, &len) || strchr(cmds[i].words, '"'))
			return -EINVAL;
		if (cmd_exists(c, cmds[i].words))
			return -EEXIST;
		for (unsigned j = 0; j < i; j++)
			if (same_words(cmds[j].words, cmds[i].words))
				return -EEXIST;
	}
	if (c->ntables == c->cap) {
		unsigned cap = c->cap ? 2 * c->cap : 8;
		struct cli_table *t = realloc(c->tables, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		c->tables = t;
		c->cap = cap;
	}
	c->tables[c->ntables++] = (struct cli_table){ cmds, n, ctx };
	return 0;
}

/*
 * Split line into words in a private copy. Returns 0, -ENOMEM, -E2BIG (more
 * than CLI_MAX_ARGS words) or TDM_EMALFORMED (unterminated quote).
 */
static int split_line(const char *line, struct cli_line *l)
{
	size_t n = strlen(line);
	char *r, *w;

	l->argc = 0;
	l->argv[0] = NULL;
	l->buf = malloc(n + 1);
	if (!l->buf)
		return -ENOMEM;
	memcpy(l->buf, line, n + 1);
	/* The write pointer never passes the read pointer. */
	r = w = l->buf;
	for (;;) {
		bool inq = false;

		while (is_space(*r))
			r++;
		if (!*r)
			break;
		if (l->argc == CLI_MAX_ARGS)
			return -E2BIG;
		l->argv[l->argc] = w;
		l->quoted[l->argc] = false;
		while (*r && (inq || !is_space(*r))) {
			if (*r == '"') {
				inq = !inq;
				l->quoted[l->argc] = true;
				r++;
				continue;
			}
			if (inq && *r == '\\' && (r[1] == '"' || r[1] == '\\'))
				r++;
			*w++ = *r++;
		}
		if (inq)
			return TDM_EMALFORMED;
		if (*r)
			r++;
		*w++ = '\0';
		l->argc++;
	}
	l->argv[l->argc] = NULL;
	return 0;
}

/* The words joined by single spaces, for messages. */
static void join_words(struct dbuf *b, char *const *argv, unsigned argc)
{
	for (unsigned i = 0; i < argc; i++) {
		if (i)
			dbuf_put(b, " ", 1);
		dbuf_puts(b, argv[i]);
	}
	if (!b->data)
		dbuf_put(b, "", 0);
}

static void dispatch(struct cli *c, char **argv, unsigned argc, struct out *o)
{
	const struct cli_cmd *best = NULL;
	void *best_ctx = NULL;
	unsigned best_n = 0;
	bool partial = false;
	struct dbuf words;

	for (unsigned t = 0; t < c->ntables; t++) {
		for (unsigned i = 0; i < c->tables[t].n; i++) {
			const struct cli_cmd *cmd = &c->tables[t].cmds[i];
			unsigned nw, k = common_words(cmd->words, argv, argc, &nw);

			if (k == nw && nw > best_n) {
				best = cmd;
				best_ctx = c->tables[t].ctx;
				best_n = nw;
			} else if (k == argc && nw > argc) {
				partial = true;
			}
		}
	}
	if (best && (!best->args || !best->args[0]) && argc > best_n) {
		out_error(o, "'%s' takes no arguments (try 'help %s')", best->words,
			  best->words);
		return;
	}
	if (best) {
		best->handler(best_ctx, (int)(argc - best_n), argv + best_n, o);
		return;
	}
	dbuf_init(&words);
	join_words(&words, argv, argc);
	if (words.oom)
		out_error(o, "out of memory");
	else if (partial)
		out_error(o, "incomplete command '%s' (try 'help %s')", words.data,
			  words.data);
	else
		out_error(o, "unknown command '%s' (try 'help')", words.data);
	dbuf_free(&words);
}

void cli_execute(struct cli *c, const char *line, struct dbuf *answer)
{
	enum out_format fmt = OUT_TEXT;
	struct cli_line l;
	struct dbuf body;
	struct out o;
	int r;

	dbuf_init(&body);
	r = split_line(line, &l);
	if (r == 0 && l.argc >= 2 && !l.quoted[l.argc - 1] &&
	    strcasecmp(l.argv[l.argc - 1], "json") == 0) {
		fmt = OUT_JSON;
		l.argv[--l.argc] = NULL;
	}
	out_init(&o, &body, fmt);
	if (r == -ENOMEM)
		out_error(&o, "out of memory");
	else if (r == -E2BIG)
		out_error(&o, "too many words (at most %d)", CLI_MAX_ARGS);
	else if (r < 0)
		out_error(&o, "unterminated quote");
	else if (l.argc > 0)
		dispatch(c, l.argv, l.argc, &o);
	out_finish(&o);
	free(l.buf);

	if (body.oom)
		dbuf_puts(answer, "error: out of memory\n");
	else
		dbuf_put(answer, body.data, body.len);
	dbuf_put(answer, "\n", 1);
	dbuf_free(&body);
}

/* Append s padded with spaces to width, control characters as spaces. */
static void put_cell(struct dbuf *b, const char *s, size_t width)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		unsigned char u = (unsigned char)s[i];
		char ch = u < 0x20 || u == 0x7f ? ' ' : s[i];

		dbuf_put(b, &ch, 1);
	}
	for (; n < width; n++)
		dbuf_put(b, " ", 1);
}

/* help's filter: the words given, the last of them possibly abbreviated. */
static bool help_matches(const char *words, char *const *argv, unsigned argc)
{
	const char *p = words;
	size_t len;

	for (unsigned i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		p = next_word(p, &len);
		if (!p || (i + 1 < argc ? n != len : n > len) ||
		    strncasecmp(argv[i], p, n) != 0)
			return false;
		p += len;
	}
	return true;
}

static void cmd_help(void *ctx, int argc, char **argv, struct out *o)
{
	struct cli *c = ctx;
	size_t wwords = 0, wargs = 0;
	unsigned shown = 0;
	struct dbuf text;

	for (unsigned t = 0; t < c->ntables; t++) {
		for (unsigned i = 0; i < c->tables[t].n; i++) {
			const struct cli_cmd *cmd = &c->tables[t].cmds[i];

			if (!help_matches(cmd->words, argv, (unsigned)argc))
				continue;
			shown++;
			if (strlen(cmd->words) > wwords)
				wwords = strlen(cmd->words);
			if (cmd->args && strlen(cmd->args) > wargs)
				wargs = strlen(cmd->args);
		}
	}
	if (shown == 0) {
		dbuf_init(&text);
		join_words(&text, argv, (unsigned)argc);
		out_error(o, "no command starts with '%s'", text.oom ? "?" : text.data);
		dbuf_free(&text);
		return;
	}

	/* JSON: a list of objects. Text: aligned columns, then a hint. */
	dbuf_init(&text);
	if (o->fmt == OUT_JSON)
		out_list_begin(o, "commands");
	for (unsigned t = 0; t < c->ntables; t++) {
		for (unsigned i = 0; i < c->tables[t].n; i++) {
			const struct cli_cmd *cmd = &c->tables[t].cmds[i];
			const char *args = cmd->args ? cmd->args : "";
			const char *help = cmd->help ? cmd->help : "";

			if (!help_matches(cmd->words, argv, (unsigned)argc))
				continue;
			if (o->fmt == OUT_JSON) {
				out_obj_begin(o, NULL);
				out_str(o, "command", cmd->words);
				out_str(o, "args", args);
				out_str(o, "help", help);
				out_obj_end(o);
				continue;
			}
			put_cell(&text, cmd->words, wwords);
			if (wargs) {
				dbuf_put(&text, "  ", 2);
				put_cell(&text, args, wargs);
			}
			dbuf_put(&text, "  ", 2);
			put_cell(&text, help, 0);
			while (text.len && text.data[text.len - 1] == ' ')
				text.len--;
			dbuf_put(&text, "\n", 1);
		}
	}
	if (o->fmt == OUT_JSON) {
		out_list_end(o);
	} else {
		dbuf_puts(&text, "Add \"json\" after a command for JSON output.\n");
		if (text.oom)
			out_error(o, "out of memory");
		else
			out_raw(o, text.data, text.len);
	}
	dbuf_free(&text);
}
