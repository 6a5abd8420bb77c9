/* SPDX-License-Identifier: MIT */
/*
 * The DPDK back end (io.mode = dpdk): the same pipeline as io_socket.c, fed
 * by one DPDK port instead of kernel sockets.
 *
 * One worker per EAL worker lcore, each with its own RX/TX queue pair on the
 * port (RSS spreads the flows when the port has it), its own netstack
 * counters and its own dp_worker. The first lcore of the EAL's -l list is
 * the main lcore: the control thread (the caller of these functions) runs
 * there, the workers on the next [io] workers lcores. The node's addresses
 * and port are the [sip] listen addresses; its MAC is the port's.
 *
 * The EAL is initialised once per process: by io_dpdk_prepare() (the node,
 * first thing at start-up), by the first io_dpdk_create() (from
 * p->dpdk_args), or by io_dpdk_eal_init() beforehand (tests and benchmarks
 * that make their own port); io_dpdk_destroy() cleans it up if one of the
 * first two initialised it, after which no DPDK back end can be created
 * again in the same process.
 *
 * Calling context: the control thread only. These functions exist only in
 * builds with DPDK (build_config.h: HAVE_DPDK).
 */
#ifndef TANDEM_IO_DPDK_H
#define TANDEM_IO_DPDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "netstack.h"

struct io_dpdk;

/*
 * Initialise the EAL from args (split like a shell: blanks separate, '...'
 * and "..." quote, backslash escapes). Returns 0 (also when already done by
 * a previous call) or a negative error with the cause in err: bad
 * arguments, no permission, no memory.
 */
int io_dpdk_eal_init(const char *args, char *err, size_t errcap);

/*
 * Initialise the EAL from args (io_dpdk_eal_init) and resolve the number of
 * workers: workers, or with workers_auto one per worker lcore the EAL was
 * given (every lcore of -l but the first). Returns that number (> 0) or a
 * negative error with the cause in err. Call it before the process starts
 * any other thread: the EAL pins the calling thread (the control thread)
 * to the main lcore, and every thread started after that inherits the
 * main lcore's CPU set, off the workers' lcores. The EAL is then the back
 * end's: io_dpdk_destroy() or io_dpdk_eal_cleanup() cleans it up.
 */
int io_dpdk_prepare(const char *args, unsigned workers, bool workers_auto, char *err,
		    size_t errcap);

/* Clean the EAL up if io_dpdk_prepare() or io_dpdk_create() initialised it
 * and no back end is left (start-up failed between the two); otherwise, and
 * when called again, nothing. */
void io_dpdk_eal_cleanup(void);

/*
 * Initialise the EAL if needed, then set up the one port it found: a
 * mempool, a queue pair per worker, RSS, checksum offloads the port has,
 * the netstack of the listen addresses, and the workers' call_rcu thread
 * (URCU_CALL_RCU_RT, made here on the control thread so that it shares
 * the control thread's CPU set). Does not start the workers. On
 * failure returns a negative error and writes a message naming the cause
 * into err ("no DPDK port: ...", "[io] workers = 3 but -l gives 1 worker
 * lcore", ...).
 */
int io_dpdk_create(const struct io_params *p, struct io_dpdk **out, char *err, size_t errcap);

/* Launch the workers on their lcores. Returns 0 or a negative error. */
int io_dpdk_start(struct io_dpdk *io, char *err, size_t errcap);

/* Ask every worker to stop and wait for its lcore. Idempotent. */
void io_dpdk_stop(struct io_dpdk *io);

/* Stop, close the port, free the pool, clean up the EAL if ours. NULL is a
 * no-op. Call rcu_barrier() after it before destroying the tables. */
void io_dpdk_destroy(struct io_dpdk *io);

unsigned io_dpdk_nworkers(const struct io_dpdk *io);

/* Worker i's pipeline context (counters), for the control thread. */
const struct dp_worker *io_dpdk_worker(const struct io_dpdk *io, unsigned i);

/* Worker i's network stack counters (NS_COUNTERS), for the control thread. */
const struct ns_counters *io_dpdk_netstack(const struct io_dpdk *io, unsigned i);

/* One line for the start-up log: port, driver, MAC, MTU, queues and
 * lcores, RSS, offloads, mbufs. */
void io_dpdk_describe(const struct io_dpdk *io, char *buf, size_t cap);

/* The port's own counters (rte_eth_stats), for show stats. */
struct io_dpdk_port_stats {
	uint64_t ipackets, opackets, ibytes, obytes;
	uint64_t imissed;                /* dropped by the port: RX queues full */
	uint64_t ierrors, oerrors;
	uint64_t rx_nombuf;              /* RX mbuf allocation failures */
};

int io_dpdk_port_stats(const struct io_dpdk *io, struct io_dpdk_port_stats *out);

/*
 * Split args into argv like a shell would, simply (for the EAL): words
 * separated by blanks, '...' literal, "..." with \" and \\, a backslash
 * outside quotes escapes the next character. The words are written into
 * buf. Returns the number of words, or TDM_EMALFORMED (unterminated
 * quote), TDM_ETOOMANY (more than max words) or TDM_ENOSPACE.
 */
int io_dpdk_split_args(const char *args, char *buf, size_t bufcap, char **argv, int max);

#endif
