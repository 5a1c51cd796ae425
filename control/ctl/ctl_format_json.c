/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Answers for programs: one JSON object per answer, on one line, with the
 * snake_case names of struct ctl_auction and struct ctl_status as keys.
 * Numbers are written as they are (uint64), never as strings.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl_format.h"
#include "proto.h"

static const char *json_bool(bool v)
{
	return v ? "true" : "false";
}

static void auction_object(struct ctl_out *o, const struct ctl_auction *a)
{
	ctl_out_printf(
	    o,
	    "{\"id\":%" PRIu64 ",\"phase\":%d,\"state\":\"%s\",\"reserve\":%" PRIu64
	    ",\"increment\":%" PRIu64 ",\"close_at_ms\":%" PRIu64 ",\"leading_amount\":%" PRIu64
	    ",\"leading_bidder\":%" PRIu64 ",\"leading_hlc\":%" PRIu64 ",\"bid_count\":%" PRIu64
	    ",\"viewers\":%" PRIu64 ",\"settled\":%s,\"settled_at_ms\":%" PRIu64,
	    a->id, a->phase, bp_phase_name((unsigned int)a->phase), a->reserve, a->increment,
	    a->close_at_ms, a->leading_amount, a->leading_bidder, a->leading_hlc, a->bid_count,
	    a->viewers, json_bool(a->settled), a->settled_at_ms);
	if (!a->settled) {
		ctl_out_printf(o, ",\"settlement\":null}");
		return;
	}
	ctl_out_printf(o,
		       ",\"settlement\":{\"amount\":%" PRIu64 ",\"bidder\":%" PRIu64
		       ",\"hlc\":%" PRIu64 ",\"node_id\":%u,\"fencing_token\":%" PRIu64
		       ",\"settled_at_ms\":%" PRIu64 "}}",
		       a->settlement_amount, a->settlement_bidder, a->settlement_hlc,
		       a->settlement_node_id, a->settlement_fencing_token, a->settled_at_ms);
}

static void json_error(struct ctl_out *o, const char *message)
{
	ctl_out_printf(o, "{\"error\":");
	ctl_out_json_string(o, message);
	ctl_out_printf(o, "}\n");
}

/* open, close and query all answer with the auction as it is now. */
static void json_auction(struct ctl_out *o, const struct ctl_auction *a)
{
	auction_object(o, a);
	ctl_out_printf(o, "\n");
}

static void json_list_begin(struct ctl_out *o)
{
	ctl_out_printf(o, "{\"auctions\":[");
}

static void json_list_item(struct ctl_out *o, const struct ctl_auction *a, uint64_t index)
{
	if (index)
		ctl_out_printf(o, ",");
	auction_object(o, a);
}

static void json_list_end(struct ctl_out *o, uint64_t count, uint64_t next)
{
	ctl_out_printf(o, "],\"count\":%" PRIu64 ",\"next\":", count);
	if (next)
		ctl_out_printf(o, "%" PRIu64 "}\n", next);
	else
		ctl_out_printf(o, "null}\n");
}

static void json_status(struct ctl_out *o, const struct ctl_status *s)
{
	ctl_out_printf(o, "{\"node_id\":%u,\"version\":", s->node_id);
	if (s->version)
		ctl_out_json_string(o, s->version);
	else
		ctl_out_printf(o, "null");
	ctl_out_printf(o,
		       ",\"hlc\":%" PRIu64 ",\"fencing_epoch\":%" PRIu64
		       ",\"serving\":%s,\"workers\":%u,\"uptime_s\":%" PRIu64
		       ",\"auctions_open\":%" PRIu64 ",\"auctions_closed\":%" PRIu64
		       ",\"auctions_settled\":%" PRIu64 ",\"not_serving_reason\":",
		       s->hlc, s->fencing_epoch, json_bool(s->serving), s->workers, s->uptime_s,
		       s->auctions_open, s->auctions_closed, s->auctions_settled);
	if (s->not_serving_reason)
		ctl_out_json_string(o, s->not_serving_reason);
	else
		ctl_out_printf(o, "null");
	ctl_out_printf(o,
		       ",\"injected_clock_offset_ms\":%" PRId64 ",\"injected_lease_guard_off\":%s",
		       s->injected_clock_offset_ms, json_bool(s->injected_lease_guard_off));
	ctl_out_printf(o, ",\"peers\":[");
	for (unsigned int i = 0; i < s->npeers; i++) {
		const struct ctl_peer *p = &s->peers[i];
		ctl_out_printf(o,
			       "%s{\"node_id\":%u,\"address\":\"%s\",\"reachable\":%s,"
			       "\"last_heard_ms_ago\":",
			       i ? "," : "", p->node_id, ctl_peer_address(p).s,
			       json_bool(p->reachable));
		if (p->last_heard_ms_ago == UINT64_MAX)
			ctl_out_printf(o, "null");
		else
			ctl_out_printf(o, "%" PRIu64, p->last_heard_ms_ago);
		ctl_out_printf(o, ",\"lag_ms\":%" PRIu64 ",\"clock_offset_ms\":", p->lag_ms);
		if (p->has_clock_offset)
			ctl_out_printf(o, "%" PRId64 "}", p->clock_offset_ms);
		else
			ctl_out_printf(o, "null}");
	}
	ctl_out_printf(o, "],\"leader\":%s,\"fencing_token\":%" PRIu64 ",\"etcd\":",
		       json_bool(s->leader), s->fencing_token);
	if (s->etcd)
		ctl_out_printf(o,
			       "{\"reachable\":%s,\"latency_ms\":%" PRIu64 ".%03" PRIu64
			       ",\"lease_left_ms\":%" PRIu64 ",\"leader_node_id\":",
			       json_bool(s->etcd_reachable), s->etcd_latency_us / 1000,
			       s->etcd_latency_us % 1000, s->etcd_lease_left_ms);
	if (s->etcd && s->etcd_leader_node_id)
		ctl_out_printf(o, "%u}", s->etcd_leader_node_id);
	else if (s->etcd)
		ctl_out_printf(o, "null}");
	else
		ctl_out_printf(o, "null");
	ctl_out_printf(o,
		       ",\"wal\":{\"durability\":\"%s\",\"lsn\":%" PRIu64
		       ",\"durable_lsn\":%" PRIu64 ",\"full\":%s,\"reserve_bytes\":%" PRIu64
		       ",\"error\":",
		       s->durability ? s->durability : "off", s->wal_lsn, s->wal_durable_lsn,
		       json_bool(s->wal_full), s->wal_reserve_bytes);
	if (s->wal_error[0])
		ctl_out_json_string(o, s->wal_error);
	else
		ctl_out_printf(o, "null");
	ctl_out_printf(o, ",\"snapshot_lsn\":%" PRIu64 ",\"snapshot_age_s\":", s->snapshot_lsn);
	if (s->snapshot_lsn && s->snapshot_age_s >= 0)
		ctl_out_printf(o, "%" PRId64, s->snapshot_age_s);
	else
		ctl_out_printf(o, "null");
	ctl_out_printf(o,
		       ",\"snapshot_bytes\":%" PRIu64 ",\"snapshot_records\":%" PRIu64
		       ",\"snapshot_duration_ms\":%" PRIu64 ",\"snapshots\":%" PRIu64
		       ",\"snapshot_failures\":%" PRIu64 "}",
		       s->snapshot_bytes, s->snapshot_records, s->snapshot_duration_ms,
		       s->snapshots, s->snapshot_failures);
	ctl_out_printf(o,
		       ",\"fencing_rejections\":%" PRIu64 ",\"settlements\":{\"done\":%" PRIu64
		       ",\"pending\":%" PRIu64 ",\"waiting_for_peer\":%" PRIu64
		       ",\"waiting_for_etcd\":%" PRIu64 ",\"waiting\":[",
		       s->fencing_rejections, s->settlements_done, s->settlements_pending,
		       s->settlements_waiting_for_peer, s->settlements_waiting_for_etcd);
	for (unsigned int i = 0; i < s->nwaits; i++) {
		const struct ctl_wait *w = &s->waits[i];
		ctl_out_printf(o, "%s{\"auction\":%" PRIu64, i ? "," : "", w->auction);
		if (w->peer_node_id)
			ctl_out_printf(o, ",\"for\":\"peer\",\"peer_node_id\":%u}",
				       w->peer_node_id);
		else
			ctl_out_printf(o, ",\"for\":\"etcd\",\"peer_node_id\":null}");
	}
	ctl_out_printf(o, "]}}\n");
}

static void json_clock_offset(struct ctl_out *o, int64_t now_ms, int64_t previous_ms)
{
	ctl_out_printf(o,
		       "{\"injected_clock_offset_ms\":%" PRId64
		       ",\"previous_injected_clock_offset_ms\":%" PRId64 "}\n",
		       now_ms, previous_ms);
}

static void json_lease_guard(struct ctl_out *o, bool on, bool was_on)
{
	ctl_out_printf(
	    o, "{\"injected_lease_guard_off\":%s,\"previous_injected_lease_guard_off\":%s}\n",
	    json_bool(!on), json_bool(!was_on));
}

const struct ctl_format ctl_format_json = {
    .name = "json",
    .error = json_error,
    .opened = json_auction,
    .closed = json_auction,
    .auction = json_auction,
    .list_begin = json_list_begin,
    .list_item = json_list_item,
    .list_end = json_list_end,
    .status = json_status,
    .clock_offset = json_clock_offset,
    .lease_guard = json_lease_guard,
};
