/* SPDX-License-Identifier: BSD-3-Clause */
#include "worker.h"
#include "packet_path.h"
#include "park.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "stat.h"

/* Replies wait at most this long in a TX buffer before a flush. */
#define TX_DRAIN_US 50

/* TX queue full: the frames are dropped and taken back out of tx_bytes. */
static void count_tx_drops(struct rte_mbuf **pkts, uint16_t unsent, void *userdata)
{
	struct worker *w = userdata;
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < unsent; i++)
		bytes += pkts[i]->pkt_len;
	stat_add(&w->stats->tx_dropped, unsent);
	stat_add(&w->stats->tx_bytes, -bytes);
	rte_pktmbuf_free_bulk(pkts, unsent);
}

/* Buffers one frame; tx_packets counts what the port accepted. */
static void transmit(struct worker *w, unsigned int p, struct rte_mbuf *m)
{
	stat_add(&w->stats->tx_bytes, m->pkt_len);
	stat_add(&w->stats->tx_packets,
		 rte_eth_tx_buffer(w->node->port_ids[p], w->queue, w->txb[p], m));
}

struct worker *worker_create(struct node *n, unsigned int index, unsigned int lcore)
{
	char name[RTE_RING_NAMESIZE];
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct worker *w = rte_zmalloc_socket("worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	w->node = n;
	w->index = index;
	w->lcore = lcore;
	w->queue = (uint16_t)index;
	w->stats = &w->own_stats;
	admission_init(&w->admission, n->cfg.overload_backlog, WORKER_BURST);

	int rc = hlc_clock_init(&w->clock, &n->hlc, index);
	if (rc == 0)
		rc = bid_ctx_init(&w->bids, &n->auctions, &w->clock, index, n->cfg.node_id,
				  worker_retire_capacity(&n->cfg));
	if (rc != 0)
		goto fail_rc;

	snprintf(name, sizeof(name), "bp_exc_%u", index);
	w->to_control =
	    rte_ring_create(name, EXCEPTION_RING_SIZE, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "bp_ctx_%u", index);
	w->from_control =
	    rte_ring_create(name, EXCEPTION_RING_SIZE, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!w->to_control || !w->from_control)
		goto fail_errno;
	if (n->cfg.npeers) {
		snprintf(name, sizeof(name), "bp_chg_%u", index);
		w->bids.changed = rte_ring_create_elem(name, sizeof(uint64_t), WORKER_CHANGED_RING,
						       socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "bp_key_%u", index);
		w->bids.keys = rte_ring_create_elem(name, sizeof(struct bid_key), WORKER_KEYS_RING,
						    socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!w->bids.changed || !w->bids.keys)
			goto fail_errno;
	}

	for (unsigned int p = 0; p < n->nports; p++) {
		w->txb[p] =
		    rte_zmalloc_socket("txb", RTE_ETH_TX_BUFFER_SIZE(WORKER_BURST), 0, socket);
		if (!w->txb[p])
			goto fail_errno;
		rte_eth_tx_buffer_init(w->txb[p], WORKER_BURST);
		rte_eth_tx_buffer_set_err_callback(w->txb[p], count_tx_drops, w);
	}
	return w;

fail_errno:
	rc = rte_errno ? -rte_errno : -ENOMEM;
fail_rc:
	worker_destroy(w);
	errno = -rc;
	return NULL;
}

void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	bid_ctx_fini(&w->bids);
	for (unsigned int p = 0; p < BP_MAX_PORTS; p++)
		rte_free(w->txb[p]);
	struct rte_mbuf *m;
	while (w->to_control && rte_ring_dequeue(w->to_control, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	while (w->from_control && rte_ring_dequeue(w->from_control, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(w->bids.changed);
	rte_ring_free(w->bids.keys);
	rte_ring_free(w->to_control);
	rte_ring_free(w->from_control);
	rte_free(w);
}

/* Frames the control thread answered (ARP, ICMP) leave on our TX queue. */
static void send_control_frames(struct worker *w)
{
	struct rte_mbuf *m;
	while (rte_ring_sc_dequeue(w->from_control, (void **)&m) == 0) {
		unsigned int p = m->hash.usr < w->node->nports ? m->hash.usr : 0;
		stat_inc(&w->stats->control_tx);
		transmit(w, p, m);
	}
}

static uint16_t flush_all(struct worker *w)
{
	uint16_t sent = 0;
	for (unsigned int p = 0; p < w->node->nports; p++)
		sent += rte_eth_tx_buffer_flush(w->node->port_ids[p], w->queue, w->txb[p]);
	stat_add(&w->stats->tx_packets, sent);
	return sent;
}

static uint16_t poll_port(struct worker *w, unsigned int p)
{
	struct rte_mbuf *pkts[WORKER_BURST], *replies[WORKER_BURST];
	uint16_t nb_rx = rte_eth_rx_burst(w->node->port_ids[p], w->queue, pkts, WORKER_BURST);
	admission_note_burst(&w->admission, p, nb_rx);
	if (nb_rx == 0)
		return 0;
	uint16_t nrep = worker_process_burst(w, p, pkts, nb_rx, replies);
	/* The RX burst is the batch: its replies leave at once, not after a
	 * drain timer (that would add tens of microseconds at moderate load). */
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < nrep; i++)
		bytes += replies[i]->pkt_len;
	uint16_t sent = nrep ? rte_eth_tx_burst(w->node->port_ids[p], w->queue, replies, nrep) : 0;
	stat_add(&w->stats->tx_packets, sent);
	stat_add(&w->stats->tx_bytes, bytes);
	if (sent < nrep)
		count_tx_drops(replies + sent, (uint16_t)(nrep - sent), w);
	return nb_rx;
}

/* Idle backoff: spin with pause for a while, then sleep in short steps,
 * off-line for RCU so a sleeping worker never delays a grace period. */
static void idle(struct worker *w, uint32_t *empty_polls)
{
	const struct bp_config *cfg = &w->node->cfg;
	(*empty_polls)++;
	if (!cfg->idle_backoff)
		return;
	if (*empty_polls < cfg->idle_spin_polls) {
		rte_pause();
		return;
	}
	struct rte_rcu_qsbr *qs = w->node->auctions.qsbr;
	rte_rcu_qsbr_thread_offline(qs, w->index);
	rte_delay_us_sleep(cfg->idle_sleep_us);
	rte_rcu_qsbr_thread_online(qs, w->index);
}

int worker_main(void *arg)
{
	struct worker *w = arg;
	struct node *n = w->node;
	struct rte_rcu_qsbr *qs = n->auctions.qsbr;
	const uint64_t drain_tsc = (rte_get_tsc_hz() + 1000000 - 1) / 1000000 * TX_DRAIN_US;
	uint64_t last_flush = rte_rdtsc();
	uint32_t empty_polls = 0;

	rte_rcu_qsbr_thread_register(qs, w->index);
	rte_rcu_qsbr_thread_online(qs, w->index);

	while (!atomic_load_explicit(&n->force_quit, memory_order_relaxed)) {
		uint32_t got = 0;
		/* Recovery ends once; afterwards the copy spares the load. */
		if (unlikely(!w->state_ready))
			w->state_ready = node_state_ready(n);
		send_control_frames(w);
		for (unsigned int p = 0; p < n->nports; p++)
			got += poll_port(w, p);
		/* sync: replies waiting for the log keep the worker polling. */
		if (w->state_ready && w->wal.sync && park_release(w))
			got++;

		uint64_t now = rte_rdtsc();
		if (now - last_flush > drain_tsc) {
			flush_all(w);
			last_flush = now;
		}
		rte_rcu_qsbr_quiescent(qs, w->index);
		bid_ctx_reclaim(&w->bids);
		if (got) {
			empty_polls = 0;
			stat_inc(&w->stats->busy_polls);
		} else {
			stat_inc(&w->stats->idle_polls);
			flush_all(w); /* nothing more to batch with */
			idle(w, &empty_polls);
		}
	}
	park_drop(w);
	flush_all(w);
	rte_rcu_qsbr_thread_offline(qs, w->index);
	rte_rcu_qsbr_thread_unregister(qs, w->index);
	return 0;
}
