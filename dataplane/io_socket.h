/* SPDX-License-Identifier: MIT */
/*
 * The kernel socket back end (io.mode = socket). Use it through io.h; the
 * functions mirror io.h's. Control thread only.
 */
#ifndef TANDEM_IO_SOCKET_H
#define TANDEM_IO_SOCKET_H

#include "io.h"

struct io_socket;

int io_socket_create(const struct io_params *p, struct io_socket **out, char *err,
		     size_t errcap);
int io_socket_start(struct io_socket *io, char *err, size_t errcap);
void io_socket_stop(struct io_socket *io);
void io_socket_destroy(struct io_socket *io);
unsigned io_socket_nworkers(const struct io_socket *io);
/* The CPUs the started workers are pinned to; returns how many. */
int io_socket_worker_cpus(const struct io_socket *io, cpu_set_t *set);
const struct dp_worker *io_socket_worker(const struct io_socket *io, unsigned i);

#endif
