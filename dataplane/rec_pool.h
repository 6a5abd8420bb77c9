/* SPDX-License-Identifier: MIT */
/*
 * Per-thread pool of variable-sized records, so that workers never call
 * malloc on the per-packet path.
 *
 * Each writing thread (a worker, the control thread) owns one pool.
 * Allocation is single-threaded: only the owner calls rec_pool_alloc().
 * Freeing is allowed from any thread (in practice the call_rcu thread, after
 * a grace period): rec_pool_free() pushes the object onto its owner's
 * wait-free return queue (liburcu cds_wfcq), and the owner takes the
 * returned objects back when its own free list of that size class is empty.
 *
 * Objects come in size classes from 128 bytes to REC_POOL_MAX_SIZE, each
 * about 1.5 times the previous. When a class is empty the owner carves a
 * new slab from the system allocator; memory stays in the pool until
 * rec_pool_destroy(). The slab allocation is amortised over many objects and
 * counted, so a steady state does no malloc at all.
 */
#ifndef TANDEM_REC_POOL_H
#define TANDEM_REC_POOL_H

#include <stddef.h>
#include <stdint.h>

#define REC_POOL_MAX_SIZE 65536u

struct rec_pool;

struct rec_pool_stats {
	uint64_t slabs;        /* slabs carved so far */
	uint64_t slab_bytes;   /* bytes held in slabs */
	uint64_t allocs;       /* objects handed out */
	uint64_t frees;        /* objects returned */
};

/* Create a pool; name is for reports ("worker 0", "control"). */
struct rec_pool *rec_pool_create(const char *name);

/* Free every slab. Call after rcu_barrier(), when no object is in use and
 * no free is pending. NULL is a no-op. */
void rec_pool_destroy(struct rec_pool *p);

/* Owner thread only. Returns NULL when size > REC_POOL_MAX_SIZE or the
 * system is out of memory. The memory is not zeroed. */
void *rec_pool_alloc(struct rec_pool *p, size_t size);

/* Any thread. obj must come from rec_pool_alloc() of some pool. */
void rec_pool_free(void *obj);

/* Usable size of obj (its size class), >= the size asked for. */
size_t rec_pool_obj_size(const void *obj);

/* Read by the control thread; the counts are approximate while the owner
 * is running (each field is read atomically). */
void rec_pool_get_stats(const struct rec_pool *p, struct rec_pool_stats *out);

#endif
