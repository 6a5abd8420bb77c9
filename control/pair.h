/* SPDX-License-Identifier: MIT */
/*
 * The pair, as the control thread runs it: the TLS link to the peer
 * (replication/link.h), the role machine (role.h) fed by the link's events,
 * the epoch kept in data_dir, and what the stats socket shows of them
 * (`show role`, `show peers`, the `_STANDBY_` / `_ACTIVE_` registrations,
 * metrics).
 *
 * A master without [pair] listen is a single node: no link, always active.
 * The pair tells the node about role changes through on_role; the node
 * republishes the registrar's settings (divert or serve, expiry cap).
 *
 * Control thread only.
 */
#ifndef TANDEM_PAIR_H
#define TANDEM_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "loop.h"
#include "out.h"

struct pair;

struct pair_role {
	bool serving;              /* false: divert every request to the master */
	bool standby_active;       /* a standby that took over: cap expiry */
	uint64_t epoch;
	const char *master_sip;    /* "192.0.2.10:5060": where to divert to */
};

/* The application riding on the link (the objects replication): told when
 * the peer logs in and goes, handed its frames (types 0x40..0x7f), and
 * asked for its part of `show peers`. Every member may be NULL. */
struct pair_app {
	void (*up)(void *arg, const uint8_t *peer_info, uint32_t len);
	void (*down)(void *arg);
	void (*frame)(void *arg, uint8_t type, const uint8_t *payload, uint32_t len);
	void (*writable)(void *arg);
	void (*show)(void *arg, struct out *o);
	void *arg;
};

struct pair_params {
	const struct config *cfg;
	struct loop *loop;
	struct cli *cli;           /* show role / show peers are registered here */
	/* The general settings this node announces at login ("key=value"
	 * lines), compared with the peer's. */
	const char *info;
	void (*on_role)(void *arg, const struct pair_role *role);
	void *arg;
	struct pair_app app;
};

/*
 * Create the pair: load the epoch from data_dir, start the role machine
 * and, when the node is in a pair, the link (which loads or generates the
 * TLS identity). Calls on_role once with the initial role before
 * returning. Returns 0 or a negative error after logging the cause.
 */
int pair_create(const struct pair_params *p, struct pair **out);

/* NULL is a no-op. Not from a link callback. */
void pair_destroy(struct pair *p);

/* A standby may not take over while why is not NULL (e.g. too few standby
 * licenses); show role and the log say why. No-op on a master. */
void pair_block_takeover(struct pair *p, const char *why);

/* True when the node is in a pair (has a link). */
bool pair_has_link(const struct pair *p);

/* The link for the application (see link_send, link_queued, link_drop):
 * -ENOTCONN / 0 / no-op without a logged-in peer. */
int pair_send(struct pair *p, uint8_t type, const void *payload, uint32_t len);
size_t pair_queued(struct pair *p);
void pair_drop(struct pair *p, bool malformed, const char *text);

/* The `_STANDBY_` (on the master) or `_ACTIVE_` (on a standby) entry of
 * `show registrations`, when the peer is logged in. */
void pair_show_registrations(struct pair *p, struct out *o);
/* How many such entries pair_show_registrations writes (0 or 1). */
unsigned pair_registrations_count(struct pair *p);

/* Prometheus families of the pair (role, epoch, link state, link
 * counters). */
void pair_metrics(struct pair *p, struct out *o);

#endif
