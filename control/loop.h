/* SPDX-License-Identifier: MIT */
/*
 * The control thread's event loop: epoll for file descriptors, a small
 * timer list for deadlines, signalfd for SIGTERM/SIGINT (set up by the
 * caller). One loop, one thread; nothing here is thread-safe except
 * loop_stop().
 *
 * The loop is an urcu-qsbr reader: it reports a quiescent state after every
 * turn and is offline while it sleeps in epoll_wait(), so callbacks run on
 * the read side and may dereference RCU-protected tables.
 */
#ifndef TANDEM_LOOP_H
#define TANDEM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, void *arg);

struct loop_timer {
	uint64_t due_ms;          /* monotonic */
	loop_timer_cb cb;
	void *arg;
	bool armed;
	struct loop_timer *next;  /* private */
};

struct loop *loop_create(void);
void loop_destroy(struct loop *l);

/* events are EPOLLIN / EPOLLOUT / ... Returns 0 or -errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);

/* Arm t to fire once at now + delay_ms (re-arming moves it). */
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ms,
		      loop_timer_cb cb, void *arg);
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/* Run until loop_stop(). Returns 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
/* Any thread (async-signal-safe). */
void loop_stop(struct loop *l);

/* Monotonic time cached at the start of the current turn. */
uint64_t loop_now_ms(const struct loop *l);

#endif
