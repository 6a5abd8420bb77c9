/* SPDX-License-Identifier: MIT */
/*
 * The bindings table (see bindings.h for the contract).
 *
 * A cds_lfht keyed by the canonical AOR, hashed with keyed SipHash-1-3,
 * holding one entry (struct aor_node) per AOR: the AOR's bytes, and a
 * pointer to its current record. Records are immutable once published.
 *
 * A change is one compare-and-swap of that pointer, from the record it was
 * built from to the new one: "the record I built from is still current"
 * is decided by the very atomic step that publishes, so two writers can
 * never both succeed from the same old record, and the loser rebuilds from
 * the winner's record. (No ABA: the old record cannot be freed and reused
 * while the writer, a reader, still holds it.) The table itself only
 * changes when an AOR appears or disappears.
 *
 * Entry life cycle: an entry is inserted with cds_lfht_add_unique(), which
 * refuses a second entry for the same key, with its first record already
 * attached. Deleting the last record swaps the pointer to NULL, which is
 * final: an entry is never revived. Whoever swapped it to NULL then
 * unlinks the entry (cds_lfht_del); an insert that meets a dead entry not
 * yet unlinked unlinks it itself and tries again, so nobody waits for the
 * deleter. The thread whose cds_lfht_del() succeeds retires the entry.
 * Readers treat a dead entry as an absent AOR.
 *
 * The entry keeps the key next to the lfht node, so the match function
 * compares the length and bytes in the cache line it has just loaded
 * (rculfhash has already compared the full 64-bit hash), and a refresh
 * touches the bucket, the entry and the record, nothing else.
 *
 * Record layout (one allocation from a rec_pool):
 *   struct aor_rec | struct binding b[nbind] | AOR | strings of b[0] | ...
 * with each binding's strings in the order uri, call_id, instance, path,
 * user_agent; every offset counts from the start of the record.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "bindings.h"
#include "err.h"
#include "siphash.h"

#if defined(__SANITIZE_THREAD__)
/* Records are handed between threads through liburcu's atomics, which
 * ThreadSanitizer does not see: tell it about publication and retirement. */
#include <sanitizer/tsan_interface.h>
#define tsan_release(p) __tsan_release(p)
#define tsan_acquire(p) __tsan_acquire(p)
#else
#define tsan_release(p) ((void)(p))
#define tsan_acquire(p) ((void)(p))
#endif

#define BIND_DEFAULT_BUCKETS 1024u

struct bind_table {
	struct cds_lfht *ht;
	unsigned long min_buckets;       /* the size asked for at creation */
	_Atomic unsigned long target;    /* the size last set (sweep, fit, reserve) */
	/* No stored binding expires before this (CLOCK_MONOTONIC ms): every
	 * publisher lowers it to its record's earliest expiry after the
	 * compare-and-swap, a sweep resets it before its walk and lowers it
	 * to what it kept (see bind_sweep_due()). */
	_Atomic uint64_t expiry_floor;
	uint8_t key[SIPHASH_KEY_LEN];
};

static int fill_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static unsigned long round_pow2(unsigned long v)
{
	unsigned long p = 1;

	while (p < v && p < (1ul << 30))
		p <<= 1;
	return p;
}

struct bind_table *bind_table_create(const struct bind_table_params *p)
{
	struct bind_table *t = calloc(1, sizeof(*t));
	unsigned long buckets = BIND_DEFAULT_BUCKETS;

	if (!t)
		return NULL;
	if (p && p->initial_buckets)
		buckets = round_pow2(p->initial_buckets);
	if (p && p->hash_key)
		memcpy(t->key, p->hash_key, sizeof(t->key));
	else if (fill_random(t->key, sizeof(t->key)) < 0)
		goto fail;
	/* The initial buckets are allocated at once, and a sweep never
	 * sizes the table below them. No CDS_LFHT_AUTO_RESIZE: see
	 * resize_if_needed(). */
	t->ht = cds_lfht_new(buckets, buckets, 0, 0, NULL);
	if (!t->ht)
		goto fail;
	t->min_buckets = buckets;
	atomic_init(&t->target, buckets);
	atomic_init(&t->expiry_floor, UINT64_MAX);
	return t;
fail:
	free(t);
	return NULL;
}

/* The table entry of one AOR. */
struct aor_node {
	struct cds_lfht_node node;
	struct aor_rec *rec;       /* current record; NULL: deleted, for good */
	struct rcu_head rcu;
	uint16_t key_len;          /* aor_rec_build() allows no more */
	char key[];                /* the canonical AOR */
};

/* The bytes an entry takes: the key starts at byte 42 (not sizeof, which
 * pads), so that an AOR of up to 22 bytes fits the pool's 64-byte class. */
#define NODE_SIZE(len) (offsetof(struct aor_node, key) + (len))

static void rec_free_rcu(struct rcu_head *head)
{
	struct aor_rec *r = caa_container_of(head, struct aor_rec, rcu);

	tdm_rcu_after_grace_period();
	tsan_acquire(r);
	rec_pool_free(r);
}

static void node_free_rcu(struct rcu_head *head)
{
	struct aor_node *n = caa_container_of(head, struct aor_node, rcu);

	tdm_rcu_after_grace_period();
	tsan_acquire(n);
	rec_pool_free(n);
}

static inline struct aor_rec *node_rec(struct aor_node *n)
{
	struct aor_rec *r = __atomic_load_n(&n->rec, __ATOMIC_ACQUIRE);

	if (r)
		tsan_acquire(r);
	return r;
}

/* Unlink a dead entry (its record pointer is NULL); the thread that
 * unlinks it retires it. */
static void node_unlink(struct bind_table *t, struct aor_node *n)
{
	if (cds_lfht_del(t->ht, &n->node) == 0)
		rec_pool_retire(n, &n->rcu, node_free_rcu);
}

/* Unlink every entry and retire it with its record. Registered, online
 * thread. */
static void table_empty(struct bind_table *t)
{
	struct cds_lfht_iter it;
	struct aor_node *n;

	cds_lfht_for_each_entry(t->ht, &it, n, node) {
		tsan_acquire(n);
		if (cds_lfht_del(t->ht, &n->node) == 0) {
			struct aor_rec *r = __atomic_exchange_n(&n->rec, NULL, __ATOMIC_ACQ_REL);

			if (r)
				call_rcu(&r->rcu, rec_free_rcu);
			call_rcu(&n->rcu, node_free_rcu);
		}
	}
}

static void *table_empty_thread(void *arg)
{
	rcu_register_thread();
	table_empty(arg);
	tdm_rcu_unregister_thread();
	return NULL;
}

/*
 * Emptying the table walks it, which needs the read side (a concurrent
 * shrink, triggered by our own deletions, frees bucket nodes after a grace
 * period). cds_lfht_destroy() and rcu_barrier() need the opposite: a thread
 * that is not in a read-side critical section, i.e. offline or unregistered
 * under QSBR. So an online caller walks the table itself and then goes
 * offline; any other caller (registered offline, or not registered, which
 * QSBR cannot tell apart) has a short-lived registered thread do the walk.
 */
void bind_table_destroy(struct bind_table *t)
{
	bool online;

	if (!t)
		return;
	online = rcu_read_ongoing();
	if (online) {
		table_empty(t);
		tdm_rcu_thread_offline();
	} else {
		pthread_t th;

		if (pthread_create(&th, NULL, table_empty_thread, t) != 0) {
			/* Cannot walk safely: leave the records to their pools
			 * (rec_pool_destroy() frees the slabs) and the table
			 * structure to the process exit. */
			free(t);
			return;
		}
		pthread_join(th, NULL);
	}
	/* Hand every retired record back to its pool before returning. */
	rcu_barrier();
	cds_lfht_destroy(t->ht, NULL);
	if (online)
		rcu_thread_online();
	free(t);
}

uint64_t bind_hash(const struct bind_table *t, tstr aor)
{
	static const uint8_t empty[1];

	return siphash13(t->key, aor.len ? (const uint8_t *)aor.s : empty, aor.len);
}

/* Called by rculfhash only for an entry whose full hash equals the key's. */
static int node_match(struct cds_lfht_node *node, const void *key)
{
	const struct aor_node *n = caa_container_of(node, struct aor_node, node);
	const tstr *k = key;

	tsan_acquire((void *)(uintptr_t)n);
	return n->key_len == k->len && mem_eq(n->key, k->s, k->len);
}

static struct aor_node *node_lookup(struct bind_table *t, tstr aor, uint64_t hash)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->ht, hash, node_match, &aor, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct aor_node, node) : NULL;
}

const struct aor_rec *bind_lookup(struct bind_table *t, tstr aor, uint64_t hash)
{
	struct aor_node *n = node_lookup(t, aor, hash);

	return n ? node_rec(n) : NULL;
}

static int check_str(tstr s, uint64_t *size)
{
	if (s.len && !s.s)
		return TDM_EMALFORMED;
	if (s.len > UINT16_MAX)
		return TDM_ETOOMANY;
	*size += s.len;
	return 0;
}

/* memcpy() of the short strings of a binding (a URI, a Call-ID, a
 * User-Agent: mostly 8 to 32 bytes) without the call: two overlapping
 * loads and stores. */
static inline void copy_str(char *d, const char *s, size_t n)
{
	uint64_t a, b;

	if (n >= 8 && n <= 16) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n > 16 && n <= 32) {
		char x[16], y[16];

		memcpy(x, s, 16);
		memcpy(y, s + n - 16, 16);
		memcpy(d, x, 16);
		memcpy(d + n - 16, y, 16);
	} else if (n) {
		memcpy(d, s, n);
	}
}

static char *put_str(struct aor_rec *r, char *p, tstr s, uint32_t *off, uint16_t *len)
{
	*off = (uint32_t)(p - (char *)r);
	*len = (uint16_t)s.len;
	copy_str(p, s.s, s.len);
	return p + s.len;
}

/* Is any string of s longer than a binding stores, or given as a length
 * without bytes? One test for all five; check_str() says which error. */
static inline bool strs_suspect(const struct binding_src *s)
{
	uint32_t lens = s->uri.len | s->call_id.len | s->instance.len | s->path.len |
			s->user_agent.len;

	return lens > UINT16_MAX || (s->uri.len && !s->uri.s) ||
	       (s->call_id.len && !s->call_id.s) || (s->instance.len && !s->instance.s) ||
	       (s->path.len && !s->path.s) || (s->user_agent.len && !s->user_agent.s);
}

struct aor_rec *aor_rec_build(struct rec_pool *pool, tstr aor, uint64_t hash,
			      const struct binding_src *b, unsigned n, int *err)
{
	uint64_t size = sizeof(struct aor_rec);
	struct aor_rec *r;
	char *p;
	int rc;

	if (n == 0 || !b || aor.len == 0 || !aor.s) {
		rc = TDM_EMALFORMED;
		goto fail;
	}
	if (n > BIND_MAX_PER_REC || aor.len > UINT16_MAX) {
		rc = TDM_ETOOMANY;
		goto fail;
	}
	size += (uint64_t)n * sizeof(struct binding) + aor.len;
	for (unsigned i = 0; i < n; i++) {
		if (strs_suspect(&b[i])) {
			/* The first bad string, in record order, names the error. */
			if ((rc = check_str(b[i].uri, &size)) < 0 ||
			    (rc = check_str(b[i].call_id, &size)) < 0 ||
			    (rc = check_str(b[i].instance, &size)) < 0 ||
			    (rc = check_str(b[i].path, &size)) < 0 ||
			    (rc = check_str(b[i].user_agent, &size)) < 0)
				goto fail;
			continue;
		}
		size += (uint64_t)b[i].uri.len + b[i].call_id.len + b[i].instance.len +
			b[i].path.len + b[i].user_agent.len;
	}
	if (size > REC_POOL_MAX_SIZE) {
		rc = TDM_ETOOMANY;
		goto fail;
	}
	r = rec_pool_alloc(pool, size);
	if (!r) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Zero the fixed part so that padding never carries old bytes. */
	memset(r, 0, sizeof(*r) + n * sizeof(struct binding));
	r->hash = hash;
	r->size = (uint32_t)size;
	r->aor_len = (uint16_t)aor.len;
	r->nbind = (uint16_t)n;
	p = (char *)&r->b[n];
	copy_str(p, aor.s, aor.len);
	p += aor.len;
	for (unsigned i = 0; i < n; i++) {
		struct binding *d = &r->b[i];
		const struct binding_src *s = &b[i];

		d->expires_ms = s->expires_ms;
		d->registered_ms = s->registered_ms;
		d->cseq = s->cseq;
		d->reg_id = s->reg_id;
		d->q = s->q;
		d->source = s->source;
		p = put_str(r, p, s->uri, &d->uri_off, &d->uri_len);
		p = put_str(r, p, s->call_id, &d->call_id_off, &d->call_id_len);
		p = put_str(r, p, s->instance, &d->instance_off, &d->instance_len);
		p = put_str(r, p, s->path, &d->path_off, &d->path_len);
		p = put_str(r, p, s->user_agent, &d->user_agent_off, &d->user_agent_len);
	}
	if (err)
		*err = 0;
	return r;
fail:
	if (err)
		*err = rc;
	return NULL;
}

void aor_rec_discard(struct aor_rec *rec)
{
	rec_pool_free(rec);
}

void binding_to_src(const struct aor_rec *r, const struct binding *b,
		    struct binding_src *out)
{
	out->uri = binding_uri(r, b);
	out->call_id = binding_call_id(r, b);
	out->instance = binding_instance(r, b);
	out->path = binding_path(r, b);
	out->user_agent = binding_user_agent(r, b);
	out->expires_ms = b->expires_ms;
	out->registered_ms = b->registered_ms;
	out->cseq = b->cseq;
	out->reg_id = b->reg_id;
	out->q = b->q;
	out->source = b->source;
}

/* Insert a new entry for rec's AOR, with rec attached. */
static int node_insert(struct bind_table *t, struct aor_rec *rec)
{
	tstr key = aor_rec_key(rec);
	struct aor_node *n = rec_pool_alloc(rec_pool_owner(rec), NODE_SIZE(key.len));

	if (!n)
		return -ENOMEM;
	n->rec = rec;
	n->key_len = (uint16_t)key.len;
	memcpy(n->key, key.s, key.len);
	rec->owner = n;
	tsan_release(n);
	for (;;) {
		struct cds_lfht_node *got =
			cds_lfht_add_unique(t->ht, rec->hash, node_match, &key, &n->node);
		struct aor_node *e;

		if (got == &n->node)
			return 0;
		e = caa_container_of(got, struct aor_node, node);
		if (node_rec(e)) {
			rec_pool_free(n);   /* never published */
			return TDM_ERACE;
		}
		/* A dead entry its deleter has not unlinked yet: do it. */
		node_unlink(t, e);
	}
}

static uint64_t rec_first_expiry(const struct aor_rec *r)
{
	uint64_t m = UINT64_MAX;

	for (unsigned i = 0; i < r->nbind; i++)
		if (r->b[i].expires_ms < m)
			m = r->b[i].expires_ms;
	return m;
}

/* After a publish: the load is seq_cst (a plain load on x86-64) so that,
 * with the publish's seq_cst swap before it and the sweep's fence after
 * its reset, either the walk sees the new record or this load sees the
 * reset (bind_sweep_begin()). */
static void floor_lower(struct bind_table *t, uint64_t ms)
{
	uint64_t cur = atomic_load(&t->expiry_floor);

	while (ms < cur && !atomic_compare_exchange_weak_explicit(&t->expiry_floor, &cur, ms,
								   memory_order_seq_cst,
								   memory_order_relaxed))
		;
}

int bind_publish(struct bind_table *t, const struct aor_rec *old, struct aor_rec *rec)
{
	struct aor_rec *o = (struct aor_rec *)(uintptr_t)old;
	struct aor_node *n;
	int rc;

	if (!old && !rec)
		return -EINVAL;
	if (old && rec && (old->hash != rec->hash ||
			   !tstr_eq(aor_rec_key(old), aor_rec_key(rec))))
		return -EINVAL;
	if (rec)
		tsan_release(rec);
	if (!old) {
		rc = node_insert(t, rec);
		if (rc == 0)
			floor_lower(t, rec_first_expiry(rec));
		return rc;
	}
	n = o->owner;
	if (rec)
		rec->owner = n;
	if (!__atomic_compare_exchange_n(&n->rec, &o, rec, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return TDM_ERACE;   /* replaced or deleted meanwhile */
	/* After the swap: a sweep that reset the floor before it either sees
	 * rec in its walk or this lowering (bind_sweep_due()). */
	if (rec)
		floor_lower(t, rec_first_expiry(rec));
	else
		node_unlink(t, n);
	rec_pool_retire(o, &o->rcu, rec_free_rcu);
	return 0;
}

int bind_foreach(struct bind_table *t,
		 int (*cb)(const struct aor_rec *rec, void *arg), void *arg)
{
	struct cds_lfht_iter it;
	struct aor_node *n;

	cds_lfht_for_each_entry(t->ht, &it, n, node) {
		const struct aor_rec *r;
		int rc;

		tsan_acquire(n);
		r = node_rec(n);
		if (!r)
			continue;
		rc = cb(r, arg);
		if (rc)
			return rc;
	}
	return 0;
}

uint64_t bind_count(struct bind_table *t)
{
	long before, after;
	unsigned long count;

	cds_lfht_count_nodes(t->ht, &before, &count, &after);
	return count;
}

/* Publish r without its expired bindings; on a lost race, start again from
 * the record that won. */
static int sweep_one(const struct aor_rec *r, void *arg)
{
	struct bind_sweep *s = arg;

	s->records++;
	while (r) {
		struct aor_rec *rec = NULL;
		uint64_t first = rec_first_expiry(r);
		unsigned keep = 0;
		int rc;

		for (unsigned i = 0; i < r->nbind; i++)
			if (r->b[i].expires_ms > s->now_ms)
				keep++;
		if (keep == r->nbind) {
			if (first < s->floor)
				s->floor = first;
			return 0;
		}
		if (keep) {
			if (!s->scratch) {
				s->scratch = malloc(BIND_MAX_PER_REC * sizeof(*s->scratch));
				if (!s->scratch) {
					s->floor = 0;   /* the next tick sweeps again */
					return 1;
				}
			}
			keep = 0;
			for (unsigned i = 0; i < r->nbind; i++)
				if (r->b[i].expires_ms > s->now_ms)
					binding_to_src(r, &r->b[i], &s->scratch[keep++]);
			rec = aor_rec_build(s->pool, aor_rec_key(r), r->hash,
					    s->scratch, keep, NULL);
			if (!rec) {
				s->floor = 0;   /* out of memory: the next tick */
				return 0;
			}
		}
		rc = bind_publish(s->t, r, rec);
		if (rc == 0) {
			s->bindings += r->nbind - keep;
			if (!rec)
				s->aors++;
			return 0;
		}
		aor_rec_discard(rec);
		if (rc != TDM_ERACE) {
			if (first < s->floor)
				s->floor = first;
			return 0;
		}
		/* r stays readable until our next quiescent state. */
		r = bind_lookup(s->t, aor_rec_key(r), r->hash);
	}
	return 0;
}

/*
 * Keep the bucket count near the record count, explicitly: the control
 * thread's sweep resizes once a second. liburcu 0.13's automatic resize is
 * not used, for two reasons seen here:
 *   - it can stall for good: __cds_lfht_resize_lazy_launch() queues the
 *     resize work before it sets ht->resize_initiated, so when the worker
 *     finishes first the flag stays set and no lazy resize is ever
 *     launched again (600 000 records left in 8 192 buckets, lookups at
 *     3-6 us);
 *   - mixed with an explicit resize it deadlocks under QSBR: the lazy
 *     resize worker registers as a reader (online) and then waits for the
 *     resize mutex, which the explicit resize holds while it waits for a
 *     grace period that needs that very reader to go quiescent.
 * cds_lfht_resize() must run outside any read-side critical section (it
 * waits for grace periods), so the caller goes offline around it.
 */
static void resize_if_needed(struct bind_table *t, uint64_t records)
{
	unsigned long cur = atomic_load(&t->target);
	unsigned long want = round_pow2((unsigned long)records);

	if (want < t->min_buckets)
		want = t->min_buckets;
	if (want <= cur && want * 4 > cur)
		return;
	atomic_store(&t->target, want);
	tdm_rcu_thread_offline();
	cds_lfht_resize(t->ht, want);
	rcu_thread_online();
}

bool bind_sweep_due(struct bind_table *t, uint64_t now_ms)
{
	return atomic_load(&t->expiry_floor) <= now_ms;
}

uint64_t bind_expiry_floor(struct bind_table *t)
{
	return atomic_load(&t->expiry_floor);
}

unsigned long bind_buckets(struct bind_table *t)
{
	return atomic_load(&t->target);
}

void bind_fit(struct bind_table *t, uint64_t records)
{
	resize_if_needed(t, records);
}

void bind_reserve(struct bind_table *t, uint64_t records)
{
	if (round_pow2((unsigned long)records) > atomic_load(&t->target))
		resize_if_needed(t, records);
}

/*
 * A sweep's place in the table between two steps is a marker: an entry
 * with an empty key and no record, added right behind the last record the
 * step visited, under that record's hash. The split-ordered list behind
 * rculfhash keeps every entry at the position of its (bit-reversed) hash,
 * whatever resizes happen, and adds an entry behind those of an equal hash;
 * so the entries after the marker are exactly those the walk has not
 * reached, plus whatever was added behind it since. No look-up matches the
 * marker (AORs are never empty: aor_rec_build()), bind_foreach() and the
 * sweep skip it (no record), and it is freed like any entry.
 */
static int marker_match(struct cds_lfht_node *node, const void *key)
{
	return node == key;
}

static void park(struct bind_sweep *s, uint64_t hash)
{
	struct aor_node *m = rec_pool_alloc(s->pool, NODE_SIZE(0));

	if (!m) {
		/* Nowhere to keep the place: the walk ends here, unfinished,
		 * and the next tick sweeps again (bind_sweep_end()). */
		s->unfinished = true;
		s->done = true;
		return;
	}
	m->rec = NULL;
	m->key_len = 0;
	cds_lfht_node_init(&m->node);
	tsan_release(m);
	cds_lfht_add(s->t->ht, hash, &m->node);
	s->marker = m;
	s->marker_hash = hash;
}

void bind_sweep_begin(struct bind_sweep *s, struct bind_table *t, struct rec_pool *pool,
		      uint64_t now_ms)
{
	*s = (struct bind_sweep){ .t = t, .pool = pool, .now_ms = now_ms, .floor = UINT64_MAX };
	/* Reset before the walk; every record published from now on lowers
	 * the floor itself, every record published before is in the walk. */
	atomic_store(&t->expiry_floor, UINT64_MAX);
	atomic_thread_fence(memory_order_seq_cst);
}

bool bind_sweep_step(struct bind_sweep *s, uint64_t records)
{
	struct bind_table *t = s->t;
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	if (s->done)
		return true;
	if (s->marker) {
		struct aor_node *m = s->marker;

		cds_lfht_lookup(t->ht, s->marker_hash, marker_match, &m->node, &it);
		/* Only this sweep removes its marker. */
		assert(cds_lfht_iter_get_node(&it) == &m->node);
		cds_lfht_next(t->ht, &it);
		if (cds_lfht_del(t->ht, &m->node) == 0)
			rec_pool_retire(m, &m->rcu, node_free_rcu);
		s->marker = NULL;
	} else {
		cds_lfht_first(t->ht, &it);
	}
	while ((node = cds_lfht_iter_get_node(&it)) != NULL) {
		struct aor_node *n = caa_container_of(node, struct aor_node, node);
		const struct aor_rec *r;
		struct cds_lfht_node *next;
		uint64_t hash;

		tsan_acquire(n);
		r = node_rec(n);
		cds_lfht_next(t->ht, &it);
		if (!r)
			continue;   /* a dead entry, or another sweep's marker */
		hash = r->hash;   /* r may be retired by sweep_one(), not freed */
		if (sweep_one(r, s) != 0) {
			s->unfinished = true;
			break;
		}
		if (records > 1) {
			records--;
			continue;
		}
		/* Stop here, but not between two entries of one hash: the
		 * marker goes behind all of them. */
		next = cds_lfht_iter_get_node(&it);
		if (next && next->reverse_hash != node->reverse_hash) {
			park(s, hash);
			return s->done;
		}
	}
	s->done = true;
	return true;
}

uint64_t bind_sweep_end(struct bind_sweep *s, uint64_t *aors_removed)
{
	/* Ended half-way: what the walk did not reach may hold expired
	 * bindings, so the floor says sweep again. */
	if (!s->done)
		s->unfinished = true;
	if (s->marker) {
		if (cds_lfht_del(s->t->ht, &s->marker->node) == 0)
			rec_pool_retire(s->marker, &s->marker->rcu, node_free_rcu);
		s->marker = NULL;
	}
	floor_lower(s->t, s->unfinished ? 0 : s->floor);
	free(s->scratch);
	s->scratch = NULL;
	/* Only a whole walk has counted the records (a part would shrink
	 * the table to the part). */
	if (!s->unfinished)
		resize_if_needed(s->t, s->records - s->aors);
	if (aors_removed)
		*aors_removed = s->aors;
	return s->bindings;
}

uint64_t bind_sweep(struct bind_table *t, struct rec_pool *pool, uint64_t now_ms,
		    uint64_t *aors_removed)
{
	struct bind_sweep s;

	bind_sweep_begin(&s, t, pool, now_ms);
	bind_sweep_step(&s, UINT64_MAX);
	return bind_sweep_end(&s, aors_removed);
}
