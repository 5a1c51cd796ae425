/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internet checksum (RFC 1071) building blocks, inline: native 64-bit
 * words summed with end-around carry, folded once into the network-order
 * 16-bit domain. Internal to the L2-L4 helpers and the fast path.
 * Threads: pure, any thread.
 */
#ifndef BIDPLANE_CSUM_H
#define BIDPLANE_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Ones' complement add of native 64-bit words (RFC 1071 2.B: any word
 * size and byte order sum the same): the carry goes back in (add, adc). */
static inline uint64_t add64_carry(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w);
}

/* Sums `words` native 64-bit words. The fast path and the reply pass a
 * constant (5 to 11 words): the loop then unrolls away, no counter. */
static inline uint64_t sum64_native(const uint8_t *p, size_t words)
{
	uint64_t acc = 0, w;
#pragma GCC unroll 16
	for (size_t i = 0; i < words; i++) {
		memcpy(&w, p + 8 * i, 8);
		acc = add64_carry(acc, w);
	}
	return acc;
}

/* Ones' complement add of 32- and 16-bit halves, the carry going back in:
 * the same value as folding twice, never 0 unless both halves are. */
static inline uint32_t add32_carry(uint32_t a, uint32_t b)
{
	a += b;
	return a + (a < b);
}

static inline uint16_t add16_carry(uint16_t a, uint16_t b)
{
	uint16_t s = (uint16_t)(a + b);
	return (uint16_t)(s + (s < b));
}

/* Folds a native-order 64-bit sum into the network-order domain: two
 * end-around-carry adds (64 -> 32 -> 16 bits) instead of five folds. */
static inline uint32_t fold_native(uint64_t acc)
{
	uint32_t s32 = add32_carry((uint32_t)acc, (uint32_t)(acc >> 32));
	uint16_t s16 = add16_carry((uint16_t)s32, (uint16_t)(s32 >> 16));
	return __builtin_bswap16(s16);
}

/* The checksum field of a 32-bit sum: two folds take any 32-bit value
 * below 2^16 (0xffff + 0xffff, then 0xfffe + 1), complemented. */
static inline uint16_t csum_fold32(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): a checksum after one 16-bit
 * word (host order) changed from m to m', without summing the rest. */
static inline uint16_t csum_replace16(uint16_t check, uint16_t old_word, uint16_t new_word)
{
	uint32_t s = (uint16_t)~check + (uint16_t)~old_word + (uint32_t)new_word;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

#endif
