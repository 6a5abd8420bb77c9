/* SPDX-License-Identifier: MIT */
/*
 * The load generator's latency histogram: log-linear buckets (see
 * loadgen.h). Bucket layout, with H = LG_HIST_HALF (64):
 *
 *   values 0 .. 2H-1          buckets 0 .. 2H-1, one value each
 *   values 2^e .. 2^(e+1)-1   (e >= 7) H buckets of width 2^(e-6), starting
 *                             at bucket (e - 5) * H
 *
 * so the index of v >= 2H is (b + 1) * H + (v >> b) - H with b = e - 6, and
 * consecutive values map to consecutive or equal buckets.
 */
#include <string.h>

#include "loadgen.h"

void lg_hist_init(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned lg_hist_index(uint64_t ns)
{
	unsigned e, b;

	if (ns < 2 * LG_HIST_HALF)
		return (unsigned)ns;
	e = 63u - (unsigned)__builtin_clzll(ns);
	if (e >= LG_HIST_MAX_BITS)
		return LG_HIST_BUCKETS - 1;
	b = e - (LG_HIST_SUB_BITS - 1);
	return (b + 1) * LG_HIST_HALF + (unsigned)(ns >> b) - LG_HIST_HALF;
}

uint64_t lg_hist_lowest(unsigned idx)
{
	unsigned b;

	if (idx < 2 * LG_HIST_HALF)
		return idx;
	if (idx >= LG_HIST_BUCKETS)
		idx = LG_HIST_BUCKETS - 1;
	b = idx / LG_HIST_HALF - 1;
	return (uint64_t)(idx % LG_HIST_HALF + LG_HIST_HALF) << b;
}

uint64_t lg_hist_highest(unsigned idx)
{
	if (idx >= LG_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return lg_hist_lowest(idx + 1) - 1;
}

void lg_hist_record(struct lg_hist *h, uint64_t ns)
{
	h->bucket[lg_hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from)
{
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t lg_hist_percentile(const struct lg_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (!(p > 0))
		return h->min;
	if (p >= 100)
		return h->max;
	/* The rank of the value wanted, 1-based: ceil(p% of count). */
	rank = (uint64_t)((p / 100.0) * (double)h->count);
	if ((double)rank < (p / 100.0) * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = lg_hist_highest(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}
