/* SPDX-License-Identifier: MIT */
#include "str.h"

bool tstr_to_u64(tstr a, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (a.len == 0)
		return false;
	for (uint32_t i = 0; i < a.len; i++) {
		unsigned d = (unsigned char)a.s[i] - '0';
		if (d > 9)
			return false;
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

void tstr_copy_cstr(tstr a, char *buf, size_t cap)
{
	size_t n;

	if (cap == 0)
		return;
	n = a.len < cap - 1 ? a.len : cap - 1;
	if (n)
		memcpy(buf, a.s, n);
	buf[n] = '\0';
}
