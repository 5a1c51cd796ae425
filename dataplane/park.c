/* SPDX-License-Identifier: BSD-3-Clause */
#include "park.h"

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

static void send_parked(struct worker *w, const struct parked_reply *p)
{
	stat_add(&w->stats->tx_bytes, p->m->pkt_len);
	stat_add(&w->stats->tx_packets,
		 rte_eth_tx_buffer(w->node->port_ids[p->port], w->queue, w->txb[p->port], p->m));
}

unsigned int park_release(struct worker *w)
{
	struct worker_wal *l = &w->wal;
	bool moved = false;
	while (l->park_head != l->park_tail) {
		struct parked_reply *p = &l->park[l->park_head % WORKER_PARK_MAX];
		enum wal_outcome o = wal_outcome(l->producer, &p->receipt);
		if (o == WAL_PENDING)
			break;
		if (o == WAL_LOST) {
			/* Its key stays ACCEPTED in memory: never replayed so. */
			worker_wal_note_lost(l, p->hlc);
			if (p->m) {
				rewrite_not_serving(p->m);
				stat_inc(&l->lost_replies);
			}
		}
		if (p->m)
			send_parked(w, p);
		stat_inc(&l->released);
		l->park_head++;
		moved = true;
	}
	if (moved) {
		/* A commit releases its replies at once: they leave now, not at
		 * the loop's next drain (up to TX_DRAIN_US later). */
		for (unsigned int i = 0; i < w->node->nports; i++)
			stat_add(
			    &w->stats->tx_packets,
			    rte_eth_tx_buffer_flush(w->node->port_ids[i], w->queue, w->txb[i]));
		atomic_store_explicit(&l->pending_hlc,
				      l->park_head == l->park_tail
					  ? UINT64_MAX
					  : l->park[l->park_head % WORKER_PARK_MAX].hlc,
				      memory_order_release);
	}
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
