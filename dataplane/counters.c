/* SPDX-License-Identifier: MIT */
#include "counters.h"

static const struct {
	const char *name;
	const char *help;
} counter_info[DP_CTR_COUNT] = {
#define DP_CTR_INFO(name, help) [DP_CTR_##name] = { #name, help },
	DP_COUNTERS(DP_CTR_INFO)
#undef DP_CTR_INFO
};

const char *dp_counter_name(enum dp_ctr id)
{
	return (unsigned)id < DP_CTR_COUNT ? counter_info[id].name : "?";
}

const char *dp_counter_help(enum dp_ctr id)
{
	return (unsigned)id < DP_CTR_COUNT ? counter_info[id].help : "?";
}

void dp_counters_sum(const struct dp_counters *const *blocks, unsigned n,
		     uint64_t out[DP_CTR_COUNT])
{
	for (unsigned i = 0; i < DP_CTR_COUNT; i++)
		out[i] = 0;
	for (unsigned b = 0; b < n; b++)
		for (unsigned i = 0; i < DP_CTR_COUNT; i++)
			out[i] += dp_counter_get(blocks[b], (enum dp_ctr)i);
}
