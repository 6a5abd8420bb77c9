/* SPDX-License-Identifier: MIT */
/*
 * The role state machine of the master/standby pair (role.h; the operator's
 * view with every transition is docs/pair-roles.md).
 *
 * The standby's whole timing rests on one time, last_heard_ms: the last
 * event that proved the master alive (logged in, login refused, heartbeat:
 * the "heard" column of ROLE_EVENTS), or the start when nothing was heard
 * yet. A TCP connection (link up) is not among them: the kernel of a hung
 * master still completes handshakes. Its silence deadline is
 * last_heard + failover_timeout:
 * - in role STANDBY, reaching it is a takeover (role ACTIVE, epoch + 1);
 * - in role ACTIVE, reaching it cancels a running failback hold: the
 *   machine never hands back to a master it has not heard for
 *   failover_timeout, even if the link layer has not reported the loss.
 * In role ACTIVE the failback hold runs while the link is logged in and the
 * master is heard; it starts at LOGGED_IN (or at the first heartbeat of a
 * logged-in link after a silence cancelled it) and is cancelled by a link
 * loss, a new connection, a refused login, or silence. When it has run for
 * failback_hold the standby returns to STANDBY with its epoch unchanged.
 *
 * Deadlines are settled as of the event's time before the event is applied
 * (standby_expire), so the result does not depend on whether the caller
 * delivered the TIMER before or after another event of the same loop turn,
 * and a late TIMER (a frozen process, a paused VM) does the work once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "role.h"

/* ---- names --------------------------------------------------------------- */

static const char *const role_names[] = {
#define ROLE_NAME(name, text) [name] = text,
	ROLE_ROLES(ROLE_NAME)
#undef ROLE_NAME
};

static const char *const link_names[] = {
#define ROLE_NAME(name, text) [name] = text,
	ROLE_LINKS(ROLE_NAME)
#undef ROLE_NAME
};

static const struct {
	const char *name;
	bool heard;   /* proves the peer alive */
} event_info[] = {
#define ROLE_INFO(name, text, heard) [name] = { text, heard },
	ROLE_EVENTS(ROLE_INFO)
#undef ROLE_INFO
};

static const char *const action_names[] = {
#define ROLE_NAME(name, text) [name] = text,
	ROLE_ACTIONS(ROLE_NAME)
#undef ROLE_NAME
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *role_name(enum role r)
{
	return (unsigned)r < N_OF(role_names) ? role_names[r] : "?";
}

const char *role_link_name(enum role_link l)
{
	return (unsigned)l < N_OF(link_names) ? link_names[l] : "?";
}

const char *role_event_name(enum role_event_type t)
{
	return (unsigned)t < N_OF(event_info) ? event_info[t].name : "?";
}

const char *role_action_name(enum role_action_kind k)
{
	return (unsigned)k < N_OF(action_names) ? action_names[k] : "?";
}

/* ---- helpers ------------------------------------------------------------- */

/* A saturated sum is UINT64_MAX, which means "never" for a deadline. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static bool reached(uint64_t now, uint64_t deadline)
{
	return deadline != UINT64_MAX && now >= deadline;
}

static uint64_t elapsed(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

static uint64_t silence_deadline(const struct role_state *st)
{
	return add_sat(st->last_heard_ms, st->params.failover_timeout_ms);
}

static uint64_t hold_deadline(const struct role_state *st)
{
	return add_sat(st->hold_start_ms, st->params.failback_hold_ms);
}

/*
 * Copy a reason that may come from the wire: printable ASCII only (anything
 * else becomes '?', so a log line or a terminal cannot be tampered with),
 * cut to cap - 1 bytes. NULL or "" becomes "no reason given".
 */
static void copy_reason(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	if (!src || !*src)
		src = "no reason given";
	for (; src[i] != '\0' && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[i] = '\0';
}

static const char *peer_name(const struct role_state *st)
{
	return st->params.is_master ? "the standby" : "the master";
}

/* ---- action list --------------------------------------------------------- */

/* Actions past max are counted but not written (role.h). */
struct emit {
	struct role_action *a;
	unsigned max;
	unsigned n;
};

static struct role_action *emit_slot(struct emit *e, enum role_action_kind kind)
{
	struct role_action *a = NULL;

	if (e->n < e->max) {
		a = &e->a[e->n];
		a->kind = kind;
		a->role = ROLE_STANDBY;
		a->epoch = 0;
		a->level = LOG_INFO;
		a->code = 0;
		a->text[0] = '\0';
	}
	e->n++;
	return a;
}

static void emit_log(struct emit *e, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void emit_log(struct emit *e, enum log_level level, const char *fmt, ...)
{
	struct role_action *a = emit_slot(e, ROLE_ACT_LOG);
	va_list ap;

	if (!a)
		return;
	a->level = level;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

static void emit_persist(struct emit *e, uint64_t epoch)
{
	struct role_action *a = emit_slot(e, ROLE_ACT_PERSIST_EPOCH);

	if (a)
		a->epoch = epoch;
}

static void emit_set_role(struct emit *e, enum role role, uint64_t epoch)
{
	struct role_action *a = emit_slot(e, ROLE_ACT_SET_ROLE);

	if (a) {
		a->role = role;
		a->epoch = epoch;
	}
}

static void emit_config_error(struct emit *e, int code, const char *text)
{
	struct role_action *a = emit_slot(e, ROLE_ACT_CONFIG_ERROR);

	if (a) {
		a->code = code;
		snprintf(a->text, sizeof(a->text), "%s", text);
	}
}

/* ---- state changes shared by both modes ---------------------------------- */

static void heard(struct role_state *st, uint64_t now)
{
	st->heard = true;
	st->last_heard_ms = now;
	st->block_reported = false;
}

static void set_link(struct role_state *st, enum role_link link, uint64_t now)
{
	if (st->link != link) {
		st->link = link;
		st->link_since_ms = now;
	}
}

/*
 * A TCP connection to the peer is up. Returns true when it is to be
 * logged: connections are logged until one ends before a login (refused,
 * or closed), then not again until a login succeeds, so that a peer that
 * keeps refusing us, or a hung one whose kernel still accepts, does not
 * flood the log at every retry.
 */
static bool link_up(struct role_state *st, uint64_t now)
{
	set_link(st, ROLE_LINK_CONNECTED, now);
	st->conn_logged = !st->conns_quiet;
	return st->conn_logged;
}

/* The link is down. Returns true when that is to be logged: not when it
 * was down already, nor for a connection whose LINK_UP was not logged. */
static bool link_down(struct role_state *st, uint64_t now)
{
	enum role_link was = st->link;

	st->peer_role_known = false;
	if (was == ROLE_LINK_DOWN)
		return false;
	set_link(st, ROLE_LINK_DOWN, now);
	if (was != ROLE_LINK_CONNECTED)
		return true;
	st->conns_quiet = true;
	return st->conn_logged;
}

/* Both nodes adopt a higher epoch so that they agree after a failover. */
static void adopt_epoch(struct role_state *st, uint64_t peer_epoch, struct emit *e)
{
	if (peer_epoch <= st->epoch)
		return;
	emit_log(e, LOG_INFO, "adopting %s's epoch %llu (ours was %llu)", peer_name(st),
		 (unsigned long long)peer_epoch, (unsigned long long)st->epoch);
	st->epoch = peer_epoch;
	emit_persist(e, st->epoch);
}

/* A successful login clears the configuration error. Returns true if one
 * was set. */
static bool clear_config_error(struct role_state *st, struct emit *e)
{
	if (!st->config_error)
		return false;
	st->config_error = false;
	st->config_error_code = 0;
	st->config_error_text[0] = '\0';
	emit_slot(e, ROLE_ACT_CONFIG_OK);
	return true;
}

/*
 * A refused login sets the configuration error. Logged and announced once
 * per distinct reason, so a peer that keeps reconnecting does not flood the
 * log. Returns true if the error is new.
 */
static bool set_config_error(struct role_state *st, const struct role_event *ev,
			     struct emit *e)
{
	char text[ROLE_REASON_MAX];

	copy_reason(text, sizeof(text), ev->text);
	if (st->config_error && st->config_error_code == ev->reason &&
	    strcmp(st->config_error_text, text) == 0)
		return false;
	st->config_error = true;
	st->config_error_code = ev->reason;
	memcpy(st->config_error_text, text, sizeof(text));
	emit_config_error(e, ev->reason, st->config_error_text);
	return true;
}

static void set_peer_role(struct role_state *st, const struct role_event *ev, struct emit *e)
{
	bool was_known = st->peer_role_known;
	enum role was = st->peer_role;

	if ((unsigned)ev->peer_role >= N_OF(role_names))
		return;
	st->peer_role_known = true;
	st->peer_role = ev->peer_role;
	if (!st->params.is_master || (was_known && was == ev->peer_role))
		return;
	if (ev->peer_role == ROLE_ACTIVE)
		emit_log(e, LOG_WARN,
			 "the standby reports role active (epoch %llu): it took over and "
			 "serves registrations until it hands back",
			 (unsigned long long)ev->peer_epoch);
	else if (was_known)
		emit_log(e, LOG_INFO, "the standby is back in the standby role (epoch %llu)",
			 (unsigned long long)ev->peer_epoch);
}

/* ---- the master ---------------------------------------------------------- */

static void master_event(struct role_state *st, const struct role_event *ev, uint64_t now,
			 struct emit *e)
{
	char reason[ROLE_REASON_MAX];
	bool cleared;

	switch (ev->type) {
	case ROLE_EV_LINK_UP:
		/* A connection next to a logged-in standby does not replace
		 * it: the link layer refuses it, or reports its login. */
		if (st->link == ROLE_LINK_LOGGED_IN)
			break;
		if (link_up(st, now))
			emit_log(e, LOG_INFO, "a standby connected");
		break;
	case ROLE_EV_LOGGED_IN:
		adopt_epoch(st, ev->peer_epoch, e);
		set_link(st, ROLE_LINK_LOGGED_IN, now);
		st->conns_quiet = false;
		cleared = clear_config_error(st, e);
		emit_log(e, LOG_INFO, "the standby logged in (standby epoch %llu)%s",
			 (unsigned long long)ev->peer_epoch,
			 cleared ? "; configuration error cleared" : "");
		break;
	case ROLE_EV_LOGIN_REFUSED:
		set_link(st, ROLE_LINK_REFUSED, now);
		st->conns_quiet = true;
		if (set_config_error(st, ev, e))
			emit_log(e, LOG_ERR, "refused a standby's login: %s (code %d)",
				 st->config_error_text, ev->reason);
		break;
	case ROLE_EV_HEARTBEAT:
		adopt_epoch(st, ev->peer_epoch, e);
		set_peer_role(st, ev, e);
		break;
	case ROLE_EV_LINK_LOST:
		if (!link_down(st, now))
			break;
		copy_reason(reason, sizeof(reason), ev->text);
		emit_log(e, LOG_WARN, "link to the standby lost: %s", reason);
		break;
	case ROLE_EV_TIMER:
	case ROLE_EV_BLOCK:     /* a master never takes over: nothing to block */
	case ROLE_EV_UNBLOCK:
		break;
	}
}

/* ---- the standby --------------------------------------------------------- */

static void takeover(struct role_state *st, uint64_t now, struct emit *e)
{
	uint64_t silent = elapsed(now, st->last_heard_ms);
	bool bumped = st->epoch != UINT64_MAX;

	st->role = ROLE_ACTIVE;
	st->since_ms = now;
	st->hold_running = false;
	st->takeovers++;
	if (bumped)
		st->epoch++;
	else	/* 2^64 takeovers cannot happen; only a broken peer gets here. */
		emit_log(e, LOG_ERR, "epoch at its maximum: this active period reuses it");
	emit_log(e, LOG_WARN,
		 "%s for %llums (failover_timeout %ums, link %s): taking over as active, "
		 "epoch %llu",
		 st->heard ? "nothing heard from the master" : "master not heard since start",
		 (unsigned long long)silent, st->params.failover_timeout_ms,
		 role_link_name(st->link), (unsigned long long)st->epoch);
	if (bumped)
		emit_persist(e, st->epoch);
	emit_set_role(e, ROLE_ACTIVE, st->epoch);
}

static void handback(struct role_state *st, uint64_t now, struct emit *e)
{
	uint64_t held = elapsed(now, st->hold_start_ms);

	st->role = ROLE_STANDBY;
	st->since_ms = now;
	st->hold_running = false;
	st->failbacks++;
	emit_log(e, LOG_INFO,
		 "master logged in for %llums (failback_hold %ums): returning to the "
		 "standby role, epoch %llu; requests go to the master again",
		 (unsigned long long)held, st->params.failback_hold_ms,
		 (unsigned long long)st->epoch);
	emit_set_role(e, ROLE_STANDBY, st->epoch);
}

static void cancel_hold(struct role_state *st, uint64_t now, struct emit *e, const char *why)
{
	if (!st->hold_running)
		return;
	st->hold_running = false;
	emit_log(e, LOG_WARN,
		 "failback hold cancelled after %llums of %ums: %s; staying active",
		 (unsigned long long)elapsed(now, st->hold_start_ms),
		 st->params.failback_hold_ms, why);
}

/* Role ACTIVE, link logged in, master heard: the hold runs (or, with a hold
 * of 0, the standby hands back at once). */
static void start_hold(struct role_state *st, uint64_t now, struct emit *e)
{
	if (st->role != ROLE_ACTIVE || st->link != ROLE_LINK_LOGGED_IN || st->hold_running)
		return;
	st->hold_running = true;
	st->hold_start_ms = now;
	if (st->params.failback_hold_ms == 0) {
		handback(st, now, e);
		return;
	}
	emit_log(e, LOG_INFO,
		 "the master is logged in: handing back in %ums (failback_hold) unless "
		 "the link drops",
		 st->params.failback_hold_ms);
}

/* Settle the deadlines reached at now. At most one role change: a takeover
 * leaves no hold running, and a hand-back happens only while the master is
 * not silent, so the new silence deadline lies ahead. */
static void standby_expire(struct role_state *st, uint64_t now, struct emit *e)
{
	char why[96];
	bool silent = reached(now, silence_deadline(st));

	if (st->role == ROLE_STANDBY) {
		if (silent && !st->blocked) {
			takeover(st, now, e);
		} else if (silent && !st->block_reported) {
			st->block_reported = true;
			emit_log(e, LOG_ERR,
				 "nothing heard from the master for %llums, but taking over is "
				 "not allowed: %s; staying standby",
				 (unsigned long long)elapsed(now, st->last_heard_ms),
				 st->blocked_text);
		}
		return;
	}
	if (!st->hold_running)
		return;
	if (silent) {
		/* Checked first: a late evaluation never hands back to a
		 * master that is silent now. */
		snprintf(why, sizeof(why), "nothing heard from the master for %llums",
			 (unsigned long long)elapsed(now, st->last_heard_ms));
		cancel_hold(st, now, e, why);
		return;
	}
	if (reached(now, hold_deadline(st)))
		handback(st, now, e);
}

static void standby_event(struct role_state *st, const struct role_event *ev, uint64_t now,
			  struct emit *e)
{
	char reason[ROLE_REASON_MAX];
	char why[ROLE_REASON_MAX + 32];
	bool cleared;

	switch (ev->type) {
	case ROLE_EV_LINK_UP:
		cancel_hold(st, now, e, "a new connection replaced the logged-in one");
		if (link_up(st, now))
			emit_log(e, LOG_INFO,
				 "connected to the master; waiting for its answer to our "
				 "login (a connection alone does not count as heard)");
		break;
	case ROLE_EV_LOGGED_IN:
		adopt_epoch(st, ev->peer_epoch, e);
		set_link(st, ROLE_LINK_LOGGED_IN, now);
		st->conns_quiet = false;
		cleared = clear_config_error(st, e);
		emit_log(e, LOG_INFO, "logged in to the master (master epoch %llu)%s",
			 (unsigned long long)ev->peer_epoch,
			 cleared ? "; configuration error cleared" : "");
		start_hold(st, now, e);
		break;
	case ROLE_EV_LOGIN_REFUSED:
		cancel_hold(st, now, e, "the master refused our login");
		set_link(st, ROLE_LINK_REFUSED, now);
		st->conns_quiet = true;
		if (set_config_error(st, ev, e))
			emit_log(e, LOG_ERR,
				 "login refused by the master: %s (code %d); the master is "
				 "alive, %s",
				 st->config_error_text, ev->reason,
				 st->role == ROLE_STANDBY ? "staying standby"
							  : "staying active until it accepts us");
		break;
	case ROLE_EV_HEARTBEAT:
		adopt_epoch(st, ev->peer_epoch, e);
		set_peer_role(st, ev, e);
		start_hold(st, now, e);
		break;
	case ROLE_EV_LINK_LOST:
		copy_reason(reason, sizeof(reason), ev->text);
		snprintf(why, sizeof(why), "link to the master lost (%s)", reason);
		cancel_hold(st, now, e, why);
		if (!link_down(st, now))
			break;
		if (st->role == ROLE_STANDBY)
			emit_log(e, LOG_WARN,
				 "link to the master lost: %s; taking over in %llums unless "
				 "the master is heard",
				 reason,
				 (unsigned long long)elapsed(silence_deadline(st), now));
		else
			emit_log(e, LOG_WARN, "link to the master lost: %s; staying active",
				 reason);
		break;
	case ROLE_EV_TIMER:
		break;
	case ROLE_EV_BLOCK:
		copy_reason(reason, sizeof(reason), ev->text);
		if (st->blocked && strcmp(reason, st->blocked_text) == 0)
			break;
		/* Newly blocked: the deadline lies ahead (a due one was settled
		 * before this event). Blocked already: keep what was reported. */
		if (!st->blocked)
			st->block_reported = false;
		st->blocked = true;
		memcpy(st->blocked_text, reason, sizeof(st->blocked_text));
		emit_log(e, LOG_WARN, "taking over is not allowed: %s%s", reason,
			 st->role == ROLE_ACTIVE ? " (already active: staying active)" : "");
		break;
	case ROLE_EV_UNBLOCK:
		if (!st->blocked)
			break;
		st->blocked = false;
		st->block_reported = false;
		st->blocked_text[0] = '\0';
		emit_log(e, LOG_INFO, "taking over is allowed again");
		/* A master silent for long enough is taken over now. */
		standby_expire(st, now, e);
		break;
	}
}

/* ---- API ----------------------------------------------------------------- */

int role_init(struct role_state *st, const struct role_params *params, uint64_t now_ms,
	      uint64_t epoch)
{
	if (!st || !params)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if (!params->is_master && params->failover_timeout_ms == 0)
		return TDM_ECONFIG;
	st->params = *params;
	st->role = params->is_master ? ROLE_ACTIVE : ROLE_STANDBY;
	st->epoch = epoch;
	st->since_ms = now_ms;
	st->now_ms = now_ms;
	st->link = ROLE_LINK_DOWN;
	st->link_since_ms = now_ms;
	st->heard = false;
	st->last_heard_ms = now_ms;
	return 0;
}

unsigned role_step(struct role_state *st, const struct role_event *ev,
		   struct role_action *actions, unsigned max_actions)
{
	struct emit e = { .a = actions, .max = actions ? max_actions : 0, .n = 0 };
	uint64_t now;

	if (!st || !ev || (unsigned)ev->type >= N_OF(event_info))
		return 0;
	now = ev->now_ms > st->now_ms ? ev->now_ms : st->now_ms;
	st->now_ms = now;
	if (st->params.is_master) {
		if (event_info[ev->type].heard)
			heard(st, now);
		master_event(st, ev, now, &e);
	} else {
		/* What was due before the event first: a word that comes at
		 * or after the deadline is too late. */
		standby_expire(st, now, &e);
		if (event_info[ev->type].heard)
			heard(st, now);
		standby_event(st, ev, now, &e);
	}
	return e.n;
}

uint64_t role_next_deadline(const struct role_state *st)
{
	uint64_t silent, hold;

	if (st->params.is_master)
		return UINT64_MAX;
	silent = silence_deadline(st);
	if (st->role == ROLE_STANDBY)
		/* Blocked past the deadline: nothing to do until unblocked or
		 * the master is heard. */
		return st->blocked && reached(st->now_ms, silent) ? UINT64_MAX : silent;
	if (!st->hold_running)
		return UINT64_MAX;
	hold = hold_deadline(st);
	return hold < silent ? hold : silent;
}

void role_describe(const struct role_state *st, uint64_t now_ms, struct role_view *out)
{
	uint64_t now = now_ms > st->now_ms ? now_ms : st->now_ms;
	uint64_t dl = UINT64_MAX;

	*out = (struct role_view){
		.is_master = st->params.is_master,
		.role = st->role,
		.epoch = st->epoch,
		.since_ms = st->since_ms,
		.in_role_ms = elapsed(now, st->since_ms),
		.link = st->link,
		.link_since_ms = st->link_since_ms,
		.peer_heard = st->heard,
		.silent_ms = elapsed(now, st->last_heard_ms),
		.peer_role_known = st->peer_role_known,
		.peer_role = st->peer_role,
		.config_error = st->config_error,
		.config_error_code = st->config_error_code,
		.config_error_text = st->config_error_text,
		.timer = NULL,
		.timer_left_ms = 0,
		.takeovers = st->takeovers,
		.failbacks = st->failbacks,
		.takeover_blocked = st->blocked,
		.blocked_text = st->blocked_text,
	};
	if (st->params.is_master)
		return;
	if (st->role == ROLE_STANDBY) {
		out->timer = "failover";
		dl = silence_deadline(st);
	} else if (st->hold_running) {
		out->timer = "failback_hold";
		dl = hold_deadline(st);
	}
	if (out->timer)
		out->timer_left_ms = elapsed(dl, now);
}

enum role role_current(const struct role_state *st)
{
	return st->role;
}

bool role_serving(const struct role_state *st)
{
	return st->params.is_master || st->role == ROLE_ACTIVE;
}

bool role_standby_active(const struct role_state *st)
{
	return !st->params.is_master && st->role == ROLE_ACTIVE;
}
