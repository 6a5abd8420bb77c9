/* SPDX-License-Identifier: MIT */
/*
 * The link's wire codec (see frame.h and docs/replication-protocol.md):
 * frame header parsing, a bounded reader and writer, and the encoders and
 * decoders of the link's own messages. Each decoder reads its fields in
 * order through the bounded reader and leaves through one `malformed`
 * label that names the message and the field.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "frame.h"

/* ---- names and texts ----------------------------------------------------- */

bool frame_type_known(unsigned type)
{
	switch (type) {
#define FRAME_TYPE_CASE(name, value, text) case value:
		FRAME_TYPES(FRAME_TYPE_CASE)
#undef FRAME_TYPE_CASE
		return true;
	default:
		return frame_type_is_app(type);
	}
}

const char *frame_type_name(unsigned type, char *buf, size_t cap)
{
	switch (type) {
#define FRAME_TYPE_NAME(name, value, text) case value: return text;
		FRAME_TYPES(FRAME_TYPE_NAME)
#undef FRAME_TYPE_NAME
	default:
		break;
	}
	snprintf(buf, cap, frame_type_is_app(type) ? "APP(0x%02x)" : "0x%02x",
		 type & 0xffu);
	return buf;
}

const char *link_role_name(unsigned role)
{
	switch (role) {
	case LINK_ROLE_NONE:
		return "none";
	case LINK_ROLE_STANDBY:
		return "standby";
	case LINK_ROLE_ACTIVE:
		return "active";
	default:
		return "unknown";
	}
}

const char *frame_errcode_text(enum frame_errcode code)
{
	switch (code) {
#define FRAME_ERR_CASE(name, text) case name: return text;
		FRAME_ERRORS(FRAME_ERR_CASE)
#undef FRAME_ERR_CASE
	}
	return "unknown frame error";
}

static int set_err(struct frame_err *err, enum frame_errcode code,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(struct frame_err *err, enum frame_errcode code,
		   const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->text, sizeof(err->text), fmt, ap);
		va_end(ap);
	}
	return TDM_EMALFORMED;
}

bool frame_name_valid(tstr name)
{
	if (name.len == 0 || name.len > FRAME_NAME_MAX || name.s[0] == '_')
		return false;
	for (uint32_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool frame_text_valid(tstr text)
{
	if (text.len > FRAME_TEXT_MAX)
		return false;
	for (uint32_t i = 0; i < text.len; i++) {
		unsigned char c = (unsigned char)text.s[i];

		if (c < 0x20 || c > 0x7e)
			return false;
	}
	return true;
}

/* ---- header -------------------------------------------------------------- */

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int frame_parse(const void *buf, size_t len, uint32_t max_payload,
		struct frame *out, struct frame_err *err)
{
	const uint8_t *p = buf;
	char tbuf[16];
	uint32_t plen;

	/* Each header byte is checked as soon as it is there, so garbage is
	 * refused at once rather than after waiting for a length's worth. */
	if (len >= 1 && p[0] != FRAME_MAGIC)
		return set_err(err, FRAME_ERR_MAGIC, "frame header: magic 0x%02x, "
			       "expected 0x%02x", p[0], FRAME_MAGIC);
	if (len >= 2 && p[1] != FRAME_VERSION)
		return set_err(err, FRAME_ERR_VERSION, "frame header: frame version "
			       "%u, expected %u", p[1], FRAME_VERSION);
	if (len >= 3 && !frame_type_known(p[2]))
		return set_err(err, FRAME_ERR_TYPE, "frame header: message type %s "
			       "is reserved", frame_type_name(p[2], tbuf, sizeof(tbuf)));
	if (len >= 4 && p[3] != 0)
		return set_err(err, FRAME_ERR_FLAGS, "frame header: flags 0x%02x, "
			       "none are defined", p[3]);
	if (len < FRAME_HEADER_LEN)
		return 0;
	plen = get_be32(p + 4);
	if (plen > max_payload)
		return set_err(err, FRAME_ERR_LENGTH, "frame header: %s payload of "
			       "%u bytes, at most %u here",
			       frame_type_name(p[2], tbuf, sizeof(tbuf)), plen, max_payload);
	if (len - FRAME_HEADER_LEN < plen)
		return 0;
	out->type = p[2];
	out->flags = p[3];
	out->len = plen;
	out->payload = p + FRAME_HEADER_LEN;
	out->total = FRAME_HEADER_LEN + (size_t)plen;
	return 1;
}

/* ---- reader -------------------------------------------------------------- */

bool frd_u8(struct frd *r, uint8_t *v)
{
	if (frd_left(r) < 1)
		return false;
	*v = r->p[0];
	r->p += 1;
	return true;
}

bool frd_u16(struct frd *r, uint16_t *v)
{
	if (frd_left(r) < 2)
		return false;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return true;
}

bool frd_u32(struct frd *r, uint32_t *v)
{
	if (frd_left(r) < 4)
		return false;
	*v = get_be32(r->p);
	r->p += 4;
	return true;
}

bool frd_u64(struct frd *r, uint64_t *v)
{
	if (frd_left(r) < 8)
		return false;
	*v = (uint64_t)get_be32(r->p) << 32 | get_be32(r->p + 4);
	r->p += 8;
	return true;
}

bool frd_bytes(struct frd *r, size_t n, const uint8_t **out)
{
	if (frd_left(r) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

bool frd_str(struct frd *r, uint16_t max, tstr *out, bool *too_long)
{
	struct frd save = *r;
	const uint8_t *p;
	uint16_t n;

	if (too_long)
		*too_long = false;
	if (!frd_u16(r, &n))
		return false;
	if (n > max) {
		if (too_long)
			*too_long = true;
		*r = save;
		return false;
	}
	if (!frd_bytes(r, n, &p)) {
		*r = save;
		return false;
	}
	*out = tstr_make((const char *)p, n);
	return true;
}

bool frd_blob(struct frd *r, uint32_t max, const uint8_t **out, uint32_t *len,
	      bool *too_long)
{
	struct frd save = *r;
	uint32_t n;

	if (too_long)
		*too_long = false;
	if (!frd_u32(r, &n))
		return false;
	if (n > max) {
		if (too_long)
			*too_long = true;
		*r = save;
		return false;
	}
	if (!frd_bytes(r, n, out)) {
		*r = save;
		return false;
	}
	*len = n;
	return true;
}

/* ---- writer -------------------------------------------------------------- */

void fwr_bytes(struct fwr *w, const void *p, size_t n)
{
	if (w->overflow || n > (size_t)(w->end - w->p)) {
		w->overflow = true;
		return;
	}
	if (n)
		memcpy(w->p, p, n);
	w->p += n;
}

void fwr_u8(struct fwr *w, uint8_t v)
{
	fwr_bytes(w, &v, 1);
}

void fwr_u16(struct fwr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	fwr_bytes(w, b, sizeof(b));
}

void fwr_u32(struct fwr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
			 (uint8_t)v };

	fwr_bytes(w, b, sizeof(b));
}

void fwr_u64(struct fwr *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	fwr_bytes(w, b, sizeof(b));
}

void fwr_str(struct fwr *w, tstr s)
{
	if (s.len > UINT16_MAX) {
		w->overflow = true;
		return;
	}
	fwr_u16(w, (uint16_t)s.len);
	fwr_bytes(w, s.s, s.len);
}

void fwr_blob(struct fwr *w, const void *p, uint32_t n)
{
	fwr_u32(w, n);
	fwr_bytes(w, p, n);
}

size_t fwr_frame_begin(struct fwr *w, uint8_t type)
{
	size_t begin = fwr_len(w);

	fwr_u8(w, FRAME_MAGIC);
	fwr_u8(w, FRAME_VERSION);
	fwr_u8(w, type);
	fwr_u8(w, 0);
	fwr_u32(w, 0);
	return begin;
}

int fwr_frame_end(struct fwr *w, size_t begin)
{
	size_t plen;
	uint8_t *h;

	if (w->overflow || fwr_len(w) < begin + FRAME_HEADER_LEN)
		return TDM_ENOSPACE;
	plen = fwr_len(w) - begin - FRAME_HEADER_LEN;
	if (plen > FRAME_MAX_PAYLOAD) {
		w->overflow = true;
		return TDM_ENOSPACE;
	}
	h = w->start + begin + 4;
	h[0] = (uint8_t)(plen >> 24);
	h[1] = (uint8_t)(plen >> 16);
	h[2] = (uint8_t)(plen >> 8);
	h[3] = (uint8_t)plen;
	return 0;
}

int frame_encode(struct fwr *w, uint8_t type, const void *payload, uint32_t len)
{
	size_t begin = fwr_frame_begin(w, type);

	fwr_bytes(w, payload, len);
	return fwr_frame_end(w, begin);
}

/* ---- messages ------------------------------------------------------------ */

/* The decoders below share this shape: read each field, and on the first
 * one that is missing or wrong, jump to `malformed` with `what` naming it
 * and `code` saying why. */

static int field_err(struct frame_err *err, uint8_t type, enum frame_errcode code,
		     const char *what, const char *detail)
{
	char tbuf[16];

	return set_err(err, code, "%s: %s: %s", frame_type_name(type, tbuf, sizeof(tbuf)),
		       what, detail ? detail : frame_errcode_text(code));
}

static int trailing_err(struct frame_err *err, uint8_t type, const struct frd *r)
{
	char tbuf[16];

	return set_err(err, FRAME_ERR_TRAILING, "%s: %zu bytes after the last field",
		       frame_type_name(type, tbuf, sizeof(tbuf)), frd_left(r));
}

int msg_hello_encode(struct fwr *w, uint8_t type, const struct msg_hello *m)
{
	size_t begin = fwr_frame_begin(w, type);

	fwr_u16(w, m->version);
	fwr_str(w, m->name);
	fwr_bytes(w, m->nonce, FRAME_NONCE_LEN);
	return fwr_frame_end(w, begin);
}

int msg_hello_decode(uint8_t type, const uint8_t *p, uint32_t len,
		     struct msg_hello *m, struct frame_err *err)
{
	enum frame_errcode code = FRAME_ERR_SHORT;
	const char *what, *detail = NULL;
	char dbuf[64];
	bool too_long;
	struct frd r;

	frd_init(&r, p, len);
	what = "protocol version";
	if (!frd_u16(&r, &m->version))
		goto malformed;
	if (m->version == 0) {
		code = FRAME_ERR_FIELD;
		detail = "0 is not a version";
		goto malformed;
	}
	what = "node name";
	if (!frd_str(&r, FRAME_NAME_MAX, &m->name, &too_long)) {
		if (too_long) {
			code = FRAME_ERR_FIELD;
			snprintf(dbuf, sizeof(dbuf), "longer than %u bytes", FRAME_NAME_MAX);
			detail = dbuf;
		}
		goto malformed;
	}
	if (!frame_name_valid(m->name)) {
		code = FRAME_ERR_FIELD;
		detail = "empty, or not letters, digits, '-', '_', '.'";
		goto malformed;
	}
	what = "nonce";
	if (!frd_bytes(&r, FRAME_NONCE_LEN, &m->nonce))
		goto malformed;
	if (frd_left(&r))
		return trailing_err(err, type, &r);
	return 0;
malformed:
	return field_err(err, type, code, what, detail);
}

int msg_proof_encode(struct fwr *w, uint8_t type, const struct msg_proof *m)
{
	size_t begin = fwr_frame_begin(w, type);

	fwr_bytes(w, m->proof, FRAME_PROOF_LEN);
	fwr_u8(w, m->role);
	fwr_u64(w, m->epoch);
	if (m->info_len > FRAME_INFO_MAX)
		w->overflow = true;
	fwr_blob(w, m->info, m->info_len);
	return fwr_frame_end(w, begin);
}

int msg_proof_decode(uint8_t type, const uint8_t *p, uint32_t len,
		     struct msg_proof *m, struct frame_err *err)
{
	enum frame_errcode code = FRAME_ERR_SHORT;
	const char *what, *detail = NULL;
	char dbuf[64];
	bool too_long;
	struct frd r;

	frd_init(&r, p, len);
	what = "proof";
	if (!frd_bytes(&r, FRAME_PROOF_LEN, &m->proof))
		goto malformed;
	what = "role";
	if (!frd_u8(&r, &m->role))
		goto malformed;
	if (m->role > LINK_ROLE_MAX) {
		code = FRAME_ERR_FIELD;
		snprintf(dbuf, sizeof(dbuf), "%u is not a role", m->role);
		detail = dbuf;
		goto malformed;
	}
	what = "epoch";
	if (!frd_u64(&r, &m->epoch))
		goto malformed;
	what = "info";
	if (!frd_blob(&r, FRAME_INFO_MAX, &m->info, &m->info_len, &too_long)) {
		if (too_long) {
			code = FRAME_ERR_FIELD;
			snprintf(dbuf, sizeof(dbuf), "longer than %u bytes", FRAME_INFO_MAX);
			detail = dbuf;
		}
		goto malformed;
	}
	if (frd_left(&r))
		return trailing_err(err, type, &r);
	return 0;
malformed:
	return field_err(err, type, code, what, detail);
}

int msg_reason_encode(struct fwr *w, uint8_t type, const struct msg_reason *m)
{
	size_t begin = fwr_frame_begin(w, type);

	fwr_u16(w, m->code);
	if (!frame_text_valid(m->text))
		w->overflow = true;
	fwr_str(w, m->text);
	return fwr_frame_end(w, begin);
}

int msg_reason_decode(uint8_t type, const uint8_t *p, uint32_t len,
		      struct msg_reason *m, struct frame_err *err)
{
	enum frame_errcode code = FRAME_ERR_SHORT;
	const char *what, *detail = NULL;
	char dbuf[64];
	bool too_long;
	struct frd r;

	frd_init(&r, p, len);
	what = "code";
	if (!frd_u16(&r, &m->code))
		goto malformed;
	if (m->code == 0) {
		code = FRAME_ERR_FIELD;
		detail = "0 is not a reason";
		goto malformed;
	}
	what = "text";
	if (!frd_str(&r, FRAME_TEXT_MAX, &m->text, &too_long)) {
		if (too_long) {
			code = FRAME_ERR_FIELD;
			snprintf(dbuf, sizeof(dbuf), "longer than %u bytes", FRAME_TEXT_MAX);
			detail = dbuf;
		}
		goto malformed;
	}
	if (!frame_text_valid(m->text)) {
		code = FRAME_ERR_FIELD;
		detail = "not printable ASCII";
		goto malformed;
	}
	if (frd_left(&r))
		return trailing_err(err, type, &r);
	return 0;
malformed:
	return field_err(err, type, code, what, detail);
}

int msg_heartbeat_encode(struct fwr *w, const struct msg_heartbeat *m)
{
	size_t begin = fwr_frame_begin(w, FRAME_HEARTBEAT);

	fwr_u8(w, m->role);
	fwr_u64(w, m->epoch);
	fwr_u64(w, m->send_us);
	fwr_u64(w, m->echo_us);
	fwr_u32(w, m->hold_us);
	return fwr_frame_end(w, begin);
}

int msg_heartbeat_decode(const uint8_t *p, uint32_t len,
			 struct msg_heartbeat *m, struct frame_err *err)
{
	enum frame_errcode code = FRAME_ERR_SHORT;
	const char *what, *detail = NULL;
	char dbuf[64];
	struct frd r;

	frd_init(&r, p, len);
	what = "role";
	if (!frd_u8(&r, &m->role))
		goto malformed;
	if (m->role > LINK_ROLE_MAX) {
		code = FRAME_ERR_FIELD;
		snprintf(dbuf, sizeof(dbuf), "%u is not a role", m->role);
		detail = dbuf;
		goto malformed;
	}
	what = "epoch";
	if (!frd_u64(&r, &m->epoch))
		goto malformed;
	what = "send time";
	if (!frd_u64(&r, &m->send_us))
		goto malformed;
	what = "echoed time";
	if (!frd_u64(&r, &m->echo_us))
		goto malformed;
	what = "hold time";
	if (!frd_u32(&r, &m->hold_us))
		goto malformed;
	if (frd_left(&r))
		return trailing_err(err, FRAME_HEARTBEAT, &r);
	return 0;
malformed:
	return field_err(err, FRAME_HEARTBEAT, code, what, detail);
}
