/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"

int addr_parse_ip(const char *text, size_t len, union tdm_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
		if (len == 0 || memchr(text, ':', len) == NULL)
			return TDM_EMALFORMED;
	}
	if (len == 0 || len >= sizeof(buf))
		return TDM_EMALFORMED;
	memcpy(buf, text, len);
	buf[len] = '\0';

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		return 0;
	}
	return TDM_EMALFORMED;
}

int addr_parse(const char *text, uint16_t default_port, union tdm_addr *out)
{
	size_t len = strlen(text);
	const char *port = NULL;
	size_t iplen = len;
	unsigned long v;
	char *end;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return TDM_EMALFORMED;
		iplen = (size_t)(close - text) + 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return TDM_EMALFORMED;
	} else {
		const char *colon = strchr(text, ':');
		/* One colon: IPv4:port. More: a bare IPv6 literal. */
		if (colon && strchr(colon + 1, ':') == NULL) {
			iplen = (size_t)(colon - text);
			port = colon + 1;
		}
	}

	if (addr_parse_ip(text, iplen, out) < 0)
		return TDM_EMALFORMED;

	if (port) {
		if (*port < '0' || *port > '9')
			return TDM_EMALFORMED;
		v = strtoul(port, &end, 10);
		if (*end != '\0' || v == 0 || v > 65535)
			return TDM_EMALFORMED;
	} else {
		if (default_port == 0)
			return TDM_EMALFORMED;
		v = default_port;
	}
	addr_set_port(out, (uint16_t)v);
	return 0;
}

/* Dotted quad without printf: this runs once per SIP response. */
static char *format_ipv4(const struct in_addr *in, char *buf, size_t cap)
{
	const uint8_t *b = (const uint8_t *)&in->s_addr;
	char tmp[16], *p = tmp;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
	if ((size_t)(p - tmp) > cap) {
		if (cap)
			buf[0] = '\0';
		return buf;
	}
	memcpy(buf, tmp, (size_t)(p - tmp));
	return buf;
}

char *addr_format_ip(const union tdm_addr *a, char *buf, size_t cap)
{
	if (a->sa.sa_family == AF_INET)
		return format_ipv4(&a->in4.sin_addr, buf, cap);

	const void *src = a->sa.sa_family == AF_INET6 ? (const void *)&a->in6.sin6_addr
						      : (const void *)&a->in4.sin_addr;
	if (!inet_ntop(a->sa.sa_family, src, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
	return buf;
}

char *addr_format(const union tdm_addr *a, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	addr_format_ip(a, ip, sizeof(ip));
	if (a->sa.sa_family == AF_INET6)
		snprintf(buf, cap, "[%s]:%u", ip, addr_port(a));
	else
		snprintf(buf, cap, "%s:%u", ip, addr_port(a));
	return buf;
}

socklen_t addr_len(const union tdm_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in4);
}

uint16_t addr_port(const union tdm_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in4.sin_port);
}

void addr_set_port(union tdm_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in4.sin_port = htons(port);
}

bool addr_is_any(const union tdm_addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
	return a->in4.sin_addr.s_addr == htonl(INADDR_ANY);
}

bool addr_ip_equal(const union tdm_addr *a, const union tdm_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
}

bool addr_equal(const union tdm_addr *a, const union tdm_addr *b)
{
	return addr_ip_equal(a, b) && addr_port(a) == addr_port(b);
}
