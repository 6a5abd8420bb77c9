/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/users.c: the name and number indexes, replacing
 * a user (the number index follows), number conflicts, malformed records,
 * delete, count, the walk, and readers running while the control thread
 * rewrites users.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <urcu-qsbr.h>

#include "err.h"
#include "rcu.h"
#include "rec_pool.h"
#include "users.h"

static void rcu_up(void)
{
	rcu_register_thread();
}

static void rcu_down(void)
{
	rcu_unregister_thread();
}

TestSuite(users, .init = rcu_up, .fini = rcu_down);

static struct user *mk(const char *name, const char *number, uint64_t revision)
{
	struct user *u = users_alloc();

	cr_assert_not_null(u);
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

static const struct user *find(struct users *u, const char *key)
{
	return users_find(u, tstr_cstr(key));
}

Test(users, put_and_find_by_name_and_by_number)
{
	struct users *u = users_create();
	const struct user *a;

	cr_assert_not_null(u);
	cr_assert_eq(users_put(u, mk("alice", "1001", 1)), 0);
	cr_assert_eq(users_put(u, mk("bob", "", 1)), 0);
	a = find(u, "alice");
	cr_assert_not_null(a);
	cr_assert_str_eq(a->name, "alice");
	cr_assert_str_eq(a->number, "1001");
	cr_assert_str_eq(a->display, "alice rev 1");
	cr_assert_eq(a->ha1_md5[15], 1);
	cr_assert_eq(find(u, "1001"), a, "the same record through the number index");
	cr_assert_str_eq(find(u, "bob")->name, "bob");
	cr_assert_eq(users_count(u), 2);
	users_destroy(u);
}

Test(users, find_misses_unknown_empty_and_oversized_keys)
{
	struct users *u = users_create();
	char longkey[200];

	cr_assert_eq(users_put(u, mk("alice", "1001", 1)), 0);
	cr_assert_null(find(u, "carol"));
	cr_assert_null(find(u, "1002"));
	cr_assert_null(find(u, "Alice"), "names are compared exactly");
	cr_assert_null(find(u, "alic"));
	cr_assert_null(find(u, "alicee"));
	cr_assert_null(users_find(u, TSTR_NULL));
	cr_assert_null(users_find(u, tstr_make("alice", 0)));
	/* A key that is the name plus a NUL and more is not the name. */
	cr_assert_null(users_find(u, tstr_make("alice\0x", 7)));
	memset(longkey, 'a', sizeof(longkey));
	cr_assert_null(users_find(u, tstr_make(longkey, sizeof(longkey))));
	users_destroy(u);
}

Test(users, a_name_wins_over_a_number)
{
	struct users *u = users_create();

	cr_assert_eq(users_put(u, mk("alice", "2000", 1)), 0);
	/* A user whose name is another user's number. */
	cr_assert_eq(users_put(u, mk("2000", "3000", 1)), 0);
	cr_assert_str_eq(find(u, "2000")->name, "2000");
	cr_assert_str_eq(find(u, "3000")->name, "2000");
	users_destroy(u);
}

Test(users, replace_keeps_both_indexes_consistent)
{
	struct users *u = users_create();
	const struct user *a;

	cr_assert_eq(users_put(u, mk("alice", "1001", 1)), 0);
	/* New number: the old one no longer finds alice. */
	cr_assert_eq(users_put(u, mk("alice", "1002", 2)), 0);
	cr_assert_null(find(u, "1001"));
	a = find(u, "alice");
	cr_assert_eq(a->revision, 2);
	cr_assert_eq(find(u, "1002"), a);
	cr_assert_eq(users_count(u), 1);
	/* Same number: both indexes move to the new record. */
	cr_assert_eq(users_put(u, mk("alice", "1002", 3)), 0);
	a = find(u, "alice");
	cr_assert_eq(a->revision, 3);
	cr_assert_eq(find(u, "1002"), a);
	/* Number dropped. */
	cr_assert_eq(users_put(u, mk("alice", "", 4)), 0);
	cr_assert_null(find(u, "1002"));
	cr_assert_eq(find(u, "alice")->revision, 4);
	/* Number given again. */
	cr_assert_eq(users_put(u, mk("alice", "1001", 5)), 0);
	cr_assert_eq(find(u, "1001")->revision, 5);
	cr_assert_eq(users_count(u), 1);
	/* The freed number is free for someone else. */
	cr_assert_eq(users_put(u, mk("bob", "1002", 1)), 0);
	cr_assert_str_eq(find(u, "1002")->name, "bob");
	users_destroy(u);
}

Test(users, number_of_another_user_is_refused)
{
	struct users *u = users_create();

	cr_assert_eq(users_put(u, mk("alice", "1001", 1)), 0);
	cr_assert_eq(users_put(u, mk("bob", "1001", 1)), TDM_EEXISTS);
	cr_assert_null(find(u, "bob"), "the refused user is not stored");
	cr_assert_str_eq(find(u, "1001")->name, "alice");
	cr_assert_eq(users_count(u), 1);
	/* Nor by a replacement of an existing user. */
	cr_assert_eq(users_put(u, mk("bob", "2002", 1)), 0);
	cr_assert_eq(users_put(u, mk("bob", "1001", 2)), TDM_EEXISTS);
	cr_assert_eq(find(u, "bob")->revision, 1, "bob unchanged");
	cr_assert_str_eq(find(u, "2002")->name, "bob");
	cr_assert_str_eq(find(u, "1001")->name, "alice");
	cr_assert_eq(users_count(u), 2);
	users_destroy(u);
}

Test(users, malformed_users_are_refused)
{
	struct users *u = users_create();
	struct user *bad;

	cr_assert_eq(users_put(u, NULL), -EINVAL);
	cr_assert_eq(users_put(u, mk("", "1001", 1)), TDM_EMALFORMED);
	bad = mk("x", "", 1);
	memset(bad->name, 'n', sizeof(bad->name));   /* no NUL */
	cr_assert_eq(users_put(u, bad), TDM_EMALFORMED);
	bad = mk("x", "", 1);
	memset(bad->number, '5', sizeof(bad->number));
	cr_assert_eq(users_put(u, bad), TDM_EMALFORMED);
	bad = mk("x", "", 1);
	memset(bad->domain, 'd', sizeof(bad->domain));
	cr_assert_eq(users_put(u, bad), TDM_EMALFORMED);
	bad = mk("x", "", 1);
	memset(bad->display, 'd', sizeof(bad->display));
	cr_assert_eq(users_put(u, bad), TDM_EMALFORMED);
	cr_assert_eq(users_count(u), 0);
	cr_assert_null(find(u, "1001"));
	users_destroy(u);
}

Test(users, longest_name_and_number_fit)
{
	struct users *u = users_create();
	char name[USER_NAME_MAX], number[USER_NUMBER_MAX];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(number, '7', sizeof(number) - 1);
	number[sizeof(number) - 1] = '\0';
	cr_assert_eq(users_put(u, mk(name, number, 1)), 0);
	cr_assert_not_null(find(u, name));
	cr_assert_eq(find(u, number), find(u, name));
	users_destroy(u);
}

Test(users, delete_removes_from_both_indexes)
{
	struct users *u = users_create();

	cr_assert_eq(users_put(u, mk("alice", "1001", 1)), 0);
	cr_assert_eq(users_put(u, mk("bob", "", 1)), 0);
	cr_assert_eq(users_del(u, TSTR_LIT("alice")), 0);
	cr_assert_null(find(u, "alice"));
	cr_assert_null(find(u, "1001"));
	cr_assert_eq(users_count(u), 1);
	cr_assert_eq(users_del(u, TSTR_LIT("alice")), TDM_ENOTFOUND);
	cr_assert_eq(users_del(u, TSTR_LIT("1001")), TDM_ENOTFOUND, "delete is by name only");
	cr_assert_eq(users_del(u, TSTR_NULL), TDM_ENOTFOUND);
	cr_assert_eq(users_del(u, TSTR_LIT("bob")), 0);
	cr_assert_eq(users_count(u), 0);
	cr_assert_null(find(u, "bob"), "an empty table finds nothing (without a lookup)");
	/* The number can be given to someone else now. */
	cr_assert_eq(users_put(u, mk("carol", "1001", 1)), 0);
	cr_assert_str_eq(find(u, "1001")->name, "carol");
	users_destroy(u);
}

struct walk {
	unsigned seen;
	unsigned stop_at;
	uint64_t rev_sum;
};

static int walk_cb(const struct user *usr, void *arg)
{
	struct walk *w = arg;

	w->seen++;
	w->rev_sum += usr->revision;
	return w->stop_at && w->seen == w->stop_at ? -3 : 0;
}

Test(users, count_and_foreach_see_every_user_once)
{
	struct users *u = users_create();
	struct walk all = { 0 }, some = { .stop_at = 10 };

	for (unsigned i = 1; i <= 500; i++) {
		char name[32], number[32];

		snprintf(name, sizeof(name), "user%u", i);
		snprintf(number, sizeof(number), i % 2 ? "%u" : "", 10000 + i);
		cr_assert_eq(users_put(u, mk(name, number, i)), 0);
	}
	cr_assert_eq(users_count(u), 500);
	cr_assert_eq(users_foreach(u, walk_cb, &all), 0);
	cr_assert_eq(all.seen, 500);
	cr_assert_eq(all.rev_sum, 500u * 501u / 2u);
	cr_assert_eq(users_foreach(u, walk_cb, &some), -3);
	cr_assert_eq(some.seen, 10);
	cr_assert_str_eq(find(u, "10001")->name, "user1");
	cr_assert_null(find(u, "10002"), "even users have no number");
	users_destroy(u);
}

Test(users, destroy_works_with_retired_users_and_from_any_thread_state)
{
	struct users *a = users_create(), *b = users_create(), *c = users_create();

	for (unsigned i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "u%u", i);
		cr_assert_eq(users_put(a, mk(name, "", 1)), 0);
		cr_assert_eq(users_put(a, mk(name, "", 2)), 0);   /* retires rev 1 */
		cr_assert_eq(users_put(b, mk(name, "", 1)), 0);
		cr_assert_eq(users_put(c, mk(name, "", 1)), 0);
	}
	users_destroy(a);
	cr_assert(rcu_read_ongoing(), "an online caller is online again");
	rcu_thread_offline();
	users_destroy(b);
	cr_assert_not(rcu_read_ongoing());
	rcu_thread_online();
	rcu_unregister_thread();
	users_destroy(c);
	rcu_register_thread();
	users_destroy(NULL);
}

/* Readers look users up by name and by number while the control thread
 * rewrites them (new revisions, numbers moving between two values). Every
 * user a reader finds is whole and is the one the key names. */
#define UR_USERS 32
#define UR_ROUNDS 301

struct ur {
	struct users *u;
	_Atomic int stop;
	_Atomic uint64_t bad;
	_Atomic uint64_t found;
};

static void *ur_reader(void *arg)
{
	struct ur *ur = arg;

	rcu_register_thread();
	while (!atomic_load(&ur->stop)) {
		for (unsigned i = 0; i < UR_USERS; i++) {
			char name[32], n1[32], n2[32];
			const struct user *x;
			char expect[USER_DISPLAY_MAX];

			snprintf(name, sizeof(name), "user%u", i);
			snprintf(n1, sizeof(n1), "%u", 1000 + i);
			snprintf(n2, sizeof(n2), "%u", 5000 + i);
			x = find(ur->u, name);
			if (x) {
				atomic_fetch_add(&ur->found, 1);
				snprintf(expect, sizeof(expect), "%s rev %llu", name,
					 (unsigned long long)x->revision);
				if (strcmp(x->name, name) || strcmp(x->display, expect))
					atomic_fetch_add(&ur->bad, 1);
			}
			x = find(ur->u, n1);
			if (x && strcmp(x->name, name))
				atomic_fetch_add(&ur->bad, 1);
			x = find(ur->u, n2);
			if (x && strcmp(x->name, name))
				atomic_fetch_add(&ur->bad, 1);
			tdm_rcu_quiescent_state();
		}
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

Test(users, readers_see_whole_users_while_the_control_thread_writes, .timeout = 120)
{
	static struct ur ur;
	pthread_t th[2];

	ur.u = users_create();
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, ur_reader, &ur), 0);
	for (unsigned r = 1; r <= UR_ROUNDS; r++) {
		for (unsigned i = 0; i < UR_USERS; i++) {
			char name[32], number[32];

			snprintf(name, sizeof(name), "user%u", i);
			snprintf(number, sizeof(number), "%u", (r % 2 ? 1000 : 5000) + i);
			if (r % 50 == 0)
				cr_assert_eq(users_del(ur.u, tstr_cstr(name)), 0);
			else
				cr_assert_eq(users_put(ur.u, mk(name, number, r)), 0);
		}
		tdm_rcu_quiescent_state();
	}
	atomic_store(&ur.stop, 1);
	tdm_rcu_thread_offline();
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rcu_thread_online();
	cr_assert_eq(atomic_load(&ur.bad), 0);
	cr_assert_gt(atomic_load(&ur.found), 0);
	cr_assert_eq(users_count(ur.u), UR_USERS);
	users_destroy(ur.u);
}

/*
 * Whole tables built by writers of their own, as the job thread builds a
 * replicated snapshot while the control thread updates the live table:
 * every users_put() that grows the indexes resizes them. With liburcu's
 * automatic resize also enabled this deadlocked (its worker, online,
 * waited for the resize mutex an explicit resize held across a grace
 * period); the suite's timeout (meson's) fails the test if it comes back.
 */
struct builder {
	unsigned id;
	unsigned n;
	struct users *u;
};

static void *build_table(void *arg)
{
	struct builder *b = arg;

	rcu_register_thread();
	for (unsigned i = 0; i < b->n; i++) {
		struct user *usr = users_alloc();

		if (!usr)
			break;
		snprintf(usr->name, sizeof(usr->name), "t%uu%u", b->id, i);
		snprintf(usr->number, sizeof(usr->number), "%u", 1000000 + i);
		usr->enabled = true;
		if (users_put(b->u, usr) != 0)
			break;
		tdm_rcu_quiescent_state();
	}
	tdm_rcu_unregister_thread();
	return NULL;
}

Test(users, tables_built_in_one_go_by_several_writers_never_stall_on_a_resize)
{
	struct builder b[4];
	pthread_t th[4];

	for (unsigned i = 0; i < 4; i++) {
		b[i] = (struct builder){ .id = i, .n = 100000, .u = users_create() };
		cr_assert_not_null(b[i].u);
	}
	tdm_rcu_thread_offline();
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, build_table, &b[i]), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	tdm_rcu_thread_online();
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(users_count(b[i].u), 100000);
		cr_assert_not_null(find(b[i].u, "1099999"));
		users_destroy(b[i].u);
	}
}

/* The index compares (tstr_eq_field for names and numbers, mem_eq for
 * AORs and hosts) read words instead of calling memchr/memcmp: they must
 * give what the plain comparisons give, for every length, for a
 * difference at every position, and for keys with a NUL byte. */
Test(users, word_compares_equal_the_plain_comparisons)
{
	char field[USER_NAME_MAX], key[USER_NAME_MAX + 8];

	for (size_t flen = 0; flen < sizeof(field); flen++) {
		memset(field, 0, sizeof(field));
		for (size_t i = 0; i < flen; i++)
			field[i] = (char)('a' + (i * 7 + flen) % 26);
		for (size_t klen = 0; klen < sizeof(key); klen++) {
			for (size_t flip = 0; flip <= klen; flip++) {
				for (int nul = 0; nul < 2; nul++) {
					memset(key, 'x', sizeof(key));
					memcpy(key, field, klen < flen ? klen : flen);
					if (flip < klen)
						key[flip] = nul ? '\0' : (char)(key[flip] ^ 1);
					else if (nul)
						continue;
					tstr k = tstr_make(key, klen);
					size_t fl = strnlen(field, sizeof(field));
					bool want = klen == fl && memcmp(key, field, klen) == 0;

					cr_assert_eq(tstr_eq_field(k, field, sizeof(field)), want,
						     "field %zu key %zu flip %zu nul %d", flen, klen,
						     flip, nul);
					if (klen <= flen)
						cr_assert_eq(mem_eq(key, field, klen),
							     memcmp(key, field, klen) == 0,
							     "mem_eq %zu flip %zu", klen, flip);
				}
			}
		}
	}
	/* Longer than the word loop. */
	char a[100], b[100];
	memset(a, 'q', sizeof(a));
	memcpy(b, a, sizeof(b));
	cr_assert(mem_eq(a, b, sizeof(a)));
	b[99] = 'r';
	cr_assert(!mem_eq(a, b, sizeof(a)));
}

/* The indexes' hash (a keyed multiply-mix, not SipHash: only the operator
 * fills this table) spreads what user lists look like, sequential numbers
 * and numbered names of every length, evenly over the buckets; two tables
 * hash differently; and users of every name length are found. */
Test(users, hash_spreads_sequential_keys_and_every_length_is_found)
{
	enum { N = 1 << 16 };
	struct users *u = users_create(), *v = users_create();
	static uint16_t load[N];
	unsigned max = 0, differ = 0;
	char key[64];

	cr_assert_not_null(u);
	cr_assert_not_null(v);
	for (int kind = 0; kind < 3; kind++) {
		memset(load, 0, sizeof(load));
		max = 0;
		for (unsigned i = 0; i < N; i++) {
			int n = kind == 0 ? snprintf(key, sizeof(key), "%u", 100000 + i)
			      : kind == 1 ? snprintf(key, sizeof(key), "user%u", i)
					  : snprintf(key, sizeof(key), "a-rather-long-user-name-%u@x", i);
			uint64_t h = users_key_hash(u, tstr_make(key, (size_t)n));
			unsigned b = (unsigned)(h & (N - 1));

			differ += h != users_key_hash(v, tstr_make(key, (size_t)n));
			if (++load[b] > max)
				max = load[b];
		}
		/* Random placement gives about 8; a poor mix of sequential keys
		 * gives hundreds. */
		cr_assert_leq(max, 14, "kind %d: %u keys in one bucket", kind, max);
	}
	cr_assert_geq(differ, 3 * N - 3, "random keys differ between tables");

	for (unsigned len = 1; len < USER_NAME_MAX; len++) {
		struct user *usr = users_alloc();

		memset(usr->name, 'n', len);
		usr->name[len - 1] = (char)('A' + len % 26);
		cr_assert_eq(users_put(u, usr), 0);
	}
	for (unsigned len = 1; len < USER_NAME_MAX; len++) {
		const struct user *f;

		memset(key, 'n', len);
		key[len - 1] = (char)('A' + len % 26);
		f = users_find(u, tstr_make(key, len));
		cr_assert_not_null(f, "length %u", len);
		cr_assert_eq(strlen(f->name), len);
		key[len - 1] = '#';
		cr_assert_null(users_find(u, tstr_make(key, len)), "length %u", len);
	}
	users_destroy(u);
	users_destroy(v);
}

/* users_alloc() gives a zeroed, cache-line aligned user, so that a lookup
 * by name reads the index node and a short name from one line. */
Test(users, alloc_is_zeroed_and_line_aligned)
{
	for (int i = 0; i < 16; i++) {
		struct user *u = users_alloc();

		cr_assert_not_null(u);
		cr_assert_eq((uintptr_t)u % 64, 0);
		cr_assert_eq((uintptr_t)u->name / 64, ((uintptr_t)u->name + 47) / 64);
		cr_assert_eq(u->name[0], '\0');
		cr_assert_eq(u->revision, 0);
		cr_assert_eq(u->max_contacts, 0);
		free(u);
	}
}
