/* SPDX-License-Identifier: MIT */
/*
 * Objects replication: the codec of its messages and the master's and the
 * standby's state machines (see objsync.h, docs/replication-protocol.md
 * §10).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "objsync.h"

/* Commits remembered for the lag (revision, time). */
#define LAG_RING 4096

struct objsync {
	struct objsync_params p;
	enum objsync_state state;
	uint64_t gen;                   /* the current snapshot */
	struct objsync_counters ctr;
	char last_error[160];
	uint64_t last_sync_ms;

	/* Snapshot progress (both sides). */
	uint64_t snap_rev;
	uint64_t snap_total;
	uint64_t snap_objs;             /* master: sent; standby: received */
	uint64_t snap_done;             /* master: acknowledged; standby: staged */

	/* Master. */
	struct store_read *rd;
	bool rd_end;
	uint32_t next_seq;              /* last chunk sent */
	uint32_t acked_seq;
	uint32_t chunk_objs[OBJSYNC_WINDOW + 1]; /* objects per chunk in flight */
	uint64_t sent_rev;
	uint64_t acked_rev;
	struct {
		uint64_t rev;
		uint64_t ms;
	} ring[LAG_RING];
	unsigned ring_head, ring_len;
	uint64_t last_ack_delay_ms;

	/* Standby. */
	uint32_t expect_seq;            /* next chunk */
	uint64_t applied_rev;
	uint64_t peer_rev;

	/* Scratch. */
	struct store_obj *objs;         /* OBJSYNC_MAX_PER_FRAME */
	uint64_t *revs;
	uint8_t *buf;                   /* OBJSYNC_CHUNK_BYTES */
};

/* ---------------------------------------------------------------- */
/* Names */

const char *objsync_type_name(uint8_t type)
{
	switch (type) {
#define OBJSYNC_TYPE_NAME(name, value, text)                                   \
	case value:                                                            \
		return text;
		OBJSYNC_TYPES(OBJSYNC_TYPE_NAME)
#undef OBJSYNC_TYPE_NAME
	}
	return "?";
}

const char *objsync_state_name(enum objsync_state s)
{
	switch (s) {
	case OBJSYNC_DOWN:
		return "down";
	case OBJSYNC_WAITING:
		return "waiting";
	case OBJSYNC_SNAPSHOT:
		return "snapshot";
	case OBJSYNC_SNAPSHOT_COMMIT:
		return "snapshot commit";
	case OBJSYNC_STREAMING:
		return "in sync";
	}
	return "?";
}

/* ---------------------------------------------------------------- */
/* Codec */

int objsync_encode_sync_request(uint8_t *buf, size_t cap, const uint8_t id[STORE_ID_LEN],
				uint64_t revision)
{
	struct fwr w;

	fwr_init(&w, buf, cap);
	fwr_bytes(&w, id, STORE_ID_LEN);
	fwr_u64(&w, revision);
	return w.overflow ? TDM_ENOSPACE : (int)fwr_len(&w);
}

int objsync_encode_snapshot_begin(uint8_t *buf, size_t cap, const uint8_t id[STORE_ID_LEN],
				  uint64_t revision, uint64_t count)
{
	struct fwr w;

	fwr_init(&w, buf, cap);
	fwr_bytes(&w, id, STORE_ID_LEN);
	fwr_u64(&w, revision);
	fwr_u64(&w, count);
	return w.overflow ? TDM_ENOSPACE : (int)fwr_len(&w);
}

int objsync_encode_snapshot_end(uint8_t *buf, size_t cap, uint32_t chunks, uint64_t count)
{
	struct fwr w;

	fwr_init(&w, buf, cap);
	fwr_u32(&w, chunks);
	fwr_u64(&w, count);
	return w.overflow ? TDM_ENOSPACE : (int)fwr_len(&w);
}

int objsync_encode_ack(uint8_t *buf, size_t cap, uint8_t kind, uint64_t value)
{
	struct fwr w;

	fwr_init(&w, buf, cap);
	fwr_u8(&w, kind);
	fwr_u64(&w, value);
	return w.overflow ? TDM_ENOSPACE : (int)fwr_len(&w);
}

int objsync_encode_sync_delta(uint8_t *buf, size_t cap, uint64_t from, uint64_t to)
{
	struct fwr w;

	fwr_init(&w, buf, cap);
	fwr_u64(&w, from);
	fwr_u64(&w, to);
	return w.overflow ? TDM_ENOSPACE : (int)fwr_len(&w);
}

/* One blob holding one object. */
static int decode_obj(struct frd *r, const char *msg, uint32_t i, struct store_obj *obj,
		      char *err, size_t errcap)
{
	const uint8_t *p;
	uint32_t len;
	bool too_long = false;
	char why[STORE_ERR_MAX];

	if (!frd_blob(r, STORE_OBJ_MAX, &p, &len, &too_long)) {
		tdm_errf(err, errcap, "%s: object %u: %s", msg, i,
		     too_long ? "longer than 1024 bytes" : "truncated");
		return TDM_EMALFORMED;
	}
	if (store_obj_decode(p, len, obj, why, sizeof(why)) < 0) {
		tdm_errf(err, errcap, "%s: object %u: %s", msg, i, why);
		return TDM_EMALFORMED;
	}
	return 0;
}

int objsync_decode(uint8_t type, const uint8_t *p, uint32_t len, struct objsync_msg *m,
		   struct store_obj *objs, uint64_t *revs, char *err, size_t errcap)
{
	const char *name = objsync_type_name(type);
	const uint8_t *id;
	struct frd r;
	bool ok = true;

	memset(m, 0, sizeof(*m));
	m->type = type;
	frd_init(&r, p, len);
	switch (type) {
	case OBJSYNC_SYNC_REQUEST:
		ok = frd_bytes(&r, STORE_ID_LEN, &id) && frd_u64(&r, &m->revision);
		if (ok)
			memcpy(m->id, id, STORE_ID_LEN);
		break;
	case OBJSYNC_SNAPSHOT_BEGIN:
		ok = frd_bytes(&r, STORE_ID_LEN, &id) && frd_u64(&r, &m->revision) &&
		     frd_u64(&r, &m->count);
		if (ok)
			memcpy(m->id, id, STORE_ID_LEN);
		break;
	case OBJSYNC_SNAPSHOT_END:
		ok = frd_u32(&r, &m->seq) && frd_u64(&r, &m->count);
		break;
	case OBJSYNC_ACK:
		ok = frd_u8(&r, &m->ack_kind) && frd_u64(&r, &m->revision);
		if (ok && m->ack_kind != OBJSYNC_ACK_CHUNK && m->ack_kind != OBJSYNC_ACK_REVISION) {
			tdm_errf(err, errcap, "ACK: unknown kind %u", m->ack_kind);
			return TDM_EMALFORMED;
		}
		break;
	case OBJSYNC_SYNC_DELTA:
		ok = frd_u64(&r, &m->revision) && frd_u64(&r, &m->to);
		if (ok && m->to < m->revision) {
			tdm_errf(err, errcap, "SYNC_DELTA: to %" PRIu64 " is below from %" PRIu64,
			     m->to, m->revision);
			return TDM_EMALFORMED;
		}
		break;
	case OBJSYNC_SNAPSHOT_CHUNK:
		ok = frd_u32(&r, &m->seq) && frd_u32(&r, &m->n);
		if (!ok)
			break;
		if (m->seq == 0) {
			tdm_errf(err, errcap, "SNAPSHOT_CHUNK: sequence number 0");
			return TDM_EMALFORMED;
		}
		if (m->n > OBJSYNC_MAX_PER_FRAME) {
			tdm_errf(err, errcap, "SNAPSHOT_CHUNK: %u objects, at most %u", m->n,
			     OBJSYNC_MAX_PER_FRAME);
			return TDM_EMALFORMED;
		}
		for (uint32_t i = 0; i < m->n; i++) {
			if (decode_obj(&r, name, i, &objs[i], err, errcap) < 0)
				return TDM_EMALFORMED;
			if (objs[i].deleted) {
				tdm_errf(err, errcap, "SNAPSHOT_CHUNK: object %u is a deletion", i);
				return TDM_EMALFORMED;
			}
		}
		break;
	case OBJSYNC_CHANGES:
		ok = frd_u32(&r, &m->n);
		if (!ok)
			break;
		if (m->n == 0 || m->n > OBJSYNC_MAX_PER_FRAME) {
			tdm_errf(err, errcap, "CHANGES: %u changes, 1 to %u", m->n, OBJSYNC_MAX_PER_FRAME);
			return TDM_EMALFORMED;
		}
		for (uint32_t i = 0; i < m->n; i++) {
			if (!frd_u64(&r, &revs[i])) {
				tdm_errf(err, errcap, "CHANGES: change %u: truncated revision", i);
				return TDM_EMALFORMED;
			}
			if (revs[i] == 0 || (i && revs[i] <= revs[i - 1])) {
				tdm_errf(err, errcap, "CHANGES: change %u: revision %" PRIu64
				     " not above the one before", i, revs[i]);
				return TDM_EMALFORMED;
			}
			if (decode_obj(&r, name, i, &objs[i], err, errcap) < 0)
				return TDM_EMALFORMED;
		}
		break;
	default:
		tdm_errf(err, errcap, "unknown replication message 0x%02x", type);
		return TDM_EMALFORMED;
	}
	if (!ok) {
		tdm_errf(err, errcap, "%s: truncated", name);
		return TDM_EMALFORMED;
	}
	if (frd_left(&r)) {
		tdm_errf(err, errcap, "%s: %zu bytes after the last field", name, frd_left(&r));
		return TDM_EMALFORMED;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Common */

int objsync_create(const struct objsync_params *p, struct objsync **out)
{
	struct objsync *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		return -ENOMEM;
	o->p = *p;
	o->objs = malloc(sizeof(*o->objs) * OBJSYNC_MAX_PER_FRAME);
	o->revs = malloc(sizeof(*o->revs) * OBJSYNC_MAX_PER_FRAME);
	o->buf = malloc(OBJSYNC_CHUNK_BYTES);
	if (!o->objs || !o->revs || !o->buf) {
		objsync_destroy(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

void objsync_destroy(struct objsync *o)
{
	if (!o)
		return;
	objsync_down(o);
	free(o->objs);
	free(o->revs);
	free(o->buf);
	free(o);
}

static void set_error(struct objsync *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct objsync *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->last_error, sizeof(o->last_error), fmt, ap);
	va_end(ap);
}

/* The peer broke the protocol: count it and close the link. The link
 * reports the loss (objsync_down) before io.drop returns, so the caller
 * must return at once. */
static void fail_malformed(struct objsync *o, const char *text)
{
	o->ctr.bad_messages++;
	set_error(o, "%s", text);
	o->p.io.drop(o->p.io.arg, true, text);
}

/* We could not do our part (store full, ...): close the link without
 * blaming the peer; the standby asks again after the reconnect. */
static void fail_local(struct objsync *o, const char *text)
{
	o->ctr.apply_failures++;
	set_error(o, "%s", text);
	o->p.io.drop(o->p.io.arg, false, text);
}

static int send_msg(struct objsync *o, uint8_t type, const void *p, int len)
{
	int rc;

	if (len < 0)
		return len;
	rc = o->p.io.send(o->p.io.arg, type, p, (uint32_t)len);
	return rc;
}

void objsync_down(struct objsync *o)
{
	if (o->p.is_master) {
		store_read_close(o->rd);
		o->rd = NULL;
	} else if (o->state == OBJSYNC_SNAPSHOT || o->state == OBJSYNC_SNAPSHOT_COMMIT) {
		o->ctr.snapshots_aborted++;
		o->p.sink.snap_abort(o->p.sink.arg, o->gen);
	}
	if (o->p.is_master && (o->state == OBJSYNC_SNAPSHOT || o->state == OBJSYNC_SNAPSHOT_COMMIT))
		o->ctr.snapshots_aborted++;
	o->state = OBJSYNC_DOWN;
}

/* ---------------------------------------------------------------- */
/* Master */

static void start_snapshot(struct objsync *o)
{
	uint8_t id[STORE_ID_LEN], msg[64];
	uint64_t rev, count;
	int rc;

	store_read_close(o->rd);
	o->rd = NULL;
	rc = store_read_open(o->p.store, &o->rd, &rev, &count, id);
	if (rc < 0) {
		char t[128];
		snprintf(t, sizeof(t), "cannot read the object store for a snapshot: %s",
			 tdm_strerror(rc));
		fail_local(o, t);
		return;
	}
	o->gen++;
	o->state = OBJSYNC_SNAPSHOT;
	o->rd_end = false;
	o->snap_rev = rev;
	o->snap_total = count;
	o->snap_objs = 0;
	o->snap_done = 0;
	o->next_seq = 0;
	o->acked_seq = 0;
	o->ctr.snapshots++;
	rc = send_msg(o, OBJSYNC_SNAPSHOT_BEGIN, msg,
		      objsync_encode_snapshot_begin(msg, sizeof(msg), id, rev, count));
	if (rc < 0)
		fail_local(o, "cannot queue SNAPSHOT_BEGIN");
}

/* Fill one chunk from the snapshot read. Returns the objects in it, or a
 * negative error. */
static int fill_chunk(struct objsync *o, uint32_t seq, size_t *len)
{
	struct fwr w;
	struct store_obj obj;
	uint32_t n = 0;
	int rc;

	fwr_init(&w, o->buf, OBJSYNC_CHUNK_BYTES);
	fwr_u32(&w, seq);
	fwr_u32(&w, 0); /* patched below */
	while (n < OBJSYNC_MAX_PER_FRAME &&
	       fwr_len(&w) + 4 + STORE_OBJ_MAX <= OBJSYNC_CHUNK_BYTES) {
		uint8_t enc[STORE_OBJ_MAX];
		int elen;

		rc = store_read_next(o->rd, &obj);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			o->rd_end = true;
			break;
		}
		elen = store_obj_encode(&obj, enc, sizeof(enc));
		if (elen < 0)
			return elen;
		fwr_blob(&w, enc, (uint32_t)elen);
		n++;
	}
	if (w.overflow)
		return TDM_ENOSPACE;
	*len = fwr_len(&w);
	o->buf[4] = (uint8_t)(n >> 24);
	o->buf[5] = (uint8_t)(n >> 16);
	o->buf[6] = (uint8_t)(n >> 8);
	o->buf[7] = (uint8_t)n;
	return (int)n;
}

static void pump_snapshot(struct objsync *o)
{
	uint8_t msg[32];
	size_t len;
	int n, rc;

	while (!o->rd_end && o->next_seq - o->acked_seq < OBJSYNC_WINDOW &&
	       o->p.io.queued(o->p.io.arg) < OBJSYNC_QUEUE_LOW) {
		n = fill_chunk(o, o->next_seq + 1, &len);
		if (n < 0) {
			char t[128];
			snprintf(t, sizeof(t), "cannot read the object store for a snapshot: %s",
				 tdm_strerror(n));
			fail_local(o, t);
			return;
		}
		if (n == 0)
			break;
		rc = o->p.io.send(o->p.io.arg, OBJSYNC_SNAPSHOT_CHUNK, o->buf, (uint32_t)len);
		if (rc < 0) {
			fail_local(o, "cannot queue a snapshot chunk");
			return;
		}
		o->next_seq++;
		o->chunk_objs[o->next_seq % (OBJSYNC_WINDOW + 1)] = (uint32_t)n;
		o->snap_objs += (uint64_t)n;
		o->ctr.snapshot_objects += (uint64_t)n;
	}
	if (!o->rd_end || o->state != OBJSYNC_SNAPSHOT)
		return;
	if (o->p.io.queued(o->p.io.arg) >= OBJSYNC_QUEUE_LOW)
		return;
	store_read_close(o->rd);
	o->rd = NULL;
	if (o->snap_objs != o->snap_total) {
		/* The read's count and its walk disagree: a damaged store. */
		fail_local(o, "the object store's count and contents disagree");
		return;
	}
	rc = send_msg(o, OBJSYNC_SNAPSHOT_END, msg,
		      objsync_encode_snapshot_end(msg, sizeof(msg), o->next_seq, o->snap_objs));
	if (rc < 0) {
		fail_local(o, "cannot queue SNAPSHOT_END");
		return;
	}
	o->state = OBJSYNC_SNAPSHOT_COMMIT;
}

struct changes_ctx {
	struct fwr w;
	uint32_t n;
	uint64_t last;
	uint64_t max;
};

static int add_change(uint64_t rev, const struct store_obj *obj, void *arg)
{
	struct changes_ctx *c = arg;
	uint8_t enc[STORE_OBJ_MAX];
	int elen;

	if (c->n >= c->max || fwr_len(&c->w) + 12 + STORE_OBJ_MAX > OBJSYNC_CHUNK_BYTES)
		return 1;
	elen = store_obj_encode(obj, enc, sizeof(enc));
	if (elen < 0)
		return elen;
	fwr_u64(&c->w, rev);
	fwr_blob(&c->w, enc, (uint32_t)elen);
	c->n++;
	c->last = rev;
	return 0;
}

static void pump_changes(struct objsync *o)
{
	while (o->state == OBJSYNC_STREAMING &&
	       o->sent_rev - o->acked_rev < OBJSYNC_CHANGES_WINDOW &&
	       o->p.io.queued(o->p.io.arg) < OBJSYNC_QUEUE_LOW) {
		struct changes_ctx c = { .max = OBJSYNC_CHANGES_PER_FRAME };
		uint64_t room = OBJSYNC_CHANGES_WINDOW - (o->sent_rev - o->acked_rev);
		int64_t rc;

		if (room < c.max)
			c.max = room;
		fwr_init(&c.w, o->buf, OBJSYNC_CHUNK_BYTES);
		fwr_u32(&c.w, 0);
		rc = store_changes_since(o->p.store, o->sent_rev, 0, add_change, &c);
		if (rc == TDM_ENOTFOUND) {
			/* The journal no longer reaches back (a large import):
			 * send everything instead. */
			start_snapshot(o);
			if (o->state == OBJSYNC_SNAPSHOT)
				pump_snapshot(o);
			return;
		}
		if (rc < 0 || c.w.overflow) {
			char t[128];
			snprintf(t, sizeof(t), "cannot read the journal: %s",
				 tdm_strerror(rc < 0 ? (int)rc : TDM_ENOSPACE));
			fail_local(o, t);
			return;
		}
		if (c.n == 0)
			return;
		o->buf[0] = (uint8_t)(c.n >> 24);
		o->buf[1] = (uint8_t)(c.n >> 16);
		o->buf[2] = (uint8_t)(c.n >> 8);
		o->buf[3] = (uint8_t)c.n;
		if (o->p.io.send(o->p.io.arg, OBJSYNC_CHANGES, o->buf, (uint32_t)fwr_len(&c.w)) < 0) {
			fail_local(o, "cannot queue CHANGES");
			return;
		}
		o->sent_rev = c.last;
		o->ctr.changes += c.n;
		o->ctr.change_frames++;
	}
}

static void master_sync_request(struct objsync *o, const struct objsync_msg *m)
{
	struct store_counts sc;
	uint8_t msg[32];
	int rc;

	if (o->state != OBJSYNC_WAITING) {
		fail_malformed(o, "SYNC_REQUEST: a second request in one session");
		return;
	}
	o->ctr.syncs++;
	rc = store_counts(o->p.store, &sc);
	if (rc < 0) {
		fail_local(o, "cannot read the object store");
		return;
	}
	o->peer_rev = m->revision;
	if (memcmp(m->id, sc.id, STORE_ID_LEN) == 0 && m->revision <= sc.revision &&
	    (m->revision == sc.revision ||
	     (sc.journal_first && m->revision + 1 >= sc.journal_first))) {
		/* Only the missed changes (maybe none). */
		o->ctr.delta_syncs++;
		o->state = OBJSYNC_STREAMING;
		o->sent_rev = o->acked_rev = m->revision;
		rc = send_msg(o, OBJSYNC_SYNC_DELTA, msg,
			      objsync_encode_sync_delta(msg, sizeof(msg), m->revision, sc.revision));
		if (rc < 0) {
			fail_local(o, "cannot queue SYNC_DELTA");
			return;
		}
		pump_changes(o);
		return;
	}
	start_snapshot(o);
	if (o->state == OBJSYNC_SNAPSHOT)
		pump_snapshot(o);
}

/* The commit time of the first change after rev, from the ring; 0 when
 * not remembered. */
static uint64_t commit_ms_after(const struct objsync *o, uint64_t rev)
{
	for (unsigned i = 0; i < o->ring_len; i++) {
		unsigned k = (o->ring_head + LAG_RING - o->ring_len + i) % LAG_RING;
		if (o->ring[k].rev > rev)
			return o->ring[k].ms;
	}
	return 0;
}

/* The commit time of the change rev (or of the last one before it). */
static uint64_t commit_ms_of(const struct objsync *o, uint64_t rev)
{
	uint64_t ms = 0;

	for (unsigned i = 0; i < o->ring_len; i++) {
		unsigned k = (o->ring_head + LAG_RING - o->ring_len + i) % LAG_RING;
		if (o->ring[k].rev > rev)
			break;
		ms = o->ring[k].ms;
	}
	return ms;
}

static void master_ack(struct objsync *o, const struct objsync_msg *m, uint64_t now_ms)
{
	char t[160];

	o->ctr.acks++;
	if (m->ack_kind == OBJSYNC_ACK_CHUNK) {
		if ((o->state != OBJSYNC_SNAPSHOT && o->state != OBJSYNC_SNAPSHOT_COMMIT) ||
		    m->revision <= o->acked_seq || m->revision > o->next_seq) {
			snprintf(t, sizeof(t), "ACK: chunk %" PRIu64 " was not sent or is acknowledged",
				 m->revision);
			fail_malformed(o, t);
			return;
		}
		while (o->acked_seq < m->revision) {
			o->acked_seq++;
			o->snap_done += o->chunk_objs[o->acked_seq % (OBJSYNC_WINDOW + 1)];
		}
		pump_snapshot(o);
		return;
	}
	if (o->state == OBJSYNC_SNAPSHOT_COMMIT) {
		if (m->revision != o->snap_rev || o->acked_seq != o->next_seq) {
			snprintf(t, sizeof(t), "ACK: revision %" PRIu64 " does not complete the "
				 "snapshot of revision %" PRIu64, m->revision, o->snap_rev);
			fail_malformed(o, t);
			return;
		}
		o->ctr.snapshots_done++;
		o->state = OBJSYNC_STREAMING;
		o->sent_rev = o->acked_rev = o->snap_rev;
		o->peer_rev = o->snap_rev;
		o->last_sync_ms = now_ms;
		pump_changes(o);
		return;
	}
	if (o->state != OBJSYNC_STREAMING || m->revision < o->acked_rev ||
	    m->revision > o->sent_rev) {
		snprintf(t, sizeof(t), "ACK: revision %" PRIu64 " was not sent", m->revision);
		fail_malformed(o, t);
		return;
	}
	if (m->revision > o->acked_rev) {
		uint64_t ms = commit_ms_of(o, m->revision);
		if (ms)
			o->last_ack_delay_ms = now_ms > ms ? now_ms - ms : 0;
	}
	o->acked_rev = m->revision;
	o->peer_rev = m->revision;
	if (o->acked_rev == o->sent_rev)
		o->last_sync_ms = now_ms;
	pump_changes(o);
}

void objsync_committed(struct objsync *o, uint64_t revision, uint64_t now_ms)
{
	o->ring[o->ring_head].rev = revision;
	o->ring[o->ring_head].ms = now_ms;
	o->ring_head = (o->ring_head + 1) % LAG_RING;
	if (o->ring_len < LAG_RING)
		o->ring_len++;
	objsync_pump(o, now_ms);
}

void objsync_pump(struct objsync *o, uint64_t now_ms)
{
	if (!o->p.is_master)
		return;
	if (o->state == OBJSYNC_SNAPSHOT)
		pump_snapshot(o);
	else if (o->state == OBJSYNC_STREAMING)
		pump_changes(o);
}

/* ---------------------------------------------------------------- */
/* Standby */

static void send_ack(struct objsync *o, uint8_t kind, uint64_t value)
{
	uint8_t msg[16];

	if (send_msg(o, OBJSYNC_ACK, msg, objsync_encode_ack(msg, sizeof(msg), kind, value)) < 0)
		fail_local(o, "cannot queue ACK");
	else
		o->ctr.acks++;
}

static void standby_snapshot_begin(struct objsync *o, const struct objsync_msg *m)
{
	int rc;

	if (o->state != OBJSYNC_WAITING && o->state != OBJSYNC_STREAMING) {
		fail_malformed(o, "SNAPSHOT_BEGIN: out of place");
		return;
	}
	o->gen++;
	o->state = OBJSYNC_SNAPSHOT;
	o->snap_rev = m->revision;
	o->snap_total = m->count;
	o->snap_objs = 0;
	o->snap_done = 0;
	o->expect_seq = 1;
	o->peer_rev = m->revision;
	o->ctr.snapshots++;
	rc = o->p.sink.snap_begin(o->p.sink.arg, o->gen, m->id, m->revision, m->count);
	if (rc < 0) {
		char t[128];
		snprintf(t, sizeof(t), "cannot start storing a snapshot: %s", tdm_strerror(rc));
		fail_local(o, t);
	}
}

static void standby_chunk(struct objsync *o, const struct objsync_msg *m)
{
	char t[160];
	int rc;

	if (o->state != OBJSYNC_SNAPSHOT) {
		fail_malformed(o, "SNAPSHOT_CHUNK: no snapshot running");
		return;
	}
	if (m->seq != o->expect_seq) {
		snprintf(t, sizeof(t), "SNAPSHOT_CHUNK: sequence %u, expected %u", m->seq,
			 o->expect_seq);
		fail_malformed(o, t);
		return;
	}
	if (o->snap_objs + m->n > o->snap_total) {
		snprintf(t, sizeof(t), "SNAPSHOT_CHUNK: more objects than the %" PRIu64
			 " announced", o->snap_total);
		fail_malformed(o, t);
		return;
	}
	o->expect_seq++;
	o->snap_objs += m->n;
	o->ctr.snapshot_objects += m->n;
	rc = o->p.sink.snap_chunk(o->p.sink.arg, o->gen, m->seq, o->objs, m->n);
	if (rc < 0) {
		snprintf(t, sizeof(t), "cannot stage snapshot objects: %s", tdm_strerror(rc));
		fail_local(o, t);
	}
}

void objsync_chunk_done(struct objsync *o, uint64_t gen, uint32_t seq, int rc)
{
	if (gen != o->gen || (o->state != OBJSYNC_SNAPSHOT && o->state != OBJSYNC_SNAPSHOT_COMMIT))
		return;
	if (rc < 0) {
		char t[128];
		snprintf(t, sizeof(t), "cannot stage snapshot objects: %s", tdm_strerror(rc));
		fail_local(o, t);
		return;
	}
	/* Objects staged: what the chunks up to seq held (the counts are
	 * the master's, already checked against what arrived). */
	o->snap_done = o->snap_objs;
	send_ack(o, OBJSYNC_ACK_CHUNK, seq);
}

static void standby_snapshot_end(struct objsync *o, const struct objsync_msg *m)
{
	char t[160];
	int rc;

	if (o->state != OBJSYNC_SNAPSHOT) {
		fail_malformed(o, "SNAPSHOT_END: no snapshot running");
		return;
	}
	if (m->seq != o->expect_seq - 1 || m->count != o->snap_objs ||
	    m->count != o->snap_total) {
		snprintf(t, sizeof(t), "SNAPSHOT_END: %u chunks and %" PRIu64 " objects, received "
			 "%u and %" PRIu64 " of %" PRIu64, m->seq, m->count, o->expect_seq - 1,
			 o->snap_objs, o->snap_total);
		fail_malformed(o, t);
		return;
	}
	o->state = OBJSYNC_SNAPSHOT_COMMIT;
	rc = o->p.sink.snap_end(o->p.sink.arg, o->gen);
	if (rc < 0) {
		snprintf(t, sizeof(t), "cannot commit the snapshot: %s", tdm_strerror(rc));
		fail_local(o, t);
	}
}

void objsync_snapshot_done(struct objsync *o, uint64_t gen, int rc, uint64_t now_ms)
{
	if (gen != o->gen || o->state != OBJSYNC_SNAPSHOT_COMMIT)
		return;
	if (rc < 0) {
		char t[128];
		snprintf(t, sizeof(t), "cannot commit the snapshot: %s", tdm_strerror(rc));
		o->state = OBJSYNC_WAITING;  /* the sink has given it up itself */
		fail_local(o, t);
		return;
	}
	o->ctr.snapshots_done++;
	o->state = OBJSYNC_STREAMING;
	o->applied_rev = o->snap_rev;
	o->snap_done = o->snap_total;
	o->last_sync_ms = now_ms;
	send_ack(o, OBJSYNC_ACK_REVISION, o->snap_rev);
}

static void standby_changes(struct objsync *o, const struct objsync_msg *m, uint64_t now_ms)
{
	char t[160];
	int rc;

	if (o->state != OBJSYNC_STREAMING) {
		fail_malformed(o, "CHANGES: not in sync yet");
		return;
	}
	if (o->revs[0] <= o->applied_rev) {
		snprintf(t, sizeof(t), "CHANGES: revision %" PRIu64 " not above %" PRIu64,
			 o->revs[0], o->applied_rev);
		fail_malformed(o, t);
		return;
	}
	rc = o->p.sink.apply(o->p.sink.arg, o->revs, o->objs, m->n);
	if (rc < 0) {
		snprintf(t, sizeof(t), "cannot store the master's changes: %s", tdm_strerror(rc));
		fail_local(o, t);
		return;
	}
	o->applied_rev = o->revs[m->n - 1];
	if (o->applied_rev > o->peer_rev)
		o->peer_rev = o->applied_rev;
	o->ctr.changes += m->n;
	o->ctr.change_frames++;
	o->last_sync_ms = now_ms;
	send_ack(o, OBJSYNC_ACK_REVISION, o->applied_rev);
}

static void standby_delta(struct objsync *o, const struct objsync_msg *m, uint64_t now_ms)
{
	if (o->state != OBJSYNC_WAITING || m->revision != o->applied_rev) {
		fail_malformed(o, "SYNC_DELTA: out of place or not from our revision");
		return;
	}
	o->ctr.delta_syncs++;
	o->state = OBJSYNC_STREAMING;
	o->peer_rev = m->to;
	if (m->to == m->revision)
		o->last_sync_ms = now_ms;
}

/* ---------------------------------------------------------------- */

void objsync_up(struct objsync *o, uint64_t now_ms)
{
	struct store_counts sc;
	uint8_t msg[32];
	int rc;

	objsync_down(o);
	o->state = OBJSYNC_WAITING;
	o->last_error[0] = '\0';
	if (o->p.is_master)
		return;
	o->ctr.syncs++;
	rc = store_counts(o->p.store, &sc);
	if (rc < 0) {
		fail_local(o, "cannot read the object store");
		return;
	}
	o->applied_rev = sc.revision;
	rc = send_msg(o, OBJSYNC_SYNC_REQUEST, msg,
		      objsync_encode_sync_request(msg, sizeof(msg), sc.id, sc.revision));
	if (rc < 0)
		fail_local(o, "cannot queue SYNC_REQUEST");
}

void objsync_on_frame(struct objsync *o, uint8_t type, const uint8_t *payload, uint32_t len,
		      uint64_t now_ms)
{
	struct objsync_msg m;
	char err[STORE_ERR_MAX + 64];
	bool for_master = type == OBJSYNC_SYNC_REQUEST || type == OBJSYNC_ACK;

	if (o->state == OBJSYNC_DOWN)
		return;
	if (objsync_decode(type, payload, len, &m, o->objs, o->revs, err, sizeof(err)) < 0) {
		fail_malformed(o, err);
		return;
	}
	if (for_master != o->p.is_master) {
		snprintf(err, sizeof(err), "%s sent to a %s", objsync_type_name(type),
			 o->p.is_master ? "master" : "standby");
		fail_malformed(o, err);
		return;
	}
	switch (type) {
	case OBJSYNC_SYNC_REQUEST:
		master_sync_request(o, &m);
		break;
	case OBJSYNC_ACK:
		master_ack(o, &m, now_ms);
		break;
	case OBJSYNC_SYNC_DELTA:
		standby_delta(o, &m, now_ms);
		break;
	case OBJSYNC_SNAPSHOT_BEGIN:
		standby_snapshot_begin(o, &m);
		break;
	case OBJSYNC_SNAPSHOT_CHUNK:
		standby_chunk(o, &m);
		break;
	case OBJSYNC_SNAPSHOT_END:
		standby_snapshot_end(o, &m);
		break;
	case OBJSYNC_CHANGES:
		standby_changes(o, &m, now_ms);
		break;
	}
}

void objsync_info(const struct objsync *o, uint64_t now_ms, struct objsync_info *out)
{
	struct store_counts sc;

	memset(out, 0, sizeof(*out));
	out->is_master = o->p.is_master;
	out->state = o->state;
	if (store_counts(o->p.store, &sc) == 0)
		out->revision = sc.revision;
	out->peer_revision = o->p.is_master ? o->acked_rev : o->peer_rev;
	if (o->p.is_master) {
		out->lag_revisions = out->revision > o->acked_rev ? out->revision - o->acked_rev : 0;
		if (out->lag_revisions) {
			uint64_t ms = commit_ms_after(o, o->acked_rev);
			out->lag_ms = ms && now_ms > ms ? now_ms - ms : 0;
		}
		out->last_ack_delay_ms = o->last_ack_delay_ms;
	}
	if (o->state == OBJSYNC_SNAPSHOT || o->state == OBJSYNC_SNAPSHOT_COMMIT) {
		out->snapshot_revision = o->snap_rev;
		out->snapshot_total = o->snap_total;
		out->snapshot_done = o->snap_done;
	}
	out->last_sync_ms = o->last_sync_ms;
	snprintf(out->last_error, sizeof(out->last_error), "%s", o->last_error);
	out->counters = o->ctr;
}
