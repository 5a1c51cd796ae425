/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helpers for the peer wire format: a seeded generator of valid
 * messages (for the property tests) and a re-encoder of decoded messages
 * (for the property tests and tests/fuzz/fuzz_peer.c).
 * Threads: the caller's; no global state.
 */
#ifndef BIDPLANE_TESTS_PEER_GEN_H
#define BIDPLANE_TESTS_PEER_GEN_H

#include <errno.h>
#include <string.h>

#include "peer_proto.h"
#include "prop.h"

#define GEN_MAX_ENTRIES PEER_MAX_ENTRIES

/* A message as its encoder takes it. */
struct gen_message {
	struct peer_header h;
	struct peer_heartbeat heartbeat;
	struct peer_ack ack;
	struct peer_sync_request sync_request;
	struct peer_sync sync;
	size_t n;
	struct peer_entry e[GEN_MAX_ENTRIES];
	size_t nkeys;
	struct peer_key keys[PEER_KEYS_MAX];
};

/* Encodes m with its type's encoder. */
static inline int gen_encode(const struct gen_message *m, const struct cluster_key *key,
			     uint8_t *buf, size_t cap)
{
	switch (m->h.type) {
	case PEER_HEARTBEAT:
		return peer_encode_heartbeat(&m->h, &m->heartbeat, key, buf, cap);
	case PEER_ACK:
		return peer_encode_ack(&m->h, &m->ack, key, buf, cap);
	case PEER_DELTA:
		return peer_encode_delta(&m->h, m->e, m->n, key, buf, cap);
	case PEER_SYNC_REQUEST:
		return peer_encode_sync_request(&m->h, &m->sync_request, key, buf, cap);
	case PEER_SYNC:
		return peer_encode_sync(&m->h, &m->sync, m->e, m->n, key, buf, cap);
	case PEER_KEYS:
		return peer_encode_keys(&m->h, m->keys, m->nkeys, key, buf, cap);
	}
	return -EINVAL;
}

/* The encoder's input back from a decoded message; entries read from the
 * decoded buffer. Returns 0, or -1 if an entry list does not read back. */
static inline int gen_from_decoded(const struct peer_message *d, struct gen_message *m)
{
	const struct peer_entries *list = NULL;
	memset(m, 0, sizeof(*m));
	m->h = d->h;
	switch (d->h.type) {
	case PEER_HEARTBEAT:
		m->heartbeat = d->u.heartbeat;
		break;
	case PEER_ACK:
		m->ack = d->u.ack;
		break;
	case PEER_DELTA:
		list = &d->u.delta;
		break;
	case PEER_SYNC_REQUEST:
		m->sync_request = d->u.sync_request;
		break;
	case PEER_SYNC:
		m->sync = d->u.sync;
		list = &d->u.sync.entries;
		break;
	case PEER_KEYS:
		m->nkeys = d->u.keys.count;
		for (unsigned int i = 0; i < d->u.keys.count && i < PEER_KEYS_MAX; i++)
			peer_keys_at(&d->u.keys, i, &m->keys[i]);
		break;
	}
	if (!list)
		return 0;
	size_t off = 0;
	while (m->n < GEN_MAX_ENTRIES && peer_entries_next(list, &off, &m->e[m->n]))
		m->n++;
	return m->n == list->count && off == list->len ? 0 : -1;
}

/* Field-wise equality: structs with padding are not compared with memcmp. */
static inline int gen_counter_equal(const struct peer_counter *a, const struct peer_counter *b)
{
	if (a->count != b->count)
		return 0;
	for (unsigned int i = 0; i < a->count; i++)
		if (a->node[i] != b->node[i] || a->value[i] != b->value[i])
			return 0;
	return 1;
}

static inline int gen_entry_equal(const struct peer_entry *a, const struct peer_entry *b)
{
	const struct peer_definition *x = &a->definition, *y = &b->definition;
	if (a->auction_id != b->auction_id || a->parts != b->parts)
		return 0;
	if ((a->parts & PEER_PART_DEFINITION) &&
	    (x->hlc != y->hlc || x->node != y->node || x->phase != y->phase ||
	     x->reserve != y->reserve || x->increment != y->increment ||
	     x->close_at_ms != y->close_at_ms))
		return 0;
	if ((a->parts & PEER_PART_LEADER) && !bid_equal(&a->leader, &b->leader))
		return 0;
	if ((a->parts & PEER_PART_BID_COUNT) && !gen_counter_equal(&a->bid_count, &b->bid_count))
		return 0;
	if ((a->parts & PEER_PART_VIEWERS) && (!gen_counter_equal(&a->viewers_p, &b->viewers_p) ||
					       !gen_counter_equal(&a->viewers_n, &b->viewers_n)))
		return 0;
	if ((a->parts & PEER_PART_DUPS) && !gen_counter_equal(&a->dups, &b->dups))
		return 0;
	return 1;
}

static inline int gen_ack_equal(const struct peer_ack *a, const struct peer_ack *b)
{
	if (a->incarnation != b->incarnation || a->count != b->count)
		return 0;
	for (unsigned int i = 0; i < a->count; i++)
		if (a->range[i].first != b->range[i].first || a->range[i].last != b->range[i].last)
			return 0;
	return 1;
}

static inline uint64_t gen_nonzero(struct prop_rng *r)
{
	uint64_t v = prop_next(r) >> prop_below(r, 64);
	return v ? v : 1;
}

static inline uint16_t gen_node(struct prop_rng *r)
{
	/* Mostly small cluster ids, sometimes any 16-bit one. */
	return (uint16_t)(prop_below(r, 4) ? 1 + prop_below(r, 16) : 1 + prop_below(r, 65535));
}

static inline uint64_t gen_amount(struct prop_rng *r)
{
	return 1 + prop_below(r, BID_AMOUNT_MAX);
}

static inline void gen_counter(struct prop_rng *r, struct peer_counter *c, unsigned int min)
{
	unsigned int n = min + (unsigned int)prop_below(r, PEER_MAX_NODES + 1 - min);
	uint32_t node = 0;
	c->count = 0;
	for (unsigned int i = 0; i < n; i++) {
		/* Increasing ids, mostly dense, sometimes far apart (up to 16 x 4000). */
		node += 1 + (uint32_t)prop_below(r, prop_below(r, 2) ? 2 : 4000);
		c->node[c->count] = (uint16_t)node;
		c->value[c->count++] = gen_nonzero(r);
	}
}

static inline void gen_entry(struct prop_rng *r, struct peer_entry *e, uint64_t id)
{
	memset(e, 0, sizeof(*e));
	e->auction_id = id;
	e->parts = (uint8_t)(1 + prop_below(r, PEER_PARTS_ALL));
	if (e->parts & PEER_PART_DEFINITION)
		e->definition = (struct peer_definition){
		    .hlc = gen_nonzero(r),
		    .node = gen_node(r),
		    .phase = (uint8_t)(1 + prop_below(r, 2)),
		    .reserve = gen_amount(r),
		    .increment = gen_amount(r),
		    .close_at_ms = prop_next(r),
		};
	if (e->parts & PEER_PART_LEADER)
		e->leader = (struct bid){.amount = gen_amount(r),
					 .hlc = gen_nonzero(r),
					 .bidder = gen_nonzero(r),
					 .node = gen_node(r)};
	if (e->parts & PEER_PART_BID_COUNT)
		gen_counter(r, &e->bid_count, 1);
	if (e->parts & PEER_PART_VIEWERS) {
		gen_counter(r, &e->viewers_p, 0);
		gen_counter(r, &e->viewers_n, e->viewers_p.count ? 0 : 1);
	}
	if (e->parts & PEER_PART_DUPS)
		gen_counter(r, &e->dups, 1);
	if (e->parts & PEER_PART_SETTLEMENT) {
		if (prop_below(r, 2))
			e->settlement.winner = (struct bid){.amount = gen_amount(r),
							    .hlc = gen_nonzero(r),
							    .bidder = gen_nonzero(r),
							    .node = gen_node(r)};
		e->settlement.fencing_token = gen_nonzero(r);
		e->settlement.settled_at_ms = gen_nonzero(r);
	}
}

/* Entries with increasing ids above `after` that fit beside `fixed` bytes of
 * body; at least `min` (0 or 1) of them. */
static inline void gen_entries(struct prop_rng *r, struct gen_message *m, uint64_t after,
			       size_t fixed, size_t min)
{
	size_t room = PEER_BODY_MAX - fixed - 2, used = 0;
	size_t want = min + prop_below(r, prop_below(r, 4) ? 4 : GEN_MAX_ENTRIES);
	uint64_t id = after;
	m->n = 0;
	while (m->n < want && m->n < GEN_MAX_ENTRIES) {
		id += 1 + prop_below(r, 1000);
		gen_entry(r, &m->e[m->n], id);
		size_t len = peer_entry_len(&m->e[m->n]);
		if (used + len > room)
			break; /* the first entry always fits (PEER_ENTRY_MAX_LEN) */
		used += len;
		m->n++;
	}
}

static inline void gen_ack(struct prop_rng *r, struct peer_ack *a)
{
	uint64_t next = 1 + prop_below(r, 1000);
	a->incarnation = gen_nonzero(r);
	a->count = (uint8_t)prop_below(r, PEER_ACK_MAX_RANGES + 1);
	for (unsigned int i = 0; i < a->count; i++) {
		a->range[i].first = next;
		a->range[i].last = next + prop_below(r, 100);
		next = a->range[i].last + 2 + prop_below(r, 100);
	}
}

/* 1..PEER_KEYS_MAX records in increasing (bidder, request_id). */
static inline void gen_keys(struct prop_rng *r, struct gen_message *m)
{
	uint64_t bidder = 1 + prop_below(r, 1000), request = 0;
	m->nkeys = 1 + prop_below(r, prop_below(r, 2) ? 4 : PEER_KEYS_MAX);
	for (size_t i = 0; i < m->nkeys; i++) {
		if (prop_below(r, 2)) {
			bidder += 1 + prop_below(r, 1000);
			request = 0;
		}
		request += 1 + prop_below(r, 1000);
		m->keys[i] = (struct peer_key){.bidder = bidder,
					       .request_id = request,
					       .auction_id = gen_nonzero(r),
					       .amount = gen_amount(r),
					       .hlc = gen_nonzero(r),
					       .node = gen_node(r)};
	}
}

static inline void gen_message(struct prop_rng *r, struct gen_message *m)
{
	static const uint8_t types[] = {PEER_HEARTBEAT,	   PEER_ACK,  PEER_DELTA,
					PEER_SYNC_REQUEST, PEER_SYNC, PEER_KEYS};
	memset(m, 0, sizeof(*m));
	m->h = (struct peer_header){.type = types[prop_below(r, sizeof(types))],
				    .sender = gen_node(r),
				    .receiver = gen_node(r),
				    .incarnation = gen_nonzero(r),
				    .seq = gen_nonzero(r),
				    .hlc = gen_nonzero(r)};
	switch (m->h.type) {
	case PEER_HEARTBEAT:
		m->heartbeat = (struct peer_heartbeat){.origin_ns = prop_next(r),
						       .receive_ns = prop_next(r),
						       .transmit_ns = gen_nonzero(r)};
		break;
	case PEER_ACK:
		gen_ack(r, &m->ack);
		break;
	case PEER_DELTA:
		gen_entries(r, m, 0, 0, 1);
		break;
	case PEER_SYNC_REQUEST:
		m->sync_request = (struct peer_sync_request){.sync_id = gen_nonzero(r),
							     .after = prop_next(r) >> 8};
		break;
	case PEER_SYNC:
		m->sync.sync_id = gen_nonzero(r);
		m->sync.after = prop_below(r, 2) ? 0 : prop_next(r) >> 16;
		m->sync.next_after =
		    prop_below(r, 2) ? 0 : m->sync.after + 1 + prop_below(r, 1000000);
		gen_entries(r, m, m->sync.after, 24, 0);
		break;
	case PEER_KEYS:
		gen_keys(r, m);
		break;
	}
}

#endif
