/* SPDX-License-Identifier: BSD-3-Clause */
/* The idempotency table: answers, the window in time under pressure,
 * crafted keys, the seqlock, and exactly-once under threads. The clock is
 * injected: `now` is whatever the test says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "prop.h"

/* A fixed secret keeps the tests deterministic; the node's is random. */
static const uint8_t test_secret[DEDUP_SECRET_BYTES] = {3, 1, 4, 1, 5, 9, 2, 6,
							5, 3, 5, 8, 9, 7, 9, 3};

static struct dedup_table *table(uint64_t window, uint64_t keys)
{
	struct dedup_params p = {.window = window, .keys = keys, .secret = test_secret};
	struct dedup_table *t = dedup_create(&p);
	assert_non_null(t);
	return t;
}

static struct dedup_key bid_key(uint64_t actor, uint64_t req)
{
	return (struct dedup_key){.actor = actor, .request_id = req, .kind = DEDUP_BID};
}

static enum dedup_result claim(struct dedup_table *t, struct dedup_key k, uint64_t now,
			       struct dedup_claim *c, struct dedup_answer *a)
{
	return dedup_claim(t, &k, dedup_hash(t, &k), now, c, a);
}

/* The answer a test gives key (actor, req): every field depends on the key,
 * so a torn or misplaced answer shows. */
static struct dedup_answer answer_of(uint64_t actor, uint64_t req)
{
	return (struct dedup_answer){.auction_id = actor * 3 + req,
				     .detail = ~req,
				     .hlc = actor * 7 ^ req << 20,
				     .status = (uint8_t)((actor + req) & 0x7f)};
}

static bool answer_equal(const struct dedup_answer *a, const struct dedup_answer *b)
{
	return a->auction_id == b->auction_id && a->detail == b->detail && a->hlc == b->hlc &&
	       a->status == b->status;
}

static void answer_is_remembered(void **state)
{
	(void)state;
	struct dedup_table *t = table(1000, 64);
	struct dedup_key k = bid_key(7, 9);
	struct dedup_claim c;
	struct dedup_answer a;
	assert_int_equal(claim(t, k, 1, &c, &a), DEDUP_NEW);
	struct dedup_answer fin = {.auction_id = 5, .detail = 100, .hlc = 12345, .status = 1};
	dedup_finish(t, &c, &fin, 1);
	assert_int_equal(claim(t, k, 2, &c, &a), DEDUP_DONE);
	assert_int_equal(a.auction_id, 5);
	assert_int_equal(a.detail, 100);
	assert_int_equal(a.hlc, 12345);
	assert_int_equal(a.status, 1);
	dedup_destroy(t);
}

static void pending_key_is_busy(void **state)
{
	(void)state;
	struct dedup_table *t = table(1000, 64);
	struct dedup_key k = bid_key(1, 1);
	struct dedup_claim c, c2;
	struct dedup_answer a;
	assert_int_equal(claim(t, k, 1, &c, &a), DEDUP_NEW);
	assert_int_equal(claim(t, k, 2, &c2, &a), DEDUP_BUSY);
	dedup_release(t, &c);
	/* A released claim is forgotten: the key is new again. */
	assert_int_equal(claim(t, k, 3, &c, &a), DEDUP_NEW);
	assert_int_equal(dedup_window_full(t), 0);
	dedup_destroy(t);
}

static void kinds_are_separate_keys(void **state)
{
	(void)state;
	struct dedup_table *t = table(1000, 64);
	struct dedup_key bid = bid_key(3, 4);
	struct dedup_key view = {.actor = 3, .request_id = 4, .kind = DEDUP_VIEW};
	struct dedup_claim c;
	struct dedup_answer a, fin = {.status = 0};
	assert_int_equal(claim(t, bid, 1, &c, &a), DEDUP_NEW);
	dedup_finish(t, &c, &fin, 1);
	assert_int_equal(claim(t, view, 2, &c, &a), DEDUP_NEW);
	dedup_destroy(t);
}

/* The hash is keyed: tables without a given secret draw their own, so the
 * same keys land in unrelated buckets; one secret gives one placement. */
static void hash_is_keyed_by_a_random_secret(void **state)
{
	(void)state;
	struct dedup_params p = {.window = 1000, .keys = 1024};
	struct dedup_table *r1 = dedup_create(&p), *r2 = dedup_create(&p);
	struct dedup_table *f1 = table(1000, 1024), *f2 = table(1000, 1024);
	assert_non_null(r1);
	assert_non_null(r2);
	int same_random = 0;
	for (uint64_t i = 0; i < 256; i++) {
		struct dedup_key k = bid_key(7, i);
		uint64_t b1 = dedup_bucket_index(r1, dedup_hash(r1, &k));
		same_random += b1 == dedup_bucket_index(r2, dedup_hash(r2, &k));
		assert_int_equal(dedup_hash(f1, &k), dedup_hash(f2, &k));
	}
	/* 512 buckets: ~0.5 of 256 keys coincide by chance. */
	assert_true(same_random < 16);
	dedup_destroy(r1);
	dedup_destroy(r2);
	dedup_destroy(f1);
	dedup_destroy(f2);
}

/* Sequential and patterned ids (what clients send) spread evenly over the
 * buckets and tags, and the kind changes the hash. */
static void hash_spreads_patterned_keys(void **state)
{
	(void)state;
	struct dedup_table *t = table(1000, 1024); /* 512 buckets */
	static unsigned int load[512], tags[256];
	memset(load, 0, sizeof(load));
	memset(tags, 0, sizeof(tags));
	const uint64_t n = 1 << 16;
	for (uint64_t i = 0; i < n; i++) {
		struct dedup_key k = bid_key(i >> 8, (i & 0xff) << 40);
		struct dedup_key v = k;
		v.kind = DEDUP_VIEW;
		uint64_t h = dedup_hash(t, &k);
		assert_true(h != dedup_hash(t, &v));
		load[dedup_bucket_index(t, h)]++;
		tags[h & 0xff]++;
	}
	/* 128 keys per bucket on average (sd ~11), 256 per tag (sd 16). */
	for (int b = 0; b < 512; b++)
		assert_true(load[b] > 64 && load[b] < 192);
	for (int g = 0; g < 256; g++)
		assert_true(tags[g] > 160 && tags[g] < 352);
	dedup_destroy(t);
}

/* Memory follows the documented rule: keys x 4 entries of 48 bytes in
 * 8-way buckets; bad parameters are refused. */
static void size_follows_the_rule(void **state)
{
	(void)state;
	struct dedup_params p = {.window = 10, .keys = 1000, .secret = test_secret};
	assert_int_equal(dedup_bytes(&p), 4000 / 8 * 384);
	struct dedup_table *t = dedup_create(&p);
	assert_int_equal(dedup_capacity(t), 4000);
	dedup_destroy(t);
	p.keys = 1001; /* 4004 entries: rounded up to whole buckets */
	assert_int_equal(dedup_bytes(&p), 501 * 384);
	struct dedup_params bad[] = {{.window = 0, .keys = 1},
				     {.window = 1, .keys = 0},
				     {.window = 1, .keys = UINT64_MAX / 2}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dedup_bytes(&bad[i]), 0);
		errno = 0;
		assert_null(dedup_create(&bad[i]));
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(DEDUP_ENTRY_BYTES, 48);
}

/*
 * (a) Table pressure: 16 times more new keys per window than the table is
 * built for. Every answer younger than the window is still remembered
 * (DONE, with its own answer) at every step; a new key that would need a
 * younger one's entry gets DEDUP_BUSY, counted as window_full.
 */
static void pressure_run(uint64_t window, uint64_t step)
{
	enum { KEYS = 256, OFFERS_PER_STEP = 40, STEPS = 300, MAX_KEYS = OFFERS_PER_STEP * STEPS };
	struct dedup_table *t = table(window, KEYS);
	static uint64_t finished_at[MAX_KEYS];
	static bool finished[MAX_KEYS];
	memset(finished, 0, sizeof(finished));
	uint64_t busy = 0, accepted = 0, checked = 0, next = 0;
	struct dedup_claim c;
	struct dedup_answer a;

	for (uint64_t s = 0; s < STEPS; s++) {
		uint64_t now = 1000000 + s * step;
		for (int i = 0; i < OFFERS_PER_STEP; i++, next++) {
			enum dedup_result r = claim(t, bid_key(next + 1, next * 13), now, &c, &a);
			if (r == DEDUP_NEW) {
				struct dedup_answer fin = answer_of(next + 1, next * 13);
				dedup_finish(t, &c, &fin, now);
				finished[next] = true;
				finished_at[next] = now;
				accepted++;
			} else {
				assert_int_equal(r, DEDUP_BUSY);
				busy++;
			}
		}
		for (uint64_t k = 0; k < next; k++) {
			if (!finished[k] || now - finished_at[k] >= window)
				continue;
			enum dedup_result r = claim(t, bid_key(k + 1, k * 13), now, &c, &a);
			if (r != DEDUP_DONE)
				fail_msg("key %lu answered at %lu forgotten at %lu (window %lu)",
					 (unsigned long)k, (unsigned long)finished_at[k],
					 (unsigned long)now, (unsigned long)window);
			struct dedup_answer want = answer_of(k + 1, k * 13);
			assert_true(answer_equal(&a, &want));
			checked++;
		}
	}
	/* The pressure was real, and the table kept serving new keys. */
	assert_true(busy > accepted);
	assert_true(accepted > 2 * KEYS * 4);
	assert_true(checked > 100000);
	assert_int_equal(dedup_window_full(t), busy);
	dedup_destroy(t);
}

static void keys_survive_the_window_under_pressure(void **state)
{
	(void)state;
	pressure_run(1000, 10); /* stamp unit = 1 */
	/* A window of 10 s of a 3 GHz TSC: coarse stamps must not cut it. */
	pressure_run(UINT64_C(30000000007), UINT64_C(300000000));
}

/* An answer is kept the whole window even at its very end, and is gone
 * (its entry reusable) right after. */
static void window_ends_where_it_says(void **state)
{
	(void)state;
	const uint64_t window = UINT64_C(30000000007);
	struct dedup_table *t = table(window, 1);
	struct dedup_claim c;
	struct dedup_answer a, fin = {.status = 2};
	const uint64_t t0 = UINT64_C(123456789012345);
	/* Fill the one bucket (4 entries, 1 bucket of 8) with answers at t0. */
	for (uint64_t i = 0; i < DEDUP_WAYS; i++) {
		assert_int_equal(claim(t, bid_key(i + 1, 1), t0, &c, &a), DEDUP_NEW);
		dedup_finish(t, &c, &fin, t0);
	}
	assert_int_equal(claim(t, bid_key(100, 1), t0 + window - 1, &c, &a), DEDUP_BUSY);
	for (uint64_t i = 0; i < DEDUP_WAYS; i++)
		assert_int_equal(claim(t, bid_key(i + 1, 1), t0 + window - 1, &c, &a), DEDUP_DONE);
	/* Rounding keeps answers at most 2 stamp units (0.1%) longer. */
	assert_int_equal(claim(t, bid_key(100, 1), t0 + window + window / 500, &c, &a), DEDUP_NEW);
	dedup_destroy(t);
}

/* (b) After the window the table takes new keys again: a table refusing
 * new keys at t0 accepts them all once its answers are a window old. */
static void table_accepts_new_keys_after_the_window(void **state)
{
	(void)state;
	const uint64_t window = 1000, keys = 512;
	struct dedup_table *t = table(window, keys);
	struct dedup_claim c;
	struct dedup_answer a, fin = {.status = 0};
	uint64_t busy = 0, next = 1;
	for (; next <= 20 * keys; next++) {
		if (claim(t, bid_key(next, 0), 5000, &c, &a) == DEDUP_NEW)
			dedup_finish(t, &c, &fin, 5000);
		else
			busy++;
	}
	assert_true(busy > 10 * keys);
	/* One window later (plus the stamp rounding): keys / 2 new keys, about
	 * one per bucket, must all find an entry. */
	for (uint64_t i = 0; i < keys / 2; i++, next++) {
		assert_int_equal(claim(t, bid_key(next, 0), 5000 + window + 1, &c, &a), DEDUP_NEW);
		dedup_finish(t, &c, &fin, 5000 + window + 1);
	}
	dedup_destroy(t);
}

/* The old table's bucket function (unkeyed, invertible) and its inverse:
 * what an attacker who read the source could aim with. */
static uint64_t old_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t inverse_odd(uint64_t a)
{
	uint64_t x = a; /* Newton: correct to 3 bits, doubling each step */
	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static uint64_t old_unmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= inverse_odd(UINT64_C(0xc4ceb9fe1a85ec53));
	x ^= x >> 33;
	x *= inverse_odd(UINT64_C(0xff51afd7ed558ccd));
	x ^= x >> 33;
	return x;
}

/* A key whose old hash is `h`, for any request id. */
static struct dedup_key old_key_with_hash(uint64_t h, uint64_t req)
{
	return bid_key(old_unmix64(h) ^ old_mix64(req + DEDUP_BID), req);
}

/*
 * (c) Keys crafted to share the victim's bucket under the old unkeyed hash
 * (the low 24 bits of mix64 equal: one bucket of any table up to 2^24
 * buckets) no longer share one: the victim is still remembered after 64.
 */
static void keys_crafted_for_the_old_hash_cannot_evict(void **state)
{
	(void)state;
	struct dedup_key victim = bid_key(42, 4242);
	uint64_t vh = old_mix64(victim.actor ^ old_mix64(victim.request_id + victim.kind));
	struct dedup_key k0 = old_key_with_hash(vh, 4242);
	assert_true(k0.actor == victim.actor); /* the inverse is right */

	struct dedup_table *t = table(1000000, 1024);
	struct dedup_claim c;
	struct dedup_answer a;
	struct dedup_answer want = answer_of(victim.actor, victim.request_id);
	assert_int_equal(claim(t, victim, 1, &c, &a), DEDUP_NEW);
	dedup_finish(t, &c, &want, 1);
	for (uint64_t i = 1; i <= 64; i++) {
		struct dedup_key k = old_key_with_hash(vh ^ i << 24, 1000 + i);
		if (claim(t, k, 1 + i, &c, &a) == DEDUP_NEW) {
			struct dedup_answer fin = {.status = 0};
			dedup_finish(t, &c, &fin, 1 + i);
		}
	}
	assert_int_equal(claim(t, victim, 100, &c, &a), DEDUP_DONE);
	assert_true(answer_equal(&a, &want));
	dedup_destroy(t);
}

/* (c) Even keys that do share the victim's bucket (found here with the
 * test's secret, which a client does not have) cannot evict it inside the
 * window: they are refused; after the window they get in. */
static void a_full_bucket_cannot_evict_a_young_key(void **state)
{
	(void)state;
	const uint64_t window = 1000;
	struct dedup_table *t = table(window, 1024);
	struct dedup_key victim = bid_key(42, 4242);
	uint64_t target = dedup_bucket_index(t, dedup_hash(t, &victim));
	struct dedup_key same[24];
	int n = 0;
	for (uint64_t req = 1; n < 24 && req < 10000000; req++) {
		struct dedup_key k = bid_key(77, req);
		if (dedup_bucket_index(t, dedup_hash(t, &k)) == target)
			same[n++] = k;
	}
	assert_int_equal(n, 24);

	struct dedup_claim c;
	struct dedup_answer a;
	struct dedup_answer want = answer_of(victim.actor, victim.request_id);
	assert_int_equal(claim(t, victim, 10, &c, &a), DEDUP_NEW);
	dedup_finish(t, &c, &want, 10);
	int accepted = 0, refused = 0;
	for (int i = 0; i < n; i++) {
		enum dedup_result r = claim(t, same[i], 11 + (uint64_t)i, &c, &a);
		if (r == DEDUP_NEW) {
			struct dedup_answer fin = {.status = 0};
			dedup_finish(t, &c, &fin, 11 + (uint64_t)i);
			accepted++;
		} else {
			assert_int_equal(r, DEDUP_BUSY);
			refused++;
		}
	}
	assert_int_equal(accepted, DEDUP_WAYS - 1);
	assert_int_equal(refused, n - (DEDUP_WAYS - 1));
	assert_int_equal(dedup_window_full(t), (uint64_t)refused);
	assert_int_equal(claim(t, victim, 10 + window - 1, &c, &a), DEDUP_DONE);
	assert_true(answer_equal(&a, &want));
	/* A window later the refused keys get in, the oldest answer going
	 * first: the victim. */
	assert_int_equal(claim(t, same[n - 1], 11 + window + 1, &c, &a), DEDUP_NEW);
	struct dedup_answer fin = {.status = 0};
	dedup_finish(t, &c, &fin, 11 + window + 1);
	assert_int_equal(claim(t, victim, 11 + window + 1, &c, &a), DEDUP_NEW);
	dedup_release(t, &c);
	dedup_destroy(t);
}

/* Keys that share a bucket and a tag (the tag line cannot tell them apart)
 * are still separate keys: each claims its own way, each replays its own
 * answer, a pending one makes only itself busy; the oldest old answer is
 * evicted first, and a kind does not match the other kind's entry. */
static void keys_sharing_a_tag_stay_separate(void **state)
{
	(void)state;
	struct dedup_table *t = table(100, 1024);
	struct dedup_key first = bid_key(5, 1), twin = {0};
	uint64_t h0 = dedup_hash(t, &first);
	for (uint64_t req = 2; req < 100000000; req++) {
		struct dedup_key k = bid_key(5, req);
		uint64_t h = dedup_hash(t, &k);
		if (dedup_bucket_index(t, h) == dedup_bucket_index(t, h0) &&
		    (h & 0xff) == (h0 & 0xff)) {
			twin = k;
			break;
		}
	}
	assert_true(twin.request_id != 0);
	struct dedup_claim c1, c2;
	struct dedup_answer a, w1 = answer_of(5, 1), w2 = answer_of(5, twin.request_id);
	assert_int_equal(claim(t, first, 1, &c1, &a), DEDUP_NEW);
	assert_int_equal(claim(t, first, 1, &c2, &a), DEDUP_BUSY);
	assert_int_equal(claim(t, twin, 1, &c2, &a), DEDUP_NEW);
	assert_true(c1.ctl != c2.ctl);
	dedup_finish(t, &c1, &w1, 2);
	assert_int_equal(claim(t, twin, 3, &c1, &a), DEDUP_BUSY);
	dedup_finish(t, &c2, &w2, 4);
	assert_int_equal(claim(t, first, 5, &c1, &a), DEDUP_DONE);
	assert_true(answer_equal(&a, &w1));
	assert_int_equal(claim(t, twin, 5, &c1, &a), DEDUP_DONE);
	assert_true(answer_equal(&a, &w2));
	struct dedup_key view = first;
	view.kind = DEDUP_VIEW;
	assert_int_equal(claim(t, view, 6, &c1, &a), DEDUP_NEW);
	dedup_release(t, &c1);
	dedup_destroy(t);
}

/* A new key evicts the oldest answer older than the window, not a younger
 * one, in a bucket with no empty way. */
static void the_oldest_old_answer_is_evicted_first(void **state)
{
	(void)state;
	const uint64_t window = 1000;
	struct dedup_table *t = table(window, 1024);
	struct dedup_key ks[DEDUP_WAYS + 1];
	uint64_t target =
	    dedup_bucket_index(t, dedup_hash(t, &(struct dedup_key){9, 1, DEDUP_BID}));
	int n = 0;
	for (uint64_t req = 1; n < DEDUP_WAYS + 1; req++) {
		struct dedup_key k = bid_key(9, req);
		if (dedup_bucket_index(t, dedup_hash(t, &k)) == target)
			ks[n++] = k;
	}
	struct dedup_claim c;
	struct dedup_answer a;
	/* Answers at times 10, 20, ..., way 3 the oldest (time 5). */
	for (int i = 0; i < DEDUP_WAYS; i++) {
		uint64_t at = i == 3 ? 5 : 10 * (uint64_t)(i + 1);
		assert_int_equal(claim(t, ks[i], at, &c, &a), DEDUP_NEW);
		struct dedup_answer fin = answer_of(9, ks[i].request_id);
		dedup_finish(t, &c, &fin, at);
	}
	uint64_t now = 10 + 2 * window + 100; /* every answer old enough */
	assert_int_equal(claim(t, ks[DEDUP_WAYS], now, &c, &a), DEDUP_NEW);
	struct dedup_answer fin = answer_of(9, ks[DEDUP_WAYS].request_id);
	dedup_finish(t, &c, &fin, now);
	for (int i = 0; i < DEDUP_WAYS; i++) {
		struct dedup_claim c2;
		enum dedup_result r = claim(t, ks[i], now, &c2, &a);
		assert_int_equal(r, i == 3 ? DEDUP_NEW : DEDUP_DONE);
		if (r == DEDUP_NEW)
			dedup_release(t, &c2);
		else {
			struct dedup_answer want = answer_of(9, ks[i].request_id);
			assert_true(answer_equal(&a, &want));
		}
	}
	dedup_destroy(t);
}

/*
 * (d) The seqlock: one writer recycles the 8 entries of a one-bucket table
 * as fast as it can (each answer depends on its key); readers look up the
 * keys being written and just written. A DONE answer must be the key's own.
 * On x86 (TSO) this cannot catch a missing release fence; it does catch a
 * protocol error (a torn or recycled entry taken for an answer).
 */
#define TORN_WRITES  200000
#define TORN_READERS 2
/* Reads of a finished answer the readers must have made before the writer
 * stops (on a loaded machine they may not run at all during its first
 * TORN_WRITES: it then goes on, yielding, up to TORN_WRITES_MAX). */
#define TORN_MIN_READS	1000
#define TORN_WRITES_MAX (100 * TORN_WRITES)

struct torn {
	struct dedup_table *t;
	_Atomic uint64_t progress; /* last key finished */
	_Atomic bool stop;
	_Atomic uint64_t done_reads;
	_Atomic uint64_t torn_reads;
};

static void *torn_writer(void *arg)
{
	struct torn *x = arg;
	struct dedup_claim c;
	struct dedup_answer a;
	for (uint64_t i = 1; i <= TORN_WRITES_MAX; i++) {
		if (i > TORN_WRITES) {
			if (atomic_load(&x->done_reads) >= TORN_MIN_READS)
				break;
			if (i % 1024 == 0)
				sched_yield();
		}
		uint64_t now = 4 * i; /* the window is 1: older entries are evictable */
		while (claim(x->t, bid_key(i, i), now, &c, &a) != DEDUP_NEW)
			;
		struct dedup_answer fin = answer_of(i, i);
		dedup_finish(x->t, &c, &fin, now);
		atomic_store(&x->progress, i);
	}
	atomic_store(&x->stop, true);
	return NULL;
}

static void *torn_reader(void *arg)
{
	struct torn *x = arg;
	struct dedup_claim c;
	struct dedup_answer a;
	uint64_t round = 0;
	while (!atomic_load(&x->stop)) {
		uint64_t p = atomic_load(&x->progress);
		uint64_t k = p + 1 - round++ % 4; /* in flight, or just answered */
		if (k == 0)
			continue;
		enum dedup_result r = claim(x->t, bid_key(k, k), 4 * p, &c, &a);
		if (r == DEDUP_NEW) {
			dedup_release(x->t, &c);
		} else if (r == DEDUP_DONE) {
			struct dedup_answer want = answer_of(k, k);
			atomic_fetch_add(&x->done_reads, 1);
			if (!answer_equal(&a, &want))
				atomic_fetch_add(&x->torn_reads, 1);
		}
	}
	return NULL;
}

static void readers_never_take_a_torn_entry(void **state)
{
	(void)state;
	static struct torn x;
	x.t = table(1, 1);
	assert_int_equal(dedup_capacity(x.t), DEDUP_WAYS);
	atomic_init(&x.progress, 0);
	atomic_init(&x.stop, false);
	atomic_init(&x.done_reads, 0);
	atomic_init(&x.torn_reads, 0);
	pthread_t w, r[TORN_READERS];
	for (int i = 0; i < TORN_READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, torn_reader, &x), 0);
	assert_int_equal(pthread_create(&w, NULL, torn_writer, &x), 0);
	pthread_join(w, NULL);
	for (int i = 0; i < TORN_READERS; i++)
		pthread_join(r[i], NULL);
	assert_int_equal(atomic_load(&x.torn_reads), 0);
	assert_true(atomic_load(&x.done_reads) >= TORN_MIN_READS);
	dedup_destroy(x.t);
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
			enum dedup_result res = claim(r->t, k, ++now, &c, &a);
			if (res == DEDUP_DONE) {
				if (a.detail != key)
					atomic_fetch_add(&r->applied[key], 1000); /* wrong answer */
				break;
			}
			if (res == DEDUP_NEW) {
				atomic_fetch_add(&r->applied[key], 1);
				struct dedup_answer fin = {.detail = key, .status = 0};
				dedup_finish(r->t, &c, &fin, now);
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
	/* A window far longer than the run: no answer may be evicted. */
	r.t = table(UINT64_C(1) << 40, 4 * RACE_KEYS);
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
	    cmocka_unit_test(hash_is_keyed_by_a_random_secret),
	    cmocka_unit_test(hash_spreads_patterned_keys),
	    cmocka_unit_test(size_follows_the_rule),
	    cmocka_unit_test(keys_survive_the_window_under_pressure),
	    cmocka_unit_test(window_ends_where_it_says),
	    cmocka_unit_test(table_accepts_new_keys_after_the_window),
	    cmocka_unit_test(keys_crafted_for_the_old_hash_cannot_evict),
	    cmocka_unit_test(a_full_bucket_cannot_evict_a_young_key),
	    cmocka_unit_test(keys_sharing_a_tag_stay_separate),
	    cmocka_unit_test(the_oldest_old_answer_is_evicted_first),
	    cmocka_unit_test(readers_never_take_a_torn_entry),
	    cmocka_unit_test(concurrent_claims_apply_each_key_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
