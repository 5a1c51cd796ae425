/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One peer's pending auctions (docs/PEER_PROTOCOL.md "Flow control"): the
 * auctions that changed while the peer's window of unacknowledged messages
 * was full, each once however often it changed meanwhile, oldest first.
 * When the window opens the node ships them as they are then (their whole
 * current entry supersedes every change it missed: the entries are CRDT
 * states), instead of the full sync a full window used to cost.
 *
 * A FIFO of (id, when added) and an open-addressing index of the ids in it
 * (linear probing, backward-shift deletion, two slots per entry so that a
 * probe run stays short), both allocated once at init: 16 + 2 x 4 = 24
 * bytes per entry of capacity. Adding and taking the oldest are O(1)
 * expected; nothing walks the set. The capacity is the caller's bound on
 * distinct ids (the node uses its auction table's size, capped at
 * PEER_PENDING_MAX): a full set is the last resort, a full sync.
 *
 * Auction ids are chosen by the operator (bidctl open, --open-range), not by
 * clients (a bid names a known auction or is refused): the index hashes
 * them with a fixed multiplier.
 *
 * Plain C, no DPDK. Threads: one owner (the node's control thread).
 */
#ifndef BIDPLANE_PEER_PENDING_H
#define BIDPLANE_PEER_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_link.h"
#include "peer_proto.h"

/* Most pending auctions per peer, whatever the table size (24 B each:
 * 6 MiB per peer). */
#define PEER_PENDING_MAX (UINT32_C(1) << 18)

struct peer_pending_item {
	uint64_t id;
	uint64_t since_ms; /* when it was added: the peer's lag */
};

struct peer_pending_stats {
	uint64_t added;	    /* ids that became pending */
	uint64_t coalesced; /* ids pending already when added again */
	uint64_t shipped;   /* ids taken out to ship (peer_pending_pop) */
	uint64_t overflows; /* the set was full: cleared for a full sync */
};

struct peer_pending {
	struct peer_pending_stats stats;
	uint32_t capacity;
	uint32_t head, count; /* the FIFO: item[(head + i) % capacity] */
	struct peer_pending_item *item;
	uint32_t *index; /* FIFO position + 1, 0 empty; index_mask + 1 slots */
	uint32_t index_mask;
};

/* capacity: 1..PEER_PENDING_MAX entries. 0, -EINVAL or -ENOMEM. */
int peer_pending_init(struct peer_pending *s, uint32_t capacity);
void peer_pending_fini(struct peer_pending *s);

/*
 * Adds id (coalesced: already pending changes nothing, its place and time
 * stay). 0; -ENOSPC when the set is full (nothing added: the caller's last
 * resort is a full sync, then peer_pending_clear).
 */
int peer_pending_add(struct peer_pending *s, uint64_t id, uint64_t now_ms);
bool peer_pending_contains(const struct peer_pending *s, uint64_t id);
/* The oldest id, left in; false when none. */
bool peer_pending_peek(const struct peer_pending *s, uint64_t *id);
/* Takes the oldest id out; false when none. */
bool peer_pending_pop(struct peer_pending *s, uint64_t *id);
void peer_pending_clear(struct peer_pending *s);

static inline uint32_t peer_pending_count(const struct peer_pending *s)
{
	return s->count;
}

/* Age of the oldest pending id, 0 when none (a clock step back counts as
 * its size, as in peer_link.h). */
uint64_t peer_pending_age_ms(const struct peer_pending *s, uint64_t now_ms);

/*
 * Flow control (docs/PEER_PROTOCOL.md): what to do with a DELTA of these n
 * entries for the peer of link l and pending set s.
 * - PEER_FLOW_SEND: nothing is pending and the window is open; the caller
 *   sends it (kept until acknowledged).
 * - PEER_FLOW_HELD: its auction ids were added to s instead (the window is
 *   full, or older ids wait, which go first: so no id is both pending and in
 *   flight for long, and each ships once however often it changed).
 * - PEER_FLOW_OVERFLOW: s was full: it is cleared, and the caller's last
 *   resort is a full sync (its pages, read later, cover every change).
 */
enum peer_flow { PEER_FLOW_SEND, PEER_FLOW_HELD, PEER_FLOW_OVERFLOW };
enum peer_flow peer_flow_admit(struct peer_link *l, struct peer_pending *s,
			       const struct peer_entry *e, unsigned int n, uint64_t now_ms);
/* What peer_flow_admit does with a full window, for a caller that holds
 * the DELTA back for a reason of its own (its outgoing ring full): the ids
 * pending (PEER_FLOW_HELD), or the set cleared when full (OVERFLOW). */
enum peer_flow peer_flow_hold(struct peer_pending *s, const struct peer_entry *e, unsigned int n,
			      uint64_t now_ms);
/* Whether pending ids may ship now: some are pending and the window is open. */
bool peer_flow_may_drain(struct peer_link *l, const struct peer_pending *s);

#endif
