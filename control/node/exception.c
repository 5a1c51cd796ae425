/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ARP and ICMP echo, answered on the slow path: workers hand these frames
 * over an SPSC ring, the reply goes back over the worker's outgoing ring
 * and leaves on that worker's TX queue (the control thread owns no queue).
 */
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "control.h"
#include "stat.h"
#include "worker.h"

#define EXCEPTION_BURST 32

static unsigned int port_index(const struct node *n, uint16_t port)
{
	for (unsigned int i = 0; i < n->nports; i++)
		if (n->port_ids[i] == port)
			return i;
	return 0;
}

/* The reply length, or 0 when the frame asks for nothing; *handled says
 * whether it was for this node at all (a peer message is, and gets no
 * reply frame of its own). */
static size_t answer_frame(struct control *c, struct rte_mbuf *m, unsigned int p, bool *handled)
{
	const struct pkt_filter *f = &c->node->filter[p];
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	struct pkt_layout lay;
	enum pkt_drop why;

	switch (pkt_classify(frame, m->data_len, f, 0, &lay, &why)) {
	case PKT_CLASS_PEER:
		/* Not merged into a half-recovered state: anti-entropy sends
		 * what they held again once the node serves. */
		if (!node_state_ready(c->node))
			stat_inc(&c->wal.recovery_peer_drops);
		else
			replicate_receive(c, m, &lay, p);
		*handled = true;
		return 0;
	case PKT_CLASS_ARP: {
		replicate_learn_arp(c, frame, m->data_len, p);
		size_t len = pkt_arp_reply_in_place(frame, m->data_len, f);
		if (len)
			stat_inc(&c->stats->arp_replies);
		return len;
	}
	case PKT_CLASS_ICMP: {
		size_t len = pkt_icmp_echo_reply_in_place(frame, m->data_len, &lay, f->mac);
		if (len)
			stat_inc(&c->stats->icmp_replies);
		return len;
	}
	default:
		return 0;
	}
}

void exceptions_serve(struct control *c)
{
	struct node *n = c->node;
	struct rte_mbuf *pkts[EXCEPTION_BURST];
	for (unsigned int wi = 0; wi < n->nworkers; wi++) {
		struct worker *w = n->workers[wi];
		unsigned int got =
		    rte_ring_sc_dequeue_burst(w->to_control, (void **)pkts, EXCEPTION_BURST, NULL);
		for (unsigned int i = 0; i < got; i++) {
			struct rte_mbuf *m = pkts[i];
			unsigned int p = port_index(n, m->port);
			bool handled = false;
			size_t len = answer_frame(c, m, p, &handled);
			if (len == 0) {
				if (!handled)
					stat_inc(&c->stats->exceptions_ignored);
				rte_pktmbuf_free(m);
				continue;
			}
			rte_pktmbuf_data_len(m) = (uint16_t)len;
			rte_pktmbuf_pkt_len(m) = (uint32_t)len;
			m->ol_flags = 0;
			m->hash.usr = p;
			if (rte_ring_sp_enqueue(w->from_control, m) != 0)
				rte_pktmbuf_free(m);
		}
	}
}
