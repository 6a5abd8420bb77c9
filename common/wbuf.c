/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "wbuf.h"

void wbuf_putu(struct wbuf *w, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wbuf_put(w, tmp + sizeof(tmp) - n, n);
}

void wbuf_puthex(struct wbuf *w, const uint8_t *bytes, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (len * 2 > wbuf_room(w)) {
		w->overflow = true;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		*w->p++ = hex[bytes[i] >> 4];
		*w->p++ = hex[bytes[i] & 15];
	}
}

void wbuf_printf(struct wbuf *w, const char *fmt, ...)
{
	size_t room = wbuf_room(w);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->p, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		w->overflow = true;
		return;
	}
	w->p += n;
}
