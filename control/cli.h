/* SPDX-License-Identifier: MIT */
/*
 * Stats socket commands.
 *
 * Each module describes its commands in a table of {words, args, help,
 * handler} and registers it at start-up; `help` is generated from the
 * tables. A command line is split into words; the longest registered
 * command that prefixes them is run with the remaining words as arguments.
 * A trailing word "json" selects JSON output for any command.
 *
 * Words are separated by spaces or tabs (a trailing '\r' is ignored).
 * Double quotes group words ("sip:a b@x" is one word; "" is an empty word);
 * inside quotes, \" and \\ stand for " and \. At most CLI_MAX_ARGS words
 * per line, "json" included. Command words match case-insensitively. A
 * quoted "json" is an argument, not the format switch.
 *
 * Refusals (rendered with out_error, so "error: ..." or {"error":"..."}):
 *   unknown command 'shwo role' (try 'help')
 *   incomplete command 'show' (try 'help show')
 *   'show role' takes no arguments (try 'help show role')
 *     (checked here for every command whose args is ""; a command that takes
 *      arguments checks them itself and refuses with out_error)
 *   unterminated quote / too many words (at most 16)
 *
 * Control thread only.
 */
#ifndef TANDEM_CLI_H
#define TANDEM_CLI_H

#include "out.h"

#define CLI_MAX_ARGS 16

struct cli_cmd {
	const char *words;   /* "show registrations" */
	const char *args;    /* "[AOR]", or "" */
	const char *help;    /* one line */
	void (*handler)(void *ctx, int argc, char **argv, struct out *o);
};

struct cli;

struct cli *cli_create(void);
void cli_destroy(struct cli *c);

/*
 * cmds must stay valid for the life of c; ctx is passed to every handler.
 * Handlers get argv = the words after the command's words (NULL-terminated,
 * "json" removed). Returns 0, -ENOMEM, -EINVAL (a command without words or
 * handler, or with '"' in its words) or -EEXIST (the same words are already
 * registered, "help" included); on error nothing of cmds is registered.
 */
int cli_register(struct cli *c, const struct cli_cmd *cmds, unsigned n, void *ctx);

/*
 * Run one command line (without its newline) and append the rendered answer
 * to answer, followed by the terminating empty line ("\n\n" overall: the
 * answer's last line end and one empty line). An answer without content
 * (a blank line, or a handler that wrote nothing in text) is the empty line
 * alone ("\n").
 */
void cli_execute(struct cli *c, const char *line, struct dbuf *answer);

#endif
