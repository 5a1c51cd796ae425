/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress lines, the final summary and the JSON file. */
#include <inttypes.h>
#include <stdio.h>

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

static uint64_t lost(const struct bidgen *g)
{
	const struct tracker *t = &g->tr;
	uint64_t matched = served(g);
	if (!g->echo)
		matched -= t->mismatches[MISMATCH_UNTRACKED] + t->mismatches[MISMATCH_UNEXPECTED] +
			   t->mismatches[MISMATCH_DUPLICATE];
	return t->expected_replies > matched ? t->expected_replies - matched : 0;
}

static void write_json(const struct bidgen *g, double send_s, double mpps_offered,
		       double mpps_served)
{
	FILE *f = fopen(g->json_path, "w");
	if (!f) {
		perror(g->json_path);
		return;
	}
	const struct tracker *t = &g->tr;
	fprintf(
	    f,
	    "{\n  \"mode\": \"%s\",\n  \"sent\": %" PRIu64 ",\n  \"received\": %" PRIu64
	    ",\n  \"lost\": %" PRIu64 ",\n  \"tx_failed\": %" PRIu64
	    ",\n  \"send_seconds\": %.6f,\n  \"offered_mpps\": %.6f,\n  \"served_mpps\": %.6f,\n",
	    g->echo ? "echo" : "protocol", g->sent, served(g), lost(g), g->tx_failed, send_s,
	    mpps_offered, mpps_served);
	fprintf(f,
		"  \"latency_us\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
		"\"max\": %.3f, \"count\": %" PRIu64 "},\n",
		us(g, hist_percentile(&t->latency, 50)), us(g, hist_percentile(&t->latency, 90)),
		us(g, hist_percentile(&t->latency, 99)), us(g, hist_percentile(&t->latency, 99.9)),
		us(g, t->latency.max), t->latency.count);
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
	fclose(f);
}

int report(struct bidgen *g)
{
	struct tracker *t = &g->tr;
	if (!g->echo)
		tracker_check_order(t);
	double send_s = (double)(g->send_end_tsc - g->start_tsc) / (double)g->tsc_hz;
	double offered = send_s > 0 ? (double)g->sent / send_s / 1e6 : 0;
	double total_s = (double)(g->end_tsc - g->start_tsc) / (double)g->tsc_hz;
	double servedm = total_s > 0 ? (double)served(g) / total_s / 1e6 : 0;
	uint64_t mism = tracker_mismatches(t), lst = lost(g);

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
	if (g->json_path)
		write_json(g, send_s, offered, servedm);
	if (g->strict && (mism || lst || g->sent == 0)) {
		fprintf(stderr, "bidgen: --strict: %" PRIu64 " mismatches, %" PRIu64 " lost\n",
			mism, lst);
		return 1;
	}
	return 0;
}
