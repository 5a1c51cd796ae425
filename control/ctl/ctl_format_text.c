/* SPDX-License-Identifier: BSD-3-Clause */
/* Answers for people: aligned "key: value" lines and a table for list. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ctl_format.h"
#include "hlc.h"
#include "proto.h"

/* Wide enough for UINT64_MAX, "none" and "<ms>.<logical>". */
#define NUMBER_TEXT_MAX 32
/* "2023-11-14T22:13:20.123Z" and the out-of-range words. */
#define TIME_TEXT_MAX 32
/* The last second strftime's %Y prints with four digits. */
#define LAST_ISO_SECOND 253402300799ull

struct number_text {
	char s[NUMBER_TEXT_MAX];
};

struct time_text {
	char s[TIME_TEXT_MAX];
};

/* The protocol's 0 means "none" for leading amounts, bidders and stamps. */
static struct number_text or_none(uint64_t v)
{
	struct number_text t = {"none"};
	if (v)
		snprintf(t.s, sizeof(t.s), "%" PRIu64, v);
	return t;
}

/* An HLC stamp as <ms>.<logical>: the wall-clock part stays readable. */
static struct number_text hlc_text(uint64_t hlc)
{
	struct number_text t = {"none"};
	if (hlc)
		hlc_format(hlc, t.s, sizeof(t.s));
	return t;
}

/* Unix milliseconds as ISO-8601 UTC with milliseconds. */
static struct time_text iso8601(uint64_t ms)
{
	struct time_text t = {"beyond year 9999"};
	time_t seconds = (time_t)(ms / 1000);
	struct tm tm;
	if (ms / 1000 > LAST_ISO_SECOND || !gmtime_r(&seconds, &tm))
		return t;
	size_t n = strftime(t.s, sizeof(t.s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t.s + n, sizeof(t.s) - n, ".%03uZ", (unsigned int)(ms % 1000));
	return t;
}

static void text_error(struct ctl_out *o, const char *message)
{
	/* The status line already carries the message: no body. */
	(void)o;
	(void)message;
}

static void text_opened(struct ctl_out *o, const struct ctl_auction *a)
{
	ctl_out_printf(o, "opened auction %" PRIu64 " (closes at %s)\n", a->id,
		       iso8601(a->close_at_ms).s);
}

static void text_closed(struct ctl_out *o, const struct ctl_auction *a)
{
	if (a->leading_amount)
		ctl_out_printf(o,
			       "closed auction %" PRIu64 " (leading bid %" PRIu64
			       " by bidder %" PRIu64 ")\n",
			       a->id, a->leading_amount, a->leading_bidder);
	else
		ctl_out_printf(o, "closed auction %" PRIu64 " (no bids)\n", a->id);
}

static void text_auction(struct ctl_out *o, const struct ctl_auction *a)
{
	ctl_out_printf(o,
		       "auction:    %" PRIu64 "\n"
		       "state:      %s\n"
		       "reserve:    %" PRIu64 "\n"
		       "increment:  %" PRIu64 "\n"
		       "close_at:   %" PRIu64 " (%s)\n"
		       "leading:    %s\n"
		       "bidder:     %s\n"
		       "hlc:        %s\n"
		       "bids:       %" PRIu64 "\n"
		       "viewers:    %" PRIu64 "\n"
		       "settled:    %s\n",
		       a->id, bp_phase_name((unsigned int)a->phase), a->reserve, a->increment,
		       a->close_at_ms, iso8601(a->close_at_ms).s, or_none(a->leading_amount).s,
		       or_none(a->leading_bidder).s, hlc_text(a->leading_hlc).s, a->bid_count,
		       a->viewers, a->settled ? "yes" : "no");
	if (a->settled)
		ctl_out_printf(o, "settled_at: %" PRIu64 " (%s)\n", a->settled_at_ms,
			       iso8601(a->settled_at_ms).s);
	else
		ctl_out_printf(o, "settled_at: none\n");
	if (a->settled)
		ctl_out_printf(
		    o,
		    "settlement: amount %s, bidder %s, hlc %s, node %u, fencing token %" PRIu64
		    "\n",
		    or_none(a->settlement_amount).s, or_none(a->settlement_bidder).s,
		    hlc_text(a->settlement_hlc).s, a->settlement_node_id,
		    a->settlement_fencing_token);
	else
		ctl_out_printf(o, "settlement: none\n");
}

/* Columns are separated by spaces, so `sort -k5 -n` sorts by bids even when
 * a number is wider than its column. */
#define LIST_ROW "%-12s %-7s %14s %14s %10s %8s  %s\n"

static void text_list_begin(struct ctl_out *o)
{
	ctl_out_printf(o, LIST_ROW, "id", "state", "leading", "bidder", "bids", "viewers",
		       "close_at");
}

static void text_list_item(struct ctl_out *o, const struct ctl_auction *a, uint64_t index)
{
	(void)index;
	struct number_text id, bids, viewers;
	snprintf(id.s, sizeof(id.s), "%" PRIu64, a->id);
	snprintf(bids.s, sizeof(bids.s), "%" PRIu64, a->bid_count);
	snprintf(viewers.s, sizeof(viewers.s), "%" PRIu64, a->viewers);
	ctl_out_printf(o, LIST_ROW, id.s, bp_phase_name((unsigned int)a->phase),
		       or_none(a->leading_amount).s, or_none(a->leading_bidder).s, bids.s,
		       viewers.s, iso8601(a->close_at_ms).s);
}

static void text_list_end(struct ctl_out *o, uint64_t count, uint64_t next)
{
	if (next)
		ctl_out_printf(o,
			       "%" PRIu64 " auctions; more from id %" PRIu64
			       " (bidctl list --from %" PRIu64 ")\n",
			       count, next, next);
	else
		ctl_out_printf(o, "%" PRIu64 " auctions\n", count);
}

static void text_leadership(struct ctl_out *o, const struct ctl_status *s)
{
	if (s->leader)
		ctl_out_printf(o, "leader:        yes, fencing token %" PRIu64 "%s\n",
			       s->fencing_token,
			       s->etcd ? "" : " (no --etcd: a lone node leads itself)");
	else
		ctl_out_printf(o, "leader:        no\n");
	if (!s->etcd)
		return;
	char leader[32] = "none known";
	if (s->etcd_leader_node_id)
		snprintf(leader, sizeof(leader), "node %u", s->etcd_leader_node_id);
	ctl_out_printf(o,
		       "etcd:          %s, latency %" PRIu64 ".%03" PRIu64 " ms, lease %" PRIu64
		       " ms left, leader %s\n",
		       s->etcd_reachable ? "reachable" : "UNREACHABLE", s->etcd_latency_us / 1000,
		       s->etcd_latency_us % 1000, s->etcd_lease_left_ms, leader);
}

/* Which auctions wait and for what: "waiting:      auction 201 for peer 2,
 * auction 301 for etcd (and 3 more)". */
static void text_waits(struct ctl_out *o, const struct ctl_status *s)
{
	if (!s->nwaits)
		return;
	ctl_out_printf(o, "waiting:      ");
	for (unsigned int i = 0; i < s->nwaits; i++) {
		const struct ctl_wait *w = &s->waits[i];
		ctl_out_printf(o, "%s auction %" PRIu64 " for ", i ? "," : "", w->auction);
		if (w->peer_node_id)
			ctl_out_printf(o, "peer %u", w->peer_node_id);
		else
			ctl_out_printf(o, "etcd");
	}
	uint64_t all = s->settlements_waiting_for_peer + s->settlements_waiting_for_etcd;
	if (all > s->nwaits)
		ctl_out_printf(o, " (and %" PRIu64 " more)", all - s->nwaits);
	ctl_out_printf(o, "\n");
}

static void text_status(struct ctl_out *o, const struct ctl_status *s)
{
	ctl_out_printf(o,
		       "node:          %u\n"
		       "version:       %s\n"
		       "hlc:           %s\n"
		       "fencing_epoch: %" PRIu64 "\n"
		       "serving:       %s%s%s\n"
		       "workers:       %u\n"
		       "uptime:        %" PRIu64 " s\n"
		       "auctions:      %" PRIu64 " open, %" PRIu64 " closed, %" PRIu64 " settled\n",
		       s->node_id, s->version ? s->version : "unknown", hlc_text(s->hlc).s,
		       s->fencing_epoch, s->serving ? "yes" : "no",
		       s->not_serving_reason ? ", because of " : "",
		       s->not_serving_reason ? s->not_serving_reason : "", s->workers, s->uptime_s,
		       s->auctions_open, s->auctions_closed, s->auctions_settled);
	text_leadership(o, s);
	if (s->injected_clock_offset_ms)
		ctl_out_printf(o, "clock_offset:  %+" PRId64 " ms (injected: fault injection)\n",
			       s->injected_clock_offset_ms);
	if (s->injected_lease_guard_off)
		ctl_out_printf(o, "lease_guard:   OFF (injected: fault injection; a leader ignores "
				  "its lease deadline until etcd refuses a write)\n");
	ctl_out_printf(o, "wal:           %s, lsn %" PRIu64 ", durable %" PRIu64 "%s%s\n",
		       s->durability ? s->durability : "off", s->wal_lsn, s->wal_durable_lsn,
		       !s->wal_error[0] ? ""
		       : s->wal_full	? "; FULL: "
					: "; FAILED: ",
		       s->wal_error);
	if (s->snapshot_lsn)
		ctl_out_printf(
		    o,
		    "snapshot:      lsn %" PRIu64 ", %" PRId64 " s old, %" PRIu64 " bytes, %" PRIu64
		    " records, took %" PRIu64 " ms; %" PRIu64 " written, %" PRIu64 " failed\n",
		    s->snapshot_lsn, s->snapshot_age_s, s->snapshot_bytes, s->snapshot_records,
		    s->snapshot_duration_ms, s->snapshots, s->snapshot_failures);
	else if (s->snapshot_failures)
		ctl_out_printf(o, "snapshot:      none; %" PRIu64 " failed\n",
			       s->snapshot_failures);
	if (s->etcd) /* without it a node settles at once, by itself */
		ctl_out_printf(
		    o,
		    "settlements:   %" PRIu64 " done, %" PRIu64 " pending (%" PRIu64
		    " waiting for a peer, %" PRIu64 " for etcd), fencing rejections %" PRIu64 "\n",
		    s->settlements_done, s->settlements_pending, s->settlements_waiting_for_peer,
		    s->settlements_waiting_for_etcd, s->fencing_rejections);
	text_waits(o, s);
	for (unsigned int i = 0; i < s->npeers; i++) {
		const struct ctl_peer *p = &s->peers[i];
		char heard[48] = "never heard", offset[32] = "unknown";
		if (p->last_heard_ms_ago != UINT64_MAX)
			snprintf(heard, sizeof(heard), "heard %" PRIu64 " ms ago",
				 p->last_heard_ms_ago);
		if (p->has_clock_offset)
			snprintf(offset, sizeof(offset), "%+" PRId64 " ms", p->clock_offset_ms);
		ctl_out_printf(o, "peer %-9u%s %s, %s, lag %" PRIu64 " ms, clock offset %s\n",
			       p->node_id, ctl_peer_address(p).s,
			       p->reachable ? "reachable" : "UNREACHABLE", heard, p->lag_ms,
			       offset);
	}
}

static void text_clock_offset(struct ctl_out *o, int64_t now_ms, int64_t previous_ms)
{
	ctl_out_printf(o,
		       "clock offset %+" PRId64 " ms (was %+" PRId64
		       " ms); fault injection: the node's wall clock is shifted by it\n",
		       now_ms, previous_ms);
}

static void text_lease_guard(struct ctl_out *o, bool on, bool was_on)
{
	ctl_out_printf(o, "lease guard %s (was %s)%s\n", on ? "on" : "OFF", was_on ? "on" : "OFF",
		       on ? ""
			  : "; fault injection: a leader ignores its lease deadline "
			    "until etcd refuses one of its settlement writes");
}

const struct ctl_format ctl_format_text = {
    .name = "text",
    .error = text_error,
    .opened = text_opened,
    .closed = text_closed,
    .auction = text_auction,
    .list_begin = text_list_begin,
    .list_item = text_list_item,
    .list_end = text_list_end,
    .status = text_status,
    .clock_offset = text_clock_offset,
    .lease_guard = text_lease_guard,
};
