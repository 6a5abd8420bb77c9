/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for replication/objsync.c: a master and a standby objsync
 * connected back to back through an in-memory "link", each with a real
 * store in a temporary directory. Full snapshot, live changes, a reconnect
 * that sends only what was missed, a journal too short for that, a link
 * lost mid-snapshot, flow control, and hostile or out-of-place messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "frame.h"
#include "objsync.h"
#include "store.h"

struct msg {
	uint8_t type;
	uint32_t len;
	uint8_t *p;
	struct msg *next;
};

struct side {
	const char *name;
	struct store *store;
	struct objsync *sync;
	struct side *peer;
	struct msg *head, *tail;        /* sent by this side, not yet delivered */
	size_t queued;
	size_t fake_queued;             /* added to queued() */
	unsigned drops, malformed_drops;
	char drop_text[256];
	/* standby sink */
	struct store_txn *snap;
	uint64_t snap_gen;
	bool defer_chunks;              /* stage but do not complete */
	uint32_t deferred_seq;
	unsigned applied;
};

static char tmp[64];
static struct side M, S;

static void link_lost(void)
{
	objsync_down(M.sync);
	objsync_down(S.sync);
	for (struct side *sd = &M; sd; sd = sd == &M ? &S : NULL) {
		while (sd->head) {
			struct msg *m = sd->head;
			sd->head = m->next;
			free(m->p);
			free(m);
		}
		sd->tail = NULL;
		sd->queued = 0;
	}
}

static int io_send(void *arg, uint8_t type, const void *p, uint32_t len)
{
	struct side *sd = arg;
	struct msg *m = calloc(1, sizeof(*m));

	cr_assert_not_null(m);
	m->type = type;
	m->len = len;
	m->p = malloc(len ? len : 1);
	memcpy(m->p, p, len);
	if (sd->tail)
		sd->tail->next = m;
	else
		sd->head = m;
	sd->tail = m;
	sd->queued += len + 8;
	return 0;
}

static size_t io_queued(void *arg)
{
	struct side *sd = arg;

	return sd->queued + sd->fake_queued;
}

static void io_drop(void *arg, bool malformed, const char *text)
{
	struct side *sd = arg;

	sd->drops++;
	if (malformed)
		sd->malformed_drops++;
	snprintf(sd->drop_text, sizeof(sd->drop_text), "%s", text);
	/* The link reports the loss before link_drop returns. */
	link_lost();
}

/* Deliver what `from` has sent to its peer; at most max messages (0: all,
 * including what the deliveries make the peers send back). */
static unsigned pump(unsigned max)
{
	unsigned n = 0;

	for (;;) {
		struct side *sd = M.head ? &M : S.head ? &S : NULL;
		if (!sd || (max && n == max))
			return n;
		struct msg *m = sd->head;
		sd->head = m->next;
		if (!sd->head)
			sd->tail = NULL;
		sd->queued -= m->len + 8;
		objsync_on_frame(sd->peer->sync, m->type, m->p, m->len, 1000 + n);
		free(m->p);
		free(m);
		n++;
		/* No objsync_pump() here: a real link calls it only when its
		 * queue drains after being full (tests that fill it do so). */
	}
}

/* ---- the standby's sink: straight into its store ---- */

static int sink_begin(void *arg, uint64_t gen, const uint8_t id[STORE_ID_LEN], uint64_t rev,
		      uint64_t count)
{
	struct side *sd = arg;

	cr_assert_null(sd->snap);
	sd->snap_gen = gen;
	return store_snapshot_begin(sd->store, &sd->snap);
}

static int sink_chunk(void *arg, uint64_t gen, uint32_t seq, const struct store_obj *objs,
		      uint32_t n)
{
	struct side *sd = arg;

	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(store_snapshot_add(sd->snap, &objs[i]), 0);
	if (sd->defer_chunks)
		sd->deferred_seq = seq;
	else
		objsync_chunk_done(sd->sync, gen, seq, 0);
	return 0;
}

static uint8_t master_id[STORE_ID_LEN];
static uint64_t master_rev;

static int sink_end(void *arg, uint64_t gen)
{
	struct side *sd = arg;
	int rc = store_snapshot_commit(sd->snap, master_id, master_rev);

	sd->snap = NULL;
	objsync_snapshot_done(sd->sync, gen, rc, 2000);
	return 0;
}

static void sink_abort(void *arg, uint64_t gen)
{
	struct side *sd = arg;

	store_abort(sd->snap);
	sd->snap = NULL;
}

static int sink_apply(void *arg, const uint64_t *revs, const struct store_obj *objs, uint32_t n)
{
	struct side *sd = arg;
	struct store_txn *t;
	int rc = store_begin_apply(sd->store, &t);

	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		rc = store_stage_rev(t, &objs[i], revs[i]);
		if (rc < 0) {
			store_abort(t);
			return rc;
		}
	}
	sd->applied += n;
	return store_commit(t) < 0 ? -EIO : 0;
}

static struct store *mkstore(const char *sub)
{
	char path[128], err[STORE_ERR_MAX];
	struct store *s;

	snprintf(path, sizeof(path), "%s/%s", tmp, sub);
	cr_assert_eq(store_open(path, (size_t)1 << 30, &s, err, sizeof(err)), 0, "%s", err);
	return s;
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/tandem-objsync-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	memset(&M, 0, sizeof(M));
	memset(&S, 0, sizeof(S));
	M.name = "master";
	S.name = "standby";
	M.peer = &S;
	S.peer = &M;
	M.store = mkstore("master");
	S.store = mkstore("standby");

	struct objsync_params mp = {
		.is_master = true,
		.store = M.store,
		.io = { io_send, io_queued, io_drop, &M },
	};
	struct objsync_params sp = {
		.is_master = false,
		.store = S.store,
		.io = { io_send, io_queued, io_drop, &S },
		.sink = { sink_begin, sink_chunk, sink_end, sink_abort, sink_apply, &S },
	};
	cr_assert_eq(objsync_create(&mp, &M.sync), 0);
	cr_assert_eq(objsync_create(&sp, &S.sync), 0);
}

static void teardown(void)
{
	char cmd[128];

	link_lost();
	objsync_destroy(M.sync);
	objsync_destroy(S.sync);
	store_close(M.store);
	store_close(S.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(objsync, .init = setup, .fini = teardown);

/* Commit n users named prefix0.. on the master in one transaction. */
static uint64_t add_users(const char *prefix, unsigned from, unsigned n)
{
	struct store_txn *t;
	int64_t rev = 0;

	cr_assert_eq(store_begin(M.store, &t), 0);
	for (unsigned i = from; i < from + n; i++) {
		struct store_obj o = { .kind = STORE_USER };
		snprintf(o.u.user.name, sizeof(o.u.user.name), "%s%u", prefix, i);
		if (strcmp(prefix, "u") == 0)
			snprintf(o.u.user.number, sizeof(o.u.user.number), "%u", 100000 + i);
		snprintf(o.u.user.display, sizeof(o.u.user.display), "User number %u with a "
			 "display name long enough to make chunks fill up", i);
		snprintf(o.u.user.realm, sizeof(o.u.user.realm), "example.com");
		o.u.user.has_password = true;
		o.u.user.enabled = true;
		rev = store_stage(t, &o);
		cr_assert_gt(rev, 0);
	}
	cr_assert_eq(store_commit(t), rev);
	objsync_committed(M.sync, (uint64_t)rev, 500);
	return (uint64_t)rev;
}

static void set_master_meta(void)
{
	struct store_counts c;

	cr_assert_eq(store_counts(M.store, &c), 0);
	memcpy(master_id, c.id, STORE_ID_LEN);
	master_rev = c.revision;
}

static void connect_both(void)
{
	set_master_meta();
	objsync_up(M.sync, 0);
	objsync_up(S.sync, 0);
}

static void assert_same_users(void)
{
	struct store_counts a, b;
	struct store_user u;

	cr_assert_eq(store_counts(M.store, &a), 0);
	cr_assert_eq(store_counts(S.store, &b), 0);
	cr_assert_eq(a.users, b.users, "master %lu users, standby %lu", (unsigned long)a.users,
		     (unsigned long)b.users);
	cr_assert_eq(a.revision, b.revision);
	cr_assert_eq(memcmp(a.id, b.id, STORE_ID_LEN), 0);
	if (store_find_user(M.store, "100000", &u) == 0)
		cr_assert_eq(store_find_user(S.store, "100000", &u), 0, "numbers index replicated");
}

Test(objsync, a_new_standby_gets_a_full_snapshot_then_live_changes)
{
	struct objsync_info mi, si;

	add_users("u", 0, 20000);
	connect_both();
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	objsync_info(S.sync, 5000, &si);
	cr_assert_eq(mi.state, OBJSYNC_STREAMING);
	cr_assert_eq(si.state, OBJSYNC_STREAMING);
	cr_assert_eq(mi.counters.snapshots_done, 1);
	cr_assert_eq(si.counters.snapshots_done, 1);
	cr_assert_eq(si.counters.snapshot_objects, 20000);
	cr_assert_gt(si.counters.acks, 1, "chunks were acknowledged one by one");
	cr_assert_eq(mi.lag_revisions, 0);

	/* Live: a change made now reaches the standby. */
	add_users("live", 0, 3);
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.lag_revisions, 3, "sent, not yet acknowledged");
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.lag_revisions, 0);
	cr_assert_eq(mi.peer_revision, 20003);
	cr_assert_eq(S.applied, 3);
}

Test(objsync, more_changes_than_fit_one_message_arrive_in_several)
{
	struct objsync_info mi;

	connect_both();
	pump(0);
	add_users("many", 0, 5000);
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.counters.changes, 5000);
	cr_assert_gt(mi.counters.change_frames, 4, "at most 1024 changes per message");
	cr_assert_eq(mi.lag_revisions, 0);
	cr_assert_eq(mi.counters.apply_failures, 0);
}

Test(objsync, deletions_and_licenses_replicate)
{
	struct store_txn *t;
	struct store_obj d = { .kind = STORE_USER, .deleted = true };
	struct store_obj l = { .kind = STORE_LICENSE };
	struct store_user u;
	int64_t rev;

	add_users("u", 0, 5);
	connect_both();
	pump(0);
	snprintf(d.u.user.name, sizeof(d.u.user.name), "u3");
	l.u.license.kind = STORE_LIC_PORTS;
	l.u.license.count = 42;
	cr_assert_eq(store_begin(M.store, &t), 0);
	cr_assert_gt(store_stage(t, &d), 0);
	cr_assert_gt(store_stage(t, &l), 0);
	rev = store_commit(t);
	objsync_committed(M.sync, (uint64_t)rev, 600);
	pump(0);
	cr_assert_eq(store_find_user(S.store, "u3", &u), TDM_ENOTFOUND);
	cr_assert_eq(store_find_user(S.store, "100003", &u), TDM_ENOTFOUND);
	struct store_obj got = { .kind = STORE_LICENSE, .u.license.kind = STORE_LIC_PORTS };
	cr_assert_eq(store_get(S.store, &got), 0);
	cr_assert_eq(got.u.license.count, 42);
}

Test(objsync, a_reconnect_sends_only_the_missed_changes)
{
	struct objsync_info mi, si;

	add_users("u", 0, 1000);
	connect_both();
	pump(0);
	link_lost();

	add_users("missed", 0, 7);
	connect_both();
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	objsync_info(S.sync, 5000, &si);
	cr_assert_eq(mi.counters.snapshots, 1, "no second snapshot");
	cr_assert_eq(mi.counters.delta_syncs, 1);
	cr_assert_eq(mi.counters.changes, 7, "exactly the missed changes");
	cr_assert_eq(S.applied, 7);
	cr_assert_eq(si.state, OBJSYNC_STREAMING);
}

Test(objsync, a_reconnect_in_sync_sends_nothing)
{
	struct objsync_info mi;

	add_users("u", 0, 10);
	connect_both();
	pump(0);
	link_lost();
	connect_both();
	pump(0);
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.counters.snapshots, 1);
	cr_assert_eq(mi.counters.changes, 0);
	cr_assert_eq(mi.state, OBJSYNC_STREAMING);
}

Test(objsync, a_journal_too_short_for_the_gap_means_a_snapshot)
{
	struct objsync_info mi;

	store_set_journal_max(M.store, 10);
	add_users("u", 0, 10);
	connect_both();
	pump(0);
	link_lost();
	add_users("missed", 0, 25);
	connect_both();
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.counters.snapshots, 2);
	cr_assert_eq(mi.counters.delta_syncs, 0);
}

Test(objsync, a_large_change_while_connected_switches_to_a_snapshot)
{
	struct objsync_info mi;

	store_set_journal_max(M.store, 100);
	add_users("u", 0, 10);
	connect_both();
	pump(0);
	/* More than the journal holds, committed before the pump runs. */
	struct store_txn *t;
	int64_t rev = 0;
	cr_assert_eq(store_begin(M.store, &t), 0);
	for (unsigned i = 0; i < 500; i++) {
		struct store_obj o = { .kind = STORE_USER, .u.user.enabled = true };
		snprintf(o.u.user.name, sizeof(o.u.user.name), "bulk%u", i);
		rev = store_stage(t, &o);
	}
	cr_assert_eq(store_commit(t), rev);
	set_master_meta();
	objsync_committed(M.sync, (uint64_t)rev, 700);
	pump(0);
	assert_same_users();
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.counters.snapshots_done, 2);
	cr_assert_eq(mi.state, OBJSYNC_STREAMING);
}

Test(objsync, a_link_lost_mid_snapshot_keeps_the_standbys_previous_set)
{
	struct store_counts before, after;
	struct objsync_info si;

	add_users("old", 0, 50);
	connect_both();
	pump(0);
	cr_assert_eq(store_counts(S.store, &before), 0);
	link_lost();

	/* A new master store (another id): the standby needs a snapshot. */
	store_close(M.store);
	objsync_destroy(M.sync);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/master'", tmp);
	cr_assert_eq(system(cmd), 0);
	M.store = mkstore("master");
	struct objsync_params mp = {
		.is_master = true,
		.store = M.store,
		.io = { io_send, io_queued, io_drop, &M },
	};
	cr_assert_eq(objsync_create(&mp, &M.sync), 0);
	add_users("new", 0, 20000);
	connect_both();
	/* Part of the snapshot, then the master is gone. */
	pump(4);
	objsync_info(S.sync, 5000, &si);
	cr_assert_eq(si.state, OBJSYNC_SNAPSHOT);
	cr_assert_gt(si.counters.snapshot_objects, 0);
	link_lost();
	objsync_info(S.sync, 5000, &si);
	cr_assert_eq(si.counters.snapshots_aborted, 1);
	cr_assert_eq(store_counts(S.store, &after), 0);
	cr_assert_eq(after.users, 50);
	cr_assert_eq(after.revision, before.revision);
	cr_assert_eq(memcmp(after.id, before.id, STORE_ID_LEN), 0);

	/* The next login completes it. */
	connect_both();
	pump(0);
	assert_same_users();
}

Test(objsync, the_master_keeps_at_most_a_window_of_chunks_in_flight)
{
	struct objsync_info mi;
	unsigned chunks = 0;

	add_users("u", 0, 40000);
	S.defer_chunks = true;
	connect_both();
	pump(1);            /* SYNC_REQUEST to the master */
	for (struct msg *m = M.head; m; m = m->next)
		chunks += m->type == OBJSYNC_SNAPSHOT_CHUNK;
	cr_assert_leq(chunks, OBJSYNC_WINDOW);
	cr_assert_gt(chunks, 0);

	/* Deliver them all; nothing is acknowledged, nothing more is sent. */
	pump(0);
	cr_assert_null(M.head);
	objsync_info(M.sync, 5000, &mi);
	cr_assert_eq(mi.state, OBJSYNC_SNAPSHOT);
	cr_assert_eq(mi.snapshot_done, 0);

	/* Acknowledging the last one opens the window again. */
	S.defer_chunks = false;
	objsync_chunk_done(S.sync, S.snap_gen, S.deferred_seq, 0);
	pump(0);
	assert_same_users();
}

Test(objsync, a_full_link_queue_holds_the_master_back)
{
	add_users("u", 0, 1000);
	M.fake_queued = OBJSYNC_QUEUE_LOW;
	connect_both();
	pump(1);
	for (struct msg *m = M.head; m; m = m->next)
		cr_assert_neq(m->type, OBJSYNC_SNAPSHOT_CHUNK, "nothing sent over a full queue");
	M.fake_queued = 0;
	objsync_pump(M.sync, 0);   /* what the link's on_writable does */
	pump(0);
	assert_same_users();
}

/* ---- hostile peers ---- */

static void expect_malformed(struct side *victim, uint8_t type, const void *p, uint32_t len,
			     const char *needle)
{
	objsync_on_frame(victim->sync, type, p, len, 0);
	cr_assert_eq(victim->malformed_drops, 1, "dropped as malformed");
	if (needle)
		cr_assert_not_null(strstr(victim->drop_text, needle), "%s", victim->drop_text);
}

Test(objsync, a_message_for_the_other_side_closes_the_link)
{
	uint8_t b[64];
	int n = objsync_encode_ack(b, sizeof(b), OBJSYNC_ACK_REVISION, 1);

	connect_both();
	expect_malformed(&S, OBJSYNC_ACK, b, (uint32_t)n, "sent to a standby");
}

Test(objsync, a_chunk_out_of_sequence_closes_the_link_and_keeps_the_store)
{
	struct store_counts c;
	uint8_t b[64];

	add_users("u", 0, 100);
	connect_both();
	pump(0);
	link_lost();
	connect_both();
	pump(0);
	/* A SNAPSHOT_BEGIN then chunk 2 first. */
	int n = objsync_encode_snapshot_begin(b, sizeof(b), master_id, 500, 10);
	objsync_on_frame(S.sync, OBJSYNC_SNAPSHOT_BEGIN, b, (uint32_t)n, 0);
	uint8_t chunk[8] = { 0, 0, 0, 2, 0, 0, 0, 0 };
	expect_malformed(&S, OBJSYNC_SNAPSHOT_CHUNK, chunk, sizeof(chunk), "sequence 2");
	cr_assert_eq(store_counts(S.store, &c), 0);
	cr_assert_eq(c.users, 100);
}

Test(objsync, a_snapshot_end_that_disagrees_with_what_came_closes_the_link)
{
	uint8_t b[64];

	connect_both();
	pump(0);    /* empty master: in sync */
	link_lost();
	connect_both();
	pump(1);
	int n = objsync_encode_snapshot_begin(b, sizeof(b), master_id, 9, 3);
	objsync_on_frame(S.sync, OBJSYNC_SNAPSHOT_BEGIN, b, (uint32_t)n, 0);
	n = objsync_encode_snapshot_end(b, sizeof(b), 0, 3);
	expect_malformed(&S, OBJSYNC_SNAPSHOT_END, b, (uint32_t)n, "received");
	cr_assert_null(S.snap, "the staged snapshot was given up");
}

Test(objsync, changes_not_above_the_standbys_revision_close_the_link)
{
	uint8_t b[256];
	struct store_obj o = { .kind = STORE_USER, .deleted = true };
	struct fwr w;
	uint8_t enc[64];

	add_users("u", 0, 5);
	connect_both();
	pump(0);
	snprintf(o.u.user.name, sizeof(o.u.user.name), "u1");
	int elen = store_obj_encode(&o, enc, sizeof(enc));
	fwr_init(&w, b, sizeof(b));
	fwr_u32(&w, 1);
	fwr_u64(&w, 3);      /* the standby is at 5 */
	fwr_blob(&w, enc, (uint32_t)elen);
	expect_malformed(&S, OBJSYNC_CHANGES, b, (uint32_t)fwr_len(&w), "not above");
	struct store_user u;
	cr_assert_eq(store_find_user(S.store, "u1", &u), 0, "nothing applied");
}

Test(objsync, an_ack_for_what_was_never_sent_closes_the_link)
{
	uint8_t b[64];

	add_users("u", 0, 3);
	connect_both();
	pump(0);
	int n = objsync_encode_ack(b, sizeof(b), OBJSYNC_ACK_REVISION, 99);
	expect_malformed(&M, OBJSYNC_ACK, b, (uint32_t)n, "was not sent");
}

Test(objsync, a_second_sync_request_closes_the_link)
{
	uint8_t b[64];

	connect_both();
	pump(0);
	int n = objsync_encode_sync_request(b, sizeof(b), master_id, 0);
	expect_malformed(&M, OBJSYNC_SYNC_REQUEST, b, (uint32_t)n, "second request");
}

/* ---- codec ---- */

TestSuite(objsync_codec);

Test(objsync_codec, every_truncation_of_every_message_is_malformed)
{
	static struct store_obj objs[OBJSYNC_MAX_PER_FRAME];
	static uint64_t revs[OBJSYNC_MAX_PER_FRAME];
	struct objsync_msg m;
	uint8_t id[STORE_ID_LEN] = { 1, 2, 3 };
	uint8_t buf[512], enc[128];
	char err[256];
	struct {
		uint8_t type;
		int len;
	} msgs[8];
	unsigned nm = 0;
	struct store_obj o = { .kind = STORE_LICENSE, .u.license = { STORE_LIC_PORTS, 9 } };
	int elen = store_obj_encode(&o, enc, sizeof(enc));
	uint8_t all[8][512];
	struct fwr w;

	msgs[nm].type = OBJSYNC_SYNC_REQUEST;
	msgs[nm].len = objsync_encode_sync_request(all[nm], 512, id, 5);
	nm++;
	msgs[nm].type = OBJSYNC_SNAPSHOT_BEGIN;
	msgs[nm].len = objsync_encode_snapshot_begin(all[nm], 512, id, 5, 2);
	nm++;
	msgs[nm].type = OBJSYNC_SNAPSHOT_END;
	msgs[nm].len = objsync_encode_snapshot_end(all[nm], 512, 1, 2);
	nm++;
	msgs[nm].type = OBJSYNC_ACK;
	msgs[nm].len = objsync_encode_ack(all[nm], 512, OBJSYNC_ACK_CHUNK, 1);
	nm++;
	msgs[nm].type = OBJSYNC_SYNC_DELTA;
	msgs[nm].len = objsync_encode_sync_delta(all[nm], 512, 4, 9);
	nm++;
	fwr_init(&w, all[nm], 512);
	fwr_u32(&w, 1);
	fwr_u32(&w, 1);
	fwr_blob(&w, enc, (uint32_t)elen);
	msgs[nm].type = OBJSYNC_SNAPSHOT_CHUNK;
	msgs[nm].len = (int)fwr_len(&w);
	nm++;
	fwr_init(&w, all[nm], 512);
	fwr_u32(&w, 1);
	fwr_u64(&w, 7);
	fwr_blob(&w, enc, (uint32_t)elen);
	msgs[nm].type = OBJSYNC_CHANGES;
	msgs[nm].len = (int)fwr_len(&w);
	nm++;

	for (unsigned i = 0; i < nm; i++) {
		cr_assert_gt(msgs[i].len, 0);
		cr_assert_eq(objsync_decode(msgs[i].type, all[i], (uint32_t)msgs[i].len, &m, objs,
					    revs, err, sizeof(err)), 0, "%s", err);
		for (int n = 0; n < msgs[i].len; n++) {
			uint8_t *cut = malloc((size_t)n + 1);
			memcpy(cut, all[i], (size_t)n);
			cr_assert_eq(objsync_decode(msgs[i].type, cut, (uint32_t)n, &m, objs, revs,
						    err, sizeof(err)), TDM_EMALFORMED,
				     "%s cut to %d bytes", objsync_type_name(msgs[i].type), n);
			free(cut);
		}
		/* And one byte too many. */
		memcpy(buf, all[i], (size_t)msgs[i].len);
		buf[msgs[i].len] = 0;
		cr_assert_eq(objsync_decode(msgs[i].type, buf, (uint32_t)msgs[i].len + 1, &m, objs,
					    revs, err, sizeof(err)), TDM_EMALFORMED);
	}
}

Test(objsync_codec, hostile_counts_and_orders_are_refused)
{
	static struct store_obj objs[OBJSYNC_MAX_PER_FRAME];
	static uint64_t revs[OBJSYNC_MAX_PER_FRAME];
	struct objsync_msg m;
	char err[256];
	uint8_t b[64];
	struct fwr w;

	/* A chunk claiming a million objects. */
	fwr_init(&w, b, sizeof(b));
	fwr_u32(&w, 1);
	fwr_u32(&w, 1000000);
	cr_assert_eq(objsync_decode(OBJSYNC_SNAPSHOT_CHUNK, b, (uint32_t)fwr_len(&w), &m, objs,
				    revs, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "at most"), "%s", err);

	/* Changes whose revisions go down. */
	struct store_obj o = { .kind = STORE_LICENSE, .u.license = { STORE_LIC_PORTS, 9 } };
	uint8_t enc[32], big[256];
	int elen = store_obj_encode(&o, enc, sizeof(enc));
	fwr_init(&w, big, sizeof(big));
	fwr_u32(&w, 2);
	fwr_u64(&w, 9);
	fwr_blob(&w, enc, (uint32_t)elen);
	fwr_u64(&w, 9);
	fwr_blob(&w, enc, (uint32_t)elen);
	cr_assert_eq(objsync_decode(OBJSYNC_CHANGES, big, (uint32_t)fwr_len(&w), &m, objs, revs,
				    err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "not above"), "%s", err);

	/* An object blob longer than any object. */
	fwr_init(&w, big, sizeof(big));
	fwr_u32(&w, 1);
	fwr_u32(&w, 1);
	fwr_u32(&w, 5000);
	cr_assert_eq(objsync_decode(OBJSYNC_SNAPSHOT_CHUNK, big, (uint32_t)fwr_len(&w), &m, objs,
				    revs, err, sizeof(err)), TDM_EMALFORMED);

	/* An unknown ACK kind and an unknown type. */
	int n = objsync_encode_ack(b, sizeof(b), 7, 1);
	cr_assert_eq(objsync_decode(OBJSYNC_ACK, b, (uint32_t)n, &m, objs, revs, err,
				    sizeof(err)), TDM_EMALFORMED);
	cr_assert_eq(objsync_decode(0x4f, b, 0, &m, objs, revs, err, sizeof(err)),
		     TDM_EMALFORMED);
}
