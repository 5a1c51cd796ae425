/* SPDX-License-Identifier: BSD-3-Clause */
/* The idempotency table: answers, window, and exactly-once under threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "dedup.h"
#include "prop.h"

static struct dedup_key bid_key(uint64_t actor, uint64_t req)
{
	return (struct dedup_key){.actor = actor, .request_id = req, .kind = DEDUP_BID};
}

static void answer_is_remembered(void **state)
{
	(void)state;
	struct dedup_table *t = dedup_create(64);
	struct dedup_key k = bid_key(7, 9);
	struct dedup_claim c;
	struct dedup_answer a;
	assert_int_equal(dedup_claim(t, &k, 1, &c, &a), DEDUP_NEW);
	struct dedup_answer fin = {.auction_id = 5, .detail = 100, .hlc = 12345, .status = 1};
	dedup_finish(t, &c, &fin);
	assert_int_equal(dedup_claim(t, &k, 2, &c, &a), DEDUP_DONE);
	assert_int_equal(a.auction_id, 5);
	assert_int_equal(a.detail, 100);
	assert_int_equal(a.hlc, 12345);
	assert_int_equal(a.status, 1);
	dedup_destroy(t);
}

static void pending_key_is_busy(void **state)
{
	(void)state;
	struct dedup_table *t = dedup_create(64);
	struct dedup_key k = bid_key(1, 1);
	struct dedup_claim c, c2;
	struct dedup_answer a;
	assert_int_equal(dedup_claim(t, &k, 1, &c, &a), DEDUP_NEW);
	assert_int_equal(dedup_claim(t, &k, 2, &c2, &a), DEDUP_BUSY);
	dedup_release(t, &c);
	/* A released claim is forgotten: the key is new again. */
	assert_int_equal(dedup_claim(t, &k, 3, &c, &a), DEDUP_NEW);
	dedup_destroy(t);
}

static void kinds_are_separate_keys(void **state)
{
	(void)state;
	struct dedup_table *t = dedup_create(64);
	struct dedup_key bid = bid_key(3, 4);
	struct dedup_key view = {.actor = 3, .request_id = 4, .kind = DEDUP_VIEW};
	struct dedup_claim c;
	struct dedup_answer a, fin = {.status = 0};
	assert_int_equal(dedup_claim(t, &bid, 1, &c, &a), DEDUP_NEW);
	dedup_finish(t, &c, &fin);
	assert_int_equal(dedup_claim(t, &view, 2, &c, &a), DEDUP_NEW);
	dedup_destroy(t);
}

/* The keys of the last `window` are remembered (dedup.h: each with
 * probability about 1 - 1e-5; allow 1 in 1000), and memory is bounded:
 * far older keys are forgotten. */
static void window_keeps_recent_keys_and_forgets_old(void **state)
{
	(void)state;
	const uint32_t window = 4096;
	struct dedup_table *t = dedup_create(window);
	struct dedup_claim c;
	struct dedup_answer a, fin = {.status = 0};
	uint64_t now = 0;
	for (uint64_t i = 1; i <= 20 * window; i++) {
		struct dedup_key k = bid_key(i, i * 31);
		assert_int_equal(dedup_claim(t, &k, ++now, &c, &a), DEDUP_NEW);
		dedup_finish(t, &c, &fin);
	}
	unsigned int remembered = 0;
	for (uint64_t i = 19 * window + 1; i <= 20 * window; i++) {
		struct dedup_key k = bid_key(i, i * 31);
		if (dedup_claim(t, &k, ++now, &c, &a) == DEDUP_DONE)
			remembered++;
		else
			dedup_release(t, &c);
	}
	assert_true(remembered >= window - window / 1000);
	unsigned int old_remembered = 0;
	for (uint64_t i = 1; i <= window; i++) {
		struct dedup_key k = bid_key(i, i * 31);
		if (dedup_claim(t, &k, ++now, &c, &a) == DEDUP_DONE)
			old_remembered++;
		else
			dedup_release(t, &c);
	}
	assert_true(old_remembered < window / 10);
	struct dedup_stats s;
	dedup_stats(t, &s);
	assert_true(s.used <= s.capacity);
	assert_true(s.capacity >= 8 * window);
	dedup_destroy(t);
}

#define RACE_KEYS    20000
#define RACE_THREADS 4

struct race {
	struct dedup_table *t;
	_Atomic unsigned int applied[RACE_KEYS];
	_Atomic unsigned int busy;
	uint64_t seed;
};

struct racer {
	struct race *r;
	unsigned int id;
};

/* Each thread offers every key, in its own order, until it is answered;
 * a key must be applied exactly once whatever the interleaving. */
static void *race_thread(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	struct prop_rng rng;
	prop_seed(&rng, r->seed + me->id);
	unsigned int *order = malloc(sizeof(unsigned int) * RACE_KEYS);
	for (unsigned int i = 0; i < RACE_KEYS; i++)
		order[i] = i;
	for (unsigned int i = RACE_KEYS - 1; i > 0; i--) {
		unsigned int j = (unsigned int)prop_below(&rng, i + 1);
		unsigned int tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	uint64_t now = 0;
	for (unsigned int i = 0; i < RACE_KEYS; i++) {
		unsigned int key = order[i];
		struct dedup_key k = bid_key(key / 7 + 1, key + 1);
		struct dedup_claim c;
		struct dedup_answer a;
		for (;;) {
			enum dedup_result res = dedup_claim(r->t, &k, ++now, &c, &a);
			if (res == DEDUP_DONE) {
				if (a.detail != key)
					atomic_fetch_add(&r->applied[key], 1000); /* wrong answer */
				break;
			}
			if (res == DEDUP_NEW) {
				atomic_fetch_add(&r->applied[key], 1);
				struct dedup_answer fin = {.detail = key, .status = 0};
				dedup_finish(r->t, &c, &fin);
				break;
			}
			atomic_fetch_add(&r->busy, 1);
		}
	}
	free(order);
	return NULL;
}

static void concurrent_claims_apply_each_key_once(void **state)
{
	(void)state;
	static struct race r;
	r.t = dedup_create(4 * RACE_KEYS);
	r.seed = prop_base_seed();
	for (unsigned int i = 0; i < RACE_KEYS; i++)
		atomic_init(&r.applied[i], 0);
	pthread_t th[RACE_THREADS];
	struct racer racers[RACE_THREADS];
	for (unsigned int i = 0; i < RACE_THREADS; i++) {
		racers[i] = (struct racer){&r, i};
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &racers[i]), 0);
	}
	for (unsigned int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned int i = 0; i < RACE_KEYS; i++) {
		if (atomic_load(&r.applied[i]) != 1)
			prop_report("dedup exactly-once", r.seed, i);
		assert_int_equal(atomic_load(&r.applied[i]), 1);
	}
	dedup_destroy(r.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(answer_is_remembered),
	    cmocka_unit_test(pending_key_is_busy),
	    cmocka_unit_test(kinds_are_separate_keys),
	    cmocka_unit_test(window_keeps_recent_keys_and_forgets_old),
	    cmocka_unit_test(concurrent_claims_apply_each_key_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
