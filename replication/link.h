/* SPDX-License-Identifier: MIT */
/*
 * The master/standby link: TCP + TLS 1.3 between the two nodes of a pair,
 * the login (login.h), heartbeats, loss detection, and a framed channel for
 * the application's messages (objects replication, issue 4). The wire
 * format is docs/replication-protocol.md.
 *
 * The master listens and accepts at any time, but keeps at most one
 * logged-in standby: another standby (another name) that proves the
 * password is refused with "another standby is logged in"; the same
 * standby logging in again replaces its old session (which is most likely
 * half-dead). The standby connects to the master's address, and after any
 * failure or loss reconnects with an exponential backoff (100 ms doubling
 * to 1 s, plus up to 25% jitter; reset by a successful login).
 *
 * A connection that has not completed TCP + TLS + login within
 * login_timeout is closed. A logged-in link is lost when nothing has been
 * received for loss_timeout, or when the connection closes or fails.
 *
 * Everything runs on the control loop's thread, non-blocking. Nothing here
 * logs: every transition is reported through on_event with a one-line
 * text, and the caller logs it (one place). Callbacks may call link_send,
 * link_queued, link_info, link_set_info and link_drop, but never
 * link_destroy.
 */
#ifndef TANDEM_LINK_H
#define TANDEM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "frame.h"
#include "loop.h"
#include "tls.h"

#define LINK_DEFAULT_HEARTBEAT_MS 200
/* loss_timeout = 0 means max(5 x heartbeat_interval, LINK_MIN_LOSS_MS). */
#define LINK_LOSS_HEARTBEATS 5
#define LINK_MIN_LOSS_MS 1000
#define LINK_DEFAULT_LOGIN_TIMEOUT_MS 5000
#define LINK_CONNECT_TIMEOUT_MS 1000       /* TCP connect alone (standby) */
#define LINK_BACKOFF_MIN_MS 100
#define LINK_BACKOFF_MAX_MS 1000
#define LINK_LINGER_MS 1000                /* wait for the peer's close after ours */
#define LINK_MAX_PENDING 8                 /* master: connections not logged in;
					    * one more evicts the oldest */
#define LINK_DEFAULT_OUT_MAX ((size_t)32 << 20)
#define LINK_DEFAULT_OUT_LOW ((size_t)256 << 10)
#define LINK_TEXT_MAX 256

enum link_state {
	LINK_DOWN,          /* no connection (standby: waiting to reconnect) */
	LINK_CONNECTING,    /* standby: TCP connect in progress */
	LINK_TLS,           /* TLS handshake */
	LINK_LOGIN,         /* HELLO .. LOGIN_OK exchange */
	LINK_UP,            /* logged in, heartbeats flowing */
	LINK_REFUSED,       /* the last login was refused (by either side) */
};
const char *link_state_name(enum link_state s);

/* Why a connection ended. Append only: the numbers travel in GOODBYE. */
#define LINK_CLOSE_REASONS(X)                                                  \
	X(LINK_CLOSE_NONE, 0, "none")                                          \
	X(LINK_CLOSE_SHUTDOWN, 1, "link shut down")                            \
	X(LINK_CLOSE_CONNECT_FAILED, 2, "connection attempt failed")           \
	X(LINK_CLOSE_PEER_CLOSED, 3, "connection closed by the peer")          \
	X(LINK_CLOSE_IO_ERROR, 4, "connection error")                          \
	X(LINK_CLOSE_TLS_ERROR, 5, "TLS error")                                \
	X(LINK_CLOSE_LOGIN_TIMEOUT, 6, "TLS and login not completed in time")  \
	X(LINK_CLOSE_MALFORMED, 7, "malformed frame")                          \
	X(LINK_CLOSE_PROTOCOL, 8, "unexpected message")                        \
	X(LINK_CLOSE_TIMEOUT, 9, "nothing received for loss_timeout")          \
	X(LINK_CLOSE_REFUSED, 10, "login refused")                             \
	X(LINK_CLOSE_REPLACED, 11, "replaced by a new login of the same standby") \
	X(LINK_CLOSE_PEER_GOODBYE, 12, "the peer closed the link")             \
	X(LINK_CLOSE_APP, 13, "closed by the application")                     \
	X(LINK_CLOSE_NOMEM, 14, "out of memory")                               \
	X(LINK_CLOSE_EVICTED, 15, "too many connections waiting for login")

enum link_close {
#define LINK_CLOSE_ENUM(name, value, text) name = (value),
	LINK_CLOSE_REASONS(LINK_CLOSE_ENUM)
#undef LINK_CLOSE_ENUM
};
const char *link_close_text(unsigned reason);

enum link_event_kind {
	LINK_EV_CONNECTED,  /* TCP up: standby connected, master accepted */
	LINK_EV_LOGGED_IN,  /* login complete both ways */
	LINK_EV_REFUSED,    /* a login was refused, by us or by the peer */
	LINK_EV_LOST,       /* a logged-in link ended (reason, text) */
	LINK_EV_CLOSED,     /* a connection ended before login, or a connect
			     * attempt failed (reason, text) */
};
const char *link_event_name(enum link_event_kind k);

struct link_event {
	enum link_event_kind kind;
	const char *peer_addr;          /* "192.0.2.10:5070" */
	const char *peer_name;          /* "" until the peer said it */

	/* LOGGED_IN */
	uint8_t peer_role;              /* enum link_role */
	uint64_t peer_epoch;
	const uint8_t *peer_info;       /* the peer's info blob (valid during
					 * the callback only) */
	uint32_t peer_info_len;
	const char *tls_version;        /* "TLSv1.3" */
	const char *tls_cipher;

	/* REFUSED */
	uint16_t refusal;               /* enum login_refusal, or a code a newer
					 * peer sent */
	bool refused_by_peer;           /* false: we refused the peer */

	/* REFUSED, LOST, CLOSED */
	enum link_close reason;
	const char *text;               /* one line saying what happened */
};

struct link_callbacks {
	/* Required. */
	void (*on_event)(void *arg, const struct link_event *ev);
	/* Each heartbeat received. rtt_us is the round trip measured with it
	 * (the peer's hold time taken out), -1 while unknown. */
	void (*on_heartbeat)(void *arg, uint8_t peer_role, uint64_t peer_epoch,
			     int64_t rtt_us);
	/* What we announce in each heartbeat and at login. NULL: role
	 * LINK_ROLE_NONE, epoch 0. */
	void (*fill_heartbeat)(void *arg, uint8_t *role, uint64_t *epoch);
	/* An application frame (type FRAME_APP_MIN..FRAME_APP_MAX) from the
	 * logged-in peer; payload is valid during the call only. */
	void (*on_frame)(void *arg, uint8_t type, const uint8_t *payload,
			 uint32_t len);
	/* The output queue drained below out_low_water after it had reached it
	 * (or after a link_send was refused for lack of room). May be NULL. */
	void (*on_writable)(void *arg);
};

struct link_params {
	bool is_master;
	const char *name;               /* this node's [node] name */
	const char *password;           /* the PBX password, non-empty */
	size_t password_len;            /* 0: strlen(password) */
	union tdm_addr addr;            /* master: listen address (port 0: any
					 * free port, see link_local_addr);
					 * standby: the master's address */
	const char *data_dir;           /* where tls.key / tls.crt are made */
	const char *tls_cert;           /* NULL or "": generated in data_dir */
	const char *tls_key;
	uint32_t heartbeat_interval_ms; /* 0: LINK_DEFAULT_HEARTBEAT_MS */
	uint32_t loss_timeout_ms;       /* 0: max(5 x heartbeat, 1 s); must
					 * exceed the heartbeat interval */
	uint32_t login_timeout_ms;      /* 0: LINK_DEFAULT_LOGIN_TIMEOUT_MS */
	size_t out_max;                 /* 0: LINK_DEFAULT_OUT_MAX; never less
					 * than one largest frame */
	size_t out_low_water;           /* 0: LINK_DEFAULT_OUT_LOW */
	const void *info;               /* sent at login (PROOF / LOGIN_OK), */
	uint32_t info_len;              /* at most FRAME_INFO_MAX bytes */
	struct loop *loop;
	struct link_callbacks cb;
	void *arg;
};

/* Counters: name, help. Append only (they become metrics). */
#define LINK_COUNTERS(X)                                                       \
	X(connects, "TCP connections established (standby) or accepted (master)") \
	X(connect_failures, "connection attempts that failed before TCP was up") \
	X(handshake_failures, "connections that ended before login: TLS error, bad frame, peer gone, timeout") \
	X(login_timeouts, "connections closed for not completing TLS and login in time") \
	X(logins, "logins completed")                                          \
	X(refusals, "logins refused, by either side")                          \
	X(losses, "logged-in links lost")                                      \
	X(bad_frames, "connections closed for a malformed or unexpected frame") \
	X(rejected, "connections dropped because too many were waiting for login") \
	X(frames_in, "frames received")                                        \
	X(frames_out, "frames queued for sending")                             \
	X(bytes_in, "frame bytes received (header included)")                  \
	X(bytes_out, "frame bytes queued for sending (header included)")       \
	X(heartbeats_in, "heartbeats received")                                \
	X(heartbeats_out, "heartbeats sent")                                   \
	X(send_refused, "link_send calls refused: not logged in or queue full")

struct link_counters {
#define LINK_COUNTER_FIELD(name, help) uint64_t name;
	LINK_COUNTERS(LINK_COUNTER_FIELD)
#undef LINK_COUNTER_FIELD
};

/* What `show peers` prints. Times are monotonic milliseconds
 * (clock_mono_ms), 0 when never. */
struct link_info {
	enum link_state state;
	bool is_master;
	char addr[TDM_ADDR_STRLEN];     /* master: listening on; standby: the master's */
	char peer_name[FRAME_NAME_MAX + 1];
	char peer_addr[TDM_ADDR_STRLEN];
	uint64_t since_ms;              /* when the link last went up or down */
	uint8_t peer_role;
	uint64_t peer_epoch;
	char tls_version[16];
	char tls_cipher[64];
	char fingerprint[TLS_FPR_STRLEN];       /* our certificate */
	char peer_fingerprint[TLS_FPR_STRLEN];  /* the peer's, "" if none */
	int64_t rtt_us;                 /* last heartbeat round trip, -1: none */
	uint64_t last_rx_ms;            /* last frame from the logged-in peer */
	char last_error[LINK_TEXT_MAX]; /* last close or failure, "" if none */
	uint64_t last_error_ms;
	uint16_t refusal;               /* last refusal, 0 after a login */
	bool refused_by_peer;
	char refusal_text[LINK_TEXT_MAX];
	uint64_t refusal_ms;
	size_t out_queued;              /* bytes waiting to be sent */
	unsigned pending;               /* master: connections not logged in */
	uint32_t heartbeat_interval_ms; /* effective values */
	uint32_t loss_timeout_ms;
	uint32_t login_timeout_ms;
	struct link_counters counters;
};

struct link;

/*
 * Load or generate the TLS identity, derive the login key, then listen
 * (master) or start connecting (standby). Start-up errors are returned
 * with a line in err naming the cause: the listen address in use, a key
 * or certificate that cannot be read, generated or does not match (with
 * its path), a bad parameter. Returns 0 or a negative error.
 */
int link_create(const struct link_params *p, struct link **out,
		char *err, size_t errcap);

/* Send GOODBYE to the peer (best effort), close every connection, free.
 * No event is reported. NULL is a no-op. Never from a link callback. */
void link_destroy(struct link *l);

/*
 * Queue an application frame (type FRAME_APP_MIN..FRAME_APP_MAX, payload
 * at most FRAME_MAX_PAYLOAD) for the logged-in peer. Returns 0,
 * -ENOTCONN (no peer logged in), -ENOBUFS (the queue would exceed
 * out_max: wait for on_writable), -EINVAL (type), -EMSGSIZE (length).
 */
int link_send(struct link *l, uint8_t type, const void *payload, uint32_t len);

/* Bytes queued for the logged-in peer and not yet sent (0 when none). */
size_t link_queued(const struct link *l);

bool link_is_up(const struct link *l);

/* Replace the info blob sent at the next logins. Returns 0 or -EMSGSIZE
 * (more than FRAME_INFO_MAX) or -ENOMEM. */
int link_set_info(struct link *l, const void *info, uint32_t len);

/* Close the logged-in connection: sends GOODBYE with text, reports LOST
 * (reason LINK_CLOSE_APP) before returning; `malformed` counts it as a
 * bad frame (the application found a bad payload). The standby then
 * reconnects as after any loss. No-op when nobody is logged in. */
void link_drop(struct link *l, bool malformed, const char *text);

/* The address the master listens on (with the port chosen by the kernel
 * when the parameter's port was 0); the master's address on a standby. */
void link_local_addr(const struct link *l, union tdm_addr *out);

void link_info(const struct link *l, struct link_info *out);

#endif
