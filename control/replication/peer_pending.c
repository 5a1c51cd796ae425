/* SPDX-License-Identifier: BSD-3-Clause */
/* One peer's pending auctions (peer_pending.h). */
#include "peer_pending.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t home_of(const struct peer_pending *s, uint64_t id)
{
	/* Fibonacci hashing: the high bits of id x 2^64/phi. */
	return (uint32_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & s->index_mask;
}

int peer_pending_init(struct peer_pending *s, uint32_t capacity)
{
	memset(s, 0, sizeof(*s));
	if (capacity == 0 || capacity > PEER_PENDING_MAX)
		return -EINVAL;
	uint32_t slots = 2;
	while (slots < 2 * capacity)
		slots *= 2;
	s->item = calloc(capacity, sizeof(*s->item));
	s->index = calloc(slots, sizeof(*s->index));
	if (!s->item || !s->index) {
		peer_pending_fini(s);
		return -ENOMEM;
	}
	s->capacity = capacity;
	s->index_mask = slots - 1;
	return 0;
}

void peer_pending_fini(struct peer_pending *s)
{
	free(s->item);
	free(s->index);
	memset(s, 0, sizeof(*s));
}

/* The index slot holding id, or the empty slot where it would go. */
static uint32_t slot_of(const struct peer_pending *s, uint64_t id)
{
	uint32_t i = home_of(s, id);
	while (s->index[i] != 0 && s->item[s->index[i] - 1].id != id)
		i = (i + 1) & s->index_mask;
	return i;
}

bool peer_pending_contains(const struct peer_pending *s, uint64_t id)
{
	return s->capacity > 0 && s->index[slot_of(s, id)] != 0;
}

int peer_pending_add(struct peer_pending *s, uint64_t id, uint64_t now_ms)
{
	if (s->capacity == 0)
		return -ENOSPC;
	uint32_t slot = slot_of(s, id);
	if (s->index[slot] != 0) {
		s->stats.coalesced++;
		return 0;
	}
	if (s->count == s->capacity)
		return -ENOSPC;
	uint32_t pos = (s->head + s->count) % s->capacity;
	s->item[pos] = (struct peer_pending_item){.id = id, .since_ms = now_ms};
	s->index[slot] = pos + 1;
	s->count++;
	s->stats.added++;
	return 0;
}

/* Removes index slot `hole`, shifting back the entries of its probe run
 * that may move into it (Knuth's algorithm R), so no tombstones build up. */
static void delete_slot(struct peer_pending *s, uint32_t hole)
{
	uint32_t i = hole;
	s->index[hole] = 0;
	for (;;) {
		i = (i + 1) & s->index_mask;
		if (s->index[i] == 0)
			return;
		uint32_t home = home_of(s, s->item[s->index[i] - 1].id);
		/* It stays when its home lies cyclically in (hole, i]. */
		bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
		if (stays)
			continue;
		s->index[hole] = s->index[i];
		s->index[i] = 0;
		hole = i;
	}
}

bool peer_pending_peek(const struct peer_pending *s, uint64_t *id)
{
	if (s->count == 0)
		return false;
	*id = s->item[s->head].id;
	return true;
}

static void remove_oldest(struct peer_pending *s)
{
	delete_slot(s, slot_of(s, s->item[s->head].id));
	s->head = (s->head + 1) % s->capacity;
	s->count--;
}

bool peer_pending_pop(struct peer_pending *s, uint64_t *id)
{
	if (!peer_pending_peek(s, id))
		return false;
	remove_oldest(s);
	s->stats.shipped++;
	return true;
}

void peer_pending_clear(struct peer_pending *s)
{
	/* Only the occupied slots: no walk of the whole index. */
	while (s->count > 0)
		remove_oldest(s);
	s->head = 0;
}

uint64_t peer_pending_age_ms(const struct peer_pending *s, uint64_t now_ms)
{
	if (s->count == 0)
		return 0;
	uint64_t then = s->item[s->head].since_ms;
	return now_ms >= then ? now_ms - then : then - now_ms;
}

enum peer_flow peer_flow_admit(struct peer_link *l, struct peer_pending *s,
			       const struct peer_entry *e, unsigned int n, uint64_t now_ms)
{
	if (peer_pending_count(s) == 0 && peer_link_window_open(l))
		return PEER_FLOW_SEND;
	return peer_flow_hold(s, e, n, now_ms);
}

enum peer_flow peer_flow_hold(struct peer_pending *s, const struct peer_entry *e, unsigned int n,
			      uint64_t now_ms)
{
	for (unsigned int i = 0; i < n; i++)
		if (peer_pending_add(s, e[i].auction_id, now_ms) != 0) {
			s->stats.overflows++;
			peer_pending_clear(s);
			return PEER_FLOW_OVERFLOW;
		}
	return PEER_FLOW_HELD;
}

bool peer_flow_may_drain(struct peer_link *l, const struct peer_pending *s)
{
	/* Not peer_link_window_open: a wait is not counted every loop. */
	return peer_pending_count(s) > 0 && peer_link_outstanding(l) < l->window;
}
