/* SPDX-License-Identifier: MIT */
/*
 * Tests of control/role.c, the pair's role state machine. One test per row
 * of the transition table in docs/pair-roles.md (named as in its "test"
 * column), then flapping links, refused logins, epochs, the master, clock
 * edge cases, hostile inputs, and a seeded randomized property test that
 * drives 100 000 events through standbys and masters and checks the
 * machine against facts the test tracks itself.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "role.h"

#define T 3000u   /* failover_timeout */
#define H 10000u  /* failback_hold */

static struct role_action acts[ROLE_ACTIONS_MAX];
static unsigned nacts;

static void init_standby(struct role_state *st, uint32_t failover, uint32_t hold,
			 uint64_t now, uint64_t epoch)
{
	struct role_params p = {
		.is_master = false,
		.failover_timeout_ms = failover,
		.failback_hold_ms = hold,
	};

	cr_assert_eq(role_init(st, &p, now, epoch), 0);
}

static void init_master(struct role_state *st, uint64_t now, uint64_t epoch)
{
	struct role_params p = { .is_master = true, .failover_timeout_ms = T,
				 .failback_hold_ms = H };

	cr_assert_eq(role_init(st, &p, now, epoch), 0);
}

static unsigned step_ev(struct role_state *st, const struct role_event *ev)
{
	memset(acts, 0x5a, sizeof(acts));
	nacts = role_step(st, ev, acts, ROLE_ACTIONS_MAX);
	cr_assert_leq(nacts, ROLE_ACTIONS_MAX);
	return nacts;
}

static unsigned ev(struct role_state *st, enum role_event_type type, uint64_t now)
{
	struct role_event e = { .type = type, .now_ms = now, .peer_role = ROLE_ACTIVE };

	return step_ev(st, &e);
}

static unsigned ev_epoch(struct role_state *st, enum role_event_type type, uint64_t now,
			 uint64_t peer_epoch)
{
	struct role_event e = { .type = type, .now_ms = now, .peer_epoch = peer_epoch,
				.peer_role = ROLE_ACTIVE };

	return step_ev(st, &e);
}

static unsigned ev_hb(struct role_state *st, uint64_t now, enum role peer_role,
		      uint64_t peer_epoch)
{
	struct role_event e = { .type = ROLE_EV_HEARTBEAT, .now_ms = now,
				.peer_epoch = peer_epoch, .peer_role = peer_role };

	return step_ev(st, &e);
}

static unsigned ev_reason(struct role_state *st, enum role_event_type type, uint64_t now,
			  int code, const char *text)
{
	struct role_event e = { .type = type, .now_ms = now, .reason = code, .text = text };

	return step_ev(st, &e);
}

static unsigned count_kind(enum role_action_kind k)
{
	unsigned c = 0;

	for (unsigned i = 0; i < nacts; i++)
		c += acts[i].kind == k;
	return c;
}

static const struct role_action *find_kind(enum role_action_kind k)
{
	for (unsigned i = 0; i < nacts; i++)
		if (acts[i].kind == k)
			return &acts[i];
	return NULL;
}

static int index_of(enum role_action_kind k)
{
	for (unsigned i = 0; i < nacts; i++)
		if (acts[i].kind == k)
			return (int)i;
	return -1;
}

static bool log_has(const char *needle)
{
	for (unsigned i = 0; i < nacts; i++)
		if (acts[i].kind == ROLE_ACT_LOG && strstr(acts[i].text, needle))
			return true;
	return false;
}

/* The standby's logged-in path: connect, log in, heartbeat. */
static void login(struct role_state *st, uint64_t now, uint64_t master_epoch)
{
	ev(st, ROLE_EV_LINK_UP, now);
	ev_epoch(st, ROLE_EV_LOGGED_IN, now, master_epoch);
}

/* Heartbeats from the master every second in [from, to]. */
static void heartbeats(struct role_state *st, uint64_t from, uint64_t to, uint64_t epoch)
{
	for (uint64_t t = from; t <= to; t += 1000)
		ev_hb(st, t, ROLE_ACTIVE, epoch);
}

/* A standby that took over at time T with epoch 1 (booted at 0, epoch 0). */
static void active_standby(struct role_state *st, uint32_t hold)
{
	init_standby(st, T, hold, 0, 0);
	ev(st, ROLE_EV_TIMER, T);
	cr_assert_eq(role_current(st), ROLE_ACTIVE);
	cr_assert_eq(st->epoch, 1);
}

/* ---- standby: boot and failover ----------------------------------------- */

Test(role, boot_standby_starts_standby_with_failover_deadline)
{
	struct role_state st;
	struct role_view v;

	init_standby(&st, T, H, 5000, 7);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(st.epoch, 7);
	cr_assert_eq(role_next_deadline(&st), 5000 + T);
	cr_assert(!role_serving(&st));
	cr_assert(!role_standby_active(&st));
	role_describe(&st, 5000, &v);
	cr_assert(!v.is_master);
	cr_assert(!v.peer_heard);
	cr_assert_eq(v.link, ROLE_LINK_DOWN);
	cr_assert_str_eq(v.timer, "failover");
	cr_assert_eq(v.timer_left_ms, T);
	cr_assert_eq(v.since_ms, 5000);
	cr_assert_eq(v.epoch, 7);
}

Test(role, boot_master_down_takes_over_exactly_at_failover_timeout)
{
	struct role_state st;

	init_standby(&st, T, H, 1000, 0);
	cr_assert_eq(ev(&st, ROLE_EV_TIMER, 1000 + T - 1), 0);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, 1000 + T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.since_ms, 1000 + T);
	cr_assert(log_has("master not heard since start"));
	cr_assert(role_serving(&st));
	cr_assert(role_standby_active(&st));
}

Test(role, standby_heard_event_pushes_failover_deadline)
{
	static const enum role_event_type heard[] = {
		ROLE_EV_LOGGED_IN, ROLE_EV_LOGIN_REFUSED, ROLE_EV_HEARTBEAT,
	};

	for (unsigned i = 0; i < sizeof(heard) / sizeof(heard[0]); i++) {
		struct role_state st;

		init_standby(&st, T, H, 0, 0);
		ev(&st, heard[i], 2000);
		cr_assert_eq(role_next_deadline(&st), 2000 + T, "%s",
			     role_event_name(heard[i]));
		ev(&st, ROLE_EV_TIMER, T);  /* the boot deadline no longer applies */
		cr_assert_eq(role_current(&st), ROLE_STANDBY);
		ev(&st, ROLE_EV_TIMER, 2000 + T - 1);
		cr_assert_eq(role_current(&st), ROLE_STANDBY);
		ev(&st, ROLE_EV_TIMER, 2000 + T);
		cr_assert_eq(role_current(&st), ROLE_ACTIVE, "%s", role_event_name(heard[i]));
	}
}

Test(role, standby_link_up_is_not_heard)
{
	struct role_state st;
	struct role_view v;

	/* A hung master (SIGSTOP): its kernel completes our TCP handshakes,
	 * its code never answers. The connections are shown, not counted. */
	init_standby(&st, T, H, 0, 0);
	login(&st, 100, 0);
	ev_hb(&st, 500, ROLE_ACTIVE, 0);
	ev_reason(&st, ROLE_EV_LINK_LOST, 1500, 0, "nothing received for loss_timeout");
	ev(&st, ROLE_EV_LINK_UP, 1600);
	cr_assert_eq(st.link, ROLE_LINK_CONNECTED);
	cr_assert(log_has("connected to the master"));
	cr_assert_eq(role_next_deadline(&st), 500 + T, "a connection is not proof of life");
	role_describe(&st, 2000, &v);
	cr_assert_eq(v.link, ROLE_LINK_CONNECTED);
	cr_assert_eq(v.silent_ms, 1500);
	cr_assert_eq(v.timer_left_ms, 500 + T - 2000);
	ev(&st, ROLE_EV_LINK_UP, 500 + T - 1);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, 500 + T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(log_has("nothing heard from the master for 3000ms (failover_timeout 3000ms, "
			  "link connected)"));

	/* at boot, too: connected but never answered is "not heard" */
	init_standby(&st, T, H, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	role_describe(&st, 20, &v);
	cr_assert(!v.peer_heard);
	cr_assert_eq(v.link, ROLE_LINK_CONNECTED);
	ev(&st, ROLE_EV_TIMER, T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(log_has("master not heard since start"));
}

Test(role, standby_failed_connections_logged_once_until_login)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	cr_assert(log_has("connected to the master"));
	ev_reason(&st, ROLE_EV_LINK_LOST, 5010, 0, "TLS and login not completed");
	cr_assert(log_has("link to the master lost: TLS and login not completed"));
	cr_assert_eq(st.link, ROLE_LINK_DOWN);
	/* the next attempts fail the same way: shown, not logged */
	for (uint64_t t = 6000; t < 60000; t += 6000) {
		ev(&st, ROLE_EV_LINK_UP, t);
		cr_assert_eq(st.link, ROLE_LINK_CONNECTED);
		cr_assert(!log_has("connected"), "at %llu", (unsigned long long)t);
		ev_reason(&st, ROLE_EV_LINK_LOST, t + 5000, 0, "TLS and login not completed");
		cr_assert(!log_has("lost"), "at %llu", (unsigned long long)t);
		cr_assert_eq(st.link, ROLE_LINK_DOWN);
	}
	/* a refusal quiets them too */
	login(&st, 61000, 1);
	ev_reason(&st, ROLE_EV_LINK_LOST, 62000, 0, "connection reset");
	cr_assert(log_has("link to the master lost: connection reset"));
	ev(&st, ROLE_EV_LINK_UP, 62100);
	cr_assert(log_has("connected to the master"));
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 62101, 1, "wrong password");
	ev(&st, ROLE_EV_LINK_UP, 63100);
	cr_assert_eq(nacts, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 63101, 1, "wrong password");
	cr_assert_eq(nacts, 0);
	/* after a login, the next connection is news again */
	ev(&st, ROLE_EV_LINK_UP, 64100);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 64101, 1);
	ev_reason(&st, ROLE_EV_LINK_LOST, 65000, 0, "closed");
	ev(&st, ROLE_EV_LINK_UP, 65100);
	cr_assert(log_has("connected to the master"));
}

Test(role, standby_link_lost_keeps_deadline_from_last_heard)
{
	struct role_state st;
	struct role_view v;

	init_standby(&st, T, H, 0, 0);
	login(&st, 100, 0);
	ev_hb(&st, 500, ROLE_ACTIVE, 0);
	ev_reason(&st, ROLE_EV_LINK_LOST, 1100, 0, "3 heartbeats missed");
	cr_assert_eq(st.link, ROLE_LINK_DOWN);
	cr_assert_eq(role_next_deadline(&st), 500 + T);
	cr_assert(log_has("taking over in 2400ms"));
	role_describe(&st, 1100, &v);
	cr_assert_eq(v.silent_ms, 600);
	cr_assert_eq(v.timer_left_ms, 2400);
	ev(&st, ROLE_EV_TIMER, 500 + T - 1);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, 500 + T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(log_has("nothing heard from the master for 3000ms"));
}

Test(role, standby_silence_takes_over_with_epoch_plus_one)
{
	struct role_state st;
	const struct role_action *set, *persist;

	init_standby(&st, T, H, 0, 41);
	login(&st, 10, 41);
	ev_hb(&st, 200, ROLE_ACTIVE, 41);
	ev(&st, ROLE_EV_TIMER, 200 + T);
	cr_assert_eq(nacts, 3);
	cr_assert_eq(acts[0].kind, ROLE_ACT_LOG);
	cr_assert_eq(acts[0].level, LOG_WARN);
	cr_assert(strstr(acts[0].text, "taking over as active, epoch 42"), "%s", acts[0].text);
	persist = find_kind(ROLE_ACT_PERSIST_EPOCH);
	set = find_kind(ROLE_ACT_SET_ROLE);
	cr_assert(persist && set);
	cr_assert_eq(persist->epoch, 42);
	cr_assert_eq(set->role, ROLE_ACTIVE);
	cr_assert_eq(set->epoch, 42);
	/* persisted before anything is served under the new epoch */
	cr_assert_lt(index_of(ROLE_ACT_PERSIST_EPOCH), index_of(ROLE_ACT_SET_ROLE));
	cr_assert_eq(st.epoch, 42);
	cr_assert_eq(st.takeovers, 1);
	/* active: no failover deadline any more */
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	cr_assert_eq(ev(&st, ROLE_EV_TIMER, 1000000), 0);
	cr_assert_eq(st.epoch, 42);
}

/* ---- standby: refused logins --------------------------------------------- */

Test(role, standby_login_refused_sets_config_error_stays_standby)
{
	struct role_state st;
	const struct role_action *ce;
	struct role_view v;

	init_standby(&st, T, H, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 100);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 150, 2, "wrong password");
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(st.link, ROLE_LINK_REFUSED);
	ce = find_kind(ROLE_ACT_CONFIG_ERROR);
	cr_assert(ce);
	cr_assert_eq(ce->code, 2);
	cr_assert_str_eq(ce->text, "wrong password");
	cr_assert(log_has("login refused by the master: wrong password (code 2)"));
	cr_assert(log_has("staying standby"));
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
	role_describe(&st, 150, &v);
	cr_assert(v.config_error);
	cr_assert_eq(v.config_error_code, 2);
	cr_assert_str_eq(v.config_error_text, "wrong password");
	cr_assert_eq(role_next_deadline(&st), 150 + T);
}

Test(role, standby_refusals_forever_never_take_over)
{
	struct role_state st;
	uint64_t now = 0;

	init_standby(&st, T, H, 0, 0);
	/* reconnect with backoff: connect, refused, closed, every 2.9s */
	for (int i = 0; i < 2000; i++) {
		now += T - 100;
		ev(&st, ROLE_EV_TIMER, now);
		cr_assert_eq(role_current(&st), ROLE_STANDBY, "round %d", i);
		ev(&st, ROLE_EV_LINK_UP, now);
		ev_reason(&st, ROLE_EV_LOGIN_REFUSED, now, 3, "duplicate node name");
		ev_reason(&st, ROLE_EV_LINK_LOST, now, 0, "closed by the master");
	}
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(st.epoch, 0);
	cr_assert_eq(st.takeovers, 0);
	cr_assert(st.config_error);
}

Test(role, standby_refusals_stop_then_takes_over)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 1000, 2, "wrong password");
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 3000, 2, "wrong password");
	ev_reason(&st, ROLE_EV_LINK_LOST, 3001, 0, "closed");
	ev(&st, ROLE_EV_TIMER, 3000 + T - 1);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, 3000 + T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.epoch, 1);
	/* the configuration error stays visible until a login succeeds */
	cr_assert(st.config_error);
}

Test(role, standby_login_clears_config_error)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 100, 2, "wrong password");
	ev_reason(&st, ROLE_EV_LINK_LOST, 101, 0, "closed");
	cr_assert(st.config_error);
	ev(&st, ROLE_EV_LINK_UP, 2000);
	cr_assert(st.config_error);
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_OK), 0);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 2001, 0);
	cr_assert(!st.config_error);
	cr_assert_str_eq(st.config_error_text, "");
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_OK), 1);
	cr_assert(log_has("configuration error cleared"));
	/* a second login has nothing to clear */
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 2002, 0);
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_OK), 0);
	cr_assert(!log_has("cleared"));
}

Test(role, standby_repeated_refusal_logged_once)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 100, 2, "wrong password");
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_ERROR), 1);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 200, 2, "wrong password");
	cr_assert_eq(nacts, 0);
	/* a different reason is news */
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 300, 4, "protocol version 2 not supported");
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_ERROR), 1);
	cr_assert_str_eq(st.config_error_text, "protocol version 2 not supported");
	/* same text, other code: news too */
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 400, 5, "protocol version 2 not supported");
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_ERROR), 1);
	cr_assert_eq(st.config_error_code, 5);
}

Test(role, standby_flapping_link_never_switches)
{
	struct role_state st;
	uint64_t now = 0;

	init_standby(&st, T, H, 0, 3);
	login(&st, 0, 3);
	for (int i = 0; i < 5000; i++) {
		/* down for up to T - 1 ms, then back: connected only (not a
		 * word from the master), or logged in; every event within T
		 * of the last word */
		if (now + 1 - st.last_heard_ms < T)
			now++;
		ev_reason(&st, ROLE_EV_LINK_LOST, now, 0, "connection reset");
		now += (uint64_t)(i % (int)T);
		if (now - st.last_heard_ms >= T)
			now = st.last_heard_ms + T - 1;
		if (i % 2)
			ev(&st, ROLE_EV_LINK_UP, now);
		else
			login(&st, now, 3);
		cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0, "round %d", i);
		cr_assert_eq(role_current(&st), ROLE_STANDBY);
	}
	cr_assert_eq(st.epoch, 3);
	cr_assert_eq(st.takeovers, 0);
}

/* ---- standby, active: failback ------------------------------------------- */

Test(role, active_logged_in_starts_failback_hold)
{
	struct role_state st;
	struct role_view v;

	active_standby(&st, H);
	login(&st, 20000, 0);
	cr_assert(st.hold_running);
	cr_assert(log_has("handing back in 10000ms"));
	cr_assert_eq(st.hold_start_ms, 20000);
	/* the next check is the silence check; the hold ends at 20000 + H */
	cr_assert_eq(role_next_deadline(&st), 20000 + T);
	role_describe(&st, 21000, &v);
	cr_assert_str_eq(v.timer, "failback_hold");
	cr_assert_eq(v.timer_left_ms, H - 1000);
	cr_assert_eq(v.link, ROLE_LINK_LOGGED_IN);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, active_hold_elapsed_returns_to_standby)
{
	struct role_state st;
	const struct role_action *set;
	uint64_t now = 20000;

	active_standby(&st, H);
	login(&st, now, 0);
	/* heartbeats every 200ms; the master adopts our epoch 1 from ours */
	while (now + 200 < 20000 + H) {
		now += 200;
		ev_hb(&st, now, ROLE_ACTIVE, 1);
		cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	}
	ev(&st, ROLE_EV_TIMER, 20000 + H - 1);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	ev(&st, ROLE_EV_TIMER, 20000 + H);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	set = find_kind(ROLE_ACT_SET_ROLE);
	cr_assert(set);
	cr_assert_eq(set->role, ROLE_STANDBY);
	cr_assert_eq(set->epoch, 1);
	/* epoch unchanged at failback: nothing to persist */
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 0);
	cr_assert_eq(st.epoch, 1);
	cr_assert_eq(st.failbacks, 1);
	cr_assert_eq(st.since_ms, 20000 + H);
	cr_assert(!role_serving(&st));
	/* back to supervising: failover counted from the last heartbeat */
	cr_assert_eq(role_next_deadline(&st), now + T);
}

Test(role, active_hold_zero_hands_back_at_login)
{
	struct role_state st;

	active_standby(&st, 0);
	ev(&st, ROLE_EV_LINK_UP, 5000);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 5000, 0);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 1);
	cr_assert_eq(st.epoch, 1);
	cr_assert_eq(role_next_deadline(&st), 5000 + T);
}

Test(role, active_link_lost_cancels_hold)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	heartbeats(&st, 21000, 25000, 1);
	ev_reason(&st, ROLE_EV_LINK_LOST, 25100, 0, "connection reset");
	cr_assert(!st.hold_running);
	cr_assert(log_has("failback hold cancelled after 5100ms"));
	cr_assert(log_has("connection reset"));
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	ev(&st, ROLE_EV_TIMER, 20000 + H);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, active_hold_restarts_from_next_login)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	heartbeats(&st, 21000, 24000, 1);
	ev_reason(&st, ROLE_EV_LINK_LOST, 25000, 0, "closed");
	cr_assert(log_has("failback hold cancelled after 5000ms"));
	/* a heartbeat that slips in on a down link does not restart it */
	ev_hb(&st, 25001, ROLE_ACTIVE, 1);
	cr_assert(!st.hold_running);
	ev(&st, ROLE_EV_LINK_UP, 26000);
	cr_assert(!st.hold_running);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 26100, 1);
	cr_assert(st.hold_running);
	cr_assert_eq(st.hold_start_ms, 26100);
	for (uint64_t t = 26300; t < 26100 + H; t += 200)
		ev_hb(&st, t, ROLE_ACTIVE, 1);
	ev(&st, ROLE_EV_TIMER, 26100 + H - 1);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	ev(&st, ROLE_EV_TIMER, 26100 + H);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
}

Test(role, active_new_connection_cancels_hold)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	ev(&st, ROLE_EV_LINK_UP, 22000);
	cr_assert(!st.hold_running);
	cr_assert(log_has("a new connection replaced the logged-in one"));
	cr_assert_eq(st.link, ROLE_LINK_CONNECTED);
	ev(&st, ROLE_EV_TIMER, 20000 + H);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, active_login_refused_keeps_serving_and_cancels_hold)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 21000, 6, "another standby is logged in");
	cr_assert(!st.hold_running);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_ERROR), 1);
	cr_assert(log_has("staying active until it accepts us"));
	cr_assert(log_has("failback hold cancelled"));
	ev(&st, ROLE_EV_TIMER, 20000 + H);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, active_login_refused_does_not_start_hold)
{
	struct role_state st;

	active_standby(&st, 0);  /* even with a hold of 0 */
	for (uint64_t t = 5000; t < 200000; t += 1000) {
		ev(&st, ROLE_EV_LINK_UP, t);
		ev_reason(&st, ROLE_EV_LOGIN_REFUSED, t + 1, 2, "wrong password");
		ev_hb(&st, t + 2, ROLE_ACTIVE, 0);
		cr_assert_eq(role_current(&st), ROLE_ACTIVE);
		cr_assert(!st.hold_running);
	}
	cr_assert(st.config_error);
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
}

Test(role, active_silent_master_cancels_hold)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	ev_hb(&st, 21000, ROLE_ACTIVE, 1);
	/* heartbeats stop, the link layer says nothing */
	cr_assert_eq(role_next_deadline(&st), 21000 + T);
	ev(&st, ROLE_EV_TIMER, 21000 + T - 1);
	cr_assert(st.hold_running);
	ev(&st, ROLE_EV_TIMER, 21000 + T);
	cr_assert(!st.hold_running);
	cr_assert(log_has("nothing heard from the master for 3000ms"));
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	ev(&st, ROLE_EV_TIMER, 20000 + H);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, active_heartbeat_after_silence_restarts_hold)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	ev(&st, ROLE_EV_TIMER, 20000 + T);
	cr_assert(!st.hold_running);
	ev_hb(&st, 24000, ROLE_ACTIVE, 1);
	cr_assert(st.hold_running);
	cr_assert_eq(st.hold_start_ms, 24000);
	for (uint64_t t = 24200; t < 24000 + H; t += 200)
		ev_hb(&st, t, ROLE_ACTIVE, 1);
	ev(&st, ROLE_EV_TIMER, 24000 + H);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
}

Test(role, active_takeover_with_link_marked_up_starts_hold_on_heartbeat)
{
	struct role_state st;

	/* the master froze without the link layer noticing */
	init_standby(&st, T, H, 0, 0);
	login(&st, 100, 0);
	ev(&st, ROLE_EV_TIMER, 100 + T);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.link, ROLE_LINK_LOGGED_IN);
	cr_assert(!st.hold_running);
	ev_hb(&st, 5000, ROLE_ACTIVE, 0);
	cr_assert(st.hold_running);
	cr_assert_eq(role_next_deadline(&st), 5000 + T);  /* silence first */
}

Test(role, active_link_lost_without_hold_stays_active)
{
	struct role_state st;

	active_standby(&st, H);
	ev(&st, ROLE_EV_LINK_UP, 4000);
	ev_reason(&st, ROLE_EV_LINK_LOST, 4100, 0, "TLS handshake failed");
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(log_has("link to the master lost: TLS handshake failed; staying active"));
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
	/* a loss on a link already down is not logged again */
	ev_reason(&st, ROLE_EV_LINK_LOST, 4200, 0, "connect refused");
	cr_assert_eq(nacts, 0);
}

/* ---- epochs -------------------------------------------------------------- */

Test(role, epoch_increments_once_per_takeover)
{
	struct role_state st;
	uint64_t now = 0;

	init_standby(&st, T, H, 0, 10);
	for (uint64_t i = 1; i <= 50; i++) {
		now = role_next_deadline(&st);
		ev(&st, ROLE_EV_TIMER, now);
		cr_assert_eq(role_current(&st), ROLE_ACTIVE);
		cr_assert_eq(st.epoch, 10 + i);
		cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 1);
		/* no second takeover while active, whatever the time */
		ev(&st, ROLE_EV_TIMER, now + 10 * T);
		cr_assert_eq(st.epoch, 10 + i);
		login(&st, now + 10 * T, 10 + i);
		heartbeats(&st, now + 10 * T + 1000, now + 10 * T + H - 1000, 10 + i);
		ev(&st, ROLE_EV_TIMER, now + 10 * T + H);
		cr_assert_eq(role_current(&st), ROLE_STANDBY);
		cr_assert_eq(st.epoch, 10 + i);
	}
	cr_assert_eq(st.takeovers, 50);
	cr_assert_eq(st.failbacks, 50);
}

Test(role, epoch_adopted_when_peer_higher)
{
	struct role_state st;
	const struct role_action *p;

	init_standby(&st, T, H, 0, 2);
	ev(&st, ROLE_EV_LINK_UP, 10);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 20, 9);
	cr_assert_eq(st.epoch, 9);
	p = find_kind(ROLE_ACT_PERSIST_EPOCH);
	cr_assert(p);
	cr_assert_eq(p->epoch, 9);
	cr_assert(log_has("adopting the master's epoch 9 (ours was 2)"));
	ev_hb(&st, 30, ROLE_ACTIVE, 12);
	cr_assert_eq(st.epoch, 12);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 1);
	/* the next takeover continues from the adopted epoch */
	ev(&st, ROLE_EV_TIMER, 30 + T);
	cr_assert_eq(st.epoch, 13);
	/* only LOGGED_IN and HEARTBEAT carry an epoch */
	ev_epoch(&st, ROLE_EV_LINK_UP, 40 + T, 100);
	cr_assert_eq(st.epoch, 13);
}

Test(role, epoch_never_decreases_on_lower_peer_epoch)
{
	struct role_state st;

	active_standby(&st, H);
	/* the master is back with its old epoch 0; we are at 1 */
	login(&st, 9000, 0);
	ev_hb(&st, 9200, ROLE_ACTIVE, 0);
	cr_assert_eq(st.epoch, 1);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 0);
	ev_hb(&st, 9400, ROLE_ACTIVE, 1);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 0);
}

Test(role, epoch_saturates_at_max)
{
	struct role_state st;

	init_standby(&st, T, H, 0, UINT64_MAX - 1);
	ev(&st, ROLE_EV_TIMER, T);
	cr_assert_eq(st.epoch, UINT64_MAX);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 1);
	login(&st, 2 * T, 0);
	heartbeats(&st, 2 * T + 1000, 2 * T + H, 0);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, role_next_deadline(&st));
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.epoch, UINT64_MAX);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 0);
	cr_assert(log_has("epoch at its maximum"));
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 1);
}

/* ---- the master ---------------------------------------------------------- */

Test(role, master_starts_active_without_deadline)
{
	struct role_state st;
	struct role_view v;

	init_master(&st, 100, 5);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(role_serving(&st));
	cr_assert(!role_standby_active(&st));
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	role_describe(&st, 200, &v);
	cr_assert(v.is_master);
	cr_assert_null(v.timer);
	cr_assert_eq(v.timer_left_ms, 0);
	cr_assert_eq(v.in_role_ms, 100);
	cr_assert_eq(v.epoch, 5);
}

Test(role, master_never_changes_role)
{
	struct role_state st;
	uint64_t now = 0;

	init_master(&st, 0, 0);
	for (int i = 0; i < 3000; i++) {
		now += (uint64_t)(i % 7) * 5000;
		ev(&st, (enum role_event_type)(i % 6), now);
		cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
		cr_assert_eq(role_current(&st), ROLE_ACTIVE);
		cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	}
	ev(&st, ROLE_EV_TIMER, UINT64_MAX);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.since_ms, 0);
}

Test(role, master_tracks_standby_link)
{
	struct role_state st;
	struct role_view v;

	init_master(&st, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	cr_assert_eq(st.link, ROLE_LINK_CONNECTED);
	cr_assert(log_has("a standby connected"));
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 20, 0);
	cr_assert_eq(st.link, ROLE_LINK_LOGGED_IN);
	cr_assert(log_has("the standby logged in"));
	ev_hb(&st, 220, ROLE_STANDBY, 0);
	role_describe(&st, 300, &v);
	cr_assert(v.peer_heard);
	cr_assert_eq(v.silent_ms, 80);
	cr_assert(v.peer_role_known);
	cr_assert_eq(v.peer_role, ROLE_STANDBY);
	cr_assert_eq(v.link_since_ms, 20);
	ev_reason(&st, ROLE_EV_LINK_LOST, 900, 0, "heartbeats missed");
	cr_assert_eq(st.link, ROLE_LINK_DOWN);
	cr_assert(!st.peer_role_known);
	cr_assert(log_has("link to the standby lost: heartbeats missed"));
}

Test(role, master_connection_next_to_logged_in_standby_keeps_it)
{
	struct role_state st;
	struct role_view v;

	init_master(&st, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	cr_assert(!st.heard, "a connection is not proof of life");
	login(&st, 20, 0);
	/* a second standby (or a port scanner) connects */
	ev(&st, ROLE_EV_LINK_UP, 30);
	cr_assert_eq(nacts, 0);
	role_describe(&st, 40, &v);
	cr_assert_eq(v.link, ROLE_LINK_LOGGED_IN);
	cr_assert_eq(v.link_since_ms, 20);
	cr_assert_eq(v.silent_ms, 20);
}

Test(role, master_refusal_sets_config_error_login_clears)
{
	struct role_state st;

	init_master(&st, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 11, 3, "same node name as the master");
	cr_assert_eq(st.link, ROLE_LINK_REFUSED);
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_ERROR), 1);
	cr_assert(log_has("refused a standby's login: same node name as the master (code 3)"));
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 12, 3, "same node name as the master");
	cr_assert_eq(nacts, 0);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 5000, 0);
	cr_assert(!st.config_error);
	cr_assert_eq(count_kind(ROLE_ACT_CONFIG_OK), 1);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, master_logs_standby_active_report)
{
	struct role_state st;

	init_master(&st, 0, 0);
	login(&st, 10, 0);
	ev_hb(&st, 20, ROLE_STANDBY, 0);
	cr_assert_eq(nacts, 0);  /* the normal case is quiet */
	ev_hb(&st, 30, ROLE_ACTIVE, 1);
	cr_assert(log_has("the standby reports role active (epoch 1)"));
	ev_hb(&st, 40, ROLE_ACTIVE, 1);
	cr_assert_eq(nacts, 0);
	ev_hb(&st, 50, ROLE_STANDBY, 1);
	cr_assert(log_has("back in the standby role"));
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, master_adopts_higher_standby_epoch)
{
	struct role_state st;
	const struct role_action *p;

	init_master(&st, 0, 4);
	ev(&st, ROLE_EV_LINK_UP, 10);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 11, 5);
	cr_assert_eq(st.epoch, 5);
	p = find_kind(ROLE_ACT_PERSIST_EPOCH);
	cr_assert(p);
	cr_assert_eq(p->epoch, 5);
	cr_assert(log_has("adopting the standby's epoch 5 (ours was 4)"));
	ev_hb(&st, 20, ROLE_ACTIVE, 3);
	cr_assert_eq(st.epoch, 5);
	ev_hb(&st, 30, ROLE_ACTIVE, 6);
	cr_assert_eq(st.epoch, 6);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
}

/* ---- clock edge cases ---------------------------------------------------- */

Test(role, clock_same_time_twice_is_harmless)
{
	struct role_state st;

	init_standby(&st, T, H, 500, 0);
	ev(&st, ROLE_EV_TIMER, 500);
	cr_assert_eq(nacts, 0);
	ev_hb(&st, 600, ROLE_ACTIVE, 0);
	ev_hb(&st, 600, ROLE_ACTIVE, 0);
	cr_assert_eq(role_next_deadline(&st), 600 + T);
	ev(&st, ROLE_EV_TIMER, 600 + T);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 1);
	ev(&st, ROLE_EV_TIMER, 600 + T);
	cr_assert_eq(nacts, 0);
	cr_assert_eq(st.epoch, 1);
}

Test(role, clock_backwards_is_clamped)
{
	struct role_state st;
	struct role_view v;

	init_standby(&st, T, H, 10000, 0);
	ev(&st, ROLE_EV_HEARTBEAT, 12000);
	/* an event stamped in the past counts at the latest time seen */
	ev(&st, ROLE_EV_HEARTBEAT, 1);
	cr_assert_eq(st.last_heard_ms, 12000);
	cr_assert_eq(st.now_ms, 12000);
	cr_assert_eq(role_next_deadline(&st), 12000 + T);
	ev(&st, ROLE_EV_TIMER, 0);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	role_describe(&st, 0, &v);
	cr_assert_eq(v.timer_left_ms, T);
	cr_assert_eq(v.silent_ms, 0);
}

Test(role, clock_event_exactly_at_deadline_expires)
{
	struct role_state st;

	/* a heartbeat that lands exactly on the deadline comes too late */
	init_standby(&st, T, H, 0, 0);
	ev_hb(&st, 1000, ROLE_ACTIVE, 0);
	ev_hb(&st, 1000 + T, ROLE_ACTIVE, 0);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.epoch, 1);
	/* and the hold deadline, likewise, at >= */
	active_standby(&st, H);
	login(&st, 20000, 0);
	for (uint64_t t = 20000 + 2000; t <= 20000 + H; t += 2000)
		ev_hb(&st, t, ROLE_ACTIVE, 1);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
}

Test(role, clock_huge_jump_single_timer_one_takeover)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	login(&st, 100, 0);
	ev(&st, ROLE_EV_TIMER, 100 + 1000ull * 3600 * 24 * 365);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 1);
	cr_assert_eq(count_kind(ROLE_ACT_PERSIST_EPOCH), 1);
	cr_assert_eq(st.epoch, 1);
	cr_assert_eq(st.takeovers, 1);
	ev(&st, ROLE_EV_TIMER, UINT64_MAX - 1);
	cr_assert_eq(nacts, 0);
	cr_assert_eq(st.epoch, 1);
}

Test(role, clock_huge_jump_during_hold_does_not_hand_back)
{
	struct role_state st;

	active_standby(&st, H);
	login(&st, 20000, 0);
	/* frozen past both the hold and the silence deadline */
	ev(&st, ROLE_EV_TIMER, 20000 + 100 * H);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(!st.hold_running);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
	cr_assert_eq(st.epoch, 1);
}

Test(role, clock_late_event_settles_deadline_first)
{
	struct role_state st;
	int take, back;

	/* a login arriving long after the deadline: the takeover happened
	 * first, then the login; with a hold of 0 both in one step */
	init_standby(&st, T, 0, 0, 0);
	ev(&st, ROLE_EV_LINK_UP, 10);
	ev_epoch(&st, ROLE_EV_LOGGED_IN, 10 + 5 * T, 0);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 2);
	take = index_of(ROLE_ACT_SET_ROLE);
	cr_assert_eq(acts[take].role, ROLE_ACTIVE);
	back = -1;
	for (unsigned i = (unsigned)take + 1; i < nacts; i++)
		if (acts[i].kind == ROLE_ACT_SET_ROLE)
			back = (int)i;
	cr_assert_eq(acts[back].role, ROLE_STANDBY);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(st.epoch, 1);
}

Test(role, clock_time_zero_and_near_max)
{
	struct role_state st;

	init_standby(&st, 1, 0, 0, 0);
	cr_assert_eq(role_next_deadline(&st), 1);
	ev(&st, ROLE_EV_TIMER, 0);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_TIMER, 1);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);

	/* a deadline past the end of time saturates to "none" */
	init_standby(&st, T, H, UINT64_MAX - 10, 0);
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	ev(&st, ROLE_EV_TIMER, UINT64_MAX);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);

	init_standby(&st, T, H, UINT64_MAX - T - 1, 0);
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX - 1);
	ev(&st, ROLE_EV_TIMER, UINT64_MAX - 1);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	login(&st, UINT64_MAX - 1, 0);
	cr_assert(st.hold_running);
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
}

Test(role, spurious_timer_is_harmless)
{
	struct role_state st, before;

	init_standby(&st, T, H, 0, 0);
	login(&st, 100, 0);
	memcpy(&before, &st, sizeof(st));
	for (uint64_t t = 100; t < 100 + T; t += 7) {
		cr_assert_eq(ev(&st, ROLE_EV_TIMER, t), 0);
		before.now_ms = t;
		cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0);
	}
	active_standby(&st, H);
	login(&st, 20000, 0);
	cr_assert_eq(ev(&st, ROLE_EV_TIMER, 20001), 0);
	cr_assert(st.hold_running);
}

Test(role, init_refuses_zero_failover_timeout_for_standby)
{
	struct role_state st;
	struct role_params p = { .is_master = false, .failover_timeout_ms = 0,
				 .failback_hold_ms = 0 };

	cr_assert_eq(role_init(&st, &p, 0, 0), TDM_ECONFIG);
	p.is_master = true;
	cr_assert_eq(role_init(&st, &p, 0, 0), 0);
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX);
	cr_assert_lt(role_init(NULL, &p, 0, 0), 0);
	cr_assert_lt(role_init(&st, NULL, 0, 0), 0);
}

/* ---- hostile and odd inputs ---------------------------------------------- */

Test(role, unknown_event_type_changes_nothing)
{
	struct role_state st, before;
	struct role_event e = { .type = (enum role_event_type)99, .now_ms = 1000000 };

	init_standby(&st, T, H, 0, 0);
	memcpy(&before, &st, sizeof(st));
	cr_assert_eq(step_ev(&st, &e), 0);
	cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0);
	e.type = (enum role_event_type)-1;
	cr_assert_eq(step_ev(&st, &e), 0);
	cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0);
	cr_assert_eq(role_step(NULL, &e, acts, ROLE_ACTIONS_MAX), 0);
	cr_assert_eq(role_step(&st, NULL, acts, ROLE_ACTIONS_MAX), 0);
}

Test(role, hostile_reason_text_is_sanitized_and_cut)
{
	struct role_state st;
	char big[4096];

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 10, -1, "bad\n2026 err [role] forged\x1b[31m\x7f\xc3\xa9");
	cr_assert_str_eq(st.config_error_text, "bad?2026 err [role] forged?[31m???");
	for (unsigned i = 0; i < nacts; i++)
		for (const char *p = acts[i].text; *p; p++)
			cr_assert(*p >= 0x20 && *p < 0x7f);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 20, 1, big);
	cr_assert_eq(strlen(st.config_error_text), ROLE_REASON_MAX - 1);
	cr_assert(log_has("login refused by the master: xxxx"));
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 30, 1, NULL);
	cr_assert_str_eq(st.config_error_text, "no reason given");
	ev_reason(&st, ROLE_EV_LOGIN_REFUSED, 40, 1, "");
	cr_assert_str_eq(st.config_error_text, "no reason given");
	cr_assert_eq(nacts, 0);  /* same code and text as before */
	ev_reason(&st, ROLE_EV_LINK_LOST, 50, 0, big);
	cr_assert(log_has("link to the master lost: xxx"));
}

Test(role, peer_role_invalid_is_ignored)
{
	struct role_state st;

	init_master(&st, 0, 0);
	login(&st, 1, 0);
	ev_hb(&st, 2, (enum role)77, 0);
	cr_assert(!st.peer_role_known);
	cr_assert_eq(st.last_heard_ms, 2);  /* still proof of life */
	ev_hb(&st, 3, ROLE_STANDBY, 0);
	cr_assert(st.peer_role_known);
}

Test(role, small_action_buffer_drops_surplus_but_changes_state)
{
	struct role_state st;
	struct role_action one[1];
	struct role_event e = { .type = ROLE_EV_TIMER, .now_ms = T };

	init_standby(&st, T, H, 0, 0);
	memset(one, 0, sizeof(one));
	cr_assert_eq(role_step(&st, &e, one, 1), 3);
	cr_assert_eq(one[0].kind, ROLE_ACT_LOG);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.epoch, 1);

	init_standby(&st, T, H, 0, 0);
	cr_assert_eq(role_step(&st, &e, NULL, 5), 3);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

Test(role, names_are_total)
{
	cr_assert_str_eq(role_name(ROLE_STANDBY), "standby");
	cr_assert_str_eq(role_name(ROLE_ACTIVE), "active");
	cr_assert_str_eq(role_name((enum role)9), "?");
	cr_assert_str_eq(role_link_name(ROLE_LINK_DOWN), "down");
	cr_assert_str_eq(role_link_name(ROLE_LINK_CONNECTED), "connected");
	cr_assert_str_eq(role_link_name(ROLE_LINK_LOGGED_IN), "logged in");
	cr_assert_str_eq(role_link_name(ROLE_LINK_REFUSED), "refused");
	cr_assert_str_eq(role_link_name((enum role_link)-3), "?");
	cr_assert_str_eq(role_event_name(ROLE_EV_LINK_LOST), "link lost");
	cr_assert_str_eq(role_event_name(ROLE_EV_BLOCK), "takeover blocked");
	cr_assert_str_eq(role_event_name((enum role_event_type)8), "?");
	cr_assert_str_eq(role_action_name(ROLE_ACT_PERSIST_EPOCH), "persist epoch");
	cr_assert_str_eq(role_action_name((enum role_action_kind)5), "?");
}

Test(role, describe_reports_timers_and_link)
{
	struct role_state st;
	struct role_view v;

	init_standby(&st, T, H, 1000, 0);
	role_describe(&st, 1000 + T + 500, &v);  /* overdue: 0 left */
	cr_assert_str_eq(v.timer, "failover");
	cr_assert_eq(v.timer_left_ms, 0);
	cr_assert_eq(v.silent_ms, T + 500);
	ev(&st, ROLE_EV_TIMER, 1000 + T);
	role_describe(&st, 1000 + T + 10, &v);
	cr_assert_null(v.timer);
	cr_assert_eq(v.role, ROLE_ACTIVE);
	cr_assert_eq(v.in_role_ms, 10);
	cr_assert_eq(v.takeovers, 1);
	cr_assert_str_eq(v.config_error_text, "");
	cr_assert(!v.config_error);
}

/* ---- randomized property test -------------------------------------------- */

/* ---- standby: takeover blocked (licenses) -------------------------------- */

Test(role, a_blocked_standby_stays_standby_past_the_failover_timeout_and_says_why)
{
	struct role_state st;
	struct role_view v;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_BLOCK, 10, 0, "2 standby licenses for the master's 5 ports");
	cr_assert(log_has("not allowed"));
	ev(&st, ROLE_EV_TIMER, T);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(st.epoch, 0);
	cr_assert_eq(count_kind(ROLE_ACT_SET_ROLE), 0);
	cr_assert(log_has("standby licenses"), "the log says why");
	cr_assert_eq(role_next_deadline(&st), UINT64_MAX, "no busy timer while blocked");
	role_describe(&st, T + 5, &v);
	cr_assert(v.takeover_blocked);
	cr_assert_str_eq(v.blocked_text, "2 standby licenses for the master's 5 ports");

	/* Reported once, not at every later event. */
	ev(&st, ROLE_EV_TIMER, T + 1000);
	cr_assert_eq(nacts, 0);
}

Test(role, unblocking_after_the_deadline_takes_over_at_once)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_BLOCK, 0, 0, "no standby licenses");
	ev(&st, ROLE_EV_TIMER, T + 500);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	ev(&st, ROLE_EV_UNBLOCK, T + 900);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert_eq(st.epoch, 1);
	cr_assert_lt(index_of(ROLE_ACT_PERSIST_EPOCH), index_of(ROLE_ACT_SET_ROLE));
}

Test(role, unblocking_while_the_master_is_heard_changes_nothing)
{
	struct role_state st;

	init_standby(&st, T, H, 0, 0);
	ev_reason(&st, ROLE_EV_BLOCK, 0, 0, "no standby licenses");
	login(&st, 100, 0);
	heartbeats(&st, 1000, 2 * T, 0);
	ev(&st, ROLE_EV_UNBLOCK, 2 * T + 10);
	cr_assert_eq(role_current(&st), ROLE_STANDBY);
	cr_assert_eq(role_next_deadline(&st), 2 * T + T);
}

Test(role, a_block_while_active_keeps_serving)
{
	struct role_state st;

	active_standby(&st, H);
	ev_reason(&st, ROLE_EV_BLOCK, T + 10, 0, "no standby licenses");
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
	cr_assert(log_has("staying active"));
}

Test(role, a_master_ignores_blocks)
{
	struct role_state st;

	init_master(&st, 0, 0);
	cr_assert_eq(ev_reason(&st, ROLE_EV_BLOCK, 10, 0, "x"), 0);
	cr_assert_eq(role_current(&st), ROLE_ACTIVE);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd(uint64_t n)
{
	return n ? rng() % n : 0;
}

/* What the test knows independently of the machine. */
struct model {
	bool master;
	uint32_t t, h;
	uint64_t now;
	uint64_t last_heard;
	bool logged_in;           /* no link loss / new link / refusal since */
	uint64_t logged_in_since;
	enum role role;           /* as told by SET_ROLE actions */
	uint64_t epoch;
	bool blocked;             /* takeover not allowed */
};

static void check_step(struct role_state *st, struct model *m, const struct role_event *e,
		       uint64_t deadline_before)
{
	uint64_t now = e->now_ms > m->now ? e->now_ms : m->now;
	bool was_silent = !m->master && now - m->last_heard >= m->t &&
			  m->last_heard <= UINT64_MAX - m->t;
	enum role role_before = m->role;
	/* a hold of 0 hands back during the LOGGED_IN event itself */
	bool logged_in = m->logged_in || e->type == ROLE_EV_LOGGED_IN;
	uint64_t logged_in_since = m->logged_in ? m->logged_in_since : now;
	uint64_t last_heard = e->type == ROLE_EV_LOGGED_IN || e->type == ROLE_EV_HEARTBEAT ?
				      now : m->last_heard;
	bool took_over = false;
	uint64_t epoch_before = m->epoch;
	/* Deadlines are settled before the event applies, so a BLOCK does
	 * not stop a takeover due at its time; an UNBLOCK releases one. */
	bool may_take_over = was_silent && (!m->blocked || e->type == ROLE_EV_UNBLOCK);

	cr_assert_leq(nacts, ROLE_ACTIONS_MAX);
	if (e->type == ROLE_EV_TIMER && now < deadline_before)
		cr_assert_eq(nacts, 0, "early timer produced actions");
	for (unsigned i = 0; i < nacts; i++) {
		const struct role_action *a = &acts[i];

		cr_assert_leq((unsigned)a->kind, ROLE_ACT_CONFIG_OK);
		if (a->kind == ROLE_ACT_PERSIST_EPOCH) {
			cr_assert_gt(a->epoch, m->epoch, "epoch decreased or repeated");
			m->epoch = a->epoch;
		} else if (a->kind == ROLE_ACT_SET_ROLE) {
			cr_assert(!m->master, "a master changed role");
			cr_assert_neq(a->role, m->role, "SET_ROLE without a change");
			cr_assert_eq(a->epoch, m->epoch);
			if (a->role == ROLE_ACTIVE) {
				cr_assert(may_take_over, "took over while the master was heard, "
					  "or while blocked");
				cr_assert_eq(m->epoch, epoch_before == UINT64_MAX ? UINT64_MAX
								: epoch_before + 1);
				took_over = true;
			} else {
				cr_assert(logged_in, "handed back without a login");
				cr_assert_geq(now - logged_in_since, m->h,
					      "handed back before failback_hold");
				cr_assert_lt(now - last_heard, m->t,
					     "handed back to a silent master");
			}
			m->role = a->role;
		}
	}
	if (!m->master && role_before == ROLE_STANDBY && may_take_over)
		cr_assert(took_over, "silent for failover_timeout but no takeover");
	cr_assert_eq(m->role, role_current(st), "role changed without SET_ROLE");
	cr_assert_eq(m->epoch, st->epoch, "epoch changed without PERSIST_EPOCH");
	cr_assert_gt(role_next_deadline(st), now, "a deadline is already due");

	/* update the test's own view */
	m->now = now;
	switch (e->type) {
	case ROLE_EV_LINK_UP:
		/* not heard: a hung peer's kernel completes TCP handshakes */
		m->logged_in = false;
		break;
	case ROLE_EV_LOGGED_IN:
		m->last_heard = now;
		if (!m->logged_in)
			m->logged_in_since = now;
		m->logged_in = true;
		break;
	case ROLE_EV_LOGIN_REFUSED:
		m->last_heard = now;
		m->logged_in = false;
		break;
	case ROLE_EV_HEARTBEAT:
		m->last_heard = now;
		break;
	case ROLE_EV_LINK_LOST:
		m->logged_in = false;
		break;
	case ROLE_EV_TIMER:
		break;
	case ROLE_EV_BLOCK:
		m->blocked = !m->master;
		break;
	case ROLE_EV_UNBLOCK:
		m->blocked = false;
		break;
	}
}

static void run_random(uint64_t seed, unsigned events)
{
	struct role_state st;
	struct model m = { 0 };
	uint64_t start;

	rng_state = seed;
	m.master = rnd(5) == 0;
	m.t = (uint32_t)(1 + rnd(rnd(3) ? 5000 : 20));
	m.h = rnd(4) == 0 ? 0 : (uint32_t)rnd(rnd(3) ? 20000 : 30);
	start = rnd(3) == 0 ? 0 : rnd(1ull << 40);
	m.epoch = rnd(4) == 0 ? 0 : rnd(1000);
	m.now = start;
	m.last_heard = start;
	m.role = m.master ? ROLE_ACTIVE : ROLE_STANDBY;
	if (m.master)
		init_master(&st, start, m.epoch);
	else
		init_standby(&st, m.t, m.h, start, m.epoch);

	for (unsigned i = 0; i < events; i++) {
		struct role_event e = { 0 };
		uint64_t dl = role_next_deadline(&st);
		uint64_t r = rnd(100);

		if (r < 20 && dl != UINT64_MAX) {
			e.type = ROLE_EV_TIMER;
			e.now_ms = dl;              /* the loop, on time */
		} else {
			e.type = (enum role_event_type)rnd(8);
			r = rnd(100);
			if (r < 10)
				e.now_ms = m.now;   /* same time */
			else if (r < 13)
				e.now_ms = m.now - rnd(m.now < 5000 ? m.now + 1 : 5000);
			else if (r < 15)
				e.now_ms = m.now + rnd(100ull * m.t + 1000);  /* a jump */
			else
				e.now_ms = m.now + rnd(m.t / 2 + 2);
		}
		e.peer_role = (enum role)rnd(3);  /* 2 is invalid */
		r = rnd(10);
		e.peer_epoch = r < 6 ? m.epoch : r < 8 ? m.epoch + rnd(3) : rnd(m.epoch + 1);
		e.reason = (int)rnd(4);
		e.text = rnd(2) ? "wrong password" : NULL;

		memset(acts, 0x5a, sizeof(acts));
		nacts = role_step(&st, &e, acts, ROLE_ACTIONS_MAX);
		check_step(&st, &m, &e, dl);
	}
}

Test(role, property_random_events_keep_the_invariants, .timeout = 120)
{
	/* 100 seeds x 1000 events = 100 000 events */
	for (uint64_t seed = 1; seed <= 100; seed++)
		run_random(seed * 0x9E3779B97F4A7C15ull, 1000);
}
