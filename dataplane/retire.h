/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker's queue of replaced leading-bid records, each waiting for an RCU
 * grace period before it goes back to the record pool.
 *
 * Why not rte_rcu_qsbr_dq: that queue is multi-producer, takes a QSBR token
 * (rte_rcu_qsbr_start: an atomic add on the line all writers share) and
 * calls rte_log for every record, and when it is full the enqueue fails and
 * the record is lost. This one is owned by a single worker, takes one token
 * per burst (the same shared add, once per burst) for all the records that
 * burst retired, and is never asked to hold more than it can: a worker checks
 * retire_has_room() before it replaces a record, and when there is no room
 * (a reader stalled for longer than the queue covers) the bid is answered
 * OVERLOADED instead. A stalled reader therefore slows acceptance down for
 * the length of the stall; it never leaks a record, and service recovers as
 * soon as the reader reports quiescence again.
 *
 * Sizing: a worker retires at most one record per accepted bid, so a queue
 * of `capacity` records covers a stall of capacity / accept-rate seconds
 * (retire_capacity_for()).
 *
 * Threads: every function on the owning worker's thread only (create and
 * destroy also before launch / after join on the main thread).
 */
#ifndef BIDPLANE_RETIRE_H
#define BIDPLANE_RETIRE_H

#include <stdbool.h>
#include <stdint.h>

struct bid;
struct rte_mempool;
struct rte_rcu_qsbr;

/* The accept rate one worker is built for; sizes queues from a stall. */
#define RETIRE_ACCEPTS_PER_MS_PER_WORKER 6000u

struct retire_batch {
	uint64_t end; /* records [previous end, end) wait for token */
	uint64_t token;
};

struct retire_queue {
	struct bid **recs;
	struct retire_batch *batches;
	uint64_t mask;	 /* capacity - 1; capacity is a power of two */
	uint64_t head;	 /* next record slot */
	uint64_t sealed; /* records before this are in a batch */
	uint64_t tail;	 /* oldest record still waiting */
	uint64_t bhead, btail;
	struct rte_mempool *pool;
	struct rte_rcu_qsbr *qsbr;
};

/* The queue size (a power of two) that covers a stall of stall_ms at the
 * built-for accept rate. */
uint64_t retire_capacity_for(uint32_t stall_ms);

/* capacity must be a power of two. 0 or -ENOMEM / -EINVAL. Memory from
 * DPDK (socket `socket_id`). */
int retire_queue_init(struct retire_queue *q, uint64_t capacity, struct rte_mempool *pool,
		      struct rte_rcu_qsbr *qsbr, int socket_id);
/* Frees every record still queued: call only when no reader can hold one
 * (after the workers have stopped). */
void retire_queue_fini(struct retire_queue *q);

static inline uint64_t retire_pending(const struct retire_queue *q)
{
	return q->head - q->tail;
}

static inline bool retire_has_room(const struct retire_queue *q)
{
	return retire_pending(q) <= q->mask;
}

/* Queues a replaced record; the caller checked retire_has_room(). */
static inline void retire_push(struct retire_queue *q, struct bid *rec)
{
	q->recs[q->head & q->mask] = rec;
	q->head++;
}

/* Ends the current burst: the records it retired get one QSBR token. */
void retire_seal(struct retire_queue *q);

/* Returns to the pool every record whose grace period has passed, and
 * how many those were. Never waits. */
uint64_t retire_reclaim(struct retire_queue *q);

#endif
