/* SPDX-License-Identifier: MIT */
/*
 * The node's objects: the store (store/store.h) and everything the node
 * does with it (docs/objects.md).
 *
 *   - At start: open data_dir/objects; on a master, import the [sip] users
 *     file when one is named (new and changed users only) and record the
 *     general settings; build the RCU users table from the store and
 *     publish it; read the licenses.
 *   - On a master: the stats socket's object commands (user add / set /
 *     del / show / list / import, licenses set) write the store, update
 *     the users table and feed the replication stream.
 *   - On a standby: every write command is refused; the objects come from
 *     the master over the pair's link (replication/objsync.h), a snapshot
 *     staged and committed on the job thread (control/jobs.h) and swapped
 *     in whole, changes applied as they arrive.
 *   - `show objects`, `show licenses`, the replication part of
 *     `show peers`, and their metrics.
 *
 * Control thread only (the job thread runs the work this module gives it).
 */
#ifndef TANDEM_OBJECTS_H
#define TANDEM_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "loop.h"
#include "objsync.h"
#include "out.h"
#include "users.h"

/* The licenses in force; a kind that was never set does not limit. */
struct objects_licenses {
	bool ports_set;
	uint32_t ports;             /* AORs this node may have registered */
	bool standby_set;
	uint32_t standby;           /* ports a standby may serve when it takes over */
};

struct objects_params {
	const struct config *cfg;
	struct loop *loop;
	struct cli *cli;
	/* The RCU pointer the workers read users through; this module
	 * publishes every new table there. */
	struct users **users;
	const char *realm;          /* HA1 values are computed for this realm */
	/* The licenses changed (also called once from objects_create). */
	void (*on_licenses)(void *arg, const struct objects_licenses *l);
	/* AORs registered now (for show licenses). */
	uint64_t (*aors_in_use)(void *arg);
	void *arg;
};

struct objects;

/* Returns 0 or a negative error after logging its cause. */
int objects_create(const struct objects_params *p, struct objects **out);

/* Waits for running jobs. NULL is a no-op. */
void objects_destroy(struct objects *o);

/* The general settings of this node as "key=value\n" lines (what a pair
 * must agree on), for the login's info blob. */
void objects_settings_text(const struct config *cfg, char *buf, size_t cap);

/* ---- the pair's link ------------------------------------------------------- */

/* Start replicating over the link reached through io (called once, after
 * the pair has made its link). */
int objects_attach(struct objects *o, const struct objsync_io *io);

/* The peer logged in (its info blob: compared with our settings) / the
 * link was lost / a replication frame / the link's queue drained. */
void objects_peer_up(struct objects *o, const uint8_t *info, uint32_t info_len);
void objects_peer_down(struct objects *o);
void objects_on_frame(struct objects *o, uint8_t type, const uint8_t *payload, uint32_t len);
void objects_writable(struct objects *o);

/* The "replication" object of `show peers`, and the objects' metrics. */
void objects_show_replication(struct objects *o, struct out *out);
void objects_metrics(struct objects *o, struct out *out);

/* Why a standby with these licenses may not take over (too few standby
 * licenses for the master's ports), written to buf; NULL when it may. */
const char *objects_takeover_blocked(const struct objects_licenses *l, char *buf, size_t cap);

/* The licenses in force now. */
void objects_licenses(const struct objects *o, struct objects_licenses *out);

#endif
