/* SPDX-License-Identifier: MIT */
/*
 * The wire codec of the master/standby link (docs/replication-protocol.md
 * is the byte-by-byte specification; keep the two in step).
 *
 * A frame is an 8-byte header followed by its payload:
 *
 *   offset size
 *   0      1    magic 0x54 ('T')
 *   1      1    frame format version, 1
 *   2      1    message type (FRAME_TYPES below, or the application range)
 *   3      1    flags, 0 in version 1
 *   4      4    payload length, unsigned, big-endian
 *
 * Every integer on the wire is big-endian. Inside a payload:
 *   str   u16 length + that many bytes (no NUL)
 *   blob  u32 length + that many bytes
 *
 * frame_parse() cuts one frame out of a byte stream and checks the header;
 * msg_*_decode() check every field of the link's own messages and return
 * pointers into the payload (zero-copy: valid as long as the payload is).
 * Nothing here allocates, logs or keeps state: all functions are pure and
 * may run on any thread.
 *
 * Return convention: decoders return 0 (or, for frame_parse, 1 / 0) and
 * TDM_EMALFORMED with a struct frame_err saying what and where; encoders
 * return 0 or TDM_ENOSPACE when the output does not fit.
 */
#ifndef TANDEM_FRAME_H
#define TANDEM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

#define FRAME_MAGIC 0x54
#define FRAME_VERSION 1
#define FRAME_HEADER_LEN 8

/* The largest payload of any frame (a compile-time constant of the
 * protocol: a peer that sends more is malformed). */
#define FRAME_MAX_PAYLOAD ((uint32_t)16 << 20)
/* Until the peer has logged in, frames are small: a peer that has not
 * proved the password cannot make us buffer more than this. */
#define FRAME_LOGIN_MAX_PAYLOAD ((uint32_t)32 << 10)

/* The message set version carried in HELLO / CHALLENGE (not the header's
 * frame format version, which never changes). */
#define LINK_PROTO_VERSION 1

#define FRAME_NAME_MAX 63       /* node names, as in [node] name */
#define FRAME_TEXT_MAX 255      /* refusal and goodbye texts */
#define FRAME_INFO_MAX 16384    /* the general info blob of a login */
#define FRAME_NONCE_LEN 32
#define FRAME_PROOF_LEN 32

/* The link's own messages. Append only: the numbers are on the wire. */
#define FRAME_TYPES(X)                                                         \
	X(FRAME_HELLO, 0x01, "HELLO")                                          \
	X(FRAME_CHALLENGE, 0x02, "CHALLENGE")                                  \
	X(FRAME_PROOF, 0x03, "PROOF")                                          \
	X(FRAME_LOGIN_OK, 0x04, "LOGIN_OK")                                    \
	X(FRAME_LOGIN_REFUSED, 0x05, "LOGIN_REFUSED")                          \
	X(FRAME_HEARTBEAT, 0x10, "HEARTBEAT")                                  \
	X(FRAME_GOODBYE, 0x11, "GOODBYE")

enum frame_type {
#define FRAME_TYPE_ENUM(name, value, text) name = (value),
	FRAME_TYPES(FRAME_TYPE_ENUM)
#undef FRAME_TYPE_ENUM
};

/*
 * Types 0x40..0x7f belong to the application (objects replication, issue 4:
 * 0x40..0x4f objects snapshot/delta/ack, 0x50..0x5f bindings stream,
 * 0x60..0x7f not yet assigned). The link passes them through after login.
 * 0x00, 0x06..0x0f, 0x12..0x3f and 0x80..0xff are reserved: a frame with
 * such a type is malformed.
 */
#define FRAME_APP_MIN 0x40
#define FRAME_APP_MAX 0x7f

static inline bool frame_type_is_app(unsigned type)
{
	return type >= FRAME_APP_MIN && type <= FRAME_APP_MAX;
}

/* True for the link's own types and the application range. */
bool frame_type_known(unsigned type);
/* "HELLO", ..., "APP(0x42)" for application types, "0x99" otherwise:
 * buf (at least 16 bytes) is used for the last two. */
const char *frame_type_name(unsigned type, char *buf, size_t cap);

/* Roles carried in PROOF, LOGIN_OK and HEARTBEAT. */
enum link_role {
	LINK_ROLE_NONE = 0,     /* not decided yet (starting up) */
	LINK_ROLE_STANDBY = 1,  /* diverting requests to the master */
	LINK_ROLE_ACTIVE = 2,   /* serving registrations */
};
#define LINK_ROLE_MAX LINK_ROLE_ACTIVE
const char *link_role_name(unsigned role);

/* ---- errors ------------------------------------------------------------ */

#define FRAME_ERRORS(X)                                                        \
	X(FRAME_ERR_NONE, "no error")                                          \
	X(FRAME_ERR_MAGIC, "bad magic byte")                                   \
	X(FRAME_ERR_VERSION, "unsupported frame version")                      \
	X(FRAME_ERR_TYPE, "unknown message type")                              \
	X(FRAME_ERR_FLAGS, "reserved flags set")                               \
	X(FRAME_ERR_LENGTH, "payload length over the limit")                   \
	X(FRAME_ERR_SHORT, "message shorter than its fields")                  \
	X(FRAME_ERR_TRAILING, "bytes after the last field")                    \
	X(FRAME_ERR_FIELD, "invalid field value")

enum frame_errcode {
#define FRAME_ERR_ENUM(name, text) name,
	FRAME_ERRORS(FRAME_ERR_ENUM)
#undef FRAME_ERR_ENUM
};

#define FRAME_ERR_TEXT_MAX 160

struct frame_err {
	enum frame_errcode code;
	/* One line naming the message and the field:
	 * "HELLO: node name: 70 bytes, at most 63". */
	char text[FRAME_ERR_TEXT_MAX];
};

/* The fixed text of a code ("bad magic byte"). */
const char *frame_errcode_text(enum frame_errcode code);

/* ---- frames ------------------------------------------------------------ */

struct frame {
	uint8_t type;
	uint8_t flags;
	uint32_t len;           /* payload length */
	const uint8_t *payload; /* into the parsed buffer */
	size_t total;           /* FRAME_HEADER_LEN + len: bytes to consume */
};

/*
 * Look at the start of buf for one frame whose payload is at most
 * max_payload bytes (FRAME_MAX_PAYLOAD or FRAME_LOGIN_MAX_PAYLOAD).
 * Returns 1 with *out filled when a whole frame is there, 0 when more bytes
 * are needed (no byte seen so far is wrong), TDM_EMALFORMED with *err
 * filled as soon as a header byte is wrong, without waiting for the rest.
 */
int frame_parse(const void *buf, size_t len, uint32_t max_payload,
		struct frame *out, struct frame_err *err);

/* ---- bounded reader ------------------------------------------------------ */

/* Reads fields from a payload; each call checks the bytes left first and
 * returns false, consuming nothing, when the field does not fit. */
struct frd {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void frd_init(struct frd *r, const void *buf, size_t len)
{
	r->p = buf;
	r->end = r->p + len;
}

static inline size_t frd_left(const struct frd *r)
{
	return (size_t)(r->end - r->p);
}

bool frd_u8(struct frd *r, uint8_t *v);
bool frd_u16(struct frd *r, uint16_t *v);
bool frd_u32(struct frd *r, uint32_t *v);
bool frd_u64(struct frd *r, uint64_t *v);
/* n bytes, returned in place. */
bool frd_bytes(struct frd *r, size_t n, const uint8_t **out);
/* A str (u16 length prefix) of at most max bytes. False when truncated or
 * longer than max; *too_long tells which (may be NULL). */
bool frd_str(struct frd *r, uint16_t max, tstr *out, bool *too_long);
/* A blob (u32 length prefix) of at most max bytes. */
bool frd_blob(struct frd *r, uint32_t max, const uint8_t **out, uint32_t *len,
	      bool *too_long);

/* ---- bounded writer ------------------------------------------------------ */

/* Writes into a caller's buffer; a write that does not fit is dropped and
 * sets overflow, so a builder writes a whole message and checks once. */
struct fwr {
	uint8_t *start;
	uint8_t *p;
	uint8_t *end;
	bool overflow;
};

static inline void fwr_init(struct fwr *w, void *buf, size_t cap)
{
	w->start = buf;
	w->p = buf;
	w->end = w->p + cap;
	w->overflow = false;
}

static inline size_t fwr_len(const struct fwr *w)
{
	return (size_t)(w->p - w->start);
}

void fwr_u8(struct fwr *w, uint8_t v);
void fwr_u16(struct fwr *w, uint16_t v);
void fwr_u32(struct fwr *w, uint32_t v);
void fwr_u64(struct fwr *w, uint64_t v);
void fwr_bytes(struct fwr *w, const void *p, size_t n);
/* str: sets overflow if s is longer than 65535 bytes. */
void fwr_str(struct fwr *w, tstr s);
void fwr_blob(struct fwr *w, const void *p, uint32_t n);

/* Start a frame of this type: writes the header with a zero length and
 * returns its offset for fwr_frame_end(), which patches the length in. */
size_t fwr_frame_begin(struct fwr *w, uint8_t type);
/* Returns 0, or TDM_ENOSPACE when anything overflowed or the payload is
 * over FRAME_MAX_PAYLOAD. */
int fwr_frame_end(struct fwr *w, size_t begin);

/* Write one whole frame around payload. Returns 0 or TDM_ENOSPACE. */
int frame_encode(struct fwr *w, uint8_t type, const void *payload, uint32_t len);

/* ---- the link's messages -------------------------------------------------- */

/* HELLO (standby -> master) and CHALLENGE (master -> standby). */
struct msg_hello {
	uint16_t version;
	tstr name;
	const uint8_t *nonce;   /* FRAME_NONCE_LEN bytes */
};

/* PROOF (standby -> master) and LOGIN_OK (master -> standby). */
struct msg_proof {
	const uint8_t *proof;   /* FRAME_PROOF_LEN bytes */
	uint8_t role;           /* enum link_role */
	uint64_t epoch;
	const uint8_t *info;    /* the sender's general info, opaque here */
	uint32_t info_len;
};

/* LOGIN_REFUSED (either way) and GOODBYE (either way). */
struct msg_reason {
	uint16_t code;          /* non-zero */
	tstr text;              /* printable ASCII, at most FRAME_TEXT_MAX */
};

/* HEARTBEAT (both ways, after login). Times are the sender's monotonic
 * clock in microseconds; the peer only echoes them. */
struct msg_heartbeat {
	uint8_t role;
	uint64_t epoch;
	uint64_t send_us;       /* when this heartbeat was sent */
	uint64_t echo_us;       /* send_us of the last heartbeat received, 0: none */
	uint32_t hold_us;       /* time between receiving that one and sending this */
};

/* type is FRAME_HELLO or FRAME_CHALLENGE (resp. PROOF / LOGIN_OK, and
 * LOGIN_REFUSED / GOODBYE); it names the message in error texts. */
int msg_hello_encode(struct fwr *w, uint8_t type, const struct msg_hello *m);
int msg_hello_decode(uint8_t type, const uint8_t *p, uint32_t len,
		     struct msg_hello *m, struct frame_err *err);
int msg_proof_encode(struct fwr *w, uint8_t type, const struct msg_proof *m);
int msg_proof_decode(uint8_t type, const uint8_t *p, uint32_t len,
		     struct msg_proof *m, struct frame_err *err);
int msg_reason_encode(struct fwr *w, uint8_t type, const struct msg_reason *m);
int msg_reason_decode(uint8_t type, const uint8_t *p, uint32_t len,
		      struct msg_reason *m, struct frame_err *err);
int msg_heartbeat_encode(struct fwr *w, const struct msg_heartbeat *m);
int msg_heartbeat_decode(const uint8_t *p, uint32_t len,
			 struct msg_heartbeat *m, struct frame_err *err);

/* A node name as the wire accepts it: 1 to FRAME_NAME_MAX bytes of
 * letters, digits, '-', '_' and '.', not starting with '_' (the rule of
 * [node] name). */
bool frame_name_valid(tstr name);
/* Printable ASCII (0x20..0x7e), at most FRAME_TEXT_MAX bytes. */
bool frame_text_valid(tstr text);

#endif
