/* SPDX-License-Identifier: MIT */
/*
 * The store job thread (see jobs.h): a mutex-protected FIFO of jobs in,
 * a mutex-protected FIFO of finished jobs out, an eventfd to wake the
 * control loop. The lock is held only to link and unlink list nodes, never
 * across a job or a callback.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "jobs.h"
#include "rcu.h"

struct job {
	job_work_fn work;
	job_done_fn done;
	void *arg;
	int rc;
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
};

struct jobs {
	struct loop *loop;
	pthread_t thread;
	bool started;
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job_list todo;          /* lock */
	struct job_list finished;      /* lock */
	bool stopping;                 /* lock */
	unsigned pending;              /* control thread */
};

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
	}
	return j;
}

static void *job_thread(void *arg)
{
	struct jobs *js = arg;
	uint64_t one = 1;

	rcu_register_thread();
	tdm_rcu_thread_offline();
	pthread_mutex_lock(&js->lock);
	for (;;) {
		struct job *j = list_pop(&js->todo);

		if (!j) {
			if (js->stopping)
				break;
			pthread_cond_wait(&js->cond, &js->lock);
			continue;
		}
		pthread_mutex_unlock(&js->lock);
		tdm_rcu_thread_online();
		j->rc = j->work(j->arg);
		tdm_rcu_thread_offline();
		pthread_mutex_lock(&js->lock);
		list_push(&js->finished, j);
		/* A full eventfd counter cannot happen with one increment per
		 * job; a failed write is harmless (the loop drains the list). */
		if (write(js->efd, &one, sizeof(one)) < 0)
			(void)0;
	}
	pthread_mutex_unlock(&js->lock);
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Run the done callbacks of the finished jobs (control thread). */
static void reap(struct jobs *js)
{
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&js->lock);
		j = list_pop(&js->finished);
		pthread_mutex_unlock(&js->lock);
		if (!j)
			return;
		js->pending--;
		if (j->done)
			j->done(j->arg, j->rc);
		free(j);
	}
}

static void on_event(struct loop *l, int fd, uint32_t events, void *arg)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		(void)0;  /* EAGAIN: a wake-up already consumed */
	reap(arg);
}

int jobs_create(struct loop *loop, struct jobs **out)
{
	struct jobs *js = calloc(1, sizeof(*js));
	int rc;

	*out = NULL;
	if (!js)
		return -ENOMEM;
	js->loop = loop;
	pthread_mutex_init(&js->lock, NULL);
	pthread_cond_init(&js->cond, NULL);
	js->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (js->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = loop_add_fd(loop, js->efd, EPOLLIN, on_event, js);
	if (rc < 0)
		goto fail;
	rc = -pthread_create(&js->thread, NULL, job_thread, js);
	if (rc < 0) {
		loop_del_fd(loop, js->efd);
		goto fail;
	}
	pthread_setname_np(js->thread, "tandem-jobs");
	js->started = true;
	*out = js;
	return 0;
fail:
	if (js->efd >= 0)
		close(js->efd);
	pthread_cond_destroy(&js->cond);
	pthread_mutex_destroy(&js->lock);
	free(js);
	return rc;
}

void jobs_destroy(struct jobs *js)
{
	if (!js)
		return;
	pthread_mutex_lock(&js->lock);
	js->stopping = true;
	pthread_cond_signal(&js->cond);
	pthread_mutex_unlock(&js->lock);
	/* The control thread may be an online reader: a job that waits for
	 * a grace period must not wait for us. */
	tdm_rcu_thread_offline();
	pthread_join(js->thread, NULL);
	tdm_rcu_thread_online();
	/* Done callbacks may queue more work (freeing a table they replaced):
	 * with the thread gone, run it here. */
	for (;;) {
		struct job *j;

		reap(js);
		pthread_mutex_lock(&js->lock);
		j = list_pop(&js->todo);
		pthread_mutex_unlock(&js->lock);
		if (!j)
			break;
		j->rc = j->work(j->arg);
		pthread_mutex_lock(&js->lock);
		list_push(&js->finished, j);
		pthread_mutex_unlock(&js->lock);
	}
	loop_del_fd(js->loop, js->efd);
	close(js->efd);
	pthread_cond_destroy(&js->cond);
	pthread_mutex_destroy(&js->lock);
	free(js);
}

int jobs_submit(struct jobs *js, job_work_fn work, job_done_fn done, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&js->lock);
	list_push(&js->todo, j);
	pthread_cond_signal(&js->cond);
	pthread_mutex_unlock(&js->lock);
	js->pending++;
	return 0;
}

unsigned jobs_pending(const struct jobs *js)
{
	return js->pending;
}
