/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tiny micro-benchmark harness: runs a body `iters` times per run, several
 * runs, and prints the median ns per operation (CLOCK_MONOTONIC). Printed,
 * never asserted. Single-threaded.
 */
#ifndef BIDPLANE_PERF_BENCH_H
#define BIDPLANE_PERF_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_RUNS 7

static inline uint64_t bench_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Keeps the compiler from discarding a result. */
static inline void bench_sink(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

/*
 * BENCH(name, iters, body): body is a statement run once per iteration with
 * `i` (uint64_t) in scope. Prints "name: X.XX ns/op (median of 7 runs)".
 */
#define BENCH(name, iters, body)                                                                   \
	do {                                                                                       \
		double runs_[BENCH_RUNS];                                                          \
		for (int r_ = 0; r_ < BENCH_RUNS; r_++) {                                          \
			uint64_t t0_ = bench_ns();                                                 \
			for (uint64_t i = 0; i < (iters); i++) {                                   \
				body;                                                              \
			}                                                                          \
			runs_[r_] = (double)(bench_ns() - t0_) / (double)(iters);                  \
		}                                                                                  \
		qsort(runs_, BENCH_RUNS, sizeof(runs_[0]), bench_cmp_double);                      \
		printf("%-32s %8.2f ns/op  (median of %d runs x %llu)\n", (name),                 \
		       runs_[BENCH_RUNS / 2], BENCH_RUNS, (unsigned long long)(iters));            \
	} while (0)

#endif
