/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a worker does to an auction: place a bid, add or remove a viewer,
 * read its state. Lock-free: the leading bid changes by compare-and-swap of
 * a pointer to an immutable record; counters use per-worker slots.
 *
 * Threads: a struct bid_ctx belongs to one reader thread (a worker, or a
 * test's thread); the functions that take one run on that thread only,
 * between two of its quiescent-state reports. auction_view and
 * auction_fill_state take none: any thread, while an online reader.
 */
#ifndef BIDPLANE_AUCTION_BID_H
#define BIDPLANE_AUCTION_BID_H

#include <stdint.h>

#include "auction.h"
#include "hlc.h"
#include "proto.h"
#include "retire.h"

struct bid_ctx {
	struct hlc_clock *clock;
	struct rte_mempool *pool;
	struct retire_queue retired; /* replaced records wait here */
	struct bid *spare;	     /* a record taken but not installed */
	unsigned int worker;
	uint16_t node_id;
	/* With peers: ids of the auctions this thread changed, for the control
	 * thread to ship (an 8-byte-element SPSC ring; NULL on a lone node). */
	struct rte_ring *changed;
	/* With peers: the keys of the bids this thread accepted (struct
	 * bid_key elements, SPSC), for the control thread to ship to the
	 * peers (KEYS); NULL on a lone node. */
	struct rte_ring *keys;
	/* Statistics, written only by the owner. */
	_Atomic uint64_t cas_retries;
	_Atomic uint64_t record_shortage;  /* no record free: OVERLOADED */
	_Atomic uint64_t retire_full;	   /* retirement queue full: OVERLOADED */
	_Atomic uint64_t ceiling_refusals; /* stamp at the HLC ceiling: NOT_SERVING */
	_Atomic uint64_t changed_full;	   /* `changed` full: the control thread rescans */
	_Atomic uint64_t keys_full;	   /* `keys` full: a key not shipped */
};

/* An accepted bid's idempotency key, as a worker hands it to the control
 * thread (control/node/replicate_keys.h), with the receipt of its log
 * record (wal_ticket 0: no log), which the control thread waits for
 * before it compares or ships the key (docs/WAL.md "Duplicates across
 * nodes"). */
struct bid_key {
	uint64_t auction_id;
	uint64_t bidder;
	uint64_t request_id;
	uint64_t amount;
	uint64_t hlc;
	uint64_t wal_ticket, wal_gen; /* struct wal_receipt's fields */
};

struct bid_outcome {
	enum bp_status status;
	hlc_t hlc;	    /* the stamp given to the bid (0: none) */
	struct bid leading; /* the leading bid after the request */
};

/*
 * Sets up the context and its retirement queue of retire_capacity records
 * (a power of two: retire_capacity_for()). `worker` is the context's slot in
 * the auctions' per-worker counters and must be below the table's nreaders
 * (auction_view sums only those slots): -EINVAL otherwise. Returns 0 or a
 * negative errno. Called on the main thread before workers start.
 */
int bid_ctx_init(struct bid_ctx *c, const struct auction_table *t, struct hlc_clock *clock,
		 unsigned int worker, uint16_t node_id, uint64_t retire_capacity);
void bid_ctx_fini(struct bid_ctx *c);

/* Applies PROTOCOL.md's auction rules to one valid bid. A bid that would
 * replace a leader while the retirement queue is full (a reader stalled)
 * is answered OVERLOADED and counted in retire_full. */
void auction_place_bid(struct auction *a, struct bid_ctx *c, uint64_t bidder, uint64_t amount,
		       struct bid_outcome *out);

/*
 * Hands an accepted bid's key to the control thread on c->keys (the
 * caller checks that it is not NULL: nothing to do on a lone node). A
 * full ring is counted in keys_full and the key is not shipped: should
 * the client retry on another node before this bid replicates, both
 * copies stay counted in bid_count (docs/PROTOCOL.md).
 */
/* k: not const only because rte_ring's enqueue takes a plain pointer (the
 * key is copied once, into the ring). */
void bid_ctx_ship_key(struct bid_ctx *c, struct bid_key *k);

/* WATCH (+1) or UNWATCH (-1) one viewer. */
void auction_add_viewer(struct auction *a, struct bid_ctx *c, int delta);

/*
 * Notes that this thread changed the parts `bits` (AUCTION_DIRTY_*) of an
 * auction, after the change itself: the first change since the control
 * thread last shipped the auction queues its id on `changed` (this
 * thread's SPSC ring of 8-byte ids; NULL on a lone node: nothing to do).
 * The fetch-or is sequentially consistent so that the control thread,
 * which clears the bits with an exchange before it reads the auction,
 * either sees this change or gets the id queued again (replicate.c). A
 * full ring is counted in *full, and the bits stay set for a rescan.
 */
void auction_note_change(struct auction *a, uint8_t bits, struct rte_ring *changed,
			 _Atomic uint64_t *full);

/*
 * What every reader shows of an auction (AUCTION_STATE, bidctl, telemetry,
 * the stats segment): the effective phase (an auction whose close time is
 * not after now_ms shows closed even before the control thread turns its
 * phase: bids are judged by the same rule), the leading bid as one record,
 * the merged bid count and the viewers floored at 0.
 */
struct auction_view {
	uint64_t id;
	uint64_t reserve;
	uint64_t increment;
	uint64_t close_at_ms;
	uint8_t phase; /* enum bp_auction_phase */
	struct bid leading;
	uint64_t bid_count;
	uint64_t viewers;
};
void auction_view(const struct auction_table *t, const struct auction *a, uint64_t now_ms,
		  struct auction_view *v);

/* Fills the auction-dependent fields of an AUCTION_STATE reply from the
 * view above. */
void auction_fill_state(const struct auction_table *t, const struct auction *a, uint64_t now_ms,
			struct bp_auction_state *s);

/* Ends a burst: the records it replaced start their grace period. */
static inline void bid_ctx_end_burst(struct bid_ctx *c)
{
	retire_seal(&c->retired);
}

/* Returns the records whose grace period has passed to the pool. */
static inline void bid_ctx_reclaim(struct bid_ctx *c)
{
	retire_reclaim(&c->retired);
}

#endif
