/* SPDX-License-Identifier: BSD-3-Clause */
#include "dedup.h"

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEDUP_WAYS	 8
#define DEDUP_CAPACITY_X 8
/* Claim attempts before giving up with DEDUP_BUSY; a retry only happens
 * when another thread changed the bucket under us, so this is generous. */
#define DEDUP_MAX_RETRIES 16

enum entry_state {
	ENTRY_EMPTY = 0,
	ENTRY_BUSY = 1,
	ENTRY_PENDING = 2,
	ENTRY_FINAL = 3,
};

/*
 * One cache line. Every field is atomic so concurrent readers and the
 * writer never race in the C11 sense; the control word tells readers
 * whether what they read belongs together.
 */
struct dedup_entry {
	alignas(64) _Atomic uint64_t ctl; /* seq << 2 | state */
	_Atomic uint64_t actor;
	_Atomic uint64_t request_id;
	_Atomic uint64_t born;
	_Atomic uint64_t auction_id;
	_Atomic uint64_t detail;
	_Atomic uint64_t hlc;
	_Atomic uint64_t kind_status; /* kind << 8 | status */
};

struct dedup_table {
	struct dedup_entry *entries;
	uint64_t bucket_mask;
	uint64_t nbuckets;
	struct dedup_allocator allocator;
};

static inline uint64_t ctl_make(uint64_t seq, enum entry_state st)
{
	return seq << 2 | st;
}

static inline enum entry_state ctl_state(uint64_t ctl)
{
	return (enum entry_state)(ctl & 3);
}

static inline uint64_t ctl_seq(uint64_t ctl)
{
	return ctl >> 2;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline struct dedup_entry *bucket_of(const struct dedup_table *t, const struct dedup_key *k)
{
	uint64_t h = mix64(k->actor ^ mix64(k->request_id + k->kind));
	return &t->entries[(h & t->bucket_mask) * DEDUP_WAYS];
}

static void *heap_alloc(size_t bytes, size_t align)
{
	void *p = aligned_alloc(align, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

struct dedup_table *dedup_create(uint32_t window)
{
	static const struct dedup_allocator heap = {heap_alloc, free};
	return dedup_create_with(window, &heap);
}

struct dedup_table *dedup_create_with(uint32_t window, const struct dedup_allocator *a)
{
	if (window == 0)
		return NULL;
	uint64_t want = (uint64_t)window * DEDUP_CAPACITY_X / DEDUP_WAYS;
	uint64_t nbuckets = 1;
	while (nbuckets < want)
		nbuckets <<= 1;

	struct dedup_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->allocator = *a;
	t->entries = a->alloc(nbuckets * DEDUP_WAYS * sizeof(struct dedup_entry),
			      alignof(struct dedup_entry));
	if (!t->entries) {
		free(t);
		return NULL;
	}
	t->nbuckets = nbuckets;
	t->bucket_mask = nbuckets - 1;
	return t;
}

void dedup_destroy(struct dedup_table *t)
{
	if (!t)
		return;
	t->allocator.release(t->entries);
	free(t);
}

/* A consistent view of one entry, or `valid` false when it moved under us. */
struct entry_view {
	uint64_t ctl;
	bool valid;
	bool matches;
	uint64_t born;
	struct dedup_answer answer;
};

static void entry_read(struct dedup_entry *e, const struct dedup_key *k, struct entry_view *v)
{
	v->ctl = atomic_load_explicit(&e->ctl, memory_order_acquire);
	v->valid = true;
	v->matches = false;
	enum entry_state st = ctl_state(v->ctl);
	if (st != ENTRY_PENDING && st != ENTRY_FINAL)
		return;
	uint64_t actor = atomic_load_explicit(&e->actor, memory_order_relaxed);
	uint64_t req = atomic_load_explicit(&e->request_id, memory_order_relaxed);
	uint64_t ks = atomic_load_explicit(&e->kind_status, memory_order_relaxed);
	v->born = atomic_load_explicit(&e->born, memory_order_relaxed);
	v->answer.auction_id = atomic_load_explicit(&e->auction_id, memory_order_relaxed);
	v->answer.detail = atomic_load_explicit(&e->detail, memory_order_relaxed);
	v->answer.hlc = atomic_load_explicit(&e->hlc, memory_order_relaxed);
	v->answer.status = (uint8_t)(ks & 0xff);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->ctl, memory_order_relaxed) != v->ctl) {
		v->valid = false;
		return;
	}
	v->matches = actor == k->actor && req == k->request_id && (ks >> 8) == k->kind;
}

/* After publishing our PENDING claim: does another live claim hold the key? */
static enum dedup_result rival_check(struct dedup_entry *bucket, struct dedup_entry *mine,
				     const struct dedup_key *k, struct dedup_answer *answer)
{
	for (int i = 0; i < DEDUP_WAYS; i++) {
		struct dedup_entry *e = &bucket[i];
		if (e == mine)
			continue;
		struct entry_view v;
		do
			entry_read(e, k, &v);
		while (!v.valid);
		if (!v.matches)
			continue;
		if (ctl_state(v.ctl) == ENTRY_FINAL) {
			*answer = v.answer;
			return DEDUP_DONE;
		}
		return DEDUP_BUSY;
	}
	return DEDUP_NEW;
}

enum dedup_result dedup_claim(struct dedup_table *t, const struct dedup_key *k, uint64_t now,
			      struct dedup_claim *claim, struct dedup_answer *answer)
{
	struct dedup_entry *bucket = bucket_of(t, k);

	for (int attempt = 0; attempt < DEDUP_MAX_RETRIES; attempt++) {
		struct dedup_entry *victim = NULL;
		uint64_t victim_ctl = 0, oldest = UINT64_MAX;
		bool moved = false;

		for (int i = 0; i < DEDUP_WAYS && !moved; i++) {
			struct entry_view v;
			entry_read(&bucket[i], k, &v);
			if (!v.valid) {
				moved = true;
				break;
			}
			enum entry_state st = ctl_state(v.ctl);
			if (v.matches) {
				if (st == ENTRY_PENDING)
					return DEDUP_BUSY;
				*answer = v.answer;
				return DEDUP_DONE;
			}
			/* Prefer an empty entry, else the oldest answer. Entries
			 * in flight (BUSY, PENDING) are never evicted. */
			if (st == ENTRY_EMPTY && (!victim || oldest != 0)) {
				victim = &bucket[i];
				victim_ctl = v.ctl;
				oldest = 0;
			} else if (st == ENTRY_FINAL && v.born < oldest) {
				victim = &bucket[i];
				victim_ctl = v.ctl;
				oldest = v.born;
			}
		}
		if (moved)
			continue;
		if (!victim)
			return DEDUP_BUSY;

		uint64_t seq = ctl_seq(victim_ctl) + 1;
		if (!atomic_compare_exchange_strong_explicit(
			&victim->ctl, &victim_ctl, ctl_make(seq, ENTRY_BUSY), memory_order_acquire,
			memory_order_relaxed))
			continue;

		atomic_store_explicit(&victim->actor, k->actor, memory_order_relaxed);
		atomic_store_explicit(&victim->request_id, k->request_id, memory_order_relaxed);
		atomic_store_explicit(&victim->kind_status, (uint64_t)k->kind << 8,
				      memory_order_relaxed);
		atomic_store_explicit(&victim->born, now, memory_order_relaxed);
		atomic_store_explicit(&victim->ctl, ctl_make(seq, ENTRY_PENDING),
				      memory_order_release);
		/* Publish-then-scan: pairs with the same fence in a rival
		 * claimer, so at least one of two sees the other. */
		atomic_thread_fence(memory_order_seq_cst);

		claim->entry = victim;
		claim->seq = seq;
		enum dedup_result r = rival_check(bucket, victim, k, answer);
		if (r != DEDUP_NEW)
			dedup_release(t, claim);
		return r;
	}
	return DEDUP_BUSY;
}

void dedup_prefetch(const struct dedup_table *t, const struct dedup_key *k)
{
	const struct dedup_entry *b = bucket_of(t, k);
	for (int i = 0; i < DEDUP_WAYS; i++)
		__builtin_prefetch(&b[i], 1);
}

void dedup_finish(struct dedup_table *t, const struct dedup_claim *claim,
		  const struct dedup_answer *answer)
{
	(void)t;
	struct dedup_entry *e = claim->entry;
	uint64_t kind = atomic_load_explicit(&e->kind_status, memory_order_relaxed) >> 8;
	atomic_store_explicit(&e->auction_id, answer->auction_id, memory_order_relaxed);
	atomic_store_explicit(&e->detail, answer->detail, memory_order_relaxed);
	atomic_store_explicit(&e->hlc, answer->hlc, memory_order_relaxed);
	atomic_store_explicit(&e->kind_status, kind << 8 | answer->status, memory_order_relaxed);
	atomic_store_explicit(&e->ctl, ctl_make(claim->seq, ENTRY_FINAL), memory_order_release);
}

void dedup_release(struct dedup_table *t, const struct dedup_claim *claim)
{
	(void)t;
	atomic_store_explicit(&claim->entry->ctl, ctl_make(claim->seq + 1, ENTRY_EMPTY),
			      memory_order_release);
}

uint64_t dedup_capacity(const struct dedup_table *t)
{
	return t->nbuckets * DEDUP_WAYS;
}

uint64_t dedup_count_used(const struct dedup_table *t, uint64_t first, uint64_t n)
{
	uint64_t cap = dedup_capacity(t), used = 0;
	for (uint64_t i = first; i < cap && i < first + n; i++)
		if (ctl_state(atomic_load_explicit(&t->entries[i].ctl, memory_order_relaxed)) !=
		    ENTRY_EMPTY)
			used++;
	return used;
}

void dedup_stats(const struct dedup_table *t, struct dedup_stats *s)
{
	s->capacity = dedup_capacity(t);
	s->used = dedup_count_used(t, 0, s->capacity);
}
