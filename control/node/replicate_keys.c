/* SPDX-License-Identifier: BSD-3-Clause */
/* The cluster's idempotency keys: which copy of a retried bid is the
 * duplicate (replicate_keys.h). */
#include "replicate_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64's finalizer: every input bit moves every output bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static uint32_t home_of(const struct repl_keys *t, uint64_t bidder, uint64_t request_id)
{
	return (uint32_t)(mix(mix(bidder ^ t->seed) ^ request_id) & t->index_mask);
}

int repl_keys_init(struct repl_keys *t, uint16_t self, uint64_t capacity, uint64_t window_ms,
		   uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	if (self == 0 || capacity == 0 || capacity > REPL_KEYS_CAPACITY_MAX || window_ms == 0)
		return -EINVAL;
	/* At most half full: short probe chains. */
	uint64_t slots = 2;
	while (slots < 2 * capacity)
		slots <<= 1;
	t->entry = malloc(capacity * sizeof(*t->entry));
	t->index = calloc(slots, sizeof(*t->index));
	if (!t->entry || !t->index) {
		repl_keys_fini(t);
		return -ENOMEM;
	}
	t->self = self;
	t->capacity = (uint32_t)capacity;
	t->index_mask = (uint32_t)(slots - 1);
	t->window_ms = window_ms;
	t->seed = seed;
	return 0;
}

void repl_keys_fini(struct repl_keys *t)
{
	free(t->entry);
	free(t->index);
	memset(t, 0, sizeof(*t));
}

/* The index slot holding the key, or the empty slot where it would go. */
static uint32_t probe(const struct repl_keys *t, uint64_t bidder, uint64_t request_id)
{
	uint32_t i = home_of(t, bidder, request_id);
	for (;;) {
		uint32_t v = t->index[i];
		if (v == 0)
			return i;
		const struct repl_key_entry *e = &t->entry[v - 1];
		if (e->bidder == bidder && e->request_id == request_id)
			return i;
		i = (i + 1) & t->index_mask;
	}
}

/* Linear probing's deletion without tombstones: later members of the
 * chain move back into the hole when their home allows it. */
static void index_remove(struct repl_keys *t, uint32_t hole)
{
	uint32_t i = hole;
	t->index[hole] = 0;
	for (;;) {
		i = (i + 1) & t->index_mask;
		uint32_t v = t->index[i];
		if (v == 0)
			return;
		const struct repl_key_entry *e = &t->entry[v - 1];
		uint32_t home = home_of(t, e->bidder, e->request_id);
		/* It may move to the hole unless its home lies cyclically in
		 * (hole, i]. */
		bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
		if (stays)
			continue;
		t->index[hole] = v;
		t->index[i] = 0;
		hole = i;
	}
}

static void evict_oldest(struct repl_keys *t)
{
	const struct repl_key_entry *e = &t->entry[t->head];
	index_remove(t, probe(t, e->bidder, e->request_id));
	t->head = t->head + 1 == t->capacity ? 0 : t->head + 1;
	t->count--;
}

static void evict_aged(struct repl_keys *t, uint64_t now_ms)
{
	while (t->count > 0 && now_ms - t->entry[t->head].noted_ms >= t->window_ms) {
		evict_oldest(t);
		t->stats.evicted_age++;
	}
}

static bool copy_before(uint64_t hlc_a, uint16_t node_a, uint64_t hlc_b, uint16_t node_b)
{
	return hlc_a < hlc_b || (hlc_a == hlc_b && node_a < node_b);
}

/* Records the copy in its entry. */
static void add_copy(struct repl_keys *t, struct repl_key_entry *e, const struct peer_key *k)
{
	if (k->node == t->self) {
		/* A second own copy is a new request after this node's dedup
		 * window: its own bid, not a duplicate. The first one stays. */
		if (e->own_hlc == 0)
			e->own_hlc = k->hlc;
	} else if (e->first_hlc == 0 || copy_before(k->hlc, k->node, e->first_hlc, e->first_node)) {
		e->first_hlc = k->hlc;
		e->first_node = k->node;
	}
}

static struct repl_key_entry *insert(struct repl_keys *t, uint32_t slot, const struct peer_key *k,
				     uint64_t now_ms)
{
	if (t->count == t->capacity) {
		evict_oldest(t);
		t->stats.evicted_full++;
		/* The eviction may have moved chains: find the slot again. */
		slot = probe(t, k->bidder, k->request_id);
	}
	uint32_t pos = t->head + t->count;
	if (pos >= t->capacity)
		pos -= t->capacity;
	struct repl_key_entry *e = &t->entry[pos];
	*e = (struct repl_key_entry){.bidder = k->bidder,
				     .request_id = k->request_id,
				     .auction_id = k->auction_id,
				     .amount = k->amount,
				     .noted_ms = now_ms};
	t->index[slot] = pos + 1;
	t->count++;
	return e;
}

/* The key's entry with this copy added, or NULL when another bid holds
 * the key. */
static struct repl_key_entry *entry_with(struct repl_keys *t, const struct peer_key *k,
					 uint64_t noted_ms)
{
	t->stats.noted++;
	uint32_t slot = probe(t, k->bidder, k->request_id);
	struct repl_key_entry *e;
	if (t->index[slot] == 0) {
		e = insert(t, slot, k, noted_ms);
	} else {
		e = &t->entry[t->index[slot] - 1];
		if (e->auction_id != k->auction_id || e->amount != k->amount) {
			/* Another bid under the same key: the client broke the
			 * contract, and neither copy repeats the other. */
			t->stats.conflicts++;
			return NULL;
		}
	}
	add_copy(t, e, k);
	return e;
}

void repl_keys_restore(struct repl_keys *t, const struct peer_key *k, uint64_t noted_ms,
		       bool counted)
{
	struct repl_key_entry *e = entry_with(t, k, noted_ms);
	if (e && counted)
		e->counted = true;
}

bool repl_keys_copies(const struct repl_keys *t, uint64_t bidder, uint64_t request_id,
		      uint64_t *own_hlc, uint64_t *other_hlc, uint16_t *other_node)
{
	uint32_t v = t->index[probe(t, bidder, request_id)];
	if (v == 0)
		return false;
	const struct repl_key_entry *e = &t->entry[v - 1];
	*own_hlc = e->own_hlc;
	*other_hlc = e->first_hlc;
	*other_node = e->first_node;
	return e->own_hlc != 0 && e->first_hlc != 0;
}

bool repl_keys_note(struct repl_keys *t, const struct peer_key *k, uint64_t now_ms)
{
	evict_aged(t, now_ms);
	struct repl_key_entry *e = entry_with(t, k, now_ms);
	if (!e)
		return false;
	if (e->counted || e->own_hlc == 0 || e->first_hlc == 0 ||
	    !copy_before(e->first_hlc, e->first_node, e->own_hlc, t->self))
		return false;
	e->counted = true;
	t->stats.duplicates++;
	return true;
}
