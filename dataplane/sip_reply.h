/* SPDX-License-Identifier: MIT */
/*
 * Building SIP responses to a parsed request, statelessly.
 *
 * sip_reply_begin() writes the status line and the fields a response copies
 * from its request (RFC 3261 §8.2.6.2): every Via field in order, the top
 * one with received/rport per §18.2.1 and RFC 3581; From; To, with a tag
 * added when the request had none; Call-ID; CSeq. The caller appends its own
 * fields and calls sip_reply_end(). Everything goes through a bounded wbuf:
 * check w->overflow once at the end.
 *
 * Calling context: any thread; no state, no allocation.
 */
#ifndef TANDEM_SIP_REPLY_H
#define TANDEM_SIP_REPLY_H

#include <stdbool.h>

#include "addr.h"
#include "sip_parse.h"
#include "wbuf.h"

#define SIP_TO_TAG_LEN 16

/*
 * Where the response to m goes (RFC 3261 §18.2.2 for unreliable unicast,
 * RFC 3581): with rport, the source address and port; otherwise the source
 * address and the Via sent-by port (5060 when absent). maddr is ignored: a
 * registrar has no business sending to a multicast group a request names.
 * Returns false when no usable address results (port 0).
 */
bool sip_reply_dest(const struct sip_msg *m, const union tdm_addr *src,
		    union tdm_addr *dst);

/* Deterministic To tag for a request without one, so that retransmissions
 * get the same tag: keyed hash of Call-ID and From tag, 16 hex digits. */
void sip_reply_to_tag(const uint8_t key[16], const struct sip_msg *m,
		      char out[SIP_TO_TAG_LEN]);

/*
 * The source address as the top Via of a response writes it:
 * ";received=" and the IP, ";rport=" and the port. A worker keeps one and
 * refreshes it with sip_src_text_of() per request: it is formatted again
 * only when the source differs from the previous request's (behind a
 * proxy or an SBC, every request comes from the same one). Zero it (or
 * sip_src_text_init()) before first use.
 */
struct sip_src_text {
	union tdm_addr addr;          /* the source the text is of */
	uint8_t received_len;         /* of received[] */
	uint8_t rport_len;            /* of rport[] */
	char received[80];            /* ";received=192.0.2.10", room to copy 64 */
	char rport[16];               /* ";rport=5060" */
};

static inline void sip_src_text_init(struct sip_src_text *t)
{
	t->addr.sa.sa_family = AF_UNSPEC;
}

/* sip_src_text_of() when the source is not the IPv4 one t holds: compare
 * in full, format if it differs. */
const struct sip_src_text *sip_src_text_set(struct sip_src_text *t, const union tdm_addr *src);

/* t, made to hold the text of src (formatted only when src differs from
 * the source t holds). The same IPv4 source is checked inline. */
static inline const struct sip_src_text *sip_src_text_of(struct sip_src_text *t,
							 const union tdm_addr *src)
{
	if (src->sa.sa_family == AF_INET && t->addr.sa.sa_family == AF_INET &&
	    t->addr.in4.sin_addr.s_addr == src->in4.sin_addr.s_addr &&
	    t->addr.in4.sin_port == src->in4.sin_port)
		return t;
	return sip_src_text_set(t, src);
}

/* Status line and copied fields. to_tag: SIP_TO_TAG_LEN characters (as
 * sip_reply_to_tag() writes them) added to a To without a tag, or NULL to
 * copy To unchanged. */
void sip_reply_begin(struct wbuf *w, const struct sip_msg *m, unsigned code,
		     const char *reason, const union tdm_addr *src, const char *to_tag);

/* sip_reply_begin() with the source as sip_src_text_of() wrote it: the
 * same bytes. */
void sip_reply_begin_src(struct wbuf *w, const struct sip_msg *m, unsigned code,
			 const char *reason, const struct sip_src_text *src,
			 const char *to_tag);

/* Server (if not NULL), Content-Length: 0 and the empty line. */
void sip_reply_end(struct wbuf *w, const char *server);

/* Standard reason phrase of a code ("Not Found"); "Unknown" otherwise. */
const char *sip_reason(unsigned code);

#endif
