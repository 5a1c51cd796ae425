/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress lines, the final summary and the JSON file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bidgen.h"
#include "proto.h"

static double us(const struct bidgen *g, uint64_t cycles)
{
	return (double)cycles * 1e6 / (double)g->tsc_hz;
}

static uint64_t served(const struct bidgen *g)
{
	return g->echo ? g->echo_replies : g->tr.received;
}

void report_progress(const struct bidgen *g, uint64_t now, uint64_t *last_sent, uint64_t *last_recv,
		     uint64_t *last_tsc)
{
	double secs = (double)(now - *last_tsc) / (double)g->tsc_hz;
	uint64_t recv = served(g);
	fprintf(stderr, "offered %.3f Mpps  served %.3f Mpps  replies %" PRIu64 "  p99 %.1f us\n",
		(double)(g->sent - *last_sent) / secs / 1e6,
		(double)(recv - *last_recv) / secs / 1e6, recv,
		us(g, hist_percentile(&g->tr.latency, 99)));
	*last_sent = g->sent;
	*last_recv = recv;
	*last_tsc = now;
}

uint64_t bidgen_lost(const struct bidgen *g)
{
	const struct tracker *t = &g->tr;
	uint64_t matched = served(g);
	if (!g->echo)
		matched -= t->mismatches[MISMATCH_UNTRACKED] + t->mismatches[MISMATCH_UNEXPECTED] +
			   t->mismatches[MISMATCH_DUPLICATE];
	return t->expected_replies > matched ? t->expected_replies - matched : 0;
}

/* 0, or -1 with the reason on stderr: a run whose figures were asked for
 * and not written has failed. */
static int write_json(struct bidgen *g, double send_s, double mpps_offered, double mpps_served)
{
	FILE *f = g->json_file;
	g->json_file = NULL;
	if (!f) { /* report() without bidgen_open_json: open it now */
		f = fopen(g->json_path, "w");
		if (!f) {
			int e = errno;
			fprintf(stderr, "bidgen: --json %s: cannot write it: %s (errno %d)\n",
				g->json_path, strerror(e), e);
			return -1;
		}
	}
	const struct tracker *t = &g->tr;
	fprintf(
	    f,
	    "{\n  \"mode\": \"%s\",\n  \"sent\": %" PRIu64 ",\n  \"received\": %" PRIu64
	    ",\n  \"lost\": %" PRIu64 ",\n  \"tx_failed\": %" PRIu64
	    ",\n  \"send_seconds\": %.6f,\n  \"offered_mpps\": %.6f,\n  \"served_mpps\": %.6f,\n",
	    g->echo ? "echo" : "protocol", g->sent, served(g), bidgen_lost(g), g->tx_failed, send_s,
	    mpps_offered, mpps_served);
	fprintf(f,
		"  \"latency_us\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
		"\"max\": %.3f, \"count\": %" PRIu64 "},\n",
		us(g, hist_percentile(&t->latency, 50)), us(g, hist_percentile(&t->latency, 90)),
		us(g, hist_percentile(&t->latency, 99)), us(g, hist_percentile(&t->latency, 99.9)),
		us(g, t->latency.max), t->latency.count);
	const struct histogram *a = &t->accepted_latency;
	fprintf(f,
		"  \"accepted_latency_us\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
		"\"p999\": %.3f, \"max\": %.3f, \"count\": %" PRIu64 "},\n",
		us(g, hist_percentile(a, 50)), us(g, hist_percentile(a, 90)),
		us(g, hist_percentile(a, 99)), us(g, hist_percentile(a, 99.9)), us(g, a->max),
		a->count);
	fprintf(f, "  \"latency_cdf_us\": [");
	static const double points[] = {1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100};
	for (unsigned int i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		fprintf(f, "%s[%g, %.3f]", i ? ", " : "", points[i],
			us(g, hist_percentile(&t->latency, points[i])));
	fprintf(f, "],\n  \"replies\": {");
	const char *kinds[2] = {"bid_reply", "auction_state"};
	for (int k = 0; k < 2; k++) {
		fprintf(f, "%s\"%s\": {", k ? ", " : "", kinds[k]);
		for (unsigned int s = 0; s < BP_STATUS_COUNT; s++)
			fprintf(f, "%s\"%s\": %" PRIu64, s ? ", " : "", bp_status_name(s),
				t->replies[k][s]);
		fprintf(f, "}");
	}
	fprintf(f,
		"},\n  \"replayed\": %" PRIu64 ",\n  \"accepted_checked\": %" PRIu64
		",\n  \"mismatches\": {",
		t->replayed, t->accepted_n);
	for (unsigned int m = 0; m < MISMATCH_COUNT; m++)
		fprintf(f, "%s\"%s\": %" PRIu64, m ? ", " : "", mismatch_name(m), t->mismatches[m]);
	fprintf(f, "},\n  \"mismatch_total\": %" PRIu64 "\n}\n", tracker_mismatches(t));
	int failed = ferror(f);
	int e = errno;
	if (fclose(f) != 0 && !failed) {
		failed = 1;
		e = errno;
	}
	if (failed) {
		fprintf(stderr, "bidgen: --json %s: writing failed: %s (errno %d)\n", g->json_path,
			strerror(e), e);
		return -1;
	}
	return 0;
}

/* Replies that need the auction open on a serving node. */
static uint64_t auction_replies(const struct tracker *t)
{
	return t->replies[0][BP_ACCEPTED] + t->replies[0][BP_TOO_LOW] + t->replies[0][BP_CONFLICT] +
	       t->replies[1][BP_ACCEPTED];
}

static uint64_t replies_of(const struct tracker *t, enum bp_status s)
{
	return t->replies[0][s] + t->replies[1][s];
}

int bidgen_strict_verdict(const struct bidgen *g, char *why, size_t whylen)
{
	const struct tracker *t = &g->tr;
	uint64_t mism = tracker_mismatches(t), lst = bidgen_lost(g);
	if (g->sent == 0) {
		snprintf(why, whylen, "nothing was sent (%" PRIu64 " frames failed to send)",
			 g->tx_failed);
		return -1;
	}
	if (mism || lst) {
		snprintf(why, whylen, "%" PRIu64 " mismatches, %" PRIu64 " lost", mism, lst);
		return -1;
	}
	/* Every reply UNKNOWN_AUCTION or NOT_SERVING checks nothing: the
	 * workload's auctions are not open, or the node does not serve. */
	uint64_t to_auctions = t->sent_by_kind[KIND_BID] + t->sent_by_kind[KIND_DUP] +
			       t->sent_by_kind[KIND_CONFLICT] + t->sent_by_kind[KIND_QUERY] +
			       t->sent_by_kind[KIND_WATCH];
	if (!g->echo && to_auctions && auction_replies(t) == 0) {
		snprintf(why, whylen,
			 "no reply shows an open auction on a serving node (UNKNOWN_AUCTION "
			 "%" PRIu64 ", NOT_SERVING %" PRIu64 ", CLOSED %" PRIu64
			 ", OVERLOADED %" PRIu64 "): open --auctions %" PRIu64 "-%" PRIu64
			 " on the node (bidplane --open-range, bidctl open) and check that it "
			 "serves (bidctl status)",
			 replies_of(t, BP_UNKNOWN_AUCTION), replies_of(t, BP_NOT_SERVING),
			 replies_of(t, BP_CLOSED), replies_of(t, BP_OVERLOADED),
			 g->wp.first_auction, g->wp.last_auction);
		return -1;
	}
	return 0;
}

int report(struct bidgen *g)
{
	struct tracker *t = &g->tr;
	if (!g->echo)
		tracker_check_order(t);
	double send_s = (double)(g->send_end_tsc - g->start_tsc) / (double)g->tsc_hz;
	double offered = send_s > 0 ? (double)g->sent / send_s / 1e6 : 0;
	/* Served over the time replies came in: the wait for replies that never
	 * come (--timeout) is not time the peer spent serving. */
	uint64_t end = g->last_rx_tsc > g->start_tsc ? g->last_rx_tsc : g->end_tsc;
	double total_s = (double)(end - g->start_tsc) / (double)g->tsc_hz;
	double servedm = total_s > 0 ? (double)served(g) / total_s / 1e6 : 0;
	uint64_t mism = tracker_mismatches(t), lst = bidgen_lost(g);
	int rc = 0;

	printf("\n=== bidgen summary (%s) ===\n", g->echo ? "echo" : "protocol");
	printf("  sent       %" PRIu64 " in %.2f s (%.3f Mpps offered), tx failed %" PRIu64 "\n",
	       g->sent, send_s, offered, g->tx_failed);
	printf("  received   %" PRIu64 " (%.3f Mpps served), lost %" PRIu64 "\n", served(g),
	       servedm, lst);
	printf("  latency    p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
	       us(g, hist_percentile(&t->latency, 50)), us(g, hist_percentile(&t->latency, 90)),
	       us(g, hist_percentile(&t->latency, 99)), us(g, hist_percentile(&t->latency, 99.9)),
	       us(g, t->latency.max));
	if (!g->echo) {
		static const char *kind_names[KIND_COUNT] = {
		    "bid",	 "duplicate",  "conflict",   "query",	       "watch",
		    "bad_magic", "bad_random", "bad_length", "bad_zero_field", "bad_version"};
		printf("  requests  ");
		for (int k = 0; k < KIND_COUNT; k++)
			if (t->sent_by_kind[k])
				printf(" %s %" PRIu64, kind_names[k], t->sent_by_kind[k]);
		printf("\n");
		for (int k = 0; k < 2; k++) {
			printf("  %-10s", k ? "state" : "bid_reply");
			for (unsigned int s = 0; s < BP_STATUS_COUNT; s++)
				if (t->replies[k][s])
					printf(" %s %" PRIu64, bp_status_name(s), t->replies[k][s]);
			printf("\n");
		}
		printf("  replayed   %" PRIu64 ", accepted bids order-checked %" PRIu64 "\n",
		       t->replayed, t->accepted_n);
		printf("  mismatches %" PRIu64, mism);
		for (unsigned int m = 0; m < MISMATCH_COUNT; m++)
			if (t->mismatches[m])
				printf(" (%s %" PRIu64 ")", mismatch_name(m), t->mismatches[m]);
		printf("\n");
	}
	if (g->tx_failed)
		fprintf(stderr,
			"bidgen: %" PRIu64 " frames could not be sent (the TX ring stayed full): "
			"the peer does not keep up; they count as tx failed, not as sent or lost\n",
			g->tx_failed);
	if (g->json_path && write_json(g, send_s, offered, servedm) != 0)
		rc = 1;
	char why[512];
	if (g->strict && bidgen_strict_verdict(g, why, sizeof(why)) != 0) {
		fprintf(stderr, "bidgen: --strict: %s\n", why);
		rc = 1;
	}
	return rc;
}
