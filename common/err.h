/* SPDX-License-Identifier: MIT */
/*
 * One error space for the whole project.
 *
 * Convention: a function that can fail returns int: 0 (or a non-negative
 * count) on success and a negative value on failure. Values in [-4095, -1]
 * are -errno; values at or below TDM_ERR_BASE are tandem's own, listed below.
 * tdm_strerror() names either kind.
 */
#ifndef TANDEM_ERR_H
#define TANDEM_ERR_H

#include <stddef.h>

#define TDM_ERR_BASE (-10000)

/* Append only: the numbers are stable. */
#define TDM_ERRORS(X)                                                         \
	X(TDM_EMALFORMED, -10001, "malformed input")                           \
	X(TDM_ETRUNCATED, -10002, "input truncated")                           \
	X(TDM_ETOOMANY, -10003, "too many elements")                           \
	X(TDM_ENOSPACE, -10004, "output does not fit")                         \
	X(TDM_ECONFIG, -10005, "invalid configuration")                        \
	X(TDM_ENOTFOUND, -10006, "not found")                                  \
	X(TDM_EEXISTS, -10007, "already exists")                               \
	X(TDM_ERACE, -10008, "lost a concurrent update, retry")                \
	X(TDM_EAUTH, -10009, "authentication failed")                          \
	X(TDM_ESTALE, -10010, "stale nonce")                                   \
	X(TDM_EPROTO, -10011, "protocol error")                                \
	X(TDM_EREFUSED, -10012, "refused")                                     \
	X(TDM_ELIMIT, -10013, "limit reached")

enum tdm_err {
#define TDM_ERR_ENUM(name, value, text) name = (value),
	TDM_ERRORS(TDM_ERR_ENUM)
#undef TDM_ERR_ENUM
};

/* Text for a negative error code (ours or -errno). Never NULL. */
const char *tdm_strerror(int err);

/* Format a message into the caller's error buffer (err, cap bytes); a
 * NULL err or a cap of 0 writes nothing. For functions that report a
 * reason to their caller: `char *err, size_t errcap` parameters. */
void tdm_errf(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
