/* SPDX-License-Identifier: BSD-3-Clause */
/* The send/receive loop: TSC-paced TX bursts, RX bursts checked as they come. */
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "bidgen.h"
#include "netpkt.h"
#include "proto.h"
#include "wire.h"

#define RX_BURST      64
#define SRC_PORT_BASE 20000

/* Writes one request of `kind` into out; returns its length. */
static uint16_t build_request(struct bidgen *g, enum req_kind kind, uint64_t seq, uint64_t tsc,
			      uint8_t *out)
{
	struct workload *w = &g->wl;
	struct bp_request r = {.request_id = seq,
			       .auction_id = workload_auction(w),
			       .actor_id = workload_bidder(w),
			       .client_ts = tsc};
	struct sent *s;
	switch (kind) {
	case KIND_DUP:
	case KIND_CONFLICT:
		s = tracker_pick_answered(&g->tr, seq, workload_random(w));
		if (s) {
			s->extra_sent++;
			g->tr.sent_by_kind[kind]++;
			g->tr.expected_replies++;
			r.request_id = s->seq;
			r.auction_id = s->auction;
			r.actor_id = s->bidder;
			r.amount = s->amount + (kind == KIND_CONFLICT ? 1 : 0);
			r.client_ts = s->tsc;
			return (uint16_t)bp_write_bid(out, &r);
		}
		kind = KIND_BID; /* nothing answered yet: send a plain bid */
				 /* fall through */
	case KIND_BID:
	case KIND_BAD_ZERO:
	case KIND_BAD_LENGTH:
	case KIND_BAD_VERSION:
	case KIND_BAD_MAGIC:
		s = tracker_new(&g->tr, seq, kind, tsc);
		r.amount = workload_amount(w, r.auction_id);
		s->auction = r.auction_id;
		s->amount = r.amount;
		s->bidder = r.actor_id;
		if (kind == KIND_BAD_ZERO)
			r.amount = 0;
		bp_write_bid(out, &r);
		if (kind == KIND_BAD_VERSION)
			out[2] = 2;
		if (kind == KIND_BAD_MAGIC)
			out[0] = 0xB2;
		if (kind == KIND_BAD_LENGTH) {
			put_be16(out + 4, 40);
			return 40;
		}
		return BP_LEN_BID;
	case KIND_QUERY:
		s = tracker_new(&g->tr, seq, kind, tsc);
		s->auction = r.auction_id;
		return (uint16_t)bp_write_query(out, &r);
	case KIND_WATCH:
		s = tracker_new(&g->tr, seq, kind, tsc);
		s->auction = r.auction_id;
		r.type = BP_WATCH;
		return (uint16_t)bp_write_watch(out, &r);
	case KIND_BAD_RANDOM:
	default: {
		tracker_new(&g->tr, seq, KIND_BAD_RANDOM, tsc);
		uint16_t len = (uint16_t)(8 + workload_random(w) % 56);
		for (uint16_t i = 0; i < len; i++)
			out[i] = (uint8_t)workload_random(w);
		if (out[0] == 0xB1 && out[1] == 0xD5)
			out[0] = 0x00;
		return len;
	}
	}
}

static struct rte_mbuf *make_frame(struct bidgen *g, uint64_t seq, uint64_t tsc)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	if (!m)
		return NULL;
	uint8_t payload[BP_LEN_MAX];
	uint16_t plen;
	if (g->echo) {
		struct bp_request r = {.request_id = seq,
				       .auction_id = 1,
				       .actor_id = 1,
				       .amount = 100,
				       .client_ts = tsc};
		plen = (uint16_t)bp_write_bid(payload, &r);
		g->tr.expected_replies++;
	} else {
		plen = build_request(g, workload_next_kind(&g->wl), seq, tsc, payload);
	}
	struct pkt_udp_spec s = {.src_ip = g->src_ip,
				 .dst_ip = g->dst_ip,
				 .src_port = (uint16_t)(SRC_PORT_BASE + seq % g->flows),
				 .dst_port = g->dst_port};
	memcpy(s.src_mac, g->src_mac, 6);
	memcpy(s.dst_mac, g->dst_mac, 6);
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	size_t len = pkt_build_udp(data, rte_pktmbuf_tailroom(m), &s, payload, plen);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	pcap_write(&g->pcap, data, (uint32_t)len, (tsc - g->start_tsc) * 1000000 / g->tsc_hz);
	return m;
}

static void handle_rx(struct bidgen *g, struct rte_mbuf *m, uint64_t now)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	if (g->echo) {
		g->echo_replies++;
		/* testpmd's 5tswap keeps the payload: client_ts is at +40. */
		if (m->data_len >= PKT_ETH_LEN + PKT_IPV4_LEN + PKT_UDP_LEN + BP_LEN_BID)
			hist_record(&g->tr.latency, now - get_be64(f + PKT_ETH_LEN + PKT_IPV4_LEN +
								   PKT_UDP_LEN + 40));
		return;
	}
	struct pkt_filter us = {.ip = g->src_ip};
	memcpy(us.mac, g->src_mac, 6);
	struct pkt_layout l;
	enum pkt_drop why;
	enum pkt_class c = pkt_classify(f, m->data_len, &us, 0, &l, &why);
	/* Replies go to our many source ports: any port is ours. */
	if (c == PKT_CLASS_DROP && why == PKT_DROP_DST_PORT) {
		uint16_t udp_len = get_be16(f + l.l4_off + 4);
		tracker_on_reply(&g->tr, f + l.l4_off + PKT_UDP_LEN,
				 (uint16_t)(udp_len - PKT_UDP_LEN), now);
		return;
	}
	g->rx_other++;
}

static void poll_rx(struct bidgen *g)
{
	struct rte_mbuf *pkts[RX_BURST];
	uint16_t n = rte_eth_rx_burst(g->port, 0, pkts, RX_BURST);
	uint64_t now = rte_rdtsc();
	for (uint16_t i = 0; i < n; i++)
		handle_rx(g, pkts[i], now);
	if (n) {
		rte_pktmbuf_free_bulk(pkts, n);
		g->last_rx_tsc = now;
	}
}

static bool all_answered(const struct bidgen *g)
{
	uint64_t got = g->echo ? g->echo_replies : g->tr.received;
	return got >= g->tr.expected_replies;
}

void run(struct bidgen *g, volatile sig_atomic_t *stop)
{
	const uint64_t hz = g->tsc_hz;
	uint64_t total = g->count ? g->count : UINT64_MAX;
	/* A per-run nonce in the high bits keeps request ids (idempotency keys)
	 * from repeating a previous run's against a node that remembers them. */
	uint64_t seq = (rte_rdtsc() % 0xFFFFF + 1) << 40 | 1;
	uint64_t last_sent = 0, last_recv = 0;
	g->start_tsc = rte_rdtsc();
	uint64_t last_tsc = g->start_tsc, next_progress = g->start_tsc + hz;
	uint64_t stop_tsc = g->count ? UINT64_MAX : g->start_tsc + g->duration_s * hz;
	double per_pkt = g->rate ? (double)hz / (double)g->rate : 0;
	double next_send = (double)g->start_tsc;

	while (!*stop && g->sent < total) {
		uint64_t now = rte_rdtsc();
		if (now >= stop_tsc)
			break;
		unsigned int want = g->burst;
		if (per_pkt > 0) {
			double due = ((double)now - next_send) / per_pkt + 1;
			want = due < 1 ? 0 : due > g->burst ? g->burst : (unsigned int)due;
		}
		if (want > total - g->sent)
			want = (unsigned int)(total - g->sent);
		if (g->window) { /* closed loop: at most `window` replies pending */
			uint64_t pending = g->tr.expected_replies - g->tr.received;
			if (g->echo)
				pending = g->tr.expected_replies - g->echo_replies;
			want = pending >= g->window	    ? 0
			       : want > g->window - pending ? (unsigned int)(g->window - pending)
							    : want;
		}
		if (want) {
			struct rte_mbuf *pkts[MAX_BURST];
			/* Replies each frame expects, to take back if it is not sent. */
			uint64_t expects[MAX_BURST];
			unsigned int built = 0;
			for (; built < want; built++) {
				uint64_t before = g->tr.expected_replies;
				pkts[built] = make_frame(g, seq + built, now);
				if (!pkts[built])
					break;
				expects[built] = g->tr.expected_replies - before;
			}
			/* A full TX ring means the peer is behind: keep draining
			 * replies and retry, so every request built is sent. */
			unsigned int tx = 0;
			for (int tries = 0; tx < built && tries < 100000 && !*stop; tries++) {
				tx +=
				    rte_eth_tx_burst(g->port, 0, pkts + tx, (uint16_t)(built - tx));
				if (tx < built)
					poll_rx(g);
			}
			/* A frame never sent expects no reply: counted as tx failed,
			 * neither as sent nor (later) as lost. */
			if (tx < built) {
				rte_pktmbuf_free_bulk(pkts + tx, built - tx);
				tracker_unsend(&g->tr, expects + tx, built - tx);
				g->tx_failed += built - tx;
			}
			g->sent += tx;
			seq += built;
			next_send += per_pkt * built;
			if (per_pkt > 0 && (double)now - next_send > hz / 10.0)
				next_send = (double)now; /* fell behind: don't burst to catch up */
		}
		poll_rx(g);
		if (now >= next_progress) {
			if (!g->quiet)
				report_progress(g, now, &last_sent, &last_recv, &last_tsc);
			next_progress += hz;
		}
	}
	g->send_end_tsc = rte_rdtsc();
	uint64_t deadline = g->send_end_tsc + g->timeout_ms * hz / 1000;
	while (!*stop && rte_rdtsc() < deadline && !all_answered(g))
		poll_rx(g);
	g->end_tsc = rte_rdtsc();
}

int resolve_mac(struct bidgen *g, volatile sig_atomic_t *stop)
{
	for (int attempt = 0; attempt < 30 && !*stop; attempt++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
		if (!m)
			return -1;
		uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
		memset(f, 0xff, 6);
		memcpy(f + 6, g->src_mac, 6);
		put_be16(f + 12, PKT_ETHERTYPE_ARP);
		uint8_t *a = f + PKT_ETH_LEN;
		put_be16(a, 1);
		put_be16(a + 2, PKT_ETHERTYPE_IPV4);
		a[4] = 6;
		a[5] = 4;
		put_be16(a + 6, 1);
		memcpy(a + 8, g->src_mac, 6);
		memcpy(a + 14, &g->src_ip, 4);
		memset(a + 18, 0, 6);
		memcpy(a + 24, &g->dst_ip, 4);
		m->data_len = m->pkt_len = PKT_ETH_LEN + PKT_ARP_LEN;
		if (rte_eth_tx_burst(g->port, 0, &m, 1) != 1)
			rte_pktmbuf_free(m);
		uint64_t until = rte_rdtsc() + g->tsc_hz / 5;
		while (rte_rdtsc() < until) {
			struct rte_mbuf *pkts[RX_BURST];
			uint16_t n = rte_eth_rx_burst(g->port, 0, pkts, RX_BURST);
			int found = 0;
			for (uint16_t i = 0; i < n; i++) {
				const uint8_t *r = rte_pktmbuf_mtod(pkts[i], const uint8_t *);
				if (pkts[i]->data_len >= PKT_ETH_LEN + PKT_ARP_LEN &&
				    get_be16(r + 12) == PKT_ETHERTYPE_ARP &&
				    get_be16(r + 14 + 6) == 2 &&
				    memcmp(r + 14 + 14, &g->dst_ip, 4) == 0) {
					memcpy(g->dst_mac, r + 14 + 8, 6);
					found = 1;
				}
			}
			if (n)
				rte_pktmbuf_free_bulk(pkts, n);
			if (found) {
				fprintf(stderr,
					"node %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n",
					((uint8_t *)&g->dst_ip)[0], ((uint8_t *)&g->dst_ip)[1],
					((uint8_t *)&g->dst_ip)[2], ((uint8_t *)&g->dst_ip)[3],
					g->dst_mac[0], g->dst_mac[1], g->dst_mac[2], g->dst_mac[3],
					g->dst_mac[4], g->dst_mac[5]);
				return 0;
			}
		}
	}
	return -1;
}
