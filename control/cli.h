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

/* cmds must stay valid for the life of c; ctx is passed to every handler.
 * Returns 0 or -ENOMEM. */
int cli_register(struct cli *c, const struct cli_cmd *cmds, unsigned n, void *ctx);

/*
 * Run one command line (without its newline) and append the rendered answer
 * to answer, followed by the terminating empty line ("\n\n" overall: the
 * answer's last line end and one empty line).
 */
void cli_execute(struct cli *c, const char *line, struct dbuf *answer);

#endif
