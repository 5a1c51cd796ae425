/* SPDX-License-Identifier: BSD-3-Clause */
#include "worker_wal.h"

#include "stat.h"

/* Async: forgets the oldest receipt once it is durable (or lost: the
 * writer failed, which the next admit refuses on its own). */
static bool behind_window(struct worker_wal *l, uint64_t now_tsc)
{
	if (!l->tracking || l->window_tsc == 0)
		return false;
	if (wal_outcome(l->producer, &l->oldest) != WAL_PENDING) {
		l->tracking = false;
		return false;
	}
	return now_tsc - l->oldest_tsc > l->window_tsc;
}

enum bp_status worker_wal_admit(struct worker_wal *l, uint64_t now_tsc)
{
	if (!l->producer)
		return BP_ACCEPTED;
	/* Full: the log cannot grow, so no change may start that it would
	 * have to hold (wal_writer.h "The reserve"). */
	if (wal_producer_failed(l->producer) || wal_producer_full(l->producer)) {
		stat_inc(&l->failed);
		return BP_NOT_SERVING;
	}
	if (l->sync && l->park_tail - l->park_head >= WORKER_PARK_MAX) {
		stat_inc(&l->ring_full); /* every parking place taken */
		return BP_OVERLOADED;
	}
	if (!wal_producer_room(l->producer)) {
		stat_inc(&l->ring_full);
		return BP_OVERLOADED;
	}
	if (behind_window(l, now_tsc)) {
		stat_inc(&l->lagging);
		return BP_OVERLOADED;
	}
	return BP_ACCEPTED;
}

void worker_wal_note_lost(struct worker_wal *l, uint64_t hlc)
{
	/* hi first: a reader that sees the new lo sees a hi that covers it. */
	if (hlc > atomic_load_explicit(&l->lost_hi, memory_order_relaxed))
		atomic_store_explicit(&l->lost_hi, hlc, memory_order_release);
	if (hlc < atomic_load_explicit(&l->lost_lo, memory_order_relaxed))
		atomic_store_explicit(&l->lost_lo, hlc, memory_order_release);
}

bool worker_wal_log(struct worker_wal *l, const struct wal_record *rec, uint64_t now_tsc,
		    struct wal_receipt *receipt)
{
	struct wal_receipt r;
	if (wal_submit_record(l->producer, rec, &r) != 0) {
		/* Before the key's answer is published (dedup_finish). */
		if (rec->type == WAL_BID && rec->u.bid.status == BP_ACCEPTED)
			worker_wal_note_lost(l, rec->u.bid.hlc);
		stat_inc(&l->lost_answer);
		return false;
	}
	stat_inc(&l->records);
	if (receipt)
		*receipt = r;
	if (l->sync && rec->type == WAL_BID && rec->u.bid.status == BP_ACCEPTED) {
		/* Published before the idempotency answer is (dedup_finish's
		 * release store): a worker that sees the answer sees this. */
		if (l->park_head == l->park_tail)
			atomic_store_explicit(&l->pending_hlc, rec->u.bid.hlc,
					      memory_order_release);
		l->park_next = true;
		l->next_receipt = r;
		l->next_hlc = rec->u.bid.hlc;
	}
	if (!l->tracking) {
		l->tracking = true;
		l->oldest = r;
		l->oldest_tsc = now_tsc;
	}
	return true;
}

bool worker_wal_bid(struct worker_wal *l, const struct bp_request *r, uint16_t node, uint8_t status,
		    uint64_t hlc, uint64_t now_tsc, struct wal_receipt *receipt)
{
	if (status != BP_ACCEPTED && status != BP_TOO_LOW && status != BP_CLOSED &&
	    status != BP_UNKNOWN_AUCTION)
		return true;
	struct wal_record rec = {.type = WAL_BID,
				 .u.bid = {.auction_id = r->auction_id,
					   .bidder = r->actor_id,
					   .request_id = r->request_id,
					   .amount = r->amount,
					   .hlc = hlc,
					   .node = node,
					   .status = status}};
	return worker_wal_log(l, &rec, now_tsc, receipt);
}

bool worker_wal_view(struct worker_wal *l, const struct bp_request *r, uint16_t node,
		     uint8_t status, uint64_t hlc, uint64_t now_tsc)
{
	if (status != BP_ACCEPTED && status != BP_UNKNOWN_AUCTION)
		return true;
	struct wal_record rec = {.type = WAL_VIEW,
				 .u.view = {.auction_id = r->auction_id,
					    .viewer = r->actor_id,
					    .request_id = r->request_id,
					    .hlc = hlc,
					    .node = node,
					    .request_type = r->type,
					    .status = status}};
	return worker_wal_log(l, &rec, now_tsc, NULL);
}
