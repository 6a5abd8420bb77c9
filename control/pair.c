/* SPDX-License-Identifier: MIT */
/*
 * The pair on the control thread: link events in, role machine, actions
 * out. See pair.h, docs/pair-roles.md and docs/pair.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "link.h"
#include "log.h"
#include "pair.h"
#include "pipeline.h"
#include "role.h"
#include "tls.h"

#define EPOCH_FILE "epoch"
/* A failure that repeats at every retry of the link (a standby that
 * cannot reach its master, or that the master refuses, retries every
 * second) is logged at most this often. */
#define REPEAT_LOG_INTERVAL_MS 10000

/* One kind of repeating failure: logged the first time, when its reason
 * changes, and then once per REPEAT_LOG_INTERVAL_MS with the number of
 * lines held back in between. */
struct log_limit {
	enum log_level level;
	char reason[LINK_TEXT_MAX];     /* what makes two failures "the same" */
	char line[LINK_TEXT_MAX];       /* the last line held back */
	uint64_t last_ms;               /* when a line was last written */
	unsigned held;                  /* lines held back since then */
};

struct pair {
	const struct config *cfg;
	struct loop *loop;
	bool is_master;
	struct link *link;              /* NULL: a single master */
	struct role_state role;
	struct loop_timer timer;
	char epoch_path[PATH_MAX + 8];
	void (*on_role)(void *arg, const struct pair_role *role);
	void *arg;
	struct pair_app app;

	/* The logged-in peer. */
	bool peer_up;
	char peer_name[FRAME_NAME_MAX + 1];
	char peer_addr[TDM_ADDR_STRLEN];
	uint64_t peer_since_ms;
	int64_t rtt_us;

	char master_sip[DP_HOST_MAX];   /* standby: where requests are diverted */
	struct log_limit closed_log;    /* connections that never logged in */
	struct log_limit refused_log;   /* refused logins, by either side */
};

/* ---------------------------------------------------------------- */
/* The epoch on disk */

static uint64_t read_epoch(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t v = 0;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!tstr_to_u64(tstr_cstr(buf), UINT64_MAX, &v)) {
		log_warn("pair", "%s: not an epoch number; starting from 0", path);
		return 0;
	}
	return v;
}

/* Write-then-rename, so a crash leaves the old or the new epoch. */
static int write_epoch(const char *path, uint64_t epoch)
{
	char tmp[PATH_MAX + 16], buf[32];
	int fd, n, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", epoch);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	return rc;
}

/* ---------------------------------------------------------------- */
/* Role machine plumbing */

static void notify(struct pair *p)
{
	struct pair_role r = {
		.serving = role_serving(&p->role),
		.standby_active = role_standby_active(&p->role),
		.epoch = p->role.epoch,
		.master_sip = p->master_sip,
	};

	p->on_role(p->arg, &r);
}

static void on_timer(struct loop *l, void *arg);

static void step(struct pair *p, struct role_event *ev)
{
	struct role_action acts[ROLE_ACTIONS_MAX];
	bool publish = false;
	unsigned n;

	ev->now_ms = clock_mono_ms();
	n = role_step(&p->role, ev, acts, ROLE_ACTIONS_MAX);
	for (unsigned i = 0; i < n; i++) {
		struct role_action *a = &acts[i];
		int rc;

		switch (a->kind) {
		case ROLE_ACT_LOG:
			log_write(a->level, "role", "%s", a->text);
			break;
		case ROLE_ACT_PERSIST_EPOCH:
			rc = write_epoch(p->epoch_path, a->epoch);
			if (rc < 0)
				log_err("pair", "%s: cannot store epoch %" PRIu64 ": %s",
					p->epoch_path, a->epoch, strerror(-rc));
			publish = true;
			break;
		case ROLE_ACT_SET_ROLE:
			publish = true;
			break;
		case ROLE_ACT_CONFIG_ERROR:
		case ROLE_ACT_CONFIG_OK:
			/* role_describe() shows it; the LOG action says it. */
			break;
		}
	}
	if (publish)
		notify(p);

	uint64_t due = role_next_deadline(&p->role);
	if (due == UINT64_MAX) {
		loop_timer_stop(p->loop, &p->timer);
	} else {
		uint64_t now = clock_mono_ms();
		loop_timer_start(p->loop, &p->timer, due > now ? due - now : 0, on_timer, p);
	}
}

static void on_timer(struct loop *l, void *arg)
{
	struct role_event ev = { .type = ROLE_EV_TIMER };

	step(arg, &ev);
}

/* ---------------------------------------------------------------- */
/* The info blob: "key=value" lines */

/* The value of key in info, copied to out; false when absent. */
static bool info_get(const uint8_t *info, uint32_t len, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	uint32_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(info + i, '\n', len - i);
		uint32_t end = nl ? (uint32_t)(nl - info) : len;

		if (end - i > klen && memcmp(info + i, key, klen) == 0 && info[i + klen] == '=') {
			tstr_copy_cstr(tstr_make((const char *)info + i + klen + 1,
						 end - i - klen - 1), out, cap);
			return true;
		}
		i = end + 1;
	}
	return false;
}

/* Standby: divert to the master's SIP address, as the master announced it
 * at login; before that, its link address with our own SIP port. */
static void set_master_sip(struct pair *p, const uint8_t *info, uint32_t len)
{
	char port[8] = "", host[DP_HOST_MAX] = "";
	char ip[TDM_ADDR_STRLEN];
	union tdm_addr a = p->cfg->pair.master;

	if (info && info_get(info, len, "sip", host, sizeof(host)) && host[0]) {
		snprintf(p->master_sip, sizeof(p->master_sip), "%s", host);
		return;
	}
	if (!(info && info_get(info, len, "sip_port", port, sizeof(port)) && port[0]))
		snprintf(port, sizeof(port), "%u", addr_port(&p->cfg->sip.listen[0]));
	addr_format_ip(&a, ip, sizeof(ip));
	snprintf(p->master_sip, sizeof(p->master_sip),
		 a.sa.sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
}

/* ---------------------------------------------------------------- */
/* Link callbacks */

static enum role peer_role_of(uint8_t r)
{
	return r == LINK_ROLE_ACTIVE ? ROLE_ACTIVE : ROLE_STANDBY;
}

/* Write how many lines were held back, if any, and forget the reason, so
 * that the next failure is logged at once. */
static void limit_flush(struct log_limit *ll)
{
	if (ll->held)
		log_write(ll->level, "pair", "%s (%u times since the last report)", ll->line,
			  ll->held);
	ll->reason[0] = '\0';
	ll->held = 0;
}

static void limit_log(struct log_limit *ll, enum log_level level, const char *reason,
		      const char *line)
{
	uint64_t now = clock_mono_ms();

	ll->level = level;
	if (strcmp(ll->reason, reason) != 0) {
		limit_flush(ll);
		log_write(level, "pair", "%s", line);
	} else if (now - ll->last_ms >= REPEAT_LOG_INTERVAL_MS) {
		if (ll->held)
			log_write(level, "pair", "%s (and %u more like it)", line, ll->held);
		else
			log_write(level, "pair", "%s", line);
	} else {
		snprintf(ll->line, sizeof(ll->line), "%s", line);
		ll->held++;
		return;
	}
	snprintf(ll->reason, sizeof(ll->reason), "%s", reason);
	ll->last_ms = now;
	ll->held = 0;
}

static void log_refusal(struct pair *p, const struct link_event *ev)
{
	const char *peer = p->is_master ? "standby" : "master";
	const char *why = ev->text && *ev->text ? ev->text : link_event_name(ev->kind);
	char line[2 * LINK_TEXT_MAX], reason[LINK_TEXT_MAX];

	if (ev->refused_by_peer)
		snprintf(line, sizeof(line), "the %s at %s refused our login: %s (code %u)",
			 peer, ev->peer_addr, why, ev->refusal);
	else if (ev->peer_name && *ev->peer_name)
		snprintf(line, sizeof(line), "refused the login of %s '%s' from %s: %s (code %u)",
			 peer, ev->peer_name, ev->peer_addr, why, ev->refusal);
	else
		snprintf(line, sizeof(line), "refused the login of a %s from %s: %s (code %u)",
			 peer, ev->peer_addr, why, ev->refusal);
	/* Not the address: a retry comes from another port. */
	snprintf(reason, sizeof(reason), "%d %u %s", ev->refused_by_peer, ev->refusal, why);
	limit_log(&p->refused_log, LOG_WARN, reason, line);
}

static void log_event(struct pair *p, const struct link_event *ev)
{
	switch (ev->kind) {
	case LINK_EV_CONNECTED:
		/* The role machine says it ("connected to the master"). */
		return;
	case LINK_EV_LOGGED_IN:
		limit_flush(&p->closed_log);
		limit_flush(&p->refused_log);
		log_info("pair", "%s '%s' logged in from %s over %s (%s)",
			 p->is_master ? "standby" : "master", ev->peer_name, ev->peer_addr,
			 ev->tls_version ? ev->tls_version : "TLS",
			 ev->tls_cipher ? ev->tls_cipher : "?");
		return;
	case LINK_EV_REFUSED:
		log_refusal(p, ev);
		return;
	case LINK_EV_LOST:
		log_warn("pair", "%s", ev->text && *ev->text ? ev->text : link_event_name(ev->kind));
		return;
	case LINK_EV_CLOSED:
		limit_log(&p->closed_log, LOG_INFO, ev->text ? ev->text : "",
			  ev->text ? ev->text : "");
		return;
	}
}

static void on_link_event(void *arg, const struct link_event *ev)
{
	struct pair *p = arg;
	struct role_event re = { 0 };

	log_event(p, ev);
	switch (ev->kind) {
	case LINK_EV_CONNECTED:
		/* TCP alone proves nothing: the kernel completes handshakes for
		 * a master that is hung (SIGSTOP, a stuck control thread). Only
		 * what the master's code answers counts as heard: a login, a
		 * refusal, a heartbeat. LINK_UP is not "heard" in the role
		 * machine: it shows the link "connected" and nothing more. */
		re.type = ROLE_EV_LINK_UP;
		break;
	case LINK_EV_LOGGED_IN:
		p->peer_up = true;
		snprintf(p->peer_name, sizeof(p->peer_name), "%s", ev->peer_name);
		snprintf(p->peer_addr, sizeof(p->peer_addr), "%s", ev->peer_addr);
		p->peer_since_ms = clock_mono_ms();
		p->rtt_us = -1;
		if (!p->is_master) {
			set_master_sip(p, ev->peer_info, ev->peer_info_len);
			notify(p);
		}
		re.type = ROLE_EV_LOGGED_IN;
		re.peer_epoch = ev->peer_epoch;
		if (p->app.up)
			p->app.up(p->app.arg, ev->peer_info, ev->peer_info_len);
		break;
	case LINK_EV_REFUSED:
		re.type = ROLE_EV_LOGIN_REFUSED;
		re.reason = ev->refusal;
		re.text = ev->text;
		break;
	case LINK_EV_LOST:
		p->peer_up = false;
		if (p->app.down)
			p->app.down(p->app.arg);
		re.type = ROLE_EV_LINK_LOST;
		re.reason = ev->reason;
		re.text = ev->text;
		break;
	case LINK_EV_CLOSED:
		/* A connection that never logged in, or a failed connect: the
		 * link is down again, and nothing was heard. Not while a peer
		 * is logged in (on the master, another connection ended). */
		if (p->peer_up)
			return;
		re.type = ROLE_EV_LINK_LOST;
		re.reason = ev->reason;
		re.text = ev->text;
		break;
	}
	step(p, &re);
}

static void on_heartbeat(void *arg, uint8_t peer_role, uint64_t peer_epoch, int64_t rtt_us)
{
	struct pair *p = arg;
	struct role_event re = {
		.type = ROLE_EV_HEARTBEAT,
		.peer_role = peer_role_of(peer_role),
		.peer_epoch = peer_epoch,
	};

	p->rtt_us = rtt_us;
	step(p, &re);
}

static void fill_heartbeat(void *arg, uint8_t *role, uint64_t *epoch)
{
	struct pair *p = arg;

	*role = role_current(&p->role) == ROLE_ACTIVE ? LINK_ROLE_ACTIVE : LINK_ROLE_STANDBY;
	*epoch = p->role.epoch;
}

static void on_frame(void *arg, uint8_t type, const uint8_t *payload, uint32_t len)
{
	struct pair *p = arg;

	if (p->app.frame) {
		p->app.frame(p->app.arg, type, payload, len);
		return;
	}
	log_debug("pair", "ignoring application frame 0x%02x (%u bytes) from %s", type, len,
		  p->peer_name);
}

static void on_writable(void *arg)
{
	struct pair *p = arg;

	if (p->app.writable)
		p->app.writable(p->app.arg);
}

/* ---------------------------------------------------------------- */
/* Stats commands */

static void show_role(void *ctx, int argc, char **argv, struct out *o)
{
	struct pair *p = ctx;
	struct role_view v;

	role_describe(&p->role, clock_mono_ms(), &v);
	out_str(o, "role", role_name(v.role));
	out_str(o, "mode", node_mode_name(p->cfg->node.mode));
	out_u64(o, "epoch", v.epoch);
	out_u64(o, "in_role_s", v.in_role_ms / 1000);
	if (!p->link) {
		out_str(o, "pair", "not configured (a single master)");
		return;
	}
	out_str(o, "peer_link", role_link_name(v.link));
	out_bool(o, "peer_heard", v.peer_heard);
	out_u64(o, "peer_silent_ms", v.silent_ms);
	if (v.peer_role_known)
		out_str(o, "peer_role", role_name(v.peer_role));
	if (v.timer) {
		out_str(o, "timer", v.timer);
		out_u64(o, "timer_left_ms", v.timer_left_ms);
	}
	if (!p->is_master)
		out_str(o, "divert_to", p->master_sip);
	out_str(o, "config_error", v.config_error ? v.config_error_text : "");
	if (!p->is_master)
		out_str(o, "takeover_blocked", v.takeover_blocked ? v.blocked_text : "");
	out_u64(o, "takeovers", v.takeovers);
	out_u64(o, "failbacks", v.failbacks);
}

static void show_peers(void *ctx, int argc, char **argv, struct out *o)
{
	struct pair *p = ctx;
	struct link_info li;
	uint64_t now = clock_mono_ms();

	out_list_begin(o, "peers");
	if (!p->link) {
		out_list_end(o);
		out_str(o, "pair", "not configured (a single master)");
		return;
	}
	link_info(p->link, &li);
	out_obj_begin(o, NULL);
	out_str(o, "role", p->is_master ? "standby" : "master");
	out_str(o, "name", li.peer_name);
	out_str(o, "address", p->is_master ? li.peer_addr : li.addr);
	out_str(o, "state", link_state_name(li.state));
	out_u64(o, "since_s", li.since_ms ? (now - li.since_ms) / 1000 : 0);
	if (p->is_master)
		out_str(o, "listening", li.addr);
	out_str(o, "tls_version", li.tls_version);
	out_str(o, "tls_cipher", li.tls_cipher);
	out_str(o, "fingerprint", li.fingerprint);
	out_str(o, "peer_fingerprint", li.peer_fingerprint);
	if (li.rtt_us >= 0)
		out_double(o, "rtt_ms", (double)li.rtt_us / 1000.0, 3);
	out_u64(o, "peer_epoch", li.peer_epoch);
	out_str(o, "peer_role", link_role_name(li.peer_role));
	out_str(o, "last_error", li.last_error);
	if (li.refusal) {
		out_str(o, "refusal", li.refusal_text);
		out_str(o, "refused_by", li.refused_by_peer ? "peer" : "us");
	}
	out_u64(o, "heartbeat_interval_ms", li.heartbeat_interval_ms);
	out_u64(o, "loss_timeout_ms", li.loss_timeout_ms);
	if (p->app.show)
		p->app.show(p->app.arg, o);
	out_obj_begin(o, "counters");
#define SHOW_LINK_COUNTER(name, help) out_u64(o, #name, li.counters.name);
	LINK_COUNTERS(SHOW_LINK_COUNTER)
#undef SHOW_LINK_COUNTER
	out_obj_end(o);
	out_obj_end(o);
	out_list_end(o);
}

static const struct cli_cmd pair_cmds[] = {
	{ "show role", "", "this node's role, epoch and failover / failback timers", show_role },
	{ "show peers", "", "the other node of the pair: link, TLS, heartbeats, errors", show_peers },
};

unsigned pair_registrations_count(struct pair *p)
{
	return p->peer_up ? 1 : 0;
}

void pair_show_registrations(struct pair *p, struct out *o)
{
	if (!p->peer_up)
		return;
	out_obj_begin(o, NULL);
	/* The master lists its logged-in standby, the standby its master,
	 * the way a standby PBX shows its peer. */
	out_str(o, "aor", p->is_master ? "_STANDBY_" : "_ACTIVE_");
	out_str(o, "name", p->peer_name);
	out_str(o, "address", p->peer_addr);
	out_u64(o, "since_s", (clock_mono_ms() - p->peer_since_ms) / 1000);
	out_list_begin(o, "contacts");
	out_list_end(o);
	out_obj_end(o);
}

void pair_metrics(struct pair *p, struct out *o)
{
	static const struct out_prom m_active = { "role_active", OUT_PROM_GAUGE,
		"1 when this node serves registrations, 0 while it diverts them" };
	static const struct out_prom m_epoch = { "epoch", OUT_PROM_GAUGE,
		"Takeovers of the pair so far" };
	static const struct out_prom m_up = { "pair_link_up", OUT_PROM_GAUGE,
		"1 when the peer is logged in over the link" };
	static const struct out_prom m_err = { "pair_config_error", OUT_PROM_GAUGE,
		"1 when the last login was refused (see show role)" };
	static const struct out_prom m_take = { "pair_takeovers", OUT_PROM_COUNTER,
		"Takeovers by this standby since it started" };
	static const struct out_prom m_back = { "pair_failbacks", OUT_PROM_COUNTER,
		"Hand-backs to the master since this standby started" };
	static const struct out_prom m_rtt = { "pair_rtt_seconds", OUT_PROM_GAUGE,
		"Last heartbeat round trip" };
#define LINK_PROM(name, help) { "link_" #name, OUT_PROM_COUNTER, help },
	static const struct out_prom m_link[] = { LINK_COUNTERS(LINK_PROM) };
#undef LINK_PROM
	struct role_view v;

	role_describe(&p->role, clock_mono_ms(), &v);
	out_prom_metric(o, &m_active, role_serving(&p->role) ? 1 : 0);
	out_prom_metric(o, &m_epoch, v.epoch);
	out_prom_metric(o, &m_take, v.takeovers);
	out_prom_metric(o, &m_back, v.failbacks);
	if (!p->link)
		return;
	out_prom_metric(o, &m_up, p->peer_up ? 1 : 0);
	out_prom_metric(o, &m_err, v.config_error ? 1 : 0);

	struct link_info li;
	link_info(p->link, &li);
	if (li.rtt_us >= 0) {
		out_prom_begin(o, &m_rtt);
		out_prom_sample_double(o, &m_rtt, NULL, 0, (double)li.rtt_us / 1e6);
		out_prom_end(o, &m_rtt);
	}
	const uint64_t *c = (const uint64_t *)&li.counters;
	for (unsigned i = 0; i < sizeof(m_link) / sizeof(m_link[0]); i++)
		out_prom_metric(o, &m_link[i], c[i]);
}

/* ---------------------------------------------------------------- */

int pair_create(const struct pair_params *pp, struct pair **out)
{
	const struct config *cfg = pp->cfg;
	struct pair *p;
	char err[256];
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = cfg;
	p->loop = pp->loop;
	p->is_master = cfg->node.mode == NODE_MASTER;
	p->on_role = pp->on_role;
	p->arg = pp->arg;
	p->app = pp->app;
	p->rtt_us = -1;
	snprintf(p->epoch_path, sizeof(p->epoch_path), "%s/%s", cfg->node.data_dir, EPOCH_FILE);

	struct role_params rp = {
		.is_master = p->is_master,
		.failover_timeout_ms = cfg->pair.failover_timeout_ms,
		.failback_hold_ms = cfg->pair.failback_hold_ms,
	};
	rc = role_init(&p->role, &rp, clock_mono_ms(), read_epoch(p->epoch_path));
	if (rc < 0) {
		log_err("pair", "cannot start the role machine: %s", tdm_strerror(rc));
		free(p);
		return rc;
	}
	if (!p->is_master)
		set_master_sip(p, NULL, 0);

	rc = cli_register(pp->cli, pair_cmds, sizeof(pair_cmds) / sizeof(pair_cmds[0]), p);
	if (rc < 0)
		goto fail;

	if (!p->is_master || cfg->pair.listen_set) {
		struct link_params lp = {
			.is_master = p->is_master,
			.name = cfg->node.name,
			.password = cfg->node.password,
			.addr = p->is_master ? cfg->pair.listen : cfg->pair.master,
			.data_dir = cfg->node.data_dir,
			.tls_cert = cfg->pair.tls_cert,
			.tls_key = cfg->pair.tls_key,
			.heartbeat_interval_ms = cfg->pair.heartbeat_interval_ms,
			.info = pp->info,
			.info_len = pp->info ? (uint32_t)strlen(pp->info) : 0,
			.loop = pp->loop,
			.cb = {
				.on_event = on_link_event,
				.on_heartbeat = on_heartbeat,
				.fill_heartbeat = fill_heartbeat,
				.on_frame = on_frame,
				.on_writable = on_writable,
			},
			.arg = p,
		};
		rc = link_create(&lp, &p->link, err, sizeof(err));
		if (rc < 0) {
			log_err("pair", "[pair] %s", err);
			goto fail;
		}
		char a[TDM_ADDR_STRLEN];
		if (p->is_master)
			log_info("pair", "waiting for a standby on %s",
				 addr_format(&cfg->pair.listen, a, sizeof(a)));
		else
			log_info("pair", "standby of the master at %s; taking over after %u ms "
				 "without it", addr_format(&cfg->pair.master, a, sizeof(a)),
				 cfg->pair.failover_timeout_ms);
	}

	/* The initial role, and the standby's first failover deadline. */
	struct role_event ev = { .type = ROLE_EV_TIMER };
	notify(p);
	step(p, &ev);
	*out = p;
	return 0;
fail:
	pair_destroy(p);
	return rc < 0 ? rc : TDM_ECONFIG;
}

void pair_block_takeover(struct pair *p, const char *why)
{
	struct role_event re = { .type = why ? ROLE_EV_BLOCK : ROLE_EV_UNBLOCK, .text = why };

	if (p->is_master)
		return;
	step(p, &re);
}

bool pair_has_link(const struct pair *p)
{
	return p->link != NULL;
}

int pair_send(struct pair *p, uint8_t type, const void *payload, uint32_t len)
{
	return p->link ? link_send(p->link, type, payload, len) : -ENOTCONN;
}

size_t pair_queued(struct pair *p)
{
	return p->link ? link_queued(p->link) : 0;
}

void pair_drop(struct pair *p, bool malformed, const char *text)
{
	if (p->link)
		link_drop(p->link, malformed, text);
}

void pair_destroy(struct pair *p)
{
	if (!p)
		return;
	loop_timer_stop(p->loop, &p->timer);
	link_destroy(p->link);
	tls_thread_cleanup();
	free(p);
}
