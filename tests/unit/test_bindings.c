/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/bindings.c: publish semantics (insert, replace,
 * delete, lost races), the record layout, size limits, the walk, the expiry
 * sweep, the keyed hash, destroy, and many writers updating the same AORs
 * copy-on-write at once with a sweeper and a reader running.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <urcu-qsbr.h>

#include "bindings.h"
#include "err.h"

static void rcu_up(void)
{
	rcu_register_thread();
}

static void rcu_down(void)
{
	rcu_unregister_thread();
}

TestSuite(bindings, .init = rcu_up, .fini = rcu_down);

static const uint8_t key_a[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static struct bind_table *table_with_key(const uint8_t *key)
{
	struct bind_table_params prm = { .initial_buckets = 16, .hash_key = key };
	struct bind_table *t = bind_table_create(&prm);

	cr_assert_not_null(t);
	return t;
}

static struct binding_src src(const char *uri, const char *call_id, uint32_t cseq,
			      uint64_t expires_ms)
{
	struct binding_src b = {
		.uri = tstr_cstr(uri),
		.call_id = tstr_cstr(call_id),
		.expires_ms = expires_ms,
		.registered_ms = 1,
		.cseq = cseq,
		.reg_id = BINDING_REG_ID_NONE,
		.q = BINDING_Q_NONE,
	};
	return b;
}

static struct aor_rec *build1(struct bind_table *t, struct rec_pool *p, const char *aor,
			      const char *uri, uint32_t cseq, uint64_t exp)
{
	struct binding_src b = src(uri, "call-1", cseq, exp);
	tstr a = tstr_cstr(aor);
	int err = 1;
	struct aor_rec *r = aor_rec_build(p, a, bind_hash(t, a), &b, 1, &err);

	cr_assert_not_null(r);
	cr_assert_eq(err, 0);
	return r;
}

static const struct aor_rec *lookup(struct bind_table *t, const char *aor)
{
	tstr a = tstr_cstr(aor);

	return bind_lookup(t, a, bind_hash(t, a));
}

static bool tstr_is(tstr a, const char *s)
{
	return tstr_eq(a, tstr_cstr(s));
}

Test(bindings, insert_lookup_replace_delete)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r1 = build1(t, p, "sip:alice@example.com", "sip:alice@192.0.2.1", 1, 100);
	struct aor_rec *r2 = build1(t, p, "sip:alice@example.com", "sip:alice@192.0.2.2", 2, 100);

	cr_assert_null(lookup(t, "sip:alice@example.com"));
	cr_assert_eq(bind_publish(t, NULL, r1), 0);
	cr_assert_eq(lookup(t, "sip:alice@example.com"), r1);
	cr_assert_null(lookup(t, "sip:bob@example.com"));
	cr_assert_null(lookup(t, "sip:Alice@example.com"), "keys are compared exactly");
	cr_assert_eq(bind_count(t), 1);

	cr_assert_eq(bind_publish(t, r1, r2), 0);
	cr_assert_eq(lookup(t, "sip:alice@example.com"), r2);
	cr_assert(tstr_is(binding_uri(r2, &r2->b[0]), "sip:alice@192.0.2.2"));
	cr_assert_eq(bind_count(t), 1);

	cr_assert_eq(bind_publish(t, r2, NULL), 0);
	cr_assert_null(lookup(t, "sip:alice@example.com"));
	cr_assert_eq(bind_count(t), 0);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, insert_when_present_is_a_lost_race)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r1 = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	struct aor_rec *r2 = build1(t, p, "sip:a@x", "sip:a@192.0.2.2", 1, 100);

	cr_assert_eq(bind_publish(t, NULL, r1), 0);
	cr_assert_eq(bind_publish(t, NULL, r2), TDM_ERACE);
	cr_assert_eq(lookup(t, "sip:a@x"), r1, "the first record stays");
	cr_assert_eq(bind_count(t), 1);
	/* The loser still owns its record. */
	aor_rec_discard(r2);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, replace_of_stale_record_is_a_lost_race)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r1 = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	struct aor_rec *r2 = build1(t, p, "sip:a@x", "sip:a@192.0.2.2", 2, 100);
	struct aor_rec *r3 = build1(t, p, "sip:a@x", "sip:a@192.0.2.3", 3, 100);

	cr_assert_eq(bind_publish(t, NULL, r1), 0);
	cr_assert_eq(bind_publish(t, r1, r2), 0);
	/* r3 was built from r1, which is no longer current. */
	cr_assert_eq(bind_publish(t, r1, r3), TDM_ERACE);
	cr_assert_eq(lookup(t, "sip:a@x"), r2);
	/* Built again from the current record, it goes in. */
	cr_assert_eq(bind_publish(t, r2, r3), 0);
	cr_assert_eq(lookup(t, "sip:a@x"), r3);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, delete_of_stale_record_is_a_lost_race)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r1 = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	struct aor_rec *r2 = build1(t, p, "sip:a@x", "sip:a@192.0.2.2", 2, 100);

	cr_assert_eq(bind_publish(t, NULL, r1), 0);
	cr_assert_eq(bind_publish(t, r1, r2), 0);
	cr_assert_eq(bind_publish(t, r1, NULL), TDM_ERACE, "r1 was replaced");
	cr_assert_eq(lookup(t, "sip:a@x"), r2, "the delete did not take r2 with it");
	cr_assert_eq(bind_publish(t, r2, NULL), 0);
	cr_assert_eq(bind_publish(t, r2, NULL), TDM_ERACE, "deleted twice");
	cr_assert_null(lookup(t, "sip:a@x"));
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, match_compares_the_key_when_the_hash_matches)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	uint64_t h = bind_hash(t, tstr_cstr("sip:a@x"));

	cr_assert_eq(bind_publish(t, NULL, r), 0);
	cr_assert_eq(bind_lookup(t, tstr_cstr("sip:a@x"), h), r);
	/* The stored entry's hash, another key: same length, then longer,
	 * then a prefix. */
	cr_assert_null(bind_lookup(t, tstr_cstr("sip:b@x"), h));
	cr_assert_null(bind_lookup(t, tstr_cstr("sip:a@xy"), h));
	cr_assert_null(bind_lookup(t, tstr_cstr("sip:a@"), h));
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, a_deleted_aor_comes_back_in_a_new_entry_and_stale_writers_lose)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *r1 = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	struct aor_rec *r2 = build1(t, p, "sip:a@x", "sip:a@192.0.2.2", 2, 100);
	struct aor_rec *r3 = build1(t, p, "sip:a@x", "sip:a@192.0.2.3", 3, 100);
	struct rec_pool_stats st;

	cr_assert_eq(bind_publish(t, NULL, r1), 0);
	cr_assert_eq(bind_publish(t, r1, NULL), 0);
	cr_assert_null(lookup(t, "sip:a@x"));
	cr_assert_eq(bind_count(t), 0, "the dead entry is unlinked at once");
	cr_assert_eq(bind_publish(t, NULL, r2), 0);
	cr_assert_eq(lookup(t, "sip:a@x"), r2);
	/* Built from the deleted record: its entry is dead for good. */
	cr_assert_eq(bind_publish(t, r1, r3), TDM_ERACE);
	cr_assert_eq(lookup(t, "sip:a@x"), r2);
	cr_assert_eq(bind_publish(t, r2, r3), 0);
	cr_assert_eq(lookup(t, "sip:a@x"), r3);
	cr_assert_eq(bind_count(t), 1);
	bind_table_destroy(t);
	rec_pool_reclaim(p);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.allocs, 5, "three records, two entries");
	cr_assert_eq(st.frees, 5);
	rec_pool_destroy(p);
}

/* Two threads refresh their own binding of one AOR, copy-on-write, as
 * fast as they can: every lost compare-and-swap is rebuilt from the
 * winner's record, so neither thread's binding is ever lost. */
#define ONE_AOR_UPDATES 20000

struct one_aor {
	struct bind_table *t;
	struct rec_pool *p;   /* this writer's */
	pthread_barrier_t *start;
	unsigned id;
	unsigned races;
};

static void *one_aor_writer(void *arg)
{
	struct one_aor *w = arg;
	struct rec_pool *p = w->p;
	tstr aor = tstr_cstr("sip:shared@example.com");
	uint64_t h = bind_hash(w->t, aor);
	char uri[32];

	snprintf(uri, sizeof(uri), "sip:w%u@192.0.2.1", w->id);
	rcu_register_thread();
	pthread_barrier_wait(w->start);
	for (uint32_t cseq = 1; cseq <= ONE_AOR_UPDATES; cseq++) {
		for (;;) {
			const struct aor_rec *cur = bind_lookup(w->t, aor, h);
			struct binding_src b[2];
			unsigned n = 0;
			struct aor_rec *rec;
			int rc;

			for (unsigned i = 0; cur && i < cur->nbind; i++)
				if (!tstr_is(binding_uri(cur, &cur->b[i]), uri))
					binding_to_src(cur, &cur->b[i], &b[n++]);
			cr_assert_leq(n, 1);
			b[n++] = src(uri, "call", cseq, 100);
			rec = aor_rec_build(p, aor, h, b, n, NULL);
			cr_assert_not_null(rec);
			rc = bind_publish(w->t, cur, rec);
			if (rc == 0)
				break;
			cr_assert_eq(rc, TDM_ERACE);
			aor_rec_discard(rec);
			w->races++;
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

Test(bindings, two_threads_updating_one_aor_lose_no_binding, .timeout = 120)
{
	struct bind_table *t = table_with_key(NULL);
	pthread_barrier_t start;
	struct one_aor w[2] = { { .t = t, .p = rec_pool_create("w0"), .start = &start, .id = 0 },
				{ .t = t, .p = rec_pool_create("w1"), .start = &start, .id = 1 } };
	pthread_t th[2];
	const struct aor_rec *r;

	pthread_barrier_init(&start, NULL, 2);
	rcu_thread_offline();
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, one_aor_writer, &w[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rcu_thread_online();
	pthread_barrier_destroy(&start);
	r = lookup(t, "sip:shared@example.com");
	cr_assert_not_null(r);
	cr_assert_eq(r->nbind, 2, "both bindings are there");
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(r->b[i].cseq, ONE_AOR_UPDATES, "binding %u has its last refresh", i);
	cr_log_info("lost compare-and-swaps: %u and %u", w[0].races, w[1].races);
	bind_table_destroy(t);   /* waits for every record to be back */
	rec_pool_destroy(w[0].p);
	rec_pool_destroy(w[1].p);
}

Test(bindings, publish_refuses_nothing_and_a_record_for_another_aor)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct aor_rec *ra = build1(t, p, "sip:a@x", "sip:a@192.0.2.1", 1, 100);
	struct aor_rec *rb = build1(t, p, "sip:b@x", "sip:b@192.0.2.1", 1, 100);

	cr_assert_eq(bind_publish(t, NULL, NULL), -EINVAL);
	cr_assert_eq(bind_publish(t, NULL, ra), 0);
	cr_assert_eq(bind_publish(t, ra, rb), -EINVAL);
	cr_assert_eq(lookup(t, "sip:a@x"), ra);
	cr_assert_null(lookup(t, "sip:b@x"));
	aor_rec_discard(rb);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, record_layout_round_trips_every_field)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct binding_src in[3] = {
		{
			.uri = TSTR_LIT("sip:alice@192.0.2.10:5060;transport=udp"),
			.call_id = TSTR_LIT("a84b4c76e66710@pc33.example.com"),
			.instance = TSTR_LIT("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"),
			.path = TSTR_LIT("<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
			.user_agent = TSTR_LIT("Acme Phone 1.0"),
			.expires_ms = 123456789012ull,
			.registered_ms = 123456000000ull,
			.cseq = 4294967295u,
			.reg_id = 1,
			.q = 1000,
		},
		{
			.uri = TSTR_LIT("sip:alice@[2001:db8::1]:5062"),
			.call_id = TSTR_LIT("x"),
			.expires_ms = 1,
			.registered_ms = 0,
			.cseq = 0,
			.reg_id = BINDING_REG_ID_NONE,
			.q = BINDING_Q_NONE,
		},
		{
			.uri = TSTR_LIT("sips:alice@pc.example.com"),
			.call_id = TSTR_LIT(""),
			.user_agent = TSTR_LIT("UA-3"),
			.expires_ms = UINT64_MAX,
			.cseq = 7,
			.reg_id = 65535,
			.q = 0,
		},
	};
	tstr aor = TSTR_LIT("sip:alice@example.com");
	uint64_t strings = aor.len;
	struct aor_rec *r;
	int err;

	cr_assert_eq(addr_parse("192.0.2.10:5060", 0, &in[0].source), 0);
	cr_assert_eq(addr_parse("[2001:db8::1]:5062", 0, &in[1].source), 0);
	/* in[2].source stays all zero (AF_UNSPEC). */
	for (unsigned i = 0; i < 3; i++)
		strings += in[i].uri.len + in[i].call_id.len + in[i].instance.len +
			   in[i].path.len + in[i].user_agent.len;

	r = aor_rec_build(p, aor, 0x1234, in, 3, &err);
	cr_assert_not_null(r);
	cr_assert_eq(err, 0);
	cr_assert_eq(r->hash, 0x1234);
	cr_assert_eq(r->nbind, 3);
	cr_assert_eq(r->aor_len, aor.len);
	cr_assert(tstr_eq(aor_rec_key(r), aor));
	cr_assert_eq(r->size, sizeof(struct aor_rec) + 3 * sizeof(struct binding) + strings);
	cr_assert_geq(rec_pool_obj_size(r), r->size);
	cr_assert_eq((uintptr_t)r % 16, 0);
	/* The AOR sits right after the binding array. */
	cr_assert_eq((const char *)aor_rec_key(r).s, (const char *)&r->b[3]);

	for (unsigned i = 0; i < 3; i++) {
		const struct binding *b = &r->b[i];
		struct binding_src out;

		binding_to_src(r, b, &out);
		cr_assert(tstr_eq(out.uri, in[i].uri), "uri %u", i);
		cr_assert(tstr_eq(out.call_id, in[i].call_id), "call_id %u", i);
		cr_assert(tstr_eq(out.instance, in[i].instance), "instance %u", i);
		cr_assert(tstr_eq(out.path, in[i].path), "path %u", i);
		cr_assert(tstr_eq(out.user_agent, in[i].user_agent), "user_agent %u", i);
		cr_assert_eq(out.expires_ms, in[i].expires_ms);
		cr_assert_eq(out.registered_ms, in[i].registered_ms);
		cr_assert_eq(out.cseq, in[i].cseq);
		cr_assert_eq(out.reg_id, in[i].reg_id);
		cr_assert_eq(out.q, in[i].q);
		cr_assert(memcmp(&out.source, &in[i].source, sizeof(out.source)) == 0);
		/* The strings live inside the record, not in the caller's. */
		cr_assert(out.uri.s > (const char *)r && out.uri.s + out.uri.len <= (const char *)r + r->size);
		cr_assert(tstr_eq(binding_uri(r, b), in[i].uri));
		cr_assert_leq(b->user_agent_off + b->user_agent_len, r->size);
	}
	cr_assert(addr_equal(&r->b[1].source, &in[1].source));

	/* A record built from another record's bindings (strings pointing into
	 * it) is an exact copy. */
	{
		struct binding_src again[3];
		struct aor_rec *r2;

		for (unsigned i = 0; i < 3; i++)
			binding_to_src(r, &r->b[i], &again[i]);
		r2 = aor_rec_build(p, aor_rec_key(r), r->hash, again, 3, NULL);
		cr_assert_not_null(r2);
		cr_assert_eq(r2->size, r->size);
		cr_assert(memcmp((const char *)r2 + offsetof(struct aor_rec, hash),
				 (const char *)r + offsetof(struct aor_rec, hash),
				 r->size - offsetof(struct aor_rec, hash)) == 0);
		aor_rec_discard(r2);
	}
	aor_rec_discard(r);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, build_refuses_empty_and_malformed_records)
{
	struct rec_pool *p = rec_pool_create("t");
	struct binding_src b = src("sip:a@192.0.2.1", "c", 1, 1);
	int err = 0;

	cr_assert_null(aor_rec_build(p, TSTR_LIT("sip:a@x"), 1, &b, 0, &err));
	cr_assert_eq(err, TDM_EMALFORMED, "a record needs at least one binding");
	err = 0;
	cr_assert_null(aor_rec_build(p, TSTR_LIT("sip:a@x"), 1, NULL, 1, &err));
	cr_assert_eq(err, TDM_EMALFORMED);
	err = 0;
	cr_assert_null(aor_rec_build(p, TSTR_NULL, 1, &b, 1, &err));
	cr_assert_eq(err, TDM_EMALFORMED, "empty AOR");
	err = 0;
	b.path = (tstr){ NULL, 5 };
	cr_assert_null(aor_rec_build(p, TSTR_LIT("sip:a@x"), 1, &b, 1, &err));
	cr_assert_eq(err, TDM_EMALFORMED, "length without bytes");
	/* err may be NULL. */
	cr_assert_null(aor_rec_build(p, TSTR_LIT("sip:a@x"), 1, &b, 0, NULL));
	rec_pool_destroy(p);
}

Test(bindings, build_refuses_oversized_records)
{
	struct rec_pool *p = rec_pool_create("t");
	static char big[70000];
	static struct binding_src many[BIND_MAX_PER_REC + 1];
	struct binding_src b = src("sip:a@192.0.2.1", "c", 1, 1);
	tstr aor = TSTR_LIT("sip:a@x");
	struct binding_src two[2];
	struct aor_rec *r;
	int err = 0;
	uint32_t fill;

	memset(big, 'u', sizeof(big));
	/* One string over 65535 bytes. */
	b.user_agent = tstr_make(big, 65536);
	cr_assert_null(aor_rec_build(p, aor, 1, &b, 1, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	/* The AOR itself over 65535 bytes. */
	b.user_agent = TSTR_NULL;
	err = 0;
	cr_assert_null(aor_rec_build(p, tstr_make(big, 65536), 1, &b, 1, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	/* Each string fits, the record does not. */
	two[0] = b;
	two[1] = b;
	two[0].path = tstr_make(big, 40000);
	two[1].path = tstr_make(big, 40000);
	err = 0;
	cr_assert_null(aor_rec_build(p, aor, 1, two, 2, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	/* Exactly REC_POOL_MAX_SIZE fits; one byte more does not. */
	fill = REC_POOL_MAX_SIZE - sizeof(struct aor_rec) - sizeof(struct binding) -
	       aor.len - b.uri.len - b.call_id.len;
	b.path = tstr_make(big, fill);
	r = aor_rec_build(p, aor, 1, &b, 1, &err);
	cr_assert_not_null(r);
	cr_assert_eq(r->size, REC_POOL_MAX_SIZE);
	cr_assert_eq(binding_path(r, &r->b[0]).len, fill);
	aor_rec_discard(r);
	b.path = tstr_make(big, fill + 1);
	cr_assert_null(aor_rec_build(p, aor, 1, &b, 1, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	/* The binding count: BIND_MAX_PER_REC bindings with empty strings fit
	 * (with a one-byte AOR), one more does not, nor does a huge n. */
	for (unsigned i = 0; i <= BIND_MAX_PER_REC; i++)
		many[i] = src("", "", i, 1);
	r = aor_rec_build(p, TSTR_LIT("a"), 1, many, BIND_MAX_PER_REC, &err);
	cr_assert_not_null(r);
	cr_assert_eq(r->nbind, BIND_MAX_PER_REC);
	cr_assert_eq(r->b[BIND_MAX_PER_REC - 1].cseq, BIND_MAX_PER_REC - 1);
	aor_rec_discard(r);
	err = 0;
	cr_assert_null(aor_rec_build(p, TSTR_LIT("a"), 1, many, BIND_MAX_PER_REC + 1, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	err = 0;
	cr_assert_null(aor_rec_build(p, TSTR_LIT("a"), 1, many, UINT32_MAX, &err));
	cr_assert_eq(err, TDM_ETOOMANY);
	rec_pool_destroy(p);
}

static void fill_table(struct bind_table *t, struct rec_pool *p, unsigned n, uint64_t exp)
{
	for (unsigned i = 0; i < n; i++) {
		char aor[64];

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		cr_assert_eq(bind_publish(t, NULL, build1(t, p, aor, "sip:u@192.0.2.1", i, exp)), 0);
	}
}

Test(bindings, count_counts_records)
{
	struct bind_table *t = table_with_key(NULL);
	struct rec_pool *p = rec_pool_create("t");

	cr_assert_eq(bind_count(t), 0);
	/* Enough to make the table grow past its 16 initial buckets. */
	fill_table(t, p, 1000, 100);
	cr_assert_eq(bind_count(t), 1000);
	for (unsigned i = 0; i < 10; i++) {
		char aor[64];

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i * 7);
		cr_assert_eq(bind_publish(t, lookup(t, aor), NULL), 0);
	}
	cr_assert_eq(bind_count(t), 990);
	for (unsigned i = 0; i < 1000; i++) {
		char aor[64];
		const struct aor_rec *r;

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		r = lookup(t, aor);
		if (i % 7 == 0 && i < 70)
			cr_assert_null(r);
		else
			cr_assert(r && r->b[0].cseq == i, "%s", aor);
	}
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

struct visit {
	unsigned seen;
	unsigned stop_at;
	uint64_t cseq_sum;
};

static int visit_cb(const struct aor_rec *r, void *arg)
{
	struct visit *v = arg;

	v->seen++;
	v->cseq_sum += r->b[0].cseq;
	return v->stop_at && v->seen == v->stop_at ? 7 : 0;
}

Test(bindings, foreach_visits_every_record_and_stops_early)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct visit all = { 0 }, some = { .stop_at = 5 }, none = { 0 };
	struct bind_table *empty = table_with_key(key_a);

	fill_table(t, p, 100, 100);
	cr_assert_eq(bind_foreach(t, visit_cb, &all), 0);
	cr_assert_eq(all.seen, 100);
	cr_assert_eq(all.cseq_sum, 99 * 100 / 2, "each record once");
	cr_assert_eq(bind_foreach(t, visit_cb, &some), 7, "the callback's value");
	cr_assert_eq(some.seen, 5);
	cr_assert_eq(bind_foreach(empty, visit_cb, &none), 0);
	cr_assert_eq(none.seen, 0);
	bind_table_destroy(empty);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, sweep_removes_only_expired_bindings_and_deletes_empty_records)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("workers");
	struct rec_pool *ctl = rec_pool_create("control");
	struct binding_src three[3] = {
		src("sip:a1@192.0.2.1", "c1", 1, 100),
		src("sip:a2@192.0.2.2", "c2", 2, 200),
		src("sip:a3@192.0.2.3", "c3", 3, 150),
	};
	tstr a = TSTR_LIT("sip:a@x");
	struct aor_rec *ra = aor_rec_build(p, a, bind_hash(t, a), three, 3, NULL);
	struct aor_rec *rb = build1(t, p, "sip:b@x", "sip:b@192.0.2.1", 1, 50);
	struct aor_rec *rc = build1(t, p, "sip:c@x", "sip:c@192.0.2.1", 1, 1000);
	const struct aor_rec *now_a;
	uint64_t aors = 99;

	cr_assert_not_null(ra);
	cr_assert_eq(bind_publish(t, NULL, ra), 0);
	cr_assert_eq(bind_publish(t, NULL, rb), 0);
	cr_assert_eq(bind_publish(t, NULL, rc), 0);

	/* Nothing is due before 50. */
	cr_assert_eq(bind_sweep(t, ctl, 49, &aors), 0);
	cr_assert_eq(aors, 0);
	cr_assert_eq(lookup(t, "sip:a@x"), ra, "untouched records are not rebuilt");

	/* At 150: a1 (100) and a3 (150, due exactly now) go, a2 stays; b's
	 * only binding goes and b with it; c is untouched. */
	cr_assert_eq(bind_sweep(t, ctl, 150, &aors), 3);
	cr_assert_eq(aors, 1);
	now_a = lookup(t, "sip:a@x");
	cr_assert_not_null(now_a);
	cr_assert_neq(now_a, ra);
	cr_assert_eq(now_a->nbind, 1);
	cr_assert(tstr_is(binding_uri(now_a, &now_a->b[0]), "sip:a2@192.0.2.2"));
	cr_assert(tstr_is(binding_call_id(now_a, &now_a->b[0]), "c2"));
	cr_assert_eq(now_a->b[0].cseq, 2);
	cr_assert_eq(now_a->b[0].expires_ms, 200);
	cr_assert_null(lookup(t, "sip:b@x"));
	cr_assert_eq(lookup(t, "sip:c@x"), rc);
	cr_assert_eq(bind_count(t), 2);

	/* Idempotent; NULL for aors_removed is allowed. */
	cr_assert_eq(bind_sweep(t, ctl, 150, NULL), 0);
	cr_assert_eq(bind_sweep(t, ctl, 5000, &aors), 2);
	cr_assert_eq(aors, 2);
	cr_assert_eq(bind_count(t), 0);
	bind_table_destroy(t);
	rec_pool_destroy(ctl);
	rec_pool_destroy(p);
}

static int min_deadline(const struct aor_rec *r, void *arg)
{
	uint64_t *m = arg;

	for (unsigned i = 0; i < r->nbind; i++)
		if (r->b[i].expires_ms < *m)
			*m = r->b[i].expires_ms;
	return 0;
}

Test(bindings, sweep_is_due_only_when_a_stored_binding_may_have_expired)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("workers");
	struct rec_pool *ctl = rec_pool_create("control");
	struct binding_src two[2] = {
		src("sip:a1@192.0.2.1", "c1", 1, 300),
		src("sip:a2@192.0.2.2", "c2", 2, 200),
	};
	tstr a = TSTR_LIT("sip:a@x");
	struct aor_rec *ra = aor_rec_build(p, a, bind_hash(t, a), two, 2, NULL);
	struct aor_rec *rb = build1(t, p, "sip:b@x", "sip:b@192.0.2.1", 1, 500);
	struct aor_rec *rb2 = build1(t, p, "sip:b@x", "sip:b@192.0.2.1", 2, 900);
	uint64_t aors = 0;

	cr_assert_eq(bind_expiry_floor(t), UINT64_MAX);
	cr_assert_not(bind_sweep_due(t, UINT64_MAX - 1), "an empty table never needs a sweep");

	cr_assert_eq(bind_publish(t, NULL, rb), 0);
	cr_assert_eq(bind_expiry_floor(t), 500, "an insert lowers the floor");
	cr_assert_eq(bind_publish(t, NULL, ra), 0);
	cr_assert_eq(bind_expiry_floor(t), 200, "to the record's earliest binding");
	cr_assert_not(bind_sweep_due(t, 199));
	cr_assert(bind_sweep_due(t, 200), "due when the earliest deadline is reached");

	/* A refresh of b to 900 never raises the floor by itself ... */
	cr_assert_eq(bind_publish(t, rb, rb2), 0);
	cr_assert_eq(bind_expiry_floor(t), 200);
	/* ... a sweep sets it to what it kept: at 250, a2 (200) goes, a1 (300)
	 * and b (900) stay. */
	cr_assert_eq(bind_sweep(t, ctl, 250, &aors), 1);
	cr_assert_eq(bind_expiry_floor(t), 300);
	cr_assert_not(bind_sweep_due(t, 299));
	/* A sweep with nothing to do recomputes the same floor. */
	cr_assert_eq(bind_sweep(t, ctl, 299, &aors), 0);
	cr_assert_eq(bind_expiry_floor(t), 300);
	/* Everything gone: no sweep is ever due again. */
	cr_assert_eq(bind_sweep(t, ctl, 1000, &aors), 2);
	cr_assert_eq(aors, 2);
	cr_assert_eq(bind_expiry_floor(t), UINT64_MAX);
	cr_assert_not(bind_sweep_due(t, UINT64_MAX - 1));
	bind_table_destroy(t);
	rec_pool_destroy(ctl);
	rec_pool_destroy(p);
}

Test(bindings, fit_grows_and_shrinks_the_table_like_a_sweep)
{
	struct bind_table *t = table_with_key(key_a);   /* 16 buckets */

	bind_fit(t, 5000);
	cr_assert_eq(bind_buckets(t), 8192);
	cr_assert(rcu_read_ongoing(), "online again after the resize");
	bind_fit(t, 3000);
	cr_assert_eq(bind_buckets(t), 8192, "not below a quarter: kept");
	bind_fit(t, 100);
	cr_assert_eq(bind_buckets(t), 128);
	bind_fit(t, 0);
	cr_assert_eq(bind_buckets(t), 16, "never below the size asked for at creation");
	bind_table_destroy(t);
}

Test(bindings, reserve_grows_the_table_between_sweeps_and_never_shrinks_it)
{
	struct bind_table *t = table_with_key(key_a);   /* 16 buckets */
	struct rec_pool *p = rec_pool_create("t");

	cr_assert_eq(bind_buckets(t), 16);
	cr_assert_eq(bind_publish(t, NULL, build1(t, p, "sip:a@example.com", "sip:u@192.0.2.1",
						  1, 1000)), 0);
	bind_reserve(t, 1000);
	cr_assert_eq(bind_buckets(t), 1024);
	cr_assert(rcu_read_ongoing(), "online again after the resize");
	bind_reserve(t, 10);
	cr_assert_eq(bind_buckets(t), 1024, "reserve never shrinks");
	cr_assert_not_null(lookup(t, "sip:a@example.com"));
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, sweep_resizes_the_table_and_keeps_every_record)
{
	struct bind_table *t = table_with_key(key_a);   /* 16 buckets */
	struct rec_pool *p = rec_pool_create("t");
	uint64_t aors = 0;

	/* Half the records expire at 100, half at 1000. */
	for (unsigned i = 0; i < 6000; i++) {
		char aor[64];

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		cr_assert_eq(bind_publish(t, NULL, build1(t, p, aor, "sip:u@192.0.2.1", i,
							  i % 2 ? 100 : 1000)), 0);
		if (i % 64 == 0)
			rcu_quiescent_state();
	}
	/* Nothing due: the sweep only grows the table (to 8192 buckets). */
	cr_assert_eq(bind_sweep(t, p, 50, &aors), 0);
	cr_assert(rcu_read_ongoing(), "online again after the resize");
	cr_assert_eq(bind_count(t), 6000);
	for (unsigned i = 0; i < 6000; i++) {
		char aor[64];
		const struct aor_rec *r;

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		r = lookup(t, aor);
		cr_assert(r && r->b[0].cseq == i, "%s after growing", aor);
	}
	/* Half expire; then all but a few, and the table shrinks. */
	cr_assert_eq(bind_sweep(t, p, 100, &aors), 3000);
	cr_assert_eq(aors, 3000);
	for (unsigned i = 10; i < 6000; i += 2) {
		char aor[64];

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		cr_assert_eq(bind_publish(t, lookup(t, aor), NULL), 0);
	}
	cr_assert_eq(bind_sweep(t, p, 100, &aors), 0);
	cr_assert_eq(bind_count(t), 5);
	for (unsigned i = 0; i < 10; i++) {
		char aor[64];
		const struct aor_rec *r;

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		r = lookup(t, aor);
		if (i % 2)
			cr_assert_null(r, "%s expired", aor);
		else
			cr_assert(r && r->b[0].cseq == i, "%s after shrinking", aor);
	}
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

static void publish_n(struct bind_table *t, struct rec_pool *p, unsigned from, unsigned to,
		      uint64_t exp)
{
	for (unsigned i = from; i < to; i++) {
		char aor[64];

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		cr_assert_eq(bind_publish(t, NULL, build1(t, p, aor, "sip:u@192.0.2.1", i, exp)), 0);
	}
}

static const struct aor_rec *lookup_n(struct bind_table *t, unsigned i)
{
	char aor[64];

	snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
	return lookup(t, aor);
}

/* Between two steps the sweeper goes offline and a grace period passes:
 * every record it had visited may be freed, so the walk must hold no
 * pointer; meanwhile the table changes under it. */
Test(bindings, a_sweep_in_steps_expires_what_one_walk_would_with_the_table_changing_between)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct bind_sweep s;
	uint64_t aors = 0, removed;
	unsigned steps = 0;

	publish_n(t, p, 0, 3000, 100);      /* expired at 150 */
	publish_n(t, p, 3000, 6000, 1000);  /* not */
	bind_sweep_begin(&s, t, p, 150);
	while (!bind_sweep_step(&s, 50)) {
		unsigned k = steps++;

		/* The table holds the walk's place: one entry more. */
		cr_assert_eq(bind_count(t), 6000 - s.aors + k - (k < 20 ? k : 20) + 1);
		rcu_thread_offline();
		synchronize_rcu();
		rcu_barrier();          /* retired records are back in the pool */
		rcu_thread_online();
		/* New AORs, and some of those not yet visited deleted: a new
		 * one is walked or not (it lowered the floor itself either
		 * way), a deleted one is not walked. */
		publish_n(t, p, 10000 + k, 10000 + k + 1, 1000);
		if (k < 20) {
			const struct aor_rec *r = lookup_n(t, 5000 + k);

			if (r)
				cr_assert_eq(bind_publish(t, r, NULL), 0);
		}
	}
	cr_assert_geq(steps, 3000 / 50, "%u steps of 50 records", steps);
	removed = bind_sweep_end(&s, &aors);
	cr_assert_eq(removed, 3000, "every expired binding is removed (%" PRIu64 ")", removed);
	cr_assert_eq(aors, 3000);
	for (unsigned i = 0; i < 3000; i++)
		cr_assert_null(lookup_n(t, i), "user%u expired", i);
	for (unsigned i = 3000; i < 6000; i++)
		cr_assert_eq(lookup_n(t, i) != NULL, i < 5000 || i >= 5020, "user%u", i);
	cr_assert_eq(bind_count(t), 3000 - 20 + steps, "no entry of the walk is left");
	cr_assert_not(bind_sweep_due(t, 999), "the floor is the earliest kept expiry");
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

/* Records of one hash sit together in the table and the walk's place goes
 * behind all of them: a step never ends between two (it would skip the
 * rest of them, or, with the place before them, walk them for ever). */
Test(bindings, a_step_does_not_stop_between_records_of_one_hash)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	static const char *const same[] = { "sip:x@example.com", "sip:y@example.com",
					    "sip:z@example.com", "sip:w@example.com" };
	const uint64_t hash = 0x5eed5eed5eed5eedull;
	struct bind_sweep s;
	uint64_t aors = 0;
	unsigned steps = 0;

	publish_n(t, p, 0, 200, 100);
	/* x and w expire, y and z do not. */
	for (unsigned i = 0; i < 4; i++) {
		struct binding_src b = src("sip:u@192.0.2.1", "call-1", 1, i % 3 ? 1000 : 100);
		struct aor_rec *r = aor_rec_build(p, tstr_cstr(same[i]), hash, &b, 1, NULL);

		cr_assert_not_null(r);
		cr_assert_eq(bind_publish(t, NULL, r), 0);
	}
	bind_sweep_begin(&s, t, p, 150);
	while (!bind_sweep_step(&s, 1)) {
		rcu_quiescent_state();
		cr_assert_lt(++steps, 1000, "the walk goes round in circles");
	}
	cr_assert_eq(bind_sweep_end(&s, &aors), 202);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(bind_lookup(t, tstr_cstr(same[i]), hash) != NULL, i % 3 != 0,
			     "%s", same[i]);
	cr_assert_eq(bind_count(t), 2);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

Test(bindings, an_abandoned_sweep_leaves_no_entry_and_asks_for_the_next)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct bind_sweep s;
	uint64_t aors = 0, removed;

	publish_n(t, p, 0, 1000, 100);
	bind_sweep(t, p, 50, NULL);            /* sizes the table: 1024 buckets */
	cr_assert_eq(bind_buckets(t), 1024);
	bind_sweep_begin(&s, t, p, 150);
	cr_assert_not(bind_sweep_step(&s, 10));
	cr_assert_eq(bind_count(t), 1000 - 10 + 1);
	removed = bind_sweep_end(&s, &aors);
	cr_assert_eq(removed, 10, "what the step did stays done");
	cr_assert_eq(aors, 10);
	cr_assert_eq(bind_count(t), 990, "the walk's place is gone");
	cr_assert_eq(bind_buckets(t), 1024, "a part of a walk does not size the table");
	cr_assert(bind_sweep_due(t, 0), "the rest is swept at the next tick");
	cr_assert_eq(bind_sweep(t, p, 150, &aors), 990);
	cr_assert_eq(bind_count(t), 0);
	bind_table_destroy(t);
	rec_pool_destroy(p);
}

#define REF_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define REF_ROUND                                                                  \
	do {                                                                       \
		v0 += v1; v1 = REF_ROTL(v1, 13); v1 ^= v0; v0 = REF_ROTL(v0, 32);  \
		v2 += v3; v3 = REF_ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = REF_ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = REF_ROTL(v1, 17); v1 ^= v2; v2 = REF_ROTL(v2, 32);  \
	} while (0)

/* SipHash-c-d written from the paper, byte by byte. */
static uint64_t ref_siphash(unsigned c, unsigned d, const uint8_t k[16], const uint8_t *m,
			    size_t len)
{
	uint64_t k0 = 0, k1 = 0, b = (uint64_t)len << 56;
	uint64_t v0, v1, v2, v3;
	size_t i;

	for (i = 0; i < 8; i++) {
		k0 |= (uint64_t)k[i] << (8 * i);
		k1 |= (uint64_t)k[8 + i] << (8 * i);
	}
	v0 = k0 ^ 0x736f6d6570736575ull;
	v1 = k1 ^ 0x646f72616e646f6dull;
	v2 = k0 ^ 0x6c7967656e657261ull;
	v3 = k1 ^ 0x7465646279746573ull;
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = 0;

		for (size_t j = 0; j < 8; j++)
			w |= (uint64_t)m[i + j] << (8 * j);
		v3 ^= w;
		for (unsigned r = 0; r < c; r++)
			REF_ROUND;
		v0 ^= w;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)m[i + j] << (8 * j);
	v3 ^= b;
	for (unsigned r = 0; r < c; r++)
		REF_ROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		REF_ROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

Test(bindings, hash_is_keyed_siphash)
{
	static const uint8_t key_b[16] = { 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	static const uint8_t ref_key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	static const char ref_msg[15] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };
	struct bind_table *a1 = table_with_key(key_a);
	struct bind_table *a2 = table_with_key(key_a);
	struct bind_table *b = table_with_key(key_b);
	struct bind_table *r1 = table_with_key(NULL);
	struct bind_table *r2 = table_with_key(NULL);
	struct bind_table *ref = table_with_key(ref_key);
	unsigned differ_b = 0, differ_r = 0;

	for (unsigned i = 0; i < 32; i++) {
		char aor[64];
		tstr k;

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		k = tstr_cstr(aor);
		cr_assert_eq(bind_hash(a1, k), bind_hash(a2, k), "same key, same hash");
		differ_b += bind_hash(a1, k) != bind_hash(b, k);
		differ_r += bind_hash(r1, k) != bind_hash(r2, k);
	}
	cr_assert_eq(differ_b, 32, "another key hashes differently");
	cr_assert_eq(differ_r, 32, "random keys differ between tables");
	/* The reference below reproduces the SipHash-2-4 vectors of the paper
	 * (Aumasson & Bernstein, appendix A: key 00..0f, messages of length 0
	 * and 15); bind_hash() is its SipHash-1-3, for every length 0..63. */
	cr_assert_eq(ref_siphash(2, 4, ref_key, (const uint8_t *)ref_msg, 0), 0x726fdb47dd0e0e31ull);
	cr_assert_eq(ref_siphash(2, 4, ref_key, (const uint8_t *)ref_msg, 15), 0xa129ca6149be45e5ull);
	for (size_t len = 0; len < 64; len++) {
		uint8_t msg[64];

		for (size_t i = 0; i < len; i++)
			msg[i] = (uint8_t)i;
		cr_assert_eq(bind_hash(ref, tstr_make((const char *)msg, (uint32_t)len)),
			     ref_siphash(1, 3, ref_key, msg, len), "SipHash-1-3, length %zu", len);
	}
	bind_table_destroy(a1);
	bind_table_destroy(a2);
	bind_table_destroy(b);
	bind_table_destroy(r1);
	bind_table_destroy(r2);
	bind_table_destroy(ref);
}

Test(bindings, destroy_returns_every_record_to_its_pool)
{
	struct bind_table *t = table_with_key(key_a);
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	fill_table(t, p, 300, 100);
	/* Retire some records too (replaced, not yet freed). */
	for (unsigned i = 0; i < 50; i++) {
		char aor[64];
		const struct aor_rec *old;

		snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
		old = lookup(t, aor);
		cr_assert_eq(bind_publish(t, old, build1(t, p, aor, "sip:v@192.0.2.2", 1, 1)), 0);
	}
	bind_table_destroy(t);
	cr_assert(rcu_read_ongoing(), "an online caller is online again after destroy");
	rec_pool_reclaim(p);
	rec_pool_get_stats(p, &st);
	/* 350 records and 300 table entries. */
	cr_assert_eq(st.allocs, 650);
	cr_assert_eq(st.frees, 650, "every record and entry is back in the pool");
	rec_pool_destroy(p);
	bind_table_destroy(NULL);
}

Test(bindings, destroy_works_from_an_unregistered_thread)
{
	struct bind_table *t = table_with_key(NULL);
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	fill_table(t, p, 300, 100);
	rcu_unregister_thread();
	bind_table_destroy(t);
	rcu_register_thread();   /* for the fixture's fini */
	rec_pool_reclaim(p);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.frees, 600, "300 records and their table entries");
	rec_pool_destroy(p);
}

Test(bindings, destroy_works_from_an_offline_thread)
{
	struct bind_table *t = table_with_key(NULL);
	struct rec_pool *p = rec_pool_create("t");
	struct rec_pool_stats st;

	fill_table(t, p, 300, 100);
	rcu_thread_offline();
	bind_table_destroy(t);
	cr_assert_not(rcu_read_ongoing(), "still offline");
	rcu_thread_online();
	rec_pool_reclaim(p);
	rec_pool_get_stats(p, &st);
	cr_assert_eq(st.frees, 600, "300 records and their table entries");
	rec_pool_destroy(p);
}

/*
 * Concurrent writers. CW_WRITERS threads each make CW_UPDATES copy-on-write
 * updates of the same CW_AORS records: look up, copy every other binding,
 * refresh their own (cseq = how many updates this writer made to this AOR),
 * publish, and on TDM_ERACE start again from the current record. At the
 * same time an "expirer" adds already-expired bindings to those records and
 * keeps inserting a record of expired bindings only (the churn AOR), a
 * sweeper sweeps in a loop (one walk and a walk in steps, in turn), and a
 * reader checks every record it sees. No update may be lost: at the end
 * every record holds exactly one binding per writer with the writer's own
 * count, and the sweeps removed exactly the expired bindings and churn
 * records that were published.
 */
#define CW_WRITERS 4
#define CW_AORS 3
#define CW_UPDATES 20000
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
	/* "sip:writerN@192.0.2.9" padded to a fixed 22 bytes. */
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
		tdm_rcu_quiescent_state();
	}
	atomic_fetch_sub(&cw->writers_left, 1);
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Add one expired binding to record a of the shared set (or to the churn
 * record, inserting it when absent), retrying lost races. */
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

Test(bindings, concurrent_writers_lose_no_update, .timeout = 300)
{
	static struct cw cw;
	static struct cw_writer w[CW_WRITERS];
	static struct cw_aux expirer, sweeper, reader;
	static const char *const aors[CW_AORS] = {
		"sip:shared0@example.com", "sip:shared1@example.com", "sip:shared2@example.com",
	};
	pthread_t th[CW_WRITERS + 3];
	struct rec_pool *ctl = rec_pool_create("final");
	uint64_t races = 0, final_aors = 0, final_bindings, total = 0;

	cw.t = table_with_key(NULL);
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
	for (unsigned i = 0; i < CW_WRITERS; i++) {
		w[i] = (struct cw_writer){ .cw = &cw, .id = i, .pool = rec_pool_create("writer") };
		cr_assert_eq(pthread_create(&th[i], NULL, cw_writer_main, &w[i]), 0);
	}
	cr_assert_eq(pthread_create(&th[CW_WRITERS], NULL, cw_expirer_main, &expirer), 0);
	cr_assert_eq(pthread_create(&th[CW_WRITERS + 1], NULL, cw_sweeper_main, &sweeper), 0);
	cr_assert_eq(pthread_create(&th[CW_WRITERS + 2], NULL, cw_reader_main, &reader), 0);
	/* Offline while waiting, or no grace period could end. */
	tdm_rcu_thread_offline();
	for (unsigned i = 0; i < CW_WRITERS + 3; i++)
		pthread_join(th[i], NULL);
	rcu_thread_online();

	cr_assert_eq(atomic_load(&cw.build_fail), 0);
	cr_assert_eq(atomic_load(&cw.lost), 0, "a writer found its own binding out of date");
	cr_assert_eq(atomic_load(&cw.bad_reads), 0, "a reader saw a broken or older record");

	/* With publishes racing sweeps, the floor still never passed a stored
	 * deadline (a lowering lost to a sweep's reset would leave it above
	 * an expired binding the expirer added). */
	uint64_t first = UINT64_MAX;
	bind_foreach(cw.t, min_deadline, &first);
	cr_assert_leq(bind_expiry_floor(cw.t), first, "floor %llu above the deadline %llu",
		      (unsigned long long)bind_expiry_floor(cw.t), (unsigned long long)first);

	/* Whatever expired bindings are left, a last sweep takes. */
	final_bindings = bind_sweep(cw.t, ctl, CW_NOW, &final_aors);
	first = UINT64_MAX;
	bind_foreach(cw.t, min_deadline, &first);
	cr_assert_eq(bind_expiry_floor(cw.t), first, "a quiet sweep sets the exact floor");
	cr_assert_eq(sweeper.swept_bindings + final_bindings, expirer.expired_added,
		     "every expired binding removed exactly once");
	cr_assert_eq(sweeper.swept_aors + final_aors, expirer.churn_inserted,
		     "every churn record deleted exactly once");
	cr_assert_null(bind_lookup(cw.t, cw.churn, cw.churn_hash));

	for (unsigned a = 0; a < CW_AORS; a++) {
		const struct aor_rec *r = bind_lookup(cw.t, cw.aor[a], cw.hash[a]);
		bool seen[CW_WRITERS] = { false };

		cr_assert_not_null(r);
		cr_assert_eq(r->nbind, CW_WRITERS, "%s: one binding per writer", aors[a]);
		for (unsigned k = 0; k < r->nbind; k++) {
			unsigned id;

			cr_assert(cw_is_writer_uri(binding_uri(r, &r->b[k]), &id));
			cr_assert_not(seen[id]);
			seen[id] = true;
			cr_assert_eq(r->b[k].cseq, w[id].done[a],
				     "%s writer %u: cseq %u, updates %u", aors[a], id,
				     r->b[k].cseq, w[id].done[a]);
		}
	}
	for (unsigned i = 0; i < CW_WRITERS; i++) {
		for (unsigned a = 0; a < CW_AORS; a++)
			total += w[i].done[a];
		races += w[i].races;
	}
	cr_assert_eq(total, (uint64_t)CW_WRITERS * CW_UPDATES);
	cr_assert_gt(sweeper.sweeps, 0);
	cr_assert_gt(expirer.expired_added, 0);
	cr_log_info("concurrent writers: %llu updates, %llu writer races (TDM_ERACE), "
		    "%llu expirer races, %llu expired bindings, %llu churn records, "
		    "%llu sweeps, %llu reads",
		    (unsigned long long)total, (unsigned long long)races,
		    (unsigned long long)expirer.races,
		    (unsigned long long)expirer.expired_added,
		    (unsigned long long)expirer.churn_inserted,
		    (unsigned long long)sweeper.sweeps, (unsigned long long)reader.reads);

	bind_table_destroy(cw.t);
	for (unsigned i = 0; i < CW_WRITERS; i++)
		rec_pool_destroy(w[i].pool);
	rec_pool_destroy(expirer.pool);
	rec_pool_destroy(sweeper.pool);
	rec_pool_destroy(ctl);
}
