/* SPDX-License-Identifier: MIT */
/*
 * Internal to the dataplane: the per-request context shared by the
 * pipeline, the registrar and the redirect server. Not a public interface.
 */
#ifndef TANDEM_DP_INTERNAL_H
#define TANDEM_DP_INTERNAL_H

#include "pipeline.h"
#include "sip_reply.h"
#include "wbuf.h"

/* Methods we answer, for Allow headers. */
#define DP_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, PRACK, " \
		 "SUBSCRIBE, NOTIFY, UPDATE, MESSAGE, REFER, PUBLISH"
/* Option tags we support (Require / Supported). */
#define DP_SUPPORTED "path"

/* One request on its way through the pipeline. */
struct dp_req {
	struct dp_worker *w;
	const struct dp_settings *s;
	const struct dp_datagram *in;
	struct dp_reply *out;
	struct sip_msg *m;
	struct wbuf wb;
	unsigned code;           /* of the response being built */
	char to_tag[SIP_TO_TAG_LEN + 1];
};

/* Start a response in r->out: status line and copied fields. */
void dp_reply_start(struct dp_req *r, unsigned code, const char *reason);

/* Finish the response started with dp_reply_start(): end fields, size
 * check (a response that does not fit becomes a 500), counters. Always
 * returns true (a reply is to be sent), for tail calls. */
bool dp_reply_finish(struct dp_req *r);

/* dp_reply_finish() with a Date field first: the same bytes as writing
 * "Date: " and the worker's date, then dp_reply_finish(). The end of the
 * response is kept per worker and made again when the second or the
 * Server text changes. */
bool dp_reply_finish_dated(struct dp_req *r);

/* A response with nothing but the copied fields. */
bool dp_reply_simple(struct dp_req *r, unsigned code, const char *reason);

/* Is host the domain (kept in lower case) byte for byte? The usual case
 * of dp_host_served(), and an AOR's host needs no rewriting then. */
static inline bool dp_is_domain(const struct dp_settings *s, tstr host)
{
	return host.len && tstr_eq_field(host, s->domain, sizeof(s->domain));
}

/* dp_host_served() for a host that is not the domain byte for byte, with
 * a domain configured: its other spellings, aliases and addresses. */
bool dp_host_served_other(const struct dp_settings *s, tstr host);

/* Is host (as written in a URI) one this node serves? With no domain
 * configured every host is served. The usual case inline. */
static inline bool dp_host_served(const struct dp_settings *s, tstr host)
{
	return s->domain[0] == '\0' || dp_is_domain(s, host) || dp_host_served_other(s, host);
}

/* ";q=0.500" for a stored q (nothing for BINDING_Q_NONE). */
void dp_put_q(struct wbuf *wb, uint16_t q);

/* The handlers; each returns whether a reply was written. */
bool dp_register(struct dp_req *r);
bool dp_redirect(struct dp_req *r);

#endif
