/* SPDX-License-Identifier: MIT */
/*
 * The I/O-agnostic dataplane pipeline: one datagram in, at most one reply
 * out. The I/O back ends (io_socket.c, io_dpdk.c) own the bursts: they
 * receive a burst, call dp_burst_begin() once, dp_process() for each
 * datagram with a reply slot of their own memory (a socket buffer, an mbuf),
 * and send the replies as a burst.
 *
 * Calling context: a worker thread registered with urcu-qsbr and online.
 * Nothing here locks, allocates from the system, makes a system call
 * (besides the vDSO clock) or logs.
 */
#ifndef TANDEM_PIPELINE_H
#define TANDEM_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "bindings.h"
#include "counters.h"
#include "digest.h"
#include "sip_parse.h"
#include "sip_reply.h"
#include "users.h"

#define DP_MAX_LOCAL 16
#define DP_MAX_ALIASES 64
#define DP_HOST_MAX 256
/* Largest reply we build; a UDP datagram must fit. */
#define DP_REPLY_MAX 8192

enum dp_auth { DP_AUTH_NONE, DP_AUTH_DIGEST };
enum dp_divert { DP_DIVERT_REDIRECT, DP_DIVERT_REJECT };

/* Retry-After of a 503 from a standby that diverts with divert = reject. */
#define DP_DIVERT_RETRY_AFTER 30

/*
 * Registrar settings. Immutable once published: the control thread builds a
 * new one and publishes it with rcu_xchg_pointer (dp_shared.settings).
 */
struct dp_settings {
	char domain[DP_HOST_MAX];        /* lower case; empty: any domain */
	char realm[DP_HOST_MAX];         /* digest realm */
	enum dp_auth auth;
	uint32_t default_expires;        /* seconds */
	uint32_t min_expires;
	uint32_t max_expires;
	uint32_t max_contacts;           /* 0: no limit */
	uint32_t nonce_lifetime;         /* seconds */
	enum digest_alg algs[2];         /* challenges offered, preferred first */
	unsigned nalgs;
	/* Host names and addresses that mean "this node" in a Request-URI or
	 * AOR (the domain, every local address). Lower case, IPv6 with
	 * brackets. An AOR whose host is an alias is stored under the domain. */
	unsigned naliases;
	char aliases[DP_MAX_ALIASES][DP_HOST_MAX];
	/* The same for IP literals, compared as addresses ("[::1]" equals
	 * "[0:0::1]"). */
	unsigned naddrs;
	union tdm_addr addrs[DP_MAX_ALIASES];
	char server[64];                 /* Server header value */

	/* The pair (DESIGN.md §1), set from the role machine. A standby in
	 * the standby role diverts every request to the master. While a
	 * standby is active, max_expires is already capped at
	 * [pair] active_max_expires. */
	bool divert;
	enum dp_divert divert_mode;
	char master_hostport[DP_HOST_MAX]; /* "192.0.2.10:5060", "[2001:db8::1]:5060" */
	uint64_t epoch;

	/* Port licenses (docs/objects.md): with limit_aors, a REGISTER that
	 * would create an AOR beyond max_aors registered ones is refused. */
	bool limit_aors;
	uint32_t max_aors;

	struct rcu_head rcu;             /* the control thread frees old versions */
};

/* State shared by every worker; owned by the control thread. */
struct dp_shared {
	struct bind_table *bindings;
	struct users *users;             /* RCU pointer: rcu_dereference() */
	struct dp_settings *settings;    /* RCU pointer: rcu_dereference() */
	struct nonce_key nonce_key;      /* set before the workers start */
	uint8_t tag_key[16];             /* keys the stateless To tags */
	/* Every counter block (the workers', the control thread's), for the
	 * number of registered AORs; set before the workers start. */
	const struct dp_counters *const *ctr_blocks;
	unsigned nctr_blocks;
};

struct dp_datagram {
	const char *data;
	uint32_t len;
	union tdm_addr src;
	uint16_t local;                  /* index of the local address it came in on */
};

struct dp_reply {
	char *data;                      /* the back end's buffer */
	uint32_t cap;                    /* at least DP_REPLY_MAX is recommended */
	uint32_t len;                    /* set by dp_process() */
	union tdm_addr dst;              /* set by dp_process() */
};

#define DP_SCRATCH_BINDINGS (SIP_MAX_CONTACTS + 64)

/* Per-worker context: fetched once by the worker and passed down. */
struct dp_worker {
	struct dp_counters ctr;          /* first: its own cache lines */
	unsigned id;
	struct dp_shared *shared;
	struct rec_pool *pool;
	uint64_t now_ms;                 /* monotonic, per burst */
	int64_t now_s;                   /* wall clock, per burst */
	int64_t date_s;                  /* second the Date text is for */
	char date[40];                   /* "Tue, 25 Nov 2026 04:08:00 GMT" */
	uint32_t date_len;               /* strlen(date) */
	struct nonce_key_cache nonce_key; /* shared->nonce_key's HMAC schedule */
	struct digest_ha2_cache ha2;     /* the last digest HA2 */
	struct sip_src_text src_text;    /* the last source, as a Via writes it */
	/* The end of a 200 to a REGISTER, "Date: ...\r\nServer: ...\r\n
	 * Content-Length: 0\r\n\r\n", for the second date_s and the Server
	 * text tail_server (tail_len 0: none yet). */
	int64_t tail_date_s;
	uint32_t tail_len;
	uint32_t tail_server_len;
	char tail_server[64];
	char tail[160];
	struct sip_msg msg;              /* the request being processed */
	struct binding_src scratch[DP_SCRATCH_BINDINGS];
	char aor[512];
} __attribute__((aligned(64)));

/* AORs registered now: the sum over every counter block of AORs added
 * minus removed. Any thread. Workers add AORs concurrently, so it may be
 * behind by what the other workers are doing at this instant. */
uint64_t dp_aors_registered(const struct dp_shared *shared);

/* Set up w (zeroed counters); pool is the worker's own record pool. */
void dp_worker_init(struct dp_worker *w, unsigned id, struct dp_shared *shared,
		    struct rec_pool *pool);

/* Once per burst: refresh the clocks. */
void dp_burst_begin(struct dp_worker *w);

/* Once per burst, when its replies are sent: take back the retired
 * records whose grace period is over, and start the grace period of those
 * retired in the last millisecond or so (rec_pool_retire_flush()). */
static inline void dp_burst_end(struct dp_worker *w)
{
	rec_pool_retire_flush(w->pool, w->now_ms);
}

/* On the worker's own thread, registered with RCU: from now on the records
 * it retires go into its pool's batches (rec_pool_retire_batching(); when
 * their memory cannot be had, one call_rcu per record as elsewhere).
 * dp_worker_leave() before the thread unregisters. */
void dp_worker_enter(struct dp_worker *w);
void dp_worker_leave(struct dp_worker *w);

/*
 * The canonical AOR of a sip:/sips: URI, written to w->aor: the host
 * becomes the domain when it is one of our aliases, and a user part that
 * names a user (by name or number) becomes that user's name, so that
 * sip:100@10.0.0.1 and sip:alice@example.com are one AOR when alice has
 * number 100. *user gets the user object or NULL.
 * Returns the length, TDM_ENOTFOUND for a domain not served, or
 * TDM_EMALFORMED when the URI has no user part. Read side.
 */
int dp_aor_resolve(struct dp_worker *w, const struct dp_settings *s,
		   const struct sip_uri *u, const struct user **user);

/*
 * Process one datagram. Returns true when a reply was written to out
 * (out->len and out->dst set), false when the datagram is absorbed or
 * dropped (counted either way).
 */
bool dp_process(struct dp_worker *w, const struct dp_datagram *in, struct dp_reply *out);

#endif
