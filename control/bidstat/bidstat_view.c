/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidstat's live text view: a header, one line per worker with rates and
 * totals, one line per peer (a cluster node), the leadership and
 * settlement lines (as bidctl status has them), then every other value
 * (non-zero ones unless --all) with its total and rate, like vmstat's
 * columns and top's screen.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "bidstat.h"

double bidstat_interval(const struct bidstat_update *u)
{
	double secs;
	if (u->prev)
		secs = (double)(u->now->taken_ns - u->prev->taken_ns) / 1e9;
	else
		secs = (double)(u->now->info.updated_unix_ms - u->now->info.started_unix_ms) / 1e3;
	return secs > 1e-3 ? secs : 1e-3;
}

/* The previous snapshot's index of entry i of now, or -1. */
static int previous_index(const struct bidstat_update *u, uint32_t i)
{
	const struct stats_entry *e = &u->now->entries[i];
	const struct stats_snapshot *p = u->prev;
	if (i < p->count && strcmp(p->entries[i].name, e->name) == 0 &&
	    strcmp(p->entries[i].labels, e->labels) == 0)
		return (int)i;
	return stats_snapshot_find(p, e->name, e->labels);
}

static uint64_t value_of(const struct stats_snapshot *s, uint32_t i, int k)
{
	return k < 0 ? stats_snapshot_total(s, i) : s->values[s->first[i] + (uint32_t)k];
}

double bidstat_rate(const struct bidstat_update *u, uint32_t i, int k)
{
	uint64_t now = value_of(u->now, i, k), before = 0;
	if (u->prev) {
		int j = previous_index(u, i);
		if (j >= 0 && (k < 0 || (uint32_t)k < u->prev->entries[j].count))
			before = value_of(u->prev, (uint32_t)j, k);
	}
	/* A counter read from a restarted node starts over: no negative rate. */
	return now >= before ? (double)(now - before) / bidstat_interval(u) : 0.0;
}

const char *bidstat_state(const struct bidstat_update *u)
{
	if (u->now->info.state == STATS_RUNNING && !u->alive)
		return "gone";
	return stats_state_name(u->now->info.state);
}

/* 1234567 -> "1.23M": rates fit their column. */
static const char *human(char *buf, size_t len, double v)
{
	static const char units[] = " kMGT";
	int u = 0;
	while (v >= 999.5 && u < 4) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.*f%c", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
	return buf;
}

static uint64_t total_of(const struct stats_snapshot *s, const char *name, const char *labels)
{
	int i = stats_snapshot_find(s, name, labels);
	return i < 0 ? 0 : stats_snapshot_total(s, (uint32_t)i);
}

/* The serving gauge is the node's last word: once it has exited or its
 * process is gone, it serves nothing, whatever it said last. */
static const char *serving_word(const struct bidstat_update *u)
{
	if (strcmp(bidstat_state(u), "running") != 0)
		return "not running";
	return total_of(u->now, "serving", "") ? "serving" : "NOT serving";
}

static void print_header(FILE *out, const struct bidstat_update *u)
{
	const struct stats_info *in = &u->now->info;
	uint64_t up = total_of(u->now, "uptime_seconds", "");
	char when[32];
	time_t t = (time_t)(in->updated_unix_ms / 1000);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	fprintf(out,
		"bidplane %s (%s) pid %d: %s, up %" PRIu64 ":%02" PRIu64 ":%02" PRIu64
		", epoch %" PRIu64 ", %s, %u worker(s)   %s\n",
		in->name, in->node_version, (int)in->pid, bidstat_state(u), up / 3600, up / 60 % 60,
		up % 60, total_of(u->now, "fencing_epoch", ""), serving_word(u), in->nworkers,
		when);
	if (u->notice)
		fprintf(out, "** %s\n", u->notice);
	if (strcmp(bidstat_state(u), "exited") == 0)
		fprintf(out, "** the node has exited: these are its last values\n");
	else if (strcmp(bidstat_state(u), "gone") == 0)
		fprintf(out,
			"** the node's process is gone (crashed?): these are its last values\n");
}

/* Sum over the drops_total family of worker k (k < 0: all). */
static void drops_of(const struct bidstat_update *u, int k, uint64_t *total, double *rate)
{
	*total = 0;
	*rate = 0;
	for (uint32_t i = 0; i < u->now->count; i++)
		if (strcmp(u->now->entries[i].name, "drops_total") == 0) {
			*total += value_of(u->now, i, k);
			*rate += bidstat_rate(u, i, k);
		}
}

static void print_worker_line(FILE *out, const struct bidstat_update *u, int k, int rx, int tx,
			      int busy, int idle)
{
	char a[16], b[16], c[16], label[24];
	uint64_t drops;
	double drop_rate;
	drops_of(u, k, &drops, &drop_rate);
	double busy_rate = busy < 0 ? 0 : bidstat_rate(u, (uint32_t)busy, k);
	double idle_rate = idle < 0 ? 0 : bidstat_rate(u, (uint32_t)idle, k);
	double polls = busy_rate + idle_rate;
	if (k < 0)
		snprintf(label, sizeof(label), "total");
	else
		snprintf(label, sizeof(label), "worker %d", k);
	fprintf(out, "%-9s %9s %9s %9s %6.1f%% %15" PRIu64 " %15" PRIu64 " %12" PRIu64 "\n", label,
		human(a, sizeof(a), rx < 0 ? 0 : bidstat_rate(u, (uint32_t)rx, k)),
		human(b, sizeof(b), tx < 0 ? 0 : bidstat_rate(u, (uint32_t)tx, k)),
		human(c, sizeof(c), drop_rate), polls > 0 ? 100.0 * busy_rate / polls : 0.0,
		rx < 0 ? 0 : value_of(u->now, (uint32_t)rx, k),
		tx < 0 ? 0 : value_of(u->now, (uint32_t)tx, k), drops);
}

static void print_workers(FILE *out, const struct bidstat_update *u)
{
	const struct stats_snapshot *s = u->now;
	int rx = stats_snapshot_find(s, "rx_packets_total", "");
	int tx = stats_snapshot_find(s, "tx_packets_total", "");
	int busy = stats_snapshot_find(s, "polls_total", "result=busy");
	int idle = stats_snapshot_find(s, "polls_total", "result=idle");
	fprintf(out, "\n%-9s %9s %9s %9s %7s %15s %15s %12s\n", "", "rx/s", "tx/s", "drops/s",
		"busy", "rx", "tx", "drops");
	for (uint32_t k = 0; k < s->info.nworkers; k++)
		print_worker_line(out, u, (int)k, rx, tx, busy, idle);
	if (s->info.nworkers > 1)
		print_worker_line(out, u, -1, rx, tx, busy, idle);
}

/* ---- the peers (stats_peers.h): one line each ---- */

/* Entry i's label `key`'s value into buf ("" when it has none). */
static const char *label_value(const struct stats_entry *e, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key);
	buf[0] = '\0';
	for (const char *p = e->labels; *p;) {
		size_t n = strcspn(p, ",");
		if (n > k && strncmp(p, key, k) == 0 && p[k] == '=')
			snprintf(buf, len, "%.*s", (int)(n - k - 1), p + k + 1);
		p += n + (p[n] == ',');
	}
	return buf;
}

/* The value of family `name` for this peer, `extra` labels after peer=. */
static uint64_t peer_value(const struct stats_snapshot *s, const char *name, const char *peer,
			   const char *extra)
{
	char labels[STATS_FIELD_LABEL];
	snprintf(labels, sizeof(labels), "peer=%s%s%s", peer, *extra ? "," : "", extra);
	return total_of(s, name, labels);
}

static uint64_t peer_drops(const struct stats_snapshot *s, const char *peer)
{
	char v[STATS_FIELD_LABEL];
	uint64_t sum = 0;
	for (uint32_t i = 0; i < s->count; i++)
		if (strcmp(s->entries[i].name, "peer_drops_total") == 0 &&
		    strcmp(label_value(&s->entries[i], "peer", v, sizeof(v)), peer) == 0)
			sum += stats_snapshot_total(s, i);
	return sum;
}

/* "+12", "-3" (the peer's clock minus ours), "?" while unknown. */
static const char *peer_offset(const struct stats_snapshot *s, const char *peer, char *buf,
			       size_t len)
{
	if (!peer_value(s, "peer_clock_offset_known", peer, ""))
		return "?";
	uint64_t ahead = peer_value(s, "peer_clock_offset_ms", peer, "sign=ahead");
	uint64_t behind = peer_value(s, "peer_clock_offset_ms", peer, "sign=behind");
	if (behind)
		snprintf(buf, len, "-%" PRIu64, behind);
	else
		snprintf(buf, len, "%s%" PRIu64, ahead ? "+" : "", ahead);
	return buf;
}

static void print_peer_line(FILE *out, const struct stats_snapshot *s, const char *peer)
{
	char a[16], b[16], c[16], d[16], off[24];
	fprintf(
	    out,
	    "%-6s %5s %9s %9s %9s %9s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8s %8" PRIu64 "\n",
	    peer, peer_value(s, "peer_reachable", peer, "") ? "yes" : "no",
	    human(a, sizeof(a), (double)peer_value(s, "peer_messages_total", peer, "direction=in")),
	    human(b, sizeof(b),
		  (double)peer_value(s, "peer_messages_total", peer, "direction=out")),
	    human(c, sizeof(c), (double)peer_value(s, "peer_bytes_total", peer, "direction=in")),
	    human(d, sizeof(d), (double)peer_value(s, "peer_bytes_total", peer, "direction=out")),
	    peer_value(s, "peer_deltas_pending", peer, ""),
	    peer_value(s, "peer_retransmissions_total", peer, ""),
	    peer_value(s, "peer_lag_ms", peer, ""), peer_offset(s, peer, off, sizeof(off)),
	    peer_drops(s, peer));
}

/* One line per peer_reachable entry (every configured peer has one); none
 * on a lone node. */
static void print_peers(FILE *out, const struct bidstat_update *u)
{
	const struct stats_snapshot *s = u->now;
	char peer[STATS_FIELD_LABEL];
	bool header = false;
	for (uint32_t i = 0; i < s->count; i++) {
		if (strcmp(s->entries[i].name, "peer_reachable") != 0)
			continue;
		if (!header) {
			fprintf(out, "\npeers%s\n%-6s %5s %9s %9s %9s %9s %8s %8s %8s %8s %8s\n",
				total_of(s, "clock_quarantined", "")
				    ? "   ** clock quarantined: not serving"
				    : "",
				"peer", "reach", "msgs in", "msgs out", "bytes in", "bytes out",
				"pending", "retrans", "lag ms", "offs ms", "drops");
			header = true;
		}
		print_peer_line(out, s, label_value(&s->entries[i], "peer", peer, sizeof(peer)));
	}
}

/* ---- leadership and settlement (docs/LEADERSHIP.md), as bidctl status
 * says them: a line for the leader, with --etcd one for etcd and one for
 * the settlements ---- */
static void print_leadership(FILE *out, const struct bidstat_update *u)
{
	const struct stats_snapshot *s = u->now;
	if (stats_snapshot_find(s, "leader", "") < 0)
		return; /* a node from before leadership */
	bool leader = total_of(s, "leader", "") != 0;
	bool etcd = stats_snapshot_find(s, "etcd_reachable", "") >= 0;
	fprintf(out, "\nleader:      %s", leader ? "yes" : "no");
	if (leader)
		fprintf(out, ", fencing token %" PRIu64 "%s", total_of(s, "fencing_token", ""),
			etcd ? "" : " (no --etcd: a lone node leads itself)");
	fputc('\n', out);
	if (!etcd)
		return;
	uint64_t latency_us = total_of(s, "etcd_latency_us", "");
	uint64_t leader_id = total_of(s, "etcd_leader_node_id", "");
	char named[32] = "none known";
	if (leader_id)
		snprintf(named, sizeof(named), "node %" PRIu64, leader_id);
	fprintf(out,
		"etcd:        %s, latency %" PRIu64 ".%03" PRIu64 " ms, lease %" PRIu64
		" ms left, leader %s\n",
		total_of(s, "etcd_reachable", "") ? "reachable" : "UNREACHABLE", latency_us / 1000,
		latency_us % 1000, total_of(s, "etcd_lease_left_ms", ""), named);
	fprintf(out,
		"settlements: %" PRIu64 " done, %" PRIu64 " pending (%" PRIu64
		" waiting for a peer, %" PRIu64 " for etcd), fencing rejections %" PRIu64 "\n",
		total_of(s, "auction_events_total", "event=settled"),
		total_of(s, "settlements_pending", ""),
		total_of(s, "settlements_waiting_for_peer", ""),
		total_of(s, "settlements_waiting_for_etcd", ""),
		total_of(s, "fencing_rejections_total", ""));
}

/* What the peers' lines show: left out of the list of values. */
static bool in_peer_table(const struct stats_entry *e)
{
	static const char *const shown[] = {
	    "peer_reachable",	    "peer_messages_total",	  "peer_bytes_total",
	    "peer_deltas_pending",  "peer_retransmissions_total", "peer_lag_ms",
	    "peer_clock_offset_ms", "peer_clock_offset_known",
	};
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (strcmp(e->name, shown[i]) == 0)
			return true;
	return false;
}

static bool in_worker_table(const struct stats_entry *e)
{
	return (strcmp(e->name, "rx_packets_total") == 0 ||
		strcmp(e->name, "tx_packets_total") == 0 || strcmp(e->name, "polls_total") == 0) &&
	       e->per_worker;
}

static void print_values(FILE *out, const struct bidstat_update *u)
{
	const struct stats_snapshot *s = u->now;
	char key[STATS_FIELD_NAME + STATS_FIELD_LABEL + 4], r[16];
	fprintf(out, "\n%-58s %18s %9s\n", "value", "total", "/s");
	for (uint32_t i = 0; i < s->count; i++) {
		const struct stats_entry *e = &s->entries[i];
		uint64_t v = stats_snapshot_total(s, i);
		if (in_worker_table(e) || (in_peer_table(e) && !u->all) || (!u->all && v == 0) ||
		    (stats_entry_is_auction(e) && !u->auctions))
			continue;
		if (e->labels[0])
			snprintf(key, sizeof(key), "%s{%s}", e->name, e->labels);
		else
			snprintf(key, sizeof(key), "%s", e->name);
		if (e->kind == STATS_COUNTER)
			fprintf(out, "%-58s %18" PRIu64 " %9s\n", key, v,
				human(r, sizeof(r), bidstat_rate(u, i, -1)));
		else
			fprintf(out, "%-58s %18" PRIu64 "\n", key, v);
	}
}

void bidstat_print_view(FILE *out, const struct bidstat_update *u, bool clear_screen)
{
	if (clear_screen)
		fputs("\033[H\033[2J", out);
	print_header(out, u);
	print_workers(out, u);
	print_peers(out, u);
	print_leadership(out, u);
	print_values(out, u);
	if (!clear_screen)
		fputc('\n', out);
	fflush(out);
}
