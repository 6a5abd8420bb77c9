/* SPDX-License-Identifier: MIT */
/*
 * The node: start-up, the control loop's duties, the stats commands, and
 * an orderly shutdown. Runs on the control thread (docs/architecture.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "build_config.h"
#include "config.h"
#include "clock.h"
#include "cli.h"
#include "digest.h"
#include "err.h"
#include "io.h"
#include "log.h"
#include "loop.h"
#include "netstack.h"
#include "node.h"
#include "objects.h"
#include "pair.h"
#include "rcu.h"
#include "stats_sock.h"
#include "users_file.h"
#include "wbuf.h"

#define SWEEP_INTERVAL_MS 1000
/* A walk of the bindings table goes in steps of this many records, one per
 * turn of the control loop, this far apart, so that the loop's other
 * duties (the pair's heartbeats and failover timing, replication, the
 * stats socket) and RCU grace periods never wait for a whole walk: a step
 * is ~1-1.5 ms at a million AORs (a record costs 0.2-0.7 us there, in
 * cache misses), the whole walk 0.4-0.7 s of CPU over about 1 s
 * (docs/benchmarks.md, "Expiry walks in steps"). */
#define SWEEP_STEP_RECORDS 2048
#define SWEEP_STEP_GAP_MS 1
/* Between sweeps, the bindings table grows as soon as the AORs outgrow it. */
#define RESERVE_INTERVAL_MS 100
/* `show registrations` without an AOR lists at most this many AORs; the
 * answer says how many there are in all. */
#define SHOW_REGISTRATIONS_MAX 10000
#define NONCE_KEY_FILE "nonce.key"

struct node {
	struct config cfg;
	struct loop *loop;
	struct cli *cli;
	struct stats_sock *stats;
	struct io *io;
	struct dp_shared shared;
	struct rec_pool **pools;      /* one per worker, then the control thread's */
	unsigned npools;
	struct dp_worker *ctl;        /* the control thread's context and counters */
	struct loop_timer sweep_timer;
	struct loop_timer reserve_timer;
	struct pair *pair;
	struct objects *objects;
	const struct dp_counters **ctr_blocks;
	/* What the registrar's settings are republished from. */
	struct pair_role role;
	bool role_known;
	char master_sip[DP_HOST_MAX];
	struct objects_licenses lic;
	int sigfd;
	bool rcu_registered;
	int64_t started_s;
	uint64_t started_ms;
	uint64_t sweeps;             /* walks of the bindings table */
	uint64_t sweeps_skipped;     /* ticks when no binding could have expired */
	uint64_t sweeps_deferred;    /* ticks when one could, but the last walk
	                              * was too recent (bind_sweep_gap_ms()) */
	uint64_t next_walk_ms;       /* no walk before this */
	uint64_t last_sweep_us;      /* CPU time of the last walk, all its steps */
	uint64_t last_sweep_steps;
	struct bind_sweep walk;      /* the walk in progress, if walking */
	bool walking;
	uint64_t walk_ns;            /* its steps so far: their CPU time */
	uint64_t walk_steps;         /* its steps so far, the current one included */
	int exit_code;
};

/* ---------------------------------------------------------------- */
/* Start-up helpers */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The nonce key lives in data_dir so that nonces a phone holds stay valid
 * across a restart (otherwise every phone's next REGISTER would fail once
 * without stale=true, and some phones then ask their user for a password).
 */
static int load_nonce_key(const char *dir, struct nonce_key *key)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, NONCE_KEY_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, key->key, sizeof(key->key));
		close(fd);
		if (n != (ssize_t)sizeof(key->key)) {
			log_err("node", "%s: not a %zu-byte key; remove it to have a new one "
				"made", path, sizeof(key->key));
			return TDM_ECONFIG;
		}
		return 0;
	}
	if (errno != ENOENT) {
		log_err("node", "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (getrandom(key->key, sizeof(key->key), 0) != (ssize_t)sizeof(key->key)) {
		log_err("node", "getrandom: %s", strerror(errno));
		return -EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, key->key, sizeof(key->key)) != (ssize_t)sizeof(key->key) ||
	    fsync(fd) < 0) {
		int err = -errno;
		log_err("node", "%s: cannot write: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	close(fd);
	log_info("node", "created a new nonce key in %s", path);
	return 0;
}

static void add_addr(struct dp_settings *s, const union tdm_addr *a)
{
	if (s->naddrs < DP_MAX_ALIASES)
		s->addrs[s->naddrs++] = *a;
}

static void add_alias(struct dp_settings *s, const char *name)
{
	if (!*name || s->naliases >= DP_MAX_ALIASES)
		return;
	for (unsigned i = 0; i < s->naliases; i++)
		if (strcasecmp(s->aliases[i], name) == 0)
			return;
	snprintf(s->aliases[s->naliases++], DP_HOST_MAX, "%s", name);
}

static struct dp_settings *build_settings(const struct config *cfg)
{
	struct dp_settings *s = calloc(1, sizeof(*s));
	char host[256];

	if (!s)
		return NULL;
	for (unsigned i = 0; cfg->sip.domain[i] && i < sizeof(s->domain) - 1; i++)
		s->domain[i] = ascii_lower(cfg->sip.domain[i]);
	/* The realm is a setting both nodes of a pair share: the domain. */
	snprintf(s->realm, sizeof(s->realm), "%s", s->domain[0] ? s->domain : "tandem");
	s->auth = cfg->sip.auth == AUTH_DIGEST ? DP_AUTH_DIGEST : DP_AUTH_NONE;
	s->default_expires = cfg->sip.default_expires;
	s->min_expires = cfg->sip.min_expires;
	s->max_expires = cfg->sip.max_expires;
	s->max_contacts = cfg->sip.max_contacts;
	s->nonce_lifetime = cfg->sip.nonce_lifetime;
	_Static_assert((int)AUTH_ALG_MD5 == (int)DIGEST_MD5 &&
		       (int)AUTH_ALG_SHA256 == (int)DIGEST_SHA256, "one numbering");
	for (unsigned i = 0; i < cfg->sip.nauth_algorithms; i++)
		s->algs[i] = (enum digest_alg)cfg->sip.auth_algorithms[i];
	s->nalgs = cfg->sip.nauth_algorithms;
	snprintf(s->server, sizeof(s->server), "tandem/%s", TANDEM_VERSION);

	/* Our own names and addresses mean our domain in a URI. */
	add_alias(s, "localhost");
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		add_alias(s, host);
	}
	for (unsigned i = 0; i < cfg->sip.nlisten; i++) {
		const union tdm_addr *l = &cfg->sip.listen[i];
		struct ifaddrs *ifa, *p;

		if (!addr_is_any(l)) {
			add_addr(s, l);
			continue;
		}
		if (getifaddrs(&ifa) < 0)
			continue;
		for (p = ifa; p; p = p->ifa_next) {
			if (!p->ifa_addr || p->ifa_addr->sa_family != l->sa.sa_family)
				continue;
			union tdm_addr a;
			memset(&a, 0, sizeof(a));
			memcpy(&a, p->ifa_addr, p->ifa_addr->sa_family == AF_INET6
							? sizeof(a.in6)
							: sizeof(a.in4));
			add_addr(s, &a);
		}
		freeifaddrs(ifa);
	}
	return s;
}

struct users_load {
	struct users *users;
	const char *realm;
	unsigned long rows;
};

static int add_user_row(const struct users_row *row, void *arg, char *err, size_t errcap)
{
	struct users_load *ul = arg;
	struct user *u = users_alloc();
	tstr realm = tstr_cstr(ul->realm);
	int rc;

	if (!u)
		return -ENOMEM;
	snprintf(u->name, sizeof(u->name), "%s", row->name);
	snprintf(u->number, sizeof(u->number), "%s", row->number);
	snprintf(u->domain, sizeof(u->domain), "%s", row->domain);
	snprintf(u->display, sizeof(u->display), "%s", row->display);
	u->max_contacts = row->max_contacts;
	u->enabled = true;
	u->has_password = row->password[0] != '\0';
	if (u->has_password) {
		/* Only the HA1 values are kept, never the password. */
		digest_ha1(DIGEST_MD5, tstr_cstr(row->name), realm, tstr_cstr(row->password),
			   u->ha1_md5);
		digest_ha1(DIGEST_SHA256, tstr_cstr(row->name), realm,
			   tstr_cstr(row->password), u->ha1_sha256);
	}
	rc = users_put(ul->users, u);
	if (rc < 0) {
		snprintf(err, errcap, "cannot add user '%s': %s", row->name, tdm_strerror(rc));
		return rc;
	}
	ul->rows++;
	return 0;
}

/* Load the users file into a new table. */
static int load_users(const struct config *cfg, const char *realm, struct users **out)
{
	struct users_load ul = { .realm = realm };
	char err[USERS_FILE_ERR_MAX];
	int rc;

	*out = NULL;
	ul.users = users_create();
	if (!ul.users)
		return -ENOMEM;
	if (cfg->sip.users[0]) {
		rc = users_file_read(cfg->sip.users, add_user_row, &ul, err, sizeof(err));
		if (rc < 0) {
			log_err("config", "[sip] users: %s", err);
			users_destroy(ul.users);
			return rc;
		}
		log_info("node", "loaded %lu users from %s", ul.rows, cfg->sip.users);
	}
	*out = ul.users;
	return 0;
}

int node_check_users(const struct config *cfg)
{
	struct dp_settings *s = build_settings(cfg);
	struct users *users = NULL;
	int rc;

	if (!s)
		return -ENOMEM;
	rcu_register_thread();
	rc = load_users(cfg, s->realm, &users);
	users_destroy(users);
	tdm_rcu_unregister_thread();
	free(s);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Counters */

static void sum_counters(const struct node *n, uint64_t out[DP_CTR_COUNT])
{
	const struct dp_counters *blocks[1 + 256];
	unsigned nb = 0;

	blocks[nb++] = &n->ctl->ctr;
	for (unsigned i = 0; n->io && i < io_nworkers(n->io) && nb < 257; i++)
		blocks[nb++] = &io_worker(n->io, i)->ctr;
	dp_counters_sum(blocks, nb, out);
}

/* The DPDK back end's frame counters, summed over its workers. */
static void sum_netstack(const struct node *n, uint64_t out[NS_CTR_COUNT])
{
	const struct ns_counters *blocks[256];
	unsigned nb = 0;

	for (unsigned i = 0; i < io_nworkers(n->io) && nb < 256; i++)
		if (io_netstack(n->io, i))
			blocks[nb++] = io_netstack(n->io, i);
	ns_counters_sum(blocks, nb, out);
}

struct gauges {
	uint64_t aors;
	uint64_t bindings;
	uint64_t users;
	uint64_t pool_bytes;
	uint64_t pool_reserve_bytes;
	uint64_t pool_owner_mallocs;
	uint64_t pool_retire_unbatched;
};

static void read_gauges(const struct node *n, const uint64_t c[DP_CTR_COUNT], struct gauges *g)
{
	struct users *users = rcu_dereference(n->shared.users);
	struct rec_pool_stats ps;

	/* Every change to the table is counted by whoever made it, so the
	 * sizes follow from the counters without walking the table. */
	g->aors = c[DP_CTR_aors_added] - c[DP_CTR_aors_removed];
	g->bindings = c[DP_CTR_bindings_added] - c[DP_CTR_bindings_removed] -
		      c[DP_CTR_bindings_expired];
	g->users = users ? users_count(users) : 0;
	g->pool_bytes = 0;
	g->pool_reserve_bytes = 0;
	g->pool_owner_mallocs = 0;
	g->pool_retire_unbatched = 0;
	for (unsigned i = 0; i < n->npools; i++) {
		rec_pool_get_stats(n->pools[i], &ps);
		g->pool_bytes += ps.slab_bytes;
		g->pool_reserve_bytes += ps.reserve_slabs * REC_POOL_RESERVE_SLAB;
		g->pool_owner_mallocs += ps.owner_mallocs;
		g->pool_retire_unbatched += ps.retire_unbatched;
	}
}

/* ---------------------------------------------------------------- */
/* Control loop duties */

/* The walk's last step is done: count, and space the next walk by this
 * one's cost. */
static void walk_end(struct node *n, uint64_t t0)
{
	uint64_t aors = 0;
	uint64_t removed = bind_sweep_end(&n->walk, &aors);

	n->walking = false;
	n->last_sweep_steps = n->walk_steps;
	dp_count_add(&n->ctl->ctr, DP_CTR_bindings_expired, removed);
	dp_count_add(&n->ctl->ctr, DP_CTR_aors_removed, aors);
	n->sweeps++;
	n->last_sweep_us = (n->walk_ns + clock_mono_ns() - t0) / 1000;
	n->next_walk_ms = clock_mono_ms() + bind_sweep_gap_ms(n->last_sweep_us);
	if (removed)
		log_debug("sweep", "%" PRIu64 " bindings expired, %" PRIu64 " AORs removed "
			  "in %" PRIu64 " us", removed, aors, n->last_sweep_us);
}

static void sweep(struct loop *l, void *arg)
{
	struct node *n = arg;
	uint64_t t0 = clock_mono_ns();
	uint64_t now_ms = t0 / 1000000u;

	if (!n->walking) {
		bool due = bind_sweep_due(n->shared.bindings, now_ms);

		/* The walk visits every record (on the order of a second for a
		 * million AORs): only when a binding may have expired
		 * (bind_sweep_due()), and no sooner after the previous walk
		 * than bind_sweep_gap_ms() allows. Otherwise only the table's
		 * size follows the AORs counted. */
		if (!due || now_ms < n->next_walk_ms) {
			bind_fit(n->shared.bindings, dp_aors_registered(&n->shared));
			if (due)
				n->sweeps_deferred++;
			else
				n->sweeps_skipped++;
			loop_timer_start(l, &n->sweep_timer, SWEEP_INTERVAL_MS, sweep, n);
			return;
		}
		bind_sweep_begin(&n->walk, n->shared.bindings, n->pools[n->npools - 1], now_ms);
		n->walking = true;
		n->walk_ns = 0;
		n->walk_steps = 0;
	}
	n->walk_steps++;
	if (!bind_sweep_step(&n->walk, SWEEP_STEP_RECORDS)) {
		n->walk_ns += clock_mono_ns() - t0;
		loop_timer_start(l, &n->sweep_timer, SWEEP_STEP_GAP_MS, sweep, n);
		return;
	}
	walk_end(n, t0);
	loop_timer_start(l, &n->sweep_timer, SWEEP_INTERVAL_MS, sweep, n);
}

static void reserve(struct loop *l, void *arg)
{
	struct node *n = arg;

	bind_reserve(n->shared.bindings, dp_aors_registered(&n->shared));
	/* Spare slabs for every pool, so that workers grow theirs without
	 * calling malloc (rec_pool.h). Out of memory here is retried on the
	 * next tick; a worker that finds its reserve empty mallocs itself. */
	for (unsigned i = 0; i < n->npools; i++)
		if (rec_pool_refill(n->pools[i]) < 0)
			log_warn("pool", "%s: no memory for spare slabs", rec_pool_name(n->pools[i]));
	loop_timer_start(l, &n->reserve_timer, RESERVE_INTERVAL_MS, reserve, n);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct node *n = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("node", "%s: shutting down",
				 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			loop_stop(l);
			break;
		case SIGHUP:
			log_info("node", "SIGHUP ignored: restart the node to apply a new "
				 "configuration");
			break;
		default:
			break;
		}
	}
	(void)n;
}

/* ---------------------------------------------------------------- */
/* The pair */

static void free_settings(struct rcu_head *head)
{
	tdm_rcu_after_grace_period();
	free(caa_container_of(head, struct dp_settings, rcu));
}

/*
 * Publish a new version of the registrar's settings from the role and the
 * licenses in force. Readers see the old or the new one; the old one is
 * freed after a grace period.
 */
static void publish_settings(struct node *n)
{
	const struct config *cfg = &n->cfg;
	struct dp_settings *old = rcu_dereference(n->shared.settings);
	struct dp_settings *s = malloc(sizeof(*s));

	if (!s) {
		log_err("node", "out of memory: a role or license change is not applied");
		return;
	}
	*s = *old;
	if (n->role_known) {
		const struct pair_role *r = &n->role;

		s->divert = !r->serving;
		s->divert_mode = cfg->pair.divert == DIVERT_REJECT ? DP_DIVERT_REJECT
								  : DP_DIVERT_REDIRECT;
		snprintf(s->master_hostport, sizeof(s->master_hostport), "%s", n->master_sip);
		s->epoch = r->epoch;
		/* A standby that took over grants short registrations, so
		 * phones come back to the master soon after it returns. */
		s->max_expires = cfg->sip.max_expires;
		if (r->standby_active && cfg->pair.active_max_expires < s->max_expires)
			s->max_expires = cfg->pair.active_max_expires;
	}
	s->limit_aors = n->lic.ports_set;
	s->max_aors = n->lic.ports;

	old = tdm_rcu_xchg_pointer(&n->shared.settings, s);
	call_rcu(&old->rcu, free_settings);
}

/* The role changed (or where to divert to). */
static void on_role(void *arg, const struct pair_role *r)
{
	struct node *n = arg;

	n->role = *r;
	snprintf(n->master_sip, sizeof(n->master_sip), "%s", r->master_sip ? r->master_sip : "");
	n->role.master_sip = n->master_sip;
	n->role_known = true;
	publish_settings(n);
}

static void on_licenses(void *arg, const struct objects_licenses *l)
{
	struct node *n = arg;

	n->lic = *l;
	publish_settings(n);
	if (n->pair) {
		char why[128];
		pair_block_takeover(n->pair, objects_takeover_blocked(l, why, sizeof(why)));
	}
}

static uint64_t aors_in_use(void *arg)
{
	struct node *n = arg;

	return dp_aors_registered(&n->shared);
}

/* The objects replication rides on the pair's link. */
static int sync_send(void *arg, uint8_t type, const void *payload, uint32_t len)
{
	return pair_send(((struct node *)arg)->pair, type, payload, len);
}

static size_t sync_queued(void *arg)
{
	return pair_queued(((struct node *)arg)->pair);
}

static void sync_drop(void *arg, bool malformed, const char *text)
{
	pair_drop(((struct node *)arg)->pair, malformed, text);
}

static void app_up(void *arg, const uint8_t *info, uint32_t len)
{
	objects_peer_up(((struct node *)arg)->objects, info, len);
}

static void app_down(void *arg)
{
	objects_peer_down(((struct node *)arg)->objects);
}

static void app_frame(void *arg, uint8_t type, const uint8_t *payload, uint32_t len)
{
	objects_on_frame(((struct node *)arg)->objects, type, payload, len);
}

static void app_writable(void *arg)
{
	objects_writable(((struct node *)arg)->objects);
}

static void app_show(void *arg, struct out *o)
{
	objects_show_replication(((struct node *)arg)->objects, o);
}

/*
 * What this node tells its peer at login: where its SIP service is, and the
 * general settings that must match across the pair (compared by the peer).
 * "key=value" lines.
 */
static void build_info(const struct config *cfg, char *buf, size_t cap)
{
	const union tdm_addr *l = &cfg->sip.listen[0];
	char a[TDM_ADDR_STRLEN];
	struct wbuf w;

	wbuf_init(&w, buf, cap - 1);
	if (addr_is_any(l))
		wbuf_printf(&w, "sip_port=%u\n", addr_port(l));
	else
		wbuf_printf(&w, "sip=%s\n", addr_format(l, a, sizeof(a)));
	*w.p = '\0';
	objects_settings_text(cfg, w.p, cap - (size_t)(w.p - buf));
}

/* ---------------------------------------------------------------- */
/* Stats commands */

static void show_info(void *ctx, int argc, char **argv, struct out *o)
{
	struct node *n = ctx;
	const struct config *cfg = &n->cfg;
	char addr[TDM_ADDR_STRLEN];

	if (argc) {
		out_error(o, "usage: show info");
		return;
	}
	out_str(o, "name", cfg->node.name);
	out_str(o, "version", TANDEM_VERSION);
	out_str(o, "mode", node_mode_name(cfg->node.mode));
	out_i64(o, "pid", getpid());
	out_i64(o, "started", n->started_s);
	out_u64(o, "uptime", (clock_mono_ms() - n->started_ms) / 1000);
	out_str(o, "config", cfg->path);
	out_str(o, "data_dir", cfg->node.data_dir);
	out_str(o, "io_mode", io_mode_name(cfg->io.mode));
	out_u64(o, "workers", n->io ? io_nworkers(n->io) : 0);
	out_list_begin(o, "listen");
	for (unsigned i = 0; i < cfg->sip.nlisten; i++)
		out_str(o, NULL, addr_format(&cfg->sip.listen[i], addr, sizeof(addr)));
	out_list_end(o);
	out_str(o, "domain", cfg->sip.domain);
	out_str(o, "auth", auth_mode_name(cfg->sip.auth));
	out_u64(o, "default_expires", cfg->sip.default_expires);
	out_u64(o, "min_expires", cfg->sip.min_expires);
	out_u64(o, "max_expires", cfg->sip.max_expires);
	out_u64(o, "max_contacts", cfg->sip.max_contacts);
}

static void show_stats(void *ctx, int argc, char **argv, struct out *o)
{
	struct node *n = ctx;
	uint64_t c[DP_CTR_COUNT];
	struct gauges g;

	if (argc) {
		out_error(o, "usage: show stats");
		return;
	}
	sum_counters(n, c);
	read_gauges(n, c, &g);
	out_u64(o, "uptime", (clock_mono_ms() - n->started_ms) / 1000);
	out_u64(o, "aors", g.aors);
	out_u64(o, "bindings", g.bindings);
	out_u64(o, "users", g.users);
	out_u64(o, "record_pool_bytes", g.pool_bytes);
	out_u64(o, "record_pool_reserve_bytes", g.pool_reserve_bytes);
	out_u64(o, "record_pool_worker_mallocs", g.pool_owner_mallocs);
	out_u64(o, "record_pool_retire_unbatched", g.pool_retire_unbatched);
	out_u64(o, "sweeps", n->sweeps);
	out_u64(o, "sweeps_skipped", n->sweeps_skipped);
	out_u64(o, "sweeps_deferred", n->sweeps_deferred);
	out_u64(o, "last_sweep_us", n->last_sweep_us);
	out_u64(o, "last_sweep_steps", n->last_sweep_steps);
	out_obj_begin(o, "counters");
	for (unsigned i = 0; i < DP_CTR_COUNT; i++)
		out_u64(o, dp_counter_name((enum dp_ctr)i), c[i]);
	out_obj_end(o);
	if (n->io && io_netstack(n->io, 0)) {
		uint64_t f[NS_CTR_COUNT];
		sum_netstack(n, f);
		out_obj_begin(o, "frames");
		for (unsigned i = 0; i < NS_CTR_COUNT; i++)
			out_u64(o, ns_counter_name((enum ns_ctr)i), f[i]);
		out_obj_end(o);
	}
	out_list_begin(o, "workers");
	for (unsigned i = 0; n->io && i < io_nworkers(n->io); i++) {
		const struct dp_worker *w = io_worker(n->io, i);
		out_obj_begin(o, NULL);
		out_u64(o, "worker", i);
		out_u64(o, "rx_datagrams", dp_counter_get(&w->ctr, DP_CTR_rx_datagrams));
		out_u64(o, "tx_responses", dp_counter_get(&w->ctr, DP_CTR_tx_responses));
		out_obj_end(o);
	}
	out_list_end(o);
}

static void show_metrics(void *ctx, int argc, char **argv, struct out *o)
{
	struct node *n = ctx;
	static struct out_prom counters[DP_CTR_COUNT];
	static const struct out_prom m_aors = { "aors", OUT_PROM_GAUGE,
						"Addresses-of-record with at least one binding" };
	static const struct out_prom m_bindings = { "bindings", OUT_PROM_GAUGE,
						    "Contact bindings stored" };
	static const struct out_prom m_users = { "users", OUT_PROM_GAUGE, "Users known" };
	static const struct out_prom m_pool = { "record_pool_bytes", OUT_PROM_GAUGE,
						"Bytes held by the binding record pools" };
	static const struct out_prom m_reserve = {
		"record_pool_reserve_bytes", OUT_PROM_GAUGE,
		"Bytes of spare slabs the control thread keeps for the record pools"
	};
	static const struct out_prom m_owner_mallocs = {
		"record_pool_worker_mallocs", OUT_PROM_COUNTER,
		"Slabs a pool's own thread had to malloc (its spare slabs ran out)"
	};
	static const struct out_prom m_unbatched = {
		"record_pool_retire_unbatched", OUT_PROM_COUNTER,
		"Records a worker retired one by one because all its retire batches "
		"were waiting for grace periods"
	};
	static const struct out_prom m_uptime = { "uptime_seconds", OUT_PROM_GAUGE,
						  "Seconds since the node started" };
	static const struct out_prom m_workers = { "workers", OUT_PROM_GAUGE,
						   "Dataplane workers" };
	static const struct out_prom m_info = { "info", OUT_PROM_GAUGE,
						"Node identity (always 1)" };
	static const struct out_prom m_worker_rx = {
		"worker_rx_datagrams", OUT_PROM_COUNTER, "SIP datagrams received per worker"
	};
	uint64_t c[DP_CTR_COUNT];
	struct gauges g;

	if (argc) {
		out_error(o, "usage: show metrics");
		return;
	}
	sum_counters(n, c);
	read_gauges(n, c, &g);

	for (unsigned i = 0; i < DP_CTR_COUNT; i++) {
		counters[i] = (struct out_prom){ dp_counter_name((enum dp_ctr)i),
						 OUT_PROM_COUNTER,
						 dp_counter_help((enum dp_ctr)i) };
		out_prom_metric(o, &counters[i], c[i]);
	}
	out_prom_metric(o, &m_aors, g.aors);
	out_prom_metric(o, &m_bindings, g.bindings);
	out_prom_metric(o, &m_users, g.users);
	out_prom_metric(o, &m_pool, g.pool_bytes);
	out_prom_metric(o, &m_reserve, g.pool_reserve_bytes);
	out_prom_metric(o, &m_owner_mallocs, g.pool_owner_mallocs);
	out_prom_metric(o, &m_unbatched, g.pool_retire_unbatched);
	out_prom_metric(o, &m_uptime, (clock_mono_ms() - n->started_ms) / 1000);
	out_prom_metric(o, &m_workers, n->io ? io_nworkers(n->io) : 0);

	struct out_label info[] = {
		{ "name", n->cfg.node.name },
		{ "version", TANDEM_VERSION },
		{ "mode", node_mode_name(n->cfg.node.mode) },
	};
	out_prom_begin(o, &m_info);
	out_prom_sample(o, &m_info, info, 3, 1);
	out_prom_end(o, &m_info);

	pair_metrics(n->pair, o);
	objects_metrics(n->objects, o);

	if (n->io && io_netstack(n->io, 0)) {
		/* "net_" keeps them apart from the SIP counters (rx_bytes). */
		static char names[NS_CTR_COUNT][48];
		static struct out_prom frames[NS_CTR_COUNT];
		uint64_t f[NS_CTR_COUNT];

		sum_netstack(n, f);
		for (unsigned i = 0; i < NS_CTR_COUNT; i++) {
			snprintf(names[i], sizeof(names[i]), "net_%s", ns_counter_name((enum ns_ctr)i));
			frames[i] = (struct out_prom){ names[i],
						       OUT_PROM_COUNTER,
						       ns_counter_help((enum ns_ctr)i) };
			out_prom_metric(o, &frames[i], f[i]);
		}
	}

	out_prom_begin(o, &m_worker_rx);
	for (unsigned i = 0; n->io && i < io_nworkers(n->io); i++) {
		char idx[16];
		snprintf(idx, sizeof(idx), "%u", i);
		struct out_label l = { "worker", idx };
		out_prom_sample(o, &m_worker_rx, &l, 1,
				dp_counter_get(&io_worker(n->io, i)->ctr, DP_CTR_rx_datagrams));
	}
	out_prom_end(o, &m_worker_rx);
}

struct show_regs {
	struct out *o;
	uint64_t now_ms;
	uint64_t shown;
	uint64_t total;
};

static void out_record(struct out *o, const struct aor_rec *rec, uint64_t now_ms)
{
	char addr[TDM_ADDR_STRLEN];

	out_obj_begin(o, NULL);
	out_tstr(o, "aor", aor_rec_key(rec));
	out_list_begin(o, "contacts");
	for (unsigned i = 0; i < rec->nbind; i++) {
		const struct binding *b = &rec->b[i];

		if (b->expires_ms <= now_ms)
			continue;
		out_obj_begin(o, NULL);
		out_tstr(o, "uri", binding_uri(rec, b));
		out_u64(o, "expires", (b->expires_ms - now_ms + 999) / 1000);
		if (b->q != BINDING_Q_NONE)
			out_double(o, "q", b->q / 1000.0, 3);
		out_str(o, "source", addr_format(&b->source, addr, sizeof(addr)));
		out_tstr(o, "call_id", binding_call_id(rec, b));
		out_u64(o, "cseq", b->cseq);
		if (b->instance_len)
			out_tstr(o, "instance", binding_instance(rec, b));
		if (b->reg_id != BINDING_REG_ID_NONE)
			out_i64(o, "reg_id", b->reg_id);
		if (b->path_len)
			out_tstr(o, "path", binding_path(rec, b));
		if (b->user_agent_len)
			out_tstr(o, "user_agent", binding_user_agent(rec, b));
		out_obj_end(o);
	}
	out_list_end(o);
	out_obj_end(o);
}

static int show_one(const struct aor_rec *rec, void *arg)
{
	struct show_regs *sr = arg;

	sr->total++;
	if (sr->shown < SHOW_REGISTRATIONS_MAX) {
		out_record(sr->o, rec, sr->now_ms);
		sr->shown++;
	}
	return 0;
}

/* "alice", "100", "alice@example.com" or a sip:/sips: URI, as a phone
 * would register it. */
static int aor_from_arg(struct node *n, const char *arg)
{
	const struct dp_settings *s = rcu_dereference(n->shared.settings);
	char text[512];
	struct sip_uri u;
	const struct user *usr;

	if (strncasecmp(arg, "sip:", 4) == 0 || strncasecmp(arg, "sips:", 5) == 0)
		snprintf(text, sizeof(text), "%s", arg);
	else if (strchr(arg, '@'))
		snprintf(text, sizeof(text), "sip:%s", arg);
	else
		snprintf(text, sizeof(text), "sip:%s@%s", arg,
			 s->domain[0] ? s->domain : "localhost");
	if (sip_uri_parse(tstr_cstr(text), &u) < 0 ||
	    (u.scheme != SIP_URI_SIP && u.scheme != SIP_URI_SIPS))
		return TDM_EMALFORMED;
	return dp_aor_resolve(n->ctl, s, &u, &usr);
}

static void show_registrations(void *ctx, int argc, char **argv, struct out *o)
{
	struct node *n = ctx;
	struct show_regs sr = { .o = o, .now_ms = clock_mono_ms() };

	if (argc > 1) {
		out_error(o, "usage: show registrations [AOR]");
		return;
	}
	if (argc == 1) {
		int len = aor_from_arg(n, argv[0]);
		const struct aor_rec *rec;

		if (len < 0) {
			out_error(o, "'%s' is not an address-of-record this node serves", argv[0]);
			return;
		}
		tstr aor = tstr_make(n->ctl->aor, (uint32_t)len);
		rec = bind_lookup(n->shared.bindings, aor, bind_hash(n->shared.bindings, aor));
		out_list_begin(o, "registrations");
		if (rec)
			out_record(o, rec, sr.now_ms);
		out_list_end(o);
		out_u64(o, "total", rec ? 1 : 0);
		return;
	}
	out_list_begin(o, "registrations");
	pair_show_registrations(n->pair, o);
	bind_foreach(n->shared.bindings, show_one, &sr);
	out_list_end(o);
	out_u64(o, "total", sr.total + pair_registrations_count(n->pair));
	if (sr.shown < sr.total)
		out_fmt(o, "truncated", "showing %" PRIu64 " of %" PRIu64 " AORs; ask for one "
			"with 'show registrations AOR'", sr.shown, sr.total);
}

static const struct cli_cmd node_cmds[] = {
	{ "show info", "", "node identity, version, configuration summary", show_info },
	{ "show stats", "", "counters (summed over workers) and table sizes", show_stats },
	{ "show registrations", "[AOR]", "bindings of every AOR, or of one", show_registrations },
	{ "show metrics", "", "everything in Prometheus text format", show_metrics },
};

/* ---------------------------------------------------------------- */

int node_create(const struct config *cfg, struct node **out)
{
	struct node *n;
	struct dp_settings *settings = NULL;
	char err[1024];
	int rc;

	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cfg = *cfg;
	n->sigfd = -1;
	n->started_s = clock_real_s();
	n->started_ms = clock_mono_ms();

	rcu_register_thread();
	n->rcu_registered = true;

	/* The I/O back end's process-wide part before any other thread
	 * exists: with DPDK the EAL pins this thread to the main lcore, and
	 * every thread started below inherits that CPU set, off the workers'
	 * lcores. [io] workers = auto is resolved here (DPDK: the lcores). */
	struct io_params prep = {
		.backend = cfg->io.mode == IO_DPDK ? IO_BACKEND_DPDK : IO_BACKEND_SOCKET,
		.workers = cfg->io.workers,
		.workers_auto = cfg->io.workers_auto,
		.dpdk_args = cfg->io.dpdk_args,
	};
	rc = io_prepare(&prep, err, sizeof(err));
	if (rc < 0) {
		log_err("node", "%s", err);
		goto fail;
	}
	n->cfg.io.workers = (unsigned)rc;
	/* liburcu's default call_rcu thread, made now by this thread rather
	 * than by whichever thread first retires something (a worker: the
	 * thread would inherit its CPU). */
	pthread_setname_np(get_call_rcu_thread(get_default_call_rcu_data()), "tandem-rcu");

	rc = mkdir_p(cfg->node.data_dir, 0750);
	if (rc < 0) {
		log_err("node", "[node] data_dir %s: %s", cfg->node.data_dir, strerror(-rc));
		goto fail;
	}
	rc = load_nonce_key(cfg->node.data_dir, &n->shared.nonce_key);
	if (rc < 0)
		goto fail;
	if (getrandom(n->shared.tag_key, sizeof(n->shared.tag_key), 0) !=
	    (ssize_t)sizeof(n->shared.tag_key)) {
		rc = -EIO;
		goto fail;
	}

	settings = build_settings(cfg);
	if (!settings) {
		rc = -ENOMEM;
		goto fail;
	}
	char realm[sizeof(settings->realm)];
	snprintf(realm, sizeof(realm), "%s", settings->realm);
	tdm_rcu_assign_pointer(n->shared.settings, settings);
	settings = NULL;

	n->loop = loop_create();
	n->cli = cli_create();
	if (!n->loop || !n->cli) {
		rc = -ENOMEM;
		goto fail;
	}
	struct objects_params op = {
		.cfg = &n->cfg,
		.loop = n->loop,
		.cli = n->cli,
		.users = &n->shared.users,
		.realm = realm,
		.on_licenses = on_licenses,
		.aors_in_use = aors_in_use,
		.arg = n,
	};
	rc = objects_create(&op, &n->objects);
	if (rc < 0)
		goto fail;

	n->shared.bindings = bind_table_create(&(struct bind_table_params){ 0 });
	if (!n->shared.bindings) {
		rc = -ENOMEM;
		goto fail;
	}

	n->npools = n->cfg.io.workers + 1;
	n->pools = calloc(n->npools, sizeof(n->pools[0]));
	if (!n->pools) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < n->npools; i++) {
		char name[32];
		if (i + 1 < n->npools)
			snprintf(name, sizeof(name), "worker %u", i);
		else
			snprintf(name, sizeof(name), "control");
		n->pools[i] = rec_pool_create(name);
		if (!n->pools[i] || rec_pool_refill(n->pools[i]) < 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	n->ctl = aligned_alloc(64, sizeof(*n->ctl));
	if (!n->ctl) {
		rc = -ENOMEM;
		goto fail;
	}
	dp_worker_init(n->ctl, n->cfg.io.workers, &n->shared, n->pools[n->npools - 1]);

	rc = cli_register(n->cli, node_cmds, sizeof(node_cmds) / sizeof(node_cmds[0]), n);
	if (rc < 0)
		goto fail;

	char info[1024];
	build_info(cfg, info, sizeof(info));
	struct pair_params pp = {
		.cfg = &n->cfg,
		.loop = n->loop,
		.cli = n->cli,
		.info = info,
		.on_role = on_role,
		.arg = n,
		.app = { app_up, app_down, app_frame, app_writable, app_show, n },
	};
	rc = pair_create(&pp, &n->pair);
	if (rc < 0)
		goto fail;
	if (n->cfg.node.mode == NODE_STANDBY) {
		char why[128];
		pair_block_takeover(n->pair, objects_takeover_blocked(&n->lic, why, sizeof(why)));
	}
	if (pair_has_link(n->pair)) {
		struct objsync_io sio = { sync_send, sync_queued, sync_drop, n };
		rc = objects_attach(n->objects, &sio);
		if (rc < 0)
			goto fail;
	}

	struct io_params iop = {
		.backend = cfg->io.mode == IO_DPDK ? IO_BACKEND_DPDK : IO_BACKEND_SOCKET,
		.listen = cfg->sip.listen,
		.nlisten = cfg->sip.nlisten,
		.workers = n->cfg.io.workers,
		.cpus = cfg->io.cpus,
		.ncpus = cfg->io.ncpus,
		.dpdk_args = cfg->io.dpdk_args,
		.shared = &n->shared,
		.pools = n->pools,
	};
	rc = io_create(&iop, &n->io, err, sizeof(err));
	if (rc < 0) {
		log_err("node", "%s%s", cfg->io.mode == IO_DPDK ? "" : "[sip] listen ", err);
		goto fail;
	}
	/* Every counter block, for the registered AORs the licenses count. */
	n->ctr_blocks = calloc(io_nworkers(n->io) + 1, sizeof(n->ctr_blocks[0]));
	if (!n->ctr_blocks) {
		rc = -ENOMEM;
		goto fail;
	}
	n->ctr_blocks[0] = &n->ctl->ctr;
	for (unsigned i = 0; i < io_nworkers(n->io); i++)
		n->ctr_blocks[i + 1] = &io_worker(n->io, i)->ctr;
	n->shared.ctr_blocks = n->ctr_blocks;
	n->shared.nctr_blocks = io_nworkers(n->io) + 1;

	char desc[512];
	io_describe(n->io, desc, sizeof(desc));
	if (desc[0])
		log_info("node", "%s", desc);

	n->stats = stats_sock_open(n->loop, cfg->stats.socket, n->cli, &rc);
	if (!n->stats) {
		if (rc == -EADDRINUSE)
			log_err("node", "[stats] socket %s: in use by another running process",
				cfg->stats.socket);
		else
			log_err("node", "[stats] socket %s: %s", cfg->stats.socket, strerror(-rc));
		goto fail;
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	n->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (n->sigfd < 0 || loop_add_fd(n->loop, n->sigfd, EPOLLIN, on_signal, n) < 0) {
		rc = -errno;
		log_err("node", "signalfd: %s", strerror(errno));
		goto fail;
	}

	*out = n;
	return 0;
fail:
	free(settings);
	node_destroy(n);
	return rc < 0 ? rc : TDM_ECONFIG;
}

/* "0-3,6" for the CPUs in set (cut short, with "...", past cap). */
static void cpu_list(const cpu_set_t *set, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int e = c, k;

		if (!CPU_ISSET(c, set))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
			e++;
		k = e > c ? snprintf(buf + len, cap - len, "%s%d-%d", len ? "," : "", c, e)
			  : snprintf(buf + len, cap - len, "%s%d", len ? "," : "", c);
		if (k < 0 || (size_t)k >= cap - len) {
			if (cap >= 4)
				memcpy(buf + cap - 4, "...", 4);
			return;
		}
		len += (size_t)k;
		c = e;
	}
}

/* out = a without b. */
static void cpus_minus(cpu_set_t *out, const cpu_set_t *a, const cpu_set_t *b)
{
	CPU_XOR(out, a, b);
	CPU_AND(out, out, a);
}

/*
 * The workers' CPUs are theirs alone: every other thread of the process
 * (this control thread, the job thread, liburcu's call_rcu thread, and
 * whatever a library started) is moved to the rest of the CPUs the process
 * may use, and threads this thread starts later inherit that. Without it
 * the scheduler may run, say, a user import or a batch of frees on a
 * worker's CPU, and a worker waits a whole time slice (milliseconds) for
 * it. A thread already confined to worker CPUs (a worker) is left alone.
 * When the process may use no other CPU (everything pinned to one, as
 * the benchmarks do), the threads share them as before; that is logged.
 * Socket back end only: with DPDK the EAL placed every thread already.
 */
static void keep_off_worker_cpus(struct node *n)
{
	cpu_set_t workers, mine, rest;
	char list[256];
	DIR *d;
	struct dirent *e;

	if (io_worker_cpus(n->io, &workers) <= 0)
		return;
	if (sched_getaffinity(0, sizeof(mine), &mine) < 0)
		return;
	cpus_minus(&rest, &mine, &workers);
	cpu_list(&workers, list, sizeof(list));
	if (CPU_COUNT(&rest) == 0) {
		log_info("node", "no CPU outside the workers' (%s) in this process's CPU set: "
			 "the control, job and call_rcu threads share them", list);
		return;
	}
	d = opendir("/proc/self/task");
	if (d == NULL) {
		log_warn("node", "/proc/self/task: %s; the other threads may run on the "
			 "workers' CPUs", strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		cpu_set_t m, keep;

		if (tid <= 0 || sched_getaffinity(tid, sizeof(m), &m) < 0)
			continue;   /* ".", "..", or a thread that just ended */
		cpus_minus(&keep, &m, &workers);
		if (CPU_COUNT(&keep) == 0)
			continue;   /* a worker, or another thread on worker CPUs only */
		if (!CPU_EQUAL(&keep, &m) && sched_setaffinity(tid, sizeof(keep), &keep) < 0)
			log_warn("node", "thread %d: cannot keep it off CPUs %s: %s", (int)tid,
				 list, strerror(errno));
	}
	closedir(d);
	cpu_list(&rest, list, sizeof(list));
	log_info("node", "the control, job and call_rcu threads run on CPUs %s", list);
}

int node_run(struct node *n)
{
	char err[256], addrs[CFG_MAX_LISTEN * TDM_ADDR_STRLEN] = "";
	int rc;

	rc = io_start(n->io, err, sizeof(err));
	if (rc < 0) {
		log_err("node", "%s", err);
		return rc;
	}
	keep_off_worker_cpus(n);
	loop_timer_start(n->loop, &n->sweep_timer, SWEEP_INTERVAL_MS, sweep, n);
	loop_timer_start(n->loop, &n->reserve_timer, RESERVE_INTERVAL_MS, reserve, n);

	for (unsigned i = 0; i < n->cfg.sip.nlisten; i++) {
		char a[TDM_ADDR_STRLEN];
		if (i)
			strcat(addrs, " ");
		strcat(addrs, addr_format(&n->cfg.sip.listen[i], a, sizeof(a)));
	}
	log_info("node", "tandemd %s ready: node '%s' (%s), SIP on %s, %u %s worker%s, "
		 "stats on %s", TANDEM_VERSION, n->cfg.node.name,
		 node_mode_name(n->cfg.node.mode), addrs, io_nworkers(n->io),
		 io_mode_name(n->cfg.io.mode), io_nworkers(n->io) == 1 ? "" : "s",
		 n->cfg.stats.socket);

	rc = loop_run(n->loop);
	if (rc < 0)
		log_err("node", "control loop: %s", strerror(-rc));
	return rc;
}

void node_destroy(struct node *n)
{
	if (!n)
		return;
	/* Workers first: nobody touches the tables after this. */
	io_destroy(n->io);
	n->io = NULL;
	io_unprepare();
	stats_sock_close(n->stats);
	pair_destroy(n->pair);
	objects_destroy(n->objects);
	if (n->sigfd >= 0)
		close(n->sigfd);
	cli_destroy(n->cli);
	loop_destroy(n->loop);
	/* A walk cut short by the stop: take its place-keeping entry out. */
	if (n->walking)
		bind_sweep_end(&n->walk, NULL);

	if (n->rcu_registered) {
		/* Retired records and users go back to their pools first. */
		tdm_rcu_thread_offline();
		rcu_barrier();
		tdm_rcu_thread_online();
	}
	bind_table_destroy(n->shared.bindings);
	users_destroy(n->shared.users);
	free(n->shared.settings);
	if (n->rcu_registered) {
		tdm_rcu_thread_offline();
		rcu_barrier();
		tdm_rcu_thread_online();
	}
	for (unsigned i = 0; n->pools && i < n->npools; i++)
		rec_pool_destroy(n->pools[i]);
	free(n->pools);
	free(n->ctl);
	free(n->ctr_blocks);
	if (n->rcu_registered)
		tdm_rcu_unregister_thread();
	free(n);
}
