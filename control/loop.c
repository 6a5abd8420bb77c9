/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"
#include "rcu.h"

#define LOOP_MAX_FDS 1024
#define LOOP_EVENTS 64

struct loop_watch {
	int fd;
	loop_fd_cb cb;
	void *arg;
	struct loop_watch *next_dead;
};

struct loop {
	int epfd;
	int wakefd;
	atomic_bool stop;
	uint64_t now_ms;
	struct loop_timer *timers;  /* sorted by due_ms */
	struct loop_watch *dead;    /* deleted watches, freed after the turn */
	struct loop_watch *watch[LOOP_MAX_FDS];
};

static void free_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_watch *w = l->dead;

		l->dead = w->next_dead;
		free(w);
	}
}

struct loop *loop_create(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
		goto fail;
	l->now_ms = clock_mono_ms();
	return l;
fail:
	loop_destroy(l);
	return NULL;
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < LOOP_MAX_FDS; i++)
		free(l->watch[i]);
	free_dead(l);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct loop_watch *w;
	struct epoll_event ev;

	if (fd < 0 || fd >= LOOP_MAX_FDS)
		return -EMFILE;
	if (l->watch[fd])
		return -EEXIST;
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct loop_watch){ .fd = fd, .cb = cb, .arg = arg };
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		free(w);
		return err;
	}
	l->watch[fd] = w;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0 || fd >= LOOP_MAX_FDS || !l->watch[fd])
		return -ENOENT;
	ev.events = events;
	ev.data.ptr = l->watch[fd];
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || fd >= LOOP_MAX_FDS || !l->watch[fd])
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* The current batch of events may still point at the watch: mark it
	 * dead and free it at the end of the turn. */
	l->watch[fd]->cb = NULL;
	l->watch[fd]->next_dead = l->dead;
	l->dead = l->watch[fd];
	l->watch[fd] = NULL;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp;

	if (!t->armed)
		return;
	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
	t->next = NULL;
}

void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_ms,
		      loop_timer_cb cb, void *arg)
{
	struct loop_timer **pp;

	loop_timer_stop(l, t);
	t->due_ms = clock_mono_ms() + delay_ms;
	t->cb = cb;
	t->arg = arg;
	t->armed = true;
	for (pp = &l->timers; *pp && (*pp)->due_ms <= t->due_ms; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
}

void loop_stop(struct loop *l)
{
	uint64_t one = 1;

	atomic_store(&l->stop, true);
	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: a wake-up is pending anyway. */
	}
}

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

static void run_timers(struct loop *l)
{
	while (l->timers && l->timers->due_ms <= l->now_ms) {
		struct loop_timer *t = l->timers;

		l->timers = t->next;
		t->next = NULL;
		t->armed = false;
		t->cb(l, t->arg);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_EVENTS];

	while (!atomic_load(&l->stop)) {
		int timeout = -1;
		int n;

		l->now_ms = clock_mono_ms();
		if (l->timers) {
			uint64_t due = l->timers->due_ms;
			timeout = due <= l->now_ms ? 0 : (int)(due - l->now_ms);
		}

		/* Sleeping: let grace periods complete without us. */
		tdm_rcu_thread_offline();
		n = epoll_wait(l->epfd, evs, LOOP_EVENTS, timeout);
		tdm_rcu_thread_online();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}

		l->now_ms = clock_mono_ms();
		for (int i = 0; i < n; i++) {
			struct loop_watch *w = evs[i].data.ptr;

			if (!w) {
				uint64_t v;
				if (read(l->wakefd, &v, sizeof(v)) < 0) {
					/* Already drained. */
				}
				continue;
			}
			if (w->cb)
				w->cb(l, w->fd, evs[i].events, w->arg);
		}
		free_dead(l);
		run_timers(l);
		tdm_rcu_quiescent_state();
	}
	return 0;
}
