/* SPDX-License-Identifier: MIT */
/*
 * Per-thread record pool (see rec_pool.h for the contract).
 *
 * Layout. Every object is preceded by a 16-byte hidden header naming its
 * owner pool and size class, so that rec_pool_free() can be called with
 * nothing but the pointer. Objects live in slabs carved from malloc; a
 * slab holds at least 32 objects and at least 64 KiB, and is cut lazily
 * (a bump pointer) so that a fresh slab is not touched all at once.
 *
 * Per class the owner keeps a LIFO free list (hot objects first). Other
 * threads give objects back through a liburcu wait-free concurrent queue
 * (cds_wfcq): enqueue is a single xchg, the owner is the only consumer and
 * uses the lock-free "__" variants. The owner looks at the queue only when
 * its free list is empty, and never waits there: an enqueuer caught between
 * its two stores makes the owner stop draining (nonblocking dequeue), not
 * spin.
 *
 * The statistics are C11 atomics with one writer each (the owner), stored
 * with a plain load + store, read from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
/* The return queue synchronises through liburcu's own atomics, which
 * ThreadSanitizer does not see. Call the library's (uninstrumented) queue
 * functions instead of inlining them, and tell ThreadSanitizer about the
 * hand-over of each object. */
#undef _LGPL_SOURCE
#include <urcu/wfcqueue.h>
#define _LGPL_SOURCE 1
#include <sanitizer/tsan_interface.h>
#define tsan_release(p) __tsan_release(p)
#define tsan_acquire(p) __tsan_acquire(p)
#else
#include <urcu/wfcqueue.h>
#define tsan_release(p) ((void)(p))
#define tsan_acquire(p) ((void)(p))
#endif
#include <urcu/compiler.h>

#include "rec_pool.h"

#define POOL_ALIGN 16u
#define POOL_HDR 16u
#define SLAB_MIN_BYTES 65536u
#define SLAB_MIN_OBJS 32u
#define OBJ_MAGIC_LIVE 0x52454331u   /* "REC1" */
#define OBJ_MAGIC_FREE 0x52454330u   /* "REC0" */

/* Usable sizes: 64 and 96 bytes (the bindings table's per-AOR entries),
 * then 128 and about 1.5x each (multiples of 16), capped at
 * REC_POOL_MAX_SIZE. */
static const uint32_t class_size[] = {
	64, 96, 128, 192, 288, 432, 656, 992, 1488, 2240, 3360, 5040, 7568, 11360,
	17040, 25568, 38352, 57536, 65536,
};

#define NCLASSES (sizeof(class_size) / sizeof(class_size[0]))

_Static_assert(NCLASSES < 256, "class index must fit the object header");
_Static_assert(sizeof(class_size) / sizeof(class_size[0]) == 19, "class table");

struct obj_hdr {
	struct rec_pool *owner;
	uint32_t cls;
	uint32_t magic;
};

_Static_assert(sizeof(struct obj_hdr) == POOL_HDR, "object header is 16 bytes");

struct free_obj {
	struct free_obj *next;
};

struct slab {
	struct slab *next;
	size_t bytes;
};

_Static_assert(sizeof(struct slab) % POOL_ALIGN == 0, "slab header keeps alignment");

struct pool_class {
	/* Owner only. */
	struct free_obj *free;
	char *carve;                 /* next uncut object in the newest slab */
	uint32_t carve_left;
	/* Consumer end of the return queue (owner only; an enqueuer into an
	 * empty queue writes head.node.next). */
	struct __cds_wfcq_head head;
	/* Producer end: written by every freeing thread. */
	struct cds_wfcq_tail tail __attribute__((aligned(64)));
} __attribute__((aligned(64)));

/* The reserve: a single-producer (the refiller), single-consumer (the
 * owner) ring of spare slabs. Each index has one writer; the release
 * store of an index publishes the slots it covers. */
#define RESERVE_CAP 512u
/* The refiller writes one byte this far apart in a spare slab: no larger
 * than the smallest page size (4 KiB on x86-64 and most others). */
#define RESERVE_TOUCH_STRIDE 4096u

_Static_assert(RESERVE_CAP >= REC_POOL_RESERVE_MAX, "the ring holds the reserve");
_Static_assert((RESERVE_CAP & (RESERVE_CAP - 1)) == 0, "a power of two");

struct reserve {
	_Atomic uint32_t head __attribute__((aligned(64)));   /* refiller writes */
	uint32_t taken_seen;                                  /* refiller only */
	_Atomic uint32_t tail __attribute__((aligned(64)));   /* owner writes */
	struct slab *ring[RESERVE_CAP];
};

/* Retired objects waiting for their grace period (rec_pool.h, "Retiring").
 * The batches [head, open) are closed, each with its call_rcu pending or
 * done; batch open is being filled, since the flush at opened_ms. Owner
 * only, except done, which the batch's call_rcu callback sets (release)
 * and the owner reads (acquire). */
struct retire_batch {
	struct rcu_head rcu;
	_Atomic uint32_t done;
	uint32_t n;
	uint64_t opened_ms;
	void *obj[REC_POOL_RETIRE_BATCH];
} __attribute__((aligned(64)));

struct retire_ring {
	uint32_t head;
	uint32_t open;
	uint64_t now_ms;             /* the latest flush's */
	struct retire_batch b[REC_POOL_RETIRE_RING];
};

_Static_assert((REC_POOL_RETIRE_RING & (REC_POOL_RETIRE_RING - 1)) == 0, "a power of two");

struct rec_pool {
	struct pool_class cls[NCLASSES];
	struct reserve reserve;
	struct retire_ring *retire;  /* owner only; made by the first
	                              * rec_pool_retire_batching() */
	struct slab *slabs;          /* owner only */
	unsigned last_cls;           /* owner only: the latest alloc's class */
	_Atomic uint64_t st_slabs;
	_Atomic uint64_t st_slab_bytes;
	_Atomic uint64_t st_allocs;
	_Atomic uint64_t st_frees;
	_Atomic uint64_t st_owner_mallocs;
	_Atomic uint64_t st_retire_batches;
	_Atomic uint64_t st_retire_unbatched;
	char name[32];
};

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	/* Single writer: no read-modify-write needed, only untorn accesses. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline size_t obj_stride(unsigned cls)
{
	return POOL_HDR + class_size[cls];
}

static inline struct obj_hdr *obj_hdr(const void *obj)
{
	return (struct obj_hdr *)((char *)(uintptr_t)obj - POOL_HDR);
}

/* The class of every size up to SMALL_MAX in steps of 16 bytes, filled
 * in on first use: the sizes of most records, found with one load. */
#define SMALL_MAX 1488u
static uint8_t small_class[SMALL_MAX / 16 + 1];
static pthread_once_t small_once = PTHREAD_ONCE_INIT;

static unsigned size_class_search(size_t size);

static void small_class_init(void)
{
	for (unsigned i = 0; i <= SMALL_MAX / 16; i++)
		small_class[i] = (uint8_t)size_class_search((size_t)i * 16);
}

static unsigned size_class(size_t size)
{
	if (size <= SMALL_MAX)
		return small_class[(size + 15) / 16];
	return size_class_search(size);
}

static unsigned size_class_search(size_t size)
{
	unsigned lo = 0, hi = NCLASSES - 1;

	/* Smallest class >= size; the caller checked size <= the largest. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (class_size[mid] >= size)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct rec_pool *rec_pool_create(const char *name)
{
	struct rec_pool *p = NULL;

	pthread_once(&small_once, small_class_init);
	if (posix_memalign((void **)&p, 64, sizeof(*p)) != 0)
		return NULL;
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < NCLASSES; i++)
		__cds_wfcq_init(&p->cls[i].head, &p->cls[i].tail);
	atomic_init(&p->st_slabs, 0);
	atomic_init(&p->st_slab_bytes, 0);
	atomic_init(&p->st_allocs, 0);
	atomic_init(&p->st_frees, 0);
	atomic_init(&p->st_owner_mallocs, 0);
	atomic_init(&p->st_retire_batches, 0);
	atomic_init(&p->st_retire_unbatched, 0);
	atomic_init(&p->reserve.head, 0);
	atomic_init(&p->reserve.tail, 0);
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	return p;
}

void rec_pool_destroy(struct rec_pool *p)
{
	if (!p)
		return;
	tsan_acquire(p);   /* the last frees happened before (rcu_barrier) */
	for (uint32_t i = atomic_load(&p->reserve.tail); i != atomic_load(&p->reserve.head); i++)
		free(p->reserve.ring[i % RESERVE_CAP]);
	while (p->slabs) {
		struct slab *s = p->slabs;

		p->slabs = s->next;
		free(s);
	}
	free(p->retire);
	free(p);
}

struct rec_pool *rec_pool_owner(const void *obj)
{
	return obj_hdr(obj)->owner;
}

const char *rec_pool_name(const struct rec_pool *p)
{
	return p->name;
}

/* Take back everything other threads returned to class c, up to the first
 * enqueue still in progress. Returns the number of objects taken. */
static uint64_t drain_returns(struct rec_pool *p, struct pool_class *c)
{
	uint64_t n = 0;

	for (;;) {
		struct cds_wfcq_node *node =
			__cds_wfcq_dequeue_nonblocking(&c->head, &c->tail);
		struct free_obj *f;

		if (!node || node == CDS_WFCQ_WOULDBLOCK)
			break;
		tsan_acquire(node);
		f = (struct free_obj *)node;
		f->next = c->free;
		c->free = f;
		n++;
	}
	if (n)
		stat_add(&p->st_frees, n);
	return n;
}

/* A spare slab from the reserve, or NULL. Owner only. */
static struct slab *reserve_take(struct rec_pool *p)
{
	struct reserve *r = &p->reserve;
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct slab *s;

	if (tail == atomic_load_explicit(&r->head, memory_order_acquire))
		return NULL;
	s = r->ring[tail % RESERVE_CAP];
	tsan_acquire(s);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return s;
}

int rec_pool_refill(struct rec_pool *p)
{
	struct reserve *r = &p->reserve;
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t taken = tail - r->taken_seen;
	uint32_t want = 2 * taken;
	int added = 0;

	r->taken_seen = tail;
	if (want < REC_POOL_RESERVE_MIN)
		want = REC_POOL_RESERVE_MIN;
	if (want > REC_POOL_RESERVE_MAX)
		want = REC_POOL_RESERVE_MAX;
	while (head - tail < want) {
		struct slab *s = malloc(REC_POOL_RESERVE_SLAB);

		if (!s)
			return -ENOMEM;
		/* Fault every page in here, so that the owner carving the
		 * slab later takes no page fault (a worker would stall in the
		 * kernel for each new page of a fresh mapping). */
		for (size_t off = 0; off < REC_POOL_RESERVE_SLAB; off += RESERVE_TOUCH_STRIDE)
			((volatile char *)s)[off] = 0;
		s->bytes = REC_POOL_RESERVE_SLAB;
		tsan_release(s);
		r->ring[head % RESERVE_CAP] = s;
		head++;
		atomic_store_explicit(&r->head, head, memory_order_release);
		added++;
	}
	return added;
}

static int carve_slab(struct rec_pool *p, unsigned cls)
{
	struct pool_class *c = &p->cls[cls];
	size_t stride = obj_stride(cls);
	size_t nobj;
	size_t bytes;
	struct slab *s = reserve_take(p);

	_Static_assert(sizeof(struct slab) + POOL_HDR + REC_POOL_MAX_SIZE <= REC_POOL_RESERVE_SLAB,
		       "a reserve slab holds an object of every class");
	if (s) {
		bytes = s->bytes;
		nobj = (bytes - sizeof(*s)) / stride;
	} else {
		nobj = SLAB_MIN_BYTES / stride;
		if (nobj < SLAB_MIN_OBJS)
			nobj = SLAB_MIN_OBJS;
		bytes = sizeof(*s) + nobj * stride;
		s = malloc(bytes);
		if (!s)
			return -ENOMEM;
		stat_add(&p->st_owner_mallocs, 1);
	}
	s->next = p->slabs;
	s->bytes = bytes;
	p->slabs = s;
	c->carve = (char *)(s + 1);
	c->carve_left = (uint32_t)nobj;
	stat_add(&p->st_slabs, 1);
	stat_add(&p->st_slab_bytes, bytes);
	return 0;
}

void *rec_pool_alloc(struct rec_pool *p, size_t size)
{
	struct pool_class *c;
	struct obj_hdr *h;
	unsigned cls;

	if (size > REC_POOL_MAX_SIZE)
		return NULL;
	cls = size_class(size);
	p->last_cls = cls;
	c = &p->cls[cls];
	if (!c->free)
		drain_returns(p, c);
	if (c->free) {
		struct free_obj *f = c->free;

		c->free = f->next;
		h = obj_hdr(f);
	} else {
		if (!c->carve_left && carve_slab(p, cls) < 0)
			return NULL;
		h = (struct obj_hdr *)c->carve;
		c->carve += obj_stride(cls);
		c->carve_left--;
		h->owner = p;
		h->cls = cls;
	}
	h->magic = OBJ_MAGIC_LIVE;
	stat_add(&p->st_allocs, 1);
	return h + 1;
}

void rec_pool_prefetch_next(struct rec_pool *p)
{
	const struct pool_class *c = &p->cls[p->last_cls];
	size_t n = obj_stride(p->last_cls);
	const char *o;

	/* From the object's header (written by the allocation) to its end,
	 * four lines at most: the records this is for are smaller. */
	if (c->free)
		o = (const char *)obj_hdr(c->free);
	else if (c->carve_left)
		o = c->carve;
	else
		return;
	for (size_t off = 0; off < n && off < 256; off += 64)
		__builtin_prefetch(o + off, 1);
}

/* The header of obj, which is being freed, marked free. A double free or
 * a pointer that is not ours aborts: the pool is corrupt from there on,
 * and carrying on would hand the same memory to two records. */
static struct obj_hdr *hdr_to_free(void *obj, const char *who)
{
	struct obj_hdr *h = obj_hdr(obj);

	if (h->magic != OBJ_MAGIC_LIVE || h->cls >= NCLASSES) {
		fprintf(stderr, "%s(%p): %s\n", who, obj,
			h->magic == OBJ_MAGIC_FREE ? "double free" : "not a pool object");
		abort();
	}
	h->magic = OBJ_MAGIC_FREE;
	return h;
}

void rec_pool_free(void *obj)
{
	struct obj_hdr *h;
	struct pool_class *c;
	struct rec_pool *owner;
	struct cds_wfcq_node *node = obj;

	if (!obj)
		return;
	h = hdr_to_free(obj, "rec_pool_free");
	owner = h->owner;
	c = &owner->cls[h->cls];
	cds_wfcq_node_init(node);
	tsan_release(node);
	cds_wfcq_enqueue(&c->head, &c->tail, node);
	tsan_release(owner);   /* for rec_pool_destroy() */
}

/* ------------------------------------------------------------------ */
/* Retiring in batches */

/* The pool the calling thread batches its retired objects into, if any. */
static __thread struct rec_pool *thread_retire_pool;

int rec_pool_retire_batching(struct rec_pool *p)
{
	if (p && !p->retire) {
		struct retire_ring *r = aligned_alloc(64, sizeof(*r));

		if (!r) {
			thread_retire_pool = NULL;
			return -ENOMEM;
		}
		memset(r, 0, sizeof(*r));
		for (unsigned i = 0; i < REC_POOL_RETIRE_RING; i++)
			atomic_init(&r->b[i].done, 0);
		p->retire = r;
	}
	thread_retire_pool = p;
	return 0;
}

static void batch_done_rcu(struct rcu_head *head)
{
	struct retire_batch *b = caa_container_of(head, struct retire_batch, rcu);

	tdm_rcu_after_grace_period();
	atomic_store_explicit(&b->done, 1, memory_order_release);
}

/* Start the grace period of the open batch, which holds objects. */
static void batch_close(struct rec_pool *p)
{
	struct retire_ring *r = p->retire;
	struct retire_batch *b = &r->b[r->open % REC_POOL_RETIRE_RING];

	atomic_store_explicit(&b->done, 0, memory_order_relaxed);
	call_rcu(&b->rcu, batch_done_rcu);
	r->open++;
	stat_add(&p->st_retire_batches, 1);
}

/* Release the objects of the closed batches whose grace period has
 * passed, oldest first; returns how many of them were p's own (now on its
 * free lists). Owner only. */
static uint64_t batches_reclaim(struct rec_pool *p)
{
	struct retire_ring *r = p->retire;
	uint64_t own = 0;

	if (!r)
		return 0;
	while (r->head != r->open) {
		struct retire_batch *b = &r->b[r->head % REC_POOL_RETIRE_RING];

		if (!atomic_load_explicit(&b->done, memory_order_acquire))
			break;
		for (uint32_t i = 0; i < b->n; i++) {
			struct free_obj *f = b->obj[i];
			struct pool_class *c;

			if (obj_hdr(f)->owner != p) {
				rec_pool_free(f);
				continue;
			}
			c = &p->cls[hdr_to_free(f, "rec_pool_retire")->cls];
			f->next = c->free;
			c->free = f;
			own++;
		}
		b->n = 0;
		r->head++;
	}
	if (own)
		stat_add(&p->st_frees, own);
	return own;
}

void rec_pool_retire(void *obj, struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	struct rec_pool *p = thread_retire_pool;
	struct retire_ring *r;
	struct retire_batch *b;

	if (!p) {
		call_rcu(head, fn);
		return;
	}
	r = p->retire;
	if (r->open - r->head == REC_POOL_RETIRE_RING) {
		/* Every batch is waiting; those whose wait is over make room. */
		batches_reclaim(p);
		if (r->open - r->head == REC_POOL_RETIRE_RING) {
			stat_add(&p->st_retire_unbatched, 1);
			call_rcu(head, fn);
			return;
		}
	}
	b = &r->b[r->open % REC_POOL_RETIRE_RING];
	if (b->n == 0)
		b->opened_ms = r->now_ms;
	b->obj[b->n++] = obj;
	if (b->n == REC_POOL_RETIRE_BATCH)
		batch_close(p);
}

uint64_t rec_pool_retire_flush(struct rec_pool *p, uint64_t now_ms)
{
	struct retire_ring *r = p->retire;
	const struct retire_batch *b;
	uint32_t waiting;
	uint64_t n;

	if (!r)
		return 0;
	n = batches_reclaim(p);
	if (now_ms != UINT64_MAX)
		r->now_ms = now_ms;
	waiting = r->open - r->head;
	if (waiting == REC_POOL_RETIRE_RING)
		return n;   /* no open batch: the next retire tries again */
	b = &r->b[r->open % REC_POOL_RETIRE_RING];
	/* By age only while at least half the ring is free: when grace
	 * periods are held up (a long read-side walk), the batches fill up
	 * instead, so that the ring holds up to REC_POOL_RETIRE_BATCH times
	 * as many objects as a slow trickle of single-object batches would
	 * leave room for. */
	if (b->n && (now_ms == UINT64_MAX ||
		     (waiting < REC_POOL_RETIRE_RING / 2 &&
		      now_ms - b->opened_ms >= REC_POOL_RETIRE_AGE_MS)))
		batch_close(p);
	return n;
}

uint64_t rec_pool_reclaim(struct rec_pool *p)
{
	uint64_t n = batches_reclaim(p);

	for (unsigned i = 0; i < NCLASSES; i++)
		n += drain_returns(p, &p->cls[i]);
	return n;
}

size_t rec_pool_obj_size(const void *obj)
{
	return class_size[obj_hdr(obj)->cls];
}

void rec_pool_get_stats(const struct rec_pool *p, struct rec_pool_stats *out)
{
	out->slabs = atomic_load_explicit(&p->st_slabs, memory_order_relaxed);
	out->slab_bytes = atomic_load_explicit(&p->st_slab_bytes, memory_order_relaxed);
	out->allocs = atomic_load_explicit(&p->st_allocs, memory_order_relaxed);
	out->frees = atomic_load_explicit(&p->st_frees, memory_order_relaxed);
	out->owner_mallocs = atomic_load_explicit(&p->st_owner_mallocs, memory_order_relaxed);
	out->retire_batches = atomic_load_explicit(&p->st_retire_batches, memory_order_relaxed);
	out->retire_unbatched = atomic_load_explicit(&p->st_retire_unbatched,
						     memory_order_relaxed);
	/* tail first: head only grows, so it cannot be read below it */
	uint32_t tail = atomic_load_explicit(&p->reserve.tail, memory_order_acquire);

	out->reserve_slabs = atomic_load_explicit(&p->reserve.head, memory_order_acquire) - tail;
}

size_t rec_pool_class_size(size_t size)
{
	return size > REC_POOL_MAX_SIZE ? 0 : class_size[size_class_search(size)];
}
