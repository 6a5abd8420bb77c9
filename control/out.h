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

/*
 * A growable byte buffer. Once anything was appended, data[len] is '\0'
 * (handy for tests and printf). When an append cannot get memory (or would
 * grow the buffer past DBUF_MAX), it is dropped, oom is set, and every later
 * append is dropped too until dbuf_reset().
 */
#define DBUF_MAX ((size_t)1 << 30)

struct dbuf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;    /* an append failed for lack of memory */
};

void dbuf_init(struct dbuf *b);
/* Release the memory; b is then empty (as after dbuf_init). */
void dbuf_free(struct dbuf *b);
/* Empty b and clear oom, keeping its memory for reuse. */
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

/*
 * Start a document in buf. The out owns buf from here on: out_error()
 * discards all of buf's content, so give each document its own (empty)
 * buffer; cli_execute() does.
 */
void out_init(struct out *o, struct dbuf *buf, enum out_format fmt);
/*
 * Close whatever is open and finish the document; the last line ends with
 * '\n' (an empty text document stays empty). If buf ran out of memory, the
 * document is replaced by the error "out of memory". After out_finish the
 * out is detached from buf and every further call is ignored.
 */
void out_finish(struct out *o);

/*
 * key is NULL for a list item (a key given inside a list is ignored; a NULL
 * key inside an object is rendered as ""). Nesting deeper than
 * OUT_MAX_DEPTH - 1 turns the answer into an error.
 *
 * Text details: an empty object or list renders as "key: (none)" (or
 * "- (none)" as a list item); a NULL string as "-", an empty string as "";
 * control characters, backslashes, C1 controls and bytes that are not valid
 * UTF-8 are escaped C-style ("\n", "\\", "\x1b", "\u0085", "\xff") so
 * every value stays on its line and a terminal shows it safely.
 * JSON details: strings are escaped per RFC 8259; valid UTF-8 is kept as
 * is; a byte that is not part of valid UTF-8 is written as "\u00XX" of the
 * byte (so 0xff becomes "\u00ff"), keeping its value visible while the
 * document stays valid. A NULL string is null; a non-finite double is null.
 */
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

/*
 * Raw text, written as is in the text format, except that empty lines are
 * dropped (an empty line would end the answer on the socket). In JSON it
 * becomes a string member "text" (or a string item inside a list), so the
 * document stays valid.
 */
void out_raw(struct out *o, const char *data, size_t len);

/*
 * Prometheus metric families (text exposition format 0.0.4).
 *
 * A family is described once, typically from an X-macro table:
 *   static const struct out_prom rx = { "rx_datagrams", OUT_PROM_COUNTER,
 *                                       "SIP datagrams received" };
 * and exposed as "tandem_rx_datagrams_total" (counters get the "_total"
 * suffix, gauges do not):
 *   # HELP tandem_rx_datagrams_total SIP datagrams received
 *   # TYPE tandem_rx_datagrams_total counter
 *   tandem_rx_datagrams_total{worker="0"} 12
 * Characters not allowed in a metric or label name become '_'; HELP text
 * escapes '\\' and newline, label values escape '\\', '"' and newline,
 * and bytes that are not valid UTF-8 become U+FFFD. Doubles are written in
 * the shortest form that reads back exactly, or NaN / +Inf / -Inf.
 *
 * In JSON a family is a member named like the metric:
 *   "tandem_rx_datagrams_total":{"type":"counter","help":"...",
 *     "samples":[{"labels":{"worker":"0"},"value":12}]}
 * (a non-finite double value is null).
 */
enum out_prom_type { OUT_PROM_COUNTER, OUT_PROM_GAUGE };

struct out_prom {
	const char *name;          /* without the "tandem_" prefix or "_total" */
	enum out_prom_type type;
	const char *help;          /* one line */
};

struct out_label {
	const char *name;
	const char *value;
};

/* HELP and TYPE lines. Every sample between begin and end belongs to m. */
void out_prom_begin(struct out *o, const struct out_prom *m);
void out_prom_sample(struct out *o, const struct out_prom *m,
		     const struct out_label *labels, unsigned nlabels, uint64_t value);
void out_prom_sample_double(struct out *o, const struct out_prom *m,
			    const struct out_label *labels, unsigned nlabels,
			    double value);
void out_prom_end(struct out *o, const struct out_prom *m);
/* A whole family with one sample without labels. */
void out_prom_metric(struct out *o, const struct out_prom *m, uint64_t value);

#endif
