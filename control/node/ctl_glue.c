/* SPDX-License-Identifier: BSD-3-Clause */
/* The control socket's commands, served from the node's live state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <rte_cycles.h>

#include "control.h"
#include "ctl.h"
#include "log.h"
#include "snapshot_node.h"
#include "stat.h"

/* --durability sync: bidctl open and close are answered once their record
 * is durable, waiting this long at most (then an error says the change is
 * in memory only): far past a group commit (0.2-1 ms here, ~120 ms under
 * the full suite's load), within bidctl's 5 s answer timeout. The control
 * thread never waits for it: it polls the answer every loop (service.c). */
#define CTL_DURABLE_WAIT_MS 3000u

static struct control *ctl_control(void *ctx)
{
	return ctx;
}

/* Reads the leading record: call inside control_online(). */
static void describe(const struct control *c, const struct auction *a, struct ctl_auction *out)
{
	struct auction_view v;
	auction_view(&c->node->auctions, a, node_now_ms(c->node), &v);
	*out = (struct ctl_auction){
	    .id = v.id,
	    .reserve = v.reserve,
	    .increment = v.increment,
	    .close_at_ms = v.close_at_ms,
	    .phase = v.phase,
	    .leading_amount = v.leading.amount,
	    .leading_bidder = v.leading.bidder,
	    .leading_hlc = v.leading.hlc,
	    .bid_count = v.bid_count,
	    .viewers = v.viewers,
	    .settled = a->settled,
	    .settled_at_ms = a->settled_at_ms,
	    .settlement_amount = a->winner.amount,
	    .settlement_bidder = a->winner.bidder,
	    .settlement_hlc = a->winner.hlc,
	    .settlement_node_id = a->winner.node,
	    .settlement_fencing_token = a->fencing_token,
	};
}

/* The answer waits (mailbox_serve) until what the change logged is
 * durable; the control thread goes on meanwhile. */
static void answer_once_durable(struct control *c)
{
	struct mailbox_durable *d = &c->mailbox.durable;
	wal_node_control_mark(c, &d->mark);
	d->waiting = d->mark.armed;
	d->deadline_tsc =
	    rte_get_timer_cycles() + CTL_DURABLE_WAIT_MS * (rte_get_timer_hz() / 1000);
}

int ctl_glue_durable_poll(struct control *c, char *err, size_t errlen)
{
	struct mailbox_durable *d = &c->mailbox.durable;
	int rc = wal_node_control_poll(c, &d->mark, err, errlen);
	if (rc == -EAGAIN && rte_get_timer_cycles() >= d->deadline_tsc) {
		snprintf(err, errlen,
			 "done in memory, but its log record is not durable after %u ms (the log "
			 "writer is stalled: check the disk (dmesg)); a restart may undo it",
			 CTL_DURABLE_WAIT_MS);
		rc = -ETIMEDOUT;
	}
	return rc;
}

static int h_open(void *ctx, uint64_t id, uint64_t reserve, uint64_t increment, uint64_t duration_s,
		  char *err, size_t errlen)
{
	int rc = lifecycle_open(ctl_control(ctx), id, reserve, increment, duration_s, err, errlen);
	if (rc == 0)
		answer_once_durable(ctl_control(ctx));
	return rc;
}

static int h_close(void *ctx, uint64_t id, char *err, size_t errlen)
{
	int rc = lifecycle_close(ctl_control(ctx), id, err, errlen);
	if (rc == 0)
		answer_once_durable(ctl_control(ctx));
	return rc;
}

static int h_query(void *ctx, uint64_t id, struct ctl_auction *out, char *err, size_t errlen)
{
	struct auction *a = auction_lookup(&ctl_control(ctx)->node->auctions, id);
	if (!a) {
		snprintf(err, errlen, "no auction %" PRIu64, id);
		return -ENOENT;
	}
	control_online(ctl_control(ctx));
	describe(ctl_control(ctx), a, out);
	control_offline(ctl_control(ctx));
	return 0;
}

struct list_ctx {
	struct control *c;
	ctl_wants_fn wants;
	ctl_emit_fn emit;
	void *arg;
};

static int list_one(struct auction *a, void *arg)
{
	struct list_ctx *l = arg;
	struct ctl_auction d;
	if (!l->wants(l->arg, a->id)) /* the id alone: no read-side section */
		return 0;
	control_online(l->c);
	describe(l->c, a, &d);
	control_offline(l->c);
	l->emit(l->arg, &d);
	return 0;
}

static int h_list(void *ctx, ctl_wants_fn wants, ctl_emit_fn emit, void *arg, char *err,
		  size_t errlen)
{
	(void)err;
	(void)errlen;
	struct list_ctx l = {ctl_control(ctx), wants, emit, arg};
	auction_iterate(&ctl_control(ctx)->node->auctions, list_one, &l);
	return 0;
}

static int h_status(void *ctx, struct ctl_status *out, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct control *c = ctl_control(ctx);
	struct node *n = c->node;
	*out = (struct ctl_status){
	    .node_id = n->cfg.node_id,
	    .version = BP_NODE_VERSION,
	    .hlc = hlc_domain_read(&n->hlc),
	    .fencing_epoch = n->fencing_epoch,
	    .serving = node_serving(n),
	    .not_serving_reason = node_not_serving_word(atomic_load(&n->not_serving)),
	    .workers = n->nworkers,
	    .uptime_s = (rte_rdtsc() - n->start_tsc) / n->tsc_hz,
	    .auctions_open = n->auctions.open,
	    .auctions_closed = n->auctions.closed,
	    .auctions_settled = stat_read(&c->stats->auctions_settled),
	    .injected_clock_offset_ms = atomic_load(&n->clock_offset_ms),
	    .injected_lease_guard_off = c->etcd && leader_lease_guard_off(&c->leader),
	};
	struct leader_view lv;
	control_leadership(c, &lv);
	out->leader = lv.leader;
	out->fencing_token = lv.token;
	out->etcd = c->etcd;
	out->etcd_reachable = lv.reachable;
	out->etcd_latency_us = lv.latency_us;
	out->etcd_lease_left_ms = lv.lease_left_ms;
	out->etcd_leader_node_id = lv.leader_node_id;
	out->durability = bp_durability_name(n->cfg.durability);
	if (c->wal.writer) {
		struct wal_writer_stats ws;
		wal_node_stats(c, &ws);
		out->wal_lsn = ws.lsn;
		out->wal_durable_lsn = ws.durable_lsn;
		out->wal_full = ws.full_error != 0;
		out->wal_reserve_bytes = ws.reserve_bytes;
		wal_node_describe(c, out->wal_error, sizeof(out->wal_error));
	}
	snapshot_node_status(c, out);
	out->fencing_rejections = lv.fencing_rejections;
	out->settlements_done = stat_read(&c->stats->auctions_settled);
	out->settlements_pending = c->settlements.pending;
	out->settlements_waiting_for_peer = c->settlements.waiting_for_peer;
	out->settlements_waiting_for_etcd = c->settlements.waiting_for_etcd;
	for (uint32_t i = 0; i < c->settlements.nwaits && i < CTL_MAX_WAITS; i++)
		out->waits[out->nwaits++] =
		    (struct ctl_wait){.auction = c->settlements.waits[i].auction,
				      .peer_node_id = c->settlements.waits[i].peer};
	struct repl_peer_view v[CTL_MAX_PEERS];
	out->npeers = replicate_peers(c, v, CTL_MAX_PEERS, node_mono_ms());
	for (unsigned int i = 0; i < out->npeers; i++)
		out->peers[i] = (struct ctl_peer){
		    .node_id = v[i].node_id,
		    .ip = v[i].ip,
		    .port = v[i].port,
		    .reachable = v[i].reachable,
		    .last_heard_ms_ago = v[i].last_heard_ms_ago,
		    .lag_ms = v[i].lag_ms,
		    .has_clock_offset = v[i].has_offset,
		    .clock_offset_ms = v[i].clock_offset_ms,
		};
	return 0;
}

/*
 * Fault injection: the node's wall clock jumps by the change. Any thread
 * may store it (an atomic the HLC's wall clock reads, node_wall_ms). The
 * HLC keeps its maximum, so a jump back never makes stamps go back; a jump
 * forward meets the durable ceiling (NOT_SERVING hlc_ceiling until the
 * service thread renews it) and the peers' drift guard.
 */
static int h_clock_offset(void *ctx, int64_t ms, int64_t *previous, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct node *n = ctl_control(ctx)->node;
	*previous = atomic_exchange(&n->clock_offset_ms, ms);
	BP_LOG(NOTICE, CONTROL,
	       "clock offset set to %" PRId64 " ms (was %" PRId64 " ms) by bidctl clock-offset: "
	       "fault injection\n",
	       ms, *previous);
	return 0;
}

/* Fault injection: a leader that ignores its lease deadline (leader.h).
 * Any thread may switch it (an atomic the leader thread and leader_read
 * read). */
static int h_lease_guard(void *ctx, bool on, bool *was_on, char *err, size_t errlen)
{
	struct control *c = ctl_control(ctx);
	if (!c->etcd) {
		snprintf(err, errlen,
			 "lease-guard: this node runs without --etcd: it has no lease to guard");
		return -ENOTSUP;
	}
	*was_on = leader_set_lease_guard(&c->leader, on);
	BP_LOG(NOTICE, CONTROL,
	       "lease guard %s (was %s) by bidctl lease-guard: fault injection%s\n",
	       on ? "on" : "OFF", *was_on ? "on" : "OFF",
	       on ? "" : "; a leader ignores its lease deadline until etcd refuses a write");
	return 0;
}

void ctl_glue_handlers(struct control *c, struct ctl_handlers *h)
{
	*h = (struct ctl_handlers){
	    .open = h_open,
	    .close = h_close,
	    .query = h_query,
	    .list = h_list,
	    .status = h_status,
	    .clock_offset = h_clock_offset,
	    .lease_guard = h_lease_guard,
	    .ctx = c,
	};
}
