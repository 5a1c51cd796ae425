/* SPDX-License-Identifier: BSD-3-Clause */
#include "retire.h"

#include <errno.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

uint64_t retire_capacity_for(uint32_t stall_ms)
{
	uint64_t want = (uint64_t)stall_ms * RETIRE_ACCEPTS_PER_MS_PER_WORKER;
	uint64_t cap = 64;
	while (cap < want)
		cap <<= 1;
	return cap;
}

int retire_queue_init(struct retire_queue *q, uint64_t capacity, struct rte_mempool *pool,
		      struct rte_rcu_qsbr *qsbr, int socket_id)
{
	memset(q, 0, sizeof(*q));
	if (capacity == 0 || (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	q->recs = rte_malloc_socket("retire_recs", capacity * sizeof(*q->recs), 0, socket_id);
	/* At most one batch per record in the queue. */
	q->batches =
	    rte_malloc_socket("retire_batches", capacity * sizeof(*q->batches), 0, socket_id);
	if (!q->recs || !q->batches) {
		retire_queue_fini(q);
		return -ENOMEM;
	}
	q->mask = capacity - 1;
	q->pool = pool;
	q->qsbr = qsbr;
	return 0;
}

/* Puts records [from, to) back into the pool, in at most two runs of the
 * ring. */
static void release_range(struct retire_queue *q, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t at = from & q->mask;
		uint64_t run = q->mask + 1 - at;
		if (run > to - from)
			run = to - from;
		rte_mempool_put_bulk(q->pool, (void **)&q->recs[at], (unsigned int)run);
		from += run;
	}
}

void retire_queue_fini(struct retire_queue *q)
{
	if (q->recs && q->pool)
		release_range(q, q->tail, q->head);
	rte_free(q->recs);
	rte_free(q->batches);
	memset(q, 0, sizeof(*q));
}

void retire_seal(struct retire_queue *q)
{
	if (q->sealed == q->head)
		return;
	struct retire_batch *b = &q->batches[q->bhead & q->mask];
	b->end = q->head;
	b->token = rte_rcu_qsbr_start(q->qsbr);
	q->bhead++;
	q->sealed = q->head;
}

uint64_t retire_reclaim(struct retire_queue *q)
{
	uint64_t before = q->tail;
	while (q->btail != q->bhead) {
		const struct retire_batch *b = &q->batches[q->btail & q->mask];
		if (rte_rcu_qsbr_check(q->qsbr, b->token, false) != 1)
			break; /* later batches have later tokens */
		release_range(q, q->tail, b->end);
		q->tail = b->end;
		q->btail++;
	}
	return q->tail - before;
}
