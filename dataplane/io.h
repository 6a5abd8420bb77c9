/* SPDX-License-Identifier: MIT */
/*
 * I/O back ends: where the workers get their datagrams from.
 *
 * A back end owns its worker threads (or lcores) and each worker's
 * struct dp_worker. It feeds the pipeline in bursts; the pipeline does not
 * know which back end it runs under.
 *   socket: one thread per worker, each with its own SO_REUSEPORT UDP socket
 *           per listen address, recvmmsg/sendmmsg, pinned to a CPU.
 *   dpdk:   (io_dpdk.c) one lcore per worker with its own RX/TX queues.
 *
 * Calling context: create/start/stop/destroy from the control thread only.
 */
#ifndef TANDEM_IO_H
#define TANDEM_IO_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "pipeline.h"

enum io_backend {
	IO_BACKEND_SOCKET,
	IO_BACKEND_DPDK,
};

struct io_params {
	enum io_backend backend;
	const union tdm_addr *listen;    /* the SIP addresses */
	unsigned nlisten;
	unsigned workers;
	bool workers_auto;               /* [io] workers = auto: see io_prepare() */
	const unsigned *cpus;            /* worker i on cpus[i % ncpus] */
	unsigned ncpus;                  /* 0: CPU 1 + i, wrapping */
	const char *dpdk_args;
	struct dp_shared *shared;
	/* One record pool per worker, created and destroyed by the caller:
	 * records outlive the back end (they stay in the table until the
	 * table is destroyed). */
	struct rec_pool *const *pools;
};

struct io;

/*
 * The back end's process-wide set-up, called by the control thread before
 * the process starts any other thread. Reads p->backend, p->dpdk_args,
 * p->workers and p->workers_auto only. Returns the number of workers to
 * create (> 0): p->workers, except with DPDK and workers_auto, where it is
 * one per worker lcore the EAL was given. With DPDK it initialises the
 * EAL, which pins the calling thread to the main lcore: every thread
 * started afterwards (the job thread, liburcu's call_rcu threads) inherits
 * that CPU set and stays off the workers' lcores. A negative error with
 * the cause in err ("DPDK EAL initialisation failed ...: no usable
 * hugepages ...").
 */
int io_prepare(const struct io_params *p, char *err, size_t errcap);

/* Undo io_prepare() when start-up failed before io_create() (with DPDK:
 * clean the EAL up); nothing after io_destroy(), or when called twice. */
void io_unprepare(void);

/*
 * Open every socket (or port) and prepare the workers, without starting
 * them. On failure returns a negative error and writes a message naming
 * the cause into err ("127.0.0.1:5060: address already in use").
 */
int io_create(const struct io_params *p, struct io **out, char *err, size_t errcap);

/* Start the workers. Returns 0 or -errno (err as above). */
int io_start(struct io *io, char *err, size_t errcap);

/* Ask every worker to stop and wait for them. Idempotent. */
void io_stop(struct io *io);

/* Close everything; stops first if needed. NULL is a no-op. Call
 * rcu_barrier() after it before destroying the tables. */
void io_destroy(struct io *io);

unsigned io_nworkers(const struct io *io);

/*
 * The CPUs the started workers are pinned to, for the control thread to
 * keep the process's other threads off them; returns how many (0: none
 * pinned). With DPDK it returns 0: the EAL has placed every thread
 * already (the control, job and call_rcu threads on the main lcore).
 */
int io_worker_cpus(const struct io *io, cpu_set_t *set);

/* Worker i's context, for the control thread to read counters from. */
const struct dp_worker *io_worker(const struct io *io, unsigned i);

struct ns_counters;
/* Worker i's frame counters (Ethernet, ARP, IP, UDP: netstack.h) when the
 * back end terminates frames itself (dpdk); NULL for sockets. */
const struct ns_counters *io_netstack(const struct io *io, unsigned i);

/* One line about the back end for the start-up log ("" for sockets). */
void io_describe(const struct io *io, char *buf, size_t cap);

#endif
