/* SPDX-License-Identifier: BSD-3-Clause */
/* The HLC guarantees of clock/hlc.h, each with an injected wall clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "prop.h"

/* A wall clock the test sets by hand. */
struct fake_wall {
	uint64_t ms;
};

static uint64_t fake_wall_read(void *arg)
{
	return ((struct fake_wall *)arg)->ms;
}

static const uint64_t T0 = UINT64_C(1700000000000);

static void pack_unpack_compare_format(void **state)
{
	(void)state;
	hlc_t t = hlc_make(T0, 0x1234);
	assert_int_equal(hlc_ms(t), T0);
	assert_int_equal(hlc_logical(t), 0x1234);
	assert_int_equal(hlc_cmp(t, t), 0);
	assert_int_equal(hlc_cmp(t, hlc_make(T0, 0x1235)), -1);
	assert_int_equal(hlc_cmp(hlc_make(T0 + 1, 0), t), 1);
	char buf[HLC_FORMAT_LEN];
	hlc_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "1700000000000.4660");
	hlc_format(hlc_make(HLC_MAX_MS, 0xffff), buf, sizeof(buf));
	assert_string_equal(buf, "281474976710655.65535");
	assert_int_equal(hlc_make(HLC_MAX_MS, 0xffff), UINT64_MAX);
}

static void init_rejects_bad_arguments(void **state)
{
	(void)state;
	struct hlc_domain d;
	struct hlc_clock c;
	assert_int_equal(hlc_domain_init(&d, 0, 10, NULL, NULL), -EINVAL);
	assert_int_equal(hlc_domain_init(&d, HLC_MAX_SOURCES + 1, 10, NULL, NULL), -EINVAL);
	assert_int_equal(hlc_domain_init(&d, 3, 10, NULL, NULL), 0);
	assert_int_equal(d.source_bits, 2);
	assert_int_equal(hlc_clock_init(&c, &d, 3), -EINVAL);
	assert_int_equal(hlc_clock_init(&c, &d, 2), 0);
}

/* G1 */
static void monotonic_when_the_wall_clock_freezes_and_steps_back(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 1, 100, fake_wall_read, &w);
	hlc_clock_init(&c, &d, 0);
	hlc_t prev = hlc_now(&c);
	assert_int_equal(hlc_ms(prev), T0);
	for (int i = 0; i < 1000; i++) { /* frozen */
		hlc_t t = hlc_now(&c);
		assert_true(t > prev);
		assert_int_equal(hlc_ms(t), T0);
		prev = t;
	}
	w.ms = T0 - 3 * 3600 * 1000; /* three hours back */
	for (int i = 0; i < 100; i++) {
		hlc_t t = hlc_now(&c);
		assert_true(t > prev);
		prev = t;
	}
	w.ms = T0 + 5000; /* forward: the physical part follows */
	hlc_t t = hlc_now(&c);
	assert_true(t > prev);
	assert_int_equal(hlc_ms(t), T0 + 5000);
	assert_int_equal(hlc_logical(t), 0);
}

/* G2 */
static void sources_never_issue_equal_stamps(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c[3];
	hlc_domain_init(&d, 3, 100, fake_wall_read, &w);
	for (unsigned int i = 0; i < 3; i++)
		hlc_clock_init(&c[i], &d, i);
	enum { N = 3000 };
	static hlc_t seen[3 * N];
	for (int i = 0; i < N; i++)
		for (int s = 0; s < 3; s++)
			seen[i * 3 + s] = hlc_now(&c[s]);
	for (int i = 0; i < 3 * N; i++)
		for (int j = i + 1; j < 3 * N; j++)
			assert_true(seen[i] != seen[j]);
}

#define THREADS	   3
#define PER_THREAD 200000

struct stamper {
	struct hlc_clock clock;
	hlc_t *out;
	int monotonic;
};

static void *stamp_many(void *arg)
{
	struct stamper *s = arg;
	s->monotonic = 1;
	for (int i = 0; i < PER_THREAD; i++) {
		s->out[i] = hlc_now(&s->clock);
		if (i && s->out[i] <= s->out[i - 1])
			s->monotonic = 0;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* G1 + G2 with real threads on the real clock. */
static void threads_stamp_uniquely_and_monotonically(void **state)
{
	(void)state;
	struct hlc_domain d;
	hlc_domain_init(&d, THREADS, 100, NULL, NULL);
	static struct stamper st[THREADS];
	hlc_t *all = calloc(THREADS * PER_THREAD, sizeof(hlc_t));
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		hlc_clock_init(&st[i].clock, &d, i);
		st[i].out = all + i * PER_THREAD;
		pthread_create(&th[i], NULL, stamp_many, &st[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_true(st[i].monotonic);
	}
	qsort(all, THREADS * PER_THREAD, sizeof(hlc_t), cmp_u64);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		assert_true(all[i] != all[i - 1]);
	free(all);
}

/* G3 */
static void now_after_is_greater_than_its_argument(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock a, b;
	hlc_domain_init(&d, 2, 100, fake_wall_read, &w);
	hlc_clock_init(&a, &d, 0);
	hlc_clock_init(&b, &d, 1);
	for (int i = 0; i < 50; i++)
		hlc_now(&a);
	hlc_t from_a = hlc_now(&a);
	hlc_t t = hlc_now_after(&b, from_a);
	assert_true(t > from_a);
	hlc_t ahead = hlc_make(T0 + 60000, 77); /* far ahead: no drift guard here */
	assert_true(hlc_now_after(&b, ahead) > ahead);
	assert_true(hlc_now(&b) > ahead);
}

/* G4 */
static void observe_orders_every_later_stamp_of_every_source(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c[4];
	hlc_domain_init(&d, 4, 1000, fake_wall_read, &w);
	for (unsigned int i = 0; i < 4; i++)
		hlc_clock_init(&c[i], &d, i);
	hlc_t remote = hlc_make(T0 + 900, 0xfff3);
	assert_int_equal(hlc_observe(&c[0], remote), 0);
	for (int i = 0; i < 4; i++)
		assert_true(hlc_now(&c[i]) > remote);
	assert_true(hlc_domain_read(&d) >= remote);
	struct hlc_counters k = {0};
	hlc_counters_add(&c[0], &k);
	assert_int_equal(k.observed, 1);
}

/* G5 */
static void drift_guard_refuses_and_changes_nothing(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 1, 500, fake_wall_read, &w);
	hlc_clock_init(&c, &d, 0);
	hlc_t before = hlc_now(&c);
	hlc_t floor_before = atomic_load(&d.floor);
	assert_int_equal(hlc_observe(&c, hlc_make(T0 + 501, 0)), -ERANGE);
	assert_int_equal(c.last, before);
	assert_int_equal(atomic_load(&d.floor), floor_before);
	struct hlc_counters k = {0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.drift_refusals, 1);
	assert_int_equal(k.observed, 0);
	/* Exactly at the bound is accepted. */
	assert_int_equal(hlc_observe(&c, hlc_make(T0 + 500, 9)), 0);
	assert_true(hlc_now(&c) > hlc_make(T0 + 500, 9));
	/* A remote stamp behind us is always fine. */
	assert_int_equal(hlc_observe(&c, hlc_make(T0 - 100000, 0)), 0);
}

/* G6 */
static void logical_overflow_carries_and_is_counted(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 2, 100, fake_wall_read, &w); /* 1 source bit */
	hlc_clock_init(&c, &d, 1);
	const int per_ms = 1 << (HLC_LOGICAL_BITS - 1);
	hlc_t prev = 0;
	for (int i = 0; i < per_ms + 10; i++) {
		hlc_t t = hlc_now(&c);
		assert_true(t > prev);
		assert_int_equal(hlc_logical(t) & 1, 1); /* source bit kept */
		prev = t;
	}
	assert_int_equal(hlc_ms(prev), T0 + 1);
	struct hlc_counters k = {0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.logical_overflows, 1);
	assert_int_equal(k.issued, per_ms + 10);
}

static void physical_part_saturates_at_the_end_of_time(void **state)
{
	(void)state;
	struct fake_wall w = {UINT64_MAX};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 1, 100, fake_wall_read, &w);
	hlc_clock_init(&c, &d, 0);
	hlc_t t = hlc_now(&c);
	assert_int_equal(hlc_ms(t), HLC_MAX_MS);
	assert_true(hlc_now(&c) > t);
}

/* G1-G5 over random sequences of wall steps, stamps and observations. */
static void random_histories_keep_every_guarantee(void **state)
{
	(void)state;
	const uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	for (unsigned long cs = 0; cs < 10000; cs++) {
		struct fake_wall w = {T0 + prop_below(&rng, 1000)};
		struct hlc_domain d;
		unsigned int n = 1 + (unsigned int)prop_below(&rng, 5);
		struct hlc_clock c[5];
		hlc_t last[5] = {0};
		hlc_domain_init(&d, n, 200, fake_wall_read, &w);
		for (unsigned int i = 0; i < n; i++)
			hlc_clock_init(&c[i], &d, i);
		hlc_t observed_max = 0;
		for (int step = 0; step < 30; step++) {
			unsigned int s = (unsigned int)prop_below(&rng, n);
			hlc_t t = 0;
			int ok = 1;
			switch (prop_below(&rng, 5)) {
			case 0: /* the wall clock jumps, either way */
				w.ms = w.ms + prop_below(&rng, 400) - 200;
				continue;
			case 1:
			case 2:
				t = hlc_now(&c[s]);
				ok = t > last[s] && t > observed_max && hlc_ms(t) >= w.ms;
				break;
			case 3: {
				hlc_t after = hlc_make(w.ms + prop_below(&rng, 50),
						       (uint16_t)prop_next(&rng));
				t = hlc_now_after(&c[s], after);
				ok = t > after && t > last[s];
				break;
			}
			case 4: {
				hlc_t r = hlc_make(w.ms + prop_below(&rng, 400),
						   (uint16_t)prop_next(&rng));
				int rc = hlc_observe(&c[s], r);
				int should_refuse = hlc_ms(r) > w.ms + 200;
				ok = should_refuse ? rc == -ERANGE : rc == 0;
				if (rc == 0 && r > observed_max)
					observed_max = r;
				continue;
			}
			}
			if (!ok || (t & ((1u << d.source_bits) - 1)) != s) {
				prop_report("hlc guarantees", seed, cs);
				fail();
			}
			last[s] = t;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pack_unpack_compare_format),
	    cmocka_unit_test(init_rejects_bad_arguments),
	    cmocka_unit_test(monotonic_when_the_wall_clock_freezes_and_steps_back),
	    cmocka_unit_test(sources_never_issue_equal_stamps),
	    cmocka_unit_test(threads_stamp_uniquely_and_monotonically),
	    cmocka_unit_test(now_after_is_greater_than_its_argument),
	    cmocka_unit_test(observe_orders_every_later_stamp_of_every_source),
	    cmocka_unit_test(drift_guard_refuses_and_changes_nothing),
	    cmocka_unit_test(logical_overflow_carries_and_is_counted),
	    cmocka_unit_test(physical_part_saturates_at_the_end_of_time),
	    cmocka_unit_test(random_histories_keep_every_guarantee),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
