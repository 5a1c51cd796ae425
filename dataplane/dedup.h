/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Idempotency table: remembers the final answer to (actor, request_id) keys
 * so a retransmitted request is answered as before without being applied
 * twice (PROTOCOL.md "Idempotency"). Shared by all workers, lock-free,
 * fixed memory allocated once. Pure C11 (no DPDK) so it is unit-tested
 * with plain threads and an injected clock.
 *
 * Guarantee in time. A final answer is remembered for at least `window`
 * units of the caller's clock after dedup_finish (the node: TSC ticks,
 * window = --dedup-seconds x TSC Hz). An entry is evicted only once its
 * answer is at least that old; when a key's bucket has no empty entry and
 * none that old, dedup_claim returns DEDUP_BUSY (the node answers
 * OVERLOADED, which is not remembered, so the client retries later) and
 * the table counts it (dedup_window_full). So a retry inside the window is
 * never applied twice, whatever the load and whatever keys clients pick.
 *
 * Sizing. The table is built for `keys` new keys per window (the node:
 * --dedup-rate x --dedup-seconds) with DEDUP_HEADROOM entries per key:
 * entries = keys x 4, in 8-way buckets. At the rated load a bucket holds
 * Poisson(2) answers younger than the window, so a new key finds its
 * bucket full of young answers with probability P(Poisson(2) >= 8) ~ 1e-3
 * (1e-5 at half the rate); above the rate, the excess is answered
 * OVERLOADED. Memory: DEDUP_ENTRY_BYTES (48) per entry, 192 per key of
 * the rated load.
 *
 * Layout. A bucket is one cache line of 8 control words (the "tag line")
 * followed by 8 slots of 40 bytes (key and answer): 384 bytes. A control
 * word packs, for one slot, the state, key kind, answer status, an 8-bit
 * tag of the key's hash, a 12-bit sequence number and a 32-bit time stamp
 * (the caller's clock >> a shift chosen at create so the window is at
 * most 2048 stamp units, and at least 1024 when it is that many ticks). A lookup reads the tag
 * line, and a slot only when its tag matches; the answer's age is read from the tag line too.
 *
 * States: EMPTY -> BUSY (claimed by CAS, key being written) -> PENDING
 * (key visible, request in flight, owned by the claimer) -> FINAL (answer
 * visible) -> BUSY again when evicted (only once old enough), or
 * PENDING -> EMPTY when the claim is dropped.
 *
 * Hash. XXH3-64 (libxxhash, inlined) of the 16 bytes (actor, request_id)
 * with a per-table random secret (XXH3's 136-byte custom secret, expanded
 * with ChaCha20 from a 32-byte seed; the key's kind selects a different
 * part of it), computed once per request (dedup_hash) and passed to
 * dedup_prefetch and dedup_claim. ~20 instructions instead of SipHash-2-4's
 * ~200. XXH3 is not a cryptographic PRF, but with a secret the clients never
 * see (no hash value leaves the node) they cannot compute where a key lands,
 * only probe by timing; and even a bucket they fill cannot lose an answer
 * younger than the window: the worst they get is OVERLOADED for keys of
 * that bucket (perf/README.md, part 2, step 4).
 *
 * Exactly-once: a claimer publishes PENDING, then (after a seq_cst fence)
 * scans its bucket; if it sees another live claim of the same key it backs
 * off (DEDUP_BUSY). Of two concurrent claimers the one whose fence comes
 * later in the single total order of seq_cst fences sees the other's
 * PENDING, so at most one applies the request.
 *
 * C11 memory model (seqlock). Writers: claim = CAS of the control word to
 * BUSY, then atomic_thread_fence(release), then the slot's relaxed stores,
 * then a release store of PENDING; finish = relaxed stores of answer fields
 * (which no reader of a PENDING slot uses), then a release store of FINAL;
 * release = a release store of EMPTY (no slot stores follow). Readers:
 * acquire load of the control word, relaxed slot loads, acquire fence,
 * relaxed re-load of the control word; the view counts only when both
 * loads agree. If a slot load saw a store that follows a writer's release
 * fence, that fence synchronizes with the reader's acquire fence, so the
 * re-load sees the writer's BUSY (or later) and the view is discarded:
 * a torn entry is never taken for an answer (without the fence, C11 and
 * ARM allow it; x86 hides it). The sequence number and time stamp make a
 * control word unlikely to return to an earlier value (ABA) while a reader
 * looks: a PENDING word repeats only after 2048 claims and releases of
 * one slot within one stamp unit, a FINAL word only after the stamps wrap.
 *
 * Clock: `now` must not go backwards by more than a window between the
 * callers (the TSC of one host); an answer stamped up to one window in a
 * caller's future is treated as young. Stamps wrap after 2^32 units, at
 * least 2^21 windows (242 days at 10 s): an answer untouched that long may
 * look young again for up to two windows, which can only cost OVERLOADED.
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
	_Atomic uint64_t *ctl;
	struct dedup_slot *slot;
	uint64_t word; /* the PENDING control word published */
};

#define DEDUP_WAYS	   8
#define DEDUP_HEADROOM	   4  /* entries per key of the rated load */
#define DEDUP_ENTRY_BYTES  48 /* 8 of control word, 40 of slot */
#define DEDUP_SECRET_BYTES 32 /* randombytes_SEEDBYTES: expanded to XXH3's secret */

struct dedup_params {
	uint64_t window; /* units of `now` an answer is kept at least; >= 1 */
	uint64_t keys;	 /* new keys per window the table is built for; >= 1 */
	/* DEDUP_SECRET_BYTES of hash key, or NULL: a random one (libsodium
	 * randombytes_buf), which is what the node uses. */
	const uint8_t *secret;
};

/* Bytes of table memory for `p` (buckets x 384), 0 when p is invalid or
 * the size does not fit in size_t. */
size_t dedup_bytes(const struct dedup_params *p);

/* Returns NULL when p is invalid (errno EINVAL) or the allocation fails
 * (ENOMEM). */
struct dedup_table *dedup_create(const struct dedup_params *p);

/* The same with the caller's allocator for the buckets (the node puts them
 * in DPDK memory, on hugepages when there are). alloc returns zeroed,
 * `align`-aligned memory or NULL. */
struct dedup_allocator {
	void *(*alloc)(size_t bytes, size_t align);
	void (*release)(void *mem);
};
struct dedup_table *dedup_create_with(const struct dedup_params *p,
				      const struct dedup_allocator *a);
void dedup_destroy(struct dedup_table *t);

/* The key's keyed hash: compute it once per request and pass it to
 * dedup_prefetch and dedup_claim. */
uint64_t dedup_hash(const struct dedup_table *t, const struct dedup_key *k);

/* Starts loading the key's bucket into cache, for a claim a little later
 * (the packet path does this for a whole burst first): all 6 lines, since
 * which slot the claim writes or a replay reads only the tag line tells,
 * and waiting for it would serialize two misses. */
void dedup_prefetch(const struct dedup_table *t, uint64_t hash);

/*
 * Looks the key up and, when new, claims it. `hash` is dedup_hash(t, k);
 * `now` is the caller's clock (the unit of the window). On DEDUP_DONE
 * *answer is filled.
 */
enum dedup_result dedup_claim(struct dedup_table *t, const struct dedup_key *k, uint64_t hash,
			      uint64_t now, struct dedup_claim *claim, struct dedup_answer *answer);

/* Publishes the final answer of a claimed key, given at `now`: it is kept
 * at least until now + window. */
void dedup_finish(struct dedup_table *t, const struct dedup_claim *claim,
		  const struct dedup_answer *answer, uint64_t now);

/* Drops a claim whose answer is not to be remembered (OVERLOADED, ...). */
void dedup_release(struct dedup_table *t, const struct dedup_claim *claim);

struct dedup_stats {
	uint64_t capacity;    /* entries */
	uint64_t used;	      /* entries not EMPTY (a scan; slow path only) */
	uint64_t window_full; /* claims refused: bucket full of young answers */
};

void dedup_stats(const struct dedup_table *t, struct dedup_stats *s);

/* Claims refused because the key's bucket held no entry old enough to
 * evict (cheap: a few striped counters). */
uint64_t dedup_window_full(const struct dedup_table *t);

/* Entries of the table, and how many of entries [first, first + n) are in
 * use: a slow-path reader scans the table a slice at a time. */
uint64_t dedup_capacity(const struct dedup_table *t);
uint64_t dedup_count_used(const struct dedup_table *t, uint64_t first, uint64_t n);

/* The bucket a hash falls in (0 .. capacity / DEDUP_WAYS - 1): for tests
 * and diagnostics. */
uint64_t dedup_bucket_index(const struct dedup_table *t, uint64_t hash);

#endif
