/* SPDX-License-Identifier: MIT */
/*
 * A bounded output buffer. Writes past the end are dropped and remembered in
 * `overflow`, so a builder can write a whole message and check once at the
 * end instead of after every field. Nothing here allocates.
 */
#ifndef TANDEM_WBUF_H
#define TANDEM_WBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "str.h"

struct wbuf {
	char *start;
	char *p;
	char *end;
	bool overflow;
};

static inline void wbuf_init(struct wbuf *w, void *buf, size_t cap)
{
	w->start = buf;
	w->p = buf;
	w->end = (char *)buf + cap;
	w->overflow = false;
}

static inline size_t wbuf_len(const struct wbuf *w)
{
	return (size_t)(w->p - w->start);
}

static inline size_t wbuf_room(const struct wbuf *w)
{
	return (size_t)(w->end - w->p);
}

static inline void wbuf_put(struct wbuf *w, const void *data, size_t len)
{
	if (len > wbuf_room(w)) {
		w->overflow = true;
		return;
	}
	if (len)
		memcpy(w->p, data, len);
	w->p += len;
}

static inline void wbuf_putc(struct wbuf *w, char c)
{
	if (w->p >= w->end) {
		w->overflow = true;
		return;
	}
	*w->p++ = c;
}

static inline void wbuf_puts(struct wbuf *w, const char *s)
{
	wbuf_put(w, s, strlen(s));
}

static inline void wbuf_putt(struct wbuf *w, tstr t)
{
	wbuf_put(w, t.s, t.len);
}

#define WBUF_LIT(w, lit) wbuf_put((w), (lit), sizeof(lit) - 1)

/* Unsigned decimal. */
void wbuf_putu(struct wbuf *w, uint64_t v);
/* Lower-case hex of len bytes. */
void wbuf_puthex(struct wbuf *w, const uint8_t *bytes, size_t len);
/* printf-style; sets overflow when the result does not fit. */
void wbuf_printf(struct wbuf *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
