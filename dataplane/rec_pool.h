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
 * Objects come in size classes from 64 bytes to REC_POOL_MAX_SIZE, each
 * about 1.5 times the previous. When a class is empty the owner carves a
 * new slab; memory stays in the pool until rec_pool_destroy().
 *
 * New slabs come from the pool's reserve: spare slabs of
 * REC_POOL_RESERVE_SLAB bytes that another thread (tandemd's control
 * thread, every 100 ms) allocates and hands over with rec_pool_refill(),
 * so that a worker's pool grows without the worker calling malloc (no
 * system call, no allocator lock on a DPDK lcore). Only when the reserve
 * is empty, faster growth than the refills foresaw, does the owner
 * malloc a slab itself, and that is counted (owner_mallocs). The refill
 * keeps at least twice what the owner took since the previous refill,
 * and never less than REC_POOL_RESERVE_MIN slabs.
 */
#ifndef TANDEM_REC_POOL_H
#define TANDEM_REC_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "rcu.h"   /* tdm_rcu_*: call_rcu callbacks that free start with
                     * tdm_rcu_after_grace_period() */

#define REC_POOL_MAX_SIZE 65536u
#define REC_POOL_RESERVE_SLAB (128u << 10)   /* bytes of one reserve slab */
#define REC_POOL_RESERVE_MIN 8u              /* spare slabs kept at least */
#define REC_POOL_RESERVE_MAX 512u            /* and at most (64 MiB) */

struct rec_pool;

struct rec_pool_stats {
	uint64_t slabs;        /* slabs carved so far */
	uint64_t slab_bytes;   /* bytes held in slabs */
	uint64_t allocs;       /* objects handed out */
	uint64_t frees;        /* objects taken back by the owner: counted when
	                        * the owner drains its return queues, so an
	                        * object freed but still queued is not yet in */
	uint64_t owner_mallocs;   /* slabs the owner had to malloc itself (the
	                           * reserve was empty) */
	uint64_t reserve_slabs;   /* spare slabs in the reserve now */
};

/* Create a pool; name is for reports ("worker 0", "control"). */
struct rec_pool *rec_pool_create(const char *name);

/* Free every slab. Call after rcu_barrier(), when no object is in use and
 * no free is pending. NULL is a no-op. */
void rec_pool_destroy(struct rec_pool *p);

/* Owner thread only. Returns NULL when size > REC_POOL_MAX_SIZE or the
 * system is out of memory. The memory is not zeroed. */
void *rec_pool_alloc(struct rec_pool *p, size_t size);

/*
 * Start loading, for writing, the object that the next rec_pool_alloc()
 * of the same size class as the latest one will return. A worker
 * building one record per request calls it early in the request: a
 * recycled object has usually left the cache during its grace period, and
 * without this its misses are paid when the finished record is published
 * (the compare-and-swap waits for every store before it). Owner only.
 */
void rec_pool_prefetch_next(struct rec_pool *p);

/* Any thread. obj must come from rec_pool_alloc() of some pool; NULL is a
 * no-op. A double free (or a pointer that is not a pool object, as far as
 * the hidden header shows) aborts the process: the pool would otherwise hand
 * the same memory out twice. */
void rec_pool_free(void *obj);

/* Usable size of obj (its size class), >= the size asked for. */
size_t rec_pool_obj_size(const void *obj);

/* Read by the control thread; the counts are approximate while the owner
 * is running (each field is read atomically). */
void rec_pool_get_stats(const struct rec_pool *p, struct rec_pool_stats *out);

/* One thread per pool, the refiller (it may be the owner). Top the
 * reserve up (see above); returns the slabs added, or -ENOMEM when malloc
 * failed (the slabs added before stay). */
int rec_pool_refill(struct rec_pool *p);

/* Owner thread only. Take back every object other threads have returned so
 * far (normally done lazily, per class, when a class runs empty); returns
 * how many. For an idle owner that wants exact statistics. */
uint64_t rec_pool_reclaim(struct rec_pool *p);

/* The pool obj was allocated from (any thread). */
struct rec_pool *rec_pool_owner(const void *obj);

/* The name given to rec_pool_create(). */
const char *rec_pool_name(const struct rec_pool *p);

/* The usable size an allocation of size bytes gets (its size class), or 0
 * when size > REC_POOL_MAX_SIZE. Every object also carries a 16-byte hidden
 * header. */
size_t rec_pool_class_size(size_t size);

#endif
