/* SPDX-License-Identifier: MIT */
/*
 * The store job thread: long work the control thread must not do itself
 * (an import of a million users, committing a replicated snapshot,
 * building or freeing a whole users table), run in order on one thread of
 * its own, with each job's completion handed back to the control loop.
 *
 * jobs_submit(work, done, arg): work(arg) runs on the job thread, then
 * done(arg, rc) runs on the control loop with work's return value. Jobs run
 * one at a time in submission order, so a job may rely on the ones before
 * it (stage chunk 2 after chunk 1, commit after the last chunk).
 *
 * The job thread is an urcu-qsbr reader: online while a job runs (a job
 * may read and write RCU tables that no worker reads yet, or call
 * synchronize_rcu()), offline while it waits for the next one, so it never
 * holds up a grace period while idle.
 *
 * The control loop learns of completions through an eventfd watched by the
 * loop. jobs_destroy() waits for the running job and the queued ones: each
 * runs its work, and its done callback runs too (from jobs_destroy).
 *
 * jobs_submit / jobs_pending / jobs_destroy: control thread only.
 */
#ifndef TANDEM_JOBS_H
#define TANDEM_JOBS_H

#include <stdint.h>

#include "loop.h"

struct jobs;

typedef int (*job_work_fn)(void *arg);
typedef void (*job_done_fn)(void *arg, int rc);

/* Start the thread. Returns 0 or a negative error. */
int jobs_create(struct loop *loop, struct jobs **out);

/* Wait for every queued job (their done callbacks run), stop the thread.
 * NULL is a no-op. */
void jobs_destroy(struct jobs *j);

/* Queue a job. done may be NULL. Returns 0 or -ENOMEM. */
int jobs_submit(struct jobs *j, job_work_fn work, job_done_fn done, void *arg);

/* Jobs queued or running whose done callback has not run yet. */
unsigned jobs_pending(const struct jobs *j);

#endif
