/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cluster's idempotency keys (issue 12, docs/PROTOCOL.md "Retries on
 * another node"): which node's copy of a BID accepted on two nodes is the
 * duplicate, so that bid_count counts the bid once.
 *
 * A client that times out may retry its BID (bidder_id, request_id) on
 * another node, which has not seen the key and may accept it again: two
 * copies of one bid, each counted in its node's bid_count slot. Every node
 * notes the keys it accepts (from its workers' key rings) and those its
 * peers accepted (KEYS messages) here. When one key has two copies of the
 * same bid (same auction, same amount), the copy with the larger
 * (hlc, node) is the duplicate: the earlier stamp wins, as in the leader
 * order. Only the node that owns the duplicate counts it (in its own slot
 * of the auction's dups G-Counter), and only once per key, however often
 * and in whatever order the copies arrive: exactly one node counts each
 * duplicate, so the replicated count is right on every node.
 *
 * Bounded: capacity entries, malloc'd once at init (the caller sizes it
 * from --dedup-rate x --dedup-seconds). A key is kept window_ms after it
 * was first noted; older keys are evicted first, and a full table drops
 * its oldest key (counted: a duplicate whose first copy is forgotten stays
 * counted, never a bid that was counted once). Lookups go through an open
 * addressing index keyed with a per-node random seed, so clients cannot
 * aim their keys at one probe chain.
 *
 * Plain C, no DPDK. Threads: one owner (the node's control thread); no
 * function may run concurrently with another on the same table.
 */
#ifndef BIDPLANE_REPLICATE_KEYS_H
#define BIDPLANE_REPLICATE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_proto.h"

/* Most keys a table holds, whatever the options ask (64 B each: 1 GiB). */
#define REPL_KEYS_CAPACITY_MAX (UINT32_C(1) << 24)

struct repl_key_entry {
	uint64_t bidder, request_id;
	uint64_t auction_id, amount; /* of the first copy noted */
	uint64_t own_hlc;	     /* this node's copy (0: none) */
	uint64_t first_hlc;	     /* the earliest other node's copy (0: none) */
	uint64_t noted_ms;	     /* when the key was first noted: its age */
	uint16_t first_node;
	bool counted; /* this node's copy was counted as a duplicate */
};

struct repl_keys_stats {
	uint64_t noted;	       /* copies noted */
	uint64_t duplicates;   /* this node's copies counted as duplicates */
	uint64_t conflicts;    /* a copy of a key with another auction or amount */
	uint64_t evicted_age;  /* forgotten after window_ms */
	uint64_t evicted_full; /* forgotten younger, the table being full */
};

struct repl_keys {
	uint16_t self; /* this node's id */
	uint64_t window_ms;
	uint64_t seed;
	uint32_t capacity;
	uint32_t head, count;	      /* entries: a ring, oldest at head */
	struct repl_key_entry *entry; /* capacity */
	uint32_t *index;	      /* entry position + 1, 0 empty; index_mask + 1 slots */
	uint32_t index_mask;
	struct repl_keys_stats stats;
};

/*
 * capacity: keys held at most (1..REPL_KEYS_CAPACITY_MAX); window_ms: how
 * long a key is kept; seed: a random number (index placement). 0, -EINVAL
 * or -ENOMEM.
 */
int repl_keys_init(struct repl_keys *t, uint16_t self, uint64_t capacity, uint64_t window_ms,
		   uint64_t seed);
void repl_keys_fini(struct repl_keys *t);

/*
 * Notes one accepted copy of a key: k->node is the node that accepted it
 * (self for this node's own). Returns true when this makes this node's own
 * copy a duplicate not counted before: the caller then adds 1 to its dups
 * slot of auction k->auction_id. now_ms never goes back.
 */
bool repl_keys_note(struct repl_keys *t, const struct peer_key *k, uint64_t now_ms);

/*
 * Recovery (docs/WAL.md "Duplicates across nodes"): one copy the log
 * remembers, noted as repl_keys_note notes it but never counted, at
 * noted_ms (when it was accepted, on this table's clock: its age). The
 * own copies come from this node's accepted bid records, and a WAL_DUP
 * record gives both copies with `counted`: this node's copy was counted
 * as the duplicate before the restart, so it is never counted again.
 * Main thread, before the control thread uses the table.
 */
void repl_keys_restore(struct repl_keys *t, const struct peer_key *k, uint64_t noted_ms,
		       bool counted);

/* This node's copy of a key held and the earliest other node's (for the
 * WAL_DUP record of a duplicate just counted): false unless the table
 * holds both. */
bool repl_keys_copies(const struct repl_keys *t, uint64_t bidder, uint64_t request_id,
		      uint64_t *own_hlc, uint64_t *other_hlc, uint16_t *other_node);

/* Keys held now (tests, stats). */
static inline uint32_t repl_keys_count(const struct repl_keys *t)
{
	return t->count;
}

#endif
