/* SPDX-License-Identifier: MIT */
/*
 * SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF"):
 * the keyed hash of the in-memory hash tables and of the stateless To tags
 * (SipHash-1-3: one compression and three finalisation rounds). Keyed with
 * a random secret per table, it keeps chains from being flooded; 1-3 is
 * the variant hash tables use for that (Rust's std, CPython's str hash),
 * at a little over half the cost of SipHash-2-4.
 *
 * Inline, because the inputs are short (a user name, an AOR, a Call-ID):
 * a call into a library costs as much as the hashing itself. The pieces
 * (init, one 8-byte word, the last word, finalisation) are exposed for a
 * caller that hashes an input made of several parts in place.
 *
 * Calling context: any thread; no state.
 */
#ifndef TANDEM_SIPHASH_H
#define TANDEM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

struct siphash {
	uint64_t v0, v1, v2, v3;
};

static inline uint64_t siphash_rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline void siphash_round(struct siphash *h)
{
	h->v0 += h->v1;
	h->v1 = siphash_rotl(h->v1, 13);
	h->v1 ^= h->v0;
	h->v0 = siphash_rotl(h->v0, 32);
	h->v2 += h->v3;
	h->v3 = siphash_rotl(h->v3, 16);
	h->v3 ^= h->v2;
	h->v0 += h->v3;
	h->v3 = siphash_rotl(h->v3, 21);
	h->v3 ^= h->v0;
	h->v2 += h->v1;
	h->v1 = siphash_rotl(h->v1, 17);
	h->v1 ^= h->v2;
	h->v2 = siphash_rotl(h->v2, 32);
}

/* The 8 bytes at p, little-endian. */
static inline uint64_t siphash_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* The n < 8 bytes at p, little-endian (no read past p + n). */
static inline uint64_t siphash_le_partial(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	switch (n) {
	case 7: v |= (uint64_t)p[6] << 48; /* fall through */
	case 6: v |= (uint64_t)p[5] << 40; /* fall through */
	case 5: v |= (uint64_t)p[4] << 32; /* fall through */
	case 4: v |= (uint64_t)p[3] << 24; /* fall through */
	case 3: v |= (uint64_t)p[2] << 16; /* fall through */
	case 2: v |= (uint64_t)p[1] << 8;  /* fall through */
	case 1: v |= (uint64_t)p[0];       /* fall through */
	default: break;
	}
	return v;
}

/* The last len % 8 bytes of the len bytes at p, little-endian: when the
 * string has 8 bytes or more, one load of its last 8, shifted; otherwise
 * byte by byte. Nothing outside the string is read. */
static inline uint64_t siphash_tail(const uint8_t *p, size_t len)
{
	size_t n = len & 7;

	if (n == 0)
		return 0;
	if (len >= 8)
		return siphash_le64(p + len - 8) >> (64 - 8 * n);
	return siphash_le_partial(p + len - n, n);
}

static inline void siphash_init(struct siphash *h, const uint8_t key[SIPHASH_KEY_LEN])
{
	const uint64_t k0 = siphash_le64(key), k1 = siphash_le64(key + 8);

	h->v0 = k0 ^ 0x736f6d6570736575ull;
	h->v1 = k1 ^ 0x646f72616e646f6dull;
	h->v2 = k0 ^ 0x6c7967656e657261ull;
	h->v3 = k1 ^ 0x7465646279746573ull;
}

/* Absorb one message word: one compression round. */
static inline void siphash_word(struct siphash *h, uint64_t m)
{
	h->v3 ^= m;
	siphash_round(h);
	h->v0 ^= m;
}

/* Absorb the last word (the tail bytes, and the total length mod 256 in
 * the top byte), then the three finalisation rounds: the hash. */
static inline uint64_t siphash_final(struct siphash *h, uint64_t last)
{
	siphash_word(h, last);
	h->v2 ^= 0xff;
	siphash_round(h);
	siphash_round(h);
	siphash_round(h);
	return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

/* SipHash-1-3 of len bytes at data. */
static inline uint64_t siphash13(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + (len & ~(size_t)7);
	struct siphash h;

	siphash_init(&h, key);
	for (; p < end; p += 8)
		siphash_word(&h, siphash_le64(p));
	return siphash_final(&h, siphash_tail(data, len) | (uint64_t)len << 56);
}

#endif
