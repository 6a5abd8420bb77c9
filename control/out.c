/* SPDX-License-Identifier: MIT */
/*
 * Structured output of the stats socket (see out.h): a growable buffer and
 * two renderers over one description of the answer.
 *
 * Text is a YAML-like outline for people: "key: value" lines, nested
 * containers indented by two spaces, list items introduced by "- " (the
 * dash of an item that is itself a container goes on the item's first
 * line). In text, first[d] means "nothing has been written inside the
 * container at depth d yet", which is exactly when its list dash is still
 * pending. JSON is one line; there first[d] means "no member at depth d
 * yet", i.e. no comma needed. Both meanings coincide on the JSON side.
 *
 * Every byte of a value is escaped for its format (out.h lists the rules);
 * nothing a handler passes in can produce an empty text line or invalid
 * JSON.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define DBUF_MIN_CAP 256

/* ---- dbuf ---------------------------------------------------------------- */

void dbuf_init(struct dbuf *b)
{
	*b = (struct dbuf){ 0 };
}

void dbuf_free(struct dbuf *b)
{
	free(b->data);
	dbuf_init(b);
}

void dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

/* Room for extra more bytes plus the terminating NUL. */
static bool dbuf_reserve(struct dbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (b->cap > b->len && extra < b->cap - b->len)
		return true;
	if (extra >= DBUF_MAX || b->len + extra >= DBUF_MAX)
		goto oom;
	need = b->len + extra + 1;
	cap = b->cap ? b->cap : DBUF_MIN_CAP;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		goto oom;
	b->data = p;
	b->cap = cap;
	return true;
oom:
	b->oom = true;
	return false;
}

void dbuf_put(struct dbuf *b, const void *data, size_t len)
{
	if (!dbuf_reserve(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void dbuf_putc(struct dbuf *b, char c)
{
	dbuf_put(b, &c, 1);
}

void dbuf_puts(struct dbuf *b, const char *s)
{
	dbuf_put(b, s, strlen(s));
}

static void dbuf_vprintf(struct dbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	if (!dbuf_reserve(b, 0))
		return;
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!dbuf_reserve(b, (size_t)n)) {
			b->data[b->len] = '\0';
			return;
		}
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void dbuf_consume(struct dbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

/* ---- escaping -------------------------------------------------------------- */

static const char hexdig[] = "0123456789abcdef";

static bool utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Length (1..4) of the well-formed UTF-8 sequence at p, or 0 when p[0] does
 * not start one (RFC 3629 section 4: no overlong forms, no surrogates,
 * nothing above U+10FFFF, no truncated sequence).
 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && utf8_cont(p[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		return n >= 3 && p[1] >= lo && p[1] <= hi && utf8_cont(p[2]) ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		return n >= 4 && p[1] >= lo && p[1] <= hi && utf8_cont(p[2]) &&
			       utf8_cont(p[3])
		       ? 4
		       : 0;
	}
	return 0;
}

static void put_hex_escape(struct dbuf *b, const char *intro, unsigned char c)
{
	char e[8];
	size_t n = strlen(intro);

	memcpy(e, intro, n);
	e[n++] = hexdig[c >> 4];
	e[n++] = hexdig[c & 15];
	dbuf_put(b, e, n);
}

/* The short escape of c shared by JSON and text, or NULL. */
static const char *short_escape(unsigned char c)
{
	switch (c) {
	case '\\': return "\\\\";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: return NULL;
	}
}

/* A JSON string literal (RFC 8259 section 7), quotes included. */
static void json_escape(struct dbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	dbuf_putc(b, '"');
	while (i < n) {
		unsigned char c = p[i];
		const char *e;

		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) {
				i += l;
				continue;
			}
		} else if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			i++;
			continue;
		}
		dbuf_put(b, s + run, i - run);
		if (c == '"')
			dbuf_put(b, "\\\"", 2);
		else if (c == '\b')
			dbuf_put(b, "\\b", 2);
		else if (c == '\f')
			dbuf_put(b, "\\f", 2);
		else if ((e = short_escape(c)) != NULL)
			dbuf_puts(b, e);
		else
			put_hex_escape(b, "\\u00", c);
		run = ++i;
	}
	dbuf_put(b, s + run, i - run);
	dbuf_putc(b, '"');
}

/*
 * A text value: printable UTF-8 as is; backslash, control characters, DEL,
 * C1 controls (U+0080..U+009F, which some terminals obey) and invalid bytes
 * escaped, so a value never breaks its line or the operator's terminal.
 */
static void text_escape(struct dbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t l = 1;
		const char *e;

		if (c >= 0x80) {
			l = utf8_len(p + i, n - i);
			if (l > 1 && !(c == 0xc2 && p[i + 1] < 0xa0)) {
				i += l;
				continue;
			}
		} else if (c >= 0x20 && c != '\\' && c != 0x7f) {
			i++;
			continue;
		}
		dbuf_put(b, s + run, i - run);
		if (l == 2) {
			put_hex_escape(b, "\\u00", p[i + 1]);
		} else if ((e = short_escape(c)) != NULL) {
			dbuf_puts(b, e);
		} else {
			put_hex_escape(b, "\\x", c);
			l = 1;
		}
		i += l;
		run = i;
	}
	dbuf_put(b, s + run, i - run);
}

/*
 * Prometheus HELP text (escapes '\\' and newline) or label value (also
 * '"'). The format is UTF-8: invalid bytes become U+FFFD, and so do the
 * other control characters, which the format cannot escape and which would
 * only confuse line-based readers.
 */
static void prom_escape(struct dbuf *b, const char *s, bool label)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, run = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t l = utf8_len(p + i, n - i);

		if (l > 1 || (l == 1 && c >= 0x20 && c != 0x7f && c != '\\' &&
			      !(label && c == '"'))) {
			i += l;
			continue;
		}
		dbuf_put(b, s + run, i - run);
		if (l == 0 || (c != '\n' && c != '\\' && c != '"'))
			dbuf_put(b, "\xef\xbf\xbd", 3);
		else if (c == '"')
			dbuf_put(b, "\\\"", 2);
		else
			dbuf_puts(b, short_escape(c));
		run = ++i;
	}
	dbuf_put(b, s + run, i - run);
}

/* ---- rendering --------------------------------------------------------------- */

static bool live(const struct out *o)
{
	return o->buf && !o->error;
}

void out_init(struct out *o, struct dbuf *buf, enum out_format fmt)
{
	memset(o, 0, sizeof(*o));
	o->buf = buf;
	o->fmt = fmt;
	o->first[0] = true;
	if (fmt == OUT_JSON)
		dbuf_putc(buf, '{');
}

/*
 * Start a text line in the current container: its indentation, the dashes
 * of enclosing list items that have not shown a line yet, and "- " for an
 * item of a list.
 */
static void text_line_start(struct out *o)
{
	char pre[2 * OUT_MAX_DEPTH + 2];
	unsigned d = o->depth;
	size_t n = 2 * (size_t)d;

	memset(pre, ' ', n);
	for (unsigned j = d; j >= 1 && o->in_list[j - 1] && o->first[j]; j--)
		pre[2 * (j - 1)] = '-';
	if (o->in_list[d]) {
		pre[n++] = '-';
		pre[n++] = ' ';
	}
	dbuf_put(o->buf, pre, n);
	for (unsigned j = 0; j <= d; j++)
		o->first[j] = false;
}

/* Everything up to a scalar's value: comma and key, or indentation and key. */
static void member_start(struct out *o, const char *key)
{
	unsigned d = o->depth;

	if (!key)
		key = "";
	if (o->fmt == OUT_JSON) {
		if (!o->first[d])
			dbuf_putc(o->buf, ',');
		o->first[d] = false;
		if (!o->in_list[d]) {
			json_escape(o->buf, key, strlen(key));
			dbuf_putc(o->buf, ':');
		}
		return;
	}
	text_line_start(o);
	if (!o->in_list[d]) {
		text_escape(o->buf, key, strlen(key));
		dbuf_put(o->buf, ": ", 2);
	}
}

/* A scalar rendered the same way in both formats (numbers, booleans). */
static void put_plain(struct out *o, const char *key, const char *val, size_t len)
{
	if (!live(o))
		return;
	member_start(o, key);
	dbuf_put(o->buf, val, len);
	if (o->fmt == OUT_TEXT)
		dbuf_putc(o->buf, '\n');
}

static void put_string(struct out *o, const char *key, const char *s, size_t n)
{
	if (!live(o))
		return;
	member_start(o, key);
	if (o->fmt == OUT_JSON) {
		if (s)
			json_escape(o->buf, s, n);
		else
			dbuf_put(o->buf, "null", 4);
		return;
	}
	if (!s)
		dbuf_putc(o->buf, '-');
	else if (n == 0)
		dbuf_put(o->buf, "\"\"", 2);
	else
		text_escape(o->buf, s, n);
	dbuf_putc(o->buf, '\n');
}

static void open_container(struct out *o, const char *key, bool list)
{
	unsigned d;

	if (!live(o))
		return;
	if (o->depth + 1 >= OUT_MAX_DEPTH) {
		out_error(o, "output nested more than %d levels deep", OUT_MAX_DEPTH - 1);
		return;
	}
	d = o->depth;
	if (o->fmt == OUT_JSON) {
		member_start(o, key);
		dbuf_putc(o->buf, list ? '[' : '{');
	} else if (!o->in_list[d]) {
		text_line_start(o);
		text_escape(o->buf, key ? key : "", key ? strlen(key) : 0);
		dbuf_put(o->buf, ":\n", 2);
	}
	/* A list item shows nothing yet: its first line carries the dash. */
	o->depth = d + 1;
	o->first[d + 1] = true;
	o->in_list[d + 1] = list;
}

static void close_container(struct out *o)
{
	struct dbuf *b = o->buf;
	bool empty, list;

	if (!live(o) || o->depth == 0)
		return;
	empty = o->first[o->depth];
	list = o->in_list[o->depth];
	o->depth--;
	if (o->fmt == OUT_JSON) {
		dbuf_putc(b, list ? ']' : '}');
		return;
	}
	if (!empty)
		return;
	if (o->in_list[o->depth]) {
		text_line_start(o);
		dbuf_puts(b, "(none)\n");
	} else {
		/* Nothing was written since the "key:\n" header. */
		if (!b->oom && b->len && b->data[b->len - 1] == '\n')
			b->len--;
		dbuf_puts(b, " (none)\n");
	}
}

void out_finish(struct out *o)
{
	struct dbuf *b = o->buf;

	if (!b)
		return;
	if (!o->error) {
		while (o->depth > 0)
			close_container(o);
		if (o->fmt == OUT_JSON)
			dbuf_put(b, "}\n", 2);
		else if (b->len && b->data[b->len - 1] != '\n')
			dbuf_putc(b, '\n');
		if (b->oom)
			out_error(o, "out of memory");
	}
	o->buf = NULL;
}

void out_obj_begin(struct out *o, const char *key)
{
	open_container(o, key, false);
}

void out_obj_end(struct out *o)
{
	close_container(o);
}

void out_list_begin(struct out *o, const char *key)
{
	open_container(o, key, true);
}

void out_list_end(struct out *o)
{
	close_container(o);
}

void out_str(struct out *o, const char *key, const char *val)
{
	put_string(o, key, val, val ? strlen(val) : 0);
}

void out_tstr(struct out *o, const char *key, tstr val)
{
	put_string(o, key, val.s ? val.s : "", val.s ? val.len : 0);
}

void out_u64(struct out *o, const char *key, uint64_t val)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%" PRIu64, val);

	put_plain(o, key, s, (size_t)n);
}

void out_i64(struct out *o, const char *key, int64_t val)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%" PRId64, val);

	put_plain(o, key, s, (size_t)n);
}

void out_bool(struct out *o, const char *key, bool val)
{
	put_plain(o, key, val ? "true" : "false", val ? 4 : 5);
}

void out_double(struct out *o, const char *key, double val, int decimals)
{
	struct dbuf s;

	if (!live(o))
		return;
	if (o->fmt == OUT_JSON && !isfinite(val)) {
		put_plain(o, key, "null", 4);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 17)
		decimals = 17;
	dbuf_init(&s);
	dbuf_printf(&s, "%.*f", decimals, val);
	if (s.oom)
		o->buf->oom = true;
	else
		put_plain(o, key, s.data, s.len);
	dbuf_free(&s);
}

void out_fmt(struct out *o, const char *key, const char *fmt, ...)
{
	struct dbuf s;
	va_list ap;

	if (!live(o))
		return;
	dbuf_init(&s);
	va_start(ap, fmt);
	dbuf_vprintf(&s, fmt, ap);
	va_end(ap);
	if (s.oom)
		o->buf->oom = true;
	else
		put_string(o, key, s.data ? s.data : "", s.len);
	dbuf_free(&s);
}

void out_error(struct out *o, const char *fmt, ...)
{
	struct dbuf *b = o->buf;
	struct dbuf msg;
	const char *m;
	size_t n;
	va_list ap;

	if (!b)
		return;
	dbuf_init(&msg);
	va_start(ap, fmt);
	dbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	m = msg.oom ? "out of memory" : msg.data ? msg.data : "";
	n = strlen(m);

	/* Give back a buffer that failed to grow: the error must fit. */
	if (b->oom)
		dbuf_free(b);
	else
		dbuf_reset(b);
	o->error = true;
	o->depth = 0;
	if (o->fmt == OUT_JSON) {
		dbuf_puts(b, "{\"error\":");
		json_escape(b, m, n);
		dbuf_put(b, "}\n", 2);
	} else {
		dbuf_put(b, "error: ", 7);
		text_escape(b, m, n);
		dbuf_putc(b, '\n');
	}
	dbuf_free(&msg);
}

void out_raw(struct out *o, const char *data, size_t len)
{
	struct dbuf *b = o->buf;
	size_t i = 0;

	if (!live(o))
		return;
	if (o->fmt == OUT_JSON) {
		put_string(o, "text", data, len);
		return;
	}
	for (unsigned j = 0; j <= o->depth; j++)
		o->first[j] = false;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;
		bool line_start = b->len == 0 || b->data[b->len - 1] == '\n';

		/* Drop a line that would be empty. */
		if (!(nl && end - i == 1 && line_start))
			dbuf_put(b, data + i, end - i);
		i = end;
	}
}

/* ---- Prometheus ---------------------------------------------------------------- */

static bool name_char(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || (colon && c == ':');
}

/* "tandem_<name>" plus "_total" for a counter; invalid characters -> '_'. */
static void prom_name(struct dbuf *b, const struct out_prom *m)
{
	const char *name = m->name ? m->name : "";
	size_t n = strlen(name);

	dbuf_put(b, "tandem_", 7);
	for (size_t i = 0; i < n; i++)
		dbuf_putc(b, name_char(name[i], true) ? name[i] : '_');
	if (m->type == OUT_PROM_COUNTER &&
	    !(n >= 6 && strcmp(name + n - 6, "_total") == 0))
		dbuf_put(b, "_total", 6);
}

static void prom_label_name(struct dbuf *b, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || (name[0] >= '0' && name[0] <= '9'))
		dbuf_putc(b, '_');
	for (size_t i = 0; i < n; i++)
		dbuf_putc(b, name_char(name[i], false) ? name[i] : '_');
}

/* The shortest decimal that reads back as exactly v (v finite). */
static void fmt_double_exact(char *s, size_t cap, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(s, cap, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			return;
	}
}

void out_prom_begin(struct out *o, const struct out_prom *m)
{
	struct dbuf name;

	if (!live(o))
		return;
	dbuf_init(&name);
	prom_name(&name, m);
	if (name.oom) {
		o->buf->oom = true;
	} else if (o->fmt == OUT_JSON) {
		open_container(o, name.data, false);
		out_str(o, "type", m->type == OUT_PROM_COUNTER ? "counter" : "gauge");
		out_str(o, "help", m->help ? m->help : "");
		open_container(o, "samples", true);
	} else {
		for (unsigned j = 0; j <= o->depth; j++)
			o->first[j] = false;
		if (m->help && m->help[0]) {
			dbuf_put(o->buf, "# HELP ", 7);
			dbuf_put(o->buf, name.data, name.len);
			dbuf_putc(o->buf, ' ');
			prom_escape(o->buf, m->help, false);
			dbuf_putc(o->buf, '\n');
		}
		dbuf_put(o->buf, "# TYPE ", 7);
		dbuf_put(o->buf, name.data, name.len);
		dbuf_puts(o->buf, m->type == OUT_PROM_COUNTER ? " counter\n" : " gauge\n");
	}
	dbuf_free(&name);
}

static void prom_sample(struct out *o, const struct out_prom *m,
			const struct out_label *labels, unsigned nlabels,
			const char *value, size_t vlen)
{
	struct dbuf *b = o->buf;

	if (!live(o))
		return;
	if (o->fmt == OUT_JSON) {
		struct dbuf ln;

		dbuf_init(&ln);
		open_container(o, NULL, false);
		if (nlabels) {
			open_container(o, "labels", false);
			for (unsigned i = 0; i < nlabels; i++) {
				dbuf_reset(&ln);
				prom_label_name(&ln, labels[i].name);
				if (ln.oom)
					b->oom = true;
				else
					out_str(o, ln.data, labels[i].value ? labels[i].value : "");
			}
			close_container(o);
		}
		put_plain(o, "value", value, vlen);
		close_container(o);
		dbuf_free(&ln);
		return;
	}
	for (unsigned j = 0; j <= o->depth; j++)
		o->first[j] = false;
	prom_name(b, m);
	if (nlabels) {
		dbuf_putc(b, '{');
		for (unsigned i = 0; i < nlabels; i++) {
			if (i)
				dbuf_putc(b, ',');
			prom_label_name(b, labels[i].name);
			dbuf_put(b, "=\"", 2);
			prom_escape(b, labels[i].value ? labels[i].value : "", true);
			dbuf_putc(b, '"');
		}
		dbuf_putc(b, '}');
	}
	dbuf_putc(b, ' ');
	dbuf_put(b, value, vlen);
	dbuf_putc(b, '\n');
}

void out_prom_sample(struct out *o, const struct out_prom *m,
		     const struct out_label *labels, unsigned nlabels, uint64_t value)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%" PRIu64, value);

	prom_sample(o, m, labels, nlabels, s, (size_t)n);
}

void out_prom_sample_double(struct out *o, const struct out_prom *m,
			    const struct out_label *labels, unsigned nlabels,
			    double value)
{
	char s[40];

	if (isnan(value))
		strcpy(s, o->fmt == OUT_JSON ? "null" : "NaN");
	else if (isinf(value))
		strcpy(s, o->fmt == OUT_JSON ? "null" : value > 0 ? "+Inf" : "-Inf");
	else
		fmt_double_exact(s, sizeof(s), value);
	prom_sample(o, m, labels, nlabels, s, strlen(s));
}

void out_prom_end(struct out *o, const struct out_prom *m)
{
	if (!live(o) || o->fmt != OUT_JSON)
		return;
	close_container(o);     /* samples */
	close_container(o);     /* the family */
}

void out_prom_metric(struct out *o, const struct out_prom *m, uint64_t value)
{
	out_prom_begin(o, m);
	out_prom_sample(o, m, NULL, 0, value);
	out_prom_end(o, m);
}
