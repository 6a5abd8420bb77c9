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
	uint64_t retire_batches;  /* batches closed (one call_rcu each) */
	uint64_t retire_unbatched;   /* objects the batching thread retired
	                              * with their own call_rcu: every batch
	                              * was waiting */
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

/*
 * Retiring: freeing an object after an RCU grace period, the way a record
 * that readers may still hold is freed.
 *
 * By default rec_pool_retire() is call_rcu(head, fn), one callback per
 * object. A thread that retires an object for nearly every request it
 * serves (a worker: the record each REGISTER replaces) batches instead:
 * after rec_pool_retire_batching(p) on that thread, what it retires goes
 * into p's batches, one call_rcu per batch instead of per object, and once
 * a batch's grace period has passed the thread puts the objects back
 * itself: its own straight onto p's free lists, other pools' objects
 * through rec_pool_free(). No per-object callback, no return-queue round
 * trip for its own records.
 *
 * A batch is closed (its grace period starts) when it holds
 * REC_POOL_RETIRE_BATCH objects, or at a flush when it has been open for
 * REC_POOL_RETIRE_AGE_MS and at most half the ring is waiting: so a busy
 * worker starts at most about a thousand grace periods a second, whatever
 * its rate, a quiet one holds nothing back for long, and while grace
 * periods are held up (a long read-side walk) the batches fill up rather
 * than the ring. liburcu's call_rcu thread ends them in rounds about 10 ms
 * apart; REC_POOL_RETIRE_RING batches may wait at once, and while all of
 * them do, further objects take the call_rcu path (counted:
 * retire_unbatched).
 *
 * The batching thread must be p's owner and must call
 * rec_pool_retire_flush(p, now) after every burst of work: that closes the
 * open batch once old enough and takes back the batches whose grace period
 * is over. Before the thread goes away it calls
 * rec_pool_retire_flush(p, UINT64_MAX) (closes any open batch) and
 * rec_pool_retire_batching(NULL); what is still waiting then is freed with
 * p's slabs by rec_pool_destroy(), after rcu_barrier().
 */
#define REC_POOL_RETIRE_BATCH 256u   /* objects per batch at most */
#define REC_POOL_RETIRE_RING 256u    /* batches waiting at most, per pool */
#define REC_POOL_RETIRE_AGE_MS 1u    /* a flush closes a batch this old */

/* The calling thread batches what it retires into p (NULL: stop, back to
 * one call_rcu per object). The first call for p allocates its batches
 * (about 530 KiB); -ENOMEM when that fails, and the thread then does not
 * batch. */
int rec_pool_retire_batching(struct rec_pool *p);

/* Free obj, a pool object (any pool), after a grace period. head is an
 * rcu_head inside obj and fn the call_rcu callback that frees obj, used
 * when the calling thread does not batch (or its batches are all
 * waiting). Registered RCU thread. */
void rec_pool_retire(void *obj, struct rcu_head *head, void (*fn)(struct rcu_head *));

/* The batching thread of p, after each burst, with a monotonic time in
 * milliseconds: release the objects of the batches whose grace period has
 * passed, and close the open batch when it is REC_POOL_RETIRE_AGE_MS old
 * and at most half the ring is waiting (UINT64_MAX: whatever its age, as
 * long as the ring has room). Returns how many of the released objects
 * were p's own (now back on its free lists). */
uint64_t rec_pool_retire_flush(struct rec_pool *p, uint64_t now_ms);

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
 * far (normally done lazily, per class, when a class runs empty) and those
 * of retired batches whose grace period has passed; returns how many. For
 * an idle owner that wants exact statistics. */
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
