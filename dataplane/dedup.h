/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Idempotency table: remembers the final answer to (actor, request_id) keys
 * so a retransmitted request is answered as before without being applied
 * twice (PROTOCOL.md "Idempotency"). Shared by all workers, lock-free,
 * fixed memory allocated once. Pure C11 (no DPDK) so it is unit-tested
 * with plain threads.
 *
 * Layout: 8-way set-associative buckets of one-cache-line entries. An
 * entry's control word holds a sequence number and a state:
 *   EMPTY -> BUSY (claimed by CAS, key being written) -> PENDING (key
 *   visible, request in flight, owned by the claimer) -> FINAL (answer
 *   visible). Eviction goes FINAL -> BUSY with a new sequence number.
 * Readers validate what they read against the control word (seqlock
 * style), so a torn or recycled entry is never taken for an answer.
 *
 * Exactly-once: a claimer publishes PENDING, then (after a full fence)
 * scans its bucket; if it sees another live claim of the same key it backs
 * off (the request is answered OVERLOADED, which is not remembered, and the
 * client retries). Of two concurrent claimers at least one sees the other,
 * so at most one applies the request.
 *
 * Window: capacity is 8 x window entries (rounded up to a power of two of
 * buckets). A key is evicted only when its bucket is full and it is the
 * oldest answer there, i.e. after 8 newer keys hashed into its bucket.
 * Over the next `window` keys a bucket expects one newcomer, so a key
 * survives them with probability 1 - P(Poisson(1) >= 8), about 1 - 1e-5,
 * and most keys live several windows. Beyond that a repeat is treated as
 * new, as PROTOCOL.md allows. Memory: 512 bytes per key of window.
 *
 * Threads: dedup_create/destroy from one thread while no one else uses the
 * table; every other function from any number of threads concurrently.
 */
#ifndef BIDPLANE_DEDUP_H
#define BIDPLANE_DEDUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum dedup_kind {
	DEDUP_BID = 1,	/* key: (bidder_id, request_id) */
	DEDUP_VIEW = 2, /* key: (viewer_id, request_id); WATCH and UNWATCH */
};

struct dedup_key {
	uint64_t actor;
	uint64_t request_id;
	uint8_t kind; /* enum dedup_kind */
};

/* What a final answer remembers: enough to detect CONFLICT and replay. */
struct dedup_answer {
	uint64_t auction_id;
	uint64_t detail; /* BID: amount; VIEW: the request type */
	uint64_t hlc;
	uint8_t status;
};

enum dedup_result {
	DEDUP_NEW = 0, /* claimed: apply the request, then finish or release */
	DEDUP_DONE,    /* answered before: *answer holds it */
	DEDUP_BUSY,    /* in flight elsewhere, or no slot: answer OVERLOADED */
};

struct dedup_table;

/* A claim handed back by dedup_claim; pass it to finish or release. */
struct dedup_claim {
	struct dedup_entry *entry;
	uint64_t seq;
};

/* window >= 1. Returns NULL when the allocation fails. */
struct dedup_table *dedup_create(uint32_t window);

/* The same with the caller's allocator for the entries (the node puts them
 * in DPDK memory, on hugepages when there are). alloc returns zeroed,
 * `align`-aligned memory or NULL. */
struct dedup_allocator {
	void *(*alloc)(size_t bytes, size_t align);
	void (*release)(void *mem);
};
struct dedup_table *dedup_create_with(uint32_t window, const struct dedup_allocator *a);
void dedup_destroy(struct dedup_table *t);

/*
 * Looks the key up and, when new, claims it. `now` orders evictions (any
 * clock that grows, e.g. the TSC). On DEDUP_DONE *answer is filled.
 */
enum dedup_result dedup_claim(struct dedup_table *t, const struct dedup_key *k, uint64_t now,
			      struct dedup_claim *claim, struct dedup_answer *answer);

/* Starts loading the key's bucket into cache, for a claim a little later
 * (the packet path does this for a whole burst first). */
void dedup_prefetch(const struct dedup_table *t, const struct dedup_key *k);

/* Publishes the final answer of a claimed key. */
void dedup_finish(struct dedup_table *t, const struct dedup_claim *claim,
		  const struct dedup_answer *answer);

/* Drops a claim whose answer is not to be remembered (OVERLOADED, ...). */
void dedup_release(struct dedup_table *t, const struct dedup_claim *claim);

struct dedup_stats {
	uint64_t capacity; /* entries */
	uint64_t used;	   /* entries not EMPTY (a scan; slow path only) */
};

void dedup_stats(const struct dedup_table *t, struct dedup_stats *s);

/* Entries of the table, and how many of entries [first, first + n) are in
 * use: a slow-path reader scans the table a slice at a time. */
uint64_t dedup_capacity(const struct dedup_table *t);
uint64_t dedup_count_used(const struct dedup_table *t, uint64_t first, uint64_t n);

#endif
