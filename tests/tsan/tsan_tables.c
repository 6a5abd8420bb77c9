/* SPDX-License-Identifier: MIT */
/*
 * The concurrency tests of the tables, for ThreadSanitizer builds.
 *
 * Criterion cannot start under ThreadSanitizer, so this is a plain program:
 * it runs each test in turn, prints "PASS name" or "FAIL name: why" for each
 * and a closing "N passed, N failed" line, and exits 0 only when every test
 * passed. Run under -fsanitize=thread (meson test --suite tsan in a
 * -Db_sanitize=thread build), a data race also fails it: ThreadSanitizer
 * reports it on stderr and makes the exit status non-zero (66).
 *
 * The tests (the same logic as their Criterion counterparts in tests/unit/,
 * with bounded work so that an instrumented run stays short):
 *   - bindings: writers update the same AORs copy-on-write while an expirer
 *     adds expired bindings, a sweeper sweeps and a reader checks every
 *     record it sees; no update is lost, every expired binding is swept
 *     exactly once, and no reader ever sees a broken record;
 *   - rec_pool: objects freed by another thread come back to their owner,
 *     and an owner allocating while another thread frees keeps every live
 *     object intact;
 *   - users: readers look users up by name and number while the control
 *     thread replaces and deletes them; every user found is whole.
 * Records freed through call_rcu, or retired in the writers' batches
 * (rec_pool_retire_batching(), as tandemd's workers do), are recycled by
 * their pools, so the runs exercise the grace-period annotations of
 * common/rcu.h and the batches' hand-back as well.
 *
 * Usage: tsan-tables [NAME-SUBSTRING...]   (no argument: every test)
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "clock.h"
#include "err.h"
#include "rcu.h"
#include "rec_pool.h"
#include "users.h"

/* ---- a minimal harness --------------------------------------------------- */

static char fail_msg[512];

static bool failf(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool failf(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (fail_msg[0])
		return false;   /* keep the first failure */
	n = snprintf(fail_msg, sizeof(fail_msg), "%s:%d: ", file, line);
	if (n < 0 || (size_t)n >= sizeof(fail_msg))
		return false;
	va_start(ap, fmt);
	vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* In a test function (returns bool): fail the test with a message. */
#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			return failf(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* Start a thread or fail the test. */
#define START(th, fn, arg) \
	CHECK(pthread_create((th), NULL, (fn), (arg)) == 0, "pthread_create failed")

/* ---- bindings: concurrent writers ---------------------------------------- */

/*
 * CW_WRITERS threads each make CW_UPDATES copy-on-write updates of the same
 * CW_AORS records: look up, copy every other binding, refresh their own
 * (cseq = how many updates this writer made to this AOR), publish, and on
 * TDM_ERACE start again from the current record. Meanwhile an expirer adds
 * already-expired bindings to those records and keeps inserting a record of
 * expired bindings only (the churn AOR), a sweeper sweeps in a loop (one
 * walk and a walk in steps of 3 records, in turn), and a reader checks every
 * record it sees. At the end every record holds exactly one binding per
 * writer with the writer's own count, and the sweeps removed exactly the
 * expired bindings and churn records published.
 */
#define CW_WRITERS 4
#define CW_AORS 3
#define CW_UPDATES 5000
#define CW_SRC 64
#define CW_NOW 1000u           /* the sweeper's clock */
#define CW_EXPIRED 1u          /* an expired binding's deadline */

struct cw {
	struct bind_table *t;
	tstr aor[CW_AORS];
	uint64_t hash[CW_AORS];
	tstr churn;
	uint64_t churn_hash;
	_Atomic int writers_left;
	_Atomic uint64_t lost;          /* a writer found its count wrong */
	_Atomic uint64_t bad_reads;     /* a reader saw a broken or older record */
	_Atomic uint64_t build_fail;
};

struct cw_writer {
	struct cw *cw;
	unsigned id;
	struct rec_pool *pool;
	uint32_t done[CW_AORS];
	uint64_t races;
	char uri[64];
	char call_id[64];
	struct binding_src src[CW_SRC];
};

struct cw_aux {
	struct cw *cw;
	struct rec_pool *pool;
	uint64_t races;
	uint64_t expired_added;         /* bindings published already expired */
	uint64_t churn_inserted;        /* churn records inserted */
	uint64_t swept_bindings;
	uint64_t swept_aors;
	uint64_t sweeps;
	uint64_t reads;
	struct binding_src src[CW_SRC];
};

static bool tstr_is(tstr a, const char *s)
{
	return tstr_eq(a, tstr_cstr(s));
}

static bool cw_is_writer_uri(tstr uri, unsigned *id)
{
	if (uri.len != 22 || memcmp(uri.s, "sip:writer", 10) != 0)
		return false;
	*id = (unsigned)(uri.s[10] - '0');
	return *id < CW_WRITERS;
}

static void *cw_writer_main(void *arg)
{
	struct cw_writer *w = arg;
	struct cw *cw = w->cw;
	uint32_t rng = 0x9e3779b9u * (w->id + 1);

	rcu_register_thread();
	/* The writers retire what they replace as workers do: in batches,
	 * flushed every few updates (a burst), taken back by the writer. */
	if (rec_pool_retire_batching(w->pool) < 0)
		atomic_fetch_add(&cw->build_fail, 1);
	/* "sip:writerN@192.0.2.99": a fixed 22 bytes. */
	snprintf(w->uri, sizeof(w->uri), "sip:writer%u@192.0.2.99", w->id);
	for (unsigned i = 0; i < CW_UPDATES; i++) {
		unsigned a;

		rng = rng * 1103515245u + 12345u;
		a = (rng >> 16) % CW_AORS;
		for (;;) {
			const struct aor_rec *cur = bind_lookup(cw->t, cw->aor[a], cw->hash[a]);
			uint32_t prev = 0;
			unsigned n = 0;
			struct aor_rec *rec;
			int rc;

			for (unsigned k = 0; cur && k < cur->nbind && n < CW_SRC - 1; k++) {
				unsigned id;

				if (cw_is_writer_uri(binding_uri(cur, &cur->b[k]), &id) && id == w->id)
					prev = cur->b[k].cseq;
				else
					binding_to_src(cur, &cur->b[k], &w->src[n++]);
			}
			if (prev != w->done[a])
				atomic_fetch_add(&cw->lost, 1);
			snprintf(w->call_id, sizeof(w->call_id), "cw-%u-%u", w->id, prev + 1);
			w->src[n] = (struct binding_src){
				.uri = tstr_cstr(w->uri),
				.call_id = tstr_cstr(w->call_id),
				.expires_ms = UINT64_MAX,
				.registered_ms = i,
				.cseq = prev + 1,
				.reg_id = (int32_t)w->id,
				.q = BINDING_Q_NONE,
			};
			rec = aor_rec_build(w->pool, cw->aor[a], cw->hash[a], w->src, n + 1, NULL);
			if (!rec) {
				atomic_fetch_add(&cw->build_fail, 1);
				break;
			}
			rc = bind_publish(cw->t, cur, rec);
			if (rc == 0) {
				w->done[a]++;
				break;
			}
			aor_rec_discard(rec);
			if (rc != TDM_ERACE) {
				atomic_fetch_add(&cw->build_fail, 1);
				break;
			}
			w->races++;
			tdm_rcu_quiescent_state();
		}
		if (i % 4 == 3)
			rec_pool_retire_flush(w->pool, clock_mono_ms());
		tdm_rcu_quiescent_state();
	}
	/* Close the last batch and take back every batch, as a worker does
	 * over its next bursts: here by waiting for the grace periods. */
	rec_pool_retire_flush(w->pool, UINT64_MAX);
	tdm_rcu_thread_offline();
	rcu_barrier();
	tdm_rcu_thread_online();
	rec_pool_retire_flush(w->pool, UINT64_MAX);
	rec_pool_retire_batching(NULL);
	atomic_fetch_sub(&cw->writers_left, 1);
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Add one expired binding to a shared record (or to the churn record,
 * inserting it when absent), retrying lost races. */
static void cw_add_expired(struct cw_aux *x, tstr aor, uint64_t hash, bool may_insert)
{
	struct cw *cw = x->cw;
	char uri[64];

	snprintf(uri, sizeof(uri), "sip:expired%llu@192.0.2.7",
		 (unsigned long long)x->expired_added);
	for (;;) {
		const struct aor_rec *cur = bind_lookup(cw->t, aor, hash);
		struct aor_rec *rec;
		unsigned n = 0;
		int rc;

		if (!cur && !may_insert)
			return;
		if (cur && cur->nbind >= 16)
			return;   /* let the sweeper catch up */
		for (unsigned k = 0; cur && k < cur->nbind; k++)
			binding_to_src(cur, &cur->b[k], &x->src[n++]);
		x->src[n++] = (struct binding_src){
			.uri = tstr_cstr(uri),
			.call_id = TSTR_LIT("expired"),
			.expires_ms = CW_EXPIRED,
			.reg_id = BINDING_REG_ID_NONE,
			.q = BINDING_Q_NONE,
		};
		rec = aor_rec_build(x->pool, aor, hash, x->src, n, NULL);
		if (!rec) {
			atomic_fetch_add(&cw->build_fail, 1);
			return;
		}
		rc = bind_publish(cw->t, cur, rec);
		if (rc == 0) {
			x->expired_added++;
			if (!cur)
				x->churn_inserted++;
			return;
		}
		aor_rec_discard(rec);
		x->races++;
		tdm_rcu_quiescent_state();
	}
}

static void *cw_expirer_main(void *arg)
{
	struct cw_aux *x = arg;
	struct cw *cw = x->cw;
	unsigned i = 0;

	rcu_register_thread();
	while (atomic_load(&cw->writers_left) > 0) {
		if (i++ % 2)
			cw_add_expired(x, cw->churn, cw->churn_hash, true);
		else
			cw_add_expired(x, cw->aor[i % CW_AORS], cw->hash[i % CW_AORS], false);
		tdm_rcu_quiescent_state();
		if (i % 8 == 0)
			sched_yield();
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Every other sweep goes in steps of a few records, passing quiescent
 * states between them (bind_sweep_step()). */
static uint64_t cw_sweep(struct cw_aux *x, uint64_t *aors)
{
	struct bind_sweep s;

	if (x->sweeps % 2 == 0)
		return bind_sweep(x->cw->t, x->pool, CW_NOW, aors);
	bind_sweep_begin(&s, x->cw->t, x->pool, CW_NOW);
	while (!bind_sweep_step(&s, 3))
		tdm_rcu_quiescent_state();
	return bind_sweep_end(&s, aors);
}

static void *cw_sweeper_main(void *arg)
{
	struct cw_aux *x = arg;
	struct cw *cw = x->cw;

	rcu_register_thread();
	while (atomic_load(&cw->writers_left) > 0) {
		uint64_t aors = 0;

		x->swept_bindings += cw_sweep(x, &aors);
		x->swept_aors += aors;
		x->sweeps++;
		tdm_rcu_quiescent_state();
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Every record a reader sees is whole: known AOR, bindings whose strings
 * match their fields, and no writer's count going backwards. */
static void *cw_reader_main(void *arg)
{
	struct cw_aux *x = arg;
	struct cw *cw = x->cw;
	uint32_t last[CW_AORS][CW_WRITERS] = { { 0 } };

	rcu_register_thread();
	while (atomic_load(&cw->writers_left) > 0) {
		for (unsigned a = 0; a < CW_AORS; a++) {
			const struct aor_rec *r = bind_lookup(cw->t, cw->aor[a], cw->hash[a]);
			unsigned seen[CW_WRITERS] = { 0 };

			x->reads++;
			if (!r)
				continue;
			if (!tstr_eq(aor_rec_key(r), cw->aor[a]) || r->nbind == 0)
				atomic_fetch_add(&cw->bad_reads, 1);
			for (unsigned k = 0; k < r->nbind; k++) {
				const struct binding *b = &r->b[k];
				tstr uri = binding_uri(r, b);
				char expect[64];
				unsigned id;

				if (!cw_is_writer_uri(uri, &id)) {
					if (b->expires_ms != CW_EXPIRED ||
					    !tstr_is(binding_call_id(r, b), "expired"))
						atomic_fetch_add(&cw->bad_reads, 1);
					continue;
				}
				snprintf(expect, sizeof(expect), "cw-%u-%u", id, b->cseq);
				if (!tstr_is(binding_call_id(r, b), expect) ||
				    b->reg_id != (int32_t)id || seen[id]++ ||
				    b->cseq < last[a][id])
					atomic_fetch_add(&cw->bad_reads, 1);
				last[a][id] = b->cseq;
			}
			tdm_rcu_quiescent_state();
		}
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

static bool bindings_concurrent_writers_lose_no_update(void)
{
	static struct cw cw;
	static struct cw_writer w[CW_WRITERS];
	static struct cw_aux expirer, sweeper, reader;
	static const char *const aors[CW_AORS] = {
		"sip:shared0@example.com", "sip:shared1@example.com", "sip:shared2@example.com",
	};
	struct bind_table_params prm = { .initial_buckets = 16 };
	pthread_t th[CW_WRITERS + 3];
	unsigned started = 0;
	struct rec_pool *ctl = rec_pool_create("final");
	uint64_t final_aors = 0, final_bindings, total = 0, races = 0;
	bool ok = false;

	cw.t = bind_table_create(&prm);
	CHECK(cw.t && ctl, "cannot create the table or a pool");
	for (unsigned a = 0; a < CW_AORS; a++) {
		cw.aor[a] = tstr_cstr(aors[a]);
		cw.hash[a] = bind_hash(cw.t, cw.aor[a]);
	}
	cw.churn = TSTR_LIT("sip:churn@example.com");
	cw.churn_hash = bind_hash(cw.t, cw.churn);
	atomic_store(&cw.writers_left, CW_WRITERS);
	expirer = (struct cw_aux){ .cw = &cw, .pool = rec_pool_create("expirer") };
	sweeper = (struct cw_aux){ .cw = &cw, .pool = rec_pool_create("sweeper") };
	reader = (struct cw_aux){ .cw = &cw };
	CHECK(expirer.pool && sweeper.pool, "cannot create a pool");
	for (unsigned i = 0; i < CW_WRITERS; i++) {
		w[i] = (struct cw_writer){ .cw = &cw, .id = i, .pool = rec_pool_create("writer") };
		CHECK(w[i].pool, "cannot create a pool");
	}
	/* Offline while the others run, or no grace period could end. */
	tdm_rcu_thread_offline();
	for (unsigned i = 0; i < CW_WRITERS; i++)
		if (pthread_create(&th[started], NULL, cw_writer_main, &w[i]) == 0)
			started++;
	if (pthread_create(&th[started], NULL, cw_expirer_main, &expirer) == 0)
		started++;
	if (pthread_create(&th[started], NULL, cw_sweeper_main, &sweeper) == 0)
		started++;
	if (pthread_create(&th[started], NULL, cw_reader_main, &reader) == 0)
		started++;
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	tdm_rcu_thread_online();
	CHECK(started == CW_WRITERS + 3, "pthread_create failed");

	CHECK(atomic_load(&cw.build_fail) == 0, "a record could not be built or published");
	CHECK(atomic_load(&cw.lost) == 0, "a writer found its own binding out of date "
	      "(%llu times): an update was lost", (unsigned long long)atomic_load(&cw.lost));
	CHECK(atomic_load(&cw.bad_reads) == 0, "a reader saw a broken or older record "
	      "(%llu times)", (unsigned long long)atomic_load(&cw.bad_reads));

	/* Whatever expired bindings are left, a last sweep takes. */
	final_bindings = bind_sweep(cw.t, ctl, CW_NOW, &final_aors);
	CHECK(sweeper.swept_bindings + final_bindings == expirer.expired_added,
	      "swept %llu expired bindings, %llu were published",
	      (unsigned long long)(sweeper.swept_bindings + final_bindings),
	      (unsigned long long)expirer.expired_added);
	CHECK(sweeper.swept_aors + final_aors == expirer.churn_inserted,
	      "deleted %llu churn records, %llu were inserted",
	      (unsigned long long)(sweeper.swept_aors + final_aors),
	      (unsigned long long)expirer.churn_inserted);
	CHECK(!bind_lookup(cw.t, cw.churn, cw.churn_hash), "the churn record survived");

	for (unsigned a = 0; a < CW_AORS; a++) {
		const struct aor_rec *r = bind_lookup(cw.t, cw.aor[a], cw.hash[a]);
		bool seen[CW_WRITERS] = { false };

		CHECK(r, "%s: the record is gone", aors[a]);
		CHECK(r->nbind == CW_WRITERS, "%s: %u bindings, one per writer expected",
		      aors[a], (unsigned)r->nbind);
		for (unsigned k = 0; k < r->nbind; k++) {
			unsigned id;

			CHECK(cw_is_writer_uri(binding_uri(r, &r->b[k]), &id),
			      "%s: a binding of no writer", aors[a]);
			CHECK(!seen[id], "%s: writer %u twice", aors[a], id);
			seen[id] = true;
			CHECK(r->b[k].cseq == w[id].done[a], "%s writer %u: cseq %u, updates %u",
			      aors[a], id, r->b[k].cseq, w[id].done[a]);
		}
	}
	for (unsigned i = 0; i < CW_WRITERS; i++)
		for (unsigned a = 0; a < CW_AORS; a++)
			total += w[i].done[a];
	CHECK(total == (uint64_t)CW_WRITERS * CW_UPDATES, "%llu updates made, %llu expected",
	      (unsigned long long)total, (unsigned long long)CW_WRITERS * CW_UPDATES);
	CHECK(sweeper.sweeps > 0 && expirer.expired_added > 0,
	      "the sweeper or the expirer never ran");
	for (unsigned i = 0; i < CW_WRITERS; i++) {
		struct rec_pool_stats ps;

		rec_pool_get_stats(w[i].pool, &ps);
		CHECK(ps.retire_batches > 0 && ps.frees > 0,
		      "writer %u: %llu batches closed, %llu objects taken back", i,
		      (unsigned long long)ps.retire_batches, (unsigned long long)ps.frees);
		races += w[i].races;
	}
	printf("  %llu updates, %llu writer races (TDM_ERACE), %llu expirer races, "
	       "%llu expired bindings, %llu churn records, %llu sweeps, %llu reads\n",
	       (unsigned long long)total, (unsigned long long)races,
	       (unsigned long long)expirer.races, (unsigned long long)expirer.expired_added,
	       (unsigned long long)expirer.churn_inserted, (unsigned long long)sweeper.sweeps,
	       (unsigned long long)reader.reads);
	ok = true;

	/* The table first (it waits for its retired records), then the pools. */
	bind_table_destroy(cw.t);
	for (unsigned i = 0; i < CW_WRITERS; i++)
		rec_pool_destroy(w[i].pool);
	rec_pool_destroy(expirer.pool);
	rec_pool_destroy(sweeper.pool);
	rec_pool_destroy(ctl);
	return ok;
}

/* ---- rec_pool: frees from other threads ---------------------------------- */

#define XN 200

struct handoff {
	void *obj[XN];
};

static void *free_all(void *arg)
{
	struct handoff *h = arg;

	for (unsigned i = 0; i < XN; i++)
		rec_pool_free(h->obj[i]);
	return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* The owner fills objects, another thread frees them all, and the owner
 * gets exactly those objects back (no new slab) and may write them. */
static bool rec_pool_frees_from_another_thread_come_back_to_the_owner(void)
{
	struct rec_pool *p = rec_pool_create("handoff");
	struct rec_pool_stats st0, st;
	static struct handoff h;
	void *again[XN];
	pthread_t th;

	CHECK(p, "cannot create a pool");
	for (unsigned i = 0; i < XN; i++) {
		h.obj[i] = rec_pool_alloc(p, 300);
		CHECK(h.obj[i], "allocation %u failed", i);
		memset(h.obj[i], (int)i, 300);
	}
	rec_pool_get_stats(p, &st0);
	START(&th, free_all, &h);
	pthread_join(th, NULL);
	for (unsigned i = 0; i < XN; i++) {
		again[i] = rec_pool_alloc(p, 300);
		CHECK(again[i], "allocation %u failed", i);
		memset(again[i], 0xa5, 300);
	}
	rec_pool_get_stats(p, &st);
	CHECK(st.slabs == st0.slabs, "a slab was carved for returned objects");
	CHECK(st.frees == st0.frees + XN, "%llu frees counted, %llu expected",
	      (unsigned long long)st.frees, (unsigned long long)(st0.frees + XN));
	qsort(h.obj, XN, sizeof(void *), cmp_ptr);
	qsort(again, XN, sizeof(void *), cmp_ptr);
	CHECK(memcmp(h.obj, again, sizeof(again)) == 0, "other objects came back");
	rec_pool_destroy(p);
	return true;
}

#define RING 256
#define RING_OBJS 20000

struct xring {
	void *_Atomic slot[RING];
	_Atomic unsigned head, tail;
	_Atomic int done;
	_Atomic int corrupt;
};

/* Check each object handed over is intact, then free it. */
static void *ring_freer(void *arg)
{
	struct xring *r = arg;

	for (;;) {
		unsigned t = atomic_load(&r->tail);
		unsigned char *o;
		size_t sz;

		if (t == atomic_load(&r->head)) {
			if (atomic_load(&r->done) && t == atomic_load(&r->head))
				break;
			sched_yield();
			continue;
		}
		o = atomic_load(&r->slot[t % RING]);
		sz = rec_pool_obj_size(o);
		for (size_t k = 0; k < sz; k++) {
			if (o[k] != (unsigned char)(sz & 0xff)) {
				atomic_store(&r->corrupt, 1);
				break;
			}
		}
		rec_pool_free(o);
		atomic_store(&r->tail, t + 1);
	}
	return NULL;
}

/* The owner allocates and fills objects while another thread checks and
 * frees them: no object is handed out twice, and the pool settles. */
static bool rec_pool_owner_allocates_while_another_thread_frees(void)
{
	struct rec_pool *p = rec_pool_create("ring");
	static struct xring r;
	struct rec_pool_stats st;
	pthread_t th;

	CHECK(p, "cannot create a pool");
	START(&th, ring_freer, &r);
	for (unsigned i = 0; i < RING_OBJS; i++) {
		unsigned h = atomic_load(&r.head);
		unsigned char *o;

		while (h - atomic_load(&r.tail) >= RING)
			sched_yield();
		o = rec_pool_alloc(p, 100 + (i % 7) * 60);
		if (!o) {
			atomic_store(&r.done, 1);
			pthread_join(th, NULL);
			CHECK(false, "allocation %u failed", i);
		}
		memset(o, (int)(rec_pool_obj_size(o) & 0xff), rec_pool_obj_size(o));
		atomic_store(&r.slot[h % RING], o);
		atomic_store(&r.head, h + 1);
	}
	atomic_store(&r.done, 1);
	pthread_join(th, NULL);
	CHECK(!atomic_load(&r.corrupt), "an object changed while it was live");
	rec_pool_get_stats(p, &st);
	/* At most RING objects are out at once: a few slabs per class. */
	CHECK(st.slabs <= 7 * 4, "%llu slabs for at most %u live objects",
	      (unsigned long long)st.slabs, RING);
	rec_pool_destroy(p);
	return true;
}

/* ---- users: readers while the control thread writes ---------------------- */

#define UR_USERS 32
#define UR_ROUNDS 101
#define UR_READERS 2

struct ur {
	struct users *u;
	_Atomic int stop;
	_Atomic uint64_t bad;
	_Atomic uint64_t found;
};

static struct user *ur_make(const char *name, const char *number, uint64_t revision)
{
	struct user *u = users_alloc();

	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->number, sizeof(u->number), "%s", number);
	snprintf(u->display, sizeof(u->display), "%s rev %llu", name,
		 (unsigned long long)revision);
	u->revision = revision;
	u->enabled = true;
	u->has_password = true;
	memset(u->ha1_md5, (int)revision, sizeof(u->ha1_md5));
	return u;
}

static void *ur_reader(void *arg)
{
	struct ur *ur = arg;

	rcu_register_thread();
	while (!atomic_load(&ur->stop)) {
		for (unsigned i = 0; i < UR_USERS; i++) {
			char name[32], n1[32], n2[32];
			char expect[USER_DISPLAY_MAX];
			const struct user *x;

			snprintf(name, sizeof(name), "user%u", i);
			snprintf(n1, sizeof(n1), "%u", 1000 + i);
			snprintf(n2, sizeof(n2), "%u", 5000 + i);
			x = users_find(ur->u, tstr_cstr(name));
			if (x) {
				atomic_fetch_add(&ur->found, 1);
				snprintf(expect, sizeof(expect), "%s rev %llu", name,
					 (unsigned long long)x->revision);
				if (strcmp(x->name, name) || strcmp(x->display, expect))
					atomic_fetch_add(&ur->bad, 1);
			}
			x = users_find(ur->u, tstr_cstr(n1));
			if (x && strcmp(x->name, name))
				atomic_fetch_add(&ur->bad, 1);
			x = users_find(ur->u, tstr_cstr(n2));
			if (x && strcmp(x->name, name))
				atomic_fetch_add(&ur->bad, 1);
			tdm_rcu_quiescent_state();
		}
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Readers look users up by name and by number while this thread replaces
 * them (new revisions, numbers moving between two values) and now and then
 * deletes them all. Every user a reader finds is whole and the one the key
 * names. */
static bool users_readers_see_whole_users_while_the_control_thread_writes(void)
{
	static struct ur ur;
	pthread_t th[UR_READERS];
	unsigned started = 0;
	bool ok = true;

	ur.u = users_create();
	CHECK(ur.u, "cannot create the users table");
	for (unsigned i = 0; i < UR_READERS; i++)
		if (pthread_create(&th[started], NULL, ur_reader, &ur) == 0)
			started++;
	for (unsigned r = 1; ok && r <= UR_ROUNDS; r++) {
		for (unsigned i = 0; ok && i < UR_USERS; i++) {
			char name[32], number[32];
			struct user *u;

			snprintf(name, sizeof(name), "user%u", i);
			snprintf(number, sizeof(number), "%u", (r % 2 ? 1000 : 5000) + i);
			if (r % 50 == 0) {
				ok = users_del(ur.u, tstr_cstr(name)) == 0 ||
				     failf(__FILE__, __LINE__, "users_del(%s) failed", name);
			} else {
				u = ur_make(name, number, r);
				ok = (u && users_put(ur.u, u) == 0) ||
				     failf(__FILE__, __LINE__, "users_put(%s) failed", name);
			}
		}
		tdm_rcu_quiescent_state();
	}
	atomic_store(&ur.stop, 1);
	tdm_rcu_thread_offline();
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	tdm_rcu_thread_online();
	CHECK(ok, "(see above)");
	CHECK(started == UR_READERS, "pthread_create failed");
	CHECK(atomic_load(&ur.bad) == 0, "readers saw a broken or wrong user %llu times",
	      (unsigned long long)atomic_load(&ur.bad));
	CHECK(atomic_load(&ur.found) > 0, "the readers never found a user");
	CHECK(users_count(ur.u) == UR_USERS, "%llu users at the end, %u expected",
	      (unsigned long long)users_count(ur.u), UR_USERS);
	users_destroy(ur.u);
	return true;
}

/* ---- main ------------------------------------------------------------------- */

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "bindings/concurrent_writers_lose_no_update",
	  bindings_concurrent_writers_lose_no_update },
	{ "rec_pool/frees_from_another_thread_come_back_to_the_owner",
	  rec_pool_frees_from_another_thread_come_back_to_the_owner },
	{ "rec_pool/owner_allocates_while_another_thread_frees",
	  rec_pool_owner_allocates_while_another_thread_frees },
	{ "users/readers_see_whole_users_while_the_control_thread_writes",
	  users_readers_see_whole_users_while_the_control_thread_writes },
};

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Like the control thread: a registered, online reader. */
	rcu_register_thread();
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		uint64_t t0;
		bool ok;

		if (!selected(tests[i].name, argc, argv))
			continue;
		fail_msg[0] = '\0';
		t0 = clock_mono_ms();
		ok = tests[i].fn();
		if (ok) {
			printf("PASS %s (%.2f s)\n", tests[i].name,
			       (double)(clock_mono_ms() - t0) / 1000.0);
			passed++;
		} else {
			printf("FAIL %s: %s\n", tests[i].name,
			       fail_msg[0] ? fail_msg : "(no message)");
			failed++;
		}
	}
	/* Hand back whatever call_rcu still holds before the pools are gone. */
	tdm_rcu_thread_offline();
	rcu_barrier();
	tdm_rcu_unregister_thread();
	printf("%u passed, %u failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
}
