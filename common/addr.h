/* SPDX-License-Identifier: MIT */
/* IPv4/IPv6 socket addresses: one union, parsing and formatting. */
#ifndef TANDEM_ADDR_H
#define TANDEM_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

union tdm_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "[2001:db8::1]:5060" is the longest form: 46 + 2 + 6 + NUL. */
#define TDM_ADDR_STRLEN 64

/*
 * Parse "IPv4:port", "[IPv6]:port", or, when default_port is non-zero, a
 * bare "IPv4" / "IPv6" / "[IPv6]". Only IP literals: no name resolution.
 * Returns 0 or TDM_EMALFORMED.
 */
int addr_parse(const char *text, uint16_t default_port, union tdm_addr *out);

/* Parse an IP literal without a port (IPv6 with or without brackets). */
int addr_parse_ip(const char *text, size_t len, union tdm_addr *out);

/* "1.2.3.4:5060" or "[::1]:5060". Returns buf. */
char *addr_format(const union tdm_addr *a, char *buf, size_t cap);
/* The IP alone, without brackets: "1.2.3.4" or "::1". Returns buf. */
char *addr_format_ip(const union tdm_addr *a, char *buf, size_t cap);

socklen_t addr_len(const union tdm_addr *a);
uint16_t addr_port(const union tdm_addr *a);
void addr_set_port(union tdm_addr *a, uint16_t port);
bool addr_is_any(const union tdm_addr *a);
/* Same family, IP and port. */
bool addr_equal(const union tdm_addr *a, const union tdm_addr *b);
/* Same family and IP, ignoring the port. */
bool addr_ip_equal(const union tdm_addr *a, const union tdm_addr *b);

#endif
