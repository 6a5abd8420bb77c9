/* SPDX-License-Identifier: MIT */
/*
 * One tandem node: the tables, the I/O back end and its workers, and the
 * control thread's loop with the stats socket and the expiry sweep.
 *
 * node_create() does everything that can fail at start-up (directories,
 * keys, users, sockets) and reports each failure with its cause;
 * node_run() runs the control loop on the calling thread until SIGTERM or
 * SIGINT; node_destroy() shuts down in order (workers, then tables, then
 * memory).
 */
#ifndef TANDEM_NODE_H
#define TANDEM_NODE_H

#include "config.h"

struct node;

/* Returns 0, or a negative error after logging what went wrong. The caller
 * must have blocked SIGTERM/SIGINT/SIGHUP in every thread (node_run
 * receives them with signalfd). */
int node_create(const struct config *cfg, struct node **out);

/* Returns 0 after a clean shutdown request, negative on a fatal error. */
int node_run(struct node *n);

/* Load the users file named by cfg into a scratch table and report the
 * first bad row (for --check-config). Returns 0 or a negative error. */
int node_check_users(const struct config *cfg);

/* NULL is a no-op. */
void node_destroy(struct node *n);

#endif
