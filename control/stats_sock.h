/* SPDX-License-Identifier: MIT */
/*
 * The stats socket: a unix stream socket, one command per line, each answer
 * ends with an empty line. Many clients at once; all I/O is non-blocking and
 * driven by the control loop, so a slow or stuck client never stalls the
 * control thread (its pending output is bounded and it is disconnected when
 * the bound is exceeded).
 *
 * Control thread only.
 */
#ifndef TANDEM_STATS_SOCK_H
#define TANDEM_STATS_SOCK_H

#include "cli.h"
#include "loop.h"

struct stats_sock;

/*
 * Listen on path (creating its directory if needed). A stale socket file
 * left by a dead process is replaced; a socket another live process answers
 * on is not (returns -EADDRINUSE). Returns NULL and sets *err (-errno) on
 * failure.
 */
struct stats_sock *stats_sock_open(struct loop *l, const char *path,
				   struct cli *cli, int *err);

/* Close every client and the listener, and unlink the socket file. */
void stats_sock_close(struct stats_sock *s);

#endif
