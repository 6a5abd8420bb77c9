/* SPDX-License-Identifier: MIT */
/*
 * Configuration: an INI file, the keys of DESIGN.md §4 (documented in
 * docs/configuration.md).
 *
 * config_load() reads and validates the whole file and reports every problem
 * it finds, not only the first, each naming the file, line, section and key:
 *   "tandem.conf:12: [sip] default_expires: 'abc' is not a duration"
 * Durations accept a unit: ms, s, m, h, d ("500ms", "3s", "2m"); a bare
 * number is seconds. Relative paths are resolved against the directory of
 * the configuration file.
 *
 * Calling context: start-up, any thread; no global state.
 */
#ifndef TANDEM_CONFIG_H
#define TANDEM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_CPUS 256
#define CFG_MAX_ERRORS 32
#define CFG_NAME_MAX 64
#define CFG_DOMAIN_MAX 256
#define CFG_PASSWORD_MAX 256
#define CFG_SOCKET_MAX 108 /* sun_path */
#define CFG_WORKERS_MAX 128
/* Upper bound of [sip] max_contacts and of a user's max_contacts: an AOR's
 * record must hold its bindings plus one REGISTER's worth of new ones in a
 * worker's scratch (DP_SCRATCH_BINDINGS). */
#define CFG_MAX_CONTACTS_LIMIT 64

enum node_mode { NODE_MASTER, NODE_STANDBY };
enum auth_mode { AUTH_NONE, AUTH_DIGEST };
enum io_mode { IO_SOCKET, IO_DPDK };
enum divert_mode { DIVERT_REDIRECT, DIVERT_REJECT };
/* Digest algorithms, in the values of enum digest_alg (dataplane/digest.h). */
enum auth_alg { AUTH_ALG_MD5, AUTH_ALG_SHA256 };
#define CFG_MAX_AUTH_ALGS 2

struct config {
	char path[PATH_MAX];          /* the file this came from */

	struct {
		char name[CFG_NAME_MAX];        /* default: the host name */
		enum node_mode mode;            /* default: master */
		char password[CFG_PASSWORD_MAX]; /* the PBX password; may be empty */
		char data_dir[PATH_MAX];        /* default: /var/lib/tandem */
		enum log_level log_level;       /* default: info */
	} node;

	struct {
		union tdm_addr listen[CFG_MAX_LISTEN]; /* repeatable; default 0.0.0.0:5060 */
		unsigned nlisten;
		char domain[CFG_DOMAIN_MAX];    /* empty: any domain is served */
		enum auth_mode auth;            /* default: none */
		uint32_t default_expires;       /* seconds, default 3600 */
		uint32_t min_expires;           /* seconds, default 60 */
		uint32_t max_expires;           /* seconds, default 7200 */
		uint32_t max_contacts;          /* per AOR, default 10, 0: no limit */
		uint32_t nonce_lifetime;        /* seconds, default 300 */
		/* Challenges offered, most preferred first; default SHA-256, MD5. */
		enum auth_alg auth_algorithms[CFG_MAX_AUTH_ALGS];
		unsigned nauth_algorithms;
		char users[PATH_MAX];           /* users file; empty: none */
	} sip;

	struct {
		bool master_set;
		union tdm_addr master;          /* standby: the master's link address */
		bool listen_set;
		union tdm_addr listen;          /* master: where the link listens */
		uint32_t failover_timeout_ms;   /* default 3000 */
		uint32_t failback_hold_ms;      /* default 10000 */
		uint32_t heartbeat_interval_ms; /* default 200 */
		uint32_t active_max_expires;    /* seconds, default 120 */
		enum divert_mode divert;        /* default: redirect */
		char tls_cert[PATH_MAX];        /* empty: generated in data_dir */
		char tls_key[PATH_MAX];
	} pair;

	struct {
		char socket[CFG_SOCKET_MAX];    /* default: /run/tandem/tandem.sock */
	} stats;

	struct {
		enum io_mode mode;              /* default: socket */
		unsigned workers;               /* default: online CPUs - 1, at least 1 */
		bool workers_auto;              /* "auto" (the default): with dpdk, one
						 * per worker lcore of dpdk_args, known
						 * once the EAL is up (io_prepare) */
		unsigned cpus[CFG_MAX_CPUS];    /* worker i runs on cpus[i % ncpus] */
		unsigned ncpus;                 /* 0: workers on CPUs 1..n, wrapping */
		char dpdk_args[1024];
	} io;
};

struct config_errors {
	unsigned n;                         /* problems found (may exceed the kept ones) */
	char msg[CFG_MAX_ERRORS][320];
};

/* Fill cfg with the defaults above. */
void config_defaults(struct config *cfg);

/*
 * Load and validate path. Returns 0 when the file is valid; otherwise
 * TDM_ECONFIG (or -errno when the file cannot be read) with every problem
 * in errs.
 * errs may be NULL. cfg->path is set to the absolute path of the file.
 * After an error cfg holds the defaults and the values that were accepted:
 * it is not fit to run with.
 */
int config_load(const char *path, struct config *cfg, struct config_errors *errs);

/* Same, from text already in memory; `name` is used in messages and
 * relative paths resolve against base_dir. For tests. */
int config_load_text(const char *name, const char *base_dir, const char *text,
		     struct config *cfg, struct config_errors *errs);

/*
 * Check and normalise a SIP host (a domain): a DNS name (labels of letters,
 * digits and '-', 1 to 63 bytes each, 253 bytes at most, the last label not
 * all digits) or an IP literal (IPv6 with or without brackets). Writes the
 * lower-case form to out, IPv6 in brackets and canonical ("[2001:db8::1]").
 * Returns 0, TDM_EMALFORMED, or TDM_ENOSPACE when out is too small.
 */
int config_host_normalize(const char *in, size_t len, char *out, size_t cap);

/*
 * The candidate (a NULL-terminated list) closest to word within a small
 * edit distance (1 for words of up to 4 bytes, else 2; case ignored;
 * a swap of two neighbours counts 1), or NULL. For "did you mean" hints.
 */
const char *config_suggest(const char *word, size_t len, const char *const *candidates);

const char *node_mode_name(enum node_mode m);
const char *auth_mode_name(enum auth_mode m);
const char *io_mode_name(enum io_mode m);
const char *divert_mode_name(enum divert_mode m);

#endif
