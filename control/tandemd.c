/* SPDX-License-Identifier: MIT */
/*
 * tandemd: one registrar cluster node.
 *
 *   tandemd --config FILE                 run in the foreground
 *   tandemd --config FILE --check-config  validate and exit
 *
 * Exit status: 0 after SIGTERM/SIGINT or a valid --check-config; 1 for a
 * configuration that does not validate; 2 for bad command-line usage; 3 when
 * the node cannot start (port in use, unwritable data_dir, ...). Every
 * failure is reported on stderr with its cause.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "node.h"

enum {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,
	EXIT_USAGE = 2,
	EXIT_START = 3,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tandemd --config FILE [--check-config]\n"
		"       tandemd --version | --help\n"
		"\n"
		"  -c, --config FILE    configuration file (INI, see docs/configuration.md)\n"
		"  -t, --check-config   validate the configuration and the users file, then exit\n"
		"  -V, --version        print the version\n"
		"  -h, --help           this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct config cfg;
	static struct config_errors errs;
	const char *path = NULL;
	bool check = false;
	struct node *node;
	sigset_t sigs;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("tandemd %s\n", TANDEM_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}

	rc = config_load(path, &cfg, &errs);
	if (rc < 0) {
		if (errs.n == 0)
			fprintf(stderr, "tandemd: %s: %s\n", path, tdm_strerror(rc));
		for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++)
			fprintf(stderr, "tandemd: %s\n", errs.msg[i]);
		if (errs.n > CFG_MAX_ERRORS)
			fprintf(stderr, "tandemd: ... and %u more problems\n",
				errs.n - CFG_MAX_ERRORS);
		return EXIT_CONFIG;
	}
	log_set_level(cfg.node.log_level);

	if (check) {
		rc = node_check_users(&cfg);
		if (rc < 0)
			return EXIT_CONFIG;
		printf("%s: configuration is valid (node '%s', %s)\n", path, cfg.node.name,
		       node_mode_name(cfg.node.mode));
		return EXIT_OK;
	}

	/* Every thread inherits this mask; the control loop takes the
	 * signals from a signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = node_create(&cfg, &node);
	if (rc < 0) {
		log_err("node", "start-up failed");
		return EXIT_START;
	}
	rc = node_run(node);
	node_destroy(node);
	if (rc < 0)
		return EXIT_START;
	log_info("node", "stopped");
	return EXIT_OK;
}
