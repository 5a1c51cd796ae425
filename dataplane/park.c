/* SPDX-License-Identifier: BSD-3-Clause */
#include "park.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "csum.h"
#include "stat.h"
#include "worker.h"

bool park_reply(struct worker *w, unsigned int port, struct rte_mbuf *reply)
{
	struct worker_wal *l = &w->wal;
	if (!l->park_next)
		return false;
	l->park_next = false;
	/* worker_wal_admit saw a free place before the bid was applied. A
	 * dropped reply (NULL) still takes it: nothing is sent, but its stamp
	 * holds replays until its record is durable. */
	l->park[l->park_tail % WORKER_PARK_MAX] = (struct parked_reply){
	    .m = reply, .receipt = l->next_receipt, .hlc = l->next_hlc, .port = (uint16_t)port};
	l->park_tail++;
	stat_inc(&l->parked);
	return reply != NULL;
}

/* The record was lost (the writer failed): the reply says NOT_SERVING.
 * A BID_REPLY is the frame's last BP_LEN_BID_REPLY bytes; its status byte
 * (offset 24) starts a 16-bit word of the UDP checksum (the payload is
 * at an even offset from the UDP header, whose checksum is at 6). */
static void rewrite_not_serving(struct rte_mbuf *m)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *payload = frame + m->data_len - BP_LEN_BID_REPLY;
	uint8_t *udp = payload - 8;
	uint16_t old_word = (uint16_t)(payload[24] << 8 | payload[25]);
	payload[24] = BP_NOT_SERVING;
	uint16_t new_word = (uint16_t)(payload[24] << 8 | payload[25]);
	uint16_t sum = (uint16_t)(udp[6] << 8 | udp[7]);
	sum = csum_replace16(sum, old_word, new_word);
	if (sum == 0)
		sum = 0xffff; /* UDP: 0 means "no checksum" */
	udp[6] = (uint8_t)(sum >> 8);
	udp[7] = (uint8_t)sum;
}

/*
 * A group commit releases every reply parked behind it at once: up to a
 * whole park (WORKER_PARK_MAX), more than a TX queue holds (a memif ring:
 * 1024). Buffered and flushed like other replies, the ones the full queue
 * refused were dropped (tx_dropped): ACCEPTED bids whose clients never
 * heard so. So released replies go out a burst at a time, and what the
 * queue refuses stays at the head of the park, decided, for the next
 * poll. A port that takes nothing for PARK_TX_WAIT_US (a client gone)
 * drops its run as a full queue always did, so that it cannot hold the
 * replies of other ports behind it (the park is one queue).
 */
/* 100 ms: longer than a peer's scheduling hiccup on a shared host (at
 * 10 ms, test_wal_release_burst lost 46 replies once on this loaded
 * 2-core VM: the generator was descheduled, not gone), short against a
 * link that is down. */
#define PARK_TX_WAIT_US 100000

/* Once per parked reply, when its outcome is known: a lost record's reply
 * says NOT_SERVING. */
static void decide(struct worker_wal *l, struct parked_reply *p, enum wal_outcome o)
{
	p->decided = true;
	if (o != WAL_LOST)
		return;
	/* Its key stays ACCEPTED in memory: never replayed so. */
	worker_wal_note_lost(l, p->hlc);
	if (p->m) {
		rewrite_not_serving(p->m);
		stat_inc(&l->lost_replies);
	}
}

/* Collects from the head the decided replies of one port, at most a
 * burst: their mbufs into run, how many park entries they span (dropped
 * replies, NULL, included) into *span. *more: the run stopped at a reply
 * of another port or a full burst, not at an undecided one. */
static unsigned int collect_run(struct worker_wal *l, struct rte_mbuf **run, uint16_t *port,
				uint64_t *span, bool *more)
{
	unsigned int k = 0;
	uint64_t i = l->park_head;
	*port = l->park[i % WORKER_PARK_MAX].port;
	*more = false;
	for (; i != l->park_tail; i++) {
		struct parked_reply *p = &l->park[i % WORKER_PARK_MAX];
		if (!p->decided) {
			enum wal_outcome o = wal_outcome(l->producer, &p->receipt);
			if (o == WAL_PENDING)
				break;
			decide(l, p, o);
		}
		if (p->m && (p->port != *port || k == WORKER_BURST)) {
			*more = true;
			break;
		}
		if (p->m)
			run[k++] = p->m;
	}
	*span = i - l->park_head;
	return k;
}

/* Moves the head past the first `sent` mbufs of a run (and the NULL
 * entries before the next); the rest of the run stays parked. */
static void advance_past(struct worker *w, uint64_t span, unsigned int sent)
{
	struct worker_wal *l = &w->wal;
	for (uint64_t j = 0; j < span; j++) {
		struct parked_reply *p = &l->park[l->park_head % WORKER_PARK_MAX];
		if (p->m) {
			if (sent == 0)
				break;
			sent--;
			stat_add(&w->stats->tx_bytes, p->m->pkt_len);
			stat_inc(&w->stats->tx_packets);
		}
		stat_inc(&l->released);
		l->park_head++;
	}
}

/* The TX queue refused part of a run: wait for it, up to PARK_TX_WAIT_US,
 * then drop what it refused (counted as every full queue's drops). */
static void tx_refused(struct worker *w, struct rte_mbuf **rest, unsigned int n)
{
	struct worker_wal *l = &w->wal;
	uint64_t now = rte_rdtsc();
	if (!l->tx_full_since) {
		l->tx_full_since = now;
		return;
	}
	if (now - l->tx_full_since < rte_get_tsc_hz() / 1000000 * PARK_TX_WAIT_US)
		return;
	for (unsigned int j = 0; j < n; j++) {
		struct parked_reply *p = &l->park[l->park_head % WORKER_PARK_MAX];
		while (!p->m) { /* a dropped reply (NULL) before it */
			stat_inc(&l->released);
			l->park_head++;
			p = &l->park[l->park_head % WORKER_PARK_MAX];
		}
		stat_inc(&l->released);
		l->park_head++;
	}
	rte_pktmbuf_free_bulk(rest, n);
	stat_add(&w->stats->tx_dropped, n);
	l->tx_full_since = 0;
}

unsigned int park_release(struct worker *w)
{
	struct worker_wal *l = &w->wal;
	uint64_t was = l->park_head;
	bool more = l->park_head != l->park_tail;
	while (more) {
		struct rte_mbuf *run[WORKER_BURST];
		uint16_t port;
		uint64_t span;
		unsigned int k = collect_run(l, run, &port, &span, &more);
		uint16_t sent =
		    k ? rte_eth_tx_burst(w->node->port_ids[port], w->queue, run, (uint16_t)k) : 0;
		advance_past(w, span, sent);
		if (sent) /* the queue drains: wait from here on */
			l->tx_full_since = 0;
		if (sent < k) {
			tx_refused(w, run + sent, k - sent);
			break;
		}
	}
	if (l->park_head != was)
		atomic_store_explicit(&l->pending_hlc,
				      l->park_head == l->park_tail
					  ? UINT64_MAX
					  : l->park[l->park_head % WORKER_PARK_MAX].hlc,
				      memory_order_release);
	return (unsigned int)(l->park_tail - l->park_head);
}

void park_drop(struct worker *w)
{
	struct worker_wal *l = &w->wal;
	for (; l->park_head != l->park_tail; l->park_head++)
		rte_pktmbuf_free(l->park[l->park_head % WORKER_PARK_MAX].m); /* NULL: a no-op */
	atomic_store_explicit(&l->pending_hlc, UINT64_MAX, memory_order_release);
}

bool park_replay_lost(const struct node *n, const struct worker_wal *own, uint64_t hlc)
{
	if (!own->producer)
		return false;
	if (wal_producer_failed(own->producer))
		return true;
	for (unsigned int i = 0; i < n->nworkers; i++) {
		const struct worker_wal *l = &n->workers[i]->wal;
		uint64_t lo = atomic_load_explicit(&l->lost_lo, memory_order_acquire);
		if (hlc >= lo && hlc <= atomic_load_explicit(&l->lost_hi, memory_order_acquire))
			return true;
	}
	return false;
}

bool park_replay_durable(const struct node *n, uint64_t hlc)
{
	if (n->cfg.durability != BP_DURABILITY_SYNC)
		return true;
	for (unsigned int i = 0; i < n->nworkers; i++)
		if (hlc >=
		    atomic_load_explicit(&n->workers[i]->wal.pending_hlc, memory_order_acquire))
			return false;
	return true;
}
