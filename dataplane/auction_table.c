/* SPDX-License-Identifier: BSD-3-Clause */
#include "auction.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "proto.h"

#define BID_POOL_CACHE 256

/* Called by the hash's defer queue after a grace period. The auction's
 * memory was allocated by the control thread, and freeing runs there too
 * (the hash reclaims on the writer's calls). */
static void auction_free(void *table, void *key_data)
{
	struct auction_table *t = table;
	struct auction *a = key_data;
	struct bid *last = atomic_load_explicit(&a->leading, memory_order_relaxed);
	if (last)
		rte_mempool_put(t->bid_pool, last);
	rte_mempool_put(t->auction_pool, a);
}

/* An auction with its cluster counter slots. */
static size_t auction_size(const struct auction_table *t)
{
	return sizeof(struct auction) +
	       AUCTION_COUNTERS * (size_t)t->remote_slots * sizeof(uint64_t);
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

	size_t qs_size = rte_rcu_qsbr_get_memsize(nreaders);
	t->qsbr = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(qs_size, RTE_CACHE_LINE_SIZE));
	if (!t->qsbr || rte_rcu_qsbr_init(t->qsbr, nreaders) != 0)
		goto fail;

	struct rte_hash_parameters hp = {
	    .name = name,
	    /* Cuckoo buckets do not fill to 100%: headroom makes
	     * `capacity` auctions always fit. */
	    .entries = capacity * 2,
	    .key_len = sizeof(uint64_t),
	    .hash_func = rte_hash_crc,
	    .socket_id = socket_id,
	    .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	t->index = rte_hash_create(&hp);
	if (!t->index)
		goto fail;

	/* Auctions live in one pool of DPDK memory: on hugepages the table's
	 * random accesses do not also miss the TLB. */
	snprintf(pool_name, sizeof(pool_name), "%s_auctions", name);
	t->auction_pool = rte_mempool_create(pool_name, capacity, auction_size(t), 0, 0, NULL, NULL,
					     NULL, NULL, socket_id, 0);
	if (!t->auction_pool)
		goto fail;

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

	struct rte_hash_rcu_config rc = {
	    .v = t->qsbr,
	    .mode = RTE_HASH_QSBR_MODE_DQ,
	    .key_data_ptr = t,
	    .free_key_data_func = auction_free,
	};
	if (rte_hash_rcu_qsbr_add(t->index, &rc) != 0)
		goto fail;
	return 0;
fail:;
	int err = rte_errno ? -rte_errno : -ENOMEM;
	auction_table_destroy(t);
	return err;
}

void auction_table_destroy(struct auction_table *t)
{
	if (t->index) {
		const void *key;
		void *data;
		uint32_t it = 0;
		while (rte_hash_iterate(t->index, &key, &data, &it) >= 0)
			auction_free(t, data);
		rte_hash_free(t->index);
	}
	rte_mempool_free(t->bid_pool);
	rte_mempool_free(t->auction_pool);
	free(t->qsbr);
	memset(t, 0, sizeof(*t));
}

struct auction *auction_lookup(const struct auction_table *t, uint64_t id)
{
	void *data;
	if (rte_hash_lookup_data(t->index, &id, &data) < 0)
		return NULL;
	return data;
}

void auction_lookup_bulk(const struct auction_table *t, const uint64_t **ids, unsigned int n,
			 struct auction **out)
{
	uint64_t hits = 0;
	if (n == 0)
		return;
	rte_hash_lookup_bulk_data(t->index, (const void **)ids, n, &hits, (void **)out);
	for (unsigned int i = 0; i < n; i++) {
		if (!(hits & (UINT64_C(1) << i))) {
			out[i] = NULL;
			continue;
		}
		rte_prefetch0(out[i]);		 /* rules, phase */
		rte_prefetch0(&out[i]->leading); /* the leading-bid pointer */
	}
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
	struct auction *a;
	if (rte_mempool_get(t->auction_pool, (void **)&a) != 0)
		return -ENOSPC;
	memset(a, 0, auction_size(t));
	a->id = id;
	a->reserve = reserve;
	a->increment = increment;
	a->close_at_ms = close_at_ms;
	atomic_store_explicit(&a->phase, BP_PHASE_OPEN, memory_order_relaxed);
	/* rte_hash publishes the data pointer with release semantics, so a
	 * reader that finds the auction sees it initialised. */
	int rc = rte_hash_add_key_data(t->index, &id, a);
	if (rc < 0) {
		rte_mempool_put(t->auction_pool, a);
		return rc;
	}
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
	uint64_t id = a->id;
	int rc = rte_hash_del_key(t->index, &id);
	if (rc < 0)
		return rc;
	t->closed--;
	return 0;
}

void auction_iterate(const struct auction_table *t, int (*fn)(struct auction *a, void *arg),
		     void *arg)
{
	const void *key;
	void *data;
	uint32_t it = 0;
	while (rte_hash_iterate(t->index, &key, &data, &it) >= 0)
		if (fn(data, arg))
			return;
}
