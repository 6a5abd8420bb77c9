/* SPDX-License-Identifier: MIT */
/*
 * The users table (see users.h for the contract).
 *
 * Two cds_lfht indexes over the same immutable records: by name (every
 * user) and by number (users with a non-empty number). Keys are the
 * NUL-terminated strings inside the record, hashed under a random
 * per-table key (key_hash()).
 *
 * Writers (users_put, users_del) are serialised by a mutex: the contract is
 * that only the control thread writes, but the mutex keeps the two indexes
 * consistent should that ever change, and costs readers nothing. Readers
 * never lock.
 *
 * A replacement publishes the new record in the name index with one atomic
 * cds_lfht_replace; the number index follows (replace when the number is
 * unchanged, else delete the old number and add the new one). A reader can
 * therefore meet the old record through one index and the new one through
 * the other for a moment; both stay valid until its next quiescent state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "err.h"
#include "rec_pool.h"   /* tdm_rcu_after_grace_period() */
#include "users.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define tsan_release(p) __tsan_release(p)
#define tsan_acquire(p) __tsan_acquire(p)
#else
#define tsan_release(p) ((void)(p))
#define tsan_acquire(p) ((void)(p))
#endif

#define USERS_BUCKETS 64u

struct users {
	struct cds_lfht *by_name;
	struct cds_lfht *by_number;
	pthread_mutex_t write_lock;
	_Atomic uint64_t count;
	unsigned long target;            /* bucket count last set; writers only */
	uint64_t k0, k1;                 /* the random key of key_hash() */
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

/* The 128-bit product of a and b, folded to 64 bits. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * The hash of a name or number: a keyed multiply-mix (the construction of
 * wyhash) under the table's random key, about a tenth of SipHash's cost
 * for these short keys. Not SipHash, unlike the bindings table, because
 * nothing from outside chooses what goes into this table: only the
 * operator adds users (commands, imports, the peer's replication), and a
 * lookup of a key from a request cannot lengthen a chain. The key still
 * keeps the layout unpredictable. Up to 16 bytes, (a, b, length) holds
 * every byte of the key, so only the mixing can make two keys collide.
 */
static uint64_t key_hash(const struct users *u, tstr k)
{
	const char *p = k.s;
	size_t n = k.len;
	uint64_t a, b, seed = u->k0;

	if (n <= 16) {
		if (n >= 8) {
			a = tstr_load8(p);
			b = tstr_load8(p + n - 8);
		} else if (n >= 4) {
			a = tstr_load4(p);
			b = tstr_load4(p + n - 4);
		} else if (n > 0) {
			a = (uint64_t)(uint8_t)p[0] << 16 | (uint64_t)(uint8_t)p[n >> 1] << 8 |
			    (uint8_t)p[n - 1];
			b = 0;
		} else {
			a = b = 0;
		}
	} else {
		size_t i = n;

		do {
			seed = mix(tstr_load8(p) ^ u->k1, tstr_load8(p + 8) ^ seed);
			p += 16;
			i -= 16;
		} while (i > 16);
		a = tstr_load8(p + i - 16);
		b = tstr_load8(p + i - 8);
	}
	return mix(u->k1 ^ n, mix(a ^ u->k1, b ^ seed));
}

static int match_name(struct cds_lfht_node *node, const void *key)
{
	const struct user *usr = caa_container_of(node, struct user, by_name);

	tsan_acquire((void *)(uintptr_t)usr);
	return tstr_eq_field(*(const tstr *)key, usr->name, USER_NAME_MAX);
}

static int match_number(struct cds_lfht_node *node, const void *key)
{
	const struct user *usr = caa_container_of(node, struct user, by_number);

	tsan_acquire((void *)(uintptr_t)usr);
	return tstr_eq_field(*(const tstr *)key, usr->number, USER_NUMBER_MAX);
}

struct users *users_create(void)
{
	struct users *u = calloc(1, sizeof(*u));
	uint64_t key[2];

	if (!u)
		return NULL;
	if (fill_random((uint8_t *)key, sizeof(key)) < 0)
		goto fail;
	u->k0 = key[0];
	u->k1 = key[1];
	if (pthread_mutex_init(&u->write_lock, NULL) != 0)
		goto fail;
	atomic_init(&u->count, 0);
	u->target = USERS_BUCKETS;
	/* Sized explicitly by users_resize(); no CDS_LFHT_AUTO_RESIZE (see
	 * resize_if_needed() in bindings.c: it stalls, and deadlocks mixed
	 * with explicit resizes). */
	u->by_name = cds_lfht_new(USERS_BUCKETS, USERS_BUCKETS, 0, 0, NULL);
	u->by_number = cds_lfht_new(USERS_BUCKETS, USERS_BUCKETS, 0, 0, NULL);
	if (!u->by_name || !u->by_number) {
		if (u->by_name)
			cds_lfht_destroy(u->by_name, NULL);
		if (u->by_number)
			cds_lfht_destroy(u->by_number, NULL);
		pthread_mutex_destroy(&u->write_lock);
		goto fail;
	}
	return u;
fail:
	free(u);
	return NULL;
}

static void user_free_rcu(struct rcu_head *head)
{
	struct user *usr = caa_container_of(head, struct user, rcu);

	tdm_rcu_after_grace_period();
	tsan_acquire(usr);
	free(usr);
}

/* Unlink and retire every user. Registered, online thread. */
static void users_empty(struct users *u)
{
	struct cds_lfht_iter it;
	struct user *usr;

	cds_lfht_for_each_entry(u->by_name, &it, usr, by_name) {
		if (cds_lfht_del(u->by_name, &usr->by_name) != 0)
			continue;
		if (usr->number[0])
			cds_lfht_del(u->by_number, &usr->by_number);
		call_rcu(&usr->rcu, user_free_rcu);
	}
}

static void *users_empty_thread(void *arg)
{
	rcu_register_thread();
	users_empty(arg);
	tdm_rcu_unregister_thread();
	return NULL;
}

/* Same calling rules and reasoning as bind_table_destroy(): the walk needs
 * the read side, rcu_barrier() and cds_lfht_destroy() need its absence. */
void users_destroy(struct users *u)
{
	bool online;

	if (!u)
		return;
	online = rcu_read_ongoing();
	if (online) {
		users_empty(u);
		tdm_rcu_thread_offline();
	} else {
		pthread_t th;

		if (pthread_create(&th, NULL, users_empty_thread, u) != 0)
			return;   /* cannot walk safely: leave it to the exit */
		pthread_join(th, NULL);
	}
	rcu_barrier();
	cds_lfht_destroy(u->by_name, NULL);
	cds_lfht_destroy(u->by_number, NULL);
	if (online)
		rcu_thread_online();
	pthread_mutex_destroy(&u->write_lock);
	free(u);
}

_Static_assert(offsetof(struct user, name) + 48 <= 64 &&
	       offsetof(struct user, by_number) / 64 ==
	       (offsetof(struct user, number) + USER_NUMBER_MAX - 1) / 64,
	       "each index node shares a cache line with its key");

struct user *users_alloc(void)
{
	/* Cache-line aligned, for the layout users.h describes. */
	size_t size = (sizeof(struct user) + 63) & ~(size_t)63;
	struct user *usr = aligned_alloc(64, size);

	if (usr)
		memset(usr, 0, size);
	return usr;
}

static struct user *find_name(struct users *u, tstr name, uint64_t h)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(u->by_name, h, match_name, &name, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct user, by_name) : NULL;
}

static struct user *find_number(struct users *u, tstr number, uint64_t h)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(u->by_number, h, match_number, &number, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct user, by_number) : NULL;
}

const struct user *users_find(struct users *u, tstr key)
{
	struct user *usr = NULL;
	uint64_t h;

	/* No users (an open registrar): no hashing, no lookup. */
	if (key.len == 0 || !key.s || atomic_load_explicit(&u->count, memory_order_relaxed) == 0)
		return NULL;
	h = key_hash(u, key);
	if (key.len < USER_NAME_MAX)
		usr = find_name(u, key, h);
	if (!usr && key.len < USER_NUMBER_MAX)
		usr = find_number(u, key, h);
	if (usr)
		tsan_acquire(usr);
	return usr;
}

/* Every string field must be NUL-terminated inside its array, the name
 * non-empty. */
static bool user_valid(const struct user *usr)
{
	return usr->name[0] &&
	       memchr(usr->name, '\0', sizeof(usr->name)) &&
	       memchr(usr->number, '\0', sizeof(usr->number)) &&
	       memchr(usr->domain, '\0', sizeof(usr->domain)) &&
	       memchr(usr->display, '\0', sizeof(usr->display));
}

/* Swap old for usr in one index; old must be in it. */
static int index_replace(struct cds_lfht *ht, struct cds_lfht_node *old_node,
			 struct cds_lfht_node *new_node, uint64_t h,
			 cds_lfht_match_fct match, tstr key)
{
	struct cds_lfht_iter it = {
		.node = old_node,
		.next = rcu_dereference(old_node->next),
	};

	return cds_lfht_replace(ht, &it, h, match, &key, new_node);
}

static int put_locked(struct users *u, struct user *usr)
{
	tstr name = tstr_cstr(usr->name);
	tstr num = tstr_cstr(usr->number);
	uint64_t hname = key_hash(u, name);
	uint64_t hnum = num.len ? key_hash(u, num) : 0;
	struct user *old = find_name(u, name, hname);

	if (num.len) {
		struct user *other = find_number(u, num, hnum);

		if (other && other != old)
			return TDM_EEXISTS;
	}
	tsan_release(usr);
	if (!old) {
		if (cds_lfht_add_unique(u->by_name, hname, match_name, &name,
					&usr->by_name) != &usr->by_name)
			return TDM_EEXISTS;
		if (num.len && cds_lfht_add_unique(u->by_number, hnum, match_number,
						   &num, &usr->by_number) != &usr->by_number) {
			/* Not reachable with writers serialised (checked above);
			 * undo so the indexes stay consistent. */
			cds_lfht_del(u->by_name, &usr->by_name);
			return -EAGAIN;
		}
		atomic_fetch_add_explicit(&u->count, 1, memory_order_relaxed);
		return 0;
	}
	if (index_replace(u->by_name, &old->by_name, &usr->by_name, hname,
			  match_name, name) != 0)
		return TDM_EEXISTS;
	if (old->number[0] && num.len && strcmp(old->number, usr->number) == 0) {
		index_replace(u->by_number, &old->by_number, &usr->by_number, hnum,
			      match_number, num);
	} else {
		if (old->number[0])
			cds_lfht_del(u->by_number, &old->by_number);
		if (num.len)
			cds_lfht_add_unique(u->by_number, hnum, match_number, &num,
					    &usr->by_number);
	}
	call_rcu(&old->rcu, user_free_rcu);
	return 0;
}

/*
 * Keep both indexes sized to the number of users (the only resizing they
 * get: see resize_if_needed() in bindings.c). It must run outside a
 * read-side critical section, so the writer goes offline around it.
 * Returns with the caller online again.
 */
static void users_resize(struct users *u)
{
	uint64_t n = atomic_load_explicit(&u->count, memory_order_relaxed);
	unsigned long want = USERS_BUCKETS;

	while (want < n && want < (1ul << 30))
		want <<= 1;
	pthread_mutex_lock(&u->write_lock);
	if (want <= u->target && want * 4 > u->target) {
		pthread_mutex_unlock(&u->write_lock);
		return;
	}
	u->target = want;
	pthread_mutex_unlock(&u->write_lock);
	tdm_rcu_thread_offline();
	cds_lfht_resize(u->by_name, want);
	cds_lfht_resize(u->by_number, want);
	rcu_thread_online();
}

int users_put(struct users *u, struct user *usr)
{
	int rc;

	if (!usr)
		return -EINVAL;
	if (!user_valid(usr)) {
		free(usr);
		return TDM_EMALFORMED;
	}
	pthread_mutex_lock(&u->write_lock);
	rc = put_locked(u, usr);
	pthread_mutex_unlock(&u->write_lock);
	if (rc == -EAGAIN) {
		/* usr was briefly visible by name: a reader may hold it. */
		call_rcu(&usr->rcu, user_free_rcu);
		return TDM_EEXISTS;
	}
	if (rc < 0)
		free(usr);
	else
		users_resize(u);
	return rc;
}

int users_del(struct users *u, tstr name)
{
	struct user *usr;
	int rc = TDM_ENOTFOUND;

	if (name.len == 0 || !name.s || name.len >= USER_NAME_MAX)
		return TDM_ENOTFOUND;
	pthread_mutex_lock(&u->write_lock);
	usr = find_name(u, name, key_hash(u, name));
	if (usr && cds_lfht_del(u->by_name, &usr->by_name) == 0) {
		if (usr->number[0])
			cds_lfht_del(u->by_number, &usr->by_number);
		atomic_fetch_sub_explicit(&u->count, 1, memory_order_relaxed);
		call_rcu(&usr->rcu, user_free_rcu);
		rc = 0;
	}
	pthread_mutex_unlock(&u->write_lock);
	if (rc == 0)
		users_resize(u);
	return rc;
}

uint64_t users_key_hash(const struct users *u, tstr key)
{
	return key_hash(u, key);
}

uint64_t users_count(struct users *u)
{
	return atomic_load_explicit(&u->count, memory_order_relaxed);
}

int users_foreach(struct users *u, int (*cb)(const struct user *usr, void *arg),
		  void *arg)
{
	struct cds_lfht_iter it;
	struct user *usr;

	cds_lfht_for_each_entry(u->by_name, &it, usr, by_name) {
		int rc;

		tsan_acquire(usr);
		rc = cb(usr, arg);
		if (rc)
			return rc;
	}
	return 0;
}
