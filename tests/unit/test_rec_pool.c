/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/rec_pool.c: size classes, reuse through the
 * owner's free list and the cross-thread return queue, statistics, and a
 * steady state without slab growth.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "rec_pool.h"

static const size_t some_sizes[] = {
	0, 1, 15, 16, 17, 100, 127, 128, 129, 191, 192, 193, 300, 500, 1000,
	1500, 4096, 5000, 10000, 20000, 40000, 57536, 57537, 60000, 65535,
	REC_POOL_MAX_SIZE,
};
#define NSIZES (sizeof(some_sizes) / sizeof(some_sizes[0]))

Test(rec_pool, sizes_map_to_classes_with_usable_size_at_least_requested)
{
	struct rec_pool *p = rec_pool_create("t");
	size_t prev = 0;

	cr_assert_not_null(p);
	for (unsigned i = 0; i < NSIZES; i++) {
		size_t want = some_sizes[i];
		void *o = rec_pool_alloc(p, want);

		cr_assert_not_null(o, "size %zu", want);
		cr_assert_eq((uintptr_t)o % 16, 0, "object of %zu bytes is 16-byte aligned", want);
		cr_assert_geq(rec_pool_obj_size(o), want);
		cr_assert_eq(rec_pool_obj_size(o), rec_pool_class_size(want));
		/* The whole usable size is writable. */
		memset(o, 0xa5, rec_pool_obj_size(o));
		rec_pool_free(o);
	}
	/* Classes: 64 and 96 bytes first (the bindings table's entries), then
	 * 128, multiples of 16, each at most ~1.5x the previous, the last
	 * exactly REC_POOL_MAX_SIZE. */
	cr_assert_eq(rec_pool_class_size(0), 64);
	cr_assert_eq(rec_pool_class_size(64), 64);
	cr_assert_eq(rec_pool_class_size(65), 96);
	cr_assert_eq(rec_pool_class_size(97), 128);
	cr_assert_eq(rec_pool_class_size(128), 128);
	cr_assert_eq(rec_pool_class_size(REC_POOL_MAX_SIZE), REC_POOL_MAX_SIZE);
	for (size_t s = 1; s <= REC_POOL_MAX_SIZE; s += 7) {
		size_t c = rec_pool_class_size(s);

		cr_assert_geq(c, s);
		cr_assert_eq(c % 16, 0);
		if (c != prev && prev)
			cr_assert_leq(c * 2, prev * 3 + 32, "class %zu after %zu", c, prev);
		prev = c;
	}
	rec_pool_destroy(p);
}

Test(rec_pool, size_above_max_returns_null)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	cr_assert_null(rec_pool_alloc(p, REC_POOL_MAX_SIZE + 1));
	cr_assert_null(rec_pool_alloc(p, SIZE_MAX));
	cr_assert_eq(rec_pool_class_size(REC_POOL_MAX_SIZE + 1), 0);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.allocs, 0);
	cr_assert_eq(st.slabs, 0);
	rec_pool_destroy(p);
}

Test(rec_pool, freed_object_comes_back_after_owner_drains_without_new_slab)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;
	void *a = rec_pool_alloc(p, 200);
	void *b;

	cr_assert_not_null(a);
	rec_pool_free(a);
	/* The class's free list is empty, so the owner drains its return
	 * queue before cutting more of the slab. */
	b = rec_pool_alloc(p, 250);
	cr_assert_eq(b, a);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, 1);
	cr_assert_eq(st.allocs, 2);
	cr_assert_eq(st.frees, 1);
	rec_pool_free(b);
	rec_pool_destroy(p);
}

Test(rec_pool, create_keeps_name_and_destroy_null_is_noop)
{
	struct rec_pool *p = rec_pool_create("worker 3");

	cr_assert_str_eq(rec_pool_name(p), "worker 3");
	rec_pool_destroy(p);
	rec_pool_destroy(NULL);
}

#define XN 200

struct handoff {
	void *obj[XN];
	unsigned n;
};

static void *free_all(void *arg)
{
	struct handoff *h = arg;

	for (unsigned i = 0; i < h->n; i++)
		rec_pool_free(h->obj[i]);
	return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

Test(rec_pool, frees_from_another_thread_come_back_to_the_owner)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st0, st;
	static struct handoff h;
	void *again[XN];
	pthread_t th;

	h.n = XN;
	for (unsigned i = 0; i < XN; i++) {
		h.obj[i] = rec_pool_alloc(p, 300);
		cr_assert_not_null(h.obj[i]);
	}
	rec_pool_get_stats(p, &st0);
	cr_assert_eq(pthread_create(&th, NULL, free_all, &h), 0);
	pthread_join(th, NULL);
	/* The free list is empty: the owner takes back the queue (all XN
	 * objects) before it would cut more of its slab. */
	for (unsigned i = 0; i < XN; i++)
		again[i] = rec_pool_alloc(p, 300);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, st0.slabs, "no slab carved for returned objects");
	cr_assert_eq(st.frees, st0.frees + XN);
	qsort(h.obj, XN, sizeof(void *), cmp_ptr);
	qsort(again, XN, sizeof(void *), cmp_ptr);
	cr_assert_arr_eq(h.obj, again, sizeof(again), "the same objects came back");
	rec_pool_destroy(p);
}

Test(rec_pool, stats_count_slabs_allocs_and_frees)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;
	void *small[10], *big;

	for (unsigned i = 0; i < 10; i++)
		small[i] = rec_pool_alloc(p, 64);
	big = rec_pool_alloc(p, 40000);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, 2, "one slab per class used");
	cr_assert_eq(st.allocs, 11);
	cr_assert_eq(st.frees, 0);
	/* A 40000-byte class holds at least 32 objects per slab. */
	cr_assert_geq(st.slab_bytes, 32u * 40000u + 65536u);
	for (unsigned i = 0; i < 10; i++)
		rec_pool_free(small[i]);
	rec_pool_free(big);
	cr_assert_eq(rec_pool_reclaim(p), 11);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.frees, 11);
	cr_assert_eq(rec_pool_reclaim(p), 0);
	rec_pool_destroy(p);
}

Test(rec_pool, many_alloc_free_cycles_do_not_grow_slabs)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats first, st;
	void *o[64];

	for (unsigned round = 0; round < 5000; round++) {
		for (unsigned i = 0; i < 64; i++) {
			o[i] = rec_pool_alloc(p, (i * 997u) % 9000u);
			cr_assert_not_null(o[i]);
		}
		for (unsigned i = 0; i < 64; i++)
			rec_pool_free(o[i]);
		if (round == 0)
			rec_pool_get_stats(p, &first);
	}
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, first.slabs);
	cr_assert_eq(st.slab_bytes, first.slab_bytes);
	cr_assert_eq(st.allocs, 5000u * 64u);
	rec_pool_destroy(p);
}

Test(rec_pool, live_objects_never_overlap)
{
	struct rec_pool *p = rec_pool_create("t");
	enum { N = 3000 };
	static unsigned char *o[N];

	for (unsigned i = 0; i < N; i++) {
		o[i] = rec_pool_alloc(p, (i * 131u) % 3000u);
		cr_assert_not_null(o[i]);
		memset(o[i], (int)(i & 0xff), rec_pool_obj_size(o[i]));
	}
	for (unsigned i = 0; i < N; i++) {
		size_t sz = rec_pool_obj_size(o[i]);

		for (size_t k = 0; k < sz; k++)
			cr_assert_eq(o[i][k], (unsigned char)(i & 0xff), "object %u byte %zu", i, k);
		rec_pool_free(o[i]);
	}
	rec_pool_destroy(p);
}

Test(rec_pool, free_null_is_noop)
{
	rec_pool_free(NULL);
	cr_assert(true);
}

Test(rec_pool, double_free_aborts, .signal = SIGABRT)
{
	struct rec_pool *p = rec_pool_create("t");
	void *o = rec_pool_alloc(p, 10);

	rec_pool_free(o);
	rec_pool_free(o);
}

/* The owner allocates while another thread frees what it is handed, at the
 * same time: every object keeps its contents while live, and the pool
 * settles (slabs stop growing once the return queue feeds the owner). */
#define RING 256

struct xring {
	void *_Atomic slot[RING];
	_Atomic unsigned head, tail;
	_Atomic int done;
};

static void *ring_freer(void *arg)
{
	struct xring *r = arg;

	for (;;) {
		unsigned t = atomic_load(&r->tail);

		if (t == atomic_load(&r->head)) {
			if (atomic_load(&r->done) && t == atomic_load(&r->head))
				break;
			sched_yield();
			continue;
		}
		unsigned char *o = atomic_load(&r->slot[t % RING]);
		size_t sz = rec_pool_obj_size(o);

		for (size_t k = 0; k < sz; k++)
			if (o[k] != (unsigned char)(sz & 0xff))
				abort();
		rec_pool_free(o);
		atomic_store(&r->tail, t + 1);
	}
	return NULL;
}

Test(rec_pool, owner_allocates_while_another_thread_frees)
{
	struct rec_pool *p = rec_pool_create("t");
	static struct xring r;
	struct rec_pool_stats st;
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, ring_freer, &r), 0);
	for (unsigned i = 0; i < 100000; i++) {
		unsigned h = atomic_load(&r.head);
		unsigned char *o;

		while (h - atomic_load(&r.tail) >= RING)
			sched_yield();
		o = rec_pool_alloc(p, 100 + (i % 7) * 60);
		cr_assert_not_null(o);
		memset(o, (int)(rec_pool_obj_size(o) & 0xff), rec_pool_obj_size(o));
		atomic_store(&r.slot[h % RING], o);
		atomic_store(&r.head, h + 1);
	}
	atomic_store(&r.done, 1);
	pthread_join(th, NULL);
	rec_pool_get_stats(p, &st);
	/* At most RING objects are out at once: a few slabs per class, not
	 * one per few hundred allocations. */
	cr_assert_leq(st.slabs, 16, "slabs %llu", (unsigned long long)st.slabs);
	cr_assert_eq(st.allocs, 100000);
	rec_pool_destroy(p);
}

/* ---- the reserve of spare slabs ---- */

Test(rec_pool, a_pool_with_spare_slabs_grows_without_malloc_on_its_owner)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	cr_assert_eq(rec_pool_refill(p), (int)REC_POOL_RESERVE_MIN);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.reserve_slabs, REC_POOL_RESERVE_MIN);
	/* Four classes (128, 432, 656 and 992 bytes), 250 objects each: 1, 1,
	 * 2 and 2 slabs of the reserve's 8. */
	for (unsigned i = 0; i < 1000; i++)
		cr_assert_not_null(rec_pool_alloc(p, 100 + (i % 4) * 200));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.owner_mallocs, 0, "the owner malloc'ed %llu slabs",
		     (unsigned long long)st.owner_mallocs);
	cr_assert_eq(st.reserve_slabs + st.slabs, REC_POOL_RESERVE_MIN,
		     "every carved slab came from the reserve");
	cr_assert_eq(st.slab_bytes, st.slabs * REC_POOL_RESERVE_SLAB);
	rec_pool_destroy(p);   /* frees the slabs still in the reserve too */
}

Test(rec_pool, an_empty_reserve_makes_the_owner_malloc_and_count_it)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;
	unsigned n = 0;

	cr_assert_eq(rec_pool_refill(p), (int)REC_POOL_RESERVE_MIN);
	/* The largest class: one object per reserve slab. */
	for (; n < REC_POOL_RESERVE_MIN + 3; n++) {
		unsigned char *o = rec_pool_alloc(p, REC_POOL_MAX_SIZE);

		cr_assert_not_null(o);
		memset(o, 0xa5, REC_POOL_MAX_SIZE);   /* the whole object is ours */
	}
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.reserve_slabs, 0);
	cr_assert_eq(st.owner_mallocs, 1, "one slab of 32 objects malloc'ed after the reserve ran out");
	cr_assert_eq(st.allocs, n);
	rec_pool_destroy(p);
}

Test(rec_pool, refill_keeps_twice_what_was_taken_since_the_last_refill)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	cr_assert_eq(rec_pool_refill(p), (int)REC_POOL_RESERVE_MIN);
	cr_assert_eq(rec_pool_refill(p), 0, "nothing taken, nothing to add");
	for (unsigned i = 0; i < REC_POOL_RESERVE_MIN; i++)
		cr_assert_not_null(rec_pool_alloc(p, REC_POOL_MAX_SIZE));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.reserve_slabs, 0);
	/* 8 taken: keep 16 spare now. */
	cr_assert_eq(rec_pool_refill(p), (int)(2 * REC_POOL_RESERVE_MIN));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.reserve_slabs, 2 * REC_POOL_RESERVE_MIN);
	cr_assert_eq(st.owner_mallocs, 0);
	rec_pool_destroy(p);
}

struct refiller {
	struct rec_pool *p;
	atomic_int done;
};

static void *refill_loop(void *arg)
{
	struct refiller *r = arg;

	while (!atomic_load(&r->done)) {
		cr_assert_geq(rec_pool_refill(r->p), 0);
		sched_yield();
	}
	return NULL;
}

Test(rec_pool, the_owner_takes_slabs_while_another_thread_refills)
{
	static struct refiller r;
	struct rec_pool_stats st;
	pthread_t th;

	r.p = rec_pool_create("t");
	atomic_store(&r.done, 0);
	cr_assert_eq(rec_pool_refill(r.p), (int)REC_POOL_RESERVE_MIN);
	cr_assert_eq(pthread_create(&th, NULL, refill_loop, &r), 0);
	for (unsigned i = 0; i < 3000; i++) {
		unsigned char *o = rec_pool_alloc(r.p, REC_POOL_MAX_SIZE / 2 + i % 64);

		cr_assert_not_null(o);
		o[0] = (unsigned char)i;   /* a slab handed over is writable */
		o[rec_pool_obj_size(o) - 1] = (unsigned char)i;
	}
	atomic_store(&r.done, 1);
	pthread_join(th, NULL);
	rec_pool_get_stats(r.p, &st);
	cr_assert_eq(st.allocs, 3000);
	/* Three objects of this class per reserve slab: the first 8 slabs
	 * came from the reserve at least, the rest from it or, when the
	 * refiller lagged, from the owner's own malloc (32 objects each). */
	cr_assert_geq(st.slabs - st.owner_mallocs, REC_POOL_RESERVE_MIN);
	cr_assert_geq(3 * (st.slabs - st.owner_mallocs) + 32 * st.owner_mallocs, 3000);
	rec_pool_destroy(r.p);
}

/* rec_pool_prefetch_next() is a hint: on a fresh pool, between carved
 * objects, after frees and for the largest class, it changes neither
 * which object comes next nor the counts. */
Test(rec_pool, prefetch_next_changes_no_allocation)
{
	struct rec_pool *p = rec_pool_create("t"), *q = rec_pool_create("u");
	struct rec_pool_stats sp, sq;
	void *a[8], *b[8];

	rec_pool_prefetch_next(p);   /* nothing allocated yet */
	for (int i = 0; i < 8; i++) {
		size_t size = i == 7 ? REC_POOL_MAX_SIZE : 64 + 40 * (size_t)i;

		rec_pool_prefetch_next(p);
		a[i] = rec_pool_alloc(p, size);
		b[i] = rec_pool_alloc(q, size);
		cr_assert_not_null(a[i]);
		cr_assert_not_null(b[i]);
	}
	rec_pool_free(a[2]);
	rec_pool_free(b[2]);
	rec_pool_prefetch_next(p);   /* the largest class, nothing free */
	void *c = rec_pool_alloc(p, 144), *d;

	rec_pool_prefetch_next(p);
	d = rec_pool_alloc(p, 144);
	cr_assert_eq(c, a[2], "the freed object comes back first");
	cr_assert_neq(d, c);
	cr_assert_eq(rec_pool_alloc(q, 144), b[2]);
	rec_pool_get_stats(p, &sp);
	rec_pool_get_stats(q, &sq);
	cr_assert_eq(sp.allocs, 10);
	cr_assert_eq(sq.allocs, 9);
	cr_assert_eq(sp.slabs, sq.slabs, "no slab more than without the hints");
	rec_pool_destroy(p);
	rec_pool_destroy(q);
}

/* The refiller touches every page of a spare slab, so that the owner
 * (a worker) carving it takes no page fault: filling a whole reserve slab
 * with objects costs the owning thread no minor fault. */
Test(rec_pool, a_slab_from_the_reserve_costs_its_owner_no_page_fault)
{
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;
	struct rusage r0, r1;
	const size_t size = 992;
	const unsigned per_slab = (REC_POOL_RESERVE_SLAB - 64) / (size + 16);

	cr_assert_geq(rec_pool_refill(p), 1);
	getrusage(RUSAGE_THREAD, &r0);
	for (unsigned i = 0; i < per_slab; i++) {
		char *o = rec_pool_alloc(p, size);

		cr_assert_not_null(o);
		memset(o, 0x5a, size);
	}
	getrusage(RUSAGE_THREAD, &r1);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, 1, "one reserve slab holds them all");
	cr_assert_eq(st.owner_mallocs, 0);
	/* 0 here; without the refiller's touch, one per 4 KiB page (31).
	 * AddressSanitizer's shadow memory may add a fault of its own. */
	cr_assert_lt(r1.ru_minflt - r0.ru_minflt, 4, "%ld page faults on the owner",
		     r1.ru_minflt - r0.ru_minflt);
	rec_pool_destroy(p);
}

/* ------------------------------------------------------------------ */
/* Retiring in batches (rec_pool_retire) */

/* An object with an rcu_head, as a record has. */
struct robj {
	struct rcu_head rcu;
	char pad[48];
};

static atomic_uint per_object_callbacks;

static void robj_free_rcu(struct rcu_head *head)
{
	tdm_rcu_after_grace_period();
	atomic_fetch_add(&per_object_callbacks, 1);
	rec_pool_free(caa_container_of(head, struct robj, rcu));
}

static void retire_robj(void *obj)
{
	struct robj *o = obj;

	rec_pool_retire(o, &o->rcu, robj_free_rcu);
}

/* Wait until every grace period started so far is over and its callbacks
 * have run: offline (QSBR cannot wait for ourselves), rcu_barrier(). */
static void grace_periods_pass(void)
{
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

/* A batching thread's retired objects wait in a batch (one call_rcu per
 * batch, none per object), come back at the first flush after their grace
 * period and not before, straight to the owner's free list: the next
 * allocations are those objects, no slab is carved. */
Test(rec_pool, a_batching_thread_takes_its_retired_objects_back_after_the_grace_period)
{
	struct rec_pool *p = rec_pool_create("w");
	struct rec_pool_stats st0, st;
	void *obj[10], *again[10];

	rcu_register_thread();
	cr_assert_eq(rec_pool_retire_batching(p), 0);
	atomic_store(&per_object_callbacks, 0);
	for (int i = 0; i < 10; i++)
		obj[i] = rec_pool_alloc(p, sizeof(struct robj));
	for (int i = 0; i < 10; i++)
		retire_robj(obj[i]);
	rec_pool_get_stats(p, &st0);
	cr_assert_eq(st0.retire_batches, 0, "a batch stays open until a flush or full");
	cr_assert_eq(rec_pool_retire_flush(p, 1000), 0, "nothing has passed a grace period yet");
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 1);
	cr_assert_eq(st.frees, 0, "the objects wait for their grace period");
	/* Still online since the flush: the grace period cannot have ended. */
	cr_assert_eq(rec_pool_retire_flush(p, 1001), 0);

	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, 1002), 10);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.frees, 10);
	cr_assert_eq(st.retire_batches, 1);
	cr_assert_eq(st.retire_unbatched, 0);
	cr_assert_eq(atomic_load(&per_object_callbacks), 0, "no call_rcu per object");
	for (int i = 0; i < 10; i++)
		again[i] = rec_pool_alloc(p, sizeof(struct robj));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.slabs, st0.slabs, "no slab carved for retired objects");
	qsort(obj, 10, sizeof(void *), cmp_ptr);
	qsort(again, 10, sizeof(void *), cmp_ptr);
	cr_assert_arr_eq(obj, again, sizeof(again), "the same objects came back");

	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* A flush closes the open batch only once it is REC_POOL_RETIRE_AGE_MS
 * old (counted from the flush before its first object), so that a busy
 * thread starts few grace periods; UINT64_MAX closes it at any age. */
Test(rec_pool, a_flush_closes_the_open_batch_once_it_is_old_enough)
{
	struct rec_pool *p = rec_pool_create("w");
	struct rec_pool_stats st;

	rcu_register_thread();
	rec_pool_retire_batching(p);
	rec_pool_retire_flush(p, 5000);
	retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_retire_flush(p, 5000);
	retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 0, "open for less than REC_POOL_RETIRE_AGE_MS");
	rec_pool_retire_flush(p, 5000 + REC_POOL_RETIRE_AGE_MS);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 1, "both objects in one batch");

	retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_retire_flush(p, UINT64_MAX);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 2, "UINT64_MAX closes a batch of any age");
	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, 5000 + REC_POOL_RETIRE_AGE_MS), 3);
	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* While half the ring is waiting (grace periods held up, e.g. by a long
 * read-side walk), a flush no longer closes the open batch by age: it
 * fills up to REC_POOL_RETIRE_BATCH first, so that a slow trickle of
 * objects does not use up the ring one object per batch. */
Test(rec_pool, with_half_the_ring_waiting_batches_close_only_when_full)
{
	struct rec_pool *p = rec_pool_create("w");
	struct rec_pool_stats st;
	uint64_t t = 1000;

	rcu_register_thread();
	rec_pool_retire_batching(p);
	for (unsigned i = 0; i < REC_POOL_RETIRE_RING / 2; i++) {
		retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
		rec_pool_retire_flush(p, t += REC_POOL_RETIRE_AGE_MS);
	}
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, REC_POOL_RETIRE_RING / 2, "one object each, by age");
	retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_retire_flush(p, t += 10 * REC_POOL_RETIRE_AGE_MS);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, REC_POOL_RETIRE_RING / 2, "old, but not closed");
	for (unsigned i = 1; i < REC_POOL_RETIRE_BATCH; i++)
		retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, REC_POOL_RETIRE_RING / 2 + 1, "closed when full");
	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, t), REC_POOL_RETIRE_RING / 2 + REC_POOL_RETIRE_BATCH);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_unbatched, 0);
	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* A batch closes by itself when it is full: its grace period starts
 * without waiting for a flush. */
Test(rec_pool, a_full_batch_closes_without_a_flush)
{
	struct rec_pool *p = rec_pool_create("w");
	struct rec_pool_stats st;

	rcu_register_thread();
	rec_pool_retire_batching(p);
	for (unsigned i = 0; i < REC_POOL_RETIRE_BATCH + 1; i++)
		retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 1);
	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, 0), REC_POOL_RETIRE_BATCH,
		     "the full batch is back; the other one is still open");
	rec_pool_retire_flush(p, UINT64_MAX);
	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, 0), 1);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 2);
	cr_assert_eq(st.frees, REC_POOL_RETIRE_BATCH + 1);
	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* Another pool's object, retired by a batching thread, goes back to its
 * own pool (through that pool's return queue), not to the batching one. */
Test(rec_pool, a_retired_object_of_another_pool_goes_back_to_its_owner)
{
	struct rec_pool *p = rec_pool_create("w"), *q = rec_pool_create("other");
	struct rec_pool_stats sp, sq;
	void *mine = rec_pool_alloc(p, sizeof(struct robj));
	void *theirs = rec_pool_alloc(q, sizeof(struct robj));

	rcu_register_thread();
	rec_pool_retire_batching(p);
	retire_robj(mine);
	retire_robj(theirs);
	rec_pool_retire_flush(p, UINT64_MAX);
	grace_periods_pass();
	cr_assert_eq(rec_pool_retire_flush(p, 0), 1, "only the pool's own object is counted");
	rec_pool_get_stats(p, &sp);
	cr_assert_eq(sp.frees, 1);
	cr_assert_eq(rec_pool_reclaim(q), 1, "the other pool takes its object back");
	rec_pool_get_stats(q, &sq);
	cr_assert_eq(sq.frees, 1);
	cr_assert_eq(rec_pool_alloc(q, sizeof(struct robj)), theirs);
	cr_assert_eq(rec_pool_alloc(p, sizeof(struct robj)), mine);
	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
	rec_pool_destroy(q);
}

/* When every batch is waiting (the thread never passed a quiescent
 * state, so no grace period can end), what is retired next takes its own
 * call_rcu, counted; nothing is lost: all of it comes back. */
Test(rec_pool, with_every_batch_waiting_an_object_takes_its_own_call_rcu)
{
	struct rec_pool *p = rec_pool_create("w");
	struct rec_pool_stats st;
	const unsigned batched = REC_POOL_RETIRE_RING * REC_POOL_RETIRE_BATCH;

	rcu_register_thread();
	rec_pool_retire_batching(p);
	atomic_store(&per_object_callbacks, 0);
	for (unsigned i = 0; i < batched + 3; i++)
		retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, REC_POOL_RETIRE_RING);
	cr_assert_eq(st.retire_unbatched, 3);
	grace_periods_pass();
	cr_assert_eq(atomic_load(&per_object_callbacks), 3);
	cr_assert_eq(rec_pool_retire_flush(p, 0), batched);
	cr_assert_eq(rec_pool_reclaim(p), 3, "the call_rcu ones come through the return queue");
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.frees, batched + 3);
	cr_assert_eq(st.allocs, batched + 3);
	rec_pool_retire_batching(NULL);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* A thread that does not batch retires with one call_rcu per object. */
Test(rec_pool, a_thread_that_does_not_batch_retires_with_call_rcu)
{
	struct rec_pool *p = rec_pool_create("control");
	struct rec_pool_stats st;

	rcu_register_thread();
	atomic_store(&per_object_callbacks, 0);
	for (int i = 0; i < 5; i++)
		retire_robj(rec_pool_alloc(p, sizeof(struct robj)));
	grace_periods_pass();
	cr_assert_eq(atomic_load(&per_object_callbacks), 5);
	cr_assert_eq(rec_pool_reclaim(p), 5);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.retire_batches, 0);
	rcu_unregister_thread();
	rec_pool_destroy(p);
}

/* Retiring an object twice is a double free, caught when its batch comes
 * back. */
Test(rec_pool, retiring_twice_aborts, .signal = SIGABRT)
{
	struct rec_pool *p = rec_pool_create("w");
	void *o = rec_pool_alloc(p, sizeof(struct robj));

	rcu_register_thread();
	rec_pool_retire_batching(p);
	retire_robj(o);
	retire_robj(o);
	rec_pool_retire_flush(p, UINT64_MAX);
	grace_periods_pass();
	rec_pool_retire_flush(p, 0);
}
