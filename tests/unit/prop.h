/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Seeded pseudo-random generator for property tests (xoshiro256**, seeded by
 * splitmix64). The seed comes from BIDPLANE_SEED when set (to replay a
 * failure), else from the time; tests print it when they fail.
 * Threads: a struct prop_rng belongs to one thread.
 */
#ifndef BIDPLANE_TESTS_PROP_H
#define BIDPLANE_TESTS_PROP_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct prop_rng {
	uint64_t s[4];
};

static inline uint64_t prop_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline void prop_seed(struct prop_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = prop_splitmix64(&seed);
}

static inline uint64_t prop_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t prop_next(struct prop_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = prop_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = prop_rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n); n > 0. Bias is negligible for the test sizes used. */
static inline uint64_t prop_below(struct prop_rng *r, uint64_t n)
{
	return prop_next(r) % n;
}

/* The run's base seed: BIDPLANE_SEED if set, else time-based. Printed once. */
static inline uint64_t prop_base_seed(void)
{
	static uint64_t seed;
	static int have;
	if (!have) {
		const char *env = getenv("BIDPLANE_SEED");
		if (env && *env)
			seed = strtoull(env, NULL, 0);
		else
			seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
		have = 1;
		fprintf(stderr, "property seed: BIDPLANE_SEED=%" PRIu64 "\n", seed);
	}
	return seed;
}

/* Prints how to replay case `i` of a property; call on failure. */
static inline void prop_report(const char *law, uint64_t seed, unsigned long i)
{
	fprintf(stderr, "property '%s' failed at case %lu: replay with BIDPLANE_SEED=%" PRIu64 "\n",
		law, i, seed);
}

#endif
