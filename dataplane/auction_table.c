/* SPDX-License-Identifier: BSD-3-Clause */
#include "auction.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "proto.h"

#define BID_POOL_CACHE 256

/*
 * The index (auction.h): open addressing, linear probing. A slot is EMPTY
 * (id 0: auction_open refuses id 0), LIVE (id, auction) or a TOMBSTONE
 * (id, NULL). Written by the control thread only; read by any reader.
 */
struct index_slot {
	_Atomic uint64_t id;
	struct auction *_Atomic auction;
};

struct auction_index {
	uint64_t mask;	     /* slots - 1, slots a power of two */
	unsigned int shift;  /* 64 - log2(slots) */
	uint64_t used;	     /* slots not EMPTY (control thread) */
	uint64_t tombstones; /* of them, TOMBSTONE (control thread) */
	alignas(64) struct index_slot slot[];
};

/* Fibonacci hashing: consecutive ids (what operators open) spread out. */
static inline uint64_t index_home(const struct auction_index *x, uint64_t id)
{
	return (id * UINT64_C(0x9E3779B97F4A7C15)) >> x->shift;
}

/* The seqlock reader of one slot: id (acquire), pointer (acquire: the
 * auction's initialisation before it), id again. Returns false when the
 * slot was reused under us: read it again. */
static inline bool slot_read(const struct index_slot *s, uint64_t *id, struct auction **a)
{
	*id = atomic_load_explicit(&s->id, memory_order_acquire);
	if (*id == 0)
		return true;
	*a = atomic_load_explicit(&s->auction, memory_order_acquire);
	return atomic_load_explicit(&s->id, memory_order_relaxed) == *id;
}

/* The auction of `id`, from slot `i` on; NULL at an empty slot, or when
 * every slot was probed (a table of tombstones). */
static inline struct auction *index_find_from(const struct auction_index *x, uint64_t id,
					      uint64_t i)
{
	for (uint64_t probed = 0; probed <= x->mask;) {
		uint64_t k;
		struct auction *a = NULL;
		if (!slot_read(&x->slot[i], &k, &a))
			continue;
		if (k == 0)
			return NULL;
		if (k == id && a)
			return a;
		i = (i + 1) & x->mask;
		probed++;
	}
	return NULL;
}

static struct auction_index *index_of(const struct auction_table *t)
{
	return atomic_load_explicit(&((struct auction_table *)t)->index, memory_order_acquire);
}

/* Slots for `capacity` live auctions: a power of two >= 2x. */
static struct auction_index *index_alloc(uint32_t capacity, int socket_id)
{
	uint64_t slots = 16;
	while (slots < 2 * (uint64_t)capacity)
		slots <<= 1;
	struct auction_index *x =
	    rte_zmalloc_socket("auction_index", sizeof(*x) + slots * sizeof(struct index_slot),
			       RTE_CACHE_LINE_SIZE, socket_id);
	if (!x)
		return NULL;
	x->mask = slots - 1;
	x->shift = (unsigned int)(64 - __builtin_ctzll(slots));
	return x;
}

/* What the defer queue holds: a removed auction or a replaced index. */
struct retired {
	void *what;
	uint64_t is_index;
};

/* A free auction's memory, or NULL (control thread). */
static struct auction *auction_alloc(struct auction_table *t)
{
	if (t->nfree == 0)
		return NULL;
	uint32_t i = t->free_auctions[--t->nfree];
	return (struct auction *)(t->auction_mem + (size_t)i * t->auction_stride);
}

static void auction_free(struct auction_table *t, struct auction *a)
{
	size_t i = (size_t)((uint8_t *)a - t->auction_mem) / t->auction_stride;
	t->free_auctions[t->nfree++] = (uint32_t)i;
}

/* Called by the defer queue after a grace period, on the control thread
 * (the table's writer calls enqueue and reclaim). */
static void retired_free(void *table, void *e, unsigned int n)
{
	struct auction_table *t = table;
	struct retired *r = e;
	for (unsigned int i = 0; i < n; i++) {
		if (r[i].is_index) {
			rte_free(r[i].what);
			continue;
		}
		struct auction *a = r[i].what;
		struct bid *last = atomic_load_explicit(&a->leading, memory_order_relaxed);
		if (last)
			rte_mempool_put(t->bid_pool, last);
		auction_free(t, a);
	}
}

/* An auction with its readers' and the cluster's counter slots. */
static size_t auction_size(const struct auction_table *t)
{
	return sizeof(struct auction) + ((size_t)t->nreaders * AUCTION_WORKER_COUNTERS +
					 AUCTION_COUNTERS * (size_t)t->remote_slots) *
					    sizeof(uint64_t);
}

uint64_t auction_worker_sum(const struct auction_table *t, const struct auction *a,
			    enum auction_counter k)
{
	uint64_t sum = 0;
	for (unsigned int w = 0; w < t->nreaders; w++) {
		uint64_t v = atomic_load_explicit(auction_worker_slot((struct auction *)a, k, w),
						  memory_order_relaxed);
		sum = v > UINT64_MAX - sum ? UINT64_MAX : sum + v;
	}
	return sum;
}

uint64_t auction_remote_sum(const struct auction_table *t, const struct auction *a,
			    enum auction_counter k)
{
	uint64_t sum = 0;
	for (unsigned int i = 0; i < t->remote_slots; i++) {
		uint64_t v = atomic_load_explicit(auction_remote_slot(t, (struct auction *)a, k, i),
						  memory_order_relaxed);
		sum = v > UINT64_MAX - sum ? UINT64_MAX : sum + v;
	}
	return sum;
}

int auction_table_create(struct auction_table *t, const char *name, uint32_t capacity,
			 unsigned int nreaders, uint64_t records_in_flight,
			 unsigned int remote_slots, int socket_id)
{
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	memset(t, 0, sizeof(*t));
	if (capacity < 8 || nreaders == 0)
		return -EINVAL;
	t->capacity = capacity;
	t->nreaders = nreaders;
	t->remote_slots = remote_slots;
	t->socket_id = socket_id;

	size_t qs_size = rte_rcu_qsbr_get_memsize(nreaders);
	t->qsbr = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(qs_size, RTE_CACHE_LINE_SIZE));
	if (!t->qsbr || rte_rcu_qsbr_init(t->qsbr, nreaders) != 0)
		goto fail;

	struct auction_index *x = index_alloc(capacity, socket_id);
	if (!x)
		goto fail;
	atomic_store_explicit(&t->index, x, memory_order_relaxed);

	/* Auctions live in one array of DPDK memory: on hugepages the table's
	 * random accesses do not also miss the TLB. Each starts on a cache
	 * line, so a bid's rules and leading pointer are one line. */
	t->auction_stride = RTE_ALIGN_CEIL(auction_size(t), RTE_CACHE_LINE_SIZE);
	t->auction_mem = rte_zmalloc_socket("auctions", (size_t)capacity * t->auction_stride,
					    RTE_CACHE_LINE_SIZE, socket_id);
	t->free_auctions = malloc((size_t)capacity * sizeof(uint32_t));
	if (!t->auction_mem || !t->free_auctions)
		goto fail;
	/* Popped from the end: the first auctions take the lowest addresses. */
	for (uint32_t i = 0; i < capacity; i++)
		t->free_auctions[i] = capacity - 1 - i;
	t->nfree = capacity;

	snprintf(pool_name, sizeof(pool_name), "%s_bids", name);
	/* One record per auction, the ones in flight, and what the per-lcore
	 * caches may hold (up to 1.5x their size each) so that a worker finds
	 * a record while others' caches are full. */
	uint64_t nrec = (uint64_t)capacity + records_in_flight +
			(uint64_t)rte_lcore_count() * BID_POOL_CACHE * 3 / 2;
	if (nrec > UINT32_MAX)
		goto fail;
	/* Records are immutable and read-shared: no padding to spread them
	 * over memory channels (192 bytes each with it, 64 without; a record
	 * still sits in one cache line). */
	t->bid_pool =
	    rte_mempool_create(pool_name, (unsigned int)nrec, sizeof(struct bid), BID_POOL_CACHE, 0,
			       NULL, NULL, NULL, NULL, socket_id, RTE_MEMPOOL_F_NO_CACHE_ALIGN);
	if (!t->bid_pool)
		goto fail;

	/* Every auction may be waiting out a grace period at once, plus
	 * replaced indexes. */
	snprintf(pool_name, sizeof(pool_name), "%s_retired", name);
	struct rte_rcu_qsbr_dq_parameters dp = {
	    .name = pool_name,
	    .flags = RTE_RCU_QSBR_DQ_MT_UNSAFE,
	    .size = capacity + 64,
	    .esize = sizeof(struct retired),
	    .trigger_reclaim_limit = 32,
	    .max_reclaim_size = 64,
	    .free_fn = retired_free,
	    .p = t,
	    .v = t->qsbr,
	};
	t->retired = rte_rcu_qsbr_dq_create(&dp);
	if (!t->retired)
		goto fail;
	return 0;
fail:;
	int err = rte_errno ? -rte_errno : -ENOMEM;
	auction_table_destroy(t);
	return err;
}

void auction_table_destroy(struct auction_table *t)
{
	struct auction_index *x = atomic_load_explicit(&t->index, memory_order_relaxed);
	if (t->retired && rte_rcu_qsbr_dq_delete(t->retired) != 0)
		RTE_LOG(WARNING, USER1, "auction table: retired memory still in a grace period\n");
	if (x) {
		for (uint64_t i = 0; i <= x->mask; i++) {
			struct auction *a =
			    atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed);
			if (a)
				retired_free(t, &(struct retired){a, 0}, 1);
		}
		rte_free(x);
	}
	rte_mempool_free(t->bid_pool);
	rte_free(t->auction_mem);
	free(t->free_auctions);
	free(t->qsbr);
	memset(t, 0, sizeof(*t));
}

struct auction *auction_lookup(const struct auction_table *t, uint64_t id)
{
	const struct auction_index *x = index_of(t);
	return index_find_from(x, id, index_home(x, id));
}

/* Two passes: the home slots' lines are all requested before the first is
 * read, so the burst's index misses overlap. */
void auction_lookup_bulk(const struct auction_table *t, const uint64_t **ids, unsigned int n,
			 struct auction **out)
{
	const struct auction_index *x = index_of(t);
	uint64_t home[AUCTION_LOOKUP_BULK_MAX];
	for (unsigned int i = 0; i < n; i++) {
		home[i] = index_home(x, *ids[i]);
		rte_prefetch0(&x->slot[home[i]]);
	}
	for (unsigned int i = 0; i < n; i++) {
		out[i] = index_find_from(x, *ids[i], home[i]);
		if (!out[i])
			continue;
		rte_prefetch0(out[i]); /* rules, phase, the leading-bid pointer */
	}
}

/* The slot for a new id (not in the index): the first tombstone or empty
 * slot of its probe chain. */
static uint64_t index_free_slot(const struct auction_index *x, uint64_t id)
{
	uint64_t i = index_home(x, id);
	while (atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed))
		i = (i + 1) & x->mask;
	return i;
}

/* Publishes (id, a) in a free slot, both with release: a reader that reads
 * the new id then reads the tombstone's NULL or the new pointer, never an
 * older one; a reader that reads the new pointer sees the auction
 * initialised and, on its re-read, the new id (so a reader that saw the old
 * id reads the slot again). */
static void index_put(struct auction_index *x, uint64_t id, struct auction *a)
{
	uint64_t i = index_free_slot(x, id);
	struct index_slot *s = &x->slot[i];
	uint64_t old = atomic_load_explicit(&s->id, memory_order_relaxed);
	if (old == 0)
		x->used++;
	else
		x->tombstones--;
	atomic_store_explicit(&s->id, id, memory_order_release);
	atomic_store_explicit(&s->auction, a, memory_order_release);
}

/* A new index with the live entries only, published with one store; the
 * old one is freed after a grace period. Skipped (the old index stays, with
 * its longer chains) while the defer queue has no room. */
static void index_rebuild(struct auction_table *t)
{
	struct auction_index *old = atomic_load_explicit(&t->index, memory_order_relaxed);
	unsigned int freed, pending, available;
	rte_rcu_qsbr_dq_reclaim(t->retired, UINT32_MAX, &freed, &pending, &available);
	if (available == 0)
		return;
	struct auction_index *x = index_alloc(t->capacity, t->socket_id);
	if (!x)
		return;
	for (uint64_t i = 0; i <= old->mask; i++) {
		struct auction *a =
		    atomic_load_explicit(&old->slot[i].auction, memory_order_relaxed);
		if (a)
			index_put(x, a->id, a);
	}
	atomic_store_explicit(&t->index, x, memory_order_release);
	if (rte_rcu_qsbr_dq_enqueue(t->retired, &(struct retired){old, 1}) != 0) {
		/* Cannot happen (room checked above); keep the old index. */
		atomic_store_explicit(&t->index, old, memory_order_release);
		rte_free(x);
		return;
	}
	t->rebuilds++;
}

/* Removes the live entry of `a`: a tombstone, then tombstones that end
 * their chain turn empty, back to front (no probe passes an empty slot, and
 * one that stops at such a slot would have stopped at the next). */
static int index_del(struct auction_index *x, const struct auction *a)
{
	uint64_t i = index_home(x, a->id);
	for (uint64_t probed = 0;; i = (i + 1) & x->mask, probed++) {
		if (probed > x->mask)
			return -ENOENT;
		if (atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed) == a)
			break;
	}
	atomic_store_explicit(&x->slot[i].auction, NULL, memory_order_release);
	x->tombstones++;
	while (atomic_load_explicit(&x->slot[(i + 1) & x->mask].id, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&x->slot[i].id, memory_order_relaxed) != 0 &&
	       !atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed)) {
		atomic_store_explicit(&x->slot[i].id, 0, memory_order_release);
		x->tombstones--;
		x->used--;
		i = (i - 1) & x->mask;
	}
	return 0;
}

int auction_open(struct auction_table *t, uint64_t id, uint64_t reserve, uint64_t increment,
		 uint64_t close_at_ms)
{
	if (id == 0 || reserve == 0 || increment == 0)
		return -EINVAL;
	/* No bid can exceed BID_AMOUNT_MAX: a higher reserve is unwinnable. */
	if (reserve > BID_AMOUNT_MAX || increment > BID_AMOUNT_MAX)
		return -ERANGE;
	if (auction_lookup(t, id))
		return -EEXIST;
	if (t->open + t->closed >= t->capacity)
		return -ENOSPC;
	struct auction *a = auction_alloc(t);
	if (!a) {
		/* Removed auctions may still wait out their grace period. */
		rte_rcu_qsbr_dq_reclaim(t->retired, UINT32_MAX, NULL, NULL, NULL);
		a = auction_alloc(t);
		if (!a)
			return -ENOSPC;
	}
	memset(a, 0, auction_size(t));
	a->id = id;
	a->reserve = reserve;
	a->increment = increment;
	a->close_at_ms = close_at_ms;
	atomic_store_explicit(&a->phase, BP_PHASE_OPEN, memory_order_relaxed);
	/* index_put publishes the pointer with release semantics, so a
	 * reader that finds the auction sees it initialised. */
	index_put(atomic_load_explicit(&t->index, memory_order_relaxed), id, a);
	t->open++;
	return 0;
}

int auction_close(struct auction_table *t, struct auction *a)
{
	if (atomic_load_explicit(&a->phase, memory_order_relaxed) != BP_PHASE_OPEN)
		return -EALREADY;
	atomic_store_explicit(&a->phase, BP_PHASE_CLOSED, memory_order_release);
	t->open--;
	t->closed++;
	return 0;
}

int auction_remove(struct auction_table *t, struct auction *a)
{
	if (atomic_load_explicit(&a->phase, memory_order_relaxed) != BP_PHASE_CLOSED)
		return -EBUSY;
	struct auction_index *x = atomic_load_explicit(&t->index, memory_order_relaxed);
	int rc = index_del(x, a);
	if (rc < 0)
		return rc;
	t->closed--;
	if (rte_rcu_qsbr_dq_enqueue(t->retired, &(struct retired){a, 0}) != 0)
		/* Full only if more auctions wait than the table holds: the
		 * memory stays out of the pool rather than be freed early. */
		RTE_LOG(ERR, USER1,
			"auction table: defer queue full, auction %" PRIu64 " not reclaimed\n",
			a->id);
	/* Tombstones in an eighth of the slots: before probes of unknown ids
	 * get long, rebuild (O(slots), after at least slots / 8 removals). */
	if (x->tombstones * 8 > x->mask + 1)
		index_rebuild(t);
	return 0;
}

void auction_iterate(const struct auction_table *t, int (*fn)(struct auction *a, void *arg),
		     void *arg)
{
	const struct auction_index *x = index_of(t);
	for (uint64_t i = 0; i <= x->mask; i++) {
		struct auction *a = atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed);
		if (a && fn(a, arg))
			return;
	}
}

int auction_table_next(const struct auction_table *t, uint32_t *next, struct auction **a)
{
	const struct auction_index *x = index_of(t);
	for (uint64_t i = *next; i <= x->mask; i++) {
		struct auction *found =
		    atomic_load_explicit(&x->slot[i].auction, memory_order_relaxed);
		if (found) {
			*a = found;
			*next = (uint32_t)(i + 1);
			return 0;
		}
	}
	return -1;
}

/* The rules, the phase and the leading-bid pointer share one line. */
_Static_assert(offsetof(struct auction, leading) + sizeof(struct bid *) <= 64,
	       "the leading pointer is on the rules' line");
