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
	assert_int_equal(d.counters, 65536 / 3);
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
	/* The check alone says so and counts nothing. */
	assert_false(hlc_within_drift(&d, hlc_make(T0 + 501, 0)));
	assert_true(hlc_within_drift(&d, hlc_make(T0 + 500, 0xffff)));
	assert_true(hlc_within_drift(&d, hlc_make(T0 - 100000, 0)));
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
	hlc_domain_init(&d, 2, 100, fake_wall_read, &w); /* every other value */
	hlc_clock_init(&c, &d, 1);
	const int per_ms = 1 << (HLC_LOGICAL_BITS - 1);
	hlc_t prev = 0;
	for (int i = 0; i < per_ms + 10; i++) {
		hlc_t t = hlc_now(&c);
		assert_true(t > prev);
		assert_int_equal(hlc_logical(t) % 2, 1); /* the source's values */
		prev = t;
	}
	assert_int_equal(hlc_ms(prev), T0 + 1);
	struct hlc_counters k = {0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.logical_overflows, 1);
	assert_int_equal(k.issued, per_ms + 10);
}

/* G6: the budget is 65,536 / S per source, not 2^(16 - bits(S)): 3,855 with
 * 16 workers + control, where whole bits gave 2,048. */
static void every_source_gets_its_share_of_the_millisecond(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 17, 100, fake_wall_read, &w);
	hlc_clock_init(&c, &d, 16);
	for (int i = 0; i < 65536 / 17; i++) {
		hlc_t t = hlc_now(&c);
		assert_int_equal(hlc_ms(t), T0);
		assert_int_equal(hlc_logical(t) % 17, 16);
	}
	assert_int_equal(hlc_ms(hlc_now(&c)), T0 + 1);
	struct hlc_counters k = {0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.logical_overflows, 1);
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

/* The candidate is the stamp hlc_issue then issues; until then it is not
 * issued, so deciding with it costs no stamp. */
static void candidate_is_issued_only_when_asked(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c;
	hlc_domain_init(&d, 1, 100, fake_wall_read, &w);
	hlc_clock_init(&c, &d, 0);
	hlc_t first = hlc_candidate_after(&c, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(hlc_candidate_after(&c, 0), first);
	hlc_issue(&c, first);
	hlc_t second = hlc_candidate_after(&c, 0);
	assert_true(second > first);
	hlc_t ahead = hlc_make(T0 + 3, 9);
	hlc_t third = hlc_candidate_after(&c, ahead);
	assert_true(third > ahead);
	hlc_issue(&c, third);
	assert_true(hlc_now(&c) > third);
	struct hlc_counters k = {0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.issued, 3);
	/* A reading is not after the stamp that would come next. */
	assert_true(hlc_read(&c) <= hlc_candidate_after(&c, 0));
	/* A candidate that would carry is a carry only once issued. */
	hlc_t end_of_ms = hlc_make(T0 + 3, 0xffff);
	hlc_t carry = hlc_candidate_after(&c, end_of_ms);
	assert_int_equal(hlc_ms(carry), T0 + 4);
	hlc_candidate_after(&c, 0);
	hlc_issue(&c, hlc_candidate_after(&c, 0));
	k = (struct hlc_counters){0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.logical_overflows, 0);
	hlc_issue(&c, hlc_candidate_after(&c, end_of_ms));
	k = (struct hlc_counters){0};
	hlc_counters_add(&c, &k);
	assert_int_equal(k.logical_overflows, 1);
}

/* G7: a domain reading is at least every stamp issued before it, by any
 * source, even one that ran ahead of the wall clock or stamped before the
 * wall clock stepped back; and it issues nothing. */
static void domain_read_covers_every_issued_stamp(void **state)
{
	(void)state;
	struct fake_wall w = {T0};
	struct hlc_domain d;
	struct hlc_clock c[2];
	hlc_domain_init(&d, 2, 100, fake_wall_read, &w);
	hlc_clock_init(&c[0], &d, 0);
	hlc_clock_init(&c[1], &d, 1);
	hlc_t t = hlc_now(&c[1]);
	assert_true(hlc_domain_read(&d) >= t);
	for (int i = 0; i < (1 << (HLC_LOGICAL_BITS - 1)) + 5; i++)
		t = hlc_now(&c[1]);
	assert_true(hlc_ms(t) > T0); /* ran ahead */
	assert_true(hlc_domain_read(&d) >= t);
	w.ms = T0 - 5000; /* the wall clock steps back */
	assert_true(hlc_domain_read(&d) >= t);
	w.ms = T0 + 10;
	assert_true(hlc_domain_read(&d) >= hlc_make(T0 + 10, 0));
	struct hlc_counters k = {0};
	hlc_counters_add(&c[0], &k);
	assert_int_equal(k.issued, 0); /* reading issued nothing */
}

/*
 * The capacity property (G6) in virtual time: S sources interleaved, each
 * issuing k stamps per virtual millisecond in bursts of one, some after the
 * stamp of a shared "leading bid" (G3). Returns the largest lead of a stamp
 * over the wall clock in ms; counts overflows; checks G1, G2, G3.
 */
struct capacity {
	unsigned int sources;
	unsigned int per_ms;
	unsigned int ms;
	uint64_t overflows;
	uint64_t lead_ms;
	uint64_t issued;
};

static void run_capacity(struct capacity *cap)
{
	struct fake_wall w = {T0};
	struct hlc_domain d;
	static struct hlc_clock c[HLC_MAX_SOURCES];
	hlc_domain_init(&d, cap->sources, 100, fake_wall_read, &w);
	for (unsigned int s = 0; s < cap->sources; s++)
		hlc_clock_init(&c[s], &d, s);
	size_t n = (size_t)cap->sources * cap->per_ms * cap->ms;
	hlc_t *all = malloc(n * sizeof(hlc_t));
	assert_non_null(all);
	hlc_t last[HLC_MAX_SOURCES] = {0};
	hlc_t leads[64] = {0}; /* 64 "auctions": their leading stamps */
	size_t k = 0;
	cap->lead_ms = 0;
	for (unsigned int ms = 0; ms < cap->ms; ms++, w.ms++) {
		for (unsigned int i = 0; i < cap->per_ms; i++) {
			for (unsigned int s = 0; s < cap->sources; s++) {
				hlc_t *lead = &leads[(i * 7 + s * 13) % 64];
				hlc_t t = hlc_now_after(&c[s], *lead);
				if (t <= last[s] || t <= *lead)
					fail_msg("G1/G3 broken at source %u", s);
				*lead = t;
				last[s] = t;
				if (hlc_ms(t) > w.ms && hlc_ms(t) - w.ms > cap->lead_ms)
					cap->lead_ms = hlc_ms(t) - w.ms;
				all[k++] = t;
			}
		}
	}
	qsort(all, n, sizeof(hlc_t), cmp_u64);
	for (size_t i = 1; i < n; i++)
		if (all[i] == all[i - 1])
			fail_msg("G2 broken: stamp issued twice");
	free(all);
	struct hlc_counters sum = {0};
	for (unsigned int s = 0; s < cap->sources; s++)
		hlc_counters_add(&c[s], &sum);
	cap->overflows = sum.logical_overflows;
	cap->issued = sum.issued;
}

/* 16 workers + control at 3,800 stamps/ms each (64.6 M stamps/s), every
 * stamp after the leading stamp of one of 64 auctions: within the budget
 * (3,855/ms each), no carry, no lead over the wall clock. 3,900/ms is beyond
 * it and carries. Whole source bits (2,048/ms each) failed the first. */
static void seventeen_sources_share_the_node_budget(void **state)
{
	(void)state;
	struct capacity within = {.sources = 17, .per_ms = 3800, .ms = 20};
	run_capacity(&within);
	assert_int_equal(within.issued, 17u * 3800u * 20u);
	assert_int_equal(within.overflows, 0);
	assert_true(within.lead_ms <= 1);
	assert_int_equal(within.lead_ms, 0);

	struct capacity beyond = {.sources = 17, .per_ms = 3900, .ms = 20};
	run_capacity(&beyond);
	assert_true(beyond.overflows > 0);
	assert_true(beyond.lead_ms >= 1);
}

/* G1-G5 and G7 over random sequences of wall steps, stamps, candidates,
 * readings and observations. */
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
		hlc_t issued[40];
		unsigned int nissued = 0;
		hlc_domain_init(&d, n, 200, fake_wall_read, &w);
		for (unsigned int i = 0; i < n; i++)
			hlc_clock_init(&c[i], &d, i);
		hlc_t observed_max = 0, issued_max = 0;
		for (int step = 0; step < 30; step++) {
			unsigned int s = (unsigned int)prop_below(&rng, n);
			hlc_t t = 0;
			int ok = 1;
			switch (prop_below(&rng, 7)) {
			case 0: /* the wall clock jumps, either way */
				w.ms = w.ms + prop_below(&rng, 400) - 200;
				continue;
			case 1:
			case 2:
				t = hlc_now(&c[s]);
				ok = t > observed_max && hlc_ms(t) >= w.ms;
				break;
			case 3: {
				hlc_t after = hlc_make(w.ms + prop_below(&rng, 50),
						       (uint16_t)prop_next(&rng));
				t = hlc_now_after(&c[s], after);
				ok = t > after;
				break;
			}
			case 4: {
				hlc_t after = prop_below(&rng, 2) ? issued_max : 0;
				t = hlc_candidate_after(&c[s], after);
				ok = t > after && hlc_candidate_after(&c[s], after) == t;
				if (ok && prop_below(&rng, 2))
					continue; /* decided against: nothing issued */
				hlc_issue(&c[s], t);
				break;
			}
			case 5:
				ok = hlc_domain_read(&d) >= issued_max &&
				     hlc_domain_read(&d) >= observed_max &&
				     hlc_read(&c[s]) >= last[s];
				if (!ok) {
					prop_report("hlc readings", seed, cs);
					fail();
				}
				continue;
			case 6: {
				hlc_t r = hlc_make(w.ms + prop_below(&rng, 400),
						   (uint16_t)prop_next(&rng));
				int rc = hlc_observe(&c[s], r);
				int should_refuse = hlc_ms(r) > w.ms + 200;
				ok = should_refuse ? rc == -ERANGE : rc == 0;
				if (rc == 0 && r > observed_max)
					observed_max = r;
				if (!ok) {
					prop_report("hlc drift guard", seed, cs);
					fail();
				}
				continue;
			}
			}
			for (unsigned int i = 0; i < nissued; i++)
				ok = ok && issued[i] != t;
			if (!ok || t <= last[s] || hlc_logical(t) % n != s) {
				prop_report("hlc guarantees", seed, cs);
				fail();
			}
			issued[nissued++] = t;
			last[s] = t;
			if (t > issued_max)
				issued_max = t;
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
	    cmocka_unit_test(every_source_gets_its_share_of_the_millisecond),
	    cmocka_unit_test(physical_part_saturates_at_the_end_of_time),
	    cmocka_unit_test(candidate_is_issued_only_when_asked),
	    cmocka_unit_test(domain_read_covers_every_issued_stamp),
	    cmocka_unit_test(seventeen_sources_share_the_node_budget),
	    cmocka_unit_test(random_histories_keep_every_guarantee),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
