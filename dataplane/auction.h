/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The auction table: every auction this node serves, found by id.
 *
 * Readers (workers, and the control thread for bidctl) look auctions up
 * without locks in an index of our own (auction_table.c): open addressing
 * with linear probing, a slot being (id, auction pointer), at most half the
 * slots live. Only the control thread inserts and removes; a removed entry
 * leaves a tombstone (its id, a NULL pointer) that a later insert reuses
 * and that turns empty once it ends its probe chain; when tombstones fill an
 * eighth of the slots the index is rebuilt into a new array published
 * with one pointer store. A reader reads a slot seqlock-style (id, then the
 * pointer, then the id again), so a slot reused under it is read again,
 * never taken for the old id. Memory of a removed auction, of a replaced
 * index array and of replaced leading-bid records is reclaimed once every
 * reader has passed a quiescent state (rte_rcu_qsbr), so a reader never
 * touches freed memory.
 *
 * The leading bid is a pointer to an immutable record (struct bid from
 * crdt/bidmax.h) replaced by compare-and-swap. A reply's leading amount
 * and bidder therefore always come from one record, and because a new
 * leader is only installed over the exact record its decision was made
 * against, the accepted bids of an auction form one total order in which
 * amounts and HLC stamps both strictly increase.
 *
 * Threads: auction_table_create/destroy, auction_open, auction_close,
 * auction_remove and auction_iterate on the control thread only.
 * auction_lookup and the functions of auction_bid.h on any thread
 * registered as an online reader (workers 0..n-1, the control thread, the
 * telemetry thread).
 */
#ifndef BIDPLANE_AUCTION_H
#define BIDPLANE_AUCTION_H

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bidmax.h"

struct rte_mempool;
struct rte_rcu_qsbr;
struct rte_rcu_qsbr_dq;
struct auction_index;

/*
 * 192 bytes on a one- or two-worker node (the rules' line, the control
 * thread's line, 3 counters of 3-4 reader slots), against 512 with
 * CRDT_MAX_WORKERS slots per counter: the counter slots are sized by the
 * table's readers (auction_table_create), not by the largest node.
 */
struct auction {
	/* Set at open; afterwards only the control thread writes these, when
	 * a peer's later definition wins (the definition is a last-writer-wins
	 * register stamped (def_hlc, def_node): docs/PEER_PROTOCOL.md). Atomic
	 * so workers read whole values. */
	uint64_t id;
	_Atomic uint64_t reserve;
	_Atomic uint64_t increment;
	_Atomic uint64_t close_at_ms;
	/* On the rules' line: a bid or query reads both, so one miss brings
	 * them; a CAS that invalidates it for other workers changes what they
	 * would have to fetch again anyway. NULL: no bid yet. */
	struct bid *_Atomic leading;

	/* enum bp_auction_phase; written by the control thread only. */
	_Atomic uint8_t phase;
	/* AUCTION_DIRTY_* bits: what changed since the control thread last
	 * shipped this auction to the peers (only with peers). On the leading
	 * bid's line: a worker that changes one has that line already. */
	_Atomic uint8_t dirty;

	/* Control thread only. On the rules' line too: written at settlement
	 * and on a definition change, rare next to the leader's CAS. */
	bool settled;
	bool final_here; /* with --etcd: closed here and past the grace period */
	uint16_t def_node;
	bool settle_in_flight; /* with --etcd: a txn for it is with the leader thread */
	uint64_t settled_at_ms;
	uint64_t def_hlc; /* the definition's LWW stamp (0: before replication) */
	struct bid winner;
	/* Fenced settlement with --etcd (control/node/settlement.h). Control
	 * thread only. */
	uint32_t final_peers;	/* bit i: peer i's final leading bid is merged */
	uint64_t fencing_token; /* the settlement's (or the local epoch without --etcd) */

	/*
	 * The counters, in one array after the fixed part:
	 * - per-reader slots (auction_worker_slot): reader w's counter k at
	 *   w * AUCTION_WORKER_COUNTERS + k, written by that reader only, for
	 *   the table's nreaders readers;
	 * - the cluster's slots (auction_remote_slot: t->remote_slots of each
	 *   counter; none on a lone node), written by the control thread only:
	 *   for slot 0 this node's own count from before a restart, learnt
	 *   back from its peers, and for slot i the count of peer i (merged by
	 *   maximum). Laid out as AUCTION_COUNTERS arrays: bids, viewers up,
	 *   viewers down, dups. The dups slot 0 is this node's whole count (the
	 *   control thread counts it there: replicate_keys.h), not only its
	 *   count before a restart.
	 */
	_Atomic uint64_t counter[];
};

/* Workers read the rules and the leading pointer as one line. */
static_assert(offsetof(struct auction, winner) == 64, "the rules' line is one cache line");
static_assert(sizeof(struct auction) == 112,
	      "the fixed part: the rules' line, the winner, the settlement's fencing");

/* What changed in an auction since it was last shipped to the peers. */
#define AUCTION_DIRTY_DEFINITION 0x01
#define AUCTION_DIRTY_LEADER	 0x02
#define AUCTION_DIRTY_BIDS	 0x04
#define AUCTION_DIRTY_VIEWERS	 0x08
#define AUCTION_DIRTY_DUPS	 0x10

/* AUCTION_DUPS: accepted bids that were a second copy of a bid another
 * node accepted first (a retry on another node); bid_count shows
 * AUCTION_BIDS less AUCTION_DUPS. */
enum auction_counter {
	AUCTION_BIDS = 0,
	AUCTION_VIEWERS_UP = 1,
	AUCTION_VIEWERS_DOWN = 2,
	AUCTION_DUPS = 3,
	AUCTION_COUNTERS = 4
};

/* The per-reader counters are the first three of enum auction_counter
 * (a node counts its dups on the control thread, in the cluster slots). */
#define AUCTION_WORKER_COUNTERS 3

struct auction_table {
	struct auction_index *_Atomic index; /* replaced whole on a rebuild */
	struct rte_rcu_qsbr *qsbr;
	struct rte_rcu_qsbr_dq *retired; /* removed auctions, replaced indexes */
	struct rte_mempool *bid_pool;	 /* leading-bid records */
	/* struct auction, capacity of them at auction_stride bytes, in DPDK
	 * (huge) pages: no per-object header, unlike a mempool's 64 bytes. */
	uint8_t *auction_mem;
	size_t auction_stride;
	uint32_t *free_auctions; /* a stack of free indexes (control thread) */
	uint32_t nfree;
	uint32_t capacity;
	unsigned int nreaders;
	unsigned int remote_slots; /* cluster counter slots per counter (0: lone node) */
	/* Control thread only. */
	uint32_t open;	   /* in the table, open */
	uint32_t closed;   /* in the table, closed */
	int socket_id;	   /* of the index and pools */
	uint64_t rebuilds; /* index rebuilds (tests, diagnostics) */
};

/*
 * capacity: most auctions at once; nreaders: reader threads that will
 * register (ids 0..nreaders-1); records_in_flight: leading-bid records that
 * may be out of the table at once beyond one per auction (the workers'
 * retirement queues and spares); remote_slots: cluster counter slots per
 * counter (the node and its peers; 0 for a lone node, whose auctions then
 * carry none). Returns 0 or a negative errno.
 */
int auction_table_create(struct auction_table *t, const char *name, uint32_t capacity,
			 unsigned int nreaders, uint64_t records_in_flight,
			 unsigned int remote_slots, int socket_id);
void auction_table_destroy(struct auction_table *t);

/* NULL when unknown. The pointer is valid until the caller's next
 * quiescent-state report. */
struct auction *auction_lookup(const struct auction_table *t, uint64_t id);

/* Looks up n (<= AUCTION_LOOKUP_BULK_MAX) ids at once, overlapping their
 * cache misses, and prefetches the auctions found; out[i] is NULL when id i
 * is unknown. Same validity as auction_lookup. */
#define AUCTION_LOOKUP_BULK_MAX 64
void auction_lookup_bulk(const struct auction_table *t, const uint64_t **ids, unsigned int n,
			 struct auction **out);

/* -EEXIST, -ENOSPC (table full), -EINVAL (bad parameters), -ERANGE (reserve
 * or increment above BID_AMOUNT_MAX), -ENOMEM. */
int auction_open(struct auction_table *t, uint64_t id, uint64_t reserve, uint64_t increment,
		 uint64_t close_at_ms);

/* Marks the auction closed: no bid is accepted after this returns and
 * the caller has waited for a grace period (see lifecycle). -ENOENT. */
int auction_close(struct auction_table *t, struct auction *a);

/* Removes a closed auction; its memory is freed after a grace period. */
int auction_remove(struct auction_table *t, struct auction *a);

/* Calls fn for every auction; stops early when fn returns non-zero. */
void auction_iterate(const struct auction_table *t, int (*fn)(struct auction *a, void *arg),
		     void *arg);

/*
 * A cursor over the index's slots: the auction at the first live slot
 * >= *next, *next set just past it; -1 past the end. Inserts never move an
 * entry (linear probing); a rebuild (auction_table.rebuilds) moves them
 * all, so a walk that must see every auction restarts when that count
 * changes. Same validity as auction_lookup. Control thread.
 */
int auction_table_next(const struct auction_table *t, uint32_t *next, struct auction **a);

/* A cluster counter slot of an auction (auction_counter, slot index). */
static inline _Atomic uint64_t *auction_remote_slot(const struct auction_table *t,
						    struct auction *a, enum auction_counter k,
						    unsigned int slot)
{
	return &a->counter[t->nreaders * AUCTION_WORKER_COUNTERS +
			   (unsigned int)k * t->remote_slots + slot];
}

/* Reader `worker`'s slot of counter k (< AUCTION_WORKER_COUNTERS); worker
 * is below the table's nreaders (bid_ctx_init checks it). */
static inline _Atomic uint64_t *auction_worker_slot(struct auction *a, enum auction_counter k,
						    unsigned int worker)
{
	return &a->counter[worker * AUCTION_WORKER_COUNTERS + (unsigned int)k];
}

/* The sum of the readers' slots of counter k (< AUCTION_WORKER_COUNTERS),
 * saturated at UINT64_MAX. Any reader. */
uint64_t auction_worker_sum(const struct auction_table *t, const struct auction *a,
			    enum auction_counter k);

/* The sum of an auction's cluster slots of one counter (0 on a lone node). */
uint64_t auction_remote_sum(const struct auction_table *t, const struct auction *a,
			    enum auction_counter k);

/* The leading bid as one consistent record (zeroes when none). */
static inline struct bid auction_leading(const struct auction *a)
{
	const struct bid *b = atomic_load_explicit(&a->leading, memory_order_acquire);
	struct bid none = {0};
	return b ? *b : none;
}

#endif
