/* SPDX-License-Identifier: MIT */
/*
 * The role state machine of the master/standby pair (DESIGN.md §1,
 * docs/pair-roles.md).
 *
 * A pure module: no I/O, no clock reads, no globals, no allocation. The
 * control thread owns a struct role_state, feeds it events stamped with the
 * monotonic time, and executes the actions role_step() returns, in order.
 *
 * - A master is always active. Its machine only tracks the standby's link
 *   (for `show role` / `show peers`) and adopts a higher epoch heard from
 *   the standby, so that both nodes agree after a failover.
 * - A standby is in role STANDBY (diverts every request to the master) or
 *   ACTIVE (took over: serves registrations). It takes over when it has
 *   heard nothing at all from the master for failover_timeout (every
 *   takeover increments the epoch), and hands back after the master has
 *   been logged in, and heard, continuously for failback_hold.
 *
 * Time. now_ms is monotonic milliseconds. A now_ms smaller than one seen
 * before is treated as the largest seen so far (time never runs backwards
 * inside the machine). A deadline is reached when now >= deadline. Every
 * role_step() first settles the deadlines reached at now_ms (whatever the
 * event type), then applies the event: ROLE_EV_TIMER only advances the
 * clock, so a spurious or early timer is harmless, and a late one does
 * exactly what an on-time one would have done, once.
 *
 * Integration (the caller's side):
 * - after role_init(), publish { role_current(), st.epoch } to the workers;
 * - after each role_step(), call it again with ROLE_EV_TIMER when
 *   now >= role_next_deadline() (UINT64_MAX: no deadline);
 * - execute the actions in order (see enum role_action_kind); if the list
 *   held a ROLE_ACT_SET_ROLE or ROLE_ACT_PERSIST_EPOCH, publish
 *   { role_current(), st.epoch } to the workers once after the list;
 * - pass max_actions >= ROLE_ACTIONS_MAX: then no action is ever lost.
 */
#ifndef TANDEM_ROLE_H
#define TANDEM_ROLE_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* The most actions one role_step() produces. */
#define ROLE_ACTIONS_MAX 12
/* A refusal / link-loss reason kept by the machine, NUL included. */
#define ROLE_REASON_MAX 128
/* One log line produced by the machine, NUL included. */
#define ROLE_LOG_MAX 256

/* X(name, text): the roles. A master is always ROLE_ACTIVE. */
#define ROLE_ROLES(X)                                                         \
	X(ROLE_STANDBY, "standby")                                             \
	X(ROLE_ACTIVE, "active")

enum role {
#define ROLE_ENUM(name, text) name,
	ROLE_ROLES(ROLE_ENUM)
#undef ROLE_ENUM
};

/* X(name, text): the link to the peer as the machine knows it. */
#define ROLE_LINKS(X)                                                         \
	X(ROLE_LINK_DOWN, "down")                                              \
	X(ROLE_LINK_CONNECTED, "connected")                                    \
	X(ROLE_LINK_LOGGED_IN, "logged in")                                    \
	X(ROLE_LINK_REFUSED, "refused")

enum role_link {
#define ROLE_ENUM(name, text) name,
	ROLE_LINKS(ROLE_ENUM)
#undef ROLE_ENUM
};

/*
 * X(name, text, heard): the events. "heard" marks the events that prove
 * the peer is alive (each pushes the standby's failover deadline): only
 * what the peer's code answers. role_step() applies it from this table.
 *
 * ROLE_EV_LINK_UP        a TCP connection to the peer is up (standby:
 *                        connected; master: accepted). Not heard: the
 *                        kernel completes handshakes for a peer that is
 *                        hung (SIGSTOP, a stuck control thread). Shown as
 *                        link "connected"; on the standby it cancels a
 *                        failback hold (the logged-in link has ended).
 * ROLE_EV_LOGGED_IN      standby: the master accepted our login;
 *                        master: a standby logged in. peer_epoch is the
 *                        peer's epoch.
 * ROLE_EV_LOGIN_REFUSED  standby: the master refused our login; master:
 *                        we refused a standby. reason + text say why.
 * ROLE_EV_HEARTBEAT      a heartbeat from the peer: peer_role, peer_epoch.
 * ROLE_EV_LINK_LOST      the connection closed or heartbeats stopped,
 *                        or a connection reported by LINK_UP ended before
 *                        a login: reason + text say why.
 * ROLE_EV_TIMER          the time passed; see role_next_deadline().
 * ROLE_EV_BLOCK          standby: taking over is not allowed (text: why,
 *                        e.g. too few standby licenses). A standby that
 *                        reaches its failover deadline stays standby and
 *                        says why; one already active stays active.
 * ROLE_EV_UNBLOCK        standby: taking over is allowed again (at once,
 *                        if the master has been silent long enough).
 */
#define ROLE_EVENTS(X)                                                        \
	X(ROLE_EV_LINK_UP, "link up", false)                                   \
	X(ROLE_EV_LOGGED_IN, "logged in", true)                                \
	X(ROLE_EV_LOGIN_REFUSED, "login refused", true)                        \
	X(ROLE_EV_HEARTBEAT, "heartbeat", true)                                \
	X(ROLE_EV_LINK_LOST, "link lost", false)                               \
	X(ROLE_EV_TIMER, "timer", false)                                       \
	X(ROLE_EV_BLOCK, "takeover blocked", false)                            \
	X(ROLE_EV_UNBLOCK, "takeover allowed", false)

enum role_event_type {
#define ROLE_ENUM(name, text, heard) name,
	ROLE_EVENTS(ROLE_ENUM)
#undef ROLE_ENUM
};

struct role_event {
	enum role_event_type type;
	uint64_t now_ms;        /* monotonic */
	uint64_t peer_epoch;    /* LOGGED_IN, HEARTBEAT */
	enum role peer_role;    /* HEARTBEAT */
	/*
	 * LOGIN_REFUSED, LINK_LOST: the caller's code (the replication
	 * protocol's refusal code or a negative tdm error) and a text (may be
	 * NULL; it may come from the wire: it is copied, cut to
	 * ROLE_REASON_MAX - 1 bytes, and control bytes become '?').
	 */
	int reason;
	const char *text;
};

/*
 * X(name, text): what the caller must do, in the order given.
 *
 * ROLE_ACT_LOG            write text at level (subsystem tag "role").
 * ROLE_ACT_PERSIST_EPOCH  epoch changed: store it durably before going on
 *                         (a takeover lists it before its SET_ROLE, so an
 *                         epoch is on disk before anything is served under
 *                         it). If the write fails, log it and carry on
 *                         serving.
 * ROLE_ACT_SET_ROLE       the role changed to role (epoch: the epoch now in
 *                         force). Emitted only on a real change.
 * ROLE_ACT_CONFIG_ERROR   a login was refused: show text (code: reason)
 *                         as the pair's configuration error.
 * ROLE_ACT_CONFIG_OK      a login succeeded: clear the configuration error.
 */
#define ROLE_ACTIONS(X)                                                       \
	X(ROLE_ACT_LOG, "log")                                                 \
	X(ROLE_ACT_PERSIST_EPOCH, "persist epoch")                             \
	X(ROLE_ACT_SET_ROLE, "set role")                                       \
	X(ROLE_ACT_CONFIG_ERROR, "config error")                               \
	X(ROLE_ACT_CONFIG_OK, "config ok")

enum role_action_kind {
#define ROLE_ENUM(name, text) name,
	ROLE_ACTIONS(ROLE_ENUM)
#undef ROLE_ENUM
};

struct role_action {
	enum role_action_kind kind;
	enum role role;            /* SET_ROLE */
	uint64_t epoch;            /* SET_ROLE, PERSIST_EPOCH */
	enum log_level level;      /* LOG */
	int code;                  /* CONFIG_ERROR */
	char text[ROLE_LOG_MAX];   /* LOG, CONFIG_ERROR; "" otherwise */
};

struct role_params {
	bool is_master;
	/* Standby: take over after this long without a word from the master.
	 * At least 1 (role_init refuses 0 for a standby). */
	uint32_t failover_timeout_ms;
	/* Standby: hand back after the master has been logged in this long.
	 * 0: at the login. */
	uint32_t failback_hold_ms;
};

/*
 * The machine's state. The caller owns it; read it through the functions
 * below (or role_describe) and change it only through role_init/role_step.
 */
struct role_state {
	struct role_params params;
	enum role role;
	uint64_t epoch;
	uint64_t since_ms;          /* when the current role was entered */
	uint64_t now_ms;            /* the largest time seen */
	enum role_link link;
	uint64_t link_since_ms;
	bool heard;                 /* anything heard from the peer since init */
	bool conn_logged;           /* the current connection's LINK_UP was logged */
	bool conns_quiet;           /* a connection failed before login since the
	                             * last login: the next ones are not logged */
	uint64_t last_heard_ms;     /* init time until heard */
	bool peer_role_known;
	enum role peer_role;
	bool hold_running;          /* standby, ACTIVE: failback hold */
	uint64_t hold_start_ms;
	bool config_error;
	int config_error_code;
	char config_error_text[ROLE_REASON_MAX];
	uint64_t takeovers;         /* since init */
	uint64_t failbacks;         /* since init */
	bool blocked;               /* standby: may not take over */
	bool block_reported;        /* the deadline passed while blocked (logged) */
	char blocked_text[ROLE_REASON_MAX];
};

/* What `show role` prints, computed at a given time. */
struct role_view {
	bool is_master;
	enum role role;
	uint64_t epoch;
	uint64_t since_ms;          /* monotonic time the role was entered */
	uint64_t in_role_ms;        /* how long ago */
	enum role_link link;
	uint64_t link_since_ms;
	bool peer_heard;            /* false: nothing heard since start */
	uint64_t silent_ms;         /* since the last word from the peer (or
	                             * since start when nothing was heard) */
	bool peer_role_known;
	enum role peer_role;        /* from the last heartbeat */
	bool config_error;
	int config_error_code;
	const char *config_error_text;  /* "" when none; points into the state */
	const char *timer;          /* "failover", "failback_hold" or NULL */
	uint64_t timer_left_ms;     /* 0 when due or when no timer runs */
	uint64_t takeovers;
	uint64_t failbacks;
	bool takeover_blocked;
	const char *blocked_text;   /* "" when not blocked; points into the state */
};

/*
 * Start the machine at now_ms with the epoch stored on disk (0 when none).
 * A master starts ACTIVE; a standby starts STANDBY with the master not yet
 * heard and its failover deadline at now_ms + failover_timeout, so a
 * standby that boots while the master is down still takes over.
 * Returns 0, or TDM_ECONFIG (st is then unusable) when a standby's
 * failover_timeout_ms is 0.
 */
int role_init(struct role_state *st, const struct role_params *params,
	      uint64_t now_ms, uint64_t epoch);

/*
 * Apply one event. Writes up to max_actions actions (actions may be NULL
 * when max_actions is 0) and returns how many the step produced, which is
 * at most ROLE_ACTIONS_MAX; with a smaller max_actions the surplus is
 * dropped but the state still changes (so always pass ROLE_ACTIONS_MAX).
 * An unknown event type changes nothing and returns 0.
 */
unsigned role_step(struct role_state *st, const struct role_event *ev,
		   struct role_action *actions, unsigned max_actions);

/* The next time role_step must run (with ROLE_EV_TIMER if nothing else
 * happens); UINT64_MAX when there is none. Always later than st->now_ms. */
uint64_t role_next_deadline(const struct role_state *st);

/* Fill out as of now_ms (clamped to st->now_ms at the least). */
void role_describe(const struct role_state *st, uint64_t now_ms, struct role_view *out);

enum role role_current(const struct role_state *st);
/* The node accepts registrations: a master, or a standby that took over. */
bool role_serving(const struct role_state *st);
/* A standby that took over: the registrar caps expiry at
 * [pair] active_max_expires. */
bool role_standby_active(const struct role_state *st);

/* Names for output; "?" for an unknown value. Never NULL. */
const char *role_name(enum role r);
const char *role_link_name(enum role_link l);
const char *role_event_name(enum role_event_type t);
const char *role_action_name(enum role_action_kind k);

#endif
