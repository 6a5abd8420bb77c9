/* SPDX-License-Identifier: MIT */
/*
 * The I/O back end chosen by [io] mode: kernel sockets (io_socket.c) or
 * DPDK (io_dpdk.c, when the build has DPDK). Everything above this file
 * (the node, the stats) sees one interface, io.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "build_config.h"
#include "io.h"
#include "io_socket.h"
#if HAVE_DPDK
#include "io_dpdk.h"
#endif

struct io {
	enum io_backend backend;
	struct io_socket *sock;
#if HAVE_DPDK
	struct io_dpdk *dpdk;
#endif
};

int io_prepare(const struct io_params *p, char *err, size_t errcap)
{
#if HAVE_DPDK
	if (p->backend == IO_BACKEND_DPDK)
		return io_dpdk_prepare(p->dpdk_args ? p->dpdk_args : "", p->workers,
				       p->workers_auto, err, errcap);
#else
	if (p->backend == IO_BACKEND_DPDK) {
		snprintf(err, errcap, "[io] mode = dpdk: this build has no DPDK back end "
			 "(rebuild with libdpdk-dev installed)");
		return -ENOTSUP;
	}
#endif
	(void)err;
	(void)errcap;
	return (int)p->workers;
}

void io_unprepare(void)
{
#if HAVE_DPDK
	io_dpdk_eal_cleanup();
#endif
}

int io_create(const struct io_params *p, struct io **out, char *err, size_t errcap)
{
	struct io *io;
	int rc;

	*out = NULL;
#if !HAVE_DPDK
	if (p->backend == IO_BACKEND_DPDK) {
		snprintf(err, errcap, "[io] mode = dpdk: this build has no DPDK back end "
			 "(rebuild with libdpdk-dev installed)");
		return -ENOTSUP;
	}
#endif
	io = calloc(1, sizeof(*io));
	if (!io) {
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	io->backend = p->backend;
#if HAVE_DPDK
	if (p->backend == IO_BACKEND_DPDK)
		rc = io_dpdk_create(p, &io->dpdk, err, errcap);
	else
#endif
		rc = io_socket_create(p, &io->sock, err, errcap);
	if (rc < 0) {
		free(io);
		return rc;
	}
	*out = io;
	return 0;
}

int io_start(struct io *io, char *err, size_t errcap)
{
#if HAVE_DPDK
	if (io->dpdk)
		return io_dpdk_start(io->dpdk, err, errcap);
#endif
	return io_socket_start(io->sock, err, errcap);
}

void io_stop(struct io *io)
{
#if HAVE_DPDK
	if (io->dpdk) {
		io_dpdk_stop(io->dpdk);
		return;
	}
#endif
	io_socket_stop(io->sock);
}

void io_destroy(struct io *io)
{
	if (!io)
		return;
#if HAVE_DPDK
	io_dpdk_destroy(io->dpdk);
#endif
	io_socket_destroy(io->sock);
	free(io);
}

int io_worker_cpus(const struct io *io, cpu_set_t *set)
{
#if HAVE_DPDK
	if (io->dpdk) {
		CPU_ZERO(set);
		return 0;
	}
#endif
	return io_socket_worker_cpus(io->sock, set);
}

unsigned io_nworkers(const struct io *io)
{
#if HAVE_DPDK
	if (io->dpdk)
		return io_dpdk_nworkers(io->dpdk);
#endif
	return io_socket_nworkers(io->sock);
}

const struct dp_worker *io_worker(const struct io *io, unsigned i)
{
#if HAVE_DPDK
	if (io->dpdk)
		return io_dpdk_worker(io->dpdk, i);
#endif
	return io_socket_worker(io->sock, i);
}

const struct ns_counters *io_netstack(const struct io *io, unsigned i)
{
#if HAVE_DPDK
	if (io->dpdk)
		return io_dpdk_netstack(io->dpdk, i);
#endif
	return NULL;
}

void io_describe(const struct io *io, char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
#if HAVE_DPDK
	if (io->dpdk)
		io_dpdk_describe(io->dpdk, buf, cap);
#endif
}
