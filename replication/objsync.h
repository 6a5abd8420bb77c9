/* SPDX-License-Identifier: MIT */
/*
 * Objects replication over the pair's link (DESIGN.md §1 "Replication";
 * the messages are specified in docs/replication-protocol.md §10).
 *
 *   standby                                  master
 *   SYNC_REQUEST(store id, revision)  ---->
 *                                     <----  SYNC_DELTA(from, to)     same id, journal reaches:
 *                                     <----  CHANGES(rev, obj)...     only what was missed
 *                                     <----  SNAPSHOT_BEGIN(id, rev, count)   otherwise
 *                                     <----  SNAPSHOT_CHUNK(seq, objs)...
 *   ACK(chunk, seq)                   ---->  (at most OBJSYNC_WINDOW chunks unacknowledged)
 *                                     <----  SNAPSHOT_END(chunks, count)
 *   ACK(revision, rev)                ---->  once committed; then CHANGES from rev on
 *                                     <----  CHANGES(...) as the master commits
 *   ACK(revision, rev)                ---->  after each CHANGES applied (replication lag)
 *
 * The master reads its store directly (a consistent LMDB read for the
 * snapshot, the journal for changes) and sends while the link's output
 * queue is short; acknowledgements bound what is in flight, so a slow
 * standby slows the master's stream down instead of growing its memory.
 * The standby hands what it receives to a sink (control/objects.c): a
 * snapshot is staged off the control thread and committed in one
 * transaction, changes are applied at once. Whatever the peer sends that
 * does not fit the protocol closes the link as malformed (link_drop); the
 * standby's stored objects are not touched by a snapshot that did not
 * complete.
 *
 * Control thread only. objsync never calls the link directly: sending
 * goes through struct objsync_io, so tests can connect two objsyncs back
 * to back.
 */
#ifndef TANDEM_OBJSYNC_H
#define TANDEM_OBJSYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Message types (application range of frame.h). Append only. */
#define OBJSYNC_TYPES(X)                                                       \
	X(OBJSYNC_SYNC_REQUEST, 0x40, "SYNC_REQUEST")                          \
	X(OBJSYNC_SNAPSHOT_BEGIN, 0x41, "SNAPSHOT_BEGIN")                      \
	X(OBJSYNC_SNAPSHOT_CHUNK, 0x42, "SNAPSHOT_CHUNK")                      \
	X(OBJSYNC_SNAPSHOT_END, 0x43, "SNAPSHOT_END")                          \
	X(OBJSYNC_CHANGES, 0x44, "CHANGES")                                    \
	X(OBJSYNC_ACK, 0x45, "ACK")                                            \
	X(OBJSYNC_SYNC_DELTA, 0x46, "SYNC_DELTA")

enum objsync_type {
#define OBJSYNC_TYPE_ENUM(name, value, text) name = (value),
	OBJSYNC_TYPES(OBJSYNC_TYPE_ENUM)
#undef OBJSYNC_TYPE_ENUM
};

/* ACK kinds. */
#define OBJSYNC_ACK_CHUNK 1
#define OBJSYNC_ACK_REVISION 2

/* Protocol limits (a peer above them is malformed). */
#define OBJSYNC_MAX_PER_FRAME 4096          /* objects in one CHUNK / CHANGES */
/* What this implementation sends. */
#define OBJSYNC_CHUNK_BYTES ((uint32_t)256 << 10)
#define OBJSYNC_CHANGES_PER_FRAME 1024
#define OBJSYNC_WINDOW 4                    /* snapshot chunks in flight */
#define OBJSYNC_CHANGES_WINDOW 65536        /* changes sent and not yet acknowledged */
#define OBJSYNC_QUEUE_LOW ((size_t)256 << 10) /* send while the link queue is below */

/* ---- messages ------------------------------------------------------------ */

struct objsync_msg {
	uint8_t type;
	uint8_t id[STORE_ID_LEN];   /* SYNC_REQUEST, SNAPSHOT_BEGIN */
	uint64_t revision;          /* SYNC_REQUEST, SNAPSHOT_BEGIN, ACK value,
	                             * SYNC_DELTA: from */
	uint64_t to;                /* SYNC_DELTA: the master's revision */
	uint64_t count;             /* SNAPSHOT_BEGIN, SNAPSHOT_END: objects */
	uint32_t seq;               /* SNAPSHOT_CHUNK; SNAPSHOT_END: chunks */
	uint8_t ack_kind;           /* ACK */
	uint32_t n;                 /* CHUNK, CHANGES: objects decoded */
};

/*
 * Decode one message. For CHUNK and CHANGES the objects are decoded into
 * objs (room for OBJSYNC_MAX_PER_FRAME) and, for CHANGES, their revisions
 * into revs (strictly increasing, checked here). Returns 0, or
 * TDM_EMALFORMED with a line in err naming the message and the field.
 */
int objsync_decode(uint8_t type, const uint8_t *p, uint32_t len, struct objsync_msg *m,
		   struct store_obj *objs, uint64_t *revs, char *err, size_t errcap);

/* Encoders for the fixed-size messages (into buf, cap bytes); return the
 * payload length or TDM_ENOSPACE. */
int objsync_encode_sync_request(uint8_t *buf, size_t cap, const uint8_t id[STORE_ID_LEN],
				uint64_t revision);
int objsync_encode_snapshot_begin(uint8_t *buf, size_t cap, const uint8_t id[STORE_ID_LEN],
				  uint64_t revision, uint64_t count);
int objsync_encode_snapshot_end(uint8_t *buf, size_t cap, uint32_t chunks, uint64_t count);
int objsync_encode_ack(uint8_t *buf, size_t cap, uint8_t kind, uint64_t value);
int objsync_encode_sync_delta(uint8_t *buf, size_t cap, uint64_t from, uint64_t to);

const char *objsync_type_name(uint8_t type);

/* ---- the replication state machines ---------------------------------------- */

/* How objsync reaches the link (link_send, link_queued, link_drop). */
struct objsync_io {
	int (*send)(void *arg, uint8_t type, const void *payload, uint32_t len);
	size_t (*queued)(void *arg);
	void (*drop)(void *arg, bool malformed, const char *text);
	void *arg;
};

/*
 * Where a standby puts what it receives (control/objects.c). gen names
 * one snapshot; completions carry it back, and objsync ignores those of a
 * snapshot it has given up.
 */
struct objsync_sink {
	/* A snapshot starts. 0, or an error (the link is dropped). */
	int (*snap_begin)(void *arg, uint64_t gen, const uint8_t id[STORE_ID_LEN],
			  uint64_t revision, uint64_t count);
	/* Objects of chunk seq, to be staged; the sink copies them before
	 * returning and calls objsync_chunk_done() when they are staged
	 * (from inside this call or later). */
	int (*snap_chunk)(void *arg, uint64_t gen, uint32_t seq, const struct store_obj *objs,
			  uint32_t n);
	/* Commit the snapshot; then objsync_snapshot_done(). */
	int (*snap_end)(void *arg, uint64_t gen);
	/* Give the snapshot up (link lost, bad frame): keep the old set. */
	void (*snap_abort)(void *arg, uint64_t gen);
	/* Apply changes now: persist them and publish them. 0 or an error
	 * (the link is dropped, the changes are asked for again after the
	 * reconnect). */
	int (*apply)(void *arg, const uint64_t *revs, const struct store_obj *objs, uint32_t n);
	void *arg;
};

/* Counters: name, help. Append only (they become metrics). */
#define OBJSYNC_COUNTERS(X)                                                    \
	X(syncs, "sync requests (one per login of the standby)")              \
	X(delta_syncs, "sync requests answered with only the missed changes") \
	X(snapshots, "full snapshots started")                                 \
	X(snapshots_done, "full snapshots completed and committed")            \
	X(snapshots_aborted, "snapshots given up (link lost, bad frame, failure)") \
	X(snapshot_objects, "objects sent or received in snapshots")           \
	X(changes, "changes sent or applied")                                  \
	X(change_frames, "CHANGES messages sent or received")                  \
	X(acks, "acknowledgements sent or received")                           \
	X(bad_messages, "replication messages refused as malformed or out of place") \
	X(apply_failures, "changes or snapshots the standby could not store")

struct objsync_counters {
#define OBJSYNC_COUNTER_FIELD(name, help) uint64_t name;
	OBJSYNC_COUNTERS(OBJSYNC_COUNTER_FIELD)
#undef OBJSYNC_COUNTER_FIELD
};

enum objsync_state {
	OBJSYNC_DOWN,               /* no peer logged in */
	OBJSYNC_WAITING,            /* master: for SYNC_REQUEST; standby: for the master's answer */
	OBJSYNC_SNAPSHOT,           /* a snapshot is being sent / received */
	OBJSYNC_SNAPSHOT_COMMIT,    /* all of it sent / received, waiting for the commit */
	OBJSYNC_STREAMING,          /* in sync: changes as they happen */
};
const char *objsync_state_name(enum objsync_state s);

struct objsync_info {
	bool is_master;
	enum objsync_state state;
	uint64_t revision;          /* this node's store */
	uint64_t peer_revision;     /* master: acknowledged by the standby;
	                             * standby: the master's, as last heard */
	uint64_t lag_revisions;     /* master: revision - acknowledged */
	uint64_t lag_ms;            /* master: age of the oldest unacknowledged change */
	uint64_t last_ack_delay_ms; /* master: commit to acknowledgement, last one */
	uint64_t snapshot_revision;
	uint64_t snapshot_total;    /* objects in the running snapshot */
	uint64_t snapshot_done;     /* sent and acknowledged / received and staged */
	uint64_t last_sync_ms;      /* monotonic time of the last completed sync, 0 never */
	char last_error[160];
	struct objsync_counters counters;
};

struct objsync;

struct objsync_params {
	bool is_master;
	struct store *store;
	struct objsync_io io;
	struct objsync_sink sink;   /* standby */
};

int objsync_create(const struct objsync_params *p, struct objsync **out);
void objsync_destroy(struct objsync *o);

/* The peer logged in / the link was lost. */
void objsync_up(struct objsync *o, uint64_t now_ms);
void objsync_down(struct objsync *o);

/* A replication frame from the peer. Drops the link itself on a bad one. */
void objsync_on_frame(struct objsync *o, uint8_t type, const uint8_t *payload, uint32_t len,
		      uint64_t now_ms);

/* The link's queue drained; or the master committed up to revision
 * (records the commit time for the lag); or time passed: send what can be
 * sent. */
void objsync_pump(struct objsync *o, uint64_t now_ms);
void objsync_committed(struct objsync *o, uint64_t revision, uint64_t now_ms);

/* Standby: the sink finished staging chunk seq of snapshot gen (rc < 0:
 * it failed), or committed the snapshot. */
void objsync_chunk_done(struct objsync *o, uint64_t gen, uint32_t seq, int rc);
void objsync_snapshot_done(struct objsync *o, uint64_t gen, int rc, uint64_t now_ms);

void objsync_info(const struct objsync *o, uint64_t now_ms, struct objsync_info *out);

#endif
