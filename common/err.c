/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

const char *tdm_strerror(int err)
{
	switch (err) {
#define TDM_ERR_CASE(name, value, text) case name: return text;
		TDM_ERRORS(TDM_ERR_CASE)
#undef TDM_ERR_CASE
	default:
		break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

void tdm_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}
