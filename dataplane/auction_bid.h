/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a worker does to an auction: place a bid, add or remove a viewer,
 * read its state. Lock-free: the leading bid changes by compare-and-swap of
 * a pointer to an immutable record; counters use per-worker slots.
 *
 * Threads: a struct bid_ctx belongs to one reader thread (a worker or the
 * control thread); every function here runs on that thread only, between
 * two of its quiescent-state reports.
 */
#ifndef BIDPLANE_AUCTION_BID_H
#define BIDPLANE_AUCTION_BID_H

#include <stdint.h>

#include "auction.h"
#include "hlc.h"
#include "proto.h"

struct rte_rcu_qsbr_dq;

struct bid_ctx {
	struct hlc_clock *clock;
	struct rte_mempool *pool;
	struct rte_rcu_qsbr_dq *retired; /* replaced records wait here */
	struct bid *spare;		 /* a record taken but not installed */
	unsigned int worker;
	uint16_t node_id;
	/* Statistics, written only by the owner. */
	_Atomic uint64_t cas_retries;
	_Atomic uint64_t record_shortage; /* no record free: OVERLOADED */
	_Atomic uint64_t retire_failures; /* defer queue full: record leaked */
};

struct bid_outcome {
	enum bp_status status;
	hlc_t hlc;	    /* the stamp given to the bid (0: none) */
	struct bid leading; /* the leading bid after the request */
};

/*
 * Sets up the context's defer queue (named after the worker). Returns 0 or
 * a negative errno. Called on the control thread before workers start.
 */
int bid_ctx_init(struct bid_ctx *c, const struct auction_table *t, struct hlc_clock *clock,
		 unsigned int worker, uint16_t node_id);
void bid_ctx_fini(struct bid_ctx *c);

/* Applies PROTOCOL.md's auction rules to one valid bid. */
void auction_place_bid(struct auction *a, struct bid_ctx *c, uint64_t bidder, uint64_t amount,
		       struct bid_outcome *out);

/* WATCH (+1) or UNWATCH (-1) one viewer. */
void auction_add_viewer(struct auction *a, const struct bid_ctx *c, int delta);

/* Fills the auction-dependent fields of an AUCTION_STATE reply. An auction
 * whose close time is not after now_ms shows as closed even before the
 * control thread turns its phase: bids are judged by the same rule. */
void auction_fill_state(const struct auction *a, uint64_t now_ms, struct bp_auction_state *s);

/* Reclaims what the defer queue can (call when idle). */
void bid_ctx_reclaim(struct bid_ctx *c);

#endif
