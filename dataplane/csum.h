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

/* Sums `words` native 64-bit words, four per step. */
static inline uint64_t sum64_native(const uint8_t *p, size_t words)
{
	uint64_t acc = 0, w[4];
	for (; words >= 4; words -= 4, p += 32) {
		memcpy(&w[0], p, 8);
		memcpy(&w[1], p + 8, 8);
		memcpy(&w[2], p + 16, 8);
		memcpy(&w[3], p + 24, 8);
		acc = add64_carry(add64_carry(acc, w[0]), w[1]);
		acc = add64_carry(add64_carry(acc, w[2]), w[3]);
	}
	for (; words; words--, p += 8) {
		memcpy(w, p, 8);
		acc = add64_carry(acc, w[0]);
	}
	return acc;
}

/* Folds a native-order 64-bit sum into the network-order domain. */
static inline uint32_t fold_native(uint64_t acc)
{
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return __builtin_bswap16((uint16_t)acc);
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
