/* SPDX-License-Identifier: BSD-3-Clause */
/* The one-screen summary printed when the node stops. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>

#include "control.h"
#include "stat.h"
#include "worker.h"

static void sum_stats(const struct node *n, struct worker_stats *sum)
{
	_Atomic uint64_t *out = (_Atomic uint64_t *)sum;
	size_t count = sizeof(*sum) / sizeof(uint64_t);
	memset(sum, 0, sizeof(*sum));
	for (unsigned int w = 0; w < n->nworkers; w++) {
		const _Atomic uint64_t *in = (const _Atomic uint64_t *)n->workers[w]->stats;
		for (size_t i = 0; i < count; i++)
			stat_add(&out[i], stat_read(&in[i]));
	}
}

static void print_nonzero(FILE *out, const char *label, const char *name, uint64_t v)
{
	if (v)
		fprintf(out, "  %-10s %-22s %" PRIu64 "\n", label, name, v);
}

/* The upper bound in us of the histogram bucket that holds quantile q. */
static uint64_t fsync_quantile_us(const struct wal_writer_stats *ws, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned int b = 0; b < WAL_LATENCY_BUCKETS; b++)
		total += ws->fsync_us[b];
	for (unsigned int b = 0; b < WAL_LATENCY_BUCKETS; b++) {
		seen += ws->fsync_us[b];
		if (total && (double)seen >= q * (double)total)
			return b == 0 ? 1 : UINT64_C(1) << b;
	}
	return 0;
}

/* The write-ahead log: one line each, "  wal <name> <n>" (bptest's
 * parse_summary reads them), then the fsync latency. */
static void print_wal(const struct control *c, FILE *out)
{
	const struct node *n = c->node;
	if (!c->wal.writer)
		return;
	struct wal_writer_stats ws;
	wal_node_stats(c, &ws);
	struct wal_node_worker_totals wt;
	wal_node_worker_totals(c, &wt);
	const struct {
		const char *name;
		uint64_t v;
	} lines[] = {{"records", ws.records},
		     {"bytes", ws.bytes},
		     {"batches", ws.batches},
		     {"fsyncs", ws.fsyncs},
		     {"fsync_us", ws.fsync_ns / 1000},
		     {"segments", ws.segments},
		     {"failures", ws.failures},
		     {"resumes", ws.resumes},
		     {"lost", ws.lost},
		     {"parked", wt.parked},
		     {"lost_replies", wt.lost_replies},
		     {"ring_full", wt.ring_full},
		     {"lagging", wt.lagging},
		     {"refused_failed", wt.failed},
		     {"replay_held", wt.replay_held},
		     {"control_lost", stat_read(&c->wal.control_lost)}};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(out, "  wal        %s %" PRIu64 "\n", lines[i].name, lines[i].v);
	/* Replays of a key whose record was lost, answered NOT_SERVING. */
	fprintf(out, "  wal        replay_lost %" PRIu64 "\n", wt.replay_lost);
	fprintf(out, "  wal        stalls %" PRIu64 "\n", stat_read(&c->wal.stalls));
	fprintf(
	    out,
	    "  wal        %s: %.1f records per fsync, fsync p50 <= %" PRIu64 " us, p99 <= %" PRIu64
	    " us, p99.9 <= %" PRIu64 " us; recovery %.3f s (%" PRIu64 " records)\n",
	    bp_durability_name(n->cfg.durability),
	    ws.fsyncs ? (double)ws.records / (double)ws.fsyncs : 0.0, fsync_quantile_us(&ws, 0.5),
	    fsync_quantile_us(&ws, 0.99), fsync_quantile_us(&ws, 0.999),
	    (double)c->wal.recovery.elapsed_ns / 1e9, c->wal.recovery.records);
}

void control_print_summary(const struct control *c, FILE *out)
{
	const struct node *n = c->node;
	struct worker_stats s;
	sum_stats(n, &s);
	double secs = (double)(rte_rdtsc() - n->start_tsc) / (double)n->tsc_hz;

	fprintf(out, "\n=== bidplane node %u summary (%.1f s, %u workers, epoch %" PRIu64 ") ===\n",
		n->cfg.node_id, secs, n->nworkers, n->fencing_epoch);
	fprintf(out,
		"  rx %" PRIu64 " pkts / %" PRIu64 " bytes, tx %" PRIu64 " pkts / %" PRIu64
		" bytes, tx dropped %" PRIu64 "\n",
		stat_read(&s.rx_packets), stat_read(&s.rx_bytes), stat_read(&s.tx_packets),
		stat_read(&s.tx_bytes), stat_read(&s.tx_dropped));
	for (unsigned int t = 0; t < BP_PEER_FIRST; t++)
		print_nonzero(out, "requests", bp_type_name(t), stat_read(&s.requests[t]));
	for (unsigned int k = 0; k < REPLY_KINDS; k++)
		for (unsigned int st = 0; st < BP_STATUS_COUNT; st++)
			print_nonzero(out, k == REPLY_BID ? "bid_reply" : "state",
				      bp_status_name(st), stat_read(&s.replies[k][st]));
	print_nonzero(out, "idempotency", "replayed", stat_read(&s.replayed));
	print_nonzero(out, "idempotency", "conflicts", stat_read(&s.conflicts));
	print_nonzero(out, "admission", "shed", stat_read(&s.overload_shed));
	for (unsigned int d = 1; d < PKT_DROP_COUNT; d++)
		print_nonzero(out, "drop", pkt_drop_name(d), stat_read(&s.pkt_drops[d]));
	for (unsigned int d = 1; d < BP_DROP_COUNT; d++)
		print_nonzero(out, "drop", bp_drop_name(d), stat_read(&s.proto_drops[d]));
	print_nonzero(out, "drop", "multi_segment", stat_read(&s.multi_segment_drops));
	print_nonzero(out, "drop", "exception_ring_full", stat_read(&s.exception_drops));
	fprintf(out, "  exception  to_control %" PRIu64 ", from_control %" PRIu64 "\n",
		stat_read(&s.exceptions), stat_read(&s.control_tx));
	fprintf(out, "  control    arp %" PRIu64 ", icmp %" PRIu64 ", ignored %" PRIu64 "\n",
		stat_read(&c->stats->arp_replies), stat_read(&c->stats->icmp_replies),
		stat_read(&c->stats->exceptions_ignored));
	fprintf(out,
		"  auctions   opened %" PRIu64 ", closed %" PRIu64 ", settled %" PRIu64
		", removed %" PRIu64 "\n",
		stat_read(&c->stats->auctions_opened), stat_read(&c->stats->auctions_closed),
		stat_read(&c->stats->auctions_settled), stat_read(&c->stats->auctions_removed));
	uint64_t busy = stat_read(&s.busy_polls), idle = stat_read(&s.idle_polls);
	fprintf(out, "  polls      busy %" PRIu64 ", idle %" PRIu64 " (%.1f%% busy)\n", busy, idle,
		busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0.0);
	for (unsigned int w = 0; w < n->nworkers; w++) {
		const struct worker *wk = n->workers[w];
		fprintf(out,
			"  worker %u   lcore %u rx %" PRIu64 " tx %" PRIu64 " cas_retries %" PRIu64
			"\n",
			w, wk->lcore, stat_read(&wk->stats->rx_packets),
			stat_read(&wk->stats->tx_packets), stat_read(&wk->bids.cas_retries));
	}
	fprintf(out, "  mbufs free %u of %u\n", rte_mempool_avail_count(n->pktmbuf_pool),
		n->pktmbuf_pool->size);
	print_wal(c, out);
}
