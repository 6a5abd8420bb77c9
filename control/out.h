/* SPDX-License-Identifier: MIT */
/*
 * Structured output for the stats socket: a handler describes its answer
 * once (objects, lists, key/value pairs) and it is rendered either as text
 * for people or as JSON for programs.
 *
 * Text rendering: one "key: value" per line, nested objects indented by two
 * spaces under a "key:" line, list items introduced by "- ". The text never
 * contains an empty line (an empty line ends an answer on the socket).
 * JSON rendering: one JSON document on one line.
 *
 * Control thread only. Memory grows as needed (dbuf); nothing here runs on
 * a worker.
 */
#ifndef TANDEM_OUT_H
#define TANDEM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

/* A growable byte buffer. */
struct dbuf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;    /* an append failed for lack of memory */
};

void dbuf_init(struct dbuf *b);
void dbuf_free(struct dbuf *b);
void dbuf_reset(struct dbuf *b);
void dbuf_put(struct dbuf *b, const void *data, size_t len);
void dbuf_puts(struct dbuf *b, const char *s);
void dbuf_printf(struct dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove the first n bytes. */
void dbuf_consume(struct dbuf *b, size_t n);

enum out_format { OUT_TEXT, OUT_JSON };

#define OUT_MAX_DEPTH 16

struct out {
	struct dbuf *buf;
	enum out_format fmt;
	unsigned depth;
	bool first[OUT_MAX_DEPTH];   /* no member written yet at this depth */
	bool in_list[OUT_MAX_DEPTH]; /* this depth is a list */
	bool error;                  /* out_error() was called */
};

void out_init(struct out *o, struct dbuf *buf, enum out_format fmt);
/* Close whatever is open and finish the document. */
void out_finish(struct out *o);

/* key is NULL for a list item. */
void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_list_begin(struct out *o, const char *key);
void out_list_end(struct out *o);

void out_str(struct out *o, const char *key, const char *val);
void out_tstr(struct out *o, const char *key, tstr val);
void out_u64(struct out *o, const char *key, uint64_t val);
void out_i64(struct out *o, const char *key, int64_t val);
void out_bool(struct out *o, const char *key, bool val);
void out_double(struct out *o, const char *key, double val, int decimals);
void out_fmt(struct out *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The command is refused: discards what was written and renders
 * "error: <message>" (text) or {"error":"<message>"} (JSON).
 * tandemctl exits non-zero on such an answer.
 */
void out_error(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Raw text, written as is (text format only; used for Prometheus). */
void out_raw(struct out *o, const char *data, size_t len);

#endif
