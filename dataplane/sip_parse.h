/* SPDX-License-Identifier: MIT */
/*
 * SIP message parser: zero-copy and bounds-checked.
 *
 * sip_parse() splits one datagram into its start line and header fields and
 * decodes the fields every request needs (top Via, From, To, Call-ID, CSeq,
 * Content-Length, Expires, Max-Forwards). Everything else is decoded on
 * demand by the helpers below, so a request only pays for what its handler
 * reads. Every tstr points into the caller's buffer; nothing is copied and
 * nothing is allocated.
 *
 * Accepted per RFC 3261 §7 and §25: CRLF or bare LF line ends, folded header
 * lines (a line that starts with SP or HT continues the previous field),
 * compact header names, several values in one field, quoted strings with
 * escapes, IPv6 references, leading CRLFs before the start line, and extra
 * octets after Content-Length (ignored, §18.3).
 *
 * Calling context: any thread; the parser has no state beyond *m.
 */
#ifndef TANDEM_SIP_PARSE_H
#define TANDEM_SIP_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "str.h"

/* Methods are case-sensitive tokens (RFC 3261 §7.1). */
#define SIP_METHODS(X)                                                         \
	X(SIP_INVITE, "INVITE")                                                \
	X(SIP_ACK, "ACK")                                                      \
	X(SIP_BYE, "BYE")                                                      \
	X(SIP_CANCEL, "CANCEL")                                                \
	X(SIP_OPTIONS, "OPTIONS")                                              \
	X(SIP_REGISTER, "REGISTER")                                            \
	X(SIP_INFO, "INFO")                                                    \
	X(SIP_PRACK, "PRACK")                                                  \
	X(SIP_SUBSCRIBE, "SUBSCRIBE")                                          \
	X(SIP_NOTIFY, "NOTIFY")                                                \
	X(SIP_UPDATE, "UPDATE")                                                \
	X(SIP_MESSAGE, "MESSAGE")                                              \
	X(SIP_REFER, "REFER")                                                  \
	X(SIP_PUBLISH, "PUBLISH")

enum sip_method {
	SIP_METHOD_UNKNOWN = 0,
#define SIP_METHOD_ENUM(id, name) id,
	SIP_METHODS(SIP_METHOD_ENUM)
#undef SIP_METHOD_ENUM
	SIP_METHOD_COUNT
};

/* Header fields the parser recognises: id, full name, compact form (0: none). */
#define SIP_HEADERS(X)                                                         \
	X(SIP_HDR_VIA, "Via", 'v')                                             \
	X(SIP_HDR_FROM, "From", 'f')                                           \
	X(SIP_HDR_TO, "To", 't')                                               \
	X(SIP_HDR_CALL_ID, "Call-ID", 'i')                                     \
	X(SIP_HDR_CSEQ, "CSeq", 0)                                             \
	X(SIP_HDR_CONTACT, "Contact", 'm')                                     \
	X(SIP_HDR_EXPIRES, "Expires", 0)                                       \
	X(SIP_HDR_MAX_FORWARDS, "Max-Forwards", 0)                             \
	X(SIP_HDR_CONTENT_LENGTH, "Content-Length", 'l')                       \
	X(SIP_HDR_CONTENT_TYPE, "Content-Type", 'c')                           \
	X(SIP_HDR_CONTENT_ENCODING, "Content-Encoding", 'e')                   \
	X(SIP_HDR_SUBJECT, "Subject", 's')                                     \
	X(SIP_HDR_SUPPORTED, "Supported", 'k')                                 \
	X(SIP_HDR_REQUIRE, "Require", 0)                                       \
	X(SIP_HDR_PROXY_REQUIRE, "Proxy-Require", 0)                           \
	X(SIP_HDR_AUTHORIZATION, "Authorization", 0)                           \
	X(SIP_HDR_PATH, "Path", 0)                                             \
	X(SIP_HDR_ROUTE, "Route", 0)                                           \
	X(SIP_HDR_RECORD_ROUTE, "Record-Route", 0)                             \
	X(SIP_HDR_USER_AGENT, "User-Agent", 0)                                 \
	X(SIP_HDR_TIMESTAMP, "Timestamp", 0)                                   \
	X(SIP_HDR_EVENT, "Event", 'o')                                         \
	X(SIP_HDR_ALLOW_EVENTS, "Allow-Events", 'u')                           \
	X(SIP_HDR_REFER_TO, "Refer-To", 'r')                                   \
	X(SIP_HDR_REFERRED_BY, "Referred-By", 'b')                             \
	X(SIP_HDR_SESSION_EXPIRES, "Session-Expires", 'x')

enum sip_hdr {
	SIP_HDR_OTHER = 0,
#define SIP_HDR_ENUM(id, name, compact) id,
	SIP_HEADERS(SIP_HDR_ENUM)
#undef SIP_HDR_ENUM
	SIP_HDR_COUNT
};

/* Limits. A message beyond them is refused as malformed, never truncated. */
#define SIP_MAX_HEADERS 128
#define SIP_MAX_CONTACTS 32

/* Absent (or, for Expires / expires=, malformed: RFC 3261 §10.3 step 6
 * treats those as absent) integer fields. */
#define SIP_ABSENT (-1)
#define SIP_Q_ABSENT (-1)

struct sip_header {
	uint8_t id;   /* enum sip_hdr */
	tstr name;    /* as written: "Call-ID", "i", "call-id" */
	tstr value;   /* leading and trailing LWS removed; folds kept inside */
	tstr line;    /* the whole field as written, name to end of value,
	               * continuation lines included, line terminator excluded */
};

/* One via-parm (RFC 3261 §20.42). */
struct sip_via {
	tstr value;     /* the whole via-parm, "SIP/2.0/UDP host:port;branch=..." */
	tstr protocol;  /* "SIP/2.0/UDP" */
	tstr transport; /* "UDP" */
	tstr host;      /* as written; an IPv6 reference keeps its brackets */
	uint16_t port;  /* 0 when absent */
	tstr params;    /* ";branch=...;rport" as written, or empty */
	tstr branch;
	tstr received;
	tstr maddr;
	bool rport;     /* an rport parameter is present (with or without value) */
	bool plain;     /* params hold no LWS and no quoted string, so each
	                 * parameter is the text between two ';' (set by
	                 * sip_parse() for the top Via; false means unknown) */
	uint32_t kept_len; /* with plain: the parameters other than received
	                    * and rport are params[0, kept_len), the others
	                    * all come after them; SIP_VIA_KEPT_SCATTERED when
	                    * they do not */
};

#define SIP_VIA_KEPT_SCATTERED UINT32_MAX

/* name-addr or addr-spec with header parameters (From, To, Contact, Path). */
struct sip_nameaddr {
	tstr display;  /* as written, quotes kept; empty when absent */
	tstr uri;      /* inside <...>, or the addr-spec */
	tstr params;   /* header parameters after the URI, from the first ';' */
	tstr tag;      /* value of the tag parameter, empty when absent */
	bool bracketed;
};

/* URIs (RFC 3261 §19.1, RFC 3966 for tel:); sip_uri_parse() below. */
enum sip_uri_scheme {
	SIP_URI_SIP,
	SIP_URI_SIPS,
	SIP_URI_TEL,
	SIP_URI_OTHER, /* syntactically an absoluteURI, scheme unknown */
};

struct sip_uri {
	enum sip_uri_scheme scheme;
	tstr scheme_name;
	tstr user;      /* escaped as written; empty when absent */
	tstr password;
	tstr host;      /* as written; IPv6 reference with brackets */
	uint16_t port;  /* 0 when absent */
	tstr params;    /* ";transport=udp;lr" as written, or empty */
	tstr headers;   /* after '?', without it; empty when absent */
};

/* A sip/sips URI with more uri-parameters, or more headers, than this is
 * refused: it keeps sip_uri_equal() linear in practice. */
#define SIP_URI_MAX_PARAMS 64

struct sip_contact {
	struct sip_nameaddr na;
	int uri_rc;        /* sip_uri_parse() of na.uri, and what it decoded */
	struct sip_uri uri;
	int64_t expires;   /* expires= parameter; SIP_ABSENT if absent or
	                    * malformed; saturates at 2^32-1 */
	int16_t q;         /* q * 1000 (0..1000), SIP_Q_ABSENT if absent */
	tstr instance;     /* +sip.instance value without its quotes */
	int32_t reg_id;    /* reg-id parameter, SIP_ABSENT if absent */
};


struct sip_msg {
	const char *buf;
	uint32_t len;
	bool is_request;

	/* Request line. */
	enum sip_method method;
	tstr method_name;
	tstr ruri;
	tstr version;      /* "SIP/2.0"; sip_parse() accepts any SIP/x.y */

	/* Status line. */
	uint16_t status;
	tstr reason;

	uint16_t nhdrs;
	struct sip_header hdrs[SIP_MAX_HEADERS];
	int16_t hdr_first[SIP_HDR_COUNT]; /* index into hdrs, -1 when absent */
	uint8_t hdr_count[SIP_HDR_COUNT]; /* saturates at 255 */

	/* Decoded by sip_parse(). */
	struct sip_via via;       /* the first via-parm of the first Via field */
	bool via_ok;              /* via decoded: a response can be routed */
	struct sip_nameaddr from;
	struct sip_nameaddr to;
	tstr call_id;
	uint32_t cseq;
	enum sip_method cseq_method;
	tstr cseq_method_name;
	int64_t expires;          /* Expires field, SIP_ABSENT if absent/malformed */
	int32_t max_forwards;     /* SIP_ABSENT if absent */
	tstr body;                /* framed by Content-Length, else rest of datagram */

	/* Decoded by sip_parse_contacts(). */
	bool contact_star;
	uint8_t ncontacts;
	struct sip_contact contacts[SIP_MAX_CONTACTS];

	/* Why sip_parse() refused the message, fit for a 400 reason phrase
	 * ("Missing Call-ID"); a static string, NULL when parsing succeeded. */
	const char *error;

	/* The Request-URI decoded once, by sip_parse(): sip_uri_parse() of
	 * ruri (TDM_EMALFORMED for a response) and, when that is 0, what it
	 * decoded. Handlers read these instead of decoding ruri again. */
	int ruri_rc;
	struct sip_uri ruri_uri;

	/* The To URI of a REGISTER (the address-of-record), decoded once,
	 * by sip_parse(), in the same way: sip_uri_parse() of to.uri and
	 * what it decoded. TDM_EMALFORMED for any other message (not
	 * decoded) and when To is missing or malformed. */
	int to_uri_rc;
	struct sip_uri to_uri;
};

/*
 * Parse one datagram. On success returns 0. On failure returns
 * TDM_ETRUNCATED for a datagram that holds nothing but whitespace (a
 * keep-alive), or TDM_EMALFORMED with m->error set; in that case the fields
 * decoded before the problem remain valid, and m->via_ok says whether a 400
 * can be routed back.
 *
 * Checks made here (RFC 3261 §8.2 and RFC 4475): a well-formed start line,
 * well-formed header fields, a request has exactly one each of From, To,
 * Call-ID and CSeq and at least one Via; the CSeq method equals the request
 * method; CSeq fits 32 bits; Max-Forwards is 0..255; Content-Length values
 * agree and are not larger than the bytes present.
 */
int sip_parse(struct sip_msg *m, const char *buf, uint32_t len);

/*
 * Decode every Contact field of m into m->contacts / m->contact_star,
 * each contact's URI with sip_uri_parse() (uri_rc, uri).
 * Returns 0, TDM_ETOOMANY beyond SIP_MAX_CONTACTS, or TDM_EMALFORMED with
 * m->error set ("*" mixed with other contacts is malformed).
 */
int sip_parse_contacts(struct sip_msg *m);

/* Header helpers. The first field with that id, or NULL. Inline: the
 * registrar asks for fields that are mostly absent (Path, Require,
 * User-Agent) on every REGISTER. */
static inline const struct sip_header *sip_header_first(const struct sip_msg *m,
							enum sip_hdr id)
{
	if ((unsigned)id >= SIP_HDR_COUNT || m->hdr_first[id] < 0 ||
	    m->hdr_first[id] >= m->nhdrs)
		return NULL;
	return &m->hdrs[m->hdr_first[id]];
}

/* The next field with the same id after h, or NULL. */
const struct sip_header *sip_header_next(const struct sip_msg *m, const struct sip_header *h);

/*
 * Iterate the comma-separated values of a field, honouring quotes and <>:
 *   tstr v; uint32_t pos = 0;
 *   while (sip_list_next(h->value, &pos, &v)) ...
 * Each value is trimmed of LWS; empty values are skipped.
 */
bool sip_list_next(tstr list, uint32_t *pos, tstr *value);

/* Does any Require / Supported / ... field of m list this option tag
 * (case-insensitive)? */
bool sip_has_option_tag(const struct sip_msg *m, enum sip_hdr id, const char *tag);

/*
 * Find a parameter in a ";name=value;flag" sequence (header or URI
 * parameters; LWS around ';' and '=' allowed). Names compare
 * case-insensitively. *value is the raw value (quotes kept), empty for a
 * flag. Returns false when absent.
 */
bool sip_param_find(tstr params, const char *name, tstr *value);

/* Decode a name-addr / addr-spec with parameters (From/To/Contact syntax).
 * Returns 0 or TDM_EMALFORMED. */
int sip_parse_nameaddr(tstr value, struct sip_nameaddr *out);

/* Decode one via-parm. Returns 0 or TDM_EMALFORMED. */
int sip_parse_via(tstr value, struct sip_via *out);

enum sip_method sip_method_from_name(tstr name);
/* The names of SIP_METHODS / SIP_HEADERS; NULL for SIP_METHOD_UNKNOWN,
 * SIP_HDR_OTHER and out-of-range values. */
const char *sip_method_name(enum sip_method m);
const char *sip_header_name(enum sip_hdr id);

/* Lexical helpers, shared by the parser and the URI code. */

/* The id of a header field name, full or compact, case-insensitive;
 * SIP_HDR_OTHER when it is not one of SIP_HEADERS. */
enum sip_hdr sip_header_lookup(tstr name);

/* Index of the first byte at or after pos that is not linear white space
 * (SP, HT, or CRLF / LF followed by SP or HT: a fold). */
uint32_t sip_skip_lws(tstr s, uint32_t pos);

/* Length of the host (hostname, IPv4address or IPv6reference with its
 * brackets) that starts s; 0 when s does not start with one. */
uint32_t sip_host_len(tstr s);

/*
 * Step through a ";name=value;flag" sequence, LWS allowed around ';' and
 * '=': returns 1 with *name and *value set (value raw, quotes kept, empty
 * for a flag), 0 at the end, or TDM_EMALFORMED.
 *   uint32_t pos = 0; tstr n, v; int r;
 *   while ((r = sip_param_next(params, &pos, &n, &v)) > 0) ...
 */
int sip_param_next(tstr params, uint32_t *pos, tstr *name, tstr *value);

/* ------------------------------------------------------------------ */
/* URIs (RFC 3261 §19.1, RFC 3966 for tel:). */

/* Returns 0 or TDM_EMALFORMED (*out then holds anything). For
 * SIP_URI_OTHER / SIP_URI_TEL only scheme_name is decoded and the rest of
 * the URI is left in params. */
int sip_uri_parse(tstr text, struct sip_uri *out);

/* URI equality per RFC 3261 §19.1.4 (for sip: and sips:). Falls back to a
 * case-insensitive comparison for other schemes. A parameter given twice
 * compares by its first occurrence, as sip_param_find() reads it. A URI
 * that does not parse equals nothing. */
bool sip_uri_equal(tstr a, tstr b);

/*
 * Write the canonical address-of-record of a sip:/sips: URI into out (and
 * a terminating NUL, which the returned length does not count):
 * "sip:" user "@" host, scheme and host in lower case, user %-escapes of
 * unreserved characters decoded and the rest with upper-case hex, port and
 * parameters dropped. Returns the length, or TDM_ENOSPACE /
 * TDM_EMALFORMED (no user part, or not a sip/sips URI).
 */
int sip_aor_canon(const struct sip_uri *u, char *out, uint32_t cap);

/* Digest credentials (RFC 2617 / RFC 7616 / RFC 8760). Quoted values are
 * returned without their quotes. */
struct sip_digest_cred {
	tstr username;
	tstr realm;
	tstr nonce;
	tstr uri;
	tstr response;
	tstr algorithm; /* empty means MD5 */
	tstr cnonce;
	tstr opaque;
	tstr qop;
	tstr nc;
};

/* Decode an Authorization value. Returns 0, TDM_ENOTFOUND when the scheme
 * is not Digest, or TDM_EMALFORMED. Backslash escapes inside quoted values
 * are left as written (zero-copy). Unknown parameters are ignored; a known
 * one given twice is malformed. */
int sip_parse_digest_cred(tstr value, struct sip_digest_cred *out);

#endif
