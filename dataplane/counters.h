/* SPDX-License-Identifier: MIT */
/*
 * Dataplane counters, defined once.
 *
 * DP_COUNTERS expands into the per-worker counter block, the summation and
 * every output format (show stats, json, Prometheus), so names cannot drift.
 * The list is append-only: names are part of the monitoring contract
 * (Prometheus exposes tandem_<name>_total).
 *
 * Each block has exactly one writer (its worker, or the control thread for
 * its own block); readers sum the blocks. Writes are relaxed atomic stores of
 * load + n, which compile to a plain add on x86 and keep ThreadSanitizer and
 * the C memory model satisfied without a locked instruction.
 */
#ifndef TANDEM_COUNTERS_H
#define TANDEM_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#define DP_COUNTERS(X)                                                         \
	X(rx_datagrams, "SIP datagrams received")                              \
	X(rx_bytes, "Bytes of SIP datagrams received")                         \
	X(rx_keepalives, "Keep-alive datagrams (only CRLF) received")          \
	X(rx_responses, "SIP responses received and ignored")                  \
	X(rx_malformed, "Malformed requests answered with 400")                \
	X(drop_malformed, "Malformed datagrams dropped (no usable Via)")       \
	X(drop_unroutable, "Requests dropped: no address to send the answer to") \
	X(tx_responses, "Responses sent")                                      \
	X(tx_errors, "Responses the I/O back end failed to send")              \
	X(tx_too_big, "Responses that did not fit a datagram (500 sent)")      \
	X(resp_2xx, "2xx responses sent")                                      \
	X(resp_3xx, "3xx responses sent")                                      \
	X(resp_4xx, "4xx responses sent")                                      \
	X(resp_5xx, "5xx responses sent")                                      \
	X(resp_6xx, "6xx responses sent")                                      \
	X(req_register, "REGISTER requests")                                   \
	X(req_invite, "INVITE requests")                                       \
	X(req_options, "OPTIONS requests")                                     \
	X(req_ack, "ACK requests (absorbed)")                                  \
	X(req_cancel, "CANCEL requests")                                       \
	X(req_other, "Other requests of a known method")                       \
	X(req_unknown, "Requests of an unknown method (501)")                  \
	X(req_bad_version, "Requests of another SIP version (505)")            \
	X(req_bad_scheme, "Requests with an unsupported URI scheme (416)")     \
	X(req_bad_extension, "Requests requiring an unsupported extension (420)") \
	X(req_in_dialog, "Requests with a To tag (481)")                       \
	X(reg_updates, "REGISTERs that changed bindings")                      \
	X(reg_queries, "REGISTERs without Contact (binding queries)")          \
	X(reg_unregisters, "REGISTERs with Contact: * (remove all)")           \
	X(reg_domain_refused, "REGISTERs for a domain not served (404)")       \
	X(reg_interval_too_brief, "REGISTERs refused with 423")                \
	X(reg_out_of_order, "REGISTERs refused: CSeq not above the stored one") \
	X(reg_too_many_contacts, "REGISTERs refused: contact limit per AOR")   \
	X(reg_bad_aor, "REGISTERs refused: To is not a usable AOR")            \
	X(reg_no_memory, "REGISTERs refused: record pool exhausted (500)")     \
	X(reg_races, "Concurrent updates of one AOR retried")                  \
	X(auth_challenges, "401 challenges sent")                              \
	X(auth_ok, "Requests authenticated")                                   \
	X(auth_failed, "Wrong digest responses")                               \
	X(auth_stale, "Expired nonces (stale=true)")                           \
	X(auth_forbidden, "Authenticated user not allowed for the AOR (403)")  \
	X(auth_unknown_user, "Credentials for an unknown user (403)")          \
	X(redirect_302, "Requests redirected (302)")                           \
	X(redirect_404, "Requests for an unknown AOR (404)")                   \
	X(redirect_480, "Requests for a known user without binding (480)")     \
	X(bindings_added, "Bindings created")                                  \
	X(bindings_refreshed, "Bindings refreshed")                            \
	X(bindings_removed, "Bindings removed by the user agent")              \
	X(bindings_expired, "Bindings removed by the expiry sweep")            \
	X(aors_added, "Address-of-record records created")                     \
	X(aors_removed, "Address-of-record records deleted")                  \
	X(req_diverted, "Requests diverted to the master (standby role)")        \
	X(reg_license_refused, "REGISTERs refused: no port license left for a new AOR (403)")

enum dp_ctr {
#define DP_CTR_ENUM(name, help) DP_CTR_##name,
	DP_COUNTERS(DP_CTR_ENUM)
#undef DP_CTR_ENUM
	DP_CTR_COUNT
};

/* One writer per block; cache-line aligned so blocks never share a line. */
struct dp_counters {
	_Atomic uint64_t v[DP_CTR_COUNT];
} __attribute__((aligned(64)));

static inline void dp_count_add(struct dp_counters *c, enum dp_ctr id, uint64_t n)
{
	uint64_t cur = atomic_load_explicit(&c->v[id], memory_order_relaxed);

	atomic_store_explicit(&c->v[id], cur + n, memory_order_relaxed);
}

static inline void dp_count(struct dp_counters *c, enum dp_ctr id)
{
	dp_count_add(c, id, 1);
}

static inline uint64_t dp_counter_get(const struct dp_counters *c, enum dp_ctr id)
{
	return atomic_load_explicit(&c->v[id], memory_order_relaxed);
}

/* Name ("rx_datagrams") and help text of a counter. */
const char *dp_counter_name(enum dp_ctr id);
const char *dp_counter_help(enum dp_ctr id);

/* out[i] = sum over blocks[0..n) of counter i. */
void dp_counters_sum(const struct dp_counters *const *blocks, unsigned n,
		     uint64_t out[DP_CTR_COUNT]);

#endif
